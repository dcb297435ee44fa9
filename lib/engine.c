/* SPDX-License-Identifier: MIT */
/*
 * The metrics engine: DESIGN §3, formula by formula.  Every quantity is a
 * running sum updated once per sample, so adding a sample is O(1)
 * (amortised: the rings grow by half and shrink from the front).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* DESIGN §3 "HRV": keep RR in [300, 2000] ms; count a successive
 * difference only when |RRᵢ − RRᵢ₋₁| ≤ 20 % of RRᵢ₋₁. */
#define RR_MIN_MS 300.0
#define RR_MAX_MS 2000.0
#define RR_MAX_CHANGE 0.20

/* DESIGN §3 "Milestones". */
static const double milestone_threshold_s[_CD_MILESTONE_MAX] = {
	[CD_MILESTONE_MVPA_20] = 1200,
	[CD_MILESTONE_MVPA_40] = 2400,
	[CD_MILESTONE_DURATION_60] = 3600,
};

/* DESIGN §3 "Load": Banister's a, b by sex. */
static const double banister_a[_CD_SEX_MAX] = { [CD_SEX_MALE] = 0.64, [CD_SEX_FEMALE] = 0.86 };
static const double banister_b[_CD_SEX_MAX] = { [CD_SEX_MALE] = 1.92, [CD_SEX_FEMALE] = 1.67 };

/* One attributed interval [t0, t1], held at the zone of its first sample. */
struct interval {
	double t0, t1;
	uint8_t zone;
	uint8_t intensity;
	bool ecb;
};

/* One counted RR difference, stamped with the beat time of RRᵢ₋₁. */
struct rr_diff {
	double t;
	double sq;
};

/* A growable FIFO ring; elements of elem_size bytes. */
struct ring {
	void *data;
	size_t elem_size;
	size_t cap, head, len;
};

struct cd_engine {
	struct cd_profile profile;
	struct cd_engine_config config;
	struct cd_engine_observer observer;
	struct cd_engine_totals totals;

	/* The last valid sample ("a" of the next interval). */
	bool have_last;
	double last_bpm;
	enum cd_zone last_zone;
	enum cd_intensity last_intensity;
	bool last_ecb;

	/* Last kept RR interval, and the time of the sample that carried it. */
	bool have_rr;
	double rr_prev_ms;
	double rr_prev_t;

	/* Rolling window: intervals and RR differences not yet wholly outside. */
	struct ring intervals; /* struct interval */
	struct ring diffs;     /* struct rr_diff */
	struct cd_engine_rolling roll; /* running sums over the rings' whole elements */
};

/* Make room for n more elements. */
static int ring_reserve(struct ring *r, size_t n)
{
	size_t ncap;
	uint8_t *buf;

	if (r->cap - r->len >= n)
		return 0;
	ncap = r->cap ? r->cap : 64;
	while (ncap - r->len < n) {
		if (ncap > SIZE_MAX / 2 / r->elem_size)
			return -ENOMEM;
		/* By half, not doubling: a 10-minute window holds ~600 intervals and
		 * ~1200 RR differences, which fit 729 and 1640 slots rather than 1024
		 * and 2048 (bench/footprint: 104 KiB less heap with 8 straps). */
		ncap += ncap / 2;
	}
	buf = malloc(ncap * r->elem_size);
	if (!buf)
		return -ENOMEM;
	/* Unwrap into the new buffer, oldest first. */
	for (size_t i = 0; i < r->len; i++)
		memcpy(buf + i * r->elem_size,
		       (uint8_t *)r->data + ((r->head + i) % r->cap) * r->elem_size, r->elem_size);
	free(r->data);
	r->data = buf;
	r->cap = ncap;
	r->head = 0;
	return 0;
}

static void *ring_at(const struct ring *r, size_t i)
{
	return (uint8_t *)r->data + ((r->head + i) % r->cap) * r->elem_size;
}

static void ring_push(struct ring *r, const void *elem)
{
	memcpy(ring_at(r, r->len), elem, r->elem_size);
	r->len++;
}

static void ring_pop(struct ring *r)
{
	r->head = (r->head + 1) % r->cap;
	r->len--;
}

const char *cd_milestone_to_string(enum cd_milestone m)
{
	static const char *const names[_CD_MILESTONE_MAX] = {
		[CD_MILESTONE_MVPA_20] = "mvpa_20",
		[CD_MILESTONE_MVPA_40] = "mvpa_40",
		[CD_MILESTONE_DURATION_60] = "duration_60",
	};
	return (unsigned)m < _CD_MILESTONE_MAX ? names[m] : NULL;
}

void cd_engine_config_init(struct cd_engine_config *c)
{
	*c = (struct cd_engine_config){
		.max_gap_s = 5,
		.window_s = 600,
		.stale_after_s = 10,
	};
}

bool cd_sample_is_valid(const struct cd_sample *s)
{
	/* DESIGN §3 "Valid sample": 30 ≤ bpm ≤ 240, not "contact not detected". */
	return s->bpm >= CD_BPM_MIN && s->bpm <= CD_BPM_MAX && s->contact != CD_CONTACT_LOST;
}

int cd_engine_new(const struct cd_profile *profile, const struct cd_engine_config *config,
		  const struct cd_engine_observer *observer, struct cd_engine **ret)
{
	struct cd_engine *e;

	if (!profile || !config || !ret || cd_profile_validate(profile, NULL) < 0)
		return -EINVAL;
	if (!(config->max_gap_s > 0) || !isfinite(config->max_gap_s) || !(config->window_s > 0) ||
	    !isfinite(config->window_s) || !(config->stale_after_s > 0) ||
	    !isfinite(config->stale_after_s))
		return -EINVAL;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->profile = *profile;
	e->config = *config;
	if (observer)
		e->observer = *observer;
	e->intervals.elem_size = sizeof(struct interval);
	e->diffs.elem_size = sizeof(struct rr_diff);
	e->totals.t_first = e->totals.t_last = e->totals.t_seen = NAN;
	e->totals.bpm_min = e->totals.bpm_max = e->totals.bpm_last = NAN;
	e->totals.energy_kj = NAN;
	for (size_t m = 0; m < _CD_MILESTONE_MAX; m++)
		e->totals.milestone_at[m] = NAN;
	*ret = e;
	return 0;
}

struct cd_engine *cd_engine_free(struct cd_engine *e)
{
	if (!e)
		return NULL;
	free(e->intervals.data);
	free(e->diffs.data);
	free(e);
	return NULL;
}

const struct cd_profile *cd_engine_profile(const struct cd_engine *e)
{
	return &e->profile;
}

const struct cd_engine_config *cd_engine_config(const struct cd_engine *e)
{
	return &e->config;
}

const struct cd_engine_totals *cd_engine_totals(const struct cd_engine *e)
{
	return &e->totals;
}

static void roll_add(struct cd_engine_rolling *r, const struct interval *iv, double dt)
{
	r->zone_s[iv->zone] += dt;
	r->intensity_s[iv->intensity] += dt;
	if (iv->ecb)
		r->ecb_s += dt;
	r->active_s += dt;
}

/* Drop what lies wholly outside (t_last − window_s, t_last]. */
static void roll_expire(struct cd_engine *e)
{
	double start = e->totals.t_last - e->config.window_s;

	while (e->intervals.len > 0) {
		struct interval *iv = ring_at(&e->intervals, 0);

		if (iv->t1 > start)
			break;
		roll_add(&e->roll, iv, -(iv->t1 - iv->t0));
		ring_pop(&e->intervals);
	}
	if (e->intervals.len == 0) {
		/* Nothing inside: reset so that rounding cannot accumulate. */
		memset(e->roll.zone_s, 0, sizeof(e->roll.zone_s));
		memset(e->roll.intensity_s, 0, sizeof(e->roll.intensity_s));
		e->roll.ecb_s = e->roll.active_s = 0;
	}

	while (e->diffs.len > 0) {
		struct rr_diff *d = ring_at(&e->diffs, 0);

		if (d->t > start)
			break;
		e->roll.rr_sq_sum -= d->sq;
		e->roll.rr_diffs--;
		ring_pop(&e->diffs);
	}
	if (e->diffs.len == 0)
		e->roll.rr_sq_sum = 0;
}

static void report_milestone(struct cd_engine *e, enum cd_milestone m, double value, double t)
{
	struct cd_engine_totals *tot = &e->totals;

	if (!isnan(tot->milestone_at[m]) || value < milestone_threshold_s[m])
		return;
	/* Seconds from the session's first sample to the sample that crossed it. */
	tot->milestone_at[m] = t - tot->t_first;
	if (e->observer.milestone)
		e->observer.milestone(e->observer.userdata, m, tot->milestone_at[m]);
}

/*
 * DESIGN §3 "Dwell": the interval from the previous valid sample a to this
 * one b is attributed to a's zone, intensity and band when dt ≤ max_gap_s,
 * else counted as a gap and attributed to nothing.
 */
static void attribute_interval(struct cd_engine *e, double t)
{
	struct cd_engine_totals *tot = &e->totals;
	const struct cd_profile *p = &e->profile;
	double dt = t - tot->t_last;
	struct interval iv;

	if (dt > e->config.max_gap_s) {
		tot->gap_s += dt;
		return;
	}
	if (dt <= 0)
		return; /* two samples at the same instant: nothing to attribute */

	tot->active_s += dt;
	tot->zone_s[e->last_zone] += dt;
	tot->intensity_s[e->last_intensity] += dt;
	if (e->last_intensity != CD_INTENSITY_LIGHT)
		tot->mvpa_s += dt;
	if (e->last_ecb)
		tot->ecb_s += dt;
	tot->bpm_dt_sum += e->last_bpm * dt;

	/* Banister: dt_min × x × a·e^(b·x), x = HRR fraction clamped to [0, 1]. */
	{
		double x = (e->last_bpm - p->hr_rest) / (p->hr_max - p->hr_rest);

		x = x < 0 ? 0 : x > 1 ? 1 : x;
		tot->trimp_banister +=
			dt / 60.0 * x * banister_a[p->sex] * exp(banister_b[p->sex] * x);
	}

	iv = (struct interval){
		.t0 = tot->t_last,
		.t1 = t,
		.zone = (uint8_t)e->last_zone,
		.intensity = (uint8_t)e->last_intensity,
		.ecb = e->last_ecb,
	};
	ring_push(&e->intervals, &iv);
	roll_add(&e->roll, &iv, dt);
}

/* DESIGN §3 "HRV": filter, then successive differences with the 20 % rule. */
static void add_rr(struct cd_engine *e, double t, const double *rr, size_t n)
{
	struct cd_engine_totals *tot = &e->totals;

	for (size_t i = 0; i < n; i++) {
		double v = rr[i];

		if (!(v >= RR_MIN_MS && v <= RR_MAX_MS))
			continue;
		tot->rr_count++;
		if (e->have_rr && fabs(v - e->rr_prev_ms) <= RR_MAX_CHANGE * e->rr_prev_ms) {
			double d = v - e->rr_prev_ms;
			struct rr_diff rd = { .t = e->rr_prev_t, .sq = d * d };

			tot->rr_diffs++;
			tot->rr_sq_sum += rd.sq;
			ring_push(&e->diffs, &rd);
			e->roll.rr_diffs++;
			e->roll.rr_sq_sum += rd.sq;
		}
		e->have_rr = true;
		e->rr_prev_ms = v;
		e->rr_prev_t = t;
	}
}

int cd_engine_add(struct cd_engine *e, const struct cd_sample *s)
{
	struct cd_engine_totals *tot = &e->totals;
	const struct cd_profile *p = &e->profile;
	enum cd_zone zone;
	int r;

	if (!isfinite(s->t))
		return 0;
	if (isnan(tot->t_seen) || s->t > tot->t_seen)
		tot->t_seen = s->t;
	if (!cd_sample_is_valid(s))
		return 0; /* dropped as if absent, its RR with it */
	if (e->have_last && s->t < tot->t_last)
		return 0; /* time going backwards: not this session's next sample */

	/* Make room first, so that a failed allocation leaves no half-update. */
	r = ring_reserve(&e->intervals, 1);
	if (r < 0)
		return r;
	r = ring_reserve(&e->diffs, s->n_rr);
	if (r < 0)
		return r;

	if (e->have_last)
		attribute_interval(e, s->t);
	else
		tot->t_first = s->t;

	tot->samples++;
	tot->t_last = s->t;
	tot->duration_s = tot->t_last - tot->t_first;
	tot->bpm_last = s->bpm;
	if (isnan(tot->bpm_min) || s->bpm < tot->bpm_min)
		tot->bpm_min = s->bpm;
	if (isnan(tot->bpm_max) || s->bpm > tot->bpm_max)
		tot->bpm_max = s->bpm;
	if (!isnan(s->energy_kj))
		tot->energy_kj = s->energy_kj;

	add_rr(e, s->t, s->rr_ms, s->n_rr);
	roll_expire(e);

	zone = cd_zone_of(p, s->bpm);
	if (e->have_last && zone != e->last_zone && e->observer.zone_changed)
		e->observer.zone_changed(e->observer.userdata, e->last_zone, zone);
	e->have_last = true;
	e->last_bpm = s->bpm;
	e->last_zone = zone;
	e->last_intensity = cd_intensity_of(p, s->bpm);
	e->last_ecb = cd_in_ecb_band(p, s->bpm);

	report_milestone(e, CD_MILESTONE_MVPA_20, tot->mvpa_s, s->t);
	report_milestone(e, CD_MILESTONE_MVPA_40, tot->mvpa_s, s->t);
	report_milestone(e, CD_MILESTONE_DURATION_60, tot->active_s, s->t);
	return 1;
}

static double nonneg(double v)
{
	return v > 0 ? v : 0;
}

void cd_engine_rolling(const struct cd_engine *e, struct cd_engine_rolling *ret)
{
	struct cd_engine_rolling r = e->roll;

	/* The oldest interval may straddle the window start: remove its outside part. */
	if (e->intervals.len > 0) {
		const struct interval *iv = ring_at(&e->intervals, 0);
		double start = e->totals.t_last - e->config.window_s;

		if (iv->t0 < start)
			roll_add(&r, iv, -(start - iv->t0));
	}
	for (size_t z = 0; z < _CD_ZONE_MAX; z++)
		r.zone_s[z] = nonneg(r.zone_s[z]);
	for (size_t i = 0; i < _CD_INTENSITY_MAX; i++)
		r.intensity_s[i] = nonneg(r.intensity_s[i]);
	r.ecb_s = nonneg(r.ecb_s);
	r.active_s = nonneg(r.active_s);
	r.mvpa_s = r.intensity_s[CD_INTENSITY_MODERATE] + r.intensity_s[CD_INTENSITY_VIGOROUS];
	r.rr_sq_sum = nonneg(r.rr_sq_sum);
	*ret = r;
}

/* DESIGN §3 "Heart rate": stale once no valid sample for stale_after_s. */
bool cd_engine_is_stale(const struct cd_engine *e, double now)
{
	if (!e->have_last)
		return true;
	return now - e->totals.t_last >= e->config.stale_after_s;
}

/* Time-weighted: Σ bpm_a·dt / active_s over attributed intervals. */
double cd_engine_avg_bpm(const struct cd_engine *e)
{
	if (e->totals.active_s <= 0)
		return NAN;
	return e->totals.bpm_dt_sum / e->totals.active_s;
}

/* Edwards: Σ_k k × minutes in Zk, k = 1..5. */
double cd_engine_trimp_edwards(const struct cd_engine *e)
{
	double sum = 0;

	for (int k = 1; k < _CD_ZONE_MAX; k++)
		sum += k * (e->totals.zone_s[k] / 60.0);
	return sum;
}

static double rmssd(size_t n, double sq_sum)
{
	if (n < 2)
		return NAN;
	return sqrt(sq_sum / (double)n);
}

double cd_engine_rmssd(const struct cd_engine *e)
{
	return rmssd(e->totals.rr_diffs, e->totals.rr_sq_sum);
}

double cd_engine_rolling_rmssd(const struct cd_engine *e)
{
	return rmssd(e->roll.rr_diffs, nonneg(e->roll.rr_sq_sum));
}
