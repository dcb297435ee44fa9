/* SPDX-License-Identifier: MIT */
/*
 * The API token of DESIGN §9.7, the pure half: does an Authorization
 * header carry it?  No I/O, no clock, no logging (daemon/token.c makes and
 * writes the token; api/http.c asks this before routing).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CD_HTTP_TOKEN_BYTES 32                        /* from getrandom(2) */
#define CD_HTTP_TOKEN_LEN (2 * CD_HTTP_TOKEN_BYTES)   /* lower-case hex characters */

/*
 * Whether authorization (an Authorization header value, NULL when absent)
 * is "Bearer TOKEN" (scheme case-insensitive, RFC 9110 §11.1; one or more
 * spaces; surrounding blanks ignored) with TOKEN equal to token.  The
 * comparison takes the same time wherever the first difference is.  A
 * NULL or empty token matches nothing.
 */
bool cd_http_bearer_matches(const char *authorization, const char *token);
