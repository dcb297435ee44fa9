/* SPDX-License-Identifier: MIT */
/*
 * BLE heart-rate straps through bluetoothd (PROTOCOLS §2.6): an sd-bus
 * client of org.bluez on the system bus, attached to the daemon's loop.
 * It discovers straps advertising the Heart Rate service (or only the
 * [ble] devices allow-list), keeps them connected with backoff, reads each
 * Heart Rate Measurement notification through AcquireNotify (StartNotify
 * when that is refused), and hands every decoded value to monitor_feed().
 * Each strap is a monitor device "ble-aa:bb:cc:dd:ee:ff"; its battery,
 * body location, reconnection and malformed-payload counts go to the
 * monitor device as well, so GET /devices needs nothing from here.
 *
 * bluetoothd missing, restarting or its adapter powered off are waited
 * out; only the absence of a system bus makes ble_new() fail.
 */
#pragma once

#include <systemd/sd-event.h>

#include "daemon-config.h"
#include "monitor.h"

struct ble;

/*
 * Connect to the system bus (DBUS_SYSTEM_BUS_ADDRESS when set) and start
 * following org.bluez.  event, m and c are not owned and must outlive the
 * returned object.  Returns 0, or a negative errno when there is no
 * system bus (logged by the caller).
 */
int ble_new(sd_event *event, struct monitor *m, const struct cd_config *c, struct ble **ret);
/* Closes every notification fd and pending call; leaves the straps connected in bluetoothd. */
struct ble *ble_free(struct ble *b);
static inline void ble_freep(struct ble **b)
{
	if (*b)
		ble_free(*b);
}
