/* SPDX-License-Identifier: MIT */
/*
 * Logging for daemon/ and api/ (lib/ never logs).  Lines go to stderr; when
 * stderr is the journal (JOURNAL_STREAM matches it) each line carries a
 * "<N>" syslog priority prefix so journald files it at the right level.
 * Never log a heart rate at LOG_INFO or above (privacy, ECOSYSTEM §2.7).
 */
#pragma once

#include <errno.h>
#include <syslog.h>

/* Default LOG_INFO; --verbose sets LOG_DEBUG. */
void log_set_max_level(int level);
int log_get_max_level(void);

/* Logs and returns -abs(error) (or 0 when error is 0), so callers can
 * "return log_error_errno(r, …)".  %m in format expands to strerror(error). */
int log_internal(int level, int error, const char *file, int line, const char *format, ...)
	__attribute__((format(printf, 5, 6)));

#define log_full_errno(level, error, ...) log_internal(level, error, __FILE__, __LINE__, __VA_ARGS__)
#define log_full(level, ...) (void)log_internal(level, 0, __FILE__, __LINE__, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
