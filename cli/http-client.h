/* SPDX-License-Identifier: MIT */
/*
 * A tiny HTTP/1.1 client for cardioctl's history commands: one request per
 * TCP connection ("Connection: close"), GET or POST with a JSON body, the
 * response read to EOF (Content-Length or chunked).  Enough for cardiod's
 * loopback API (DESIGN §4) without pulling in libcurl.
 */
#pragma once

#include <stddef.h>

struct http_response {
	int status;
	char *content_type; /* NULL when absent */
	char *body;         /* NUL-terminated; may contain NULs before size */
	size_t size;
};

void http_response_done(struct http_response *r);

/*
 * base_url: "http://HOST[:PORT]" (default port 80; HOST may be a name,
 * an IPv4 address or [IPv6]); path starts with '/'.  body: JSON for POST,
 * or NULL.  Returns 0 and *ret, or a negative errno with a one-line reason
 * in *ret_error (caller frees): -EINVAL for a bad URL, connection errors,
 * -EBADMSG for a malformed response, -ETIMEDOUT after timeout_s.
 */
int http_request(const char *base_url, const char *method, const char *path, const char *body,
		 unsigned timeout_s, struct http_response *ret, char **ret_error);
/* The same with a body of any type (e.g. text/csv for an import); body may hold NULs. */
int http_request_typed(const char *base_url, const char *method, const char *path,
		       const void *body, size_t body_len, const char *content_type,
		       unsigned timeout_s, struct http_response *ret, char **ret_error);
