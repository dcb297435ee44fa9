/* SPDX-License-Identifier: MIT */
/*
 * daemon/mqtt.c alone on an sd-event loop, for test-mqtt.py's "forget"
 * scenario: what cardiod cannot do from the outside yet (the monitor has
 * no "device removed" event, and /summary is not wired to MQTT).
 *
 * Usage: mqtt-driver PORT PREFIX
 * Publishes straps strap-a and strap-b and intensity minutes (12 today, 80
 * this week); once connected and 1.5 s later, forgets strap-a; exits 1.5 s
 * after that.  Prints "connected" and "forgot" on stdout as it goes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "log.h"
#include "mqtt.h"

#define USEC_PER_SEC 1000000ULL

struct driver {
	struct cd_mqtt *mqtt;
	int phase;
	unsigned waited;
};

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
	case 1: /* let the configs and the summary go out, then forget strap-a */
		if (++d->waited < 15)
			break;
		cd_mqtt_strap_forget(d->mqtt, "strap-a");
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
	struct cd_mqtt_strap_state st = {
		.bpm = 120,
		.zone = 2,
		.stale = false,
		.session = 7,
		.mvpa_s = 30,
		.ecb_s = 10,
		.battery_pct = 88,
	};
	struct driver d = {};
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
	sd_event *e = NULL;
	int r, code = 1;

	if (argc != 3 || !end || *end || port == 0 || port > 65535) {
		fprintf(stderr, "usage: mqtt-driver PORT PREFIX\n");
		return 2;
	}
	log_set_max_level(LOG_DEBUG);
	if (sd_event_default(&e) < 0 || cd_mqtt_new(e, &c, &d.mqtt) < 0)
		goto out;
	if (cd_mqtt_strap_update(d.mqtt, "strap-a", "Strap A", "ble", &st) < 0 ||
	    cd_mqtt_strap_update(d.mqtt, "strap-b", NULL, "ant", &st) < 0)
		goto out;
	cd_mqtt_set_intensity_minutes(d.mqtt, 12, 80);
	r = sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, USEC_PER_SEC / 10, 0, on_timer,
				       &d);
	if (r < 0)
		goto out;
	code = sd_event_loop(e);
out:
	d.mqtt = cd_mqtt_free(d.mqtt);
	sd_event_unref(e);
	return code;
}
