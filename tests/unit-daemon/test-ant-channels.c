/* SPDX-License-Identifier: MIT */
/*
 * daemon/ant-channels.c, the ANT command queue and channel machine, with
 * a fake stick and a fake clock (STYLE §7.1): transmit() records every
 * frame and when it was written, now() reads a variable, and the stick's
 * answers are encoded with lib/ant-msg.h and decoded again, as the bytes
 * from a tty would be.  Expected frames are spelt out as message id and
 * payload bytes (PROTOCOLS §3.2), not built with the builders the module
 * uses, so a wrong builder call, channel, device number or order shows.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ant-channels.h"
#include "check.h"

#define S     USEC_PER_SEC
#define T0    (100 * S) /* the fake clock's start: far from 0 */
#define N_MAX 512

struct fake {
	uint64_t now;
	int fail_transmit;     /* < 0: transmit() fails with it */
	bool reset_on_failure; /* and, like ant-stick.c, closes the stick from within */
	struct ant_channels *m;

	struct cd_ant_frame sent[N_MAX];
	uint64_t sent_at[N_MAX];
	size_t n_sent, seen; /* seen: frames checked so far */

	struct ant_channels_event ev[N_MAX];
	size_t n_ev, ev_seen;

	/* stick-wide commands' outcomes */
	int cb_code[N_MAX];
	int cb_reply_id[N_MAX]; /* -1: no reply */
	size_t n_cb;
};

static int fake_transmit(void *userdata, const uint8_t *frame, size_t len)
{
	struct fake *f = userdata;

	if (f->fail_transmit < 0) {
		if (f->reset_on_failure)
			ant_channels_reset(f->m, false);
		return f->fail_transmit;
	}
	if (f->n_sent < N_MAX && len <= sizeof(f->sent[0].data)) {
		memcpy(f->sent[f->n_sent].data, frame, len);
		f->sent[f->n_sent].size = len;
		f->sent_at[f->n_sent] = f->now;
	}
	f->n_sent++;
	return 0;
}

static uint64_t fake_now(void *userdata)
{
	return ((struct fake *)userdata)->now;
}

static void fake_event(void *userdata, const struct ant_channels_event *e)
{
	struct fake *f = userdata;

	if (f->n_ev < N_MAX)
		f->ev[f->n_ev] = *e;
	f->n_ev++;
}

static void fake_cb(void *userdata, int code, const struct cd_ant_msg *reply)
{
	struct fake *f = userdata;

	if (f->n_cb < N_MAX) {
		f->cb_code[f->n_cb] = code;
		f->cb_reply_id[f->n_cb] = reply ? reply->id : -1;
	}
	f->n_cb++;
}

static const struct ant_channels_ops fake_ops = {
	.transmit = fake_transmit,
	.now = fake_now,
	.event = fake_event,
};

/* A machine on an initialised stick (online), as after ant-stick.c's start-up chain. */
static void setup(struct fake *f, struct ant_channels *m, const uint32_t *devices, size_t n)
{
	*f = (struct fake){ .now = T0, .m = m };
	ant_channels_init(m, &fake_ops, f, devices, n);
	ant_channels_reset(m, true);
}

/* The stick's side --------------------------------------------------------- */

/* One message from the stick: encoded into a frame and decoded from its bytes. */
static struct cd_ant_msg stick_msg(uint8_t id, const uint8_t *payload, size_t len)
{
	struct cd_ant_frame fr;
	struct cd_ant_decoder d;
	struct cd_ant_msg m = { 0 };
	const uint8_t *p;
	size_t n;

	CHECK_INT(cd_ant_frame_encode(id, payload, len, &fr), 0);
	cd_ant_decoder_init(&d);
	p = fr.data;
	n = fr.size;
	CHECK_INT(cd_ant_decoder_feed(&d, &p, &n, &m), 1);
	return m;
}

#define BYTES(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })
#define MSG(id, ...) stick_msg((id), BYTES(__VA_ARGS__))

/* §3.3 channel response [channel, message id, code]: true when it answered the one in flight. */
static bool respond(struct ant_channels *m, uint8_t channel, uint8_t msg_id, uint8_t code)
{
	struct cd_ant_msg x = MSG(CD_ANT_MSG_CHANNEL_EVENT, channel, msg_id, code);

	return ant_channels_answer(m, &x);
}

/* §3.3 RF event [channel, 0x01, code]. */
static void rf(struct ant_channels *m, uint8_t channel, uint8_t code)
{
	struct cd_ant_msg x = MSG(CD_ANT_MSG_CHANNEL_EVENT, channel, CD_ANT_MSG_ID_RF_EVENT, code);
	struct cd_ant_channel_event e;

	CHECK_INT(cd_ant_parse_channel_event(&x, &e), 0);
	CHECK(cd_ant_channel_event_is_rf(&e));
	ant_channels_rf_event(m, &e);
}

/* §3.4 broadcast of an HRM page 4 at 70 bpm, untagged. */
static enum ant_sender broadcast(struct ant_channels *m, uint8_t channel,
				 struct cd_ant_channel_id *ret)
{
	struct cd_ant_msg x = MSG(CD_ANT_MSG_BROADCAST_DATA, channel, 0x04, 0xFF, 0x00, 0x00, 0x00,
				  0x04, 0x01, 70);
	struct cd_ant_data d;

	CHECK_INT(cd_ant_parse_data(&x, &d), 0);
	return ant_channels_data(m, &d, ret);
}

/* The same, flagged extended (flag 0x80): the channel ID rides along. */
static enum ant_sender tagged(struct ant_channels *m, uint8_t channel, uint16_t number,
			      uint8_t trans, struct cd_ant_channel_id *ret)
{
	struct cd_ant_msg x =
		MSG(CD_ANT_MSG_BROADCAST_DATA, channel, 0x04, 0xFF, 0x00, 0x00, 0x00, 0x04, 0x01,
		    70, CD_ANT_EXT_CHANNEL_ID, number & 0xFF, number >> 8, 120, trans);
	struct cd_ant_data d;

	CHECK_INT(cd_ant_parse_data(&x, &d), 0);
	CHECK(d.ext & CD_ANT_EXT_CHANNEL_ID);
	return ant_channels_data(m, &d, ret);
}

/* RESPONSE_NO_ERROR to the frame in flight (the last one written), naming its channel byte. */
static bool ack(struct fake *f, struct ant_channels *m)
{
	const struct cd_ant_frame *fr;

	if (!m->cmd_sent || f->n_sent == 0)
		return false;
	fr = &f->sent[f->n_sent - 1];
	return respond(m, fr->data[3], fr->data[2], CD_ANT_RESPONSE_NO_ERROR);
}

/* Acknowledge up to max commands in turn, fewer when none is in flight; how many. */
static unsigned ack_n(struct fake *f, struct ant_channels *m, unsigned max)
{
	unsigned n = 0;

	while (n < max && ack(f, m))
		n++;
	return n;
}

/* Acknowledge every command until none is in flight; how many. */
static unsigned ack_all(struct fake *f, struct ant_channels *m)
{
	return ack_n(f, m, 200);
}

/* Let the fake clock run to `to`, waking the machine whenever it asked to be. */
static void advance(struct fake *f, struct ant_channels *m, uint64_t to)
{
	for (int i = 0; i < 1000; i++) {
		uint64_t t = ant_channels_next_wakeup(m);

		if (t > to)
			break;
		if (t > f->now)
			f->now = t;
		ant_channels_wake(m);
	}
	f->now = to;
}

/* What the machine did ---------------------------------------------------- */

static bool next_is(struct fake *f, int line, uint8_t id, const uint8_t *payload, size_t len)
{
	struct cd_ant_frame want;

	if (cd_ant_frame_encode(id, payload, len, &want) < 0) {
		fprintf(stderr, "line %d: bad expectation\n", line);
		return false;
	}
	if (f->seen >= f->n_sent) {
		fprintf(stderr, "line %d: expected message 0x%02X, nothing more was written\n",
			line, id);
		return false;
	}
	if (f->sent[f->seen].size != want.size ||
	    memcmp(f->sent[f->seen].data, want.data, want.size) != 0) {
		fprintf(stderr, "line %d: frame %zu is", line, f->seen);
		for (size_t i = 0; i < f->sent[f->seen].size; i++)
			fprintf(stderr, " %02X", f->sent[f->seen].data[i]);
		fprintf(stderr, ", expected");
		for (size_t i = 0; i < want.size; i++)
			fprintf(stderr, " %02X", want.data[i]);
		fprintf(stderr, "\n");
		f->seen++;
		return false;
	}
	f->seen++;
	return true;
}

/* The next frame written is message id with this payload. */
#define CHECK_NEXT(f, id, ...) CHECK(next_is((f), __LINE__, (id), BYTES(__VA_ARGS__)))
/* No frame written since the last CHECK_NEXT. */
#define CHECK_NOTHING_SENT(f) CHECK_INT((f)->n_sent - (f)->seen, 0)

static const struct ant_channels_event *next_ev(struct fake *f)
{
	static const struct ant_channels_event none = { .type = (enum ant_channels_event_type)-1 };

	if (f->ev_seen >= f->n_ev || f->ev_seen >= N_MAX)
		return &none;
	return &f->ev[f->ev_seen++];
}

#define CHECK_NO_EVENT(f) CHECK_INT((f)->n_ev - (f)->ev_seen, 0)

/* Queue a reset, as ant-stick.c starts the stick, answered to fake_cb(). */
static int queue_reset(struct ant_channels *m)
{
	struct cd_ant_frame fr;

	return ant_channels_command(m, cd_ant_build_reset(&fr), &fr, CD_ANT_MSG_STARTUP, fake_cb);
}

/* Tests ------------------------------------------------------------------- */

/*
 * §3.2 "recommended slave sequence" for a wildcard (pairing) channel, one
 * step per RESPONSE_NO_ERROR, each written only when the one before is
 * answered, each with the real one-second timeout armed.
 */
static void test_wildcard_open(void)
{
	struct fake f;
	struct ant_channels m;

	setup(&f, &m, NULL, 0);
	CHECK_INT(ant_channels_next_wakeup(&m), UINT64_MAX);
	ant_channels_start(&m, 8, false);
	CHECK(!m.scan);
	CHECK_INT(m.n_channels, 8);

	/* The first frame byte for byte: sync, length, id, channel, XOR. */
	CHECK_INT(f.n_sent, 1);
	CHECK_INT(f.sent[0].size, 5);
	CHECK(memcmp(f.sent[0].data, BYTES(0xA4, 0x01, 0x41, 0x00, 0xE4)) == 0);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00); /* channel 0 */
	CHECK_INT(m.chan[0].state, ANT_CHAN_SETUP);
	CHECK_INT(ant_channels_next_wakeup(&m), T0 + 1000000);

	/* Answers to something else move nothing: another channel, another message. */
	CHECK(!respond(&m, 1, CD_ANT_MSG_UNASSIGN_CHANNEL, CD_ANT_RESPONSE_NO_ERROR));
	CHECK(!respond(&m, 0, CD_ANT_MSG_ASSIGN_CHANNEL, CD_ANT_RESPONSE_NO_ERROR));
	rf(&m, 0, CD_ANT_EVENT_RX_FAIL);
	CHECK_NOTHING_SENT(&f);
	CHECK_INT(m.chan[0].step, ANT_STEP_UNASSIGN);

	f.now = T0 + 10 * USEC_PER_MSEC;
	CHECK(respond(&m, 0, CD_ANT_MSG_UNASSIGN_CHANNEL, CD_ANT_RESPONSE_NO_ERROR));
	CHECK_NEXT(&f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x00, 0x00, 0x00); /* ch 0, slave, network 0 */
	/* The timeout runs from the write of this command, not the first. */
	CHECK_INT(ant_channels_next_wakeup(&m), f.now + 1000000);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x00, 0x00, 0x00, 120, 0x00); /* wildcard number */
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_LP_SEARCH_TIMEOUT, 0x00, 12); /* 12 x 2.5 s */
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_SEARCH_TIMEOUT, 0x00, 0x00); /* high priority off */
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_PERIOD, 0x00, 0x86, 0x1F); /* 8070 */
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_RF_FREQUENCY, 0x00, 57); /* 2457 MHz */
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_OPEN_CHANNEL, 0x00);
	CHECK_NO_EVENT(&f);
	CHECK(ack(&f, &m));

	{
		const struct ant_channels_event *e = next_ev(&f);

		CHECK_INT(e->type, ANT_EVENT_OPENED);
		CHECK_INT(e->channel, 0);
		CHECK(!e->scan);
		CHECK_INT(e->device_number, 0);
	}
	CHECK_NO_EVENT(&f);
	CHECK_INT(m.chan[0].state, ANT_CHAN_OPEN);
	CHECK(m.chan[0].wildcard);
	/* One channel searches at a time: nothing more until it has found a strap. */
	CHECK_NOTHING_SENT(&f);
	CHECK(!m.cmd_sent);
	CHECK_INT(ant_channels_next_wakeup(&m), UINT64_MAX);
	CHECK_INT(m.n_command_errors, 0);
	CHECK_INT(m.n_timeouts, 0);
	ant_channels_done(&m);
}

/* §3.5 continuous scan mode on channel 0: no period, no search timeouts, Open Rx Scan [0x00]. */
static void test_scan_open(void)
{
	struct fake f;
	struct ant_channels m;
	const struct ant_channels_event *e;
	struct cd_ant_channel_id id;

	setup(&f, &m, NULL, 0);
	ant_channels_start(&m, 8, true);
	CHECK(m.scan);
	CHECK(m.chan[0].scan);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x00, 0x00, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x00, 0x00, 0x00, 120, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_RF_FREQUENCY, 0x00, 57);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_OPEN_RX_SCAN, 0x00); /* every packet, not sync-only */
	/* Its payload is a filler: the response may name any channel byte. */
	CHECK(respond(&m, 0x05, CD_ANT_MSG_OPEN_RX_SCAN, CD_ANT_RESPONSE_NO_ERROR));
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_OPENED);
	CHECK(e->scan);
	CHECK_INT(m.chan[0].state, ANT_CHAN_OPEN);
	CHECK_NOTHING_SENT(&f);

	/* Scan mode: data says who sent it, and never pins or requests anything. */
	CHECK_INT(tagged(&m, 0, 0x3039, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(id.device_number, 12345);
	CHECK_INT(id.trans_type, 0x01);
	CHECK(!m.chan[0].has_id);
	CHECK_INT(broadcast(&m, 0, &id), ANT_SENDER_UNKNOWN);
	CHECK_NOTHING_SENT(&f);
	CHECK_NO_EVENT(&f);
	ant_channels_done(&m);
}

/*
 * An error answer: to the optional Unassign it is skipped; to a required
 * step the channel gives up this attempt and starts again after its
 * backoff, from Unassign.
 */
static void test_error_replies(void)
{
	struct fake f;
	struct ant_channels m;
	const struct ant_channels_event *e;

	setup(&f, &m, NULL, 0);
	ant_channels_start(&m, 8, false);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK(respond(&m, 0, CD_ANT_MSG_UNASSIGN_CHANNEL, CD_ANT_CHANNEL_IN_WRONG_STATE));
	CHECK_NEXT(&f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x00, 0x00, 0x00);
	CHECK_NO_EVENT(&f);
	CHECK_INT(m.n_command_errors, 1);

	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x00, 0x00, 0x00, 120, 0x00);
	f.now = T0 + 3 * USEC_PER_MSEC;
	CHECK(respond(&m, 0, CD_ANT_MSG_CHANNEL_ID, CD_ANT_INVALID_MESSAGE));
	CHECK_INT(m.n_command_errors, 2);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_STEP_FAILED);
	CHECK_INT(e->channel, 0);
	CHECK_INT(e->step, ANT_STEP_ID);
	CHECK_INT(e->code, CD_ANT_INVALID_MESSAGE);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_RETRY);
	CHECK_INT(e->channel, 0);
	CHECK_INT(e->backoff_s, 1);
	CHECK_NO_EVENT(&f);
	CHECK_INT(m.chan[0].state, ANT_CHAN_WAIT);
	CHECK_NOTHING_SENT(&f);
	CHECK_INT(ant_channels_next_wakeup(&m), T0 + 3 * USEC_PER_MSEC + 1 * S);

	/* A late duplicate answer finds nothing in flight. */
	CHECK(!respond(&m, 0, CD_ANT_MSG_CHANNEL_ID, CD_ANT_RESPONSE_NO_ERROR));
	advance(&f, &m, T0 + 3 * USEC_PER_MSEC + 1 * S - 1);
	ant_channels_wake(&m); /* woken early, for something else: not due yet */
	CHECK_NOTHING_SENT(&f);
	CHECK_INT(m.n_reopen, 0);
	CHECK_INT(m.chan[0].state, ANT_CHAN_WAIT);
	advance(&f, &m, T0 + 3 * USEC_PER_MSEC + 1 * S);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK_INT(f.sent_at[f.seen - 1], T0 + 3 * USEC_PER_MSEC + 1 * S);
	CHECK_INT(m.n_reopen, 1);
	CHECK_INT(m.chan[0].state, ANT_CHAN_SETUP);
	f.now += 1000000 - 1;
	ant_channels_wake(&m); /* a command is not late a microsecond early */
	CHECK_NO_EVENT(&f);
	CHECK_INT(m.n_timeouts, 0);
	CHECK_INT(ack_all(&f, &m), 8);
	CHECK_INT(m.chan[0].state, ANT_CHAN_OPEN);
	ant_channels_done(&m);
}

/* Run one set-up attempt of channel 0 into a timeout of Assign; when it failed. */
static uint64_t attempt_times_out(struct fake *f, struct ant_channels *m, uint64_t start)
{
	CHECK_NEXT(f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK_INT(f->sent_at[f->seen - 1], start);
	/* The optional Unassign times out and is skipped, */
	advance(f, m, start + 1000000 - 1);
	CHECK_NOTHING_SENT(f);
	advance(f, m, start + 1000000);
	CHECK_NEXT(f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x00, 0x00, 0x00);
	CHECK_INT(f->sent_at[f->seen - 1], start + 1000000);
	/* the required Assign fails the attempt. */
	advance(f, m, start + 2000000);
	CHECK_NOTHING_SENT(f);
	return start + 2000000;
}

/*
 * No answer at all: each command times out after one second; a channel
 * retries after 1, 2, 4, 8, 16 s, then every 30 s, for ever.  Scan mode,
 * though, is given up for channels when Open Rx Scan goes unanswered.
 */
static void test_timeouts(void)
{
	static const unsigned backoff[] = { 1, 2, 4, 8, 16, 30, 30, 30 };
	struct fake f;
	struct ant_channels m;
	const struct ant_channels_event *e;
	uint64_t t = T0;

	setup(&f, &m, NULL, 0);
	ant_channels_start(&m, 8, false);
	for (size_t i = 0; i < sizeof(backoff) / sizeof(backoff[0]); i++) {
		t = attempt_times_out(&f, &m, t);
		e = next_ev(&f);
		CHECK_INT(e->type, ANT_EVENT_TIMEOUT);
		CHECK_INT(e->msg_id, CD_ANT_MSG_UNASSIGN_CHANNEL);
		e = next_ev(&f);
		CHECK_INT(e->type, ANT_EVENT_TIMEOUT);
		CHECK_INT(e->msg_id, CD_ANT_MSG_ASSIGN_CHANNEL);
		e = next_ev(&f);
		CHECK_INT(e->type, ANT_EVENT_STEP_FAILED);
		CHECK_INT(e->step, ANT_STEP_ASSIGN);
		CHECK_INT(e->code, -ETIMEDOUT);
		e = next_ev(&f);
		CHECK_INT(e->type, ANT_EVENT_RETRY);
		CHECK_INT(e->backoff_s, backoff[i]);
		CHECK_NO_EVENT(&f);
		CHECK_INT(ant_channels_next_wakeup(&m), t + backoff[i] * S);
		advance(&f, &m, t + backoff[i] * S - 1);
		CHECK_NOTHING_SENT(&f);
		advance(&f, &m, t + backoff[i] * S);
		t += backoff[i] * S;
	}
	CHECK_INT(m.n_timeouts, 16);
	CHECK_INT(m.n_reopen, 8);
	CHECK_INT(m.n_command_errors, 0); /* timeouts are not error answers */
	CHECK_INT(m.chan[0].state, ANT_CHAN_SETUP);
	ant_channels_done(&m);

	/* Scan mode: Open Rx Scan unanswered gives scan mode up, for channels at once. */
	setup(&f, &m, NULL, 0);
	ant_channels_start(&m, 8, true);
	CHECK_INT(ack_n(&f, &m, 4), 4);
	f.seen = 4;
	CHECK_NEXT(&f, CD_ANT_MSG_OPEN_RX_SCAN, 0x00);
	advance(&f, &m, T0 + 1000000);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_TIMEOUT);
	CHECK_INT(e->msg_id, CD_ANT_MSG_OPEN_RX_SCAN);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_SCAN_REFUSED);
	CHECK_INT(e->code, -ETIMEDOUT);
	CHECK_NO_EVENT(&f); /* no retry of scan mode */
	CHECK(!m.scan);
	CHECK(!m.chan[0].scan);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK_INT(f.sent_at[f.seen - 1], T0 + 1000000);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x00, 0x00, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x00, 0x00, 0x00, 120, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_LP_SEARCH_TIMEOUT, 0x00, 12); /* a channel's chain now */
	ant_channels_done(&m);

	/* Refused with an error code: the same. */
	setup(&f, &m, NULL, 0);
	ant_channels_start(&m, 8, true);
	CHECK_INT(ack_n(&f, &m, 4), 4);
	CHECK(respond(&m, 0, CD_ANT_MSG_OPEN_RX_SCAN, CD_ANT_CLOSE_ALL_CHANNELS));
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_SCAN_REFUSED);
	CHECK_INT(e->code, CD_ANT_CLOSE_ALL_CHANNELS);
	CHECK(!m.scan);
	f.seen = 5;
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	ant_channels_done(&m);
}

/* Stick-wide commands (ant-stick.c's start-up chain): answers, timeouts, order. */
static void test_stick_commands(void)
{
	static const uint8_t key[CD_ANT_NETWORK_KEY_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8 }; /* made up */
	struct fake f;
	struct ant_channels m;
	struct cd_ant_frame fr;
	struct cd_ant_msg x;
	const struct ant_channels_event *e;

	setup(&f, &m, NULL, 0);
	CHECK_INT(queue_reset(&m), 0);
	CHECK_INT(ant_channels_command(&m, cd_ant_build_request(&fr, 0, CD_ANT_MSG_CAPABILITIES),
				       &fr, CD_ANT_MSG_CAPABILITIES, fake_cb),
		  0);
	/* A builder's error passes through and queues nothing. */
	CHECK_INT(ant_channels_command(&m, -EINVAL, &fr, CD_ANT_MSG_CHANNEL_EVENT, fake_cb),
		  -EINVAL);
	CHECK_NEXT(&f, CD_ANT_MSG_RESET_SYSTEM, 0x00);
	CHECK_NOTHING_SENT(&f); /* one in flight */

	/* Not the answer: the requested message of the next command, a response to another id. */
	x = MSG(CD_ANT_MSG_CAPABILITIES, 8, 3, 0, 0, 0x06, 0);
	CHECK(!ant_channels_answer(&m, &x));
	CHECK(!respond(&m, 0, CD_ANT_MSG_NETWORK_KEY, CD_ANT_RESPONSE_NO_ERROR));
	CHECK_INT(f.n_cb, 0);

	/* No startup message: -ETIMEDOUT after exactly one second, and the next one goes. */
	advance(&f, &m, T0 + 1000000 - 1);
	CHECK_INT(f.n_cb, 0);
	advance(&f, &m, T0 + 1000000);
	CHECK_INT(f.n_cb, 1);
	CHECK_INT(f.cb_code[0], -ETIMEDOUT);
	CHECK_INT(f.cb_reply_id[0], -1);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_TIMEOUT);
	CHECK_INT(e->msg_id, CD_ANT_MSG_RESET_SYSTEM);
	CHECK_NEXT(&f, CD_ANT_MSG_REQUEST, 0x00, CD_ANT_MSG_CAPABILITIES);
	CHECK_INT(f.sent_at[f.seen - 1], T0 + 1000000);

	/* A late startup message answers nothing now. */
	x = MSG(CD_ANT_MSG_STARTUP, 0x20);
	CHECK(!ant_channels_answer(&m, &x));
	x = MSG(CD_ANT_MSG_CAPABILITIES, 8, 3, 0, 0, 0x06, 0);
	CHECK(ant_channels_answer(&m, &x));
	CHECK_INT(f.n_cb, 2);
	CHECK_INT(f.cb_code[1], 0);
	CHECK_INT(f.cb_reply_id[1], CD_ANT_MSG_CAPABILITIES);
	CHECK_INT(ant_channels_next_wakeup(&m), UINT64_MAX);

	/* A reset answered by its startup message; a network key's response names the network. */
	CHECK_INT(queue_reset(&m), 0);
	x = MSG(CD_ANT_MSG_STARTUP, 0x00);
	CHECK(ant_channels_answer(&m, &x));
	CHECK_INT(f.cb_code[2], 0);
	CHECK_INT(f.cb_reply_id[2], CD_ANT_MSG_STARTUP);
	CHECK_INT(ant_channels_command(&m, cd_ant_build_set_network_key(&fr, 1, key), &fr,
				       CD_ANT_MSG_CHANNEL_EVENT, fake_cb),
		  0);
	CHECK(respond(&m, 1, CD_ANT_MSG_NETWORK_KEY, CD_ANT_INVALID_NETWORK_NUMBER));
	CHECK_INT(f.n_cb, 4);
	CHECK_INT(f.cb_code[3], CD_ANT_INVALID_NETWORK_NUMBER);
	CHECK_INT(f.cb_reply_id[3], CD_ANT_MSG_CHANNEL_EVENT);
	CHECK_INT(m.n_command_errors, 1);
	ant_channels_done(&m);
}

/* Open channel 0 as a wildcard on a stick of n channels. */
static void open_wildcard(struct fake *f, struct ant_channels *m, unsigned n)
{
	ant_channels_start(m, n, false);
	CHECK_INT(ack_all(f, m), 8);
	f->seen = f->n_sent;
	CHECK_INT(next_ev(f)->type, ANT_EVENT_OPENED);
	CHECK_INT(m->chan[0].state, ANT_CHAN_OPEN);
}

/*
 * A stick without extended messages: the first untagged broadcast on a
 * wildcard channel asks for its channel ID (Request Message 0x51, §3.2),
 * once; the answer pins the channel and starts the next wildcard search.
 */
static void test_identified_by_request(void)
{
	struct fake f;
	struct ant_channels m;
	const struct ant_channels_event *e;
	struct cd_ant_channel_id id = { 0 };
	struct cd_ant_msg x;

	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 8);
	CHECK_INT(broadcast(&m, 0, &id), ANT_SENDER_UNKNOWN);
	CHECK_NEXT(&f, CD_ANT_MSG_REQUEST, 0x00, CD_ANT_MSG_CHANNEL_ID);
	CHECK(m.chan[0].id_requested);
	CHECK_INT(broadcast(&m, 0, &id), ANT_SENDER_UNKNOWN);
	CHECK_NOTHING_SENT(&f); /* asked already */

	/* Unanswered: asked again on the next broadcast. */
	advance(&f, &m, T0 + 1000000);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_TIMEOUT);
	CHECK(!m.chan[0].id_requested);
	CHECK_INT(m.chan[0].state, ANT_CHAN_OPEN); /* a failed request closes nothing */
	CHECK_INT(broadcast(&m, 0, &id), ANT_SENDER_UNKNOWN);
	CHECK_NEXT(&f, CD_ANT_MSG_REQUEST, 0x00, CD_ANT_MSG_CHANNEL_ID);

	/* Another channel's ID answers nothing. */
	x = MSG(CD_ANT_MSG_CHANNEL_ID, 0x01, 0x39, 0x30, 120, 0x01);
	CHECK(ant_channels_answer(&m, &x)); /* the request completes, */
	CHECK(!m.chan[0].has_id);	    /* but names channel 1 */
	CHECK_NO_EVENT(&f);
	CHECK_INT(broadcast(&m, 0, &id), ANT_SENDER_UNKNOWN);
	CHECK_NEXT(&f, CD_ANT_MSG_REQUEST, 0x00, CD_ANT_MSG_CHANNEL_ID);

	/* [channel 0, 12345 LSB, MSB, type 120, transmission type 0x01]. */
	x = MSG(CD_ANT_MSG_CHANNEL_ID, 0x00, 0x39, 0x30, 120, 0x01);
	CHECK(ant_channels_answer(&m, &x));
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_IDENTIFIED);
	CHECK_INT(e->channel, 0);
	CHECK_INT(e->device_number, 12345);
	CHECK_INT(e->id.trans_type, 0x01);
	CHECK(m.chan[0].has_id);
	CHECK_INT(m.chan[0].want, 12345);
	/* The next wildcard search, on channel 1. */
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x01);
	CHECK_INT(m.chan[1].state, ANT_CHAN_SETUP);
	CHECK_INT(m.chan[1].want, 0);

	/* From now on its broadcasts are that strap's; channel 1 is not open: no request. */
	CHECK_INT(broadcast(&m, 0, &id), ANT_SENDER_KNOWN);
	CHECK_INT(id.device_number, 12345);
	CHECK_INT(id.device_type, 120);
	CHECK_INT(id.trans_type, 0x01);
	CHECK_INT(broadcast(&m, 1, &id), ANT_SENDER_UNKNOWN);
	CHECK_INT(broadcast(&m, 9, &id), ANT_SENDER_UNKNOWN); /* beyond the stick's channels */
	CHECK_NOTHING_SENT(&f);
	CHECK_NO_EVENT(&f);
	ant_channels_done(&m);

	/* The channel closes while its request is out: the answer is about a search given up. */
	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 1);
	CHECK_INT(broadcast(&m, 0, &id), ANT_SENDER_UNKNOWN);
	CHECK_NEXT(&f, CD_ANT_MSG_REQUEST, 0x00, CD_ANT_MSG_CHANNEL_ID);
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_CLOSED);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_RETRY);
	x = MSG(CD_ANT_MSG_CHANNEL_ID, 0x00, 0x39, 0x30, 120, 0x01);
	CHECK(ant_channels_answer(&m, &x));
	CHECK_NO_EVENT(&f);
	CHECK(!m.chan[0].has_id);
	CHECK_INT(m.chan[0].want, 0);
	CHECK_INT(m.chan[0].state, ANT_CHAN_WAIT);
	ant_channels_done(&m);
}

/*
 * Closing: a wildcard-paired channel losing its strap (go-to-search) is
 * closed and, on EVENT_CHANNEL_CLOSED, reopened after its backoff pinned
 * to that strap (§3.2 "wildcard, then pinned"; low 16 bits of the 20-bit
 * number in Set Channel ID).  A channel the stick closes unasked is
 * reopened too; a close the stick refuses counts as closed.
 */
static void test_close(void)
{
	struct fake f;
	struct ant_channels m;
	const struct ant_channels_event *e;
	struct cd_ant_channel_id id = { 0 };
	uint64_t t;

	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 1);
	/* Tagged: 0x3039 with transmission type 0x51, i.e. 20-bit number 0x53039. */
	CHECK_INT(tagged(&m, 0, 0x3039, 0x51, &id), ANT_SENDER_KNOWN);
	CHECK_INT(id.device_number, 0x53039);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_IDENTIFIED);
	CHECK_INT(e->device_number, 0x53039);
	CHECK_INT(m.chan[0].want, 0x53039);
	CHECK_NOTHING_SENT(&f); /* one channel only: nobody else searches */
	CHECK_NO_EVENT(&f);

	rf(&m, 0, CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH);
	CHECK_NEXT(&f, CD_ANT_MSG_CLOSE_CHANNEL, 0x00);
	CHECK_INT(m.chan[0].state, ANT_CHAN_CLOSING);
	CHECK(ack(&f, &m)); /* accepted: closed only on the event */
	CHECK_INT(m.chan[0].state, ANT_CHAN_CLOSING);
	CHECK_NO_EVENT(&f);
	CHECK_INT(tagged(&m, 0, 0x3039, 0x51, &id), ANT_SENDER_IGNORE);
	f.now = T0 + 5 * S;
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_CLOSED);
	CHECK(!e->unasked);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_RETRY);
	CHECK_INT(e->backoff_s, 1);
	CHECK_INT(m.chan[0].state, ANT_CHAN_WAIT);
	CHECK_NOTHING_SENT(&f);

	advance(&f, &m, T0 + 6 * S);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x00, 0x00, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x00, 0x39, 0x30, 120, 0x00); /* pinned */
	CHECK_INT(ack_all(&f, &m), 6); /* it, LP, HP, period, RF, open */
	f.seen = f.n_sent;
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_OPENED);
	CHECK_INT(e->device_number, 0x53039);
	CHECK(!m.chan[0].wildcard);
	CHECK_INT(m.chan[0].backoff_s, 1);

	/* Pinned: untagged data is that strap's, and the first one shows the channel works. */
	CHECK_INT(broadcast(&m, 0, &id), ANT_SENDER_KNOWN);
	CHECK_INT(id.device_number, 0x53039);
	CHECK_INT(id.device_type, 120);
	CHECK_INT(id.trans_type, 0x50);
	CHECK_INT(m.chan[0].backoff_s, 0);
	/* Tagged again, so its sender is known; searching again it stays open: pinned. */
	CHECK_INT(tagged(&m, 0, 0x3039, 0x51, &id), ANT_SENDER_KNOWN);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_IDENTIFIED);
	CHECK(m.chan[0].has_id);
	rf(&m, 0, CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH);
	CHECK_NOTHING_SENT(&f);
	CHECK_INT(m.chan[0].state, ANT_CHAN_OPEN);

	/* Closed by the stick (search timeout): reopened after 1 s again, the backoff reset. */
	t = f.now;
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_CLOSED);
	CHECK(e->unasked);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_RETRY);
	CHECK_INT(e->backoff_s, 1);
	CHECK_INT(ant_channels_next_wakeup(&m), t + 1 * S);
	/* A second close event while it waits changes nothing. */
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	CHECK_NO_EVENT(&f);
	ant_channels_done(&m);

	/* A close refused (the channel was not open): closed at once, no event to wait for. */
	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 1);
	CHECK_INT(tagged(&m, 0, 0x3039, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_IDENTIFIED);
	rf(&m, 0, CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH);
	CHECK_NEXT(&f, CD_ANT_MSG_CLOSE_CHANNEL, 0x00);
	CHECK(respond(&m, 0, CD_ANT_MSG_CLOSE_CHANNEL, CD_ANT_CHANNEL_IN_WRONG_STATE));
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_CLOSED);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_RETRY);
	CHECK_INT(m.chan[0].state, ANT_CHAN_WAIT);
	CHECK_INT(m.chan[0].want, 12345);
	ant_channels_done(&m);

	/* The close event before the close's response: closed once, the response is late. */
	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 1);
	CHECK_INT(tagged(&m, 0, 12345, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_IDENTIFIED);
	rf(&m, 0, CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH);
	CHECK_NEXT(&f, CD_ANT_MSG_CLOSE_CHANNEL, 0x00);
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_CLOSED);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_RETRY);
	CHECK(respond(&m, 0, CD_ANT_MSG_CLOSE_CHANNEL, CD_ANT_CHANNEL_NOT_OPENED));
	CHECK_NO_EVENT(&f);
	CHECK_INT(m.chan[0].backoff_s, 1);
	ant_channels_done(&m);

	/* Reopened pinned to the sender it had last, not the one it first paired with. */
	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 1);
	CHECK_INT(tagged(&m, 0, 12345, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(tagged(&m, 0, 777, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(m.chan[0].want, 12345);
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	CHECK_INT(m.chan[0].want, 777);
	advance(&f, &m, f.now + 1 * S);
	CHECK_INT(ack_n(&f, &m, 2), 2);
	f.seen = f.n_sent - 1;
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x00, 0x09, 0x03, 120, 0x00); /* 777 */
	ant_channels_done(&m);

	/*
	 * A channel's command still queued behind another's when it closes is
	 * dropped: channel 1's Request for its ID waits behind channel 0's Close.
	 */
	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 2);
	CHECK_INT(tagged(&m, 0, 12345, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(ack_all(&f, &m), 8); /* channel 1 opens as the next wildcard */
	CHECK_INT(m.chan[1].state, ANT_CHAN_OPEN);
	f.seen = f.n_sent;
	rf(&m, 0, CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH);
	CHECK_NEXT(&f, CD_ANT_MSG_CLOSE_CHANNEL, 0x00);
	CHECK_INT(broadcast(&m, 1, &id), ANT_SENDER_UNKNOWN); /* queues a Request */
	CHECK_NOTHING_SENT(&f);
	rf(&m, 1, CD_ANT_EVENT_CHANNEL_CLOSED);
	CHECK_INT(m.chan[1].state, ANT_CHAN_WAIT);
	CHECK(ack(&f, &m));
	CHECK_NOTHING_SENT(&f); /* no Request for a closed channel */
	CHECK(!m.cmd_sent);
	ant_channels_done(&m);
}

/*
 * Two channels, one strap: the second channel to find it closes and
 * searches again as a wildcard.  And a channel reopening for a strap that
 * another channel has just found is closed, its in-flight answer ignored.
 */
static void test_duplicates(void)
{
	struct fake f;
	struct ant_channels m;
	const struct ant_channels_event *e;
	struct cd_ant_channel_id id = { 0 };

	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 2);
	CHECK_INT(tagged(&m, 0, 12345, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_IDENTIFIED);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x01);
	CHECK_INT(ack_all(&f, &m), 8);
	f.seen = f.n_sent;
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_OPENED);
	CHECK_INT(m.chan[1].state, ANT_CHAN_OPEN);

	/* Channel 1 hears 12345 too (it may be in range of both searches). */
	CHECK_INT(tagged(&m, 1, 12345, 0x01, &id), ANT_SENDER_IGNORE);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_IDENTIFIED);
	CHECK_INT(e->channel, 1);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_DUPLICATE);
	CHECK_INT(e->channel, 1);
	CHECK_INT(e->device_number, 12345);
	CHECK_NEXT(&f, CD_ANT_MSG_CLOSE_CHANNEL, 0x01);
	CHECK(ack(&f, &m));
	rf(&m, 1, CD_ANT_EVENT_CHANNEL_CLOSED);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_CLOSED);
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_RETRY);
	CHECK_INT(m.chan[1].want, 0);
	CHECK(!m.chan[1].has_id);
	CHECK_INT(m.chan[0].state, ANT_CHAN_OPEN); /* the first keeps it */
	advance(&f, &m, f.now + 1 * S);
	CHECK_INT(ack_n(&f, &m, 2), 2);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x01);
	CHECK_NEXT(&f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x01, 0x00, 0x00);
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x01, 0x00, 0x00, 120, 0x00); /* wildcard again */
	ant_channels_done(&m);

	/* Channel 0 loses 12345 and reopens pinned; channel 1 finds it first. */
	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 2);
	CHECK_INT(tagged(&m, 0, 12345, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(ack_all(&f, &m), 8);
	rf(&m, 0, CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH);
	CHECK(ack(&f, &m));
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	advance(&f, &m, f.now + 1 * S);
	f.seen = f.n_sent - 1;
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00); /* in flight */
	f.ev_seen = f.n_ev;
	CHECK_INT(tagged(&m, 1, 12345, 0x01, &id), ANT_SENDER_KNOWN);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_IDENTIFIED);
	CHECK_INT(e->channel, 1);
	CHECK_NO_EVENT(&f);
	CHECK_INT(m.chan[0].state, ANT_CHAN_CLOSING);
	CHECK(m.chan[0].duplicate);
	/* The answer to the Unassign of the attempt given up is ignored: Close next, not Assign. */
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CLOSE_CHANNEL, 0x00);
	CHECK_NOTHING_SENT(&f);
	CHECK(respond(&m, 0, CD_ANT_MSG_CLOSE_CHANNEL, CD_ANT_CHANNEL_NOT_OPENED));
	CHECK_INT(m.chan[0].state, ANT_CHAN_WAIT);
	CHECK_INT(m.chan[0].want, 0);
	CHECK_INT(m.chan[1].want, 12345);
	ant_channels_done(&m);

	/*
	 * Channel 0 failed to reopen for 12345 and waits; channel 1 finds
	 * 12345: channel 0 is not needed for it any more and searches at once
	 * for the next strap, as a wildcard.
	 */
	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 2);
	CHECK_INT(tagged(&m, 0, 12345, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(ack_all(&f, &m), 8);
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	advance(&f, &m, f.now + 1 * S);
	CHECK(respond(&m, 0, CD_ANT_MSG_UNASSIGN_CHANNEL, CD_ANT_RESPONSE_NO_ERROR));
	CHECK(respond(&m, 0, CD_ANT_MSG_ASSIGN_CHANNEL, CD_ANT_INVALID_MESSAGE));
	CHECK_INT(m.chan[0].state, ANT_CHAN_WAIT);
	CHECK_INT(m.chan[0].want, 12345);
	CHECK(!m.chan[0].has_id);
	f.seen = f.n_sent;
	CHECK_INT(tagged(&m, 1, 12345, 0x01, &id), ANT_SENDER_KNOWN);
	CHECK_INT(m.chan[0].state, ANT_CHAN_SETUP);
	CHECK_INT(m.chan[0].want, 0);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK_INT(ack_n(&f, &m, 2), 2);
	f.seen = f.n_sent - 1;
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x00, 0x00, 0x00, 120, 0x00);
	ant_channels_done(&m);
}

/*
 * [ant] devices with more straps than the stick has channels: one pinned
 * channel each while they last, the rest reported (every time the plan
 * runs, as the log says); the channels' commands interleave in order.
 */
static void test_plan_more_than_channels(void)
{
	static const uint32_t devices[] = { 111, 222, 333 };
	struct fake f;
	struct ant_channels m;
	const struct ant_channels_event *e;
	unsigned no_channel = 0, opened = 0;

	setup(&f, &m, devices, 3);
	ant_channels_start(&m, 2, false);
	e = next_ev(&f);
	CHECK_INT(e->type, ANT_EVENT_NO_CHANNEL);
	CHECK_INT(e->device_number, 333);
	CHECK_INT(e->n_channels, 2);
	CHECK_INT(m.chan[0].want, 111);
	CHECK_INT(m.chan[1].want, 222);
	CHECK_INT(m.chan[2].state, ANT_CHAN_FREE);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK_NOTHING_SENT(&f);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x01); /* queued before channel 0's next */
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x00, 0x00, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_ASSIGN_CHANNEL, 0x01, 0x00, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x00, 111, 0x00, 120, 0x00);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_CHANNEL_ID, 0x01, 222, 0x00, 120, 0x00);
	CHECK_INT(ack_all(&f, &m), 11); /* it, and 5 more steps of each */
	for (size_t i = f.ev_seen; i < f.n_ev; i++) {
		no_channel += f.ev[i].type == ANT_EVENT_NO_CHANNEL && f.ev[i].device_number == 333;
		opened += f.ev[i].type == ANT_EVENT_OPENED;
	}
	CHECK_INT(opened, 2);
	CHECK_INT(no_channel, 2); /* once more after each channel opened */
	CHECK_INT(m.chan[0].state, ANT_CHAN_OPEN);
	CHECK_INT(m.chan[1].state, ANT_CHAN_OPEN);
	CHECK(!m.chan[0].wildcard);
	ant_channels_done(&m);

	/* More channels than this code drives: clamped. */
	setup(&f, &m, NULL, 0);
	ant_channels_start(&m, 40, false);
	CHECK_INT(m.n_channels, ANT_CHANNELS_MAX);
	CHECK(ant_channels_get(&m, ANT_CHANNELS_MAX - 1) != NULL);
	CHECK(ant_channels_get(&m, ANT_CHANNELS_MAX) == NULL);
	ant_channels_done(&m);

	/* Wildcards on two channels: two straps, then no free channel and nothing to say. */
	setup(&f, &m, NULL, 0);
	open_wildcard(&f, &m, 2);
	{
		struct cd_ant_channel_id id;

		CHECK_INT(tagged(&m, 0, 1001, 0x01, &id), ANT_SENDER_KNOWN);
		CHECK_INT(ack_all(&f, &m), 8);
		CHECK_INT(tagged(&m, 1, 1002, 0x01, &id), ANT_SENDER_KNOWN);
	}
	f.seen = f.n_sent;
	f.ev_seen = f.n_ev - 1;
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_IDENTIFIED);
	CHECK_NOTHING_SENT(&f);
	CHECK_INT(m.chan[1].want, 1002);
	ant_channels_done(&m);
}

/*
 * The stick's life: nothing is written while it is offline, a reset drops
 * every command without an answer, and a failed write leaves the command
 * unsent (the glue resets the machine, even from within transmit()).
 */
static void test_stick_life(void)
{
	struct fake f;
	struct ant_channels m;
	struct cd_ant_frame fr;

	setup(&f, &m, NULL, 0);
	ant_channels_reset(&m, false);
	ant_channels_start(&m, 8, false);
	CHECK_INT(f.n_sent, 0);
	CHECK_INT(queue_reset(&m), 0);
	CHECK_INT(f.n_sent, 0);
	CHECK_INT(ant_channels_next_wakeup(&m), UINT64_MAX);
	ant_channels_reset(&m, true);
	CHECK(m.queue == NULL);
	CHECK_INT(f.n_cb, 0);
	CHECK_INT(ant_channels_next_wakeup(&m), UINT64_MAX);

	/* A channel waiting to reopen forgets it on a reset. */
	open_wildcard(&f, &m, 8);
	rf(&m, 0, CD_ANT_EVENT_CHANNEL_CLOSED);
	CHECK_INT(m.chan[0].state, ANT_CHAN_WAIT);
	ant_channels_reset(&m, true);
	CHECK_INT(m.chan[0].state, ANT_CHAN_FREE);
	CHECK_INT(ant_channels_next_wakeup(&m), UINT64_MAX);
	advance(&f, &m, f.now + 60 * S);
	CHECK_NOTHING_SENT(&f);

	/* A reset leaves scan mode. */
	ant_channels_start(&m, 8, true);
	CHECK(m.scan);
	ant_channels_reset(&m, true);
	CHECK(!m.scan);
	CHECK(!m.chan[0].scan);
	f.seen = f.n_sent;

	/*
	 * Started again with a step in flight: the answer to it is stale and
	 * moves nothing; the new chain takes its 8 answers as usual.
	 */
	ant_channels_start(&m, 8, false);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	ant_channels_start(&m, 8, false);
	CHECK_NOTHING_SENT(&f);
	CHECK(ack(&f, &m));
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	CHECK_INT(m.chan[0].step, ANT_STEP_UNASSIGN);
	f.ev_seen = f.n_ev;
	CHECK_INT(ack_n(&f, &m, 7), 7);
	CHECK_NO_EVENT(&f);
	CHECK_INT(m.chan[0].state, ANT_CHAN_SETUP);
	CHECK(ack(&f, &m));
	CHECK_INT(next_ev(&f)->type, ANT_EVENT_OPENED);
	CHECK(!ack(&f, &m));
	ant_channels_reset(&m, true);
	f.seen = f.n_sent;

	/* A failed write: not in flight, no timeout; the next push writes the first. */
	f.fail_transmit = -EIO;
	CHECK_INT(queue_reset(&m), 0);
	CHECK(!m.cmd_sent);
	CHECK_INT(ant_channels_next_wakeup(&m), UINT64_MAX);
	f.fail_transmit = 0;
	CHECK_INT(ant_channels_command(&m, cd_ant_build_request(&fr, 0, CD_ANT_MSG_CAPABILITIES),
				       &fr, CD_ANT_MSG_CAPABILITIES, fake_cb),
		  0);
	CHECK_NEXT(&f, CD_ANT_MSG_RESET_SYSTEM, 0x00);
	CHECK_NOTHING_SENT(&f);

	/* The glue's way: the write fails and the stick is closed from within transmit(). */
	ant_channels_reset(&m, true);
	ant_channels_start(&m, 8, false);
	CHECK_NEXT(&f, CD_ANT_MSG_UNASSIGN_CHANNEL, 0x00);
	f.fail_transmit = -EIO;
	f.reset_on_failure = true;
	CHECK(ack(&f, &m));
	CHECK(!m.online);
	CHECK(m.queue == NULL);
	CHECK_INT(m.chan[0].state, ANT_CHAN_FREE);
	CHECK_INT(ant_channels_next_wakeup(&m), UINT64_MAX);
	CHECK_NOTHING_SENT(&f);
	ant_channels_done(&m);
}

int main(void)
{
	test_wildcard_open();
	test_scan_open();
	test_error_replies();
	test_timeouts();
	test_stick_commands();
	test_identified_by_request();
	test_close();
	test_duplicates();
	test_plan_more_than_channels();
	test_stick_life();
	return check_exit("test-ant-channels");
}
