/*
 * tcache.h - per-thread caches of free slots (tcache.c).  Never installed.
 *
 * A thread keeps, for each of the last few pools it used, a cache of slots it freed, by
 * physical class: zs_free of an object puts its handle index there, zs_malloc of a size of that
 * class takes it back, with no lock and no atomic read-modify-write on a line other threads
 * write, in the common case.  A cached slot stays marked used in its zspage, so the class and
 * compaction see it as taken; its handle entry is "cached" (handle.h): not live, with the
 * zspage id, slot and size of the object that left it, so a stale handle is refused as for any
 * freed object and the next zs_malloc finds the slot in the entry.
 *
 * Counting: a class's obj_used counts the slots it handed out, cached ones too (so its
 * zspages' inuse sums to it, as before); each bin counts its slots (n) and the bytes its frees
 * and allocations moved since it last settled with the class (bytes).  The statistics subtract
 * and add them (zsi_tcache_sums), so they are exact for a pool no call is changing.
 *
 * Draining without the owner taking a lock: the owner brackets each fast path with a plain
 * store of its cache's `active` word (1 on entry, 0 on exit, release) and checks the pool's
 * gate inside.  A drainer raises the gate, then makes every thread of the process pass a full
 * memory barrier (membarrier), then waits for each cache's `active` to read 0: a fast path that
 * read the gate down had stored `active` before the barrier, so the drainer sees it and waits;
 * one that starts later sees the gate and takes the locked path.  Where membarrier is missing
 * the owner's store is a seq_cst exchange instead, and its load of the gate seq_cst.  While the
 * gate is up no fast path runs on the pool and no cache of it fills, so compaction may move any
 * object (compact.c).
 *
 * lock ordering: tc_lock (tcache.c: every pool's list of caches, thread exit, eviction) sits
 * below pool->compact_lock and above every class lock.  A fast path holds no lock; a drainer
 * waits for `active` holding tc_lock alone.
 */
#ifndef ZS_TCACHE_H
#define ZS_TCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "zs_atomic.h"

struct zs_pool;
struct size_class;

/*
 * A thread caches slots of at most ZS_TCACHE_POOLS pools (the oldest is drained when a fifth
 * comes), and per class at most ZS_TCACHE_BYTES of slots, between 2 and ZS_TCACHE_MAX of them:
 * 64 slots of 32..128 bytes, 8 of 1 KiB, 2 of 3 KiB.  A full bin gives its older half back to
 * the class in one locked batch.  The byte bound keeps what a thread holds of a pool to a few
 * hundred KiB in the worst case (BENCHMARKS.md: fill and memory rows did not change).
 */
#define ZS_TCACHE_POOLS	      4
#define ZS_TCACHE_EVICT_EVERY 64 /* past that many pools: tcache.c, zsi_tcache_find */
#define ZS_TCACHE_BYTES	      8192
#define ZS_TCACHE_MAX	      64

struct tc_bin {
	_Atomic uint32_t n; /* slots cached: the owner stores, readers load (relaxed) */
	uint32_t cap;	    /* 0: the class is huge, never cached */
	_Atomic long bytes; /* to add to the class's bytes_used (owner stores, readers load) */
	uint32_t *idx;	    /* handle indexes whose entries hold the cached slots, oldest first */
};

struct zs_tcache {
	struct zs_pool *_Atomic pool; /* NULL once the pool is destroyed (detached) */
	_Atomic uint32_t active;      /* the owner is in a fast path */
	uint32_t nr;		      /* bins: the pool's physical classes */
	struct tc_bin *bins;
	void *owner;				   /* the owning thread's slot array (tcache.c) */
	struct zs_tcache *pool_next, **pool_pprev; /* the pool's list, under tc_lock */
};

/* A pool's side: its gate and its list of caches. */
struct zs_pool_tc {
	_Atomic uint32_t gate;	/* drainers at work: no fast path while not 0 */
	struct zs_tcache *list; /* every thread's cache of this pool, under tc_lock */
	_Atomic uint32_t nr;	/* caches on the list (a lock-free hint for the debug checks) */
};

extern __thread struct zs_tcache *zsi_tc_slot[ZS_TCACHE_POOLS]
    __attribute__((tls_model("initial-exec")));
extern _Atomic int zsi_tc_fence; /* membarrier is missing: owners fence */

/* This thread's cache of @pool, made on first use; NULL when out of memory. */
struct zs_tcache *zsi_tcache_find(struct zs_pool *pool);

/* The thread's cache of @pool if it has one already (none is made); NULL if not. */
static inline struct zs_tcache *tcache_held(struct zs_pool *pool)
{
	for (int i = 0; i < ZS_TCACHE_POOLS; i++)
		if (zsi_tc_slot[i] && zs_load_relaxed(&zsi_tc_slot[i]->pool) == pool)
			return zsi_tc_slot[i];
	return NULL;
}

/* The thread's cache of @pool: one load and a compare when it is the pool used last. */
static inline struct zs_tcache *tcache_of(struct zs_pool *pool)
{
	struct zs_tcache *c = zsi_tc_slot[0];

	if (__builtin_expect(c && zs_load_relaxed(&c->pool) == pool, 1))
		return c;
	return zsi_tcache_find(pool);
}

/*
 * Enter a fast path on @c of @pool: false (and nothing entered) while a drainer holds the gate.
 * The compiler barrier keeps the cache's loads and stores inside the bracket.
 */
static inline bool tcache_enter(struct zs_tcache *c, struct zs_pool_tc *ptc)
{
	uint32_t gate;

	if (__builtin_expect(zs_load_relaxed(&zsi_tc_fence), 0)) {
		/* Without membarrier: a Dekker handshake with the drainer's seq_cst add. */
		zs_exchange_seq_cst(&c->active, 1);
		gate = zs_load_seq_cst(&ptc->gate);
	} else {
		zs_store_relaxed(&c->active, 1);
		atomic_signal_fence(memory_order_seq_cst);
		gate = zs_load_acquire(&ptc->gate);
	}
	if (__builtin_expect(gate, 0)) {
		zs_store_release(&c->active, 0);
		return false;
	}
	return true;
}
static inline void tcache_leave(struct zs_tcache *c)
{
	zs_store_release(&c->active, 0);
}

/*
 * Raise @pool's gate and give every thread's cached slots of it back to their classes; until
 * zsi_tcache_gate_down no fast path runs on @pool.  Caller holds no class lock (compact_lock
 * may be held); waits for fast paths in progress, which take no lock.  Returns the pages that
 * went back to the kernel as zspages emptied.
 */
unsigned long zsi_tcache_gate_up(struct zs_pool *pool);
void zsi_tcache_gate_down(struct zs_pool *pool);
/* Give the older half (@all: every slot) of @c's bin @nth back to its class; the owner calls
 * it, inside its bracket, holding no lock. */
void zsi_tcache_flush(struct zs_pool *pool, struct zs_tcache *c, uint32_t nth, bool all);
/* At zs_destroy_pool: detach every cache of @pool (their slots go with the pool). */
void zsi_tcache_pool_fini(struct zs_pool *pool);
/* Slots and bytes the caches hold or moved, for class @nth (-1: the classes set in @map, a
 * snapshot of the classes in use) of @pool: the statistics subtract *@objs and add *@bytes.
 * A bin of a class with no zspage holds no slot, and the bytes it moved cancel its class's
 * count, so the sums skip both.  Takes tc_lock; caller holds no class lock. */
void zsi_tcache_sums(struct zs_pool *pool, int nth, const uint64_t *map, unsigned long *objs,
		     long *bytes);

/*
 * zsmalloc.c's: give the cached slots whose handle indexes are @idx[0..@n) back to @class
 * (locked): their entries become free, their slots free, their zspages freed when emptied.
 * The counters of the bin they came from are the caller's.  Returns the pages that went back
 * to the kernel.
 */
unsigned long zsi_cached_release(struct zs_pool *pool, struct size_class *class,
				 const uint32_t *idx, uint32_t n);

#endif /* ZS_TCACHE_H */
