/* SPDX-License-Identifier: MIT */
/*
 * Proleptic Gregorian dates from day counts and back (Howard Hinnant's
 * days_from_civil / civil_from_days).  Timestamps in cardiod are UTC, so no
 * time-zone rules are needed.  Pure.
 */
#pragma once

#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1..12), day d (1..31). */
int64_t cd_days_from_civil(int64_t y, unsigned m, unsigned d);

/* The date of day z since 1970-01-01. */
void cd_civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d);
