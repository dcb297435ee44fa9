/* SPDX-License-Identifier: MIT */
/*
 * SSE streams (api/http-events.h).  A stream holds no copy of the events:
 * a cursor (the id of the next record to send, and how much of it went
 * out) into the hub's ring, plus the snapshot or a ping while those are
 * pending.  Memory per stream is this struct and MHD's connection pool.
 *
 * The content reader is called by MHD from MHD_run() when the connection
 * can take more; with nothing to send it suspends the connection
 * (allowed from a content reader, microhttpd.h) and returns 0.  A
 * published event resumes the suspended streams it concerns; MHD's ITC
 * (MHD_ALLOW_SUSPEND_RESUME) wakes its epoll fd, so the loop runs MHD at
 * once.  A stream whose client does not read is never suspended (MHD
 * waits for the socket), so its cursor lags: past CD_HTTP_EVENTS_MAX_LAG
 * bytes, or once its next record fell off the ring, the stream is shut
 * down (shutdown(2); MHD closes it on its next run, as api/http.c
 * evicts).  Pings: one timer, alive only while a stream is open.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http-events.h"
#include "http-parse.h"
#include "log.h"

static const char ping_text[] = ": ping\n\n";
#define STREAM_BLOCK 1024
#define STREAM_SNDBUF (32 * 1024) /* the kernel doubles it */

struct stream {
	struct stream *prev, *next;
	struct cd_http_events *owner;
	struct MHD_Connection *conn;
	char device[CD_HTTP_DEVICE_MAX + 1]; /* "" = every device */
	uint64_t cursor;                     /* id of the next record */
	size_t rec_pos;                      /* bytes of record cursor already handed out */
	char *pre;                           /* snapshot still to send: pre[pre_pos..pre_len) */
	size_t pre_pos, pre_len;
	size_t ping_pos;                     /* bytes of PING_TEXT sent; ping pending when ping */
	bool ping;
	bool suspended;
	bool dead;
};

struct cd_http_events {
	sd_event *event;
	struct cd_events *hub;
	unsigned sub;
	unsigned max_streams;
	unsigned n_streams;
	struct stream *streams;
	sd_event_source *ping; /* only while n_streams > 0 */
	void (*kick)(void *userdata);
	void *kick_userdata;
	bool kicked; /* resumed something since the last kick */
	bool stopping;
};

unsigned cd_http_events_streams(const struct cd_http_events *ev)
{
	return ev ? ev->n_streams : 0;
}

static void stream_resume(struct stream *s)
{
	if (!s->suspended)
		return;
	s->suspended = false;
	MHD_resume_connection(s->conn);
	s->owner->kicked = true;
}

static void kick(struct cd_http_events *ev)
{
	if (!ev->kicked)
		return;
	ev->kicked = false;
	if (ev->kick)
		ev->kick(ev->kick_userdata);
}

/* Close s without waiting for its client: MHD sees the shutdown on its next run. */
static void stream_kill(struct stream *s, const char *why)
{
	const union MHD_ConnectionInfo *info;

	if (s->dead)
		return;
	s->dead = true;
	log_debug("HTTP /events: closing a stream (%s)", why);
	info = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info)
		(void)shutdown(info->connect_fd, SHUT_RDWR);
	stream_resume(s); /* so MHD runs its reader, which ends it */
}

static bool stream_wants(const struct stream *s, const struct cd_event_record *r)
{
	return !s->device[0] || (r->device && strcmp(r->device, s->device) == 0);
}

static void on_event(const struct cd_event_record *r, void *userdata)
{
	struct cd_http_events *ev = userdata;
	uint64_t bytes = cd_events_bytes(ev->hub);

	for (struct stream *s = ev->streams; s; s = s->next) {
		const struct cd_event_record *at;

		if (s->dead)
			continue;
		if (s->suspended) {
			/* Caught up and waiting: this is its next record. */
			if (s->cursor == r->id && !stream_wants(s, r)) {
				s->cursor++;
				continue;
			}
			stream_resume(s);
			continue;
		}
		/* Busy sending: how far behind is it? */
		at = cd_events_get(ev->hub, s->cursor);
		if (s->cursor < r->id && !at) {
			stream_kill(s, "fell off the event ring");
			continue;
		}
		if (at && bytes - at->offset - s->rec_pos > CD_HTTP_EVENTS_MAX_LAG)
			stream_kill(s, "client is not reading");
	}
	kick(ev);
}

static int on_ping(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct cd_http_events *ev = userdata;

	for (struct stream *s = ev->streams; s; s = s->next) {
		if (s->dead)
			continue;
		if (!s->ping) {
			s->ping = true;
			s->ping_pos = 0;
		}
		stream_resume(s);
	}
	kick(ev);
	if (sd_event_source_set_time_relative(src, CD_HTTP_EVENTS_PING_USEC) < 0 ||
	    sd_event_source_set_enabled(src, SD_EVENT_ON) < 0)
		log_warning("HTTP /events: failed to re-arm the ping timer");
	return 0;
}

int cd_http_events_new(sd_event *event, struct cd_events *hub, unsigned max_streams,
		       void (*kick_fn)(void *userdata), void *userdata, struct cd_http_events **ret)
{
	struct cd_http_events *ev;

	if (!event || !hub || !ret)
		return -EINVAL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->event = sd_event_ref(event);
	ev->hub = hub;
	ev->max_streams = max_streams ? max_streams : CD_HTTP_DEFAULT_MAX_EVENT_STREAMS;
	ev->kick = kick_fn;
	ev->kick_userdata = userdata;
	ev->sub = cd_events_subscribe(hub, on_event, ev);
	if (!ev->sub) {
		sd_event_unref(ev->event);
		free(ev);
		return -ENOMEM;
	}
	*ret = ev;
	return 0;
}

void cd_http_events_stop(struct cd_http_events *ev)
{
	if (!ev)
		return;
	ev->stopping = true;
	if (ev->sub) {
		cd_events_unsubscribe(ev->hub, ev->sub);
		ev->sub = 0;
	}
	for (struct stream *s = ev->streams; s; s = s->next) {
		s->dead = true;
		stream_resume(s);
	}
	ev->ping = sd_event_source_disable_unref(ev->ping);
}

struct cd_http_events *cd_http_events_free(struct cd_http_events *ev)
{
	if (!ev)
		return NULL;
	cd_http_events_stop(ev);
	/* MHD_stop_daemon() has freed every response, and so every stream. */
	sd_event_unref(ev->event);
	free(ev);
	return NULL;
}

static size_t copy_out(char *out, size_t room, const char *src, size_t n)
{
	size_t k = n < room ? n : room;

	memcpy(out, src, k);
	return k;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *s = cls;
	struct cd_http_events *ev = s->owner;
	size_t done = 0;

	if (s->dead)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (s->pre) {
		size_t k = copy_out(out, max, s->pre + s->pre_pos, s->pre_len - s->pre_pos);

		done += k;
		s->pre_pos += k;
		if (s->pre_pos == s->pre_len) {
			free(s->pre);
			s->pre = NULL;
		}
	}
	while (done < max) {
		const struct cd_event_record *r;
		size_t k;

		if (s->ping && s->rec_pos == 0) {
			k = copy_out(out + done, max - done, &ping_text[s->ping_pos],
				     strlen(ping_text) - s->ping_pos);
			done += k;
			s->ping_pos += k;
			if (s->ping_pos == strlen(ping_text))
				s->ping = false;
			continue;
		}
		if (s->cursor >= cd_events_next_id(ev->hub))
			break;
		r = cd_events_get(ev->hub, s->cursor);
		if (!r) {
			/* Its next event is gone: the stream cannot continue exactly. */
			s->dead = true;
			log_debug("HTTP /events: closing a stream (fell off the event ring)");
			break;
		}
		if (!stream_wants(s, r)) {
			s->cursor++;
			continue;
		}
		k = copy_out(out + done, max - done, r->text + s->rec_pos, r->len - s->rec_pos);
		done += k;
		s->rec_pos += k;
		if (s->rec_pos == r->len) {
			s->rec_pos = 0;
			s->cursor++;
		}
	}
	if (done > 0)
		return (ssize_t)done;
	if (s->dead)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	/* Nothing to send: sleep until an event or a ping resumes us. */
	s->suspended = true;
	MHD_suspend_connection(s->conn);
	return 0;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	struct cd_http_events *ev = s->owner;

	if (s->prev)
		s->prev->next = s->next;
	else
		ev->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	ev->n_streams--;
	if (ev->n_streams == 0)
		ev->ping = sd_event_source_disable_unref(ev->ping);
	log_debug("HTTP /events: stream closed (%u open)", ev->n_streams);
	free(s->pre);
	free(s);
}

/* Last-Event-ID: the record it names, if still in the ring. */
static bool parse_last_id(const char *v, uint64_t *ret)
{
	uint64_t id = 0;

	if (!v || !*v)
		return false;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9' || id > (UINT64_MAX - 9) / 10)
			return false;
		id = id * 10 + (uint64_t)(*p - '0');
	}
	*ret = id;
	return true;
}

int cd_http_events_open(struct cd_http_events *ev, struct MHD_Connection *c, const char *device,
			struct MHD_Response **ret)
{
	const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	const union MHD_ConnectionInfo *info;
	struct MHD_Response *resp;
	struct stream *s;
	uint64_t id;
	int r;

	if (ev->stopping || ev->n_streams >= ev->max_streams)
		return -EBUSY;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->owner = ev;
	s->conn = c;
	if (device)
		snprintf(s->device, sizeof(s->device), "%s", device);
	if (parse_last_id(last, &id) && cd_events_get(ev->hub, id)) {
		s->cursor = id + 1; /* exactly the events after it, no snapshot */
	} else {
		s->cursor = cd_events_next_id(ev->hub);
		r = cd_events_snapshot_text(ev->hub, device, &s->pre, &s->pre_len);
		if (r < 0) {
			free(s);
			return r;
		}
		if (s->pre_len == 0) {
			free(s->pre);
			s->pre = NULL;
		}
	}
	if (!ev->ping) {
		r = sd_event_add_time_relative(ev->event, &ev->ping, CLOCK_MONOTONIC,
					       CD_HTTP_EVENTS_PING_USEC, 1000 * 1000, on_ping, ev);
		if (r < 0) {
			free(s->pre);
			free(s);
			return r;
		}
		(void)sd_event_source_set_description(ev->ping, "http-events-ping");
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, s,
						 stream_free);
	if (!resp) {
		free(s->pre);
		free(s);
		if (ev->n_streams == 0)
			ev->ping = sd_event_source_disable_unref(ev->ping);
		return -ENOMEM;
	}
	/* Linked now: stream_free() (via the response) unlinks it from here on. */
	s->next = ev->streams;
	if (ev->streams)
		ev->streams->prev = s;
	ev->streams = s;
	ev->n_streams++;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/event-stream; charset=utf-8") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Accel-Buffering", "no") != MHD_YES) {
		MHD_destroy_response(resp); /* frees s */
		return -ENOMEM;
	}
	/*
	 * A fixed, modest socket buffer: SSE needs little, and without it TCP
	 * autotuning lets a client that does not read park megabytes in the
	 * kernel before its lag shows here.
	 */
	info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info && setsockopt(info->connect_fd, SOL_SOCKET, SO_SNDBUF, &(int){ STREAM_SNDBUF },
			       sizeof(int)) < 0)
		log_debug_errno(errno, "HTTP /events: SO_SNDBUF failed: %m, ignoring");
	log_debug("HTTP /events: stream opened (%u open, from id %" PRIu64 "%s)", ev->n_streams,
		  s->cursor, s->pre ? ", with a snapshot" : "");
	*ret = resp;
	return 0;
}
