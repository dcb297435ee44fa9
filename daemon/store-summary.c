/* SPDX-License-Identifier: MIT */
/* Per-session figures and import on the store (store-summary.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "log.h"
#include "store-internal.h"
#include "store-summary.h"


static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret)
{
	return store_errno(sqlite3_prepare_v2(db, sql, -1, ret, NULL));
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_errno(rc);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int store_figures_put(sqlite3 *db, uint64_t id, uint64_t started_us, const char *device_id,
		      const char *summary)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_(cJSON_Deletep) cJSON *j = summary ? cJSON_Parse(summary) : NULL;
	struct cd_figures f;
	const char *profile = NULL;
	int r;

	if (!j || cd_figures_from_session(j, &f, &profile) < 0)
		return -EBADMSG;
	r = prepare(db,
		    "INSERT OR REPLACE INTO session_figures (session_id, started_at_us, device_id, "
		    "profile, active_s, moderate_s, vigorous_s, mvpa_s, ecb_s, trimp_edwards, "
		    "mvpa_20, mvpa_40, duration_60) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)started_us);
	bind_text_or_null(st, 3, device_id);
	bind_text_or_null(st, 4, profile);
	sqlite3_bind_double(st, 5, f.active_s);
	sqlite3_bind_double(st, 6, f.moderate_s);
	sqlite3_bind_double(st, 7, f.vigorous_s);
	sqlite3_bind_double(st, 8, f.mvpa_s);
	sqlite3_bind_double(st, 9, f.ecb_s);
	sqlite3_bind_double(st, 10, f.trimp_edwards);
	sqlite3_bind_int(st, 11, f.milestone[CD_MILESTONE_MVPA_20]);
	sqlite3_bind_int(st, 12, f.milestone[CD_MILESTONE_MVPA_40]);
	sqlite3_bind_int(st, 13, f.milestone[CD_MILESTONE_DURATION_60]);
	return step_done(st);
}

int store_figures_backfill(struct store *s)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	sqlite3 *db = store_db(s);
	unsigned n = 0, failed = 0;
	int r, rc;

	r = prepare(db,
		    "SELECT id, started_at_us, device_id, summary FROM sessions WHERE ended_at_us "
		    "IS NOT NULL AND id NOT IN (SELECT session_id FROM session_figures) ORDER BY id",
		    &st);
	if (r < 0)
		return r;
	r = store_errno(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t started = (uint64_t)sqlite3_column_int64(st, 1);
		const char *device = (const char *)sqlite3_column_text(st, 2);
		const char *summary = (const char *)sqlite3_column_text(st, 3);
		int k = store_figures_put(db, id, started, device, summary);

		if (k == -EBADMSG) {
			/* No usable cached summary: recompute it from the samples, once. */
			_cleanup_(cJSON_Deletep) cJSON *j = NULL;
			_cleanup_free_ char *text = NULL;

			k = store_session_json(s, id, &j);
			if (k >= 0 && !(text = cJSON_PrintUnformatted(j)))
				k = -ENOMEM;
			if (k >= 0)
				k = store_figures_put(db, id, started, device, text);
		}
		if (k == -ENOMEM || k == -ENOSPC || k == -EROFS || k == -EIO) {
			r = k;
			break;
		}
		if (k < 0) {
			log_warning_errno(k, "Cannot compute the figures of session %" PRIu64
					  ": %m; it is left out of summaries.",
					  id);
			failed++;
			continue;
		}
		n++;
	}
	if (r >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_errno(rc);
	if (r >= 0)
		r = store_errno(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
	if (r < 0) {
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	if (n > 0 || failed > 0)
		log_info("Summary figures computed for %u earlier session%s.", n, n == 1 ? "" : "s");
	return 0;
}

struct each_memory {
	uint64_t from_us, to_us;
	const char *profile;
	int (*cb)(void *ud, const struct store_figures_row *row);
	void *ud;
};

static int each_memory(void *ud, const struct store_memory_session *ms)
{
	struct each_memory *e = ud;
	_cleanup_(cJSON_Deletep) cJSON *j = NULL;
	struct store_figures_row row = {
		.id = ms->id,
		.started_us = ms->started_us,
		.device_id = ms->device_id,
	};

	if (!ms->ended || !ms->summary || ms->started_us < e->from_us || ms->started_us >= e->to_us)
		return 0;
	j = cJSON_Parse(ms->summary);
	if (!j)
		return -ENOMEM;
	if (cd_figures_from_session(j, &row.f, &row.profile) < 0)
		return 0;
	if (e->profile && (!row.profile || strcmp(row.profile, e->profile) != 0))
		return 0;
	return e->cb(e->ud, &row);
}

int store_figures_each(struct store *s, uint64_t from_us, uint64_t to_us, const char *profile,
		       int (*cb)(void *ud, const struct store_figures_row *row), void *ud)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct each_memory em = { from_us, to_us, profile, cb, ud };
	int r, rc;

	r = prepare(store_db(s),
		    "SELECT session_id, started_at_us, device_id, profile, active_s, moderate_s, "
		    "vigorous_s, mvpa_s, ecb_s, trimp_edwards, mvpa_20, mvpa_40, duration_60 "
		    "FROM session_figures WHERE started_at_us >= ? AND started_at_us < ? AND "
		    "(?3 IS NULL OR profile = ?3)",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(from_us > INT64_MAX ? INT64_MAX : from_us));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(to_us > INT64_MAX ? INT64_MAX : to_us));
	bind_text_or_null(st, 3, profile);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_figures_row row = {
			.id = (uint64_t)sqlite3_column_int64(st, 0),
			.started_us = (uint64_t)sqlite3_column_int64(st, 1),
			.device_id = (const char *)sqlite3_column_text(st, 2),
			.profile = (const char *)sqlite3_column_text(st, 3),
			.f = {
				.active_s = sqlite3_column_double(st, 4),
				.moderate_s = sqlite3_column_double(st, 5),
				.vigorous_s = sqlite3_column_double(st, 6),
				.mvpa_s = sqlite3_column_double(st, 7),
				.ecb_s = sqlite3_column_double(st, 8),
				.trimp_edwards = sqlite3_column_double(st, 9),
				.milestone = {
					[CD_MILESTONE_MVPA_20] = sqlite3_column_int(st, 10) != 0,
					[CD_MILESTONE_MVPA_40] = sqlite3_column_int(st, 11) != 0,
					[CD_MILESTONE_DURATION_60] = sqlite3_column_int(st, 12) != 0,
				},
			},
		};

		r = cb(ud, &row);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return store_errno(rc);
	return store_each_memory_session(s, each_memory, &em);
}

/* Import. */

struct store_import {
	struct store *store;
	sqlite3 *db;
	sqlite3_stmt *sample;
	int error; /* first failure: the end rolls back */
};

int store_import_begin(struct store *s, struct store_import **ret)
{
	struct store_import *im;
	int r;

	im = calloc(1, sizeof(*im));
	if (!im)
		return -ENOMEM;
	im->store = s;
	im->db = store_db(s);
	r = prepare(im->db,
		    "INSERT INTO samples (session_id, t_s, bpm, rr_ms, contact, energy_kj) "
		    "VALUES (?, ?, ?, ?, ?, ?)",
		    &im->sample);
	if (r >= 0)
		r = store_errno(sqlite3_exec(im->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
	if (r < 0) {
		sqlite3_finalize(im->sample);
		free(im);
		return r;
	}
	*ret = im;
	return 0;
}

int store_import_sample(struct store_import *im, uint64_t session_id, const struct cd_sample *x)
{
	_cleanup_free_ char *rr = store_rr_to_text(x->rr_ms, x->n_rr);
	sqlite3_stmt *st = im->sample;
	int r;

	if (im->error)
		return im->error;
	if (x->n_rr > 0 && !rr)
		return im->error = -ENOMEM;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)session_id);
	sqlite3_bind_double(st, 2, x->t);
	sqlite3_bind_double(st, 3, x->bpm);
	bind_text_or_null(st, 4, rr);
	if (x->contact == CD_CONTACT_UNKNOWN)
		sqlite3_bind_null(st, 5);
	else
		sqlite3_bind_int(st, 5, x->contact == CD_CONTACT_OK);
	if (isfinite(x->energy_kj))
		sqlite3_bind_double(st, 6, x->energy_kj);
	else
		sqlite3_bind_null(st, 6);
	r = step_done(st);
	if (r < 0)
		im->error = r;
	return r;
}

struct overlap {
	const char *device_id;
	uint64_t start_us, end_us;
	bool found;
};

static int overlap_memory(void *ud, const struct store_memory_session *ms)
{
	struct overlap *o = ud;
	uint64_t end = ms->ended ? ms->ended_us : UINT64_MAX;

	if (ms->device_id && strcmp(ms->device_id, o->device_id) == 0 &&
	    ((ms->started_us < o->end_us && o->start_us < end) || ms->started_us == o->start_us))
		o->found = true;
	return 0;
}

int store_import_overlaps(struct store_import *im, const char *device_id, uint64_t start_us,
			  uint64_t end_us)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct overlap o = { device_id, start_us, end_us, false };
	int r, rc;

	/*
	 * Half-open intervals: a session that ends exactly when the next one
	 * starts (the legs of a multisport FIT file) does not overlap it; the
	 * same start always does.  An open session (NULL end) runs on: it
	 * overlaps anything after its start.
	 */
	r = prepare(im->db,
		    "SELECT 1 FROM sessions WHERE device_id = ?1 AND ((started_at_us < ?2 AND "
		    "COALESCE(ended_at_us, 9223372036854775807) > ?3) OR started_at_us = ?3) "
		    "LIMIT 1",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)end_us);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)start_us);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return store_errno(rc);
	r = store_each_memory_session(im->store, overlap_memory, &o);
	if (r < 0)
		return r;
	return o.found;
}

int store_import_session(struct store_import *im, const struct store_import_session *x)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_free_ char *profile = store_profile_to_json(x->profile);
	int r;

	if (im->error)
		return im->error;
	if (!profile)
		return im->error = -ENOMEM;
	r = prepare(im->db,
		    "INSERT INTO sessions (id, device_id, device_name, transport, kind, profile, "
		    "max_gap_s, window_s, stale_after_s, started_at_us, ended_at_us, summary) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    &st);
	if (r >= 0) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)x->id);
		bind_text_or_null(st, 2, x->device_id);
		bind_text_or_null(st, 3, x->device_name);
		bind_text_or_null(st, 4, x->transport);
		bind_text_or_null(st, 5, x->kind);
		bind_text_or_null(st, 6, profile);
		sqlite3_bind_double(st, 7, x->engine->max_gap_s);
		sqlite3_bind_double(st, 8, x->engine->window_s);
		sqlite3_bind_double(st, 9, x->engine->stale_after_s);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)x->started_us);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)x->ended_us);
		bind_text_or_null(st, 12, x->summary);
		r = step_done(st);
	}
	if (r >= 0)
		r = store_figures_put(im->db, x->id, x->started_us, x->device_id, x->summary);
	if (r < 0)
		return im->error = r;
	store_note_session_id(im->store, x->id);
	return 0;
}

int store_import_end(struct store_import *im, bool commit)
{
	int r = 0;

	if (!im)
		return 0;
	sqlite3_finalize(im->sample);
	if (commit && !im->error)
		r = store_errno(sqlite3_exec(im->db, "COMMIT", NULL, NULL, NULL));
	else
		r = im->error;
	if ((!commit || r < 0 || im->error) && !sqlite3_get_autocommit(im->db))
		sqlite3_exec(im->db, "ROLLBACK", NULL, NULL, NULL);
	free(im);
	return r;
}
