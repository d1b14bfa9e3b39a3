/*
 * zs_debug.h - the debug build's invariant checks, for libzs and libswap (both include it).
 * Never installed.
 *
 * `make DEBUG=1` defines ZS_DEBUG=1.  Each library then runs its validators (libzs/debug.c,
 * libswap/debug.c: a zspage's bitmap against its in-use count and fullness list, a class's
 * lists and counters, the handle table; a cluster's count against its swap_map bytes, the
 * cluster lists) at the end of every public call that changed state, and aborts at the first
 * broken invariant with what broke and where: a broken invariant fails at the call that broke
 * it, not later as a wrong statistic.  In a normal build the checks compile to nothing and
 * their arguments are not evaluated.
 */
#ifndef ZS_DEBUG_H
#define ZS_DEBUG_H

#ifndef ZS_DEBUG
#define ZS_DEBUG 0
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * Print "invariant broken at FILE:LINE in FUNC: <message>" to stderr and abort.  Static: the
 * two libraries are separate shared objects that export only their public API.
 */
__attribute__((noreturn, format(printf, 4, 5), cold, unused)) static void
zsi_debug_fail(const char *file, int line, const char *func, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "invariant broken at %s:%d in %s: ", file, line, func);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* zs_assert(cond, fmt, ...): in a ZS_DEBUG build, abort with the message unless @cond holds. */
#if ZS_DEBUG
#define zs_assert(cond, ...)                                                                       \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			zsi_debug_fail(__FILE__, __LINE__, __func__, __VA_ARGS__);                 \
	} while (0)
#else
#define zs_assert(cond, ...) ((void)0)
#endif

#endif /* ZS_DEBUG_H */
