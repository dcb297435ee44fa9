/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <strings.h>

#include "http-auth.h"

bool cd_http_bearer_matches(const char *authorization, const char *token)
{
	const char *p = authorization;
	size_t n, len;
	unsigned char diff;

	if (!p || !token || !*token)
		return false;
	p += strspn(p, " \t");
	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return false;
	p += 6;
	p += strspn(p, " \t");
	n = strcspn(p, " \t");
	if (p[n + strspn(p + n, " \t")] != '\0')
		return false; /* more than one word after the scheme */

	/* Constant time in the token's length: no early exit on a difference. */
	len = strlen(token);
	diff = n != len;
	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < n ? p[i] : 0);
	return diff == 0;
}
