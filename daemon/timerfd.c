/* SPDX-License-Identifier: MIT */
/*
 * The monotonic clocks and absolute timerfd deadlines are the kernel's
 * (DESIGN §9.7: session time and every timeout are immune to wall-clock
 * steps).
 *
 * clock_gettime() of CLOCK_MONOTONIC and CLOCK_BOOTTIME (and their
 * variants) is the system call itself, for cardiod and the libraries it
 * loads: a time shim may move the wall clock (that is what it is for in
 * the wall-clock-step tests) but not the clocks a kernel never steps.
 * CLOCK_REALTIME and the rest go to the next definition as usual.
 *
 * Every timer of cardiod is an sd-event CLOCK_BOOTTIME or CLOCK_MONOTONIC
 * source, armed by sd-event with an absolute deadline read from
 * clock_gettime().  A wall-clock step does not move those clocks, so
 * nothing here changes anything on a plain system.  Under a time shim
 * (libfaketime, as the wall-clock-step tests use to model an NTP step)
 * glibc's timerfd_settime is replaced by one that shifts absolute
 * deadlines of every clock by the fake wall-clock offset, even when the
 * monotonic clocks are left alone: after a −1 h step each timer would fire
 * an hour late, after +2 h the deadline can fall before boot and sd-event
 * fails with EINVAL.  These definitions, in the executable, come first in
 * symbol lookup (before any LD_PRELOAD): a deadline is moved by exactly
 * the difference between the clock this process is shown and the kernel's
 * own clock (zero without a shim), then handed to the system call.
 *
 * Only where struct itimerspec is the kernel's native one (64-bit time_t
 * with 64-bit long); elsewhere libc's own wrappers stay in charge.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#if defined(SYS_timerfd_settime) && defined(SYS_timerfd_create) && \
	defined(SYS_clock_gettime) && __SIZEOF_LONG__ == 8 && __SIZEOF_POINTER__ == 8

#define NS_PER_S 1000000000LL
#define MAX_FD 4096

/* Clock of each timerfd this process created, + 1 (0: not ours or unknown). */
static int fd_clock[MAX_FD];

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec;
}

/* Interposes libc's (and any preloaded shim's); declared in <time.h>. */
int clock_gettime(clockid_t clockid, struct timespec *tp)
{
	static int (*next)(clockid_t, struct timespec *);

	switch (clockid) {
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
		return (int)syscall(SYS_clock_gettime, clockid, tp);
	default:
		break;
	}
	if (!next) {
		next = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
		if (!next)
			return (int)syscall(SYS_clock_gettime, clockid, tp);
	}
	return next(clockid, tp);
}

/* Interpose libc's; declared in <sys/timerfd.h>. */
int timerfd_create(int clockid, int flags)
{
	int fd = (int)syscall(SYS_timerfd_create, clockid, flags);

	if (fd >= 0 && fd < MAX_FD)
		fd_clock[fd] = clockid + 1;
	return fd;
}

int timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
		    struct itimerspec *old_value)
{
	struct itimerspec v;
	struct timespec shown, kernel;

	if (!new_value || !(flags & TFD_TIMER_ABSTIME) || fd < 0 || fd >= MAX_FD ||
	    fd_clock[fd] == 0 || (new_value->it_value.tv_sec == 0 && new_value->it_value.tv_nsec == 0))
		return (int)syscall(SYS_timerfd_settime, fd, flags, new_value, old_value);

	v = *new_value;
	if (clock_gettime(fd_clock[fd] - 1, &shown) == 0 &&
	    syscall(SYS_clock_gettime, fd_clock[fd] - 1, &kernel) == 0) {
		int64_t d = ns_of(&v.it_value) - (ns_of(&shown) - ns_of(&kernel));

		if (d < 1)
			d = 1; /* already due; 0 would disarm */
		v.it_value.tv_sec = d / NS_PER_S;
		v.it_value.tv_nsec = d % NS_PER_S;
	}
	return (int)syscall(SYS_timerfd_settime, fd, flags, &v, old_value);
}

#endif
