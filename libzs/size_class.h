/*
 * size_class.h - size classes and the pool's class table (size_class.c).  Never installed.
 *
 * A physical size class owns its zspages (on its fullness lists, fullness.h), a magazine of
 * free handle indexes, and for huge classes a cache of free pages (huge.c).  Its lock guards
 * all of that.  Its counters are written under the lock and read lock-free as snapshots.
 */
#ifndef ZS_SIZE_CLASS_H
#define ZS_SIZE_CLASS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zs/zsmalloc.h"
#include "handle.h"
#include "os.h"
#include "zs_atomic.h"

/*
 * Freed pages of huge objects a class keeps resident for the next huge allocation: giving a
 * page back and faulting it in again costs more than the allocation itself.  At most one per
 * 8 live huge objects of the class (so an emptied pool holds nothing) and ZS_HUGE_CACHE in
 * all.  Statistics show them as empty zspages; compaction gives them all back.
 */
#define ZS_HUGE_CACHE 32

struct size_class {
	pthread_mutex_t lock;
	uint32_t fullness_list[ZS_NR_RATIO_BUCKETS]; /* list heads, by zspage id */
	_Atomic uint32_t list_mask; /* bit g set when fullness_list[g] is not empty */
	uint32_t size;		    /* slot size */
	uint16_t objs_per_zspage;
	uint8_t pages_per_zspage;
	bool huge;
	uint16_t index;		     /* logical index (size - 32) / 8 */
	uint16_t nth;		     /* position among physical classes */
	uint32_t hot_n;		     /* huge classes: pages in hot[] */
	uint32_t *hot;		     /* huge classes: ZS_HUGE_CACHE resident free pages */
	unsigned long freeable_seen; /* this class's share of pool->freeable_total */
	/* Counters: written under the lock (cnt_add_locked), read lock-free (cnt_get). */
	_Atomic unsigned long zspages; /* huge class: pages (one object each, or cached) */
	_Atomic unsigned long obj_used;
	_Atomic unsigned long pages_used;
	_Atomic unsigned long bytes_used;
	struct zs_magazine mag;
} __attribute__((aligned(64)));

/* A load and a store, not an atomic add: only the holder of the class lock may call it. */
#define cnt_add_locked(c, v) zs_store_relaxed(&(c), zs_load_relaxed(&(c)) + (v))
#define cnt_get(c)	     zs_load_relaxed(&(c))

#define ZS_CLASS_WORDS ((ZS_SIZE_CLASSES + 63) / 64)

/*
 * The physical classes, by size, and the logical index -> physical class map.  in_use has bit
 * nth set while physical class nth has a zspage (a huge class: a page), so what walks the
 * classes (compaction, the pool's statistics) costs in proportion to the classes in use, not
 * to the few hundred a pool has.  Set and cleared with the count, under the class lock; read
 * without it as a snapshot, like the counters.
 */
struct zs_class_table {
	struct size_class *v;
	uint32_t nr;
	size_t huge_size; /* zs_huge_class_size() */
	_Atomic uint64_t in_use[ZS_CLASS_WORDS];
	struct size_class *of[ZS_SIZE_CLASSES];
};

/* Add @delta to @class's zspages (its lock held), keeping @t's in_use bit in step. */
static inline void class_zspages_add(struct zs_class_table *t, struct size_class *class, long delta)
{
	unsigned long old = cnt_get(class->zspages), now = old + (unsigned long)delta;
	uint64_t bit = 1ULL << (class->nth & 63);

	cnt_add_locked(class->zspages, delta);
	if (!old && now)
		atomic_fetch_or_explicit(&t->in_use[class->nth >> 6], bit, memory_order_relaxed);
	else if (old && !now)
		atomic_fetch_and_explicit(&t->in_use[class->nth >> 6], ~bit, memory_order_relaxed);
}

/* A snapshot of @t's in_use bits, for the walks below. */
static inline void classes_in_use(const struct zs_class_table *t, uint64_t map[ZS_CLASS_WORDS])
{
	for (uint32_t w = 0; w < ZS_CLASS_WORDS; w++)
		map[w] = zs_load_relaxed(&t->in_use[w]);
}

/* The highest class set in @map below @below, or -1. */
static inline int class_map_below(const uint64_t *map, int below)
{
	while (below > 0) {
		uint32_t w = (uint32_t)(below - 1) >> 6, top = (uint32_t)(below - 1) & 63;
		uint64_t bits = map[w];

		if (top < 63)
			bits &= (2ULL << top) - 1;
		if (bits)
			return (int)(w << 6) + 63 - __builtin_clzll(bits);
		below = (int)(w << 6);
	}
	return -1;
}

/* The classes set in @map (of a table of @nr), from the largest; @i an int. */
#define for_each_class_down(map, nr, i)                                                            \
	for (int i = class_map_below((map), (int)(nr)); i >= 0; i = class_map_below((map), i))

static inline bool class_map_has(const uint64_t *map, uint32_t nth)
{
	return map[nth >> 6] >> (nth & 63) & 1;
}

/* Build the table for zspages of at most @max_pages pages: 0, or -ENOMEM (nothing held). */
int zsi_classes_init(struct zs_class_table *t, uint32_t max_pages);
void zsi_classes_fini(struct zs_class_table *t);
/* Heap bytes the table holds. */
size_t zsi_classes_bytes(const struct zs_class_table *t);

static inline uint32_t size_to_index(size_t size)
{
	if (size <= ZS_MIN_ALLOC_SIZE)
		return 0;
	return (uint32_t)((size - ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA - 1) /
			  ZS_SIZE_CLASS_DELTA);
}

/* The physical class an object of @size bytes (1..ZS_MAX_ALLOC_SIZE) belongs to. */
static inline struct size_class *class_for_size(const struct zs_class_table *t, size_t size)
{
	return t->of[size_to_index(size)];
}

/* Pages a zspage must have resident for slots [0, slot] of @class to be usable. */
static inline uint32_t pages_for_slot(const struct size_class *class, uint32_t slot)
{
	return (uint32_t)(((size_t)(slot + 1) * class->size + ZS_PAGE_SIZE - 1) >> ZS_PAGE_SHIFT);
}

#endif /* ZS_SIZE_CLASS_H */
