/* SPDX-License-Identifier: MIT */
/*
 * --replay FILE.csv [--speed X] (DESIGN §7): the whole file is read and
 * checked first (a bad line is an error with its number, before the daemon
 * starts), then its samples go to device replay-1 at t_s / X seconds from
 * the start (X = 0: as fast as possible, in batches so the loop stays
 * responsive).  The device has an explicit time base: the engine is fed the
 * file's own t_s, so the session's figures equal `cardioctl analyze` on the
 * file.  At the end of the file the session closes; the daemon keeps
 * serving it.
 */
#pragma once

#include <systemd/sd-event.h>

#include "monitor.h"

struct replay;

/*
 * Read and check path.  Returns 0, or -EBADMSG with "PATH: line N: reason"
 * in *ret_error (caller frees), or another negative errno with the reason.
 */
int replay_load(const char *path, double speed, struct replay **ret, char **ret_error);
/* Start feeding on the loop. */
int replay_start(struct replay *r, sd_event *event, struct monitor *monitor);
struct replay *replay_free(struct replay *r);
static inline void replay_freep(struct replay **r)
{
	if (*r)
		replay_free(*r);
}
