/* SPDX-License-Identifier: MIT */
/*
 * The monitor's events as front-end events (api/events.h): a monitor
 * observer that publishes hr, zone, session, milestone and device events
 * on a hub, and answers the hub's snapshot requests (every known strap,
 * every active session).  api/ never sees daemon/ types.
 */
#pragma once

#include "events.h"
#include "monitor.h"

struct front_events;

/* 0 and *ret, or -ENOMEM.  The hub is owned by *ret. */
int front_events_new(struct monitor *m, struct front_events **ret);
struct front_events *front_events_free(struct front_events *f);
struct cd_events *front_events_hub(struct front_events *f);
