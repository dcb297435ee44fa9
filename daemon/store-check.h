/* SPDX-License-Identifier: MIT */
/*
 * The database's full integrity check (PRAGMA quick_check) in a process of
 * its own, so that a large database on an SD card neither holds up READY=1
 * nor blocks the event loop (issue 11).  The child is this executable run
 * as "cardiod --integrity-check PATH": a fresh process with its own
 * read-only SQLite connection (no connection is carried across fork()).
 */
#pragma once

#include <systemd/sd-event.h>

struct store_check;

/*
 * Called once from the loop: result 1 the file passed, 0 it failed (msg
 * says why), negative errno the check could not run (msg says why).
 */
typedef void (*store_check_done_t)(int result, const char *msg, void *userdata);

int store_check_start(sd_event *event, const char *path, store_check_done_t done, void *userdata,
		      struct store_check **ret);
/* Stops a running check (SIGTERM to the child, then reaps it); no callback. */
struct store_check *store_check_free(struct store_check *c);

/* The child: prints "ok" or the first problem; exit 0 passed, 1 failed, 2 cannot check. */
int store_check_main(const char *path);
