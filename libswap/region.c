/*
 * Regions (include/zs/region.h): creating and destroying them, the public calls, and the
 * context's list of regions with the swap_off hook that brings their pages back out of an area.
 *
 * swap_region_create() opens two userfaultfds by the first way the process may (region_os.c):
 * one for the region, one for its swap cache's staging slots (UFFDIO_MOVE needs its destination
 * registered; that mapping must not send the region's remove events, which would make our own
 * zaps of it wait for a handler, and its faults are never served: with UFFD_FEATURE_SIGBUS a
 * stray read of an empty slot is SIGBUS rather than a thread waiting for ever).  It maps both,
 * registers them, sizes the budget, and starts the handlers (region_fault.c) and the reclaim
 * thread (region_reclaim.c).
 *
 * Budget arithmetic, in pages (resident_max R):
 *   limit         R + R/64 + 4 per handler: what a fault may charge before reclaiming directly;
 *                 the slack covers faults racing to charge and keeps direct reclaim rare
 *   cache_target  R/16, between 4 and 8192 (32 MiB): the swap cache's share of the budget, the
 *                 window in which a touch of an evicted page is a cheap minor fault
 *   nr_slots      cache_target + 2 batches: room to evict a batch with the cache at its target
 *
 * This file may not read userfaultfd messages or choose reclaim victims.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "region_hook.h"
#include "region_internal.h"

#define DEFAULT_HANDLERS 2
#define CACHE_TARGET_MIN 4
#define CACHE_TARGET_MAX 8192
/* EAGAIN from the kernel while the program changes its mappings lasts microseconds; a prefault
 * gives up after this many naps of 100 us. */
#define PREFAULT_RETRIES 10000

static __thread char errmsg[512];

SWAP_API const char *swap_region_errmsg(void)
{
	return errmsg;
}

static void *fail_null(int err)
{
	errno = err;
	return NULL;
}

/* ---- creation and destruction ---------------------------------------------------------- */

static int check_opts(const struct swap_region_opts *o)
{
	const size_t pg = SWAP_PAGE_SIZE;

	if (!o->size || o->size % pg || o->size / pg >= UINT32_MAX)
		return -EINVAL;
	if (o->resident_max < SWAP_REGION_MIN_RESIDENT || o->resident_max % pg)
		return -EINVAL;
	if (o->resident_min > o->resident_max || o->resident_min % pg)
		return -EINVAL;
	if (o->flags & ~(SWAP_REGION_USER_MODE_ONLY | SWAP_REGION_NO_WRITE_TRACKING |
			 SWAP_REGION_NO_RECLAIM_THREAD))
		return -EINVAL;
	if (o->nr_handlers > SWAP_REGION_MAX_HANDLERS)
		return -EINVAL;
	return 0;
}

static void size_budget(struct swap_region *r, const struct swap_region_opts *o)
{
	uint64_t max = o->resident_max / SWAP_PAGE_SIZE;

	r->resident_max = max;
	r->resident_min = o->resident_min ? o->resident_min / SWAP_PAGE_SIZE : max - max / 8;
	r->limit = max + max / 64 + 4 * r->nr_handlers;
	r->cache_target = max / 16;
	if (r->cache_target < CACHE_TARGET_MIN)
		r->cache_target = CACHE_TARGET_MIN;
	if (r->cache_target > CACHE_TARGET_MAX)
		r->cache_target = CACHE_TARGET_MAX;
	r->nr_slots = (uint32_t)r->cache_target + 2 * REGION_BATCH;
	r->trash_slot = r->nr_slots;
}

/* Free every swap entry the region's pages hold. */
static void free_entries(struct swap_region *r)
{
	for (size_t i = 0; i < r->nr_pages; i++) {
		struct region_page *p = &r->pages[i];
		uint32_t st = zs_load_relaxed(&p->state);

		if (page_kind(st) == PK_SWAPPED || (st & PG_SWAPCOPY))
			swap_free(r->ctx, p->entry);
	}
}

/* munmap the runs of the region the program has not unmapped itself. */
static void unmap_region(struct swap_region *r)
{
	size_t i = 0;

	while (i < r->nr_pages) {
		size_t j;

		if (page_kind(zs_load_relaxed(&r->pages[i].state)) == PK_UNMAPPED) {
			i++;
			continue;
		}
		for (j = i + 1; j < r->nr_pages &&
				page_kind(zs_load_relaxed(&r->pages[j].state)) != PK_UNMAPPED;
		     j++)
			;
		swi_unmap_pages(r->base + i * SWAP_PAGE_SIZE, (j - i) * SWAP_PAGE_SIZE);
		i = j;
	}
}

/* ZS_DEBUG: with every thread stopped, the counters must match the pages' kinds, every cached
 * page must own its slot, and no page may be left locked. */
static void check_quiescent(struct swap_region *r)
{
#if defined(ZS_DEBUG) && ZS_DEBUG
	uint64_t kinds[8] = {0};

	for (size_t i = 0; i < r->nr_pages; i++) {
		uint32_t st = zs_load_relaxed(&r->pages[i].state);
		kinds[page_kind(st)]++;
		region_assert(!(st & PG_LOCKED));
		if (page_kind(st) == PK_CACHED)
			region_assert(r->slot_state[r->pages[i].slot] == SLOT_USED &&
				      r->slot_owner[r->pages[i].slot] == i);
	}
	region_assert(kinds[PK_RESIDENT] == zs_load_relaxed(&r->nr_resident));
	region_assert(kinds[PK_CACHED] == zs_load_relaxed(&r->nr_cached));
	region_assert(kinds[PK_SWAPPED] == zs_load_relaxed(&r->nr_swapped));
	region_assert(kinds[PK_RESIDENT] + kinds[PK_CACHED] == zs_load_relaxed(&r->nr_charged));
	region_assert(r->active.nr + r->inactive.nr == kinds[PK_RESIDENT]);
#else
	(void)r;
#endif
}

/* Tear down what swap_region_create() built, in reverse; safe on a partly built region. */
static void region_free(struct swap_region *r)
{
	size_t staging_len = ((size_t)r->nr_slots + 1) * SWAP_PAGE_SIZE;

	if (r->handlers) {
		swi_region_stop_kswapd(r);
		swi_region_stop_handlers(r);
		if (r->slot_state)
			check_quiescent(r);
	}
	/* Unregister first: closing is not enough while a forked child still holds a copy of the
	 * fd, and a registered range would make munmap wait for an unmap event nobody reads.
	 * Unregistering also wakes any thread still waiting in a fault. */
	if (r->base && r->uffd >= 0)
		swi_uffd_unregister(r->uffd, r->base, r->nr_pages * SWAP_PAGE_SIZE);
	if (r->staging && r->staging_uffd >= 0)
		swi_uffd_unregister(r->staging_uffd, r->staging, staging_len);
	swi_close(r->uffd);
	swi_close(r->staging_uffd);
	swi_close(r->pagemap_fd);
	swi_close(r->stop_fd);
	if (r->base)
		unmap_region(r);
	if (r->staging)
		swi_unmap_pages(r->staging, staging_len);
	if (r->pages)
		free_entries(r);
	if (r->slot_state)
		swi_region_reclaim_fini(r);
	pthread_mutex_destroy(&r->trash_lock);
	pthread_mutex_destroy(&r->read_lock);
	free(r->handlers);
	free(r->pages);
	free(r->zero_page);
	free(r);
}

/* Open the region's userfaultfd and check the kernel has what regions need. */
static int open_uffds(struct swap_region *r, unsigned flags)
{
	const uint64_t need = UFFD_FEAT_EVENT_REMOVE | UFFD_FEAT_EVENT_UNMAP;
	uint64_t have = 0, want, got;
	enum uffd_how how;
	int fd, err;

	fd = swi_uffd_open(flags & SWAP_REGION_USER_MODE_ONLY, &how, errmsg, sizeof(errmsg));
	if (fd < 0)
		return fd;
	r->uffd = fd;
	err = swi_uffd_features(how, &have);
	if (err)
		return err;
	if (!(have & UFFD_FEAT_MOVE) || (have & need) != need) {
		snprintf(errmsg, sizeof(errmsg),
			 "userfaultfd lacks %s: regions need Linux 6.8 or later",
			 (have & UFFD_FEAT_MOVE) ? "remove and unmap events" : "UFFDIO_MOVE");
		return -ENOSYS;
	}
	want = need | UFFD_FEAT_EVENT_REMAP | UFFD_FEAT_MOVE | (have & UFFD_FEAT_POISON);
	if (!(flags & SWAP_REGION_NO_WRITE_TRACKING))
		want |= have & UFFD_FEAT_WP_ASYNC;
	err = swi_uffd_api(r->uffd, want & have, &got);
	if (err)
		return err;
	if (have & UFFD_FEAT_POISON)
		r->features |= SWAP_REGION_F_POISON;
	if (how != UFFD_HOW_USER_MODE)
		r->features |= SWAP_REGION_F_KERNEL_FAULTS;
	if (how == UFFD_HOW_DEV)
		r->features |= SWAP_REGION_F_DEV_USERFAULTFD;
	if (want & UFFD_FEAT_WP_ASYNC)
		r->features |= SWAP_REGION_F_WRITE_TRACKING;

	fd = swi_uffd_open_as(how);
	if (fd < 0)
		return fd;
	r->staging_uffd = fd;
	/* Nobody reads the swap cache's faults: the library only reads slots that hold a page.
	 * Should a bug read an empty one, SIGBUS says so at once instead of a silent hang. */
	return swi_uffd_api(r->staging_uffd, UFFD_FEAT_MOVE | (have & UFFD_FEAT_SIGBUS), NULL);
}

/* Map and register the region and its staging slots; set up write tracking if it works. */
static int map_region(struct swap_region *r)
{
	size_t len = r->nr_pages * SWAP_PAGE_SIZE;
	size_t staging_len = ((size_t)r->nr_slots + 1) * SWAP_PAGE_SIZE;
	bool wp = r->features & SWAP_REGION_F_WRITE_TRACKING;
	int err;

	r->base = swi_map_pages(len, "swap_region");
	r->staging = swi_map_pages(staging_len, "swap_region_cache");
	if (!r->base || !r->staging)
		return -ENOMEM;
	err = swi_uffd_register(r->uffd, r->base, len, wp);
	if (err)
		return err;
	err = swi_uffd_register(r->staging_uffd, r->staging, staging_len, false);
	if (err)
		return err;
	if (wp) {
		int fd = swi_pagemap_open(r->base, len);
		if (fd >= 0) {
			r->pagemap_fd = fd;
		} else {
			/* /proc/self/pagemap unreadable (a process made non-dumpable by setuid,
			 * no procfs): without scans the write-protection would only cost faults. */
			r->features &= ~SWAP_REGION_F_WRITE_TRACKING;
			swi_uffd_unregister(r->uffd, r->base, len);
			err = swi_uffd_register(r->uffd, r->base, len, false);
			if (err)
				return err;
		}
	}
	return 0;
}

static int region_init(struct swap_region *r, struct swap_ctx *ctx,
		       const struct swap_region_opts *o)
{
	int err;

	r->ctx = ctx;
	r->flags = o->flags;
	r->nr_pages = o->size / SWAP_PAGE_SIZE;
	r->nr_handlers = o->nr_handlers ? o->nr_handlers : DEFAULT_HANDLERS;
	size_budget(r, o);
	r->pages = calloc(r->nr_pages, sizeof(*r->pages));
	r->handlers = calloc(r->nr_handlers, sizeof(*r->handlers));
	r->zero_page = aligned_alloc(SWAP_PAGE_SIZE, SWAP_PAGE_SIZE);
	if (!r->pages || !r->handlers || !r->zero_page)
		return -ENOMEM;
	memset(r->zero_page, 0, SWAP_PAGE_SIZE);
	err = open_uffds(r, o->flags);
	if (!err)
		err = map_region(r);
	if (!err)
		err = swi_region_reclaim_init(r);
	if (err)
		return err;
	err = swi_eventfd();
	if (err < 0)
		return err;
	r->stop_fd = err;
	/* The reclaim thread first: the handlers may wake it from their first fault on. */
	if (!(o->flags & SWAP_REGION_NO_RECLAIM_THREAD)) {
		err = swi_region_start_kswapd(r);
		if (err)
			return err;
	}
	return swi_region_start_handlers(r);
}

SWAP_API struct swap_region *swap_region_create(struct swap_ctx *ctx,
						const struct swap_region_opts *o)
{
	struct swap_region *r;
	int err;

	errmsg[0] = 0;
	if (!ctx || !o || check_opts(o)) {
		snprintf(errmsg, sizeof(errmsg), "invalid argument (see swap_region_create())");
		return fail_null(EINVAL);
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return fail_null(ENOMEM);
	r->uffd = r->staging_uffd = r->pagemap_fd = r->stop_fd = -1;
	pthread_mutex_init(&r->trash_lock, NULL);
	pthread_mutex_init(&r->read_lock, NULL);
	err = region_init(r, ctx, o);
	if (err) {
		if (!errmsg[0])
			snprintf(errmsg, sizeof(errmsg), "swap_region_create: %s", strerror(-err));
		region_free(r);
		return fail_null(-err);
	}
	pthread_mutex_lock(swi_ctx_region_lock(ctx));
	r->ctx_next = *swi_ctx_regions(ctx);
	*swi_ctx_regions(ctx) = r;
	/* From now on swap_off asks the regions to bring their pages back (region_hook.h). */
	zs_store_release(&ctx->unuse, swi_region_unuse);
	pthread_mutex_unlock(swi_ctx_region_lock(ctx));
	return r;
}

SWAP_API int swap_region_destroy(struct swap_region *r)
{
	struct swap_region **pp;

	if (!r)
		return -EINVAL;
	pthread_mutex_lock(swi_ctx_region_lock(r->ctx));
	for (pp = swi_ctx_regions(r->ctx); *pp; pp = &(*pp)->ctx_next) {
		if (*pp == r) {
			*pp = r->ctx_next;
			break;
		}
	}
	pthread_mutex_unlock(swi_ctx_region_lock(r->ctx));
	region_free(r);
	return 0;
}

SWAP_API void *swap_region_addr(struct swap_region *r)
{
	if (!r)
		return fail_null(EINVAL);
	return r->base;
}

/* ---- proactive reclaim, prefault, statistics ------------------------------------------ */

SWAP_API long swap_region_reclaim(struct swap_region *r, size_t bytes)
{
	uint64_t pages, freed;

	if (!r)
		return -EINVAL;
	pages = bytes == SIZE_MAX ? UINT64_MAX : (bytes + SWAP_PAGE_SIZE - 1) / SWAP_PAGE_SIZE;
	freed = swi_region_shrink(r, pages, false);
	if (freed > (uint64_t)LONG_MAX / SWAP_PAGE_SIZE)
		freed = (uint64_t)LONG_MAX / SWAP_PAGE_SIZE;
	return (long)(freed * SWAP_PAGE_SIZE);
}

/* Make locked page @idx resident for a prefault; 0, -EAGAIN, -EIO, -EINVAL (unmapped). */
static int prefault_page(struct swap_region *r, size_t idx, uint32_t st, void *buf)
{
	bool major;
	int err;

	switch (page_kind(st)) {
	case PK_RESIDENT:
		break;
	case PK_UNMAPPED:
		return -EINVAL;
	case PK_POISONED:
		return -EIO;
	default:
		err = swi_region_fault_in(r, idx, st, false, buf, &major);
		if (err)
			return err;
	}
	zs_fetch_or_relaxed(&r->pages[idx].state, PG_REFERENCED);
	swi_lru_touch(r, idx);
	return 0;
}

SWAP_API int swap_region_prefault(struct swap_region *r, void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, lo, hi;
	size_t first, last;
	void *buf;
	int ret = 0;

	if (!r)
		return -EINVAL;
	if (!len)
		return 0;
	lo = (uintptr_t)r->base;
	hi = lo + r->nr_pages * SWAP_PAGE_SIZE;
	if (a < lo || a >= hi || len > hi - a)
		return -EINVAL;
	first = region_index(r, a);
	last = region_index(r, a + len - 1);
	if (last - first + 1 > r->resident_min)
		return -E2BIG;
	buf = aligned_alloc(SWAP_PAGE_SIZE, SWAP_PAGE_SIZE);
	if (!buf)
		return -ENOMEM;
	for (size_t idx = first; idx <= last; idx++) {
		int err = -EAGAIN;

		for (unsigned tries = 0; err == -EAGAIN && tries < PREFAULT_RETRIES; tries++) {
			uint32_t st = swi_page_resolve(r, idx, swi_page_lock_wait(r, idx));
			err = prefault_page(r, idx, st, buf);
			swi_page_unlock(r, idx);
			if (err == -EAGAIN)
				usleep(100);
		}
		if (err && !ret)
			ret = err;
	}
	free(buf);
	return ret;
}

SWAP_API int swap_region_stats(struct swap_region *r, struct swap_region_stats *st)
{
	struct region_hist *all[2 * SWAP_REGION_MAX_HANDLERS], *major[SWAP_REGION_MAX_HANDLERS],
	    *minor[SWAP_REGION_MAX_HANDLERS];

	if (!r || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->size_pages = r->nr_pages;
	st->resident_pages = zs_load_relaxed(&r->nr_resident);
	st->cached_pages = zs_load_relaxed(&r->nr_cached);
	st->swapped_pages = zs_load_relaxed(&r->nr_swapped);
	st->resident_max_pages = r->resident_max;
	st->resident_min_pages = r->resident_min;
	st->limit_pages = r->limit;
	st->faults.major = zs_load_relaxed(&r->stat.major);
	st->faults.minor = zs_load_relaxed(&r->stat.minor);
	st->reclaimed_pages = zs_load_relaxed(&r->stat.reclaimed);
	st->clean_reclaims = zs_load_relaxed(&r->stat.clean);
	st->refaults = zs_load_relaxed(&r->stat.refaults);
	st->direct_reclaims = zs_load_relaxed(&r->stat.direct);
	st->reclaim_cpu_ns = zs_load_relaxed(&r->stat.reclaim_ns);
	st->io_errors = zs_load_relaxed(&r->stat.io_errors);
	st->features = r->features;
	for (unsigned i = 0; i < r->nr_handlers; i++) {
		major[i] = all[2 * i] = &r->handlers[i].major;
		minor[i] = all[2 * i + 1] = &r->handlers[i].minor;
	}
	swi_hist_summary(all, 2 * r->nr_handlers, &st->fault_latency);
	swi_hist_summary(major, r->nr_handlers, &st->major_latency);
	swi_hist_summary(minor, r->nr_handlers, &st->minor_latency);
	return 0;
}

/* ---- the swap_off hook (region_hook.h) ------------------------------------------------- */

bool swi_region_any(struct swap_ctx *ctx)
{
	bool any;

	pthread_mutex_lock(swi_ctx_region_lock(ctx));
	any = *swi_ctx_regions(ctx) != NULL;
	pthread_mutex_unlock(swi_ctx_region_lock(ctx));
	return any;
}

static bool holds_entry_in(uint32_t st, const struct region_page *p, int type)
{
	return (page_kind(st) == PK_SWAPPED || (st & PG_SWAPCOPY)) &&
	       (int)swp_type(p->entry) == type;
}

/* Locked page @idx holds a page of area @type: move it out of the area. */
static void unuse_page(struct swap_region *r, size_t idx, uint32_t st, void *buf)
{
	struct region_page *p = &r->pages[idx];
	swp_entry_t old = p->entry, e;

	if (page_kind(st) != PK_SWAPPED) {
		/* A swap copy of a page in RAM: only an optimisation, drop it. */
		swap_free(r->ctx, old);
		p->entry.val = 0;
		page_set(p, page_kind(st), 0, PG_SWAPCOPY);
		return;
	}
	if (swap_in(r->ctx, old, buf)) {
		bool major;
		/* Unreadable: the page is lost, as a fault would find it. */
		(void)swi_region_fault_in(r, idx, st, false, buf, &major);
		return;
	}
	e = swap_out(r->ctx, buf);
	if (e.val) {
		p->entry = e;
		swap_free(r->ctx, old);
		return;
	}
	/* No other area has room: back into the region, over its budget if need be, and with no
	 * swap copy left behind in the area going away. */
	for (unsigned tries = 0; tries < PREFAULT_RETRIES; tries++) {
		bool major;
		int err = swi_region_fault_in(r, idx, st, false, buf, &major);
		if (err != -EAGAIN)
			break;
		usleep(100);
	}
	st = zs_load_relaxed(&p->state);
	if (st & PG_SWAPCOPY) {
		swap_free(r->ctx, p->entry);
		p->entry.val = 0;
		page_set(p, page_kind(st), 0, PG_SWAPCOPY);
	}
}

static void region_unuse(struct swap_region *r, int type, void *buf)
{
	for (size_t idx = 0; idx < r->nr_pages; idx++) {
		struct region_page *p = &r->pages[idx];
		uint32_t st = zs_load_relaxed(&p->state);

		/* A quick look first: most pages are resident or hold another area's entry.  A
		 * page in transit is looked at under its lock, once its holder is done. */
		if (!(st & PG_LOCKED) && !(page_kind(st) == PK_SWAPPED || (st & PG_SWAPCOPY)))
			continue;
		st = swi_page_resolve(r, idx, swi_page_lock_wait(r, idx));
		if (holds_entry_in(st, p, type))
			unuse_page(r, idx, st, buf);
		swi_page_unlock(r, idx);
	}
}

void swi_region_unuse(struct swap_ctx *ctx, int type)
{
	void *buf = aligned_alloc(SWAP_PAGE_SIZE, SWAP_PAGE_SIZE);

	if (!buf)
		return; /* the area stays busy; swap_off answers -EBUSY */
	pthread_mutex_lock(swi_ctx_region_lock(ctx));
	for (struct swap_region *r = *swi_ctx_regions(ctx); r; r = r->ctx_next)
		region_unuse(r, type, buf);
	pthread_mutex_unlock(swi_ctx_region_lock(ctx));
	free(buf);
}
