/*
 * rcu.c - libswap's read-side sections and grace periods over urcu-bp (see swap_rcu.h).
 *
 * This file may not touch areas, clusters or the swap cache: it only knows threads.
 */
#include <pthread.h>

#include <urcu/urcu-bp.h>

#include "swap_rcu.h"

/*
 * urcu-bp keeps a registry of reader threads; a child of fork() inherits the parent's entries
 * for threads it does not have, so its grace periods could wait for them forever.  liburcu's
 * fork hooks take the registry lock across fork and drop the dead threads in the child.
 */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void install_fork_hooks(void)
{
	pthread_atfork(urcu_bp_before_fork, urcu_bp_after_fork_parent, urcu_bp_after_fork_child);
}

void swi_rcu_init(void)
{
	pthread_once(&fork_once, install_fork_hooks);
}

/*
 * The thread sanitizer cannot see a grace period: liburcu orders it with barriers and system
 * calls.  Tell it what a grace period guarantees: everything a reader did in a read-side section
 * happens before synchronize returns, so the updater may free what the reader saw.  (Each
 * read_unlock releases one token, each synchronize acquires it.)
 */
#ifdef SWAP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char rcu_grace_token;
#define rcu_tsan_reader_done() __tsan_release(&rcu_grace_token)
#define rcu_tsan_grace_over()  __tsan_acquire(&rcu_grace_token)
#else
#define rcu_tsan_reader_done() ((void)0)
#define rcu_tsan_grace_over()  ((void)0)
#endif

void swi_rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

void swi_rcu_read_unlock(void)
{
	rcu_tsan_reader_done();
	urcu_bp_read_unlock();
}

void swi_rcu_synchronize(void)
{
	urcu_bp_synchronize_rcu();
	rcu_tsan_grace_over();
}
