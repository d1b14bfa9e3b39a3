/*
 * swap_path.c - the swap-out and swap-in paths, swap_out and swap_in, and the lower-layer
 * public calls they are made of (swap_alloc_slot, swap_cache_*, swap_writepage, swap_readpage)
 * for callers who manage their own pages.
 *
 * swap_out: choose an area (area.c: priority groups, round-robin inside a group), take a slot
 * from the CPU's cluster with one reference and the swap-cache claim, then store the page with
 * it in the swap cache for the length of the write (so a racing swap_in copies it from there),
 * and drop the claim.
 *
 * swap_in: take the slot's swap-cache claim.  If we get it, we are the only reader: a locked
 * page over the caller's buffer goes into the cache, the backend reads (decompresses) straight
 * into that buffer, the page is unlocked (waking waiters) and taken out of the cache once every
 * waiter has copied it, and the claim is dropped.  If someone else holds the claim, their page
 * is (or is about to be) in the cache: find it, wait until it is filled, copy it.  So one entry
 * is decompressed once however many threads swap it in together, and a swap-in racing a
 * swap-out copies the page being written, never a half-written slot.
 *
 * This file may not touch swap_map bytes, clusters or the tree directly; it goes through
 * slot.c, cluster.c (via area.c) and swap_cache.c.
 */
#include <errno.h>
#include <string.h>

#include "area.h"
#include "debug.h"
#include "slot.h"

/*
 * The five steps both paths share, with the slot's claim held: a page in the swap cache over
 * the caller's buffer (@src to write from, or @dst to read into and locked until filled), the
 * backend I/O, the page unlocked and taken out again once its lookups are done.  A page that
 * cannot be cached (no memory) only loses the sharing with racing swap-ins.  May leave and
 * re-enter the RCU read section (the claim keeps the area).
 */
static int io_through_cache(struct swap_ctx *ctx, struct swap_info *si, swp_entry_t entry,
			    const void *src, void *dst, unsigned cpu)
{
	uint64_t off = swp_offset(entry);
	struct swap_cache_page *p;
	int err;

	p = swi_cache_page_alloc(&ctx->cache_pages, cpu, entry.val, src ? src : dst,
				 src ? 0 : SCP_LOCKED);
	if (p && unlikely(swi_cache_insert(&si->cache, off, p))) {
		swi_cache_page_retire(&ctx->cache_pages, cpu, NULL, off, p);
		p = NULL;
	}
	err = src ? swi_backend_write(si, off, src, cpu) : swi_backend_read(si, off, dst, cpu);
	if (p) {
		if (!src)
			swi_cache_page_unlock(p, err);
		swi_cache_page_retire(&ctx->cache_pages, cpu, &si->cache, off, p);
	}
	return err;
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
	swi_rcu_read_lock();
	cpu = swap_cpu();
	for (;;) {
		struct swap_info *si;
		uint64_t off;
		int ret;

		si = swi_area_get_slot(ctx, cpu, 1 | SWAP_HAS_CACHE, skip, &off);
		if (!si)
			break;
		entry = swp_entry((unsigned)si->type, off);
		ret = io_through_cache(ctx, si, entry, page, NULL, cpu);
		if (likely(!ret)) {
			swi_slot_drop_claim(si, off, cpu);
			swi_debug_check_slot(si, off);
			swi_rcu_read_unlock();
			return entry;
		}
		/* This area could not take it (memory limit, I/O error): try the others. */
		swi_slot_abort(si, off, cpu);
		entry.val = 0;
		if (ret != -ENOSPC)
			err = ret;
		skip |= 1u << si->type;
	}
	swi_rcu_read_unlock();
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
	swi_rcu_read_lock();
	si = swi_area_get_slot(ctx, swap_cpu(), SWAP_HAS_CACHE, 0, &off);
	if (si) {
		entry = swp_entry((unsigned)si->type, off);
		swi_debug_check_slot(si, off);
	} else {
		errno = ENOSPC;
	}
	swi_rcu_read_unlock();
	return entry;
}

/*
 * Copy the page of the claim holder's swap-cache page.  The wait happens outside the RCU read
 * section (the reference keeps the page), so that a filler who calls swap_on or swap_off before
 * filling cannot deadlock with us; *@si is looked up again afterwards and may then be NULL.
 */
static int swap_in_from_cache(struct swap_ctx *ctx, struct swap_info **si, swp_entry_t entry,
			      void *page, unsigned cpu)
{
	struct swap_cache_page *p = swi_cache_get(&(*si)->cache, swp_offset(entry), entry.val);
	int err;

	if (!p)
		return -EAGAIN;
	swi_rcu_read_unlock();
	err = swi_cache_page_wait(p);
	if (!err)
		memcpy(page, p->data, SWAP_PAGE_SIZE);
	swi_cache_page_put(p);
	swi_rcu_read_lock();
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

	if (!page)
		return -EINVAL;
	si = swap_entry_begin(ctx, entry);
	if (!si)
		return -EINVAL;
	cpu = swap_cpu();
	for (;;) {
		err = swi_slot_claim(si, off);
		if (likely(!err)) {
			err = io_through_cache(ctx, si, entry, NULL, page, cpu);
			swi_slot_drop_claim(si, off, cpu);
			break;
		}
		if (err != -EEXIST)
			break;
		/* Someone holds the claim: their page is in the cache, or about to be. */
		err = swap_in_from_cache(ctx, &si, entry, page, cpu);
		if (err != -EAGAIN || !si)
			break;
		/* Claimed but not in the cache yet: wait outside the RCU read section. */
		swi_rcu_read_unlock();
		if (++spins > SWAP_SPIN_BEFORE_YIELD)
			sched_yield();
		else
			cpu_relax();
		swi_rcu_read_lock();
		si = swap_info_get(ctx, entry);
		if (!si) {
			err = -EINVAL;
			break;
		}
	}
	if (si) {
		if (!err)
			swap_stat_add(si, cpu, ST_SWAP_INS, 1);
		swi_debug_check_slot(si, off);
	}
	swi_rcu_read_unlock();
	return err;
}

/* Enter a lower-layer call on a claimed slot: the area with the section open, or NULL. */
static struct swap_info *claimed_begin(struct swap_ctx *ctx, swp_entry_t entry, const void *page,
				       int *err)
{
	struct swap_info *si;

	*err = -EINVAL;
	if (!page)
		return NULL;
	si = swap_entry_begin(ctx, entry);
	if (!si)
		return NULL;
	*err = swi_slot_check_claimed(si, swp_offset(entry));
	if (*err) {
		swi_rcu_read_unlock();
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
	err = swi_backend_write(si, swp_offset(entry), page, swap_cpu());
	swi_rcu_read_unlock();
	return err;
}

SWAP_API int swap_readpage(struct swap_ctx *ctx, swp_entry_t entry, void *page)
{
	int err;
	struct swap_info *si = claimed_begin(ctx, entry, page, &err);

	if (!si)
		return err;
	err = swi_backend_read(si, swp_offset(entry), page, swap_cpu());
	swi_rcu_read_unlock();
	return err;
}

SWAP_API int swap_cache_prepare(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	int err;

	if (!si)
		return -EINVAL;
	err = swi_slot_claim(si, swp_offset(entry));
	swi_debug_check_slot(si, swp_offset(entry));
	swi_rcu_read_unlock();
	return err;
}

SWAP_API int swap_cache_add(struct swap_ctx *ctx, swp_entry_t entry, const void *page,
			    unsigned flags)
{
	struct swap_cache_page *p;
	struct swap_info *si;
	uint64_t off = swp_offset(entry);
	unsigned cpu;
	int err;

	if (flags & ~SWAP_CACHE_LOCKED)
		return -EINVAL;
	si = claimed_begin(ctx, entry, page, &err);
	if (!si)
		return err;
	cpu = swap_cpu();
	p = swi_cache_page_alloc(&ctx->cache_pages, cpu, entry.val, page,
				 (flags & SWAP_CACHE_LOCKED) ? SCP_LOCKED : 0);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	err = swi_cache_insert(&si->cache, off, p);
	if (err)
		swi_cache_page_retire(&ctx->cache_pages, cpu, NULL, off, p);
	else
		swap_stat_add(si, cpu, ST_CACHE_PAGES, 1);
out:
	swi_rcu_read_unlock();
	return err;
}

SWAP_API int swap_cache_unlock(struct swap_ctx *ctx, swp_entry_t entry, int error)
{
	struct swap_cache_page *p;
	struct swap_info *si;
	int err = 0;

	if (error > 0)
		return -EINVAL;
	si = swap_entry_begin(ctx, entry);
	if (!si)
		return -EINVAL;
	p = swi_cache_peek(&si->cache, swp_offset(entry));
	if (!p)
		err = -ENOENT;
	else if (!(zs_load_relaxed(&p->state) & SCP_LOCKED))
		err = -EINVAL;
	else
		swi_cache_page_unlock(p, error);
	swi_rcu_read_unlock();
	return err;
}

SWAP_API struct swap_cache_page *swap_cache_lookup(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	struct swap_cache_page *p;
	int err;

	if (!si) {
		errno = EINVAL;
		return NULL;
	}
	p = swi_cache_get(&si->cache, swp_offset(entry), entry.val);
	swi_rcu_read_unlock();
	/* The reference keeps the page; no read section is needed to wait. */
	if (!p) {
		errno = ENOENT;
		return NULL;
	}
	err = swi_cache_page_wait(p);
	if (err) {
		swi_cache_page_put(p);
		errno = -err;
		return NULL;
	}
	return p;
}

SWAP_API const void *swap_cache_page_data(const struct swap_cache_page *cpage)
{
	return cpage ? cpage->data : NULL;
}

SWAP_API void swap_cache_put(struct swap_ctx *ctx, struct swap_cache_page *cpage)
{
	(void)ctx;
	if (cpage)
		swi_cache_page_put(cpage);
}

SWAP_API int swap_cache_delete(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_cache_page *p;
	struct swap_info *si = swap_entry_begin(ctx, entry);
	uint64_t off = swp_offset(entry);
	unsigned cpu;
	int err;

	if (!si)
		return -EINVAL;
	err = swi_slot_check_claimed(si, off);
	if (err)
		goto out;
	cpu = swap_cpu();
	p = swi_cache_peek(&si->cache, off);
	if (p) {
		if (zs_load_relaxed(&p->state) & SCP_LOCKED)
			swi_cache_page_unlock(p, -EIO);
		swi_cache_page_retire(&ctx->cache_pages, cpu, &si->cache, off, p);
		swap_stat_add(si, cpu, ST_CACHE_PAGES, -1);
	}
	swi_slot_drop_claim(si, off, cpu);
	swi_debug_check_slot(si, off);
out:
	swi_rcu_read_unlock();
	return err;
}
