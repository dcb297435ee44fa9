/* SPDX-License-Identifier: MIT */
/*
 * The session object of DESIGN §4.  Every figure comes from the engine; the
 * meta struct carries what the engine does not know (id, device, wall-clock
 * start).  NAN is JSON null everywhere.  Pure: no clock (time zone rules are
 * not needed either: timestamps are UTC, computed by hand).
 */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "civil-time.h"
#include "cleanup.h"
#include "cleanup-json.h"
#include "session-json.h"


int cd_format_iso8601(double t, char *buf, size_t size)
{
	int64_t ms, days, secs, y;
	unsigned mo, d;
	int n;

	/* Years 0000..9999 only: 253402300800 s is 10000-01-01. */
	if (!buf || !isfinite(t) || t < -62167219200.0 || t >= 253402300800.0)
		return -EINVAL;
	ms = llround(t * 1000.0);
	secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	ms -= secs * 1000;
	days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	secs -= days * 86400;
	cd_civil_from_days(days, &y, &mo, &d);
	if (y < 0 || y > 9999)
		return -EINVAL; /* only reachable by rounding up at the very end */
	n = snprintf(buf, size, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", y, mo, d,
		     (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60),
		     (unsigned)ms);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	return 0;
}

/* Add a number, NAN (and ±inf) as null.  Returns false on OOM. */
static bool add_number(cJSON *o, const char *key, double v)
{
	if (!isfinite(v))
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddNumberToObject(o, key, v) != NULL;
}

static bool add_string(cJSON *o, const char *key, const char *s)
{
	if (!s)
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddStringToObject(o, key, s) != NULL;
}

/* Unix time started_at + offset as ISO 8601, or null when either is unknown. */
static bool add_time(cJSON *o, const char *key, double started_at, double offset)
{
	char buf[32];

	if (!isfinite(started_at) || !isfinite(offset) ||
	    cd_format_iso8601(started_at + offset, buf, sizeof(buf)) < 0)
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddStringToObject(o, key, buf) != NULL;
}

static bool add_device(cJSON *root, const struct cd_session_meta *m)
{
	cJSON *o = cJSON_AddObjectToObject(root, "device");

	return o && add_string(o, "id", m->device_id) && add_string(o, "name", m->device_name) &&
	       add_string(o, "transport", m->transport);
}

static bool add_bounds(cJSON *o, const char *key, const double *v)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);

	if (!a)
		return false;
	for (size_t i = 0; i < CD_ZONE_BOUNDS; i++) {
		cJSON *n = cJSON_CreateNumber(v[i]);

		if (!n || !cJSON_AddItemToArray(a, n)) {
			cJSON_Delete(n);
			return false;
		}
	}
	return true;
}

static bool add_profile(cJSON *root, const struct cd_profile *p)
{
	cJSON *o = cJSON_AddObjectToObject(root, "profile");

	if (!o)
		return false;
	if (!add_string(o, "name", p->name) || !add_number(o, "hr_max", p->hr_max) ||
	    !add_number(o, "hr_rest", p->hr_rest) ||
	    !add_string(o, "hr_max_source", cd_hr_max_source_to_string(p->hr_max_source)) ||
	    !add_number(o, "age", p->age > 0 ? p->age : NAN) ||
	    !add_string(o, "sex", cd_sex_to_string(p->sex)) ||
	    !add_string(o, "model", cd_model_to_string(p->model)) ||
	    !add_bounds(o, "zones_pct", p->zones_pct))
		return false;
	if (p->has_zones_bpm)
		return add_bounds(o, "zones_bpm", p->zones_bpm);
	return cJSON_AddNullToObject(o, "zones_bpm") != NULL;
}

static bool add_zones(cJSON *root, const struct cd_engine *e, const struct cd_engine_totals *tot,
		      const struct cd_engine_rolling *roll)
{
	const struct cd_profile *p = cd_engine_profile(e);
	cJSON *a = cJSON_AddArrayToObject(root, "zones");

	if (!a)
		return false;
	for (int z = CD_ZONE_0; z < _CD_ZONE_MAX; z++) {
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			return false;
		}
		if (!cJSON_AddNumberToObject(o, "zone", z) ||
		    !add_string(o, "label", cd_zone_label((enum cd_zone)z)) ||
		    !add_string(o, "name", cd_zone_name((enum cd_zone)z)) ||
		    !add_number(o, "lo_bpm", cd_zone_lo_bpm(p, (enum cd_zone)z)) ||
		    !add_number(o, "hi_bpm", cd_zone_hi_bpm(p, (enum cd_zone)z)) ||
		    !add_number(o, "s", tot->zone_s[z]) ||
		    !add_number(o, "rolling_s", roll->zone_s[z]))
			return false;
	}
	return true;
}

static bool add_intensity(cJSON *o, const double *s)
{
	return add_number(o, "light_s", s[CD_INTENSITY_LIGHT]) &&
	       add_number(o, "moderate_s", s[CD_INTENSITY_MODERATE]) &&
	       add_number(o, "vigorous_s", s[CD_INTENSITY_VIGOROUS]);
}

static bool add_dose(cJSON *root, const struct cd_engine_totals *tot,
		     const struct cd_engine_rolling *roll)
{
	cJSON *o = cJSON_AddObjectToObject(root, "dose"), *m;

	if (!o || !add_number(o, "mvpa_s", tot->mvpa_s) || !add_number(o, "ecb_s", tot->ecb_s) ||
	    !add_number(o, "rolling_mvpa_s", roll->mvpa_s) ||
	    !add_number(o, "rolling_ecb_s", roll->ecb_s))
		return false;
	m = cJSON_AddObjectToObject(o, "milestones");
	if (!m)
		return false;
	for (int i = 0; i < _CD_MILESTONE_MAX; i++)
		if (!add_number(m, cd_milestone_to_string((enum cd_milestone)i),
				tot->milestone_at[i]))
			return false;
	return true;
}

cJSON *cd_session_to_json(const struct cd_engine *e, const struct cd_session_meta *meta)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	const struct cd_engine_totals *tot;
	const struct cd_profile *p;
	struct cd_engine_rolling roll;
	cJSON *o, *r;
	bool stale;
	double current;

	if (!e || !meta)
		return NULL;
	tot = cd_engine_totals(e);
	p = cd_engine_profile(e);
	cd_engine_rolling(e, &roll);
	stale = cd_engine_is_stale(e, meta->now);
	current = stale ? NAN : tot->bpm_last;

	root = cJSON_CreateObject();
	if (!root)
		return NULL;

	if (!add_number(root, "id", meta->id > 0 ? (double)meta->id : NAN) ||
	    !add_string(root, "state", meta->active ? "active" : "ended") ||
	    !add_string(root, "kind", meta->kind) || !add_device(root, meta) ||
	    !add_profile(root, p))
		return NULL;

	/*
	 * Engine time 0 is the session start; ended_at is the last valid sample,
	 * or started_at for a session that ended without one (the store's rule too).
	 */
	if (!add_time(root, "started_at", meta->started_at, 0) ||
	    !add_time(root, "ended_at", meta->started_at,
		      meta->active ? NAN : isfinite(tot->t_last) && tot->t_last > 0 ? tot->t_last : 0) ||
	    !add_number(root, "duration_s", tot->samples > 0 ? tot->duration_s : 0) ||
	    !add_number(root, "active_s", tot->active_s) ||
	    !add_number(root, "gap_s", tot->gap_s) ||
	    !cJSON_AddNumberToObject(root, "samples", (double)tot->samples))
		return NULL;

	o = cJSON_AddObjectToObject(root, "heart_rate");
	if (!o || !add_number(o, "current", current) ||
	    !add_number(o, "avg", cd_engine_avg_bpm(e)) || !add_number(o, "min", tot->bpm_min) ||
	    !add_number(o, "max", tot->bpm_max))
		return NULL;
	if (!cJSON_AddBoolToObject(root, "stale", stale) ||
	    !add_time(root, "last_sample_at", meta->started_at, tot->t_last))
		return NULL;

	o = cJSON_AddObjectToObject(root, "zone");
	if (!o ||
	    !add_number(o, "current", stale ? NAN : (double)cd_zone_of(p, tot->bpm_last)) ||
	    !add_number(o, "pct_hr_max", stale ? NAN : cd_pct_hr_max(p, tot->bpm_last)))
		return NULL;

	if (!add_zones(root, e, tot, &roll) ||
	    !add_number(root, "window_s", cd_engine_config(e)->window_s))
		return NULL;

	o = cJSON_AddObjectToObject(root, "intensity");
	if (!o || !add_intensity(o, tot->intensity_s))
		return NULL;
	r = cJSON_AddObjectToObject(o, "rolling");
	if (!r || !add_intensity(r, roll.intensity_s))
		return NULL;

	if (!add_dose(root, tot, &roll))
		return NULL;

	o = cJSON_AddObjectToObject(root, "load");
	if (!o || !add_number(o, "trimp_edwards", cd_engine_trimp_edwards(e)) ||
	    !add_number(o, "trimp_banister", tot->trimp_banister))
		return NULL;

	o = cJSON_AddObjectToObject(root, "hrv");
	if (!o || !add_number(o, "rmssd_ms", cd_engine_rmssd(e)) ||
	    !add_number(o, "rolling_rmssd_ms", cd_engine_rolling_rmssd(e)) ||
	    !cJSON_AddNumberToObject(o, "rr_count", (double)tot->rr_count))
		return NULL;

	if (!add_number(root, "energy_kj", tot->energy_kj) ||
	    !add_number(root, "battery_pct", meta->battery_pct >= 0 ? meta->battery_pct : NAN) ||
	    !add_string(root, "disclaimer", CD_DISCLAIMER))
		return NULL;

	return TAKE_PTR(root);
}

cJSON *cd_session_summary(const cJSON *session)
{
	static const char *const keep[] = {
		"id",	       "state",	     "kind",	"device",    "started_at", "ended_at",
		"duration_s",  "active_s",   "gap_s",	"samples",   "heart_rate", "stale",
		"dose",	       "load",	     "hrv",	"energy_kj",
	};
	cJSON *o = cJSON_CreateObject();
	const cJSON *p;

	if (!o)
		return NULL;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(session, keep[i]);
		cJSON *c;

		if (!v)
			continue;
		c = cJSON_Duplicate(v, true);
		if (!c || !cJSON_AddItemToObject(o, keep[i], c)) {
			cJSON_Delete(c);
			cJSON_Delete(o);
			return NULL;
		}
	}
	p = cJSON_GetObjectItemCaseSensitive(session, "profile");
	p = p ? cJSON_GetObjectItemCaseSensitive(p, "name") : NULL;
	if (cJSON_IsString(p) && !cJSON_AddStringToObject(o, "profile", p->valuestring)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}
