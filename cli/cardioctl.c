/* SPDX-License-Identifier: MIT */
/*
 * cardioctl: the user's command (DESIGN §7).
 *
 * Subcommands are entries of a table: name, synopsis, one-line summary, a
 * help printer and a run function taking (argc, argv) with argv[0] the
 * subcommand's name.  Each run function parses its own options with
 * getopt_long() and returns the process exit status: 0 on success, 2 for
 * anything the user can fix (bad options or values, unreadable or malformed
 * input), 1 for internal failures.  Every error is one line on stderr,
 * "cardioctl: ...".
 *
 * For now: analyze (offline, through the same engine as the daemon) and
 * help.  status, sessions, show, export, start, stop and monitor talk to
 * the daemon and are added to the table when that side exists.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "cmds.h"
#include "config.h"
#include "csv.h"
#include "engine.h"
#include "profile.h"
#include "session-json.h"


struct subcommand {
	const char *name;
	const char *synopsis;
	const char *summary;
	void (*help)(FILE *f);
	int (*run)(int argc, char *argv[]);
};

static const struct subcommand *find_subcommand(const char *name);

/* cardiod's default when a profile gives neither hr_max nor age (daemon/daemon-config.h). */
#define ANALYZE_DEFAULT_AGE 40

/* One line on stderr, exit status 2: the user can fix it. */
#define usage_error(...) cli_fail(EXIT_USAGE, __VA_ARGS__)

/* Read a whole file ("-": standard input) into memory. */
static int read_all(const char *path, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd_owned = -EBADF;
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, cap = 0;
	struct stat st;
	int fd;

	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd_owned = open(path, O_RDONLY | O_CLOEXEC);
		if (fd_owned < 0)
			return -errno;
		fd = fd_owned;
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	/* A regular file is read in one go: its size and one byte to see the end. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;

	for (;;) {
		ssize_t n;

		if (size == cap) {
			char *p;

			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
			p = realloc(buf, cap);
			if (!p)
				return -ENOMEM;
			buf = p;
		}
		n = read(fd, buf + size, cap - size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

/* A finite number, the whole argument, > 0 (or ≥ 0 with allow_zero). */
static int parse_positive(const char *opt, const char *arg, double *ret)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno == ERANGE || !isfinite(v))
		return usage_error("%s: not a number: '%s'", opt, arg);
	if (!(v > 0))
		return usage_error("%s: must be a positive number, got '%s'", opt, arg);
	*ret = v;
	return 0;
}

/* Formatting for the readable summary. */

/* "1:02:03" or "2:03", rounded to the second. */
static const char *fmt_duration(double s, char *buf, size_t size)
{
	long long t;

	if (!isfinite(s))
		return "—";
	t = llround(s);
	if (t >= 3600)
		snprintf(buf, size, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, size, "%lld:%02lld", t / 60, t % 60);
	return buf;
}

/* At most one decimal, without a trailing ".0": "183.5", "185". */
static const char *fmt_num(double v, char *buf, size_t size)
{
	if (!isfinite(v))
		return "—";
	snprintf(buf, size, "%.1f", v);
	if (strlen(buf) > 2 && strcmp(buf + strlen(buf) - 2, ".0") == 0)
		buf[strlen(buf) - 2] = '\0';
	return buf;
}

/* Columns on a terminal: UTF-8 continuation bytes take none. */
static int display_width(const char *s)
{
	int w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void print_padded(const char *s, int width)
{
	fputs(s, stdout);
	for (int w = display_width(s); w < width; w++)
		fputc(' ', stdout);
}

/* A bar of eighth blocks, BAR_WIDTH cells for a share of 1. */
#define BAR_WIDTH 30
static void print_bar(double share)
{
	static const char *const eighths[] = { "", "▏", "▎", "▍", "▌", "▋", "▊", "▉" };
	long units;

	if (!isfinite(share) || share <= 0)
		return;
	units = lround(fmin(share, 1.0) * BAR_WIDTH * 8);
	for (long i = 0; i < units / 8; i++)
		fputs("█", stdout);
	fputs(eighths[units % 8], stdout);
}

static const char *fmt_window(double window_s, char *buf, size_t size)
{
	char n[32];

	if (fmod(window_s, 60) == 0)
		snprintf(buf, size, "last %s min", fmt_num(window_s / 60, n, sizeof(n)));
	else
		snprintf(buf, size, "last %s s", fmt_num(window_s, n, sizeof(n)));
	return buf;
}

static void print_zone_range(const struct cd_profile *p, enum cd_zone z)
{
	char lo[32], hi[32], range[80];
	double l = cd_zone_lo_bpm(p, z), h = cd_zone_hi_bpm(p, z);

	if (z == CD_ZONE_0)
		snprintf(range, sizeof(range), "< %s", fmt_num(h, hi, sizeof(hi)));
	else if (z == CD_ZONE_5)
		snprintf(range, sizeof(range), "≥ %s", fmt_num(l, lo, sizeof(lo)));
	else
		snprintf(range, sizeof(range), "%s–%s", fmt_num(l, lo, sizeof(lo)),
			 fmt_num(h, hi, sizeof(hi)));
	print_padded(range, 13);
}

/* "Zones        50/60/70/80/90 % of HRmax; intensity by % of HRmax" */
static void print_model(const struct cd_profile *p)
{
	const double *b = p->has_zones_bpm ? p->zones_bpm : p->zones_pct;
	char n[32];

	printf("Zones        ");
	for (size_t i = 0; i < CD_ZONE_BOUNDS; i++)
		printf("%s%s", i ? "/" : "", fmt_num(b[i], n, sizeof(n)));
	if (p->has_zones_bpm)
		printf(" bpm");
	else if (p->model == CD_MODEL_PERCENT_RESERVE)
		printf(" %% of heart-rate reserve");
	else
		printf(" %% of HRmax");
	printf("; intensity by %s\n",
	       p->model == CD_MODEL_PERCENT_RESERVE ? "% of reserve" : "% of HRmax");
}

static void print_summary(const char *name, const struct cd_engine *e)
{
	const struct cd_engine_totals *tot = cd_engine_totals(e);
	const struct cd_profile *p = cd_engine_profile(e);
	const struct cd_engine_config *c = cd_engine_config(e);
	struct cd_engine_rolling roll;
	char a[32], b[32], d[32], w[32];
	static const struct {
		enum cd_milestone m;
		const char *label;
	} milestones[] = {
		{ CD_MILESTONE_MVPA_20, "20 min MVPA" },
		{ CD_MILESTONE_MVPA_40, "40 min MVPA" },
		{ CD_MILESTONE_DURATION_60, "60 min active" },
	};

	cd_engine_rolling(e, &roll);
	fmt_window(c->window_s, w, sizeof(w));

	printf("%s: %zu valid samples\n", name, tot->samples);
	printf("Profile      HRmax %s bpm (%s), HRrest %s bpm, %s\n",
	       fmt_num(p->hr_max, a, sizeof(a)),
	       p->hr_max_source == CD_HR_MAX_CONFIGURED ? "configured"
	       : strcmp(p->name, "default") == 0 ? "from the default age 40: give --hr-max or --age"
						  : "from age",
	       fmt_num(p->hr_rest, b, sizeof(b)), cd_sex_to_string(p->sex));
	print_model(p);
	if (tot->samples == 0) {
		printf("\nNo valid heart-rate samples (30..240 bpm, with contact).\n\n%s\n",
		       CD_DISCLAIMER);
		return;
	}
	printf("Duration     %s   active %s   gaps %s\n",
	       fmt_duration(tot->duration_s, a, sizeof(a)),
	       fmt_duration(tot->active_s, b, sizeof(b)), fmt_duration(tot->gap_s, d, sizeof(d)));
	printf("Heart rate   avg %s   min %s   max %s bpm\n",
	       fmt_num(cd_engine_avg_bpm(e), a, sizeof(a)), fmt_num(tot->bpm_min, b, sizeof(b)),
	       fmt_num(tot->bpm_max, d, sizeof(d)));

	printf("\nZone             bpm             time  %% active\n");
	for (int z = CD_ZONE_0; z < _CD_ZONE_MAX; z++) {
		double share = tot->active_s > 0 ? tot->zone_s[z] / tot->active_s : NAN;
		char label[32];

		snprintf(label, sizeof(label), "%s %s", cd_zone_label((enum cd_zone)z),
			 cd_zone_name((enum cd_zone)z));
		print_padded(label, 17);
		print_zone_range(p, (enum cd_zone)z);
		printf("%7s", fmt_duration(tot->zone_s[z], a, sizeof(a)));
		if (isfinite(share))
			printf("  %6.1f%%  ", 100 * share);
		else
			printf("        —  ");
		print_bar(share);
		putchar('\n');
	}

	printf("\nIntensity    light %s   moderate %s   vigorous %s\n",
	       fmt_duration(tot->intensity_s[CD_INTENSITY_LIGHT], a, sizeof(a)),
	       fmt_duration(tot->intensity_s[CD_INTENSITY_MODERATE], b, sizeof(b)),
	       fmt_duration(tot->intensity_s[CD_INTENSITY_VIGOROUS], d, sizeof(d)));
	printf("MVPA         %s (%s: ", fmt_duration(tot->mvpa_s, a, sizeof(a)), w);
	printf("%s)\n", fmt_duration(roll.mvpa_s, b, sizeof(b)));
	printf("ECB band     %s at 70–80%% HRmax (%s: ", fmt_duration(tot->ecb_s, a, sizeof(a)), w);
	printf("%s)\n", fmt_duration(roll.ecb_s, b, sizeof(b)));
	for (size_t i = 0; i < ELEMENTSOF(milestones); i++) {
		double at = tot->milestone_at[milestones[i].m];

		printf("%-13s%-15s", i == 0 ? "Milestones" : "", milestones[i].label);
		if (isnan(at))
			printf("not reached\n");
		else
			printf("reached at %s\n", fmt_duration(at, a, sizeof(a)));
	}
	printf("Load         TRIMP Edwards %.1f, Banister %.1f\n", cd_engine_trimp_edwards(e),
	       tot->trimp_banister);
	printf("HRV          RMSSD %s ms (%s: ", fmt_num(cd_engine_rmssd(e), a, sizeof(a)), w);
	printf("%s ms), %zu RR intervals\n", fmt_num(cd_engine_rolling_rmssd(e), b, sizeof(b)),
	       tot->rr_count);
	printf("\n%s\n", CD_DISCLAIMER);
}

/* analyze */

static void help_analyze(FILE *f)
{
	struct cd_engine_config c;
	struct cd_profile p;

	cd_engine_config_init(&c);
	cd_profile_init(&p);
	fprintf(f,
		"Usage: cardioctl analyze FILE.csv [--hr-max N | --age N] [OPTIONS]\n"
		"\n"
		"Run the metrics engine offline on a CSV file of samples and print a summary\n"
		"of the session: duration, heart rate, time in each zone, intensity minutes,\n"
		"MVPA and ECB dose, milestones, training load and HRV.  No daemon is needed.\n"
		"The file has the header t_s,bpm,rr_ms,contact (as 'cardioctl export' and\n"
		"GET /sessions/ID/samples?format=csv write it); '-' reads standard input.\n"
		"\n"
		"Profile (without --hr-max or --age, age 40 is assumed, as cardiod does):\n"
		"      --hr-max N         maximum heart rate in bpm (60..260)\n"
		"      --age N            age in years; hr_max = 208 - 0.7 x age (Tanaka)\n"
		"      --hr-rest N        resting heart rate in bpm (default %g)\n"
		"      --sex male|female  selects the Banister TRIMP constants (default %s)\n"
		"      --zones LIST       five increasing lower zone bounds Z1..Z5, in percent\n"
		"                         (default %g,%g,%g,%g,%g)\n"
		"      --zones-bpm LIST   five increasing lower zone bounds in bpm, e.g. from a\n"
		"                         watch; implies --model zones_bpm unless --model\n"
		"                         is given\n"
		"      --model M          how zone bounds are read: percent_max (%% of HRmax,\n"
		"                         the default), percent_reserve (%% of the heart-rate\n"
		"                         reserve, Karvonen; intensity then uses %%HRR too) or\n"
		"                         zones_bpm (needs --zones-bpm); --zones and --zones-bpm\n"
		"                         are mutually exclusive\n"
		"\n"
		"Engine:\n"
		"      --window S         rolling window in seconds (default %g)\n"
		"      --max-gap S        longer intervals between valid samples are gaps,\n"
		"                         counted in no zone (default %g)\n"
		"      --stale-after S    the last heart rate is stale after S seconds without a\n"
		"                         valid sample (default %g); 'now' is the time of the\n"
		"                         file's last sample\n"
		"\n"
		"Output:\n"
		"      --json             print the session object of GET /session (pretty JSON)\n"
		"  -h, --help             show this help\n"
		"\n"
		"Exit status: 0 on success, 2 for bad options, unreadable or malformed input.\n",
		p.hr_rest, cd_sex_to_string(p.sex), p.zones_pct[0], p.zones_pct[1], p.zones_pct[2],
		p.zones_pct[3], p.zones_pct[4], c.window_s, c.max_gap_s, c.stale_after_s);
}

struct analyze_args {
	const char *path;
	struct cd_profile profile;
	struct cd_engine_config config;
	bool json;
};

/* Returns 0, a positive exit status on a reported error, or -1 after --help. */
static int parse_analyze(int argc, char *argv[], struct analyze_args *a)
{
	enum {
		ARG_HR_MAX = 0x100,
		ARG_AGE,
		ARG_HR_REST,
		ARG_SEX,
		ARG_ZONES,
		ARG_ZONES_BPM,
		ARG_MODEL,
		ARG_WINDOW,
		ARG_MAX_GAP,
		ARG_STALE_AFTER,
		ARG_JSON,
	};
	static const struct option options[] = {
		{ "hr-max", required_argument, NULL, ARG_HR_MAX },
		{ "age", required_argument, NULL, ARG_AGE },
		{ "hr-rest", required_argument, NULL, ARG_HR_REST },
		{ "sex", required_argument, NULL, ARG_SEX },
		{ "zones", required_argument, NULL, ARG_ZONES },
		{ "zones-bpm", required_argument, NULL, ARG_ZONES_BPM },
		{ "model", required_argument, NULL, ARG_MODEL },
		{ "window", required_argument, NULL, ARG_WINDOW },
		{ "max-gap", required_argument, NULL, ARG_MAX_GAP },
		{ "stale-after", required_argument, NULL, ARG_STALE_AFTER },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	double hr_max = NAN, age = NAN;
	bool have_zones = false, have_model = false;
	const char *reason;
	int c, r;

	cd_profile_init(&a->profile);
	snprintf(a->profile.name, sizeof(a->profile.name), "cli");
	cd_engine_config_init(&a->config);

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help_analyze(stdout);
			return -1;
		case ARG_HR_MAX:
			r = parse_positive("--hr-max", optarg, &hr_max);
			if (r)
				return r;
			break;
		case ARG_AGE:
			r = parse_positive("--age", optarg, &age);
			if (r)
				return r;
			break;
		case ARG_HR_REST:
			r = parse_positive("--hr-rest", optarg, &a->profile.hr_rest);
			if (r)
				return r;
			break;
		case ARG_SEX:
			a->profile.sex = cd_sex_from_string(optarg);
			if ((int)a->profile.sex < 0)
				return usage_error("--sex: expected male or female, got '%s'",
						   optarg);
			break;
		case ARG_ZONES:
			if (cd_parse_bounds(optarg, a->profile.zones_pct) < 0)
				return usage_error("--zones: expected five increasing positive "
						   "numbers like 50,60,70,80,90, got '%s'",
						   optarg);
			have_zones = true;
			break;
		case ARG_ZONES_BPM:
			if (cd_parse_bounds(optarg, a->profile.zones_bpm) < 0)
				return usage_error("--zones-bpm: expected five increasing positive "
						   "numbers like 100,120,140,160,175, got '%s'",
						   optarg);
			a->profile.has_zones_bpm = true;
			break;
		case ARG_MODEL:
			a->profile.model = cd_model_from_string(optarg);
			if ((int)a->profile.model < 0)
				return usage_error("--model: expected percent_max, percent_reserve "
						   "or zones_bpm, got '%s'",
						   optarg);
			have_model = true;
			break;
		case ARG_WINDOW:
			r = parse_positive("--window", optarg, &a->config.window_s);
			if (r)
				return r;
			break;
		case ARG_MAX_GAP:
			r = parse_positive("--max-gap", optarg, &a->config.max_gap_s);
			if (r)
				return r;
			break;
		case ARG_STALE_AFTER:
			r = parse_positive("--stale-after", optarg, &a->config.stale_after_s);
			if (r)
				return r;
			break;
		case ARG_JSON:
			a->json = true;
			break;
		case ':':
			return usage_error("analyze: option '%s' needs a value (see cardioctl "
					   "analyze --help)",
					   argv[optind - 1]);
		case '?':
			if (optopt)
				return usage_error("analyze: unknown option '-%c' (see cardioctl "
						   "analyze --help)",
						   optopt);
			return usage_error("analyze: unknown option '%s' (see cardioctl analyze "
					   "--help)",
					   argv[optind - 1]);
		default:
			return usage_error("analyze: unexpected option (see cardioctl analyze "
					   "--help)");
		}
	}

	if (optind >= argc)
		return usage_error("analyze: missing FILE.csv (see cardioctl analyze --help)");
	if (optind + 1 < argc)
		return usage_error("analyze: one FILE.csv only, got also '%s'", argv[optind + 1]);
	a->path = argv[optind];

	if (!isnan(hr_max) && !isnan(age))
		return usage_error("--hr-max and --age are mutually exclusive");
	/* Neither: the daemon's default profile (age 40), said in the summary. */
	if (isnan(hr_max) && isnan(age)) {
		age = ANALYZE_DEFAULT_AGE;
		snprintf(a->profile.name, sizeof(a->profile.name), "default");
	}
	if (!isnan(hr_max) && cd_profile_set_hr_max(&a->profile, hr_max) < 0)
		return usage_error("--hr-max: must be between 60 and 260 bpm, got %g", hr_max);
	if (!isnan(age) && cd_profile_set_age(&a->profile, age) < 0)
		return usage_error("--age: must be between 1 and 120, got %g", age);
	if (have_zones && a->profile.has_zones_bpm)
		return usage_error("--zones and --zones-bpm are mutually exclusive");
	if (a->profile.has_zones_bpm && !have_model)
		a->profile.model = CD_MODEL_ZONES_BPM;
	if (a->profile.model == CD_MODEL_ZONES_BPM && !a->profile.has_zones_bpm)
		return usage_error("--model zones_bpm needs --zones-bpm LIST");
	if (cd_profile_validate(&a->profile, &reason) < 0)
		return usage_error("invalid profile: %s", reason);
	return 0;
}

static int run_analyze(int argc, char *argv[])
{
	_cleanup_(cd_engine_freep) struct cd_engine *e = NULL;
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *reader = NULL;
	_cleanup_free_ char *data = NULL;
	struct analyze_args a = {};
	const char *name;
	struct cd_sample s;
	size_t size = 0;
	int r;

	r = parse_analyze(argc, argv, &a);
	if (r < 0)
		return cli_finish(EXIT_SUCCESS);
	if (r > 0)
		return r;
	name = strcmp(a.path, "-") == 0 ? "stdin" : a.path;

	r = read_all(a.path, &data, &size);
	if (r < 0)
		return usage_error("%s: %s", name, strerror(-r));

	r = cd_engine_new(&a.profile, &a.config, NULL, &e);
	if (r < 0) {
		fprintf(stderr, "cardioctl: cannot create the engine: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	r = cd_csv_reader_new(data, size, &reader);
	if (r < 0) {
		fprintf(stderr, "cardioctl: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	while ((r = cd_csv_reader_next(reader, &s)) > 0) {
		r = cd_engine_add(e, &s);
		if (r < 0) {
			fprintf(stderr, "cardioctl: %s: %s\n", name, strerror(-r));
			return EXIT_FAILURE;
		}
	}
	if (r == -EBADMSG)
		return usage_error("%s: %s", name, cd_csv_reader_error(reader));
	if (r < 0) {
		fprintf(stderr, "cardioctl: %s: %s\n", name, strerror(-r));
		return EXIT_FAILURE;
	}

	if (a.json) {
		const struct cd_session_meta meta = {
			.id = 0,
			.active = false,
			.kind = NULL,
			.device_id = "file",
			.device_name = name,
			.transport = "file",
			.started_at = NAN,
			.now = cd_engine_totals(e)->t_seen,
			.battery_pct = -1,
		};
		_cleanup_(cJSON_Deletep) cJSON *json = cd_session_to_json(e, &meta);
		_cleanup_free_ char *text = json ? cJSON_Print(json) : NULL;

		if (!text) {
			fprintf(stderr, "cardioctl: out of memory\n");
			return EXIT_FAILURE;
		}
		puts(text);
	} else {
		print_summary(name, e);
	}
	return cli_finish(EXIT_SUCCESS);
}

/* help */

static void help_main(FILE *f);

static void help_help(FILE *f)
{
	fprintf(f, "Usage: cardioctl help [COMMAND]\n\nShow help for cardioctl or COMMAND.\n");
}

static int run_help(int argc, char *argv[])
{
	const struct subcommand *cmd;

	if (argc > 2)
		return usage_error("help: one COMMAND at most");
	if (argc == 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
		cmd = find_subcommand(argv[1]);
		if (!cmd)
			return usage_error("help: unknown command '%s' (see cardioctl --help)",
					   argv[1]);
		cmd->help(stdout);
	} else {
		help_main(stdout);
	}
	return cli_finish(EXIT_SUCCESS);
}

static const struct subcommand subcommands[] = {
	{ "analyze", "FILE.csv [OPTIONS]", "compute a session's figures offline from a CSV file",
	  help_analyze, run_analyze },
	{ "status", "[--json]", "current heart rate, zone and session (D-Bus)", help_status,
	  run_status },
	{ "sessions", "[--limit N]", "list logged sessions (HTTP)", help_sessions,
	  run_sessions },
	{ "show", "ID [--json]", "one session's figures (HTTP)", help_show, run_show },
	{ "export", "ID [--format csv|tcx|fit] [-o FILE]", "a session as CSV, TCX or FIT (HTTP)",
	  help_export, run_export },
	{ "week", "[--json]", "this week against the goal, a bar a day (HTTP)", help_week,
	  run_week },
	{ "report", "[--weeks N]", "weeks against the goal, and the streak (HTTP)", help_report,
	  run_report },
	{ "import", "FILE [--start TIME]", "store a session recorded elsewhere (HTTP)",
	  help_import, run_import },
	{ "start", "[DEVICE]", "start a session (D-Bus)", help_start, run_start },
	{ "stop", "[ID]", "stop a session (D-Bus)", help_stop, run_stop },
	{ "monitor", "[--format waybar]", "follow live updates (D-Bus)", help_monitor,
	  run_monitor },
	{ "help", "[COMMAND]", "show help for cardioctl or COMMAND", help_help, run_help },
};

static const struct subcommand *find_subcommand(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(subcommands); i++)
		if (strcmp(subcommands[i].name, name) == 0)
			return &subcommands[i];
	return NULL;
}

static void help_main(FILE *f)
{
	fprintf(f, "Usage: cardioctl [--help] [--version] COMMAND [ARGS...]\n"
		   "\n"
		   "Heart-rate zones and exercise dose from cardiod, or offline from a file.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(subcommands); i++) {
		char head[64];

		snprintf(head, sizeof(head), "%s %s", subcommands[i].name,
			 subcommands[i].synopsis);
		fprintf(f, "  %-28s %s\n", head, subcommands[i].summary);
	}
	fprintf(f, "\n"
		   "Options:\n"
		   "  -h, --help                   show this help\n"
		   "      --version                show the version\n"
		   "\n"
		   "Run 'cardioctl COMMAND --help' for the options of a command.\n");
}

int main(int argc, char *argv[])
{
	enum { ARG_VERSION = 0x100 };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{},
	};
	const struct subcommand *cmd;
	int c;

	/* '+': stop at the command; its options are its own. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help_main(stdout);
			return cli_finish(EXIT_SUCCESS);
		case ARG_VERSION:
			printf("cardioctl %s\n", CARDIOD_VERSION);
			return cli_finish(EXIT_SUCCESS);
		case '?':
			if (optopt)
				return usage_error("unknown option '-%c' (see cardioctl --help)",
						   optopt);
			return usage_error("unknown option '%s' (see cardioctl --help)",
					   argv[optind - 1]);
		default:
			return usage_error("bad option '%s' (see cardioctl --help)",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("missing COMMAND (see cardioctl --help)");

	cmd = find_subcommand(argv[optind]);
	if (!cmd)
		return usage_error("unknown command '%s' (see cardioctl --help)", argv[optind]);
	return cmd->run(argc - optind, argv + optind);
}
