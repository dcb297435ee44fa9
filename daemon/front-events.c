/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "front-events.h"
#include "log.h"
#include "profile.h"

/* What the last device event said about a strap: DEVICE_CHANGED also fires for contact. */
struct seen {
	struct seen *next;
	char *id;
	char *name;
	bool connected, stale;
	int battery_pct;
};

struct front_events {
	struct monitor *monitor;
	struct cd_events *hub;
	unsigned observer;
	struct seen *seen;
};

struct cd_events *front_events_hub(struct front_events *f)
{
	return f->hub;
}

static struct cd_event device_event(const struct monitor_device *d)
{
	return (struct cd_event){
		.type = CD_EVENT_DEVICE,
		.device = d->id,
		.name = d->name,
		.transport = cd_transport_to_string(d->transport),
		.connected = d->connected,
		.stale = d->stale,
		.battery_pct = d->battery_pct,
	};
}

/* True when d's device event would say something new (and remember it). */
static bool device_changed(struct front_events *f, const struct monitor_device *d)
{
	struct seen *s;
	const char *name = d->name ? d->name : d->id;

	for (s = f->seen; s; s = s->next)
		if (strcmp(s->id, d->id) == 0)
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || !(s->id = strdup(d->id))) {
			free(s);
			return true; /* OOM: publish, just without deduplication */
		}
		s->next = f->seen;
		f->seen = s;
	} else if (s->connected == d->connected && s->stale == d->stale &&
		   s->battery_pct == d->battery_pct && s->name && strcmp(s->name, name) == 0)
		return false;
	s->connected = d->connected;
	s->stale = d->stale;
	s->battery_pct = d->battery_pct;
	free(s->name);
	s->name = strdup(name);
	return true;
}

static void on_monitor_event(const struct monitor_event *ev, void *user_data)
{
	struct front_events *f = user_data;
	const struct monitor_device *d = ev->device;
	uint64_t sid = ev->session ? ev->session->id : 0;
	struct cd_event e = { .device = d ? d->id : NULL, .session = sid };

	switch (ev->type) {
	case MONITOR_EVENT_DEVICE_ADDED:
	case MONITOR_EVENT_DEVICE_CHANGED:
		if (!device_changed(f, d))
			return;
		e = device_event(d);
		break;
	case MONITOR_EVENT_SAMPLE:
		if (!ev->sample || !cd_sample_is_valid(ev->sample))
			return;
		e.type = CD_EVENT_HR;
		e.t_us = ev->at_us;
		e.bpm = ev->sample->bpm;
		e.zone = (int)cd_zone_of(d->profile, ev->sample->bpm);
		e.rr_ms = ev->sample->rr_ms;
		e.n_rr = ev->sample->n_rr;
		break;
	case MONITOR_EVENT_SESSION_STARTED:
	case MONITOR_EVENT_SESSION_ENDED:
		e.type = CD_EVENT_SESSION;
		e.active = ev->type == MONITOR_EVENT_SESSION_STARTED;
		break;
	case MONITOR_EVENT_MILESTONE:
		e.type = CD_EVENT_MILESTONE;
		e.milestone = cd_milestone_to_string(ev->milestone);
		break;
	case MONITOR_EVENT_ZONE_CHANGED:
		e.type = CD_EVENT_ZONE;
		e.old_zone = (int)ev->old_zone;
		e.new_zone = (int)ev->new_zone;
		break;
	default:
		return;
	}
	if (cd_events_publish(f->hub, &e) == 0)
		log_debug("Out of memory: a %s event was not published",
			  cd_event_type_to_string(e.type));
}

static void snapshot(void *userdata, cd_event_emit_fn emit, void *ctx)
{
	struct front_events *f = userdata;

	for (struct monitor_device *d = monitor_devices(f->monitor); d; d = d->next) {
		struct cd_event e = device_event(d);

		emit(&e, ctx);
	}
	for (struct monitor_device *d = monitor_devices(f->monitor); d; d = d->next)
		if (d->session && d->session->active) {
			struct cd_event e = {
				.type = CD_EVENT_SESSION,
				.device = d->id,
				.session = d->session->id,
				.active = true,
			};

			emit(&e, ctx);
		}
}

int front_events_new(struct monitor *m, struct front_events **ret)
{
	struct front_events *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	f->monitor = m;
	r = cd_events_new(0, &f->hub);
	if (r < 0) {
		free(f);
		return r;
	}
	cd_events_set_snapshot(f->hub, snapshot, f);
	f->observer = monitor_observer_register(m, on_monitor_event, f, NULL);
	if (!f->observer) {
		cd_events_free(f->hub);
		free(f);
		return -ENOMEM;
	}
	*ret = f;
	return 0;
}

struct front_events *front_events_free(struct front_events *f)
{
	if (!f)
		return NULL;
	if (f->observer)
		monitor_observer_unregister(f->monitor, f->observer);
	while (f->seen) {
		struct seen *s = f->seen;

		f->seen = s->next;
		free(s->id);
		free(s->name);
		free(s);
	}
	cd_events_free(f->hub);
	free(f);
	return NULL;
}
