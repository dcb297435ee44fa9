/* SPDX-License-Identifier: MIT */
/*
 * lib/session-json.c: every key of the DESIGN §4 session object, with values
 * for a small hand-built session fed through the engine, null where the
 * engine has no figure, and number round trips through cJSON.
 *
 * The session (hr_max 200, hr_rest 60: zone bounds 100/120/140/160/180 bpm,
 * moderate from 128, vigorous from 154, ECB band 140..160):
 *
 *   t   bpm  rr          contact  attributes (to the next valid sample)
 *   0   100  600         1        1 s Z1 light
 *   1   120  500         1        1 s Z2 light
 *   2   140  429 430     1        1 s Z3 moderate ECB
 *   3   160  375         1        1 s Z4 vigorous (80 % is not in the band)
 *   4   180              1        gap of 8 s (> max_gap 5)
 *   5   150  400         0        dropped: contact lost (its RR too)
 *   6     0                       dropped: invalid bpm
 *   12  150  600         1        1 s Z3 moderate ECB
 *   13   90  610         unknown  1 s Z0 light
 *   14   95                       last (energy 12.5 kJ)
 *
 * active 6, gap 8, duration 14, 8 valid samples; zones 1,1,1,2,1,0 s;
 * light 3, moderate 2, vigorous 1; MVPA 3, ECB 2; avg 760/6; min 90,
 * max 180; RR kept 600 500 429 430 375 600 610 (7); counted differences
 * -100 -71 1 -55 (375→600 breaks the 20 % rule) 10: RMSSD √(18167/5).
 */

#include <errno.h>
#include <math.h>
#include <string.h>

#include "check.h"
#include "civil-time.h"
#include "cleanup.h"
#include "cleanup-json.h"
#include "session-json.h"


static const double rr0[] = { 600 }, rr1[] = { 500 }, rr2[] = { 429, 430 }, rr3[] = { 375 },
		    rr5[] = { 400 }, rr12[] = { 600 }, rr13[] = { 610 };

#define S(t_, bpm_, contact_, rr_, n_, energy_)                                                    \
	{                                                                                          \
		.t = t_, .bpm = bpm_, .contact = contact_, .energy_kj = energy_, .rr_ms = rr_,     \
		.n_rr = n_                                                                         \
	}

static const struct cd_sample session[] = {
	S(0, 100, CD_CONTACT_OK, rr0, 1, NAN),
	S(1, 120, CD_CONTACT_OK, rr1, 1, NAN),
	S(2, 140, CD_CONTACT_OK, rr2, 2, NAN),
	S(3, 160, CD_CONTACT_OK, rr3, 1, NAN),
	S(4, 180, CD_CONTACT_OK, NULL, 0, NAN),
	S(5, 150, CD_CONTACT_LOST, rr5, 1, NAN),
	S(6, 0, CD_CONTACT_UNKNOWN, NULL, 0, NAN),
	S(12, 150, CD_CONTACT_OK, rr12, 1, NAN),
	S(13, 90, CD_CONTACT_UNKNOWN, rr13, 1, NAN),
	S(14, 95, CD_CONTACT_UNKNOWN, NULL, 0, 12.5),
};

static struct cd_engine *make_engine(const struct cd_profile *p, const struct cd_sample *s,
				     size_t n)
{
	struct cd_engine_config c;
	struct cd_engine *e = NULL;

	cd_engine_config_init(&c);
	CHECK_INT(cd_engine_new(p, &c, NULL, &e), 0);
	if (!e)
		abort();
	for (size_t i = 0; i < n; i++)
		CHECK(cd_engine_add(e, &s[i]) >= 0);
	return e;
}

static void profile_200(struct cd_profile *p)
{
	cd_profile_init(p);
	snprintf(p->name, sizeof(p->name), "alice");
	CHECK_INT(cd_profile_set_hr_max(p, 200), 0);
}

/* o["a"]["b"]... ; NULL when any step is missing. */
static const cJSON *get(const cJSON *o, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		o = cJSON_GetObjectItemCaseSensitive(o, k);
	return o;
}

static double num(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	if (!v)
		fprintf(stderr, "missing key %s\n", path);
	return cJSON_IsNumber(v) ? v->valuedouble : -12345.678;
}

static const char *str(const cJSON *o, const char *path)
{
	const cJSON *v = get(o, path);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_null(const cJSON *o, const char *path)
{
	return cJSON_IsNull(get(o, path));
}

static bool same_keys(const cJSON *o, const char *const *keys, size_t n)
{
	bool ok = o != NULL;

	for (size_t i = 0; i < n; i++)
		if (!cJSON_GetObjectItemCaseSensitive(o, keys[i])) {
			fprintf(stderr, "missing key \"%s\"\n", keys[i]);
			ok = false;
		}
	return ok;
}

static void test_keys(const cJSON *j)
{
	static const char *const top[] = {
		"id", "state", "kind", "device", "profile", "started_at", "ended_at",
		"duration_s", "active_s", "gap_s", "samples", "heart_rate", "stale",
		"last_sample_at", "zone", "zones", "window_s", "intensity", "dose", "load", "hrv",
		"energy_kj", "battery_pct", "disclaimer",
	};
	static const char *const device[] = { "id", "name", "transport" };
	static const char *const profile[] = { "name", "hr_max", "hr_rest", "hr_max_source",
					       "sex", "model" };
	static const char *const hr[] = { "current", "avg", "min", "max" };
	static const char *const zone[] = { "current", "pct_hr_max" };
	static const char *const zones[] = { "zone", "name", "lo_bpm", "hi_bpm", "s", "rolling_s" };
	static const char *const intensity[] = { "light_s", "moderate_s", "vigorous_s", "rolling" };
	static const char *const rolling[] = { "light_s", "moderate_s", "vigorous_s" };
	static const char *const dose[] = { "mvpa_s", "ecb_s", "rolling_mvpa_s", "rolling_ecb_s",
					    "milestones" };
	static const char *const milestones[] = { "mvpa_20", "mvpa_40", "duration_60" };
	static const char *const load[] = { "trimp_edwards", "trimp_banister" };
	static const char *const hrv[] = { "rmssd_ms", "rolling_rmssd_ms", "rr_count" };
	const cJSON *a = get(j, "zones");
	int i = 0;

	CHECK(same_keys(j, top, ELEMENTSOF(top)));
	CHECK(same_keys(get(j, "device"), device, ELEMENTSOF(device)));
	CHECK(same_keys(get(j, "profile"), profile, ELEMENTSOF(profile)));
	CHECK(same_keys(get(j, "heart_rate"), hr, ELEMENTSOF(hr)));
	CHECK(same_keys(get(j, "zone"), zone, ELEMENTSOF(zone)));
	CHECK(same_keys(get(j, "intensity"), intensity, ELEMENTSOF(intensity)));
	CHECK(same_keys(get(j, "intensity.rolling"), rolling, ELEMENTSOF(rolling)));
	CHECK(same_keys(get(j, "dose"), dose, ELEMENTSOF(dose)));
	CHECK(same_keys(get(j, "dose.milestones"), milestones, ELEMENTSOF(milestones)));
	CHECK(same_keys(get(j, "load"), load, ELEMENTSOF(load)));
	CHECK(same_keys(get(j, "hrv"), hrv, ELEMENTSOF(hrv)));
	CHECK(cJSON_IsArray(a));
	CHECK_INT(cJSON_GetArraySize(a), 6);
	for (const cJSON *z = a ? a->child : NULL; z; z = z->next, i++) {
		CHECK(same_keys(z, zones, ELEMENTSOF(zones)));
		CHECK_INT(num(z, "zone"), i);
	}
	CHECK_STR(str(j, "disclaimer"), CD_DISCLAIMER);
}

static void test_values(void)
{
	_cleanup_(cd_engine_freep) struct cd_engine *e = NULL;
	_cleanup_(cJSON_Deletep) cJSON *j = NULL, *ended = NULL, *stale = NULL;
	struct cd_session_meta meta = {
		.id = 7,
		.active = true,
		.kind = "aerobic",
		.device_id = "ble-aa:bb:cc:dd:ee:ff",
		.device_name = "Strap",
		.transport = "ble",
		.started_at = 1700000000.5, /* 2023-11-14T22:13:20.500Z */
		.now = 14,
		.battery_pct = 80,
	};
	static const double zone_s[] = { 1, 1, 1, 2, 1, 0 };
	static const double lo[] = { 0, 100, 120, 140, 160, 180 };
	struct cd_profile p;
	double banister = 0, x;
	int i = 0;

	profile_200(&p);
	e = make_engine(&p, session, ELEMENTSOF(session));
	j = cd_session_to_json(e, &meta);
	CHECK(j != NULL);
	test_keys(j);

	CHECK_NEAR(num(j, "id"), 7, 0);
	CHECK_STR(str(j, "state"), "active");
	CHECK_STR(str(j, "kind"), "aerobic");
	CHECK_STR(str(j, "device.id"), "ble-aa:bb:cc:dd:ee:ff");
	CHECK_STR(str(j, "device.name"), "Strap");
	CHECK_STR(str(j, "device.transport"), "ble");
	CHECK_STR(str(j, "profile.name"), "alice");
	CHECK_NEAR(num(j, "profile.hr_max"), 200, 0);
	CHECK_NEAR(num(j, "profile.hr_rest"), 60, 0);
	CHECK_STR(str(j, "profile.hr_max_source"), "configured");
	CHECK_STR(str(j, "profile.sex"), "male");
	CHECK_STR(str(j, "profile.model"), "percent_max");

	CHECK_STR(str(j, "started_at"), "2023-11-14T22:13:20.500Z");
	CHECK(is_null(j, "ended_at"));
	CHECK_NEAR(num(j, "duration_s"), 14, 0);
	CHECK_NEAR(num(j, "active_s"), 6, 0);
	CHECK_NEAR(num(j, "gap_s"), 8, 0);
	CHECK_NEAR(num(j, "samples"), 8, 0);

	CHECK_NEAR(num(j, "heart_rate.current"), 95, 0);
	CHECK_NEAR(num(j, "heart_rate.avg"), 760.0 / 6, 1e-12);
	CHECK_NEAR(num(j, "heart_rate.min"), 90, 0);
	CHECK_NEAR(num(j, "heart_rate.max"), 180, 0);
	CHECK(cJSON_IsFalse(get(j, "stale")));
	CHECK_STR(str(j, "last_sample_at"), "2023-11-14T22:13:34.500Z");
	CHECK_NEAR(num(j, "zone.current"), 0, 0);
	CHECK_NEAR(num(j, "zone.pct_hr_max"), 47.5, 1e-12);

	for (const cJSON *z = get(j, "zones")->child; z && i < 6; z = z->next, i++) {
		CHECK_NEAR(num(z, "lo_bpm"), lo[i], 1e-9);
		if (i < 5)
			CHECK_NEAR(num(z, "hi_bpm"), lo[i + 1], 1e-9);
		else
			CHECK(is_null(z, "hi_bpm"));
		CHECK_NEAR(num(z, "s"), zone_s[i], 0);
		CHECK_NEAR(num(z, "rolling_s"), zone_s[i], 1e-9);
		CHECK(str(z, "name") != NULL);
	}
	CHECK_STR(str(get(j, "zones")->child, "name"), "rest");

	CHECK_NEAR(num(j, "window_s"), 600, 0);
	CHECK_NEAR(num(j, "intensity.light_s"), 3, 0);
	CHECK_NEAR(num(j, "intensity.moderate_s"), 2, 0);
	CHECK_NEAR(num(j, "intensity.vigorous_s"), 1, 0);
	CHECK_NEAR(num(j, "intensity.rolling.light_s"), 3, 1e-9);
	CHECK_NEAR(num(j, "intensity.rolling.moderate_s"), 2, 1e-9);
	CHECK_NEAR(num(j, "intensity.rolling.vigorous_s"), 1, 1e-9);
	CHECK_NEAR(num(j, "dose.mvpa_s"), 3, 0);
	CHECK_NEAR(num(j, "dose.ecb_s"), 2, 0);
	CHECK_NEAR(num(j, "dose.rolling_mvpa_s"), 3, 1e-9);
	CHECK_NEAR(num(j, "dose.rolling_ecb_s"), 2, 1e-9);
	CHECK(is_null(j, "dose.milestones.mvpa_20"));
	CHECK(is_null(j, "dose.milestones.mvpa_40"));
	CHECK(is_null(j, "dose.milestones.duration_60"));

	/* Edwards: (1×1 + 2×1 + 3×2 + 4×1) s / 60; Banister by DESIGN §3. */
	CHECK_NEAR(num(j, "load.trimp_edwards"), 13.0 / 60, 1e-12);
	for (size_t k = 0; k < 6; k++) {
		static const double a_bpm[] = { 100, 120, 140, 160, 150, 90 };

		x = (a_bpm[k] - 60) / 140;
		banister += 1.0 / 60 * x * 0.64 * exp(1.92 * x);
	}
	CHECK_NEAR(num(j, "load.trimp_banister"), banister, 1e-12);
	CHECK_NEAR(num(j, "hrv.rmssd_ms"), sqrt(18167.0 / 5), 1e-9);
	CHECK_NEAR(num(j, "hrv.rolling_rmssd_ms"), sqrt(18167.0 / 5), 1e-9);
	CHECK_NEAR(num(j, "hrv.rr_count"), 7, 0);
	CHECK_NEAR(num(j, "energy_kj"), 12.5, 0);
	CHECK_NEAR(num(j, "battery_pct"), 80, 0);

	/* Ended: ended_at is the last valid sample's time. */
	meta.active = false;
	ended = cd_session_to_json(e, &meta);
	CHECK_STR(str(ended, "state"), "ended");
	CHECK_STR(str(ended, "ended_at"), "2023-11-14T22:13:34.500Z");

	/* Stale after stale_after_s (10 s) without a valid sample: no current figures. */
	meta.now = 24;
	meta.id = 0;
	meta.kind = NULL;
	meta.battery_pct = -1;
	meta.started_at = NAN;
	stale = cd_session_to_json(e, &meta);
	CHECK(cJSON_IsTrue(get(stale, "stale")));
	CHECK(is_null(stale, "heart_rate.current"));
	CHECK(is_null(stale, "zone.current"));
	CHECK(is_null(stale, "zone.pct_hr_max"));
	CHECK_NEAR(num(stale, "heart_rate.max"), 180, 0);
	CHECK(is_null(stale, "id"));
	CHECK(is_null(stale, "kind"));
	CHECK(is_null(stale, "battery_pct"));
	CHECK(is_null(stale, "started_at"));
	CHECK(is_null(stale, "ended_at"));
	CHECK(is_null(stale, "last_sample_at"));
}

/*
 * Print, parse back.  cJSON 1.7 prints 15 significant digits (it checks the
 * round trip only approximately), so numbers come back within a relative
 * 1e-14: ample for figures shown to people, and stated in the contract.
 */
static bool close_rel(double a, double b)
{
	return fabs(a - b) <= 1e-14 * fmax(fabs(a), fabs(b));
}

static void test_round_trip(void)
{
	_cleanup_(cd_engine_freep) struct cd_engine *e = NULL;
	_cleanup_(cJSON_Deletep) cJSON *j = NULL, *back = NULL;
	_cleanup_free_ char *text = NULL;
	const struct cd_session_meta meta = { .started_at = NAN, .now = 14, .battery_pct = -1 };
	struct cd_profile p;

	profile_200(&p);
	e = make_engine(&p, session, ELEMENTSOF(session));
	j = cd_session_to_json(e, &meta);
	text = cJSON_PrintUnformatted(j);
	CHECK(text != NULL);
	back = cJSON_Parse(text);
	CHECK(back != NULL);
	CHECK(close_rel(num(back, "heart_rate.avg"), cd_engine_avg_bpm(e)));
	CHECK(close_rel(num(back, "hrv.rmssd_ms"), cd_engine_rmssd(e)));
	CHECK(close_rel(num(back, "load.trimp_banister"), cd_engine_totals(e)->trimp_banister));
	CHECK(close_rel(num(back, "load.trimp_edwards"), cd_engine_trimp_edwards(e)));
	CHECK(cJSON_Compare(j, back, true));
}

/* Nothing yet: figures are zero or null, never garbage. */
static void test_empty(void)
{
	_cleanup_(cd_engine_freep) struct cd_engine *e = NULL;
	_cleanup_(cJSON_Deletep) cJSON *j = NULL;
	const struct cd_session_meta meta = {
		.id = 1, .active = true, .started_at = 1700000000, .now = NAN, .battery_pct = -1,
	};
	struct cd_profile p;

	profile_200(&p);
	e = make_engine(&p, NULL, 0);
	j = cd_session_to_json(e, &meta);
	CHECK(j != NULL);
	test_keys(j);
	CHECK_NEAR(num(j, "samples"), 0, 0);
	CHECK_NEAR(num(j, "duration_s"), 0, 0);
	CHECK_NEAR(num(j, "active_s"), 0, 0);
	CHECK(cJSON_IsTrue(get(j, "stale")));
	CHECK(is_null(j, "heart_rate.current"));
	CHECK(is_null(j, "heart_rate.avg"));
	CHECK(is_null(j, "heart_rate.min"));
	CHECK(is_null(j, "heart_rate.max"));
	CHECK(is_null(j, "last_sample_at"));
	CHECK(is_null(j, "ended_at"));
	CHECK(is_null(j, "hrv.rmssd_ms"));
	CHECK(is_null(j, "energy_kj"));
	CHECK(is_null(j, "device.id"));
	CHECK_STR(str(j, "started_at"), "2023-11-14T22:13:20.000Z");
}

/* Milestones appear as seconds from the first sample; zones_bpm bounds. */
static void test_milestone_and_model(void)
{
	static struct cd_sample s[1301];
	_cleanup_(cd_engine_freep) struct cd_engine *e = NULL;
	_cleanup_(cJSON_Deletep) cJSON *j = NULL;
	const struct cd_session_meta meta = { .started_at = NAN, .now = 1300, .battery_pct = -1 };
	static const double bpm_bounds[] = { 95, 115, 135, 150, 170 };
	struct cd_profile p;

	profile_200(&p);
	memcpy(p.zones_bpm, bpm_bounds, sizeof(bpm_bounds));
	p.has_zones_bpm = true;
	p.model = CD_MODEL_ZONES_BPM;
	for (size_t i = 0; i < ELEMENTSOF(s); i++)
		s[i] = (struct cd_sample){ .t = 100 + (double)i, .bpm = 150,
					   .contact = CD_CONTACT_OK, .energy_kj = NAN };
	e = make_engine(&p, s, ELEMENTSOF(s));
	j = cd_session_to_json(e, &meta);
	CHECK_NEAR(num(j, "dose.milestones.mvpa_20"), 1200, 0);
	CHECK(is_null(j, "dose.milestones.mvpa_40"));
	CHECK_NEAR(num(j, "dose.mvpa_s"), 1300, 0);
	CHECK_NEAR(num(j, "dose.rolling_mvpa_s"), 600, 1e-9);
	CHECK_STR(str(j, "profile.model"), "zones_bpm");
	CHECK_NEAR(num(j, "zone.current"), 4, 0); /* 150 is on the Z4 bound: upper zone */
	CHECK_NEAR(num(get(j, "zones")->child->next, "lo_bpm"), 95, 0);
	CHECK_NEAR(num(get(j, "zones")->child->next, "hi_bpm"), 115, 0);
	/* Z4 held 1300 s in the session, 600 s in the window: rolling_s is the window's. */
	{
		const cJSON *z4 = get(j, "zones")->child->next->next->next->next;

		CHECK_NEAR(num(z4, "s"), 1300, 0);
		CHECK_NEAR(num(z4, "rolling_s"), 600, 1e-9);
	}
	CHECK(is_null(j, "profile.age")); /* hr_max configured, no age: null, not 0 */
}

/* zone.current is the zone of the last valid sample; battery 0 % is a value;
 * a configured age is shown. */
static void test_current_and_battery(void)
{
	static const struct cd_sample s[] = {
		{ .t = 0, .bpm = 100, .contact = CD_CONTACT_OK, .energy_kj = NAN },  /* Z1 */
		{ .t = 1, .bpm = 170, .contact = CD_CONTACT_OK, .energy_kj = NAN },  /* Z4 */
		{ .t = 2, .bpm = 150, .contact = CD_CONTACT_OK, .energy_kj = NAN },  /* Z3 */
	};
	_cleanup_(cd_engine_freep) struct cd_engine *e = NULL;
	_cleanup_(cJSON_Deletep) cJSON *j = NULL;
	const struct cd_session_meta meta = { .started_at = NAN, .now = 2, .battery_pct = 0 };
	struct cd_profile p;

	profile_200(&p);
	CHECK_INT(cd_profile_set_age(&p, 30), 0);
	e = make_engine(&p, s, ELEMENTSOF(s));
	j = cd_session_to_json(e, &meta);
	CHECK_NEAR(num(j, "zone.current"), 3, 0);
	CHECK_NEAR(num(j, "heart_rate.current"), 150, 0);
	CHECK_NEAR(num(j, "zone.pct_hr_max"), 75, 1e-12);
	CHECK_NEAR(num(j, "battery_pct"), 0, 0);
	CHECK_NEAR(num(j, "profile.age"), 30, 0);
}

/* Days from 1970-01-01 of proleptic Gregorian dates, and back (the era
 * arithmetic of negative years and the March-based year included):
 * 0000-03-01 is day −719468, and 400 years are 146097 days. */
static void test_civil(void)
{
	static const struct {
		int64_t y;
		unsigned m, d;
		int64_t days;
	} v[] = {
		{ 1970, 1, 1, 0 },
		{ 1969, 12, 31, -1 },
		{ 2000, 2, 28, 11015 },
		{ 2000, 2, 29, 11016 },
		{ 2000, 3, 1, 11017 },
		{ 2100, 2, 28, 47540 },
		{ 2100, 3, 1, 47541 },
		{ 0, 1, 1, -719528 },
		{ 0, 2, 29, -719469 },
		{ 0, 3, 1, -719468 },
		{ -1, 12, 31, -719529 },
		{ -400, 3, 1, -719468 - 146097 },
		{ -400, 2, 29, -719468 - 146097 - 1 },
		{ 2400, 3, 1, -719468 + 6 * 146097 },
	};

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		int64_t y;
		unsigned m, d;

		CHECK_INT(cd_days_from_civil(v[i].y, v[i].m, v[i].d), v[i].days);
		cd_civil_from_days(v[i].days, &y, &m, &d);
		CHECK_INT(y, v[i].y);
		CHECK_INT(m, v[i].m);
		CHECK_INT(d, v[i].d);
	}
}

static void test_iso8601(void)
{
	static const struct {
		double t;
		const char *s;
	} v[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 0.0004, "1970-01-01T00:00:00.000Z" },
		{ 0.9996, "1970-01-01T00:00:01.000Z" },
		{ 0.0025, "1970-01-01T00:00:00.003Z" }, /* half a millisecond rounds away from 0 */
		{ -0.0025, "1969-12-31T23:59:59.997Z" },
		{ -0.001, "1969-12-31T23:59:59.999Z" },
		{ -86400, "1969-12-31T00:00:00.000Z" },
		{ 951782400, "2000-02-29T00:00:00.000Z" },
		{ 1700000000.5, "2023-11-14T22:13:20.500Z" },
		{ 4107542399.25, "2100-02-28T23:59:59.250Z" },
		{ 4107542400, "2100-03-01T00:00:00.000Z" },
		{ -62167219200, "0000-01-01T00:00:00.000Z" },
		{ 253402300799.999, "9999-12-31T23:59:59.999Z" },
	};
	char buf[32];

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		CHECK_INT(cd_format_iso8601(v[i].t, buf, sizeof(buf)), 0);
		CHECK_STR(buf, v[i].s);
	}
	CHECK_INT(cd_format_iso8601(NAN, buf, sizeof(buf)), -EINVAL);
	CHECK_INT(cd_format_iso8601(INFINITY, buf, sizeof(buf)), -EINVAL);
	CHECK_INT(cd_format_iso8601(253402300800.0, buf, sizeof(buf)), -EINVAL);
	CHECK_INT(cd_format_iso8601(-62167219201.0, buf, sizeof(buf)), -EINVAL);
	CHECK_INT(cd_format_iso8601(0, buf, 24), -EINVAL); /* needs 25 with the NUL */
	CHECK_INT(cd_format_iso8601(0, buf, 25), 0);
}

int main(void)
{
	test_values();
	test_round_trip();
	test_empty();
	test_milestone_and_model();
	test_iso8601();
	test_current_and_battery();
	test_civil();
	return check_exit("test-session-json");
}
