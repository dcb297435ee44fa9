#!/bin/bash
# cardiod's copy of ../shared/bluez-vm/run.sh (adds -s for sensor options).
# Boot Debian's own kernel in QEMU on top of this machine's root filesystem
# (read-only, 9p), and run a real BlueZ stack end to end inside it: two
# virtual LE controllers (btvirt + hci_vhci), bluetoothd, a simulated
# heart-rate sensor on hci1 and a collector on hci0 that connects and
# receives Heart Rate Measurement notifications.
#
# Usage: ./run.sh [options]
#   -n RUNS        boot RUNS times in a row (default 1)
#   -o DIR         output folder (default: out/ beside this script)
#   -c COUNT       notifications the default collector waits for (default 5)
#   -i SECONDS     sensor notification interval (default 1.0)
#   -t SECONDS     in-guest collector timeout (default 90)
#   -e 'COMMAND'   run COMMAND inside the guest as the collector instead of
#                  guest/hr_central.py (run by bash; exit status = result;
#                  $BVM_DIR = this folder, $OUT = the run's output folder)
#   -s 'ARGS'      extra options for guest/hr_peripheral.py
#   -d             debug: bluetoothd -d and a btmon trace (btmon.snoop)
#   -a kvm|tcg     force the accelerator (default: kvm only when the host
#                  has a hardware KVM module, kvm_intel/kvm_amd; else tcg)
# Needs (Debian 12): qemu-system-x86 linux-image-amd64 busybox-static bluez
#   bluez-test-tools dbus python3-dbus python3-gi   (see README.md)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

RUNS=1 OUTDIR=$HERE/out COUNT=5 INTERVAL=1.0 TIMEOUT=90 CENTRAL_CMD= DEBUG=0 SENSOR_ARGS=
ACCEL=${BVM_ACCEL:-auto} SMP=${BVM_SMP:-2}
while getopts "n:o:c:i:t:e:s:da:h" opt; do
    case "$opt" in
        n) RUNS=$OPTARG ;; o) OUTDIR=$OPTARG ;; c) COUNT=$OPTARG ;;
        i) INTERVAL=$OPTARG ;; t) TIMEOUT=$OPTARG ;; e) CENTRAL_CMD=$OPTARG ;;
        s) SENSOR_ARGS=$OPTARG ;;
        d) DEBUG=1 ;; a) ACCEL=$OPTARG ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
case "$HERE" in *[[:space:]]*) echo "run.sh: folder path must not contain spaces" >&2; exit 2 ;; esac
# the guest sees this folder through the host's root, minus what it mounts itself
case "$HERE/" in /tmp/* | /run/* | /dev/* | /proc/* | /sys/* | /var/lib/bluetooth/*)
    echo "run.sh: keep this folder out of /tmp, /run, /dev, /proc, /sys, /var/lib/bluetooth (the guest mounts its own there)" >&2
    exit 2 ;;
esac

for cmd in qemu-system-x86_64 btvirt bluetoothctl dbus-daemon; do
    command -v "$cmd" > /dev/null || { echo "run.sh: $cmd missing, see README.md" >&2; exit 2; }
done
/usr/bin/python3 -c 'import dbus, gi' 2> /dev/null || { echo "run.sh: python3-dbus/python3-gi missing" >&2; exit 2; }

# newest installed Debian kernel that ships hci_vhci
KVER=
for k in $(ls -1 /boot/vmlinuz-* 2> /dev/null | sed 's|/boot/vmlinuz-||' | sort -V -r); do
    if ls /lib/modules/"$k"/kernel/drivers/bluetooth/hci_vhci.ko* > /dev/null 2>&1; then KVER=$k; break; fi
done
[ -n "$KVER" ] || { echo "run.sh: no /boot/vmlinuz-* with hci_vhci module; apt-get install linux-image-amd64" >&2; exit 2; }
[ -r "/boot/vmlinuz-$KVER" ] || { echo "run.sh: /boot/vmlinuz-$KVER not readable (run as root)" >&2; exit 2; }

if [ "$ACCEL" = auto ]; then
    if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
        ACCEL=kvm
    else
        ACCEL=tcg   # e.g. /dev/kvm backed by kvm_pvm cannot boot a stock kernel
    fi
fi
case "$ACCEL" in
    kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
    # -cpu max gives the guest RDRAND, so its CRNG is ready at once (without
    # it dbus-daemon stalls ~1 s waiting for entropy)
    tcg) ACCEL_ARGS=(-accel tcg,thread=multi -cpu max) ;;
    *) echo "run.sh: -a kvm|tcg" >&2; exit 2 ;;
esac

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
INITRD=$OUTDIR/initrd-$KVER.gz
"$HERE/mkinitramfs.sh" "$KVER" "$INITRD"

# QEMU boots an uncompressed ELF vmlinux through its PVH entry point, which
# skips the BIOS real-mode path and the in-guest xz decompression (about
# 2.5 s under TCG). Extract it once from the bzImage; fall back to the bzImage.
KERNEL=/boot/vmlinuz-$KVER
VMLINUX=$OUTDIR/vmlinux-$KVER
if [ ! -s "$VMLINUX" ] || [ "$VMLINUX" -ot "$KERNEL" ]; then
    rm -f "$VMLINUX"
    for fmt in "xz -dc:\xfd7zXZ\x00" "zstd -qdc:\x28\xb5\x2f\xfd" "gzip -dc:\x1f\x8b\x08"; do
        magic=$(printf "${fmt#*:}")
        for off in $(LC_ALL=C grep -abo "$magic" "$KERNEL" 2> /dev/null | cut -d: -f1 | head -5); do
            tail -c +$((off + 1)) "$KERNEL" | ${fmt%%:*} > "$VMLINUX.tmp" 2> /dev/null || true
            if [ "$(head -c 4 "$VMLINUX.tmp" 2> /dev/null)" = $'\x7fELF' ]; then
                mv "$VMLINUX.tmp" "$VMLINUX"; break 2
            fi
        done
    done
    rm -f "$VMLINUX.tmp"
fi
[ -s "$VMLINUX" ] && grep -q '^CONFIG_PVH=y' "/boot/config-$KVER" 2> /dev/null && KERNEL=$VMLINUX

secs() { local ms=$(( ($2 - $1) / 1000 )); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

# boot_once RUNDIR: one VM boot; its console goes to RUNDIR/console.log with
# [seconds since QEMU was started] in front of each line
boot_once() {
    local rd=$1 t0
    rm -rf "$rd"; mkdir -p "$rd"
    {
        printf 'BVM_COUNT=%q\nBVM_INTERVAL=%q\nBVM_TIMEOUT=%q\n' "$COUNT" "$INTERVAL" "$TIMEOUT"
        printf 'BVM_DEBUG=%q\nBVM_BTMON=%q\nBVM_CENTRAL_CMD=%q\n' "$DEBUG" "$DEBUG" "$CENTRAL_CMD"
        printf 'BVM_SENSOR_ARGS=%q\n' "$SENSOR_ARGS"
    } > "$rd/job.env"
    t0=${EPOCHREALTIME/./}
    timeout $((TIMEOUT + 120)) qemu-system-x86_64 "${ACCEL_ARGS[@]}" \
        -machine q35 -m 1024 -smp "$SMP" -nodefaults -no-user-config -display none -no-reboot \
        -serial stdio -monitor none \
        -kernel "$KERNEL" -initrd "$INITRD" \
        -append "console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests bvm_init=$HERE/guest/init.sh bvm_dir=$HERE" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$rd,mount_tag=bvmout,security_model=none" \
        < /dev/null 2>&1 |
    while IFS= read -r line; do
        printf '[%7s] %s\n' "$(secs "$t0" "${EPOCHREALTIME/./}")" "${line%$'\r'}"
    done | tee "$rd/console.log" || true
    TOTAL=$(secs "$t0" "${EPOCHREALTIME/./}")
    FIRST=$(sed -n '/FIRST_NOTIFICATION/{s/^\[ *\([0-9.]*\)\].*/\1/p;q}' "$rd/console.log")
    RESULT=$(cat "$rd/result" 2> /dev/null || echo none)
}

echo "kernel $KERNEL, accel $ACCEL, smp $SMP, output $OUTDIR"
fails=0
summary=()
for run in $(seq "$RUNS"); do
    RD=$OUTDIR/run-$run
    rm -rf "$RD" "$RD".failed-setup-*
    boot_once "$RD"
    note=
    # result 3 = the virtual controllers did not come up (a timing failure of
    # the emulated setup, not of the code under test): boot again, twice at most
    for retry in 1 2; do
        [ "$RESULT" = 3 ] || break
        mv "$RD" "$RD.failed-setup-$retry"
        boot_once "$RD"
        note=" (booted again $retry time(s) after a controller setup failure)"
    done
    line="run $run: result=$RESULT first_notification=${FIRST:-none}s total=${TOTAL}s$note"
    echo "$line" | tee "$RD/summary"
    summary+=("$line")
    [ "$RESULT" = 0 ] || fails=$((fails + 1))
done
echo "=== accel $ACCEL, smp $SMP, kernel $KERNEL"
printf '%s\n' "${summary[@]}" | tee "$OUTDIR/summary"
[ "$fails" = 0 ]
