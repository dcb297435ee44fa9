/* SPDX-License-Identifier: MIT */
/*
 * The daemon's side of the front-end contract (api/front.h): one struct
 * front answers every front end's queries and commands from the monitor
 * (live) and the store (history), and hands out the event hub.  See
 * front.c for where each answer comes from.
 */
#pragma once

#include "daemon-config.h"
#include "events.h"
#include "front.h"
#include "monitor.h"
#include "store.h"

struct ant;
struct front;

struct front_config {
	struct monitor *monitor;        /* not owned */
	struct store *store;            /* not owned */
	const struct cd_config *config; /* not owned */
	struct cd_events *events;       /* the hub front ends follow; not owned, may be NULL */
};

/* 0 and *ret, or -ENOMEM. */
int front_new(const struct front_config *c, struct front **ret);
struct front *front_free(struct front *f);
static inline void front_freep(struct front **f)
{
	if (*f)
		front_free(*f);
}

/* The ANT source whose state /healthz shows (NULL: disabled or failed to start). */
void front_set_ant(struct front *f, struct ant *ant);

/* The contract to hand a front end: valid while f lives. */
struct cd_front front_contract(struct front *f);
