/*
 * huge.h - pages of huge objects and the cache of freed ones (huge.c).  Never installed.
 * A huge object takes a page of its own, named by its handle entry; it never moves.
 */
#ifndef ZS_HUGE_H
#define ZS_HUGE_H

#include <stdint.h>

struct zs_pool;
struct size_class;

/*
 * Caller holds the huge @class's lock.  zsi_huge_page_get: a resident page for a new object
 * (from the cache, or a new one), counted; ZS_NO_PAGE when out of address space.
 * zsi_huge_page_put: the page of a freed object, after its obj_used went down: cached or
 * given back.  zsi_huge_cache_release: give back every cached page; returns how many.
 */
uint32_t zsi_huge_page_get(struct zs_pool *pool, struct size_class *class);
void zsi_huge_page_put(struct zs_pool *pool, struct size_class *class, uint32_t page);
unsigned long zsi_huge_cache_release(struct zs_pool *pool, struct size_class *class);

#endif /* ZS_HUGE_H */
