/* SPDX-License-Identifier: MIT */
/*
 * The live event feed every front end can follow (DESIGN §9.1, §9.2): a
 * small, transport-neutral event type, a hub that numbers events (ids
 * increase by one per event, across all types), keeps the last ones in a
 * ring for resumption, and fans them out to subscribers.
 *
 * api/ never includes daemon/ headers: the daemon translates its monitor's
 * events into struct cd_event and publishes them here
 * (daemon/front-events.c), and answers snapshot requests (the state a new
 * follower needs: every known strap, every active session).  The hub
 * does no I/O and reads no clock; SSE (api/http-events.c) is one consumer,
 * MQTT or Prometheus can be others.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CD_EVENTS_RING_DEFAULT 1024u /* DESIGN §9.2: at least the last 1024 events */

enum cd_event_type {
	CD_EVENT_HR,        /* every valid sample */
	CD_EVENT_ZONE,      /* the zone of a device changed */
	CD_EVENT_SESSION,   /* a session started or ended */
	CD_EVENT_MILESTONE, /* mvpa_20, mvpa_40, duration_60 */
	CD_EVENT_DEVICE,    /* connected, disconnected, stale, battery */
	_CD_EVENT_MAX,
};

/* The SSE event name: "hr", "zone", "session", "milestone", "device". */
const char *cd_event_type_to_string(enum cd_event_type t);

/*
 * One event; the pointers are borrowed for the duration of the call.
 * Fields not used by a type are ignored.
 */
struct cd_event {
	enum cd_event_type type;
	const char *device;  /* device id (every type) */
	uint64_t session;    /* session id, 0 = none (JSON null) */
	/* HR */
	uint64_t t_us;       /* realtime of the sample, µs since the epoch */
	double bpm;
	int zone;            /* 0..5 */
	const double *rr_ms;
	size_t n_rr;
	/* ZONE */
	int old_zone, new_zone;
	/* SESSION */
	bool active;         /* "active" or "ended" */
	/* MILESTONE */
	const char *milestone; /* "mvpa_20", … */
	/* DEVICE */
	const char *name;
	const char *transport; /* "ble", "ant", "sim", "replay" */
	bool connected;
	bool stale;
	int battery_pct;     /* −1 unknown (null) */
};

/*
 * A published event as followers see it: its id (≥ 1; 0 for snapshot
 * events, which are not part of the sequence) and its SSE text, complete
 * with the blank line that ends it ("id: N\nevent: T\ndata: {…}\n\n").
 * data/data_len is the JSON alone, inside text.
 */
struct cd_events_block; /* api/events.c: where the record's strings live */

struct cd_event_record {
	uint64_t id;
	enum cd_event_type type;
	const char *device;
	const char *text;
	size_t len;
	const char *data;
	size_t data_len;
	uint64_t offset; /* bytes of SSE text published before this one (lag accounting) */
	/*
	 * The event itself, for subscribers that want fields rather than
	 * text (D-Bus): set only while subscribers are called, NULL after.
	 */
	const struct cd_event *event;
	struct cd_events_block *block; /* private to api/events.c */
};

struct cd_events;

/* ring_size 0: CD_EVENTS_RING_DEFAULT.  0 or -ENOMEM. */
int cd_events_new(size_t ring_size, struct cd_events **ret);
struct cd_events *cd_events_free(struct cd_events *e);
static inline void cd_events_freep(struct cd_events **e)
{
	if (*e)
		cd_events_free(*e);
}

/*
 * Number, format and keep ev, then call every subscriber with the record.
 * Returns the id, or 0 on OOM (the event is then lost for everyone, and
 * the sequence is not advanced).
 */
uint64_t cd_events_publish(struct cd_events *e, const struct cd_event *ev);

/* Subscribers: a non-zero id, or 0 on OOM. */
unsigned cd_events_subscribe(struct cd_events *e,
			     void (*callback)(const struct cd_event_record *rec, void *userdata),
			     void *userdata);
void cd_events_unsubscribe(struct cd_events *e, unsigned id);

/* The id the next event will get (the last published + 1). */
uint64_t cd_events_next_id(const struct cd_events *e);
/* Bytes of SSE text published so far. */
uint64_t cd_events_bytes(const struct cd_events *e);
/* The record with this id while it is in the ring, else NULL. */
const struct cd_event_record *cd_events_get(const struct cd_events *e, uint64_t id);

/*
 * The snapshot: the daemon registers a provider that calls emit once per
 * known device (DEVICE) and once per active session (SESSION).
 */
typedef void (*cd_event_emit_fn)(const struct cd_event *ev, void *ctx);
void cd_events_set_snapshot(struct cd_events *e,
			    void (*provider)(void *userdata, cd_event_emit_fn emit, void *ctx),
			    void *userdata);
/*
 * The snapshot as SSE text without id lines, concatenated, for the
 * devices matching device (NULL: all).  0 and *ret (malloc'd, maybe
 * empty; caller frees), or -ENOMEM.
 */
int cd_events_snapshot_text(struct cd_events *e, const char *device, char **ret, size_t *ret_len);

/* The JSON of one event (the data line), malloc'd; NULL on OOM. */
char *cd_event_to_json(const struct cd_event *ev);
