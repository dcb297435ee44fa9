/* SPDX-License-Identifier: MIT */
/*
 * lib/tcx: times, a written file read back (same seconds and heart rates,
 * none for a second without a valid sample), entities never substituted
 * (no XXE, no billion laughs), malformed XML and foreign files refused.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tcx.h"

struct mem {
	char *b;
	size_t n;
};

static int mem_write(void *userdata, const void *buf, size_t len)
{
	struct mem *m = userdata;
	char *b = realloc(m->b, m->n + len + 1);

	if (!b)
		return -ENOMEM;
	memcpy(b + m->n, buf, len);
	m->b = b;
	m->n += len;
	m->b[m->n] = '\0';
	return 0;
}

struct got {
	int sessions, ended;
	int64_t start;
	char sport[16];
	size_t n;
	double t[64], bpm[64];
};

static int g_begin(void *userdata, int64_t started_at_us, const char *sport)
{
	struct got *g = userdata;

	g->sessions++;
	g->start = started_at_us;
	snprintf(g->sport, sizeof(g->sport), "%s", sport ? sport : "");
	return 0;
}

static int g_sample(void *userdata, const struct cd_sample *s)
{
	struct got *g = userdata;

	if (g->n < 64) {
		g->t[g->n] = s->t;
		g->bpm[g->n] = s->bpm;
	}
	g->n++;
	return 0;
}

static int g_end(void *userdata)
{
	((struct got *)userdata)->ended++;
	return 0;
}

static int import(const char *xml, struct got *g, char *err, size_t errlen)
{
	struct cd_import_sink sink = { g_begin, g_sample, g_end, g };

	memset(g, 0, sizeof(*g));
	return cd_tcx_import(xml, strlen(xml), &sink, err, errlen);
}

static void test_time(void)
{
	double t;

	CHECK_INT(cd_tcx_parse_time("2025-12-03T08:00:00Z", &t), 0);
	CHECK_NEAR(t, 1764748800, 0);
	CHECK_INT(cd_tcx_parse_time("2025-12-03T09:00:01.5+01:00", &t), 0);
	CHECK_NEAR(t, 1764748801.5, 1e-6);
	CHECK_INT(cd_tcx_parse_time("2025-12-03T08:00:00", &t), 0);
	CHECK_INT(cd_tcx_parse_time("2025-12-03 08:00:00Z", &t), -EINVAL);
	CHECK_INT(cd_tcx_parse_time("2025-13-03T08:00:00Z", &t), -EINVAL);
	CHECK_INT(cd_tcx_parse_time("2025-12-03T08:00:00Zjunk", &t), -EINVAL);
}

static void test_round_trip(void)
{
	struct cd_export_summary sum;
	struct cd_tcx_writer *w = NULL;
	struct mem m = {};
	struct got g;
	char err[160];
	static const double bpm[] = { 100.4, 0, 120, 121, 255, 130.6 };
	static const double ts[] = { 0, 1, 2, 2.5, 3, 10 };

	cd_export_summary_init(&sum);
	sum.started_at_us = 1764748800LL * 1000000;
	sum.timer_s = 10;
	sum.avg_bpm = 118;
	sum.max_bpm = 131;
	CHECK_INT(cd_tcx_writer_new(&sum, mem_write, &m, &w), 0);
	for (size_t i = 0; i < 6; i++) {
		struct cd_sample s = { .t = ts[i], .bpm = bpm[i], .contact = CD_CONTACT_UNKNOWN,
				       .energy_kj = NAN };

		CHECK_INT(cd_tcx_writer_add(w, &s), 0);
	}
	CHECK_INT(cd_tcx_writer_finish(w), 0);
	cd_tcx_writer_free(w);
	CHECK(m.b && strstr(m.b, "<Activity Sport=\"Other\">"));
	CHECK(m.b && strstr(m.b, "<DistanceMeters>0</DistanceMeters>"));
	CHECK(m.b && !strstr(m.b, "<Value>0</Value>") && !strstr(m.b, "<Value>255</Value>"));

	CHECK_INT(import(m.b, &g, err, sizeof(err)), 0);
	CHECK_INT(g.sessions, 1);
	CHECK_INT(g.ended, 1);
	CHECK_INT(g.start, 1764748800LL * 1000000);
	CHECK_STR(g.sport, "other");
	CHECK_INT(g.n, 5); /* seconds 0, 1, 2, 3, 10 */
	CHECK_NEAR(g.t[0], 0, 0);
	CHECK_NEAR(g.bpm[0], 100, 0);
	CHECK_NEAR(g.bpm[1], 0, 0); /* no HeartRateBpm: an invalid sample */
	CHECK_NEAR(g.bpm[2], 120, 0);
	CHECK_NEAR(g.bpm[3], 0, 0);
	CHECK_NEAR(g.t[4], 10, 0);
	CHECK_NEAR(g.bpm[4], 131, 0);
	free(m.b);
}

static void test_hostile(void)
{
	struct got g;
	char err[160];

	/* An internal entity is never substituted, an external one never loaded. */
	CHECK_INT(import("<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x \"150\">"
			 "<!ENTITY y SYSTEM \"file:///etc/hostname\">]>"
			 "<TrainingCenterDatabase><Activities><Activity Sport=\"Biking\">"
			 "<Id>2025-12-03T08:00:00Z</Id><Lap><Track><Trackpoint>"
			 "<Time>2025-12-03T08:00:01Z</Time><HeartRateBpm><Value>&x;</Value>"
			 "</HeartRateBpm></Trackpoint><Trackpoint><Time>&y;</Time></Trackpoint>"
			 "</Track></Lap></Activity></Activities></TrainingCenterDatabase>",
			 &g, err, sizeof(err)),
		  0);
	CHECK_INT(g.n, 1);
	CHECK_NEAR(g.bpm[0], 0, 0);
	CHECK_NEAR(g.t[0], 1, 0);
	CHECK_STR(g.sport, "cycling");

	CHECK_INT(import("<TrainingCenterDatabase><Activities>", &g, err, sizeof(err)), -EBADMSG);
	CHECK(strncmp(err, "TCX: line ", 10) == 0);
	CHECK_INT(import("<gpx/>", &g, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "TCX: not a TCX file (root element is not TrainingCenterDatabase)");
	CHECK_INT(import("<TrainingCenterDatabase/>", &g, err, sizeof(err)), -EBADMSG);
	CHECK_STR(err, "TCX: no Activity with timed Trackpoints");
	CHECK_INT(import("<TrainingCenterDatabase><Activities><Activity><Lap><Track><Trackpoint>"
			 "<Time>yesterday</Time></Trackpoint></Track></Lap></Activity>"
			 "</Activities></TrainingCenterDatabase>",
			 &g, err, sizeof(err)),
		  -EBADMSG);
	CHECK_STR(err, "TCX: bad Trackpoint Time \"yesterday\"");
}

int main(void)
{
	test_time();
	test_round_trip();
	test_hostile();
	return check_exit("test-tcx");
}
