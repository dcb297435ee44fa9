#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""FIT and TCX through the daemon both ways (DESIGN §9.5, issue 16 item 4).

A session replayed into cardiod is exported as FIT and as TCX, and each
file is posted back to POST /sessions/import (Content-Type
application/vnd.ant.fit, application/vnd.garmin.tcx+xml) on a second
cardiod with the same profile: the imported session has the same start
and the same time in every zone within 1 s.  A real Garmin multisport
recording (npm, see fitsdk.py) gives one session per FIT session, and a
truncated FIT is a 400 with a message.

Every POST goes through post() (one place to add the Authorization
header once POST needs a token).

Usage: test-fit-import.py CARDIOD NPM_DIR
"""

import http.client
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, auth_headers  # noqa: E402
import bigsession  # noqa: E402
import fitsdk  # noqa: E402

CARDIOD, NPM_DIR = sys.argv[1:3]
ck = Checker("fit-import")

try:
    FIXTURES = fitsdk.setup(NPM_DIR)
except fitsdk.Unavailable as e:
    print("SKIP: %s" % e)
    sys.exit(77)


def request(d, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=120)
    h = {"Host": "localhost:%d" % d.port}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def post(d, path, body, content_type):
    """Every POST of this test, with the daemon's bearer token (DESIGN §9.7)."""
    return request(d, "POST", path, body, auth_headers(d, {"Content-Type": content_type}))


def write_csv(path):
    with open(path, "w") as f:
        f.write("t_s,bpm,rr_ms,contact\n")
        for k in range(4 * 1200):
            t = k / 4
            bpm = 95 + 80 * math.sin(math.pi * t / 1200) ** 2 + 3 * math.sin(t)
            f.write("%.2f,%.1f,%d,1\n" % (t, bpm, round(60000 / bpm)))
    return path


with tempfile.TemporaryDirectory(prefix="cardiod-fit-import-") as tmp:
    src = write_csv(os.path.join(tmp, "s.csv"))
    s = bigsession.record(CARDIOD, src, os.path.join(tmp, "a.db"), tmp)
    ck.check(s is not None, "replayed")
    x = bigsession.Export(CARDIOD, os.path.join(tmp, "a.db"), tmp)
    files = {}
    for fmt in ("fit", "tcx"):
        st, body = request(x.d, "GET", "/sessions/%d/export?format=%s" % (s["id"], fmt))
        ck.check(st == 200, "export %s: %d" % (fmt, st))
        files[fmt] = body
    x.stop()

    d = Daemon(CARDIOD, ["--config", os.devnull, "--db", os.path.join(tmp, "b.db"),
                         *bigsession.PROFILE], tmp)
    ck.check(d.wait_ready(timeout=60), "second cardiod")
    types = {"fit": "application/vnd.ant.fit", "tcx": "application/vnd.garmin.tcx+xml"}
    zones = [z["s"] for z in s["zones"]]
    for i, fmt in enumerate(("fit", "tcx")):
        st, body = post(d, "/sessions/import?device=rt-%s" % fmt, files[fmt], types[fmt])
        ok = ck.check(st == 201, "import %s: %d %r" % (fmt, st, body[:300]))
        got = json.loads(body)["sessions"] if ok else []
        ck.check(len(got) == 1, "import %s: one session" % fmt)
        if got:
            z = [q["s"] for q in got[0]["zones"]]
            ck.check(max(abs(a - b) for a, b in zip(z, zones)) <= 1.0,
                     "%s round trip: zones %s vs %s" % (fmt, z, zones))
            ck.check(got[0]["started_at"][:19] == s["started_at"][:19], "%s: start" % fmt)

    kona = open(os.path.join(FIXTURES, fitsdk.KONA), "rb").read()
    st, body = post(d, "/sessions/import?device=watch", kona, types["fit"])
    ok = ck.check(st == 201, "multisport import: %d %r" % (st, body[:300]))
    if ok:
        ck.check(len(json.loads(body)["sessions"]) == 5, "one session per FIT session")
    st, body = post(d, "/sessions/import?device=broken", kona[: len(kona) // 3], types["fit"])
    ck.check(st == 400 and b"FIT: " in body, "a truncated FIT is a 400: %d %r" % (st, body[:200]))
    d.stop()

ck.finish()
