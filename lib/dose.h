/* SPDX-License-Identifier: MIT */
/*
 * The dose over weeks (DESIGN §9.4): sessions added up by local day, ISO
 * week (Monday first) or month.  Pure: days are local day numbers (days
 * since 1970-01-01 of the local calendar date); the daemon converts a
 * session's start to its local date (it owns the time zone).
 */
#pragma once

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* The most periods one answer may hold (10 years by day, with room). */
#define CD_SUMMARY_MAX_PERIODS 4000u

enum cd_summary_by {
	CD_SUMMARY_DAY,
	CD_SUMMARY_WEEK,
	CD_SUMMARY_MONTH,
	_CD_SUMMARY_BY_MAX,
	_CD_SUMMARY_BY_INVALID = -EINVAL,
};

const char *cd_summary_by_to_string(enum cd_summary_by by);
enum cd_summary_by cd_summary_by_from_string(const char *s);

/* What a summary needs of one session (stored when it ends). */
struct cd_figures {
	double active_s, moderate_s, vigorous_s, mvpa_s, ecb_s, trimp_edwards;
	bool milestone[_CD_MILESTONE_MAX]; /* reached */
};

/*
 * The figures of a session object (DESIGN §4): active_s, intensity,
 * dose (milestones reached when not null), load.trimp_edwards.  *ret_profile
 * (may be NULL) points into session: profile.name, or NULL.  0 or -EBADMSG.
 */
int cd_figures_from_session(const cJSON *session, struct cd_figures *ret,
			    const char **ret_profile);

/* (moderate + 2 × vigorous) / 60: WHO's and Garmin's intensity minutes. */
double cd_figures_intensity_min(const struct cd_figures *f);

struct cd_summary_period {
	int64_t start, end; /* local day numbers, inclusive */
	unsigned sessions;
	struct cd_figures sum;                     /* milestone[] unused */
	unsigned milestones[_CD_MILESTONE_MAX];    /* sessions that reached each */
};

struct cd_goals {
	double weekly_intensity_min; /* default 150 */
	unsigned weekly_sessions;    /* default 3 */
};

struct cd_summary {
	enum cd_summary_by by;
	int64_t from, to; /* aligned to whole periods */
	struct cd_summary_period *periods;
	size_t n_periods;
};

/* Day of the week, Monday 0 … Sunday 6. */
unsigned cd_weekday(int64_t day);
/* The first and last day of the period that holds day. */
int64_t cd_period_start(enum cd_summary_by by, int64_t day);
int64_t cd_period_end(enum cd_summary_by by, int64_t day);

/*
 * Periods from the one holding from to the one holding to, all zero.
 * 0, -EINVAL (from > to, bad by), -E2BIG (more than
 * CD_SUMMARY_MAX_PERIODS), -ENOMEM.
 */
int cd_summary_init(struct cd_summary *s, enum cd_summary_by by, int64_t from, int64_t to);
void cd_summary_done(struct cd_summary *s);
/* Count a session that started on local day; false when outside the range. */
bool cd_summary_add(struct cd_summary *s, int64_t day, const struct cd_figures *f);
/* A week meets the goal: intensity minutes ≥ goal and sessions ≥ goal. */
bool cd_goal_met(const struct cd_goals *g, double intensity_min, unsigned sessions);

/*
 * Weekly totals for the streak, indexed by weeks before the current one
 * (0 = last week).  Grows as sessions are added.
 */
struct cd_streak {
	int64_t this_monday; /* first day of the current week */
	double *minutes;
	unsigned *sessions;
	size_t n, cap;
};

void cd_streak_init(struct cd_streak *st, int64_t today);
void cd_streak_done(struct cd_streak *st);
/* Count a session started on day (ignored unless before the current week).  0 or -ENOMEM. */
int cd_streak_add(struct cd_streak *st, int64_t day, const struct cd_figures *f);
/* Complete weeks up to last week that met the goal, in a row. */
unsigned cd_streak_weeks(const struct cd_streak *st, const struct cd_goals *g);

/* "YYYY-MM-DD" of a day number into buf (≥ 11 bytes; years 0..9999). 0 or -EINVAL. */
int cd_format_date(int64_t day, char *buf, size_t size);
/* "YYYY-MM-DD" (a real date, years 1970..9999) to a day number.  0 or -EINVAL. */
int cd_parse_date(const char *s, int64_t *ret);

/*
 * The answer of GET /summary (DESIGN §9.4): by, tz, from, to, profile
 * (NULL → null), goal, streak_weeks, periods.  NULL on OOM.
 */
cJSON *cd_summary_to_json(const struct cd_summary *s, const char *tz, const char *profile,
			  const struct cd_goals *g, unsigned streak_weeks);
