/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "http-client.h"

#define MAX_RESPONSE (256u << 20) /* a year of samples at 4 Hz is ~150 MiB of CSV */

void http_response_done(struct http_response *r)
{
	free(r->content_type);
	free(r->body);
	*r = (struct http_response){};
}

__attribute__((format(printf, 3, 4))) static int fail(char **ret_error, int r, const char *fmt,
						      ...)
{
	va_list ap;

	if (ret_error) {
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			*ret_error = NULL;
		va_end(ap);
	}
	return r;
}

/*
 * "http://HOST[:PORT][/]": HOST a name, an IPv4 address or [IPv6], PORT
 * decimal.  Checked here so that a typo is a usage error with our own
 * words, and so that nothing but plain HTTP at the root is ever asked of
 * libcurl.
 */
static int check_url(const char *url)
{
	const char *p, *end, *colon = NULL;

	if (strncasecmp(url, "http://", 7) != 0)
		return -EINVAL;
	p = url + 7;
	end = p + strcspn(p, "/?#");
	if (end == p || memchr(p, '@', (size_t)(end - p)))
		return -EINVAL;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb || rb == p + 1)
			return -EINVAL;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return -EINVAL;
			colon = rb + 1;
		}
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		if (colon == p)
			return -EINVAL;
	}
	if (colon) {
		size_t n = (size_t)(end - colon - 1);

		if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") < n)
			return -EINVAL;
	}
	if (*end && strcmp(end, "/") != 0)
		return -EINVAL; /* no path prefix: cardiod serves at the root */
	return 0;
}

struct sink {
	char *buf;
	size_t len, cap;
	bool too_large;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;

	if (n > MAX_RESPONSE - s->len) {
		s->too_large = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		char *b;

		while (cap < s->len + n + 1)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b)
			return 0;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static int errno_of(CURLcode c)
{
	switch (c) {
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	case CURLE_WRITE_ERROR:
		return -EFBIG;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_PARTIAL_FILE:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

static void slist_freep(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}

static void easy_cleanupp(CURL **c)
{
	if (*c)
		curl_easy_cleanup(*c);
}

int http_request(const char *base_url, const char *method, const char *path, const char *body,
		 const char *token, unsigned timeout_s, struct http_response *ret,
		 char **ret_error)
{
	return http_request_typed(base_url, method, path, body, body ? strlen(body) : 0,
				  body ? "application/json" : NULL, token, timeout_s, ret,
				  ret_error);
}

int http_request_typed(const char *base_url, const char *method, const char *path,
		       const void *body, size_t body_len, const char *content_type,
		       const char *token, unsigned timeout_s, struct http_response *ret,
		       char **ret_error)
{
	static bool initialized;
	_cleanup_(easy_cleanupp) CURL *curl = NULL;
	_cleanup_(slist_freep) struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = NULL, *auth = NULL, *ctype = NULL;
	struct sink sink = {};
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *ct = NULL;
	size_t n = strlen(base_url);
	long status = 0;
	CURLcode c;
	int r;

	if (check_url(base_url) < 0)
		return fail(ret_error, -EINVAL, "bad URL '%s' (expected http://HOST:PORT)", base_url);
	if (n > 0 && base_url[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s%s", (int)n, base_url, path) < 0) {
		url = NULL;
		return -ENOMEM;
	}
	if (!initialized) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return fail(ret_error, -EIO, "cannot initialise libcurl");
		initialized = true;
	}
	curl = curl_easy_init();
	if (!curl)
		return -ENOMEM;

	headers = curl_slist_append(NULL, "Accept: */*");
	if (headers && body && content_type) {
		if (asprintf(&ctype, "Content-Type: %s", content_type) < 0) {
			ctype = NULL;
			curl_slist_free_all(headers);
			headers = NULL;
			return -ENOMEM;
		}
		headers = curl_slist_append(headers, ctype);
	}
	if (headers && token && *token) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
			auth = NULL;
			return -ENOMEM;
		}
		headers = curl_slist_append(headers, auth);
		explicit_bzero(auth, strlen(auth));
	}
	if (!headers)
		return -ENOMEM;

	c = curl_easy_setopt(curl, CURLOPT_URL, url);
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (c == CURLE_OK) /* never a proxy from the environment: the token stays on our path */
		c = curl_easy_setopt(curl, CURLOPT_PROXY, "");
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)timeout_s);
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_USERAGENT, "cardioctl");
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	if (c == CURLE_OK)
		c = curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	if (c == CURLE_OK && body) {
		c = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		if (c == CURLE_OK)
			c = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	if (c == CURLE_OK && strcmp(method, body ? "POST" : "GET") != 0)
		c = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (c == CURLE_OK)
		c = curl_easy_perform(curl);
	if (c != CURLE_OK) {
		free(sink.buf);
		r = errno_of(c);
		if (r == -ENOMEM)
			return r;
		if (sink.too_large)
			return fail(ret_error, -EFBIG, "%s: the answer is larger than %u MiB", url,
				    MAX_RESPONSE >> 20);
		return fail(ret_error, r, "%s", *errbuf ? errbuf : curl_easy_strerror(c));
	}
	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
	if (!sink.buf && !(sink.buf = calloc(1, 1)))
		return -ENOMEM;
	*ret = (struct http_response){
		.status = (int)status,
		.content_type = ct ? strdup(ct) : NULL,
		.body = sink.buf,
		.size = sink.len,
	};
	if (ct && !ret->content_type) {
		http_response_done(ret);
		return -ENOMEM;
	}
	return 0;
}
