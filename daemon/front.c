/* SPDX-License-Identifier: MIT */
/*
 * The front-end contract (api/front.h), implemented once.
 *
 * Where an answer comes from:
 *   - a session by id: the monitor's live sessions (and the one that just
 *     ended), else the store's history (queued or in the file) — decided
 *     here, in resolve_session(), and nowhere else;
 *   - the session list: the store pages the ids (store_sessions_page),
 *     each is resolved as above and cut to the one summary form
 *     (cd_session_summary, lib/session-json.h);
 *   - devices: the monitor renders live straps (BLE's and ANT's extras
 *     included), the store adds straps seen before this run;
 *   - summary and week: summary.c over the store's figures and the live
 *     engines; import: session-import.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ant.h"
#include "cleanup-json.h"
#include "daemon-front.h"
#include "log.h"
#include "profile.h"
#include "session-import.h"
#include "session-json.h"
#include "store.h"
#include "summary.h"

struct front {
	struct monitor *monitor;
	struct store *store;
	const struct cd_config *config;
	struct cd_events *events;
	struct ant *ant; /* for /healthz; NULL: ANT disabled or failed */
};

int front_new(const struct front_config *c, struct front **ret)
{
	struct front *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	*f = (struct front){
		.monitor = c->monitor,
		.store = c->store,
		.config = c->config,
		.events = c->events,
	};
	*ret = f;
	return 0;
}

struct front *front_free(struct front *f)
{
	free(f);
	return NULL;
}

void front_set_ant(struct front *f, struct ant *ant)
{
	f->ant = ant;
}

/* Queries. */

/* Which session id N is: live in the monitor, else history in the store. */
static int resolve_session(struct front *f, uint64_t id, cJSON **ret)
{
	struct monitor_session *s;

	if (id == 0) {
		s = monitor_primary(f->monitor);
		if (!s)
			s = monitor_last_ended(f->monitor);
	} else
		s = monitor_session_find(f->monitor, id);
	if (s) {
		*ret = monitor_session_to_json(s, monitor_boot_us());
		return *ret ? 0 : -ENOMEM;
	}
	return store_session_json(f->store, id, ret);
}

static int op_session(void *userdata, uint64_t id, cJSON **ret)
{
	return resolve_session(userdata, id, ret);
}

static int op_sessions(void *userdata, unsigned limit, uint64_t before_us, uint64_t since_us,
		       cJSON **ret, uint64_t *ret_next)
{
	struct front *f = userdata;
	_cleanup_free_ uint64_t *ids = NULL;
	_cleanup_(cJSON_Deletep) cJSON *a = cJSON_CreateArray();
	size_t n = 0;
	int r;

	if (!a)
		return -ENOMEM;
	r = store_sessions_page(f->store, limit, before_us, since_us, &ids, &n, ret_next);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_(cJSON_Deletep) cJSON *full = NULL;
		cJSON *sum;

		r = resolve_session(f, ids[i], &full);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		sum = cd_session_summary(full);
		if (!sum || !cJSON_AddItemToArray(a, sum)) {
			cJSON_Delete(sum);
			return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(a);
	return 0;
}

/* GET /sessions/{id}/samples: the store's reader behind the contract's interface. */
struct samples_reader {
	struct cd_front_samples base; /* first: handed back as this */
	struct store_samples *store_reader;
};

static int samples_reader_next(struct cd_front_samples *it, struct cd_sample *ret)
{
	struct samples_reader *r = (struct samples_reader *)it;

	return store_samples_next(r->store_reader, ret);
}

static void samples_reader_free(struct cd_front_samples *it)
{
	struct samples_reader *r = (struct samples_reader *)it;

	store_samples_free(r->store_reader);
	free(r);
}

static int op_samples(void *userdata, uint64_t id, struct cd_front_samples **ret)
{
	struct front *f = userdata;
	_cleanup_(store_samples_freep) struct store_samples *sr = NULL;
	struct samples_reader *r;
	int k;

	k = store_samples_open(f->store, id, &sr);
	if (k < 0)
		return k;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct samples_reader){
		.base = { .next = samples_reader_next, .free = samples_reader_free },
		.store_reader = TAKE_PTR(sr),
	};
	*ret = &r->base;
	return 0;
}

/* A strap from an earlier run: shown disconnected, through the one device renderer. */
static int add_stored_device(const struct store_known_device *sd, void *ctx)
{
	struct front *f = ((void **)ctx)[0];
	cJSON *a = ((void **)ctx)[1], *o;
	struct monitor_device d = {
		.id = (char *)sd->id,
		.name = (char *)(sd->name ? sd->name : sd->id),
		.transport = cd_transport_from_string(sd->transport),
		.battery_pct = -1,
		.contact = CD_CONTACT_UNKNOWN,
		.last_seen_us = sd->last_seen_us,
		.stale = true,
		.profile = cd_config_profile_for(f->config, sd->id),
	};

	if (monitor_device_find(f->monitor, sd->id))
		return 0; /* live: already listed */
	o = monitor_device_to_json(&d);
	if (!o || !cJSON_AddItemToArray(a, o)) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	return 0;
}

static int op_devices(void *userdata, cJSON **ret)
{
	struct front *f = userdata;
	_cleanup_(cJSON_Deletep) cJSON *a = monitor_devices_to_json(f->monitor);
	int r;

	if (!a)
		return -ENOMEM;
	r = store_each_device(f->store, add_stored_device, (void *[]){ f, a });
	if (r < 0 && r != -ENOMEM)
		log_debug_errno(r, "Cannot list stored devices: %m, ignoring");
	else if (r < 0)
		return r;
	*ret = TAKE_PTR(a);
	return 0;
}

static void device_view(const struct monitor_device *d, struct cd_front_device *v)
{
	const struct monitor_session *s = d->session;
	const struct cd_engine_totals *tot = s ? cd_engine_totals(s->engine) : NULL;

	*v = (struct cd_front_device){
		.id = d->id,
		.name = d->name,
		.transport = cd_transport_to_string(d->transport),
		.connected = d->connected,
		.stale = d->stale,
		.battery_pct = d->battery_pct,
		.last_seen_us = d->last_seen_us,
		.last_valid_us = d->last_valid_us,
		.bpm = d->last_bpm,
		.zone = isfinite(d->last_bpm) ? (int)cd_zone_of(d->profile, d->last_bpm) : 0,
		.samples_total = d->samples_counted,
		.session_id = s ? s->id : 0,
		.active_s = tot ? tot->active_s : 0.0,
		.mvpa_s = tot ? tot->mvpa_s : 0.0,
		.ecb_s = tot ? tot->ecb_s : 0.0,
	};
	for (size_t z = 0; z < _CD_ZONE_MAX; z++)
		v->zone_s_total[z] = d->ended_zone_s[z] + (tot ? tot->zone_s[z] : 0.0);
}

static int op_each_device(void *userdata, void (*fn)(const struct cd_front_device *d, void *ctx),
			  void *ctx)
{
	struct front *f = userdata;

	for (struct monitor_device *d = monitor_devices(f->monitor); d; d = d->next) {
		struct cd_front_device v;

		device_view(d, &v);
		fn(&v, ctx);
	}
	return 0;
}

static int op_device(void *userdata, const char *id, struct cd_front_device *ret)
{
	struct front *f = userdata;
	struct monitor_device *d = id ? monitor_device_find(f->monitor, id) : NULL;

	if (!d)
		return -ENOENT;
	device_view(d, ret);
	return 0;
}

static int op_primary(void *userdata, struct cd_front_device *ret)
{
	struct front *f = userdata;
	struct monitor_session *s = monitor_primary(f->monitor);
	struct monitor_device *best = s ? s->device : NULL;

	for (struct monitor_device *d = monitor_devices(f->monitor); !s && d; d = d->next)
		if (!best || d->last_seen_us > best->last_seen_us)
			best = d;
	if (!best)
		return -ENOENT;
	device_view(best, ret);
	return 0;
}

/* /healthz "ant" when there is no ANT source: why not. */
static cJSON *ant_disabled_json(const struct cd_config *c)
{
	cJSON *x = cJSON_CreateObject();

	if (x && (!cJSON_AddStringToObject(x, "state", "disabled") ||
		  !cJSON_AddStringToObject(x, "reason", c->ant_enabled
								? "failed to start (see the log)"
								: "[ant] enabled = no (or --no-ant)"))) {
		cJSON_Delete(x);
		return NULL;
	}
	return x;
}

static int op_health(void *userdata, cJSON **ret)
{
	struct front *f = userdata;
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	unsigned connected = 0, n = monitor_n_devices(f->monitor, &connected);
	const char *reason = NULL;
	bool degraded = store_degraded(f->store, &reason);

	if (!o || !cJSON_AddStringToObject(o, "status", degraded ? "degraded" : "ok") ||
	    (degraded && !cJSON_AddStringToObject(o, "reason", reason)) ||
	    !cJSON_AddStringToObject(o, "version", CARDIOD_VERSION) ||
	    !cJSON_AddNumberToObject(o, "devices", n) ||
	    !cJSON_AddNumberToObject(o, "devices_connected", connected) ||
	    !cJSON_AddNumberToObject(o, "active_sessions", monitor_n_active(f->monitor)) ||
	    store_health_json(f->store, o) < 0)
		return -ENOMEM;
	if (f->ant ? ant_health_json(f->ant, o) < 0
		   : !cJSON_AddItemToObject(o, "ant", ant_disabled_json(f->config)))
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

static int op_summary(void *userdata, const struct cd_front_summary_query *q, cJSON **ret)
{
	struct front *f = userdata;
	struct summary_query sq = {
		.by = (enum cd_summary_by)q->by,
		.has_from = q->has_from,
		.has_to = q->has_to,
		.from = q->from,
		.to = q->to,
		.profile = q->profile[0] ? q->profile : NULL,
	};

	return summary_json(f->store, f->monitor, f->config, &sq, monitor_now_us(), ret);
}

static int op_week(void *userdata, struct cd_front_week *ret)
{
	struct front *f = userdata;
	struct summary_week w;
	int r;

	r = summary_week(f->store, f->monitor, f->config, monitor_now_us(), &w);
	if (r < 0)
		return r;
	*ret = (struct cd_front_week){
		.today_min = w.today_min,
		.week_min = w.week_min,
		.goal_min = w.goal_min,
		.week_sessions = w.week_sessions,
	};
	return 0;
}

/* Commands. */

/* DESIGN §9.7: the front end authenticated the caller; the daemon authorises. */
static int authorise(const struct cd_caller *who, const char *what)
{
	if (who && who->may_manage)
		return 0;
	log_debug("Refused %s over %s: the caller may not manage sessions.", what,
		  who && who->via ? who->via : "an unknown front end");
	return -EPERM;
}

static void log_caller(const struct cd_caller *who, const char *what, uint64_t id)
{
	if (who->uid >= 0)
		log_info("Session %" PRIu64 ": %s over %s by uid %" PRId64 ".", id, what,
			 who->via ? who->via : "?", who->uid);
	else
		log_info("Session %" PRIu64 ": %s over %s.", id, what, who->via ? who->via : "?");
}

static int op_start(void *userdata, const struct cd_caller *who, const char *device,
		    const char *kind, cJSON **ret)
{
	struct front *f = userdata;
	struct monitor_session *s;
	int r;

	r = authorise(who, "a start");
	if (r < 0)
		return r;
	r = monitor_start(f->monitor, device, kind, &s);
	if (r < 0)
		return r;
	log_caller(who, "manual start", s->id);
	if (!ret)
		return 0;
	*ret = monitor_session_to_json(s, monitor_boot_us());
	return *ret ? 0 : -ENOMEM;
}

static int op_stop(void *userdata, const struct cd_caller *who, const char *device,
		   uint64_t session, cJSON **ret)
{
	struct front *f = userdata;
	struct monitor_session *s;
	int r;

	r = authorise(who, "a stop");
	if (r < 0)
		return r;
	if (session > 0) {
		s = monitor_session_find(f->monitor, session);
		if (!s) {
			_cleanup_(cJSON_Deletep) cJSON *o = NULL;

			/* Not live: stored (already ended), or no such session. */
			r = resolve_session(f, session, &o);
			return r < 0 ? r : -ESRCH;
		}
		if (!s->active)
			return -ESRCH;
		device = s->device->id;
	}
	r = monitor_stop(f->monitor, device, &s);
	if (r < 0)
		return r;
	log_caller(who, "manual stop", s->id);
	if (!ret)
		return 0;
	*ret = monitor_session_to_json(s, monitor_boot_us());
	return *ret ? 0 : -ENOMEM;
}

static int op_import(void *userdata, const struct cd_caller *who,
		     const struct cd_front_import_query *q, const char *body, size_t len,
		     cJSON **ret, char *err, size_t errlen)
{
	struct front *f = userdata;
	struct import_request req = {
		.format = (enum cd_import_format)q->format,
		.has_started_at = q->has_started_at,
		.started_at_us = q->started_at_us,
		.device = q->device[0] ? q->device : NULL,
		.kind = q->kind[0] ? q->kind : NULL,
		.profile = q->profile[0] ? q->profile : NULL,
	};
	int r;

	r = authorise(who, "an import");
	if (r < 0)
		return r;
	return import_run(f->store, f->monitor, f->config, &req, body, len, ret, err, errlen);
}

static const struct cd_front_ops front_ops = {
	.session = op_session,
	.sessions = op_sessions,
	.samples = op_samples,
	.devices = op_devices,
	.each_device = op_each_device,
	.device = op_device,
	.primary = op_primary,
	.health = op_health,
	.summary = op_summary,
	.week = op_week,
	.start = op_start,
	.stop = op_stop,
	.import = op_import,
};

struct cd_front front_contract(struct front *f)
{
	return (struct cd_front){ .ops = &front_ops, .userdata = f, .events = f->events };
}
