/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "profile.h"

static const double default_zones_pct[CD_ZONE_BOUNDS] = { 50, 60, 70, 80, 90 };

void cd_profile_init(struct cd_profile *p)
{
	*p = (struct cd_profile){
		.hr_max = NAN,
		.hr_rest = 60,
		.age = 0,
		.hr_max_source = _CD_HR_MAX_SOURCE_INVALID,
		.sex = CD_SEX_MALE,
		.model = CD_MODEL_PERCENT_MAX,
	};
	strcpy(p->name, "default");
	memcpy(p->zones_pct, default_zones_pct, sizeof(p->zones_pct));
}

/* DESIGN §3: hr_max = 208 − 0.7 × age (Tanaka, Monahan & Seals 2001). */
double cd_tanaka_hr_max(double age)
{
	return 208.0 - 0.7 * age;
}

int cd_profile_set_age(struct cd_profile *p, double age)
{
	if (!isfinite(age) || age < 1 || age > 120)
		return -EINVAL;
	p->age = age;
	if (p->hr_max_source != CD_HR_MAX_CONFIGURED) {
		p->hr_max = cd_tanaka_hr_max(age);
		p->hr_max_source = CD_HR_MAX_AGE;
	}
	return 0;
}

int cd_profile_set_hr_max(struct cd_profile *p, double hr_max)
{
	if (!isfinite(hr_max) || hr_max < 60 || hr_max > 260)
		return -EINVAL;
	p->hr_max = hr_max;
	p->hr_max_source = CD_HR_MAX_CONFIGURED;
	return 0;
}

static bool bounds_increasing(const double b[CD_ZONE_BOUNDS])
{
	for (size_t i = 0; i < CD_ZONE_BOUNDS; i++) {
		if (!isfinite(b[i]) || b[i] <= 0)
			return false;
		if (i > 0 && b[i] <= b[i - 1])
			return false;
	}
	return true;
}

int cd_profile_validate(const struct cd_profile *p, const char **ret_reason)
{
	const char *why = NULL;

	if (!isfinite(p->hr_max))
		why = "hr_max is not known: set hr_max or age";
	else if (p->hr_max < 60 || p->hr_max > 260)
		why = "hr_max must be between 60 and 260";
	else if (!isfinite(p->hr_rest) || p->hr_rest < 20 || p->hr_rest > 150)
		why = "hr_rest must be between 20 and 150";
	else if (p->hr_rest >= p->hr_max)
		why = "hr_rest must be below hr_max";
	else if ((unsigned)p->sex >= _CD_SEX_MAX)
		why = "sex must be male or female";
	else if ((unsigned)p->model >= _CD_MODEL_MAX)
		why = "model must be percent_max, percent_reserve or zones_bpm";
	else if (!bounds_increasing(p->zones_pct))
		why = "zones must be five increasing positive percentages";
	else if (p->zones_pct[CD_ZONE_BOUNDS - 1] > 200)
		why = "zones must be percentages (at most 200)";
	else if (p->model == CD_MODEL_ZONES_BPM && !p->has_zones_bpm)
		why = "model zones_bpm needs zones_bpm";
	else if (p->has_zones_bpm && !bounds_increasing(p->zones_bpm))
		why = "zones_bpm must be five increasing positive heart rates";

	if (ret_reason)
		*ret_reason = why;
	return why ? -EINVAL : 0;
}

int cd_parse_bounds(const char *s, double out[CD_ZONE_BOUNDS])
{
	double v[CD_ZONE_BOUNDS];
	const char *p = s;

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < CD_ZONE_BOUNDS; i++) {
		char *end;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return -EINVAL;
		end = NULL;
		v[i] = strtod(p, &end);
		if (end == p || !isfinite(v[i]))
			return -EINVAL;
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
		if (i < CD_ZONE_BOUNDS - 1) {
			if (*p != ',')
				return -EINVAL;
			p++;
		}
	}
	if (*p != '\0' || !bounds_increasing(v))
		return -EINVAL;
	memcpy(out, v, sizeof(v));
	return 0;
}

/* Karvonen: the bpm at pct % of the heart-rate reserve. */
static double reserve_bpm(const struct cd_profile *p, double pct)
{
	return p->hr_rest + pct / 100.0 * (p->hr_max - p->hr_rest);
}

static double bound_bpm(const struct cd_profile *p, size_t i)
{
	if (p->has_zones_bpm)
		return p->zones_bpm[i];
	switch (p->model) {
	case CD_MODEL_PERCENT_RESERVE:
		return reserve_bpm(p, p->zones_pct[i]);
	case CD_MODEL_PERCENT_MAX:
	case CD_MODEL_ZONES_BPM:
	case _CD_MODEL_MAX:
	case _CD_MODEL_INVALID:
		break;
	}
	return p->zones_pct[i] / 100.0 * p->hr_max;
}

double cd_zone_lo_bpm(const struct cd_profile *p, enum cd_zone z)
{
	if (z <= CD_ZONE_0 || z >= _CD_ZONE_MAX)
		return 0;
	return bound_bpm(p, (size_t)z - 1);
}

double cd_zone_hi_bpm(const struct cd_profile *p, enum cd_zone z)
{
	if (z < CD_ZONE_0 || z >= CD_ZONE_5)
		return INFINITY;
	return bound_bpm(p, (size_t)z);
}

double cd_pct_hr_max(const struct cd_profile *p, double bpm)
{
	return 100.0 * bpm / p->hr_max;
}

/* 100 × (bpm − hr_rest) / (hr_max − hr_rest): percent of heart-rate reserve. */
static double pct_reserve(const struct cd_profile *p, double bpm)
{
	return 100.0 * (bpm - p->hr_rest) / (p->hr_max - p->hr_rest);
}

/*
 * DESIGN §3: zone k covers lo ≤ pct < hi; a heart rate exactly on a bound
 * belongs to the upper zone.  The comparison is made in the unit the bounds
 * are configured in (% HRmax, % HRR or bpm), so that "exactly on a bound"
 * means what the user wrote, without a round trip through bpm.
 */
enum cd_zone cd_zone_of(const struct cd_profile *p, double bpm)
{
	double x;
	const double *bounds;
	int z = CD_ZONE_0;

	if (p->has_zones_bpm) {
		x = bpm;
		bounds = p->zones_bpm;
	} else if (p->model == CD_MODEL_PERCENT_RESERVE) {
		x = pct_reserve(p, bpm);
		bounds = p->zones_pct;
	} else {
		x = cd_pct_hr_max(p, bpm);
		bounds = p->zones_pct;
	}
	for (size_t i = 0; i < CD_ZONE_BOUNDS; i++)
		if (x >= bounds[i])
			z = (int)i + 1;
	return (enum cd_zone)z;
}

/*
 * DESIGN §3 (ACSM, Garber et al. 2011): percent_max — light pct < 64,
 * moderate 64 ≤ pct < 77, vigorous pct ≥ 77.  percent_reserve — moderate
 * 40–60 %HRR, vigorous ≥ 60 %HRR.  zones_bpm keeps the %HRmax rule.
 */
enum cd_intensity cd_intensity_of(const struct cd_profile *p, double bpm)
{
	double x, moderate, vigorous;

	if (p->model == CD_MODEL_PERCENT_RESERVE) {
		x = pct_reserve(p, bpm);
		moderate = 40;
		vigorous = 60;
	} else {
		x = cd_pct_hr_max(p, bpm);
		moderate = 64;
		vigorous = 77;
	}
	if (x >= vigorous)
		return CD_INTENSITY_VIGOROUS;
	if (x >= moderate)
		return CD_INTENSITY_MODERATE;
	return CD_INTENSITY_LIGHT;
}

/* DESIGN §3: ECB band 70 ≤ pct < 80 of HRmax, whatever the zone model. */
bool cd_in_ecb_band(const struct cd_profile *p, double bpm)
{
	double pct = cd_pct_hr_max(p, bpm);

	return pct >= 70 && pct < 80;
}

static const char *const zone_names[_CD_ZONE_MAX] = {
	[CD_ZONE_0] = "rest",     [CD_ZONE_1] = "very light", [CD_ZONE_2] = "light",
	[CD_ZONE_3] = "moderate", [CD_ZONE_4] = "hard",       [CD_ZONE_5] = "maximum",
};

static const char *const zone_labels[_CD_ZONE_MAX] = {
	[CD_ZONE_0] = "Z0", [CD_ZONE_1] = "Z1", [CD_ZONE_2] = "Z2",
	[CD_ZONE_3] = "Z3", [CD_ZONE_4] = "Z4", [CD_ZONE_5] = "Z5",
};

static const char *const intensity_names[_CD_INTENSITY_MAX] = {
	[CD_INTENSITY_LIGHT] = "light",
	[CD_INTENSITY_MODERATE] = "moderate",
	[CD_INTENSITY_VIGOROUS] = "vigorous",
};

static const char *const model_names[_CD_MODEL_MAX] = {
	[CD_MODEL_PERCENT_MAX] = "percent_max",
	[CD_MODEL_PERCENT_RESERVE] = "percent_reserve",
	[CD_MODEL_ZONES_BPM] = "zones_bpm",
};

static const char *const sex_names[_CD_SEX_MAX] = {
	[CD_SEX_MALE] = "male",
	[CD_SEX_FEMALE] = "female",
};

static const char *const hr_max_source_names[_CD_HR_MAX_SOURCE_MAX] = {
	[CD_HR_MAX_CONFIGURED] = "configured",
	[CD_HR_MAX_AGE] = "age",
};

#define LOOKUP(table, v) ((unsigned)(v) < ELEMENTSOF(table) ? table[v] : NULL)

const char *cd_zone_name(enum cd_zone z)
{
	return LOOKUP(zone_names, z);
}

const char *cd_zone_label(enum cd_zone z)
{
	return LOOKUP(zone_labels, z);
}

const char *cd_intensity_to_string(enum cd_intensity i)
{
	return LOOKUP(intensity_names, i);
}

const char *cd_model_to_string(enum cd_zone_model m)
{
	return LOOKUP(model_names, m);
}

const char *cd_sex_to_string(enum cd_sex s)
{
	return LOOKUP(sex_names, s);
}

const char *cd_hr_max_source_to_string(enum cd_hr_max_source s)
{
	return LOOKUP(hr_max_source_names, s);
}

static int index_of(const char *const *table, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (table[i] && strcasecmp(table[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

enum cd_zone_model cd_model_from_string(const char *s)
{
	return (enum cd_zone_model)index_of(model_names, ELEMENTSOF(model_names), s);
}

enum cd_sex cd_sex_from_string(const char *s)
{
	return (enum cd_sex)index_of(sex_names, ELEMENTSOF(sex_names), s);
}
