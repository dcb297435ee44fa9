/* SPDX-License-Identifier: MIT */
/*
 * The monitor (DESIGN §2, §3 "Session lifecycle"): the device registry,
 * which profile applies to which strap, one metrics engine per open
 * session, the idle and stale timers, the primary device, and an observer
 * interface in BlueZ's shape that the store and the front ends subscribe
 * to.  Sources only call monitor_device_add() and monitor_feed().
 *
 * Time base (DESIGN §9.7): a session's engine time t is seconds since its
 * start on CLOCK_BOOTTIME, computed from integer microseconds as
 * (double)(at_boot_us − started_boot_us) / 1e6, so the double handed to the
 * engine is the double the store keeps and recomputation is bit-exact.  A
 * wall-clock step (NTP, date -s, a Raspberry Pi without an RTC) moves
 * neither t nor a timer: the wall clock only stamps started_at_us and
 * last_seen_us.  Devices with an explicit time base (replay) bring their
 * own t instead; their session starts at the device's epoch, so t is the
 * file's t_s.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "daemon-config.h"
#include "engine.h"
#include "sample.h"
#include "session-json.h"

enum cd_transport {
	CD_TRANSPORT_BLE,
	CD_TRANSPORT_ANT,
	CD_TRANSPORT_SIM,
	CD_TRANSPORT_REPLAY,
	_CD_TRANSPORT_MAX,
	_CD_TRANSPORT_INVALID = -EINVAL,
};

const char *cd_transport_to_string(enum cd_transport t);
enum cd_transport cd_transport_from_string(const char *s);

struct monitor;
struct monitor_session;

/*
 * What an ANT+ strap tells about itself, for the "ant" object of GET
 * /devices (daemon/ant.c fills it, monitor_device_set_ant() copies it).
 * Plain values, no pointers: a struct copy.  A has_* that is false makes
 * its keys null; so does an empty manufacturer and a battery_v that is
 * not finite.
 */
struct monitor_ant_info {
	uint32_t device_number; /* 20 bits */
	uint8_t device_type;    /* pairing bit cleared */
	uint8_t transmission_type;
	char pages[16];         /* "paged", "legacy", "unknown" (§4.3) */
	bool has_manufacturer;  /* page 2: manufacturer_id, manufacturer, serial_number */
	uint8_t manufacturer_id;
	char manufacturer[32];  /* "": an id we have no name for */
	uint32_t serial_number;
	bool has_product;       /* page 3: model, hw_version, sw_version */
	uint8_t model, hw_version, sw_version;
	bool has_battery;       /* page 7: battery_v, battery_status */
	double battery_v;
	char battery_status[16];
	/* Running values: they move on their own (see monitor_device_set_ant()). */
	bool has_operating_time; /* page 1 */
	uint32_t operating_time_s;
	bool has_rssi;
	int8_t rssi_dbm;
	uint64_t messages, missed_messages, beats, rr_intervals, gap_beats, rx_fail;
};

/* Read-only outside monitor.c. */
struct monitor_device {
	struct monitor *monitor;
	char *id;
	char *name;
	enum cd_transport transport;
	bool connected;
	int battery_pct;         /* −1 unknown */
	enum cd_contact contact; /* of the last sample */
	uint64_t last_seen_us;   /* realtime stamp of the last sample of any kind; 0 never */
	uint64_t last_valid_us;  /* realtime stamp of the last valid sample; 0 never */
	bool stale;              /* no valid sample for stale_after_s */
	/* Source extras for GET /devices (BLE: 0x2A38, reconnections, bad notifications; ANT+: ant). */
	char *body_location;      /* "chest", "wrist"…; NULL unknown */
	unsigned reconnect_count; /* links regained after a loss */
	unsigned malformed_count; /* payloads dropped as malformed */
	bool has_ant;             /* ANT+: "ant" in GET /devices */
	struct monitor_ant_info ant;
	const struct cd_profile *profile;

	struct monitor_session *session; /* open session, or NULL */
	/*
	 * Since cardiod started (GET /metrics, D-Bus): the last valid heart
	 * rate (NAN before one), the valid samples its sessions counted, and
	 * the seconds per zone of its ended sessions.
	 */
	double last_bpm;
	uint64_t samples_counted;
	double ended_zone_s[_CD_ZONE_MAX];
	bool suppressed; /* manually stopped: no auto-open until a start or idle_timeout_s of silence */

	/* Explicit time base (replay): t comes with the sample; no idle close. */
	bool explicit_time;
	uint64_t epoch_us;

	uint64_t last_valid_boot_us; /* CLOCK_BOOTTIME of the last valid sample: stale */
	uint64_t activity_boot_us;   /* ...or of a manual start/stop, if later: idle */
	sd_event_source *timer;      /* stale, then idle (CLOCK_BOOTTIME) */

	struct monitor_device *next; /* monitor::devices */
};

/* Read-only outside monitor.c. */
struct monitor_session {
	uint64_t id;
	struct monitor_device *device;
	char *kind; /* NULL: none */
	uint64_t started_at_us;   /* realtime stamp */
	uint64_t started_boot_us; /* CLOCK_BOOTTIME at the start: the time base of t */
	uint64_t ended_at_us;     /* 0 while active; started_at_us + t of the last valid sample */
	struct cd_engine *engine;
	double t_fed; /* t of the last sample recorded in this session (−inf before) */
	bool active;
};

enum monitor_event_type {
	MONITOR_EVENT_DEVICE_ADDED,
	MONITOR_EVENT_DEVICE_CHANGED, /* connected, battery, contact, name, stale or a source extra */
	MONITOR_EVENT_SAMPLE,         /* every sample; session NULL when none records it */
	MONITOR_EVENT_SESSION_STARTED,
	MONITOR_EVENT_SESSION_ENDED,
	MONITOR_EVENT_MILESTONE,
	MONITOR_EVENT_ZONE_CHANGED,
	_MONITOR_EVENT_MAX,
	_MONITOR_EVENT_INVALID = -EINVAL,
};

struct monitor_event {
	enum monitor_event_type type;
	const struct monitor_device *device;
	const struct monitor_session *session; /* NULL for device events */
	const struct cd_sample *sample;        /* SAMPLE: t in the session's time base */
	uint64_t at_us;                        /* SAMPLE: realtime stamp of the sample */
	bool valid;                            /* SAMPLE: counted by the engine */
	enum cd_milestone milestone;           /* MILESTONE */
	double milestone_at_s;
	enum cd_zone old_zone, new_zone;       /* ZONE_CHANGED */
};

struct monitor_config {
	const struct cd_config *config; /* profiles, engine config, idle_timeout_s; not owned */
	uint64_t first_session_id;      /* ids continue after the store's last */
};

int monitor_new(sd_event *event, const struct monitor_config *config, struct monitor **ret);
struct monitor *monitor_free(struct monitor *m);
static inline void monitor_freep(struct monitor **m)
{
	if (*m)
		monitor_free(*m);
}

/*
 * Observers: callback(event, user_data) for every event; destroy(user_data)
 * when unregistered or when the monitor is freed.  Returns a non-zero id,
 * or 0 on OOM.
 */
unsigned monitor_observer_register(struct monitor *m,
				   void (*callback)(const struct monitor_event *ev, void *user_data),
				   void *user_data, void (*destroy)(void *user_data));
bool monitor_observer_unregister(struct monitor *m, unsigned id);

/* Find or add a device (name may be NULL: the id).  Returns 0 and *ret. */
int monitor_device_add(struct monitor *m, const char *id, const char *name,
		       enum cd_transport transport, struct monitor_device **ret);
struct monitor_device *monitor_device_find(struct monitor *m, const char *id);
struct monitor_device *monitor_devices(struct monitor *m); /* list head; ->next */
void monitor_device_set_connected(struct monitor_device *d, bool connected);
void monitor_device_set_battery(struct monitor_device *d, int pct);
/* Source extras (NULL: unknown); each emits DEVICE_CHANGED when it changes something. */
void monitor_device_set_name(struct monitor_device *d, const char *name);
void monitor_device_set_body_location(struct monitor_device *d, const char *location);
void monitor_device_set_counts(struct monitor_device *d, unsigned reconnects, unsigned malformed);
/*
 * ANT+ facts (a copy of *info), rendered as "ant" in GET /devices.  The
 * rule for DEVICE_CHANGED: emitted when what describes the strap changes
 * (the first call; device number, type, transmission type, pages, the
 * page 2, 3 and 7 facts), never when only the running values do
 * (has_operating_time, operating_time_s, has_rssi, rssi_dbm, messages,
 * missed_messages, beats, rr_intervals, gap_beats, rx_fail): those move
 * with every broadcast, 4 times a second, and are stored silently for the
 * next GET /devices; they are not in any device event.
 */
void monitor_device_set_ant(struct monitor_device *d, const struct monitor_ant_info *info);
/* Explicit time base from now on: session engine time = sample t, started at epoch_us. */
void monitor_device_set_explicit_time(struct monitor_device *d, uint64_t epoch_us);

/*
 * One sample from a source.  at_us is its arrival on CLOCK_BOOTTIME
 * (monitor_boot_us()); s->t is ignored unless the device has an explicit
 * time base.  RR intervals ≤ 0 or not finite are dropped here, before
 * anyone sees or stores them.  Opens a session on the first valid sample
 * (DESIGN §3).  Returns 1 when counted, 0 when dropped, or a negative errno.
 */
int monitor_feed(struct monitor *m, struct monitor_device *d, const struct cd_sample *s,
		 uint64_t at_us);

/*
 * Manual start (idempotent: an active session is returned as is) and stop.
 * device NULL: the primary device, else the most recently seen one.
 * Return 0 and the session, -ENOENT (no such device), -ESRCH (stop: no
 * active session), -ENOMEM.
 */
int monitor_start(struct monitor *m, const char *device, const char *kind,
		  struct monitor_session **ret);
int monitor_stop(struct monitor *m, const char *device, struct monitor_session **ret);

/* Close the open session of d (end of a replay), without suppressing auto-open. */
void monitor_device_close(struct monitor_device *d);
/* Close every open session (shutdown). */
void monitor_close_all(struct monitor *m);

/* The primary device's active session (most recently started), or NULL. */
struct monitor_session *monitor_primary(struct monitor *m);
/* An active session by id, or the last ended one if it has that id; NULL otherwise. */
struct monitor_session *monitor_session_find(struct monitor *m, uint64_t id);
/* The most recently ended session of this run, or NULL. */
struct monitor_session *monitor_last_ended(struct monitor *m);
unsigned monitor_n_active(struct monitor *m);
unsigned monitor_n_devices(struct monitor *m, unsigned *ret_connected);

/* The session object of DESIGN §4 (cd_session_to_json) at now_boot_us (CLOCK_BOOTTIME). */
cJSON *monitor_session_to_json(const struct monitor_session *s, uint64_t now_boot_us);
/*
 * The one rendering of a device (GET /devices): live ones from the
 * monitor; daemon/front.c renders a strap known only to the store through
 * the same function.
 */
cJSON *monitor_device_to_json(const struct monitor_device *d);
cJSON *monitor_devices_to_json(struct monitor *m);

/* A session id for a session recorded elsewhere (import): ids stay unique. */
uint64_t monitor_take_session_id(struct monitor *m);

/* Engine time of at_boot_us in session s: (at_boot_us − started_boot_us) / 1e6, from integers. */
double monitor_session_time(const struct monitor_session *s, uint64_t at_boot_us);
uint64_t monitor_now_us(void);  /* CLOCK_REALTIME: stamps only */
uint64_t monitor_boot_us(void); /* CLOCK_BOOTTIME: every interval */
