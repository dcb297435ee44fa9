/* SPDX-License-Identifier: MIT */
/*
 * Free heap goes back to the kernel (issue 12 item 7, bench/footprint).
 * cardiod is one thread, so glibc keeps a single arena (M_ARENA_MAX changes
 * nothing); but free() only returns the top of the heap, and only once
 * M_TRIM_THRESHOLD is free there.  Samples queued between two commits and
 * engine rings that outgrew their buffer leave free pages in the middle of
 * the heap that stay resident: up to ~150 KiB of the ~970 KiB heap after a
 * simulated hour with 8 straps (how much depends on how long ago the last
 * trim ran).  malloc_trim(0) hands those pages back (MADV_DONTNEED) and
 * shrinks the top.  It runs once when start-up is done, then from a post
 * source at most every TRIM_INTERVAL_USEC: post sources run only after the
 * loop dispatched something else, so an idle daemon is never woken for it.
 */
#include <malloc.h>

#include "log.h"
#include "memory.h"

#define TRIM_INTERVAL_USEC (5 * 1000000ULL)

static uint64_t last_trim_usec;

static int on_post(sd_event_source *source, void *userdata)
{
	uint64_t now;

	(void)userdata;
	if (sd_event_now(sd_event_source_get_event(source), CLOCK_MONOTONIC, &now) < 0)
		return 0;
	if (now - last_trim_usec < TRIM_INTERVAL_USEC)
		return 0;
	last_trim_usec = now;
	malloc_trim(0);
	return 0;
}

int memory_trim_setup(sd_event *event)
{
	int r;

	malloc_trim(0);
	(void)sd_event_now(event, CLOCK_MONOTONIC, &last_trim_usec);
	r = sd_event_add_post(event, NULL, on_post, NULL);
	if (r < 0)
		return log_error_errno(r, "Cannot add the heap trim source: %m");
	return 0;
}
