/* SPDX-License-Identifier: MIT */
#pragma once

#include "import.h"

/*
 * DESIGN §4's CSV as an import (§9.5): one session without a start time
 * (CD_IMPORT_NO_START, sport NULL).  0, -EBADMSG with "line N: reason" in
 * err, -ENOMEM, or the sink's error.
 */
int cd_csv_import(const void *data, size_t len, const struct cd_import_sink *sink, char *err,
		  size_t errlen);
