/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the BLE Heart Rate Measurement decoder (lib/hrm.h).
 * On failure: -EBADMSG, a reason, *ret untouched.  On success: re-encoding
 * the decoded fields under the same flags gives back the input up to the
 * ignored trailing bytes, and every documented invariant holds.
 */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hrm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr);                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static size_t put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v & 0xff);
	p[1] = (uint8_t)(v >> 8);
	return 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cd_hrm h, h0;
	static uint8_t enc[CD_HRM_SIZE_MAX];
	const char *reason = NULL;
	struct cd_sample s;
	uint8_t flags;
	size_t n = 0;
	int r;

	/* Size guard: past twice the ATT limit there is nothing new to find. */
	if (size > 2 * CD_HRM_SIZE_MAX)
		return 0;

	memset(&h, 0x5a, sizeof(h));
	memcpy(&h0, &h, sizeof(h));

	r = cd_hrm_decode(size > 0 ? data : NULL, size, &h, &reason);
	if (r < 0) {
		FUZZ_ASSERT(r == -EBADMSG);
		FUZZ_ASSERT(reason && reason[0] != '\0');
		FUZZ_ASSERT(memcmp(&h, &h0, sizeof(h)) == 0);
		return 0;
	}
	FUZZ_ASSERT(r == 0);
	FUZZ_ASSERT(reason == NULL);
	FUZZ_ASSERT(size >= 2 && size <= CD_HRM_SIZE_MAX);

	flags = data[0];
	enc[n++] = flags;

	if (flags & 0x01) {
		n += put_le16(enc + n, h.bpm);
	} else {
		FUZZ_ASSERT(h.bpm <= UINT8_MAX);
		enc[n++] = (uint8_t)h.bpm;
	}

	FUZZ_ASSERT(h.contact_supported == !!(flags & 0x04));
	FUZZ_ASSERT(h.contact_detected == ((flags & 0x06) == 0x06));
	FUZZ_ASSERT(!h.contact_detected || h.contact_supported);

	FUZZ_ASSERT(h.has_energy == !!(flags & 0x08));
	if (h.has_energy)
		n += put_le16(enc + n, h.energy_kj);
	else
		FUZZ_ASSERT(h.energy_kj == 0);

	FUZZ_ASSERT(h.n_rr <= CD_HRM_RR_MAX);
	FUZZ_ASSERT((h.n_rr > 0) == !!(flags & 0x10));
	FUZZ_ASSERT(h.n_rr == 0 || h.n_trailing == 0);
	for (size_t i = 0; i < h.n_rr; i++) {
		FUZZ_ASSERT(h.rr_ms[i] == h.rr_raw[i] * 1000.0 / 1024.0);
		FUZZ_ASSERT(h.rr_ms[i] >= 0 && h.rr_ms[i] < 64000);
		FUZZ_ASSERT(n + 2 <= sizeof(enc));
		n += put_le16(enc + n, h.rr_raw[i]);
	}
	/* Nothing stale beyond n_rr. */
	for (size_t i = h.n_rr; i < CD_HRM_RR_MAX; i++)
		FUZZ_ASSERT(h.rr_raw[i] == 0 && h.rr_ms[i] == 0);

	FUZZ_ASSERT(n + h.n_trailing == size);
	FUZZ_ASSERT(memcmp(enc, data, n) == 0);

	cd_hrm_to_sample(&h, 1.0, &s);
	FUZZ_ASSERT(s.t == 1.0);
	FUZZ_ASSERT(s.bpm == h.bpm);
	FUZZ_ASSERT(s.contact == (!h.contact_supported ? CD_CONTACT_UNKNOWN
				  : h.contact_detected ? CD_CONTACT_OK
						       : CD_CONTACT_LOST));
	FUZZ_ASSERT(h.has_energy ? s.energy_kj == h.energy_kj : isnan(s.energy_kj));
	FUZZ_ASSERT(s.n_rr == h.n_rr);
	FUZZ_ASSERT(h.n_rr > 0 ? s.rr_ms == h.rr_ms : s.rr_ms == NULL);

	return 0;
}
