/*
 * huge.h - pages of huge objects and the cache of freed ones (huge.c).  Never installed.
 * A huge object takes a page of its own, named by its handle entry; it never moves.  Caller
 * holds the huge class's lock throughout.  The cache's common cases are inline: a page taken
 * from it, a page put back while it has room.
 */
#ifndef ZS_HUGE_H
#define ZS_HUGE_H

#include <stdint.h>

#include "size_class.h"

struct zs_pool;

/* A new resident page for a huge object, counted; ZS_NO_PAGE when out of address space. */
uint32_t zsi_huge_page_new(struct zs_pool *pool, struct size_class *class);
/* Give back @page, and the cached pages past the first @keep. */
void zsi_huge_page_release(struct zs_pool *pool, struct size_class *class, uint32_t page,
			   uint32_t keep);
/* Give up every cached page to the pool's resident runs (arena.h); returns the pages that went
 * back to the kernel meanwhile. */
unsigned long zsi_huge_cache_release(struct zs_pool *pool, struct size_class *class);

/* A resident page for a new huge object of @class: a cached one if there is one. */
static inline uint32_t huge_page_get(struct zs_pool *pool, struct size_class *class)
{
	if (class->hot_n)
		return class->hot[--class->hot_n]; /* resident and counted already */
	return zsi_huge_page_new(pool, class);
}

/* The page of a freed huge object (after obj_used went down): cached while the class may keep
 * more (one per 8 live huge objects, ZS_HUGE_CACHE in all), else given back. */
static inline void huge_page_put(struct zs_pool *pool, struct size_class *class, uint32_t page)
{
	unsigned long keep = cnt_get(class->obj_used) / 8;

	if (keep > ZS_HUGE_CACHE)
		keep = ZS_HUGE_CACHE;
	if (class->hot_n < keep)
		class->hot[class->hot_n++] = page; /* stays counted as an empty zspage */
	else
		zsi_huge_page_release(pool, class, page, (uint32_t)keep);
}

#endif /* ZS_HUGE_H */
