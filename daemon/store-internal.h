/* SPDX-License-Identifier: MIT */
/*
 * What store.c lends store-summary.c (per-session figures, import): the
 * connection, its row helpers and this run's sessions not yet committed.
 * Also what the writer (store.c) and the history reader (store-read.c)
 * share: the store's state and the helpers that cross between them.
 * Not for anyone else.
 */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "profile.h"
#include "store.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize)

sqlite3 *store_db(struct store *s);
char *store_profile_to_json(const struct cd_profile *p);
char *store_rr_to_text(const double *rr, size_t n);
int store_errno(int sqlite_rc);
/* A session id was used outside the monitor (import): the next one is past it. */
void store_note_session_id(struct store *s, uint64_t id);

struct store_memory_session {
	uint64_t id;
	const char *device_id;
	uint64_t started_us, ended_us;
	bool ended;
	const char *summary; /* the ended session object, or NULL */
};
/* Each session of this run still held in memory (open, or ended and not committed). */
int store_each_memory_session(struct store *s,
			      int (*cb)(void *ud, const struct store_memory_session *ms), void *ud);

/* store-summary.c, called by store.c. */
#define STORE_FIGURES_SCHEMA                                                                       \
	"CREATE TABLE session_figures ("                                                           \
	"  session_id INTEGER PRIMARY KEY,"                                                        \
	"  started_at_us INTEGER NOT NULL,"                                                        \
	"  device_id TEXT,"                                                                        \
	"  profile TEXT,"                                                                          \
	"  active_s REAL NOT NULL,"                                                                \
	"  moderate_s REAL NOT NULL,"                                                              \
	"  vigorous_s REAL NOT NULL,"                                                              \
	"  mvpa_s REAL NOT NULL,"                                                                  \
	"  ecb_s REAL NOT NULL,"                                                                   \
	"  trimp_edwards REAL NOT NULL,"                                                           \
	"  mvpa_20 INTEGER NOT NULL,"                                                              \
	"  mvpa_40 INTEGER NOT NULL,"                                                              \
	"  duration_60 INTEGER NOT NULL);"                                                         \
	"CREATE INDEX session_figures_started ON session_figures (started_at_us);"

/* Keep the figures of an ended session, from its session object's JSON text. 0 or -errno. */
int store_figures_put(sqlite3 *db, uint64_t id, uint64_t started_us, const char *device_id,
		      const char *summary);
/* Ended sessions without figures (a database from before them): compute them once. */
int store_figures_backfill(struct store *s);

/*
 * store.c and store-read.c: the store itself, this run's queue and sessions,
 * rows of the sessions table, and the samples reader (store-read.c says how
 * it keeps its place).
 */
struct pending_sample {
	struct pending_sample *next; /* store::pending */
	uint64_t session_id;
	double t, bpm, energy_kj;
	enum cd_contact contact;
	size_t n_rr;
	double rr[];
};

/* A session of this run whose row is not yet (fully) committed, or still open. */
struct store_session {
	struct store_session *next; /* store::sessions */
	uint64_t id;
	char *device_id, *device_name, *transport, *kind, *profile;
	struct cd_engine_config engine;
	uint64_t started_us, ended_us;
	char *summary;
	bool ended;
	bool inserted; /* its row is committed */
	bool dirty;    /* ended since the row was committed */
};

struct store {
	sd_event *event;
	sqlite3 *db;
	char *path;
	uint64_t commit_interval_us;
	size_t max_pending;
	sd_event_source *commit_timer;

	struct pending_sample *pending, **pending_tail;
	size_t n_pending;
	uint64_t dropped;
	struct store_session *sessions;
	struct store_device *devices;
	uint64_t next_id;

	bool degraded;
	bool check_failed;		  /* the background integrity check failed: no more writes */
	struct store_check *check; /* running in the background */
	char reason[200];
	unsigned failures;
	uint64_t commits;

	struct monitor *monitor;
	unsigned observer_id;

	struct store_samples *readers; /* open store_samples, detached by store_free() */

	void (*health_changed)(void *userdata);
	void *userdata;
};

/* Row of the sessions table. */
struct session_row {
	uint64_t id;
	char *device_id, *device_name, *transport, *kind, *profile, *summary;
	struct cd_engine_config engine;
	uint64_t started_us, ended_us;
	bool ended;
};

#define ROW_COLUMNS                                                                                \
	"id, device_id, device_name, transport, kind, profile, max_gap_s, window_s, "            \
	"stale_after_s, started_at_us, ended_at_us, summary"

#define READER_PAGE 256

struct store_samples {
	struct store_samples *prev, *next; /* store::readers */
	struct store *store;               /* NULL once the store is gone */
	uint64_t session_id;
	int64_t last_rowid, end_rowid;
	size_t tail;
	bool in_queue, done;
	uint64_t queue_commits;
	size_t from_queue;
	const struct pending_sample *queue_pos;

	/* The page being handed out; rr_ms point into rr (set once it is full). */
	struct cd_sample page[READER_PAGE];
	size_t rr_at[READER_PAGE];
	size_t n, pos;
	double *rr;
	size_t n_rr, rr_cap;
};

/* store.c, for store-read.c. */
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret);
struct store_session *store_find_session(struct store *s, uint64_t id);

/* store-read.c, for store.c (recovery at start-up). */
void store_session_row_done(struct session_row *r);
int store_load_row(struct store *s, sqlite3_stmt *st, struct session_row *row);
/* Recompute a session from its samples: the engine, and its JSON as ended. */
int store_rebuild(struct store *s, const struct session_row *row, struct cd_engine **ret_engine,
		  cJSON **ret_json);
