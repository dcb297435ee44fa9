#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The week on D-Bus (DESIGN §9.4): TodayIntensityMinutes,
WeekIntensityMinutes, WeekSessions and WeekGoalMinutes on the root object
equal this week's figures of GET /summary (TZ=Europe/Berlin), change with
an import and with a live session (PropertiesChanged, refreshed every
10 s), and the waybar tooltip of `cardioctl monitor` shows the week.

Usage: test-dbus-week.py CARDIOD CARDIOCTL
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon  # noqa: E402
from dbus_helpers import IFACE, PATH, BusDaemon, Client, pump_until  # noqa: E402

CARDIOD, CARDIOCTL = sys.argv[1:3]
TZ = "Europe/Berlin"
BERLIN = zoneinfo.ZoneInfo(TZ)
WEEK_PROPS = ["TodayIntensityMinutes", "WeekIntensityMinutes", "WeekSessions",
              "WeekGoalMinutes"]
t = Checker("test-dbus-week")
tmp = tempfile.mkdtemp(prefix="cardiod-dbus-week-")
db = os.path.join(tmp, "c.db")
conf = os.path.join(tmp, "cardiod.conf")
with open(conf, "w") as f:
    f.write("[goals]\nweekly_intensity_min = 120\n")


def start(bus, *extra):
    d = Daemon(CARDIOD, ["--db", db, "--config", conf, "--bus", bus, *extra], tmp,
               env={"TZ": TZ})
    if not d.wait_ready(15):
        print(d.read_log(), file=sys.stderr)
        raise SystemExit("cardiod did not start")
    return d


def post(d, path, body, content_type):
    """Every POST of this test (the place for an Authorization header)."""
    status, data = d.request("POST", path, body=body, headers={"Content-Type": content_type})
    return status, json.loads(data) if data else None


def csv_text(seconds, bpm):
    return "t_s,bpm,rr_ms,contact\n" + "".join("%d,%d,,1\n" % (i, bpm) for i in range(seconds))


def imp(d, when, seconds, bpm):
    q = "started_at=%s&device=ble-aa:bb:cc:dd:ee:07" % when.astimezone(
        datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, j = post(d, "/sessions/import?" + q, csv_text(seconds, bpm).encode(), "text/csv")
    t.check(status == 201, "import at %s: %d %r" % (when, status, j))


def this_week(d):
    s, weeks = d.get_json("/summary")
    s2, days = d.get_json("/summary?by=day&from=%s&to=%s" % (today.isoformat(),
                                                          today.isoformat()))
    return weeks["periods"][-1], days["periods"][0], weeks["goal"]


now = datetime.datetime.now(BERLIN)
today = now.date()
monday = today - datetime.timedelta(days=today.weekday())

# Sessions imported with the service off: earlier this week (or last week on a
# Monday), and today a little before now.
d = start("none")
earlier = datetime.datetime.combine(monday - datetime.timedelta(days=1 if today == monday else 0),
                                    datetime.time(6, 0), BERLIN)
imp(d, earlier, 1200, 165)
imp(d, now - datetime.timedelta(hours=3), 900, 150)
d.stop()

bus = BusDaemon(os.path.join(tmp, "bus"))
try:
    d = start(bus.address)
    c = Client(bus.address)
    props = pump_until(lambda: (lambda p: p if p else None)(
        c.get_all() if c.has_owner() else None), 10)
    week, day, goal = this_week(d)
    t.check(props is not None and all(k in props for k in WEEK_PROPS),
            "the root object has the week properties (%r)" % (props and sorted(props)))
    if props:
        t.check(abs(props["WeekIntensityMinutes"] - week["intensity_min"]) < 1e-9 and
                props["WeekSessions"] == week["sessions"] and
                abs(props["TodayIntensityMinutes"] - day["intensity_min"]) < 1e-9 and
                props["WeekGoalMinutes"] == goal["weekly_intensity_min"] == 120,
                "the properties are /summary's week and today (%r vs %r, %r)"
                % ({k: props[k] for k in WEEK_PROPS}, week, day))
        if now.hour >= 4:  # the session 3 h ago started today
            t.check(props["TodayIntensityMinutes"] > 0 and props["WeekSessions"] >= 1,
                    "today's session counts")

    # An import changes them, announced by PropertiesChanged (the 10 s refresh).
    imp(d, now - datetime.timedelta(hours=2), 600, 170)
    changed = pump_until(lambda: [s for s in c.of("org.freedesktop.DBus.Properties",
                                                  "PropertiesChanged", PATH)
                                  if "WeekSessions" in s[4][1]], 25)
    t.check(bool(changed), "PropertiesChanged carries WeekSessions after an import")
    week2, day2, _ = this_week(d)
    p2 = c.get_all()
    t.check(p2["WeekSessions"] == week2["sessions"] == week["sessions"] + 1 and
            abs(p2["TodayIntensityMinutes"] - day2["intensity_min"]) < 1e-9,
            "the properties follow the import (%r, %r)" % ({k: p2[k] for k in WEEK_PROPS},
                                                           week2))

    # cardioctl monitor --format waybar: the tooltip shows the week.
    p = subprocess.Popen([CARDIOCTL, "monitor", "--format", "waybar", "--address",
                          bus.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    p.terminate()
    out, err = p.communicate(5)
    lines = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    want = "Week: %.0f of 120 intensity min, %d session" % (p2["WeekIntensityMinutes"],
                                                           p2["WeekSessions"])
    t.check(lines and want in lines[-1]["tooltip"],
            "waybar tooltip has %r: %r %r" % (want, lines[-1:] , err))
    c.close()
    d.stop()

    # A live session counts while it runs.
    d = start(bus.address, "--simulate=1")
    c = Client(bus.address)
    grew = pump_until(lambda: c.has_owner() and
                      c.get_all()["WeekSessions"] == week2["sessions"] + 1, 30)
    t.check(bool(grew), "the active session counts in WeekSessions")
    c.close()
    d.stop()
finally:
    bus.stop()
shutil.rmtree(tmp, ignore_errors=True)
t.finish()
