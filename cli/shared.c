/* SPDX-License-Identifier: MIT */
/*
 * What the subcommands that talk to cardiod share (cmds.h): reading their
 * arguments (the getopt_long() loop with its help and error conventions,
 * the exit after --help, counts such as --limit N) and durations as they
 * print them.
 */
#include <getopt.h>
#include <math.h>

#include "cmds.h"

int cli_getopt(int argc, char *argv[], const char *shortopts, const struct option *options,
	       int (*fn)(int c, char *argv[], void *userdata), void *userdata)
{
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			return -1;
		case ':':
			return cli_fail(EXIT_USAGE, "option '%s' needs a value", argv[optind - 1]);
		case '?':
			return cli_fail(EXIT_USAGE, "%s: unknown option '%s' (see cardioctl %s --help)",
					argv[0], argv[optind - 1], argv[0]);
		default:
			r = fn(c, argv, userdata);
			if (r != 0)
				return r;
		}
	}
	return 0;
}

int cli_parse_exit(int r, void (*help)(FILE *f))
{
	if (r > 0)
		return r;
	help(stdout);
	return cli_finish(EXIT_SUCCESS);
}

int cli_no_more_args(int argc, char *argv[])
{
	if (optind < argc)
		return cli_fail(EXIT_USAGE, "%s: unexpected argument '%s'", argv[0], argv[optind]);
	return 0;
}

int cli_parse_count(const char *opt, const char *arg, unsigned long long max,
		    unsigned long long *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || !*arg || *arg == '-' || v == 0 || v > max)
		return cli_fail(EXIT_USAGE, "%s: expected 1 to %llu, got '%s'", opt, max, arg);
	*ret = v;
	return 0;
}

const char *cli_fmt_duration(double s, char *buf, size_t size)
{
	long v = lround(s);

	if (v >= 3600)
		snprintf(buf, size, "%ldh%02ldm", v / 3600, v / 60 % 60);
	else if (v >= 60)
		snprintf(buf, size, "%ldm%02lds", v / 60, v % 60);
	else
		snprintf(buf, size, "%lds", v);
	return buf;
}
