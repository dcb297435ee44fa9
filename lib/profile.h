/* SPDX-License-Identifier: MIT */
/*
 * Profiles, heart-rate zones, intensity classes and the ECB band
 * (DESIGN.md §3, "Profile", "Zones", "Intensity").  Pure: no I/O.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>

#define CD_ZONE_BOUNDS 5 /* five lower bounds: Z1..Z5 */

enum cd_zone {
	CD_ZONE_0, /* below the first bound: rest */
	CD_ZONE_1,
	CD_ZONE_2,
	CD_ZONE_3,
	CD_ZONE_4,
	CD_ZONE_5, /* the last bound and above */
	_CD_ZONE_MAX,
	_CD_ZONE_INVALID = -EINVAL,
};

enum cd_intensity {
	CD_INTENSITY_LIGHT,
	CD_INTENSITY_MODERATE,
	CD_INTENSITY_VIGOROUS,
	_CD_INTENSITY_MAX,
	_CD_INTENSITY_INVALID = -EINVAL,
};

/*
 * How zone bounds are read.  percent_max: bounds are % of hr_max.
 * percent_reserve (Karvonen): bounds are % of the heart-rate reserve,
 * bpm = hr_rest + pct/100 × (hr_max − hr_rest), and intensity uses %HRR.
 * zones_bpm: bounds are absolute bpm (e.g. copied from a watch); intensity
 * and the ECB band stay relative to hr_max as in percent_max.
 */
enum cd_zone_model {
	CD_MODEL_PERCENT_MAX,
	CD_MODEL_PERCENT_RESERVE,
	CD_MODEL_ZONES_BPM,
	_CD_MODEL_MAX,
	_CD_MODEL_INVALID = -EINVAL,
};

enum cd_sex {
	CD_SEX_MALE,
	CD_SEX_FEMALE,
	_CD_SEX_MAX,
	_CD_SEX_INVALID = -EINVAL,
};

enum cd_hr_max_source {
	CD_HR_MAX_CONFIGURED,
	CD_HR_MAX_AGE,
	_CD_HR_MAX_SOURCE_MAX,
	_CD_HR_MAX_SOURCE_INVALID = -EINVAL,
};

struct cd_profile {
	char name[64];
	double hr_max; /* resolved: configured, or Tanaka from age */
	double hr_rest;
	double age; /* 0 when not given */
	enum cd_hr_max_source hr_max_source;
	enum cd_sex sex;
	/*
	 * Intensity model: percent_max or percent_reserve.  zones_bpm only
	 * replaces the zone bounds (has_zones_bpm) and never the intensity rule.
	 */
	enum cd_zone_model model;
	double zones_pct[CD_ZONE_BOUNDS]; /* lower bounds of Z1..Z5, percent */
	bool has_zones_bpm;
	double zones_bpm[CD_ZONE_BOUNDS]; /* lower bounds of Z1..Z5, bpm */
};

/* Defaults of DESIGN §3: hr_max unset, hr_rest 60, male, percent_max, 50..90. */
void cd_profile_init(struct cd_profile *p);

/* Tanaka (2001): 208 − 0.7 × age. */
double cd_tanaka_hr_max(double age);

/* Set age and, unless hr_max was configured, hr_max from it. */
int cd_profile_set_age(struct cd_profile *p, double age);
int cd_profile_set_hr_max(struct cd_profile *p, double hr_max);

/*
 * Check a profile is usable: hr_max known and in (hr_rest, 260], hr_rest in
 * [20, 150), bounds strictly increasing.  Returns 0 or -EINVAL, with a
 * static reason in *ret_reason when non-NULL.
 */
int cd_profile_validate(const struct cd_profile *p, const char **ret_reason);

/*
 * Parse "50,60,70,80,90" (five strictly increasing numbers) into out[5].
 * Returns 0 or -EINVAL.
 */
int cd_parse_bounds(const char *s, double out[CD_ZONE_BOUNDS]);

/* Lower bound in bpm of zone z (Z0 → 0). */
double cd_zone_lo_bpm(const struct cd_profile *p, enum cd_zone z);
/* Upper bound in bpm of zone z (Z5 → +inf). */
double cd_zone_hi_bpm(const struct cd_profile *p, enum cd_zone z);

/* 100 × bpm / hr_max. */
double cd_pct_hr_max(const struct cd_profile *p, double bpm);

/* Zone of a heart rate: lo ≤ x < hi, a value exactly on a bound is upper. */
enum cd_zone cd_zone_of(const struct cd_profile *p, double bpm);
enum cd_intensity cd_intensity_of(const struct cd_profile *p, double bpm);
/* 70 ≤ %HRmax < 80: the endocannabinoid band. */
bool cd_in_ecb_band(const struct cd_profile *p, double bpm);

const char *cd_zone_name(enum cd_zone z);           /* "rest", "very light", ... */
const char *cd_zone_label(enum cd_zone z);          /* "Z0" .. "Z5" */
const char *cd_intensity_to_string(enum cd_intensity i);
const char *cd_model_to_string(enum cd_zone_model m);
enum cd_zone_model cd_model_from_string(const char *s);
const char *cd_sex_to_string(enum cd_sex s);
enum cd_sex cd_sex_from_string(const char *s);
const char *cd_hr_max_source_to_string(enum cd_hr_max_source s);
