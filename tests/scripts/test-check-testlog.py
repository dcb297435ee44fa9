#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""scripts/check-testlog, the skip rule of scripts/test, on made-up meson logs:
an unlisted skip fails, a listed one counts as skipped only where its
condition holds, and a malformed allow-list line is refused.

Usage: test-check-testlog.py SCRIPTS/CHECK-TESTLOG TESTS/ALLOWED-SKIPS
"""
import json
import os
import subprocess
import sys
import tempfile

CHECK, ALLOWED = sys.argv[1], sys.argv[2]
failed = 0


def check(cond, what):
    global failed
    if not cond:
        failed += 1
        print("FAIL: " + what, file=sys.stderr)


def run(log, allowed, env=None):
    with tempfile.TemporaryDirectory(prefix="cardiod-testlog-") as tmp:
        lp, ap = os.path.join(tmp, "testlog.json"), os.path.join(tmp, "allowed")
        with open(lp, "w") as f:
            for name, result in log:
                f.write(json.dumps({"name": "cardiod:s / " + name, "result": result}) + "\n")
        with open(ap, "w") as f:
            f.write(allowed)
        e = dict(os.environ)
        e.pop("CARDIOD_DEMO", None)
        e.update(env or {})
        p = subprocess.run(["/usr/bin/python3", CHECK, lp, ap, "t"], capture_output=True,
                           text=True, env=e)
        return p.returncode, p.stdout.split(), p.stderr


root = os.geteuid() == 0
log = [("a", "OK"), ("b", "EXPECTEDFAIL"), ("c", "FAIL"), ("d", "TIMEOUT"), ("e", "ERROR"),
       ("f", "UNEXPECTEDPASS")]
rc, out, _ = run(log, "")
check(rc == 0 and out == ["2", "4", "0"], "results counted: %r" % out)

rc, out, err = run([("a", "OK"), ("vm", "SKIP")], "")
check(out == ["1", "1", "0"] and "vm SKIPPED" in err, "an unlisted skip fails: %r %r" % (out, err))

rc, out, _ = run([("vm", "SKIP")], "vm always — reason\n")
check(out == ["0", "0", "1"], "an 'always' skip is skipped: %r" % out)

rc, out, _ = run([("vm", "SKIP")], "# comment\n\nvm nonroot — needs root\n")
check(out == (["0", "1", "0"] if root else ["0", "0", "1"]), "nonroot as uid %d: %r"
      % (os.geteuid(), out))

rc, out, _ = run([("ble-x", "SKIP"), ("ant-y", "SKIP")], "ble-* always - wildcard\n")
check(out == ["0", "1", "1"], "wildcards match the test name only: %r" % out)

rc, out, _ = run([("vm", "SKIP")], "vm nonroot|CARDIOD_DEMO=0 — opt out\n", {"CARDIOD_DEMO": "0"})
check(out == ["0", "0", "1"], "VAR=VALUE holds: %r" % out)
rc, out, _ = run([("vm", "SKIP")], "vm CARDIOD_DEMO=0 — opt out\n", {"CARDIOD_DEMO": "1"})
check(out == ["0", "1", "0"], "VAR=VALUE does not hold: %r" % out)

for bad in ("vm\n", "vm sometimes — why\n", "vm nonroot\n", "vm nonroot because\n"):
    rc, out, err = run([("vm", "SKIP")], bad)
    check(rc != 0 and "expected" in err, "malformed line %r refused: %r" % (bad, err))

rc, out, err = run([("bluez-vm", "SKIP")], open(ALLOWED).read())
check(rc == 0, "tests/allowed-skips parses: %r" % err)

print("test-check-testlog: %d failed" % failed)
sys.exit(1 if failed else 0)
