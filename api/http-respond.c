/* SPDX-License-Identifier: MIT */
/*
 * The answers of the HTTP API (api/http.c parses and checks the request,
 * then calls dispatch() here): our common headers, JSON answers and
 * errors, the short-lived cache of GET /session and /devices, the
 * streamed GET /sessions/{id}/samples, and the routes handed to
 * http-export.c, http-metrics.c, http-events.c and pages.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "csv.h"
#include "http-events.h"
#include "http-export.h"
#include "http-internal.h"
#include "http-parse.h"
#include "http-stage.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "pages.h"


/*
 * Every command reaches dispatch() only after the bearer token was checked
 * (http.c, before routing: DESIGN §9.7), so an HTTP caller may manage.
 */
static const struct cd_caller http_caller = { .via = "http", .uid = -1, .may_manage = true };

static enum MHD_Result add_headers(struct MHD_Response *resp, const char *content_type,
				   const char *allow)
{
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    (allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES))
		return MHD_NO;
	return MHD_YES;
}

/* A response for buf (malloc'd, consumed), with our headers; NULL on OOM. */
static struct MHD_Response *make_response(char *buf, size_t len, const char *content_type,
					  const char *allow)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return NULL;
	}
	if (add_headers(resp, content_type, allow) != MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

static struct MHD_Response *make_json_response(const cJSON *j, const char *allow)
{
	char *s = cJSON_PrintUnformatted(j), *t;
	size_t n;

	if (!s)
		return NULL;
	/* A trailing newline, so `curl localhost:8080/session` ends its line. */
	n = strlen(s);
	t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return NULL;
	}
	t[n++] = '\n';
	t[n] = '\0';
	return make_response(t, n, "application/json; charset=utf-8", allow);
}

/* Queue resp and drop our reference (MHD keeps its own while sending). */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result r;

	if (!resp)
		return MHD_NO;
	r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, const cJSON *j,
				    const char *allow)
{
	return queue(c, status, make_json_response(j, allow));
}

enum MHD_Result respond_error(struct MHD_Connection *c, const struct cd_http_error *e)
{
	_cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
	cJSON *err;

	if (!root || !(err = cJSON_AddObjectToObject(root, "error")) ||
	    !cJSON_AddStringToObject(err, "code", e->code) ||
	    !cJSON_AddStringToObject(err, "message", e->message))
		return MHD_NO;
	log_debug("HTTP %u %s", e->status, e->code);
	return respond_json(c, e->status, root, e->allow);
}

enum MHD_Result respond_simple_error(struct MHD_Connection *c, unsigned status, const char *code,
				     const char *message)
{
	return respond_error(c, &(struct cd_http_error){ status, code, message, NULL });
}

/* Map a contract failure (front.h: CD_FRONT_E*) to a status. */
static enum MHD_Result respond_ops_error(struct MHD_Connection *c, enum cd_http_route route, int r)
{
	switch (r) {
	case CD_FRONT_ENOENT:
		if (route == CD_ROUTE_SESSION)
			return respond_simple_error(c, 404, "not_found", "no session recorded yet");
		if (route == CD_ROUTE_SESSION_START || route == CD_ROUTE_SESSION_STOP)
			return respond_simple_error(c, 404, "not_found", "no such device");
		return respond_simple_error(c, 404, "not_found", "no such session");
	case CD_FRONT_EINVAL:
		return respond_simple_error(c, 400, "bad_request", "invalid argument");
	case CD_FRONT_ENOTACTIVE:
		return respond_simple_error(c, 409, "no_active_session", "no active session to stop");
	case CD_FRONT_EPERM:
		return respond_simple_error(c, 403, "forbidden", "not allowed to manage sessions");
	default:
		log_warning_errno(r, "HTTP %s failed: %m", cd_http_route_to_string(route));
		return respond_simple_error(c, 500, "internal_error", "internal error");
	}
}

static enum MHD_Result respond_sessions(struct cd_http *h, struct MHD_Connection *c,
					const struct cd_http_match *m)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL, *list = NULL;
	uint64_t next = 0;
	char buf[32];
	int r;

	r = h->ops->sessions(h->userdata, m->limit, m->before_us, m->since_us, &list, &next);
	if (r < 0)
		return respond_ops_error(c, m->route, r);
	if (!list || !cJSON_IsArray(list))
		return respond_ops_error(c, m->route, -EIO);
	root = cJSON_CreateObject();
	if (!root)
		return MHD_NO;
	cJSON_AddItemToObject(root, "sessions", TAKE_PTR(list));
	if (next == 0 || cd_http_format_time(next, buf, sizeof(buf)) < 0) {
		if (!cJSON_AddNullToObject(root, "next_before"))
			return MHD_NO;
	} else if (!cJSON_AddStringToObject(root, "next_before", buf))
		return MHD_NO;
	return respond_json(c, 200, root, NULL);
}

/*
 * GET /sessions/{id}/samples is sent as it is read: MHD calls
 * samples_read() whenever the socket takes another block (chunked
 * encoding; HTTP/1.0 gets the end of the connection), and each call pulls
 * samples from the daemon's reader until the block is full.  Memory is one
 * block plus one page of the reader, however long the session (a built
 * answer took ~0.8 KB per JSON sample: 265 MiB for 24 h at 4 Hz).  The
 * bytes are those of a built answer: lib/csv's format, or {"samples":
 * [...]} as cJSON prints it, ending in the newline of every JSON answer.
 * The first sample is read before the status is sent, so a reader that
 * fails at once still gets a 500; a failure later can only cut the
 * answer short (MHD closes the connection: an incomplete body, never a
 * shorter valid one).
 */
#define SAMPLES_BLOCK (32 * 1024)

enum samples_state {
	SAMPLES_HEAD,
	SAMPLES_BODY,
	SAMPLES_END,
};

struct samples_stream {
	struct cd_front_samples *it;
	bool csv;
	enum samples_state state;
	uint64_t n; /* samples staged */
	struct cd_http_stage stage;
};

static void samples_stream_free(void *cls)
{
	struct samples_stream *st = cls;

	if (!st)
		return;
	if (st->it)
		st->it->free(st->it);
	cd_http_stage_done(&st->stage);
	free(st);
}

/* One sample as the JSON answer shows it (api/http.h). */
static cJSON *sample_to_json(const struct cd_sample *x)
{
	_cleanup_(cJSON_Deletep) cJSON *e = cJSON_CreateObject();
	cJSON *rr;

	if (!e || !cJSON_AddNumberToObject(e, "t_s", x->t) ||
	    !cJSON_AddNumberToObject(e, "bpm", x->bpm))
		return NULL;
	rr = cJSON_CreateDoubleArray(x->rr_ms ? x->rr_ms : (const double[]){ 0 }, (int)x->n_rr);
	if (!rr || !cJSON_AddItemToObject(e, "rr_ms", rr)) {
		cJSON_Delete(rr);
		return NULL;
	}
	if (x->contact == CD_CONTACT_UNKNOWN ? !cJSON_AddNullToObject(e, "contact")
					     : !cJSON_AddNumberToObject(e, "contact",
									x->contact == CD_CONTACT_OK))
		return NULL;
	if (isfinite(x->energy_kj) ? !cJSON_AddNumberToObject(e, "energy_kj", x->energy_kj)
				   : !cJSON_AddNullToObject(e, "energy_kj"))
		return NULL;
	return TAKE_PTR(e);
}

static int stage_json(struct samples_stream *st, const struct cd_sample *x)
{
	_cleanup_(cJSON_Deletep) cJSON *e = sample_to_json(x);
	_cleanup_free_ char *text = NULL;
	int r;

	if (!e || !(text = cJSON_PrintUnformatted(e)))
		return -ENOMEM;
	if (st->n > 0) {
		r = cd_http_stage_write(&st->stage, ",", 1);
		if (r < 0)
			return r;
	}
	return cd_http_stage_write(&st->stage, text, strlen(text));
}

/* Stage the next piece of the answer: 1, 0 at its end, or a negative errno. */
static int stage_next(void *userdata)
{
	struct samples_stream *st = userdata;
	struct cd_sample x;
	const char *head;
	int r;

	switch (st->state) {
	case SAMPLES_HEAD:
		head = st->csv ? CD_CSV_HEADER_LINE : "{\"samples\":[";
		r = cd_http_stage_write(&st->stage, head, strlen(head));
		if (r < 0)
			return r;
		st->state = SAMPLES_BODY;
		return 1;
	case SAMPLES_BODY:
		r = st->it->next(st->it, &x);
		if (r < 0)
			return r;
		if (r == 0) {
			st->state = SAMPLES_END;
			if (st->csv)
				return 0;
			r = cd_http_stage_write(&st->stage, "]}\n", 3);
			return r < 0 ? r : 1;
		}
		r = st->csv ? cd_http_stage_csv(&st->stage, &x) : stage_json(st, &x);
		if (r < 0)
			return r;
		st->n++;
		return 1;
	case SAMPLES_END:
		return 0;
	}
	return 0;
}

static ssize_t samples_read(void *cls, uint64_t offset, char *out, size_t max)
{
	struct samples_stream *st = cls;

	(void)offset;
	return cd_http_stage_read(&st->stage, out, max, stage_next, st);
}

static enum MHD_Result respond_samples(struct cd_http *h, struct MHD_Connection *c,
				       const struct cd_http_match *m)
{
	struct cd_front_samples *it = NULL;
	struct samples_stream *st;
	struct MHD_Response *resp;
	int r;

	r = h->ops->samples(h->userdata, m->id, &it);
	if (r < 0)
		return respond_ops_error(c, m->route, r);
	if (!it)
		return respond_ops_error(c, m->route, -EIO);
	st = calloc(1, sizeof(*st));
	if (!st) {
		it->free(it);
		return MHD_NO;
	}
	*st = (struct samples_stream){ .it = it, .csv = m->csv };
	st->stage.what = "reading the samples";
	st->stage.count = &st->n;
	/* The head and the first sample (or the end): an early failure is still a 500. */
	r = stage_next(st);
	if (r > 0)
		r = stage_next(st);
	if (r < 0) {
		samples_stream_free(st);
		return respond_ops_error(c, m->route, r);
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SAMPLES_BLOCK, samples_read, st,
						 samples_stream_free);
	if (!resp) {
		samples_stream_free(st);
		return MHD_NO;
	}
	if (add_headers(resp, m->csv ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
			NULL) != MHD_YES) {
		MHD_destroy_response(resp); /* frees st */
		return MHD_NO;
	}
	return queue(c, 200, resp);
}

/* GET /sessions/{id}/export: built in http-export.c, sent like the samples. */
static enum MHD_Result respond_export(struct cd_http *h, struct MHD_Connection *c,
				      const struct cd_http_match *m)
{
	struct MHD_Response *resp = NULL;
	const char *type = NULL;
	char disposition[96];
	int r;

	r = cd_http_export_response(h->ops, h->userdata, m, &resp, &type, disposition,
				    sizeof(disposition));
	if (r < 0)
		return respond_ops_error(c, m->route, r);
	if (add_headers(resp, type, NULL) != MHD_YES ||
	    MHD_add_response_header(resp, "Content-Disposition", disposition) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return queue(c, 200, resp);
}

static enum MHD_Result respond_object(struct MHD_Connection *c, enum cd_http_route route, int r,
				      cJSON *object)
{
	_cleanup_(cJSON_Deletep) cJSON *j = object;

	if (r < 0)
		return respond_ops_error(c, route, r);
	if (!j)
		return respond_ops_error(c, route, -EIO);
	return respond_json(c, 200, j, NULL);
}

/* GET /metrics: Prometheus text (api/http-metrics.c), never cached. */
static enum MHD_Result respond_metrics(struct cd_http *h, struct MHD_Connection *c,
				       const struct cd_http_match *m)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	r = cd_http_metrics_build(h->ops, h->userdata, h->stats, &text, &len);
	if (r < 0)
		return respond_ops_error(c, m->route, r);
	return queue(c, 200, make_response(text, len, CD_METRICS_CONTENT_TYPE, NULL));
}

void cd_http_invalidate(struct cd_http *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < ELEMENTSOF(h->cache); i++)
		if (h->cache[i].resp) {
			MHD_destroy_response(h->cache[i].resp);
			h->cache[i].resp = NULL;
		}
}

static bool route_cacheable(enum cd_http_route r)
{
	return r == CD_ROUTE_SESSION || r == CD_ROUTE_DEVICES;
}

/* The cached answer for m, or NULL. */
static struct MHD_Response *cache_get(struct cd_http *h, const struct cd_http_match *m)
{
	struct cache_entry *e = &h->cache[m->route];
	uint64_t now;

	if (!h->cache_usec || !route_cacheable(m->route) || !e->resp)
		return NULL;
	if (sd_event_now(h->event, CLOCK_MONOTONIC, &now) < 0 || now >= e->expires) {
		MHD_destroy_response(e->resp);
		e->resp = NULL;
		return NULL;
	}
	return e->resp;
}

/* Answer 200 with j; keep the response in the cache when the route allows. */
static enum MHD_Result respond_cacheable(struct cd_http *h, struct MHD_Connection *c,
					 const struct cd_http_match *m, const cJSON *j)
{
	struct MHD_Response *resp = make_json_response(j, NULL);
	struct cache_entry *e = &h->cache[m->route];
	enum MHD_Result r;
	uint64_t now;

	if (!resp)
		return MHD_NO;
	r = MHD_queue_response(c, 200, resp);
	if (r != MHD_YES || !h->cache_usec || !route_cacheable(m->route) ||
	    sd_event_now(h->event, CLOCK_MONOTONIC, &now) < 0) {
		MHD_destroy_response(resp);
		return r;
	}
	if (e->resp)
		MHD_destroy_response(e->resp);
	*e = (struct cache_entry){ .resp = resp, .expires = now + h->cache_usec };
	return r;
}

static enum MHD_Result respond_object_cached(struct cd_http *h, struct MHD_Connection *c,
					     const struct cd_http_match *m, int r, cJSON *object)
{
	_cleanup_(cJSON_Deletep) cJSON *j = object;

	if (r < 0)
		return respond_ops_error(c, m->route, r);
	if (!j)
		return respond_ops_error(c, m->route, -EIO);
	return respond_cacheable(h, c, m, j);
}

/* Wrap an array from the ops as {"key": […]}, so every answer is an extensible object. */
static enum MHD_Result respond_wrapped(struct cd_http *h, struct MHD_Connection *c,
				       const struct cd_http_match *m, int r, const char *key,
				       cJSON *array)
{
	_cleanup_(cJSON_Deletep) cJSON *list = array, *root = NULL;

	if (r < 0)
		return respond_ops_error(c, m->route, r);
	if (!list || !cJSON_IsArray(list))
		return respond_ops_error(c, m->route, -EIO);
	root = cJSON_CreateObject();
	if (!root)
		return MHD_NO;
	cJSON_AddItemToObject(root, key, TAKE_PTR(list));
	return respond_cacheable(h, c, m, root);
}

static enum MHD_Result respond_import(struct cd_http *h, struct MHD_Connection *c,
				      const struct cd_http_match *m, const struct cd_http_body *body)
{
	_cleanup_(cJSON_Deletep) cJSON *j = NULL;
	char err[256] = "";
	int r;

	r = h->ops->import(h->userdata, &http_caller, &m->import, body->raw, body->raw_len, &j, err,
			   sizeof(err));
	cd_http_invalidate(h);
	switch (r) {
	case 0:
		if (!j)
			return respond_ops_error(c, m->route, -EIO);
		return respond_json(c, 201, j, NULL);
	case -EBADMSG:
	case -EINVAL:
		return respond_simple_error(c, 400, "bad_import", err[0] ? err : "malformed file");
	case -EEXIST:
		return respond_simple_error(c, 409, "overlap",
					    err[0] ? err : "overlaps a stored session");
	case -EOPNOTSUPP:
		return respond_simple_error(c, 415, "unsupported_media_type",
					    err[0] ? err : "format not supported yet");
	default:
		return respond_ops_error(c, m->route, r);
	}
}

/* GET /events (api/http-events.c). */
static enum MHD_Result respond_events(struct cd_http *h, struct MHD_Connection *c,
				      const struct cd_http_match *m)
{
	struct MHD_Response *resp = NULL;
	int r;

	if (!h->events)
		return respond_simple_error(c, 501, "not_implemented", "no event source");
	r = cd_http_events_open(h->events, c, m->device[0] ? m->device : NULL, &resp);
	if (r == -EBUSY)
		return respond_simple_error(c, 503, "too_many_streams",
					    "too many event streams are open ([http] max_event_streams)");
	if (r < 0)
		return respond_ops_error(c, m->route, r);
	return queue(c, 200, resp);
}

/* GET /, /overlay, /static/NAME (api/pages.c). */
static enum MHD_Result respond_page(struct MHD_Connection *c, const struct cd_http_match *m)
{
	struct MHD_Response *resp = NULL;
	unsigned status = 0;
	int r = cd_page_response(c, m->page, &resp, &status);

	if (r == -ENOENT)
		return respond_simple_error(c, 404, "not_found", "no such resource");
	if (r < 0)
		return respond_ops_error(c, m->route, r);
	return queue(c, status, resp);
}

enum MHD_Result dispatch(struct cd_http *h, struct MHD_Connection *c, const struct cd_http_match *m,
			 const struct cd_http_body *body)
{
	const struct cd_front_ops *ops = h->ops;
	struct MHD_Response *cached;
	cJSON *j = NULL;
	int r;

	cached = cache_get(h, m);
	if (cached)
		return MHD_queue_response(c, 200, cached);

	switch (m->route) {
	case CD_ROUTE_SESSION:
		if (!ops->session)
			break;
		r = ops->session(h->userdata, 0, &j);
		return respond_object_cached(h, c, m, r, j);
	case CD_ROUTE_SESSION_ID:
		if (!ops->session)
			break;
		r = ops->session(h->userdata, m->id, &j);
		return respond_object(c, m->route, r, j);
	case CD_ROUTE_SESSIONS:
		if (!ops->sessions)
			break;
		return respond_sessions(h, c, m);
	case CD_ROUTE_SESSION_SAMPLES:
		if (!ops->samples)
			break;
		return respond_samples(h, c, m);
	case CD_ROUTE_SESSION_EXPORT:
		if (!ops->session || !ops->samples)
			break;
		return respond_export(h, c, m);
	case CD_ROUTE_DEVICES:
		if (!ops->devices)
			break;
		r = ops->devices(h->userdata, &j);
		return respond_wrapped(h, c, m, r, "devices", j);
	case CD_ROUTE_SESSION_START:
		if (!ops->start)
			break;
		r = ops->start(h->userdata, &http_caller, body->device, body->kind, &j);
		cd_http_invalidate(h);
		return respond_object(c, m->route, r, j);
	case CD_ROUTE_SESSION_STOP:
		if (!ops->stop)
			break;
		r = ops->stop(h->userdata, &http_caller, body->device, 0, &j);
		cd_http_invalidate(h);
		return respond_object(c, m->route, r, j);
	case CD_ROUTE_HEALTHZ:
		if (!ops->health)
			break;
		r = ops->health(h->userdata, &j);
		return respond_object(c, m->route, r, j);
	case CD_ROUTE_METRICS:
		if (!ops->each_device)
			break;
		return respond_metrics(h, c, m);
	case CD_ROUTE_SUMMARY:
		if (!ops->summary)
			break;
		r = ops->summary(h->userdata, &m->summary, &j);
		if (r == -EINVAL)
			return respond_simple_error(c, 400, "bad_query", "from is after to");
		if (r == -E2BIG)
			return respond_simple_error(c, 400, "bad_query",
						    "range too long: at most 4000 periods");
		return respond_object(c, m->route, r, j);
	case CD_ROUTE_SESSIONS_IMPORT:
		if (!ops->import)
			break;
		return respond_import(h, c, m, body);
	case CD_ROUTE_EVENTS:
		return respond_events(h, c, m);
	case CD_ROUTE_PAGE:
		return respond_page(c, m);
	case _CD_ROUTE_MAX:
	case _CD_ROUTE_INVALID:
		break;
	}
	return respond_simple_error(c, 501, "not_implemented", "not implemented");
}

/* 401 with the JSON error and WWW-Authenticate (RFC 6750 §3). */
enum MHD_Result respond_unauthorized(struct MHD_Connection *c, bool sent)
{
	_cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
	struct MHD_Response *resp;
	cJSON *err;

	if (!root || !(err = cJSON_AddObjectToObject(root, "error")) ||
	    !cJSON_AddStringToObject(err, "code", "unauthorized") ||
	    !cJSON_AddStringToObject(err, "message",
				     sent ? "the bearer token is wrong"
					  : "this request needs Authorization: Bearer TOKEN, the "
					    "token being the content of the daemon's token_file"))
		return MHD_NO;
	resp = make_json_response(root, NULL);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				    sent ? "Bearer realm=\"cardiod\", error=\"invalid_token\""
					 : "Bearer realm=\"cardiod\"") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	log_debug("HTTP 401 unauthorized");
	return queue(c, 401, resp);
}
