/* SPDX-License-Identifier: MIT */
/*
 * The dose over weeks (DESIGN §9.4, §9.5) over cardiod's HTTP API: week
 * (this week, a bar per day), report (a bar per week against the goal,
 * the streak) and import (a file recorded elsewhere).  The daemon does
 * the sums, in its own time zone; this side draws them.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <strings.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "cmds.h"
#include "dose.h"
#include "http-client.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);

#define TIMEOUT_S 15
#define IMPORT_TIMEOUT_S 300
#define BAR_WIDTH 30
#define MAX_WEEKS 520

/* Which command: report takes --weeks; import FILE, --start, --device and --kind. */
enum dose_cmd { CMD_WEEK, CMD_REPORT, CMD_IMPORT };

struct dose_args {
	enum dose_cmd cmd;
	const char *url;
	bool json;
	unsigned long long weeks;
	const char *start, *device, *profile, *kind, *file;
	const char *token_file; /* --token-file; NULL: $CARDIOD_TOKEN_FILE or the default */
};

static int get_json(const char *url, const char *token_file, const char *path, cJSON **ret)
{
	_cleanup_free_ char *error = NULL;
	_cleanup_(cli_token_free) char *token = NULL;
	struct http_response resp = {};
	const char *why = NULL;
	char whybuf[512];
	int r;

	token = cli_token_for(url, token_file, &why, whybuf, sizeof(whybuf));
	if (!token && !why)
		return cli_fail(EXIT_FAILURE, "out of memory");
	r = http_request(url, "GET", path, NULL, token, TIMEOUT_S, &resp, &error);
	r = cli_http_result(url, r, error, NULL, why, &resp);
	if (r != 0)
		return r;
	return cli_json_body(&resp, path, ret);
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "?";
}

enum {
	ARG_URL = 0x100,
	ARG_JSON,
	ARG_WEEKS,
	ARG_START,
	ARG_DEVICE,
	ARG_PROFILE,
	ARG_KIND,
	ARG_TOKEN_FILE,
};

static int dose_option(int c, char *argv[], void *userdata)
{
	struct dose_args *a = userdata;

	switch (c) {
	case ARG_URL:
		a->url = optarg;
		break;
	case ARG_JSON:
		a->json = true;
		break;
	case ARG_WEEKS:
		if (a->cmd != CMD_REPORT)
			return cli_fail(EXIT_USAGE, "%s: unknown option '--weeks'", argv[0]);
		return cli_parse_count("--weeks", optarg, MAX_WEEKS, &a->weeks);
	case ARG_START:
	case ARG_DEVICE:
	case ARG_KIND:
		if (a->cmd != CMD_IMPORT)
			return cli_fail(EXIT_USAGE, "%s: unknown option '%s'", argv[0],
					argv[optind - 1]);
		*(c == ARG_START ? &a->start : c == ARG_DEVICE ? &a->device : &a->kind) = optarg;
		break;
	case ARG_PROFILE:
		a->profile = optarg;
		break;
	case ARG_TOKEN_FILE:
		a->token_file = optarg;
		break;
	}
	return 0;
}

/* The options and FILE of command a->cmd: 0, -1 after --help, or an exit status. */
static int parse_args(int argc, char *argv[], struct dose_args *a)
{
	static const struct option options[] = {
		{ "url", required_argument, NULL, ARG_URL },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "weeks", required_argument, NULL, ARG_WEEKS },
		{ "start", required_argument, NULL, ARG_START },
		{ "device", required_argument, NULL, ARG_DEVICE },
		{ "profile", required_argument, NULL, ARG_PROFILE },
		{ "kind", required_argument, NULL, ARG_KIND },
		{ "token-file", required_argument, NULL, ARG_TOKEN_FILE },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int r;

	a->url = CARDIOCTL_DEFAULT_URL;
	a->weeks = 12;
	r = cli_getopt(argc, argv, ":h", options, dose_option, a);
	if (r != 0)
		return r;
	if (a->cmd == CMD_IMPORT) {
		if (optind >= argc)
			return cli_fail(EXIT_USAGE, "%s: missing FILE", argv[0]);
		a->file = argv[optind++];
	}
	return cli_no_more_args(argc, argv);
}

/* Append "&key=value" to buf, percent-encoding value. */
static int add_param(char *buf, size_t size, const char *key, const char *value)
{
	size_t n = strlen(buf);
	int k;

	if (!value)
		return 0;
	k = snprintf(buf + n, size - n, "%s%s=", strchr(buf, '?') ? "&" : "?", key);
	if (k < 0 || (size_t)k >= size - n)
		return -ENAMETOOLONG;
	n += (size_t)k;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || strchr("-._~:", *p);

		k = plain ? snprintf(buf + n, size - n, "%c", *p)
			  : snprintf(buf + n, size - n, "%%%02X", *p);
		if (k < 0 || (size_t)k >= size - n)
			return -ENAMETOOLONG;
		n += (size_t)k;
	}
	return 0;
}

/*
 * GET /summary by, from and to (NULL: the server's default) of --profile
 * into *ret: 0, or the exit status.
 */
static int get_summary(const struct dose_args *a, const char *by, const char *from,
		       const char *to, cJSON **ret)
{
	char path[512] = "/summary";

	if (add_param(path, sizeof(path), "by", by) < 0 ||
	    add_param(path, sizeof(path), "from", from) < 0 ||
	    add_param(path, sizeof(path), "to", to) < 0 ||
	    add_param(path, sizeof(path), "profile", a->profile) < 0)
		return cli_fail(EXIT_USAGE, "--profile: too long");
	return get_json(a->url, a->token_file, path, ret);
}

/* The server's current week: the last period of a /summary by default (NULL: none). */
static const cJSON *last_period(const cJSON *summary)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(summary, "periods");

	return cJSON_GetArrayItem(list, cJSON_GetArraySize(list) - 1);
}

/* A bar of width cells for value against full, with the goal marked '|' at mark. */
static void print_bar(double value, double full, double mark)
{
	int fill = full > 0 ? (int)lround(value / full * BAR_WIDTH) : 0;
	int at = full > 0 && mark > 0 ? (int)lround(mark / full * BAR_WIDTH) : -1;

	if (fill > BAR_WIDTH)
		fill = BAR_WIDTH;
	for (int i = 0; i < BAR_WIDTH; i++)
		fputs(i == at - 1 && i >= fill ? "|" : i < fill ? "#" : ".", stdout);
}

static const char *weekday_name(const char *date)
{
	static const char *const names[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	int64_t d;

	if (cd_parse_date(date, &d) < 0)
		return "   ";
	return names[cd_weekday(d)];
}

static void print_milestones(const cJSON *p)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(p, "milestones");

	printf("Milestones: MVPA 20 min in %.0f, MVPA 40 min in %.0f, 60 min active in %.0f "
	       "session%s\n",
	       num(m, "mvpa_20"), num(m, "mvpa_40"), num(m, "duration_60"),
	       num(m, "duration_60") == 1 ? "" : "s");
}

/* week */

void help_week(FILE *f)
{
	fprintf(f, "Usage: cardioctl week [--profile NAME] [--url URL] [--json]\n"
		   "\n"
		   "This week (Monday to Sunday, cardiod's time zone): intensity minutes a day\n"
		   "(moderate + 2 x vigorous), the week against the [goals] of cardiod, sessions\n"
		   "and milestones (HTTP GET /summary).\n"
		   "\n"
		   "      --profile NAME  only the sessions of this profile\n"
		   "      --url URL       cardiod's HTTP API (default " CARDIOCTL_DEFAULT_URL ")\n"
		   "      --json          print cardiod's JSON answer (by day)\n");
}

int run_week(int argc, char *argv[])
{
	_cleanup_(cJSON_Deletep) cJSON *weeks = NULL, *days = NULL;
	struct dose_args a = { .cmd = CMD_WEEK };
	const cJSON *week, *goal, *p;
	double goal_min, max = 0, week_min;
	int r;

	r = parse_args(argc, argv, &a);
	if (r != 0)
		return cli_parse_exit(r, help_week);
	r = get_summary(&a, NULL, NULL, NULL, &weeks);
	if (r != 0)
		return r;
	week = last_period(weeks);
	if (!week)
		return cli_fail(EXIT_FAILURE, "cardiod sent no periods");
	r = get_summary(&a, "day", str(week, "start"), str(week, "end"), &days);
	if (r != 0)
		return r;
	if (a.json)
		return cli_print_json(days);

	goal = cJSON_GetObjectItemCaseSensitive(weeks, "goal");
	goal_min = num(goal, "weekly_intensity_min");
	week_min = num(week, "intensity_min");
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(days, "periods"))
		max = fmax(max, num(p, "intensity_min"));
	max = fmax(max, goal_min / 7);
	printf("Week %s to %s (%s)%s%s\n", str(week, "start"), str(week, "end"),
	       str(weeks, "tz"), a.profile ? ", profile " : "", a.profile ? a.profile : "");
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(days, "periods"))
	{
		printf("  %s %s  ", weekday_name(str(p, "start")), str(p, "start") + 5);
		print_bar(num(p, "intensity_min"), max, goal_min / 7);
		printf(" %4.0f min  %.0f session%s\n", num(p, "intensity_min"), num(p, "sessions"),
		       num(p, "sessions") == 1 ? "" : "s");
	}
	printf("Intensity minutes: %.0f of %.0f (%.0f %%)  ", week_min, goal_min,
	       goal_min > 0 ? 100 * week_min / goal_min : 100);
	print_bar(week_min, fmax(goal_min, week_min), goal_min);
	printf("\nSessions: %.0f of %.0f   Goal %s   Streak: %.0f week%s\n", num(week, "sessions"),
	       num(goal, "weekly_sessions"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(week, "goal_met")) ? "met"
										 : "not met yet",
	       num(weeks, "streak_weeks"), num(weeks, "streak_weeks") == 1 ? "" : "s");
	print_milestones(week);
	return cli_finish(EXIT_SUCCESS);
}

/* report */

void help_report(FILE *f)
{
	fprintf(f, "Usage: cardioctl report [--weeks N] [--profile NAME] [--url URL] [--json]\n"
		   "\n"
		   "The last N weeks (default 12, this one included): intensity minutes a week\n"
		   "against the goal (the '|' on each bar), sessions, and the streak of complete\n"
		   "weeks that met the goal (HTTP GET /summary).\n"
		   "\n"
		   "      --weeks N       how many weeks, 1 to 520\n"
		   "      --profile NAME  only the sessions of this profile\n"
		   "      --url URL       cardiod's HTTP API (default " CARDIOCTL_DEFAULT_URL ")\n"
		   "      --json          print cardiod's JSON answer\n");
}

int run_report(int argc, char *argv[])
{
	_cleanup_(cJSON_Deletep) cJSON *cur = NULL, *o = NULL;
	struct dose_args a = { .cmd = CMD_REPORT };
	const cJSON *goal, *p;
	double goal_min, max;
	char from[16];
	int64_t monday;
	int r;

	r = parse_args(argc, argv, &a);
	if (r != 0)
		return cli_parse_exit(r, help_report);
	r = get_summary(&a, NULL, NULL, NULL, &cur);
	if (r != 0)
		return r;
	p = last_period(cur);
	if (!p || cd_parse_date(str(p, "start"), &monday) < 0)
		return cli_fail(EXIT_FAILURE, "cardiod sent no periods");
	if (cd_format_date(monday - 7 * ((int64_t)a.weeks - 1), from, sizeof(from)) < 0)
		return cli_fail(EXIT_USAGE, "--weeks: too far back");
	r = get_summary(&a, "week", from, str(p, "end"), &o);
	if (r != 0)
		return r;
	if (a.json)
		return cli_print_json(o);

	goal = cJSON_GetObjectItemCaseSensitive(o, "goal");
	goal_min = num(goal, "weekly_intensity_min");
	max = goal_min * 1.5;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "periods"))
		max = fmax(max, num(p, "intensity_min"));
	printf("Weeks %s to %s (%s)%s%s; goal %.0f intensity min and %.0f sessions a week ('|')\n",
	       str(o, "from"), str(o, "to"), str(o, "tz"), a.profile ? ", profile " : "",
	       a.profile ? a.profile : "", goal_min, num(goal, "weekly_sessions"));
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "periods"))
	{
		printf("  %s  ", str(p, "start"));
		print_bar(num(p, "intensity_min"), max, goal_min);
		printf(" %4.0f min  %2.0f session%s%s\n", num(p, "intensity_min"),
		       num(p, "sessions"), num(p, "sessions") == 1 ? " " : "s",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "goal_met")) ? "  met" : "");
	}
	printf("Streak: %.0f week%s in a row met the goal (up to last week).\n",
	       num(o, "streak_weeks"), num(o, "streak_weeks") == 1 ? "" : "s");
	return cli_finish(EXIT_SUCCESS);
}

/* import */

void help_import(FILE *f)
{
	fprintf(f, "Usage: cardioctl import FILE [--start TIME] [--device ID] [--profile NAME]\n"
		   "                        [--kind KIND] [--url URL] [--json]\n"
		   "\n"
		   "Bring in a session recorded elsewhere (HTTP POST /sessions/import): cardiod\n"
		   "computes it with the profile and [session] settings of its device and stores\n"
		   "it.  FILE.csv is the sample format of cardioctl export (t_s,bpm,rr_ms,contact)\n"
		   "and needs --start; .fit and .tcx files carry their own start time.\n"
		   "\n"
		   "      --start TIME    when the CSV's t_s 0 was, ISO 8601 UTC\n"
		   "                      (2026-03-29T21:50:00Z) or Unix seconds\n"
		   "      --device ID     the strap it was recorded with (default: import)\n"
		   "      --profile NAME  compute it with this [profile NAME]\n"
		   "      --kind KIND     a session kind tag (run, ride...)\n"
		   "      --url URL       cardiod's HTTP API (default " CARDIOCTL_DEFAULT_URL ")\n"
		   "      --token-file F  cardiod's API token (default $CARDIOD_TOKEN_FILE, else\n"
		   "                      /run/cardiod/api-token, sent to a loopback URL only)\n"
		   "      --json          print cardiod's JSON answer\n"
		   "\n"
		   "A session overlapping one of the same device is refused, and so is the\n"
		   "whole file when one of its lines is malformed.\n");
}

static const char *content_type_of(const char *file)
{
	const char *dot = strrchr(file, '.');

	if (!dot)
		return NULL;
	if (strcasecmp(dot, ".csv") == 0)
		return "text/csv";
	if (strcasecmp(dot, ".fit") == 0)
		return "application/vnd.ant.fit";
	if (strcasecmp(dot, ".tcx") == 0)
		return "application/vnd.garmin.tcx+xml";
	return NULL;
}

static int read_file(const char *file, char **ret, size_t *ret_size)
{
	_cleanup_(fclosep) FILE *f = fopen(file, "re");
	_cleanup_free_ char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t k;

		if (n == cap) {
			char *b;

			cap = cap ? cap * 2 : 1 << 16;
			b = realloc(buf, cap);
			if (!b)
				return -ENOMEM;
			buf = b;
		}
		k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0) {
			if (ferror(f))
				return -EIO;
			break;
		}
	}
	*ret = TAKE_PTR(buf);
	*ret_size = n;
	return 0;
}

int run_import(int argc, char *argv[])
{
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;
	_cleanup_free_ char *data = NULL, *error = NULL;
	_cleanup_(cli_token_free) char *token = NULL;
	const char *why = NULL;
	char whybuf[512];
	struct http_response resp = {};
	struct dose_args a = { .cmd = CMD_IMPORT };
	const char *type;
	char path[1024] = "/sessions/import";
	const cJSON *s;
	size_t size = 0;
	int r;

	r = parse_args(argc, argv, &a);
	if (r != 0)
		return cli_parse_exit(r, help_import);
	type = content_type_of(a.file);
	if (!type)
		return cli_fail(EXIT_USAGE, "import: %s: expected a .csv, .fit or .tcx file", a.file);
	if (strcmp(type, "text/csv") == 0 && !a.start)
		return cli_fail(EXIT_USAGE, "import: a CSV file needs --start (when its t_s 0 was)");
	r = read_file(a.file, &data, &size);
	if (r < 0)
		return cli_fail(r == -ENOMEM ? EXIT_FAILURE : EXIT_USAGE, "import: %s: %s", a.file,
				strerror(-r));
	if (add_param(path, sizeof(path), "started_at", a.start) < 0 ||
	    add_param(path, sizeof(path), "device", a.device) < 0 ||
	    add_param(path, sizeof(path), "profile", a.profile) < 0 ||
	    add_param(path, sizeof(path), "kind", a.kind) < 0)
		return cli_fail(EXIT_USAGE, "import: an option is too long");
	token = cli_token_for(a.url, a.token_file, &why, whybuf, sizeof(whybuf));
	if (!token && !why)
		return cli_fail(EXIT_FAILURE, "out of memory");
	r = http_request_typed(a.url, "POST", path, data, size, type, token, IMPORT_TIMEOUT_S,
			       &resp, &error);
	r = cli_http_result(a.url, r, error, "import", why, &resp);
	if (r != 0)
		return r;
	r = cli_json_body(&resp, NULL, &o);
	if (r != 0)
		return r;
	if (a.json)
		return cli_print_json(o);
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(o, "sessions"))
	{
		const cJSON *in = cJSON_GetObjectItemCaseSensitive(s, "intensity");
		const cJSON *dev = cJSON_GetObjectItemCaseSensitive(s, "device");

		printf("Imported session %.0f: %s, started %s, %.0f min active, %.0f intensity "
		       "min\n",
		       num(s, "id"), str(dev, "id"), str(s, "started_at"), num(s, "active_s") / 60,
		       (num(in, "moderate_s") + 2 * num(in, "vigorous_s")) / 60);
	}
	return cli_finish(EXIT_SUCCESS);
}
