/* SPDX-License-Identifier: MIT */
/*
 * GET /summary and the week's live figures (DESIGN §9.4) on the local
 * calendar: the time zone is the process's (TZ, else /etc/localtime), and
 * a session counts on the local day on which it started.  Ended sessions
 * come from the store's per-session figures; active ones from the
 * monitor, live.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon-config.h"
#include "monitor.h"
#include "store.h"
#include "dose.h"

struct summary_query {
	enum cd_summary_by by;
	bool has_from, has_to;
	int64_t from, to;    /* local day numbers */
	const char *profile; /* NULL: every profile */
};

/* The IANA name of the local time zone ("Europe/Berlin"), else TZ as set, else "UTC". */
const char *summary_tz_name(char *buf, size_t size);
/* The local day number on which realtime us falls. */
int64_t summary_local_day(uint64_t us);

/*
 * The answer of GET /summary at realtime now_us.  0, -EINVAL (from after
 * to), -E2BIG (too many periods), -ENOMEM, -EIO.
 */
int summary_json(struct store *store, struct monitor *monitor, const struct cd_config *config,
		 const struct summary_query *q, uint64_t now_us, cJSON **ret);

struct summary_week {
	double today_min, week_min, goal_min;
	unsigned week_sessions;
};
/* This week's and today's intensity minutes and sessions, active sessions included. */
int summary_week(struct store *store, struct monitor *monitor, const struct cd_config *config,
		 uint64_t now_us, struct summary_week *ret);
