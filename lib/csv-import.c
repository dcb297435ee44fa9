/* SPDX-License-Identifier: MIT */
/*
 * CSV import (DESIGN §4 sample format, §9.5): one session, no start time of
 * its own, every line handed to the sink as the reader parses it.
 */
#include <errno.h>
#include <stdio.h>

#include "cleanup.h"
#include "csv.h"
#include "csv-import.h"

int cd_csv_import(const void *data, size_t len, const struct cd_import_sink *sink, char *err,
		  size_t errlen)
{
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *r = NULL;
	struct cd_sample x;
	int k;

	if (!sink || !sink->session_begin || !sink->sample || !sink->session_end ||
	    (!data && len > 0))
		return -EINVAL;
	k = cd_csv_reader_new(data, len, &r);
	if (k < 0)
		return k;
	k = sink->session_begin(sink->userdata, CD_IMPORT_NO_START, NULL);
	if (k < 0)
		return k;
	while ((k = cd_csv_reader_next(r, &x)) > 0) {
		k = sink->sample(sink->userdata, &x);
		if (k < 0)
			return k;
	}
	if (k == -EBADMSG) {
		if (err && errlen > 0)
			snprintf(err, errlen, "%s", cd_csv_reader_error(r));
		return k;
	}
	if (k < 0)
		return k;
	return sink->session_end(sink->userdata);
}
