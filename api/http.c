/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd in the "external select" model on sd-event (ECOSYSTEM
 * §3.3): MHD_USE_EPOLL without internal threads; MHD's epoll fd is an IO
 * source, and a one-shot CLOCK_MONOTONIC timer is re-armed from
 * MHD_get_timeout() after every MHD_run().  Everything runs on the loop's
 * thread, so the ops are called without locks.
 *
 * All decisions about a request are in http-parse.c; this file collects
 * what MHD parsed, calls it, and hands the request to http-respond.c,
 * which calls the ops and writes the answer.
 *
 * Hostile local clients (issue 8).  A plain MHD connection cap lets a
 * handful of idle or dribbling sockets (slowloris) lock everyone out,
 * /healthz included: at the cap MHD closes every new connection.  So MHD
 * gets a hard cap above our own soft cap (config.max_connections), and we
 * track every connection (MHD_OPTION_NOTIFY_CONNECTION) in one of two
 * lists: waiting for a complete request, or being answered.  A connection
 * that arrives while more than the soft cap are open evicts the one that
 * has waited longest without completing a request (never-served sockets
 * first, then idle keep-alives); one being answered is never evicted.
 * Independently, a connection that has not delivered a complete request
 * within timeout_s of connecting (or of its previous answer) is cut, even
 * if it dribbles a byte now and then, which MHD's own idle timeout (reset
 * by every byte) would allow forever.  Eviction is shutdown(2) on the
 * socket: MHD sees EOF on its next run and closes it through its normal
 * path (completion callbacks included); closing the fd under MHD would not
 * be safe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cleanup.h"
#include "http-auth.h"
#include "http-events.h"
#include "http-internal.h"
#include "http-parse.h"
#include "http.h"
#include "log.h"

/*
 * One TCP connection, from MHD_CONNECTION_NOTIFY_STARTED to _CLOSED; it
 * is MHD's socket context.  Linked in cd_http::waiting (oldest first:
 * entries are appended when they start waiting, so the list is sorted by
 * since) or cd_http::busy.
 */
struct conn {
	struct conn *prev, *next; /* cd_http::waiting or cd_http::busy */
	struct MHD_Connection *mhd;
	uint64_t since;    /* CLOCK_MONOTONIC µs: connected, or last answer completed */
	unsigned requests; /* answers completed on this connection */
	bool busy;         /* a response is queued and not yet completed */
	bool evicted;      /* shut down by us; MHD closes it on its next run */
};

/* Per request: created by the URI log callback, freed on completion. */
struct request {
	char *target; /* the raw request-target, before MHD decodes it */
	bool checked; /* headers accepted; collecting the body */
	bool too_large;
	bool answered; /* a response is queued: ignore the rest of any body */
	struct cd_http_match match;
	char *body;
	size_t body_len;
	size_t body_cap; /* import bodies grow; others get max_body at once */
	size_t discarded; /* bytes of an oversize body thrown away */
};

void cd_http_config_init(struct cd_http_config *c)
{
	*c = (struct cd_http_config){
		.listen = "127.0.0.1:8080",
		.listen_fd = -1,
		.max_connections = CD_HTTP_DEFAULT_MAX_CONNECTIONS,
		.timeout_s = CD_HTTP_DEFAULT_TIMEOUT_S,
		.max_body = 4096,
		.max_import = 64u << 20,
		.memory_limit = 16 * 1024,
		.cache_ms = 100,
		.max_event_streams = CD_HTTP_DEFAULT_MAX_EVENT_STREAMS,
	};
}

uint16_t cd_http_port(const struct cd_http *h)
{
	return h->port;
}

unsigned cd_http_hard_cap(unsigned max_connections)
{
	return max_connections + (max_connections / 2 > 16 ? max_connections / 2 : 16);
}

unsigned cd_http_connections(const struct cd_http *h)
{
	return h->n_conns - h->n_evicted;
}

uint64_t cd_http_evictions(const struct cd_http *h)
{
	return h->evictions;
}

static void request_free(struct request *r)
{
	if (!r)
		return;
	free(r->target);
	free(r->body);
	free(r);
}

/* ---- connection tracking: eviction and the request deadline ---- */

static uint64_t now_usec(struct cd_http *h)
{
	uint64_t t = 0;

	(void)sd_event_now(h->event, CLOCK_MONOTONIC, &t);
	return t;
}

static void conn_list_remove(struct conn_list *l, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

static void conn_list_append(struct conn_list *l, struct conn *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

/* Our context of an MHD connection, or NULL (OOM at its start). */
static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info ? info->socket_context : NULL;
}

/*
 * Make MHD close c: shutdown(2) wakes MHD's epoll with EOF on that socket,
 * and MHD closes it on its next run (which the wakeup itself triggers).
 */
static void conn_evict(struct cd_http *h, struct conn *c, const char *why)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);

	if (c->evicted)
		return;
	c->evicted = true;
	h->n_evicted++;
	h->evictions++;
	log_debug("HTTP: closing a connection that sent no complete request (%s, %u open)", why,
		  h->n_conns - h->n_evicted);
	if (info && shutdown(info->connect_fd, SHUT_RDWR) < 0)
		log_debug_errno(errno, "HTTP: shutdown() of an evicted connection failed: %m");
}

/* The deadline timer follows the oldest waiting connection not yet cut. */
static void sweep_rearm(struct cd_http *h)
{
	struct conn *c = h->waiting.head;

	if (!h->sweep)
		return;
	while (c && c->evicted)
		c = c->next;
	if (!c) {
		(void)sd_event_source_set_enabled(h->sweep, SD_EVENT_OFF);
		return;
	}
	if (sd_event_source_set_time(h->sweep, c->since + h->request_usec) < 0 ||
	    sd_event_source_set_enabled(h->sweep, SD_EVENT_ONESHOT) < 0)
		log_debug("HTTP: failed to arm the request deadline timer");
}

static int on_sweep(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cd_http *h = userdata;
	uint64_t now = now_usec(h);

	for (struct conn *c = h->waiting.head; c; c = c->next) {
		if (c->evicted)
			continue;
		if (c->since + h->request_usec > now)
			break; /* sorted by since: the rest are younger */
		conn_evict(h, c, "no complete request within the timeout");
	}
	sweep_rearm(h);
	return 0;
}

/*
 * Over the soft cap: cut the connection that has waited longest for a
 * request, preferring ones that never completed any (idle or slowloris
 * sockets) over idle keep-alives of clients we have served.  Connections
 * being answered are kept; if only those are left, MHD's hard cap is the
 * backstop.
 */
static void evict_one(struct cd_http *h, const struct conn *except)
{
	struct conn *fallback = NULL;

	for (struct conn *c = h->waiting.head; c; c = c->next) {
		if (c == except || c->evicted)
			continue;
		if (c->requests == 0) {
			conn_evict(h, c, "over the connection limit");
			return;
		}
		if (!fallback)
			fallback = c;
	}
	if (fallback)
		conn_evict(h, fallback, "over the connection limit");
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct cd_http *h = cls;
	struct conn *c = *socket_context;

	switch (toe) {
	case MHD_CONNECTION_NOTIFY_STARTED:
		c = calloc(1, sizeof(*c));
		if (!c) {
			/* Untracked, so it could never be evicted: refuse it. */
			const union MHD_ConnectionInfo *info =
				MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
			if (info)
				(void)shutdown(info->connect_fd, SHUT_RDWR);
			return;
		}
		*c = (struct conn){ .mhd = mc, .since = now_usec(h) };
		*socket_context = c;
		conn_list_append(&h->waiting, c);
		h->n_conns++;
		if (h->n_conns - h->n_evicted > h->soft_cap)
			evict_one(h, c);
		break;
	case MHD_CONNECTION_NOTIFY_CLOSED:
		if (!c)
			return;
		conn_list_remove(c->busy ? &h->busy : &h->waiting, c);
		h->n_conns--;
		if (c->evicted)
			h->n_evicted--;
		free(c);
		*socket_context = NULL;
		break;
	}
	sweep_rearm(h);
}

/* A response is queued on mc: not evictable until it is sent. */
static void conn_answering(struct cd_http *h, struct MHD_Connection *mc)
{
	struct conn *c = conn_of(mc);

	if (!c || c->busy)
		return;
	conn_list_remove(&h->waiting, c);
	c->busy = true;
	conn_list_append(&h->busy, c);
	sweep_rearm(h);
}

/* The request on mc is over (answered or aborted): wait for the next one. */
static void conn_request_done(struct cd_http *h, struct MHD_Connection *mc)
{
	struct conn *c = conn_of(mc);

	if (!c || !c->busy)
		return;
	conn_list_remove(&h->busy, c);
	c->busy = false;
	c->requests++;
	c->since = now_usec(h);
	conn_list_append(&h->waiting, c);
	sweep_rearm(h);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct request *r = calloc(1, sizeof(*r));

	/* NULL (OOM) makes on_request refuse the connection. */
	if (r && !(r->target = strdup(uri))) {
		free(r);
		r = NULL;
	}
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct cd_http *h = cls;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);

	/* cardiod_http_requests_total: every request that got an answer. */
	if (info && info->http_status >= 100 && info->http_status < CD_HTTP_STATUS_MAX)
		h->stats->answered[info->http_status]++;
	request_free(*req_cls);
	*req_cls = NULL;
	conn_request_done(cls, c);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	/* Connection-limit and timeout chatter; debug, or an attack floods the journal. */
	log_debug("microhttpd: %s", buf);
}

/* What the headers said, for http-parse and the framing checks below. */
struct header_scan {
	struct cd_http_request req;
	const char *authorization; /* the first Authorization header */
	unsigned n_authorization;
	unsigned n_content_length, n_transfer_encoding;
	bool te_chunked; /* the (single) Transfer-Encoding is exactly "chunked" */
};

/* What http-parse needs from the headers; repeated ones are counted. */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct header_scan *scan = cls;
	struct cd_http_request *req = &scan->req;

	if (!value)
		value = "";
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
		if (req->n_host++ == 0)
			req->host = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_ORIGIN) == 0) {
		if (req->n_origin++ == 0)
			req->origin = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) == 0) {
		if (req->n_content_type++ == 0)
			req->content_type = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		/* MHD has validated it already; saturate rather than wrap. */
		uint64_t v = 0;
		for (const char *p = value; *p >= '0' && *p <= '9'; p++)
			v = v > UINT64_MAX / 10 - 1 ? UINT64_MAX : v * 10 + (uint64_t)(*p - '0');
		req->has_content_length = true;
		req->content_length = v;
		scan->n_content_length++;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0) {
		if (scan->n_authorization++ == 0)
			scan->authorization = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		req->chunked = true;
		scan->n_transfer_encoding++;
		scan->te_chunked = strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/*
 * Request smuggling (RFC 9112 §6.1, §6.3): a body length that two parsers
 * could read differently is refused before anything else, and the
 * connection is closed with the answer (MHD closes after a response
 * queued before the body).  Content-Length with Transfer-Encoding, a
 * repeated Content-Length or Transfer-Encoding: 400; a coding other than
 * plain "chunked": 501, as §6.1 asks.  0 when the framing is sound.
 */
static unsigned check_framing(const struct header_scan *scan, struct cd_http_error *err)
{
	if (scan->n_content_length > 1 || scan->n_transfer_encoding > 1 ||
	    (scan->n_content_length && scan->n_transfer_encoding)) {
		*err = (struct cd_http_error){ 400, "bad_request",
					       "ambiguous message framing (Content-Length / "
					       "Transfer-Encoding)", NULL };
		return 400;
	}
	if (scan->n_transfer_encoding && !scan->te_chunked) {
		*err = (struct cd_http_error){ 501, "not_implemented",
					       "only Transfer-Encoding: chunked is supported", NULL };
		return 501;
	}
	return 0;
}

/* An import body grows as it comes, up to max_import (then 413, as above). */
static enum MHD_Result import_collect(struct cd_http *h, struct request *r,
				      const char *upload_data, size_t *upload_data_size)
{
	size_t n = *upload_data_size;

	*upload_data_size = 0;
	if (r->too_large || n > h->max_import - r->body_len) {
		r->too_large = true;
		r->discarded += n;
		return r->discarded > h->max_import ? MHD_NO : MHD_YES;
	}
	if (r->body_len + n > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 64 * 1024;
		char *b;

		while (cap < r->body_len + n)
			cap *= 2;
		if (cap > h->max_import)
			cap = h->max_import;
		b = realloc(r->body, cap);
		if (!b)
			return MHD_NO;
		r->body = b;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, upload_data, n);
	r->body_len += n;
	return MHD_YES;
}

/*
 * Authority (DESIGN §9.7), the one check every route passes before
 * routing, so a route added later gets the same rule: GET and HEAD are
 * reads, everything else writes.  Writes always need the bearer token;
 * reads need it with read_access = token or on a non-loopback socket.
 * Repeated Authorization headers are refused.  True when allowed.
 */
static bool authorized(const struct cd_http *h, const char *method, const struct header_scan *scan)
{
	bool read = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

	if (read && !h->read_token)
		return true;
	return scan->n_authorization == 1 && cd_http_bearer_matches(scan->authorization, h->token);
}

/* Host and Origin refusals (http-parse.h) are answered whatever the token. */
static bool refused_before_auth(unsigned status, const struct cd_http_error *err)
{
	return status == 421 || (status == 400 && strcmp(err->code, "bad_host") == 0) ||
	       (status == 403 && strcmp(err->code, "forbidden_origin") == 0);
}
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct cd_http *h = cls;
	struct request *r = *req_cls;
	_cleanup_(cd_http_body_done) struct cd_http_body body = {};
	struct cd_http_error err;
	unsigned status;
	bool framing;

	if (!r)
		return MHD_NO; /* OOM in on_uri: drop the connection */
	if (r->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (!r->checked) {
		struct header_scan scan = {
			.req = {
				.method = method,
				.target = r->target,
				.http11 = strcmp(version, MHD_HTTP_VERSION_1_0) != 0,
				.any_host = h->remote,
			},
		};

		MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &scan);
		status = check_framing(&scan, &err);
		framing = status != 0;
		if (!status)
			status = cd_http_check_request(&scan.req, h->max_body, &r->match, &err);
		/*
		 * The token next: only broken framing and the refusals that keep
		 * foreign pages and rebound names out (Host, Origin) come before
		 * it; without the token nothing else is told (route, method…).
		 */
		if (!framing && !refused_before_auth(status, &err) &&
		    !authorized(h, method, &scan)) {
			r->checked = r->answered = true;
			conn_answering(h, c);
			return respond_unauthorized(c, scan.n_authorization > 0);
		}
		r->checked = true;
		if (status) {
			r->answered = true;
			conn_answering(h, c);
			return respond_error(c, &err);
		}
		if (r->match.route == CD_ROUTE_SESSIONS_IMPORT && scan.req.has_content_length &&
		    scan.req.content_length > h->max_import) {
			r->answered = true;
			conn_answering(h, c);
			return respond_simple_error(c, 413, "body_too_large",
						    "import larger than [http] max_import_bytes");
		}
		log_debug("HTTP %s %s", method, cd_http_route_to_string(r->match.route));
		/*
		 * Answer on the next call, once MHD has read the whole request:
		 * a response queued now (state HEADERS_PROCESSED) makes MHD
		 * discard the rest and close the connection, which would cost
		 * every client its keep-alive.  Refusals above do close; good.
		 */
		return MHD_YES;
	}

	if (*upload_data_size > 0 && r->match.route == CD_ROUTE_SESSIONS_IMPORT)
		return import_collect(h, r, upload_data, upload_data_size);
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		/*
		 * Chunked bodies announce no length: cap them here and answer
		 * 413 at the end (MHD takes no response mid-body).  Reading an
		 * endless body to get there would be a free ride, so past
		 * 16 × max_body the connection is simply dropped.
		 */
		if (r->too_large || n > h->max_body - r->body_len) {
			r->too_large = true;
			r->discarded += n;
			return r->discarded > 16 * h->max_body ? MHD_NO : MHD_YES;
		}
		if (!r->body && !(r->body = malloc(h->max_body)))
			return MHD_NO;
		memcpy(r->body + r->body_len, upload_data, n);
		r->body_len += n;
		return MHD_YES;
	}

	r->answered = true;
	conn_answering(h, c);
	if (r->too_large)
		return respond_simple_error(c, 413, "body_too_large", "request body too large");
	if (r->match.route == CD_ROUTE_SESSION_START || r->match.route == CD_ROUTE_SESSION_STOP) {
		status = cd_http_parse_body(r->match.route, r->body, r->body_len, &body, &err);
		if (status)
			return respond_error(c, &err);
	}
	if (r->match.route == CD_ROUTE_SESSIONS_IMPORT) {
		body.raw = r->body;
		body.raw_len = r->body_len;
	}
	/* A body on GET has no meaning (RFC 9110 §9.3.1); it was capped and is ignored. */
	return dispatch(h, c, &r->match, &body);
}

static unsigned connections(struct cd_http *h)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info ? info->num_connections : 0;
}

/* Re-arm the timer from MHD_get_timeout(); now = run again at once. */
static int rearm(struct cd_http *h, bool now)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;
	uint64_t t;
	int r;

	if (!now && MHD_get_timeout(h->mhd, &ms) != MHD_YES)
		return sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
	r = sd_event_now(h->event, CLOCK_MONOTONIC, &t);
	if (r < 0)
		return r;
	r = sd_event_source_set_time(h->timer, t + (uint64_t)ms * 1000);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
}

static int run(struct cd_http *h)
{
	unsigned before = connections(h);
	int r;

	h->kicked = false;
	if (MHD_run(h->mhd) != MHD_YES)
		log_debug("MHD_run() failed, continuing");
	/*
	 * At the connection limit MHD takes its listen socket out of its
	 * epoll set, and puts it back only at the start of a later MHD_run()
	 * once connections were freed, which happens at the end of a run.
	 * MHD_get_timeout() (0.9.75) does not ask for that run, so when
	 * connections went away, run once more at once; otherwise the
	 * listen socket could stay deaf until some other event.
	 */
	r = rearm(h, connections(h) < before || h->kicked);
	if (r < 0)
		log_error_errno(r, "Failed to re-arm the HTTP timer: %m");
	return r;
}

/* A stream was resumed: MHD must run (microhttpd.h, MHD_resume_connection()). */
static void kick(void *userdata)
{
	struct cd_http *h = userdata;

	h->kicked = true; /* in case this is inside MHD_run(): run() re-arms after it */
	if (rearm(h, true) < 0)
		log_error("Failed to re-arm the HTTP timer after resuming a stream");
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	return run(userdata);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	return run(userdata);
}

static bool sockaddr_is_loopback(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

static int bind_listen(const char *address, bool allow_remote, int *ret_fd)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_storage sa;
	socklen_t len;
	int one = 1;

	if (cd_http_parse_listen(address, &sa, &len) < 0)
		return log_error_errno(EINVAL, "Invalid HTTP listen address '%s' "
					       "(want IPV4:PORT, [IPV6]:PORT or localhost:PORT)",
				       address ? address : "(null)");
	if (!allow_remote && !sockaddr_is_loopback(&sa))
		return log_error_errno(EPERM, "Refusing to serve the HTTP API on %s, which is not a "
					      "loopback address: set [http] allow_remote = true "
					      "to serve other machines (every request then needs "
					      "the token)", address);
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return log_error_errno(errno, "Failed to create the HTTP socket: %m");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return log_error_errno(errno, "Failed to set SO_REUSEADDR: %m");
	if (sa.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return log_error_errno(errno, "Failed to set IPV6_V6ONLY: %m");
	if (bind(fd, (struct sockaddr *)&sa, len) < 0)
		return log_error_errno(errno, "Failed to bind HTTP to %s: %m", address);
	if (listen(fd, 64) < 0)
		return log_error_errno(errno, "Failed to listen on %s: %m", address);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Log where we listen, and remember the port (":0" picks one). */
static int log_bound(struct cd_http *h, int fd, bool allow_remote)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	char ip[INET6_ADDRSTRLEN] = "?";
	bool loopback = false;

	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return log_error_errno(errno, "Failed to get the HTTP socket address: %m");
	if (sa.ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)&sa;
		inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
		h->port = ntohs(a4->sin_port);
		loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	} else if (sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&sa;
		inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
		h->port = ntohs(a6->sin6_port);
		loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
	}
	if (!loopback && !allow_remote)
		return log_error_errno(EPERM, "Refusing to serve the HTTP API on %s, which is not a "
					      "loopback address: set [http] allow_remote = true "
					      "to serve other machines (every request then needs "
					      "the token)", ip);
	log_info(sa.ss_family == AF_INET6 ? "HTTP API listening on http://[%s]:%u/"
					  : "HTTP API listening on http://%s:%u/",
		 ip, h->port);
	if (!loopback) {
		log_warning("HTTP API is bound to a non-loopback address (allow_remote): every "
			    "request, reads too, needs the bearer token");
		h->remote = true;
		h->read_token = true;
	}
	return 0;
}

int cd_http_new(sd_event *event, const struct cd_http_config *config,
		const struct cd_front *front, struct cd_http **ret)
{
	_cleanup_(cd_http_freep) struct cd_http *h = NULL;
	_cleanup_close_ int own_fd = -EBADF;
	const union MHD_DaemonInfo *info;
	unsigned hard_cap;
	int fd, r;

	if (!event || !config || !front || !front->ops || !ret || config->max_body == 0 ||
	    config->max_connections == 0 || config->max_connections > CD_HTTP_MAX_CONNECTIONS)
		return -EINVAL;
	hard_cap = cd_http_hard_cap(config->max_connections);

	h = calloc(1, sizeof(*h));
	if (!h)
		return log_oom();
	h->event = sd_event_ref(event);
	h->ops = front->ops;
	h->userdata = front->userdata;
	h->max_body = config->max_body;
	h->max_import = config->max_import ? config->max_import : 64u << 20;
	h->cache_usec = (uint64_t)config->cache_ms * 1000;
	h->soft_cap = config->max_connections;
	h->request_usec = (uint64_t)config->timeout_s * 1000000;
	h->stats = config->stats ? config->stats : &h->own_stats;

	if (config->listen_fd >= 0) {
		r = sd_is_socket(config->listen_fd, AF_UNSPEC, SOCK_STREAM, 1);
		if (r < 0)
			return log_error_errno(r, "Failed to check the passed HTTP socket: %m");
		if (r == 0)
			return log_error_errno(EINVAL, "The passed HTTP fd is not a listening "
						       "stream socket");
		fd = config->listen_fd;
	} else {
		r = bind_listen(config->listen, config->allow_remote, &own_fd);
		if (r < 0)
			return r;
		fd = own_fd;
	}
	h->read_token = config->read_token;
	if (config->token && !(h->token = strdup(config->token)))
		return log_oom();
	r = log_bound(h, fd, config->allow_remote);
	if (r < 0)
		return r;

	/*
	 * The sweep timer exists before MHD can report a connection.  The
	 * request deadline is the idle timeout (0 = none, as MHD's).
	 */
	r = sd_event_add_time(event, &h->sweep, CLOCK_MONOTONIC, 0, 10 * 1000, on_sweep, h);
	if (r < 0)
		return log_error_errno(r, "Failed to add the HTTP deadline timer: %m");
	(void)sd_event_source_set_description(h->sweep, "http-deadline");
	(void)sd_event_source_set_enabled(h->sweep, SD_EVENT_OFF);
	if (config->timeout_s == 0)
		h->sweep = sd_event_source_disable_unref(h->sweep);

	/*
	 * MHD's own caps sit above ours (see the top of this file): the
	 * hard cap only bounds fds and memory (hard × memory_limit) while
	 * evictions are in flight, since MHD accepts a series of
	 * connections per run before it closes the evicted ones.  The
	 * per-IP cap is set to the hard cap, i.e. off: every client of a
	 * loopback server is 127.0.0.1 (or ::1), so a per-IP cap is a
	 * second global cap that would refuse /healthz exactly like the
	 * first one did.
	 */
	if (front->events) {
		r = cd_http_events_new(event, front->events, config->max_event_streams, kick, h,
				       &h->events);
		if (r < 0)
			return log_error_errno(r, "Failed to set up GET /events: %m");
	}
	/* Suspend/resume: SSE streams sleep until an event (api/http-events.c). */
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, h,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, /* first, or MHD complains */
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_CONNECTION_LIMIT, hard_cap,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, hard_cap,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)config->timeout_s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)config->memory_limit,
				  MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
				  MHD_OPTION_END);
	if (!h->mhd)
		return log_error_errno(EINVAL, "Failed to start libmicrohttpd");
	TAKE_FD(own_fd); /* MHD_stop_daemon() closes it now */

	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		return log_error_errno(EIO, "libmicrohttpd has no epoll fd");
	r = sd_event_add_io(event, &h->io, info->epoll_fd, EPOLLIN, on_io, h);
	if (r < 0)
		return log_error_errno(r, "Failed to watch the HTTP epoll fd: %m");
	(void)sd_event_source_set_description(h->io, "http-io");

	r = sd_event_add_time(event, &h->timer, CLOCK_MONOTONIC, 0, 1, on_timer, h);
	if (r < 0)
		return log_error_errno(r, "Failed to add the HTTP timer: %m");
	(void)sd_event_source_set_description(h->timer, "http-timer");
	r = rearm(h, false);
	if (r < 0)
		return log_error_errno(r, "Failed to arm the HTTP timer: %m");

	*ret = TAKE_PTR(h);
	return 0;
}

struct cd_http *cd_http_free(struct cd_http *h)
{
	if (!h)
		return NULL;
	/* Out of sd-event's epoll before MHD closes the fd under it. */
	h->io = sd_event_source_disable_unref(h->io);
	h->timer = sd_event_source_disable_unref(h->timer);
	/* MHD may not stop with suspended connections: end the streams first. */
	cd_http_events_stop(h->events);
	/* Closes every connection: on_connection() empties the lists. */
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	h->events = cd_http_events_free(h->events);
	h->sweep = sd_event_source_disable_unref(h->sweep);
	cd_http_invalidate(h);
	sd_event_unref(h->event);
	if (h->token)
		explicit_bzero(h->token, strlen(h->token));
	free(h->token);
	free(h);
	return NULL;
}
