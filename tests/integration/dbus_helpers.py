# SPDX-License-Identifier: MIT
"""Helpers for the D-Bus tests: a private dbus-daemon, a client that records
every signal, and the comparison of introspection data (issue 6)."""

import os
import subprocess
import time
import xml.etree.ElementTree as ET

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)

NAME = "org.cardiod.Cardiod1"
PATH = "/org/cardiod/Cardiod1"
IFACE = "org.cardiod.Cardiod1"
DEV_IFACE = "org.cardiod.Cardiod1.Device"
PROPS = "org.freedesktop.DBus.Properties"
OM = "org.freedesktop.DBus.ObjectManager"


class BusDaemon:
    """dbus-daemon on a Unix socket at path, with the session config or config_file."""

    def __init__(self, path, config_file=None):
        self.path = path
        self.address = "unix:path=" + path
        if os.path.exists(path):
            os.unlink(path)
        cfg = ["--config-file=" + config_file] if config_file else ["--session"]
        self.proc = subprocess.Popen(["dbus-daemon", *cfg, "--nofork", "--nopidfile",
                                      "--address=" + self.address, "--print-address"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("unix:"):
            raise RuntimeError("dbus-daemon did not start: " + self.proc.stderr.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def pump(seconds):
    """Run the GLib loop for a while so signal handlers run."""
    loop = GLib.MainLoop()
    GLib.timeout_add(int(seconds * 1000), loop.quit)
    loop.run()


def pump_until(pred, timeout):
    deadline = time.monotonic() + timeout
    ctx = GLib.MainContext.default()
    while time.monotonic() < deadline:
        while ctx.pending():
            ctx.iteration(False)
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    while ctx.pending():
        ctx.iteration(False)
    return pred()


class Client:
    """A connection to the bus that records every signal it receives."""

    def __init__(self, address):
        self.bus = dbus.bus.BusConnection(address)
        self.signals = []  # (monotonic, interface, member, path, args)
        self.bus.add_signal_receiver(self._on_signal, interface_keyword="iface",
                                     member_keyword="member", path_keyword="path")

    def _on_signal(self, *args, iface=None, member=None, path=None):
        self.signals.append((time.monotonic(), iface, member, path, args))

    def of(self, iface, member, path=None):
        return [s for s in self.signals
                if s[1] == iface and s[2] == member and (path is None or s[3] == path)]

    def obj(self, path=PATH):
        return self.bus.get_object(NAME, path, introspect=False)

    def call(self, method, *args, iface=IFACE, path=PATH, **kw):
        return getattr(self.obj(path), method)(*args, dbus_interface=iface, **kw)

    def get_all(self, iface=IFACE, path=PATH):
        return self.call("GetAll", iface, iface=PROPS, path=path)

    def get(self, prop, iface=IFACE, path=PATH):
        return self.call("Get", iface, prop, iface=PROPS, path=path)

    def has_owner(self):
        return bool(self.bus.name_has_owner(NAME))

    def close(self):
        self.bus.close()


def dbus_error(fn, *args, **kw):
    """The D-Bus error name fn raises, or None."""
    try:
        fn(*args, **kw)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()
    return None


def interface_model(root, iface_name):
    """{(kind, name): (args, annotations)} of one interface of an introspection tree,
    normalised: EmitsChangedSignal 'true' is the default and is dropped; arg names
    and directions kept; doc comments and the order of members ignored."""
    model = {}
    for iface in root.findall("interface"):
        if iface.get("name") != iface_name:
            continue
        for el in iface:
            if el.tag not in ("property", "method", "signal"):
                continue
            anns = {}
            for a in el.findall("annotation"):
                if a.get("name") == "org.freedesktop.DBus.Property.EmitsChangedSignal" \
                        and a.get("value") == "true":
                    continue
                anns[a.get("name")] = a.get("value")
            if el.tag == "property":
                args = (el.get("type"), el.get("access"))
            else:
                args = tuple((a.get("name"), a.get("type"),
                              a.get("direction") or ("in" if el.tag == "method" else "out"))
                             for a in el.findall("arg"))
            model[(el.tag, el.get("name"))] = (args, tuple(sorted(anns.items())))
    return model


def members_without_doc(xml_path):
    """Names of members not preceded by an XML comment in the file."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    tree = ET.parse(xml_path, parser=parser)
    missing = []
    for iface in tree.getroot().findall("interface"):
        prev = None
        for el in iface:
            if el.tag in ("property", "method", "signal") and prev is not ET.Comment:
                missing.append(iface.get("name") + "." + el.get("name"))
            prev = el.tag
    return missing
