/*
 * backend.c - reaching an area's backend (backend.h): page reads and writes with the area's
 * counters, and the public calls that go to a backend's optional operations (swap_compact,
 * swap_area_pool, swap_debug_corrupt, swap_mark_idle, swap_writeback, swap_set_writeback_limit,
 * swap_recompress).
 *
 * This file may not change swap_map bytes, clusters or the swap cache.
 */
#include <errno.h>

#include "area.h"

int swi_backend_write(struct swap_info *si, uint64_t off, const void *page, unsigned cpu)
{
	int err = si->backend->ops->write(si->backend, off, page, cpu);

	swap_stat_add(si, cpu, likely(!err) ? ST_SWAP_OUTS : ST_FAILED_WRITES, 1);
	return err;
}

int swi_backend_read(struct swap_info *si, uint64_t off, void *page, unsigned cpu)
{
	int err = si->backend->ops->read(si->backend, off, page, cpu);

	swap_stat_add(si, cpu, likely(!err) ? ST_BACKEND_READS : ST_FAILED_READS, 1);
	return err;
}

SWAP_API long swap_compact(struct swap_ctx *ctx, int type)
{
	struct swap_info *si = swap_area_begin(ctx, type);
	long ret;

	if (!si)
		return -EINVAL;
	ret = si->backend->ops->compact ? si->backend->ops->compact(si->backend) : 0;
	swi_rcu_read_unlock();
	return ret;
}

SWAP_API struct zs_pool *swap_area_pool(struct swap_ctx *ctx, int type)
{
	struct swap_info *si = swap_area_begin(ctx, type);
	struct zs_pool *pool = NULL;

	if (si) {
		if (si->backend->ops->pool)
			pool = si->backend->ops->pool(si->backend);
		swi_rcu_read_unlock();
	}
	if (!pool)
		errno = EINVAL;
	return pool;
}

SWAP_API int swap_debug_corrupt(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	int err = -EINVAL;

	if (!si)
		return -EINVAL;
	if (si->backend->ops->corrupt && swap_map_has_refs(si->map.map[swp_offset(entry)]))
		err = si->backend->ops->corrupt(si->backend, swp_offset(entry));
	swi_rcu_read_unlock();
	return err;
}

SWAP_API long swap_mark_idle(struct swap_ctx *ctx, int type, unsigned int age_s)
{
	struct swap_info *si = swap_area_begin(ctx, type);
	long ret = -EOPNOTSUPP;

	if (!si)
		return -EINVAL;
	if (si->backend->ops->mark_idle)
		ret = si->backend->ops->mark_idle(si->backend, age_s);
	swi_rcu_read_unlock();
	return ret;
}

SWAP_API long swap_writeback(struct swap_ctx *ctx, int type, const struct swap_writeback_opts *o)
{
	struct swap_info *si;
	long ret = -EOPNOTSUPP;

	if (!o || (o->flags & ~(SWAP_WB_IDLE | SWAP_WB_HUGE | SWAP_WB_INCOMPRESSIBLE)))
		return -EINVAL;
	si = swap_area_begin(ctx, type);
	if (!si)
		return -EINVAL;
	/* Inside the read section for its whole length: a swap_on or swap_off meanwhile waits. */
	if (si->backend->ops->writeback)
		ret = si->backend->ops->writeback(si->backend, o);
	swi_rcu_read_unlock();
	return ret;
}

SWAP_API int swap_set_writeback_limit(struct swap_ctx *ctx, int type, uint64_t pages)
{
	struct swap_info *si = swap_area_begin(ctx, type);
	int ret = -EOPNOTSUPP;

	if (!si)
		return -EINVAL;
	if (si->backend->ops->set_writeback_limit)
		ret = si->backend->ops->set_writeback_limit(si->backend, pages);
	swi_rcu_read_unlock();
	return ret;
}

SWAP_API long swap_recompress(struct swap_ctx *ctx, int type, const struct swap_recompress_opts *o)
{
	struct swap_info *si;
	long ret = -EOPNOTSUPP;

	if (!o || !o->compressor ||
	    (o->flags & ~(SWAP_WB_IDLE | SWAP_WB_HUGE | SWAP_WB_INCOMPRESSIBLE)))
		return -EINVAL;
	si = swap_area_begin(ctx, type);
	if (!si)
		return -EINVAL;
	if (si->backend->ops->recompress)
		ret = si->backend->ops->recompress(si->backend, o);
	swi_rcu_read_unlock();
	return ret;
}
