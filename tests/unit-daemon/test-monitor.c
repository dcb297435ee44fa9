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
	cd_config_done(&c);
	return check_exit("test-monitor");
}
