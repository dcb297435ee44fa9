/* SPDX-License-Identifier: MIT */
/*
 * The localhost JSON HTTP API of DESIGN §4, on libmicrohttpd driven by the
 * daemon's sd-event loop (MHD's epoll fd and MHD_get_timeout as sources).
 *
 * The server knows nothing of the monitor or the store: it asks the daemon
 * through the front-end contract (api/front.h), so tests can drive it with
 * fake operations (tests/unit-api/test-http-server.c).
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "front.h"
#include "http-parse.h"

struct cd_http;
struct cd_metrics; /* api/metrics.h */

#define CD_HTTP_DEFAULT_MAX_CONNECTIONS 64u
#define CD_HTTP_DEFAULT_TIMEOUT_S 10u
#define CD_HTTP_DEFAULT_MAX_EVENT_STREAMS 32u /* DESIGN §9.2 */
#define CD_HTTP_MAX_EVENT_STREAMS 4096u

/*
 * What the server does with the contract's answers (api/front.h): every
 * body is a JSON object.  GET /session and /sessions/{id}: the session
 * object; /sessions: {"sessions": [summaries], "next_before": ISO 8601 or
 * null}; /sessions/{id}/samples: {"samples": [{"t_s", "bpm", "rr_ms":
 * [...], "contact": 1|0|null, "energy_kj": number|null}, ...]} or, with
 * ?format=csv, text/csv (lib/csv.h), either sent in chunks as it is read;
 * /devices: {"devices": [...]}; POST /session/start and /stop: the session
 * object; /healthz: the health object; /metrics: api/prometheus.h.
 * Errors: {"error": {"code", "message"}} (api/http-parse.h); -ENOENT is
 * 404, -EINVAL 400, -ESRCH (stop, nothing active) 409.
 */

/*
 * Added by api/: requests answered, by HTTP status, for
 * cardiod_http_requests_total.  A request counts once its answer is
 * complete (so a scrape shows the ones before it), MHD's own refusals
 * (431 for oversize headers) included; one dropped unanswered does not.
 */
#define CD_HTTP_STATUS_MAX 600u
struct cd_http_stats {
	uint64_t answered[CD_HTTP_STATUS_MAX]; /* [status], 100..599 */
};

#define CD_HTTP_MAX_CONNECTIONS 4096u /* largest max_connections accepted */

struct cd_http_config {
	const char *listen;         /* "ADDR:PORT"; ignored when listen_fd ≥ 0 */
	int listen_fd;              /* from sd_listen_fds, or -1 */
	/*
	 * Soft connection cap, default 64 (CD_HTTP_DEFAULT_MAX_CONNECTIONS,
	 * [http] max_connections), 1..CD_HTTP_MAX_CONNECTIONS.  A
	 * connection arriving above it is not refused: the connection that
	 * has waited longest without completing a request is closed instead
	 * (so idle or slowloris sockets cannot lock out /healthz).  MHD is
	 * given cd_http_hard_cap() as its own cap, and no per-IP cap: every
	 * client of a loopback server shares one address.
	 */
	unsigned max_connections;
	/*
	 * Idle timeout (MHD's), default 10 (CD_HTTP_DEFAULT_TIMEOUT_S, [http]
	 * timeout_s); also the time a connection has to deliver a complete
	 * request after connecting or after its previous answer, however
	 * slowly it dribbles bytes.  0 = none.
	 */
	unsigned timeout_s;
	size_t max_body;            /* default 4096 */
	size_t max_import;          /* POST /sessions/import bodies; default 64 MiB */
	size_t memory_limit;        /* per-connection pool, default 16 KiB */
	/*
	 * Added by api/: how long (ms) a built answer to GET /session and GET
	 * /devices is served again to other requests, default 100; 0 = never.
	 * cd_http_invalidate() ends it early, and POST start/stop always do.
	 */
	unsigned cache_ms;
	/*
	 * Added by api/: where answered requests are counted, shared by the
	 * servers of one daemon (systemd may pass two sockets) so each
	 * /metrics shows them all; NULL = the server's own.  Must outlive it.
	 */
	struct cd_http_stats *stats;
	/*
	 * Authority (DESIGN §9.7), checked in one place before routing:
	 * every request but GET and HEAD needs "Authorization: Bearer
	 * token"; reads need it too when read_token is set or when the
	 * socket is bound to a non-loopback address.  Otherwise 401 with
	 * WWW-Authenticate: Bearer.  token NULL: nothing matches, so every
	 * such request is refused.
	 */
	const char *token;
	bool read_token;   /* [http] read_access = token */
	/*
	 * [http] allow_remote: serve a non-loopback address (refused
	 * otherwise, -EPERM); its requests may name any Host, since the
	 * token, not the Host check, guards them.
	 */
	bool allow_remote;
	/*
	 * Added by api/: GET /events (DESIGN §9.2) follows the contract's
	 * event hub (front->events; NULL = 501), with at most
	 * max_event_streams streams (default 32, [http] max_event_streams),
	 * then 503.
	 */
	unsigned max_event_streams;
};

void cd_http_config_init(struct cd_http_config *c);

/*
 * Start serving on the loop.  Logs the bound address (useful with port 0).
 * Returns 0 or a negative errno (-EADDRINUSE, -EINVAL for a bad address…).
 */
int cd_http_new(sd_event *event, const struct cd_http_config *config,
		const struct cd_front *front, struct cd_http **ret);
struct cd_http *cd_http_free(struct cd_http *h);
static inline void cd_http_freep(struct cd_http **h)
{
	if (*h)
		cd_http_free(*h);
}

/* The port actually bound (after ":0"). */
uint16_t cd_http_port(const struct cd_http *h);

/* MHD's hard connection cap for a soft cap: max + max(16, max / 2). */
unsigned cd_http_hard_cap(unsigned max_connections);
/* Connections open now (not counting those already cut), and cut ever. */
unsigned cd_http_connections(const struct cd_http *h);
uint64_t cd_http_evictions(const struct cd_http *h);

/*
 * Added by api/: something GET /session or GET /devices shows has changed
 * (a sample arrived, a session opened or closed, a strap came or went):
 * drop the cached answers (config.cache_ms) so the next request rebuilds
 * them.  Cheap; call it from the monitor's observer.  NULL is a no-op.
 */
void cd_http_invalidate(struct cd_http *h);
