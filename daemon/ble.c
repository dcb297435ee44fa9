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
 * The deciding is pure code, ble_reconcile() and the ble_*_replied()
 * family of ble-reconcile.c, which read no clock and make no call
 * themselves: this file gives them the time and the actions below
 * (struct ble_actions: the sd-bus calls, the monitor devices, the log),
 * arms the timer for the deadline they return, and turns the replies
 * into their plain terms.
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

/* An sd-bus error reply in the plain terms of ble-reconcile.h; NULL for a success. */
static const struct ble_error *ble_error_of(const sd_bus_error *e, struct ble_error *buf)
{
	if (!e)
		return NULL;
	*buf = (struct ble_error){
		.name = e->name,
		.message = e->message,
		.error = sd_bus_error_get_errno(e),
	};
	return buf;
}

/* Straps. */

static void strap_publish_counts(struct strap *s)
{
	if (s->device)
		monitor_device_set_counts(s->device, s->reconnects, s->malformed);
}

/* The call in flight and the socket of the notification set-up (the state is core.notify). */
static void strap_notify_release(struct strap *s)
{
	s->notify_slot = sd_bus_slot_unref(s->notify_slot);
	s->io = sd_event_source_disable_unref(s->io);
	s->fd = s->fd >= 0 ? (close(s->fd), -EBADF) : -EBADF;
}

static struct strap *strap_free(struct strap *s)
{
	if (!s)
		return NULL;
	strap_notify_release(s);
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
	snprintf(id, sizeof(id), "ble-%s", dev->address);
	return monitor_device_add(s->ble->monitor, id,
				  dev->alias || dev->name ? (dev->alias ? dev->alias : dev->name)
							  : NULL,
				  CD_TRANSPORT_BLE, &s->device);
}

/*
 * Connection chatter about an advertiser that never connected and is not
 * allow-listed goes to debug: a crowd of them must not flood the journal.
 */
static int strap_level(const struct strap *s, int level)
{
	return s->core.ever_connected || s->ble->pinned ? level : LOG_DEBUG;
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
			 s->core.address, size, reason ? reason : "invalid",
			 s->malformed_logged ? "" : ", further ones are counted in /devices");
		s->malformed_logged = true;
		return;
	}
	if (hrm.n_trailing > 0 && !s->trailing_logged) {
		/* PROTOCOLS §5.2 BD14: accepted, logged once per strap. */
		log_notice("BLE strap %s sends %zu unannounced trailing byte(s); ignoring them.",
			   s->core.address, hrm.n_trailing);
		s->trailing_logged = true;
	}
	cd_hrm_to_sample(&hrm, 0, &sample);
	r = monitor_feed(s->ble->monitor, s->device, &sample, monitor_boot_us());
	if (r < 0)
		log_debug_errno(r, "Failed to feed a sample of %s: %m, ignoring", s->core.address);
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
			log_debug("BLE strap %s: notification socket closed (%s).", s->core.address,
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
	ble_notify_hangup(&b->core, &s->core, now_us(b));
	reconcile(b);
	return 0;
}

static int on_start_notify(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct strap *s = userdata;
	struct ble *b = s->ble;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	struct ble_error be;

	s->notify_slot = sd_bus_slot_unref(s->notify_slot);
	if (ble_start_notify_accepted(ble_error_of(e, &be))) {
		ble_notify_ready(&s->core, NOTIFY_SIGNAL);
		log_info("BLE strap %s: receiving notifications through StartNotify.",
			 s->core.address);
		return 0;
	}
	log_warning("BLE strap %s: StartNotify failed: %s (%s); retrying.", s->core.address,
		    e->name, e->message ? e->message : "");
	ble_notify_failed(&s->core, now_us(b));
	reconcile(b);
	return 0;
}

static int on_acquire_notify(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct strap *s = userdata;
	struct ble *b = s->ble;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	_cleanup_close_ int fd = -EBADF;
	struct ble_error be;
	int mfd, r;
	uint16_t mtu;

	s->notify_slot = sd_bus_slot_unref(s->notify_slot);
	if (e) {
		if (ble_acquire_refused(&s->core, ble_error_of(e, &be))) {
			log_info("BLE strap %s: AcquireNotify refused (%s%s%s); using StartNotify.",
				 s->core.address, e->name, e->message ? ": " : "",
				 e->message ? e->message : "");
			ble_notify_fallback(&b->core, &s->core, now_us(b));
			return 0;
		}
		log_warning("BLE strap %s: AcquireNotify failed: %s (%s); retrying.",
			    s->core.address, e->name, e->message ? e->message : "");
		ble_notify_failed(&s->core, now_us(b));
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
				  s->core.address);
		ble_notify_failed(&s->core, now_us(b));
		reconcile(b);
		return 0;
	}
	(void)sd_event_source_set_description(s->io, "ble-notify");
	s->fd = TAKE_FD(fd);
	ble_notify_ready(&s->core, NOTIFY_FD);
	log_info("BLE strap %s: receiving notifications through AcquireNotify (MTU %u).",
		 s->core.address, mtu);
	return 0;
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
		log_debug("BLE strap %s: reading Body Sensor Location failed: %s (%s).",
			  s->core.address, e->name, e->message ? e->message : "");
		ble_location_replied(&s->core, false, now_us(s->ble));
		return 0;
	}
	ble_location_replied(&s->core, true, now_us(s->ble));
	r = sd_bus_message_read_array(reply, 'y', &p, &n);
	if (r < 0 || n < 1) {
		log_debug("BLE strap %s: empty Body Sensor Location, ignoring.", s->core.address);
		return 0;
	}
	if (s->device)
		monitor_device_set_body_location(s->device,
						 body_location_name(*(const uint8_t *)p));
	log_debug("BLE strap %s: body sensor location %s.", s->core.address,
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

/* Connect policy (§2.6 steps 4, 5): the decisions are ble_connect_*(). */

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
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	struct ble_error be;
	enum ble_connect_result result;
	struct strap *s;

	b->connect_slot = sd_bus_slot_unref(b->connect_slot);
	if (!b->core.connecting)
		return 0;
	s = strap_of(b->core.connecting);
	result = ble_connect_classify(&s->core, ble_error_of(e, &be));
	switch (result) {
	case BLE_CONNECT_OK:
		log_debug("BLE strap %s: Connect() succeeded.", s->core.address);
		break;
	case BLE_CONNECT_ABORTED:
		log_info("BLE strap %s: connection aborted locally; retrying.", s->core.address);
		break;
	case BLE_CONNECT_IN_PROGRESS:
		log_info("BLE strap %s: a connection is already in progress.", s->core.address);
		break;
	case BLE_CONNECT_TIMEOUT:
	case BLE_CONNECT_FAILED:
		log_full(strap_level(s, LOG_WARNING), "BLE strap %s: Connect() failed: %s (%s).",
			 s->core.address, e->name, e->message ? e->message : "");
		/* A timed-out Connect may still be pending in bluetoothd; Disconnect cancels it. */
		if (result == BLE_CONNECT_TIMEOUT && s->dev_path)
			(void)call(b, s->dev_path, IFACE_DEVICE, "Disconnect", NULL, NULL, 0, NULL,
				   NULL);
		break;
	}
	ble_connect_replied(&b->core, result, now_us(b));
	if (result == BLE_CONNECT_OK && s->dev_path)
		strap_refresh(s);
	reconcile(b);
	return 0;
}

/* Discovery (§2.6 step 3): the decisions are discovery_want() and ble_discovery_replied(). */

static int on_discovery(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

static int discovery_call(struct ble *b, const char *member)
{
	if (strcmp(member, "SetDiscoveryFilter") == 0)
		return call(b, b->core.adapter, IFACE_ADAPTER, member, on_discovery, b, 0,
			    &b->discovery_slot, "a{sv}", 2, "UUIDs", "as", 1, UUID_HRS,
			    "Transport", "s", "le");
	return call(b, b->core.adapter, IFACE_ADAPTER, member, on_discovery, b, 0,
		    &b->discovery_slot, NULL);
}

static int on_discovery(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	struct ble_error be;

	b->discovery_slot = sd_bus_slot_unref(b->discovery_slot);
	switch (ble_discovery_replied(&b->core, ble_error_of(e, &be), now_us(b))) {
	case BLE_SCAN_FILTERED:
		return 0; /* StartDiscovery is on its way */
	case BLE_SCAN_FILTER_FAILED:
		log_warning("BLE: SetDiscoveryFilter failed: %s (%s); retrying.", e->name,
			    e->message ? e->message : "");
		break;
	case BLE_SCAN_START_FAILED:
		log_warning("BLE: StartDiscovery failed: %s (%s); retrying.", e->name,
			    e->message ? e->message : "");
		break;
	case BLE_SCAN_STARTED:
		log_info("BLE: scanning for heart-rate straps on %s.", b->core.adapter);
		break;
	case BLE_SCAN_STOPPED:
		log_info("BLE: scanning stopped.");
		break;
	case BLE_SCAN_STOP_FAILED:
		log_debug("BLE: StopDiscovery: %s (%s).", e->name, e->message ? e->message : "");
		break;
	case BLE_SCAN_START_UNSENT: /* logged by ble_start_discovery() */
	case BLE_SCAN_RESTARTED:
	case BLE_SCAN_STOPPED_RESTART:
	case BLE_SCAN_NONE:
		break;
	}
	reconcile(b);
	return 0;
}

/* The actions of ble-reconcile.h: the decisions carried out. */

static int ble_set_discovery_filter(void *ud)
{
	int r = discovery_call(ud, "SetDiscoveryFilter");

	if (r < 0)
		log_warning_errno(r, "BLE: cannot call SetDiscoveryFilter: %m");
	return r;
}

static int ble_start_discovery(void *ud)
{
	int r = discovery_call(ud, "StartDiscovery");

	if (r < 0)
		log_warning_errno(r, "BLE: cannot call StartDiscovery: %m");
	return r;
}

static int ble_stop_discovery(void *ud, bool restart)
{
	if (restart)
		log_debug("BLE: nothing found for %llu s; restarting the scan.",
			  (unsigned long long)(DISCOVERY_RESTART_US / USEC_PER_SEC));
	return discovery_call(ud, "StopDiscovery");
}

static void ble_cancel_discovery(void *ud)
{
	struct ble *b = ud;

	b->discovery_slot = sd_bus_slot_unref(b->discovery_slot);
}

static int ble_connect(void *ud, struct ble_strap *c)
{
	struct ble *b = ud;
	struct strap *s = strap_of(c);
	int r;

	log_full(strap_level(s, LOG_INFO), "BLE strap %s: connecting.", c->address);
	r = call(b, s->dev_path, IFACE_DEVICE, "Connect", on_connect, b, CONNECT_TIMEOUT_US,
		 &b->connect_slot, NULL);
	if (r < 0)
		log_warning_errno(r, "BLE strap %s: cannot call Connect: %m", c->address);
	return r;
}

static void ble_cancel_connect(void *ud)
{
	struct ble *b = ud;

	b->connect_slot = sd_bus_slot_unref(b->connect_slot);
}

static int ble_acquire_notify(void *ud, struct ble_strap *c, const char *chr)
{
	struct strap *s = strap_of(c);
	int r;

	r = call(ud, chr, IFACE_CHAR, "AcquireNotify", on_acquire_notify, s, 0, &s->notify_slot,
		 "a{sv}", 0);
	if (r < 0)
		log_warning_errno(r, "BLE strap %s: cannot call AcquireNotify: %m", c->address);
	return r;
}

static int ble_start_notify(void *ud, struct ble_strap *c, const char *chr)
{
	struct strap *s = strap_of(c);
	int r;

	r = call(ud, chr, IFACE_CHAR, "StartNotify", on_start_notify, s, 0, &s->notify_slot, NULL);
	if (r < 0)
		log_warning_errno(r, "BLE strap %s: cannot call StartNotify: %m", c->address);
	return r;
}

static void ble_stop_notify(void *ud, struct ble_strap *c)
{
	strap_notify_release(strap_of(c));
}

static int ble_read_location(void *ud, struct ble_strap *c, const char *chr)
{
	struct strap *s = strap_of(c);

	return call(ud, chr, IFACE_CHAR, "ReadValue", on_read_bsl, s, 0, &s->bsl_slot, "a{sv}", 0);
}

static void ble_cancel_location(void *ud, struct ble_strap *c)
{
	struct strap *s = strap_of(c);

	s->bsl_slot = sd_bus_slot_unref(s->bsl_slot);
}

static int ble_strap_new(void *ud, const struct object *dev, struct ble_strap **ret)
{
	struct ble *b = ud;
	struct strap *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto fail;
	}
	*s = (struct strap){
		.ble = b,
		.fd = -EBADF,
	};
	/*
	 * An allow-listed strap is a device from the start; any other becomes
	 * one (in /devices, on D-Bus) when it first connects, so advertisers
	 * that never connect cost no more than max_unknown of these.
	 */
	if (b->pinned) {
		r = strap_publish(s, dev);
		if (r < 0) {
			free(s);
			goto fail;
		}
	}
	log_full(b->pinned ? LOG_INFO : LOG_DEBUG, "BLE: found heart-rate strap %s (%s).",
		 dev->address, dev->alias ? dev->alias : dev->name ? dev->name : dev->address);
	*ret = &s->core;
	return 0;

fail:
	log_warning_errno(r, "BLE: cannot add strap %s: %m", dev->address);
	return r;
}

static void ble_strap_free(void *ud, struct ble_strap *c, enum ble_forget why)
{
	struct ble *b = ud;

	switch (why) {
	case BLE_FORGET_UNSEEN:
		log_debug("BLE: forgetting %s, never connected and unseen for %g s.", c->address,
			  b->config->ble_forget_after_s);
		break;
	case BLE_FORGET_ROOM:
		log_debug("BLE: forgetting %s, never connected, to make room (max_unknown %u).",
			  c->address, b->config->ble_max_unknown);
		break;
	case BLE_FORGET_CLOSING:
		break;
	}
	strap_free(strap_of(c));
}

static int ble_strap_seen(void *ud, struct ble_strap *c, const struct object *dev)
{
	struct strap *s = strap_of(c);
	int r;

	if (set_str(&s->dev_path, dev ? dev->path : NULL) < 0)
		(void)log_oom();
	if (!dev || !dev->connected) {
		/* A sample may have marked it connected after the link we knew of went. */
		if (!c->connected && s->device && s->device->connected)
			monitor_device_set_connected(s->device, false);
		return 0;
	}
	r = strap_publish(s, dev);
	if (r < 0)
		return log_oom();
	if (dev->alias || dev->name)
		monitor_device_set_name(s->device, dev->alias ? dev->alias : dev->name);
	if (dev->battery >= 0) /* the last known level stays while Battery1 is away */
		monitor_device_set_battery(s->device, dev->battery);
	return 0;
}

static void ble_strap_up(void *ud, struct ble_strap *c, bool again)
{
	struct strap *s = strap_of(c);

	if (again) {
		s->reconnects++;
		strap_publish_counts(s);
	}
	log_info("BLE strap %s (%s) connected.", c->address, s->device->name);
	monitor_device_set_connected(s->device, true);
}

static void ble_strap_down(void *ud, struct ble_strap *c)
{
	struct strap *s = strap_of(c);

	if (!s->ble->closing)
		log_info("BLE strap %s lost; reconnecting.", c->address);
	if (s->device)
		monitor_device_set_connected(s->device, false);
}

static void ble_strap_backoff(void *ud, struct ble_strap *c, unsigned delay_s)
{
	log_full(strap_level(strap_of(c), LOG_INFO),
		 "BLE strap %s: next connection attempt in %u s.", c->address, delay_s);
}

static const struct ble_actions ble_actions = {
	.set_discovery_filter = ble_set_discovery_filter,
	.start_discovery = ble_start_discovery,
	.stop_discovery = ble_stop_discovery,
	.cancel_discovery = ble_cancel_discovery,
	.connect = ble_connect,
	.cancel_connect = ble_cancel_connect,
	.acquire_notify = ble_acquire_notify,
	.start_notify = ble_start_notify,
	.stop_notify = ble_stop_notify,
	.read_location = ble_read_location,
	.cancel_location = ble_cancel_location,
	.strap_new = ble_strap_new,
	.strap_free = ble_strap_free,
	.strap_seen = ble_strap_seen,
	.strap_up = ble_strap_up,
	.strap_down = ble_strap_down,
	.strap_backoff = ble_strap_backoff,
};

/* reconcile(): the pure ble_reconcile() with the time, the log of the adapter and the timer. */

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

/* Once per change of the adapter or its power; "no adapter" every time there is none. */
static void log_adapter(struct ble *b, const struct object *adapter)
{
	if (!adapter || !str_eq(adapter->path, b->core.adapter))
		b->adapter_logged = false;
	if (!adapter || !adapter->powered) {
		if (!b->adapter_logged && adapter)
			log_notice("BLE: adapter %s is powered off; waiting for it.",
				   adapter->path);
		else if (!b->adapter_logged)
			log_notice("BLE: no Bluetooth adapter%s%s; waiting for one.",
				   b->config->ble_adapter ? " named " : "",
				   b->config->ble_adapter ? b->config->ble_adapter : "");
		b->adapter_logged = true;
		return;
	}
	if (b->adapter_logged)
		log_info("BLE: using adapter %s.", adapter->path);
	b->adapter_logged = false;
}

void reconcile(struct ble *b)
{
	const struct object *adapter;
	uint64_t deadline = UINT64_MAX;

	if (b->owner && b->synced && !b->closing) {
		adapter = choose_adapter(b->objects, b->config->ble_adapter);
		log_adapter(b, adapter);
		if (ble_reconcile(&b->core, b->objects, adapter, now_us(b), &deadline) < 0)
			(void)log_oom();
	}
	arm_timer(b, deadline);
}

/* bluetoothd coming and going (§2.6 step 9). */

void bluez_drop(struct ble *b)
{
	b->gmo_slot = sd_bus_slot_unref(b->gmo_slot);
	ble_core_drop(&b->core);
	objects_clear(b);
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
	ble_core_init(&b->core,
		      &(struct ble_policy){
			      .pinned = b->pinned,
			      .max_unknown = c->ble_max_unknown,
			      .forget_after_us = (uint64_t)(c->ble_forget_after_s * USEC_PER_SEC),
		      },
		      &ble_actions, b);

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
		for (struct ble_strap *c = b->core.straps; c; c = c->next)
			if (c->connected && strap_of(c)->dev_path)
				(void)call(b, strap_of(c)->dev_path, IFACE_DEVICE, "Disconnect",
					   NULL, NULL, 0, NULL, NULL);
	if (b->bus && b->core.discovery == DISCOVERY_ON)
		(void)call(b, b->core.adapter, IFACE_ADAPTER, "StopDiscovery", NULL, NULL, 0, NULL,
			   NULL);
	bus_close(b);
	ble_core_done(&b->core);
	for (char **p = b->pinned; p && *p; p++)
		free(*p);
	free(b->pinned);
	sd_event_source_disable_unref(b->timer);
	sd_event_source_disable_unref(b->bus_retry);
	sd_event_unref(b->event);
	free(b);
	return NULL;
}
