/* SPDX-License-Identifier: MIT */
/*
 * ANT+ straps through a USB ANT stick (PROTOCOLS §3-§4, ECOSYSTEM §1.8).
 *
 * Shape: one tty (raw, non-blocking, an sd-event IO source, writes queued
 * and flushed on EPOLLOUT) and one command queue on it.  Exactly one
 * command is in flight at a time; it completes on its answer (a channel
 * response naming its id, the requested message, or the startup message
 * for a reset) or after CMD_TIMEOUT_US.  Start-up is a chain of such
 * commands: reset -> startup message -> capabilities -> network key ->
 * extended messages -> reception.  Reception is continuous scan mode
 * (0x5B, §3.5) on channel 0 by default, which hears every strap in range
 * with its channel ID; where the stick lacks scan mode or extended
 * messages, or [ant] mode = channels, one slave channel per strap
 * (wildcard pairing, then pinned to what it found, §3.2), up to the
 * stick's channel count.
 *
 * Straps (struct strap) are keyed by their 20-bit device number (DESIGN
 * §6) and live as long as the daemon, so a strap that comes back, or a
 * stick that is replugged, continues the same monitor device (and its
 * session, within idle_timeout_s).  Without an [ant] devices list, a
 * device number heard for the first time is untrusted radio input (DESIGN
 * §9.7): it becomes a strap only after CD_ANT_ADMIT_RUN valid heart-rate
 * broadcasts in a row (~1 s), and until then lives in a bounded table
 * (lib/ant-admit.h: at most [ant] max_unknown numbers, forgotten after
 * [ant] forget_after_s), so a transmitter cycling device numbers neither
 * grows memory nor /devices.  Straps once made are kept (as above).
 * Listed numbers skip the table.  Loss: a strap silent for
 * stale_after_s is "disconnected" here; the monitor makes it stale and
 * stops its dwell on its own.
 *
 * Every failure of the stick (HUP, read error, no answer to a reset)
 * closes the tty; auto mode then waits for a hotplug event (or rescans
 * every RESCAN_US), a path is retried with backoff.  A reopened stick is
 * initialised from scratch.  Garbage, bad checksums, truncated frames and
 * unknown messages are counted and skipped (the decoder resynchronises,
 * lib/ant-msg.c).  Heart rates are logged at debug level only.
 *
 * This file: channels (assignment, scan mode, set-up chains), straps
 * (receive, feed, admission), the object's life and its JSON.  The stick
 * itself (tty, framing, command queue, start-up, replug) is ant-stick.c.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <systemd/sd-device.h>

#include "ant-internal.h"
#include "cleanup.h"
#include "log.h"

static const char *const state_table[_ANT_STATE_MAX] = {
	[ANT_OFF] = "off",
	[ANT_WAITING] = "waiting",
	[ANT_INITIALISING] = "initialising",
	[ANT_RUNNING] = "running",
};

static void chan_start(struct chan *ch);
static void chan_plan(struct ant *a);

static uint64_t mono_us(struct ant *a)
{
	uint64_t now = 0;

	if (sd_event_now(a->event, CLOCK_MONOTONIC, &now) < 0)
		now = 0;
	return now;
}

void set_state(struct ant *a, enum ant_state s, const char *reason)
{
	a->state = s;
	snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
}

/* Straps ---------------------------------------------------------------- */

static const char *manufacturer_name(uint8_t id)
{
	/* A few ANT+ manufacturer ids (the FIT "manufacturer" table). */
	switch (id) {
	case 1:
		return "Garmin";
	case 13:
	case 15:
		return "Dynastream";
	case 23:
		return "Suunto";
	case 32:
		return "Wahoo Fitness";
	case 123:
		return "Polar";
	default:
		return NULL;
	}
}

static void strap_name(const struct strap *s, char *buf, size_t size)
{
	const char *maker = s->has_manufacturer ? manufacturer_name(s->manufacturer_id) : NULL;

	if (maker)
		snprintf(buf, size, "%s ANT+ HRM %" PRIu32, maker, s->number);
	else
		snprintf(buf, size, "ANT+ HRM %" PRIu32, s->number);
}

/* The strap's facts and counters to its monitor device (GET /devices "ant"); a struct copy. */
static void strap_publish(const struct strap *s)
{
	const char *maker = s->has_manufacturer ? manufacturer_name(s->manufacturer_id) : NULL;
	struct monitor_ant_info x = {
		.device_number = s->number,
		.device_type = s->id.device_type & 0x7F,
		.transmission_type = s->id.trans_type,
		.has_manufacturer = s->has_manufacturer,
		.manufacturer_id = s->manufacturer_id,
		.serial_number = (uint32_t)s->serial_upper << 16 | (s->number & 0xFFFF),
		.has_product = s->has_product,
		.model = s->model,
		.hw_version = s->hw_version,
		.sw_version = s->sw_version,
		.has_battery = s->has_battery,
		.battery_v = s->battery_v,
		.has_operating_time = s->has_operating_time,
		.operating_time_s = s->operating_time_s,
		.has_rssi = s->has_rssi,
		.rssi_dbm = s->rssi_dbm,
		.messages = s->n_messages,
		.missed_messages = s->n_missed,
		.beats = s->n_beats,
		.rr_intervals = s->n_rr,
		.gap_beats = s->n_gap_beats,
		.rx_fail = s->n_rx_fail,
	};

	snprintf(x.pages, sizeof(x.pages), "%s", cd_ant_hrm_mode_to_string(s->mode) ?: "unknown");
	snprintf(x.manufacturer, sizeof(x.manufacturer), "%s", maker ?: "");
	snprintf(x.battery_status, sizeof(x.battery_status), "%s",
		 cd_ant_battery_status_to_string(s->battery_status) ?: "invalid");
	monitor_device_set_ant(s->device, &x);
}

static struct strap *strap_find(struct ant *a, uint32_t number)
{
	for (struct strap *s = a->straps; s; s = s->next)
		if (s->number == number)
			return s;
	return NULL;
}

static int strap_get(struct ant *a, const struct cd_ant_channel_id *id, struct strap **ret)
{
	struct strap *s = strap_find(a, id->device_number);
	char did[32], name[64];
	int r;

	if (s) {
		*ret = s;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct strap){
		.ant = a,
		.number = id->device_number,
		.id = *id,
		.battery_pct = -1,
		.battery_v = NAN,
		.battery_status = CD_ANT_BATTERY_INVALID,
	};
	cd_ant_hrm_init(&s->hrm);
	snprintf(did, sizeof(did), "ant-%" PRIu32, s->number);
	strap_name(s, name, sizeof(name));
	r = monitor_device_add(a->monitor, did, name, CD_TRANSPORT_ANT, &s->device);
	if (r < 0) {
		free(s);
		return r;
	}
	strap_publish(s);
	s->next = a->straps;
	a->straps = s;
	log_info("ANT+ strap %s found (device type %u, transmission type 0x%02X).", did,
		 id->device_type & 0x7F, id->trans_type);
	*ret = s;
	return 0;
}

static bool pinned(const struct ant *a, uint32_t number)
{
	if (a->config->n_ant_devices == 0)
		return true;
	for (size_t i = 0; i < a->config->n_ant_devices; i++)
		if (a->config->ant_devices[i] == number)
			return true;
	return false;
}

static void strap_set_lost(struct strap *s)
{
	if (s->lost || !s->heard)
		return;
	s->lost = true;
	monitor_device_set_connected(s->device, false);
}

/* Every strap: the stick went away or was reinitialised (§4.4 step 6: start over). */
void straps_forget_link(struct ant *a)
{
	for (struct strap *s = a->straps; s; s = s->next) {
		strap_set_lost(s);
		cd_ant_hrm_reset(&s->hrm);
		s->heard = false;
	}
}

static int on_sweep(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct ant *a = userdata;
	double stale = a->config->engine.stale_after_s;
	uint64_t now = mono_us(a), after;
	size_t gone;
	bool live = false;

	(void)usec;
	after = stale > 0 && isfinite(stale) ? (uint64_t)(stale * 1e6) : 10 * USEC_PER_SEC;
	for (struct strap *s = a->straps; s; s = s->next) {
		if (s->heard && !s->lost && now - s->last_rx_mono_us >= after) {
			log_debug("ANT+ strap ant-%" PRIu32 " silent for %.0f s.", s->number,
				  (double)(now - s->last_rx_mono_us) / 1e6);
			strap_set_lost(s);
		}
		live = live || (s->heard && !s->lost);
	}
	/* §9.7: unlisted numbers that never became straps, silent for forget_after_s. */
	gone = cd_ant_admit_expire(&a->unknown, now);
	if (gone > 0)
		log_debug("ANT+: forgot %zu device number(s), never admitted, unseen for %g s.", gone,
			  a->config->ant_forget_after_s);
	live = live || a->unknown.n > 0;
	/* No wake-ups while nothing is heard; strap_feed()/unknown_hear() turn it on again. */
	(void)sd_event_source_set_time_relative(es, SWEEP_US);
	(void)sd_event_source_set_enabled(es, live ? SD_EVENT_ON : SD_EVENT_OFF);
	return 0;
}

static void sweep_on(struct ant *a)
{
	if (a->sweep && sd_event_source_get_enabled(a->sweep, NULL) == 0) {
		(void)sd_event_source_set_time_relative(a->sweep, SWEEP_US);
		(void)sd_event_source_set_enabled(a->sweep, SD_EVENT_ON);
	}
}

/* Pages 1, 2, 3 and 7, believed only when the strap is paged (§4.3). */
static void strap_pages(struct strap *s, const struct cd_ant_hrm_result *r)
{
	const struct cd_ant_hrm_page *p = &r->page;
	char name[64];

	if (!r->page_valid)
		return;
	switch (p->page) {
	case 1:
		s->has_operating_time = true;
		s->operating_time_s = p->operating_time_s;
		break;
	case 2:
		if (!s->has_manufacturer || s->manufacturer_id != p->manufacturer_id) {
			s->has_manufacturer = true;
			s->manufacturer_id = p->manufacturer_id;
			strap_name(s, name, sizeof(name));
			monitor_device_set_name(s->device, name);
		}
		s->serial_upper = p->serial_upper;
		break;
	case 3:
		s->has_product = true;
		s->hw_version = p->hw_version;
		s->sw_version = p->sw_version;
		s->model = p->model;
		break;
	case 7:
		s->has_battery = true;
		s->battery_pct = p->battery_pct;
		s->battery_v = p->battery_v;
		s->battery_status = p->battery_status;
		monitor_device_set_battery(s->device, p->battery_pct);
		break;
	default:
		break;
	}
}

/*
 * One broadcast from a strap: one sample (DESIGN §3 "Samples").  now is its
 * arrival on CLOCK_MONOTONIC, boot on CLOCK_BOOTTIME (the monitor's clock).
 */
static void strap_feed(struct ant *a, struct strap *s, const struct cd_ant_channel_id *id,
		       const struct cd_ant_data *d, uint64_t now, uint64_t boot)
{
	struct cd_ant_hrm_result r;
	struct cd_sample sample;
	double t = (double)now / 1e6;
	int k;

	if (s->heard && t - s->last_t < CD_ANT_HRM_RESET_S) {
		long slots = lround((t - s->last_t) / SLOT_S);

		if (slots > 1)
			s->n_missed += (uint64_t)(slots - 1);
	}
	if (s->lost) {
		s->lost = false;
		s->reconnects++;
		log_debug("ANT+ strap ant-%" PRIu32 " heard again.", s->number);
		monitor_device_set_counts(s->device, s->reconnects, 0);
	}
	s->heard = true;
	sweep_on(a);
	s->last_t = t;
	s->last_rx_mono_us = now;
	s->id = *id;
	s->n_messages++;
	if (d->ext & CD_ANT_EXT_RSSI) {
		s->has_rssi = true;
		s->rssi_dbm = d->rssi_dbm;
	}

	if (cd_ant_hrm_receive(&s->hrm, t, id, d->data, &r) < 0) {
		strap_publish(s);
		return;
	}
	s->mode = r.mode;
	s->n_beats += r.n_beats;
	s->n_rr += r.n_rr;
	s->n_gap_beats += r.n_gap_beats;
	strap_pages(s, &r);
	strap_publish(s);

	cd_ant_hrm_result_to_sample(&r, t, &sample);
	log_debug("ANT+ ant-%" PRIu32 ": page %u, %g bpm, %zu RR, %u beats.", s->number,
		  r.page.page, r.bpm, r.n_rr, r.n_beats);
	k = monitor_feed(a->monitor, s->device, &sample, boot);
	if (k < 0)
		log_debug_errno(k, "Sample of ant-%" PRIu32 " not recorded: %m", s->number);
}

/*
 * §9.7: a device number nobody listed, not a strap yet.  It is tracked in
 * a->unknown only (bounded by [ant] max_unknown, forgotten after [ant]
 * forget_after_s) until CD_ANT_ADMIT_RUN valid heart rates in a row
 * (30-240 bpm, ~1 s); then it becomes a strap and the held run is fed in
 * order with its arrival times, so no sample of a real strap is lost.  A
 * single spoofed or corrupted broadcast never makes a device.
 */
static void unknown_hear(struct ant *a, const struct cd_ant_channel_id *id,
			 const struct cd_ant_data *d, uint64_t now, uint64_t boot)
{
	struct cd_ant_admit_msg m = { .id = *id, .data = *d, .at_us = now, .at2_us = boot };
	struct cd_ant_admit_entry e;
	uint64_t forgotten = a->unknown.n_forgotten;
	uint32_t evicted;
	struct strap *s;
	int r;

	a->n.unadmitted++;
	sweep_on(a); /* forgets it after forget_after_s */
	r = cd_ant_admit_hear(&a->unknown, &m, &e, &evicted);
	if (a->unknown.n_forgotten > forgotten)
		log_debug("ANT+: forgot %" PRIu64 " device number(s), never admitted, unseen for %g s.",
			  a->unknown.n_forgotten - forgotten, a->config->ant_forget_after_s);
	if (evicted)
		log_debug("ANT+: forgetting device number %" PRIu32
			  ", never admitted, to make room (max_unknown %u).",
			  evicted, a->config->ant_max_unknown);
	if (r <= 0)
		return;
	a->n.unadmitted -= e.run; /* fed below after all */
	r = strap_get(a, id, &s);
	if (r < 0) {
		log_oom();
		return;
	}
	for (unsigned i = 0; i < e.run; i++)
		strap_feed(a, s, &e.held[i].id, &e.held[i].data, e.held[i].at_us,
			   e.held[i].at2_us);
}

/* One broadcast with its channel ID: a strap's, a candidate's (§9.7), or ignored. */
static void strap_receive(struct ant *a, const struct cd_ant_channel_id *id,
			  const struct cd_ant_data *d)
{
	uint64_t now = mono_us(a), boot = monitor_boot_us();
	struct strap *s;
	int k;

	if ((id->device_type & 0x7F) != CD_ANT_HRM_DEVICE_TYPE || id->device_number == 0) {
		a->n.ignored++;
		return;
	}
	s = strap_find(a, id->device_number);
	if (!s && a->config->n_ant_devices == 0) {
		unknown_hear(a, id, d, now, boot);
		return;
	}
	if (!s) {
		if (!pinned(a, id->device_number)) {
			a->n.ignored++;
			return;
		}
		k = strap_get(a, id, &s); /* listed: never bounded */
		if (k < 0) {
			log_oom();
			return;
		}
	}
	strap_feed(a, s, id, d, now, boot);
}

/* Channels -------------------------------------------------------------- */

static const char *chan_what(const struct chan *ch)
{
	return ch->scan ? "scan mode" : "channel";
}

void chan_reset(struct chan *ch)
{
	ch->state = CHAN_FREE;
	ch->gen++;
	ch->want = 0;
	ch->has_id = false;
	ch->id_requested = false;
	ch->duplicate = false;
	ch->backoff_s = 0;
	ch->scan = false;
	if (ch->timer)
		(void)sd_event_source_set_enabled(ch->timer, SD_EVENT_OFF);
}

static int on_chan_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct chan *ch = userdata;

	(void)s;
	(void)usec;
	if (ch->state != CHAN_WAIT)
		return 0;
	ch->ant->n.reopen++;
	chan_start(ch);
	return 0;
}

/* Closed, failed or duplicate: start again after the channel's backoff. */
static void chan_retry(struct chan *ch)
{
	struct ant *a = ch->ant;
	int r;

	cmd_cancel_channel(a, ch->number);
	ch->gen++;
	ch->state = CHAN_WAIT;
	ch->id_requested = false;
	ch->backoff_s = ch->backoff_s == 0 ? CHAN_BACKOFF_MIN_S
					   : MIN(ch->backoff_s * 2, CHAN_BACKOFF_MAX_S);
	if (!ch->timer) {
		r = sd_event_add_time_relative(a->event, &ch->timer, CLOCK_MONOTONIC,
					       ch->backoff_s * USEC_PER_SEC, 0, on_chan_timer, ch);
		if (r < 0) {
			log_warning_errno(r, "Cannot arm an ANT channel timer: %m");
			return;
		}
		(void)sd_event_source_set_description(ch->timer, "ant-channel");
	} else {
		(void)sd_event_source_set_time_relative(ch->timer, ch->backoff_s * USEC_PER_SEC);
	}
	(void)sd_event_source_set_enabled(ch->timer, SD_EVENT_ONESHOT);
	log_debug("ANT %s %u: reopening in %u s.", chan_what(ch), ch->number, ch->backoff_s);
}

static void chan_next(struct chan *ch);

static bool step_optional(enum chan_step s)
{
	return s == STEP_UNASSIGN;
}

static void on_chan_reply(struct ant *a, const struct cmd *c, int code, const struct cd_ant_msg *reply)
{
	struct chan *ch = &a->chan[c->channel];

	(void)reply;
	if (c->gen != ch->gen || ch->state != CHAN_SETUP)
		return;
	if (code != 0 && !step_optional(ch->step)) {
		if (ch->step == STEP_OPEN_SCAN) {
			/* §3.5: no scan mode after all; one channel per strap instead. */
			log_notice("ANT stick refused scan mode (%s); using one channel per strap.",
				   code < 0 ? "no answer" : cd_ant_code_to_string((uint8_t)code) ?: "error");
			a->scan = false;
			chan_reset(ch);
			chan_plan(a);
			return;
		}
		log_debug("ANT %s %u: step %d failed (%s).", chan_what(ch), ch->number, ch->step,
			  code < 0 ? "no answer" : cd_ant_code_to_string((uint8_t)code) ?: "?");
		chan_retry(ch);
		return;
	}
	if (ch->step == STEP_OPEN || ch->step == STEP_OPEN_SCAN) {
		ch->state = CHAN_OPEN;
		if (a->state != ANT_RUNNING) {
			set_state(a, ANT_RUNNING, NULL);
			log_info("ANT stick %s: receiving in %s.", a->path,
				 a->scan ? "continuous scan mode" : "channel mode");
		}
		log_debug("ANT %s %u open (device %" PRIu32 ").", chan_what(ch), ch->number, ch->want);
		if (!a->scan)
			chan_plan(a);
		return;
	}
	ch->step++;
	if (ch->scan && (ch->step == STEP_LP_TIMEOUT || ch->step == STEP_HP_TIMEOUT ||
			 ch->step == STEP_PERIOD))
		ch->step = STEP_RF;
	if (ch->scan && ch->step == STEP_OPEN)
		ch->step = STEP_OPEN_SCAN;
	chan_next(ch);
}

static void chan_next(struct chan *ch)
{
	struct ant *a = ch->ant;
	struct cd_ant_frame f;
	struct cd_ant_channel_id id = {
		/* §3.2: the low 16 bits travel; the transmission type stays a wildcard. */
		.device_number = ch->want & 0xFFFF,
		.device_type = CD_ANT_HRM_DEVICE_TYPE,
		.trans_type = 0,
	};
	uint8_t n = ch->number;
	int r = -EINVAL;

	switch (ch->step) {
	case STEP_UNASSIGN:
		r = cd_ant_build_unassign_channel(&f, n);
		break;
	case STEP_ASSIGN:
		r = cd_ant_build_assign_channel(&f, n, CD_ANT_CHANNEL_TYPE_SLAVE, DEFAULT_NETWORK);
		break;
	case STEP_ID:
		r = cd_ant_build_set_channel_id(&f, n, &id);
		break;
	case STEP_LP_TIMEOUT:
		r = cd_ant_build_set_lp_search_timeout(&f, n, LP_SEARCH_TIMEOUT);
		break;
	case STEP_HP_TIMEOUT:
		r = cd_ant_build_set_search_timeout(&f, n, CD_ANT_SEARCH_TIMEOUT_DISABLED);
		break;
	case STEP_PERIOD:
		r = cd_ant_build_set_channel_period(&f, n, CD_ANT_HRM_PERIOD);
		break;
	case STEP_RF:
		r = cd_ant_build_set_rf_frequency(&f, n, CD_ANT_HRM_RF_FREQUENCY);
		break;
	case STEP_OPEN:
		r = cd_ant_build_open_channel(&f, n);
		break;
	case STEP_OPEN_SCAN:
		/* AD16: [0x00], every packet (openant's [0, 1] would be sync-only). */
		r = cd_ant_build_open_rx_scan(&f, false);
		break;
	case STEP_DONE:
		return;
	}
	r = cmd_push(a, r, &f, n, CD_ANT_MSG_CHANNEL_EVENT, on_chan_reply, ch->gen);
	if (r < 0)
		log_warning_errno(r, "Cannot queue an ANT command: %m");
}

static void chan_start(struct chan *ch)
{
	ch->gen++;
	if (ch->gen == 0)
		ch->gen = 1; /* 0 marks stick-wide commands */
	ch->state = CHAN_SETUP;
	ch->step = STEP_UNASSIGN;
	ch->wildcard = ch->want == 0;
	ch->has_id = false;
	ch->id_requested = false;
	ch->duplicate = false;
	chan_next(ch);
}

static struct chan *chan_free_slot(struct ant *a)
{
	for (unsigned i = 0; i < a->n_channels; i++)
		if (a->chan[i].state == CHAN_FREE)
			return &a->chan[i];
	return NULL;
}

static bool number_has_channel(struct ant *a, uint32_t number)
{
	for (unsigned i = 0; i < a->n_channels; i++) {
		struct chan *ch = &a->chan[i];

		if (ch->state == CHAN_FREE)
			continue;
		if (ch->want == number || (ch->has_id && ch->id.device_number == number))
			return true;
	}
	return false;
}

/*
 * Channel mode (§3.5): with [ant] devices, one channel per listed strap;
 * otherwise one wildcard channel searching at any time, which, once it
 * has found a strap, keeps it (and is reopened pinned to it), while the
 * next free channel searches for the next strap.
 */
static void chan_plan(struct ant *a)
{
	struct chan *ch;

	if (a->fd < 0 || a->scan)
		return;
	if (a->config->n_ant_devices > 0) {
		for (size_t i = 0; i < a->config->n_ant_devices; i++) {
			uint32_t want = a->config->ant_devices[i];

			if (number_has_channel(a, want))
				continue;
			ch = chan_free_slot(a);
			if (!ch) {
				log_warning("ANT stick has %u channels: strap ant-%" PRIu32
					    " and later ones of [ant] devices are not heard.",
					    a->n_channels, want);
				return;
			}
			ch->want = want;
			chan_start(ch);
		}
		return;
	}
	for (unsigned i = 0; i < a->n_channels; i++) {
		ch = &a->chan[i];
		if (ch->state != CHAN_FREE && ch->want == 0 && !ch->has_id)
			return; /* one is searching already */
	}
	ch = chan_free_slot(a);
	if (!ch)
		return;
	ch->want = 0;
	chan_start(ch);
}

/*
 * The channel is closed on the stick (EVENT_CHANNEL_CLOSED, or a close it
 * refused because the channel was not open): reopen it after the backoff,
 * pinned to the strap it had found (§3.2 "wildcard, then pinned"), or, for
 * a duplicate, as a wildcard again.
 */
static void chan_closed(struct chan *ch)
{
	if (ch->duplicate) {
		ch->want = 0;
		ch->has_id = false;
	} else if (ch->has_id && !ch->scan)
		ch->want = ch->id.device_number;
	chan_retry(ch);
}

static void on_close_reply(struct ant *a, const struct cmd *c, int code,
			   const struct cd_ant_msg *reply)
{
	struct chan *ch = &a->chan[c->channel];

	(void)reply;
	if (c->gen == ch->gen && ch->state == CHAN_CLOSING && code != 0)
		chan_closed(ch); /* it was not open: no EVENT_CHANNEL_CLOSED will come */
}

static void chan_close(struct chan *ch)
{
	struct ant *a = ch->ant;
	struct cd_ant_frame f;
	int r;

	cmd_cancel_channel(a, ch->number);
	ch->gen++;
	ch->state = CHAN_CLOSING;
	r = cmd_push(a, cd_ant_build_close_channel(&f, ch->number), &f, ch->number,
		     CD_ANT_MSG_CHANNEL_EVENT, on_close_reply, ch->gen);
	if (r < 0)
		chan_retry(ch);
}

static void chan_identified(struct ant *a, struct chan *ch, const struct cd_ant_channel_id *id);

static void on_channel_id_reply(struct ant *a, const struct cmd *c, int code,
				const struct cd_ant_msg *reply)
{
	struct chan *ch = &a->chan[c->channel];
	struct cd_ant_channel_id id;
	uint8_t n;

	if (c->gen != ch->gen)
		return;
	ch->id_requested = false;
	if (code != 0 || !reply || cd_ant_parse_channel_id(reply, &n, &id) < 0 || n != ch->number ||
	    id.device_number == 0)
		return;
	chan_identified(a, ch, &id);
}

/* A channel's sender became known: pin it, or give up a duplicate. */
static void chan_identified(struct ant *a, struct chan *ch, const struct cd_ant_channel_id *id)
{
	bool first = !ch->has_id || ch->id.device_number != id->device_number;

	ch->has_id = true;
	ch->id = *id;
	if (!first || a->scan)
		return;
	for (unsigned i = 0; i < a->n_channels; i++) {
		struct chan *o = &a->chan[i];

		if (o != ch && o->state != CHAN_FREE && o->has_id &&
		    o->id.device_number == id->device_number) {
			/* Another channel has this strap: search again later. */
			log_debug("ANT channel %u found ant-%" PRIu32 " twice; searching again.",
				  ch->number, id->device_number);
			ch->duplicate = true;
			chan_close(ch);
			return;
		}
	}
	/* A channel still searching for this strap by number is not needed any more. */
	for (unsigned i = 0; i < a->n_channels; i++) {
		struct chan *o = &a->chan[i];

		if (o == ch || o->has_id || o->want != id->device_number)
			continue;
		if (o->state == CHAN_WAIT) {
			chan_reset(o);
		} else if (o->state == CHAN_SETUP || o->state == CHAN_OPEN) {
			o->duplicate = true;
			chan_close(o);
		}
	}
	if (ch->want == 0) {
		/* Wildcard pairing done: from now on this channel is that strap's. */
		ch->want = id->device_number;
		chan_plan(a);
	}
}

void on_data(struct ant *a, const struct cd_ant_msg *m)
{
	struct cd_ant_data d;
	struct cd_ant_channel_id id;
	struct chan *ch = NULL;
	struct cd_ant_frame f;

	if (cd_ant_parse_data(m, &d) < 0) {
		a->n.malformed++;
		return;
	}
	if (d.msg_id == CD_ANT_MSG_BURST_DATA || d.msg_id == CD_ANT_MSG_EXT_BURST_DATA) {
		a->n.ignored++; /* HRMs do not burst */
		return;
	}
	if (d.channel < a->n_channels)
		ch = &a->chan[d.channel];
	if (ch && ch->backoff_s && ch->state == CHAN_OPEN)
		ch->backoff_s = 0; /* a working channel: the next loss retries at once */

	if (d.ext & CD_ANT_EXT_CHANNEL_ID) {
		id = d.id;
		a->scan_identified++;
		if (ch && !a->scan && ch->state == CHAN_OPEN)
			chan_identified(a, ch, &id);
		if (ch && ch->state == CHAN_CLOSING)
			return;
	} else if (ch && !a->scan && ch->has_id) {
		id = ch->id;
	} else if (ch && !a->scan && !ch->wildcard && ch->want != 0 && ch->state == CHAN_OPEN) {
		/* Opened pinned ([ant] devices or after pairing): only that strap can be heard. */
		id = (struct cd_ant_channel_id){
			.device_number = ch->want,
			.device_type = CD_ANT_HRM_DEVICE_TYPE,
			.trans_type = (uint8_t)((ch->want >> 16) << 4),
		};
	} else {
		a->n.unidentified++;
		if (a->scan && ++a->scan_unidentified >= SCAN_UNIDENTIFIED_MAX && a->scan_identified == 0) {
			/* The stick does not tag scan-mode data after all: channels can ask. */
			log_notice("ANT stick %s sends scan-mode data without channel IDs; "
				   "re-initialising it with one channel per strap.", a->path);
			a->force_channels = true;
			stick_init(a);
			return;
		}
		if (ch && !a->scan && ch->state == CHAN_OPEN && !ch->id_requested) {
			/* §3.2: learn the paired device with Request Message (ch, 0x51), as GC does. */
			ch->id_requested = true;
			if (cmd_push(a, cd_ant_build_request(&f, ch->number, CD_ANT_MSG_CHANNEL_ID), &f,
				     ch->number, CD_ANT_MSG_CHANNEL_ID, on_channel_id_reply, ch->gen) < 0)
				ch->id_requested = false;
		}
		return;
	}
	strap_receive(a, &id, &d);
}

static struct strap *strap_of_channel(struct ant *a, const struct chan *ch)
{
	if (a->scan || !ch->has_id)
		return NULL;
	return strap_find(a, ch->id.device_number);
}

void on_rf_event(struct ant *a, const struct cd_ant_channel_event *e)
{
	struct chan *ch = e->channel < a->n_channels ? &a->chan[e->channel] : NULL;
	struct strap *s = ch ? strap_of_channel(a, ch) : NULL;

	switch (e->code) {
	case CD_ANT_EVENT_RX_FAIL:
		/* §4.5: a missed slot; link quality only. */
		a->n.rx_fail++;
		if (s) {
			s->n_rx_fail++;
			strap_publish(s);
		}
		break;
	case CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH:
		a->n.rx_fail_go_to_search++;
		/* A channel paired by wildcard would pair with anyone now: pin it. */
		if (ch && !a->scan && ch->state == CHAN_OPEN && ch->has_id && ch->wildcard)
			chan_close(ch);
		break;
	case CD_ANT_EVENT_RX_SEARCH_TIMEOUT:
		a->n.search_timeout++;
		break;
	case CD_ANT_EVENT_CHANNEL_CLOSED:
		a->n.channel_closed++;
		if (!ch || ch->state == CHAN_FREE || ch->state == CHAN_SETUP || ch->state == CHAN_WAIT)
			break;
		if (ch->state == CHAN_OPEN)
			log_debug("ANT %s %u closed by the stick.", chan_what(ch), ch->number);
		chan_closed(ch);
		break;
	case CD_ANT_EVENT_SERIAL_QUE_OVERFLOW:
	case CD_ANT_EVENT_QUE_OVERFLOW:
		a->n.overflow++;
		break;
	default:
		break;
	}
}

void start_reception(struct ant *a)
{
	bool scan_ok = !a->have_caps || (a->caps.advanced_options2 & CD_ANT_CAP_ADV2_SCAN_MODE);

	a->n_channels = a->have_caps && a->caps.max_channels > 0
				? MIN((unsigned)a->caps.max_channels, MAX_CHANNELS)
				: DEFAULT_CHANNELS;
	for (unsigned i = 0; i < MAX_CHANNELS; i++)
		chan_reset(&a->chan[i]);
	a->scan = !a->config->ant_channels && !a->force_channels && scan_ok && a->ext;
	if (!a->config->ant_channels && !a->force_channels && !a->scan)
		log_notice("ANT stick %s: %s; using one channel per strap (at most %u).", a->path,
			   !scan_ok ? "no scan mode" : "no extended messages", a->n_channels);
	if (a->scan) {
		a->chan[0].scan = true;
		chan_start(&a->chan[0]);
	} else
		chan_plan(a);
}

/* Public ---------------------------------------------------------------- */

int ant_new(sd_event *event, struct monitor *m, const struct cd_config *c, struct ant **ret)
{
	_cleanup_(ant_freep) struct ant *a = NULL;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	*a = (struct ant){
		.event = sd_event_ref(event),
		.monitor = m,
		.config = c,
		.fd = -EBADF,
		.n_channels = DEFAULT_CHANNELS,
	};
	for (unsigned i = 0; i < MAX_CHANNELS; i++)
		a->chan[i] = (struct chan){ .ant = a, .number = (uint8_t)i };
	r = cd_ant_admit_init(&a->unknown, c->ant_max_unknown,
			      (uint64_t)(c->ant_forget_after_s * USEC_PER_SEC));
	if (r < 0)
		return r;
	a->auto_find = !c->ant_device || strcmp(c->ant_device, "auto") == 0;
	if (!a->auto_find) {
		a->path = strdup(c->ant_device);
		if (!a->path)
			return -ENOMEM;
	}

	r = load_key(a);
	if (r < 0) {
		/* One clear line; /healthz carries the same reason. */
		log_warning("ANT+ is off: %s.", a->reason);
		*ret = TAKE_PTR(a);
		return 0;
	}

	r = sd_event_add_time_relative(event, &a->cmd_timer, CLOCK_MONOTONIC, CMD_TIMEOUT_US, 0,
				       on_cmd_timeout, a);
	if (r < 0)
		return r;
	(void)sd_event_source_set_enabled(a->cmd_timer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(a->cmd_timer, "ant-command");
	r = sd_event_add_time_relative(event, &a->sweep, CLOCK_MONOTONIC, SWEEP_US, 0, on_sweep, a);
	if (r < 0)
		return r;
	(void)sd_event_source_set_enabled(a->sweep, SD_EVENT_OFF);
	(void)sd_event_source_set_description(a->sweep, "ant-sweep");

	r = hotplug_start(a);
	if (r < 0) {
		log_debug_errno(r, "No udev events for ANT hotplug (%m); polling instead.");
		a->hotplug = sd_device_monitor_unref(a->hotplug);
	}

	set_state(a, ANT_WAITING, a->auto_find ? "looking for an ANT USB stick" : "opening the stick");
	if (stick_open(a) < 0 && a->fd < 0) {
		if (a->auto_find)
			log_info("ANT+: no ANT USB stick found yet; waiting for one.");
		stick_schedule(a, 0);
	}
	*ret = TAKE_PTR(a);
	return 0;
}

struct ant *ant_free(struct ant *a)
{
	if (!a)
		return NULL;
	if (a->fd >= 0 && a->state == ANT_RUNNING) {
		/* GC closes every channel before it lets go, so the stick answers the next open. */
		struct cd_ant_frame f;

		for (unsigned i = 0; i < a->n_channels; i++)
			if (a->chan[i].state == CHAN_OPEN &&
			    cd_ant_build_close_channel(&f, (uint8_t)i) == 0)
				(void)!write(a->fd, f.data, f.size);
	}
	cmd_free_all(a);
	for (unsigned i = 0; i < MAX_CHANNELS; i++)
		a->chan[i].timer = sd_event_source_disable_unref(a->chan[i].timer);
	a->io = sd_event_source_disable_unref(a->io);
	a->retry = sd_event_source_disable_unref(a->retry);
	a->cmd_timer = sd_event_source_disable_unref(a->cmd_timer);
	a->sweep = sd_event_source_disable_unref(a->sweep);
	a->hotplug = sd_device_monitor_unref(a->hotplug);
	if (a->fd >= 0)
		close(a->fd);
	while (a->straps) {
		struct strap *s = a->straps;

		a->straps = s->next;
		free(s);
	}
	cd_ant_admit_done(&a->unknown);
	free(a->path);
	explicit_bzero(a->key, sizeof(a->key));
	sd_event_unref(a->event);
	free(a);
	return NULL;
}

static bool add_u64(cJSON *o, const char *name, uint64_t v)
{
	return cJSON_AddNumberToObject(o, name, (double)v) != NULL;
}

int ant_health_json(struct ant *a, cJSON *o)
{
	cJSON *x, *n;

	x = cJSON_AddObjectToObject(o, "ant");
	if (!x)
		return -ENOMEM;
	if (!cJSON_AddStringToObject(x, "state", state_table[a->state]) ||
	    !(a->reason[0] ? cJSON_AddStringToObject(x, "reason", a->reason)
			   : cJSON_AddNullToObject(x, "reason")) ||
	    !(a->path ? cJSON_AddStringToObject(x, "device", a->path)
		      : cJSON_AddNullToObject(x, "device")) ||
	    !(a->usb_id[0] ? cJSON_AddStringToObject(x, "usb_id", a->usb_id)
			   : cJSON_AddNullToObject(x, "usb_id")) ||
	    !(a->state == ANT_RUNNING
		      ? cJSON_AddStringToObject(x, "reception", a->scan ? "scan" : "channels")
		      : cJSON_AddNullToObject(x, "reception")) ||
	    !(a->have_caps ? cJSON_AddNumberToObject(x, "max_channels", a->caps.max_channels)
			   : cJSON_AddNullToObject(x, "max_channels")) ||
	    !add_u64(x, "unknown_tracked", a->unknown.n))
		return -ENOMEM;
	n = cJSON_AddObjectToObject(x, "counters");
	if (!n || !add_u64(n, "frames", a->n.frames) ||
	    !add_u64(n, "bytes_skipped", a->n.bytes_skipped) ||
	    !add_u64(n, "bad_checksum", a->n.bad_checksum) || !add_u64(n, "unknown", a->n.unknown) ||
	    !add_u64(n, "malformed", a->n.malformed) ||
	    !add_u64(n, "unidentified", a->n.unidentified) || !add_u64(n, "ignored", a->n.ignored) ||
	    !add_u64(n, "unadmitted", a->n.unadmitted) ||
	    !add_u64(n, "unknown_admitted", a->unknown.n_admitted) ||
	    !add_u64(n, "unknown_forgotten", a->unknown.n_evicted + a->unknown.n_forgotten) ||
	    !add_u64(n, "rx_fail", a->n.rx_fail) ||
	    !add_u64(n, "rx_fail_go_to_search", a->n.rx_fail_go_to_search) ||
	    !add_u64(n, "search_timeout", a->n.search_timeout) ||
	    !add_u64(n, "channel_closed", a->n.channel_closed) || !add_u64(n, "reopen", a->n.reopen) ||
	    !add_u64(n, "command_errors", a->n.command_errors) ||
	    !add_u64(n, "timeouts", a->n.timeouts) || !add_u64(n, "overflow", a->n.overflow) ||
	    !add_u64(n, "serial_errors", a->n.serial_errors) || !add_u64(n, "resets", a->n.resets) ||
	    !add_u64(n, "opened", a->n.opened) || !add_u64(n, "lost", a->n.lost))
		return -ENOMEM;
	return 0;
}
