/*
 * The size-class table and how objects are placed in it.
 *  - The table (zs_nr_classes, zs_class_stats) and zs_lookup_class_index() for every size
 *    1..4096 against an independent model (least tail waste, ties to the shorter chain,
 *    kernel-style merging walking down from 4096, huge classes) for max_pages_per_zspage
 *    1, 4, 8 (default, and 0 in the options) and 16; the reported chain length gives the
 *    least waste of all chains; zs_huge_class_size().
 *  - ZS_POOL_NO_PACK: every object is counted in exactly the class the lookup names.
 *  - Cross-class packing: an object lands in its own class or one at most pack_bytes
 *    larger, and its free is accounted to the same class.
 *  - Fullness: ratio buckets follow the in-use count of each zspage as objects come and
 *    go; a new zspage is opened only when every zspage of the class is full; allocation
 *    fills the fullest non-full zspage; the slots of a zspage are contiguous.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

#define SEED 0xc1a55

static void check_table(struct zs_pool *pool, unsigned int max_pages)
{
	static struct zt_model m;
	struct zs_class_stats cs;
	unsigned int n, nr, prev_size = 0;
	size_t size;

	zt_model_build(&m, max_pages);
	nr = zs_nr_classes(pool);
	cr_assert_eq(nr, m.nr_phys, "P=%u: %u physical classes, model has %u", max_pages, nr,
		     m.nr_phys);

	for (n = 0; n < nr; n++) {
		const struct zt_class *c = &m.c[m.phys[n]];
		unsigned int q, waste;

		cr_assert_eq(zs_class_stats(pool, n, &cs), 0, "zs_class_stats(%u) failed", n);
		cr_assert_gt(cs.size, prev_size, "P=%u: classes not in increasing size at #%u",
			     max_pages, n);
		prev_size = cs.size;
		cr_assert_eq(cs.index, m.phys[n], "P=%u: class #%u has index %u, model %u",
			     max_pages, n, cs.index, m.phys[n]);
		cr_assert_eq(cs.size, c->size, "P=%u: class #%u size %u, model %u", max_pages, n,
			     cs.size, c->size);
		cr_assert_eq(cs.size, ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA * cs.index);
		cr_assert_eq(cs.pages_per_zspage, c->pages,
			     "P=%u: class %u (size %u): %u pages per zspage, model %u", max_pages,
			     cs.index, cs.size, cs.pages_per_zspage, c->pages);
		cr_assert_eq(cs.objs_per_zspage, c->objs,
			     "P=%u: class %u (size %u): %u objs per zspage, model %u", max_pages,
			     cs.index, cs.size, cs.objs_per_zspage, c->objs);

		/* the reported chain itself: in range, consistent, and least waste */
		cr_assert(cs.pages_per_zspage >= 1 && cs.pages_per_zspage <= max_pages);
		cr_assert_eq(cs.objs_per_zspage, cs.pages_per_zspage * ZT_PAGE / cs.size);
		waste = cs.pages_per_zspage * ZT_PAGE - cs.objs_per_zspage * cs.size;
		for (q = 1; q <= max_pages; q++) {
			unsigned int w = (q * ZT_PAGE) % cs.size;

			cr_assert_leq(waste, w,
				      "P=%u: size %u wastes %u bytes with %u pages, %u with %u",
				      max_pages, cs.size, waste, cs.pages_per_zspage, w, q);
			if (q < cs.pages_per_zspage)
				cr_assert_neq(waste, w,
					      "P=%u: size %u: %u pages waste as little as %u",
					      max_pages, cs.size, q, cs.pages_per_zspage);
		}

		/* a fresh pool holds nothing */
		cr_assert_eq(cs.obj_allocated, 0);
		cr_assert_eq(cs.obj_used, 0);
		cr_assert_eq(cs.pages_used, 0);
		cr_assert_eq(cs.freeable, 0);
	}

	for (size = 1; size <= ZS_MAX_ALLOC_SIZE; size++) {
		int got = zs_lookup_class_index(pool, size);
		unsigned int want = zt_model_lookup(&m, size);

		cr_assert_eq(got, (int)want, "P=%u: zs_lookup_class_index(%zu) = %d, model %u",
			     max_pages, size, got, want);
		cr_assert_geq(m.c[want].size, size);
	}

	cr_assert_eq(zs_huge_class_size(pool), m.huge_size,
		     "P=%u: zs_huge_class_size = %zu, model %zu", max_pages,
		     zs_huge_class_size(pool), m.huge_size);
	/* at and above it, one object per zspage; just below it, more */
	for (size = m.huge_size; size <= ZS_MAX_ALLOC_SIZE; size++)
		cr_assert_eq(m.c[zt_model_lookup(&m, size)].objs, 1);
	cr_assert_gt(m.c[zt_model_lookup(&m, m.huge_size - 1)].objs, 1);
	cr_assert(zt_class_by_index(pool, zs_lookup_class_index(pool, m.huge_size), &cs));
	cr_assert_eq(cs.objs_per_zspage, 1, "P=%u: size %zu goes to a class with %u objects",
		     max_pages, m.huge_size, cs.objs_per_zspage);
	cr_assert_eq(cs.pages_per_zspage, 1);
	cr_assert(zt_class_by_index(pool, zs_lookup_class_index(pool, m.huge_size - 1), &cs));
	cr_assert_gt(
	    cs.objs_per_zspage, 1,
	    "P=%u: size %zu (below the huge size) goes to a class with one object per zspage",
	    max_pages, m.huge_size - 1);
}

Test(classes, table_default_pool)
{
	struct zs_pool *pool = zs_create_pool("default");

	check_table(pool, ZS_DEFAULT_PAGES_PER_ZSPAGE);
	zs_destroy_pool(pool);
}

Test(classes, table_zero_option_means_default)
{
	struct zs_pool *pool = zt_pool(0, 0, 0);

	check_table(pool, ZS_DEFAULT_PAGES_PER_ZSPAGE);
	zs_destroy_pool(pool);
}

Test(classes, table_max_pages_1)
{
	struct zs_pool *pool = zt_pool(1, 0, 0);

	check_table(pool, 1);
	zs_destroy_pool(pool);
}

Test(classes, table_max_pages_4)
{
	struct zs_pool *pool = zt_pool(4, 0, 0);

	check_table(pool, 4);
	zs_destroy_pool(pool);
}

Test(classes, table_max_pages_16)
{
	struct zs_pool *pool = zt_pool(16, ZS_POOL_NO_PACK, 0);

	check_table(pool, 16);
	zs_destroy_pool(pool);
}

/* Snapshot of obj_used of every physical class, by position. */
struct usage {
	unsigned int nr;
	unsigned int index[ZS_SIZE_CLASSES];
	unsigned int size[ZS_SIZE_CLASSES];
	unsigned long used[ZS_SIZE_CLASSES];
};

static void snap(struct zs_pool *pool, struct usage *u)
{
	struct zs_class_stats cs;
	unsigned int n;

	u->nr = zs_nr_classes(pool);
	for (n = 0; n < u->nr; n++) {
		cr_assert_eq(zs_class_stats(pool, n, &cs), 0);
		u->index[n] = cs.index;
		u->size[n] = cs.size;
		u->used[n] = cs.obj_used;
	}
}

/* The single class whose obj_used moved by @delta between @a and @b; asserts uniqueness. */
static unsigned int moved_class(const struct usage *a, const struct usage *b, long delta,
				const char *what)
{
	unsigned int n, found = ~0u;

	cr_assert_eq(a->nr, b->nr);
	for (n = 0; n < a->nr; n++) {
		long d = (long)b->used[n] - (long)a->used[n];

		if (d == 0)
			continue;
		cr_assert_eq(d, delta, "%s: class %u obj_used moved by %ld", what, a->index[n], d);
		cr_assert_eq(found, ~0u, "%s: classes %u and %u both moved", what, a->index[found],
			     a->index[n]);
		found = n;
	}
	cr_assert_neq(found, ~0u, "%s: no class obj_used moved", what);
	return found;
}

/*
 * Random allocations and frees, each one's accounting located by diffing the per-class
 * obj_used: an object goes to its lookup class, or (packing) one at most @pack bytes
 * bigger, and its free comes out of the same class.
 */
static void placement(struct zs_pool *pool, unsigned int pack, uint64_t seed)
{
	enum { N = 1500, OPS = 4000 };
	static unsigned long h[N];
	static size_t size[N];
	static unsigned int where[N];
	static struct usage a, b;
	unsigned long packed = 0, live = 0, bytes = 0;
	struct zt_rng r;
	unsigned int op;

	memset(h, 0, sizeof(h));
	zt_rng_seed(&r, seed);
	snap(pool, &a);
	for (op = 0; op < OPS; op++) {
		unsigned int i = zt_below(&r, N), n;

		if (h[i]) {
			long bad = zt_check_handle(pool, h[i], size[i], SEED);

			cr_assert_eq(bad, -1, "%#lx (size %zu) damaged at %ld", h[i], size[i], bad);
			cr_assert_eq(zs_free(pool, h[i]), 0);
			snap(pool, &b);
			n = moved_class(&a, &b, -1, "free");
			cr_assert_eq(
			    n, where[i],
			    "object of %zu bytes was counted in class %u, freed from class %u",
			    size[i], a.index[where[i]], a.index[n]);
			h[i] = 0;
			live--;
			bytes -= size[i];
		} else {
			int own;
			unsigned int own_size;

			size[i] = zt_range(&r, 1, ZS_MAX_ALLOC_SIZE);
			own = zs_lookup_class_index(pool, size[i]);
			cr_assert_geq(own, 0);
			own_size = ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA * own;
			h[i] = zt_alloc_stamped(pool, size[i], SEED);
			cr_assert_neq(h[i], 0);
			snap(pool, &b);
			n = moved_class(&a, &b, 1, "alloc");
			where[i] = n;
			cr_assert_geq(
			    b.size[n], own_size,
			    "%zu bytes placed in class of %u bytes, below its own class (%u)",
			    size[i], b.size[n], own_size);
			cr_assert_leq(
			    b.size[n], own_size + pack,
			    "%zu bytes (own class %u) placed in class of %u bytes, pack limit %u",
			    size[i], own_size, b.size[n], pack);
			if (b.size[n] != own_size)
				packed++;
			live++;
			bytes += size[i];
		}
		a = b;
	}
	zt_assert_pool_consistent(pool, live, bytes);
	cr_log_info("pack %u: %lu allocations packed into a larger class", pack, packed);
	for (op = 0; op < N; op++)
		if (h[op])
			cr_assert_eq(zs_free(pool, h[op]), 0);
	zt_assert_pool_consistent(pool, 0, 0);
}

Test(classes, no_pack_places_in_lookup_class, .timeout = 60)
{
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, 0);

	placement(pool, 0, 1);
	zs_destroy_pool(pool);
}

Test(classes, packing_within_default_bound, .timeout = 60)
{
	struct zs_pool *pool = zs_create_pool("pack64");

	placement(pool, ZS_DEFAULT_PACK_BYTES, 2);
	zs_destroy_pool(pool);
}

Test(classes, packing_within_configured_bound, .timeout = 60)
{
	struct zs_pool_opts o;
	struct zs_pool *pool;

	memset(&o, 0, sizeof(o));
	o.pack_bytes = 16;
	pool = zs_create_pool_opts("pack16", &o);
	cr_assert_not_null(pool);
	placement(pool, 16, 3);
	zs_destroy_pool(pool);
}

/* Every size 1..4096 live at once in a NO_PACK pool: per-class counts match the model. */
Test(classes, no_pack_every_size_counts)
{
	static struct zt_model m;
	static unsigned long h[ZS_MAX_ALLOC_SIZE + 1];
	unsigned long want[ZS_SIZE_CLASSES] = {0};
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, 0);
	struct zs_class_stats cs;
	unsigned int n, nr;
	size_t size;

	zt_model_build(&m, ZS_DEFAULT_PAGES_PER_ZSPAGE);
	for (size = 1; size <= ZS_MAX_ALLOC_SIZE; size++) {
		h[size] = zt_alloc_stamped(pool, size, SEED);
		cr_assert_neq(h[size], 0);
		want[zt_model_lookup(&m, size)]++;
	}
	nr = zs_nr_classes(pool);
	for (n = 0; n < nr; n++) {
		unsigned long zsp;

		cr_assert_eq(zs_class_stats(pool, n, &cs), 0);
		zsp = (want[cs.index] + cs.objs_per_zspage - 1) / cs.objs_per_zspage;
		cr_assert_eq(cs.obj_used, want[cs.index],
			     "class %u (size %u): %lu objects, want %lu", cs.index, cs.size,
			     cs.obj_used, want[cs.index]);
		/* filled in order: as few zspages as possible */
		cr_assert_eq(cs.obj_allocated, zsp * cs.objs_per_zspage,
			     "class %u (size %u): %lu slots for %lu objects (%u per zspage)",
			     cs.index, cs.size, cs.obj_allocated, cs.obj_used, cs.objs_per_zspage);
	}
	for (size = 1; size <= ZS_MAX_ALLOC_SIZE; size++) {
		cr_assert_eq(zt_check_handle(pool, h[size], size, SEED), -1);
		cr_assert_eq(zs_free(pool, h[size]), 0);
	}
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}

/* ---- fullness groups ---- */

#define MAXZSP 3

struct fclass {
	struct zs_pool *pool;
	unsigned int index, size, objs, pages;
	unsigned int inuse[MAXZSP];
	unsigned char *lo[MAXZSP]; /* first slot of each zspage */
};

static void check_hist(struct fclass *f, const char *when)
{
	unsigned long want[ZS_NR_RATIO_BUCKETS] = {0};
	unsigned int j, b, empty = 0, used = 0;
	struct zs_class_stats cs;

	for (j = 0; j < MAXZSP; j++) {
		if (f->inuse[j] == 0)
			empty++;
		else
			want[zt_ratio_bucket(f->inuse[j], f->objs)]++;
		used += f->inuse[j];
	}
	cr_assert(zt_class_by_index(f->pool, f->index, &cs));
	cr_assert_eq(cs.obj_used, used, "%s: obj_used %lu, want %u", when, cs.obj_used, used);
	for (b = 1; b < ZS_NR_RATIO_BUCKETS; b++)
		cr_assert_eq(cs.zspages[b], want[b],
			     "%s (in use %u/%u/%u of %u): bucket %u has %lu zspages, want %lu",
			     when, f->inuse[0], f->inuse[1], f->inuse[2], f->objs, b, cs.zspages[b],
			     want[b]);
	/* an emptied zspage is either released or counted as empty */
	cr_assert_leq(cs.zspages[0], empty, "%s: %lu empty zspages, at most %u expected", when,
		      cs.zspages[0], empty);
	cr_assert_eq(cs.obj_allocated, (MAXZSP - empty + cs.zspages[0]) * f->objs,
		     "%s: obj_allocated %lu", when, cs.obj_allocated);
}

static unsigned char *ptr_of(struct fclass *f, unsigned long h)
{
	unsigned char *p = zs_map_object(f->pool, h, ZS_MM_RO);

	cr_assert_not_null(p);
	zs_unmap_object(f->pool, h);
	return p;
}

/* Which zspage a pointer is in, checking it sits on a slot boundary. */
static unsigned int zspage_of(struct fclass *f, unsigned char *p)
{
	unsigned int j;

	for (j = 0; j < MAXZSP; j++) {
		if (p >= f->lo[j] && p < f->lo[j] + (size_t)f->objs * f->size) {
			cr_assert_eq((size_t)(p - f->lo[j]) % f->size, 0,
				     "pointer %p is not on a slot boundary of zspage %u", (void *)p,
				     j);
			return j;
		}
	}
	cr_assert_fail("pointer %p is in none of the class's zspages", (void *)p);
	return 0;
}

static void fullness(unsigned int want_pages, unsigned int min_objs)
{
	static struct zt_model m;
	struct fclass f;
	unsigned long *h;
	unsigned char **ptr;
	struct zs_class_stats cs;
	unsigned int i, j, n, total;
	unsigned char *p, *hole;
	unsigned long x;

	memset(&f, 0, sizeof(f));
	zt_model_build(&m, ZS_DEFAULT_PAGES_PER_ZSPAGE);
	for (i = 0; i < m.nr_phys; i++) {
		const struct zt_class *c = &m.c[m.phys[i]];

		if (c->pages >= want_pages && c->objs >= min_objs && c->objs <= 64) {
			f.index = m.phys[i];
			f.size = c->size;
			f.objs = c->objs;
			f.pages = c->pages;
			break;
		}
	}
	cr_assert_neq(f.size, 0, "no class with %u pages and %u objects", want_pages, min_objs);
	f.pool = zt_pool(0, ZS_POOL_NO_PACK | ZS_POOL_NO_TCACHE, 0);
	n = f.objs;
	total = MAXZSP * n;
	h = calloc(total, sizeof(*h));
	ptr = calloc(total, sizeof(*ptr));
	cr_assert(h && ptr);

	/* fill three zspages, one object at a time: a new zspage only when the last is full */
	for (i = 0; i < total; i++) {
		h[i] = zt_alloc_stamped(f.pool, f.size, SEED);
		cr_assert_neq(h[i], 0);
		ptr[i] = ptr_of(&f, h[i]);
		cr_assert(zt_class_by_index(f.pool, f.index, &cs));
		cr_assert_eq(cs.obj_allocated, (i / n + 1) * n,
			     "after %u allocations of %u bytes: %lu slots, want %u", i + 1, f.size,
			     cs.obj_allocated, (i / n + 1) * n);
	}
	/* each group of n is one zspage: n contiguous equal slots */
	for (j = 0; j < MAXZSP; j++) {
		unsigned char *lo = ptr[j * n], *hi = ptr[j * n];

		for (i = j * n; i < (j + 1) * n; i++) {
			if (ptr[i] < lo)
				lo = ptr[i];
			if (ptr[i] > hi)
				hi = ptr[i];
		}
		cr_assert_eq((size_t)(hi - lo), (size_t)(n - 1) * f.size,
			     "zspage %u: slots span %zu bytes, want %zu", j, (size_t)(hi - lo),
			     (size_t)(n - 1) * f.size);
		f.lo[j] = lo;
		f.inuse[j] = n;
	}
	for (i = 0; i < total; i++)
		cr_assert_eq(zspage_of(&f, ptr[i]), i / n);
	check_hist(&f, "three full zspages");
	cr_assert(zt_class_by_index(f.pool, f.index, &cs));
	cr_assert_eq(cs.pages_used, MAXZSP * f.pages,
		     "three full zspages of %u pages hold %lu pages", f.pages, cs.pages_used);
	cr_assert_eq(cs.freeable, 0);

	/* one hole in zspage 0, two in zspage 1 */
	cr_assert_eq(zs_free(f.pool, h[0]), 0);
	f.inuse[0]--;
	check_hist(&f, "one freed from zspage 0");
	cr_assert_eq(zs_free(f.pool, h[n]), 0);
	cr_assert_eq(zs_free(f.pool, h[n + 1]), 0);
	f.inuse[1] -= 2;
	check_hist(&f, "two freed from zspage 1");

	/* the next allocation fills the hole of the fullest zspage (0) */
	x = zt_alloc_stamped(f.pool, f.size, SEED);
	cr_assert_neq(x, 0);
	p = ptr_of(&f, x);
	cr_assert_eq(p, ptr[0],
		     "allocation went to %p (zspage %u), not to the hole %p of the fullest zspage",
		     (void *)p, zspage_of(&f, p), (void *)ptr[0]);
	h[0] = x;
	f.inuse[0]++;
	check_hist(&f, "hole in zspage 0 refilled");
	/* then the holes of zspage 1 */
	x = zt_alloc_stamped(f.pool, f.size, SEED);
	cr_assert_neq(x, 0);
	p = ptr_of(&f, x);
	cr_assert(p == ptr[n] || p == ptr[n + 1],
		  "allocation went to %p (zspage %u), not to a hole of zspage 1", (void *)p,
		  zspage_of(&f, p));
	/* from here on h[n] is the live one of the two, h[n + 1] the hole */
	h[n] = x;
	ptr[n] = p;
	h[n + 1] = 0;
	f.inuse[1]++;
	check_hist(&f, "one hole in zspage 1 refilled");

	/* empty zspage 2 one object at a time: it walks down the buckets */
	for (i = 2 * n; i < 3 * n; i++) {
		char what[64];

		cr_assert_eq(zs_free(f.pool, h[i]), 0);
		h[i] = 0;
		f.inuse[2]--;
		snprintf(what, sizeof(what), "zspage 2 down to %u", f.inuse[2]);
		check_hist(&f, what);
	}
	cr_assert(zt_class_by_index(f.pool, f.index, &cs));
	cr_assert_eq(cs.pages_used, 2 * f.pages,
		     "two zspages in use (one with one hole) but %lu pages resident",
		     cs.pages_used);

	/* zspage 1 has one hole and zspage 2 is empty (or gone): the hole is taken */
	x = zt_alloc_stamped(f.pool, f.size, SEED);
	cr_assert_neq(x, 0);
	p = ptr_of(&f, x);
	cr_assert_eq(zspage_of(&f, p), 1,
		     "allocation went to zspage %u, not into the hole of zspage 1",
		     zspage_of(&f, p));
	h[n + 1] = x;
	ptr[n + 1] = p;
	f.inuse[1]++;
	check_hist(&f, "zspage 1 full again");

	/* zspage 0 at n-1, zspage 1 at about half: the hole of zspage 0 wins */
	hole = ptr[1];
	cr_assert_eq(zs_free(f.pool, h[1]), 0);
	h[1] = 0;
	f.inuse[0]--;
	for (i = n; i < n + n / 2; i++) {
		cr_assert_eq(zs_free(f.pool, h[i]), 0);
		h[i] = 0;
		f.inuse[1]--;
	}
	check_hist(&f, "zspage 0 nearly full, zspage 1 half");
	x = zt_alloc_stamped(f.pool, f.size, SEED);
	cr_assert_neq(x, 0);
	p = ptr_of(&f, x);
	cr_assert_eq(
	    p, hole,
	    "allocation went to %p (zspage %u), not to the hole %p of the fullest zspage 0",
	    (void *)p, zspage_of(&f, p), (void *)hole);
	h[1] = x;
	f.inuse[0]++;
	check_hist(&f, "zspage 0 full again");

	/* everything still intact, then gone */
	for (i = 0; i < total; i++) {
		if (!h[i])
			continue;
		cr_assert_eq(zt_check_handle(f.pool, h[i], f.size, SEED), -1, "object %#lx damaged",
			     h[i]);
		cr_assert_eq(zs_free(f.pool, h[i]), 0);
	}
	cr_assert(zt_class_by_index(f.pool, f.index, &cs));
	cr_assert_eq(cs.obj_used, 0);
	cr_assert_eq(cs.pages_used, 0, "no objects but %lu pages resident", cs.pages_used);
	zt_assert_pool_consistent(f.pool, 0, 0);
	free(h);
	free(ptr);
	zs_destroy_pool(f.pool);
}

Test(classes, fullness_single_page_zspages)
{
	fullness(1, 10);
}

Test(classes, fullness_multi_page_zspages)
{
	fullness(3, 10);
}
