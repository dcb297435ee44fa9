/* SPDX-License-Identifier: MIT */
/*
 * timerfd_settime() straight to the kernel (DESIGN §9.7: session time and
 * every timeout are immune to wall-clock steps).
 *
 * Every timer of cardiod is an sd-event CLOCK_BOOTTIME or CLOCK_MONOTONIC
 * source, armed by sd-event with an absolute deadline; a step of the wall
 * clock does not move those clocks or their deadlines.  A time shim that
 * fakes only the wall clock (libfaketime with FAKETIME_DONT_FAKE_MONOTONIC,
 * the way the wall-clock-step tests model an NTP step) nevertheless
 * rewrites absolute timerfd deadlines by its wall-clock offset, on every
 * clock: after a −1 h step each timer would fire an hour late, after +2 h
 * the deadline can fall before boot and sd-event fails with EINVAL.  This
 * definition, in the executable, comes first in symbol lookup (before any
 * LD_PRELOAD), so the deadlines sd-event computes reach the kernel as they
 * are.  It is glibc's wrapper minus nothing: one system call.
 *
 * Only where struct itimerspec is the kernel's native one (64-bit time_t
 * with 64-bit long); elsewhere libc's own wrapper stays in charge.
 */
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#if defined(SYS_timerfd_settime) && __SIZEOF_LONG__ == 8 && __SIZEOF_POINTER__ == 8

/* Interposes libc's; declared in <sys/timerfd.h>. */
int timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
		    struct itimerspec *old_value)
{
	return (int)syscall(SYS_timerfd_settime, fd, flags, new_value, old_value);
}

#endif
