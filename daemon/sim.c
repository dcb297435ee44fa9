/* SPDX-License-Identifier: MIT */
/*
 * Synthetic straps.  Each strap follows a workout programme of target
 * heart rates; the heart rate approaches the target with a first-order lag
 * (faster up than down, as a real heart), plus slow AR(1) noise.  Beats are
 * generated one by one: each RR interval is 60000 / HR modulated by
 * respiratory sinus arrhythmia (stronger at rest) and a little jitter, and
 * quantised to 1/1024 s as BLE straps send them; a sample carries the beats
 * that completed during its second, exactly like a BLE notification.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "sim.h"

#define USEC_PER_SEC 1000000ULL
#define MAX_BEATS 8

/* One step of the repeating programme: ramp from the previous target to bpm. */
struct phase {
	double duration_s;
	double bpm;  /* target at the end of the phase */
	bool ramp;   /* linear ramp from the previous target, else a step */
};

static const struct phase programme[] = {
	{ 300, 78, false },  /* rest before starting */
	{ 600, 125, true },  /* warm-up */
	{ 180, 158, false }, /* 6 × (3 min hard, 2 min easy) */
	{ 120, 125, false },
	{ 180, 160, false },
	{ 120, 126, false },
	{ 180, 162, false },
	{ 120, 127, false },
	{ 180, 163, false },
	{ 120, 128, false },
	{ 180, 165, false },
	{ 120, 128, false },
	{ 180, 166, false },
	{ 120, 126, false },
	{ 600, 140, false }, /* tempo */
	{ 480, 92, true },   /* cool-down */
};

struct strap {
	struct monitor_device *device;
	uint64_t rng;
	double scale;        /* per-strap intensity factor */
	double t;            /* seconds into the programme */
	double hr;           /* underlying heart rate */
	double noise;        /* AR(1) */
	double beat_phase;   /* fraction of the next beat elapsed */
	double resp_phase;   /* breathing cycle, 0..1 */
	double energy_kj;
	unsigned lost_left;  /* seconds of lost contact left */
	int battery;
};

struct sim {
	sd_event *event;
	struct monitor *monitor;
	sd_event_source *timer;
	unsigned rate;
	uint64_t next_tick; /* monotonic */
	uint64_t sim_us;    /* simulated CLOCK_BOOTTIME (faster at rate > 1) */
	struct strap *straps;
	unsigned n;
};

/* splitmix64: small, fast, and good enough for a simulation. */
static uint64_t next_u64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double uniform(uint64_t *state)
{
	return (double)(next_u64(state) >> 11) * 0x1.0p-53;
}

static double gauss(uint64_t *state)
{
	double u = uniform(state), v = uniform(state);

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static double programme_target(double t)
{
	double total = 0, prev = programme[ELEMENTSOF(programme) - 1].bpm;

	for (size_t i = 0; i < ELEMENTSOF(programme); i++)
		total += programme[i].duration_s;
	t = fmod(t, total);
	for (size_t i = 0; i < ELEMENTSOF(programme); i++) {
		const struct phase *p = &programme[i];

		if (t < p->duration_s)
			return p->ramp ? prev + (p->bpm - prev) * t / p->duration_s : p->bpm;
		t -= p->duration_s;
		prev = p->bpm;
	}
	return prev;
}

/* Advance one second; fill the sample (rr points into rr_buf). */
static void strap_step(struct strap *st, struct cd_sample *x, double rr_buf[MAX_BEATS])
{
	double target = 60 + (programme_target(st->t) - 60) * st->scale;
	double tau = target > st->hr ? 20.0 : 45.0; /* up faster than down */
	double hr, rsa;
	size_t n = 0;

	st->t += 1.0;
	st->hr += (target - st->hr) * (1.0 - exp(-1.0 / tau));
	st->noise = 0.92 * st->noise + 0.7 * gauss(&st->rng);
	hr = st->hr + st->noise;
	if (hr < 40)
		hr = 40;
	st->energy_kj += fmax(0, hr - 60) * 0.004;

	*x = (struct cd_sample){
		.bpm = round(hr),
		.contact = CD_CONTACT_OK,
		.energy_kj = floor(st->energy_kj),
		.rr_ms = rr_buf,
	};

	/* Now and then the strap slips: a few seconds without contact. */
	if (st->lost_left == 0 && uniform(&st->rng) < 1.0 / 900)
		st->lost_left = 3 + (unsigned)(uniform(&st->rng) * 10);
	if (st->lost_left > 0) {
		st->lost_left--;
		x->contact = CD_CONTACT_LOST;
		x->bpm = 0;
		st->beat_phase = 0;
		return;
	}

	/* Respiratory sinus arrhythmia: strong at rest, small near the maximum. */
	rsa = 0.05 * fmax(0.15, (165.0 - hr) / 90.0);
	st->beat_phase += hr / 60.0;
	while (st->beat_phase >= 1.0 && n < MAX_BEATS) {
		double rr = 60000.0 / hr *
			    (1.0 + rsa * sin(2.0 * M_PI * st->resp_phase) + 0.008 * gauss(&st->rng));

		st->beat_phase -= 1.0;
		st->resp_phase = fmod(st->resp_phase + rr / 4000.0, 1.0); /* ~15 breaths/min */
		/* BLE sends RR in 1/1024 s; cardiod reports ms = v × 1000/1024. */
		rr_buf[n++] = round(rr * 1.024) * 1000.0 / 1024.0;
	}
	x->n_rr = n;
}

static int tick(sd_event_source *source, uint64_t usec, void *userdata)
{
	struct sim *s = userdata;

	if (s->rate == 1) {
		uint64_t now = monitor_boot_us();

		/* Whole seconds from the start, unless the boot clock jumped (suspend). */
		if (now > s->sim_us + 3 * USEC_PER_SEC || now + 2 * USEC_PER_SEC < s->sim_us)
			s->sim_us = now - USEC_PER_SEC;
	}
	for (unsigned k = 0; k < s->rate; k++) {
		uint64_t at_us;

		s->sim_us += USEC_PER_SEC;
		at_us = s->sim_us;
		for (unsigned i = 0; i < s->n; i++) {
			struct strap *st = &s->straps[i];
			double rr[MAX_BEATS];
			struct cd_sample x;

			strap_step(st, &x, rr);
			if (fmod(st->t, 1800) == 0 && st->battery > 5)
				monitor_device_set_battery(st->device, --st->battery);
			monitor_feed(s->monitor, st->device, &x, at_us);
		}
	}
	/* Re-arm from the previous deadline, not from now: no drift. */
	s->next_tick += USEC_PER_SEC;
	sd_event_source_set_time(source, s->next_tick);
	return 0;
}

int sim_new(sd_event *event, struct monitor *monitor, const struct sim_config *config,
	    struct sim **ret)
{
	struct sim *s;
	uint64_t seed_state;
	int r;

	if (!event || !monitor || !config || config->n_straps == 0 || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(event);
	s->monitor = monitor;
	s->rate = config->rate ? config->rate : 1;
	s->n = config->n_straps;
	s->sim_us = monitor_boot_us();
	s->straps = calloc(s->n, sizeof(*s->straps));
	if (!s->straps) {
		sim_free(s);
		return -ENOMEM;
	}

	seed_state = config->seed;
	for (unsigned i = 0; i < s->n; i++) {
		struct strap *st = &s->straps[i];
		char id[32], name[64];

		snprintf(id, sizeof(id), "sim-%u", i + 1);
		snprintf(name, sizeof(name), "Simulated strap %u", i + 1);
		r = monitor_device_add(monitor, id, name, CD_TRANSPORT_SIM, &st->device);
		if (r < 0) {
			sim_free(s);
			return r;
		}
		st->rng = next_u64(&seed_state);
		st->scale = 0.9 + 0.2 * uniform(&st->rng);
		/* Straps start at different points of the programme (one at the start). */
		st->t = i == 0 ? 0 : floor(uniform(&st->rng) * 1800);
		st->hr = 60 + (programme_target(st->t) - 60) * st->scale;
		st->battery = 100 - (int)(i * 7 % 60);
		monitor_device_set_battery(st->device, st->battery);
		monitor_device_set_connected(st->device, true);
	}

	r = sd_event_now(event, CLOCK_MONOTONIC, &s->next_tick);
	if (r < 0) {
		sim_free(s);
		return r;
	}
	s->next_tick += USEC_PER_SEC;
	r = sd_event_add_time(event, &s->timer, CLOCK_MONOTONIC, s->next_tick, 1000, tick, s);
	if (r < 0) {
		sim_free(s);
		return r;
	}
	sd_event_source_set_enabled(s->timer, SD_EVENT_ON);
	sd_event_source_set_description(s->timer, "simulator");
	log_info("Simulating %u strap%s (seed %llu%s).", s->n, s->n == 1 ? "" : "s",
		 (unsigned long long)config->seed, s->rate > 1 ? ", accelerated" : "");
	*ret = s;
	return 0;
}

struct sim *sim_free(struct sim *s)
{
	if (!s)
		return NULL;
	sd_event_source_disable_unref(s->timer);
	sd_event_unref(s->event);
	free(s->straps);
	free(s);
	return NULL;
}
