/* SPDX-License-Identifier: MIT */
/*
 * The staging buffer of a streamed answer (GET /sessions/{id}/samples in
 * http-respond.c, GET /sessions/{id}/export in http-export.c).  The answer
 * is staged one piece at a time (a head, a sample, an encoder's record)
 * and handed to MHD's content reader as the socket takes it, so it costs
 * one piece of memory however long the session.  The buffer is allocated
 * at the first piece and only grows (doubling) when a piece does not fit.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sample.h"

struct cd_http_stage {
	char *buf;     /* staged bytes not yet handed out: buf[pos..len) */
	size_t pos, len, cap;
	size_t first;  /* the first allocation; 0 for 1024 */
	bool failed;   /* a refill failed: the answer is being cut short */
	/* For the one log line of a cut answer: "HTTP: <what> failed after <*count> samples". */
	const char *what;
	const uint64_t *count;
};

/* Room for n more bytes at buf + len: 0 or -ENOMEM. */
int cd_http_stage_reserve(struct cd_http_stage *s, size_t n);

/*
 * Append p[0..n): 0 or -ENOMEM.  It is a cd_write_fn (lib/fit.h) with the
 * struct cd_http_stage as its userdata, for the FIT and TCX encoders.
 */
int cd_http_stage_write(void *stage, const void *p, size_t n);

/*
 * Append x's CSV line (lib/csv.h cd_csv_format_sample()), growing the
 * buffer if it did not fit: 0, -ENOMEM or -EINVAL (a sample CSV refuses).
 */
int cd_http_stage_csv(struct cd_http_stage *s, const struct cd_sample *x);

/*
 * Stage the next piece of an answer: > 0 when more was staged, 0 at its
 * end, or a negative errno (logged by cd_http_stage_read() with what and
 * count).
 */
typedef int (*cd_http_stage_refill_fn)(void *userdata);

/*
 * The body of an MHD content reader: copies staged bytes to out[0..max),
 * calling refill(userdata) whenever the stage is empty, until out is full,
 * the answer ends or refill fails.  Returns the bytes copied, else
 * MHD_CONTENT_READER_END_OF_STREAM, or MHD_CONTENT_READER_END_WITH_ERROR
 * once a refill failed (MHD then closes the connection: the answer is cut
 * short, never a shorter valid one); refill is not called again after
 * that.
 */
ssize_t cd_http_stage_read(struct cd_http_stage *s, char *out, size_t max,
			   cd_http_stage_refill_fn refill, void *userdata);

/* Free the buffer; s is empty again (its first is kept). */
void cd_http_stage_done(struct cd_http_stage *s);
