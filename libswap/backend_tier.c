/*
 * backend_tier.c - the writeback tier: a compressed store (backend_zram.h) in front of a swap
 * file (backend_file.h), with the coldest pages moved from the first to the second.
 *
 * Where a page is: the store's slot record says, for every slot of the area, whether its page
 * is in the pool, same-filled, or "elsewhere" at a slot of the backing file (zram's ZRAM_WB).
 * The backing file's slots are this file's: a bitmap of those in use (the header slot and the
 * file's bad slots always are), handed out at writeback only, in runs of consecutive slots so
 * that one pwritev writes a batch.  Written-back pages are stored as their compressed image,
 * zero-padded to the 4 KiB slot, so writing back costs no decompression and reading back one
 * decompression, as from memory.
 *
 * Which pages go: an LRU list of the slots whose page is in the pool, in the order they were
 * stored, links per slot (8 bytes a slot).  A read does not move an entry (that would take the
 * list's lock on every swap_in); it sets the slot's referenced mark, and writeback, finding a
 * referenced entry at the cold end, clears the mark and moves it to the warm end instead: a
 * second chance, as zswap's shrinker gives.
 *
 * When: the pool's pages against three marks (mem_limit in pages; low = wb_low_percent of it;
 * high halfway between).  Past high, the area's thread writes back batches from the cold end
 * until what it wrote adds up to the pages over low, compacts the pool, and looks again; it
 * sleeps once the pool is under low.  A store that finds the pool at mem_limit (the thread
 * fell behind) writes back one batch itself and tries again, freed slots of the pool taking
 * the page, or else the pool going up to a sixteenth over the limit until the thread catches
 * up; if it still does not fit, the page goes to the file directly.  So a store fails only
 * when the file is full or the writeback limit is used up.
 *
 * One writeback at a time: wb_lock (a mutex) is held for a batch, by the thread, a store that
 * writes back, or swap_writeback; a batch holds the swap-cache claim of each of its slots
 * (slot.h), so no swap_in, rewrite, recompression or release of those slots overlaps it: a
 * swap_in waits for the claim and then reads the page where it now is; a swap_free meanwhile
 * leaves the slot to be released (with its file slot) when the batch drops the claim; a failed
 * write leaves the pages in memory as they were.
 *
 * Lock order: wb_lock, then a cluster lock (claims), then lru_lock and file_lock (spinlocks,
 * taken also under a cluster lock by a discard, never together).
 *
 * This file may not touch swap_map bytes, clusters or the swap cache except through slot.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "backend_file.h"
#include "backend_zram.h"
#include "counters.h"
#include "slot.h"
#include "spinlock.h"
#include "zs/zsmalloc.h"

#define LRU_OFF UINT32_MAX /* lru_prev of a slot that is not on the list */
#define LRU_END 0	   /* no slot (slot 0 never holds a page) */

/* The tier's counters (struct tier.stats). */
enum tier_stat_item {
	TST_WB_WRITES,
	TST_WB_READS,
	TST_WB_FAILED,
	TST_LIMIT_HIT,
	TST_HUGE_DIRECT,
	TST_NR_ITEMS
};

struct tier {
	struct swap_backend base;
	struct zram_store *mem;
	struct swap_file *file;
	struct swap_info *si;
	unsigned flags; /* SWAP_AREA_WB_HUGE_DIRECT */
	uint64_t nr_slots;
	unsigned long limit_pages, high_pages, low_pages; /* 0: no automatic writeback */

	/* The pages in the pool, coldest first. */
	struct swap_spinlock lru_lock;
	uint32_t *lru_prev, *lru_next;
	uint32_t lru_head, lru_tail;
	uint64_t lru_nr;

	/* The backing file's slots. */
	struct swap_spinlock file_lock;
	uint64_t *file_map; /* bit set: in use (or the header, or bad) */
	uint64_t file_slots;
	uint64_t file_used; /* pages in it now */
	uint64_t file_cursor;

	/* Writeback. */
	pthread_mutex_t wb_lock;
	_Atomic uint64_t budget;

	/* The thread. */
	pthread_t thread;
	bool thread_on;
	pthread_mutex_t kick_lock;
	pthread_cond_t kick;
	bool kicked;	  /* under kick_lock */
	atomic_bool stop; /* the thread must end */
	atomic_bool busy; /* the thread is writing back (or has been asked to) */
	/* Writeback found the file full or the budget used up: no batch is tried until a file
	 * slot is freed or the budget re-armed. */
	atomic_bool blocked;

	struct swap_counters stats;
};

static inline struct tier *to_tier(struct swap_backend *b)
{
	return (struct tier *)b; /* base is the first member */
}

static inline void tier_stat_add(struct tier *t, unsigned cpu, enum tier_stat_item item, int64_t v)
{
	swap_count_add(&t->stats, cpu, item, v);
}

/* ---- the LRU -------------------------------------------------------------------------- */

static void lru_unlink_locked(struct tier *t, uint32_t off)
{
	uint32_t prev = t->lru_prev[off], next = t->lru_next[off];

	if (prev != LRU_END)
		t->lru_next[prev] = next;
	else
		t->lru_head = next;
	if (next != LRU_END)
		t->lru_prev[next] = prev;
	else
		t->lru_tail = prev;
	t->lru_prev[off] = LRU_OFF;
	t->lru_nr--;
}

static void lru_append_locked(struct tier *t, uint32_t off)
{
	t->lru_prev[off] = t->lru_tail;
	t->lru_next[off] = LRU_END;
	if (t->lru_tail != LRU_END)
		t->lru_next[t->lru_tail] = off;
	else
		t->lru_head = off;
	t->lru_tail = off;
	t->lru_nr++;
}

/* @off's page was just stored in the pool: it is the warmest now. */
static void lru_add(struct tier *t, uint32_t off)
{
	swap_spin_lock(&t->lru_lock);
	if (t->lru_prev[off] != LRU_OFF)
		lru_unlink_locked(t, off);
	lru_append_locked(t, off);
	swap_spin_unlock(&t->lru_lock);
}

static void lru_del(struct tier *t, uint32_t off)
{
	swap_spin_lock(&t->lru_lock);
	if (t->lru_prev[off] != LRU_OFF)
		lru_unlink_locked(t, off);
	swap_spin_unlock(&t->lru_lock);
}

/* ---- the backing file's slots ----------------------------------------------------------- */

static inline bool file_slot_used(const struct tier *t, uint64_t s)
{
	return t->file_map[s / 64] >> (s % 64) & 1;
}

static inline void file_slot_mark(struct tier *t, uint64_t s, bool used)
{
	if (used)
		t->file_map[s / 64] |= 1ULL << (s % 64);
	else
		t->file_map[s / 64] &= ~(1ULL << (s % 64));
}

/* Take up to @want consecutive free slots, the first at *@first: how many (0: the file is
 * full).  Next fit from the last run handed out, so runs follow each other in the file. */
static unsigned file_alloc_run(struct tier *t, unsigned want, uint64_t *first)
{
	unsigned n = 0;

	swap_spin_lock(&t->file_lock);
	for (uint64_t scanned = 0, s = t->file_cursor; scanned < t->file_slots; scanned++, s++) {
		if (s >= t->file_slots)
			s = 0;
		if (file_slot_used(t, s))
			continue;
		*first = s;
		while (n < want && s + n < t->file_slots && !file_slot_used(t, s + n)) {
			file_slot_mark(t, s + n, true);
			n++;
		}
		t->file_cursor = s + n;
		t->file_used += n;
		break;
	}
	swap_spin_unlock(&t->file_lock);
	return n;
}

static void file_free(struct tier *t, uint64_t first, unsigned n)
{
	swap_spin_lock(&t->file_lock);
	for (unsigned i = 0; i < n; i++)
		file_slot_mark(t, first + i, false);
	t->file_used -= n;
	swap_spin_unlock(&t->file_lock);
	zs_store_relaxed(&t->blocked, false);
}

/* A file slot whose page is gone: it reads -EIO until written again, and is free. */
static void file_release(struct tier *t, uint64_t where)
{
	swi_file_discard(t->file, where);
	file_free(t, where, 1);
}

/* Take up to @want pages of the writeback budget: how many were taken. */
static unsigned budget_take(struct tier *t, unsigned want)
{
	uint64_t b = zs_load_relaxed(&t->budget);

	while (b != SWAP_WB_UNLIMITED) {
		unsigned n = b < want ? (unsigned)b : want;

		if (!n || zs_cas_weak_relaxed(&t->budget, &b, b - n))
			return n;
	}
	return want;
}

static void budget_give(struct tier *t, uint64_t n)
{
	uint64_t b = zs_load_relaxed(&t->budget);

	while (b != SWAP_WB_UNLIMITED && !zs_cas_weak_relaxed(&t->budget, &b, b + n))
		;
}

/* ---- writeback ---------------------------------------------------------------------------- */

/*
 * One batch, wb_lock held: up to @max pages, chosen from the cold end of the LRU (with second
 * chance) or, if @list is given, from its @nr slots.  Returns the image bytes it moved out of
 * the pool (0: nothing moved), *@pages the pages, or -ENOSPC (file full or budget used up) /
 * -EIO (every write failed) when nothing could be moved for those reasons.
 */
static long wb_batch(struct tier *t, const uint32_t *list, uint64_t nr, unsigned max, unsigned cpu,
		     long *pages)
{
	uint32_t cand[SWAP_WB_BATCH], got[SWAP_WB_BATCH], size[SWAP_WB_BATCH];
	unsigned comp[SWAP_WB_BATCH], n = 0, m = 0, done = 0, failed = 0;
	struct iovec iov[SWAP_WB_BATCH];
	bool full = false;
	long bytes = 0;

	if (max > SWAP_WB_BATCH)
		max = SWAP_WB_BATCH;
	if (list) {
		for (; n < nr && n < max; n++)
			cand[n] = list[n];
	} else {
		swap_spin_lock(&t->lru_lock);
		uint32_t off = t->lru_head;
		for (uint64_t seen = 0; off != LRU_END && n < max && seen < t->lru_nr; seen++) {
			uint32_t next = t->lru_next[off];

			if (swi_zram_test_clear_referenced(t->mem, off)) {
				lru_unlink_locked(t, off); /* read since we last looked: stays */
				lru_append_locked(t, off);
			} else {
				cand[n++] = off;
			}
			off = next;
		}
		swap_spin_unlock(&t->lru_lock);
	}

	/* Take each slot's claim and map its image; a slot busy or gone meanwhile is skipped.
	 * The images are written from the pool itself, padded by the file, so nothing is copied. */
	for (unsigned i = 0; i < n; i++) {
		const void *img;

		if (swi_slot_claim(t->si, cand[i]))
			continue;
		if (swi_zram_map_image(t->mem, cand[i], &img, &size[m], &comp[m])) {
			swi_slot_drop_claim(t->si, cand[i], cpu);
			continue;
		}
		iov[m] = (struct iovec){(void *)(uintptr_t)img, size[m]};
		got[m++] = cand[i];
	}

	for (unsigned i = 0; i < m;) {
		uint64_t first;
		unsigned k = budget_take(t, m - i);

		if (k) {
			unsigned run = file_alloc_run(t, k, &first);

			if (run < k)
				budget_give(t, k - run);
			k = run;
		}
		if (!k) {
			full = true;
			break;
		}
		if (swi_file_write_images(t->file, first, &iov[i], k)) {
			file_free(t, first, k);
			budget_give(t, k);
			tier_stat_add(t, cpu, TST_WB_FAILED, k);
			failed += k;
		} else {
			for (unsigned j = 0; j < k; j++) {
				swi_zram_unmap_image(t->mem, got[i + j], iov[i + j].iov_base);
				iov[i + j].iov_base = NULL;
				swi_zram_set_elsewhere(t->mem, got[i + j], first + j, size[i + j],
						       comp[i + j], cpu);
				lru_del(t, got[i + j]);
				bytes += size[i + j];
			}
			tier_stat_add(t, cpu, TST_WB_WRITES, k);
			done += k;
		}
		i += k;
	}
	for (unsigned i = 0; i < m; i++) {
		if (iov[i].iov_base) /* not written: still in the pool */
			swi_zram_unmap_image(t->mem, got[i], iov[i].iov_base);
		swi_slot_drop_claim(t->si, got[i], cpu); /* may release a slot freed meanwhile */
	}
	*pages = done;
	if (full)
		zs_store_relaxed(&t->blocked, true);
	if (!done && full)
		return -ENOSPC;
	if (!done && failed)
		return -EIO;
	return bytes;
}

/*
 * Compact the pool if writeback left holes worth moving objects for: more pool pages than the
 * images in it need by over an eighth (a filled pool holds about 3% over its bytes), and at
 * least 16 pages.  After a writeback that emptied whole zspages (the cold end of the LRU was
 * stored together) there is nothing to move, and the handle-table scan is saved.
 */
static void maybe_compact(struct tier *t)
{
	struct zs_pool *pool = swi_zram_pool(t->mem);
	struct swap_area_stats st = {0};
	uint64_t have;

	swi_zram_fill_stats(t->mem, &st);
	have = st.mem_used_total;
	if (have > st.compr_data_size + st.compr_data_size / 8 + 16 * SWAP_PAGE_SIZE)
		zs_compact(pool);
}

/* The thread's job: write back until the pool is under the low mark (or nothing is left). */
static void wb_to_low(struct tier *t)
{
	struct zs_pool *pool = swi_zram_pool(t->mem);
	unsigned cpu = swap_cpu();

	for (;;) {
		unsigned long pages = zs_get_total_pages(pool);
		long need, moved = 0;

		if (pages <= t->low_pages)
			return;
		need = (long)(pages - t->low_pages) * SWAP_PAGE_SIZE;
		while (moved < need) {
			long n, r;

			pthread_mutex_lock(&t->wb_lock);
			r = wb_batch(t, NULL, 0, SWAP_WB_BATCH, cpu, &n);
			pthread_mutex_unlock(&t->wb_lock);
			if (r <= 0)
				break;
			moved += r;
			if (zs_load_relaxed(&t->stop))
				return;
		}
		maybe_compact(t);
		if (moved == 0)
			return; /* nothing left to write back, file full or budget used up */
	}
}

static void *wb_thread(void *arg)
{
	struct tier *t = arg;

	pthread_mutex_lock(&t->kick_lock);
	while (!zs_load_relaxed(&t->stop)) {
		if (!t->kicked) {
			pthread_cond_wait(&t->kick, &t->kick_lock);
			continue;
		}
		t->kicked = false;
		pthread_mutex_unlock(&t->kick_lock);
		wb_to_low(t);
		zs_store_release(&t->busy, false);
		pthread_mutex_lock(&t->kick_lock);
	}
	pthread_mutex_unlock(&t->kick_lock);
	return NULL;
}

/* Wake the thread if the pool is past the high mark and it is not at work already. */
static void maybe_kick(struct tier *t)
{
	if (!t->thread_on || zs_load_relaxed(&t->blocked) ||
	    zs_get_total_pages(swi_zram_pool(t->mem)) < t->high_pages ||
	    zs_load_relaxed(&t->busy) || zs_exchange_acq_rel(&t->busy, true))
		return;
	pthread_mutex_lock(&t->kick_lock);
	t->kicked = true;
	pthread_cond_signal(&t->kick);
	pthread_mutex_unlock(&t->kick_lock);
}

/* ---- the backend's operations ---------------------------------------------------------- */

static bool tier_claims(const struct swap_area_opts *o)
{
	return o->backing_path != NULL;
}

static int tier_check(const struct swap_area_opts *o)
{
	/* slot offsets must fit the LRU's 32-bit links, with one value left for "not on it" */
	if (o->path || o->nr_pages < 2 || o->nr_pages > UINT32_MAX ||
	    (o->flags & ~SWAP_AREA_WB_HUGE_DIRECT) || (o->backing_flags & ~SWAP_AREA_CHECKSUM) ||
	    o->wb_low_percent > 99 || o->backing_pages > SWAP_MAX_PAGES)
		return -EINVAL;
	return swi_zram_check_name(o->compressor);
}

static void tier_destroy(struct swap_backend *b)
{
	struct tier *t = to_tier(b);

	swi_zram_destroy(t->mem);
	swi_file_close(t->file);
	free(t->lru_prev);
	free(t->lru_next);
	free(t->file_map);
	swap_counters_destroy(&t->stats);
	pthread_mutex_destroy(&t->wb_lock);
	pthread_mutex_destroy(&t->kick_lock);
	pthread_cond_destroy(&t->kick);
	free(t);
}

static int tier_create(const struct swap_area_opts *o, const struct swap_backend_env *env,
		       struct swap_backend **b, struct swap_backend_layout *layout)
{
	struct zram_store_opts so = {o->compressor, o->nr_pages, o->mem_limit, env->type};
	struct swap_file_opts fo = {
	    .path = o->backing_path,
	    .nr_pages = o->backing_pages,
	    .label = o->label,
	    .bad_pages = o->bad_pages,
	    .nr_bad_pages = o->nr_bad_pages,
	    .checksum = o->backing_flags & SWAP_AREA_CHECKSUM,
	};
	struct swap_backend_layout fl = {0};
	struct tier *t = calloc(1, sizeof(*t));
	unsigned low = o->wb_low_percent ? o->wb_low_percent : 90;
	int err;

	if (!t)
		return -ENOMEM;
	t->base.ops = &swi_tier_backend_ops;
	t->si = env->si;
	t->flags = o->flags;
	t->nr_slots = o->nr_pages;
	swap_spin_init(&t->lru_lock);
	swap_spin_init(&t->file_lock);
	pthread_mutex_init(&t->wb_lock, NULL);
	pthread_mutex_init(&t->kick_lock, NULL);
	pthread_cond_init(&t->kick, NULL);
	atomic_init(&t->budget, o->writeback_limit ? o->writeback_limit : SWAP_WB_UNLIMITED);
	atomic_init(&t->busy, false);
	atomic_init(&t->stop, false);
	atomic_init(&t->blocked, false);
	err = swi_zram_create(&so, &t->mem);
	if (!err)
		err = swi_file_open(&fo, &t->file, &fl);
	if (err)
		goto fail;
	err = -ENOMEM;
	t->file_slots = fl.max;
	t->file_map = calloc((fl.max + 63) / 64, sizeof(*t->file_map));
	t->lru_prev = malloc(o->nr_pages * sizeof(*t->lru_prev));
	t->lru_next = malloc(o->nr_pages * sizeof(*t->lru_next));
	if (!t->file_map || !t->lru_prev || !t->lru_next ||
	    swap_counters_init(&t->stats, TST_NR_ITEMS))
		goto fail;
	for (uint64_t s = 0; s < o->nr_pages; s++)
		t->lru_prev[s] = LRU_OFF;
	file_slot_mark(t, 0, true); /* the header */
	for (uint32_t i = 0; i < fl.nr_bad; i++)
		file_slot_mark(t, fl.bad[i], true);
	t->file_cursor = 1;
	t->limit_pages = swi_zram_limit_pages(t->mem);
	t->low_pages = t->limit_pages * low / 100;
	t->high_pages = t->low_pages + (t->limit_pages - t->low_pages) / 2;
	free(fl.bad);
	*layout = (struct swap_backend_layout){.max = o->nr_pages};
	*b = &t->base;
	return 0;
fail:
	free(fl.bad);
	tier_destroy(&t->base);
	return err;
}

static void tier_start(struct swap_backend *b)
{
	struct tier *t = to_tier(b);

	swi_file_commit(t->file);
	/* Without a thread (no mem_limit, or none could be made) writeback is only the synchronous
	 * kind and swap_writeback. */
	if (t->limit_pages && !pthread_create(&t->thread, NULL, wb_thread, t))
		t->thread_on = true;
}

/* A batch holds its slots' claims under wb_lock: once we have had it, none is in flight, and a
 * new batch can only claim slots that still have references. */
static void tier_quiesce(struct swap_backend *b)
{
	struct tier *t = to_tier(b);

	pthread_mutex_lock(&t->wb_lock);
	pthread_mutex_unlock(&t->wb_lock);
}

static void tier_stop(struct swap_backend *b)
{
	struct tier *t = to_tier(b);

	if (!t->thread_on)
		return;
	pthread_mutex_lock(&t->kick_lock);
	zs_store_relaxed(&t->stop, true);
	pthread_cond_signal(&t->kick);
	pthread_mutex_unlock(&t->kick_lock);
	pthread_join(t->thread, NULL);
	t->thread_on = false;
}

/* Put @page raw into a file slot of its own as slot @off's contents: 0, -ENOSPC, -EIO. */
static int write_direct(struct tier *t, uint64_t off, const void *page, unsigned cpu, bool huge)
{
	uint64_t fs;
	int err;

	if (!budget_take(t, 1)) {
		zs_store_relaxed(&t->blocked, true);
		return -ENOSPC;
	}
	if (!file_alloc_run(t, 1, &fs)) {
		zs_store_relaxed(&t->blocked, true);
		budget_give(t, 1);
		return -ENOSPC;
	}
	err = swi_file_write(t->file, fs, page);
	if (err) {
		file_free(t, fs, 1);
		budget_give(t, 1);
		return err;
	}
	swi_zram_set_elsewhere(t->mem, off, fs, SWAP_PAGE_SIZE, 0, cpu);
	lru_del(t, (uint32_t)off);
	tier_stat_add(t, cpu, huge ? TST_HUGE_DIRECT : TST_WB_WRITES, 1);
	return 0;
}

static int tier_write(struct swap_backend *b, uint64_t off, const void *page, unsigned cpu)
{
	struct tier *t = to_tier(b);
	unsigned how =
	    ZRAM_STORE_TRY_FULL | ((t->flags & SWAP_AREA_WB_HUGE_DIRECT) ? ZRAM_STORE_NO_HUGE : 0);
	uint64_t old_where;
	uint32_t old_size;
	unsigned old_comp;
	bool had = swi_zram_elsewhere(t->mem, off, &old_where, &old_size, &old_comp);
	int err;

	for (int attempt = 0;; attempt++) {
		err = swi_zram_store(t->mem, off, page, cpu, how);
		if (!err) {
			if (swi_zram_slot_marks(t->mem, off) & ZRAM_IN_MEMORY)
				lru_add(t, (uint32_t)off);
			else
				lru_del(t, (uint32_t)off); /* same-filled: nothing to write back */
			maybe_kick(t);
			break;
		}
		if (err == -E2BIG) {
			err = write_direct(t, off, page, cpu, true);
			break;
		}
		if (err != -ENOSPC)
			break;
		if (attempt == 0 && !zs_load_relaxed(&t->blocked)) {
			long n;

			/* The thread fell behind: one batch of our own, then the freed slots. */
			tier_stat_add(t, cpu, TST_LIMIT_HIT, 1);
			maybe_kick(t);
			pthread_mutex_lock(&t->wb_lock);
			wb_batch(t, NULL, 0, SWAP_WB_BATCH, cpu, &n);
			pthread_mutex_unlock(&t->wb_lock);
			/* the slots freed may be of other sizes: a little room over the limit,
			 * which the thread takes back, rather than the newest page to the file */
			how |= ZRAM_STORE_SLACK;
			continue;
		}
		err = write_direct(t, off, page, cpu, false);
		break;
	}
	/* A rewrite of a page that was in the file: its old file slot is free now. */
	if (!err && had) {
		uint64_t w;
		uint32_t sz;
		unsigned c;

		if (!swi_zram_elsewhere(t->mem, off, &w, &sz, &c) || w != old_where)
			file_release(t, old_where);
	}
	return err;
}

static int tier_read(struct swap_backend *b, uint64_t off, void *page, unsigned cpu)
{
	struct tier *t = to_tier(b);
	uint8_t img[SWAP_PAGE_SIZE];
	uint64_t where;
	uint32_t size;
	unsigned comp;
	int err = swi_zram_load(t->mem, off, page, cpu);

	if (err != -ENODATA)
		return err;
	if (!swi_zram_elsewhere(t->mem, off, &where, &size, &comp))
		return -EIO;
	err = swi_file_read(t->file, where, size == SWAP_PAGE_SIZE ? page : img);
	if (!err && size != SWAP_PAGE_SIZE)
		err = swi_zram_decode(t->mem, img, size, comp, page, cpu);
	if (err)
		return -EIO;
	swi_zram_touch(t->mem, off);
	tier_stat_add(t, cpu, TST_WB_READS, 1);
	return 0;
}

static void tier_discard(struct swap_backend *b, uint64_t off, unsigned cpu)
{
	struct tier *t = to_tier(b);
	uint64_t where;
	uint32_t size;
	unsigned comp;

	if (swi_zram_elsewhere(t->mem, off, &where, &size, &comp))
		file_release(t, where);
	lru_del(t, (uint32_t)off);
	swi_zram_forget(t->mem, off, cpu);
}

static void tier_fill_stats(struct swap_backend *b, struct swap_area_stats *st)
{
	struct tier *t = to_tier(b);

	swi_zram_fill_stats(t->mem, st);
	swi_file_fill_stats(t->file, st);
	st->wb_writes = (uint64_t)swap_count_sum(&t->stats, TST_WB_WRITES);
	st->wb_reads = (uint64_t)swap_count_sum(&t->stats, TST_WB_READS);
	st->wb_failed = (uint64_t)swap_count_sum(&t->stats, TST_WB_FAILED);
	st->pool_limit_hit = (uint64_t)swap_count_sum(&t->stats, TST_LIMIT_HIT);
	st->huge_direct = (uint64_t)swap_count_sum(&t->stats, TST_HUGE_DIRECT);
	st->backing_pages = t->file_slots;
	swap_spin_lock(&t->file_lock);
	st->backing_used = t->file_used;
	swap_spin_unlock(&t->file_lock);
	st->writeback_limit = zs_load_relaxed(&t->budget);
}

static long tier_compact(struct swap_backend *b)
{
	return (long)zs_compact(swi_zram_pool(to_tier(b)->mem));
}

static struct zs_pool *tier_pool(struct swap_backend *b)
{
	return swi_zram_pool(to_tier(b)->mem);
}

static int tier_corrupt(struct swap_backend *b, uint64_t off)
{
	return swi_zram_corrupt(to_tier(b)->mem, off);
}

static long tier_mark_idle(struct swap_backend *b, unsigned age_s)
{
	return swi_zram_mark_idle(to_tier(b)->mem, age_s);
}

static long tier_recompress(struct swap_backend *b, const struct swap_recompress_opts *o)
{
	return swi_zram_recompress(to_tier(b)->mem, to_tier(b)->si, o);
}

static int tier_set_writeback_limit(struct swap_backend *b, uint64_t pages)
{
	zs_store_relaxed(&to_tier(b)->budget, pages);
	zs_store_relaxed(&to_tier(b)->blocked, false);
	return 0;
}

/* The LRU's slots that match @want, coldest first: a malloc'ed list of *@nr (NULL: none). */
static uint32_t *matching_slots(struct tier *t, unsigned want, uint64_t max, uint64_t *nr)
{
	uint32_t *v;
	uint64_t n = 0;

	swap_spin_lock(&t->lru_lock);
	v = malloc((t->lru_nr ? t->lru_nr : 1) * sizeof(*v));
	if (v) {
		for (uint32_t off = t->lru_head; off != LRU_END && (!max || n < max);
		     off = t->lru_next[off]) {
			if ((swi_zram_slot_marks(t->mem, off) & want) == want)
				v[n++] = off;
		}
	}
	swap_spin_unlock(&t->lru_lock);
	*nr = n;
	return v;
}

static long tier_writeback(struct swap_backend *b, const struct swap_writeback_opts *o)
{
	struct tier *t = to_tier(b);
	unsigned want = o->flags & (SWAP_WB_IDLE | SWAP_WB_HUGE | SWAP_WB_INCOMPRESSIBLE);
	unsigned cpu = swap_cpu();
	uint64_t nr, at = 0;
	long total = 0, err = 0;
	uint32_t *list = matching_slots(t, want, o->max_pages, &nr);

	if (!list)
		return -ENOMEM;
	while (at < nr) {
		unsigned max = nr - at < SWAP_WB_BATCH ? (unsigned)(nr - at) : SWAP_WB_BATCH;
		long n, r;

		pthread_mutex_lock(&t->wb_lock);
		r = wb_batch(t, list + at, nr - at, max, cpu, &n);
		pthread_mutex_unlock(&t->wb_lock);
		total += n;
		at += max;
		if (r < 0) {
			err = r;
			if (r == -ENOSPC)
				break; /* file full or budget gone: the rest cannot go either */
		}
	}
	free(list);
	if (total)
		maybe_compact(t);
	if (!total && err)
		return -EIO;
	return total;
}

const struct swap_backend_ops swi_tier_backend_ops = {
    .name = "tiered",
    .kind = SWAP_AREA_TIERED,
    .claims = tier_claims,
    .check = tier_check,
    .create = tier_create,
    .start = tier_start,
    .stop = tier_stop,
    .quiesce = tier_quiesce,
    .destroy = tier_destroy,
    .write = tier_write,
    .read = tier_read,
    .discard = tier_discard,
    .fill_stats = tier_fill_stats,
    .compact = tier_compact,
    .pool = tier_pool,
    .corrupt = tier_corrupt,
    .mark_idle = tier_mark_idle,
    .writeback = tier_writeback,
    .set_writeback_limit = tier_set_writeback_limit,
    .recompress = tier_recompress,
};
