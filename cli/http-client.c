/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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

/* "http://host:port" → host, port.  IPv6 literals in brackets. */
static int parse_url(const char *url, char **ret_host, char **ret_port)
{
	const char *p, *end, *colon = NULL;
	_cleanup_free_ char *host = NULL, *port = NULL;

	if (strncasecmp(url, "http://", 7) != 0)
		return -EINVAL;
	p = url + 7;
	end = p + strcspn(p, "/?#");
	if (end < p + 1)
		return -EINVAL;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return -EINVAL;
		host = strndup(p + 1, (size_t)(rb - p - 1));
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return -EINVAL;
			colon = rb + 1;
		}
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		host = strndup(p, (size_t)((colon ? colon : end) - p));
	}
	if (!host)
		return -ENOMEM;
	if (!*host)
		return -EINVAL;
	port = colon ? strndup(colon + 1, (size_t)(end - colon - 1)) : strdup("80");
	if (!port)
		return -ENOMEM;
	if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
		return -EINVAL;
	if (*end && strcmp(end, "/") != 0)
		return -EINVAL; /* no path prefix: cardiod serves at the root */
	*ret_host = TAKE_PTR(host);
	*ret_port = TAKE_PTR(port);
	return 0;
}

static int connect_to(const char *host, const char *port, unsigned timeout_s, char **ret_error)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	struct timeval tv = { .tv_sec = timeout_s };
	int fd = -1, r, err = ECONNREFUSED;

	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return fail(ret_error, -EHOSTUNREACH, "cannot resolve %s: %s", host, gai_strerror(r));
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return fail(ret_error, -err, "cannot connect to %s:%s: %s", host, port,
			    strerror(err));
	return fd;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

static int read_all(int fd, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, cap = 0;

	for (;;) {
		ssize_t k;

		if (cap - size < 16384) {
			char *nb;

			if (cap >= MAX_RESPONSE)
				return -EFBIG;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		k = recv(fd, buf + size, cap - size, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (k == 0)
			break;
		size += (size_t)k;
	}
	if (!buf && !(buf = malloc(1)))
		return -ENOMEM;
	buf[size] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

/* Decode a chunked body in place.  Returns the decoded size, or -EBADMSG. */
static ssize_t dechunk(char *body, size_t size)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *end;
		unsigned long n;

		if (in >= size)
			return -EBADMSG;
		n = strtoul(body + in, &end, 16);
		if (end == body + in)
			return -EBADMSG;
		end = strstr(end, "\r\n");
		if (!end)
			return -EBADMSG;
		in = (size_t)(end - body) + 2;
		if (n == 0)
			break;
		if (n > size - in || size - in - n < 2)
			return -EBADMSG;
		memmove(body + out, body + in, n);
		out += n;
		in += n + 2;
	}
	body[out] = '\0';
	return (ssize_t)out;
}

int http_request(const char *base_url, const char *method, const char *path, const char *body,
		 unsigned timeout_s, struct http_response *ret, char **ret_error)
{
	return http_request_typed(base_url, method, path, body, body ? strlen(body) : 0,
				  "application/json", timeout_s, ret, ret_error);
}

int http_request_typed(const char *base_url, const char *method, const char *path,
		       const void *body, size_t body_len, const char *content_type,
		       unsigned timeout_s, struct http_response *ret, char **ret_error)
{
	_cleanup_free_ char *host = NULL, *port = NULL, *req = NULL, *raw = NULL, *clen = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct http_response resp = {};
	const char *p, *headers_end, *line;
	bool chunked = false;
	size_t raw_size = 0;
	int r, n;

	r = parse_url(base_url, &host, &port);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return fail(ret_error, r, "bad URL '%s' (expected http://HOST:PORT)", base_url);

	fd = connect_to(host, port, timeout_s, ret_error);
	if (fd < 0)
		return fd;
	if (body && asprintf(&clen, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type,
			     body_len) < 0)
		return -ENOMEM;
	/* Host: the URL's authority (a loopback name or address for cardiod's Host check). */
	n = asprintf(&req,
		     "%s %s HTTP/1.1\r\n"
		     "Host: %s%s%s:%s\r\n"
		     "Connection: close\r\n"
		     "Accept: */*\r\n"
		     "User-Agent: cardioctl\r\n"
		     "%s"
		     "\r\n",
		     method, path, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
		     port, clen ? clen : "");
	if (n < 0)
		return -ENOMEM;
	r = write_all(fd, req, (size_t)n);
	if (r >= 0 && body && body_len > 0)
		r = write_all(fd, body, body_len);
	if (r >= 0)
		r = read_all(fd, &raw, &raw_size);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return fail(ret_error, r, "%s:%s: %s", host, port, strerror(-r));

	/* Status line and headers. */
	if (sscanf(raw, "HTTP/1.%*1[01] %3d", &resp.status) != 1 || resp.status < 100)
		return fail(ret_error, -EBADMSG, "%s:%s: not an HTTP response", host, port);
	headers_end = strstr(raw, "\r\n\r\n");
	if (!headers_end)
		return fail(ret_error, -EBADMSG, "%s:%s: truncated HTTP response", host, port);
	for (line = strstr(raw, "\r\n") + 2; line < headers_end; line = strstr(line, "\r\n") + 2) {
		size_t len = strcspn(line, "\r");

		if (strncasecmp(line, "Content-Type:", 13) == 0 && !resp.content_type) {
			p = line + 13 + strspn(line + 13, " \t");
			resp.content_type = strndup(p, len - (size_t)(p - line));
			if (!resp.content_type)
				return -ENOMEM;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
			   strstr(line, "chunked") && (size_t)(strstr(line, "chunked") - line) < len)
			chunked = true;
	}
	p = headers_end + 4;
	resp.size = raw_size - (size_t)(p - raw);
	memmove(raw, p, resp.size + 1);
	if (chunked) {
		ssize_t k = dechunk(raw, resp.size);

		if (k < 0) {
			free(resp.content_type);
			return fail(ret_error, -EBADMSG, "%s:%s: bad chunked body", host, port);
		}
		resp.size = (size_t)k;
	}
	resp.body = TAKE_PTR(raw);
	*ret = resp;
	return 0;
}
