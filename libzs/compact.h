/*
 * compact.h - compaction and its automatic trigger (compact.c).  Never installed.
 */
#ifndef ZS_COMPACT_H
#define ZS_COMPACT_H

#include "pool.h"
#include "size_class.h"

/* Pages compaction could free in @class: a snapshot, may be read without the lock. */
unsigned long zsi_class_freeable(struct size_class *class);

/*
 * Automatic compaction (pool option auto_compact_pages; both are no-ops without it).
 * zsi_track_freeable: after an allocation or free in @class, fold the change of its freeable
 * figure into the pool's running total; caller holds the class lock.
 * zsi_auto_compact: the same, then compact the pool if the total has reached the threshold and
 * no compaction is running; caller holds the class lock, which is dropped meanwhile and held
 * again on return.
 */
void zsi_track_freeable(struct zs_pool *pool, struct size_class *class);
void zsi_auto_compact(struct zs_pool *pool, struct size_class *class);

/* The same, inline: without the option (the default) they cost one test. */
static inline void track_freeable(struct zs_pool *pool, struct size_class *class)
{
	if (pool->auto_compact_pages)
		zsi_track_freeable(pool, class);
}
static inline void auto_compact(struct zs_pool *pool, struct size_class *class)
{
	if (pool->auto_compact_pages)
		zsi_auto_compact(pool, class);
}

#endif /* ZS_COMPACT_H */
