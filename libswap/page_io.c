/*
 * Page I/O: swap_out and swap_in, the lower-layer slot allocation and backend read/write calls,
 * and the dispatch to an area's backend.
 *
 * swap_out: choose an area (priority groups, round-robin inside a group), take a slot from the
 * CPU's cluster with one reference and the swap-cache claim, put the caller's page in the swap
 * cache, store it in the backend, take it out of the cache, drop the claim.
 *
 * swap_in: take the slot's swap-cache claim.  If we get it, we are the only reader: put a
 * locked descriptor pointing at the caller's buffer in the cache, read (decompress) straight into
 * that buffer, unlock (waking waiters), take it out of the cache once every waiter has copied it,
 * drop the claim.  If someone else holds the claim, their page is (or is about to be) in the
 * cache: find it, wait until it is filled, copy it.  So one entry is decompressed once however
 * many threads swap it in together, and a swap-in racing a swap-out copies the page being
 * written, never a half-written slot.
 *
 * This file may not touch swap_map bytes, clusters or the tree directly; it goes through
 * swap_map.c, cluster.c and swap_cache.c.
 */
#include <errno.h>
#include <string.h>

#include "swap_internal.h"

int swap_backend_write(struct swap_info *si, uint64_t off, const void *page, unsigned cpu)
{
	int err = si->kind == SWAP_AREA_MEMORY ? zram_write(si, off, page, cpu)
					       : file_write(si, off, page);

	if (likely(!err))
		swap_stat_add(si, cpu, ST_SWAP_OUTS, 1);
	else
		swap_stat_add(si, cpu, ST_FAILED_WRITES, 1);
	return err;
}

int swap_backend_read(struct swap_info *si, uint64_t off, void *page, unsigned cpu)
{
	int err =
	    si->kind == SWAP_AREA_MEMORY ? zram_read(si, off, page, cpu) : file_read(si, off, page);

	swap_stat_add(si, cpu, err ? ST_FAILED_READS : ST_BACKEND_READS, 1);
	return err;
}

void swap_backend_discard(struct swap_info *si, uint64_t off)
{
	if (si->kind == SWAP_AREA_MEMORY)
		zram_discard(si, off);
	else
		file_discard(si, off);
}

/*
 * Allocate a slot with swap_map @usage from the highest-priority writable area that has one,
 * taking turns among areas of equal priority, passing over the areas in @skip (a bitmask of
 * types).  Inside an RCU read section.
 */
static struct swap_info *get_swap_slot(struct swap_ctx *ctx, unsigned cpu, uint8_t usage,
				       uint32_t skip, uint64_t *off)
{
	struct swap_avail *av = rcu_dereference(ctx->avail);

	for (unsigned g = 0; g < av->nr_groups; g++) {
		unsigned first = av->groups[g].first, nr = av->groups[g].nr;
		unsigned start = 0;
		if (nr > 1)
			start =
			    atomic_fetch_add_explicit(&av->groups[g].rr, 1, memory_order_relaxed);
		for (unsigned i = 0; i < nr; i++) {
			struct swap_info *si = av->si[first + (start + i) % nr];
			if (skip & (1u << si->type))
				continue;
			*off = swap_cluster_alloc(si, cpu, usage);
			if (*off)
				return si;
		}
	}
	return NULL;
}

SWAP_API swp_entry_t swap_out(struct swap_ctx *ctx, const void *page)
{
	swp_entry_t entry = {0};
	uint32_t skip = 0;
	unsigned cpu;
	int err = -ENOSPC;

	if (!ctx || !page) {
		errno = EINVAL;
		return entry;
	}
	swap_rcu_enter();
	swap_rcu_read_lock();
	cpu = swap_cpu();
	for (;;) {
		struct swap_cache_page *d;
		struct swap_info *si;
		uint64_t off;
		int ret;

		si = get_swap_slot(ctx, cpu, 1 | SWAP_HAS_CACHE, skip, &off);
		if (!si)
			break;
		entry = swp_entry((unsigned)si->type, off);
		/* In the swap cache while it is written: a racing swap_in copies it from there. */
		d = swap_desc_alloc(ctx, cpu, entry, page, 0);
		if (likely(d) && unlikely(swap_cache_insert(si, off, d))) {
			swap_desc_retire(ctx, cpu, NULL, off, d);
			d = NULL;
		}
		ret = swap_backend_write(si, off, page, cpu);
		if (d)
			swap_desc_retire(ctx, cpu, si, off, d);
		if (likely(!ret)) {
			swap_drop_cache(si, off, cpu);
			swap_rcu_read_unlock();
			return entry;
		}
		/* This area could not take it (memory limit, I/O error): try the others. */
		swap_abort_slot(si, off);
		entry.val = 0;
		if (ret != -ENOSPC)
			err = ret;
		skip |= 1u << si->type;
	}
	swap_rcu_read_unlock();
	errno = -err;
	return entry;
}

SWAP_API swp_entry_t swap_alloc_slot(struct swap_ctx *ctx)
{
	swp_entry_t entry = {0};
	struct swap_info *si;
	uint64_t off;

	if (!ctx) {
		errno = EINVAL;
		return entry;
	}
	swap_rcu_enter();
	swap_rcu_read_lock();
	si = get_swap_slot(ctx, swap_cpu(), SWAP_HAS_CACHE, 0, &off);
	if (si)
		entry = swp_entry((unsigned)si->type, off);
	else
		errno = ENOSPC;
	swap_rcu_read_unlock();
	return entry;
}

/*
 * Copy the page of the claim holder's descriptor, found in the cache.  The wait happens outside
 * the RCU read section (the reference keeps the descriptor and its page), so that a filler who
 * calls swap_on or swap_off before filling cannot deadlock with us; *si is looked up again
 * afterwards and may then be NULL.
 */
static int swap_in_from_cache(struct swap_ctx *ctx, struct swap_info **si, swp_entry_t entry,
			      void *page, unsigned cpu)
{
	struct swap_cache_page *d = swap_cache_get(*si, swp_offset(entry), entry.val);
	int err;

	if (!d)
		return -EAGAIN;
	swap_rcu_read_unlock();
	err = swap_cache_wait(d);
	if (!err)
		memcpy(page, d->data, SWAP_PAGE_SIZE);
	swap_cache_page_put(d);
	swap_rcu_read_lock();
	*si = swap_info_get(ctx, entry);
	if (*si)
		swap_stat_add(*si, cpu, ST_CACHE_HITS, 1);
	return err;
}

SWAP_API int swap_in(struct swap_ctx *ctx, swp_entry_t entry, void *page)
{
	struct swap_info *si;
	uint64_t off = swp_offset(entry);
	unsigned cpu;
	int err, spins = 0;

	if (!ctx || !page)
		return -EINVAL;
	swap_rcu_enter();
	swap_rcu_read_lock();
	si = swap_info_get(ctx, entry);
	if (!si) {
		swap_rcu_read_unlock();
		return -EINVAL;
	}
	cpu = swap_cpu();
	for (;;) {
		err = swap_claim_cache(si, off);
		if (likely(!err)) {
			struct swap_cache_page *d;
			d = swap_desc_alloc(ctx, cpu, entry, page, SCP_LOCKED);
			if (d && unlikely(swap_cache_insert(si, off, d))) {
				swap_desc_retire(ctx, cpu, NULL, off, d);
				d = NULL;
			}
			err = swap_backend_read(si, off, page, cpu);
			if (d) {
				swap_cache_page_unlock(d, err);
				swap_desc_retire(ctx, cpu, si, off, d);
			}
			swap_drop_cache(si, off, cpu);
			break;
		}
		if (err != -EEXIST)
			break;
		/* Someone holds the claim: their page is in the cache, or about to be. */
		err = swap_in_from_cache(ctx, &si, entry, page, cpu);
		if (err != -EAGAIN || !si)
			break;
		/* Claimed but not in the cache yet: wait outside the RCU read section. */
		swap_rcu_read_unlock();
		if (++spins > SWAP_SPIN_BEFORE_YIELD)
			sched_yield();
		else
			cpu_relax();
		swap_rcu_read_lock();
		si = swap_info_get(ctx, entry);
		if (!si) {
			err = -EINVAL;
			break;
		}
	}
	if (!err && si)
		swap_stat_add(si, cpu, ST_SWAP_INS, 1);
	swap_rcu_read_unlock();
	return err;
}

/* Validate a lower-layer call on a claimed slot; on success the RCU section is open. */
static struct swap_info *claimed_begin(struct swap_ctx *ctx, swp_entry_t entry, const void *page,
				       int *err)
{
	struct swap_info *si;

	*err = -EINVAL;
	if (!ctx || !page)
		return NULL;
	swap_rcu_enter();
	swap_rcu_read_lock();
	si = swap_info_get(ctx, entry);
	if (si)
		*err = swap_check_claimed(si, swp_offset(entry));
	if (*err) {
		swap_rcu_read_unlock();
		return NULL;
	}
	return si;
}

SWAP_API int swap_writepage(struct swap_ctx *ctx, swp_entry_t entry, const void *page)
{
	int err;
	struct swap_info *si = claimed_begin(ctx, entry, page, &err);

	if (!si)
		return err;
	err = swap_backend_write(si, swp_offset(entry), page, swap_cpu());
	swap_rcu_read_unlock();
	return err;
}

SWAP_API int swap_readpage(struct swap_ctx *ctx, swp_entry_t entry, void *page)
{
	int err;
	struct swap_info *si = claimed_begin(ctx, entry, page, &err);

	if (!si)
		return err;
	err = swap_backend_read(si, swp_offset(entry), page, swap_cpu());
	swap_rcu_read_unlock();
	return err;
}
