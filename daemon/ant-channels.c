/* SPDX-License-Identifier: MIT */
/*
 * The ANT command queue and channel state machine (see ant-channels.h).
 * Pure: every effect goes through m->ops, so tests drive it with scripted
 * answers and a fake clock (tests/unit-daemon/test-ant-channels.c).
 *
 * Re-entrancy: transmit() and a stick-wide command's callback may reset
 * the machine (the glue closes or reinitialises the stick).  So a command
 * is unlinked from the queue before its answer is handled, and nothing is
 * touched after a failed transmit().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ant-channels.h"
#include "ant-hrm.h"

/* Who hears a command's answer. */
enum ant_cmd_kind {
	ANT_CMD_STICK,	    /* stick-wide: cb */
	ANT_CMD_STEP,	    /* a channel's set-up step: on_step_reply() */
	ANT_CMD_CLOSE,	    /* on_close_reply() */
	ANT_CMD_CHANNEL_ID, /* Request Message (ch, 0x51): on_channel_id_reply() */
};

struct ant_cmd {
	struct cd_ant_frame frame;
	uint8_t id;	  /* message id sent */
	uint8_t channel;  /* for matching the channel response */
	uint8_t reply_id; /* CD_ANT_MSG_CHANNEL_EVENT, the requested id, or CD_ANT_MSG_STARTUP */
	enum ant_cmd_kind kind;
	ant_cmd_cb cb;	      /* ANT_CMD_STICK */
	unsigned gen;	      /* the channel's generation when queued */
	struct ant_cmd *next; /* ant_channels::queue */
};

static uint64_t now_us(struct ant_channels *m)
{
	return m->ops->now(m->userdata);
}

static void emit(struct ant_channels *m, const struct ant_channels_event *e)
{
	if (m->ops->event)
		m->ops->event(m->userdata, e);
}

static void chan_plan(struct ant_channels *m);
static void chan_next(struct ant_channels *m, struct ant_chan *ch);

/* Command queue --------------------------------------------------------- */

static void cmd_free(struct ant_cmd *c)
{
	explicit_bzero(c, sizeof(*c)); /* one of them may carry the key */
	free(c);
}

static void cmd_free_all(struct ant_channels *m)
{
	while (m->queue) {
		struct ant_cmd *c = m->queue;

		m->queue = c->next;
		cmd_free(c);
	}
	m->cmd_sent = false;
}

/* Write the head of the queue when nothing is in flight. */
static void cmd_kick(struct ant_channels *m)
{
	struct ant_cmd *c = m->queue;

	if (m->cmd_sent || !c || !m->online)
		return;
	if (m->ops->transmit(m->userdata, c->frame.data, c->frame.size) < 0)
		return; /* the stick is gone; the glue resets us (perhaps already has) */
	m->cmd_sent = true;
	m->cmd_deadline_us = now_us(m) + ANT_CMD_TIMEOUT_US;
}

static int cmd_push(struct ant_channels *m, int r, const struct cd_ant_frame *f, uint8_t channel,
		    uint8_t reply_id, enum ant_cmd_kind kind, ant_cmd_cb cb, unsigned gen)
{
	struct ant_cmd *c, **p;

	if (r < 0)
		return r; /* a builder refused: a bug here, reported by the caller */
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct ant_cmd){
		.frame = *f,
		.id = f->data[2],
		.channel = channel,
		.reply_id = reply_id,
		.kind = kind,
		.cb = cb,
		.gen = gen,
	};
	for (p = &m->queue; *p; p = &(*p)->next)
		;
	*p = c;
	cmd_kick(m);
	return 0;
}

/* Drop the queued (not yet sent) commands of one channel. */
static void cmd_cancel_channel(struct ant_channels *m, uint8_t channel)
{
	struct ant_cmd **p = &m->queue;

	if (*p && m->cmd_sent)
		p = &(*p)->next;
	while (*p) {
		struct ant_cmd *c = *p;

		if (c->channel == channel && c->kind != ANT_CMD_STICK) {
			*p = c->next;
			cmd_free(c);
		} else
			p = &c->next;
	}
}

static void on_step_reply(struct ant_channels *m, const struct ant_cmd *c, int code);
static void on_close_reply(struct ant_channels *m, const struct ant_cmd *c, int code);
static void on_channel_id_reply(struct ant_channels *m, const struct ant_cmd *c, int code,
				const struct cd_ant_msg *reply);

/* The command in flight is answered (code 0 or an error code) or timed out (-ETIMEDOUT). */
static void cmd_complete(struct ant_channels *m, int code, const struct cd_ant_msg *reply)
{
	struct ant_cmd *c = m->queue;

	if (!c || !m->cmd_sent)
		return;
	m->queue = c->next;
	m->cmd_sent = false;
	if (code > 0)
		m->n_command_errors++;
	switch (c->kind) {
	case ANT_CMD_STICK:
		if (c->cb)
			c->cb(m->userdata, code, reply);
		break;
	case ANT_CMD_STEP:
		on_step_reply(m, c, code);
		break;
	case ANT_CMD_CLOSE:
		on_close_reply(m, c, code);
		break;
	case ANT_CMD_CHANNEL_ID:
		on_channel_id_reply(m, c, code, reply);
		break;
	}
	cmd_free(c);
	cmd_kick(m);
}

/*
 * §3.2: these carry no channel in byte 0 (the network number, a filler),
 * so their response names whatever byte 0 was.
 */
static bool stick_wide_response(uint8_t id)
{
	return id == CD_ANT_MSG_NETWORK_KEY || id == CD_ANT_MSG_LIB_CONFIG ||
	       id == CD_ANT_MSG_ENABLE_EXT_RX || id == CD_ANT_MSG_OPEN_RX_SCAN;
}

bool ant_channels_answer(struct ant_channels *m, const struct cd_ant_msg *msg)
{
	struct ant_cmd *c = m->cmd_sent ? m->queue : NULL;
	struct cd_ant_channel_event e;

	if (!c)
		return false;
	if (msg->id == CD_ANT_MSG_CHANNEL_EVENT) {
		/* A response to the command in flight (a request answers an error this way). */
		if (cd_ant_parse_channel_event(msg, &e) < 0 || cd_ant_channel_event_is_rf(&e) ||
		    e.msg_id != c->id || (e.channel != c->channel && !stick_wide_response(c->id)))
			return false;
		cmd_complete(m, e.code, msg);
		return true;
	}
	if (msg->id != c->reply_id)
		return false;
	cmd_complete(m, 0, msg);
	return true;
}

int ant_channels_command(struct ant_channels *m, int r, const struct cd_ant_frame *f,
			 uint8_t reply_id, ant_cmd_cb cb)
{
	return cmd_push(m, r, f, 0, reply_id, ANT_CMD_STICK, cb, 0);
}

/* Channels -------------------------------------------------------------- */

static void chan_reset(struct ant_chan *ch)
{
	ch->state = ANT_CHAN_FREE;
	ch->gen++;
	ch->want = 0;
	ch->has_id = false;
	ch->id_requested = false;
	ch->duplicate = false;
	ch->backoff_s = 0;
	ch->scan = false;
}

/* Closed, failed or duplicate: start again after the channel's backoff. */
static void chan_retry(struct ant_channels *m, struct ant_chan *ch)
{
	cmd_cancel_channel(m, ch->number);
	ch->gen++;
	ch->state = ANT_CHAN_WAIT;
	ch->id_requested = false;
	if (ch->backoff_s == 0)
		ch->backoff_s = ANT_CHAN_BACKOFF_MIN_S;
	else if (ch->backoff_s * 2 < ANT_CHAN_BACKOFF_MAX_S)
		ch->backoff_s *= 2;
	else
		ch->backoff_s = ANT_CHAN_BACKOFF_MAX_S;
	ch->reopen_at_us = now_us(m) + ch->backoff_s * USEC_PER_SEC;
	emit(m, &(struct ant_channels_event){
			.type = ANT_EVENT_RETRY,
			.channel = ch->number,
			.scan = ch->scan,
			.backoff_s = ch->backoff_s,
		});
}

static void chan_start(struct ant_channels *m, struct ant_chan *ch)
{
	ch->gen++;
	ch->state = ANT_CHAN_SETUP;
	ch->step = ANT_STEP_UNASSIGN;
	ch->wildcard = ch->want == 0;
	ch->has_id = false;
	ch->id_requested = false;
	ch->duplicate = false;
	chan_next(m, ch);
}

static bool step_optional(enum ant_step s)
{
	return s == ANT_STEP_UNASSIGN;
}

static void on_step_reply(struct ant_channels *m, const struct ant_cmd *c, int code)
{
	struct ant_chan *ch = &m->chan[c->channel];

	if (c->gen != ch->gen || ch->state != ANT_CHAN_SETUP)
		return;
	if (code != 0 && !step_optional(ch->step)) {
		if (ch->step == ANT_STEP_OPEN_SCAN) {
			/* §3.5: no scan mode after all; one channel per strap instead. */
			emit(m, &(struct ant_channels_event){
					.type = ANT_EVENT_SCAN_REFUSED,
					.channel = ch->number,
					.scan = true,
					.code = code,
				});
			m->scan = false;
			chan_reset(ch);
			chan_plan(m);
			return;
		}
		emit(m, &(struct ant_channels_event){
				.type = ANT_EVENT_STEP_FAILED,
				.channel = ch->number,
				.scan = ch->scan,
				.step = ch->step,
				.code = code,
			});
		chan_retry(m, ch);
		return;
	}
	if (ch->step == ANT_STEP_OPEN || ch->step == ANT_STEP_OPEN_SCAN) {
		ch->state = ANT_CHAN_OPEN;
		emit(m, &(struct ant_channels_event){
				.type = ANT_EVENT_OPENED,
				.channel = ch->number,
				.scan = ch->scan,
				.device_number = ch->want,
			});
		if (!m->scan)
			chan_plan(m);
		return;
	}
	ch->step++;
	/* Scan mode (§3.5) has no period or search: the radio listens all the time. */
	if (ch->scan && (ch->step == ANT_STEP_LP_TIMEOUT || ch->step == ANT_STEP_HP_TIMEOUT ||
			 ch->step == ANT_STEP_PERIOD))
		ch->step = ANT_STEP_RF;
	if (ch->scan && ch->step == ANT_STEP_OPEN)
		ch->step = ANT_STEP_OPEN_SCAN;
	chan_next(m, ch);
}

/* Queue the command of the channel's current step. */
static void chan_next(struct ant_channels *m, struct ant_chan *ch)
{
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
	case ANT_STEP_UNASSIGN:
		r = cd_ant_build_unassign_channel(&f, n);
		break;
	case ANT_STEP_ASSIGN:
		r = cd_ant_build_assign_channel(&f, n, CD_ANT_CHANNEL_TYPE_SLAVE, ANT_NETWORK);
		break;
	case ANT_STEP_ID:
		r = cd_ant_build_set_channel_id(&f, n, &id);
		break;
	case ANT_STEP_LP_TIMEOUT:
		r = cd_ant_build_set_lp_search_timeout(&f, n, ANT_LP_SEARCH_TIMEOUT);
		break;
	case ANT_STEP_HP_TIMEOUT:
		r = cd_ant_build_set_search_timeout(&f, n, CD_ANT_SEARCH_TIMEOUT_DISABLED);
		break;
	case ANT_STEP_PERIOD:
		r = cd_ant_build_set_channel_period(&f, n, CD_ANT_HRM_PERIOD);
		break;
	case ANT_STEP_RF:
		r = cd_ant_build_set_rf_frequency(&f, n, CD_ANT_HRM_RF_FREQUENCY);
		break;
	case ANT_STEP_OPEN:
		r = cd_ant_build_open_channel(&f, n);
		break;
	case ANT_STEP_OPEN_SCAN:
		/* AD16: [0x00], every packet (openant's [0, 1] would be sync-only). */
		r = cd_ant_build_open_rx_scan(&f, false);
		break;
	case ANT_STEP_DONE:
		return;
	}
	r = cmd_push(m, r, &f, n, CD_ANT_MSG_CHANNEL_EVENT, ANT_CMD_STEP, NULL, ch->gen);
	if (r < 0)
		emit(m, &(struct ant_channels_event){
				.type = ANT_EVENT_QUEUE_FAILED,
				.channel = n,
				.scan = ch->scan,
				.code = r,
			});
}

static struct ant_chan *chan_free_slot(struct ant_channels *m)
{
	for (unsigned i = 0; i < m->n_channels; i++)
		if (m->chan[i].state == ANT_CHAN_FREE)
			return &m->chan[i];
	return NULL;
}

static bool number_has_channel(const struct ant_channels *m, uint32_t number)
{
	for (unsigned i = 0; i < m->n_channels; i++) {
		const struct ant_chan *ch = &m->chan[i];

		if (ch->state == ANT_CHAN_FREE)
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
static void chan_plan(struct ant_channels *m)
{
	struct ant_chan *ch;

	if (!m->online || m->scan)
		return;
	if (m->n_devices > 0) {
		for (size_t i = 0; i < m->n_devices; i++) {
			uint32_t want = m->devices[i];

			if (number_has_channel(m, want))
				continue;
			ch = chan_free_slot(m);
			if (!ch) {
				emit(m, &(struct ant_channels_event){
						.type = ANT_EVENT_NO_CHANNEL,
						.device_number = want,
						.n_channels = m->n_channels,
					});
				return;
			}
			ch->want = want;
			chan_start(m, ch);
		}
		return;
	}
	for (unsigned i = 0; i < m->n_channels; i++) {
		ch = &m->chan[i];
		if (ch->state != ANT_CHAN_FREE && ch->want == 0 && !ch->has_id)
			return; /* one is searching already */
	}
	ch = chan_free_slot(m);
	if (!ch)
		return;
	ch->want = 0;
	chan_start(m, ch);
}

/*
 * The channel is closed on the stick (EVENT_CHANNEL_CLOSED, or a close it
 * refused because the channel was not open): reopen it after the backoff,
 * pinned to the strap it had found (§3.2 "wildcard, then pinned"), or, for
 * a duplicate, as a wildcard again.
 */
static void chan_closed(struct ant_channels *m, struct ant_chan *ch)
{
	emit(m, &(struct ant_channels_event){
			.type = ANT_EVENT_CLOSED,
			.channel = ch->number,
			.scan = ch->scan,
			.unasked = ch->state == ANT_CHAN_OPEN,
		});
	if (ch->duplicate) {
		ch->want = 0;
		ch->has_id = false;
	} else if (ch->has_id && !ch->scan)
		ch->want = ch->id.device_number;
	chan_retry(m, ch);
}

static void on_close_reply(struct ant_channels *m, const struct ant_cmd *c, int code)
{
	struct ant_chan *ch = &m->chan[c->channel];

	if (c->gen == ch->gen && ch->state == ANT_CHAN_CLOSING && code != 0)
		chan_closed(m, ch); /* it was not open: no EVENT_CHANNEL_CLOSED will come */
}

static void chan_close(struct ant_channels *m, struct ant_chan *ch)
{
	struct cd_ant_frame f;
	int r;

	cmd_cancel_channel(m, ch->number);
	ch->gen++;
	ch->state = ANT_CHAN_CLOSING;
	r = cmd_push(m, cd_ant_build_close_channel(&f, ch->number), &f, ch->number,
		     CD_ANT_MSG_CHANNEL_EVENT, ANT_CMD_CLOSE, NULL, ch->gen);
	if (r < 0)
		chan_retry(m, ch);
}

/* A channel's sender became known: pin it, or give up a duplicate. */
static void chan_identified(struct ant_channels *m, struct ant_chan *ch,
			    const struct cd_ant_channel_id *id)
{
	bool first = !ch->has_id || ch->id.device_number != id->device_number;

	ch->has_id = true;
	ch->id = *id;
	if (!first || m->scan)
		return;
	emit(m, &(struct ant_channels_event){
			.type = ANT_EVENT_IDENTIFIED,
			.channel = ch->number,
			.device_number = id->device_number,
			.id = *id,
		});
	for (unsigned i = 0; i < m->n_channels; i++) {
		struct ant_chan *o = &m->chan[i];

		if (o != ch && o->state != ANT_CHAN_FREE && o->has_id &&
		    o->id.device_number == id->device_number) {
			/* Another channel has this strap: search again later. */
			emit(m, &(struct ant_channels_event){
					.type = ANT_EVENT_DUPLICATE,
					.channel = ch->number,
					.device_number = id->device_number,
				});
			ch->duplicate = true;
			chan_close(m, ch);
			return;
		}
	}
	/* A channel still searching for this strap by number is not needed any more. */
	for (unsigned i = 0; i < m->n_channels; i++) {
		struct ant_chan *o = &m->chan[i];

		if (o == ch || o->has_id || o->want != id->device_number)
			continue;
		if (o->state == ANT_CHAN_WAIT) {
			chan_reset(o);
		} else if (o->state == ANT_CHAN_SETUP || o->state == ANT_CHAN_OPEN) {
			o->duplicate = true;
			chan_close(m, o);
		}
	}
	if (ch->want == 0) {
		/* Wildcard pairing done: from now on this channel is that strap's. */
		ch->want = id->device_number;
		chan_plan(m);
	}
}

static void on_channel_id_reply(struct ant_channels *m, const struct ant_cmd *c, int code,
				const struct cd_ant_msg *reply)
{
	struct ant_chan *ch = &m->chan[c->channel];
	struct cd_ant_channel_id id;
	uint8_t n;

	if (c->gen != ch->gen)
		return;
	ch->id_requested = false;
	if (code != 0 || !reply || cd_ant_parse_channel_id(reply, &n, &id) < 0 || n != ch->number ||
	    id.device_number == 0)
		return;
	chan_identified(m, ch, &id);
}

enum ant_sender ant_channels_data(struct ant_channels *m, const struct cd_ant_data *d,
				  struct cd_ant_channel_id *ret)
{
	struct ant_chan *ch = d->channel < m->n_channels ? &m->chan[d->channel] : NULL;
	struct cd_ant_frame f;

	if (ch && ch->backoff_s && ch->state == ANT_CHAN_OPEN)
		ch->backoff_s = 0; /* a working channel: the next loss retries at once */

	if (d->ext & CD_ANT_EXT_CHANNEL_ID) {
		*ret = d->id;
		if (ch && !m->scan && ch->state == ANT_CHAN_OPEN)
			chan_identified(m, ch, &d->id);
		if (ch && ch->state == ANT_CHAN_CLOSING)
			return ANT_SENDER_IGNORE;
		return ANT_SENDER_KNOWN;
	}
	if (ch && !m->scan && ch->has_id) {
		*ret = ch->id;
		return ANT_SENDER_KNOWN;
	}
	if (ch && !m->scan && !ch->wildcard && ch->want != 0 && ch->state == ANT_CHAN_OPEN) {
		/* Opened pinned ([ant] devices or after pairing): only that strap can be heard. */
		*ret = (struct cd_ant_channel_id){
			.device_number = ch->want,
			.device_type = CD_ANT_HRM_DEVICE_TYPE,
			.trans_type = (uint8_t)((ch->want >> 16) << 4),
		};
		return ANT_SENDER_KNOWN;
	}
	if (ch && !m->scan && ch->state == ANT_CHAN_OPEN && !ch->id_requested) {
		/* §3.2: learn the paired device with Request Message (ch, 0x51), as GC does. */
		ch->id_requested = true;
		if (cmd_push(m, cd_ant_build_request(&f, ch->number, CD_ANT_MSG_CHANNEL_ID), &f,
			     ch->number, CD_ANT_MSG_CHANNEL_ID, ANT_CMD_CHANNEL_ID, NULL,
			     ch->gen) < 0)
			ch->id_requested = false;
	}
	return ANT_SENDER_UNKNOWN;
}

void ant_channels_rf_event(struct ant_channels *m, const struct cd_ant_channel_event *e)
{
	struct ant_chan *ch = e->channel < m->n_channels ? &m->chan[e->channel] : NULL;

	if (!ch)
		return;
	switch (e->code) {
	case CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH:
		/* A channel paired by wildcard would pair with anyone now: pin it. */
		if (!m->scan && ch->state == ANT_CHAN_OPEN && ch->has_id && ch->wildcard)
			chan_close(m, ch);
		break;
	case CD_ANT_EVENT_CHANNEL_CLOSED:
		if (ch->state == ANT_CHAN_OPEN || ch->state == ANT_CHAN_CLOSING)
			chan_closed(m, ch);
		break;
	default:
		break;
	}
}

/* The machine ------------------------------------------------------------ */

void ant_channels_init(struct ant_channels *m, const struct ant_channels_ops *ops, void *userdata,
		       const uint32_t *devices, size_t n_devices)
{
	*m = (struct ant_channels){
		.ops = ops,
		.userdata = userdata,
		.devices = devices,
		.n_devices = n_devices,
		.n_channels = ANT_CHANNELS_DEFAULT,
	};
	for (unsigned i = 0; i < ANT_CHANNELS_MAX; i++)
		m->chan[i] = (struct ant_chan){ .number = (uint8_t)i };
}

void ant_channels_done(struct ant_channels *m)
{
	cmd_free_all(m);
}

void ant_channels_reset(struct ant_channels *m, bool online)
{
	cmd_free_all(m);
	for (unsigned i = 0; i < ANT_CHANNELS_MAX; i++)
		chan_reset(&m->chan[i]);
	m->scan = false;
	m->online = online;
}

void ant_channels_start(struct ant_channels *m, unsigned n_channels, bool scan)
{
	m->n_channels = n_channels < ANT_CHANNELS_MAX ? n_channels : ANT_CHANNELS_MAX;
	for (unsigned i = 0; i < ANT_CHANNELS_MAX; i++)
		chan_reset(&m->chan[i]);
	m->scan = scan;
	if (scan) {
		m->chan[0].scan = true;
		chan_start(m, &m->chan[0]);
	} else
		chan_plan(m);
}

const struct ant_chan *ant_channels_get(const struct ant_channels *m, unsigned n)
{
	return n < m->n_channels ? &m->chan[n] : NULL;
}

uint64_t ant_channels_next_wakeup(const struct ant_channels *m)
{
	uint64_t t = UINT64_MAX;

	if (m->cmd_sent && m->queue)
		t = m->cmd_deadline_us;
	for (unsigned i = 0; i < ANT_CHANNELS_MAX; i++)
		if (m->chan[i].state == ANT_CHAN_WAIT && m->chan[i].reopen_at_us < t)
			t = m->chan[i].reopen_at_us;
	return t;
}

void ant_channels_wake(struct ant_channels *m)
{
	uint64_t now = now_us(m);

	if (m->cmd_sent && m->queue && now >= m->cmd_deadline_us) {
		m->n_timeouts++;
		emit(m, &(struct ant_channels_event){
				.type = ANT_EVENT_TIMEOUT,
				.channel = m->queue->channel,
				.msg_id = m->queue->id,
			});
		cmd_complete(m, -ETIMEDOUT, NULL);
	}
	for (unsigned i = 0; i < ANT_CHANNELS_MAX; i++) {
		struct ant_chan *ch = &m->chan[i];

		if (ch->state == ANT_CHAN_WAIT && now >= ch->reopen_at_us) {
			m->n_reopen++;
			chan_start(m, ch);
		}
	}
}
