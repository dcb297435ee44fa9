/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics' families (DESIGN §9.6), written from the front-end
 * contract alone (api/front.h): build info, each strap's connection,
 * battery and heart rate, its samples and zone seconds since cardiod
 * started, and today's and this week's intensity.  The HTTP server adds
 * cardiod_http_requests_total after these (api/http-metrics.c).
 */
#pragma once

#include "front.h"
#include "metrics.h"

/*
 * Write the families into w.  0, or a negative errno: the contract could
 * not list the straps (ops->each_device failed), or w ran out of memory.
 * A failing week is left out (logged at debug): the rest still answers.
 */
int cd_prometheus_write(const struct cd_front_ops *ops, void *userdata, struct cd_metrics *w);
