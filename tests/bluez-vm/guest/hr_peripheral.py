#!/usr/bin/python3
"""Simulated BLE heart-rate sensor on top of BlueZ (D-Bus API).

cardiod's copy of ../shared/bluez-vm/guest/hr_peripheral.py, with one
addition for the reconnection test: --drop-after N --off S makes the sensor,
after its Nth notification, stop advertising, drop the link to every
connected collector, and advertise again S seconds later.

Registers, on one adapter, a GATT application with the Heart Rate service
(0x180D: Heart Rate Measurement 0x2A37 [notify], Body Sensor Location 0x2A38
[read], Heart Rate Control Point 0x2A39 [write]) and a connectable LE
advertisement carrying the 0x180D service UUID and a local name.

While a client is subscribed, it sends one Heart Rate Measurement
notification every --interval seconds, from a fixed, documented cycle of
payloads (see PAYLOADS below) so that a collector under test can assert the
decoded values.
"""
import argparse
import sys
import time

import dbus
import dbus.service
import dbus.mainloop.glib
from gi.repository import GLib

BLUEZ = "org.bluez"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
ADAPTER_IFACE = "org.bluez.Adapter1"
GATT_MGR_IFACE = "org.bluez.GattManager1"
ADV_MGR_IFACE = "org.bluez.LEAdvertisingManager1"
SERVICE_IFACE = "org.bluez.GattService1"
CHRC_IFACE = "org.bluez.GattCharacteristic1"
ADV_IFACE = "org.bluez.LEAdvertisement1"

HR_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
HR_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"
BODY_SENSOR_LOCATION = "00002a38-0000-1000-8000-00805f9b34fb"
HR_CONTROL_POINT = "00002a39-0000-1000-8000-00805f9b34fb"

APP_PATH = "/org/bvm/hrsensor"

# Heart Rate Measurement payloads sent in order, then repeated.
# flags: bit0 = 16-bit HR value, bits1-2 = sensor contact (supported,
# detected), bit3 = energy expended present, bit4 = RR intervals present.
PAYLOADS = [
    bytes([0x06, 60]),                          # uint8 HR 60, contact detected
    bytes([0x06, 61]),                          # uint8 HR 61
    bytes([0x16, 62, 0x00, 0x04]),              # HR 62, RR 1024/1024 s
    bytes([0x0E, 63, 0x0A, 0x00]),              # HR 63, energy 10 kJ
    bytes([0x07, 0x2C, 0x01]),                  # uint16 HR 300
]


def log(msg):
    print("[peripheral %.3f] %s" % (time.monotonic(), msg), flush=True)


def wait_adapter(bus, name, timeout):
    """Return a Properties proxy for adapter NAME once bluetoothd has it."""
    deadline = time.monotonic() + timeout
    path = "/org/bluez/" + name
    while True:
        try:
            if bus.name_has_owner(BLUEZ):
                obj = bus.get_object(BLUEZ, path, introspect=False)
                props = dbus.Interface(obj, PROPS_IFACE)
                props.Get(ADAPTER_IFACE, "Address")
                obj = bus.get_object(BLUEZ, path)  # introspected: typed calls
                return obj, dbus.Interface(obj, PROPS_IFACE)
        except dbus.exceptions.DBusException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("adapter %s did not appear within %d s" % (name, timeout))
        time.sleep(0.05)


class InvalidArgs(dbus.exceptions.DBusException):
    _dbus_error_name = "org.freedesktop.DBus.Error.InvalidArgs"


class NotSupported(dbus.exceptions.DBusException):
    _dbus_error_name = "org.bluez.Error.NotSupported"


class Exported(dbus.service.Object):
    """A D-Bus object exposing one interface's properties via Properties."""

    IFACE = None

    def __init__(self, bus, path):
        self.path = dbus.ObjectPath(path)
        super().__init__(bus, path)

    def props(self):
        raise NotImplementedError

    @dbus.service.method(PROPS_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        if interface != self.IFACE:
            raise InvalidArgs("no such interface " + interface)
        return self.props()

    @dbus.service.method(PROPS_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        return self.GetAll(interface)[name]

    @dbus.service.signal(PROPS_IFACE, signature="sa{sv}as")
    def PropertiesChanged(self, interface, changed, invalidated):
        pass


class Service(Exported):
    IFACE = SERVICE_IFACE

    def __init__(self, bus, path, uuid):
        super().__init__(bus, path)
        self.uuid = uuid
        self.chrcs = []

    def props(self):
        return {"UUID": self.uuid, "Primary": dbus.Boolean(True)}


class Characteristic(Exported):
    IFACE = CHRC_IFACE

    def __init__(self, bus, path, service, uuid, flags):
        super().__init__(bus, path)
        self.service = service
        self.uuid = uuid
        self.flags = flags
        service.chrcs.append(self)

    def props(self):
        return {"UUID": self.uuid, "Service": self.service.path,
                "Flags": dbus.Array(self.flags, signature="s")}

    @dbus.service.method(CHRC_IFACE, in_signature="a{sv}", out_signature="ay")
    def ReadValue(self, options):
        raise NotSupported("read not supported")

    @dbus.service.method(CHRC_IFACE, in_signature="aya{sv}")
    def WriteValue(self, value, options):
        raise NotSupported("write not supported")

    @dbus.service.method(CHRC_IFACE)
    def StartNotify(self):
        raise NotSupported("notify not supported")

    @dbus.service.method(CHRC_IFACE)
    def StopNotify(self):
        raise NotSupported("notify not supported")


class HRMeasurement(Characteristic):
    def __init__(self, bus, path, service, interval):
        super().__init__(bus, path, service, HR_MEASUREMENT, ["notify"])
        self.interval_ms = max(10, int(interval * 1000))
        self.timer = None
        self.seq = 0
        self.on_sent = None

    def _send(self):
        payload = PAYLOADS[self.seq % len(PAYLOADS)]
        self.seq += 1
        log("notify #%d %s" % (self.seq, payload.hex()))
        self.PropertiesChanged(CHRC_IFACE,
                               {"Value": dbus.Array(payload, signature="y")}, [])
        if self.on_sent:
            self.on_sent(self.seq)
        return True

    @dbus.service.method(CHRC_IFACE)
    def StartNotify(self):
        if self.timer is not None:
            return
        log("client subscribed to Heart Rate Measurement")
        self._send()
        self.timer = GLib.timeout_add(self.interval_ms, self._send)

    @dbus.service.method(CHRC_IFACE)
    def StopNotify(self):
        if self.timer is not None:
            GLib.source_remove(self.timer)
            self.timer = None
            log("client unsubscribed")


class BodySensorLocation(Characteristic):
    def __init__(self, bus, path, service):
        super().__init__(bus, path, service, BODY_SENSOR_LOCATION, ["read"])

    @dbus.service.method(CHRC_IFACE, in_signature="a{sv}", out_signature="ay")
    def ReadValue(self, options):
        return dbus.Array([0x01], signature="y")  # 1 = chest


class HRControlPoint(Characteristic):
    def __init__(self, bus, path, service):
        super().__init__(bus, path, service, HR_CONTROL_POINT, ["write"])

    @dbus.service.method(CHRC_IFACE, in_signature="aya{sv}")
    def WriteValue(self, value, options):
        log("control point write %s" % bytes(value).hex())
        if list(value) != [0x01]:
            raise dbus.exceptions.DBusException(
                "org.bluez.Error.Failed", "0x80 control point not supported")


class Application(dbus.service.Object):
    def __init__(self, bus, interval):
        super().__init__(bus, APP_PATH)
        self.service = Service(bus, APP_PATH + "/service0", HR_SERVICE)
        self.hrm = HRMeasurement(bus, APP_PATH + "/service0/char0", self.service, interval)
        BodySensorLocation(bus, APP_PATH + "/service0/char1", self.service)
        HRControlPoint(bus, APP_PATH + "/service0/char2", self.service)

    @dbus.service.method(OM_IFACE, out_signature="a{oa{sa{sv}}}")
    def GetManagedObjects(self):
        objs = {self.service.path: {SERVICE_IFACE: self.service.props()}}
        for c in self.service.chrcs:
            objs[c.path] = {CHRC_IFACE: c.props()}
        return objs


class Advertisement(Exported):
    IFACE = ADV_IFACE

    def __init__(self, bus, name):
        super().__init__(bus, APP_PATH + "/adv0")
        self.name = name

    def props(self):
        return {
            "Type": "peripheral",
            "ServiceUUIDs": dbus.Array(["180D"], signature="s"),
            "LocalName": dbus.String(self.name),
            "Appearance": dbus.UInt16(0x0341),  # heart rate sensor: belt
            "Discoverable": dbus.Boolean(True),
        }

    @dbus.service.method(ADV_IFACE)
    def Release(self):
        log("advertisement released")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--adapter", default="hci1")
    ap.add_argument("--name", default="BVM-HR")
    ap.add_argument("--interval", type=float, default=1.0,
                    help="seconds between notifications")
    ap.add_argument("--wait", type=int, default=60,
                    help="seconds to wait for bluetoothd and the adapter")
    ap.add_argument("--ready-file", help="touch this file once registered")
    ap.add_argument("--drop-after", type=int, default=0,
                    help="after this many notifications, stop advertising and drop the link")
    ap.add_argument("--off", type=float, default=3.0,
                    help="seconds without advertising before advertising again")
    args = ap.parse_args()

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    adapter, aprops = wait_adapter(bus, args.adapter, args.wait)
    aprops.Set(ADAPTER_IFACE, "Powered", dbus.Boolean(True))
    log("adapter %s %s powered" % (args.adapter, aprops.Get(ADAPTER_IFACE, "Address")))

    app = Application(bus, args.interval)
    adv = Advertisement(bus, args.name)
    loop = GLib.MainLoop()
    pending = {"n": 2, "rc": 0}

    def ok(what):
        def cb():
            log(what + " registered")
            pending["n"] -= 1
            if pending["n"] == 0 and args.ready_file:
                open(args.ready_file, "w").write("ready\n")
        return cb

    def fail(what):
        def cb(err):
            log("%s registration failed: %s" % (what, err))
            pending["rc"] = 1
            loop.quit()
        return cb

    adv_mgr = dbus.Interface(adapter, ADV_MGR_IFACE)
    adapter_path = "/org/bluez/" + args.adapter

    def readvertise():
        adv_mgr.RegisterAdvertisement(adv.path, {}, reply_handler=lambda: log("advertising again"),
                                      error_handler=lambda e: log("re-advertising failed: %s" % e))
        return False

    def drop():
        # First no advertising (else the kernel re-enables it after the
        # disconnection), then the link goes.
        try:
            adv_mgr.UnregisterAdvertisement(adv.path)
            log("advertising stopped")
        except dbus.exceptions.DBusException as e:
            log("UnregisterAdvertisement: %s" % e)
        om = dbus.Interface(bus.get_object(BLUEZ, "/"), OM_IFACE)
        for path, ifaces in om.GetManagedObjects().items():
            dev = ifaces.get("org.bluez.Device1")
            if dev and dev.get("Adapter") == adapter_path and dev.get("Connected"):
                log("dropping the link to %s" % dev.get("Address"))
                try:
                    dbus.Interface(bus.get_object(BLUEZ, path),
                                   "org.bluez.Device1").Disconnect()
                except dbus.exceptions.DBusException as e:
                    log("Disconnect: %s" % e)
        GLib.timeout_add(int(args.off * 1000), readvertise)
        return False

    if args.drop_after > 0:
        def on_sent(seq):
            if seq == args.drop_after:
                GLib.idle_add(drop)
        app.hrm.on_sent = on_sent

    dbus.Interface(adapter, GATT_MGR_IFACE).RegisterApplication(
        dbus.ObjectPath(APP_PATH), {}, reply_handler=ok("GATT application"),
        error_handler=fail("GATT application"))
    dbus.Interface(adapter, ADV_MGR_IFACE).RegisterAdvertisement(
        adv.path, {}, reply_handler=ok("advertisement"),
        error_handler=fail("advertisement"))
    loop.run()
    return pending["rc"]


if __name__ == "__main__":
    sys.exit(main())
