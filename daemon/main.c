/* SPDX-License-Identifier: MIT */
/*
 * cardiod: live heart rate from BLE and ANT+ straps, zone dwell and dose
 * figures, a session log, and a localhost JSON API (DESIGN.md).
 *
 * run() is a straight line: options, configuration, manager, store,
 * sources, HTTP, READY=1, loop, shutdown.  Exit status: 0 after a clean
 * shutdown, 2 for bad options or configuration (with FILE:LINE), 1 for
 * anything else (e.g. a database that cannot be trusted).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "daemon-config.h"
#include "dbus.h"
#include "log.h"
#include "manager.h"
#include "memory.h"
#include "replay.h"
#include "store-check.h"

#define EXIT_USAGE 2

/* Command-line settings are applied after the file, through cd_config_set(). */
struct setting {
	char option[32]; /* "--max-gap" */
	const char *section, *key;
	const char *value;
};

struct args {
	const char *config_path;
	bool config_explicit;
	unsigned simulate;
	uint64_t seed;
	unsigned sim_rate;
	const char *replay;
	double speed;
	bool speed_given;
	bool verbose;
	struct setting settings[64];
	size_t n_settings;
};

static void help(void)
{
	printf("Usage: cardiod [OPTION...]\n"
	       "Receive heart rate from BLE and ANT+ straps, log sessions, serve them on HTTP.\n"
	       "\n"
	       "  -c, --config FILE          configuration file (default " CD_CONFIG_DEFAULT_PATH ")\n"
	       "  -l, --listen ADDR:PORT     HTTP address (default " CD_CONFIG_DEFAULT_LISTEN "; port 0\n"
	       "                             picks a free one and logs it)\n"
	       "      --http-max-connections N\n"
	       "                             HTTP connections kept open at most (default 64)\n"
	       "      --http-timeout S       seconds a connection has for a whole request, and\n"
	       "                             an idle keep-alive before it is closed (default 10)\n"
	       "      --token-file PATH      where the API token is written at start (default\n"
	       "                             " CD_CONFIG_DEFAULT_TOKEN_FILE ")\n"
	       "      --read-access open|token\n"
	       "                             whether HTTP reads need the token (default open)\n"
	       "      --allow-remote         allow a non-loopback --listen (every request then\n"
	       "                             needs the token)\n"
	       "      --http-max-event-streams N\n"
	       "                             GET /events streams open at most (default 32)\n"
	       "      --bus BUS              system, session, none or a D-Bus address\n"
	       "      --manage-group GROUP   D-Bus: may start and stop sessions (default cardiod)\n"
	       "      --read-group GROUP     D-Bus: may read (default cardiod-readers)\n"
	       "      --db PATH              session database (default " CD_CONFIG_DEFAULT_DB ")\n"
	       "      --simulate[=N]         add N simulated straps sim-1..sim-N (default 1)\n"
	       "      --seed N               simulator seed (default 1)\n"
	       "      --replay FILE.csv      replay a sample file as strap replay-1\n"
	       "      --speed X              replay speed; 0 = as fast as possible (default 1)\n"
	       "      --no-ble               do not use Bluetooth LE straps\n"
	       "      --no-ant               do not use an ANT+ stick\n"
	       "      --ant-device PATH      ANT+ stick tty, or 'auto'\n"
	       "      --ant-key-file PATH    file with the ANT+ network key\n"
	       "      --ble-adapter NAME     BlueZ adapter (e.g. hci0)\n"
	       "\n"
	       "Default profile ([profile] twins):\n"
	       "      --hr-max N  --age N  --hr-rest N  --sex male|female\n"
	       "      --zones LIST  --zones-bpm LIST  --model percent_max|percent_reserve|zones_bpm\n"
	       "Sessions ([session] twins, seconds):\n"
	       "      --idle-timeout S  --max-gap S  --stale-after S  --window S\n"
	       "      --commit-interval S\n"
	       "Weekly goals ([goals] twins):\n"
	       "      --goal-minutes MIN     weekly intensity minutes (default 150)\n"
	       "      --goal-sessions N      weekly sessions (default 3)\n"
	       "      --http-max-import-bytes N\n"
	       "                             largest POST /sessions/import body (default 64 MiB)\n"
	       "\n"
	       "  -v, --verbose              debug logging\n"
	       "  -h, --help                 show this help\n"
	       "      --version              show the version\n"
	       "\n"
	       "Dose figures are information, not a diagnosis or treatment.\n");
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("cardiod: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see cardiod --help)\n", stderr);
	return -EINVAL;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Returns 1 to go on, 0 after --help/--version, or -EINVAL after a usage error. */
static int parse_argv(int argc, char *argv[], struct args *a)
{
	enum {
		ARG_BUS = 0x100,
		ARG_DB,
		ARG_SIMULATE,
		ARG_SEED,
		ARG_REPLAY,
		ARG_SPEED,
		ARG_NO_BLE,
		ARG_NO_ANT,
		ARG_ANT_DEVICE,
		ARG_ANT_KEY_FILE,
		ARG_BLE_ADAPTER,
		ARG_HR_MAX,
		ARG_AGE,
		ARG_HR_REST,
		ARG_SEX,
		ARG_ZONES,
		ARG_ZONES_BPM,
		ARG_MODEL,
		ARG_IDLE_TIMEOUT,
		ARG_MAX_GAP,
		ARG_STALE_AFTER,
		ARG_WINDOW,
		ARG_COMMIT_INTERVAL,
		ARG_SIM_RATE,
		ARG_HTTP_MAX_CONNECTIONS,
		ARG_HTTP_TIMEOUT,
		ARG_HTTP_MAX_IMPORT,
		ARG_GOAL_MINUTES,
		ARG_GOAL_SESSIONS,
		ARG_TOKEN_FILE,
		ARG_READ_ACCESS,
		ARG_ALLOW_REMOTE,
		ARG_MANAGE_GROUP,
		ARG_READ_GROUP,
		ARG_HTTP_MAX_EVENT_STREAMS,
		ARG_VERSION,
	};
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "bus", required_argument, NULL, ARG_BUS },
		{ "db", required_argument, NULL, ARG_DB },
		{ "simulate", optional_argument, NULL, ARG_SIMULATE },
		{ "seed", required_argument, NULL, ARG_SEED },
		{ "replay", required_argument, NULL, ARG_REPLAY },
		{ "speed", required_argument, NULL, ARG_SPEED },
		{ "no-ble", no_argument, NULL, ARG_NO_BLE },
		{ "no-ant", no_argument, NULL, ARG_NO_ANT },
		{ "ant-device", required_argument, NULL, ARG_ANT_DEVICE },
		{ "ant-key-file", required_argument, NULL, ARG_ANT_KEY_FILE },
		{ "ble-adapter", required_argument, NULL, ARG_BLE_ADAPTER },
		{ "hr-max", required_argument, NULL, ARG_HR_MAX },
		{ "age", required_argument, NULL, ARG_AGE },
		{ "hr-rest", required_argument, NULL, ARG_HR_REST },
		{ "sex", required_argument, NULL, ARG_SEX },
		{ "zones", required_argument, NULL, ARG_ZONES },
		{ "zones-bpm", required_argument, NULL, ARG_ZONES_BPM },
		{ "model", required_argument, NULL, ARG_MODEL },
		{ "idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT },
		{ "max-gap", required_argument, NULL, ARG_MAX_GAP },
		{ "stale-after", required_argument, NULL, ARG_STALE_AFTER },
		{ "window", required_argument, NULL, ARG_WINDOW },
		{ "commit-interval", required_argument, NULL, ARG_COMMIT_INTERVAL },
		{ "sim-rate", required_argument, NULL, ARG_SIM_RATE }, /* hidden: benchmarks */
		{ "http-max-connections", required_argument, NULL, ARG_HTTP_MAX_CONNECTIONS },
		{ "http-timeout", required_argument, NULL, ARG_HTTP_TIMEOUT },
		{ "http-max-import-bytes", required_argument, NULL, ARG_HTTP_MAX_IMPORT },
		{ "goal-minutes", required_argument, NULL, ARG_GOAL_MINUTES },
		{ "goal-sessions", required_argument, NULL, ARG_GOAL_SESSIONS },
		{ "token-file", required_argument, NULL, ARG_TOKEN_FILE },
		{ "read-access", required_argument, NULL, ARG_READ_ACCESS },
		{ "allow-remote", no_argument, NULL, ARG_ALLOW_REMOTE },
		{ "manage-group", required_argument, NULL, ARG_MANAGE_GROUP },
		{ "read-group", required_argument, NULL, ARG_READ_GROUP },
		{ "http-max-event-streams", required_argument, NULL, ARG_HTTP_MAX_EVENT_STREAMS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{},
	};
	/* Options that are config keys: option value → [section] key. */
	static const struct {
		int id;
		const char *section, *key, *value; /* value NULL: the argument */
	} twins[] = {
		{ 'l', "http", "listen", NULL },
		{ ARG_HTTP_MAX_CONNECTIONS, "http", "max_connections", NULL },
		{ ARG_HTTP_TIMEOUT, "http", "timeout_s", NULL },
		{ ARG_TOKEN_FILE, "http", "token_file", NULL },
		{ ARG_READ_ACCESS, "http", "read_access", NULL },
		{ ARG_ALLOW_REMOTE, "http", "allow_remote", "true" },
		{ ARG_HTTP_MAX_EVENT_STREAMS, "http", "max_event_streams", NULL },
		{ ARG_BUS, "bus", "bus", NULL },
		{ ARG_MANAGE_GROUP, "bus", "manage_group", NULL },
		{ ARG_READ_GROUP, "bus", "read_group", NULL },
		{ ARG_DB, "storage", "path", NULL },
		{ ARG_NO_BLE, "ble", "enabled", "no" },
		{ ARG_NO_ANT, "ant", "enabled", "no" },
		{ ARG_ANT_DEVICE, "ant", "device", NULL },
		{ ARG_ANT_KEY_FILE, "ant", "network_key_file", NULL },
		{ ARG_BLE_ADAPTER, "ble", "adapter", NULL },
		{ ARG_HR_MAX, "profile", "hr_max", NULL },
		{ ARG_AGE, "profile", "age", NULL },
		{ ARG_HR_REST, "profile", "hr_rest", NULL },
		{ ARG_SEX, "profile", "sex", NULL },
		{ ARG_ZONES, "profile", "zones", NULL },
		{ ARG_ZONES_BPM, "profile", "zones_bpm", NULL },
		{ ARG_MODEL, "profile", "model", NULL },
		{ ARG_IDLE_TIMEOUT, "session", "idle_timeout_s", NULL },
		{ ARG_MAX_GAP, "session", "max_gap_s", NULL },
		{ ARG_STALE_AFTER, "session", "stale_after_s", NULL },
		{ ARG_WINDOW, "session", "window_s", NULL },
		{ ARG_COMMIT_INTERVAL, "session", "commit_interval_s", NULL },
		{ ARG_HTTP_MAX_IMPORT, "http", "max_import_bytes", NULL },
		{ ARG_GOAL_MINUTES, "goals", "weekly_intensity_min", NULL },
		{ ARG_GOAL_SESSIONS, "goals", "weekly_sessions", NULL },
	};
	unsigned long long v;
	int c, idx;

	a->config_path = CD_CONFIG_DEFAULT_PATH;
	a->seed = 1;
	a->sim_rate = 1;
	a->speed = 1;

	opterr = 0;
	while ((idx = -1, c = getopt_long(argc, argv, ":c:l:vh", options, &idx)) >= 0) {
		bool twin = false;

		for (size_t i = 0; i < ELEMENTSOF(twins); i++) {
			if (twins[i].id != c)
				continue;
			if (a->n_settings >= ELEMENTSOF(a->settings))
				return usage_error("too many options");
			a->settings[a->n_settings] = (struct setting){
				.section = twins[i].section,
				.key = twins[i].key,
				.value = twins[i].value ? twins[i].value : optarg,
			};
			snprintf(a->settings[a->n_settings].option,
				 sizeof(a->settings[a->n_settings].option), "--%s",
				 idx >= 0 ? options[idx].name : "listen");
			a->n_settings++;
			twin = true;
		}
		if (twin)
			continue;

		switch (c) {
		case 'c':
			a->config_path = optarg;
			a->config_explicit = true;
			break;
		case ARG_SIMULATE:
			if (!optarg)
				a->simulate = 1;
			else if (parse_uint(optarg, 64, &v) < 0 || v == 0)
				return usage_error("--simulate: expected a number of straps from 1 "
						   "to 64, got '%s'",
						   optarg);
			else
				a->simulate = (unsigned)v;
			break;
		case ARG_SEED:
			if (parse_uint(optarg, UINT64_MAX, &v) < 0)
				return usage_error("--seed: expected a non-negative integer, got '%s'",
						   optarg);
			a->seed = v;
			break;
		case ARG_SIM_RATE:
			if (parse_uint(optarg, 100000, &v) < 0 || v == 0)
				return usage_error("--sim-rate: expected 1 to 100000, got '%s'",
						   optarg);
			a->sim_rate = (unsigned)v;
			break;
		case ARG_REPLAY:
			a->replay = optarg;
			break;
		case ARG_SPEED: {
			char *end;

			errno = 0;
			a->speed = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(a->speed) || a->speed < 0)
				return usage_error("--speed: expected a number ≥ 0 (0 = as fast as "
						   "possible), got '%s'",
						   optarg);
			a->speed_given = true;
			break;
		}
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("cardiod %s\n", CARDIOD_VERSION);
			return 0;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		case '?':
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		default:
			return usage_error("unexpected option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (a->speed_given && !a->replay)
		return usage_error("--speed needs --replay FILE.csv");
	return 1;
}

/* File, then command line, then the cross-key checks.  Errors go to stderr. */
static int load_config(const struct args *a, struct cd_config *c)
{
	_cleanup_free_ char *error = NULL;
	int r;

	r = cd_config_init(c);
	if (r < 0)
		return log_oom();
	r = cd_config_load_file(c, a->config_path, a->config_explicit, &error);
	for (size_t i = 0; r >= 0 && i < a->n_settings; i++)
		r = cd_config_set(c, a->settings[i].section, a->settings[i].key,
				  a->settings[i].value, a->settings[i].option, 0, &error);
	if (r >= 0)
		r = cd_config_finish(c, a->config_path, &error);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0) {
		fprintf(stderr, "cardiod: %s\n", error ? error : "invalid configuration");
		return r;
	}
	return 0;
}

static int load_replay(const struct args *a, struct replay **ret)
{
	_cleanup_free_ char *error = NULL;
	int r;

	if (!a->replay)
		return 0;
	r = replay_load(a->replay, a->speed, ret, &error);
	if (r < 0)
		fprintf(stderr, "cardiod: %s\n", error ? error : strerror(-r));
	return r;
}

static int run(int argc, char *argv[])
{
	_cleanup_(cd_config_done) struct cd_config config = {};
	_cleanup_(manager_freep) struct manager *m = NULL;
	/* Freed before the manager: it follows the manager's contract. */
	_cleanup_(cd_dbus_freep) struct cd_dbus *dbus = NULL;
	_cleanup_(replay_freep) struct replay *replay = NULL;
	struct args args = {};
	struct cd_front front;
	int r, k;

	r = parse_argv(argc, argv, &args);
	if (r <= 0)
		return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
	log_set_max_level(args.verbose ? LOG_DEBUG : LOG_INFO);

	r = load_config(&args, &config);
	if (r < 0)
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_USAGE;
	r = load_replay(&args, &replay);
	if (r < 0)
		return r == -ENOMEM ? EXIT_FAILURE : EXIT_USAGE;

	r = manager_new(&(struct manager_options){
				.config = &config,
				.simulate = args.simulate,
				.seed = args.seed,
				.sim_rate = args.sim_rate,
				.replay = TAKE_PTR(replay),
			},
			&m);
	if (r < 0)
		return EXIT_FAILURE;
	r = manager_open_store(m);
	if (r < 0)
		return EXIT_FAILURE;
	/* Before the sources, so straps appear with InterfacesAdded; the name is owned
	 * before READY=1 (a missing bus only logs and retries). */
	front = manager_front(m);
	r = cd_dbus_new(manager_get_event(m), config.bus, &front,
			&(struct cd_dbus_config){ .manage_group = config.bus_manage_group,
						  .read_group = config.bus_read_group },
			&dbus);
	if (r < 0)
		return EXIT_FAILURE;
	r = manager_start_sources(m);
	if (r < 0)
		return EXIT_FAILURE;
	r = manager_start_http(m);
	if (r < 0)
		return EXIT_FAILURE;
	r = memory_trim_setup(manager_get_event(m));
	if (r < 0)
		return EXIT_FAILURE;
	manager_notify_ready(m);

	r = manager_run(m);
	k = manager_shutdown(m);
	return r < 0 || k < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char *argv[])
{
	/* The background integrity check of the database (store-check.h), not for users. */
	if (argc == 3 && strcmp(argv[1], "--integrity-check") == 0)
		return store_check_main(argv[2]);
	return run(argc, argv);
}
