#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""BLE straps end to end against a fake bluetoothd (issue 4).

Usage: test_ble.py CARDIOD [SCENARIO...]      (no scenario: all of them)
       test_ble.py --list

Each scenario starts a private dbus-daemon, tests/integration/fake_bluez.py
on it as org.bluez, and the real cardiod with DBUS_SYSTEM_BUS_ADDRESS
pointing there (--bus none --no-ant, a free port, a temporary database),
scripts straps through the fake's control object and checks what cardiod
reports over HTTP (/session, /sessions/ID/samples, /devices) and which
calls it made to bluetoothd.  Exit 77 when dbus-daemon or python3-dbus is
missing.
"""

import json
import os
import re
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
FAKE = os.path.join(HERE, "fake_bluez.py")
PY = "/usr/bin/python3"
sys.path.insert(0, HERE)
import daemon_helpers  # noqa: E402

try:
    import dbus
    import gi  # noqa: F401  (the fake bluetoothd runs a GLib main loop)
except ImportError as e:
    print("SKIP: python3-dbus or python3-gi is not installed (%s)" % e, file=sys.stderr)
    sys.exit(77)
if not shutil.which("dbus-daemon"):
    print("SKIP: dbus-daemon is not installed", file=sys.stderr)
    sys.exit(77)

UUID_HRS = "0000180d-0000-1000-8000-00805f9b34fb"
A = "C0:FF:EE:00:00:01"
B = "C0:FF:EE:00:00:02"
IDA = "ble-c0:ff:ee:00:00:01"
IDB = "ble-c0:ff:ee:00:00:02"

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def hexb(s):
    return bytes.fromhex(s.replace(" ", ""))


def rr_ms(raw):
    return raw * 1000.0 / 1024.0


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Env:
    """A private bus, the fake bluetoothd and cardiod."""

    def __init__(self, cardiod, config=None, args=(), offline=False, env=None, bus=True):
        self.tmp = tempfile.mkdtemp(prefix="cardiod-ble-")
        self.procs = []
        self.cardiod_path = cardiod
        self.address = None
        self.ctl = None
        if bus:
            sock = os.path.join(self.tmp, "bus")
            with open(os.path.join(self.tmp, "bus.conf"), "w") as f:
                f.write(BUS_CONF % sock)
            self.dbus = subprocess.Popen(
                ["dbus-daemon", "--config-file=" + os.path.join(self.tmp, "bus.conf"),
                 "--nofork", "--print-address=1"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.procs.append(self.dbus)
            self.address = self.dbus.stdout.readline().strip()
            check(self.address, "dbus-daemon printed its address")
            self.fake_log = open(os.path.join(self.tmp, "fake.log"), "w")
            self.fake = subprocess.Popen(
                [PY, FAKE, "--bus", self.address] + (["--offline"] if offline else []),
                stdout=subprocess.PIPE, stderr=self.fake_log, text=True)
            self.procs.append(self.fake)
            line = self.fake.stdout.readline().strip()
            check(line == "READY", "fake bluetoothd is ready (got %r)" % line)
            self.conn = dbus.bus.BusConnection(self.address)
            self.ctl = dbus.Interface(self.conn.get_object("org.cardiod.FakeBluez", "/control"),
                                      "org.cardiod.FakeBluez")
        self.config = config
        self.args = list(args)
        self.env = env
        self.cardiod = None

    def start(self):
        conf = os.path.join(self.tmp, "cardiod.conf")
        with open(conf, "w") as f:
            f.write(self.config or "")
        port = free_port()
        self.port = port
        env = dict(os.environ)
        if self.address:
            env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        env.update(self.env or {})
        self.log_path = os.path.join(self.tmp, "cardiod.log")
        self.log = open(self.log_path, "w")
        self.cardiod = subprocess.Popen(
            [self.cardiod_path, "--config", conf, "--bus", "none", "--no-ant",
             "--listen", "127.0.0.1:%d" % port, "--db", os.path.join(self.tmp, "cardiod.db"),
             "--commit-interval", "1", "--verbose"] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.procs.append(self.cardiod)
        self.wait(lambda: self.get("/healthz") is not None, 10, "cardiod answers /healthz")
        return self

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                        timeout=5) as r:
                return json.loads(r.read().decode())
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return None

    def devices(self):
        d = self.get("/devices")
        return {x["id"]: x for x in d["devices"]} if d else {}

    def device(self, did):
        return self.devices().get(did)

    def state(self):
        return json.loads(self.ctl.State())

    def strap(self, addr):
        return self.state()["straps"][addr]

    def calls(self, method=None):
        c = json.loads(self.ctl.Calls())
        return [x for x in c if method is None or x["method"] == method]

    def add(self, addr, name, **opts):
        self.ctl.AddStrap(addr, name, dbus.Dictionary(opts, signature="sv"))

    def notify(self, addr, *payloads):
        if len(payloads) == 1:
            return [str(self.ctl.Notify(addr, dbus.ByteArray(hexb(payloads[0]))))]
        return [str(x) for x in self.ctl.NotifyMany(
            addr, dbus.Array([dbus.ByteArray(hexb(p)) for p in payloads], signature="ay"))]

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
            time.sleep(0.05)

    def connected(self, addr, did, timeout=10):
        """Wait until the fake has an acquired/subscribed link and cardiod shows it."""
        self.wait(lambda: self.strap(addr)["connected"] and
                  (self.strap(addr)["acquired"] or self.strap(addr)["sessions"]),
                  timeout, "%s connected with notifications set up" % addr)
        self.wait(lambda: self.device(did)["connected"], timeout, "%s connected in /devices" % did)

    def samples(self, sid):
        s = self.get("/sessions/%d/samples" % sid)
        return s["samples"] if s else None

    def session_of(self, did):
        return self.wait(lambda: self.device(did)["session_id"], 5, "a session on %s" % did)

    def close(self, ok):
        rc = self.cardiod.returncode if self.cardiod is not None else None
        if self.cardiod is not None and self.cardiod.poll() is None:
            self.cardiod.send_signal(signal.SIGTERM)
            try:
                rc = self.cardiod.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.cardiod is not None and ok and rc != 0:
            ok = False
            print("cardiod exited with %s after SIGTERM" % rc, file=sys.stderr)
        if not ok:
            for name in ("cardiod.log", "fake.log"):
                path = os.path.join(self.tmp, name)
                if os.path.exists(path):
                    with open(path) as f:
                        print("---- %s ----\n%s" % (name, f.read()[-6000:]), file=sys.stderr)
        elif not os.environ.get("CARDIOD_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return ok

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def near(a, b, tol=1e-6):
    return a is not None and b is not None and abs(a - b) <= tol


def check_rr(samples, expected, what):
    got = [x for s in samples for x in (s["rr_ms"] or [])]
    check(len(got) == len(expected) and all(near(g, e) for g, e in zip(got, expected)),
          "%s: RR %s, expected %s" % (what, got, expected))


# Scenarios ---------------------------------------------------------------


def t_discovery_acquire(env):
    """Filter, discovery, connect, AcquireNotify, several RR per notification."""
    env.add(A, "Polar H10 A", battery=73, bsl=1)
    env.start()
    env.connected(A, IDA)
    calls = env.calls()
    names = [c["method"] for c in calls]
    check("SetDiscoveryFilter" in names and "StartDiscovery" in names, "discovery was started")
    f = env.calls("SetDiscoveryFilter")[0]["args"]
    check(f.get("UUIDs") == [UUID_HRS] and f.get("Transport") == "le",
          "discovery filter is {UUIDs: [0x180D], Transport: le}: %s" % f)
    check(names.index("SetDiscoveryFilter") < names.index("StartDiscovery"),
          "SetDiscoveryFilter before StartDiscovery")
    check(names.index("GetManagedObjects") < names.index("StartDiscovery"), "objects first")
    check(env.strap(A)["acquired"] and env.strap(A)["sessions"] == 0,
          "AcquireNotify used, no StartNotify session")
    # Every wanted strap connected: discovery off.
    env.wait(lambda: not env.state()["discovering"], 5, "discovery stopped once connected")

    # B15, BD4 (9 RR), B3 (EE + 1 RR), B1 — the last three in one main-loop turn.
    sent = env.notify(A, "16 48 54 01 EC 02")
    sent += env.notify(A, "10 48" + " 00 04" * 9, "1E 55 32 00 21 00", "06 5A")
    check(sent == ["fd"] * 4, "all four went through the socket: %s" % sent)
    sid = env.session_of(IDA)
    smp = env.wait(lambda: (lambda s: s if s and len(s) == 4 else None)(env.samples(sid)), 5,
                   "4 samples in session %d" % sid)
    check([s["bpm"] for s in smp] == [72, 72, 85, 90], "bpm %s" % [s["bpm"] for s in smp])
    check_rr(smp, [rr_ms(340), rr_ms(748)] + [1000.0] * 9 + [rr_ms(33)], "AcquireNotify")
    check([s["contact"] for s in smp] == [1, None, 1, 1], "contact %s" % [s["contact"] for s in smp])
    d = env.wait(lambda: (lambda d: d if d["body_location"] else None)(env.device(IDA)), 5,
                 "body location read")
    check(d["transport"] == "ble" and d["name"] == "Polar H10 A", "id/name/transport: %s" % d)
    check(d["battery_pct"] == 73, "battery 73: %s" % d["battery_pct"])
    check(d["body_location"] == "chest", "body location chest: %s" % d["body_location"])
    check(d["contact"] is True and d["last_seen"], "contact and last_seen: %s" % d)
    check(d["reconnect_count"] == 0 and d["malformed_count"] == 0, "counters 0: %s" % d)
    s = env.get("/session")
    check(s["id"] == sid and s["device"]["id"] == IDA and s["samples"] == 4,
          "/session: %s" % {k: s.get(k) for k in ("id", "device", "samples")})
    check(s["hrv"]["rr_count"] >= 10, "RR reached the engine: %s" % s["hrv"])
    check(len(env.calls("ReadValue")) == 1, "Body Sensor Location read once")
    env.ctl.SetBattery(A, 41)
    env.wait(lambda: env.device(IDA)["battery_pct"] == 41, 5, "battery follows Battery1")


def t_startnotify_fallback(env):
    """AcquireNotify refused: StartNotify + PropertiesChanged(Value)."""
    env.add(A, "TICKR", refuse_acquire=True)
    env.start()
    env.connected(A, IDA)
    check(env.strap(A)["sessions"] == 1 and not env.strap(A)["acquired"], "StartNotify session")
    check(len(env.calls("AcquireNotify")) == 1 and len(env.calls("StartNotify")) == 1,
          "AcquireNotify tried, then StartNotify")
    sid = None
    for p in ("16 48 54 01 EC 02", "11 48 00" + " 00 04" * 8, "06 5A"):
        check(env.notify(A, p) == ["signal"], "sent as a signal")
        time.sleep(0.05)
    sid = env.session_of(IDA)
    smp = env.wait(lambda: (lambda s: s if s and len(s) == 3 else None)(env.samples(sid)), 5,
                   "3 samples through StartNotify")
    check([s["bpm"] for s in smp] == [72, 72, 90], "bpm %s" % [s["bpm"] for s in smp])
    check_rr(smp, [rr_ms(340), rr_ms(748)] + [1000.0] * 8, "StartNotify")


def t_contact_lost(env):
    env.add(A, "H9")
    env.start()
    env.connected(A, IDA)
    env.notify(A, "06 5A")
    env.wait(lambda: env.device(IDA)["contact"] is True, 5, "contact detected")
    env.notify(A, "04 5A")
    env.wait(lambda: env.device(IDA)["contact"] is False, 5, "contact lost in /devices")
    sid = env.session_of(IDA)
    smp = env.wait(lambda: (lambda s: s if s and len(s) == 2 else None)(env.samples(sid)), 5,
                   "2 samples")
    check([s["contact"] for s in smp] == [1, 0], "contact column %s" % smp)


def t_two_straps(env):
    env.add(A, "Strap A", battery=50)
    env.add(B, "Strap B", battery=60)
    env.start()
    env.connected(A, IDA)
    env.connected(B, IDB)
    check(env.state()["max_pending_connects"] == 1, "one Connect pending at a time")
    env.notify(A, "10 48 00 04")
    env.notify(B, "10 50 00 02")
    sa, sb = env.session_of(IDA), env.session_of(IDB)
    check(sa != sb, "one session per strap")
    check_rr(env.wait(lambda: env.samples(sa), 5, "samples A"), [1000.0], "strap A")
    check_rr(env.wait(lambda: env.samples(sb), 5, "samples B"), [500.0], "strap B")
    d = env.devices()
    check(d[IDA]["battery_pct"] == 50 and d[IDB]["battery_pct"] == 60, "batteries per strap")


def t_pinned(env):
    env.config = "[ble]\ndevices = %s\n" % A.lower()
    env.add(B, "Neighbour", known=True)
    env.add(A, "Mine")
    env.start()
    env.connected(A, IDA)
    time.sleep(1.0)
    check(not any(c["path"].endswith(B.replace(":", "_")) for c in env.calls("Connect")),
          "the unlisted strap is never connected")
    check(IDB not in env.devices(), "the unlisted strap is not in /devices")
    env.wait(lambda: not env.state()["discovering"], 5, "discovery stops when the set is complete")
    env.ctl.Drop(A)
    env.wait(lambda: env.strap(A)["connected"], 10, "pinned strap reconnected")
    check(not env.strap(B)["connected"], "neighbour still not connected")


def t_reconnect_same_session(env):
    env.add(A, "H10")
    env.start()
    env.connected(A, IDA)
    paths1 = env.strap(A)["gatt_paths"]
    env.notify(A, "06 5A")
    time.sleep(0.3)
    env.notify(A, "06 5B")
    sid = env.session_of(IDA)
    ncalls = len(env.calls("Connect"))
    nbackoff = len(backoffs(env, A))
    env.ctl.Drop(A)
    env.wait(lambda: env.device(IDA)["connected"] is False or env.strap(A)["connected"], 5,
             "disconnect seen")
    env.connected(A, IDA)
    c = env.calls("Connect")
    # "At once" by the mechanism, not the wall clock: one Connect, and no
    # backoff scheduled between the loss and it.
    check(len(c) == ncalls + 1 and "BLE strap %s lost; reconnecting." % A.lower() in env.log_text()
          and len(backoffs(env, A)) == nbackoff,
          "reconnected at once (%d calls, backoffs %s)" % (len(c) - ncalls, backoffs(env, A)))
    check(env.strap(A)["acquires"] == 2, "AcquireNotify again after the reconnect")
    check(env.strap(A)["gatt_paths"] != paths1, "new GATT paths were followed")
    env.notify(A, "16 5C 00 04")
    smp = env.wait(lambda: (lambda s: s if s and len(s) == 3 else None)(env.samples(sid)), 5,
                   "the third sample in the same session")
    check_rr(smp, [1000.0], "after reconnect")
    check(env.device(IDA)["session_id"] == sid, "same session id")
    env.wait(lambda: env.device(IDA)["reconnect_count"] == 1, 5, "reconnect_count 1")


def t_bluez_restart(env):
    env.add(A, "H10")
    env.start()
    env.connected(A, IDA)
    env.notify(A, "06 5A")
    sid = env.session_of(IDA)
    gmo = len(env.calls("GetManagedObjects"))
    env.ctl.Restart(1.0)
    env.wait(lambda: env.device(IDA)["connected"] is False, 5, "strap lost with bluetoothd")
    env.wait(lambda: env.state()["online"], 5, "fake bluetoothd back")
    env.connected(A, IDA)
    check(len(env.calls("GetManagedObjects")) == gmo + 1, "objects loaded again")
    env.notify(A, "06 5B")
    env.wait(lambda: (lambda s: s if s and len(s) == 2 else None)(env.samples(sid)), 5,
             "samples continue in the same session")
    env.wait(lambda: env.device(IDA)["reconnect_count"] == 1, 5, "reconnect counted")
    check(env.log_text().count("bluetoothd left the bus") == 1, "restart logged once")


def t_adapter_power(env):
    env.add(A, "H10")
    env.start()
    env.connected(A, IDA)
    env.notify(A, "06 5A")
    sid = env.session_of(IDA)
    env.ctl.Power(False)
    env.wait(lambda: env.device(IDA)["connected"] is False, 5, "disconnected when powered off")
    time.sleep(1.0)
    n = len(env.calls("Connect")) + len(env.calls("StartDiscovery"))
    time.sleep(1.5)
    check(len(env.calls("Connect")) + len(env.calls("StartDiscovery")) == n,
          "no calls while the adapter is off")
    env.ctl.Power(True)
    env.connected(A, IDA)
    env.notify(A, "06 5B")
    env.wait(lambda: (lambda s: s if s and len(s) == 2 else None)(env.samples(sid)), 5,
             "same session after power-on")


def backoffs(env, addr):
    """The connection delays cardiod scheduled for addr, in seconds, from its log."""
    return [int(x) for x in re.findall(r"BLE strap %s: next connection attempt in (\d+) s\."
                                       % re.escape(addr), env.log_text(), re.I)]


def waited(gaps, delays):
    """No attempt came early: each gap between the fake's own Connect
    timestamps is at least its delay (a timer fires late, never early; the
    slack is only the rounding of the timestamps)."""
    return len(gaps) == len(delays) and all(g >= d - 0.01 for g, d in zip(gaps, delays))


def t_connect_backoff(env):
    env.add(A, "H10")
    env.ctl.FailConnect(A, 4, "org.bluez.Error.Failed", "le-connection-timeout")
    env.start()
    env.connected(A, IDA, timeout=25)
    t = env.strap(A)["connect_calls"]
    gaps = [round(b - a, 3) for a, b in zip(t, t[1:])]
    check(len(t) == 5, "4 failures then success: %d calls" % len(t))
    # The delays cardiod chose (its log) double from 1 s, and the fake's own
    # timestamps show that no attempt came before its delay was up.
    check(backoffs(env, A) == [1, 2, 4, 8] and waited(gaps, [1, 2, 4, 8]),
          "backoff 1,2,4,8 s: chose %s, waited %s" % (backoffs(env, A), gaps))
    # After a good link, a loss reconnects at once, and failures back off from 1 s again.
    env.ctl.FailConnect(A, 2, "org.bluez.Error.Failed", "le-connection-refused")
    env.ctl.Drop(A)
    env.connected(A, IDA, timeout=10)
    t2 = env.strap(A)["connect_calls"][5:]
    gaps = [round(b - a, 3) for a, b in zip(t2, t2[1:])]
    check(len(t2) == 3 and backoffs(env, A)[4:] == [1, 2] and waited(gaps, [1, 2]),
          "backoff restarts at 1 s: chose %s, waited %s" % (backoffs(env, A)[4:], gaps))


def t_connect_abort_retry(env):
    """le-connection-abort-by-local: retried at once (§2.6 step 5), not backed off."""
    env.add(A, "H10")
    env.ctl.FailConnect(A, 1, "org.bluez.Error.Failed", "le-connection-abort-by-local")
    env.start()
    env.connected(A, IDA)
    t = env.strap(A)["connect_calls"]
    # At once: retried without any backoff being scheduled (cardiod's log).
    check(len(t) == 2 and backoffs(env, A) == [] and
          "BLE strap %s: connection aborted locally; retrying." % A.lower() in env.log_text(),
          "retried at once: %s, backoffs %s" % (t, backoffs(env, A)))


def t_connect_in_progress(env):
    """§2.5a: Failed "Operation already in progress" is waited out, then retried."""
    env.add(A, "H10")
    env.ctl.FailConnect(A, 1, "org.bluez.Error.Failed", "Operation already in progress")
    env.start()
    env.connected(A, IDA, timeout=10)
    t = env.strap(A)["connect_calls"]
    check(len(t) == 2 and backoffs(env, A) == [1] and waited([t[1] - t[0]], [1]),
          "retried after 1 s: %s, backoffs %s" % (t, backoffs(env, A)))


def t_acquire_failing(env):
    """AcquireNotify failing (not refused) three times: StartNotify instead."""
    env.add(A, "H10", acquire_error="org.bluez.Error.Failed")
    env.start()
    env.connected(A, IDA, timeout=10)
    check(len(env.calls("AcquireNotify")) == 3 and env.strap(A)["sessions"] == 1,
          "3 AcquireNotify, then StartNotify")
    env.notify(A, "16 48 00 04")
    sid = env.session_of(IDA)
    check_rr(env.wait(lambda: env.samples(sid), 5, "a sample"), [1000.0], "fallback")


def t_shutdown(env):
    """SIGTERM: the links cardiod made are let go (Disconnect), exit status 0."""
    env.add(A, "Strap A")
    env.add(B, "Strap B")
    env.start()
    env.connected(A, IDA)
    env.connected(B, IDB)
    env.cardiod.send_signal(signal.SIGTERM)
    check(env.cardiod.wait(10) == 0, "exit status 0")
    paths = sorted(c["path"] for c in env.calls("Disconnect"))
    check(len(paths) == 2, "Disconnect for both straps: %s" % paths)
    st = env.state()["straps"]
    check(not st[A]["connected"] and not st[B]["connected"], "both disconnected")


def t_scan_restart(env):
    """A strap that starts advertising after the scan began is found by a scan restart."""
    env.add(A, "H10", advertising=False, report_on_scan_start=True)
    env.start()
    env.wait(lambda: env.state()["discovering"], 5, "scanning")
    env.ctl.SetAdvertising(A, True)
    env.connected(A, IDA, timeout=30)
    check(len(env.calls("StartDiscovery")) >= 2, "the scan was restarted")


def t_malformed(env):
    env.add(A, "H10")
    env.start()
    env.connected(A, IDA)
    sent = env.notify(A, "17 01 01", "10 3C 00 04 01", "01 3C", "06 5A")
    check(sent == ["fd"] * 4, "sent")
    env.wait(lambda: env.device(IDA)["malformed_count"] == 3, 5, "3 malformed counted")
    sid = env.session_of(IDA)
    env.wait(lambda: len(env.samples(sid)) == 1, 5, "the good one recorded")
    time.sleep(0.3)
    check(len(env.samples(sid)) == 1, "only the good one recorded")
    check(env.strap(A)["acquired"] and env.device(IDA)["connected"], "link kept")
    env.notify(A, "06 5B")
    env.wait(lambda: len(env.samples(sid)) == 2, 5, "still receiving")


def t_no_bluez(env):
    env.add(A, "H10")
    env.start()
    time.sleep(1.0)
    check(env.get("/healthz")["status"] == "ok", "cardiod runs without bluetoothd")
    check(env.log_text().count("not available on the system bus") == 1, "said so once")
    env.ctl.Start()
    env.connected(A, IDA)


def t_no_ble(env):
    env.add(A, "H10")
    env.start()
    time.sleep(1.5)
    check(env.calls("GetManagedObjects") == [], "--no-ble: bluetoothd is never asked")
    check(IDA not in env.devices(), "no strap")


def t_disabled_config(env):
    env.config = "[ble]\nenabled = false\n"
    t_no_ble(env)


def t_no_system_bus(env):
    env.start()
    time.sleep(0.5)
    check(env.get("/healthz")["status"] == "ok", "cardiod runs without a system bus")
    check("BLE straps unavailable" in env.log_text(), "said so")


# Issue 11 ------------------------------------------------------------------


def faketime_lib():
    """Debian's libfaketime (scripts/deps), or None."""
    import glob
    for pat in ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
                "/usr/local/lib/faketime/libfaketime.so.1"):
        found = sorted(glob.glob(pat))
        if found:
            return found[0]
    return None


def get_raw(env, path):
    """Status and body of a GET, or (None, None) when the connection gave no answer."""
    import http.client
    try:
        c = http.client.HTTPConnection("127.0.0.1", env.port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data
    except (OSError, http.client.HTTPException):
        return None, None


def sanitized(exe):
    """Whether exe was built with AddressSanitizer."""
    with open(exe, "rb") as f:
        return b"__asan_init" in f.read()


def t_clock_step(env, fake_monotonic=False):
    """Wall clock stepped −1 h, then +2 h, under libfaketime (monotonic clocks real, as
    with NTP): samples keep counting, duration follows real time, the API answers, and
    a strap that falls silent goes stale."""
    lib = faketime_lib()
    check(lib, "libfaketime is installed (scripts/deps: libfaketime)")
    stamp = os.path.join(env.tmp, "faketime")
    with open(stamp, "w") as f:
        f.write("+0\n")
    env.env = {"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": stamp, "FAKETIME_NO_CACHE": "1"}
    if not fake_monotonic:
        env.env["DONT_FAKE_MONOTONIC"] = "1"
    env.add(A, "Polar H10")
    env.start()
    env.connected(A, IDA)
    sid = None
    n = 0

    def feed(k):
        nonlocal n
        for _ in range(k):
            env.notify(A, "06 5A")
            n += 1
            time.sleep(0.2)

    def counted():
        return env.wait(lambda: (lambda s: s if s and s.get("samples") == n else None)(
            env.get("/session")), 10, "all %d samples counted" % n)

    feed(5)
    sid = env.session_of(IDA)
    s0 = counted()
    check(env.device(IDA)["stale"] is False, "live before the steps")
    for step in ("-3600", "+7200"):
        mono0, dur0 = time.monotonic(), s0["duration_s"]
        with open(stamp, "w") as f:
            f.write(step + "\n")
        feed(10)
        s1 = counted()
        check(s1["id"] == sid and s1["state"] == "active",
              "step %s: still the same active session: %s" % (step, s1.get("id")))
        elapsed = time.monotonic() - mono0
        grown = s1["duration_s"] - dur0
        # Duration follows the real (monotonic) time between the samples, not the step:
        # compared with the step size, not as a timing bound.
        check(0 < grown <= elapsed + 1,
              "step %s: duration grew %.3f s over %.3f s of real time" % (step, grown, elapsed))
        check(s1["stale"] is False and s1["heart_rate"]["current"] == 90,
              "step %s: live heart rate %s" % (step, s1.get("heart_rate")))
        for path in ("/session", "/devices", "/sessions", "/healthz"):
            status, body = get_raw(env, path)
            check(status == 200 and body, "step %s: GET %s answered: %s" % (step, path, status))
        d = env.device(IDA)
        check(d["stale"] is False and d["connected"], "step %s: device live: %s" % (step, d))
        s0 = s1
    # Silence: stale after stale_after_s of the boot clock, on /devices and /session.
    env.wait(lambda: env.device(IDA)["stale"] is True, 15, "a silent strap goes stale")
    s = env.get("/session")
    check(s["stale"] is True and s["heart_rate"]["current"] is None,
          "/session stale with no current heart rate: %s" % s.get("heart_rate"))
    # The stored samples' t follow the boot clock: strictly increasing, no 1 h jump.
    smp = env.samples(sid)
    ts = [x["t_s"] for x in smp]
    check(len(ts) == n and all(b > a for a, b in zip(ts, ts[1:])) and ts[-1] < 60,
          "stored t increasing and real-time sized: %s" % ts)
    # The steps did reach cardiod: started_at is on the old wall clock, last_seen on the new.
    d = env.device(IDA)
    check(d["last_seen"] > s0["started_at"], "last_seen after the +2 h step: %s vs %s"
          % (d["last_seen"], s0["started_at"]))


def t_clock_step_all_clocks(env):
    """The same with a shim that steps the monotonic clocks too (libfaketime's default,
    which no kernel does): cardiod reads those from the kernel, so nothing changes."""
    t_clock_step(env, fake_monotonic=True)


def t_rr_zero(env):
    """An RR of 0 (BLE raw 0) is dropped at ingest; the CSV export stays whole."""
    env.add(A, "Polar H10")
    env.start()
    env.connected(A, IDA)
    # bpm 72 + RR 0 + RR 340; bpm 72 + RR 0 only; bpm 90 + RR 748.
    env.notify(A, "16 48 00 00 54 01", "16 48 00 00", "16 5A EC 02")
    sid = env.session_of(IDA)
    smp = env.wait(lambda: (lambda s: s if s and len(s) == 3 else None)(env.samples(sid)), 5,
                   "3 samples")
    check_rr(smp, [rr_ms(340), rr_ms(748)], "RR 0 dropped")
    check(smp[1]["rr_ms"] in (None, []), "a sample with only RR 0 has no RR: %s" % smp[1])
    status, body = get_raw(env, "/sessions/%d/samples?format=csv" % sid)
    check(status == 200, "CSV export answers 200: %s %s" % (status, body[:200] if body else body))
    lines = body.decode().strip().splitlines()
    check(len(lines) == 4, "CSV has a header and 3 rows: %s" % lines)
    rr_col = lines[0].split(",").index("rr_ms")
    rrs = [ln.split(",")[rr_col] for ln in lines[1:]]
    check(all(float(v) > 0 for x in rrs for v in x.strip('"').replace(";", " ").split()),
          "no RR 0 in the CSV: %s" % rrs)
    s = env.get("/session")
    check(s["hrv"]["rr_count"] == 2, "the engine saw 2 RR: %s" % s["hrv"])


def t_hostile_name(env):
    """A strap name with a newline and other control characters cannot forge log lines."""
    evil = "H10\ncardiod[1]: Session 99 started on forged.\x1b[31m\x07"
    env.add(A, evil)
    env.start()
    env.connected(A, IDA)
    env.notify(A, "06 5A")
    env.session_of(IDA)
    env.wait(lambda: env.device(IDA)["name"] == evil, 5, "the name is reported as is in /devices")
    log = env.log_text()
    check("H10" in log, "the name reached the log")
    check(not any(ln.startswith("cardiod[1]: Session 99") for ln in log.splitlines()),
          "no forged line in the log")
    check("\x1b" not in log and "\x07" not in log, "no raw control characters in the log")
    check("H10\\ncardiod[1]" in log, "the newline is escaped as \\n")


def t_late_second_strap(env):
    """No allow-list: a strap put on after the first one connected is notifying within
    10 s (issue 11), judged by the fake bluetoothd's own call times; and the radio does
    not scan for good once both are connected (bursts: StopDiscovery keeps coming)."""
    env.add(A, "Strap A")
    env.start()
    env.connected(A, IDA)
    env.wait(lambda: not env.state()["discovering"], 10, "discovery paused once A connected")
    time.sleep(1)
    t_add = time.monotonic()
    env.add(B, "Strap B")
    env.connected(B, IDB, timeout=30)
    path_b = B.replace(":", "_")
    setup = [c for c in env.calls() if c["method"] in ("AcquireNotify", "StartNotify")
             and path_b in c["path"]]
    check(setup, "B's notifications were set up: %s" % setup)
    delay = setup[0]["t"] - t_add
    check(delay <= 10, "B notifying %.1f s after it appeared (spec: within 10 s)" % delay)
    env.notify(B, "06 5A")
    env.session_of(IDB)
    stops = len(env.calls("StopDiscovery"))
    env.wait(lambda: len(env.calls("StopDiscovery")) > stops and not env.state()["discovering"],
             20, "with both connected the scan still pauses between bursts")


def t_allowlist_scan_stops(env):
    """With an allow-list, once every listed strap is connected the scan stops for good."""
    env.config = "[ble]\ndevices = %s\n" % A
    env.add(A, "Strap A")
    env.start()
    env.connected(A, IDA)
    env.wait(lambda: not env.state()["discovering"], 10, "discovery stopped")
    starts = len(env.calls("StartDiscovery"))
    time.sleep(7)  # longer than one burst cycle without an allow-list (5 s off, 3 s on)
    check(len(env.calls("StartDiscovery")) == starts and not env.state()["discovering"],
          "no scan burst with every allow-listed strap connected")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def t_flood(env):
    """§9.7: a few hundred heart-rate advertisers that never connect.  cardiod keeps at
    most max_unknown of them (round robin, each gets a Connect), forgets them, lists none
    in /devices, its memory stays flat, and the owner's strap is still picked up."""
    n_flood = 300
    env.config = "[ble]\nforget_after_s = 2\nmax_unknown = 8\n"
    env.start()
    time.sleep(0.5)
    rss0 = rss_kb(env.cardiod.pid)
    flood = ["F0:0D:00:00:%02X:%02X" % (i >> 8, i & 0xFF) for i in range(n_flood)]
    for addr in flood:
        env.add(addr, "Flood %s" % addr[-5:], advertising=False)
        env.ctl.FailConnect(addr, 1000000, "org.bluez.Error.Failed", "le-connection-timeout")
    for addr in flood:
        env.ctl.SetAdvertising(addr, True)
    # Round robin: many different advertisers get their Connect, not the same 8 again.
    env.wait(lambda: sum(1 for a in flood if env.strap(a)["connect_calls"]) >= 50, 60,
             "Connect() spread over the advertisers")
    env.add(A, "Owner's H10")
    env.connected(A, IDA, timeout=60)
    env.notify(A, "06 5A")
    env.session_of(IDA)
    devs = env.get("/devices")
    check(devs is not None, "/devices answers under the flood")
    ids = [d["id"] for d in devs["devices"]]
    check(ids == [IDA], "/devices lists the owner's strap only, no advertiser: %d entries %s"
          % (len(ids), ids[:5]))
    rss1 = rss_kb(env.cardiod.pid)
    check(rss0 and rss1 and rss1 - rss0 < 16 * 1024,
          "memory stays bounded: RSS %s kB -> %s kB" % (rss0, rss1))
    print("flood: RSS %d kB -> %d kB, %d advertisers tried" % (
        rss0, rss1, sum(1 for a in flood if env.strap(a)["connect_calls"])))
    log = env.log_text()
    check("to make room (max_unknown 8)" in log, "unknown straps were forgotten to make room")
    # The advertisers go away (bluetoothd drops their objects): forgotten after
    # forget_after_s, and no Connect() to any of them afterwards.
    for addr in flood:
        env.ctl.Vanish(addr)
    env.wait(lambda: "unseen for 2 s" in env.log_text(), 30, "forgotten after forget_after_s")
    time.sleep(3)
    n_calls = len(env.calls("Connect"))
    time.sleep(3)
    check(len(env.calls("Connect")) == n_calls, "no Connect() once they are forgotten")
    check(env.device(IDA)["connected"], "the owner's strap stays connected")


SCENARIOS = {
    "discovery-acquire": (t_discovery_acquire, {}),
    "startnotify-fallback": (t_startnotify_fallback, {}),
    "contact-lost": (t_contact_lost, {}),
    "two-straps": (t_two_straps, {}),
    "pinned": (t_pinned, {}),
    "reconnect-same-session": (t_reconnect_same_session, {}),
    "bluez-restart": (t_bluez_restart, {}),
    "adapter-power": (t_adapter_power, {}),
    "connect-backoff": (t_connect_backoff, {}),
    "connect-abort-retry": (t_connect_abort_retry, {}),
    "connect-in-progress": (t_connect_in_progress, {}),
    "acquire-failing": (t_acquire_failing, {}),
    "shutdown": (t_shutdown, {}),
    "scan-restart": (t_scan_restart, {}),
    "malformed": (t_malformed, {}),
    "no-bluez": (t_no_bluez, {"offline": True}),
    "no-ble": (t_no_ble, {"args": ["--no-ble"]}),
    "disabled-config": (t_disabled_config, {}),
    "clock-step": (t_clock_step, {"args": ["--idle-timeout", "600"]}),
    "clock-step-all-clocks": (t_clock_step_all_clocks, {"args": ["--idle-timeout", "600"]}),
    "rr-zero": (t_rr_zero, {}),
    "hostile-name": (t_hostile_name, {}),
    "late-second-strap": (t_late_second_strap, {}),
    "allowlist-scan-stops": (t_allowlist_scan_stops, {}),
    "flood": (t_flood, {}),
    "no-system-bus": (t_no_system_bus, {"bus": False, "env": {
        "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/cardiod-test-bus"}}),
}


def main():
    # libfaketime's preload deadlocks in AddressSanitizer's start-up (its
    # clock_gettime recursion during dlsym), so the clock-step scenarios run
    # in the gcc tree only; scripts/test allows this skip in the ASan tree.
    if (len(sys.argv) > 2 and all(a.startswith("clock-step") for a in sys.argv[2:])
            and sanitized(sys.argv[1])):
        print("SKIP: libfaketime cannot preload into an AddressSanitizer build of cardiod",
              file=sys.stderr)
        return 77
    return daemon_helpers.run_scenarios(sys.argv, SCENARIOS, Env, Failure, __doc__)


if __name__ == "__main__":
    sys.exit(main())
