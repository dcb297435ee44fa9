/* SPDX-License-Identifier: MIT */
/* The Prometheus text writer of GET /metrics (api/metrics.h). */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cleanup.h"
#include "metrics.h"

static struct cd_metrics *writer(void)
{
	struct cd_metrics *w = NULL;

	if (cd_metrics_new(&w) < 0)
		abort();
	return w;
}

static void test_format(void)
{
	_cleanup_(cd_metrics_freep) struct cd_metrics *w = writer();
	size_t len = 0;

	CHECK_STR(cd_metrics_text(w, &len), "");
	CHECK_INT(len, 0);
	cd_metrics_family(w, "cardiod_x_total", "counter", "Things counted.");
	cd_metrics_sample(w, 3, NULL);
	cd_metrics_sample(w, 0.5, "device", "sim-1", "zone", "2", NULL);
	cd_metrics_family(w, "cardiod_y", "gauge", "A \"quoted\" back\\slash\nand a newline.");
	cd_metrics_family(w, "ns:name_2", "untyped", "");
	cd_metrics_sample(w, -1, "a", "", NULL);
	CHECK_INT(cd_metrics_error(w), 0);
	CHECK_STR(cd_metrics_text(w, &len),
		  "# HELP cardiod_x_total Things counted.\n"
		  "# TYPE cardiod_x_total counter\n"
		  "cardiod_x_total 3\n"
		  "cardiod_x_total{device=\"sim-1\",zone=\"2\"} 0.5\n"
		  "# HELP cardiod_y A \"quoted\" back\\\\slash\\nand a newline.\n"
		  "# TYPE cardiod_y gauge\n"
		  "# HELP ns:name_2 \n"
		  "# TYPE ns:name_2 untyped\n"
		  "ns:name_2{a=\"\"} -1\n");
	CHECK_INT(len, strlen(cd_metrics_text(w, NULL)));
}

static void test_escaping(void)
{
	_cleanup_(cd_metrics_freep) struct cd_metrics *w = writer();

	cd_metrics_family(w, "m", "gauge", "h");
	/* The three escapes of the format. */
	cd_metrics_sample(w, 1, "l", "a\\b\"c\nd", NULL);
	/* UTF-8 kept; a stray byte, an overlong, a surrogate and a cut sequence replaced. */
	cd_metrics_sample(w, 2, "l", "h\xc3\xa9\xe2\x99\xa5 \xff \xc0\x80 \xed\xa0\x80 \xe2\x99", NULL);
	CHECK_INT(cd_metrics_error(w), 0);
	CHECK_STR(cd_metrics_text(w, NULL),
		  "# HELP m h\n# TYPE m gauge\n"
		  "m{l=\"a\\\\b\\\"c\\nd\"} 1\n"
		  "m{l=\"h\xc3\xa9\xe2\x99\xa5 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\"} 2\n");
}

static const char *fmt(double v)
{
	static char buf[32];

	cd_metrics_format_value(v, buf, sizeof(buf));
	return buf;
}

static void test_values(void)
{
	CHECK_STR(fmt(42), "42");
	CHECK_STR(fmt(0), "0");
	CHECK_STR(fmt(0.1), "0.1");
	CHECK_STR(fmt(1.0 / 3), "0.33333333333333331");
	CHECK_STR(fmt(1e300), "1e+300");
	CHECK_STR(fmt(18446744073709551616.0), "1.8446744073709552e+19");
	CHECK_STR(fmt(NAN), "NaN");
	CHECK_STR(fmt(INFINITY), "+Inf");
	CHECK_STR(fmt(-INFINITY), "-Inf");

	/*
	 * Every finite value reads back exactly (cJSON's 15 digits may be
	 * an ulp off; these never are), in 15 digits when those suffice.
	 */
	srand(7);
	for (int i = 0; i < 20000; i++) {
		double v = (double)rand() / RAND_MAX * pow(10, rand() % 12 - 4);
		char short_form[32];

		if (i % 2)
			v = round(v * 4) / 4;
		CHECK(strtod(fmt(v), NULL) == v);
		snprintf(short_form, sizeof(short_form), "%.15g", v);
		if (strtod(short_form, NULL) == v)
			CHECK_STR(fmt(v), short_form);
		else
			CHECK(strlen(fmt(v)) > strlen(short_form));
	}
}

static void test_errors(void)
{
	static const char *const bad_names[] = { "", "1abc", "a-b", "a b", "é" };
	static const char *const bad_labels[] = { "", "1a", "a:b", "__name__", "a-b" };

	for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
		_cleanup_(cd_metrics_freep) struct cd_metrics *w = writer();

		cd_metrics_family(w, bad_names[i], "gauge", "h");
		CHECK_INT(cd_metrics_error(w), -EINVAL);
		CHECK_STR(cd_metrics_text(w, NULL), "");
	}
	for (size_t i = 0; i < ELEMENTSOF(bad_labels); i++) {
		_cleanup_(cd_metrics_freep) struct cd_metrics *w = writer();

		cd_metrics_family(w, "m", "gauge", "h");
		cd_metrics_sample(w, 1, bad_labels[i], "v", NULL);
		CHECK_INT(cd_metrics_error(w), -EINVAL);
		CHECK(cd_metrics_steal(w, NULL) == NULL);
	}
	{
		_cleanup_(cd_metrics_freep) struct cd_metrics *w = writer();

		/* A sample outside any family; then nothing more is written. */
		cd_metrics_sample(w, 1, NULL);
		CHECK_INT(cd_metrics_error(w), -EINVAL);
		cd_metrics_family(w, "m", "gauge", "h");
		CHECK_STR(cd_metrics_text(w, NULL), "");
	}
	{
		_cleanup_(cd_metrics_freep) struct cd_metrics *w = writer();

		cd_metrics_family(w, "m", "histogram", "h");
		CHECK_INT(cd_metrics_error(w), -EINVAL);
	}
	{
		_cleanup_(cd_metrics_freep) struct cd_metrics *w = writer();

		/* A family appears once. */
		cd_metrics_family(w, "m", "gauge", "h");
		cd_metrics_family(w, "n", "gauge", "h");
		CHECK_INT(cd_metrics_error(w), 0);
		cd_metrics_family(w, "m", "gauge", "h");
		CHECK_INT(cd_metrics_error(w), -EINVAL);
	}
}

static void test_steal_and_growth(void)
{
	_cleanup_(cd_metrics_freep) struct cd_metrics *w = writer();
	_cleanup_free_ char *text = NULL;
	char id[32];
	size_t len = 0, lines = 0;

	cd_metrics_family(w, "cardiod_zone_seconds_total", "counter", "h");
	for (int i = 0; i < 20000; i++) {
		snprintf(id, sizeof(id), "strap-%d", i);
		cd_metrics_sample(w, i + 0.25, "device", id, "zone", "5", NULL);
	}
	CHECK_INT(cd_metrics_error(w), 0);
	text = cd_metrics_steal(w, &len);
	CHECK(text != NULL);
	if (!text)
		return;
	CHECK_INT(len, strlen(text));
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	CHECK_INT(lines, 20002);
	CHECK(strstr(text, "cardiod_zone_seconds_total{device=\"strap-19999\",zone=\"5\"} "
			   "19999.25\n") != NULL);
	/* The writer is empty again and still knows its family. */
	CHECK_STR(cd_metrics_text(w, &len), "");
	cd_metrics_sample(w, 1, NULL);
	CHECK_STR(cd_metrics_text(w, NULL), "cardiod_zone_seconds_total 1\n");
}

int main(void)
{
	test_format();
	test_escaping();
	test_values();
	test_errors();
	test_steal_and_growth();
	return check_exit("test-metrics");
}
