#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The system-bus policy units/org.cardiod.Cardiod1.conf (DESIGN §5, §9.7,
ECOSYSTEM §1.7 and §2.5), loaded into a private dbus-daemon whose default
context is Debian's system.conf (deny own and method calls by default),
plus a deny-by-default org.bluez as some distributions ship.

The real cardiod runs as a stand-in for the user cardiod; clients run as
four other users (a member of the stand-in for group cardiod, a member of
the stand-in for group cardiod-readers, an unrelated user, root) and check
the allow/deny matrix.  A second cardiod then serves a private bus that has
NO cardiod policy at all (--bus ADDRESS): its own credential checks must
still keep the outsider out.

The users and groups are created here with useradd/groupadd and removed at
the end, so this needs root: otherwise it is skipped (exit 77).  As root,
any failure to set them up is a failure, never a skip.  cardiod runs from a
copy in the test's own world-readable folder, so the checkout may sit in a
private folder (mode 0700) that the test users cannot enter.

Usage: test-dbus-policy.py CARDIOD POLICY
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import Checker  # noqa: E402

CARDIOD, POLICY = sys.argv[1:3]
# Names unique to this run: other trees may run this test at the same time.
_TAG = "cdp%d" % os.getpid()
SVC, MGR, RDR, OTHER = _TAG + "-svc", _TAG + "-mgr", _TAG + "-rdr", _TAG + "-oth"
GROUP, RGROUP = _TAG + "-grp", _TAG + "-rgrp"  # stand-ins for cardiod, cardiod-readers
DENIED = "org.freedesktop.DBus.Error.AccessDenied"
READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"

if os.geteuid() != 0:
    print("SKIP: the policy test needs root, to create test users (useradd) and run "
          "clients as them (runuser)")
    sys.exit(77)
# As root nothing may skip: a missing tool is a broken set-up, reported as a failure.
for tool in ("useradd", "userdel", "groupadd", "groupdel", "runuser", "dbus-daemon"):
    if not shutil.which(tool):
        print("FAIL: %s is not installed (the test runs as root, so it must be)" % tool,
              file=sys.stderr)
        sys.exit(1)

SYSTEM_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(sock)s</listen>
  <auth>EXTERNAL</auth>
  <!-- The default context of Debian 12's system.conf (dbus 1.14). -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <!-- A deny-by-default BlueZ (old upstream, Raspberry Pi OS). -->
  <policy user="root">
    <allow own="org.bluez"/>
  </policy>
  <policy context="default">
    <deny send_destination="org.bluez"/>
  </policy>
  <includedir>%(policydir)s</includedir>
</busconfig>
"""

CLIENT = r'''
import sys, time
import dbus
import dbus.mainloop.glib
from gi.repository import GLib
ADDR, ACTION = sys.argv[1], sys.argv[2]
N, P, I = "org.cardiod.Cardiod1", "/org/cardiod/Cardiod1", "org.cardiod.Cardiod1"
def main():
    bus = dbus.bus.BusConnection(ADDR)
    o = bus.get_object(N, P, introspect=False)
    if ACTION == "own":
        return str(bus.request_name(N, dbus.bus.NAME_FLAG_DO_NOT_QUEUE))
    if ACTION == "get":
        return str(int(o.Get(I, "HeartRate", dbus_interface="org.freedesktop.DBus.Properties")))
    if ACTION == "getall":
        return str(len(o.GetAll(I, dbus_interface="org.freedesktop.DBus.Properties")))
    if ACTION == "set":
        o.Set(I, "HeartRate", dbus.UInt16(1), dbus_interface="org.freedesktop.DBus.Properties")
        return "set"
    if ACTION == "introspect":
        return str(len(o.Introspect(dbus_interface="org.freedesktop.DBus.Introspectable")))
    if ACTION == "objects":
        return str(len(o.GetManagedObjects(dbus_interface="org.freedesktop.DBus.ObjectManager")))
    if ACTION == "getsession":
        return str(len(o.GetSession(dbus.UInt64(0), dbus_interface=I)))
    if ACTION == "start":
        return str(int(o.StartSession("", dbus_interface=I)))
    if ACTION == "stop":
        o.StopSession(dbus.UInt64(0), dbus_interface=I)
        return "stopped"
    if ACTION == "signals":
        dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
        bus = dbus.bus.BusConnection(ADDR)
        got = []
        bus.add_signal_receiver(lambda *a: got.append(a), signal_name="HeartRate",
                                dbus_interface=I)
        loop = GLib.MainLoop()
        GLib.timeout_add(2500, loop.quit)
        loop.run()
        return str(len(got))
    if ACTION == "bluez-props":
        b = bus.get_object("org.bluez", "/org/bluez/hci0", introspect=False)
        b.GetAll("org.bluez.Adapter1", dbus_interface="org.freedesktop.DBus.Properties")
        return "ok"
    if ACTION == "bluez-agent":
        b = bus.get_object("org.bluez", "/org/bluez", introspect=False)
        b.RegisterAgent(dbus.ObjectPath("/a"), "", dbus_interface="org.bluez.AgentManager1")
        return "ok"
    return "bad action"
try:
    print(main())
except dbus.exceptions.DBusException as e:
    print(e.get_dbus_name())
'''

BLUEZ_MOCK = r'''
import sys
import dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
name = dbus.service.BusName("org.bluez", bus)
class Adapter(dbus.service.Object):
    @dbus.service.method("org.freedesktop.DBus.Properties", in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return {"Powered": dbus.Boolean(True)}
class Manager(dbus.service.Object):
    @dbus.service.method("org.bluez.AgentManager1", in_signature="os", out_signature="")
    def RegisterAgent(self, path, cap):
        pass
Adapter(bus, "/org/bluez/hci0")
Manager(bus, "/org/bluez")
print("ready", flush=True)
GLib.MainLoop().run()
'''

OPEN_BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=%(sock)s</listen>
  <auth>EXTERNAL</auth>
  <!-- No cardiod policy at all: every user may connect, own and call anything. -->
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

t = Checker("test-dbus-policy")
tmp = tempfile.mkdtemp(prefix="cardiod-policy-")
os.chmod(tmp, 0o755)
created_users, created_groups = [], []
procs = []
daemons = []  # (name, Popen) of every cardiod, whose exit status is checked at the end


def sh(*cmd):
    """Run cmd; retried while /etc/passwd is locked by a concurrent useradd."""
    for _ in range(40):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0 or "lock" not in r.stderr:
            return r
        time.sleep(0.25)
    return r


def setup_users():
    for g in (GROUP, RGROUP):
        if sh("getent", "group", g).returncode != 0:
            r = sh("groupadd", "--system", g)
            if r.returncode != 0:
                raise RuntimeError("groupadd %s: %s" % (g, r.stderr.strip()))
            created_groups.append(g)
    for u, extra in ((SVC, []), (OTHER, []), (MGR, ["-G", GROUP]), (RDR, ["-G", RGROUP])):
        if sh("getent", "passwd", u).returncode != 0:
            r = sh("useradd", "--system", "--no-create-home", "--user-group",
                   "--shell", "/usr/sbin/nologin", *extra, u)
            if r.returncode != 0:
                raise RuntimeError("useradd %s: %s" % (u, r.stderr.strip()))
            created_users.append(u)
            created_groups.append(u)  # its user group, removed with the user


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    for u in created_users:
        sh("userdel", u)
    for g in created_groups:
        if sh("getent", "group", g).returncode == 0:
            sh("groupdel", g)
    shutil.rmtree(tmp, ignore_errors=True)


def as_user(user, *cmd, **kw):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": tmp, "LANG": "C.UTF-8"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    if user == "root":
        return subprocess.Popen(list(cmd), env=env, **kw)
    return subprocess.Popen(["runuser", "-u", user, "--", *cmd], env=env, **kw)


def client(user, action, addr=None):
    p = as_user(user, "/usr/bin/python3", client_py, addr or address, action,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=30)
    return out.strip() or ("exit %d: %s" % (p.returncode, err.strip()[-300:]))


def start_bus(conf_text, name):
    sock = os.path.join(tmp, name + "_socket")
    conf = os.path.join(tmp, name + ".conf")
    with open(conf, "w") as f:
        f.write(conf_text % {"sock": sock, "policydir": policydir})
    os.chmod(conf, 0o644)
    bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile",
                            "--print-address"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    procs.append(bus)
    line = bus.stdout.readline()
    if not line.startswith("unix:"):
        t.check(False, "dbus-daemon %s starts: %s" % (name, bus.stderr.read()))
        return None
    return "unix:path=" + sock


def start_cardiod(addr, name):
    """cardiod as the service user, from the copy in tmp; True once it owns the name."""
    svcdir = os.path.join(tmp, "svc-" + name)
    os.mkdir(svcdir)
    shutil.chown(svcdir, SVC, SVC)
    log_path = os.path.join(tmp, "cardiod-%s.log" % name)
    log = open(log_path, "w")
    d = as_user(SVC, cardiod, "--config", empty, "--bus", addr, "--simulate",
                "--db", os.path.join(svcdir, "db"), "--listen", "127.0.0.1:0",
                "--token-file", os.path.join(svcdir, "api-token"),
                "--manage-group", GROUP, "--read-group", RGROUP,
                "--no-ble", "--no-ant", stdout=subprocess.DEVNULL, stderr=log)
    procs.append(d)
    daemons.append((name, d))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "Ready:" not in open(log_path).read():
        if d.poll() is not None:
            break
        time.sleep(0.1)
    text = open(log_path).read()
    return t.check("D-Bus service org.cardiod.Cardiod1" in text,
                   "cardiod (%s) as the service user owns the name: %r" % (name, text[-800:]))


READS = ("get", "getall", "objects", "getsession")

try:
    try:
        setup_users()
    except RuntimeError as e:
        # Root can always create users; if it cannot, the machine is broken: fail.
        t.check(False, "create the test users and groups: %s" % e)
        raise SystemExit

    # The binary, copied where the test users can read and run it (issue 11):
    # the checkout's build folder may be inside a private 0700 folder.
    bindir = os.path.join(tmp, "bin")
    os.mkdir(bindir)
    cardiod = os.path.join(bindir, "cardiod")
    shutil.copy2(CARDIOD, cardiod)
    os.chmod(bindir, 0o755)
    os.chmod(cardiod, 0o755)

    policydir = os.path.join(tmp, "system.d")
    os.mkdir(policydir)
    with open(POLICY) as f:
        policy = f.read()
    policy = policy.replace('user="cardiod"', 'user="%s"' % SVC) \
                   .replace('group="cardiod"', 'group="%s"' % GROUP) \
                   .replace('group="cardiod-readers"', 'group="%s"' % RGROUP)
    t.check('group="%s"' % RGROUP in policy and 'group="%s"' % GROUP in policy,
            "the policy names the groups cardiod and cardiod-readers")
    with open(os.path.join(policydir, "org.cardiod.Cardiod1.conf"), "w") as f:
        f.write(policy)
    client_py = os.path.join(tmp, "client.py")
    with open(client_py, "w") as f:
        f.write(CLIENT)
    mock_py = os.path.join(tmp, "bluez.py")
    with open(mock_py, "w") as f:
        f.write(BLUEZ_MOCK)
    empty = os.path.join(tmp, "empty.conf")
    open(empty, "w").close()
    for p in (client_py, mock_py, empty):
        os.chmod(p, 0o644)

    address = start_bus(SYSTEM_CONF, "system")
    if not address:
        raise SystemExit

    bluez = as_user("root", "/usr/bin/python3", mock_py, address, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True)
    procs.append(bluez)
    t.check(bluez.stdout.readline().strip() == "ready", "mock org.bluez owned by root")

    if not start_cardiod(address, "policy"):
        raise SystemExit
    time.sleep(2.2)

    # Ownership: only the service user.
    for user in (OTHER, RDR, MGR, "root"):
        r = client(user, "own")
        t.check(r == DENIED, "%s may not own the name (got %r)" % (user, r))
    # Introspection carries no data: everyone.
    for user in (OTHER, RDR, MGR, "root"):
        r = client(user, "introspect")
        t.check(r.isdigit(), "%s may introspect (got %r)" % (user, r))
    # Reading: root and the two groups; never Set, whoever asks.
    for user in (RDR, MGR, "root"):
        for action in READS:
            r = client(user, action)
            t.check(r.isdigit(), "%s may %s (got %r)" % (user, action, r))
        r = client(user, "signals")
        t.check(r.isdigit() and int(r) >= 1, "%s receives HeartRate signals (got %r)" % (user, r))
    for user in (OTHER, RDR, MGR, "root"):
        r = client(user, "set")
        t.check(r in (DENIED, READ_ONLY), "%s may not Set a property (got %r)" % (user, r))
    # The outsider: no data at all, and no signals (readers got some in the same time).
    for action in READS:
        r = client(OTHER, action)
        t.check(r == DENIED, "unrelated user may not %s (got %r)" % (action, r))
    r = client(OTHER, "signals")
    t.check(r == "0", "unrelated user receives no HeartRate signals (got %r)" % r)
    # Start/Stop: root and the group cardiod only.
    for user, who in ((OTHER, "unrelated user"), (RDR, "reader")):
        r = client(user, "start")
        t.check(r == DENIED, "%s may not StartSession (got %r)" % (who, r))
        r = client(user, "stop")
        t.check(r == DENIED, "%s may not StopSession (got %r)" % (who, r))
    r = client(MGR, "stop")
    t.check(r == "stopped", "group member may StopSession (got %r)" % r)
    r = client(MGR, "start")
    t.check(r.isdigit(), "group member may StartSession (got %r)" % r)
    r = client("root", "stop")
    t.check(r == "stopped", "root may StopSession (got %r)" % r)
    r = client("root", "start")
    t.check(r.isdigit(), "root may StartSession (got %r)" % r)
    # The BlueZ hole: the service user, for the GATT client's interfaces only.
    t.check(client(SVC, "bluez-props") == "ok", "service user may read BlueZ properties")
    t.check(client(SVC, "bluez-agent") == DENIED, "service user may not use AgentManager1")
    t.check(client(OTHER, "bluez-props") == DENIED, "unrelated user may not talk to BlueZ")

    # A bus with no cardiod policy (--bus ADDRESS): cardiod's own checks decide.
    open_address = start_bus(OPEN_BUS_CONF, "open")
    if open_address and start_cardiod(open_address, "open"):
        time.sleep(2.2)  # a session of the simulated strap, as above
        for action in READS + ("start", "stop"):
            r = client(OTHER, action, open_address)
            t.check(r == DENIED, "no policy: unrelated user may not %s (got %r)" % (action, r))
        r = client(OTHER, "introspect", open_address)
        t.check(r.isdigit(), "no policy: unrelated user may introspect (got %r)" % r)
        for action in READS:
            r = client(RDR, action, open_address)
            t.check(r.isdigit(), "no policy: reader may %s (got %r)" % (action, r))
        for action in ("start", "stop"):
            r = client(RDR, action, open_address)
            t.check(r == DENIED, "no policy: reader may not %s (got %r)" % (action, r))
        r = client(MGR, "stop", open_address)
        t.check(r == "stopped", "no policy: group member may StopSession (got %r)" % r)
        r = client(MGR, "start", open_address)
        t.check(r.isdigit(), "no policy: group member may StartSession (got %r)" % r)
        r = client("root", "getsession", open_address)
        t.check(r.isdigit(), "no policy: root may GetSession (got %r)" % r)
    # Every cardiod stops cleanly (under ASan: no leak, no error in the checks).
    for name, d in daemons:
        # SIGTERM to cardiod itself: runuser passes on its child's exit status,
        # but re-raises a signal it gets itself, which would hide that status.
        try:
            with open("/proc/%d/task/%d/children" % (d.pid, d.pid)) as f:
                children = [int(x) for x in f.read().split()]
        except OSError:
            children = []
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        try:
            rc = d.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        t.check(rc == 0, "cardiod (%s) exits 0 at SIGTERM (got %r)" % (name, rc))
except SystemExit:
    pass
finally:
    cleanup()
t.finish()
