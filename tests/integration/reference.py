# SPDX-License-Identifier: MIT
"""An independent, deliberately naive implementation of DESIGN §3.

It rescans everything for every figure (no rings, no running sums), so it
shares no code and no shortcuts with lib/engine.c.  Tests hold the engine's
JSON (cardioctl analyze --json, the daemon's /session) to it.

Where DESIGN §3 is silent it does not copy the engine's choice: a valid
sample earlier than the one before it (time going backwards) raises
NotInDesign, so that no test can hold the engine to a rule nobody wrote
down.  Open question for DESIGN: drop such a sample (what lib/engine.c
does), or end the session?
"""

import math

BANISTER = {"male": (0.64, 1.92), "female": (0.86, 1.67)}


class Profile:
    def __init__(self, hr_max, hr_rest=60, sex="male", model="percent_max",
                 zones=(50, 60, 70, 80, 90), zones_bpm=None):
        self.hr_max, self.hr_rest, self.sex = hr_max, hr_rest, sex
        self.model, self.zones, self.zones_bpm = model, zones, zones_bpm

    def zone(self, bpm):
        if self.zones_bpm:
            x, bounds = bpm, self.zones_bpm
        elif self.model == "percent_reserve":
            x = 100.0 * (bpm - self.hr_rest) / (self.hr_max - self.hr_rest)
            bounds = self.zones
        else:
            x, bounds = 100.0 * bpm / self.hr_max, self.zones
        return sum(1 for b in bounds if x >= b)

    def intensity(self, bpm):
        if self.model == "percent_reserve":
            x = 100.0 * (bpm - self.hr_rest) / (self.hr_max - self.hr_rest)
            mod, vig = 40, 60
        else:
            x, mod, vig = 100.0 * bpm / self.hr_max, 64, 77
        return 2 if x >= vig else 1 if x >= mod else 0

    def ecb(self, bpm):
        pct = 100.0 * bpm / self.hr_max
        return 70 <= pct < 80


class NotInDesign(ValueError):
    """The input needs a rule that DESIGN §3 does not give."""


def valid(s):
    return 30 <= s["bpm"] <= 240 and s["contact"] != 0


def analyze(samples, p, max_gap=5.0, window=600.0, stale_after=10.0):
    """samples: dicts t, bpm, rr (list of ms), contact (1, 0 or None)."""
    seen_t = max((s["t"] for s in samples), default=None)
    v = []
    for s in samples:
        if not valid(s):
            continue
        if v and s["t"] < v[-1]["t"]:
            raise NotInDesign("valid sample at t=%r after one at t=%r: DESIGN §3 does not "
                              "say what time going backwards means" % (s["t"], v[-1]["t"]))
        # Two samples at the same instant need no rule of their own: each is a
        # sample (one notification, one sample), and dt = 0 attributes nothing.
        v.append(s)
    r = {"samples": len(v)}
    if not v:
        return r
    t_first, t_last = v[0]["t"], v[-1]["t"]
    r["duration_s"] = t_last - t_first
    zones = [0.0] * 6
    rzones = [0.0] * 6
    inten = [0.0] * 3
    rinten = [0.0] * 3
    active = gap = mvpa = ecb = rmvpa = recb = bpm_dt = banister = 0.0
    milestones = {"mvpa_20": None, "mvpa_40": None, "duration_60": None}
    # DESIGN §3: the window is (t_last − window_s, t_last]: open at its start.
    start = t_last - window

    def in_window(t):
        return start < t <= t_last
    a_, b_ = BANISTER[p.sex]
    for a, b in zip(v, v[1:]):
        dt = b["t"] - a["t"]
        if dt > max_gap:
            gap += dt
            continue
        z, i, e = p.zone(a["bpm"]), p.intensity(a["bpm"]), p.ecb(a["bpm"])
        active += dt
        zones[z] += dt
        inten[i] += dt
        if i:
            mvpa += dt
        if e:
            ecb += dt
        bpm_dt += a["bpm"] * dt
        x = min(1.0, max(0.0, (a["bpm"] - p.hr_rest) / (p.hr_max - p.hr_rest)))
        banister += dt / 60.0 * x * a_ * math.exp(b_ * x)
        # The part of [t_a, t_b] inside the window (a point has no length, so
        # the open start changes nothing here).
        inside = max(0.0, b["t"] - max(a["t"], start))
        rzones[z] += inside
        rinten[i] += inside
        if i:
            rmvpa += inside
        if e:
            recb += inside
        for name, value, limit in (("mvpa_20", mvpa, 1200), ("mvpa_40", mvpa, 2400),
                                   ("duration_60", active, 3600)):
            if milestones[name] is None and value >= limit:
                milestones[name] = b["t"] - t_first
    rr = [(s["t"], x) for s in v for x in s["rr"] if 300 <= x <= 2000]
    diffs = [(t0, t1, (x1 - x0) ** 2) for (t0, x0), (t1, x1) in zip(rr, rr[1:])
             if abs(x1 - x0) <= 0.2 * x0]
    # DESIGN §3: rolling_rmssd_ms "over RR whose beat time lies in the rolling
    # window": a difference counts when both of its RR do.
    rdiffs = [d for t0, t1, d in diffs if in_window(t0) and in_window(t1)]

    def rmssd(d):
        return math.sqrt(sum(d) / len(d)) if len(d) >= 2 else None

    stale = seen_t - t_last >= stale_after
    r.update(active_s=active, gap_s=gap, zones=zones, rolling_zones=rzones,
             intensity=inten, rolling_intensity=rinten, mvpa_s=mvpa, ecb_s=ecb,
             rolling_mvpa_s=rmvpa, rolling_ecb_s=recb,
             avg=bpm_dt / active if active > 0 else None,
             min=min(s["bpm"] for s in v), max=max(s["bpm"] for s in v),
             current=None if stale else v[-1]["bpm"], stale=stale,
             milestones=milestones,
             trimp_edwards=sum(k * zones[k] / 60.0 for k in range(1, 6)),
             trimp_banister=banister, rmssd=rmssd([d for _, _, d in diffs]),
             rolling_rmssd=rmssd(rdiffs), rr_count=len(rr))
    return r


def compare(js, ref, check, what, tol=1e-6):
    """Hold a session object (DESIGN §4) to the reference, field by field."""
    def near(a, b):
        if a is None or b is None:
            return a is None and b is None
        return abs(a - b) <= tol

    def eq(key, a, b):
        check(near(a, b), "%s: %s = %r, reference %r" % (what, key, a, b))

    check(js["samples"] == ref["samples"], "%s: samples %r vs %r" % (what, js["samples"], ref["samples"]))
    if not ref["samples"]:
        return
    eq("duration_s", js["duration_s"], ref["duration_s"])
    eq("active_s", js["active_s"], ref["active_s"])
    eq("gap_s", js["gap_s"], ref["gap_s"])
    for k in range(6):
        eq("zones[%d].s" % k, js["zones"][k]["s"], ref["zones"][k])
        eq("zones[%d].rolling_s" % k, js["zones"][k]["rolling_s"], ref["rolling_zones"][k])
    for i, name in enumerate(("light_s", "moderate_s", "vigorous_s")):
        eq("intensity." + name, js["intensity"][name], ref["intensity"][i])
        eq("intensity.rolling." + name, js["intensity"]["rolling"][name], ref["rolling_intensity"][i])
    d = js["dose"]
    for key in ("mvpa_s", "ecb_s", "rolling_mvpa_s", "rolling_ecb_s"):
        eq("dose." + key, d[key], ref[key])
    for m in ("mvpa_20", "mvpa_40", "duration_60"):
        eq("milestones." + m, d["milestones"][m], ref["milestones"][m])
    hr = js["heart_rate"]
    for key in ("avg", "min", "max", "current"):
        eq("heart_rate." + key, hr[key], ref[key])
    check(js["stale"] == ref["stale"], "%s: stale %r vs %r" % (what, js["stale"], ref["stale"]))
    eq("load.trimp_edwards", js["load"]["trimp_edwards"], ref["trimp_edwards"])
    eq("load.trimp_banister", js["load"]["trimp_banister"], ref["trimp_banister"])
    eq("hrv.rmssd_ms", js["hrv"]["rmssd_ms"], ref["rmssd"])
    eq("hrv.rolling_rmssd_ms", js["hrv"]["rolling_rmssd_ms"], ref["rolling_rmssd"])
    check(js["hrv"]["rr_count"] == ref["rr_count"],
          "%s: rr_count %r vs %r" % (what, js["hrv"]["rr_count"], ref["rr_count"]))


def read_csv(path):
    out = []
    with open(path, newline="") as f:
        lines = f.read().replace("\r\n", "\n").split("\n")
    for line in lines[1:]:
        if not line.strip():
            continue
        t, bpm, rr, contact = line.split(",")
        out.append({"t": float(t), "bpm": float(bpm),
                    "rr": [float(x) for x in rr.split()],
                    "contact": None if contact == "" else int(contact)})
    return out


def write_csv(path, samples):
    with open(path, "w") as f:
        f.write("t_s,bpm,rr_ms,contact\n")
        for s in samples:
            c = "" if s["contact"] is None else str(s["contact"])
            f.write("%r,%s,%s,%s\n" % (s["t"], fmt(s["bpm"]), " ".join(fmt(x) for x in s["rr"]), c))


def fmt(x):
    return str(int(x)) if float(x).is_integer() else repr(x)
