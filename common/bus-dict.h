/* SPDX-License-Identifier: MIT */
/*
 * Walking a D-Bus dictionary keyed by strings (a{sv}, a{sa{sv}}) with
 * sd-bus: enter the array, then per entry read the key and let fn read or
 * skip the value.
 * Header-only, so cardioctl (which may be built without the daemon) and
 * the daemon's BLE mirror share it without a library.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

/*
 * m is at an a{s<value>} (value: "v" for a property dictionary, "a{sv}"
 * for the interfaces of an object): fn(m, key, userdata) reads (or skips)
 * each value and returns 0 or more to go on, or a negative errno that ends
 * the walk.  Returns 0 or the first negative errno.
 */
static inline int cd_bus_read_dict_of(sd_bus_message *m, const char *value,
				      int (*fn)(sd_bus_message *m, const char *key, void *userdata),
				      void *userdata)
{
	char array[64], entry[64];
	int r;

	if (snprintf(array, sizeof(array), "{s%s}", value) >= (int)sizeof(array))
		return -EINVAL;
	snprintf(entry, sizeof(entry), "s%s", value);
	r = sd_bus_message_enter_container(m, 'a', array);
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', entry)) > 0) {
		const char *key;

		r = sd_bus_message_read_basic(m, 's', &key);
		if (r < 0)
			return r;
		r = fn(m, key, userdata);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* The a{sv} case. */
static inline int cd_bus_read_dict(sd_bus_message *m,
				   int (*fn)(sd_bus_message *m, const char *key, void *userdata),
				   void *userdata)
{
	return cd_bus_read_dict_of(m, "v", fn, userdata);
}
