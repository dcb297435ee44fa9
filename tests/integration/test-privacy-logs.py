#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Privacy (issue 8, ECOSYSTEM §3.2.7): no heart rate in cardiod's log
lines at info level or above.  A replay whose only heart rates are 137,
173 and 191 bpm (numbers nothing else in the log is likely to print: the
sample count is 600, ports have five digits) runs to its end and is read
back over HTTP; then stderr must not contain any of them as a number.
STATUS= is checked by test-systemd.py (notify).

Usage: test-privacy-logs.py CARDIOD
"""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, wait_for  # noqa: E402

CARDIOD = sys.argv[1]
BPMS = (137, 173, 191)
t = Checker("test-privacy-logs")
tmp = tempfile.mkdtemp(prefix="cardiod-privacy-")
conf = os.path.join(tmp, "empty.conf")
open(conf, "w").close()
csv = os.path.join(tmp, "ride.csv")
with open(csv, "w") as f:
    f.write("t_s,bpm,rr_ms,contact\n")
    for i in range(600):
        b = BPMS[i % 3]
        f.write("%d,%d,%d,1\n" % (i, b, round(60000 / b)))

for speed in ("0", "200"):
    d = Daemon(CARDIOD, ["--config", conf, "--db", os.path.join(tmp, "p%s.db" % speed),
                         "--replay", csv, "--speed", speed, "--hr-max", "195"], tmp)
    t.check(d.wait_ready(), "ready (speed %s)" % speed)
    ended = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1] and
                              r[1].get("state") == "ended" else None)(d.get_json("/session")),
                     timeout=30)
    t.check(ended is not None and ended.get("samples") == 600,
            "replay ended with 600 samples: %r" % (ended.get("samples") if ended else None))
    if ended:
        t.check(ended["heart_rate"]["max"] == 191, "the API does carry the rate: %r" %
                ended["heart_rate"])
        d.get_json("/sessions/%d/samples" % ended["id"])
    d.request("GET", "/devices")
    rc = d.stop()
    t.check(rc == 0, "clean exit: %r" % rc)
    log = d.read_log()
    t.check("info:" in log, "the log has info lines")
    leaks = [line for line in log.splitlines()
             if set(int(n) for n in re.findall(r"(?<![\d.])\d+(?![\d.])", line)) & set(BPMS)]
    t.check(not leaks, "no heart rate in the log at info level (speed %s): %r" % (speed, leaks[:5]))
    t.check(not re.search(r"\bbpm\b|heart rate \d", log, re.I),
            "no 'bpm' figures in the log: %r" % re.findall(r".*bpm.*", log, re.I)[:3])
t.finish()
