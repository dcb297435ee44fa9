/* SPDX-License-Identifier: MIT */
/*
 * reconcile(): compare the mirror with what we want, issue the next calls
 * (ble-reconcile.h).  Pure: every effect goes through c->ops, every time
 * comes in as an argument.  The §-references are to PROTOCOLS, as in ble.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ble-reconcile.h"

/* Not sd-bus' constants: this file does not include sd-bus. */
#define ERROR_BLUEZ_FAILED	      "org.bluez.Error.Failed"
#define ERROR_BLUEZ_IN_PROGRESS	      "org.bluez.Error.InProgress"
#define ERROR_BLUEZ_ALREADY_CONNECTED "org.bluez.Error.AlreadyConnected"
#define ERROR_BLUEZ_NOT_PERMITTED     "org.bluez.Error.NotPermitted"
#define ERROR_BLUEZ_NOT_SUPPORTED     "org.bluez.Error.NotSupported"
#define ERROR_DBUS_UNKNOWN_METHOD     "org.freedesktop.DBus.Error.UnknownMethod"
#define ERROR_DBUS_NO_REPLY	      "org.freedesktop.DBus.Error.NoReply"
#define ERROR_DBUS_TIMEOUT	      "org.freedesktop.DBus.Error.Timeout"

int set_str(char **p, const char *s)
{
	char *n = NULL;

	if (s) {
		n = strdup(s);
		if (!n)
			return -ENOMEM;
	}
	free(*p);
	*p = n;
	return 0;
}

bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool error_is(const struct ble_error *e, const char *name)
{
	return str_eq(e->name, name);
}

static bool message_has(const struct ble_error *e, const char *text)
{
	return e->message && strstr(e->message, text);
}

/* The mirror, read. */

struct object *object_free(struct object *o)
{
	if (!o)
		return NULL;
	free(o->path);
	free(o->alias);
	free(o->name);
	free(o->adapter);
	free(o->uuid);
	free(o->parent);
	free(o);
	return NULL;
}

const struct object *find_object(const struct object *objects, const char *path)
{
	for (const struct object *o = objects; o; o = o->next)
		if (strcmp(o->path, path) == 0)
			return o;
	return NULL;
}

/* path is below parent ("/a/b" under "/a"). */
static bool path_under(const char *path, const char *parent)
{
	size_t n = parent ? strlen(parent) : 0;

	return n > 0 && strncmp(path, parent, n) == 0 && path[n] == '/';
}

/*
 * o's parent object (Device1.Adapter, GattService1.Device,
 * GattCharacteristic1.Service) is parent; when the property is missing,
 * the object path decides (§2.1: example-gatt-client matches by prefix).
 */
static bool object_of(const struct object *o, const char *link, const char *parent)
{
	return link ? str_eq(link, parent) : path_under(o->path, parent);
}

bool device_on_adapter(const struct object *o, const char *adapter)
{
	return (o->ifaces & IF_DEVICE) && object_of(o, o->adapter, adapter);
}

bool device_has_hrs(const struct object *objects, const struct object *dev)
{
	if (dev->hrs)
		return true;
	for (const struct object *o = objects; o; o = o->next)
		if ((o->ifaces & IF_SERVICE) && object_of(o, o->parent, dev->path) && o->uuid &&
		    strcasecmp(o->uuid, UUID_HRS) == 0)
			return true;
	return false;
}

const struct object *find_device(const struct object *objects, const char *adapter,
				 const char *address)
{
	for (const struct object *o = objects; o; o = o->next)
		if (device_on_adapter(o, adapter) && strcmp(o->address, address) == 0)
			return o;
	return NULL;
}

const struct object *find_hrs_char(const struct object *objects, const char *dev_path,
				   const char *uuid)
{
	for (const struct object *svc = objects; svc; svc = svc->next) {
		if (!(svc->ifaces & IF_SERVICE) || !object_of(svc, svc->parent, dev_path) ||
		    !svc->uuid || strcasecmp(svc->uuid, UUID_HRS) != 0)
			continue;
		for (const struct object *c = objects; c; c = c->next)
			if ((c->ifaces & IF_CHAR) && object_of(c, c->parent, svc->path) &&
			    c->uuid && strcasecmp(c->uuid, uuid) == 0)
				return c;
	}
	return NULL;
}

const struct object *choose_adapter(const struct object *objects, const char *name)
{
	const struct object *best = NULL;

	for (const struct object *o = objects; o; o = o->next) {
		const char *base;

		if (!(o->ifaces & IF_ADAPTER))
			continue;
		if (name) {
			base = strrchr(o->path, '/');
			if (strcmp(o->path, name) == 0 || (base && strcmp(base + 1, name) == 0))
				return o;
			continue;
		}
		/* The first powered one (lowest path, e.g. hci0 before hci1); else any, to wait on.
		 */
		if (!best || (o->powered && !best->powered) ||
		    (o->powered == best->powered && strcmp(o->path, best->path) < 0))
			best = o;
	}
	return best;
}

/* Straps. */

void ble_core_init(struct ble_core *c, const struct ble_policy *policy,
		   const struct ble_actions *ops, void *ud)
{
	*c = (struct ble_core){
		.policy = *policy,
		.ops = ops,
		.ud = ud,
	};
}

struct ble_strap *ble_strap_find(const struct ble_core *c, const char *address)
{
	for (struct ble_strap *s = c->straps; s; s = s->next)
		if (strcmp(s->address, address) == 0)
			return s;
	return NULL;
}

static void strap_unlink(struct ble_core *c, struct ble_strap *s)
{
	for (struct ble_strap **p = &c->straps; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	s->next = NULL;
	s->chr_path = (free(s->chr_path), NULL);
}

static void strap_forget(struct ble_core *c, struct ble_strap *s, enum ble_forget why)
{
	strap_unlink(c, s);
	c->ops->strap_free(c->ud, s, why);
}

void ble_core_done(struct ble_core *c)
{
	while (c->straps)
		strap_forget(c, c->straps, BLE_FORGET_CLOSING);
	c->adapter = (free(c->adapter), NULL);
}

static void strap_notify_stop(struct ble_core *c, struct ble_strap *s)
{
	c->ops->stop_notify(c->ud, s);
	s->notify = NOTIFY_NONE;
	s->chr_path = (free(s->chr_path), NULL);
}

/* The link is gone (or its objects are): per-connection state goes, the strap stays. */
static void strap_lost(struct ble_core *c, struct ble_strap *s)
{
	strap_notify_stop(c, s);
	if (s->bsl_pending)
		c->ops->cancel_location(c->ud, s);
	s->bsl_pending = false;
	s->acquire_refused = false;
	s->acquire_failures = 0;
	s->notify_retry_us = 0;
	s->connected = false;
	/* Reconnect at once; failures back off from 1 s (§2.6 step 7). */
	s->next_attempt_us = 0;
	s->delay_s = BACKOFF_MIN_S;
	c->ops->strap_down(c->ud, s);
}

static void strap_sync(struct ble_core *c, struct ble_strap *s, const struct object *dev)
{
	bool up = dev && dev->connected;

	if (c->ops->strap_seen(c->ud, s, dev) < 0 && up)
		return;
	if (!up) {
		s->wait_disconnect = false;
		/*
		 * Only a link we saw up has anything to tear down: notifications
		 * and the location read are only set up on one.  (A monitor
		 * device that a late sample marked connected is strap_seen()'s.)
		 */
		if (s->connected)
			strap_lost(c, s);
		return;
	}
	if (!s->connected) {
		s->connected = true;
		s->delay_s = BACKOFF_MIN_S;
		s->next_attempt_us = 0;
		c->ops->strap_up(c->ud, s, s->ever_connected);
		s->ever_connected = true;
	}
}

/* Connect policy (§2.6 steps 4, 5). */

static void strap_backoff(struct ble_core *c, struct ble_strap *s, uint64_t now)
{
	s->next_attempt_us = now + s->delay_s * USEC_PER_SEC;
	c->ops->strap_backoff(c->ud, s, s->delay_s);
	s->delay_s = s->delay_s >= BACKOFF_MAX_S / 2 ? BACKOFF_MAX_S : s->delay_s * 2;
}

static void strap_connect(struct ble_core *c, struct ble_strap *s, uint64_t now)
{
	s->tried = true;
	if (c->ops->connect(c->ud, s) < 0) {
		strap_backoff(c, s, now);
		return;
	}
	c->connecting = s;
}

enum ble_connect_result ble_connect_classify(const struct ble_strap *s, const struct ble_error *e)
{
	if (!e || error_is(e, ERROR_BLUEZ_ALREADY_CONNECTED))
		return BLE_CONNECT_OK;
	/* Usually RF trouble; the link may look up for a moment: retry once it drops. */
	if (error_is(e, ERROR_BLUEZ_FAILED) && message_has(e, "le-connection-abort-by-local") &&
	    s->aborts < ABORT_RETRIES_MAX)
		return BLE_CONNECT_ABORTED;
	/* §2.5a: Failed "Operation already in progress": one is pending in bluetoothd. */
	if (error_is(e, ERROR_BLUEZ_IN_PROGRESS) || message_has(e, "already in progress"))
		return BLE_CONNECT_IN_PROGRESS;
	if (e->error == ETIMEDOUT || error_is(e, ERROR_DBUS_NO_REPLY) ||
	    error_is(e, ERROR_DBUS_TIMEOUT))
		return BLE_CONNECT_TIMEOUT;
	return BLE_CONNECT_FAILED;
}

void ble_connect_replied(struct ble_core *c, enum ble_connect_result result, uint64_t now)
{
	struct ble_strap *s = c->connecting;

	c->connecting = NULL;
	if (!s)
		return;
	switch (result) {
	case BLE_CONNECT_OK:
		s->aborts = 0;
		/* Connected=true arrives as a property; until then, do not call again at once. */
		s->next_attempt_us = now + RETRY_US;
		break;
	case BLE_CONNECT_ABORTED:
		s->aborts++;
		s->wait_disconnect = true;
		s->next_attempt_us = 0;
		break;
	case BLE_CONNECT_IN_PROGRESS:
		strap_backoff(c, s, now);
		break;
	case BLE_CONNECT_TIMEOUT:
	case BLE_CONNECT_FAILED:
		s->aborts = 0;
		strap_backoff(c, s, now);
		break;
	}
}

/* Notifications (§2.4). */

static int strap_start_notify(struct ble_core *c, struct ble_strap *s, const char *chr,
			      uint64_t now)
{
	if (chr != s->chr_path && set_str(&s->chr_path, chr) < 0)
		return -ENOMEM;
	s->notify = NOTIFY_PENDING;
	if (c->ops->start_notify(c->ud, s, s->chr_path) < 0) {
		s->notify = NOTIFY_NONE;
		s->notify_retry_us = now + RETRY_US;
	}
	return 0;
}

static int strap_acquire(struct ble_core *c, struct ble_strap *s, const char *chr, uint64_t now)
{
	if (s->acquire_refused)
		return strap_start_notify(c, s, chr, now);
	if (set_str(&s->chr_path, chr) < 0)
		return -ENOMEM;
	s->notify = NOTIFY_PENDING;
	if (c->ops->acquire_notify(c->ud, s, s->chr_path) < 0) {
		s->notify = NOTIFY_NONE;
		s->chr_path = (free(s->chr_path), NULL);
		s->notify_retry_us = now + RETRY_US;
	}
	return 0;
}

bool ble_acquire_refused(struct ble_strap *s, const struct ble_error *e)
{
	/*
	 * Refused (§2.4, §2.7 #5): NotPermitted when someone else holds it,
	 * InProgress when any client (or our own earlier session) has
	 * StartNotify; NotSupported/UnknownMethod on stacks without it.
	 * Anything else (not connected yet, object gone) is tried again, but
	 * not forever.
	 */
	return error_is(e, ERROR_BLUEZ_NOT_PERMITTED) || error_is(e, ERROR_BLUEZ_IN_PROGRESS) ||
	       error_is(e, ERROR_BLUEZ_NOT_SUPPORTED) || error_is(e, ERROR_DBUS_UNKNOWN_METHOD) ||
	       ++s->acquire_failures >= ACQUIRE_FAILURES_MAX;
}

void ble_notify_fallback(struct ble_core *c, struct ble_strap *s, uint64_t now)
{
	s->acquire_refused = true;
	/* The characteristic AcquireNotify was refused on; chr_path is kept. */
	if (s->chr_path)
		(void)strap_start_notify(c, s, s->chr_path, now);
	else
		s->notify = NOTIFY_NONE;
}

bool ble_start_notify_accepted(const struct ble_error *e)
{
	/* §2.4, §2.5a: InProgress = our session kept across a disconnect, being re-registered. */
	return !e || error_is(e, ERROR_BLUEZ_IN_PROGRESS);
}

void ble_notify_ready(struct ble_strap *s, enum notify_state how)
{
	s->notify = how;
}

void ble_notify_failed(struct ble_strap *s, uint64_t now)
{
	s->notify = NOTIFY_NONE;
	s->chr_path = (free(s->chr_path), NULL);
	s->notify_retry_us = now + RETRY_US;
}

void ble_notify_hangup(struct ble_core *c, struct ble_strap *s, uint64_t now)
{
	/* bluetoothd closes it on disconnect; if the link is still up, acquire again soon. */
	strap_notify_stop(c, s);
	s->notify_retry_us = now + HUP_GRACE_US;
}

void ble_location_replied(struct ble_strap *s, bool ok, uint64_t now)
{
	s->bsl_pending = false;
	if (ok)
		s->bsl_done = true;
	else
		s->bsl_retry_us = now + BSL_RETRY_US;
}

/* Discovery (§2.6 step 3). */

/* A call is in flight exactly in the states that wait for a reply. */
static bool discovery_pending(const struct ble_core *c)
{
	return c->discovery == DISCOVERY_FILTERING || c->discovery == DISCOVERY_STARTING ||
	       c->discovery == DISCOVERY_STOPPING;
}

static void discovery_reset(struct ble_core *c)
{
	if (discovery_pending(c))
		c->ops->cancel_discovery(c->ud);
	c->discovery_restart = false;
	c->discovery = DISCOVERY_OFF;
	c->discovery_retry_us = 0;
}

static void discovery_retry(struct ble_core *c, uint64_t now)
{
	c->discovery = DISCOVERY_OFF;
	c->discovery_retry_us = now + DISCOVERY_RETRY_US;
}

static void discovery_want(struct ble_core *c, bool want, uint64_t now)
{
	if (discovery_pending(c))
		return; /* one step at a time */
	if (want && c->discovery == DISCOVERY_OFF) {
		if (c->discovery_retry_us > now)
			return;
		c->discovery = DISCOVERY_FILTERING;
		c->discovery_retry_us = 0;
		/* §2.2: the filter before StartDiscovery; last call per client wins. */
		if (c->ops->set_discovery_filter(c->ud) < 0)
			discovery_retry(c, now);
	} else if (c->discovery == DISCOVERY_ON &&
		   (!want || now >= c->discovery_since_us + DISCOVERY_RESTART_US)) {
		c->discovery_restart = want;
		c->discovery = DISCOVERY_STOPPING;
		if (c->ops->stop_discovery(c->ud, want) < 0)
			c->discovery = DISCOVERY_OFF;
	}
}

enum ble_scan_reply ble_discovery_replied(struct ble_core *c, const struct ble_error *e,
					  uint64_t now)
{
	bool restart = c->discovery_restart;

	switch (c->discovery) {
	case DISCOVERY_FILTERING:
		if (e) {
			discovery_retry(c, now);
			return BLE_SCAN_FILTER_FAILED;
		}
		c->discovery = DISCOVERY_STARTING;
		if (c->ops->start_discovery(c->ud) < 0) {
			discovery_retry(c, now);
			return BLE_SCAN_START_UNSENT;
		}
		return BLE_SCAN_FILTERED;
	case DISCOVERY_STARTING:
		/* §2.7 #6: InProgress = already ours. */
		if (e && !error_is(e, ERROR_BLUEZ_IN_PROGRESS)) {
			discovery_retry(c, now);
			return BLE_SCAN_START_FAILED;
		}
		c->discovery = DISCOVERY_ON;
		c->discovery_since_us = now;
		c->discovery_restart = false;
		return restart ? BLE_SCAN_RESTARTED : BLE_SCAN_STARTED;
	case DISCOVERY_STOPPING:
		c->discovery = DISCOVERY_OFF;
		if (e)
			return BLE_SCAN_STOP_FAILED;
		return restart ? BLE_SCAN_STOPPED_RESTART : BLE_SCAN_STOPPED;
	case DISCOVERY_OFF:
	case DISCOVERY_ON:
		break;
	}
	return BLE_SCAN_NONE;
}

/* reconcile() */

static bool address_pinned(const struct ble_core *c, const char *address)
{
	for (char *const *p = c->policy.pinned; p && *p; p++)
		if (strcmp(*p, address) == 0)
			return true;
	return false;
}

/* §2.2: filters are merged across clients, so every device is checked here. */
static bool device_wanted(const struct ble_core *c, const struct object *objects,
			  const struct object *dev)
{
	if (!dev->address[0])
		return false;
	if (c->policy.pinned)
		return address_pinned(c, dev->address);
	return device_has_hrs(objects, dev);
}

static void min_deadline(uint64_t *d, uint64_t t, uint64_t now)
{
	if (t > now && t < *d)
		*d = t;
}

/* Never connected and not allow-listed: an advertiser, not (yet) a strap of ours. */
static bool strap_unknown(const struct ble_core *c, const struct ble_strap *s)
{
	return !s->ever_connected && !s->connected && c->connecting != s &&
	       !(c->policy.pinned && address_pinned(c, s->address));
}

/* §9.7: never-connected straps not seen for forget_after_s are forgotten. */
static void forget_unknown(struct ble_core *c, const struct object *objects, uint64_t now)
{
	for (struct ble_strap *s = c->straps, *next; s; s = next) {
		next = s->next;
		if (find_device(objects, c->adapter, s->address))
			s->seen_us = now;
		else if (strap_unknown(c, s) && now - s->seen_us >= c->policy.forget_after_us)
			strap_forget(c, s, BLE_FORGET_UNSEEN);
	}
}

/*
 * §9.7: at most max_unknown never-connected straps.  When full, the one
 * that has had its Connect() longest ago makes room; none that has not
 * yet been tried does.  Returns whether there is room.
 */
static bool make_room(struct ble_core *c)
{
	struct ble_strap *oldest = NULL;
	unsigned n = 0;

	for (struct ble_strap *s = c->straps; s; s = s->next) {
		if (!strap_unknown(c, s))
			continue;
		n++;
		if (s->tried && (!oldest || s->added_us < oldest->added_us))
			oldest = s;
	}
	if (n < c->policy.max_unknown)
		return true;
	if (!oldest)
		return false;
	strap_forget(c, oldest, BLE_FORGET_ROOM);
	return true;
}

static void strap_admit(struct ble_core *c, const struct object *dev, uint64_t now)
{
	struct ble_strap *s, **tail;

	if (c->ops->strap_new(c->ud, dev, &s) < 0)
		return;
	*s = (struct ble_strap){
		.added_us = now,
		.seen_us = now,
		.delay_s = BACKOFF_MIN_S,
	};
	memcpy(s->address, dev->address, sizeof(s->address));
	for (tail = &c->straps; *tail; tail = &(*tail)->next)
		;
	*tail = s;
	memcpy(c->admit_after, dev->address, sizeof(c->admit_after));
}

/*
 * New straps, round robin from where the last pass stopped: with more
 * advertisers than max_unknown each gets its turn to connect.
 */
static void admit_new(struct ble_core *c, const struct object *objects, uint64_t now)
{
	const struct object *start = NULL;

	if (c->admit_after[0])
		for (const struct object *o = objects; o; o = o->next)
			if (strcmp(o->address, c->admit_after) == 0 &&
			    device_on_adapter(o, c->adapter))
				start = o->next;
	for (unsigned pass = 0; pass < 2; pass++)
		for (const struct object *o = pass == 0 ? start : objects;
		     o && !(pass == 1 && o == start); o = o->next) {
			if (!device_on_adapter(o, c->adapter) || !device_wanted(c, objects, o) ||
			    ble_strap_find(c, o->address))
				continue;
			if (!c->policy.pinned && !make_room(c))
				return;
			strap_admit(c, o, now);
		}
}

/* One strap: keep it connected, notifying, its location read.  Returns whether it is missing. */
static bool strap_reconcile(struct ble_core *c, struct ble_strap *s, const struct object *objects,
			    uint64_t now, uint64_t *deadline, int *ret)
{
	const struct object *dev = find_device(objects, c->adapter, s->address), *chr;

	strap_sync(c, s, dev);
	if (!s->connected) {
		if (!dev || s->wait_disconnect || c->connecting)
			return true;
		if (s->next_attempt_us <= now)
			strap_connect(c, s, now);
		else
			min_deadline(deadline, s->next_attempt_us, now);
		return true;
	}
	if (!dev->resolved)
		return false; /* §2.7 #8: ServicesResolved, not object existence */

	/* The characteristic of this notification set-up went away (e.g. a service change). */
	if (s->notify != NOTIFY_NONE && s->chr_path && !find_object(objects, s->chr_path))
		strap_notify_stop(c, s);
	if (s->notify == NOTIFY_NONE) {
		chr = find_hrs_char(objects, dev->path, UUID_HRM);
		/* §2.5a: the GATT objects may follow ServicesResolved; InterfacesAdded reruns this. */
		if (chr && s->notify_retry_us <= now) {
			if (strap_acquire(c, s, chr->path, now) < 0)
				*ret = -ENOMEM;
		} else if (chr)
			min_deadline(deadline, s->notify_retry_us, now);
	}
	if (!s->bsl_done && !s->bsl_pending) {
		chr = find_hrs_char(objects, dev->path, UUID_BSL);
		if (chr && s->bsl_retry_us <= now) {
			if (c->ops->read_location(c->ud, s, chr->path) < 0)
				s->bsl_retry_us = now + BSL_RETRY_US;
			else
				s->bsl_pending = true;
		} else if (chr)
			min_deadline(deadline, s->bsl_retry_us, now);
	}
	return false;
}

/* Discovery while a strap is missing; without an allow-list, in bursts once none is. */
static void scan_reconcile(struct ble_core *c, bool missing, uint64_t now, uint64_t *deadline)
{
	/* Pinned straps never seen yet are missing too. */
	for (char *const *p = c->policy.pinned; p && *p; p++)
		if (!ble_strap_find(c, *p))
			missing = true;
	if (!c->policy.pinned && !c->straps)
		missing = true;
	if (!c->policy.pinned && !missing) {
		/* Everything known is connected: scan in bursts for newcomers. */
		if (c->rescan_at_us == 0)
			c->rescan_at_us = now + RESCAN_EVERY_US;
		if (now >= c->rescan_at_us) {
			c->rescan_until_us = now + RESCAN_FOR_US;
			c->rescan_at_us = c->rescan_until_us + RESCAN_EVERY_US;
		}
		min_deadline(deadline, c->rescan_at_us, now);
		min_deadline(deadline, c->rescan_until_us, now);
	} else
		c->rescan_at_us = c->rescan_until_us = 0;
	discovery_want(c, missing || now < c->rescan_until_us, now);
	if (c->discovery == DISCOVERY_OFF)
		min_deadline(deadline, c->discovery_retry_us, now);
	else if (c->discovery == DISCOVERY_ON && (missing || now < c->rescan_until_us))
		min_deadline(deadline, c->discovery_since_us + DISCOVERY_RESTART_US, now);
}

int ble_reconcile(struct ble_core *c, const struct object *objects, const struct object *adapter,
		  uint64_t now, uint64_t *ret_deadline)
{
	uint64_t deadline = UINT64_MAX;
	bool missing = false;
	int r = 0;

	if (!adapter || !str_eq(adapter->path, c->adapter)) {
		/* New adapter, or none: everything tied to the old one goes. */
		discovery_reset(c);
		if (c->connecting) {
			c->ops->cancel_connect(c->ud);
			c->connecting = NULL;
		}
		(void)set_str(&c->adapter, adapter ? adapter->path : NULL);
	}
	if (!adapter || !adapter->powered) {
		/* Powered off: bluetoothd dropped our discovery session and filter with it. */
		discovery_reset(c);
		for (struct ble_strap *s = c->straps; s; s = s->next)
			strap_sync(c, s, NULL);
		*ret_deadline = UINT64_MAX;
		return 0;
	}

	forget_unknown(c, objects, now);
	admit_new(c, objects, now);
	for (struct ble_strap *s = c->straps; s; s = s->next)
		if (strap_reconcile(c, s, objects, now, &deadline, &r))
			missing = true;
	scan_reconcile(c, missing, now, &deadline);
	*ret_deadline = deadline;
	return r;
}

void ble_core_drop(struct ble_core *c)
{
	if (c->connecting) {
		c->ops->cancel_connect(c->ud);
		c->connecting = NULL;
	}
	discovery_reset(c);
	for (struct ble_strap *s = c->straps; s; s = s->next) {
		strap_sync(c, s, NULL);
		s->next_attempt_us = 0;
		s->delay_s = BACKOFF_MIN_S;
		s->wait_disconnect = false;
	}
	c->adapter = (free(c->adapter), NULL);
}
