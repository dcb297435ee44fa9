/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "prometheus.h"

/* What cardiod has counted for one strap since it started (by id). */
struct strap {
	char *id;
	uint64_t samples;               /* counted by its sessions */
	double ended_zone_s[_CD_ZONE_MAX]; /* Σ zones of its ended sessions */
	double bpm;                     /* last valid heart rate */
	bool has_bpm;
	struct strap *next;
};

struct prometheus {
	struct monitor *monitor;
	unsigned observer;
	struct strap *straps, *last; /* last: where the previous event went */
	bool told_oom;
	prometheus_intensity_fn intensity;
	void *intensity_userdata;
};

int prometheus_intensity_unsupported(void *userdata, struct prometheus_intensity *ret)
{
	(void)userdata;
	(void)ret;
	return -EOPNOTSUPP;
}

static struct strap *strap_find(struct prometheus *p, const char *id)
{
	if (p->last && strcmp(p->last->id, id) == 0)
		return p->last;
	for (struct strap *s = p->straps; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return p->last = s;
	return NULL;
}

/* Find or add (at the end: scrapes list straps in the order they came). */
static struct strap *strap_get(struct prometheus *p, const char *id)
{
	struct strap *s = strap_find(p, id), **tail;

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->id = strdup(id))) {
		free(s);
		/* The counters of this strap stay short; say so once. */
		if (!p->told_oom)
			log_oom();
		p->told_oom = true;
		return NULL;
	}
	for (tail = &p->straps; *tail; tail = &(*tail)->next)
		;
	*tail = s;
	return p->last = s;
}

static void on_event(const struct monitor_event *ev, void *user_data)
{
	struct prometheus *p = user_data;
	const struct cd_engine_totals *tot;
	struct strap *s;

	switch (ev->type) {
	case MONITOR_EVENT_DEVICE_ADDED:
		(void)strap_get(p, ev->device->id); /* counters shown from 0 */
		break;
	case MONITOR_EVENT_SAMPLE:
		s = strap_get(p, ev->device->id);
		if (!s)
			break;
		if (ev->valid)
			s->samples++;
		if (cd_sample_is_valid(ev->sample)) {
			s->bpm = ev->sample->bpm;
			s->has_bpm = true;
		}
		break;
	case MONITOR_EVENT_SESSION_ENDED:
		s = strap_get(p, ev->device->id);
		if (!s)
			break;
		tot = cd_engine_totals(ev->session->engine);
		for (size_t z = 0; z < _CD_ZONE_MAX; z++)
			s->ended_zone_s[z] += tot->zone_s[z];
		break;
	default:
		break;
	}
}

int prometheus_new(struct monitor *monitor, struct prometheus **ret)
{
	struct prometheus *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->monitor = monitor;
	p->intensity = prometheus_intensity_unsupported;
	p->observer = monitor_observer_register(monitor, on_event, p, NULL);
	if (p->observer == 0) {
		free(p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

struct prometheus *prometheus_free(struct prometheus *p)
{
	if (!p)
		return NULL;
	if (p->observer)
		monitor_observer_unregister(p->monitor, p->observer);
	while (p->straps) {
		struct strap *s = p->straps;

		p->straps = s->next;
		free(s->id);
		free(s);
	}
	free(p);
	return NULL;
}

void prometheus_set_intensity(struct prometheus *p, prometheus_intensity_fn fn, void *userdata)
{
	p->intensity = fn ? fn : prometheus_intensity_unsupported;
	p->intensity_userdata = userdata;
}

static void write_devices(struct prometheus *p, struct cd_metrics *w)
{
	struct monitor_device *d;

	cd_metrics_family(w, "cardiod_device_connected", "gauge",
			  "Whether the strap is connected now (1) or not (0).");
	for (d = monitor_devices(p->monitor); d; d = d->next)
		cd_metrics_sample(w, d->connected ? 1 : 0, "device", d->id, "transport",
				  cd_transport_to_string(d->transport), NULL);

	cd_metrics_family(w, "cardiod_device_battery_ratio", "gauge",
			  "Battery level the strap reports, 0 to 1; absent when unknown.");
	for (d = monitor_devices(p->monitor); d; d = d->next)
		if (d->battery_pct >= 0)
			cd_metrics_sample(w, d->battery_pct / 100.0, "device", d->id, NULL);

	cd_metrics_family(w, "cardiod_heart_rate_bpm", "gauge",
			  "Latest heart rate in beats per minute; absent while stale "
			  "(no valid sample for stale_after_s).");
	for (d = monitor_devices(p->monitor); d; d = d->next) {
		const struct strap *s = strap_find(p, d->id);

		if (s && s->has_bpm && d->last_valid_us > 0 && !d->stale)
			cd_metrics_sample(w, s->bpm, "device", d->id, NULL);
	}
}

static void write_counters(struct prometheus *p, struct cd_metrics *w)
{
	static const char *const zone_label[_CD_ZONE_MAX] = { "0", "1", "2", "3", "4", "5" };
	struct strap *s;

	cd_metrics_family(w, "cardiod_samples_total", "counter",
			  "Valid heart-rate samples recorded in sessions since cardiod started.");
	for (s = p->straps; s; s = s->next)
		cd_metrics_sample(w, (double)s->samples, "device", s->id, NULL);

	cd_metrics_family(w, "cardiod_zone_seconds_total", "counter",
			  "Seconds in each heart-rate zone (0-5, as zones[].zone of a session) "
			  "of the sessions recorded since cardiod started, the active one "
			  "included.");
	for (s = p->straps; s; s = s->next) {
		const struct monitor_device *d = monitor_device_find(p->monitor, s->id);
		const struct cd_engine_totals *tot =
			d && d->session ? cd_engine_totals(d->session->engine) : NULL;

		for (size_t z = 0; z < _CD_ZONE_MAX; z++)
			cd_metrics_sample(w, s->ended_zone_s[z] + (tot ? tot->zone_s[z] : 0),
					  "device", s->id, "zone", zone_label[z], NULL);
	}
}

int prometheus_write(struct prometheus *p, struct cd_metrics *w)
{
	struct prometheus_intensity in;
	int r;

	cd_metrics_family(w, "cardiod_build_info", "gauge",
			  "Always 1; the version of cardiod as a label.");
	cd_metrics_sample(w, 1, "version", CARDIOD_VERSION, NULL);
	write_devices(p, w);
	write_counters(p, w);

	r = p->intensity(p->intensity_userdata, &in);
	if (r >= 0) {
		/*
		 * DESIGN §9.6 names it cardiod_intensity_minutes, but promtool
		 * (and the same paragraph) want base units: intensity minutes
		 * × 60, so a dashboard divides by 60 to show minutes.
		 */
		cd_metrics_family(w, "cardiod_intensity_seconds", "gauge",
				  "Intensity minutes ((moderate + 2 x vigorous) / 60 of GET /summary) "
				  "of today and of this week so far, times 60.");
		cd_metrics_sample(w, in.today_min * 60.0, "period", "today", NULL);
		cd_metrics_sample(w, in.week_min * 60.0, "period", "week", NULL);
	} else if (r != -EOPNOTSUPP)
		log_debug_errno(r, "No intensity minutes for /metrics: %m, leaving them out");
	return cd_metrics_error(w);
}
