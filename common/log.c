/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;
static int journal = -1; /* -1 not yet known */

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

/* systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

/*
 * One message, one line (DESIGN §9.7): control characters a strap name, a
 * D-Bus error text or a file name may carry are written as \n, \r, \t or
 * \xNN, so nothing a radio sends can forge a journal line or a terminal
 * sequence.  Bytes ≥ 0x80 (UTF-8) pass unchanged.
 */
static void escape_controls(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in && o + 1 < size; in++) {
		unsigned char c = (unsigned char)*in;
		char e = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : 0;

		if (c >= 0x20 && c != 0x7f) {
			out[o++] = (char)c;
		} else if (e) {
			if (o + 3 > size)
				break;
			out[o++] = '\\';
			out[o++] = e;
		} else {
			if (o + 5 > size)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
}

int log_internal(int level, int error, const char *file, int line, const char *format, ...)
{
	char raw[1024], buf[1024], fmt[512];
	const char *src = format;
	size_t o = 0;
	va_list ap;

	if (error < 0)
		error = -error;
	if (level > max_level)
		return -error;
	if (journal < 0)
		journal = stderr_is_journal();

	/* Expand %m to strerror(error) ourselves: errno may have moved on. */
	while (*src && o + 1 < sizeof(fmt)) {
		if (src[0] == '%' && src[1] == 'm') {
			const char *msg = strerror(error);
			for (; *msg && o + 2 < sizeof(fmt); msg++) {
				if (*msg == '%')
					fmt[o++] = '%';
				fmt[o++] = *msg;
			}
			src += 2;
		} else if (src[0] == '%' && src[1] == '%') {
			fmt[o++] = *src++;
			if (o + 1 < sizeof(fmt))
				fmt[o++] = *src++;
		} else {
			fmt[o++] = *src++;
		}
	}
	fmt[o] = '\0';

	va_start(ap, format);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vsnprintf(raw, sizeof(raw), fmt, ap);
#pragma GCC diagnostic pop
	va_end(ap);
	escape_controls(raw, buf, sizeof(buf));

	if (journal)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else if (max_level >= LOG_DEBUG)
		fprintf(stderr, "cardiod: %s: %s (%s:%d)\n", level_name(level), buf, file, line);
	else
		fprintf(stderr, "cardiod: %s: %s\n", level_name(level), buf);
	return -error;
}
