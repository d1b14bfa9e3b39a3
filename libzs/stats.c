/*
 * stats.c - statistics: the pool's counters, per-class figures, and the text table in the
 * layout of the kernel's debugfs zsmalloc "classes" file.  Read-only: counters are read
 * lock-free as snapshots; zs_class_stats takes the class lock to count the zspages on its
 * fullness lists.  Slots waiting in threads' caches (tcache.h) count as allocated, not used:
 * the classes count them used, the caches' sums are taken off.
 */
#include <errno.h>

#include "arena.h"
#include "compact.h"
#include "fullness.h"
#include "handle.h"
#include "debug.h"
#include "pool.h"
#include "size_class.h"
#include "tcache.h"

ZS_API void zs_pool_stats(struct zs_pool *pool, struct zs_pool_stats *stats)
{
	if (!pool || !stats)
		return;
	uint64_t map[ZS_CLASS_WORDS];
	unsigned long cached;
	long moved;

	*stats = (struct zs_pool_stats){0};
	/* The classes with a zspage: the others count nothing (their bytes_used may differ from
	 * 0 by what a cache moved, which the cache's sum skips alike; tcache.h). */
	classes_in_use(&pool->classes, map);
	zsi_tcache_sums(pool, -1, map, &cached, &moved);
	/* Slots in threads' caches: allocated, not used (tcache.h). */
	stats->objs_used -= cached;
	stats->bytes_used += (unsigned long)moved;
	for_each_class_down(map, pool->classes.nr, i)
	{
		struct size_class *c = &pool->classes.v[i];

		stats->objs_allocated += cnt_get(c->zspages) * c->objs_per_zspage;
		stats->objs_used += cnt_get(c->obj_used);
		stats->bytes_used += cnt_get(c->bytes_used);
	}
	stats->pages_used = zs_load_relaxed(&pool->pages_total);
	stats->pages_cached = zs_load_relaxed(&pool->vm.resident_pages);
	stats->pages_peak = zs_load_relaxed(&pool->pages_peak);
	stats->pages_compacted = zs_load_relaxed(&pool->pages_compacted);
	/* Handle table, descriptor table and id bitmap as far as resident, plus heap metadata
	 * (and, in a DEBUG=1 build, its own tables). */
	stats->meta_bytes = zsi_handles_bytes(&pool->handles) + zs_load_relaxed(&pool->heap_bytes) +
			    zsi_vm_meta_bytes(&pool->vm) +
			    zsi_debug_meta_bytes(pool, zs_load_relaxed(&pool->handles.top));
}

ZS_API unsigned long zs_get_total_pages(struct zs_pool *pool)
{
	return pool ? zs_load_relaxed(&pool->pages_total) : 0;
}

ZS_API unsigned int zs_nr_classes(struct zs_pool *pool)
{
	return pool ? pool->classes.nr : 0;
}

ZS_API int zs_class_stats(struct zs_pool *pool, unsigned int nth, struct zs_class_stats *out)
{
	if (!pool || !out || nth >= pool->classes.nr)
		return -EINVAL;
	struct size_class *c = &pool->classes.v[nth];
	unsigned long cached;
	long moved;

	*out = (struct zs_class_stats){
	    .index = c->index,
	    .size = c->size,
	    .pages_per_zspage = c->pages_per_zspage,
	    .objs_per_zspage = c->objs_per_zspage,
	};
	/* A class without zspages holds nothing, in a cache or out (most classes of a pool):
	 * no lock to take. */
	if (!cnt_get(c->zspages))
		return 0;
	zsi_tcache_sums(pool, (int)nth, NULL, &cached, &moved);
	pthread_mutex_lock(&c->lock);
	for (int g = 0; g < ZS_NR_RATIO_BUCKETS; g++)
		for (uint32_t id = c->fullness_list[g]; id; id = zspage_of(pool, id)->next)
			out->zspages[g]++;
	if (c->huge) {
		out->zspages[ZS_EMPTY] = c->hot_n; /* cached free pages show as empty zspages */
		out->zspages[ZS_FULL] = cnt_get(c->zspages) - c->hot_n;
	}
	out->obj_allocated = cnt_get(c->zspages) * c->objs_per_zspage;
	out->obj_used = cnt_get(c->obj_used) - cached;
	out->pages_used = cnt_get(c->pages_used);
	out->freeable = zsi_class_freeable(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

ZS_API int zs_dump_classes(struct zs_pool *pool, FILE *out)
{
	static const char *const ratio[] = {"10%", "20%", "30%", "40%", "50%", "60%",
					    "70%", "80%", "90%", "99%", "100%"};
	unsigned long tot[ZS_NR_RATIO_BUCKETS] = {0}, alloc = 0, used = 0, pages = 0, freeable = 0;

	if (!pool || !out)
		return -EINVAL;
	fprintf(out, " %5s %5s", "class", "size");
	for (int i = 0; i < 11; i++)
		fprintf(out, " %9s", ratio[i]);
	fprintf(out, " %13s %10s %10s %16s %8s\n", "obj_allocated", "obj_used", "pages_used",
		"pages_per_zspage", "freeable");
	for (unsigned int n = 0; n < pool->classes.nr; n++) {
		struct zs_class_stats cs;

		zs_class_stats(pool, n, &cs);
		fprintf(out, " %5u %5u", cs.index, cs.size);
		for (int g = 1; g < ZS_NR_RATIO_BUCKETS; g++) {
			fprintf(out, " %9lu", cs.zspages[g]);
			tot[g] += cs.zspages[g];
		}
		fprintf(out, " %13lu %10lu %10lu %16u %8lu\n", cs.obj_allocated, cs.obj_used,
			cs.pages_used, cs.pages_per_zspage, cs.freeable);
		alloc += cs.obj_allocated;
		used += cs.obj_used;
		pages += cs.pages_used;
		freeable += cs.freeable;
	}
	fprintf(out, "\n %5s %5s", "Total", "");
	for (int g = 1; g < ZS_NR_RATIO_BUCKETS; g++)
		fprintf(out, " %9lu", tot[g]);
	fprintf(out, " %13lu %10lu %10lu %16s %8lu\n", alloc, used, pages, "", freeable);
	return ferror(out) ? -EIO : 0;
}
