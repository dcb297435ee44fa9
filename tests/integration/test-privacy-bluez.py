#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""No heart rate broadcast on the bus by BlueZ while cardiod uses AcquireNotify
(issue 8, privacy; issue 4: "no broadcast of health data on the system bus").

Usage: test-privacy-bluez.py CARDIOD

BlueZ delivers notifications of a characteristic in one of two ways: with
StartNotify it sets the characteristic's Value property and emits
PropertiesChanged(Value), a signal without a destination that every
connection on the system bus may receive (and any monitor sees); with
AcquireNotify it writes them to the fd it handed out and emits nothing.
fake_bluez.py behaves the same way.  A bus monitor (dbus-monitor, i.e.
BecomeMonitor) records every message on the private bus while cardiod
receives heart rates:

  acquire:  AcquireNotify in use.  No signal carries the Value of a 0x2A37
            characteristic (its paths are taken from the InterfacesAdded
            signals the monitor saw), and no signal carries the payloads.
  control:  AcquireNotify refused (StartNotify fallback, the same payloads):
            the monitor does see PropertiesChanged(Value) with them, so the
            first check can fail.

cardiod runs with --bus none here, so it offers no service of its own on
this bus: the monitor sees no org.cardiod.Cardiod1 name or signal.  (On a
bus, its HeartRate signal is broadcast by design, DESIGN §5: anyone may
receive it.  The privacy point here is BlueZ's broadcast of the raw
measurement.)  Exit 77 when dbus-daemon, dbus-monitor or python3-dbus is
missing.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

if not shutil.which("dbus-monitor"):
    print("SKIP: dbus-monitor is not installed", file=sys.stderr)
    sys.exit(77)

import test_ble  # noqa: E402  (exits 77 without python3-dbus or dbus-daemon)
from test_ble import A, IDA, Env, Failure, check  # noqa: E402

UUID_HRM = "00002a37-0000-1000-8000-00805f9b34fb"

# Heart Rate Measurements: 8-bit rates with RR, one with energy expended.
PAYLOADS = ["16 48 54 01 EC 02", "10 49 00 04", "1E 55 32 00 21 00", "16 4B 13 03", "06 5A"]


class Monitor:
    """dbus-monitor on the private bus, its text output in a file."""

    def __init__(self, env):
        self.path = os.path.join(env.tmp, "monitor.txt")
        self.out = open(self.path, "w")
        self.proc = subprocess.Popen(["dbus-monitor", "--address", env.address, "--monitor"],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        env.procs.append(self.proc)
        # Ready once it records traffic: poll the fake until our own call shows up.
        end = time.monotonic() + 10
        while "member=State" not in self.text():
            check(self.proc.poll() is None, "dbus-monitor runs (%s)" % self.text()[-500:])
            check(time.monotonic() < end, "dbus-monitor records the bus")
            env.ctl.State()
            time.sleep(0.1)

    def text(self):
        self.out.flush()
        with open(self.path) as f:
            return f.read()

    def messages(self):
        """[(header line, body text)] of every message recorded."""
        out = []
        for block in re.split(r"\n(?=\S)", self.text()):
            head, _, body = block.partition("\n")
            out.append((head, body))
        return out

    def signals(self):
        return [(h, b) for h, b in self.messages() if h.startswith("signal ")]


def hex_bytes(body):
    """Every byte of every 'array of bytes' in a dbus-monitor body, as one hex string."""
    return " ".join(" ".join(m.group(1).split()) for m in
                    re.finditer(r"array of bytes(?: \"[^\"]*\")? \[([0-9a-f\s]*)\]", body))


def field(head, name):
    m = re.search(r"\b%s=([^;\s]+)" % name, head)
    return m.group(1) if m else None


def analyse(mon):
    """(HRM characteristic paths, Value signals on them, signals carrying a payload)."""
    sigs = mon.signals()
    hrm_paths = set()
    for h, b in sigs:
        if field(h, "member") == "InterfacesAdded" and '"org.bluez.GattCharacteristic1"' in b \
                and '"%s"' % UUID_HRM in b:
            m = re.search(r'object path "([^"]+)"', b)
            if m:
                hrm_paths.add(m.group(1))
    values = [(h, b) for h, b in sigs if field(h, "path") in hrm_paths and
              field(h, "member") == "PropertiesChanged" and 'string "Value"' in b]
    carrying = []
    for h, b in sigs:
        blob = " ".join(hex_bytes(b).split())
        if any(" ".join(p.lower().split()) in blob for p in PAYLOADS):
            carrying.append((h, b))
    return hrm_paths, values, carrying


def received(env, n):
    sid = env.session_of(IDA)
    smp = env.wait(lambda: (lambda s: s if s and len(s) >= n else None)(env.samples(sid)), 5,
                   "%d heart rates reached cardiod" % n)
    return [s["bpm"] for s in smp]


def t_acquire(env):
    env.add(A, "Polar H10")
    mon = Monitor(env)
    env.start()
    check("--bus" in env.cardiod.args and env.cardiod.args[env.cardiod.args.index("--bus") + 1]
          == "none", "cardiod's own D-Bus service is off (--bus none)")
    env.connected(A, IDA)
    check(env.strap(A)["acquired"] and env.strap(A)["sessions"] == 0, "AcquireNotify in use")
    for p in PAYLOADS:
        check(env.notify(A, p) == ["fd"], "sent on the AcquireNotify socket")
        time.sleep(0.05)
    bpm = received(env, len(PAYLOADS))
    check(bpm == [0x48, 0x49, 0x55, 0x4B, 0x5A], "cardiod got the heart rates: %s" % bpm)
    # A reconnect (new characteristic paths, AcquireNotify again) and more.
    env.ctl.Drop(A)
    env.wait(lambda: env.device(IDA)["reconnect_count"] == 1, 10, "reconnected")
    env.connected(A, IDA)
    for p in PAYLOADS:
        check(env.notify(A, p) == ["fd"], "sent on the new socket")
    received(env, 2 * len(PAYLOADS))
    time.sleep(0.3)
    paths, values, carrying = analyse(mon)
    check(len(paths) == 2, "the monitor saw both 0x2A37 characteristics: %s" % sorted(paths))
    check(not values, "no PropertiesChanged(Value) of 0x2A37 on the bus: %s" %
          [h for h, _ in values][:3])
    check(not carrying, "no signal carries a heart-rate measurement: %s" %
          [h for h, _ in carrying][:3])
    text = mon.text()
    check("org.cardiod.Cardiod1" not in text, "cardiod offers nothing on this bus")
    calls = [h for h, _ in mon.messages() if field(h, "member") == "AcquireNotify"]
    check(len(calls) == 2, "the monitor saw cardiod's AcquireNotify calls: %d" % len(calls))
    print("acquire: %d signals recorded, %d 0x2A37 paths, 0 carrying a heart rate" %
          (len(mon.signals()), len(paths)))


def t_control(env):
    env.add(A, "TICKR", refuse_acquire=True)
    mon = Monitor(env)
    env.start()
    env.connected(A, IDA)
    check(env.strap(A)["sessions"] == 1 and not env.strap(A)["acquired"], "StartNotify fallback")
    for p in PAYLOADS:
        check(env.notify(A, p) == ["signal"], "sent as PropertiesChanged(Value)")
        time.sleep(0.05)
    received(env, len(PAYLOADS))
    time.sleep(0.3)
    paths, values, carrying = analyse(mon)
    check(len(values) == len(PAYLOADS), "the monitor saw every Value signal: %d of %d" %
          (len(values), len(PAYLOADS)))
    check(len(carrying) == len(PAYLOADS), "and their payloads: %d" % len(carrying))
    dest = [field(h, "destination") for h, _ in values]
    check(all(d == "(null" for d in dest), "broadcast (no destination): %s" % dest)
    print("control: %d Value signals with heart rates seen by the monitor" % len(values))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    failed = 0
    for name, fn in (("acquire", t_acquire), ("control", t_control)):
        t0 = time.monotonic()
        env = None
        ok = False
        try:
            env = Env(sys.argv[1])
            fn(env)
            ok = True
        except Failure as e:
            print("FAIL %s: %s" % (name, e), file=sys.stderr)
        except Exception:
            print("FAIL %s: exception" % name, file=sys.stderr)
            traceback.print_exc()
        if env is not None:
            ok = env.close(ok)
            if not ok and os.path.exists(os.path.join(env.tmp, "monitor.txt")):
                with open(os.path.join(env.tmp, "monitor.txt")) as f:
                    print("---- monitor.txt ----\n%s" % f.read()[-4000:], file=sys.stderr)
        print("%s %s (%.1f s)" % ("PASS" if ok else "FAIL", name, time.monotonic() - t0))
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
