/* SPDX-License-Identifier: MIT */
/*
 * Scope-bound cleanup helpers in systemd's shape (STYLE.md §8.2).
 * Header-only; usable from lib/, daemon/, api/, cli/ and tests.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

/* Take ownership of a pointer out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _ptr_ = (p);                                                         \
		(p) = NULL;                                                                        \
		_ptr_;                                                                             \
	})

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -EBADF;                                                                     \
		_fd_;                                                                              \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
