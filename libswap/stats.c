/*
 * Statistics: per-area snapshots and context-wide sums, compaction, and fault injection.
 *
 * Event counters are kept per area and CPU (struct swap_percpu.stat) and only summed here, so
 * the hot paths never write a cache line another CPU is writing.  Cluster and list counts are
 * read under their locks; backend figures come from the backend.
 *
 * This file may not change any state except through swap_compact's and swap_debug_corrupt's
 * backend calls.
 */
#include <errno.h>
#include <string.h>

#include "swap_internal.h"

int64_t swap_stat_sum(struct swap_info *si, enum swap_stat_item item)
{
	int64_t sum = 0;
	for (unsigned c = 0; c < swap_nr_cpus; c++)
		sum += __atomic_load_n(&si->percpu[c].stat[item], __ATOMIC_RELAXED);
	return sum;
}

static void fill_area_stats(struct swap_info *si, struct swap_area_stats *st)
{
	uint64_t lists[CL_NR_LISTS], owned, continued;

	memset(st, 0, sizeof(*st));
	st->type = si->type;
	st->priority = si->prio;
	st->kind = si->kind;
	st->nr_pages = si->max;
	st->usable_pages = si->pages;
	st->bad_pages = si->nr_bad;
	st->inuse_pages = swap_cluster_inuse(si);
	swap_cluster_count_lists(si, lists, &owned, &continued);
	st->nr_clusters = si->nr_clusters;
	st->free_clusters = lists[CL_FREE];
	st->nonfull_clusters = lists[CL_NONFULL];
	st->full_clusters = lists[CL_FULL];
	st->percpu_clusters = owned;
	st->continued_slots = continued;
	st->swap_outs = (uint64_t)swap_stat_sum(si, ST_SWAP_OUTS);
	st->swap_ins = (uint64_t)swap_stat_sum(si, ST_SWAP_INS);
	st->backend_reads = (uint64_t)swap_stat_sum(si, ST_BACKEND_READS);
	st->cache_hits = (uint64_t)swap_stat_sum(si, ST_CACHE_HITS);
	st->cache_pages = (uint64_t)swap_stat_sum(si, ST_CACHE_PAGES);
	st->failed_reads = (uint64_t)swap_stat_sum(si, ST_FAILED_READS);
	st->failed_writes = (uint64_t)swap_stat_sum(si, ST_FAILED_WRITES);
	if (si->kind == SWAP_AREA_MEMORY)
		zram_fill_stats(si, st);
	else
		file_fill_stats(si, st);
}

SWAP_API int swap_area_stats(struct swap_ctx *ctx, int type, struct swap_area_stats *st)
{
	struct swap_info *si;

	if (!ctx || !st || type < 0 || type >= SWAP_MAX_AREAS)
		return -EINVAL;
	swap_rcu_enter();
	swap_rcu_read_lock();
	si = rcu_dereference(ctx->swap_info[type]);
	if (si)
		fill_area_stats(si, st);
	swap_rcu_read_unlock();
	return si ? 0 : -EINVAL;
}

SWAP_API int swap_ctx_stats(struct swap_ctx *ctx, struct swap_area_stats *st)
{
	struct swap_area_stats a;
	int n = 0;

	if (!ctx || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->type = -1;
	swap_rcu_enter();
	swap_rcu_read_lock();
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
	}
	swap_rcu_read_unlock();
	return n;
}

SWAP_API long swap_compact(struct swap_ctx *ctx, int type)
{
	struct swap_info *si;
	long ret = -EINVAL;

	if (!ctx || type < 0 || type >= SWAP_MAX_AREAS)
		return -EINVAL;
	swap_rcu_enter();
	swap_rcu_read_lock();
	si = rcu_dereference(ctx->swap_info[type]);
	if (si)
		ret = si->kind == SWAP_AREA_MEMORY ? zram_compact(si) : 0;
	swap_rcu_read_unlock();
	return ret;
}

SWAP_API struct zs_pool *swap_area_pool(struct swap_ctx *ctx, int type)
{
	struct zs_pool *pool = NULL;
	struct swap_info *si;

	if (!ctx || type < 0 || type >= SWAP_MAX_AREAS) {
		errno = EINVAL;
		return NULL;
	}
	swap_rcu_enter();
	swap_rcu_read_lock();
	si = rcu_dereference(ctx->swap_info[type]);
	if (si && si->kind == SWAP_AREA_MEMORY)
		pool = zram_pool(si);
	swap_rcu_read_unlock();
	if (!pool)
		errno = EINVAL;
	return pool;
}

SWAP_API int swap_debug_corrupt(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si;
	int err = -EINVAL;

	if (!ctx)
		return -EINVAL;
	swap_rcu_enter();
	swap_rcu_read_lock();
	si = swap_info_get(ctx, entry);
	if (si && si->kind == SWAP_AREA_MEMORY &&
	    swap_map_has_refs(si->swap_map[swp_offset(entry)]))
		err = zram_corrupt(si, swp_offset(entry));
	swap_rcu_read_unlock();
	return err;
}
