/*
 * swap_rcu.h - RCU for libswap: liburcu's bulletproof flavour (urcu-bp), which registers a
 * thread on its first read-side section and forgets it when it exits, so an application never
 * registers threads for us and its own use of liburcu (any flavour, its own registrations and
 * read-side sections) is independent of ours.
 *
 * Readers: every public call that reaches an area does so inside swi_rcu_read_lock() /
 * swi_rcu_read_unlock(); the pointers it follows (the context's table of areas, the avail
 * snapshot, swap-cache tree nodes and leaves) are loaded with rcu_dereference and published
 * with rcu_assign_pointer, rcu_xchg_pointer or rcu_cmpxchg_pointer.  Updaters free what they
 * unpublished after swi_rcu_synchronize().
 *
 * The thread sanitizer cannot see liburcu's orderings (volatile accesses, inline assembly,
 * membarrier): under TSan the pointer operations are the C11 atomics with the orderings liburcu
 * gives them, and rcu.c tells TSan what a grace period guarantees.
 */
#ifndef SWAP_RCU_H
#define SWAP_RCU_H

#include <stdbool.h>

/* rcu_dereference() and friends as inline code (which liburcu allows for any licence). */
#define URCU_INLINE_SMALL_FUNCTIONS
#include <urcu/pointer.h>

/* SWAP_TSAN: built with the thread sanitizer (GCC defines the first macro, clang 14 only
 * answers the second test). */
#if defined(__SANITIZE_THREAD__)
#define SWAP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SWAP_TSAN 1
#endif
#endif

#ifdef SWAP_TSAN
#undef rcu_dereference
#define rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#undef rcu_assign_pointer
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#undef rcu_xchg_pointer
#define rcu_xchg_pointer(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#undef rcu_cmpxchg_pointer
#define rcu_cmpxchg_pointer(p, old, _new)                                                          \
	__extension__({                                                                            \
		__typeof__(*(p)) _o = (old);                                                       \
		__atomic_compare_exchange_n((p), &_o, (_new), false, __ATOMIC_SEQ_CST,             \
					    __ATOMIC_SEQ_CST);                                     \
		_o;                                                                                \
	})
#endif

/* Once per process (swap_ctx_create): keep urcu-bp's registry right across fork(). */
void swi_rcu_init(void);

void swi_rcu_read_lock(void);
void swi_rcu_read_unlock(void);
/* Wait until every read-side section that began before the call has ended.  Must not be
 * called inside a read-side section. */
void swi_rcu_synchronize(void);

#endif /* SWAP_RCU_H */
