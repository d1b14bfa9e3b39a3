/*
 * pool.h - struct zs_pool: the parts of a pool put together (pool.c creates and destroys it).
 * Never installed.  Included by the files that work across parts (zspage.c, huge.c,
 * zsmalloc.c, compact.c, stats.c, debug.c); the parts themselves (arena, handle, size_class,
 * fullness) see only their own headers.
 *
 * Design in brief
 * ---------------
 * A pool owns a set of large address-space reservations ("arenas", MAP_NORESERVE).  A zspage
 * is a run of 1..16 contiguous pages of one arena, cut into equal slots of its size class.
 * Because a zspage is contiguous virtual memory, an object never needs a bounce copy: mapping
 * returns base + slot * size.
 *
 * Pages of a zspage are made resident lazily.  Slots are handed out lowest index first, so the
 * live objects of a zspage sit at its front and the pages past the last slot ever reached are
 * never touched.  zspage->populated counts the resident prefix; that count, summed over all
 * zspages, is pages_used, and it is exactly what the process's RSS shows for the pool.  Pages
 * are given back with MADV_DONTNEED when a zspage empties or compaction trims its tail.  This
 * makes a long zspage cost no more than a short one while it is partly filled, so we can use
 * long chains (little tail waste, a high huge threshold) without the partial-zspage penalty
 * that makes the kernel keep chains short.
 *
 * Handles (handle.h) name entries of the pool's handle table; an entry names its object's
 * zspage id and slot.  A zspage id names a 64-byte descriptor in the descriptor table
 * (arena.h), which lives as long as the pool, so lock-free readers may pin any id without ever
 * touching freed memory.  A descriptor keeps an allocation bitmap, not a slot-to-handle map;
 * compaction, which needs that map, builds it by scanning the handle table (compact.c).  Ids
 * are handed out lowest first and compaction renumbers zspages downward, so the table's
 * resident part follows the live zspages.  Handle indexes are handed out lowest first too, and
 * compaction gives back the pages of the handle table whose entries are all free.  Huge objects
 * (one per page) never move: their entry holds the page itself, no descriptor (huge.c).
 *
 * Mapping and moving: zs_map_object takes no lock.  It pins the zspage, then checks that no
 * mover is busy on it and that the handle still points where it read; a mover marks the
 * zspage busy, then checks the pins (the protocol is in zspage.h).  A mapped object is
 * therefore never moved.
 *
 * Each thread keeps the slots it freed for its next allocations of their class (tcache.h), and
 * compaction first takes them all back (the gate), so what it moves and frees is as before.
 *
 * lock ordering (outermost first):
 *   pool->compact_lock     serialises compactions (zs_compact, automatic compaction)
 *   tc_lock                (tcache.c, one for all pools) the lists of per-thread caches;
 *                          draining them takes class locks under it
 *   size_class->lock       per physical class; two are held only by cross-class moves and
 *                          allocation spill, always the smaller class index first
 *   pool->vm.lock          address space (arenas, free page runs) and zspage ids
 *   pool->handles.lock     the bitmap of free handle indexes, the table's released pages
 * zs_map_object / zs_unmap_object / zs_obj_read_* take no lock at all (in a DEBUG=1 build,
 * the object's class lock: debug.h).
 */
#ifndef ZS_POOL_H
#define ZS_POOL_H

#include <pthread.h>
#include <stdint.h>

#include "zs/zsmalloc.h"
#include "arena.h"
#include "handle.h"
#include "size_class.h"
#include "debug.h"
#include "tcache.h"
#include "zs_atomic.h"
#include "zspage.h"

_Static_assert(HE_ID_BITS == ZS_ID_BITS, "a handle entry holds any zspage id");
_Static_assert(ZS_MAX_PAGES_PER_ZSPAGE *ZS_PAGE_SIZE / ZS_MIN_ALLOC_SIZE <= 1U << HE_SLOT_BITS,
	       "a handle entry holds any slot");
_Static_assert((uint64_t)ZS_MAX_ARENAS *ZS_ARENA_PAGES <= 1ULL << HE_LOC_BITS,
	       "a huge entry holds any page number");

struct zs_pool {
	char *name;
	uint32_t pack_bytes; /* 0: no cross-class packing */
	unsigned long auto_compact_pages;
	bool no_tcache; /* ZS_POOL_NO_TCACHE */
	struct zs_class_table classes;
	struct zs_handles handles;
	struct zs_vm vm;
	struct zs_pool_tc tc; /* the per-thread caches of this pool (tcache.h) */

	pthread_mutex_t compact_lock;
	_Atomic unsigned long pages_total;
	_Atomic unsigned long pages_peak;
	_Atomic unsigned long pages_compacted;
	_Atomic unsigned long heap_bytes;     /* heap metadata: pool, classes, big bitmaps */
	_Atomic unsigned long freeable_total; /* running sum of zsi_class_freeable(), compact.c */
	_Atomic unsigned long freeable_floor; /* freeable_total when the last compaction ended */
#if ZS_DEBUG
	struct zs_debug_state debug;
#endif
};

static inline struct zspage *zspage_of(struct zs_pool *pool, uint32_t id)
{
	return zspage_at(&pool->vm.desc, id);
}
static inline uint32_t zspage_id(struct zs_pool *pool, const struct zspage *z)
{
	(void)pool;
	return z->id;
}
/* The first byte of @z's run of pages. */
static inline char *zspage_base(struct zs_pool *pool, const struct zspage *z)
{
	return page_addr(&pool->vm, z->page);
}
/* The class owning @z; caller holds that class's lock or has pinned @z. */
static inline struct size_class *zspage_class(struct zs_pool *pool, struct zspage *z)
{
	return &pool->classes.v[zs_load_relaxed(&z->class_nth)];
}

/* Account @delta resident pages to @class and the pool; caller holds the class lock.
 * (Pages moving between a class and the resident runs change the class's count alone.) */
static inline void pool_pages_add(struct zs_pool *pool, struct size_class *class, long delta)
{
	cnt_add_locked(class->pages_used, delta);
	unsigned long now = zs_fetch_add_relaxed(&pool->pages_total, delta) + delta;
	unsigned long peak = zs_load_relaxed(&pool->pages_peak);

	while (delta > 0 && now > peak && !zs_cas_weak_relaxed(&pool->pages_peak, &peak, now))
		;
}

/* @n pages of resident runs went back to the kernel. */
static inline void pool_pages_released(struct zs_pool *pool, unsigned long n)
{
	if (n)
		zs_fetch_sub_relaxed(&pool->pages_total, n);
}

/*
 * How many pages the resident runs (arena.h) may keep, @leaving pages being on their way there:
 * one per ZS_RESIDENT_SHARE pages in use, and at most ZS_RESIDENT_MAX.  The measurement that
 * chose them is in BENCHMARKS.md ("Resident runs").  A small pool may keep as many pages as it
 * uses, up to ZS_RESIDENT_MIN (64 KiB): below 256 pages the share alone kept almost none, so a
 * pool of a few zspages gave its pages back and faulted them in again on every turn of its
 * objects (a fifth of the time of libzs's fuzz target, madvise and page faults).  An emptied
 * pool still keeps none.
 */
#define ZS_RESIDENT_SHARE 16
#define ZS_RESIDENT_MAX	  1024
#define ZS_RESIDENT_MIN	  16
/* Pages of the pool's zspages and huge objects, @leaving pages being on their way to the
 * resident runs. */
static inline unsigned long pages_in_use(struct zs_pool *pool, unsigned long leaving)
{
	unsigned long total = zs_load_relaxed(&pool->pages_total);
	unsigned long idle = zs_load_relaxed(&pool->vm.resident_pages) + leaving;

	return total > idle ? total - idle : 0;
}

static inline unsigned long resident_keep(struct zs_pool *pool, unsigned long leaving)
{
	unsigned long used = pages_in_use(pool, leaving), keep = used / ZS_RESIDENT_SHARE;

	if (keep < ZS_RESIDENT_MIN)
		keep = used < ZS_RESIDENT_MIN ? used : ZS_RESIDENT_MIN;
	return keep < ZS_RESIDENT_MAX ? keep : ZS_RESIDENT_MAX;
}

/*
 * How far past resident_keep() the resident runs may go before the excess goes back: pages
 * given back one zspage at a time cost a madvise call each (about 1.3 us, against 0.3 us a page
 * in calls of 16 pages or more), which was most of the cost of a writeback of the whole pool
 * (libswap's tier).  Up to ZS_RELEASE_BATCH pages (256 KiB), and at most 1/128 of the pages in
 * use, so an emptied pool still keeps none and a shrinking one under 1% more.
 */
#define ZS_RELEASE_BATCH 64
static inline unsigned long resident_slack(struct zs_pool *pool, unsigned long leaving)
{
	unsigned long slack = pages_in_use(pool, leaving) / 128;

	return slack < ZS_RELEASE_BATCH ? slack : ZS_RELEASE_BATCH;
}

#endif /* ZS_POOL_H */
