/* SPDX-License-Identifier: MIT */
/*
 * CSV samples (DESIGN §4): "t_s,bpm,rr_ms,contact".
 *
 * The reader works on a caller-owned buffer and never copies a line: each
 * line is found with memchr() and its fields are walked by hand.  Numbers
 * are parsed by a small decimal scanner that checks the grammar and, for
 * the common short forms, computes the value with one correctly rounded
 * IEEE operation (Clinger's fast path), which gives exactly what strtod()
 * gives.  Anything longer falls back to strtod() on a NUL-terminated copy
 * in a scratch buffer, so strtod() never reads past the caller's buffer.
 *
 * Memory is bounded per line: a line longer than CSV_LINE_MAX is an error,
 * and the RR array only grows to the largest list seen.
 */

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "csv.h"

/* Longest accepted line in bytes, without its line end. */
#define CSV_LINE_MAX 65536
/* Longest number token; a line never holds a longer one. */
#define CSV_TOKEN_MAX CSV_LINE_MAX
#define CSV_HEADER CD_CSV_HEADER
#define CSV_BPM_LIMIT 65535.0

struct cd_csv_reader {
	const char *data;
	size_t size;
	size_t pos;   /* start of the next line */
	size_t line;  /* number of the line last read, 1-based */
	bool started; /* header consumed */
	double t_prev;
	int error;    /* sticky negative errno, 0 when none */
	double *rr;
	size_t rr_cap;
	char *scratch; /* CSV_TOKEN_MAX + 1 bytes, for the strtod() fallback */
	char message[160];
};

int cd_csv_reader_new(const char *data, size_t size, struct cd_csv_reader **ret)
{
	struct cd_csv_reader *r;

	if (!ret || (!data && size > 0))
		return -EINVAL;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->data = data;
	r->size = size;
	r->t_prev = -INFINITY;
	r->rr_cap = 16;
	r->rr = malloc(r->rr_cap * sizeof(*r->rr));
	r->scratch = malloc(CSV_TOKEN_MAX + 1);
	if (!r->rr || !r->scratch) {
		cd_csv_reader_free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

struct cd_csv_reader *cd_csv_reader_free(struct cd_csv_reader *r)
{
	if (!r)
		return NULL;
	free(r->rr);
	free(r->scratch);
	free(r);
	return NULL;
}

const char *cd_csv_reader_error(const struct cd_csv_reader *r)
{
	return r && r->error ? r->message : NULL;
}

size_t cd_csv_reader_line(const struct cd_csv_reader *r)
{
	return r ? r->line : 0;
}

__attribute__((format(printf, 3, 4))) static int fail(struct cd_csv_reader *r, int error,
						       const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(r->message, sizeof(r->message), "line %zu: ", r->line);
	if (n < 0 || (size_t)n >= sizeof(r->message))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(r->message + n, sizeof(r->message) - (size_t)n, fmt, ap);
	va_end(ap);
	r->error = error;
	return error;
}

/* A printable rendering of byte c for error messages. */
static const char *show_char(char c, char buf[8])
{
	unsigned char u = (unsigned char)c;

	if (u == '\r')
		return "carriage return";
	if (u == '\t')
		return "tab";
	if (u == ' ')
		return "space";
	if (u >= 0x21 && u < 0x7f)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", u);
	return buf;
}

/* 10^0 .. 10^22 are exact doubles. */
static const double pow10_exact[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

enum number_status {
	NUMBER_OK,
	NUMBER_EMPTY,
	NUMBER_SYNTAX, /* not a decimal number */
};

/*
 * Parse a decimal number [+-]?(digits[.digits*]|.digits)([eE][+-]?digits)?
 * that must span [p, end) exactly.  Hex floats, "inf" and "nan" are
 * refused by the grammar; out-of-range exponents give ±inf or 0 exactly as
 * strtod() does, and the callers check finiteness.
 */
static enum number_status parse_number(struct cd_csv_reader *r, const char *p, const char *end,
				       double *ret)
{
	const char *start = p;
	bool negative = false, exact = true;
	uint64_t mantissa = 0;
	int digits = 0, significant = 0;
	long exp10 = 0;

	if (p == end)
		return NUMBER_EMPTY;
	if (*p == '+' || *p == '-')
		negative = *p++ == '-';

	for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
		if (mantissa == 0 && *p == '0')
			continue;
		if (significant < 19) {
			mantissa = mantissa * 10 + (uint64_t)(*p - '0');
			significant++;
		} else {
			/* Digits past the 19th only matter to strtod(). */
			exact = false;
			exp10++;
		}
	}
	if (p < end && *p == '.') {
		p++;
		for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
			if (mantissa == 0 && *p == '0') {
				exp10--;
				continue;
			}
			if (significant < 19) {
				mantissa = mantissa * 10 + (uint64_t)(*p - '0');
				significant++;
				exp10--;
			} else {
				exact = false;
			}
		}
	}
	if (digits == 0)
		return NUMBER_SYNTAX;
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool eneg = false;
		long e = 0;
		int edigits = 0;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++, edigits++)
			if (e < 100000)
				e = e * 10 + (*p - '0');
		if (edigits == 0)
			return NUMBER_SYNTAX;
		exp10 += eneg ? -e : e;
	}
	if (p != end)
		return NUMBER_SYNTAX;

	/*
	 * Clinger's fast path: both operands are exact doubles, so the one
	 * division or multiplication rounds correctly, like strtod().  It
	 * needs plain double evaluation (no x87 excess precision).
	 */
#if FLT_EVAL_METHOD == 0
	if (mantissa == 0) {
		*ret = negative ? -0.0 : 0.0;
		return NUMBER_OK;
	}
	if (exact && mantissa <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
		double v = (double)mantissa;

		v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
		*ret = negative ? -v : v;
		return NUMBER_OK;
	}
#endif
	/* The slow path: the token is known to be well formed. */
	memcpy(r->scratch, start, (size_t)(end - start));
	r->scratch[end - start] = '\0';
	*ret = strtod(r->scratch, NULL);
	return NUMBER_OK;
}

/* Report why [p, end) is not a number, naming the first offending byte. */
static int bad_number(struct cd_csv_reader *r, const char *field, const char *p, const char *end,
		      enum number_status st)
{
	char buf[8];

	if (st == NUMBER_EMPTY)
		return fail(r, -EBADMSG, "%s: empty", field);
	for (const char *q = p; q < end; q++)
		if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == '+' || *q == '-' ||
		      *q == 'e' || *q == 'E'))
			return fail(r, -EBADMSG, "%s: not a number (unexpected %s)", field,
				    show_char(*q, buf));
	return fail(r, -EBADMSG, "%s: not a number", field);
}

static int grow_rr(struct cd_csv_reader *r)
{
	double *rr;
	size_t cap;

	if (r->rr_cap > SIZE_MAX / 2 / sizeof(*r->rr))
		return -ENOMEM;
	cap = r->rr_cap * 2;
	rr = realloc(r->rr, cap * sizeof(*rr));
	if (!rr)
		return -ENOMEM;
	r->rr = rr;
	r->rr_cap = cap;
	return 0;
}

/* The RR list of one line: numbers separated by runs of spaces. */
static int parse_rr(struct cd_csv_reader *r, const char *p, const char *end, size_t *ret_n)
{
	size_t n = 0;

	for (;;) {
		const char *tok;
		enum number_status st;
		double v;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		tok = p;
		while (p < end && *p != ' ')
			p++;
		st = parse_number(r, tok, p, &v);
		if (st != NUMBER_OK)
			return bad_number(r, "rr_ms", tok, p, st);
		if (!isfinite(v))
			return fail(r, -EBADMSG, "rr_ms: value %zu is not finite", n + 1);
		if (!(v > 0))
			return fail(r, -EBADMSG, "rr_ms: value %zu is not positive", n + 1);
		if (n == r->rr_cap && grow_rr(r) < 0)
			return fail(r, -ENOMEM, "out of memory");
		r->rr[n++] = v;
	}
	*ret_n = n;
	return 0;
}

static bool is_blank(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return false;
	return true;
}

/*
 * Find the next line: sets [*ret_p, *ret_end) without its line end (LF or
 * CRLF) and advances r->pos.  Returns 1, or 0 at the end of the data.
 */
static int next_line(struct cd_csv_reader *r, const char **ret_p, const char **ret_end)
{
	const char *p, *nl;
	size_t left, scan;

	if (r->pos >= r->size)
		return 0;
	p = r->data + r->pos;
	left = r->size - r->pos;
	r->line++;

	/* +2: room for the CR and LF of a line of exactly CSV_LINE_MAX bytes. */
	scan = left < CSV_LINE_MAX + 2 ? left : CSV_LINE_MAX + 2;
	nl = memchr(p, '\n', scan);
	if (!nl) {
		if (left > CSV_LINE_MAX + 1)
			return fail(r, -EBADMSG, "line longer than %d bytes", CSV_LINE_MAX);
		nl = p + left; /* the last line may lack its line end */
		r->pos = r->size;
	} else {
		r->pos += (size_t)(nl - p) + 1;
	}
	if (nl > p && nl[-1] == '\r')
		nl--;
	if ((size_t)(nl - p) > CSV_LINE_MAX)
		return fail(r, -EBADMSG, "line longer than %d bytes", CSV_LINE_MAX);
	if (memchr(p, '\0', (size_t)(nl - p)))
		return fail(r, -EBADMSG, "embedded NUL byte");
	*ret_p = p;
	*ret_end = nl;
	return 1;
}

static int read_header(struct cd_csv_reader *r)
{
	const char *p, *end;
	int k;

	/* A UTF-8 byte order mark, as spreadsheets write it. */
	if (r->size >= 3 && memcmp(r->data, "\xef\xbb\xbf", 3) == 0)
		r->pos = 3;
	k = next_line(r, &p, &end);
	if (k < 0)
		return k;
	if (k == 0) {
		r->line = 1;
		return fail(r, -EBADMSG, "missing header \"" CSV_HEADER "\"");
	}
	if ((size_t)(end - p) != strlen(CSV_HEADER) || memcmp(p, CSV_HEADER, (size_t)(end - p)))
		return fail(r, -EBADMSG, "expected header \"" CSV_HEADER "\"");
	r->started = true;
	return 0;
}

int cd_csv_reader_next(struct cd_csv_reader *r, struct cd_sample *ret)
{
	const char *p, *end, *f[4], *fend[4];
	enum number_status st;
	double t, bpm;
	enum cd_contact contact;
	size_t n_rr = 0;
	int k, nf;

	if (!r || !ret)
		return -EINVAL;
	if (r->error)
		return r->error;
	if (!r->started) {
		k = read_header(r);
		if (k < 0)
			return k;
	}

	k = next_line(r, &p, &end);
	if (k <= 0)
		return k;
	if (is_blank(p, end)) {
		/* Blank lines are fine at the end, and nowhere else. */
		size_t blank_line = r->line;

		for (size_t i = r->pos; i < r->size; i++)
			if (r->data[i] != '\n' && r->data[i] != '\r' && r->data[i] != ' ' &&
			    r->data[i] != '\t') {
				r->line = blank_line;
				return fail(r, -EBADMSG, "empty line");
			}
		r->pos = r->size;
		return 0;
	}

	/* Split into exactly four fields. */
	nf = 0;
	f[0] = p;
	for (const char *q = p;; q++) {
		q = memchr(q, ',', (size_t)(end - q));
		if (!q)
			break;
		if (nf == 3)
			return fail(r, -EBADMSG, "too many fields (expected 4: " CSV_HEADER ")");
		fend[nf++] = q;
		f[nf] = q + 1;
	}
	fend[nf++] = end;
	if (nf != 4)
		return fail(r, -EBADMSG, "%d field%s, expected 4 (" CSV_HEADER ")", nf,
			    nf == 1 ? "" : "s");

	st = parse_number(r, f[0], fend[0], &t);
	if (st != NUMBER_OK)
		return bad_number(r, "t_s", f[0], fend[0], st);
	if (!isfinite(t))
		return fail(r, -EBADMSG, "t_s: not finite");
	if (t < 0)
		return fail(r, -EBADMSG, "t_s: negative");
	if (t < r->t_prev)
		return fail(r, -EBADMSG, "t_s: time goes backwards (%.15g after %.15g)", t,
			    r->t_prev);

	st = parse_number(r, f[1], fend[1], &bpm);
	if (st != NUMBER_OK)
		return bad_number(r, "bpm", f[1], fend[1], st);
	if (!(bpm >= 0 && bpm <= CSV_BPM_LIMIT))
		return fail(r, -EBADMSG, "bpm: outside 0..65535");

	k = parse_rr(r, f[2], fend[2], &n_rr);
	if (k < 0)
		return k;

	if (fend[3] == f[3])
		contact = CD_CONTACT_UNKNOWN;
	else if (fend[3] - f[3] == 1 && f[3][0] == '1')
		contact = CD_CONTACT_OK;
	else if (fend[3] - f[3] == 1 && f[3][0] == '0')
		contact = CD_CONTACT_LOST;
	else
		return fail(r, -EBADMSG, "contact: expected 1, 0 or empty");

	r->t_prev = t;
	*ret = (struct cd_sample){
		.t = t,
		.bpm = bpm,
		.contact = contact,
		.energy_kj = NAN,
		.rr_ms = r->rr,
		.n_rr = n_rr,
	};
	return 1;
}

/* Writer. */

static int write_error(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* snprintf-style output: counts every byte, stores what fits. */
struct out {
	char *buf;
	size_t size, len;
};

static void out_bytes(struct out *o, const char *s, size_t n)
{
	if (o->len < o->size)
		memcpy(o->buf + o->len, s, n < o->size - o->len ? n : o->size - o->len);
	o->len += n;
}

/*
 * The shortest of %.15g, %.16g and %.17g that reads back as the same
 * double: readable ("0.1", not "0.10000000000000001") and exact.
 */
static void out_double(struct out *o, double v)
{
	char buf[32];

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v)
			break;
	}
	out_bytes(o, buf, strlen(buf));
}

ssize_t cd_csv_format_sample(char *buf, size_t size, const struct cd_sample *s)
{
	struct out o = { .buf = buf, .size = size };
	const char *contact = NULL;

	if ((!buf && size > 0) || !s || (s->n_rr > 0 && !s->rr_ms))
		return -EINVAL;
	/* Refuse what the reader would refuse, so every written file reads back. */
	if (!isfinite(s->t) || s->t < 0 || !(s->bpm >= 0 && s->bpm <= CSV_BPM_LIMIT))
		return -EINVAL;
	for (size_t i = 0; i < s->n_rr; i++)
		if (!isfinite(s->rr_ms[i]) || !(s->rr_ms[i] > 0))
			return -EINVAL;
	switch (s->contact) {
	case CD_CONTACT_UNKNOWN:
		contact = "";
		break;
	case CD_CONTACT_LOST:
		contact = "0";
		break;
	case CD_CONTACT_OK:
		contact = "1";
		break;
	}
	if (!contact)
		return -EINVAL; /* not one of the enum's values */

	out_double(&o, s->t);
	out_bytes(&o, ",", 1);
	out_double(&o, s->bpm);
	out_bytes(&o, ",", 1);
	for (size_t i = 0; i < s->n_rr; i++) {
		if (i > 0)
			out_bytes(&o, " ", 1);
		out_double(&o, s->rr_ms[i]);
	}
	out_bytes(&o, ",", 1);
	out_bytes(&o, contact, strlen(contact));
	out_bytes(&o, "\n", 1);
	if (size > 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len > SSIZE_MAX ? -EOVERFLOW : (ssize_t)o.len;
}

int cd_csv_write_header(FILE *f)
{
	if (!f)
		return -EINVAL;
	return fputs(CD_CSV_HEADER_LINE, f) < 0 ? write_error() : 0;
}

int cd_csv_write_sample(FILE *f, const struct cd_sample *s)
{
	char stack[256];
	_cleanup_free_ char *heap = NULL;
	char *line = stack;
	ssize_t n;

	if (!f)
		return -EINVAL;
	n = cd_csv_format_sample(stack, sizeof(stack), s);
	if (n < 0)
		return (int)n;
	if ((size_t)n >= sizeof(stack)) {
		/* A long RR list: format again into a buffer of the right size. */
		line = heap = malloc((size_t)n + 1);
		if (!heap)
			return -ENOMEM;
		(void)cd_csv_format_sample(heap, (size_t)n + 1, s);
	}
	return fwrite(line, 1, (size_t)n, f) == (size_t)n ? 0 : write_error();
}
