/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "civil-time.h"
#include "dose.h"
#include "import.h"
#include "cleanup.h"
#include "cleanup-json.h"
#include "http-parse.h"


#define MAX_SEGMENTS 4
/* 9999-12-31T23:59:59Z: the last second ISO 8601's four-digit year can name. */
#define TIME_MAX_S UINT64_C(253402300799)

static const char *const route_names[_CD_ROUTE_MAX] = {
	[CD_ROUTE_SESSION] = "session",
	[CD_ROUTE_SESSIONS] = "sessions",
	[CD_ROUTE_SESSION_ID] = "session-id",
	[CD_ROUTE_SESSION_SAMPLES] = "session-samples",
	[CD_ROUTE_SESSION_EXPORT] = "session-export",
	[CD_ROUTE_DEVICES] = "devices",
	[CD_ROUTE_SESSION_START] = "session-start",
	[CD_ROUTE_SESSION_STOP] = "session-stop",
	[CD_ROUTE_HEALTHZ] = "healthz",
	[CD_ROUTE_METRICS] = "metrics",
	[CD_ROUTE_SUMMARY] = "summary",
	[CD_ROUTE_SESSIONS_IMPORT] = "sessions-import",
	[CD_ROUTE_EVENTS] = "events",
	[CD_ROUTE_PAGE] = "page",
};

const char *cd_http_route_to_string(enum cd_http_route r)
{
	if (r < 0 || r >= _CD_ROUTE_MAX)
		return NULL;
	return route_names[r];
}

static unsigned fail(struct cd_http_error *err, unsigned status, const char *code,
		     const char *message)
{
	*err = (struct cd_http_error){ .status = status, .code = code, .message = message };
	return status;
}

static bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cd_http_unescape(const char *s, size_t len, bool plus_space, char **ret)
{
	_cleanup_free_ char *out = malloc(len + 1);
	size_t o = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\0')
			return -EINVAL;
		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return -EINVAL;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		out[o++] = c;
	}
	out[o] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

/* Decimal digits only, no sign, no blanks; -ERANGE above max. */
static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -EINVAL;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

/* ":PORT" tail of a Host value or listen address: 1-5 digits, ≤ 65535. */
static bool parse_port(const char *s, size_t len, uint16_t *ret)
{
	uint64_t v;

	if (len == 0 || len > 5 || parse_u64(s, len, 65535, &v) < 0)
		return false;
	if (ret)
		*ret = (uint16_t)v;
	return true;
}

/* One DNS label of a *.localhost name: LDH, 1-63, no hyphen at either end. */
static bool label_valid(const char *s, size_t len)
{
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
			return false;
	}
	return true;
}

static bool name_is_loopback(const char *s, size_t len)
{
	static const char suffix[] = "localhost";
	const size_t n = sizeof(suffix) - 1;
	char ip[INET_ADDRSTRLEN];
	struct in_addr a4;
	bool numeric = true;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_digit(s[i]) && s[i] != '.')
			numeric = false;
	if (numeric) {
		/* inet_pton takes only the strict dotted quad: no "127.1", no octal. */
		if (len >= sizeof(ip))
			return false;
		memcpy(ip, s, len);
		ip[len] = '\0';
		return inet_pton(AF_INET, ip, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
	}

	if (len < n || strncasecmp(s + len - n, suffix, n) != 0)
		return false;
	if (len == n)
		return true;
	/* RFC 6761 §6.3: every name under .localhost is loopback, resolved locally. */
	if (s[len - n - 1] != '.')
		return false;
	for (size_t start = 0, i = 0; i <= len - n - 1; i++) {
		if (i == len - n - 1 || s[i] == '.') {
			if (!label_valid(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* host [":" port] of s[0..len). */
static bool authority_is_loopback(const char *s, size_t len)
{
	const char *colon;

	if (len == 0)
		return false;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		char ip[INET6_ADDRSTRLEN];
		struct in6_addr a6;
		size_t n;

		if (!close)
			return false;
		n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof(ip))
			return false;
		memcpy(ip, s + 1, n);
		ip[n] = '\0';
		/* No zone ids ("%eth0"): inet_pton refuses them. */
		if (inet_pton(AF_INET6, ip, &a6) != 1 || !IN6_IS_ADDR_LOOPBACK(&a6))
			return false;
		n = len - (size_t)(close + 1 - s);
		if (n == 0)
			return true;
		return close[1] == ':' && parse_port(close + 2, n - 1, NULL);
	}

	colon = memchr(s, ':', len);
	if (colon && !parse_port(colon + 1, len - (size_t)(colon + 1 - s), NULL))
		return false;
	return name_is_loopback(s, colon ? (size_t)(colon - s) : len);
}

bool cd_http_host_is_loopback(const char *host)
{
	return host && authority_is_loopback(host, strlen(host));
}

bool cd_http_origin_is_loopback(const char *origin)
{
	size_t skip;

	if (!origin)
		return false;
	if (strncasecmp(origin, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		skip = 8;
	else
		return false; /* includes "null" (sandboxed frames, file://) */
	/* An origin is scheme://host[:port]: no path, query, userinfo or blanks. */
	if (strpbrk(origin + skip, "/?#@ \t"))
		return false;
	return authority_is_loopback(origin + skip, strlen(origin + skip));
}

static const char *skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

bool cd_http_content_type_is_json(const char *ct)
{
	static const char type[] = "application/json";
	const char *p;

	if (!ct)
		return false;
	p = skip_ows(ct);
	if (strncasecmp(p, type, sizeof(type) - 1) != 0)
		return false;
	p = skip_ows(p + sizeof(type) - 1);
	/* RFC 9110 §8.3.1: parameters are ; name=value, value a token or quoted. */
	while (*p) {
		const char *name, *value;
		size_t name_len, value_len;
		bool quoted;

		if (*p != ';')
			return false;
		p = skip_ows(p + 1);
		if (*p == '\0')
			break;
		name = p;
		while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		name_len = (size_t)(p - name);
		if (*p != '=' || name_len == 0)
			return false;
		p++;
		quoted = *p == '"';
		if (quoted)
			p++;
		value = p;
		while (*p && (quoted ? *p != '"' : (*p != ';' && *p != ' ' && *p != '\t')))
			p++;
		value_len = (size_t)(p - value);
		if (quoted) {
			if (*p != '"')
				return false;
			p++;
		}
		if (name_len == 7 && strncasecmp(name, "charset", 7) == 0 &&
		    !(value_len == 5 && strncasecmp(value, "utf-8", 5) == 0))
			return false;
		p = skip_ows(p);
	}
	return true;
}

bool cd_http_profile_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > CD_HTTP_PROFILE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Media type ct is exactly type (case-insensitive), with any parameters after it. */
static bool media_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	const char *p = skip_ows(ct);

	if (strncasecmp(p, type, n) != 0)
		return false;
	p = skip_ows(p + n);
	return *p == '\0' || *p == ';';
}

int cd_http_import_format(const char *ct)
{
	if (!ct)
		return -1;
	if (media_type_is(ct, "text/csv"))
		return CD_IMPORT_CSV;
	if (media_type_is(ct, "application/vnd.ant.fit"))
		return CD_IMPORT_FIT;
	if (media_type_is(ct, "application/vnd.garmin.tcx+xml"))
		return CD_IMPORT_TCX;
	return -1;
}

bool cd_http_kind_valid(const char *kind)
{
	size_t n;

	if (!kind || !(kind[0] >= 'a' && kind[0] <= 'z'))
		return false;
	n = strlen(kind);
	if (n > CD_HTTP_KIND_MAX)
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = kind[i];
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool cd_http_device_valid(const char *device)
{
	size_t n;

	if (!device)
		return false;
	n = strlen(device);
	if (n == 0 || n > CD_HTTP_DEVICE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = device[i];
		if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == ':' || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool fixed_digits(const char *s, size_t n, unsigned *ret)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*ret = v;
	return true;
}

int cd_http_parse_time(const char *s, uint64_t *ret_us)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec, frac = 0, leap, dim;
	size_t len = strlen(s);
	const char *p;
	uint64_t secs;

	if (len > 0 && len <= 12 && strspn(s, "0123456789") == len) {
		if (parse_u64(s, len, TIME_MAX_S, &secs) < 0 || secs == 0)
			return -EINVAL;
		*ret_us = secs * 1000000;
		return 0;
	}

	/* YYYY-MM-DDTHH:MM:SS */
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (!fixed_digits(s, 4, &y) || !fixed_digits(s + 5, 2, &mo) ||
	    !fixed_digits(s + 8, 2, &d) || !fixed_digits(s + 11, 2, &h) ||
	    !fixed_digits(s + 14, 2, &mi) || !fixed_digits(s + 17, 2, &sec))
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59)
		return -EINVAL;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	dim = mdays[mo - 1] + (mo == 2 ? leap : 0);
	if (d < 1 || d > dim)
		return -EINVAL;

	p = s + 19;
	if (*p == '.') {
		unsigned digits = 0;

		for (p++; is_digit(*p); p++, digits++) {
			if (digits >= 9)
				return -EINVAL;
			if (digits < 6)
				frac = frac * 10 + (unsigned)(*p - '0');
		}
		if (digits == 0)
			return -EINVAL;
		for (; digits < 6; digits++)
			frac *= 10;
	}
	if (!((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') && strcmp(p, "+00:00") != 0)
		return -EINVAL;

	secs = (uint64_t)cd_days_from_civil(y, mo, d) * 86400 + h * 3600u + mi * 60u + sec;
	if (secs == 0 && frac == 0)
		return -EINVAL;
	*ret_us = secs * 1000000 + frac;
	return 0;
}

int cd_http_format_time(uint64_t us, char *buf, size_t size)
{
	uint64_t secs = us / 1000000, days = secs / 86400, rem = secs % 86400;
	unsigned frac = (unsigned)(us % 1000000), m, d;
	int64_t y;
	int n;

	if (secs > TIME_MAX_S)
		return -EINVAL;
	cd_civil_from_days((int64_t)days, &y, &m, &d);
	if (frac % 1000 == 0)
		n = snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m,
			     d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
			     (unsigned)(rem % 60), frac / 1000);
	else
		n = snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ", (long long)y, m,
			     d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
			     (unsigned)(rem % 60), frac);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	return 0;
}

int cd_http_parse_listen(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	const char *colon;
	char ip[INET6_ADDRSTRLEN];
	uint16_t port;
	size_t n;

	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ret;

		if (!close || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof(ip))
			return -EINVAL;
		memcpy(ip, s + 1, n);
		ip[n] = '\0';
		if (!parse_port(close + 2, strlen(close + 2), &port))
			return -EINVAL;
		memset(ret, 0, sizeof(*ret));
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, ip, &a6->sin6_addr) != 1)
			return -EINVAL;
		*ret_len = sizeof(*a6);
		return 0;
	}

	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(ip) || !parse_port(colon + 1, strlen(colon + 1), &port))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (strcasecmp(ip, "localhost") == 0)
		strcpy(ip, "127.0.0.1");

	struct sockaddr_in *a4 = (struct sockaddr_in *)ret;
	memset(ret, 0, sizeof(*ret));
	a4->sin_family = AF_INET;
	a4->sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &a4->sin_addr) != 1)
		return -EINVAL;
	*ret_len = sizeof(*a4);
	return 0;
}

/* Decoded path segments of the request-target. */
struct segments {
	char *s[MAX_SEGMENTS];
	size_t n;
};

static void segments_done(struct segments *segs)
{
	for (size_t i = 0; i < segs->n; i++)
		free(segs->s[i]);
	segs->n = 0;
}

/* /static/NAME: [a-z0-9-]+ "." [a-z]+, short; the pages module knows which exist. */
static bool page_name_valid(const char *s)
{
	size_t n = strlen(s), dots = 0;

	if (n == 0 || n > CD_HTTP_PAGE_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.')
			dots++;
		else if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	}
	return dots == 1 && s[n - 1] != '.';
}

/*
 * Route the decoded path.  Each segment is decoded on its own (RFC 3986
 * §2.4), so "%2F" never splits a segment and "/sessions%2F5" is not found.
 * Sets *ret_id to the {id} segment when the route has one.
 */
static enum cd_http_route route_path(const struct segments *segs, const char **ret_id)
{
	char *const *s = segs->s;
	size_t n = segs->n;

	*ret_id = NULL;
	if (n == 1 && streq(s[0], "session"))
		return CD_ROUTE_SESSION;
	if (n == 1 && streq(s[0], "sessions"))
		return CD_ROUTE_SESSIONS;
	if (n == 1 && streq(s[0], "devices"))
		return CD_ROUTE_DEVICES;
	if (n == 1 && streq(s[0], "healthz"))
		return CD_ROUTE_HEALTHZ;
	if (n == 1 && streq(s[0], "metrics"))
		return CD_ROUTE_METRICS;
	if (n == 1 && streq(s[0], "summary"))
		return CD_ROUTE_SUMMARY;
	if (n == 2 && streq(s[0], "sessions") && streq(s[1], "import"))
		return CD_ROUTE_SESSIONS_IMPORT;
	if (n == 1 && streq(s[0], "events"))
		return CD_ROUTE_EVENTS;
	if (n == 1 && (streq(s[0], "") || streq(s[0], "overlay")))
		return CD_ROUTE_PAGE;
	if (n == 2 && streq(s[0], "static") && page_name_valid(s[1]))
		return CD_ROUTE_PAGE;
	if (n == 2 && streq(s[0], "session") && streq(s[1], "start"))
		return CD_ROUTE_SESSION_START;
	if (n == 2 && streq(s[0], "session") && streq(s[1], "stop"))
		return CD_ROUTE_SESSION_STOP;
	if (n >= 2 && n <= 3 && streq(s[0], "sessions") && s[1][0] != '\0') {
		if (n == 3 && !streq(s[2], "samples") && !streq(s[2], "export"))
			return _CD_ROUTE_INVALID;
		*ret_id = s[1];
		if (n == 3 && streq(s[2], "export"))
			return CD_ROUTE_SESSION_EXPORT;
		return n == 2 ? CD_ROUTE_SESSION_ID : CD_ROUTE_SESSION_SAMPLES;
	}
	return _CD_ROUTE_INVALID;
}

static bool route_is_post(enum cd_http_route r)
{
	return r == CD_ROUTE_SESSION_START || r == CD_ROUTE_SESSION_STOP ||
	       r == CD_ROUTE_SESSIONS_IMPORT;
}

/* Query parameters each route takes; anything else is a 400. */
enum param {
	PARAM_LIMIT,
	PARAM_BEFORE,
	PARAM_SINCE,
	PARAM_FORMAT,
	PARAM_BY,
	PARAM_FROM,
	PARAM_TO,
	PARAM_PROFILE,
	PARAM_STARTED_AT,
	PARAM_DEVICE,
	PARAM_KIND,
	_PARAM_MAX,
};

static const char *const param_names[_PARAM_MAX] = {
	[PARAM_LIMIT] = "limit",
	[PARAM_BEFORE] = "before",
	[PARAM_SINCE] = "since",
	[PARAM_FORMAT] = "format",
	[PARAM_BY] = "by",
	[PARAM_FROM] = "from",
	[PARAM_TO] = "to",
	[PARAM_PROFILE] = "profile",
	[PARAM_STARTED_AT] = "started_at",
	[PARAM_DEVICE] = "device",
	[PARAM_KIND] = "kind",
};

static bool route_takes(enum cd_http_route r, enum param p)
{
	switch (p) {
	case PARAM_LIMIT:
	case PARAM_BEFORE:
	case PARAM_SINCE:
		return r == CD_ROUTE_SESSIONS;
	case PARAM_FORMAT:
		return r == CD_ROUTE_SESSION_SAMPLES || r == CD_ROUTE_SESSION_EXPORT;
	case PARAM_BY:
	case PARAM_FROM:
	case PARAM_TO:
		return r == CD_ROUTE_SUMMARY;
	case PARAM_PROFILE:
		return r == CD_ROUTE_SUMMARY || r == CD_ROUTE_SESSIONS_IMPORT;
	case PARAM_DEVICE:
		return r == CD_ROUTE_SESSIONS_IMPORT || r == CD_ROUTE_EVENTS;
	case PARAM_STARTED_AT:
	case PARAM_KIND:
		return r == CD_ROUTE_SESSIONS_IMPORT;
	case _PARAM_MAX:
		break;
	}
	return false;
}

/*
 * started_at: what cd_http_parse_time() takes, or an ISO 8601 time with a
 * numeric offset, "…T23:50:00+02:00" (a '+' left unencoded in the query
 * arrives as ' ', taken as '+').  0 or -EINVAL.
 */
static int parse_time_with_offset(const char *s, uint64_t *ret_us)
{
	char buf[64];
	size_t n = strlen(s);
	unsigned hh, mm;
	uint64_t us, off;

	if (cd_http_parse_time(s, ret_us) == 0)
		return 0;
	if (n < 7 || n >= sizeof(buf) || !strchr("+- ", s[n - 6]) || s[n - 3] != ':' ||
	    !fixed_digits(s + n - 5, 2, &hh) || !fixed_digits(s + n - 2, 2, &mm) || hh > 23 ||
	    mm > 59)
		return -EINVAL;
	memcpy(buf, s, n - 6);
	buf[n - 6] = 'Z';
	buf[n - 5] = '\0';
	if (cd_http_parse_time(buf, &us) < 0 || !strchr(buf, 'T'))
		return -EINVAL;
	off = ((uint64_t)hh * 3600 + mm * 60) * 1000000;
	if (s[n - 6] == '-')
		us += off;
	else if (us >= off)
		us -= off;
	else
		return -EINVAL;
	*ret_us = us;
	return 0;
}

static unsigned parse_param(enum param p, const char *value, struct cd_http_match *m,
			    struct cd_http_error *err)
{
	uint64_t v;

	switch (p) {
	case PARAM_LIMIT:
		if (parse_u64(value, strlen(value), UINT64_MAX, &v) < 0 || v < 1 ||
		    v > CD_HTTP_LIMIT_MAX)
			return fail(err, 400, "bad_query", "limit must be an integer from 1 to 1000");
		m->limit = (unsigned)v;
		return 0;
	case PARAM_BEFORE:
	case PARAM_SINCE:
		if (cd_http_parse_time(value, p == PARAM_BEFORE ? &m->before_us : &m->since_us) < 0)
			return fail(err, 400, "bad_query",
				    "before and since take an ISO 8601 UTC time "
				    "(YYYY-MM-DDTHH:MM:SS[.fff]Z) or integer Unix seconds");
		return 0;
	case PARAM_FORMAT:
		if (m->route == CD_ROUTE_SESSION_EXPORT) {
			if (strcmp(value, "fit") == 0)
				m->export_format = CD_EXPORT_FIT;
			else if (strcmp(value, "tcx") == 0)
				m->export_format = CD_EXPORT_TCX;
			else if (strcmp(value, "csv") == 0)
				m->export_format = CD_EXPORT_CSV;
			else
				return fail(err, 400, "bad_query", "format must be csv, tcx or fit");
			return 0;
		}
		if (strcmp(value, "csv") == 0)
			m->csv = true;
		else if (strcmp(value, "json") == 0)
			m->csv = false;
		else
			return fail(err, 400, "bad_query", "format must be json or csv");
		return 0;
	case PARAM_BY:
		m->summary.by = cd_summary_by_from_string(value);
		if (m->summary.by < 0)
			return fail(err, 400, "bad_query", "by must be day, week or month");
		return 0;
	case PARAM_FROM:
	case PARAM_TO:
		if (cd_parse_date(value, p == PARAM_FROM ? &m->summary.from : &m->summary.to) < 0)
			return fail(err, 400, "bad_query",
				    "from and to take a date YYYY-MM-DD (1970-01-01 or later)");
		*(p == PARAM_FROM ? &m->summary.has_from : &m->summary.has_to) = true;
		return 0;
	case PARAM_PROFILE:
		if (!cd_http_profile_valid(value))
			return fail(err, 400, "bad_query",
				    "profile must be a profile name (letters, digits, _ . -; at "
				    "most 63)");
		snprintf(m->route == CD_ROUTE_SUMMARY ? m->summary.profile : m->import.profile,
			 CD_HTTP_PROFILE_MAX + 1, "%s", value);
		return 0;
	case PARAM_STARTED_AT:
		if (parse_time_with_offset(value, &m->import.started_at_us) < 0)
			return fail(err, 400, "bad_query",
				    "started_at takes an ISO 8601 time (YYYY-MM-DDTHH:MM:SS[.fff] "
				    "then Z or +HH:MM) or integer Unix seconds");
		m->import.has_started_at = true;
		return 0;
	case PARAM_DEVICE:
		if (!cd_http_device_valid(value))
			return fail(err, 400, "bad_query",
				    "device must be a device id ([A-Za-z0-9:._-], at most 64)");
		if (m->route == CD_ROUTE_EVENTS)
			snprintf(m->device, sizeof(m->device), "%s", value);
		else
			snprintf(m->import.device, sizeof(m->import.device), "%s", value);
		return 0;
	case PARAM_KIND:
		if (!cd_http_kind_valid(value))
			return fail(err, 400, "bad_query",
				    "kind must be a tag: [a-z][a-z0-9_-]*, at most 32");
		snprintf(m->import.kind, sizeof(m->import.kind), "%s", value);
		return 0;
	case _PARAM_MAX:
		break;
	}
	return fail(err, 400, "bad_query", "unknown query parameter");
}

static unsigned parse_query(const char *q, size_t len, struct cd_http_match *m,
			    struct cd_http_error *err)
{
	bool seen[_PARAM_MAX] = {};
	const char *end = q + len;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *piece_end = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(piece_end - q));
		_cleanup_free_ char *key = NULL, *value = NULL;
		enum param p;
		unsigned r;

		if (piece_end == q) { /* "a=1&&b=2", a trailing '&' */
			q = piece_end + 1;
			continue;
		}
		if (cd_http_unescape(q, (size_t)((eq ? eq : piece_end) - q), true, &key) < 0)
			return fail(err, 400, "bad_query", "malformed percent-encoding in the query");
		for (p = 0; p < _PARAM_MAX; p++)
			if (strcmp(key, param_names[p]) == 0)
				break;
		if (p == _PARAM_MAX || !route_takes(m->route, p))
			return fail(err, 400, "bad_query", "unknown query parameter");
		if (seen[p])
			return fail(err, 400, "bad_query", "repeated query parameter");
		seen[p] = true;
		if (!eq)
			return fail(err, 400, "bad_query", "query parameter without a value");
		if (cd_http_unescape(eq + 1, (size_t)(piece_end - eq - 1), true, &value) < 0)
			return fail(err, 400, "bad_query", "malformed percent-encoding in the query");
		r = parse_param(p, value, m, err);
		if (r)
			return r;
		q = piece_end + 1;
	}
	return 0;
}

unsigned cd_http_check_request(const struct cd_http_request *req, size_t max_body,
			       struct cd_http_match *ret, struct cd_http_error *err)
{
	_cleanup_(segments_done) struct segments segs = {};
	struct cd_http_match m = { .limit = CD_HTTP_LIMIT_DEFAULT,
				   .summary = { .by = CD_SUMMARY_WEEK } };
	const char *t = req->target, *path_end, *p, *id_seg;
	bool get, head, post;
	unsigned r;

	/* DNS rebinding first (ECOSYSTEM §3.2.2): nothing else runs for a foreign Host. */
	if (req->n_host > 1)
		return fail(err, 400, "bad_host", "more than one Host header");
	if (!req->host || req->host[0] == '\0') {
		if (req->http11)
			return fail(err, 400, "bad_host", "HTTP/1.1 request without a Host header");
	} else if (!req->any_host && !cd_http_host_is_loopback(req->host))
		return fail(err, 421, "misdirected_request",
			    "the Host header must name this machine's loopback interface");
	if (req->n_origin > 1 || (req->origin && !cd_http_origin_is_loopback(req->origin)))
		return fail(err, 403, "forbidden_origin",
			    "cross-origin requests from non-loopback origins are refused");

	/* origin-form only (RFC 9112 §3.2.1); no absolute-form, no "*". */
	if (!t || t[0] != '/' || strchr(t, '#'))
		return fail(err, 400, "bad_request", "the request-target must be an absolute path");
	path_end = t + strcspn(t, "?");
	for (p = t; p < path_end;) {
		const char *s = p + 1, *e = s;

		while (e < path_end && *e != '/')
			e++;
		if (segs.n == MAX_SEGMENTS)
			return fail(err, 404, "not_found", "no such resource");
		r = (unsigned)-cd_http_unescape(s, (size_t)(e - s), false, &segs.s[segs.n]);
		if (r == ENOMEM)
			return fail(err, 500, "internal_error", "out of memory");
		if (r)
			return fail(err, 400, "bad_request", "malformed percent-encoding in the path");
		segs.n++;
		p = e;
	}
	m.route = route_path(&segs, &id_seg);
	if (m.route == _CD_ROUTE_INVALID) {
		return fail(err, 404, "not_found", "no such resource");
	}

	get = strcmp(req->method, "GET") == 0;
	head = strcmp(req->method, "HEAD") == 0;
	post = strcmp(req->method, "POST") == 0;
	if (route_is_post(m.route) ? !post : !(get || head)) {
		fail(err, 405, "method_not_allowed", "method not allowed on this resource");
		err->allow = route_is_post(m.route) ? "POST" : "GET, HEAD";
		return 405;
	}
	m.head = head;

	if (id_seg) {
		uint64_t id;

		if (parse_u64(id_seg, strlen(id_seg), UINT64_MAX, &id) < 0)
			return fail(err, 400, "bad_id", "session ids are decimal integers");
		if (id == 0)
			return fail(err, 404, "not_found", "no such session");
		m.id = id;
	}

	if (m.route == CD_ROUTE_PAGE)
		snprintf(m.page, sizeof(m.page), "%s",
			 segs.n == 2 ? segs.s[1] : streq(segs.s[0], "") ? "index.html" : "overlay.html");
	/* A page's query (?device=, ?style=) is read by its script, not here. */
	if (*path_end == '?' && m.route != CD_ROUTE_PAGE) {
		r = parse_query(path_end + 1, strlen(path_end + 1), &m, err);
		if (r)
			return r;
	}

	if (req->has_content_length && req->chunked)
		return fail(err, 400, "bad_request",
			    "Content-Length and Transfer-Encoding together");
	if (m.route == CD_ROUTE_SUMMARY && m.summary.has_from && m.summary.has_to &&
	    m.summary.from > m.summary.to)
		return fail(err, 400, "bad_query", "from is after to");
	if (m.route == CD_ROUTE_SESSIONS_IMPORT) {
		/* Its own size cap ([http] max_import_bytes) is the glue's. */
		m.import.format = cd_http_import_format(req->content_type);
		if (req->n_content_type != 1 || m.import.format < 0)
			return fail(err, 415, "unsupported_media_type",
				    "an import needs Content-Type text/csv, "
				    "application/vnd.ant.fit or application/vnd.garmin.tcx+xml");
		*ret = m;
		return 0;
	}
	if (req->has_content_length && req->content_length > max_body)
		return fail(err, 413, "body_too_large", "request body too large");
	if (post) {
		/*
		 * Always, even without a body: a browser sends application/json
		 * cross-origin only after a CORS preflight, which we never
		 * grant, so "simple" form posts (CSRF) cannot reach us.
		 */
		if (req->n_content_type != 1 || !cd_http_content_type_is_json(req->content_type))
			return fail(err, 415, "unsupported_media_type",
				    "POST needs Content-Type: application/json");
	}

	*ret = m;
	return 0;
}

void cd_http_body_done(struct cd_http_body *b)
{
	free(b->device);
	free(b->kind);
	*b = (struct cd_http_body){};
}

unsigned cd_http_parse_body(enum cd_http_route route, const char *body, size_t len,
			    struct cd_http_body *ret, struct cd_http_error *err)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	_cleanup_free_ char *buf = NULL, *device = NULL, *kind = NULL;
	bool seen_device = false, seen_kind = false;
	const char *end = NULL;
	cJSON *item;

	if (len == 0) {
		*ret = (struct cd_http_body){};
		return 0;
	}
	if (memchr(body, '\0', len))
		return fail(err, 400, "bad_json", "the body contains a NUL byte");
	buf = malloc(len + 1);
	if (!buf)
		return fail(err, 500, "internal_error", "out of memory");
	memcpy(buf, body, len);
	buf[len] = '\0';
	/*
	 * cJSON decodes "\u0000" into a NUL inside valuestring, which would
	 * silently truncate it ("sim-1\u0000x" → "sim-1").  No valid value
	 * contains one, so refuse the escape outright.
	 */
	if (strcasestr(buf, "\\u0000"))
		return fail(err, 400, "bad_json", "the body contains an escaped NUL");

	/* require_null_terminated: nothing but whitespace may follow the value. */
	root = cJSON_ParseWithOpts(buf, &end, true);
	if (!root)
		return fail(err, 400, "bad_json", "the body is not valid JSON");
	if (!cJSON_IsObject(root))
		return fail(err, 400, "bad_body", "the body must be a JSON object");

	cJSON_ArrayForEach(item, root) {
		bool is_kind;
		char **dst;

		if (!item->string)
			return fail(err, 400, "bad_body", "malformed object");
		if (strcmp(item->string, "device") == 0)
			is_kind = false;
		else if (strcmp(item->string, "kind") == 0 && route == CD_ROUTE_SESSION_START)
			is_kind = true;
		else
			return fail(err, 400, "bad_body",
				    route == CD_ROUTE_SESSION_START
					    ? "unknown key: the body takes \"device\" and \"kind\""
					    : "unknown key: the body takes \"device\" only");
		if (is_kind ? seen_kind : seen_device)
			return fail(err, 400, "bad_body", "repeated key");
		*(is_kind ? &seen_kind : &seen_device) = true;
		if (cJSON_IsNull(item))
			continue;
		if (!cJSON_IsString(item))
			return fail(err, 400, "bad_body", "device and kind must be strings");
		if (is_kind && !cd_http_kind_valid(item->valuestring))
			return fail(err, 400, "bad_kind",
				    "kind must be a lower-case tag like \"aerobic\" "
				    "([a-z][a-z0-9_-]*, at most 32 characters)");
		if (!is_kind && !cd_http_device_valid(item->valuestring))
			return fail(err, 400, "bad_device", "malformed device id");
		dst = is_kind ? &kind : &device;
		*dst = strdup(item->valuestring);
		if (!*dst)
			return fail(err, 500, "internal_error", "out of memory");
	}

	*ret = (struct cd_http_body){ .device = TAKE_PTR(device), .kind = TAKE_PTR(kind) };
	return 0;
}
