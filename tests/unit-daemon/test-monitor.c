/* SPDX-License-Identifier: MIT */
/*
 * daemon/monitor.c: the session lifecycle of DESIGN §3 (auto-open, idle
 * close on a real sd-event timer, manual start/stop with idempotence and
 * suppression), the time base, the primary device and the observers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cleanup.h"
#include "cleanup-json.h"
#include "monitor.h"


#define SEC 1000000ULL

struct recorder {
	unsigned counts[_MONITOR_EVENT_MAX];
	double last_t;
	uint64_t last_session;
	bool last_recorded;
	unsigned destroyed;
};

static void record(const struct monitor_event *ev, void *user_data)
{
	struct recorder *r = user_data;

	r->counts[ev->type]++;
	if (ev->type == MONITOR_EVENT_SAMPLE) {
		r->last_t = ev->sample->t;
		r->last_recorded = ev->session != NULL;
	}
	if (ev->session)
		r->last_session = ev->session->id;
}

static void destroy(void *user_data)
{
	struct recorder *r = user_data;

	r->destroyed++;
}

static struct cd_sample sample(double bpm, enum cd_contact contact)
{
	static const double rr[] = { 800, 810 };

	return (struct cd_sample){
		.bpm = bpm,
		.contact = contact,
		.energy_kj = NAN,
		.rr_ms = rr,
		.n_rr = 2,
	};
}

static void run_for(sd_event *e, uint64_t usec)
{
	uint64_t start, now;

	sd_event_now(e, CLOCK_MONOTONIC, &start);
	do {
		sd_event_run(e, 50 * 1000);
		sd_event_now(e, CLOCK_MONOTONIC, &now);
	} while (now - start < usec);
}

static void test_lifecycle(sd_event *e, struct cd_config *c)
{
	_cleanup_(monitor_freep) struct monitor *m = NULL;
	struct monitor_config mc = { .config = c, .first_session_id = 41 };
	struct recorder rec = {};
	struct monitor_device *d;
	struct monitor_session *s, *s2;
	struct cd_sample x;
	uint64_t t0 = 1700000000ULL * SEC;
	unsigned id;

	CHECK_INT(monitor_new(e, &mc, &m), 0);
	id = monitor_observer_register(m, record, &rec, destroy);
	CHECK(id != 0);
	CHECK_INT(monitor_device_add(m, "sim-1", "Strap", CD_TRANSPORT_SIM, &d), 0);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_ADDED], 1);
	CHECK(monitor_primary(m) == NULL);

	/* Invalid samples open nothing and are not recorded. */
	x = sample(0, CD_CONTACT_LOST);
	CHECK_INT(monitor_feed(m, d, &x, t0), 0);
	CHECK(d->session == NULL);
	CHECK(!rec.last_recorded);
	x = sample(250, CD_CONTACT_OK);
	CHECK_INT(monitor_feed(m, d, &x, t0), 0);
	CHECK(d->session == NULL);

	/* The first valid sample opens a session at its own time: t = 0. */
	x = sample(120, CD_CONTACT_OK);
	CHECK_INT(monitor_feed(m, d, &x, t0 + 1 * SEC), 1);
	CHECK(d->session != NULL);
	CHECK_INT(d->session->id, 41);
	CHECK_INT(rec.counts[MONITOR_EVENT_SESSION_STARTED], 1);
	CHECK_NEAR(rec.last_t, 0, 0);
	CHECK(rec.last_recorded);
	/* t is computed from integer µs: 2.000001 s exactly as (double)2000001 / 1e6. */
	CHECK_INT(monitor_feed(m, d, &x, t0 + 3 * SEC + 1), 1);
	CHECK(rec.last_t == 2000001.0 / 1e6);
	/* A sample from before the last one (clock stepped back) is not recorded. */
	CHECK_INT(monitor_feed(m, d, &x, t0 + 2 * SEC), 0);
	CHECK(!rec.last_recorded);
	CHECK(monitor_primary(m) == d->session);

	/* Manual start while active: the same session (idempotent). */
	CHECK_INT(monitor_start(m, "sim-1", "aerobic", &s), 0);
	CHECK(s == d->session);
	CHECK_INT(rec.counts[MONITOR_EVENT_SESSION_STARTED], 1);
	CHECK_INT(monitor_start(m, "nope", NULL, &s), -ENOENT);

	/* Manual stop: ended at the last valid sample; then no auto-open. */
	CHECK_INT(monitor_stop(m, NULL, &s), 0);
	CHECK(!s->active);
	/* ...on the wall clock, started_at + t: the boot-clock t0 is no wall time. */
	CHECK_INT(s->ended_at_us - s->started_at_us, 2 * SEC + 1);
	CHECK_INT(rec.counts[MONITOR_EVENT_SESSION_ENDED], 1);
	CHECK(monitor_last_ended(m) == s);
	CHECK(monitor_session_find(m, 41) == s);
	CHECK_INT(monitor_stop(m, NULL, &s), -ESRCH);
	CHECK_INT(monitor_stop(m, "sim-1", &s), -ESRCH);
	CHECK_INT(monitor_feed(m, d, &x, t0 + 4 * SEC), 0);
	CHECK(d->session == NULL);
	CHECK_INT(rec.counts[MONITOR_EVENT_SESSION_STARTED], 1);

	/* A manual start lifts the suppression and opens a session with its kind. */
	CHECK_INT(monitor_start(m, NULL, "resistance", &s2), 0);
	CHECK_INT(s2->id, 42);
	CHECK_STR(s2->kind, "resistance");
	CHECK_INT(rec.counts[MONITOR_EVENT_SESSION_STARTED], 2);
	{
		_cleanup_(cJSON_Deletep) cJSON *j = monitor_session_to_json(s2, s2->started_at_us);
		CHECK(j && cJSON_IsString(cJSON_GetObjectItem(j, "kind")));
		CHECK_STR(cJSON_GetObjectItem(j, "state")->valuestring, "active");
	}

	/* Idle: idle_timeout_s (1 s) without a valid sample closes it, on the loop. */
	run_for(e, 1500 * 1000);
	CHECK(d->session == NULL);
	CHECK_INT(rec.counts[MONITOR_EVENT_SESSION_ENDED], 2);
	CHECK(d->stale);
	/* ...and, not suppressed, the next valid sample opens a new one. */
	CHECK_INT(monitor_feed(m, d, &x, monitor_boot_us()), 1);
	CHECK(d->session && d->session->id == 43);

	/* Suppression is also lifted by idle_timeout_s of silence. */
	CHECK_INT(monitor_stop(m, "sim-1", NULL), 0);
	run_for(e, 1500 * 1000);
	CHECK(!d->suppressed);
	CHECK_INT(monitor_feed(m, d, &x, monitor_boot_us()), 1);
	CHECK(d->session && d->session->id == 44);

	CHECK(monitor_observer_unregister(m, id));
	CHECK(!monitor_observer_unregister(m, id));
	CHECK_INT(rec.destroyed, 1);
}

static void test_primary_and_explicit(sd_event *e, struct cd_config *c)
{
	_cleanup_(monitor_freep) struct monitor *m = NULL;
	struct monitor_config mc = { .config = c };
	struct recorder rec = {};
	struct monitor_device *a, *b, *r;
	struct cd_sample x = sample(130, CD_CONTACT_UNKNOWN);
	uint64_t t0 = 1700000000ULL * SEC;

	CHECK_INT(monitor_new(e, &mc, &m), 0);
	CHECK(monitor_observer_register(m, record, &rec, destroy) != 0);
	monitor_device_add(m, "sim-1", NULL, CD_TRANSPORT_SIM, &a);
	monitor_device_add(m, "sim-2", NULL, CD_TRANSPORT_SIM, &b);
	monitor_feed(m, a, &x, t0);
	monitor_feed(m, b, &x, t0 + SEC);
	CHECK(monitor_primary(m) == b->session);
	CHECK_INT(monitor_n_active(m), 2);
	monitor_stop(m, "sim-2", NULL);
	CHECK(monitor_primary(m) == a->session);

	/* Explicit time base: engine t is the sample's own t. */
	monitor_device_add(m, "replay-1", "file.csv", CD_TRANSPORT_REPLAY, &r);
	monitor_device_set_explicit_time(r, t0);
	x.t = 12.25;
	CHECK_INT(monitor_feed(m, r, &x, 0), 1);
	CHECK(rec.last_t == 12.25);
	CHECK_INT(r->session->started_at_us, t0);
	CHECK_INT(r->last_seen_us, t0 + 12250000);
	monitor_device_close(r);
	CHECK(r->session == NULL);
	CHECK_INT(monitor_last_ended(m)->ended_at_us, t0 + 12250000);
	monitor_close_all(m);
	CHECK_INT(monitor_n_active(m), 0);
	/* monitor_free() calls the destroy callback of remaining observers. */
	m = monitor_free(m);
	CHECK_INT(rec.destroyed, 1);
}

static void rr_record(const struct monitor_event *ev, void *user_data)
{
	double *got = user_data; /* got[0] = n_rr, got[1..] = values */

	if (ev->type != MONITOR_EVENT_SAMPLE)
		return;
	got[0] = (double)ev->sample->n_rr;
	for (size_t i = 0; i < ev->sample->n_rr && i < 7; i++)
		got[1 + i] = ev->sample->rr_ms[i];
}

/* Issue 11: RR ≤ 0 dropped at ingest; stale apart from manual activity; ended_at of an empty session. */
static void test_ingest_and_stale(sd_event *e, struct cd_config *c)
{
	_cleanup_(monitor_freep) struct monitor *m = NULL;
	struct monitor_config mc = { .config = c };
	struct monitor_device *d;
	struct monitor_session *s;
	double got[8] = {};
	static const double rr[] = { 0, 812.5, -3, NAN, 790 };
	static const double zero[] = { 0 };
	struct cd_sample x = sample(120, CD_CONTACT_OK);
	uint64_t t0 = 5000 * SEC;

	CHECK_INT(monitor_new(e, &mc, &m), 0);
	CHECK(monitor_observer_register(m, rr_record, got, NULL) != 0);
	CHECK_INT(monitor_device_add(m, "ble-1", "Strap", CD_TRANSPORT_BLE, &d), 0);

	x.rr_ms = rr;
	x.n_rr = 5;
	CHECK_INT(monitor_feed(m, d, &x, t0), 1);
	CHECK_INT((int)got[0], 2);
	CHECK(got[1] == 812.5 && got[2] == 790);
	x.rr_ms = zero;
	x.n_rr = 1;
	CHECK_INT(monitor_feed(m, d, &x, t0 + SEC), 1);
	CHECK_INT((int)got[0], 0);

	/* The engine time is the boot-clock difference, whatever the wall clock says. */
	CHECK(d->session && d->session->started_boot_us == t0);
	CHECK_INT(d->session->engine ? (int)cd_engine_totals(d->session->engine)->samples : -1, 2);
	CHECK(cd_engine_totals(d->session->engine)->t_last == 1.0);

	/* An ended session without samples: ended_at = started_at, live and in JSON. */
	CHECK_INT(monitor_stop(m, "ble-1", NULL), 0);
	CHECK_INT(monitor_start(m, "ble-1", NULL, &s), 0);
	CHECK_INT(monitor_stop(m, "ble-1", &s), 0);
	CHECK_INT(s->ended_at_us, s->started_at_us);
	{
		_cleanup_(cJSON_Deletep) cJSON *j = monitor_session_to_json(s, monitor_boot_us());
		cJSON *st = cJSON_GetObjectItem(j, "started_at"), *en = cJSON_GetObjectItem(j, "ended_at");

		CHECK(cJSON_IsString(st) && cJSON_IsString(en));
		if (cJSON_IsString(st) && cJSON_IsString(en))
			CHECK_STR(en->valuestring, st->valuestring);
	}

	/*
	 * A silent strap: stale after stale_after_s (0.5 s) even though manual
	 * start/stop keep refreshing the idle countdown (idle_timeout_s 1 s).
	 */
	x = sample(120, CD_CONTACT_OK);
	CHECK_INT(monitor_feed(m, d, &x, monitor_boot_us()), 0);
	CHECK(!d->stale);
	run_for(e, 300 * 1000);
	CHECK_INT(monitor_start(m, "ble-1", NULL, &s), 0);
	run_for(e, 300 * 1000);
	CHECK_INT(monitor_stop(m, "ble-1", NULL), 0);
	run_for(e, 300 * 1000);
	CHECK(d->stale);
	CHECK(d->suppressed);
}

/* GET /devices as monitor_devices_to_json() builds it: the object of device id. */
static cJSON *device_json(struct monitor *m, const char *id, cJSON **ret_array)
{
	cJSON *a = monitor_devices_to_json(m), *o;

	*ret_array = a;
	cJSON_ArrayForEach(o, a)
	{
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "id");

		if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
			return o;
	}
	return NULL;
}

/* The "ant" object's keys, in the order GET /devices has always had them. */
static const char *const ant_keys[] = {
	"device_number", "device_type", "transmission_type", "pages", "manufacturer_id",
	"manufacturer", "serial_number", "model", "hw_version", "sw_version", "battery_v",
	"battery_status", "operating_time_s", "rssi_dbm", "messages", "missed_messages", "beats",
	"rr_intervals", "gap_beats", "rx_fail",
};

static void check_ant_keys(const cJSON *x)
{
	const cJSON *k = x ? x->child : NULL;
	size_t i = 0;

	for (; k && i < sizeof(ant_keys) / sizeof(ant_keys[0]); k = k->next, i++)
		CHECK_STR(k->string, ant_keys[i]);
	CHECK_INT(i, sizeof(ant_keys) / sizeof(ant_keys[0]));
	CHECK(k == NULL); /* no key more */
}

static bool is_null(const cJSON *x, const char *key)
{
	return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(x, key));
}

static double num(const cJSON *x, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *x, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, key));
}

/* Issue 12: ANT pushes its facts into the monitor; counters alone emit no DEVICE_CHANGED. */
static void test_ant_info(sd_event *e, struct cd_config *c)
{
	_cleanup_(monitor_freep) struct monitor *m = NULL;
	struct monitor_config mc = { .config = c };
	struct recorder rec = {};
	struct monitor_device *d, *b;
	struct monitor_ant_info info = {
		.device_number = 12345,
		.device_type = 120,
		.transmission_type = 1,
		.pages = "unknown",
		.manufacturer = "Garmin", /* without has_manufacturer: not told */
		.battery_v = NAN,
		.battery_status = "invalid",
		.messages = 1,
	};
	unsigned changed;

	CHECK_INT(monitor_new(e, &mc, &m), 0);
	CHECK(monitor_observer_register(m, record, &rec, NULL) != 0);
	CHECK_INT(monitor_device_add(m, "ant-12345", NULL, CD_TRANSPORT_ANT, &d), 0);
	CHECK_INT(monitor_device_add(m, "ble-1", NULL, CD_TRANSPORT_BLE, &b), 0);

	/* Before any facts, and for other devices: no "ant" at all. */
	{
		_cleanup_(cJSON_Deletep) cJSON *a = NULL;
		cJSON *o = device_json(m, "ant-12345", &a);

		CHECK(o != NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(o, "ant") == NULL);
	}

	/* The first facts: a DEVICE_CHANGED, and "ant" with nulls for every page not heard. */
	changed = rec.counts[MONITOR_EVENT_DEVICE_CHANGED];
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 1);
	{
		_cleanup_(cJSON_Deletep) cJSON *a = NULL, *a2 = NULL;
		cJSON *o = device_json(m, "ant-12345", &a);
		cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "ant");
		cJSON *o2 = device_json(m, "ble-1", &a2);

		CHECK(cJSON_IsObject(x));
		/* Last in the device object, as when the manager appended it. */
		CHECK(o && x && o->child && x == cJSON_GetArrayItem(o, cJSON_GetArraySize(o) - 1));
		check_ant_keys(x);
		CHECK_NEAR(num(x, "device_number"), 12345, 0);
		CHECK_NEAR(num(x, "device_type"), 120, 0);
		CHECK_NEAR(num(x, "transmission_type"), 1, 0);
		CHECK_STR(str(x, "pages"), "unknown");
		CHECK(is_null(x, "manufacturer_id"));
		CHECK(is_null(x, "manufacturer"));
		CHECK(is_null(x, "serial_number"));
		CHECK(is_null(x, "model"));
		CHECK(is_null(x, "hw_version"));
		CHECK(is_null(x, "sw_version"));
		CHECK(is_null(x, "battery_v"));
		CHECK(is_null(x, "battery_status"));
		CHECK(is_null(x, "operating_time_s"));
		CHECK(is_null(x, "rssi_dbm"));
		CHECK_NEAR(num(x, "messages"), 1, 0);
		CHECK_NEAR(num(x, "missed_messages"), 0, 0);
		/* Only ANT devices have it. */
		CHECK(o2 != NULL);
		CHECK(cJSON_GetObjectItemCaseSensitive(o2, "ant") == NULL);
	}

	/* The same facts again: nothing to tell. */
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 1);

	/* Running values only (4 Hz): stored, rendered, but no DEVICE_CHANGED. */
	info.messages = 40;
	info.missed_messages = 2;
	info.beats = 30;
	info.rr_intervals = 29;
	info.gap_beats = 1;
	info.rx_fail = 3;
	info.has_rssi = true;
	info.rssi_dbm = -61;
	info.has_operating_time = true;
	info.operating_time_s = 7200;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 1);
	{
		_cleanup_(cJSON_Deletep) cJSON *a = NULL;
		cJSON *x = cJSON_GetObjectItemCaseSensitive(device_json(m, "ant-12345", &a), "ant");

		CHECK_NEAR(num(x, "messages"), 40, 0);
		CHECK_NEAR(num(x, "missed_messages"), 2, 0);
		CHECK_NEAR(num(x, "beats"), 30, 0);
		CHECK_NEAR(num(x, "rr_intervals"), 29, 0);
		CHECK_NEAR(num(x, "gap_beats"), 1, 0);
		CHECK_NEAR(num(x, "rx_fail"), 3, 0);
		CHECK_NEAR(num(x, "rssi_dbm"), -61, 0);
		CHECK_NEAR(num(x, "operating_time_s"), 7200, 0);
	}

	/* Page 7: battery voltage and status are facts. */
	info.has_battery = true;
	info.battery_v = 3.5;
	snprintf(info.battery_status, sizeof(info.battery_status), "ok");
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 2);
	info.battery_v = 3.25;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 3);
	snprintf(info.battery_status, sizeof(info.battery_status), "low");
	info.messages++;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 4);

	/* Page 2 and 3: manufacturer (ids without a name first), serial, product. */
	info.has_manufacturer = true;
	info.manufacturer_id = 200;
	info.manufacturer[0] = '\0';
	info.serial_number = 0x12343039;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 5);
	info.manufacturer_id = 201;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 6);
	info.serial_number = 0x12353039;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 7);
	info.manufacturer_id = 200;
	info.serial_number = 0x12343039;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 8);
	{
		_cleanup_(cJSON_Deletep) cJSON *a = NULL;
		cJSON *x = cJSON_GetObjectItemCaseSensitive(device_json(m, "ant-12345", &a), "ant");

		CHECK_NEAR(num(x, "manufacturer_id"), 200, 0);
		CHECK(is_null(x, "manufacturer"));
		CHECK_NEAR(num(x, "serial_number"), 0x12343039, 0);
		CHECK(is_null(x, "model"));
	}
	info.manufacturer_id = 1;
	snprintf(info.manufacturer, sizeof(info.manufacturer), "Garmin");
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 9);
	info.has_product = true;
	info.model = 51;
	info.hw_version = 5;
	info.sw_version = 10;
	snprintf(info.pages, sizeof(info.pages), "paged");
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 10);
	info.sw_version = 11;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 11);
	{
		_cleanup_(cJSON_Deletep) cJSON *a = NULL;
		cJSON *x = cJSON_GetObjectItemCaseSensitive(device_json(m, "ant-12345", &a), "ant");

		check_ant_keys(x);
		CHECK_STR(str(x, "pages"), "paged");
		CHECK_NEAR(num(x, "manufacturer_id"), 1, 0);
		CHECK_STR(str(x, "manufacturer"), "Garmin");
		CHECK_NEAR(num(x, "model"), 51, 0);
		CHECK_NEAR(num(x, "hw_version"), 5, 0);
		CHECK_NEAR(num(x, "sw_version"), 11, 0);
		CHECK_NEAR(num(x, "battery_v"), 3.25, 0);
		CHECK_STR(str(x, "battery_status"), "low");
		CHECK_NEAR(num(x, "messages"), 41, 0);
	}

	/* A battery page without a voltage: battery_v null, the status still told. */
	info.battery_v = NAN;
	monitor_device_set_ant(d, &info);
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 12);
	monitor_device_set_ant(d, &info); /* NAN again is no change */
	CHECK_INT(rec.counts[MONITOR_EVENT_DEVICE_CHANGED], changed + 12);
	{
		_cleanup_(cJSON_Deletep) cJSON *a = NULL;
		cJSON *x = cJSON_GetObjectItemCaseSensitive(device_json(m, "ant-12345", &a), "ant");

		CHECK(is_null(x, "battery_v"));
		CHECK_STR(str(x, "battery_status"), "low");
	}
}

int main(void)
{
	_cleanup_(sd_event_unrefp) sd_event *e = NULL;
	struct cd_config c;
	_cleanup_free_ char *err = NULL;

	CHECK_INT(sd_event_new(&e), 0);
	cd_config_init(&c);
	c.idle_timeout_s = 1;
	c.engine.stale_after_s = 0.5;
	CHECK_INT(cd_config_finish(&c, "test", &err), 0);
	test_lifecycle(e, &c);
	test_primary_and_explicit(e, &c);
	test_ingest_and_stale(e, &c);
	test_ant_info(e, &c);
	cd_config_done(&c);
	return check_exit("test-monitor");
}
