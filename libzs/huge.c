/*
 * huge.c - huge objects' pages: one page each, taken from the arena, and the class's cache of
 * freed pages kept resident for the next huge allocation (ZS_HUGE_CACHE, size_class.h).  With
 * the inline cache paths of huge.h, the only place that hands out, caches and gives back those
 * pages.  Caller holds the huge class's lock; the handle entry that names the page is the
 * caller's (zsmalloc.c).
 */
#include "huge.h"
#include "arena.h"
#include "os.h"
#include "pool.h"
#include "size_class.h"

uint32_t zsi_huge_page_new(struct zs_pool *pool, struct size_class *class)
{
	uint32_t page = zsi_run_get(&pool->vm, 1);

	if (page != ZS_NO_PAGE) {
		pool_pages_add(pool, class, 1);
		cnt_add_locked(class->zspages, 1);
	}
	return page;
}

/* Give back @n pages of @class (cached or just freed), the last first: release, reuse,
 * uncount. */
static void release_pages(struct zs_pool *pool, struct size_class *class, const uint32_t *pages,
			  uint32_t n)
{
	for (uint32_t i = n; i-- > 0;) {
		zsi_os_release(page_addr(&pool->vm, pages[i]), ZS_PAGE_SIZE);
		zsi_run_put(&pool->vm, pages[i], 1);
	}
	if (n) {
		pool_pages_add(pool, class, -(long)n);
		cnt_add_locked(class->zspages, -(long)n);
	}
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
	release_pages(pool, class, class->hot, n);
	return n;
}
