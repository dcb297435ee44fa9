/* SPDX-License-Identifier: MIT */
/*
 * The subcommands that talk to cardiod (DESIGN §7), for cardioctl.c's
 * table.  History goes over HTTP (cmd-http.c: sessions, show, export; the
 * loopback API of DESIGN §4, --url), live state over D-Bus (cmd-dbus.c:
 * status, start, stop, monitor; DESIGN §5, --system/--session/--address).
 * Same conventions as cardioctl.c: exit 0, 2 for what the user can fix, 1
 * otherwise; every error one "cardioctl: ..." line on stderr; --json
 * everywhere.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define CARDIOCTL_DEFAULT_URL "http://127.0.0.1:8080"

void help_sessions(FILE *f);
int run_sessions(int argc, char *argv[]);
void help_show(FILE *f);
int run_show(int argc, char *argv[]);
void help_export(FILE *f);
int run_export(int argc, char *argv[]);

/* cmd-dose.c: the dose over weeks and imports (HTTP). */
void help_week(FILE *f);
int run_week(int argc, char *argv[]);
void help_report(FILE *f);
int run_report(int argc, char *argv[]);
void help_import(FILE *f);
int run_import(int argc, char *argv[]);

void help_status(FILE *f);
int run_status(int argc, char *argv[]);
void help_start(FILE *f);
int run_start(int argc, char *argv[]);
void help_stop(FILE *f);
int run_stop(int argc, char *argv[]);
void help_monitor(FILE *f);
int run_monitor(int argc, char *argv[]);

/* Print "cardioctl: ..." and return status. */
__attribute__((format(printf, 2, 3))) static inline int cli_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("cardioctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* Flush stdout; a failed write (full disk, closed pipe) is an error. */
static inline int cli_finish(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_fail(EXIT_FAILURE, "writing output: %s", strerror(errno ? errno : EIO));
	return status;
}

/*
 * Reading a subcommand's arguments (shared.c); argv[0] is its name.
 *
 * cli_getopt(): getopt_long() from the start, with the conventions all
 * share: -h/--help, "option '--x' needs a value", "CMD: unknown option
 * '--x' (see cardioctl CMD --help)".  Every other option goes to fn, with
 * optarg and optind as getopt_long() left them: 0 to go on, or an exit
 * status that ends the parse.  Returns 0 with optind at the first operand,
 * -1 after --help, or an exit status.
 */
struct option;
int cli_getopt(int argc, char *argv[], const char *shortopts, const struct option *options,
	       int (*fn)(int c, char *argv[], void *userdata), void *userdata);
/* The exit status after a parse returned r != 0: r, or 0 after --help (r < 0), help printed. */
int cli_parse_exit(int r, void (*help)(FILE *f));
/* 0 when the operands end at optind, else "CMD: unexpected argument '...'" (2). */
int cli_no_more_args(int argc, char *argv[]);
/* A count 1 .. max, the whole of arg in decimal, else "OPT: expected 1 to MAX, got '...'" (2). */
int cli_parse_count(const char *opt, const char *arg, unsigned long long max,
		    unsigned long long *ret);

/* Seconds s (finite) in buf as "1h02m", "3m05s" or "42s"; returns buf. */
const char *cli_fmt_duration(double s, char *buf, size_t size);

/* A session id: 1 .. 2^63−1 in decimal. */
static inline int cli_parse_id(const char *s, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > 0x7fffffffffffffffULL)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The API token for url (cmd-http.c): see there.  Free with cli_token_free. */
char *cli_token_for(const char *url, const char *token_file, const char **why, char *buf,
		    size_t size);
void cli_token_free(char **t);

/* cmd-http.c: the outcome of an http_request() (see there), and JSON on stdout. */
struct http_response;
struct cJSON;
int cli_http_result(const char *url, int r, const char *error, const char *what,
		    const char *why, struct http_response *ret);
int cli_json_body(struct http_response *resp, const char *path, struct cJSON **ret);
int cli_print_json(const struct cJSON *o);
