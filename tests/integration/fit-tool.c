/* SPDX-License-Identifier: MIT */
/*
 * Test driver of lib/fit (and lib/tcx): exports a CSV session to a file
 * and imports a file through the engine, printing JSON that the
 * integration tests compare with Garmin's own decoder.
 *
 *   fit-tool export fit|tcx IN.csv OUT --start UNIX_S [--hr-max BPM]
 *       → {"samples","active_s","zone_s":[6],"zone_lo_bpm":[5],"avg","max","min","rr_count"}
 *   fit-tool import fit|tcx FILE [--bounds B1,B2,B3,B4,B5] [--hr-max BPM] [--max-gap S]
 *       → {"sessions":[{"started_at_us","sport","samples","valid","active_s","zone_s":[6],
 *          "max","rr_count","first_t","last_t"}]}
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "engine.h"
#include "fit.h"
#include "tcx.h"

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n = 0, cap = 0, k;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			b = realloc(b, cap + 1);
			if (!b)
				exit(2);
		}
		k = fread(b + n, 1, cap - n, f);
		if (k == 0)
			break;
		n += k;
	}
	fclose(f);
	b[n] = '\0';
	*ret_len = n;
	return b;
}

static void print_zones(const double *z, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s%.3f", i ? "," : "", z[i]);
	printf("]");
}

static double num_or_null(double v)
{
	return isfinite(v) ? v : -1;
}

/* ---- import ---- */

static double max_gap_s = NAN; /* --max-gap: the engine's default otherwise */

struct sink {
	struct cd_profile profile;
	struct cd_engine *e;
	int64_t start;
	char sport[32];
	size_t samples;
	double first_t, last_t;
	int n;
};

static int s_begin(void *userdata, int64_t started_at_us, const char *sport)
{
	struct sink *k = userdata;
	struct cd_engine_config c;

	cd_engine_config_init(&c);
	if (isfinite(max_gap_s))
		c.max_gap_s = max_gap_s;
	if (cd_engine_new(&k->profile, &c, NULL, &k->e) < 0)
		return -ENOMEM;
	k->start = started_at_us;
	snprintf(k->sport, sizeof(k->sport), "%s", sport ? sport : "");
	k->samples = 0;
	k->first_t = NAN;
	return 0;
}

static int s_sample(void *userdata, const struct cd_sample *s)
{
	struct sink *k = userdata;

	if (k->samples == 0)
		k->first_t = s->t;
	k->last_t = s->t;
	k->samples++;
	return cd_engine_add(k->e, s) < 0 ? -ENOMEM : 0;
}

static int s_end(void *userdata)
{
	struct sink *k = userdata;
	const struct cd_engine_totals *t = cd_engine_totals(k->e);

	printf("%s{\"started_at_us\":%" PRId64 ",\"sport\":\"%s\",\"samples\":%zu,\"valid\":%zu,"
	       "\"active_s\":%.3f,\"zone_s\":",
	       k->n++ ? "," : "", k->start, k->sport, k->samples, t->samples, t->active_s);
	print_zones(t->zone_s, _CD_ZONE_MAX);
	printf(",\"max\":%.1f,\"rr_count\":%zu,\"first_t\":%.3f,\"last_t\":%.3f}",
	       num_or_null(t->bpm_max), t->rr_count, k->first_t, k->last_t);
	cd_engine_free(k->e);
	k->e = NULL;
	return 0;
}

static int do_import(const char *fmt, const char *path, struct cd_profile *p)
{
	struct sink k = { .profile = *p };
	struct cd_import_sink sink = { s_begin, s_sample, s_end, &k };
	char err[256];
	size_t len;
	char *data = slurp(path, &len);
	int r;

	if (!data) {
		fprintf(stderr, "fit-tool: %s: %m\n", path);
		return 2;
	}
	printf("{\"sessions\":[");
	r = strcmp(fmt, "tcx") == 0 ? cd_tcx_import(data, len, &sink, err, sizeof(err))
				    : cd_fit_import(data, len, &sink, err, sizeof(err));
	free(data);
	if (r < 0) {
		printf("]}\n");
		fprintf(stderr, "fit-tool: import failed (%d): %s\n", r, err);
		return 1;
	}
	printf("]}\n");
	return 0;
}

/* ---- export ---- */

static int file_write(void *userdata, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, userdata) == len ? 0 : -EIO;
}

/* Run every sample of the CSV through fn; -EBADMSG on a bad CSV. */
static int each_sample(const char *data, size_t len, int (*fn)(void *, const struct cd_sample *),
		       void *userdata)
{
	struct cd_csv_reader *rd = NULL;
	struct cd_sample s;
	int r;

	r = cd_csv_reader_new(data, len, &rd);
	if (r < 0)
		return r;
	while ((r = cd_csv_reader_next(rd, &s)) > 0) {
		r = fn(userdata, &s);
		if (r < 0)
			break;
	}
	if (r < 0)
		fprintf(stderr, "fit-tool: line %zu: %s\n", cd_csv_reader_line(rd),
			cd_csv_reader_error(rd) ? cd_csv_reader_error(rd) : "error");
	cd_csv_reader_free(rd);
	return r;
}

static int add_engine(void *userdata, const struct cd_sample *s)
{
	return cd_engine_add(userdata, s) < 0 ? -ENOMEM : 0;
}

static int add_fit(void *userdata, const struct cd_sample *s)
{
	return cd_fit_encoder_add(userdata, s);
}

static int add_tcx(void *userdata, const struct cd_sample *s)
{
	return cd_tcx_writer_add(userdata, s);
}

static int do_export(const char *fmt, const char *in, const char *out, int64_t start_s,
		     struct cd_profile *p)
{
	struct cd_engine_config c;
	struct cd_engine *e = NULL;
	struct cd_export_summary sum;
	const struct cd_engine_totals *t;
	size_t len;
	char *data = slurp(in, &len);
	FILE *f;
	int r;

	if (!data)
		return 2;
	cd_engine_config_init(&c);
	if (cd_engine_new(p, &c, NULL, &e) < 0)
		return 2;
	if (each_sample(data, len, add_engine, e) < 0)
		return 1;
	t = cd_engine_totals(e);

	cd_export_summary_init(&sum);
	sum.started_at_us = start_s * 1000000;
	sum.elapsed_s = isfinite(t->t_seen) ? t->t_seen : 0;
	sum.timer_s = t->active_s;
	sum.avg_bpm = cd_engine_avg_bpm(e);
	sum.max_bpm = t->bpm_max;
	sum.min_bpm = t->bpm_min;
	sum.hr_max = p->hr_max;
	sum.hr_rest = p->hr_rest;
	for (size_t z = 0; z < CD_FIT_ZONES; z++)
		sum.zone_s[z] = t->zone_s[z];
	for (size_t z = 0; z < CD_FIT_ZONES - 1; z++)
		sum.zone_lo_bpm[z] = cd_zone_lo_bpm(p, (enum cd_zone)(z + 1));

	f = fopen(out, "wb");
	if (!f)
		return 2;
	if (strcmp(fmt, "tcx") == 0) {
		struct cd_tcx_writer *w = NULL;

		r = cd_tcx_writer_new(&sum, file_write, f, &w);
		if (r >= 0)
			r = each_sample(data, len, add_tcx, w);
		if (r >= 0)
			r = cd_tcx_writer_finish(w);
		cd_tcx_writer_free(w);
	} else {
		struct cd_fit_encoder enc;

		cd_fit_encoder_init(&enc, &sum, 0, NULL, NULL);
		r = each_sample(data, len, add_fit, &enc);
		if (r >= 0)
			r = cd_fit_encoder_finish(&enc);
		if (r >= 0) {
			cd_fit_encoder_init(&enc, &sum, cd_fit_encoder_data_size(&enc), file_write, f);
			r = each_sample(data, len, add_fit, &enc);
		}
		if (r >= 0)
			r = cd_fit_encoder_finish(&enc);
	}
	if (fclose(f) != 0 && r >= 0)
		r = -EIO;
	if (r < 0) {
		fprintf(stderr, "fit-tool: export failed: %d\n", r);
		return 1;
	}
	printf("{\"samples\":%zu,\"active_s\":%.3f,\"elapsed_s\":%.3f,\"zone_s\":", t->samples,
	       t->active_s, sum.elapsed_s);
	print_zones(t->zone_s, _CD_ZONE_MAX);
	printf(",\"zone_lo_bpm\":");
	print_zones(sum.zone_lo_bpm, CD_FIT_ZONES - 1);
	printf(",\"avg\":%.3f,\"max\":%.1f,\"min\":%.1f,\"rr_count\":%zu}\n", num_or_null(sum.avg_bpm),
	       num_or_null(t->bpm_max), num_or_null(t->bpm_min), t->rr_count);
	cd_engine_free(e);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	struct cd_profile p;
	int64_t start = 1764748800; /* 2025-12-03T08:00:00Z */
	const char *why;

	cd_profile_init(&p);
	if (cd_profile_set_hr_max(&p, 190) < 0)
		return 2;
	if (argc < 4)
		goto usage;
	for (int i = (strcmp(argv[1], "export") == 0 ? 5 : 4); i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--start") == 0)
			start = strtoll(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--max-gap") == 0)
			max_gap_s = strtod(argv[i + 1], NULL);
		else if (strcmp(argv[i], "--hr-max") == 0)
			(void)cd_profile_set_hr_max(&p, strtod(argv[i + 1], NULL));
		else if (strcmp(argv[i], "--bounds") == 0) {
			if (cd_parse_bounds(argv[i + 1], p.zones_bpm) < 0)
				goto usage;
			p.has_zones_bpm = true;
			p.model = CD_MODEL_ZONES_BPM;
		} else
			goto usage;
	}
	if (cd_profile_validate(&p, &why) < 0) {
		fprintf(stderr, "fit-tool: profile: %s\n", why);
		return 2;
	}
	if (strcmp(argv[1], "import") == 0)
		return do_import(argv[2], argv[3], &p);
	if (strcmp(argv[1], "export") == 0 && argc >= 5)
		return do_export(argv[2], argv[3], argv[4], start, &p);
usage:
	fprintf(stderr, "usage: fit-tool export fit|tcx IN.csv OUT [--start S] [--hr-max B]\n"
			"       fit-tool import fit|tcx FILE [--bounds B1,..,B5] [--hr-max B] [--max-gap S]\n");
	return 2;
}
