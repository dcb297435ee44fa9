/* SPDX-License-Identifier: MIT */
/*
 * The pure half of the HTTP API (DESIGN §4, ECOSYSTEM §3.2): request-target
 * and query parsing, routing, Host/Origin/Content-Type checks, JSON body
 * validation, timestamps and the listen address.  No MHD, no I/O, no clock,
 * no logging, no globals: unit tests and a libFuzzer target drive it
 * directly (api/http.c is the glue that feeds it what MHD parsed).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "front.h"

#define CD_HTTP_LIMIT_DEFAULT 20u
#define CD_HTTP_LIMIT_MAX 1000u
#define CD_HTTP_DEVICE_MAX CD_FRONT_DEVICE_MAX /* longest device id accepted in a body */
#define CD_HTTP_KIND_MAX CD_FRONT_KIND_MAX     /* longest session kind tag */
#define CD_HTTP_PAGE_MAX 32u   /* longest /static/NAME */

enum cd_http_route {
	CD_ROUTE_SESSION,         /* GET /session */
	CD_ROUTE_SESSIONS,        /* GET /sessions */
	CD_ROUTE_SESSION_ID,      /* GET /sessions/{id} */
	CD_ROUTE_SESSION_SAMPLES, /* GET /sessions/{id}/samples */
	CD_ROUTE_DEVICES,         /* GET /devices */
	CD_ROUTE_SESSION_START,   /* POST /session/start */
	CD_ROUTE_SESSION_STOP,    /* POST /session/stop */
	CD_ROUTE_HEALTHZ,         /* GET /healthz */
	CD_ROUTE_METRICS,         /* GET /metrics */
	CD_ROUTE_SUMMARY,         /* GET /summary (DESIGN §9.4) */
	CD_ROUTE_SESSIONS_IMPORT, /* POST /sessions/import (DESIGN §9.5) */
	CD_ROUTE_SESSION_EXPORT,  /* GET /sessions/{id}/export */
	CD_ROUTE_EVENTS,          /* GET /events (DESIGN §9.2) */
	CD_ROUTE_PAGE,            /* GET /, /overlay, /static/NAME (DESIGN §9.3) */
	_CD_ROUTE_MAX,
	_CD_ROUTE_INVALID = -1,
};

/* GET /sessions/{id}/export?format=… (DESIGN §9.5); FIT when absent. */
enum cd_http_export_format {
	CD_EXPORT_FIT,
	CD_EXPORT_TCX,
	CD_EXPORT_CSV,
};

/* What the glue collected from the request line and headers. */
struct cd_http_request {
	const char *method;       /* "GET", … (case-sensitive, RFC 9110 §9.1) */
	const char *target;       /* raw request-target, before any decoding */
	bool http11;              /* HTTP/1.1 or later: Host is mandatory */
	const char *host;         /* NULL when absent */
	unsigned n_host;          /* how many Host headers */
	const char *origin;       /* NULL when absent */
	unsigned n_origin;
	const char *content_type; /* NULL when absent */
	unsigned n_content_type;
	bool has_content_length;  /* a Content-Length header was sent … */
	uint64_t content_length;  /* … with this value */
	bool chunked;             /* Transfer-Encoding: chunked */
	bool any_host;            /* skip the loopback Host check (remote, token-guarded) */
};

#define CD_HTTP_PROFILE_MAX CD_FRONT_PROFILE_MAX /* longest profile name in a query */

/* The summary and import queries are the contract's (api/front.h). */

/*
 * Content-Type of an import (parameters allowed): text/csv,
 * application/vnd.ant.fit, application/vnd.garmin.tcx+xml → enum
 * cd_import_format, anything else → -1.
 */
int cd_http_import_format(const char *ct);

/* The request, once accepted. */
struct cd_http_match {
	enum cd_http_route route;
	bool head;          /* HEAD: answer like GET, MHD drops the body */
	uint64_t id;        /* CD_ROUTE_SESSION_ID / _SAMPLES; ≥ 1 */
	unsigned limit;     /* /sessions: 1..CD_HTTP_LIMIT_MAX, default 20 */
	uint64_t before_us; /* /sessions: µs since the epoch, 0 = no bound */
	uint64_t since_us;
	bool csv;           /* /samples?format=csv */
	struct cd_front_summary_query summary; /* CD_ROUTE_SUMMARY */
	struct cd_front_import_query import;   /* CD_ROUTE_SESSIONS_IMPORT; its body is not
						 bounded by max_body (the glue caps it) */
	enum cd_http_export_format export_format; /* /export?format= */
	char device[CD_HTTP_DEVICE_MAX + 1]; /* /events?device=: "" = every device */
	char page[CD_HTTP_PAGE_MAX + 1];     /* CD_ROUTE_PAGE: "index.html", "overlay.html", a static name */
};

/*
 * A refusal: HTTP status, a stable snake_case code for clients, a human
 * message, and for 405 the Allow header value.  All static strings.
 */
struct cd_http_error {
	unsigned status;
	const char *code;
	const char *message;
	const char *allow; /* NULL unless status is 405 */
};

/* A validated POST body: both NULL when absent.  Strings point into *owner. */
struct cd_http_body {
	char *device;
	char *kind;
	const char *raw; /* POST /sessions/import: the body as sent (not owned) */
	size_t raw_len;
};

/*
 * Check a request up to (not including) its body, in this order: Host
 * (400 missing or repeated, 421 not loopback), Origin (403 not loopback),
 * request-target (400), route (404), method (405 + Allow), query (400),
 * and for POST Content-Type (415) and the announced length against
 * max_body (413).  Returns 0 and fills *ret, or the HTTP status (> 0) and
 * fills *err.  *ret is not written on failure.
 */
unsigned cd_http_check_request(const struct cd_http_request *req, size_t max_body,
			       struct cd_http_match *ret, struct cd_http_error *err);

/*
 * Validate a POST body for route (start or stop): empty, or a JSON object
 * with only "device" (string or null) and, on start only, "kind" (string or
 * null, a tag as cd_http_kind_valid).  Unknown or repeated keys, other
 * types, embedded NULs and trailing garbage are refused.  Returns 0 and
 * fills *ret (free with cd_http_body_done), or 400 and fills *err.
 */
unsigned cd_http_parse_body(enum cd_http_route route, const char *body, size_t len,
			    struct cd_http_body *ret, struct cd_http_error *err);
void cd_http_body_done(struct cd_http_body *b);

/* Profile name in a query: [A-Za-z0-9_.-]+, at most CD_HTTP_PROFILE_MAX. */
bool cd_http_profile_valid(const char *name);
/* Session kind tag: [a-z][a-z0-9_-]*, at most CD_HTTP_KIND_MAX bytes. */
bool cd_http_kind_valid(const char *kind);
/* Device id as DESIGN §6 spells them: [A-Za-z0-9:._-]+, at most CD_HTTP_DEVICE_MAX. */
bool cd_http_device_valid(const char *device);

/*
 * Host header value (RFC 9110 §7.2: host [":" port]) that names loopback
 * without DNS: "localhost", "*.localhost" (RFC 6761 §6.3), an IPv4 literal
 * in 127.0.0.0/8 (dotted quad only), or "[::1]"; case-insensitive names,
 * optional decimal port ≤ 65535.  Never "localhost6" and the like, which go
 * through DNS (ECOSYSTEM §3.1, CVE-2021-22884).
 */
bool cd_http_host_is_loopback(const char *host);
/* Origin header: "http(s)://" + a loopback host as above, nothing after it. */
bool cd_http_origin_is_loopback(const char *origin);
/* Content-Type is application/json (parameters allowed; a charset must be utf-8). */
bool cd_http_content_type_is_json(const char *ct);

/*
 * Decode percent-encoding of s[0..len) into a new NUL-terminated string;
 * plus_space turns '+' into ' ' (query components).  -EINVAL for a bad
 * escape or an encoded NUL, -ENOMEM.
 */
int cd_http_unescape(const char *s, size_t len, bool plus_space, char **ret);

/*
 * Timestamps in queries: ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS[.fraction]Z"
 * (the session objects' own format; up to 9 fraction digits, truncated to
 * µs; "+00:00" accepted for Z), or integer Unix seconds.  Must lie in
 * 1970-01-01 .. 9999-12-31.  0 or -EINVAL.
 */
int cd_http_parse_time(const char *s, uint64_t *ret_us);
/*
 * Format µs since the epoch the way the session objects show time
 * ("….mmmZ"), with three more digits only when the µs are not whole ms,
 * so that the value parses back to exactly us (paging stays exact).
 * buf needs 32 bytes.  0 or -EINVAL.
 */
int cd_http_format_time(uint64_t us, char *buf, size_t size);

/*
 * Listen address: "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT"
 * (127.0.0.1, without DNS).  PORT 0..65535 (0 = any free port).
 * 0 or -EINVAL.
 */
int cd_http_parse_listen(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);

const char *cd_http_route_to_string(enum cd_http_route r);
