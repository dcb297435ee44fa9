/* SPDX-License-Identifier: MIT */
/*
 * TCX (Garmin TrainingCenterDatabase v2), out and in (DESIGN §9.5), on
 * libxml2.  No I/O of its own: the writer hands its bytes to a callback
 * (xmlTextWriter on an xmlOutputBuffer), the reader walks a buffer in
 * memory (xmlTextReader: streaming, no network, no external DTD, entities
 * never substituted, so no XXE).
 *
 * Export: one Activity (Sport="Other") with Id, one Lap (StartTime,
 * TotalTimeSeconds, DistanceMeters 0, Calories, average and maximum heart
 * rate, Intensity Active, TriggerMethod Manual) and a Track with one
 * Trackpoint per whole second in which samples arrived: Time (UTC, "Z")
 * and an integer HeartRateBpm, left out for a second without a valid
 * sample (never 0).  Memory is constant.
 */
#pragma once

#include "fit.h"
#include "import.h"
#include "sample.h"

struct cd_tcx_writer;

/*
 * Start a file (the head, up to the Lap's summary, is written at once).
 * 0 and *ret, -ENOMEM, or the write callback's error.
 */
int cd_tcx_writer_new(const struct cd_export_summary *s, cd_write_fn write, void *userdata,
		      struct cd_tcx_writer **ret);
/* One sample (t in seconds from the start, increasing).  0 or a negative errno. */
int cd_tcx_writer_add(struct cd_tcx_writer *w, const struct cd_sample *s);
/* The last trackpoint and the closing tags, flushed.  0 or a negative errno. */
int cd_tcx_writer_finish(struct cd_tcx_writer *w);
void cd_tcx_writer_free(struct cd_tcx_writer *w);

/*
 * Decode a TCX file (lib/import.h): each Activity with trackpoints is a
 * session starting at its Id (else its first Lap's StartTime), each
 * Trackpoint with a Time a sample (HeartRateBpm, or an invalid sample
 * without one).  Malformed XML or a file that is not TCX: -EBADMSG and
 * "TCX: …" in err.
 */
int cd_tcx_import(const void *data, size_t len, const struct cd_import_sink *sink, char *err,
		  size_t errlen);

/* "YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM]" → Unix seconds; -EINVAL. */
int cd_tcx_parse_time(const char *s, double *ret);
