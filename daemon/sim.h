/* SPDX-License-Identifier: MIT */
/*
 * --simulate[=N]: N synthetic straps sim-1 … sim-N (DESIGN §7), each a
 * repeating workout (warm-up, intervals, tempo, cool-down, rest) with RR
 * intervals that vary like a real heart's, and now and then a few seconds
 * of lost contact.  One 1 Hz sd-event timer drives them all; everything
 * is derived from --seed, so two runs with one seed give the same samples.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "monitor.h"

struct sim;

struct sim_config {
	unsigned n_straps;
	uint64_t seed;
	/*
	 * Simulated seconds per real second (a debugging aid for benchmarks).
	 * 1: samples carry the real clock.  More: they carry a simulated clock
	 * that runs rate times faster.
	 */
	unsigned rate;
};

int sim_new(sd_event *event, struct monitor *monitor, const struct sim_config *config,
	    struct sim **ret);
struct sim *sim_free(struct sim *s);
static inline void sim_freep(struct sim **s)
{
	if (*s)
		sim_free(*s);
}
