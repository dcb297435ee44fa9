/* SPDX-License-Identifier: MIT */
/*
 * Bounded admission of unlisted ANT+ device numbers (DESIGN §9.7).  See
 * ant-admit.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ant-admit.h"

int cd_ant_admit_init(struct cd_ant_admit *t, size_t max, uint64_t forget_us)
{
	if (max > CD_ANT_ADMIT_MAX)
		return -EINVAL;
	*t = (struct cd_ant_admit){ .max = max, .forget_us = forget_us };
	if (max > 0) {
		t->v = calloc(max, sizeof(*t->v));
		if (!t->v)
			return -ENOMEM;
	}
	return 0;
}

void cd_ant_admit_done(struct cd_ant_admit *t)
{
	free(t->v);
	*t = (struct cd_ant_admit){ 0 };
}

bool cd_ant_admit_valid(const uint8_t data[CD_ANT_DATA_SIZE])
{
	return data[7] >= CD_ANT_ADMIT_BPM_MIN && data[7] <= CD_ANT_ADMIT_BPM_MAX;
}

/* Order does not matter: the last entry fills the hole. */
static void drop(struct cd_ant_admit *t, size_t i)
{
	if (i != t->n - 1)
		t->v[i] = t->v[t->n - 1];
	t->n--;
}

size_t cd_ant_admit_expire(struct cd_ant_admit *t, uint64_t now_us)
{
	size_t gone = 0;

	for (size_t i = 0; i < t->n;) {
		if (now_us >= t->v[i].last_us && now_us - t->v[i].last_us >= t->forget_us) {
			drop(t, i);
			gone++;
		} else
			i++;
	}
	t->n_forgotten += gone;
	return gone;
}

int cd_ant_admit_hear(struct cd_ant_admit *t, const struct cd_ant_admit_msg *m,
		      struct cd_ant_admit_entry *ret, uint32_t *ret_evicted)
{
	struct cd_ant_admit_entry *e = NULL;
	size_t oldest = 0, oldest_once = SIZE_MAX;
	uint64_t now = m->at_us;

	if (ret_evicted)
		*ret_evicted = 0;
	if (t->max == 0)
		return 0;
	/* One pass: forget the silent ones, find this number and the oldest. */
	cd_ant_admit_expire(t, now);
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].number == m->id.device_number)
			e = &t->v[i];
		if (t->v[i].last_us < t->v[oldest].last_us)
			oldest = i;
		if (t->v[i].count == 1 &&
		    (oldest_once == SIZE_MAX || t->v[i].last_us < t->v[oldest_once].last_us))
			oldest_once = i;
	}
	if (!e) {
		if (t->n == t->max) {
			size_t victim = oldest_once != SIZE_MAX ? oldest_once : oldest;

			if (ret_evicted)
				*ret_evicted = t->v[victim].number;
			t->n_evicted++;
			drop(t, victim);
		}
		e = &t->v[t->n++];
		*e = (struct cd_ant_admit_entry){
			.number = m->id.device_number,
			.first_us = now,
			.last_us = now,
		};
	}
	if (e->run > 0 && (now < e->last_us || now - e->last_us > CD_ANT_ADMIT_MAX_GAP_US))
		e->run = 0; /* a run is broadcasts in a row: a silence breaks it */
	e->last_us = now;
	e->count++;
	if (!cd_ant_admit_valid(m->data.data)) {
		e->run = 0;
		return 0;
	}
	e->held[e->run++] = *m;
	if (e->run < CD_ANT_ADMIT_RUN)
		return 0;
	*ret = *e;
	drop(t, (size_t)(e - t->v));
	t->n_admitted++;
	return 1;
}
