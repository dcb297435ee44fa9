#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ANT+ straps end to end against a fake USB ANT stick (issue 5).

Usage: test_ant.py CARDIOD [SCENARIO...]      (no scenario: all of them)
       test_ant.py --list

Each scenario makes a pseudo-terminal stick (fake_ant.py) behind a symlink,
starts the real cardiod on it (--bus none --no-ble --ant-device LINK
--ant-key-file KEY, a free port, a temporary database; the key is a
made-up one, 01..08), scripts straps and checks what cardiod reports over
HTTP (/session, /sessions/ID, /sessions/ID/samples, /devices, /healthz).
The straps broadcast in real time (8070/32768 s): cardiod stamps samples
with their arrival time and tells a paged strap from a legacy one by how
the toggle bit flips in time, so a faster-than-real-time stick would
change what is checked here.
"""

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import daemon_helpers  # noqa: E402
import fake_ant  # noqa: E402
from fake_ant import FakeStick, Strap  # noqa: E402

KEY = bytes(range(1, 9))  # made up (PROTOCOLS §3.7): the real key is licensed


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def near(a, b, tol=1e-6):
    return a is not None and b is not None and abs(a - b) <= tol


def rmssd(rr):
    """DESIGN §3 HRV: RR in [300, 2000] ms; a difference counts when within 20 %."""
    prev = None
    sq = []
    for v in rr:
        if not 300 <= v <= 2000:
            continue
        if prev is not None and abs(v - prev) <= 0.2 * prev:
            sq.append((v - prev) ** 2)
        prev = v
    return math.sqrt(sum(sq) / len(sq)) if len(sq) >= 2 else None


class Env:
    def __init__(self, cardiod, key=True, stick=True, config="", args=(), **stick_opts):
        self.tmp = tempfile.mkdtemp(prefix="cardiod-ant-")
        self.cardiod_path = cardiod
        self.link = os.path.join(self.tmp, "ttyANT")
        self.key_path = os.path.join(self.tmp, "ant.key")
        if key is True:
            with open(self.key_path, "w") as f:
                f.write("# made-up test key\n0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08\n")
            os.chmod(self.key_path, 0o600)
        elif isinstance(key, str):
            with open(self.key_path, "w") as f:
                f.write(key)
            os.chmod(self.key_path, 0o600)
        self.fake_log = open(os.path.join(self.tmp, "fake.log"), "w")
        self.stick_opts = stick_opts
        self.stick = FakeStick(self.link, KEY, log=self.fake_log, **stick_opts) if stick else None
        self.old_sticks = []
        self.config = config
        self.args = list(args)
        self.cardiod = None

    def start(self):
        conf = os.path.join(self.tmp, "cardiod.conf")
        with open(conf, "w") as f:
            f.write(self.config)
        self.port = free_port()
        self.log_path = os.path.join(self.tmp, "cardiod.log")
        self.log = open(self.log_path, "w")
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("LISTEN_FDS", None)
        self.cardiod = subprocess.Popen(
            [self.cardiod_path, "--config", conf, "--bus", "none", "--no-ble",
             "--listen", "127.0.0.1:%d" % self.port, "--db", os.path.join(self.tmp, "cardiod.db"),
             "--commit-interval", "1", "--ant-device", self.link,
             "--ant-key-file", self.key_path, "--verbose"] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.wait(lambda: self.get("/healthz") is not None, 10, "cardiod answers /healthz")
        return self

    def replug(self, **opts):
        """Unplug the stick, then a new one (new pty) at the same configured path."""
        self.stick.unplug()
        self.old_sticks.append(self.stick)
        return self

    def plug(self, straps, **opts):
        o = dict(self.stick_opts)
        o.update(opts)
        self.stick = FakeStick(self.link, KEY, log=self.fake_log, straps=straps, **o)

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                        timeout=5) as r:
                return json.loads(r.read().decode())
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return None

    def health(self):
        return self.get("/healthz")

    def devices(self):
        d = self.get("/devices")
        return {x["id"]: x for x in d["devices"]} if d else {}

    def device(self, did):
        return self.devices().get(did)

    def samples(self, sid):
        s = self.get("/sessions/%d/samples" % sid)
        return s["samples"] if s else None

    def session(self, sid):
        return self.get("/sessions/%d" % sid)

    def session_of(self, did, timeout=10):
        return self.wait(lambda: self.device(did)["session_id"], timeout, "a session on %s" % did)

    def wait(self, cond, timeout, what):
        end = time.monotonic() + timeout
        while True:
            if self.cardiod is not None and self.cardiod.poll() is not None:
                raise Failure("cardiod exited (%s) while waiting: %s" %
                              (self.cardiod.returncode, what))
            try:
                v = cond()
            except (KeyError, TypeError, IndexError):
                v = None
            if v:
                return v
            if time.monotonic() > end:
                raise Failure("timed out after %g s: %s" % (timeout, what))
            time.sleep(0.1)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def close(self, ok):
        rc = None
        if self.cardiod is not None and self.cardiod.poll() is None:
            self.cardiod.send_signal(signal.SIGTERM)
            try:
                rc = self.cardiod.wait(10)
            except subprocess.TimeoutExpired:
                self.cardiod.kill()
                self.cardiod.wait()
        if self.stick:
            self.stick.unplug()
        if self.cardiod is not None and ok and rc != 0:
            ok = False
            print("cardiod exited with %s after SIGTERM" % rc, file=sys.stderr)
        if self.cardiod is not None and ok:
            # Never a heart rate at info level or above (common/log.h).
            loud = [ln for ln in self.log_text().splitlines()
                    if "bpm" in ln and "debug:" not in ln]
            if loud:
                ok = False
                print("heart rate logged above debug: %s" % loud[:3], file=sys.stderr)
            if any(KEY.hex() in ln.replace(" ", "").lower() for ln in self.log_text().splitlines()):
                ok = False
                print("the network key appears in the log", file=sys.stderr)
        self.fake_log.close()
        if not ok:
            for name in ("cardiod.log", "fake.log"):
                path = os.path.join(self.tmp, name)
                if os.path.exists(path):
                    with open(path) as f:
                        text = f.read()
                    print("---- %s ----\n%s" % (name, text[-8000:]), file=sys.stderr)
        elif not os.environ.get("CARDIOD_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return ok


def did(s):
    return "ant-%d" % s.number


def settle(env, straps, sid_of, lost=0):
    """Take the straps off the air, let cardiod commit, return {strap: samples}
    (at least as many as were broadcast, less lost)."""
    for s in straps:
        s.in_range = False
    time.sleep(2.5)  # commit_interval 1 s
    out = {}
    for s in straps:
        sid = sid_of[s]
        n = len(s.sent) - lost
        out[s] = env.wait(lambda: (lambda x: x if x is not None and len(x) >= n else None)(
            env.samples(sid)), 5, "%d samples of %s stored" % (n, did(s)))
    return out


def check_strap(env, s, smp, what):
    """One sample per broadcast, bpm as sent, RR as §4.4 derives them."""
    hr = [p[7] for _, p, _ in s.sent]
    got = [x["bpm"] for x in smp]
    check(len(got) == len(hr), "%s: %d samples for %d broadcasts" % (what, len(got), len(hr)))
    check(got == hr, "%s: bpm %s…, sent %s…" % (what, got[:12], hr[:12]))
    rr = [v for x in smp for v in (x["rr_ms"] or [])]
    exp = s.expected_rr_ms(s.sent)
    check(len(rr) == len(exp) and all(near(a, b) for a, b in zip(rr, exp)),
          "%s: RR %s, expected %s" % (what, rr[:10], exp[:10]))
    check(all(x["contact"] is None for x in smp), "%s: ANT+ has no contact flag" % what)
    return rr


# Scenarios ---------------------------------------------------------------

VARYING = [812, 845, 790, 830, 870, 805, 780, 826, 860, 815, 798, 842]


def t_one_strap(env):
    """Varying RR, RMSSD, battery/manufacturer/product pages, /devices and /healthz."""
    s = Strap(12345, rr_ms=VARYING, battery=(85, 3.5, 3), manufacturer=(1, 0x1234),
              product=(5, 10, 51), operating_time=7200, bg_every=8)
    env.stick.add_strap(s)
    env.start()
    sid = env.session_of(did(s))
    env.wait(lambda: env.device(did(s))["battery_pct"] == 85, 20, "battery 85 from page 7")
    env.wait(lambda: env.device(did(s))["ant"]["model"] == 51, 20, "model from page 3")
    time.sleep(4)
    d = env.device(did(s))
    check(d["transport"] == "ant" and d["connected"] is True, "transport/connected: %s" % d)
    a = d["ant"]
    check(a["device_number"] == 12345 and a["device_type"] == 120 and
          a["transmission_type"] == 1, "channel id: %s" % a)
    check(a["manufacturer_id"] == 1 and a["manufacturer"] == "Garmin" and
          a["serial_number"] == (0x1234 << 16 | 12345), "page 2: %s" % a)
    check(a["hw_version"] == 5 and a["sw_version"] == 10, "page 3: %s" % a)
    check(a["battery_status"] == "ok" and near(a["battery_v"], 3.5), "page 7: %s" % a)
    check(a["operating_time_s"] == 7200, "page 1: %s" % a)
    check(a["pages"] == "paged", "paged strap: %s" % a["pages"])
    check(d["name"] == "Garmin ANT+ HRM 12345", "name: %s" % d["name"])
    h = env.health()
    check(h["status"] == "ok" and h["ant"]["state"] == "running" and
          h["ant"]["reception"] == "scan", "healthz: %s" % h["ant"])
    check(h["ant"]["max_channels"] == 8, "capabilities read")
    cur = env.get("/session")
    check(cur["id"] == sid and cur["device"]["id"] == did(s) and
          cur["device"]["transport"] == "ant", "/session: %s" % cur["device"])
    check(cur["heart_rate"]["current"] is not None and 60 <= cur["heart_rate"]["current"] <= 80,
          "current heart rate %s" % cur["heart_rate"])
    smp = settle(env, [s], {s: sid})[s]
    rr = check_strap(env, s, smp, did(s))
    check(len(rr) >= 10, "enough RR: %d" % len(rr))
    sess = env.session(sid)
    want = rmssd(rr)
    got = sess["hrv"]["rmssd_ms"]
    check(want is not None and near(got, want, 1e-6), "RMSSD %s, computed %s" % (got, want))
    check(sess["hrv"]["rr_count"] == len(rr), "rr_count %s vs %d" % (sess["hrv"]["rr_count"], len(rr)))
    check(sess["battery_pct"] == 85, "battery in the session: %s" % sess.get("battery_pct"))
    # The stick was configured as a receiver must be.
    cmds = env.stick.commands()
    ids = [i for _, i, _ in cmds]
    check(ids[0] == fake_ant.RESET, "reset first: %s" % ids[:3])
    key = env.stick.commands(fake_ant.NETWORK_KEY)
    check(len(key) == 1 and key[0][2] == bytes([0]) + KEY, "network key from the file, net 0")
    check(env.stick.commands(fake_ant.RF)[0][2] == bytes([0, 57]), "RF 57")
    check(env.stick.commands(fake_ant.OPEN_SCAN)[0][2] == bytes([0]), "scan mode, all packets")
    check(env.stick.bad_host_frames == 0, "every frame cardiod wrote was well formed")


def t_two_straps(env):
    """Two straps at once, one with a 20-bit device number; one page 4, one page 0."""
    a = Strap(12345, rr_ms=[800, 810, 790], battery=(60, 3.0, 2), bg_every=8)
    b = Strap(0xABCDE, rr_ms=[600, 620, 610, 590], kind="page0", battery=(40, 2.9, 4),
              bg_every=8, trans=0x05)
    env.stick.add_strap(a)
    env.stick.add_strap(b)
    env.start()
    sa, sb = env.session_of(did(a)), env.session_of(did(b))
    check(sa != sb, "one session per strap")
    check(did(b) == "ant-703710", "20-bit id")
    env.wait(lambda: env.device(did(a))["battery_pct"] == 60 and
             env.device(did(b))["battery_pct"] == 40, 20, "batteries per strap")
    tb = env.device(did(b))["ant"]["transmission_type"]
    check(tb == 0xA5, "transmission type keeps the upper nibble: 0x%02X" % tb)
    time.sleep(3)
    smp = settle(env, [a, b], {a: sa, b: sb})
    check_strap(env, a, smp[a], did(a))
    check_strap(env, b, smp[b], did(b))
    ha = env.session(sa)["heart_rate"]
    hb = env.session(sb)["heart_rate"]
    check(70 <= ha["avg"] <= 80 and 95 <= hb["avg"] <= 105, "averages %s / %s" % (ha, hb))


def t_legacy(env):
    """A legacy strap (bytes 0-3 random) and a page-0-only one; a stick that answers the
    reset with reason 0x20 and not the capabilities request."""
    old = Strap(2001, rr_ms=[900, 920, 880], kind="legacy", seed=7)
    p0 = Strap(2002, rr_ms=[700, 720], kind="page0")
    env.stick.add_strap(old)
    env.stick.add_strap(p0)
    env.start()
    s1, s2 = env.session_of(did(old)), env.session_of(did(p0))
    time.sleep(8)
    d = env.devices()
    check(d[did(old)]["ant"]["pages"] == "legacy", "legacy detected: %s" % d[did(old)]["ant"])
    check(d[did(p0)]["ant"]["pages"] == "paged", "page 0 strap is paged")
    check(d[did(old)]["battery_pct"] is None, "no battery from random bytes")
    check(env.health()["ant"]["max_channels"] is None, "no capabilities: defaults")
    smp = settle(env, [old, p0], {old: s1, p0: s2})
    check_strap(env, old, smp[old], did(old))
    check_strap(env, p0, smp[p0], did(p0))


def t_missed_wrap(env):
    """Missed messages (page 4 recovers two beats, never invents more), beat count
    255 -> 0 and event time 65535 -> 0 wrap-around."""
    s = Strap(4242, rr_ms=[1000, 1010, 990, 1005], start_count=240, start_ticks=65536 - 14000)
    # After the toggle rule made it "paged" (>= 8 messages, 2 clean runs).
    s.drop = set(range(40, 44)) | set(range(60, 69)) | {80} | set(range(100, 112))
    env.stick.add_strap(s)
    env.start()
    sid = env.session_of(did(s))
    env.wait(lambda: s.k > 118, 40, "118 messages on the air")
    smp = settle(env, [s], {s: sid})[s]
    rr = check_strap(env, s, smp, did(s))
    beats = len(s.beat_ticks) - 1
    check(s.count0 + beats > 256, "beat count wrapped (%d beats from 240)" % beats)
    check(s.beat_ticks[-1] > 65536, "event time wrapped")
    exp_all = [fake_ant.ticks_to_ms(b - a) for a, b in zip(s.beat_ticks, s.beat_ticks[1:])]
    check(len(rr) < len(exp_all), "lost intervals were not invented (%d of %d)" % (len(rr), len(exp_all)))
    a = env.device(did(s))["ant"]
    check(a["missed_messages"] == 26, "missed messages counted: %s" % a["missed_messages"])
    check(a["gap_beats"] > 0, "gap beats counted: %s" % a["gap_beats"])


def t_out_of_range(env, channels=False):
    """A strap out of range (stale, disconnected), then back: the same session."""
    s = Strap(777, rr_ms=[750, 760])
    env.stick.add_strap(s)
    env.start()
    sid = env.session_of(did(s))
    time.sleep(3)
    s.in_range = False
    env.wait(lambda: env.device(did(s))["connected"] is False, 10, "disconnected when silent")
    env.wait(lambda: env.device(did(s))["stale"] is True, 10, "stale in /devices")
    check(env.get("/sessions/%d" % sid)["stale"] is True, "session stale")
    time.sleep(2.5)  # silent for longer than max_gap_s (5 s): a gap
    n_before = len(s.sent)
    s.in_range = True
    env.wait(lambda: env.device(did(s))["connected"] is True, 15, "heard again")
    env.wait(lambda: env.device(did(s))["stale"] is False, 5, "not stale any more")
    check(env.device(did(s))["session_id"] == sid, "same session continues")
    env.wait(lambda: env.device(did(s))["reconnect_count"] == 1, 5, "reconnect counted")
    time.sleep(2)
    check(len(s.sent) > n_before, "broadcasts after the return")
    smp = settle(env, [s], {s: sid})[s]
    check_strap(env, s, smp, did(s))
    sess = env.session(sid)
    check(sess["gap_s"] >= 5, "the silence is a gap, not dwell: %s" % sess["gap_s"])
    if channels:
        h = env.health()["ant"]
        check(h["reception"] == "channels", "channel mode: %s" % h)
        check(h["counters"]["rx_fail"] >= 8 and h["counters"]["rx_fail_go_to_search"] >= 1,
              "RX_FAIL and go-to-search counted: %s" % h["counters"])
        check(h["counters"]["reopen"] >= 1, "channel reopened: %s" % h["counters"])
        ids = env.stick.commands(fake_ant.CHANNEL_ID)
        check(ids[0][2] == bytes([0, 0, 0, 120, 0]), "wildcard pairing first: %s" % ids[0][2].hex())
        check(any(p == bytes([0, 777 & 0xFF, 777 >> 8, 120, 0]) for _, _, p in ids),
              "then pinned to the strap: %s" % [p.hex() for _, _, p in ids])


def t_out_of_range_channels(env):
    t_out_of_range(env, channels=True)


def t_channels(env):
    """[ant] mode = channels: one slave channel per strap, wildcard then pinned; a stick
    without Lib Config (Enable Ext RX instead)."""
    a = Strap(111, rr_ms=[800, 820], battery=(90, 3.1, 1), bg_every=8)
    b = Strap(0x1F000, rr_ms=[640, 660])
    env.stick.add_strap(a)
    env.stick.add_strap(b)
    env.start()
    sa, sb = env.session_of(did(a)), env.session_of(did(b))
    check(sa != sb, "two sessions")
    env.wait(lambda: env.device(did(a))["battery_pct"] == 90, 20, "battery via channel")
    h = env.health()["ant"]
    check(h["reception"] == "channels", "channels: %s" % h)
    check(len(env.stick.commands(fake_ant.OPEN_SCAN)) == 0, "scan mode never asked for")
    check(len(env.stick.commands(fake_ant.ENABLE_EXT)) == 1, "Enable Ext RX after Lib Config failed")
    per = env.stick.commands(fake_ant.PERIOD_MSG)
    check(per and all(p[1:] == bytes([0x86, 0x1F]) for _, _, p in per), "period 8070")
    time.sleep(2)
    smp = settle(env, [a, b], {a: sa, b: sb})
    check_strap(env, a, smp[a], did(a))
    check_strap(env, b, smp[b], did(b))


def t_no_scan_no_ext(env):
    """A stick without scan mode or extended messages: channels, and Request Channel ID."""
    a = Strap(5150, rr_ms=[880, 900])
    env.stick.add_strap(a)
    env.start()
    sid = env.session_of(did(a), 15)
    h = env.health()["ant"]
    check(h["reception"] == "channels", "fell back to channels: %s" % h)
    check(any(p[1] == fake_ant.CHANNEL_ID for _, _, p in env.stick.commands(fake_ant.REQUEST)),
          "asked the stick for the channel ID")
    time.sleep(3)
    smp = settle(env, [a], {a: sid}, lost=3)[a]
    # The broadcasts before the channel ID was known are not attributed.
    hr = [p[7] for _, p, _ in a.sent]
    check(0 < len(smp) <= len(hr) and len(hr) - len(smp) <= 3,
          "%d samples for %d broadcasts" % (len(smp), len(hr)))


def t_pinned(env):
    """[ant] devices pins the set: other straps are ignored."""
    a = Strap(12345, rr_ms=[800])
    b = Strap(54321, rr_ms=[700])
    env.stick.add_strap(a)
    env.stick.add_strap(b)
    env.start()
    env.session_of(did(a))
    time.sleep(2)
    check(did(b) not in env.devices(), "the unlisted strap is not a device")
    check(env.health()["ant"]["counters"]["ignored"] > 0, "its broadcasts were ignored")


def t_garbage(env):
    """Garbage, bad checksums, truncated frames and unknown messages: counted, skipped."""
    s = Strap(9999, rr_ms=[760, 780, 800])
    env.stick.add_strap(s)
    env.start()
    sid = env.session_of(did(s))
    junk = [
        bytes([0x00, 0x55, 0xFF, 0x13]),                                   # noise
        bytes.fromhex("A4 09 4E 00 04 00 34 09 77 0A 0A 5E F4"),            # AE10 bad checksum
        bytes.fromhex("A4 09 4E 00 04"),                                    # truncated
        fake_ant.frame(0x99, [0x01, 0x02]),                                 # unknown message
        bytes.fromhex("A4 FF 4E"),                                          # impossible length
        bytes([0xA4, 0xA4, 0xA4]),
        fake_ant.frame(0x4E, [0x00, 1, 2]),                                 # too short a broadcast
        fake_ant.frame(0x40, [0x00, 0x01, 0x35]),                           # EVENT_QUE_OVERFLOW
    ]
    for i in range(3):
        for j in junk:
            env.stick.inject(j)
            time.sleep(0.13)
    time.sleep(2)
    c = env.health()["ant"]["counters"]
    check(c["bytes_skipped"] > 0 and c["bad_checksum"] > 0, "skipped and bad frames: %s" % c)
    check(c["unknown"] >= 3 and c["malformed"] >= 3 and c["overflow"] >= 3, "counters: %s" % c)
    check(env.health()["ant"]["state"] == "running", "still running")
    smp = settle(env, [s], {s: sid}, lost=6)[s]
    # A truncated frame may swallow the next real one: at most one per injection.
    hr = [p[7] for _, p, _ in s.sent]
    check(len(hr) - len(smp) <= 6, "%d samples for %d broadcasts" % (len(smp), len(hr)))
    check(all(x["bpm"] in (78, 77, 75, 76, 79, 80) for x in smp), "bpm intact")
    rr = [v for x in smp for v in (x["rr_ms"] or [])]
    allowed = {fake_ant.ticks_to_ms(fake_ant.ms_to_ticks(v)) for v in (760, 780, 800)}
    allowed |= {a + b for a in allowed for b in allowed}
    check(rr and all(any(near(v, w) for w in allowed) for v in rr), "RR intact: %s" % rr[:8])


def t_replug(env):
    """Stick unplugged (pty closed) and back at the configured path: re-initialised,
    the same session continues."""
    s = Strap(31337, rr_ms=[820, 840])
    env.stick.add_strap(s)
    env.start()
    sid = env.session_of(did(s))
    time.sleep(2)
    env.replug()
    env.wait(lambda: env.health()["ant"]["state"] == "waiting", 5, "waiting after the unplug")
    env.wait(lambda: env.device(did(s))["connected"] is False, 5, "strap disconnected with the stick")
    time.sleep(1.5)
    env.plug([s])
    env.wait(lambda: env.health()["ant"]["state"] == "running", 20, "running again")
    new = env.stick
    ids = [i for _, i, _ in new.commands()]
    check(ids and ids[0] == fake_ant.RESET and fake_ant.NETWORK_KEY in ids and
          fake_ant.OPEN_SCAN in ids, "full re-initialisation: %s" % ["%02X" % i for i in ids])
    env.wait(lambda: env.device(did(s))["connected"] is True, 10, "strap back")
    check(env.device(did(s))["session_id"] == sid, "same session")
    c = env.health()["ant"]["counters"]
    check(c["opened"] == 2 and c["lost"] == 1, "counters: %s" % c)
    time.sleep(2)
    smp = settle(env, [s], {s: sid})[s]
    hr = [p[7] for _, p, _ in s.sent]
    check(len(smp) == len(hr), "%d samples for %d broadcasts" % (len(smp), len(hr)))
    rr = [v for x in smp for v in (x["rr_ms"] or [])]
    check(rr and all(near(v, fake_ant.ticks_to_ms(fake_ant.ms_to_ticks(820))) or
                     near(v, fake_ant.ticks_to_ms(fake_ant.ms_to_ticks(840))) for v in rr),
          "RR after the replug start over cleanly: %s" % rr)


def t_no_key(env):
    """No key file: ANT stays off, /healthz says why, the daemon is fine."""
    env.stick.add_strap(Strap(12345))
    env.start()
    time.sleep(1.5)
    h = env.health()
    check(h["status"] == "ok", "daemon ok: %s" % h)
    check(h["ant"]["state"] == "off" and "key" in h["ant"]["reason"], "reason: %s" % h["ant"])
    check(env.stick.commands() == [], "the stick is never touched")
    check(env.log_text().count("ANT+ is off") == 1, "one clear log line")
    check(env.get("/devices")["devices"] == [], "no straps")
    check(env.get("/sessions") is not None, "the rest of the API works")


def t_bad_key(env):
    env.stick.add_strap(Strap(12345))
    env.start()
    time.sleep(1)
    h = env.health()["ant"]
    check(h["state"] == "off" and "8 bytes" in h["reason"], "bad key: %s" % h)
    check(env.stick.commands() == [], "the stick is never touched")


def t_no_ant(env):
    env.stick.add_strap(Strap(12345))
    env.start()
    time.sleep(1.5)
    check(env.health()["ant"]["state"] == "disabled", "disabled: %s" % env.health()["ant"])
    check(env.stick.commands() == [], "--no-ant: the stick is never touched")


def t_no_stick(env):
    """A configured path with nothing behind it: waiting, retried, found later."""
    env.start()
    env.wait(lambda: env.health()["ant"]["state"] == "waiting", 5, "waiting")
    check("cannot open" in env.health()["ant"]["reason"], "reason: %s" % env.health()["ant"])
    s = Strap(8080, rr_ms=[900])
    env.plug([s])
    env.wait(lambda: env.health()["ant"]["state"] == "running", 20, "found at a retry")
    env.session_of(did(s))


def t_quirky_stick(env):
    """A stick that sends no startup message and no channel IDs in scan mode: cardiod goes
    on after 3 resets, then re-initialises it with one channel per strap."""
    s = Strap(4321, rr_ms=[850, 870])
    env.stick.add_strap(s)
    env.start()
    sid = env.session_of(did(s), 40)
    h = env.health()["ant"]
    check(h["reception"] == "channels", "channels after untagged scan data: %s" % h)
    check(h["counters"]["unidentified"] >= 16, "untagged broadcasts counted: %s" % h["counters"])
    check(len(env.stick.commands(fake_ant.RESET)) >= 6, "3 resets, twice")
    time.sleep(2)
    lost = h["counters"]["unidentified"] + 3  # untagged scan data and the first on the channel
    smp = settle(env, [s], {s: sid}, lost=lost)[s]
    check(len(smp) >= 8, "samples through the channel: %d" % len(smp))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def scan_broadcast(number, bpm, count=1):
    """One scan-mode broadcast of an HRM page 4 with its channel ID (flag 0x80)."""
    p = bytes([0x04, 0x00, 0x00, 0x00, count & 0xFF, 0x00, count & 0xFF, bpm])
    ident = bytes([number & 0xFF, (number >> 8) & 0xFF, fake_ant.HRM_TYPE,
                   ((number >> 16) << 4) | 0x01])
    return fake_ant.frame(fake_ant.BROADCAST, bytes([0]) + p + bytes([0x80]) + ident)


def t_flood(env):
    """DESIGN §9.7 for ANT+: in scan mode with no [ant] devices, a few hundred device
    numbers heard once each (a transmitter cycling numbers) and one heard only with no
    heart rate never become devices; at most max_unknown are tracked, they are
    forgotten after forget_after_s and memory stays bounded.  The owner's strap starts
    during a flood of fewer new numbers per broadcast period than max_unknown and is
    admitted with every broadcast kept; a faster flood once it is a device (it is in
    no table any more) takes nothing from it."""
    env.start()
    env.wait(lambda: env.health()["ant"]["state"] == "running", 10, "the stick running")
    time.sleep(0.5)
    rss0 = rss_kb(env.cardiod.pid)
    owner = Strap(12345, rr_ms=[800, 820, 790])
    max_tracked = 0
    number = 0x10000
    # 100 numbers at ~20/s (5 per 246 ms period < max_unknown 8), the owner in the middle.
    for i in range(100):
        env.stick.inject(scan_broadcast(number, 60 + i % 100))
        number += 1
        if i % 20 == 0:
            env.stick.inject(scan_broadcast(777, 0, i))  # no heart rate: never valid
        if i == 30:
            env.stick.add_strap(owner)
        time.sleep(0.05)
        if i % 10 == 0:
            max_tracked = max(max_tracked, env.health()["ant"]["unknown_tracked"])
    sid = env.session_of(did(owner))
    # 300 more as fast as the stick sends them.
    for i in range(300):
        env.stick.inject(scan_broadcast(number, 60 + i % 100))
        number += 1
        if i % 50 == 0:
            time.sleep(0.01)
            max_tracked = max(max_tracked, env.health()["ant"]["unknown_tracked"])
    n_flood = number - 0x10000
    env.wait(lambda: env.health()["ant"]["counters"]["unadmitted"] >= n_flood + 5, 10,
             "every flood broadcast reached cardiod")
    h = env.health()["ant"]
    max_tracked = max(max_tracked, h["unknown_tracked"])
    check(0 < max_tracked <= 8, "at most max_unknown tracked: %d" % max_tracked)
    check(h["counters"]["unknown_admitted"] == 1, "only the owner admitted: %s" % h["counters"])
    devs = env.get("/devices")
    ids = [d["id"] for d in devs["devices"]]
    check(ids == [did(owner)], "/devices lists the owner's strap only: %d entries %s"
          % (len(ids), ids[:5]))
    sessions = env.get("/sessions")["sessions"]
    check([x["id"] for x in sessions] == [sid], "one session, the owner's: %s" % sessions[:3])
    rss1 = rss_kb(env.cardiod.pid)
    check(rss0 and rss1 and rss1 - rss0 < 8 * 1024,
          "memory stays bounded: RSS %s kB -> %s kB" % (rss0, rss1))
    print("flood: %d numbers, RSS %d kB -> %d kB, at most %d tracked" % (
        n_flood, rss0, rss1, max_tracked))
    log = env.log_text()
    check("to make room (max_unknown 8)" in log, "numbers heard once made room")
    check("ANT+ strap ant-12345 found" in log and "ant-65536 found" not in log, "found lines")
    # Silent for forget_after_s: forgotten, while the owner's strap goes on.
    env.wait(lambda: env.health()["ant"]["unknown_tracked"] == 0, 10, "all forgotten")
    check("unseen for 2 s" in env.log_text(), "forgotten after forget_after_s")
    check(env.device(did(owner))["connected"], "the owner's strap stays connected")
    # Every broadcast of the owner is a sample, the run that admitted it included.
    smp = settle(env, [owner], {owner: sid})[owner]
    check_strap(env, owner, smp, did(owner))

SCENARIOS = {
    "one-strap": (t_one_strap, {}),
    "two-straps": (t_two_straps, {"key": "0102030405060708\n"}),
    "legacy": (t_legacy, {"startup_reason": 0x20, "answer_caps": False}),
    "missed-wrap": (t_missed_wrap, {}),
    "out-of-range": (t_out_of_range, {"args": ["--stale-after", "3"]}),
    "out-of-range-channels": (t_out_of_range_channels, {
        "args": ["--stale-after", "3"], "config": "[ant]\nmode = channels\n"}),
    "channels": (t_channels, {"config": "[ant]\nmode = channels\n", "lib_config": False}),
    "no-scan-no-ext": (t_no_scan_no_ext, {"scan": False, "lib_config": False, "ext": False}),
    "pinned": (t_pinned, {"config": "[ant]\ndevices = ant-12345, 99\n",
                          "key": "01:02:03:04:05:06:07:08"}),
    "garbage": (t_garbage, {}),
    "replug": (t_replug, {}),
    "no-key": (t_no_key, {"key": False}),
    "bad-key": (t_bad_key, {"key": "01 02 03 04 05 06 07\n"}),
    "no-ant": (t_no_ant, {"args": ["--no-ant"]}),
    "no-stick": (t_no_stick, {"stick": False}),
    "quirky-stick": (t_quirky_stick, {"startup": False, "scan_ext": False}),
    "flood": (t_flood, {"config": "[ant]\nmax_unknown = 8\nforget_after_s = 2\n"}),
}


def main():
    return daemon_helpers.run_scenarios(sys.argv, SCENARIOS, Env, Failure, __doc__)


if __name__ == "__main__":
    sys.exit(main())
