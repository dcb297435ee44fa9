/* SPDX-License-Identifier: MIT */
/*
 * The ANT stick's command queue and its channels, as pure code (STYLE
 * §7.1, §8.6): what to send next, which message answers the command in
 * flight, when an answer is late, and what a channel does after an
 * answer, a timeout, a close or a first broadcast.  No tty, no sd-event,
 * no clock, no log, no globals.  The glue (ant.c, ant-stick.c) injects
 * the effects through struct ant_channels_ops: transmit() writes a frame
 * to the stick, now() reads CLOCK_MONOTONIC, event() hears what happened
 * (for the logs, the daemon's state and /healthz).  The machine arms no
 * timer either: after feeding it, the glue asks
 * ant_channels_next_wakeup() when to call ant_channels_wake().
 *
 * Commands (PROTOCOLS §3.2): exactly one is in flight.  It completes on
 * its answer (a channel response naming its message id, §3.3; the
 * requested message; the startup message for a reset) or, without one,
 * ANT_CMD_TIMEOUT_US after it was written.  The stick's start-up chain
 * (ant-stick.c) queues through ant_channels_command() and hears the
 * outcome through its callback; the channels queue their own.
 *
 * Channels (§3.5): continuous scan mode on channel 0, or one slave
 * channel per strap, wildcard pairing first and pinned to what it found
 * afterwards (§3.2), at most as many as the stick has.  Each (re)opens
 * through the set-up chain of enum ant_step.  A channel that closed or
 * failed a step starts again after a backoff doubling from
 * ANT_CHAN_BACKOFF_MIN_S to ANT_CHAN_BACKOFF_MAX_S and never gives up (a
 * strap may come back at any time); only scan mode is given up, for
 * channels, when the stick refuses it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ant-msg.h"

#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MSEC 1000ULL

/*
 * §3.2: GC waits 500 ms for the startup message; a configuration command
 * is answered within a few ms.  One second is ample for every command.
 */
#define ANT_CMD_TIMEOUT_US (1000 * USEC_PER_MSEC)
/* Backoff of a channel (or scan mode) that closed or failed to open. */
#define ANT_CHAN_BACKOFF_MIN_S 1U
#define ANT_CHAN_BACKOFF_MAX_S 30U
#define ANT_CHANNELS_MAX       16U
#define ANT_CHANNELS_DEFAULT   8U /* §3.5: GC assumes 8 on USB2/USB-m */
#define ANT_NETWORK	       0  /* §3.2: openant's choice; the key goes there too */
/* §4.1: HP search off, LP 12 x 2.5 s = 30 s (GC when reacquiring). */
#define ANT_LP_SEARCH_TIMEOUT 12

enum ant_chan_state {
	ANT_CHAN_FREE,	  /* not in use */
	ANT_CHAN_SETUP,	  /* its set-up chain is under way */
	ANT_CHAN_OPEN,	  /* open: searching or tracking */
	ANT_CHAN_CLOSING, /* close sent, waiting for EVENT_CHANNEL_CLOSED */
	ANT_CHAN_WAIT,	  /* closed; starts again at reopen_at_us */
};

/* Steps of a channel's set-up chain (§3.2 "recommended slave sequence"), in order. */
enum ant_step {
	ANT_STEP_UNASSIGN, /* optional: the channel may be unassigned already */
	ANT_STEP_ASSIGN,
	ANT_STEP_ID,
	ANT_STEP_LP_TIMEOUT, /* channels only, like HP_TIMEOUT and PERIOD */
	ANT_STEP_HP_TIMEOUT,
	ANT_STEP_PERIOD,
	ANT_STEP_RF,
	ANT_STEP_OPEN,	    /* channels */
	ANT_STEP_OPEN_SCAN, /* scan mode */
	ANT_STEP_DONE,
};

/* One channel of the stick.  The glue may read it, never write it. */
struct ant_chan {
	uint8_t number;
	enum ant_chan_state state;
	enum ant_step step;
	unsigned gen;  /* bumped on every (re)start and close: stale answers are ignored */
	bool scan;     /* channel 0 in continuous scan mode */
	uint32_t want; /* device number it is set to; 0 = wildcard */
	bool wildcard; /* opened with a wildcard device number (pairing) */
	bool has_id;   /* tracked sender known (extended data or a 0x51 request) */
	struct cd_ant_channel_id id;
	bool id_requested;
	bool duplicate; /* closing because another channel has that strap */
	unsigned backoff_s;
	uint64_t reopen_at_us; /* ANT_CHAN_WAIT: when it starts again */
};

/* What the machine tells the glue; which fields are set is noted per type. */
enum ant_channels_event_type {
	/* msg_id, channel: the command in flight got no answer (it completes with -ETIMEDOUT). */
	ANT_EVENT_TIMEOUT,
	/* channel, scan, device_number (0: wildcard): the channel or scan mode is open. */
	ANT_EVENT_OPENED,
	/* channel, scan, step, code (§3.3 code, or -ETIMEDOUT): a required step failed. */
	ANT_EVENT_STEP_FAILED,
	/* channel, scan, backoff_s: closed or failed; it starts again in backoff_s. */
	ANT_EVENT_RETRY,
	/* code: the stick refused scan mode (or did not answer); one channel per strap instead. */
	ANT_EVENT_SCAN_REFUSED,
	/* channel, id: the channel's sender became known (a new device number). */
	ANT_EVENT_IDENTIFIED,
	/* channel, device_number: another channel has that strap; this one closes. */
	ANT_EVENT_DUPLICATE,
	/* channel, scan, unasked: the channel is closed (unasked: the stick closed it). */
	ANT_EVENT_CLOSED,
	/* device_number, n_channels: no channel left for that [ant] devices strap and on. */
	ANT_EVENT_NO_CHANNEL,
	/* channel, code (-errno): a set-up command could not be queued. */
	ANT_EVENT_QUEUE_FAILED,
};

struct ant_channels_event {
	enum ant_channels_event_type type;
	uint8_t channel;
	bool scan;
	uint8_t msg_id;
	enum ant_step step;
	int code;
	unsigned backoff_s;
	uint32_t device_number;
	struct cd_ant_channel_id id;
	bool unasked;
	unsigned n_channels;
};

/*
 * The effects, all called synchronously from within the ant_channels_*
 * call that caused them.
 *
 * transmit: write one whole frame to the stick.  A negative return means
 * the stick is gone: the command stays queued and unsent, and the glue is
 * expected to call ant_channels_reset(m, false), which it may do from
 * within transmit() itself (the machine touches nothing after a failed
 * transmit).  now: CLOCK_MONOTONIC in µs.  event: see enum
 * ant_channels_event_type; it must not call back into the machine.
 */
struct ant_channels_ops {
	int (*transmit)(void *userdata, const uint8_t *frame, size_t len);
	uint64_t (*now)(void *userdata);
	void (*event)(void *userdata, const struct ant_channels_event *e);
};

struct ant_cmd; /* a queued command, private to ant-channels.c */

/*
 * The answer to a stick-wide command: code 0 with the answering message,
 * a §3.3 error code (> 0) with the channel response, or -ETIMEDOUT with
 * reply NULL.  It may queue further commands or reset the machine.
 */
typedef void (*ant_cmd_cb)(void *userdata, int code, const struct cd_ant_msg *reply);

/* Embedded in its owner; the fields are readable, written only by ant-channels.c. */
struct ant_channels {
	const struct ant_channels_ops *ops;
	void *userdata;
	const uint32_t *devices; /* [ant] devices, not owned; n_devices 0: any strap */
	size_t n_devices;

	bool online;	       /* the stick is there: commands are written */
	struct ant_cmd *queue; /* head in flight when cmd_sent */
	bool cmd_sent;
	uint64_t cmd_deadline_us; /* when the command in flight times out */

	bool scan; /* reception in continuous scan mode (else channels) */
	unsigned n_channels;
	struct ant_chan chan[ANT_CHANNELS_MAX];

	/* for /healthz */
	uint64_t n_command_errors; /* answers with an error code */
	uint64_t n_timeouts;
	uint64_t n_reopen; /* channels started again after a backoff */
};

/*
 * ops and userdata are not owned and must outlive m; so must devices[]
 * (the [ant] devices list, n_devices 0 for any strap).  Starts offline,
 * with ANT_CHANNELS_DEFAULT channels.
 */
void ant_channels_init(struct ant_channels *m, const struct ant_channels_ops *ops, void *userdata,
		       const uint32_t *devices, size_t n_devices);
/* Frees the queued commands (wiping them: one may carry the network key). */
void ant_channels_done(struct ant_channels *m);

/*
 * Everything the stick had is gone (it was reset, replugged or closed):
 * drop every queued command without calling back, free every channel,
 * leave scan mode.  online: whether commands can be written from now on.
 */
void ant_channels_reset(struct ant_channels *m, bool online);

/*
 * Queue a stick-wide command built into *f by one of cd_ant_build_*(); r
 * is the builder's result and is returned as is when negative.  It is
 * written when the ones before it are answered; reply_id is the message
 * that answers it besides a channel response (CD_ANT_MSG_CHANNEL_EVENT
 * for none, CD_ANT_MSG_STARTUP for a reset, the id asked for by a
 * request).  cb (may be NULL) hears the outcome.  The frame is copied and
 * wiped when done.  0, or -ENOMEM.
 */
int ant_channels_command(struct ant_channels *m, int r, const struct cd_ant_frame *f,
			 uint8_t reply_id, ant_cmd_cb cb);

/*
 * A message from the stick that may answer the command in flight: a
 * channel response (0x40 whose message id is not an RF event), the
 * startup message or a requested message.  Returns true when it did
 * (the command completed), false when it answers nothing we asked.
 */
bool ant_channels_answer(struct ant_channels *m, const struct cd_ant_msg *msg);

/*
 * The stick is configured: receive with n_channels channels (clamped to
 * ANT_CHANNELS_MAX), in scan mode on channel 0 or with one channel per
 * strap.  Every channel starts from scratch.
 */
void ant_channels_start(struct ant_channels *m, unsigned n_channels, bool scan);

/* A §3.3 RF event (cd_ant_channel_event_is_rf()): go-to-search and channel-closed matter here. */
void ant_channels_rf_event(struct ant_channels *m, const struct cd_ant_channel_event *e);

/* Who sent a data message, as far as the channels can tell. */
enum ant_sender {
	ANT_SENDER_UNKNOWN, /* nobody can tell (a channel not yet identified asks the stick) */
	ANT_SENDER_KNOWN,   /* the sender's channel ID is in *ret */
	ANT_SENDER_IGNORE,  /* tagged data on a channel being closed: drop it */
};

/*
 * A data message (§3.4): identifies a channel from its extended channel
 * ID, pins a wildcard channel to it (or closes a duplicate), asks the
 * stick for the channel ID of one that sends untagged data (Request
 * Message 0x51, as GC does), and attributes the message.
 */
enum ant_sender ant_channels_data(struct ant_channels *m, const struct cd_ant_data *d,
				  struct cd_ant_channel_id *ret);

/* Channel n, or NULL when the stick has no such channel. */
const struct ant_chan *ant_channels_get(const struct ant_channels *m, unsigned n);

/*
 * When the machine next wants ant_channels_wake() (CLOCK_MONOTONIC µs):
 * the command in flight times out, or a channel is due to start again.
 * UINT64_MAX when nothing is pending.
 */
uint64_t ant_channels_next_wakeup(const struct ant_channels *m);
/* Time out the command in flight and start the channels whose backoff is over, as due at now(). */
void ant_channels_wake(struct ant_channels *m);
