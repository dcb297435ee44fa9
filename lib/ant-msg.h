/* SPDX-License-Identifier: MIT */
/*
 * The ANT serial message protocol between the host and a USB ANT stick
 * (PROTOCOLS §3): framing, a streaming decoder, builders for the
 * host -> stick commands a receiver needs (§3.2) and parsers for the
 * stick -> host messages (§3.3, §3.4).
 *
 * Pure: works on caller-owned memory, allocates nothing, keeps no globals,
 * reads no clock and does no I/O.  Every function is safe on any input
 * bytes; nothing reads past the lengths it is given.
 *
 * The ANT+ network key is licensed (§3.7): it reaches
 * cd_ant_build_set_network_key() from configuration and is never part of
 * this code.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* §3.1 framing: SYNC, LEN, MSG ID, LEN payload bytes, XOR checksum. */
#define CD_ANT_SYNC	      0xA4
#define CD_ANT_FRAME_OVERHEAD 4 /* sync, length, message id, checksum */
/*
 * §3.1: the longest message a stick emits is 41 payload bytes (data with
 * every extended field).  The decoder rejects longer LEN values as noise
 * and the encoder refuses them, so what one writes the other reads.
 */
#define CD_ANT_MAX_PAYLOAD 41
#define CD_ANT_MAX_FRAME   (CD_ANT_MAX_PAYLOAD + CD_ANT_FRAME_OVERHEAD)

#define CD_ANT_NETWORK_KEY_SIZE 8 /* §3.2 Set Network Key */
#define CD_ANT_DATA_SIZE	8 /* §3.4 every data message carries 8 bytes */

/*
 * Message ids (§3.2, §3.3, §3.4).  Wire values, not a dense range, so no
 * _MAX; switches over a received id use uint8_t and a default.
 */
enum cd_ant_msg_id {
	CD_ANT_MSG_VERSION = 0x3E,	 /* stick: ASCII version string */
	CD_ANT_MSG_CHANNEL_EVENT = 0x40, /* stick: channel response or RF event */
	CD_ANT_MSG_UNASSIGN_CHANNEL = 0x41,
	CD_ANT_MSG_ASSIGN_CHANNEL = 0x42,
	CD_ANT_MSG_CHANNEL_PERIOD = 0x43,
	CD_ANT_MSG_SEARCH_TIMEOUT = 0x44, /* high-priority search timeout */
	CD_ANT_MSG_RF_FREQUENCY = 0x45,
	CD_ANT_MSG_NETWORK_KEY = 0x46,
	CD_ANT_MSG_RESET_SYSTEM = 0x4A,
	CD_ANT_MSG_OPEN_CHANNEL = 0x4B,
	CD_ANT_MSG_CLOSE_CHANNEL = 0x4C,
	CD_ANT_MSG_REQUEST = 0x4D,
	CD_ANT_MSG_BROADCAST_DATA = 0x4E,
	CD_ANT_MSG_ACKNOWLEDGED_DATA = 0x4F,
	CD_ANT_MSG_BURST_DATA = 0x50,
	CD_ANT_MSG_CHANNEL_ID = 0x51, /* host: set; stick: answer to a request */
	CD_ANT_MSG_CHANNEL_STATUS = 0x52,
	CD_ANT_MSG_CAPABILITIES = 0x54,
	CD_ANT_MSG_OPEN_RX_SCAN = 0x5B,
	CD_ANT_MSG_EXT_BROADCAST_DATA = 0x5D, /* legacy extended data (§3.4) */
	CD_ANT_MSG_EXT_ACKNOWLEDGED_DATA = 0x5E,
	CD_ANT_MSG_EXT_BURST_DATA = 0x5F,
	CD_ANT_MSG_SERIAL_NUMBER = 0x61,
	CD_ANT_MSG_LP_SEARCH_TIMEOUT = 0x63,
	CD_ANT_MSG_ENABLE_EXT_RX = 0x66,
	CD_ANT_MSG_LIB_CONFIG = 0x6E,
	CD_ANT_MSG_STARTUP = 0x6F,
	CD_ANT_MSG_SERIAL_ERROR = 0xAE,
};

/*
 * Channel response / event codes (§3.3), byte 2 of a 0x40 message.  Wire
 * values; no _MAX.
 */
enum cd_ant_code {
	CD_ANT_RESPONSE_NO_ERROR = 0x00,
	CD_ANT_EVENT_RX_SEARCH_TIMEOUT = 0x01,
	CD_ANT_EVENT_RX_FAIL = 0x02,
	CD_ANT_EVENT_TX = 0x03,
	CD_ANT_EVENT_TRANSFER_RX_FAILED = 0x04,
	CD_ANT_EVENT_TRANSFER_TX_COMPLETED = 0x05,
	CD_ANT_EVENT_TRANSFER_TX_FAILED = 0x06,
	CD_ANT_EVENT_CHANNEL_CLOSED = 0x07,
	CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH = 0x08,
	CD_ANT_EVENT_CHANNEL_COLLISION = 0x09,
	CD_ANT_EVENT_TRANSFER_TX_START = 0x0A,
	CD_ANT_CHANNEL_IN_WRONG_STATE = 0x15,
	CD_ANT_CHANNEL_NOT_OPENED = 0x16,
	CD_ANT_CHANNEL_ID_NOT_SET = 0x18,
	CD_ANT_CLOSE_ALL_CHANNELS = 0x19,
	CD_ANT_TRANSFER_IN_PROGRESS = 0x1F,
	CD_ANT_TRANSFER_SEQUENCE_NUMBER_ERROR = 0x20,
	CD_ANT_TRANSFER_IN_ERROR = 0x21,
	CD_ANT_MESSAGE_SIZE_EXCEEDS_LIMIT = 0x27,
	CD_ANT_INVALID_MESSAGE = 0x28,
	CD_ANT_INVALID_NETWORK_NUMBER = 0x29,
	CD_ANT_INVALID_LIST_ID = 0x30,
	CD_ANT_INVALID_SCAN_TX_CHANNEL = 0x31,
	CD_ANT_INVALID_PARAMETER_PROVIDED = 0x33,
	CD_ANT_EVENT_SERIAL_QUE_OVERFLOW = 0x34,
	CD_ANT_EVENT_QUE_OVERFLOW = 0x35,
};

/* §3.3: a 0x40 message whose message-id byte is 0x01 is an RF event. */
#define CD_ANT_MSG_ID_RF_EVENT 0x01

/* §3.2 Assign Channel, channel type byte (wire values). */
enum cd_ant_channel_type {
	CD_ANT_CHANNEL_TYPE_SLAVE = 0x00, /* bidirectional receive */
	CD_ANT_CHANNEL_TYPE_MASTER = 0x10,
	CD_ANT_CHANNEL_TYPE_SHARED_SLAVE = 0x20,
	CD_ANT_CHANNEL_TYPE_SHARED_MASTER = 0x30,
	CD_ANT_CHANNEL_TYPE_SLAVE_RX_ONLY = 0x40,
	CD_ANT_CHANNEL_TYPE_MASTER_TX_ONLY = 0x50,
};

/* §3.2 Assign Channel, extended assignment bits. */
#define CD_ANT_EXT_ASSIGN_BACKGROUND_SCAN   0x01
#define CD_ANT_EXT_ASSIGN_FREQUENCY_AGILITY 0x04

/* §3.2 search timeouts, units of 2.5 s. */
#define CD_ANT_SEARCH_TIMEOUT_DISABLED 0x00 /* high priority: off */
#define CD_ANT_SEARCH_TIMEOUT_INFINITE 0xFF

/*
 * §3.2 Lib Config bits, which are also the §3.4 flag byte of a flagged
 * extended data message: which fields follow the 8 data bytes, in this
 * order.
 */
#define CD_ANT_EXT_CHANNEL_ID 0x80 /* 4 bytes */
#define CD_ANT_EXT_RSSI	      0x40 /* 3 bytes */
#define CD_ANT_EXT_TIMESTAMP  0x20 /* 2 bytes */

/* §3.2 Set Channel ID: device type bit 7 is the pairing bit. */
#define CD_ANT_DEVICE_TYPE_PAIRING 0x80

/* §3.3 Startup message reason bits; 0x00 is a power-on reset. */
#define CD_ANT_STARTUP_POWER_ON	      0x00
#define CD_ANT_STARTUP_HARDWARE_RESET 0x01
#define CD_ANT_STARTUP_WATCHDOG_RESET 0x02
#define CD_ANT_STARTUP_COMMAND_RESET  0x20
#define CD_ANT_STARTUP_SYNC_RESET     0x40
#define CD_ANT_STARTUP_SUSPEND_RESET  0x80

/* §5.3 A9 capability bits (names from ant-arduino ANT_defines.h). */
#define CD_ANT_CAP_ADV_NETWORK	       0x02 /* advanced_options */
#define CD_ANT_CAP_ADV_SERIAL_NUMBER   0x08
#define CD_ANT_CAP_ADV_PER_CHANNEL_TX  0x10
#define CD_ANT_CAP_ADV_LOW_PRIO_SEARCH 0x20
#define CD_ANT_CAP_ADV_SEARCH_LIST     0x80
#define CD_ANT_CAP_ADV2_EXT_MESSAGES   0x02 /* advanced_options2 */
#define CD_ANT_CAP_ADV2_SCAN_MODE      0x04
#define CD_ANT_CAP_ADV2_PROX_SEARCH    0x10
#define CD_ANT_CAP_ADV2_EXT_ASSIGN     0x20

/* §3.3 Channel Status, bits 0-1 of the status byte. */
enum cd_ant_channel_state {
	CD_ANT_CHANNEL_STATE_UNASSIGNED = 0,
	CD_ANT_CHANNEL_STATE_ASSIGNED = 1,
	CD_ANT_CHANNEL_STATE_SEARCHING = 2,
	CD_ANT_CHANNEL_STATE_TRACKING = 3,
	_CD_ANT_CHANNEL_STATE_MAX,
	_CD_ANT_CHANNEL_STATE_INVALID = -EINVAL,
};

const char *cd_ant_channel_state_to_string(enum cd_ant_channel_state s);
/* Names of §3.3 codes and of message ids; NULL when unknown. */
const char *cd_ant_code_to_string(uint8_t code);
const char *cd_ant_msg_id_to_string(uint8_t id);

/* One encoded frame, ready to write to the stick. */
struct cd_ant_frame {
	size_t size; /* bytes used in data[] */
	uint8_t data[CD_ANT_MAX_FRAME];
};

/* One decoded message: id and payload, framing stripped. */
struct cd_ant_msg {
	uint8_t id;
	uint8_t len; /* payload bytes, 1..CD_ANT_MAX_PAYLOAD */
	uint8_t payload[CD_ANT_MAX_PAYLOAD];
};

/* §3.1: XOR of the bytes, starting at SYNC. */
uint8_t cd_ant_checksum(const uint8_t *p, size_t n);

/*
 * Encode id and len payload bytes into *ret.  Returns 0, or -EINVAL for id
 * 0x00 (§3.1: invalid), len 0 or len > CD_ANT_MAX_PAYLOAD, or payload NULL
 * with len > 0.  *ret is untouched on error.
 */
int cd_ant_frame_encode(uint8_t id, const uint8_t *payload, size_t len, struct cd_ant_frame *ret);

/*
 * Streaming decoder (§3.1).  Feed it the bytes read from the stick in
 * whatever chunks they came; it yields whole messages.  Resync rule: scan
 * for 0xA4, require 1 <= LEN <= CD_ANT_MAX_PAYLOAD and id != 0, wait for
 * LEN + 4 bytes, verify the XOR; on any failure drop one byte and rescan.
 * Memory is bounded by buf[]; the struct may live anywhere (no allocation,
 * nothing to free).  The counters are for diagnostics only.
 */
struct cd_ant_decoder {
	uint8_t buf[CD_ANT_MAX_FRAME]; /* private: a frame in progress */
	size_t n;		       /* private: bytes held in buf */
	uint64_t n_messages;	       /* messages yielded */
	uint64_t n_skipped;	       /* bytes discarded while looking for a frame */
	uint64_t n_bad_checksum;       /* complete candidate frames with a bad XOR */
};

void cd_ant_decoder_init(struct cd_ant_decoder *d);

/*
 * Consume bytes from *data (advancing *data and decreasing *size) until a
 * message is complete.  Returns 1 with the message in *ret (more may be
 * pending: call again, with *size possibly 0), 0 when every input byte has
 * been consumed without completing one (a partial frame stays buffered for
 * the next call), or -EINVAL for NULL arguments.  Typical use:
 *
 *	while ((r = cd_ant_decoder_feed(&d, &p, &n, &msg)) > 0)
 *		handle(&msg);
 */
int cd_ant_decoder_feed(struct cd_ant_decoder *d, const uint8_t **data, size_t *size,
			struct cd_ant_msg *ret);

/* Bytes held for an incomplete frame (always < CD_ANT_MAX_FRAME). */
size_t cd_ant_decoder_pending(const struct cd_ant_decoder *d);

/*
 * Channel ID (§3.2 0x51, §3.4 extended field 0x80).  device_number holds
 * the 20-bit number: the 16 wire bits plus bits 4-7 of trans_type as bits
 * 16-19 (§4.1 transmission-type bits; DESIGN §6 device ids).  trans_type
 * is kept exactly as on the wire, upper nibble included.
 */
struct cd_ant_channel_id {
	uint32_t device_number; /* 0 = wildcard when searching */
	uint8_t device_type;	/* bits 0-6 type, bit 7 pairing; 0 = wildcard */
	uint8_t trans_type;	/* 0 = wildcard */
};

/* The 20-bit device number from the 16 wire bits and the transmission type. */
static inline uint32_t cd_ant_device_number20(uint16_t number, uint8_t trans_type)
{
	return (uint32_t)number | (uint32_t)(trans_type >> 4) << 16;
}

/* Same sensor: number, type (pairing bit ignored) and transmission type. */
bool cd_ant_channel_id_equal(const struct cd_ant_channel_id *a, const struct cd_ant_channel_id *b);

/*
 * Builders for the §3.2 host -> stick commands.  Each fills *ret and
 * returns 0, or -EINVAL for a NULL pointer or a parameter the command
 * cannot carry (noted per function); *ret is untouched on error.
 */
int cd_ant_build_reset(struct cd_ant_frame *ret);
/* Request Message: msg_id e.g. CD_ANT_MSG_CAPABILITIES (channel 0), _CHANNEL_ID. */
int cd_ant_build_request(struct cd_ant_frame *ret, uint8_t channel, uint8_t msg_id);
/* The key is the caller's (configuration); never logged or kept here. */
int cd_ant_build_set_network_key(struct cd_ant_frame *ret, uint8_t network,
				 const uint8_t key[CD_ANT_NETWORK_KEY_SIZE]);
/* type: enum cd_ant_channel_type; -EINVAL for any other value. */
int cd_ant_build_assign_channel(struct cd_ant_frame *ret, uint8_t channel, uint8_t type,
				uint8_t network);
/* The 4-byte form with an extended assignment (CD_ANT_EXT_ASSIGN_*). */
int cd_ant_build_assign_channel_ext(struct cd_ant_frame *ret, uint8_t channel, uint8_t type,
				    uint8_t network, uint8_t ext_assign);
int cd_ant_build_unassign_channel(struct cd_ant_frame *ret, uint8_t channel);
/*
 * Writes the low 16 bits of id->device_number and id->trans_type as given.
 * -EINVAL when device_number needs more than 20 bits, or when its bits
 * 16-19 are non-zero and differ from the upper nibble of trans_type (they
 * travel there).
 */
int cd_ant_build_set_channel_id(struct cd_ant_frame *ret, uint8_t channel,
				const struct cd_ant_channel_id *id);
/* period in 1/32768 s (8070 for ANT+ HRM); -EINVAL for 0. */
int cd_ant_build_set_channel_period(struct cd_ant_frame *ret, uint8_t channel, uint16_t period);
/* frequency = 2400 + offset MHz (57 for ANT+). */
int cd_ant_build_set_rf_frequency(struct cd_ant_frame *ret, uint8_t channel, uint8_t offset);
/* High-priority search timeout, units of 2.5 s; 0 disables, 0xFF infinite. */
int cd_ant_build_set_search_timeout(struct cd_ant_frame *ret, uint8_t channel, uint8_t timeout);
/* Low-priority search timeout, units of 2.5 s; 0xFF = none. */
int cd_ant_build_set_lp_search_timeout(struct cd_ant_frame *ret, uint8_t channel, uint8_t timeout);
int cd_ant_build_enable_ext_rx(struct cd_ant_frame *ret, bool enable);
/* flags: CD_ANT_EXT_* or 0; -EINVAL for other bits. */
int cd_ant_build_lib_config(struct cd_ant_frame *ret, uint8_t flags);
int cd_ant_build_open_channel(struct cd_ant_frame *ret, uint8_t channel);
/*
 * Open Rx Scan Mode: sync_only false sends [0x00] (receive everything),
 * true sends [0x00, 0x01] (synchronous packets only, what openant sends).
 */
int cd_ant_build_open_rx_scan(struct cd_ant_frame *ret, bool sync_only);
int cd_ant_build_close_channel(struct cd_ant_frame *ret, uint8_t channel);

/*
 * Parsers.  Each returns 0, -ENOMSG when m is a different message, or
 * -EBADMSG when m is this message but too short for its fixed fields.
 * Bytes beyond the known fields are ignored.  *ret is untouched on error.
 */

/* §3.3 0x40: [channel, message id, code]. */
struct cd_ant_channel_event {
	uint8_t channel;
	uint8_t msg_id; /* the command answered, or CD_ANT_MSG_ID_RF_EVENT */
	uint8_t code;	/* enum cd_ant_code */
};

static inline bool cd_ant_channel_event_is_rf(const struct cd_ant_channel_event *e)
{
	return e->msg_id == CD_ANT_MSG_ID_RF_EVENT;
}

int cd_ant_parse_channel_event(const struct cd_ant_msg *m, struct cd_ant_channel_event *ret);

/* §3.3 0x6F: the reason byte (any value is a valid startup). */
int cd_ant_parse_startup(const struct cd_ant_msg *m, uint8_t *ret_reason);

/* §3.3 0x54: 6 to 8 bytes depending on the chip. */
struct cd_ant_capabilities {
	uint8_t max_channels;
	uint8_t max_networks;
	uint8_t standard_options;
	uint8_t advanced_options;  /* CD_ANT_CAP_ADV_* */
	uint8_t advanced_options2; /* CD_ANT_CAP_ADV2_* */
	uint8_t max_sensrcore_channels;
	uint8_t advanced_options3; /* 0 when absent */
	uint8_t advanced_options4; /* 0 when absent */
	uint8_t n_bytes;	   /* 6, 7 or 8: how many of the above were sent */
};

int cd_ant_parse_capabilities(const struct cd_ant_msg *m, struct cd_ant_capabilities *ret);

/* §3.3 0x52: [channel, status]. */
struct cd_ant_channel_status {
	uint8_t channel;
	uint8_t status; /* raw byte */
	enum cd_ant_channel_state state;
};

int cd_ant_parse_channel_status(const struct cd_ant_msg *m, struct cd_ant_channel_status *ret);

/* §3.3 0x51 (answer to a request): [channel, number LSB, MSB, type, trans]. */
int cd_ant_parse_channel_id(const struct cd_ant_msg *m, uint8_t *ret_channel,
			    struct cd_ant_channel_id *ret);

/* §3.3 0x61: 4 bytes little-endian. */
int cd_ant_parse_serial_number(const struct cd_ant_msg *m, uint32_t *ret);

/*
 * §3.3 0x3E: the ASCII string up to its NUL, bytes outside 0x20..0x7E
 * replaced by '?', always NUL-terminated in ret.
 */
int cd_ant_parse_version(const struct cd_ant_msg *m, char ret[CD_ANT_MAX_PAYLOAD + 1]);

/*
 * §3.4 data: broadcast 0x4E, acknowledged 0x4F, burst 0x50, standard
 * (LEN 9) or flagged extended (LEN >= 10: flag byte, then the channel ID,
 * RSSI and RX timestamp fields its bits announce, in that order), and the
 * legacy extended 0x5D/0x5E/0x5F [channel, channel ID, 8 data bytes].
 * -EBADMSG when the flag announces fields the message is too short for.
 */
struct cd_ant_data {
	uint8_t msg_id;	 /* as received */
	uint8_t channel; /* payload byte 0, raw */
	uint8_t data[CD_ANT_DATA_SIZE];
	uint8_t ext;		     /* CD_ANT_EXT_* fields present below */
	struct cd_ant_channel_id id; /* CD_ANT_EXT_CHANNEL_ID */
	uint8_t rssi_type;	     /* CD_ANT_EXT_RSSI: measurement type (0x20 = dBm) */
	int8_t rssi_dbm;
	int8_t rssi_threshold_dbm;
	uint16_t rx_timestamp; /* CD_ANT_EXT_TIMESTAMP: 1/32768 s, wraps every 2 s */
};

int cd_ant_parse_data(const struct cd_ant_msg *m, struct cd_ant_data *ret);
