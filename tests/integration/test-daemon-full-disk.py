#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A store on a full filesystem never stops cardiod (issue 3, DESIGN §3):
HTTP keeps answering with live data, /healthz reports "degraded" with a
reason, and once space is back the queued samples are committed.

Mounts a tiny tmpfs; exits 77 (skipped) where mounting is not permitted.
Usage: test-daemon-full-disk.py CARDIOD
"""

import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, wait_for  # noqa: E402

CARDIOD = sys.argv[1]
t = Checker("test-daemon-full-disk")
tmp = tempfile.mkdtemp(prefix="cardiod-full-")
mnt = os.path.join(tmp, "mnt")
os.mkdir(mnt)
p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "cardiod-test", mnt],
                   capture_output=True, text=True)
if p.returncode != 0:
    print("SKIP: cannot mount a tmpfs here (%s); run as root to test a full disk"
          % p.stderr.strip())
    sys.exit(77)

d = None
try:
    conf = os.path.join(tmp, "empty.conf")
    open(conf, "w").close()
    db = os.path.join(mnt, "cardiod.db")
    d = Daemon(CARDIOD, ["--config", conf, "--db", db, "--simulate=4", "--sim-rate", "30",
                         "--commit-interval", "0.2"], tmp)
    t.check(d.wait_ready(), "ready on the tmpfs")
    time.sleep(0.6)
    status, h = d.get_json("/healthz")
    t.check(status == 200 and h["status"] == "ok", "healthz ok before: %r" % h)

    # Fill the disk.
    filler = os.path.join(mnt, "filler")
    subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=4k"], capture_output=True)
    h = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("status") == "degraded"
                          else None)(d.get_json("/healthz")), timeout=15)
    t.check(h is not None, "healthz degraded on a full disk")
    if h:
        t.check("reason" in h and h["reason"], "degraded with a reason: %r" % h)
        t.check(h["store"]["pending_samples"] > 0, "samples kept in memory: %r" % h["store"])
    s1 = d.get_json("/session")
    time.sleep(1.0)
    s2 = d.get_json("/session")
    t.check(s1[0] == 200 and s2[0] == 200, "GET /session answers on a full disk")
    t.check(s2[1]["samples"] > s1[1]["samples"] and s2[1]["heart_rate"]["current"] is not None,
            "live data keeps flowing: %r -> %r" % (s1[1]["samples"], s2[1]["samples"]))
    t.check(d.get_json("/sessions")[0] == 200, "GET /sessions answers on a full disk")
    t.check(d.proc.poll() is None, "daemon still running")

    # Space again: the queue is committed and health recovers.
    os.unlink(filler)
    h = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("status") == "ok"
                          else None)(d.get_json("/healthz")), timeout=90)
    t.check(h is not None, "healthz ok again once space is back")
    rc = d.stop()
    t.check(rc == 0, "clean exit: %r" % rc)
    con = sqlite3.connect(db)
    ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    n = con.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    con.close()
    t.check(ok == "ok", "integrity_check: %r" % ok)
    t.check(n > 0, "samples stored: %d" % n)
finally:
    if d and d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()
    subprocess.run(["umount", mnt], capture_output=True)
t.finish()
