/* SPDX-License-Identifier: MIT */
/*
 * A writer of the Prometheus text exposition format 0.0.4 (DESIGN §9.6,
 * ECOSYSTEM §4.2) for GET /metrics.  api/prometheus.c fills it from the
 * front-end contract; the HTTP server adds the families it owns (HTTP
 * requests) and serves the text.
 *
 * Families are written one at a time: cd_metrics_family() prints its
 * "# HELP" and "# TYPE" lines, then cd_metrics_sample() prints samples
 * of that family, named after it.  Label values are escaped (\\, \", \n)
 * and any byte that is not UTF-8 becomes U+FFFD, so a strap's id can
 * never break the format.  Names are checked against the format's
 * grammar, and a family may appear only once.
 *
 * Errors are sticky: the first failure (-ENOMEM, or -EINVAL for a bad
 * name, a repeated family or a sample outside a family) is kept, later
 * calls do nothing, and cd_metrics_error() returns it.  Callers write
 * everything and check once.  Pure: no I/O, no clock, no globals.
 */
#pragma once

#include <stddef.h>

#define CD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct cd_metrics;

/* 0 and an empty writer, or -ENOMEM. */
int cd_metrics_new(struct cd_metrics **ret);
struct cd_metrics *cd_metrics_free(struct cd_metrics *w);
static inline void cd_metrics_freep(struct cd_metrics **w)
{
	if (*w)
		cd_metrics_free(*w);
}

/*
 * Start family name ([a-zA-Z_:][a-zA-Z0-9_:]*) of type "counter",
 * "gauge" or "untyped", with a one-line help text (escaped as the
 * format asks).  A family with no samples is valid: HELP and TYPE only.
 */
void cd_metrics_family(struct cd_metrics *w, const char *name, const char *type,
		       const char *help);

/*
 * One sample of the current family: its value, then label name/value
 * pairs ending with NULL, e.g.
 * cd_metrics_sample(w, 12.5, "device", id, "zone", "3", NULL).
 * Label names are [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__".
 * NaN and ±Inf print as NaN, +Inf, -Inf; other values as the shortest
 * of %.15g and %.17g that reads back to the same double.
 */
__attribute__((sentinel)) void cd_metrics_sample(struct cd_metrics *w, double value, ...);

/* 0, or the first error. */
int cd_metrics_error(const struct cd_metrics *w);

/* The text so far (NUL-terminated; never NULL) and its length. */
const char *cd_metrics_text(const struct cd_metrics *w, size_t *ret_len);
/*
 * Hand the text over (caller frees; NUL-terminated) and empty the writer.
 * NULL on a previous error or OOM.
 */
char *cd_metrics_steal(struct cd_metrics *w, size_t *ret_len);

/* Format v as cd_metrics_sample() does.  buf needs 32 bytes. */
void cd_metrics_format_value(double v, char *buf, size_t size);

struct cd_front_ops;
struct cd_http_stats;

/*
 * The whole answer to GET /metrics (api/http-metrics.c): the families of
 * api/prometheus.h from the contract, then cardiod_http_requests_total{code}
 * from stats (every status answered at least once).  0 and *ret (caller
 * frees), -ENOMEM, -EOPNOTSUPP when ops has no each_device, or its error.
 */
int cd_http_metrics_build(const struct cd_front_ops *ops, void *userdata,
			  const struct cd_http_stats *stats, char **ret, size_t *ret_len);
