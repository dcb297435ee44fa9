/* SPDX-License-Identifier: MIT */
/*
 * daemon/store.c on a temporary database: batching, the same figures
 * after recomputation, crash recovery, the CSV export, and refusing files
 * that are not (healthy) databases without touching them.
 */
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cleanup.h"
#include "cleanup-json.h"
#include "csv.h"
#include "store.h"

#define SEC 1000000ULL


static char dir[] = "/tmp/test-store-XXXXXX";
static char path[256];

/* GET /sessions as daemon/front.c builds it from the store's page of ids. */
static int sessions_json(struct store *s, unsigned limit, uint64_t before, uint64_t since,
			 cJSON **ret, uint64_t *ret_next)
{
	_cleanup_free_ uint64_t *ids = NULL;
	cJSON *a = cJSON_CreateArray();
	size_t n = 0;
	int r;

	r = store_sessions_page(s, limit, before, since, &ids, &n, ret_next);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_(cJSON_Deletep) cJSON *full = NULL;

		r = store_session_json(s, ids[i], &full);
		if (r >= 0)
			cJSON_AddItemToArray(a, cd_session_summary(full));
	}
	if (r < 0) {
		cJSON_Delete(a);
		return r;
	}
	*ret = a;
	return 0;
}

static double num(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItem(o, a);

	if (b)
		v = cJSON_GetObjectItem(v, b);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static long long query_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -2;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Feed n samples of a ramp with RR (and a contact loss) to device d from t0. */
static void feed(struct monitor *m, struct monitor_device *d, uint64_t t0, int n)
{
	for (int i = 0; i < n; i++) {
		double rr[3] = { 60000.0 / (100 + i), 60000.0 / (101 + i), 976.5625 };
		struct cd_sample x = {
			.bpm = 100 + i % 60,
			.contact = i == 7 ? CD_CONTACT_LOST : CD_CONTACT_OK,
			.energy_kj = i,
			.rr_ms = rr,
			.n_rr = 1 + (size_t)(i % 3),
		};

		/* Uneven spacing, with one gap longer than max_gap_s. */
		monitor_feed(m, d, &x, t0 + (uint64_t)i * 1100001 + (i > 20 ? 9 * SEC : 0));
	}
}

/* Session id's samples through a reader, as CSV into f: how many, or a negative errno. */
static int export_csv(struct store *s, uint64_t id, FILE *f)
{
	_cleanup_(store_samples_freep) struct store_samples *r = NULL;
	struct cd_sample x;
	int k, n = 0;

	k = store_samples_open(s, id, &r);
	if (k < 0)
		return k;
	k = cd_csv_write_header(f);
	while (k >= 0 && (k = store_samples_next(r, &x)) > 0) {
		k = cd_csv_write_sample(f, &x);
		n++;
	}
	return k < 0 ? k : n;
}

static void test_roundtrip(sd_event *e, struct cd_config *c)
{
	_cleanup_(store_freep) struct store *s = NULL;
	_cleanup_(monitor_freep) struct monitor *m = NULL;
	_cleanup_(cJSON_Deletep) cJSON *live = NULL, *stored = NULL, *list = NULL, *samples = NULL;
	struct store_config sc = { .path = path, .commit_interval_s = 1 };
	struct monitor_config mc = { .config = c };
	struct monitor_device *d;
	struct monitor_session *ms;
	uint64_t t0 = 1700000000ULL * SEC, next = 99;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	CHECK_INT(store_open(e, &sc, &s), 0);
	CHECK_INT(store_next_session_id(s), 1);
	mc.first_session_id = store_next_session_id(s);
	CHECK_INT(monitor_new(e, &mc, &m), 0);
	CHECK_INT(store_attach(s, m), 0);
	monitor_device_add(m, "sim-1", "Strap 1", CD_TRANSPORT_SIM, &d);
	feed(m, d, t0, 40);
	CHECK_INT(store_pending_samples(s), 40);
	/* Nothing is written before the commit. */
	CHECK_INT(query_int("SELECT COUNT(*) FROM samples"), 0);
	CHECK_INT(store_flush(s), 0);
	CHECK_INT(store_pending_samples(s), 0);
	CHECK_INT(query_int("SELECT COUNT(*) FROM samples"), 40);
	CHECK_INT(query_int("SELECT COUNT(*) FROM sessions WHERE ended_at_us IS NULL"), 1);
	CHECK_INT(query_int("PRAGMA user_version"), 2);

	CHECK_INT(monitor_stop(m, "sim-1", &ms), 0);
	live = monitor_session_to_json(ms, monitor_boot_us());
	CHECK_INT(store_flush(s), 0);
	CHECK_INT(query_int("SELECT COUNT(*) FROM sessions WHERE ended_at_us IS NOT NULL"), 1);

	/* The stored session has the live figures. */
	CHECK_INT(store_session_json(s, 0, &stored), 0);
	CHECK(stored != NULL);
	CHECK_NEAR(num(stored, "id", NULL), 1, 0);
	CHECK_NEAR(num(stored, "active_s", NULL), num(live, "active_s", NULL), 1e-12);
	CHECK_NEAR(num(stored, "gap_s", NULL), num(live, "gap_s", NULL), 1e-12);
	CHECK_NEAR(num(stored, "hrv", "rmssd_ms"), num(live, "hrv", "rmssd_ms"), 1e-12);
	CHECK_NEAR(num(stored, "load", "trimp_banister"), num(live, "load", "trimp_banister"), 1e-12);
	CHECK_STR(cJSON_GetObjectItem(stored, "state")->valuestring, "ended");

	CHECK_INT(sessions_json(s, 10, 0, 0, &list, &next), 0);
	CHECK_INT(cJSON_GetArraySize(list), 1);
	CHECK_INT(next, 0);
	CHECK_INT(store_session_json(s, 77, &samples), -ENOENT);
	{
		struct store_samples *r = NULL;

		CHECK_INT(store_samples_open(s, 77, &r), -ENOENT);
		CHECK(r == NULL);
	}

	/* The CSV export re-analyses to the same figures, bit for bit. */
	f = open_memstream(&buf, &size);
	CHECK_INT(export_csv(s, 1, f), 40);
	fclose(f);
	{
		_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *rd = NULL;
		_cleanup_(cd_engine_freep) struct cd_engine *eng = NULL;
		struct cd_sample x;
		int k;

		CHECK_INT(cd_csv_reader_new(buf, size, &rd), 0);
		CHECK_INT(cd_engine_new(cd_config_profile_for(c, "sim-1"), &c->engine, NULL, &eng), 0);
		while ((k = cd_csv_reader_next(rd, &x)) > 0)
			cd_engine_add(eng, &x);
		CHECK_INT(k, 0);
		CHECK(cd_engine_totals(eng)->active_s == num(live, "active_s", NULL));
		CHECK(cd_engine_rmssd(eng) == num(live, "hrv", "rmssd_ms"));
	}
	free(buf);
	store_detach(s);
}

/* A crash: samples committed, session never closed; reopening closes and recomputes it. */
static void test_recovery(sd_event *e, struct cd_config *c)
{
	_cleanup_(cJSON_Deletep) cJSON *live = NULL, *stored = NULL;
	struct store_config sc = { .path = path, .commit_interval_s = 1 };
	struct monitor_config mc = { .config = c };
	struct monitor_device *d;
	struct store *s;
	struct monitor *m;
	uint64_t t0 = 1700001000ULL * SEC;

	CHECK_INT(store_open(e, &sc, &s), 0);
	CHECK_INT(store_next_session_id(s), 2);
	mc.first_session_id = store_next_session_id(s);
	monitor_new(e, &mc, &m);
	store_attach(s, m);
	monitor_device_add(m, "sim-2", NULL, CD_TRANSPORT_SIM, &d);
	feed(m, d, t0, 30);
	CHECK_INT(store_flush(s), 0);
	live = monitor_session_to_json(d->session, t0);
	/* Crash: neither a close nor a flush of what follows. */
	feed(m, d, t0 + 60 * SEC, 3);
	store_free(s);
	monitor_free(m);

	CHECK_INT(store_open(e, &sc, &s), 0);
	CHECK_INT(query_int("SELECT COUNT(*) FROM sessions WHERE ended_at_us IS NULL"), 0);
	CHECK_INT(query_int("SELECT ended_at_us - started_at_us FROM sessions WHERE id = 2"),
		  llround(num(live, "duration_s", NULL) * 1e6));
	CHECK_INT(store_session_json(s, 2, &stored), 0);
	/* The cached summary went through cJSON's text (15 significant digits). */
	CHECK_NEAR(num(stored, "active_s", NULL), num(live, "active_s", NULL), 1e-12);
	CHECK_NEAR(num(stored, "samples", NULL), num(live, "samples", NULL), 0);
	CHECK_NEAR(num(stored, "dose", "mvpa_s"), num(live, "dose", "mvpa_s"), 1e-12);
	CHECK_NEAR(num(stored, "hrv", "rmssd_ms"), num(live, "hrv", "rmssd_ms"), 1e-12);
	CHECK_STR(cJSON_GetObjectItem(stored, "state")->valuestring, "ended");
	store_free(s);
}

/* Samples as a reader hands them out, copied (RR values included). */
struct copy {
	struct cd_sample x;
	double rr[4];
};

static void feed_varied(struct monitor *m, struct monitor_device *d, uint64_t t0, int from, int n)
{
	for (int i = from; i < from + n; i++) {
		double rr[3] = { 500 + i, 510 + i, 520.25 + i };
		struct cd_sample x = {
			.bpm = 100 + i % 60,
			.contact = i % 3 == 0 ? CD_CONTACT_OK : i % 3 == 1 ? CD_CONTACT_UNKNOWN
									     : CD_CONTACT_LOST,
			.energy_kj = i % 5 == 0 ? NAN : i * 0.5,
			.rr_ms = rr,
			.n_rr = (size_t)(i % 4 == 3 ? 0 : 1 + i % 3),
		};

		monitor_feed(m, d, &x, t0 + (uint64_t)i * SEC / 4);
	}
}

/* Read up to n samples from r into out; how many. */
static int read_some(struct store_samples *r, struct copy *out, int n)
{
	struct cd_sample x;
	int i = 0, k = 0;

	while (i < n && (k = store_samples_next(r, &x)) > 0) {
		CHECK(x.n_rr <= 3);
		out[i].x = x;
		if (x.n_rr > 0)
			memcpy(out[i].rr, x.rr_ms, x.n_rr * sizeof(double));
		out[i].x.rr_ms = out[i].rr;
		i++;
	}
	CHECK(k >= 0);
	return i;
}

static bool same(const struct copy *a, const struct copy *b)
{
	return a->x.t == b->x.t && a->x.bpm == b->x.bpm && a->x.contact == b->x.contact &&
	       (a->x.energy_kj == b->x.energy_kj || (isnan(a->x.energy_kj) && isnan(b->x.energy_kj))) &&
	       a->x.n_rr == b->x.n_rr && memcmp(a->rr, b->rr, a->x.n_rr * sizeof(double)) == 0;
}

/*
 * The reader of GET /sessions/{id}/samples: pages of committed rows, then
 * the queue; a commit while it reads (the queue moving into the file) is
 * followed without a sample lost or repeated; samples arriving after the
 * open are left out; a store freed under it is reported.
 */
static void test_reader(sd_event *e, struct cd_config *c)
{
	char p2[300];
	struct store_config sc = { .path = p2, .commit_interval_s = 60 };
	struct monitor_config mc = { .config = c };
	_cleanup_free_ struct copy *got = calloc(2000, sizeof(*got)), *ref = calloc(2000, sizeof(*ref));
	struct store_samples *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
	struct monitor_device *d, *d2;
	struct monitor *m;
	struct store *s;
	uint64_t t0 = 1700002000ULL * SEC, id;
	struct cd_sample x;
	int n, bad = 0;

	if (!got || !ref)
		abort();
	snprintf(p2, sizeof(p2), "%s/reader.db", dir);
	CHECK_INT(store_open(e, &sc, &s), 0);
	mc.first_session_id = store_next_session_id(s);
	CHECK_INT(monitor_new(e, &mc, &m), 0);
	CHECK_INT(store_attach(s, m), 0);
	monitor_device_add(m, "sim-3", NULL, CD_TRANSPORT_SIM, &d);
	monitor_device_add(m, "sim-4", NULL, CD_TRANSPORT_SIM, &d2);
	/* Another session's samples interleave with this one's, in the file and the queue. */
	feed_varied(m, d, t0, 0, 300);
	feed_varied(m, d2, t0, 0, 100);
	feed_varied(m, d, t0, 300, 300);
	id = d->session->id;
	CHECK(d2->session->id != id);
	CHECK_INT(store_flush(s), 0);
	feed_varied(m, d, t0, 600, 150);
	feed_varied(m, d2, t0, 100, 50);
	feed_varied(m, d, t0, 750, 150);
	CHECK_INT(store_pending_samples(s), 350);

	/* r1: 600 committed + 300 queued. */
	CHECK_INT(store_samples_open(s, id, &r1), 0);
	n = read_some(r1, got, 700); /* three pages of rows, then into the queue */
	CHECK_INT(n, 700);
	/* Later samples, then a commit that moves the queue into the file. */
	feed_varied(m, d, t0, 900, 50);
	CHECK_INT(store_flush(s), 0);
	n += read_some(r1, got + n, 2000 - n);
	CHECK_INT(n, 900);
	CHECK_INT(store_samples_next(r1, &x), 0);
	CHECK_INT(store_samples_next(r1, &x), 0);

	/* r2 opened now sees 950 and, with more queued, those too. */
	feed_varied(m, d, t0, 950, 20);
	CHECK_INT(store_samples_open(s, id, &r2), 0);
	feed_varied(m, d, t0, 970, 5); /* after the open: not in r2 */
	CHECK_INT(read_some(r2, ref, 2000), 970);

	/* The same samples, whether they came from the queue or the file. */
	CHECK_INT(store_flush(s), 0);
	CHECK_INT(store_samples_open(s, id, &r4), 0);
	CHECK_INT(read_some(r4, ref, 2000), 975);
	for (int i = 0; i < 900; i++)
		if (!same(&got[i], &ref[i]) && bad++ < 3)
			fprintf(stderr, "sample %d differs: t %g vs %g\n", i, got[i].x.t, ref[i].x.t);
	CHECK_INT(bad, 0);
	for (int i = 1; i < 975; i++)
		CHECK(ref[i].x.t > ref[i - 1].x.t);

	/* A store freed under an open reader: the reader says so. */
	CHECK_INT(store_samples_open(s, id, &r3), 0);
	store_detach(s);
	s = store_free(s);
	CHECK_INT(store_samples_next(r3, &x), -ESHUTDOWN);
	r1 = store_samples_free(r1);
	r2 = store_samples_free(r2);
	r3 = store_samples_free(r3);
	r4 = store_samples_free(r4);
	monitor_free(m);
}

static void file_hash(const char *p, unsigned long long *ret)
{
	FILE *f = fopen(p, "rb");
	unsigned long long h = 1469598103934665603ULL;
	int ch;

	while (f && (ch = fgetc(f)) != EOF)
		h = (h ^ (unsigned)ch) * 1099511628211ULL;
	if (f)
		fclose(f);
	*ret = h;
}

static void test_refusals(sd_event *e)
{
	char bad[300];
	struct store_config sc = { .path = bad, .commit_interval_s = 1 };
	struct store *s = NULL;
	unsigned long long h1, h2;
	FILE *f;

	/* Not a database. */
	snprintf(bad, sizeof(bad), "%s/not-a-db", dir);
	f = fopen(bad, "w");
	fputs("hello, this is not SQLite\n", f);
	fclose(f);
	file_hash(bad, &h1);
	CHECK(store_open(e, &sc, &s) < 0);
	file_hash(bad, &h2);
	CHECK(h1 == h2);

	/* A database with a damaged page. */
	snprintf(bad, sizeof(bad), "%s/corrupt.db", dir);
	{
		sqlite3 *db;

		sqlite3_open(bad, &db);
		sqlite3_exec(db,
			     "CREATE TABLE t (x TEXT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
			     "SELECT i + 1 FROM c WHERE i < 2000) INSERT INTO t SELECT "
			     "printf('%0500d', i) FROM c;",
			     NULL, NULL, NULL);
		sqlite3_close(db);
	}
	{
		int fd = open(bad, O_WRONLY);
		char junk[4096];

		memset(junk, 0xa5, sizeof(junk));
		pwrite(fd, junk, sizeof(junk), 4096 * 3);
		close(fd);
	}
	file_hash(bad, &h1);
	CHECK(store_open(e, &sc, &s) < 0);
	file_hash(bad, &h2);
	CHECK(h1 == h2);

	/* A newer schema than this cardiod knows. */
	snprintf(bad, sizeof(bad), "%s/newer.db", dir);
	{
		sqlite3 *db;

		sqlite3_open(bad, &db);
		sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
		sqlite3_close(db);
	}
	file_hash(bad, &h1);
	CHECK(store_open(e, &sc, &s) < 0);
	file_hash(bad, &h2);
	CHECK(h1 == h2);

	/* A missing folder is created. */
	snprintf(bad, sizeof(bad), "%s/a/b/new.db", dir);
	CHECK_INT(store_open(e, &sc, &s), 0);
	s = store_free(s);
}

static void exec_sql(const char *db_path, const char *sql)
{
	sqlite3 *db;

	CHECK_INT(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * Issue 11: /sessions pages on (started_at, id), so sessions that share a
 * started_at are never skipped by next_before, whatever the page size.
 */
static void test_paging_ties(sd_event *e, struct cd_config *c)
{
	char p3[300];
	struct store_config sc = { .path = p3, .commit_interval_s = 60 };
	struct monitor_config mc = { .config = c };
	struct monitor_device *d;
	struct monitor *m;
	struct store *s;
	char name[16];

	snprintf(p3, sizeof(p3), "%s/paging.db", dir);
	CHECK_INT(store_open(e, &sc, &s), 0);
	mc.first_session_id = store_next_session_id(s);
	CHECK_INT(monitor_new(e, &mc, &m), 0);
	CHECK_INT(store_attach(s, m), 0);
	for (int i = 1; i <= 7; i++) {
		snprintf(name, sizeof(name), "sim-%d", i);
		monitor_device_add(m, name, NULL, CD_TRANSPORT_SIM, &d);
		feed(m, d, 1700003000ULL * SEC, 3);
		monitor_device_close(d);
	}
	CHECK_INT(store_flush(s), 0);
	store_free(s);
	monitor_free(m);
	/* Sessions 2-4 start together, 5-7 too (1 is the oldest). */
	exec_sql(p3, "UPDATE sessions SET started_at_us = 1700000000000000 + id * 1000000 "
		     "WHERE id = 1;"
		     "UPDATE sessions SET started_at_us = 1700000100000000 WHERE id BETWEEN 2 AND 4;"
		     "UPDATE sessions SET started_at_us = 1700000200000000 WHERE id >= 5;");
	CHECK_INT(store_open(e, &sc, &s), 0);
	for (unsigned limit = 1; limit <= 8; limit++) {
		bool seen[8] = {};
		uint64_t before = 0, next;
		unsigned total = 0, pages = 0;

		do {
			_cleanup_(cJSON_Deletep) cJSON *list = NULL;
			cJSON *it;

			CHECK_INT(sessions_json(s, limit, before, 0, &list, &next), 0);
			cJSON_ArrayForEach(it, list) {
				int id = (int)num(it, "id", NULL);

				if (id >= 1 && id <= 7 && !seen[id])
					seen[id] = true;
				else
					CHECK(!"a session listed twice or unknown");
				total++;
			}
			CHECK(next == 0 || next < (before ? before : UINT64_MAX));
			before = next;
		} while (next != 0 && ++pages < 20);
		if (total != 7)
			fprintf(stderr, "limit %u: %u sessions listed\n", limit, total);
		CHECK_INT(total, 7);
	}
	store_free(s);
}

int main(void)
{
	_cleanup_(sd_event_unrefp) sd_event *e = NULL;
	_cleanup_free_ char *err = NULL;
	struct cd_config c;
	char cmd[300];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/cardiod.db", dir);
	CHECK_INT(sd_event_new(&e), 0);
	cd_config_init(&c);
	CHECK_INT(cd_config_finish(&c, "test", &err), 0);

	test_roundtrip(e, &c);
	test_recovery(e, &c);
	test_reader(e, &c);
	test_refusals(e);
	test_paging_ties(e, &c);

	cd_config_done(&c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return check_exit("test-store");
}
