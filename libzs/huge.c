/*
 * huge.c - huge objects' pages: one page each, taken from the arena, and the class's cache of
 * freed pages kept resident for the next huge allocation (ZS_HUGE_CACHE, size_class.h); pages
 * past it go to the pool's resident runs (arena.h), whose 1-page runs a new huge page takes
 * first.  With the inline cache paths of huge.h, the only place that hands out, caches and
 * gives back those pages.  Caller holds the huge class's lock; the handle entry that names the page
 * is the caller's (zsmalloc.c).
 */
#include "huge.h"
#include "arena.h"
#include "os.h"
#include "pool.h"
#include "size_class.h"

uint32_t zsi_huge_page_new(struct zs_pool *pool, struct size_class *class)
{
	uint32_t resident;
	uint32_t page = zsi_run_get(&pool->vm, 1, &resident);

	if (page != ZS_NO_PAGE) {
		if (resident) /* counted already, as a resident run */
			cnt_add_locked(class->pages_used, 1);
		else
			pool_pages_add(pool, class, 1);
		class_zspages_add(&pool->classes, class, 1);
	}
	return page;
}

/* Give up @n pages of @class (cached or just freed), the last first, as resident runs (arena.h);
 * returns the pages that went back to the kernel. */
static unsigned long release_pages(struct zs_pool *pool, struct size_class *class,
				   const uint32_t *pages, uint32_t n)
{
	unsigned long released = 0;

	if (!n)
		return 0;
	cnt_add_locked(class->pages_used, -(long)n);
	class_zspages_add(&pool->classes, class, -(long)n);
	for (uint32_t i = n; i-- > 0;)
		released += zsi_run_put_resident(&pool->vm, pages[i], 1, 1, resident_keep(pool, 1),
						 resident_slack(pool, 1));
	pool_pages_released(pool, released);
	return released;
}

void zsi_huge_page_release(struct zs_pool *pool, struct size_class *class, uint32_t page,
			   uint32_t keep)
{
	release_pages(pool, class, &page, 1);
	if (class->hot_n > keep) {
		release_pages(pool, class, class->hot + keep, class->hot_n - keep);
		class->hot_n = keep;
	}
}

unsigned long zsi_huge_cache_release(struct zs_pool *pool, struct size_class *class)
{
	uint32_t n = class->hot_n;

	class->hot_n = 0;
	return release_pages(pool, class, class->hot, n);
}
