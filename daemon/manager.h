/* SPDX-License-Identifier: MIT */
/*
 * The manager owns the event loop and every module of the daemon, in
 * set-up order: signals and watchdog, store, monitor, the front-end
 * contract (daemon/front.c) and its event feed, sources, HTTP.  Teardown
 * is the reverse of set-up.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "daemon-config.h"
#include "front.h"

struct manager;
struct replay;
struct monitor;
struct cJSON;

struct manager_options {
	const struct cd_config *config; /* not owned; must outlive the manager */
	unsigned simulate;              /* number of simulated straps, 0 none */
	uint64_t seed;
	unsigned sim_rate;
	struct replay *replay;          /* loaded by replay_load(); owned by the manager after manager_new() */
};

int manager_new(const struct manager_options *o, struct manager **ret);
struct manager *manager_free(struct manager *m);
static inline void manager_freep(struct manager **m)
{
	if (*m)
		manager_free(*m);
}

/* Each logs its own failure. */
int manager_open_store(struct manager *m);
int manager_start_sources(struct manager *m);
int manager_start_http(struct manager *m);
/*
 * For front ends wired in main.c (api/dbus): the loop, and the front-end
 * contract (api/front.h; after manager_open_store()).
 */
sd_event *manager_get_event(struct manager *m);
struct cd_front manager_front(struct manager *m);
/* READY=1 and the first STATUS= line. */
void manager_notify_ready(struct manager *m);
/* Run until SIGTERM/SIGINT; returns the loop's exit code. */
int manager_run(struct manager *m);
/* Close open sessions and commit; STOPPING=1. */
int manager_shutdown(struct manager *m);
