#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""GET /summary and POST /sessions/import (DESIGN §9.4, §9.5) through HTTP.

cardiod runs with TZ=Europe/Berlin.  Sessions are imported as CSV (the
daemon computes them with the device's profile) around the spring DST
change (Sunday 2026-03-29), one starting at 23:50 local on that Sunday,
one at 23:30 local on the Saturday before (22:30 UTC: a fixed +2 h offset
would put it on Sunday), one at 00:25 local on the Monday after.  Then:
  - every period of /summary by week and by day equals the sum of the
    session objects (GET /sessions/{id}) whose start falls in it, the
    local date computed here with Python's zoneinfo;
  - the hand-placed sessions are in the expected periods, an empty week is
    present with zeros, ?profile= filters, goal_met and streak_weeks
    follow [goals] (sessions imported into the weeks before this one);
  - bad parameters are 400 with a JSON error;
  - import round trip: the samples exported as CSV and imported under
    another device give the same figures; an overlap with the same device
    is 409; a malformed CSV is 400 naming its line, and nothing is stored;
    FIT/TCX are 415 for now, other content types 415;
  - the figures survive a restart, and a database from before the figures
    table (schema 1) is upgraded in place with every session kept;
  - an active session counts live.

cardioctl week, report and import against the same daemon.

Usage: test-summary.py CARDIOD CARDIOCTL
"""

import datetime
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, auth_headers, compare, wait_for  # noqa: E402

CARDIOD, CARDIOCTL = sys.argv[1:3]
TZ = "Europe/Berlin"
BERLIN = zoneinfo.ZoneInfo(TZ)
FIELDS = ["active_s", "moderate_s", "vigorous_s", "mvpa_s", "ecb_s", "trimp_edwards"]
MILESTONES = ["mvpa_20", "mvpa_40", "duration_60"]
t = Checker("test-summary")
tmp = tempfile.mkdtemp(prefix="cardiod-summary-")
db = os.path.join(tmp, "c.db")
conf = os.path.join(tmp, "cardiod.conf")
with open(conf, "w") as f:
    f.write("[profile]\nhr_max = 180\nhr_rest = 60\n\n"
            "[profile alice]\nhr_max = 190\ndevices = ant-42\n\n"
            "[goals]\nweekly_intensity_min = 150\nweekly_sessions = 3\n")


def start(*extra):
    d = Daemon(CARDIOD, ["--db", db, "--config", conf, *extra], tmp, env={"TZ": TZ})
    if not d.wait_ready():
        print(d.read_log())
        raise SystemExit("cardiod did not start")
    return d


def post(d, path, body, content_type, chunked=False):
    """Every POST of this test (the place for an Authorization header).
    chunked: send the body with Transfer-Encoding: chunked, 64 KiB a chunk."""
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
    h = auth_headers(d, {"Host": "localhost:%d" % d.port, "Content-Type": content_type})
    if chunked:
        h["Transfer-Encoding"] = "chunked"
        data = body
        body = (data[i:i + 65536] for i in range(0, len(data), 65536))
    c.request("POST", path, body=body, headers=h, encode_chunked=chunked)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, None


def csv_text(parts, rate=1.0):
    """A CSV of consecutive (seconds, bpm) parts at rate Hz."""
    lines = ["t_s,bpm,rr_ms,contact"]
    i = 0
    for seconds, bpm in parts:
        for _ in range(int(seconds * rate)):
            lines.append("%g,%d,%g,1" % (i / rate, bpm, round(60000 / bpm, 1)))
            i += 1
    return "\n".join(lines) + "\n"


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def imp(d, started, csv, device="ble-aa:bb:cc:dd:ee:01", **params):
    q = "started_at=%s&device=%s" % (iso(started), device)
    for k, v in params.items():
        q += "&%s=%s" % (k, v)
    return post(d, "/sessions/import?" + q, csv.encode(), "text/csv")


def all_sessions(d):
    """Every session object (GET /sessions pages, then /sessions/{id})."""
    out, before = [], None
    while True:
        path = "/sessions?limit=1000" + ("&before=" + before if before else "")
        status, j = d.get_json(path)
        if status != 200:
            raise SystemExit("GET /sessions: %d" % status)
        for s in j["sessions"]:
            st, full = d.get_json("/sessions/%d" % s["id"])
            out.append(full)
        before = j["next_before"]
        if not before:
            return out


def local_date(iso_utc):
    dt = datetime.datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    return dt.astimezone(BERLIN).date()


def expected(sessions, start, end, profile=None):
    """Sums of the session objects that started on local days [start, end]."""
    e = {k: 0.0 for k in FIELDS}
    e["sessions"] = 0
    e["milestones"] = {m: 0 for m in MILESTONES}
    for s in sessions:
        if profile and s["profile"]["name"] != profile:
            continue
        if not start <= local_date(s["started_at"]) <= end:
            continue
        e["sessions"] += 1
        e["active_s"] += s["active_s"]
        e["moderate_s"] += s["intensity"]["moderate_s"]
        e["vigorous_s"] += s["intensity"]["vigorous_s"]
        e["mvpa_s"] += s["dose"]["mvpa_s"]
        e["ecb_s"] += s["dose"]["ecb_s"]
        e["trimp_edwards"] += s["load"]["trimp_edwards"]
        for m in MILESTONES:
            e["milestones"][m] += s["dose"]["milestones"][m] is not None
    e["intensity_min"] = (e["moderate_s"] + 2 * e["vigorous_s"]) / 60
    return e


def check_periods(summary, sessions, what, profile=None):
    ok = True
    for p in summary["periods"]:
        a = datetime.date.fromisoformat(p["start"])
        b = datetime.date.fromisoformat(p["end"])
        e = expected(sessions, a, b, profile)
        diffs = compare({k: p[k] for k in e}, e, tol=1e-6, ignored=set())
        ok &= t.check(not diffs, "%s %s..%s equals the sum of its sessions: %s"
                      % (what, p["start"], p["end"], diffs))
    return ok


def period(summary, start):
    for p in summary["periods"]:
        if p["start"] == start:
            return p
    return None


def summary(d, query):
    status, j = d.get_json("/summary?" + query)
    if not t.check(status == 200 and j is not None, "GET /summary?%s: %d %r" % (query, status, j)):
        raise SystemExit(1)
    return j


def local(y, mo, da, h, mi):
    return datetime.datetime(y, mo, da, h, mi, tzinfo=BERLIN)


# ---------------------------------------------------------------- imports

d = start()
VIG30 = csv_text([(1800, 160)])                       # 30 min vigorous
MIXED = csv_text([(600, 120), (900, 160), (300, 95)])  # some of each
SHORT = csv_text([(300, 150)])

placed = {}
for name, when, body in [
        ("sat-late", local(2026, 3, 28, 23, 30), MIXED),    # 22:30 UTC, CET
        ("sun-late", local(2026, 3, 29, 23, 50), VIG30),    # 21:50 UTC, CEST
        ("mon-early", local(2026, 3, 30, 0, 25), SHORT),    # 22:25 UTC Sunday
        ("tue", local(2026, 3, 24, 7, 0), MIXED),
        ("feb", local(2026, 2, 27, 18, 0), SHORT)]:
    status, j = imp(d, when, body)
    t.check(status == 201 and j and len(j["sessions"]) == 1,
            "import %s: 201 with one session (%d %r)" % (name, status, j))
    s = j["sessions"][0]
    placed[name] = s
    t.check(s["state"] == "ended" and s["started_at"] == iso(when).replace("Z", ".000Z"),
            "%s stored ended at its start (%s)" % (name, s["started_at"]))
    t.check(s["device"]["id"] == "ble-aa:bb:cc:dd:ee:01", "%s keeps its device" % name)

# Alice's strap: her profile applies (hr_max 190), and only she is in ?profile=alice.
status, j = imp(d, local(2026, 3, 26, 19, 0), VIG30, device="ant-42", kind="run")
t.check(status == 201, "import for alice: %d %r" % (status, j))
alice = j["sessions"][0]
t.check(alice["profile"]["name"] == "alice" and alice["profile"]["hr_max"] == 190,
        "the device's [profile alice] computed it (%r)" % alice["profile"])
t.check(alice["kind"] == "run", "kind from the query")

# The streak: three vigorous half-hours in each of the two weeks before this
# one, two in the week before those.
today = datetime.datetime.now(BERLIN).date()
monday = today - datetime.timedelta(days=today.weekday())
streak_sessions = []
for weeks_back, n in [(1, 3), (2, 3), (3, 2)]:
    for k in range(n):
        day = monday - datetime.timedelta(weeks=weeks_back) + datetime.timedelta(days=2 * k)
        status, j = imp(d, local(day.year, day.month, day.day, 8, 0), VIG30,
                        device="ble-aa:bb:cc:dd:ee:02")
        t.check(status == 201, "streak import: %d %r" % (status, j))
        streak_sessions.append(j["sessions"][0]["id"])

sessions = all_sessions(d)
t.check(len(sessions) == 6 + 8, "every import is listed in /sessions (%d)" % len(sessions))

# ---------------------------------------------------------------- summaries

w = summary(d, "by=week&from=2026-03-11&to=2026-04-01")
t.check(w["tz"] == TZ, "tz names the zone (%r)" % w["tz"])
t.check(w["by"] == "week" and w["from"] == "2026-03-09" and w["to"] == "2026-04-05",
        "whole ISO weeks, Monday first (%s..%s)" % (w["from"], w["to"]))
t.check([p["start"] for p in w["periods"]] == ["2026-03-09", "2026-03-16", "2026-03-23",
                                               "2026-03-30"], "every week present")
t.check(w["goal"] == {"weekly_intensity_min": 150, "weekly_sessions": 3}, "goals from [goals]")
t.check(w["profile"] is None, "profile null without a filter")
check_periods(w, sessions, "week")
empty = period(w, "2026-03-16")
t.check(empty["sessions"] == 0 and all(empty[k] == 0 for k in FIELDS + ["intensity_min"])
        and empty["milestones"] == {m: 0 for m in MILESTONES} and empty["goal_met"] is False,
        "an empty week is present with zeros (%r)" % empty)
dst = period(w, "2026-03-23")
t.check(dst["sessions"] == 4, "the DST week holds Tuesday, alice, Saturday 23:30 and Sunday 23:50 "
        "(%d)" % dst["sessions"])
t.check(period(w, "2026-03-30")["sessions"] == 1, "Monday 00:25 local is in the next week")
for p in w["periods"]:
    t.check(p["goal_met"] == (p["intensity_min"] >= 150 and p["sessions"] >= 3),
            "goal_met of %s" % p["start"])
t.check(dst["goal_met"] is True, "the DST week met the goal (%g min)" % dst["intensity_min"])

days = summary(d, "by=day&from=2026-03-27&to=2026-03-31")
t.check(len(days["periods"]) == 5, "one period a day")
check_periods(days, sessions, "day")
t.check([p["sessions"] for p in days["periods"]] == [0, 1, 1, 1, 0],
        "27..31 March: Saturday 23:30 on the 28th, Sunday 23:50 on the 29th, Monday "
        "00:25 on the 30th (%r)" % [p["sessions"] for p in days["periods"]])
t.check(all(p["goal_met"] is None for p in days["periods"]), "goal_met null by day")

months = summary(d, "by=month&from=2026-02-01&to=2026-03-31")
check_periods(months, sessions, "month")
t.check([(p["start"], p["end"], p["sessions"]) for p in months["periods"]]
        == [("2026-02-01", "2026-02-28", 1), ("2026-03-01", "2026-03-31", 5)],
        "calendar months (%r)" % months["periods"])

a = summary(d, "from=2026-03-23&to=2026-03-29&profile=alice")
t.check(a["profile"] == "alice" and a["periods"][0]["sessions"] == 1,
        "?profile=alice: her session only")
check_periods(a, sessions, "alice", profile="alice")
nd = summary(d, "from=2026-03-23&to=2026-03-29&profile=default")
t.check(nd["periods"][0]["sessions"] == 3, "?profile=default leaves alice out")
none = summary(d, "from=2026-03-23&to=2026-03-29&profile=nobody")
t.check(none["periods"][0]["sessions"] == 0, "an unknown profile matches nothing")

# Defaults: by week, the last 12 weeks to today; streak over complete weeks.
dflt = summary(d, "")
t.check(dflt["by"] == "week" and len(dflt["periods"]) == 12 and
        dflt["periods"][-1]["start"] == monday.isoformat() and
        dflt["to"] == (monday + datetime.timedelta(days=6)).isoformat(),
        "default: 12 weeks up to this one (%s..%s)" % (dflt["from"], dflt["to"]))
check_periods(dflt, sessions, "default")
t.check(dflt["streak_weeks"] == 2, "streak: the two weeks before this one met the goal, the "
        "third did not (%r)" % dflt["streak_weeks"])

# ---------------------------------------------------------------- 400s

for q in ["by=year", "from=2026-02-30", "from=2026-04-02&to=2026-04-01", "to=26-04-01",
          "by=day&from=1970-01-01&to=2026-01-01", "colour=red", "profile=a%20b",
          "by=week&by=day"]:
    status, j = d.get_json("/summary?" + q)
    t.check(status == 400 and j and "error" in j and j["error"]["message"],
            "GET /summary?%s: 400 with a JSON error (%d %r)" % (q, status, j))

# ---------------------------------------------------------------- import

sun = placed["sun-late"]
status, exported = d.request("GET", "/sessions/%d/samples?format=csv" % sun["id"])
t.check(status == 200 and exported.startswith(b"t_s,bpm,rr_ms,contact"), "export CSV")
when = datetime.datetime.fromisoformat(sun["started_at"].replace("Z", "+00:00"))
status, j = imp(d, when, exported.decode(), device="ble-aa:bb:cc:dd:ee:03")
t.check(status == 201, "re-import under another device: %d %r" % (status, j))
if status == 201:
    again = j["sessions"][0]
    diffs = compare(sun, again)
    t.check(not diffs, "round trip: the same figures (%s)" % diffs)
    t.check(again["started_at"] == sun["started_at"] and again["ended_at"] == sun["ended_at"],
            "round trip: the same times")

status, j = imp(d, when + datetime.timedelta(minutes=10), exported.decode())
t.check(status == 409 and j and j["error"]["code"] == "overlap",
        "an overlap with the same device: 409 (%d %r)" % (status, j))
status, j = imp(d, when - datetime.timedelta(minutes=29), SHORT)
t.check(status == 201, "the same device just before it does not overlap (%d %r)" % (status, j))
# Two hours at 4 Hz (about 0.5 MB), sent in chunks: far above the 4 KiB of other POSTs.
big = csv_text([(3600, 130), (3600, 165)], rate=4)
for chunked in (False, True):
    status, j = post(d, "/sessions/import?started_at=2026-05-%02dT06:00:00Z&device=ble-big"
                     % (10 + chunked), big.encode(), "text/csv", chunked=chunked)
    t.check(status == 201 and j["sessions"][0]["samples"] == 28800,
            "a %d-byte import%s: 201 with every sample (%d)" % (len(big), chunked and
                                                                  " (chunked)" or "", status))
n_before = len(all_sessions(d))
week_before = summary(d, "from=2026-03-23&to=2026-03-29")

bad = csv_text([(10, 150)]).split("\n")
bad[5] = "5,fast,,1"   # line 6 of the file
status, j = imp(d, local(2026, 3, 25, 12, 0), "\n".join(bad))
t.check(status == 400 and j and "line 6" in j["error"]["message"],
        "a malformed CSV: 400 naming the line (%d %r)" % (status, j))
status, j = imp(d, local(2026, 3, 25, 12, 0), "t_s,bpm,rr_ms,contact\n0,0,,1\n1,0,,1\n")
t.check(status == 400, "no valid sample: 400 (%d %r)" % (status, j))
status, j = post(d, "/sessions/import?device=x1", VIG30.encode(), "text/csv")
t.check(status == 400 and "started_at" in j["error"]["message"], "CSV without started_at: 400")
status, j = imp(d, local(2026, 3, 25, 12, 0), VIG30, profile="nobody")
t.check(status == 400, "unknown profile: 400 (%d %r)" % (status, j))
for ct, what in [("application/vnd.ant.fit", "FIT"), ("application/vnd.garmin.tcx+xml", "TCX")]:
    status, j = post(d, "/sessions/import?device=x1", b"\x0e\x20", ct)
    t.check(status == 400 and j["error"]["message"].startswith(what + ":"),
            "%s: a broken file is 400 with the decoder's reason (%d %r)" % (ct, status, j))
for ct in ["text/plain", "application/json"]:
    status, j = post(d, "/sessions/import?started_at=2026-03-25T12:00:00Z", VIG30.encode(), ct)
    t.check(status == 415, "%s: 415 (%d)" % (ct, status))
t.check(len(all_sessions(d)) == n_before, "nothing stored by the refused imports")
t.check(summary(d, "from=2026-03-23&to=2026-03-29") == week_before,
        "the week is as before the refused imports")

# ---------------------------------------------------------------- cardioctl

def cardioctl(*args):
    p = subprocess.run([CARDIOCTL, *args, "--url", "http://127.0.0.1:%d" % d.port],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, CARDIOD_TOKEN_FILE=d.token_file))
    return p.returncode, p.stdout, p.stderr


csv_path = os.path.join(tmp, "jan.csv")
with open(csv_path, "w") as f:
    f.write(VIG30)
rc, out, err = cardioctl("import", csv_path, "--start", "2026-01-15T08:00:00Z",
                         "--device", "ble-aa:bb:cc:dd:ee:09", "--kind", "ride")
t.check(rc == 0 and "Imported session" in out, "cardioctl import: %d %r %r" % (rc, out, err))
jan = summary(d, "by=day&from=2026-01-15&to=2026-01-15")
t.check(jan["periods"][0]["sessions"] == 1, "the imported file is in its day")
rc, out, err = cardioctl("import", csv_path, "--start", "2026-01-15T08:10:00Z",
                         "--device", "ble-aa:bb:cc:dd:ee:09")
t.check(rc == 2 and "overlaps" in err, "cardioctl import of an overlap fails (%d %r)" % (rc, err))
with open(csv_path, "w") as f:
    f.write("t_s,bpm,rr_ms,contact\n0,100,,1\n1,100,,2\n")
rc, out, err = cardioctl("import", csv_path, "--start", "2026-01-20T08:00:00Z")
t.check(rc == 2 and "line 3" in err, "cardioctl import of a bad file names the line (%r)" % err)
rc, out, err = cardioctl("import", csv_path)
t.check(rc == 2 and "--start" in err, "a CSV needs --start (%r)" % err)

rc, out, err = cardioctl("week", "--json")
sunday = monday + datetime.timedelta(days=6)
want = summary(d, "by=day&from=%s&to=%s" % (monday, sunday))
t.check(rc == 0 and json.loads(out)["periods"] == want["periods"],
        "cardioctl week --json is this week by day (%d %r)" % (rc, err))
rc, out, err = cardioctl("week")
t.check(rc == 0 and out.count("\n") >= 9 and "Mon" in out and "Sun" in out and
        "of 150" in out, "cardioctl week draws a bar a day: %r %r" % (out, err))
rc, out, err = cardioctl("report", "--weeks", "4", "--json")
rep4 = json.loads(out) if rc == 0 else {}
t.check(rc == 0 and len(rep4["periods"]) == 4 and rep4["periods"][-1]["start"] ==
        monday.isoformat() and rep4["streak_weeks"] == 2, "cardioctl report --weeks 4 --json")
rc, out, err = cardioctl("report", "--weeks", "4")
t.check(rc == 0 and "Streak: 2 weeks" in out and out.count(" met") >= 2,
        "cardioctl report draws the weeks and the streak: %r" % out)
rc, out, err = cardioctl("report", "--weeks", "0")
t.check(rc == 2, "cardioctl report --weeks 0 is a usage error")

# A day at 4 Hz is about 10 MB; above [http] max_import_bytes is 413 (here a small cap).
sessions = all_sessions(d)
w1 = summary(d, "from=2026-01-01&to=2026-12-31&by=month")
dflt1 = summary(d, "")
d.stop()

# ---------------------------------------------------------------- restart, upgrade

d = start()
t.check(summary(d, "from=2026-01-01&to=2026-12-31&by=month") == w1, "the same after a restart")
d.stop()
with sqlite3.connect(db) as c:
    c.execute("DROP TABLE session_figures")
    c.execute("PRAGMA user_version = 1")
d = start()
t.check(summary(d, "from=2026-01-01&to=2026-12-31&by=month") == w1,
        "a schema 1 database is upgraded in place, its figures computed once")
t.check(len(all_sessions(d)) == len(sessions), "every session kept")
d.stop()
with sqlite3.connect(db) as c:
    v = c.execute("PRAGMA user_version").fetchone()[0]
    n = c.execute("SELECT COUNT(*) FROM session_figures").fetchone()[0]
t.check(v == 2 and n == len(sessions), "schema 2, a figures row per session (%d, %d)" % (v, n))

d = start("--http-max-import-bytes", "4096")
status, j = imp(d, local(2026, 5, 1, 12, 0), VIG30)
t.check(status == 413, "an import above max_import_bytes: 413 (%d)" % status)
d.stop()

# ---------------------------------------------------------------- live

d = start("--simulate=1", "--commit-interval", "0.2")
live = wait_for(lambda: (lambda s: s if s[0] == 200 and s[1]["state"] == "active" and
                         s[1]["samples"] >= 3 else None)(d.get_json("/session")), timeout=20)
if t.check(live is not None, "a simulated session is active"):
    now = summary(d, "")
    cur = now["periods"][-1]
    t.check(cur["sessions"] == dflt1["periods"][-1]["sessions"] + 1 and cur["active_s"] > 0,
            "the active session counts in this week, live (%r)" % cur)
d.stop()
# Ended at shutdown: its figures were stored with it.
d = start()
sessions = all_sessions(d)
check_periods(summary(d, ""), sessions, "after a live session ended")
n_ended = len(sessions)
d.stop()

# Killed mid-session: recovered at the next start, figures included.
d = start("--simulate=1", "--commit-interval", "0.2")
wait_for(lambda: (lambda s: s[0] == 200 and s[1]["state"] == "active" and s[1]["samples"] >= 3)(
    d.get_json("/session")), timeout=20)
# Two commits after that: the session's row and samples are in the file.
c0 = d.get_json("/healthz")[1]["store"]["commits"]
wait_for(lambda: d.get_json("/healthz")[1]["store"]["commits"] >= c0 + 2, timeout=20)
d.signal(signal.SIGKILL)
d.wait()
d = start()
sessions = all_sessions(d)
t.check(len(sessions) == n_ended + 1, "the killed session is recovered (%d)" % len(sessions))
check_periods(summary(d, ""), sessions, "after recovery")
d.stop()

shutil.rmtree(tmp, ignore_errors=True)
t.finish()
