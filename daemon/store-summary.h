/* SPDX-License-Identifier: MIT */
/*
 * Per-session figures for GET /summary (DESIGN §9.4) and the import of
 * sessions recorded elsewhere (§9.5), on top of the store.
 *
 * Every ended session has a row of figures (session_figures), written in
 * the same transaction that records it as ended (live, recovered or
 * imported), so a summary reads one short row per session and never its
 * samples.  Sessions of this run that ended but are not committed yet are
 * read from memory.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "sample.h"
#include "store.h"
#include "dose.h"

struct store_figures_row {
	uint64_t id, started_us;
	const char *device_id; /* may be NULL */
	const char *profile;   /* may be NULL */
	struct cd_figures f;
};

/*
 * Each ended session with from_us ≤ started_at < to_us (and of that
 * profile, unless NULL): the file's, then this run's not yet committed.
 * Active sessions are the monitor's.  0 or a negative errno (the callback's).
 */
int store_figures_each(struct store *s, uint64_t from_us, uint64_t to_us, const char *profile,
		       int (*cb)(void *ud, const struct store_figures_row *row), void *ud);

/*
 * Import (one SQLite transaction): begin, then per session: samples as
 * they come, then its row; end commits (or rolls everything back).
 */
struct store_import;
int store_import_begin(struct store *s, struct store_import **ret);
int store_import_sample(struct store_import *im, uint64_t session_id, const struct cd_sample *x);
/* 1 when a session of device_id overlaps [start_us, end_us] (in the file or this run), else 0. */
int store_import_overlaps(struct store_import *im, const char *device_id, uint64_t start_us,
			  uint64_t end_us);
struct store_import_session {
	uint64_t id;
	const char *device_id, *device_name, *transport, *kind;
	const struct cd_profile *profile;
	const struct cd_engine_config *engine;
	uint64_t started_us, ended_us;
	const char *summary; /* the session object, JSON text */
};
int store_import_session(struct store_import *im, const struct store_import_session *x);
/* Commit when commit and nothing failed, else roll back; frees im.  0 or -errno. */
int store_import_end(struct store_import *im, bool commit);
