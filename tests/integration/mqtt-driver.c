/* SPDX-License-Identifier: MIT */
/*
 * The MQTT publisher alone on an sd-event loop, behind a fake front-end
 * contract, for test-mqtt.py's "forget" scenario: what cardiod cannot do
 * from the outside (its monitor never forgets a strap).
 *
 * Usage: mqtt-driver PORT PREFIX
 * The contract lists straps strap-a and strap-b (each announced on the
 * event hub, with a heart rate in session 7) and gives intensity minutes
 * (12 today, 80 this week); once connected and 1.5 s later, strap-a
 * leaves the list (the publisher forgets it at its next tick); exits 1.5 s
 * after that.  Prints "connected" and "forgot" on stdout as it goes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "front.h"
#include "log.h"
#include "mqtt.h"

#define USEC_PER_SEC 1000000ULL

struct driver {
	struct cd_mqtt *mqtt;
	struct cd_events *hub;
	struct cd_front_device straps[2];
	size_t first, n; /* the listed straps: straps[first..n) */
	int phase;
	unsigned waited;
};

/* The contract: only what the publisher asks (each_device, device, week). */

static int fake_each_device(void *userdata, void (*fn)(const struct cd_front_device *d, void *ctx),
			    void *ctx)
{
	struct driver *d = userdata;

	for (size_t i = d->first; i < d->n; i++)
		fn(&d->straps[i], ctx);
	return 0;
}

static int fake_device(void *userdata, const char *id, struct cd_front_device *ret)
{
	struct driver *d = userdata;

	for (size_t i = d->first; i < d->n; i++)
		if (strcmp(d->straps[i].id, id) == 0) {
			*ret = d->straps[i];
			return 0;
		}
	return -ENOENT;
}

static int fake_week(void *userdata, struct cd_front_week *ret)
{
	*ret = (struct cd_front_week){ .today_min = 12, .week_min = 80, .goal_min = 150 };
	return 0;
}

static const struct cd_front_ops fake_ops = {
	.each_device = fake_each_device,
	.device = fake_device,
	.week = fake_week,
};

/* What the daemon's hub says when a strap appears and sends a valid sample. */
static int announce(struct driver *d, const struct cd_front_device *v)
{
	struct cd_event dev = {
		.type = CD_EVENT_DEVICE,
		.device = v->id,
		.name = v->name,
		.transport = v->transport,
		.connected = v->connected,
		.stale = v->stale,
		.battery_pct = v->battery_pct,
	};
	struct cd_event hr = {
		.type = CD_EVENT_HR,
		.device = v->id,
		.session = v->session_id,
		.t_us = v->last_valid_us,
		.bpm = v->bpm,
		.zone = v->zone,
	};

	return cd_events_publish(d->hub, &dev) > 0 && cd_events_publish(d->hub, &hr) > 0 ? 0
											 : -ENOMEM;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct driver *d = userdata;

	switch (d->phase) {
	case 0: /* wait for the broker */
		if (!cd_mqtt_connected(d->mqtt)) {
			if (++d->waited > 200)
				return sd_event_exit(sd_event_source_get_event(s), 2);
			break;
		}
		printf("connected\n");
		fflush(stdout);
		d->phase = 1;
		d->waited = 0;
		break;
	case 1: /* let the configs and the summary go out, then drop strap-a */
		if (++d->waited < 15)
			break;
		d->first = 1;
		printf("forgot\n");
		fflush(stdout);
		d->phase = 2;
		d->waited = 0;
		break;
	default:
		if (++d->waited < 15)
			break;
		return sd_event_exit(sd_event_source_get_event(s), 0);
	}
	sd_event_source_set_time_relative(s, USEC_PER_SEC / 10);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

int main(int argc, char *argv[])
{
	struct driver d = {
		.straps = {
			{ .id = "strap-a", .name = "Strap A", .transport = "ble" },
			{ .id = "strap-b", .name = "strap-b", .transport = "ant" },
		},
		.n = 2,
	};
	char *end = NULL;
	unsigned long port = argc == 3 ? strtoul(argv[1], &end, 10) : 0;
	struct cd_mqtt_config c = {
		.host = "127.0.0.1",
		.port = (unsigned)port,
		.topic_prefix = argc == 3 ? argv[2] : NULL,
		.discovery = true,
		.discovery_prefix = "homeassistant",
		.publish_interval_s = 0.5,
	};
	struct cd_front front = { .ops = &fake_ops, .userdata = &d };
	sd_event *e = NULL;
	int r, code = 1;

	if (argc != 3 || !end || *end || port == 0 || port > 65535) {
		fprintf(stderr, "usage: mqtt-driver PORT PREFIX\n");
		return 2;
	}
	log_set_max_level(LOG_DEBUG);
	for (size_t i = 0; i < d.n; i++) {
		struct cd_front_device *v = &d.straps[i];

		v->connected = true;
		v->battery_pct = 88;
		v->last_seen_us = v->last_valid_us = 1700000000ULL * USEC_PER_SEC;
		v->bpm = 120;
		v->zone = 2;
		v->session_id = 7;
		v->mvpa_s = 30;
		v->ecb_s = 10;
	}
	if (cd_events_new(0, &d.hub) < 0)
		goto out;
	front.events = d.hub;
	if (sd_event_default(&e) < 0 || cd_mqtt_new(e, &c, &front, &d.mqtt) < 0)
		goto out;
	for (size_t i = 0; i < d.n; i++)
		if (announce(&d, &d.straps[i]) < 0)
			goto out;
	r = sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, USEC_PER_SEC / 10, 0, on_timer,
				       &d);
	if (r < 0)
		goto out;
	code = sd_event_loop(e);
out:
	d.mqtt = cd_mqtt_free(d.mqtt);
	d.hub = cd_events_free(d.hub);
	sd_event_unref(e);
	return code;
}
