/* SPDX-License-Identifier: MIT */
/*
 * ANT+ device numbers heard in scan mode that nobody listed (DESIGN §9.7:
 * untrusted radio input is bounded).  A number becomes a device only after
 * CD_ANT_ADMIT_RUN valid heart-rate broadcasts in a row; until then it lives
 * in this bounded table: at most `max` numbers, and any number silent for
 * `forget_us` dropped (on every cd_ant_admit_hear(), which scans the table
 * anyway, and cd_ant_admit_expire()).  When a new number needs room, the
 * one heard longest ago goes, preferring numbers heard only once: that is
 * what a transmitter cycling device numbers leaves behind, while a real
 * strap (4 broadcasts a second) has been heard more than once by the time
 * it could be dropped, so a flood does not keep it out.  The broadcasts of a run are held so that the caller can replay
 * them once the number is admitted: an admitted strap loses no sample.
 *
 * Pure: times are the caller's (one monotonic clock, microseconds); one
 * allocation at cd_ant_admit_init(), none afterwards.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ant-msg.h"

/* Valid broadcasts in a row that make a device: ~1 s of a 4.06 Hz strap. */
#define CD_ANT_ADMIT_RUN 4
/* A valid broadcast: computed heart rate (byte 7) in this range, bpm. */
#define CD_ANT_ADMIT_BPM_MIN 30
#define CD_ANT_ADMIT_BPM_MAX 240
/* A silence longer than this breaks a run (µs): ~8 missed transmissions. */
#define CD_ANT_ADMIT_MAX_GAP_US 2000000ULL
/* Bounds of [ant] max_unknown. */
#define CD_ANT_ADMIT_MAX 4096

/* One broadcast as the caller received it. */
struct cd_ant_admit_msg {
	struct cd_ant_channel_id id;
	struct cd_ant_data data;
	uint64_t at_us;	  /* the table's clock: runs, gaps, forget_after */
	uint64_t at2_us;  /* the caller's second stamp (kept, never read) */
};

struct cd_ant_admit_entry {
	uint32_t number;
	uint64_t first_us, last_us;
	uint64_t count; /* broadcasts heard */
	unsigned run;	/* valid broadcasts in a row, held[0..run-1] */
	struct cd_ant_admit_msg held[CD_ANT_ADMIT_RUN];
};

struct cd_ant_admit {
	struct cd_ant_admit_entry *v;
	size_t n, max;
	uint64_t forget_us;
	/* statistics */
	uint64_t n_admitted;
	uint64_t n_evicted;   /* dropped to make room */
	uint64_t n_forgotten; /* dropped after forget_us of silence */
};

/* max 0..CD_ANT_ADMIT_MAX (0: nothing is tracked, no number is admitted). */
int cd_ant_admit_init(struct cd_ant_admit *t, size_t max, uint64_t forget_us);
void cd_ant_admit_done(struct cd_ant_admit *t);

/* Whether a broadcast counts towards a run: computed heart rate in range. */
bool cd_ant_admit_valid(const uint8_t data[CD_ANT_DATA_SIZE]);

/*
 * One broadcast of a number that is not a device yet (m->id.device_number).
 * Returns 1 when this one completes a run: *ret gets the entry (held[] are
 * the run's CD_ANT_ADMIT_RUN broadcasts, m last) and the number leaves the
 * table.  Returns 0 otherwise (tracked, or max is 0); *ret_evicted is the
 * number dropped to make room, or 0.
 */
int cd_ant_admit_hear(struct cd_ant_admit *t, const struct cd_ant_admit_msg *m,
		      struct cd_ant_admit_entry *ret, uint32_t *ret_evicted);

/* Drops every number silent for forget_us at now_us; returns how many. */
size_t cd_ant_admit_expire(struct cd_ant_admit *t, uint64_t now_us);
