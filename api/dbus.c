/* SPDX-License-Identifier: MIT */
/*
 * org.cardiod.Cardiod1 on sd-bus (DESIGN §5, ECOSYSTEM §2).
 *
 * The service is a client of the front-end contract (api/front.h): it
 * follows the contract's event hub and asks the contract for a strap's
 * live figures (struct cd_front_device), a session object, this week, and
 * to start or stop a session on behalf of the caller.
 *
 * Every property is a field of our own, read by sd-bus through offsetof:
 * an event recomputes the fields of the device it concerns and of the
 * root (which follows the contract's primary device), and a field that changed
 * sets its bit in a dirty mask.  One defer source at idle priority then
 * sends one PropertiesChanged per object with every property that changed
 * since the last one, so a replay burst or an accelerated simulator tick
 * costs one emission, not one per sample.  Discrete events (HeartRate per
 * sample, ZoneChanged, milestones, session start and end, devices coming
 * and going) are signals sent at once: HeartRate is the latency path.
 *
 * The bus connection is disposable: everything published is derived from
 * the contract, so after a lost connection a fresh one registers the same
 * objects and requests the name again.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "dbus-auth.h"
#include "dbus.h"
#include "http-parse.h" /* cd_http_parse_time */
#include "log.h"

#define USEC_PER_SEC 1000000ULL


/* Root properties (bit numbers of the dirty mask; same order as the vtable). */
enum {
	ROOT_HEART_RATE,
	ROOT_ZONE,
	ROOT_DEVICE,
	ROOT_SESSION_ID,
	ROOT_SESSION_STATE,
	ROOT_ACTIVE_SECONDS,
	ROOT_MVPA_SECONDS,
	ROOT_ECB_SECONDS,
	ROOT_TODAY_MIN,
	ROOT_WEEK_MIN,
	ROOT_WEEK_SESSIONS,
	ROOT_WEEK_GOAL_MIN,
	_ROOT_MAX,
};

static const char *const root_property_names[_ROOT_MAX] = {
	[ROOT_HEART_RATE] = "HeartRate",
	[ROOT_ZONE] = "Zone",
	[ROOT_DEVICE] = "Device",
	[ROOT_SESSION_ID] = "SessionId",
	[ROOT_SESSION_STATE] = "SessionState",
	[ROOT_ACTIVE_SECONDS] = "ActiveSeconds",
	[ROOT_MVPA_SECONDS] = "MvpaSeconds",
	[ROOT_ECB_SECONDS] = "EcbSeconds",
	[ROOT_TODAY_MIN] = "TodayIntensityMinutes",
	[ROOT_WEEK_MIN] = "WeekIntensityMinutes",
	[ROOT_WEEK_SESSIONS] = "WeekSessions",
	[ROOT_WEEK_GOAL_MIN] = "WeekGoalMinutes",
};

enum {
	DEV_NAME,
	DEV_CONNECTED,
	DEV_HEART_RATE,
	DEV_ZONE,
	DEV_BATTERY,
	DEV_LAST_UPDATE,
	DEV_SESSION_ID,
	_DEV_MAX,
};

static const char *const device_property_names[_DEV_MAX] = {
	[DEV_NAME] = "Name",
	[DEV_CONNECTED] = "Connected",
	[DEV_HEART_RATE] = "HeartRate",
	[DEV_ZONE] = "Zone",
	[DEV_BATTERY] = "BatteryPercentage",
	[DEV_LAST_UPDATE] = "LastUpdate",
	[DEV_SESSION_ID] = "SessionId",
};

/* One strap's object.  The daemon never forgets a strap while it runs, so neither do these. */
struct dbus_device {
	struct cd_dbus *dbus;
	char *path;

	/* Properties, read by sd-bus (sd-bus reads 'b' as int). */
	char *id;
	char *name;
	char *transport;
	int connected;
	uint16_t heart_rate; /* 0 when stale */
	uint8_t zone;        /* 0 when stale */
	uint8_t battery;     /* 255 unknown */
	uint64_t last_update;
	uint64_t session_id;

	unsigned dirty;
	struct dbus_device *next; /* cd_dbus::devices */
};

struct root_props {
	uint16_t heart_rate;
	uint8_t zone;
	const char *device; /* id of the primary device, "" without one */
	uint64_t session_id;
	const char *session_state;
	double active_s, mvpa_s, ecb_s;
	/* The week (DESIGN §9.4), refreshed every CD_DBUS_WEEK_S by ops.week. */
	double today_min, week_min, week_goal_min;
	uint32_t week_sessions;
};

struct cd_dbus {
	sd_event *event;
	struct cd_front front;
	struct cd_dbus_auth *auth; /* who may read, who may start and stop */
	char *bus_spec;
	char *bus_label; /* "the system bus", "the session bus", "the bus at ADDRESS" */
	unsigned subscription; /* on front.events */

	sd_bus *bus;           /* NULL while disconnected */
	bool bus_lost;         /* bus is closed; drop it on the next retry */
	bool complained;       /* the one "cannot connect" line was logged */
	sd_event_source *retry;
	sd_event_source *defer;
	sd_event_source *week_timer;

	struct root_props root;
	unsigned root_dirty;
	struct dbus_device *devices;
};

char *cd_dbus_device_path(const char *device_id)
{
	size_t n = strlen(CD_DBUS_DEVICE_PATH_PREFIX), len = strlen(device_id);
	char *p;

	p = malloc(n + len + 2);
	if (!p)
		return NULL;
	memcpy(p, CD_DBUS_DEVICE_PATH_PREFIX, n);
	for (size_t i = 0; i < len; i++) {
		char c = device_id[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_';

		p[n + i] = ok ? c : '_';
	}
	if (len == 0)
		p[n + len++] = '_'; /* a path element may not be empty */
	p[n + len] = '\0';
	return p;
}

int cd_dbus_connected(const struct cd_dbus *d)
{
	return d && d->bus && !d->bus_lost;
}

static sd_bus *live_bus(struct cd_dbus *d)
{
	return d->bus && !d->bus_lost ? d->bus : NULL;
}

/* Property tables. */

static const sd_bus_vtable device_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Id", "s", NULL, offsetof(struct dbus_device, id),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Name", "s", NULL, offsetof(struct dbus_device, name),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Transport", "s", NULL, offsetof(struct dbus_device, transport),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Connected", "b", NULL, offsetof(struct dbus_device, connected),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("HeartRate", "q", NULL, offsetof(struct dbus_device, heart_rate),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Zone", "y", NULL, offsetof(struct dbus_device, zone),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("BatteryPercentage", "y", NULL, offsetof(struct dbus_device, battery),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("LastUpdate", "t", NULL, offsetof(struct dbus_device, last_update),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("SessionId", "t", NULL, offsetof(struct dbus_device, session_id),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END,
};

static int method_start_session(sd_bus_message *m, void *userdata, sd_bus_error *error);
static int method_stop_session(sd_bus_message *m, void *userdata, sd_bus_error *error);
static int method_get_session(sd_bus_message *m, void *userdata, sd_bus_error *error);

#define ROOT_OFFSET(field) (offsetof(struct cd_dbus, root) + offsetof(struct root_props, field))

/*
 * Methods are UNPRIVILEGED as far as sd-bus is concerned: who may call
 * what is decided by the bus policy (units/org.cardiod.Cardiod1.conf) and
 * by our own check of the caller in on_bus_message() (api/dbus-auth.h),
 * which sd-bus's CAP_SYS_ADMIN check would otherwise override.
 */
static const sd_bus_vtable root_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("HeartRate", "q", NULL, ROOT_OFFSET(heart_rate),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Zone", "y", NULL, ROOT_OFFSET(zone), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Device", "s", NULL, ROOT_OFFSET(device),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("SessionId", "t", NULL, ROOT_OFFSET(session_id),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("SessionState", "s", NULL, ROOT_OFFSET(session_state),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ActiveSeconds", "d", NULL, ROOT_OFFSET(active_s),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("MvpaSeconds", "d", NULL, ROOT_OFFSET(mvpa_s),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("EcbSeconds", "d", NULL, ROOT_OFFSET(ecb_s),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("TodayIntensityMinutes", "d", NULL, ROOT_OFFSET(today_min),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("WeekIntensityMinutes", "d", NULL, ROOT_OFFSET(week_min),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("WeekSessions", "u", NULL, ROOT_OFFSET(week_sessions),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("WeekGoalMinutes", "d", NULL, ROOT_OFFSET(week_goal_min),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_ARGS("StartSession", SD_BUS_ARGS("s", device), SD_BUS_RESULT("t", id),
				method_start_session, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("StopSession", SD_BUS_ARGS("t", id), SD_BUS_NO_RESULT,
				method_stop_session, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetSession", SD_BUS_ARGS("t", id), SD_BUS_RESULT("s", json),
				method_get_session, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_ARGS("HeartRate",
				SD_BUS_ARGS("s", device, "q", bpm, "y", zone, "ad", rr_ms), 0),
	SD_BUS_SIGNAL_WITH_ARGS("ZoneChanged", SD_BUS_ARGS("s", device, "y", old, "y", new), 0),
	SD_BUS_SIGNAL_WITH_ARGS("SessionStarted", SD_BUS_ARGS("t", id, "s", device), 0),
	SD_BUS_SIGNAL_WITH_ARGS("SessionEnded", SD_BUS_ARGS("t", id, "a{sv}", summary), 0),
	SD_BUS_SIGNAL_WITH_ARGS("MilestoneReached", SD_BUS_ARGS("t", id, "s", name), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceConnected",
				SD_BUS_ARGS("s", device, "s", name, "s", transport), 0),
	SD_BUS_SIGNAL_WITH_ARGS("DeviceDisconnected", SD_BUS_ARGS("s", device), 0),
	SD_BUS_VTABLE_END,
};

/* Deferred PropertiesChanged. */

static void schedule_emit(struct cd_dbus *d)
{
	if (d->defer)
		sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT);
}

static void emit_changed(sd_bus *bus, const char *path, const char *interface,
			 const char *const *all, unsigned n, unsigned mask)
{
	const char *names[32];
	unsigned k = 0;
	int r;

	for (unsigned i = 0; i < n && k + 1 < ELEMENTSOF(names); i++)
		if (mask & (1u << i))
			names[k++] = all[i];
	names[k] = NULL;
	if (k == 0)
		return;
	r = sd_bus_emit_properties_changed_strv(bus, path, interface, (char **)names);
	if (r < 0)
		log_debug_errno(r, "Failed to emit PropertiesChanged on %s: %m, ignoring", path);
}

static void emit_pending(struct cd_dbus *d)
{
	sd_bus *bus = live_bus(d);

	for (struct dbus_device *dd = d->devices; dd; dd = dd->next) {
		if (bus && dd->dirty)
			emit_changed(bus, dd->path, CD_DBUS_DEVICE_INTERFACE,
				     device_property_names, _DEV_MAX, dd->dirty);
		dd->dirty = 0;
	}
	if (bus && d->root_dirty)
		emit_changed(bus, CD_DBUS_PATH, CD_DBUS_INTERFACE, root_property_names, _ROOT_MAX,
			     d->root_dirty);
	d->root_dirty = 0;
}

static int on_defer(sd_event_source *s, void *userdata)
{
	emit_pending(userdata);
	return 0;
}

/* Recomputing the properties. */

#define SET(obj, field, value, bit)                                                                \
	do {                                                                                       \
		__typeof__((obj)->field) _v_ = (value);                                            \
		if ((obj)->field != _v_) {                                                         \
			(obj)->field = _v_;                                                        \
			changed |= 1u << (bit);                                                    \
		}                                                                                  \
	} while (0)

/* A frozen value is never shown as live (DESIGN §3): stale or disconnected is 0. */
static bool live_bpm(const struct cd_front_device *v)
{
	return v->connected && !v->stale && isfinite(v->bpm);
}

static void device_set(struct dbus_device *dd, const struct cd_front_device *v)
{
	unsigned changed = 0;
	bool live = live_bpm(v);

	if (strcmp(dd->name, v->name) != 0) {
		char *n = strdup(v->name);

		if (n) {
			free(dd->name);
			dd->name = n;
			changed |= 1u << DEV_NAME;
		}
	}
	SET(dd, connected, v->connected ? 1 : 0, DEV_CONNECTED);
	SET(dd, heart_rate, live ? (uint16_t)lround(v->bpm) : 0, DEV_HEART_RATE);
	SET(dd, zone, live ? (uint8_t)v->zone : 0, DEV_ZONE);
	SET(dd, battery, v->battery_pct >= 0 && v->battery_pct <= 100 ? (uint8_t)v->battery_pct
								      : 255,
	    DEV_BATTERY);
	SET(dd, last_update, v->last_valid_us, DEV_LAST_UPDATE);
	SET(dd, session_id, v->session_id, DEV_SESSION_ID);
	if (changed) {
		dd->dirty |= changed;
		schedule_emit(dd->dbus);
	}
}

/* Re-read one strap from the contract. */
static void device_refresh(struct dbus_device *dd)
{
	struct cd_dbus *d = dd->dbus;
	struct cd_front_device v;

	if (d->front.ops->device && d->front.ops->device(d->front.userdata, dd->id, &v) >= 0)
		device_set(dd, &v);
}

static struct dbus_device *find_device(struct cd_dbus *d, const char *id)
{
	for (struct dbus_device *dd = d->devices; dd; dd = dd->next)
		if (strcmp(dd->id, id) == 0)
			return dd;
	return NULL;
}

/*
 * The root follows the contract's primary strap (DESIGN §5): the one with
 * the most recently started active session, else the most recently seen,
 * so a one-strap widget shows the heart rate between sessions too.
 */
static void root_refresh(struct cd_dbus *d)
{
	struct cd_front_device v;
	bool have = d->front.ops->primary &&
		    d->front.ops->primary(d->front.userdata, &v) >= 0;
	struct dbus_device *dd = have ? find_device(d, v.id) : NULL;
	struct root_props *p = &d->root;
	unsigned changed = 0;
	const char *dev = dd ? dd->id : "";

	if (!dd)
		have = false;
	SET(p, heart_rate, dd ? dd->heart_rate : 0, ROOT_HEART_RATE);
	SET(p, zone, dd ? dd->zone : 0, ROOT_ZONE);
	if (strcmp(p->device, dev) != 0) {
		p->device = dev;
		changed |= 1u << ROOT_DEVICE;
	}
	SET(p, session_id, have ? v.session_id : 0, ROOT_SESSION_ID);
	if (strcmp(p->session_state, have && v.session_id ? "active" : "idle") != 0) {
		p->session_state = have && v.session_id ? "active" : "idle";
		changed |= 1u << ROOT_SESSION_STATE;
	}
	SET(p, active_s, have ? v.active_s : 0.0, ROOT_ACTIVE_SECONDS);
	SET(p, mvpa_s, have ? v.mvpa_s : 0.0, ROOT_MVPA_SECONDS);
	SET(p, ecb_s, have ? v.ecb_s : 0.0, ROOT_ECB_SECONDS);
	if (changed) {
		d->root_dirty |= changed;
		schedule_emit(d);
	}
}

/*
 * The week's figures: asked of the daemon (a summary of the stored
 * figures plus the active sessions) every CD_DBUS_WEEK_S, so
 * PropertiesChanged for them comes at most that often.
 */
static void week_refresh(struct cd_dbus *d)
{
	struct root_props *p = &d->root;
	struct cd_front_week w;
	unsigned changed = 0;

	if (!d->front.ops->week || d->front.ops->week(d->front.userdata, &w) < 0)
		return;
	SET(p, today_min, w.today_min, ROOT_TODAY_MIN);
	SET(p, week_min, w.week_min, ROOT_WEEK_MIN);
	SET(p, week_sessions, (uint32_t)w.week_sessions, ROOT_WEEK_SESSIONS);
	SET(p, week_goal_min, w.goal_min, ROOT_WEEK_GOAL_MIN);
	if (changed) {
		d->root_dirty |= changed;
		schedule_emit(d);
	}
}

static int on_week_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cd_dbus *d = userdata;

	uint64_t now;

	week_refresh(d);
	/* From now, not from usec: with the timer's slack, never sooner than 10 s. */
	if (sd_event_now(d->event, CLOCK_MONOTONIC, &now) < 0)
		now = usec;
	sd_event_source_set_time(s, now + CD_DBUS_WEEK_S * 1000000ULL);
	return 0;
}

/* Objects. */

static int device_register(sd_bus *bus, struct dbus_device *dd, bool announce)
{
	int r;

	if (!bus)
		return 0;
	r = sd_bus_add_object_vtable(bus, NULL, dd->path, CD_DBUS_DEVICE_INTERFACE, device_vtable,
				     dd);
	if (r < 0)
		return log_warning_errno(r, "Failed to publish %s on D-Bus: %m", dd->path);
	if (announce) {
		r = sd_bus_emit_interfaces_added(bus, dd->path, CD_DBUS_DEVICE_INTERFACE, NULL);
		if (r < 0)
			log_debug_errno(r, "Failed to emit InterfacesAdded for %s: %m, ignoring",
					dd->path);
	}
	return 0;
}

static struct dbus_device *device_free(struct dbus_device *dd)
{
	if (!dd)
		return NULL;
	free(dd->path);
	free(dd->id);
	free(dd->name);
	free(dd->transport);
	free(dd);
	return NULL;
}

static struct dbus_device *device_new(struct cd_dbus *d, const struct cd_front_device *v)
{
	struct dbus_device *dd, **tail;

	dd = calloc(1, sizeof(*dd));
	if (!dd)
		return NULL;
	*dd = (struct dbus_device){
		.dbus = d,
		.path = cd_dbus_device_path(v->id),
		.id = strdup(v->id),
		.name = strdup(v->name),
		.transport = strdup(v->transport ? v->transport : ""),
		.battery = 255,
	};
	if (!dd->path || !dd->id || !dd->name || !dd->transport)
		return device_free(dd);
	for (tail = &d->devices; *tail; tail = &(*tail)->next)
		;
	*tail = dd;
	device_set(dd, v);
	dd->dirty = 0; /* new: InterfacesAdded carries every value */
	return dd;
}

/* Signals. */

static void log_signal_error(int r, const char *member)
{
	if (r < 0)
		log_debug_errno(r, "Failed to emit %s: %m, ignoring", member);
}

static void emit_heart_rate(struct cd_dbus *d, const struct cd_event *ev)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	sd_bus *bus = live_bus(d);
	int r;

	if (!bus)
		return;
	r = sd_bus_message_new_signal(bus, &m, CD_DBUS_PATH, CD_DBUS_INTERFACE, "HeartRate");
	if (r >= 0)
		r = sd_bus_message_append(m, "sqy", ev->device, (uint16_t)lround(ev->bpm),
					  (uint8_t)ev->zone);
	if (r >= 0)
		r = sd_bus_message_append_array(m, 'd', ev->rr_ms, ev->n_rr * sizeof(double));
	if (r >= 0)
		r = sd_bus_send(bus, m, NULL);
	log_signal_error(r, "HeartRate");
}

static int append_entry(sd_bus_message *m, const char *key, const char *type, ...)
{
	va_list ap;
	int r;

	r = sd_bus_message_open_container(m, 'e', "sv");
	if (r < 0)
		return r;
	r = sd_bus_message_append_basic(m, 's', key);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(m, 'v', type);
	if (r < 0)
		return r;
	va_start(ap, type);
	r = sd_bus_message_appendv(m, type, ap);
	va_end(ap);
	if (r < 0)
		return r;
	r = sd_bus_message_close_container(m);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

/* A number at path (NULL-terminated keys) of a session object; NAN (no figure yet) is 0 on the bus. */
static double json_number(const cJSON *o, const char *const *path)
{
	for (; *path && o; path++)
		o = cJSON_GetObjectItemCaseSensitive(o, *path);
	return cJSON_IsNumber(o) && isfinite(o->valuedouble) ? o->valuedouble : 0.0;
}

static const char *json_string(const cJSON *o, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return v ? v : "";
}

static uint64_t json_time_us(const cJSON *o, const char *key)
{
	uint64_t us = 0;

	if (cd_http_parse_time(json_string(o, key), &us) < 0)
		return 0;
	return us;
}

/*
 * The summary of SessionEnded: the headline figures of the session object
 * (DESIGN §4) that GetSession(id) and GET /sessions/{id} return, with
 * typed values — read from that same object, so the bus and HTTP never
 * disagree.
 */
static int append_summary(sd_bus_message *m, const cJSON *o)
{
	static const struct {
		const char *key;
		const char *path[3];
	} numbers[] = {
		{ "duration_s", { "duration_s" } },
		{ "active_s", { "active_s" } },
		{ "gap_s", { "gap_s" } },
		{ "avg_bpm", { "heart_rate", "avg" } },
		{ "min_bpm", { "heart_rate", "min" } },
		{ "max_bpm", { "heart_rate", "max" } },
		{ "mvpa_s", { "dose", "mvpa_s" } },
		{ "ecb_s", { "dose", "ecb_s" } },
		{ "trimp_edwards", { "load", "trimp_edwards" } },
		{ "trimp_banister", { "load", "trimp_banister" } },
		{ "rmssd_ms", { "hrv", "rmssd_ms" } },
	};
	const cJSON *zones = cJSON_GetObjectItemCaseSensitive(o, "zones"), *z;
	const cJSON *dev = cJSON_GetObjectItemCaseSensitive(o, "device");
	uint64_t started = json_time_us(o, "started_at"), ended = json_time_us(o, "ended_at");
	double zone_s[6] = { 0 };
	size_t nz = 0;
	int r;

	cJSON_ArrayForEach(z, zones)
	{
		if (nz < ELEMENTSOF(zone_s))
			zone_s[nz++] = json_number(z, (const char *const[]){ "s", NULL });
	}
	r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	if ((r = append_entry(m, "id", "t", (uint64_t)json_number(o, (const char *const[]){ "id", NULL }))) < 0 ||
	    (r = append_entry(m, "device", "s", json_string(dev, "id"))) < 0 ||
	    (r = append_entry(m, "kind", "s", json_string(o, "kind"))) < 0 ||
	    (r = append_entry(m, "started_at", "s", json_string(o, "started_at"))) < 0 ||
	    (r = append_entry(m, "ended_at", "s", *json_string(o, "ended_at") ? json_string(o, "ended_at")
									       : json_string(o, "started_at"))) < 0 ||
	    (r = append_entry(m, "started_at_us", "t", started)) < 0 ||
	    (r = append_entry(m, "ended_at_us", "t", ended ? ended : started)) < 0 ||
	    (r = append_entry(m, "samples", "t",
			      (uint64_t)json_number(o, (const char *const[]){ "samples", NULL }))) < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(numbers); i++) {
		r = append_entry(m, numbers[i].key, "d", json_number(o, numbers[i].path));
		if (r < 0)
			return r;
	}

	r = sd_bus_message_open_container(m, 'e', "sv");
	if (r >= 0)
		r = sd_bus_message_append_basic(m, 's', "zones_s");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'v', "ad");
	if (r >= 0)
		r = sd_bus_message_append_array(m, 'd', zone_s, sizeof(zone_s));
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(m);
}

static void emit_session_ended(struct cd_dbus *d, uint64_t id)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;
	sd_bus *bus = live_bus(d);
	int r;

	if (!bus)
		return;
	r = d->front.ops->session ? d->front.ops->session(d->front.userdata, id, &o) : -ENOENT;
	if (r >= 0)
		r = sd_bus_message_new_signal(bus, &m, CD_DBUS_PATH, CD_DBUS_INTERFACE,
					      "SessionEnded");
	if (r >= 0)
		r = sd_bus_message_append(m, "t", id);
	if (r >= 0)
		r = append_summary(m, o);
	if (r >= 0)
		r = sd_bus_send(bus, m, NULL);
	log_signal_error(r, "SessionEnded");
}

static void emit_connected(struct cd_dbus *d, struct dbus_device *dd)
{
	sd_bus *bus = live_bus(d);

	if (!bus)
		return;
	if (dd->connected)
		log_signal_error(sd_bus_emit_signal(bus, CD_DBUS_PATH, CD_DBUS_INTERFACE,
						    "DeviceConnected", "sss", dd->id, dd->name,
						    dd->transport),
				 "DeviceConnected");
	else
		log_signal_error(sd_bus_emit_signal(bus, CD_DBUS_PATH, CD_DBUS_INTERFACE,
						    "DeviceDisconnected", "s", dd->id),
				 "DeviceDisconnected");
}

/* The contract's events (api/events.h). */

/* The object of ev's strap, made (and announced) on its first event. */
static struct dbus_device *device_of(struct cd_dbus *d, const char *id)
{
	struct dbus_device *dd = find_device(d, id);
	struct cd_front_device v;

	if (dd)
		return dd;
	if (!d->front.ops->device || d->front.ops->device(d->front.userdata, id, &v) < 0)
		return NULL;
	dd = device_new(d, &v);
	if (!dd) {
		log_oom();
		return NULL;
	}
	device_register(live_bus(d), dd, true);
	if (dd->connected)
		emit_connected(d, dd);
	return dd;
}

static void on_event(const struct cd_event_record *rec, void *userdata)
{
	struct cd_dbus *d = userdata;
	const struct cd_event *ev = rec->event;
	struct dbus_device *dd = ev && ev->device ? device_of(d, ev->device) : NULL;
	sd_bus *bus = live_bus(d);
	int was_connected;

	if (!dd)
		return;
	switch (ev->type) {
	case CD_EVENT_DEVICE:
	case CD_EVENT_HR:
		if (ev->type == CD_EVENT_HR)
			emit_heart_rate(d, ev);
		was_connected = dd->connected;
		device_refresh(dd);
		if (dd->connected != was_connected)
			emit_connected(d, dd);
		break;
	case CD_EVENT_SESSION:
		device_refresh(dd);
		if (!ev->active)
			emit_session_ended(d, ev->session);
		else if (bus)
			log_signal_error(sd_bus_emit_signal(bus, CD_DBUS_PATH, CD_DBUS_INTERFACE,
							    "SessionStarted", "ts", ev->session,
							    dd->id),
					 "SessionStarted");
		break;
	case CD_EVENT_MILESTONE:
		if (bus)
			log_signal_error(sd_bus_emit_signal(bus, CD_DBUS_PATH, CD_DBUS_INTERFACE,
							    "MilestoneReached", "ts", ev->session,
							    ev->milestone),
					 "MilestoneReached");
		break;
	case CD_EVENT_ZONE:
		if (bus && ev->old_zone != ev->new_zone)
			log_signal_error(sd_bus_emit_signal(bus, CD_DBUS_PATH, CD_DBUS_INTERFACE,
							    "ZoneChanged", "syy", dd->id,
							    (uint8_t)ev->old_zone,
							    (uint8_t)ev->new_zone),
					 "ZoneChanged");
		break;
	case _CD_EVENT_MAX:
		break;
	}
	root_refresh(d);
}

/* Methods: input first, then the contract; every failure a proper D-Bus error. */

/* Device ids are short printable ASCII (DESIGN §6); anything else is a bad argument. */
static bool device_arg_ok(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || n >= 256)
			return false;
	return true;
}

/* Session ids are SQLite integers: 1 .. 2^63−1 (0 means "current"). */
static bool session_arg_ok(uint64_t id)
{
	return id <= (uint64_t)INT64_MAX;
}

/*
 * Who calls: the sender's uid for the log.  on_bus_message() has already
 * refused a caller without the manage right (api/dbus-auth.h), so one that
 * reaches a method may manage.
 */
static struct cd_caller dbus_caller(sd_bus_message *m)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	struct cd_caller who = { .via = "D-Bus", .uid = -1, .may_manage = true };
	uid_t uid;

	if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds) >= 0 &&
	    sd_bus_creds_get_euid(creds, &uid) >= 0)
		who.uid = uid;
	return who;
}

static int method_start_session(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct cd_dbus *d = userdata;
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;
	struct cd_caller who;
	const char *device;
	int r;

	r = sd_bus_message_read(m, "s", &device);
	if (r < 0)
		return r;
	if (!device_arg_ok(device))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid device id: expected printable ASCII without "
					 "spaces, at most 256 characters, or \"\" for the primary "
					 "strap.");
	who = dbus_caller(m);
	r = d->front.ops->start ? d->front.ops->start(d->front.userdata, &who,
						       *device ? device : NULL, NULL, &o)
				: -EOPNOTSUPP;
	if (r == -ENOENT)
		return *device ? sd_bus_error_setf(error, CD_DBUS_ERROR_NO_SUCH_DEVICE,
						   "No device '%s'.", device)
			       : sd_bus_error_set(error, CD_DBUS_ERROR_NO_SUCH_DEVICE,
						  "No strap has been seen yet.");
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot start a session: %m");
	return sd_bus_reply_method_return(m, "t",
					  (uint64_t)json_number(o, (const char *const[]){ "id", NULL }));
}

static int method_stop_session(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct cd_dbus *d = userdata;
	struct cd_caller who;
	uint64_t id;
	int r;

	r = sd_bus_message_read(m, "t", &id);
	if (r < 0)
		return r;
	if (!session_arg_ok(id))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid session id %" PRIu64 ": ids are below 2^63.", id);
	who = dbus_caller(m);
	r = d->front.ops->stop ? d->front.ops->stop(d->front.userdata, &who, NULL, id, NULL)
			       : -EOPNOTSUPP;
	if (r == -ESRCH)
		return id == 0 ? sd_bus_error_set(error, CD_DBUS_ERROR_NOT_ACTIVE,
						  "No session is active.")
			       : sd_bus_error_setf(error, CD_DBUS_ERROR_NOT_ACTIVE,
						   "Session %" PRIu64 " has already ended.", id);
	if (r == -ENOENT)
		return sd_bus_error_setf(error, CD_DBUS_ERROR_NO_SUCH_SESSION,
					 "No session %" PRIu64 ".", id);
	if (r < 0)
		return id == 0 ? sd_bus_error_set_errnof(error, r, "Cannot stop the session: %m")
			       : sd_bus_error_set_errnof(error, r,
							 "Cannot stop session %" PRIu64 ": %m", id);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_get_session(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct cd_dbus *d = userdata;
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;
	_cleanup_free_ char *text = NULL;
	uint64_t id;
	int r;

	r = sd_bus_message_read(m, "t", &id);
	if (r < 0)
		return r;
	if (!session_arg_ok(id))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Invalid session id %" PRIu64 ": ids are below 2^63.", id);
	r = d->front.ops->session ? d->front.ops->session(d->front.userdata, id, &o) : -ENOENT;
	if (r == -ENOENT)
		return id == 0 ? sd_bus_error_set(error, CD_DBUS_ERROR_NO_SUCH_SESSION,
						  "There has never been a session.")
			       : sd_bus_error_setf(error, CD_DBUS_ERROR_NO_SUCH_SESSION,
						   "No session %" PRIu64 ".", id);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot read session %" PRIu64 ": %m", id);
	text = cJSON_PrintUnformatted(o);
	if (!text)
		return -ENOMEM;
	return sd_bus_reply_method_return(m, "s", text);
}

/* The connection. */

static void bus_drop(struct cd_dbus *d)
{
	if (!d->bus)
		return;
	sd_bus_detach_event(d->bus);
	d->bus = sd_bus_flush_close_unref(d->bus);
	d->bus_lost = false;
}

static void arm_retry(struct cd_dbus *d)
{
	uint64_t now;

	if (sd_event_now(d->event, CLOCK_MONOTONIC, &now) < 0)
		return;
	sd_event_source_set_time(d->retry, now + CD_DBUS_RETRY_S * USEC_PER_SEC);
	sd_event_source_set_enabled(d->retry, SD_EVENT_ONESHOT);
}

static const char *bus_label(const struct cd_dbus *d)
{
	return d->bus_label;
}

static int on_bus_message(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct cd_dbus *d = userdata;

	if (cd_dbus_auth_filter(d->auth, m) > 0)
		return 1; /* answered AccessDenied */
	if (!sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected"))
		return 0;
	/* Not freed here: we are inside its dispatch.  The retry timer drops it. */
	d->bus_lost = true;
	log_warning("Lost the connection to %s; the D-Bus service is off, HTTP keeps working; "
		    "reconnecting every %d s.",
		    bus_label(d), CD_DBUS_RETRY_S);
	d->complained = true;
	arm_retry(d);
	return 0;
}

static int bus_open(struct cd_dbus *d, sd_bus **ret)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	if (strcmp(d->bus_spec, "system") == 0)
		r = sd_bus_open_system_with_description(&bus, "cardiod-service");
	else if (strcmp(d->bus_spec, "session") == 0)
		r = sd_bus_open_user_with_description(&bus, "cardiod-service");
	else {
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, d->bus_spec);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, true);
		if (r >= 0)
			r = sd_bus_set_description(bus, "cardiod-service");
		if (r >= 0)
			r = sd_bus_start(bus);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(bus);
	return 0;
}

/*
 * Connect, publish every object, own the name.  Returns 0, -EEXIST when
 * another process owns the name, or another negative errno (retry).
 */
static int bus_connect(struct cd_dbus *d)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	r = bus_open(d, &bus);
	if (r < 0)
		return r;
	/* A lost bus must not end the daemon's loop: HTTP keeps working. */
	r = sd_bus_set_exit_on_disconnect(bus, false);
	if (r < 0)
		return r;
	/*
	 * Nor may the loop's end close it: the daemon closes its sessions after
	 * the loop, and their SessionEnded signals go out in cd_dbus_free().
	 */
	r = sd_bus_set_close_on_exit(bus, false);
	if (r < 0)
		return r;
	r = sd_bus_attach_event(bus, d->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return r;
	r = sd_bus_add_filter(bus, NULL, on_bus_message, d);
	if (r < 0)
		return r;
	r = sd_bus_add_object_vtable(bus, NULL, CD_DBUS_PATH, CD_DBUS_INTERFACE, root_vtable, d);
	if (r < 0)
		return r;
	r = sd_bus_add_object_manager(bus, NULL, CD_DBUS_PATH);
	if (r < 0)
		return r;

	for (struct dbus_device *dd = d->devices; dd; dd = dd->next) {
		r = device_register(bus, dd, false);
		if (r < 0)
			return r;
	}

	/* No queueing, no replacement: a second cardiod must fail, not wait. */
	r = sd_bus_request_name(bus, CD_DBUS_NAME, 0);
	if (r < 0)
		return r;
	d->bus = TAKE_PTR(bus);
	d->bus_lost = false;
	return 0;
}

static void log_connected(struct cd_dbus *d)
{
	if (d->complained)
		log_info("Connected to %s again; owning %s.", bus_label(d), CD_DBUS_NAME);
	else
		log_info("D-Bus service %s on %s.", CD_DBUS_NAME, bus_label(d));
	d->complained = false;
}

static int log_name_taken(struct cd_dbus *d)
{
	return log_error_errno(EEXIST, "%s is already owned on %s: another cardiod is "
			       "running. Stop it, or choose another bus with --bus.",
			       CD_DBUS_NAME, bus_label(d));
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cd_dbus *d = userdata;
	int r;

	bus_drop(d);
	r = bus_connect(d);
	if (r == -EEXIST) {
		log_name_taken(d);
		return sd_event_exit(d->event, -EEXIST);
	}
	if (r < 0) {
		log_debug_errno(r, "Still cannot offer the D-Bus service on %s: %m; retrying in %d s.",
				bus_label(d), CD_DBUS_RETRY_S);
		arm_retry(d);
		return 0;
	}
	log_connected(d);
	/* Values may have changed while away: clients re-read them on NameOwnerChanged. */
	for (struct dbus_device *dd = d->devices; dd; dd = dd->next)
		dd->dirty = 0;
	d->root_dirty = 0;
	return 0;
}

static void device_seen(const struct cd_front_device *v, void *ctx)
{
	struct cd_dbus *d = ctx;

	if (!find_device(d, v->id) && !device_new(d, v))
		log_oom();
}

int cd_dbus_new(sd_event *event, const char *bus, const struct cd_front *front,
		const struct cd_dbus_config *config, struct cd_dbus **ret)
{
	_cleanup_(cd_dbus_freep) struct cd_dbus *d = NULL;
	int r;

	if (!event || !bus || !front || !front->ops || !ret)
		return -EINVAL;
	if (strcmp(bus, "none") == 0) {
		log_info("D-Bus service disabled (--bus none).");
		*ret = NULL;
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return log_oom();
	d->event = sd_event_ref(event);
	d->front = *front;
	r = cd_dbus_auth_new(config ? config->manage_group : NULL,
			     config ? config->read_group : NULL, &d->auth);
	if (r < 0)
		return log_oom();
	d->root.device = "";
	d->root.session_state = "idle";
	d->bus_spec = strdup(bus);
	if (!d->bus_spec)
		return log_oom();
	if (strcmp(bus, "system") == 0 || strcmp(bus, "session") == 0)
		r = asprintf(&d->bus_label, "the %s bus", bus);
	else
		r = asprintf(&d->bus_label, "the bus at %s", bus);
	if (r < 0) {
		d->bus_label = NULL;
		return log_oom();
	}

	r = sd_event_add_defer(event, &d->defer, on_defer, d);
	if (r < 0)
		return log_error_errno(r, "Failed to add the D-Bus emission source: %m");
	sd_event_source_set_priority(d->defer, SD_EVENT_PRIORITY_IDLE);
	sd_event_source_set_enabled(d->defer, SD_EVENT_OFF);
	sd_event_source_set_description(d->defer, "dbus-properties-changed");

	r = sd_event_add_time(event, &d->retry, CLOCK_MONOTONIC, UINT64_MAX, 0, on_retry, d);
	if (r < 0)
		return log_error_errno(r, "Failed to add the D-Bus retry timer: %m");
	sd_event_source_set_enabled(d->retry, SD_EVENT_OFF);
	sd_event_source_set_description(d->retry, "dbus-retry");

	/* Straps the sources added already; later ones arrive as events. */
	if (d->front.ops->each_device) {
		r = d->front.ops->each_device(d->front.userdata, device_seen, d);
		if (r < 0)
			return log_error_errno(r, "Failed to list the straps for D-Bus: %m");
	}
	root_refresh(d);
	week_refresh(d);
	d->root_dirty = 0;
	{
		uint64_t now;

		r = sd_event_now(event, CLOCK_MONOTONIC, &now);
		if (r >= 0)
			r = sd_event_add_time(event, &d->week_timer, CLOCK_MONOTONIC,
					      now + CD_DBUS_WEEK_S * 1000000ULL, 1000000, on_week_timer,
					      d);
		if (r < 0)
			return log_error_errno(r, "Failed to add the D-Bus week timer: %m");
		sd_event_source_set_enabled(d->week_timer, SD_EVENT_ON);
		sd_event_source_set_description(d->week_timer, "dbus-week");
	}

	if (d->front.events) {
		d->subscription = cd_events_subscribe(d->front.events, on_event, d);
		if (d->subscription == 0)
			return log_oom();
	}

	r = bus_connect(d);
	if (r == -EEXIST)
		return log_name_taken(d);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0) {
		log_warning_errno(r, "Cannot offer %s on %s: %m. HTTP keeps working; retrying "
				  "every %d s.",
				  CD_DBUS_NAME, bus_label(d), CD_DBUS_RETRY_S);
		d->complained = true;
		arm_retry(d);
	} else
		log_connected(d);

	*ret = TAKE_PTR(d);
	return 0;
}

struct cd_dbus *cd_dbus_free(struct cd_dbus *d)
{
	if (!d)
		return NULL;
	if (d->subscription)
		cd_events_unsubscribe(d->front.events, d->subscription);
	emit_pending(d);
	bus_drop(d); /* flushes queued signals (SessionEnded at shutdown); closing frees the name */
	sd_event_source_disable_unref(d->defer);
	sd_event_source_disable_unref(d->retry);
	sd_event_source_disable_unref(d->week_timer);
	while (d->devices) {
		struct dbus_device *dd = d->devices;

		d->devices = dd->next;
		device_free(dd);
	}
	sd_event_unref(d->event);
	free(d->bus_spec);
	free(d->bus_label);
	cd_dbus_auth_free(d->auth);
	free(d);
	return NULL;
}
