/* SPDX-License-Identifier: MIT */
/*
 * GET /sessions/{id}/export?format=csv|tcx|fit (DESIGN §9.5): a session as
 * a file for Strava, Garmin Connect or intervals.icu, streamed in constant
 * memory from the daemon's sample reader (struct cd_front_samples) through
 * lib/fit, lib/tcx or lib/csv.  api/http.c routes the request here and
 * adds the common headers.
 */
#pragma once

#include <microhttpd.h>
#include <stddef.h>

#include "http-parse.h"
#include "http.h"

/*
 * Build the streaming answer for m (route CD_ROUTE_SESSION_EXPORT): 0 and
 * *ret (to queue with status 200), its Content-Type in *ret_type and its
 * Content-Disposition in disposition; or a negative errno from the ops
 * (-ENOENT: no such session) before anything was sent.
 *
 * FIT announces its size in its header, so its samples are read twice:
 * once here to count the bytes (the answer then has an exact
 * Content-Length), once while sending, stopping at the samples counted
 * (a session still recording may have grown in between).
 */
int cd_http_export_response(const struct cd_front_ops *ops, void *userdata,
			    const struct cd_http_match *m, struct MHD_Response **ret,
			    const char **ret_type, char *disposition, size_t disposition_size);
