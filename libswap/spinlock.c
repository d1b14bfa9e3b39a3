/*
 * spinlock.c - the contended path of swap_spin_lock (spinlock.h).
 */
#include <sched.h>

#include "spinlock.h"

void swi_spin_lock_slow(struct swap_spinlock *l)
{
	for (;;) {
		for (int i = 0; i < SWAP_SPIN_BEFORE_YIELD; i++) {
			if (!zs_load_relaxed(&l->locked) && !zs_exchange_acquire(&l->locked, 1))
				return;
			cpu_relax();
		}
		/* The holder is probably preempted: let it run. */
		sched_yield();
	}
}
