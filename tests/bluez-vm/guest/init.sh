#!/bin/bash
# Stage-2 init (PID 1) inside the test VM (cardiod's copy of
# ../shared/bluez-vm/guest/init.sh; adds BVM_SENSOR_ARGS for the sensor).
# The root filesystem is the host's,
# read-only over 9p; everything writable is tmpfs, and the host's per-run
# output folder is mounted (9p, tag bvmout) at /run/bvm/out.
#
# It loads bluetooth + hci_vhci, starts a system D-Bus, btvirt (two virtual
# LE controllers: hci0 = collector side, hci1 = sensor side), bluetoothd, the
# simulated heart-rate sensor on hci1, then runs the collector command (by
# default guest/hr_central.py on hci0) and ends the VM.
# Lines starting with "BVM " on the console are progress markers that the
# host-side run.sh timestamps. Result codes (file "result"): the collector's
# exit status; 2 = setup error; 3 = the virtual controllers did not come up
# (run.sh boots once more in that case).

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
OUT=/run/bvm/out

mark() { echo "BVM $(cut -d' ' -f1 /proc/uptime) $*" > /dev/console; }

finish() {
    local rc=$1 p
    echo "$rc" > "$OUT/result"
    mark "done rc=$rc"
    dmesg > "$OUT/dmesg.log" 2>&1
    for p in $CENTRAL_PID $PERIPH_PID $BTD_PID $BTMON_PID $BTVIRT_PID $DBUS_PID; do
        kill "$p" 2> /dev/null
    done
    nap 0.3
    sync
    # reboot, not power-off: QEMU runs with -no-reboot, so this ends it
    # without needing ACPI
    echo b > /proc/sysrq-trigger
    sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=700 tmpfs /var/lib/bluetooth
mkdir -p /dev/pts /dev/shm "$OUT"
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 bvmout "$OUT"; then
    echo "BVM cannot mount the output share" > /dev/console
    echo b > /proc/sysrq-trigger
fi
exec > "$OUT/init.log" 2>&1
PS4='+ ${EPOCHREALTIME} '
set -x
hostname bvm
mark "stage2 up"

# sleep without forking (a fork+exec costs ~0.1 s under TCG)
mkfifo /run/.nap && exec 9<> /run/.nap
nap() { read -r -t "$1" -u 9 || true; }

BVM_DIR=
for a in $(cat /proc/cmdline); do
    case "$a" in bvm_dir=*) BVM_DIR=${a#bvm_dir=} ;; esac
done
# defaults, overridden by job.env written by run.sh
BVM_COUNT=5 BVM_INTERVAL=1.0 BVM_TIMEOUT=90 BVM_DEBUG=0 BVM_BTMON=0
BVM_CENTRAL_CMD= BVM_SENSOR_ARGS=
[ -f "$OUT/job.env" ] && . "$OUT/job.env"
if [ -z "$BVM_CENTRAL_CMD" ]; then
    BVM_CENTRAL_CMD="/usr/bin/python3 $BVM_DIR/guest/hr_central.py --adapter hci0 --count $BVM_COUNT --timeout $BVM_TIMEOUT --out $OUT/notifications.jsonl"
fi
export BVM_DIR OUT

start_central() {
    mark "collector start: $BVM_CENTRAL_CMD"
    # its output goes both to central.log and to the console (for timing)
    timeout $((BVM_TIMEOUT + 10)) bash -c "$BVM_CENTRAL_CMD" > >(tee "$OUT/central.log" > /dev/console) 2>&1 &
    CENTRAL_PID=$!
}

# kernel modules and the system bus start in parallel
modprobe -a bluetooth hci_vhci &
MOD_PID=$!
mkdir -p /run/dbus
dbus-daemon --system --fork --nopidfile --print-pid=3 3> /run/dbus.pid ||
    { mark "dbus-daemon failed"; finish 2; }
DBUS_PID=$(cat /run/dbus.pid)
mark "dbus-daemon up"

wait "$MOD_PID" || { mark "modprobe bluetooth hci_vhci failed"; finish 2; }
mark "modules loaded"

if [ "$BVM_BTMON" = 1 ]; then
    btmon -w "$OUT/btmon.snoop" > /dev/null 2>&1 &
    BTMON_PID=$!
fi
BTD_ARGS=(-n)
[ "$BVM_DEBUG" = 1 ] && BTD_ARGS+=(-d)
/usr/libexec/bluetooth/bluetoothd "${BTD_ARGS[@]}" > "$OUT/bluetoothd.log" 2>&1 &
BTD_PID=$!

adapter_ready() {
    dbus-send --system --print-reply --dest=org.bluez "/org/bluez/$1" \
        org.freedesktop.DBus.Properties.Get string:org.bluez.Adapter1 \
        string:Address > /dev/null 2>&1
}
# btvirt creates hci0, then hci1, and only then serves them: when the
# kernel's HCI Reset for hci0 is not answered within 2 s (seen under load in
# emulation: "hci0: Opcode 0x0c03 failed: -110") hci0 never registers. Then
# btvirt is restarted; nothing uses the controllers yet at this point.
ok=0
for attempt in 1 2 3; do
    # real-time priority: it must answer the kernel's HCI commands quickly
    chrt -f 10 btvirt -L -l2 >> "$OUT/btvirt.log" 2>&1 &
    BTVIRT_PID=$!
    deadline=$(( EPOCHSECONDS + 8 ))
    until adapter_ready hci0 && adapter_ready hci1; do
        [ "$EPOCHSECONDS" -ge "$deadline" ] && break
        nap 0.05
    done
    if adapter_ready hci0 && adapter_ready hci1; then ok=1; break; fi
    mark "controllers not registered (attempt $attempt); restarting btvirt"
    kill "$BTVIRT_PID"; wait "$BTVIRT_PID"
    for _ in $(seq 200); do
        [ -e /sys/class/bluetooth/hci0 ] || [ -e /sys/class/bluetooth/hci1 ] || break
        nap 0.05
    done
done
[ "$ok" = 1 ] || { mark "virtual controllers not registered with bluetoothd"; finish 3; }
mark "bluetoothd has hci0 and hci1"

/usr/bin/python3 "$BVM_DIR/guest/hr_peripheral.py" --adapter hci1 \
    --interval "$BVM_INTERVAL" --ready-file /run/periph.ready $BVM_SENSOR_ARGS \
    > "$OUT/peripheral.log" 2>&1 &
PERIPH_PID=$!
until [ -e /run/periph.ready ]; do
    if ! kill -0 "$PERIPH_PID" 2> /dev/null; then
        mark "sensor (hr_peripheral.py) failed, see peripheral.log"
        finish 2
    fi
    nap 0.025
done
mark "sensor advertising on hci1"

# the collector starts only once the sensor advertises: btvirt's emulated
# controllers report an advertiser to a scanner when the scan is enabled,
# not when advertising starts later (a scan started first found the sensor
# only at a discovery restart, 40-85 s later)
start_central
wait "$CENTRAL_PID"
rc=$?
CENTRAL_PID=
finish "$rc"
