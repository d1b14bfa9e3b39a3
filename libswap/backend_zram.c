/*
 * The compressed-memory backend (zram-like) over a libzs pool.
 *
 * Per slot we keep a 16-byte record: the zs handle (or, for a same-filled page, the repeated
 * word), the stored size and flags.  A page is stored as, in order of preference:
 *   - same-filled: one 8-byte word repeated 512 times (zero pages above all); no allocation;
 *   - compressed, when the result is shorter than zs_huge_class_size(): the compressor writes
 *     into the CPU's stream buffer, then zs_malloc + zs_obj_write copy it into the pool (the
 *     size must be known before the object is allocated; the copy is of the compressed bytes);
 *   - raw (huge) otherwise: the 4096 bytes go to a page-sized object as they are (zstd is
 *     told the output must fit below the huge size, so it gives up early; lz4 runs to the end
 *     into a worst-case-sized buffer, which spares it its output checks and is faster over a
 *     typical page mix).
 * Reads decompress straight from the pool object into the caller's buffer.
 *
 * Measured here, compressing into the stream buffer and copying the result is as fast as any
 * way of writing into the pool directly: the pool object can only be allocated once the size
 * is known, and the copy of ~2 KiB of hot data costs about 1% of the compression.
 *
 * Compression contexts are per CPU (struct zcomp_strm), each with its own lock, created on
 * first use; lz4 needs none to decompress, zstd uses the CPU's DCtx.  A slot's record is only
 * written by the holder of the slot's swap-cache claim or, when the slot is freed, under its
 * cluster lock, so it needs no lock of its own.
 *
 * Its figures (zram's mm_stat: pages stored, compressed bytes, same-filled and huge pages) are
 * per-CPU counters of its own.
 *
 * Lock order here: the stream lock is taken with no libswap lock held, and libzs's locks are
 * taken inside it (zs_malloc).  A discard runs under a cluster lock and calls zs_free.
 *
 * This file may not touch swap_map bytes, clusters or the swap cache.
 */
#include <errno.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "backend.h"
#include "counters.h"
#include "spinlock.h"
#include "zs/zsmalloc.h"

enum zcomp_algo { ZCOMP_LZ4, ZCOMP_ZSTD };

/* The stream buffer: lz4's worst case for a page, so that lz4 never checks for room. */
#define ZCOMP_BUF_SIZE LZ4_COMPRESSBOUND(SWAP_PAGE_SIZE)

#define ZSLOT_WRITTEN 0x1u
#define ZSLOT_SAME    0x2u
#define ZSLOT_HUGE    0x4u

struct zram_slot {
	unsigned long handle; /* zs handle, or the repeated word of a same-filled page */
	uint32_t size;	      /* bytes stored in the object */
	uint32_t flags;	      /* ZSLOT_* */
};

struct zcomp_strm {
	struct swap_spinlock lock;
	void *lz4_state;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *buf; /* compressed output (ZCOMP_BUF_SIZE); kept if shorter than huge_size */
} __attribute__((aligned(SWAP_CACHELINE)));

/* The backend's counters (struct zram_backend.stats). */
enum zram_stat_item {
	ZST_PAGES_STORED, /* orig_data_size / 4096 */
	ZST_COMPR_SIZE,
	ZST_SAME_PAGES,
	ZST_HUGE_PAGES,
	ZST_NR_ITEMS
};

struct zram_backend {
	struct swap_backend base;
	struct zs_pool *pool;
	enum zcomp_algo algo;
	int level;
	char name[16];
	size_t huge_size;	   /* compressed sizes >= this are stored raw */
	unsigned long limit_pages; /* pool pages allowed; 0 = no limit */
	uint64_t mem_limit;
	struct zram_slot *slots;
	struct zcomp_strm *strm;
	struct swap_counters stats;
};

static inline struct zram_backend *to_zram(struct swap_backend *b)
{
	return (struct zram_backend *)b; /* base is the first member */
}

static inline void zram_stat_add(struct zram_backend *z, unsigned cpu, enum zram_stat_item item,
				 int64_t v)
{
	swap_count_add(&z->stats, cpu, item, v);
}

/* "lz4", NULL, "zstd" or "zstd:LEVEL". */
static int parse_compressor(struct zram_backend *z, const char *name)
{
	if (!name || !strcmp(name, "lz4")) {
		z->algo = ZCOMP_LZ4;
		snprintf(z->name, sizeof(z->name), "lz4");
		return 0;
	}
	if (!strncmp(name, "zstd", 4) && (name[4] == 0 || name[4] == ':')) {
		z->algo = ZCOMP_ZSTD;
		z->level = ZSTD_CLEVEL_DEFAULT;
		if (name[4] == ':') {
			char *end;
			long lv;
			errno = 0;
			lv = strtol(name + 5, &end, 10);
			if (errno || end == name + 5 || *end || lv < ZSTD_minCLevel() ||
			    lv > ZSTD_maxCLevel() || lv == 0)
				return -EINVAL;
			z->level = (int)lv;
		}
		snprintf(z->name, sizeof(z->name), "zstd:%d", z->level);
		return 0;
	}
	return -EINVAL;
}

static void zram_destroy(struct swap_backend *b)
{
	struct zram_backend *z = to_zram(b);

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
	free(z);
}

static bool zram_claims(const struct swap_area_opts *o)
{
	return o->path == NULL;
}

static int zram_check(const struct swap_area_opts *o)
{
	struct zram_backend probe;

	if (o->nr_pages < 2 || o->nr_pages > SWAP_MAX_PAGES || o->label || o->nr_bad_pages ||
	    o->bad_pages || o->flags)
		return -EINVAL;
	return parse_compressor(&probe, o->compressor);
}

static int zram_create(const struct swap_area_opts *o, const struct swap_backend_env *env,
		       struct swap_backend **b, struct swap_backend_layout *layout)
{
	struct zram_backend *z = calloc(1, sizeof(*z));
	char pool_name[32];

	if (!z)
		return -ENOMEM;
	z->base.ops = &swi_zram_backend_ops;
	parse_compressor(z, o->compressor); /* checked */
	snprintf(pool_name, sizeof(pool_name), "libswap-%d", env->type);
	z->pool = zs_create_pool(pool_name);
	z->slots = calloc(o->nr_pages, sizeof(*z->slots));
	z->strm = aligned_alloc(SWAP_CACHELINE, sizeof(*z->strm) * swi_nr_cpus);
	/* Zeroed before any failure return: the destroy path frees what the streams hold. */
	if (z->strm)
		memset(z->strm, 0, sizeof(*z->strm) * swi_nr_cpus);
	if (!z->pool || !z->slots || !z->strm || swap_counters_init(&z->stats, ZST_NR_ITEMS)) {
		zram_destroy(&z->base);
		return -ENOMEM;
	}
	z->huge_size = zs_huge_class_size(z->pool);
	if (z->huge_size < 2 || z->huge_size > SWAP_PAGE_SIZE)
		z->huge_size = SWAP_PAGE_SIZE;
	z->mem_limit = o->mem_limit;
	z->limit_pages = (unsigned long)((o->mem_limit + SWAP_PAGE_SIZE - 1) / SWAP_PAGE_SIZE);
	*layout = (struct swap_backend_layout){.max = o->nr_pages};
	*b = &z->base;
	return 0;
}

/* The CPU's stream, locked, with its contexts created; NULL if they cannot be. */
static struct zcomp_strm *strm_get(struct zram_backend *z, unsigned cpu)
{
	struct zcomp_strm *s = &z->strm[cpu];

	swap_spin_lock(&s->lock);
	if (unlikely(!s->buf)) {
		s->buf = malloc(ZCOMP_BUF_SIZE);
		if (z->algo == ZCOMP_LZ4) {
			s->lz4_state = malloc((size_t)LZ4_sizeofState());
		} else {
			s->cctx = ZSTD_createCCtx();
			s->dctx = ZSTD_createDCtx();
		}
		if (!s->buf || (z->algo == ZCOMP_LZ4 ? !s->lz4_state : !s->cctx || !s->dctx)) {
			free(s->buf);
			free(s->lz4_state);
			ZSTD_freeCCtx(s->cctx);
			ZSTD_freeDCtx(s->dctx);
			memset((char *)s + sizeof(s->lock), 0, sizeof(*s) - sizeof(s->lock));
			swap_spin_unlock(&s->lock);
			return NULL;
		}
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

/* Compress @page into s->buf; the length, or 0 if it is not shorter than z->huge_size. */
static size_t compress_page(struct zram_backend *z, struct zcomp_strm *s, const void *page)
{
	if (z->algo == ZCOMP_LZ4) {
		/* A buffer of the full bound lets lz4 skip its output checks (about 1% faster on
		 * a typical page mix than stopping incompressible pages at the huge size). */
		int n = LZ4_compress_fast_extState(s->lz4_state, page, (char *)s->buf,
						   SWAP_PAGE_SIZE, ZCOMP_BUF_SIZE, 1);
		return n > 0 && (size_t)n < z->huge_size ? (size_t)n : 0;
	} else {
		/* zstd stops as soon as the output cannot fit */
		size_t n = ZSTD_compressCCtx(s->cctx, s->buf, z->huge_size - 1, page,
					     SWAP_PAGE_SIZE, z->level);
		return ZSTD_isError(n) ? 0 : n;
	}
}

static void zram_discard(struct swap_backend *b, uint64_t off, unsigned cpu)
{
	struct zram_backend *z = to_zram(b);
	struct zram_slot *slot = &z->slots[off];

	if (!(slot->flags & ZSLOT_WRITTEN))
		return;
	if (slot->flags & ZSLOT_SAME) {
		zram_stat_add(z, cpu, ZST_SAME_PAGES, -1);
	} else {
		zs_free(z->pool, slot->handle);
		zram_stat_add(z, cpu, ZST_COMPR_SIZE, -(int64_t)slot->size);
		if (slot->flags & ZSLOT_HUGE)
			zram_stat_add(z, cpu, ZST_HUGE_PAGES, -1);
	}
	zram_stat_add(z, cpu, ZST_PAGES_STORED, -1);
	slot->flags = 0;
	slot->handle = 0;
	slot->size = 0;
}

/*
 * Store @page in slot @off.  A rewrite (through swap_writepage) keeps the old record until the
 * new one is stored: if storing fails, the slot still holds what it held.
 */
static int zram_write(struct swap_backend *b, uint64_t off, const void *page, unsigned cpu)
{
	struct zram_backend *z = to_zram(b);
	struct zram_slot *slot = &z->slots[off];
	struct zcomp_strm *s;
	unsigned long handle, word;
	const void *src;
	size_t len;
	uint32_t flags = ZSLOT_WRITTEN;

	if (page_same_filled(page, &word)) {
		if (unlikely(slot->flags & ZSLOT_WRITTEN))
			zram_discard(b, off, cpu);
		slot->handle = word;
		slot->size = 0;
		slot->flags = ZSLOT_WRITTEN | ZSLOT_SAME;
		zram_stat_add(z, cpu, ZST_SAME_PAGES, 1);
		zram_stat_add(z, cpu, ZST_PAGES_STORED, 1);
		return 0;
	}

	/* Full: refuse before compressing.  The check after the allocation below catches the
	 * allocation that crosses the limit; the pool can then be over it by the pages that one
	 * allocation made resident (libzs trims a zspage's tail only when it compacts). */
	if (z->limit_pages && zs_get_total_pages(z->pool) >= z->limit_pages)
		return -ENOSPC;
	s = strm_get(z, cpu);
	if (!s)
		return -ENOMEM;
	len = compress_page(z, s, page);
	if (len) {
		src = s->buf;
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
	if (z->limit_pages && zs_get_total_pages(z->pool) > z->limit_pages) {
		zs_free(z->pool, handle);
		return -ENOSPC;
	}
	if (unlikely(slot->flags & ZSLOT_WRITTEN))
		zram_discard(b, off, cpu);
	slot->handle = handle;
	slot->size = (uint32_t)len;
	slot->flags = flags;
	zram_stat_add(z, cpu, ZST_COMPR_SIZE, (int64_t)len);
	if (flags & ZSLOT_HUGE)
		zram_stat_add(z, cpu, ZST_HUGE_PAGES, 1);
	zram_stat_add(z, cpu, ZST_PAGES_STORED, 1);
	return 0;
}

static int zram_read(struct swap_backend *b, uint64_t off, void *page, unsigned cpu)
{
	struct zram_backend *z = to_zram(b);
	struct zram_slot *slot = &z->slots[off];
	const char *src;
	void *obj;
	int err = 0;

	if (unlikely(!(slot->flags & ZSLOT_WRITTEN)))
		return -EIO;
	if (slot->flags & ZSLOT_SAME) {
		page_fill(page, slot->handle);
		return 0;
	}
	src = obj = zs_obj_read_begin(z->pool, slot->handle, NULL);
	if (unlikely(!obj))
		return -EIO;
	if (slot->flags & ZSLOT_HUGE) {
		memcpy(page, src, SWAP_PAGE_SIZE);
	} else if (z->algo == ZCOMP_LZ4) {
		if (LZ4_decompress_safe(src, page, (int)slot->size, SWAP_PAGE_SIZE) !=
		    SWAP_PAGE_SIZE)
			err = -EIO;
	} else {
		struct zcomp_strm *s = strm_get(z, cpu);
		if (!s) {
			err = -ENOMEM;
		} else {
			size_t n =
			    ZSTD_decompressDCtx(s->dctx, page, SWAP_PAGE_SIZE, src, slot->size);
			if (ZSTD_isError(n) || n != SWAP_PAGE_SIZE)
				err = -EIO;
			swap_spin_unlock(&s->lock);
		}
	}
	zs_obj_read_end(z->pool, slot->handle, obj);
	return err;
}

static void zram_fill_stats(struct swap_backend *b, struct swap_area_stats *st)
{
	struct zram_backend *z = to_zram(b);
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
	snprintf(st->compressor, sizeof(st->compressor), "%s", z->name);
}

static long zram_compact(struct swap_backend *b)
{
	return (long)zs_compact(to_zram(b)->pool);
}

static struct zs_pool *zram_pool(struct swap_backend *b)
{
	return to_zram(b)->pool;
}

static int zram_corrupt(struct swap_backend *b, uint64_t off)
{
	struct zram_backend *z = to_zram(b);
	struct zram_slot *slot = &z->slots[off];
	void *p;

	if (!(slot->flags & ZSLOT_WRITTEN))
		return -EINVAL;
	if (slot->flags & (ZSLOT_SAME | ZSLOT_HUGE))
		return -EOPNOTSUPP;
	p = zs_map_object(z->pool, slot->handle, ZS_MM_RW);
	if (!p)
		return -EINVAL;
	memset(p, 0xff, slot->size);
	zs_unmap_object(z->pool, slot->handle);
	return 0;
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
};
