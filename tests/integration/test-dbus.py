#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The D-Bus service (DESIGN §5, issue 6) on a private dbus-daemon, against
the real cardiod with simulated straps: name ownership, GetAll on both
interfaces, ObjectManager and InterfacesAdded, Introspect = the repo XML,
HeartRate at the sample rate, PropertiesChanged, ZoneChanged only on
changes, milestones once, the methods and their errors, GetSession = HTTP,
the bus going away and coming back, no bus at start-up, and
`cardioctl monitor --format waybar`.

Usage: test-dbus.py CARDIOD CARDIOCTL XML
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, compare, wait_for  # noqa: E402
from dbus_helpers import (DEV_IFACE, IFACE, NAME, OM, PATH, BusDaemon, Client,  # noqa: E402
                          dbus_error, interface_model, members_without_doc, pump,
                          pump_until)
import dbus  # noqa: E402

CARDIOD, CARDIOCTL, XML = sys.argv[1:4]
t = Checker("test-dbus")
tmp = tempfile.mkdtemp(prefix="cardiod-dbus-")
INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
NO_SESSION = "org.cardiod.Cardiod1.Error.NoSuchSession"
NO_DEVICE = "org.cardiod.Cardiod1.Error.NoSuchDevice"
NOT_ACTIVE = "org.cardiod.Cardiod1.Error.NotActive"


def start(bus, *args, name="d"):
    d = Daemon(CARDIOD, ["--bus", bus.address if hasattr(bus, "address") else bus,
                         "--db", os.path.join(tmp, name + ".db"), *args], tmp)
    ok = d.wait_ready(15)
    if not ok:
        print(d.read_log(), file=sys.stderr)
    return d


def sim1(path):
    return PATH + "/device/" + re.sub(r"[^A-Za-z0-9_]", "_", path)


def test_main(bus):
    c = Client(bus.address)  # subscribed before cardiod exists: sees InterfacesAdded
    d = start(bus, "--simulate=2", name="main")
    t.check(d.port is not None, "cardiod ready on the private bus")
    t.check(c.has_owner(), "cardiod owns " + NAME)

    # Name ownership: a second cardiod on the same bus exits with a clear message.
    second = Daemon(CARDIOD, ["--bus", bus.address, "--simulate",
                              "--db", os.path.join(tmp, "second.db")], tmp)
    rc = second.wait(15)
    log = second.read_log()
    t.check(rc not in (0, None), "second cardiod exits non-zero (rc %r)" % rc)
    t.check("another cardiod" in log, "second cardiod says another cardiod runs: %r" % log)

    pump(3.2)

    # ObjectManager: both straps, announced and listed.
    p1, p2 = sim1("sim-1"), sim1("sim-2")
    added = {s[4][0]: s[4][1] for s in c.of(OM, "InterfacesAdded")}
    t.check(p1 in added and p2 in added, "InterfacesAdded for both straps: %r" % list(added))
    if p2 in added:
        props = added[p2].get(DEV_IFACE, {})
        t.check(props.get("Id") == "sim-2" and props.get("Transport") == "sim",
                "InterfacesAdded carries the Device properties: %r" % dict(props))
    objs = c.call("GetManagedObjects", iface=OM)
    t.check(set(objs) == {p1, p2}, "GetManagedObjects lists the straps: %r" % list(objs))
    t.check(all(DEV_IFACE in v for v in objs.values()), "each object has the Device interface")

    # GetAll on both interfaces, with the types of DESIGN §5.
    root = c.get_all()
    want_root = {"HeartRate": dbus.UInt16, "Zone": dbus.Byte, "Device": dbus.String,
                 "SessionId": dbus.UInt64, "SessionState": dbus.String,
                 "ActiveSeconds": dbus.Double, "MvpaSeconds": dbus.Double,
                 "EcbSeconds": dbus.Double, "TodayIntensityMinutes": dbus.Double,
                 "WeekIntensityMinutes": dbus.Double, "WeekSessions": dbus.UInt32,
                 "WeekGoalMinutes": dbus.Double}
    t.check(set(root) == set(want_root), "root GetAll keys: %r" % sorted(root))
    for k, ty in want_root.items():
        t.check(isinstance(root.get(k), ty), "root %s is %s" % (k, ty.__name__))
    t.check(root.get("SessionState") == "active" and root.get("Device") in ("sim-1", "sim-2"),
            "root follows the primary device: %r" % dict(root))
    t.check(30 <= root.get("HeartRate", 0) <= 240, "root HeartRate live: %r" % root.get("HeartRate"))
    dev = c.get_all(DEV_IFACE, p1)
    want_dev = {"Id": dbus.String, "Name": dbus.String, "Transport": dbus.String,
                "Connected": dbus.Boolean, "HeartRate": dbus.UInt16, "Zone": dbus.Byte,
                "BatteryPercentage": dbus.Byte, "LastUpdate": dbus.UInt64,
                "SessionId": dbus.UInt64}
    t.check(set(dev) == set(want_dev), "device GetAll keys: %r" % sorted(dev))
    for k, ty in want_dev.items():
        t.check(isinstance(dev.get(k), ty), "device %s is %s" % (k, ty.__name__))
    t.check(dev.get("Id") == "sim-1" and dev.get("Connected") and dev.get("SessionId") > 0,
            "device values: %r" % dict(dev))
    t.check(abs(int(dev.get("LastUpdate", 0)) / 1e6 - time.time()) < 5,
            "LastUpdate is µs of realtime")
    t.check(dbus_error(c.call, "Set", DEV_IFACE, "HeartRate", dbus.UInt16(1),
                       iface="org.freedesktop.DBus.Properties", path=p1) is not None,
            "properties are read-only")

    # Introspect equals the repo XML (and every member has a doc comment).
    repo = ET.parse(XML).getroot()
    live_root = ET.fromstring(str(c.call("Introspect", iface="org.freedesktop.DBus.Introspectable")))
    live_dev = ET.fromstring(str(c.call("Introspect", iface="org.freedesktop.DBus.Introspectable",
                                        path=p1)))
    for iface, live in ((IFACE, live_root), (DEV_IFACE, live_dev)):
        a, b = interface_model(repo, iface), interface_model(live, iface)
        t.check(a and a == b, "Introspect(%s) equals the XML; only in XML: %r, only live: %r"
                % (iface, {k: v for k, v in a.items() if b.get(k) != v},
                   {k: v for k, v in b.items() if a.get(k) != v}))
    t.check({i.get("name") for i in live_root.findall("interface")} >=
            {IFACE, OM, "org.freedesktop.DBus.Properties"}, "root interfaces")
    t.check(members_without_doc(XML) == [], "doc comment per member: missing %r"
            % members_without_doc(XML))

    # HeartRate at the sample rate (1 Hz per strap), and PropertiesChanged.
    c.signals.clear()
    t0 = time.monotonic()
    pump(5.0)
    span = time.monotonic() - t0
    hr = c.of(IFACE, "HeartRate")
    for dev_id in ("sim-1", "sim-2"):
        n = len([s for s in hr if s[4][0] == dev_id])
        t.check(span - 2 <= n <= span + 1, "HeartRate of %s at 1 Hz: %d in %.1f s" % (dev_id, n, span))
    t.check(all(len(s[4]) == 4 and 30 <= s[4][1] <= 240 and 0 <= s[4][2] <= 5 and
                all(300 <= rr <= 2000 for rr in s[4][3]) for s in hr),
            "HeartRate args are (s q y ad) with sane values")
    t.check(any(len(s[4][3]) > 0 for s in hr), "HeartRate carries RR intervals")
    pc_root = [s for s in c.of("org.freedesktop.DBus.Properties", "PropertiesChanged", PATH)
               if s[4][0] == IFACE]
    pc_dev = [s for s in c.of("org.freedesktop.DBus.Properties", "PropertiesChanged", p1)
              if s[4][0] == DEV_IFACE]
    t.check(span - 2 <= len(pc_root) <= span + 1,
            "root PropertiesChanged gathered, once per tick: %d in %.1f s" % (len(pc_root), span))
    t.check(span - 2 <= len(pc_dev) <= span + 1,
            "device PropertiesChanged once per sample: %d in %.1f s" % (len(pc_dev), span))
    t.check(all("LastUpdate" in s[4][1] for s in pc_dev), "LastUpdate in every device change")
    t.check(any("ActiveSeconds" in s[4][1] for s in pc_root), "ActiveSeconds changes on the root")
    if hr and pc_dev:
        last_bpm = [s[4][1] for s in hr if s[4][0] == "sim-1"][-1]
        t.check(int(c.get("HeartRate", DEV_IFACE, p1)) == last_bpm,
                "device HeartRate = last HeartRate signal")

    # GetSession = HTTP /session and /sessions/{id}.
    js = json.loads(str(c.call("GetSession", dbus.UInt64(0))))
    _, http = d.get_json("/session")
    t.check(js.get("id") == http.get("id") and js.get("state") == "active" and
            set(js) == set(http), "GetSession(0) is the HTTP /session object")
    s1 = int(c.get("SessionId", DEV_IFACE, p1))
    s2 = int(c.get("SessionId", DEV_IFACE, p2))

    # Methods and their errors.
    t.check(dbus_error(c.call, "GetSession", dbus.UInt64(987654)) == NO_SESSION,
            "GetSession(unknown) → NoSuchSession")
    t.check(dbus_error(c.call, "GetSession", dbus.UInt64(2 ** 63)) == INVALID,
            "GetSession(2^63) → InvalidArgs")
    t.check(dbus_error(c.call, "GetSession", "1") == INVALID, "GetSession('1') → InvalidArgs")
    t.check(dbus_error(c.call, "StopSession", dbus.UInt64(987654)) == NO_SESSION,
            "StopSession(unknown) → NoSuchSession")
    t.check(dbus_error(c.call, "StopSession", dbus.UInt64(2 ** 64 - 1)) == INVALID,
            "StopSession(2^64-1) → InvalidArgs")
    t.check(dbus_error(c.call, "StartSession", "no-such-strap") == NO_DEVICE,
            "StartSession(unknown) → NoSuchDevice")
    t.check(dbus_error(c.call, "StartSession", "bad id\n") == INVALID,
            "StartSession('bad id') → InvalidArgs")
    t.check(dbus_error(c.call, "StartSession", dbus.UInt32(1)) == INVALID,
            "StartSession(u) → InvalidArgs")
    t.check(dbus_error(c.call, "StartSession") == INVALID, "StartSession() → InvalidArgs")

    c.signals.clear()
    c.call("StopSession", dbus.UInt64(s1))
    ended = pump_until(lambda: [s for s in c.of(IFACE, "SessionEnded") if s[4][0] == s1], 5)
    t.check(bool(ended), "StopSession(id) → SessionEnded(id)")
    if ended:
        summary = ended[0][4][1]
        keys = {"id", "device", "started_at", "ended_at", "active_s", "avg_bpm", "max_bpm",
                "mvpa_s", "ecb_s", "zones_s"}
        t.check(keys <= set(summary), "SessionEnded summary keys: %r" % sorted(summary))
        t.check(summary.get("id") == s1 and summary.get("device") == "sim-1" and
                len(summary.get("zones_s", [])) == 6 and summary.get("active_s") > 0,
                "SessionEnded summary values: %r" % dict(summary))
        t.check(isinstance(summary.get("zones_s"), dbus.Array) and
                summary["zones_s"].signature == "d", "zones_s is ad")
    t.check(dbus_error(c.call, "StopSession", dbus.UInt64(s1)) == NOT_ACTIVE,
            "StopSession(ended) → NotActive")
    js = json.loads(str(c.call("GetSession", dbus.UInt64(s1))))
    status, http = d.get_json("/sessions/%d" % s1)
    t.check(status == 200 and js.get("state") == "ended" and
            not compare(js, http, ignored=set()),
            "GetSession(ended id) = HTTP /sessions/{id}: %r" % compare(js, http, ignored=set()))
    t.check(int(c.get("SessionId", DEV_IFACE, p1)) == 0, "device SessionId 0 after stop")

    new = int(c.call("StartSession", "sim-1"))
    t.check(new > max(s1, s2), "StartSession(sim-1) → a new id (%d)" % new)
    t.check(int(c.call("StartSession", "sim-1")) == new, "StartSession is idempotent")
    started = pump_until(lambda: [s for s in c.of(IFACE, "SessionStarted") if s[4][0] == new], 5)
    t.check(bool(started) and started[0][4][1] == "sim-1", "SessionStarted(id, sim-1)")
    pump_until(lambda: int(c.get("SessionId", DEV_IFACE, p1)) == new, 3)
    t.check(int(c.get("SessionId", DEV_IFACE, p1)) == new, "device SessionId follows")
    pump_until(lambda: int(c.get("SessionId")) == new, 3)
    t.check(int(c.get("SessionId")) == new and c.get("Device") == "sim-1",
            "root follows the most recently started session")

    # The session of the earlier run of sim-1 is in the store only now.
    c.call("StopSession", dbus.UInt64(0))  # the primary: session `new`
    t.check(bool(pump_until(lambda: [s for s in c.of(IFACE, "SessionEnded") if s[4][0] == new], 5)),
            "StopSession(0) ends the primary session")
    js = json.loads(str(c.call("GetSession", dbus.UInt64(s1))))
    t.check(js.get("id") == s1 and js.get("state") == "ended", "GetSession(id) from the store")
    c.call("StopSession", dbus.UInt64(0))  # sim-2's
    t.check(dbus_error(c.call, "StopSession", dbus.UInt64(0)) == NOT_ACTIVE,
            "StopSession(0) with nothing active → NotActive")
    pump_until(lambda: c.get("SessionState") == "idle", 3)
    t.check(c.get("SessionState") == "idle" and int(c.get("SessionId")) == 0,
            "root idle after the last stop")
    t.check(int(c.get("HeartRate")) > 0, "HeartRate stays live between sessions")
    js = json.loads(str(c.call("GetSession", dbus.UInt64(0))))
    _, http = d.get_json("/session")
    t.check(js.get("id") == http.get("id") and js.get("state") == "ended",
            "GetSession(0) = /session when idle")

    # cardioctl monitor --format waybar: one JSON object per line.
    p = subprocess.Popen([CARDIOCTL, "monitor", "--format", "waybar", "--address", bus.address],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.5)
    p.terminate()
    out, err = p.communicate(5)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    ok = len(lines) >= 2
    for ln in lines:
        try:
            o = json.loads(ln)
            ok = ok and {"text", "tooltip", "class", "percentage"} <= set(o) and \
                isinstance(o["percentage"], int) and \
                re.fullmatch(r"zone[0-5]|stale|offline", o["class"]) is not None
        except ValueError:
            ok = False
    t.check(ok, "cardioctl monitor --format waybar prints JSON lines: %r %r" % (lines[:3], err))

    # The live commands.
    p = subprocess.run([CARDIOCTL, "status", "--address", bus.address, "--json"],
                       capture_output=True, text=True, timeout=20)
    try:
        st = json.loads(p.stdout)
    except ValueError:
        st = {}
    t.check(p.returncode == 0 and st.get("device") in ("sim-1", "sim-2") and
            "heart_rate" in st, "cardioctl status --json: %r %r" % (p.stdout[:200], p.stderr))
    p = subprocess.run([CARDIOCTL, "start", "--address", bus.address, "--json", "sim-2"],
                       capture_output=True, text=True, timeout=20)
    try:
        st = json.loads(p.stdout)
    except ValueError:
        st = {}
    t.check(p.returncode == 0 and st.get("id", 0) > 0, "cardioctl start: %r %r" % (p.stdout, p.stderr))
    p = subprocess.run([CARDIOCTL, "stop", "--address", bus.address],
                       capture_output=True, text=True, timeout=20)
    t.check(p.returncode == 0, "cardioctl stop: %r" % p.stderr)
    p = subprocess.run([CARDIOCTL, "stop", "--address", bus.address],
                       capture_output=True, text=True, timeout=20)
    t.check(p.returncode != 0 and "active" in p.stderr, "cardioctl stop without a session: %r"
            % p.stderr)

    # History over HTTP.
    url = "http://127.0.0.1:%d" % d.port
    p = subprocess.run([CARDIOCTL, "sessions", "--url", url, "--json"],
                       capture_output=True, text=True, timeout=20)
    try:
        ss = json.loads(p.stdout)
    except ValueError:
        ss = None
    t.check(p.returncode == 0 and ss is not None, "cardioctl sessions --json: %r" % p.stderr)
    p = subprocess.run([CARDIOCTL, "sessions", "--url", url], capture_output=True, text=True,
                       timeout=20)
    t.check(p.returncode == 0 and str(s1) in p.stdout, "cardioctl sessions: %r" % p.stdout[:300])
    p = subprocess.run([CARDIOCTL, "show", str(s1), "--url", url, "--json"],
                       capture_output=True, text=True, timeout=20)
    try:
        sj = json.loads(p.stdout)
    except ValueError:
        sj = {}
    t.check(p.returncode == 0 and sj.get("id") == s1, "cardioctl show ID --json")
    p = subprocess.run([CARDIOCTL, "show", str(s1), "--url", url],
                       capture_output=True, text=True, timeout=20)
    t.check(p.returncode == 0 and "Z3" in p.stdout, "cardioctl show ID: %r" % p.stdout[:300])
    p = subprocess.run([CARDIOCTL, "export", str(s1), "--format", "csv", "--url", url],
                       capture_output=True, text=True, timeout=20)
    t.check(p.returncode == 0 and p.stdout.startswith("t_s,bpm,rr_ms,contact\n") and
            p.stdout.count("\n") > 3, "cardioctl export ID --format csv: %r" % p.stdout[:100])
    p = subprocess.run([CARDIOCTL, "show", "987654", "--url", url],
                       capture_output=True, text=True, timeout=20)
    t.check(p.returncode != 0 and "987654" in p.stderr, "cardioctl show unknown: %r" % p.stderr)

    # The bus goes away and comes back at the same address.
    c.close()
    bus.stop()
    time.sleep(0.5)
    t.check(d.get_json("/healthz")[0] == 200, "HTTP keeps working without the bus")
    bus2 = BusDaemon(bus.path)
    c2 = Client(bus2.address)
    t0 = time.monotonic()
    back = wait_for(c2.has_owner, timeout=15, step=0.2)
    t.check(bool(back), "cardiod owns the name again on the new bus (%.1f s)"
            % (time.monotonic() - t0))
    if back:
        t.check(len(c2.call("GetManagedObjects", iface=OM)) == 2, "objects back after reconnect")
        c2.signals.clear()
        pump(2.5)
        t.check(len(c2.of(IFACE, "HeartRate")) >= 2, "HeartRate flows after reconnect")
    log = d.read_log()
    t.check(log.count("Lost the connection") == 1, "one log line for the lost bus")
    t.check(d.proc.poll() is None, "cardiod survived the bus going away")
    rc = d.stop()
    t.check(rc == 0, "clean exit: %r" % rc)
    c2.close()
    return bus2


def test_fast(bus):
    """An accelerated simulator: zones change often, a milestone is reached."""
    c = Client(bus.address)
    d = start(bus, "--simulate=1", "--sim-rate", "300", "--hr-max", "150", name="fast")
    pump_until(lambda: c.of(IFACE, "MilestoneReached"), 25)
    pump(1.5)
    events = [s for s in c.signals if s[1] == IFACE and s[2] in ("HeartRate", "ZoneChanged")]
    zc = [s for s in events if s[2] == "ZoneChanged"]
    t.check(len(zc) >= 3, "ZoneChanged seen: %d" % len(zc))
    t.check(all(s[4][1] != s[4][2] for s in zc), "ZoneChanged only with old != new")
    # Each zone change in the HeartRate stream comes with exactly one ZoneChanged before it.
    ok, last, pending = True, None, None
    for s in events:
        if s[2] == "ZoneChanged":
            ok = ok and pending is None and s[4][1] == last
            pending = s[4][2]
        else:
            z = s[4][2]
            if pending is not None:
                ok = ok and z == pending
            elif last is not None:
                ok = ok and z == last
            last, pending = z, None
    t.check(ok, "ZoneChanged exactly at the zone changes of the HeartRate stream")
    ms = [(s[4][0], s[4][1]) for s in c.of(IFACE, "MilestoneReached")]
    t.check(len(ms) >= 1 and len(ms) == len(set(ms)) and ms[0][1] == "mvpa_20",
            "MilestoneReached once per milestone: %r" % ms)
    c.signals.clear()
    rc = d.stop()
    t.check(rc == 0, "fast: clean exit %r" % rc)
    pump_until(lambda: c.of(IFACE, "SessionEnded"), 3)
    t.check(len(c.of(IFACE, "SessionEnded")) == 1, "SessionEnded sent at shutdown")
    c.close()


def test_replay(bus):
    """A short replay: its samples as HeartRate, then SessionEnded, DeviceDisconnected
    and HeartRate 0 (never a frozen value)."""
    csv = os.path.join(tmp, "short.csv")
    with open(csv, "w") as f:
        f.write("t_s,bpm,rr_ms,contact\n0,120,500,1\n0.5,121,496,1\n1.0,0,,0\n1.5,150,400 401,1\n")
    c = Client(bus.address)
    d = start(bus, "--replay", csv, "--speed", "1", "--hr-max", "180", name="replay")
    path = sim1("replay-1")
    pump_until(lambda: c.of(IFACE, "DeviceDisconnected"), 10)
    pump(0.5)
    hr = [s[4] for s in c.of(IFACE, "HeartRate")]
    t.check([(h[0], int(h[1]), int(h[2]), [float(x) for x in h[3]]) for h in hr] ==
            [("replay-1", 120, 2, [500.0]), ("replay-1", 121, 2, [496.0]),
             ("replay-1", 150, 4, [400.0, 401.0])],
            "replay: one HeartRate per valid sample with its RR: %r" % hr)
    t.check(len(c.of(IFACE, "SessionEnded")) == 1, "replay: SessionEnded at the end")
    t.check([s[4][0] for s in c.of(IFACE, "DeviceDisconnected")] == ["replay-1"],
            "replay: DeviceDisconnected(replay-1)")
    t.check(int(c.get("HeartRate", DEV_IFACE, path)) == 0 and
            not c.get("Connected", DEV_IFACE, path), "replay: device HeartRate 0 when gone")
    t.check(int(c.get("HeartRate")) == 0 and int(c.get("Zone")) == 0 and
            c.get("SessionState") == "idle", "replay: root HeartRate 0, idle")
    sid = int(c.of(IFACE, "SessionEnded")[0][4][0]) if c.of(IFACE, "SessionEnded") else 0
    js = json.loads(str(c.call("GetSession", dbus.UInt64(sid)))) if sid else {}
    status, http = d.get_json("/sessions/%d" % sid)
    t.check(status == 200 and js.get("samples") == 3 and not compare(js, http, ignored=set()),
            "replay: GetSession(id) = HTTP: %r" % compare(js, http, ignored=set()))
    rc = d.stop()
    t.check(rc == 0, "replay: clean exit %r" % rc)
    c.close()


def test_no_bus_at_start():
    path = os.path.join(tmp, "late-bus")
    d = start("unix:path=" + path, "--simulate=1", name="late")
    t.check(d.port is not None, "cardiod starts without a bus")
    t.check(d.get_json("/healthz")[0] == 200, "HTTP works without a bus")
    log = d.read_log()
    t.check(log.count("retrying every 10 s") == 1, "one clear log line: %r" % log)
    bus = BusDaemon(path)
    c = Client(bus.address)
    back = wait_for(c.has_owner, timeout=15, step=0.2)
    t.check(bool(back), "cardiod owns the name once the bus is there")
    rc = d.stop()
    t.check(rc == 0, "late: clean exit %r" % rc)
    c.close()
    bus.stop()


bus = BusDaemon(os.path.join(tmp, "bus"))
try:
    bus = test_main(bus)
    test_fast(bus)
    test_replay(bus)
    test_no_bus_at_start()
finally:
    bus.stop()
t.finish()
