/* SPDX-License-Identifier: MIT */
/*
 * MQTT and Home Assistant discovery (DESIGN §9.6); see mqtt.h for the
 * topics and the memory bound.
 *
 * Connection life cycle, all on the event loop:
 *   connect_start()  re-initialise the client, mosquitto_connect_async()
 *                    (numeric address: no DNS), add the socket as an io
 *                    source, arm the connect timeout and the misc timer;
 *   on_connect       CONNACK accepted: status online, subscribe to the HA
 *                    birth topic, publish every config and state;
 *   on_disconnect    the library closed the socket (broker gone, refused,
 *                    keep-alive missed): drop the io source and retry after
 *                    a backoff of 1, 2, 4 … 60 s;
 *   connect timeout  no CONNACK within CONNECT_TIMEOUT_S (a broker that
 *                    accepts TCP and never answers): same as a disconnect.
 * Library callbacks never tear the client down; only timers do.
 *
 * libmosquitto is not linked: cd_mqtt_new() dlopen()s it (mqtt-dl.c) and
 * every call goes through its sym_mosquitto_* pointer.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "config.h" /* CARDIOD_VERSION */
#include "log.h"
#include "mqtt.h"
#include "mqtt-dl.h" /* sym_mosquitto_*: libmosquitto is dlopen()ed */

#define USEC_PER_SEC	  1000000ULL
#define KEEPALIVE_S	  30
#define CONNECT_TIMEOUT_S 10
#define BACKOFF_MIN_S	  1
#define BACKOFF_MAX_S	  60
#define PASSWORD_MAX	  4096

/* One strap's state topic; NAN / -1 / 0 are JSON null. */
struct cd_mqtt_strap_state {
	double bpm; /* NAN: null (stale, no session, or none of its samples yet) */
	int zone;   /* 0..5, −1: null */
	bool stale;
	uint64_t session;     /* 0: null */
	double mvpa_s, ecb_s; /* NAN: null */
	int battery_pct;      /* −1: null */
};

struct strap {
	char *id;
	char *name;
	char *model;
	char *node; /* discovery node id: [a-zA-Z0-9_-] */
	struct cd_mqtt_strap_state st;
	struct cd_mqtt_strap_state published;
	bool ever_published;
	bool state_dirty;
	bool config_dirty; /* discovery configs to (re)publish, or to remove when forgotten */
	bool forgotten;
	uint64_t published_us; /* monotonic */
	/* What the contract said last (see strap_seen()). */
	uint64_t last_seen_us;	/* its last sample of any kind */
	uint64_t hr_session;	/* the session that recorded the last valid sample ... */
	double hr_bpm;		/* ... its heart rate */
	int hr_zone;		/* ... and zone */
	bool listed;		/* by the last each_device */
	struct strap *next;
};

struct cd_mqtt {
	sd_event *event;
	struct mosquitto *mosq;

	/* From the configuration (copied: the config may be freed first at exit). */
	char *host;
	unsigned port;
	bool tls;
	char *username;
	char *password;
	char *ca_file;
	char *prefix;
	char *node; /* sanitised prefix */
	bool discovery;
	char *discovery_prefix;
	uint64_t interval_us;

	char *status_topic;
	char *birth_topic; /* DISCOVERY/status */

	sd_event_source *io;
	int io_fd;
	uint32_t io_events;
	sd_event_source *misc_timer;	/* 1 s, while a socket exists */
	sd_event_source *connect_timer; /* CONNACK deadline */
	sd_event_source *retry_timer;	/* backoff */
	sd_event_source *tick_timer;	/* publish_interval_s */
	unsigned backoff_s;
	bool connected;
	bool was_connected; /* once: later failures are logged at debug until it works again */
	unsigned failures;
	unsigned queued; /* published, not yet on_publish'ed (sent for QoS 0, acked for QoS 1) */
	bool freeing;

	struct strap *straps;

	double today_min, week_min; /* NAN: unknown */
	bool summary_known, summary_dirty, summary_config_dirty;

	struct cd_front front; /* the contract: the straps, the week, the events */
	unsigned subscription;
};

static void connect_start(struct cd_mqtt *m);
static void flush(struct cd_mqtt *m);
static void poll_straps(struct cd_mqtt *m);
static void set_intensity_minutes(struct cd_mqtt *m, double today_min, double week_min);
static void on_event(const struct cd_event_record *rec, void *userdata);

/* [a-zA-Z0-9_-] only (Home Assistant ids); everything else becomes '_'. */
static char *sanitise(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s%s%s", a, b ? "_" : "", b ? b : "") < 0)
		return NULL;
	for (char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			*p = '_';
	return s;
}

static uint64_t now_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- io plumbing */

static void io_drop(struct cd_mqtt *m)
{
	m->io = sd_event_source_disable_unref(m->io);
	m->io_fd = -1;
	m->misc_timer = sd_event_source_disable_unref(m->misc_timer);
	m->connect_timer = sd_event_source_disable_unref(m->connect_timer);
}

/* EPOLLOUT only while libmosquitto has something to write. */
static void io_update(struct cd_mqtt *m)
{
	uint32_t ev;

	if (!m->io)
		return;
	ev = EPOLLIN | (sym_mosquitto_want_write(m->mosq) ? EPOLLOUT : 0);
	if (ev == m->io_events)
		return;
	if (sd_event_source_set_io_events(m->io, ev) >= 0)
		m->io_events = ev;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cd_mqtt *m = userdata;

	m->retry_timer = sd_event_source_disable_unref(m->retry_timer);
	connect_start(m);
	return 0;
}

/* The connection is over (or never came up): retry after the backoff. */
static void schedule_retry(struct cd_mqtt *m)
{
	unsigned delay = m->backoff_s;
	int r;

	m->connected = false;
	io_drop(m);
	if (m->freeing || m->retry_timer)
		return;
	m->backoff_s = m->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : m->backoff_s * 2;
	r = sd_event_add_time_relative(m->event, &m->retry_timer, CLOCK_MONOTONIC,
				       delay * USEC_PER_SEC, USEC_PER_SEC / 10, on_retry, m);
	if (r < 0)
		log_warning_errno(r, "MQTT: cannot arm the reconnect timer: %m; MQTT stays off.");
	else
		log_debug("MQTT: reconnecting in %u s.", delay);
}

/* First failure at warning, the following ones at debug, until it works again. */
static int failure_level(struct cd_mqtt *m)
{
	return m->failures++ == 0 ? LOG_WARNING : LOG_DEBUG;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct cd_mqtt *m = userdata;
	int rc = MOSQ_ERR_SUCCESS;

	/* A failing call makes libmosquitto run on_disconnect (which drops m->io). */
	if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rc = sym_mosquitto_loop_read(m->mosq, 1);
	if (rc == MOSQ_ERR_SUCCESS && m->io && (revents & EPOLLOUT))
		rc = sym_mosquitto_loop_write(m->mosq, 1);
	if (m->io && rc != MOSQ_ERR_SUCCESS) {
		/* Failed without a disconnect callback (should not happen): start over. */
		log_debug("MQTT: loop: %s", sym_mosquitto_strerror(rc));
		schedule_retry(m);
	}
	io_update(m);
	return 0;
}

static int on_misc(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cd_mqtt *m = userdata;

	/* Keep-alive: PINGREQ when due; a missed PINGRESP closes (on_disconnect). */
	(void)sym_mosquitto_loop_misc(m->mosq);
	if (m->misc_timer == s) {
		(void)sd_event_source_set_time_relative(s, USEC_PER_SEC);
		(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	}
	io_update(m);
	return 0;
}

static int on_connect_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cd_mqtt *m = userdata;

	m->connect_timer = sd_event_source_disable_unref(m->connect_timer);
	if (m->connected)
		return 0;
	log_full(failure_level(m),
		 "MQTT: broker %s:%u did not answer within %d s; retrying with "
		 "backoff.",
		 m->host, m->port, CONNECT_TIMEOUT_S);
	schedule_retry(m);
	return 0;
}

/* ---------------------------------------------------------------- publishing */

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct cd_mqtt *m = obj;

	if (m->queued > 0)
		m->queued--;
}

/* Returns 0 when handed to libmosquitto, -ENOTCONN / -ENOBUFS when skipped. */
static int publish(struct cd_mqtt *m, const char *topic, const char *payload, int qos, bool retain)
{
	int rc;

	if (!m->connected)
		return -ENOTCONN;
	if (m->queued >= CD_MQTT_MAX_QUEUED)
		return -ENOBUFS;
	rc = sym_mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, qos, retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_debug("MQTT: publish to %s failed: %s", topic, sym_mosquitto_strerror(rc));
		return rc == MOSQ_ERR_NOMEM ? -ENOMEM : -EIO;
	}
	m->queued++;
	return 0;
}

static bool add_num_or_null(cJSON *o, const char *key, bool known, double v)
{
	return known ? cJSON_AddNumberToObject(o, key, v) != NULL
		     : cJSON_AddNullToObject(o, key) != NULL;
}

static int publish_state(struct cd_mqtt *m, struct strap *s)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *topic = NULL, *payload = NULL;
	const struct cd_mqtt_strap_state *st = &s->st;
	int r;

	if (!o || !add_num_or_null(o, "bpm", !isnan(st->bpm), st->bpm) ||
	    !add_num_or_null(o, "zone", st->zone >= 0, st->zone) ||
	    !cJSON_AddBoolToObject(o, "stale", st->stale) ||
	    !add_num_or_null(o, "session", st->session > 0, (double)st->session) ||
	    !add_num_or_null(o, "mvpa_s", !isnan(st->mvpa_s), st->mvpa_s) ||
	    !add_num_or_null(o, "ecb_s", !isnan(st->ecb_s), st->ecb_s) ||
	    !add_num_or_null(o, "battery_pct", st->battery_pct >= 0, st->battery_pct))
		return -ENOMEM;
	payload = cJSON_PrintUnformatted(o);
	if (!payload || asprintf(&topic, "%s/%s/state", m->prefix, s->id) < 0)
		return -ENOMEM;
	r = publish(m, topic, payload, 0, false);
	if (r < 0)
		return r;
	s->published = s->st;
	s->ever_published = true;
	s->state_dirty = false;
	s->published_us = now_mono_us();
	return 0;
}

/* The "device" block and availability shared by every config. */
static cJSON *config_base(struct cd_mqtt *m, const char *node, const char *object, const char *name,
			  const char *state_topic, const char *device_name, const char *model)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *uid = sanitise(node, object);
	cJSON *dev, *ids;

	if (!o || !uid || !cJSON_AddStringToObject(o, "name", name) ||
	    !cJSON_AddStringToObject(o, "unique_id", uid) ||
	    !cJSON_AddStringToObject(o, "object_id", uid) ||
	    !cJSON_AddStringToObject(o, "state_topic", state_topic) ||
	    !cJSON_AddStringToObject(o, "availability_topic", m->status_topic) ||
	    !cJSON_AddStringToObject(o, "payload_available", "online") ||
	    !cJSON_AddStringToObject(o, "payload_not_available", "offline"))
		return NULL;
	dev = cJSON_AddObjectToObject(o, "device");
	ids = dev ? cJSON_AddArrayToObject(dev, "identifiers") : NULL;
	if (!ids || !cJSON_AddStringToObject(dev, "name", device_name) ||
	    !cJSON_AddStringToObject(dev, "manufacturer", "cardiod") ||
	    !cJSON_AddStringToObject(dev, "model", model) ||
	    !cJSON_AddStringToObject(dev, "sw_version", CARDIOD_VERSION))
		return NULL;
	cJSON_AddItemToArray(ids, cJSON_CreateString(node));
	if (cJSON_GetArraySize(ids) != 1)
		return NULL;
	return TAKE_PTR(o);
}

struct sensor {
	const char *component, *object, *name, *template, *unit, *device_class, *state_class;
};

static const struct sensor strap_sensors[] = {
	{"sensor", "heart_rate", "Heart rate", "{{ value_json.bpm }}", "bpm", NULL, "measurement"},
	{"sensor", "zone", "Heart rate zone", "{{ value_json.zone }}", NULL, NULL, NULL},
	{"sensor", "battery", "Battery", "{{ value_json.battery_pct }}", "%", "battery",
	 "measurement"},
	{"binary_sensor", "connectivity", "Heart rate signal",
	 "{{ 'OFF' if value_json.stale else 'ON' }}", NULL, "connectivity", NULL},
};

static const struct sensor summary_sensors[] = {
	{"sensor", "intensity_minutes_today", "Intensity minutes today",
	 "{{ value_json.intensity_minutes_today }}", "min", NULL, "measurement"},
	{"sensor", "intensity_minutes_week", "Intensity minutes this week",
	 "{{ value_json.intensity_minutes_week }}", "min", NULL, "measurement"},
};

/* Publish (or remove, payload "") one sensor's config. */
static int publish_config(struct cd_mqtt *m, const struct sensor *se, const char *node,
			  const char *state_topic, const char *device_name, const char *model,
			  bool remove)
{
	_cleanup_free_ char *topic = NULL, *payload = NULL;
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;

	if (asprintf(&topic, "%s/%s/%s/%s/config", m->discovery_prefix, se->component, node,
		     se->object) < 0)
		return -ENOMEM;
	if (remove)
		return publish(m, topic, "", 1, true);
	o = config_base(m, node, se->object, se->name, state_topic, device_name, model);
	if (!o || !cJSON_AddStringToObject(o, "value_template", se->template) ||
	    (se->unit && !cJSON_AddStringToObject(o, "unit_of_measurement", se->unit)) ||
	    (se->device_class && !cJSON_AddStringToObject(o, "device_class", se->device_class)) ||
	    (se->state_class && !cJSON_AddStringToObject(o, "state_class", se->state_class)))
		return -ENOMEM;
	if (strcmp(se->component, "binary_sensor") == 0 &&
	    (!cJSON_AddStringToObject(o, "payload_on", "ON") ||
	     !cJSON_AddStringToObject(o, "payload_off", "OFF")))
		return -ENOMEM;
	payload = cJSON_PrintUnformatted(o);
	if (!payload)
		return -ENOMEM;
	return publish(m, topic, payload, 1, true);
}

static int publish_strap_configs(struct cd_mqtt *m, struct strap *s)
{
	_cleanup_free_ char *state_topic = NULL, *device_name = NULL;
	int r;

	if (asprintf(&state_topic, "%s/%s/state", m->prefix, s->id) < 0 ||
	    asprintf(&device_name, "Heart rate strap %s (%s)", s->name ? s->name : s->id,
		     m->prefix) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(strap_sensors); i++) {
		r = publish_config(m, &strap_sensors[i], s->node, state_topic, device_name,
				   s->model, s->forgotten);
		if (r < 0)
			return r;
	}
	s->config_dirty = false;
	return 0;
}

static int publish_summary(struct cd_mqtt *m)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *topic = NULL, *payload = NULL;
	int r;

	if (!o ||
	    !add_num_or_null(o, "intensity_minutes_today", !isnan(m->today_min), m->today_min) ||
	    !add_num_or_null(o, "intensity_minutes_week", !isnan(m->week_min), m->week_min))
		return -ENOMEM;
	payload = cJSON_PrintUnformatted(o);
	if (!payload || asprintf(&topic, "%s/summary", m->prefix) < 0)
		return -ENOMEM;
	r = publish(m, topic, payload, 0, true);
	if (r >= 0)
		m->summary_dirty = false;
	return r;
}

static int publish_summary_configs(struct cd_mqtt *m)
{
	_cleanup_free_ char *state_topic = NULL, *device_name = NULL;
	int r;

	if (asprintf(&state_topic, "%s/summary", m->prefix) < 0 ||
	    asprintf(&device_name, "cardiod (%s)", m->prefix) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(summary_sensors); i++) {
		r = publish_config(m, &summary_sensors[i], m->node, state_topic, device_name,
				   "cardiod", false);
		if (r < 0)
			return r;
	}
	m->summary_config_dirty = false;
	return 0;
}

static void strap_free(struct strap *s)
{
	free(s->id);
	free(s->name);
	free(s->model);
	free(s->node);
	free(s);
}

/* Everything that is due; what does not fit stays dirty for the next tick. */
static void flush(struct cd_mqtt *m)
{
	uint64_t now = now_mono_us();

	if (!m->connected)
		return;
	for (struct strap **p = &m->straps; *p;) {
		struct strap *s = *p;

		if (s->config_dirty && m->discovery && publish_strap_configs(m, s) < 0)
			break;
		if (s->forgotten) {
			if (s->config_dirty && m->discovery)
				break;
			*p = s->next;
			strap_free(s);
			continue;
		}
		if (s->state_dirty &&
		    (!s->ever_published || now >= s->published_us + m->interval_us) &&
		    publish_state(m, s) < 0)
			break;
		p = &s->next;
	}
	if (m->summary_known) {
		if (m->summary_config_dirty && m->discovery)
			(void)publish_summary_configs(m);
		if (m->summary_dirty)
			(void)publish_summary(m);
	}
	io_update(m);
}

static void mark_all(struct cd_mqtt *m)
{
	for (struct strap *s = m->straps; s; s = s->next) {
		s->config_dirty = m->discovery;
		s->state_dirty = !s->forgotten;
		s->ever_published = false;
	}
	m->summary_config_dirty = m->discovery;
	m->summary_dirty = true;
}

/* A quarter of the interval: a dirty state waits at most 1.25 intervals. */
static uint64_t tick_us(const struct cd_mqtt *m)
{
	return m->interval_us / 4;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cd_mqtt *m = userdata;
	struct cd_front_week w;

	/* Samples the hub does not announce (invalid ones) and straps gone. */
	poll_straps(m);
	/* GET /summary's figures, as /metrics and D-Bus show them. */
	if (m->front.ops->week && m->front.ops->week(m->front.userdata, &w) >= 0)
		set_intensity_minutes(m, w.today_min, w.week_min);
	flush(m);
	(void)sd_event_source_set_time_relative(s, tick_us(m));
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

/* ---------------------------------------------------------------- callbacks */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct cd_mqtt *m = obj;

	if (rc != 0) {
		/* libmosquitto closes the socket next and calls on_disconnect. */
		log_full(failure_level(m),
			 "MQTT: broker %s:%u refused the connection: %s; "
			 "retrying with backoff.",
			 m->host, m->port, sym_mosquitto_connack_string(rc));
		return;
	}
	m->connect_timer = sd_event_source_disable_unref(m->connect_timer);
	m->connected = true;
	m->backoff_s = BACKOFF_MIN_S;
	m->failures = 0;
	log_info("MQTT: connected to %s:%u%s, publishing under %s/.", m->host, m->port,
		 m->tls ? " (TLS)" : "", m->prefix);
	m->was_connected = true;
	(void)publish(m, m->status_topic, "online", 1, true);
	if (m->discovery) {
		rc = sym_mosquitto_subscribe(m->mosq, NULL, m->birth_topic, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			log_warning(
				"MQTT: cannot subscribe to %s: %s; Home Assistant restarts will "
				"not re-publish the discovery configs.",
				m->birth_topic, sym_mosquitto_strerror(rc));
	}
	mark_all(m);
	flush(m);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct cd_mqtt *m = obj;

	if (m->freeing)
		return;
	if (m->connected)
		log_warning("MQTT: lost the broker %s:%u (%s); reconnecting with backoff.", m->host,
			    m->port, sym_mosquitto_strerror(rc));
	else if (rc != MOSQ_ERR_CONN_REFUSED)
		log_full(failure_level(m),
			 "MQTT: cannot connect to %s:%u: %s; retrying with "
			 "backoff.",
			 m->host, m->port, sym_mosquitto_strerror(rc));
	schedule_retry(m);
}

/* Home Assistant's birth message: re-publish the configs (ECOSYSTEM §4.3). */
static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	struct cd_mqtt *m = obj;

	if (!m->discovery || strcmp(msg->topic, m->birth_topic) != 0)
		return;
	if (msg->payloadlen != 6 || memcmp(msg->payload, "online", 6) != 0)
		return;
	log_debug("MQTT: Home Assistant is online; re-publishing the discovery configs.");
	mark_all(m);
	flush(m);
}

/* ---------------------------------------------------------------- connecting */

static int configure(struct cd_mqtt *m)
{
	int rc;

	sym_mosquitto_connect_callback_set(m->mosq, on_connect);
	sym_mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	sym_mosquitto_publish_callback_set(m->mosq, on_publish);
	sym_mosquitto_message_callback_set(m->mosq, on_message);
	rc = sym_mosquitto_will_set(m->mosq, m->status_topic, 7, "offline", 1, true);
	if (rc == MOSQ_ERR_SUCCESS && (m->username || m->password))
		rc = sym_mosquitto_username_pw_set(m->mosq, m->username, m->password);
	if (rc == MOSQ_ERR_SUCCESS && m->tls) {
		if (m->ca_file)
			rc = sym_mosquitto_tls_set(m->mosq, m->ca_file, NULL, NULL, NULL, NULL);
		else
			rc = sym_mosquitto_int_option(m->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
	}
	return rc;
}

static void connect_start(struct cd_mqtt *m)
{
	int rc, r, fd;

	io_drop(m);
	m->connected = false;
	m->queued = 0;
	/* A fresh client each time: nothing queued in the last connection survives. */
	rc = sym_mosquitto_reinitialise(m->mosq, NULL, true, m);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = configure(m);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_full(failure_level(m), "MQTT: cannot set up the client for %s:%u: %s.", m->host,
			 m->port, sym_mosquitto_strerror(rc));
		schedule_retry(m);
		return;
	}
	rc = sym_mosquitto_connect_async(m->mosq, m->host, (int)m->port, KEEPALIVE_S);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_full(failure_level(m),
			 "MQTT: cannot connect to %s:%u: %s; retrying with "
			 "backoff.",
			 m->host, m->port,
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : sym_mosquitto_strerror(rc));
		schedule_retry(m);
		return;
	}
	fd = sym_mosquitto_socket(m->mosq);
	if (fd < 0) {
		schedule_retry(m);
		return;
	}
	m->io_events = EPOLLIN | EPOLLOUT;
	r = sd_event_add_io(m->event, &m->io, fd, m->io_events, on_io, m);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &m->misc_timer, CLOCK_MONOTONIC,
					       USEC_PER_SEC, USEC_PER_SEC / 10, on_misc, m);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &m->connect_timer, CLOCK_MONOTONIC,
					       CONNECT_TIMEOUT_S * USEC_PER_SEC, USEC_PER_SEC / 10,
					       on_connect_timeout, m);
	if (r < 0) {
		log_warning_errno(r, "MQTT: cannot watch the broker's socket: %m");
		schedule_retry(m);
		return;
	}
	m->io_fd = fd;
	log_debug("MQTT: connecting to %s:%u.", m->host, m->port);
}

/* The password file: read once, at start, before anything else; never logged. */
static int read_password(const char *path, char **ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	ssize_t n;
	size_t len = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return log_error_errno(errno, "MQTT: cannot read [mqtt] password_file %s: %m",
				       path);
	buf = malloc(PASSWORD_MAX + 1);
	if (!buf)
		return log_oom();
	while ((n = read(fd, buf + len, PASSWORD_MAX + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > PASSWORD_MAX)
			return log_error_errno(EFBIG,
					       "MQTT: [mqtt] password_file %s is longer "
					       "than %d bytes.",
					       path, PASSWORD_MAX);
	}
	if (n < 0)
		return log_error_errno(errno, "MQTT: cannot read [mqtt] password_file %s: %m",
				       path);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = 0;
	if (memchr(buf, 0, len))
		return log_error_errno(EINVAL, "MQTT: [mqtt] password_file %s holds a NUL byte.",
				       path);
	*ret = TAKE_PTR(buf);
	return 0;
}

int cd_mqtt_new(sd_event *event, const struct cd_mqtt_config *c, const struct cd_front *front,
		struct cd_mqtt **ret)
{
	_cleanup_(cd_mqtt_freep) struct cd_mqtt *m = NULL;
	int r;

	/* libmosquitto (and its OpenSSL) is mapped only from here on. */
	r = cd_mqtt_dlopen();
	if (r < 0)
		return r;
	if (!front || !front->ops)
		return log_error_errno(EINVAL, "MQTT: no front-end contract to publish.");
	m = calloc(1, sizeof(*m));
	if (!m)
		return log_oom();
	m->event = sd_event_ref(event);
	m->front = *front;
	m->io_fd = -1;
	m->port = c->port;
	m->tls = c->tls;
	m->discovery = c->discovery;
	m->interval_us = (uint64_t)(c->publish_interval_s * USEC_PER_SEC);
	m->backoff_s = BACKOFF_MIN_S;
	m->today_min = m->week_min = NAN;
	m->host = strdup(c->host);
	m->discovery_prefix = strdup(c->discovery_prefix);
	if (!m->host || !m->discovery_prefix ||
	    (c->username && !(m->username = strdup(c->username))) ||
	    (c->ca_file && !(m->ca_file = strdup(c->ca_file))))
		return log_oom();
	if (c->topic_prefix)
		m->prefix = strdup(c->topic_prefix);
	else {
		char host[256] = "";

		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
			strcpy(host, "localhost");
		/* A host name never holds + # or /, but be sure. */
		for (char *p = host; *p; p++)
			if (*p == '+' || *p == '#' || *p == '/')
				*p = '_';
		if (asprintf(&m->prefix, "cardiod/%s", host) < 0)
			m->prefix = NULL;
	}
	if (!m->prefix || !(m->node = sanitise(m->prefix, NULL)) ||
	    asprintf(&m->status_topic, "%s/status", m->prefix) < 0 ||
	    asprintf(&m->birth_topic, "%s/status", m->discovery_prefix) < 0)
		return log_oom();
	if (c->password_file) {
		r = read_password(c->password_file, &m->password);
		if (r < 0)
			return r;
	}
	if (m->ca_file && !m->tls)
		log_warning("MQTT: [mqtt] ca_file is set but url is mqtt://, not mqtts://; "
			    "ignoring it.");
	if (m->tls && m->ca_file && access(m->ca_file, R_OK) < 0)
		return log_error_errno(errno, "MQTT: cannot read [mqtt] ca_file %s: %m",
				       m->ca_file);
	m->mosq = sym_mosquitto_new(NULL, true, m);
	if (!m->mosq)
		return log_error_errno(errno ? errno : ENOMEM,
				       "MQTT: cannot create the client: %m");
	r = sd_event_add_time_relative(event, &m->tick_timer, CLOCK_MONOTONIC, tick_us(m),
				       USEC_PER_SEC / 20, on_tick, m);
	if (r < 0)
		return log_error_errno(r, "MQTT: cannot add the publish timer: %m");
	/* The straps there already; later ones arrive as events. */
	poll_straps(m);
	if (m->front.events) {
		m->subscription = cd_events_subscribe(m->front.events, on_event, m);
		if (m->subscription == 0)
			return log_oom();
	}
	log_info("MQTT: publishing to %s:%u%s as %s/ (discovery %s).", m->host, m->port,
		 m->tls ? " over TLS" : "", m->prefix, m->discovery ? m->discovery_prefix : "off");
	connect_start(m);
	*ret = TAKE_PTR(m);
	return 0;
}

struct cd_mqtt *cd_mqtt_free(struct cd_mqtt *m)
{
	if (!m)
		return NULL;
	m->freeing = true;
	if (m->subscription)
		cd_events_unsubscribe(m->front.events, m->subscription);
	io_drop(m);
	if (m->mosq) {
		if (m->connected) {
			/* Not a crash: say offline ourselves (a clean disconnect sends no will). */
			m->queued = 0;
			(void)publish(m, m->status_topic, "offline", 0, true);
			(void)sym_mosquitto_disconnect(m->mosq);
			(void)sym_mosquitto_loop_write(m->mosq, 1);
		}
		sym_mosquitto_destroy(m->mosq);
	}
	m->retry_timer = sd_event_source_disable_unref(m->retry_timer);
	m->tick_timer = sd_event_source_disable_unref(m->tick_timer);
	while (m->straps) {
		struct strap *s = m->straps;

		m->straps = s->next;
		strap_free(s);
	}
	if (m->password) {
		explicit_bzero(m->password, strlen(m->password));
		free(m->password);
	}
	free(m->host);
	free(m->username);
	free(m->ca_file);
	free(m->prefix);
	free(m->node);
	free(m->discovery_prefix);
	free(m->status_topic);
	free(m->birth_topic);
	sd_event_unref(m->event);
	free(m);
	return NULL;
}

bool cd_mqtt_connected(const struct cd_mqtt *m)
{
	return m && m->connected;
}

/* ---------------------------------------------------------------- straps */

static struct strap *strap_find(struct cd_mqtt *m, const char *id)
{
	for (struct strap *s = m->straps; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

static bool streq_null(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* id's strap, added (or brought back before its removal went out) when needed; NULL: OOM. */
static struct strap *strap_get(struct cd_mqtt *m, const char *id, const char *model)
{
	struct strap *s = strap_find(m, id);

	if (s) {
		if (s->forgotten) {
			/* Back before its removal went out: publish its configs again. */
			s->forgotten = false;
			s->config_dirty = m->discovery;
		}
		return s;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = strdup(id);
	s->model = strdup(model ? model : "heart-rate strap");
	s->node = sanitise(m->prefix, id);
	if (!s->id || !s->model || !s->node) {
		strap_free(s);
		return NULL;
	}
	s->hr_bpm = NAN;
	s->hr_zone = -1;
	s->config_dirty = m->discovery;
	s->next = m->straps;
	m->straps = s;
	return s;
}

/*
 * A strap's state: published at once when zone or stale changed since the
 * last publish, else at most every publish_interval_s.  name goes into the
 * discovery device block (NULL: the id).
 */
static int strap_set(struct cd_mqtt *m, struct strap *s, const char *name,
		     const struct cd_mqtt_strap_state *st)
{
	bool urgent;

	if (!streq_null(s->name, name)) {
		char *n = name ? strdup(name) : NULL;

		if (name && !n)
			return -ENOMEM;
		free(s->name);
		s->name = n;
		s->config_dirty = m->discovery;
	}
	s->st = *st;
	s->state_dirty = true;
	urgent = !s->ever_published || st->zone != s->published.zone ||
		 st->stale != s->published.stale;
	if (m->connected && (s->config_dirty || urgent)) {
		if (s->config_dirty && m->discovery)
			(void)publish_strap_configs(m, s);
		if (urgent)
			(void)publish_state(m, s);
		io_update(m);
	}
	return 0;
}

/* A strap forgotten: its discovery configs are removed (empty retained payloads). */
static void strap_forget(struct cd_mqtt *m, struct strap *s)
{
	s->forgotten = true;
	s->config_dirty = true;
	s->state_dirty = false;
}

/*
 * The state topic of a strap as the contract shows it.  bpm and zone are
 * those of the last valid sample its session recorded (the session's
 * totals, as the hub's hr and zone events told them): none at the instant
 * a session opens or after a manual start until the next valid sample,
 * and the one from before a loss of contact in the device event that
 * ends the staleness, which comes before the sample that ends it.  None
 * while stale; session figures only with a session.
 */
static void state_of(const struct strap *s, const struct cd_front_device *v,
		     struct cd_mqtt_strap_state *st)
{
	*st = (struct cd_mqtt_strap_state){
		.bpm = NAN,
		.zone = -1,
		.stale = v->stale,
		.mvpa_s = NAN,
		.ecb_s = NAN,
		.battery_pct = v->battery_pct,
	};
	if (v->session_id == 0)
		return;
	st->session = v->session_id;
	st->mvpa_s = v->mvpa_s;
	st->ecb_s = v->ecb_s;
	if (!v->stale && s->hr_session == v->session_id && isfinite(s->hr_bpm)) {
		st->bpm = s->hr_bpm;
		st->zone = s->hr_zone;
	}
}

static bool same_num(double a, double b)
{
	return isnan(a) ? isnan(b) : a == b;
}

static bool state_eq(const struct cd_mqtt_strap_state *a, const struct cd_mqtt_strap_state *b)
{
	return same_num(a->bpm, b->bpm) && a->zone == b->zone && a->stale == b->stale &&
	       a->session == b->session && same_num(a->mvpa_s, b->mvpa_s) &&
	       same_num(a->ecb_s, b->ecb_s) && a->battery_pct == b->battery_pct;
}

/* v as the contract gives it now; ev: the hub's event that said so (NULL: a tick). */
static void strap_seen(struct cd_mqtt *m, const struct cd_front_device *v,
		       const struct cd_event *ev)
{
	struct cd_mqtt_strap_state st;
	struct strap *s = strap_get(m, v->id, v->transport);

	if (!s) {
		log_oom();
		return;
	}
	/* A valid sample recorded in ev->session (zone: from inside the engine, before hr). */
	if (ev && ev->session > 0 && (ev->type == CD_EVENT_HR || ev->type == CD_EVENT_ZONE)) {
		s->hr_session = ev->session;
		s->hr_bpm = ev->type == CD_EVENT_HR ? ev->bpm : v->bpm;
		s->hr_zone = ev->type == CD_EVENT_HR ? ev->zone : ev->new_zone;
	} else if (!m->front.events && v->session_id > 0) {
		/* No hub to follow (a contract without events): the last valid sample. */
		s->hr_session = v->session_id;
		s->hr_bpm = v->bpm;
		s->hr_zone = v->zone;
	}
	s->last_seen_us = v->last_seen_us;
	s->listed = true;
	state_of(s, v, &st);
	if (strap_set(m, s, v->name, &st) < 0)
		log_oom();
}

static void set_intensity_minutes(struct cd_mqtt *m, double today_min, double week_min)
{
	bool same = same_num(today_min, m->today_min) && same_num(week_min, m->week_min);

	if (!m->summary_known) {
		m->summary_known = true;
		m->summary_config_dirty = m->discovery;
	} else if (same)
		return;
	m->today_min = today_min;
	m->week_min = week_min;
	m->summary_dirty = true;
}

/* ---------------------------------------------------------------- the contract */

/*
 * The hub's events that can change a strap's state topic: re-read the
 * strap.  A device event comes only when connected, stale, battery or
 * name changed, and hr only for valid samples; poll_straps() catches the
 * rest at the next tick.
 */
static void on_event(const struct cd_event_record *rec, void *userdata)
{
	struct cd_mqtt *m = userdata;
	const struct cd_event *ev = rec->event;
	const struct cd_front_ops *ops = m->front.ops;
	struct cd_front_device v;

	if (!ev || !ev->device)
		return;
	switch (ev->type) {
	case CD_EVENT_HR:
	case CD_EVENT_ZONE:
	case CD_EVENT_SESSION:
	case CD_EVENT_DEVICE:
		break;
	case CD_EVENT_MILESTONE:
	case _CD_EVENT_MAX:
		return;
	}
	if (!ops->device || ops->device(m->front.userdata, ev->device, &v) < 0)
		return;
	strap_seen(m, &v, ev);
}

/*
 * At every tick: a strap whose last sample is newer than what its events
 * told (an invalid sample, a contact change: nothing on the hub), or whose
 * figures differ, is updated as an event would have; it is then published
 * at most every publish_interval_s, as when every sample was an event.
 * A strap the contract no longer lists is forgotten.
 */
static void on_listed(const struct cd_front_device *v, void *ctx)
{
	struct cd_mqtt *m = ctx;
	struct strap *s = strap_find(m, v->id);

	if (s && !s->forgotten && s->last_seen_us == v->last_seen_us &&
	    streq_null(s->name, v->name)) {
		struct cd_mqtt_strap_state st;

		state_of(s, v, &st);
		if (state_eq(&st, &s->st)) {
			s->listed = true;
			return;
		}
	}
	strap_seen(m, v, NULL);
}

static void poll_straps(struct cd_mqtt *m)
{
	const struct cd_front_ops *ops = m->front.ops;
	int r;

	if (!ops->each_device)
		return;
	for (struct strap *s = m->straps; s; s = s->next)
		s->listed = false;
	r = ops->each_device(m->front.userdata, on_listed, m);
	if (r < 0) {
		log_debug_errno(r, "MQTT: cannot list the straps: %m; trying again at the next tick.");
		return;
	}
	for (struct strap *s = m->straps; s; s = s->next)
		if (!s->listed && !s->forgotten)
			strap_forget(m, s);
}
