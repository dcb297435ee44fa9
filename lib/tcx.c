/* SPDX-License-Identifier: MIT */
/*
 * TCX writer and reader (lib/tcx.h).  Element order follows the v2 XSD
 * (shared/EXPORTS-AND-DOSE.md §A5): Lap is TotalTimeSeconds,
 * DistanceMeters, Calories, AverageHeartRateBpm, MaximumHeartRateBpm,
 * Intensity, TriggerMethod, Track; Activity is Id, Lap, Creator.
 */
#include <errno.h>
#include <inttypes.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil-time.h"
#include "tcx.h"

#define TCX_NS "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"

struct cd_tcx_writer {
	xmlTextWriterPtr xw;
	cd_write_fn write;
	void *userdata;
	int error; /* the write callback's, kept for the caller */
	int64_t start_s;
	bool track_open;
	struct cd_resampler rs;
};

static int out_write(void *context, const char *buffer, int len)
{
	struct cd_tcx_writer *w = context;
	int r;

	if (w->error)
		return -1;
	r = w->write(w->userdata, buffer, (size_t)len);
	if (r < 0) {
		w->error = r;
		return -1;
	}
	return len;
}

static int out_close(void *context)
{
	(void)context;
	return 0;
}

/* Unix seconds as "YYYY-MM-DDTHH:MM:SSZ". */
static void format_time(int64_t s, char buf[32])
{
	int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
	int64_t sod = s - days * 86400, y;
	unsigned m, d;

	cd_civil_from_days(days, &y, &m, &d);
	snprintf(buf, 32, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02uZ", y, m, d,
		 (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60));
}

static int failed(struct cd_tcx_writer *w)
{
	return w->error ? w->error : -EIO;
}

#define X(call)                                     \
	do {                                        \
		if ((call) < 0)                     \
			return failed(w);           \
	} while (0)

static int bpm_element(struct cd_tcx_writer *w, const char *name, double bpm)
{
	if (!isfinite(bpm) || bpm < 0.5 || bpm >= 255.5)
		return 0; /* positiveByte: 1..255, else left out */
	X(xmlTextWriterStartElement(w->xw, BAD_CAST name));
	X(xmlTextWriterWriteFormatElement(w->xw, BAD_CAST "Value", "%ld", lround(bpm)));
	X(xmlTextWriterEndElement(w->xw));
	return 0;
}

static int write_head(struct cd_tcx_writer *w, const struct cd_export_summary *s)
{
	char start[32];
	double timer = isfinite(s->timer_s) ? s->timer_s : s->elapsed_s;
	int r;

	format_time(w->start_s, start);
	X(xmlTextWriterStartDocument(w->xw, NULL, "UTF-8", NULL));
	X(xmlTextWriterStartElement(w->xw, BAD_CAST "TrainingCenterDatabase"));
	X(xmlTextWriterWriteAttribute(w->xw, BAD_CAST "xmlns", BAD_CAST TCX_NS));
	X(xmlTextWriterWriteAttribute(w->xw, BAD_CAST "xmlns:xsi", BAD_CAST XSI_NS));
	X(xmlTextWriterWriteAttribute(
		w->xw, BAD_CAST "xsi:schemaLocation",
		BAD_CAST TCX_NS " http://www.garmin.com/xmlschemas/TrainingCenterDatabasev2.xsd"));
	X(xmlTextWriterStartElement(w->xw, BAD_CAST "Activities"));
	X(xmlTextWriterStartElement(w->xw, BAD_CAST "Activity"));
	X(xmlTextWriterWriteAttribute(w->xw, BAD_CAST "Sport", BAD_CAST "Other"));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "Id", BAD_CAST start));
	X(xmlTextWriterStartElement(w->xw, BAD_CAST "Lap"));
	X(xmlTextWriterWriteAttribute(w->xw, BAD_CAST "StartTime", BAD_CAST start));
	X(xmlTextWriterWriteFormatElement(w->xw, BAD_CAST "TotalTimeSeconds", "%.1f",
					  isfinite(timer) && timer >= 0 ? timer : 0.0));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "DistanceMeters", BAD_CAST "0"));
	X(xmlTextWriterWriteFormatElement(
		w->xw, BAD_CAST "Calories", "%ld",
		isfinite(s->energy_kj) && s->energy_kj >= 0 && s->energy_kj < 270000
			? lround(s->energy_kj / 4.184)
			: 0L));
	r = bpm_element(w, "AverageHeartRateBpm", s->avg_bpm);
	if (r < 0)
		return r;
	r = bpm_element(w, "MaximumHeartRateBpm", s->max_bpm);
	if (r < 0)
		return r;
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "Intensity", BAD_CAST "Active"));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "TriggerMethod", BAD_CAST "Manual"));
	return 0;
}

void cd_tcx_writer_free(struct cd_tcx_writer *w)
{
	if (!w)
		return;
	if (w->xw)
		xmlFreeTextWriter(w->xw); /* closes the output buffer */
	free(w);
}

int cd_tcx_writer_new(const struct cd_export_summary *s, cd_write_fn write, void *userdata,
		      struct cd_tcx_writer **ret)
{
	struct cd_tcx_writer *w = calloc(1, sizeof(*w));
	xmlOutputBufferPtr out;
	int r;

	if (!w)
		return -ENOMEM;
	w->write = write;
	w->userdata = userdata;
	w->start_s = s->started_at_us >= 0 ? s->started_at_us / 1000000
					   : -((-s->started_at_us + 999999) / 1000000);
	cd_resampler_init(&w->rs, s->zone_lo_bpm, s->max_gap_s);
	out = xmlOutputBufferCreateIO(out_write, out_close, w, NULL);
	if (!out) {
		free(w);
		return -ENOMEM;
	}
	w->xw = xmlNewTextWriter(out);
	if (!w->xw) {
		xmlOutputBufferClose(out);
		free(w);
		return -ENOMEM;
	}
	/* No indentation: a 24 h file is 40 % smaller and written faster. */
	r = write_head(w, s);
	if (r < 0) {
		cd_tcx_writer_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

static int write_trackpoint(struct cd_tcx_writer *w, const struct cd_second *sec)
{
	char t[32];

	if (!w->track_open) {
		X(xmlTextWriterStartElement(w->xw, BAD_CAST "Track"));
		w->track_open = true;
	}
	format_time(w->start_s + sec->sec, t);
	X(xmlTextWriterStartElement(w->xw, BAD_CAST "Trackpoint"));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "Time", BAD_CAST t));
	if (sec->bpm > 0) {
		int r = bpm_element(w, "HeartRateBpm", sec->bpm);

		if (r < 0)
			return r;
	}
	X(xmlTextWriterEndElement(w->xw));
	return 0;
}

int cd_tcx_writer_add(struct cd_tcx_writer *w, const struct cd_sample *s)
{
	struct cd_second done;

	if (w->error)
		return w->error;
	if (cd_resampler_add(&w->rs, s, &done) > 0)
		return write_trackpoint(w, &done);
	return 0;
}

int cd_tcx_writer_finish(struct cd_tcx_writer *w)
{
	int r;

	if (w->error)
		return w->error;
	{
		struct cd_second last;

		if (cd_resampler_flush(&w->rs, &last) > 0) {
			r = write_trackpoint(w, &last);
			if (r < 0)
				return r;
		}
	}
	if (w->track_open)
		X(xmlTextWriterEndElement(w->xw)); /* Track */
	X(xmlTextWriterEndElement(w->xw));          /* Lap */
	X(xmlTextWriterStartElement(w->xw, BAD_CAST "Creator"));
	X(xmlTextWriterWriteAttribute(w->xw, BAD_CAST "xsi:type", BAD_CAST "Device_t"));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "Name", BAD_CAST "cardiod"));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "UnitId", BAD_CAST "0"));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "ProductID", BAD_CAST "0"));
	X(xmlTextWriterStartElement(w->xw, BAD_CAST "Version"));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "VersionMajor", BAD_CAST "1"));
	X(xmlTextWriterWriteElement(w->xw, BAD_CAST "VersionMinor", BAD_CAST "0"));
	X(xmlTextWriterEndElement(w->xw));
	X(xmlTextWriterEndElement(w->xw)); /* Creator */
	X(xmlTextWriterEndDocument(w->xw)); /* closes everything still open */
	X(xmlTextWriterFlush(w->xw));
	return w->error;
}

/* ---- reader ---- */

int cd_tcx_parse_time(const char *s, double *ret)
{
	int y, mo, d, h, mi, sec, n = 0;
	double frac = 0, t;
	const char *p;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1)
		return -EINVAL;
	p = s + n;
	if (*p == '.') {
		double scale = 0.1;

		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	t = (double)cd_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	    sec + frac;
	if (*p == 'Z')
		p++;
	else if (*p == '+' || *p == '-') {
		int oh, om, k = 0;

		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
			return -EINVAL;
		t -= (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
		p += 6;
	}
	if (*p != '\0')
		return -EINVAL;
	*ret = t;
	return 0;
}

enum elem {
	E_OTHER,
	E_ACTIVITY,
	E_ID,
	E_LAP,
	E_TRACKPOINT,
	E_TIME,
	E_HEART_RATE,
	E_VALUE,
};

#define MAX_DEPTH 64

struct reader {
	const struct cd_import_sink *sink;
	char *err;
	size_t errlen;
	bool error;
	enum elem stack[MAX_DEPTH];
	int depth;
	/* per activity */
	bool in_activity, begun;
	char sport[16];
	double id_time, lap_time, start;
	double last_t;
	size_t sessions;
	/* per trackpoint */
	bool in_tp;
	double tp_time;
	long tp_bpm;
	bool tp_has_time;
};

__attribute__((format(printf, 2, 3))) static int rfail(struct reader *rd, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (rd->err && rd->errlen > 0 && !rd->error) {
		n = snprintf(rd->err, rd->errlen, "TCX: ");
		if (n < 0 || (size_t)n >= rd->errlen)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(rd->err + n, rd->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	rd->error = true;
	return -EBADMSG;
}

static void on_xml_error(void *arg, xmlErrorPtr e)
{
	struct reader *rd = arg;
	char msg[160];
	size_t n;

	if (!e || rd->error || e->level < XML_ERR_ERROR)
		return;
	snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "malformed XML");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	rfail(rd, "line %d: %s", e->line, msg);
}

static enum elem elem_of(const xmlChar *name)
{
	static const struct {
		const char *name;
		enum elem e;
	} map[] = {
		{ "Activity", E_ACTIVITY }, { "Id", E_ID },
		{ "Lap", E_LAP },           { "Trackpoint", E_TRACKPOINT },
		{ "Time", E_TIME },         { "HeartRateBpm", E_HEART_RATE },
		{ "Value", E_VALUE },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (xmlStrEqual(name, BAD_CAST map[i].name))
			return map[i].e;
	return E_OTHER;
}

static enum elem parent(const struct reader *rd, int up)
{
	int i = rd->depth - 1 - up;

	return i >= 0 && i < MAX_DEPTH ? rd->stack[i] : E_OTHER;
}

static int end_trackpoint(struct reader *rd)
{
	struct cd_sample s;
	int r;

	rd->in_tp = false;
	if (!rd->tp_has_time || !rd->in_activity)
		return 0;
	if (!rd->begun) {
		const char *sport = rd->sport[0] ? rd->sport : NULL;

		rd->start = isfinite(rd->id_time)    ? rd->id_time
			    : isfinite(rd->lap_time) ? rd->lap_time
						     : rd->tp_time;
		r = rd->sink->session_begin(rd->sink->userdata, (int64_t)llround(rd->start * 1e6),
					    sport);
		if (r < 0)
			return r;
		rd->begun = true;
		rd->sessions++;
		rd->last_t = -INFINITY;
	}
	s = (struct cd_sample){
		.t = rd->tp_time - rd->start,
		.bpm = (double)rd->tp_bpm,
		.contact = CD_CONTACT_UNKNOWN,
		.energy_kj = NAN,
	};
	if (s.t <= rd->last_t)
		return 0; /* not after the previous one */
	rd->last_t = s.t;
	return rd->sink->sample(rd->sink->userdata, &s);
}

static int on_text(struct reader *rd, const char *text)
{
	double t;
	char *end;
	long v;

	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	if (parent(rd, 0) == E_ID && parent(rd, 1) == E_ACTIVITY) {
		if (cd_tcx_parse_time(text, &t) == 0)
			rd->id_time = t;
	} else if (parent(rd, 0) == E_TIME && parent(rd, 1) == E_TRACKPOINT) {
		if (cd_tcx_parse_time(text, &t) < 0)
			return rfail(rd, "bad Trackpoint Time \"%.40s\"", text);
		rd->tp_time = t;
		rd->tp_has_time = true;
	} else if (parent(rd, 0) == E_VALUE && parent(rd, 1) == E_HEART_RATE &&
		   parent(rd, 2) == E_TRACKPOINT) {
		errno = 0;
		v = strtol(text, &end, 10);
		while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')
			end++;
		if (errno || end == text || *end != '\0' || v < 0 || v > 255)
			return rfail(rd, "bad HeartRateBpm \"%.40s\"", text);
		rd->tp_bpm = v;
	}
	return 0;
}

static int on_start(struct reader *rd, xmlTextReaderPtr xr, enum elem e)
{
	xmlChar *a;
	double t;

	switch (e) {
	case E_ACTIVITY:
		if (rd->begun) {
			/* An Activity inside an Activity (not TCX, but well-formed): a new session. */
			int r = rd->sink->session_end(rd->sink->userdata);

			rd->begun = false;
			if (r < 0)
				return r;
		}
		rd->in_activity = true;
		rd->begun = false;
		rd->id_time = rd->lap_time = NAN;
		rd->sport[0] = '\0';
		a = xmlTextReaderGetAttribute(xr, BAD_CAST "Sport");
		if (a) {
			if (xmlStrEqual(a, BAD_CAST "Running"))
				snprintf(rd->sport, sizeof(rd->sport), "running");
			else if (xmlStrEqual(a, BAD_CAST "Biking"))
				snprintf(rd->sport, sizeof(rd->sport), "cycling");
			else
				snprintf(rd->sport, sizeof(rd->sport), "other");
			xmlFree(a);
		}
		break;
	case E_LAP:
		a = xmlTextReaderGetAttribute(xr, BAD_CAST "StartTime");
		if (a) {
			if (!isfinite(rd->lap_time) && cd_tcx_parse_time((const char *)a, &t) == 0)
				rd->lap_time = t;
			xmlFree(a);
		}
		break;
	case E_TRACKPOINT:
		rd->in_tp = true;
		rd->tp_has_time = false;
		rd->tp_bpm = 0;
		break;
	default:
		break;
	}
	return 0;
}

static int on_end(struct reader *rd, enum elem e)
{
	int r;

	if (e == E_TRACKPOINT && rd->in_tp)
		return end_trackpoint(rd);
	if (e == E_ACTIVITY) {
		rd->in_activity = false;
		if (rd->begun) {
			rd->begun = false;
			r = rd->sink->session_end(rd->sink->userdata);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int cd_tcx_import(const void *data, size_t len, const struct cd_import_sink *sink, char *err,
		  size_t errlen)
{
	struct reader rd = { .sink = sink, .err = err, .errlen = errlen };
	xmlTextReaderPtr xr;
	bool root_seen = false;
	int r = 0, ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!data || len == 0 || len > INT32_MAX)
		return rfail(&rd, "empty or oversized file");
	xr = xmlReaderForMemory(data, (int)len, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOWARNING);
	if (!xr)
		return -ENOMEM;
	xmlTextReaderSetStructuredErrorHandler(xr, on_xml_error, &rd);

	while (r >= 0 && (ret = xmlTextReaderRead(xr)) == 1) {
		int type = xmlTextReaderNodeType(xr);

		if (type == XML_READER_TYPE_ELEMENT) {
			const xmlChar *name = xmlTextReaderConstLocalName(xr);
			enum elem e = elem_of(name);
			bool empty = xmlTextReaderIsEmptyElement(xr);

			if (!root_seen) {
				root_seen = true;
				if (!xmlStrEqual(name, BAD_CAST "TrainingCenterDatabase")) {
					r = rfail(&rd, "not a TCX file (root element is not "
						       "TrainingCenterDatabase)");
					break;
				}
			}
			r = on_start(&rd, xr, e);
			if (r < 0)
				break;
			if (empty)
				r = on_end(&rd, e);
			else {
				if (rd.depth < MAX_DEPTH)
					rd.stack[rd.depth] = e;
				rd.depth++;
			}
		} else if (type == XML_READER_TYPE_END_ELEMENT) {
			enum elem e = parent(&rd, 0);

			if (rd.depth > 0)
				rd.depth--;
			r = on_end(&rd, e);
		} else if (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA) {
			const xmlChar *v = xmlTextReaderConstValue(xr);

			if (v)
				r = on_text(&rd, (const char *)v);
		}
	}
	if (r >= 0 && ret < 0)
		r = rfail(&rd, "malformed XML");
	if (r >= 0 && !root_seen)
		r = rfail(&rd, "not a TCX file (no root element)");
	if (r >= 0 && rd.sessions == 0)
		r = rfail(&rd, "no Activity with timed Trackpoints");
	xmlFreeTextReader(xr);
	return r < 0 ? r : 0;
}
