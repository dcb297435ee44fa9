/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the ANT+ HRM receiver (lib/ant-hrm.h): a sequence
 * of broadcasts with arrival times through one receiver state.
 *
 * Input: records of 11 bytes, [a, b, op, d0..d7]:
 *   op bit 0      cd_ant_hrm_reset() first (channel reopened)
 *   op bit 1      pass a channel ID, one of four chosen by bits 2-3
 *   op bit 4      time steps back by a / 1024 s instead of forward
 *   op bit 5      time is NaN: must fail with -EINVAL, state untouched
 *   op bit 6      step forward a whole number (a) of 8070/32768 s slots,
 *                 plus jitter b - 128 ms (how a real strap arrives)
 *   otherwise     step forward (a | b << 8) / 1024 s (0 to 64 s)
 * Invariants: RR count bounds, n_rr + gap == count delta, no NaN or
 * out-of-range RR, restarts exactly when §4.4 step 6 says, page 4 values
 * only in paged mode, RR equal to the event-time delta when one beat and
 * no page 4, the sample helper's contract.
 */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ant-hrm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr);                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define RECORD	    11
#define RECORDS_MAX 2048
#define SLOT	    (8070.0 / 32768.0)

static const struct cd_ant_channel_id ids[4] = {
	{.device_number = 0, .device_type = 0, .trans_type = 0},
	{.device_number = 12345, .device_type = 120, .trans_type = 1},
	{.device_number = 12345, .device_type = 120 | 0x80, .trans_type = 1}, /* = ids[1] */
	{.device_number = 0x53039, .device_type = 120, .trans_type = 0x51},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cd_ant_hrm h;
	double t = 1000.0, last_t = NAN;
	bool has_prev = false;
	uint8_t prev[CD_ANT_DATA_SIZE] = {0};
	const struct cd_ant_channel_id *last_id = NULL;

	if (size > RECORD * RECORDS_MAX)
		return 0;

	cd_ant_hrm_init(&h);
	FUZZ_ASSERT(cd_ant_hrm_get_mode(&h) == CD_ANT_HRM_MODE_UNKNOWN);

	for (size_t off = 0; off + RECORD <= size; off += RECORD) {
		const uint8_t *rec = data + off;
		uint8_t a = rec[0], b = rec[1], op = rec[2];
		const uint8_t *d = rec + 3;
		const struct cd_ant_channel_id *id = NULL;
		struct cd_ant_hrm_result r;
		struct cd_sample s;
		bool expect_restart;
		int ret;

		if (op & 0x01) {
			cd_ant_hrm_reset(&h);
			has_prev = false;
			last_id = NULL;
		}
		if (op & 0x02)
			id = &ids[op >> 2 & 3];

		if (op & 0x20) {
			struct cd_ant_hrm before;

			memcpy(&before, &h, sizeof(h));

			r.n_rr = 99;
			ret = cd_ant_hrm_receive(&h, NAN, id, d, &r);
			FUZZ_ASSERT(ret == -EINVAL);
			FUZZ_ASSERT(r.n_rr == 99);
			FUZZ_ASSERT(memcmp(&before, &h, sizeof(h)) == 0);
			continue;
		}

		if (op & 0x10)
			t -= a / 1024.0;
		else if (op & 0x40)
			t += a * SLOT + ((double)b - 128.0) / 1000.0;
		else
			t += (a | b << 8) / 1024.0;

		/* §4.4 step 6: what must start the state over. */
		expect_restart = !has_prev || t < last_t || t - last_t >= CD_ANT_HRM_RESET_S ||
				 (id && last_id && !cd_ant_channel_id_equal(id, last_id));

		ret = cd_ant_hrm_receive(&h, t, id, d, &r);
		FUZZ_ASSERT(ret == 0);

		FUZZ_ASSERT(r.mode >= 0 && r.mode < _CD_ANT_HRM_MODE_MAX);
		FUZZ_ASSERT(r.mode == cd_ant_hrm_get_mode(&h));
		FUZZ_ASSERT(r.page_valid == (r.mode == CD_ANT_HRM_MODE_PAGED));
		FUZZ_ASSERT(r.page.page == (d[0] & 0x7F));
		FUZZ_ASSERT(r.page.toggle == !!(d[0] & 0x80));
		FUZZ_ASSERT(r.bpm == d[7] && r.page.heart_rate == d[7]);
		FUZZ_ASSERT(r.page.event_time == (uint16_t)(d[4] | d[5] << 8));
		FUZZ_ASSERT(r.page.beat_count == d[6]);
		FUZZ_ASSERT(r.page.battery_pct >= -1 && r.page.battery_pct <= 100);
		FUZZ_ASSERT(isnan(r.page.battery_v) ||
			    (r.page.battery_v >= 0 && r.page.battery_v < 15));
		FUZZ_ASSERT(r.page.battery_status >= 0 &&
			    r.page.battery_status < _CD_ANT_BATTERY_STATUS_MAX);

		if (expect_restart)
			FUZZ_ASSERT(r.restarted);
		if (r.restarted)
			FUZZ_ASSERT(r.n_beats == 0);
		else
			FUZZ_ASSERT(r.n_beats == (uint8_t)(d[6] - prev[6]));
		FUZZ_ASSERT(r.repeat == (!expect_restart && memcmp(prev, d, sizeof(prev)) == 0));

		FUZZ_ASSERT(r.n_beats <= 255);
		FUZZ_ASSERT(r.n_rr <= CD_ANT_HRM_RR_MAX);
		FUZZ_ASSERT(r.n_rr + r.n_gap_beats == r.n_beats);
		for (size_t i = 0; i < r.n_rr; i++) {
			FUZZ_ASSERT(isfinite(r.rr_ms[i]));
			FUZZ_ASSERT(r.rr_ms[i] == r.rr_ticks[i] * 1000.0 / 1024.0);
			FUZZ_ASSERT(r.rr_ms[i] >= 0 && r.rr_ms[i] < 64000);
		}
		if (r.n_gap_beats == 0)
			FUZZ_ASSERT(isnan(r.gap_mean_ms));
		else
			FUZZ_ASSERT(isfinite(r.gap_mean_ms) && r.gap_mean_ms >= 0 &&
				    r.gap_mean_ms < 64000);

		if (!r.restarted && r.n_beats > 0) {
			uint16_t span = (uint16_t)(r.page.event_time - (prev[4] | prev[5] << 8));
			bool page4 = r.page_valid && r.page.page == 4;

			/* Two RRs only from page 4 recovery, and they add up to t - T. */
			if (r.n_rr == 2) {
				FUZZ_ASSERT(page4 && r.n_beats == 2);
				FUZZ_ASSERT(r.rr_ticks[0] > 0);
				FUZZ_ASSERT(r.rr_ticks[0] + r.rr_ticks[1] == span);
			}
			/* Without page 4, the one RR is exactly t - T, and only for one beat. */
			if (!page4) {
				FUZZ_ASSERT(r.n_rr == (r.n_beats == 1 ? 1u : 0u));
				if (r.n_rr == 1)
					FUZZ_ASSERT(r.rr_ticks[0] == span);
			}
			/* A page-4 RR is t - prev. */
			if (page4 && r.n_rr >= 1)
				FUZZ_ASSERT(r.rr_ticks[r.n_rr - 1] ==
					    (uint16_t)(r.page.event_time - r.page.prev_event_time));
		}

		cd_ant_hrm_result_to_sample(&r, t, &s);
		FUZZ_ASSERT(s.t == t);
		FUZZ_ASSERT(!isnan(s.bpm) && s.bpm == r.bpm);
		FUZZ_ASSERT(s.contact == CD_CONTACT_UNKNOWN);
		FUZZ_ASSERT(isnan(s.energy_kj));
		FUZZ_ASSERT(s.n_rr == r.n_rr);
		FUZZ_ASSERT(r.n_rr > 0 ? s.rr_ms == r.rr_ms : s.rr_ms == NULL);

		memcpy(prev, d, sizeof(prev));
		has_prev = true;
		last_t = t;
		if (id)
			last_id = id;
	}

	return 0;
}
