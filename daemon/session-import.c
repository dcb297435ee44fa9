/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "csv-import.h"
#include "fit.h"
#include "session-import.h"
#include "log.h"
#include "session-json.h"
#include "store-summary.h"
#include "tcx.h"


struct import_ctx {
	struct store_import *im;
	struct monitor *monitor;
	const struct cd_config *config;
	const struct import_request *req;
	const char *device;
	const struct cd_profile *profile;
	cJSON *sessions;
	char *err;
	size_t errlen;

	/* The session being read. */
	struct cd_engine *engine;
	uint64_t id, started_us;
	char *sport;
};

__attribute__((format(printf, 3, 4))) static int fail(struct import_ctx *c, int error,
						       const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return error;
}

static int on_begin(void *userdata, int64_t started_at_us, const char *sport)
{
	struct import_ctx *c = userdata;
	int r;

	if (started_at_us == CD_IMPORT_NO_START) {
		if (!c->req->has_started_at)
			return fail(c, -EINVAL, "started_at is required: this file has no start time");
		c->started_us = c->req->started_at_us;
	} else {
		if (started_at_us < 0)
			return fail(c, -EBADMSG, "the file's start time is before 1970");
		c->started_us = (uint64_t)started_at_us;
	}
	free(c->sport);
	c->sport = sport ? strdup(sport) : NULL;
	if (sport && !c->sport)
		return -ENOMEM;
	c->engine = cd_engine_free(c->engine);
	r = cd_engine_new(c->profile, &c->config->engine, NULL, &c->engine);
	if (r < 0)
		return r;
	c->id = monitor_take_session_id(c->monitor);
	return 0;
}

static int on_sample(void *userdata, const struct cd_sample *s)
{
	struct import_ctx *c = userdata;
	int r;

	if (!c->engine)
		return -EINVAL;
	r = cd_engine_add(c->engine, s);
	if (r < 0)
		return r;
	return store_import_sample(c->im, c->id, s);
}

static int on_end(void *userdata)
{
	struct import_ctx *c = userdata;
	_cleanup_(cJSON_Deletep) cJSON *j = NULL;
	_cleanup_free_ char *text = NULL;
	const struct cd_engine_totals *tot;
	uint64_t ended_us;
	char start[40];
	int r;

	if (!c->engine)
		return -EINVAL;
	tot = cd_engine_totals(c->engine);
	if (tot->samples == 0)
		return fail(c, -EBADMSG, "no valid heart-rate sample (30..240 bpm with contact)");
	ended_us = c->started_us + (uint64_t)llround(tot->t_last * 1e6);
	r = store_import_overlaps(c->im, c->device, c->started_us, ended_us);
	if (r < 0)
		return r;
	if (r > 0) {
		if (cd_format_iso8601((double)c->started_us / 1e6, start, sizeof(start)) < 0)
			snprintf(start, sizeof(start), "?");
		return fail(c, -EEXIST,
			    "the session starting at %s overlaps a session of %s already stored",
			    start, c->device);
	}
	j = cd_session_to_json(c->engine,
			       &(struct cd_session_meta){
				       .id = c->id,
				       .active = false,
				       .kind = c->req->kind ? c->req->kind : c->sport,
				       .device_id = c->device,
				       .device_name = c->device,
				       .transport = "file",
				       .started_at = (double)c->started_us / 1e6,
				       .now = tot->t_seen,
				       .battery_pct = -1,
			       });
	if (!j || !(text = cJSON_PrintUnformatted(j)))
		return -ENOMEM;
	r = store_import_session(c->im, &(struct store_import_session){
						.id = c->id,
						.device_id = c->device,
						.device_name = c->device,
						.transport = "file",
						.kind = c->req->kind ? c->req->kind : c->sport,
						.profile = c->profile,
						.engine = &c->config->engine,
						.started_us = c->started_us,
						.ended_us = ended_us,
						.summary = text,
					});
	if (r < 0)
		return r;
	if (!cJSON_AddItemToArray(c->sessions, TAKE_PTR(j)))
		return -ENOMEM;
	c->engine = cd_engine_free(c->engine);
	return 0;
}

static const struct cd_profile *find_profile(const struct cd_config *config, const char *name)
{
	if (strcmp(config->default_profile.profile.name, name) == 0)
		return &config->default_profile.profile;
	for (size_t i = 0; i < config->n_profiles; i++)
		if (strcmp(config->profiles[i].profile.name, name) == 0)
			return &config->profiles[i].profile;
	return NULL;
}

int import_run(struct store *store, struct monitor *monitor, const struct cd_config *config,
	       const struct import_request *req, const void *data, size_t len, cJSON **ret,
	       char *err, size_t errlen)
{
	_cleanup_(cJSON_Deletep) cJSON *root = NULL;
	struct import_ctx c = {
		.monitor = monitor,
		.config = config,
		.req = req,
		.device = req->device ? req->device : IMPORT_DEFAULT_DEVICE,
		.err = err,
		.errlen = errlen,
	};
	struct cd_import_sink sink = {
		.session_begin = on_begin,
		.sample = on_sample,
		.session_end = on_end,
		.userdata = &c,
	};
	int r;

	if (err && errlen > 0)
		err[0] = '\0';
	c.profile = req->profile ? find_profile(config, req->profile)
				 : cd_config_profile_for(config, c.device);
	if (!c.profile)
		return fail(&c, -EINVAL, "no such profile: %s", req->profile);
	root = cJSON_CreateObject();
	c.sessions = root ? cJSON_AddArrayToObject(root, "sessions") : NULL;
	if (!c.sessions)
		return -ENOMEM;

	r = store_import_begin(store, &c.im);
	if (r < 0)
		return fail(&c, r, "cannot write to the database");
	switch (req->format) {
	case CD_IMPORT_CSV:
		r = cd_csv_import(data, len, &sink, err, errlen);
		break;
	case CD_IMPORT_FIT:
		r = cd_fit_import(data, len, &sink, err, errlen);
		break;
	case CD_IMPORT_TCX:
		r = cd_tcx_import(data, len, &sink, err, errlen);
		break;
	default:
		r = fail(&c, -EOPNOTSUPP, "unsupported file format");
		break;
	}
	if (r >= 0 && cJSON_GetArraySize(c.sessions) == 0)
		r = fail(&c, -EBADMSG, "the file holds no session");
	c.engine = cd_engine_free(c.engine);
	free(c.sport);
	if (r < 0) {
		store_import_end(c.im, false);
		return r;
	}
	r = store_import_end(c.im, true);
	if (r < 0)
		return fail(&c, r, "cannot write to the database");
	log_info("Imported %d session%s for %s.", cJSON_GetArraySize(c.sessions),
		 cJSON_GetArraySize(c.sessions) == 1 ? "" : "s", c.device);
	*ret = TAKE_PTR(root);
	return 0;
}
