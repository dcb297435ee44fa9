#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A fake bluetoothd for cardiod's BLE tests (issue 4).

Serves org.bluez on a private bus the way BlueZ 5.66 does (PROTOCOLS §2,
with the corrections of §2.5a): an ObjectManager at /, Adapter1 with
SetDiscoveryFilter/StartDiscovery/StopDiscovery per client, Device1 with
Connect/Disconnect, GattService1/GattCharacteristic1 objects exported
after each connection (new paths each time), AcquireNotify returning one
end of a SOCK_SEQPACKET socketpair (one send per notification),
StartNotify + PropertiesChanged(Value), ReadValue on 0x2A38, and Battery1
on the device.  Straps are scripted through a control object on the same
bus, under its own name (org.cardiod.FakeBluez at /control), which stays
while org.bluez is released and taken again ("a bluetoothd restart").

Usage: fake_bluez.py --bus ADDRESS   (prints READY once both names are owned)
"""

import argparse
import json
import socket
import time

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

BLUEZ = "org.bluez"
CONTROL = "org.cardiod.FakeBluez"
OM = "org.freedesktop.DBus.ObjectManager"
PROPS = "org.freedesktop.DBus.Properties"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
BATTERY = "org.bluez.Battery1"
SERVICE = "org.bluez.GattService1"
CHAR = "org.bluez.GattCharacteristic1"

UUID_HRS = "0000180d-0000-1000-8000-00805f9b34fb"
UUID_HRM = "00002a37-0000-1000-8000-00805f9b34fb"
UUID_BSL = "00002a38-0000-1000-8000-00805f9b34fb"
UUID_BAS = "0000180f-0000-1000-8000-00805f9b34fb"


class BluezError(dbus.DBusException):
    def __init__(self, name, message=""):
        super().__init__(message)
        self._dbus_error_name = name


def failed(msg):
    return BluezError("org.bluez.Error.Failed", msg)


class Obj(dbus.service.Object):
    """One exported object with any of our interfaces; props[iface] = {name: dbus value}."""

    def __init__(self, fake, path, props):
        self.fake = fake
        self.path = path
        self.props = props
        self.exported = False
        super().__init__()

    def export(self):
        if not self.exported:
            self.add_to_connection(self.fake.bus, self.path)
            self.exported = True

    def unexport(self):
        if self.exported:
            self.remove_from_connection()
            self.exported = False

    def set(self, iface, **kv):
        changed = {}
        for k, v in kv.items():
            if self.props[iface].get(k) != v or k == "Value":
                self.props[iface][k] = v
                changed[k] = v
        if changed and self.exported and self.fake.online:
            self.PropertiesChanged(iface, dbus.Dictionary(changed, signature="sv"),
                                   dbus.Array([], signature="s"))

    def need(self, iface):
        if iface not in self.props:
            raise BluezError("org.freedesktop.DBus.Error.UnknownMethod",
                             "No such interface '%s' at %s" % (iface, self.path))

    @dbus.service.method(PROPS, in_signature="ss", out_signature="v")
    def Get(self, iface, name):
        self.need(iface)
        if name not in self.props[iface]:
            raise BluezError("org.freedesktop.DBus.Error.InvalidArgs", "No such property")
        return self.props[iface][name]

    @dbus.service.method(PROPS, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        self.need(iface)
        return dbus.Dictionary(self.props[iface], signature="sv")

    @dbus.service.method(PROPS, in_signature="ssv")
    def Set(self, iface, name, value):
        self.need(iface)
        if iface == ADAPTER and name == "Powered":
            self.fake.set_powered(bool(value))
            return
        raise BluezError("org.bluez.Error.NotSupported", "read-only")

    @dbus.service.signal(PROPS, signature="sa{sv}as")
    def PropertiesChanged(self, iface, changed, invalidated):
        pass

    # Adapter1
    @dbus.service.method(ADAPTER, in_signature="a{sv}", sender_keyword="sender")
    def SetDiscoveryFilter(self, flt, sender=None):
        self.need(ADAPTER)
        self.fake.log("SetDiscoveryFilter", self.path, sender, {k: str_of(v) for k, v in flt.items()})
        if not self.fake.powered:
            raise BluezError("org.bluez.Error.NotReady", "Resource Not Ready")
        self.fake.filters[sender] = {k: str_of(v) for k, v in flt.items()}

    @dbus.service.method(ADAPTER, sender_keyword="sender")
    def StartDiscovery(self, sender=None):
        self.need(ADAPTER)
        self.fake.log("StartDiscovery", self.path, sender)
        if not self.fake.powered:
            raise BluezError("org.bluez.Error.NotReady", "Resource Not Ready")
        if sender in self.fake.discovery:
            raise BluezError("org.bluez.Error.InProgress", "Operation already in progress")
        self.fake.discovery.add(sender)
        self.fake.watch_client(sender)
        self.fake.update_discovering()

    @dbus.service.method(ADAPTER, sender_keyword="sender")
    def StopDiscovery(self, sender=None):
        self.need(ADAPTER)
        self.fake.log("StopDiscovery", self.path, sender)
        if sender not in self.fake.discovery:
            raise BluezError("org.bluez.Error.Failed", "No discovery started")
        self.fake.discovery.discard(sender)
        self.fake.update_discovering()

    @dbus.service.method(ADAPTER, in_signature="o")
    def RemoveDevice(self, path):
        self.need(ADAPTER)
        self.fake.remove_device(str(path))

    # Device1
    @dbus.service.method(DEVICE, sender_keyword="sender", async_callbacks=("ok", "err"))
    def Connect(self, sender=None, ok=None, err=None):
        self.need(DEVICE)
        self.fake.connect(self.strap, sender, ok, err)

    @dbus.service.method(DEVICE, sender_keyword="sender")
    def Disconnect(self, sender=None):
        self.need(DEVICE)
        self.fake.log("Disconnect", self.path, sender)
        self.fake.disconnect(self.strap, cancel=True)

    # GattCharacteristic1
    @dbus.service.method(CHAR, in_signature="a{sv}", out_signature="ay", sender_keyword="sender")
    def ReadValue(self, options, sender=None):
        self.need(CHAR)
        self.fake.log("ReadValue", self.path, sender)
        uuid = self.props[CHAR]["UUID"]
        if uuid == UUID_HRM:
            raise BluezError("org.bluez.Error.NotSupported", "Operation is not supported")
        if uuid == UUID_BSL:
            v = dbus.Array([dbus.Byte(self.strap.bsl)], signature="y")
            self.set(CHAR, Value=v)
            return v
        raise failed("Operation failed with ATT error: 0x0a")

    @dbus.service.method(CHAR, in_signature="a{sv}", out_signature="hq", sender_keyword="sender")
    def AcquireNotify(self, options, sender=None):
        self.need(CHAR)
        self.fake.log("AcquireNotify", self.path, sender)
        s = self.strap
        if self.props[CHAR]["UUID"] != UUID_HRM:
            raise BluezError("org.bluez.Error.NotSupported", "Operation is not supported")
        if not s.connected:
            raise BluezError("org.bluez.Error.NotConnected", "Not Connected")
        if s.refuse_acquire:
            raise BluezError("org.bluez.Error.NotPermitted", "Notify acquired")
        if s.acquire_error:
            raise BluezError(s.acquire_error, "Operation failed")
        if s.sock is not None:
            raise BluezError("org.bluez.Error.NotPermitted", "Notify acquired")
        if s.sessions:
            raise BluezError("org.bluez.Error.InProgress", "Operation already in progress")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.sock = ours
        s.acquired_by = sender
        s.acquires += 1
        self.set(CHAR, NotifyAcquired=dbus.Boolean(True))
        fd = dbus.types.UnixFd(theirs.fileno())
        theirs.close()
        return fd, dbus.UInt16(s.mtu)

    @dbus.service.method(CHAR, sender_keyword="sender")
    def StartNotify(self, sender=None):
        self.need(CHAR)
        self.fake.log("StartNotify", self.path, sender)
        s = self.strap
        if self.props[CHAR]["UUID"] != UUID_HRM:
            raise BluezError("org.bluez.Error.NotSupported", "Operation is not supported")
        if s.sock is not None:
            raise BluezError("org.bluez.Error.NotPermitted", "Notify acquired")
        if sender in s.sessions:
            # §2.5a: a kept session answers InProgress while disconnected.
            if not s.connected:
                raise BluezError("org.bluez.Error.InProgress", "Operation already in progress")
            return
        s.sessions.add(sender)
        self.fake.watch_client(sender)
        self.set(CHAR, Notifying=dbus.Boolean(True))

    @dbus.service.method(CHAR, sender_keyword="sender")
    def StopNotify(self, sender=None):
        self.need(CHAR)
        self.fake.log("StopNotify", self.path, sender)
        self.strap.sessions.discard(sender)
        if not self.strap.sessions:
            self.set(CHAR, Notifying=dbus.Boolean(False))


def str_of(v):
    if isinstance(v, (dbus.Array, list)):
        return [str_of(x) for x in v]
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Byte, dbus.Int16, dbus.UInt16, dbus.Int32, dbus.UInt32)):
        return int(v)
    return str(v)


class Strap:
    def __init__(self, fake, address, name, opts):
        self.fake = fake
        self.address = address.upper()
        self.name = name
        self.advertising = bool(opts.get("advertising", True))
        self.uuids = [str(u) for u in opts.get("uuids", [UUID_HRS, UUID_BAS])]
        self.battery = int(opts.get("battery", 87))
        self.bsl = int(opts.get("bsl", 1))
        self.mtu = int(opts.get("mtu", 23))
        self.refuse_acquire = bool(opts.get("refuse_acquire", False))
        self.acquire_error = str(opts.get("acquire_error", ""))
        # Like btvirt: an advertiser is reported only when a scan is (re)started.
        self.report_on_scan_start = bool(opts.get("report_on_scan_start", False))
        self.persist_gatt = bool(opts.get("persist_gatt", False))
        self.connect_delay = float(opts.get("connect_delay", 0.05))
        self.connect_fail = []  # [(error name, message)] for the next Connect calls
        self.connected = False
        self.device = None  # Obj
        self.gatt = []  # [Obj]: service, chars
        self.hrm = None
        self.sock = None
        self.acquired_by = None
        self.acquires = 0
        self.sessions = set()
        self.pending = None  # (ok, err, timer id)
        self.connect_calls = []  # monotonic times
        self.connects = 0
        self.sent = {"fd": 0, "signal": 0, "none": 0}

    @property
    def path(self):
        return "/org/bluez/hci0/dev_" + self.address.replace(":", "_")


class Fake:
    def __init__(self, bus):
        self.bus = bus
        self.online = False
        self.powered = True
        self.adapter_present = True
        self.discovery = set()
        self.filters = {}
        self.straps = {}
        self.calls = []
        self.handle = 0x000c
        self.watched = set()
        self.max_pending_connects = 0
        self.adapter = Obj(self, "/org/bluez/hci0", {ADAPTER: self.adapter_props()})
        self.root = Root(self)
        self.root.export()

    def adapter_props(self):
        return {
            "Address": dbus.String("00:AA:01:00:00:23"),
            "AddressType": dbus.String("public"),
            "Name": dbus.String("fake"),
            "Alias": dbus.String("fake"),
            "Class": dbus.UInt32(0),
            "Powered": dbus.Boolean(self.powered),
            "Discoverable": dbus.Boolean(False),
            "Pairable": dbus.Boolean(True),
            "Discovering": dbus.Boolean(False),
            "UUIDs": dbus.Array([], signature="s"),
            "Modalias": dbus.String("usb:v1D6Bp0246d0542"),
        }

    def log(self, method, path, sender, args=None):
        self.calls.append({"t": time.monotonic(), "method": method, "path": path,
                           "sender": str(sender), "args": args})

    # Object tree
    def objects(self):
        out = []
        if self.adapter_present:
            out.append(self.adapter)
            for s in self.straps.values():
                if s.device is not None:
                    out.append(s.device)
                    out.extend(s.gatt)
        return out

    def added(self, obj, ifaces=None):
        obj.export()
        if self.online:
            props = {i: dbus.Dictionary(obj.props[i], signature="sv")
                     for i in (ifaces or obj.props.keys())}
            self.root.InterfacesAdded(dbus.ObjectPath(obj.path),
                                      dbus.Dictionary(props, signature="sa{sv}"))

    def removed(self, obj, ifaces=None, unexport=True):
        if self.online:
            self.root.InterfacesRemoved(dbus.ObjectPath(obj.path),
                                        dbus.Array(ifaces or list(obj.props.keys()), signature="s"))
        if unexport:
            obj.unexport()

    def go_online(self):
        for o in self.objects():
            o.export()
        self.bus.request_name(BLUEZ, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        self.online = True

    # Discovery
    def visible(self, s, sender_filters=None):
        if not s.advertising or not self.powered or not self.discovery:
            return False
        # Filters of all clients are merged (logical OR), §2.2.
        flts = [self.filters.get(c, {}) for c in self.discovery]
        for f in flts:
            uu = [u.lower() for u in f.get("UUIDs", [])]
            if not uu or any(u in s.uuids for u in uu):
                return True
        return False

    def update_discovering(self):
        on = bool(self.discovery) and self.powered
        self.adapter.set(ADAPTER, Discovering=dbus.Boolean(on))
        self.scan(scan_start=True)

    def scan(self, scan_start=False):
        for s in self.straps.values():
            if s.report_on_scan_start and not scan_start:
                continue
            if s.device is None and self.visible(s):
                self.create_device(s)

    def create_device(self, s):
        s.device = Obj(self, s.path, {DEVICE: {
            "Address": dbus.String(s.address),
            "AddressType": dbus.String("random"),
            "Name": dbus.String(s.name),
            "Alias": dbus.String(s.name),
            "Appearance": dbus.UInt16(0x0340),
            "Paired": dbus.Boolean(False),
            "Bonded": dbus.Boolean(False),
            "Trusted": dbus.Boolean(False),
            "Blocked": dbus.Boolean(False),
            "LegacyPairing": dbus.Boolean(False),
            "RSSI": dbus.Int16(-60),
            "Connected": dbus.Boolean(False),
            "UUIDs": dbus.Array(s.uuids, signature="s"),
            "Adapter": dbus.ObjectPath("/org/bluez/hci0"),
            "ServicesResolved": dbus.Boolean(False),
        }})
        s.device.strap = s
        self.added(s.device)

    def remove_device(self, path):
        for s in self.straps.values():
            if s.device is not None and s.device.path == path:
                self.disconnect(s, cancel=True)
                for g in s.gatt:
                    self.removed(g)
                s.gatt = []
                self.removed(s.device)
                s.device = None

    def watch_client(self, sender):
        # Sessions die with the client's connection (§2.2, §2.4).
        if sender in self.watched:
            return
        self.watched.add(sender)

        def gone(new_owner, sender=sender):
            if new_owner:
                return
            self.discovery.discard(sender)
            self.filters.pop(sender, None)
            for s in self.straps.values():
                s.sessions.discard(sender)
                if s.acquired_by == sender:
                    self.release_sock(s)
            self.update_discovering()
        self.bus.watch_name_owner(sender, gone)

    # Connections
    def connect(self, s, sender, ok, err):
        self.log("Connect", s.path, sender)
        s.connect_calls.append(time.monotonic())
        if not self.powered:
            return err(BluezError("org.bluez.Error.NotReady", "Resource Not Ready"))
        if s.connected:
            return ok()
        if s.pending is not None:
            # §2.5a: Failed "Operation already in progress".
            return err(failed("Operation already in progress"))
        if s.connect_fail:
            name, msg = s.connect_fail.pop(0)
            return err(BluezError(name, msg))
        pend = sum(1 for x in self.straps.values() if x.pending is not None) + 1
        self.max_pending_connects = max(self.max_pending_connects, pend)

        def done():
            s.pending = None
            if s.advertising and self.powered:
                self.establish(s)
                ok()
            else:
                err(failed("le-connection-abort-by-local"))
            return False
        delay = s.connect_delay if s.advertising else 2.0
        s.pending = (ok, err, GLib.timeout_add(int(delay * 1000), done))

    def new_handle(self):
        self.handle += 0x10
        return self.handle

    def establish(self, s):
        s.connected = True
        s.connects += 1
        s.device.set(DEVICE, Connected=dbus.Boolean(True))
        if not s.gatt:
            h = self.new_handle()
            sp = "%s/service%04x" % (s.path, h)
            svc = Obj(self, sp, {SERVICE: {
                "UUID": dbus.String(UUID_HRS),
                "Device": dbus.ObjectPath(s.path),
                "Primary": dbus.Boolean(True),
                "Includes": dbus.Array([], signature="o"),
            }})
            hrm = Obj(self, "%s/char%04x" % (sp, h + 1), {CHAR: {
                "UUID": dbus.String(UUID_HRM),
                "Service": dbus.ObjectPath(sp),
                "Value": dbus.Array([], signature="y"),
                "Notifying": dbus.Boolean(bool(s.sessions)),
                "Flags": dbus.Array(["notify"], signature="s"),
                "NotifyAcquired": dbus.Boolean(False),
                "MTU": dbus.UInt16(s.mtu),
            }})
            bsl = Obj(self, "%s/char%04x" % (sp, h + 4), {CHAR: {
                "UUID": dbus.String(UUID_BSL),
                "Service": dbus.ObjectPath(sp),
                "Value": dbus.Array([], signature="y"),
                "Flags": dbus.Array(["read"], signature="s"),
                "MTU": dbus.UInt16(s.mtu),
            }})
            for o in (svc, hrm, bsl):
                o.strap = s
            s.gatt = [svc, hrm, bsl]
            s.hrm = hrm
            # §2.5a: on a first connection ServicesResolved comes before InterfacesAdded.
            s.device.set(DEVICE, ServicesResolved=dbus.Boolean(True))
            for o in s.gatt:
                self.added(o)
        else:
            s.device.set(DEVICE, ServicesResolved=dbus.Boolean(True))
        s.device.props[BATTERY] = {"Percentage": dbus.Byte(s.battery)}
        self.added(s.device, [BATTERY])

    def release_sock(self, s):
        if s.sock is not None:
            s.sock.close()
            s.sock = None
            s.acquired_by = None
            if s.hrm is not None and CHAR in s.hrm.props:
                s.hrm.set(CHAR, NotifyAcquired=dbus.Boolean(False))

    def disconnect(self, s, cancel=False):
        if s.pending is not None:
            ok, err, tid = s.pending
            GLib.source_remove(tid)
            s.pending = None
            err(failed("le-connection-abort-by-local"))
        if not s.connected:
            return
        s.connected = False
        self.release_sock(s)
        # §2.5a: two separate signals, ServicesResolved first.
        s.device.set(DEVICE, ServicesResolved=dbus.Boolean(False))
        s.device.set(DEVICE, Connected=dbus.Boolean(False))
        if BATTERY in s.device.props:
            self.removed(s.device, [BATTERY], unexport=False)
            del s.device.props[BATTERY]
        if not s.persist_gatt:
            for g in s.gatt:
                self.removed(g)
            s.gatt = []
            s.hrm = None

    def notify(self, s, payload):
        data = bytes(payload)
        if not s.connected:
            s.sent["none"] += 1
            return "none"
        if s.sock is not None:
            s.sock.send(data)
            s.sent["fd"] += 1
            return "fd"
        if s.sessions and s.hrm is not None:
            s.hrm.set(CHAR, Value=dbus.Array([dbus.Byte(b) for b in data], signature="y"))
            s.sent["signal"] += 1
            return "signal"
        s.sent["none"] += 1
        return "none"

    def set_powered(self, on):
        if on == self.powered:
            return
        if not on:
            for s in self.straps.values():
                self.disconnect(s, cancel=True)
            # Power-off drops every discovery session and filter.
            self.discovery.clear()
            self.filters.clear()
            self.adapter.set(ADAPTER, Discovering=dbus.Boolean(False))
        self.powered = on
        self.adapter.set(ADAPTER, Powered=dbus.Boolean(on))
        self.scan()

    def restart(self, delay):
        # bluetoothd exits: links drop, the name goes without InterfacesRemoved.
        for s in self.straps.values():
            if s.pending is not None:
                GLib.source_remove(s.pending[2])
                s.pending = None
            s.connected = False
            self.release_sock(s)
            s.sessions.clear()
        self.online = False
        for o in self.objects():
            o.unexport()
        self.bus.release_name(BLUEZ)
        self.discovery.clear()
        self.filters.clear()

        def back():
            self.adapter = Obj(self, "/org/bluez/hci0", {ADAPTER: self.adapter_props()})
            for s in self.straps.values():
                # Devices that were connected are stored and come back, disconnected.
                keep = s.device is not None and s.connects > 0
                s.gatt = []
                s.hrm = None
                s.device = None
                if keep:
                    self.create_device(s)
            self.go_online()
            return False
        GLib.timeout_add(int(delay * 1000), back)

    def state(self):
        return {
            "online": self.online,
            "powered": self.powered,
            "discovering": bool(self.discovery) and self.powered,
            "discovery_clients": sorted(self.discovery),
            "filters": self.filters,
            "max_pending_connects": self.max_pending_connects,
            "straps": {a: {
                "device": s.device is not None,
                "connected": s.connected,
                "acquired": s.sock is not None,
                "acquires": s.acquires,
                "sessions": len(s.sessions),
                "connect_calls": s.connect_calls,
                "connects": s.connects,
                "gatt_paths": [g.path for g in s.gatt],
                "sent": s.sent,
            } for a, s in self.straps.items()},
        }


class Root(dbus.service.Object):
    def __init__(self, fake):
        self.fake = fake
        super().__init__()

    def export(self):
        self.add_to_connection(self.fake.bus, "/")

    @dbus.service.method(OM, out_signature="a{oa{sa{sv}}}", sender_keyword="sender")
    def GetManagedObjects(self, sender=None):
        self.fake.log("GetManagedObjects", "/", sender)
        out = {}
        for o in self.fake.objects():
            out[dbus.ObjectPath(o.path)] = dbus.Dictionary(
                {i: dbus.Dictionary(p, signature="sv") for i, p in o.props.items()},
                signature="sa{sv}")
        return dbus.Dictionary(out, signature="oa{sa{sv}}")

    @dbus.service.signal(OM, signature="oa{sa{sv}}")
    def InterfacesAdded(self, path, ifaces):
        pass

    @dbus.service.signal(OM, signature="oas")
    def InterfacesRemoved(self, path, ifaces):
        pass


class Control(dbus.service.Object):
    IF = "org.cardiod.FakeBluez"

    def __init__(self, fake, bus):
        self.fake = fake
        super().__init__(bus, "/control")

    def strap(self, address):
        s = self.fake.straps.get(str(address).upper())
        if s is None:
            raise BluezError("org.cardiod.FakeBluez.Error.NoStrap", str(address))
        return s

    @dbus.service.method(IF, in_signature="ssa{sv}")
    def AddStrap(self, address, name, opts):
        s = Strap(self.fake, str(address), str(name), opts)
        self.fake.straps[s.address] = s
        if opts.get("known", False):
            self.fake.create_device(s)
        self.fake.scan()

    @dbus.service.method(IF, in_signature="s")
    def Vanish(self, address):
        """bluetoothd drops a temporary device that stopped advertising (TemporaryTimeout)."""
        s = self.strap(address)
        s.advertising = False
        if s.device is not None:
            self.fake.remove_device(s.device.path)

    @dbus.service.method(IF, in_signature="sb")
    def SetAdvertising(self, address, on):
        s = self.strap(address)
        s.advertising = bool(on)
        self.fake.scan()

    @dbus.service.method(IF, in_signature="say", out_signature="s")
    def Notify(self, address, payload):
        return self.fake.notify(self.strap(address), payload)

    @dbus.service.method(IF, in_signature="saay", out_signature="as")
    def NotifyMany(self, address, payloads):
        # All in one main-loop iteration: the fd path must keep every one.
        s = self.strap(address)
        return [self.fake.notify(s, p) for p in payloads]

    @dbus.service.method(IF, in_signature="s")
    def Drop(self, address):
        self.fake.disconnect(self.strap(address))

    @dbus.service.method(IF, in_signature="saay", out_signature="as")
    def NotifyManyThenDrop(self, address, payloads):
        # The last notifications of a link, then the link drops, in one
        # main-loop turn: what was sent on the socket must still be read.
        s = self.strap(address)
        out = [self.fake.notify(s, p) for p in payloads]
        self.fake.disconnect(s)
        return out

    @dbus.service.method(IF, in_signature="suss")
    def FailConnect(self, address, n, name, message):
        self.strap(address).connect_fail.extend([(str(name), str(message))] * int(n))

    @dbus.service.method(IF, in_signature="sb")
    def SetRefuseAcquire(self, address, on):
        self.strap(address).refuse_acquire = bool(on)

    @dbus.service.method(IF, in_signature="sy")
    def SetBattery(self, address, pct):
        s = self.strap(address)
        s.battery = int(pct)
        if s.device is not None and BATTERY in s.device.props:
            s.device.set(BATTERY, Percentage=dbus.Byte(s.battery))

    @dbus.service.method(IF, in_signature="d")
    def Restart(self, delay):
        self.fake.restart(float(delay))

    @dbus.service.method(IF, in_signature="b")
    def Power(self, on):
        self.fake.set_powered(bool(on))

    @dbus.service.method(IF, out_signature="s")
    def State(self):
        return json.dumps(self.fake.state())

    @dbus.service.method(IF, out_signature="s")
    def Calls(self):
        return json.dumps(self.fake.calls)

    @dbus.service.method(IF)
    def Start(self):
        if not self.fake.online:
            self.fake.go_online()

    @dbus.service.method(IF)
    def Quit(self):
        GLib.idle_add(loop.quit)


def main():
    global loop
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", required=True)
    ap.add_argument("--offline", action="store_true", help="do not take org.bluez at start")
    a = ap.parse_args()
    DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(a.bus)
    fake = Fake(bus)
    Control(fake, bus)
    bus.request_name(CONTROL, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    if not a.offline:
        fake.go_online()
    print("READY", flush=True)
    loop = GLib.MainLoop()
    loop.run()


if __name__ == "__main__":
    main()
