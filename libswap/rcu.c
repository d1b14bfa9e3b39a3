/*
 * RCU glue: liburcu's urcu-memb flavour, with threads registered transparently.
 *
 * Every public call that walks an RCU-protected structure first calls swap_rcu_enter(), which
 * registers the calling thread with urcu-memb the first time; a pthread key destructor
 * unregisters it when the thread exits.  A thread the application registered itself is detected
 * (the reader's registered flag, a data-structure layout the urcu-memb header publishes) and
 * left alone.  Also the spinlock slow path, which sits here as the other piece of
 * threading plumbing.
 *
 * This file may not touch areas, clusters or the swap cache: it only knows threads.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include <urcu/urcu-memb.h>
/* Only for the declaration of the reader's TLS state and its `registered` flag (a layout);
 * every call below goes through the library's functions. */
#include <urcu/static/urcu-memb.h>

#include "swap_internal.h"

__thread bool swap_rcu_thread_registered __attribute__((tls_model("initial-exec")));

static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;

/* Runs at thread exit for threads we registered (the key's value is non-NULL only then). */
static void rcu_thread_exit(void *arg)
{
	(void)arg;
	urcu_memb_unregister_thread();
	swap_rcu_thread_registered = false;
}

static void rcu_key_create(void)
{
	if (pthread_key_create(&rcu_key, rcu_thread_exit)) {
		fprintf(stderr, "libswap: pthread_key_create failed\n");
		abort();
	}
}

void swap_rcu_register_slow(void)
{
	pthread_once(&rcu_key_once, rcu_key_create);
	if (!URCU_TLS(urcu_memb_reader).registered) {
		urcu_memb_register_thread();
		/* Any non-NULL value makes the destructor run at thread exit. */
		pthread_setspecific(rcu_key, (void *)1);
	}
	swap_rcu_thread_registered = true;
}

/*
 * The thread sanitizer cannot see a grace period: liburcu orders it with barriers in inline
 * assembly and system calls.  Tell it what a grace period guarantees: everything a reader did in
 * a read-side section happens before synchronize returns, so the updater may free what the
 * reader saw.  (Each read_unlock releases one token, each synchronize acquires it.)
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

void swap_rcu_read_lock(void)
{
	urcu_memb_read_lock();
}

void swap_rcu_read_unlock(void)
{
	rcu_tsan_reader_done();
	urcu_memb_read_unlock();
}

void swap_rcu_synchronize(void)
{
	urcu_memb_synchronize_rcu();
	rcu_tsan_grace_over();
}

void swap_spin_lock_slow(struct swap_spinlock *l)
{
	for (;;) {
		for (int i = 0; i < SWAP_SPIN_BEFORE_YIELD; i++) {
			if (!atomic_load_explicit(&l->locked, memory_order_relaxed) &&
			    !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire))
				return;
			cpu_relax();
		}
		/* The holder is probably preempted: let it run. */
		sched_yield();
	}
}
