#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""GET /sessions/{id}/samples is streamed with bounded memory.

A long session (200,000 samples at 4 Hz, replayed at --speed 0) is
exported as CSV and as JSON by a fresh cardiod on its database, while its
peak RSS (VmHWM) is watched: it may grow by less than 16 MiB (built in
memory, the JSON answer took ~150 MiB).  The CSV re-analyses (cardioctl
analyze --json) to the figures of the replayed file and of the stored
session, and the JSON holds the same samples.  Then a session still
being recorded (samples committed twice a second, the rest queued) exports
a prefix of its file, and after its end the whole file.

Usage: test-export.py CARDIOD CARDIOCTL [SAMPLES]
"""

import csv
import io
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, analyze, compare, wait_for  # noqa: E402
import bigsession  # noqa: E402

CARDIOD, CARDIOCTL = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
MAX_GROWTH_KIB = 16 * 1024
t = Checker("test-export")
tmp = tempfile.mkdtemp(prefix="cardiod-export-")


def instrumented(exe):
    """ASan keeps freed memory in quarantine, valgrind has its own heap: RSS means little."""
    with open(exe, "rb") as f:
        return b"__asan_init" in f.read() or bool(os.environ.get("CARDIOD_WRAPPER"))


def rows(text):
    """CSV text as (t_s, bpm, [rr...], contact) tuples, numbers parsed."""
    out = []
    r = csv.reader(io.StringIO(text))
    if next(r, None) != ["t_s", "bpm", "rr_ms", "contact"]:
        return None
    for t_s, bpm, rr, contact in r:
        out.append((float(t_s), float(bpm), [float(x) for x in rr.split()],
                    None if contact == "" else int(contact)))
    return out


def json_rows(samples):
    return [(s["t_s"], s["bpm"], s["rr_ms"], s["contact"]) for s in samples]


def write(name, data):
    p = os.path.join(tmp, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def test_long_session():
    src = bigsession.write_csv(os.path.join(tmp, "long.csv"), N)
    with open(src) as f:
        src_rows = rows(f.read())
    db = os.path.join(tmp, "long.db")
    s = bigsession.record(CARDIOD, src, db, tmp)
    if not t.check(s is not None, "the replay of %d samples ended its session" % N):
        return
    x = bigsession.Export(CARDIOD, db, tmp)
    if not t.check(x.ok, "cardiod starts on the database: %s" % x.d.read_log()[-400:]):
        return
    st_csv, body_csv, secs_csv, hwm_csv = x.get(s["id"], "csv")
    st_json, body_json, secs_json, hwm_json = x.get(s["id"], "json")
    st_404, _, _, _ = x.get(s["id"] + 1, "csv")
    growth = max(hwm_csv, hwm_json) - x.hwm0
    print("%d samples: CSV %.1f MiB in %.2f s, JSON %.1f MiB in %.2f s; VmRSS %.1f MiB, "
          "VmHWM %.1f -> %.1f MiB (+%.1f MiB)" %
          (N, len(body_csv) / 2**20, secs_csv, len(body_json) / 2**20, secs_json,
           x.rss0 / 1024, x.hwm0 / 1024, max(hwm_csv, hwm_json) / 1024, growth / 1024))
    t.check(x.stop() == 0, "clean exit after the exports")
    t.check(st_csv == 200 and st_json == 200, "exports answered 200: %d, %d" % (st_csv, st_json))
    t.check(st_404 == 404, "an unknown session is a 404: %d" % st_404)
    if instrumented(CARDIOD):
        print("peak RSS not checked: instrumented build")
    else:
        t.check(growth < MAX_GROWTH_KIB, "peak RSS grew by less than 16 MiB over both exports: "
                "%d KiB" % growth)

    exported = rows(body_csv.decode())
    t.check(exported == src_rows, "the CSV export holds the replayed samples: %d vs %d rows" %
            (len(exported or []), len(src_rows)))
    path = write("long-export.csv", body_csv)
    again = analyze(CARDIOCTL, path, *bigsession.PROFILE)
    ref = analyze(CARDIOCTL, src, *bigsession.PROFILE)
    diffs = compare(again, ref)
    t.check(not diffs, "the export re-analyses as the file it came from: %s" % diffs[:5])
    diffs = compare(again, s)
    t.check(not diffs, "the export re-analyses to the session's figures: %s" % diffs[:5])
    try:
        js = json.loads(body_json)
    except ValueError as e:
        js = {"error": str(e)}
    t.check(body_json.endswith(b"]}\n") and list(js) == ["samples"],
            "the JSON answer is {\"samples\": [...]}\\n: %.80r" % body_json[-80:])
    same = json_rows(js.get("samples", [])) == exported
    t.check(same, "the JSON export holds the same samples as the CSV")


def test_active_session():
    n = 20000
    src = bigsession.write_csv(os.path.join(tmp, "active.csv"), n, seed=5)
    with open(src) as f:
        src_rows = rows(f.read())
    # 4 Hz at --speed 1000: 4000 samples a second, committed twice a second.
    d = Daemon(CARDIOD, ["--config", os.devnull, "--db", os.path.join(tmp, "active.db"),
                         "--replay", src, "--speed", "1000", "--commit-interval", "0.5",
                         *bigsession.PROFILE], tmp)
    if not t.check(d.wait_ready(), "active: daemon ready: %s" % d.read_log()[-400:]):
        d.stop()
        return
    s = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("samples", 0) >= 4000
                          else None)(d.get_json("/session")), timeout=30, step=0.02)
    if not t.check(s and s["state"] == "active", "active: a session under way: %r" % (s,)):
        d.stop()
        return
    _, h = d.get_json("/healthz")
    queued = h["store"]["pending_samples"] if h else -1
    status, body = d.request("GET", "/sessions/%d/samples?format=csv" % s["id"])
    part = rows(body.decode()) if status == 200 else None
    status_j, js = d.get_json("/sessions/%d/samples" % s["id"])
    part_j = json_rows(js["samples"]) if status_j == 200 and js else None
    print("active session: %d samples exported while recording (%d were queued just before)" %
          (len(part or []), queued))
    t.check(part and 4000 <= len(part) < n and part == src_rows[:len(part)],
            "active: the CSV export is a prefix of the file: %d rows" % len(part or []))
    t.check(part_j and len(part_j) >= len(part or []) and part_j == src_rows[:len(part_j)],
            "active: the JSON export too: %d samples" % len(part_j or []))
    ended = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "ended"
                              else None)(d.get_json("/session")), timeout=60)
    t.check(ended is not None, "active: the session ended")
    status, body = d.request("GET", "/sessions/%d/samples?format=csv" % s["id"])
    t.check(status == 200 and rows(body.decode()) == src_rows,
            "active: after its end, the whole file")
    t.check(d.stop() == 0, "active: clean exit")


test_long_session()
test_active_session()
shutil.rmtree(tmp, ignore_errors=True)
t.finish()
