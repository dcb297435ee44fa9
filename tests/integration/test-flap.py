#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A strap dropping and returning many times (issue 8, fault tests).

Usage: test-flap.py CARDIOD ble|ant [CYCLES]

ble: a BLE strap behind the fake bluetoothd (fake_bluez.py, test_ble.Env)
     loses its link CYCLES times (default 50): a plain drop, a drop right
     after a burst of notifications (sent on the AcquireNotify socket and
     the link torn down in the same main-loop turn of bluetoothd), and
     the same while cardiod is stopped (SIGSTOP: the socket's data, its
     hangup and the D-Bus signals of the loss all wait for it), and every
     fifth time out of range for a moment (not advertising, so the
     Connect() waits).  Notifications are also sent while the link is down.
ant: an ANT+ strap on the fake stick (fake_ant.py, test_ant.Env) goes out
     of range CYCLES times (default 50) for just long enough that cardiod
     calls it lost (stale_after_s 0.5 s, its sweep runs once a second),
     then comes back, once cardiod knows it as a paged strap (§4.3).  Real time (the fake stick broadcasts at 4 Hz):
     about 2.3 s a cycle.

Afterwards: exactly one session for the strap (idle_timeout_s is far
away), reconnect_count = CYCLES, and every notification/broadcast the
fake delivered while the link was up is in GET /sessions/ID/samples, in
order, with its bpm and RR (for ANT+, RR as PROTOCOLS §4.4 derives them).
Nothing sent while the link was down is there.

meson runs a shorter ANT+ variant (it is real time); bench/soak-flap runs
both with 50 cycles.
"""

import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def ble_payload(i, j):
    """Heart Rate Measurement: 8-bit rate with one RR; unique per (cycle, index)."""
    bpm = 60 + (i * 7 + j) % 120
    rr = 40000 + i * 16 + j  # 1/1024 s: a distinct RR each (not physiological; decoded as is)
    rr = rr % 65536
    return "10 %02X %02X %02X" % (bpm, rr & 0xFF, rr >> 8), bpm, rr * 1000.0 / 1024.0


def one_session(env, did, sid):
    lst = env.get("/sessions?limit=100")
    items = lst.get("sessions", lst) if isinstance(lst, dict) else lst
    mine = [x for x in items if (x.get("device") or {}).get("id", x.get("device")) == did]
    env_check(len(mine) == 1 and mine[0]["id"] == sid,
              "exactly one session for %s: %s" % (did, [(x["id"], x.get("state")) for x in mine]))


class Failure(Exception):
    pass


def env_check(cond, what):
    if not cond:
        raise Failure(what)


def run_ble(cardiod, cycles):
    import test_ble
    from test_ble import A, IDA, Env
    env = Env(cardiod, args=["--idle-timeout", "600"])
    ok = False
    t0 = time.monotonic()
    try:
        env.add(A, "Polar H10")
        env.start()
        env.connected(A, IDA)
        expected = []  # (bpm, rr_ms) delivered while the link was up
        n_none = 0

        def send(payloads, then_drop=False):
            nonlocal n_none
            raw = [p for p, _, _ in payloads]
            if then_drop:
                res = [str(x) for x in env.ctl.NotifyManyThenDrop(
                    A, test_ble.dbus.Array([test_ble.dbus.ByteArray(test_ble.hexb(p)) for p in raw],
                                           signature="ay"))]
            else:
                res = env.notify(A, *raw)
            for (p, bpm, rr), how in zip(payloads, res):
                env_check(how in ("fd", "none"), "AcquireNotify in use: %s" % how)
                if how == "fd":
                    expected.append((bpm, rr))
                else:
                    n_none += 1

        for i in range(cycles):
            pl = [ble_payload(i, j) for j in range(6)]
            send(pl[:2])
            if i % 5 == 4:
                # Out of range for a moment: the Connect() made meanwhile waits.
                env.ctl.SetAdvertising(A, False)
                send(pl[2:4], then_drop=True)
                env.wait(lambda: env.device(IDA)["connected"] is False, 5, "cycle %d: lost" % i)
                send(pl[4:5])  # the link is down: "none"
                time.sleep(0.2)
                env.ctl.SetAdvertising(A, True)
            elif i % 4 == 3:
                # cardiod scheduled out (a busy Pi) while the strap sends and drops:
                # the socket's data, its hangup and the D-Bus signals of the loss
                # are all waiting when it runs again, in no particular order.
                env.cardiod.send_signal(signal.SIGSTOP)
                try:
                    send(pl[2:4], then_drop=True)
                    time.sleep(0.1)
                finally:
                    env.cardiod.send_signal(signal.SIGCONT)
                send(pl[4:5])
            elif i % 2:
                send(pl[2:4], then_drop=True)
                send(pl[4:5])
            else:
                env.ctl.Drop(A)
                send(pl[4:5])
            env.connected(A, IDA, timeout=10)
            env.wait(lambda: env.device(IDA)["reconnect_count"] == i + 1, 5,
                     "cycle %d: reconnect_count %d" % (i, i + 1))
            send(pl[5:6])
        sid = env.session_of(IDA)
        n = len(expected)
        smp = env.wait(lambda: (lambda s: s if s is not None and len(s) >= n else None)(
            env.samples(sid)), 10, "%d samples stored" % n)
        got = [(x["bpm"], x["rr_ms"]) for x in smp]
        env_check(len(got) == n, "%d samples for %d notifications delivered" % (len(got), n))
        bad = [(k, g, e) for k, (g, e) in enumerate(zip(got, expected))
               if g[0] != e[0] or len(g[1] or []) != 1 or abs(g[1][0] - e[1]) > 1e-6]
        env_check(not bad, "samples differ from what was sent: %s" % bad[:5])
        st = env.strap(A)
        env_check(st["sent"]["fd"] == n and st["sent"]["signal"] == 0,
                  "fake counted %s, test %d" % (st["sent"], n))
        env_check(env.device(IDA)["session_id"] == sid, "the same session")
        one_session(env, IDA, sid)
        d = env.device(IDA)
        env_check(d["reconnect_count"] == cycles, "reconnect_count %s" % d["reconnect_count"])
        print("ble: %d cycles, %d notifications delivered and stored, %d sent while down, "
              "%.1f s" % (cycles, n, n_none, time.monotonic() - t0))
        ok = True
    except (Failure, test_ble.Failure) as e:
        print("FAIL ble: %s" % e, file=sys.stderr)
    except Exception:
        print("FAIL ble: exception", file=sys.stderr)
        traceback.print_exc()
    return env.close(ok)


def run_ant(cardiod, cycles):
    import test_ant
    from fake_ant import Strap
    env = test_ant.Env(cardiod, args=["--stale-after", "0.5", "--idle-timeout", "600"])
    ok = False
    t0 = time.monotonic()
    try:
        s = Strap(24680, rr_ms=[812, 845, 790, 830, 870, 805, 780, 826])
        did = test_ant.did(s)
        env.stick.add_strap(s)
        env.start()
        sid = env.session_of(did)
        # §4.3: bytes 0-3 (page 4's previous event time, which recovers the RR
        # of a missed beat) count only once the toggle bit showed the strap
        # is paged, after 8 messages or more; fake_ant's expected RR assume it.
        env.wait(lambda: env.device(did)["ant"]["pages"] == "paged", 15, "strap known as paged")
        for i in range(cycles):
            n = len(s.sent)
            env.wait(lambda: len(s.sent) >= n + 3, 5, "cycle %d: broadcasts heard" % i)
            s.in_range = False
            env.wait(lambda: env.device(did)["connected"] is False, 5, "cycle %d: lost" % i)
            s.in_range = True
            env.wait(lambda: env.device(did)["connected"] is True, 5, "cycle %d: back" % i)
        env.wait(lambda: env.device(did)["reconnect_count"] == cycles, 5,
                 "reconnect_count %d" % cycles)
        env_check(env.device(did)["session_id"] == sid, "the same session")
        smp = test_ant.settle(env, [s], {s: sid})[s]
        try:
            test_ant.check_strap(env, s, smp, did)
        except test_ant.Failure as e:
            raise Failure(str(e))
        one_session(env, did, sid)
        missed = env.device(did)["ant"]["missed_messages"]
        print("ant: %d cycles, %d broadcasts heard and stored, %d missed while out of range, "
              "%.1f s" % (cycles, len(s.sent), missed, time.monotonic() - t0))
        ok = True
    except (Failure, test_ant.Failure) as e:
        print("FAIL ant: %s" % e, file=sys.stderr)
    except Exception:
        print("FAIL ant: exception", file=sys.stderr)
        traceback.print_exc()
    return env.close(ok)


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in ("ble", "ant"):
        print(__doc__, file=sys.stderr)
        return 2
    cycles = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    if sys.argv[2] == "ble":
        ok = run_ble(sys.argv[1], cycles)
    else:
        ok = run_ant(sys.argv[1], cycles)
    print("%s %s (%d cycles)" % ("PASS" if ok else "FAIL", sys.argv[2], cycles))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
