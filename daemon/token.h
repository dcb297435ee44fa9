/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API's bearer token (DESIGN §9.7): made fresh at every start
 * from getrandom(2), written where [http] token_file says (mode 0640,
 * group [bus] manage_group, "cardiod", when that group exists) for
 * cardioctl and scripts to read: those who may start and stop sessions
 * over D-Bus may do so over HTTP too.
 */
#pragma once

#include "http-auth.h"

/*
 * Make a token (CD_HTTP_TOKEN_LEN lower-case hex digits) into ret and
 * write it, with a newline, to path: a new file renamed over the old one,
 * so a reader never sees half a token.  Logs what went wrong; 0 or a
 * negative errno (ret is then empty).  group NULL: "cardiod".
 */
int cd_token_setup(const char *path, const char *group, char ret[static CD_HTTP_TOKEN_LEN + 1]);
