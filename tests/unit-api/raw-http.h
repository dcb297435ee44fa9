/* SPDX-License-Identifier: MIT */
/*
 * A raw HTTP/1.1 client for test-http-server.c: one request on a fresh
 * loopback connection, the whole reply read (chunked bodies decoded in
 * place), headers looked up by name.  Raw sockets on purpose: the tests
 * send malformed, oversized and smuggling requests no library would.
 * Static functions, included by one test.
 */
#pragma once

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


struct reply {
	int status; /* 0: connection closed (or timed out) without a status line */
	bool timed_out;
	bool chunked;  /* Transfer-Encoding: chunked, decoded in place */
	bool complete; /* chunked: the last chunk came (a cut answer has none) */
	char *raw;
	size_t len;
	char *body; /* points into raw */
	size_t body_len;
};

static void reply_done(struct reply *r)
{
	free(r->raw);
	*r = (struct reply){};
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int connect_port(uint16_t port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the server may close early (413, 431): fine */
		s += n;
		len -= (size_t)n;
	}
}

/*
 * A chunked body (RFC 9112 §7.1), decoded in place when the first answer
 * in raw says so; what follows the last chunk (a pipelined answer) is
 * kept after the decoded body.
 */
static void dechunk(struct reply *r)
{
	const char *te = strcasestr(r->raw, "\r\nTransfer-Encoding: chunked\r\n");
	char *in = r->body, *out = r->body, *end = r->raw + r->len;

	if (!te || te > r->body)
		return;
	r->chunked = true;
	while (in < end) {
		char *eol = strstr(in, "\r\n");
		unsigned long n;

		if (!eol)
			break;
		n = strtoul(in, NULL, 16);
		if (n == 0) {
			r->complete = eol + 4 <= end && memcmp(eol, "\r\n\r\n", 4) == 0;
			in = r->complete ? eol + 4 : end;
			break;
		}
		if ((size_t)(end - (eol + 2)) < n + 2)
			break; /* cut short */
		memmove(out, eol + 2, n);
		out += n;
		in = eol + 2 + n + 2;
	}
	r->body_len = (size_t)(out - r->body);
	/* The rest (a pipelined answer) after the body, then a NUL. */
	if (r->complete && in < end) {
		memmove(out, in, (size_t)(end - in));
		r->len = (size_t)(out - r->raw) + (size_t)(end - in);
	} else
		r->len = (size_t)(out - r->raw);
	r->raw[r->len] = '\0';
}

/* Read until EOF or timeout_ms of silence; parse the status line. */
static void read_reply(int fd, int timeout_ms, struct reply *r)
{
	size_t cap = 4096;

	*r = (struct reply){ .raw = malloc(cap) };
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0) {
			r->timed_out = true;
			break;
		}
		if (r->len + 1024 > cap)
			r->raw = realloc(r->raw, cap *= 2);
		n = recv(fd, r->raw + r->len, cap - r->len - 1, 0);
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	r->raw[r->len] = '\0';
	if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = 0;
	r->body = strstr(r->raw, "\r\n\r\n");
	r->body = r->body ? r->body + 4 : r->raw + r->len;
	r->body_len = (size_t)(r->raw + r->len - r->body);
	dechunk(r);
}

static void request(uint16_t port, const char *raw, size_t len, struct reply *r)
{
	int fd = connect_port(port);

	if (fd < 0) {
		*r = (struct reply){ .raw = strdup("") };
		r->body = r->raw;
		return;
	}
	send_all(fd, raw, len);
	read_reply(fd, 5000, r);
	close(fd);
}

/* The value of header name in r (static buffer), or NULL. */
static const char *header(const struct reply *r, const char *name)
{
	static char value[512];
	size_t n = strlen(name);

	for (const char *l = strstr(r->raw, "\r\n"); l && l + 2 < r->body; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2, *e = strstr(s, "\r\n");
		if (strncasecmp(s, name, n) == 0 && s[n] == ':') {
			s += n + 1;
			while (*s == ' ')
				s++;
			snprintf(value, sizeof(value), "%.*s", (int)(e - s), s);
			return value;
		}
	}
	return NULL;
}
