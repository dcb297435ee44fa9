/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text format 0.0.4 (api/metrics.h): one growing buffer,
 * the current family, and the names of those already written (a family
 * must appear once; there are a dozen, so a list is enough).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

struct cd_metrics {
	char *buf;
	size_t len, cap;
	int error;
	char **families; /* names written so far; the last is the current one */
	size_t n_families;
};

int cd_metrics_new(struct cd_metrics **ret)
{
	struct cd_metrics *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->cap = 4096;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		free(w);
		return -ENOMEM;
	}
	w->buf[0] = '\0';
	*ret = w;
	return 0;
}

struct cd_metrics *cd_metrics_free(struct cd_metrics *w)
{
	if (!w)
		return NULL;
	for (size_t i = 0; i < w->n_families; i++)
		free(w->families[i]);
	free(w->families);
	free(w->buf);
	free(w);
	return NULL;
}

int cd_metrics_error(const struct cd_metrics *w)
{
	return w->error;
}

const char *cd_metrics_text(const struct cd_metrics *w, size_t *ret_len)
{
	if (ret_len)
		*ret_len = w->len;
	return w->buf;
}

char *cd_metrics_steal(struct cd_metrics *w, size_t *ret_len)
{
	char *fresh, *text;

	if (w->error)
		return NULL;
	fresh = malloc(64);
	if (!fresh)
		return NULL;
	fresh[0] = '\0';
	text = w->buf;
	if (ret_len)
		*ret_len = w->len;
	w->buf = fresh;
	w->cap = 64;
	w->len = 0;
	return text;
}

static bool fail(struct cd_metrics *w, int error)
{
	if (!w->error)
		w->error = error;
	return false;
}

/* Room for n more bytes and the NUL. */
static bool reserve(struct cd_metrics *w, size_t n)
{
	size_t cap = w->cap;
	char *b;

	if (w->error)
		return false;
	if (n < w->cap - w->len)
		return true;
	if (n > SIZE_MAX / 4 - w->len)
		return fail(w, -ENOMEM);
	while (cap - w->len <= n)
		cap *= 2;
	b = realloc(w->buf, cap);
	if (!b)
		return fail(w, -ENOMEM);
	w->buf = b;
	w->cap = cap;
	return true;
}

static bool put(struct cd_metrics *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return false;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
	return true;
}

static bool puts_(struct cd_metrics *w, const char *s)
{
	return put(w, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (RFC 3629: no overlongs, surrogates). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t k;
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return k;
}

/*
 * s escaped for the format: backslash and newline always, the double
 * quote in label values only (HELP text keeps it as is); bytes that are
 * not UTF-8 become U+FFFD.
 */
static bool put_escaped(struct cd_metrics *w, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n > 0) {
		size_t run = 0, k;

		/* Copy plain runs in one go. */
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '\\' &&
		       !(quote && p[run] == '"'))
			run++;
		if (run > 0) {
			if (!put(w, (const char *)p, run))
				return false;
			p += run;
			n -= run;
			continue;
		}
		if (*p == '\\' || *p == '"' || *p == '\n') {
			char e[2] = { '\\', *p == '\n' ? 'n' : (char)*p };

			if (!put(w, e, 2))
				return false;
			p++;
			n--;
			continue;
		}
		k = utf8_len(p, n);
		if (k == 0) {
			if (!put(w, "\xef\xbf\xbd", 3))
				return false;
			k = 1;
		} else if (!put(w, (const char *)p, k)) /* other controls are legal as is */
			return false;
		p += k;
		n -= k;
	}
	return true;
}

static bool name_valid(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

static const char *current(const struct cd_metrics *w)
{
	return w->n_families ? w->families[w->n_families - 1] : NULL;
}

void cd_metrics_family(struct cd_metrics *w, const char *name, const char *type,
		       const char *help)
{
	char **f;

	if (w->error)
		return;
	if (!name_valid(name, true) || !type || !help ||
	    (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
	     strcmp(type, "untyped") != 0)) {
		fail(w, -EINVAL);
		return;
	}
	for (size_t i = 0; i < w->n_families; i++)
		if (strcmp(w->families[i], name) == 0) {
			fail(w, -EINVAL);
			return;
		}
	f = realloc(w->families, (w->n_families + 1) * sizeof(*f));
	if (!f) {
		fail(w, -ENOMEM);
		return;
	}
	w->families = f;
	f[w->n_families] = strdup(name);
	if (!f[w->n_families]) {
		fail(w, -ENOMEM);
		return;
	}
	w->n_families++;
	(void)(puts_(w, "# HELP ") && puts_(w, name) && put(w, " ", 1) &&
	       put_escaped(w, help, false) && puts_(w, "\n# TYPE ") && puts_(w, name) &&
	       put(w, " ", 1) && puts_(w, type) && put(w, "\n", 1));
}

void cd_metrics_format_value(double v, char *buf, size_t size)
{
	if (isnan(v))
		snprintf(buf, size, "NaN");
	else if (isinf(v))
		snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
	else {
		/* Short when 15 digits read back exactly, else 17: never an ulp off. */
		snprintf(buf, size, "%1.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, size, "%1.17g", v);
	}
}

void cd_metrics_sample(struct cd_metrics *w, double value, ...)
{
	const char *name = current(w);
	const char *key;
	char num[32];
	bool first = true;
	va_list ap;

	if (w->error)
		return;
	if (!name) {
		fail(w, -EINVAL);
		return;
	}
	if (!puts_(w, name))
		return;
	va_start(ap, value);
	while ((key = va_arg(ap, const char *))) {
		const char *val = va_arg(ap, const char *);

		if (!name_valid(key, false) || strncmp(key, "__", 2) == 0 || !val) {
			fail(w, -EINVAL);
			break;
		}
		if (!put(w, first ? "{" : ",", 1) || !puts_(w, key) || !put(w, "=\"", 2) ||
		    !put_escaped(w, val, true) || !put(w, "\"", 1))
			break;
		first = false;
	}
	va_end(ap);
	if (w->error)
		return;
	cd_metrics_format_value(value, num, sizeof(num));
	(void)((first || put(w, "}", 1)) && put(w, " ", 1) && puts_(w, num) && put(w, "\n", 1));
}
