/*
 * size_class.c - the class table: which chain length each size class uses, and which classes
 * share one physical class.  Pure computation at pool creation; touches no zspage.
 *
 * Classes run from 32 to 4096 bytes in 8-byte steps (509 of them).  Eight bytes is the
 * smallest step that keeps every slot 8-byte aligned; with lazily populated zspages a finer
 * step costs little (a class's partly filled zspage only holds the pages it has reached), and
 * it halves the rounding waste of the kernel's 16-byte steps.
 *
 * Each class takes the chain length (1..max pages) that leaves the least tail waste at the end
 * of a zspage, the shortest on a tie.  Two neighbouring classes with the same chain length and
 * slot count are merged into the larger one, as the kernel does: the smaller class's objects
 * would fill zspages exactly as often, so a separate class would only add a partial zspage.
 * A class holding one object per page is "huge": the object takes the page alone.
 */
#include <errno.h>
#include <stdlib.h>

#include "zs_internal.h"

void zs_class_geometry(uint32_t size, uint32_t max_pages, uint32_t *pages, uint32_t *objs)
{
	uint32_t best_pages = 1, best_waste = UINT32_MAX;

	for (uint32_t p = 1; p <= max_pages; p++) {
		uint32_t waste = (p * ZS_PAGE_SIZE) % size;

		if (waste < best_waste) {
			best_waste = waste;
			best_pages = p;
		}
	}
	*pages = best_pages;
	*objs = best_pages * ZS_PAGE_SIZE / size;
}

int zs_build_classes(struct zs_pool *pool)
{
	uint32_t pages[ZS_SIZE_CLASSES], objs[ZS_SIZE_CLASSES];
	int phys_of[ZS_SIZE_CLASSES];
	uint32_t nr = 0;

	for (int i = 0; i < ZS_SIZE_CLASSES; i++)
		zs_class_geometry(ZS_MIN_ALLOC_SIZE + i * ZS_SIZE_CLASS_DELTA, pool->max_pages,
				  &pages[i], &objs[i]);

	/* Walk down from the largest class; a class like the physical one above joins it. */
	int above = -1;
	for (int i = ZS_SIZE_CLASSES - 1; i >= 0; i--) {
		if (above < 0 || pages[i] != pages[above] || objs[i] != objs[above]) {
			above = i;
			nr++;
		}
		phys_of[i] = above;
	}

	pool->classes = aligned_alloc(64, sizeof(struct size_class) * nr);
	if (!pool->classes)
		return -ENOMEM;
	pool->nr_classes = nr;

	uint32_t nth = 0;
	for (int i = 0; i < ZS_SIZE_CLASSES; i++) {
		if (phys_of[i] != i)
			continue;
		struct size_class *c = &pool->classes[nth];

		*c = (struct size_class){0};
		pthread_mutex_init(&c->lock, NULL);
		c->size = ZS_MIN_ALLOC_SIZE + i * ZS_SIZE_CLASS_DELTA;
		c->pages_per_zspage = pages[i];
		c->objs_per_zspage = objs[i];
		c->index = i;
		c->nth = nth;
		c->huge = objs[i] == 1;
		if (c->huge) {
			c->hot = malloc(ZS_HUGE_CACHE * sizeof(*c->hot));
			if (!c->hot)
				return -ENOMEM;
		}
		nth++;
	}
	/* Map every logical index to its physical class (they are in increasing size). */
	nth = 0;
	for (int i = 0; i < ZS_SIZE_CLASSES; i++) {
		while ((int)pool->classes[nth].index < phys_of[i])
			nth++;
		pool->class_of[i] = &pool->classes[nth];
	}

	/* Objects from the smallest size whose class and all classes above it are huge. */
	int first_huge = ZS_SIZE_CLASSES;
	while (first_huge > 0 && objs[first_huge - 1] == 1)
		first_huge--;
	if (first_huge == 0)
		pool->huge_class_size = 1;
	else
		pool->huge_class_size = ZS_MIN_ALLOC_SIZE + (first_huge - 1) * ZS_SIZE_CLASS_DELTA + 1;
	return 0;
}
