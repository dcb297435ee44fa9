# SPDX-License-Identifier: MIT
"""A fake USB ANT stick on a pseudo-terminal, for cardiod's ANT+ tests.

It answers like a real stick (PROTOCOLS §3): the startup message after a
reset, a channel response to every configuration command (with the error
codes a stick gives for a channel in the wrong state), capabilities,
channel ID/status/version/serial requests, continuous scan mode (0x5B)
and per-channel reception, and data in the flagged extended format
(channel ID, RSSI, timestamp) once Lib Config or Enable Ext RX asked for
it.  It broadcasts scripted ANT+ heart-rate straps (PROTOCOLS §4) at the
8070/32768 s period in real time: page 4 or page 0 straps with the toggle
bit and background pages 1, 2, 3, 7, legacy straps, missed messages,
beat-count and event-time wrap-around, straps going out of range.  A
strap is only heard when the host set it up right: the expected network
key, RF 57, a matching channel ID, and, outside scan mode, period 8070.

Used in-process by test_ant.py (a thread per stick):

    stick = FakeStick(link_path, key=bytes(range(1, 9)))
    stick.add_strap(Strap(12345, rr_ms=[800, 820, ...]))
    ...
    stick.unplug()

or by hand: fake_ant.py LINK [DEVNUM...] (prints what it receives).
"""

import os
import random
import select
import sys
import threading
import time
import tty

SYNC = 0xA4
PERIOD_TICKS = 8070
PERIOD = PERIOD_TICKS / 32768.0  # s, PROTOCOLS §4.1

# message ids (§3.2-§3.4)
RESET, REQUEST, NETWORK_KEY, ASSIGN, UNASSIGN = 0x4A, 0x4D, 0x46, 0x42, 0x41
CHANNEL_ID, PERIOD_MSG, RF, HP_TIMEOUT, LP_TIMEOUT = 0x51, 0x43, 0x45, 0x44, 0x63
OPEN, CLOSE, OPEN_SCAN, LIB_CONFIG, ENABLE_EXT = 0x4B, 0x4C, 0x5B, 0x6E, 0x66
CHANNEL_EVENT, STARTUP, CAPABILITIES, CHANNEL_STATUS = 0x40, 0x6F, 0x54, 0x52
VERSION, SERIAL, SERIAL_ERROR, BROADCAST, EXT_BROADCAST = 0x3E, 0x61, 0xAE, 0x4E, 0x5D

# codes (§3.3)
NO_ERROR, RX_SEARCH_TIMEOUT, RX_FAIL, CHANNEL_CLOSED, GO_TO_SEARCH = 0x00, 0x01, 0x02, 0x07, 0x08
WRONG_STATE, CLOSE_ALL_CHANNELS, INVALID_MESSAGE = 0x15, 0x19, 0x28
INVALID_NETWORK = 0x29

HRM_TYPE = 120


def checksum(b):
    x = 0
    for v in b:
        x ^= v
    return x


def frame(mid, payload):
    b = bytes([SYNC, len(payload), mid]) + bytes(payload)
    return b + bytes([checksum(b)])


def ms_to_ticks(ms):
    return int(round(ms * 1024.0 / 1000.0))


def ticks_to_ms(t):
    return t * 1000.0 / 1024.0


class Strap:
    """One ANT+ HRM transmitter, driven by wall time (it keeps sending when
    no stick hears it, so beats and counters move on across an unplug).

    kind: "page4" (main page 4), "page0" (main page 0 only), "legacy" (no
    page structure: bytes 0-3 random).  rr_ms: the RR intervals to beat
    with, cycled.  bg_every: a background page every N messages (the
    profile says 65; tests use fewer to see pages 2, 3, 7 sooner).
    """

    def __init__(self, number, rr_ms=(1000,), kind="page4", trans=0x01, hr=None,
                 battery=None, manufacturer=None, product=None, bg_every=65,
                 start_count=0, start_ticks=0, seed=1, operating_time=None):
        assert 0 < number < (1 << 20)
        self.number = number
        self.trans = ((number >> 16) << 4) | (trans & 0x0F)
        self.kind = kind
        self.rr_ticks = [ms_to_ticks(x) for x in rr_ms]
        self.hr = hr
        self.battery = battery            # (pct, volts, status) or None
        self.manufacturer = manufacturer  # (id, serial_upper) or None
        self.product = product            # (hw, sw, model) or None
        self.operating_time = operating_time
        self.bg_every = bg_every
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.t0 = None
        self.k = 0                 # next message index
        self.beat_ticks = [start_ticks]  # absolute tick times of beats; the first is "before"
        self.count0 = start_count
        self.rr_i = 0
        self.in_range = True
        self.drop = set()          # message indices that are lost on the air
        self.sent = []             # (k, payload, n_beats_total) heard by a stick
        self.bg_pages = [p for p, have in ((1, operating_time is not None),
                                           (2, manufacturer is not None),
                                           (3, product is not None),
                                           (7, battery is not None)) if have]

    @property
    def id_bytes(self):
        return bytes([self.number & 0xFF, (self.number >> 8) & 0xFF, HRM_TYPE, self.trans])

    def start(self, t0):
        with self.lock:
            if self.t0 is None:
                self.t0 = t0

    def next_time(self):
        return self.t0 + self.k * PERIOD

    def _beats_until(self, v):
        # v: the strap's clock in ticks at this message
        while True:
            nxt = self.beat_ticks[-1] + self.rr_ticks[self.rr_i % len(self.rr_ticks)]
            if nxt > v:
                return
            self.beat_ticks.append(nxt)
            self.rr_i += 1

    def payload(self, k):
        """The 8 bytes of message k (advances the beats)."""
        v = self.beat_ticks[0] + k * PERIOD_TICKS / 32.0
        self._beats_until(v)
        n = len(self.beat_ticks) - 1
        last = self.beat_ticks[-1]
        prev = self.beat_ticks[-2] if n >= 1 else last - 1024
        count = (self.count0 + n) & 0xFF
        if self.hr is not None:
            hr = self.hr
        else:
            rr = last - prev if n >= 1 else self.rr_ticks[0]
            hr = int(round(60 * 1024.0 / rr))
        toggle = 0x80 if (k // 4) % 2 else 0x00
        tail = bytes([last & 0xFF, (last >> 8) & 0xFF, count, hr & 0xFF])
        if self.kind == "legacy":
            head = bytes(self.rng.randrange(256) for _ in range(4))
            return head + tail
        page = 4 if self.kind == "page4" else 0
        if self.bg_pages and k % self.bg_every == self.bg_every - 1:
            page = self.bg_pages[(k // self.bg_every) % len(self.bg_pages)]
        if page == 4:
            b123 = bytes([0xFF, prev & 0xFF, (prev >> 8) & 0xFF])
        elif page == 0:
            b123 = b"\xff\xff\xff"
        elif page == 1:
            ot = self.operating_time // 2
            b123 = bytes([ot & 0xFF, (ot >> 8) & 0xFF, (ot >> 16) & 0xFF])
        elif page == 2:
            mid, serial = self.manufacturer
            b123 = bytes([mid, serial & 0xFF, serial >> 8])
        elif page == 3:
            b123 = bytes(self.product)
        else:  # 7
            pct, volts, status = self.battery
            coarse = int(volts)
            frac = int(round((volts - coarse) * 256)) & 0xFF
            b123 = bytes([pct, frac, (status << 4) | (coarse & 0x0F)])
        return bytes([page | toggle]) + b123 + tail

    def due(self, now):
        """Messages whose time has come: [(k, payload or None if not on the air)]."""
        out = []
        with self.lock:
            while self.t0 is not None and self.next_time() <= now:
                k = self.k
                self.k += 1
                p = self.payload(k)
                on_air = self.in_range and k not in self.drop
                out.append((k, p if on_air else None))
        return out

    def expected_rr_ms(self, sent):
        """RR a perfect receiver derives from the messages in sent (list of
        (k, payload, beats)), by §4.4: exact RR only (dc 1, or dc 2 on page 4)."""
        out = []
        prev = None
        for k, p, beats in sent:
            if prev is not None and k - prev[0] < 240:
                dc = beats - prev[2]
                page4 = self.kind == "page4" and (p[0] & 0x7F) == 4
                if dc == 1:
                    out.append(ticks_to_ms(self.beat_ticks[beats] - self.beat_ticks[beats - 1]))
                elif dc == 2 and page4:
                    out.append(ticks_to_ms(self.beat_ticks[beats - 1] - self.beat_ticks[beats - 2]))
                    out.append(ticks_to_ms(self.beat_ticks[beats] - self.beat_ticks[beats - 1]))
                elif dc >= 2 and page4:
                    out.append(ticks_to_ms(self.beat_ticks[beats] - self.beat_ticks[beats - 1]))
            prev = (k, p, beats)
        return out


class Channel:
    def __init__(self):
        self.reset()

    def reset(self):
        self.assigned = False
        self.type = 0
        self.network = 0
        self.number = 0
        self.dev_type = 0
        self.trans = 0
        self.period = 8192
        self.rf = 66
        self.lp = 2
        self.hp = 10
        self.open = False
        self.scan = False
        self.tracking = None   # Strap
        self.misses = 0
        self.searching_since = None


class FakeStick:
    def __init__(self, link, key, channels=8, scan=True, startup_reason=0x00,
                 answer_caps=True, lib_config=True, ext=True, legacy_ext=False, rssi=-60,
                 startup=True, scan_ext=True,
                 straps=(), log=None):
        self.link = link
        self.key = bytes(key)
        self.max_channels = channels
        self.scan_supported = scan
        self.startup_reason = startup_reason
        self.answer_caps = answer_caps
        self.lib_config_supported = lib_config
        self.ext_supported = ext
        self.startup = startup    # False: never sends the startup message
        self.scan_ext = scan_ext  # False: scan-mode data without channel IDs
        self.legacy_ext = legacy_ext
        self.rssi = rssi
        self.log = log
        self.lock = threading.RLock()
        self.straps = list(straps)
        self.received = []       # (time, id, payload) of every host frame
        self.bad_host_frames = 0
        self.resets = 0
        self.out_garbage = 0
        self.inject_queue = []
        self._reset_state()
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.slave = slave
        self.slave_name = os.ttyname(slave)
        os.set_blocking(self.master, False)
        self.point_link()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # ---------------------------------------------------------- control

    def point_link(self):
        tmp = self.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.slave_name, tmp)
        os.replace(tmp, self.link)

    def add_strap(self, s):
        with self.lock:
            self.straps.append(s)

    def inject(self, raw):
        """Raw bytes on the line (garbage, bad frames), sent from the stick's thread."""
        with self.lock:
            self.inject_queue.append(bytes(raw))

    def unplug(self):
        """Like pulling the stick: the master side goes away (the host sees HUP)."""
        self.running = False
        self.thread.join(5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def commands(self, mid=None):
        with self.lock:
            return [(t, i, p) for t, i, p in self.received if mid is None or i == mid]

    def mode(self):
        with self.lock:
            if self.channels[0].scan:
                return "scan"
            if any(c.open for c in self.channels):
                return "channels"
            return None

    def _log(self, msg):
        if self.log:
            print("fake_ant: " + msg, file=self.log, flush=True)

    # ---------------------------------------------------------- protocol

    def _reset_state(self):
        self.channels = [Channel() for _ in range(self.max_channels)]
        self.net_keys = {}
        self.lib_flags = 0
        self.ext_enabled = False

    def _send(self, mid, payload):
        self._write(frame(mid, payload))

    def _write(self, b):
        while b:
            try:
                n = os.write(self.master, b)
                b = b[n:]
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                return

    def _respond(self, ch, mid, code):
        self._send(CHANNEL_EVENT, [ch, mid, code])

    def _event(self, ch, code):
        self._send(CHANNEL_EVENT, [ch, 0x01, code])

    def _handle(self, mid, p):
        with self.lock:
            self.received.append((time.monotonic(), mid, bytes(p)))
        self._log("host 0x%02X %s" % (mid, bytes(p).hex(" ") if mid != NETWORK_KEY else "<key>"))
        ch_n = p[0] if p else 0
        ch = self.channels[ch_n] if ch_n < len(self.channels) else None

        if mid == RESET:
            self.resets += 1
            self._reset_state()
            time.sleep(0.02)
            if self.startup:
                self._send(STARTUP, [self.startup_reason])
            return
        if mid == REQUEST and len(p) >= 2:
            what = p[1]
            if what == CAPABILITIES and self.answer_caps:
                adv2 = 0x36 if self.scan_supported else 0x32
                self._send(CAPABILITIES, [self.max_channels, 8, 0x00, 0xBA, adv2, 0, 0xDF, 0x79])
            elif what == CHANNEL_ID and ch is not None and ch.tracking is not None:
                self._send(CHANNEL_ID, bytes([ch_n]) + ch.tracking.id_bytes)
            elif what == CHANNEL_STATUS and ch is not None:
                st = 3 if ch.tracking else 2 if ch.open else 1 if ch.assigned else 0
                self._send(CHANNEL_STATUS, [ch_n, st])
            elif what == VERSION:
                self._send(VERSION, b"AJK1.04RAF\x00")
            elif what == SERIAL:
                self._send(SERIAL, [0x78, 0x56, 0x34, 0x12])
            else:
                self._respond(ch_n, REQUEST, INVALID_MESSAGE)
            return
        if mid == NETWORK_KEY:
            if len(p) != 9 or p[0] >= 8:
                self._respond(ch_n, mid, INVALID_NETWORK if len(p) == 9 else INVALID_MESSAGE)
                return
            self.net_keys[p[0]] = bytes(p[1:9])
            self._respond(p[0], mid, NO_ERROR)
            return
        if mid == LIB_CONFIG:
            if not self.lib_config_supported or len(p) != 2:
                self._respond(0, mid, INVALID_MESSAGE)
                return
            self.lib_flags = p[1]
            self._respond(0, mid, NO_ERROR)
            return
        if mid == ENABLE_EXT:
            if not self.ext_supported or len(p) != 2:
                self._respond(0, mid, INVALID_MESSAGE)
                return
            self.ext_enabled = bool(p[1])
            self._respond(0, mid, NO_ERROR)
            return
        if ch is None:
            self._respond(ch_n, mid, INVALID_MESSAGE)
            return
        if mid == ASSIGN:
            if ch.assigned:
                self._respond(ch_n, mid, WRONG_STATE)
                return
            ch.reset()
            ch.assigned, ch.type, ch.network = True, p[1], p[2]
            self._respond(ch_n, mid, NO_ERROR)
            return
        if mid == UNASSIGN:
            if not ch.assigned or ch.open:
                self._respond(ch_n, mid, WRONG_STATE)
                return
            ch.reset()
            self._respond(ch_n, mid, NO_ERROR)
            return
        if mid in (CHANNEL_ID, PERIOD_MSG, RF, HP_TIMEOUT, LP_TIMEOUT):
            if not ch.assigned:
                self._respond(ch_n, mid, WRONG_STATE)
                return
            if mid == CHANNEL_ID:
                if len(p) != 5:
                    self._respond(ch_n, mid, INVALID_MESSAGE)
                    return
                ch.number = p[1] | p[2] << 8
                ch.dev_type, ch.trans = p[3], p[4]
            elif mid == PERIOD_MSG:
                ch.period = p[1] | p[2] << 8
            elif mid == RF:
                ch.rf = p[1]
            elif mid == HP_TIMEOUT:
                ch.hp = p[1]
            else:
                ch.lp = p[1]
            self._respond(ch_n, mid, NO_ERROR)
            return
        if mid == OPEN:
            if not ch.assigned or ch.open or ch.network not in self.net_keys:
                self._respond(ch_n, mid, WRONG_STATE)
                return
            ch.open = True
            ch.searching_since = time.monotonic()
            self._respond(ch_n, mid, NO_ERROR)
            return
        if mid == OPEN_SCAN:
            if not self.scan_supported:
                self._respond(0, mid, INVALID_MESSAGE)
                return
            if any(c.open for c in self.channels):
                self._respond(0, mid, CLOSE_ALL_CHANNELS)
                return
            ch0 = self.channels[0]
            if not ch0.assigned or ch0.network not in self.net_keys:
                self._respond(0, mid, WRONG_STATE)
                return
            ch0.open = ch0.scan = True
            self._respond(0, mid, NO_ERROR)
            return
        if mid == CLOSE:
            if not ch.open:
                self._respond(ch_n, mid, WRONG_STATE)
                return
            self._respond(ch_n, mid, NO_ERROR)
            ch.open = ch.scan = False
            ch.tracking = None
            self._event(ch_n, CHANNEL_CLOSED)
            return
        self._respond(ch_n, mid, INVALID_MESSAGE)

    # ---------------------------------------------------------- the air

    def _hears(self, ch, s):
        """Channel set-up right for this strap (network key, RF, type, number)."""
        if self.net_keys.get(ch.network) != self.key or ch.rf != 57:
            return False
        if ch.dev_type & 0x7F and (ch.dev_type & 0x7F) != HRM_TYPE:
            return False
        if ch.number and ch.number != (s.number & 0xFFFF):
            return False
        if ch.trans and ch.trans != s.trans:
            return False
        if not ch.scan and ch.period != PERIOD_TICKS:
            return False
        return True

    def _data(self, ch_n, s, p):
        flags = self.lib_flags | (0x80 if self.ext_enabled else 0)
        if self.channels[0].scan and not self.scan_ext:
            flags = 0
        if self.legacy_ext and flags & 0x80:
            self._send(EXT_BROADCAST, bytes([ch_n]) + s.id_bytes + p)
            return
        if not flags & 0xE0:
            self._send(BROADCAST, bytes([ch_n]) + p)
            return
        ext = b""
        if flags & 0x80:
            ext += s.id_bytes
        if flags & 0x40:
            ext += bytes([0x20, self.rssi & 0xFF, (-96) & 0xFF])
        if flags & 0x20:
            ts = int(time.monotonic() * 32768) & 0xFFFF
            ext += bytes([ts & 0xFF, ts >> 8])
        self._send(BROADCAST, bytes([ch_n]) + p + bytes([flags & 0xE0]) + ext)

    def _air(self, s, k, p):
        """Message k of strap s (p None: not on the air) reaches the open channels."""
        now = time.monotonic()
        ch0 = self.channels[0]
        if ch0.scan:
            if p is not None and self._hears(ch0, s):
                self._data(0, s, p)
                with s.lock:
                    s.sent.append((k, p, len(s.beat_ticks) - 1))
            return
        # Channel mode: a tracking channel gets the strap's slot; a searching one pairs.
        for n, ch in enumerate(self.channels):
            if not ch.open or ch.scan:
                continue
            if ch.tracking is s:
                if p is None:
                    ch.misses += 1
                    self._event(n, RX_FAIL)
                    if ch.misses == 8:
                        self._event(n, GO_TO_SEARCH)
                        ch.tracking = None
                        ch.searching_since = now
                    continue
                ch.misses = 0
                self._data(n, s, p)
                with s.lock:
                    s.sent.append((k, p, len(s.beat_ticks) - 1))
                return
        if p is None:
            return
        for n, ch in enumerate(self.channels):
            if not ch.open or ch.scan or ch.tracking is not None or not self._hears(ch, s):
                continue
            if any(c.tracking is s for c in self.channels):
                return
            ch.tracking = s
            ch.misses = 0
            self._data(n, s, p)
            with s.lock:
                s.sent.append((k, p, len(s.beat_ticks) - 1))
            return

    def _search_timeouts(self):
        now = time.monotonic()
        for n, ch in enumerate(self.channels):
            if ch.open and not ch.scan and ch.tracking is None and ch.lp != 0xFF \
                    and ch.searching_since is not None and now - ch.searching_since > ch.lp * 2.5:
                ch.open = False
                self._event(n, RX_SEARCH_TIMEOUT)
                self._event(n, CHANNEL_CLOSED)

    # ---------------------------------------------------------- loop

    def _run(self):
        buf = b""
        t0 = time.monotonic()
        while self.running:
            with self.lock:
                straps = list(self.straps)
            now = time.monotonic()
            for s in straps:
                s.start(now)
            nxt = min([s.next_time() for s in straps] + [now + 0.05])
            timeout = max(0.0, min(0.05, nxt - now))
            try:
                r, _, _ = select.select([self.master], [], [], timeout)
            except (OSError, ValueError):
                return
            if r:
                try:
                    data = os.read(self.master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:
                    data = b""  # no slave open right now (EIO)
                    time.sleep(0.01)
                buf += data
                buf = self._parse(buf)
            with self.lock:
                inj, self.inject_queue = self.inject_queue, []
            for b in inj:
                self._write(b)
            now = time.monotonic()
            for s in straps:
                for k, p in s.due(now):
                    with self.lock:
                        self._air(s, k, p)
            with self.lock:
                self._search_timeouts()
        del t0

    def _parse(self, buf):
        while True:
            i = buf.find(bytes([SYNC]))
            if i < 0:
                return b""
            if i > 0:
                self.bad_host_frames += 1
                buf = buf[i:]
            if len(buf) < 2:
                return buf
            n = buf[1]
            if len(buf) < n + 4:
                return buf
            f = buf[:n + 4]
            if checksum(f[:-1]) != f[-1]:
                self.bad_host_frames += 1
                self._send(SERIAL_ERROR, [0x02])
                buf = buf[1:]
                continue
            buf = buf[n + 4:]
            self._handle(f[2], f[3:3 + n])


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    key = bytes(range(1, 9))
    stick = FakeStick(sys.argv[1], key, log=sys.stdout)
    for i, a in enumerate(sys.argv[2:]):
        stick.add_strap(Strap(int(a), rr_ms=(800 + 40 * i, 820 + 40 * i), battery=(80, 3.0, 2),
                              bg_every=16))
    print("fake stick at %s -> %s (key 01..08)" % (sys.argv[1], stick.slave_name), flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        stick.unplug()
    return 0


if __name__ == "__main__":
    sys.exit(main())
