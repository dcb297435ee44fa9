#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Integration test for `cardioctl analyze` (DESIGN §3, §4, §7).

Usage: test-analyze.py CARDIOCTL DATA_DIR

Runs the built cardioctl on tests/data/tiny.csv (figures checked against
the hand computation below) and tests/data/example.csv (consistency of the
figures), and checks that every kind of bad input gives exit status 2 and
exactly one line on stderr.
"""

import json
import math
import os
import subprocess
import sys
import tempfile

CARDIOCTL = sys.argv[1]
DATA = sys.argv[2]
TINY = os.path.join(DATA, "tiny.csv")
EXAMPLE = os.path.join(DATA, "example.csv")

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, file=sys.stderr)


def near(a, b, tol=1e-9):
    return a is not None and b is not None and abs(a - b) <= tol


def run(*args, stdin=None):
    p = subprocess.run([CARDIOCTL, *args], input=stdin, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def analyze_json(path, *opts):
    rc, out, err = run("analyze", path, *opts, "--json")
    check(rc == 0, "analyze %s %s: exit %d (%s)" % (path, opts, rc, err.strip()))
    check(err == "", "analyze %s: stderr is empty: %r" % (path, err))
    return json.loads(out)


# tiny.csv with --hr-max 200 (hr_rest 60): zone bounds 100/120/140/160/180
# bpm; moderate from 64 % (128 bpm), vigorous from 77 % (154 bpm); ECB band
# 140 <= bpm < 160.
#
#   t   bpm  rr       contact  valid  attributes to the next valid sample
#   0   100  600      1        yes    1 s  Z1 (on the bound: upper) light
#   1   120  500      1        yes    1 s  Z2 light (60 %)
#   2   140  429 430  1        yes    1 s  Z3 moderate (70 %) ECB
#   3   160  375      1        yes    1 s  Z4 vigorous (80 %: not ECB)
#   4   180           1        yes    next valid at 12: 8 s > 5 s: a gap
#   5   150  400      0        no     contact lost (its RR dropped too)
#   6   0                      no     bpm out of 30..240
#   12  150  600      1        yes    1 s  Z3 moderate (75 %) ECB
#   13  90   610      unknown  yes    1 s  Z0 light (45 %)
#   14  95            unknown  yes    last
#
# samples 8; duration 14; active 6; gap 8
# zones s: Z0 1, Z1 1, Z2 1, Z3 2, Z4 1, Z5 0
# light 3, moderate 2, vigorous 1; MVPA 3; ECB 2 (window 600 s: rolling = session)
# avg = (100 + 120 + 140 + 160 + 150 + 90) / 6 = 760 / 6 = 126.67; min 90, max 180
# now = last sample (14): current 95, zone 0, 47.5 % HRmax, not stale
# Edwards TRIMP = (1*1 + 2*1 + 3*2 + 4*1) / 60 = 13 / 60
# RR kept: 600 500 429 430 375 600 610 (7); differences -100 -71 1 -55 +225 +10;
# 225 > 20 % of 375 is not counted: 5 differences, squares 10000 + 5041 + 1 +
# 3025 + 100 = 18167; RMSSD = sqrt(18167 / 5) = 60.28 ms
def test_tiny():
    j = analyze_json(TINY, "--hr-max", "200")
    check(j["id"] is None and j["state"] == "ended", "tiny: id null, ended")
    check(j["device"] == {"id": "file", "name": TINY, "transport": "file"},
          "tiny: device %r" % (j["device"],))
    p = j["profile"]
    check(p["name"] == "cli" and p["hr_max"] == 200 and p["hr_rest"] == 60
          and p["hr_max_source"] == "configured" and p["sex"] == "male"
          and p["model"] == "percent_max", "tiny: profile %r" % (p,))
    check(j["started_at"] is None and j["ended_at"] is None, "tiny: no wall clock")
    check(j["samples"] == 8, "tiny: samples %r" % j["samples"])
    check(j["duration_s"] == 14, "tiny: duration %r" % j["duration_s"])
    check(j["active_s"] == 6, "tiny: active %r" % j["active_s"])
    check(j["gap_s"] == 8, "tiny: gap %r" % j["gap_s"])
    hr = j["heart_rate"]
    check(hr["current"] == 95 and near(hr["avg"], 760 / 6) and hr["min"] == 90
          and hr["max"] == 180, "tiny: heart_rate %r" % (hr,))
    check(j["stale"] is False, "tiny: not stale")
    check(j["zone"]["current"] == 0 and near(j["zone"]["pct_hr_max"], 47.5),
          "tiny: zone %r" % (j["zone"],))
    zs = [z["s"] for z in j["zones"]]
    check(zs == [1, 1, 1, 2, 1, 0], "tiny: zone seconds %r" % zs)
    check([z["zone"] for z in j["zones"]] == list(range(6)), "tiny: zone numbers")
    check([z["lo_bpm"] for z in j["zones"]] == [0, 100, 120, 140, 160, 180],
          "tiny: lo_bpm")
    check([z["hi_bpm"] for z in j["zones"]] == [100, 120, 140, 160, 180, None],
          "tiny: hi_bpm")
    check(all(near(z["rolling_s"], z["s"]) for z in j["zones"]), "tiny: rolling zones")
    check(j["window_s"] == 600, "tiny: window")
    i = j["intensity"]
    check((i["light_s"], i["moderate_s"], i["vigorous_s"]) == (3, 2, 1),
          "tiny: intensity %r" % (i,))
    d = j["dose"]
    check(d["mvpa_s"] == 3 and d["ecb_s"] == 2 and near(d["rolling_mvpa_s"], 3)
          and near(d["rolling_ecb_s"], 2), "tiny: dose %r" % (d,))
    check(d["milestones"] == {"mvpa_20": None, "mvpa_40": None, "duration_60": None},
          "tiny: milestones")
    check(near(j["load"]["trimp_edwards"], 13 / 60), "tiny: Edwards")
    banister = sum(1 / 60 * x * 0.64 * math.exp(1.92 * x)
                   for x in ((b - 60) / 140 for b in (100, 120, 140, 160, 150, 90)))
    check(near(j["load"]["trimp_banister"], banister), "tiny: Banister")
    check(near(j["hrv"]["rmssd_ms"], math.sqrt(18167 / 5), 1e-9)
          and near(j["hrv"]["rolling_rmssd_ms"], math.sqrt(18167 / 5), 1e-9)
          and j["hrv"]["rr_count"] == 7, "tiny: hrv %r" % (j["hrv"],))
    check(j["energy_kj"] is None and j["battery_pct"] is None, "tiny: nulls")
    check(j["disclaimer"].startswith("This is information, not a diagnosis"),
          "tiny: disclaimer")

    # A window of 5 s: (9, 14] holds 12→13 (Z3) and 13→14 (Z0) only.
    j = analyze_json(TINY, "--hr-max", "200", "--window", "5")
    check([z["rolling_s"] for z in j["zones"]] == [1, 0, 0, 1, 0, 0],
          "tiny --window 5: rolling zones %r" % [z["rolling_s"] for z in j["zones"]])
    # --max-gap 10 attributes 4→12 to Z5 (180 bpm).
    j = analyze_json(TINY, "--hr-max", "200", "--max-gap", "10")
    check(j["active_s"] == 14 and j["gap_s"] == 0 and j["zones"][5]["s"] == 8,
          "tiny --max-gap 10")
    # --stale-after 0.5: the last valid sample is the last sample: still fresh.
    j = analyze_json(TINY, "--hr-max", "200", "--stale-after", "0.5")
    check(j["stale"] is False, "tiny --stale-after")
    # Age: Tanaka 208 - 0.7 x 40 = 180; female; reserve; bpm zones.
    j = analyze_json(TINY, "--age", "40", "--sex", "female", "--hr-rest", "50",
                     "--model", "percent_reserve")
    p = j["profile"]
    check(near(p["hr_max"], 180) and p["hr_max_source"] == "age" and p["sex"] == "female"
          and p["hr_rest"] == 50 and p["model"] == "percent_reserve",
          "tiny --age: profile %r" % (p,))
    check(near(j["zones"][1]["lo_bpm"], 50 + 0.5 * 130), "tiny reserve: Z1 bound")
    j = analyze_json(TINY, "--hr-max", "200", "--zones-bpm", "95,115,135,150,170")
    check(j["profile"]["model"] == "zones_bpm"
          and [z["lo_bpm"] for z in j["zones"]] == [0, 95, 115, 135, 150, 170],
          "tiny --zones-bpm")
    j = analyze_json(TINY, "--hr-max", "200", "--zones", "55,65,75,85,95")
    check(near(j["zones"][1]["lo_bpm"], 110), "tiny --zones")

    rc, out, err = run("analyze", TINY, "--hr-max", "200")
    check(rc == 0 and err == "", "tiny text: exit 0")
    for needle in ("Z0 rest", "Z5 maximum", "active 0:06", "gaps 0:08", "avg 126.7",
                   "RMSSD 60.3 ms", "7 RR intervals", "not reached",
                   "This is information, not a diagnosis"):
        check(needle in out, "tiny text contains %r" % needle)

    # Standard input.
    with open(TINY) as f:
        rc, out, err = run("analyze", "-", "--hr-max", "200", "--json", stdin=f.read())
    check(rc == 0 and json.loads(out)["active_s"] == 6, "stdin")


def test_example():
    j = analyze_json(EXAMPLE, "--hr-max", "185")
    # One 13 s hole (15:30-15:41 missing); the 4 s contact loss stays attributed.
    check(near(j["duration_s"], 29 * 60), "example: duration %r" % j["duration_s"])
    check(near(j["gap_s"], 13), "example: gap %r" % j["gap_s"])
    check(near(j["active_s"] + j["gap_s"], j["duration_s"]), "example: active + gap")
    check(near(sum(z["s"] for z in j["zones"]), j["active_s"], 1e-6), "example: zone sum")
    i = j["intensity"]
    check(near(i["light_s"] + i["moderate_s"] + i["vigorous_s"], j["active_s"], 1e-6),
          "example: intensity sum")
    check(near(j["dose"]["mvpa_s"], i["moderate_s"] + i["vigorous_s"], 1e-6),
          "example: MVPA")
    check(near(sum(z["rolling_s"] for z in j["zones"]), 600, 1e-6), "example: rolling 600 s")
    check(j["dose"]["milestones"]["mvpa_20"] is not None
          and j["dose"]["milestones"]["mvpa_40"] is None, "example: milestones")
    check(j["samples"] == 1741 - 12 - 4, "example: samples %r" % j["samples"])
    check(j["hrv"]["rmssd_ms"] is not None and j["hrv"]["rr_count"] > 3000, "example: hrv")
    check(60 <= j["heart_rate"]["min"] < j["heart_rate"]["avg"] < j["heart_rate"]["max"] <= 185,
          "example: heart rate")
    rc, out, err = run("analyze", EXAMPLE, "--age", "35")
    check(rc == 0 and "reached at" in out and "█" in out, "example: text summary")


def expect_usage_error(args, needle, stdin=None):
    rc, out, err = run(*args, stdin=stdin)
    lines = err.splitlines()
    check(rc == 2, "%r: exit %d, expected 2" % (args, rc))
    check(len(lines) == 1 and lines[0].startswith("cardioctl: "),
          "%r: one line on stderr, got %r" % (args, err))
    check(needle in err, "%r: stderr %r lacks %r" % (args, err, needle))
    check(out == "", "%r: nothing on stdout" % (args,))


def test_errors():
    a = ["analyze", TINY]
    for args, needle in [
        (a + ["--bogus"], "unknown option '--bogus'"),
        (a + ["-x"], "unknown option '-x'"),
        (a + ["--hr-max"], "needs a value"),
        (a + ["--hr-max", "abc"], "--hr-max: not a number: 'abc'"),
        (a + ["--hr-max", "180x"], "--hr-max: not a number"),
        (a + ["--hr-max", "-5"], "--hr-max: must be a positive number"),
        (a + ["--hr-max", "nan"], "--hr-max: not a number"),
        (a + ["--hr-max", "500"], "--hr-max: must be between 60 and 260"),
        (a + ["--hr-max", "180", "--age", "30"], "mutually exclusive"),
        (a + ["--age", "0"], "--age: must be a positive number"),
        (a + ["--age", "300"], "--age: must be between"),
        (a + ["--hr-max", "140", "--hr-rest", "145"], "hr_rest must be below hr_max"),
        (a + ["--hr-max", "180", "--hr-rest", "190"], "hr_rest must be between"),
        (a + ["--hr-max", "180", "--sex", "other"], "--sex: expected male or female"),
        (a + ["--hr-max", "180", "--zones", "50,60,60,80,90"], "--zones: expected five"),
        (a + ["--hr-max", "180", "--zones", "50,60,70,80"], "--zones: expected five"),
        (a + ["--hr-max", "180", "--zones-bpm", "a,b,c,d,e"], "--zones-bpm: expected five"),
        (a + ["--hr-max", "180", "--zones", "50,60,70,80,90",
              "--zones-bpm", "90,100,110,120,130"], "mutually exclusive"),
        (a + ["--hr-max", "180", "--model", "fancy"], "--model: expected"),
        (a + ["--hr-max", "180", "--model", "zones_bpm"], "needs --zones-bpm"),
        (a + ["--hr-max", "180", "--window", "0"], "--window: must be a positive number"),
        (a + ["--hr-max", "180", "--max-gap", "-1"], "--max-gap: must be a positive number"),
        (a + ["--hr-max", "180", "--stale-after", "x"], "--stale-after: not a number"),
        (["analyze", "--hr-max", "180"], "missing FILE.csv"),
        (a + [TINY, "--hr-max", "180"], "one FILE.csv only"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        ([], "missing COMMAND"),
        (["--bogus"], "unknown option '--bogus'"),
        (["help", "frobnicate"], "unknown command 'frobnicate'"),
        (["analyze", "/nonexistent/x.csv", "--hr-max", "180"],
         "cardioctl: /nonexistent/x.csv: No such file or directory"),
        (["analyze", DATA, "--hr-max", "180"], "Is a directory"),
    ]:
        expect_usage_error(args, needle)

    with tempfile.TemporaryDirectory() as d:
        for content, needle in [
            ("t_s,bpm,rr_ms,contact\n0,60,,1\n1,sixty,,1\n", "line 3: bpm: not a number"),
            ("t_s,bpm,rr_ms,contact\n0,60,,1\n1,60,,1\n0.5,60,,1\n",
             "line 4: t_s: time goes backwards"),
            ("time,bpm\n0,60\n", "line 1: expected header"),
            ("", "line 1: missing header"),
            ("t_s,bpm,rr_ms,contact\n0,60,,1,9\n", "line 2: too many fields"),
            ("t_s,bpm,rr_ms,contact\r\n0,60,-400,1\r\n", "line 2: rr_ms: value 1 is not positive"),
        ]:
            path = os.path.join(d, "bad.csv")
            with open(path, "w", newline="") as f:
                f.write(content)
            expect_usage_error(["analyze", path, "--hr-max", "180"], "cardioctl: %s: %s"
                               % (path, needle))
            expect_usage_error(["analyze", path, "--hr-max", "180", "--json"], needle)
        expect_usage_error(["analyze", "-", "--hr-max", "180"], "cardioctl: stdin: line 2:",
                           stdin="t_s,bpm,rr_ms,contact\n-1,60,,1\n")


def test_help():
    opts = ["--hr-max", "--age", "--hr-rest", "--sex", "--zones", "--zones-bpm", "--model",
            "--window", "--max-gap", "--stale-after", "--json", "--help"]
    for args in (["analyze", "--help"], ["help", "analyze"], ["analyze", "-h"]):
        rc, out, err = run(*args)
        check(rc == 0 and err == "", "%r: exit 0" % (args,))
        for o in opts:
            check(o in out, "%r documents %s" % (args, o))
        for default in ("default 60", "default male", "default 50,60,70,80,90",
                        "default 600", "default 5)", "default 10"):
            check(default in out, "%r documents %r" % (args, default))
    for args in (["--help"], ["help"], ["-h"]):
        rc, out, err = run(*args)
        check(rc == 0 and "analyze" in out and "help" in out and err == "",
              "%r: main help" % (args,))
    rc, out, err = run("--version")
    check(rc == 0 and out.startswith("cardioctl "), "--version")


def main():
    test_tiny()
    test_example()
    test_errors()
    test_help()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
