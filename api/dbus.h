/* SPDX-License-Identifier: MIT */
/*
 * The D-Bus service of DESIGN §5 for desktop widgets: bus name
 * org.cardiod.Cardiod1, the root object /org/cardiod/Cardiod1 (interface
 * org.cardiod.Cardiod1 plus org.freedesktop.DBus.ObjectManager) and one
 * org.cardiod.Cardiod1.Device object per strap below it.  sd-bus vtables
 * on the daemon's sd-event loop.  A client of the front-end contract
 * (api/front.h) like HTTP: it follows the contract's events and asks it
 * for straps, sessions and the week, so it is unit-tested against fake
 * operations (tests/unit-api/test-dbus.c).
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

#include "front.h"

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

struct cd_dbus_config {
	/*
	 * DESIGN §9.7, checked by the service on every call (api/dbus-auth.h):
	 * groups allowed to start/stop and to read; NULL: "cardiod" and
	 * "cardiod-readers".  Copied.
	 */
	const char *manage_group, *read_group;
};

/*
 * Start the service on bus ("system", "session", "none" or a D-Bus
 * address).  "none": returns 0 with *ret NULL.  A bus that cannot be
 * reached is logged once and retried every CD_DBUS_RETRY_S seconds; this
 * still returns 0.  Returns -EEXIST (logged) when another process owns the
 * name, -EINVAL for a NULL argument, -ENOMEM.  front is copied; what it
 * points to must outlive the service.
 */
int cd_dbus_new(sd_event *event, const char *bus, const struct cd_front *front,
		const struct cd_dbus_config *config, struct cd_dbus **ret);
/*
 * Emits what is pending (e.g. SessionEnded at shutdown), flushes, releases
 * the name and unsubscribes from the contract's events.  Call before the
 * daemon behind the contract is freed.  NULL-safe; returns NULL.
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
