/* SPDX-License-Identifier: MIT */
/*
 * The session object of DESIGN §4 as JSON (cJSON).  One function, shared by
 * HTTP, D-Bus (GetSession) and cardioctl.  Pure.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

#define CD_DISCLAIMER                                                                              \
	"This is information, not a diagnosis or treatment. If you think you may have a "      \
	"depressive disorder, see a qualified mental-health practitioner."

/* What the engine does not know about its session. */
struct cd_session_meta {
	uint64_t id;               /* 0 → null (e.g. cardioctl analyze) */
	bool active;               /* state "active" or "ended" */
	const char *kind;          /* NULL → null */
	const char *device_id;     /* NULL → null */
	const char *device_name;
	const char *transport;     /* "ble", "ant", "sim", "replay", "file" */
	double started_at;         /* Unix time (s) of engine time 0, the session start; NAN → null */
	double now;                /* engine time base: when the object is built (for stale) */
	int battery_pct;           /* −1 → null */
};

/*
 * Build the session object.  Returns a new cJSON object the caller frees
 * with cJSON_Delete(), or NULL on OOM.
 */
cJSON *cd_session_to_json(const struct cd_engine *e, const struct cd_session_meta *meta);

/*
 * The one short form of a session (GET /sessions, D-Bus SessionEnded):
 * the headline keys of a session object (id, state, kind, device,
 * started_at, ended_at, duration_s, active_s, gap_s, samples, heart_rate,
 * stale, dose, load, hrv, energy_kj) and profile as its name.  A new
 * object, or NULL on OOM.
 */
cJSON *cd_session_summary(const cJSON *session);

/* Format Unix time t (s) as ISO 8601 UTC "YYYY-MM-DDTHH:MM:SS.mmmZ". 0 or -EINVAL. */
int cd_format_iso8601(double t, char *buf, size_t size);
