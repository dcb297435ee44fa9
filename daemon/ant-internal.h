/* SPDX-License-Identifier: MIT */
/*
 * What ant.c (straps, and the glue of the channels) and ant-stick.c (the
 * stick: tty, framing, start-up chain, replug, the glue of the command
 * queue) share: the constants, struct ant with its straps and its
 * command/channel machine (ant-channels.h, pure), and the few functions
 * each half calls in the other.  Not for anyone else.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

#include "ant-admit.h"
#include "ant-channels.h"
#include "ant-hrm.h"
#include "ant.h"

#define ANT_VENDOR "0fcf"
/* §3.6: 0fcf:1004 is a real UART behind a CP210x: 115200 8N1 with RTS/CTS (GC). */
#define PRODUCT_USB1 "1004"
#define PRODUCT_USB2 "1008"
#define PRODUCT_USBM "1009"

/* §3.2: GC waits for the startup message (ANT_CMD_TIMEOUT_US here) and retries 3 times. */
#define RESET_TRIES 3U
/* Backoff of a path that cannot be opened, or of a stick that does not answer. */
#define STICK_BACKOFF_MIN_S 1U
#define STICK_BACKOFF_MAX_S 10U
/* Auto mode without udev events (containers): look again this often. */
#define RESCAN_US (10 * USEC_PER_SEC)
/* Once per second: straps silent for stale_after_s are disconnected. */
#define SWEEP_US (1 * USEC_PER_SEC)
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

struct ant;

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
	sd_event_source *timer;   /* wakes the command/channel machine: a timeout or a reopen */
	sd_event_source *sweep;
	sd_device_monitor *hotplug;
	unsigned stick_backoff_s;
	bool warned_open;

	struct cd_ant_decoder decoder;
	uint8_t wbuf[WBUF_SIZE];
	size_t wlen;

	unsigned reset_tries;

	bool have_caps;
	struct cd_ant_capabilities caps;
	bool ext;           /* extended messages (channel ID) on */
	bool force_channels; /* scan mode gave no channel IDs: channels until the stick goes */
	unsigned scan_identified, scan_unidentified;
	/* the command queue and the channels, scan mode or not (chans.scan) */
	struct ant_channels chans;

	struct strap *straps;
	struct cd_ant_admit unknown; /* unlisted numbers not yet straps (§9.7) */
	struct counters n;
};

/* ant.c: state, channels and straps */
void set_state(struct ant *a, enum ant_state s, const char *reason);
void start_reception(struct ant *a);
void straps_forget_link(struct ant *a);
void on_data(struct ant *a, const struct cd_ant_msg *m);
void on_rf_event(struct ant *a, const struct cd_ant_channel_event *e);

/* ant-stick.c: key, start-up, the tty, and the machine's transmit and timer */
int load_key(struct ant *a);
int stick_transmit(void *userdata, const uint8_t *frame, size_t len);
int on_channels_timer(sd_event_source *s, uint64_t usec, void *userdata);
void channels_rearm(struct ant *a);
void stick_init(struct ant *a);
int stick_open(struct ant *a);
void stick_schedule(struct ant *a, uint64_t delay_us);
int hotplug_start(struct ant *a);
