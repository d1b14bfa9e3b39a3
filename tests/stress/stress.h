/*
 * What the stress programs (tests/stress_zs.c, tests/stress_swap.c) share: the mixing function
 * their stamps and choices come from, and the watchdog that bounds a run.
 */
#ifndef STRESS_H
#define STRESS_H

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

static const char *stress_watchdog_msg;

static void stress_watchdog_fire(int sig)
{
	(void)sig;
	/* only async-signal-safe calls here */
	(void)!write(2, stress_watchdog_msg, strlen(stress_watchdog_msg));
	_exit(3);
}

/*
 * End the process with status 3 and @msg if it is still running @seconds from now: a deadlock
 * in the library would otherwise hang `make test` instead of failing it.  The margin the caller
 * adds to its run length must cover the slowest build (the thread sanitizer's).
 */
static inline void stress_watchdog(unsigned seconds, const char *msg)
{
	stress_watchdog_msg = msg;
	signal(SIGALRM, stress_watchdog_fire);
	alarm(seconds);
}

#endif
