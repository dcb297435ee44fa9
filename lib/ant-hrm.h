/* SPDX-License-Identifier: MIT */
/*
 * ANT+ heart-rate monitor receiver (PROTOCOLS §4): page decoding (§4.2),
 * the page-toggle rule and legacy straps (§4.3) and RR derivation (§4.4).
 *
 * One struct cd_ant_hrm per sensor.  Pure: the caller passes the time of
 * each broadcast (seconds, monotonic, the engine's time base); nothing here
 * reads a clock, allocates or does I/O.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ant-msg.h"
#include "sample.h"

/* §4.1 channel parameters of a receiver. */
#define CD_ANT_HRM_DEVICE_TYPE	120  /* 0x78; | CD_ANT_DEVICE_TYPE_PAIRING to pair */
#define CD_ANT_HRM_RF_FREQUENCY 57   /* 2457 MHz */
#define CD_ANT_HRM_PERIOD	8070 /* 4.06 Hz; use this one for RR/HRV */
#define CD_ANT_HRM_PERIOD_2HZ	16140
#define CD_ANT_HRM_PERIOD_1HZ	32280

/* §4.2 byte 0: bit 7 page-change toggle, bits 0-6 page number. */
#define CD_ANT_HRM_TOGGLE_BIT 0x80
#define CD_ANT_HRM_PAGE_MASK  0x7F

/* §4.4: at most two RR intervals per message (count jump of 2 on page 4). */
#define CD_ANT_HRM_RR_MAX 2

/* §4.4 step 6: start over after this long without a message (s). */
#define CD_ANT_HRM_RESET_S 60.0

/*
 * §4.3: whether bytes 0-3 may be read.  UNKNOWN until 8 messages have been
 * seen; PAGED once the toggle bit has taken both values and flips at run
 * lengths compatible with 4 messages; LEGACY otherwise.  Only PAGED reads
 * bytes 0-3 (page number, page 4 previous beat time, metadata).
 */
enum cd_ant_hrm_mode {
	CD_ANT_HRM_MODE_UNKNOWN,
	CD_ANT_HRM_MODE_PAGED,
	CD_ANT_HRM_MODE_LEGACY,
	_CD_ANT_HRM_MODE_MAX,
	_CD_ANT_HRM_MODE_INVALID = -EINVAL,
};

const char *cd_ant_hrm_mode_to_string(enum cd_ant_hrm_mode m);

/* §4.2 page 7 byte 3 bits 4-6 (the wire value is the enum value). */
enum cd_ant_battery_status {
	CD_ANT_BATTERY_RESERVED_0,
	CD_ANT_BATTERY_NEW,
	CD_ANT_BATTERY_GOOD,
	CD_ANT_BATTERY_OK,
	CD_ANT_BATTERY_LOW,
	CD_ANT_BATTERY_CRITICAL,
	CD_ANT_BATTERY_RESERVED_6,
	CD_ANT_BATTERY_INVALID,
	_CD_ANT_BATTERY_STATUS_MAX,
	_CD_ANT_BATTERY_STATUS_INVALID = -EINVAL,
};

const char *cd_ant_battery_status_to_string(enum cd_ant_battery_status s);

/*
 * One 8-byte HRM payload decoded without state (§4.2).  Bytes 4-7 mean the
 * same on every page.  The page-specific members are filled for their page
 * only (others zero); whether bytes 0-3 may be believed at all is the
 * receiver's call (§4.3, cd_ant_hrm_result.page_valid).
 */
struct cd_ant_hrm_page {
	uint8_t page;	     /* byte 0 & 0x7F (not & 0x0F: 0x50 is not page 0) */
	bool toggle;	     /* byte 0 bit 7 */
	uint16_t event_time; /* bytes 4-5: last heart beat event, 1/1024 s, wraps at 64 s */
	uint8_t beat_count;  /* byte 6: wraps 255 -> 0 */
	uint8_t heart_rate;  /* byte 7: computed heart rate, bpm (0 = none) */

	/* page 1: cumulative operating time, 24 bits in units of 2 s */
	uint32_t operating_time_s;
	/* page 2: manufacturer information */
	uint8_t manufacturer_id;
	uint16_t serial_upper; /* upper 16 bits of the 32-bit serial number */
	/* page 3: product information */
	uint8_t hw_version;
	uint8_t sw_version;
	uint8_t model;
	/* page 4: previous heart beat */
	uint8_t manufacturer_specific;
	uint16_t prev_event_time; /* time of beat count - 1, 1/1024 s */
	/* page 5: swim interval summary (layout S in PROTOCOLS) */
	uint8_t interval_avg_hr;
	uint8_t interval_max_hr;
	uint8_t session_avg_hr;
	/* page 6: capabilities */
	uint8_t features_supported;
	uint8_t features_enabled;
	/* page 7: battery status */
	int battery_pct;  /* 0..100; -1 when 0xFF ("n/a") or out of range */
	double battery_v; /* coarse + fractional/256 V; NAN when coarse is 0xF */
	enum cd_ant_battery_status battery_status;
};

/* Decode 8 bytes (never fails; every byte pattern is some page). */
void cd_ant_hrm_page_decode(const uint8_t data[CD_ANT_DATA_SIZE], struct cd_ant_hrm_page *ret);

/* 1/1024 s ticks to milliseconds: ticks × 1000 / 1024, exact in a double. */
double cd_ant_hrm_ticks_to_ms(uint32_t ticks);

/*
 * What one broadcast revealed.  n_rr + n_gap_beats == n_beats always.
 */
struct cd_ant_hrm_result {
	struct cd_ant_hrm_page page; /* decode of the 8 bytes */
	bool page_valid;	     /* bytes 0-3 may be read: mode is PAGED (§4.3) */
	enum cd_ant_hrm_mode mode;   /* after this message */
	double bpm;		     /* byte 7, as reported (0 = no heart rate) */
	bool restarted;		     /* RR state (re)initialised here: no beats derived */
	bool repeat;		     /* the same 8 bytes as the previous message */
	unsigned n_beats;	     /* new beats since the previous message (count delta) */
	size_t n_rr;		     /* exact RR intervals revealed, oldest first */
	uint16_t rr_ticks[CD_ANT_HRM_RR_MAX];
	double rr_ms[CD_ANT_HRM_RR_MAX];
	/*
	 * §4.4 step 4: beats whose intervals are lost (missed messages).
	 * gap_mean_ms is their mean interval, an interpolation that must stay
	 * out of HRV; NAN when n_gap_beats is 0.  Never copied into rr_ms.
	 */
	unsigned n_gap_beats;
	double gap_mean_ms;
};

/*
 * Receiver state for one sensor.  Members are private; the struct is public
 * only so it can be embedded.  Initialise with cd_ant_hrm_init(); nothing
 * to free.
 */
struct cd_ant_hrm {
	/* identity: a different channel ID starts over (§4.4 step 6) */
	bool has_id;
	struct cd_ant_channel_id id;

	/* previous message */
	bool has_last;
	double last_t;
	uint8_t last_data[CD_ANT_DATA_SIZE];

	/* §4.4 RR state: last event time T, last count C */
	bool rr_valid;
	uint16_t T;
	uint8_t C;
	double count_t; /* time at which C last changed (or was initialised) */

	/* §4.3 toggle tracking */
	unsigned n_msgs;
	bool seen_toggle[2];
	bool last_toggle;
	bool in_run;	/* a flip has been seen: the current run has a known start */
	bool run_clean; /* that flip came one message slot after its predecessor */
	double run_t;	/* time of that flip */
	unsigned ok_runs;
	unsigned bad_runs;
	enum cd_ant_hrm_mode mode;
};

void cd_ant_hrm_init(struct cd_ant_hrm *h);

/*
 * Forget everything, the channel ID included.  Call it after the channel
 * closed or was reopened (§4.4 step 6).
 */
void cd_ant_hrm_reset(struct cd_ant_hrm *h);

enum cd_ant_hrm_mode cd_ant_hrm_get_mode(const struct cd_ant_hrm *h);

/*
 * Feed one received broadcast: its 8 data bytes, the time it arrived (s)
 * and, when known (extended data, or the channel's pinned ID), the sender's
 * channel ID (NULL when unknown).
 *
 * State starts over, and this message only initialises it, when: it is the
 * first; id differs from the previous one; t - previous t >= 60 s; t went
 * backwards.  The RR state alone starts over when the beat count changes
 * after having stood still for >= 60 s (a 16-bit event time is ambiguous by
 * then).  RR derivation follows §4.4; page 4 recovery needs mode PAGED.
 *
 * Fills *ret and returns 0, or -EINVAL (NULL pointer, t not finite) with
 * the state untouched.
 */
int cd_ant_hrm_receive(struct cd_ant_hrm *h, double t, const struct cd_ant_channel_id *id,
		       const uint8_t data[CD_ANT_DATA_SIZE], struct cd_ant_hrm_result *ret);

/*
 * The sample of DESIGN §3 for this broadcast at time t: bpm as reported,
 * contact CD_CONTACT_UNKNOWN (ANT+ HRM has no contact flag), energy_kj NAN,
 * rr_ms pointing into r->rr_ms (NULL when n_rr is 0, as cd_hrm_to_sample()
 * does), so *r must outlive *ret and stay unchanged while *ret is in use.
 */
void cd_ant_hrm_result_to_sample(const struct cd_ant_hrm_result *r, double t,
				 struct cd_sample *ret);
