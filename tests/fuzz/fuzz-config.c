/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the INI configuration parser (daemon/daemon-config.h):
 * cd_config_parse_string() on arbitrary text, then cd_config_finish() and
 * a profile lookup.  A failure is -EINVAL with a "FILE:LINE: reason"
 * message (or -ENOMEM, which libFuzzer's allocator makes rare); success
 * leaves a configuration whose profiles can be looked up; and nothing
 * leaks either way (ASan's leak check).
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(expr)                                                                          \
	do {                                                                                       \
		if (!(expr)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #expr);                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void check_error(int r, const char *error, const char *origin)
{
	if (r == -ENOMEM)
		return;
	FUZZ_ASSERT(r == -EINVAL);
	FUZZ_ASSERT(error && strncmp(error, origin, strlen(origin)) == 0);
	FUZZ_ASSERT(error[strlen(origin)] == ':');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cd_config c;
	char *text, *error = NULL;
	int r;

	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	FUZZ_ASSERT(text);
	memcpy(text, data, size);
	text[size] = '\0'; /* a NUL inside ends the text, as in a file read by the daemon */

	if (cd_config_init(&c) < 0) {
		free(text);
		return 0;
	}
	r = cd_config_parse_string(&c, text, "fuzz.conf", &error);
	if (r < 0) {
		check_error(r, error, "fuzz.conf");
	} else {
		FUZZ_ASSERT(r == 0 && !error);
		r = cd_config_finish(&c, "fuzz.conf", &error);
		if (r < 0) {
			check_error(r, error, "fuzz.conf");
		} else {
			FUZZ_ASSERT(cd_config_profile_for(&c, "sim-1") != NULL);
			FUZZ_ASSERT(cd_config_profile_for(&c, "replay-1") != NULL);
			for (size_t i = 0; i < c.n_profiles; i++)
				for (char **d = c.profiles[i].devices; d && *d; d++)
					FUZZ_ASSERT(cd_config_profile_for(&c, *d) != NULL);
		}
	}
	free(error);
	cd_config_done(&c);
	free(text);
	return 0;
}
