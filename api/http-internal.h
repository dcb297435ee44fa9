/* SPDX-License-Identifier: MIT */
/*
 * What api/http.c shares with api/http-respond.c: the server's state and
 * the answers the request path queues.  Not for anyone else.
 */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "http-parse.h"
#include "http.h"

struct conn; /* api/http.c */

struct conn_list {
	struct conn *head, *tail;
};

struct cd_http {
	sd_event *event;
	struct MHD_Daemon *mhd;
	sd_event_source *io;    /* MHD's epoll fd */
	sd_event_source *timer; /* MHD_get_timeout(), one-shot */
	const struct cd_front_ops *ops;
	void *userdata;
	sd_event_source *sweep; /* the oldest waiting connection's deadline */
	size_t max_body;
	size_t max_import; /* POST /sessions/import */
	uint16_t port;
	uint64_t cache_usec;
	unsigned soft_cap;     /* config.max_connections: evict above this */
	char *token;           /* config.token (a copy), NULL: refuse what needs it */
	bool read_token;       /* reads need the token too (read_token, or not loopback) */
	bool remote;           /* bound to a non-loopback address (allow_remote) */
	uint64_t request_usec; /* timeout_s: a complete request within this, or cut */
	struct conn_list waiting, busy;
	unsigned n_conns;   /* tracked, evicted ones included */
	unsigned n_evicted; /* shut down, not yet closed by MHD */
	uint64_t evictions; /* ever, for the debug log and the tests */
	struct cd_http_stats *stats; /* config.stats, or own_stats */
	struct cd_http_stats own_stats;
	struct cd_http_events *events; /* GET /events, when the contract has an event hub */
	bool kicked; /* a stream was resumed: MHD_run() again at once */
	/*
	 * Answers to GET /session and /devices, shared by every connection
	 * until invalidated or expired: MHD responses are reference counted,
	 * so one in flight outlives its eviction here.
	 */
	struct cache_entry {
		struct MHD_Response *resp;
		uint64_t expires; /* CLOCK_MONOTONIC µs */
	} cache[_CD_ROUTE_MAX];
};

/* api/http-respond.c, called by api/http.c's request path. */
enum MHD_Result respond_error(struct MHD_Connection *c, const struct cd_http_error *e);
enum MHD_Result respond_simple_error(struct MHD_Connection *c, unsigned status,
				     const char *code, const char *message);
/* 401 with the JSON error and WWW-Authenticate (RFC 6750 §3). */
enum MHD_Result respond_unauthorized(struct MHD_Connection *c, bool sent);
enum MHD_Result dispatch(struct cd_http *h, struct MHD_Connection *c,
			 const struct cd_http_match *m, const struct cd_http_body *body);
