#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""cardiod as a systemd service (issue 7).

    test-systemd.py install    BUILDDIR MESON KEY=PATH...  layout in a DESTDIR, reinstall
    test-systemd.py verify     BUILDDIR MESON KEY=PATH...  systemd-analyze verify
    test-systemd.py security   BUILDDIR MESON KEY=PATH...  exposure gate (<= 1.5)
    test-systemd.py man        BUILDDIR MESON KEY=PATH...  man -l renders, options covered
    test-systemd.py socket     CARDIOD                    systemd-socket-activate, /healthz
    test-systemd.py notify     CARDIOD                    READY=1, WATCHDOG=1 pace, STATUS=
    test-systemd.py config     CARDIOD EXAMPLE CONFIG.c   the example parses and is complete

KEY=PATH come from meson (tests/integration/meson.build): where each file
must be installed, as absolute paths before DESTDIR; dbus_files=A:B lists the
D-Bus files installed when they exist in the tree.  Exit 77 = skip.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", flush=True)


def ok(msg):
    print(f"ok: {msg}", flush=True)


def check(cond, msg):
    (ok if cond else fail)(msg)
    return cond


def in_destdir(destdir, path):
    return os.path.join(destdir, path.lstrip("/"))


def meson_install(builddir, meson, destdir):
    r = subprocess.run([meson, "install", "-C", builddir, "--no-rebuild", "--quiet",
                        "--destdir", destdir], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"meson install failed ({r.returncode})")
    return r.stdout + r.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- install

def files_expected(p):
    """(path before DESTDIR, required mode bits or None)"""
    return [
        (p["cardiod"], 0o111),
        (p["cardioctl"], 0o111),
        (os.path.join(p["unitdir"], "cardiod.service"), None),
        (os.path.join(p["unitdir"], "cardiod.socket"), None),
        (os.path.join(p["sysusersdir"], "cardiod.conf"), None),
        (os.path.join(p["modulesloaddir"], "cardiod.conf"), None),
        (os.path.join(p["udevrulesdir"], "60-cardiod-ant.rules"), None),
        (os.path.join(p["datadir"], "cardiod", "cardiod.conf.example"), None),
        (os.path.join(p["sysconfdir"], "cardiod", "cardiod.conf"), None),
        (os.path.join(p["mandir"], "man8", "cardiod.8"), None),
        (os.path.join(p["mandir"], "man1", "cardioctl.1"), None),
        (os.path.join(p["mandir"], "man5", "cardiod.conf.5"), None),
    ] + [(f, None) for f in p.get("dbus_files", [])]


def test_install(builddir, meson, p):
    with tempfile.TemporaryDirectory(prefix="cardiod-destdir-") as destdir:
        meson_install(builddir, meson, destdir)
        for path, mode in files_expected(p):
            f = in_destdir(destdir, path)
            if not check(os.path.isfile(f), f"installed {path}"):
                continue
            st = os.stat(f)
            check(not st.st_mode & 0o002, f"{path} is not world-writable")
            if mode:
                check(st.st_mode & mode == mode, f"{path} is executable")

        # Nothing lands outside the prefix except what pkg-config asked for.
        allowed = [p["prefix"], p["sysconfdir"], p["localstatedir"]] + [
            p[k] for k in ("unitdir", "sysusersdir", "modulesloaddir", "udevrulesdir",
                           "dbuspolicydir", "dbusinterfacesdir", "dbussystemservicesdir")]
        for root, _, names in os.walk(destdir):
            for n in names:
                rel = "/" + os.path.relpath(os.path.join(root, n), destdir)
                if not any(rel.startswith(a.rstrip("/") + "/") for a in allowed):
                    fail(f"{rel} installed outside the prefix and the system folders")

        service = open(in_destdir(destdir, os.path.join(p["unitdir"], "cardiod.service"))).read()
        m = re.search(r"^ExecStart=(\S+)", service, re.M)
        check(m and m.group(1) == p["cardiod"],
              f"ExecStart= names the installed daemon {p['cardiod']}")
        check("@" not in service.split("[Service]")[1].split("\n#")[0],
              "no unsubstituted @VAR@ in cardiod.service")
        for key in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "User=cardiod",
                    "Group=cardiod", "StateDirectory=cardiod", "ConfigurationDirectory=cardiod",
                    "BusName=org.cardiod.Cardiod1", "IPAddressDeny=any",
                    "IPAddressAllow=localhost", "DevicePolicy=closed"):
            check(re.search("^" + re.escape(key), service, re.M), f"cardiod.service has {key}")
        check(not re.search(r"^DynamicUser=\s*(yes|true|1)", service, re.M),
              "cardiod.service has no DynamicUser=")
        sock = open(in_destdir(destdir, os.path.join(p["unitdir"], "cardiod.socket"))).read()
        for key in ("ListenStream=127.0.0.1:8080", "ListenStream=[::1]:8080",
                    "IPAddressDeny=any", "IPAddressAllow=localhost", "Service=cardiod.service"):
            check(re.search("^" + re.escape(key) + "$", sock, re.M), f"cardiod.socket has {key}")

        # udev: the three sticks, group cardiod, never world-accessible.
        rules = open(in_destdir(destdir, os.path.join(p["udevrulesdir"],
                                                      "60-cardiod-ant.rules"))).read()
        for pid in ("1004", "1008", "1009"):
            check(re.search(r'ATTRS?\{idProduct\}=="[0-9|]*' + pid, rules), f"udev rule has 0fcf:{pid}")
        rules = "\n".join(line for line in rules.splitlines() if not line.lstrip().startswith("#"))
        modes = re.findall(r'MODE="(\d+)"', rules)
        check(modes and all(int(m_, 8) & 0o007 == 0 for m_ in modes),
              f"udev rule modes {modes} give nothing to others")
        check(re.findall(r'OWNER="([^"]+)"', rules) == ["cardiod", "cardiod"],
              "udev rule: usb device and tty to the user cardiod")
        check(not re.findall(r'GROUP="', rules) and all(int(m_, 8) & 0o070 == 0 for m_ in modes),
              "udev rule: the radio is not given to any group (DESIGN §9.7)")

        # sysusers: systemd-sysusers creates cardiod in a scratch root.
        if shutil.which("systemd-sysusers"):
            with tempfile.TemporaryDirectory(prefix="cardiod-sysroot-") as root:
                os.makedirs(os.path.join(root, "etc"))
                for f in ("passwd", "group", "shadow", "gshadow"):
                    open(os.path.join(root, "etc", f), "w").close()
                conf = in_destdir(destdir, os.path.join(p["sysusersdir"], "cardiod.conf"))
                r = subprocess.run(["systemd-sysusers", "--root", root, conf],
                                   capture_output=True, text=True)
                passwd = open(os.path.join(root, "etc", "passwd")).read()
                group = open(os.path.join(root, "etc", "group")).read()
                m = re.search(r"^cardiod:x:(\d+):(\d+):[^:\n]*:([^:\n]*):([^:\n]*)$", passwd, re.M)
                check(r.returncode == 0 and m is not None,
                      f"systemd-sysusers creates user cardiod ({r.stderr.strip()})")
                if m:
                    check(int(m.group(1)) < 1000, f"cardiod is a system user (uid {m.group(1)})")
                    check(m.group(3) == "/var/lib/cardiod", "cardiod's home is /var/lib/cardiod")
                    check(m.group(4).endswith("nologin"), f"cardiod has no login shell ({m.group(4)})")
                check(re.search(r"^cardiod:x:\d+:", group, re.M), "group cardiod exists")
                check(re.search(r"^cardiod-readers:x:\d+:", group, re.M),
                      "group cardiod-readers exists (DESIGN §9.7)")

        # The configuration: example copied to sysconfdir once, then kept.
        example = in_destdir(destdir, os.path.join(p["datadir"], "cardiod", "cardiod.conf.example"))
        conf = in_destdir(destdir, os.path.join(p["sysconfdir"], "cardiod", "cardiod.conf"))
        check(open(example).read() == open(conf).read(), "sysconfdir copy equals the example")
        with open(conf, "a") as f:
            f.write("\n# edited by the administrator\n")
        meson_install(builddir, meson, destdir)
        check(open(conf).read().endswith("# edited by the administrator\n"),
              "a reinstall keeps the administrator's cardiod.conf")


# ---------------------------------------------------------------- verify

def test_verify(builddir, meson, p):
    if not shutil.which("systemd-analyze"):
        print("systemd-analyze not found")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="cardiod-destdir-") as destdir, \
            tempfile.TemporaryDirectory(prefix="cardiod-units-") as units:
        meson_install(builddir, meson, destdir)
        unitdir = in_destdir(destdir, p["unitdir"])
        # verify checks that ExecStart= exists: point it at the DESTDIR copy,
        # the only change; man pages are looked up in the DESTDIR too.
        service = open(os.path.join(unitdir, "cardiod.service")).read()
        service = re.sub(r"^ExecStart=/", "ExecStart=" + destdir + "/", service, flags=re.M)
        with open(os.path.join(units, "cardiod.service"), "w") as f:
            f.write(service)
        shutil.copy(os.path.join(unitdir, "cardiod.socket"), units)
        env = dict(os.environ, MANPATH=in_destdir(destdir, p["mandir"]))
        r = subprocess.run(["systemd-analyze", "verify", "cardiod.socket", "cardiod.service"],
                           cwd=units, env=env, capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        print(out)
        check(r.returncode == 0 and out == "",
              f"systemd-analyze verify cardiod.socket cardiod.service: exit {r.returncode}, "
              f"{len(out.splitlines())} message lines")


# ---------------------------------------------------------------- security

def test_security(builddir, meson, p):
    if not shutil.which("systemd-analyze"):
        print("systemd-analyze not found")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="cardiod-destdir-") as destdir:
        meson_install(builddir, meson, destdir)
        service = in_destdir(destdir, os.path.join(p["unitdir"], "cardiod.service"))
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                            service], capture_output=True, text=True)
        lines = (r.stdout + r.stderr).splitlines()
        for line in lines:
            if line.startswith("✗") or "Overall exposure" in line:
                print(line)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout + r.stderr)
        check(m is not None, "systemd-analyze security prints an exposure level")
        if m:
            print(f"exposure: {m.group(1)}")
            check(float(m.group(1)) <= 1.5, f"exposure {m.group(1)} <= 1.5")
        g = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=15",
                            "--no-pager", service], capture_output=True, text=True)
        check(g.returncode == 0, f"systemd-analyze security --threshold=15 passes (exit {g.returncode})")


# ---------------------------------------------------------------- man

def help_options(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    return sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", out)))


def test_man(builddir, meson, p):
    if not shutil.which("man"):
        print("man not found")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="cardiod-destdir-") as destdir:
        meson_install(builddir, meson, destdir)
        pages = {}
        for rel in ("man8/cardiod.8", "man1/cardioctl.1", "man5/cardiod.conf.5"):
            f = in_destdir(destdir, os.path.join(p["mandir"], rel))
            if not check(os.path.isfile(f), f"{rel} installed"):
                continue
            env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
            r = subprocess.run(["man", "--warnings", "-l", f], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            check(r.returncode == 0 and r.stderr == "",
                  f"man --warnings -l {rel}: exit {r.returncode}, warnings {r.stderr!r}")
            pages[rel] = r.stdout
            check(len(r.stdout.splitlines()) > 30, f"{rel} renders ({len(r.stdout.splitlines())} lines)")
            for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
                check(re.search("^" + section + "$", r.stdout, re.M), f"{rel} has {section}")
        # Every option in --help is documented.
        cardiod = in_destdir(destdir, p["cardiod"])
        cardioctl = in_destdir(destdir, p["cardioctl"])
        main_help = subprocess.run([cardioctl, "--help"], capture_output=True, text=True).stdout
        commands = re.findall(r"^  ([a-z]+) ", main_help.split("Commands:")[-1].split("\n\n")[0],
                              re.M)
        check("analyze" in commands, f"cardioctl --help lists its commands ({commands})")
        helps = [("man8/cardiod.8", [cardiod, "--help"]),
                 ("man1/cardioctl.1", [cardioctl, "--help"])]
        helps += [("man1/cardioctl.1", [cardioctl, c, "--help"]) for c in commands if c != "help"]
        for c in commands:
            check(re.search(r"^ {7}" + c + r"\b", pages.get("man1/cardioctl.1", ""), re.M),
                  f"man1/cardioctl.1 documents the command {c}")
        for page, cmd in helps:
            text = pages.get(page, "")
            # Undo line-end hyphenation: "shut‐\n    down", "--commit-\n    interval".
            text = re.sub(r"‐\n\s*", "", text)
            text = re.sub(r"-\n\s*", "-", text).replace("‐", "-")
            missing = [o for o in help_options(cmd) if o not in text]
            check(not missing, f"{page} documents every option of {' '.join(cmd[1:])}: "
                  f"missing {missing}")


# ---------------------------------------------------------------- socket

def get(url, timeout=10):
    """GET url; retried while nothing listens yet (systemd-socket-activate starting)."""
    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.URLError as e:
            if not isinstance(e.reason, ConnectionRefusedError) or time.monotonic() > end:
                raise
            time.sleep(0.1)


def test_socket(cardiod):
    if not shutil.which("systemd-socket-activate"):
        print("systemd-socket-activate not found")
        return SKIP
    v6 = have_ipv6_loopback()
    with tempfile.TemporaryDirectory(prefix="cardiod-sa-") as tmp:
        for attempt in range(5):
            port = free_port()
            # As cardiod.socket: 127.0.0.1 and [::1], both named "http".
            cmd = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}"]
            if v6:
                cmd += ["-l", f"[::1]:{port}", "--fdname=http:http"]
            else:
                cmd += ["--fdname=http"]
            cmd += [cardiod, "--bus", "none", "--db", os.path.join(tmp, "c.db"),
                    "--no-ble", "--no-ant"]
            log = open(os.path.join(tmp, "log"), "w+")
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            time.sleep(0.3)
            if proc.poll() is None:
                break
            log.seek(0)
            print(log.read())
        else:
            fail("systemd-socket-activate could not listen")
            return
        try:
            # The first connection starts cardiod (systemd-socket-activate
            # execs it then); the request waits in the socket's backlog.
            urls = [f"http://127.0.0.1:{port}/healthz"]
            if v6:
                urls.append(f"http://[::1]:{port}/healthz")
            else:
                print("no IPv6 loopback here: [::1] not tested")
            for url in urls:
                try:
                    status, body = get(url)
                    check(status == 200 and body.get("status") == "ok",
                          f"GET {url} through the passed socket: {status} {body.get('status')}")
                except Exception as e:  # noqa: BLE001
                    fail(f"GET {url} through the passed socket: {e}")
            check(proc.poll() is None, "cardiod still runs")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            log.seek(0)
            out = log.read()
            print(out)
            check(rc == 0, f"cardiod exits 0 on SIGTERM (got {rc})")
            check(not re.search(r"listening on http://127\.0\.0\.1:8080", out),
                  "cardiod did not bind its own default address")


# ---------------------------------------------------------------- notify

# Heart rates of the replay: none is a number the status line could carry
# for another reason (addresses, counts, 5-digit ports).
BPMS = [143, 157, 163, 171, 149, 152, 166, 158, 147, 161, 169, 154]


SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)  # Linux; SCM_TIMESTAMP is the same


def recv_stamped(sock):
    """One datagram and the kernel's time of its arrival (CLOCK_REALTIME, s):
    when the test process is slow to read, the times stay those of sending."""
    data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(16))
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(raw) >= 16:
            sec, usec = struct.unpack("@ll", raw[:16])
            return data.decode(), sec + usec / 1e6
    return data.decode(), time.time()


def test_notify(cardiod):
    period_s = 3.0
    with tempfile.TemporaryDirectory(prefix="cardiod-notify-") as tmp:
        csv = os.path.join(tmp, "ride.csv")
        with open(csv, "w") as f:
            f.write("t_s,bpm,rr_ms,contact\n")
            for i, b in enumerate(BPMS):
                f.write(f"{i * 0.5},{b},{round(60000 / b)},1\n")
        sock_path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC=str(int(period_s * 1e6)))
        env.pop("WATCHDOG_PID", None)
        log = open(os.path.join(tmp, "log"), "w+")
        t0 = time.monotonic()
        t0_wall = time.time()  # the kernel stamps datagrams in CLOCK_REALTIME
        proc = subprocess.Popen([cardiod, "--listen", "127.0.0.1:0", "--bus", "none",
                                 "--db", os.path.join(tmp, "c.db"), "--no-ble", "--no-ant",
                                 "--replay", csv, "--speed", "1"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        messages = []  # (time, key, value)
        try:
            deadline = t0 + 10
            sock.settimeout(0.2)
            ready_at = None
            while time.monotonic() < deadline:
                try:
                    data, when = recv_stamped(sock)
                except socket.timeout:
                    if proc.poll() is not None:
                        break
                    continue
                now = when - t0_wall
                for line in data.split("\n"):
                    if "=" in line:
                        k, v = line.split("=", 1)
                        messages.append((now, k, v))
                        if k == "READY" and ready_at is None:
                            ready_at = now
                            # Watch the watchdog for 3 periods after READY=1.
                            deadline = time.monotonic() + 3 * period_s + 0.5
            proc.send_signal(signal.SIGTERM)
            sock.settimeout(1)
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    data, when = recv_stamped(sock)
                except socket.timeout:
                    if proc.poll() is not None:
                        break
                    continue
                for line in data.split("\n"):
                    if "=" in line:
                        k, v = line.split("=", 1)
                        messages.append((when - t0_wall, k, v))
            rc = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            sock.close()
        log.seek(0)
        print(log.read())
        for t, k, v in messages:
            print(f"  {t:6.2f}s {k}={v}")

        check(rc == 0, f"cardiod exits 0 on SIGTERM (got {rc})")
        ready = [t for t, k, v in messages if k == "READY" and v == "1"]
        if not check(ready, "READY=1 received"):
            return
        pings = [t for t, k, v in messages if k == "WATCHDOG" and v == "1" and t >= ready[0]]
        check(len(pings) >= 3, f"{len(pings)} WATCHDOG=1 in the {3 * period_s:g} s after READY=1")
        gaps = [b - a for a, b in zip([ready[0]] + pings, pings)]
        if gaps:
            print(f"watchdog gaps after READY=1: {', '.join(f'{g:.2f}' for g in gaps)} s "
                  f"(WATCHDOG_USEC {period_s:g} s)")
            # The contract (systemd kills a daemon that misses it): a ping
            # within every period.  sd-event's own timer pings between 1/2
            # and 3/4 of the period, so only a daemon starved for more than
            # a quarter period (0.75 s) could miss it; the times are the
            # kernel's arrival stamps, so a slow test process cannot.
            check(max(gaps) < period_s, f"every ping within the period (max {max(gaps):.2f} s)")
            # The mechanism: sd-event pings on a wake-up only once 1/4 of the
            # period has passed since the last ping (a lower bound that load
            # cannot break: it only delays pings).  The first gap runs from
            # READY=1, not from a ping.
            steady = gaps[1:] or gaps
            check(min(steady) >= 0.25 * period_s - 0.01,
                  f"no ping before a quarter period (min {min(steady):.2f} s)")
        status = [v for t, k, v in messages if k == "STATUS"]
        check(status, f"{len(status)} STATUS= lines")
        leaks = [s for s in status
                 if re.search(r"bpm|heart", s, re.I)
                 or set(int(n) for n in re.findall(r"\d+", s)) & set(BPMS)]
        check(not leaks, f"no heart rate in any STATUS= (leaks: {leaks})")
        check(any(k == "STOPPING" for t, k, v in messages), "STOPPING=1 on SIGTERM")


# ---------------------------------------------------------------- config

def config_keys(config_c):
    """Keys that daemon/daemon-config.c accepts, by section."""
    src = open(config_c).read()
    keys = set(re.findall(r'strcmp\(key, "([a-z_]+)"\)', src))
    keys |= set(re.findall(r'\{ "([a-z_]+)", offsetof', src))
    return keys


def run_briefly(cardiod, conf, tmp):
    """Start cardiod with conf; True once READY=1, then stop it."""
    sock_path = os.path.join(tmp, "notify")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path)
    proc = subprocess.Popen([cardiod, "--config", conf, "--listen", "127.0.0.1:0",
                             "--bus", "none", "--db", os.path.join(tmp, "c.db"),
                             "--token-file", os.path.join(tmp, "api-token"),
                             "--no-ble", "--no-ant"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready = False
    try:
        end = time.monotonic() + 10
        while time.monotonic() < end and not ready and proc.poll() is None:
            try:
                ready = "READY=1" in sock.recv(4096).decode().split("\n")
            except socket.timeout:
                break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        sock.close()
    print(out)
    return ready and proc.returncode == 0


def test_config(cardiod, example, config_c):
    text = open(example).read()
    with tempfile.TemporaryDirectory(prefix="cardiod-conf-") as tmp:
        check(run_briefly(cardiod, example, tmp), "cardiod starts with the example as it is")
        # "#key = value" lines are the defaults: uncommented, they must parse
        # too and change nothing that would stop the daemon.
        active = re.sub(r"^#([a-z_]+ = )", r"\1", text, flags=re.M)
        conf = os.path.join(tmp, "active.conf")
        with open(conf, "w") as f:
            f.write(active)
        defaults = dict(re.findall(r"^([a-z_]+) = (.*)$", active, re.M))
        print("defaults in the example:", defaults)
        check(run_briefly(cardiod, conf, tmp), "cardiod starts with every default uncommented")
        # Each key daemon/daemon-config.c knows appears in the example.
        shown = set(re.findall(r"^#\s*([a-z_]+) = ", text, re.M))
        missing = sorted(config_keys(config_c) - shown)
        check(not missing, f"the example shows every key of daemon/daemon-config.c (missing: {missing})")
        sections = set(re.findall(r"^\[([a-z]+)\]", text, re.M))
        check(sections >= {"http", "bus", "profile", "ble", "ant", "session", "storage"},
              f"the example has every section of DESIGN §6 ({sorted(sections)})")


# ---------------------------------------------------------------- main

def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    what = sys.argv[1]
    if what in ("install", "verify", "security", "man"):
        builddir, meson = sys.argv[2:4]
        p = dict(a.split("=", 1) for a in sys.argv[4:])
        p["dbus_files"] = [f for f in p.get("dbus_files", "").split(":") if f]
        r = {"install": test_install, "verify": test_verify, "security": test_security,
             "man": test_man}[what](builddir, meson, p)
    elif what == "socket":
        r = test_socket(sys.argv[2])
    elif what == "notify":
        r = test_notify(sys.argv[2])
    elif what == "config":
        r = test_config(*sys.argv[2:5])
    else:
        print(__doc__)
        return 2
    if r == SKIP:
        return SKIP
    print(f"{what}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
