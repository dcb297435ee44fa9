/* SPDX-License-Identifier: MIT */
/*
 * Bounded admission of unlisted ANT+ device numbers (lib/ant-admit.h,
 * DESIGN §9.7): runs of valid broadcasts, what breaks a run, the bound,
 * who is dropped to make room, and forgetting after silence.
 */
#include <stdint.h>
#include <string.h>

#include "ant-admit.h"
#include "check.h"

#define SLOT_US 246277ULL /* 8070/32768 s */
#define S	1000000ULL

static struct cd_ant_admit_msg msg(uint32_t number, uint64_t at_us, uint8_t bpm)
{
	struct cd_ant_admit_msg m = {
		.id = { .device_number = number, .device_type = 120, .trans_type = 1 },
		.at_us = at_us,
		.at2_us = at_us + 7,
	};

	m.data.data[0] = 0x04;
	m.data.data[6] = (uint8_t)(at_us / SLOT_US);
	m.data.data[7] = bpm;
	return m;
}

static int hear(struct cd_ant_admit *t, uint32_t number, uint64_t at_us, uint8_t bpm,
		struct cd_ant_admit_entry *e, uint32_t *evicted)
{
	struct cd_ant_admit_msg m = msg(number, at_us, bpm);

	return cd_ant_admit_hear(t, &m, e, evicted);
}

static void test_valid(void)
{
	uint8_t d[CD_ANT_DATA_SIZE] = { 0 };

	CHECK(!cd_ant_admit_valid(d));
	d[7] = 29;
	CHECK(!cd_ant_admit_valid(d));
	d[7] = 30;
	CHECK(cd_ant_admit_valid(d));
	d[7] = 240;
	CHECK(cd_ant_admit_valid(d));
	d[7] = 241;
	CHECK(!cd_ant_admit_valid(d));
}

static void test_run(void)
{
	struct cd_ant_admit t;
	struct cd_ant_admit_entry e;
	uint32_t ev = 99;
	uint64_t at = 10 * S;

	CHECK_INT(cd_ant_admit_init(&t, 4, 600 * S), 0);
	/* Three valid, one with no heart rate: the run starts over. */
	for (int i = 0; i < 3; i++)
		CHECK_INT(hear(&t, 12345, at += SLOT_US, 70, &e, &ev), 0);
	CHECK_INT(ev, 0);
	CHECK_INT(hear(&t, 12345, at += SLOT_US, 0, &e, &ev), 0);
	for (int i = 0; i < 3; i++)
		CHECK_INT(hear(&t, 12345, at += SLOT_US, 70, &e, NULL), 0);
	CHECK_INT(t.n, 1);
	CHECK_INT(t.v[0].count, 7);
	CHECK_INT(t.v[0].run, 3);
	/* A silence longer than the gap breaks it too. */
	at += CD_ANT_ADMIT_MAX_GAP_US + 1;
	CHECK_INT(hear(&t, 12345, at, 71, &e, NULL), 0);
	CHECK_INT(t.v[0].run, 1);
	CHECK_INT(hear(&t, 12345, at += SLOT_US, 72, &e, NULL), 0);
	CHECK_INT(hear(&t, 12345, at += SLOT_US, 73, &e, NULL), 0);
	CHECK_INT(hear(&t, 12345, at += SLOT_US, 74, &e, NULL), 1);
	/* Admitted: out of the table, with the run to replay in order. */
	CHECK_INT(t.n, 0);
	CHECK_INT(t.n_admitted, 1);
	CHECK_INT(e.number, 12345);
	CHECK_INT(e.count, 11);
	CHECK_INT(e.run, CD_ANT_ADMIT_RUN);
	CHECK_INT(e.first_us, 10 * S + SLOT_US);
	CHECK_INT(e.last_us, at);
	for (unsigned i = 0; i < CD_ANT_ADMIT_RUN; i++) {
		CHECK_INT(e.held[i].data.data[7], 71 + i);
		CHECK_INT(e.held[i].id.device_number, 12345);
		CHECK_INT(e.held[i].at2_us, e.held[i].at_us + 7);
	}
	CHECK_INT(e.held[CD_ANT_ADMIT_RUN - 1].at_us, at);
	cd_ant_admit_done(&t);
}

static void test_bound(void)
{
	struct cd_ant_admit t;
	struct cd_ant_admit_entry e;
	uint32_t ev = 0;
	uint64_t at = 0;

	CHECK_INT(cd_ant_admit_init(&t, 8, 600 * S), 0);
	/* A transmitter cycling device numbers: each heard once, valid. */
	for (uint32_t n = 1; n <= 500; n++) {
		CHECK_INT(hear(&t, n, at += SLOT_US, 80, &e, &ev), 0);
		CHECK(t.n <= 8);
		/* Full: the one heard longest ago makes room. */
		CHECK_INT(ev, n > 8 ? n - 8 : 0);
	}
	CHECK_INT(t.n, 8);
	CHECK_INT(t.n_evicted, 492);
	CHECK_INT(t.n_admitted, 0);
	/* A real strap still gets in among them, and a tracked number heard
	 * again is not the oldest any more. */
	CHECK_INT(hear(&t, 493, at += SLOT_US, 80, &e, &ev), 0);
	CHECK_INT(ev, 0);
	CHECK_INT(hear(&t, 9999, at += SLOT_US, 80, &e, &ev), 0);
	CHECK_INT(ev, 494);
	CHECK_INT(hear(&t, 9999, at += SLOT_US, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 9999, at += SLOT_US, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 9999, at += SLOT_US, 80, &e, NULL), 1);
	CHECK_INT(e.number, 9999);
	CHECK_INT(t.n, 7);
	cd_ant_admit_done(&t);

	/* Numbers heard once go first: a strap heard twice survives a flood
	 * even when it is the one heard longest ago. */
	CHECK_INT(cd_ant_admit_init(&t, 4, 600 * S), 0);
	at = 0;
	CHECK_INT(hear(&t, 7777, at += SLOT_US, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 7777, at += SLOT_US, 80, &e, NULL), 0);
	for (uint32_t n = 1; n <= 100; n++) {
		CHECK_INT(hear(&t, n, at += 1000, 80, &e, &ev), 0);
		CHECK(ev != 7777);
	}
	CHECK_INT(t.n, 4);
	CHECK_INT(ev, 97);
	CHECK_INT(hear(&t, 7777, at += SLOT_US, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 7777, at += SLOT_US, 80, &e, NULL), 1);
	CHECK_INT(e.first_us, SLOT_US);
	cd_ant_admit_done(&t);
	/* Nobody heard once: the one heard longest ago. */
	CHECK_INT(cd_ant_admit_init(&t, 2, 600 * S), 0);
	CHECK_INT(hear(&t, 1, at += SLOT_US, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 2, at += SLOT_US, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 2, at += SLOT_US, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 1, at += SLOT_US, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 3, at += SLOT_US, 80, &e, &ev), 0);
	CHECK_INT(ev, 2);
	cd_ant_admit_done(&t);

	/* max 0: nothing tracked, nothing admitted. */
	CHECK_INT(cd_ant_admit_init(&t, 0, 600 * S), 0);
	for (int i = 0; i < 10; i++)
		CHECK_INT(hear(&t, 5, (uint64_t)i * SLOT_US, 80, &e, &ev), 0);
	CHECK_INT(t.n, 0);
	cd_ant_admit_done(&t);
	CHECK_INT(cd_ant_admit_init(&t, CD_ANT_ADMIT_MAX + 1, S), -EINVAL);
}

static void test_forget(void)
{
	struct cd_ant_admit t;
	struct cd_ant_admit_entry e;

	CHECK_INT(cd_ant_admit_init(&t, 16, 2 * S), 0);
	CHECK_INT(hear(&t, 1, 100 * S, 80, &e, NULL), 0);
	CHECK_INT(hear(&t, 2, 101 * S, 80, &e, NULL), 0);
	CHECK_INT(cd_ant_admit_expire(&t, 102 * S - 1), 0);
	CHECK_INT(cd_ant_admit_expire(&t, 102 * S), 1);
	CHECK_INT(t.n, 1);
	CHECK_INT(t.v[0].number, 2);
	/* Hearing anything forgets the silent ones as well. */
	CHECK_INT(hear(&t, 3, 104 * S, 80, &e, NULL), 0);
	CHECK_INT(t.n, 1);
	CHECK_INT(t.v[0].number, 3);
	CHECK_INT(t.n_forgotten, 2);
	cd_ant_admit_done(&t);
	CHECK(t.v == NULL && t.n == 0);
}

int main(void)
{
	test_valid();
	test_run();
	test_bound();
	test_forget();
	return check_exit("test-ant-admit");
}
