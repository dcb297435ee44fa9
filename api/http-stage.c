/* SPDX-License-Identifier: MIT */
/* The staging buffer of a streamed answer (api/http-stage.h). */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "http-stage.h"
#include "log.h"

int cd_http_stage_reserve(struct cd_http_stage *s, size_t n)
{
	size_t cap = s->cap ? s->cap : s->first ? s->first : 1024;
	char *b;

	if (s->cap - s->len >= n)
		return 0;
	while (cap - s->len < n)
		cap *= 2;
	b = realloc(s->buf, cap);
	if (!b)
		return -ENOMEM;
	s->buf = b;
	s->cap = cap;
	return 0;
}

int cd_http_stage_write(void *stage, const void *p, size_t n)
{
	struct cd_http_stage *s = stage;
	int r = cd_http_stage_reserve(s, n);

	if (r < 0)
		return r;
	if (n > 0)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

int cd_http_stage_csv(struct cd_http_stage *s, const struct cd_sample *x)
{
	ssize_t n = cd_csv_format_sample(s->buf ? s->buf + s->len : NULL, s->cap - s->len, x);
	int r;

	if (n < 0)
		return (int)n;
	if ((size_t)n >= s->cap - s->len) {
		/* A long RR list: grow to the line, then format it again. */
		r = cd_http_stage_reserve(s, (size_t)n + 1);
		if (r < 0)
			return r;
		n = cd_csv_format_sample(s->buf + s->len, s->cap - s->len, x);
		if (n < 0)
			return (int)n;
	}
	s->len += (size_t)n;
	return 0;
}

ssize_t cd_http_stage_read(struct cd_http_stage *s, char *out, size_t max,
			   cd_http_stage_refill_fn refill, void *userdata)
{
	size_t done = 0;
	int r;

	while (done < max) {
		if (s->pos < s->len) {
			size_t n = s->len - s->pos < max - done ? s->len - s->pos : max - done;

			memcpy(out + done, s->buf + s->pos, n);
			s->pos += n;
			done += n;
			continue;
		}
		s->pos = s->len = 0;
		if (s->failed)
			break;
		r = refill(userdata);
		if (r < 0) {
			log_warning_errno(r, "HTTP: %s failed after %" PRIu64 " samples: %m; the answer "
					  "is cut short",
					  s->what ? s->what : "an answer", s->count ? *s->count : 0);
			s->failed = true;
			break;
		}
		if (r == 0)
			break;
	}
	if (done > 0)
		return (ssize_t)done;
	return s->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
}

void cd_http_stage_done(struct cd_http_stage *s)
{
	free(s->buf);
	s->buf = NULL;
	s->pos = s->len = s->cap = 0;
	s->failed = false;
}
