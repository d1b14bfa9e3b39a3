/*
 * Regions' reclaim: the LRU lists, the swap cache's staging slots, the budget, and the reclaim
 * thread (kswapd's role), after the seeds' reclaim chapters.
 *
 * Resident pages sit on two lists, as the kernel's anonymous pages do: new pages (a first touch, a
 * swap-in that is not a recent refault) enter the inactive list, pages that proved they are in use
 * (touched in the swap cache, a recent refault, written since the last scan) the active one.
 * Reclaim keeps the inactive list at least as long as the active one by moving the active tail
 * over, then takes victims from the inactive tail: a page with PG_REFERENCED gets a second chance
 * (to the active head), the others are evicted.  A region has no accessed bit to read (the kernel
 * gives userspace none), so references show only as faults and, with write tracking, as writes:
 * PAGEMAP_SCAN reports the pages written since the last scan and write-protects them again.
 *
 * Eviction moves the page out of the region with UFFDIO_MOVE into a free staging slot: atomic, so
 * a write lands before the move or faults after it and finds the page in the cache.  The page
 * waits there uncompressed (the swap cache); a fault on it moves it straight back (a minor
 * fault) and promotes it.  Writeback takes the oldest cached pages in ring order: a clean page
 * (its swap copy still valid: not written since its swap-in by PAGEMAP_SCAN's account, and the
 * contents' hash unchanged) is just dropped; the others are compressed with swap_out().  A zero
 * page found at eviction is dropped at once.  Each compressed page gets a stamp of the
 * nonresident clock (pages compressed so far); a major fault compares it with the clock to get
 * the refault distance of mm/workingset.c.
 *
 * Budget: nr_charged counts the pages holding RAM (resident + cached).  Passing resident_max wakes
 * the reclaim thread, which reclaims down to resident_min; passing the limit (resident_max plus
 * slack) makes the fault reclaim directly before installing its page.
 *
 * This file may not read userfaultfd messages or install pages: region_fault.c does.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "region_internal.h"

/* Write tracking: scan again once this share of the resident pages has been evicted since the
 * last scan (a scan costs about 8 ns per page; evicting a quarter of the set costs far more). */
#define SCAN_EVERY_SHIFT 2
/* The reclaim thread naps this long when a round freed nothing (no swap space left, every page
 * locked), instead of being woken by every fault. */
#define KSWAPD_BACKOFF_NS 10000000
/* Swapped-in pages keep their swap copy while the areas are at most this full, as the kernel
 * frees swap at swap-in once vm_swap_full() (half full). */
#define KEEP_COPIES_MAX_PERCENT 50

/* ---- lists (lru_lock held) ---------------------------------------------------------------- */

static inline struct region_list *lru_list(struct swap_region *r, uint8_t lru)
{
	return lru == LRU_ACTIVE ? &r->active : &r->inactive;
}

static void list_unlink(struct swap_region *r, size_t idx)
{
	struct region_page *p = &r->pages[idx];
	struct region_list *l = lru_list(r, p->lru);

	if (p->lru_prev != REGION_NIL)
		r->pages[p->lru_prev].lru_next = p->lru_next;
	else
		l->head = p->lru_next;
	if (p->lru_next != REGION_NIL)
		r->pages[p->lru_next].lru_prev = p->lru_prev;
	else
		l->tail = p->lru_prev;
	l->nr--;
	p->lru = LRU_NONE;
}

static void list_add_head(struct swap_region *r, size_t idx, uint8_t lru)
{
	struct region_page *p = &r->pages[idx];
	struct region_list *l = lru_list(r, lru);

	p->lru = lru;
	p->lru_prev = REGION_NIL;
	p->lru_next = l->head;
	if (l->head != REGION_NIL)
		r->pages[l->head].lru_prev = (uint32_t)idx;
	else
		l->tail = (uint32_t)idx;
	l->head = (uint32_t)idx;
	l->nr++;
}

void swi_lru_add(struct swap_region *r, size_t idx, bool active)
{
	pthread_mutex_lock(&r->lru_lock);
	if (r->pages[idx].lru != LRU_NONE)
		list_unlink(r, idx);
	list_add_head(r, idx, active ? LRU_ACTIVE : LRU_INACTIVE);
	pthread_mutex_unlock(&r->lru_lock);
}

void swi_lru_del(struct swap_region *r, size_t idx)
{
	pthread_mutex_lock(&r->lru_lock);
	if (r->pages[idx].lru != LRU_NONE)
		list_unlink(r, idx);
	pthread_mutex_unlock(&r->lru_lock);
}

void swi_lru_touch(struct swap_region *r, size_t idx)
{
	swi_lru_add(r, idx, true);
}

/* Keep the inactive list at least as long as the active one (the kernel's inactive_ratio for
 * small memories): move pages from the active tail to the inactive head. */
static void balance_lists(struct swap_region *r, unsigned max)
{
	while (max-- && r->active.nr > r->inactive.nr && r->active.tail != REGION_NIL) {
		size_t idx = r->active.tail;
		list_unlink(r, idx);
		list_add_head(r, idx, LRU_INACTIVE);
	}
}

/* ---- staging slots --------------------------------------------------------------------- */

/* A free slot for an eviction, marked busy; false if the ring is full (lru_lock held). */
static bool slot_alloc(struct swap_region *r, uint32_t *slot)
{
	for (uint32_t n = 0; n < r->nr_slots; n++) {
		uint32_t s = r->slot_head;

		r->slot_head = (s + 1) % r->nr_slots;
		if (r->slot_state[s] == SLOT_FREE) {
			r->slot_state[s] = SLOT_BUSY;
			*slot = s;
			return true;
		}
	}
	return false;
}

static void slots_set(struct swap_region *r, const uint32_t *slots, unsigned n, uint8_t state)
{
	pthread_mutex_lock(&r->lru_lock);
	for (unsigned i = 0; i < n; i++)
		r->slot_state[slots[i]] = state;
	pthread_mutex_unlock(&r->lru_lock);
}

void swi_slot_release(struct swap_region *r, uint32_t slot)
{
	slots_set(r, &slot, 1, SLOT_FREE);
}

void swi_slot_discard(struct swap_region *r, uint32_t slot)
{
	/* A slot is reused by UFFDIO_MOVE, which needs its page table entry empty. */
	swi_zap_pages(staging_slot_addr(r, slot), SWAP_PAGE_SIZE);
	swi_slot_release(r, slot);
}

/* Zap the pages of @slots (sorted by the caller's order), one madvise per run of neighbours. */
static void slots_zap(struct swap_region *r, const uint32_t *slots, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		unsigned j = i + 1;
		while (j < n && slots[j] == slots[j - 1] + 1)
			j++;
		swi_zap_pages(staging_slot_addr(r, slots[i]), (size_t)(j - i) * SWAP_PAGE_SIZE);
		i = j;
	}
}

/* ---- the budget ------------------------------------------------------------------------ */

static void wake_kswapd(struct swap_region *r)
{
	if (!r->kswapd_started || zs_load_relaxed(&r->kswapd_running))
		return;
	pthread_mutex_lock(&r->kswapd_lock);
	if (!r->kswapd_wanted) {
		r->kswapd_wanted = true;
		pthread_cond_signal(&r->kswapd_wait);
	}
	pthread_mutex_unlock(&r->kswapd_lock);
}

void swi_region_charge(struct swap_region *r)
{
	uint64_t usage = zs_fetch_add_relaxed(&r->nr_charged, 1) + 1;

	if (usage > r->resident_max)
		wake_kswapd(r);
	if (usage > r->limit) {
		region_stat_inc(&r->stat.direct, 1);
		/* Reclaim until the region is back within its limit.  A round that frees nothing
		 * found the pages it wanted in someone else's hands (the reclaim thread's eviction
		 * or writeback, another fault): let them finish, a bounded number of times. */
		uint64_t give_up = 0;

		for (unsigned tries = 0; zs_load_relaxed(&r->nr_charged) > r->limit;) {
			if (swi_region_shrink(r, REGION_DIRECT_BATCH, true))
				continue;
			if (++tries <= REGION_DIRECT_YIELDS) {
				sched_yield();
				continue;
			}
			if (!zs_load_relaxed(&r->nr_shrinking))
				break;
			if (!give_up)
				give_up = swi_now_ns() + REGION_DIRECT_WAIT_NS;
			else if (tries >= REGION_DIRECT_TRIES && swi_now_ns() >= give_up)
				break;
			nanosleep(&(struct timespec){0, REGION_DIRECT_NAP_NS}, NULL);
		}
	}
}

void swi_region_uncharge(struct swap_region *r)
{
	region_count_dec(&r->nr_charged);
}

static void update_keep_copies(struct swap_region *r)
{
	struct swap_area_stats st;
	bool keep = swap_ctx_stats(r->ctx, &st) > 0 &&
		    st.inuse_pages * 100 <= st.usable_pages * KEEP_COPIES_MAX_PERCENT;

	zs_store_relaxed(&r->keep_copies, keep);
}

bool swi_region_refault_recent(struct swap_region *r, uint32_t evict_age)
{
	uint32_t distance = zs_load_relaxed(&r->nonres_age) - evict_age;
	/* The page would still be in RAM had the active list given it that many pages: it is part
	 * of the working set (mm/workingset.c compares with the workingset size likewise). */
	uint64_t workingset = zs_load_relaxed(&r->active.nr) + zs_load_relaxed(&r->nr_cached);

	if (distance > workingset)
		return false;
	region_stat_inc(&r->stat.refaults, 1);
	return true;
}

/* ---- write tracking ------------------------------------------------------------------- */

static void mark_written(void *arg, uintptr_t first, uintptr_t last)
{
	struct swap_region *r = arg;

	for (uintptr_t a = first; a < last; a += SWAP_PAGE_SIZE) {
		struct region_page *p = &r->pages[region_index(r, a)];
		zs_fetch_or_relaxed(&p->state, PG_REFERENCED | PG_DIRTY);
	}
}

void swi_region_scan_written(struct swap_region *r)
{
	if (r->pagemap_fd < 0 || pthread_mutex_trylock(&r->scan_lock))
		return;
	zs_store_relaxed(&r->evicted_since_scan, 0);
	(void)swi_pagemap_scan_written(r->pagemap_fd, (uintptr_t)r->base,
				       (uintptr_t)r->base + r->nr_pages * SWAP_PAGE_SIZE,
				       mark_written, r);
	pthread_mutex_unlock(&r->scan_lock);
}

static void maybe_scan(struct swap_region *r)
{
	uint64_t resident = zs_load_relaxed(&r->nr_resident);
	uint64_t due = resident >> SCAN_EVERY_SHIFT;

	if (due < REGION_BATCH)
		due = REGION_BATCH;
	if (r->pagemap_fd >= 0 && zs_load_relaxed(&r->evicted_since_scan) >= due)
		swi_region_scan_written(r);
}

/* ---- eviction: resident -> swap cache ------------------------------------------------- */

struct victim {
	uint32_t idx, slot, st;
};

static bool page_is_zero(const void *page)
{
	const uint64_t *w = page;

	for (unsigned i = 0; i < SWAP_PAGE_SIZE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Pick up to @max victims from the inactive tail, locked and off the lists, each with a slot.
 * *@refused: a page locked but left (no slot for it), to unlock once lru_lock is dropped.
 * *@scanned: the pages looked at, victims or given a second chance. */
static unsigned pick_victims(struct swap_region *r, struct victim *v, unsigned max,
			     uint32_t *refused, unsigned *scanned_out)
{
	unsigned n = 0, scanned = 0;

	*refused = REGION_NIL;
	pthread_mutex_lock(&r->lru_lock);
	balance_lists(r, 2 * REGION_BATCH);
	while (n < max && scanned++ < 4 * REGION_BATCH) {
		size_t idx;
		struct region_page *p;
		uint32_t st, slot;

		if (r->inactive.tail == REGION_NIL)
			balance_lists(r, REGION_BATCH);
		if (r->inactive.tail == REGION_NIL)
			break;
		idx = r->inactive.tail;
		p = &r->pages[idx];
		st = zs_load_relaxed(&p->state);
		if (st & (PG_REMOVED | PG_GONE)) {
			/* Being discarded: the event's handler takes it off the lists. */
			list_unlink(r, idx);
			list_add_head(r, idx, LRU_INACTIVE);
			continue;
		}
		if (st & PG_REFERENCED) {
			/* Second chance: used since the last look. */
			zs_fetch_and_relaxed(&p->state, ~PG_REFERENCED);
			list_unlink(r, idx);
			list_add_head(r, idx, LRU_ACTIVE);
			continue;
		}
		st = page_trylock(p);
		if (st == UINT32_MAX) {
			list_unlink(r, idx);
			list_add_head(r, idx, LRU_INACTIVE);
			continue;
		}
		if (!slot_alloc(r, &slot)) {
			/* The cache is full: writeback must make room first. */
			*refused = (uint32_t)idx;
			break;
		}
		list_unlink(r, idx);
		v[n++] = (struct victim){(uint32_t)idx, slot, st};
	}
	pthread_mutex_unlock(&r->lru_lock);
	*scanned_out = scanned;
	return n;
}

/* Move victim @v out of the region into its slot: true if it now waits in the swap cache. */
static bool evict_one(struct swap_region *r, const struct victim *v)
{
	struct region_page *p = &r->pages[v->idx];
	char *slot = staging_slot_addr(r, v->slot);
	int err = swi_uffd_move(r->staging_uffd, (uintptr_t)slot, region_page_addr(r, v->idx));

	if (err == -ENOENT) {
		/* Not there: the program discarded or unmapped it and the event is on its way. */
		swi_slot_release(r, v->slot);
		swi_region_discard_locked(r, v->idx, v->st | PG_LOCKED, PK_NONE);
		return false;
	}
	if (err) {
		/* EAGAIN: the program is changing its mappings; EBUSY: the page is pinned or
		 * shared; EINVAL: mprotect or mlock changed its mapping.  It stays resident. */
		swi_slot_release(r, v->slot);
		swi_lru_add(r, v->idx, err != -EAGAIN);
		return false;
	}
	if (page_is_zero(slot)) {
		/* Nothing to keep: the page reads as zeros again from its next fault on. */
		swi_slot_discard(r, v->slot);
		swi_region_discard_locked(r, v->idx, v->st | PG_LOCKED, PK_NONE);
		region_stat_inc(&r->stat.reclaimed, 1);
		return false;
	}
	if (v->st & PG_SWAPCOPY) {
		uint32_t now = zs_load_relaxed(&p->state);
		/* Clean: not written since swapped in.  PAGEMAP_SCAN's answer may be a scan old,
		 * and a write between the scan and the move is seen by the hash alone. */
		if ((now & PG_DIRTY) || XXH3_64bits(slot, SWAP_PAGE_SIZE) != p->hash) {
			swap_free(r->ctx, p->entry);
			p->entry.val = 0;
			page_set(p, PK_RESIDENT, 0, PG_SWAPCOPY);
		}
	}
	p->slot = v->slot;
	pthread_mutex_lock(&r->lru_lock);
	r->slot_owner[v->slot] = v->idx;
	r->slot_state[v->slot] = SLOT_USED;
	pthread_mutex_unlock(&r->lru_lock);
	region_count_dec(&r->nr_resident);
	zs_fetch_add_relaxed(&r->nr_cached, 1);
	page_set(p, PK_CACHED, 0, PG_REFERENCED | PG_DIRTY);
	return true;
}

/* Evict up to @max pages into the swap cache: the pages moved; *@scanned as pick_victims. */
static unsigned evict(struct swap_region *r, unsigned max, unsigned *scanned)
{
	struct victim v[REGION_BATCH];
	unsigned n, moved = 0;
	uint32_t refused;

	if (max > REGION_BATCH)
		max = REGION_BATCH;
	maybe_scan(r);
	n = pick_victims(r, v, max, &refused, scanned);
	if (refused != REGION_NIL)
		swi_page_unlock(r, refused);
	for (unsigned i = 0; i < n; i++) {
		moved += evict_one(r, &v[i]);
		swi_page_unlock(r, v[i].idx);
	}
	zs_fetch_add_relaxed(&r->evicted_since_scan, n);
	return moved;
}

/* ---- writeback: swap cache -> swap area ----------------------------------------------- */

/* Claim up to @max of the oldest cached pages (locked, slots busy), in ring order. */
static unsigned claim_oldest(struct swap_region *r, struct victim *w, unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&r->lru_lock);
	for (uint32_t k = 0; k < r->nr_slots && n < max; k++) {
		uint32_t s = r->wb_cursor, st;

		/* Slots from the cursor up to the allocation head hold the pages in the order they
		 * were evicted; a slot skipped (its page was being faulted back) waits a lap. */
		if (k > 0 && s == r->slot_head)
			break;
		r->wb_cursor = (s + 1) % r->nr_slots;
		if (r->slot_state[s] != SLOT_USED ||
		    (zs_load_relaxed(&r->pages[r->slot_owner[s]].state) & (PG_REMOVED | PG_GONE)))
			continue;
		st = page_trylock(&r->pages[r->slot_owner[s]]);
		if (st == UINT32_MAX)
			continue;
		if (page_kind(st) != PK_CACHED || r->pages[r->slot_owner[s]].slot != s) {
			/* Not a cached page of this slot: a broken invariant.  Leave it. */
			zs_fetch_and_release(&r->pages[r->slot_owner[s]].state, ~PG_LOCKED);
			region_assert(false);
			continue;
		}
		r->slot_state[s] = SLOT_BUSY;
		w[n++] = (struct victim){r->slot_owner[s], s, st};
	}
	pthread_mutex_unlock(&r->lru_lock);
	return n;
}

static unsigned writeback(struct swap_region *r, unsigned max)
{
	struct victim w[REGION_BATCH];
	uint32_t done[REGION_BATCH];
	unsigned n, nr_done = 0;

	if (max > REGION_BATCH)
		max = REGION_BATCH;
	n = claim_oldest(r, w, max);
	for (unsigned i = 0; i < n; i++) {
		struct region_page *p = &r->pages[w[i].idx];
		uint32_t st = zs_load_relaxed(&p->state);

		if (st & PG_SWAPCOPY) {
			/* Clean: the swap copy is the page. */
			region_stat_inc(&r->stat.clean, 1);
		} else {
			swp_entry_t e = swap_out(r->ctx, staging_slot_addr(r, w[i].slot));
			if (!e.val) {
				/* Still cached: its slot is in use again before the page is
				 * unlocked (a fault then takes it back and frees the slot). */
				if (errno != ENOSPC)
					region_stat_inc(&r->stat.io_errors, 1);
				slots_set(r, &w[i].slot, 1, SLOT_USED);
				swi_page_unlock(r, w[i].idx);
				continue;
			}
			p->entry = e;
		}
		p->evict_age = zs_fetch_add_relaxed(&r->nonres_age, 1);
		region_count_dec(&r->nr_cached);
		zs_fetch_add_relaxed(&r->nr_swapped, 1);
		swi_region_uncharge(r);
		region_stat_inc(&r->stat.reclaimed, 1);
		page_set(p, PK_SWAPPED, 0, PG_SWAPCOPY);
		done[nr_done++] = w[i].slot;
		swi_page_unlock(r, w[i].idx);
	}
	slots_zap(r, done, nr_done);
	slots_set(r, done, nr_done, SLOT_FREE);
	return nr_done;
}

/* ---- shrinking ------------------------------------------------------------------------ */

uint64_t swi_region_shrink(struct swap_region *r, uint64_t nr, bool direct)
{
	uint64_t t0 = swi_thread_cpu_ns(), freed = 0, scan_budget;
	unsigned stuck = 0;

	if (nr > r->nr_pages)
		nr = r->nr_pages; /* all there is (and no overflow below) */
	/* Second chances are progress too (the next pass finds those pages unreferenced), but
	 * only for two passes over the resident pages: if all of them are in use, stop. */
	zs_fetch_add_relaxed(&r->nr_shrinking, 1);
	scan_budget = 2 * zs_load_relaxed(&r->nr_resident) + REGION_BATCH;
	while (freed < nr && stuck < 2) {
		uint64_t want = nr - freed, cached, fill, wb;
		unsigned progress = 0, scanned = 0;

		/* Refill the swap cache from the inactive list, up to its target plus what this
		 * round writes back: the newest evictions wait there while the oldest go. */
		cached = zs_load_relaxed(&r->nr_cached);
		fill = cached < r->cache_target + want ? r->cache_target + want - cached : 0;
		if (fill && zs_load_relaxed(&r->nr_resident)) {
			progress += evict(r, (unsigned)(fill < REGION_BATCH ? fill : REGION_BATCH),
					  &scanned);
			if (!progress && scanned && scan_budget > scanned) {
				scan_budget -= scanned;
				progress = 1; /* second chances given: go on */
			}
		}
		/* Write back what the cache holds past its target; a fault in need, or a region
		 * with nothing left to evict, takes the oldest cached pages whatever the target. */
		cached = zs_load_relaxed(&r->nr_cached);
		wb = cached > r->cache_target ? cached - r->cache_target : 0;
		if (wb < want && (direct || !zs_load_relaxed(&r->nr_resident)))
			wb = cached < want ? cached : want;
		if (wb > want)
			wb = want;
		if (wb) {
			unsigned got =
			    writeback(r, (unsigned)(wb < REGION_BATCH ? wb : REGION_BATCH));
			freed += got;
			progress += got;
		}
		stuck = progress ? 0 : stuck + 1;
	}
	zs_fetch_sub_relaxed(&r->nr_shrinking, 1);
	region_stat_inc(&r->stat.reclaim_ns, swi_thread_cpu_ns() - t0);
	return freed;
}

/* ---- the reclaim thread ---------------------------------------------------------------- */

static void *kswapd_main(void *arg)
{
	struct swap_region *r = arg;

	for (;;) {
		uint64_t t_idle;
		bool stop;

		pthread_mutex_lock(&r->kswapd_lock);
		while (!r->kswapd_wanted && !r->kswapd_stop)
			pthread_cond_wait(&r->kswapd_wait, &r->kswapd_lock);
		r->kswapd_wanted = false;
		stop = r->kswapd_stop;
		pthread_mutex_unlock(&r->kswapd_lock);
		if (stop)
			break;
		zs_store_seq_cst(&r->kswapd_running, true);
		update_keep_copies(r);
		t_idle = 0;
		while (!zs_load_relaxed(&r->kswapd_quit)) {
			uint64_t charged = zs_load_relaxed(&r->nr_charged);
			if (charged <= r->resident_min)
				break;
			if (!swi_region_shrink(r, charged - r->resident_min, false)) {
				/* Nothing reclaimable now: nap rather than spin. */
				struct timespec ts = {0, KSWAPD_BACKOFF_NS};
				if (t_idle++)
					break;
				nanosleep(&ts, NULL);
			}
		}
		zs_store_seq_cst(&r->kswapd_running, false);
	}
	return NULL;
}

int swi_region_start_kswapd(struct swap_region *r)
{
	int err = pthread_create(&r->kswapd, NULL, kswapd_main, r);

	if (err)
		return -err;
	r->kswapd_started = true;
	(void)pthread_setname_np(r->kswapd, "swap_region_rcl");
	return 0;
}

void swi_region_stop_kswapd(struct swap_region *r)
{
	if (!r->kswapd_started)
		return;
	zs_store_relaxed(&r->kswapd_quit, true);
	pthread_mutex_lock(&r->kswapd_lock);
	r->kswapd_stop = true;
	pthread_cond_signal(&r->kswapd_wait);
	pthread_mutex_unlock(&r->kswapd_lock);
	pthread_join(r->kswapd, NULL);
	/* kswapd_started stays set: faults still being served may try to wake it, harmlessly. */
}

int swi_region_reclaim_init(struct swap_region *r)
{
	r->active = (struct region_list){REGION_NIL, REGION_NIL, 0};
	r->inactive = (struct region_list){REGION_NIL, REGION_NIL, 0};
	r->slot_state = calloc(r->nr_slots, 1);
	r->slot_owner = calloc(r->nr_slots, sizeof(*r->slot_owner));
	if (!r->slot_state || !r->slot_owner)
		return -ENOMEM;
	pthread_mutex_init(&r->lru_lock, NULL);
	pthread_mutex_init(&r->kswapd_lock, NULL);
	pthread_mutex_init(&r->scan_lock, NULL);
	pthread_cond_init(&r->kswapd_wait, NULL);
	update_keep_copies(r);
	return 0;
}

void swi_region_reclaim_fini(struct swap_region *r)
{
	free(r->slot_state);
	free(r->slot_owner);
	pthread_mutex_destroy(&r->lru_lock);
	pthread_mutex_destroy(&r->kswapd_lock);
	pthread_mutex_destroy(&r->scan_lock);
	pthread_cond_destroy(&r->kswapd_wait);
}
