/* SPDX-License-Identifier: MIT */
/*
 * daemon/ble-reconcile.c, the decisions of the BLE source, driven the way
 * STYLE §7.1 describes: a scripted mirror of bluetoothd's objects, a fake
 * clock, and actions that only write down what they were asked to do.
 * Every check compares that record (or a deadline) with the one expected.
 *
 * Covered: an allow-listed strap gets Connect() then AcquireNotify and the
 * location read; strangers beyond max_unknown wait, round robin; the 3-in-8
 * s scan bursts without an allow-list, and the scan that stops for good
 * with one; Connect() backoff and the replies that skip it; forgetting
 * after forget_after_s; AcquireNotify refused or failing → StartNotify;
 * the adapter powered off and bluetoothd leaving.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ble-reconcile.h"
#include "check.h"

#define SEC   1000000ULL
#define T0    (1000 * SEC)
#define NEVER UINT64_MAX

#define HCI0  "/org/bluez/hci0"
#define ADDR1 "aa:bb:cc:dd:ee:01"
#define ADDR2 "aa:bb:cc:dd:ee:02"
#define ADDR3 "aa:bb:cc:dd:ee:03"

/* The actions: each appends one line to log; fail_* make a call "unsendable". */
struct recorder {
	char log[4096];
	size_t len;
	bool fail_connect, fail_filter, fail_notify;
	unsigned live; /* straps allocated and not freed */
};

__attribute__((format(printf, 2, 3))) static void record(struct recorder *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r->len += (size_t)vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
	va_end(ap);
	if (r->len >= sizeof(r->log))
		r->len = sizeof(r->log) - 1;
	r->log[r->len++] = '\n';
	r->log[r->len] = '\0';
}

/* What was done since the last call, one action a line; then forgets it. */
static const char *take(struct recorder *r)
{
	static char out[sizeof(r->log)];

	memcpy(out, r->log, r->len + 1);
	r->len = 0;
	r->log[0] = '\0';
	return out;
}

static int fake_set_discovery_filter(void *ud)
{
	struct recorder *r = ud;

	record(r, "set-filter");
	return r->fail_filter ? -EIO : 0;
}

static int fake_start_discovery(void *ud)
{
	record(ud, "start-discovery");
	return 0;
}

static int fake_stop_discovery(void *ud, bool restart)
{
	record(ud, "stop-discovery%s", restart ? " restart" : "");
	return 0;
}

static void fake_cancel_discovery(void *ud)
{
	record(ud, "cancel-discovery");
}

static int fake_connect(void *ud, struct ble_strap *s)
{
	struct recorder *r = ud;

	record(r, "connect %s", s->address);
	return r->fail_connect ? -EIO : 0;
}

static void fake_cancel_connect(void *ud)
{
	record(ud, "cancel-connect");
}

static int fake_acquire_notify(void *ud, struct ble_strap *s, const char *chr)
{
	struct recorder *r = ud;

	record(r, "acquire %s %s", s->address, chr);
	return r->fail_notify ? -EIO : 0;
}

static int fake_start_notify(void *ud, struct ble_strap *s, const char *chr)
{
	struct recorder *r = ud;

	record(r, "start-notify %s %s", s->address, chr);
	return r->fail_notify ? -EIO : 0;
}

static void fake_stop_notify(void *ud, struct ble_strap *s)
{
	record(ud, "stop-notify %s", s->address);
}

static int fake_read_location(void *ud, struct ble_strap *s, const char *chr)
{
	record(ud, "read-location %s %s", s->address, chr);
	return 0;
}

static void fake_cancel_location(void *ud, struct ble_strap *s)
{
	record(ud, "cancel-location %s", s->address);
}

static int fake_strap_new(void *ud, const struct object *dev, struct ble_strap **ret)
{
	struct recorder *r = ud;

	*ret = calloc(1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	r->live++;
	record(r, "new %s", dev->address);
	return 0;
}

static void fake_strap_free(void *ud, struct ble_strap *s, enum ble_forget why)
{
	static const char *const whys[] = {
		[BLE_FORGET_UNSEEN] = "unseen",
		[BLE_FORGET_ROOM] = "room",
		[BLE_FORGET_CLOSING] = "closing",
	};
	struct recorder *r = ud;

	record(r, "free %s %s", s->address, whys[why]);
	r->live--;
	free(s);
}

static int fake_strap_seen(void *ud, struct ble_strap *s, const struct object *dev)
{
	return 0; /* every pass, for every strap: not worth a line */
}

static void fake_strap_up(void *ud, struct ble_strap *s, bool again)
{
	record(ud, "up %s%s", s->address, again ? " again" : "");
}

static void fake_strap_down(void *ud, struct ble_strap *s)
{
	record(ud, "down %s", s->address);
}

static void fake_strap_backoff(void *ud, struct ble_strap *s, unsigned delay_s)
{
	record(ud, "backoff %s %u", s->address, delay_s);
}

static const struct ble_actions fake_actions = {
	.set_discovery_filter = fake_set_discovery_filter,
	.start_discovery = fake_start_discovery,
	.stop_discovery = fake_stop_discovery,
	.cancel_discovery = fake_cancel_discovery,
	.connect = fake_connect,
	.cancel_connect = fake_cancel_connect,
	.acquire_notify = fake_acquire_notify,
	.start_notify = fake_start_notify,
	.stop_notify = fake_stop_notify,
	.read_location = fake_read_location,
	.cancel_location = fake_cancel_location,
	.strap_new = fake_strap_new,
	.strap_free = fake_strap_free,
	.strap_seen = fake_strap_seen,
	.strap_up = fake_strap_up,
	.strap_down = fake_strap_down,
	.strap_backoff = fake_strap_backoff,
};

/* The scripted mirror: what ble-mirror.c would hold after bluetoothd's signals. */

static struct object *objects;

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

static struct object *object_add(const char *path, unsigned ifaces)
{
	struct object *o = calloc(1, sizeof(*o)), **tail;

	if (!o)
		abort();
	o->path = xstrdup(path);
	o->ifaces = ifaces;
	o->battery = -1;
	for (tail = &objects; *tail; tail = &(*tail)->next)
		;
	*tail = o;
	return o;
}

static struct object *adapter_add(const char *path, bool powered)
{
	struct object *o = object_add(path, IF_ADAPTER);

	o->powered = powered;
	return o;
}

/* "aa:bb:…:01" → HCI0 "/dev_AA_BB_…_01". */
static void device_path(const char *address, char out[static 64])
{
	int n = snprintf(out, 64, HCI0 "/dev_");

	for (const char *a = address; *a; a++)
		out[n++] = *a == ':' ? '_' : (char)(*a >= 'a' && *a <= 'f' ? *a - 32 : *a);
	out[n] = '\0';
}

/* A Device1 on hci0 advertising the Heart Rate service. */
static struct object *device_add(const char *address)
{
	char path[64];
	struct object *o;

	device_path(address, path);
	o = object_add(path, IF_DEVICE);
	snprintf(o->address, sizeof(o->address), "%s", address);
	o->adapter = xstrdup(HCI0);
	o->hrs = true;
	return o;
}

/* Its Heart Rate service: the measurement characteristic, and the location one if bsl. */
static void gatt_add(const struct object *dev, bool bsl)
{
	char svc[96], chr[128];
	struct object *o;

	snprintf(svc, sizeof(svc), "%s/service000a", dev->path);
	o = object_add(svc, IF_SERVICE);
	o->uuid = xstrdup(UUID_HRS);
	o->parent = xstrdup(dev->path);

	snprintf(chr, sizeof(chr), "%s/char000b", svc);
	o = object_add(chr, IF_CHAR);
	o->uuid = xstrdup(UUID_HRM);
	o->parent = xstrdup(svc);
	if (bsl) {
		snprintf(chr, sizeof(chr), "%s/char000e", svc);
		o = object_add(chr, IF_CHAR);
		o->uuid = xstrdup(UUID_BSL);
		o->parent = xstrdup(svc);
	}
}

/* The object at path and everything below it, as InterfacesRemoved does. */
static void objects_remove(const char *path)
{
	size_t n = strlen(path);

	for (struct object **p = &objects; *p;) {
		struct object *o = *p;

		if (strncmp(o->path, path, n) == 0 && (o->path[n] == '\0' || o->path[n] == '/')) {
			*p = o->next;
			object_free(o);
		} else
			p = &o->next;
	}
}

static void objects_clear(void)
{
	while (objects) {
		struct object *o = objects;

		objects = o->next;
		object_free(o);
	}
}

static const struct object *adapter(void)
{
	return choose_adapter(objects, NULL);
}

/* One pass at now; returns the deadline it asked for. */
static uint64_t run(struct ble_core *c, uint64_t now)
{
	uint64_t deadline = 0;

	CHECK_INT(ble_reconcile(c, objects, adapter(), now, &deadline), 0);
	return deadline;
}

/* The discovery call in flight answers success. */
static enum ble_scan_reply scan_ok(struct ble_core *c, uint64_t now)
{
	return ble_discovery_replied(c, NULL, now);
}

static const struct ble_error *error(const char *name, const char *message, int err)
{
	static struct ble_error e;

	e = (struct ble_error){ .name = name, .message = message, .error = err };
	return &e;
}

static void setup(struct ble_core *c, struct recorder *r, char *const *pinned,
		  unsigned max_unknown)
{
	*r = (struct recorder){};
	ble_core_init(c,
		      &(struct ble_policy){
			      .pinned = pinned,
			      .max_unknown = max_unknown,
			      .forget_after_us = 600 * SEC,
		      },
		      &fake_actions, r);
}

static void teardown(struct ble_core *c, struct recorder *r)
{
	ble_core_done(c);
	CHECK_INT(r->live, 0);
	objects_clear();
}

/* Bring discovery from SetDiscoveryFilter sent to scanning, at now. */
static void scan_up(struct ble_core *c, struct recorder *r, uint64_t now)
{
	CHECK_INT(scan_ok(c, now), BLE_SCAN_FILTERED);
	CHECK_STR(take(r), "start-discovery\n");
	CHECK_INT(scan_ok(c, now), BLE_SCAN_STARTED);
	CHECK_INT(c->discovery, DISCOVERY_ON);
}

/*
 * With an allow-list: the listed strap, once it appears, gets Connect(),
 * then AcquireNotify and the location read once its services resolve; a
 * strap not on the list is never touched; the scan stops when the list is
 * complete and stays stopped; a dropped link is reconnected at once.
 */
static void test_allowlist(void)
{
	static char *pinned[] = { ADDR1, NULL };
	struct ble_core c;
	struct recorder r;
	struct object *dev;
	struct ble_strap *s;
	char chr[160], bsl[160], want[512];
	uint64_t t = T0;

	setup(&c, &r, pinned, 16);
	adapter_add(HCI0, true);

	/* Nothing there yet: the listed strap is missing, so scan. */
	CHECK_INT(run(&c, t), NEVER);
	CHECK_STR(take(&r), "set-filter\n");
	scan_up(&c, &r, t);
	/* A scan that finds nothing is restarted after 20 s (btvirt and friends). */
	CHECK_INT(run(&c, t), t + 20 * SEC);
	CHECK_STR(take(&r), "");

	/* The listed strap and a stranger appear. */
	dev = device_add(ADDR1);
	device_add(ADDR2);
	t += SEC;
	run(&c, t);
	CHECK_STR(take(&r), "new " ADDR1 "\nconnect " ADDR1 "\n");
	CHECK(ble_strap_find(&c, ADDR2) == NULL);
	s = ble_strap_find(&c, ADDR1);
	CHECK(s != NULL && c.connecting == s);
	if (!s) {
		teardown(&c, &r);
		return;
	}

	/* Connect() succeeded: no second call while Connected=true is on its way. */
	CHECK_INT(ble_connect_classify(s, NULL), BLE_CONNECT_OK);
	ble_connect_replied(&c, BLE_CONNECT_OK, t);
	CHECK(c.connecting == NULL);
	CHECK_INT(run(&c, t), t + SEC);
	CHECK_STR(take(&r), "");

	/* Connected: the list is complete, the scan stops; services not resolved yet. */
	dev->connected = true;
	CHECK_INT(run(&c, t), NEVER);
	CHECK_STR(take(&r), "up " ADDR1 "\nstop-discovery\n");
	CHECK_INT(scan_ok(&c, t), BLE_SCAN_STOPPED);
	CHECK(s->connected && s->ever_connected);

	/* ServicesResolved before the GATT objects (§2.5a): nothing to do yet. */
	dev->resolved = true;
	CHECK_INT(run(&c, t), NEVER);
	CHECK_STR(take(&r), "");
	gatt_add(dev, true);
	snprintf(chr, sizeof(chr), "%s/service000a/char000b", dev->path);
	snprintf(bsl, sizeof(bsl), "%s/service000a/char000e", dev->path);
	CHECK_INT(run(&c, t), NEVER);
	snprintf(want, sizeof(want), "acquire %s %s\nread-location %s %s\n", ADDR1, chr, ADDR1,
		 bsl);
	CHECK_STR(take(&r), want);
	CHECK_INT(s->notify, NOTIFY_PENDING);
	CHECK_STR(s->chr_path, chr);
	ble_notify_ready(s, NOTIFY_FD);
	/* A failed location read is tried again after 10 s, and then no more once it answered. */
	ble_location_replied(s, false, t);
	CHECK_INT(run(&c, t), t + 10 * SEC);
	CHECK_STR(take(&r), "");
	CHECK_INT(run(&c, t + 10 * SEC), NEVER);
	snprintf(want, sizeof(want), "read-location %s %s\n", ADDR1, bsl);
	CHECK_STR(take(&r), want);
	t += 10 * SEC;
	ble_location_replied(s, true, t);

	/* Everything wanted is had: no call and no deadline, however long it stays so. */
	for (uint64_t later = t + SEC; later < t + 4000 * SEC; later += 97 * SEC) {
		CHECK_INT(run(&c, later), NEVER);
		CHECK_STR(take(&r), "");
	}
	CHECK_INT(c.discovery, DISCOVERY_OFF);

	/* The link drops: notifications torn down, reconnected at once, scanning again. */
	t += 5000 * SEC;
	dev->connected = dev->resolved = false;
	run(&c, t);
	CHECK_STR(take(&r), "stop-notify " ADDR1 "\ndown " ADDR1 "\nconnect " ADDR1
			    "\nset-filter\n");
	CHECK(!s->connected && s->notify == NOTIFY_NONE && s->chr_path == NULL);

	/* Back up: counted as a reconnection; the location is not read twice. */
	ble_connect_replied(&c, BLE_CONNECT_OK, t);
	dev->connected = dev->resolved = true;
	run(&c, t);
	snprintf(want, sizeof(want), "up %s again\nacquire %s %s\n", ADDR1, ADDR1, chr);
	CHECK_STR(take(&r), want);
	teardown(&c, &r);
	CHECK_STR(take(&r), "free " ADDR1 " closing\n");
}

/*
 * No allow-list, max_unknown 2, three advertisers: two are admitted, the
 * third waits until one of the two has had its Connect() and failed; then
 * that one makes room and the third gets its turn (round robin).
 */
static void test_max_unknown(void)
{
	struct ble_core c;
	struct recorder r;
	struct ble_strap *a;
	uint64_t t = T0;

	setup(&c, &r, NULL, 2);
	adapter_add(HCI0, true);
	device_add(ADDR1);
	device_add(ADDR2);
	device_add(ADDR3);

	run(&c, t);
	CHECK_STR(take(&r),
		  "new " ADDR1 "\nnew " ADDR2 "\nconnect " ADDR1 "\nset-filter\n");
	CHECK(ble_strap_find(&c, ADDR3) == NULL);
	CHECK_INT(r.live, 2);

	a = ble_strap_find(&c, ADDR1);
	CHECK(a != NULL);
	if (!a) {
		teardown(&c, &r);
		return;
	}
	CHECK_INT(ble_connect_classify(a, error("org.bluez.Error.Failed", "Page Timeout", EIO)),
		  BLE_CONNECT_FAILED);
	ble_connect_replied(&c, BLE_CONNECT_FAILED, t);
	CHECK_STR(take(&r), "backoff " ADDR1 " 1\n");

	t += SEC / 2;
	run(&c, t);
	CHECK_STR(take(&r),
		  "free " ADDR1 " room\nnew " ADDR3 "\nconnect " ADDR2 "\n");
	CHECK(ble_strap_find(&c, ADDR1) == NULL);
	CHECK(ble_strap_find(&c, ADDR3) != NULL);
	CHECK_INT(r.live, 2);

	/*
	 * A strap being connected, or connected, is not a stranger: it takes
	 * no room, so the one that made room comes back in.
	 */
	objects->next->next->connected = true; /* ADDR2, its Connect() still in flight */
	run(&c, t);
	CHECK_STR(take(&r), "new " ADDR1 "\nup " ADDR2 "\n");
	ble_connect_replied(&c, BLE_CONNECT_OK, t);
	run(&c, t);
	CHECK_STR(take(&r), "connect " ADDR3 "\n");
	CHECK_INT(r.live, 3);
	teardown(&c, &r);
}

/*
 * max_unknown 1, three advertisers that all fail: each gets its turn in
 * mirror order, wrapping around, rather than the first two taking turns.
 */
static void test_round_robin(void)
{
	static const char *const order[] = { ADDR1, ADDR2, ADDR3, ADDR1, ADDR2 };
	struct ble_core c;
	struct recorder r;
	char want[256];
	uint64_t t = T0;

	setup(&c, &r, NULL, 1);
	adapter_add(HCI0, true);
	device_add(ADDR1);
	device_add(ADDR2);
	device_add(ADDR3);
	run(&c, t);
	CHECK_STR(take(&r), "new " ADDR1 "\nconnect " ADDR1 "\nset-filter\n");
	for (size_t i = 1; i < sizeof(order) / sizeof(order[0]); i++) {
		ble_connect_replied(&c, BLE_CONNECT_FAILED, t);
		snprintf(want, sizeof(want), "backoff %s 1\n", order[i - 1]);
		CHECK_STR(take(&r), want);
		t += SEC / 4;
		run(&c, t);
		snprintf(want, sizeof(want), "free %s room\nnew %s\nconnect %s\n", order[i - 1],
			 order[i], order[i]);
		CHECK_STR(take(&r), want);
		CHECK_INT(r.live, 1);
	}
	teardown(&c, &r);
}

/*
 * No allow-list, every known strap connected: scan 3 s in every 8 (off
 * 5 s, on 3 s), each pass asking to be woken at the next edge.
 */
static void test_duty_cycle(void)
{
	struct ble_core c;
	struct recorder r;
	struct object *dev;
	uint64_t t = T0, t1;

	setup(&c, &r, NULL, 16);
	adapter_add(HCI0, true);
	dev = device_add(ADDR1);

	run(&c, t);
	CHECK_STR(take(&r), "new " ADDR1 "\nconnect " ADDR1 "\nset-filter\n");
	scan_up(&c, &r, t);
	ble_connect_replied(&c, BLE_CONNECT_OK, t);

	/* Connected: nothing is missing, so the scan stops and the first burst is in 5 s. */
	t1 = t + SEC / 2;
	dev->connected = true;
	CHECK_INT(run(&c, t1), t1 + 5 * SEC);
	CHECK_STR(take(&r), "up " ADDR1 "\nstop-discovery\n");
	CHECK_INT(scan_ok(&c, t1), BLE_SCAN_STOPPED);
	/* A pass in between changes nothing and keeps the deadline. */
	CHECK_INT(run(&c, t1 + 2 * SEC), t1 + 5 * SEC);
	CHECK_STR(take(&r), "");

	for (unsigned burst = 0; burst < 3; burst++) {
		uint64_t on = t1 + 5 * SEC + burst * 8 * SEC;

		/* Just before the edge: still off. */
		CHECK_INT(run(&c, on - 1), on);
		CHECK_STR(take(&r), "");
		/* On for 3 s. */
		CHECK_INT(run(&c, on), on + 3 * SEC);
		CHECK_STR(take(&r), "set-filter\n");
		scan_up(&c, &r, on);
		CHECK_INT(run(&c, on + SEC), on + 3 * SEC);
		CHECK_STR(take(&r), "");
		/* Off for 5 s. */
		CHECK_INT(run(&c, on + 3 * SEC), on + 8 * SEC);
		CHECK_STR(take(&r), "stop-discovery\n");
		CHECK_INT(scan_ok(&c, on + 3 * SEC), BLE_SCAN_STOPPED);
		CHECK_INT(c.discovery, DISCOVERY_OFF);
	}

	/* A second strap turns up in a burst: missing again, so the scan stays on. */
	t = t1 + 29 * SEC;
	run(&c, t);
	CHECK_STR(take(&r), "set-filter\n");
	scan_up(&c, &r, t);
	device_add(ADDR2);
	CHECK_INT(run(&c, t + SEC), t + 20 * SEC);
	CHECK_STR(take(&r), "new " ADDR2 "\nconnect " ADDR2 "\n");
	CHECK_INT(run(&c, t + 4 * SEC), t + 20 * SEC);
	CHECK_STR(take(&r), "");
	/* ...and is restarted after 20 s without a find. */
	run(&c, t + 20 * SEC);
	CHECK_STR(take(&r), "stop-discovery restart\n");
	CHECK_INT(scan_ok(&c, t + 20 * SEC), BLE_SCAN_STOPPED_RESTART);
	run(&c, t + 20 * SEC);
	CHECK_STR(take(&r), "set-filter\n");
	CHECK_INT(scan_ok(&c, t + 20 * SEC), BLE_SCAN_FILTERED);
	CHECK_STR(take(&r), "start-discovery\n");
	CHECK_INT(scan_ok(&c, t + 20 * SEC), BLE_SCAN_RESTARTED);
	teardown(&c, &r);
}

/* A failed Connect() comes back after 1, 2, 4 … 60 s, then every 60 s. */
static void test_backoff(void)
{
	static char *pinned[] = { ADDR1, NULL };
	static const unsigned delays[] = { 1, 2, 4, 8, 16, 32, 60, 60, 60 };
	struct ble_core c;
	struct recorder r;
	struct ble_strap *s;
	uint64_t t = T0;
	char want[64];

	setup(&c, &r, pinned, 16);
	adapter_add(HCI0, true);
	device_add(ADDR1);
	run(&c, t);
	/* The discovery filter is left unanswered: no scan deadline gets in the way. */
	CHECK_STR(take(&r), "new " ADDR1 "\nconnect " ADDR1 "\nset-filter\n");
	s = ble_strap_find(&c, ADDR1);
	CHECK(s != NULL);
	if (!s) {
		teardown(&c, &r);
		return;
	}

	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
		uint64_t next = t + delays[i] * SEC;

		ble_connect_replied(&c, BLE_CONNECT_FAILED, t);
		snprintf(want, sizeof(want), "backoff %s %u\n", ADDR1, delays[i]);
		CHECK_STR(take(&r), want);
		CHECK_INT(run(&c, t), next);
		CHECK_INT(run(&c, next - 1), next);
		CHECK_STR(take(&r), "");
		CHECK_INT(run(&c, next), NEVER);
		CHECK_STR(take(&r), "connect " ADDR1 "\n");
		t = next;
	}

	/* One already pending in bluetoothd backs off too (from where it was). */
	CHECK_INT(ble_connect_classify(s, error("org.bluez.Error.Failed",
						"Operation already in progress", EIO)),
		  BLE_CONNECT_IN_PROGRESS);
	ble_connect_replied(&c, BLE_CONNECT_IN_PROGRESS, t);
	CHECK_STR(take(&r), "backoff " ADDR1 " 60\n");

	/* A link made resets it: the next failure waits 1 s again. */
	t += 60 * SEC;
	run(&c, t);
	CHECK_STR(take(&r), "connect " ADDR1 "\n");
	ble_connect_replied(&c, BLE_CONNECT_OK, t);
	objects->next->connected = true;
	run(&c, t);
	/* (No StopDiscovery: the filter call is still unanswered, one step at a time.) */
	CHECK_STR(take(&r), "up " ADDR1 "\n");
	objects->next->connected = false;
	run(&c, t);
	CHECK_STR(take(&r), "stop-notify " ADDR1 "\ndown " ADDR1 "\nconnect " ADDR1 "\n");
	ble_connect_replied(&c, BLE_CONNECT_FAILED, t);
	CHECK_STR(take(&r), "backoff " ADDR1 " 1\n");

	/* le-connection-abort-by-local: retried at once, three times in a row, then backed off. */
	t += SEC;
	run(&c, t);
	CHECK_STR(take(&r), "connect " ADDR1 "\n");
	for (unsigned i = 0; i < 3; i++) {
		const struct ble_error *e =
			error("org.bluez.Error.Failed", "le-connection-abort-by-local", EIO);

		CHECK_INT(ble_connect_classify(s, e), BLE_CONNECT_ABORTED);
		ble_connect_replied(&c, BLE_CONNECT_ABORTED, t);
		CHECK_INT(run(&c, t), NEVER);
		CHECK_STR(take(&r), "connect " ADDR1 "\n");
	}
	CHECK_INT(ble_connect_classify(
			  s, error("org.bluez.Error.Failed", "le-connection-abort-by-local", EIO)),
		  BLE_CONNECT_FAILED);

	/* Any other failure starts the count of aborts again. */
	ble_connect_replied(&c, BLE_CONNECT_FAILED, t);
	CHECK_STR(take(&r), "backoff " ADDR1 " 2\n");
	CHECK_INT(ble_connect_classify(
			  s, error("org.bluez.Error.Failed", "le-connection-abort-by-local", EIO)),
		  BLE_CONNECT_ABORTED);

	/* A Connect() that could not even be sent backs off as well. */
	r.fail_connect = true;
	run(&c, t + 2 * SEC);
	CHECK_STR(take(&r), "connect " ADDR1 "\nbackoff " ADDR1 " 4\n");
	CHECK(c.connecting == NULL);
	CHECK_INT(s->next_attempt_us, t + 6 * SEC);
	r.fail_connect = false;
	CHECK_INT(run(&c, t + 6 * SEC - 1), t + 6 * SEC);
	CHECK_STR(take(&r), "");
	run(&c, t + 6 * SEC);
	CHECK_STR(take(&r), "connect " ADDR1 "\n");
	teardown(&c, &r);
}

/* What a Connect() reply means, one error at a time. */
static void test_connect_classify(void)
{
	struct ble_strap s = { .aborts = 0 };

	CHECK_INT(ble_connect_classify(&s, NULL), BLE_CONNECT_OK);
	CHECK_INT(ble_connect_classify(&s, error("org.bluez.Error.AlreadyConnected", NULL, 0)),
		  BLE_CONNECT_OK);
	CHECK_INT(ble_connect_classify(&s, error("org.bluez.Error.InProgress", NULL, 0)),
		  BLE_CONNECT_IN_PROGRESS);
	CHECK_INT(ble_connect_classify(&s, error("org.freedesktop.DBus.Error.NoReply", "x", 0)),
		  BLE_CONNECT_TIMEOUT);
	CHECK_INT(ble_connect_classify(&s, error("org.freedesktop.DBus.Error.Timeout", NULL, 0)),
		  BLE_CONNECT_TIMEOUT);
	CHECK_INT(ble_connect_classify(&s, error("org.bluez.Error.Failed", "timed out", ETIMEDOUT)),
		  BLE_CONNECT_TIMEOUT);
	CHECK_INT(ble_connect_classify(&s, error("org.bluez.Error.Failed", NULL, EIO)),
		  BLE_CONNECT_FAILED);
	CHECK_INT(ble_connect_classify(&s, error("org.bluez.Error.NotReady", "Resource Not Ready",
						 EBUSY)),
		  BLE_CONNECT_FAILED);
}

/*
 * §9.7: a stranger whose Device1 object is gone is forgotten after
 * forget_after_s; one that ever connected, or is on the allow-list, never.
 */
static void test_forget(void)
{
	static char *pinned[] = { ADDR3, NULL };
	struct ble_core c, p;
	struct recorder r, rp;
	struct object *b;
	char path[64];
	uint64_t t = T0;

	setup(&c, &r, NULL, 16);
	adapter_add(HCI0, true);
	device_add(ADDR1);
	b = device_add(ADDR2);
	run(&c, t);
	CHECK_STR(take(&r), "new " ADDR1 "\nnew " ADDR2 "\nconnect " ADDR1 "\nset-filter\n");
	ble_connect_replied(&c, BLE_CONNECT_FAILED, t);
	/* ADDR2 connects, then goes away for good; so does ADDR1, never connected. */
	run(&c, t);
	CHECK_STR(take(&r), "backoff " ADDR1 " 1\nconnect " ADDR2 "\n");
	ble_connect_replied(&c, BLE_CONNECT_OK, t);
	b->connected = true;
	run(&c, t);
	CHECK_STR(take(&r), "up " ADDR2 "\n");

	t += 10 * SEC;
	device_path(ADDR1, path);
	objects_remove(path);
	device_path(ADDR2, path);
	objects_remove(path);
	run(&c, t);
	CHECK_STR(take(&r), "stop-notify " ADDR2 "\ndown " ADDR2 "\n");

	/* Last seen at t − 10 s: still kept one microsecond before 600 s have passed. */
	run(&c, t - 10 * SEC + 600 * SEC - 1);
	CHECK_STR(take(&r), "");
	CHECK(ble_strap_find(&c, ADDR1) != NULL);
	run(&c, t - 10 * SEC + 600 * SEC);
	CHECK_STR(take(&r), "free " ADDR1 " unseen\n");
	CHECK(ble_strap_find(&c, ADDR1) == NULL);
	run(&c, t + 100000 * SEC);
	CHECK_STR(take(&r), "");
	CHECK(ble_strap_find(&c, ADDR2) != NULL);
	teardown(&c, &r);

	/* Allow-listed, never connected, long gone: kept. */
	setup(&p, &rp, pinned, 16);
	adapter_add(HCI0, true);
	device_add(ADDR3);
	run(&p, t);
	CHECK_STR(take(&rp), "new " ADDR3 "\nconnect " ADDR3 "\nset-filter\n");
	ble_connect_replied(&p, BLE_CONNECT_FAILED, t);
	device_path(ADDR3, path);
	objects_remove(path);
	run(&p, t + 100000 * SEC);
	CHECK(ble_strap_find(&p, ADDR3) != NULL);
	teardown(&p, &rp);
}

/*
 * AcquireNotify refused (§2.4): StartNotify on the same characteristic at
 * once; failing for another reason: retried after 1 s, and given up for
 * StartNotify after three; a socket that hangs up is acquired again after
 * 0.5 s; a new link tries AcquireNotify again.
 */
static void test_notify(void)
{
	static char *pinned[] = { ADDR1, NULL };
	struct ble_core c;
	struct recorder r;
	struct object *dev;
	struct ble_strap *s;
	char chr[160], acquire[256], start[256], svc[96];
	uint64_t t = T0;

	setup(&c, &r, pinned, 16);
	adapter_add(HCI0, true);
	dev = device_add(ADDR1);
	dev->connected = dev->resolved = true;
	gatt_add(dev, false);
	snprintf(chr, sizeof(chr), "%s/service000a/char000b", dev->path);
	snprintf(acquire, sizeof(acquire), "acquire %s %s\n", ADDR1, chr);
	snprintf(start, sizeof(start), "start-notify %s %s\n", ADDR1, chr);

	run(&c, t);
	{
		char want[512];

		snprintf(want, sizeof(want), "new %s\nup %s\n%s", ADDR1, ADDR1, acquire);
		CHECK_STR(take(&r), want);
	}
	s = ble_strap_find(&c, ADDR1);
	CHECK(s != NULL);
	if (!s) {
		teardown(&c, &r);
		return;
	}

	/* Refused: StartNotify at once, on the characteristic AcquireNotify was refused on. */
	CHECK(ble_acquire_refused(s, error("org.bluez.Error.NotPermitted", "Notify acquired", 0)));
	ble_notify_fallback(&c, s, t);
	CHECK_STR(take(&r), start);
	CHECK_INT(s->notify, NOTIFY_PENDING);
	CHECK(!ble_start_notify_accepted(error("org.bluez.Error.Failed", NULL, EIO)));
	CHECK(ble_start_notify_accepted(error("org.bluez.Error.InProgress", NULL, 0)));
	CHECK(ble_start_notify_accepted(NULL));

	/* StartNotify failed: after 1 s StartNotify again, not AcquireNotify, on this link. */
	ble_notify_failed(s, t);
	CHECK_INT(run(&c, t), t + SEC);
	CHECK_STR(take(&r), "");
	CHECK_INT(run(&c, t + SEC), NEVER);
	CHECK_STR(take(&r), start);
	ble_notify_ready(s, NOTIFY_SIGNAL);

	/* A new link: AcquireNotify again; the other refusals count at once too. */
	t += 10 * SEC;
	dev->connected = dev->resolved = false;
	run(&c, t);
	CHECK_STR(take(&r),
		  "stop-notify " ADDR1 "\ndown " ADDR1 "\nconnect " ADDR1 "\nset-filter\n");
	ble_connect_replied(&c, BLE_CONNECT_OK, t);
	/* §2.7 #8: the GATT objects are there, but not ServicesResolved yet: wait. */
	dev->connected = true;
	run(&c, t);
	CHECK_STR(take(&r), "up " ADDR1 " again\n");
	dev->resolved = true;
	run(&c, t);
	CHECK_STR(take(&r), acquire);
	CHECK(ble_acquire_refused(s, error("org.bluez.Error.NotSupported", NULL, 0)));
	CHECK(ble_acquire_refused(s, error("org.bluez.Error.InProgress", NULL, 0)));
	CHECK(ble_acquire_refused(s, error("org.freedesktop.DBus.Error.UnknownMethod", NULL, 0)));
	CHECK_INT(s->acquire_failures, 0);

	/* Other errors: retried after 1 s, twice; the third gives up for StartNotify. */
	for (unsigned i = 1; i < 3; i++) {
		CHECK(!ble_acquire_refused(s,
					   error("org.bluez.Error.Failed", "Not connected", EIO)));
		ble_notify_failed(s, t);
		CHECK(s->chr_path == NULL);
		CHECK_INT(run(&c, t + SEC - 1), t + SEC);
		CHECK_STR(take(&r), "");
		t += SEC;
		run(&c, t);
		CHECK_STR(take(&r), acquire);
	}
	CHECK(ble_acquire_refused(s, error("org.bluez.Error.Failed", "Not connected", EIO)));
	ble_notify_fallback(&c, s, t);
	CHECK_STR(take(&r), start);
	CHECK(s->acquire_refused);

	/* A socket (AcquireNotify) that hangs up on a live link: set up again after 0.5 s. */
	t += 10 * SEC;
	dev->connected = false;
	run(&c, t);
	take(&r);
	ble_connect_replied(&c, BLE_CONNECT_OK, t);
	dev->connected = true;
	run(&c, t);
	take(&r);
	ble_notify_ready(s, NOTIFY_FD);
	ble_notify_hangup(&c, s, t);
	CHECK_STR(take(&r), "stop-notify " ADDR1 "\n");
	CHECK_INT(run(&c, t), t + SEC / 2);
	CHECK_STR(take(&r), "");
	CHECK_INT(run(&c, t + SEC / 2), NEVER);
	CHECK_STR(take(&r), acquire);
	ble_notify_ready(s, NOTIFY_FD);

	/* The characteristic goes (a service change): torn down, set up when it is back. */
	snprintf(svc, sizeof(svc), "%s/service000a", dev->path);
	objects_remove(svc);
	run(&c, t + SEC);
	CHECK_STR(take(&r), "stop-notify " ADDR1 "\n");
	gatt_add(dev, false);
	run(&c, t + SEC);
	CHECK_STR(take(&r), acquire);

	/* Set-up calls that cannot even be sent are retried after 1 s, both kinds. */
	t += 2 * SEC;
	r.fail_notify = true;
	ble_notify_hangup(&c, s, t);
	CHECK_STR(take(&r), "stop-notify " ADDR1 "\n");
	run(&c, t + SEC / 2);
	CHECK_STR(take(&r), acquire);
	CHECK(s->notify == NOTIFY_NONE && s->chr_path == NULL);
	CHECK_INT(s->notify_retry_us, t + SEC / 2 + SEC);
	r.fail_notify = false;
	t += SEC / 2 + SEC;
	CHECK_INT(run(&c, t - 1), t);
	CHECK_STR(take(&r), "");
	run(&c, t);
	CHECK_STR(take(&r), acquire);
	CHECK(ble_acquire_refused(s, error("org.bluez.Error.NotPermitted", NULL, 0)));
	r.fail_notify = true;
	ble_notify_fallback(&c, s, t);
	CHECK_STR(take(&r), start);
	CHECK_INT(run(&c, t), t + SEC);
	CHECK_STR(take(&r), "");
	r.fail_notify = false;
	run(&c, t + SEC);
	CHECK_STR(take(&r), start);
	teardown(&c, &r);
}

/*
 * The adapter powered off (bluetoothd dropped our scan and links) and
 * bluetoothd leaving: calls in flight are dropped, links are down, and
 * nothing is asked for until the adapter is back.
 */
static void test_adapter_and_drop(void)
{
	static char *pinned[] = { ADDR1, ADDR2, NULL };
	struct ble_core c;
	struct recorder r;
	struct object *hci, *dev;
	struct ble_strap *s;
	uint64_t t = T0;

	setup(&c, &r, pinned, 16);
	hci = adapter_add(HCI0, true);
	dev = device_add(ADDR1);
	dev->connected = true;
	device_add(ADDR2);
	run(&c, t);
	CHECK_STR(take(&r), "new " ADDR1 "\nnew " ADDR2 "\nup " ADDR1 "\nconnect " ADDR2
			    "\nset-filter\n");
	CHECK_STR(c.adapter, HCI0);

	hci->powered = false;
	CHECK_INT(run(&c, t), NEVER);
	CHECK_STR(take(&r), "cancel-discovery\nstop-notify " ADDR1 "\ndown " ADDR1 "\n");
	CHECK_INT(c.discovery, DISCOVERY_OFF);
	/* The adapter is the same, so the Connect() in flight is bluetoothd's to answer. */
	CHECK(c.connecting == ble_strap_find(&c, ADDR2));
	dev->connected = false;
	CHECK_INT(run(&c, t + 100 * SEC), NEVER);
	CHECK_STR(take(&r), "");

	/* No adapter at all: the Connect() tied to the old one goes too. */
	objects_remove(HCI0);
	CHECK_INT(run(&c, t), NEVER);
	CHECK_STR(take(&r), "cancel-connect\n");
	CHECK(c.connecting == NULL && c.adapter == NULL);

	/* An adapter again: both straps are connected anew, the scan restarts. */
	adapter_add(HCI0, true);
	dev = device_add(ADDR1);
	device_add(ADDR2);
	run(&c, t);
	CHECK_STR(take(&r), "connect " ADDR1 "\nset-filter\n");
	CHECK_STR(c.adapter, HCI0);

	/* bluetoothd leaves: its calls are gone, the link that was up is down. */
	ble_connect_replied(&c, BLE_CONNECT_OK, t);
	dev->connected = true;
	run(&c, t);
	CHECK_STR(take(&r), "up " ADDR1 " again\nconnect " ADDR2 "\n");
	ble_connect_replied(&c, BLE_CONNECT_FAILED, t);
	CHECK_STR(take(&r), "backoff " ADDR2 " 1\n");
	run(&c, t + SEC);
	CHECK_STR(take(&r), "connect " ADDR2 "\n");
	s = ble_strap_find(&c, ADDR2);
	ble_core_drop(&c);
	CHECK_STR(take(&r),
		  "cancel-connect\ncancel-discovery\nstop-notify " ADDR1 "\ndown " ADDR1 "\n");
	/* The one in backoff starts again from 1 s with the next bluetoothd. */
	CHECK(c.adapter == NULL && c.connecting == NULL);
	CHECK(s != NULL && s->delay_s == 1 && s->next_attempt_us == 0);
	teardown(&c, &r);
}

/* A discovery call that fails, or cannot be sent, is retried after 5 s. */
static void test_discovery_retry(void)
{
	struct ble_core c;
	struct recorder r;
	uint64_t t = T0;

	setup(&c, &r, NULL, 16);
	adapter_add(HCI0, true);
	r.fail_filter = true;
	CHECK_INT(run(&c, t), t + 5 * SEC);
	CHECK_STR(take(&r), "set-filter\n");
	CHECK_INT(run(&c, t + 5 * SEC - 1), t + 5 * SEC);
	CHECK_STR(take(&r), "");
	r.fail_filter = false;
	t += 5 * SEC;
	CHECK_INT(run(&c, t), NEVER);
	CHECK_STR(take(&r), "set-filter\n");
	CHECK_INT(ble_discovery_replied(&c, error("org.bluez.Error.NotReady", NULL, EBUSY), t),
		  BLE_SCAN_FILTER_FAILED);
	CHECK_INT(run(&c, t), t + 5 * SEC);
	t += 5 * SEC;
	run(&c, t);
	CHECK_STR(take(&r), "set-filter\n");
	CHECK_INT(scan_ok(&c, t), BLE_SCAN_FILTERED);
	CHECK_STR(take(&r), "start-discovery\n");
	/* §2.7 #6: InProgress to StartDiscovery means the scan is ours already. */
	CHECK_INT(ble_discovery_replied(&c, error("org.bluez.Error.InProgress", NULL, 0), t),
		  BLE_SCAN_STARTED);
	CHECK_INT(scan_ok(&c, t), BLE_SCAN_NONE);
	teardown(&c, &r);
}

int main(void)
{
	test_allowlist();
	test_max_unknown();
	test_round_robin();
	test_duty_cycle();
	test_backoff();
	test_connect_classify();
	test_forget();
	test_notify();
	test_adapter_and_drop();
	test_discovery_retry();
	return check_exit("test-ble-reconcile");
}
