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
 * lib/ant.c).  Heart rates are logged at debug level only.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <systemd/sd-device.h>

#include "ant-admit.h"
#include "ant-hrm.h"
#include "ant.h"
#include "cleanup.h"
#include "log.h"

#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL

#define ANT_VENDOR "0fcf"
/* §3.6: 0fcf:1004 is a real UART behind a CP210x: 115200 8N1 with RTS/CTS (GC). */
#define PRODUCT_USB1 "1004"
#define PRODUCT_USB2 "1008"
#define PRODUCT_USBM "1009"

/* §3.2: GC waits 500 ms for the startup message and retries 3 times. */
#define CMD_TIMEOUT_US (1000 * USEC_PER_MSEC)
#define RESET_TRIES 3U
/* Backoff of a path that cannot be opened, or of a stick that does not answer. */
#define STICK_BACKOFF_MIN_S 1U
#define STICK_BACKOFF_MAX_S 10U
/* Backoff of a channel (or scan mode) that closed or failed to open. */
#define CHAN_BACKOFF_MIN_S 1U
#define CHAN_BACKOFF_MAX_S 30U
/* Auto mode without udev events (containers): look again this often. */
#define RESCAN_US (10 * USEC_PER_SEC)
/* Once per second: straps silent for stale_after_s are disconnected. */
#define SWEEP_US (1 * USEC_PER_SEC)
#define MAX_CHANNELS 16U
#define DEFAULT_CHANNELS 8U /* §3.5: GC assumes 8 on USB2/USB-m */
#define DEFAULT_NETWORK 0   /* §3.2: openant's choice */
/* §4.1: HP search off, LP 12 x 2.5 s = 30 s (GC when reacquiring). */
#define LP_SEARCH_TIMEOUT 12
#define WBUF_SIZE 1024U
/* Scan-mode broadcasts without a channel ID, none with one: fall back to channels. */
#define SCAN_UNIDENTIFIED_MAX 16U
/* §4.2 message slot, to estimate missed messages from arrival gaps. */
#define SLOT_S ((double)CD_ANT_HRM_PERIOD / 32768.0)

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

enum ant_state {
	ANT_OFF,          /* no key: never opens the stick */
	ANT_WAITING,      /* no stick (yet) */
	ANT_INITIALISING, /* reset sent, configuring */
	ANT_RUNNING,      /* scan mode or channels open */
	_ANT_STATE_MAX,
};

static const char *const state_table[_ANT_STATE_MAX] = {
	[ANT_OFF] = "off",
	[ANT_WAITING] = "waiting",
	[ANT_INITIALISING] = "initialising",
	[ANT_RUNNING] = "running",
};

enum chan_state {
	CHAN_FREE,    /* not in use */
	CHAN_SETUP,   /* its command chain is queued */
	CHAN_OPEN,    /* open: searching or tracking */
	CHAN_CLOSING, /* close sent, waiting for EVENT_CHANNEL_CLOSED */
	CHAN_WAIT,    /* closed, reopen timer armed */
};

/* Steps of a channel's set-up chain (§3.2 "recommended slave sequence"). */
enum chan_step {
	STEP_UNASSIGN, /* optional: the channel may be unassigned already */
	STEP_ASSIGN,
	STEP_ID,
	STEP_LP_TIMEOUT,
	STEP_HP_TIMEOUT,
	STEP_PERIOD,
	STEP_RF,
	STEP_OPEN,      /* channels */
	STEP_OPEN_SCAN, /* scan mode */
	STEP_DONE,
};

struct ant;
struct strap;

struct chan {
	struct ant *ant;
	uint8_t number;
	enum chan_state state;
	enum chan_step step;
	unsigned gen;     /* bumped on every (re)start: stale answers are ignored */
	bool scan;        /* channel 0 in continuous scan mode */
	uint32_t want;    /* device number it is set to; 0 = wildcard */
	bool has_id;      /* tracked sender known (extended data or a 0x51 request) */
	struct cd_ant_channel_id id;
	bool id_requested;
	bool duplicate;   /* closing because another channel has that strap */
	bool wildcard;    /* opened with a wildcard device number (pairing) */
	unsigned backoff_s;
	sd_event_source *timer; /* reopen */
};

struct strap {
	struct ant *ant;
	uint32_t number; /* 20-bit device number */
	struct cd_ant_channel_id id;
	struct cd_ant_hrm hrm;
	struct monitor_device *device;
	bool heard;        /* since the stick was (re)initialised or the strap was lost */
	bool lost;
	uint64_t last_rx_mono_us;
	double last_t;
	/* counters */
	uint64_t n_messages;
	uint64_t n_missed;    /* estimated from arrival gaps */
	uint64_t n_beats;
	uint64_t n_rr;
	uint64_t n_gap_beats; /* beats whose RR were lost (missed messages) */
	uint64_t n_rx_fail;   /* channels mode: EVENT_RX_FAIL on its channel */
	unsigned reconnects;
	/* pages 1, 2, 3, 7 (only when the strap is paged, §4.3) */
	bool has_manufacturer, has_product, has_battery, has_operating_time;
	uint8_t manufacturer_id;
	uint16_t serial_upper;
	uint8_t hw_version, sw_version, model;
	int battery_pct;
	double battery_v;
	enum cd_ant_battery_status battery_status;
	uint32_t operating_time_s;
	enum cd_ant_hrm_mode mode;
	int8_t rssi_dbm;
	bool has_rssi;

	struct strap *next; /* ant::straps */
};

struct cmd;
typedef void (*cmd_cb)(struct ant *a, const struct cmd *c, int code, const struct cd_ant_msg *reply);

struct cmd {
	struct cd_ant_frame frame;
	uint8_t id;       /* message id sent */
	uint8_t channel;  /* for matching the channel response */
	uint8_t reply_id; /* CD_ANT_MSG_CHANNEL_EVENT, the requested id, or CD_ANT_MSG_STARTUP */
	cmd_cb cb;
	unsigned gen;     /* the channel's generation when queued */
	struct cmd *next;
};

struct counters {
	uint64_t frames;
	uint64_t bytes_skipped;
	uint64_t bad_checksum;
	uint64_t unknown;
	uint64_t malformed;
	uint64_t unidentified; /* broadcasts we cannot attribute to a strap */
	uint64_t ignored;      /* other device types, or straps not in [ant] devices */
	uint64_t unadmitted;   /* broadcasts of numbers not (yet) admitted as straps (§9.7) */
	uint64_t rx_fail;
	uint64_t rx_fail_go_to_search;
	uint64_t search_timeout;
	uint64_t channel_closed;
	uint64_t reopen;
	uint64_t command_errors;
	uint64_t timeouts;
	uint64_t overflow;
	uint64_t serial_errors;
	uint64_t resets;
	uint64_t opened;
	uint64_t lost; /* stick unplugged or failed */
};

struct ant {
	sd_event *event;
	struct monitor *monitor;
	const struct cd_config *config;

	enum ant_state state;
	char reason[160];

	bool have_key;
	uint8_t key[CD_ANT_NETWORK_KEY_SIZE];

	bool auto_find;
	char *path;         /* the tty in use, or the configured one */
	char usb_id[10];    /* "0fcf:1009" when known */
	int fd;
	sd_event_source *io;
	sd_event_source *retry;   /* reopen / rescan */
	sd_event_source *cmd_timer;
	sd_event_source *sweep;
	sd_device_monitor *hotplug;
	unsigned stick_backoff_s;
	bool warned_open;

	struct cd_ant_decoder decoder;
	uint8_t wbuf[WBUF_SIZE];
	size_t wlen;

	struct cmd *queue; /* head in flight when cmd_sent */
	bool cmd_sent;
	unsigned reset_tries;

	bool have_caps;
	struct cd_ant_capabilities caps;
	bool ext;           /* extended messages (channel ID) on */
	bool scan;          /* reception in scan mode (else channels) */
	bool force_channels; /* scan mode gave no channel IDs: channels until the stick goes */
	unsigned scan_identified, scan_unidentified;
	unsigned n_channels;
	struct chan chan[MAX_CHANNELS];

	struct strap *straps;
	struct cd_ant_admit unknown; /* unlisted numbers not yet straps (§9.7) */
	struct counters n;
};

static void stick_close(struct ant *a, bool failed);
static void stick_schedule(struct ant *a, uint64_t delay_us);
static void chan_start(struct chan *ch);
static void chan_plan(struct ant *a);
static void start_reception(struct ant *a);
static void stick_init(struct ant *a);

static uint64_t mono_us(struct ant *a)
{
	uint64_t now = 0;

	if (sd_event_now(a->event, CLOCK_MONOTONIC, &now) < 0)
		now = 0;
	return now;
}

static void set_state(struct ant *a, enum ant_state s, const char *reason)
{
	a->state = s;
	snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
}

/* Key ------------------------------------------------------------------- */

/*
 * 8 bytes as hex text: "01 23 45 …", "0x01,0x23,…", "01:23:…" or
 * "012345…"; '#' starts a comment.  Each byte is two hex digits.
 */
static int parse_key(const char *s, uint8_t key[CD_ANT_NETWORK_KEY_SIZE])
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		if (*s == '#') {
			while (s[1] && s[1] != '\n')
				s++;
			continue;
		}
		if (hi < 0 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
			s++;
			continue;
		}
		if (isxdigit((unsigned char)*s)) {
			int v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;

			if (hi < 0) {
				hi = v;
				continue;
			}
			if (n >= CD_ANT_NETWORK_KEY_SIZE)
				return -EINVAL;
			key[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
			continue;
		}
		if (isspace((unsigned char)*s) || strchr(",:;-", *s)) {
			if (hi >= 0)
				return -EINVAL; /* a lone digit */
			continue;
		}
		return -EINVAL;
	}
	return n == CD_ANT_NETWORK_KEY_SIZE && hi < 0 ? 0 : -EINVAL;
}

/* Fills a->key, or says in a->reason why not.  Never logs the key. */
static int load_key(struct ant *a)
{
	const char *path = a->config->ant_key_file;
	char buf[1024];
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	ssize_t k;
	int r;

	if (!path) {
		set_state(a, ANT_OFF, "no network key: [ant] network_key_file (--ant-key-file) is not set");
		return -ENOKEY;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(a->reason, sizeof(a->reason), "no network key: cannot read %s: %s", path,
			 strerror(-r));
		a->state = ANT_OFF;
		return r;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH))
		log_warning("ANT+ network key file %s is readable by every user; it should be "
			    "mode 0640 or stricter.",
			    path);
	k = read(fd, buf, sizeof(buf) - 1);
	if (k < 0) {
		r = -errno;
		snprintf(a->reason, sizeof(a->reason), "no network key: cannot read %s: %s", path,
			 strerror(-r));
		a->state = ANT_OFF;
		return r;
	}
	buf[k] = 0;
	r = parse_key(buf, a->key);
	explicit_bzero(buf, sizeof(buf));
	if (r < 0) {
		explicit_bzero(a->key, sizeof(a->key));
		snprintf(a->reason, sizeof(a->reason),
			 "no network key: %s does not hold 8 bytes as hex text", path);
		a->state = ANT_OFF;
		return r;
	}
	a->have_key = true;
	return 0;
}

/* Output ---------------------------------------------------------------- */

static int flush_out(struct ant *a)
{
	while (a->wlen > 0) {
		ssize_t k = write(a->fd, a->wbuf, a->wlen);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		memmove(a->wbuf, a->wbuf + k, a->wlen - (size_t)k);
		a->wlen -= (size_t)k;
	}
	if (a->io)
		(void)sd_event_source_set_io_events(a->io, EPOLLIN | (a->wlen > 0 ? EPOLLOUT : 0));
	return 0;
}

static int send_frame(struct ant *a, const struct cd_ant_frame *f)
{
	if (a->fd < 0)
		return -ENOTCONN;
	if (a->wlen + f->size > sizeof(a->wbuf))
		return -ENOBUFS;
	memcpy(a->wbuf + a->wlen, f->data, f->size);
	a->wlen += f->size;
	return flush_out(a);
}

/* Command queue --------------------------------------------------------- */

static void cmd_free_all(struct ant *a)
{
	while (a->queue) {
		struct cmd *c = a->queue;

		a->queue = c->next;
		explicit_bzero(c, sizeof(*c)); /* one of them may carry the key */
		free(c);
	}
	a->cmd_sent = false;
	if (a->cmd_timer)
		(void)sd_event_source_set_enabled(a->cmd_timer, SD_EVENT_OFF);
}

static void cmd_kick(struct ant *a)
{
	int r;

	if (a->cmd_sent || !a->queue || a->fd < 0)
		return;
	r = send_frame(a, &a->queue->frame);
	if (r < 0) {
		log_warning_errno(r, "Cannot write to the ANT stick %s: %m", a->path);
		stick_close(a, true);
		return;
	}
	a->cmd_sent = true;
	(void)sd_event_source_set_time_relative(a->cmd_timer, CMD_TIMEOUT_US);
	(void)sd_event_source_set_enabled(a->cmd_timer, SD_EVENT_ONESHOT);
}

/* Queue a command built into *f (any of cd_ant_build_*); r is the builder's result. */
static int cmd_push(struct ant *a, int r, const struct cd_ant_frame *f, uint8_t channel,
		    uint8_t reply_id, cmd_cb cb, unsigned gen)
{
	struct cmd *c, **p;

	if (r < 0)
		return r; /* a builder refused: a bug here, reported by the caller */
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct cmd){
		.frame = *f,
		.id = f->data[2],
		.channel = channel,
		.reply_id = reply_id,
		.cb = cb,
		.gen = gen,
	};
	for (p = &a->queue; *p; p = &(*p)->next)
		;
	*p = c;
	cmd_kick(a);
	return 0;
}

/* The command in flight is answered (code 0 or an error code) or timed out (-ETIMEDOUT). */
static void cmd_complete(struct ant *a, int code, const struct cd_ant_msg *reply)
{
	struct cmd *c = a->queue;

	if (!c || !a->cmd_sent)
		return;
	a->queue = c->next;
	a->cmd_sent = false;
	(void)sd_event_source_set_enabled(a->cmd_timer, SD_EVENT_OFF);
	if (code > 0)
		a->n.command_errors++;
	if (c->cb)
		c->cb(a, c, code, reply);
	explicit_bzero(c, sizeof(*c));
	free(c);
	cmd_kick(a);
}

static int on_cmd_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ant *a = userdata;

	(void)s;
	(void)usec;
	if (!a->cmd_sent || !a->queue)
		return 0;
	a->n.timeouts++;
	log_debug("ANT stick: no answer to message 0x%02X (%s).", a->queue->id,
		  cd_ant_msg_id_to_string(a->queue->id) ?: "?");
	cmd_complete(a, -ETIMEDOUT, NULL);
	return 0;
}

/* Drop the queued (not yet sent) commands of one channel. */
static void cmd_cancel_channel(struct ant *a, uint8_t channel)
{
	struct cmd **p = &a->queue;

	if (*p && a->cmd_sent)
		p = &(*p)->next;
	while (*p) {
		struct cmd *c = *p;

		if (c->channel == channel && c->gen != 0) {
			*p = c->next;
			free(c);
		} else
			p = &c->next;
	}
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
static void straps_forget_link(struct ant *a)
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

	if (cd_ant_hrm_receive(&s->hrm, t, id, d->data, &r) < 0)
		return;
	s->mode = r.mode;
	s->n_beats += r.n_beats;
	s->n_rr += r.n_rr;
	s->n_gap_beats += r.n_gap_beats;
	strap_pages(s, &r);

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

static void chan_reset(struct chan *ch)
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

static void on_data(struct ant *a, const struct cd_ant_msg *m)
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

static void on_rf_event(struct ant *a, const struct cd_ant_channel_event *e)
{
	struct chan *ch = e->channel < a->n_channels ? &a->chan[e->channel] : NULL;
	struct strap *s = ch ? strap_of_channel(a, ch) : NULL;

	switch (e->code) {
	case CD_ANT_EVENT_RX_FAIL:
		/* §4.5: a missed slot; link quality only. */
		a->n.rx_fail++;
		if (s)
			s->n_rx_fail++;
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

/* Start-up chain -------------------------------------------------------- */

static void on_enable_ext(struct ant *a, const struct cmd *c, int code, const struct cd_ant_msg *reply)
{
	(void)c;
	(void)reply;
	a->ext = code == 0;
	start_reception(a);
}

static void on_lib_config(struct ant *a, const struct cmd *c, int code, const struct cd_ant_msg *reply)
{
	struct cd_ant_frame f;
	int r;

	(void)c;
	(void)reply;
	if (code == 0) {
		a->ext = true;
		start_reception(a);
		return;
	}
	/* §3.2: Enable Extended RX Messages is the older way to the same flag-0x80 format. */
	r = cmd_push(a, cd_ant_build_enable_ext_rx(&f, true), &f, 0, CD_ANT_MSG_CHANNEL_EVENT,
		     on_enable_ext, 0);
	if (r < 0)
		stick_close(a, true);
}

static void on_network_key(struct ant *a, const struct cmd *c, int code, const struct cd_ant_msg *reply)
{
	struct cd_ant_frame f;
	int r;

	(void)c;
	(void)reply;
	if (code != 0) {
		log_warning("ANT stick %s refused the network key (%s); retrying.", a->path,
			    code < 0 ? "no answer" : cd_ant_code_to_string((uint8_t)code) ?: "error");
		stick_close(a, true);
		return;
	}
	/* §3.4: channel ID (flag 0x80) on every received message. */
	r = cmd_push(a, cd_ant_build_lib_config(&f, CD_ANT_EXT_CHANNEL_ID), &f, 0,
		     CD_ANT_MSG_CHANNEL_EVENT, on_lib_config, 0);
	if (r < 0)
		stick_close(a, true);
}

static void on_capabilities(struct ant *a, const struct cmd *c, int code, const struct cd_ant_msg *reply)
{
	struct cd_ant_frame f;
	int r;

	(void)c;
	if (code == 0 && reply && cd_ant_parse_capabilities(reply, &a->caps) == 0) {
		a->have_caps = true;
		log_debug("ANT stick: %u channels, %u networks, options 0x%02X 0x%02X.",
			  a->caps.max_channels, a->caps.max_networks, a->caps.advanced_options,
			  a->caps.advanced_options2);
	}
	r = cmd_push(a, cd_ant_build_set_network_key(&f, DEFAULT_NETWORK, a->key), &f, 0,
		     CD_ANT_MSG_CHANNEL_EVENT, on_network_key, 0);
	explicit_bzero(&f, sizeof(f));
	if (r < 0)
		stick_close(a, true);
}

static void start_reception(struct ant *a)
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

static void send_reset(struct ant *a);

static void on_startup(struct ant *a, const struct cmd *c, int code, const struct cd_ant_msg *reply)
{
	struct cd_ant_frame f;
	uint8_t reason = 0;
	int r;

	(void)c;
	if (code != 0) {
		if (++a->reset_tries < RESET_TRIES) {
			send_reset(a);
			return;
		}
		/*
		 * GC gives up waiting after 3 tries and goes on, openant never
		 * waits: a stick that does not send 0x6F may still work.  One
		 * that does not answer the next command is closed and retried.
		 */
		log_notice("ANT stick %s sent no startup message after %u resets; going on.",
			   a->path, RESET_TRIES);
	} else {
		/* §3.3: any reason byte is a startup (ANTUSB-m answers 0x00, AP2 0x20). */
		if (reply)
			(void)cd_ant_parse_startup(reply, &reason);
		log_debug("ANT stick started (reason 0x%02X).", reason);
	}
	a->stick_backoff_s = 0;
	r = cmd_push(a, cd_ant_build_request(&f, 0, CD_ANT_MSG_CAPABILITIES), &f, 0,
		     CD_ANT_MSG_CAPABILITIES, on_capabilities, 0);
	if (r < 0)
		stick_close(a, true);
}

static void send_reset(struct ant *a)
{
	struct cd_ant_frame f;

	a->n.resets++;
	if (cmd_push(a, cd_ant_build_reset(&f), &f, 0, CD_ANT_MSG_STARTUP, on_startup, 0) < 0)
		stick_close(a, true);
}

/* Everything the stick had is gone: start over from a reset. */
static void stick_init(struct ant *a)
{
	cmd_free_all(a);
	for (unsigned i = 0; i < MAX_CHANNELS; i++)
		chan_reset(&a->chan[i]);
	straps_forget_link(a);
	a->have_caps = false;
	a->ext = false;
	a->scan = false;
	a->scan_identified = a->scan_unidentified = 0;
	a->reset_tries = 0;
	set_state(a, ANT_INITIALISING, NULL);
	send_reset(a);
}

/* Input ----------------------------------------------------------------- */

static void on_message(struct ant *a, const struct cd_ant_msg *m)
{
	struct cmd *c = a->cmd_sent ? a->queue : NULL;
	struct cd_ant_channel_event e;

	a->n.frames++;
	switch (m->id) {
	case CD_ANT_MSG_CHANNEL_EVENT:
		if (cd_ant_parse_channel_event(m, &e) < 0) {
			a->n.malformed++;
			return;
		}
		if (cd_ant_channel_event_is_rf(&e)) {
			on_rf_event(a, &e);
			return;
		}
		/* A response: to the command in flight (a request answers with an error this way). */
		if (c && e.msg_id == c->id &&
		    (e.channel == c->channel || c->id == CD_ANT_MSG_NETWORK_KEY ||
		     c->id == CD_ANT_MSG_LIB_CONFIG || c->id == CD_ANT_MSG_ENABLE_EXT_RX ||
		     c->id == CD_ANT_MSG_OPEN_RX_SCAN))
			cmd_complete(a, e.code, m);
		else if (e.code != CD_ANT_RESPONSE_NO_ERROR)
			log_debug("ANT stick: unexpected response %s to 0x%02X on channel %u.",
				  cd_ant_code_to_string(e.code) ?: "?", e.msg_id, e.channel);
		return;
	case CD_ANT_MSG_STARTUP:
		if (c && c->reply_id == CD_ANT_MSG_STARTUP) {
			cmd_complete(a, 0, m);
			return;
		}
		/* Not asked for: the stick reset itself (watchdog, brown-out); all is lost. */
		if (a->state == ANT_RUNNING || a->state == ANT_INITIALISING) {
			log_warning("ANT stick %s restarted by itself; initialising it again.", a->path);
			stick_init(a);
		}
		return;
	case CD_ANT_MSG_BROADCAST_DATA:
	case CD_ANT_MSG_ACKNOWLEDGED_DATA:
	case CD_ANT_MSG_BURST_DATA:
	case CD_ANT_MSG_EXT_BROADCAST_DATA:
	case CD_ANT_MSG_EXT_ACKNOWLEDGED_DATA:
	case CD_ANT_MSG_EXT_BURST_DATA:
		if (a->state == ANT_RUNNING || a->state == ANT_INITIALISING)
			on_data(a, m);
		return;
	case CD_ANT_MSG_SERIAL_ERROR:
		a->n.serial_errors++;
		return;
	default:
		if (c && c->reply_id == m->id) {
			cmd_complete(a, 0, m);
			return;
		}
		a->n.unknown++;
		return;
	}
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct ant *a = userdata;
	uint8_t buf[512];

	(void)s;
	if (revents & EPOLLIN) {
		for (int i = 0; i < 64 && a->fd >= 0; i++) {
			ssize_t k = read(fd, buf, sizeof(buf));
			const uint8_t *p = buf;
			size_t n;
			struct cd_ant_msg m;

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EAGAIN)
				break;
			if (k <= 0) {
				log_warning("ANT stick %s is gone (%s).", a->path,
					    k == 0 ? "end of file" : strerror(errno));
				stick_close(a, true);
				return 0;
			}
			n = (size_t)k;
			while (a->fd >= 0 && cd_ant_decoder_feed(&a->decoder, &p, &n, &m) > 0)
				on_message(a, &m);
			a->n.bytes_skipped = a->decoder.n_skipped;
			a->n.bad_checksum = a->decoder.n_bad_checksum;
			if ((size_t)k < sizeof(buf))
				break;
		}
		if (a->fd < 0)
			return 0;
	}
	if (revents & (EPOLLHUP | EPOLLERR)) {
		log_warning("ANT stick %s hung up.", a->path);
		stick_close(a, true);
		return 0;
	}
	if (revents & EPOLLOUT) {
		int r = flush_out(a);

		if (r < 0) {
			log_warning_errno(r, "Cannot write to the ANT stick %s: %m", a->path);
			stick_close(a, true);
		}
	}
	return 0;
}

/* The tty --------------------------------------------------------------- */

/* The usb_device above a tty: "0fcf:1009" when it is one of ours. */
static bool usb_id_of(sd_device *tty, char ret[10])
{
	sd_device *usb = NULL;
	const char *vid = NULL, *pid = NULL;

	if (sd_device_get_parent_with_subsystem_devtype(tty, "usb", "usb_device", &usb) < 0 ||
	    sd_device_get_sysattr_value(usb, "idVendor", &vid) < 0 ||
	    sd_device_get_sysattr_value(usb, "idProduct", &pid) < 0)
		return false;
	if (strcasecmp(vid, ANT_VENDOR) != 0 || (strcasecmp(pid, PRODUCT_USB1) != 0 &&
						 strcasecmp(pid, PRODUCT_USB2) != 0 &&
						 strcasecmp(pid, PRODUCT_USBM) != 0))
		return false;
	snprintf(ret, 10, "%.4s:%.4s", vid, pid);
	return true;
}

/* [ant] device = auto: the first tty whose USB device is an ANT stick. */
static int find_stick(char **ret_path, char ret_id[10])
{
	_cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
	int r;

	r = sd_device_enumerator_new(&e);
	if (r < 0)
		return r;
	r = sd_device_enumerator_add_match_subsystem(e, "tty", true);
	if (r < 0)
		return r;
	for (sd_device *d = sd_device_enumerator_get_device_first(e); d;
	     d = sd_device_enumerator_get_device_next(e)) {
		const char *devname;

		if (!usb_id_of(d, ret_id) || sd_device_get_devname(d, &devname) < 0)
			continue;
		*ret_path = strdup(devname);
		return *ret_path ? 0 : -ENOMEM;
	}
	return -ENODEV;
}

/* A configured path: which stick is it (for CRTSCTS on 0fcf:1004)?  "" when unknown. */
static void usb_id_of_fd(int fd, char ret[10])
{
	_cleanup_(sd_device_unrefp) sd_device *d = NULL;
	struct stat st;

	ret[0] = 0;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
	    sd_device_new_from_devnum(&d, 'c', st.st_rdev) < 0 || !usb_id_of(d, ret))
		ret[0] = 0;
}

static int tty_open(struct ant *a)
{
	_cleanup_close_ int fd = -EBADF;
	struct termios tio;

	fd = open(a->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (a->usb_id[0] == 0)
		usb_id_of_fd(fd, a->usb_id);
	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	/* §3.6: raw 8N1; 115200 baud (ignored by usb_serial_simple, needed by the CP210x). */
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cflag &= ~(tcflag_t)CRTSCTS;
	if (strcasecmp(a->usb_id, ANT_VENDOR ":" PRODUCT_USB1) == 0)
		tio.c_cflag |= CRTSCTS; /* the AP1 flow-controls the CP210x (GC) */
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (cfsetispeed(&tio, B115200) < 0 || cfsetospeed(&tio, B115200) < 0)
		return -errno;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return -errno;
	(void)tcflush(fd, TCIOFLUSH);
	/* Nobody else may open it while we drive it. */
	(void)ioctl(fd, TIOCEXCL);
	return TAKE_FD(fd);
}

static int stick_open(struct ant *a)
{
	int fd, r;

	if (a->auto_find) {
		free(a->path);
		a->path = NULL;
		r = find_stick(&a->path, a->usb_id);
		if (r < 0) {
			set_state(a, ANT_WAITING, "no ANT USB stick (0fcf:1004/1008/1009) found");
			return r;
		}
	}
	fd = tty_open(a);
	if (fd < 0) {
		snprintf(a->reason, sizeof(a->reason), "cannot open %s: %s", a->path, strerror(-fd));
		a->state = ANT_WAITING;
		if (!a->warned_open)
			log_warning_errno(fd, "Cannot open the ANT stick %s: %m; retrying.", a->path);
		else
			log_debug_errno(fd, "Cannot open the ANT stick %s: %m", a->path);
		a->warned_open = true;
		return fd;
	}
	a->fd = fd;
	r = sd_event_add_io(a->event, &a->io, fd, EPOLLIN, on_io, a);
	if (r < 0) {
		close(a->fd);
		a->fd = -EBADF;
		return log_error_errno(r, "Cannot watch the ANT stick: %m");
	}
	(void)sd_event_source_set_description(a->io, "ant-tty");
	cd_ant_decoder_init(&a->decoder);
	a->wlen = 0;
	a->warned_open = false;
	a->n.opened++;
	log_info("ANT stick %s%s%s%s opened; initialising it.", a->path, a->usb_id[0] ? " (" : "",
		 a->usb_id, a->usb_id[0] ? ")" : "");
	stick_init(a);
	return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ant *a = userdata;

	(void)s;
	(void)usec;
	if (a->fd >= 0 || a->state == ANT_OFF)
		return 0;
	if (stick_open(a) < 0 && a->fd < 0)
		stick_schedule(a, 0);
	return 0;
}

/* Next attempt: delay_us, or 0 = the backoff (path) / RESCAN_US (auto). */
static void stick_schedule(struct ant *a, uint64_t delay_us)
{
	int r;

	if (delay_us == 0) {
		if (a->auto_find)
			delay_us = RESCAN_US;
		else {
			a->stick_backoff_s = a->stick_backoff_s == 0
						     ? STICK_BACKOFF_MIN_S
						     : MIN(a->stick_backoff_s * 2, STICK_BACKOFF_MAX_S);
			delay_us = a->stick_backoff_s * USEC_PER_SEC;
		}
	}
	if (!a->retry) {
		r = sd_event_add_time_relative(a->event, &a->retry, CLOCK_MONOTONIC, delay_us, 0,
					       on_retry, a);
		if (r < 0) {
			log_warning_errno(r, "Cannot arm the ANT retry timer: %m");
			return;
		}
		(void)sd_event_source_set_description(a->retry, "ant-retry");
	} else
		(void)sd_event_source_set_time_relative(a->retry, delay_us);
	(void)sd_event_source_set_enabled(a->retry, SD_EVENT_ONESHOT);
}

/* failed: the stick went away or misbehaved, so try again later. */
static void stick_close(struct ant *a, bool failed)
{
	cmd_free_all(a);
	for (unsigned i = 0; i < MAX_CHANNELS; i++)
		chan_reset(&a->chan[i]);
	a->io = sd_event_source_disable_unref(a->io);
	if (a->fd >= 0) {
		close(a->fd);
		a->fd = -EBADF;
	}
	a->wlen = 0;
	straps_forget_link(a);
	if (!failed)
		return;
	a->n.lost++;
	a->force_channels = false;
	if (a->auto_find)
		a->usb_id[0] = 0;
	set_state(a, ANT_WAITING, "the stick went away; waiting for it");
	/* A reset that got no answer backs off; an unplugged stick is looked for at once. */
	stick_schedule(a, 0);
}

static int on_hotplug(sd_device_monitor *mon, sd_device *d, void *userdata)
{
	struct ant *a = userdata;
	sd_device_action_t action;
	char id[10];

	(void)mon;
	if (a->fd >= 0 || a->state == ANT_OFF)
		return 0;
	if (sd_device_get_action(d, &action) < 0 || action != SD_DEVICE_ADD)
		return 0;
	if (a->auto_find && !usb_id_of(d, id))
		return 0;
	/* udev has run its rules (group cardiod, 0660) before it tells us. */
	log_debug("ANT: a tty appeared; looking for the stick.");
	a->stick_backoff_s = 0;
	stick_schedule(a, 100 * USEC_PER_MSEC);
	return 0;
}

static int hotplug_start(struct ant *a)
{
	int r;

	r = sd_device_monitor_new(&a->hotplug);
	if (r < 0)
		return r;
	r = sd_device_monitor_filter_add_match_subsystem_devtype(a->hotplug, "tty", NULL);
	if (r < 0)
		return r;
	r = sd_device_monitor_attach_event(a->hotplug, a->event);
	if (r < 0)
		return r;
	(void)sd_device_monitor_set_description(a->hotplug, "ant-hotplug");
	return sd_device_monitor_start(a->hotplug, on_hotplug, a);
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

static int strap_json(const struct strap *s, cJSON *o)
{
	cJSON *x = cJSON_AddObjectToObject(o, "ant");
	const char *maker = s->has_manufacturer ? manufacturer_name(s->manufacturer_id) : NULL;

	if (!x)
		return -ENOMEM;
	if (!add_u64(x, "device_number", s->number) ||
	    !cJSON_AddNumberToObject(x, "device_type", s->id.device_type & 0x7F) ||
	    !cJSON_AddNumberToObject(x, "transmission_type", s->id.trans_type) ||
	    !cJSON_AddStringToObject(x, "pages", cd_ant_hrm_mode_to_string(s->mode) ?: "unknown") ||
	    !(s->has_manufacturer ? cJSON_AddNumberToObject(x, "manufacturer_id", s->manufacturer_id)
				  : cJSON_AddNullToObject(x, "manufacturer_id")) ||
	    !(maker ? cJSON_AddStringToObject(x, "manufacturer", maker)
		    : cJSON_AddNullToObject(x, "manufacturer")) ||
	    !(s->has_manufacturer
		      ? add_u64(x, "serial_number", (uint64_t)s->serial_upper << 16 | (s->number & 0xFFFF))
		      : cJSON_AddNullToObject(x, "serial_number") != NULL) ||
	    !(s->has_product ? cJSON_AddNumberToObject(x, "model", s->model)
			     : cJSON_AddNullToObject(x, "model")) ||
	    !(s->has_product ? cJSON_AddNumberToObject(x, "hw_version", s->hw_version)
			     : cJSON_AddNullToObject(x, "hw_version")) ||
	    !(s->has_product ? cJSON_AddNumberToObject(x, "sw_version", s->sw_version)
			     : cJSON_AddNullToObject(x, "sw_version")) ||
	    !(s->has_battery && isfinite(s->battery_v)
		      ? cJSON_AddNumberToObject(x, "battery_v", s->battery_v)
		      : cJSON_AddNullToObject(x, "battery_v")) ||
	    !(s->has_battery ? cJSON_AddStringToObject(
				       x, "battery_status",
				       cd_ant_battery_status_to_string(s->battery_status) ?: "invalid")
			     : cJSON_AddNullToObject(x, "battery_status")) ||
	    !(s->has_operating_time ? add_u64(x, "operating_time_s", s->operating_time_s)
				    : cJSON_AddNullToObject(x, "operating_time_s") != NULL) ||
	    !(s->has_rssi ? cJSON_AddNumberToObject(x, "rssi_dbm", s->rssi_dbm)
			  : cJSON_AddNullToObject(x, "rssi_dbm")) ||
	    !add_u64(x, "messages", s->n_messages) || !add_u64(x, "missed_messages", s->n_missed) ||
	    !add_u64(x, "beats", s->n_beats) || !add_u64(x, "rr_intervals", s->n_rr) ||
	    !add_u64(x, "gap_beats", s->n_gap_beats) || !add_u64(x, "rx_fail", s->n_rx_fail))
		return -ENOMEM;
	return 0;
}

int ant_devices_json(struct ant *a, cJSON *devices)
{
	cJSON *o;

	cJSON_ArrayForEach(o, devices) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
		struct strap *s;
		char *end;
		unsigned long v;

		if (!id || strncmp(id, "ant-", 4) != 0)
			continue;
		errno = 0;
		v = strtoul(id + 4, &end, 10);
		if (errno || *end || v > 0xFFFFF)
			continue;
		s = strap_find(a, (uint32_t)v);
		if (s && strap_json(s, o) < 0)
			return -ENOMEM;
	}
	return 0;
}
