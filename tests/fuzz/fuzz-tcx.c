/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the TCX reader (lib/tcx.h).  Any bytes: 0, or
 * -EBADMSG with a "TCX: " message; begin/end pairs balanced, samples with
 * finite, increasing t and bpm 0..255.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr);                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct state {
	bool open;
	double last_t;
	size_t sessions;
};

static int t_begin(void *userdata, int64_t started_at_us, const char *sport)
{
	struct state *st = userdata;

	(void)started_at_us;
	(void)sport;
	FUZZ_ASSERT(!st->open);
	st->open = true;
	st->last_t = -INFINITY;
	st->sessions++;
	return 0;
}

static int t_sample(void *userdata, const struct cd_sample *s)
{
	struct state *st = userdata;

	FUZZ_ASSERT(st->open);
	FUZZ_ASSERT(isfinite(s->t) && s->t > st->last_t);
	FUZZ_ASSERT(s->bpm >= 0 && s->bpm <= 255);
	st->last_t = s->t;
	return 0;
}

static int t_end(void *userdata)
{
	struct state *st = userdata;

	FUZZ_ASSERT(st->open);
	st->open = false;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st = {};
	struct cd_import_sink sink = { t_begin, t_sample, t_end, &st };
	char err[160];
	int r;

	if (size > 256 * 1024)
		return 0;
	r = cd_tcx_import(data, size, &sink, err, sizeof(err));
	FUZZ_ASSERT(r == 0 || r == -EBADMSG);
	if (r < 0)
		FUZZ_ASSERT(strncmp(err, "TCX: ", 5) == 0);
	else
		FUZZ_ASSERT(!st.open && st.sessions > 0);
	return 0;
}
