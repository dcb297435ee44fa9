# SPDX-License-Identifier: MIT
"""Hostile local HTTP clients against a running cardiod (issue 8), shared
by tests/integration/test-hostile-http.py and bench/hostile.

Attack: NIDLE sockets held open as slowloris (a partial request header,
one more header line every DRIBBLE_S, reconnecting at a bounded rate when
the server cuts one), plus junk senders looping over oversized headers and
bodies, invalid HTTP, random bytes and request-smuggling attempts.
Prober: GET /healthz on a fresh connection, one after another, timing
each from connect() to the last byte of the answer.
"""

import math
import os
import random
import selectors
import socket
import threading
import time

PARTIAL = b"GET /session HTTP/1.1\r\nHost: localhost\r\n"
DRIBBLE_S = 1.0


def junk_payloads(rnd):
    """(name, bytes) of one hostile request."""
    big = b"a" * (64 * 1024)
    kinds = [
        ("huge-header", b"GET /session HTTP/1.1\r\nHost: localhost\r\nX-Big: " + big +
         b"\r\n\r\n"),
        ("many-headers", b"GET /session HTTP/1.1\r\nHost: localhost\r\n" +
         b"".join(b"X-%d: 1\r\n" % i for i in range(4000)) + b"\r\n"),
        ("huge-uri", b"GET /session?" + big + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("huge-body", b"POST /session/start HTTP/1.1\r\nHost: localhost\r\n"
         b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n" +
         b"{" * (256 * 1024)),
        ("endless-chunked", b"POST /session/stop HTTP/1.1\r\nHost: localhost\r\n"
         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
         (b"1000\r\n" + b" " * 4096 + b"\r\n") * 64),
        ("bad-chunk", b"POST /session/stop HTTP/1.1\r\nHost: localhost\r\n"
         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"zz\r\n{}\r\n0\r\n\r\n"),
        ("te-cl", b"POST /session/stop HTTP/1.1\r\nHost: localhost\r\n"
         b"Content-Type: application/json\r\nContent-Length: 4\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n"
         b"Host: localhost\r\n\r\n"),
        ("dup-cl", b"POST /session/stop HTTP/1.1\r\nHost: localhost\r\n"
         b"Content-Type: application/json\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n"
         b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("te-obfuscated", b"POST /session/stop HTTP/1.1\r\nHost: localhost\r\n"
         b"Content-Type: application/json\r\nTransfer-Encoding: xchunked\r\n"
         b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        ("obs-fold", b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n"
         b" Content-Length: 44\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("bad-version", b"GET /session HTTP/9.9\r\nHost: localhost\r\n\r\n"),
        ("no-version", b"GET /session\r\n\r\n"),
        ("garbage-line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
        ("bare-lf", b"GET /session HTTP/1.1\nHost: localhost\n\n"),
        ("nul-in-header", b"GET /session HTTP/1.1\r\nHost: local\x00host\r\n\r\n"),
        ("evil-host", b"GET /session HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
        ("absolute-form", b"GET http://evil.example/session HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("bad-json", b"POST /session/start HTTP/1.1\r\nHost: localhost\r\n"
         b"Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"device\""),
        ("pipelined-100", (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n") * 100),
    ]
    name, data = kinds[rnd.randrange(len(kinds) + 2) % len(kinds)] \
        if rnd.random() < 0.8 else ("random", os.urandom(rnd.randrange(1, 8192)))
    return name, data


class Attack:
    def __init__(self, port, n_idle, junk_threads=2, seed=1):
        self.port = port
        self.n_idle = n_idle
        self.junk_threads = junk_threads
        self.stop_ev = threading.Event()
        self.threads = []
        self.lock = threading.Lock()
        self.opened = 0          # slowloris connections opened
        self.cut = 0             # ... closed by the server
        self.held_max = 0        # most held open at once
        self.junk = {}           # name -> {status or 'closed': count}
        self.errors = []
        self.seed = seed

    def _connect(self, timeout=2.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def _slowloris(self):
        sel = selectors.DefaultSelector()
        socks = {}  # sock -> next dribble time
        last_connect = 0.0
        while not self.stop_ev.is_set():
            now = time.monotonic()
            # Reconnect at a bounded rate (100/s) so the attack is a flood, not a fork bomb.
            while len(socks) < self.n_idle and now - last_connect >= 0.01:
                try:
                    s = self._connect()
                    s.sendall(PARTIAL)
                    s.setblocking(False)
                except OSError:
                    break
                socks[s] = now + DRIBBLE_S
                sel.register(s, selectors.EVENT_READ)
                with self.lock:
                    self.opened += 1
                last_connect = now = time.monotonic()
            with self.lock:
                self.held_max = max(self.held_max, len(socks))
            for key, _ in sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    del socks[s]
                    with self.lock:
                        self.cut += 1
            now = time.monotonic()
            for s, t in list(socks.items()):
                if now >= t:
                    try:
                        s.send(b"X-Dribble: %d\r\n" % int(now * 1000))
                    except OSError:
                        pass
                    socks[s] = now + DRIBBLE_S
        for s in socks:
            s.close()
        sel.close()

    def _junk(self, seed):
        rnd = random.Random(seed)
        while not self.stop_ev.is_set():
            name, data = junk_payloads(rnd)
            result = "closed"
            try:
                s = self._connect(timeout=2.0)
                try:
                    s.sendall(data)
                except OSError:
                    pass
                s.settimeout(1.0)
                try:
                    first = s.recv(64)
                    if first.startswith(b"HTTP/1."):
                        result = int(first.split()[1])
                except (OSError, ValueError, IndexError):
                    pass
                s.close()
            except OSError as e:
                result = "connect:" + type(e).__name__
            with self.lock:
                d = self.junk.setdefault(name, {})
                d[result] = d.get(result, 0) + 1

    def start(self):
        self.threads.append(threading.Thread(target=self._slowloris, daemon=True))
        for i in range(self.junk_threads):
            self.threads.append(threading.Thread(target=self._junk, args=(self.seed + i,),
                                                 daemon=True))
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(10)

    def summary(self):
        with self.lock:
            n = sum(sum(v.values()) for v in self.junk.values())
            ok = {k: v.get(200, 0) for k, v in self.junk.items() if v.get(200)}
            return ("slowloris: %d opened, %d cut by the server, at most %d held at once; "
                    "junk: %d requests (2xx only for: %s)" %
                    (self.opened, self.cut, self.held_max, n, ok or "none"))


def probe_once(port, timeout=2.0):
    """Latency in seconds of one GET /healthz on a new connection, or None."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.settimeout(max(0.01, timeout - (time.monotonic() - t0)))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        return None, "error"
    dt = time.monotonic() - t0
    if not data.startswith(b"HTTP/1.1 200") or b'"status"' not in data:
        return None, data[:40]
    return dt, None


def probe(port, n, interval, timeout=2.0):
    """n sequential probes; returns (latencies of the answered ones, failures)."""
    lat, failures = [], []
    for _ in range(n):
        dt, why = probe_once(port, timeout)
        if dt is None:
            failures.append(why)
        else:
            lat.append(dt)
        time.sleep(interval)
    return lat, failures


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)  # nearest rank
    return v[min(len(v) - 1, max(0, math.ceil(p / 100.0 * len(v)) - 1))]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))
