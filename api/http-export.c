/* SPDX-License-Identifier: MIT */
/*
 * Session export (api/http-export.h).  Memory per answer: one staging
 * buffer of a block plus the encoder's state (a second of samples), however
 * long the session.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "fit.h"
#include "http-export.h"
#include "http-stage.h"
#include "log.h"
#include "tcx.h"

#define EXPORT_BLOCK (32 * 1024)

struct export_stream {
	enum cd_http_export_format format;
	struct cd_front_samples *it;
	uint64_t limit; /* FIT: samples counted in the first pass */
	uint64_t n;     /* samples read */
	struct cd_fit_encoder fit;
	struct cd_tcx_writer *tcx;
	bool head_done, done;
	struct cd_http_stage stage;
};

static void export_stream_free(void *cls)
{
	struct export_stream *st = cls;

	if (!st)
		return;
	if (st->it)
		st->it->free(st->it);
	cd_tcx_writer_free(st->tcx);
	cd_http_stage_done(&st->stage);
	free(st);
}

static double number(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int64_t time_us(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	uint64_t us;

	if (!cJSON_IsString(v) || cd_http_parse_time(v->valuestring, &us) < 0)
		return INT64_MIN;
	return (int64_t)us;
}

/* The session object (DESIGN §4) as the export's summary. */
static int summary_of(const cJSON *j, struct cd_export_summary *s)
{
	const cJSON *hr = cJSON_GetObjectItemCaseSensitive(j, "heart_rate");
	const cJSON *profile = cJSON_GetObjectItemCaseSensitive(j, "profile");
	const cJSON *zones = cJSON_GetObjectItemCaseSensitive(j, "zones");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
	int64_t start = time_us(j, "started_at"), end = time_us(j, "ended_at");
	const cJSON *z;

	cd_export_summary_init(s);
	if (start == INT64_MIN)
		return -EIO;
	s->started_at_us = start;
	if (end != INT64_MIN && end >= start)
		s->elapsed_s = (double)(end - start) / 1e6;
	s->timer_s = number(j, "active_s");
	s->avg_bpm = number(hr, "avg");
	s->max_bpm = number(hr, "max");
	s->min_bpm = number(hr, "min");
	s->energy_kj = number(j, "energy_kj");
	s->hr_max = number(profile, "hr_max");
	s->hr_rest = number(profile, "hr_rest");
	cJSON_ArrayForEach(z, zones)
	{
		double k = number(z, "zone");

		if (!(k >= 0 && k < CD_FIT_ZONES))
			continue;
		s->zone_s[(int)k] = isfinite(number(z, "s")) ? number(z, "s") : 0;
		if (k >= 1)
			s->zone_lo_bpm[(int)k - 1] = number(z, "lo_bpm");
	}
	if (cJSON_IsString(kind) &&
	    (strstr(kind->valuestring, "cycl") || strstr(kind->valuestring, "bike") ||
	     strstr(kind->valuestring, "ride"))) {
		s->sport = 2;     /* cycling */
		s->sub_sport = 6; /* indoor_cycling */
	}
	return 0;
}

/* Stage the next piece: 1, 0 at the end, or a negative errno. */
static int stage_next(void *userdata)
{
	struct export_stream *st = userdata;
	struct cd_sample x;
	int r;

	if (st->done)
		return 0;
	if (!st->head_done) {
		st->head_done = true;
		if (st->format == CD_EXPORT_CSV) {
			r = cd_http_stage_write(&st->stage, CD_CSV_HEADER_LINE,
						strlen(CD_CSV_HEADER_LINE));
			return r < 0 ? r : 1;
		}
	}
	r = st->format == CD_EXPORT_FIT && st->n >= st->limit ? 0 : st->it->next(st->it, &x);
	if (r < 0)
		return r;
	if (r == 0) {
		st->done = true;
		if (st->format == CD_EXPORT_FIT)
			r = cd_fit_encoder_finish(&st->fit);
		else if (st->format == CD_EXPORT_TCX)
			r = cd_tcx_writer_finish(st->tcx);
		return r < 0 ? r : 1;
	}
	st->n++;
	switch (st->format) {
	case CD_EXPORT_FIT:
		return cd_fit_encoder_add(&st->fit, &x) < 0 ? -EIO : 1;
	case CD_EXPORT_TCX:
		r = cd_tcx_writer_add(st->tcx, &x);
		return r < 0 ? r : 1;
	case CD_EXPORT_CSV:
		r = cd_http_stage_csv(&st->stage, &x);
		return r < 0 ? r : 1;
	}
	return -EINVAL;
}

static ssize_t export_read(void *cls, uint64_t offset, char *out, size_t max)
{
	struct export_stream *st = cls;

	(void)offset;
	return cd_http_stage_read(&st->stage, out, max, stage_next, st);
}

/* FIT's first pass: the samples the file will hold and its data size. */
static int fit_count(const struct cd_front_ops *ops, void *userdata, uint64_t id,
		     const struct cd_export_summary *sum, uint64_t *ret_n, uint32_t *ret_size)
{
	struct cd_front_samples *it = NULL;
	struct cd_fit_encoder enc;
	struct cd_sample x;
	uint64_t n = 0;
	int r;

	r = ops->samples(userdata, id, &it);
	if (r < 0)
		return r;
	if (!it)
		return -EIO;
	cd_fit_encoder_init(&enc, sum, 0, NULL, NULL);
	while ((r = it->next(it, &x)) > 0) {
		r = cd_fit_encoder_add(&enc, &x);
		if (r < 0)
			break;
		n++;
	}
	it->free(it);
	if (r < 0)
		return r;
	r = cd_fit_encoder_finish(&enc);
	if (r < 0)
		return r;
	*ret_n = n;
	*ret_size = cd_fit_encoder_data_size(&enc);
	return 0;
}

int cd_http_export_response(const struct cd_front_ops *ops, void *userdata,
			    const struct cd_http_match *m, struct MHD_Response **ret,
			    const char **ret_type, char *disposition, size_t disposition_size)
{
	static const char *const ext[] = { [CD_EXPORT_CSV] = "csv", [CD_EXPORT_TCX] = "tcx",
					   [CD_EXPORT_FIT] = "fit" };
	static const char *const type[] = {
		[CD_EXPORT_CSV] = "text/csv; charset=utf-8",
		[CD_EXPORT_TCX] = "application/vnd.garmin.tcx+xml",
		[CD_EXPORT_FIT] = "application/vnd.ant.fit",
	};
	struct cd_export_summary sum;
	struct export_stream *st;
	struct MHD_Response *resp;
	cJSON *j = NULL;
	uint64_t size = MHD_SIZE_UNKNOWN;
	uint32_t data_size = 0;
	int r;

	r = ops->session(userdata, m->id, &j);
	if (r < 0)
		return r;
	if (!j)
		return -EIO;
	r = summary_of(j, &sum);
	cJSON_Delete(j);
	if (r < 0)
		return r;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->format = m->export_format;
	st->stage.first = 4096;
	st->stage.what = "the export";
	st->stage.count = &st->n;
	if (st->format == CD_EXPORT_FIT) {
		r = fit_count(ops, userdata, m->id, &sum, &st->limit, &data_size);
		if (r < 0)
			goto fail;
		cd_fit_encoder_init(&st->fit, &sum, data_size, cd_http_stage_write, &st->stage);
		size = 14 + (uint64_t)data_size + 2;
	}
	r = ops->samples(userdata, m->id, &st->it);
	if (r < 0)
		goto fail;
	if (!st->it) {
		r = -EIO;
		goto fail;
	}
	if (st->format == CD_EXPORT_TCX) {
		r = cd_tcx_writer_new(&sum, cd_http_stage_write, &st->stage, &st->tcx);
		if (r < 0)
			goto fail;
	}
	resp = MHD_create_response_from_callback(size, EXPORT_BLOCK, export_read, st,
						 export_stream_free);
	if (!resp) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(disposition, disposition_size, "attachment; filename=\"cardiod-session-%" PRIu64 ".%s\"",
		 m->id, ext[st->format]);
	*ret_type = type[st->format];
	*ret = resp;
	return 0;
fail:
	export_stream_free(st);
	return r;
}
