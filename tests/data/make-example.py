#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write tests/data/example.csv: a realistic 29-minute interval session.

1 Hz samples as a BLE strap sends them (integer bpm, RR intervals in
1/1024 s converted to ms), for a person with HRmax about 185 bpm:

  0:00- 5:00  warm-up, 95 -> 135 bpm
  5:00-25:00  5 x (2 min hard ~170 bpm, 2 min easy ~128 bpm)
 25:00-29:00  cool-down, 125 -> 95 bpm

with a 4-second stretch where the strap reports "contact not detected"
(9:10-9:13; the 5 s from the last good sample to the next one are still
attributed, max_gap_s being 5) and a 12-second hole with no samples at
all, as when the connection drops (15:30-15:41: one gap of 13 s).  The seed is fixed: running this again
gives the same file byte for byte.

Usage: tests/data/make-example.py [OUTPUT]   (default: example.csv next to it)
"""

import math
import os
import random
import sys

SEED = 20240611
DURATION_S = 29 * 60
CONTACT_LOSS = range(550, 554)   # seconds with contact = 0
GAP = range(930, 942)            # seconds with no sample at all


def target_bpm(t):
    """The heart rate the body is heading for at time t (s)."""
    if t < 300:
        return 95 + 40 * t / 300
    if t < 1500:
        phase = (t - 300) % 240
        return 170 if phase < 120 else 128
    return 125 - 30 * min(1.0, (t - 1500) / 240)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "example.csv")
    rng = random.Random(SEED)
    bpm = 92.0
    next_beat = 0.4
    lines = ["t_s,bpm,rr_ms,contact"]

    for t in range(DURATION_S + 1):
        # Heart rate follows its target with a ~20 s time constant, plus noise.
        bpm += (target_bpm(t) - bpm) / 20 + rng.gauss(0, 0.6)

        # Beats in (t - 1, t]: RR from the instantaneous rate, with
        # respiratory sinus arrhythmia and jitter that shrink as HR rises.
        rr = []
        while next_beat <= t:
            base = 60000 / bpm
            hrv = max(0.005, 0.05 * (1 - (bpm - 90) / 100))
            ms = base * (1 + hrv * math.sin(next_beat * 2 * math.pi / 4.5)
                         + rng.gauss(0, hrv / 3))
            ticks = round(ms * 1024 / 1000)          # BLE: 1/1024 s
            ms = ticks * 1000 / 1024                 # exact in binary
            rr.append(ms)
            next_beat += ms / 1000

        if t in GAP:
            continue
        contact = "1"
        shown = round(bpm)
        if t in CONTACT_LOSS:
            # Lost contact: the strap still reports a (meaningless) value
            # and the beats it carries are not to be trusted.
            contact = "0"
            shown = rng.randint(40, 220)
        lines.append("%d,%d,%s,%s" % (t, shown, " ".join(repr(v) for v in rr),
                                       contact))

    with open(out, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
