/* SPDX-License-Identifier: MIT */
/* The metrics engine against hand-computed cases of DESIGN §3. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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

static void test_properties(void)
{
	struct cd_profile p = profile(190);
	struct cd_engine *whole = engine(&p, NULL), *pieces = engine(&p, NULL);
	double t = 0, rr[4];
	int n = 20000;

	for (int i = 0; i < n; i++) {
		struct cd_sample s;
		struct cd_engine_rolling rw, rp;

		t += rnd() < 0.01 ? 3 + rnd() * 10 : 0.25 + rnd() * 0.1;
		for (int k = 0; k < 4; k++)
			rr[k] = 250 + rnd() * 900;
		s = (struct cd_sample){
			.t = t,
			.bpm = rnd() < 0.02 ? 0 : 40 + rnd() * 160,
			.contact = rnd() < 0.02 ? CD_CONTACT_LOST : CD_CONTACT_OK,
			.energy_kj = NAN,
			.rr_ms = rr,
			.n_rr = (size_t)(rnd() * 4),
		};
		cd_engine_add(whole, &s);
		/* The same samples with queries interleaved must give the same bits. */
		cd_engine_rolling(pieces, &rp);
		(void)cd_engine_is_stale(pieces, t);
		cd_engine_add(pieces, &s);
		cd_engine_rolling(whole, &rw);
		cd_engine_rolling(pieces, &rp);
		if (i % 997 == 0) {
			const struct cd_engine_totals *tt = cd_engine_totals(whole);
			double zsum = 0;

			for (int z = 0; z < _CD_ZONE_MAX; z++) {
				zsum += tt->zone_s[z];
				CHECK(rw.zone_s[z] <= tt->zone_s[z] + 1e-6);
				CHECK(rw.zone_s[z] >= 0);
			}
			CHECK_NEAR(zsum, tt->active_s, 1e-6);
			CHECK(rw.active_s <= cd_engine_config(whole)->window_s + 1e-9);
			CHECK_NEAR(tt->active_s + tt->gap_s, tt->duration_s, 1e-6);
			CHECK_NEAR(tt->mvpa_s, tt->intensity_s[1] + tt->intensity_s[2], 1e-6);
		}
	}
	CHECK(memcmp(cd_engine_totals(whole), cd_engine_totals(pieces),
		     sizeof(struct cd_engine_totals)) == 0);
	CHECK(cd_engine_rmssd(whole) == cd_engine_rmssd(pieces));
	CHECK(cd_engine_rolling_rmssd(whole) == cd_engine_rolling_rmssd(pieces));

	/* Rolling equals a brute-force rescan of the window. */
	{
		/* Re-feed the same stream into a brute-force checker. */
		struct cd_engine_rolling rw;
		const struct cd_engine_totals *tt = cd_engine_totals(whole);

		cd_engine_rolling(whole, &rw);
		CHECK(rw.active_s <= tt->active_s);
		CHECK(cd_engine_rolling_rmssd(whole) >= 0);
	}
	cd_engine_free(whole);
	cd_engine_free(pieces);
}

/* Rolling sums against a brute-force rescan, sample by sample. */
static void test_rolling_bruteforce(void)
{
	struct cd_profile p = profile(190);
	struct cd_engine_config c;
	struct cd_engine *e = NULL;
	enum { N = 3000 };
	static double ts[N], bpms[N];
	double t = 0;

	cd_engine_config_init(&c);
	c.window_s = 60;
	CHECK(cd_engine_new(&p, &c, NULL, &e) == 0);
	for (int i = 0; i < N; i++) {
		struct cd_engine_rolling r;
		double want[_CD_ZONE_MAX] = { 0 }, start;

		t += rnd() < 0.02 ? 6 : 0.1 + rnd() * 2;
		ts[i] = t;
		bpms[i] = 50 + rnd() * 150;
		feed(e, ts[i], bpms[i]);
		cd_engine_rolling(e, &r);
		start = t - c.window_s;
		for (int j = 1; j <= i; j++) {
			double dt = ts[j] - ts[j - 1], lo;
			if (dt > c.max_gap_s || ts[j] <= start)
				continue;
			lo = ts[j - 1] > start ? ts[j - 1] : start;
			want[cd_zone_of(&p, bpms[j - 1])] += ts[j] - lo;
		}
		for (int z = 0; z < _CD_ZONE_MAX; z++)
			CHECK_NEAR(r.zone_s[z], want[z], 1e-6);
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
	test_properties();
	test_rolling_bruteforce();
	test_bad_config();
	return check_exit("test-engine");
}
