/* SPDX-License-Identifier: MIT */
/*
 * The front-end contract (DESIGN §9.1): the one way data leaves the daemon.
 *
 * Every front end — HTTP (api/http*.c), SSE (api/http-events.c), D-Bus
 * (api/dbus.c), Prometheus (api/prometheus.c), MQTT (api/mqtt.c) — is
 * handed a struct cd_front and asks it, never the monitor or the store:
 *
 *   queries   session by id, the session list (paged), a session's
 *             samples (an iterator), devices (JSON, or live figures as a
 *             plain struct for per-sample front ends), health, the summary
 *             and this week's figures;
 *   commands  start, stop, import — each carries the caller (struct
 *             cd_caller): the front end says who is asking and what its
 *             own check (token, D-Bus groups) granted, and the daemon
 *             refuses a command the caller may not give (-EPERM) and
 *             names the caller in its log;
 *   events    one subscription: the hub of api/events.h (hr, zone,
 *             session, milestone, device), numbered, with a snapshot.
 *
 * The daemon implements it once, in daemon/front.c: that is where a
 * session id is resolved (the monitor's live sessions first, then the
 * store's history) and where a session or a device is rendered.  api/
 * includes no daemon/ header, so a front end can be unit-tested against
 * fake operations (tests/unit-api/test-http-server.c, test-dbus.c).
 *
 * Everything runs on the daemon's one sd-event loop: the operations are
 * called without locks and must not block for long.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "sample.h"

/* Errors the operations return besides -ENOMEM and -EIO. */
#define CD_FRONT_ENOENT -ENOENT    /* no such session or device */
#define CD_FRONT_EINVAL -EINVAL    /* bad argument */
#define CD_FRONT_ENOTACTIVE -ESRCH /* stop: the session is not active */
#define CD_FRONT_EPERM -EPERM      /* the caller may not give this command */

#define CD_FRONT_DEVICE_MAX 64u  /* longest device id a front end passes on */
#define CD_FRONT_KIND_MAX 32u    /* longest session kind tag */
#define CD_FRONT_PROFILE_MAX 63u /* longest profile name */

/*
 * Who gives a command.  The front end authenticates (HTTP: the bearer
 * token; D-Bus: the sender's uid and groups, api/dbus-auth.h) and says
 * what that granted; the daemon authorises.
 */
struct cd_caller {
	const char *via; /* "http", "dbus", "cli": for the log */
	int64_t uid;     /* the D-Bus sender's uid; −1 when unknown (HTTP) */
	bool may_manage; /* start, stop and import allowed */
};

/* GET /summary?by=&from=&to=&profile= (DESIGN §9.4) */
struct cd_front_summary_query {
	int by;                 /* enum cd_summary_by (lib/dose.h); default week */
	bool has_from, has_to;
	int64_t from, to;       /* local day numbers (YYYY-MM-DD), from ≤ to */
	char profile[CD_FRONT_PROFILE_MAX + 1]; /* "" = every profile */
};

/* POST /sessions/import?started_at=&device=&kind=&profile= (DESIGN §9.5) */
struct cd_front_import_query {
	int format; /* enum cd_import_format (lib/import.h) */
	bool has_started_at;
	uint64_t started_at_us;
	char device[CD_FRONT_DEVICE_MAX + 1]; /* "" = not given */
	char kind[CD_FRONT_KIND_MAX + 1];
	char profile[CD_FRONT_PROFILE_MAX + 1];
};

/*
 * A session's samples, handed out one at a time while an answer is being
 * sent: a long session (345,600 samples in 24 h at 4 Hz) is never built
 * in memory.  The daemon embeds this at the start of its own reader.
 */
struct cd_front_samples {
	/*
	 * 1 and *ret (ret->rr_ms valid until the next call), 0 after the
	 * last one, or a negative errno (the reader is then done).
	 */
	int (*next)(struct cd_front_samples *it, struct cd_sample *ret);
	/* Once, when the reader is no longer wanted (possibly before the end). */
	void (*free)(struct cd_front_samples *it);
};

/*
 * A live strap as a plain struct, for front ends that follow every sample
 * (D-Bus properties, Prometheus): no JSON, no allocation.  The strings are
 * borrowed: valid until control returns to the event loop.
 */
struct cd_front_device {
	const char *id;
	const char *name;      /* the id when the strap has no name */
	const char *transport; /* "ble", "ant", "sim", "replay" */
	bool connected;
	bool stale;            /* no valid sample for stale_after_s */
	int battery_pct;       /* −1 unknown */
	uint64_t last_seen_us; /* realtime of the last sample of any kind; 0 never */
	uint64_t last_valid_us; /* ... of the last valid one; 0 never */
	double bpm;            /* the last valid heart rate; NAN never */
	int zone;              /* zone of bpm under the strap's profile, 0..5 */
	/* Since cardiod started: valid samples its sessions counted, seconds per zone. */
	uint64_t samples_total;
	double zone_s_total[6];
	/* Its active session, if any. */
	uint64_t session_id;   /* 0 none */
	double active_s, mvpa_s, ecb_s; /* of that session; 0 without one */
};

/* This week (DESIGN §9.4), active sessions included. */
struct cd_front_week {
	double today_min, week_min, goal_min;
	unsigned week_sessions;
};

struct cd_front_ops {
	/* Queries. */

	/*
	 * The session object of DESIGN §4.  id 0: the active session of the
	 * primary device, else the latest ended one.  0 and *ret (caller
	 * frees), or -ENOENT / -ENOMEM / -EIO.
	 */
	int (*session)(void *userdata, uint64_t id, cJSON **ret);
	/*
	 * Summaries (the one short form of a session), newest first, of at
	 * most limit sessions with started_at < before (µs since the epoch,
	 * 0 = no bound) and started_at ≥ since (0 = no bound).  *ret is a
	 * JSON array; *ret_next is the before value of the next page, 0 when
	 * there is none.
	 */
	int (*sessions)(void *userdata, unsigned limit, uint64_t before_us, uint64_t since_us,
			cJSON **ret, uint64_t *ret_next);
	/*
	 * A reader of session id's samples, in order, as of now.  0 and *ret
	 * (free it with its free), or -ENOENT, -ENOMEM, -EIO.
	 */
	int (*samples)(void *userdata, uint64_t id, struct cd_front_samples **ret);
	/* GET /devices: every strap seen, live ones first, then stored ones. */
	int (*devices)(void *userdata, cJSON **ret);
	/*
	 * Live straps as plain structs.  each_device calls fn once per strap
	 * cardiod has heard since it started, in the order they appeared,
	 * and returns 0 (or a negative errno when it cannot list them).
	 * device: one by id (0, or -ENOENT).  primary: the strap the root of
	 * a single-strap view follows — the one with the most recently
	 * started active session, else the most recently seen (0, or -ENOENT
	 * before any strap).
	 */
	int (*each_device)(void *userdata, void (*fn)(const struct cd_front_device *d, void *ctx),
			   void *ctx);
	int (*device)(void *userdata, const char *id, struct cd_front_device *ret);
	int (*primary)(void *userdata, struct cd_front_device *ret);
	/* {"status":"ok"|"degraded", "reason"?: …, …} */
	int (*health)(void *userdata, cJSON **ret);
	/* GET /summary: the whole answer; -EINVAL (from after to), -E2BIG (too many periods). */
	int (*summary)(void *userdata, const struct cd_front_summary_query *q, cJSON **ret);
	/* This week's figures (cheap enough for a 10 s timer). */
	int (*week)(void *userdata, struct cd_front_week *ret);

	/* Commands: -EPERM when who may not manage. */

	/*
	 * Manual start/stop (DESIGN §3 lifecycle).  device NULL = the primary
	 * (or only) device; kind NULL = none.  start returns the session
	 * object (idempotent when one is active).  stop: session 0 stops
	 * device's (NULL: the primary's) active session, else that session
	 * (-ENOENT none, -ESRCH already ended); returns the closed session.
	 */
	int (*start)(void *userdata, const struct cd_caller *who, const char *device,
		     const char *kind, cJSON **ret);
	int (*stop)(void *userdata, const struct cd_caller *who, const char *device,
		    uint64_t session, cJSON **ret);
	/*
	 * POST /sessions/import: body[0..len) in q->format.  0 and
	 * {"sessions": [...]}, or with a one-line reason in err: -EBADMSG /
	 * -EINVAL (bad file), -EEXIST (overlap), -EOPNOTSUPP (format).
	 */
	int (*import)(void *userdata, const struct cd_caller *who,
		      const struct cd_front_import_query *q, const char *body, size_t len,
		      cJSON **ret, char *err, size_t errlen);
};

/*
 * What a front end is given: the operations, their userdata, and the
 * event hub to follow (not owned; NULL: no live events).
 */
struct cd_front {
	const struct cd_front_ops *ops;
	void *userdata;
	struct cd_events *events;
};
