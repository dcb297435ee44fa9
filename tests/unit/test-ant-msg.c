/* SPDX-License-Identifier: MIT */
/*
 * ANT serial protocol (lib/ant-msg.h) against every framing vector of
 * PROTOCOLS §5.3-§5.5, plus resync, chunking and error cases.
 *
 * The network key in AD1 is the dummy 01..08 of PROTOCOLS; the real ANT+
 * key never appears in this repository.
 */
#include <stdint.h>
#include <string.h>

#include "ant-msg.h"
#include "check.h"
#include "cleanup.h"

/* §5.3 public captures ------------------------------------------------- */

static const uint8_t A1[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x00, /* channel 0 */
	0x46, /* answers Set Network Key */
	0x00, /* RESPONSE_NO_ERROR */
	0xA1, /* checksum */
};

static const uint8_t A2[] = {
	0xA4, /* sync */
	0x01, /* length */
	0x6F, /* startup */
	0x20, /* reason: command reset */
	0xEA, /* checksum */
};

static const uint8_t A3[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x01, /* channel 1 */
	0x42, /* answers Assign Channel */
	0x00, /* RESPONSE_NO_ERROR */
	0xA4, /* checksum (equal to the sync byte) */
};

static const uint8_t A4[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x01, /* channel 1 */
	0x51, /* answers Set Channel ID */
	0x00, /* RESPONSE_NO_ERROR */
	0xB7, /* checksum */
};

static const uint8_t A5[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x01, /* channel 1 */
	0x45, /* answers Set RF Frequency */
	0x00, /* RESPONSE_NO_ERROR */
	0xA3, /* checksum */
};

static const uint8_t A6[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x01, /* channel 1 */
	0x43, /* answers Set Channel Period */
	0x00, /* RESPONSE_NO_ERROR */
	0xA5, /* checksum */
};

static const uint8_t A7[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x01, /* channel 1 */
	0x4B, /* answers Open Channel */
	0x00, /* RESPONSE_NO_ERROR */
	0xAD, /* checksum */
};

static const uint8_t A8[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x4D, /* Request Message */
	0x00, /* channel 0 */
	0x54, /* requested: capabilities */
	0xBF, /* checksum */
};

static const uint8_t A9[] = {
	0xA4, /* sync */
	0x08, /* length */
	0x54, /* capabilities */
	0x08, /* max channels 8 */
	0x08, /* max networks 8 */
	0x00, /* standard options */
	0xBA, /* advanced: network, serial, per-channel TX, LP search, search list */
	0x36, /* advanced 2: ext messages, scan mode, proximity search, ext assign */
	0x00, /* max SensRcore channels */
	0xDF, /* advanced 3 */
	0x79, /* advanced 4 */
	0xD2, /* checksum */
};

static const uint8_t A10[] = {
	0xA4, /* sync */
	0x01, /* length */
	0x4A, /* Reset System */
	0x00, /* filler */
	0xEF, /* checksum */
};

static const uint8_t A11[] = {
	0xA4, /* sync */
	0x01, /* length */
	0x6F, /* startup */
	0x00, /* reason: power-on style */
	0xCA, /* checksum */
};

static const uint8_t A12[] = {
	0xA4,	    /* sync */
	0x09,	    /* length */
	0x4E,	    /* broadcast data */
	0x00,	    /* channel 0 */
	0x04,	    /* HRM byte 0: toggle 0, page 4 */
	0x00,	    /* manufacturer specific */
	0x34, 0x09, /* previous beat time 2356 */
	0x77, 0x0A, /* beat time 2679 */
	0x0A,	    /* beat count 10 */
	0x5E,	    /* heart rate 94 */
	0xF3,	    /* checksum */
};

static const uint8_t A13[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x00, /* channel 0 */
	0x01, /* RF event */
	0x02, /* EVENT_RX_FAIL */
	0xE4, /* checksum */
};

static const uint8_t A14[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x00, /* channel 0 */
	0x01, /* RF event */
	0x08, /* EVENT_RX_FAIL_GO_TO_SEARCH */
	0xEE, /* checksum */
};

static const uint8_t A15[] = {
	0xA4,	    /* sync */
	0x09,	    /* length */
	0x4E,	    /* broadcast data */
	0x00,	    /* channel 0 */
	0x04,	    /* HRM byte 0: toggle 0, page 4 */
	0x00,	    /* manufacturer specific */
	0xEC, 0x1B, /* previous beat time 7148 */
	0x33, 0x1D, /* beat time 7475 */
	0x18,	    /* beat count 24 */
	0x7D,	    /* heart rate 125 */
	0x5B,	    /* checksum */
};

/* §5.4 derived host -> stick ------------------------------------------- */

static const uint8_t dummy_key[CD_ANT_NETWORK_KEY_SIZE] = {1, 2, 3, 4, 5, 6, 7, 8};

static const uint8_t AD1[] = {
	0xA4,			/* sync */
	0x09,			/* length */
	0x46,			/* Set Network Key */
	0x00,			/* network 0 */
	0x01, 0x02, 0x03, 0x04, /* dummy key, bytes 0-3 */
	0x05, 0x06, 0x07, 0x08, /* dummy key, bytes 4-7 */
	0xE3,			/* checksum */
};

static const uint8_t AD2[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x42, /* Assign Channel */
	0x00, /* channel 0 */
	0x00, /* type: bidirectional slave */
	0x00, /* network 0 */
	0xE5, /* checksum */
};

static const uint8_t AD3[] = {
	0xA4, /* sync */
	0x04, /* length */
	0x42, /* Assign Channel */
	0x00, /* channel 0 */
	0x00, /* type: bidirectional slave */
	0x00, /* network 0 */
	0x01, /* extended assignment: background scanning */
	0xE3, /* checksum */
};

static const uint8_t AD4[] = {
	0xA4,	    /* sync */
	0x05,	    /* length */
	0x51,	    /* Set Channel ID */
	0x00,	    /* channel 0 */
	0x00, 0x00, /* device number: wildcard */
	0x78,	    /* device type 120 (HRM) */
	0x00,	    /* transmission type: wildcard */
	0x88,	    /* checksum */
};

static const uint8_t AD5[] = {
	0xA4,	    /* sync */
	0x05,	    /* length */
	0x51,	    /* Set Channel ID */
	0x00,	    /* channel 0 */
	0x39, 0x30, /* device number 12345 */
	0x78,	    /* device type 120 (HRM) */
	0x01,	    /* transmission type 1 */
	0x80,	    /* checksum */
};

static const uint8_t AD6[] = {
	0xA4,	    /* sync */
	0x05,	    /* length */
	0x51,	    /* Set Channel ID */
	0x00,	    /* channel 0 */
	0x00, 0x00, /* device number: wildcard */
	0xF8,	    /* device type 120 | pairing bit */
	0x00,	    /* transmission type: wildcard */
	0x08,	    /* checksum */
};

static const uint8_t AD7[] = {
	0xA4,	    /* sync */
	0x03,	    /* length */
	0x43,	    /* Set Channel Period */
	0x00,	    /* channel 0 */
	0x86, 0x1F, /* period 8070 */
	0x7D,	    /* checksum */
};

static const uint8_t AD8[] = {
	0xA4,	    /* sync */
	0x03,	    /* length */
	0x43,	    /* Set Channel Period */
	0x00,	    /* channel 0 */
	0x0C, 0x3F, /* period 16140 */
	0xD7,	    /* checksum */
};

static const uint8_t AD9[] = {
	0xA4,	    /* sync */
	0x03,	    /* length */
	0x43,	    /* Set Channel Period */
	0x00,	    /* channel 0 */
	0x18, 0x7E, /* period 32280 */
	0x82,	    /* checksum */
};

static const uint8_t AD10[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x45, /* Set RF Frequency */
	0x00, /* channel 0 */
	0x39, /* offset 57: 2457 MHz */
	0xDA, /* checksum */
};

static const uint8_t AD11[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x44, /* Set (high-priority) Search Timeout */
	0x00, /* channel 0 */
	0x0C, /* 12 x 2.5 s = 30 s */
	0xEE, /* checksum */
};

static const uint8_t AD12[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x44, /* Set (high-priority) Search Timeout */
	0x00, /* channel 0 */
	0x00, /* disabled */
	0xE2, /* checksum */
};

static const uint8_t AD13[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x63, /* Set Low-Priority Search Timeout */
	0x00, /* channel 0 */
	0x0C, /* 12 x 2.5 s = 30 s */
	0xC9, /* checksum */
};

static const uint8_t AD14[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x63, /* Set Low-Priority Search Timeout */
	0x00, /* channel 0 */
	0xFF, /* infinite */
	0x3A, /* checksum */
};

static const uint8_t AD15[] = {
	0xA4, /* sync */
	0x01, /* length */
	0x4B, /* Open Channel */
	0x00, /* channel 0 */
	0xEE, /* checksum */
};

static const uint8_t AD16[] = {
	0xA4, /* sync */
	0x01, /* length */
	0x5B, /* Open Rx Scan Mode */
	0x00, /* filler */
	0xFE, /* checksum */
};

static const uint8_t AD17[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x5B, /* Open Rx Scan Mode */
	0x00, /* filler */
	0x01, /* synchronous packets only */
	0xFC, /* checksum */
};

static const uint8_t AD18[] = {
	0xA4, /* sync */
	0x01, /* length */
	0x4C, /* Close Channel */
	0x00, /* channel 0 */
	0xE9, /* checksum */
};

static const uint8_t AD19[] = {
	0xA4, /* sync */
	0x01, /* length */
	0x41, /* Unassign Channel */
	0x00, /* channel 0 */
	0xE4, /* checksum */
};

static const uint8_t AD20[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x66, /* Enable Extended RX Messages */
	0x00, /* filler */
	0x01, /* enable */
	0xC1, /* checksum */
};

static const uint8_t AD21[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x6E, /* Lib Config */
	0x00, /* filler */
	0x80, /* channel ID */
	0x48, /* checksum */
};

static const uint8_t AD22[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x6E, /* Lib Config */
	0x00, /* filler */
	0xE0, /* channel ID | RSSI | RX timestamp */
	0x28, /* checksum */
};

static const uint8_t AD23[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x4D, /* Request Message */
	0x00, /* channel 0 */
	0x52, /* requested: channel status */
	0xB9, /* checksum */
};

static const uint8_t AD24[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x4D, /* Request Message */
	0x00, /* channel 0 */
	0x51, /* requested: channel ID */
	0xBA, /* checksum */
};

static const uint8_t AD25[] = {
	0xA4, /* sync */
	0x01, /* length */
	0x4A, /* Reset System */
	0x00, /* filler */
	0xEF, /* checksum */
};

/* §5.5 derived stick -> host ------------------------------------------- */

static const uint8_t AE1[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x00, /* channel 0 */
	0x01, /* RF event */
	0x01, /* EVENT_RX_SEARCH_TIMEOUT */
	0xE7, /* checksum */
};

static const uint8_t AE2[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x00, /* channel 0 */
	0x01, /* RF event */
	0x07, /* EVENT_CHANNEL_CLOSED */
	0xE1, /* checksum */
};

static const uint8_t AE3[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x00, /* channel 0 */
	0x4C, /* answers Close Channel */
	0x00, /* RESPONSE_NO_ERROR (not closed yet) */
	0xAB, /* checksum */
};

static const uint8_t AE4[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x00, /* channel 0 */
	0x4B, /* answers Open Channel */
	0x15, /* CHANNEL_IN_WRONG_STATE */
	0xB9, /* checksum */
};

static const uint8_t AE5[] = {
	0xA4, /* sync */
	0x03, /* length */
	0x40, /* channel response/event */
	0x00, /* channel 0 */
	0x5B, /* answers Open Rx Scan Mode */
	0x19, /* CLOSE_ALL_CHANNELS */
	0xA5, /* checksum */
};

static const uint8_t AE6[] = {
	0xA4, /* sync */
	0x02, /* length */
	0x52, /* channel status */
	0x00, /* channel 0 */
	0x03, /* tracking */
	0xF7, /* checksum */
};

static const uint8_t AE7[] = {
	0xA4,	    /* sync */
	0x0E,	    /* length 14 */
	0x4E,	    /* broadcast data */
	0x00,	    /* channel 0 */
	0x04,	    /* HRM byte 0: toggle 0, page 4 */
	0x00,	    /* manufacturer specific */
	0x34, 0x09, /* previous beat time 2356 */
	0x77, 0x0A, /* beat time 2679 */
	0x0A,	    /* beat count 10 */
	0x5E,	    /* heart rate 94 */
	0x80,	    /* flag: channel ID follows */
	0x39, 0x30, /* device number 12345 */
	0x78,	    /* device type 120 */
	0x01,	    /* transmission type 1 */
	0x04,	    /* checksum */
};

static const uint8_t AE8[] = {
	0xA4,	    /* sync */
	0x13,	    /* length 19 */
	0x4E,	    /* broadcast data */
	0x00,	    /* channel 0 */
	0x04,	    /* HRM byte 0: toggle 0, page 4 */
	0x00,	    /* manufacturer specific */
	0x34, 0x09, /* previous beat time 2356 */
	0x77, 0x0A, /* beat time 2679 */
	0x0A,	    /* beat count 10 */
	0x5E,	    /* heart rate 94 */
	0xE0,	    /* flag: channel ID, RSSI, RX timestamp follow */
	0x39, 0x30, /* device number 12345 */
	0x78,	    /* device type 120 */
	0x01,	    /* transmission type 1 */
	0x20,	    /* RSSI measurement type: dBm */
	0xC5,	    /* RSSI -59 dBm */
	0xA0,	    /* threshold -96 dBm */
	0x10, 0x27, /* RX timestamp 10000 / 32768 s */
	0x0B,	    /* checksum */
};

static const uint8_t AE9[] = {
	0xA4,	    /* sync */
	0x0D,	    /* length 13 */
	0x5D,	    /* legacy extended broadcast data */
	0x00,	    /* channel 0 */
	0x39, 0x30, /* device number 12345 */
	0x78,	    /* device type 120 */
	0x01,	    /* transmission type 1 */
	0x04,	    /* HRM byte 0: toggle 0, page 4 */
	0x00,	    /* manufacturer specific */
	0x34, 0x09, /* previous beat time 2356 */
	0x77, 0x0A, /* beat time 2679 */
	0x0A,	    /* beat count 10 */
	0x5E,	    /* heart rate 94 */
	0x94,	    /* checksum */
};

static const uint8_t AE10[] = {
	0xA4,	    /* sync */
	0x09,	    /* length */
	0x4E,	    /* broadcast data */
	0x00,	    /* channel 0 */
	0x04,	    /* HRM byte 0 */
	0x00,	    /* manufacturer specific */
	0x34, 0x09, /* previous beat time */
	0x77, 0x0A, /* beat time */
	0x0A,	    /* beat count */
	0x5E,	    /* heart rate */
	0xF4,	    /* BAD checksum (F3 is right) */
};

static const uint8_t AE11[] = {
	0x00, 0x00, /* junk */
	0xA4,	    /* sync */
	0x03,	    /* length */
	0x40,	    /* channel response/event */
	0x00,	    /* channel 0 */
	0x01,	    /* RF event */
	0x07,	    /* EVENT_CHANNEL_CLOSED */
	0xE1,	    /* checksum */
	0xA4,	    /* sync of a truncated frame */
	0x01,	    /* its length */
};

/* The HRM payload shared by A12, AE7, AE8, AE9 (H1). */
static const uint8_t H1[CD_ANT_DATA_SIZE] = {0x04, 0x00, 0x34, 0x09, 0x77, 0x0A, 0x0A, 0x5E};

struct vector {
	const char *name;
	const uint8_t *bytes;
	size_t size;
};

#define V(x)                                                                                       \
	{                                                                                          \
#x, x, sizeof(x)                                                                   \
	}

/* Every complete, well-formed frame above, in both directions. */
static const struct vector frames[] = {
	V(A1),	 V(A2),	  V(A3),   V(A4),   V(A5),   V(A6),   V(A7),   V(A8),	V(A9),	 V(A10),
	V(A11),	 V(A12),  V(A13),  V(A14),  V(A15),  V(AD1),  V(AD2),  V(AD3),	V(AD4),	 V(AD5),
	V(AD6),	 V(AD7),  V(AD8),  V(AD9),  V(AD10), V(AD11), V(AD12), V(AD13), V(AD14), V(AD15),
	V(AD16), V(AD17), V(AD18), V(AD19), V(AD20), V(AD21), V(AD22), V(AD23), V(AD24), V(AD25),
	V(AE1),	 V(AE2),  V(AE3),  V(AE4),  V(AE5),  V(AE6),  V(AE7),  V(AE8),	V(AE9),
};

/* Decode a buffer that must hold exactly one frame and nothing else. */
static int decode_one(const uint8_t *p, size_t n, struct cd_ant_msg *ret)
{
	struct cd_ant_decoder d;
	struct cd_ant_msg extra;
	int r;

	cd_ant_decoder_init(&d);
	r = cd_ant_decoder_feed(&d, &p, &n, ret);
	if (r != 1)
		return -1;
	if (n != 0 || cd_ant_decoder_feed(&d, &p, &n, &extra) != 0)
		return -1;
	if (cd_ant_decoder_pending(&d) != 0 || d.n_skipped != 0 || d.n_bad_checksum != 0)
		return -1;
	return 0;
}

static void check_frame(const struct cd_ant_frame *f, const uint8_t *want, size_t size)
{
	CHECK_INT(f->size, size);
	CHECK(f->size == size && memcmp(f->data, want, size) == 0);
}

static void test_checksums(void)
{
	for (size_t i = 0; i < ELEMENTSOF(frames); i++) {
		const struct vector *v = &frames[i];
		struct cd_ant_msg m;

		/* §3.1: the XOR of every byte before it, sync included. */
		CHECK_INT(cd_ant_checksum(v->bytes, v->size - 1), v->bytes[v->size - 1]);
		CHECK_INT(v->bytes[1] + CD_ANT_FRAME_OVERHEAD, v->size);
		if (decode_one(v->bytes, v->size, &m) < 0) {
			fprintf(stderr, "%s: does not decode as one frame\n", v->name);
			CHECK(false);
			continue;
		}
		CHECK_INT(m.id, v->bytes[2]);
		CHECK_INT(m.len, v->bytes[1]);
		CHECK(memcmp(m.payload, v->bytes + 3, m.len) == 0);
	}
}

static void test_builders(void)
{
	struct cd_ant_frame f;

	CHECK_INT(cd_ant_build_request(&f, 0, CD_ANT_MSG_CAPABILITIES), 0);
	check_frame(&f, A8, sizeof(A8));
	CHECK_INT(cd_ant_build_reset(&f), 0);
	check_frame(&f, A10, sizeof(A10));

	CHECK_INT(cd_ant_build_set_network_key(&f, 0, dummy_key), 0);
	check_frame(&f, AD1, sizeof(AD1));
	CHECK_INT(cd_ant_build_assign_channel(&f, 0, CD_ANT_CHANNEL_TYPE_SLAVE, 0), 0);
	check_frame(&f, AD2, sizeof(AD2));
	CHECK_INT(cd_ant_build_assign_channel_ext(&f, 0, CD_ANT_CHANNEL_TYPE_SLAVE, 0,
						  CD_ANT_EXT_ASSIGN_BACKGROUND_SCAN),
		  0);
	check_frame(&f, AD3, sizeof(AD3));

	CHECK_INT(cd_ant_build_set_channel_id(&f, 0,
					      &(struct cd_ant_channel_id){
						      .device_type = 120,
					      }),
		  0);
	check_frame(&f, AD4, sizeof(AD4));
	CHECK_INT(cd_ant_build_set_channel_id(&f, 0,
					      &(struct cd_ant_channel_id){
						      .device_number = 12345,
						      .device_type = 120,
						      .trans_type = 1,
					      }),
		  0);
	check_frame(&f, AD5, sizeof(AD5));
	CHECK_INT(
		cd_ant_build_set_channel_id(&f, 0,
					    &(struct cd_ant_channel_id){
						    .device_type = 120 | CD_ANT_DEVICE_TYPE_PAIRING,
					    }),
		0);
	check_frame(&f, AD6, sizeof(AD6));

	CHECK_INT(cd_ant_build_set_channel_period(&f, 0, 8070), 0);
	check_frame(&f, AD7, sizeof(AD7));
	CHECK_INT(cd_ant_build_set_channel_period(&f, 0, 16140), 0);
	check_frame(&f, AD8, sizeof(AD8));
	CHECK_INT(cd_ant_build_set_channel_period(&f, 0, 32280), 0);
	check_frame(&f, AD9, sizeof(AD9));
	CHECK_INT(cd_ant_build_set_rf_frequency(&f, 0, 57), 0);
	check_frame(&f, AD10, sizeof(AD10));
	CHECK_INT(cd_ant_build_set_search_timeout(&f, 0, 12), 0);
	check_frame(&f, AD11, sizeof(AD11));
	CHECK_INT(cd_ant_build_set_search_timeout(&f, 0, CD_ANT_SEARCH_TIMEOUT_DISABLED), 0);
	check_frame(&f, AD12, sizeof(AD12));
	CHECK_INT(cd_ant_build_set_lp_search_timeout(&f, 0, 12), 0);
	check_frame(&f, AD13, sizeof(AD13));
	CHECK_INT(cd_ant_build_set_lp_search_timeout(&f, 0, CD_ANT_SEARCH_TIMEOUT_INFINITE), 0);
	check_frame(&f, AD14, sizeof(AD14));
	CHECK_INT(cd_ant_build_open_channel(&f, 0), 0);
	check_frame(&f, AD15, sizeof(AD15));
	CHECK_INT(cd_ant_build_open_rx_scan(&f, false), 0);
	check_frame(&f, AD16, sizeof(AD16));
	CHECK_INT(cd_ant_build_open_rx_scan(&f, true), 0);
	check_frame(&f, AD17, sizeof(AD17));
	CHECK_INT(cd_ant_build_close_channel(&f, 0), 0);
	check_frame(&f, AD18, sizeof(AD18));
	CHECK_INT(cd_ant_build_unassign_channel(&f, 0), 0);
	check_frame(&f, AD19, sizeof(AD19));
	CHECK_INT(cd_ant_build_enable_ext_rx(&f, true), 0);
	check_frame(&f, AD20, sizeof(AD20));
	CHECK_INT(cd_ant_build_lib_config(&f, CD_ANT_EXT_CHANNEL_ID), 0);
	check_frame(&f, AD21, sizeof(AD21));
	CHECK_INT(cd_ant_build_lib_config(&f, CD_ANT_EXT_CHANNEL_ID | CD_ANT_EXT_RSSI |
						      CD_ANT_EXT_TIMESTAMP),
		  0);
	check_frame(&f, AD22, sizeof(AD22));
	CHECK_INT(cd_ant_build_request(&f, 0, CD_ANT_MSG_CHANNEL_STATUS), 0);
	check_frame(&f, AD23, sizeof(AD23));
	CHECK_INT(cd_ant_build_request(&f, 0, CD_ANT_MSG_CHANNEL_ID), 0);
	check_frame(&f, AD24, sizeof(AD24));
	CHECK_INT(cd_ant_build_reset(&f), 0);
	check_frame(&f, AD25, sizeof(AD25));

	/* Not in §5.4, shapes from §3.2. */
	CHECK_INT(cd_ant_build_enable_ext_rx(&f, false), 0);
	CHECK(f.size == 6 && f.data[3] == 0x00 && f.data[4] == 0x00);
	CHECK_INT(cd_ant_build_lib_config(&f, 0), 0);
	CHECK(f.size == 6 && f.data[2] == 0x6E && f.data[4] == 0x00);
	CHECK_INT(cd_ant_build_assign_channel(&f, 3, CD_ANT_CHANNEL_TYPE_SLAVE_RX_ONLY, 1), 0);
	CHECK(f.size == 7 && f.data[3] == 3 && f.data[4] == 0x40 && f.data[5] == 1);
	CHECK_INT(cd_ant_build_set_channel_period(&f, 2, 0xFFFF), 0);
	CHECK(f.data[3] == 2 && f.data[4] == 0xFF && f.data[5] == 0xFF);
}

static void test_builder_errors(void)
{
	struct cd_ant_frame f = {.size = 99};

	/* §3.1: id 0 is invalid; LEN 1..41. */
	CHECK_INT(cd_ant_frame_encode(0x00, (const uint8_t[]){0}, 1, &f), -EINVAL);
	CHECK_INT(cd_ant_frame_encode(0x4A, (const uint8_t[]){0}, 0, &f), -EINVAL);
	CHECK_INT(cd_ant_frame_encode(0x4A, (const uint8_t[CD_ANT_MAX_PAYLOAD + 1]){0},
				      CD_ANT_MAX_PAYLOAD + 1, &f),
		  -EINVAL);
	CHECK_INT(cd_ant_frame_encode(0x4A, NULL, 1, &f), -EINVAL);
	CHECK_INT(cd_ant_frame_encode(0x4A, (const uint8_t[]){0}, 1, NULL), -EINVAL);
	CHECK_INT(f.size, 99); /* untouched */

	CHECK_INT(cd_ant_frame_encode(0x4E, (const uint8_t[CD_ANT_MAX_PAYLOAD]){0},
				      CD_ANT_MAX_PAYLOAD, &f),
		  0);
	CHECK_INT(f.size, CD_ANT_MAX_FRAME);

	CHECK_INT(cd_ant_build_reset(NULL), -EINVAL);
	CHECK_INT(cd_ant_build_request(&f, 0, 0x00), -EINVAL);
	CHECK_INT(cd_ant_build_set_network_key(&f, 0, NULL), -EINVAL);
	CHECK_INT(cd_ant_build_set_network_key(NULL, 0, dummy_key), -EINVAL);
	CHECK_INT(cd_ant_build_assign_channel(&f, 0, 0x05, 0), -EINVAL);
	CHECK_INT(cd_ant_build_assign_channel(&f, 0, 0x60, 0), -EINVAL);
	CHECK_INT(cd_ant_build_assign_channel_ext(&f, 0, 0x01, 0, 0), -EINVAL);
	CHECK_INT(cd_ant_build_set_channel_period(&f, 0, 0), -EINVAL);
	CHECK_INT(cd_ant_build_lib_config(&f, 0x01), -EINVAL);
	CHECK_INT(cd_ant_build_lib_config(&f, 0x90), -EINVAL);
	CHECK_INT(cd_ant_build_set_channel_id(&f, 0, NULL), -EINVAL);
	/* More than 20 bits. */
	CHECK_INT(cd_ant_build_set_channel_id(&f, 0,
					      &(struct cd_ant_channel_id){
						      .device_number = 0x100000,
						      .device_type = 120,
						      .trans_type = 0x01,
					      }),
		  -EINVAL);
	/* Bits 16-19 (5) disagree with the transmission type's nibble (3). */
	CHECK_INT(cd_ant_build_set_channel_id(&f, 0,
					      &(struct cd_ant_channel_id){
						      .device_number = 0x53039,
						      .device_type = 120,
						      .trans_type = 0x31,
					      }),
		  -EINVAL);
}

static void test_channel_id_20bit(void)
{
	/* §4.1: bits 4-7 of the transmission type extend the number to 20 bits. */
	static const uint8_t ext[] = {
		0xA4,			/* sync */
		0x0E,			/* length 14 */
		0x4E,			/* broadcast data */
		0x02,			/* channel 2 */
		0x00, 0xFF, 0xFF, 0xFF, /* HRM page 0 */
		0x34, 0x12,		/* beat time */
		0x05,			/* beat count */
		0x48,			/* heart rate 72 */
		0x80,			/* flag: channel ID */
		0x39, 0x30,		/* device number, low 16 bits 12345 */
		0x78,			/* device type 120 */
		0x51,			/* transmission type: bits 16-19 = 5, independent channel */
		0x00,			/* checksum, filled in below */
	};
	uint8_t buf[sizeof(ext)];
	struct cd_ant_frame f;
	struct cd_ant_msg m;
	struct cd_ant_data d;
	struct cd_ant_channel_id id;
	uint8_t ch;

	memcpy(buf, ext, sizeof(buf));
	buf[sizeof(buf) - 1] = cd_ant_checksum(buf, sizeof(buf) - 1);
	CHECK_INT(decode_one(buf, sizeof(buf), &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), 0);
	CHECK_INT(d.channel, 2);
	CHECK_INT(d.ext, CD_ANT_EXT_CHANNEL_ID);
	CHECK_INT(d.id.device_number, 0x53039);
	CHECK_INT(d.id.device_number, 340025);
	CHECK_INT(d.id.device_type, 120);
	CHECK_INT(d.id.trans_type, 0x51);
	CHECK_INT(cd_ant_device_number20(12345, 0x51), 0x53039);
	CHECK_INT(cd_ant_device_number20(0xFFFF, 0xF1), 0xFFFFF);

	/* Pinning that sensor sends back the very same four bytes. */
	CHECK_INT(cd_ant_build_set_channel_id(&f, 2, &d.id), 0);
	CHECK(f.size == 9 &&
	      memcmp(f.data + 3, (const uint8_t[]){0x02, 0x39, 0x30, 0x78, 0x51}, 5) == 0);
	/* Number above 16 bits with its nibble already in the transmission type. */
	CHECK_INT(cd_ant_build_set_channel_id(&f, 0,
					      &(struct cd_ant_channel_id){
						      .device_number = 0xF0001,
						      .device_type = 120,
						      .trans_type = 0xF1,
					      }),
		  0);
	CHECK(f.data[4] == 0x01 && f.data[5] == 0x00 && f.data[7] == 0xF1);

	/* The Channel ID answer (§3.3 0x51) decodes the same way. */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_CHANNEL_ID,
				      (const uint8_t[]){0x01, 0x39, 0x30, 0x78, 0x51}, 5, &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_channel_id(&m, &ch, &id), 0);
	CHECK_INT(ch, 1);
	CHECK_INT(id.device_number, 0x53039);
	CHECK(cd_ant_channel_id_equal(&id, &d.id));
	id.device_type |= CD_ANT_DEVICE_TYPE_PAIRING;
	CHECK(cd_ant_channel_id_equal(&id, &d.id)); /* pairing bit ignored */
	id.trans_type = 0x01;
	CHECK(!cd_ant_channel_id_equal(&id, &d.id));
}

static void check_event(const uint8_t *frame, size_t size, uint8_t channel, uint8_t msg_id,
			uint8_t code, bool rf)
{
	struct cd_ant_msg m;
	struct cd_ant_channel_event e;

	CHECK_INT(decode_one(frame, size, &m), 0);
	CHECK_INT(cd_ant_parse_channel_event(&m, &e), 0);
	CHECK_INT(e.channel, channel);
	CHECK_INT(e.msg_id, msg_id);
	CHECK_INT(e.code, code);
	CHECK(cd_ant_channel_event_is_rf(&e) == rf);
}

static void check_h1_data(const uint8_t *frame, size_t size, uint8_t msg_id, uint8_t ext)
{
	struct cd_ant_msg m;
	struct cd_ant_data d;

	CHECK_INT(decode_one(frame, size, &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), 0);
	CHECK_INT(d.msg_id, msg_id);
	CHECK_INT(d.channel, 0);
	CHECK(memcmp(d.data, H1, sizeof(H1)) == 0);
	CHECK_INT(d.ext, ext);
	if (ext & CD_ANT_EXT_CHANNEL_ID) {
		CHECK_INT(d.id.device_number, 12345);
		CHECK_INT(d.id.device_type, 120);
		CHECK_INT(d.id.trans_type, 1);
	}
}

static void test_stick_messages(void)
{
	struct cd_ant_msg m;
	struct cd_ant_capabilities caps;
	struct cd_ant_channel_status st;
	struct cd_ant_data d;
	uint8_t reason = 0xFF;

	/* §5.3 */
	check_event(A1, sizeof(A1), 0, CD_ANT_MSG_NETWORK_KEY, CD_ANT_RESPONSE_NO_ERROR, false);
	CHECK_INT(decode_one(A2, sizeof(A2), &m), 0);
	CHECK_INT(cd_ant_parse_startup(&m, &reason), 0);
	CHECK_INT(reason, CD_ANT_STARTUP_COMMAND_RESET);
	check_event(A3, sizeof(A3), 1, CD_ANT_MSG_ASSIGN_CHANNEL, CD_ANT_RESPONSE_NO_ERROR, false);
	check_event(A4, sizeof(A4), 1, CD_ANT_MSG_CHANNEL_ID, CD_ANT_RESPONSE_NO_ERROR, false);
	check_event(A5, sizeof(A5), 1, CD_ANT_MSG_RF_FREQUENCY, CD_ANT_RESPONSE_NO_ERROR, false);
	check_event(A6, sizeof(A6), 1, CD_ANT_MSG_CHANNEL_PERIOD, CD_ANT_RESPONSE_NO_ERROR, false);
	check_event(A7, sizeof(A7), 1, CD_ANT_MSG_OPEN_CHANNEL, CD_ANT_RESPONSE_NO_ERROR, false);

	CHECK_INT(decode_one(A9, sizeof(A9), &m), 0);
	CHECK_INT(cd_ant_parse_capabilities(&m, &caps), 0);
	CHECK_INT(caps.max_channels, 8);
	CHECK_INT(caps.max_networks, 8);
	CHECK_INT(caps.standard_options, 0x00);
	CHECK_INT(caps.advanced_options, 0xBA);
	CHECK_INT(caps.advanced_options2, 0x36);
	CHECK_INT(caps.max_sensrcore_channels, 0);
	CHECK_INT(caps.advanced_options3, 0xDF);
	CHECK_INT(caps.advanced_options4, 0x79);
	CHECK_INT(caps.n_bytes, 8);
	CHECK_INT(caps.advanced_options, CD_ANT_CAP_ADV_NETWORK | CD_ANT_CAP_ADV_SERIAL_NUMBER |
						 CD_ANT_CAP_ADV_PER_CHANNEL_TX |
						 CD_ANT_CAP_ADV_LOW_PRIO_SEARCH |
						 CD_ANT_CAP_ADV_SEARCH_LIST);
	CHECK_INT(caps.advanced_options2, CD_ANT_CAP_ADV2_EXT_MESSAGES | CD_ANT_CAP_ADV2_SCAN_MODE |
						  CD_ANT_CAP_ADV2_PROX_SEARCH |
						  CD_ANT_CAP_ADV2_EXT_ASSIGN);

	CHECK_INT(decode_one(A11, sizeof(A11), &m), 0);
	CHECK_INT(cd_ant_parse_startup(&m, &reason), 0);
	CHECK_INT(reason, CD_ANT_STARTUP_POWER_ON);

	check_h1_data(A12, sizeof(A12), CD_ANT_MSG_BROADCAST_DATA, 0);
	check_event(A13, sizeof(A13), 0, CD_ANT_MSG_ID_RF_EVENT, CD_ANT_EVENT_RX_FAIL, true);
	check_event(A14, sizeof(A14), 0, CD_ANT_MSG_ID_RF_EVENT, CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH,
		    true);
	CHECK_INT(decode_one(A15, sizeof(A15), &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), 0);
	CHECK(memcmp(d.data, (const uint8_t[]){0x04, 0x00, 0xEC, 0x1B, 0x33, 0x1D, 0x18, 0x7D},
		     8) == 0);
	CHECK_INT(d.ext, 0);

	/* §5.5 */
	check_event(AE1, sizeof(AE1), 0, CD_ANT_MSG_ID_RF_EVENT, CD_ANT_EVENT_RX_SEARCH_TIMEOUT,
		    true);
	check_event(AE2, sizeof(AE2), 0, CD_ANT_MSG_ID_RF_EVENT, CD_ANT_EVENT_CHANNEL_CLOSED, true);
	check_event(AE3, sizeof(AE3), 0, CD_ANT_MSG_CLOSE_CHANNEL, CD_ANT_RESPONSE_NO_ERROR, false);
	check_event(AE4, sizeof(AE4), 0, CD_ANT_MSG_OPEN_CHANNEL, CD_ANT_CHANNEL_IN_WRONG_STATE,
		    false);
	check_event(AE5, sizeof(AE5), 0, CD_ANT_MSG_OPEN_RX_SCAN, CD_ANT_CLOSE_ALL_CHANNELS, false);

	CHECK_INT(decode_one(AE6, sizeof(AE6), &m), 0);
	CHECK_INT(cd_ant_parse_channel_status(&m, &st), 0);
	CHECK_INT(st.channel, 0);
	CHECK_INT(st.status, 3);
	CHECK_INT(st.state, CD_ANT_CHANNEL_STATE_TRACKING);
	CHECK_STR(cd_ant_channel_state_to_string(st.state), "tracking");

	check_h1_data(AE7, sizeof(AE7), CD_ANT_MSG_BROADCAST_DATA, CD_ANT_EXT_CHANNEL_ID);

	check_h1_data(AE8, sizeof(AE8), CD_ANT_MSG_BROADCAST_DATA,
		      CD_ANT_EXT_CHANNEL_ID | CD_ANT_EXT_RSSI | CD_ANT_EXT_TIMESTAMP);
	CHECK_INT(decode_one(AE8, sizeof(AE8), &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), 0);
	CHECK_INT(d.rssi_type, 0x20);
	CHECK_INT(d.rssi_dbm, -59);
	CHECK_INT(d.rssi_threshold_dbm, -96);
	CHECK_INT(d.rx_timestamp, 10000);
	CHECK_NEAR(d.rx_timestamp / 32768.0, 0.30518, 0.000005);

	check_h1_data(AE9, sizeof(AE9), CD_ANT_MSG_EXT_BROADCAST_DATA, CD_ANT_EXT_CHANNEL_ID);
}

static void test_other_parsers(void)
{
	struct cd_ant_frame f;
	struct cd_ant_msg m;
	struct cd_ant_capabilities caps;
	struct cd_ant_data d;
	struct cd_ant_channel_event e = {.channel = 42};
	char version[CD_ANT_MAX_PAYLOAD + 1];
	uint32_t serial;
	uint8_t reason;

	/* Capabilities of 6 and 7 bytes (§3.3: length varies by chip). */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_CAPABILITIES,
				      (const uint8_t[]){4, 3, 0, 0x02, 0x02, 0}, 6, &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_capabilities(&m, &caps), 0);
	CHECK(caps.max_channels == 4 && caps.max_networks == 3 && caps.n_bytes == 6);
	CHECK(caps.advanced_options3 == 0 && caps.advanced_options4 == 0);
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_CAPABILITIES,
				      (const uint8_t[]){8, 8, 0, 0xBA, 0x36, 0, 0xDF}, 7, &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_capabilities(&m, &caps), 0);
	CHECK(caps.n_bytes == 7 && caps.advanced_options3 == 0xDF && caps.advanced_options4 == 0);
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_CAPABILITIES, (const uint8_t[]){8, 8, 0, 0, 0}, 5,
				      &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_capabilities(&m, &caps), -EBADMSG);

	/* Serial number, 4 bytes LE. */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_SERIAL_NUMBER,
				      (const uint8_t[]){0x78, 0x56, 0x34, 0x12}, 4, &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_serial_number(&m, &serial), 0);
	CHECK_INT(serial, 0x12345678);

	/* Version: ASCII up to the NUL; unprintable bytes replaced. */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_VERSION, (const uint8_t *)"AP2USB1.05\0", 11, &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_version(&m, version), 0);
	CHECK_STR(version, "AP2USB1.05");
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_VERSION, (const uint8_t *)"AB\x01\xFF", 4, &f), 0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_version(&m, version), 0);
	CHECK_STR(version, "AB??");

	/* Wrong message for the parser: -ENOMSG, output untouched. */
	CHECK_INT(decode_one(A2, sizeof(A2), &m), 0);
	CHECK_INT(cd_ant_parse_channel_event(&m, &e), -ENOMSG);
	CHECK_INT(e.channel, 42);
	CHECK_INT(cd_ant_parse_data(&m, &d), -ENOMSG);
	CHECK_INT(cd_ant_parse_capabilities(&m, &caps), -ENOMSG);
	CHECK_INT(decode_one(A1, sizeof(A1), &m), 0);
	CHECK_INT(cd_ant_parse_startup(&m, &reason), -ENOMSG);
	CHECK_INT(cd_ant_parse_serial_number(&m, &serial), -ENOMSG);
	CHECK_INT(cd_ant_parse_version(&m, version), -ENOMSG);
	CHECK_INT(cd_ant_parse_channel_event(NULL, &e), -EINVAL);
	CHECK_INT(cd_ant_parse_channel_event(&m, NULL), -EINVAL);

	CHECK_INT(cd_ant_parse_channel_status(&m, &(struct cd_ant_channel_status){0}), -ENOMSG);
	CHECK_INT(cd_ant_parse_channel_id(&m, &reason, &(struct cd_ant_channel_id){0}), -ENOMSG);
	CHECK_INT(cd_ant_parse_data(NULL, &d), -EINVAL);
	CHECK_INT(decode_one(AD24, sizeof(AD24), &m), 0); /* a 0x4D, not a 0x51 */
	CHECK_INT(cd_ant_parse_channel_id(&m, &reason, &(struct cd_ant_channel_id){0}), -ENOMSG);

	/* Too short: -EBADMSG. */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_CHANNEL_STATUS, (const uint8_t[]){0}, 1, &f), 0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_channel_status(&m, &(struct cd_ant_channel_status){0}), -EBADMSG);
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_CHANNEL_ID, (const uint8_t[]){0, 1, 2, 3}, 4, &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_channel_id(&m, &reason, &(struct cd_ant_channel_id){0}), -EBADMSG);
	CHECK_INT(
		cd_ant_frame_encode(CD_ANT_MSG_CHANNEL_ID, (const uint8_t[]){0, 1, 2, 3, 4}, 5, &f),
		0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_channel_id(&m, NULL, &(struct cd_ant_channel_id){0}), -EINVAL);
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_CHANNEL_EVENT, (const uint8_t[]){0, 1}, 2, &f), 0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_channel_event(&m, &e), -EBADMSG);
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_BROADCAST_DATA, H1, 8, &f), 0); /* no channel */
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), -EBADMSG);
	/* AE8 with its timestamp cut off: flag promises 9 bytes, 7 present. */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_BROADCAST_DATA, AE8 + 3, 17, &f), 0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), -EBADMSG);
	/* Exactly one byte short: AE8 without its last byte, AE7 without its last. */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_BROADCAST_DATA, AE8 + 3, 18, &f), 0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), -EBADMSG);
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_BROADCAST_DATA, AE7 + 3, 13, &f), 0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), -EBADMSG);
	/* Legacy 0x5D one byte short. */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_EXT_BROADCAST_DATA, AE9 + 3, 12, &f), 0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), -EBADMSG);

	/* Flag byte with no fields (LEN 10), and only RSSI + timestamp. */
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_ACKNOWLEDGED_DATA,
				      (const uint8_t[]){1, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0, 60, 0x00},
				      10, &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), 0);
	CHECK(d.msg_id == CD_ANT_MSG_ACKNOWLEDGED_DATA && d.channel == 1 && d.ext == 0);
	CHECK_INT(cd_ant_frame_encode(CD_ANT_MSG_BROADCAST_DATA,
				      (const uint8_t[]){0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0, 60, 0x60,
							0x20, 0xB0, 0xA0, 0xFF, 0xFF},
				      15, &f),
		  0);
	CHECK_INT(decode_one(f.data, f.size, &m), 0);
	CHECK_INT(cd_ant_parse_data(&m, &d), 0);
	CHECK_INT(d.ext, CD_ANT_EXT_RSSI | CD_ANT_EXT_TIMESTAMP);
	CHECK_INT(d.rssi_dbm, -80);
	CHECK_INT(d.rx_timestamp, 0xFFFF);
	CHECK_INT(d.id.device_number, 0);
}

static void test_names(void)
{
	CHECK_STR(cd_ant_code_to_string(CD_ANT_EVENT_CHANNEL_CLOSED), "EVENT_CHANNEL_CLOSED");
	CHECK_STR(cd_ant_code_to_string(0x00), "RESPONSE_NO_ERROR");
	CHECK_STR(cd_ant_code_to_string(0x35), "EVENT_QUE_OVERFLOW");
	CHECK(cd_ant_code_to_string(0x9A) == NULL); /* library-internal, not a wire code */
	CHECK_STR(cd_ant_msg_id_to_string(0x4E), "BROADCAST_DATA");
	CHECK_STR(cd_ant_msg_id_to_string(0x6F), "STARTUP");
	CHECK(cd_ant_msg_id_to_string(0x00) == NULL);
	CHECK(cd_ant_channel_state_to_string(_CD_ANT_CHANNEL_STATE_MAX) == NULL);
	CHECK(cd_ant_channel_state_to_string(_CD_ANT_CHANNEL_STATE_INVALID) == NULL);
	for (int s = 0; s < _CD_ANT_CHANNEL_STATE_MAX; s++)
		CHECK(cd_ant_channel_state_to_string(s) != NULL);
}

/* Feed n bytes in chunks of the given size; collect the ids yielded. */
static size_t feed_chunked(struct cd_ant_decoder *d, const uint8_t *p, size_t n, size_t chunk,
			   struct cd_ant_msg *out, size_t max)
{
	size_t got = 0;

	while (n > 0) {
		size_t len = n < chunk ? n : chunk;
		const uint8_t *q = p;
		size_t left = len;
		struct cd_ant_msg m;

		while (cd_ant_decoder_feed(d, &q, &left, &m) > 0) {
			if (got < max)
				out[got] = m;
			got++;
		}
		CHECK_INT(left, 0);
		CHECK(cd_ant_decoder_pending(d) < CD_ANT_MAX_FRAME);
		p += len;
		n -= len;
	}
	return got;
}

static void test_bad_checksum(void)
{
	struct cd_ant_decoder d;
	struct cd_ant_msg m[4];
	uint8_t buf[sizeof(AE10) + sizeof(AE2)];

	/* AE10 alone: nothing, and the bad frame is counted. */
	cd_ant_decoder_init(&d);
	CHECK_INT(feed_chunked(&d, AE10, sizeof(AE10), sizeof(AE10), m, 4), 0);
	CHECK_INT(d.n_bad_checksum, 1);
	CHECK_INT(d.n_messages, 0);

	/* AE10 then AE2: the next 0xA4 is found and AE2 comes out. */
	memcpy(buf, AE10, sizeof(AE10));
	memcpy(buf + sizeof(AE10), AE2, sizeof(AE2));
	for (size_t chunk = 1; chunk <= sizeof(buf); chunk++) {
		cd_ant_decoder_init(&d);
		CHECK_INT(feed_chunked(&d, buf, sizeof(buf), chunk, m, 4), 1);
		CHECK(m[0].id == 0x40 && m[0].len == 3 && m[0].payload[2] == 0x07);
		CHECK_INT(d.n_bad_checksum, 1);
		CHECK_INT(cd_ant_decoder_pending(&d), 0);
	}
}

static void test_ae11(void)
{
	struct cd_ant_decoder d;
	struct cd_ant_msg m[4];
	const uint8_t *p = AE11;
	size_t n = sizeof(AE11);
	struct cd_ant_msg one;
	/* The rest of A2 completes the truncated frame. */
	static const uint8_t rest[] = {
		0x6F, /* startup */
		0x20, /* reason: command reset */
		0xEA, /* checksum */
	};
	uint8_t reason;

	cd_ant_decoder_init(&d);
	CHECK_INT(cd_ant_decoder_feed(&d, &p, &n, &one), 1);
	CHECK(one.id == 0x40 && one.payload[1] == 0x01 && one.payload[2] == 0x07);
	CHECK_INT(cd_ant_decoder_feed(&d, &p, &n, &one), 0);
	CHECK_INT(n, 0);
	CHECK_INT(d.n_messages, 1);
	CHECK_INT(d.n_skipped, 2); /* the two junk bytes */
	CHECK_INT(cd_ant_decoder_pending(&d), 2);
	CHECK(d.buf[0] == 0xA4 && d.buf[1] == 0x01);

	CHECK_INT(feed_chunked(&d, rest, sizeof(rest), 1, m, 4), 1);
	CHECK_INT(cd_ant_parse_startup(&m[0], &reason), 0);
	CHECK_INT(reason, 0x20);
	CHECK_INT(cd_ant_decoder_pending(&d), 0);

	/* Every split of AE11 gives the same: one message, A4 01 pending. */
	for (size_t chunk = 1; chunk <= sizeof(AE11); chunk++) {
		cd_ant_decoder_init(&d);
		CHECK_INT(feed_chunked(&d, AE11, sizeof(AE11), chunk, m, 4), 1);
		CHECK_INT(cd_ant_decoder_pending(&d), 2);
	}
}

static void test_split_chunks(void)
{
	uint8_t stream[1024];
	size_t n = 0, count;
	struct cd_ant_decoder d;
	struct cd_ant_msg m[64];

	for (size_t i = 0; i < ELEMENTSOF(frames); i++) {
		memcpy(stream + n, frames[i].bytes, frames[i].size);
		n += frames[i].size;
	}
	CHECK(n <= sizeof(stream));

	/* 64 is what a USB bulk transfer delivers (§3.1). */
	for (size_t chunk = 1; chunk <= n; chunk += chunk < 70 ? 1 : 97) {
		cd_ant_decoder_init(&d);
		count = feed_chunked(&d, stream, n, chunk, m, ELEMENTSOF(m));
		CHECK_INT(count, ELEMENTSOF(frames));
		CHECK_INT(d.n_skipped, 0);
		CHECK_INT(d.n_bad_checksum, 0);
		CHECK_INT(cd_ant_decoder_pending(&d), 0);
		for (size_t i = 0; i < ELEMENTSOF(frames) && i < count; i++) {
			CHECK_INT(m[i].id, frames[i].bytes[2]);
			CHECK_INT(m[i].len, frames[i].bytes[1]);
			CHECK(memcmp(m[i].payload, frames[i].bytes + 3, m[i].len) == 0);
		}
	}

	/* Irregular chunk sizes. */
	{
		static const size_t sizes[] = {3, 1, 64, 7, 2, 13, 5, 64, 1, 1, 30};
		const uint8_t *p = stream;
		size_t left = n, k = 0, got = 0;

		cd_ant_decoder_init(&d);
		while (left > 0) {
			size_t len = sizes[k++ % ELEMENTSOF(sizes)];
			const uint8_t *q = p;
			size_t qn;
			struct cd_ant_msg one;

			if (len > left)
				len = left;
			qn = len;
			while (cd_ant_decoder_feed(&d, &q, &qn, &one) > 0) {
				CHECK(got < ELEMENTSOF(frames) && one.id == frames[got].bytes[2]);
				got++;
			}
			p += len;
			left -= len;
		}
		CHECK_INT(got, ELEMENTSOF(frames));
	}
}

static void test_garbage_resync(void)
{
	/*
	 * Noise around real frames.  Each noise run is built to look like the
	 * start of a frame, so the decoder must reject it and still find the
	 * real frame starting inside the rejected candidate.
	 */
	static const uint8_t stream[] = {
		0x00, 0xFF, 0x13,	      /* plain junk */
		0xA4, 0xFF,		      /* sync with LEN 255 > 41: rejected at once */
		0xA4, 0x2A,		      /* sync with LEN 42: rejected at once */
		0xA4, 0x00,		      /* sync with LEN 0: rejected */
		0xA4, 0x01, 0x00, 0x00, 0xA5, /* id 0x00 with a right XOR: still rejected */
		0xA4, 0x03, /* false start: its candidate swallows the next frame */
		0xA4, 0x03, 0x40, 0x00, 0x01, 0x07, 0xE1, /* AE2 */
		0xA4, 0x09, 0x4E, 0x00, 0x04,		  /* truncated broadcast: ... */
		0xA4, 0x01, 0x6F, 0x20, 0xEA,		  /* ... A2 inside its 13-byte window */
		0xA4, 0x09, 0x4E, 0x00, 0x04, 0x00, 0x34,
		0x09, 0x77, 0x0A, 0x0A, 0x5E, 0xF4,	  /* AE10 */
		0xA4, 0x03, 0x40, 0x01, 0x42, 0x00, 0xA4, /* A3 (checksum byte is 0xA4) */
		0xA4, 0xA4, 0xA4,			  /* sync storm */
		0xA4, 0x01, 0x4A, 0x00, 0xEF,		  /* A10 */
		0xA4,					  /* trailing sync */
	};
	static const uint8_t want_ids[] = {0x40, 0x6F, 0x40, 0x4A};
	struct cd_ant_decoder d;
	struct cd_ant_msg m[8];

	for (size_t chunk = 1; chunk <= sizeof(stream); chunk++) {
		size_t got;

		cd_ant_decoder_init(&d);
		got = feed_chunked(&d, stream, sizeof(stream), chunk, m, ELEMENTSOF(m));
		CHECK_INT(got, ELEMENTSOF(want_ids));
		for (size_t i = 0; i < got && i < ELEMENTSOF(want_ids); i++)
			CHECK_INT(m[i].id, want_ids[i]);
		CHECK(got >= 3 && m[0].payload[2] == 0x07 && m[1].payload[0] == 0x20 &&
		      m[2].payload[0] == 0x01 && m[2].payload[1] == 0x42);
		CHECK(d.n_bad_checksum >= 1);
		CHECK_INT(cd_ant_decoder_pending(&d), 1); /* the trailing A4 */
	}
}

static void test_feed_args(void)
{
	struct cd_ant_decoder d;
	struct cd_ant_msg m;
	const uint8_t *p = NULL;
	size_t n = 0;

	cd_ant_decoder_init(&d);
	CHECK_INT(cd_ant_decoder_feed(&d, &p, &n, &m), 0); /* empty input is fine */
	n = 1;
	CHECK_INT(cd_ant_decoder_feed(&d, &p, &n, &m), -EINVAL);
	CHECK_INT(cd_ant_decoder_feed(NULL, &p, &n, &m), -EINVAL);
	CHECK_INT(cd_ant_decoder_feed(&d, NULL, &n, &m), -EINVAL);
	p = A1;
	CHECK_INT(cd_ant_decoder_feed(&d, &p, NULL, &m), -EINVAL);
	CHECK_INT(cd_ant_decoder_feed(&d, &p, &n, NULL), -EINVAL);
}

static void test_roundtrip(void)
{
	uint32_t seed = 12345;

	/* Every length and a spread of ids and bytes survive encode + decode. */
	for (size_t len = 1; len <= CD_ANT_MAX_PAYLOAD; len++) {
		for (int k = 0; k < 8; k++) {
			uint8_t payload[CD_ANT_MAX_PAYLOAD];
			struct cd_ant_frame f;
			struct cd_ant_msg m;
			uint8_t id;

			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				payload[i] = (uint8_t)(seed >> 16);
			}
			if (k == 0)
				memset(payload, CD_ANT_SYNC, len); /* sync bytes in the payload */
			id = (uint8_t)(1 + (seed >> 8) % 255);
			CHECK_INT(cd_ant_frame_encode(id, payload, len, &f), 0);
			CHECK_INT(f.size, len + 4);
			CHECK_INT(decode_one(f.data, f.size, &m), 0);
			CHECK(m.id == id && m.len == len && memcmp(m.payload, payload, len) == 0);
		}
	}
}

int main(void)
{
	test_checksums();
	test_builders();
	test_builder_errors();
	test_channel_id_20bit();
	test_stick_messages();
	test_other_parsers();
	test_names();
	test_bad_checksum();
	test_ae11();
	test_split_chunks();
	test_garbage_resync();
	test_feed_args();
	test_roundtrip();
	return check_exit("test-ant");
}
