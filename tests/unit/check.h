/* SPDX-License-Identifier: MIT */
/*
 * A minimal assertion layer for unit tests: each CHECK prints the failing
 * expression with file:line and marks the test failed; the test keeps going
 * so one run reports every failure.  main() returns check_exit().
 */
#pragma once

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		check_count++;                                                                     \
		if (!(expr)) {                                                                     \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr);   \
		}                                                                                  \
	} while (0)

/* Doubles equal within tol (NAN equals NAN). */
#define CHECK_NEAR(a, b, tol)                                                                      \
	do {                                                                                       \
		double _a = (a), _b = (b);                                                         \
		check_count++;                                                                     \
		if (!((isnan(_a) && isnan(_b)) || fabs(_a - _b) <= (tol))) {                       \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g\n", __FILE__,        \
				__LINE__, #a, _a, #b, _b);                                         \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		check_count++;                                                                     \
		if (_a != _b) {                                                                    \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: %s = %lld, expected %lld\n", __FILE__, __LINE__,   \
				#a, _a, _b);                                                       \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		check_count++;                                                                     \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: %s = \"%s\", expected \"%s\"\n", __FILE__,         \
				__LINE__, #a, _a ? _a : "(null)", _b ? _b : "(null)");             \
		}                                                                                  \
	} while (0)

static inline int check_exit(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}
