/* SPDX-License-Identifier: MIT */
/*
 * Decoder of the BLE Heart Rate Measurement characteristic value (0x2A37),
 * PROTOCOLS §1.2.  Pure: no I/O, no allocation, no logging, no globals.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample.h"

/*
 * "The maximum length of an attribute value shall be 512 octets" (Bluetooth
 * Core Spec, Vol 3, Part F, §3.2.9).  PROTOCOLS §1.2 rule 8: the HRM value may
 * be longer than 20 bytes once a larger ATT_MTU is exchanged, so a decoder
 * must take any length up to this bound.
 */
#define CD_HRM_SIZE_MAX 512

/*
 * Most RR intervals one value can carry: Flags + uint8 HR, no Energy
 * Expended, then 2 bytes per interval: (512 − 2) / 2 = 255.
 */
#define CD_HRM_RR_MAX ((CD_HRM_SIZE_MAX - 2) / 2)

/*
 * One decoded value.  bpm is as sent: 0 is legal on the wire and means "no
 * valid reading" (PROTOCOLS §1.2 rule 5).  Energy Expended is cumulative and
 * saturates at 0xFFFF; a sensor that supports it still leaves it out of most
 * notifications (rule 3).  RR intervals are oldest first; rr_ms[i] is
 * rr_raw[i] × 1000 / 1024 (rule 7), exact, not rounded.  Entries past n_rr
 * are 0.
 */
struct cd_hrm {
	uint16_t bpm;
	bool contact_supported;		/* Flags bit 2 */
	bool contact_detected;		/* Flags bit 1, and only if contact_supported */
	bool has_energy;		/* Flags bit 3 */
	uint16_t energy_kj;		/* 0 when !has_energy */
	size_t n_rr;			/* 0 without Flags bit 4, else 1..CD_HRM_RR_MAX */
	double rr_ms[CD_HRM_RR_MAX];	/* ms */
	uint16_t rr_raw[CD_HRM_RR_MAX]; /* units of 1/1024 s */
	size_t n_trailing;		/* unannounced bytes at the end, ignored (BD14) */
};

/*
 * Decode one HRM value of size bytes at data (data may be NULL when size is
 * 0).  On success returns 0 and fills *ret completely; *ret_reason is left
 * untouched.  A malformed value returns -EBADMSG, leaves *ret untouched and,
 * when ret_reason is non-NULL, points *ret_reason at a static string naming
 * the fault.  Never reads outside [data, data + size).
 *
 * Rejected (PROTOCOLS §1.2 rules 1, 2 and 8; §5.1 B5; §5.2 BD9–BD13): fewer
 * than 2 bytes; uint16 HR with fewer than 3 bytes; Energy Expended flagged
 * with fewer than 2 bytes left; RR flagged with 0 or an odd number of bytes
 * left; more than CD_HRM_SIZE_MAX bytes.
 * Accepted: reserved Flags bits 5–7 (ignored, rule 4); sensor-contact status
 * without support (read as "not supported"); bytes after the last announced
 * field when the RR flag is clear (counted in n_trailing, BD14).
 */
int cd_hrm_decode(const uint8_t *data, size_t size, struct cd_hrm *ret, const char **ret_reason);

/*
 * Turn a decoded value received at time t (seconds, the engine's time base)
 * into a sample: contact CD_CONTACT_UNKNOWN when not supported, else
 * CD_CONTACT_OK/LOST; energy_kj NAN when absent; rr_ms points into
 * hrm->rr_ms (NULL when n_rr is 0), so *hrm must outlive *ret and stay
 * unchanged while *ret is in use.
 */
void cd_hrm_to_sample(const struct cd_hrm *hrm, double t, struct cd_sample *ret);
