/* SPDX-License-Identifier: MIT */
/*
 * POST /sessions/import (DESIGN §9.5): a file recorded elsewhere, decoded
 * by lib/ (CSV, FIT, TCX), computed by the same engine as a live strap with
 * the profile and [session] settings of its device, and stored ended, all
 * in one SQLite transaction: a malformed file, an overlap or a failure
 * stores nothing.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon-config.h"
#include "import.h"
#include "monitor.h"
#include "store.h"

#define IMPORT_DEFAULT_DEVICE "import"

struct import_request {
	enum cd_import_format format;
	bool has_started_at;
	uint64_t started_at_us; /* CSV: required; FIT/TCX carry their own */
	const char *device;     /* NULL: IMPORT_DEFAULT_DEVICE */
	const char *kind;       /* NULL: none (or the file's sport) */
	const char *profile;    /* NULL: the device's profile */
};

/*
 * 0 and {"sessions": [session objects]} in *ret; or with a one-line reason
 * in err: -EBADMSG (malformed file, no valid sample), -EINVAL (missing
 * started_at, unknown profile), -EEXIST (overlaps a session of the same
 * device), -EOPNOTSUPP (a format not supported yet); or -ENOMEM, -EIO…
 */
int import_run(struct store *store, struct monitor *monitor, const struct cd_config *config,
	       const struct import_request *req, const void *data, size_t len, cJSON **ret,
	       char *err, size_t errlen);
