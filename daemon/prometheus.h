/* SPDX-License-Identifier: MIT */
/*
 * The daemon's half of GET /metrics (DESIGN §9.6): counters a monitor
 * observer keeps since cardiod started, and the gauges read from the
 * monitor at scrape time, written through api/metrics.h (api/ adds the
 * HTTP request counter).
 *
 * cardiod_zone_seconds_total{device,zone} is the sum of zones[].s of the
 * sessions recorded on the device in this run: the final totals of every
 * ended session, plus the active session's totals so far.  When a session
 * ends its last totals move from the second term to the first, so the
 * counter never goes back.  cardiod_samples_total{device} counts the
 * samples those sessions counted (their "samples": valid heart rates).
 */
#pragma once

struct monitor;
struct cd_metrics;
struct prometheus;

/* Intensity minutes for cardiod_intensity_minutes{period}. */
struct prometheus_intensity {
	double today_min; /* today so far, local calendar day */
	double week_min;  /* this week so far */
};

/*
 * Where cardiod_intensity_seconds comes from: the manager hands in the
 * weekly summary's figures (DESIGN §9.4, summary_week()).  The hook
 * returns 0 and *ret, or a negative errno; -EOPNOTSUPP (the default,
 * prometheus_intensity_unsupported) leaves the family out.
 */
typedef int (*prometheus_intensity_fn)(void *userdata, struct prometheus_intensity *ret);
int prometheus_intensity_unsupported(void *userdata, struct prometheus_intensity *ret);

/* Observe monitor (which must outlive the returned object). 0, -ENOMEM. */
int prometheus_new(struct monitor *monitor, struct prometheus **ret);
struct prometheus *prometheus_free(struct prometheus *p);
static inline void prometheus_freep(struct prometheus **p)
{
	if (*p)
		prometheus_free(*p);
}

void prometheus_set_intensity(struct prometheus *p, prometheus_intensity_fn fn, void *userdata);

/*
 * Write the daemon's families (build info, devices, heart rate, samples,
 * zone seconds, intensity minutes) into w.  0, or the writer's error.
 */
int prometheus_write(struct prometheus *p, struct cd_metrics *w);
