/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil-time.h"
#include "dose.h"

static const char *const by_names[_CD_SUMMARY_BY_MAX] = {
	[CD_SUMMARY_DAY] = "day",
	[CD_SUMMARY_WEEK] = "week",
	[CD_SUMMARY_MONTH] = "month",
};

const char *cd_summary_by_to_string(enum cd_summary_by by)
{
	return (unsigned)by < _CD_SUMMARY_BY_MAX ? by_names[by] : NULL;
}

enum cd_summary_by cd_summary_by_from_string(const char *s)
{
	for (int i = 0; s && i < _CD_SUMMARY_BY_MAX; i++)
		if (strcmp(s, by_names[i]) == 0)
			return (enum cd_summary_by)i;
	return _CD_SUMMARY_BY_INVALID;
}

static double number_or_zero(const cJSON *o, const char *key)
{
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;

	return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : 0;
}

int cd_figures_from_session(const cJSON *session, struct cd_figures *ret,
			    const char **ret_profile)
{
	const cJSON *intensity, *dose, *load, *ms, *p;

	if (!cJSON_IsObject(session))
		return -EBADMSG;
	intensity = cJSON_GetObjectItemCaseSensitive(session, "intensity");
	dose = cJSON_GetObjectItemCaseSensitive(session, "dose");
	load = cJSON_GetObjectItemCaseSensitive(session, "load");
	if (!cJSON_IsObject(intensity) || !cJSON_IsObject(dose))
		return -EBADMSG;
	*ret = (struct cd_figures){
		.active_s = number_or_zero(session, "active_s"),
		.moderate_s = number_or_zero(intensity, "moderate_s"),
		.vigorous_s = number_or_zero(intensity, "vigorous_s"),
		.mvpa_s = number_or_zero(dose, "mvpa_s"),
		.ecb_s = number_or_zero(dose, "ecb_s"),
		.trimp_edwards = number_or_zero(load, "trimp_edwards"),
	};
	ms = cJSON_GetObjectItemCaseSensitive(dose, "milestones");
	for (int i = 0; i < _CD_MILESTONE_MAX; i++) {
		const cJSON *v = ms ? cJSON_GetObjectItemCaseSensitive(
					      ms, cd_milestone_to_string((enum cd_milestone)i))
				    : NULL;

		ret->milestone[i] = cJSON_IsNumber(v);
	}
	if (ret_profile) {
		p = cJSON_GetObjectItemCaseSensitive(session, "profile");
		p = cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, "name") : NULL;
		*ret_profile = cJSON_IsString(p) ? p->valuestring : NULL;
	}
	return 0;
}

double cd_figures_intensity_min(const struct cd_figures *f)
{
	return (f->moderate_s + 2 * f->vigorous_s) / 60;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	int64_t m = a % b;

	return m < 0 ? m + b : m;
}

unsigned cd_weekday(int64_t day)
{
	/* 1970-01-01 was a Thursday (3 with Monday 0). */
	return (unsigned)floor_mod(day + 3, 7);
}

int64_t cd_period_start(enum cd_summary_by by, int64_t day)
{
	int64_t y;
	unsigned m, d;

	switch (by) {
	case CD_SUMMARY_WEEK:
		return day - cd_weekday(day);
	case CD_SUMMARY_MONTH:
		cd_civil_from_days(day, &y, &m, &d);
		return cd_days_from_civil(y, m, 1);
	default:
		return day;
	}
}

int64_t cd_period_end(enum cd_summary_by by, int64_t day)
{
	int64_t y;
	unsigned m, d;

	switch (by) {
	case CD_SUMMARY_WEEK:
		return cd_period_start(by, day) + 6;
	case CD_SUMMARY_MONTH:
		cd_civil_from_days(day, &y, &m, &d);
		return m == 12 ? cd_days_from_civil(y + 1, 1, 1) - 1
			       : cd_days_from_civil(y, m + 1, 1) - 1;
	default:
		return day;
	}
}

/* Index of the period holding day, counted from the one holding from (may be < 0). */
static int64_t period_index(enum cd_summary_by by, int64_t from, int64_t day)
{
	int64_t y0, y;
	unsigned m0, m, d;

	switch (by) {
	case CD_SUMMARY_WEEK:
		return (cd_period_start(by, day) - cd_period_start(by, from)) / 7;
	case CD_SUMMARY_MONTH:
		cd_civil_from_days(from, &y0, &m0, &d);
		cd_civil_from_days(day, &y, &m, &d);
		return (y * 12 + m) - (y0 * 12 + m0);
	default:
		return day - from;
	}
}

int cd_summary_init(struct cd_summary *s, enum cd_summary_by by, int64_t from, int64_t to)
{
	int64_t n, day;

	*s = (struct cd_summary){ .by = by };
	if ((unsigned)by >= _CD_SUMMARY_BY_MAX || from > to)
		return -EINVAL;
	/* ±10,000 years of days: the period arithmetic stays far from overflow. */
	if (from < -4000000 || to > 4000000)
		return -E2BIG;
	s->from = cd_period_start(by, from);
	s->to = cd_period_end(by, to);
	n = period_index(by, s->from, s->to) + 1;
	if (n > CD_SUMMARY_MAX_PERIODS)
		return -E2BIG;
	s->periods = calloc((size_t)n, sizeof(*s->periods));
	if (!s->periods)
		return -ENOMEM;
	s->n_periods = (size_t)n;
	day = s->from;
	for (size_t i = 0; i < s->n_periods; i++) {
		s->periods[i].start = day;
		s->periods[i].end = cd_period_end(by, day);
		day = s->periods[i].end + 1;
	}
	return 0;
}

void cd_summary_done(struct cd_summary *s)
{
	free(s->periods);
	s->periods = NULL;
	s->n_periods = 0;
}

static void figures_add(struct cd_figures *sum, const struct cd_figures *f)
{
	sum->active_s += f->active_s;
	sum->moderate_s += f->moderate_s;
	sum->vigorous_s += f->vigorous_s;
	sum->mvpa_s += f->mvpa_s;
	sum->ecb_s += f->ecb_s;
	sum->trimp_edwards += f->trimp_edwards;
}

bool cd_summary_add(struct cd_summary *s, int64_t day, const struct cd_figures *f)
{
	struct cd_summary_period *p;
	int64_t i;

	if (day < s->from || day > s->to)
		return false;
	i = period_index(s->by, s->from, day);
	if (i < 0 || (size_t)i >= s->n_periods)
		return false;
	p = &s->periods[i];
	p->sessions++;
	figures_add(&p->sum, f);
	for (int k = 0; k < _CD_MILESTONE_MAX; k++)
		p->milestones[k] += f->milestone[k];
	return true;
}

bool cd_goal_met(const struct cd_goals *g, double intensity_min, unsigned sessions)
{
	return intensity_min >= g->weekly_intensity_min && sessions >= g->weekly_sessions;
}

void cd_streak_init(struct cd_streak *st, int64_t today)
{
	*st = (struct cd_streak){ .this_monday = cd_period_start(CD_SUMMARY_WEEK, today) };
}

void cd_streak_done(struct cd_streak *st)
{
	free(st->minutes);
	free(st->sessions);
	*st = (struct cd_streak){};
}

int cd_streak_add(struct cd_streak *st, int64_t day, const struct cd_figures *f)
{
	int64_t w;

	if (day >= st->this_monday)
		return 0;
	w = (st->this_monday - cd_period_start(CD_SUMMARY_WEEK, day)) / 7 - 1;
	if (w < 0 || w > 4000000)
		return 0;
	if ((size_t)w >= st->cap) {
		size_t cap = st->cap ? st->cap : 64;
		double *mi;
		unsigned *se;

		while (cap <= (size_t)w)
			cap *= 2;
		mi = realloc(st->minutes, cap * sizeof(*mi));
		if (!mi)
			return -ENOMEM;
		st->minutes = mi;
		se = realloc(st->sessions, cap * sizeof(*se));
		if (!se)
			return -ENOMEM;
		st->sessions = se;
		memset(st->minutes + st->cap, 0, (cap - st->cap) * sizeof(*mi));
		memset(st->sessions + st->cap, 0, (cap - st->cap) * sizeof(*se));
		st->cap = cap;
	}
	if ((size_t)w >= st->n)
		st->n = (size_t)w + 1;
	st->minutes[w] += cd_figures_intensity_min(f);
	st->sessions[w]++;
	return 0;
}

unsigned cd_streak_weeks(const struct cd_streak *st, const struct cd_goals *g)
{
	size_t i;

	/* Weeks before the oldest session never count, even with a goal of zero. */
	for (i = 0; i < st->n; i++)
		if (!cd_goal_met(g, st->minutes[i], st->sessions[i]))
			break;
	return (unsigned)i;
}

int cd_format_date(int64_t day, char *buf, size_t size)
{
	int64_t y;
	unsigned m, d;
	int n;

	cd_civil_from_days(day, &y, &m, &d);
	if (y < 0 || y > 9999)
		return -EINVAL;
	n = snprintf(buf, size, "%04d-%02u-%02u", (int)y, m, d);
	return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

int cd_parse_date(const char *s, int64_t *ret)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned v[8], y, m, d, dim;

	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	for (int i = 0, k = 0; i < 10; i++) {
		if (i == 4 || i == 7)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v[k++] = (unsigned)(s[i] - '0');
	}
	y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
	m = v[4] * 10 + v[5];
	d = v[6] * 10 + v[7];
	if (y < 1970 || m < 1 || m > 12 || d < 1)
		return -EINVAL;
	dim = mdays[m - 1] + (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
	if (d > dim)
		return -EINVAL;
	*ret = cd_days_from_civil(y, m, d);
	return 0;
}

static bool add_date(cJSON *o, const char *key, int64_t day)
{
	char buf[16];

	if (cd_format_date(day, buf, sizeof(buf)) < 0)
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddStringToObject(o, key, buf) != NULL;
}

static cJSON *period_to_json(const struct cd_summary *s, const struct cd_summary_period *p,
			     const struct cd_goals *g)
{
	cJSON *o = cJSON_CreateObject(), *m;
	double imin = cd_figures_intensity_min(&p->sum);

	if (!o || !add_date(o, "start", p->start) || !add_date(o, "end", p->end) ||
	    !cJSON_AddNumberToObject(o, "sessions", p->sessions) ||
	    !cJSON_AddNumberToObject(o, "active_s", p->sum.active_s) ||
	    !cJSON_AddNumberToObject(o, "moderate_s", p->sum.moderate_s) ||
	    !cJSON_AddNumberToObject(o, "vigorous_s", p->sum.vigorous_s) ||
	    !cJSON_AddNumberToObject(o, "mvpa_s", p->sum.mvpa_s) ||
	    !cJSON_AddNumberToObject(o, "ecb_s", p->sum.ecb_s) ||
	    !cJSON_AddNumberToObject(o, "intensity_min", imin) ||
	    !cJSON_AddNumberToObject(o, "trimp_edwards", p->sum.trimp_edwards) ||
	    !(m = cJSON_AddObjectToObject(o, "milestones")))
		goto fail;
	for (int k = 0; k < _CD_MILESTONE_MAX; k++)
		if (!cJSON_AddNumberToObject(m, cd_milestone_to_string((enum cd_milestone)k),
					     p->milestones[k]))
			goto fail;
	if (s->by == CD_SUMMARY_WEEK
		    ? !cJSON_AddBoolToObject(o, "goal_met", cd_goal_met(g, imin, p->sessions))
		    : !cJSON_AddNullToObject(o, "goal_met"))
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

cJSON *cd_summary_to_json(const struct cd_summary *s, const char *tz, const char *profile,
			  const struct cd_goals *g, unsigned streak_weeks)
{
	cJSON *o = cJSON_CreateObject(), *goal, *a;

	if (!o || !cJSON_AddStringToObject(o, "by", cd_summary_by_to_string(s->by)) ||
	    !cJSON_AddStringToObject(o, "tz", tz ? tz : "UTC") || !add_date(o, "from", s->from) ||
	    !add_date(o, "to", s->to) ||
	    !(profile ? cJSON_AddStringToObject(o, "profile", profile)
		      : cJSON_AddNullToObject(o, "profile")) ||
	    !(goal = cJSON_AddObjectToObject(o, "goal")) ||
	    !cJSON_AddNumberToObject(goal, "weekly_intensity_min", g->weekly_intensity_min) ||
	    !cJSON_AddNumberToObject(goal, "weekly_sessions", g->weekly_sessions) ||
	    !cJSON_AddNumberToObject(o, "streak_weeks", streak_weeks) ||
	    !(a = cJSON_AddArrayToObject(o, "periods")))
		goto fail;
	for (size_t i = 0; i < s->n_periods; i++) {
		cJSON *p = period_to_json(s, &s->periods[i], g);

		if (!p || !cJSON_AddItemToArray(a, p)) {
			cJSON_Delete(p);
			goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}
