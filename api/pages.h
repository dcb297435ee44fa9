/* SPDX-License-Identifier: MIT */
/*
 * The live page and the OBS overlay (DESIGN §9.3): files of api/pages/
 * compiled in by api/gen-pages.py, served by api/pages.c with a strict
 * CSP, nosniff, a strong ETag and 304 on If-None-Match.
 */
#pragma once

#include <microhttpd.h>
#include <stddef.h>

struct cd_page {
	const char *name;         /* "index.html", "app.js", … */
	const char *content_type;
	const unsigned char *data;
	size_t len;
	const char *etag;         /* quoted */
};

/* Generated: ends with an entry whose name is NULL. */
extern const struct cd_page cd_pages[];

const struct cd_page *cd_page_find(const char *name);

/*
 * The answer for page name (CD_ROUTE_PAGE's match.page): 0 and *ret,
 * *ret_status (200 or 304), or -ENOENT (no such file), -ENOMEM.
 */
int cd_page_response(struct MHD_Connection *c, const char *name, struct MHD_Response **ret,
		     unsigned *ret_status);
