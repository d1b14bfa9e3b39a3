/*
 * Shared helpers for the libzs Criterion suite:
 *  - the generator (test_util.h's splitmix64) as a struct, and a size distribution shaped
 *    like compressed 4 KiB pages;
 *  - payload stamping: every object's bytes are derived from (handle, size, seed), and
 *    objects of 16 bytes or more begin with those three values, so a payload can be
 *    checked by whoever holds the handle, with no other bookkeeping;
 *  - a reader for /proc/self/maps (statm is test_util.h's);
 *  - an independent model of the size-class table (chain length with the least tail
 *    waste, kernel-style merging, huge classes), computed from first principles;
 *  - pool statistics helpers (field-by-field comparison, cross-checks between the pool
 *    counters and the per-class counters).
 *
 * Everything is static inline so that each test file can include this header and use
 * only what it needs without warnings.
 */
#ifndef ZS_TEST_UTIL_H
#define ZS_TEST_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zs/zsmalloc.h>

#include "sanitizer.h"
#include "test_util.h"

/* 1 in a DEBUG=1 build (the Makefile defines it for the tests too): the library then runs its
 * validators, and detects some caller errors it otherwise cannot. */
#ifndef ZS_DEBUG
#define ZS_DEBUG 0
#endif

#define ZT_PAGE	     4096UL
#define ZT_MIB	     (1024UL * 1024UL)
#define ZT_STAMP_HDR 16

/* ---- PRNG ---- */

struct zt_rng {
	uint64_t s;
};

static inline void zt_rng_seed(struct zt_rng *r, uint64_t seed)
{
	r->s = tu_mix64(seed);
}

static inline uint64_t zt_rand(struct zt_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return tu_mix64(r->s);
}

/* Uniform in [0, n). */
static inline uint64_t zt_below(struct zt_rng *r, uint64_t n)
{
	return zt_rand(r) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t zt_range(struct zt_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + zt_below(r, hi - lo + 1);
}

/*
 * Object sizes shaped like compressed pages: 20% tiny (1..256), 50% middling
 * (257..2048), 30% large (2049..4096).  Mean about 1.5 KiB.
 */
static inline size_t zt_rand_size(struct zt_rng *r)
{
	uint64_t k = zt_below(r, 10);

	if (k < 2)
		return zt_range(r, 1, 256);
	if (k < 7)
		return zt_range(r, 257, 2048);
	return zt_range(r, 2049, ZS_MAX_ALLOC_SIZE);
}

/* Fisher-Yates shuffle of an array of indexes. */
static inline void zt_shuffle(struct zt_rng *r, size_t *v, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = zt_below(r, i);
		size_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* ---- payload stamping ---- */

static inline uint64_t zt_stamp_key(unsigned long handle, size_t size, uint32_t seed)
{
	return tu_mix64(handle ^ tu_mix64(((uint64_t)size << 32) | seed));
}

/* Fill @size bytes at @dst with the payload of (handle, size, seed). */
static inline void zt_stamp(void *dst, unsigned long handle, size_t size, uint32_t seed)
{
	unsigned char *p = dst;
	uint64_t key = zt_stamp_key(handle, size, seed);
	size_t i = 0;

	if (size >= ZT_STAMP_HDR) {
		uint64_t h = handle;
		uint32_t s32 = (uint32_t)size;

		memcpy(p, &h, 8);
		memcpy(p + 8, &s32, 4);
		memcpy(p + 12, &seed, 4);
		i = ZT_STAMP_HDR;
	}
	for (; i < size; i += 8) {
		uint64_t w = tu_mix64(key + i);
		size_t n = size - i < 8 ? size - i : 8;

		memcpy(p + i, &w, n);
	}
}

/* -1 if the payload of (handle, size, seed) is intact at @src, else the first bad offset. */
static inline long zt_check(const void *src, unsigned long handle, size_t size, uint32_t seed)
{
	unsigned char want[ZS_MAX_ALLOC_SIZE];
	const unsigned char *p = src;
	size_t i;

	if (size > ZS_MAX_ALLOC_SIZE)
		return 0;
	zt_stamp(want, handle, size, seed);
	if (memcmp(p, want, size) == 0)
		return -1;
	for (i = 0; i < size; i++)
		if (p[i] != want[i])
			return (long)i;
	return -1;
}

/* Map @handle read-only, check its payload, unmap.  Same return as zt_check(); -2 if the
 * map failed. */
static inline long zt_check_handle(struct zs_pool *pool, unsigned long handle, size_t size,
				   uint32_t seed)
{
	void *p = zs_map_object(pool, handle, ZS_MM_RO);
	long bad;

	if (!p)
		return -2;
	bad = zt_check(p, handle, size, seed);
	zs_unmap_object(pool, handle);
	return bad;
}

/* Allocate and stamp one object; 0 on failure. */
static inline unsigned long zt_alloc_stamped(struct zs_pool *pool, size_t size, uint32_t seed)
{
	unsigned long h = zs_malloc(pool, size);
	void *p;

	if (!h)
		return 0;
	p = zs_map_object(pool, h, ZS_MM_WO);
	if (!p) {
		zs_free(pool, h);
		return 0;
	}
	zt_stamp(p, h, size, seed);
	zs_unmap_object(pool, h);
	return h;
}

/* ---- /proc readers ---- */

static inline size_t zt_rss_bytes(void)
{
	return tu_rss_bytes();
}

static inline size_t zt_vm_bytes(void)
{
	return tu_vm_bytes();
}

static inline long zt_nr_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

/* ---- independent model of the size-class table ---- */

struct zt_class {
	unsigned int size;  /* this class's own size, 32 + 8 * i */
	unsigned int pages; /* chain length with the least tail waste */
	unsigned int objs;  /* pages * 4096 / size */
	unsigned int waste; /* pages * 4096 - objs * size */
	unsigned int phys;  /* index of the physical class it shares */
	bool huge;	    /* objs == 1 */
};

struct zt_model {
	unsigned int max_pages;
	struct zt_class c[ZS_SIZE_CLASSES];
	unsigned int nr_phys;
	unsigned int phys[ZS_SIZE_CLASSES]; /* physical class indexes, increasing */
	size_t huge_size; /* smallest x such that x and every larger size are huge */
};

static inline void zt_model_build(struct zt_model *m, unsigned int max_pages)
{
	int i, prev = -1;

	memset(m, 0, sizeof(*m));
	m->max_pages = max_pages;
	for (i = ZS_SIZE_CLASSES - 1; i >= 0; i--) {
		unsigned int size = ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA * i;
		unsigned int p, best = 1, best_waste = ~0u;
		struct zt_class *c = &m->c[i];

		for (p = 1; p <= max_pages; p++) {
			unsigned int w = (p * ZT_PAGE) % size;

			if (w < best_waste) {
				best_waste = w;
				best = p;
			}
		}
		c->size = size;
		c->pages = best;
		c->objs = best * ZT_PAGE / size;
		c->waste = best * ZT_PAGE - c->objs * size;
		c->huge = c->objs == 1;
		if (prev >= 0 && m->c[prev].pages == c->pages && m->c[prev].objs == c->objs) {
			c->phys = prev;
		} else {
			c->phys = i;
			prev = i;
		}
	}
	for (i = 0; i < ZS_SIZE_CLASSES; i++)
		if (m->c[i].phys == (unsigned int)i)
			m->phys[m->nr_phys++] = i;
	for (i = ZS_SIZE_CLASSES - 1; i >= 0; i--)
		if (!m->c[i].huge)
			break;
	m->huge_size = ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA * i + 1;
}

/* Own (unmerged) class index of an object of @size (1..4096). */
static inline unsigned int zt_own_index(size_t size)
{
	if (size <= ZS_MIN_ALLOC_SIZE)
		return 0;
	return (size - ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA - 1) / ZS_SIZE_CLASS_DELTA;
}

/* Physical class index of an object of @size (1..4096). */
static inline unsigned int zt_model_lookup(const struct zt_model *m, size_t size)
{
	return m->c[zt_own_index(size)].phys;
}

/* ---- pool statistics helpers ---- */

/* Find the stats of the physical class with index @index; false if it is not listed. */
static inline bool zt_class_by_index(struct zs_pool *pool, unsigned int index,
				     struct zs_class_stats *out)
{
	unsigned int n, nr = zs_nr_classes(pool);

	for (n = 0; n < nr; n++) {
		if (zs_class_stats(pool, n, out))
			return false;
		if (out->index == index)
			return true;
	}
	return false;
}

static inline unsigned int zt_ratio_bucket(unsigned long inuse, unsigned long objs)
{
	if (inuse == 0)
		return 0;
	if (inuse == objs)
		return ZS_NR_RATIO_BUCKETS - 1;
	return 1 + (100 * inuse / objs) / 10;
}

#define zt_assert_pool_stats_eq(a, b, what)                                                        \
	do {                                                                                       \
		const struct zs_pool_stats *_a = (a), *_b = (b);                                   \
		cr_assert_eq(_a->pages_compacted, _b->pages_compacted,                             \
			     "%s: pages_compacted %lu -> %lu", what, _a->pages_compacted,          \
			     _b->pages_compacted);                                                 \
		cr_assert_eq(_a->pages_used, _b->pages_used, "%s: pages_used %lu -> %lu", what,    \
			     _a->pages_used, _b->pages_used);                                      \
		cr_assert_eq(_a->pages_peak, _b->pages_peak, "%s: pages_peak %lu -> %lu", what,    \
			     _a->pages_peak, _b->pages_peak);                                      \
		cr_assert_eq(_a->objs_allocated, _b->objs_allocated,                               \
			     "%s: objs_allocated %lu -> %lu", what, _a->objs_allocated,            \
			     _b->objs_allocated);                                                  \
		cr_assert_eq(_a->objs_used, _b->objs_used, "%s: objs_used %lu -> %lu", what,       \
			     _a->objs_used, _b->objs_used);                                        \
		cr_assert_eq(_a->bytes_used, _b->bytes_used, "%s: bytes_used %lu -> %lu", what,    \
			     _a->bytes_used, _b->bytes_used);                                      \
		cr_assert_eq(_a->meta_bytes, _b->meta_bytes, "%s: meta_bytes %lu -> %lu", what,    \
			     _a->meta_bytes, _b->meta_bytes);                                      \
	} while (0)

/*
 * Cross-check a quiescent pool: the per-class counters add up to the pool counters, each
 * class's ratio buckets add up to its zspage count, and each class is internally sane.
 * @objs_used and @bytes_used are what the caller knows to be live (pass ~0UL to skip).
 */
static inline void zt_assert_pool_consistent(struct zs_pool *pool, unsigned long objs_used,
					     unsigned long bytes_used)
{
	struct zs_pool_stats st;
	struct zs_class_stats cs;
	unsigned long sum_alloc = 0, sum_used = 0, sum_pages = 0;
	unsigned int n, nr = zs_nr_classes(pool);

	zs_pool_stats(pool, &st);
	cr_assert_eq(st.pages_used, zs_get_total_pages(pool),
		     "pages_used %lu != zs_get_total_pages %lu", st.pages_used,
		     zs_get_total_pages(pool));
	cr_assert_geq(st.pages_peak, st.pages_used, "pages_peak %lu < pages_used %lu",
		      st.pages_peak, st.pages_used);
	cr_assert_leq(st.objs_used, st.objs_allocated, "objs_used %lu > objs_allocated %lu",
		      st.objs_used, st.objs_allocated);
	if (objs_used != ~0UL)
		cr_assert_eq(st.objs_used, objs_used, "objs_used %lu, expected %lu", st.objs_used,
			     objs_used);
	if (bytes_used != ~0UL)
		cr_assert_eq(st.bytes_used, bytes_used, "bytes_used %lu, expected %lu",
			     st.bytes_used, bytes_used);

	for (n = 0; n < nr; n++) {
		unsigned long zspages = 0;
		unsigned int b;

		cr_assert_eq(zs_class_stats(pool, n, &cs), 0, "zs_class_stats(%u) failed", n);
		cr_assert_eq(cs.size, ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA * cs.index,
			     "class %u: size %u does not match index", cs.index, cs.size);
		cr_assert_gt(cs.objs_per_zspage, 0, "class %u: objs_per_zspage 0", cs.index);
		cr_assert_eq(cs.obj_allocated % cs.objs_per_zspage, 0,
			     "class %u: obj_allocated %lu not a multiple of objs_per_zspage %u",
			     cs.index, cs.obj_allocated, cs.objs_per_zspage);
		cr_assert_leq(cs.obj_used, cs.obj_allocated,
			      "class %u: obj_used %lu > obj_allocated %lu", cs.index, cs.obj_used,
			      cs.obj_allocated);
		for (b = 0; b < ZS_NR_RATIO_BUCKETS; b++)
			zspages += cs.zspages[b];
		cr_assert_eq(
		    zspages, cs.obj_allocated / cs.objs_per_zspage,
		    "class %u: ratio buckets add up to %lu zspages, obj_allocated says %lu",
		    cs.index, zspages, cs.obj_allocated / cs.objs_per_zspage);
		cr_assert_leq(cs.pages_used, zspages * cs.pages_per_zspage,
			      "class %u: pages_used %lu > %lu zspages * %u pages", cs.index,
			      cs.pages_used, zspages, cs.pages_per_zspage);
		if (cs.obj_used == 0)
			cr_assert_eq(cs.pages_used, 0,
				     "class %u: no live objects but %lu pages resident", cs.index,
				     cs.pages_used);
		sum_alloc += cs.obj_allocated;
		sum_used += cs.obj_used;
		sum_pages += cs.pages_used;
	}
	cr_assert_eq(sum_alloc, st.objs_allocated, "classes obj_allocated %lu != pool %lu",
		     sum_alloc, st.objs_allocated);
	cr_assert_eq(sum_used, st.objs_used, "classes obj_used %lu != pool objs_used %lu", sum_used,
		     st.objs_used);
	cr_assert_eq(sum_pages + st.pages_cached, st.pages_used,
		     "classes pages_used %lu + pages_cached %lu != pool %lu", sum_pages,
		     st.pages_cached, st.pages_used);
}

/* Sum of the freeable counts of every class. */
static inline unsigned long zt_total_freeable(struct zs_pool *pool)
{
	struct zs_class_stats cs;
	unsigned long sum = 0;
	unsigned int n, nr = zs_nr_classes(pool);

	for (n = 0; n < nr; n++)
		if (zs_class_stats(pool, n, &cs) == 0)
			sum += cs.freeable;
	return sum;
}

static inline struct zs_pool *zt_pool(unsigned int max_pages, unsigned int flags,
				      unsigned long auto_compact)
{
	struct zs_pool_opts o;
	struct zs_pool *pool;

	memset(&o, 0, sizeof(o));
	o.max_pages_per_zspage = max_pages;
	o.flags = flags;
	o.auto_compact_pages = auto_compact;
	pool = zs_create_pool_opts("test", &o);
	cr_assert_not_null(pool, "zs_create_pool_opts(max_pages %u, flags %#x) failed: %s",
			   max_pages, flags, strerror(errno));
	return pool;
}

#endif /* ZS_TEST_UTIL_H */
