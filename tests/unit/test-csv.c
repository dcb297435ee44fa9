/* SPDX-License-Identifier: MIT */
/*
 * lib/csv.c: the DESIGN §4 sample format.  Well-formed variants (CRLF, BOM,
 * empty fields, trailing blank lines), every malformed form with its line
 * number, large RR lists, the number scanner against strtod(), and a
 * write-then-read property test that must be bit-identical.
 */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cleanup.h"
#include "csv.h"

/* Read every sample of s; returns the final cd_csv_reader_next() value. */
static int read_all(const char *s, size_t size, size_t *ret_n, char *err, size_t err_size,
		    size_t *ret_line)
{
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *r = NULL;
	struct cd_sample smp;
	size_t n = 0;
	int k;

	k = cd_csv_reader_new(s, size, &r);
	if (k < 0)
		return k;
	while ((k = cd_csv_reader_next(r, &smp)) > 0)
		n++;
	if (ret_n)
		*ret_n = n;
	if (err)
		snprintf(err, err_size, "%s", cd_csv_reader_error(r) ? cd_csv_reader_error(r) : "");
	if (ret_line)
		*ret_line = cd_csv_reader_line(r);
	return k;
}

static void test_basic(void)
{
	static const char in[] = "t_s,bpm,rr_ms,contact\n"
				 "0,72,833.984375 820,1\n"
				 "0.25,73,,0\n"
				 "1.5,74.5,810,\n"
				 "2,0,,\n";
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *r = NULL;
	struct cd_sample s;

	CHECK_INT(cd_csv_reader_new(in, strlen(in), &r), 0);

	CHECK_INT(cd_csv_reader_next(r, &s), 1);
	CHECK_INT(cd_csv_reader_line(r), 2);
	CHECK(s.t == 0 && s.bpm == 72);
	CHECK_INT(s.n_rr, 2);
	CHECK(s.rr_ms[0] == 833.984375 && s.rr_ms[1] == 820);
	CHECK_INT(s.contact, CD_CONTACT_OK);
	CHECK(isnan(s.energy_kj));

	CHECK_INT(cd_csv_reader_next(r, &s), 1);
	CHECK(s.t == 0.25 && s.bpm == 73);
	CHECK_INT(s.n_rr, 0);
	CHECK_INT(s.contact, CD_CONTACT_LOST);

	CHECK_INT(cd_csv_reader_next(r, &s), 1);
	CHECK(s.t == 1.5 && s.bpm == 74.5);
	CHECK_INT(s.n_rr, 1);
	CHECK(s.rr_ms[0] == 810);
	CHECK_INT(s.contact, CD_CONTACT_UNKNOWN);

	CHECK_INT(cd_csv_reader_next(r, &s), 1);
	CHECK(s.t == 2 && s.bpm == 0);
	CHECK_INT(s.n_rr, 0);
	CHECK_INT(s.contact, CD_CONTACT_UNKNOWN);
	CHECK_INT(cd_csv_reader_line(r), 5);

	CHECK_INT(cd_csv_reader_next(r, &s), 0);
	CHECK_INT(cd_csv_reader_next(r, &s), 0);
	CHECK(cd_csv_reader_error(r) == NULL);
}

static void test_variants(void)
{
	static const struct {
		const char *in;
		size_t n;
	} ok[] = {
		/* CRLF everywhere, BOM, no final line end, blank trailing lines. */
		{ "t_s,bpm,rr_ms,contact\r\n0,60,1000,1\r\n1,61,,\r\n", 2 },
		{ "\xef\xbb\xbft_s,bpm,rr_ms,contact\n0,60,,1\n", 1 },
		{ "\xef\xbb\xbft_s,bpm,rr_ms,contact\r\n0,60,,1\r\n\r\n", 1 },
		{ "t_s,bpm,rr_ms,contact\n0,60,,1", 1 },
		{ "t_s,bpm,rr_ms,contact\n0,60,,1\r", 1 },
		{ "t_s,bpm,rr_ms,contact\n0,60,,1\n\n\n", 1 },
		{ "t_s,bpm,rr_ms,contact\n0,60,,1\n\r\n \n\t\n", 1 },
		{ "t_s,bpm,rr_ms,contact\n", 0 },
		{ "t_s,bpm,rr_ms,contact", 0 },
		{ "t_s,bpm,rr_ms,contact\n\n", 0 },
		/* Equal times are fine; runs of spaces in the RR list too. */
		{ "t_s,bpm,rr_ms,contact\n1,60,,1\n1,60,,1\n", 2 },
		{ "t_s,bpm,rr_ms,contact\n1,60, 500  600 ,1\n", 1 },
		/* Number forms: exponent, leading '+', ".5", "5.", "-0". */
		{ "t_s,bpm,rr_ms,contact\n1e1,6e1,5E+2 .5e3,1\n", 1 },
		{ "t_s,bpm,rr_ms,contact\n+1,60.,.5 5.,1\n", 1 },
		{ "t_s,bpm,rr_ms,contact\n-0,-0,,1\n", 1 },
		{ "t_s,bpm,rr_ms,contact\n0,65535,,1\n", 1 },
		{ "t_s,bpm,rr_ms,contact\n1e-400,60,,1\n", 1 }, /* underflows to 0 */
	};

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		char err[160];
		size_t n = SIZE_MAX;
		int k = read_all(ok[i].in, strlen(ok[i].in), &n, err, sizeof(err), NULL);

		if (k != 0)
			fprintf(stderr, "ok[%zu]: %s\n", i, err);
		CHECK_INT(k, 0);
		CHECK_INT(n, ok[i].n);
	}
}

static void test_crlf_values(void)
{
	static const char in[] = "\xef\xbb\xbft_s,bpm,rr_ms,contact\r\n3.5,150,400 401,0\r\n";
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *r = NULL;
	struct cd_sample s;

	CHECK_INT(cd_csv_reader_new(in, strlen(in), &r), 0);
	CHECK_INT(cd_csv_reader_next(r, &s), 1);
	CHECK(s.t == 3.5 && s.bpm == 150);
	CHECK_INT(s.n_rr, 2);
	CHECK(s.rr_ms[0] == 400 && s.rr_ms[1] == 401);
	CHECK_INT(s.contact, CD_CONTACT_LOST);
	CHECK_INT(cd_csv_reader_next(r, &s), 0);
}

#define H "t_s,bpm,rr_ms,contact\n"

static void test_malformed(void)
{
	static const struct {
		const char *in;
		size_t size; /* 0: strlen */
		size_t line;
		const char *reason; /* substring of the message after "line N: " */
	} bad[] = {
		{ "", 0, 1, "missing header" },
		{ "\xef\xbb\xbf", 0, 1, "missing header" },
		{ "t,bpm,rr,contact\n0,60,,1\n", 0, 1, "expected header" },
		{ "t_s,bpm,rr_ms,contact,extra\n", 0, 1, "expected header" },
		{ "T_S,BPM,RR_MS,CONTACT\n", 0, 1, "expected header" },
		{ "\n" H, 0, 1, "expected header" },
		{ H "0,60,,1,\n", 0, 2, "too many fields" },
		{ H "0,60,,1\n1,60,1\n", 0, 3, "3 fields" },
		{ H "0\n", 0, 2, "1 field," },
		{ H "0,60,,1\n\n1,60,,1\n", 0, 3, "empty line" },
		{ H "abc,60,,1\n", 0, 2, "t_s: not a number (unexpected 'a')" },
		{ H ",60,,1\n", 0, 2, "t_s: empty" },
		{ H "nan,60,,1\n", 0, 2, "t_s: not a number" },
		{ H "inf,60,,1\n", 0, 2, "t_s: not a number" },
		{ H "1e999,60,,1\n", 0, 2, "t_s: not finite" },
		{ H "0x10,60,,1\n", 0, 2, "t_s: not a number (unexpected 'x')" },
		{ H "-1,60,,1\n", 0, 2, "t_s: negative" },
		{ H "5,60,,1\n4.5,60,,1\n", 0, 3, "t_s: time goes backwards (4.5 after 5)" },
		{ H " 1,60,,1\n", 0, 2, "t_s: not a number (unexpected space)" },
		{ H "1 ,60,,1\n", 0, 2, "t_s: not a number (unexpected space)" },
		{ H "1.2.3,60,,1\n", 0, 2, "t_s: not a number" },
		{ H "1e,60,,1\n", 0, 2, "t_s: not a number" },
		{ H ".,60,,1\n", 0, 2, "t_s: not a number" },
		{ H "0,,,1\n", 0, 2, "bpm: empty" },
		{ H "0,-1,,1\n", 0, 2, "bpm: outside 0..65535" },
		{ H "0,65536,,1\n", 0, 2, "bpm: outside 0..65535" },
		{ H "0,1e999,,1\n", 0, 2, "bpm: outside 0..65535" },
		{ H "0,NaN,,1\n", 0, 2, "bpm: not a number" },
		{ H "0,60bpm,,1\n", 0, 2, "bpm: not a number (unexpected 'b')" },
		{ H "0,\"60\",,1\n", 0, 2, "bpm: not a number (unexpected '\"')" },
		{ H "0,60,0,1\n", 0, 2, "rr_ms: value 1 is not positive" },
		{ H "0,60,500 -3,1\n", 0, 2, "rr_ms: value 2 is not positive" },
		{ H "0,60,500 1e999,1\n", 0, 2, "rr_ms: value 2 is not finite" },
		{ H "0,60,500;600,1\n", 0, 2, "rr_ms: not a number (unexpected ';')" },
		{ H "0,60,500\t600,1\n", 0, 2, "rr_ms: not a number (unexpected tab)" },
		{ H "0,60,inf,1\n", 0, 2, "rr_ms: not a number" },
		{ H "0,60,,2\n", 0, 2, "contact: expected 1, 0 or empty" },
		{ H "0,60,,yes\n", 0, 2, "contact: expected 1, 0 or empty" },
		{ H "0,60,,1 \n", 0, 2, "contact: expected 1, 0 or empty" },
		{ H "0,60,,11\n", 0, 2, "contact: expected 1, 0 or empty" },
		{ H "0,60,,1\r\r\n", 0, 2, "contact: expected 1, 0 or empty" },
		{ H "0,6\r0,,1\n", 0, 2, "bpm: not a number (unexpected carriage return)" },
		{ H "0,60,,1\n1,6\0000,,1\n", sizeof(H "0,60,,1\n1,6\0000,,1\n") - 1, 3,
		  "embedded NUL byte" },
		{ H "0,60,,1\n1,60,,1\n\0", sizeof(H "0,60,,1\n1,60,,1\n\0") - 1, 4,
		  "embedded NUL byte" },
		{ H "0,60,,\xc3\xa9\n", 0, 2, "contact: expected" },
		{ H "\xff,60,,1\n", 0, 2, "t_s: not a number (unexpected 0xff)" },
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char err[160], want[160];
		size_t line = 0, size = bad[i].size ? bad[i].size : strlen(bad[i].in);
		int k = read_all(bad[i].in, size, NULL, err, sizeof(err), &line);

		snprintf(want, sizeof(want), "line %zu: ", bad[i].line);
		CHECK_INT(k, -EBADMSG);
		CHECK_INT(line, bad[i].line);
		if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, bad[i].reason)) {
			check_failures++;
			fprintf(stderr, "bad[%zu]: got \"%s\", want \"%s…%s\"\n", i, err, want,
				bad[i].reason);
		}
	}
}

/* After an error, every further call returns it again. */
static void test_sticky(void)
{
	static const char in[] = H "0,60,,1\nx,60,,1\n2,60,,1\n";
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *r = NULL;
	struct cd_sample s;

	CHECK_INT(cd_csv_reader_new(in, strlen(in), &r), 0);
	CHECK_INT(cd_csv_reader_next(r, &s), 1);
	CHECK_INT(cd_csv_reader_next(r, &s), -EBADMSG);
	CHECK_INT(cd_csv_reader_next(r, &s), -EBADMSG);
	CHECK_STR(cd_csv_reader_error(r), "line 3: t_s: not a number (unexpected 'x')");
	CHECK_INT(cd_csv_reader_line(r), 3);
}

static char *xmalloc(size_t n)
{
	char *p = malloc(n);

	if (!p)
		abort();
	return p;
}

static void test_long_lines(void)
{
	const size_t n_rr = 8000; /* "1234.5 " each: 56 000 bytes */
	size_t cap = 100 + n_rr * 8, len;
	_cleanup_free_ char *buf = xmalloc(cap);
	_cleanup_free_ char *big = NULL;
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *r = NULL;
	struct cd_sample s;
	char err[160];
	size_t line;
	bool all = true;
	int k;

	len = (size_t)snprintf(buf, cap, H "7,120,");
	for (size_t i = 0; i < n_rr; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%zu.5", i ? " " : "",
					300 + i % 1700);
	len += (size_t)snprintf(buf + len, cap - len, ",1\n");

	CHECK_INT(cd_csv_reader_new(buf, len, &r), 0);
	CHECK_INT(cd_csv_reader_next(r, &s), 1);
	CHECK_INT(s.n_rr, n_rr);
	for (size_t i = 0; i < n_rr && i < s.n_rr; i++)
		all = all && s.rr_ms[i] == (double)(300 + i % 1700) + 0.5;
	CHECK(all);
	CHECK_INT(cd_csv_reader_next(r, &s), 0);

	/* 65 536 bytes is the longest line; one more is an error, not a crash. */
	big = xmalloc(200000);
	for (size_t extra = 0; extra <= 1; extra++) {
		size_t body = 65536 + extra;

		len = (size_t)snprintf(big, 200000, H "0,60,");
		/* "500 500 ... 500" then ",1" padded to exactly body bytes. */
		while (len - strlen(H) < body - 2 - 4)
			len += (size_t)snprintf(big + len, 200000 - len, "500 ");
		while (len - strlen(H) < body - 2)
			big[len++] = ' ';
		memcpy(big + len, ",1\n", 3);
		len += 3;
		CHECK_INT(len - strlen(H) - 1, body);
		k = read_all(big, len, NULL, err, sizeof(err), &line);
		if (extra == 0) {
			CHECK_INT(k, 0);
		} else {
			CHECK_INT(k, -EBADMSG);
			CHECK_INT(line, 2);
			CHECK_STR(err, "line 2: line longer than 65536 bytes");
		}
		/* The same without the final line end, and with a very long one. */
		if (extra == 1) {
			CHECK_INT(read_all(big, len - 1, NULL, err, sizeof(err), &line), -EBADMSG);
			CHECK_STR(err, "line 2: line longer than 65536 bytes");
		}
	}
	memset(big + strlen(H), '1', 200000 - strlen(H));
	CHECK_INT(read_all(big, 200000, NULL, err, sizeof(err), &line), -EBADMSG);
	CHECK_STR(err, "line 2: line longer than 65536 bytes");
}

/* xoshiro256** with a fixed seed: the same cases on every run. */
static uint64_t rng_s[4] = { 0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9, 0x94d049bb133111eb,
			     0x2545f4914f6cdd1d };

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng(void)
{
	uint64_t result = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;

	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	return result;
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
	return (double)(rng() >> 11) * 0x1.0p-53;
}

/* A positive double of one of several shapes a session can produce. */
static double rng_value(double scale)
{
	switch (rng() % 6) {
	case 0:
		return (double)(1 + rng() % 2000); /* integer */
	case 1:
		return (double)(1 + rng() % 2048) * 1000.0 / 1024.0; /* BLE RR in ms */
	case 2:
		return (double)(1 + rng() % 100000) / 100.0; /* two decimals */
	case 3:
		return scale * rng_unit() + 0x1p-30; /* full 53-bit mantissa */
	case 4:
		return ldexp(1.0 + rng_unit(), (int)(rng() % 120) - 60); /* wide exponents */
	default:
		return nextafter((double)(1 + rng() % 1000) / 10.0, INFINITY); /* 17 digits */
	}
}

static bool same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static void test_round_trip(void)
{
	enum { N = 20000, MAX_RR = 6 };
	static double rr[N][MAX_RR];
	static struct cd_sample in[N];
	_cleanup_free_ char *text = NULL;
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *r = NULL;
	size_t size = 0, mismatches = 0, longest = 0;
	double t = 0;
	FILE *f;

	for (size_t i = 0; i < N; i++) {
		size_t n = rng() % (MAX_RR + 1);

		t += rng() % 4 == 0 ? 0.25 : rng_value(3.0) * (rng() % 2 ? 1 : 0.001);
		for (size_t j = 0; j < n; j++)
			rr[i][j] = rng_value(2000.0);
		in[i] = (struct cd_sample){
			.t = t,
			.bpm = rng() % 3 ? (double)(rng() % 256) : fmin(rng_value(250.0), 65535),
			.contact = (enum cd_contact)((int)(rng() % 3) - 1),
			.energy_kj = NAN,
			.rr_ms = rr[i],
			.n_rr = n,
		};
	}

	f = open_memstream(&text, &size);
	if (!f)
		abort();
	CHECK_INT(cd_csv_write_header(f), 0);
	for (size_t i = 0; i < N; i++)
		CHECK_INT(cd_csv_write_sample(f, &in[i]), 0);
	CHECK_INT(fclose(f), 0);

	/* Readable: no token needs more than 17 significant digits (+ sign, dot, exponent). */
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, ", \n");

		longest = n > longest ? n : longest;
		p += n + (p[n] != '\0');
	}
	CHECK(longest <= 24);

	CHECK_INT(cd_csv_reader_new(text, size, &r), 0);
	for (size_t i = 0; i < N; i++) {
		struct cd_sample s;
		bool same;

		if (cd_csv_reader_next(r, &s) != 1) {
			fprintf(stderr, "round trip: %s\n", cd_csv_reader_error(r));
			check_failures++;
			return;
		}
		same = same_bits(s.t, in[i].t) && same_bits(s.bpm, in[i].bpm) &&
		       s.contact == in[i].contact && s.n_rr == in[i].n_rr && isnan(s.energy_kj);
		for (size_t j = 0; same && j < s.n_rr; j++)
			same = same_bits(s.rr_ms[j], in[i].rr_ms[j]);
		if (!same && mismatches++ < 5)
			fprintf(stderr, "round trip: sample %zu differs (t %.17g vs %.17g)\n", i,
				s.t, in[i].t);
	}
	CHECK_INT(mismatches, 0);
	{
		struct cd_sample s;

		CHECK_INT(cd_csv_reader_next(r, &s), 0);
	}
}

/* The shortest round-tripping form is what a person would write. */
static void test_writer_text(void)
{
	static const double rr[] = { 0.1, 833.984375, 1.0 / 3.0 };
	struct cd_sample s = {
		.t = 12.25, .bpm = 142, .contact = CD_CONTACT_OK, .rr_ms = rr, .n_rr = 3,
	};
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		abort();
	CHECK_INT(cd_csv_write_header(f), 0);
	CHECK_INT(cd_csv_write_sample(f, &s), 0);
	s = (struct cd_sample){ .t = 0.3, .bpm = 0, .contact = CD_CONTACT_UNKNOWN };
	CHECK_INT(cd_csv_write_sample(f, &s), 0);
	s.contact = CD_CONTACT_LOST;
	s.t = 1e20;
	CHECK_INT(cd_csv_write_sample(f, &s), 0);

	/* What the reader would refuse is refused here. */
	s.t = NAN;
	CHECK_INT(cd_csv_write_sample(f, &s), -EINVAL);
	s.t = -1;
	CHECK_INT(cd_csv_write_sample(f, &s), -EINVAL);
	s.t = 1;
	s.bpm = INFINITY;
	CHECK_INT(cd_csv_write_sample(f, &s), -EINVAL);
	s.bpm = 70000;
	CHECK_INT(cd_csv_write_sample(f, &s), -EINVAL);
	s.bpm = 60;
	s.rr_ms = rr;
	s.n_rr = 1;
	s.contact = (enum cd_contact)5;
	CHECK_INT(cd_csv_write_sample(f, &s), -EINVAL);
	CHECK_INT(fclose(f), 0);

	CHECK_STR(text, "t_s,bpm,rr_ms,contact\n"
			"12.25,142,0.1 833.984375 0.3333333333333333,1\n"
			"0.3,0,,\n"
			"1e+20,0,,0\n");
}

/*
 * cd_csv_format_sample(): the writer's line, snprintf-style; a line longer
 * than the writer's stack buffer (a long RR list) comes out whole.
 */
static void test_format_sample(void)
{
	static const double rr[] = { 0.1, 833.984375 };
	double many[100];
	struct cd_sample s = {
		.t = 12.25, .bpm = 142, .contact = CD_CONTACT_OK, .rr_ms = rr, .n_rr = 2,
	};
	const char *line = "12.25,142,0.1 833.984375,1\n";
	char buf[64], small[8];
	_cleanup_free_ char *text = NULL, *expected = NULL;
	size_t size = 0, len = 0;
	FILE *f;

	CHECK_INT(cd_csv_format_sample(buf, sizeof(buf), &s), strlen(line));
	CHECK_STR(buf, line);
	/* Too small: the length needed, and as much as fits, terminated. */
	CHECK_INT(cd_csv_format_sample(small, sizeof(small), &s), strlen(line));
	CHECK_STR(small, "12.25,1");
	CHECK_INT(cd_csv_format_sample(NULL, 0, &s), strlen(line));
	CHECK_INT(cd_csv_format_sample(NULL, 1, &s), -EINVAL);
	s.bpm = -1;
	CHECK_INT(cd_csv_format_sample(buf, sizeof(buf), &s), -EINVAL);

	for (size_t i = 0; i < ELEMENTSOF(many); i++)
		many[i] = 1000.0 / 3.0 + (double)i;
	s = (struct cd_sample){ .t = 1, .bpm = 60, .contact = CD_CONTACT_UNKNOWN,
				.rr_ms = many, .n_rr = ELEMENTSOF(many) };
	f = open_memstream(&text, &size);
	if (!f)
		abort();
	CHECK_INT(cd_csv_write_sample(f, &s), 0);
	CHECK_INT(fclose(f), 0);
	len = (size_t)cd_csv_format_sample(NULL, 0, &s);
	CHECK(len > 256);
	expected = xmalloc(len + 1);
	CHECK_INT(cd_csv_format_sample(expected, len + 1, &s), len);
	CHECK_INT(size, len);
	CHECK_STR(text, expected);
	CHECK_STR(CD_CSV_HEADER_LINE, "t_s,bpm,rr_ms,contact\n");
}

/* The hand-written scanner gives exactly what strtod() gives. */
static void test_number_scanner(void)
{
	enum { N = 200000, BUF = 4096 };
	_cleanup_free_ char *buf = xmalloc(BUF);
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *r = NULL;
	char tok[64];
	size_t len = 0, starts[64], n_line = 0, mismatches = 0;
	size_t line_first = 0;
	struct cd_sample s;
	double expect[64];

	for (size_t i = 0; i < N; i += n_line) {
		size_t k = 0;

		len = (size_t)snprintf(buf, 64, H "0,60,");
		n_line = 1 + rng() % 40;
		for (size_t j = 0; j < n_line; j++) {
			int intd = (int)(rng() % 12), fracd = (int)(rng() % 22), e = 0;

			k = 0;
			if (intd == 0 && fracd == 0)
				intd = 1;
			for (int d = 0; d < intd; d++)
				tok[k++] = (char)('0' + (d == 0 ? 1 + rng() % 9 : rng() % 10));
			if (fracd > 0 || rng() % 8 == 0)
				tok[k++] = '.';
			for (int d = 0; d < fracd; d++)
				tok[k++] = (char)('0' + (intd == 0 && d == fracd - 1 ? 1 + rng() % 9
										     : rng() % 10));
			if (rng() % 4 == 0) {
				e = (int)(rng() % 80) - 40;
				k += (size_t)snprintf(tok + k, sizeof(tok) - k, "e%d", e);
			}
			tok[k] = '\0';
			expect[j] = strtod(tok, NULL);
			starts[j] = len;
			len += (size_t)snprintf(buf + len, BUF - len, "%s%s",
						j ? " " : "", tok);
		}
		len += (size_t)snprintf(buf + len, BUF - len, ",1\n");

		r = cd_csv_reader_free(r);
		CHECK_INT(cd_csv_reader_new(buf, len, &r), 0);
		if (cd_csv_reader_next(r, &s) != 1) {
			fprintf(stderr, "scanner: %s\n", cd_csv_reader_error(r));
			check_failures++;
			return;
		}
		for (size_t j = 0; j < n_line && j < s.n_rr; j++)
			if (!same_bits(s.rr_ms[j], expect[j]) && mismatches++ < 5)
				fprintf(stderr, "scanner: %.*s → %.17g, strtod %.17g\n",
					(int)strcspn(buf + starts[j] + (j > 0), " ,"),
					buf + starts[j] + (j > 0), s.rr_ms[j], expect[j]);
		CHECK_INT(s.n_rr, n_line);
		line_first += n_line;
	}
	CHECK_INT(mismatches, 0);
	CHECK(line_first >= N);
}

int main(void)
{
	test_basic();
	test_variants();
	test_crlf_values();
	test_malformed();
	test_sticky();
	test_long_lines();
	test_round_trip();
	test_writer_text();
	test_format_sample();
	test_number_scanner();
	return check_exit("test-csv");
}
