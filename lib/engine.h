/* SPDX-License-Identifier: MIT */
/*
 * The metrics engine of DESIGN §3: one instance per session.
 *
 * Time arrives with each sample; the engine never reads a clock.  Feeding
 * the same samples in the same order always gives the same figures to the
 * last bit, whether they arrive live, from a CSV replay, or re-read from the
 * store after a crash.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "sample.h"

enum cd_milestone {
	CD_MILESTONE_MVPA_20,     /* MVPA reaches 1200 s */
	CD_MILESTONE_MVPA_40,     /* MVPA reaches 2400 s */
	CD_MILESTONE_DURATION_60, /* active_s reaches 3600 s */
	_CD_MILESTONE_MAX,
	_CD_MILESTONE_INVALID = -EINVAL,
};

const char *cd_milestone_to_string(enum cd_milestone m);

struct cd_engine_config {
	double max_gap_s;     /* default 5 */
	double window_s;      /* default 600 */
	double stale_after_s; /* default 10 */
};

void cd_engine_config_init(struct cd_engine_config *c);

/*
 * Observer.  Called synchronously from cd_engine_add() for the sample that
 * caused the event.  All members may be NULL.
 */
struct cd_engine_observer {
	/* A milestone was reached; at_s is seconds from the first sample. */
	void (*milestone)(void *userdata, enum cd_milestone m, double at_s);
	/* The zone of the latest valid sample differs from the previous one. */
	void (*zone_changed)(void *userdata, enum cd_zone old_zone, enum cd_zone new_zone);
	void *userdata;
};

/* Session totals; every duration in seconds. */
struct cd_engine_totals {
	size_t samples;     /* valid samples */
	double t_first;     /* time of the first valid sample (NAN before) */
	double t_last;      /* time of the last valid sample (NAN before) */
	double t_seen;      /* time of the last sample of any kind (NAN before) */
	double duration_s;  /* t_last − t_first */
	double active_s;    /* attributed intervals */
	double gap_s;       /* intervals longer than max_gap_s */
	double zone_s[_CD_ZONE_MAX];
	double intensity_s[_CD_INTENSITY_MAX];
	double mvpa_s;      /* moderate + vigorous */
	double ecb_s;       /* 70–80 % HRmax band */
	double bpm_dt_sum;  /* Σ bpm_a·dt over attributed intervals */
	double bpm_min, bpm_max; /* over valid samples (NAN before) */
	double bpm_last;    /* last valid bpm (NAN before) */
	double trimp_banister;
	double milestone_at[_CD_MILESTONE_MAX]; /* s from first sample; NAN until reached */
	size_t rr_count;    /* RR intervals kept ([300, 2000] ms, valid samples) */
	size_t rr_diffs;    /* successive differences counted (20 % rule) */
	double rr_sq_sum;   /* Σ of their squares */
	double energy_kj;   /* last reported cumulative energy (NAN when none) */
};

/* The rolling window (t_last − window_s, t_last]. */
struct cd_engine_rolling {
	double zone_s[_CD_ZONE_MAX];
	double intensity_s[_CD_INTENSITY_MAX];
	double mvpa_s;
	double ecb_s;
	double active_s;
	size_t rr_diffs;
	double rr_sq_sum;
};

struct cd_engine;

/*
 * Create an engine for one session.  The profile and config are copied;
 * the profile must pass cd_profile_validate().  observer may be NULL.
 * Returns 0 and the engine in *ret, or -EINVAL / -ENOMEM.
 */
int cd_engine_new(const struct cd_profile *profile, const struct cd_engine_config *config,
		  const struct cd_engine_observer *observer, struct cd_engine **ret);
struct cd_engine *cd_engine_free(struct cd_engine *e);
static inline void cd_engine_freep(struct cd_engine **e)
{
	if (*e)
		cd_engine_free(*e);
}

/*
 * Feed one sample.  Returns 1 when the sample was valid and counted, 0 when
 * it was dropped (invalid bpm, contact lost, or time going backwards), or
 * -ENOMEM (the sample is then not counted and the engine is unchanged).
 */
int cd_engine_add(struct cd_engine *e, const struct cd_sample *s);

const struct cd_profile *cd_engine_profile(const struct cd_engine *e);
const struct cd_engine_config *cd_engine_config(const struct cd_engine *e);
const struct cd_engine_totals *cd_engine_totals(const struct cd_engine *e);

/* Rolling figures for the window ending at the last valid sample. O(1). */
void cd_engine_rolling(const struct cd_engine *e, struct cd_engine_rolling *ret);

/*
 * Whether the heart rate is stale at time now (same time base as samples):
 * no valid sample yet, or none for stale_after_s.
 */
bool cd_engine_is_stale(const struct cd_engine *e, double now);

/* Derived figures; NAN where DESIGN §3 says null. */
double cd_engine_avg_bpm(const struct cd_engine *e);      /* NAN when active_s == 0 */
double cd_engine_trimp_edwards(const struct cd_engine *e);
double cd_engine_rmssd(const struct cd_engine *e);        /* NAN with < 2 diffs */
double cd_engine_rolling_rmssd(const struct cd_engine *e);
