/* SPDX-License-Identifier: MIT */
/*
 * bench-engine: how fast the pure core runs.
 *
 * Builds a 10-hour session at 4 Hz (an ANT+ strap's rate) in memory, with
 * RR intervals, then times (CLOCK_MONOTONIC, best of several runs):
 *   - the engine alone: cd_engine_new() + cd_engine_add() for every sample;
 *   - CSV parsing of the same session, written to a memory buffer.
 * Targets: ≥ 20 M samples/s for the engine, ≥ 100 MB/s for the CSV reader.
 * Not a test: run it with bench/engine (a release build).
 */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csv.h"
#include "engine.h"
#include "profile.h"

#define HOURS 10
#define RATE_HZ 4
#define N_SAMPLES (HOURS * 3600 * RATE_HZ)
#define MAX_RR 3
#define RUNS_ENGINE 30
#define RUNS_CSV 10

#define TARGET_ENGINE 20e6 /* samples/s */
#define TARGET_CSV 100e6   /* bytes/s */

struct session {
	struct cd_sample *samples;
	double *rr; /* MAX_RR per sample */
	size_t n;
};

/* A small fixed-seed PRNG (splitmix64): the same session on every run. */
static uint64_t rng_state = 0x5eed5eed5eed5eedULL;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rng_unit(void)
{
	return (double)(rng() >> 11) * 0x1.0p-53;
}

/* The target heart rate at time t: 20-minute blocks of warm-up, intervals, steady, easy. */
static double target_bpm(double t)
{
	double block = fmod(t, 1200.0);

	if (block < 300)
		return 95 + block / 300 * 40;        /* warm-up 95 → 135 */
	if (block < 720)
		return fmod(block, 120) < 60 ? 172 : 128; /* 1-minute intervals */
	if (block < 1080)
		return 150;                          /* steady, ECB band */
	return 110;                                  /* easy */
}

static int make_session(struct session *s)
{
	double bpm = 80, next_beat = 0;

	s->n = N_SAMPLES;
	s->samples = calloc(s->n, sizeof(*s->samples));
	s->rr = calloc(s->n * MAX_RR, sizeof(*s->rr));
	if (!s->samples || !s->rr)
		return -ENOMEM;

	for (size_t i = 0; i < s->n; i++) {
		double t = (double)i / RATE_HZ;
		struct cd_sample *smp = &s->samples[i];

		/* First-order approach to the target, with beat-to-beat noise. */
		bpm += (target_bpm(t) - bpm) * 0.02 + (rng_unit() - 0.5) * 1.5;
		*smp = (struct cd_sample){
			.t = t,
			.bpm = round(bpm),
			.contact = CD_CONTACT_OK,
			.energy_kj = NAN,
			.rr_ms = &s->rr[i * MAX_RR],
		};
		/* A few short contact losses, to exercise the drop path. */
		if (i % 20000 >= 19990)
			smp->contact = CD_CONTACT_LOST;
		/* Beats since the last sample, in 1/1024 s units as BLE sends them. */
		while (next_beat <= t && smp->n_rr < MAX_RR) {
			double rr = 60000.0 / bpm * (1 + (rng_unit() - 0.5) * 0.06);

			rr = round(rr * 1.024) / 1.024;
			s->rr[i * MAX_RR + smp->n_rr++] = rr;
			next_beat += rr / 1000.0;
		}
		if (next_beat <= t)
			next_beat = t + 0.1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps the optimiser from dropping the work. */
static volatile double sink;

static int bench_engine(const struct session *s, double *ret_best)
{
	struct cd_profile p;
	struct cd_engine_config c;
	double best = INFINITY;

	cd_profile_init(&p);
	if (cd_profile_set_hr_max(&p, 185) < 0)
		return -EINVAL;
	cd_engine_config_init(&c);

	for (int run = 0; run < RUNS_ENGINE; run++) {
		struct cd_engine *e = NULL;
		double t0 = now_s(), dt;
		int r = cd_engine_new(&p, &c, NULL, &e);

		if (r < 0)
			return r;
		for (size_t i = 0; i < s->n; i++) {
			r = cd_engine_add(e, &s->samples[i]);
			if (r < 0) {
				cd_engine_free(e);
				return r;
			}
		}
		dt = now_s() - t0;
		sink = cd_engine_totals(e)->active_s + cd_engine_rmssd(e);
		cd_engine_free(e);
		best = dt < best ? dt : best;
	}
	*ret_best = best;
	return 0;
}

static int bench_csv(const struct session *s, double *ret_best, size_t *ret_size)
{
	char *text = NULL;
	size_t size = 0;
	double best = INFINITY;
	FILE *f = open_memstream(&text, &size);
	int r;

	if (!f)
		return -errno;
	r = cd_csv_write_header(f);
	for (size_t i = 0; r >= 0 && i < s->n; i++)
		r = cd_csv_write_sample(f, &s->samples[i]);
	if (fclose(f) != 0 && r >= 0)
		r = -errno;
	if (r < 0) {
		free(text);
		return r;
	}

	for (int run = 0; r >= 0 && run < RUNS_CSV; run++) {
		struct cd_csv_reader *reader = NULL;
		struct cd_sample smp;
		double t0 = now_s(), dt, sum = 0;
		size_t n = 0;

		r = cd_csv_reader_new(text, size, &reader);
		if (r < 0)
			break;
		while ((r = cd_csv_reader_next(reader, &smp)) > 0) {
			sum += smp.bpm + (double)smp.n_rr;
			n++;
		}
		dt = now_s() - t0;
		if (r < 0)
			fprintf(stderr, "bench-engine: CSV: %s\n", cd_csv_reader_error(reader));
		else if (n != s->n)
			r = -EIO;
		cd_csv_reader_free(reader);
		sink = sum;
		best = dt < best ? dt : best;
	}
	free(text);
	*ret_best = best;
	*ret_size = size;
	return r < 0 ? r : 0;
}

int main(void)
{
	struct session s = {};
	double t_engine = NAN, t_csv = NAN, engine_rate, csv_rate;
	size_t csv_size = 0;
	int r;

	r = make_session(&s);
	if (r < 0) {
		fprintf(stderr, "bench-engine: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	printf("session: %d h at %d Hz, %zu samples with RR\n", HOURS, RATE_HZ, s.n);

	r = bench_engine(&s, &t_engine);
	if (r < 0) {
		fprintf(stderr, "bench-engine: engine: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	engine_rate = (double)s.n / t_engine;
	printf("engine: %.1f M samples/s (%.2f ms per run, best of %d; target >= %.0f M)%s\n",
	       engine_rate / 1e6, t_engine * 1e3, RUNS_ENGINE, TARGET_ENGINE / 1e6,
	       engine_rate >= TARGET_ENGINE ? "" : "  BELOW TARGET");

	r = bench_csv(&s, &t_csv, &csv_size);
	if (r < 0) {
		fprintf(stderr, "bench-engine: CSV: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	csv_rate = (double)csv_size / t_csv;
	printf("csv:    %.0f MB/s, %.1f M samples/s (%.1f MB in %.2f ms, best of %d; "
	       "target >= %.0f MB/s)%s\n",
	       csv_rate / 1e6, (double)s.n / t_csv / 1e6, (double)csv_size / 1e6, t_csv * 1e3,
	       RUNS_CSV, TARGET_CSV / 1e6, csv_rate >= TARGET_CSV ? "" : "  BELOW TARGET");

	free(s.samples);
	free(s.rr);
	return EXIT_SUCCESS;
}
