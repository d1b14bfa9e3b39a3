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
 * A class holding one object per page is "huge": the object takes the page alone.  The
 * geometry of every class is worked out once per chain limit and kept for the next pool.
 */
#include <errno.h>
#include <stdlib.h>

#include "size_class.h"

static void class_geometry(uint32_t size, uint32_t max_pages, uint16_t *pages, uint16_t *objs)
{
	uint32_t best_pages = 1, best_waste = UINT32_MAX;

	for (uint32_t p = 1; p <= max_pages; p++) {
		uint32_t waste = (p * ZS_PAGE_SIZE) % size;

		if (waste < best_waste) {
			best_waste = waste;
			best_pages = p;
		}
	}
	*pages = (uint16_t)best_pages;
	*objs = (uint16_t)(best_pages * ZS_PAGE_SIZE / size);
}

/*
 * Every class's geometry for a chain limit, worked out once per limit and process: it is the
 * same for every pool, and computing it costs more than the rest of creating a pool.
 */
struct class_plan {
	_Atomic int done;
	uint16_t pages[ZS_SIZE_CLASSES], objs[ZS_SIZE_CLASSES];
};
static struct class_plan plans[ZS_MAX_PAGES_PER_ZSPAGE + 1];
static pthread_mutex_t plans_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct class_plan *plan_for(uint32_t max_pages)
{
	struct class_plan *p = &plans[max_pages];

	if (zs_load_acquire(&p->done))
		return p;
	pthread_mutex_lock(&plans_lock);
	if (!zs_load_relaxed(&p->done)) {
		for (int i = 0; i < ZS_SIZE_CLASSES; i++)
			class_geometry(ZS_MIN_ALLOC_SIZE + i * ZS_SIZE_CLASS_DELTA, max_pages,
				       &p->pages[i], &p->objs[i]);
		zs_store_release(&p->done, 1);
	}
	pthread_mutex_unlock(&plans_lock);
	return p;
}

/* Undo the first @n classes of @v, then free it. */
static void free_classes(struct size_class *v, uint32_t n)
{
	while (n--) {
		free(v[n].hot);
		pthread_mutex_destroy(&v[n].lock);
	}
	free(v);
}

int zsi_classes_init(struct zs_class_table *t, uint32_t max_pages)
{
	const struct class_plan *plan = plan_for(max_pages);
	const uint16_t *pages = plan->pages, *objs = plan->objs;
	int phys_of[ZS_SIZE_CLASSES];
	uint32_t nr = 0;

	/* Walk down from the largest class; a class like the physical one above joins it. */
	int above = -1;
	for (int i = ZS_SIZE_CLASSES - 1; i >= 0; i--) {
		if (above < 0 || pages[i] != pages[above] || objs[i] != objs[above]) {
			above = i;
			nr++;
		}
		phys_of[i] = above;
	}

	struct size_class *v = aligned_alloc(64, sizeof(struct size_class) * nr);
	if (!v)
		return -ENOMEM;
	uint32_t nth = 0;
	for (int i = 0; i < ZS_SIZE_CLASSES; i++) {
		if (phys_of[i] != i)
			continue;
		struct size_class *c = &v[nth];

		*c = (struct size_class){0};
		c->size = ZS_MIN_ALLOC_SIZE + i * ZS_SIZE_CLASS_DELTA;
		c->pages_per_zspage = pages[i];
		c->objs_per_zspage = objs[i];
		c->index = i;
		c->nth = nth;
		c->huge = objs[i] == 1;
		if (c->huge && !(c->hot = malloc(ZS_HUGE_CACHE * sizeof(*c->hot)))) {
			free_classes(v, nth);
			return -ENOMEM;
		}
		pthread_mutex_init(&c->lock, NULL);
		nth++;
	}
	t->v = v;
	t->nr = nr;
	for (uint32_t w = 0; w < ZS_CLASS_WORDS; w++)
		zs_store_relaxed(&t->in_use[w], 0);
	/* Map every logical index to its physical class (they are in increasing size). */
	nth = 0;
	for (int i = 0; i < ZS_SIZE_CLASSES; i++) {
		while ((int)v[nth].index < phys_of[i])
			nth++;
		t->of[i] = &v[nth];
	}

	/* Objects from the smallest size whose class and all classes above it are huge. */
	int first_huge = ZS_SIZE_CLASSES;
	while (first_huge > 0 && objs[first_huge - 1] == 1)
		first_huge--;
	if (first_huge == 0)
		t->huge_size = 1;
	else
		t->huge_size = ZS_MIN_ALLOC_SIZE + (first_huge - 1) * ZS_SIZE_CLASS_DELTA + 1;
	return 0;
}

void zsi_classes_fini(struct zs_class_table *t)
{
	free_classes(t->v, t->nr);
}

size_t zsi_classes_bytes(const struct zs_class_table *t)
{
	size_t bytes = sizeof(struct size_class) * t->nr;

	for (uint32_t i = 0; i < t->nr; i++)
		if (t->v[i].hot)
			bytes += ZS_HUGE_CACHE * sizeof(uint32_t);
	return bytes;
}
