/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the FIT decoder (lib/fit.h).  Any bytes: 0, or
 * -EBADMSG with a "FIT: " message and nothing handed to the sink.  What
 * decodes must keep the sink's promises (one begin/end pair per session,
 * t ≥ 0 and increasing, bpm 0..255, RR in 1..65534 ms), and every session
 * decoded, written again by the encoder and decoded once more, gives the
 * same samples (heart rate kept for valid ones, RR up to the per-second cap).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr);                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define MAX_SAMPLES 4096
#define MAX_RR 64

struct rec {
	double t, bpm;
	size_t n_rr;
	double rr[MAX_RR];
};

struct collect {
	bool open;
	int sessions;
	int64_t start;
	size_t n;
	bool overflow;
	struct rec *r;
	/* a second decode to compare with */
	const struct collect *expect;
	bool check_only;
};

static int c_begin(void *userdata, int64_t started_at_us, const char *sport)
{
	struct collect *c = userdata;

	(void)sport;
	FUZZ_ASSERT(!c->open);
	c->open = true;
	c->sessions++;
	c->start = started_at_us;
	c->n = 0;
	c->overflow = false;
	return 0;
}

static int c_sample(void *userdata, const struct cd_sample *s)
{
	struct collect *c = userdata;

	FUZZ_ASSERT(c->open);
	FUZZ_ASSERT(isfinite(s->t) && s->t >= 0);
	FUZZ_ASSERT(c->n == 0 || c->overflow || s->t > c->r[c->n - 1].t);
	FUZZ_ASSERT(s->bpm >= 0 && s->bpm <= 255);
	FUZZ_ASSERT(s->n_rr <= MAX_RR);
	for (size_t i = 0; i < s->n_rr; i++)
		FUZZ_ASSERT(s->rr_ms[i] >= 1 && s->rr_ms[i] < 65535);
	if (c->n >= MAX_SAMPLES) {
		c->overflow = true;
		return 0;
	}
	c->r[c->n] = (struct rec){ .t = s->t, .bpm = s->bpm, .n_rr = s->n_rr };
	memcpy(c->r[c->n].rr, s->rr_ms, s->n_rr * sizeof(double));
	c->n++;
	return 0;
}

struct mem {
	uint8_t *b;
	size_t n, cap;
};

static int mem_write(void *userdata, const void *buf, size_t len)
{
	struct mem *m = userdata;

	if (m->n + len > m->cap) {
		m->cap = (m->n + len) * 2;
		m->b = realloc(m->b, m->cap);
		FUZZ_ASSERT(m->b);
	}
	memcpy(m->b + m->n, buf, len);
	m->n += len;
	return 0;
}

static void encode(const struct collect *c, struct cd_fit_encoder *e)
{
	for (size_t i = 0; i < c->n; i++) {
		struct cd_sample s = { .t = c->r[i].t, .bpm = c->r[i].bpm,
				       .contact = CD_CONTACT_UNKNOWN, .energy_kj = NAN,
				       .rr_ms = c->r[i].rr, .n_rr = c->r[i].n_rr };

		FUZZ_ASSERT(cd_fit_encoder_add(e, &s) == 0);
	}
	FUZZ_ASSERT(cd_fit_encoder_finish(e) == 0);
}

/* session_end of the second decode: only closes it. */
static int close_only(void *userdata)
{
	struct collect *c = userdata;

	FUZZ_ASSERT(c->open);
	c->open = false;
	return 0;
}

static int c_end(void *userdata)
{
	struct collect *c = userdata;
	struct cd_export_summary sum;
	struct cd_fit_encoder e;
	struct mem m = {};
	struct rec *again = NULL;
	struct collect back = {};
	struct cd_import_sink sink = { c_begin, c_sample, close_only, &back };
	int64_t fit_start = c->start / 1000000 - CD_FIT_EPOCH_UNIX;
	char err[128];
	uint32_t n;

	FUZZ_ASSERT(c->open);
	c->open = false;
	if (c->overflow || c->n == 0)
		return 0;
	/* The encoder keeps timestamps in FIT's absolute range: compare only there. */
	if (fit_start < 0x10000000 || fit_start + (int64_t)c->r[c->n - 1].t > 0xFFFFFF00)
		return 0;

	/* Round trip: this session written again and read back. */
	cd_export_summary_init(&sum);
	sum.started_at_us = c->start;
	cd_fit_encoder_init(&e, &sum, 0, NULL, NULL);
	encode(c, &e);
	n = cd_fit_encoder_data_size(&e);
	cd_fit_encoder_init(&e, &sum, n, mem_write, &m);
	encode(c, &e);
	FUZZ_ASSERT(m.n == 14u + n + 2u);

	again = calloc(MAX_SAMPLES, sizeof(*again));
	FUZZ_ASSERT(again);
	back.r = again;
	FUZZ_ASSERT(cd_fit_import(m.b, m.n, &sink, err, sizeof(err)) == 0);
	FUZZ_ASSERT(back.sessions == 1);
	FUZZ_ASSERT(back.start == c->start);
	/*
	 * Every sample comes back; a gap of 2..max_gap_s seconds between two
	 * of them (no timer stop written: the engine counts it) comes back
	 * filled with copies of the sample before it, as a watch's sparse
	 * records are.  (Unless the fills overflow what is kept.)
	 */
	if (!back.overflow) {
		size_t j = 0;

		for (size_t i = 0; i < c->n; i++) {
			const struct rec *a = &c->r[i];
			bool valid = a->bpm >= CD_BPM_MIN && a->bpm <= CD_BPM_MAX;
			size_t k = 0;

			FUZZ_ASSERT(j < back.n);
			FUZZ_ASSERT(again[j].t == a->t);
			FUZZ_ASSERT(valid ? again[j].bpm == a->bpm : again[j].bpm == 0);
			if (valid)
				for (size_t q = 0; q < a->n_rr && k < CD_FIT_RR_PER_SECOND; q++, k++)
					FUZZ_ASSERT(again[j].rr[k] == a->rr[q]);
			FUZZ_ASSERT(again[j].n_rr == k);
			for (j++; i + 1 < c->n && j < back.n && again[j].t < c->r[i + 1].t;
			     j++) {
				FUZZ_ASSERT(c->r[i + 1].t - a->t <= sum.max_gap_s);
				FUZZ_ASSERT(again[j].t == again[j - 1].t + 1);
				FUZZ_ASSERT(again[j].bpm == again[j - 1].bpm && again[j].n_rr == 0);
			}
		}
		FUZZ_ASSERT(j == back.n);
	}
	free(again);
	free(m.b);
	return 0;
}

static void decode(const uint8_t *data, size_t size)
{
	struct collect c = {};
	struct cd_import_sink sink = { c_begin, c_sample, c_end, &c };
	char err[128];
	int r;

	c.r = calloc(MAX_SAMPLES, sizeof(*c.r));
	FUZZ_ASSERT(c.r);
	r = cd_fit_import(data, size, &sink, err, sizeof(err));
	FUZZ_ASSERT(r == 0 || r == -EBADMSG);
	if (r < 0) {
		FUZZ_ASSERT(strncmp(err, "FIT: ", 5) == 0);
		FUZZ_ASSERT(c.sessions == 0);
	}
	FUZZ_ASSERT(!c.open);
	free(c.r);
}

/*
 * The bytes as they are, then the same bytes made to pass the header
 * checks (data size, header and file CRC recomputed): random mutations
 * almost never keep a CRC right, and the message parser behind it is
 * what needs the fuzzing.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;
	size_t hsize;
	uint32_t n;
	uint16_t crc;

	if (size > 256 * 1024)
		return 0;
	decode(data, size);
	if (size < 14 + 2)
		return 0;
	hsize = data[0] == 12 ? 12 : 14;
	fixed = malloc(size);
	FUZZ_ASSERT(fixed);
	memcpy(fixed, data, size);
	fixed[0] = (uint8_t)hsize;
	memcpy(fixed + 8, ".FIT", 4);
	n = (uint32_t)(size - hsize - 2);
	for (int i = 0; i < 4; i++)
		fixed[4 + i] = (uint8_t)(n >> (8 * i));
	if (hsize == 14) {
		crc = cd_fit_crc(0, fixed, 12);
		fixed[12] = (uint8_t)crc;
		fixed[13] = (uint8_t)(crc >> 8);
	}
	crc = cd_fit_crc(0, fixed, size - 2);
	fixed[size - 2] = (uint8_t)crc;
	fixed[size - 1] = (uint8_t)(crc >> 8);
	decode(fixed, size);
	free(fixed);
	return 0;
}
