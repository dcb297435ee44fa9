/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "ant.h"
#include "ble.h"
#include "cleanup.h"
#include "daemon-front.h"
#include "front-events.h"
#include "http.h"
#include "token.h"
#include "log.h"
#include "manager.h"
#include "monitor.h"
#include "mqtt.h"
#include "replay.h"
#include "sim.h"
#include "store.h"

#define MAX_LISTEN 4


struct manager {
	sd_event *event;
	const struct cd_config *config;
	struct manager_options options;

	struct store *store;
	struct monitor *monitor;
	struct sim *sim;
	struct ble *ble;
	struct ant *ant;
	struct replay *replay;
	struct cd_mqtt *mqtt; /* [mqtt] url set */
	struct cd_http *http[MAX_LISTEN]; /* one per socket: systemd may pass 127.0.0.1 and [::1] */
	size_t n_http;
	struct cd_http_stats http_stats; /* shared by m->http[], for /metrics */
	struct front *front;             /* the contract every front end is given */

	unsigned status_observer;
	struct front_events *front_events; /* GET /events' source */
	char listening[80];
	char status[256];
	bool ready;
};

/*
 * SIGHUP: cardiod has no reload (its configuration is read once), and the
 * default action would kill it; say so once at info, later ones at debug.
 */
static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	static bool told;

	(void)s;
	(void)si;
	(void)userdata;
	log_full(told ? LOG_DEBUG : LOG_INFO,
		 "SIGHUP ignored: cardiod has no reload; restart it to apply configuration changes.");
	told = true;
	return 0;
}

int manager_new(const struct manager_options *o, struct manager **ret)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	sigset_t mask;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m) {
		replay_free(o->replay);
		return log_oom();
	}
	m->config = o->config;
	m->options = *o;
	m->replay = o->replay;

	r = sd_event_default(&m->event);
	if (r < 0)
		return log_error_errno(r, "Failed to allocate the event loop: %m");

	/* Signals become loop events: block them first, NULL handler = exit the loop. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_error_errno(errno, "Failed to block signals: %m");
	r = sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, NULL);
	if (r < 0)
		return log_error_errno(r, "Failed to add signal sources: %m");
	signal(SIGPIPE, SIG_IGN);

	/* Pings only when WATCHDOG_USEC is set: no wake-ups otherwise. */
	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		log_warning_errno(r, "Failed to enable the watchdog: %m, ignoring");
	else if (r > 0)
		log_debug("Watchdog enabled.");

	*ret = TAKE_PTR(m);
	return 0;
}

/* The sources, first at teardown: nothing opens a session or feeds a sample after this. */
static void stop_sources(struct manager *m)
{
	m->sim = sim_free(m->sim);
	m->ble = ble_free(m->ble);
	if (m->front)
		front_set_ant(m->front, NULL);
	m->ant = ant_free(m->ant);
	m->replay = replay_free(m->replay);
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_http; i++)
		m->http[i] = cd_http_free(m->http[i]);
	stop_sources(m);
	m->mqtt = cd_mqtt_free(m->mqtt);
	m->front_events = front_events_free(m->front_events);
	if (m->store)
		store_detach(m->store);
	if (m->monitor && m->status_observer)
		monitor_observer_unregister(m->monitor, m->status_observer);
	m->front = front_free(m->front);
	m->monitor = monitor_free(m->monitor);
	m->store = store_free(m->store);
	sd_event_unref(m->event);
	free(m);
	return NULL;
}

/* STATUS=: operational state only, never a heart rate (ECOSYSTEM §1.1). */
static void update_status(struct manager *m)
{
	char status[sizeof(m->status)];
	unsigned connected = 0, n = 0, active = 0;
	const char *reason = NULL;
	bool degraded = false;

	if (m->monitor) {
		n = monitor_n_devices(m->monitor, &connected);
		active = monitor_n_active(m->monitor);
	}
	if (m->store)
		degraded = store_degraded(m->store, &reason);
	snprintf(status, sizeof(status), "HTTP: %s; straps: %u/%u connected; sessions: %u active; "
		 "store: %s",
		 m->listening[0] ? m->listening : "starting", connected, n, active,
		 degraded ? "degraded" : "ok");
	if (!m->ready || strcmp(status, m->status) == 0)
		return;
	snprintf(m->status, sizeof(m->status), "%s", status);
	sd_notifyf(false, "STATUS=%s", m->status);
}

static void on_monitor_event(const struct monitor_event *ev, void *user_data)
{
	struct manager *m = user_data;

	/*
	 * HTTP shares a built /session or /devices answer between requests for
	 * up to cache_ms; anything the monitor reports may change it, so drop
	 * it here and a poller never sees a sample later than it should.
	 */
	for (size_t i = 0; i < m->n_http; i++)
		cd_http_invalidate(m->http[i]);

	switch (ev->type) {
	case MONITOR_EVENT_DEVICE_ADDED:
	case MONITOR_EVENT_DEVICE_CHANGED:
	case MONITOR_EVENT_SESSION_STARTED:
	case MONITOR_EVENT_SESSION_ENDED:
		update_status(m);
		break;
	case MONITOR_EVENT_SAMPLE:
	case MONITOR_EVENT_MILESTONE:
	case MONITOR_EVENT_ZONE_CHANGED:
		break;
	case _MONITOR_EVENT_MAX:
	case _MONITOR_EVENT_INVALID:
		break;
	}
}

static void on_store_health(void *userdata)
{
	update_status(userdata);
}

/*
 * MQTT (issue 15), a client of the contract like HTTP and D-Bus: after the
 * contract, before the sources, so it hears every strap appear.
 */
static int start_mqtt(struct manager *m)
{
	const struct cd_config *c = m->config;
	struct cd_front front = front_contract(m->front);
	struct cd_mqtt_config mq = {
		.host = c->mqtt_host,
		.port = c->mqtt_port,
		.tls = c->mqtt_tls,
		.ca_file = c->mqtt_ca_file,
		.username = c->mqtt_username,
		.password_file = c->mqtt_password_file,
		.topic_prefix = c->mqtt_topic_prefix,
		.discovery = c->mqtt_discovery,
		.discovery_prefix = c->mqtt_discovery_prefix,
		.publish_interval_s = c->mqtt_publish_interval_s,
	};

	if (!c->mqtt_url)
		return 0;
	return cd_mqtt_new(m->event, &mq, &front, &m->mqtt); /* cd_mqtt_new() said why */
}

int manager_open_store(struct manager *m)
{
	struct store_config sc = {
		.path = m->config->db_path,
		.commit_interval_s = m->config->commit_interval_s,
		.startup_check_max_mb = m->config->storage_startup_check_max_mb,
		.health_changed = on_store_health,
		.userdata = m,
	};
	struct monitor_config mc = { .config = m->config };
	int r;

	r = store_open(m->event, &sc, &m->store);
	if (r < 0)
		return r; /* store_open() said why */
	mc.first_session_id = store_next_session_id(m->store);
	r = monitor_new(m->event, &mc, &m->monitor);
	if (r < 0)
		return log_error_errno(r, "Failed to create the monitor: %m");
	/* The store hears every event first, so a session is queued before anyone asks. */
	r = store_attach(m->store, m->monitor);
	if (r < 0)
		return log_error_errno(r, "Failed to attach the store: %m");
	m->status_observer = monitor_observer_register(m->monitor, on_monitor_event, m, NULL);
	if (m->status_observer == 0)
		return log_oom();
	r = front_events_new(m->monitor, &m->front_events);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the event feed: %m");
	r = front_new(&(struct front_config){ .monitor = m->monitor,
					      .store = m->store,
					      .config = m->config,
					      .events = front_events_hub(m->front_events) },
		      &m->front);
	if (r < 0)
		return log_oom();
	return start_mqtt(m);
}

int manager_start_sources(struct manager *m)
{
	int r;

	if (m->options.simulate > 0) {
		struct sim_config sc = {
			.n_straps = m->options.simulate,
			.seed = m->options.seed,
			.rate = m->options.sim_rate,
		};

		r = sim_new(m->event, m->monitor, &sc, &m->sim);
		if (r < 0)
			return log_error_errno(r, "Failed to start the simulator: %m");
	}
	if (m->replay) {
		r = replay_start(m->replay, m->event, m->monitor);
		if (r < 0)
			return log_error_errno(r, "Failed to start the replay: %m");
	}
	/* BLE (BlueZ): without a system bus cardiod runs on without it (issue 4). */
	if (m->config->ble_enabled) {
		r = ble_new(m->event, m->monitor, m->config, &m->ble);
		if (r < 0)
			log_warning_errno(r, "BLE straps unavailable (no system bus: %m); "
					  "continuing without them.");
	}
	/* ANT+ (issue 5): a missing key or stick is waited out and shown in /healthz. */
	if (m->config->ant_enabled) {
		r = ant_new(m->event, m->monitor, m->config, &m->ant);
		if (r < 0)
			log_warning_errno(r, "ANT+ straps unavailable (%m); continuing without them.");
		front_set_ant(m->front, m->ant);
	}
	return 0;
}

struct cd_front manager_front(struct manager *m)
{
	return front_contract(m->front);
}

sd_event *manager_get_event(struct manager *m)
{
	return m->event;
}

/*
 * Socket activation (ECOSYSTEM §1.2): every fd named "http" (cardiod.socket
 * passes 127.0.0.1 and [::1]), else every fd.  Returns how many.
 */
static int listen_fds_from_systemd(int fds[MAX_LISTEN])
{
	char **names = NULL;
	int n, k = 0;
	bool named = false;

	n = sd_listen_fds_with_names(true, &names);
	if (n <= 0)
		return n;
	for (int i = 0; names && i < n; i++)
		if (names[i] && strcmp(names[i], "http") == 0)
			named = true;
	for (int i = 0; i < n && k < MAX_LISTEN; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (named && !(names[i] && strcmp(names[i], "http") == 0))
			continue;
		if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
			log_warning("Socket %d passed by systemd is not a listening TCP socket, "
				    "ignoring.",
				    fd);
			continue;
		}
		fds[k++] = fd;
	}
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	if (k == 0)
		return log_error_errno(ENOTSOCK, "None of the sockets passed by systemd is a "
						 "listening TCP socket.");
	return k;
}

static int start_http_servers(struct manager *m, struct cd_http_config *hc_in);

int manager_start_http(struct manager *m)
{
	struct cd_http_config hc;
	char token[CD_HTTP_TOKEN_LEN + 1];
	int r;

	cd_http_config_init(&hc);
	hc.max_connections = m->config->http_max_connections;
	hc.timeout_s = m->config->http_timeout_s;
	hc.stats = &m->http_stats;
	hc.max_import = m->config->http_max_import_bytes;
	/* DESIGN §9.7: each server keeps a copy; a token that cannot be written refuses all. */
	hc.token = cd_token_setup(m->config->http_token_file, m->config->bus_manage_group, token) >= 0
			   ? token
			   : NULL;
	hc.read_token = m->config->http_read_token;
	hc.allow_remote = m->config->http_allow_remote;
	r = start_http_servers(m, &hc);
	explicit_bzero(token, sizeof(token));
	return r;
}

static int start_http_servers(struct manager *m, struct cd_http_config *hc_in)
{
	struct cd_http_config hc = *hc_in;
	struct cd_front front = front_contract(m->front);
	int fds[MAX_LISTEN], n, r;

	hc.max_event_streams = m->config->http_max_event_streams;
	n = listen_fds_from_systemd(fds);
	if (n < 0)
		return n;
	hc.listen = m->config->listen;
	if (n == 0) {
		const char *colon = strrchr(m->config->listen, ':');

		hc.listen_fd = -1;
		r = cd_http_new(m->event, &hc, &front, &m->http[0]);
		if (r < 0)
			return log_error_errno(r, "Failed to start the HTTP server on %s: %m",
					       m->config->listen);
		m->n_http = 1;
		snprintf(m->listening, sizeof(m->listening), "%.*s:%u",
			 (int)(colon - m->config->listen), m->config->listen,
			 cd_http_port(m->http[0]));
	} else {
		for (int i = 0; i < n; i++) {
			hc.listen_fd = fds[i];
			r = cd_http_new(m->event, &hc, &front, &m->http[m->n_http]);
			if (r < 0)
				return log_error_errno(r, "Failed to serve HTTP on the socket passed "
							  "by systemd: %m");
			m->n_http++;
		}
		snprintf(m->listening, sizeof(m->listening), "socket-activated port %u (%d socket%s)",
			 cd_http_port(m->http[0]), n, n == 1 ? "" : "s");
	}
	log_info("Ready: HTTP on %s.", m->listening);
	return 0;
}

void manager_notify_ready(struct manager *m)
{
	m->ready = true;
	update_status(m);
	sd_notify(false, "READY=1");
}

int manager_run(struct manager *m)
{
	int r = sd_event_loop(m->event);

	if (r < 0)
		return log_error_errno(r, "Event loop failed: %m");
	return r;
}

int manager_shutdown(struct manager *m)
{
	int r;

	sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
	log_info("Shutting down: closing open sessions.");
	/* Sources stop first, so nothing reopens a session while closing. */
	stop_sources(m);
	if (m->monitor)
		monitor_close_all(m->monitor);
	/* Status "offline" and a clean disconnect, after the last state changes. */
	m->mqtt = cd_mqtt_free(m->mqtt);
	if (!m->store)
		return 0;
	r = store_flush(m->store);
	if (r < 0)
		return log_error_errno(r, "Final commit to %s failed: %m; the samples of the last "
				       "%g s are lost.",
				       m->config->db_path, m->config->commit_interval_s);
	return 0;
}
