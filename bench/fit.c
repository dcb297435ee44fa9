/* SPDX-License-Identifier: MIT */
/*
 * FIT and TCX export and import of a long 4 Hz session (default 24 h:
 * 345,600 samples, with RR), through lib/fit and lib/tcx as the daemon
 * uses them: export is the two passes of lib/fit.h (count, then write) to
 * a file, import reads the file into memory and feeds the engine.  Each
 * case runs in a child process so its peak RSS (wait4) is its own; a 1 h
 * run next to the 24 h one shows whether memory grows with the session.
 * Targets (issue 16): ≤ 1 s and constant memory.
 *
 * Usage: bench-fit [HOURS] [DIR]
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "fit.h"
#include "tcx.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sample i of the session: a slow wave through the zones plus noise, RR on every other. */
static void sample(size_t i, struct cd_sample *s, double *rr)
{
	double t = (double)i / 4;
	double bpm = 110 + 50 * sin(t / 900) + 4 * sin(t * 1.7);

	*s = (struct cd_sample){ .t = t, .bpm = bpm, .contact = CD_CONTACT_OK, .energy_kj = NAN };
	rr[0] = 60000 / bpm;
	s->rr_ms = rr;
	s->n_rr = i % 2 == 0;
}

static void summary(struct cd_export_summary *sum, size_t n)
{
	static const double lo[5] = { 95, 114, 133, 152, 171 };

	cd_export_summary_init(sum);
	sum->started_at_us = 1764748800LL * 1000000;
	sum->elapsed_s = (double)n / 4;
	memcpy(sum->zone_lo_bpm, lo, sizeof(lo));
}

static int file_write(void *userdata, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, userdata) == len ? 0 : -EIO;
}

static int export_file(const char *fmt, size_t n, const char *path)
{
	struct cd_export_summary sum;
	struct cd_sample s;
	double rr[1];
	FILE *f = fopen(path, "wb");
	int r = 0;

	if (!f)
		return -errno;
	summary(&sum, n);
	if (strcmp(fmt, "fit") == 0) {
		struct cd_fit_encoder e;

		cd_fit_encoder_init(&e, &sum, 0, NULL, NULL);
		for (size_t i = 0; i < n && r >= 0; i++) {
			sample(i, &s, rr);
			r = cd_fit_encoder_add(&e, &s);
		}
		if (r >= 0)
			r = cd_fit_encoder_finish(&e);
		cd_fit_encoder_init(&e, &sum, cd_fit_encoder_data_size(&e), file_write, f);
		for (size_t i = 0; i < n && r >= 0; i++) {
			sample(i, &s, rr);
			r = cd_fit_encoder_add(&e, &s);
		}
		if (r >= 0)
			r = cd_fit_encoder_finish(&e);
	} else {
		struct cd_tcx_writer *w = NULL;

		r = cd_tcx_writer_new(&sum, file_write, f, &w);
		for (size_t i = 0; i < n && r >= 0; i++) {
			sample(i, &s, rr);
			r = cd_tcx_writer_add(w, &s);
		}
		if (r >= 0)
			r = cd_tcx_writer_finish(w);
		cd_tcx_writer_free(w);
	}
	if (fclose(f) != 0 && r >= 0)
		r = -EIO;
	return r;
}

static int s_begin(void *u, int64_t start, const char *sport)
{
	struct cd_engine **e = u;
	struct cd_profile p;
	struct cd_engine_config c;

	(void)start;
	(void)sport;
	cd_profile_init(&p);
	cd_profile_set_hr_max(&p, 190);
	cd_engine_config_init(&c);
	return cd_engine_new(&p, &c, NULL, e);
}

static int s_sample(void *u, const struct cd_sample *s)
{
	return cd_engine_add(*(struct cd_engine **)u, s) < 0 ? -ENOMEM : 0;
}

static int s_end(void *u)
{
	struct cd_engine **e = u;

	*e = cd_engine_free(*e);
	return 0;
}

static int import_file(const char *fmt, const char *path)
{
	struct cd_engine *e = NULL;
	struct cd_import_sink sink = { s_begin, s_sample, s_end, &e };
	struct stat st;
	char err[160], *buf;
	FILE *f = fopen(path, "rb");
	int r;

	if (!f || fstat(fileno(f), &st) < 0)
		return -errno;
	buf = malloc((size_t)st.st_size);
	if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		return -EIO;
	fclose(f);
	r = strcmp(fmt, "fit") == 0 ? cd_fit_import(buf, (size_t)st.st_size, &sink, err, sizeof(err))
				    : cd_tcx_import(buf, (size_t)st.st_size, &sink, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "import: %s\n", err);
	free(buf);
	return r;
}

/* Run one case in a child: its seconds and peak RSS (KiB). */
static int run(const char *what, const char *fmt, size_t n, const char *path, double *ret_s,
	       long *ret_kib)
{
	struct rusage ru;
	int status;
	double t0 = now();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit((strcmp(what, "export") == 0 ? export_file(fmt, n, path)
						   : import_file(fmt, path)) < 0);
	if (wait4(pid, &status, 0, &ru) < 0)
		return -errno;
	*ret_s = now() - t0;
	*ret_kib = ru.ru_maxrss;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	double hours = argc > 1 ? atof(argv[1]) : 24;
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	size_t n = (size_t)(hours * 3600 * 4), n1 = 3600 * 4;
	const char *fmts[] = { "fit", "tcx" }, *whats[] = { "export", "import" };
	char path[4096], path1[4096];
	int fail = 0;

	printf("%.0f h at 4 Hz: %zu samples (RR on every other); 1 h: %zu\n", hours, n, n1);
	for (size_t f = 0; f < 2; f++) {
		snprintf(path, sizeof(path), "%s/bench-fit-%d.%s", dir, (int)getpid(), fmts[f]);
		snprintf(path1, sizeof(path1), "%s/bench-fit-%d-1h.%s", dir, (int)getpid(), fmts[f]);
		for (size_t w = 0; w < 2; w++) {
			double s, s1;
			long kib, kib1;
			struct stat st;

			if (run(whats[w], fmts[f], n, path, &s, &kib) < 0 ||
			    run(whats[w], fmts[f], n1, path1, &s1, &kib1) < 0) {
				fprintf(stderr, "%s %s failed\n", whats[w], fmts[f]);
				fail = 1;
				continue;
			}
			stat(path, &st);
			printf("%s %s: %.3f s (%.1f M samples/s), file %.1f MiB, peak RSS %.1f MiB "
			       "(1 h: %.3f s, %.1f MiB)\n",
			       whats[w], fmts[f], s, (double)n / s / 1e6,
			       (double)st.st_size / 1048576.0, (double)kib / 1024, s1,
			       (double)kib1 / 1024);
		}
		unlink(path);
		unlink(path1);
	}
	printf("import holds the file in memory (the HTTP body); everything else is constant\n");
	return fail;
}
