#!/bin/bash
# The collector inside the VM (run.sh -e): cardiod on hci0 against the real
# bluetoothd, then check_cardiod.py over HTTP.  Exit status = the result.
# Usage: collector.sh CARDIOD   ($BVM_DIR, $OUT and $BVM_TIMEOUT come from init.sh)
set -u
CARDIOD=${1:?path to cardiod}
# the guest's loopback is down after boot; cardiod listens on it
ip link set lo up 2> /dev/null || busybox ip link set lo up
mkdir -p /run/cardiod
printf '[ble]\nadapter = hci0\n' > /run/cardiod/cardiod.conf
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
"$CARDIOD" --config /run/cardiod/cardiod.conf --bus none --no-ant \
	--listen 127.0.0.1:8080 --db /run/cardiod/cardiod.db --commit-interval 1 --verbose \
	> "$OUT/cardiod.log" 2>&1 &
pid=$!
/usr/bin/python3 "$BVM_DIR/guest/check_cardiod.py" --port 8080 --timeout "${BVM_TIMEOUT:-150}" \
	--cardiod-pid "$pid"
rc=$?
kill -TERM "$pid" 2> /dev/null
wait "$pid"
crc=$?
if [ "$rc" = 0 ] && [ "$crc" != 0 ]; then
	echo "cardiod exited with status $crc after SIGTERM"
	rc=1
fi
exit "$rc"
