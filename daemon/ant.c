/* SPDX-License-Identifier: MIT */
/*
 * ANT+ straps through a USB ANT stick (PROTOCOLS §3-§4, ECOSYSTEM §1.8).
 *
 * Shape: one tty (raw, non-blocking, an sd-event IO source, writes queued
 * and flushed on EPOLLOUT) and one command queue on it.  Exactly one
 * command is in flight at a time; it completes on its answer (a channel
 * response naming its id, the requested message, or the startup message
 * for a reset) or after ANT_CMD_TIMEOUT_US.  Start-up is a chain of such
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
 * This file: straps (receive, feed, admission), the glue of the channels
 * (logs and state from what they report, the choice of scan mode), the
 * object's life and its JSON.  The command queue and the channels
 * themselves (set-up chains, pairing and pinning, reopen backoff, the
 * timeouts) are pure code in ant-channels.c; the stick (tty, framing,
 * start-up, replug, the queue's transmit and timer) is ant-stick.c.
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

static const char *chan_what(bool scan)
{
	return scan ? "scan mode" : "channel";
}

static const char *code_what(int code, const char *unknown)
{
	return code < 0 ? "no answer" : cd_ant_code_to_string((uint8_t)code) ?: unknown;
}

/* ops->event: what the channels did, for the logs and the state. */
static void on_channels_event(void *userdata, const struct ant_channels_event *e)
{
	struct ant *a = userdata;

	switch (e->type) {
	case ANT_EVENT_TIMEOUT:
		log_debug("ANT stick: no answer to message 0x%02X (%s).", e->msg_id,
			  cd_ant_msg_id_to_string(e->msg_id) ?: "?");
		break;
	case ANT_EVENT_OPENED:
		if (a->state != ANT_RUNNING) {
			set_state(a, ANT_RUNNING, NULL);
			log_info("ANT stick %s: receiving in %s.", a->path,
				 a->chans.scan ? "continuous scan mode" : "channel mode");
		}
		log_debug("ANT %s %u open (device %" PRIu32 ").", chan_what(e->scan), e->channel,
			  e->device_number);
		break;
	case ANT_EVENT_STEP_FAILED:
		log_debug("ANT %s %u: step %d failed (%s).", chan_what(e->scan), e->channel,
			  e->step, code_what(e->code, "?"));
		break;
	case ANT_EVENT_RETRY:
		log_debug("ANT %s %u: reopening in %u s.", chan_what(e->scan), e->channel,
			  e->backoff_s);
		break;
	case ANT_EVENT_SCAN_REFUSED:
		log_notice("ANT stick refused scan mode (%s); using one channel per strap.",
			   code_what(e->code, "error"));
		break;
	case ANT_EVENT_IDENTIFIED:
		break; /* pairing a channel is routine: nothing to log */
	case ANT_EVENT_DUPLICATE:
		log_debug("ANT channel %u found ant-%" PRIu32 " twice; searching again.",
			  e->channel, e->device_number);
		break;
	case ANT_EVENT_CLOSED:
		if (e->unasked)
			log_debug("ANT %s %u closed by the stick.", chan_what(e->scan), e->channel);
		break;
	case ANT_EVENT_NO_CHANNEL:
		log_warning("ANT stick has %u channels: strap ant-%" PRIu32
			    " and later ones of [ant] devices are not heard.",
			    e->n_channels, e->device_number);
		break;
	case ANT_EVENT_QUEUE_FAILED:
		log_warning_errno(e->code, "Cannot queue an ANT command: %m");
		break;
	}
}

static uint64_t channels_now(void *userdata)
{
	return mono_us(userdata);
}

static const struct ant_channels_ops channels_ops = {
	.transmit = stick_transmit,
	.now = channels_now,
	.event = on_channels_event,
};

void on_data(struct ant *a, const struct cd_ant_msg *m)
{
	struct cd_ant_data d;
	struct cd_ant_channel_id id;

	if (cd_ant_parse_data(m, &d) < 0) {
		a->n.malformed++;
		return;
	}
	if (d.msg_id == CD_ANT_MSG_BURST_DATA || d.msg_id == CD_ANT_MSG_EXT_BURST_DATA) {
		a->n.ignored++; /* HRMs do not burst */
		return;
	}
	if (d.ext & CD_ANT_EXT_CHANNEL_ID)
		a->scan_identified++;
	switch (ant_channels_data(&a->chans, &d, &id)) {
	case ANT_SENDER_KNOWN:
		strap_receive(a, &id, &d);
		return;
	case ANT_SENDER_IGNORE:
		return;
	case ANT_SENDER_UNKNOWN:
		break;
	}
	a->n.unidentified++;
	if (a->chans.scan && ++a->scan_unidentified >= SCAN_UNIDENTIFIED_MAX &&
	    a->scan_identified == 0) {
		/* The stick does not tag scan-mode data after all: channels can ask. */
		log_notice("ANT stick %s sends scan-mode data without channel IDs; "
			   "re-initialising it with one channel per strap.", a->path);
		a->force_channels = true;
		stick_init(a);
	}
}

static struct strap *strap_of_channel(struct ant *a, const struct ant_chan *ch)
{
	if (a->chans.scan || !ch->has_id)
		return NULL;
	return strap_find(a, ch->id.device_number);
}

void on_rf_event(struct ant *a, const struct cd_ant_channel_event *e)
{
	const struct ant_chan *ch = ant_channels_get(&a->chans, e->channel);
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
		break;
	case CD_ANT_EVENT_RX_SEARCH_TIMEOUT:
		a->n.search_timeout++;
		break;
	case CD_ANT_EVENT_CHANNEL_CLOSED:
		a->n.channel_closed++;
		break;
	case CD_ANT_EVENT_SERIAL_QUE_OVERFLOW:
	case CD_ANT_EVENT_QUE_OVERFLOW:
		a->n.overflow++;
		break;
	default:
		break;
	}
	/* Go-to-search closes a channel paired by wildcard; channel-closed reopens it. */
	ant_channels_rf_event(&a->chans, e);
}

/* Extended messages on: scan mode where the stick has it and [ant] mode allows (§3.5). */
void start_reception(struct ant *a)
{
	bool scan_ok = !a->have_caps || (a->caps.advanced_options2 & CD_ANT_CAP_ADV2_SCAN_MODE);
	unsigned n = a->have_caps && a->caps.max_channels > 0
			     ? MIN((unsigned)a->caps.max_channels, ANT_CHANNELS_MAX)
			     : ANT_CHANNELS_DEFAULT;
	bool scan = !a->config->ant_channels && !a->force_channels && scan_ok && a->ext;

	if (!a->config->ant_channels && !a->force_channels && !scan)
		log_notice("ANT stick %s: %s; using one channel per strap (at most %u).", a->path,
			   !scan_ok ? "no scan mode" : "no extended messages", n);
	ant_channels_start(&a->chans, n, scan);
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
	};
	ant_channels_init(&a->chans, &channels_ops, a, c->ant_devices, c->n_ant_devices);
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

	r = sd_event_add_time(event, &a->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_channels_timer,
			      a);
	if (r < 0)
		return r;
	(void)sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(a->timer, "ant-channels");
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

		for (unsigned i = 0; i < a->chans.n_channels; i++)
			if (a->chans.chan[i].state == ANT_CHAN_OPEN &&
			    cd_ant_build_close_channel(&f, (uint8_t)i) == 0)
				(void)!write(a->fd, f.data, f.size);
	}
	ant_channels_done(&a->chans);
	a->io = sd_event_source_disable_unref(a->io);
	a->retry = sd_event_source_disable_unref(a->retry);
	a->timer = sd_event_source_disable_unref(a->timer);
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
		      ? cJSON_AddStringToObject(x, "reception", a->chans.scan ? "scan" : "channels")
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
	    !add_u64(n, "channel_closed", a->n.channel_closed) ||
	    !add_u64(n, "reopen", a->chans.n_reopen) ||
	    !add_u64(n, "command_errors", a->chans.n_command_errors) ||
	    !add_u64(n, "timeouts", a->chans.n_timeouts) ||
	    !add_u64(n, "overflow", a->n.overflow) ||
	    !add_u64(n, "serial_errors", a->n.serial_errors) || !add_u64(n, "resets", a->n.resets) ||
	    !add_u64(n, "opened", a->n.opened) || !add_u64(n, "lost", a->n.lost))
		return -ENOMEM;
	return 0;
}
