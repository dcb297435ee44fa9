#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Integration tests of cardiod (DESIGN §3, §4, §6, §7) against the real
binary: configuration errors, replay = `cardioctl analyze`, the samples
CSV export, SIGTERM and SIGKILL (recovery), and refusing a corrupt DB.

Usage: test-daemon.py CARDIOD CARDIOCTL DATA_DIR
"""

import glob
import hashlib
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, analyze, compare, run_cardiod, wait_for  # noqa: E402

CARDIOD, CARDIOCTL, DATA = sys.argv[1:4]
PROFILE = ["--hr-max", "185", "--hr-rest", "55"]
t = Checker("test-daemon")
tmp = tempfile.mkdtemp(prefix="cardiod-it-")
empty_conf = os.path.join(tmp, "empty.conf")
open(empty_conf, "w").close()


def write(name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def unwrap(js, key):
    """The server may wrap arrays as {"KEY": [...]}."""
    return js.get(key) if isinstance(js, dict) else js


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_csv():
    """A session with gaps, lost contact, invalid rates and RR lists."""
    rnd = random.Random(7)
    lines = ["t_s,bpm,rr_ms,contact"]
    tt, hr = 0.0, 80.0
    for i in range(1500):
        tt += rnd.choice([0.25, 0.5, 1.0, 1.0, 1.0, 1.3])
        if i % 400 == 399:
            tt += 12  # a gap longer than max_gap_s
        hr += rnd.uniform(-2, 2.2)
        hr = min(max(hr, 60), 185)
        contact = "0" if i % 97 == 5 else rnd.choice(["1", "1", "1", ""])
        bpm = "0" if i % 250 == 3 else "%d" % round(hr)
        rr = " ".join("%.4f" % (60000 / hr * rnd.uniform(0.97, 1.03))
                      for _ in range(rnd.choice([0, 1, 1, 2])))
        lines.append("%s,%s,%s,%s" % (repr(round(tt, 3)), bpm, rr, contact))
    return write("made.csv", "\n".join(lines) + "\n")


def test_config_errors():
    conf = write("bad1.conf", "[http]\nlisten = 127.0.0.1:8080\nport = 9\n")
    rc, err = run_cardiod(CARDIOD, ["--config", conf])
    t.check(rc == 2, "unknown key: exit %r" % rc)
    t.check(conf + ":3:" in err and "port" in err, "unknown key: file:line in %r" % err)

    conf = write("bad2.conf", "[session]\nidle_timeout_s = 60\n\nmax_gap_s = soon\n")
    rc, err = run_cardiod(CARDIOD, ["--config", conf])
    t.check(rc == 2 and conf + ":4:" in err, "bad value: exit %r, %r" % (rc, err))

    conf = write("bad3.conf", "[weird]\nx = 1\n")
    rc, err = run_cardiod(CARDIOD, ["--config", conf])
    t.check(rc == 2 and conf + ":2:" in err and "weird" in err, "unknown section: %r" % err)

    conf = write("bad4.conf", "[profile]\nhr_max = 150\nhr_rest = 150\n")
    rc, err = run_cardiod(CARDIOD, ["--config", conf])
    t.check(rc == 2 and conf + ":3:" in err, "bad profile: %r %r" % (rc, err))

    rc, err = run_cardiod(CARDIOD, ["--config", os.path.join(tmp, "missing.conf")])
    t.check(rc == 2 and "missing.conf" in err, "missing explicit config: %r %r" % (rc, err))

    rc, err = run_cardiod(CARDIOD, ["--config", empty_conf, "--max-gap", "x"])
    t.check(rc == 2 and "--max-gap" in err, "bad option value: %r %r" % (rc, err))
    rc, err = run_cardiod(CARDIOD, ["--frobnicate"])
    t.check(rc == 2, "unknown option: exit %r" % rc)
    rc, err = run_cardiod(CARDIOD, ["--help"])
    t.check(rc == 0, "--help: exit %r" % rc)

    bad = write("bad.csv", "t_s,bpm,rr_ms,contact\n0,100,,1\n1,abc,,1\n")
    rc, err = run_cardiod(CARDIOD, ["--config", empty_conf, "--replay", bad,
                                    "--db", os.path.join(tmp, "never.db")])
    t.check(rc == 2 and "line 3" in err, "bad CSV: exit %r, %r" % (rc, err))
    t.check(not os.path.exists(os.path.join(tmp, "never.db")), "bad CSV: no DB created")


def replay_session(csv, speed, db, extra=()):
    d = Daemon(CARDIOD, ["--config", empty_conf, "--db", db, "--replay", csv,
                         "--speed", str(speed), *PROFILE, *extra], tmp)
    if not t.check(d.wait_ready(), "replay %s: daemon ready (%s)" % (csv, d.read_log()[-500:])):
        d.stop()
        return None, None
    ended = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "ended"
                              else None)(d.get_json("/session")), timeout=60)
    t.check(ended is not None, "replay %s at speed %s: session ended" % (csv, speed))
    return d, ended


def test_replay(csv, speed):
    name = os.path.basename(csv)
    db = os.path.join(tmp, "replay-%s-%s.db" % (name, speed))
    d, live = replay_session(csv, speed, db)
    if not live:
        return
    ref = analyze(CARDIOCTL, csv, *PROFILE)
    diffs = compare(live, ref)
    t.check(not diffs, "replay %s at speed %s = analyze: %s" % (name, speed, diffs[:5]))
    t.check(live["device"]["id"] == "replay-1" and live["device"]["transport"] == "replay",
            "replay device: %r" % live["device"])

    # The same session by id, and in the list.
    status, by_id = d.get_json("/sessions/%d" % live["id"])
    t.check(status == 200 and not compare(by_id, live), "GET /sessions/ID equals /session")
    status, lst = d.get_json("/sessions")
    t.check(status == 200 and lst["sessions"] and lst["sessions"][0]["id"] == live["id"],
            "GET /sessions lists it: %r" % (lst,))

    # The samples CSV export re-analyses to the same figures.
    status, data = d.request("GET", "/sessions/%d/samples?format=csv" % live["id"])
    t.check(status == 200 and data.startswith(b"t_s,bpm,rr_ms,contact\n"), "CSV export")
    exported = write("export-%s-%s.csv" % (name, speed), data.decode())
    diffs = compare(analyze(CARDIOCTL, exported, *PROFILE), ref)
    t.check(not diffs, "export of %s re-analyses the same: %s" % (name, diffs[:5]))
    status, js = d.get_json("/sessions/%d/samples" % live["id"])
    if isinstance(js, dict):
        js = js.get("samples")
    t.check(status == 200 and isinstance(js, list) and js and "t_s" in js[0]
            and "rr_ms" in js[0] and "contact" in js[0],
            "JSON samples: %.200r" % (js[:1] if isinstance(js, list) else js))

    status, devs = d.get_json("/devices")
    devs = unwrap(devs, "devices") or []
    t.check(status == 200 and any(x["id"] == "replay-1" and x["connected"] is False for x in devs),
            "GET /devices after the replay: %r" % devs)
    status, health = d.get_json("/healthz")
    t.check(status == 200 and health.get("status") == "ok", "healthz ok: %r" % health)
    rc = d.stop()
    t.check(rc == 0, "SIGTERM after replay: exit %r" % rc)

    # After a restart the stored session still gives the same figures.
    d = Daemon(CARDIOD, ["--config", empty_conf, "--db", db, *PROFILE], tmp)
    if t.check(d.wait_ready(), "restart on %s" % db):
        status, again = d.get_json("/sessions/%d" % live["id"])
        diffs = compare(again, ref)
        t.check(status == 200 and not diffs, "stored session = analyze: %s" % diffs[:5])
        status, latest = d.get_json("/session")
        t.check(status == 200 and latest.get("id") == live["id"], "/session after restart")
    rc = d.stop()
    t.check(rc == 0, "SIGTERM after restart: exit %r" % rc)


def test_sigterm():
    db = os.path.join(tmp, "term.db")
    d = Daemon(CARDIOD, ["--config", empty_conf, "--db", db, "--simulate=2", "--seed", "3",
                         "--commit-interval", "0.5"], tmp)
    if not t.check(d.wait_ready(), "simulate: ready"):
        d.stop()
        return
    s = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("samples", 0) >= 2
                          else None)(d.get_json("/session")), timeout=10)
    t.check(s is not None and s["state"] == "active", "simulated session active: %r" % (s,))
    status, devs = d.get_json("/devices")
    devs = unwrap(devs, "devices") or []
    t.check(status == 200 and sorted(x["id"] for x in devs) == ["sim-1", "sim-2"],
            "two simulated straps: %r" % devs)
    # Manual stop and idempotent start.
    status, stopped = d.request("POST", "/session/stop", body=json.dumps({"device": "sim-1"}))
    t.check(status == 200 and json.loads(stopped)["state"] == "ended", "POST stop: %r" % stopped)
    status, a = d.request("POST", "/session/start", body=json.dumps({"device": "sim-1",
                                                                     "kind": "aerobic"}))
    status2, b = d.request("POST", "/session/start", body=json.dumps({"device": "sim-1"}))
    t.check(status == 200 and status2 == 200 and json.loads(a)["id"] == json.loads(b)["id"]
            and json.loads(a)["kind"] == "aerobic", "POST start is idempotent")
    # SIGHUP: no reload, so ignored (logged once at info) and the daemon runs on.
    hup = "SIGHUP ignored: cardiod has no reload"
    for _ in range(3):
        d.signal(signal.SIGHUP)
        time.sleep(0.2)
    t.check(wait_for(lambda: hup in d.read_log(), timeout=5) is not None, "SIGHUP logged")
    t.check(d.proc.poll() is None, "SIGHUP: still running (exit %r)" % d.proc.poll())
    status, h = d.get_json("/healthz")
    t.check(status == 200 and h and h.get("status") == "ok", "/healthz after SIGHUP: %r" % (h,))
    t.check(d.read_log().count(hup) == 1, "SIGHUP logged once at info")
    time.sleep(1)
    d.signal(signal.SIGTERM)
    rc = d.wait()
    t.check(rc == 0, "SIGTERM: exit %r" % rc)
    t.check("Shutting down" in d.read_log(), "SIGTERM logged")
    con = sqlite3.connect(db)
    open_n = con.execute("SELECT COUNT(*) FROM sessions WHERE ended_at_us IS NULL").fetchone()[0]
    total = con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    kinds = [r[0] for r in con.execute("SELECT kind FROM sessions ORDER BY id")]
    ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    t.check(total == 3 and open_n == 0, "SIGTERM closed every session: %d open of %d" %
            (open_n, total))
    t.check("aerobic" in kinds, "session kind stored: %r" % kinds)
    t.check(ok == "ok", "integrity_check after SIGTERM: %r" % ok)
    log = d.read_log()
    t.check(" bpm" not in log.lower(), "no heart rate in info logs")


def test_sigkill(csv):
    db = os.path.join(tmp, "kill.db")
    speed, commit = 100, 1.0
    d = Daemon(CARDIOD, ["--config", empty_conf, "--db", db, "--replay", csv, "--speed",
                         str(speed), "--commit-interval", str(commit), *PROFILE], tmp)
    if not t.check(d.wait_ready(), "kill: ready"):
        d.stop()
        return
    # Judged by the mechanism, not by wall time: samples reach the database
    # by the periodic commit while the session runs (a second reader sees
    # them), and whatever was committed before the SIGKILL must survive it.
    def committed():
        try:
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
            try:
                return con.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            return 0
    n_early = wait_for(lambda: committed() >= 200 or None, timeout=60)
    live = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("samples", 0) >= 400
                             else None)(d.get_json("/session")), timeout=30)
    n_before = committed()
    d.signal(signal.SIGKILL)
    d.wait()
    t.check(n_early is not None, "samples committed while the replay runs (commit interval)")
    t.check(live is not None and live["state"] == "active", "kill: mid-replay")
    if not live:
        return

    con = sqlite3.connect(db)
    ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    t.check(ok == "ok", "integrity_check after SIGKILL: %r" % ok)

    d = Daemon(CARDIOD, ["--config", empty_conf, "--db", db, *PROFILE], tmp)
    if not t.check(d.wait_ready(), "restart after SIGKILL: %s" % d.read_log()[-400:]):
        d.stop()
        return
    status, rec = d.get_json("/sessions/%d" % live["id"])
    t.check(status == 200 and rec["state"] == "ended", "recovered session ended: %r" %
            (rec.get("state") if rec else None))
    status, data = d.request("GET", "/sessions/%d/samples?format=csv" % live["id"])
    exported = write("kill-export.csv", data.decode())
    diffs = compare(rec, analyze(CARDIOCTL, exported, *PROFILE))
    t.check(not diffs, "recovered summary = analyze of its samples: %s" % diffs[:5])
    t.check(rec["ended_at"] == rec["last_sample_at"], "closed at its last stored sample: %r %r" %
            (rec["ended_at"], rec["last_sample_at"]))
    t.check("Recovered session" in d.read_log(), "recovery logged")
    rc = d.stop()
    t.check(rc == 0, "SIGTERM after recovery: exit %r" % rc)
    # Nothing committed before the kill is lost (rows stored, valid or not).
    n_after = committed()
    t.check(n_after >= n_before > 0, "%d samples stored after recovery, %d were committed "
            "before the SIGKILL" % (n_after, n_before))
    con = sqlite3.connect(db)
    ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    t.check(ok == "ok", "integrity_check after recovery: %r" % ok)


def test_corrupt():
    junk = os.path.join(tmp, "junk.db")
    with open(junk, "wb") as f:
        f.write(os.urandom(8192))
    h = sha(junk)
    rc, err = run_cardiod(CARDIOD, ["--config", empty_conf, "--db", junk, "--listen",
                                    "127.0.0.1:0"])
    t.check(rc not in (0, None) and "not an SQLite database" in err,
            "junk DB refused: %r %r" % (rc, err))
    t.check(sha(junk) == h, "junk DB untouched")

    bad = os.path.join(tmp, "corrupt.db")
    con = sqlite3.connect(bad)
    con.execute("CREATE TABLE t (x TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(2000)])
    con.commit()
    con.close()
    with open(bad, "r+b") as f:
        f.seek(4096 * 3)
        f.write(b"\xa5" * 4096)
    h = sha(bad)
    rc, err = run_cardiod(CARDIOD, ["--config", empty_conf, "--db", bad, "--listen",
                                    "127.0.0.1:0"])
    t.check(rc not in (0, None) and "integrity" in err, "corrupt DB refused: %r %r" % (rc, err))
    t.check(sha(bad) == h, "corrupt DB untouched")
    t.check(not os.path.exists(bad + "-wal") or os.path.getsize(bad + "-wal") == 0,
            "corrupt DB: nothing written to a WAL")


test_config_errors()
made = make_csv()
# A recording without a single RR interval (a strap that sends none).
no_rr = write("no-rr.csv", "t_s,bpm,rr_ms,contact\n" +
              "".join("%d,%d,,\n" % (i, 90 + i % 40) for i in range(300)))
for csv in sorted(glob.glob(os.path.join(DATA, "*.csv"))) + [made, no_rr]:
    test_replay(csv, 0)
test_replay(os.path.join(DATA, "tiny.csv"), 20)
test_sigterm()
test_sigkill(made)
test_corrupt()
t.finish()
