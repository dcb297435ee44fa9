/* SPDX-License-Identifier: MIT */
/*
 * FIT activity files (Garmin's Flexible and Interoperable data Transfer
 * protocol), out and in (DESIGN §9.5).  Pure: no I/O, no allocation.
 *
 * Export streams in constant memory.  The 14-byte header carries the size
 * of the records that follow, so a file is written in two passes over the
 * same samples: the first with write == NULL only counts bytes, the second
 * writes, announcing the size counted.  The file CRC is computed on the
 * way and appended by cd_fit_encoder_finish().
 *
 * What is written (shared/EXPORTS-AND-DOSE.md §A1, §A2): file_id (type
 * activity), device_info, event timer start, one record per whole second
 * in which samples arrived (timestamp, and heart_rate when that second had
 * a valid sample: a second without one has no heart_rate field, never 0 or
 * 255), hrv messages with the RR intervals of that second after its record,
 * event timer stop_all (and a stop_all/start pair around every gap longer
 * than max_gap_s), lap, session (sport, start_time, elapsed and timer
 * time, average/maximum/minimum heart rate, calories, time_in_hr_zone),
 * time_in_zone (the same times with the zone bounds) and activity.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "import.h"
#include "sample.h"

#define CD_FIT_EPOCH_UNIX 631065600 /* 1989-12-31T00:00:00Z in Unix seconds */
#define CD_FIT_ZONES 6              /* Z0..Z5: FIT's zone 0 is below the first bound */
#define CD_FIT_RR_PER_SECOND 16     /* RR intervals kept per record; more are dropped */
#define CD_FIT_FILL_MAX_S 120       /* longest record gap filled on import */

/* What an export says about the session as a whole (from the session object). */
struct cd_export_summary {
	int64_t started_at_us;              /* µs since the Unix epoch, UTC */
	double elapsed_s;                   /* start to end; NAN = up to the last sample */
	double timer_s;                     /* time counted (active_s); NAN = elapsed */
	double avg_bpm, max_bpm, min_bpm;   /* NAN when unknown */
	double energy_kj;                   /* NAN when unknown */
	double zone_s[CD_FIT_ZONES];        /* time in Z0..Z5 */
	double zone_lo_bpm[CD_FIT_ZONES - 1]; /* lower bounds of Z1..Z5 (NAN: no bounds) */
	double hr_max, hr_rest;             /* NAN when unknown */
	/*
	 * Seconds between records beyond which the timer is shown stopped
	 * (the engine's max_gap_s, default 5): a reader then sees a pause,
	 * not a stretch to count.
	 */
	double max_gap_s;
	uint8_t sport, sub_sport;           /* FIT enums: training (10) / cardio_training (26) */
};

/* Defaults: everything unknown, sport training / cardio_training. */
void cd_export_summary_init(struct cd_export_summary *s);

/* Where encoded bytes go: 0 or a negative errno (which stops the encoder). */
typedef int (*cd_write_fn)(void *userdata, const void *buf, size_t len);

/* One whole second of the export: a FIT record, a TCX Trackpoint. */
struct cd_second {
	int64_t sec;   /* whole seconds from the start; -1 = none */
	int bpm;       /* integer heart rate; 0 = no valid sample in that second */
	unsigned n_rr;
	uint16_t rr_ms[CD_FIT_RR_PER_SECOND];
};

/*
 * Samples to whole seconds, keeping the zone times.  A second's heart rate
 * is one of its valid samples, rounded to an integer on the same side of
 * every zone bound (152.4 with a bound at 152.3 is 153).  When a second's
 * samples lie in several zones (4 Hz near a bound), the one taken is that of
 * the zone whose time so far is shortest in the seconds written compared to
 * the samples (error diffusion), so the zone times of the seconds stay
 * within about a second of the samples' however noisy the signal, as the
 * engine counts them (an interval belongs to the zone of the valid sample
 * that starts it, up to max_gap_s).
 */
struct cd_resampler {
	double bounds[CD_FIT_ZONES - 1]; /* zone lower bounds; NAN ignored */
	double max_gap_s;
	struct cd_second cur;
	int cand[CD_FIT_ZONES]; /* cur: first bpm seen in each zone, 0 none */
	int first_zone;         /* cur: zone of its first valid sample, -1 none */
	double orig[CD_FIT_ZONES], written[CD_FIT_ZONES];
	double t_a; /* last valid sample (NAN none) and its zone */
	int z_a;
	int64_t rec_sec; /* last second written with a heart rate (-1 none) and its zone */
	int rec_zone;
};

void cd_resampler_init(struct cd_resampler *r, const double bounds[CD_FIT_ZONES - 1],
		       double max_gap_s);
/*
 * Fold sample s in (t increasing; a sample going backwards is ignored).
 * When s opens a later second, the finished one is stored in *done and 1
 * returned, else 0.
 */
int cd_resampler_add(struct cd_resampler *r, const struct cd_sample *s, struct cd_second *done);
/* The last second, if any: 1 and *done, or 0. */
int cd_resampler_flush(struct cd_resampler *r, struct cd_second *done);

struct cd_fit_encoder {
	struct cd_export_summary sum;
	cd_write_fn write; /* NULL: count only */
	void *userdata;
	uint32_t declared;   /* data size announced in the header (pass 2) */
	uint32_t data_bytes; /* record bytes so far */
	uint16_t crc;
	int started;         /* header and opening messages written */
	int failed;          /* a negative errno once anything failed */
	uint32_t start_ts;   /* FIT time of the start */
	uint32_t last_ts;    /* latest timestamp written */
	uint64_t records;
	struct cd_resampler rs;
};

/*
 * Begin a file.  write == NULL: the counting pass (data_size is ignored).
 * Otherwise data_size must be what the counting pass over the same samples
 * gave (cd_fit_encoder_data_size()).
 */
void cd_fit_encoder_init(struct cd_fit_encoder *e, const struct cd_export_summary *s,
			 uint32_t data_size, cd_write_fn write, void *userdata);
/*
 * One sample (t in seconds from the start, increasing; a sample going
 * backwards is ignored).  0 or a negative errno (the write callback's, or
 * -EFBIG past FIT's 4 GiB).
 */
int cd_fit_encoder_add(struct cd_fit_encoder *e, const struct cd_sample *s);
/*
 * Close the file: the last record, the summary messages and, when writing,
 * the file CRC.  -EIO when the bytes written differ from the size announced.
 */
int cd_fit_encoder_finish(struct cd_fit_encoder *e);
/* Bytes of records (the header's data_size) so far. */
uint32_t cd_fit_encoder_data_size(const struct cd_fit_encoder *e);

/* CRC-16 of the FIT protocol (CRC-16/ARC), continuing from crc. */
uint16_t cd_fit_crc(uint16_t crc, const void *buf, size_t len);

/*
 * Decode a FIT file (lib/import.h): each FIT session becomes one session,
 * in order of start time (one without records is an empty session; a file
 * without session messages is one session from its first record), records give samples at timestamp − start_time with their
 * heart_rate (none or 0xFF: an invalid sample), hrv intervals are attached
 * to the record before them, records while the timer is stopped are
 * skipped (a pause is a jump in t).  Watches record less often than every
 * second while the timer runs ("smart recording": 1–10 s, sometimes more)
 * and count all of that time: a gap of up to CD_FIT_FILL_MAX_S between two
 * records with the timer running in between is filled with the earlier
 * record's heart rate once a second, so the engine counts it as the watch
 * did; a longer one, or one with a timer stop in it, stays a gap.  The header, both CRCs and every
 * message are checked before the sink hears anything.
 */
int cd_fit_import(const void *data, size_t len, const struct cd_import_sink *sink, char *err,
		  size_t errlen);
