#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""MQTT and Home Assistant discovery (issue 15, DESIGN §9.6) against a real
Mosquitto started on a free loopback port.

Usage: test-mqtt.py CARDIOD MQTT_DRIVER [SCENARIO...]

Scenarios, each with its own temp dir, broker and cardiod (--simulate):
  discovery   retained configs (heart rate, zone, battery, connectivity)
              with unique_id, device, state_topic, value_template and
              availability_topic; state JSON; status online; "offline" on
              SIGTERM; the HA birth message re-publishes the configs
  restart     broker restarted (nothing retained): cardiod reconnects and
              publishes status and configs again
  will        SIGKILL: the broker sends the last will "offline"
  tls         mqtts:// with a CA made here (openssl) and a password file
  silent      a TCP listener that never answers: HTTP keeps answering and
              cardiod retries (a second TCP connection arrives)
  rooms       four cardiods (topic_prefix per instance), one broker: every
              strap appears once, with unique ids
  dlopen      libmosquitto is dlopen()ed only when [mqtt] url is set: a
              cardiod without it maps neither libmosquitto nor libcrypto
              (/proc/PID/maps), one with it maps libmosquitto and publishes,
              and one that cannot load it refuses to start and says why
  forget      api/mqtt.c alone behind a fake contract (mqtt-driver.c): a
              strap the contract no longer lists has its configs removed
              with empty retained payloads; the intensity-minute sensors
              appear once figures are given
Mosquitto is installed when missing and running as root, else exit 77.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from daemon_helpers import Checker, Daemon, wait_for, wrapper  # noqa: E402

SKIP = 77
OBJECTS = ("heart_rate", "zone", "battery", "connectivity")
STATE_KEYS = {"bpm", "zone", "stale", "session", "mvpa_s", "ecb_s", "battery_pct"}

c = Checker("mqtt")


def find(name):
    for d in ("/usr/sbin", "/usr/bin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return shutil.which(name)


def ensure_tools():
    tools = ("mosquitto", "mosquitto_sub", "mosquitto_pub", "mosquitto_passwd", "openssl")
    if all(find(t) for t in tools):
        return True
    if os.getuid() != 0:
        print("SKIP: mosquitto, mosquitto-clients or openssl missing and not root "
              "(apt-get install mosquitto mosquitto-clients openssl)")
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "mosquitto",
                    "mosquitto-clients", "openssl"], env=env, check=False)
    if not all(find(t) for t in tools):
        print("SKIP: could not install mosquitto")
        return False
    return True


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Broker:
    """mosquitto on 127.0.0.1:port with a config written to tmp."""

    def __init__(self, tmp, port=None, extra=""):
        self.tmp = tmp
        self.port = port or free_port()
        self.conf = os.path.join(tmp, "mosquitto-%d.conf" % self.port)
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\npersistence false\n" % self.port)
            # As root, mosquitto would switch to its own user and lose the temp dir.
            f.write("user %s\n" % pwd.getpwuid(os.getuid()).pw_name)
            f.write(extra or "allow_anonymous true\n")
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.tmp, "mosquitto-%d.log" % self.port), "a")
        self.proc = subprocess.Popen([find("mosquitto"), "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if not wait_for(lambda: port_open(self.port) or self.proc.poll() is not None, 10) \
                or self.proc.poll() is not None:
            raise RuntimeError("mosquitto did not start: see " + self.log.name)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


class Sub:
    """mosquitto_sub -v on everything; messages as (topic, payload) in order."""

    def __init__(self, port, *args, topic="#"):
        self.msgs = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([find("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(port),
                                      "-v", "-t", topic, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            if payload == "(null)":  # how mosquitto_sub -v shows an empty payload
                payload = ""
            with self.lock:
                self.msgs.append((topic, payload))

    def since(self, mark=0):
        with self.lock:
            return list(self.msgs[mark:])

    def mark(self):
        with self.lock:
            return len(self.msgs)

    def last(self, topic, mark=0):
        for t, p in reversed(self.since(mark)):
            if t == topic:
                return p
        return None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def pub(port, topic, payload, *args):
    subprocess.run([find("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                    "-m", payload, *args], check=True, timeout=20)


def start_cardiod(exe, tmp, name, mqtt, straps=2, rate=2):
    conf = os.path.join(tmp, name + ".conf")
    with open(conf, "w") as f:
        f.write("[mqtt]\n")
        for k, v in mqtt.items():
            f.write("%s = %s\n" % (k, v))
    d = Daemon(exe, ["-c", conf, "--db", os.path.join(tmp, name + ".db"),
                     "--simulate=%d" % straps, "--sim-rate", str(rate), "-v"], tmp)
    if not d.wait_ready():
        print(d.read_log(), file=sys.stderr)
        raise RuntimeError("cardiod did not start")
    return d


def configs(sub, prefix="homeassistant", mark=0):
    """{(node, object): parsed config} of non-empty config messages since mark."""
    out = {}
    for t, p in sub.since(mark):
        parts = t.split("/")
        if len(parts) == 5 and parts[0] == prefix and parts[4] == "config" and p:
            try:
                out[(parts[2], parts[3])] = json.loads(p)
            except ValueError:
                out[(parts[2], parts[3])] = None
    return out


def strap_configs_complete(sub, n_straps, mark=0, prefix="homeassistant"):
    cf = configs(sub, prefix, mark)
    nodes = {node for (node, obj) in cf if obj in OBJECTS}
    return len(nodes) >= n_straps and all((node, o) in cf for node in nodes for o in OBJECTS)


def check_config(cfg, obj, status_topic, what):
    if not c.check(isinstance(cfg, dict), what + ": valid JSON"):
        return
    for k in ("unique_id", "device", "state_topic", "value_template", "availability_topic",
              "name"):
        c.check(k in cfg, "%s: has %s (%s)" % (what, k, sorted(cfg)))
    c.check(cfg.get("availability_topic") == status_topic,
            "%s: availability_topic is %s (%s)" % (what, status_topic,
                                                   cfg.get("availability_topic")))
    dev = cfg.get("device") or {}
    c.check(dev.get("identifiers") and dev.get("name") and dev.get("manufacturer"),
            "%s: device block with identifiers, name, manufacturer (%s)" % (what, dev))
    c.check("value_json" in cfg.get("value_template", ""), what + ": value_template reads JSON")
    if obj == "heart_rate":
        c.check(cfg.get("unit_of_measurement") == "bpm" and cfg.get("state_class") == "measurement",
                what + ": bpm, state_class measurement")
        c.check("device_class" not in cfg, what + ": no device class (HA has none for heart rate)")
    if obj == "battery":
        c.check(cfg.get("device_class") == "battery", what + ": device_class battery")
    if obj == "connectivity":
        c.check(cfg.get("device_class") == "connectivity", what + ": device_class connectivity")


# ---------------------------------------------------------------- scenarios

def scenario_discovery(exe, tmp):
    broker = Broker(tmp)
    sub = Sub(broker.port)
    d = start_cardiod(exe, tmp, "a", {"url": "mqtt://127.0.0.1:%d" % broker.port,
                                      "topic_prefix": "cardiod/test-a",
                                      "publish_interval_s": "1"})
    try:
        c.check(wait_for(lambda: sub.last("cardiod/test-a/status") == "online", 30),
                "discovery: status online")
        c.check(wait_for(lambda: strap_configs_complete(sub, 2), 30),
                "discovery: four configs for each of the two straps")
        cf = configs(sub)
        for (node, obj), cfg in sorted(cf.items()):
            check_config(cfg, obj, "cardiod/test-a/status", "discovery %s/%s" % (node, obj))
        states = {}
        for sid in ("sim-1", "sim-2"):
            topic = "cardiod/test-a/%s/state" % sid
            c.check(any(cfg and cfg.get("state_topic") == topic for cfg in cf.values()),
                    "discovery: a config points at " + topic)

            def live(topic=topic):
                p = sub.last(topic)
                s = json.loads(p) if p else None
                return s if s and isinstance(s.get("bpm"), (int, float)) else None
            states[sid] = wait_for(live, 30)
            s = states[sid]
            if c.check(s is not None, "discovery: %s state with a bpm" % sid):
                c.check(set(s) == STATE_KEYS, "discovery: state keys %s" % sorted(s))
                c.check(30 <= s["bpm"] <= 240, "discovery: bpm in range (%s)" % s["bpm"])
                c.check(isinstance(s["zone"], int) and 0 <= s["zone"] <= 5,
                        "discovery: zone 0..5 (%s)" % s["zone"])
                c.check(s["stale"] is False and isinstance(s["session"], int),
                        "discovery: not stale, with a session id (%s)" % s)
                c.check(isinstance(s["mvpa_s"], (int, float)) and
                        isinstance(s["battery_pct"], int), "discovery: mvpa_s, battery_pct")
        ids = [cfg.get("unique_id") for cfg in cf.values() if cfg]
        c.check(len(ids) == len(set(ids)), "discovery: unique_ids differ (%s)" % ids)
        # Today's and this week's intensity minutes (GET /summary's figures):
        # their two configs and PREFIX/summary come with the first publish tick.
        def intensity():
            got = {obj: cfg for (_, obj), cfg in configs(sub).items() if "intensity" in obj}
            return got if len(got) == 2 else None
        got = wait_for(intensity, 30)
        if c.check(got is not None, "discovery: both intensity-minute configs published"):
            for obj, cfg in got.items():
                check_config(cfg, obj, "cardiod/test-a/status", "discovery " + obj)
                c.check(cfg.get("state_topic") == "cardiod/test-a/summary",
                        "discovery: %s reads cardiod/test-a/summary" % obj)
        summ = wait_for(lambda: sub.last("cardiod/test-a/summary"), 30)
        summ = json.loads(summ) if summ else {}
        c.check(set(summ) == {"intensity_minutes_today", "intensity_minutes_week"} and
                all(isinstance(v, (int, float)) and v >= 0 for v in summ.values()),
                "discovery: PREFIX/summary carries today's and this week's minutes (%s)" % summ)
        # The state of one strap comes from the same session the HTTP API shows.
        st, sess = d.get_json("/session")
        c.check(st == 200 and sess.get("id") in {s["session"] for s in states.values() if s},
                "discovery: the state's session is one of cardiod's sessions")

        # Home Assistant restarts: its birth message brings every config again.
        mark = sub.mark()
        pub(broker.port, "homeassistant/status", "online")
        c.check(wait_for(lambda: strap_configs_complete(sub, 2, mark), 30),
                "discovery: configs re-published after homeassistant/status online")
        mark = sub.mark()
        pub(broker.port, "homeassistant/status", "offline")
        time.sleep(1)
        c.check(not configs(sub, mark=mark), "discovery: 'offline' from HA re-publishes nothing")

        # A clean stop says offline (a clean disconnect sends no will).
        mark = sub.mark()
        c.check(d.stop() == 0, "discovery: cardiod exits 0 on SIGTERM")
        c.check(wait_for(lambda: sub.last("cardiod/test-a/status", mark) == "offline", 20),
                "discovery: status offline after SIGTERM")
        log = d.read_log()
        c.check("password" not in log.lower(), "discovery: the log never mentions a password")
    finally:
        d.stop()
        sub.stop()
        broker.stop()


def scenario_restart(exe, tmp):
    broker = Broker(tmp)
    d = start_cardiod(exe, tmp, "r", {"url": "mqtt://localhost:%d" % broker.port,
                                      "topic_prefix": "cardiod/test-r"})
    sub = Sub(broker.port)
    try:
        c.check(wait_for(lambda: strap_configs_complete(sub, 2), 30),
                "restart: configs before the restart")
        sub.stop()
        broker.stop()
        c.check(wait_for(lambda: "lost the broker" in d.read_log(), 30),
                "restart: cardiod notices the broker is gone")
        st, h = d.get_json("/healthz")
        c.check(st == 200, "restart: /healthz answers while the broker is down")
        broker.start()  # persistence false: nothing retained survives
        sub = Sub(broker.port)
        c.check(wait_for(lambda: sub.last("cardiod/test-r/status") == "online", 60),
                "restart: status online again after the broker restart")
        c.check(wait_for(lambda: strap_configs_complete(sub, 2), 30),
                "restart: configs re-published after the broker restart")
        c.check(wait_for(lambda: sub.last("cardiod/test-r/sim-1/state"), 30),
                "restart: states flow again")
        c.check(d.stop() == 0, "restart: cardiod exits 0")
    finally:
        d.stop()
        sub.stop()
        broker.stop()


def scenario_will(exe, tmp):
    broker = Broker(tmp)
    sub = Sub(broker.port)
    d = start_cardiod(exe, tmp, "w", {"url": "mqtt://127.0.0.1:%d" % broker.port,
                                      "topic_prefix": "cardiod/test-w", "discovery": "no"})
    try:
        c.check(wait_for(lambda: sub.last("cardiod/test-w/status") == "online", 30),
                "will: status online")
        c.check(wait_for(lambda: sub.last("cardiod/test-w/sim-1/state"), 30),
                "will: states without discovery")
        c.check(not configs(sub), "will: discovery = no publishes no configs")
        mark = sub.mark()
        d.signal(signal.SIGKILL)
        d.wait()
        c.check(wait_for(lambda: sub.last("cardiod/test-w/status", mark) == "offline", 60),
                "will: the broker publishes the last will 'offline' after SIGKILL")
        # Retained: a new subscriber sees offline too.
        late = Sub(broker.port, topic="cardiod/test-w/status")
        c.check(wait_for(lambda: late.last("cardiod/test-w/status") == "offline", 20),
                "will: 'offline' is retained")
        late.stop()
    finally:
        d.stop()
        sub.stop()
        broker.stop()


def make_tls(tmp):
    """A CA and a server certificate for 127.0.0.1, made with openssl."""
    def ossl(*a):
        subprocess.run([find("openssl"), *a], check=True, cwd=tmp, capture_output=True,
                       timeout=60)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=cardiod test CA", "-keyout", "ca.key", "-out", "ca.crt")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
         "server.key", "-out", "server.csr")
    with open(os.path.join(tmp, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    return os.path.join(tmp, "ca.crt")


def scenario_tls(exe, tmp):
    ca = make_tls(tmp)
    users = os.path.join(tmp, "users")
    subprocess.run([find("mosquitto_passwd"), "-c", "-b", users, "strap", "s3cret pass"],
                   check=True, capture_output=True, timeout=30)
    broker = Broker(tmp, extra="allow_anonymous false\npassword_file %s\ncafile %s\n"
                    "certfile %s\nkeyfile %s\n" % (users, ca, os.path.join(tmp, "server.crt"),
                                                  os.path.join(tmp, "server.key")))
    pw = os.path.join(tmp, "mqtt-password")
    with open(pw, "w") as f:
        f.write("s3cret pass\n")
    os.chmod(pw, 0o600)
    sub = Sub(broker.port, "--cafile", ca, "-u", "strap", "-P", "s3cret pass")
    d = start_cardiod(exe, tmp, "t", {"url": "mqtts://127.0.0.1:%d" % broker.port,
                                      "username": "strap", "password_file": pw, "ca_file": ca,
                                      "topic_prefix": "cardiod/test-t"})
    bad = None
    try:
        c.check(wait_for(lambda: sub.last("cardiod/test-t/status") == "online", 30),
                "tls: status online over TLS with a password")
        c.check(wait_for(lambda: strap_configs_complete(sub, 2), 30), "tls: configs over TLS")
        c.check("(TLS)" in d.read_log(), "tls: the log says the link is TLS")
        c.check("s3cret" not in d.read_log(), "tls: the password is never logged")
        # A wrong password: refused, said once, HTTP unaffected.
        with open(os.path.join(tmp, "wrong"), "w") as f:
            f.write("nope\n")
        bad = start_cardiod(exe, tmp, "t2", {"url": "mqtts://127.0.0.1:%d" % broker.port,
                                             "username": "strap",
                                             "password_file": os.path.join(tmp, "wrong"),
                                             "ca_file": ca, "topic_prefix": "cardiod/test-t2"})
        c.check(wait_for(lambda: "refused" in bad.read_log(), 30),
                "tls: a wrong password is reported as refused (%s)" % bad.read_log()[-400:])
        st, _ = bad.get_json("/healthz")
        c.check(st == 200, "tls: /healthz answers while the broker refuses")
        c.check(sub.last("cardiod/test-t2/status") is None, "tls: nothing published when refused")
        c.check(d.stop() == 0 and bad.stop() == 0, "tls: both cardiods exit 0")
    finally:
        d.stop()
        if bad:
            bad.stop()
        sub.stop()
        broker.stop()


def scenario_silent(exe, tmp):
    """A broker that accepts TCP and never answers."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    port = ls.getsockname()[1]
    accepted = []

    def accept():
        while True:
            try:
                conn, _ = ls.accept()
            except OSError:
                return
            accepted.append(conn)  # kept open, never read from or answered
    threading.Thread(target=accept, daemon=True).start()
    d = start_cardiod(exe, tmp, "s", {"url": "mqtt://127.0.0.1:%d" % port,
                                      "topic_prefix": "cardiod/test-s"})
    try:
        c.check(wait_for(lambda: len(accepted) >= 1, 20), "silent: cardiod connects")
        for _ in range(20):
            st, h = d.get_json("/healthz")
            if not c.check(st == 200 and h.get("status") in ("ok", "degraded"),
                           "silent: /healthz answers while the broker is silent"):
                break
            time.sleep(0.1)
        st, s = d.get_json("/session")
        c.check(st == 200, "silent: /session answers")
        c.check(wait_for(lambda: len(accepted) >= 2, 90),
                "silent: cardiod gives up on the silent connection and retries (%d)"
                % len(accepted))
        c.check("did not answer" in d.read_log(), "silent: the log says the broker did not answer")
        c.check(d.proc.poll() is None, "silent: cardiod still runs")
        c.check(d.stop() == 0, "silent: cardiod exits 0 on SIGTERM")
    finally:
        d.stop()
        ls.close()
        for conn in accepted:
            conn.close()


def scenario_rooms(exe, tmp):
    broker = Broker(tmp)
    sub = Sub(broker.port)
    daemons = []
    try:
        for i in range(4):
            daemons.append(start_cardiod(exe, tmp, "room%d" % i,
                                         {"url": "mqtt://127.0.0.1:%d" % broker.port,
                                          "topic_prefix": "gym/room%d" % i}))
        c.check(wait_for(lambda: strap_configs_complete(sub, 8), 60),
                "rooms: configs for 4 × 2 straps")
        cf = configs(sub)
        hr = [cfg for (node, obj), cfg in cf.items() if obj == "heart_rate" and cfg]
        c.check(len(hr) == 8, "rooms: 8 heart-rate entities (%d)" % len(hr))
        uids = {cfg["unique_id"] for cfg in hr}
        topics = {cfg["state_topic"] for cfg in hr}
        devs = {cfg["device"]["identifiers"][0] for cfg in hr}
        c.check(len(uids) == 8 and len(topics) == 8 and len(devs) == 8,
                "rooms: unique ids, state topics and devices (%s)" % sorted(uids))
        all_uids = [cfg["unique_id"] for cfg in cf.values() if cfg]
        c.check(len(all_uids) == len(set(all_uids)), "rooms: no unique_id twice")
        for i in range(4):
            c.check(wait_for(lambda i=i: sub.last("gym/room%d/status" % i) == "online", 20),
                    "rooms: room%d online" % i)
            c.check(wait_for(lambda i=i: sub.last("gym/room%d/sim-2/state" % i), 30),
                    "rooms: room%d states" % i)
        rcs = [d.stop() for d in daemons]
        c.check(rcs == [0, 0, 0, 0], "rooms: every cardiod exits 0 (%s)" % rcs)
    finally:
        for d in daemons:
            d.stop()
        sub.stop()
        broker.stop()


def mapped_libs(pid):
    """The file names of the shared objects pid maps."""
    with open("/proc/%d/maps" % pid) as f:
        return {os.path.basename(line.split()[5]) for line in f if len(line.split()) >= 6}


def scenario_dlopen(exe, tmp):
    off = start_cardiod(exe, tmp, "n", {})
    try:
        libs = mapped_libs(off.proc.pid)
        bad = sorted(lib for lib in libs if "libmosquitto" in lib or "libcrypto" in lib)
        c.check(not bad and any(lib.startswith("libc.so") for lib in libs),
                "dlopen: without [mqtt] url nothing of libmosquitto or libcrypto is mapped (%s)"
                % bad)
        c.check(off.stop() == 0, "dlopen: cardiod without MQTT exits 0")
    finally:
        off.stop()
    broker = Broker(tmp)
    sub = Sub(broker.port)
    on = start_cardiod(exe, tmp, "y", {"url": "mqtt://127.0.0.1:%d" % broker.port,
                                       "topic_prefix": "cardiod/test-y"})
    try:
        c.check(wait_for(lambda: sub.last("cardiod/test-y/status") == "online", 30),
                "dlopen: with [mqtt] url cardiod publishes")
        libs = mapped_libs(on.proc.pid)
        c.check(any(lib.startswith("libmosquitto.so") for lib in libs),
                "dlopen: with [mqtt] url libmosquitto is mapped")
        c.check(on.stop() == 0, "dlopen: cardiod with MQTT exits 0")
    finally:
        on.stop()
        sub.stop()
        broker.stop()
    # A libmosquitto.so.1 that is not a library, found first: cardiod refuses to start.
    fake = os.path.join(tmp, "fakelib")
    os.mkdir(fake)
    open(os.path.join(fake, "libmosquitto.so.1"), "w").close()
    conf = os.path.join(tmp, "f.conf")
    with open(conf, "w") as f:
        f.write("[mqtt]\nurl = mqtt://127.0.0.1:1\n")
    env = dict(os.environ, LD_LIBRARY_PATH=fake)
    env.pop("NOTIFY_SOCKET", None)
    p = subprocess.run([*wrapper(), exe, "-c", conf, "--db", os.path.join(tmp, "f.db"),
                        "--token-file", os.path.join(tmp, "f.token"), "--simulate",
                        "--listen", "127.0.0.1:0", "--bus", "none", "--no-ble", "--no-ant"],
                       capture_output=True, text=True, timeout=30, env=env)
    c.check(p.returncode != 0 and "libmosquitto1" in p.stderr,
            "dlopen: without a loadable libmosquitto cardiod refuses to start and names "
            "libmosquitto1 (%d, %s)" % (p.returncode, p.stderr[-300:]))


def scenario_forget(driver, tmp):
    broker = Broker(tmp)
    sub = Sub(broker.port)
    try:
        p = subprocess.run([driver, str(broker.port), "drv/x"], capture_output=True, text=True,
                           timeout=60)
        c.check(p.returncode == 0 and "forgot" in p.stdout,
                "forget: the driver ran (%d, %s)" % (p.returncode, p.stderr[-300:]))
        a = ["homeassistant/%s/drv_x_strap-a/%s/config"
             % ("binary_sensor" if o == "connectivity" else "sensor", o) for o in OBJECTS]
        msgs = sub.since()
        for t in a:
            seen = [pl for tt, pl in msgs if tt == t]
            c.check(len(seen) >= 2 and seen[0] != "" and seen[-1] == "",
                    "forget: %s published, then removed with an empty payload (%s)"
                    % (t, [s[:20] for s in seen]))
        cf = configs(sub)
        summ = cf.get(("drv_x", "intensity_minutes_today")), cf.get(("drv_x", "intensity_minutes_week"))
        c.check(all(summ), "forget: both intensity-minute configs published")
        if all(summ):
            c.check(all(s["state_topic"] == "drv/x/summary" and s.get("unit_of_measurement") == "min"
                        for s in summ), "forget: intensity configs read drv/x/summary in min")
        summary = sub.last("drv/x/summary")
        c.check(summary and json.loads(summary) == {"intensity_minutes_today": 12,
                                                    "intensity_minutes_week": 80},
                "forget: drv/x/summary carries the two figures (%s)" % summary)
        # Retained: a new subscriber sees strap-b and the summary, nothing of strap-a.
        late = Sub(broker.port, topic="homeassistant/#")
        c.check(wait_for(lambda: strap_configs_complete(late, 1), 20),
                "forget: strap-b's configs are still retained")
        time.sleep(0.5)
        nodes = {node for (node, _) in configs(late)}
        c.check(nodes == {"drv_x_strap-b", "drv_x"}, "forget: retained nodes now %s" % nodes)
        late.stop()
    finally:
        sub.stop()
        broker.stop()


SCENARIOS = {
    "discovery": scenario_discovery,
    "restart": scenario_restart,
    "will": scenario_will,
    "tls": scenario_tls,
    "silent": scenario_silent,
    "rooms": scenario_rooms,
    "dlopen": scenario_dlopen,
    "forget": scenario_forget,
}


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, driver = sys.argv[1:3]
    names = sys.argv[3:] or list(SCENARIOS)
    if not ensure_tools():
        return SKIP
    for name in names:
        print("--- " + name, flush=True)
        with tempfile.TemporaryDirectory(prefix="cardiod-mqtt-") as tmp:
            try:
                SCENARIOS[name](driver if name == "forget" else exe, tmp)
            except Exception as e:  # a broken scenario fails, the others still run
                c.check(False, "%s: %r" % (name, e))
                import traceback
                traceback.print_exc()
    c.finish()


if __name__ == "__main__":
    sys.exit(main())
