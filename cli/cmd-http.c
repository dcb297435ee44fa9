/* SPDX-License-Identifier: MIT */
/*
 * History subcommands over cardiod's HTTP API (DESIGN §4): sessions, show,
 * export.  The server renders the session objects; this side only reads
 * them (cJSON) and prints them for people, or passes them through with
 * --json.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <strings.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "cmds.h"
#include "http-client.h"


#define TIMEOUT_S 15

/* DESIGN §9.7: where cardiod writes its API token (its [http] token_file default). */
#define DEFAULT_TOKEN_FILE "/run/cardiod/api-token"
#define TOKEN_MAX 256

/* Which command: sessions takes --limit, --before; show and export an ID; export --format, -o. */
enum http_cmd { CMD_SESSIONS, CMD_SHOW, CMD_EXPORT };

struct http_args {
	enum http_cmd cmd;
	const char *url;
	const char *token_file;
	bool token_file_given; /* --token-file or $CARDIOD_TOKEN_FILE */
	bool json;
	const char *format;
	unsigned long long limit;
	const char *before;
	const char *id;
	const char *output; /* export -o FILE */
};

/*
 * The API token, when the file is readable: sent with every request (POSTs
 * need it; reads too with read_access = token).  NULL and the reason in
 * *why (static or in buf) otherwise: that is no error until cardiod asks.
 */
static char *read_token(const char *path, const char **why, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	char t[TOKEN_MAX + 2];
	size_t n;

	if (!f) {
		snprintf(buf, size, "cannot read %s: %s", path, strerror(errno));
		*why = buf;
		return NULL;
	}
	n = fread(t, 1, sizeof(t) - 1, f);
	fclose(f);
	t[n] = '\0';
	t[strcspn(t, "\r\n")] = '\0';
	if (n > TOKEN_MAX || !*t || strspn(t, "0123456789abcdefABCDEF") != strlen(t)) {
		snprintf(buf, size, "%s does not hold a token", path);
		*why = buf;
		explicit_bzero(t, sizeof(t));
		return NULL;
	}
	*why = NULL;
	{
		char *copy = strdup(t); /* NULL: out of memory, *why NULL */

		explicit_bzero(t, sizeof(t));
		return copy;
	}
}

/*
 * Whether url ("http://HOST[:PORT]") names this machine's loopback: the
 * default token file is sent there only, so a --url elsewhere never gets
 * the local daemon's token unless a token file was named.
 */
static bool url_is_loopback(const char *url)
{
	const char *h = url + (strncasecmp(url, "http://", 7) == 0 ? 7 : 0);
	size_t n = strcspn(h, ":/?#");

	if (h[0] == '[')
		return strncmp(h, "[::1]", 5) == 0 && strchr(":/", h[5] ? h[5] : '/');
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return true;
	if (strncmp(h, "127.", 4) != 0)
		return false;
	return strspn(h, "0123456789.") == n;
}

static void free_token(char **t)
{
	if (*t) {
		explicit_bzero(*t, strlen(*t));
		free(*t);
	}
}

/*
 * The token to send to url, for commands outside this file: token_file
 * (--token-file), else $CARDIOD_TOKEN_FILE, else the default file, which
 * goes to a loopback url only.  NULL with *why set when there is none (no
 * error until cardiod asks for it); NULL with *why NULL: out of memory.
 */
char *cli_token_for(const char *url, const char *token_file, const char **why, char *buf,
		    size_t size)
{
	bool given = token_file && *token_file;

	if (!given) {
		token_file = getenv("CARDIOD_TOKEN_FILE");
		given = token_file && *token_file;
	}
	if (!given && !url_is_loopback(url)) {
		*why = "cardioctl sends the default token file to a loopback --url only";
		return NULL;
	}
	return read_token(given ? token_file : DEFAULT_TOKEN_FILE, why, buf, size);
}

void cli_token_free(char **t)
{
	free_token(t);
}

/*
 * The outcome of http_request(url, …) = r for a command: 0 when the answer
 * is 2xx; otherwise one line on stderr (the server's own error message, or
 * why the token was missing on a 401), resp released, and the exit code.
 * what prefixes the message (NULL: none).
 */
int cli_http_result(const char *url, int r, const char *error, const char *what,
		    const char *why, struct http_response *ret)
{
	if (r == -ENOMEM)
		return cli_fail(EXIT_FAILURE, "out of memory");
	if (r == -EINVAL)
		return cli_fail(EXIT_USAGE, "--url: %s", error ? error : "bad URL");
	if (r < 0)
		return cli_fail(EXIT_FAILURE, "cannot reach cardiod at %s: %s", url,
				error ? error : strerror(-r));
	if (ret->status / 100 != 2) {
		_cleanup_(cJSON_Deletep) cJSON *o = cJSON_ParseWithLength(ret->body, ret->size);
		cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
		cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
		int status = ret->status;

		if (status == 401) {
			http_response_done(ret);
			return cli_fail(EXIT_FAILURE,
					"%s%scardiod wants its API token (HTTP 401): %s; run as root "
					"or a member of group cardiod, or pass --token-file",
					what ? what : "", what ? ": " : "",
					why ? why : "the token in the token file was refused (did "
						    "cardiod restart?)");
		}
		http_response_done(ret);
		/* The request was at fault (bad id, overlap, bad file…): a usage error. */
		return cli_fail(status / 100 == 4 ? EXIT_USAGE : EXIT_FAILURE,
				"%s%scardiod: %s (HTTP %d)", what ? what : "", what ? ": " : "",
				cJSON_IsString(msg) ? msg->valuestring : "request failed", status);
	}
	return 0;
}

/*
 * The body of a successful answer as JSON, resp released: 0 and *ret, or
 * the exit status after "cardiod sent malformed JSON" (for path, unless
 * NULL).
 */
int cli_json_body(struct http_response *resp, const char *path, cJSON **ret)
{
	*ret = cJSON_ParseWithLength(resp->body, resp->size);
	http_response_done(resp);
	if (*ret)
		return 0;
	if (path)
		return cli_fail(EXIT_FAILURE, "cardiod sent malformed JSON for %s", path);
	return cli_fail(EXIT_FAILURE, "cardiod sent malformed JSON");
}

/* GET/POST and check the status; the server's error message on failure. */
static int fetch(const struct http_args *a, const char *method, const char *path,
		 const char *body, const char *what, struct http_response *ret)
{
	_cleanup_free_ char *error = NULL;
	_cleanup_(free_token) char *token = NULL;
	const char *url = a->url, *why = NULL;
	char whybuf[512];
	int r;

	if (a->token_file_given || url_is_loopback(url)) {
		token = read_token(a->token_file, &why, whybuf, sizeof(whybuf));
		if (!token && !why)
			return cli_fail(EXIT_FAILURE, "out of memory");
	} else
		why = "cardioctl sends the default token file to a loopback --url only";
	r = http_request(url, method, path, body, token, TIMEOUT_S, ret, &error);
	return cli_http_result(url, r, error, what, why, ret);
}

static int fetch_json(const struct http_args *a, const char *path, const char *what,
		      cJSON **ret)
{
	struct http_response resp = {};
	int r;

	r = fetch(a, "GET", path, NULL, what, &resp);
	if (r != 0)
		return r;
	return cli_json_body(&resp, path, ret);
}

int cli_print_json(const cJSON *o)
{
	_cleanup_free_ char *s = cJSON_Print(o);

	if (!s)
		return cli_fail(EXIT_FAILURE, "out of memory");
	puts(s);
	return cli_finish(EXIT_SUCCESS);
}

enum { ARG_URL = 0x100, ARG_JSON, ARG_FORMAT, ARG_LIMIT, ARG_BEFORE, ARG_TOKEN_FILE };

static int http_option(int c, char *argv[], void *userdata)
{
	struct http_args *a = userdata;

	switch (c) {
	case 'o':
		if (a->cmd != CMD_EXPORT)
			return cli_fail(EXIT_USAGE, "%s: unknown option '--output'", argv[0]);
		a->output = optarg;
		break;
	case ARG_URL:
		a->url = optarg;
		break;
	case ARG_TOKEN_FILE:
		a->token_file = optarg;
		a->token_file_given = true;
		break;
	case ARG_JSON:
		a->json = true;
		break;
	case ARG_FORMAT:
		if (a->cmd != CMD_EXPORT)
			return cli_fail(EXIT_USAGE, "%s: unknown option '--format'", argv[0]);
		a->format = optarg;
		break;
	case ARG_LIMIT:
		if (a->cmd != CMD_SESSIONS)
			return cli_fail(EXIT_USAGE, "%s: unknown option '--limit'", argv[0]);
		return cli_parse_count("--limit", optarg, 1000, &a->limit);
	case ARG_BEFORE:
		if (a->cmd != CMD_SESSIONS)
			return cli_fail(EXIT_USAGE, "%s: unknown option '--before'", argv[0]);
		if (!*optarg || strspn(optarg, "0123456789-:.TZ+") != strlen(optarg))
			return cli_fail(EXIT_USAGE, "--before: expected a time as printed "
					"in next_before, got '%s'", optarg);
		a->before = optarg;
		break;
	}
	return 0;
}

/* The options and ID of command a->cmd: 0, -1 after --help, or an exit status. */
static int parse_http(int argc, char *argv[], struct http_args *a)
{
	static const struct option options[] = {
		{ "url", required_argument, NULL, ARG_URL },
		{ "token-file", required_argument, NULL, ARG_TOKEN_FILE },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "format", required_argument, NULL, ARG_FORMAT },
		{ "limit", required_argument, NULL, ARG_LIMIT },
		{ "before", required_argument, NULL, ARG_BEFORE },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int r;

	a->url = CARDIOCTL_DEFAULT_URL;
	a->token_file = getenv("CARDIOD_TOKEN_FILE");
	a->token_file_given = a->token_file && *a->token_file;
	if (!a->token_file_given)
		a->token_file = DEFAULT_TOKEN_FILE;
	a->limit = 20;
	r = cli_getopt(argc, argv, a->cmd == CMD_EXPORT ? ":ho:" : ":h", options, http_option, a);
	if (r != 0)
		return r;
	if (a->cmd != CMD_SESSIONS) {
		unsigned long long id;

		if (optind >= argc)
			return cli_fail(EXIT_USAGE, "%s: missing session ID", argv[0]);
		if (cli_parse_id(argv[optind], &id) < 0)
			return cli_fail(EXIT_USAGE, "%s: expected a session ID (a positive number), "
					"got '%s'", argv[0], argv[optind]);
		a->id = argv[optind++];
	}
	return cli_no_more_args(argc, argv);
}

/* Small formatting helpers. */

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : fallback;
}

static const cJSON *obj(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A duration; unknown (NAN) as "-". */
static const char *dur(double s, char *buf, size_t size)
{
	return isfinite(s) ? cli_fmt_duration(s, buf, size) : "-";
}

static const char *bpm(double v, char *buf, size_t size)
{
	if (!isfinite(v))
		return "-";
	snprintf(buf, size, "%.0f", v);
	return buf;
}

/* "2026-11-26T17:28:39.920Z" → "2026-11-26 17:28:39" */
static const char *when(const char *iso, char *buf, size_t size)
{
	if (!iso || strlen(iso) < 19)
		return iso ? iso : "-";
	snprintf(buf, size, "%.10s %.8s", iso, iso + 11);
	return buf;
}

/* sessions */

void help_sessions(FILE *f)
{
	fprintf(f, "Usage: cardioctl sessions [--limit N] [--before TIME] [--url URL] [--token-file PATH] [--json]\n"
		   "\n"
		   "List logged sessions, newest first (HTTP GET /sessions).\n"
		   "\n"
		   "      --limit N     at most N sessions (default 20)\n"
		   "      --before TIME sessions started before TIME (next_before of a page)\n"
		   "      --url URL     cardiod's HTTP API (default " CARDIOCTL_DEFAULT_URL ")\n"
		   "      --token-file PATH\n"
		   "                    cardiod's API token, sent when readable (default\n"
		   "                    $CARDIOD_TOKEN_FILE or " DEFAULT_TOKEN_FILE ")\n"
		   "      --json        print cardiod's JSON answer\n");
}

int run_sessions(int argc, char *argv[])
{
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;
	struct http_args a = { .cmd = CMD_SESSIONS };
	const cJSON *list, *s;
	char path[256];
	int r;

	r = parse_http(argc, argv, &a);
	if (r != 0)
		return cli_parse_exit(r, help_sessions);
	snprintf(path, sizeof(path), "/sessions?limit=%llu%s%s", a.limit, a.before ? "&before=" : "",
		 a.before ? a.before : "");
	r = fetch_json(&a, path, NULL, &o);
	if (r != 0)
		return r;
	if (a.json)
		return cli_print_json(o);

	list = cJSON_IsArray(o) ? o : obj(o, "sessions");
	if (!cJSON_IsArray(list))
		return cli_fail(EXIT_FAILURE, "cardiod sent no session list");
	if (cJSON_GetArraySize(list) == 0) {
		puts("No sessions yet.");
		return cli_finish(EXIT_SUCCESS);
	}
	printf("%6s  %-19s  %-14s  %-7s  %8s  %8s  %4s  %4s  %8s  %8s\n", "ID", "STARTED (UTC)",
	       "DEVICE", "STATE", "DURATION", "ACTIVE", "AVG", "MAX", "MVPA", "ECB");
	cJSON_ArrayForEach(s, list)
	{
		const cJSON *hr = obj(s, "heart_rate"), *dose = obj(s, "dose");
		char b1[32], b2[32], b3[32], b4[16], b5[16], b6[32], b7[32];

		printf("%6.0f  %-19s  %-14s  %-7s  %8s  %8s  %4s  %4s  %8s  %8s\n", num(s, "id"),
		       when(str(s, "started_at", NULL), b1, sizeof(b1)),
		       str(obj(s, "device"), "id", "-"), str(s, "state", "-"),
		       dur(num(s, "duration_s"), b2, sizeof(b2)),
		       dur(num(s, "active_s"), b3, sizeof(b3)), bpm(num(hr, "avg"), b4, sizeof(b4)),
		       bpm(num(hr, "max"), b5, sizeof(b5)), dur(num(dose, "mvpa_s"), b6, sizeof(b6)),
		       dur(num(dose, "ecb_s"), b7, sizeof(b7)));
	}
	if (cJSON_IsString(obj(o, "next_before")))
		printf("More: cardioctl sessions --before %s\n", str(o, "next_before", ""));
	return cli_finish(EXIT_SUCCESS);
}

/* show */

void help_show(FILE *f)
{
	fprintf(f, "Usage: cardioctl show ID [--url URL] [--token-file PATH] [--json]\n"
		   "\n"
		   "Show one session's figures (HTTP GET /sessions/ID).\n"
		   "\n"
		   "      --url URL     cardiod's HTTP API (default " CARDIOCTL_DEFAULT_URL ")\n"
		   "      --token-file PATH\n"
		   "                    cardiod's API token, sent when readable (default\n"
		   "                    $CARDIOD_TOKEN_FILE or " DEFAULT_TOKEN_FILE ")\n"
		   "      --json        print the session object of DESIGN §4\n");
}

/* A session object for people; also used by `status`. */
static void print_session(const cJSON *s)
{
	const cJSON *dev = obj(s, "device"), *hr = obj(s, "heart_rate"), *dose = obj(s, "dose");
	const cJSON *ms = obj(dose, "milestones"), *load = obj(s, "load"), *hrv = obj(s, "hrv");
	const cJSON *zones = obj(s, "zones"), *z, *m;
	char b1[32], b2[32], b3[32], b4[32], b5[32];

	printf("Session %.0f (%s) on %s (%s, %s)\n", num(s, "id"), str(s, "state", "?"),
	       str(dev, "id", "?"), str(dev, "name", "?"), str(dev, "transport", "?"));
	if (cJSON_IsString(obj(s, "kind")))
		printf("Kind        %s\n", str(s, "kind", ""));
	printf("Started     %s UTC\n", when(str(s, "started_at", NULL), b1, sizeof(b1)));
	if (cJSON_IsString(obj(s, "ended_at")))
		printf("Ended       %s UTC\n", when(str(s, "ended_at", NULL), b1, sizeof(b1)));
	printf("Duration    %s (active %s, gaps %s), %.0f samples\n",
	       dur(num(s, "duration_s"), b1, sizeof(b1)), dur(num(s, "active_s"), b2, sizeof(b2)),
	       dur(num(s, "gap_s"), b3, sizeof(b3)), num(s, "samples"));
	printf("Heart rate  avg %s, min %s, max %s bpm", bpm(num(hr, "avg"), b1, sizeof(b1)),
	       bpm(num(hr, "min"), b2, sizeof(b2)), bpm(num(hr, "max"), b3, sizeof(b3)));
	if (cJSON_IsNumber(obj(hr, "current")) && strcmp(str(s, "state", ""), "active") == 0)
		printf("; now %s bpm", bpm(num(hr, "current"), b1, sizeof(b1)));
	else if (cJSON_IsTrue(obj(s, "stale")))
		printf("; no live signal");
	printf("\nZones\n");
	cJSON_ArrayForEach(z, zones)
	{
		double hi = num(z, "hi_bpm");

		snprintf(b4, sizeof(b4), isfinite(hi) ? "%.0f-%.0f bpm" : "%.0f+ bpm",
			 num(z, "lo_bpm"), hi);
		printf("  %-3s %-12s %-13s %9s\n", str(z, "label", "?"), str(z, "name", ""), b4,
		       dur(num(z, "s"), b5, sizeof(b5)));
	}
	printf("Dose        MVPA %s, ECB band %s", dur(num(dose, "mvpa_s"), b1, sizeof(b1)),
	       dur(num(dose, "ecb_s"), b2, sizeof(b2)));
	cJSON_ArrayForEach(m, ms)
		if (cJSON_IsNumber(m))
			printf("; %s at %s", m->string, dur(m->valuedouble, b3, sizeof(b3)));
	printf("\nLoad        TRIMP %.0f (Edwards), %.1f (Banister)\n", num(load, "trimp_edwards"),
	       num(load, "trimp_banister"));
	if (cJSON_IsNumber(obj(hrv, "rmssd_ms")))
		printf("HRV         RMSSD %.1f ms over %.0f RR intervals\n", num(hrv, "rmssd_ms"),
		       num(hrv, "rr_count"));
	if (cJSON_IsString(obj(s, "disclaimer")))
		printf("\n%s\n", str(s, "disclaimer", ""));
}

int run_show(int argc, char *argv[])
{
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;
	struct http_args a = { .cmd = CMD_SHOW };
	char path[64], what[64];
	int r;

	r = parse_http(argc, argv, &a);
	if (r != 0)
		return cli_parse_exit(r, help_show);
	snprintf(path, sizeof(path), "/sessions/%s", a.id);
	snprintf(what, sizeof(what), "session %s", a.id);
	r = fetch_json(&a, path, what, &o);
	if (r != 0)
		return r;
	if (a.json)
		return cli_print_json(o);
	print_session(o);
	return cli_finish(EXIT_SUCCESS);
}

/* export */

void help_export(FILE *f)
{
	fprintf(f, "Usage: cardioctl export ID [--format csv|json|tcx|fit] [-o FILE] [--url URL]\n"
		   "\n"
		   "Write a session to standard output or FILE.  csv (HTTP GET\n"
		   "/sessions/ID/samples): t_s,bpm,rr_ms,contact, the format that\n"
		   "`cardioctl analyze` and `cardiod --replay` read; json: the same samples\n"
		   "as JSON; tcx and fit (GET /sessions/ID/export): Garmin TCX v2 and FIT\n"
		   "activity files for Strava, Garmin Connect and intervals.icu.\n"
		   "\n"
		   "      --format F    csv (default), json, tcx or fit\n"
		   "  -o, --output FILE write there instead of standard output\n"
		   "      --url URL     cardiod's HTTP API (default " CARDIOCTL_DEFAULT_URL ")\n"
		   "      --token-file PATH\n"
		   "                    cardiod's API token, sent when readable (default\n"
		   "                    $CARDIOD_TOKEN_FILE or " DEFAULT_TOKEN_FILE ")\n"
		   "      --json        same as --format json\n");
}

int run_export(int argc, char *argv[])
{
	struct http_response resp = {};
	struct http_args a = { .cmd = CMD_EXPORT };
	bool csv, file_format;
	char path[96], what[64];
	FILE *out = stdout;
	int r;

	r = parse_http(argc, argv, &a);
	if (r != 0)
		return cli_parse_exit(r, help_export);
	if (!a.format)
		a.format = a.json ? "json" : "csv";
	file_format = strcmp(a.format, "tcx") == 0 || strcmp(a.format, "fit") == 0;
	if (strcmp(a.format, "csv") != 0 && strcmp(a.format, "json") != 0 && !file_format)
		return cli_fail(EXIT_USAGE, "export: --format: expected csv, json, tcx or fit, got '%s'",
				a.format);
	csv = strcmp(a.format, "csv") == 0;
	if (file_format)
		snprintf(path, sizeof(path), "/sessions/%s/export?format=%s", a.id, a.format);
	else
		snprintf(path, sizeof(path), "/sessions/%s/samples%s", a.id, csv ? "?format=csv" : "");
	snprintf(what, sizeof(what), "session %s", a.id);
	r = fetch(&a, "GET", path, NULL, what, &resp);
	if (r != 0)
		return r;
	if (a.output) {
		out = fopen(a.output, "wbe");
		if (!out) {
			r = -errno;
			http_response_done(&resp);
			return cli_fail(EXIT_FAILURE, "export: %s: %s", a.output, strerror(-r));
		}
	}
	/* Bytes as received: FIT is binary. */
	fwrite(resp.body, 1, resp.size, out);
	if (!csv && !file_format && (resp.size == 0 || resp.body[resp.size - 1] != '\n'))
		fputc('\n', out);
	http_response_done(&resp);
	if (out != stdout ? fclose(out) != 0 : fflush(out) != 0)
		return cli_fail(EXIT_FAILURE, "export: writing %s failed: %s",
				a.output ? a.output : "standard output", strerror(errno));
	return cli_finish(EXIT_SUCCESS);
}
