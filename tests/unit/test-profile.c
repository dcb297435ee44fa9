/* SPDX-License-Identifier: MIT */
/* Profiles and zones: DESIGN §3 "Profile", "Zones", "Intensity", "ECB band". */
#include <math.h>

#include "check.h"
#include "profile.h"

static struct cd_profile profile_max(double hr_max)
{
	struct cd_profile p;

	cd_profile_init(&p);
	CHECK(cd_profile_set_hr_max(&p, hr_max) == 0);
	return p;
}

static void test_tanaka(void)
{
	struct cd_profile p;

	cd_profile_init(&p);
	CHECK(cd_profile_validate(&p, NULL) == -EINVAL); /* neither hr_max nor age */
	CHECK(cd_profile_set_age(&p, 40) == 0);
	CHECK_NEAR(p.hr_max, 180.0, 1e-12); /* 208 − 0.7 × 40 */
	CHECK_INT(p.hr_max_source, CD_HR_MAX_AGE);
	CHECK(cd_profile_validate(&p, NULL) == 0);
	CHECK_NEAR(cd_tanaka_hr_max(30), 187.0, 1e-12);

	/* A configured hr_max wins over age, whatever the order. */
	CHECK(cd_profile_set_hr_max(&p, 200) == 0);
	CHECK(cd_profile_set_age(&p, 20) == 0);
	CHECK_NEAR(p.hr_max, 200.0, 0);
	CHECK_INT(p.hr_max_source, CD_HR_MAX_CONFIGURED);
	CHECK_STR(cd_hr_max_source_to_string(p.hr_max_source), "configured");

	CHECK(cd_profile_set_age(&p, -1) == -EINVAL);
	CHECK(cd_profile_set_hr_max(&p, NAN) == -EINVAL);
	CHECK(cd_profile_set_hr_max(&p, 400) == -EINVAL);
	/* The accepted range is 60–260 bpm, both ends included. */
	CHECK(cd_profile_set_hr_max(&p, 59.9) == -EINVAL);
	CHECK(cd_profile_set_hr_max(&p, 260.1) == -EINVAL);
	CHECK(cd_profile_set_hr_max(&p, 60) == 0);
	CHECK_NEAR(p.hr_max, 60, 0);
	CHECK(cd_profile_set_hr_max(&p, 260) == 0);
	CHECK_NEAR(p.hr_max, 260, 0);
	/* Ages 1–120, both ends included. */
	CHECK(cd_profile_set_age(&p, 0.99) == -EINVAL);
	CHECK(cd_profile_set_age(&p, 120.01) == -EINVAL);
	CHECK(cd_profile_set_age(&p, 1) == 0);
	CHECK(cd_profile_set_age(&p, 120) == 0);
	CHECK_NEAR(p.age, 120, 0);
}

static void test_percent_max_bounds(void)
{
	struct cd_profile p = profile_max(200);

	/* Bounds 50,60,70,80,90 % of 200: 100, 120, 140, 160, 180 bpm. */
	CHECK_INT(cd_zone_of(&p, 99), CD_ZONE_0);
	CHECK_INT(cd_zone_of(&p, 100), CD_ZONE_1); /* exactly on a bound: upper zone */
	CHECK_INT(cd_zone_of(&p, 119.999), CD_ZONE_1);
	CHECK_INT(cd_zone_of(&p, 120), CD_ZONE_2);
	CHECK_INT(cd_zone_of(&p, 140), CD_ZONE_3);
	CHECK_INT(cd_zone_of(&p, 160), CD_ZONE_4);
	CHECK_INT(cd_zone_of(&p, 179), CD_ZONE_4);
	CHECK_INT(cd_zone_of(&p, 180), CD_ZONE_5);
	CHECK_INT(cd_zone_of(&p, 240), CD_ZONE_5);
	CHECK_NEAR(cd_zone_lo_bpm(&p, CD_ZONE_0), 0, 0);
	CHECK_NEAR(cd_zone_lo_bpm(&p, CD_ZONE_3), 140, 1e-9);
	CHECK_NEAR(cd_zone_hi_bpm(&p, CD_ZONE_3), 160, 1e-9);
	CHECK(isinf(cd_zone_hi_bpm(&p, CD_ZONE_5)));

	/* A bound that is not a whole bpm: 190 × 70 % = 133. 133 is Z3, 132 Z2. */
	p = profile_max(190);
	CHECK_INT(cd_zone_of(&p, 133), CD_ZONE_3);
	CHECK_INT(cd_zone_of(&p, 132), CD_ZONE_2);
	/* 187 × 60 % = 112.2: 112 is Z1, 113 Z2. */
	p = profile_max(187);
	CHECK_INT(cd_zone_of(&p, 112), CD_ZONE_1);
	CHECK_INT(cd_zone_of(&p, 113), CD_ZONE_2);
}

static void test_custom_bounds(void)
{
	struct cd_profile p = profile_max(200);
	double b[CD_ZONE_BOUNDS];

	CHECK(cd_parse_bounds("55, 65,75,85 ,95", b) == 0);
	CHECK_NEAR(b[0], 55, 0);
	CHECK_NEAR(b[4], 95, 0);
	CHECK(cd_parse_bounds("50,60,70,80", b) == -EINVAL);     /* four */
	CHECK(cd_parse_bounds("50,60,70,80,90,95", b) == -EINVAL); /* six */
	CHECK(cd_parse_bounds("50,60,60,80,90", b) == -EINVAL);  /* not increasing */
	CHECK(cd_parse_bounds("50,60,x,80,90", b) == -EINVAL);
	CHECK(cd_parse_bounds("", b) == -EINVAL);
	CHECK(cd_parse_bounds("-5,60,70,80,90", b) == -EINVAL);

	CHECK(cd_parse_bounds("55,65,75,85,95", p.zones_pct) == 0);
	CHECK_INT(cd_zone_of(&p, 109), CD_ZONE_0); /* 54.5 % */
	CHECK_INT(cd_zone_of(&p, 110), CD_ZONE_1); /* 55 % */
	CHECK_INT(cd_zone_of(&p, 190), CD_ZONE_5); /* 95 % */
}

static void test_zones_bpm(void)
{
	struct cd_profile p = profile_max(190);

	p.has_zones_bpm = true;
	CHECK(cd_parse_bounds("95,114,133,152,171", p.zones_bpm) == 0);
	p.model = CD_MODEL_ZONES_BPM;
	CHECK(cd_profile_validate(&p, NULL) == 0);
	CHECK_INT(cd_zone_of(&p, 94), CD_ZONE_0);
	CHECK_INT(cd_zone_of(&p, 95), CD_ZONE_1);
	CHECK_INT(cd_zone_of(&p, 151), CD_ZONE_3);
	CHECK_INT(cd_zone_of(&p, 152), CD_ZONE_4);
	CHECK_INT(cd_zone_of(&p, 171), CD_ZONE_5);
	CHECK_NEAR(cd_zone_lo_bpm(&p, CD_ZONE_2), 114, 0);
	CHECK_NEAR(cd_zone_lo_bpm(&p, CD_ZONE_0), 0, 0); /* Z0 has no lower bound */
	CHECK_NEAR(cd_zone_hi_bpm(&p, CD_ZONE_0), 95, 0);
	CHECK(isinf(cd_zone_hi_bpm(&p, CD_ZONE_5)));
	/* Intensity and ECB stay relative to hr_max (190): 64 % = 121.6, 77 % = 146.3. */
	CHECK_INT(cd_intensity_of(&p, 121), CD_INTENSITY_LIGHT);
	CHECK_INT(cd_intensity_of(&p, 122), CD_INTENSITY_MODERATE);
	CHECK_INT(cd_intensity_of(&p, 147), CD_INTENSITY_VIGOROUS);
	CHECK(cd_in_ecb_band(&p, 133));  /* 70 % exactly */
	CHECK(!cd_in_ecb_band(&p, 152)); /* 80 % exactly is outside */

	p.has_zones_bpm = false;
	CHECK(cd_profile_validate(&p, NULL) == -EINVAL); /* model zones_bpm without bounds */
}

static void test_reserve(void)
{
	struct cd_profile p = profile_max(200);

	p.hr_rest = 60;
	p.model = CD_MODEL_PERCENT_RESERVE;
	/* Karvonen: 60 + pct × 140 → 50 % = 130, 60 % = 144, 70 % = 158, 80 % = 172, 90 % = 186. */
	CHECK_NEAR(cd_zone_lo_bpm(&p, CD_ZONE_1), 130, 1e-9);
	CHECK_NEAR(cd_zone_lo_bpm(&p, CD_ZONE_5), 186, 1e-9);
	CHECK_INT(cd_zone_of(&p, 129), CD_ZONE_0);
	CHECK_INT(cd_zone_of(&p, 130), CD_ZONE_1);
	CHECK_INT(cd_zone_of(&p, 144), CD_ZONE_2);
	CHECK_INT(cd_zone_of(&p, 172), CD_ZONE_4);
	CHECK_INT(cd_zone_of(&p, 186), CD_ZONE_5);
	/* Intensity: moderate 40–60 %HRR (116–144), vigorous ≥ 60 %HRR. */
	CHECK_INT(cd_intensity_of(&p, 115), CD_INTENSITY_LIGHT);
	CHECK_INT(cd_intensity_of(&p, 116), CD_INTENSITY_MODERATE);
	CHECK_INT(cd_intensity_of(&p, 143), CD_INTENSITY_MODERATE);
	CHECK_INT(cd_intensity_of(&p, 144), CD_INTENSITY_VIGOROUS);
	/* ECB stays 70–80 % HRmax: 140 ≤ bpm < 160. */
	CHECK(cd_in_ecb_band(&p, 140));
	CHECK(!cd_in_ecb_band(&p, 139));
	CHECK(!cd_in_ecb_band(&p, 160));
}

static void test_intensity_percent_max(void)
{
	struct cd_profile p = profile_max(200);

	/* 64 % = 128, 77 % = 154. */
	CHECK_INT(cd_intensity_of(&p, 127), CD_INTENSITY_LIGHT);
	CHECK_INT(cd_intensity_of(&p, 128), CD_INTENSITY_MODERATE);
	CHECK_INT(cd_intensity_of(&p, 153), CD_INTENSITY_MODERATE);
	CHECK_INT(cd_intensity_of(&p, 154), CD_INTENSITY_VIGOROUS);
	CHECK_INT(cd_intensity_of(&p, 200), CD_INTENSITY_VIGOROUS); /* ≥ 96 % still vigorous */
	CHECK(cd_in_ecb_band(&p, 140));
	CHECK(cd_in_ecb_band(&p, 159.9));
	CHECK(!cd_in_ecb_band(&p, 160));
	CHECK_NEAR(cd_pct_hr_max(&p, 150), 75, 1e-12);
}

static void test_validate_and_names(void)
{
	struct cd_profile p = profile_max(180);
	const char *why = NULL;

	p.hr_rest = 190;
	CHECK(cd_profile_validate(&p, &why) == -EINVAL);
	CHECK(why != NULL);
	CHECK(cd_profile_set_hr_max(&p, 100) == 0);
	p.hr_rest = 100; /* equal to hr_max: not below it */
	CHECK(cd_profile_validate(&p, &why) == -EINVAL);
	p.hr_rest = 99;
	CHECK(cd_profile_validate(&p, NULL) == 0);
	CHECK(cd_profile_set_hr_max(&p, 180) == 0);
	/* hr_rest 20–150 both included; the top zone bound at most 200 %. */
	p.hr_rest = 150;
	CHECK(cd_profile_validate(&p, NULL) == 0);
	p.hr_rest = 150.1;
	CHECK(cd_profile_validate(&p, NULL) == -EINVAL);
	p.hr_rest = 20;
	CHECK(cd_profile_validate(&p, NULL) == 0);
	p.hr_rest = 19.9;
	CHECK(cd_profile_validate(&p, NULL) == -EINVAL);
	p.hr_rest = 60;
	p.zones_pct[4] = 200;
	CHECK(cd_profile_validate(&p, NULL) == 0);
	p.zones_pct[4] = 200.1;
	CHECK(cd_profile_validate(&p, NULL) == -EINVAL);
	p.zones_pct[4] = 90;
	p.zones_pct[2] = 10;
	CHECK(cd_profile_validate(&p, NULL) == -EINVAL);

	CHECK_STR(cd_zone_label(CD_ZONE_3), "Z3");
	CHECK_STR(cd_zone_name(CD_ZONE_0), "rest");
	CHECK(cd_zone_name(_CD_ZONE_MAX) == NULL);
	CHECK_INT(cd_model_from_string("percent_reserve"), CD_MODEL_PERCENT_RESERVE);
	CHECK_INT(cd_model_from_string("bogus"), _CD_MODEL_INVALID);
	CHECK_INT(cd_sex_from_string("female"), CD_SEX_FEMALE);
	CHECK_INT(cd_sex_from_string(NULL), _CD_SEX_INVALID);
	CHECK_STR(cd_model_to_string(CD_MODEL_ZONES_BPM), "zones_bpm");
	CHECK_STR(cd_intensity_to_string(CD_INTENSITY_VIGOROUS), "vigorous");
}

int main(void)
{
	test_tanaka();
	test_percent_max_bounds();
	test_custom_bounds();
	test_zones_bpm();
	test_reserve();
	test_intensity_percent_max();
	test_validate_and_names();
	return check_exit("test-profile");
}
