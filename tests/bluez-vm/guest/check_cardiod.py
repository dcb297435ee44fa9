#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""In-guest checker: cardiod on hci0 against real bluetoothd 5.66.

The sensor (hr_peripheral.py on hci1) sends a fixed cycle of Heart Rate
Measurement payloads (PAYLOADS there): 063c, 063d, 163e0004, 0e3f0a00,
072c01.  This asserts that they reach cardiod's /sessions/ID/samples in
order with the right bpm, RR and contact, that /devices shows the strap
(transport ble, connected, body location chest from 0x2A38), and that after
the sensor stops advertising and drops the link (--drop-after), cardiod
reconnects by itself and the same session goes on.
Prints FIRST_NOTIFICATION when the first sample shows up (run.sh timing).
"""
import argparse
import json
import os
import sys
import time
import urllib.request

# (bpm, rr_ms, contact) of each payload of the sensor's cycle.
CYCLE = [(60, [], 1), (61, [], 1), (62, [1000.0], 1), (63, [], 1), (300, [], 1)]

t0 = time.monotonic()


def log(msg):
    print("[check %6.2f] %s" % (time.monotonic() - t0, msg), flush=True)


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return json.loads(r.read().decode())
    except Exception:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--timeout", type=float, default=150)
    ap.add_argument("--cardiod-pid", type=int)
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout

    def wait(cond, what):
        log("waiting: " + what)
        while True:
            if a.cardiod_pid and not os.path.exists("/proc/%d" % a.cardiod_pid):
                log("FAIL: cardiod is gone")
                sys.exit(1)
            try:
                v = cond()
            except (KeyError, TypeError, IndexError):
                v = None
            if v:
                log("ok: " + what)
                return v
            if time.monotonic() > deadline:
                log("FAIL: timed out: " + what)
                sys.exit(1)
            time.sleep(0.2)

    def strap():
        d = get(a.port, "/devices")
        for x in (d or {}).get("devices", []):
            if x["id"].startswith("ble-"):
                return x
        return None

    def samples(sid):
        s = get(a.port, "/sessions/%d/samples" % sid)
        return s["samples"] if s else None

    d = wait(lambda: (lambda x: x if x and x["session_id"] else None)(strap()),
             "a BLE strap with a session in /devices")
    print("FIRST_NOTIFICATION %s" % d["id"], flush=True)
    sid = d["session_id"]
    log("strap %s" % json.dumps(d))
    ok = True
    if d["transport"] != "ble" or not d["connected"]:
        log("FAIL: transport/connected: %s" % d)
        ok = False
    d = wait(lambda: (lambda x: x if x and x["body_location"] else None)(strap()),
             "body sensor location read")
    if d["body_location"] != "chest":
        log("FAIL: body location %r, expected chest" % d["body_location"])
        ok = False

    smp = wait(lambda: (lambda s: s if s and len(s) >= 6 else None)(samples(sid)),
               "6 samples in session %d" % sid)

    def check_cycle(smp, what):
        good = True
        start = [c[0] for c in CYCLE].index(smp[0]["bpm"]) if smp[0]["bpm"] in [c[0] for c in CYCLE] else -1
        if start < 0:
            log("FAIL: %s: first bpm %s not from the sensor's cycle" % (what, smp[0]["bpm"]))
            return False
        for i, s in enumerate(smp):
            bpm, rr, contact = CYCLE[(start + i) % len(CYCLE)]
            got_rr = s["rr_ms"] or []
            if s["bpm"] != bpm or len(got_rr) != len(rr) or \
                    any(abs(g - e) > 1e-6 for g, e in zip(got_rr, rr)) or s["contact"] != contact:
                log("FAIL: %s: sample %d is %s, expected bpm %s rr %s contact %s" %
                    (what, i, s, bpm, rr, contact))
                good = False
        return good

    ok = check_cycle(smp, "before the drop") and ok
    log("samples before the drop: %s" % [(s["bpm"], s["rr_ms"]) for s in smp])

    wait(lambda: strap()["connected"] is False, "the sensor dropped the link")
    n_before = len(samples(sid))
    d = wait(lambda: (lambda x: x if x["connected"] and x["reconnect_count"] >= 1 else None)(strap()),
             "cardiod reconnected by itself")
    smp = wait(lambda: (lambda s: s if s and len(s) >= n_before + 3 else None)(samples(sid)),
               "new samples in the same session %d after the reconnection" % sid)
    d = strap()
    if d["session_id"] != sid:
        log("FAIL: session changed from %s to %s" % (sid, d["session_id"]))
        ok = False
    ok = check_cycle(smp[n_before:], "after the reconnection") and ok
    s = get(a.port, "/session")
    log("session: id %s samples %s rr_count %s" % (s["id"], s["samples"], s["hrv"]["rr_count"]))
    if s["id"] != sid:
        ok = False
        log("FAIL: /session is %s, expected %s" % (s["id"], sid))
    log("RESULT %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
