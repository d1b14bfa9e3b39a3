/*
 * spinlock.h - libswap's spinlock: test-and-test-and-set, yielding when the holder seems to
 * have been preempted.  Our critical sections are a few dozen instructions (a cluster's
 * counts, a list link, a free list), where a mutex's system calls would cost more than the
 * work; the few longer holders (zs_malloc / zs_free inside a stream or cluster lock) are named
 * in the lock-ordering comment of area.h.
 */
#ifndef SWAP_SPINLOCK_H
#define SWAP_SPINLOCK_H

#include "../libzs/zs_atomic.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct swap_spinlock {
	atomic_int locked;
};

/* Rounds of pause before a waiter yields: ~1-2 us, longer than any of our critical sections. */
#define SWAP_SPIN_BEFORE_YIELD 128

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline void swap_spin_init(struct swap_spinlock *l)
{
	atomic_init(&l->locked, 0);
}

void swi_spin_lock_slow(struct swap_spinlock *l);

static inline void swap_spin_lock(struct swap_spinlock *l)
{
	if (likely(!zs_exchange_acquire(&l->locked, 1)))
		return;
	swi_spin_lock_slow(l);
}

static inline void swap_spin_unlock(struct swap_spinlock *l)
{
	zs_store_release(&l->locked, 0);
}

#endif /* SWAP_SPINLOCK_H */
