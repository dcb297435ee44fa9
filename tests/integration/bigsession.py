# SPDX-License-Identifier: MIT
"""A long session for the export tests and bench/export: a CSV of N samples
at 4 Hz (a 24 h session is 345,600), replayed into a database at --speed 0,
then exported from a fresh daemon on that database while its memory is
watched (VmRSS and the peak VmHWM from /proc/PID/status)."""

import os
import sys
import random
import time

from daemon_helpers import Daemon, wait_for

PROFILE = ["--hr-max", "185", "--hr-rest", "55"]


def write_csv(path, n, seed=11):
    """n samples 0.25 s apart: a drifting heart rate with RR lists, some
    unknown or lost contact, a few invalid rates and a gap every 50,000."""
    rnd = random.Random(seed)
    hr, t = 90.0, 0.0
    with open(path, "w") as f:
        f.write("t_s,bpm,rr_ms,contact\n")
        for i in range(n):
            t += 0.25
            if i % 50000 == 49999:
                t += 30  # longer than max_gap_s
            hr = min(max(hr + rnd.uniform(-1.5, 1.5), 55), 185)
            bpm = "0" if i % 9973 == 17 else "%d" % round(hr)
            rr = " ".join("%.4f" % (60000 / hr * rnd.uniform(0.97, 1.03))
                          for _ in range(rnd.choice((0, 1, 1, 2))))
            contact = "0" if i % 1009 == 3 else ("" if i % 7 == 0 else "1")
            f.write("%.2f,%s,%s,%s\n" % (t, bpm, rr, contact))
    return path


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def record(cardiod, csv, db, tmp, timeout=600):
    """Replay csv into db at --speed 0; the ended session object, or None (also
    when cardiod does not exit 0 on SIGTERM: ASan reports leaks there)."""
    d = Daemon(cardiod, ["--config", os.devnull, "--db", db, "--replay", csv, "--speed", "0",
                         *PROFILE], tmp)
    if not d.wait_ready(timeout=60):
        d.stop()
        return None
    s = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "ended"
                          else None)(d.get_json("/session")), timeout=timeout, step=0.5)
    rc = d.stop()
    if rc != 0:
        print("FAIL: cardiod exited %r on SIGTERM after the replay: %s"
              % (rc, d.read_log()[-2000:]), file=sys.stderr)
        return None
    return s


class Export:
    """A daemon on db (no source), and GET …/samples with its memory cost."""

    def __init__(self, cardiod, db, tmp):
        self.d = Daemon(cardiod, ["--config", os.devnull, "--db", db, *PROFILE], tmp)
        self.ok = self.d.wait_ready(timeout=60)
        if self.ok:
            self.d.get_json("/healthz")  # warm: SQLite, MHD, the first connection
            self.pid = self.d.proc.pid
            self.rss0 = status_kib(self.pid, "VmRSS")
            self.hwm0 = status_kib(self.pid, "VmHWM")

    def get(self, session_id, fmt):
        """(status, body, seconds, VmHWM KiB after)."""
        path = "/sessions/%d/samples%s" % (session_id, "?format=csv" if fmt == "csv" else "")
        t0 = time.monotonic()
        status, data = self.d.request("GET", path)
        return status, data, time.monotonic() - t0, status_kib(self.pid, "VmHWM")

    def stop(self):
        return self.d.stop()
