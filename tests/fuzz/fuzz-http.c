/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the HTTP request handling of api/http.c, through
 * the very functions it calls (api/http-parse.h): the request-line and
 * header checks with routing and query parsing, the JSON body of POST
 * start/stop, and the helpers they use.
 *
 * Input: one flags byte, then NUL-separated fields in this order:
 * method, request-target, Host, Origin, Content-Type, body.  A missing
 * field is absent (NULL), as when MHD saw no such header; flags bit 0 is
 * HTTP/1.1, bit 1 a Content-Length (the body's length), bit 2 chunked,
 * bits 3-4 repeat Host / Origin.  Checked: a refusal is a 4xx/5xx with a
 * code and a message (and Allow exactly for 405); an accepted request has
 * a valid route and in-range query values, and its body either parses to
 * valid device/kind strings or is refused with 400; parsed timestamps
 * format back to the same value, and any time in range formats and
 * parses back exactly; escapes decode without growing.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr);                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define MAX_BODY 4096u
#define N_FIELDS 6

static void check_error(unsigned status, const struct cd_http_error *err)
{
	FUZZ_ASSERT(status >= 400 && status <= 599);
	FUZZ_ASSERT(err->status == status);
	FUZZ_ASSERT(err->code && err->code[0] && err->message && err->message[0]);
	FUZZ_ASSERT((status == 405) == (err->allow != NULL));
}

static void check_time(const char *s)
{
	uint64_t us, back;
	char buf[32];

	if (cd_http_parse_time(s, &us) < 0)
		return;
	FUZZ_ASSERT(cd_http_format_time(us, buf, sizeof(buf)) == 0);
	FUZZ_ASSERT(cd_http_parse_time(buf, &back) == 0);
	FUZZ_ASSERT(back == us);
}

static void check_body(enum cd_http_route route, const char *body, size_t len)
{
	struct cd_http_body b = {};
	struct cd_http_error err;
	unsigned status = cd_http_parse_body(route, body, len, &b, &err);

	if (status) {
		check_error(status, &err);
		FUZZ_ASSERT(status == 400);
		FUZZ_ASSERT(!b.device && !b.kind);
		return;
	}
	FUZZ_ASSERT(!b.device || cd_http_device_valid(b.device));
	FUZZ_ASSERT(!b.kind || cd_http_kind_valid(b.kind));
	FUZZ_ASSERT(!b.kind || route == CD_ROUTE_SESSION_START);
	cd_http_body_done(&b);
	FUZZ_ASSERT(!b.device && !b.kind);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *field[N_FIELDS] = {};
	size_t body_len = 0;
	char *copy, *p, *end;
	struct cd_http_request req;
	struct cd_http_match m;
	struct cd_http_error err;
	unsigned status, flags;

	if (size < 1 || size > 64 * 1024)
		return 0;
	flags = data[0];
	/* NUL-terminated copy; fields are split at NULs. */
	copy = malloc(size);
	FUZZ_ASSERT(copy);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	end = copy + size - 1;
	p = copy;
	for (size_t i = 0; i < N_FIELDS && p <= end; i++) {
		field[i] = p;
		if (i == N_FIELDS - 1) {
			body_len = (size_t)(end - p); /* the body may hold NULs */
			break;
		}
		p += strlen(p) + 1;
	}

	req = (struct cd_http_request){
		.method = field[0] ? field[0] : "GET",
		.target = field[1],
		.http11 = flags & 1,
		.host = field[2],
		.n_host = field[2] ? 1 + ((flags >> 3) & 1) : 0,
		.origin = field[3],
		.n_origin = field[3] ? 1 + ((flags >> 4) & 1) : 0,
		.content_type = field[4],
		.n_content_type = field[4] ? 1 : 0,
		.has_content_length = flags & 2,
		.content_length = body_len,
		.chunked = flags & 4,
	};
	memset(&m, 0xa5, sizeof(m));
	status = cd_http_check_request(&req, MAX_BODY, &m, &err);
	if (status) {
		check_error(status, &err);
	} else {
		FUZZ_ASSERT(m.route >= 0 && m.route < _CD_ROUTE_MAX);
		FUZZ_ASSERT(cd_http_route_to_string(m.route) != NULL);
		FUZZ_ASSERT(m.limit >= 1 && m.limit <= CD_HTTP_LIMIT_MAX);
		FUZZ_ASSERT(!(req.has_content_length && req.chunked));
		FUZZ_ASSERT(!req.has_content_length || req.content_length <= MAX_BODY);
		FUZZ_ASSERT(req.n_host <= 1);
		if (m.route == CD_ROUTE_SESSION_ID || m.route == CD_ROUTE_SESSION_SAMPLES)
			FUZZ_ASSERT(m.id >= 1);
		if (m.route == CD_ROUTE_SESSION_START || m.route == CD_ROUTE_SESSION_STOP) {
			FUZZ_ASSERT(strcmp(req.method, "POST") == 0);
			FUZZ_ASSERT(req.content_type && cd_http_content_type_is_json(req.content_type));
			if (field[5])
				check_body(m.route, field[5], body_len < MAX_BODY ? body_len : MAX_BODY);
		}
	}
	/* Bodies for both POST routes, accepted request or not. */
	if (field[5]) {
		check_body(CD_ROUTE_SESSION_START, field[5], body_len);
		check_body(CD_ROUTE_SESSION_STOP, field[5], body_len);
	}

	/* The helpers the checks use, on every field. */
	for (size_t i = 0; i < N_FIELDS - 1; i++) {
		struct sockaddr_storage sa;
		socklen_t len;
		char *u = NULL;

		if (!field[i])
			continue;
		(void)cd_http_host_is_loopback(field[i]);
		(void)cd_http_origin_is_loopback(field[i]);
		(void)cd_http_content_type_is_json(field[i]);
		(void)cd_http_kind_valid(field[i]);
		(void)cd_http_device_valid(field[i]);
		check_time(field[i]);
		if (cd_http_parse_listen(field[i], &sa, &len) == 0)
			FUZZ_ASSERT(sa.ss_family == AF_INET || sa.ss_family == AF_INET6);
		if (cd_http_unescape(field[i], strlen(field[i]), flags & 32, &u) == 0) {
			FUZZ_ASSERT(strlen(u) <= strlen(field[i]));
			free(u);
		}
	}
	/* Formatting any time in range parses back exactly. */
	if (size >= 9) {
		uint64_t us, back;
		char buf[32];

		memcpy(&us, data + size - 8, sizeof(us));
		/* 1 µs .. 9999-12-31T23:59:59.999999Z; 0 means "no bound" and is refused. */
		us = 1 + us % (UINT64_C(253402300800) * 1000000 - 1);
		FUZZ_ASSERT(cd_http_format_time(us, buf, sizeof(buf)) == 0);
		FUZZ_ASSERT(cd_http_parse_time(buf, &back) == 0 && back == us);
	}
	free(copy);
	return 0;
}
