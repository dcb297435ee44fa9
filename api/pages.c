/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "pages.h"

/* Page scripts talk to this origin only: no inline script, no CDN, no frames. */
#define CSP "default-src 'self'"

const struct cd_page *cd_page_find(const char *name)
{
	if (!name)
		return NULL;
	for (const struct cd_page *p = cd_pages; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* If-None-Match: a list of entity tags (RFC 9110 §13.1.2), or "*". */
static bool etag_matches(const char *header, const char *etag)
{
	size_t n = strlen(etag);

	if (!header)
		return false;
	for (const char *p = header; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2; /* weak comparison (§13.1.2) */
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

int cd_page_response(struct MHD_Connection *c, const char *name, struct MHD_Response **ret,
		     unsigned *ret_status)
{
	const struct cd_page *p = cd_page_find(name);
	bool fresh;
	struct MHD_Response *resp;

	if (!p)
		return -ENOENT;
	fresh = etag_matches(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_IF_NONE_MATCH),
			     p->etag);
	resp = MHD_create_response_from_buffer(fresh ? 0 : p->len, fresh ? NULL : (void *)p->data,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return -ENOMEM;
	if ((!fresh &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, p->content_type) != MHD_YES) ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, p->etag) != MHD_YES ||
	    /* Revalidate every time: a new cardiod brings new pages; the ETag makes it a 304. */
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES ||
	    MHD_add_response_header(resp, "Content-Security-Policy", CSP) != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Frame-Options", "SAMEORIGIN") != MHD_YES) {
		MHD_destroy_response(resp);
		return -ENOMEM;
	}
	*ret = resp;
	*ret_status = fresh ? 304 : 200;
	return 0;
}
