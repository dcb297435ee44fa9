/* SPDX-License-Identifier: MIT */
/*
 * ANT+ heart-rate straps through a USB ANT stick (PROTOCOLS §3, §4; issue
 * 5): the stick as a tty in raw mode on the daemon's sd-event loop.
 * [ant] device = auto finds sticks by USB vendor/product (0fcf:1004,
 * 0fcf:1008, 0fcf:1009) through sd-device and follows hotplug; a path
 * selects one and is retried with backoff.  Each broadcast from a strap
 * becomes one sample for monitor_feed(), device "ant-<20-bit number>",
 * transport ant; battery (page 7) and the rest of what a strap tells
 * (manufacturer, model, counters: struct monitor_ant_info) go to the
 * monitor device, which renders them in GET /devices.
 *
 * Without a readable network key (licensed, PROTOCOLS §3.7, read from
 * [ant] network_key_file) ANT stays off: one log line, and /healthz says
 * why.  The key is never logged.
 */
#pragma once

#include <cjson/cJSON.h>
#include <systemd/sd-event.h>

#include "daemon-config.h"
#include "monitor.h"

struct ant;

/*
 * Start following the stick of c->ant_device.  event, m and c are not
 * owned and must outlive the object.  A missing key or stick is not an
 * error (the object waits, and reports it in ant_health_json()); only
 * OOM and loop failures are.
 */
int ant_new(sd_event *event, struct monitor *m, const struct cd_config *c, struct ant **ret);
/* Closes the tty (channels are closed first when it is still writable). */
struct ant *ant_free(struct ant *a);
static inline void ant_freep(struct ant **a)
{
	if (*a)
		ant_free(*a);
}

/* GET /healthz: adds "ant": {state, reason, device, reception, counters…} to o. */
int ant_health_json(struct ant *a, cJSON *o);
