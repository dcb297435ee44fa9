/* SPDX-License-Identifier: MIT */
/*
 * BLE Heart Rate Measurement (0x2A37) decoder, PROTOCOLS §1.2.
 *
 * Layout, all multi-byte fields little-endian, order fixed:
 *   Flags (1) | HR value (1 or 2) | [Energy Expended (2)] | [RR-Interval (2) ...]
 *
 * Every length is checked before anything is read or written, so a
 * malformed value leaves *ret untouched and no byte past data + size is
 * ever touched.
 */

#include <assert.h>
#include <errno.h>
#include <math.h>

#include "hrm.h"

/* Flags bits, PROTOCOLS §1.2 bit table. */
enum {
	HRM_FLAG_HR_UINT16 = 1 << 0,	   /* HR value format: 0 = uint8, 1 = uint16 */
	HRM_FLAG_CONTACT_STATUS = 1 << 1,  /* contact detected; meaningful only with bit 2 */
	HRM_FLAG_CONTACT_SUPPORT = 1 << 2, /* Sensor Contact Support */
	HRM_FLAG_ENERGY = 1 << 3,	   /* Energy Expended present */
	HRM_FLAG_RR = 1 << 4,		   /* one or more RR-Intervals present */
	/* Bits 5–7 are reserved for future use: "receiver must ignore" (rule 4). */
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static int bad(const char **ret_reason, const char *reason)
{
	if (ret_reason)
		*ret_reason = reason;
	return -EBADMSG;
}

int cd_hrm_decode(const uint8_t *data, size_t size, struct cd_hrm *ret, const char **ret_reason)
{
	size_t hr_size, ee_off, rr_off, n_rr, n_trailing;
	uint8_t flags;

	assert(data || size == 0);
	assert(ret);

	/* Rule 1: "reject a value shorter than 2 bytes" (§5.2 BD11). */
	if (size == 0)
		return bad(ret_reason, "empty value");
	if (size < 2)
		return bad(ret_reason, "no heart rate value after the flags");
	/* Rule 8 sets no upper bound below the ATT limit; above it nothing is valid. */
	if (size > CD_HRM_SIZE_MAX)
		return bad(ret_reason, "value longer than 512 bytes");

	flags = data[0];

	/* Rule 1: "reject uint16 format with fewer than 3 bytes" (BD10). */
	hr_size = flags & HRM_FLAG_HR_UINT16 ? 2 : 1;
	if (size < 1 + hr_size)
		return bad(ret_reason, "truncated uint16 heart rate value");
	ee_off = 1 + hr_size;

	/* Rule 1: "reject EE flag with fewer than 2 bytes left" (BD12). */
	rr_off = ee_off;
	if (flags & HRM_FLAG_ENERGY) {
		if (size - ee_off < 2)
			return bad(ret_reason, "truncated energy expended");
		rr_off += 2;
	}

	/*
	 * Rule 2: with the RR flag set "the remaining length must be non-zero and
	 * even"; the count is not sent, it is (remaining bytes) / 2 (B5, BD9, BD13).
	 * Without the RR flag, bytes after the last field are ignored (BD14).
	 */
	if (flags & HRM_FLAG_RR) {
		if (size == rr_off)
			return bad(ret_reason, "RR-interval flag set but no RR-interval bytes");
		if ((size - rr_off) % 2 != 0)
			return bad(ret_reason, "odd number of RR-interval bytes");
		n_rr = (size - rr_off) / 2;
		n_trailing = 0;
	} else {
		n_rr = 0;
		n_trailing = size - rr_off;
	}
	/* size ≤ 512 and rr_off ≥ 2, so at most (512 − 2) / 2 intervals. */
	assert(n_rr <= CD_HRM_RR_MAX);

	/* All lengths are good: only now is *ret written. */
	*ret = (struct cd_hrm){
		.bpm = hr_size == 2 ? le16(data + 1) : data[1],
		.contact_supported = flags & HRM_FLAG_CONTACT_SUPPORT,
		/*
		 * The 2-bit field (bits 1–2): 0 or 1 = not supported, 2 = supported
		 * without contact, 3 = contact detected.  Bit 1 alone (B9 "02 00")
		 * therefore means "not supported", not "detected".
		 */
		.contact_detected =
			(flags & (HRM_FLAG_CONTACT_SUPPORT | HRM_FLAG_CONTACT_STATUS)) ==
			(HRM_FLAG_CONTACT_SUPPORT | HRM_FLAG_CONTACT_STATUS),
		.has_energy = flags & HRM_FLAG_ENERGY,
		.energy_kj = flags & HRM_FLAG_ENERGY ? le16(data + ee_off) : 0,
		.n_rr = n_rr,
		.n_trailing = n_trailing,
	};

	for (size_t i = 0; i < n_rr; i++) {
		uint16_t raw = le16(data + rr_off + 2 * i);

		/*
		 * Rule 7: unit 1/1024 s, ms = raw × 1000 / 1024.  Exact in a double
		 * (raw × 1000 < 2^26, and 1024 is a power of two); rounding is left
		 * to whoever displays it.
		 */
		ret->rr_raw[i] = raw;
		ret->rr_ms[i] = raw * 1000.0 / 1024.0;
	}

	return 0;
}

void cd_hrm_to_sample(const struct cd_hrm *hrm, double t, struct cd_sample *ret)
{
	enum cd_contact contact;

	assert(hrm);
	assert(ret);

	if (!hrm->contact_supported)
		contact = CD_CONTACT_UNKNOWN;
	else if (hrm->contact_detected)
		contact = CD_CONTACT_OK;
	else
		contact = CD_CONTACT_LOST;

	*ret = (struct cd_sample){
		.t = t,
		.bpm = hrm->bpm,
		.contact = contact,
		/* NAN: not in this notification, which is not "unsupported" (rule 3). */
		.energy_kj = hrm->has_energy ? (double)hrm->energy_kj : NAN,
		.rr_ms = hrm->n_rr > 0 ? hrm->rr_ms : NULL,
		.n_rr = hrm->n_rr,
	};
}
