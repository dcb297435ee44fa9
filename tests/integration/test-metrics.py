#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""GET /metrics (DESIGN §9.6) against the real cardiod:

- a replay at --speed 0: once its session has ended, every
  cardiod_zone_seconds_total{device,zone} equals that session's zones[].s
  and cardiod_samples_total its samples;
- simulated straps: heart_rate_bpm, connected and battery per strap; two
  sessions on one strap (manual stop, start, stop) add up in the counters;
- HELP and TYPE for every family, the content type, the request counter,
  and `promtool check metrics` (Debian's prometheus package) on a live
  answer exits 0 and says nothing;
- the Host rules of the rest of the API (Host: evil.example is refused);
- contrib/grafana-dashboard.json uses only metrics that exist.

Usage: test-metrics.py CARDIOD DATA_DIR
promtool is installed with apt when missing and we are root; otherwise
the test exits 77 (skipped) and says why.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, wait_for  # noqa: E402

CARDIOD, DATA = sys.argv[1:3]
PROFILE = ["--hr-max", "185", "--hr-rest", "55"]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAMILIES = {  # name: type
    "cardiod_build_info": "gauge",
    "cardiod_intensity_seconds": "gauge",
    "cardiod_device_connected": "gauge",
    "cardiod_device_battery_ratio": "gauge",
    "cardiod_heart_rate_bpm": "gauge",
    "cardiod_samples_total": "counter",
    "cardiod_zone_seconds_total": "counter",
    "cardiod_http_requests_total": "counter",
}
t = Checker("test-metrics")
tmp = tempfile.mkdtemp(prefix="cardiod-metrics-")
empty_conf = os.path.join(tmp, "empty.conf")
open(empty_conf, "w").close()


def promtool():
    """promtool, installed when root; None (and the reason printed) otherwise."""
    path = shutil.which("promtool")
    if path:
        return path
    if os.geteuid() != 0:
        print("SKIP: promtool (Debian package prometheus) is missing and we are not root "
              "to install it", flush=True)
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Only promtool is wanted: keep the package from starting a Prometheus server.
    policy = "/usr/sbin/policy-rc.d"
    added = not os.path.exists(policy)
    if added:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                     "prometheus"]):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                print("SKIP: installing prometheus failed: %s" % r.stderr[-500:], flush=True)
                return None
    finally:
        if added:
            os.unlink(policy)
    return shutil.which("promtool")


def post(d, path, body):
    """Every POST of this test goes through here (one place for an auth header)."""
    return d.request("POST", path, body=json.dumps(body))


def scrape(d, host=None):
    """(status, content type, text) of GET /metrics."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    c.request("GET", "/metrics", headers={"Host": host or "localhost:%d" % d.port})
    r = c.getresponse()
    data = r.read().decode("utf-8")
    c.close()
    return r.status, r.getheader("Content-Type"), data


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{family: {"help", "type", "samples": {frozenset(labels): value}}}; checks the shape."""
    fams = {}
    cur = None
    t.check(text.endswith("\n"), "the exposition ends with a newline")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            t.check(name not in fams, "family %s appears once" % name)
            cur = fams.setdefault(name, {"samples": {}})
            cur["help"] = help_
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            t.check(cur is not None and name in fams and fams[name] is cur,
                    "TYPE %s follows its HELP" % name)
            fams.setdefault(name, {"samples": {}})["type"] = typ
        else:
            m = LINE.match(line)
            if not t.check(m is not None, "sample line parses: %r" % line):
                continue
            name, labels, value = m.groups()
            if not t.check(name in fams, "sample %s has HELP and TYPE before it" % name):
                continue
            key = frozenset(LABEL.findall(labels or ""))
            t.check(key not in fams[name]["samples"], "%s%s once" % (name, sorted(key)))
            fams[name]["samples"][key] = float(value)
    for name, f in fams.items():
        t.check(f.get("help") and f.get("type") in ("counter", "gauge"),
                "%s: HELP and TYPE (%r)" % (name, f))
        t.check(name.startswith("cardiod_"), "%s: cardiod_ prefix" % name)
        t.check((f.get("type") == "counter") == name.endswith("_total"),
                "%s: _total exactly on counters" % name)
    return fams


def value(fams, name, **labels):
    return fams.get(name, {}).get("samples", {}).get(frozenset(labels.items()))


def close(a, b):
    """Equal to the printed precision: JSON numbers have 15 significant digits."""
    return a is not None and b is not None and abs(a - b) <= 1e-12 * max(1.0, abs(b))


def check_common(d, fams, text):
    for name, typ in FAMILIES.items():
        t.check(fams.get(name, {}).get("type") == typ, "family %s of type %s" % (name, typ))
    t.check("session" not in "".join(str(k) for f in fams.values() for k in f["samples"]),
            "no session label anywhere")
    t.check(value(fams, "cardiod_build_info", version=d.version) == 1,
            "build_info{version=%r} = 1" % d.version)


def test_replay(tool):
    csv = os.path.join(DATA, "example.csv")
    d = Daemon(CARDIOD, ["--config", empty_conf, "--db", os.path.join(tmp, "replay.db"),
                         "--replay", csv, "--speed", "0", *PROFILE], tmp)
    if not t.check(d.wait_ready(), "replay: daemon ready (%s)" % d.read_log()[-500:]):
        d.stop()
        return
    d.version = d.get_json("/healthz")[1]["version"]
    ended = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "ended"
                              else None)(d.get_json("/session")), timeout=60)
    if not t.check(ended is not None, "replay: the session ended"):
        d.stop()
        return
    status, session = d.get_json("/sessions/%d" % ended["id"])
    t.check(status == 200, "GET /sessions/%d: %d" % (ended["id"], status))

    status, ctype, text = scrape(d)
    t.check(status == 200, "replay: /metrics status %d" % status)
    t.check(ctype == CONTENT_TYPE, "Content-Type %r" % ctype)
    fams = parse(text)
    check_common(d, fams, text)

    dev = session["device"]["id"]
    t.check(len(session["zones"]) == 6, "six zones in the session")
    t.check(sum(z["s"] for z in session["zones"]) > 0, "the replay spent time in zones")
    for z in session["zones"]:
        got = value(fams, "cardiod_zone_seconds_total", device=dev, zone=str(z["zone"]))
        t.check(close(got, z["s"]), "zone %s: metric %r = session %r" % (z["zone"], got, z["s"]))
    got = value(fams, "cardiod_samples_total", device=dev)
    t.check(got == session["samples"] and got > 0,
            "samples_total %r = session samples %r" % (got, session["samples"]))
    t.check(value(fams, "cardiod_device_connected", device=dev, transport="replay") is not None,
            "device_connected{device=%s,transport=replay} present" % dev)
    # Still the same after a while: an ended session is counted once.
    fams2 = parse(scrape(d)[2])
    for z in session["zones"]:
        key = dict(device=dev, zone=str(z["zone"]))
        t.check(value(fams2, "cardiod_zone_seconds_total", **key) ==
                value(fams, "cardiod_zone_seconds_total", **key), "zone %s stable" % z["zone"])
    # Every request before a scrape is counted by status.
    t.check((value(fams2, "cardiod_http_requests_total", code="200") or 0) >=
            (value(fams, "cardiod_http_requests_total", code="200") or 0) + 1,
            "http_requests_total{code=200} grows")

    # Intensity minutes are GET /summary's: this week's and today's periods.
    status, week = d.get_json("/summary?by=week")
    t.check(status == 200, "GET /summary?by=week: %d" % status)
    status, day = d.get_json("/summary?by=day")
    t.check(status == 200, "GET /summary?by=day: %d" % status)
    if week and day and week.get("periods") and day.get("periods"):
        got = value(fams2, "cardiod_intensity_seconds", period="week")
        want = week["periods"][-1]["intensity_min"] * 60
        t.check(close(got, want), "intensity_seconds{week} %r = /summary %r" % (got, want))
        got = value(fams2, "cardiod_intensity_seconds", period="today")
        want = day["periods"][-1]["intensity_min"] * 60
        t.check(close(got, want), "intensity_seconds{today} %r = /summary %r" % (got, want))

    if tool:
        lint(tool, text, "replay")
    t.check(d.stop() == 0, "replay: clean exit")


def lint(tool, text, what):
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True)
    t.check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
            "%s: promtool check metrics: exit %d, %r %r" % (what, r.returncode, r.stdout,
                                                            r.stderr))


def session_zones(d, sid):
    status, s = d.get_json("/sessions/%d" % sid)
    t.check(status == 200, "GET /sessions/%d" % sid)
    return {str(z["zone"]): z["s"] for z in s["zones"]} if status == 200 else {}


def test_simulate(tool):
    d = Daemon(CARDIOD, ["--config", empty_conf, "--db", os.path.join(tmp, "sim.db"),
                         "--simulate=2", "--sim-rate", "20", *PROFILE], tmp)
    if not t.check(d.wait_ready(), "simulate: daemon ready (%s)" % d.read_log()[-500:]):
        d.stop()
        return
    d.version = d.get_json("/healthz")[1]["version"]

    def live():
        fams = parse(scrape(d)[2])
        ok = all(value(fams, "cardiod_heart_rate_bpm", device=s) for s in ("sim-1", "sim-2"))
        return fams if ok and all((value(fams, "cardiod_samples_total", device=s) or 0) >= 3
                                  for s in ("sim-1", "sim-2")) else None
    fams = wait_for(live, timeout=20, step=0.2)
    if not t.check(fams is not None, "simulate: heart rate and samples for both straps"):
        d.stop()
        return
    check_common(d, fams, None)
    for s in ("sim-1", "sim-2"):
        bpm = value(fams, "cardiod_heart_rate_bpm", device=s)
        t.check(30 <= bpm <= 240, "%s: heart_rate_bpm %r" % (s, bpm))
        t.check(value(fams, "cardiod_device_connected", device=s, transport="sim") == 1,
                "%s connected" % s)
        b = value(fams, "cardiod_device_battery_ratio", device=s)
        t.check(b is not None and 0 <= b <= 1, "%s: battery_ratio %r" % (s, b))
    # The active session's time so far is in the counter.
    t.check(sum(value(fams, "cardiod_zone_seconds_total", device="sim-1", zone=str(z)) or 0
                for z in range(6)) > 0, "active session counted")

    # Two sessions on sim-1 add up; while stopped, the counter holds still.
    st, first = post(d, "/session/stop", {"device": "sim-1"})
    t.check(st == 200, "stop sim-1: %d %r" % (st, first))
    first = json.loads(first)
    st, second = post(d, "/session/start", {"device": "sim-1"})
    t.check(st == 200, "start sim-1: %d" % st)
    wait_for(lambda: (d.get_json("/sessions/%d" % json.loads(second)["id"])[1] or {})
             .get("samples", 0) >= 3, timeout=20, step=0.2)
    st, second = post(d, "/session/stop", {"device": "sim-1"})
    t.check(st == 200, "stop sim-1 again: %d" % st)
    second = json.loads(second)
    t.check(first["id"] != second["id"], "two sessions")
    z1, z2 = session_zones(d, first["id"]), session_zones(d, second["id"])
    status, ctype, text = scrape(d)
    fams = parse(text)
    for z in map(str, range(6)):
        got = value(fams, "cardiod_zone_seconds_total", device="sim-1", zone=z)
        t.check(close(got, z1.get(z, 0) + z2.get(z, 0)),
                "sim-1 zone %s: %r = %r + %r" % (z, got, z1.get(z), z2.get(z)))
    s1 = d.get_json("/sessions/%d" % first["id"])[1]["samples"]
    s2 = d.get_json("/sessions/%d" % second["id"])[1]["samples"]
    t.check(value(fams, "cardiod_samples_total", device="sim-1") == s1 + s2,
            "sim-1 samples_total = %d + %d" % (s1, s2))

    # Host rules: refused before routing, and counted.
    status, _, body = scrape(d, host="evil.example")
    t.check(status == 421 and "cardiod_" not in body, "Host: evil.example: %d" % status)
    status, _, text = scrape(d)
    fams = parse(text)
    t.check((value(fams, "cardiod_http_requests_total", code="421") or 0) >= 1,
            "the refusal is counted under code 421")
    st, _ = d.request("HEAD", "/metrics")
    t.check(st == 200, "HEAD /metrics: %d" % st)

    if tool:
        lint(tool, text, "simulate")
    t.check(d.stop() == 0, "simulate: clean exit")


def test_dashboard():
    """contrib/grafana-dashboard.json asks only for metrics cardiod has."""
    path = os.path.join(DATA, "..", "..", "contrib", "grafana-dashboard.json")
    with open(path) as f:
        dash = json.load(f)
    exprs = [tg["expr"] for p in dash["panels"] for tg in p.get("targets", [])]
    t.check(len(exprs) >= 5, "dashboard has panels")
    names = set(re.findall(r"cardiod_[a-z_]+", " ".join(exprs)))
    known = set(FAMILIES)
    t.check(names and names <= known, "dashboard metrics %r all exist" % sorted(names - known))


def main():
    test_dashboard()
    tool = promtool()
    test_replay(tool)
    test_simulate(tool)
    if tool is None:
        # Everything else ran and passed or failed; skipped only when it passed.
        if t.failed == 0:
            print("test-metrics: %d passed; promtool missing, so skipped" % t.passed)
            sys.exit(77)
    t.finish()


main()
