/*
 * backend_zram.c - the compressed store (backend_zram.h) and the memory area's backend over it.
 *
 * Per slot we keep a 16-byte record: the zs handle (or, for a same-filled page, the repeated
 * word; for a page elsewhere, its location), the stored size, flags and the time of the last
 * store or read.  A page is stored as, in order of preference:
 *   - same-filled: one 8-byte word repeated 512 times (zero pages above all); no allocation;
 *   - compressed, when the result is shorter than zs_huge_class_size(): the compressor writes
 *     into the CPU's stream buffer, then zs_malloc + zs_obj_write copy it into the pool (the
 *     size must be known before the object is allocated; the copy is of the compressed bytes);
 *   - raw (huge) otherwise: the 4096 bytes go to a page-sized object as they are (zstd is
 *     told the output must fit below the huge size, so it gives up early; lz4 runs to the end
 *     into a worst-case-sized buffer, which spares it its output checks and is faster over a
 *     typical page mix).
 * Reads decompress straight from the pool object into the caller's buffer, with the compressor
 * that made the object: the store's own, or one swap_recompress() added (up to three).
 *
 * Measured here, compressing into the stream buffer and copying the result is as fast as any
 * way of writing into the pool directly: the pool object can only be allocated once the size
 * is known, and the copy of ~2 KiB of hot data costs about 1% of the compression.
 *
 * Compression contexts are per CPU (struct zcomp_strm), each with its own lock, created on
 * first use; lz4 needs none to decompress, zstd uses the CPU's DCtx.  A slot's contents are
 * only changed by whoever has the slot to itself (backend_zram.h); the flags word is atomic
 * because marks (idle, referenced) are set and cleared beside that.
 *
 * Its figures (zram's mm_stat: pages stored, compressed bytes, same-filled and huge pages;
 * idle, recompressed) are per-CPU counters of its own.
 *
 * Lock order here: the stream lock is taken with no libswap lock held, and libzs's locks are
 * taken inside it (zs_malloc).  A forget runs under a cluster lock and calls zs_free.
 *
 * This file may not touch swap_map bytes, clusters or the swap cache; recompression takes each
 * slot's claim through slot.h.
 */
#include <errno.h>
#include <lz4.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "../libzs/zs_debug.h"
#include "backend_zram.h"
#include "counters.h"
#include "slot.h"
#include "spinlock.h"
#include "zs/zsmalloc.h"

enum zcomp_algo { ZCOMP_LZ4, ZCOMP_ZSTD };

/* The stream buffer: lz4's worst case for a page, so that lz4 never checks for room. */
#define ZCOMP_BUF_SIZE LZ4_COMPRESSBOUND(SWAP_PAGE_SIZE)

/* Slot flags.  The contents bits are changed by the slot's owner only (see the top). */
#define ZSLOT_WRITTEN	     0x01u /* holds a page */
#define ZSLOT_SAME	     0x02u /* handle is the repeated word */
#define ZSLOT_HUGE	     0x04u /* stored raw */
#define ZSLOT_ELSEWHERE	     0x08u /* handle is the page's location elsewhere */
#define ZSLOT_IDLE	     0x10u /* marked idle, not accessed since */
#define ZSLOT_INCOMPRESSIBLE 0x20u /* recompression shrinks it no further */
#define ZSLOT_REFERENCED     0x40u /* read since the tier's LRU last looked at it */
#define ZSLOT_COMP_SHIFT     8	   /* compressor index, 2 bits */
#define ZSLOT_COMP_MASK	     (3u << ZSLOT_COMP_SHIFT)

struct zram_slot {
	unsigned long handle;
	uint16_t size;		/* bytes of the stored image (SWAP_PAGE_SIZE: raw) */
	_Atomic uint16_t flags; /* ZSLOT_* */
	_Atomic uint32_t atime; /* last store or read, in seconds since the store was made */
};

struct zcomp {
	enum zcomp_algo algo;
	int level;
	char name[16];
};

struct zcomp_strm {
	struct swap_spinlock lock;
	void *lz4_state;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *buf; /* compressed output (ZCOMP_BUF_SIZE); kept if shorter than huge_size */
} __attribute__((aligned(SWAP_CACHELINE)));

/* The store's counters (struct zram_store.stats). */
enum zram_stat_item {
	ZST_PAGES_STORED, /* orig_data_size / 4096, pages elsewhere included */
	ZST_COMPR_SIZE,	  /* bytes of images in the pool */
	ZST_SAME_PAGES,
	ZST_HUGE_PAGES,
	ZST_IDLE_PAGES,
	ZST_RECOMPRESSED,
	ZST_INCOMPRESSIBLE,
	ZST_ELSEWHERE,
	ZST_NR_ITEMS
};

struct zram_store {
	struct zs_pool *pool;
	struct zcomp comp[ZRAM_MAX_COMPRESSORS];
	_Atomic unsigned nr_comp;
	pthread_mutex_t comp_lock; /* adding a compressor */
	size_t huge_size;	   /* compressed sizes >= this are stored raw */
	unsigned long limit_pages; /* pool pages allowed; 0 = no limit */
	uint64_t mem_limit;
	uint64_t nr_slots;
	time_t t0; /* atime's epoch, CLOCK_MONOTONIC_COARSE */
	struct zram_slot *slots;
	struct zcomp_strm *strm;
	struct swap_counters stats;
};

static inline void zram_stat_add(struct zram_store *z, unsigned cpu, enum zram_stat_item item,
				 int64_t v)
{
	swap_count_add(&z->stats, cpu, item, v);
}

static inline uint32_t now_s(const struct zram_store *z)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)(ts.tv_sec - z->t0);
}

/* "lz4", NULL, "zstd" or "zstd:LEVEL" into @c; 0 or -EINVAL. */
static int parse_compressor(struct zcomp *c, const char *name)
{
	if (!name || !strcmp(name, "lz4")) {
		c->algo = ZCOMP_LZ4;
		c->level = 1;
		snprintf(c->name, sizeof(c->name), "lz4");
		return 0;
	}
	if (!strncmp(name, "zstd", 4) && (name[4] == 0 || name[4] == ':')) {
		c->algo = ZCOMP_ZSTD;
		c->level = ZSTD_CLEVEL_DEFAULT;
		if (name[4] == ':') {
			char *end;
			long lv;

			errno = 0;
			lv = strtol(name + 5, &end, 10);
			if (errno || end == name + 5 || *end || lv < ZSTD_minCLevel() ||
			    lv > ZSTD_maxCLevel() || lv == 0)
				return -EINVAL;
			c->level = (int)lv;
		}
		snprintf(c->name, sizeof(c->name), "zstd:%d", c->level);
		return 0;
	}
	return -EINVAL;
}

int swi_zram_check_name(const char *name)
{
	struct zcomp c;

	return parse_compressor(&c, name);
}

void swi_zram_destroy(struct zram_store *z)
{
	if (!z)
		return;
	if (z->strm) {
		for (unsigned c = 0; c < swi_nr_cpus; c++) {
			free(z->strm[c].lz4_state);
			ZSTD_freeCCtx(z->strm[c].cctx);
			ZSTD_freeDCtx(z->strm[c].dctx);
			free(z->strm[c].buf);
		}
	}
	free(z->strm);
	free(z->slots);
	zs_destroy_pool(z->pool); /* frees every object still stored */
	swap_counters_destroy(&z->stats);
	pthread_mutex_destroy(&z->comp_lock);
	free(z);
}

int swi_zram_create(const struct zram_store_opts *o, struct zram_store **out)
{
	struct zram_store *z = calloc(1, sizeof(*z));
	struct timespec ts;
	char pool_name[32];

	if (!z)
		return -ENOMEM;
	pthread_mutex_init(&z->comp_lock, NULL);
	parse_compressor(&z->comp[0], o->compressor); /* checked */
	atomic_init(&z->nr_comp, 1);
	snprintf(pool_name, sizeof(pool_name), "libswap-%d", o->type);
	z->pool = zs_create_pool(pool_name);
	z->slots = calloc(o->nr_slots, sizeof(*z->slots));
	z->strm = aligned_alloc(SWAP_CACHELINE, sizeof(*z->strm) * swi_nr_cpus);
	/* Zeroed before any failure return: the destroy path frees what the streams hold. */
	if (z->strm)
		memset(z->strm, 0, sizeof(*z->strm) * swi_nr_cpus);
	if (!z->pool || !z->slots || !z->strm || swap_counters_init(&z->stats, ZST_NR_ITEMS)) {
		swi_zram_destroy(z);
		return -ENOMEM;
	}
	z->nr_slots = o->nr_slots;
	z->huge_size = zs_huge_class_size(z->pool);
	if (z->huge_size < 2 || z->huge_size > SWAP_PAGE_SIZE)
		z->huge_size = SWAP_PAGE_SIZE;
	z->mem_limit = o->mem_limit;
	z->limit_pages = (unsigned long)((o->mem_limit + SWAP_PAGE_SIZE - 1) / SWAP_PAGE_SIZE);
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	z->t0 = ts.tv_sec;
	*out = z;
	return 0;
}

/* The CPU's stream, locked, with the contexts @algo needs created; NULL if they cannot be. */
static struct zcomp_strm *strm_get(struct zram_store *z, unsigned cpu, enum zcomp_algo algo)
{
	struct zcomp_strm *s = &z->strm[cpu];

	swap_spin_lock(&s->lock);
	if (unlikely(!s->buf))
		s->buf = malloc(ZCOMP_BUF_SIZE);
	if (algo == ZCOMP_LZ4) {
		if (unlikely(!s->lz4_state))
			s->lz4_state = malloc((size_t)LZ4_sizeofState());
	} else {
		if (unlikely(!s->cctx))
			s->cctx = ZSTD_createCCtx();
		if (unlikely(!s->dctx))
			s->dctx = ZSTD_createDCtx();
	}
	if (unlikely(!s->buf || (algo == ZCOMP_LZ4 ? !s->lz4_state : !s->cctx || !s->dctx))) {
		swap_spin_unlock(&s->lock); /* what was made is kept for the next try */
		return NULL;
	}
	return s;
}

/* Whether the page is one 8-byte word repeated; sets *word. */
static bool page_same_filled(const void *page, unsigned long *word)
{
	const uint64_t *p = page;
	uint64_t v = p[0];

	/* Most pages differ within their first cache line, which the compressor reads next
	 * anyway; only then is the last line (another miss) worth a look. */
	if (p[1] != v || p[7] != v || p[SWAP_PAGE_SIZE / 8 - 1] != v)
		return false;
	for (unsigned i = 0; i < SWAP_PAGE_SIZE / 8; i += 8) {
		uint64_t x = (p[i] ^ v) | (p[i + 1] ^ v) | (p[i + 2] ^ v) | (p[i + 3] ^ v) |
			     (p[i + 4] ^ v) | (p[i + 5] ^ v) | (p[i + 6] ^ v) | (p[i + 7] ^ v);
		if (x)
			return false;
	}
	*word = v;
	return true;
}

static void page_fill(void *page, unsigned long word)
{
	uint64_t *p = page;

	if (!word) {
		memset(page, 0, SWAP_PAGE_SIZE);
		return;
	}
	for (unsigned i = 0; i < SWAP_PAGE_SIZE / 8; i++)
		p[i] = word;
}

/* Compress @page with @c into s->buf; the length, or 0 if it is not shorter than @limit. */
static size_t compress_page(const struct zcomp *c, struct zcomp_strm *s, const void *page,
			    size_t limit)
{
	if (c->algo == ZCOMP_LZ4) {
		/* A buffer of the full bound lets lz4 skip its output checks (about 1% faster on
		 * a typical page mix than stopping incompressible pages at the huge size). */
		int n = LZ4_compress_fast_extState(s->lz4_state, page, (char *)s->buf,
						   SWAP_PAGE_SIZE, ZCOMP_BUF_SIZE, 1);
		return n > 0 && (size_t)n < limit ? (size_t)n : 0;
	} else {
		/* zstd stops as soon as the output cannot fit */
		size_t n =
		    ZSTD_compressCCtx(s->cctx, s->buf, limit - 1, page, SWAP_PAGE_SIZE, c->level);
		return ZSTD_isError(n) ? 0 : n;
	}
}

/* Decompress @size bytes at @src made by compressor @comp into @page: 0 or -EIO / -ENOMEM. */
static int decode(struct zram_store *z, unsigned comp, const void *src, uint32_t size, void *page,
		  unsigned cpu)
{
	const struct zcomp *c = &z->comp[comp];
	struct zcomp_strm *s;
	size_t n;

	if (size == SWAP_PAGE_SIZE) {
		memcpy(page, src, SWAP_PAGE_SIZE);
		return 0;
	}
	if (comp >= zs_load_acquire(&z->nr_comp))
		return -EIO;
	if (c->algo == ZCOMP_LZ4)
		return LZ4_decompress_safe(src, page, (int)size, SWAP_PAGE_SIZE) == SWAP_PAGE_SIZE
			   ? 0
			   : -EIO;
	s = strm_get(z, cpu, ZCOMP_ZSTD);
	if (!s)
		return -ENOMEM;
	n = ZSTD_decompressDCtx(s->dctx, page, SWAP_PAGE_SIZE, src, size);
	swap_spin_unlock(&s->lock);
	return ZSTD_isError(n) || n != SWAP_PAGE_SIZE ? -EIO : 0;
}

/* Replace slot @off's flags with @flags; the counters follow what the old ones were.  Returns
 * the old flags.  The caller owns the slot. */
static uint16_t set_contents(struct zram_store *z, struct zram_slot *slot, unsigned cpu,
			     uint16_t flags)
{
	uint16_t old = zs_exchange_acq_rel(&slot->flags, flags);

	if ((old & (ZSLOT_WRITTEN | ZSLOT_IDLE)) == (ZSLOT_WRITTEN | ZSLOT_IDLE))
		zram_stat_add(z, cpu, ZST_IDLE_PAGES, -1);
	if ((old & (ZSLOT_WRITTEN | ZSLOT_INCOMPRESSIBLE)) ==
	    (ZSLOT_WRITTEN | ZSLOT_INCOMPRESSIBLE))
		zram_stat_add(z, cpu, ZST_INCOMPRESSIBLE, -1);
	return old;
}

/* Free a pool object of the store: it is never mapped by then (the store maps objects only
 * for the length of a read or a writeback, by the slot's owner), so zs_free cannot refuse. */
static void free_object(struct zram_store *z, unsigned long handle)
{
	int err = zs_free(z->pool, handle);

	zs_assert(!err, "zs_free of a store object: %d", err);
	(void)err;
}

/* Account for the old contents of a slot that was just replaced or emptied; frees its object. */
static void drop_old(struct zram_store *z, unsigned long handle, uint16_t size, uint16_t old,
		     unsigned cpu)
{
	if (!(old & ZSLOT_WRITTEN))
		return;
	if (old & ZSLOT_SAME) {
		zram_stat_add(z, cpu, ZST_SAME_PAGES, -1);
	} else if (old & ZSLOT_ELSEWHERE) {
		zram_stat_add(z, cpu, ZST_ELSEWHERE, -1);
	} else {
		free_object(z, handle);
		zram_stat_add(z, cpu, ZST_COMPR_SIZE, -(int64_t)size);
	}
	if (old & ZSLOT_HUGE) /* raw, wherever it was */
		zram_stat_add(z, cpu, ZST_HUGE_PAGES, -1);
	zram_stat_add(z, cpu, ZST_PAGES_STORED, -1);
}

void swi_zram_forget(struct zram_store *z, uint64_t off, unsigned cpu)
{
	struct zram_slot *slot = &z->slots[off];
	unsigned long handle = slot->handle;
	uint16_t size = slot->size;
	uint16_t old;

	if (!(zs_load_relaxed(&slot->flags) & ZSLOT_WRITTEN))
		return;
	old = set_contents(z, slot, cpu, 0);
	slot->handle = 0;
	slot->size = 0;
	drop_old(z, handle, size, old, cpu);
}

/* Publish new contents of @slot, then account for and free the old ones. */
static void replace(struct zram_store *z, struct zram_slot *slot, unsigned long handle,
		    uint16_t size, uint16_t flags, unsigned cpu)
{
	unsigned long old_handle = slot->handle;
	uint16_t old_size = slot->size, old;

	slot->handle = handle;
	slot->size = size;
	zs_store_relaxed(&slot->atime, now_s(z));
	old = set_contents(z, slot, cpu, flags);
	drop_old(z, old_handle, old_size, old, cpu);
	zram_stat_add(z, cpu, ZST_PAGES_STORED, 1);
}

int swi_zram_store(struct zram_store *z, uint64_t off, const void *page, unsigned cpu, unsigned how)
{
	struct zram_slot *slot = &z->slots[off];
	struct zcomp_strm *s;
	unsigned long handle, word;
	const void *src;
	size_t len;
	uint16_t flags = ZSLOT_WRITTEN;

	if (page_same_filled(page, &word)) {
		replace(z, slot, word, 0, ZSLOT_WRITTEN | ZSLOT_SAME, cpu);
		zram_stat_add(z, cpu, ZST_SAME_PAGES, 1);
		return 0;
	}

	/* Full: refuse before compressing.  The check after the allocation below catches the
	 * allocation that crosses the limit; the pool can then be over it by the pages that one
	 * allocation made resident (libzs trims a zspage's tail only when it compacts). */
	if (z->limit_pages && !(how & ZRAM_STORE_TRY_FULL) &&
	    zs_get_total_pages(z->pool) >= z->limit_pages)
		return -ENOSPC;
	s = strm_get(z, cpu, z->comp[0].algo);
	if (!s)
		return -ENOMEM;
	len = compress_page(&z->comp[0], s, page, z->huge_size);
	if (len) {
		src = s->buf;
	} else if (how & ZRAM_STORE_NO_HUGE) {
		swap_spin_unlock(&s->lock);
		return -E2BIG;
	} else {
		src = page;
		len = SWAP_PAGE_SIZE;
		flags |= ZSLOT_HUGE;
	}
	handle = zs_malloc(z->pool, len);
	if (likely(handle))
		zs_obj_write(z->pool, handle, src, len);
	swap_spin_unlock(&s->lock);
	if (unlikely(!handle))
		return -ENOMEM;
	if (z->limit_pages) {
		unsigned long limit = z->limit_pages;

		if (how & ZRAM_STORE_SLACK)
			limit += limit / 16 > 16 ? limit / 16 : 16;
		if (zs_get_total_pages(z->pool) > limit) {
			free_object(z, handle);
			return -ENOSPC;
		}
	}
	replace(z, slot, handle, (uint16_t)len, flags, cpu);
	zram_stat_add(z, cpu, ZST_COMPR_SIZE, (int64_t)len);
	if (flags & ZSLOT_HUGE)
		zram_stat_add(z, cpu, ZST_HUGE_PAGES, 1);
	return 0;
}

/* A read of slot @off: not idle any more, referenced, and its time. */
static void accessed(struct zram_store *z, struct zram_slot *slot, unsigned cpu)
{
	uint16_t old = zs_fetch_and_relaxed(&slot->flags, (uint16_t)~ZSLOT_IDLE);

	if ((old & (ZSLOT_WRITTEN | ZSLOT_IDLE)) == (ZSLOT_WRITTEN | ZSLOT_IDLE))
		zram_stat_add(z, cpu, ZST_IDLE_PAGES, -1);
	if (!(old & ZSLOT_REFERENCED))
		zs_fetch_or_relaxed(&slot->flags, ZSLOT_REFERENCED);
	zs_store_relaxed(&slot->atime, now_s(z));
}

void swi_zram_touch(struct zram_store *z, uint64_t off)
{
	accessed(z, &z->slots[off], swap_cpu());
}

int swi_zram_load(struct zram_store *z, uint64_t off, void *page, unsigned cpu)
{
	struct zram_slot *slot = &z->slots[off];
	uint16_t flags = zs_load_relaxed(&slot->flags);
	void *obj;
	int err;

	if (unlikely(!(flags & ZSLOT_WRITTEN)))
		return -EIO;
	if (flags & ZSLOT_ELSEWHERE)
		return -ENODATA;
	accessed(z, slot, cpu);
	if (flags & ZSLOT_SAME) {
		page_fill(page, slot->handle);
		return 0;
	}
	obj = zs_obj_read_begin(z->pool, slot->handle, NULL);
	if (unlikely(!obj))
		return -EIO;
	err = decode(z, (flags & ZSLOT_COMP_MASK) >> ZSLOT_COMP_SHIFT, obj, slot->size, page, cpu);
	zs_obj_read_end(z->pool, slot->handle, obj);
	return err;
}

int swi_zram_map_image(struct zram_store *z, uint64_t off, const void **image, uint32_t *size,
		       unsigned *comp)
{
	struct zram_slot *slot = &z->slots[off];
	uint16_t flags = zs_load_relaxed(&slot->flags);
	void *obj;

	if (!(flags & ZSLOT_WRITTEN) || (flags & (ZSLOT_SAME | ZSLOT_ELSEWHERE)))
		return -ENODATA;
	obj = zs_obj_read_begin(z->pool, slot->handle, NULL);
	if (!obj)
		return -ENODATA;
	*image = obj;
	*size = slot->size;
	*comp = (flags & ZSLOT_COMP_MASK) >> ZSLOT_COMP_SHIFT;
	return 0;
}

void swi_zram_unmap_image(struct zram_store *z, uint64_t off, const void *image)
{
	zs_obj_read_end(z->pool, z->slots[off].handle, (void *)(uintptr_t)image);
}

void swi_zram_set_elsewhere(struct zram_store *z, uint64_t off, uint64_t where, uint32_t size,
			    unsigned comp, unsigned cpu)
{
	struct zram_slot *slot = &z->slots[off];
	uint16_t keep = zs_load_relaxed(&slot->flags) & ZSLOT_IDLE;
	uint16_t flags =
	    ZSLOT_WRITTEN | ZSLOT_ELSEWHERE | keep | (uint16_t)(comp << ZSLOT_COMP_SHIFT);
	unsigned long old_handle = slot->handle;
	uint16_t old_size = slot->size, old;

	if (size == SWAP_PAGE_SIZE)
		flags |= ZSLOT_HUGE;
	slot->handle = (unsigned long)where;
	slot->size = (uint16_t)size;
	old = set_contents(z, slot, cpu, flags);
	if ((old & ZSLOT_WRITTEN) && !(old & ZSLOT_ELSEWHERE)) {
		/* A move: the slot keeps its age and its idle mark (re-counted here). */
		if ((old & ZSLOT_IDLE) && keep)
			zram_stat_add(z, cpu, ZST_IDLE_PAGES, 1);
		drop_old(z, old_handle, old_size, old, cpu);
	} else {
		drop_old(z, old_handle, old_size, old, cpu);
		zs_store_relaxed(&slot->atime, now_s(z));
	}
	zram_stat_add(z, cpu, ZST_PAGES_STORED, 1);
	zram_stat_add(z, cpu, ZST_ELSEWHERE, 1);
	if (flags & ZSLOT_HUGE)
		zram_stat_add(z, cpu, ZST_HUGE_PAGES, 1);
}

bool swi_zram_elsewhere(struct zram_store *z, uint64_t off, uint64_t *where, uint32_t *size,
			unsigned *comp)
{
	struct zram_slot *slot = &z->slots[off];
	uint16_t flags = zs_load_relaxed(&slot->flags);

	if ((flags & (ZSLOT_WRITTEN | ZSLOT_ELSEWHERE)) != (ZSLOT_WRITTEN | ZSLOT_ELSEWHERE))
		return false;
	*where = slot->handle;
	*size = slot->size;
	*comp = (flags & ZSLOT_COMP_MASK) >> ZSLOT_COMP_SHIFT;
	return true;
}

int swi_zram_decode(struct zram_store *z, const void *image, uint32_t size, unsigned comp,
		    void *page, unsigned cpu)
{
	return decode(z, comp, image, size, page, cpu);
}

unsigned swi_zram_slot_marks(struct zram_store *z, uint64_t off)
{
	uint16_t flags = zs_load_relaxed(&z->slots[off].flags);
	unsigned marks = 0;

	if (!(flags & ZSLOT_WRITTEN))
		return 0;
	if (flags & ZSLOT_IDLE)
		marks |= SWAP_WB_IDLE;
	if (flags & ZSLOT_HUGE)
		marks |= SWAP_WB_HUGE;
	if (flags & ZSLOT_INCOMPRESSIBLE)
		marks |= SWAP_WB_INCOMPRESSIBLE;
	if (!(flags & (ZSLOT_SAME | ZSLOT_ELSEWHERE)))
		marks |= ZRAM_IN_MEMORY;
	return marks;
}

bool swi_zram_test_clear_referenced(struct zram_store *z, uint64_t off)
{
	struct zram_slot *slot = &z->slots[off];

	if (!(zs_load_relaxed(&slot->flags) & ZSLOT_REFERENCED))
		return false;
	return zs_fetch_and_relaxed(&slot->flags, (uint16_t)~ZSLOT_REFERENCED) & ZSLOT_REFERENCED;
}

long swi_zram_mark_idle(struct zram_store *z, unsigned age_s)
{
	uint32_t now = now_s(z);
	unsigned cpu = swap_cpu();

	for (uint64_t off = 1; off < z->nr_slots; off++) {
		struct zram_slot *slot = &z->slots[off];
		uint16_t flags = zs_load_relaxed(&slot->flags);

		if (!(flags & ZSLOT_WRITTEN) || (flags & ZSLOT_IDLE))
			continue;
		if (age_s && now - zs_load_relaxed(&slot->atime) < age_s)
			continue;
		flags = zs_fetch_or_relaxed(&slot->flags, ZSLOT_IDLE);
		if ((flags & (ZSLOT_WRITTEN | ZSLOT_IDLE)) == ZSLOT_WRITTEN)
			zram_stat_add(z, cpu, ZST_IDLE_PAGES, 1);
	}
	return (long)swap_count_sum(&z->stats, ZST_IDLE_PAGES);
}

/* The index of compressor @name, added if new: >= 0, -EINVAL or -ENOSPC. */
static int find_compressor(struct zram_store *z, const char *name)
{
	struct zcomp c;
	int err = parse_compressor(&c, name), idx = -ENOSPC;

	if (err)
		return err;
	pthread_mutex_lock(&z->comp_lock);
	unsigned n = zs_load_relaxed(&z->nr_comp);
	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(z->comp[i].name, c.name)) {
			idx = (int)i;
			goto out;
		}
	}
	if (n < ZRAM_MAX_COMPRESSORS) {
		z->comp[n] = c;
		zs_store_release(&z->nr_comp, n + 1); /* readers check the index against it */
		idx = (int)n;
	}
out:
	pthread_mutex_unlock(&z->comp_lock);
	return idx;
}

/*
 * Recompress slot @off (owned by the caller) with compressor @idx; keep the result if smaller.
 * 1 if it now is, 0 if not (then marked incompressible), -ENOMEM.
 */
static int recompress_slot(struct zram_store *z, uint64_t off, unsigned idx, unsigned cpu)
{
	struct zram_slot *slot = &z->slots[off];
	uint16_t flags = zs_load_relaxed(&slot->flags), size = slot->size;
	uint8_t page[SWAP_PAGE_SIZE];
	unsigned long handle;
	struct zcomp_strm *s;
	void *obj;
	size_t len;
	int err;

	obj = zs_obj_read_begin(z->pool, slot->handle, NULL);
	if (!obj)
		return 0;
	err = decode(z, (flags & ZSLOT_COMP_MASK) >> ZSLOT_COMP_SHIFT, obj, size, page, cpu);
	zs_obj_read_end(z->pool, slot->handle, obj);
	if (err)
		return 0; /* a corrupt object stays as it is: its reader gets -EIO */
	s = strm_get(z, cpu, z->comp[idx].algo);
	if (!s)
		return -ENOMEM;
	len = compress_page(&z->comp[idx], s, page, size < z->huge_size ? size : z->huge_size);
	if (!len) {
		swap_spin_unlock(&s->lock);
		if (!(zs_fetch_or_relaxed(&slot->flags, ZSLOT_INCOMPRESSIBLE) &
		      ZSLOT_INCOMPRESSIBLE))
			zram_stat_add(z, cpu, ZST_INCOMPRESSIBLE, 1);
		return 0;
	}
	handle = zs_malloc(z->pool, len);
	if (handle)
		zs_obj_write(z->pool, handle, s->buf, len);
	swap_spin_unlock(&s->lock);
	if (!handle)
		return -ENOMEM;
	/* Same age and marks; new object, compressor and size. */
	uint16_t keep = flags & (ZSLOT_IDLE | ZSLOT_REFERENCED);
	uint16_t nflags = ZSLOT_WRITTEN | keep | (uint16_t)(idx << ZSLOT_COMP_SHIFT);
	unsigned long old_handle = slot->handle;

	slot->handle = handle;
	slot->size = (uint16_t)len;
	uint16_t old = set_contents(z, slot, cpu, nflags);
	if ((old & ZSLOT_IDLE) && (nflags & ZSLOT_IDLE))
		zram_stat_add(z, cpu, ZST_IDLE_PAGES, 1);
	free_object(z, old_handle);
	zram_stat_add(z, cpu, ZST_COMPR_SIZE, (int64_t)len - size);
	if (old & ZSLOT_HUGE)
		zram_stat_add(z, cpu, ZST_HUGE_PAGES, -1);
	zram_stat_add(z, cpu, ZST_RECOMPRESSED, 1);
	return 1;
}

long swi_zram_recompress(struct zram_store *z, struct swap_info *si,
			 const struct swap_recompress_opts *o)
{
	unsigned want = o->flags & (SWAP_WB_IDLE | SWAP_WB_HUGE), cpu = swap_cpu();
	long done = 0;
	uint64_t tried = 0;
	int idx;

	idx = find_compressor(z, o->compressor);
	if (idx < 0)
		return idx;
	for (uint64_t off = 1; off < z->nr_slots; off++) {
		unsigned marks = swi_zram_slot_marks(z, off);
		int ret;

		/* A first look at the marks (atomic); the size is read once the slot is ours. */
		if (!(marks & ZRAM_IN_MEMORY) || (marks & SWAP_WB_INCOMPRESSIBLE) ||
		    (marks & want) != want)
			continue;
		if (o->max_pages && tried >= o->max_pages)
			break;
		if (swi_slot_claim(si, off))
			continue;		     /* being read or written, or freed meanwhile */
		marks = swi_zram_slot_marks(z, off); /* again, now that the slot is ours */
		ret = 0;
		if ((marks & ZRAM_IN_MEMORY) && (marks & want) == want &&
		    z->slots[off].size >= o->threshold &&
		    ((zs_load_relaxed(&z->slots[off].flags) & ZSLOT_COMP_MASK) >>
		     ZSLOT_COMP_SHIFT) != (unsigned)idx) {
			ret = recompress_slot(z, off, (unsigned)idx, cpu);
			tried++;
		}
		swi_slot_drop_claim(si, off, cpu);
		if (ret < 0)
			return done ? done : ret;
		done += ret;
	}
	return done;
}

struct zs_pool *swi_zram_pool(struct zram_store *z)
{
	return z->pool;
}

unsigned long swi_zram_limit_pages(struct zram_store *z)
{
	return z->limit_pages;
}

void swi_zram_fill_stats(struct zram_store *z, struct swap_area_stats *st)
{
	struct zs_pool_stats ps;

	zs_pool_stats(z->pool, &ps);
	st->orig_data_size = (uint64_t)swap_count_sum(&z->stats, ZST_PAGES_STORED) * SWAP_PAGE_SIZE;
	st->compr_data_size = (uint64_t)swap_count_sum(&z->stats, ZST_COMPR_SIZE);
	st->mem_used_total = (uint64_t)ps.pages_used * SWAP_PAGE_SIZE;
	st->mem_used_max = (uint64_t)ps.pages_peak * SWAP_PAGE_SIZE;
	st->mem_limit = z->mem_limit;
	st->same_pages = (uint64_t)swap_count_sum(&z->stats, ZST_SAME_PAGES);
	st->huge_pages = (uint64_t)swap_count_sum(&z->stats, ZST_HUGE_PAGES);
	st->pages_compacted = ps.pages_compacted;
	st->idle_pages = (uint64_t)swap_count_sum(&z->stats, ZST_IDLE_PAGES);
	st->recompressed = (uint64_t)swap_count_sum(&z->stats, ZST_RECOMPRESSED);
	st->incompressible = (uint64_t)swap_count_sum(&z->stats, ZST_INCOMPRESSIBLE);
	st->wb_pages = (uint64_t)swap_count_sum(&z->stats, ZST_ELSEWHERE);
	snprintf(st->compressor, sizeof(st->compressor), "%s", z->comp[0].name);
}

int swi_zram_corrupt(struct zram_store *z, uint64_t off)
{
	struct zram_slot *slot = &z->slots[off];
	uint16_t flags = zs_load_relaxed(&slot->flags);
	void *p;

	if (!(flags & ZSLOT_WRITTEN))
		return -EINVAL;
	if (flags & (ZSLOT_SAME | ZSLOT_HUGE | ZSLOT_ELSEWHERE))
		return -EOPNOTSUPP;
	p = zs_map_object(z->pool, slot->handle, ZS_MM_RW);
	if (!p)
		return -EINVAL;
	memset(p, 0xff, slot->size);
	zs_unmap_object(z->pool, slot->handle);
	return 0;
}

/* ---- the memory area's backend ---------------------------------------------------------- */

struct zram_backend {
	struct swap_backend base;
	struct zram_store *store;
	struct swap_info *si;
};

static inline struct zram_backend *to_zram(struct swap_backend *b)
{
	return (struct zram_backend *)b; /* base is the first member */
}

static bool zram_claims(const struct swap_area_opts *o)
{
	return o->path == NULL && o->backing_path == NULL;
}

static int zram_check(const struct swap_area_opts *o)
{
	if (o->nr_pages < 2 || o->nr_pages > SWAP_MAX_PAGES || o->label || o->nr_bad_pages ||
	    o->bad_pages || o->flags || o->backing_pages || o->backing_flags || o->wb_low_percent ||
	    o->writeback_limit)
		return -EINVAL;
	return swi_zram_check_name(o->compressor);
}

static int zram_create(const struct swap_area_opts *o, const struct swap_backend_env *env,
		       struct swap_backend **b, struct swap_backend_layout *layout)
{
	struct zram_store_opts so = {o->compressor, o->nr_pages, o->mem_limit, env->type};
	struct zram_backend *zb = calloc(1, sizeof(*zb));
	int err;

	if (!zb)
		return -ENOMEM;
	err = swi_zram_create(&so, &zb->store);
	if (err) {
		free(zb);
		return err;
	}
	zb->base.ops = &swi_zram_backend_ops;
	zb->si = env->si;
	*layout = (struct swap_backend_layout){.max = o->nr_pages};
	*b = &zb->base;
	return 0;
}

static void zram_destroy(struct swap_backend *b)
{
	swi_zram_destroy(to_zram(b)->store);
	free(b);
}

static int zram_write(struct swap_backend *b, uint64_t off, const void *page, unsigned cpu)
{
	return swi_zram_store(to_zram(b)->store, off, page, cpu, 0);
}

static int zram_read(struct swap_backend *b, uint64_t off, void *page, unsigned cpu)
{
	return swi_zram_load(to_zram(b)->store, off, page, cpu);
}

static void zram_discard(struct swap_backend *b, uint64_t off, unsigned cpu)
{
	swi_zram_forget(to_zram(b)->store, off, cpu);
}

static void zram_fill_stats(struct swap_backend *b, struct swap_area_stats *st)
{
	swi_zram_fill_stats(to_zram(b)->store, st);
}

static long zram_compact(struct swap_backend *b)
{
	return (long)zs_compact(to_zram(b)->store->pool);
}

static struct zs_pool *zram_pool(struct swap_backend *b)
{
	return to_zram(b)->store->pool;
}

static int zram_corrupt(struct swap_backend *b, uint64_t off)
{
	return swi_zram_corrupt(to_zram(b)->store, off);
}

static long zram_mark_idle(struct swap_backend *b, unsigned age_s)
{
	return swi_zram_mark_idle(to_zram(b)->store, age_s);
}

static long zram_recompress(struct swap_backend *b, const struct swap_recompress_opts *o)
{
	return swi_zram_recompress(to_zram(b)->store, to_zram(b)->si, o);
}

const struct swap_backend_ops swi_zram_backend_ops = {
    .name = "memory",
    .kind = SWAP_AREA_MEMORY,
    .claims = zram_claims,
    .check = zram_check,
    .create = zram_create,
    .destroy = zram_destroy,
    .write = zram_write,
    .read = zram_read,
    .discard = zram_discard,
    .fill_stats = zram_fill_stats,
    .compact = zram_compact,
    .pool = zram_pool,
    .corrupt = zram_corrupt,
    .mark_idle = zram_mark_idle,
    .recompress = zram_recompress,
};
