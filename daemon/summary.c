/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "civil-time.h"
#include "cleanup.h"
#include "cleanup-json.h"
#include "store-summary.h"
#include "summary.h"


#define USEC_PER_DAY (86400ULL * 1000000ULL)
/* Default range: the current week and the 11 before it. */
#define DEFAULT_WEEKS 12

const char *summary_tz_name(char *buf, size_t size)
{
	static const char zoneinfo[] = "zoneinfo/";
	const char *tz = getenv("TZ"), *p;
	char link[PATH_MAX];
	ssize_t n;

	if (tz && *tz) {
		if (*tz == ':')
			tz++;
		p = strstr(tz, zoneinfo);
		if (*tz == '/' && p)
			tz = p + strlen(zoneinfo);
		snprintf(buf, size, "%s", *tz ? tz : "UTC");
		return buf;
	}
	n = readlink("/etc/localtime", link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		p = strstr(link, zoneinfo);
		if (p && p[strlen(zoneinfo)]) {
			snprintf(buf, size, "%s", p + strlen(zoneinfo));
			return buf;
		}
	}
	snprintf(buf, size, "UTC");
	return buf;
}

int64_t summary_local_day(uint64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return (int64_t)(us / USEC_PER_DAY);
	return cd_days_from_civil((int64_t)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
				  (unsigned)tm.tm_mday);
}

/* Realtime µs of local midnight starting day (a day earlier than that at worst: a margin). */
static uint64_t day_start_us(int64_t day)
{
	struct tm tm = { .tm_isdst = -1 };
	int64_t y;
	unsigned m, d;
	time_t t;

	cd_civil_from_days(day, &y, &m, &d);
	tm.tm_year = (int)(y - 1900);
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	t = mktime(&tm);
	if (t == (time_t)-1)
		t = (time_t)(day * 86400);
	return t < 0 ? 0 : (uint64_t)t * 1000000;
}

struct collect {
	struct cd_summary *summary; /* or NULL */
	struct cd_streak *streak;   /* or NULL */
	int64_t today;
	struct summary_week *week;  /* or NULL */
};

static int collect_one(struct collect *c, uint64_t started_us, const struct cd_figures *f)
{
	int64_t day = summary_local_day(started_us);
	int r;

	if (c->summary)
		cd_summary_add(c->summary, day, f);
	if (c->streak) {
		r = cd_streak_add(c->streak, day, f);
		if (r < 0)
			return r;
	}
	if (c->week && cd_period_start(CD_SUMMARY_WEEK, day) ==
			       cd_period_start(CD_SUMMARY_WEEK, c->today) &&
	    day <= c->today) {
		double min = cd_figures_intensity_min(f);

		c->week->week_min += min;
		c->week->week_sessions++;
		if (day == c->today)
			c->week->today_min += min;
	}
	return 0;
}

static int collect_row(void *ud, const struct store_figures_row *row)
{
	return collect_one(ud, row->started_us, &row->f);
}

/* Active sessions, live: the monitor's engines. */
static int collect_active(struct collect *c, struct monitor *monitor, const char *profile,
			  uint64_t from_us, uint64_t to_us, uint64_t now_us)
{
	for (struct monitor_device *d = monitor ? monitor_devices(monitor) : NULL; d; d = d->next) {
		const struct monitor_session *s = d->session;
		_cleanup_(cJSON_Deletep) cJSON *j = NULL;
		struct cd_figures f;
		const char *name;
		int r;

		if (!s || !s->active || s->started_at_us < from_us || s->started_at_us >= to_us)
			continue;
		if (profile && strcmp(cd_engine_profile(s->engine)->name, profile) != 0)
			continue;
		j = monitor_session_to_json(s, monitor_boot_us()); /* figures only: stale needs boot time */
		if (!j)
			return -ENOMEM;
		if (cd_figures_from_session(j, &f, &name) < 0)
			continue;
		r = collect_one(c, s->started_at_us, &f);
		if (r < 0)
			return r;
	}
	return 0;
}

static int collect_range(struct collect *c, struct store *store, struct monitor *monitor,
			 const char *profile, uint64_t from_us, uint64_t to_us, uint64_t now_us)
{
	int r = store_figures_each(store, from_us, to_us, profile, collect_row, c);

	if (r < 0)
		return r;
	return collect_active(c, monitor, profile, from_us, to_us, now_us);
}

int summary_json(struct store *store, struct monitor *monitor, const struct cd_config *config,
		 const struct summary_query *q, uint64_t now_us, cJSON **ret)
{
	_cleanup_(cd_summary_done) struct cd_summary sum = {};
	_cleanup_(cd_streak_done) struct cd_streak streak = {};
	struct cd_goals goals = {
		.weekly_intensity_min = config->goal_weekly_intensity_min,
		.weekly_sessions = config->goal_weekly_sessions,
	};
	int64_t today = summary_local_day(now_us), from, to;
	struct collect c = { .today = today };
	uint64_t end_us;
	char tz[128];
	int r;

	to = q->has_to ? q->to : today;
	from = q->has_from ? q->from
			   : cd_period_start(CD_SUMMARY_WEEK, q->has_to ? to : today) -
				     7 * (DEFAULT_WEEKS - 1);
	r = cd_summary_init(&sum, q->by, from, to);
	if (r < 0)
		return r;
	/*
	 * One pass: the periods asked for, and the streak, which looks back
	 * over every week before this one.
	 */
	cd_streak_init(&streak, today);
	c.summary = &sum;
	c.streak = &streak;
	end_us = day_start_us(sum.to + 1);
	if (end_us < day_start_us(streak.this_monday))
		end_us = day_start_us(streak.this_monday);
	r = collect_range(&c, store, monitor, q->profile, 0, end_us + USEC_PER_DAY, now_us);
	if (r < 0)
		return r;

	*ret = cd_summary_to_json(&sum, summary_tz_name(tz, sizeof(tz)), q->profile, &goals,
				  cd_streak_weeks(&streak, &goals));
	return *ret ? 0 : -ENOMEM;
}

int summary_week(struct store *store, struct monitor *monitor, const struct cd_config *config,
		 uint64_t now_us, struct summary_week *ret)
{
	int64_t today = summary_local_day(now_us);
	int64_t monday = cd_period_start(CD_SUMMARY_WEEK, today);
	struct collect c = { .today = today, .week = ret };
	uint64_t from = day_start_us(monday);

	*ret = (struct summary_week){ .goal_min = config->goal_weekly_intensity_min };
	return collect_range(&c, store, monitor, NULL, from > USEC_PER_DAY ? from - USEC_PER_DAY : 0,
			     day_start_us(today + 1) + USEC_PER_DAY, now_us);
}
