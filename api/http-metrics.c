/* SPDX-License-Identifier: MIT */
/* GET /metrics: the daemon's families, then the HTTP server's own. */
#include <errno.h>
#include <stdio.h>

#include "cleanup.h"
#include "http.h"
#include "metrics.h"
#include "prometheus.h"

static void write_http_requests(struct cd_metrics *w, const struct cd_http_stats *stats)
{
	char code[8];

	cd_metrics_family(w, "cardiod_http_requests_total", "counter",
			  "HTTP requests answered since cardiod started, by status code.");
	for (unsigned s = 100; s < CD_HTTP_STATUS_MAX; s++) {
		if (!stats->answered[s])
			continue;
		snprintf(code, sizeof(code), "%u", s);
		cd_metrics_sample(w, (double)stats->answered[s], "code", code, NULL);
	}
}

int cd_http_metrics_build(const struct cd_front_ops *ops, void *userdata,
			  const struct cd_http_stats *stats, char **ret, size_t *ret_len)
{
	_cleanup_(cd_metrics_freep) struct cd_metrics *w = NULL;
	int r;

	if (!ops->each_device)
		return -EOPNOTSUPP;
	r = cd_metrics_new(&w);
	if (r < 0)
		return r;
	r = cd_prometheus_write(ops, userdata, w);
	if (r < 0)
		return r;
	write_http_requests(w, stats);
	r = cd_metrics_error(w);
	if (r < 0)
		return r;
	*ret = cd_metrics_steal(w, ret_len);
	return *ret ? 0 : -ENOMEM;
}
