/* SPDX-License-Identifier: MIT */
/*
 * CSV replay.  The file is parsed once, up front, into an array; feeding
 * is then a timer (speed > 0) or a defer source (speed 0) that hands a
 * bounded batch to the monitor per loop iteration.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "csv.h"
#include "log.h"
#include "replay.h"

#define USEC_PER_SEC 1000000ULL
#define BATCH 256

struct replay_sample {
	double t, bpm;
	enum cd_contact contact;
	size_t rr_off, n_rr;
};

struct replay {
	char *path;
	double speed;
	struct replay_sample *samples;
	size_t n, cap;
	double *rr;
	size_t n_rr, rr_cap;

	sd_event *event;
	struct monitor *monitor;
	struct monitor_device *device;
	sd_event_source *source;
	uint64_t start_mono;
	size_t next;
};

static int read_file(const char *path, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, cap = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	for (;;) {
		size_t n;

		if (cap - size < 65536) {
			char *nb;

			cap = cap ? cap * 2 : 131072;
			nb = realloc(buf, cap);
			if (!nb) {
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = fread(buf + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

static int append(struct replay *r, const struct cd_sample *s)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		struct replay_sample *n = realloc(r->samples, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->samples = n;
		r->cap = cap;
	}
	while (r->rr_cap - r->n_rr < s->n_rr) {
		size_t cap = r->rr_cap ? r->rr_cap * 2 : 1024;
		double *n = realloc(r->rr, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->rr = n;
		r->rr_cap = cap;
	}
	r->samples[r->n++] = (struct replay_sample){
		.t = s->t,
		.bpm = s->bpm,
		.contact = s->contact,
		.rr_off = r->n_rr,
		.n_rr = s->n_rr,
	};
	if (s->n_rr > 0)
		memcpy(r->rr + r->n_rr, s->rr_ms, s->n_rr * sizeof(double));
	r->n_rr += s->n_rr;
	return 0;
}

int replay_load(const char *path, double speed, struct replay **ret, char **ret_error)
{
	_cleanup_(replay_freep) struct replay *r = NULL;
	_cleanup_(cd_csv_reader_freep) struct cd_csv_reader *reader = NULL;
	_cleanup_free_ char *data = NULL;
	struct cd_sample s;
	size_t size = 0;
	int k;

	if (!path || !ret || !(speed >= 0) || !isfinite(speed))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->speed = speed;
	r->path = strdup(path);
	if (!r->path)
		return -ENOMEM;

	k = read_file(path, &data, &size);
	if (k < 0) {
		if (ret_error && asprintf(ret_error, "%s: %s", path, strerror(-k)) < 0)
			*ret_error = NULL;
		return k;
	}
	k = cd_csv_reader_new(data, size, &reader);
	if (k < 0)
		return k;
	while ((k = cd_csv_reader_next(reader, &s)) > 0) {
		k = append(r, &s);
		if (k < 0)
			return k;
	}
	if (k < 0) {
		if (ret_error &&
		    asprintf(ret_error, "%s: %s", path, cd_csv_reader_error(reader)) < 0)
			*ret_error = NULL;
		return k;
	}
	*ret = TAKE_PTR(r);
	return 0;
}

static void finish(struct replay *r)
{
	sd_event_source_set_enabled(r->source, SD_EVENT_OFF);
	monitor_device_close(r->device);
	monitor_device_set_connected(r->device, false);
	log_info("Replay of %s finished: %zu samples.", r->path, r->n);
}

static void feed(struct replay *r, size_t upto)
{
	for (; r->next < upto; r->next++) {
		const struct replay_sample *rs = &r->samples[r->next];
		struct cd_sample x = {
			.t = rs->t,
			.bpm = rs->bpm,
			.contact = rs->contact,
			.energy_kj = NAN,
			.rr_ms = r->rr ? r->rr + rs->rr_off : NULL, /* no RR in the whole file: NULL */
			.n_rr = rs->n_rr,
		};

		monitor_feed(r->monitor, r->device, &x, 0);
	}
}

static int on_defer(sd_event_source *s, void *userdata)
{
	struct replay *r = userdata;

	feed(r, r->next + BATCH < r->n ? r->next + BATCH : r->n);
	if (r->next >= r->n)
		finish(r);
	return 0;
}

static uint64_t due_at(const struct replay *r, size_t i)
{
	return r->start_mono + (uint64_t)llround(r->samples[i].t / r->speed * 1e6);
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct replay *r = userdata;
	uint64_t now;
	size_t upto = r->next;

	sd_event_now(r->event, CLOCK_MONOTONIC, &now);
	while (upto < r->n && upto - r->next < BATCH && due_at(r, upto) <= now)
		upto++;
	feed(r, upto);
	if (r->next >= r->n) {
		finish(r);
		return 0;
	}
	sd_event_source_set_time(s, upto - r->next >= BATCH ? now : due_at(r, r->next));
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

int replay_start(struct replay *r, sd_event *event, struct monitor *monitor)
{
	int k;

	r->event = sd_event_ref(event);
	r->monitor = monitor;
	k = monitor_device_add(monitor, "replay-1", r->path, CD_TRANSPORT_REPLAY, &r->device);
	if (k < 0)
		return k;
	/* Engine time is the file's t_s: the session starts now, at t_s = 0. */
	monitor_device_set_explicit_time(r->device, monitor_now_us());
	monitor_device_set_connected(r->device, true);
	k = sd_event_now(event, CLOCK_MONOTONIC, &r->start_mono);
	if (k < 0)
		return k;

	if (r->n == 0) {
		log_info("Replay of %s: no samples.", r->path);
		monitor_device_set_connected(r->device, false);
		return 0;
	}
	if (r->speed == 0)
		k = sd_event_add_defer(event, &r->source, on_defer, r);
	else
		k = sd_event_add_time(event, &r->source, CLOCK_MONOTONIC, due_at(r, 0), 1000, on_time,
				      r);
	if (k < 0)
		return k;
	if (r->speed == 0)
		sd_event_source_set_enabled(r->source, SD_EVENT_ON);
	sd_event_source_set_description(r->source, "replay");
	/* Below the HTTP server's priority, so requests are served during a fast replay. */
	sd_event_source_set_priority(r->source, SD_EVENT_PRIORITY_IDLE);
	log_info("Replaying %s: %zu samples over %.1f s of recording at speed %g.", r->path, r->n,
		 r->samples[r->n - 1].t, r->speed);
	return 0;
}

struct replay *replay_free(struct replay *r)
{
	if (!r)
		return NULL;
	sd_event_source_disable_unref(r->source);
	sd_event_unref(r->event);
	free(r->samples);
	free(r->rr);
	free(r->path);
	free(r);
	return NULL;
}
