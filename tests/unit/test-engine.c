/* SPDX-License-Identifier: MIT */
/* The metrics engine against hand-computed cases of DESIGN §3. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine.h"

static struct cd_profile profile(double hr_max)
{
	struct cd_profile p;

	cd_profile_init(&p);
	CHECK(cd_profile_set_hr_max(&p, hr_max) == 0);
	return p;
}

static struct cd_engine *engine(const struct cd_profile *p, const struct cd_engine_observer *o)
{
	struct cd_engine_config c;
	struct cd_engine *e = NULL;

	cd_engine_config_init(&c);
	CHECK(cd_engine_new(p, &c, o, &e) == 0);
	return e;
}

static int feed_rr(struct cd_engine *e, double t, double bpm, enum cd_contact c, const double *rr,
		   size_t n)
{
	struct cd_sample s = {
		.t = t, .bpm = bpm, .contact = c, .energy_kj = NAN, .rr_ms = rr, .n_rr = n,
	};
	return cd_engine_add(e, &s);
}

static int feed(struct cd_engine *e, double t, double bpm)
{
	return feed_rr(e, t, bpm, CD_CONTACT_UNKNOWN, NULL, 0);
}

static void test_dwell_and_gaps(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);
	const struct cd_engine_totals *t = cd_engine_totals(e);

	/* hr_max 200: 100 bpm Z1 light, 140 bpm Z3 moderate + ECB, 170 Z4 vigorous. */
	CHECK_INT(feed(e, 0, 100), 1);   /* first sample attributes nothing */
	CHECK_INT(feed(e, 5, 140), 1);   /* dt 5 = max_gap_s: attributed to Z1 */
	CHECK_INT(feed(e, 10.001, 170), 1); /* dt 5.001 > max_gap_s: a gap */
	CHECK_INT(feed(e, 14, 170), 1);  /* dt 3.999: attributed to Z4 */
	CHECK_INT(feed(e, 16, 100), 1);  /* dt 2: Z4 */

	CHECK_INT(t->samples, 5);
	CHECK_NEAR(t->duration_s, 16, 1e-12);
	CHECK_NEAR(t->active_s, 5 + 3.999 + 2, 1e-12);
	CHECK_NEAR(t->gap_s, 5.001, 1e-12);
	CHECK_NEAR(t->zone_s[CD_ZONE_1], 5, 1e-12);
	CHECK_NEAR(t->zone_s[CD_ZONE_3], 0, 0); /* 140 was held across the gap: nothing */
	CHECK_NEAR(t->zone_s[CD_ZONE_4], 5.999, 1e-12);
	CHECK_NEAR(t->intensity_s[CD_INTENSITY_LIGHT], 5, 1e-12);
	CHECK_NEAR(t->intensity_s[CD_INTENSITY_VIGOROUS], 5.999, 1e-12);
	CHECK_NEAR(t->mvpa_s, 5.999, 1e-12);
	CHECK_NEAR(t->ecb_s, 0, 0);
	CHECK_NEAR(t->bpm_min, 100, 0);
	CHECK_NEAR(t->bpm_max, 170, 0);
	/* avg: (100·5 + 170·3.999 + 170·2) / 10.999 */
	CHECK_NEAR(cd_engine_avg_bpm(e), (500 + 170 * 3.999 + 340) / 10.999, 1e-9);
	/* Edwards: 1 × 5/60 + 4 × 5.999/60 */
	CHECK_NEAR(cd_engine_trimp_edwards(e), (5 + 4 * 5.999) / 60, 1e-12);
	/* Zone seconds sum to active_s. */
	{
		double sum = 0;
		for (int z = 0; z < _CD_ZONE_MAX; z++)
			sum += t->zone_s[z];
		CHECK_NEAR(sum, t->active_s, 1e-9);
	}
	cd_engine_free(e);
}

static void test_invalid_samples(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);
	const struct cd_engine_totals *t = cd_engine_totals(e);
	const double rr[] = { 600 };

	CHECK(isnan(cd_engine_avg_bpm(e)));
	CHECK(cd_engine_is_stale(e, 0));
	CHECK_INT(feed(e, 0, 0), 0);    /* 0 bpm: invalid, no session start */
	CHECK_INT(feed(e, 1, 255), 0);  /* 255: above 240 */
	CHECK_INT(feed(e, 1.5, 29.9), 0);
	CHECK_INT(t->samples, 0);
	CHECK(isnan(t->t_first));
	CHECK_INT(feed(e, 2, 30), 1);   /* 30 and 240 are valid */
	CHECK_INT(feed(e, 3, 240), 1);
	CHECK_INT(feed_rr(e, 4, 120, CD_CONTACT_LOST, rr, 1), 0); /* contact not detected */
	CHECK_INT(feed_rr(e, 5, 120, CD_CONTACT_OK, NULL, 0), 1);
	CHECK_INT(feed(e, 4.5, 120), 0); /* time going backwards */
	CHECK_INT(feed(e, NAN, 120), 0);
	CHECK_INT(t->samples, 3);
	CHECK_NEAR(t->t_first, 2, 0);
	/* Invalid samples are absent: 30 held 2→3, 240 held 3→5 (dt 2 ≤ 5). */
	CHECK_NEAR(t->active_s, 3, 1e-12);
	CHECK_NEAR(t->zone_s[CD_ZONE_0], 1, 1e-12);
	CHECK_NEAR(t->zone_s[CD_ZONE_5], 2, 1e-12);
	CHECK_INT(t->rr_count, 0); /* RR of the dropped sample dropped too */
	CHECK_NEAR(t->bpm_min, 30, 0);
	CHECK_NEAR(t->bpm_max, 240, 0);
	CHECK_NEAR(t->t_seen, 5, 0);
	cd_engine_free(e);
}

static void test_stale(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);

	feed(e, 100, 120);
	CHECK(!cd_engine_is_stale(e, 100));
	CHECK(!cd_engine_is_stale(e, 109.9));
	CHECK(cd_engine_is_stale(e, 110)); /* stale_after_s = 10 */
	feed(e, 105, 0);                   /* an invalid sample does not refresh */
	CHECK(cd_engine_is_stale(e, 110));
	cd_engine_free(e);
}

static void test_rolling_partial_overlap(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine_config c;
	struct cd_engine *e = NULL;
	struct cd_engine_rolling r;

	cd_engine_config_init(&c);
	c.window_s = 10;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == 0);
	/* 100 bpm (Z1) from 0 to 8, in 4 s steps; 140 (Z3, ECB, moderate) 8 → 16 in 4 s steps. */
	feed(e, 0, 100);
	feed(e, 4, 100);
	feed(e, 8, 140);
	feed(e, 12, 140);
	feed(e, 16, 140);
	/* Window (6, 16]: Z1 interval [4,8] contributes 2 s, Z3 [8,16] 8 s. */
	cd_engine_rolling(e, &r);
	CHECK_NEAR(r.zone_s[CD_ZONE_1], 2, 1e-12);
	CHECK_NEAR(r.zone_s[CD_ZONE_3], 8, 1e-12);
	CHECK_NEAR(r.active_s, 10, 1e-12);
	CHECK_NEAR(r.ecb_s, 8, 1e-12);
	CHECK_NEAR(r.mvpa_s, 8, 1e-12);
	CHECK_NEAR(r.intensity_s[CD_INTENSITY_LIGHT], 2, 1e-12);
	/* A gap clears the window of whatever lies before it. */
	feed(e, 30, 100);
	cd_engine_rolling(e, &r);
	CHECK_NEAR(r.active_s, 0, 0);
	feed(e, 33, 100);
	cd_engine_rolling(e, &r);
	CHECK_NEAR(r.zone_s[CD_ZONE_1], 3, 1e-12);
	CHECK_NEAR(r.zone_s[CD_ZONE_3], 0, 1e-12);
	/* Rolling never exceeds the session. */
	{
		const struct cd_engine_totals *t = cd_engine_totals(e);
		for (int z = 0; z < _CD_ZONE_MAX; z++)
			CHECK(r.zone_s[z] <= t->zone_s[z] + 1e-9);
	}
	cd_engine_free(e);
}

struct recorder {
	int n;
	enum cd_milestone m[8];
	double at[8];
	int zone_changes;
};

static void on_milestone(void *userdata, enum cd_milestone m, double at_s)
{
	struct recorder *r = userdata;

	if (r->n < 8) {
		r->m[r->n] = m;
		r->at[r->n] = at_s;
	}
	r->n++;
}

static void on_zone(void *userdata, enum cd_zone old_zone, enum cd_zone new_zone)
{
	struct recorder *r = userdata;

	CHECK(old_zone != new_zone);
	r->zone_changes++;
}

static void test_milestones(void)
{
	struct cd_profile p = profile(200);
	struct recorder rec = { 0 };
	struct cd_engine_observer o = { .milestone = on_milestone, .zone_changed = on_zone,
					.userdata = &rec };
	struct cd_engine *e = engine(&p, &o);
	const struct cd_engine_totals *t = cd_engine_totals(e);

	/* Start at t = 1000 so that "seconds from the first sample" is visible. */
	feed(e, 1000, 140); /* moderate */
	for (int i = 1; i <= 1199; i++)
		feed(e, 1000 + i, 140);
	CHECK_INT(rec.n, 0);
	CHECK_NEAR(t->mvpa_s, 1199, 0);
	feed(e, 2200, 140); /* MVPA reaches exactly 1200 s */
	CHECK_INT(rec.n, 1);
	CHECK_INT(rec.m[0], CD_MILESTONE_MVPA_20);
	CHECK_NEAR(rec.at[0], 1200, 0);
	CHECK_NEAR(t->milestone_at[CD_MILESTONE_MVPA_20], 1200, 0);
	/* Light minutes count to duration_60 but not to MVPA. */
	for (int i = 1; i <= 2400; i++)
		feed(e, 2200 + i, 100);
	CHECK_INT(rec.n, 2);
	CHECK_INT(rec.m[1], CD_MILESTONE_DURATION_60);
	CHECK_NEAR(rec.at[1], 3600, 0);
	CHECK(isnan(t->milestone_at[CD_MILESTONE_MVPA_40]));
	/* A gap, then more MVPA; the milestone is reported once. */
	feed(e, 5000, 170);
	for (int i = 1; i <= 1200; i++)
		feed(e, 5000 + i, 170);
	CHECK_INT(rec.n, 3);
	CHECK_INT(rec.m[2], CD_MILESTONE_MVPA_40);
	/* The 140 bpm held over 2200 → 2201 already counted one second of MVPA. */
	CHECK_NEAR(rec.at[2], 5000 + 1199 - 1000, 0);
	for (int i = 1201; i <= 1300; i++)
		feed(e, 5000 + i, 170);
	CHECK_INT(rec.n, 3);
	CHECK_INT(rec.zone_changes, 2); /* Z3 → Z1 → Z4 */
	cd_engine_free(e);
}

static void test_rr_filter(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);
	const struct cd_engine_totals *t = cd_engine_totals(e);
	/*
	 * 1000 → 1100: +100, 10 % → counted.
	 * 1100 → 299: out of range, dropped; 1100 → 1320: +220 = 20 % of 1100 → counted (edge).
	 * 1320 → 1055: −265 > 264 (20 %) → not counted, but 1055 becomes the predecessor.
	 * 1055 → 2001: dropped; 1055 → 1000: −55 → counted.
	 */
	const double rr1[] = { 1000, 1100 };
	const double rr2[] = { 299, 1320, 1055 };
	const double rr3[] = { 2001, 1000 };

	CHECK(isnan(cd_engine_rmssd(e)));
	feed_rr(e, 0, 60, CD_CONTACT_OK, rr1, 2);
	CHECK_INT(t->rr_diffs, 1);
	CHECK(isnan(cd_engine_rmssd(e))); /* fewer than 2 differences: null */
	feed_rr(e, 1, 60, CD_CONTACT_OK, rr2, 3);
	feed_rr(e, 2, 60, CD_CONTACT_OK, rr3, 2);
	CHECK_INT(t->rr_count, 5);
	CHECK_INT(t->rr_diffs, 3);
	CHECK_NEAR(cd_engine_rmssd(e), sqrt((100.0 * 100 + 220.0 * 220 + 55.0 * 55) / 3), 1e-9);
	/* 300 and 2000 are kept. */
	{
		const double edge[] = { 300, 2000 };
		feed_rr(e, 3, 60, CD_CONTACT_OK, edge, 2);
		CHECK_INT(t->rr_count, 7);
	}
	cd_engine_free(e);
}

static void test_rolling_rmssd(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine_config c;
	struct cd_engine *e = NULL;

	cd_engine_config_init(&c);
	c.window_s = 10;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == 0);
	/* Beats alternate 800/840: every difference is 40 ms, except a later 900/860 pair. */
	for (int i = 0; i <= 20; i++) {
		double rr = (i % 2) ? 840 : 800;
		feed_rr(e, i, 75, CD_CONTACT_OK, &rr, 1);
	}
	CHECK_NEAR(cd_engine_rmssd(e), 40, 1e-9);
	CHECK_NEAR(cd_engine_rolling_rmssd(e), 40, 1e-9);
	{
		double a = 900, b = 870;
		feed_rr(e, 21, 75, CD_CONTACT_OK, &a, 1); /* |900 − 800| = 100 ≤ 160 */
		feed_rr(e, 22, 75, CD_CONTACT_OK, &b, 1); /* 30 */
	}
	/* Window (12, 22]: beats at 13..22 → pairs with earlier beat in 13..21: 9 pairs,
	 * 7 of 40 ms (13→14 … 19→20), 20→21: 100, 21→22: 30. */
	CHECK_NEAR(cd_engine_rolling_rmssd(e), sqrt((7 * 1600.0 + 10000 + 900) / 9), 1e-9);
	cd_engine_free(e);
}

static void test_banister(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e;
	double x = (140.0 - 60) / (200 - 60);

	/* Male: 2 minutes at 140 bpm. */
	e = engine(&p, NULL);
	feed(e, 0, 140);
	for (int i = 1; i <= 24; i++)
		feed(e, i * 5, 140);
	CHECK_NEAR(cd_engine_totals(e)->trimp_banister, 2 * x * 0.64 * exp(1.92 * x), 1e-9);
	cd_engine_free(e);

	p.sex = CD_SEX_FEMALE;
	e = engine(&p, NULL);
	feed(e, 0, 140);
	for (int i = 1; i <= 24; i++)
		feed(e, i * 5, 140);
	CHECK_NEAR(cd_engine_totals(e)->trimp_banister, 2 * x * 0.86 * exp(1.67 * x), 1e-9);
	cd_engine_free(e);

	/* Below rest clamps to 0, above max to 1. */
	e = engine(&p, NULL);
	feed(e, 0, 50);
	feed(e, 60, 50);
	feed(e, 61, 240);
	feed(e, 62, 240);
	CHECK_NEAR(cd_engine_totals(e)->trimp_banister, (1 / 60.0) * 0.86 * exp(1.67), 1e-12);
	cd_engine_free(e);
}

/* Deterministic PRNG (xorshift64) for the property tests. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / (double)(1ull << 53);
}

/* Edwards TRIMP counts every zone k = 1..5 with weight k, Z5 included. */
static void test_edwards_all_zones(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);
	/* One minute each at 100 (Z1), 120 (Z2), 140 (Z3), 160 (Z4), 180 (Z5), 90 (Z0). */
	static const double bpm[] = { 100, 120, 140, 160, 180, 90 };
	double t = 0;

	feed(e, t, bpm[0]);
	for (int z = 0; z < 6; z++)
		for (int i = 0; i < 12; i++) {
			t += 5;
			feed(e, t, i == 11 && z < 5 ? bpm[z + 1] : bpm[z]);
		}
	CHECK_NEAR(cd_engine_totals(e)->zone_s[CD_ZONE_5], 60, 1e-9);
	CHECK_NEAR(cd_engine_totals(e)->zone_s[CD_ZONE_0], 60, 1e-9);
	/* 1 + 2 + 3 + 4 + 5 = 15; Z0 weighs nothing. */
	CHECK_NEAR(cd_engine_trimp_edwards(e), 15, 1e-9);
	cd_engine_free(e);

	/* Z5 alone: two minutes at 190 bpm = 10. */
	e = engine(&p, NULL);
	for (int i = 0; i <= 24; i++)
		feed(e, i * 5, 190);
	CHECK_NEAR(cd_engine_trimp_edwards(e), 10, 1e-9);
	cd_engine_free(e);
}

/*
 * Two samples at the same instant: both are counted (engine.h: only invalid
 * ones and time going backwards are dropped), no time is attributed between
 * them, and the later one's heart rate is held from then on.
 */
static void test_equal_timestamps(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);
	const struct cd_engine_totals *t = cd_engine_totals(e);
	const double rr1[] = { 1000 }, rr2[] = { 1100 };

	CHECK_INT(feed(e, 0, 100), 1);
	CHECK_INT(feed_rr(e, 2, 100, CD_CONTACT_OK, rr1, 1), 1);
	CHECK_INT(feed_rr(e, 2, 170, CD_CONTACT_OK, rr2, 1), 1); /* same instant */
	CHECK_INT(feed(e, 4, 100), 1);
	CHECK_INT(t->samples, 4);
	CHECK_NEAR(t->active_s, 4, 0);
	CHECK_NEAR(t->zone_s[CD_ZONE_1], 2, 0); /* 0 → 2 at 100 */
	CHECK_NEAR(t->zone_s[CD_ZONE_4], 2, 0); /* 2 → 4 at 170, the later sample */
	CHECK_NEAR(t->bpm_max, 170, 0);
	CHECK_INT(t->rr_count, 2); /* the RR of both samples kept */
	CHECK_INT(t->rr_diffs, 1);
	CHECK_NEAR(t->rr_sq_sum, 100 * 100, 0);
	cd_engine_free(e);
}

/* RR bounds 300 and 2000 ms included, anything beyond dropped. */
static void test_rr_bounds(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);
	const struct cd_engine_totals *t = cd_engine_totals(e);
	const double lo[] = { 299.99, 300, 300 }, hi[] = { 2000.01, 2000, 2000 };

	feed_rr(e, 0, 60, CD_CONTACT_OK, lo, 3);
	CHECK_INT(t->rr_count, 2);
	CHECK_INT(t->rr_diffs, 1); /* 300 → 300 */
	feed_rr(e, 1, 60, CD_CONTACT_OK, hi, 3);
	CHECK_INT(t->rr_count, 4);
	CHECK_INT(t->rr_diffs, 2); /* 300 → 2000 is not counted, 2000 → 2000 is */
	CHECK_NEAR(cd_engine_rmssd(e), 0, 0);
	cd_engine_free(e);
}

/* 20 % of the PREVIOUS interval: 1000 → 800 counts (200 ≤ 200), 800 → 960
 * counts (160 ≤ 160), 960 → 1160 does not (200 > 192). */
static void test_rr_relative_to_previous(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);
	const struct cd_engine_totals *t = cd_engine_totals(e);
	const double rr[] = { 1000, 800, 960, 1160 };

	feed_rr(e, 0, 60, CD_CONTACT_OK, rr, 4);
	CHECK_INT(t->rr_diffs, 2);
	CHECK_NEAR(cd_engine_rmssd(e), sqrt((200.0 * 200 + 160.0 * 160) / 2), 1e-9);
	cd_engine_free(e);
}

/* rmssd is null with one counted difference and a value with two, for the
 * session and for the window alike. */
static void test_rmssd_two_differences(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine *e = engine(&p, NULL);
	const double a[] = { 800, 850 }, b[] = { 830 };

	feed_rr(e, 0, 60, CD_CONTACT_OK, a, 2);
	CHECK_INT(cd_engine_totals(e)->rr_diffs, 1);
	CHECK(isnan(cd_engine_rmssd(e)));
	CHECK(isnan(cd_engine_rolling_rmssd(e)));
	feed_rr(e, 1, 60, CD_CONTACT_OK, b, 1);
	CHECK_INT(cd_engine_totals(e)->rr_diffs, 2);
	CHECK_NEAR(cd_engine_rmssd(e), sqrt((50.0 * 50 + 20.0 * 20) / 2), 1e-9);
	CHECK_NEAR(cd_engine_rolling_rmssd(e), sqrt((50.0 * 50 + 20.0 * 20) / 2), 1e-9);
	cd_engine_free(e);
}

/* Stale exactly at stale_after_s after the last valid sample, whatever it is set to. */
static void test_stale_configured(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine_config c;
	struct cd_engine *e = NULL;

	cd_engine_config_init(&c);
	CHECK_NEAR(c.stale_after_s, 10, 0);
	CHECK_NEAR(c.max_gap_s, 5, 0);
	CHECK_NEAR(c.window_s, 600, 0);
	c.stale_after_s = 2.5;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == 0);
	CHECK(cd_engine_is_stale(e, 0)); /* nothing yet */
	feed(e, 10, 120);
	CHECK(!cd_engine_is_stale(e, 12.25));
	CHECK(cd_engine_is_stale(e, 12.5)); /* exactly stale_after_s: stale */
	feed(e, 12.5, 120);
	CHECK(!cd_engine_is_stale(e, 12.5));
	CHECK(!cd_engine_is_stale(e, 14.75));
	CHECK(cd_engine_is_stale(e, 15));
	cd_engine_free(e);
}

/* The window is (t_last − window_s, t_last]: what ends exactly at its start
 * is out, what starts there is in. */
static void test_window_start(void)
{
	struct cd_profile p = profile(200);
	struct cd_engine_config c;
	struct cd_engine *e = NULL;
	struct cd_engine_rolling r;
	const double rr1[] = { 800 }, rr2[] = { 840 }, rr3[] = { 820 }, rr4[] = { 860 };

	cd_engine_config_init(&c);
	c.window_s = 10;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == 0);
	feed_rr(e, 0, 100, CD_CONTACT_OK, rr1, 1);  /* Z1 from 0 */
	feed_rr(e, 4, 140, CD_CONTACT_OK, rr2, 1);  /* Z3 from 4 */
	feed_rr(e, 8, 140, CD_CONTACT_OK, rr3, 1);
	feed_rr(e, 12, 140, CD_CONTACT_OK, rr4, 1);
	feed(e, 13.5, 140);
	/* Window (3.5, 13.5]: half a second of Z1; the RR pairs of beats
	 * (4, 8) and (8, 12) are in, (0, 4) is not. */
	cd_engine_rolling(e, &r);
	CHECK_NEAR(r.zone_s[CD_ZONE_1], 0.5, 0);
	CHECK_NEAR(r.zone_s[CD_ZONE_3], 9.5, 1e-12);
	CHECK_NEAR(cd_engine_rolling_rmssd(e), sqrt((20.0 * 20 + 40.0 * 40) / 2), 1e-9);
	feed(e, 14, 140);
	/* Window (4, 14]: [0, 4] of Z1 ends on its start and is out; so is the
	 * beat at 4, so only the pair (8, 12) is in: one difference, null. */
	cd_engine_rolling(e, &r);
	CHECK_NEAR(r.zone_s[CD_ZONE_1], 0, 0);
	CHECK_NEAR(r.zone_s[CD_ZONE_3], 10, 1e-12);
	CHECK_NEAR(r.active_s, 10, 1e-12);
	CHECK_NEAR(r.intensity_s[CD_INTENSITY_LIGHT], 0, 0);
	CHECK(isnan(cd_engine_rolling_rmssd(e)));
	CHECK_NEAR(cd_engine_rmssd(e), sqrt((40.0 * 40 + 20.0 * 20 + 40.0 * 40) / 3), 1e-9);
	cd_engine_free(e);
}

/*
 * An independent model of DESIGN §3 for the randomised tests: its own zone,
 * intensity and band functions (percent_max, default bounds), its own RR
 * filter, recomputing every figure from the raw samples by a full rescan.
 * It shares no code with lib/: a slip in either shows as a difference.
 */
struct ref_sample {
	double t, bpm;
	int n_rr;
	double rr[4];
};

static int ref_zone(double hr_max, double bpm)
{
	static const double bounds[5] = { 50, 60, 70, 80, 90 };
	double pct = 100.0 * bpm / hr_max;
	int z = 0;

	for (int k = 0; k < 5; k++)
		if (pct >= bounds[k])
			z = k + 1; /* on a bound: the upper zone */
	return z;
}

static int ref_intensity(double hr_max, double bpm)
{
	double pct = 100.0 * bpm / hr_max;

	return pct < 64 ? 0 : pct < 77 ? 1 : 2;
}

static bool ref_ecb(double hr_max, double bpm)
{
	double pct = 100.0 * bpm / hr_max;

	return pct >= 70 && pct < 80;
}

struct ref_figures {
	double zone_s[6], intensity_s[3], ecb_s, active_s, gap_s, bpm_dt, edwards, banister;
	double roll_zone_s[6], roll_intensity_s[3], roll_ecb_s, roll_active_s;
	double rmssd, roll_rmssd;
};

/* A rescan of the accepted samples s[0..n-1] (valid, in time order). */
static void ref_compute(const struct ref_sample *s, int n, double hr_max, double hr_rest,
			double max_gap, double window, struct ref_figures *f)
{
	double start = s[n - 1].t - window; /* window (t_last − window_s, t_last] */
	double prev_rr = 0, prev_rr_t = 0, sq = 0, roll_sq = 0;
	int have_rr = 0, diffs = 0, roll_diffs = 0;

	memset(f, 0, sizeof(*f));
	for (int i = 1; i < n; i++) {
		double dt = s[i].t - s[i - 1].t, in;
		double bpm = s[i - 1].bpm;
		int z = ref_zone(hr_max, bpm), k = ref_intensity(hr_max, bpm);
		double x = (bpm - hr_rest) / (hr_max - hr_rest);

		if (dt > max_gap) {
			f->gap_s += dt;
			continue;
		}
		f->active_s += dt;
		f->zone_s[z] += dt;
		f->intensity_s[k] += dt;
		f->ecb_s += ref_ecb(hr_max, bpm) ? dt : 0;
		f->bpm_dt += bpm * dt;
		x = fmin(fmax(x, 0), 1);
		f->banister += dt / 60 * x * 0.64 * exp(1.92 * x);
		/* The part of [t_{i-1}, t_i] inside the window. */
		in = s[i].t - fmax(s[i - 1].t, start);
		if (in > 0) {
			f->roll_zone_s[z] += in;
			f->roll_intensity_s[k] += in;
			f->roll_ecb_s += ref_ecb(hr_max, bpm) ? in : 0;
			f->roll_active_s += in;
		}
	}
	for (int z = 1; z <= 5; z++)
		f->edwards += z * f->zone_s[z] / 60;
	/* HRV: RR in [300, 2000]; a difference counts when within 20 % of the
	 * previous RR; in the window when both beats are. */
	for (int i = 0; i < n; i++)
		for (int k = 0; k < s[i].n_rr; k++) {
			double v = s[i].rr[k];

			if (v < 300 || v > 2000)
				continue;
			if (have_rr && fabs(v - prev_rr) <= 0.2 * prev_rr) {
				sq += (v - prev_rr) * (v - prev_rr);
				diffs++;
				if (prev_rr_t > start) {
					roll_sq += (v - prev_rr) * (v - prev_rr);
					roll_diffs++;
				}
			}
			have_rr = 1;
			prev_rr = v;
			prev_rr_t = s[i].t;
		}
	f->rmssd = diffs >= 2 ? sqrt(sq / diffs) : NAN;
	f->roll_rmssd = roll_diffs >= 2 ? sqrt(roll_sq / roll_diffs) : NAN;
}

/*
 * Random streams on a 0.25 s grid (so that a gap of exactly max_gap_s or an
 * interval ending exactly at the window start happens, and compares
 * exactly), with heart rates often exactly on a zone, intensity or band
 * bound, invalid samples, contact lost, repeated and backward timestamps,
 * and RR on and just beyond their bounds (or, dense_rr, four counted RR per
 * sample, so that the rings must grow).  After every sample every figure
 * must equal the rescan.
 */
static void test_against_rescan(double window_s, bool dense_rr)
{
	/* hr_max 200: zone bounds 100,120,140,160,180; intensity 128, 154; band 140–160. */
	static const double edge_bpm[] = { 30, 99, 100, 119, 120, 127, 128, 139, 140, 153, 154,
					   159, 160, 179, 180, 240 };
	static const double edge_rr[] = { 299.9, 300, 2000, 2000.1, 800, 960, 961, 640, 639 };
	enum { N = 4000 };
	static struct ref_sample acc[N];
	struct cd_profile p = profile(200);
	struct cd_engine_config c;
	struct cd_engine *e = NULL;
	double t = 1000;
	int n = 0;

	cd_engine_config_init(&c);
	c.window_s = window_s;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == 0);
	for (int i = 0; i < N; i++) {
		double u = rnd(), rr[4], bpm;
		struct cd_sample smp;
		struct ref_figures f;
		struct cd_engine_rolling r;
		const struct cd_engine_totals *tt = cd_engine_totals(e);
		int want, got, n_rr = dense_rr ? 4 : (int)(rnd() * 4.99);

		/* Steps: mostly 0.25–2 s; sometimes 0 (same instant), exactly 5 s,
		 * 5.25 s (a gap), or back in time. */
		if (u < 0.03)
			t += 0;
		else if (u < 0.06)
			t += 5;
		else if (u < 0.08)
			t += 5.25;
		else if (u < 0.10)
			t -= 0.25 * (1 + (int)(rnd() * 8));
		else
			t += 0.25 * (1 + (int)(rnd() * 8));
		bpm = rnd() < 0.5 ? edge_bpm[(int)(rnd() * 16)] : 40 + (int)(rnd() * 1600) / 10.0;
		if (rnd() < 0.03)
			bpm = rnd() < 0.5 ? 29.9 : 240.5; /* invalid */
		for (int k = 0; k < n_rr; k++)
			if (dense_rr) /* within 20 % of each other: nearly every difference counts */
				rr[k] = 800 + (int)(rnd() * 100);
			else
				rr[k] = rnd() < 0.3 ? edge_rr[(int)(rnd() * 9)] : 600 + (int)(rnd() * 400);
		smp = (struct cd_sample){
			.t = t, .bpm = bpm,
			.contact = rnd() < 0.03 ? CD_CONTACT_LOST : CD_CONTACT_OK,
			.energy_kj = NAN, .rr_ms = rr, .n_rr = (size_t)n_rr,
		};
		/* Accepted: valid (30 ≤ bpm ≤ 240, contact not lost) and not before
		 * the last accepted sample (engine.h: time going backwards is dropped). */
		want = bpm >= 30 && bpm <= 240 && smp.contact != CD_CONTACT_LOST &&
		       (n == 0 || t >= acc[n - 1].t);
		got = cd_engine_add(e, &smp);
		CHECK_INT(got, want);
		if (want) {
			acc[n] = (struct ref_sample){ .t = t, .bpm = bpm, .n_rr = n_rr };
			memcpy(acc[n].rr, rr, sizeof(rr));
			n++;
		}
		if (n == 0)
			continue;
		ref_compute(acc, n, 200, 60, c.max_gap_s, c.window_s, &f);
		cd_engine_rolling(e, &r);
		CHECK_INT(tt->samples, n);
		CHECK_NEAR(tt->active_s, f.active_s, 1e-6);
		CHECK_NEAR(tt->gap_s, f.gap_s, 1e-6);
		CHECK_NEAR(tt->duration_s, acc[n - 1].t - acc[0].t, 1e-9);
		for (int z = 0; z < 6; z++) {
			CHECK_NEAR(tt->zone_s[z], f.zone_s[z], 1e-6);
			CHECK_NEAR(r.zone_s[z], f.roll_zone_s[z], 1e-6);
		}
		for (int k = 0; k < 3; k++) {
			CHECK_NEAR(tt->intensity_s[k], f.intensity_s[k], 1e-6);
			CHECK_NEAR(r.intensity_s[k], f.roll_intensity_s[k], 1e-6);
		}
		CHECK_NEAR(tt->mvpa_s, f.intensity_s[1] + f.intensity_s[2], 1e-6);
		CHECK_NEAR(r.mvpa_s, f.roll_intensity_s[1] + f.roll_intensity_s[2], 1e-6);
		CHECK_NEAR(tt->ecb_s, f.ecb_s, 1e-6);
		CHECK_NEAR(r.ecb_s, f.roll_ecb_s, 1e-6);
		CHECK_NEAR(r.active_s, f.roll_active_s, 1e-6);
		CHECK_NEAR(cd_engine_avg_bpm(e), f.active_s > 0 ? f.bpm_dt / f.active_s : NAN, 1e-6);
		CHECK_NEAR(cd_engine_trimp_edwards(e), f.edwards, 1e-6);
		CHECK_NEAR(tt->trimp_banister, f.banister, 1e-6);
		CHECK_NEAR(cd_engine_rmssd(e), f.rmssd, 1e-6);
		CHECK_NEAR(cd_engine_rolling_rmssd(e), f.roll_rmssd, 1e-6);
		CHECK_NEAR(tt->bpm_last, acc[n - 1].bpm, 0);
		if (check_failures > 20)
			break; /* one broken figure fails every step: stop early */
	}
	cd_engine_free(e);
}

static void test_bad_config(void)
{
	struct cd_profile p = profile(190), bad;
	struct cd_engine_config c;
	struct cd_engine *e = NULL;

	cd_engine_config_init(&c);
	c.max_gap_s = 0;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == -EINVAL);
	cd_engine_config_init(&c);
	c.window_s = 0;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == -EINVAL);
	cd_engine_config_init(&c);
	c.stale_after_s = 0;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == -EINVAL);
	cd_engine_config_init(&c);
	c.window_s = INFINITY;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == -EINVAL);
	cd_engine_config_init(&c);
	cd_profile_init(&bad);
	CHECK(cd_engine_new(&bad, &c, NULL, &e) == -EINVAL);
	CHECK(e == NULL);
	CHECK(cd_engine_free(NULL) == NULL);
}

int main(void)
{
	test_dwell_and_gaps();
	test_invalid_samples();
	test_stale();
	test_rolling_partial_overlap();
	test_milestones();
	test_rr_filter();
	test_rolling_rmssd();
	test_banister();
	test_edwards_all_zones();
	test_equal_timestamps();
	test_rr_bounds();
	test_rr_relative_to_previous();
	test_rmssd_two_differences();
	test_stale_configured();
	test_window_start();
	test_against_rescan(30, false);
	/* Hundreds of RR differences in the window: the rings must grow. */
	test_against_rescan(120, true);
	test_bad_config();
	return check_exit("test-engine");
}
