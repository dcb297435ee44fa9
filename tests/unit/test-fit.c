/* SPDX-License-Identifier: MIT */
/*
 * lib/fit: the encoder's bytes (header, CRCs, records without heart_rate for
 * seconds without a valid sample) and the decoder fed through a sink that
 * runs the engine: export → import gives the same zone times, RR and start;
 * corrupt and truncated files are refused with a message, never a crash.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine.h"
#include "fit.h"

struct mem {
	uint8_t *b;
	size_t n, cap;
};

static int mem_write(void *userdata, const void *buf, size_t len)
{
	struct mem *m = userdata;

	if (m->n + len > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4096;

		while (cap < m->n + len)
			cap *= 2;
		m->b = realloc(m->b, cap);
		if (!m->b)
			return -ENOMEM;
		m->cap = cap;
	}
	memcpy(m->b + m->n, buf, len);
	m->n += len;
	return 0;
}

/*
 * A 20-minute session, 1 Hz, rising then falling through every zone, with
 * RR, a dropout (samples without a valid heart rate) and a minute with no
 * samples at all (false: skip it), which must stay a gap.
 */
static bool make_sample(size_t i, struct cd_sample *s, double *rr)
{
	double bpm = 70 + 110 * sin(M_PI * (double)i / 1200.0);

	*s = (struct cd_sample){ .t = (double)i, .bpm = round(bpm), .contact = CD_CONTACT_OK,
				 .energy_kj = NAN };
	if (i >= 300 && i < 310)
		s->bpm = 0; /* strap lost: no heart_rate field, never 0 */
	rr[0] = 60000.0 / s->bpm;
	s->rr_ms = rr;
	s->n_rr = s->bpm > 0 ? 1 : 0;
	return i < 600 || i >= 660;
}

#define N 1200

struct engine_sink {
	struct cd_profile profile;
	struct cd_engine *e[4];
	int64_t start[4];
	char sport[4][32];
	size_t n, samples, no_hr;
	int ended;
};

static int sink_begin(void *userdata, int64_t started_at_us, const char *sport)
{
	struct engine_sink *k = userdata;
	struct cd_engine_config c;

	if (k->n >= 4)
		return -E2BIG;
	cd_engine_config_init(&c);
	if (cd_engine_new(&k->profile, &c, NULL, &k->e[k->n]) < 0)
		return -ENOMEM;
	k->start[k->n] = started_at_us;
	snprintf(k->sport[k->n], sizeof(k->sport[0]), "%s", sport ? sport : "");
	k->n++;
	return 0;
}

static int sink_sample(void *userdata, const struct cd_sample *s)
{
	struct engine_sink *k = userdata;

	k->samples++;
	if (s->bpm == 0)
		k->no_hr++;
	return cd_engine_add(k->e[k->n - 1], s) < 0 ? -ENOMEM : 0;
}

static int sink_end(void *userdata)
{
	struct engine_sink *k = userdata;

	k->ended++;
	return 0;
}

static void sink_free(struct engine_sink *k)
{
	for (size_t i = 0; i < k->n; i++)
		cd_engine_free(k->e[i]);
}

static const int64_t START_US = 1764748800LL * 1000000; /* 2025-12-03T08:00:00Z */

/* Export the synthetic session through the two passes; returns the file. */
static struct mem export_session(struct cd_engine *src, const struct cd_profile *p)
{
	const struct cd_engine_totals *t = cd_engine_totals(src);
	struct cd_export_summary sum;
	struct cd_fit_encoder enc;
	struct mem m = {};
	double rr[1];
	struct cd_sample s;

	cd_export_summary_init(&sum);
	sum.started_at_us = START_US;
	sum.elapsed_s = N;
	sum.timer_s = t->active_s;
	sum.avg_bpm = cd_engine_avg_bpm(src);
	sum.max_bpm = t->bpm_max;
	sum.min_bpm = t->bpm_min;
	for (size_t z = 0; z < CD_FIT_ZONES; z++)
		sum.zone_s[z] = t->zone_s[z];
	for (size_t z = 0; z < CD_FIT_ZONES - 1; z++)
		sum.zone_lo_bpm[z] = cd_zone_lo_bpm(p, (enum cd_zone)(z + 1));

	cd_fit_encoder_init(&enc, &sum, 0, NULL, NULL);
	for (size_t i = 0; i < N; i++) {
		if (make_sample(i, &s, rr))
			CHECK_INT(cd_fit_encoder_add(&enc, &s), 0);
	}
	CHECK_INT(cd_fit_encoder_finish(&enc), 0);
	uint32_t size = cd_fit_encoder_data_size(&enc);

	cd_fit_encoder_init(&enc, &sum, size, mem_write, &m);
	for (size_t i = 0; i < N; i++) {
		if (make_sample(i, &s, rr))
			CHECK_INT(cd_fit_encoder_add(&enc, &s), 0);
	}
	CHECK_INT(cd_fit_encoder_finish(&enc), 0);
	CHECK_INT(m.n, 14 + size + 2);
	return m;
}

static void test_crc(void)
{
	static const uint8_t h[] = { 0x0e, 0x20, 0x63, 0x08, 0x80, 0x6f,
				     0x01, 0x00, 0x2e, 0x46, 0x49, 0x54 };

	CHECK_INT(cd_fit_crc(0, "123456789", 9), 0xBB3D);
	CHECK_INT(cd_fit_crc(0, h, sizeof(h)), 0x439E);
}

static void test_round_trip(void)
{
	struct cd_profile p;
	struct cd_engine_config c;
	struct cd_engine *src = NULL;
	struct engine_sink k = {};
	struct cd_import_sink sink = { sink_begin, sink_sample, sink_end, &k };
	struct cd_sample s;
	double rr[1];
	char err[128];
	struct mem m;

	cd_profile_init(&p);
	CHECK_INT(cd_profile_set_hr_max(&p, 190), 0);
	cd_engine_config_init(&c);
	CHECK_INT(cd_engine_new(&p, &c, NULL, &src), 0);
	for (size_t i = 0; i < N; i++) {
		if (make_sample(i, &s, rr))
			CHECK(cd_engine_add(src, &s) >= 0);
	}
	m = export_session(src, &p);

	/* Header: size, protocol, ".FIT", header CRC; the whole file CRCs to 0. */
	CHECK_INT(m.b[0], 14);
	CHECK(memcmp(m.b + 8, ".FIT", 4) == 0);
	CHECK_INT(cd_fit_crc(0, m.b, 12), m.b[12] | m.b[13] << 8);
	CHECK_INT(cd_fit_crc(0, m.b, m.n), 0);

	k.profile = p;
	CHECK_INT(cd_fit_import(m.b, m.n, &sink, err, sizeof(err)), 0);
	CHECK_INT(k.n, 1);
	CHECK_INT(k.ended, 1);
	CHECK_INT(k.start[0], START_US);
	CHECK_STR(k.sport[0], "training");
	CHECK_INT(k.samples, N - 60); /* the gap is not filled: the timer was stopped */
	CHECK_INT(k.no_hr, 10); /* the dropout: records without heart_rate */
	if (k.n == 1) {
		const struct cd_engine_totals *a = cd_engine_totals(src), *b = cd_engine_totals(k.e[0]);

		for (size_t z = 0; z < _CD_ZONE_MAX; z++)
			CHECK_NEAR(b->zone_s[z], a->zone_s[z], 1.0);
		CHECK(a->zone_s[CD_ZONE_5] > 60); /* the session reaches every zone */
		CHECK_INT(b->rr_count, a->rr_count);
		CHECK_NEAR(cd_engine_rmssd(k.e[0]), cd_engine_rmssd(src), 0.5);
		CHECK_NEAR(b->bpm_max, a->bpm_max, 0);
		CHECK_NEAR(b->gap_s, a->gap_s, 0);
		CHECK(a->gap_s >= 60);
	}
	sink_free(&k);

	/* Every truncation and a flipped byte anywhere: -EBADMSG with a message. */
	for (size_t len = 0; len < m.n; len += (len < 200 ? 1 : 97)) {
		struct engine_sink k2 = { .profile = p };
		struct cd_import_sink s2 = { sink_begin, sink_sample, sink_end, &k2 };

		err[0] = '\0';
		CHECK_INT(cd_fit_import(m.b, len, &s2, err, sizeof(err)), -EBADMSG);
		CHECK(strncmp(err, "FIT: ", 5) == 0);
		CHECK_INT(k2.n, 0); /* nothing reached the sink */
		sink_free(&k2);
	}
	for (size_t i = 0; i < m.n; i += 13) {
		struct engine_sink k2 = { .profile = p };
		struct cd_import_sink s2 = { sink_begin, sink_sample, sink_end, &k2 };

		m.b[i] ^= 0x5A;
		CHECK_INT(cd_fit_import(m.b, m.n, &s2, err, sizeof(err)), -EBADMSG);
		m.b[i] ^= 0x5A;
		sink_free(&k2);
	}
	memcpy(m.b + 8, ".FIX", 4);
	CHECK_INT(cd_fit_import(m.b, m.n, &sink, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "FIT: not a FIT file (no \".FIT\" signature)");
	free(m.b);
	cd_engine_free(src);
}

/* A sink error stops the decoder and is returned as is. */
static int begin_fails(void *userdata, int64_t started_at_us, const char *sport)
{
	(void)userdata;
	(void)started_at_us;
	(void)sport;
	return -ENOSPC;
}

static void test_sink_error(void)
{
	struct cd_profile p;
	struct cd_engine_config c;
	struct cd_engine *src = NULL;
	struct cd_import_sink sink = { begin_fails, sink_sample, sink_end, NULL };
	char err[128];
	struct mem m;

	cd_profile_init(&p);
	CHECK_INT(cd_profile_set_hr_max(&p, 190), 0);
	cd_engine_config_init(&c);
	CHECK_INT(cd_engine_new(&p, &c, NULL, &src), 0);
	m = export_session(src, &p);
	CHECK_INT(cd_fit_import(m.b, m.n, &sink, err, sizeof(err)), -ENOSPC);
	free(m.b);
	cd_engine_free(src);
}

/*
 * 4 Hz, a noisy heart rate hovering around the zone bounds (a random walk
 * with fractional values): the whole seconds written keep every zone time
 * within a second of the samples'.
 */
static void test_resampler_noisy(void)
{
	const double bounds[CD_FIT_ZONES - 1] = { 95, 114, 133, 152, 171 };
	struct cd_resampler rs;
	struct cd_second done;
	double zs[CD_FIT_ZONES] = {}, ws[CD_FIT_ZONES] = {}, bpm = 112, t_prev = NAN;
	int z_prev = 0, zw_prev = 0;
	int64_t sec_prev = -1;
	unsigned seed = 7;

	cd_resampler_init(&rs, bounds, 5);
	for (int i = 0; i <= 4 * 3600; i++) {
		struct cd_sample s = { .t = i / 4.0, .contact = CD_CONTACT_OK, .energy_kj = NAN };
		int z = 0, got;

		seed = seed * 1103515245u + 12345u;
		bpm += ((double)(seed >> 16 & 0x7FFF) / 0x7FFF - 0.5) * 4;
		bpm = bpm < 90 ? 90 : bpm > 176 ? 176 : bpm;
		s.bpm = bpm;
		for (int k = 0; k < CD_FIT_ZONES - 1; k++)
			if (bpm >= bounds[k])
				z = k + 1;
		if (isfinite(t_prev))
			zs[z_prev] += s.t - t_prev;
		t_prev = s.t;
		z_prev = z;
		got = cd_resampler_add(&rs, &s, &done);
		if (i == 4 * 3600 && cd_resampler_flush(&rs, &done) > 0)
			got = 1;
		if (got > 0) {
			int zw = 0;

			CHECK(done.bpm > 0);
			for (int k = 0; k < CD_FIT_ZONES - 1; k++)
				if (done.bpm >= bounds[k])
					zw = k + 1;
			if (sec_prev >= 0)
				ws[zw_prev] += (double)(done.sec - sec_prev);
			sec_prev = done.sec;
			zw_prev = zw;
		}
	}
	for (int z = 0; z < CD_FIT_ZONES; z++)
		CHECK_NEAR(ws[z], zs[z], 1.0);
	CHECK(zs[1] > 300 && zs[2] > 300); /* it did wander across bounds */
}

/* ---- a FIT file built by hand: what watches write and our encoder does not ---- */

struct fb {
	uint8_t b[4096];
	size_t n;
};

static void fb_put(struct fb *f, const void *p, size_t n)
{
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void fb_u8(struct fb *f, uint8_t v)
{
	fb_put(f, &v, 1);
}

static void fb_uint(struct fb *f, uint32_t v, size_t size, bool be)
{
	for (size_t i = 0; i < size; i++)
		fb_u8(f, (uint8_t)(v >> (8 * (be ? size - 1 - i : i))));
}

/* Definition: local type, big endian?, global, fields as (num, size) pairs; one dev field of 3 bytes if dev. */
static void fb_def(struct fb *f, uint8_t local, bool be, uint16_t global, bool dev, size_t n,
		   const uint8_t (*fields)[2])
{
	fb_u8(f, (uint8_t)(0x40 | (dev ? 0x20 : 0) | local));
	fb_u8(f, 0);
	fb_u8(f, be);
	fb_uint(f, global, 2, be);
	fb_u8(f, (uint8_t)n);
	for (size_t i = 0; i < n; i++) {
		fb_u8(f, fields[i][0]);
		fb_u8(f, fields[i][1]);
		fb_u8(f, fields[i][1] == 1 ? 0x02 : fields[i][1] == 2 ? 0x84 : 0x86);
	}
	if (dev) {
		fb_u8(f, 1);
		fb_u8(f, 0);
		fb_u8(f, 3);
		fb_u8(f, 0);
	}
}

static void fb_finish(struct fb *f, struct mem *m)
{
	uint8_t h[14] = { 14, 0x20, 0x60, 0x08, 0, 0, 0, 0, '.', 'F', 'I', 'T', 0, 0 };
	uint32_t n = (uint32_t)f->n;
	uint16_t crc;

	for (int i = 0; i < 4; i++)
		h[4 + i] = (uint8_t)(n >> (8 * i));
	m->n = 0;
	mem_write(m, h, sizeof(h));
	mem_write(m, f->b, f->n);
	crc = cd_fit_crc(0, m->b, m->n);
	mem_write(m, (uint8_t[]){ (uint8_t)crc, (uint8_t)(crc >> 8) }, 2);
}

struct samples {
	int sessions, ended;
	int64_t start[4];
	char sport[4][16];
	size_t n;
	double t[256], bpm[256];
	size_t n_rr[256];
	double rr0[256];
};

static int ss_begin(void *userdata, int64_t started_at_us, const char *sport)
{
	struct samples *k = userdata;

	k->start[k->sessions] = started_at_us;
	snprintf(k->sport[k->sessions], sizeof(k->sport[0]), "%s", sport ? sport : "");
	k->sessions++;
	return 0;
}

static int ss_sample(void *userdata, const struct cd_sample *s)
{
	struct samples *k = userdata;

	if (k->n < 256) {
		k->t[k->n] = s->t;
		k->bpm[k->n] = s->bpm;
		k->n_rr[k->n] = s->n_rr;
		k->rr0[k->n] = s->n_rr ? s->rr_ms[0] : 0;
	}
	k->n++;
	return 0;
}

static int ss_end(void *userdata)
{
	((struct samples *)userdata)->ended++;
	return 0;
}

/*
 * Two sessions (a multisport file: run, then bike), records with compressed
 * timestamps and big-endian definitions, developer fields, hrv after a
 * record, a timer pause (a gap), smart recording (records 4 s apart with
 * the timer running: filled), heart_rate 0xFF, and summary messages last.
 */
static void test_decoder_features(void)
{
	static const uint8_t rec_fields[][2] = { { 253, 4 }, { 3, 1 } };
	static const uint8_t crec_fields[][2] = { { 3, 1 } };
	static const uint8_t ev_fields[][2] = { { 253, 4 }, { 0, 1 }, { 1, 1 } };
	static const uint8_t hrv_fields[][2] = { { 0, 4 } };
	static const uint8_t ses_fields[][2] = { { 253, 4 }, { 2, 4 }, { 7, 4 }, { 5, 1 } };
	const uint32_t t0 = 1100000000; /* FIT time */
	struct fb f = {};
	struct mem m = {};
	struct samples k = {};
	struct cd_import_sink sink = { ss_begin, ss_sample, ss_end, &k };
	char err[128];

	fb_def(&f, 0, true, 20, true, 2, rec_fields); /* record, big endian, a dev field */
	fb_def(&f, 1, false, 20, false, 1, crec_fields); /* record for compressed timestamps */
	fb_def(&f, 2, false, 21, false, 3, ev_fields);
	fb_def(&f, 3, false, 78, false, 1, hrv_fields);
	/* session 1: t0 .. t0+20 */
	fb_u8(&f, 2), fb_uint(&f, t0, 4, false), fb_u8(&f, 0), fb_u8(&f, 0); /* timer start */
	fb_u8(&f, 0), fb_uint(&f, t0, 4, true), fb_u8(&f, 100), fb_put(&f, "dev", 3);
	fb_u8(&f, 3), fb_uint(&f, 600, 2, false), fb_uint(&f, 0xFFFF, 2, false);
	/* compressed: t0+1, t0+2 (local type 1, offsets from t0's low 5 bits) */
	fb_u8(&f, (uint8_t)(0x80 | 1 << 5 | ((t0 + 1) & 0x1F))), fb_u8(&f, 101);
	fb_u8(&f, (uint8_t)(0x80 | 1 << 5 | ((t0 + 2) & 0x1F))), fb_u8(&f, 0xFF);
	/* smart recording: next record 4 s later, timer running: t0+3..t0+5 filled */
	fb_u8(&f, 0), fb_uint(&f, t0 + 6, 4, true), fb_u8(&f, 110), fb_put(&f, "dev", 3);
	/* a pause: stop at t0+6, start at t0+15 */
	fb_u8(&f, 2), fb_uint(&f, t0 + 6, 4, false), fb_u8(&f, 0), fb_u8(&f, 4);
	fb_u8(&f, 2), fb_uint(&f, t0 + 15, 4, false), fb_u8(&f, 0), fb_u8(&f, 0);
	fb_u8(&f, 0), fb_uint(&f, t0 + 15, 4, true), fb_u8(&f, 120), fb_put(&f, "dev", 3);
	/* session 2 starts at t0+30 */
	fb_u8(&f, 0), fb_uint(&f, t0 + 30, 4, true), fb_u8(&f, 130), fb_put(&f, "dev", 3);
	fb_u8(&f, 0), fb_uint(&f, t0 + 31, 4, true), fb_u8(&f, 131), fb_put(&f, "dev", 3);
	/* summaries last */
	fb_def(&f, 4, false, 18, false, 4, ses_fields);
	fb_u8(&f, 4), fb_uint(&f, t0 + 20, 4, false), fb_uint(&f, t0, 4, false),
		fb_uint(&f, 20000, 4, false), fb_u8(&f, 1);
	fb_u8(&f, 4), fb_uint(&f, t0 + 40, 4, false), fb_uint(&f, t0 + 30, 4, false),
		fb_uint(&f, 10000, 4, false), fb_u8(&f, 2);
	fb_finish(&f, &m);

	CHECK_INT(cd_fit_import(m.b, m.n, &sink, err, sizeof(err)), 0);
	CHECK_INT(k.sessions, 2);
	CHECK_INT(k.ended, 2);
	CHECK_INT(k.start[0], ((int64_t)t0 + CD_FIT_EPOCH_UNIX) * 1000000);
	CHECK_INT(k.start[1], ((int64_t)t0 + 30 + CD_FIT_EPOCH_UNIX) * 1000000);
	CHECK_STR(k.sport[0], "running");
	CHECK_STR(k.sport[1], "cycling");
	/* t 0,1,2 then 3,4,5 filled with 2's rate (0xFF: invalid), 6, 15; then 0, 1 */
	CHECK_INT(k.n, 10);
	if (k.n == 10) {
		static const double t[] = { 0, 1, 2, 3, 4, 5, 6, 15, 0, 1 };
		static const double bpm[] = { 100, 101, 0, 0, 0, 0, 110, 120, 130, 131 };

		for (size_t i = 0; i < 10; i++) {
			CHECK_NEAR(k.t[i], t[i], 0);
			CHECK_NEAR(k.bpm[i], bpm[i], 0);
		}
		CHECK_INT(k.n_rr[0], 1); /* the hrv after the first record */
		CHECK_NEAR(k.rr0[0], 600, 0);
		CHECK_INT(k.n_rr[1], 0);
	}
	free(m.b);
}

int main(void)
{
	test_decoder_features();
	test_resampler_noisy();
	test_crc();
	test_round_trip();
	test_sink_error();
	return check_exit("test-fit");
}
