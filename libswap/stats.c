/*
 * stats.c - statistics: swap_area_stats (one area's snapshot) and swap_ctx_stats (every area
 * summed).  An area's own figures come from its counters (counters.h), its clusters and its
 * swap_map; the backend fills in its own (backend.h).
 *
 * This file only reads: it changes no state.
 */
#include <errno.h>
#include <string.h>

#include "area.h"
#include "debug.h"

static void fill_area_stats(struct swap_info *si, struct swap_area_stats *st)
{
	uint64_t lists[CL_NR_LISTS], owned;

	memset(st, 0, sizeof(*st));
	st->type = si->type;
	st->priority = si->prio;
	st->kind = si->backend->ops->kind;
	st->nr_pages = si->max;
	st->usable_pages = si->pages;
	st->bad_pages = si->nr_bad;
	st->inuse_pages = swi_clusters_inuse(&si->clusters);
	swi_clusters_count_lists(&si->clusters, lists, &owned);
	st->nr_clusters = si->clusters.nr;
	st->free_clusters = lists[CL_FREE];
	st->nonfull_clusters = lists[CL_NONFULL];
	st->full_clusters = lists[CL_FULL];
	st->percpu_clusters = owned;
	st->continued_slots = swi_map_nr_continued(&si->map);
	st->swap_outs = (uint64_t)swap_count_sum(&si->stats, ST_SWAP_OUTS);
	st->swap_ins = (uint64_t)swap_count_sum(&si->stats, ST_SWAP_INS);
	st->backend_reads = (uint64_t)swap_count_sum(&si->stats, ST_BACKEND_READS);
	st->cache_hits = (uint64_t)swap_count_sum(&si->stats, ST_CACHE_HITS);
	st->cache_pages = (uint64_t)swap_count_sum(&si->stats, ST_CACHE_PAGES);
	st->failed_reads = (uint64_t)swap_count_sum(&si->stats, ST_FAILED_READS);
	st->failed_writes = (uint64_t)swap_count_sum(&si->stats, ST_FAILED_WRITES);
	st->draining = !(zs_load_relaxed(&si->flags) & SWP_WRITEOK);
	si->backend->ops->fill_stats(si->backend, st);
}

SWAP_API int swap_area_stats(struct swap_ctx *ctx, int type, struct swap_area_stats *st)
{
	struct swap_info *si;

	if (!st)
		return -EINVAL;
	si = swap_area_begin(ctx, type);
	if (!si)
		return -EINVAL;
	swi_debug_check_area(si, 0);
	fill_area_stats(si, st);
	swi_rcu_read_unlock();
	return 0;
}

SWAP_API int swap_ctx_stats(struct swap_ctx *ctx, struct swap_area_stats *st)
{
	struct swap_area_stats a;
	int n = 0;

	if (!ctx || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->type = -1;
	swi_rcu_read_lock();
	for (int i = 0; i < SWAP_MAX_AREAS; i++) {
		struct swap_info *si = rcu_dereference(ctx->swap_info[i]);

		if (!si)
			continue;
		fill_area_stats(si, &a);
		n++;
		st->nr_pages += a.nr_pages;
		st->usable_pages += a.usable_pages;
		st->inuse_pages += a.inuse_pages;
		st->bad_pages += a.bad_pages;
		st->nr_clusters += a.nr_clusters;
		st->free_clusters += a.free_clusters;
		st->nonfull_clusters += a.nonfull_clusters;
		st->full_clusters += a.full_clusters;
		st->percpu_clusters += a.percpu_clusters;
		st->continued_slots += a.continued_slots;
		st->swap_outs += a.swap_outs;
		st->swap_ins += a.swap_ins;
		st->backend_reads += a.backend_reads;
		st->cache_hits += a.cache_hits;
		st->cache_pages += a.cache_pages;
		st->failed_reads += a.failed_reads;
		st->failed_writes += a.failed_writes;
		st->orig_data_size += a.orig_data_size;
		st->compr_data_size += a.compr_data_size;
		st->mem_used_total += a.mem_used_total;
		st->mem_limit += a.mem_limit;
		st->mem_used_max += a.mem_used_max;
		st->same_pages += a.same_pages;
		st->huge_pages += a.huge_pages;
		st->pages_compacted += a.pages_compacted;
		st->draining += a.draining;
		st->idle_pages += a.idle_pages;
		st->recompressed += a.recompressed;
		st->incompressible += a.incompressible;
		st->wb_pages += a.wb_pages;
		st->wb_writes += a.wb_writes;
		st->wb_reads += a.wb_reads;
		st->wb_failed += a.wb_failed;
		st->pool_limit_hit += a.pool_limit_hit;
		st->huge_direct += a.huge_direct;
		st->backing_pages += a.backing_pages;
		st->backing_used += a.backing_used;
	}
	swi_rcu_read_unlock();
	return n;
}
