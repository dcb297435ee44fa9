/* SPDX-License-Identifier: MIT */
/*
 * Live subcommands over D-Bus (DESIGN §5): status, start, stop, monitor.
 * The bus is the system bus unless --session or --address says otherwise,
 * like cardiod's own --bus.
 *
 * monitor follows the signals and prints one line per update, flushed at
 * once, for status bars: --format plain (default), json (one object per
 * signal) or waybar (the JSON line a waybar "custom" module with
 * return-type json reads: text, tooltip, class = the zone, percentage =
 * % of HRmax), following the root properties, which track the primary
 * strap.  It survives cardiod restarts: class "offline" while cardiod is
 * not on the bus.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "cmds.h"
#include "profile.h"

#if HAVE_SD_BUS

#include <systemd/sd-bus.h>

#include "bus-dict.h"


#define NAME "org.cardiod.Cardiod1"
#define PATH "/org/cardiod/Cardiod1"
#define IFACE "org.cardiod.Cardiod1"

enum bus_kind { BUS_SYSTEM, BUS_SESSION, BUS_ADDRESS };
enum monitor_format { FORMAT_PLAIN, FORMAT_JSON, FORMAT_WAYBAR };
/* Which command: start and stop take an operand, monitor --format. */
enum dbus_cmd { CMD_STATUS, CMD_START, CMD_STOP, CMD_MONITOR };

struct dbus_args {
	enum dbus_cmd cmd;
	enum bus_kind bus;
	const char *address;
	bool json;
	enum monitor_format format;
	const char *arg; /* start: DEVICE; stop: ID */
	uint64_t id;     /* stop: ID as a number, 0 without */
};

static const char *bus_name(const struct dbus_args *a)
{
	return a->bus == BUS_SYSTEM ? "the system bus" : a->bus == BUS_SESSION ? "the session bus"
									      : a->address;
}

enum { ARG_SYSTEM = 0x100, ARG_SESSION, ARG_ADDRESS, ARG_JSON, ARG_FORMAT };

static int dbus_option(int c, char *argv[], void *userdata)
{
	struct dbus_args *a = userdata;

	switch (c) {
	case ARG_SYSTEM:
		a->bus = BUS_SYSTEM;
		break;
	case ARG_SESSION:
		a->bus = BUS_SESSION;
		break;
	case ARG_ADDRESS:
		a->bus = BUS_ADDRESS;
		a->address = optarg;
		break;
	case ARG_JSON:
		a->json = true;
		a->format = FORMAT_JSON;
		break;
	case ARG_FORMAT:
		if (a->cmd != CMD_MONITOR)
			return cli_fail(EXIT_USAGE, "%s: unknown option '--format'", argv[0]);
		if (strcmp(optarg, "plain") == 0)
			a->format = FORMAT_PLAIN;
		else if (strcmp(optarg, "json") == 0)
			a->format = FORMAT_JSON;
		else if (strcmp(optarg, "waybar") == 0)
			a->format = FORMAT_WAYBAR;
		else
			return cli_fail(EXIT_USAGE, "--format: expected plain, json or waybar, "
					"got '%s'", optarg);
		break;
	}
	return 0;
}

/* The options and operand of command a->cmd: 0, -1 after --help, or an exit status. */
static int parse_dbus(int argc, char *argv[], struct dbus_args *a)
{
	static const struct option options[] = {
		{ "system", no_argument, NULL, ARG_SYSTEM },
		{ "session", no_argument, NULL, ARG_SESSION },
		{ "user", no_argument, NULL, ARG_SESSION },
		{ "address", required_argument, NULL, ARG_ADDRESS },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "format", required_argument, NULL, ARG_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned long long id;
	int r;

	r = cli_getopt(argc, argv, ":h", options, dbus_option, a);
	if (r != 0)
		return r;
	if ((a->cmd == CMD_START || a->cmd == CMD_STOP) && optind < argc)
		a->arg = argv[optind++];
	r = cli_no_more_args(argc, argv);
	if (r != 0)
		return r;
	if (a->cmd == CMD_STOP && a->arg) {
		if (cli_parse_id(a->arg, &id) < 0)
			return cli_fail(EXIT_USAGE, "stop: expected a session ID, got '%s'", a->arg);
		a->id = id;
	}
	return 0;
}

static int connect_bus(const struct dbus_args *a, sd_bus **ret)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r = -EINVAL;

	switch (a->bus) {
	case BUS_SYSTEM:
		r = sd_bus_open_system(&bus);
		break;
	case BUS_SESSION:
		r = sd_bus_open_user(&bus);
		break;
	case BUS_ADDRESS:
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, a->address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, true);
		if (r >= 0)
			r = sd_bus_start(bus);
		break;
	}
	if (r < 0)
		return cli_fail(r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE,
				"cannot connect to %s: %s", bus_name(a), strerror(-r));
	*ret = TAKE_PTR(bus);
	return 0;
}

/*
 * What every command does first: read its options (parse_dbus()), then
 * connect.  The bus, or NULL and the exit status in *ret_status (0 after
 * --help, which help printed).
 */
static sd_bus *open_command(int argc, char *argv[], enum dbus_cmd cmd, void (*help)(FILE *f),
			    struct dbus_args *a, int *ret_status)
{
	sd_bus *bus = NULL;
	int r;

	a->cmd = cmd;
	r = parse_dbus(argc, argv, a);
	if (r != 0) {
		*ret_status = cli_parse_exit(r, help);
		return NULL;
	}
	r = connect_bus(a, &bus);
	if (r != 0) {
		*ret_status = r;
		return NULL;
	}
	return bus;
}

/* A failed call: cardiod's own message; "not running" for a missing name. */
static int call_failed(const struct dbus_args *a, const char *method, const sd_bus_error *e, int r)
{
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
	    sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
		return cli_fail(EXIT_FAILURE, "cardiod is not running on %s (no %s)", bus_name(a),
				NAME);
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
		return cli_fail(EXIT_FAILURE, "%s: permission denied (root and the group cardiod "
				"may start and stop sessions)", method);
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_INVALID_ARGS))
		return cli_fail(EXIT_USAGE, "%s", e->message ? e->message : "invalid argument");
	return cli_fail(EXIT_FAILURE, "%s", e && e->message ? e->message : strerror(-r));
}

/* Root properties (GetAll, PropertiesChanged). */
struct root_state {
	unsigned heart_rate;
	unsigned zone;
	char device[256];
	uint64_t session_id;
	char session_state[16];
	double active_s, mvpa_s, ecb_s;
	double today_min, week_min, week_goal_min; /* DESIGN §9.4 */
	uint32_t week_sessions;
};

/* One root property into st (a struct root_state); unknown keys are skipped. */
static int read_root_prop(sd_bus_message *m, const char *key, void *userdata)
{
	struct root_state *st = userdata;
	const char *s;
	uint16_t q;
	uint8_t y;
	int r;

	if (strcmp(key, "HeartRate") == 0 && (r = sd_bus_message_read(m, "v", "q", &q)) >= 0)
		st->heart_rate = q;
	else if (strcmp(key, "Zone") == 0 && (r = sd_bus_message_read(m, "v", "y", &y)) >= 0)
		st->zone = y;
	else if (strcmp(key, "Device") == 0 && (r = sd_bus_message_read(m, "v", "s", &s)) >= 0)
		snprintf(st->device, sizeof(st->device), "%s", s);
	else if (strcmp(key, "SessionId") == 0)
		r = sd_bus_message_read(m, "v", "t", &st->session_id);
	else if (strcmp(key, "SessionState") == 0 &&
		 (r = sd_bus_message_read(m, "v", "s", &s)) >= 0)
		snprintf(st->session_state, sizeof(st->session_state), "%s", s);
	else if (strcmp(key, "ActiveSeconds") == 0)
		r = sd_bus_message_read(m, "v", "d", &st->active_s);
	else if (strcmp(key, "MvpaSeconds") == 0)
		r = sd_bus_message_read(m, "v", "d", &st->mvpa_s);
	else if (strcmp(key, "EcbSeconds") == 0)
		r = sd_bus_message_read(m, "v", "d", &st->ecb_s);
	else if (strcmp(key, "TodayIntensityMinutes") == 0)
		r = sd_bus_message_read(m, "v", "d", &st->today_min);
	else if (strcmp(key, "WeekIntensityMinutes") == 0)
		r = sd_bus_message_read(m, "v", "d", &st->week_min);
	else if (strcmp(key, "WeekGoalMinutes") == 0)
		r = sd_bus_message_read(m, "v", "d", &st->week_goal_min);
	else if (strcmp(key, "WeekSessions") == 0)
		r = sd_bus_message_read(m, "v", "u", &st->week_sessions);
	else
		r = sd_bus_message_skip(m, "v");
	return r;
}

/* Read an a{sv} of root properties into st. */
static int read_root_props(sd_bus_message *m, struct root_state *st)
{
	return cd_bus_read_dict(m, read_root_prop, st);
}

static int get_root(sd_bus *bus, struct root_state *st, sd_bus_error *e)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_call_method(bus, NAME, PATH, "org.freedesktop.DBus.Properties", "GetAll", e,
			       &reply, "s", IFACE);
	if (r < 0)
		return r;
	return read_root_props(reply, st);
}

/* GetSession(id) as cJSON; NULL when there is none (or on any error). */
static cJSON *get_session(sd_bus *bus, uint64_t id)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *json;

	if (sd_bus_call_method(bus, NAME, PATH, IFACE, "GetSession", NULL, &reply, "t", id) < 0 ||
	    sd_bus_message_read(reply, "s", &json) < 0)
		return NULL;
	return cJSON_Parse(json);
}

/* A duration; unknown (NAN) as 0s. */
static const char *dur(double s, char *buf, size_t size)
{
	return cli_fmt_duration(isfinite(s) ? s : 0, buf, size);
}

static double json_num(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static bool add_num_or_null(cJSON *o, const char *key, double v, bool null)
{
	return null ? cJSON_AddNullToObject(o, key) != NULL
		    : cJSON_AddNumberToObject(o, key, v) != NULL;
}

/* status */

void help_status(FILE *f)
{
	fprintf(f, "Usage: cardioctl status [--system|--session|--address ADDR] [--json]\n"
		   "\n"
		   "Current heart rate, zone and session figures of the primary strap (D-Bus).\n"
		   "\n"
		   "      --system        cardiod on the system bus (default)\n"
		   "      --session       cardiod on the session bus\n"
		   "      --address ADDR  cardiod on the bus at ADDR\n"
		   "      --json          machine-readable output\n");
}

int run_status(int argc, char *argv[])
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(cJSON_Deletep) cJSON *session = NULL;
	struct root_state st = {};
	struct dbus_args a = {};
	char b1[32], b2[32], b3[32];
	int r;

	bus = open_command(argc, argv, CMD_STATUS, help_status, &a, &r);
	if (!bus)
		return r;
	r = get_root(bus, &st, &e);
	if (r < 0)
		return call_failed(&a, "status", &e, r);
	session = get_session(bus, st.session_id);

	if (a.json) {
		_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
		_cleanup_free_ char *text = NULL;
		bool live = st.heart_rate > 0;

		if (!o || !cJSON_AddStringToObject(o, "device", st.device) ||
		    !add_num_or_null(o, "heart_rate", st.heart_rate, !live) ||
		    !add_num_or_null(o, "zone", st.zone, !live) ||
		    !add_num_or_null(o, "session_id", (double)st.session_id, st.session_id == 0) ||
		    !cJSON_AddStringToObject(o, "session_state", st.session_state) ||
		    !cJSON_AddNumberToObject(o, "active_s", st.active_s) ||
		    !cJSON_AddNumberToObject(o, "mvpa_s", st.mvpa_s) ||
		    !cJSON_AddNumberToObject(o, "ecb_s", st.ecb_s))
			return cli_fail(EXIT_FAILURE, "out of memory");
		if (session)
			cJSON_AddItemToObject(o, "session", TAKE_PTR(session));
		else
			cJSON_AddNullToObject(o, "session");
		text = cJSON_Print(o);
		if (!text)
			return cli_fail(EXIT_FAILURE, "out of memory");
		puts(text);
		return cli_finish(EXIT_SUCCESS);
	}

	if (!st.device[0]) {
		puts("No strap seen yet.");
		return cli_finish(EXIT_SUCCESS);
	}
	printf("Device      %s\n", st.device);
	if (st.heart_rate > 0)
		printf("Heart rate  %u bpm, %s %s (%.0f%% HRmax)\n", st.heart_rate,
		       cd_zone_label((enum cd_zone)(st.zone <= 5 ? st.zone : 0)),
		       cd_zone_name((enum cd_zone)(st.zone <= 5 ? st.zone : 0)),
		       100.0 * st.heart_rate / json_num(session, "profile", "hr_max"));
	else
		printf("Heart rate  no live signal\n");
	if (st.session_id)
		printf("Session     %" PRIu64 " (active): active %s, MVPA %s, ECB band %s\n",
		       st.session_id, dur(st.active_s, b1, sizeof(b1)), dur(st.mvpa_s, b2, sizeof(b2)),
		       dur(st.ecb_s, b3, sizeof(b3)));
	else
		printf("Session     none active\n");
	if (session && st.session_id) {
		double avg = json_num(session, "heart_rate", "avg");
		double max = json_num(session, "heart_rate", "max");

		if (isfinite(avg))
			printf("            avg %.0f bpm, max %.0f bpm\n", avg, max);
	}
	return cli_finish(EXIT_SUCCESS);
}

/* start, stop */

void help_start(FILE *f)
{
	fprintf(f, "Usage: cardioctl start [DEVICE] [--system|--session|--address ADDR] [--json]\n"
		   "\n"
		   "Start a session on DEVICE (default: the primary strap); returns the active\n"
		   "session if there is one.  Needs root or the group cardiod on the system bus.\n");
}

int run_start(int argc, char *argv[])
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct dbus_args a = {};
	uint64_t id;
	int r;

	bus = open_command(argc, argv, CMD_START, help_start, &a, &r);
	if (!bus)
		return r;
	r = sd_bus_call_method(bus, NAME, PATH, IFACE, "StartSession", &e, &reply, "s",
			       a.arg ? a.arg : "");
	if (r >= 0)
		r = sd_bus_message_read(reply, "t", &id);
	if (r < 0)
		return call_failed(&a, "start", &e, r);
	if (a.json)
		printf("{\"id\": %" PRIu64 "}\n", id);
	else
		printf("Session %" PRIu64 " is active.\n", id);
	return cli_finish(EXIT_SUCCESS);
}

void help_stop(FILE *f)
{
	fprintf(f, "Usage: cardioctl stop [ID] [--system|--session|--address ADDR] [--json]\n"
		   "\n"
		   "Stop session ID (default: the primary strap's active session).  Needs root\n"
		   "or the group cardiod on the system bus.\n");
}

int run_stop(int argc, char *argv[])
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	struct dbus_args a = {};
	int r;

	bus = open_command(argc, argv, CMD_STOP, help_stop, &a, &r);
	if (!bus)
		return r;
	r = sd_bus_call_method(bus, NAME, PATH, IFACE, "StopSession", &e, NULL, "t", a.id);
	if (r < 0)
		return call_failed(&a, "stop", &e, r);
	if (a.json)
		printf("{\"stopped\": true}\n");
	else
		printf("Session stopped.\n");
	return cli_finish(EXIT_SUCCESS);
}

/* monitor */

struct monitor_ctx {
	struct dbus_args *args;
	sd_bus *bus;
	struct root_state st;
	bool online;
	double hr_max;        /* of the followed strap's profile; NAN unknown */
	uint64_t hr_max_for;  /* session id hr_max was read for */
	char last[1024];      /* last waybar line, to print only changes */
	int status;           /* set on a write error */
};

static void emit_line(struct monitor_ctx *c, const char *line)
{
	if (puts(line) < 0 || fflush(stdout) != 0)
		c->status = EXIT_FAILURE;
}

static void emit_json(struct monitor_ctx *c, cJSON *o)
{
	_cleanup_free_ char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	if (s)
		emit_line(c, s);
	else
		c->status = EXIT_FAILURE;
}

static void refresh_hr_max(struct monitor_ctx *c)
{
	_cleanup_(cJSON_Deletep) cJSON *s = NULL;

	if (isfinite(c->hr_max) && c->hr_max_for == c->st.session_id)
		return;
	s = get_session(c->bus, c->st.session_id);
	c->hr_max = json_num(s, "profile", "hr_max");
	c->hr_max_for = c->st.session_id;
}

static void print_waybar(struct monitor_ctx *c)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *s = NULL;
	char text[64], tooltip[512], cls[16], b1[32], b2[32], b3[32];
	const struct root_state *st = &c->st;
	unsigned zone = st->zone <= 5 ? st->zone : 0;
	int pct = 0;

	if (!c->online) {
		snprintf(text, sizeof(text), "♥ --");
		snprintf(tooltip, sizeof(tooltip), "cardiod is not running");
		snprintf(cls, sizeof(cls), "offline");
	} else if (st->heart_rate == 0) {
		snprintf(text, sizeof(text), "♥ --");
		snprintf(tooltip, sizeof(tooltip), "%s: no live heart rate",
			 st->device[0] ? st->device : "no strap");
		snprintf(cls, sizeof(cls), "stale");
	} else {
		refresh_hr_max(c);
		if (isfinite(c->hr_max) && c->hr_max > 0)
			pct = (int)lround(fmin(100.0, 100.0 * st->heart_rate / c->hr_max));
		snprintf(text, sizeof(text), "♥ %u", st->heart_rate);
		if (st->session_id)
			snprintf(tooltip, sizeof(tooltip),
				 "%s: %u bpm, %s %s\nSession %" PRIu64 ": active %s, MVPA %s, ECB %s",
				 st->device, st->heart_rate, cd_zone_label((enum cd_zone)zone),
				 cd_zone_name((enum cd_zone)zone), st->session_id,
				 dur(st->active_s, b1, sizeof(b1)), dur(st->mvpa_s, b2, sizeof(b2)),
				 dur(st->ecb_s, b3, sizeof(b3)));
		else
			snprintf(tooltip, sizeof(tooltip), "%s: %u bpm, %s %s\nNo active session",
				 st->device, st->heart_rate, cd_zone_label((enum cd_zone)zone),
				 cd_zone_name((enum cd_zone)zone));
		snprintf(cls, sizeof(cls), "zone%u", zone);
	}
	if (c->online) {
		size_t n = strlen(tooltip);

		/* The week against the goal (DESIGN §9.4), whatever the strap does. */
		snprintf(tooltip + n, sizeof(tooltip) - n,
			 "\nWeek: %.0f of %.0f intensity min, %" PRIu32 " session%s (today %.0f)",
			 st->week_min, st->week_goal_min, st->week_sessions,
			 st->week_sessions == 1 ? "" : "s", st->today_min);
	}
	if (!o || !cJSON_AddStringToObject(o, "text", text) ||
	    !cJSON_AddStringToObject(o, "tooltip", tooltip) ||
	    !cJSON_AddStringToObject(o, "class", cls) ||
	    !cJSON_AddNumberToObject(o, "percentage", pct)) {
		c->status = EXIT_FAILURE;
		return;
	}
	s = cJSON_PrintUnformatted(o);
	if (!s) {
		c->status = EXIT_FAILURE;
		return;
	}
	if (strcmp(s, c->last) == 0)
		return;
	snprintf(c->last, sizeof(c->last), "%s", s);
	emit_line(c, s);
}

static void go_online(struct monitor_ctx *c)
{
	c->online = get_root(c->bus, &c->st, NULL) >= 0;
	c->hr_max = NAN;
	if (c->args->format == FORMAT_WAYBAR)
		print_waybar(c);
}

static int on_props(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct monitor_ctx *c = userdata;
	const char *iface;

	if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, IFACE) != 0)
		return 0;
	if (read_root_props(m, &c->st) < 0)
		return 0;
	c->online = true;
	if (c->args->format == FORMAT_WAYBAR)
		print_waybar(c);
	return 0;
}

static int on_owner(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct monitor_ctx *c = userdata;
	const char *name, *old, *new;

	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, NAME) != 0)
		return 0;
	if (*new)
		go_online(c);
	else {
		c->online = false;
		if (c->args->format == FORMAT_WAYBAR)
			print_waybar(c);
		else if (c->args->format == FORMAT_JSON) {
			_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();

			if (o && cJSON_AddStringToObject(o, "event", "offline"))
				emit_json(c, o);
		} else
			emit_line(c, "cardiod left the bus");
	}
	return 0;
}

/* One summary value into o (a JSON object): basic values and arrays of doubles. */
static int summary_entry_to_json(sd_bus_message *m, const char *key, void *userdata)
{
	cJSON *o = userdata;
	const char *contents;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (strcmp(contents, "s") == 0) {
		const char *s;

		r = sd_bus_message_read(m, "v", "s", &s);
		if (r >= 0 && !cJSON_AddStringToObject(o, key, s))
			return -ENOMEM;
	} else if (strcmp(contents, "t") == 0) {
		uint64_t t;

		r = sd_bus_message_read(m, "v", "t", &t);
		if (r >= 0 && !cJSON_AddNumberToObject(o, key, (double)t))
			return -ENOMEM;
	} else if (strcmp(contents, "d") == 0) {
		double d;

		r = sd_bus_message_read(m, "v", "d", &d);
		if (r >= 0 && !cJSON_AddNumberToObject(o, key, d))
			return -ENOMEM;
	} else if (strcmp(contents, "ad") == 0) {
		const void *p;
		size_t n;

		r = sd_bus_message_enter_container(m, 'v', "ad");
		if (r >= 0)
			r = sd_bus_message_read_array(m, 'd', &p, &n);
		if (r >= 0 && !cJSON_AddItemToObject(o, key, cJSON_CreateDoubleArray(
							    p, (int)(n / sizeof(double)))))
			return -ENOMEM;
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	} else
		r = sd_bus_message_skip(m, "v");
	return r;
}

/* a{sv} with basic values and arrays of doubles → JSON object. */
static int summary_to_json(sd_bus_message *m, cJSON *o)
{
	return cd_bus_read_dict(m, summary_entry_to_json, o);
}

static void now_hms(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	strftime(buf, size, "%H:%M:%S", localtime_r(&t, &tm));
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	struct monitor_ctx *c = userdata;
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	const char *member = sd_bus_message_get_member(m), *s1, *s2, *s3;
	char line[512], hms[16];
	uint64_t id;
	uint16_t bpm;
	uint8_t y1, y2;
	bool json = c->args->format == FORMAT_JSON;
	int r = -EBADMSG;

	if (c->args->format == FORMAT_WAYBAR || !member || !o)
		return 0;
	c->online = true;
	now_hms(hms, sizeof(hms));
	line[0] = '\0';
	if (strcmp(member, "HeartRate") == 0) {
		const void *rr;
		size_t n;

		r = sd_bus_message_read(m, "sqy", &s1, &bpm, &y1);
		if (r >= 0)
			r = sd_bus_message_read_array(m, 'd', &rr, &n);
		if (r >= 0) {
			snprintf(line, sizeof(line), "%s %s %u bpm %s", hms, s1, bpm,
				 cd_zone_label((enum cd_zone)(y1 <= 5 ? y1 : 0)));
			if (!cJSON_AddStringToObject(o, "event", "heart_rate") ||
			    !cJSON_AddStringToObject(o, "device", s1) ||
			    !cJSON_AddNumberToObject(o, "bpm", bpm) ||
			    !cJSON_AddNumberToObject(o, "zone", y1) ||
			    !cJSON_AddItemToObject(o, "rr_ms", cJSON_CreateDoubleArray(
								      rr, (int)(n / sizeof(double)))))
				r = -ENOMEM;
		}
	} else if (strcmp(member, "ZoneChanged") == 0) {
		r = sd_bus_message_read(m, "syy", &s1, &y1, &y2);
		if (r >= 0) {
			snprintf(line, sizeof(line), "%s %s zone Z%u -> Z%u", hms, s1, y1, y2);
			if (!cJSON_AddStringToObject(o, "event", "zone_changed") ||
			    !cJSON_AddStringToObject(o, "device", s1) ||
			    !cJSON_AddNumberToObject(o, "old", y1) || !cJSON_AddNumberToObject(o, "new", y2))
				r = -ENOMEM;
		}
	} else if (strcmp(member, "SessionStarted") == 0) {
		r = sd_bus_message_read(m, "ts", &id, &s1);
		if (r >= 0) {
			snprintf(line, sizeof(line), "%s session %" PRIu64 " started on %s", hms, id, s1);
			if (!cJSON_AddStringToObject(o, "event", "session_started") ||
			    !cJSON_AddNumberToObject(o, "id", (double)id) ||
			    !cJSON_AddStringToObject(o, "device", s1))
				r = -ENOMEM;
		}
	} else if (strcmp(member, "SessionEnded") == 0) {
		cJSON *sum = cJSON_CreateObject();

		r = sd_bus_message_read(m, "t", &id);
		if (r >= 0 && (!sum || !cJSON_AddItemToObject(o, "summary", sum)))
			r = -ENOMEM;
		if (r >= 0)
			r = summary_to_json(m, sum);
		if (r >= 0) {
			char b1[32], b2[32];

			snprintf(line, sizeof(line), "%s session %" PRIu64 " ended: active %s, MVPA %s",
				 hms, id, dur(json_num(sum, "active_s", NULL), b1, sizeof(b1)),
				 dur(json_num(sum, "mvpa_s", NULL), b2, sizeof(b2)));
			if (!cJSON_AddStringToObject(o, "event", "session_ended") ||
			    !cJSON_AddNumberToObject(o, "id", (double)id))
				r = -ENOMEM;
		}
	} else if (strcmp(member, "MilestoneReached") == 0) {
		r = sd_bus_message_read(m, "ts", &id, &s1);
		if (r >= 0) {
			snprintf(line, sizeof(line), "%s session %" PRIu64 " reached %s", hms, id, s1);
			if (!cJSON_AddStringToObject(o, "event", "milestone") ||
			    !cJSON_AddNumberToObject(o, "id", (double)id) ||
			    !cJSON_AddStringToObject(o, "name", s1))
				r = -ENOMEM;
		}
	} else if (strcmp(member, "DeviceConnected") == 0) {
		r = sd_bus_message_read(m, "sss", &s1, &s2, &s3);
		if (r >= 0) {
			snprintf(line, sizeof(line), "%s %s connected (%s, %s)", hms, s1, s2, s3);
			if (!cJSON_AddStringToObject(o, "event", "device_connected") ||
			    !cJSON_AddStringToObject(o, "device", s1) ||
			    !cJSON_AddStringToObject(o, "name", s2) ||
			    !cJSON_AddStringToObject(o, "transport", s3))
				r = -ENOMEM;
		}
	} else if (strcmp(member, "DeviceDisconnected") == 0) {
		r = sd_bus_message_read(m, "s", &s1);
		if (r >= 0) {
			snprintf(line, sizeof(line), "%s %s disconnected", hms, s1);
			if (!cJSON_AddStringToObject(o, "event", "device_disconnected") ||
			    !cJSON_AddStringToObject(o, "device", s1))
				r = -ENOMEM;
		}
	} else
		return 0; /* a newer cardiod's signal */
	if (r == -ENOMEM) {
		c->status = EXIT_FAILURE;
		return 0;
	}
	if (r < 0)
		return 0; /* malformed: ignore */
	if (json)
		emit_json(c, o);
	else
		emit_line(c, line);
	return 0;
}

void help_monitor(FILE *f)
{
	fprintf(f, "Usage: cardioctl monitor [--format plain|json|waybar] [--system|--session|--address ADDR]\n"
		   "\n"
		   "Follow cardiod's D-Bus signals and print one line per update, until\n"
		   "interrupted.  Survives cardiod restarts.\n"
		   "\n"
		   "      --format plain   heart rate, zone changes, sessions, milestones (default)\n"
		   "      --format json    one JSON object per signal (--json)\n"
		   "      --format waybar  the JSON line of a waybar custom module (return-type\n"
		   "                       json): text, tooltip, class (zone0..zone5, stale,\n"
		   "                       offline) and percentage (%% of HRmax)\n");
}

int run_monitor(int argc, char *argv[])
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	struct dbus_args a = {};
	struct monitor_ctx c = { .args = &a, .hr_max = NAN };
	int r;

	bus = open_command(argc, argv, CMD_MONITOR, help_monitor, &a, &r);
	if (!bus)
		return r;
	c.bus = bus;
	r = sd_bus_match_signal(bus, NULL, NAME, PATH, IFACE, NULL, on_signal, &c);
	if (r >= 0)
		r = sd_bus_match_signal(bus, NULL, NAME, PATH, "org.freedesktop.DBus.Properties",
					"PropertiesChanged", on_props, &c);
	if (r >= 0)
		r = sd_bus_add_match(bus, NULL,
				     "type='signal',sender='org.freedesktop.DBus',"
				     "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
				     "arg0='" NAME "'",
				     on_owner, &c);
	if (r < 0)
		return cli_fail(EXIT_FAILURE, "cannot subscribe on %s: %s", bus_name(&a),
				strerror(-r));
	go_online(&c);
	if (!c.online && a.format != FORMAT_WAYBAR)
		fprintf(stderr, "cardioctl: cardiod is not running on %s yet; waiting.\n",
			bus_name(&a));

	while (c.status == 0) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return cli_fail(EXIT_FAILURE, "lost %s: %s", bus_name(&a), strerror(-r));
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, UINT64_MAX);
		if (r < 0 && r != -EINTR)
			return cli_fail(EXIT_FAILURE, "lost %s: %s", bus_name(&a), strerror(-r));
	}
	return c.status;
}

#else /* !HAVE_SD_BUS: cardioctl built without libsystemd (-Ddaemon=false) */

#define NO_DBUS(cmd)                                                                               \
	void help_##cmd(FILE *f)                                                                   \
	{                                                                                          \
		fprintf(f, "cardioctl " #cmd ": not available (built without libsystemd)\n");    \
	}                                                                                          \
	int run_##cmd(int argc, char *argv[])                                                      \
	{                                                                                          \
		(void)argc;                                                                        \
		(void)argv;                                                                        \
		return cli_fail(EXIT_FAILURE, #cmd ": this cardioctl was built without D-Bus "   \
					      "support (libsystemd)");                            \
	}

NO_DBUS(status)
NO_DBUS(start)
NO_DBUS(stop)
NO_DBUS(monitor)

#endif
