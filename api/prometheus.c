/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h" /* CARDIOD_VERSION */
#include "log.h"
#include "prometheus.h"

static void write_connected(const struct cd_front_device *d, void *ctx)
{
	cd_metrics_sample(ctx, d->connected ? 1 : 0, "device", d->id, "transport", d->transport,
			  NULL);
}

static void write_battery(const struct cd_front_device *d, void *ctx)
{
	if (d->battery_pct >= 0)
		cd_metrics_sample(ctx, d->battery_pct / 100.0, "device", d->id, NULL);
}

/* A frozen value is never shown as live (DESIGN §3): absent while stale. */
static void write_bpm(const struct cd_front_device *d, void *ctx)
{
	if (isfinite(d->bpm) && d->last_valid_us > 0 && !d->stale)
		cd_metrics_sample(ctx, d->bpm, "device", d->id, NULL);
}

static void write_samples(const struct cd_front_device *d, void *ctx)
{
	cd_metrics_sample(ctx, (double)d->samples_total, "device", d->id, NULL);
}

static void write_zones(const struct cd_front_device *d, void *ctx)
{
	static const char *const zone_label[] = { "0", "1", "2", "3", "4", "5" };

	for (size_t z = 0; z < sizeof(zone_label) / sizeof(zone_label[0]); z++)
		cd_metrics_sample(ctx, d->zone_s_total[z], "device", d->id, "zone", zone_label[z],
				  NULL);
}

int cd_prometheus_write(const struct cd_front_ops *ops, void *userdata, struct cd_metrics *w)
{
	static const struct {
		const char *name, *type, *help;
		void (*fn)(const struct cd_front_device *d, void *ctx);
	} families[] = {
		{ "cardiod_device_connected", "gauge",
		  "Whether the strap is connected now (1) or not (0).", write_connected },
		{ "cardiod_device_battery_ratio", "gauge",
		  "Battery level the strap reports, 0 to 1; absent when unknown.", write_battery },
		{ "cardiod_heart_rate_bpm", "gauge",
		  "Latest heart rate in beats per minute; absent while stale "
		  "(no valid sample for stale_after_s).",
		  write_bpm },
		{ "cardiod_samples_total", "counter",
		  "Valid heart-rate samples recorded in sessions since cardiod started.",
		  write_samples },
		{ "cardiod_zone_seconds_total", "counter",
		  "Seconds in each heart-rate zone (0-5, as zones[].zone of a session) "
		  "of the sessions recorded since cardiod started, the active one "
		  "included.",
		  write_zones },
	};
	struct cd_front_week wk;
	int r;

	if (!ops->each_device)
		return -EOPNOTSUPP;
	cd_metrics_family(w, "cardiod_build_info", "gauge",
			  "Always 1; the version of cardiod as a label.");
	cd_metrics_sample(w, 1, "version", CARDIOD_VERSION, NULL);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		cd_metrics_family(w, families[i].name, families[i].type, families[i].help);
		r = ops->each_device(userdata, families[i].fn, w);
		if (r < 0)
			return r;
	}

	r = ops->week ? ops->week(userdata, &wk) : -EOPNOTSUPP;
	if (r >= 0) {
		/*
		 * DESIGN §9.6 names it cardiod_intensity_minutes, but promtool
		 * (and the same paragraph) want base units: intensity minutes
		 * × 60, so a dashboard divides by 60 to show minutes.
		 */
		cd_metrics_family(w, "cardiod_intensity_seconds", "gauge",
				  "Intensity minutes ((moderate + 2 x vigorous) / 60 of GET /summary) "
				  "of today and of this week so far, times 60.");
		cd_metrics_sample(w, wk.today_min * 60.0, "period", "today", NULL);
		cd_metrics_sample(w, wk.week_min * 60.0, "period", "week", NULL);
	} else if (r != -EOPNOTSUPP)
		log_debug_errno(r, "No intensity minutes for /metrics: %m, leaving them out");
	return cd_metrics_error(w);
}
