/* SPDX-License-Identifier: MIT */
/*
 * SQLite session log, the writer: opening and migrating the file, recovery
 * at start-up, the sample queue and its commits, sessions opened and closed
 * from the monitor, and the store's health.  The history reader (session
 * listing, sessions by id, the samples reader) is store-read.c; what both
 * share is store-internal.h.  See store.h for the contract; the schema is the
 * migrations[] table below, applied forward from PRAGMA user_version.
 *
 * Samples keep the engine's own time t_s (REAL: the exact double the
 * engine was fed, seconds from the session's started_at) so that feeding
 * them back gives the same figures to the last bit.  RR intervals are a
 * space-separated TEXT list written with the shortest round-trip format.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "csv.h"
#include "log.h"
#include "store-check.h"
#include "store.h"
#include "store-internal.h"

#define USEC_PER_SEC 1000000ULL
#define DEFAULT_MAX_PENDING 65536
#define RETRY_MAX_US (60 * USEC_PER_SEC)


/* Forward migrations: migrations[i] takes user_version i to i + 1. */
static const char *const migrations[] = {
	/* 0 → 1 */
	"CREATE TABLE devices ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT,"
	"  transport TEXT,"
	"  first_seen_us INTEGER,"
	"  last_seen_us INTEGER);"
	"CREATE TABLE sessions ("
	"  id INTEGER PRIMARY KEY,"
	"  device_id TEXT NOT NULL,"
	"  device_name TEXT,"
	"  transport TEXT,"
	"  kind TEXT,"
	"  profile TEXT NOT NULL," /* JSON: every cd_profile field */
	"  max_gap_s REAL NOT NULL,"
	"  window_s REAL NOT NULL,"
	"  stale_after_s REAL NOT NULL,"
	"  started_at_us INTEGER NOT NULL,"
	"  ended_at_us INTEGER,"     /* NULL while open */
	"  summary TEXT);"           /* the ended session object, cached */
	"CREATE INDEX sessions_started ON sessions (started_at_us);"
	"CREATE TABLE samples ("
	"  session_id INTEGER NOT NULL,"
	"  t_s REAL NOT NULL,"
	"  bpm REAL NOT NULL,"
	"  rr_ms TEXT,"
	"  contact INTEGER,"
	"  energy_kj REAL);"
	"CREATE INDEX samples_session ON samples (session_id);",
	/* 1 → 2: figures of each ended session, for summaries (store-summary.c) */
	STORE_FIGURES_SCHEMA,
};

struct store_device {
	struct store_device *next; /* store::devices */
	char *id, *name, *transport;
	uint64_t first_seen_us, last_seen_us;
	bool dirty;
};

static int sqlite_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return -EACCES;
	default:
		return -EIO;
	}
}

static char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Shortest of %.15g..%.17g that reads back as the same double. */
static void format_double(char *buf, size_t size, double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static char *rr_to_text(const double *rr, size_t n)
{
	char *buf, *p;

	if (n == 0)
		return NULL;
	buf = malloc(n * 26 + 1);
	if (!buf)
		return NULL;
	p = buf;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ' ';
		format_double(p, 26, rr[i]);
		p += strlen(p);
	}
	return buf;
}

/* Profile ↔ JSON: every field, so recomputation uses the session's own profile. */

static char *profile_to_json(const struct cd_profile *p)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	cJSON *a;

	if (!o || !cJSON_AddStringToObject(o, "name", p->name) ||
	    !cJSON_AddNumberToObject(o, "hr_max", p->hr_max) ||
	    !cJSON_AddNumberToObject(o, "hr_rest", p->hr_rest) ||
	    !cJSON_AddNumberToObject(o, "age", p->age) ||
	    !cJSON_AddStringToObject(o, "hr_max_source",
				     cd_hr_max_source_to_string(p->hr_max_source)) ||
	    !cJSON_AddStringToObject(o, "sex", cd_sex_to_string(p->sex)) ||
	    !cJSON_AddStringToObject(o, "model", cd_model_to_string(p->model)))
		return NULL;
	a = cJSON_CreateDoubleArray(p->zones_pct, CD_ZONE_BOUNDS);
	if (!a || !cJSON_AddItemToObject(o, "zones_pct", a)) {
		cJSON_Delete(a);
		return NULL;
	}
	if (p->has_zones_bpm) {
		a = cJSON_CreateDoubleArray(p->zones_bpm, CD_ZONE_BOUNDS);
		if (!a || !cJSON_AddItemToObject(o, "zones_bpm", a)) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return cJSON_PrintUnformatted(o);
}

/* SQL helpers. */

static int exec(struct store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return sqlite_to_errno(rc);
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **ret)
{
	return sqlite_to_errno(sqlite3_prepare_v2(s->db, sql, -1, ret, NULL));
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *t)
{
	if (t)
		sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_double_or_null(sqlite3_stmt *st, int i, double v)
{
	if (isfinite(v))
		sqlite3_bind_double(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqlite_to_errno(rc);
}

/* Opening. */

static const char sqlite_magic[16] = "SQLite format 3";

/*
 * 1 when path is an existing SQLite file (or an empty one), 0 when it does
 * not exist, -ENOTTY-ish errors for anything else; never writes.
 */
static int check_file(const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	char head[16];
	struct stat st;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return log_error_errno(errno, "Cannot open the database %s: %m", path);
	}
	if (fstat(fd, &st) < 0)
		return log_error_errno(errno, "Cannot stat the database %s: %m", path);
	if (!S_ISREG(st.st_mode))
		return log_error_errno(EISDIR, "The database %s is not a regular file; refusing to use it.",
				       path);
	if (st.st_size == 0)
		return 1;
	n = read(fd, head, sizeof(head));
	if (n != (ssize_t)sizeof(head) || memcmp(head, sqlite_magic, sizeof(head)) != 0)
		return log_error_errno(EBADMSG,
				       "%s exists but is not an SQLite database; leaving it untouched "
				       "and refusing to start (move it away or use --db).",
				       path);
	return 1;
}

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int migrate(struct store *s)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int version, r;

	r = prepare(s, "PRAGMA user_version", &st);
	if (r < 0 || sqlite3_step(st) != SQLITE_ROW)
		return log_error_errno(r < 0 ? r : EIO, "Cannot read the schema version of %s: %s",
				       s->path, sqlite3_errmsg(s->db));
	version = sqlite3_column_int(st, 0);
	if (version > (int)ELEMENTSOF(migrations))
		return log_error_errno(EPROTO,
				       "%s has schema version %d, newer than this cardiod knows (%zu); "
				       "leaving it untouched.",
				       s->path, version, ELEMENTSOF(migrations));
	for (int v = version; v < (int)ELEMENTSOF(migrations); v++) {
		char sql[64];

		r = exec(s, "BEGIN IMMEDIATE");
		if (r >= 0)
			r = exec(s, migrations[v]);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (r >= 0)
			r = exec(s, sql);
		if (r >= 0)
			r = exec(s, "COMMIT");
		if (r < 0) {
			log_error_errno(r, "Cannot migrate %s to schema version %d: %s", s->path, v + 1,
					sqlite3_errmsg(s->db));
			if (!sqlite3_get_autocommit(s->db))
				exec(s, "ROLLBACK");
			return r;
		}
		log_info("Database %s migrated to schema version %d.", s->path, v + 1);
	}
	return 0;
}

static uint64_t ended_at(uint64_t started_us, const struct cd_engine *e)
{
	const struct cd_engine_totals *tot = cd_engine_totals(e);

	if (tot->samples == 0)
		return started_us;
	return started_us + (uint64_t)llround(tot->t_last * 1e6);
}

/* DESIGN §3: an unclosed session is closed at its last stored sample, summary recomputed. */
static int recover(struct store *s)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL, *upd = NULL;
	unsigned n = 0;
	int r, rc;

	r = prepare(s, "SELECT " ROW_COLUMNS " FROM sessions WHERE ended_at_us IS NULL", &st);
	if (r < 0)
		return r;
	r = prepare(s, "UPDATE sessions SET ended_at_us = ?, summary = ? WHERE id = ?", &upd);
	if (r < 0)
		return r;
	r = exec(s, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		_cleanup_(cd_engine_freep) struct cd_engine *e = NULL;
		_cleanup_(cJSON_Deletep) cJSON *json = NULL;
		_cleanup_free_ char *text = NULL;
		struct session_row row;

		int k;

		k = store_load_row(s, st, &row);
		if (k >= 0)
			k = store_rebuild(s, &row, &e, &json);
		if (k < 0) {
			log_warning_errno(k, "Cannot recompute session %" PRIu64 ": %m, leaving it open.",
					  row.id);
			store_session_row_done(&row);
			continue;
		}
		/* The summary says "ended" at the recomputed time. */
		cJSON_ReplaceItemInObjectCaseSensitive(json, "state", cJSON_CreateString("ended"));
		text = cJSON_PrintUnformatted(json);
		sqlite3_reset(upd);
		sqlite3_bind_int64(upd, 1, (sqlite3_int64)ended_at(row.started_us, e));
		bind_text_or_null(upd, 2, text);
		sqlite3_bind_int64(upd, 3, (sqlite3_int64)row.id);
		r = step_done(upd);
		if (r >= 0) {
			int f = store_figures_put(s->db, row.id, row.started_us, row.device_id, text);

			if (f < 0 && f != -EBADMSG)
				r = f;
		}
		if (r < 0) {
			store_session_row_done(&row);
			break;
		}
		log_info("Recovered session %" PRIu64 " of %s: closed at its last stored sample "
			 "(%zu samples).",
			 row.id, row.device_id, cd_engine_totals(e)->samples);
		n++;
		store_session_row_done(&row);
	}
	if (r >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sqlite_to_errno(rc);
	if (r >= 0)
		r = exec(s, "COMMIT");
	if (r < 0) {
		log_warning("Cannot close unfinished sessions in %s: %s; they stay open in the file.",
			    s->path, sqlite3_errmsg(s->db));
		if (!sqlite3_get_autocommit(s->db))
			exec(s, "ROLLBACK");
		return r;
	}
	if (n > 0)
		log_notice("Recovered %u unfinished session%s.", n, n == 1 ? "" : "s");
	return 0;
}

static int max_session_id(struct store *s, uint64_t *ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = prepare(s, "SELECT COALESCE(MAX(id), 0) FROM sessions", &st);
	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW)
		return sqlite_to_errno(sqlite3_errcode(s->db));
	*ret = (uint64_t)sqlite3_column_int64(st, 0);
	return 0;
}

/* The full check before READY=1: a file that fails it is refused untouched. */
static int quick_check(struct store *s)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	const char *res;
	int r, rc;

	r = prepare(s, "PRAGMA quick_check(1)", &st);
	if (r < 0)
		return log_error_errno(r, "Database %s cannot be read (%s); leaving it untouched.",
				       s->path, sqlite3_errmsg(s->db));
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return log_error_errno(sqlite_to_errno(rc),
				       "Database %s fails its integrity check (%s); leaving it "
				       "untouched and refusing to start.",
				       s->path, sqlite3_errmsg(s->db));
	res = (const char *)sqlite3_column_text(st, 0);
	if (!res || strcmp(res, "ok") != 0)
		return log_error_errno(EBADMSG,
				       "Database %s fails its integrity check (%s); leaving it "
				       "untouched and refusing to start.",
				       s->path, res ? res : "?");
	return 0;
}

static int commit_handler(sd_event_source *source, uint64_t usec, void *userdata);

static void on_check_done(int result, const char *msg, void *userdata)
{
	struct store *s = userdata;

	if (result > 0) {
		log_info("Database %s passed its integrity check.", s->path);
		s->check = store_check_free(s->check); /* msg lives in it */
		return;
	}
	if (result < 0) {
		log_warning("Database %s: the integrity check could not run (%s), ignoring.",
			    s->path, msg);
		s->check = store_check_free(s->check);
		return;
	}
	log_error("Database %s fails its integrity check (%s); writing no more to it. New "
		  "samples stay in memory; stop cardiod, then repair or move the file.",
		  s->path, msg);
	s->check_failed = true;
	snprintf(s->reason, sizeof(s->reason), "database integrity check failed: %s", msg);
	s->check = store_check_free(s->check);
	if (!s->degraded) {
		s->degraded = true;
		if (s->health_changed)
			s->health_changed(s->userdata);
	}
}

int store_open(sd_event *event, const struct store_config *config, struct store **ret)
{
	_cleanup_(store_freep) struct store *s = NULL;
	uint64_t max_id = 0;
	int r, rc, exists;
	bool check_later = false;

	if (!event || !config || !config->path || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(event);
	s->path = strdup(config->path);
	if (!s->path)
		return -ENOMEM;
	s->commit_interval_us = (uint64_t)(config->commit_interval_s * USEC_PER_SEC);
	if (s->commit_interval_us == 0)
		s->commit_interval_us = 5 * USEC_PER_SEC;
	s->max_pending = config->max_pending_samples ? config->max_pending_samples
						     : DEFAULT_MAX_PENDING;
	s->pending_tail = &s->pending;
	s->health_changed = config->health_changed;
	s->userdata = config->userdata;

	exists = check_file(s->path);
	if (exists < 0)
		return exists;
	if (!exists) {
		r = mkdir_parents(s->path);
		if (r < 0)
			return log_error_errno(r, "Cannot create the folder of %s: %m", s->path);
	}

	rc = sqlite3_open_v2(s->path, &s->db,
			     SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE) |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK)
		return log_error_errno(sqlite_to_errno(rc), "Cannot open the database %s: %s",
				       s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	/* Until the checks pass, closing must not checkpoint anything into the file. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 2000);
	/* A small page cache (bench/footprint: 256 KiB cost 176 KiB of heap more than
	 * 64 KiB with 8 straps), set before the check and the migrations read the file:
	 * the default (2 MiB) would be filled by quick_check, then freed. */
	exec(s, "PRAGMA cache_size = -64");

	if (exists) {
		/*
		 * A large file on an SD card takes longer to check than a start may
		 * (SQLite's check cannot be paused): READY first, then the check in
		 * another process.  A header or schema that cannot be read is still
		 * refused here: migrate() reads them.
		 */
		struct stat st;
		double max_mb = config->startup_check_max_mb == 0 ? 64 : config->startup_check_max_mb;

		check_later = max_mb < 0 ||
			      (stat(s->path, &st) == 0 && (double)st.st_size > max_mb * 1048576.0);
		if (check_later)
			log_info("Database %s: the integrity check runs in the background.", s->path);
		else {
			r = quick_check(s);
			if (r < 0)
				return r;
		}
	}
	r = migrate(s);
	if (r < 0)
		return r;
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);

	/* WAL; FULL syncs the WAL at each commit: one fsync per commit interval. */
	r = exec(s, "PRAGMA journal_mode = WAL");
	if (r < 0)
		log_warning("Cannot switch %s to WAL mode: %s, ignoring.", s->path,
			    sqlite3_errmsg(s->db));
	exec(s, "PRAGMA synchronous = FULL");

	r = recover(s);
	if (r < 0)
		log_warning_errno(r, "Recovery of unfinished sessions postponed: %m");
	r = store_figures_backfill(s);
	if (r < 0)
		log_warning_errno(r, "Summary figures of earlier sessions postponed: %m");
	r = max_session_id(s, &max_id);
	if (r < 0)
		return log_error_errno(r, "Cannot read %s: %s", s->path, sqlite3_errmsg(s->db));
	s->next_id = max_id + 1;

	r = sd_event_add_time(s->event, &s->commit_timer, CLOCK_MONOTONIC, 0, 10 * 1000,
			      commit_handler, s);
	if (r < 0)
		return log_error_errno(r, "Cannot add the commit timer: %m");
	sd_event_source_set_enabled(s->commit_timer, SD_EVENT_OFF);
	sd_event_source_set_description(s->commit_timer, "store-commit");

	if (check_later) {
		r = store_check_start(s->event, s->path, on_check_done, s, &s->check);
		if (r < 0)
			log_warning_errno(r, "Cannot run the integrity check of %s in the background: "
					  "%m, ignoring",
					  s->path);
	}

	log_info("Database %s open (next session id %" PRIu64 ").", s->path, s->next_id);
	*ret = TAKE_PTR(s);
	return 0;
}

static struct store_session *store_session_free(struct store_session *ss)
{
	if (!ss)
		return NULL;
	free(ss->device_id);
	free(ss->device_name);
	free(ss->transport);
	free(ss->kind);
	free(ss->profile);
	free(ss->summary);
	free(ss);
	return NULL;
}

struct store *store_free(struct store *s)
{
	if (!s)
		return NULL;
	store_detach(s);
	s->check = store_check_free(s->check);
	while (s->readers) {
		struct store_samples *r = s->readers;

		s->readers = r->next;
		r->store = NULL;
		r->prev = r->next = NULL;
	}
	sd_event_source_disable_unref(s->commit_timer);
	while (s->pending) {
		struct pending_sample *p = s->pending;

		s->pending = p->next;
		free(p);
	}
	while (s->sessions) {
		struct store_session *ss = s->sessions;

		s->sessions = ss->next;
		store_session_free(ss);
	}
	while (s->devices) {
		struct store_device *d = s->devices;

		s->devices = d->next;
		free(d->id);
		free(d->name);
		free(d->transport);
		free(d);
	}
	if (s->db)
		sqlite3_close(s->db);
	sd_event_unref(s->event);
	free(s->path);
	free(s);
	return NULL;
}

uint64_t store_next_session_id(struct store *s)
{
	return s->next_id;
}

/* Writing. */

static void arm_commit(struct store *s, uint64_t delay_us)
{
	uint64_t now;
	int enabled = SD_EVENT_OFF;

	if (!s->commit_timer)
		return;
	sd_event_source_get_enabled(s->commit_timer, &enabled);
	if (enabled != SD_EVENT_OFF)
		return; /* already due: never postpone a commit */
	if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0)
		return;
	sd_event_source_set_time(s->commit_timer, now + delay_us);
	sd_event_source_set_enabled(s->commit_timer, SD_EVENT_ONESHOT);
}

static bool has_work(struct store *s)
{
	if (s->pending)
		return true;
	for (struct store_session *ss = s->sessions; ss; ss = ss->next)
		if (!ss->inserted || ss->dirty)
			return true;
	for (struct store_device *d = s->devices; d; d = d->next)
		if (d->dirty)
			return true;
	return false;
}

static void set_degraded(struct store *s, int r)
{
	const char *msg = sqlite3_errmsg(s->db);

	if (!s->degraded)
		log_warning_errno(r, "Cannot write to %s (%s); keeping %zu samples in memory and "
				  "retrying.",
				  s->path, msg, s->n_pending);
	snprintf(s->reason, sizeof(s->reason), "database write failed: %s", msg);
	s->failures++;
	if (!s->degraded) {
		s->degraded = true;
		if (s->health_changed)
			s->health_changed(s->userdata);
	}
}

static int flush_locked(struct store *s)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *dev = NULL, *ins = NULL, *smp = NULL, *upd = NULL;
	int r;

	r = prepare(s,
		    "INSERT INTO devices (id, name, transport, first_seen_us, last_seen_us) "
		    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
		    "transport = excluded.transport, last_seen_us = excluded.last_seen_us",
		    &dev);
	if (r >= 0)
		r = prepare(s,
			    "INSERT INTO sessions (" ROW_COLUMNS ") "
			    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			    &ins);
	if (r >= 0)
		r = prepare(s,
			    "INSERT INTO samples (session_id, t_s, bpm, rr_ms, contact, energy_kj) "
			    "VALUES (?, ?, ?, ?, ?, ?)",
			    &smp);
	if (r >= 0)
		r = prepare(s, "UPDATE sessions SET ended_at_us = ?, summary = ? WHERE id = ?",
			    &upd);
	if (r < 0)
		return r;

	for (struct store_device *d = s->devices; d; d = d->next) {
		if (!d->dirty)
			continue;
		sqlite3_reset(dev);
		bind_text_or_null(dev, 1, d->id);
		bind_text_or_null(dev, 2, d->name);
		bind_text_or_null(dev, 3, d->transport);
		sqlite3_bind_int64(dev, 4, (sqlite3_int64)d->first_seen_us);
		sqlite3_bind_int64(dev, 5, (sqlite3_int64)d->last_seen_us);
		r = step_done(dev);
		if (r < 0)
			return r;
	}

	for (struct store_session *ss = s->sessions; ss; ss = ss->next) {
		if (ss->inserted)
			continue;
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)ss->id);
		bind_text_or_null(ins, 2, ss->device_id);
		bind_text_or_null(ins, 3, ss->device_name);
		bind_text_or_null(ins, 4, ss->transport);
		bind_text_or_null(ins, 5, ss->kind);
		bind_text_or_null(ins, 6, ss->profile);
		sqlite3_bind_double(ins, 7, ss->engine.max_gap_s);
		sqlite3_bind_double(ins, 8, ss->engine.window_s);
		sqlite3_bind_double(ins, 9, ss->engine.stale_after_s);
		sqlite3_bind_int64(ins, 10, (sqlite3_int64)ss->started_us);
		if (ss->ended)
			sqlite3_bind_int64(ins, 11, (sqlite3_int64)ss->ended_us);
		else
			sqlite3_bind_null(ins, 11);
		bind_text_or_null(ins, 12, ss->summary);
		r = step_done(ins);
		if (r < 0)
			return r;
	}

	for (struct pending_sample *p = s->pending; p; p = p->next) {
		_cleanup_free_ char *rr = rr_to_text(p->rr, p->n_rr);

		if (p->n_rr > 0 && !rr)
			return -ENOMEM;
		sqlite3_reset(smp);
		sqlite3_bind_int64(smp, 1, (sqlite3_int64)p->session_id);
		sqlite3_bind_double(smp, 2, p->t);
		sqlite3_bind_double(smp, 3, p->bpm);
		bind_text_or_null(smp, 4, rr);
		if (p->contact == CD_CONTACT_UNKNOWN)
			sqlite3_bind_null(smp, 5);
		else
			sqlite3_bind_int(smp, 5, p->contact == CD_CONTACT_OK);
		bind_double_or_null(smp, 6, p->energy_kj);
		r = step_done(smp);
		if (r < 0)
			return r;
	}

	for (struct store_session *ss = s->sessions; ss; ss = ss->next) {
		if (!ss->inserted || !ss->dirty)
			continue;
		sqlite3_reset(upd);
		sqlite3_bind_int64(upd, 1, (sqlite3_int64)ss->ended_us);
		bind_text_or_null(upd, 2, ss->summary);
		sqlite3_bind_int64(upd, 3, (sqlite3_int64)ss->id);
		r = step_done(upd);
		if (r < 0)
			return r;
	}

	/* Ended in this commit (inserted ended, or updated): its summary figures too. */
	for (struct store_session *ss = s->sessions; ss; ss = ss->next) {
		if (!ss->ended || (ss->inserted && !ss->dirty) || !ss->summary)
			continue;
		r = store_figures_put(s->db, ss->id, ss->started_us, ss->device_id, ss->summary);
		if (r < 0 && r != -EBADMSG)
			return r;
	}
	return 0;
}

int store_flush(struct store *s)
{
	int r;

	if (!has_work(s))
		return 0;
	if (s->check_failed)
		return -EIO; /* kept in memory; the file is not made worse */

	r = exec(s, "BEGIN IMMEDIATE");
	if (r >= 0)
		r = flush_locked(s);
	if (r >= 0)
		r = exec(s, "COMMIT");
	if (r < 0) {
		set_degraded(s, r);
		if (!sqlite3_get_autocommit(s->db))
			exec(s, "ROLLBACK");
		return r;
	}

	if (s->degraded) {
		log_notice("Database %s writable again; %zu queued samples committed.", s->path,
			   s->n_pending);
		s->degraded = false;
		if (s->health_changed)
			s->health_changed(s->userdata);
	}
	s->reason[0] = '\0';
	s->failures = 0;
	s->commits++;
	while (s->pending) {
		struct pending_sample *p = s->pending;

		s->pending = p->next;
		free(p);
	}
	s->pending_tail = &s->pending;
	s->n_pending = 0;
	for (struct store_device *d = s->devices; d; d = d->next)
		d->dirty = false;
	for (struct store_session **pp = &s->sessions; *pp;) {
		struct store_session *ss = *pp;

		ss->inserted = true;
		ss->dirty = false;
		if (ss->ended) {
			*pp = ss->next;
			store_session_free(ss);
		} else {
			pp = &ss->next;
		}
	}
	return 0;
}

static int commit_handler(sd_event_source *source, uint64_t usec, void *userdata)
{
	struct store *s = userdata;

	if (store_flush(s) < 0) {
		/* Back off: interval × 2^failures, at most a minute. */
		uint64_t delay = s->commit_interval_us;

		for (unsigned i = 1; i < s->failures && delay < RETRY_MAX_US; i++)
			delay *= 2;
		arm_commit(s, delay < RETRY_MAX_US ? delay : RETRY_MAX_US);
	}
	return 0;
}

static struct store_session *find_session(struct store *s, uint64_t id)
{
	for (struct store_session *ss = s->sessions; ss; ss = ss->next)
		if (ss->id == id)
			return ss;
	return NULL;
}

static struct store_device *find_device(struct store *s, const char *id)
{
	for (struct store_device *d = s->devices; d; d = d->next)
		if (strcmp(d->id, id) == 0)
			return d;
	return NULL;
}

static void on_device(struct store *s, const struct monitor_device *md, uint64_t seen_us)
{
	struct store_device *d = find_device(s, md->id);

	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d)
			return;
		d->id = strdup(md->id);
		if (!d->id) {
			free(d);
			return;
		}
		d->first_seen_us = seen_us ? seen_us : monitor_now_us();
		d->next = s->devices;
		s->devices = d;
		d->dirty = true;
	}
	if (!d->name || strcmp(d->name, md->name) != 0) {
		char *n = strdup(md->name);

		if (n) {
			free(d->name);
			d->name = n;
			d->dirty = true;
		}
	}
	if (!d->transport) {
		d->transport = strdup_or_null(cd_transport_to_string(md->transport));
		d->dirty = true;
	}
	if (seen_us > d->last_seen_us) {
		d->last_seen_us = seen_us;
		d->dirty = true;
	}
}

static void on_session_started(struct store *s, const struct monitor_session *ms)
{
	const struct monitor_device *d = ms->device;
	struct store_session *ss = calloc(1, sizeof(*ss));

	if (!ss) {
		log_oom();
		return;
	}
	*ss = (struct store_session){
		.id = ms->id,
		.device_id = strdup(d->id),
		.device_name = strdup(d->name),
		.transport = strdup_or_null(cd_transport_to_string(d->transport)),
		.kind = strdup_or_null(ms->kind),
		.profile = profile_to_json(cd_engine_profile(ms->engine)),
		.engine = *cd_engine_config(ms->engine),
		.started_us = ms->started_at_us,
	};
	if (!ss->device_id || !ss->device_name || !ss->profile) {
		store_session_free(ss);
		log_oom();
		return;
	}
	if (ms->id >= s->next_id)
		s->next_id = ms->id + 1;
	ss->next = s->sessions;
	s->sessions = ss;
	arm_commit(s, s->commit_interval_us);
}

static void on_sample(struct store *s, const struct monitor_event *ev)
{
	const struct cd_sample *x = ev->sample;
	struct pending_sample *p;

	if (!ev->session)
		return;
	if (s->n_pending >= s->max_pending) {
		if (s->dropped++ == 0)
			log_warning("Write queue full (%zu samples): dropping new samples until "
				    "the database is writable.",
				    s->n_pending);
		return;
	}
	p = malloc(sizeof(*p) + x->n_rr * sizeof(double));
	if (!p) {
		s->dropped++;
		return;
	}
	*p = (struct pending_sample){
		.session_id = ev->session->id,
		.t = x->t,
		.bpm = x->bpm,
		.energy_kj = x->energy_kj,
		.contact = x->contact,
		.n_rr = x->n_rr,
	};
	if (x->n_rr > 0)
		memcpy(p->rr, x->rr_ms, x->n_rr * sizeof(double));
	*s->pending_tail = p;
	s->pending_tail = &p->next;
	s->n_pending++;
	/*
	 * A fast source (a replay at --speed 0) can outrun the commit timer:
	 * commit at once when half the queue is used, so the queue's bound
	 * only ever drops samples while the database cannot be written.
	 */
	if (!s->degraded && s->n_pending >= s->max_pending / 2) {
		(void)store_flush(s); /* on failure the store is degraded and retries */
		return;
	}
	arm_commit(s, s->commit_interval_us);
}

static void on_session_ended(struct store *s, const struct monitor_session *ms)
{
	struct store_session *ss = find_session(s, ms->id);
	_cleanup_(cJSON_Deletep) cJSON *json = NULL;

	if (!ss)
		return;
	json = monitor_session_to_json(ms, monitor_boot_us());
	free(ss->summary);
	ss->summary = json ? cJSON_PrintUnformatted(json) : NULL;
	ss->ended = true;
	ss->ended_us = ms->ended_at_us;
	ss->dirty = true;
	arm_commit(s, s->commit_interval_us);
}

static void on_event(const struct monitor_event *ev, void *user_data)
{
	struct store *s = user_data;

	switch (ev->type) {
	case MONITOR_EVENT_DEVICE_ADDED:
		on_device(s, ev->device, ev->device->last_seen_us);
		arm_commit(s, s->commit_interval_us);
		break;
	case MONITOR_EVENT_DEVICE_CHANGED:
		on_device(s, ev->device, ev->device->last_seen_us);
		break;
	case MONITOR_EVENT_SAMPLE:
		on_device(s, ev->device, ev->at_us);
		on_sample(s, ev);
		break;
	case MONITOR_EVENT_SESSION_STARTED:
		on_session_started(s, ev->session);
		break;
	case MONITOR_EVENT_SESSION_ENDED:
		on_session_ended(s, ev->session);
		break;
	case MONITOR_EVENT_MILESTONE:
	case MONITOR_EVENT_ZONE_CHANGED:
		break;
	case _MONITOR_EVENT_MAX:
	case _MONITOR_EVENT_INVALID:
		break;
	}
}

int store_attach(struct store *s, struct monitor *m)
{
	store_detach(s);
	s->observer_id = monitor_observer_register(m, on_event, s, NULL);
	if (s->observer_id == 0)
		return -ENOMEM;
	s->monitor = m;
	return 0;
}

void store_detach(struct store *s)
{
	if (s->monitor && s->observer_id)
		monitor_observer_unregister(s->monitor, s->observer_id);
	s->monitor = NULL;
	s->observer_id = 0;
}

bool store_degraded(const struct store *s, const char **ret_reason)
{
	if (ret_reason)
		*ret_reason = s->degraded ? s->reason : NULL;
	return s->degraded;
}

size_t store_pending_samples(const struct store *s)
{
	return s->n_pending;
}

int store_health_json(const struct store *s, cJSON *health)
{
	cJSON *o = cJSON_AddObjectToObject(health, "store");

	if (!o || !cJSON_AddStringToObject(o, "path", s->path) ||
	    !cJSON_AddStringToObject(o, "status", s->degraded ? "degraded" : "ok") ||
	    !cJSON_AddNumberToObject(o, "pending_samples", (double)s->n_pending) ||
	    !cJSON_AddNumberToObject(o, "dropped_samples", (double)s->dropped) ||
	    !cJSON_AddNumberToObject(o, "commits", (double)s->commits))
		return -ENOMEM;
	if (s->degraded && !cJSON_AddStringToObject(o, "reason", s->reason))
		return -ENOMEM;
	return 0;
}

/* For store-summary.c and store-read.c (store-internal.h). */

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret)
{
	return prepare(s, sql, ret);
}

struct store_session *store_find_session(struct store *s, uint64_t id)
{
	return find_session(s, id);
}

sqlite3 *store_db(struct store *s)
{
	return s->db;
}

char *store_profile_to_json(const struct cd_profile *p)
{
	return profile_to_json(p);
}

char *store_rr_to_text(const double *rr, size_t n)
{
	return rr_to_text(rr, n);
}

int store_errno(int sqlite_rc)
{
	return sqlite_to_errno(sqlite_rc);
}

void store_note_session_id(struct store *s, uint64_t id)
{
	if (id >= s->next_id)
		s->next_id = id + 1;
}

int store_each_memory_session(struct store *s,
			      int (*cb)(void *ud, const struct store_memory_session *ms), void *ud)
{
	for (struct store_session *ss = s->sessions; ss; ss = ss->next) {
		struct store_memory_session ms = {
			.id = ss->id,
			.device_id = ss->device_id,
			.started_us = ss->started_us,
			.ended_us = ss->ended_us,
			.ended = ss->ended,
			.summary = ss->summary,
		};
		int r = cb(ud, &ms);

		if (r < 0)
			return r;
	}
	return 0;
}