/* SPDX-License-Identifier: MIT */
/*
 * BLE straps through bluetoothd's D-Bus API (PROTOCOLS §2; corrections of
 * §2.5a, checked against BlueZ 5.66).
 *
 * Shape: a mirror of the few org.bluez objects we care about (adapters,
 * devices, their Battery1, Heart Rate services and characteristics), kept
 * by InterfacesAdded/Removed and PropertiesChanged after one
 * GetManagedObjects, and one function, reconcile(), that compares the
 * mirror with what we want and issues the next calls: discovery on or
 * off, one Connect() at a time, AcquireNotify (or StartNotify) and the
 * Body Sensor Location read.  Every event ends in reconcile(), so there is
 * no state machine to get out of step with bluetoothd: a restart of
 * bluetoothd, an adapter powered off or a strap that drops are all "the
 * mirror changed".
 *
 * Each strap (struct strap) lives as long as the daemon once it was
 * wanted; its device object path, characteristic paths and notification
 * fd are per connection and are looked up again every time (§2.6 step 5:
 * paths change, ServicesResolved may come before the GATT objects).
 *
 * The system bus, bluetoothd coming and going and the mirror itself are
 * in ble-mirror.c; the structs both halves share are in ble-internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "ble-internal.h"
#include "ble.h"
#include "cleanup.h"
#include "hrm.h"
#include "log.h"

/* §2.6 step 4: longer than sd-bus' 25 s default and the kernel's LE connect timeout. */
#define CONNECT_TIMEOUT_US (60 * USEC_PER_SEC)
/* Brief: backoff 1 s doubling to 60 s. */
#define BACKOFF_MIN_S 1U
#define BACKOFF_MAX_S 60U
/* Repeated le-connection-abort-by-local: retried at once this many times, then backed off. */
#define ABORT_RETRIES_MAX 3U
/* AcquireNotify failing this often on one link (not a refusal): StartNotify instead. */
#define ACQUIRE_FAILURES_MAX 3U
/* Retry of a refused/failed notification set-up or discovery call. */
#define RETRY_US (1 * USEC_PER_SEC)
/* After a notification fd hangs up while the link still looks up: let the mirror catch up. */
#define HUP_GRACE_US (500 * USEC_PER_MSEC)
/*
 * Without an allow-list there is no "missing" strap once every known one is
 * connected; scan in bursts then (RESCAN_FOR_US on, RESCAN_EVERY_US off: a
 * 3/8 duty cycle), so a second strap put on later is found and notifying
 * within 10 s (issue 11).  With an allow-list the scan stops for good once
 * every listed strap is connected.
 */
#define RESCAN_EVERY_US (5 * USEC_PER_SEC)
/*
 * A scan that has not found a missing strap in this long is stopped and
 * started again: some controllers (BlueZ's own btvirt emulator among them)
 * report an advertiser only when the scan is (re-)enabled, so a strap that
 * began advertising after the scan started would otherwise stay unseen.
 */
#define DISCOVERY_RESTART_US (20 * USEC_PER_SEC)
#define RESCAN_FOR_US	     (3 * USEC_PER_SEC)
/* A notification is at most ATT_MTU − 3 ≤ 514 bytes; more than the decoder takes is malformed. */
#define NOTIFY_BUF (CD_HRM_SIZE_MAX + 1)

static uint64_t now_us(struct ble *b)
{
	uint64_t t;

	if (sd_event_now(b->event, CLOCK_MONOTONIC, &t) < 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
	}
	return t;
}

/* PROTOCOLS §1.3 (C1, C2). */
static const char *body_location_name(uint8_t v)
{
	static const char *const names[] = {"other", "chest",	 "wrist", "finger",
					    "hand",  "ear_lobe", "foot"};

	return v < ELEMENTSOF(names) ? names[v] : "unknown";
}

/* Straps. */

static struct strap *strap_find(struct ble *b, const char *address)
{
	for (struct strap *s = b->straps; s; s = s->next)
		if (strcmp(s->address, address) == 0)
			return s;
	return NULL;
}

static void strap_publish_counts(struct strap *s)
{
	if (s->device)
		monitor_device_set_counts(s->device, s->reconnects, s->malformed);
}

static void strap_notify_stop(struct strap *s)
{
	s->notify_slot = sd_bus_slot_unref(s->notify_slot);
	s->io = sd_event_source_disable_unref(s->io);
	s->fd = s->fd >= 0 ? (close(s->fd), -EBADF) : -EBADF;
	s->notify = NOTIFY_NONE;
	s->chr_path = (free(s->chr_path), NULL);
}

/* The link is gone (or its objects are): per-connection state goes, the strap stays. */
static void strap_lost(struct strap *s)
{
	strap_notify_stop(s);
	s->bsl_slot = sd_bus_slot_unref(s->bsl_slot);
	s->acquire_refused = false;
	s->acquire_failures = 0;
	s->notify_retry_us = 0;
	if (s->connected) {
		s->connected = false;
		/* Reconnect at once; failures back off from 1 s (§2.6 step 7). */
		s->next_attempt_us = 0;
		s->delay_s = BACKOFF_MIN_S;
		if (!s->ble->closing)
			log_info("BLE strap %s lost; reconnecting.", s->address);
	}
	if (s->device)
		monitor_device_set_connected(s->device, false);
}

static struct strap *strap_free(struct strap *s)
{
	if (!s)
		return NULL;
	strap_notify_stop(s);
	sd_bus_slot_unref(s->bsl_slot);
	free(s->dev_path);
	free(s);
	return NULL;
}

/* The monitor device of strap s, named after dev. */
static int strap_publish(struct strap *s, const struct object *dev)
{
	char id[4 + 18];

	if (s->device)
		return 0;
	snprintf(id, sizeof(id), "ble-%s", s->address);
	return monitor_device_add(s->ble->monitor, id,
				  dev && (dev->alias || dev->name) ? (dev->alias ? dev->alias : dev->name)
								  : NULL,
				  CD_TRANSPORT_BLE, &s->device);
}

static int strap_new(struct ble *b, const struct object *dev, struct strap **ret)
{
	struct strap *s, **tail;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct strap){
		.ble = b,
		.fd = -EBADF,
		.delay_s = BACKOFF_MIN_S,
	};
	memcpy(s->address, dev->address, sizeof(s->address));
	s->added_us = s->seen_us = now_us(b);
	/*
	 * An allow-listed strap is a device from the start; any other becomes
	 * one (in /devices, on D-Bus) when it first connects, so advertisers
	 * that never connect cost no more than max_unknown of these.
	 */
	if (b->pinned) {
		r = strap_publish(s, dev);
		if (r < 0) {
			free(s);
			return r;
		}
	}
	for (tail = &b->straps; *tail; tail = &(*tail)->next)
		;
	*tail = s;
	*ret = s;
	return 0;
}

/*
 * One Heart Rate Measurement value (an AcquireNotify read or a Value
 * signal).  Heart rates are never logged above debug (log.h).
 */
void strap_value(struct strap *s, const uint8_t *data, size_t size)
{
	struct cd_hrm hrm;
	struct cd_sample sample;
	const char *reason = NULL;
	int r;

	r = cd_hrm_decode(data, size, &hrm, &reason);
	if (r < 0) {
		s->malformed++;
		strap_publish_counts(s);
		log_full(s->malformed_logged ? LOG_DEBUG : LOG_WARNING,
			 "BLE strap %s sent a malformed Heart Rate Measurement (%zu bytes: %s); "
			 "dropped%s.",
			 s->address, size, reason ? reason : "invalid",
			 s->malformed_logged ? "" : ", further ones are counted in /devices");
		s->malformed_logged = true;
		return;
	}
	if (hrm.n_trailing > 0 && !s->trailing_logged) {
		/* PROTOCOLS §5.2 BD14: accepted, logged once per strap. */
		log_notice("BLE strap %s sends %zu unannounced trailing byte(s); ignoring them.",
			   s->address, hrm.n_trailing);
		s->trailing_logged = true;
	}
	cd_hrm_to_sample(&hrm, 0, &sample);
	r = monitor_feed(s->ble->monitor, s->device, &sample, monitor_boot_us());
	if (r < 0)
		log_debug_errno(r, "Failed to feed a sample of %s: %m, ignoring", s->address);
}

/* AcquireNotify fd: each read() is exactly one notification (§2.4). */
static int on_notify_io(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	struct strap *s = userdata;
	struct ble *b = s->ble;
	uint8_t buf[NOTIFY_BUF];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			log_debug("BLE strap %s: notification socket closed (%s).", s->address,
				  n < 0 ? strerror(errno) : "end of file");
			goto hangup;
		}
		/*
		 * MSG_TRUNC: n is the real length; anything longer than the buffer is
		 * passed as CD_HRM_SIZE_MAX + 1 bytes, which the decoder rejects.
		 */
		strap_value(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
		if (s->fd != fd)
			return 0; /* the strap went away while feeding */
	}
	if (revents & (EPOLLHUP | EPOLLERR))
		goto hangup;
	return 0;

hangup:
	/* bluetoothd closes it on disconnect; if the link is still up, acquire again soon. */
	strap_notify_stop(s);
	s->notify_retry_us = now_us(b) + HUP_GRACE_US;
	reconcile(b);
	return 0;
}

static bool error_is(const sd_bus_error *e, const char *name)
{
	return sd_bus_error_has_name(e, name);
}

static int on_start_notify(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct strap *s = userdata;
	struct ble *b = s->ble;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	s->notify_slot = sd_bus_slot_unref(s->notify_slot);
	/* §2.4, §2.5a: InProgress = our session kept across a disconnect, being re-registered. */
	if (!e || error_is(e, "org.bluez.Error.InProgress")) {
		s->notify = NOTIFY_SIGNAL;
		log_info("BLE strap %s: receiving notifications through StartNotify.", s->address);
		return 0;
	}
	log_warning("BLE strap %s: StartNotify failed: %s (%s); retrying.", s->address, e->name,
		    e->message ? e->message : "");
	s->notify = NOTIFY_NONE;
	s->chr_path = (free(s->chr_path), NULL);
	s->notify_retry_us = now_us(b) + RETRY_US;
	reconcile(b);
	return 0;
}

static int call(struct ble *b, const char *path, const char *iface, const char *member,
		sd_bus_message_handler_t cb, void *userdata, uint64_t timeout_us,
		sd_bus_slot **ret_slot, const char *types, ...);

static void strap_start_notify(struct strap *s, const char *chr)
{
	struct ble *b = s->ble;
	int r;

	if (set_str(&s->chr_path, chr) < 0)
		return (void)log_oom();
	s->notify = NOTIFY_PENDING;
	r = call(b, chr, IFACE_CHAR, "StartNotify", on_start_notify, s, 0, &s->notify_slot, NULL);
	if (r < 0) {
		log_warning_errno(r, "BLE strap %s: cannot call StartNotify: %m", s->address);
		s->notify = NOTIFY_NONE;
		s->notify_retry_us = now_us(b) + RETRY_US;
	}
}

static int on_acquire_notify(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct strap *s = userdata;
	struct ble *b = s->ble;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	_cleanup_close_ int fd = -EBADF;
	int mfd, r;
	uint16_t mtu;

	s->notify_slot = sd_bus_slot_unref(s->notify_slot);
	if (e) {
		/*
		 * Refused (§2.4, §2.7 #5): NotPermitted when someone else holds it,
		 * InProgress when any client (or our own earlier session) has
		 * StartNotify; NotSupported/UnknownMethod on stacks without it.
		 * Fall back to StartNotify.  Anything else (not connected yet, object
		 * gone): try again shortly.
		 */
		if (error_is(e, "org.bluez.Error.NotPermitted") ||
		    error_is(e, "org.bluez.Error.InProgress") ||
		    error_is(e, "org.bluez.Error.NotSupported") ||
		    error_is(e, SD_BUS_ERROR_UNKNOWN_METHOD) ||
		    ++s->acquire_failures >= ACQUIRE_FAILURES_MAX) {
			_cleanup_free_ char *chr = TAKE_PTR(s->chr_path);

			log_info("BLE strap %s: AcquireNotify refused (%s%s%s); using StartNotify.",
				 s->address, e->name, e->message ? ": " : "",
				 e->message ? e->message : "");
			s->acquire_refused = true;
			strap_start_notify(s, chr);
			return 0;
		}
		log_warning("BLE strap %s: AcquireNotify failed: %s (%s); retrying.", s->address,
			    e->name, e->message ? e->message : "");
		s->notify = NOTIFY_NONE;
		s->chr_path = (free(s->chr_path), NULL);
		s->notify_retry_us = now_us(b) + RETRY_US;
		reconcile(b);
		return 0;
	}

	/* The fd belongs to the message (§2.8): duplicate it. */
	r = sd_bus_message_read(reply, "hq", &mfd, &mtu);
	if (r >= 0) {
		fd = fcntl(mfd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			r = -errno;
	}
	if (r >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		r = -errno;
	if (r >= 0)
		r = sd_event_add_io(b->event, &s->io, fd, EPOLLIN, on_notify_io, s);
	if (r < 0) {
		log_warning_errno(r,
				  "BLE strap %s: cannot use the AcquireNotify socket: %m; "
				  "retrying.",
				  s->address);
		s->notify = NOTIFY_NONE;
		s->chr_path = (free(s->chr_path), NULL);
		s->notify_retry_us = now_us(b) + RETRY_US;
		reconcile(b);
		return 0;
	}
	(void)sd_event_source_set_description(s->io, "ble-notify");
	s->fd = TAKE_FD(fd);
	s->notify = NOTIFY_FD;
	log_info("BLE strap %s: receiving notifications through AcquireNotify (MTU %u).",
		 s->address, mtu);
	return 0;
}

static void strap_acquire(struct strap *s, const char *chr)
{
	struct ble *b = s->ble;
	int r;

	if (s->acquire_refused)
		return strap_start_notify(s, chr);
	if (set_str(&s->chr_path, chr) < 0)
		return (void)log_oom();
	s->notify = NOTIFY_PENDING;
	r = call(b, chr, IFACE_CHAR, "AcquireNotify", on_acquire_notify, s, 0, &s->notify_slot,
		 "a{sv}", 0);
	if (r < 0) {
		log_warning_errno(r, "BLE strap %s: cannot call AcquireNotify: %m", s->address);
		s->notify = NOTIFY_NONE;
		s->chr_path = (free(s->chr_path), NULL);
		s->notify_retry_us = now_us(b) + RETRY_US;
	}
}

static int on_read_bsl(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct strap *s = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	const void *p;
	size_t n = 0;
	int r;

	s->bsl_slot = sd_bus_slot_unref(s->bsl_slot);
	if (e) {
		log_debug("BLE strap %s: reading Body Sensor Location failed: %s (%s).", s->address,
			  e->name, e->message ? e->message : "");
		s->bsl_retry_us = now_us(s->ble) + 10 * USEC_PER_SEC;
		return 0;
	}
	r = sd_bus_message_read_array(reply, 'y', &p, &n);
	if (r < 0 || n < 1) {
		log_debug("BLE strap %s: empty Body Sensor Location, ignoring.", s->address);
		s->bsl_done = true;
		return 0;
	}
	s->bsl_done = true;
	if (s->device)
		monitor_device_set_body_location(s->device,
						 body_location_name(*(const uint8_t *)p));
	log_debug("BLE strap %s: body sensor location %s.", s->address,
		  body_location_name(*(const uint8_t *)p));
	return 0;
}

/* Calls. */

static int call(struct ble *b, const char *path, const char *iface, const char *member,
		sd_bus_message_handler_t cb, void *userdata, uint64_t timeout_us,
		sd_bus_slot **ret_slot, const char *types, ...)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	if (!b->owner)
		return -ENOTCONN;
	/* To the unique name: a reply can only come from the bluetoothd we mirror. */
	r = sd_bus_message_new_method_call(b->bus, &m, b->owner, path, iface, member);
	if (r < 0)
		return r;
	if (types) {
		va_list ap;

		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
		if (r < 0)
			return r;
	}
	return sd_bus_call_async(b->bus, ret_slot, m, cb, userdata, timeout_us);
}

/* Connect policy (§2.6 steps 4, 5). */

/*
 * Connection chatter about an advertiser that never connected and is not
 * allow-listed goes to debug: a crowd of them must not flood the journal.
 */
static int strap_level(const struct strap *s, int level)
{
	return s->ever_connected || s->ble->pinned ? level : LOG_DEBUG;
}

static void strap_backoff(struct strap *s)
{
	struct ble *b = s->ble;

	s->next_attempt_us = now_us(b) + s->delay_s * USEC_PER_SEC;
	log_full(strap_level(s, LOG_INFO), "BLE strap %s: next connection attempt in %u s.",
		 s->address, s->delay_s);
	s->delay_s = s->delay_s >= BACKOFF_MAX_S / 2 ? BACKOFF_MAX_S : s->delay_s * 2;
}

/* A Device1 property read after Connect(): the path it was asked for. */
struct props_call {
	struct ble *ble;
	char path[];
};

static int on_device_props(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct props_call *c = userdata;
	struct object *o = object_find(c->ble, c->path);

	if (!o || sd_bus_message_is_method_error(reply, NULL))
		return 0;
	if (apply_properties(c->ble, o, IF_DEVICE, reply, false) < 0)
		log_debug("BLE: cannot read the properties of %s.", c->path);
	reconcile(c->ble);
	return 0;
}

/*
 * Connect() answered success, or AlreadyConnected: bluetoothd thinks the link
 * is up.  Normally Connected=true follows as a signal, but a real bluetoothd
 * under load was seen answering AlreadyConnected for a link whose signal we
 * never got, and we reconnected forever.  Read the properties once instead of
 * trusting that the signal will come.
 */
static void strap_refresh(struct strap *s)
{
	struct ble *b = s->ble;
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	struct props_call *c;
	size_t n = strlen(s->dev_path) + 1;

	c = malloc(sizeof(*c) + n);
	if (!c)
		return;
	c->ble = b;
	memcpy(c->path, s->dev_path, n);
	if (call(b, s->dev_path, "org.freedesktop.DBus.Properties", "GetAll", on_device_props, c,
		 0, &slot, "s", IFACE_DEVICE) < 0) {
		free(c);
		return;
	}
	/* The slot frees c when the reply came or the bus went away. */
	sd_bus_slot_set_destroy_callback(slot, free);
	sd_bus_slot_set_floating(slot, 1);
}

static int on_connect(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	struct strap *s = b->connecting;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	b->connect_slot = sd_bus_slot_unref(b->connect_slot);
	b->connecting = NULL;
	if (!s)
		return 0;
	if (!e || error_is(e, "org.bluez.Error.AlreadyConnected")) {
		log_debug("BLE strap %s: Connect() succeeded.", s->address);
		s->aborts = 0;
		/* Connected=true arrives as a property; until then, do not call again at once. */
		s->next_attempt_us = now_us(b) + RETRY_US;
		if (s->dev_path)
			strap_refresh(s);
	} else if (error_is(e, "org.bluez.Error.Failed") && e->message &&
		   strstr(e->message, "le-connection-abort-by-local") &&
		   s->aborts < ABORT_RETRIES_MAX) {
		/* Usually RF trouble; the link may look up for a moment: retry once it drops. */
		s->aborts++;
		s->wait_disconnect = true;
		s->next_attempt_us = 0;
		log_info("BLE strap %s: connection aborted locally; retrying.", s->address);
	} else if (error_is(e, "org.bluez.Error.InProgress") ||
		   (e->message && strstr(e->message, "already in progress"))) {
		/* §2.5a: Failed "Operation already in progress": one is pending in bluetoothd. */
		log_info("BLE strap %s: a connection is already in progress.", s->address);
		strap_backoff(s);
	} else {
		bool timeout = sd_bus_error_get_errno(e) == ETIMEDOUT ||
			       error_is(e, SD_BUS_ERROR_NO_REPLY) ||
			       error_is(e, SD_BUS_ERROR_TIMEOUT);

		log_full(strap_level(s, LOG_WARNING), "BLE strap %s: Connect() failed: %s (%s).",
			 s->address, e->name, e->message ? e->message : "");
		s->aborts = 0;
		/* A timed-out Connect may still be pending in bluetoothd; Disconnect cancels it. */
		if (timeout && s->dev_path)
			(void)call(b, s->dev_path, IFACE_DEVICE, "Disconnect", NULL, NULL, 0, NULL,
				   NULL);
		strap_backoff(s);
	}
	reconcile(b);
	return 0;
}

static void strap_connect(struct strap *s)
{
	struct ble *b = s->ble;
	int r;

	log_full(strap_level(s, LOG_INFO), "BLE strap %s: connecting.", s->address);
	s->tried = true;
	r = call(b, s->dev_path, IFACE_DEVICE, "Connect", on_connect, b, CONNECT_TIMEOUT_US,
		 &b->connect_slot, NULL);
	if (r < 0) {
		log_warning_errno(r, "BLE strap %s: cannot call Connect: %m", s->address);
		strap_backoff(s);
		return;
	}
	b->connecting = s;
}

/* Discovery (§2.6 step 3). */

static int on_discovery(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

static int discovery_call(struct ble *b, const char *member)
{
	if (strcmp(member, "SetDiscoveryFilter") == 0)
		return call(b, b->adapter, IFACE_ADAPTER, member, on_discovery, b, 0,
			    &b->discovery_slot, "a{sv}", 2, "UUIDs", "as", 1, UUID_HRS, "Transport",
			    "s", "le");
	return call(b, b->adapter, IFACE_ADAPTER, member, on_discovery, b, 0, &b->discovery_slot,
		    NULL);
}

static int on_discovery(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	int r;

	b->discovery_slot = sd_bus_slot_unref(b->discovery_slot);
	switch (b->discovery) {
	case DISCOVERY_FILTERING:
		if (e) {
			log_warning("BLE: SetDiscoveryFilter failed: %s (%s); retrying.", e->name,
				    e->message ? e->message : "");
			goto retry;
		}
		b->discovery = DISCOVERY_STARTING;
		r = discovery_call(b, "StartDiscovery");
		if (r < 0) {
			log_warning_errno(r, "BLE: cannot call StartDiscovery: %m");
			goto retry;
		}
		return 0;
	case DISCOVERY_STARTING:
		/* §2.7 #6: InProgress = already ours. */
		if (e && !error_is(e, "org.bluez.Error.InProgress")) {
			log_warning("BLE: StartDiscovery failed: %s (%s); retrying.", e->name,
				    e->message ? e->message : "");
			goto retry;
		}
		b->discovery = DISCOVERY_ON;
		b->discovery_since_us = now_us(b);
		if (!b->discovery_restart)
			log_info("BLE: scanning for heart-rate straps on %s.", b->adapter);
		b->discovery_restart = false;
		break;
	case DISCOVERY_STOPPING:
		if (e)
			log_debug("BLE: StopDiscovery: %s (%s).", e->name,
				  e->message ? e->message : "");
		else if (!b->discovery_restart)
			log_info("BLE: scanning stopped.");
		b->discovery = DISCOVERY_OFF;
		break;
	case DISCOVERY_OFF:
	case DISCOVERY_ON:
		break;
	}
	reconcile(b);
	return 0;

retry:
	b->discovery = DISCOVERY_OFF;
	b->discovery_retry_us = now_us(b) + 5 * USEC_PER_SEC;
	reconcile(b);
	return 0;
}

static void discovery_reset(struct ble *b)
{
	b->discovery_slot = sd_bus_slot_unref(b->discovery_slot);
	b->discovery_restart = false;
	b->discovery = DISCOVERY_OFF;
	b->discovery_retry_us = 0;
}

static void discovery_want(struct ble *b, bool want, uint64_t now)
{
	int r;

	if (b->discovery_slot)
		return; /* one step at a time */
	if (want && b->discovery == DISCOVERY_OFF) {
		if (b->discovery_retry_us > now)
			return;
		b->discovery = DISCOVERY_FILTERING;
		b->discovery_retry_us = 0;
		/* §2.2: the filter before StartDiscovery; last call per client wins. */
		r = discovery_call(b, "SetDiscoveryFilter");
		if (r < 0) {
			log_warning_errno(r, "BLE: cannot call SetDiscoveryFilter: %m");
			b->discovery = DISCOVERY_OFF;
			b->discovery_retry_us = now + 5 * USEC_PER_SEC;
		}
	} else if (b->discovery == DISCOVERY_ON &&
		   (!want || now >= b->discovery_since_us + DISCOVERY_RESTART_US)) {
		if (want)
			log_debug("BLE: nothing found for %llu s; restarting the scan.",
				  (unsigned long long)(DISCOVERY_RESTART_US / USEC_PER_SEC));
		b->discovery_restart = want;
		b->discovery = DISCOVERY_STOPPING;
		r = discovery_call(b, "StopDiscovery");
		if (r < 0)
			b->discovery = DISCOVERY_OFF;
	}
}

/* reconcile(): compare the mirror with what we want, issue the next calls. */

static bool address_pinned(struct ble *b, const char *address)
{
	for (char **p = b->pinned; p && *p; p++)
		if (strcmp(*p, address) == 0)
			return true;
	return false;
}

/* §2.2: filters are merged across clients, so every device is checked here. */
static bool device_wanted(struct ble *b, const struct object *dev)
{
	if (!dev->address[0])
		return false;
	if (b->pinned)
		return address_pinned(b, dev->address);
	return device_has_hrs(b, dev);
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
	reconcile(userdata);
	return 0;
}

static void arm_timer(struct ble *b, uint64_t deadline)
{
	int r;

	if (deadline == UINT64_MAX) {
		if (b->timer)
			(void)sd_event_source_set_enabled(b->timer, SD_EVENT_OFF);
		return;
	}
	if (!b->timer) {
		r = sd_event_add_time(b->event, &b->timer, CLOCK_MONOTONIC, deadline,
				      50 * USEC_PER_MSEC, on_timer, b);
		if (r < 0) {
			log_warning_errno(r, "BLE: cannot add a timer: %m");
			return;
		}
		(void)sd_event_source_set_description(b->timer, "ble-retry");
		return;
	}
	(void)sd_event_source_set_time(b->timer, deadline);
	(void)sd_event_source_set_enabled(b->timer, SD_EVENT_ONESHOT);
}

static void min_deadline(uint64_t *d, uint64_t t, uint64_t now)
{
	if (t > now && t < *d)
		*d = t;
}

static void strap_sync(struct strap *s, struct object *dev)
{
	if (set_str(&s->dev_path, dev ? dev->path : NULL) < 0)
		(void)log_oom();
	if (!dev || !dev->connected) {
		if (s->wait_disconnect && (!dev || !dev->connected))
			s->wait_disconnect = false;
		if (s->connected || (s->device && s->device->connected))
			strap_lost(s);
		return;
	}
	if (!s->device && strap_publish(s, dev) < 0) {
		log_oom();
		return;
	}
	if (dev->alias || dev->name)
		monitor_device_set_name(s->device, dev->alias ? dev->alias : dev->name);
	if (dev->battery >= 0) /* the last known level stays while Battery1 is away */
		monitor_device_set_battery(s->device, dev->battery);
	if (!s->connected) {
		s->connected = true;
		s->delay_s = BACKOFF_MIN_S;
		s->next_attempt_us = 0;
		if (s->ever_connected) {
			s->reconnects++;
			strap_publish_counts(s);
		}
		s->ever_connected = true;
		log_info("BLE strap %s (%s) connected.", s->address, s->device->name);
		monitor_device_set_connected(s->device, true);
	}
}

/* Never connected and not allow-listed: an advertiser, not (yet) a strap of ours. */
static bool strap_unknown(const struct strap *s)
{
	return !s->ever_connected && !s->connected && s->ble->connecting != s &&
	       !(s->ble->pinned && address_pinned(s->ble, s->address));
}

static void strap_remove(struct strap *s)
{
	struct ble *b = s->ble;

	for (struct strap **p = &b->straps; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	strap_free(s);
}

/* §9.7: never-connected straps not seen for forget_after_s are forgotten. */
static void forget_unknown(struct ble *b, uint64_t now)
{
	uint64_t after = (uint64_t)(b->config->ble_forget_after_s * USEC_PER_SEC);

	for (struct strap *s = b->straps, *next; s; s = next) {
		next = s->next;
		if (find_device(b, s->address))
			s->seen_us = now;
		else if (strap_unknown(s) && now - s->seen_us >= after) {
			log_debug("BLE: forgetting %s, never connected and unseen for %g s.",
				  s->address, b->config->ble_forget_after_s);
			strap_remove(s);
		}
	}
}

/*
 * §9.7: at most max_unknown never-connected straps.  When full, the one
 * that has had its Connect() longest ago makes room; none that has not
 * yet been tried does.  Returns whether there is room.
 */
static bool make_room(struct ble *b)
{
	struct strap *oldest = NULL;
	unsigned n = 0;

	for (struct strap *s = b->straps; s; s = s->next) {
		if (!strap_unknown(s))
			continue;
		n++;
		if (s->tried && (!oldest || s->added_us < oldest->added_us))
			oldest = s;
	}
	if (n < b->config->ble_max_unknown)
		return true;
	if (!oldest)
		return false;
	log_debug("BLE: forgetting %s, never connected, to make room (max_unknown %u).",
		  oldest->address, b->config->ble_max_unknown);
	strap_remove(oldest);
	return true;
}

void reconcile(struct ble *b)
{
	struct object *adapter;
	uint64_t now = now_us(b), deadline = UINT64_MAX;
	bool missing = false, any = false;

	if (!b->owner || !b->synced || b->closing) {
		arm_timer(b, UINT64_MAX);
		return;
	}

	adapter = choose_adapter(b);
	if (!adapter || !str_eq(adapter->path, b->adapter)) {
		/* New adapter, or none: everything tied to the old one goes. */
		discovery_reset(b);
		if (b->connecting) {
			b->connect_slot = sd_bus_slot_unref(b->connect_slot);
			b->connecting = NULL;
		}
		(void)set_str(&b->adapter, adapter ? adapter->path : NULL);
		b->adapter_logged = false;
	}
	if (!adapter || !adapter->powered) {
		if (!b->adapter_logged && adapter)
			log_notice("BLE: adapter %s is powered off; waiting for it.",
				   adapter->path);
		else if (!b->adapter_logged)
			log_notice("BLE: no Bluetooth adapter%s%s; waiting for one.",
				   b->config->ble_adapter ? " named " : "",
				   b->config->ble_adapter ? b->config->ble_adapter : "");
		b->adapter_logged = true;
		/* Powered off: bluetoothd dropped our discovery session and filter with it. */
		discovery_reset(b);
		for (struct strap *s = b->straps; s; s = s->next)
			strap_sync(s, NULL);
		arm_timer(b, UINT64_MAX);
		return;
	}
	if (b->adapter_logged)
		log_info("BLE: using adapter %s.", b->adapter);
	b->adapter_logged = false;

	forget_unknown(b, now);
	/*
	 * New straps, round robin from where the last pass stopped: with more
	 * advertisers than max_unknown each gets its turn to connect.
	 */
	{
		struct object *start = NULL;

		if (b->admit_after[0])
			for (struct object *o = b->objects; o; o = o->next)
				if (strcmp(o->address, b->admit_after) == 0 && device_on_adapter(b, o))
					start = o->next;
		for (unsigned pass = 0; pass < 2; pass++)
			for (struct object *o = pass == 0 ? start : b->objects;
			     o && !(pass == 1 && o == start); o = o->next) {
				struct strap *s;
				int r;

				if (!device_on_adapter(b, o) || !device_wanted(b, o) ||
				    strap_find(b, o->address))
					continue;
				if (!b->pinned && !make_room(b))
					goto admitted;
				r = strap_new(b, o, &s);
				if (r < 0) {
					log_warning_errno(r, "BLE: cannot add strap %s: %m", o->address);
					continue;
				}
				memcpy(b->admit_after, o->address, sizeof(b->admit_after));
				log_full(strap_level(s, LOG_INFO),
					 "BLE: found heart-rate strap %s (%s).", s->address,
					 o->alias ? o->alias : o->name ? o->name : s->address);
			}
	admitted:;
	}

	for (struct strap *s = b->straps; s; s = s->next) {
		struct object *dev = find_device(b, s->address), *chr;

		strap_sync(s, dev);
		any = true;
		if (!s->connected) {
			missing = true;
			if (!dev || s->wait_disconnect || b->connecting)
				continue;
			if (s->next_attempt_us <= now)
				strap_connect(s);
			else
				min_deadline(&deadline, s->next_attempt_us, now);
			continue;
		}
		if (!dev->resolved)
			continue; /* §2.7 #8: ServicesResolved, not object existence */

		/* The characteristic of this notification set-up went away (e.g. a service change).
		 */
		if (s->notify != NOTIFY_NONE && s->chr_path && !object_find(b, s->chr_path))
			strap_notify_stop(s);
		if (s->notify == NOTIFY_NONE) {
			chr = find_hrs_char(b, dev->path, UUID_HRM);
			/* §2.5a: the GATT objects may follow ServicesResolved; InterfacesAdded
			 * re-runs this. */
			if (chr && s->notify_retry_us <= now)
				strap_acquire(s, chr->path);
			else if (chr)
				min_deadline(&deadline, s->notify_retry_us, now);
		}
		if (!s->bsl_done && !s->bsl_slot) {
			chr = find_hrs_char(b, dev->path, UUID_BSL);
			if (chr && s->bsl_retry_us <= now) {
				if (call(b, chr->path, IFACE_CHAR, "ReadValue", on_read_bsl, s, 0,
					 &s->bsl_slot, "a{sv}", 0) < 0)
					s->bsl_retry_us = now + 10 * USEC_PER_SEC;
			} else if (chr)
				min_deadline(&deadline, s->bsl_retry_us, now);
		}
	}

	/* Pinned straps never seen yet are missing too. */
	for (char **p = b->pinned; p && *p; p++)
		if (!strap_find(b, *p))
			missing = true;
	if (!b->pinned && !any)
		missing = true;
	if (!b->pinned && !missing) {
		/* Everything known is connected: scan in bursts for newcomers. */
		if (b->rescan_at_us == 0)
			b->rescan_at_us = now + RESCAN_EVERY_US;
		if (now >= b->rescan_at_us) {
			b->rescan_until_us = now + RESCAN_FOR_US;
			b->rescan_at_us = b->rescan_until_us + RESCAN_EVERY_US;
		}
		min_deadline(&deadline, b->rescan_at_us, now);
		min_deadline(&deadline, b->rescan_until_us, now);
	} else
		b->rescan_at_us = b->rescan_until_us = 0;
	discovery_want(b, missing || now < b->rescan_until_us, now);
	if (b->discovery == DISCOVERY_OFF)
		min_deadline(&deadline, b->discovery_retry_us, now);
	else if (b->discovery == DISCOVERY_ON && (missing || now < b->rescan_until_us))
		min_deadline(&deadline, b->discovery_since_us + DISCOVERY_RESTART_US, now);

	arm_timer(b, deadline);
}

/* bluetoothd coming and going (§2.6 step 9). */

void bluez_drop(struct ble *b)
{
	b->gmo_slot = sd_bus_slot_unref(b->gmo_slot);
	b->connect_slot = sd_bus_slot_unref(b->connect_slot);
	b->connecting = NULL;
	discovery_reset(b);
	for (struct strap *s = b->straps; s; s = s->next) {
		strap_sync(s, NULL);
		s->bsl_slot = sd_bus_slot_unref(s->bsl_slot);
		s->next_attempt_us = 0;
		s->delay_s = BACKOFF_MIN_S;
		s->wait_disconnect = false;
	}
	objects_clear(b);
	b->adapter = (free(b->adapter), NULL);
	b->synced = false;
	b->owner = (free(b->owner), NULL);
	arm_timer(b, UINT64_MAX);
}

int ble_new(sd_event *event, struct monitor *m, const struct cd_config *c, struct ble **ret)
{
	_cleanup_(ble_freep) struct ble *b = NULL;
	size_t n = 0;
	int r;

	if (!event || !m || !c || !ret)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->event = sd_event_ref(event);
	b->monitor = m;
	b->config = c;

	/* [ble] devices pins the set (an empty list pins nothing: same as no list). */
	for (char **p = c->ble_devices; p && *p; p++)
		n++;
	if (n > 0) {
		b->pinned = calloc(n + 1, sizeof(char *));
		if (!b->pinned)
			return -ENOMEM;
		n = 0;
		for (char **p = c->ble_devices; *p; p++) {
			char a[18];

			if (!normalise_address(*p, a)) {
				log_warning("[ble] devices: '%s' is not a Bluetooth address "
					    "(aa:bb:cc:dd:ee:ff), ignoring.",
					    *p);
				continue;
			}
			b->pinned[n] = strdup(a);
			if (!b->pinned[n++])
				return -ENOMEM;
		}
	}

	r = bus_open(b);
	if (r < 0)
		return r;
	log_info("BLE: %s; %s.",
		 b->pinned ? "connecting only the straps in [ble] devices"
			   : "connecting every strap advertising Heart Rate",
		 c->ble_adapter ? c->ble_adapter : "first powered adapter");
	*ret = TAKE_PTR(b);
	return 0;
}

struct ble *ble_free(struct ble *b)
{
	if (!b)
		return NULL;
	b->closing = true;
	/* Let go of the links we made: a strap left connected drains its battery for nobody. */
	if (b->bus && b->owner)
		for (struct strap *s = b->straps; s; s = s->next)
			if (s->connected && s->dev_path)
				(void)call(b, s->dev_path, IFACE_DEVICE, "Disconnect", NULL, NULL,
					   0, NULL, NULL);
	if (b->bus && b->discovery == DISCOVERY_ON)
		(void)call(b, b->adapter, IFACE_ADAPTER, "StopDiscovery", NULL, NULL, 0, NULL,
			   NULL);
	bus_close(b);
	while (b->straps) {
		struct strap *s = b->straps;

		b->straps = s->next;
		strap_free(s);
	}
	for (char **p = b->pinned; p && *p; p++)
		free(*p);
	free(b->pinned);
	sd_event_source_disable_unref(b->timer);
	sd_event_source_disable_unref(b->bus_retry);
	sd_event_unref(b->event);
	free(b);
	return NULL;
}
