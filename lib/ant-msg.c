/* SPDX-License-Identifier: MIT */
/*
 * ANT serial message protocol (PROTOCOLS §3).  See ant.h.
 */
#include <string.h>

#include "ant-msg.h"

static const char *const channel_state_table[_CD_ANT_CHANNEL_STATE_MAX] = {
	[CD_ANT_CHANNEL_STATE_UNASSIGNED] = "unassigned",
	[CD_ANT_CHANNEL_STATE_ASSIGNED] = "assigned",
	[CD_ANT_CHANNEL_STATE_SEARCHING] = "searching",
	[CD_ANT_CHANNEL_STATE_TRACKING] = "tracking",
};

const char *cd_ant_channel_state_to_string(enum cd_ant_channel_state s)
{
	if (s < 0 || s >= _CD_ANT_CHANNEL_STATE_MAX)
		return NULL;
	return channel_state_table[s];
}

const char *cd_ant_code_to_string(uint8_t code)
{
	/* §3.3 code table. */
	switch (code) {
	case CD_ANT_RESPONSE_NO_ERROR:
		return "RESPONSE_NO_ERROR";
	case CD_ANT_EVENT_RX_SEARCH_TIMEOUT:
		return "EVENT_RX_SEARCH_TIMEOUT";
	case CD_ANT_EVENT_RX_FAIL:
		return "EVENT_RX_FAIL";
	case CD_ANT_EVENT_TX:
		return "EVENT_TX";
	case CD_ANT_EVENT_TRANSFER_RX_FAILED:
		return "EVENT_TRANSFER_RX_FAILED";
	case CD_ANT_EVENT_TRANSFER_TX_COMPLETED:
		return "EVENT_TRANSFER_TX_COMPLETED";
	case CD_ANT_EVENT_TRANSFER_TX_FAILED:
		return "EVENT_TRANSFER_TX_FAILED";
	case CD_ANT_EVENT_CHANNEL_CLOSED:
		return "EVENT_CHANNEL_CLOSED";
	case CD_ANT_EVENT_RX_FAIL_GO_TO_SEARCH:
		return "EVENT_RX_FAIL_GO_TO_SEARCH";
	case CD_ANT_EVENT_CHANNEL_COLLISION:
		return "EVENT_CHANNEL_COLLISION";
	case CD_ANT_EVENT_TRANSFER_TX_START:
		return "EVENT_TRANSFER_TX_START";
	case CD_ANT_CHANNEL_IN_WRONG_STATE:
		return "CHANNEL_IN_WRONG_STATE";
	case CD_ANT_CHANNEL_NOT_OPENED:
		return "CHANNEL_NOT_OPENED";
	case CD_ANT_CHANNEL_ID_NOT_SET:
		return "CHANNEL_ID_NOT_SET";
	case CD_ANT_CLOSE_ALL_CHANNELS:
		return "CLOSE_ALL_CHANNELS";
	case CD_ANT_TRANSFER_IN_PROGRESS:
		return "TRANSFER_IN_PROGRESS";
	case CD_ANT_TRANSFER_SEQUENCE_NUMBER_ERROR:
		return "TRANSFER_SEQUENCE_NUMBER_ERROR";
	case CD_ANT_TRANSFER_IN_ERROR:
		return "TRANSFER_IN_ERROR";
	case CD_ANT_MESSAGE_SIZE_EXCEEDS_LIMIT:
		return "MESSAGE_SIZE_EXCEEDS_LIMIT";
	case CD_ANT_INVALID_MESSAGE:
		return "INVALID_MESSAGE";
	case CD_ANT_INVALID_NETWORK_NUMBER:
		return "INVALID_NETWORK_NUMBER";
	case CD_ANT_INVALID_LIST_ID:
		return "INVALID_LIST_ID";
	case CD_ANT_INVALID_SCAN_TX_CHANNEL:
		return "INVALID_SCAN_TX_CHANNEL";
	case CD_ANT_INVALID_PARAMETER_PROVIDED:
		return "INVALID_PARAMETER_PROVIDED";
	case CD_ANT_EVENT_SERIAL_QUE_OVERFLOW:
		return "EVENT_SERIAL_QUE_OVERFLOW";
	case CD_ANT_EVENT_QUE_OVERFLOW:
		return "EVENT_QUE_OVERFLOW";
	default:
		return NULL;
	}
}

const char *cd_ant_msg_id_to_string(uint8_t id)
{
	switch (id) {
	case CD_ANT_MSG_VERSION:
		return "ANT_VERSION";
	case CD_ANT_MSG_CHANNEL_EVENT:
		return "CHANNEL_EVENT";
	case CD_ANT_MSG_UNASSIGN_CHANNEL:
		return "UNASSIGN_CHANNEL";
	case CD_ANT_MSG_ASSIGN_CHANNEL:
		return "ASSIGN_CHANNEL";
	case CD_ANT_MSG_CHANNEL_PERIOD:
		return "CHANNEL_PERIOD";
	case CD_ANT_MSG_SEARCH_TIMEOUT:
		return "SEARCH_TIMEOUT";
	case CD_ANT_MSG_RF_FREQUENCY:
		return "RF_FREQUENCY";
	case CD_ANT_MSG_NETWORK_KEY:
		return "SET_NETWORK_KEY";
	case CD_ANT_MSG_RESET_SYSTEM:
		return "RESET_SYSTEM";
	case CD_ANT_MSG_OPEN_CHANNEL:
		return "OPEN_CHANNEL";
	case CD_ANT_MSG_CLOSE_CHANNEL:
		return "CLOSE_CHANNEL";
	case CD_ANT_MSG_REQUEST:
		return "REQUEST_MESSAGE";
	case CD_ANT_MSG_BROADCAST_DATA:
		return "BROADCAST_DATA";
	case CD_ANT_MSG_ACKNOWLEDGED_DATA:
		return "ACKNOWLEDGED_DATA";
	case CD_ANT_MSG_BURST_DATA:
		return "BURST_DATA";
	case CD_ANT_MSG_CHANNEL_ID:
		return "CHANNEL_ID";
	case CD_ANT_MSG_CHANNEL_STATUS:
		return "CHANNEL_STATUS";
	case CD_ANT_MSG_CAPABILITIES:
		return "CAPABILITIES";
	case CD_ANT_MSG_OPEN_RX_SCAN:
		return "OPEN_RX_SCAN_MODE";
	case CD_ANT_MSG_EXT_BROADCAST_DATA:
		return "EXT_BROADCAST_DATA";
	case CD_ANT_MSG_EXT_ACKNOWLEDGED_DATA:
		return "EXT_ACKNOWLEDGED_DATA";
	case CD_ANT_MSG_EXT_BURST_DATA:
		return "EXT_BURST_DATA";
	case CD_ANT_MSG_SERIAL_NUMBER:
		return "SERIAL_NUMBER";
	case CD_ANT_MSG_LP_SEARCH_TIMEOUT:
		return "LP_SEARCH_TIMEOUT";
	case CD_ANT_MSG_ENABLE_EXT_RX:
		return "ENABLE_EXT_RX_MESSAGES";
	case CD_ANT_MSG_LIB_CONFIG:
		return "LIB_CONFIG";
	case CD_ANT_MSG_STARTUP:
		return "STARTUP";
	case CD_ANT_MSG_SERIAL_ERROR:
		return "SERIAL_ERROR";
	default:
		return NULL;
	}
}

uint8_t cd_ant_checksum(const uint8_t *p, size_t n)
{
	uint8_t x = 0;

	for (size_t i = 0; i < n; i++)
		x ^= p[i];
	return x;
}

int cd_ant_frame_encode(uint8_t id, const uint8_t *payload, size_t len, struct cd_ant_frame *ret)
{
	struct cd_ant_frame f;

	/* §3.1: id 0x00 is invalid; LEN counts the payload only. */
	if (!ret || id == 0 || len == 0 || len > CD_ANT_MAX_PAYLOAD || !payload)
		return -EINVAL;

	f.data[0] = CD_ANT_SYNC;
	f.data[1] = (uint8_t)len;
	f.data[2] = id;
	memcpy(f.data + 3, payload, len);
	/* §3.1: the XOR covers SYNC, LEN and ID too. */
	f.data[3 + len] = cd_ant_checksum(f.data, 3 + len);
	f.size = len + CD_ANT_FRAME_OVERHEAD;

	*ret = f;
	return 0;
}

void cd_ant_decoder_init(struct cd_ant_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

size_t cd_ant_decoder_pending(const struct cd_ant_decoder *d)
{
	return d->n;
}

/* decoder_extract() waits for at most LEN + 4 bytes: they must fit. */
_Static_assert(sizeof(((struct cd_ant_decoder *)0)->buf) >= CD_ANT_MAX_FRAME,
	       "decoder buffer smaller than the largest frame");

static void decoder_drop(struct cd_ant_decoder *d, size_t k)
{
	memmove(d->buf, d->buf + k, d->n - k);
	d->n -= k;
}

/*
 * Take one message out of d->buf if one is complete there.  Returns 1 with
 * *ret filled, 0 when more bytes are needed.  The resync rule of §3.1:
 * find 0xA4, check LEN, wait for LEN + 4 bytes, check the XOR; any failure
 * drops one byte (the sync candidate) and scans again, so a real frame that
 * starts inside a rejected candidate is still found.
 */
static int decoder_extract(struct cd_ant_decoder *d, struct cd_ant_msg *ret)
{
	for (;;) {
		size_t skip = 0, need;
		uint8_t len;

		while (skip < d->n && d->buf[skip] != CD_ANT_SYNC)
			skip++;
		if (skip > 0) {
			d->n_skipped += skip;
			decoder_drop(d, skip);
		}

		if (d->n < 2)
			return 0;
		len = d->buf[1];
		if (len == 0 || len > CD_ANT_MAX_PAYLOAD) {
			d->n_skipped++;
			decoder_drop(d, 1);
			continue;
		}

		if (d->n < 3)
			return 0;
		if (d->buf[2] == 0) { /* §3.1: message id 0x00 is invalid */
			d->n_skipped++;
			decoder_drop(d, 1);
			continue;
		}

		need = (size_t)len + CD_ANT_FRAME_OVERHEAD;
		if (d->n < need)
			return 0;
		if (cd_ant_checksum(d->buf, need - 1) != d->buf[need - 1]) {
			d->n_bad_checksum++;
			d->n_skipped++;
			decoder_drop(d, 1);
			continue;
		}

		ret->id = d->buf[2];
		ret->len = len;
		memcpy(ret->payload, d->buf + 3, len);
		decoder_drop(d, need);
		d->n_messages++;
		return 1;
	}
}

int cd_ant_decoder_feed(struct cd_ant_decoder *d, const uint8_t **data, size_t *size,
			struct cd_ant_msg *ret)
{
	if (!d || !data || !size || !ret || (!*data && *size > 0))
		return -EINVAL;

	for (;;) {
		size_t take;

		if (decoder_extract(d, ret) > 0)
			return 1;
		if (*size == 0)
			return 0;

		/*
		 * Nothing buffered: skip noise in place rather than copying it.
		 * decoder_extract() returns 0 only while d->n < LEN + 4 <=
		 * sizeof(buf), so there is always room for at least one byte.
		 */
		if (d->n == 0) {
			const uint8_t *sync = memchr(*data, CD_ANT_SYNC, *size);
			size_t skip = sync ? (size_t)(sync - *data) : *size;

			d->n_skipped += skip;
			*data += skip;
			*size -= skip;
			if (*size == 0)
				return 0;
		}

		take = sizeof(d->buf) - d->n;
		if (take > *size)
			take = *size;
		memcpy(d->buf + d->n, *data, take);
		d->n += take;
		*data += take;
		*size -= take;
	}
}

bool cd_ant_channel_id_equal(const struct cd_ant_channel_id *a, const struct cd_ant_channel_id *b)
{
	return a->device_number == b->device_number &&
	       (a->device_type & ~CD_ANT_DEVICE_TYPE_PAIRING) ==
		       (b->device_type & ~CD_ANT_DEVICE_TYPE_PAIRING) &&
	       a->trans_type == b->trans_type;
}

/* Builders: §3.2 payload layouts, byte 0 first; "filler" is 0x00. */

int cd_ant_build_reset(struct cd_ant_frame *ret)
{
	const uint8_t p[] = {0x00}; /* filler */

	return cd_ant_frame_encode(CD_ANT_MSG_RESET_SYSTEM, p, sizeof(p), ret);
}

int cd_ant_build_request(struct cd_ant_frame *ret, uint8_t channel, uint8_t msg_id)
{
	const uint8_t p[] = {channel, msg_id};

	if (msg_id == 0)
		return -EINVAL;
	return cd_ant_frame_encode(CD_ANT_MSG_REQUEST, p, sizeof(p), ret);
}

int cd_ant_build_set_network_key(struct cd_ant_frame *ret, uint8_t network,
				 const uint8_t key[CD_ANT_NETWORK_KEY_SIZE])
{
	/*
	 * [network number, 8 key bytes].  Built in place so that no copy of the
	 * licensed key (§3.7) is left behind on the stack.
	 */
	if (!ret || !key)
		return -EINVAL;
	ret->data[0] = CD_ANT_SYNC;
	ret->data[1] = 1 + CD_ANT_NETWORK_KEY_SIZE;
	ret->data[2] = CD_ANT_MSG_NETWORK_KEY;
	ret->data[3] = network;
	memcpy(ret->data + 4, key, CD_ANT_NETWORK_KEY_SIZE);
	ret->data[4 + CD_ANT_NETWORK_KEY_SIZE] =
		cd_ant_checksum(ret->data, 4 + CD_ANT_NETWORK_KEY_SIZE);
	ret->size = 1 + CD_ANT_NETWORK_KEY_SIZE + CD_ANT_FRAME_OVERHEAD;
	return 0;
}

static bool channel_type_is_valid(uint8_t type)
{
	switch (type) {
	case CD_ANT_CHANNEL_TYPE_SLAVE:
	case CD_ANT_CHANNEL_TYPE_MASTER:
	case CD_ANT_CHANNEL_TYPE_SHARED_SLAVE:
	case CD_ANT_CHANNEL_TYPE_SHARED_MASTER:
	case CD_ANT_CHANNEL_TYPE_SLAVE_RX_ONLY:
	case CD_ANT_CHANNEL_TYPE_MASTER_TX_ONLY:
		return true;
	default:
		return false;
	}
}

int cd_ant_build_assign_channel(struct cd_ant_frame *ret, uint8_t channel, uint8_t type,
				uint8_t network)
{
	const uint8_t p[] = {channel, type, network};

	if (!channel_type_is_valid(type))
		return -EINVAL;
	return cd_ant_frame_encode(CD_ANT_MSG_ASSIGN_CHANNEL, p, sizeof(p), ret);
}

int cd_ant_build_assign_channel_ext(struct cd_ant_frame *ret, uint8_t channel, uint8_t type,
				    uint8_t network, uint8_t ext_assign)
{
	const uint8_t p[] = {channel, type, network, ext_assign};

	if (!channel_type_is_valid(type))
		return -EINVAL;
	return cd_ant_frame_encode(CD_ANT_MSG_ASSIGN_CHANNEL, p, sizeof(p), ret);
}

int cd_ant_build_unassign_channel(struct cd_ant_frame *ret, uint8_t channel)
{
	const uint8_t p[] = {channel};

	return cd_ant_frame_encode(CD_ANT_MSG_UNASSIGN_CHANNEL, p, sizeof(p), ret);
}

int cd_ant_build_set_channel_id(struct cd_ant_frame *ret, uint8_t channel,
				const struct cd_ant_channel_id *id)
{
	uint8_t p[5];
	uint32_t ext;

	if (!id || id->device_number > 0xFFFFF)
		return -EINVAL;
	/* §4.1: bits 16-19 of the number ride in bits 4-7 of the transmission type. */
	ext = id->device_number >> 16;
	if (ext != 0 && ext != (uint32_t)(id->trans_type >> 4))
		return -EINVAL;

	p[0] = channel;
	p[1] = (uint8_t)(id->device_number & 0xFF);
	p[2] = (uint8_t)(id->device_number >> 8 & 0xFF);
	p[3] = id->device_type;
	p[4] = id->trans_type;
	return cd_ant_frame_encode(CD_ANT_MSG_CHANNEL_ID, p, sizeof(p), ret);
}

int cd_ant_build_set_channel_period(struct cd_ant_frame *ret, uint8_t channel, uint16_t period)
{
	/* §3.2: message rate = 32768 / period Hz, so 0 means nothing. */
	const uint8_t p[] = {channel, (uint8_t)(period & 0xFF), (uint8_t)(period >> 8)};

	if (period == 0)
		return -EINVAL;
	return cd_ant_frame_encode(CD_ANT_MSG_CHANNEL_PERIOD, p, sizeof(p), ret);
}

int cd_ant_build_set_rf_frequency(struct cd_ant_frame *ret, uint8_t channel, uint8_t offset)
{
	const uint8_t p[] = {channel, offset};

	return cd_ant_frame_encode(CD_ANT_MSG_RF_FREQUENCY, p, sizeof(p), ret);
}

int cd_ant_build_set_search_timeout(struct cd_ant_frame *ret, uint8_t channel, uint8_t timeout)
{
	const uint8_t p[] = {channel, timeout};

	return cd_ant_frame_encode(CD_ANT_MSG_SEARCH_TIMEOUT, p, sizeof(p), ret);
}

int cd_ant_build_set_lp_search_timeout(struct cd_ant_frame *ret, uint8_t channel, uint8_t timeout)
{
	const uint8_t p[] = {channel, timeout};

	return cd_ant_frame_encode(CD_ANT_MSG_LP_SEARCH_TIMEOUT, p, sizeof(p), ret);
}

int cd_ant_build_enable_ext_rx(struct cd_ant_frame *ret, bool enable)
{
	const uint8_t p[] = {0x00, enable ? 0x01 : 0x00}; /* filler, 0/1 */

	return cd_ant_frame_encode(CD_ANT_MSG_ENABLE_EXT_RX, p, sizeof(p), ret);
}

int cd_ant_build_lib_config(struct cd_ant_frame *ret, uint8_t flags)
{
	const uint8_t p[] = {0x00, flags}; /* filler, bitmask */

	if (flags & ~(CD_ANT_EXT_CHANNEL_ID | CD_ANT_EXT_RSSI | CD_ANT_EXT_TIMESTAMP))
		return -EINVAL;
	return cd_ant_frame_encode(CD_ANT_MSG_LIB_CONFIG, p, sizeof(p), ret);
}

int cd_ant_build_open_channel(struct cd_ant_frame *ret, uint8_t channel)
{
	const uint8_t p[] = {channel};

	return cd_ant_frame_encode(CD_ANT_MSG_OPEN_CHANNEL, p, sizeof(p), ret);
}

int cd_ant_build_open_rx_scan(struct cd_ant_frame *ret, bool sync_only)
{
	/* §3.2: [filler] or [filler, sync-channel-packets-only]. */
	const uint8_t p[] = {0x00, 0x01};

	return cd_ant_frame_encode(CD_ANT_MSG_OPEN_RX_SCAN, p, sync_only ? 2 : 1, ret);
}

int cd_ant_build_close_channel(struct cd_ant_frame *ret, uint8_t channel)
{
	const uint8_t p[] = {channel};

	return cd_ant_frame_encode(CD_ANT_MSG_CLOSE_CHANNEL, p, sizeof(p), ret);
}

/* Parsers. */

static int check_msg(const struct cd_ant_msg *m, const void *ret, uint8_t id, size_t min_len)
{
	if (!m || !ret)
		return -EINVAL;
	if (m->id != id)
		return -ENOMSG;
	if (m->len < min_len || m->len > CD_ANT_MAX_PAYLOAD)
		return -EBADMSG;
	return 0;
}

int cd_ant_parse_channel_event(const struct cd_ant_msg *m, struct cd_ant_channel_event *ret)
{
	int r = check_msg(m, ret, CD_ANT_MSG_CHANNEL_EVENT, 3);

	if (r < 0)
		return r;
	/* §3.3: [channel, message-id, code]; message-id 0x01 = RF event. */
	*ret = (struct cd_ant_channel_event){
		.channel = m->payload[0],
		.msg_id = m->payload[1],
		.code = m->payload[2],
	};
	return 0;
}

int cd_ant_parse_startup(const struct cd_ant_msg *m, uint8_t *ret_reason)
{
	int r = check_msg(m, ret_reason, CD_ANT_MSG_STARTUP, 1);

	if (r < 0)
		return r;
	*ret_reason = m->payload[0];
	return 0;
}

int cd_ant_parse_capabilities(const struct cd_ant_msg *m, struct cd_ant_capabilities *ret)
{
	int r = check_msg(m, ret, CD_ANT_MSG_CAPABILITIES, 6);
	const uint8_t *p;

	if (r < 0)
		return r;
	p = m->payload;
	/* §3.3: 6 to 8 bytes by chip; the optional ones read as 0. */
	*ret = (struct cd_ant_capabilities){
		.max_channels = p[0],
		.max_networks = p[1],
		.standard_options = p[2],
		.advanced_options = p[3],
		.advanced_options2 = p[4],
		.max_sensrcore_channels = p[5],
		.advanced_options3 = m->len > 6 ? p[6] : 0,
		.advanced_options4 = m->len > 7 ? p[7] : 0,
		.n_bytes = m->len > 8 ? 8 : m->len,
	};
	return 0;
}

int cd_ant_parse_channel_status(const struct cd_ant_msg *m, struct cd_ant_channel_status *ret)
{
	int r = check_msg(m, ret, CD_ANT_MSG_CHANNEL_STATUS, 2);

	if (r < 0)
		return r;
	/* §3.3: bits 0-1 = 0 unassigned, 1 assigned, 2 searching, 3 tracking. */
	*ret = (struct cd_ant_channel_status){
		.channel = m->payload[0],
		.status = m->payload[1],
		.state = (enum cd_ant_channel_state)(m->payload[1] & 0x03),
	};
	return 0;
}

static void read_channel_id(const uint8_t p[4], struct cd_ant_channel_id *ret)
{
	/* §3.2 / §3.4: number LSB, MSB, device type, transmission type. */
	uint16_t number = (uint16_t)(p[0] | p[1] << 8);

	*ret = (struct cd_ant_channel_id){
		.device_number = cd_ant_device_number20(number, p[3]),
		.device_type = p[2],
		.trans_type = p[3],
	};
}

int cd_ant_parse_channel_id(const struct cd_ant_msg *m, uint8_t *ret_channel,
			    struct cd_ant_channel_id *ret)
{
	int r = check_msg(m, ret, CD_ANT_MSG_CHANNEL_ID, 5);

	if (r < 0)
		return r;
	if (!ret_channel)
		return -EINVAL;
	*ret_channel = m->payload[0];
	read_channel_id(m->payload + 1, ret);
	return 0;
}

int cd_ant_parse_serial_number(const struct cd_ant_msg *m, uint32_t *ret)
{
	int r = check_msg(m, ret, CD_ANT_MSG_SERIAL_NUMBER, 4);
	const uint8_t *p;

	if (r < 0)
		return r;
	p = m->payload;
	*ret = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 0;
}

int cd_ant_parse_version(const struct cd_ant_msg *m, char ret[CD_ANT_MAX_PAYLOAD + 1])
{
	int r = check_msg(m, ret, CD_ANT_MSG_VERSION, 1);
	size_t i;

	if (r < 0)
		return r;
	for (i = 0; i < m->len && m->payload[i] != 0; i++) {
		uint8_t c = m->payload[i];

		ret[i] = c >= 0x20 && c <= 0x7E ? (char)c : '?';
	}
	ret[i] = '\0';
	return 0;
}

int cd_ant_parse_data(const struct cd_ant_msg *m, struct cd_ant_data *ret)
{
	struct cd_ant_data d = {0};
	const uint8_t *p;
	size_t need;

	if (!m || !ret)
		return -EINVAL;
	if (m->len > CD_ANT_MAX_PAYLOAD)
		return -EBADMSG;
	p = m->payload;
	d.msg_id = m->id;

	switch (m->id) {
	case CD_ANT_MSG_BROADCAST_DATA:
	case CD_ANT_MSG_ACKNOWLEDGED_DATA:
	case CD_ANT_MSG_BURST_DATA:
		/* §3.4: [channel, d0..d7] and, when flagged, [FLAG, fields...]. */
		if (m->len < 1 + CD_ANT_DATA_SIZE)
			return -EBADMSG;
		d.channel = p[0];
		memcpy(d.data, p + 1, CD_ANT_DATA_SIZE);
		if (m->len == 1 + CD_ANT_DATA_SIZE)
			break;

		d.ext = p[1 + CD_ANT_DATA_SIZE];
		need = 2 + CD_ANT_DATA_SIZE;
		if (d.ext & CD_ANT_EXT_CHANNEL_ID)
			need += 4;
		if (d.ext & CD_ANT_EXT_RSSI)
			need += 3;
		if (d.ext & CD_ANT_EXT_TIMESTAMP)
			need += 2;
		if (m->len < need)
			return -EBADMSG;
		/* Unknown flag bits announce nothing we read; keep only ours. */
		d.ext &= CD_ANT_EXT_CHANNEL_ID | CD_ANT_EXT_RSSI | CD_ANT_EXT_TIMESTAMP;

		p += 2 + CD_ANT_DATA_SIZE;
		/* §3.4: fields appear in flag-bit order 0x80, 0x40, 0x20. */
		if (d.ext & CD_ANT_EXT_CHANNEL_ID) {
			read_channel_id(p, &d.id);
			p += 4;
		}
		if (d.ext & CD_ANT_EXT_RSSI) {
			d.rssi_type = p[0];
			d.rssi_dbm = (int8_t)p[1];
			d.rssi_threshold_dbm = (int8_t)p[2];
			p += 3;
		}
		if (d.ext & CD_ANT_EXT_TIMESTAMP)
			d.rx_timestamp = (uint16_t)(p[0] | p[1] << 8);
		break;

	case CD_ANT_MSG_EXT_BROADCAST_DATA:
	case CD_ANT_MSG_EXT_ACKNOWLEDGED_DATA:
	case CD_ANT_MSG_EXT_BURST_DATA:
		/* §3.4 legacy: [channel, number LSB, MSB, type, trans, d0..d7], LEN 13. */
		if (m->len < 5 + CD_ANT_DATA_SIZE)
			return -EBADMSG;
		d.channel = p[0];
		read_channel_id(p + 1, &d.id);
		d.ext = CD_ANT_EXT_CHANNEL_ID;
		memcpy(d.data, p + 5, CD_ANT_DATA_SIZE);
		break;

	default:
		return -ENOMSG;
	}

	*ret = d;
	return 0;
}
