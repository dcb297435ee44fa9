#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Hostile local HTTP clients (issue 8) against the real cardiod with a
simulated strap: twice the connection limit held open as slowloris, junk
(oversized headers and bodies, invalid HTTP, random bytes, smuggling
attempts) from two more clients, while a prober times GET /healthz.

Asserted: every probe answered 200 (each within a generous 2 s: speed is
a benchmark, printed here and measured by bench/hostile, not a test
gate); no junk request ever got a 2xx it should not; RSS bounded after the
attack; the daemon holds no more connections than its configured cap
(plus what is being closed); idle and dribbling sockets closed within the
configured HTTP timeout (3 s here, [http] timeout_s; 10 by default), with
a margin, and not before it; the session stays live.

Usage: test-hostile-http.py CARDIOD
"""

import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, wait_for  # noqa: E402
import hostile  # noqa: E402

CARDIOD = sys.argv[1]
LIMIT = 32           # [http] max_connections (default 64)
TIMEOUT_S = 3        # [http] timeout_s (default 10)
MARGIN_S = 3         # generous: the deadline timer is exact, the loop may be busy
PROBES = int(os.environ.get("HOSTILE_PROBES", "250"))
t = Checker("test-hostile-http")
tmp = tempfile.mkdtemp(prefix="cardiod-hostile-")
conf = os.path.join(tmp, "http.conf")
with open(conf, "w") as f:
    f.write("[http]\nmax_connections = %d\ntimeout_s = %d\n" % (LIMIT, TIMEOUT_S))


def asan(exe):
    with open(exe, "rb") as f:
        return b"__asan_init" in f.read()


def samples(d):
    status, s = d.get_json("/session")
    return s.get("samples", 0) if status == 200 and s else -1


d = Daemon(CARDIOD, ["--config", conf, "--db", os.path.join(tmp, "h.db"), "--simulate=1"], tmp)
if not t.check(d.wait_ready(), "daemon ready: %s" % d.read_log()[-400:]):
    d.stop()
    t.finish()
pid = d.proc.pid
wait_for(lambda: samples(d) >= 1, timeout=10)
n0 = samples(d)
rss0 = hostile.rss_kib(pid)
fds0 = hostile.open_fds(pid)

attack = hostile.Attack(d.port, 2 * LIMIT)
attack.start()
time.sleep(1.5)  # the idle sockets are in place
# The configured cap holds: 2 x LIMIT sockets offered, about LIMIT kept (MHD
# closes the evicted ones on its next run: allow a few in flight).
held = 0
for _ in range(20):
    held = max(held, hostile.open_fds(pid) - fds0)
    time.sleep(0.05)
print("connections held under attack: at most %d (max_connections %d)" % (held, LIMIT))
t.check(held <= LIMIT + 8, "at most max_connections (%d) + 8 held: %d" % (LIMIT, held))
lat, failures = hostile.probe(d.port, PROBES, 0.02, timeout=2.0)
attack.stop()
print(attack.summary())
print("healthz under attack: %d probes, %d answered; p50 %.1f ms, p99 %.1f ms, max %.1f ms "
      "(benchmark; target p99 <= 100 ms)" %
      (PROBES, len(lat), 1000 * hostile.percentile(lat, 50), 1000 * hostile.percentile(lat, 99),
       1000 * max(lat or [float("nan")])))
t.check(not failures, "every /healthz probe answered 200 within 2 s: %d failed (%r)" %
        (len(failures), failures[:5]))
# The server keeps at most LIMIT of them (each arrival over it evicts the oldest).
t.check(attack.opened >= 2 * LIMIT, "the attack opened 2x the limit: %d" % attack.opened)
t.check(attack.cut > 0, "the server cut slowloris sockets: %d" % attack.cut)
# Valid requests among the junk may be served: pipelined ones, a folded
# X-A header (which then carries no Content-Length), bare-LF line ends
# (RFC 9112 §2.2 lets a recipient accept them; MHD does).
bad = {k: v for k, v in attack.junk.items()
       if k not in ("pipelined-100", "obs-fold", "bare-lf") and any(
           isinstance(s, int) and 200 <= s < 300 for s in v)}
t.check(not bad, "no junk request was served: %r" % bad)
t.check(d.proc.poll() is None, "daemon alive after the attack")

# Memory bounded: a few MiB over the start (ASan builds carry their own heap bookkeeping).
time.sleep(0.5)
rss1 = hostile.rss_kib(pid)
print("RSS: %.1f MiB before, %.1f MiB after the attack" % (rss0 / 1024, rss1 / 1024))
if not asan(CARDIOD) and not os.environ.get("CARDIOD_WRAPPER"):  # valgrind has its own
    t.check(rss1 < 64 * 1024, "RSS after the attack below 64 MiB: %d KiB" % rss1)
    t.check(rss1 - rss0 < 32 * 1024, "RSS growth below 32 MiB: %d KiB" % (rss1 - rss0))

# Idle (silent) and dribbling sockets are closed at the configured timeout.
socks = []
for i in range(16):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=2)
    if i % 2:
        s.sendall(hostile.PARTIAL)
    s.setblocking(False)
    socks.append(s)
t0 = time.monotonic()
closed = {}
while len(closed) < len(socks) and time.monotonic() - t0 < TIMEOUT_S + MARGIN_S + 5:
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            data = s.recv(4096)
            if not data:
                closed[i] = time.monotonic() - t0
        except BlockingIOError:
            if i % 2 and int((time.monotonic() - t0) * 10) % 10 == 0:
                try:
                    s.send(b"X-Still-Here: 1\r\n")  # dribble: never idle for long
                except OSError:
                    pass
        except OSError:
            closed[i] = time.monotonic() - t0
    time.sleep(0.05)
for s in socks:
    s.close()
worst = max(closed.values()) if closed else float("inf")
first = min(closed.values()) if closed else 0
print("idle/dribbling sockets closed after %.1f to %.1f s (timeout %d s)" %
      (first, worst, TIMEOUT_S))
t.check(len(closed) == len(socks) and worst <= TIMEOUT_S + MARGIN_S,
        "idle and dribbling sockets closed within %d + %d s: %d of %d, worst %.1f s" %
        (TIMEOUT_S, MARGIN_S, len(closed), len(socks), worst))
t.check(first >= TIMEOUT_S - 1, "and not before the timeout: first after %.1f s" % first)
fds = hostile.open_fds(pid)
t.check(fds < 40, "no sockets left behind: %d fds open" % fds)

# The session stayed live through it all.
n1 = samples(d)
t.check(n1 > n0, "session live: samples %d -> %d" % (n0, n1))
status, h = d.get_json("/healthz")
t.check(status == 200 and h and h.get("status") == "ok", "healthz ok after: %r" % (h,))
rc = d.stop()
t.check(rc == 0, "clean exit: %r" % rc)
t.finish()
