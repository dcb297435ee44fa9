/* SPDX-License-Identifier: MIT */
/*
 * The decisions of the BLE source, apart from its I/O (STYLE §7.1, §8.6):
 * which straps to keep, when to Connect() and how to back off, when to
 * scan, when to set up notifications and read the Body Sensor Location.
 *
 * Pure code: no sd-bus, no sd-event, no clock, no logging, no globals.
 * It reads the mirror of bluetoothd's objects (struct object, kept by
 * ble-mirror.c), is told the time with every call, and acts only through
 * the struct ble_actions it was given: the calls to bluetoothd, and the
 * events ble.c turns into log lines and monitor devices.  It never waits:
 * ble_reconcile() returns the time it next wants to run, and the caller
 * arms its timer for it.  tests/unit-daemon/test-ble-reconcile.c drives
 * it with scripted mirrors, fake actions and a fake clock.
 *
 * Replies come back through the ble_*_replied()-style functions below.
 * Where a reply is worth a log line, it is split in two, a classification
 * that changes nothing and then the step that acts on it, so the caller
 * can log in between and the journal reads in the order things happened.
 *
 * Times are CLOCK_MONOTONIC microseconds; UINT64_MAX means never.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MSEC 1000ULL

/* PROTOCOLS §1.1: BlueZ presents 128-bit lower-case UUID strings. */
#define UUID_HRS "0000180d-0000-1000-8000-00805f9b34fb"
#define UUID_HRM "00002a37-0000-1000-8000-00805f9b34fb"
#define UUID_BSL "00002a38-0000-1000-8000-00805f9b34fb"

/* Brief: backoff 1 s doubling to 60 s. */
#define BACKOFF_MIN_S 1U
#define BACKOFF_MAX_S 60U
/* Repeated le-connection-abort-by-local: retried at once this many times, then backed off. */
#define ABORT_RETRIES_MAX 3U
/* AcquireNotify failing this often on one link (not a refusal): StartNotify instead. */
#define ACQUIRE_FAILURES_MAX 3U
/* Retry of a refused/failed notification set-up, and the pause after Connect() succeeded. */
#define RETRY_US (1 * USEC_PER_SEC)
/* After a notification fd hangs up while the link still looks up: let the mirror catch up. */
#define HUP_GRACE_US (500 * USEC_PER_MSEC)
/* A discovery call that failed, and a Body Sensor Location read that failed. */
#define DISCOVERY_RETRY_US (5 * USEC_PER_SEC)
#define BSL_RETRY_US	   (10 * USEC_PER_SEC)
/*
 * Without an allow-list there is no "missing" strap once every known one is
 * connected; scan in bursts then (RESCAN_FOR_US on, RESCAN_EVERY_US off: a
 * 3/8 duty cycle), so a second strap put on later is found and notifying
 * within 10 s (issue 11).  With an allow-list the scan stops for good once
 * every listed strap is connected.
 */
#define RESCAN_EVERY_US (5 * USEC_PER_SEC)
#define RESCAN_FOR_US	(3 * USEC_PER_SEC)
/*
 * A scan that has not found a missing strap in this long is stopped and
 * started again: some controllers (BlueZ's own btvirt emulator among them)
 * report an advertiser only when the scan is (re-)enabled, so a strap that
 * began advertising after the scan started would otherwise stay unseen.
 */
#define DISCOVERY_RESTART_US (20 * USEC_PER_SEC)

enum {
	IF_ADAPTER = 1 << 0,
	IF_DEVICE = 1 << 1,
	IF_BATTERY = 1 << 2,
	IF_SERVICE = 1 << 3,
	IF_CHAR = 1 << 4,
};

/* One org.bluez object of interest, as last reported (the mirror, ble-mirror.c). */
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

/*
 * What the decisions need to remember of one strap.  Embedded in ble.c's
 * struct strap (which adds the monitor device, the call slots and the
 * notification socket); linked and unlinked only by this module.
 */
struct ble_strap {
	char address[18];

	bool connected; /* Device1.Connected as last acted on */
	bool ever_connected;
	/* Untrusted radio input is bounded (DESIGN §9.7): who may be forgotten. */
	uint64_t added_us, seen_us; /* tracked since; Device1 object last present */
	bool tried;		    /* a Connect() was made */

	/* Connect policy (§2.6 steps 4, 5). */
	uint64_t next_attempt_us; /* 0 = now */
	unsigned delay_s;	  /* next backoff */
	bool wait_disconnect;	  /* le-connection-abort-by-local: retry once Connected drops */
	unsigned aborts;

	/* Notifications, per connection. */
	enum notify_state notify;
	bool acquire_refused;	   /* this connection: StartNotify instead */
	unsigned acquire_failures; /* this connection: AcquireNotify errors other than a refusal */
	char *chr_path;		   /* owned; the characteristic of the set-up, NULL: none */
	uint64_t notify_retry_us;

	/* Body Sensor Location, read once. */
	bool bsl_pending, bsl_done;
	uint64_t bsl_retry_us;

	struct ble_strap *next; /* ble_core::straps */
};

enum discovery_state {
	DISCOVERY_OFF,
	DISCOVERY_FILTERING, /* SetDiscoveryFilter sent */
	DISCOVERY_STARTING,  /* then StartDiscovery */
	DISCOVERY_ON,
	DISCOVERY_STOPPING,
};

/* Why a strap is let go of (DESIGN §9.7). */
enum ble_forget {
	BLE_FORGET_UNSEEN, /* never connected, no Device1 object for forget_after_s */
	BLE_FORGET_ROOM,   /* never connected, the oldest tried of max_unknown */
	BLE_FORGET_CLOSING /* ble_core_done() */
};

/*
 * The effects, supplied by ble.c (the test supplies recorders).  Every
 * function gets the ud given to ble_core_init() first.
 *
 * Calls to bluetoothd return 0 once sent, or a negative errno when the
 * call could not be made (the callee logs it); their replies come back
 * through the functions further down.  The cancel_* functions drop a call
 * in flight so that its reply never comes.
 */
struct ble_actions {
	/* Adapter1: SetDiscoveryFilter(UUIDs [0x180D], Transport le), then StartDiscovery. */
	int (*set_discovery_filter)(void *ud);
	int (*start_discovery)(void *ud);
	/* restart: stopped only to be started again (DISCOVERY_RESTART_US). */
	int (*stop_discovery)(void *ud, bool restart);
	void (*cancel_discovery)(void *ud);
	/* Device1.Connect() of s's device (the one strap_seen() was last given). */
	int (*connect)(void *ud, struct ble_strap *s);
	void (*cancel_connect)(void *ud);
	/* On the Heart Rate Measurement characteristic chr. */
	int (*acquire_notify)(void *ud, struct ble_strap *s, const char *chr);
	int (*start_notify)(void *ud, struct ble_strap *s, const char *chr);
	/* Drop the set-up call in flight and the AcquireNotify socket, if any. */
	void (*stop_notify)(void *ud, struct ble_strap *s);
	/* ReadValue of the Body Sensor Location characteristic chr. */
	int (*read_location)(void *ud, struct ble_strap *s, const char *chr);
	void (*cancel_location)(void *ud, struct ble_strap *s);

	/*
	 * A new strap for the Device1 object dev: allocate the struct that
	 * embeds a struct ble_strap (zeroed), set *ret and return 0, or return
	 * a negative errno (logged by the callee) to pass dev over this time.
	 * This module fills in and links the ble_strap.
	 */
	int (*strap_new)(void *ud, const struct object *dev, struct ble_strap **ret);
	/* s is unlinked already: free it (and say why, or not). */
	void (*strap_free)(void *ud, struct ble_strap *s, enum ble_forget why);
	/*
	 * Every pass, before anything is decided for s: its Device1 object on
	 * the adapter in use (NULL: none).  When dev is connected, a negative
	 * errno (logged by the callee) means the strap could not be made a
	 * monitor device: it is not taken for connected on this pass.
	 */
	int (*strap_seen)(void *ud, struct ble_strap *s, const struct object *dev);
	/* The link came up (again: not the first time), or went down. */
	void (*strap_up)(void *ud, struct ble_strap *s, bool again);
	void (*strap_down)(void *ud, struct ble_strap *s);
	/* The next Connect() of s is in delay_s seconds. */
	void (*strap_backoff)(void *ud, struct ble_strap *s, unsigned delay_s);
};

struct ble_policy {
	/* Normalised allow-list, NULL-terminated, not owned; NULL: any strap advertising 0x180D. */
	char *const *pinned;
	unsigned max_unknown;	  /* [ble] max_unknown */
	uint64_t forget_after_us; /* [ble] forget_after_s */
};

/* All this module remembers between calls.  Embedded in ble.c's struct ble. */
struct ble_core {
	struct ble_policy policy;
	const struct ble_actions *ops;
	void *ud;

	char *adapter; /* path of the adapter in use; owned */

	enum discovery_state discovery;
	uint64_t discovery_retry_us;
	uint64_t discovery_since_us; /* DISCOVERY_ON since */
	bool discovery_restart;	     /* DISCOVERY_STOPPING only to start again */
	uint64_t rescan_at_us, rescan_until_us;

	struct ble_strap *connecting; /* the one pending Connect() */
	struct ble_strap *straps;
	char admit_after[18]; /* round robin of new straps over the mirror (max_unknown) */
};

/* A D-Bus error reply, as plain strings; NULL where a reply was a success. */
struct ble_error {
	const char *name;
	const char *message; /* may be NULL */
	int error;	     /* positive errno the name maps to (sd_bus_error_get_errno()) */
};

/* String helpers shared with ble.c and ble-mirror.c. */
int set_str(char **p, const char *s); /* strdup s (NULL: none) into *p, freeing the old value */
bool str_eq(const char *a, const char *b);

/* One object of the mirror and its strings; NULL-safe, returns NULL. */
struct object *object_free(struct object *o);

/* The mirror, read (§2.1: parents by property, else by object path). */
const struct object *find_object(const struct object *objects, const char *path);
bool device_on_adapter(const struct object *o, const char *adapter);
bool device_has_hrs(const struct object *objects, const struct object *dev);
const struct object *find_device(const struct object *objects, const char *adapter,
				 const char *address);
/* The characteristic uuid of the Heart Rate service of the device at dev_path, or NULL. */
const struct object *find_hrs_char(const struct object *objects, const char *dev_path,
				   const char *uuid);
/* name: [ble] adapter ("hci1" or a path); NULL: the first powered one, else any to wait on. */
const struct object *choose_adapter(const struct object *objects, const char *name);

/*
 * c starts empty.  policy is copied (its allow-list is not); ops and ud
 * must outlive c.  A zeroed struct ble_core is safe to pass to
 * ble_core_drop() and ble_core_done() too: they call nothing then.
 */
void ble_core_init(struct ble_core *c, const struct ble_policy *policy,
		   const struct ble_actions *ops, void *ud);
/* Lets go of every strap (BLE_FORGET_CLOSING) and of what c owns. */
void ble_core_done(struct ble_core *c);

/*
 * Compare the mirror with what we want and issue the next calls: adapter
 * (chosen by the caller with choose_adapter(), NULL: none), straps
 * admitted and forgotten, Connect(), notifications, Body Sensor Location,
 * discovery.  *ret_deadline is when it next wants to run (UINT64_MAX:
 * only when something changes).  Returns 0, or -ENOMEM when a
 * notification set-up was put off for want of memory (tried again on the
 * next pass).
 */
int ble_reconcile(struct ble_core *c, const struct object *objects, const struct object *adapter,
		  uint64_t now_us, uint64_t *ret_deadline);

/* bluetoothd left: its calls are gone, every link is down; its objects are about to go. */
void ble_core_drop(struct ble_core *c);

/* The strap with this address, or NULL. */
struct ble_strap *ble_strap_find(const struct ble_core *c, const char *address);

/* The reply to the discovery call in flight: what became of it, for the log. */
enum ble_scan_reply {
	BLE_SCAN_FILTERED,	  /* StartDiscovery sent; nothing else to do until it answers */
	BLE_SCAN_FILTER_FAILED,	  /* SetDiscoveryFilter failed: retried in DISCOVERY_RETRY_US */
	BLE_SCAN_START_UNSENT,	  /* StartDiscovery could not be sent (logged): retried */
	BLE_SCAN_START_FAILED,	  /* StartDiscovery failed: retried */
	BLE_SCAN_STARTED,	  /* scanning */
	BLE_SCAN_RESTARTED,	  /* scanning again after a restart (not worth a line) */
	BLE_SCAN_STOPPED,	  /* scan stopped */
	BLE_SCAN_STOPPED_RESTART, /* stopped only to start again (not worth a line) */
	BLE_SCAN_STOP_FAILED,	  /* StopDiscovery failed: the scan is taken for stopped */
	BLE_SCAN_NONE,		  /* nothing was in flight */
};
/* Unless BLE_SCAN_FILTERED, the caller runs ble_reconcile() next. */
enum ble_scan_reply ble_discovery_replied(struct ble_core *c, const struct ble_error *e,
					  uint64_t now_us);

/* The reply to the Connect() in flight (c->connecting). */
enum ble_connect_result {
	BLE_CONNECT_OK,		 /* or AlreadyConnected: wait RETRY_US for Connected=true */
	BLE_CONNECT_ABORTED,	 /* le-connection-abort-by-local: retry once the link drops */
	BLE_CONNECT_IN_PROGRESS, /* one is pending in bluetoothd: back off */
	BLE_CONNECT_TIMEOUT,	 /* back off; it may still be pending, Disconnect cancels it */
	BLE_CONNECT_FAILED,	 /* back off */
};
/* What e (NULL: success) means for s; changes nothing. */
enum ble_connect_result ble_connect_classify(const struct ble_strap *s, const struct ble_error *e);
/* Acts on it for c->connecting and clears that; the caller runs ble_reconcile() next. */
void ble_connect_replied(struct ble_core *c, enum ble_connect_result result, uint64_t now_us);

/*
 * Notification set-up (§2.4).  AcquireNotify failed with e: counts it and
 * returns true when this link should use StartNotify instead (refused, or
 * failed ACQUIRE_FAILURES_MAX times); then ble_notify_fallback() sends it.
 */
bool ble_acquire_refused(struct ble_strap *s, const struct ble_error *e);
void ble_notify_fallback(struct ble_core *c, struct ble_strap *s, uint64_t now_us);
/* StartNotify's reply e (NULL: success) means notifications flow. */
bool ble_start_notify_accepted(const struct ble_error *e);
/* Notifications flow: NOTIFY_FD or NOTIFY_SIGNAL. */
void ble_notify_ready(struct ble_strap *s, enum notify_state how);
/* The set-up failed: tried again in RETRY_US; the caller runs ble_reconcile() next. */
void ble_notify_failed(struct ble_strap *s, uint64_t now_us);
/* The AcquireNotify socket closed: set up again after HUP_GRACE_US if the link stays up. */
void ble_notify_hangup(struct ble_core *c, struct ble_strap *s, uint64_t now_us);

/* The Body Sensor Location read answered: ok (even if empty) ends it, else retried later. */
void ble_location_replied(struct ble_strap *s, bool ok, uint64_t now_us);
