/* SPDX-License-Identifier: MIT */
/*
 * ANT+ HRM receiver (lib/ant-hrm.h) against PROTOCOLS §5.6 (pages) and
 * §5.7 (RR sequence), plus the page-toggle rule, legacy straps, page 4
 * recovery, wrap-arounds and the 60 s / channel-change resets.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ant-hrm.h"
#include "check.h"
#include "cleanup.h"

/* One transmitter slot: an HRM sends every 8070/32768 s (§4.1). */
#define SLOT (8070.0 / 32768.0)

/* §5.6 pages (8-byte payloads) ----------------------------------------- */

static const uint8_t H1[] = {
	0x04,	    /* toggle 0, page 4 */
	0x00,	    /* manufacturer specific */
	0x34, 0x09, /* previous beat time 2356 */
	0x77, 0x0A, /* beat time 2679 */
	0x0A,	    /* beat count 10 */
	0x5E,	    /* heart rate 94 */
};

static const uint8_t H2[] = {
	0x04,	    /* toggle 0, page 4 */
	0x00,	    /* manufacturer specific */
	0xEC, 0x1B, /* previous beat time 7148 */
	0x33, 0x1D, /* beat time 7475 */
	0x18,	    /* beat count 24 */
	0x7D,	    /* heart rate 125 */
};

static const uint8_t H3[] = {
	0x00,		  /* toggle 0, page 0 */
	0xFF, 0xFF, 0xFF, /* reserved */
	0x34, 0x12,	  /* beat time 4660 */
	0x05,		  /* beat count 5 */
	0x48,		  /* heart rate 72 */
};

static const uint8_t H4[] = {
	0x84,	    /* toggle 1, page 4 */
	0xFF,	    /* manufacturer specific */
	0x00, 0x0F, /* previous beat time 3840 */
	0x00, 0x13, /* beat time 4864 */
	0x06,	    /* beat count 6 */
	0x3C,	    /* heart rate 60 */
};

static const uint8_t H5[] = {
	0x01,		  /* toggle 0, page 1 */
	0x10, 0x0E, 0x00, /* operating time 3600 x 2 s */
	0x00, 0x13,	  /* beat time 4864 */
	0x06,		  /* beat count 6 */
	0x3C,		  /* heart rate 60 */
};

static const uint8_t H6[] = {
	0x82,	    /* toggle 1, page 2 */
	0x01,	    /* manufacturer 1 */
	0x34, 0x12, /* serial number upper 16 bits 4660 */
	0x00, 0x13, /* beat time 4864 */
	0x06,	    /* beat count 6 */
	0x3C,	    /* heart rate 60 */
};

static const uint8_t H7[] = {
	0x03,	    /* toggle 0, page 3 */
	0x05,	    /* hardware version 5 */
	0x0A,	    /* software version 10 */
	0x33,	    /* model 51 */
	0x00, 0x13, /* beat time 4864 */
	0x06,	    /* beat count 6 */
	0x3C,	    /* heart rate 60 */
};

static const uint8_t H8[] = {
	0x87,	    /* toggle 1, page 7 */
	0x55,	    /* battery 85 % */
	0x80,	    /* fractional voltage 128/256 V */
	0x33,	    /* coarse voltage 3 V, status 3 (ok) */
	0x00, 0x13, /* beat time 4864 */
	0x06,	    /* beat count 6 */
	0x3C,	    /* heart rate 60 */
};

static const uint8_t H9[] = {
	0x06,	    /* toggle 0, page 6 */
	0xFF,	    /* reserved */
	0x07,	    /* features supported */
	0x01,	    /* features enabled */
	0x00, 0x13, /* beat time 4864 */
	0x06,	    /* beat count 6 */
	0x3C,	    /* heart rate 60 */
};

static const uint8_t H10[] = {
	0x05,	    /* toggle 0, page 5 */
	0x8C,	    /* interval average HR 140 */
	0xA0,	    /* interval maximum HR 160 */
	0x82,	    /* session average HR 130 */
	0x00, 0x13, /* beat time 4864 */
	0x06,	    /* beat count 6 */
	0x3C,	    /* heart rate 60 */
};

static const uint8_t H11[] = {
	0xD0,		  /* toggle 1, page 0x50: a common page, NOT page 0 */
	0xFF, 0xFF, 0xFF, /* page-specific, ignored */
	0x00, 0x13,	  /* beat time 4864 */
	0x06,		  /* beat count 6 */
	0x3C,		  /* heart rate 60 */
};

static const uint8_t H12[] = {
	0x84,	    /* toggle 1, page 4 */
	0xFF,	    /* manufacturer specific */
	0xC0, 0x17, /* previous beat time 6080 */
	0xC0, 0x1B, /* beat time 7104 */
	0x02,	    /* beat count 2 */
	0x3C,	    /* heart rate 60 */
};

static void test_pages(void)
{
	struct cd_ant_hrm_page p;

	cd_ant_hrm_page_decode(H1, &p);
	CHECK(!p.toggle);
	CHECK_INT(p.page, 4);
	CHECK_INT(p.manufacturer_specific, 0x00);
	CHECK_INT(p.prev_event_time, 2356);
	CHECK_NEAR(p.prev_event_time / 1024.0, 2.30078, 0.000005);
	CHECK_INT(p.event_time, 2679);
	CHECK_NEAR(p.event_time / 1024.0, 2.61621, 0.000005);
	CHECK_INT(p.beat_count, 10);
	CHECK_INT(p.heart_rate, 94);
	CHECK_INT((uint16_t)(p.event_time - p.prev_event_time), 323);
	CHECK_NEAR(cd_ant_hrm_ticks_to_ms((uint16_t)(p.event_time - p.prev_event_time)), 315.430,
		   0.0005);

	cd_ant_hrm_page_decode(H2, &p);
	CHECK(!p.toggle);
	CHECK_INT(p.page, 4);
	CHECK_INT(p.prev_event_time, 7148);
	CHECK_INT(p.event_time, 7475);
	CHECK_NEAR(p.event_time / 1024.0, 7.29980, 0.000005);
	CHECK_INT(p.beat_count, 24);
	CHECK_INT(p.heart_rate, 125);
	CHECK_INT((uint16_t)(p.event_time - p.prev_event_time), 327);
	CHECK_NEAR(cd_ant_hrm_ticks_to_ms(327), 319.336, 0.0005);

	cd_ant_hrm_page_decode(H3, &p);
	CHECK(!p.toggle);
	CHECK_INT(p.page, 0);
	CHECK_INT(p.event_time, 4660);
	CHECK_NEAR(p.event_time / 1024.0, 4.55078, 0.000005);
	CHECK_INT(p.beat_count, 5);
	CHECK_INT(p.heart_rate, 72);
	CHECK_INT(p.prev_event_time, 0); /* not page 4 */

	cd_ant_hrm_page_decode(H4, &p);
	CHECK(p.toggle);
	CHECK_INT(p.page, 4);
	CHECK_INT(p.manufacturer_specific, 0xFF);
	CHECK_INT(p.prev_event_time, 3840);
	CHECK_INT(p.event_time, 4864);
	CHECK_NEAR(p.event_time / 1024.0, 4.75, 0);
	CHECK_INT(p.beat_count, 6);
	CHECK_INT(p.heart_rate, 60);
	CHECK_NEAR(cd_ant_hrm_ticks_to_ms((uint16_t)(p.event_time - p.prev_event_time)), 1000.0, 0);

	cd_ant_hrm_page_decode(H5, &p);
	CHECK(!p.toggle);
	CHECK_INT(p.page, 1);
	CHECK_INT(p.operating_time_s, 7200);
	CHECK(p.event_time == 4864 && p.beat_count == 6 && p.heart_rate == 60);

	cd_ant_hrm_page_decode(H6, &p);
	CHECK(p.toggle);
	CHECK_INT(p.page, 2);
	CHECK_INT(p.manufacturer_id, 1);
	CHECK_INT(p.serial_upper, 4660);
	CHECK(p.event_time == 4864 && p.beat_count == 6 && p.heart_rate == 60);

	cd_ant_hrm_page_decode(H7, &p);
	CHECK_INT(p.page, 3);
	CHECK_INT(p.hw_version, 5);
	CHECK_INT(p.sw_version, 10);
	CHECK_INT(p.model, 51);

	cd_ant_hrm_page_decode(H8, &p);
	CHECK(p.toggle);
	CHECK_INT(p.page, 7);
	CHECK_INT(p.battery_pct, 85);
	CHECK_NEAR(p.battery_v, 3.5, 0);
	CHECK_INT(p.battery_status, CD_ANT_BATTERY_OK);
	CHECK_STR(cd_ant_battery_status_to_string(p.battery_status), "ok");

	cd_ant_hrm_page_decode(H9, &p);
	CHECK_INT(p.page, 6);
	CHECK_INT(p.features_supported, 0x07);
	CHECK_INT(p.features_enabled, 0x01);

	cd_ant_hrm_page_decode(H10, &p);
	CHECK_INT(p.page, 5);
	CHECK_INT(p.interval_avg_hr, 140);
	CHECK_INT(p.interval_max_hr, 160);
	CHECK_INT(p.session_avg_hr, 130);

	cd_ant_hrm_page_decode(H11, &p);
	CHECK(p.toggle);
	CHECK_INT(p.page, 0x50);
	CHECK(p.page != 0); /* the openant "& 0x0F" bug would say 0 */
	CHECK(p.operating_time_s == 0 && p.prev_event_time == 0 && p.manufacturer_id == 0);
	CHECK(p.battery_pct == -1 && isnan(p.battery_v));
	CHECK(p.event_time == 4864 && p.beat_count == 6 && p.heart_rate == 60);

	cd_ant_hrm_page_decode(H12, &p);
	CHECK(p.toggle);
	CHECK_INT(p.page, 4);
	CHECK_INT(p.prev_event_time, 6080);
	CHECK_INT(p.event_time, 7104);
	CHECK_INT(p.beat_count, 2);

	/* Page 7 edge values: 0xFF = n/a, coarse 0xF = no voltage, status invalid. */
	cd_ant_hrm_page_decode((const uint8_t[]){0x07, 0xFF, 0x00, 0x7F, 0, 0, 0, 0}, &p);
	CHECK_INT(p.battery_pct, -1);
	CHECK(isnan(p.battery_v));
	CHECK_INT(p.battery_status, CD_ANT_BATTERY_INVALID);
	cd_ant_hrm_page_decode((const uint8_t[]){0x07, 0x65, 0xFF, 0x12, 0, 0, 0, 0}, &p);
	CHECK_INT(p.battery_pct, -1); /* 101 % */
	CHECK_NEAR(p.battery_v, 2.0 + 255.0 / 256.0, 0);
	CHECK_INT(p.battery_status, CD_ANT_BATTERY_NEW);
	cd_ant_hrm_page_decode((const uint8_t[]){0x07, 0x64, 0x00, 0x13, 0, 0, 0, 0}, &p);
	CHECK_INT(p.battery_pct, 100); /* 100 % is a value, not n/a */
	cd_ant_hrm_page_decode((const uint8_t[]){0x07, 0x32, 0x80, 0xB3, 0, 0, 0, 0}, &p);
	CHECK_INT(p.battery_status, CD_ANT_BATTERY_OK); /* bits 4-6; bit 7 is not status */
	CHECK_NEAR(p.battery_v, 3.5, 0);
	/* Page 1 maximum. */
	cd_ant_hrm_page_decode((const uint8_t[]){0x81, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}, &p);
	CHECK_INT(p.operating_time_s, 0xFFFFFFu * 2u);
}

/* §5.7 RR derivation sequence (page 0 only) ---------------------------- */

struct step {
	double t; /* arrival time, s (ours; §5.7 gives none) */
	uint8_t data[CD_ANT_DATA_SIZE];
	bool restarted;
	unsigned n_beats;
	size_t n_rr;
	double rr_ms; /* the one RR when n_rr == 1 */
	unsigned n_gap_beats;
	double gap_mean_ms; /* when n_gap_beats > 0 */
};

static const struct step rr_steps[] = {
	/* 1: initialise state */
	{
		.t = 0.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0x00, 0xFC,	  /* event time 64512 */
				0xFA,		  /* beat count 250 */
				0x3C,		  /* heart rate 60 */
			},
		.restarted = true,
	},
	/* 2: duplicate, no beat */
	{
		.t = 0.25,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0x00, 0xFC,	  /* event time 64512 */
				0xFA,		  /* beat count 250 */
				0x3C,		  /* heart rate 60 */
			},
	},
	/* 3: RR 1008 ticks */
	{
		.t = 1.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xF0, 0xFF,	  /* event time 65520 */
				0xFB,		  /* beat count 251 */
				0x3C,		  /* heart rate 60 */
			},
		.n_beats = 1,
		.n_rr = 1,
		.rr_ms = 984.375,
	},
	/* 4: event time rolls over, (976 - 65520) mod 65536 = 992 */
	{
		.t = 2.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xD0, 0x03,	  /* event time 976 */
				0xFC,		  /* beat count 252 */
				0x3C,		  /* heart rate 60 */
			},
		.n_beats = 1,
		.n_rr = 1,
		.rr_ms = 968.750,
	},
	/* 5: duplicate */
	{
		.t = 2.25,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xD0, 0x03,	  /* event time 976 */
				0xFC,		  /* beat count 252 */
				0x3C,		  /* heart rate 60 */
			},
	},
	/* 6: RR 1008 */
	{
		.t = 3.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xC0, 0x07,	  /* event time 1984 */
				0xFD,		  /* beat count 253 */
				0x3C,		  /* heart rate 60 */
			},
		.n_beats = 1,
		.n_rr = 1,
		.rr_ms = 984.375,
	},
	/* 7: RR 1024 */
	{
		.t = 4.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xC0, 0x0B,	  /* event time 3008 */
				0xFE,		  /* beat count 254 */
				0x3C,		  /* heart rate 60 */
			},
		.n_beats = 1,
		.n_rr = 1,
		.rr_ms = 1000.0,
	},
	/* 8: RR 1024 */
	{
		.t = 5.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xC0, 0x0F,	  /* event time 4032 */
				0xFF,		  /* beat count 255 */
				0x3C,		  /* heart rate 60 */
			},
		.n_beats = 1,
		.n_rr = 1,
		.rr_ms = 1000.0,
	},
	/* 9: count rolls over 255 -> 0 (dc = 1) */
	{
		.t = 6.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xC0, 0x13,	  /* event time 5056 */
				0x00,		  /* beat count 0 */
				0x3C,		  /* heart rate 60 */
			},
		.n_beats = 1,
		.n_rr = 1,
		.rr_ms = 1000.0,
	},
	/* 10: dc = 2 on page 0: no exact RR, a 2-beat gap of mean 1000 ms */
	{
		.t = 8.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xC0, 0x1B,	  /* event time 7104 */
				0x02,		  /* beat count 2 */
				0x3C,		  /* heart rate 60 */
			},
		.n_beats = 2,
		.n_gap_beats = 2,
		.gap_mean_ms = 1000.0,
	},
	/* 11: RR 1024 */
	{
		.t = 9.00,
		.data =
			{
				0x00,		  /* page 0, toggle 0 */
				0xFF, 0xFF, 0xFF, /* reserved */
				0xC0, 0x1F,	  /* event time 8128 */
				0x03,		  /* beat count 3 */
				0x3C,		  /* heart rate 60 */
			},
		.n_beats = 1,
		.n_rr = 1,
		.rr_ms = 1000.0,
	},
};

static void check_invariants(const struct cd_ant_hrm_result *r)
{
	CHECK(r->n_rr <= CD_ANT_HRM_RR_MAX);
	CHECK_INT(r->n_rr + r->n_gap_beats, r->n_beats);
	CHECK(r->n_gap_beats > 0 ? isfinite(r->gap_mean_ms) : isnan(r->gap_mean_ms));
	for (size_t i = 0; i < r->n_rr && i < CD_ANT_HRM_RR_MAX; i++)
		CHECK_NEAR(r->rr_ms[i], cd_ant_hrm_ticks_to_ms(r->rr_ticks[i]), 0);
	CHECK(r->page_valid == (r->mode == CD_ANT_HRM_MODE_PAGED));
}

static void test_rr_sequence(void)
{
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;

	cd_ant_hrm_init(&h);
	for (size_t i = 0; i < ELEMENTSOF(rr_steps); i++) {
		const struct step *s = &rr_steps[i];

		CHECK_INT(cd_ant_hrm_receive(&h, s->t, NULL, s->data, &r), 0);
		check_invariants(&r);
		CHECK(r.restarted == s->restarted);
		CHECK_INT(r.n_beats, s->n_beats);
		CHECK_INT(r.n_rr, s->n_rr);
		if (s->n_rr == 1)
			CHECK_NEAR(r.rr_ms[0], s->rr_ms, 0);
		CHECK_INT(r.n_gap_beats, s->n_gap_beats);
		CHECK_NEAR(r.gap_mean_ms, s->n_gap_beats ? s->gap_mean_ms : NAN, 0);
		CHECK_NEAR(r.bpm, 60, 0);
		/* A constant toggle: unknown for 7 messages, then legacy. */
		CHECK_INT(r.mode, i < 7 ? CD_ANT_HRM_MODE_UNKNOWN : CD_ANT_HRM_MODE_LEGACY);
		CHECK(!r.page_valid);
	}
	CHECK(!r.repeat);
	CHECK_INT(rr_steps[1].data[6], rr_steps[0].data[6]);
}

/*
 * A strap in the §4.2 transmission pattern: the toggle flips every 4
 * messages, and (for these tests) one beat every 4 messages, on the
 * message that starts a toggle run: beat k is in message 4k with event
 * time base + 1024 k (1000 ms) and count c0 + k.  Stateless in the message
 * index, so dropping messages is just skipping indices.
 */
struct strap {
	uint8_t main_page; /* 0 or 4 */
	uint16_t base;
	uint8_t c0;
	double t0;
};

static double strap_msg(const struct strap *s, unsigned msg, uint8_t out[CD_ANT_DATA_SIZE])
{
	unsigned k = msg / 4;
	uint16_t time = (uint16_t)(s->base + 1024u * k);
	uint16_t prev = (uint16_t)(time - 1024u);

	out[0] = (uint8_t)(s->main_page | (k % 2 ? CD_ANT_HRM_TOGGLE_BIT : 0));
	out[1] = 0xFF;
	out[2] = s->main_page == 4 ? (uint8_t)(prev & 0xFF) : 0xFF;
	out[3] = s->main_page == 4 ? (uint8_t)(prev >> 8) : 0xFF;
	out[4] = (uint8_t)(time & 0xFF);
	out[5] = (uint8_t)(time >> 8);
	out[6] = (uint8_t)(s->c0 + k);
	out[7] = 60;
	return s->t0 + msg * SLOT;
}

static int strap_feed(struct cd_ant_hrm *h, const struct strap *s, unsigned msg,
		      struct cd_ant_hrm_result *r)
{
	uint8_t data[CD_ANT_DATA_SIZE];
	double t = strap_msg(s, msg, data);
	int ret = cd_ant_hrm_receive(h, t, NULL, data, r);

	check_invariants(r);
	return ret;
}

/*
 * Feed page-0 messages whose toggle runs have the given lengths (in
 * messages, one slot apart): a first block that no flip measures, then one
 * block per length, then the message that flips after the last one.
 * Returns the mode after that last message.
 */
static enum cd_ant_hrm_mode feed_runs(const unsigned *len, size_t n)
{
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r = {0};
	unsigned msg = 0;
	bool toggle = false;

	cd_ant_hrm_init(&h);
	for (size_t b = 0; b <= n + 1; b++) {
		unsigned block = b == 0 ? 4 : b <= n ? len[b - 1] : 1;

		for (unsigned i = 0; i < block; i++, msg++) {
			uint8_t d[CD_ANT_DATA_SIZE] = {(uint8_t)(toggle ? CD_ANT_HRM_TOGGLE_BIT : 0),
						       0xFF, 0xFF, 0xFF, 0, 0, 0, 60};

			CHECK_INT(cd_ant_hrm_receive(&h, msg * SLOT, NULL, d, &r), 0);
		}
		toggle = !toggle;
	}
	return r.mode;
}

/* §4.3 (D): paged needs two good runs and four good runs for every bad one;
 * the counts halve at 64 runs so that the evidence stays recent; with no
 * clean flip at all the strap is legacy after 64 messages. */
static void test_toggle_evidence(void)
{
	unsigned len[80];
	size_t n;

	/* 8 good, 2 bad: 8 >= 4 x 2, paged.  7 good, 2 bad: legacy. */
	for (n = 0; n < 8; n++)
		len[n] = 4;
	len[n++] = 3, len[n++] = 5;
	CHECK_INT(feed_runs(len, n), CD_ANT_HRM_MODE_PAGED);
	CHECK_INT(feed_runs(len + 1, n - 1), CD_ANT_HRM_MODE_LEGACY);

	/* 40 good then 9 bad (49 runs, no halving yet): 40 >= 36, paged. */
	for (n = 0; n < 40; n++)
		len[n] = 4;
	while (n < 49)
		len[n++] = 3;
	CHECK_INT(feed_runs(len, n), CD_ANT_HRM_MODE_PAGED);

	/* 60 good then 13 bad: halved at the 64th run (30 good, 2 bad), then 9
	 * more bad: 30 < 44, legacy (without halving 60 >= 52 would be paged). */
	for (n = 0; n < 60; n++)
		len[n] = 4;
	while (n < 73)
		len[n++] = 3;
	CHECK_INT(feed_runs(len, n), CD_ANT_HRM_MODE_LEGACY);

	/* Toggle flipping every message, two slots apart: never a clean flip,
	 * so no evidence: unknown up to 63 messages, legacy at 64. */
	{
		struct cd_ant_hrm h;
		struct cd_ant_hrm_result r;

		cd_ant_hrm_init(&h);
		for (unsigned i = 0; i < 64; i++) {
			uint8_t d[CD_ANT_DATA_SIZE] = {(uint8_t)(i % 2 ? CD_ANT_HRM_TOGGLE_BIT : 0),
						       0xFF, 0xFF, 0xFF, 0, 0, 0, 60};

			CHECK_INT(cd_ant_hrm_receive(&h, i * 2 * SLOT, NULL, d, &r), 0);
			if (i == 62)
				CHECK_INT(r.mode, CD_ANT_HRM_MODE_UNKNOWN);
		}
		CHECK_INT(r.mode, CD_ANT_HRM_MODE_LEGACY);
	}
}

static void test_paged_detection(void)
{
	struct strap s = {.main_page = 4, .base = 60000, .c0 = 100, .t0 = 10.0};
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;
	unsigned first_paged = 0;

	cd_ant_hrm_init(&h);
	for (unsigned i = 0; i < 200; i++) {
		CHECK_INT(strap_feed(&h, &s, i, &r), 0);
		if (i < 7)
			CHECK_INT(r.mode, CD_ANT_HRM_MODE_UNKNOWN);
		if (r.mode == CD_ANT_HRM_MODE_PAGED && !first_paged)
			first_paged = i;
		if (first_paged)
			CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
		/* One beat per 4 messages, each RR 1024 ticks, also across the time wrap. */
		if (i == 0) {
			CHECK(r.restarted);
		} else if (i % 4 == 0) {
			CHECK_INT(r.n_beats, 1);
			CHECK_INT(r.n_rr, 1);
			CHECK_INT(r.rr_ticks[0], 1024);
		} else {
			CHECK_INT(r.n_beats, 0);
			CHECK(r.repeat);
		}
	}
	/* Flips at 4, 8, 12: two measured runs of 4 by message 12. */
	CHECK_INT(first_paged, 12);
	CHECK_INT(cd_ant_hrm_get_mode(&h), CD_ANT_HRM_MODE_PAGED);
	CHECK_STR(cd_ant_hrm_mode_to_string(cd_ant_hrm_get_mode(&h)), "paged");
}

static void test_h12_recovery(void)
{
	/* Beat 8 (message 32) leaves T = 5056, C = 0 as §5.6 H12 requires. */
	struct strap s = {.main_page = 4, .base = (uint16_t)(5056 - 8 * 1024), .c0 = 248};
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;
	uint8_t data[CD_ANT_DATA_SIZE];

	cd_ant_hrm_init(&h);
	for (unsigned i = 0; i < 36; i++)
		CHECK_INT(strap_feed(&h, &s, i, &r), 0);
	CHECK_INT(h.T, 5056);
	CHECK_INT(h.C, 0);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
	strap_msg(&s, 35, data);
	CHECK(!(data[0] & CD_ANT_HRM_TOGGLE_BIT)); /* message 36 starts a toggle-1 run */

	/* Message 36 is H12: page 4, count jump 2, both beats exact. */
	CHECK_INT(cd_ant_hrm_receive(&h, 36 * SLOT, NULL, H12, &r), 0);
	check_invariants(&r);
	CHECK(r.page_valid);
	CHECK_INT(r.page.page, 4);
	CHECK_INT(r.n_beats, 2);
	CHECK_INT(r.n_rr, 2);
	CHECK_INT(r.rr_ticks[0], 6080 - 5056);
	CHECK_INT(r.rr_ticks[1], 7104 - 6080);
	CHECK_NEAR(r.rr_ms[0], 1000.0, 0);
	CHECK_NEAR(r.rr_ms[1], 1000.0, 0);
	CHECK_INT(r.n_gap_beats, 0);
	CHECK(isnan(r.gap_mean_ms));
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);

	/* The same message on a strap not (yet) known to be paged: no page-4 RR. */
	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(
			  &h, 0.0, NULL,
			  (const uint8_t[]){0x84, 0xFF, 0x00, 0x00, 0xC0, 0x13, 0x00, 0x3C}, &r),
		  0);
	CHECK_INT(cd_ant_hrm_receive(&h, SLOT, NULL, H12, &r), 0);
	check_invariants(&r);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_UNKNOWN);
	CHECK(!r.page_valid);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(r.n_gap_beats, 2);
	CHECK_NEAR(r.gap_mean_ms, 1000.0, 0);
}

static void test_page4_losses(void)
{
	struct strap s = {.main_page = 4, .base = 65000, .c0 = 250, .t0 = 100.0};
	struct strap s0 = {.main_page = 0, .base = 65000, .c0 = 250, .t0 = 100.0};
	struct cd_ant_hrm h, h0;
	struct cd_ant_hrm_result r;

	cd_ant_hrm_init(&h);
	cd_ant_hrm_init(&h0);
	for (unsigned i = 0; i < 40; i++) {
		CHECK_INT(strap_feed(&h, &s, i, &r), 0);
		CHECK_INT(strap_feed(&h0, &s0, i, &r), 0);
	}
	CHECK_INT(cd_ant_hrm_get_mode(&h), CD_ANT_HRM_MODE_PAGED);
	CHECK_INT(cd_ant_hrm_get_mode(&h0), CD_ANT_HRM_MODE_PAGED);

	/* Messages 40-43 lost: message 44 reveals 2 beats (10 and 11). */
	CHECK_INT(strap_feed(&h, &s, 44, &r), 0);
	CHECK_INT(r.n_beats, 2);
	CHECK_INT(r.n_rr, 2); /* page 4: both exact */
	CHECK(r.rr_ticks[0] == 1024 && r.rr_ticks[1] == 1024);
	CHECK_INT(strap_feed(&h0, &s0, 44, &r), 0);
	CHECK_INT(r.n_beats, 2);
	CHECK_INT(r.n_rr, 0); /* page 0: none exact */
	CHECK_INT(r.n_gap_beats, 2);
	CHECK_NEAR(r.gap_mean_ms, 1000.0, 0);

	/* Messages 45-55 lost: message 56 reveals 3 beats (12, 13 and 14). */
	CHECK_INT(strap_feed(&h, &s, 56, &r), 0);
	CHECK_INT(r.n_beats, 3);
	CHECK_INT(r.n_rr, 1); /* page 4: only the newest */
	CHECK_INT(r.rr_ticks[0], 1024);
	CHECK_INT(r.n_gap_beats, 2);
	CHECK_NEAR(r.gap_mean_ms, 1000.0, 0);
	CHECK_INT(strap_feed(&h0, &s0, 56, &r), 0);
	CHECK_INT(r.n_beats, 3);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(r.n_gap_beats, 3);
	CHECK_NEAR(r.gap_mean_ms, 1000.0, 0);

	/* Back to normal, still paged (lost flips are no evidence either way). */
	CHECK_INT(strap_feed(&h, &s, 57, &r), 0);
	CHECK_INT(r.n_beats, 0);
	CHECK_INT(strap_feed(&h, &s, 60, &r), 0);
	CHECK_INT(r.n_rr, 1);
	CHECK_INT(r.rr_ticks[0], 1024);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
}

static void test_page4_checks(void)
{
	struct strap s = {.main_page = 4, .base = 1000, .c0 = 0};
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;
	uint8_t d[CD_ANT_DATA_SIZE];
	double t;

	cd_ant_hrm_init(&h);
	for (unsigned i = 0; i < 20; i++)
		CHECK_INT(strap_feed(&h, &s, i, &r), 0);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
	/* T = 1000 + 4 × 1024 = 5096, C = 4 */

	/* dc = 1 where t - T (1100) and t - prev (1050) disagree: page 4 wins (§4.4 step 2). */
	t = strap_msg(&s, 20, d);
	d[2] = (uint8_t)((5096 + 50) & 0xFF), d[3] = (uint8_t)((5096 + 50) >> 8);
	d[4] = (uint8_t)((5096 + 1100) & 0xFF), d[5] = (uint8_t)((5096 + 1100) >> 8);
	CHECK_INT(d[6], 5);
	CHECK_INT(cd_ant_hrm_receive(&h, t, NULL, d, &r), 0);
	check_invariants(&r);
	CHECK_INT(r.n_rr, 1);
	CHECK_INT(r.rr_ticks[0], 1050);

	/* dc = 2 with prev not between T and t: page 4 ignored, a gap instead. */
	t = strap_msg(&s, 24, d);
	d[2] = 0x00, d[3] = 0x00; /* prev 0, long before T */
	d[4] = (uint8_t)((6196 + 2048) & 0xFF), d[5] = (uint8_t)((6196 + 2048) >> 8);
	d[6] = 7;
	CHECK_INT(cd_ant_hrm_receive(&h, t, NULL, d, &r), 0);
	check_invariants(&r);
	CHECK_INT(r.n_beats, 2);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(r.n_gap_beats, 2);
	CHECK_NEAR(r.gap_mean_ms, 1000.0, 0);

	/* dc = 2 with prev equal to this event time (not strictly before it):
	 * a gap, never an RR of 0 ticks. T = 8244, C = 7. */
	t = strap_msg(&s, 28, d);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
	d[2] = d[4] = (uint8_t)((8244 + 2048) & 0xFF), d[3] = d[5] = (uint8_t)((8244 + 2048) >> 8);
	d[6] = 9;
	CHECK_INT(cd_ant_hrm_receive(&h, t, NULL, d, &r), 0);
	check_invariants(&r);
	CHECK_INT(r.n_beats, 2);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(r.n_gap_beats, 2);
	CHECK_NEAR(r.gap_mean_ms, 1000.0, 0);

	/* dc = 2 with prev equal to T (not strictly after it): a gap too. T = 10292, C = 9. */
	t = strap_msg(&s, 32, d);
	d[2] = (uint8_t)(10292 & 0xFF), d[3] = (uint8_t)(10292 >> 8);
	d[4] = (uint8_t)((10292 + 2048) & 0xFF), d[5] = (uint8_t)((10292 + 2048) >> 8);
	d[6] = 11;
	CHECK_INT(cd_ant_hrm_receive(&h, t, NULL, d, &r), 0);
	check_invariants(&r);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(r.n_gap_beats, 2);
	CHECK_NEAR(r.gap_mean_ms, 1000.0, 0);
}

static void test_metadata_in_stream(void)
{
	/* Beat 5 (toggle 1 run) is H4's beat: time 4864, count 6. */
	struct strap a = {.main_page = 4, .base = (uint16_t)(4864 - 5 * 1024), .c0 = 1};
	/* Beat 6 (toggle 0 run) carries count 6 instead. */
	struct strap b = {.main_page = 4, .base = (uint16_t)(4864 - 6 * 1024), .c0 = 0};
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;

	/* H4 H6 H8 as messages 20-22 of a paged strap. */
	cd_ant_hrm_init(&h);
	for (unsigned i = 0; i < 20; i++)
		CHECK_INT(strap_feed(&h, &a, i, &r), 0);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
	CHECK_INT(cd_ant_hrm_receive(&h, 20 * SLOT, NULL, H4, &r), 0);
	check_invariants(&r);
	CHECK(r.page_valid && r.page.page == 4);
	CHECK_INT(r.n_rr, 1);
	CHECK_NEAR(r.rr_ms[0], 1000.0, 0);
	CHECK_INT(cd_ant_hrm_receive(&h, 21 * SLOT, NULL, H6, &r), 0);
	check_invariants(&r);
	CHECK(r.page_valid && r.page.page == 2);
	CHECK(r.page.manufacturer_id == 1 && r.page.serial_upper == 4660);
	CHECK_INT(r.n_beats, 0);
	CHECK_INT(cd_ant_hrm_receive(&h, 22 * SLOT, NULL, H8, &r), 0);
	check_invariants(&r);
	CHECK(r.page_valid && r.page.page == 7);
	CHECK(r.page.battery_pct == 85 && r.page.battery_v == 3.5);
	CHECK_INT(r.page.battery_status, CD_ANT_BATTERY_OK);
	CHECK_INT(r.n_beats, 0);
	CHECK_INT(strap_feed(&h, &a, 23, &r), 0);
	CHECK_INT(r.n_beats, 0);
	CHECK_INT(strap_feed(&h, &a, 24, &r), 0);
	CHECK_INT(r.n_rr, 1);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);

	/* H5 (the beat itself, on a background page) H7 H9 H10 as messages 24-27. */
	cd_ant_hrm_init(&h);
	for (unsigned i = 0; i < 24; i++)
		CHECK_INT(strap_feed(&h, &b, i, &r), 0);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
	CHECK_INT(cd_ant_hrm_receive(&h, 24 * SLOT, NULL, H5, &r), 0);
	check_invariants(&r);
	CHECK(r.page_valid && r.page.page == 1 && r.page.operating_time_s == 7200);
	CHECK_INT(r.n_rr, 1); /* bytes 4-7 count on every page */
	CHECK_INT(r.rr_ticks[0], 1024);
	CHECK_INT(cd_ant_hrm_receive(&h, 25 * SLOT, NULL, H7, &r), 0);
	CHECK(r.page_valid && r.page.hw_version == 5 && r.page.sw_version == 10 &&
	      r.page.model == 51);
	CHECK_INT(cd_ant_hrm_receive(&h, 26 * SLOT, NULL, H9, &r), 0);
	CHECK(r.page_valid && r.page.features_supported == 7 && r.page.features_enabled == 1);
	CHECK_INT(cd_ant_hrm_receive(&h, 27 * SLOT, NULL, H10, &r), 0);
	CHECK(r.page_valid && r.page.interval_avg_hr == 140 && r.page.interval_max_hr == 160 &&
	      r.page.session_avg_hr == 130);
	CHECK_INT(r.n_beats, 0);
	/* H11 at message 28 (toggle 1 run): a common page, no beat change. */
	CHECK_INT(cd_ant_hrm_receive(&h, 28 * SLOT, NULL, H11, &r), 0);
	check_invariants(&r);
	CHECK(r.page_valid && r.page.page == 0x50);
	CHECK_INT(r.n_beats, 0);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);

	/* The same metadata page before the toggle rule allows it: not valid. */
	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(&h, 0, NULL, H8, &r), 0);
	CHECK(!r.page_valid);
	CHECK_INT(r.page.battery_pct, 85); /* decoded, but flagged not to be trusted */
}

/* A tiny deterministic generator for the tests. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void test_legacy(void)
{
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;
	uint8_t d[CD_ANT_DATA_SIZE];
	unsigned paged = 0, legacy = 0;
	uint32_t seed = 7;

	/* Constant byte 0 that looks like page 4: the toggle never moves. */
	cd_ant_hrm_init(&h);
	for (unsigned i = 0; i < 40; i++) {
		unsigned k = i / 4;
		uint16_t time = (uint16_t)(1024 * k);

		d[0] = 0x04;
		d[1] = 0x00;
		d[2] = 0x12, d[3] = 0x34; /* meaningless bytes */
		d[4] = (uint8_t)(time & 0xFF), d[5] = (uint8_t)(time >> 8);
		d[6] = (uint8_t)k;
		d[7] = 70;
		CHECK_INT(cd_ant_hrm_receive(&h, i * SLOT, NULL, d, &r), 0);
		check_invariants(&r);
		CHECK_INT(r.mode, i < 7 ? CD_ANT_HRM_MODE_UNKNOWN : CD_ANT_HRM_MODE_LEGACY);
		if (i > 0 && i % 4 == 0) {
			/* bytes 4-7 still give exact RR: t - T */
			CHECK_INT(r.n_rr, 1);
			CHECK_INT(r.rr_ticks[0], 1024);
		}
	}
	/* Count jump of 2 on "page 4" of a legacy strap: no page-4 RR (§4.3). */
	d[4] = (uint8_t)((1024 * 11) & 0xFF), d[5] = (uint8_t)((1024 * 11) >> 8);
	d[6] = 11;
	CHECK_INT(cd_ant_hrm_receive(&h, 44 * SLOT, NULL, d, &r), 0);
	check_invariants(&r);
	CHECK_INT(r.n_beats, 2);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(r.n_gap_beats, 2);

	/* Random byte 0 (GC: "random values for the data page"): never paged. */
	cd_ant_hrm_init(&h);
	for (unsigned i = 0; i < 3000; i++) {
		unsigned k = i / 4;
		uint16_t time = (uint16_t)(1024 * k);

		d[0] = (uint8_t)lcg(&seed);
		d[1] = (uint8_t)lcg(&seed);
		d[2] = (uint8_t)lcg(&seed);
		d[3] = (uint8_t)lcg(&seed);
		d[4] = (uint8_t)(time & 0xFF), d[5] = (uint8_t)(time >> 8);
		d[6] = (uint8_t)k;
		d[7] = 70;
		CHECK_INT(cd_ant_hrm_receive(&h, i * SLOT, NULL, d, &r), 0);
		check_invariants(&r);
		paged += r.mode == CD_ANT_HRM_MODE_PAGED;
		legacy += r.mode == CD_ANT_HRM_MODE_LEGACY;
		if (i > 0 && i % 4 == 0 && r.n_rr == 1)
			CHECK_INT(r.rr_ticks[0], 1024); /* never a page-4 value */
	}
	CHECK_INT(paged, 0);
	CHECK(legacy > 2900);
}

static void test_paged_with_losses(void)
{
	struct strap s = {.main_page = 4, .base = 12345, .c0 = 17, .t0 = 1000.0};
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;
	unsigned received = 0, paged = 0, beats = 0;
	uint32_t seed = 99;
	uint8_t last_count = 0;

	/* 15 % of messages lost, ±40 ms of arrival jitter. */
	cd_ant_hrm_init(&h);
	for (unsigned i = 0; i < 4000; i++) {
		uint8_t d[CD_ANT_DATA_SIZE];
		double t;

		if (lcg(&seed) % 100 < 15)
			continue;
		t = strap_msg(&s, i, d) + ((double)(lcg(&seed) % 81) - 40.0) / 1000.0;
		CHECK_INT(cd_ant_hrm_receive(&h, t, NULL, d, &r), 0);
		check_invariants(&r);
		if (received++ == 0) {
			CHECK(r.restarted);
		} else {
			CHECK_INT(r.n_beats, (uint8_t)(d[6] - last_count));
			beats += r.n_beats;
		}
		last_count = d[6];
		for (size_t j = 0; j < r.n_rr; j++)
			CHECK_INT(r.rr_ticks[j], 1024); /* every RR exact */
		if (received > 40)
			paged += r.mode == CD_ANT_HRM_MODE_PAGED;
	}
	CHECK(beats > 900); /* about 1000 beats, every one accounted for above */
	CHECK(paged > (received - 40) * 95 / 100);
}

static void test_60s_reset(void)
{
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;
	uint8_t d[CD_ANT_DATA_SIZE];

	memcpy(d, rr_steps[2].data, sizeof(d)); /* time 65520, count 251 */

	/* 59.9 s of silence: still continuous. */
	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(&h, 100.0, NULL, rr_steps[0].data, &r), 0);
	CHECK_INT(cd_ant_hrm_receive(&h, 159.9, NULL, d, &r), 0);
	CHECK(!r.restarted);
	CHECK_INT(r.n_rr, 1);
	CHECK_INT(r.rr_ticks[0], 1008);

	/* 60 s: starts over, this message only initialises (§4.4 step 6). */
	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(&h, 100.0, NULL, rr_steps[0].data, &r), 0);
	CHECK_INT(cd_ant_hrm_receive(&h, 160.0, NULL, d, &r), 0);
	CHECK(r.restarted);
	CHECK_INT(r.n_beats, 0);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(r.mode, CD_ANT_HRM_MODE_UNKNOWN);
	CHECK(!r.repeat);
	/* ... and continues from there. */
	CHECK_INT(cd_ant_hrm_receive(&h, 161.0, NULL, rr_steps[3].data, &r), 0);
	CHECK(!r.restarted);
	CHECK_INT(r.rr_ticks[0], 992);

	/* The toggle evidence is forgotten too. */
	{
		struct strap s = {.main_page = 4, .base = 0, .c0 = 0};

		cd_ant_hrm_init(&h);
		for (unsigned i = 0; i < 20; i++)
			CHECK_INT(strap_feed(&h, &s, i, &r), 0);
		CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
		s.t0 = 60.0;
		CHECK_INT(strap_feed(&h, &s, 20, &r), 0);
		CHECK(r.restarted);
		CHECK_INT(r.mode, CD_ANT_HRM_MODE_UNKNOWN);
	}

	/* Exactly 60 s of silence also forgets the toggle evidence (times on a
	 * 0.25 s grid, about one slot apart, so that the 60 s are exact). */
	{
		struct strap s = {.main_page = 4, .base = 0, .c0 = 0};
		uint8_t data[CD_ANT_DATA_SIZE];

		cd_ant_hrm_init(&h);
		for (unsigned i = 0; i < 20; i++) {
			strap_msg(&s, i, data);
			CHECK_INT(cd_ant_hrm_receive(&h, 0.25 * i, NULL, data, &r), 0);
		}
		CHECK_INT(r.mode, CD_ANT_HRM_MODE_PAGED);
		strap_msg(&s, 20, data);
		CHECK_INT(cd_ant_hrm_receive(&h, 0.25 * 19 + 60.0, NULL, data, &r), 0);
		CHECK(r.restarted);
		CHECK_INT(r.mode, CD_ANT_HRM_MODE_UNKNOWN);
	}

	/* Messages keep coming but the count stands still for 60 s: the next beat restarts. */
	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(&h, 0.0, NULL, rr_steps[0].data, &r), 0);
	for (double t = 0.25; t < 60.0; t += 0.25) {
		CHECK_INT(cd_ant_hrm_receive(&h, t, NULL, rr_steps[0].data, &r), 0);
		CHECK(!r.restarted && r.n_beats == 0);
	}
	CHECK_INT(cd_ant_hrm_receive(&h, 60.0, NULL, d, &r), 0);
	CHECK(r.restarted);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(cd_ant_hrm_receive(&h, 61.0, NULL, rr_steps[3].data, &r), 0);
	CHECK_INT(r.n_rr, 1);
	CHECK_INT(r.rr_ticks[0], 992);
}

static void test_channel_change(void)
{
	const struct cd_ant_channel_id a = {
		.device_number = 12345, .device_type = 120, .trans_type = 1};
	const struct cd_ant_channel_id a_pairing = {
		.device_number = 12345, .device_type = 0xF8, .trans_type = 1};
	const struct cd_ant_channel_id b = {
		.device_number = 0x53039, .device_type = 120, .trans_type = 0x51};
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;

	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(&h, 0.0, &a, rr_steps[0].data, &r), 0);
	CHECK(r.restarted);
	/* Same sensor (pairing bit aside), or no ID given: continuous. */
	CHECK_INT(cd_ant_hrm_receive(&h, 1.0, &a_pairing, rr_steps[2].data, &r), 0);
	CHECK(!r.restarted && r.n_rr == 1);
	CHECK_INT(cd_ant_hrm_receive(&h, 2.0, NULL, rr_steps[3].data, &r), 0);
	CHECK(!r.restarted && r.n_rr == 1);
	/* Another sensor: start over. */
	CHECK_INT(cd_ant_hrm_receive(&h, 3.0, &b, rr_steps[5].data, &r), 0);
	CHECK(r.restarted);
	CHECK_INT(r.n_rr, 0);
	CHECK_INT(cd_ant_hrm_receive(&h, 4.0, &b, rr_steps[6].data, &r), 0);
	CHECK(!r.restarted && r.n_rr == 1 && r.rr_ticks[0] == 1024);

	/* Channel closed and reopened: the daemon resets. */
	cd_ant_hrm_reset(&h);
	CHECK(!h.has_id);
	CHECK_INT(cd_ant_hrm_receive(&h, 5.0, &b, rr_steps[7].data, &r), 0);
	CHECK(r.restarted);
	CHECK_INT(r.n_rr, 0);
}

static void test_time_and_args(void)
{
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r = {.n_rr = 7};

	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(&h, NAN, NULL, rr_steps[0].data, &r), -EINVAL);
	CHECK_INT(cd_ant_hrm_receive(&h, INFINITY, NULL, rr_steps[0].data, &r), -EINVAL);
	CHECK_INT(cd_ant_hrm_receive(NULL, 0, NULL, rr_steps[0].data, &r), -EINVAL);
	CHECK_INT(cd_ant_hrm_receive(&h, 0, NULL, NULL, &r), -EINVAL);
	CHECK_INT(cd_ant_hrm_receive(&h, 0, NULL, rr_steps[0].data, NULL), -EINVAL);
	CHECK_INT(r.n_rr, 7); /* untouched */

	CHECK_INT(cd_ant_hrm_receive(&h, 10.0, NULL, rr_steps[0].data, &r), 0);
	CHECK(r.restarted);
	CHECK_INT(cd_ant_hrm_receive(&h, NAN, NULL, rr_steps[2].data, &r), -EINVAL);
	CHECK_INT(cd_ant_hrm_receive(&h, 11.0, NULL, rr_steps[2].data, &r), 0);
	CHECK(!r.restarted && r.n_rr == 1 && r.rr_ticks[0] == 1008); /* state was untouched */

	/* Time going backwards: start over. */
	CHECK_INT(cd_ant_hrm_receive(&h, 10.5, NULL, rr_steps[3].data, &r), 0);
	CHECK(r.restarted);
	CHECK_INT(r.n_rr, 0);
	/* Equal times are fine. */
	CHECK_INT(cd_ant_hrm_receive(&h, 10.5, NULL, rr_steps[5].data, &r), 0);
	CHECK(!r.restarted && r.n_rr == 1);
}

static void test_sample(void)
{
	struct cd_ant_hrm h;
	struct cd_ant_hrm_result r;
	struct cd_sample s;

	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(&h, 1.0, NULL, rr_steps[0].data, &r), 0);
	cd_ant_hrm_result_to_sample(&r, 1.0, &s);
	CHECK_NEAR(s.t, 1.0, 0);
	CHECK_NEAR(s.bpm, 60, 0);
	CHECK_INT(s.contact, CD_CONTACT_UNKNOWN);
	CHECK(isnan(s.energy_kj));
	CHECK_INT(s.n_rr, 0);
	CHECK(s.rr_ms == NULL);

	CHECK_INT(cd_ant_hrm_receive(&h, 2.0, NULL, rr_steps[2].data, &r), 0);
	cd_ant_hrm_result_to_sample(&r, 2.0, &s);
	CHECK_INT(s.n_rr, 1);
	CHECK(s.rr_ms == r.rr_ms);
	CHECK_NEAR(s.rr_ms[0], 984.375, 0);

	/* H1 as the first broadcast: HR 94 reported; no RR before state exists. */
	cd_ant_hrm_init(&h);
	CHECK_INT(cd_ant_hrm_receive(&h, 3.0, NULL, H1, &r), 0);
	cd_ant_hrm_result_to_sample(&r, 3.0, &s);
	CHECK_NEAR(s.bpm, 94, 0);
	CHECK_INT(s.n_rr, 0);
	/* H2 next, as in the forum log: count 10 -> 24 is 14 missed beats. */
	CHECK_INT(cd_ant_hrm_receive(&h, 7.0, NULL, H2, &r), 0);
	check_invariants(&r);
	CHECK_INT(r.n_beats, 14);
	CHECK_INT(r.n_rr, 0); /* not paged yet: no page-4 value */
	CHECK_NEAR(r.bpm, 125, 0);
}

static void test_strings(void)
{
	CHECK_STR(cd_ant_hrm_mode_to_string(CD_ANT_HRM_MODE_UNKNOWN), "unknown");
	CHECK_STR(cd_ant_hrm_mode_to_string(CD_ANT_HRM_MODE_LEGACY), "legacy");
	CHECK(cd_ant_hrm_mode_to_string(_CD_ANT_HRM_MODE_MAX) == NULL);
	CHECK(cd_ant_hrm_mode_to_string(_CD_ANT_HRM_MODE_INVALID) == NULL);
	CHECK_STR(cd_ant_battery_status_to_string(CD_ANT_BATTERY_CRITICAL), "critical");
	CHECK_STR(cd_ant_battery_status_to_string(CD_ANT_BATTERY_INVALID), "invalid");
	CHECK(cd_ant_battery_status_to_string(_CD_ANT_BATTERY_STATUS_INVALID) == NULL);
	for (int i = 0; i < _CD_ANT_BATTERY_STATUS_MAX; i++)
		CHECK(cd_ant_battery_status_to_string(i) != NULL);
	CHECK_NEAR(cd_ant_hrm_ticks_to_ms(65535), 63999.0234375, 0);
}

int main(void)
{
	test_pages();
	test_rr_sequence();
	test_paged_detection();
	test_toggle_evidence();
	test_h12_recovery();
	test_page4_losses();
	test_page4_checks();
	test_metadata_in_stream();
	test_legacy();
	test_paged_with_losses();
	test_60s_reset();
	test_channel_change();
	test_time_and_args();
	test_sample();
	test_strings();
	return check_exit("test-ant-hrm");
}
