/*
 * tcache.c - per-thread caches of free slots: making a thread's cache of a pool, the pool's
 * list of caches, draining them (the gate, for compaction and the debug checks), thread exit,
 * pool destruction, and the sums the statistics need.  The design and the drain protocol are
 * in tcache.h; the fast paths that fill and empty a cache are zsmalloc.c's, and so is giving a
 * cached slot back to its class (zsi_cached_release).
 *
 * Each thread has ZS_TCACHE_POOLS slots (zsi_tc_slot, most recently used first) and one
 * pthread key, whose destructor gives every cached slot back when the thread exits.  A cache
 * belongs to its thread; the pool only lists it.  zs_destroy_pool detaches its caches (pool
 * set to NULL) and the owner frees a detached cache when it next looks for a slot or exits, so
 * no thread ever reads a cache another has freed, and a pool made later at the same address
 * never matches a cache of the old one.
 */
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pool.h"
#include "size_class.h"
#include "tcache.h"

__thread struct zs_tcache *zsi_tc_slot[ZS_TCACHE_POOLS] __attribute__((tls_model("initial-exec")));
_Atomic int zsi_tc_fence;

static pthread_mutex_t tc_lock = PTHREAD_MUTEX_INITIALIZER; /* every pool's list of caches */
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;
static pthread_key_t tc_key;
static bool tc_key_made;

static void tc_thread_exit(void *slots);

static void tc_setup(void)
{
	/*
	 * Registering once lets every drain use the expedited command, which interrupts only the
	 * CPUs running this process's threads; without it each fast path pays a locked exchange
	 * where a plain store would do (tcache_enter).
	 */
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		zs_store_relaxed(&zsi_tc_fence, 1);
	tc_key_made = !pthread_key_create(&tc_key, tc_thread_exit);
}

/* Every other thread of the process has passed a full memory barrier when this returns. */
static void tc_barrier(void)
{
	if (zs_load_relaxed(&zsi_tc_fence) ||
	    !syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		return;
	/*
	 * Not registered (a child of fork() may not be): register again, or else owners fence
	 * from now on and the global command (slow, but needs no registration) covers those
	 * that did not.
	 */
	if (!syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) &&
	    !syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		return;
	zs_store_seq_cst(&zsi_tc_fence, 1);
	syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
}

/* Slots a bin of @class holds at most (0: huge classes are never cached). */
static uint32_t bin_cap(const struct size_class *class)
{
	if (class->huge)
		return 0;
	uint32_t cap = ZS_TCACHE_BYTES / class->size;
	return cap < 2 ? 2 : cap > ZS_TCACHE_MAX ? ZS_TCACHE_MAX : cap;
}

/* A new empty cache of @pool for this thread: bins and their arrays in one block. */
static struct zs_tcache *cache_new(struct zs_pool *pool)
{
	uint32_t nr = pool->classes.nr;
	size_t slots = 0;

	for (uint32_t i = 0; i < nr; i++)
		slots += bin_cap(&pool->classes.v[i]);
	struct zs_tcache *c =
	    calloc(1, sizeof(*c) + nr * sizeof(struct tc_bin) + slots * sizeof(uint32_t));
	if (!c)
		return NULL;
	c->nr = nr;
	c->bins = (struct tc_bin *)(c + 1);
	uint32_t *idx = (uint32_t *)(c->bins + nr);
	for (uint32_t i = 0; i < nr; i++) {
		c->bins[i].cap = bin_cap(&pool->classes.v[i]);
		c->bins[i].idx = idx;
		idx += c->bins[i].cap;
	}
	c->owner = zsi_tc_slot;
	zs_store_relaxed(&c->pool, pool);
	return c;
}

/*
 * Give the first @n slots of bin @nth back to the class and settle the bin's bytes with it.
 * Caller is the owner (outside a fast path, or inside its own) or a drainer that saw the
 * owner's `active` at 0 with the gate up; no class lock held.
 */
static unsigned long bin_release(struct zs_pool *pool, struct zs_tcache *c, uint32_t nth,
				 uint32_t n)
{
	struct tc_bin *b = &c->bins[nth];
	struct size_class *class = &pool->classes.v[nth];
	uint32_t have = zs_load_relaxed(&b->n);

	pthread_mutex_lock(&class->lock);
	unsigned long released = zsi_cached_release(pool, class, b->idx, n);
	cnt_add_locked(class->bytes_used, zs_load_relaxed(&b->bytes));
	memmove(b->idx, b->idx + n, (have - n) * sizeof(*b->idx));
	zs_store_relaxed(&b->n, have - n);
	zs_store_relaxed(&b->bytes, 0);
	pthread_mutex_unlock(&class->lock);
	return released;
}

/* Every slot of @c back to @pool's classes. */
static unsigned long cache_drain(struct zs_pool *pool, struct zs_tcache *c)
{
	unsigned long released = 0;

	for (uint32_t i = 0; i < c->nr; i++)
		if (zs_load_relaxed(&c->bins[i].n) || zs_load_relaxed(&c->bins[i].bytes))
			released += bin_release(pool, c, i, zs_load_relaxed(&c->bins[i].n));
	return released;
}

void zsi_tcache_flush(struct zs_pool *pool, struct zs_tcache *c, uint32_t nth, bool all)
{
	uint32_t n = zs_load_relaxed(&c->bins[nth].n);

	bin_release(pool, c, nth, all ? n : n - n / 2);
}

static void list_add(struct zs_pool *pool, struct zs_tcache *c)
{
	c->pool_next = pool->tc.list;
	if (c->pool_next)
		c->pool_next->pool_pprev = &c->pool_next;
	c->pool_pprev = &pool->tc.list;
	pool->tc.list = c;
	zs_store_relaxed(&pool->tc.nr, zs_load_relaxed(&pool->tc.nr) + 1);
}

static void list_del(struct zs_pool *pool, struct zs_tcache *c)
{
	*c->pool_pprev = c->pool_next;
	if (c->pool_next)
		c->pool_next->pool_pprev = c->pool_pprev;
	zs_store_relaxed(&pool->tc.nr, zs_load_relaxed(&pool->tc.nr) - 1);
}

/* Drain (if its pool still lives), unlist and free one of this thread's caches; tc_lock held. */
static void cache_release(struct zs_tcache *c)
{
	struct zs_pool *pool = zs_load_relaxed(&c->pool);

	if (pool) {
		cache_drain(pool, c);
		list_del(pool, c);
	}
	free(c);
}

static void tc_thread_exit(void *slots)
{
	struct zs_tcache **s = slots;

	pthread_mutex_lock(&tc_lock);
	for (int i = 0; i < ZS_TCACHE_POOLS; i++) {
		if (s[i])
			cache_release(s[i]);
		s[i] = NULL;
	}
	pthread_mutex_unlock(&tc_lock);
}

/* Misses since this thread last made a cache while all its slots were taken. */
static __thread uint32_t tc_misses __attribute__((tls_model("initial-exec")));

struct zs_tcache *zsi_tcache_find(struct zs_pool *pool)
{
	struct zs_tcache **s = zsi_tc_slot;

	for (int i = 1; i < ZS_TCACHE_POOLS; i++) {
		struct zs_tcache *c = s[i];
		if (c && zs_load_relaxed(&c->pool) == pool) {
			memmove(s + 1, s, i * sizeof(*s));
			s[0] = c;
			return c;
		}
	}
	/*
	 * A thread going round more pools than it has slots would drain and make a cache at
	 * nearly every call: past ZS_TCACHE_POOLS, only one miss in ZS_TCACHE_EVICT_EVERY makes
	 * one, and the others take the locked paths (what they cost without caches).
	 */
	if (s[ZS_TCACHE_POOLS - 1] && zs_load_relaxed(&s[ZS_TCACHE_POOLS - 1]->pool) &&
	    ++tc_misses % ZS_TCACHE_EVICT_EVERY)
		return NULL;
	pthread_once(&tc_once, tc_setup);
	if (!tc_key_made)
		return NULL; /* no destructor to drain at thread exit: no caches */
	struct zs_tcache *c = cache_new(pool);
	if (!c)
		return NULL; /* the locked paths do without */
	if (pthread_setspecific(tc_key, s)) {
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&tc_lock);
	/* Free the caches of destroyed pools first, then make room by the least recently used. */
	int keep = 0;
	for (int i = 0; i < ZS_TCACHE_POOLS; i++) {
		if (s[i] && !zs_load_relaxed(&s[i]->pool))
			cache_release(s[i]);
		else if (s[i])
			s[keep++] = s[i];
	}
	for (int i = keep; i < ZS_TCACHE_POOLS; i++)
		s[i] = NULL;
	if (s[ZS_TCACHE_POOLS - 1])
		cache_release(s[ZS_TCACHE_POOLS - 1]);
	memmove(s + 1, s, (ZS_TCACHE_POOLS - 1) * sizeof(*s));
	s[0] = c;
	list_add(pool, c);
	pthread_mutex_unlock(&tc_lock);
	return c;
}

unsigned long zsi_tcache_gate_up(struct zs_pool *pool)
{
	unsigned long released = 0;

	zs_fetch_add_seq_cst(&pool->tc.gate, 1);
	pthread_mutex_lock(&tc_lock);
	/* Our own cache cannot be in a fast path now; others' might. */
	for (struct zs_tcache *c = pool->tc.list; c; c = c->pool_next) {
		if (c->owner != zsi_tc_slot) {
			tc_barrier();
			break;
		}
	}
	for (struct zs_tcache *c = pool->tc.list; c; c = c->pool_next) {
		/* A fast path is a few dozen instructions, unless its owner was preempted. */
		while (zs_load_seq_cst(&c->active))
			sched_yield();
		released += cache_drain(pool, c);
	}
	pthread_mutex_unlock(&tc_lock);
	return released;
}

void zsi_tcache_gate_down(struct zs_pool *pool)
{
	zs_fetch_sub_release(&pool->tc.gate, 1);
}

void zsi_tcache_pool_fini(struct zs_pool *pool)
{
	pthread_mutex_lock(&tc_lock);
	while (pool->tc.list) {
		struct zs_tcache *c = pool->tc.list;
		list_del(pool, c);
		zs_store_relaxed(&c->pool, NULL);
	}
	pthread_mutex_unlock(&tc_lock);
}

void zsi_tcache_sums(struct zs_pool *pool, int nth, const uint64_t *map, unsigned long *objs,
		     long *bytes)
{
	*objs = 0;
	*bytes = 0;
	if (!zs_load_relaxed(&pool->tc.nr))
		return; /* no thread has a cache of it (a snapshot, as every figure is) */
	pthread_mutex_lock(&tc_lock);
	for (struct zs_tcache *c = pool->tc.list; c; c = c->pool_next) {
		/* one class: its bin alone (zs_dump_classes asks for every class in turn) */
		if (nth >= 0) {
			if ((uint32_t)nth < c->nr) {
				*objs += zs_load_relaxed(&c->bins[nth].n);
				*bytes += zs_load_relaxed(&c->bins[nth].bytes);
			}
			continue;
		}
		for_each_class_down(map, c->nr, i)
		{
			*objs += zs_load_relaxed(&c->bins[i].n);
			*bytes += zs_load_relaxed(&c->bins[i].bytes);
		}
	}
	pthread_mutex_unlock(&tc_lock);
}
