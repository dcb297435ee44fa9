#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The database's full integrity check after READY (issue 11).

Usage: test-store-check.py CARDIOD

With [storage] startup_check_max_mb = 0 the check of an existing database always
runs in the background (a separate process, cardiod --integrity-check):
  healthy  cardiod is ready first, then logs that the file passed; /healthz ok.
  corrupt  a page of another table overwritten: cardiod still starts and
           answers, then says degraded with the reason, and writes nothing
           more to the file while samples keep arriving (--simulate).
The default (files up to 64 MiB checked before READY) still refuses a corrupt file before
READY, untouched: test-daemon.py and test-faults.py check that.
"""

import hashlib
import os
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, wait_for  # noqa: E402

CARDIOD = sys.argv[1]
t = Checker("test-store-check")
tmp = tempfile.mkdtemp(prefix="cardiod-store-check-")
conf = os.path.join(tmp, "background.conf")
with open(conf, "w") as f:
    f.write("[storage]\nstartup_check_max_mb = 0\n")


def files_hash(db):
    h = hashlib.sha256()
    for p in (db, db + "-wal"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def make_db(name):
    """A database cardiod made, with one session, plus a big unrelated table."""
    db = os.path.join(tmp, name)
    d = Daemon(CARDIOD, ["--config", conf, "--db", db, "--simulate", "--sim-rate", "50",
                         "--commit-interval", "0.2"], tmp)
    t.check(d.wait_ready(), "%s: first start" % name)
    wait_for(lambda: (d.get_json("/session")[1] or {}).get("samples", 0) > 100, 20)
    t.check(d.stop() == 0, "%s: clean stop" % name)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE filler (x TEXT)")
    con.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(2000)])
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return db


def ready_before(log, later):
    r = log.find("Ready: HTTP on")
    return r >= 0 and log.find(later) > r


# Healthy: checked in the background, after READY.
db = make_db("healthy.db")
d = Daemon(CARDIOD, ["--config", conf, "--db", db], tmp)
t.check(d.wait_ready(), "healthy: ready")
t.check(wait_for(lambda: "passed its integrity check" in d.read_log(), 20),
        "healthy: the background check passed")
log = d.read_log()
t.check("integrity check runs in the background" in log, "healthy: said the check runs in the background")
t.check(ready_before(log, "passed its integrity check"), "healthy: READY came before the verdict")
status, h = d.get_json("/healthz")
t.check(status == 200 and h and h.get("status") == "ok", "healthy: /healthz ok: %s" % h)
t.check(d.stop() == 0, "healthy: clean stop")

# Corrupt: a page of the filler table overwritten; the start is not held up.
db = make_db("corrupt.db")
con = sqlite3.connect(db)
page = con.execute("PRAGMA page_size").fetchone()[0]
root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'filler'").fetchone()[0]
n_pages = con.execute("PRAGMA page_count").fetchone()[0]
con.close()
with open(db, "r+b") as f:
    f.seek(page * (root + (n_pages - root) // 2))
    f.write(b"\xa5" * page)
d = Daemon(CARDIOD, ["--config", conf, "--db", db, "--simulate", "--commit-interval", "0.2"],
           tmp)
t.check(d.wait_ready(), "corrupt: ready (the check does not hold up the start)")
deg = wait_for(lambda: (lambda h: h if h and h.get("status") == "degraded" else None)(
    d.get_json("/healthz")[1]), 20)
t.check(deg and "integrity" in (deg.get("reason") or "") or
        (deg and "integrity" in str(deg)), "corrupt: /healthz degraded with the reason: %s" % deg)
log = d.read_log()
t.check("fails its integrity check" in log and ready_before(log, "fails its integrity check"),
        "corrupt: the failure logged after READY")
# Nothing more is written to the file while samples arrive.
live = wait_for(lambda: (lambda x: x if x and x.get("state") == "active" else None)(
    d.get_json("/session")[1]), 20)
t.check(live, "corrupt: a live session")
h0 = files_hash(db)
n0 = (live or {}).get("samples", 0)
t.check(wait_for(lambda: (d.get_json("/session")[1] or {}).get("samples", 0) >= n0 + 3, 10),
        "corrupt: samples keep arriving")
time.sleep(1)
t.check(files_hash(db) == h0, "corrupt: no write to the file after the failed check")
status, _ = d.request("GET", "/sessions")
t.check(status == 200, "corrupt: the API answers (%s)" % status)
t.check(d.stop() is not None, "corrupt: stops")

t.finish()
