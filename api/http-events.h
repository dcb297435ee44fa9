/* SPDX-License-Identifier: MIT */
/*
 * GET /events (DESIGN §9.2): Server-Sent Events on libmicrohttpd, no
 * threads.  Each stream is a chunked response whose content reader copies
 * records from the hub's ring (api/events.h); with nothing to send it
 * suspends its connection, and a new event resumes it.  A stream that
 * falls more than CD_HTTP_EVENTS_MAX_LAG bytes behind (its client stopped
 * reading) or off the ring is closed; the loop never waits for it.
 */
#pragma once

#include <microhttpd.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "events.h"
#include "http.h"

#define CD_HTTP_EVENTS_MAX_LAG (16u * 1024u) /* bytes of pending output per stream */
#define CD_HTTP_EVENTS_PING_USEC (15u * 1000000u)

struct cd_http_events;

/* kick(userdata): a stream was resumed, MHD_run() must run soon (external polling). */
int cd_http_events_new(sd_event *event, struct cd_events *hub, unsigned max_streams,
		       void (*kick)(void *userdata), void *userdata, struct cd_http_events **ret);
/* Before MHD_stop_daemon(): resume and end every stream (MHD needs none suspended). */
void cd_http_events_stop(struct cd_http_events *ev);
/* After MHD_stop_daemon(), once every stream's response is gone. */
struct cd_http_events *cd_http_events_free(struct cd_http_events *ev);

/*
 * A stream for connection c (the daemon must run with
 * MHD_ALLOW_SUSPEND_RESUME).  device NULL: every device.  Reads
 * Last-Event-ID from c.  0 and *ret (a response to queue with 200), -EBUSY
 * at max_streams, -ENOMEM.
 */
int cd_http_events_open(struct cd_http_events *ev, struct MHD_Connection *c, const char *device,
			struct MHD_Response **ret);

unsigned cd_http_events_streams(const struct cd_http_events *ev);
