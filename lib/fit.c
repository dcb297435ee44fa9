/* SPDX-License-Identifier: MIT */
/*
 * FIT encoder and decoder (lib/fit.h).  Binary layout: Garmin's FIT
 * protocol as the JavaScript SDK reads it (shared/EXPORTS-AND-DOSE.md §A3):
 * a 14-byte header, record messages each led by a one-byte header
 * (definition or data, local type 0..15, or a compressed timestamp), and a
 * CRC-16/ARC over everything before it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fit.h"

#define FIT_HEADER_SIZE 14
#define FIT_PROTOCOL 0x20 /* 2.0 */
#define FIT_PROFILE 2160  /* 21.60 */
#define FIT_MANUFACTURER_DEVELOPMENT 255

/* Global message numbers. */
enum {
	MESG_FILE_ID = 0,
	MESG_SESSION = 18,
	MESG_LAP = 19,
	MESG_RECORD = 20,
	MESG_EVENT = 21,
	MESG_DEVICE_INFO = 23,
	MESG_ACTIVITY = 34,
	MESG_HRV = 78,
	MESG_TIME_IN_ZONE = 216,
};

/* Base types. */
enum {
	BT_ENUM = 0x00,
	BT_UINT8 = 0x02,
	BT_UINT16 = 0x84,
	BT_UINT32 = 0x86,
	BT_UINT32Z = 0x8C,
};

/* Our local message types. */
enum {
	L_FILE_ID,
	L_DEVICE_INFO,
	L_EVENT,
	L_RECORD_HR,
	L_RECORD,
	L_HRV,
	L_LAP,
	L_SESSION,
	L_TIME_IN_ZONE,
	L_ACTIVITY,
};

#define HRV_SLOTS 5

/* event_type of the timer events. */
enum {
	TIMER_START = 0,
	TIMER_STOP_ALL = 4,
};

static const uint16_t crc_table[16] = {
	0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
	0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
};

uint16_t cd_fit_crc(uint16_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		uint16_t t = crc_table[crc & 0xF];

		crc = (crc >> 4) & 0x0FFF;
		crc = crc ^ t ^ crc_table[p[i] & 0xF];
		t = crc_table[crc & 0xF];
		crc = (crc >> 4) & 0x0FFF;
		crc = crc ^ t ^ crc_table[(p[i] >> 4) & 0xF];
	}
	return crc;
}

void cd_export_summary_init(struct cd_export_summary *s)
{
	*s = (struct cd_export_summary){
		.elapsed_s = NAN,
		.timer_s = NAN,
		.avg_bpm = NAN,
		.max_bpm = NAN,
		.min_bpm = NAN,
		.energy_kj = NAN,
		.hr_max = NAN,
		.hr_rest = NAN,
		.max_gap_s = 5,
		.sport = 10,     /* training */
		.sub_sport = 26, /* cardio_training */
	};
	for (size_t i = 0; i < CD_FIT_ZONES - 1; i++)
		s->zone_lo_bpm[i] = NAN;
}

/* bpm rounded, kept on its side of every bound. */
static int round_in_zone(double bpm, const double *bounds)
{
	double r = floor(bpm + 0.5);

	for (size_t i = 0; i < CD_FIT_ZONES - 1; i++) {
		double b = bounds[i];

		if (!isfinite(b))
			continue;
		if (bpm < b && r >= b)
			r -= 1;
		else if (bpm >= b && r < b)
			r += 1;
	}
	return (int)r;
}

static int zone_of(const double *bounds, double bpm)
{
	int z = 0;

	for (size_t i = 0; i < CD_FIT_ZONES - 1; i++)
		if (isfinite(bounds[i]) && bpm >= bounds[i])
			z = (int)i + 1;
	return z;
}

void cd_resampler_init(struct cd_resampler *r, const double bounds[CD_FIT_ZONES - 1],
		       double max_gap_s)
{
	*r = (struct cd_resampler){
		.max_gap_s = isfinite(max_gap_s) && max_gap_s >= 0 ? max_gap_s : 5,
		.cur = { .sec = -1 },
		.first_zone = -1,
		.t_a = NAN,
		.rec_sec = -1,
	};
	memcpy(r->bounds, bounds, sizeof(r->bounds));
}

/* Close the current second: pick its heart rate. */
static void close_second(struct cd_resampler *r, struct cd_second *done)
{
	*done = r->cur;
	done->bpm = 0;
	if (r->first_zone >= 0) {
		int best = r->first_zone;

		/* What the previous second with a heart rate covered, as a reader counts it. */
		if (r->rec_sec >= 0 && (double)(r->cur.sec - r->rec_sec) <= r->max_gap_s)
			r->written[r->rec_zone] += (double)(r->cur.sec - r->rec_sec);
		for (int z = 0; z < CD_FIT_ZONES; z++)
			if (r->cand[z] > 0 && r->orig[z] - r->written[z] >
						      r->orig[best] - r->written[best] + 1e-9)
				best = z;
		done->bpm = r->cand[best];
		r->rec_sec = r->cur.sec;
		r->rec_zone = best;
	}
	r->cur.sec = -1;
}

int cd_resampler_add(struct cd_resampler *r, const struct cd_sample *s, struct cd_second *done)
{
	int64_t sec;
	int ret = 0, z;

	if (!isfinite(s->t))
		return 0;
	sec = s->t <= 0 ? 0 : s->t >= 9e15 ? (int64_t)9e15 : (int64_t)floor(s->t);
	if (r->cur.sec >= 0 && sec < r->cur.sec)
		return 0; /* backwards: ignored */
	if (r->cur.sec >= 0 && sec > r->cur.sec) {
		close_second(r, done);
		ret = 1;
	}
	if (r->cur.sec < 0) {
		r->cur = (struct cd_second){ .sec = sec };
		memset(r->cand, 0, sizeof(r->cand));
		r->first_zone = -1;
	}
	if (!cd_sample_is_valid(s))
		return ret;
	if (isfinite(r->t_a) && s->t >= r->t_a && s->t - r->t_a <= r->max_gap_s)
		r->orig[r->z_a] += s->t - r->t_a;
	z = zone_of(r->bounds, s->bpm);
	r->t_a = s->t;
	r->z_a = z;
	if (r->cand[z] == 0)
		r->cand[z] = round_in_zone(s->bpm, r->bounds);
	if (r->first_zone < 0)
		r->first_zone = z;
	for (size_t i = 0; i < s->n_rr && s->rr_ms; i++) {
		double rr = s->rr_ms[i];

		if (!(rr >= 1 && rr < 65535) || r->cur.n_rr >= CD_FIT_RR_PER_SECOND)
			continue;
		r->cur.rr_ms[r->cur.n_rr++] = (uint16_t)lround(rr);
	}
	return ret;
}

int cd_resampler_flush(struct cd_resampler *r, struct cd_second *done)
{
	if (r->cur.sec < 0)
		return 0;
	close_second(r, done);
	return 1;
}

/* ---- encoder ---- */

struct buf {
	uint8_t b[160];
	size_t n;
};

static void put8(struct buf *b, uint8_t v)
{
	b->b[b->n++] = v;
}

static void put16(struct buf *b, uint16_t v)
{
	put8(b, (uint8_t)v);
	put8(b, (uint8_t)(v >> 8));
}

static void put32(struct buf *b, uint32_t v)
{
	put16(b, (uint16_t)v);
	put16(b, (uint16_t)(v >> 16));
}

static int emit_raw(struct cd_fit_encoder *e, const void *p, size_t n)
{
	int r;

	e->crc = cd_fit_crc(e->crc, p, n);
	if (!e->write)
		return 0;
	r = e->write(e->userdata, p, n);
	if (r < 0)
		e->failed = r;
	return r;
}

static int emit(struct cd_fit_encoder *e, const struct buf *b)
{
	if (e->failed)
		return e->failed;
	if ((uint64_t)e->data_bytes + b->n > UINT32_MAX - 16) {
		e->failed = -EFBIG;
		return -EFBIG;
	}
	e->data_bytes += (uint32_t)b->n;
	return emit_raw(e, b->b, b->n);
}

/*
 * A data message of local type local, timestamp (field 253) first: every
 * message but file_id has it first in its definition.
 */
static void begin_message(struct buf *b, uint8_t local, uint32_t ts)
{
	b->n = 0;
	put8(b, local);
	put32(b, ts);
}

/* A timer event (start or stop_all) at ts: the opening, each gap, the end. */
static int emit_timer_event(struct cd_fit_encoder *e, uint32_t ts, uint8_t type)
{
	struct buf b;

	begin_message(&b, L_EVENT, ts);
	put8(&b, 0); /* event: timer */
	put8(&b, type);
	put8(&b, 0); /* event_group */
	return emit(e, &b);
}

struct fielddef {
	uint8_t num, size, base;
};

static int define(struct cd_fit_encoder *e, uint8_t local, uint16_t global,
		  const struct fielddef *f, size_t n)
{
	struct buf b = {};

	put8(&b, (uint8_t)(0x40 | local));
	put8(&b, 0); /* reserved */
	put8(&b, 0); /* little endian */
	put16(&b, global);
	put8(&b, (uint8_t)n);
	for (size_t i = 0; i < n; i++) {
		put8(&b, f[i].num);
		put8(&b, f[i].size);
		put8(&b, f[i].base);
	}
	return emit(e, &b);
}

#define DEFINE(e, local, global, ...)                                                     \
	define(e, local, global, (const struct fielddef[]){ __VA_ARGS__ },                \
	       sizeof((const struct fielddef[]){ __VA_ARGS__ }) / sizeof(struct fielddef))

static uint8_t u8_or_invalid(double v)
{
	return isfinite(v) && v >= 0 && v < 254.5 ? (uint8_t)lround(v) : 0xFF;
}

static uint32_t ms_of(double s)
{
	return isfinite(s) && s >= 0 && s < 4e6 ? (uint32_t)llround(s * 1000) : 0xFFFFFFFF;
}

static uint32_t fit_time_of_us(int64_t us)
{
	int64_t s = us / 1000000 - CD_FIT_EPOCH_UNIX;

	return s < 0x10000000 ? 0x10000000 : s > 0xFFFFFFF0 ? 0xFFFFFFF0 : (uint32_t)s;
}

static int start(struct cd_fit_encoder *e)
{
	uint32_t ts = e->start_ts;
	struct buf b = {};
	int r;

	e->started = 1;
	if (e->write) {
		uint8_t h[FIT_HEADER_SIZE] = { FIT_HEADER_SIZE, FIT_PROTOCOL,
					       FIT_PROFILE & 0xFF, FIT_PROFILE >> 8,
					       (uint8_t)e->declared, (uint8_t)(e->declared >> 8),
					       (uint8_t)(e->declared >> 16), (uint8_t)(e->declared >> 24),
					       '.', 'F', 'I', 'T' };
		uint16_t hc = cd_fit_crc(0, h, 12);

		h[12] = (uint8_t)hc;
		h[13] = (uint8_t)(hc >> 8);
		r = emit_raw(e, h, sizeof(h));
		if (r < 0)
			return r;
	}

	r = DEFINE(e, L_FILE_ID, MESG_FILE_ID, { 0, 1, BT_ENUM }, { 1, 2, BT_UINT16 },
		   { 2, 2, BT_UINT16 }, { 3, 4, BT_UINT32Z }, { 4, 4, BT_UINT32 });
	if (r < 0)
		return r;
	put8(&b, L_FILE_ID);
	put8(&b, 4); /* activity */
	put16(&b, FIT_MANUFACTURER_DEVELOPMENT);
	put16(&b, 1);
	put32(&b, 1);
	put32(&b, ts);
	r = emit(e, &b);
	if (r < 0)
		return r;

	r = DEFINE(e, L_DEVICE_INFO, MESG_DEVICE_INFO, { 253, 4, BT_UINT32 }, { 0, 1, BT_UINT8 },
		   { 2, 2, BT_UINT16 }, { 4, 2, BT_UINT16 }, { 3, 4, BT_UINT32Z },
		   { 5, 2, BT_UINT16 });
	if (r < 0)
		return r;
	begin_message(&b, L_DEVICE_INFO, ts);
	put8(&b, 0); /* creator */
	put16(&b, FIT_MANUFACTURER_DEVELOPMENT);
	put16(&b, 1);
	put32(&b, 1);
	put16(&b, 100); /* 1.00 */
	r = emit(e, &b);
	if (r < 0)
		return r;

	r = DEFINE(e, L_EVENT, MESG_EVENT, { 253, 4, BT_UINT32 }, { 0, 1, BT_ENUM },
		   { 1, 1, BT_ENUM }, { 4, 1, BT_UINT8 });
	if (r < 0)
		return r;
	r = emit_timer_event(e, ts, TIMER_START);
	if (r < 0)
		return r;

	r = DEFINE(e, L_RECORD_HR, MESG_RECORD, { 253, 4, BT_UINT32 }, { 3, 1, BT_UINT8 });
	if (r < 0)
		return r;
	r = DEFINE(e, L_RECORD, MESG_RECORD, { 253, 4, BT_UINT32 });
	if (r < 0)
		return r;
	return DEFINE(e, L_HRV, MESG_HRV, { 0, 2 * HRV_SLOTS, BT_UINT16 });
}

/* The header and opening messages before anything else; e->failed once anything failed. */
static int ensure_started(struct cd_fit_encoder *e)
{
	if (e->failed)
		return e->failed;
	return e->started ? 0 : start(e);
}

void cd_fit_encoder_init(struct cd_fit_encoder *e, const struct cd_export_summary *s,
			 uint32_t data_size, cd_write_fn write, void *userdata)
{
	*e = (struct cd_fit_encoder){
		.sum = *s,
		.write = write,
		.userdata = userdata,
		.declared = data_size,
		.start_ts = fit_time_of_us(s->started_at_us),
	};
	cd_resampler_init(&e->rs, s->zone_lo_bpm, s->max_gap_s);
	e->last_ts = e->start_ts;
}

static int write_second(struct cd_fit_encoder *e, const struct cd_second *sec)
{
	uint64_t ts64 = (uint64_t)e->start_ts + (uint64_t)sec->sec;
	uint32_t ts = ts64 > 0xFFFFFFF0 ? 0xFFFFFFF0 : (uint32_t)ts64;
	struct buf b = {};
	int r;

	if (ts < e->last_ts)
		ts = e->last_ts;
	if (e->records > 0 && (double)(ts - e->last_ts) > e->sum.max_gap_s) {
		/* A gap: the timer stops after the last record and starts again. */
		r = emit_timer_event(e, e->last_ts, TIMER_STOP_ALL);
		if (r >= 0)
			r = emit_timer_event(e, ts, TIMER_START);
		if (r < 0)
			return r;
	}
	begin_message(&b, sec->bpm > 0 ? L_RECORD_HR : L_RECORD, ts);
	if (sec->bpm > 0)
		put8(&b, (uint8_t)(sec->bpm > 254 ? 254 : sec->bpm));
	r = emit(e, &b);
	if (r < 0)
		return r;
	e->last_ts = ts;
	e->records++;
	for (unsigned i = 0; i < sec->n_rr; i += HRV_SLOTS) {
		b.n = 0;
		put8(&b, L_HRV);
		for (unsigned k = i; k < i + HRV_SLOTS; k++)
			put16(&b, k < sec->n_rr ? sec->rr_ms[k] : 0xFFFF);
		r = emit(e, &b);
		if (r < 0)
			return r;
	}
	return 0;
}

int cd_fit_encoder_add(struct cd_fit_encoder *e, const struct cd_sample *s)
{
	struct cd_second done;
	int r;

	r = ensure_started(e);
	if (r < 0)
		return r;
	if (cd_resampler_add(&e->rs, s, &done) > 0)
		return write_second(e, &done);
	return 0;
}

static void put_zone_times(struct buf *b, const struct cd_export_summary *s)
{
	for (size_t z = 0; z < CD_FIT_ZONES; z++)
		put32(b, ms_of(s->zone_s[z]));
}

/* Lap and session alike: elapsed and timer time (ms), distance, calories, heart rate. */
static void put_totals(struct buf *b, uint32_t el_ms, uint32_t tm_ms, uint16_t kcal,
		       const struct cd_export_summary *s)
{
	put32(b, el_ms);
	put32(b, tm_ms);
	put32(b, 0); /* distance: indoors */
	put16(b, kcal);
	put8(b, u8_or_invalid(s->avg_bpm));
	put8(b, u8_or_invalid(s->max_bpm));
	put8(b, u8_or_invalid(s->min_bpm));
}

int cd_fit_encoder_finish(struct cd_fit_encoder *e)
{
	const struct cd_export_summary *s = &e->sum;
	double elapsed, timer;
	uint32_t end, el_ms, tm_ms;
	uint16_t kcal;
	struct buf b = {};
	int r;

	r = ensure_started(e);
	if (r < 0)
		return r;
	{
		struct cd_second last;

		if (cd_resampler_flush(&e->rs, &last) > 0) {
			r = write_second(e, &last);
			if (r < 0)
				return r;
		}
	}

	elapsed = s->elapsed_s;
	if (!isfinite(elapsed) || elapsed < 0 || elapsed < (double)(e->last_ts - e->start_ts))
		elapsed = (double)(e->last_ts - e->start_ts);
	timer = isfinite(s->timer_s) && s->timer_s >= 0 && s->timer_s <= elapsed ? s->timer_s
										  : elapsed;
	end = e->start_ts + (uint32_t)ceil(elapsed);
	if (end < e->last_ts)
		end = e->last_ts;
	el_ms = ms_of(elapsed);
	tm_ms = ms_of(timer);
	kcal = isfinite(s->energy_kj) && s->energy_kj >= 0 && s->energy_kj / 4.184 < 65534
		       ? (uint16_t)lround(s->energy_kj / 4.184)
		       : 0xFFFF;

	r = emit_timer_event(e, end, TIMER_STOP_ALL);
	if (r < 0)
		return r;

	r = DEFINE(e, L_LAP, MESG_LAP, { 253, 4, BT_UINT32 }, { 254, 2, BT_UINT16 },
		   { 0, 1, BT_ENUM }, { 1, 1, BT_ENUM }, { 2, 4, BT_UINT32 }, { 7, 4, BT_UINT32 },
		   { 8, 4, BT_UINT32 }, { 9, 4, BT_UINT32 }, { 11, 2, BT_UINT16 },
		   { 15, 1, BT_UINT8 }, { 16, 1, BT_UINT8 }, { 63, 1, BT_UINT8 },
		   { 23, 1, BT_ENUM }, { 24, 1, BT_ENUM }, { 25, 1, BT_ENUM }, { 39, 1, BT_ENUM },
		   { 57, 4 * CD_FIT_ZONES, BT_UINT32 });
	if (r < 0)
		return r;
	begin_message(&b, L_LAP, end);
	put16(&b, 0);
	put8(&b, 9); /* lap */
	put8(&b, 1); /* stop */
	put32(&b, e->start_ts);
	put_totals(&b, el_ms, tm_ms, kcal, s);
	put8(&b, 0); /* intensity active */
	put8(&b, 7); /* session_end */
	put8(&b, s->sport);
	put8(&b, s->sub_sport);
	put_zone_times(&b, s);
	r = emit(e, &b);
	if (r < 0)
		return r;

	r = DEFINE(e, L_SESSION, MESG_SESSION, { 253, 4, BT_UINT32 }, { 254, 2, BT_UINT16 },
		   { 0, 1, BT_ENUM }, { 1, 1, BT_ENUM }, { 2, 4, BT_UINT32 }, { 5, 1, BT_ENUM },
		   { 6, 1, BT_ENUM }, { 7, 4, BT_UINT32 }, { 8, 4, BT_UINT32 },
		   { 9, 4, BT_UINT32 }, { 11, 2, BT_UINT16 }, { 16, 1, BT_UINT8 },
		   { 17, 1, BT_UINT8 }, { 64, 1, BT_UINT8 }, { 25, 2, BT_UINT16 },
		   { 26, 2, BT_UINT16 }, { 28, 1, BT_ENUM }, { 65, 4 * CD_FIT_ZONES, BT_UINT32 });
	if (r < 0)
		return r;
	begin_message(&b, L_SESSION, end);
	put16(&b, 0);
	put8(&b, 8); /* session */
	put8(&b, 1); /* stop */
	put32(&b, e->start_ts);
	put8(&b, s->sport);
	put8(&b, s->sub_sport);
	put_totals(&b, el_ms, tm_ms, kcal, s);
	put16(&b, 0); /* first_lap_index */
	put16(&b, 1); /* num_laps */
	put8(&b, 0);  /* activity_end */
	put_zone_times(&b, s);
	r = emit(e, &b);
	if (r < 0)
		return r;

	r = DEFINE(e, L_TIME_IN_ZONE, MESG_TIME_IN_ZONE, { 253, 4, BT_UINT32 },
		   { 0, 2, BT_UINT16 }, { 1, 2, BT_UINT16 }, { 2, 4 * CD_FIT_ZONES, BT_UINT32 },
		   { 6, CD_FIT_ZONES - 1, BT_UINT8 }, { 10, 1, BT_ENUM }, { 11, 1, BT_UINT8 },
		   { 12, 1, BT_UINT8 });
	if (r < 0)
		return r;
	begin_message(&b, L_TIME_IN_ZONE, end);
	put16(&b, MESG_SESSION);
	put16(&b, 0);
	put_zone_times(&b, s);
	/* FIT zone i ends where our zone i+1 begins. */
	for (size_t z = 0; z < CD_FIT_ZONES - 1; z++)
		put8(&b, u8_or_invalid(s->zone_lo_bpm[z]));
	put8(&b, 0); /* custom: the bounds are as given */
	put8(&b, u8_or_invalid(s->hr_max));
	put8(&b, u8_or_invalid(s->hr_rest));
	r = emit(e, &b);
	if (r < 0)
		return r;

	r = DEFINE(e, L_ACTIVITY, MESG_ACTIVITY, { 253, 4, BT_UINT32 }, { 0, 4, BT_UINT32 },
		   { 1, 2, BT_UINT16 }, { 2, 1, BT_ENUM }, { 3, 1, BT_ENUM }, { 4, 1, BT_ENUM },
		   { 5, 4, BT_UINT32 });
	if (r < 0)
		return r;
	begin_message(&b, L_ACTIVITY, end);
	put32(&b, tm_ms);
	put16(&b, 1);
	put8(&b, 0);  /* manual */
	put8(&b, 26); /* activity */
	put8(&b, 1);  /* stop */
	put32(&b, end); /* local time: cardiod keeps UTC */
	r = emit(e, &b);
	if (r < 0)
		return r;

	if (e->write) {
		uint16_t crc = e->crc;
		uint8_t c[2] = { (uint8_t)crc, (uint8_t)(crc >> 8) };

		if (e->data_bytes != e->declared) {
			e->failed = -EIO;
			return -EIO;
		}
		r = emit_raw(e, c, sizeof(c));
		if (r < 0)
			return r;
	}
	return 0;
}

uint32_t cd_fit_encoder_data_size(const struct cd_fit_encoder *e)
{
	return e->data_bytes;
}

/* ---- decoder ---- */

#define MAX_FIELDS 255
#define MAX_SESSIONS 64
#define MAX_RR 64

struct def {
	bool defined;
	bool big_endian;
	uint16_t global;
	uint8_t n;
	uint32_t size; /* bytes of a data message, dev fields included */
	struct fielddef f[MAX_FIELDS];
};

struct fit_session {
	uint32_t start, end; /* FIT time; end inclusive */
	bool has_start;
	uint8_t sport;
	bool used;
};

struct decoder {
	const uint8_t *p;
	size_t pos, end; /* messages: [header size, header size + data size) */
	struct def defs[16];
	uint32_t last_ts;
	bool have_ts;
	char *err;
	size_t errlen;

	/* pass 1 */
	struct fit_session sessions[MAX_SESSIONS];
	size_t n_sessions;

	/* pass 2 */
	const struct cd_import_sink *sink;
	int cur;         /* session being fed, -1 none */
	bool timer_stopped;
	bool stop_seen; /* a timer stop since the pending record */
	bool pending;
	uint32_t pend_ts;
	int pend_bpm;
	size_t n_rr;
	double rr[MAX_RR];
	bool any_record_ts;
	uint32_t implicit_start;
};

__attribute__((format(printf, 2, 3))) static int fail(struct decoder *d, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (d->err && d->errlen > 0) {
		n = snprintf(d->err, d->errlen, "FIT: ");
		if (n < 0 || (size_t)n >= d->errlen)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static uint32_t read_uint(const uint8_t *p, size_t size, bool be)
{
	uint32_t v = 0;

	for (size_t i = 0; i < size; i++)
		v |= (uint32_t)p[be ? size - 1 - i : i] << (8 * i);
	return v;
}

/* Field num of a data message: pointer and size, or NULL. */
static const uint8_t *field(const struct def *def, const uint8_t *msg, uint8_t num, uint8_t *ret_size)
{
	size_t off = 0;

	for (size_t i = 0; i < def->n; i++) {
		if (def->f[i].num == num) {
			*ret_size = def->f[i].size;
			return msg + off;
		}
		off += def->f[i].size;
	}
	return NULL;
}

/* An unsigned scalar field of 1, 2 or 4 bytes; false when absent, odd-sized or invalid. */
static bool get_uint(const struct def *def, const uint8_t *msg, uint8_t num, uint32_t *ret)
{
	uint8_t size;
	const uint8_t *p = field(def, msg, num, &size);
	uint32_t v, invalid;

	if (!p || (size != 1 && size != 2 && size != 4))
		return false;
	v = read_uint(p, size, def->big_endian);
	invalid = size == 1 ? 0xFF : size == 2 ? 0xFFFF : 0xFFFFFFFF;
	if (v == invalid)
		return false;
	*ret = v;
	return true;
}

/* A record's heart_rate: 0 (invalid) when absent, 0xFF or out of a byte's range. */
static int heart_rate(const struct def *def, const uint8_t *msg)
{
	uint32_t v;

	return get_uint(def, msg, 3, &v) && v < 255 ? (int)v : 0;
}

static const char *sport_name(uint8_t sport)
{
	switch (sport) {
	case 0: return "generic";
	case 1: return "running";
	case 2: return "cycling";
	case 3: return "transition";
	case 4: return "fitness_equipment";
	case 5: return "swimming";
	case 10: return "training";
	case 11: return "walking";
	case 15: return "rowing";
	case 17: return "hiking";
	case 18: return "multisport";
	default: return NULL;
	}
}

typedef int (*message_fn)(struct decoder *d, const struct def *def, const uint8_t *msg,
			  bool has_ts, uint32_t ts);

/* Walk every message of the file; structural errors are reported with their offset. */
static int walk(struct decoder *d, message_fn fn)
{
	d->have_ts = false;
	d->last_ts = 0;
	memset(d->defs, 0, sizeof(d->defs));
	for (size_t pos = d->pos; pos < d->end;) {
		size_t at = pos;
		uint8_t h = d->p[pos++];
		struct def *def;
		bool has_ts = false;
		uint32_t ts = 0;
		uint32_t v;
		int r;

		if (h & 0x80) { /* compressed timestamp */
			uint32_t off = h & 0x1F;

			if (!d->have_ts)
				return fail(d, "byte %zu: compressed timestamp before any timestamp", at);
			ts = (d->last_ts & ~(uint32_t)0x1F) + off;
			if (off < (d->last_ts & 0x1F))
				ts += 0x20;
			d->last_ts = ts;
			has_ts = true;
			def = &d->defs[(h >> 5) & 0x3];
		} else if (h & 0x40) { /* definition */
			bool dev = h & 0x20;
			uint8_t arch;
			size_t n;

			def = &d->defs[h & 0xF];
			if (d->end - pos < 5)
				return fail(d, "byte %zu: truncated definition message", at);
			arch = d->p[pos + 1];
			if (arch > 1)
				return fail(d, "byte %zu: unknown architecture %u", at, arch);
			*def = (struct def){ .defined = true, .big_endian = arch == 1 };
			def->global = (uint16_t)read_uint(d->p + pos + 2, 2, def->big_endian);
			n = d->p[pos + 4];
			pos += 5;
			if (d->end - pos < 3 * n)
				return fail(d, "byte %zu: truncated definition message", at);
			def->n = (uint8_t)n;
			for (size_t i = 0; i < n; i++) {
				def->f[i] = (struct fielddef){ d->p[pos], d->p[pos + 1], d->p[pos + 2] };
				def->size += d->p[pos + 1];
				pos += 3;
			}
			if (dev) {
				if (d->end - pos < 1)
					return fail(d, "byte %zu: truncated definition message", at);
				n = d->p[pos++];
				if (d->end - pos < 3 * n)
					return fail(d, "byte %zu: truncated definition message", at);
				for (size_t i = 0; i < n; i++, pos += 3)
					def->size += d->p[pos + 1];
			}
			continue;
		} else {
			def = &d->defs[h & 0xF];
		}

		if (!def->defined)
			return fail(d, "byte %zu: data message of undefined local type %u", at,
				    (unsigned)(h & 0x80 ? (h >> 5) & 3 : h & 0xF));
		if (d->end - pos < def->size)
			return fail(d, "byte %zu: truncated data message", at);
		if (get_uint(def, d->p + pos, 253, &v)) {
			ts = v;
			has_ts = true;
			d->last_ts = v;
			d->have_ts = true;
		}
		if (fn) {
			r = fn(d, def, d->p + pos, has_ts, ts);
			if (r < 0)
				return r;
		}
		pos += def->size;
	}
	return 0;
}

static int pass1(struct decoder *d, const struct def *def, const uint8_t *msg, bool has_ts,
		 uint32_t ts)
{
	struct fit_session *s;
	uint32_t v;

	if (def->global == MESG_RECORD && has_ts && !d->any_record_ts) {
		d->any_record_ts = true;
		d->implicit_start = ts;
	}
	if (def->global != MESG_SESSION)
		return 0;
	if (d->n_sessions >= MAX_SESSIONS)
		return fail(d, "more than %d sessions", MAX_SESSIONS);
	s = &d->sessions[d->n_sessions++];
	*s = (struct fit_session){ .sport = 0xFF };
	if (get_uint(def, msg, 2, &v)) {
		s->start = v;
		s->has_start = true;
	} else if (has_ts) {
		s->start = ts; /* fixed below from the elapsed time */
	}
	if (get_uint(def, msg, 7, &v)) {
		uint32_t el = (v + 999) / 1000;

		if (!s->has_start && has_ts) {
			s->start = ts >= el ? ts - el : 0;
			s->has_start = true;
		}
		s->end = s->start + el;
	} else {
		s->end = has_ts && ts >= s->start ? ts : UINT32_MAX;
	}
	if (!s->has_start && !has_ts) {
		d->n_sessions--; /* no way to place it */
		return 0;
	}
	s->has_start = true;
	if (get_uint(def, msg, 5, &v))
		s->sport = (uint8_t)v;
	return 0;
}

static int flush_sample(struct decoder *d)
{
	const struct fit_session *s = &d->sessions[d->cur];
	struct cd_sample x = {
		.t = (double)(d->pend_ts - s->start),
		.bpm = d->pend_bpm,
		.contact = CD_CONTACT_UNKNOWN,
		.energy_kj = NAN,
		.rr_ms = d->rr,
		.n_rr = d->n_rr,
	};

	if (!d->pending)
		return 0;
	d->pending = false;
	d->n_rr = 0;
	return d->sink->sample(d->sink->userdata, &x);
}

static int close_session(struct decoder *d)
{
	int r;

	if (d->cur < 0)
		return 0;
	r = flush_sample(d);
	if (r < 0)
		return r;
	d->cur = -1;
	return d->sink->session_end(d->sink->userdata);
}

static int in_session(const struct fit_session *s, uint32_t ts, int inclusive)
{
	return ts >= s->start && (inclusive ? ts <= s->end : ts < s->end);
}

static int begin_session(struct decoder *d, int i)
{
	d->cur = i;
	d->sessions[i].used = true;
	return d->sink->session_begin(d->sink->userdata,
				      ((int64_t)d->sessions[i].start + CD_FIT_EPOCH_UNIX) * 1000000,
				      sport_name(d->sessions[i].sport));
}

/* A FIT session without records is still a session (DESIGN §9.5: one per FIT session). */
static int empty_session(struct decoder *d, int i)
{
	int r;

	if (d->sessions[i].used)
		return 0;
	r = begin_session(d, i);
	if (r < 0)
		return r;
	return close_session(d);
}

/*
 * The session a record at ts belongs to: one whose [start, end) holds it
 * (the open one first), else one whose end is ts; sessions already closed
 * take no more records.  -1 for none.
 */
static int find_session(struct decoder *d, uint32_t ts)
{
	for (int inclusive = 0; inclusive < 2; inclusive++) {
		if (d->cur >= 0 && in_session(&d->sessions[d->cur], ts, inclusive))
			return d->cur;
		for (size_t i = 0; i < d->n_sessions; i++)
			if (!d->sessions[i].used && in_session(&d->sessions[i], ts, inclusive))
				return (int)i;
	}
	return -1;
}

static int pass2(struct decoder *d, const struct def *def, const uint8_t *msg, bool has_ts,
		 uint32_t ts)
{
	uint32_t v;
	int r, found;

	if (def->global == MESG_EVENT) {
		uint32_t ev, type;

		if (get_uint(def, msg, 0, &ev) && get_uint(def, msg, 1, &type) && ev == 0)
			d->timer_stopped = type == 1 || type == 4 || type == 8 || type == 9;
		if (d->timer_stopped)
			d->stop_seen = true;
		return 0;
	}
	if (def->global == MESG_HRV) {
		uint8_t size;
		const uint8_t *p = field(def, msg, 0, &size);

		if (!p || !d->pending)
			return 0;
		for (size_t i = 0; i + 2 <= size; i += 2) {
			v = read_uint(p + i, 2, def->big_endian);
			if (v == 0xFFFF || v == 0 || d->n_rr >= MAX_RR)
				continue;
			d->rr[d->n_rr++] = v; /* scale 1000: ms */
		}
		return 0;
	}
	if (def->global != MESG_RECORD || !has_ts || d->timer_stopped)
		return 0;

	found = find_session(d, ts);
	if (found < 0)
		return 0; /* outside every session */
	if (found != d->cur) {
		r = close_session(d);
		if (r < 0)
			return r;
		/* Sessions before this one without a record of their own: empty ones. */
		for (int j = 0; j < found; j++) {
			r = empty_session(d, j);
			if (r < 0)
				return r;
		}
		r = begin_session(d, found);
		if (r < 0)
			return r;
	}
	if (d->pending && ts < d->pend_ts)
		return 0; /* backwards */
	if (d->pending && ts == d->pend_ts) {
		if (d->pend_bpm == 0)
			d->pend_bpm = heart_rate(def, msg);
		return 0;
	}
	if (d->pending) {
		uint32_t from = d->pend_ts, bpm = (uint32_t)d->pend_bpm;
		bool fill = !d->stop_seen && ts - from <= CD_FIT_FILL_MAX_S;

		r = flush_sample(d);
		if (r < 0)
			return r;
		for (uint32_t k = from + 1; fill && k < ts; k++) {
			d->pending = true;
			d->pend_ts = k;
			d->pend_bpm = (int)bpm;
			r = flush_sample(d);
			if (r < 0)
				return r;
		}
	}
	d->stop_seen = false;
	d->pending = true;
	d->pend_ts = ts;
	d->pend_bpm = heart_rate(def, msg);
	return 0;
}

int cd_fit_import(const void *data, size_t len, const struct cd_import_sink *sink, char *err,
		  size_t errlen)
{
	struct decoder *d, dd;
	const uint8_t *p = data;
	size_t hsize;
	uint32_t data_size;
	int r;

	d = &dd;
	memset(d, 0, sizeof(*d));
	d->err = err;
	d->errlen = errlen;
	d->sink = sink;
	d->cur = -1;
	if (err && errlen)
		err[0] = '\0';

	if (!p || len < 12)
		return fail(d, "file too short for a header (%zu bytes)", len);
	hsize = p[0];
	if (hsize < 12 || hsize > len)
		return fail(d, "bad header size %zu", hsize);
	if (memcmp(p + 8, ".FIT", 4) != 0)
		return fail(d, "not a FIT file (no \".FIT\" signature)");
	if (hsize >= 14 && (p[12] | p[13]) != 0 && cd_fit_crc(0, p, 12) != (p[12] | p[13] << 8))
		return fail(d, "header CRC mismatch");
	data_size = (uint32_t)read_uint(p + 4, 4, false);
	if ((uint64_t)hsize + data_size + 2 > len)
		return fail(d, "truncated: the header announces %" PRIu32
			       " bytes of records, the file holds %zu",
			    data_size, len - hsize);
	if (cd_fit_crc(0, p, hsize + data_size + 2) != 0)
		return fail(d, "CRC mismatch");

	d->p = p;
	d->pos = hsize;
	d->end = hsize + data_size;
	r = walk(d, pass1);
	if (r < 0)
		return r;
	if (d->n_sessions == 0) {
		if (!d->any_record_ts)
			return fail(d, "no records with a timestamp");
		d->sessions[0] = (struct fit_session){ .start = d->implicit_start,
						       .end = UINT32_MAX,
						       .has_start = true,
						       .sport = 0xFF };
		d->n_sessions = 1;
	}
	/* In order of start time, so that they reach the sink in order. */
	for (size_t i = 1; i < d->n_sessions; i++)
		for (size_t j = i; j > 0 && d->sessions[j].start < d->sessions[j - 1].start; j--) {
			struct fit_session t = d->sessions[j];

			d->sessions[j] = d->sessions[j - 1];
			d->sessions[j - 1] = t;
		}
	r = walk(d, pass2);
	if (r < 0)
		return r;
	r = close_session(d);
	for (size_t i = 0; r >= 0 && i < d->n_sessions; i++)
		r = empty_session(d, (int)i);
	return r;
}
