/* SPDX-License-Identifier: MIT */
/*
 * Devices, sessions and observers (DESIGN §3 "Session lifecycle").
 *
 * Each device has one one-shot CLOCK_BOOTTIME timer, armed only while
 * there is something to wait for: the stale deadline (last valid sample +
 * stale_after_s; a manual start or stop does not refresh it, so a silent
 * strap never looks live) and then the idle deadline (last activity: a
 * valid sample, a manual start or stop + idle_timeout_s) that closes the
 * open session or lifts a manual stop's suppression.  A strap that keeps sending re-arms it; an idle daemon has
 * no timer at all.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "log.h"
#include "monitor.h"

#define USEC_PER_SEC 1000000ULL
/* Timer slack: stale and idle deadlines need not be exact to the ms. */
#define TIMER_ACCURACY_US (100 * 1000ULL)

struct observer {
	unsigned id;
	void (*callback)(const struct monitor_event *ev, void *user_data);
	void *user_data;
	void (*destroy)(void *user_data);
	bool removed;
	struct observer *next; /* monitor::observers */
};

struct monitor {
	sd_event *event;
	const struct cd_config *config;
	uint64_t next_session_id;
	struct monitor_device *devices; /* in order of appearance */
	struct observer *observers;
	unsigned next_observer_id;
	unsigned dispatching;
	struct monitor_session *last_ended;
};

static const char *const transport_names[_CD_TRANSPORT_MAX] = {
	[CD_TRANSPORT_BLE] = "ble",
	[CD_TRANSPORT_ANT] = "ant",
	[CD_TRANSPORT_SIM] = "sim",
	[CD_TRANSPORT_REPLAY] = "replay",
};

const char *cd_transport_to_string(enum cd_transport t)
{
	return (unsigned)t < _CD_TRANSPORT_MAX ? transport_names[t] : NULL;
}

enum cd_transport cd_transport_from_string(const char *s)
{
	for (int i = 0; s && i < _CD_TRANSPORT_MAX; i++)
		if (strcmp(s, transport_names[i]) == 0)
			return (enum cd_transport)i;
	return _CD_TRANSPORT_INVALID;
}

uint64_t monitor_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t monitor_boot_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t boot_now(struct monitor *m)
{
	uint64_t now;

	if (sd_event_now(m->event, CLOCK_BOOTTIME, &now) < 0)
		now = monitor_boot_us();
	return now;
}

double monitor_session_time(const struct monitor_session *s, uint64_t at_boot_us)
{
	/* Integers first, one rounding at the end: the same bits every time. */
	int64_t d = (int64_t)(at_boot_us - s->started_boot_us);

	return (double)d / 1e6;
}

static void emit(struct monitor *m, const struct monitor_event *ev)
{
	m->dispatching++;
	for (struct observer *o = m->observers; o; o = o->next)
		if (!o->removed)
			o->callback(ev, o->user_data);
	m->dispatching--;
	if (m->dispatching > 0)
		return;
	/* Unregistered while dispatching: unlink now. */
	for (struct observer **p = &m->observers; *p;) {
		struct observer *o = *p;

		if (!o->removed) {
			p = &o->next;
			continue;
		}
		*p = o->next;
		free(o);
	}
}

static void emit_device(struct monitor_device *d, enum monitor_event_type type)
{
	struct monitor_event ev = {
		.type = type,
		.device = d,
	};

	emit(d->monitor, &ev);
}

unsigned monitor_observer_register(struct monitor *m,
				   void (*callback)(const struct monitor_event *ev, void *user_data),
				   void *user_data, void (*destroy)(void *user_data))
{
	struct observer *o, **tail;

	if (!callback)
		return 0;
	o = calloc(1, sizeof(*o));
	if (!o)
		return 0;
	if (++m->next_observer_id == 0)
		m->next_observer_id = 1;
	*o = (struct observer){
		.id = m->next_observer_id,
		.callback = callback,
		.user_data = user_data,
		.destroy = destroy,
	};
	/* Append: observers hear events in the order they registered (the store first). */
	for (tail = &m->observers; *tail; tail = &(*tail)->next)
		;
	*tail = o;
	return o->id;
}

bool monitor_observer_unregister(struct monitor *m, unsigned id)
{
	for (struct observer **p = &m->observers; *p; p = &(*p)->next) {
		struct observer *o = *p;

		if (o->id != id || o->removed)
			continue;
		if (o->destroy)
			o->destroy(o->user_data);
		if (m->dispatching > 0) {
			o->removed = true;
		} else {
			*p = o->next;
			free(o);
		}
		return true;
	}
	return false;
}

static struct monitor_session *session_free(struct monitor_session *s)
{
	if (!s)
		return NULL;
	cd_engine_free(s->engine);
	free(s->kind);
	free(s);
	return NULL;
}

static struct monitor_device *device_free(struct monitor_device *d)
{
	if (!d)
		return NULL;
	sd_event_source_disable_unref(d->timer);
	session_free(d->session);
	free(d->id);
	free(d->name);
	free(d->body_location);
	free(d);
	return NULL;
}

int monitor_new(sd_event *event, const struct monitor_config *config, struct monitor **ret)
{
	struct monitor *m;

	if (!event || !config || !config->config || !ret)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->event = sd_event_ref(event);
	m->config = config->config;
	m->next_session_id = config->first_session_id > 0 ? config->first_session_id : 1;
	*ret = m;
	return 0;
}

struct monitor *monitor_free(struct monitor *m)
{
	if (!m)
		return NULL;
	while (m->observers) {
		struct observer *o = m->observers;

		m->observers = o->next;
		if (!o->removed && o->destroy)
			o->destroy(o->user_data);
		free(o);
	}
	while (m->devices) {
		struct monitor_device *d = m->devices;

		m->devices = d->next;
		device_free(d);
	}
	session_free(m->last_ended);
	sd_event_unref(m->event);
	free(m);
	return NULL;
}

static int device_timer_handler(sd_event_source *s, uint64_t usec, void *userdata);

static void device_arm(struct monitor_device *d)
{
	struct monitor *m = d->monitor;
	uint64_t deadline = UINT64_MAX;
	int r;

	if (!d->explicit_time && d->activity_boot_us > 0) {
		if (!d->stale && d->last_valid_boot_us > 0)
			deadline = d->last_valid_boot_us +
				   (uint64_t)(m->config->engine.stale_after_s * USEC_PER_SEC);
		if (d->session || d->suppressed) {
			uint64_t idle = d->activity_boot_us +
					(uint64_t)(m->config->idle_timeout_s * USEC_PER_SEC);

			if (idle < deadline)
				deadline = idle;
		}
	}

	if (deadline == UINT64_MAX) {
		if (d->timer)
			sd_event_source_set_enabled(d->timer, SD_EVENT_OFF);
		return;
	}
	if (!d->timer) {
		r = sd_event_add_time(m->event, &d->timer, CLOCK_BOOTTIME, deadline,
				      TIMER_ACCURACY_US, device_timer_handler, d);
		if (r < 0) {
			log_warning_errno(r, "Failed to add the idle timer of %s: %m, ignoring",
					  d->id);
			return;
		}
		sd_event_source_set_description(d->timer, "device-idle");
		return;
	}
	sd_event_source_set_time(d->timer, deadline);
	sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
}

int monitor_device_add(struct monitor *m, const char *id, const char *name,
		       enum cd_transport transport, struct monitor_device **ret)
{
	struct monitor_device *d, **tail;

	if (!id || !*id || (unsigned)transport >= _CD_TRANSPORT_MAX)
		return -EINVAL;
	d = monitor_device_find(m, id);
	if (d) {
		if (ret)
			*ret = d;
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = (struct monitor_device){
		.monitor = m,
		.id = strdup(id),
		.name = strdup(name ? name : id),
		.transport = transport,
		.battery_pct = -1,
		.contact = CD_CONTACT_UNKNOWN,
		.stale = true,
		.last_bpm = NAN,
		.profile = cd_config_profile_for(m->config, id),
	};
	if (!d->id || !d->name) {
		device_free(d);
		return -ENOMEM;
	}
	for (tail = &m->devices; *tail; tail = &(*tail)->next)
		;
	*tail = d;
	log_info("Device %s (%s, %s) added, profile '%s'.", d->id, d->name,
		 cd_transport_to_string(transport), d->profile->name);
	emit_device(d, MONITOR_EVENT_DEVICE_ADDED);
	if (ret)
		*ret = d;
	return 0;
}

struct monitor_device *monitor_device_find(struct monitor *m, const char *id)
{
	for (struct monitor_device *d = m->devices; d; d = d->next)
		if (strcmp(d->id, id) == 0)
			return d;
	return NULL;
}

struct monitor_device *monitor_devices(struct monitor *m)
{
	return m->devices;
}

void monitor_device_set_connected(struct monitor_device *d, bool connected)
{
	if (d->connected == connected)
		return;
	d->connected = connected;
	log_info("Device %s %s.", d->id, connected ? "connected" : "disconnected");
	emit_device(d, MONITOR_EVENT_DEVICE_CHANGED);
}

void monitor_device_set_battery(struct monitor_device *d, int pct)
{
	if (pct < -1 || pct > 100)
		pct = -1;
	if (d->battery_pct == pct)
		return;
	d->battery_pct = pct;
	emit_device(d, MONITOR_EVENT_DEVICE_CHANGED);
}

void monitor_device_set_name(struct monitor_device *d, const char *name)
{
	char *n;

	if (!name || !*name || strcmp(name, d->name) == 0)
		return;
	n = strdup(name);
	if (!n)
		return (void)log_oom();
	free(d->name);
	d->name = n;
	emit_device(d, MONITOR_EVENT_DEVICE_CHANGED);
}

void monitor_device_set_body_location(struct monitor_device *d, const char *location)
{
	char *l = NULL;

	if (location ? d->body_location && strcmp(location, d->body_location) == 0
		     : !d->body_location)
		return;
	if (location) {
		l = strdup(location);
		if (!l)
			return (void)log_oom();
	}
	free(d->body_location);
	d->body_location = l;
	emit_device(d, MONITOR_EVENT_DEVICE_CHANGED);
}

void monitor_device_set_counts(struct monitor_device *d, unsigned reconnects, unsigned malformed)
{
	if (d->reconnect_count == reconnects && d->malformed_count == malformed)
		return;
	d->reconnect_count = reconnects;
	d->malformed_count = malformed;
	emit_device(d, MONITOR_EVENT_DEVICE_CHANGED);
}

/* Two battery voltages render the same: both null, or the same number. */
static bool same_volts(bool has_a, double a, bool has_b, double b)
{
	bool null_a = !has_a || !isfinite(a), null_b = !has_b || !isfinite(b);

	return null_a || null_b ? null_a == null_b : a == b;
}

/* What describes the strap, apart from the running values (monitor.h). */
static bool ant_facts_equal(const struct monitor_ant_info *a, const struct monitor_ant_info *b)
{
	return a->device_number == b->device_number && a->device_type == b->device_type &&
	       a->transmission_type == b->transmission_type && strcmp(a->pages, b->pages) == 0 &&
	       a->has_manufacturer == b->has_manufacturer &&
	       (!a->has_manufacturer ||
		(a->manufacturer_id == b->manufacturer_id &&
		 strcmp(a->manufacturer, b->manufacturer) == 0 &&
		 a->serial_number == b->serial_number)) &&
	       a->has_product == b->has_product &&
	       (!a->has_product || (a->model == b->model && a->hw_version == b->hw_version &&
				    a->sw_version == b->sw_version)) &&
	       a->has_battery == b->has_battery &&
	       same_volts(a->has_battery, a->battery_v, b->has_battery, b->battery_v) &&
	       (!a->has_battery || strcmp(a->battery_status, b->battery_status) == 0);
}

void monitor_device_set_ant(struct monitor_device *d, const struct monitor_ant_info *info)
{
	bool changed = !d->has_ant || !ant_facts_equal(&d->ant, info);

	d->ant = *info;
	/* Terminated whatever the source wrote: they are rendered as C strings. */
	d->ant.pages[sizeof(d->ant.pages) - 1] = '\0';
	d->ant.manufacturer[sizeof(d->ant.manufacturer) - 1] = '\0';
	d->ant.battery_status[sizeof(d->ant.battery_status) - 1] = '\0';
	d->has_ant = true;
	if (changed)
		emit_device(d, MONITOR_EVENT_DEVICE_CHANGED);
}

void monitor_device_set_explicit_time(struct monitor_device *d, uint64_t epoch_us)
{
	d->explicit_time = true;
	d->epoch_us = epoch_us;
	device_arm(d);
}

static void engine_milestone(void *userdata, enum cd_milestone ms, double at_s)
{
	struct monitor_session *s = userdata;
	struct monitor_event ev = {
		.type = MONITOR_EVENT_MILESTONE,
		.device = s->device,
		.session = s,
		.milestone = ms,
		.milestone_at_s = at_s,
	};

	log_info("Session %" PRIu64 " on %s: milestone %s.", s->id, s->device->id,
		 cd_milestone_to_string(ms));
	emit(s->device->monitor, &ev);
}

static void engine_zone_changed(void *userdata, enum cd_zone old_zone, enum cd_zone new_zone)
{
	struct monitor_session *s = userdata;
	struct monitor_event ev = {
		.type = MONITOR_EVENT_ZONE_CHANGED,
		.device = s->device,
		.session = s,
		.old_zone = old_zone,
		.new_zone = new_zone,
	};

	emit(s->device->monitor, &ev);
}

static int session_open(struct monitor_device *d, uint64_t started_at_us,
			uint64_t started_boot_us, const char *kind, struct monitor_session **ret)
{
	struct monitor *m = d->monitor;
	struct monitor_session *s;
	struct cd_engine_observer obs = {
		.milestone = engine_milestone,
		.zone_changed = engine_zone_changed,
	};
	struct monitor_event ev = { .type = MONITOR_EVENT_SESSION_STARTED };
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	obs.userdata = s;
	*s = (struct monitor_session){
		.id = m->next_session_id,
		.device = d,
		.started_at_us = started_at_us,
		.started_boot_us = started_boot_us,
		.t_fed = -INFINITY,
		.active = true,
	};
	if (kind) {
		s->kind = strdup(kind);
		if (!s->kind) {
			session_free(s);
			return -ENOMEM;
		}
	}
	r = cd_engine_new(d->profile, &m->config->engine, &obs, &s->engine);
	if (r < 0) {
		session_free(s);
		return r;
	}
	m->next_session_id++;
	d->session = s;
	log_info("Session %" PRIu64 " started on %s.", s->id, d->id);
	ev.device = d;
	ev.session = s;
	emit(m, &ev);
	*ret = s;
	return 0;
}

static void session_close(struct monitor_session *s, const char *why)
{
	struct monitor_device *d = s->device;
	struct monitor *m = d->monitor;
	const struct cd_engine_totals *tot = cd_engine_totals(s->engine);
	struct monitor_event ev = {
		.type = MONITOR_EVENT_SESSION_ENDED,
		.device = d,
		.session = s,
	};

	/* DESIGN §3: ended_at is the last valid sample's time. */
	if (tot->samples > 0 && tot->t_last > 0)
		s->ended_at_us = s->started_at_us + (uint64_t)llround(tot->t_last * 1e6);
	else
		s->ended_at_us = s->started_at_us;
	s->active = false;
	d->session = NULL;
	for (size_t z = 0; z < _CD_ZONE_MAX; z++)
		d->ended_zone_s[z] += tot->zone_s[z];
	log_info("Session %" PRIu64 " on %s ended (%s): %zu samples.", s->id, d->id, why,
		 tot->samples);
	/* Before the event: an observer that asks for session s by id finds it (front.c). */
	session_free(m->last_ended);
	m->last_ended = s;
	emit(m, &ev);
}

static int device_timer_handler(sd_event_source *source, uint64_t usec, void *userdata)
{
	struct monitor_device *d = userdata;
	struct monitor *m = d->monitor;
	uint64_t now = boot_now(m);

	if (!d->stale && d->last_valid_boot_us > 0 &&
	    now >= d->last_valid_boot_us +
			   (uint64_t)(m->config->engine.stale_after_s * USEC_PER_SEC)) {
		d->stale = true;
		emit_device(d, MONITOR_EVENT_DEVICE_CHANGED);
	}
	if ((d->session || d->suppressed) &&
	    now >= d->activity_boot_us + (uint64_t)(m->config->idle_timeout_s * USEC_PER_SEC)) {
		if (d->session)
			session_close(d->session, "idle");
		d->suppressed = false;
	}
	device_arm(d);
	return 0;
}

int monitor_feed(struct monitor *m, struct monitor_device *d, const struct cd_sample *s,
		 uint64_t at_us)
{
	struct monitor_event ev = { .type = MONITOR_EVENT_SAMPLE, .device = d };
	struct monitor_session *sess;
	struct cd_sample x = *s;
	bool valid = cd_sample_is_valid(s), changed = false;
	_cleanup_free_ double *rr = NULL;
	uint64_t wall_us, now_boot;
	size_t n_pos = 0;
	int counted = 0, r;

	/* An RR of 0 or less is no interval (BLE raw 0, a zero ANT delta): dropped at ingest. */
	for (size_t i = 0; s->rr_ms && i < s->n_rr; i++)
		n_pos += isfinite(s->rr_ms[i]) && s->rr_ms[i] > 0;
	if (!s->rr_ms || n_pos == 0) {
		x.rr_ms = NULL;
		x.n_rr = 0;
	} else if (n_pos < s->n_rr) {
		rr = malloc(n_pos * sizeof(*rr));
		if (!rr)
			return log_oom();
		x.n_rr = 0;
		for (size_t i = 0; i < s->n_rr; i++)
			if (isfinite(s->rr_ms[i]) && s->rr_ms[i] > 0)
				rr[x.n_rr++] = s->rr_ms[i];
		x.rr_ms = rr;
	}

	if (d->explicit_time) {
		if (!isfinite(s->t) || s->t < 0)
			return 0;
		wall_us = d->epoch_us + (uint64_t)llround(s->t * 1e6);
	} else
		wall_us = monitor_now_us();
	now_boot = boot_now(m);
	d->last_seen_us = wall_us;
	if (d->contact != s->contact) {
		d->contact = s->contact;
		changed = true;
	}
	if (!d->connected) {
		d->connected = true;
		changed = true;
	}
	if (valid) {
		d->last_valid_us = wall_us;
		d->last_bpm = s->bpm;
		d->last_valid_boot_us = d->activity_boot_us = now_boot;
		if (d->stale) {
			d->stale = false;
			changed = true;
		}
	}
	if (changed)
		emit_device(d, MONITOR_EVENT_DEVICE_CHANGED);

	/* DESIGN §3: a valid sample opens a session unless a manual stop suppresses it. */
	if (valid && !d->session && !d->suppressed) {
		r = session_open(d, d->explicit_time ? d->epoch_us : wall_us, at_us, NULL, &sess);
		if (r < 0)
			log_warning_errno(r, "Failed to open a session on %s: %m, ignoring", d->id);
	}

	sess = d->session;
	if (sess) {
		x.t = d->explicit_time ? s->t : monitor_session_time(sess, at_us);
		/* Not this session's next sample (clock stepped back): not recorded. */
		if (x.t < 0 || x.t < sess->t_fed) {
			sess = NULL;
		} else {
			r = cd_engine_add(sess->engine, &x);
			if (r < 0) {
				log_warning_errno(r, "Failed to add a sample of %s: %m, ignoring",
						  d->id);
				sess = NULL;
			} else {
				counted = r;
				sess->t_fed = x.t;
			}
		}
	}

	ev.session = sess;
	ev.sample = &x;
	ev.at_us = wall_us;
	ev.valid = counted > 0;
	if (counted > 0)
		d->samples_counted++;
	emit(m, &ev);

	if (valid)
		device_arm(d);
	return counted;
}

static struct monitor_device *default_device(struct monitor *m)
{
	struct monitor_session *p = monitor_primary(m);
	struct monitor_device *best = NULL;

	if (p)
		return p->device;
	for (struct monitor_device *d = m->devices; d; d = d->next)
		if (!best || d->last_seen_us > best->last_seen_us)
			best = d;
	return best;
}

int monitor_start(struct monitor *m, const char *device, const char *kind,
		  struct monitor_session **ret)
{
	struct monitor_device *d = device ? monitor_device_find(m, device) : default_device(m);
	int r;

	if (!d)
		return -ENOENT;
	d->suppressed = false;
	if (d->session) {
		*ret = d->session; /* DESIGN §3: idempotent */
		return 0;
	}
	r = session_open(d, d->explicit_time ? d->epoch_us : monitor_now_us(), boot_now(m), kind,
			 ret);
	if (r < 0)
		return r;
	d->activity_boot_us = boot_now(m);
	device_arm(d);
	return 0;
}

int monitor_stop(struct monitor *m, const char *device, struct monitor_session **ret)
{
	struct monitor_device *d;

	if (device) {
		d = monitor_device_find(m, device);
		if (!d)
			return -ENOENT;
	} else {
		struct monitor_session *p = monitor_primary(m);

		if (!p)
			return -ESRCH;
		d = p->device;
	}
	if (!d->session)
		return -ESRCH;
	session_close(d->session, "stopped");
	/* DESIGN §3: no auto-open until a manual start or idle_timeout_s of silence. */
	d->suppressed = true;
	d->activity_boot_us = boot_now(m);
	device_arm(d);
	if (ret)
		*ret = m->last_ended;
	return 0;
}

void monitor_device_close(struct monitor_device *d)
{
	if (d->session)
		session_close(d->session, "end of input");
	device_arm(d);
}

void monitor_close_all(struct monitor *m)
{
	for (struct monitor_device *d = m->devices; d; d = d->next)
		if (d->session) {
			session_close(d->session, "shutdown");
			device_arm(d);
		}
}

struct monitor_session *monitor_primary(struct monitor *m)
{
	struct monitor_session *best = NULL;

	for (struct monitor_device *d = m->devices; d; d = d->next) {
		struct monitor_session *s = d->session;

		if (s && (!best || s->started_at_us > best->started_at_us ||
			  (s->started_at_us == best->started_at_us && s->id > best->id)))
			best = s;
	}
	return best;
}

struct monitor_session *monitor_session_find(struct monitor *m, uint64_t id)
{
	for (struct monitor_device *d = m->devices; d; d = d->next)
		if (d->session && d->session->id == id)
			return d->session;
	if (m->last_ended && m->last_ended->id == id)
		return m->last_ended;
	return NULL;
}

struct monitor_session *monitor_last_ended(struct monitor *m)
{
	return m->last_ended;
}

unsigned monitor_n_active(struct monitor *m)
{
	unsigned n = 0;

	for (struct monitor_device *d = m->devices; d; d = d->next)
		n += d->session != NULL;
	return n;
}

unsigned monitor_n_devices(struct monitor *m, unsigned *ret_connected)
{
	unsigned n = 0, c = 0;

	for (struct monitor_device *d = m->devices; d; d = d->next) {
		n++;
		c += d->connected;
	}
	if (ret_connected)
		*ret_connected = c;
	return n;
}

cJSON *monitor_session_to_json(const struct monitor_session *s, uint64_t now_boot_us)
{
	const struct monitor_device *d = s->device;
	const struct cd_engine_totals *tot = cd_engine_totals(s->engine);
	struct cd_session_meta meta = {
		.id = s->id,
		.active = s->active,
		.kind = s->kind,
		.device_id = d->id,
		.device_name = d->name,
		.transport = cd_transport_to_string(d->transport),
		.started_at = (double)s->started_at_us / 1e6,
		.battery_pct = d->battery_pct,
	};

	/*
	 * "now" in the session's time base: the clock for a live session; an
	 * ended one (as cardioctl analyze) and a replay stand at their last sample.
	 */
	if (s->active && !d->explicit_time)
		meta.now = monitor_session_time(s, now_boot_us);
	else
		meta.now = tot->t_seen;
	return cd_session_to_json(s->engine, &meta);
}

static bool add_u64(cJSON *o, const char *key, uint64_t v)
{
	return cJSON_AddNumberToObject(o, key, (double)v) != NULL;
}

/* "ant": the keys, order and nulls GET /devices has always had (docs/http-api.md). */
static bool add_ant(cJSON *o, const struct monitor_ant_info *x)
{
	cJSON *a = cJSON_AddObjectToObject(o, "ant");

	return a && add_u64(a, "device_number", x->device_number) &&
	       add_u64(a, "device_type", x->device_type) &&
	       add_u64(a, "transmission_type", x->transmission_type) &&
	       cJSON_AddStringToObject(a, "pages", x->pages) &&
	       (x->has_manufacturer ? add_u64(a, "manufacturer_id", x->manufacturer_id)
				    : cJSON_AddNullToObject(a, "manufacturer_id") != NULL) &&
	       (x->has_manufacturer && x->manufacturer[0]
			? cJSON_AddStringToObject(a, "manufacturer", x->manufacturer)
			: cJSON_AddNullToObject(a, "manufacturer")) &&
	       (x->has_manufacturer ? add_u64(a, "serial_number", x->serial_number)
				    : cJSON_AddNullToObject(a, "serial_number") != NULL) &&
	       (x->has_product ? add_u64(a, "model", x->model)
			       : cJSON_AddNullToObject(a, "model") != NULL) &&
	       (x->has_product ? add_u64(a, "hw_version", x->hw_version)
			       : cJSON_AddNullToObject(a, "hw_version") != NULL) &&
	       (x->has_product ? add_u64(a, "sw_version", x->sw_version)
			       : cJSON_AddNullToObject(a, "sw_version") != NULL) &&
	       (x->has_battery && isfinite(x->battery_v)
			? cJSON_AddNumberToObject(a, "battery_v", x->battery_v)
			: cJSON_AddNullToObject(a, "battery_v")) &&
	       (x->has_battery ? cJSON_AddStringToObject(a, "battery_status", x->battery_status)
			       : cJSON_AddNullToObject(a, "battery_status")) &&
	       (x->has_operating_time ? add_u64(a, "operating_time_s", x->operating_time_s)
				      : cJSON_AddNullToObject(a, "operating_time_s") != NULL) &&
	       (x->has_rssi ? cJSON_AddNumberToObject(a, "rssi_dbm", x->rssi_dbm)
			    : cJSON_AddNullToObject(a, "rssi_dbm")) &&
	       add_u64(a, "messages", x->messages) &&
	       add_u64(a, "missed_messages", x->missed_messages) && add_u64(a, "beats", x->beats) &&
	       add_u64(a, "rr_intervals", x->rr_intervals) &&
	       add_u64(a, "gap_beats", x->gap_beats) && add_u64(a, "rx_fail", x->rx_fail);
}

static bool add_time_us(cJSON *o, const char *key, uint64_t us)
{
	char buf[32];

	if (us == 0 || cd_format_iso8601((double)us / 1e6, buf, sizeof(buf)) < 0)
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddStringToObject(o, key, buf) != NULL;
}

cJSON *monitor_device_to_json(const struct monitor_device *d)
{
	const char *transport = cd_transport_to_string(d->transport);
	cJSON *o = cJSON_CreateObject();
	bool ok;

	if (!o)
		return NULL;
	ok = cJSON_AddStringToObject(o, "id", d->id) &&
	     cJSON_AddStringToObject(o, "name", d->name ? d->name : d->id) &&
	     (transport ? cJSON_AddStringToObject(o, "transport", transport)
			: cJSON_AddNullToObject(o, "transport")) &&
	     cJSON_AddBoolToObject(o, "connected", d->connected) &&
	     (d->battery_pct >= 0 ? cJSON_AddNumberToObject(o, "battery_pct", d->battery_pct)
				  : cJSON_AddNullToObject(o, "battery_pct")) &&
	     (d->contact == CD_CONTACT_UNKNOWN
		      ? cJSON_AddNullToObject(o, "contact")
		      : cJSON_AddBoolToObject(o, "contact", d->contact == CD_CONTACT_OK)) &&
	     add_time_us(o, "last_seen", d->last_seen_us) &&
	     (d->body_location ? cJSON_AddStringToObject(o, "body_location", d->body_location)
			       : cJSON_AddNullToObject(o, "body_location")) &&
	     cJSON_AddNumberToObject(o, "reconnect_count", d->reconnect_count) &&
	     cJSON_AddNumberToObject(o, "malformed_count", d->malformed_count) &&
	     cJSON_AddBoolToObject(o, "stale", d->stale) &&
	     (d->profile ? cJSON_AddStringToObject(o, "profile", d->profile->name)
			 : cJSON_AddNullToObject(o, "profile")) &&
	     (d->session ? cJSON_AddNumberToObject(o, "session_id", (double)d->session->id)
			 : cJSON_AddNullToObject(o, "session_id")) &&
	     (!d->has_ant || add_ant(o, &d->ant));
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *monitor_devices_to_json(struct monitor *m)
{
	cJSON *a = cJSON_CreateArray();

	if (!a)
		return NULL;
	for (struct monitor_device *d = m->devices; d; d = d->next) {
		cJSON *o = monitor_device_to_json(d);

		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

uint64_t monitor_take_session_id(struct monitor *m)
{
	return m->next_session_id++;
}
