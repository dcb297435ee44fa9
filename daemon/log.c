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

int log_internal(int level, int error, const char *file, int line, const char *format, ...)
{
	char buf[1024], fmt[512];
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
	vsnprintf(buf, sizeof(buf), fmt, ap);
#pragma GCC diagnostic pop
	va_end(ap);

	if (journal)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else if (max_level >= LOG_DEBUG)
		fprintf(stderr, "cardiod: %s: %s (%s:%d)\n", level_name(level), buf, file, line);
	else
		fprintf(stderr, "cardiod: %s: %s\n", level_name(level), buf);
	return -error;
}
