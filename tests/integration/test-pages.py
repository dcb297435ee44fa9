#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The live page (/) and the OBS overlay (/overlay) in a real headless
Chromium (DESIGN §9.3), against a replayed session.

Asserts what a person would see: the live bpm (one of the file's values) in
its zone's colour with the zone's name, the disclaimer, the dose panel, and
"stale" with no number once the strap stops; the overlay's bpm and its
heart beating at that rate.  No request may leave the machine (Chromium
resolves only localhost and has a dead proxy; every request it makes is
logged and checked) and no Content-Security-Policy violation may occur.
Screenshots (light, dark, phone, overlay styles, stale) go to ARTIFACTS.
Headers: CSP, nosniff, ETag and 304, the Host check.

Chromium is heavy: as root (CI) the test installs Debian's chromium when it
is missing; otherwise it skips (exit 77) with the reason.

usage: test-pages.py CARDIOD ARTIFACTS
"""

import fcntl
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon  # noqa: E402
import cdp  # noqa: E402

SKIP = 77
SPEED = 2


def ensure_chromium():
    """Debian's chromium, installed here when root (CI), as the bluez-vm suite does."""
    exe = cdp.find_chromium()
    if exe:
        return exe
    if os.geteuid() != 0:
        print("SKIP: chromium is not installed and this is not root "
              "(apt-get install chromium, or run as root to let the test install it)")
        sys.exit(SKIP)
    if os.environ.get("CARDIOD_PAGES_INSTALL", "1") != "1":
        print("SKIP: chromium is not installed (CARDIOD_PAGES_INSTALL=0)")
        sys.exit(SKIP)
    if not shutil.which("apt-get"):
        print("SKIP: chromium is not installed and there is no apt-get")
        sys.exit(SKIP)
    # One install at a time: the gcc and the clang tree may run this test together.
    with open("/var/tmp/cardiod-chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        exe = cdp.find_chromium()
        if exe:
            return exe
        print("pages: installing chromium (about 300 MB)", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        ok = subprocess.run(["timeout", "300", "apt-get", "update", "-qq"], env=env,
                            stdout=subprocess.DEVNULL).returncode == 0
        ok = ok and subprocess.run(["timeout", "600", "apt-get", "install", "-y", "-qq",
                                    "--no-install-recommends", "chromium"], env=env,
                                   stdout=subprocess.DEVNULL).returncode == 0
    exe = cdp.find_chromium()
    if not ok or not exe:
        print("SKIP: installing chromium failed")
        sys.exit(SKIP)
    return exe


def make_csv(path, n=80):
    """1 Hz around 150 bpm: Z4 (80-90 % of the default hr_max 180)."""
    bpms = []
    with open(path, "w") as f:
        f.write("t_s,bpm,rr_ms,contact\n")
        for i in range(n):
            bpm = 148 + (i % 5)
            bpms.append(bpm)
            f.write("%d,%d,%.3f,1\n" % (i, bpm, 60000.0 / bpm))
    return bpms


def get(port, path, headers=None, host=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Host": host or "localhost:%d" % port}
    h.update(headers or {})
    c.request("GET", path, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def check_headers(ck, port):
    for path in ("/", "/overlay", "/static/app.js", "/static/style.css", "/static/overlay.js"):
        st, h, body = get(port, path)
        ck.check(st == 200 and len(body) > 100, "GET %s: 200 with a body (%s)" % (path, st))
        ck.check(h.get("content-security-policy") == "default-src 'self'",
                 "%s: CSP default-src 'self' (%r)" % (path, h.get("content-security-policy")))
        ck.check(h.get("x-content-type-options") == "nosniff", "%s: nosniff" % path)
        etag = h.get("etag", "")
        ck.check(re.fullmatch(r'"[0-9a-f]+"', etag) is not None, "%s: a strong ETag" % path)
        ck.check("cache-control" in h, "%s: Cache-Control" % path)
        st2, h2, body2 = get(port, path, {"If-None-Match": etag})
        ck.check(st2 == 304 and body2 == b"", "%s: 304 on If-None-Match (%s)" % (path, st2))
        st3, _, _ = get(port, path, {"If-None-Match": '"other"'})
        ck.check(st3 == 200, "%s: 200 for another ETag" % path)
    st, h, body = get(port, "/")
    html = body.decode()
    ck.check("<script>" not in html and " style=" not in html and " onload=" not in html,
             "no inline script or style in /")
    ck.check(not re.search(r'(src|href)="(https?:)?//', html), "no external resource in /")
    ck.check(get(port, "/static/nope.js")[0] == 404, "unknown static file: 404")
    ck.check(get(port, "/", host="evil.example")[0] == 421, "foreign Host on /: 421")
    ck.check(get(port, "/overlay", host="evil.example:%d" % port)[0] == 421,
             "foreign Host on /overlay: 421")


def main():
    cardiod, artifacts = sys.argv[1], sys.argv[2]
    exe = ensure_chromium()
    os.makedirs(artifacts, exist_ok=True)
    ck = Checker("pages")
    tmp = tempfile.mkdtemp(prefix="cardiod-pages-")
    csv = os.path.join(tmp, "ride.csv")
    bpms = make_csv(csv)

    d = Daemon(cardiod, ["--db", os.path.join(tmp, "db.sqlite"), "--replay", csv,
                         "--speed", str(SPEED), "--stale-after", "3"], tmp)
    if not d.wait_ready():
        print(d.read_log(), file=sys.stderr)
        sys.exit("cardiod did not start")
    port = d.port
    base = "http://localhost:%d" % port
    check_headers(ck, port)

    b = cdp.Browser(exe)
    try:
        # The overlay: transparent, the bpm in its zone colour, a heart at the rate.
        b.size(600, 200)
        b.transparent()
        b.navigate(base + "/overlay?device=replay-1")
        txt = b.wait("(() => { const t = document.getElementById('bpm').textContent;"
                     " return /^[0-9]+$/.test(t) ? t : null; })()")
        ck.check(txt is not None and int(txt) in bpms,
                 "the overlay shows a live bpm from the file (%r)" % txt)
        ov = b.eval("(() => { const o = document.getElementById('overlay');"
                    " const h = o.querySelector('.heart');"
                    " return {cls: o.className, bpm: document.getElementById('bpm').textContent,"
                    " dur: getComputedStyle(h).animationDuration,"
                    " bg: getComputedStyle(document.body).backgroundColor}; })()")
        ck.check("zone-4" in ov["cls"], "the overlay is in zone 4's colour (%r)" % ov["cls"])
        try:
            dur = float(ov["dur"].rstrip("s"))
            ck.check(abs(dur - 60.0 / int(ov["bpm"])) < 0.01,
                     "the heart beats at the rate (%s for %s bpm)" % (ov["dur"], ov["bpm"]))
        except ValueError:
            ck.check(False, "heart animation duration %r" % ov["dur"])
        ck.check(ov["bg"] in ("rgba(0, 0, 0, 0)", "transparent"),
                 "the overlay's background is transparent (%r)" % ov["bg"])
        b.screenshot(os.path.join(artifacts, "overlay-light.png"))
        b.dark(True)
        b.screenshot(os.path.join(artifacts, "overlay-dark.png"))
        b.dark(False)
        for style in ("minimal", "card"):
            b.navigate(base + "/overlay?device=replay-1&style=" + style)
            ok = b.wait("/^[0-9]+$/.test(document.getElementById('bpm').textContent) && "
                        "document.body.className")
            ck.check(ok == "style-" + style, "overlay style %s applies (%r)" % (style, ok))
            b.screenshot(os.path.join(artifacts, "overlay-%s.png" % style))

        # The live page.
        b.call("Emulation.clearDeviceMetricsOverride")
        b.call("Emulation.setDefaultBackgroundColorOverride")
        b.size(1200, 1000)
        b.navigate(base + "/")
        sel = "document.querySelector('.strap[data-device=\"replay-1\"]')"
        txt = b.wait("(() => { const c = %s; if (!c) return null;"
                     " const t = c.querySelector('.value').textContent;"
                     " return /^[0-9]+$/.test(t) ? t : null; })()" % sel)
        ck.check(txt is not None and int(txt) in bpms,
                 "the page shows a live bpm from the file (%r)" % txt)
        card = b.eval("(() => { const c = %s; return {cls: c.className,"
                      " zone: c.querySelector('.zone-label').textContent,"
                      " state: c.querySelector('.state').textContent,"
                      " colour: getComputedStyle(c.querySelector('.value')).color,"
                      " z4: getComputedStyle(document.documentElement)"
                      ".getPropertyValue('--z4').trim()}; })()" % sel)
        ck.check("zone-4" in card["cls"] and card["zone"].startswith("Z4"),
                 "the strap shows zone 4 (%r, %r)" % (card["cls"], card["zone"]))
        ck.check(card["state"] == "live", "the strap is live (%r)" % card["state"])
        ck.check(b.wait("!document.getElementById('session-panel').hidden && "
                        "document.querySelectorAll('#dose li').length >= 4 && "
                        "document.querySelectorAll('#zones tr').length === 6"),
                 "the session panel shows dose progress and six zones")
        dose = b.eval("[...document.querySelectorAll('#dose li')].map(l => l.textContent)"
                      ".join(' | ')") or ""
        ck.check("20 min" in dose and "40 min" in dose and "60 min" in dose and "ECB" in dose,
                 "dose progress toward mvpa_20, mvpa_40, duration_60 and the ECB band: %r" % dose)
        disc = b.eval("(() => { const d = document.getElementById('disclaimer');"
                      " const r = d.getBoundingClientRect();"
                      " return r.height > 0 && getComputedStyle(d).display !== 'none'"
                      " ? d.textContent.replace(/\\s+/g, ' ') : null; })()")
        ck.check(disc is not None and "not a diagnosis or treatment" in disc
                 and "mental-health practitioner" in disc, "the disclaimer is shown: %r" % disc)
        ck.check(b.wait("document.querySelectorAll('#chart').length === 1 && "
                        "document.getElementById('chart').width > 0"), "the 10-minute chart")
        week_hidden = b.eval("document.getElementById('week-panel').hidden")
        week_status = get(port, "/summary")[0]
        ck.check(week_hidden == (week_status != 200),
                 "the weekly panel shows exactly when /summary answers 200 (%s)" % week_status)
        b.screenshot(os.path.join(artifacts, "index-light.png"))
        b.dark(True)
        dark_bg = b.eval("getComputedStyle(document.body).backgroundColor")
        ck.check(dark_bg not in ("rgb(246, 247, 249)",), "dark mode changes the page (%r)" % dark_bg)
        b.screenshot(os.path.join(artifacts, "index-dark.png"))
        b.size(390, 844, mobile=True)
        b.screenshot(os.path.join(artifacts, "index-phone-dark.png"))
        b.dark(False)
        b.size(1200, 1000)

        # The strap stops (end of the replay): no frozen number, "stale" instead.
        stale = b.wait("(() => { const c = %s; const v = c.querySelector('.value').textContent;"
                       " const s = c.querySelector('.state').textContent;"
                       " return v === '—' && /stale/.test(s) ? s : null; })()" % sel,
                       timeout=len(bpms) / SPEED + 30)
        ck.check(stale is not None, "after the strap stops the page shows stale and no bpm (%r)"
                 % stale)
        ck.check(b.wait("document.querySelectorAll('#recent .session-item').length >= 1"),
                 "recent sessions list the replayed one")
        ck.check(b.wait("(() => { const c = document.querySelector('#recent canvas.mini');"
                        " return c && c.width > 0; })()"), "recent sessions have a chart")
        b.screenshot(os.path.join(artifacts, "index-stale.png"))

        reqs = b.requests()
        off = [u for u in reqs if not (u.startswith(base + "/") or u.startswith("data:")
                                       or u.startswith("about:"))]
        ck.check(len(reqs) > 5 and not off, "every request stays on this machine (%d; off: %r)"
                 % (len(reqs), off[:5]))
        ck.check(any(u.startswith(base + "/events") for u in reqs), "the pages follow /events")
        problems = b.console_problems()
        ck.check(not [p for p in problems if "Content Security Policy" in p],
                 "no CSP violation: %r" % problems)
    finally:
        b.close()
        d.stop()
    print("screenshots in %s" % artifacts)
    ck.finish()


if __name__ == "__main__":
    main()
