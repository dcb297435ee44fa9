/* SPDX-License-Identifier: MIT */
/*
 * SQLite session log, the history reader: stored session rows and their
 * profiles, the samples reader (store_samples_*), sessions recomputed from
 * their samples, and the JSON of GET /sessions (listing and paging), of a
 * session by id and of the devices in the file.  The writer is store.c;
 * what both share is store-internal.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "log.h"
#include "store.h"
#include "store-internal.h"


void store_session_row_done(struct session_row *r)
{
	free(r->device_id);
	free(r->device_name);
	free(r->transport);
	free(r->kind);
	free(r->profile);
	free(r->summary);
	*r = (struct session_row){};
}

static char *column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

static int bounds_from_json(const cJSON *a, double out[CD_ZONE_BOUNDS])
{
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != CD_ZONE_BOUNDS)
		return -EBADMSG;
	for (int i = 0; i < CD_ZONE_BOUNDS; i++) {
		const cJSON *n = cJSON_GetArrayItem(a, i);

		if (!cJSON_IsNumber(n))
			return -EBADMSG;
		out[i] = n->valuedouble;
	}
	return 0;
}

static int profile_from_json(const char *text, struct cd_profile *p)
{
	_cleanup_(cJSON_Deletep) cJSON *o = text ? cJSON_Parse(text) : NULL;
	const cJSON *v;

	cd_profile_init(p);
	if (!o)
		return -EBADMSG;
	v = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (cJSON_IsString(v))
		snprintf(p->name, sizeof(p->name), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(o, "hr_max");
	if (!cJSON_IsNumber(v))
		return -EBADMSG;
	p->hr_max = v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(o, "hr_rest");
	if (cJSON_IsNumber(v))
		p->hr_rest = v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(o, "age");
	if (cJSON_IsNumber(v))
		p->age = v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(o, "hr_max_source");
	p->hr_max_source = cJSON_IsString(v) && strcmp(v->valuestring, "age") == 0
				   ? CD_HR_MAX_AGE
				   : CD_HR_MAX_CONFIGURED;
	v = cJSON_GetObjectItemCaseSensitive(o, "sex");
	if (cJSON_IsString(v) && (int)cd_sex_from_string(v->valuestring) >= 0)
		p->sex = cd_sex_from_string(v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(o, "model");
	if (cJSON_IsString(v) && (int)cd_model_from_string(v->valuestring) >= 0)
		p->model = cd_model_from_string(v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(o, "zones_pct");
	if (v && bounds_from_json(v, p->zones_pct) < 0)
		return -EBADMSG;
	v = cJSON_GetObjectItemCaseSensitive(o, "zones_bpm");
	if (v && !cJSON_IsNull(v)) {
		if (bounds_from_json(v, p->zones_bpm) < 0)
			return -EBADMSG;
		p->has_zones_bpm = true;
	}
	return cd_profile_validate(p, NULL) < 0 ? -EBADMSG : 0;
}

int store_load_row(struct store *s, sqlite3_stmt *st, struct session_row *row)
{
	*row = (struct session_row){
		.id = (uint64_t)sqlite3_column_int64(st, 0),
		.device_id = column_text(st, 1),
		.device_name = column_text(st, 2),
		.transport = column_text(st, 3),
		.kind = column_text(st, 4),
		.profile = column_text(st, 5),
		.engine = {
			.max_gap_s = sqlite3_column_double(st, 6),
			.window_s = sqlite3_column_double(st, 7),
			.stale_after_s = sqlite3_column_double(st, 8),
		},
		.started_us = (uint64_t)sqlite3_column_int64(st, 9),
		.ended = sqlite3_column_type(st, 10) != SQLITE_NULL,
		.ended_us = (uint64_t)sqlite3_column_int64(st, 10),
		.summary = column_text(st, 11),
	};
	if (!row->device_id || !row->profile)
		return -ENOMEM;
	return 0;
}

/*
 * Run sql, a query of the sessions row whose id is its one parameter:
 * 0 with *ret on that row, -ENOENT when there is none, or an error.
 */
static int select_by_id(struct store *s, const char *sql, uint64_t id, sqlite3_stmt **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = store_prepare(s, sql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_errno(rc);
	*ret = TAKE_PTR(st);
	return 0;
}

static int find_row(struct store *s, uint64_t id, struct session_row *row)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = select_by_id(s, "SELECT " ROW_COLUMNS " FROM sessions WHERE id = ?", id, &st);
	if (r < 0)
		return r;
	return store_load_row(s, st, row);
}

/*
 * Reading a session's samples (store.h).  The session's samples form one
 * sequence that only ever grows at its end: its rows in the file by rowid,
 * then its samples in the queue.  A commit inserts the whole queue in
 * order, and a new row's rowid is one past the largest (nothing is ever
 * deleted), so it moves the front of the queue to the end of the file
 * part.  A reader therefore keeps its place as a count, whatever the
 * commits in between:
 *   - file: rows with rowid > last_rowid, a page per query;
 *   - queue (once the file has no more): the session's queued samples
 *     after the from_queue already given; queue_pos is the last one given,
 *     valid while store::commits is still the queue_commits seen;
 *   - after a commit, the from_queue samples given from the queue are the
 *     session's first from_queue rows past last_rowid: skip them, and read
 *     the file again.
 * The snapshot: the rows up to end_rowid (the largest rowid at open) and
 * then tail more samples, the number queued for the session at open.
 */

/* Room for n more RR values on the page. */
static int reader_rr_reserve(struct store_samples *r, size_t n)
{
	double *v;
	size_t cap;

	if (r->rr_cap - r->n_rr >= n)
		return 0;
	cap = r->rr_cap ? r->rr_cap : 4 * READER_PAGE;
	while (cap - r->n_rr < n)
		cap *= 2;
	v = realloc(r->rr, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->rr = v;
	r->rr_cap = cap;
	return 0;
}

/* Append x to the page; its RR values are those added to r->rr since rr_at. */
static void reader_add(struct store_samples *r, const struct cd_sample *x, size_t rr_at)
{
	r->page[r->n] = *x;
	r->page[r->n].rr_ms = NULL;
	r->page[r->n].n_rr = r->n_rr - rr_at;
	r->rr_at[r->n++] = rr_at;
}

/* Add a stored row's RR text, "v v v", to the page's RR values. */
static int reader_add_rr_text(struct store_samples *r, const char *text)
{
	while (text && *text) {
		char *end;
		double x;
		int k;

		text += strspn(text, " ");
		if (!*text)
			break;
		x = strtod(text, &end);
		if (end == text)
			break;
		k = reader_rr_reserve(r, 1);
		if (k < 0)
			return k;
		r->rr[r->n_rr++] = x;
		text = end;
	}
	return 0;
}

/* One sample past end_rowid (or from the queue) is given: false if the snapshot is full. */
static bool reader_take_tail(struct store_samples *r)
{
	if (r->tail == 0) {
		r->done = true;
		return false;
	}
	r->tail--;
	return true;
}

/* The next page of rows after last_rowid; *ret_more is false when the file has no more. */
static int reader_fill_file(struct store_samples *r, bool *ret_more)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int k, rc;

	k = store_prepare(r->store,
			  "SELECT rowid, t_s, bpm, rr_ms, contact, energy_kj FROM samples "
			  "WHERE session_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
			  &st);
	if (k < 0)
		return k;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->session_id);
	sqlite3_bind_int64(st, 2, r->last_rowid);
	sqlite3_bind_int(st, 3, READER_PAGE); /* the page is empty: see reader_fill() */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t rowid = sqlite3_column_int64(st, 0);
		size_t rr_at = r->n_rr;
		struct cd_sample x = {
			.t = sqlite3_column_double(st, 1),
			.bpm = sqlite3_column_double(st, 2),
			.contact = sqlite3_column_type(st, 4) == SQLITE_NULL ? CD_CONTACT_UNKNOWN
					 : sqlite3_column_int(st, 4)         ? CD_CONTACT_OK
									     : CD_CONTACT_LOST,
			.energy_kj = sqlite3_column_type(st, 5) == SQLITE_NULL
					     ? NAN
					     : sqlite3_column_double(st, 5),
		};

		if (rowid > r->end_rowid && !reader_take_tail(r))
			break;
		k = reader_add_rr_text(r, (const char *)sqlite3_column_text(st, 3));
		if (k < 0)
			return k;
		reader_add(r, &x, rr_at);
		r->last_rowid = rowid;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store_errno(rc);
	*ret_more = !r->done && r->n == READER_PAGE;
	return 0;
}

/* After a commit: step last_rowid over the rows that were given from the queue. */
static int reader_skip_committed(struct store_samples *r)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int k, rc;

	if (r->from_queue == 0)
		return 0;
	k = store_prepare(r->store,
			  "SELECT rowid FROM samples WHERE session_id = ? AND rowid > ? "
			  "ORDER BY rowid LIMIT 1 OFFSET ?",
			  &st);
	if (k < 0)
		return k;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->session_id);
	sqlite3_bind_int64(st, 2, r->last_rowid);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)r->from_queue - 1);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -EIO; /* the queue was committed, so its rows must be there */
	if (rc != SQLITE_ROW)
		return store_errno(rc);
	r->last_rowid = sqlite3_column_int64(st, 0);
	r->from_queue = 0;
	return 0;
}

/* The session's queued samples after queue_pos, up to a full page. */
static int reader_fill_queue(struct store_samples *r)
{
	const struct pending_sample *p = r->queue_pos ? r->queue_pos->next : r->store->pending;

	for (; p && r->n < READER_PAGE; p = p->next) {
		struct cd_sample x = {
			.t = p->t,
			.bpm = p->bpm,
			.contact = p->contact,
			.energy_kj = p->energy_kj,
		};
		size_t rr_at = r->n_rr;
		int k;

		if (p->session_id != r->session_id)
			continue;
		if (!reader_take_tail(r))
			return 0;
		k = reader_rr_reserve(r, p->n_rr);
		if (k < 0)
			return k;
		if (p->n_rr > 0)
			memcpy(r->rr + r->n_rr, p->rr, p->n_rr * sizeof(double));
		r->n_rr += p->n_rr;
		reader_add(r, &x, rr_at);
		r->queue_pos = p;
		r->from_queue++;
	}
	if (r->n == 0)
		r->done = true;
	return 0;
}

static int reader_fill(struct store_samples *r)
{
	int k;

	r->n = r->pos = r->n_rr = 0;
	if (r->done)
		return 0;
	if (!r->store)
		return -ESHUTDOWN;
	while (r->n == 0 && !r->done) {
		if (r->in_queue && r->store->commits != r->queue_commits) {
			k = reader_skip_committed(r);
			if (k < 0)
				return k;
			r->in_queue = false;
		}
		if (!r->in_queue) {
			bool more = false;

			k = reader_fill_file(r, &more);
			if (k < 0)
				return k;
			if (more || r->done)
				break;
			/* The file has no more: the queue is next. */
			r->in_queue = true;
			r->queue_commits = r->store->commits;
			r->queue_pos = NULL;
			r->from_queue = 0;
			if (r->n > 0)
				break;
		}
		k = reader_fill_queue(r);
		if (k < 0)
			return k;
	}
	for (size_t i = 0; i < r->n; i++)
		r->page[i].rr_ms = r->page[i].n_rr > 0 ? r->rr + r->rr_at[i] : NULL;
	return 0;
}

int store_samples_open(struct store *s, uint64_t id, struct store_samples **ret)
{
	_cleanup_(store_samples_freep) struct store_samples *r = NULL;
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int k, rc;

	if (!store_find_session(s, id)) {
		k = select_by_id(s, "SELECT 1 FROM sessions WHERE id = ?", id, &st);
		if (k < 0)
			return k;
		sqlite3_finalize(TAKE_PTR(st));
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->session_id = id;
	k = store_prepare(s, "SELECT COALESCE(MAX(rowid), 0) FROM samples", &st);
	if (k < 0)
		return k;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return store_errno(rc);
	r->end_rowid = sqlite3_column_int64(st, 0);
	for (const struct pending_sample *p = s->pending; p; p = p->next)
		if (p->session_id == id)
			r->tail++;
	r->store = s;
	r->next = s->readers;
	if (s->readers)
		s->readers->prev = r;
	s->readers = r;
	*ret = TAKE_PTR(r);
	return 0;
}

int store_samples_next(struct store_samples *r, struct cd_sample *ret)
{
	int k;

	if (r->pos == r->n) {
		k = reader_fill(r);
		if (k < 0)
			return k;
		if (r->n == 0)
			return 0;
	}
	*ret = r->page[r->pos++];
	return 1;
}

struct store_samples *store_samples_free(struct store_samples *r)
{
	if (!r)
		return NULL;
	if (r->store) {
		if (r->prev)
			r->prev->next = r->next;
		else
			r->store->readers = r->next;
		if (r->next)
			r->next->prev = r->prev;
	}
	free(r->rr);
	free(r);
	return NULL;
}

/* Feed a session's samples (stored, then queued) to each. */
static int feed_samples(struct store *s, uint64_t id,
			int (*each)(void *ud, const struct cd_sample *x), void *ud)
{
	_cleanup_(store_samples_freep) struct store_samples *r = NULL;
	struct cd_sample x;
	int k;

	k = store_samples_open(s, id, &r);
	if (k < 0)
		return k;
	while ((k = store_samples_next(r, &x)) > 0) {
		k = each(ud, &x);
		if (k < 0)
			return k;
	}
	return k;
}

static int feed_engine(void *ud, const struct cd_sample *x)
{
	int r = cd_engine_add(ud, x);

	return r < 0 ? r : 0;
}

/* Recompute a session from its samples: the engine, and its JSON as ended. */
int store_rebuild(struct store *s, const struct session_row *row, struct cd_engine **ret_engine,
		  cJSON **ret_json)
{
	_cleanup_(cd_engine_freep) struct cd_engine *e = NULL;
	struct cd_profile p;
	int r;

	r = profile_from_json(row->profile, &p);
	if (r < 0)
		return log_warning_errno(r, "Session %" PRIu64 " has an unreadable profile.", row->id);
	r = cd_engine_new(&p, &row->engine, NULL, &e);
	if (r < 0)
		return r;
	r = feed_samples(s, row->id, feed_engine, e);
	if (r < 0)
		return r;
	if (ret_json) {
		struct cd_session_meta meta = {
			.id = row->id,
			.active = false,
			.kind = row->kind,
			.device_id = row->device_id,
			.device_name = row->device_name ? row->device_name : row->device_id,
			.transport = row->transport,
			.started_at = (double)row->started_us / 1e6,
			.now = cd_engine_totals(e)->t_seen,
			.battery_pct = -1,
		};

		*ret_json = cd_session_to_json(e, &meta);
		if (!*ret_json)
			return -ENOMEM;
	}
	if (ret_engine)
		*ret_engine = TAKE_PTR(e);
	return 0;
}

/* Reading. */

static int parse_summary(const char *text, cJSON **ret)
{
	cJSON *j = cJSON_Parse(text);

	if (!j)
		return -EBADMSG;
	*ret = j;
	return 0;
}

/* The session object of an ended (or orphaned) session from the file. */
static int row_json(struct store *s, const struct session_row *row, cJSON **ret)
{
	if (row->ended && row->summary && parse_summary(row->summary, ret) >= 0)
		return 0;
	return store_rebuild(s, row, NULL, ret);
}

static int session_json_by_id(struct store *s, uint64_t id, cJSON **ret)
{
	struct store_session *ss = store_find_session(s, id);
	struct session_row row = {};
	int r;

	if (ss && ss->summary && parse_summary(ss->summary, ret) >= 0)
		return 0;
	if (ss) {
		/* Not committed yet: rebuild from what is queued. */
		struct session_row tmp = {
			.id = ss->id,
			.device_id = ss->device_id,
			.device_name = ss->device_name,
			.transport = ss->transport,
			.kind = ss->kind,
			.profile = ss->profile,
			.engine = ss->engine,
			.started_us = ss->started_us,
		};

		return store_rebuild(s, &tmp, NULL, ret);
	}
	r = find_row(s, id, &row);
	if (r < 0)
		return r;
	r = row_json(s, &row, ret);
	store_session_row_done(&row);
	return r;
}

int store_session_json(struct store *s, uint64_t id, cJSON **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct store_session *best = NULL;
	uint64_t db_id = 0, db_ended = 0;
	int r, rc;

	if (id > 0)
		return session_json_by_id(s, id, ret);

	/* The latest ended session: queued, or in the file. */
	for (struct store_session *ss = s->sessions; ss; ss = ss->next)
		if (ss->ended && (!best || ss->ended_us > best->ended_us))
			best = ss;
	r = store_prepare(s,
			  "SELECT id, ended_at_us FROM sessions WHERE ended_at_us IS NOT NULL "
			  "ORDER BY ended_at_us DESC, id DESC LIMIT 1",
			  &st);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		db_id = (uint64_t)sqlite3_column_int64(st, 0);
		db_ended = (uint64_t)sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE)
		return store_errno(rc);
	if (best && (!db_id || best->ended_us >= db_ended))
		return session_json_by_id(s, best->id, ret);
	if (db_id)
		return session_json_by_id(s, db_id, ret);
	return -ENOENT;
}

struct list_item {
	uint64_t id, started_us;
};

static int cmp_items(const void *a, const void *b)
{
	const struct list_item *x = a, *y = b;

	/* Newest first; the larger id first on a tie. */
	if (x->started_us != y->started_us)
		return x->started_us < y->started_us ? 1 : -1;
	return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

/* Every stored session that started at exactly g (and this run's), each once, into *items. */
static int add_started_group(struct store *s, uint64_t g, uint64_t since_us,
			     struct list_item **items, size_t *n, size_t *cap)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	if (g < since_us)
		return 0;
	r = store_prepare(s, "SELECT id FROM sessions WHERE started_at_us = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)g);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
		bool seen = false;

		for (size_t i = 0; i < *n && !seen; i++)
			seen = (*items)[i].id == id;
		if (seen || store_find_session(s, id))
			continue;
		if (*n >= *cap) {
			struct list_item *x = reallocarray(*items, *cap * 2, sizeof(**items));

			if (!x)
				return -ENOMEM;
			*items = x;
			*cap *= 2;
		}
		(*items)[(*n)++] = (struct list_item){ id, g };
	}
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

/* Whether a stored session started in [since_us, g): 1, 0, or a negative errno. */
static int any_started_before(struct store *s, uint64_t g, uint64_t since_us)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = store_prepare(s,
			  "SELECT 1 FROM sessions WHERE started_at_us < ? AND started_at_us >= ? LIMIT 1",
			  &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)g);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(since_us > INT64_MAX ? INT64_MAX : since_us));
	rc = sqlite3_step(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store_errno(rc);
}

int store_sessions_page(struct store *s, unsigned limit, uint64_t before_us, uint64_t since_us,
			uint64_t **ret_ids, size_t *ret_n, uint64_t *ret_next)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_free_ struct list_item *items = NULL;
	uint64_t *ids;
	size_t n = 0, cap, n_mem = 0, k;
	uint64_t next;
	int r, rc;

	if (limit == 0)
		limit = 20;
	if (limit > 1000)
		limit = 1000;
	if (before_us == 0)
		before_us = INT64_MAX;
	for (struct store_session *ss = s->sessions; ss; ss = ss->next)
		n_mem++;
	cap = n_mem + limit + 1;
	items = calloc(cap, sizeof(*items));
	if (!items)
		return -ENOMEM;

	for (struct store_session *ss = s->sessions; ss; ss = ss->next)
		if (ss->started_us < before_us && ss->started_us >= since_us)
			items[n++] = (struct list_item){ ss->id, ss->started_us };

	r = store_prepare(s,
			  "SELECT id, started_at_us FROM sessions WHERE started_at_us < ? AND "
			  "started_at_us >= ? ORDER BY started_at_us DESC, id DESC LIMIT ?",
			  &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(before_us > INT64_MAX ? INT64_MAX : before_us));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(since_us > INT64_MAX ? INT64_MAX : since_us));
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(limit + 1 + n_mem));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);

		if (store_find_session(s, id) || n >= cap)
			continue; /* this run's copy is the current one */
		items[n++] = (struct list_item){ id, (uint64_t)sqlite3_column_int64(st, 1) };
	}
	if (rc != SQLITE_DONE)
		return store_errno(rc);
	qsort(items, n, sizeof(*items), cmp_items);

	/*
	 * Pages are cut on (started_at, id), and next_before must not skip
	 * sessions that share a started_at (next page: started_at < next_before).
	 * When the cut falls inside such a group, the page ends before the group
	 * and next_before is its started_at + 1 µs; a page that is all one group
	 * takes the whole group.
	 */
	k = n > limit ? limit : n;
	next = n > limit ? items[limit - 1].started_us : 0;
	if (n > limit && items[limit - 1].started_us == items[limit].started_us) {
		uint64_t g = items[limit].started_us;
		size_t j = limit - 1;

		while (j > 0 && items[j - 1].started_us == g)
			j--;
		if (j > 0) {
			k = j;
			next = g + 1;
		} else {
			r = add_started_group(s, g, since_us, &items, &n, &cap);
			if (r < 0)
				return r;
			qsort(items, n, sizeof(*items), cmp_items);
			for (k = 0; k < n && items[k].started_us == g; k++)
				;
			r = any_started_before(s, g, since_us);
			if (r < 0)
				return r;
			next = k < n || r > 0 ? g : 0;
		}
	}

	ids = malloc((k ? k : 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < k; i++)
		ids[i] = items[i].id;
	*ret_ids = ids;
	*ret_n = k;
	*ret_next = next;
	return 0;
}

int store_each_device(struct store *s, int (*fn)(const struct store_known_device *d, void *ctx),
		      void *ctx)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = store_prepare(s, "SELECT id, name, transport, last_seen_us FROM devices ORDER BY id", &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_known_device d = {
			.id = (const char *)sqlite3_column_text(st, 0),
			.name = (const char *)sqlite3_column_text(st, 1),
			.transport = (const char *)sqlite3_column_text(st, 2),
			.last_seen_us = (uint64_t)sqlite3_column_int64(st, 3),
		};

		if (!d.id)
			continue;
		r = fn(&d, ctx);
		if (r < 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}
