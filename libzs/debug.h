/*
 * debug.h - libzs's invariant checks (debug.c), run in a DEBUG=1 build at the end of every
 * public call that changed state; a failed check aborts there, naming what broke (zs_debug.h).
 * In a normal build every call below is an empty inline.  Never installed.
 *
 * What is checked, and when:
 *   the zspage a call touched   its bitmap against inuse, first_free and populated; its
 *                               fullness against inuse; its list links; its class and claim
 *                               (zs_malloc, zs_free, each map and unmap);
 *   that zspage's class         list_mask against the lists, the magazine, and (in full)
 *                               every zspage on every list, counted against the class's
 *                               zspages, obj_used and pages_used counters: in full on each call
 *                               while the class has at most ZS_DEBUG_BUDGET zspages, else on
 *                               one call in zspages / ZS_DEBUG_BUDGET (zs_malloc, zs_free);
 *   the object made or freed    its handle entry against the slot it names;
 *   the whole pool              every class; every id against its descriptor; every handle
 *                               entry against the slot it names and every zspage's used slots
 *                               against the entries naming them; the free list and magazines
 *                               (no index lost or given twice); the pool counters.  After each
 *                               compaction, at creation and destruction, and every so many
 *                               calls (about a quarter of the handles issued), so that each
 *                               call pays about the same whatever the pool's size.
 * A DEBUG=1 build also counts each object's mappings, so that zs_free always detects a mapped
 * object; the mapping calls then take the object's class lock.
 */
#ifndef ZS_LIBZS_DEBUG_H
#define ZS_LIBZS_DEBUG_H

#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>

#include "table.h"
#include "zs_atomic.h"
#include "zs_debug.h"

struct zs_pool;
struct size_class;
struct zspage;

/* Descriptors a class check may visit per call, on average: every class of the test suites
 * is checked in full at every call, and a class of 100k zspages still costs microseconds. */
#define ZS_DEBUG_BUDGET 256

struct zs_debug_state {
	_Atomic unsigned long calls; /* state-changing calls since the last whole-pool check */
	struct zs_table maps;	     /* by handle index: mappings not yet unmapped (class lock) */
	pthread_mutex_t maps_lock;   /* growing maps (a leaf lock) */
	uint32_t *class_calls;	     /* by class: calls since its last full check (class lock) */
};

#if ZS_DEBUG
int zsi_debug_init(struct zs_pool *pool);
void zsi_debug_fini(struct zs_pool *pool);
/* Caller holds @class's lock.  @z (NULL: none) is the zspage the call changed. */
void zsi_debug_check_change(struct zs_pool *pool, struct size_class *class, struct zspage *z);
/* The live object of handle index @hidx sits in a used slot of @class; class lock held. */
void zsi_debug_check_object(struct zs_pool *pool, struct size_class *class, uint32_t hidx);
/* The entry of a freed handle index @hidx is free; class lock held. */
void zsi_debug_check_freed(struct zs_pool *pool, uint32_t hidx);
/* The whole pool.  _locked: caller holds compact_lock (and no class lock); else none. */
void zsi_debug_check_pool_locked(struct zs_pool *pool);
void zsi_debug_check_pool(struct zs_pool *pool);
/* Count a state-changing call (no lock held); every so often, check the whole pool. */
void zsi_debug_tick(struct zs_pool *pool);
/* Mappings of handle index @hidx now; class lock held. */
uint32_t zsi_debug_maps(struct zs_pool *pool, uint32_t hidx);
/* Memory the debug build's own tables hold, for meta_bytes: the map counts of the @top handle
 * indexes ever issued (as far as resident) and the classes' call counts. */
unsigned long zsi_debug_meta_bytes(struct zs_pool *pool, size_t top);
/*
 * A mapping (@delta 1) or unmapping (-1) of the object of @hidx, entry @e, in @class (locked):
 * count it, then check its zspage.  Returns false for an unmap without a mapping, which the
 * caller then ignores.
 */
bool zsi_debug_mapped(struct zs_pool *pool, struct size_class *class, uint32_t hidx, uint64_t e,
		      int delta);
#else
static inline int zsi_debug_init(struct zs_pool *pool)
{
	(void)pool;
	return 0;
}
static inline void zsi_debug_fini(struct zs_pool *pool)
{
	(void)pool;
}
static inline void zsi_debug_check_change(struct zs_pool *pool, struct size_class *class,
					  struct zspage *z)
{
	(void)pool, (void)class, (void)z;
}
static inline void zsi_debug_check_object(struct zs_pool *pool, struct size_class *class,
					  uint32_t hidx)
{
	(void)pool, (void)class, (void)hidx;
}
static inline void zsi_debug_check_freed(struct zs_pool *pool, uint32_t hidx)
{
	(void)pool, (void)hidx;
}
static inline void zsi_debug_check_pool_locked(struct zs_pool *pool)
{
	(void)pool;
}
static inline void zsi_debug_check_pool(struct zs_pool *pool)
{
	(void)pool;
}
static inline void zsi_debug_tick(struct zs_pool *pool)
{
	(void)pool;
}
static inline uint32_t zsi_debug_maps(struct zs_pool *pool, uint32_t hidx)
{
	(void)pool, (void)hidx;
	return 0;
}
static inline unsigned long zsi_debug_meta_bytes(struct zs_pool *pool, size_t top)
{
	(void)pool, (void)top;
	return 0;
}
#endif

#endif /* ZS_LIBZS_DEBUG_H */
