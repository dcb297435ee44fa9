/* SPDX-License-Identifier: MIT */
/*
 * Sessions recorded elsewhere, on their way into the engine (DESIGN §9.5).
 *
 * Every import decoder (CSV, FIT, TCX) is pure and streams: it walks a
 * buffer already in memory and hands each session and sample to a sink,
 * so the daemon can feed the same engine as a live strap and store the
 * result without building the whole file as samples first.  A decoder
 * never allocates per sample.
 *
 * Order of calls: for each session in the file, session_begin once, then
 * sample for each of its samples in order of t, then session_end.  Any
 * callback returning a negative errno stops the decoder, which returns
 * that value.  On malformed input the decoder returns -EBADMSG and writes
 * a one-line message (e.g. "line 12: bpm is not a number", "FIT: CRC
 * mismatch") into err; the sink may have received part of the file by
 * then, so the daemon stores nothing until the decoder returned 0.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sample.h"

#define CD_IMPORT_NO_START INT64_MIN /* the file carries no start time (CSV) */

struct cd_import_sink {
	/*
	 * A new session: started_at_us is its start in µs since the Unix epoch
	 * (UTC), or CD_IMPORT_NO_START when the file has none (the caller's
	 * ?started_at applies).  sport is the file's sport name ("running",
	 * "cycling"…) or NULL.
	 */
	int (*session_begin)(void *userdata, int64_t started_at_us, const char *sport);
	/*
	 * One sample: s->t in seconds from the session's start, increasing;
	 * s->rr_ms valid only during the call.  A pause in the recording is a
	 * jump in t (the engine turns it into a gap).
	 */
	int (*sample)(void *userdata, const struct cd_sample *s);
	int (*session_end)(void *userdata);
	void *userdata;
};

enum cd_import_format {
	CD_IMPORT_CSV, /* text/csv: DESIGN §4's sample format */
	CD_IMPORT_FIT, /* application/vnd.ant.fit */
	CD_IMPORT_TCX, /* application/vnd.garmin.tcx+xml */
	_CD_IMPORT_FORMAT_MAX,
	_CD_IMPORT_FORMAT_INVALID = -22,
};
