/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the CSV sample reader (lib/csv.h).  Reads to the end
 * or to an error; an error must be -EBADMSG with a "line N: " message whose
 * N is the reader's line, and must then be sticky.  Every sample returned
 * must satisfy what the reader promises (finite, ordered times; bpm in
 * 0..65535; positive finite RR; a known contact value), and writing the
 * samples out and reading them back must give the same bits.
 */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr);                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cd_csv_reader *r = NULL, *back = NULL;
	struct cd_sample s, b;
	char *text = NULL, prefix[32];
	size_t text_size = 0;
	double t_prev = -INFINITY;
	FILE *f;
	int k;

	if (size > 256 * 1024)
		return 0;
	FUZZ_ASSERT(cd_csv_reader_new((const char *)data, size, &r) == 0);
	f = open_memstream(&text, &text_size);
	FUZZ_ASSERT(f);
	FUZZ_ASSERT(cd_csv_write_header(f) == 0);

	while ((k = cd_csv_reader_next(r, &s)) > 0) {
		FUZZ_ASSERT(isfinite(s.t) && s.t >= 0 && s.t >= t_prev);
		FUZZ_ASSERT(s.bpm >= 0 && s.bpm <= 65535);
		FUZZ_ASSERT(s.contact == CD_CONTACT_UNKNOWN || s.contact == CD_CONTACT_LOST ||
			    s.contact == CD_CONTACT_OK);
		FUZZ_ASSERT(isnan(s.energy_kj));
		for (size_t i = 0; i < s.n_rr; i++)
			FUZZ_ASSERT(isfinite(s.rr_ms[i]) && s.rr_ms[i] > 0);
		FUZZ_ASSERT(cd_csv_write_sample(f, &s) == 0);
		t_prev = s.t;
	}
	FUZZ_ASSERT(k == 0 || k == -EBADMSG);
	if (k == 0) {
		FUZZ_ASSERT(cd_csv_reader_error(r) == NULL);
		FUZZ_ASSERT(cd_csv_reader_next(r, &s) == 0);
	} else {
		const char *err = cd_csv_reader_error(r);

		FUZZ_ASSERT(err && strncmp(err, "line ", 5) == 0);
		snprintf(prefix, sizeof(prefix), "line %zu: ", cd_csv_reader_line(r));
		FUZZ_ASSERT(strncmp(err, prefix, strlen(prefix)) == 0);
		FUZZ_ASSERT(cd_csv_reader_line(r) >= 1);
		FUZZ_ASSERT(cd_csv_reader_next(r, &s) == k);
	}
	FUZZ_ASSERT(fclose(f) == 0);

	/* What was read writes out and reads back bit for bit. */
	cd_csv_reader_free(r);
	FUZZ_ASSERT(cd_csv_reader_new(data ? (const char *)data : "", size, &r) == 0);
	FUZZ_ASSERT(cd_csv_reader_new(text, text_size, &back) == 0);
	while (cd_csv_reader_next(r, &s) > 0) {
		FUZZ_ASSERT(cd_csv_reader_next(back, &b) == 1);
		FUZZ_ASSERT(same_bits(s.t, b.t) && same_bits(s.bpm, b.bpm));
		FUZZ_ASSERT(s.contact == b.contact && s.n_rr == b.n_rr);
		for (size_t i = 0; i < s.n_rr; i++)
			FUZZ_ASSERT(same_bits(s.rr_ms[i], b.rr_ms[i]));
	}
	FUZZ_ASSERT(cd_csv_reader_next(back, &b) == 0);

	cd_csv_reader_free(back);
	cd_csv_reader_free(r);
	free(text);
	return 0;
}
