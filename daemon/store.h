/* SPDX-License-Identifier: MIT */
/*
 * The session log (SQLite, WAL).  The store is a monitor observer: session
 * starts, samples and ends are queued in memory and committed in one
 * transaction at least every commit_interval_s (a one-shot timer, armed
 * only while something is queued).  A failed commit (disk full, read-only,
 * I/O error) is rolled back, the queue kept (bounded) and retried later;
 * the store is then "degraded" and says why, while live data keeps flowing.
 *
 * Opening never harms an existing file: a file that is not an SQLite
 * database, cannot be opened, has a newer schema or fails PRAGMA
 * quick_check is left untouched and store_open() fails, so the daemon
 * refuses to start rather than lose data.
 *
 * The store also answers the history half of the HTTP API (sessions,
 * samples): an ended session is rebuilt by feeding its stored samples to
 * the engine (or read from its cached summary), so it shows the same
 * figures as it did live.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "monitor.h"

struct store;

struct store_config {
	const char *path;
	double commit_interval_s;
	size_t max_pending_samples; /* 0: default (65536) */
	/* The largest file (MiB) fully checked before store_open() returns; a larger one
	 * is checked in the background.  0: the default, 64; negative: always background. */
	double startup_check_max_mb;
	/* Called when store_degraded() changes; may be NULL. */
	void (*health_changed)(void *userdata);
	void *userdata;
};

/*
 * Open (creating the file and its folder if missing), check, migrate and
 * recover: unclosed sessions are closed at their last stored sample with
 * their summary recomputed.  On failure logs why and returns a negative
 * errno; the file is left as it was.
 */
int store_open(sd_event *event, const struct store_config *config, struct store **ret);
/* Frees without flushing: call store_flush() first. */
struct store *store_free(struct store *s);
static inline void store_freep(struct store **s)
{
	if (*s)
		store_free(*s);
}

/* The id the next session should get: one past the largest stored. */
uint64_t store_next_session_id(struct store *s);

/* Subscribe to the monitor's events (and use it for live sessions). */
int store_attach(struct store *s, struct monitor *m);
void store_detach(struct store *s);

/* Commit what is queued now.  0, or the SQLite failure as -EIO/-ENOSPC/-EROFS. */
int store_flush(struct store *s);

/* Health: degraded with a reason after a failed write, until one succeeds. */
bool store_degraded(const struct store *s, const char **ret_reason);
size_t store_pending_samples(const struct store *s);
/* Adds "store": {...} to a health object. */
int store_health_json(const struct store *s, cJSON *health);

/*
 * History: the session object of a session the store keeps, queued or in
 * the file (an ended one from its stored summary, without re-feeding an
 * engine).  id 0: the most recently ended session.  Live sessions are the
 * monitor's: daemon/front.c asks it first.  0, -ENOENT, -ENOMEM, -EIO.
 */
int store_session_json(struct store *s, uint64_t id, cJSON **ret);
/*
 * One page of GET /sessions: the ids, newest first (started_at, then id),
 * of at most limit sessions (default 20, at most 1000) with started_at <
 * before_us (0: no bound) and ≥ since_us; *ret_ids is malloc'd (caller
 * frees).  *ret_next: the before of the next page, 0 when none.  Pages
 * never split sessions that share a started_at.
 */
int store_sessions_page(struct store *s, unsigned limit, uint64_t before_us, uint64_t since_us,
			uint64_t **ret_ids, size_t *ret_n, uint64_t *ret_next);

/*
 * A session's samples, read a page at a time (GET /sessions/{id}/samples:
 * a 24 h session at 4 Hz is 345,600 samples).  The reader answers with
 * the session as it was when it was opened: its committed samples in
 * order, then those still queued for it.  It holds no SQLite statement
 * between calls (each page is one keyset query, rowid > the last one
 * read), so commits, the event loop and other readers run on meanwhile;
 * a commit in between, which moves the queue into the file, is followed.
 * Samples arriving after the open are not included.
 *
 * open: 0, -ENOENT (no such session), -ENOMEM, -EIO.  next: 1 and *ret
 * (ret->rr_ms points into the reader, valid until the next call), 0 at
 * the end, or a negative errno: -ESHUTDOWN once the store is gone
 * (store_free() detaches the readers still open; free them all the same).
 */
struct store_samples;
int store_samples_open(struct store *s, uint64_t id, struct store_samples **ret);
int store_samples_next(struct store_samples *r, struct cd_sample *ret);
struct store_samples *store_samples_free(struct store_samples *r);
static inline void store_samples_freep(struct store_samples **r)
{
	if (*r)
		store_samples_free(*r);
}
/* Every strap the file knows (table devices), by id; fn's error stops the walk. */
struct store_known_device {
	const char *id;
	const char *name;      /* NULL unknown */
	const char *transport; /* NULL unknown */
	uint64_t last_seen_us; /* 0 never */
};
int store_each_device(struct store *s, int (*fn)(const struct store_known_device *d, void *ctx),
		      void *ctx);
