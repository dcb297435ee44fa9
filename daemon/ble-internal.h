/* SPDX-License-Identifier: MIT */
/*
 * What ble.c (the calls to bluetoothd, their replies, notifications, the
 * timer and the log) and ble-mirror.c (the system bus, bluetoothd's
 * presence and the mirror of its objects) share: the structs and a few
 * functions.  The decisions themselves (reconcile(), discovery, Connect()
 * and backoff, the bounds on unknown advertisers) are the pure code of
 * ble-reconcile.h.  Not for anyone else.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ble-reconcile.h"
#include "ble.h"

#define BLUEZ	      "org.bluez"
#define IFACE_ADAPTER "org.bluez.Adapter1"
#define IFACE_DEVICE  "org.bluez.Device1"
#define IFACE_BATTERY "org.bluez.Battery1"
#define IFACE_SERVICE "org.bluez.GattService1"
#define IFACE_CHAR    "org.bluez.GattCharacteristic1"

/* A strap: the decisions' part (ble-reconcile.h) and what it takes to carry them out. */
struct strap {
	struct ble_strap core; /* linked in ble::core.straps */
	struct ble *ble;
	struct monitor_device *device;
	char *dev_path; /* Device1 object under the adapter; NULL when there is none */

	unsigned reconnects, malformed;
	bool malformed_logged, trailing_logged;

	/* Notifications, per connection (core.notify says which). */
	sd_bus_slot *notify_slot;
	int fd;
	sd_event_source *io;

	/* Body Sensor Location, read once. */
	sd_bus_slot *bsl_slot;
};

static inline struct strap *strap_of(struct ble_strap *c)
{
	return (struct strap *)((char *)c - offsetof(struct strap, core));
}

/* The signals of bluetoothd and the bus that the mirror follows. */
enum {
	MATCH_OWNER,   /* NameOwnerChanged of org.bluez */
	MATCH_ADDED,   /* ObjectManager.InterfacesAdded */
	MATCH_REMOVED, /* ObjectManager.InterfacesRemoved */
	MATCH_PROPS,   /* Properties.PropertiesChanged below /org/bluez */
	_MATCH_MAX,
};

struct ble {
	sd_event *event;
	struct monitor *monitor;
	const struct cd_config *config;
	char **pinned; /* normalised allow-list; NULL: every strap advertising 0x180D */

	sd_bus *bus;
	sd_bus_slot *match_local;	   /* our own connection's Disconnected */
	sd_bus_slot *matches[_MATCH_MAX]; /* bluetoothd's signals (ble-mirror.c: bluez_matches) */
	sd_event_source *timer;	    /* next deadline of reconcile() */
	sd_event_source *bus_retry; /* the system bus went away */

	char *owner;	       /* unique name of bluetoothd; NULL: absent */
	sd_bus_slot *gmo_slot; /* GetManagedObjects pending */
	bool absent_logged;
	bool synced;  /* mirror loaded */
	bool closing; /* ble_free(): no more calls, no "reconnecting" */

	struct object *objects;
	bool adapter_logged;

	/* The decisions: straps, discovery, the adapter in use (core.adapter). */
	struct ble_core core;
	sd_bus_slot *discovery_slot; /* while core.discovery waits for a reply */
	sd_bus_slot *connect_slot;   /* while core.connecting is set */
};

/* ble-mirror.c */
bool normalise_address(const char *s, char out[static 18]);
struct object *object_find(struct ble *b, const char *path);
void objects_clear(struct ble *b);
int apply_properties(struct ble *b, struct object *o, unsigned bit, sd_bus_message *m,
		     bool from_signal);
void bus_close(struct ble *b);
int bus_open(struct ble *b);

/* ble.c */
void reconcile(struct ble *b);
void strap_value(struct strap *s, const uint8_t *data, size_t size);
void bluez_drop(struct ble *b);
