/*
 * zs_atomic.h - the one atomic vocabulary of libzs and libswap (both include it).  Never
 * installed.
 *
 * Every variable that two threads touch without a common lock is declared _Atomic (C11) and
 * read and written only through these wrappers, which name the memory order in the call:
 *
 *   relaxed   counters and snapshots: no other memory is ordered by them (statistics, a
 *             peek that is re-checked under a lock);
 *   acquire / release
 *             publication: the writer fills an object, then stores its name with release;
 *             a reader that loads the name with acquire sees the filled object (handle
 *             entries, zspage descriptors, swap-cache descriptors, per-CPU cursors);
 *   seq_cst   the few Dekker-style handshakes where each side stores its flag and then loads
 *             the other's (the pin / busy protocol of libzs's mapping, described in
 *             libzs/zspage.h): only a total order makes one of the two sides see the other.
 *
 * Plain GCC __atomic builtins on non-_Atomic fields, and liburcu's uatomic macros, are not
 * used anywhere else.  Pointers that readers walk under RCU are published and read with
 * liburcu's rcu_assign_pointer / rcu_dereference / rcu_cmpxchg_pointer (libswap/swap_rcu.h).
 */
#ifndef ZS_ATOMIC_H
#define ZS_ATOMIC_H

#include <stdatomic.h>

/* Loads */
#define zs_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define zs_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define zs_load_seq_cst(p) atomic_load_explicit((p), memory_order_seq_cst)

/* Stores */
#define zs_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define zs_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define zs_store_seq_cst(p, v) atomic_store_explicit((p), (v), memory_order_seq_cst)

/* Read-modify-write; each returns the old value. */
#define zs_fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define zs_fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define zs_fetch_sub_release(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_release)
#define zs_fetch_add_seq_cst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define zs_fetch_sub_seq_cst(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
#define zs_fetch_or_relaxed(p, v)  atomic_fetch_or_explicit((p), (v), memory_order_relaxed)
#define zs_fetch_or_release(p, v)  atomic_fetch_or_explicit((p), (v), memory_order_release)
#define zs_fetch_and_relaxed(p, v) atomic_fetch_and_explicit((p), (v), memory_order_relaxed)
#define zs_fetch_and_release(p, v) atomic_fetch_and_explicit((p), (v), memory_order_release)
#define zs_exchange_acquire(p, v)  atomic_exchange_explicit((p), (v), memory_order_acquire)
#define zs_exchange_release(p, v)  atomic_exchange_explicit((p), (v), memory_order_release)
#define zs_exchange_acq_rel(p, v)  atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define zs_exchange_seq_cst(p, v)  atomic_exchange_explicit((p), (v), memory_order_seq_cst)

/*
 * Compare-and-swap: if *@p equals *@expected, store @v and return true; else load *@p into
 * *@expected and return false.  _weak may fail spuriously (use it in a retry loop).  The order
 * named is that of success; a failure is relaxed (or acquire for the _acquire forms, so the
 * value loaded into *@expected may be dereferenced).
 */
#define zs_cas_weak_relaxed(p, expected, v)                                                        \
	atomic_compare_exchange_weak_explicit((p), (expected), (v), memory_order_relaxed,          \
					      memory_order_relaxed)
#define zs_cas_weak_acquire(p, expected, v)                                                        \
	atomic_compare_exchange_weak_explicit((p), (expected), (v), memory_order_acquire,          \
					      memory_order_acquire)
#define zs_cas_weak_release(p, expected, v)                                                        \
	atomic_compare_exchange_weak_explicit((p), (expected), (v), memory_order_release,          \
					      memory_order_relaxed)
#define zs_cas_weak_seq_cst(p, expected, v)                                                        \
	atomic_compare_exchange_weak_explicit((p), (expected), (v), memory_order_seq_cst,          \
					      memory_order_seq_cst)
#define zs_cas_strong_acquire(p, expected, v)                                                      \
	atomic_compare_exchange_strong_explicit((p), (expected), (v), memory_order_acquire,        \
						memory_order_acquire)
#define zs_cas_strong_release(p, expected, v)                                                      \
	atomic_compare_exchange_strong_explicit((p), (expected), (v), memory_order_release,        \
						memory_order_relaxed)
#define zs_cas_strong_seq_cst(p, expected, v)                                                      \
	atomic_compare_exchange_strong_explicit((p), (expected), (v), memory_order_seq_cst,        \
						memory_order_seq_cst)

/* Fences */
#define zs_fence_seq_cst() atomic_thread_fence(memory_order_seq_cst)
#define zs_fence_acquire() atomic_thread_fence(memory_order_acquire)
#define zs_fence_release() atomic_thread_fence(memory_order_release)

#endif /* ZS_ATOMIC_H */
