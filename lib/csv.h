/* SPDX-License-Identifier: MIT */
/*
 * CSV samples (DESIGN §4): header "t_s,bpm,rr_ms,contact"; rr_ms is a
 * space-separated list (may be empty); contact is 1, 0 or empty (unknown).
 * CRLF line ends are accepted.  Pure: works on memory buffers.
 */
#pragma once

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "sample.h"

struct cd_csv_reader;

/*
 * Start reading the buffer data[0..size) (not copied: it must outlive the
 * reader).  Returns 0, -ENOMEM.
 */
int cd_csv_reader_new(const char *data, size_t size, struct cd_csv_reader **ret);
struct cd_csv_reader *cd_csv_reader_free(struct cd_csv_reader *r);
static inline void cd_csv_reader_freep(struct cd_csv_reader **r)
{
	if (*r)
		cd_csv_reader_free(*r);
}

/*
 * Next sample.  Returns 1 and fills *ret (ret->rr_ms points into the
 * reader, valid until the next call), 0 at the end, or a negative errno
 * (-EBADMSG for malformed input, -ENOMEM) with cd_csv_reader_error() giving
 * "line N: reason".  After an error every further call returns it again.
 */
int cd_csv_reader_next(struct cd_csv_reader *r, struct cd_sample *ret);
const char *cd_csv_reader_error(const struct cd_csv_reader *r);
size_t cd_csv_reader_line(const struct cd_csv_reader *r);

#define CD_CSV_HEADER "t_s,bpm,rr_ms,contact"
#define CD_CSV_HEADER_LINE CD_CSV_HEADER "\n"

/* Writer: the header, then one line per sample. Return 0 or -errno. */
int cd_csv_write_header(FILE *f);
int cd_csv_write_sample(FILE *f, const struct cd_sample *s);

/*
 * The line cd_csv_write_sample() writes for s (its "\n" included), into
 * buf as snprintf() does: returns the line's length without the NUL, and
 * stores at most size - 1 bytes plus a NUL, so a return ≥ size means
 * "call again with size return + 1".  -EINVAL for a sample the reader
 * would refuse (t < 0, bpm over 65535, an RR interval ≤ 0, non-finite).
 */
ssize_t cd_csv_format_sample(char *buf, size_t size, const struct cd_sample *s);
