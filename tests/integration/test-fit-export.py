#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""GET /sessions/{id}/export?format=fit|tcx|csv and cardioctl export.

Two sessions replayed into a database (1 Hz through every zone with a
dropout and a 90 s gap; 4 Hz from bigsession) are exported by a fresh
cardiod.  Each FIT is read by Garmin's own decoder (@garmin/fitsdk from
npm) with checkIntegrity() and no error, and matches the session object:
records per second with the right heart rates, avg/max, timer time, time
in zones with the zone bounds.  FIT and TCX import back (lib/fit, lib/tcx
through fit-tool) to the session's zone times within 1 s per zone.  The
answers carry their Content-Type, Content-Disposition and, for FIT, an
exact Content-Length; csv is the samples CSV; cardioctl export -o writes
the same bytes; a bad format is a 400 and an unknown session a 404.

Usage: test-fit-export.py CARDIOD CARDIOCTL FIT_TOOL NPM_DIR
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker  # noqa: E402
import bigsession  # noqa: E402
import fitsdk  # noqa: E402

CARDIOD, CARDIOCTL, FIT_TOOL, NPM_DIR = sys.argv[1:5]
FIT_EPOCH = 631065600
TCX_NS = "{http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2}"
ck = Checker("fit-export")

try:
    fitsdk.setup(NPM_DIR)
except fitsdk.Unavailable as e:
    print("SKIP: %s" % e)
    sys.exit(77)


def write_1hz(path):
    with open(path, "w") as f:
        f.write("t_s,bpm,rr_ms,contact\n")
        for i in range(1500):
            if 700 <= i < 790:
                continue
            bpm = round(60 + 125 * math.sin(math.pi * i / 1500) ** 2)
            contact = 0 if 300 <= i < 306 else 1
            f.write("%d,%d,%d,%d\n" % (i, bpm, 60000 // bpm, contact))
    return path


def csv_rows(path):
    out = []
    with open(path) as f:
        next(f)
        for line in f:
            t, bpm, rr, contact = line.rstrip("\n").split(",")
            out.append((float(t), float(bpm), [float(x) for x in rr.split()],
                        None if contact == "" else int(contact)))
    return out


def in_zone(bpm, bounds):
    r = math.floor(bpm + 0.5)
    for b in bounds:
        if bpm < b <= r:
            r -= 1
        elif r < b <= bpm:
            r += 1
    return r


def seconds_of(rows, bounds):
    out = []
    for t, bpm, rr, contact in rows:
        sec = int(math.floor(t))
        if not out or out[-1][0] != sec:
            out.append([sec, None, []])
        if not (30 <= bpm <= 240 and contact != 0):
            continue
        if out[-1][1] is None:
            out[-1][1] = set()
        out[-1][1].add(in_zone(bpm, bounds))
        out[-1][2].extend(int(math.floor(v + 0.5)) for v in rr)
    return out


def hr_ok(got, candidates):
    """A second's heart rate: one of its valid samples (rounded within its zone), or none."""
    return got is None if candidates is None else got in candidates


def unix_of(iso):
    import datetime
    return datetime.datetime.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def import_zones(fmt, path, session):
    bounds = [z["lo_bpm"] for z in session["zones"][1:]]
    p = subprocess.run([FIT_TOOL, "import", fmt, path, "--bounds",
                        ",".join("%.6f" % b for b in bounds),
                        "--hr-max", str(session["profile"]["hr_max"])],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)["sessions"]


def check_session(x, s, rows, tmp, name):
    sid = s["id"]
    zones = [z["s"] for z in s["zones"]]
    bounds = [z["lo_bpm"] for z in s["zones"][1:]]
    seconds = seconds_of(rows, bounds)
    start = int(unix_of(s["started_at"]))

    # FIT, judged by Garmin.
    st, body, hdr = get(x, "/sessions/%d/export?format=fit" % sid)
    ck.check(st == 200, "%s: FIT answered 200: %d %r" % (name, st, body[:200]))
    ck.check(hdr.get("content-type") == "application/vnd.ant.fit", "%s: FIT Content-Type %s"
             % (name, hdr.get("content-type")))
    ck.check(hdr.get("content-disposition") ==
             'attachment; filename="cardiod-session-%d.fit"' % sid,
             "%s: Content-Disposition %s" % (name, hdr.get("content-disposition")))
    ck.check(hdr.get("content-length") == str(len(body)), "%s: exact Content-Length" % name)
    fit = os.path.join(tmp, "%s.fit" % name)
    open(fit, "wb").write(body)
    j = fitsdk.judge(NPM_DIR, fit)
    ck.check(j["integrity"] and j["errors"] == [], "%s: Garmin reads the FIT: %s"
             % (name, j["errors"]))
    recs = j["records"]
    ck.check(len(recs) == len(seconds), "%s: %d records for %d seconds" % (name, len(recs), len(seconds)))
    bad = [(r, q) for r, q in zip(recs, seconds)
           if r[0] != start - FIT_EPOCH + q[0] or not hr_ok(r[1], q[1])]
    ck.check(not bad, "%s: records: %s" % (name, bad[:3]))
    hrv = [round(v * 1000) for h in j["hrv"] for v in h if v is not None]
    want = [v for q in seconds for v in q[2][:16]]
    ck.check(hrv == want, "%s: hrv: %d vs %d RR" % (name, len(hrv), len(want)))
    if j["sessions"]:
        fs = j["sessions"][0]
        ck.check(fs["startTime"] == start - FIT_EPOCH, "%s: start_time" % name)
        ck.check(fs["avgHeartRate"] == math.floor(s["heart_rate"]["avg"] + 0.5) and
                 fs["maxHeartRate"] == math.floor(s["heart_rate"]["max"] + 0.5),
                 "%s: avg/max %s/%s vs %s" % (name, fs["avgHeartRate"], fs["maxHeartRate"],
                                             s["heart_rate"]))
        ck.check(abs(fs["totalTimerTime"] - s["active_s"]) < 0.002, "%s: timer time" % name)
        ck.check(all(abs(a - b) < 0.002 for a, b in zip(fs["timeInHrZone"], zones)),
                 "%s: time_in_hr_zone %s vs %s" % (name, fs["timeInHrZone"], zones))
        tz = j["timeInZone"]
        ck.check(tz and tz[0]["hrZoneHighBoundary"] == [math.floor(b + 0.5) for b in bounds],
                 "%s: zone bounds in time_in_zone" % name)
    else:
        ck.check(False, "%s: a session message" % name)
    back = import_zones("fit", fit, s)
    ck.check(back is not None and len(back) == 1 and
             max(abs(a - b) for a, b in zip(back[0]["zone_s"], zones)) <= 1.0,
             "%s: FIT round trip zones %s vs %s" % (name, back and back[0]["zone_s"], zones))

    # TCX.
    st, body, hdr = get(x, "/sessions/%d/export?format=tcx" % sid)
    ck.check(st == 200 and hdr.get("content-type") == "application/vnd.garmin.tcx+xml",
             "%s: TCX 200 with its Content-Type" % name)
    tcx = os.path.join(tmp, "%s.tcx" % name)
    open(tcx, "wb").write(body)
    try:
        root = ET.fromstring(body)
        tps = root.findall(".//" + TCX_NS + "Trackpoint")
        lap = root.find(".//" + TCX_NS + "Lap")
        hr = [None if tp.find(TCX_NS + "HeartRateBpm") is None else
              int(tp.find(TCX_NS + "HeartRateBpm/" + TCX_NS + "Value").text) for tp in tps]
        ck.check(len(hr) == len(seconds) and all(hr_ok(a, q[1]) for a, q in zip(hr, seconds)),
                 "%s: TCX trackpoint heart rates" % name)
        ck.check(lap.find(TCX_NS + "DistanceMeters").text == "0" and
                 lap.find(TCX_NS + "Calories") is not None and
                 lap.find(TCX_NS + "TriggerMethod") is not None, "%s: TCX Lap fields" % name)
    except ET.ParseError as e:
        ck.check(False, "%s: TCX parses: %s" % (name, e))
    back = import_zones("tcx", tcx, s)
    ck.check(back is not None and len(back) == 1 and
             max(abs(a - b) for a, b in zip(back[0]["zone_s"], zones)) <= 1.0,
             "%s: TCX round trip zones %s vs %s" % (name, back and back[0]["zone_s"], zones))

    # csv is the samples CSV; cardioctl writes the same bytes.
    st, body, hdr = get(x, "/sessions/%d/export?format=csv" % sid)
    st2, body2, _ = get(x, "/sessions/%d/samples?format=csv" % sid)
    ck.check(st == 200 and body == body2 and hdr.get("content-type", "").startswith("text/csv"),
             "%s: format=csv is the samples CSV" % name)
    out = os.path.join(tmp, "%s-cli.fit" % name)
    p = subprocess.run([CARDIOCTL, "export", str(sid), "--format", "fit", "-o", out,
                        "--url", "http://127.0.0.1:%d" % x.d.port],
                       capture_output=True, timeout=60)
    ck.check(p.returncode == 0 and open(out, "rb").read() == open(fit, "rb").read(),
             "%s: cardioctl export --format fit -o FILE: %r" % (name, p.stderr))
    p = subprocess.run([CARDIOCTL, "export", str(sid), "--format", "tcx",
                        "--url", "http://127.0.0.1:%d" % x.d.port],
                       capture_output=True, timeout=60)
    ck.check(p.returncode == 0 and p.stdout == open(tcx, "rb").read(),
             "%s: cardioctl export --format tcx" % name)


def get(x, path):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", x.d.port, timeout=60)
    c.request("GET", path, headers={"Host": "localhost:%d" % x.d.port})
    r = c.getresponse()
    body = r.read()
    hdr = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, body, hdr


with tempfile.TemporaryDirectory(prefix="cardiod-fit-export-") as tmp:
    sessions = []
    for name, src in (("1hz", write_1hz(os.path.join(tmp, "1hz.csv"))),
                      ("4hz", bigsession.write_csv(os.path.join(tmp, "4hz.csv"), 12000))):
        db = os.path.join(tmp, name + ".db")
        s = bigsession.record(CARDIOD, src, db, tmp)
        if not ck.check(s is not None, "%s: replayed" % name):
            continue
        x = bigsession.Export(CARDIOD, db, tmp)
        if not ck.check(x.ok, "%s: cardiod on the database" % name):
            continue
        check_session(x, s, csv_rows(src), tmp, name)
        st, _, _ = get(x, "/sessions/%d/export?format=gpx" % s["id"])
        ck.check(st == 400, "format=gpx is a 400: %d" % st)
        st, _, _ = get(x, "/sessions/%d/export?format=fit" % (s["id"] + 1))
        ck.check(st == 404, "an unknown session is a 404: %d" % st)
        ck.check(x.stop() == 0, "%s: clean exit" % name)

ck.finish()
