/* SPDX-License-Identifier: MIT */
/*
 * The timing side of bench/latency (see its header for the method): asks
 * the fake bluetoothd for one Heart Rate Measurement notification per
 * round and times, with CLOCK_MONOTONIC at sd-bus dispatch, the arrival of
 * the same notification as BlueZ's PropertiesChanged(Value) broadcast (the
 * bare echo) and as cardiod's HeartRate signal.  Prints one line per round:
 * "ECHO_US HEARTRATE_US" from the request, or "lost".  C and sd-bus, so the
 * subscriber's own dispatch costs microseconds, not the tens of
 * microseconds a Python handler would add between the two arrivals.
 *
 * Usage: latency-probe ADDRESS STRAP_ADDRESS ROUNDS INTERVAL_US
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

struct state {
	int tag;
	uint64_t t_echo, t_hr;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int on_pc(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	(void)error;
	struct state *st = userdata;
	uint64_t t = now_ns();
	const char *path = sd_bus_message_get_path(m), *iface;
	int r;

	if (!path || strncmp(path, "/org/bluez/", 11) != 0)
		return 0;
	if (sd_bus_message_read(m, "s", &iface) < 0 ||
	    sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
		return 0;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;
		const void *p;
		size_t n;

		if (sd_bus_message_read(m, "s", &key) < 0)
			return 0;
		if (strcmp(key, "Value") != 0) {
			if (sd_bus_message_skip(m, "v") < 0)
				return 0;
		} else {
			if (sd_bus_message_enter_container(m, 'v', "ay") < 0 ||
			    sd_bus_message_read_array(m, 'y', &p, &n) < 0)
				return 0;
			if (n >= 2 && ((const uint8_t *)p)[1] == st->tag && !st->t_echo)
				st->t_echo = t;
			return 0;
		}
		if (sd_bus_message_exit_container(m) < 0)
			return 0;
	}
	return 0;
}

static int on_hr(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	(void)error;
	struct state *st = userdata;
	uint64_t t = now_ns();
	const char *device;
	uint16_t bpm;

	if (sd_bus_message_read(m, "sq", &device, &bpm) >= 0 && bpm == st->tag && !st->t_hr)
		st->t_hr = t;
	return 0;
}

/* Process the bus until deadline (ns) or until done() holds. */
static int spin(sd_bus *bus, uint64_t deadline, const struct state *st, bool want_both)
{
	for (;;) {
		uint64_t now;
		int r;

		if (want_both && st->t_echo && st->t_hr)
			return 1;
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		now = now_ns();
		if (now >= deadline)
			return 0;
		r = sd_bus_wait(bus, (deadline - now) / 1000);
		if (r < 0 && r != -EINTR)
			return r;
	}
}

int main(int argc, char *argv[])
{
	sd_bus *bus = NULL;
	struct state st = {};
	unsigned long rounds, interval_us;
	const char *strap;
	int r;

	if (argc != 5) {
		fprintf(stderr, "usage: latency-probe ADDRESS STRAP ROUNDS INTERVAL_US\n");
		return 2;
	}
	strap = argv[2];
	rounds = strtoul(argv[3], NULL, 10);
	interval_us = strtoul(argv[4], NULL, 10);
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, argv[1]);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, true);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r >= 0)
		r = sd_bus_match_signal(bus, NULL, NULL, NULL, "org.freedesktop.DBus.Properties",
					"PropertiesChanged", on_pc, &st);
	if (r >= 0)
		r = sd_bus_match_signal(bus, NULL, NULL, "/org/cardiod/Cardiod1",
					"org.cardiod.Cardiod1", "HeartRate", on_hr, &st);
	if (r < 0) {
		fprintf(stderr, "latency-probe: %s\n", strerror(-r));
		return 1;
	}
	for (unsigned long i = 0; i < rounds; i++) {
		uint8_t payload[2] = { 0x00, (uint8_t)(40 + i % 200) }; /* flags, bpm 40..239 */
		uint64_t t0;
		sd_bus_message *call = NULL;

		st = (struct state){ .tag = payload[1] };
		r = sd_bus_message_new_method_call(bus, &call, "org.cardiod.FakeBluez", "/control",
						   "org.cardiod.FakeBluez", "Notify");
		if (r >= 0)
			r = sd_bus_message_append(call, "s", strap);
		if (r >= 0)
			r = sd_bus_message_append_array(call, 'y', payload, sizeof(payload));
		if (r < 0)
			return 1;
		t0 = now_ns();
		r = sd_bus_call_async(bus, NULL, call, NULL, NULL, 0);
		sd_bus_message_unref(call);
		if (r < 0)
			return 1;
		r = spin(bus, t0 + 2000000000ULL, &st, true);
		if (r < 0)
			return 1;
		if (r == 0)
			printf("lost\n");
		else
			printf("%.3f %.3f\n", (double)(st.t_echo - t0) / 1e3,
			       (double)(st.t_hr - t0) / 1e3);
		if (spin(bus, now_ns() + interval_us * 1000ULL, &st, false) < 0)
			return 1;
	}
	fflush(stdout);
	sd_bus_flush_close_unref(bus);
	return 0;
}
