/* SPDX-License-Identifier: MIT */
/*
 * MQTT front end with Home Assistant discovery (DESIGN §9.6), through
 * libmosquitto (dlopen()ed only when used, see mqtt-dl.h) on cardiod's
 * sd-event loop: the client's socket is an io source (EPOLLOUT only while
 * libmosquitto has bytes to write), a 1 s timer runs mosquitto_loop_misc()
 * (keep-alive), and no thread is ever started.
 * The connect is non-blocking and the broker is a numeric address
 * (the daemon's configuration refuses names: no getaddrinfo() on the loop).
 *
 * Topics, with PREFIX = [mqtt] topic_prefix (default cardiod/<hostname>):
 *   PREFIX/status              "online" / "offline" (retained, QoS 1; the will)
 *   PREFIX/<device id>/state   {"bpm","zone","stale","session","mvpa_s","ecb_s",
 *                               "battery_pct"} (QoS 0, not retained)
 *   PREFIX/summary             {"intensity_minutes_today","intensity_minutes_week"}
 *   DISCOVERY/sensor/<node>/<object>/config  and
 *   DISCOVERY/binary_sensor/<node>/connectivity/config  (retained, QoS 1)
 *
 * Memory is bounded: nothing is published while disconnected (the state
 * is re-published on connect), every connection attempt starts from a
 * re-initialised client (nothing queued survives), and at most
 * CD_MQTT_MAX_QUEUED messages may sit in libmosquitto at once; beyond
 * that, publishes are skipped and retried at the next publish tick.
 *
 * A client of the front-end contract (api/front.h), like every front end:
 * it follows the contract's event hub (hr, zone, session and device
 * events re-read the strap with ops->device), and at every publish tick
 * lists the straps with ops->each_device — which catches what the hub
 * does not announce (invalid samples, contact changes) and straps no
 * longer listed, whose discovery configs it removes — and asks ops->week
 * for the intensity minutes.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "front.h"

#define CD_MQTT_MAX_QUEUED 256

/*
 * What the publisher needs of [mqtt] (the daemon parses and checks the
 * configuration; its manager fills this in).  The strings are borrowed for
 * the call: cd_mqtt_new() copies what it keeps.
 */
struct cd_mqtt_config {
	const char *host;             /* numeric IPv4/IPv6 address: no DNS on the loop */
	unsigned port;
	bool tls;                     /* mqtts:// */
	const char *ca_file;          /* NULL: the system's CAs (with tls) */
	const char *username;         /* NULL: none */
	const char *password_file;    /* NULL: none; read once, in cd_mqtt_new() */
	const char *topic_prefix;     /* NULL: cardiod/<hostname> */
	bool discovery;               /* Home Assistant discovery configs */
	const char *discovery_prefix; /* "homeassistant" */
	double publish_interval_s;    /* > 0 */
};

struct cd_mqtt;

/*
 * Loads libmosquitto (dlopen(), the first time: cardiod does not link it),
 * reads the password file (once, now), checks the CA file, subscribes to
 * front->events (front is copied; its hub and userdata must outlive the
 * publisher) and starts connecting; a broker that is down is retried with
 * backoff.  Returns 0, or a negative errno after logging why (no
 * libmosquitto, bad password or CA file).
 */
int cd_mqtt_new(sd_event *event, const struct cd_mqtt_config *config, const struct cd_front *front,
		struct cd_mqtt **ret);
/* Publishes "offline" when connected, disconnects cleanly, frees. */
struct cd_mqtt *cd_mqtt_free(struct cd_mqtt *m);
static inline void cd_mqtt_freep(struct cd_mqtt **m)
{
	if (*m)
		cd_mqtt_free(*m);
}

/* For tests and /healthz-like reporting: connected to the broker now. */
bool cd_mqtt_connected(const struct cd_mqtt *m);
