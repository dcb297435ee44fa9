/* SPDX-License-Identifier: MIT */
/*
 * The client side of bench/sse: N streams of GET /events on one epoll,
 * for S seconds.  Every hr event's "t" (the sample's realtime) is compared
 * with CLOCK_REALTIME taken just before the recv() that delivered it, per
 * stream.  Prints "N_EVENTS P50_US P99_US MAX_US" over every (event,
 * stream) pair, then the same over each event's slowest stream.  C, so the
 * probe's own cost between streams is microseconds, not a Python loop's.
 *
 * Usage: sse-probe PORT STREAMS SECONDS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LAT 2000000

struct conn {
	int fd;
	char tail[512];
	size_t tail_len;
};

static int64_t lat[MAX_LAT];
static int64_t measure_from; /* events older than this were sent while we were still connecting */
static size_t n_lat;

/* Per event (keyed by its t), the slowest stream. */
struct worst {
	int64_t t, lat;
};
static struct worst worst[65536];
static size_t n_worst;

static int64_t now_realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "2026-12-03T10:08:06.793271Z" → µs since the epoch (UTC). */
static int64_t parse_t(const char *s)
{
	struct tm tm = {};
	int64_t us = 0, scale = 100000;
	const char *p;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			us += (*p - '0') * scale;
	return (int64_t)timegm(&tm) * 1000000 + us;
}

static void note(int64_t t, int64_t l)
{
	if (n_lat < MAX_LAT)
		lat[n_lat++] = l;
	for (size_t i = n_worst; i-- > 0 && i + 64 > n_worst;)
		if (worst[i].t == t) {
			if (l > worst[i].lat)
				worst[i].lat = l;
			return;
		}
	if (n_worst < sizeof(worst) / sizeof(*worst))
		worst[n_worst++] = (struct worst){ t, l };
}

static void scan(struct conn *c, const char *data, size_t len, int64_t at)
{
	char buf[sizeof(c->tail) + 65536];
	size_t n = c->tail_len;
	const char *p, *end, *last = buf;

	memcpy(buf, c->tail, n);
	memcpy(buf + n, data, len);
	n += len;
	end = buf + n;
	for (p = buf; (p = memmem(p, (size_t)(end - p), "event: hr\n", 10)); p += 10) {
		const char *q = memmem(p, (size_t)(end - p), "\"t\":\"", 5);
		const char *stop = memmem(p, (size_t)(end - p), "\n\n", 2);

		if (!q || !stop || q > stop)
			break; /* incomplete: keep it */
		int64_t t = parse_t(q + 5);
		if (t > 0 && t >= measure_from)
			note(t, at - t);
		last = stop + 2;
	}
	if (last == buf) {
		/* Nothing complete: keep the end only. */
		const char *e = memmem(buf, n, "event: hr\n", 10);
		last = e ? e : (n > 64 ? end - 64 : buf);
	}
	c->tail_len = (size_t)(end - last) < sizeof(c->tail) ? (size_t)(end - last) : 0;
	memmove(c->tail, last, c->tail_len);
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *v, size_t n)
{
	if (n == 0) {
		printf("%s 0 0 0 0\n", what);
		return;
	}
	qsort(v, n, sizeof(*v), cmp);
	printf("%s %zu %lld %lld %lld\n", what, n, (long long)v[n / 2],
	       (long long)v[(n * 99) / 100], (long long)v[n - 1]);
}

int main(int argc, char **argv)
{
	int port, n, seconds, ep;
	struct conn *conns;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char req[256];
	int64_t deadline;

	if (argc != 4)
		return fprintf(stderr, "usage: sse-probe PORT STREAMS SECONDS\n"), 2;
	port = atoi(argv[1]);
	n = atoi(argv[2]);
	seconds = atoi(argv[3]);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(req, sizeof(req), "GET /events HTTP/1.1\r\nHost: localhost:%d\r\n\r\n", port);
	conns = calloc((size_t)n, sizeof(*conns));
	ep = epoll_create1(0);
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };

		conns[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(conns[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    write(conns[i].fd, req, strlen(req)) != (ssize_t)strlen(req))
			return perror("connect"), 1;
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	/*
	 * Connecting takes a while (the listen backlog may overflow and SYNs be
	 * retried); events sent meanwhile wait unread in the first sockets, so
	 * only events from a second after the last connect count.
	 */
	measure_from = now_realtime_us() + 1000000;
	fprintf(stderr, "sse-probe: %d streams open\n", n);
	deadline = now_realtime_us() + (int64_t)seconds * 1000000;
	while (now_realtime_us() < deadline) {
		struct epoll_event evs[64];
		int k = epoll_wait(ep, evs, 64, 200);

		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			char buf[65536];
			int64_t at = now_realtime_us();
			ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (r <= 0) {
				if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					fprintf(stderr, "sse-probe: a stream ended\n");
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				}
				continue;
			}
			scan(c, buf, (size_t)r, at);
		}
	}
	report("all", lat, n_lat);
	{
		int64_t *w = malloc(n_worst * sizeof(*w) + 1);

		for (size_t i = 0; i < n_worst; i++)
			w[i] = worst[i].lat;
		report("slowest", w, n_worst);
		free(w);
	}
	for (int i = 0; i < n; i++)
		close(conns[i].fd);
	return 0;
}
