/* SPDX-License-Identifier: MIT */
/*
 * lib/dose.c and lib/csv-import.c: calendar periods, sums, goals and the
 * streak against figures worked out by hand; the CSV import's calls and
 * errors.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "csv-import.h"
#include "dose.h"

static int64_t day(const char *s)
{
	int64_t d = INT64_MIN;

	CHECK_INT(cd_parse_date(s, &d), 0);
	return d;
}

static const char *date(int64_t d)
{
	static char buf[4][16];
	static int i;

	i = (i + 1) % 4;
	if (cd_format_date(d, buf[i], sizeof(buf[i])) < 0)
		return "?";
	return buf[i];
}

static void test_dates(void)
{
	int64_t d;

	CHECK_INT(day("1970-01-01"), 0);
	CHECK_INT(cd_weekday(0), 3); /* a Thursday */
	CHECK_INT(cd_weekday(day("2026-03-29")), 6); /* Sunday, the spring DST change */
	CHECK_INT(cd_weekday(day("2026-10-26")), 0); /* Monday */
	CHECK_INT(day("2024-02-29") - day("2024-02-28"), 1);
	CHECK_INT(cd_parse_date("2026-02-29", &d), -EINVAL);
	CHECK_INT(cd_parse_date("2026-13-01", &d), -EINVAL);
	CHECK_INT(cd_parse_date("2026-04-31", &d), -EINVAL);
	CHECK_INT(cd_parse_date("2026-1-01", &d), -EINVAL);
	CHECK_INT(cd_parse_date("1969-12-31", &d), -EINVAL);
	CHECK_INT(cd_parse_date("2026-03-29x", &d), -EINVAL);
	CHECK_INT(cd_parse_date("2026/03/29", &d), -EINVAL);
	CHECK_STR(date(day("2026-12-31")), "2026-12-31");

	/* Weeks run Monday to Sunday; months are calendar months. */
	CHECK_STR(date(cd_period_start(CD_SUMMARY_WEEK, day("2026-03-29"))), "2026-03-23");
	CHECK_STR(date(cd_period_end(CD_SUMMARY_WEEK, day("2026-03-23"))), "2026-03-29");
	CHECK_STR(date(cd_period_start(CD_SUMMARY_WEEK, day("2026-03-30"))), "2026-03-30");
	CHECK_STR(date(cd_period_start(CD_SUMMARY_WEEK, day("2027-01-01"))), "2026-12-28");
	CHECK_STR(date(cd_period_start(CD_SUMMARY_MONTH, day("2024-02-15"))), "2024-02-01");
	CHECK_STR(date(cd_period_end(CD_SUMMARY_MONTH, day("2024-02-15"))), "2024-02-29");
	CHECK_STR(date(cd_period_end(CD_SUMMARY_MONTH, day("2026-12-05"))), "2026-12-31");
	CHECK_STR(date(cd_period_start(CD_SUMMARY_DAY, day("2026-12-05"))), "2026-12-05");

	CHECK_INT(cd_summary_by_from_string("week"), CD_SUMMARY_WEEK);
	CHECK_INT(cd_summary_by_from_string("year"), _CD_SUMMARY_BY_INVALID);
	CHECK_STR(cd_summary_by_to_string(CD_SUMMARY_MONTH), "month");
}

static struct cd_figures fig(double moderate, double vigorous, bool m20)
{
	return (struct cd_figures){
		.active_s = moderate + vigorous + 100,
		.moderate_s = moderate,
		.vigorous_s = vigorous,
		.mvpa_s = moderate + vigorous,
		.ecb_s = moderate / 2,
		.trimp_edwards = 10,
		.milestone = { [CD_MILESTONE_MVPA_20] = m20 },
	};
}

static void test_periods(void)
{
	struct cd_summary s;
	struct cd_goals g = { 150, 3 };
	struct cd_figures a = fig(600, 300, false); /* (600 + 2·300) / 60 = 20 min */
	struct cd_figures b = fig(3000, 1200, true); /* (3000 + 2400) / 60 = 90 min */
	cJSON *j, *p;

	/* A Wednesday to a Wednesday: whole weeks, Monday 23 March to Sunday 12 April. */
	CHECK_INT(cd_summary_init(&s, CD_SUMMARY_WEEK, day("2026-03-25"), day("2026-04-08")), 0);
	CHECK_STR(date(s.from), "2026-03-23");
	CHECK_STR(date(s.to), "2026-04-12");
	CHECK_INT(s.n_periods, 3);
	CHECK(cd_summary_add(&s, day("2026-03-29"), &a)); /* Sunday: the first week */
	CHECK(cd_summary_add(&s, day("2026-03-23"), &b));
	CHECK(cd_summary_add(&s, day("2026-03-24"), &b));
	CHECK(cd_summary_add(&s, day("2026-04-12"), &a)); /* the last day */
	CHECK(!cd_summary_add(&s, day("2026-03-22"), &a));
	CHECK(!cd_summary_add(&s, day("2026-04-13"), &a));
	CHECK_INT(s.periods[0].sessions, 3);
	CHECK_NEAR(s.periods[0].sum.moderate_s, 6600, 0);
	CHECK_NEAR(s.periods[0].sum.vigorous_s, 2700, 0);
	CHECK_INT(s.periods[0].milestones[CD_MILESTONE_MVPA_20], 2);
	CHECK_INT(s.periods[1].sessions, 0);
	CHECK_INT(s.periods[2].sessions, 1);

	j = cd_summary_to_json(&s, "Europe/Berlin", NULL, &g, 4);
	CHECK(j != NULL);
	CHECK_STR(cJSON_GetObjectItem(j, "by")->valuestring, "week");
	CHECK_STR(cJSON_GetObjectItem(j, "tz")->valuestring, "Europe/Berlin");
	CHECK_STR(cJSON_GetObjectItem(j, "from")->valuestring, "2026-03-23");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "profile")));
	CHECK_INT(cJSON_GetObjectItem(j, "streak_weeks")->valueint, 4);
	CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "goal"), "weekly_intensity_min")
			   ->valuedouble,
		   150, 0);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "periods")), 3);
	p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "periods"), 0);
	CHECK_STR(cJSON_GetObjectItem(p, "end")->valuestring, "2026-03-29");
	CHECK_NEAR(cJSON_GetObjectItem(p, "intensity_min")->valuedouble, 200, 1e-9); /* 20 + 90 + 90 */
	CHECK_NEAR(cJSON_GetObjectItem(p, "trimp_edwards")->valuedouble, 30, 1e-9);
	CHECK_NEAR(cJSON_GetObjectItem(p, "active_s")->valuedouble, 900 + 4200 * 2 + 300, 1e-9);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(p, "goal_met"))); /* 200 ≥ 150, 3 ≥ 3 */
	p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "periods"), 1);
	CHECK_INT(cJSON_GetObjectItem(p, "sessions")->valueint, 0);
	CHECK_NEAR(cJSON_GetObjectItem(p, "intensity_min")->valuedouble, 0, 0);
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(p, "goal_met")));
	cJSON_Delete(j);
	cd_summary_done(&s);

	/* Days: goal_met is null; months: February 2024 has 29 days. */
	CHECK_INT(cd_summary_init(&s, CD_SUMMARY_DAY, day("2026-03-28"), day("2026-03-30")), 0);
	CHECK_INT(s.n_periods, 3);
	CHECK(cd_summary_add(&s, day("2026-03-29"), &a));
	j = cd_summary_to_json(&s, "UTC", "alice", &g, 0);
	p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "periods"), 1);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(p, "goal_met")));
	CHECK_STR(cJSON_GetObjectItem(j, "profile")->valuestring, "alice");
	cJSON_Delete(j);
	cd_summary_done(&s);
	CHECK_INT(cd_summary_init(&s, CD_SUMMARY_MONTH, day("2024-01-31"), day("2024-03-01")), 0);
	CHECK_INT(s.n_periods, 3);
	CHECK_STR(date(s.periods[1].end), "2024-02-29");
	CHECK(cd_summary_add(&s, day("2024-02-29"), &a));
	CHECK_INT(s.periods[1].sessions, 1);
	cd_summary_done(&s);

	/* Refusals: from after to, too many periods. */
	CHECK_INT(cd_summary_init(&s, CD_SUMMARY_WEEK, day("2026-04-08"), day("2026-03-25")),
		  -EINVAL);
	CHECK_INT(cd_summary_init(&s, CD_SUMMARY_DAY, day("1970-01-01"), day("2026-01-01")), -E2BIG);
	CHECK_INT(cd_summary_init(&s, CD_SUMMARY_WEEK, day("1970-01-01"), day("2026-01-01")), 0);
	CHECK_INT(s.n_periods, 2923); /* Monday 1969-12-29 to Sunday 2026-01-04 */
	cd_summary_done(&s);
}

static void test_streak(void)
{
	struct cd_goals g = { 150, 3 };
	struct cd_figures big = fig(3000, 0, false); /* 50 min */
	struct cd_streak st;

	/* Today: Wednesday 8 April 2026.  Last week: 30 March to 5 April. */
	cd_streak_init(&st, day("2026-04-08"));
	CHECK_INT(cd_streak_weeks(&st, &g), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(cd_streak_add(&st, day("2026-04-05"), &big), 0); /* last week */
		CHECK_INT(cd_streak_add(&st, day("2026-03-23"), &big), 0);
		CHECK_INT(cd_streak_add(&st, day("2026-03-09"), &big), 0);
	}
	/* This week does not count, however good. */
	CHECK_INT(cd_streak_add(&st, day("2026-04-06"), &big), 0);
	CHECK_INT(cd_streak_weeks(&st, &g), 2); /* 16–22 March is empty */
	/* The empty week fills, but one session short of the goal. */
	CHECK_INT(cd_streak_add(&st, day("2026-03-16"), &big), 0);
	CHECK_INT(cd_streak_add(&st, day("2026-03-22"), &big), 0);
	CHECK_INT(cd_streak_weeks(&st, &g), 2);
	CHECK_INT(cd_streak_add(&st, day("2026-03-19"), &big), 0);
	CHECK_INT(cd_streak_weeks(&st, &g), 4);
	/* With a goal of 150 min, 149.9 is not enough. */
	g.weekly_intensity_min = 150.1;
	CHECK_INT(cd_streak_weeks(&st, &g), 0);
	CHECK(cd_goal_met(&(struct cd_goals){ 150, 3 }, 150, 3));
	CHECK(!cd_goal_met(&(struct cd_goals){ 150, 3 }, 200, 2));
	cd_streak_done(&st);
}

static void test_figures(void)
{
	cJSON *j = cJSON_Parse(
		"{\"active_s\": 1800.5, \"profile\": {\"name\": \"alice\"},"
		" \"intensity\": {\"light_s\": 1, \"moderate_s\": 700, \"vigorous_s\": 500.25},"
		" \"dose\": {\"mvpa_s\": 1200.25, \"ecb_s\": 300,"
		"  \"milestones\": {\"mvpa_20\": 1199.5, \"mvpa_40\": null, \"duration_60\": null}},"
		" \"load\": {\"trimp_edwards\": 42.5, \"trimp_banister\": 30}}");
	struct cd_figures f;
	const char *profile = NULL;

	CHECK_INT(cd_figures_from_session(j, &f, &profile), 0);
	CHECK_STR(profile, "alice");
	CHECK_NEAR(f.active_s, 1800.5, 0);
	CHECK_NEAR(f.moderate_s, 700, 0);
	CHECK_NEAR(f.vigorous_s, 500.25, 0);
	CHECK_NEAR(f.mvpa_s, 1200.25, 0);
	CHECK_NEAR(f.ecb_s, 300, 0);
	CHECK_NEAR(f.trimp_edwards, 42.5, 0);
	CHECK(f.milestone[CD_MILESTONE_MVPA_20]);
	CHECK(!f.milestone[CD_MILESTONE_MVPA_40]);
	CHECK(!f.milestone[CD_MILESTONE_DURATION_60]);
	CHECK_NEAR(cd_figures_intensity_min(&f), (700 + 1000.5) / 60, 1e-12);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"active_s\": 3}");
	CHECK_INT(cd_figures_from_session(j, &f, NULL), -EBADMSG);
	cJSON_Delete(j);
}

struct sink_log {
	int begins, samples, ends;
	double t_sum, rr_sum;
	int fail_at; /* sample number that fails, 0: none */
};

static int log_begin(void *ud, int64_t started, const char *sport)
{
	struct sink_log *l = ud;

	CHECK(started == CD_IMPORT_NO_START);
	CHECK(sport == NULL);
	l->begins++;
	return 0;
}

static int log_sample(void *ud, const struct cd_sample *s)
{
	struct sink_log *l = ud;

	l->samples++;
	l->t_sum += s->t;
	for (size_t i = 0; i < s->n_rr; i++)
		l->rr_sum += s->rr_ms[i];
	return l->samples == l->fail_at ? -ENOSPC : 0;
}

static int log_end(void *ud)
{
	((struct sink_log *)ud)->ends++;
	return 0;
}

static void test_csv_import(void)
{
	static const char good[] = "t_s,bpm,rr_ms,contact\n0,100,600 610,1\n1.5,101,,\n3,0,,0\n";
	static const char bad[] = "t_s,bpm,rr_ms,contact\n0,100,,1\n1,fast,,1\n2,100,,1\n";
	struct sink_log l = {};
	struct cd_import_sink sink = { log_begin, log_sample, log_end, &l };
	char err[128] = "";

	CHECK_INT(cd_csv_import(good, strlen(good), &sink, err, sizeof(err)), 0);
	CHECK_INT(l.begins, 1);
	CHECK_INT(l.samples, 3);
	CHECK_INT(l.ends, 1);
	CHECK_NEAR(l.t_sum, 4.5, 0);
	CHECK_NEAR(l.rr_sum, 1210, 0);

	l = (struct sink_log){};
	CHECK_INT(cd_csv_import(bad, strlen(bad), &sink, err, sizeof(err)), -EBADMSG);
	CHECK(strncmp(err, "line 3:", 7) == 0);
	CHECK_INT(l.ends, 0);

	l = (struct sink_log){ .fail_at = 2 };
	CHECK_INT(cd_csv_import(good, strlen(good), &sink, err, sizeof(err)), -ENOSPC);
	CHECK_INT(l.samples, 2);
	CHECK_INT(l.ends, 0);

	l = (struct sink_log){};
	CHECK_INT(cd_csv_import("", 0, &sink, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "header") != NULL);
}

int main(void)
{
	test_dates();
	test_periods();
	test_streak();
	test_figures();
	test_csv_import();
	return check_exit("test-dose");
}
