/* SPDX-License-Identifier: MIT */
/*
 * What ble.c (the straps: reconcile(), discovery, Connect() and backoff,
 * notifications, the bounds on unknown advertisers) and ble-mirror.c (the
 * system bus, bluetoothd's presence and the mirror of its objects) share:
 * the structs and a few functions.  Not for anyone else.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ble.h"

#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MSEC 1000ULL

#define BLUEZ	      "org.bluez"
#define IFACE_ADAPTER "org.bluez.Adapter1"
#define IFACE_DEVICE  "org.bluez.Device1"
#define IFACE_BATTERY "org.bluez.Battery1"
#define IFACE_SERVICE "org.bluez.GattService1"
#define IFACE_CHAR    "org.bluez.GattCharacteristic1"

/* PROTOCOLS §1.1: BlueZ presents 128-bit lower-case UUID strings. */
#define UUID_HRS "0000180d-0000-1000-8000-00805f9b34fb"
#define UUID_HRM "00002a37-0000-1000-8000-00805f9b34fb"
#define UUID_BSL "00002a38-0000-1000-8000-00805f9b34fb"

enum {
	IF_ADAPTER = 1 << 0,
	IF_DEVICE = 1 << 1,
	IF_BATTERY = 1 << 2,
	IF_SERVICE = 1 << 3,
	IF_CHAR = 1 << 4,
};

/* One org.bluez object of interest, as last reported (the mirror). */
struct object {
	char *path;
	unsigned ifaces;
	/* Adapter1 */
	bool powered;
	/* Device1 */
	char address[18]; /* lower case; "" unknown */
	char *alias, *name;
	char *adapter;
	bool connected, resolved, hrs;
	/* Battery1 */
	int battery; /* −1 unknown */
	/* GattService1 / GattCharacteristic1 */
	char *uuid;
	char *parent;	     /* GattService1.Device or GattCharacteristic1.Service */
	struct object *next; /* ble::objects */
};

enum notify_state {
	NOTIFY_NONE,
	NOTIFY_PENDING, /* AcquireNotify or StartNotify sent */
	NOTIFY_FD,	/* reading the AcquireNotify socket */
	NOTIFY_SIGNAL,	/* StartNotify: PropertiesChanged(Value) on chr_path */
};

struct strap {
	struct ble *ble;
	char address[18];
	struct monitor_device *device;
	char *dev_path; /* Device1 object under the adapter; NULL when there is none */

	bool connected; /* Device1.Connected as last acted on */
	bool ever_connected;
	/* Untrusted radio input is bounded (DESIGN §9.7): who may be forgotten. */
	uint64_t added_us, seen_us; /* monotonic: tracked since; Device1 object last present */
	bool tried;		    /* a Connect() was made */
	unsigned reconnects, malformed;
	bool malformed_logged, trailing_logged;

	/* Connect policy (§2.6 steps 4, 5). */
	uint64_t next_attempt_us; /* monotonic; 0 = now */
	unsigned delay_s;	  /* next backoff */
	bool wait_disconnect;	  /* le-connection-abort-by-local: retry once Connected drops */
	unsigned aborts;

	/* Notifications, per connection. */
	enum notify_state notify;
	bool acquire_refused;	   /* this connection: StartNotify instead */
	unsigned acquire_failures; /* this connection: AcquireNotify errors other than a refusal */
	char *chr_path;
	sd_bus_slot *notify_slot;
	int fd;
	sd_event_source *io;
	uint64_t notify_retry_us;

	/* Body Sensor Location, read once. */
	sd_bus_slot *bsl_slot;
	bool bsl_done;
	uint64_t bsl_retry_us;

	struct strap *next; /* ble::straps */
};

enum discovery_state {
	DISCOVERY_OFF,
	DISCOVERY_FILTERING, /* SetDiscoveryFilter sent */
	DISCOVERY_STARTING,  /* then StartDiscovery */
	DISCOVERY_ON,
	DISCOVERY_STOPPING,
};

struct ble {
	sd_event *event;
	struct monitor *monitor;
	const struct cd_config *config;
	char **pinned; /* normalised allow-list; NULL: every strap advertising 0x180D */

	sd_bus *bus;
	sd_bus_slot *match_added, *match_removed, *match_props, *match_owner, *match_local;
	sd_event_source *timer;	    /* next deadline of reconcile() */
	sd_event_source *bus_retry; /* the system bus went away */

	char *owner;	       /* unique name of bluetoothd; NULL: absent */
	sd_bus_slot *gmo_slot; /* GetManagedObjects pending */
	bool absent_logged;
	bool synced;  /* mirror loaded */
	bool closing; /* ble_free(): no more calls, no "reconnecting" */

	struct object *objects;
	char *adapter; /* path of the adapter in use */
	bool adapter_logged;

	enum discovery_state discovery;
	sd_bus_slot *discovery_slot;
	uint64_t discovery_retry_us;
	uint64_t discovery_since_us; /* DISCOVERY_ON since */
	bool discovery_restart;	     /* DISCOVERY_STOPPING only to start again */
	uint64_t rescan_at_us, rescan_until_us;

	struct strap *connecting; /* the one pending Connect() */
	sd_bus_slot *connect_slot;

	struct strap *straps;
	char admit_after[18]; /* round robin of new straps over the mirror (max_unknown) */
};

/* ble-mirror.c */
int set_str(char **p, const char *s);
bool str_eq(const char *a, const char *b);
bool normalise_address(const char *s, char out[static 18]);
struct object *object_find(struct ble *b, const char *path);
void objects_clear(struct ble *b);
int apply_properties(struct ble *b, struct object *o, unsigned bit, sd_bus_message *m,
		     bool from_signal);
bool device_on_adapter(struct ble *b, const struct object *o);
bool device_has_hrs(struct ble *b, const struct object *dev);
struct object *find_device(struct ble *b, const char *address);
struct object *find_hrs_char(struct ble *b, const char *dev_path, const char *uuid);
struct object *choose_adapter(struct ble *b);
void bus_close(struct ble *b);
int bus_open(struct ble *b);

/* ble.c */
void reconcile(struct ble *b);
void strap_value(struct strap *s, const uint8_t *data, size_t size);
void bluez_drop(struct ble *b);
