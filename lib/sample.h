/* SPDX-License-Identifier: MIT */
/*
 * One heart-rate sample as every source delivers it (DESIGN §2, §3
 * "Samples").  Pure data; no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum cd_contact {
	CD_CONTACT_UNKNOWN = -1, /* sensor does not report contact */
	CD_CONTACT_LOST = 0,     /* reported "contact not detected" */
	CD_CONTACT_OK = 1,
};

/* Valid heart-rate range of DESIGN §3: 30 ≤ bpm ≤ 240. */
#define CD_BPM_MIN 30.0
#define CD_BPM_MAX 240.0

struct cd_sample {
	double t;                /* seconds; the engine's time base (monotonic per session) */
	double bpm;              /* beats per minute as reported (may be invalid: 0, 255…) */
	enum cd_contact contact;
	double energy_kj;        /* cumulative energy expended, kJ; NAN when absent */
	const double *rr_ms;     /* RR intervals in ms carried by this sample; not owned */
	size_t n_rr;
};

/* A sample counts when 30 ≤ bpm ≤ 240 and contact is not "not detected". */
bool cd_sample_is_valid(const struct cd_sample *s);
