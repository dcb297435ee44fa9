/* SPDX-License-Identifier: MIT */
/*
 * cd_http end to end: the server runs on a real sd-event loop in this
 * process with fake ops (a recorder); a forked child speaks raw HTTP/1.1
 * over TCP to 127.0.0.1 and checks every endpoint, status and header,
 * plus the limits (soft connection cap with eviction, idle timeout and
 * request deadline, oversize requests, smuggling attempts).
 * Raw sockets rather than curl: the interesting requests (two Host
 * headers, none, absolute-form, slowloris) are ones curl will not send.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "config.h" /* CARDIOD_VERSION */
#include "cleanup.h"
#include "csv.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

/* ---- the fake daemon (parent) ---- */

struct recorder {
	unsigned session_calls, sessions_calls, samples_calls, devices_calls;
	unsigned samples_opened, samples_freed;
	unsigned start_calls, stop_calls, health_calls, metrics_calls;
	char last_device[64], last_kind[64];
	bool active;
};

static cJSON *session_object(uint64_t id, bool active)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddNumberToObject(j, "id", (double)id);
	cJSON_AddStringToObject(j, "state", active ? "active" : "ended");
	cJSON_AddStringToObject(j, "started_at", "2024-05-01T10:20:30.123Z");
	return j;
}

static int fake_session(void *userdata, uint64_t id, cJSON **ret)
{
	struct recorder *rec = userdata;

	rec->session_calls++;
	if (id > 3)
		return -ENOENT;
	*ret = session_object(id == 0 ? 3 : id, false);
	cJSON_AddNumberToObject(*ret, "built", rec->session_calls); /* to see the cache */
	return 0;
}

static int fake_sessions(void *userdata, unsigned limit, uint64_t before_us, uint64_t since_us,
			 cJSON **ret, uint64_t *ret_next)
{
	struct recorder *rec = userdata;
	cJSON *a = cJSON_CreateArray(), *echo = cJSON_CreateObject();

	rec->sessions_calls++;
	/* Echo the arguments so the client can check what reached the ops. */
	cJSON_AddNumberToObject(echo, "limit", limit);
	cJSON_AddNumberToObject(echo, "before_us", (double)before_us);
	cJSON_AddNumberToObject(echo, "since_us", (double)since_us);
	cJSON_AddItemToArray(a, echo);
	*ret = a;
	*ret_next = limit == 1 ? UINT64_C(1714558830123456) : 0;
	return 0;
}

/*
 * Samples: session 1 has BIG_SESSION of them (many blocks of the answer),
 * 2 has two, 3 fails after FAIL_AFTER (the answer is cut short), 4 fails
 * at once (500).  Sample i: t = i, bpm 120 + i % 50, RR [500 + i, 510]
 * and contact 1 for even i, no RR and unknown contact for odd i.
 */
#define BIG_SESSION 100000u
#define FAIL_AFTER 3000u

struct fake_reader {
	struct cd_front_samples base;
	struct recorder *rec;
	unsigned i, n, fail_at; /* fail_at: next fails there (UINT_MAX: never) */
	double rr[2];
};

static void fake_sample(unsigned i, double rr[2], struct cd_sample *x)
{
	rr[0] = 500 + i;
	rr[1] = 510;
	*x = (struct cd_sample){
		.t = i,
		.bpm = 120 + i % 50,
		.contact = i % 2 ? CD_CONTACT_UNKNOWN : CD_CONTACT_OK,
		.energy_kj = i % 4 == 2 ? i / 8.0 : NAN,
		.rr_ms = i % 2 ? NULL : rr,
		.n_rr = i % 2 ? 0 : 2,
	};
}

static int fake_next(struct cd_front_samples *it, struct cd_sample *ret)
{
	struct fake_reader *r = (struct fake_reader *)it;

	if (r->i == r->fail_at)
		return -EIO;
	if (r->i == r->n)
		return 0;
	fake_sample(r->i++, r->rr, ret);
	return 1;
}

static void fake_free(struct cd_front_samples *it)
{
	struct fake_reader *r = (struct fake_reader *)it;

	r->rec->samples_freed++;
	free(r);
}

static int fake_samples(void *userdata, uint64_t id, struct cd_front_samples **ret)
{
	struct recorder *rec = userdata;
	struct fake_reader *r;

	rec->samples_calls++;
	if (id == 0 || id > 4)
		return -ENOENT;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct fake_reader){
		.base = { .next = fake_next, .free = fake_free },
		.rec = rec,
		.n = id == 1 ? BIG_SESSION : id == 2 ? 2 : BIG_SESSION,
		.fail_at = id == 3 ? FAIL_AFTER : id == 4 ? 0 : UINT_MAX,
	};
	rec->samples_opened++;
	*ret = &r->base;
	return 0;
}

static int fake_devices(void *userdata, cJSON **ret)
{
	struct recorder *rec = userdata;

	rec->devices_calls++;
	*ret = cJSON_Parse("[{\"id\":\"sim-1\",\"name\":\"Simulated strap\",\"transport\":\"sim\"}]");
	return 0;
}

static int fake_start(void *userdata, const struct cd_caller *who, const char *device,
		      const char *kind, cJSON **ret)
{
	struct recorder *rec = userdata;

	/* HTTP reaches a command only after the token check, so it may manage. */
	if (!who || !who->may_manage || strcmp(who->via, "http") != 0)
		return -EPERM;

	rec->start_calls++;
	snprintf(rec->last_device, sizeof(rec->last_device), "%s", device ? device : "(null)");
	snprintf(rec->last_kind, sizeof(rec->last_kind), "%s", kind ? kind : "(null)");
	if (device && strcmp(device, "sim-9") == 0)
		return -ENOENT;
	rec->active = true;
	*ret = session_object(4, true);
	cJSON_AddStringToObject(*ret, "device", device ? device : "(null)");
	cJSON_AddStringToObject(*ret, "kind", kind ? kind : "(null)");
	return 0;
}

static int fake_stop(void *userdata, const struct cd_caller *who, const char *device,
		     uint64_t session, cJSON **ret)
{
	struct recorder *rec = userdata;

	if (!who || !who->may_manage || session != 0)
		return -EPERM;

	rec->stop_calls++;
	if (!rec->active)
		return CD_FRONT_ENOTACTIVE;
	rec->active = false;
	*ret = session_object(4, false);
	return 0;
}

static int fake_health(void *userdata, cJSON **ret)
{
	struct recorder *rec = userdata;

	rec->health_calls++;
	*ret = cJSON_Parse("{\"status\":\"ok\"}");
	return 0;
}

/*
 * /metrics (api/prometheus.c) lists the straps once per family: one strap
 * whose id needs every escape; the third scrape fails.
 */
static int fake_each_device(void *userdata, void (*fn)(const struct cd_front_device *d, void *ctx),
			    void *ctx)
{
	struct recorder *rec = userdata;
	struct cd_front_device v = {
		.id = "a\"b\\c\nd",
		.name = "evil",
		.transport = "sim",
		.connected = true,
		.battery_pct = 80,
		.last_valid_us = 1,
		.bpm = 120.5,
		.zone = 2,
		.samples_total = 3,
		.zone_s_total = { 0, 1.5, 2, 0, 0, 0 },
	};

	if (++rec->metrics_calls == 3 * 5)
		return -EIO;
	fn(&v, ctx);
	return 0;
}

static int fake_week(void *userdata, struct cd_front_week *ret)
{
	*ret = (struct cd_front_week){ .today_min = 1.5, .week_min = 30 };
	return 0;
}

static const struct cd_front_ops fake_ops = {
	.session = fake_session,
	.sessions = fake_sessions,
	.samples = fake_samples,
	.devices = fake_devices,
	.start = fake_start,
	.stop = fake_stop,
	.health = fake_health,
	.each_device = fake_each_device,
	.week = fake_week,
};

/* A daemon without /metrics: 501. */
static const struct cd_front_ops fake_ops_no_metrics = {
	.health = fake_health,
};

/* ---- the client (child) ---- */

#include "raw-http.h"

static unsigned port_a, port_b, port_c;
static unsigned port_d, port_e; /* sharing one struct cd_http_stats; e has no metrics op */
static unsigned port_k; /* its cache outlives the client's 90 s deadline */

/*
 * Every response: no CORS at all; and on our own answers (not the few
 * MHD writes itself, e.g. 431) the privacy headers.
 */
static void check_common(const struct reply *r, const char *what, bool ours)
{
	const char *v;

	if (header(r, "Access-Control-Allow-Origin") || strcasestr(r->raw, "access-control-")) {
		fprintf(stderr, "%s: CORS header sent\n", what);
		CHECK(false);
	}
	if (r->status == 0 || !ours)
		return;
	v = header(r, "Cache-Control");
	if (!v || strcmp(v, "no-store") != 0) {
		fprintf(stderr, "%s: Cache-Control %s\n", what, v ? v : "missing");
		CHECK(false);
	}
	v = header(r, "X-Content-Type-Options");
	if (!v || strcmp(v, "nosniff") != 0) {
		fprintf(stderr, "%s: X-Content-Type-Options %s\n", what, v ? v : "missing");
		CHECK(false);
	}
}

/*
 * Send raw (a full request; "{PORT}" is not substituted: callers use
 * localhost without a port where it does not matter) and check the status
 * and, for errors, the JSON error code.  Returns the parsed body (caller
 * frees) for 2xx JSON answers.
 */
static cJSON *expect(uint16_t port, const char *raw, int status, const char *code)
{
	struct reply r;
	cJSON *j = NULL;
	const char *ct;

	request(port, raw, strlen(raw), &r);
	if (r.status != status) {
		fprintf(stderr, "port %u: expected %d, got %d%s for:\n%s\n--- reply:\n%s\n", port, status, r.status,
			r.timed_out ? " (timed out)" : "",
			raw, r.raw);
		CHECK(false);
		reply_done(&r);
		return NULL;
	}
	check_common(&r, raw, true);
	ct = header(&r, "Content-Type");
	if (strncmp(raw, "HEAD ", 5) == 0) {
		CHECK_INT(strlen(r.body), 0);
		CHECK(header(&r, "Content-Length") && atoi(header(&r, "Content-Length")) > 0);
		reply_done(&r);
		return NULL;
	}
	if (ct && strcmp(ct, "text/csv; charset=utf-8") == 0) {
		j = cJSON_CreateString(r.body); /* the caller inspects the CSV text */
		reply_done(&r);
		return j;
	}
	if (!ct || strcmp(ct, "application/json; charset=utf-8") != 0) {
		fprintf(stderr, "Content-Type %s for:\n%s\n", ct ? ct : "missing", raw);
		CHECK(false);
	}
	j = cJSON_Parse(r.body);
	if (!j) {
		fprintf(stderr, "not JSON: %s\n", r.body);
		CHECK(false);
	} else if (code) {
		cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		CHECK(cJSON_IsObject(e));
		CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code")), code);
		CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
	}
	if (status == 405) {
		const char *allow = header(&r, "Allow");
		CHECK(allow != NULL);
	}
	reply_done(&r);
	return j;
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
/* The servers' bearer token (DESIGN §9.7): every request but GET/HEAD carries it. */
#define TEST_TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define AUTH "Authorization: Bearer " TEST_TOKEN "\r\n"
static char *post(const char *path, const char *content_type, const char *body)
{
	char *s = NULL;
	if (asprintf(&s,
		     "POST %s HTTP/1.1\r\nHost: localhost\r\n" AUTH "Connection: close\r\n%s%s%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     path, content_type ? "Content-Type: " : "", content_type ? content_type : "",
		     content_type ? "\r\n" : "", strlen(body), body) < 0)
		abort();
	return s;
}

static void expect_post(const char *path, const char *ct, const char *body, int status,
			const char *code)
{
	_cleanup_free_ char *raw = post(path, ct, body);
	cJSON_Delete(expect((uint16_t)port_a, raw, status, code));
}

static void test_gets(void)
{
	uint16_t p = (uint16_t)port_a;
	cJSON *j;

	j = expect(p, GET("/session"), 200, NULL);
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id")), 3);
	cJSON_Delete(j);
	expect(p, "HEAD /session HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200, NULL);

	j = expect(p, GET("/sessions"), 200, NULL);
	{
		cJSON *list = cJSON_GetObjectItem(j, "sessions"), *echo = cJSON_GetArrayItem(list, 0);
		CHECK(cJSON_IsArray(list));
		CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(echo, "limit")), 20);
		CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(echo, "before_us")), 0);
		CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "next_before")));
	}
	cJSON_Delete(j);
	j = expect(p, GET("/sessions?limit=1&before=2024-05-01T10:20:30.123Z&since=1700000000"),
		   200, NULL);
	{
		cJSON *echo = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sessions"), 0);
		CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(echo, "limit")), 1);
		CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(echo, "before_us")),
			   1714558830123000.0, 0.5);
		CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(echo, "since_us")),
			   1700000000000000.0, 0.5);
		CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "next_before")),
			  "2024-05-01T10:20:30.123456Z");
	}
	cJSON_Delete(j);
	cJSON_Delete(expect(p, GET("/sessions?limit=0"), 400, "bad_query"));
	cJSON_Delete(expect(p, GET("/sessions?limit=1001"), 400, "bad_query"));
	cJSON_Delete(expect(p, GET("/sessions?limit=99999999999999999999999"), 400, "bad_query"));
	cJSON_Delete(expect(p, GET("/sessions?limit=1&limit=2"), 400, "bad_query"));
	cJSON_Delete(expect(p, GET("/sessions?foo=1"), 400, "bad_query"));
	cJSON_Delete(expect(p, GET("/sessions?before=yesterday"), 400, "bad_query"));
	cJSON_Delete(expect(p, GET("/session?x=1"), 400, "bad_query"));

	j = expect(p, GET("/sessions/2"), 200, NULL);
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id")), 2);
	cJSON_Delete(j);
	cJSON_Delete(expect(p, GET("/sessions/42"), 404, "not_found"));
	cJSON_Delete(expect(p, GET("/sessions/0"), 404, "not_found"));
	cJSON_Delete(expect(p, GET("/sessions/abc"), 400, "bad_id"));
	cJSON_Delete(expect(p, GET("/sessions/1x/samples"), 400, "bad_id"));

	j = expect(p, GET("/sessions/2/samples"), 200, NULL);
	CHECK(cJSON_IsArray(cJSON_GetObjectItem(j, "samples")));
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "samples")), 2);
	cJSON_Delete(j);
	j = expect(p, GET("/sessions/2/samples?format=csv"), 200, NULL);
	CHECK_STR(cJSON_GetStringValue(j), "t_s,bpm,rr_ms,contact\n0,120,500 510,1\n1,121,,\n");
	cJSON_Delete(j);
	cJSON_Delete(expect(p, GET("/sessions/42/samples?format=csv"), 404, "not_found"));
	cJSON_Delete(expect(p, GET("/sessions/2/samples?format=xml"), 400, "bad_query"));

	j = expect(p, GET("/devices"), 200, NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			  cJSON_GetArrayItem(cJSON_GetObjectItem(j, "devices"), 0), "id")),
		  "sim-1");
	cJSON_Delete(j);
	j = expect(p, GET("/healthz"), 200, NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "ok");
	cJSON_Delete(j);

	/* No event hub configured (api/http.h config.events NULL): 501. */
	cJSON_Delete(expect(p, GET("/events"), 501, "not_implemented"));
	cJSON_Delete(expect(p, GET("/nope"), 404, "not_found"));
	cJSON_Delete(expect(p, GET("/session/"), 404, "not_found"));
	cJSON_Delete(expect(p, GET("/%73ession"), 200, NULL));
	cJSON_Delete(expect(p, GET("/sess%zzion"), 400, "bad_request"));
	cJSON_Delete(expect(p, "GET http://localhost/session HTTP/1.1\r\nHost: localhost\r\n"
			       "Connection: close\r\n\r\n", 400, "bad_request"));
}

static double built(unsigned port)
{
	cJSON *j = expect((uint16_t)port, GET("/session"), 200, NULL);
	double n = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "built"));

	cJSON_Delete(j);
	return n;
}

/*
 * GET /session is built once per cache_ms and after every POST.  Judged by
 * the mechanism, never by hoping the machine is fast: on D the cache lasts
 * 120 s, longer than this client may live (on_deadline kills it at 90 s),
 * so repeated answers must be the same one; on A (100 ms) a sleep of 150 ms
 * must see a new one (sleeping can only last longer, never shorter).
 */
static void test_cache(void)
{
	_cleanup_free_ char *stop = post("/session/stop", "application/json", "");
	double n = built(port_k), a = built(port_k), b = built(port_k);

	CHECK_NEAR(a, n, 0);
	CHECK_NEAR(b, n, 0);
	n = built(port_a);
	usleep(150 * 1000);
	a = built(port_a);
	CHECK(a > n);
	CHECK_NEAR(built(port_k), b, 0); /* still D's cached answer */
	/* A POST drops the cached answer at once (stop with none active: 409):
	 * the next GET is one new build. */
	cJSON_Delete(expect((uint16_t)port_k, stop, 409, "no_active_session"));
	n = a;
	a = built(port_k);
	CHECK_NEAR(a, n + 1, 0);
	/* By id: never cached, and does not touch the cached /session. */
	cJSON_Delete(expect((uint16_t)port_k, GET("/sessions/3"), 200, NULL));
	cJSON_Delete(expect((uint16_t)port_k, GET("/sessions/3"), 200, NULL));
	b = built(port_k);
	CHECK_NEAR(b, a, 0);
}

static void test_methods(void)
{
	uint16_t p = (uint16_t)port_a;
	struct reply r;
	static const char del[] =
		"DELETE /session HTTP/1.1\r\nHost: localhost\r\n" AUTH "Connection: close\r\n\r\n";
	static const char get_start[] = GET("/session/start");

	request(p, del, strlen(del), &r);
	CHECK_INT(r.status, 405);
	CHECK_STR(header(&r, "Allow"), "GET, HEAD");
	check_common(&r, del, true);
	reply_done(&r);
	request(p, get_start, strlen(get_start), &r);
	CHECK_INT(r.status, 405);
	CHECK_STR(header(&r, "Allow"), "POST");
	reply_done(&r);
	expect_post("/session", "application/json", "", 405, "method_not_allowed");
	cJSON_Delete(expect(p, "OPTIONS /session HTTP/1.1\r\nHost: localhost\r\n" AUTH
			       "Connection: close\r\n\r\n",
			    405, "method_not_allowed"));
}

static void test_posts(void)
{
	cJSON *j;
	_cleanup_free_ char *raw = post("/session/start", "application/json; charset=utf-8",
					"{\"device\":\"sim-1\",\"kind\":\"aerobic\"}");

	j = expect((uint16_t)port_a, raw, 200, NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "device")), "sim-1");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kind")), "aerobic");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")), "active");
	cJSON_Delete(j);
	expect_post("/session/stop", "application/json", "", 200, NULL);             /* stop 1 */
	expect_post("/session/stop", "application/json", "{}", 409, "no_active_session"); /* stop 2 */
	expect_post("/session/start", "application/json", "", 200, NULL);            /* start 2 */
	expect_post("/session/start", "application/json", "{\"device\":\"sim-9\"}", 404, "not_found"); /* start 3 */

	/* Refused before the ops: none of these may reach fake_start. */
	expect_post("/session/start", NULL, "", 415, "unsupported_media_type");
	expect_post("/session/start", "text/plain", "{}", 415, "unsupported_media_type");
	expect_post("/session/start", "application/x-www-form-urlencoded", "device=sim-1", 415,
		    "unsupported_media_type");
	expect_post("/session/start", "multipart/form-data; boundary=x", "--x--", 415,
		    "unsupported_media_type");
	expect_post("/session/start", "application/json", "{", 400, "bad_json");
	expect_post("/session/start", "application/json", "{\"devise\":\"sim-1\"}", 400, "bad_body");
	expect_post("/session/start", "application/json", "{\"kind\":\"Aerobic!\"}", 400, "bad_kind");
	expect_post("/session/stop", "application/json", "{\"kind\":\"aerobic\"}", 400, "bad_body");
	expect_post("/session/start?kind=aerobic", "application/json", "", 400, "bad_query");

	/* 413: announced too large (answered before the body is read) … */
	{
		_cleanup_free_ char *big = malloc(5001);
		memset(big, ' ', 5000);
		big[5000] = '\0';
		expect_post("/session/start", "application/json", big, 413, "body_too_large");
	}
	/* … and chunked, found too large while reading. */
	{
		_cleanup_free_ char *req = NULL;
		char chunk[2048];
		size_t o = 0;

		memset(chunk, ' ', sizeof(chunk));
		req = malloc(16384);
		o += (size_t)sprintf(req, "POST /session/start HTTP/1.1\r\nHost: localhost\r\n" AUTH
					  "Connection: close\r\nContent-Type: application/json\r\n"
					  "Transfer-Encoding: chunked\r\n\r\n");
		for (int i = 0; i < 3; i++) {
			o += (size_t)sprintf(req + o, "800\r\n");
			memcpy(req + o, chunk, sizeof(chunk));
			o += sizeof(chunk);
			o += (size_t)sprintf(req + o, "\r\n");
		}
		o += (size_t)sprintf(req + o, "0\r\n\r\n");
		req[o] = '\0';
		cJSON_Delete(expect((uint16_t)port_a, req, 413, "body_too_large"));
	}
	/* A chunked body within the limit is fine. */
	cJSON_Delete(expect((uint16_t)port_a,
			    "POST /session/stop HTTP/1.1\r\nHost: localhost\r\n" AUTH
			    "Connection: close\r\n"
			    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "2\r\n{}\r\n0\r\n\r\n",
			    200, NULL)); /* stop 3 */
}

static void test_host_origin(void)
{
	uint16_t p = (uint16_t)port_a;
	char raw[512];

	cJSON_Delete(expect(p, "GET /session HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
			    421, "misdirected_request"));
	cJSON_Delete(expect(p, "GET /session HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n",
			    421, "misdirected_request"));
	cJSON_Delete(expect(p, "GET /session HTTP/1.1\r\nHost: localhost.evil.example\r\nConnection: close\r\n\r\n",
			    421, "misdirected_request"));
	cJSON_Delete(expect(p, "GET /nope HTTP/1.1\r\nHost: 10.0.0.1\r\nConnection: close\r\n\r\n",
			    421, "misdirected_request"));
	cJSON_Delete(expect(p, "GET /session HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "bad_host"));
	cJSON_Delete(expect(p, "GET /session HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n"
			       "Connection: close\r\n\r\n", 400, NULL));
	cJSON_Delete(expect(p, "GET /session HTTP/1.0\r\n\r\n", 200, NULL));
	snprintf(raw, sizeof(raw), "GET /session HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", p);
	cJSON_Delete(expect(p, raw, 200, NULL));
	snprintf(raw, sizeof(raw), "GET /session HTTP/1.1\r\nHost: [::1]:%u\r\nConnection: close\r\n\r\n", p);
	cJSON_Delete(expect(p, raw, 200, NULL));
	cJSON_Delete(expect(p, "GET /session HTTP/1.1\r\nHost: overlay.localhost\r\nConnection: close\r\n\r\n",
			    200, NULL));

	/* Origin: a page elsewhere may not read or write, even via a rebound name. */
	cJSON_Delete(expect(p, "GET /session HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n"
			       "Connection: close\r\n\r\n", 403, "forbidden_origin"));
	cJSON_Delete(expect(p, "GET /session HTTP/1.1\r\nHost: localhost\r\nOrigin: null\r\n"
			       "Connection: close\r\n\r\n", 403, "forbidden_origin"));
	cJSON_Delete(expect(p, "OPTIONS /session/start HTTP/1.1\r\nHost: localhost\r\n"
			       "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n"
			       "Connection: close\r\n\r\n", 403, "forbidden_origin"));
	cJSON_Delete(expect(p, "POST /session/start HTTP/1.1\r\nHost: localhost\r\n"
			       "Origin: http://evil.example\r\nContent-Type: application/json\r\n"
			       "Content-Length: 2\r\nConnection: close\r\n\r\n{}", 403, "forbidden_origin"));
	cJSON_Delete(expect(p, "POST /session/start HTTP/1.1\r\nHost: evil.example\r\n"
			       "Content-Type: application/json\r\nContent-Length: 2\r\n"
			       "Connection: close\r\n\r\n{}", 421, "misdirected_request"));
	/* A form post from a page (the CSRF "simple request") gets 415 before anything. */
	cJSON_Delete(expect(p, "POST /session/stop HTTP/1.1\r\nHost: localhost\r\n" AUTH
			       "Content-Type: text/plain\r\nContent-Length: 2\r\n"
			       "Connection: close\r\n\r\n{}", 415, "unsupported_media_type"));
	snprintf(raw, sizeof(raw), "GET /session HTTP/1.1\r\nHost: localhost:%u\r\n"
		 "Origin: http://localhost:%u\r\nConnection: close\r\n\r\n", p, p);
	cJSON_Delete(expect(p, raw, 200, NULL));
}

static void test_keep_alive(void)
{
	static const char one[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
	int fd = connect_port((uint16_t)port_a);
	char buf[4096];
	size_t got = 0;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	/* Two requests on one connection, the second after the first answer. */
	for (int i = 0; i < 2; i++) {
		send_all(fd, one, strlen(one));
		got = 0;
		for (;;) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			ssize_t n;
			char *end;

			if (poll(&pf, 1, 3000) <= 0)
				break;
			n = recv(fd, buf + got, sizeof(buf) - got - 1, 0);
			if (n <= 0)
				break;
			got += (size_t)n;
			buf[got] = '\0';
			end = strstr(buf, "\r\n\r\n");
			if (end && strstr(end, "\"ok\"}\n"))
				break;
		}
		buf[got] = '\0';
		CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	}
	close(fd);
}

static void test_oversize(void)
{
	uint16_t p = (uint16_t)port_a;
	size_t n = 40 * 1024;
	_cleanup_free_ char *raw = malloc(n + 256);
	struct reply r;
	int o;

	/* A header bigger than the 32 KiB per-connection pool: MHD answers 431 (or closes). */
	o = sprintf(raw, "GET /session HTTP/1.1\r\nHost: localhost\r\nX-Big: ");
	memset(raw + o, 'a', n);
	strcpy(raw + o + n, "\r\nConnection: close\r\n\r\n");
	request(p, raw, strlen(raw), &r);
	if (!(r.status == 431 || r.status == 413 || r.status == 0)) {
		fprintf(stderr, "oversize header: got %d\n", r.status);
		CHECK(false);
	}
	check_common(&r, "oversize header", false);
	reply_done(&r);

	/* The same for the request line. */
	o = sprintf(raw, "GET /session?");
	memset(raw + o, 'a', n);
	strcpy(raw + o + n, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
	request(p, raw, strlen(raw), &r);
	if (!(r.status == 414 || r.status == 431 || r.status == 413 || r.status == 0)) {
		fprintf(stderr, "oversize URI: got %d\n", r.status);
		CHECK(false);
	}
	check_common(&r, "oversize URI", false);
	reply_done(&r);

	/* Many headers. */
	o = sprintf(raw, "GET /session HTTP/1.1\r\nHost: localhost\r\n");
	while ((size_t)o < n)
		o += sprintf(raw + o, "X-%d: 1\r\n", o);
	strcpy(raw + o, "Connection: close\r\n\r\n");
	request(p, raw, strlen(raw), &r);
	if (!(r.status == 431 || r.status == 413 || r.status == 0)) {
		fprintf(stderr, "many headers: got %d\n", r.status);
		CHECK(false);
	}
	reply_done(&r);

	/* The server is still fine. */
	cJSON_Delete(expect(p, GET("/healthz"), 200, NULL));
}

/* Server A has a 1 s idle timeout: silent and half-sent requests are cut. */
static void test_idle_timeout(void)
{
	static const char partial[] = "GET /session HTTP/1.1\r\nHost: localhost\r\n";
	int fd1 = connect_port((uint16_t)port_a), fd2 = connect_port((uint16_t)port_a);
	uint64_t t0 = now_ms();
	struct reply r;

	CHECK(fd1 >= 0 && fd2 >= 0);
	send_all(fd2, partial, strlen(partial));
	read_reply(fd1, 6000, &r);
	CHECK(!r.timed_out);
	CHECK_INT(r.len, 0);
	reply_done(&r);
	read_reply(fd2, 6000, &r);
	CHECK(!r.timed_out);
	CHECK_INT(r.status, 0);
	reply_done(&r);
	CHECK(now_ms() - t0 < 5000);
	close(fd1);
	close(fd2);
}

/* Read one reply; true when it is "HTTP/1.1 200" within timeout_ms. */
static bool get_ok(int fd, int timeout_ms)
{
	static const char get[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
	char buf[2048];
	size_t got = 0;
	uint64_t t0 = now_ms();

	send_all(fd, get, strlen(get));
	while (now_ms() - t0 < (uint64_t)timeout_ms) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, timeout_ms) <= 0)
			break;
		n = recv(fd, buf + got, sizeof(buf) - got - 1, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\"ok\"}\n"))
			return strncmp(buf, "HTTP/1.1 200", 12) == 0;
	}
	return false;
}

/* 0: closed by the server (EOF or reset) within timeout_ms; -1: still open. */
static int wait_closed(int fd, int timeout_ms)
{
	struct reply r;
	bool closed;

	read_reply(fd, timeout_ms, &r);
	closed = !r.timed_out;
	reply_done(&r);
	return closed ? 0 : -1;
}

/*
 * Server B: max_connections 3 (a soft cap).  Twice that many idle sockets
 * do not lock a client out: each new connection evicts the one that has
 * waited longest without a request, while a served keep-alive client
 * outlives fresh idle ones.
 */
static void test_connection_caps(void)
{
	int held[6], keep, extra;

	/* A client we served, then kept alive. */
	keep = connect_port((uint16_t)port_b);
	CHECK(keep >= 0 && get_ok(keep, 2000));
	for (int i = 0; i < 6; i++) {
		held[i] = connect_port((uint16_t)port_b);
		CHECK(held[i] >= 0);
		usleep(20 * 1000); /* distinct ages */
	}
	usleep(200 * 1000); /* let the server accept them */
	for (int round = 0; round < 3; round++) {
		uint64_t t0 = now_ms();

		extra = connect_port((uint16_t)port_b);
		CHECK(extra >= 0);
		if (!get_ok(extra, 2000)) {
			fprintf(stderr, "over the soft cap: /healthz not served (round %d)\n", round);
			CHECK(false);
		}
		CHECK(now_ms() - t0 < 2000);
		close(extra);
	}
	/* The oldest idle sockets were the ones cut. */
	CHECK_INT(wait_closed(held[0], 1000), 0);
	CHECK_INT(wait_closed(held[1], 1000), 0);
	/* The served keep-alive survived all that, and is served again. */
	CHECK(get_ok(keep, 2000));
	for (int i = 0; i < 6; i++)
		close(held[i]);
	close(keep);
	usleep(100 * 1000);
	cJSON_Delete(expect((uint16_t)port_b, GET("/healthz"), 200, NULL));
}

/*
 * Server C: 2 s timeout.  A client dribbling a header byte every 200 ms is
 * never idle for MHD, yet is cut once 2 s pass without a complete request.
 */
static void test_dribble(void)
{
	static const char head[] = "GET /session HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
	int fd = connect_port((uint16_t)port_c);
	uint64_t t0 = now_ms(), dt;
	bool closed = false;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	send_all(fd, head, strlen(head));
	while (now_ms() - t0 < 8000) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		char c;

		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1 ||
		    (poll(&pf, 1, 200) > 0 && recv(fd, &c, 1, 0) <= 0)) {
			closed = true;
			break;
		}
	}
	dt = now_ms() - t0;
	if (!closed || dt < 1500 || dt > 4500) {
		fprintf(stderr, "dribbling client: closed %d after %llu ms (want ~2000)\n", closed,
			(unsigned long long)dt);
		CHECK(false);
	}
	close(fd);
	cJSON_Delete(expect((uint16_t)port_c, GET("/healthz"), 200, NULL));
}

/*
 * Request smuggling: framing two parsers could read differently is
 * refused, and nothing after it on the connection is answered.
 */
static void test_smuggling(void)
{
	static const struct {
		const char *raw;
		int status; /* 0: any refusal (4xx/5xx or a closed connection) */
	} cases[] = {
		{ "POST /session/stop HTTP/1.1\r\nHost: localhost\r\n" AUTH "Content-Type: application/json\r\n"
		  "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 400 },
		{ "GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
		  "Content-Length: 44\r\n\r\n"
		  "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 400 },
		{ "POST /session/stop HTTP/1.1\r\nHost: localhost\r\n" AUTH "Content-Type: application/json\r\n"
		  "Content-Length: 0\r\nContent-Length: 44\r\n\r\n"
		  "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 0 },
		{ "POST /session/stop HTTP/1.1\r\nHost: localhost\r\n" AUTH "Content-Type: application/json\r\n"
		  "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
		  "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 0 },
		{ "POST /session/stop HTTP/1.1\r\nHost: localhost\r\n" AUTH "Content-Type: application/json\r\n"
		  "Transfer-Encoding: gzip, chunked\r\n\r\n"
		  "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 0 },
		/* obs-fold (RFC 9112 §5.2): refused, or the folded Host is not loopback. */
		{ "GET /healthz HTTP/1.1\r\nHost: localhost\r\n evil.example\r\n\r\n"
		  "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", 0 },
		/* A folded line belongs to X-A, so no body: two pipelined answers, both fine. */
		{ "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n Content-Length: 44\r\n\r\n"
		  "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const char *raw = cases[i].raw;
		struct reply r;
		const char *second;

		request((uint16_t)port_a, raw, strlen(raw), &r);
		second = strstr(r.raw, "\nHTTP/1.");
		if (getenv("CD_TEST_DEBUG"))
			fprintf(stderr, "smuggling case %zu: %d\n", i, r.status);
		if (cases[i].status > 0 ? r.status != cases[i].status
					: r.status >= 200 && r.status < 300) {
			fprintf(stderr, "smuggling case %zu: status %d\n", i, r.status);
			CHECK(false);
		}
		/* Never two answers: the tail must not be run as a request. */
		if (cases[i].status != 200 && second) {
			fprintf(stderr, "smuggling case %zu: a second response:\n%s\n", i, r.raw);
			CHECK(false);
		}
		reply_done(&r);
	}
	cJSON_Delete(expect((uint16_t)port_a, GET("/healthz"), 200, NULL));
}

/* The JSON answer as the server built it in memory before it streamed. */
static char *samples_json_built(unsigned n)
{
	cJSON *root = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(root, "samples");
	char *text, *nl;
	double rr[2];

	for (unsigned i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();
		struct cd_sample x;

		fake_sample(i, rr, &x);
		cJSON_AddItemToArray(a, e);
		cJSON_AddNumberToObject(e, "t_s", x.t);
		cJSON_AddNumberToObject(e, "bpm", x.bpm);
		cJSON_AddItemToObject(e, "rr_ms", cJSON_CreateDoubleArray(x.rr_ms ? x.rr_ms : rr,
									  (int)x.n_rr));
		if (x.contact == CD_CONTACT_UNKNOWN)
			cJSON_AddNullToObject(e, "contact");
		else
			cJSON_AddNumberToObject(e, "contact", x.contact == CD_CONTACT_OK);
		if (isfinite(x.energy_kj))
			cJSON_AddNumberToObject(e, "energy_kj", x.energy_kj);
		else
			cJSON_AddNullToObject(e, "energy_kj");
	}
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text || asprintf(&nl, "%s\n", text) < 0)
		abort();
	free(text);
	return nl;
}

/* The CSV answer: lib/csv's writer over the same samples. */
static char *samples_csv_built(unsigned n)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	double rr[2];

	if (!f)
		abort();
	cd_csv_write_header(f);
	for (unsigned i = 0; i < n; i++) {
		struct cd_sample x;

		fake_sample(i, rr, &x);
		cd_csv_write_sample(f, &x);
	}
	fclose(f);
	return text;
}

static void check_body(const struct reply *r, const char *expected, const char *what)
{
	size_t n = strlen(expected);

	if (r->body_len != n || memcmp(r->body, expected, n) != 0) {
		size_t i = 0;

		while (i < n && i < r->body_len && r->body[i] == expected[i])
			i++;
		fprintf(stderr, "%s: body of %zu bytes, expected %zu; first difference at %zu: "
			"%.40s\n", what, r->body_len, n, i, r->body + (i < r->body_len ? i : 0));
		CHECK(false);
	}
}

/*
 * GET /sessions/{id}/samples is streamed: the same bytes as the answer
 * built in memory, over many chunks; over HTTP/1.0 (no chunks: the end of
 * the connection ends it); on a kept-alive connection; a reader failing
 * at once gets a 500, one failing later a cut answer; a client leaving
 * in the middle frees the reader (counted by the parent).
 */
static void test_samples(void)
{
	_cleanup_free_ char *big_json = samples_json_built(BIG_SESSION);
	_cleanup_free_ char *big_csv = samples_csv_built(BIG_SESSION);
	_cleanup_free_ char *two_json = samples_json_built(2);
	uint16_t p = (uint16_t)port_a;
	struct reply r;
	char buf[1024];
	int fd;

	CHECK_STR(two_json, "{\"samples\":[{\"t_s\":0,\"bpm\":120,\"rr_ms\":[500,510],"
			    "\"contact\":1,\"energy_kj\":null},{\"t_s\":1,\"bpm\":121,"
			    "\"rr_ms\":[],\"contact\":null,\"energy_kj\":null}]}\n");
	request(p, GET("/sessions/2/samples"), strlen(GET("/sessions/2/samples")), &r);
	CHECK_INT(r.status, 200);
	CHECK(r.chunked && r.complete);
	check_body(&r, two_json, "two samples, JSON");
	check_common(&r, "samples", true);
	reply_done(&r);

	request(p, GET("/sessions/1/samples"), strlen(GET("/sessions/1/samples")), &r);
	CHECK_INT(r.status, 200);
	CHECK(r.chunked && r.complete);
	check_body(&r, big_json, "big session, JSON");
	reply_done(&r);
	request(p, GET("/sessions/1/samples?format=csv"),
		strlen(GET("/sessions/1/samples?format=csv")), &r);
	CHECK_INT(r.status, 200);
	CHECK(r.chunked && r.complete);
	CHECK_STR(header(&r, "Content-Type"), "text/csv; charset=utf-8");
	check_body(&r, big_csv, "big session, CSV");
	reply_done(&r);

	/* HTTP/1.0: no chunks, the body runs to the end of the connection. */
	{
		const char *req = "GET /sessions/1/samples?format=csv HTTP/1.0\r\nHost: localhost\r\n\r\n";

		request(p, req, strlen(req), &r);
		CHECK_INT(r.status, 200);
		CHECK(!r.chunked && !r.timed_out);
		check_body(&r, big_csv, "big session, CSV over HTTP/1.0");
		reply_done(&r);
	}

	/* Kept alive after a streamed answer: a pipelined request is answered next. */
	{
		const char *req = "GET /sessions/2/samples?format=csv HTTP/1.1\r\nHost: localhost\r\n\r\n"
				  GET("/healthz");

		request(p, req, strlen(req), &r);
		CHECK_INT(r.status, 200);
		CHECK(r.chunked && r.complete);
		CHECK(r.body_len > 0 && strncmp(r.body, "t_s,bpm,rr_ms,contact\n0,120,500 510,1\n1,121,,\n"
						"HTTP/1.1 200", 58) == 0);
		CHECK(strstr(r.body, "\"status\":\"ok\"") != NULL);
		reply_done(&r);
	}

	/* Failing at once: 500; later: cut short (no last chunk), the connection closed. */
	cJSON_Delete(expect(p, GET("/sessions/4/samples"), 500, "internal_error"));
	request(p, GET("/sessions/3/samples?format=csv"),
		strlen(GET("/sessions/3/samples?format=csv")), &r);
	CHECK_INT(r.status, 200);
	CHECK(r.chunked && !r.complete && !r.timed_out);
	CHECK(r.body_len > 1000 && r.body_len < strlen(big_csv));
	reply_done(&r);

	/* A client that leaves in the middle. */
	fd = connect_port(p);
	CHECK(fd >= 0);
	if (fd >= 0) {
		send_all(fd, GET("/sessions/1/samples"), strlen(GET("/sessions/1/samples")));
		CHECK(recv(fd, buf, sizeof(buf), MSG_WAITALL) == (ssize_t)sizeof(buf));
		close(fd);
	}
	cJSON_Delete(expect(p, GET("/healthz"), 200, NULL));
}

/*
 * GET /metrics: Prometheus text with the daemon's families, then the
 * requests answered by both servers sharing the stats, by status, not
 * counting the scrape itself.  Host rules as everywhere.
 */
static void test_metrics(void)
{
	struct reply r;
#define EVIL "{device=\"a\\\"b\\\\c\\nd\""
	const char *want =
		"# HELP cardiod_build_info Always 1; the version of cardiod as a label.\n"
		"# TYPE cardiod_build_info gauge\n"
		"cardiod_build_info{version=\"" CARDIOD_VERSION "\"} 1\n"
		"# HELP cardiod_device_connected Whether the strap is connected now (1) or not (0).\n"
		"# TYPE cardiod_device_connected gauge\n"
		"cardiod_device_connected" EVIL ",transport=\"sim\"} 1\n"
		"# HELP cardiod_device_battery_ratio Battery level the strap reports, 0 to 1; absent "
		"when unknown.\n"
		"# TYPE cardiod_device_battery_ratio gauge\n"
		"cardiod_device_battery_ratio" EVIL "} 0.8\n"
		"# HELP cardiod_heart_rate_bpm Latest heart rate in beats per minute; absent while "
		"stale (no valid sample for stale_after_s).\n"
		"# TYPE cardiod_heart_rate_bpm gauge\n"
		"cardiod_heart_rate_bpm" EVIL "} 120.5\n"
		"# HELP cardiod_samples_total Valid heart-rate samples recorded in sessions since "
		"cardiod started.\n"
		"# TYPE cardiod_samples_total counter\n"
		"cardiod_samples_total" EVIL "} 3\n"
		"# HELP cardiod_zone_seconds_total Seconds in each heart-rate zone (0-5, as "
		"zones[].zone of a session) of the sessions recorded since cardiod started, the "
		"active one included.\n"
		"# TYPE cardiod_zone_seconds_total counter\n"
		"cardiod_zone_seconds_total" EVIL ",zone=\"0\"} 0\n"
		"cardiod_zone_seconds_total" EVIL ",zone=\"1\"} 1.5\n"
		"cardiod_zone_seconds_total" EVIL ",zone=\"2\"} 2\n"
		"cardiod_zone_seconds_total" EVIL ",zone=\"3\"} 0\n"
		"cardiod_zone_seconds_total" EVIL ",zone=\"4\"} 0\n"
		"cardiod_zone_seconds_total" EVIL ",zone=\"5\"} 0\n"
		"# HELP cardiod_intensity_seconds Intensity minutes ((moderate + 2 x vigorous) / 60 "
		"of GET /summary) of today and of this week so far, times 60.\n"
		"# TYPE cardiod_intensity_seconds gauge\n"
		"cardiod_intensity_seconds{period=\"today\"} 90\n"
		"cardiod_intensity_seconds{period=\"week\"} 1800\n"
		"# HELP cardiod_http_requests_total HTTP requests answered since cardiod "
		"started, by status code.\n"
		"# TYPE cardiod_http_requests_total counter\n"
		"cardiod_http_requests_total{code=\"200\"} 2\n"
		"cardiod_http_requests_total{code=\"404\"} 1\n"
		"cardiod_http_requests_total{code=\"421\"} 1\n"
		"cardiod_http_requests_total{code=\"501\"} 1\n";
	const char *evil = "GET /metrics HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";

	cJSON_Delete(expect((uint16_t)port_d, GET("/healthz"), 200, NULL));
	cJSON_Delete(expect((uint16_t)port_d, GET("/healthz"), 200, NULL));
	cJSON_Delete(expect((uint16_t)port_e, GET("/nope"), 404, "not_found"));
	cJSON_Delete(expect((uint16_t)port_e, evil, 421, "misdirected_request"));
	cJSON_Delete(expect((uint16_t)port_e, GET("/metrics"), 501, "not_implemented"));

	request((uint16_t)port_d, GET("/metrics"), strlen(GET("/metrics")), &r);
	CHECK_INT(r.status, 200);
	check_common(&r, "metrics", true);
	CHECK_STR(header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
	CHECK_STR(r.body, want);
	reply_done(&r);

	expect((uint16_t)port_d, "HEAD /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	       200, NULL);
	/* The contract's third listing fails. */
	cJSON_Delete(expect((uint16_t)port_d, GET("/metrics"), 500, "internal_error"));
	cJSON_Delete(expect((uint16_t)port_d, "POST /metrics HTTP/1.1\r\nHost: localhost\r\n" AUTH
			    "Connection: close\r\nContent-Length: 0\r\n\r\n", 405,
			    "method_not_allowed"));
}

/*
 * DESIGN §9.7: writes need the bearer token, reads only with read_token
 * (port_g); a server without a token (port_h) refuses every write.  None
 * of the refused POSTs may reach the ops (main() counts start/stop calls).
 */
static unsigned port_g, port_h; /* token with read_token; no token */

static void expect_401(uint16_t port, const char *raw, const char *www)
{
	struct reply r;
	cJSON *j, *e;

	request(port, raw, strlen(raw), &r);
	CHECK_INT(r.status, 401);
	check_common(&r, raw, true);
	CHECK_STR(header(&r, "WWW-Authenticate"), www);
	if (strncmp(raw, "HEAD ", 5) == 0) {
		CHECK_INT(strlen(r.body), 0);
		reply_done(&r);
		return;
	}
	j = cJSON_Parse(r.body);
	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code")), "unauthorized");
	CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
	cJSON_Delete(j);
	reply_done(&r);
}

#define POST_STOP(auth)                                                                     \
	"POST /session/stop HTTP/1.1\r\nHost: localhost\r\n" auth                           \
	"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
#define GET_AUTH(path, auth) "GET " path " HTTP/1.1\r\nHost: localhost\r\n" auth "Connection: close\r\n\r\n"
#define NO_TOKEN "Bearer realm=\"cardiod\""
#define BAD_TOKEN "Bearer realm=\"cardiod\", error=\"invalid_token\""

static void test_auth(void)
{
	uint16_t a = (uint16_t)port_a, d = (uint16_t)port_g, e = (uint16_t)port_h;
	/* Same length, last digit wrong; a prefix; a longer one. */
	static const char *const wrong[] = {
		"Authorization: Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdee\r\n",
		"Authorization: Bearer 0123456789abcdef\r\n",
		"Authorization: Bearer " TEST_TOKEN "0\r\n",
		"Authorization: Basic " TEST_TOKEN "\r\n",
		"Authorization: Bearer\r\n",
		"Authorization: Bearer " TEST_TOKEN " x\r\n",
	};

	/* Writes: no token, a wrong one, two headers; every route and method alike. */
	expect_401(a, POST_STOP(""), NO_TOKEN);
	for (size_t i = 0; i < ELEMENTSOF(wrong); i++) {
		char raw[512];

		snprintf(raw, sizeof(raw),
			 "POST /session/start HTTP/1.1\r\nHost: localhost\r\n%sContent-Type: "
			 "application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
			 wrong[i]);
		expect_401(a, raw, BAD_TOKEN);
	}
	expect_401(a, POST_STOP(AUTH AUTH), BAD_TOKEN);
	expect_401(a, "POST /no-such-route HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
		      "Connection: close\r\n\r\n", NO_TOKEN);
	expect_401(a, "DELETE /session HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		   NO_TOKEN);
	expect_401(a, "PUT /session/start HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
		      "Connection: close\r\n\r\n", NO_TOKEN);
	/* The scheme is case-insensitive (RFC 9110 §11.1); this one reaches the ops. */
	cJSON_Delete(expect(a, POST_STOP("Authorization: bearer  " TEST_TOKEN "\r\n"), 409,
			    "no_active_session")); /* stop 5 */
	/* Host and Origin refusals come first, token or not. */
	cJSON_Delete(expect(a, "POST /session/stop HTTP/1.1\r\nHost: evil.example\r\n"
			       "Content-Length: 0\r\nConnection: close\r\n\r\n",
			    421, "misdirected_request"));
	/* Reads stay open by default, and a token does no harm. */
	cJSON_Delete(expect(a, GET("/session"), 200, NULL));
	cJSON_Delete(expect(a, GET_AUTH("/session", AUTH), 200, NULL));

	/* read_token: reads need it too, /healthz and unknown routes included. */
	expect_401(d, GET("/session"), NO_TOKEN);
	expect_401(d, GET("/healthz"), NO_TOKEN);
	expect_401(d, GET("/nope"), NO_TOKEN);
	expect_401(d, "HEAD /session HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		   NO_TOKEN);
	expect_401(d, GET_AUTH("/session", "Authorization: Bearer 0123\r\n"), BAD_TOKEN);
	cJSON_Delete(expect(d, GET_AUTH("/session", AUTH), 200, NULL));
	cJSON_Delete(expect(d, GET_AUTH("/healthz", AUTH), 200, NULL));
	cJSON_Delete(expect(d, GET_AUTH("/nope", AUTH), 404, "not_found"));

	/* No token (it could not be written): every write is refused, any token. */
	expect_401(e, POST_STOP(AUTH), BAD_TOKEN);
	expect_401(e, POST_STOP("Authorization: Bearer \r\n"), BAD_TOKEN);
	cJSON_Delete(expect(e, GET("/session"), 200, NULL));
}

static int client(void)
{
	test_metrics();
	test_gets();
	test_samples();
	test_cache();
	test_methods();
	test_posts();
	test_host_origin();
	test_keep_alive();
	test_oversize();
	test_idle_timeout();
	test_smuggling();
	test_connection_caps();
	test_dribble();
	test_auth();
	return check_exit("test-http-server (client)");
}

/* ---- the loop (parent) ---- */

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	int *status = userdata;

	*status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	fprintf(stderr, "test-http-server: deadline reached\n");
	kill(*(pid_t *)userdata, SIGKILL);
	return 0;
}

static int start_with(sd_event *e, struct recorder *rec, const char *token, bool read_token,
		      struct cd_http **ret)
{
	struct cd_http_config c;

	cd_http_config_init(&c);
	c.listen = "127.0.0.1:0";
	c.token = token;
	c.read_token = read_token;
	return cd_http_new(e, &c, &(struct cd_front){ &fake_ops, rec, NULL }, ret);
}

static int start_cache(sd_event *e, struct recorder *rec, unsigned max_conn, unsigned timeout_s,
		       unsigned cache_ms, struct cd_http **ret)
{
	struct cd_http_config c;

	cd_http_config_init(&c);
	c.listen = "127.0.0.1:0";
	c.max_connections = max_conn;
	c.timeout_s = timeout_s;
	c.token = TEST_TOKEN;
	if (cache_ms)
		c.cache_ms = cache_ms;
	return cd_http_new(e, &c, &(struct cd_front){ &fake_ops, rec, NULL }, ret);
}

static int start(sd_event *e, struct recorder *rec, unsigned max_conn, unsigned timeout_s,
		 struct cd_http **ret)
{
	return start_cache(e, rec, max_conn, timeout_s, 0, ret);
}

static int start_shared(sd_event *e, struct recorder *rec, const struct cd_front_ops *ops,
			struct cd_http_stats *stats, struct cd_http **ret)
{
	struct cd_http_config c;

	cd_http_config_init(&c);
	c.listen = "127.0.0.1:0";
	c.stats = stats;
	c.token = TEST_TOKEN;
	return cd_http_new(e, &c, &(struct cd_front){ ops, rec, NULL }, ret);
}

int main(void)
{
	_cleanup_(sd_event_unrefp) sd_event *e = NULL;
	_cleanup_(cd_http_freep) struct cd_http *a = NULL, *b = NULL, *c = NULL, *d = NULL,
					  *f = NULL;
	_cleanup_(cd_http_freep) struct cd_http *g = NULL, *h = NULL;
	static struct cd_http_stats shared_stats;
	_cleanup_(cd_http_freep) struct cd_http *k = NULL;
	struct recorder rec = {};
	sigset_t mask;
	int status = -1;
	pid_t pid;

	if (getenv("CD_TEST_DEBUG"))
		log_set_max_level(LOG_DEBUG);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	CHECK_INT(sd_event_new(&e), 0);
	CHECK_INT(start(e, &rec, 64, 1, &a), 0);
	CHECK_INT(start(e, &rec, 3, 10, &b), 0);
	CHECK_INT(start(e, &rec, 64, 2, &c), 0);
	CHECK_INT(start_shared(e, &rec, &fake_ops, &shared_stats, &d), 0);
	CHECK_INT(start_shared(e, &rec, &fake_ops_no_metrics, &shared_stats, &f), 0);
	CHECK_INT(start_with(e, &rec, TEST_TOKEN, true, &g), 0);
	CHECK_INT(start_with(e, &rec, NULL, false, &h), 0);
	CHECK_INT(start_cache(e, &rec, 64, 10, 120 * 1000, &k), 0); /* cache beyond the 90 s deadline */
	if (!a || !b || !c || !d || !f || !g || !h || !k)
		return check_exit("test-http-server");
	port_d = cd_http_port(d);
	port_e = cd_http_port(f);
	port_g = cd_http_port(g);
	port_h = cd_http_port(h);
	CHECK(cd_http_port(a) != 0);
	port_a = cd_http_port(a);
	port_b = cd_http_port(b);
	port_c = cd_http_port(c);
	port_k = cd_http_port(k);

	/* Bad configurations fail cleanly. */
	{
		struct cd_http_config cfg;
		struct cd_front fake_front = { &fake_ops, &rec, NULL };
		struct cd_http *x = NULL;

		cd_http_config_init(&cfg);
		cfg.listen = "example.com:80";
		CHECK_INT(cd_http_new(e, &cfg, &fake_front, &x), -EINVAL);
		cfg.listen = "127.0.0.1:";
		CHECK_INT(cd_http_new(e, &cfg, &fake_front, &x), -EINVAL);
		/* Not loopback: refused before anything is bound (DESIGN §9.7). */
		cfg.listen = "0.0.0.0:0";
		CHECK_INT(cd_http_new(e, &cfg, &fake_front, &x), -EPERM);
		cfg.listen = "[::]:0";
		CHECK_INT(cd_http_new(e, &cfg, &fake_front, &x), -EPERM);
		cfg.listen = "192.0.2.1:0";
		CHECK_INT(cd_http_new(e, &cfg, &fake_front, &x), -EPERM);
		char in_use[32];
		snprintf(in_use, sizeof(in_use), "127.0.0.1:%u", port_a);
		cfg.listen = in_use;
		CHECK_INT(cd_http_new(e, &cfg, &fake_front, &x), -EADDRINUSE);
		cfg.listen = "127.0.0.1:0";
		cfg.max_connections = 0;
		CHECK_INT(cd_http_new(e, &cfg, &fake_front, &x), -EINVAL);
		cfg.max_connections = 64;
		cfg.listen = NULL;
		cfg.listen_fd = STDIN_FILENO; /* not a listening socket */
		CHECK(cd_http_new(e, &cfg, &fake_front, &x) < 0);
		CHECK(x == NULL);
	}

	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(client());

	CHECK_INT(sd_event_add_child(e, NULL, pid, WEXITED, on_child, &status), 0);
	CHECK_INT(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 90 * 1000000ULL, 0,
					     on_deadline, &pid), 0);
	CHECK_INT(sd_event_loop(e), 0);
	CHECK_INT(status, 0);

	/* B cut the oldest idle sockets (at least one per round over the cap), C the dribbler. */
	CHECK(cd_http_evictions(b) >= 3);
	CHECK(cd_http_evictions(c) >= 1);
	CHECK(cd_http_connections(b) <= 3 + 1);

	/* The ops saw exactly the accepted requests (test_posts' comments count them). */
	CHECK_INT(rec.start_calls, 3);
	CHECK_INT(rec.stop_calls, 5);
	CHECK_STR(rec.last_device, "sim-9");
	CHECK_INT(rec.devices_calls, 1);
	CHECK_INT(rec.metrics_calls, 3 * 5); /* three scrapes, five strap families each */
	CHECK(rec.session_calls > 0 && rec.sessions_calls == 2 && rec.samples_calls == 11);
	/* Every reader was freed: answered, failed, or left by its client. */
	CHECK_INT(rec.samples_opened, 10);
	CHECK_INT(rec.samples_freed, rec.samples_opened);
	return check_exit("test-http-server");
}
