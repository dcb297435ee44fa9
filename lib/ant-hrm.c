/* SPDX-License-Identifier: MIT */
/*
 * ANT+ heart-rate monitor receiver (PROTOCOLS §4).  See ant-hrm.h.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "ant-hrm.h"

/*
 * §4.2 transmission pattern: an HRM sends every 8070/32768 s whatever the
 * receiver's period, and flips the toggle bit every 4 messages.  Message
 * times divided by this slot length give how many transmissions passed,
 * so a run can be measured even when messages inside it were missed.
 */
#define SLOT_S	      ((double)CD_ANT_HRM_PERIOD / 32768.0)
#define TOGGLE_RUN    4
#define MODE_MIN_MSGS 8	 /* §4.3: "unknown" until 8+ messages seen */
#define MODE_GIVE_UP  64 /* no usable toggle evidence after this many: legacy */
#define RUNS_DECAY_AT 64 /* halve the run counters here so evidence stays recent */

static const char *const mode_table[_CD_ANT_HRM_MODE_MAX] = {
	[CD_ANT_HRM_MODE_UNKNOWN] = "unknown",
	[CD_ANT_HRM_MODE_PAGED] = "paged",
	[CD_ANT_HRM_MODE_LEGACY] = "legacy",
};

const char *cd_ant_hrm_mode_to_string(enum cd_ant_hrm_mode m)
{
	if (m < 0 || m >= _CD_ANT_HRM_MODE_MAX)
		return NULL;
	return mode_table[m];
}

static const char *const battery_status_table[_CD_ANT_BATTERY_STATUS_MAX] = {
	[CD_ANT_BATTERY_RESERVED_0] = "reserved",
	[CD_ANT_BATTERY_NEW] = "new",
	[CD_ANT_BATTERY_GOOD] = "good",
	[CD_ANT_BATTERY_OK] = "ok",
	[CD_ANT_BATTERY_LOW] = "low",
	[CD_ANT_BATTERY_CRITICAL] = "critical",
	[CD_ANT_BATTERY_RESERVED_6] = "reserved",
	[CD_ANT_BATTERY_INVALID] = "invalid",
};

const char *cd_ant_battery_status_to_string(enum cd_ant_battery_status s)
{
	if (s < 0 || s >= _CD_ANT_BATTERY_STATUS_MAX)
		return NULL;
	return battery_status_table[s];
}

double cd_ant_hrm_ticks_to_ms(uint32_t ticks)
{
	/* §4.2: event times are in 1/1024 s. */
	return (double)ticks * 1000.0 / 1024.0;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

void cd_ant_hrm_page_decode(const uint8_t data[CD_ANT_DATA_SIZE], struct cd_ant_hrm_page *ret)
{
	struct cd_ant_hrm_page p = {
		/* §4.2: mask 0x7F, not 0x0F (openant's bug reads 0x50 as page 0). */
		.page = data[0] & CD_ANT_HRM_PAGE_MASK,
		.toggle = (data[0] & CD_ANT_HRM_TOGGLE_BIT) != 0,
		/* §4.2: bytes 4-7 mean the same on every page. */
		.event_time = le16(data + 4),
		.beat_count = data[6],
		.heart_rate = data[7],
		.battery_pct = -1,
		.battery_v = NAN,
		.battery_status = CD_ANT_BATTERY_INVALID,
	};

	/* §4.2 page-specific bytes 1-3; other pages' bytes 1-3 are ignored. */
	switch (p.page) {
	case 1: /* cumulative operating time, 24 bits, units of 2 s */
		p.operating_time_s =
			((uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16) * 2;
		break;
	case 2: /* manufacturer ID, serial number upper 16 bits */
		p.manufacturer_id = data[1];
		p.serial_upper = le16(data + 2);
		break;
	case 3: /* hardware version, software version, model number */
		p.hw_version = data[1];
		p.sw_version = data[2];
		p.model = data[3];
		break;
	case 4: /* manufacturer-specific, previous heart beat event time */
		p.manufacturer_specific = data[1];
		p.prev_event_time = le16(data + 2);
		break;
	case 5: /* swim interval summary (layout S) */
		p.interval_avg_hr = data[1];
		p.interval_max_hr = data[2];
		p.session_avg_hr = data[3];
		break;
	case 6: /* reserved, features supported, features enabled */
		p.features_supported = data[2];
		p.features_enabled = data[3];
		break;
	case 7: /* battery %, fractional voltage 1/256 V, coarse voltage + status */
		p.battery_pct = data[1] <= 100 ? data[1] : -1; /* 0xFF = n/a */
		/* Coarse 0xF cannot be a strap's cell: read it as "no voltage". */
		if ((data[3] & 0x0F) != 0x0F)
			p.battery_v = (double)(data[3] & 0x0F) + (double)data[2] / 256.0;
		p.battery_status = (enum cd_ant_battery_status)(data[3] >> 4 & 0x07);
		break;
	default:
		break;
	}

	*ret = p;
}

/* Start over, keeping the channel ID (it is what we compare against). */
static void state_clear(struct cd_ant_hrm *h)
{
	bool has_id = h->has_id;
	struct cd_ant_channel_id id = h->id;

	*h = (struct cd_ant_hrm){
		.has_id = has_id,
		.id = id,
		.mode = CD_ANT_HRM_MODE_UNKNOWN,
	};
}

void cd_ant_hrm_init(struct cd_ant_hrm *h)
{
	*h = (struct cd_ant_hrm){
		.mode = CD_ANT_HRM_MODE_UNKNOWN,
	};
}

void cd_ant_hrm_reset(struct cd_ant_hrm *h)
{
	cd_ant_hrm_init(h);
}

enum cd_ant_hrm_mode cd_ant_hrm_get_mode(const struct cd_ant_hrm *h)
{
	return h->mode;
}

/* Transmitter slots between two arrivals, at least 1 (t1 >= t0). */
static unsigned slots_between(double t0, double t1)
{
	double x = (t1 - t0) / SLOT_S;

	/* A run can last the whole session; past this it is no evidence anyway. */
	if (!(x < 1e6))
		return 1000000;
	return x < 1.5 ? 1 : (unsigned)lround(x);
}

/*
 * §4.3 toggle tracking.  A run is the stretch between two observed flips.
 * It measures exactly when each of its two flips arrived one slot after the
 * message before it (a "clean" flip: the flip happened right there); only
 * such runs count as evidence.  Missed messages inside a run do not matter
 * because the run is measured in slots.  A paged strap gives 4 slots, or
 * 12, 20... if whole runs of the other value were missed; a legacy strap
 * with a random byte 0 gives any length.
 */
static void toggle_update(struct cd_ant_hrm *h, double t, bool toggle)
{
	if (h->n_msgs == 0) {
		h->last_toggle = toggle;
		h->seen_toggle[toggle] = true;
	} else if (toggle != h->last_toggle) {
		bool clean = slots_between(h->last_t, t) == 1;

		if (h->in_run && h->run_clean && clean) {
			unsigned len = slots_between(h->run_t, t);

			if (len % (2 * TOGGLE_RUN) == TOGGLE_RUN)
				h->ok_runs++;
			else
				h->bad_runs++;
			if (h->ok_runs + h->bad_runs >= RUNS_DECAY_AT) {
				h->ok_runs /= 2;
				h->bad_runs /= 2;
			}
		}
		h->in_run = true;
		h->run_clean = clean;
		h->run_t = t;
		h->last_toggle = toggle;
		h->seen_toggle[toggle] = true;
	}

	if (h->n_msgs < UINT_MAX)
		h->n_msgs++;

	/*
	 * §4.3: unknown below 8 messages; paged when the toggle took both
	 * values and its runs fit 4 (two clean runs at least, and at least
	 * four good runs for every bad one, so an odd late message does not
	 * demote a real paged strap but a random byte 0 never stays paged);
	 * legacy when it never flipped, when runs do not fit, or when no
	 * evidence came in MODE_GIVE_UP messages (e.g. a receiver period
	 * slower than 8070 never sees a clean flip).
	 */
	if (h->n_msgs < MODE_MIN_MSGS)
		h->mode = CD_ANT_HRM_MODE_UNKNOWN;
	else if (!h->seen_toggle[0] || !h->seen_toggle[1])
		h->mode = CD_ANT_HRM_MODE_LEGACY;
	else if (h->ok_runs >= 2 && h->ok_runs >= 4 * h->bad_runs)
		h->mode = CD_ANT_HRM_MODE_PAGED;
	else if (h->bad_runs > 0 || h->n_msgs >= MODE_GIVE_UP)
		h->mode = CD_ANT_HRM_MODE_LEGACY;
	else
		h->mode = CD_ANT_HRM_MODE_UNKNOWN;
}

static void add_rr(struct cd_ant_hrm_result *r, uint16_t ticks)
{
	r->rr_ticks[r->n_rr] = ticks;
	r->rr_ms[r->n_rr] = cd_ant_hrm_ticks_to_ms(ticks);
	r->n_rr++;
}

static void add_gap(struct cd_ant_hrm_result *r, unsigned beats, uint16_t ticks)
{
	r->n_gap_beats = beats;
	r->gap_mean_ms = cd_ant_hrm_ticks_to_ms(ticks) / beats;
}

/*
 * §4.4 steps 1-4 for a count delta dc >= 1 since (T, C).  Every RR here is
 * exact; lost intervals become a gap, never an invented RR.
 */
static void derive_rr(const struct cd_ant_hrm *h, const struct cd_ant_hrm_page *p, bool page4,
		      unsigned dc, struct cd_ant_hrm_result *r)
{
	/* All differences mod 65536: the 16-bit event time wraps every 64 s. */
	uint16_t span = (uint16_t)(p->event_time - h->T);

	r->n_beats = dc;

	if (page4) {
		uint16_t newest = (uint16_t)(p->event_time - p->prev_event_time);
		uint16_t before = (uint16_t)(p->prev_event_time - h->T);

		if (dc == 1) {
			/* Step 2: t - T and t - prev should agree; prefer page 4. */
			add_rr(r, newest);
			return;
		}
		/*
		 * Steps 3-4 need the previous beat to lie strictly between the
		 * last known beat and this one; otherwise page 4 tells nothing
		 * we can trust and the message counts as page 0.
		 */
		if (before > 0 && before < span) {
			if (dc == 2) {
				/* Step 3: both beats recovered exactly. */
				add_rr(r, before);
				add_rr(r, newest);
			} else {
				/* Step 4: only the newest RR is known. */
				add_rr(r, newest);
				add_gap(r, dc - 1, before);
			}
			return;
		}
	}

	if (dc == 1)
		add_rr(r, span); /* step 2: RR = (t - T) mod 65536 */
	else
		add_gap(r, dc, span); /* step 4 on page 0: nothing exact */
}

int cd_ant_hrm_receive(struct cd_ant_hrm *h, double t, const struct cd_ant_channel_id *id,
		       const uint8_t data[CD_ANT_DATA_SIZE], struct cd_ant_hrm_result *ret)
{
	struct cd_ant_hrm_result r = {
		.gap_mean_ms = NAN,
	};
	bool page4;
	unsigned dc;

	if (!h || !data || !ret || !isfinite(t))
		return -EINVAL;

	cd_ant_hrm_page_decode(data, &r.page);
	r.bpm = r.page.heart_rate;

	/* §4.4 step 6: a different sender, a long silence, or time going back. */
	if (id) {
		if (h->has_id && !cd_ant_channel_id_equal(&h->id, id))
			state_clear(h);
		h->id = *id;
		h->has_id = true;
	}
	if (h->has_last && (t < h->last_t || t - h->last_t >= CD_ANT_HRM_RESET_S))
		state_clear(h);

	r.repeat = h->has_last && memcmp(h->last_data, data, CD_ANT_DATA_SIZE) == 0;

	toggle_update(h, t, r.page.toggle);
	r.mode = h->mode;
	/* §4.3: bytes 0-3 only once the toggle rule says the strap is paged. */
	r.page_valid = h->mode == CD_ANT_HRM_MODE_PAGED;
	page4 = r.page_valid && r.page.page == 4;

	dc = (uint8_t)(r.page.beat_count - h->C); /* step 1: mod 256 */
	if (!h->rr_valid || (dc > 0 && t - h->count_t >= CD_ANT_HRM_RESET_S)) {
		/*
		 * First message, or the count stood still for 60 s so the event
		 * time may have wrapped unseen: this message only initialises.
		 */
		h->rr_valid = true;
		h->count_t = t;
		r.restarted = true;
	} else if (dc > 0) {
		derive_rr(h, &r.page, page4, dc, &r);
		h->count_t = t;
	}

	/* Step 5. */
	h->T = r.page.event_time;
	h->C = r.page.beat_count;

	h->has_last = true;
	h->last_t = t;
	memcpy(h->last_data, data, CD_ANT_DATA_SIZE);

	*ret = r;
	return 0;
}

void cd_ant_hrm_result_to_sample(const struct cd_ant_hrm_result *r, double t, struct cd_sample *ret)
{
	*ret = (struct cd_sample){
		.t = t,
		.bpm = r->bpm,
		.contact = CD_CONTACT_UNKNOWN,
		.energy_kj = NAN,
		.rr_ms = r->n_rr > 0 ? r->rr_ms : NULL,
		.n_rr = r->n_rr,
	};
}
