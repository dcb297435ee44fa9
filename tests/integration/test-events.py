#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""GET /events (DESIGN §9.2) against a replayed session, with raw sockets.

One cardiod replays a generated 1 Hz session (warm-up, then moderate long
enough for mvpa_20) at --speed 100 while a simulated strap runs beside it,
with [http] max_event_streams = 4.  Checked: the snapshot (device and
session events, no id lines) then consecutive ids; hr events in the file's
order with its bpm; zone, milestone and session events; resumption with
Last-Event-ID (exactly the events after it, byte for byte, no snapshot); an
unknown id gets a snapshot; ?device= filters; ": ping" comments; the fifth stream gets 503
with a JSON error; a client that stops reading loses its stream while the
others keep receiving every event.

usage: test-events.py CARDIOD
"""

import json
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker, Daemon, wait_for  # noqa: E402

SPEED = 100


def make_csv(path, n=2400):
    """1 Hz: 300 s from 80 to 150 bpm, then 150 bpm (moderate/vigorous for hr_max 180)."""
    bpms = []
    with open(path, "w") as f:
        f.write("t_s,bpm,rr_ms,contact\n")
        for i in range(n):
            bpm = 80 + (70 * i) // 300 if i < 300 else 150
            bpms.append(bpm)
            f.write("%d,%d,%.3f,1\n" % (i, bpm, 60000.0 / bpm))
    return bpms


class Stream:
    """One /events connection, parsed into events: dict(id, event, data, raw)."""

    def __init__(self, port, query="", last_id=None, rcvbuf=None, read=True, close=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        req = "GET /events%s HTTP/1.1\r\nHost: localhost:%d\r\nAccept: text/event-stream\r\n" % (
            query, port)
        if last_id is not None:
            req += "Last-Event-ID: %s\r\n" % last_id
        if close:
            req += "Connection: close\r\n"
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        self.events = []
        self.status = None
        self.headers = {}
        self.body = b""
        self.closed = False
        self.lock = threading.Lock()
        self.thread = None
        if read:
            self._read_head()

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("closed before the headers")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.raw = b""  # de-chunked body

    def _dechunk(self):
        if not self.chunked:
            self.raw += self.buf
            self.buf = b""
            return
        while True:
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                return
            size = int(self.buf[:nl].split(b";")[0], 16)
            if len(self.buf) < nl + 2 + size + 2:
                return
            self.raw += self.buf[nl + 2:nl + 2 + size]
            self.buf = self.buf[nl + 2 + size + 2:]
            if size == 0:
                self.closed = True
                return

    def _parse(self):
        while b"\n\n" in self.raw:
            block, self.raw = self.raw.split(b"\n\n", 1)
            ev = {"id": None, "event": None, "data": None, "raw": block + b"\n\n", "comment": False}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    ev["comment"] = True
                elif line.startswith("id: "):
                    ev["id"] = int(line[4:])
                elif line.startswith("event: "):
                    ev["event"] = line[7:]
                elif line.startswith("data: "):
                    ev["data"] = json.loads(line[6:])
            with self.lock:
                self.events.append(ev)

    def pump(self, timeout=0.5):
        """Read what is there (up to timeout).  False once the stream ended."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        self._dechunk()
        self._parse()
        return not self.closed

    def follow(self):
        """Keep reading in the background until the socket closes."""
        def run():
            while self.pump(0.2) or not self.closed:
                if self.closed:
                    break
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def until(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if pred(self.events):
                    return True
            if self.thread is None:
                if not self.pump(0.2) and not pred(self.events):
                    return False
            else:
                time.sleep(0.05)
        with self.lock:
            return pred(self.events)

    def snapshot(self):
        return [e for e in self.events if e["id"] is None and not e["comment"]]

    def numbered(self):
        with self.lock:
            return [e for e in self.events if e["id"] is not None]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def device_of(ev):
    d = ev["data"]
    return d.get("id") if ev["event"] == "device" else d.get("device")


def main():
    cardiod = sys.argv[1]
    ck = Checker("events")
    tmp = tempfile.mkdtemp(prefix="cardiod-events-")
    csv = os.path.join(tmp, "ride.csv")
    bpms = make_csv(csv)

    d = Daemon(cardiod, ["--db", os.path.join(tmp, "db.sqlite"), "--replay", csv,
                         "--speed", str(SPEED), "--simulate=1", "--http-max-event-streams", "4",
                         "-v"], tmp)
    if not d.wait_ready():
        print(d.read_log(), file=sys.stderr)
        sys.exit("cardiod did not start")

    # A: reads everything, from the start.
    a = Stream(d.port)
    ck.check(a.status == 200, "GET /events answers 200 (got %s)" % a.status)
    ck.check(a.headers.get("content-type", "").startswith("text/event-stream"),
             "Content-Type text/event-stream (got %r)" % a.headers.get("content-type"))
    a.follow()
    ck.check(a.until(lambda evs: sum(1 for e in evs if e["id"]) >= 20),
             "A receives numbered events")
    snap = a.snapshot()
    ck.check(len(snap) >= 2 and all(e["event"] in ("device", "session") for e in snap),
             "A's stream starts with a snapshot of device/session events: %r"
             % [e["event"] for e in snap])
    ck.check(all(b"\nid:" not in e["raw"] and not e["raw"].startswith(b"id:") for e in snap),
             "snapshot events carry no id line")
    first_numbered = next(i for i, e in enumerate(a.events) if e["id"] is not None)
    ck.check(all(e["id"] is None for e in a.events[:first_numbered]),
             "the snapshot comes before the first numbered event")
    devs = {e["data"]["id"] for e in snap if e["event"] == "device"}
    ck.check({"replay-1", "sim-1"} <= devs, "the snapshot names both straps: %r" % devs)
    for e in snap:
        if e["event"] == "device":
            ck.check(set(e["data"]) == {"id", "name", "transport", "connected", "stale",
                                        "battery_pct"}, "device keys: %r" % sorted(e["data"]))
        if e["event"] == "session":
            ck.check(e["data"].get("state") == "active" and isinstance(e["data"].get("id"), int),
                     "snapshot session is active with an id: %r" % e["data"])

    # F: only sim-1.
    f = Stream(d.port, "?device=sim-1")
    ck.check(f.status == 200, "?device=sim-1 answers 200")
    f.follow()

    # N: connects and never reads again.
    n = Stream(d.port, rcvbuf=4096)
    ck.check(n.status == 200, "the non-reading client got its stream")
    n_from = (a.numbered() or [{"id": 0}])[-1]["id"]

    # B: reads a little, goes away; B2 resumes after the last id B saw.
    b = Stream(d.port)
    ck.check(b.until(lambda evs: sum(1 for e in evs if e["id"]) >= 30), "B receives events")

    # The cap: A, F, N, B are open; a fifth gets 503 with a JSON error.
    x = Stream(d.port, close=True)
    ck.check(x.status == 503, "the fifth stream is refused with 503 (got %s)" % x.status)
    while x.pump(1):
        pass
    try:
        err = json.loads(x.raw.decode() or x.buf.decode())
        ck.check(isinstance(err.get("error", {}).get("code"), str), "503 body is a JSON error")
    except ValueError:
        ck.check(False, "503 body is JSON: %r" % (x.raw or x.buf))
    x.close()

    k = b.numbered()[-1]["id"]
    b.close()
    time.sleep(0.3)
    b2 = Stream(d.port, last_id=k)
    ck.check(b2.status == 200, "a stream with Last-Event-ID answers 200")
    ck.check(b2.until(lambda evs: len(evs) >= 50), "the resumed stream receives events")
    evs = [e for e in b2.events if not e["comment"]]
    ck.check(evs[0]["id"] == k + 1,
             "resume starts exactly after Last-Event-ID %d (got %r)" % (k, evs[0]["id"]))
    ck.check(all(e["id"] is not None for e in evs), "a resumed stream has no snapshot")
    by_id = {e["id"]: e["raw"] for e in a.numbered()}
    same = [e["id"] for e in evs if e["id"] in by_id and by_id[e["id"]] == e["raw"]]
    ck.check(len(same) == len([e for e in evs if e["id"] in by_id]) and len(same) >= 20,
             "resumed events are the same bytes as A's (%d compared)" % len(same))
    b2.close()

    for bad in ("99999999999", "abc", "0"):
        time.sleep(0.1)
        u = Stream(d.port, last_id=bad)
        ck.check(u.until(lambda evs: len(evs) >= 1), "unknown Last-Event-ID %s: a stream" % bad)
        ck.check(u.events[0]["id"] is None and u.events[0]["event"] == "device",
                 "unknown Last-Event-ID %s starts a new stream with a snapshot" % bad)
        u.close()

    # Replay to its end (session ended), then check the whole sequence.
    ck.check(a.until(lambda evs: any(e["event"] == "session" and e["id"]
                                     and e["data"]["device"] == "replay-1"
                                     and e["data"]["state"] == "ended" for e in evs),
                     timeout=2400 / SPEED + 30),
             "A sees the replay's session end")
    num = a.numbered()
    ids = [e["id"] for e in num]
    ck.check(ids == list(range(ids[0], ids[0] + len(ids))),
             "A's ids increase by one (%d events)" % len(ids))
    hr = [e["data"] for e in num if e["event"] == "hr" and e["data"]["device"] == "replay-1"]
    ck.check(len(hr) > 500, "A received the replay's hr events (%d)" % len(hr))
    ts = [h["t"] for h in hr]
    ck.check(ts == sorted(ts) and len(set(ts)) == len(ts), "hr times strictly increase")
    # The replayed bpm in file order: the tail of A's hr events is the tail of the file.
    got = [h["bpm"] for h in hr]
    ck.check(got == bpms[len(bpms) - len(got):], "hr bpm follow the file, in order")
    ck.check(all(set(h) == {"device", "session", "t", "bpm", "zone", "rr_ms"} for h in hr),
             "hr keys")
    ck.check(all(isinstance(h["session"], int) and 0 <= h["zone"] <= 5 and len(h["rr_ms"]) == 1
                 for h in hr), "hr session id, zone 0..5, rr_ms")
    ck.check(all(h["t"].endswith("Z") and "T" in h["t"] for h in hr), "hr t is ISO 8601 UTC")
    ms = [e["data"] for e in num if e["event"] == "milestone"]
    ck.check(any(m["name"] == "mvpa_20" and m["device"] == "replay-1" for m in ms),
             "milestone mvpa_20 for replay-1: %r" % ms)
    zones = [e["data"] for e in num if e["event"] == "zone" and e["data"]["device"] == "replay-1"]
    ck.check(all(set(z) == {"device", "session", "old", "new"} and z["old"] != z["new"]
                 for z in zones), "zone events: %r" % zones[:3])
    # Each zone change comes with the hr events around it: the zone of the hr before and after.
    seq = [e for e in num if e["data"].get("device") == "replay-1" and e["event"] in ("hr", "zone")]
    ok = True
    for i, e in enumerate(seq):
        if e["event"] == "zone" and i > 0 and i + 1 < len(seq):
            prev_hr = next((p for p in reversed(seq[:i]) if p["event"] == "hr"), None)
            next_hr = next((p for p in seq[i + 1:] if p["event"] == "hr"), None)
            if prev_hr and next_hr and not (prev_hr["data"]["zone"] == e["data"]["old"] or
                                            next_hr["data"]["zone"] == e["data"]["new"]):
                ok = False
    ck.check(ok, "zone events agree with the hr zones around them")

    # Pings: a comment line every 15 s while the stream is open.
    ck.check(a.until(lambda evs: any(e["comment"] and e["raw"] == b": ping\n\n" for e in evs),
                     timeout=20), "A receives ': ping' comments")

    # F saw only sim-1, and some of it.
    ck.check(f.until(lambda evs: sum(1 for e in evs if e["event"] == "hr") >= 3),
             "the filtered stream receives sim-1 hr events")
    ck.check(all(device_of(e) == "sim-1" for e in f.events if not e["comment"]),
             "?device=sim-1 sends only sim-1 events: %r" % sorted({device_of(e) for e in f.events
                                                                  if not e["comment"]}))

    # N was dropped: the daemon says so, and its socket ends (after what the kernel held).
    ck.check(wait_for(lambda: "client is not reading" in d.read_log(), timeout=30),
             "the daemon closed the stream of the client that does not read")
    ended = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not n.pump(0.5) and n.closed:
            ended = True
            break
    ck.check(ended, "the non-reading client's connection is closed")
    if n.status is None and n.buf:
        try:
            n._read_head()
        except Exception:
            pass
    n_ids = [e["id"] for e in n.events if e["id"]] if n.status else []
    ck.check(not n_ids or n_ids[-1] < ids[-1],
             "the non-reading client did not get the whole sequence")
    ck.check(ids[-1] > n_from + 500, "A kept receiving while N was stuck (%d → %d)"
             % (n_from, ids[-1]))

    # Streams still work after all that; the daemon stops cleanly with streams open.
    c = Stream(d.port)
    ck.check(c.status == 200, "a new stream after the drops")
    rc = d.stop()
    ck.check(rc == 0, "cardiod exits 0 with streams open (got %s)" % rc)
    for s in (a, c, f):
        s.close()
    ck.finish()


if __name__ == "__main__":
    main()
