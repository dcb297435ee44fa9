/* SPDX-License-Identifier: MIT */
/*
 * _cleanup_(cJSON_Deletep) for every folder: defined here once, next to
 * the other cleanup helpers (cleanup.h).
 */
#pragma once

#include <cjson/cJSON.h>

#include "cleanup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete)
