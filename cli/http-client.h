/* SPDX-License-Identifier: MIT */
/*
 * cardioctl's HTTP client, on libcurl: one request, GET or POST with a JSON
 * body, the whole response in memory (at most 256 MiB).  Never through a
 * proxy (the token must not leave the machine's own path to cardiod).
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
 * or NULL.  token: sent as "Authorization: Bearer TOKEN" (DESIGN §9.7), or
 * NULL.  Returns 0 and *ret, or a negative errno with a one-line reason
 * in *ret_error (caller frees): -EINVAL for a bad URL, connection errors,
 * -EBADMSG for a malformed response, -ETIMEDOUT after timeout_s.
 */
int http_request(const char *base_url, const char *method, const char *path, const char *body,
		 const char *token, unsigned timeout_s, struct http_response *ret,
		 char **ret_error);
/*
 * The same with a body of any type (e.g. text/csv, a FIT file for an
 * import): body[0..body_len) may hold NULs; content_type NULL sends none.
 */
int http_request_typed(const char *base_url, const char *method, const char *path,
		       const void *body, size_t body_len, const char *content_type,
		       const char *token, unsigned timeout_s, struct http_response *ret,
		       char **ret_error);
