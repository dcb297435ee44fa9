/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the ANT streaming decoder and message parsers
 * (lib/ant-msg.h).
 *
 * Input: 4 bytes seeding the chunk splitter, then the byte stream.  The
 * stream is decoded twice, whole and in pseudo-random chunks (empty ones
 * included); both runs must yield the same messages and end in the same
 * state.  Every input byte must be accounted for (skipped, in a message,
 * or pending), every message must be a well-formed frame found verbatim in
 * the input that re-encodes to itself, and every parser must hold its
 * contract on it.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ant-msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr);                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define STREAM_MAX 4096
/* A frame is at least 5 bytes. */
#define MSGS_MAX (STREAM_MAX / 5 + 1)

static struct cd_ant_msg whole[MSGS_MAX];

static void check_parsers(const struct cd_ant_msg *m)
{
	struct cd_ant_channel_event e;
	struct cd_ant_capabilities caps;
	struct cd_ant_channel_status st;
	struct cd_ant_channel_id id;
	struct cd_ant_data d;
	char version[CD_ANT_MAX_PAYLOAD + 1];
	uint32_t serial;
	uint8_t u8;
	int r;

	r = cd_ant_parse_channel_event(m, &e);
	FUZZ_ASSERT(r == 0 || r == -ENOMSG || r == -EBADMSG);
	FUZZ_ASSERT((r == -ENOMSG) == (m->id != CD_ANT_MSG_CHANNEL_EVENT));
	if (r == 0)
		FUZZ_ASSERT(cd_ant_channel_event_is_rf(&e) == (m->payload[1] == 0x01));

	r = cd_ant_parse_startup(m, &u8);
	FUZZ_ASSERT(r == 0 || r == -ENOMSG);
	FUZZ_ASSERT((r == 0) == (m->id == CD_ANT_MSG_STARTUP));

	r = cd_ant_parse_capabilities(m, &caps);
	FUZZ_ASSERT(r == 0 || r == -ENOMSG || r == -EBADMSG);
	if (r == 0)
		FUZZ_ASSERT(caps.n_bytes >= 6 && caps.n_bytes <= 8);

	r = cd_ant_parse_channel_status(m, &st);
	FUZZ_ASSERT(r == 0 || r == -ENOMSG || r == -EBADMSG);
	if (r == 0)
		FUZZ_ASSERT(st.state >= 0 && st.state < _CD_ANT_CHANNEL_STATE_MAX &&
			    cd_ant_channel_state_to_string(st.state));

	r = cd_ant_parse_channel_id(m, &u8, &id);
	FUZZ_ASSERT(r == 0 || r == -ENOMSG || r == -EBADMSG);
	if (r == 0)
		FUZZ_ASSERT(id.device_number <= 0xFFFFF);

	r = cd_ant_parse_serial_number(m, &serial);
	FUZZ_ASSERT(r == 0 || r == -ENOMSG || r == -EBADMSG);

	r = cd_ant_parse_version(m, version);
	FUZZ_ASSERT(r == 0 || r == -ENOMSG);
	if (r == 0) {
		size_t n = strlen(version);

		FUZZ_ASSERT(n <= m->len);
		for (size_t i = 0; i < n; i++)
			FUZZ_ASSERT(version[i] >= 0x20 && version[i] <= 0x7E);
	}

	r = cd_ant_parse_data(m, &d);
	FUZZ_ASSERT(r == 0 || r == -ENOMSG || r == -EBADMSG);
	if (r == 0) {
		struct cd_ant_frame f;

		FUZZ_ASSERT(d.msg_id == m->id);
		FUZZ_ASSERT((d.ext & ~(CD_ANT_EXT_CHANNEL_ID | CD_ANT_EXT_RSSI |
				       CD_ANT_EXT_TIMESTAMP)) == 0);
		FUZZ_ASSERT(m->len >= 1 + CD_ANT_DATA_SIZE);
		if (m->id >= CD_ANT_MSG_EXT_BROADCAST_DATA) {
			FUZZ_ASSERT(d.ext == CD_ANT_EXT_CHANNEL_ID);
			FUZZ_ASSERT(memcmp(d.data, m->payload + 5, CD_ANT_DATA_SIZE) == 0);
		} else {
			FUZZ_ASSERT(memcmp(d.data, m->payload + 1, CD_ANT_DATA_SIZE) == 0);
		}
		if (d.ext & CD_ANT_EXT_CHANNEL_ID) {
			FUZZ_ASSERT(d.id.device_number <= 0xFFFFF);
			FUZZ_ASSERT(d.id.device_number >> 16 == (uint32_t)(d.id.trans_type >> 4));
			/* Pinning the sender sends its four ID bytes back unchanged. */
			FUZZ_ASSERT(cd_ant_build_set_channel_id(&f, d.channel, &d.id) == 0);
			FUZZ_ASSERT(cd_ant_channel_id_equal(&d.id, &d.id));
		} else {
			FUZZ_ASSERT(d.id.device_number == 0 && d.id.trans_type == 0);
		}
	}

	FUZZ_ASSERT(cd_ant_msg_id_to_string(m->id) == NULL ||
		    cd_ant_msg_id_to_string(m->id)[0] != '\0');
	FUZZ_ASSERT(m->len < 3 || cd_ant_code_to_string(m->payload[2]) == NULL ||
		    cd_ant_code_to_string(m->payload[2])[0] != '\0');
}

/* First position >= from where needle occurs, or SIZE_MAX. */
static size_t find_from(const uint8_t *hay, size_t n, size_t from, const uint8_t *needle, size_t k)
{
	for (size_t i = from; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return i;
	return SIZE_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cd_ant_decoder d1, d2;
	const uint8_t *stream, *p;
	size_t n_stream, n, n_whole = 0, n_split = 0, framed = 0, pos = 0;
	uint32_t seed;
	struct cd_ant_msg m;
	int r;

	if (size < 4 || size > 4 + STREAM_MAX)
		return 0;
	seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	       (uint32_t)data[3] << 24;
	stream = data + 4;
	n_stream = size - 4;

	/* Whole buffer at once. */
	cd_ant_decoder_init(&d1);
	p = stream;
	n = n_stream;
	while ((r = cd_ant_decoder_feed(&d1, &p, &n, &m)) > 0) {
		struct cd_ant_frame f;
		struct cd_ant_msg back;
		const uint8_t *q;
		size_t qn;
		struct cd_ant_decoder d3;

		FUZZ_ASSERT(n_whole < MSGS_MAX);
		FUZZ_ASSERT(m.len >= 1 && m.len <= CD_ANT_MAX_PAYLOAD && m.id != 0);
		FUZZ_ASSERT(cd_ant_decoder_pending(&d1) < CD_ANT_MAX_FRAME);
		whole[n_whole++] = m;
		framed += (size_t)m.len + CD_ANT_FRAME_OVERHEAD;

		/*
		 * Re-encoding gives a frame present verbatim in the input, after
		 * the previous one (frames come out in order, never overlapping)...
		 */
		FUZZ_ASSERT(cd_ant_frame_encode(m.id, m.payload, m.len, &f) == 0);
		FUZZ_ASSERT(f.size == (size_t)m.len + CD_ANT_FRAME_OVERHEAD);
		pos = find_from(stream, n_stream, pos, f.data, f.size);
		FUZZ_ASSERT(pos != SIZE_MAX);
		pos += f.size;
		/* ... which decodes, alone, to the same message. */
		cd_ant_decoder_init(&d3);
		q = f.data;
		qn = f.size;
		FUZZ_ASSERT(cd_ant_decoder_feed(&d3, &q, &qn, &back) == 1);
		FUZZ_ASSERT(qn == 0 && cd_ant_decoder_pending(&d3) == 0);
		FUZZ_ASSERT(back.id == m.id && back.len == m.len &&
			    memcmp(back.payload, m.payload, m.len) == 0);

		check_parsers(&m);
	}
	FUZZ_ASSERT(r == 0 && n == 0);
	FUZZ_ASSERT(d1.n_messages == n_whole);
	/* Every byte is skipped, inside a message, or pending; pending is the tail. */
	FUZZ_ASSERT(d1.n_skipped + framed + cd_ant_decoder_pending(&d1) == n_stream);
	FUZZ_ASSERT(memcmp(d1.buf, stream + n_stream - d1.n, d1.n) == 0);

	/* Same stream in random chunks, 0 to 70 bytes. */
	cd_ant_decoder_init(&d2);
	p = stream;
	n = n_stream;
	for (;;) {
		size_t chunk, left;
		const uint8_t *q = p;

		seed = seed * 1103515245u + 12345u;
		chunk = (seed >> 16) % 71;
		if (chunk > n)
			chunk = n;
		left = chunk;
		while ((r = cd_ant_decoder_feed(&d2, &q, &left, &m)) > 0) {
			FUZZ_ASSERT(n_split < n_whole);
			FUZZ_ASSERT(m.id == whole[n_split].id && m.len == whole[n_split].len &&
				    memcmp(m.payload, whole[n_split].payload, m.len) == 0);
			n_split++;
		}
		FUZZ_ASSERT(r == 0 && left == 0);
		p += chunk;
		n -= chunk;
		if (n == 0)
			break;
	}
	FUZZ_ASSERT(n_split == n_whole);
	FUZZ_ASSERT(d2.n_messages == d1.n_messages && d2.n_skipped == d1.n_skipped &&
		    d2.n_bad_checksum == d1.n_bad_checksum);
	FUZZ_ASSERT(d2.n == d1.n && memcmp(d2.buf, d1.buf, d1.n) == 0);

	return 0;
}
