/* SPDX-License-Identifier: MIT */
/*
 * What store.c lends store-summary.c (per-session figures, import): the
 * connection, its row helpers and this run's sessions not yet committed.
 * Not for anyone else.
 */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "profile.h"
#include "store.h"

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
