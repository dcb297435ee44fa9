/* SPDX-License-Identifier: MIT */
/*
 * The manager owns the event loop and every module of the daemon, in
 * set-up order: signals and watchdog, store, monitor, sources, HTTP.  It
 * also answers the HTTP server's questions (struct cd_http_ops): live
 * sessions from the monitor, history from the store.  Teardown is the
 * reverse of set-up.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "daemon-config.h"

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
 * For front ends wired in main.c (api/dbus): the loop, the monitor (after
 * manager_open_store()), and the session lookup behind HTTP's GET /session
 * (id 0) and GET /sessions/{id}, with the manager as userdata.
 */
sd_event *manager_get_event(struct manager *m);
struct monitor *manager_get_monitor(struct manager *m);
int manager_session_json(void *userdata, uint64_t id, struct cJSON **ret);
/* This week for the D-Bus week properties (struct cd_dbus_ops.week). */
int manager_week(void *userdata, double *ret_today_min, double *ret_week_min,
		 unsigned *ret_week_sessions, double *ret_goal_min);
/* READY=1 and the first STATUS= line. */
void manager_notify_ready(struct manager *m);
/* Run until SIGTERM/SIGINT; returns the loop's exit code. */
int manager_run(struct manager *m);
/* Close open sessions and commit; STOPPING=1. */
int manager_shutdown(struct manager *m);
