/* SPDX-License-Identifier: MIT */
/*
 * Walking a D-Bus a{sv} (a property dictionary) with sd-bus: enter the
 * array, then per entry read the key and let fn read or skip the value.
 * Header-only, so cardioctl (which may be built without the daemon) and
 * the daemon's BLE mirror share it without a library.
 */
#pragma once

#include <systemd/sd-bus.h>

/*
 * m is at an a{sv}: fn(m, key, userdata) reads (or skips) each value and
 * returns 0 or more to go on, or a negative errno that ends the walk.
 * Returns 0 or the first negative errno.
 */
static inline int cd_bus_read_dict(sd_bus_message *m,
				   int (*fn)(sd_bus_message *m, const char *key, void *userdata),
				   void *userdata)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
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
