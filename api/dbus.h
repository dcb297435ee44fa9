/* SPDX-License-Identifier: MIT */
/*
 * The D-Bus service of DESIGN §5 for desktop widgets: bus name
 * org.cardiod.Cardiod1, the root object /org/cardiod/Cardiod1 (interface
 * org.cardiod.Cardiod1 plus org.freedesktop.DBus.ObjectManager) and one
 * org.cardiod.Cardiod1.Device object per strap below it.  sd-bus vtables
 * on the daemon's sd-event loop; the service listens to the monitor
 * through its observer interface and asks the daemon for stored sessions
 * through struct cd_dbus_ops, so api/ includes nothing of daemon/ beyond
 * monitor.h.
 *
 * When the bus misbehaves (ECOSYSTEM §2): no bus at start-up, or the
 * connection lost later, is one log line and a retry every 10 s while
 * HTTP keeps working; the name owned by someone else (another cardiod)
 * makes cd_dbus_new() fail with -EEXIST, or ends the loop with -EEXIST
 * when found on a reconnection.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "monitor.h"

#define CD_DBUS_NAME "org.cardiod.Cardiod1"
#define CD_DBUS_PATH "/org/cardiod/Cardiod1"
#define CD_DBUS_INTERFACE "org.cardiod.Cardiod1"
#define CD_DBUS_DEVICE_INTERFACE "org.cardiod.Cardiod1.Device"
#define CD_DBUS_DEVICE_PATH_PREFIX "/org/cardiod/Cardiod1/device/"

#define CD_DBUS_ERROR_NO_SUCH_SESSION "org.cardiod.Cardiod1.Error.NoSuchSession"
#define CD_DBUS_ERROR_NO_SUCH_DEVICE "org.cardiod.Cardiod1.Error.NoSuchDevice"
#define CD_DBUS_ERROR_NOT_ACTIVE "org.cardiod.Cardiod1.Error.NotActive"

/* Seconds between attempts to (re)connect to the bus. */
#define CD_DBUS_RETRY_S 10
/* Seconds between refreshes of the week properties (DESIGN §9.4: at most every 10 s). */
#define CD_DBUS_WEEK_S 10

struct cd_dbus;

struct cd_dbus_ops {
	/*
	 * The session object of DESIGN §4, exactly as HTTP serves it: id 0 is
	 * GET /session, otherwise GET /sessions/{id} (the daemon passes the same
	 * function as its cd_http_ops.session).  Returns 0 and *ret (the caller
	 * frees it), -ENOENT when there is no such session, -ENOMEM or -EIO.
	 */
	int (*session)(void *userdata, uint64_t id, cJSON **ret);
	/*
	 * This week (DESIGN §9.4), active sessions included: today's and the
	 * week's intensity minutes, the week's sessions and the goal.  May be
	 * NULL (the properties stay 0).  0 or a negative errno.
	 */
	int (*week)(void *userdata, double *ret_today_min, double *ret_week_min,
		    unsigned *ret_week_sessions, double *ret_goal_min);
	void *userdata;
	/*
	 * DESIGN §9.7, checked by the service on every call (api/dbus-auth.h):
	 * groups allowed to start/stop and to read; NULL: "cardiod" and
	 * "cardiod-readers".
	 */
	const char *manage_group, *read_group;
};

/*
 * Start the service on bus ("system", "session", "none" or a D-Bus
 * address).  "none": returns 0 with *ret NULL.  A bus that cannot be
 * reached is logged once and retried every CD_DBUS_RETRY_S seconds; this
 * still returns 0.  Returns -EEXIST (logged) when another process owns the
 * name, -EINVAL for a NULL argument, -ENOMEM.  ops is copied.
 */
int cd_dbus_new(sd_event *event, struct monitor *monitor, const char *bus,
		const struct cd_dbus_ops *ops, struct cd_dbus **ret);
/*
 * Emits what is pending (e.g. SessionEnded at shutdown), flushes, releases
 * the name and unregisters from the monitor.  Call before the monitor is
 * freed.  NULL-safe; returns NULL.
 */
struct cd_dbus *cd_dbus_free(struct cd_dbus *d);
static inline void cd_dbus_freep(struct cd_dbus **d)
{
	if (*d)
		cd_dbus_free(*d);
}

/* Whether the name is owned right now (tests, STATUS=). */
int cd_dbus_connected(const struct cd_dbus *d);

/* "/org/cardiod/Cardiod1/device/<id with every char outside [A-Za-z0-9_] as _>"; caller frees. */
char *cd_dbus_device_path(const char *device_id);
