/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

/* Give free heap pages back to the kernel: now, and then while the loop is
 * busy (never by waking an idle loop).  See memory.c. */
int memory_trim_setup(sd_event *event);
