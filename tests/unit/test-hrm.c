/* SPDX-License-Identifier: MIT */
/*
 * BLE Heart Rate Measurement decoder: every vector of PROTOCOLS §5.1 and
 * §5.2, every malformed form, prefixes of a full value, and the 512-byte
 * bound.  Each byte table carries one comment per field.
 */

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cleanup.h"
#include "hrm.h"

/* ---- §5.1 public vectors ---- */

/* B1: Nordic onHeartRateMeasurementReceived_simple */
static const uint8_t b1[] = {
	0x00, /* flags: uint8 HR, contact n/a, no EE, no RR */
	0x55, /* HR 85 */
};

/* B2: Nordic _noContact */
static const uint8_t b2[] = {
	0x04, /* flags: uint8 HR, contact supported, not detected */
	0xff, /* HR 255 */
};

/* B3: Nordic _uint8 */
static const uint8_t b3[] = {
	0x1e,	    /* flags: uint8 HR, contact supported + detected, EE, RR */
	0x55,	    /* HR 85 */
	0x32, 0x00, /* EE 50 kJ */
	0x21, 0x00, /* RR[0] 33/1024 s = 32.227 ms */
};

/* B4: Nordic _uint16 */
static const uint8_t b4[] = {
	0x1f,	    /* flags: uint16 HR, contact supported + detected, EE, RR */
	0x01, 0x01, /* HR 257 */
	0x32, 0x01, /* EE 306 kJ */
	0x01, 0x00, /* RR[0] 1 */
	0x02, 0x01, /* RR[1] 258 */
	0xff, 0xff, /* RR[2] 65535 */
};

/* B6: Polar test_HrFormatUint8 (two values) */
static const uint8_t b6a[] = {
	0x00, /* flags: uint8 HR */
	0xff, /* HR 255 */
};
static const uint8_t b6b[] = {
	0x00, /* flags: uint8 HR */
	0x7f, /* HR 127 */
};

/* B7: Polar test_HrFormatUint16 (two values) */
static const uint8_t b7a[] = {
	0x01,	    /* flags: uint16 HR */
	0x80, 0x80, /* HR 32896 */
};
static const uint8_t b7b[] = {
	0x01,	    /* flags: uint16 HR */
	0x7f, 0x7f, /* HR 32639 */
};

/* B8: Polar test_SensorContactSupported (two values) */
static const uint8_t b8a[] = {
	0x06, /* flags: uint8 HR, contact supported + detected */
	0x00, /* HR 0 */
};
static const uint8_t b8b[] = {
	0x04, /* flags: uint8 HR, contact supported, not detected */
	0x00, /* HR 0 */
};

/* B9: Polar test_SensorContactNotSupported (two values) */
static const uint8_t b9a[] = {
	0x02, /* flags: uint8 HR, contact status bit without support bit = not supported */
	0x00, /* HR 0 */
};
static const uint8_t b9b[] = {
	0x00, /* flags: uint8 HR, contact not supported */
	0x00, /* HR 0 */
};

/* B10: Polar test_EnergyExpended */
static const uint8_t b10[] = {
	0x09,	    /* flags: uint16 HR, EE */
	0x00, 0x00, /* HR 0 */
	0xff, 0xff, /* EE 65535 kJ (saturated) */
};

/* B11: Polar test_EnergyExpended */
static const uint8_t b11[] = {
	0x08,	    /* flags: uint8 HR, EE */
	0x00,	    /* HR 0 */
	0x7f, 0x80, /* EE 32895 kJ */
};

/* B12: Polar test_RRinterval */
static const uint8_t b12[] = {
	0x10,	    /* flags: uint8 HR, RR */
	0x00,	    /* HR 0 */
	0xff, 0xff, /* RR[0] 65535 -> 63999 ms rounded */
};

/* B13: Polar test_RRinterval */
static const uint8_t b13[] = {
	0x11,	    /* flags: uint16 HR, RR */
	0x00, 0x00, /* HR 0 */
	0xff, 0xff, /* RR[0] 65535 -> 63999 ms rounded */
	0x7f, 0x80, /* RR[1] 32895 -> 32124 ms rounded */
};

/* B14: Polar test_RRinterval */
static const uint8_t b14[] = {
	0x11,	    /* flags: uint16 HR, RR */
	0x00, 0x00, /* HR 0 */
	0x00, 0x00, /* RR[0] 0 -> 0 ms */
};

/* B15: movisens SmartGattLib HeartRateMeasurementTest */
static const uint8_t b15[] = {
	0x16,	    /* flags: uint8 HR, contact supported + detected, RR */
	0x48,	    /* HR 72 */
	0x54, 0x01, /* RR[0] 340 = 0.33203125 s */
	0xec, 0x02, /* RR[1] 748 = 0.73046875 s */
};

/* ---- §5.2 derived vectors ---- */

/* BD1: BlueZ example server shape */
static const uint8_t bd1[] = {
	0x06, /* flags: uint8 HR, contact supported + detected */
	0x5a, /* HR 90 */
};

/* BD2 */
static const uint8_t bd2[] = {
	0x0e,	    /* flags: uint8 HR, contact supported + detected, EE */
	0x5a,	    /* HR 90 */
	0x00, 0x00, /* EE 0 kJ */
};

/* BD3 */
static const uint8_t bd3[] = {
	0x0e,	    /* flags: uint8 HR, contact supported + detected, EE */
	0x64,	    /* HR 100 */
	0x0a, 0x00, /* EE 10 kJ */
};

/* BD4: most RR for uint8 HR without EE at ATT_MTU 23 (20 bytes) */
static const uint8_t bd4[] = {
	0x10,	    /* flags: uint8 HR, RR */
	0x48,	    /* HR 72 */
	0x00, 0x04, /* RR[0] 1024 = 1000 ms */
	0x00, 0x04, /* RR[1] 1024 */
	0x00, 0x04, /* RR[2] 1024 */
	0x00, 0x04, /* RR[3] 1024 */
	0x00, 0x04, /* RR[4] 1024 */
	0x00, 0x04, /* RR[5] 1024 */
	0x00, 0x04, /* RR[6] 1024 */
	0x00, 0x04, /* RR[7] 1024 */
	0x00, 0x04, /* RR[8] 1024 */
};

/* BD5: most RR for uint8 HR + EE at ATT_MTU 23 (20 bytes) */
static const uint8_t bd5[] = {
	0x18,	    /* flags: uint8 HR, EE, RR */
	0x48,	    /* HR 72 */
	0x10, 0x00, /* EE 16 kJ */
	0x00, 0x04, /* RR[0] 1024 = 1000 ms */
	0x00, 0x04, /* RR[1] 1024 */
	0x00, 0x04, /* RR[2] 1024 */
	0x00, 0x04, /* RR[3] 1024 */
	0x00, 0x04, /* RR[4] 1024 */
	0x00, 0x04, /* RR[5] 1024 */
	0x00, 0x04, /* RR[6] 1024 */
	0x00, 0x04, /* RR[7] 1024 */
};

/* BD6: most RR for uint16 HR without EE at ATT_MTU 23 (19 bytes) */
static const uint8_t bd6[] = {
	0x11,	    /* flags: uint16 HR, RR */
	0x48, 0x00, /* HR 72 */
	0x00, 0x04, /* RR[0] 1024 = 1000 ms */
	0x00, 0x04, /* RR[1] 1024 */
	0x00, 0x04, /* RR[2] 1024 */
	0x00, 0x04, /* RR[3] 1024 */
	0x00, 0x04, /* RR[4] 1024 */
	0x00, 0x04, /* RR[5] 1024 */
	0x00, 0x04, /* RR[6] 1024 */
	0x00, 0x04, /* RR[7] 1024 */
};

/* BD7: most RR for uint16 HR + EE at ATT_MTU 23 (19 bytes) */
static const uint8_t bd7[] = {
	0x19,	    /* flags: uint16 HR, EE, RR */
	0x48, 0x00, /* HR 72 */
	0x10, 0x00, /* EE 16 kJ */
	0x00, 0x04, /* RR[0] 1024 = 1000 ms */
	0x00, 0x04, /* RR[1] 1024 */
	0x00, 0x04, /* RR[2] 1024 */
	0x00, 0x04, /* RR[3] 1024 */
	0x00, 0x04, /* RR[4] 1024 */
	0x00, 0x04, /* RR[5] 1024 */
	0x00, 0x04, /* RR[6] 1024 */
};

/* BD8: reserved bits ignored */
static const uint8_t bd8[] = {
	0xe0, /* flags: reserved bits 5-7 set; uint8 HR, nothing else */
	0x3c, /* HR 60 */
};

/* BD14: a trailing byte no flag announces is accepted and ignored */
static const uint8_t bd14[] = {
	0x00, /* flags: uint8 HR, nothing else */
	0x3c, /* HR 60 */
	0x11, /* not announced: ignored */
};

/* ---- Ours: every flag bit at once ---- */

static const uint8_t all_flags[] = {
	0xff,	    /* flags: reserved 5-7, RR, EE, contact supported + detected, uint16 HR */
	0x3c, 0x00, /* HR 60 */
	0x05, 0x00, /* EE 5 kJ */
	0x00, 0x04, /* RR[0] 1024 = 1000 ms */
};

#define RR_N 9

struct good {
	const char *name;
	const uint8_t *data;
	size_t size;
	unsigned bpm;
	enum cd_contact contact;
	long energy_kj; /* -1: absent */
	size_t n_rr;
	uint16_t rr_raw[RR_N];
	double rr_ms[RR_N]; /* as the source states it */
	double rr_tol;	    /* the source's precision */
	size_t n_trailing;
};

#define VEC(v) .name = #v, .data = v, .size = sizeof(v)
/* clang-format off */
#define RR1024 { 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024 }
#define MS1000 { 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000 }
/* clang-format on */

static const struct good goods[] = {
	{VEC(b1), .bpm = 85, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1},
	{VEC(b2), .bpm = 255, .contact = CD_CONTACT_LOST, .energy_kj = -1},
	{VEC(b3), .bpm = 85, .contact = CD_CONTACT_OK, .energy_kj = 50, .n_rr = 1, .rr_raw = {33},
	 .rr_ms = {32.227}, .rr_tol = 0.0005},
	{VEC(b4), .bpm = 257, .contact = CD_CONTACT_OK, .energy_kj = 306, .n_rr = 3,
	 .rr_raw = {1, 258, 65535}, .rr_ms = {0.9765625, 251.953125, 63999.0234375}},
	{VEC(b6a), .bpm = 255, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1},
	{VEC(b6b), .bpm = 127, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1},
	{VEC(b7a), .bpm = 32896, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1},
	{VEC(b7b), .bpm = 32639, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1},
	{VEC(b8a), .bpm = 0, .contact = CD_CONTACT_OK, .energy_kj = -1},
	{VEC(b8b), .bpm = 0, .contact = CD_CONTACT_LOST, .energy_kj = -1},
	{VEC(b9a), .bpm = 0, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1},
	{VEC(b9b), .bpm = 0, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1},
	{VEC(b10), .bpm = 0, .contact = CD_CONTACT_UNKNOWN, .energy_kj = 65535},
	{VEC(b11), .bpm = 0, .contact = CD_CONTACT_UNKNOWN, .energy_kj = 32895},
	/* Polar rounds to whole ms: tolerance 0.5 */
	{VEC(b12), .bpm = 0, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1, .n_rr = 1,
	 .rr_raw = {65535}, .rr_ms = {63999}, .rr_tol = 0.5},
	{VEC(b13), .bpm = 0, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1, .n_rr = 2,
	 .rr_raw = {65535, 32895}, .rr_ms = {63999, 32124}, .rr_tol = 0.5},
	{VEC(b14), .bpm = 0, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1, .n_rr = 1,
	 .rr_raw = {0}, .rr_ms = {0}},
	{VEC(b15), .bpm = 72, .contact = CD_CONTACT_OK, .energy_kj = -1, .n_rr = 2,
	 .rr_raw = {340, 748}, .rr_ms = {332.03125, 730.46875}},
	{VEC(bd1), .bpm = 90, .contact = CD_CONTACT_OK, .energy_kj = -1},
	{VEC(bd2), .bpm = 90, .contact = CD_CONTACT_OK, .energy_kj = 0},
	{VEC(bd3), .bpm = 100, .contact = CD_CONTACT_OK, .energy_kj = 10},
	{VEC(bd4), .bpm = 72, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1, .n_rr = 9,
	 .rr_raw = RR1024, .rr_ms = MS1000},
	{VEC(bd5), .bpm = 72, .contact = CD_CONTACT_UNKNOWN, .energy_kj = 16, .n_rr = 8,
	 .rr_raw = RR1024, .rr_ms = MS1000},
	{VEC(bd6), .bpm = 72, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1, .n_rr = 8,
	 .rr_raw = RR1024, .rr_ms = MS1000},
	{VEC(bd7), .bpm = 72, .contact = CD_CONTACT_UNKNOWN, .energy_kj = 16, .n_rr = 7,
	 .rr_raw = RR1024, .rr_ms = MS1000},
	{VEC(bd8), .bpm = 60, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1},
	{VEC(bd14), .bpm = 60, .contact = CD_CONTACT_UNKNOWN, .energy_kj = -1, .n_trailing = 1},
	{VEC(all_flags), .bpm = 60, .contact = CD_CONTACT_OK, .energy_kj = 5, .n_rr = 1,
	 .rr_raw = {1024}, .rr_ms = {1000}},
};

static void test_good(const struct good *g)
{
	struct cd_hrm h;
	struct cd_sample s;
	const char *reason = "untouched";
	const double t = 1234.5;

	fprintf(stderr, "good %s\n", g->name);

	CHECK_INT(cd_hrm_decode(g->data, g->size, &h, &reason), 0);
	CHECK_STR(reason, "untouched");
	CHECK_INT(h.bpm, g->bpm);
	CHECK_INT(h.contact_supported, g->contact != CD_CONTACT_UNKNOWN);
	CHECK_INT(h.contact_detected, g->contact == CD_CONTACT_OK);
	CHECK_INT(h.has_energy, g->energy_kj >= 0);
	CHECK_INT(h.energy_kj, g->energy_kj >= 0 ? g->energy_kj : 0);
	CHECK_INT(h.n_rr, g->n_rr);
	CHECK_INT(h.n_trailing, g->n_trailing);
	for (size_t i = 0; i < g->n_rr && i < h.n_rr; i++) {
		CHECK_INT(h.rr_raw[i], g->rr_raw[i]);
		/* The value the source quotes, to its precision… */
		CHECK_NEAR(h.rr_ms[i], g->rr_ms[i], g->rr_tol);
		/* …and the exact rule-7 conversion. */
		CHECK(h.rr_ms[i] == g->rr_raw[i] * 1000.0 / 1024.0);
	}

	/* A NULL reason pointer is fine on success too. */
	CHECK_INT(cd_hrm_decode(g->data, g->size, &h, NULL), 0);

	cd_hrm_to_sample(&h, t, &s);
	CHECK_NEAR(s.t, t, 0);
	CHECK_NEAR(s.bpm, g->bpm, 0);
	CHECK_INT(s.contact, g->contact);
	CHECK_NEAR(s.energy_kj, g->energy_kj >= 0 ? (double)g->energy_kj : NAN, 0);
	CHECK_INT(s.n_rr, g->n_rr);
	if (g->n_rr > 0)
		CHECK(s.rr_ms == h.rr_ms);
	else
		CHECK(s.rr_ms == NULL);
}

/* ---- Malformed values ---- */

/* B5: Nordic onInvalidDataReceived */
static const uint8_t b5[] = {
	0x17,	    /* flags: uint16 HR, contact supported + detected, RR */
	0x01, 0x01, /* HR 257 */
		    /* RR flagged, no RR bytes */
};

/* BD9 */
static const uint8_t bd9[] = {
	0x10,	    /* flags: uint8 HR, RR */
	0x3c,	    /* HR 60 */
	0x00, 0x04, /* RR[0] 1024 */
	0x01,	    /* odd byte: half an RR */
};

/* BD10 */
static const uint8_t bd10[] = {
	0x01, /* flags: uint16 HR */
	0x3c, /* HR low byte; high byte missing */
};

/* BD12 */
static const uint8_t bd12[] = {
	0x08, /* flags: uint8 HR, EE */
	0x3c, /* HR 60 */
	0x05, /* EE low byte; high byte missing */
};

/* BD13 */
static const uint8_t bd13[] = {
	0x10, /* flags: uint8 HR, RR */
	0x3c, /* HR 60 */
	      /* RR flagged, no RR bytes */
};

/* Ours: flags only */
static const uint8_t flags_only[] = {
	0x00, /* flags: uint8 HR; HR missing */
};

/* Ours: flags only, uint16 */
static const uint8_t flags_only16[] = {
	0x01, /* flags: uint16 HR; HR missing */
};

/* Ours: EE missing entirely */
static const uint8_t ee_missing[] = {
	0x09,	    /* flags: uint16 HR, EE */
	0x3c, 0x00, /* HR 60 */
		    /* EE flagged, no EE bytes */
};

/* Ours: EE truncated before the RR it announces */
static const uint8_t ee_trunc_rr[] = {
	0x18, /* flags: uint8 HR, EE, RR */
	0x48, /* HR 72 */
	0x10, /* EE low byte; high byte missing */
};

/* Ours: EE complete, RR flagged but absent (BD5 cut after EE) */
static const uint8_t ee_then_no_rr[] = {
	0x18,	    /* flags: uint8 HR, EE, RR */
	0x48,	    /* HR 72 */
	0x10, 0x00, /* EE 16 kJ */
		    /* RR flagged, no RR bytes */
};

/* Ours: uint16 + EE + an odd RR byte */
static const uint8_t ee_odd_rr[] = {
	0x19,	    /* flags: uint16 HR, EE, RR */
	0x48, 0x00, /* HR 72 */
	0x10, 0x00, /* EE 16 kJ */
	0x00,	    /* odd byte: half an RR */
};

/* Ours: reserved bits do not excuse a missing RR */
static const uint8_t reserved_no_rr[] = {
	0xf0, /* flags: reserved 5-7, RR, uint8 HR */
	0x3c, /* HR 60 */
	      /* RR flagged, no RR bytes */
};

/* Ours: B4 missing its last byte */
static const uint8_t b4_cut[] = {
	0x1f,	    /* flags: uint16 HR, contact supported + detected, EE, RR */
	0x01, 0x01, /* HR 257 */
	0x32, 0x01, /* EE 306 kJ */
	0x01, 0x00, /* RR[0] 1 */
	0x02, 0x01, /* RR[1] 258 */
	0xff,	    /* odd byte: half of RR[2] */
};

#define R_EMPTY	   "empty value"
#define R_NO_HR	   "no heart rate value after the flags"
#define R_HR16	   "truncated uint16 heart rate value"
#define R_EE	   "truncated energy expended"
#define R_NO_RR	   "RR-interval flag set but no RR-interval bytes"
#define R_ODD_RR   "odd number of RR-interval bytes"
#define R_TOO_LONG "value longer than 512 bytes"

struct bad {
	const char *name;
	const uint8_t *data;
	size_t size;
	const char *reason;
};

static const struct bad bads[] = {
	{VEC(b5), R_NO_RR},
	{VEC(bd9), R_ODD_RR},
	{VEC(bd10), R_HR16},
	{.name = "bd11", .data = NULL, .size = 0, R_EMPTY},
	{.name = "bd11-nonnull", .data = b1, .size = 0, R_EMPTY},
	{VEC(bd12), R_EE},
	{VEC(bd13), R_NO_RR},
	{VEC(flags_only), R_NO_HR},
	{VEC(flags_only16), R_NO_HR},
	{VEC(ee_missing), R_EE},
	{VEC(ee_trunc_rr), R_EE},
	{VEC(ee_then_no_rr), R_NO_RR},
	{VEC(ee_odd_rr), R_ODD_RR},
	{VEC(reserved_no_rr), R_NO_RR},
	{VEC(b4_cut), R_ODD_RR},
};

/* A malformed value returns -EBADMSG with the reason and leaves *ret alone. */
static void check_bad(const char *name, const uint8_t *data, size_t size, const char *reason)
{
	struct cd_hrm h, h0;
	const char *r = NULL;

	fprintf(stderr, "bad %s\n", name);

	memset(&h, 0xa5, sizeof(h));
	memcpy(&h0, &h, sizeof(h));
	CHECK_INT(cd_hrm_decode(data, size, &h, &r), -EBADMSG);
	CHECK_STR(r, reason);
	CHECK(memcmp(&h, &h0, sizeof(h)) == 0);

	/* The reason pointer is optional. */
	CHECK_INT(cd_hrm_decode(data, size, &h, NULL), -EBADMSG);
	CHECK(memcmp(&h, &h0, sizeof(h)) == 0);
}

/*
 * Every prefix of B4 (uint16 HR, EE, 3 RR), each in a buffer of exactly its
 * length: the cut decides the outcome byte by byte.
 */
static void test_prefixes(void)
{
	static const char *const reason[sizeof(b4) + 1] = {
		[0] = R_EMPTY,	 /* nothing */
		[1] = R_NO_HR,	 /* flags */
		[2] = R_HR16,	 /* flags, HR low */
		[3] = R_EE,	 /* flags, HR */
		[4] = R_EE,	 /* flags, HR, EE low */
		[5] = R_NO_RR,	 /* flags, HR, EE */
		[6] = R_ODD_RR,	 /* … RR[0] low */
		[8] = R_ODD_RR,	 /* … RR[1] low */
		[10] = R_ODD_RR, /* … RR[2] low */
	};

	for (size_t n = 0; n <= sizeof(b4); n++) {
		_cleanup_free_ uint8_t *buf = malloc(n > 0 ? n : 1);
		struct cd_hrm h;

		CHECK(buf != NULL);
		if (!buf)
			return;
		memcpy(buf, b4, n);

		if (reason[n]) {
			char name[32];

			snprintf(name, sizeof(name), "b4[0..%zu)", n);
			check_bad(name, buf, n, reason[n]);
			continue;
		}

		CHECK_INT(cd_hrm_decode(buf, n, &h, NULL), 0);
		CHECK_INT(h.bpm, 257);
		CHECK_INT(h.energy_kj, 306);
		CHECK_INT(h.n_rr, (n - 5) / 2);
		CHECK_INT(h.n_trailing, 0);
	}
}

/* Rule 8 and the ATT limit: 512 bytes is fine, 513 is not. */
static void test_size_limit(void)
{
	uint8_t buf[CD_HRM_SIZE_MAX + 1];
	struct cd_hrm h;

	/* RR flag, uint8 HR: every byte after HR is RR, 255 of them at 512. */
	buf[0] = 0x10; /* flags: uint8 HR, RR */
	buf[1] = 0x48; /* HR 72 */
	for (size_t i = 2; i < sizeof(buf); i += 2) {
		buf[i] = (uint8_t)(i / 2); /* RR low */
		if (i + 1 < sizeof(buf))
			buf[i + 1] = (uint8_t)(i / 256); /* RR high */
	}

	CHECK_INT(CD_HRM_RR_MAX, 255);
	CHECK_INT(cd_hrm_decode(buf, CD_HRM_SIZE_MAX, &h, NULL), 0);
	CHECK_INT(h.n_rr, CD_HRM_RR_MAX);
	CHECK_INT(h.rr_raw[0], 0x0001);
	CHECK_INT(h.rr_raw[CD_HRM_RR_MAX - 1], (uint16_t)(255 | 1 << 8));
	CHECK_INT(h.n_trailing, 0);
	check_bad("rr-513", buf, CD_HRM_SIZE_MAX + 1, R_TOO_LONG);

	/* Same size without the RR flag: 510 ignored trailing bytes. */
	buf[0] = 0x00; /* flags: uint8 HR, nothing else */
	CHECK_INT(cd_hrm_decode(buf, CD_HRM_SIZE_MAX, &h, NULL), 0);
	CHECK_INT(h.n_rr, 0);
	CHECK_INT(h.n_trailing, CD_HRM_SIZE_MAX - 2);
	check_bad("plain-513", buf, CD_HRM_SIZE_MAX + 1, R_TOO_LONG);

	/* uint16 HR + EE leaves 507 bytes: odd, rejected; 511 bytes gives 253 RR. */
	buf[0] = 0x19; /* flags: uint16 HR, EE, RR */
	check_bad("rr16ee-512", buf, CD_HRM_SIZE_MAX, R_ODD_RR);
	CHECK_INT(cd_hrm_decode(buf, CD_HRM_SIZE_MAX - 1, &h, NULL), 0);
	CHECK_INT(h.n_rr, (CD_HRM_SIZE_MAX - 1 - 5) / 2);
}

/*
 * B16: BlueZ test/example-gatt-server.  Each notification is "06 xx" with
 * xx in 90..130; every 10th, starting with the first, is "0E xx EE_lo EE_hi".
 * EE counts up by 1 per notification, so notification k carries EE = k.
 */
static void test_bluez_example_server(void)
{
	unsigned seed = 1;

	for (unsigned k = 0; k < 1000; k++) {
		uint8_t v[4];
		size_t n;
		struct cd_hrm h;
		struct cd_sample s;
		uint8_t bpm;

		seed = seed * 1103515245u + 12345u;
		bpm = (uint8_t)(90 + (seed >> 16) % 41);

		v[0] = 0x06; /* flags: uint8 HR, contact supported + detected */
		v[1] = bpm;  /* HR */
		n = 2;
		if (k % 10 == 0) {
			v[0] |= 0x08;		    /* flags: EE */
			v[2] = (uint8_t)(k & 0xff); /* EE low */
			v[3] = (uint8_t)(k >> 8);   /* EE high */
			n = 4;
		}

		CHECK_INT(cd_hrm_decode(v, n, &h, NULL), 0);
		CHECK_INT(h.bpm, bpm);
		CHECK(h.contact_supported && h.contact_detected);
		CHECK_INT(h.has_energy, k % 10 == 0);
		CHECK_INT(h.energy_kj, k % 10 == 0 ? k : 0);
		CHECK_INT(h.n_rr, 0);

		cd_hrm_to_sample(&h, k, &s);
		CHECK_INT(s.contact, CD_CONTACT_OK);
		CHECK_NEAR(s.energy_kj, k % 10 == 0 ? (double)k : NAN, 0);
		CHECK(s.rr_ms == NULL);
	}
}

int main(void)
{
	for (size_t i = 0; i < ELEMENTSOF(goods); i++)
		test_good(&goods[i]);
	for (size_t i = 0; i < ELEMENTSOF(bads); i++)
		check_bad(bads[i].name, bads[i].data, bads[i].size, bads[i].reason);
	test_prefixes();
	test_size_limit();
	test_bluez_example_server();

	return check_exit("test-hrm");
}
