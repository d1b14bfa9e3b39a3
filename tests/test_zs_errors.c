/*
 * Error paths of every public call: zs_malloc sizes 0 and > 4096 and a NULL pool; zs_free,
 * zs_map_object, zs_obj_read_begin, zs_obj_write, zs_obj_size and zs_unmap_object on
 * handles that are freed, never issued (0, 1, random values, pointers, neighbours and
 * bit flips of live handles) or from another pool -- each rejected with EINVAL and the
 * pool's statistics and live data untouched; bad map modes; zs_obj_write longer than the
 * object; zs_obj_write of nothing from NULL (valid); zs_free of a mapped object (-EBUSY, the
 * object untouched; always in a DEBUG=1 build); zs_class_stats out of range or with NULL
 * arguments; zs_create_pool_opts with
 * invalid options; zs_lookup_class_index out of range; zs_dump_classes with NULL
 * arguments or an unwritable stream; ENOMEM when the address space runs out (RLIMIT_AS),
 * after which the pool still works.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

#define SEED 0x5eed

Test(errors, malloc_bad_sizes)
{
	/* clang-format off */
	static const size_t bad[] = { 0, ZS_MAX_ALLOC_SIZE + 1, ZS_MAX_ALLOC_SIZE + 8, 8192,
				      65536, (size_t)INT_MAX + 1, SIZE_MAX, SIZE_MAX - 4095 };
	/* clang-format on */
	struct zs_pool *pool = zs_create_pool("bad-sizes");
	struct zs_pool_stats before, after;
	unsigned long keep = zt_alloc_stamped(pool, 100, SEED);
	size_t i;

	cr_assert_neq(keep, 0);
	zs_pool_stats(pool, &before);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_eq(zs_malloc(pool, bad[i]), 0, "zs_malloc(%zu) succeeded", bad[i]);
		cr_assert_eq(errno, EINVAL, "zs_malloc(%zu): errno %d, want EINVAL", bad[i], errno);
	}
	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, "zs_malloc with bad sizes");
	cr_assert_eq(zt_check_handle(pool, keep, 100, SEED), -1);

	/* the limits themselves are fine */
	for (i = 1; i <= ZS_MAX_ALLOC_SIZE; i += ZS_MAX_ALLOC_SIZE - 1) {
		unsigned long h = zs_malloc(pool, i);

		cr_assert_neq(h, 0, "zs_malloc(%zu) failed", i);
		cr_assert_eq(zs_free(pool, h), 0);
	}
	cr_assert_eq(zs_free(pool, keep), 0);
	zs_destroy_pool(pool);
}

Test(errors, null_pool)
{
	struct zs_class_stats cs;

	errno = 0;
	cr_assert_eq(zs_malloc(NULL, 100), 0);
	cr_assert_eq(errno, EINVAL, "zs_malloc(NULL pool): errno %d", errno);
	cr_assert_eq(zs_class_stats(NULL, 0, &cs), -EINVAL);
	cr_assert_eq(zs_dump_classes(NULL, stderr), -EINVAL);
	zs_destroy_pool(NULL);
}

/* Every operation on a handle that is not live must fail cleanly and touch nothing. */
static void assert_rejected(struct zs_pool *pool, unsigned long h, const char *what)
{
	struct zs_pool_stats before, after;
	unsigned char buf[64];
	void *p;

	memset(buf, 0x3c, sizeof(buf));
	zs_pool_stats(pool, &before);

	cr_assert_eq(zs_free(pool, h), -EINVAL, "zs_free(%s %#lx) did not fail", what, h);

	errno = 0;
	p = zs_map_object(pool, h, ZS_MM_RO);
	cr_assert_null(p, "zs_map_object(%s %#lx) returned %p", what, h, p);
	cr_assert_eq(errno, EINVAL, "zs_map_object(%s %#lx): errno %d", what, h, errno);

	errno = 0;
	p = zs_obj_read_begin(pool, h, buf);
	cr_assert_null(p, "zs_obj_read_begin(%s %#lx) returned %p", what, h, p);
	cr_assert_eq(errno, EINVAL, "zs_obj_read_begin(%s %#lx): errno %d", what, h, errno);

	cr_assert_eq(zs_obj_write(pool, h, buf, 1), -EINVAL, "zs_obj_write(%s %#lx) did not fail",
		     what, h);

	errno = 0;
	cr_assert_eq(zs_obj_size(pool, h), 0, "zs_obj_size(%s %#lx) = %zu", what, h,
		     zs_obj_size(pool, h));
	cr_assert_eq(errno, EINVAL, "zs_obj_size(%s %#lx): errno %d", what, h, errno);

	/* ignored */
	zs_unmap_object(pool, h);

	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, what);
}

struct livesets {
	struct zs_pool *pool;
	unsigned long *h;
	size_t *size;
	size_t n;
	unsigned long *sorted;
};

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static bool is_live(const struct livesets *l, unsigned long h)
{
	return bsearch(&h, l->sorted, l->n, sizeof(h), cmp_ulong) != NULL;
}

static void livesets_init(struct livesets *l, struct zs_pool *pool, size_t n, uint64_t seed)
{
	struct zt_rng r;
	size_t i;

	zt_rng_seed(&r, seed);
	l->pool = pool;
	l->n = n;
	l->h = calloc(n, sizeof(*l->h));
	l->size = calloc(n, sizeof(*l->size));
	l->sorted = calloc(n, sizeof(*l->sorted));
	cr_assert(l->h && l->size && l->sorted);
	for (i = 0; i < n; i++) {
		l->size[i] = zt_rand_size(&r);
		l->h[i] = zt_alloc_stamped(pool, l->size[i], SEED);
		cr_assert_neq(l->h[i], 0);
		l->sorted[i] = l->h[i];
	}
	qsort(l->sorted, n, sizeof(*l->sorted), cmp_ulong);
}

static void livesets_check_and_free(struct livesets *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		long bad = zt_check_handle(l->pool, l->h[i], l->size[i], SEED);

		cr_assert_eq(bad, -1, "live %#lx (size %zu) damaged at %ld", l->h[i], l->size[i],
			     bad);
		cr_assert_eq(zs_obj_size(l->pool, l->h[i]), l->size[i]);
		cr_assert_eq(zs_free(l->pool, l->h[i]), 0, "free of live %#lx failed", l->h[i]);
	}
	free(l->h);
	free(l->size);
	free(l->sorted);
}

Test(errors, never_issued_handles, .timeout = 60)
{
	struct zs_pool *pool = zs_create_pool("never-issued");
	struct livesets l;
	struct zt_rng r;
	/* clang-format off */
	unsigned long fixed[] = { 0, 1, 2, 3, 4, 7, 8, 15, 16, 0xff, 0x100, 0xfff, 0x1000,
				  0xffff, 0x10000, 0xdeadbeef, 0xffffffffUL, 0x100000000UL,
				  ~0UL, ~0UL - 1, ~0UL - 7, 1UL << 63, (1UL << 63) - 1,
				  0x5555555555555555UL, 0xaaaaaaaaaaaaaaaaUL, 0, 0, 0 };
	/* clang-format on */
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	unsigned long stackvar = 0;
	void *mapped;
	size_t i;
	int b;

	livesets_init(&l, pool, 200, 1);
	/* things a confused caller might pass for a handle */
	mapped = zs_map_object(pool, l.h[0], ZS_MM_RO);
	cr_assert_not_null(mapped);
	zs_unmap_object(pool, l.h[0]);
	fixed[nfixed - 3] = (unsigned long)pool;
	fixed[nfixed - 2] = (unsigned long)mapped;
	fixed[nfixed - 1] = (unsigned long)&stackvar;
	for (i = 0; i < nfixed; i++)
		if (!is_live(&l, fixed[i]))
			assert_rejected(pool, fixed[i], "fixed value");

	zt_rng_seed(&r, 2);
	for (i = 0; i < 3000; i++) {
		unsigned long v = zt_rand(&r);

		if (i % 3 == 1)
			v &= 0xffffffffUL;
		else if (i % 3 == 2)
			v &= 0xffffUL;
		if (!is_live(&l, v))
			assert_rejected(pool, v, "random value");
	}

	/* neighbours and single-bit corruptions of live handles */
	for (i = 0; i < l.n; i++) {
		unsigned long h = l.h[i];
		/* clang-format off */
		unsigned long near[] = { h + 1, h - 1, h + 2, h + 4, h + 8, h - 8, h + 16,
					 h + 64, h + 4096, h - 4096 };
		/* clang-format on */
		size_t k;

		for (k = 0; k < sizeof(near) / sizeof(near[0]); k++)
			if (!is_live(&l, near[k]))
				assert_rejected(pool, near[k], "neighbour of a live handle");
		for (b = 0; b < 64; b++) {
			unsigned long v = h ^ (1UL << b);

			if (!is_live(&l, v))
				assert_rejected(pool, v, "bit flip of a live handle");
		}
	}
	livesets_check_and_free(&l);
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}

Test(errors, freed_handles)
{
	struct zs_pool *pool = zs_create_pool("freed");
	struct livesets l;
	unsigned long dead[300];
	struct zt_rng r;
	size_t i;

	zt_rng_seed(&r, 3);
	livesets_init(&l, pool, 100, 4);
	for (i = 0; i < 300; i++) {
		dead[i] = zt_alloc_stamped(pool, zt_rand_size(&r), SEED);
		cr_assert_neq(dead[i], 0);
	}
	for (i = 0; i < 300; i++)
		cr_assert_eq(zs_free(pool, dead[i]), 0);
	/* double free, right away and after the slots were reused */
	for (i = 0; i < 300; i++)
		assert_rejected(pool, dead[i], "freed handle");
	for (i = 0; i < 300; i++) {
		unsigned long h = zt_alloc_stamped(pool, zt_rand_size(&r), SEED);

		cr_assert_neq(h, 0);
		cr_assert_eq(zs_free(pool, h), 0);
		cr_assert_eq(zs_free(pool, h), -EINVAL, "second free of %#lx succeeded", h);
	}
	for (i = 0; i < 300; i++)
		assert_rejected(pool, dead[i], "freed handle after reuse");
	livesets_check_and_free(&l);
	zs_destroy_pool(pool);
}

Test(errors, foreign_handles)
{
	struct zs_pool *a = zs_create_pool("a"), *b = zs_create_pool("b");
	struct livesets la, lb;
	size_t i;

	livesets_init(&la, a, 300, 5);
	livesets_init(&lb, b, 300, 6);
	for (i = 0; i < la.n; i++) {
		cr_assert(!is_live(&lb, la.h[i]), "pools a and b both issued %#lx", la.h[i]);
		assert_rejected(b, la.h[i], "handle of another pool");
		cr_assert(!is_live(&la, lb.h[i]), "pools a and b both issued %#lx", lb.h[i]);
		assert_rejected(a, lb.h[i], "handle of another pool");
	}
	livesets_check_and_free(&la);
	livesets_check_and_free(&lb);
	zs_destroy_pool(a);
	zs_destroy_pool(b);
}

/*
 * Many pools live at once: no two may issue the same handle value, or one pool would take
 * another's handle for its own (the header promises that a handle from another pool is
 * always rejected).  Each pool's first handles are compared with every other pool's, and
 * each pool is asked to free the others' handles.
 */
Test(errors, handles_unique_across_many_live_pools, .timeout = 60)
{
	enum { NPOOLS = 1000, PER = 4 };
	static struct zs_pool *pool[NPOOLS];
	static unsigned long h[NPOOLS * PER], sorted[NPOOLS * PER];
	unsigned long dup = 0;
	size_t i, j;

	if (ZT_TSAN)
		cr_skip_test("ThreadSanitizer leaves too little address space for 1000 pools");
	for (i = 0; i < NPOOLS; i++) {
		pool[i] = zs_create_pool("many");
		cr_assert_not_null(pool[i], "pool %zu: %s", i, strerror(errno));
		for (j = 0; j < PER; j++) {
			h[i * PER + j] = zt_alloc_stamped(pool[i], 100 + j, SEED);
			cr_assert_neq(h[i * PER + j], 0);
		}
	}
	memcpy(sorted, h, sizeof(h));
	qsort(sorted, NPOOLS * PER, sizeof(sorted[0]), cmp_ulong);
	for (i = 0; i + 1 < NPOOLS * PER; i++)
		if (sorted[i] == sorted[i + 1])
			dup++;
	if (dup) {
		/* show what it means: find a pair and let one pool free the other's object */
		for (i = 0; i < NPOOLS * PER; i++)
			for (j = i + 1; j < NPOOLS * PER; j++)
				if (h[i] == h[j] && i / PER != j / PER)
					cr_assert_fail(
					    "%lu handle values issued by two live pools; e.g. "
					    "pools #%zu and #%zu both issued %#lx, so zs_free(pool "
					    "#%zu, handle of pool #%zu) = %d",
					    dup, i / PER, j / PER, h[i], j / PER, i / PER,
					    zs_free(pool[j / PER], h[i]));
		cr_assert_fail("%lu handle values issued twice", dup);
	}
	/* a sample of cross-pool frees */
	for (i = 0; i < NPOOLS; i++) {
		size_t other = (i * 7 + 1) % NPOOLS;

		if (other != i)
			cr_assert_eq(zs_free(pool[i], h[other * PER]), -EINVAL);
	}
	for (i = 0; i < NPOOLS; i++) {
		for (j = 0; j < PER; j++) {
			cr_assert_eq(zt_check_handle(pool[i], h[i * PER + j], 100 + j, SEED), -1);
			cr_assert_eq(zs_free(pool[i], h[i * PER + j]), 0);
		}
		zs_destroy_pool(pool[i]);
	}
}

Test(errors, handles_of_destroyed_pool)
{
	struct zs_pool *a = zs_create_pool("a"), *c = zs_create_pool("doomed");
	unsigned long dead[200];
	struct livesets la;
	struct zt_rng r;
	size_t i;

	zt_rng_seed(&r, 8);
	for (i = 0; i < 200; i++) {
		dead[i] = zt_alloc_stamped(c, zt_rand_size(&r), SEED);
		cr_assert_neq(dead[i], 0);
	}
	zs_destroy_pool(c);
	livesets_init(&la, a, 300, 9);
	for (i = 0; i < 200; i++)
		if (!is_live(&la, dead[i]))
			assert_rejected(a, dead[i], "handle of a destroyed pool");
	livesets_check_and_free(&la);
	zs_destroy_pool(a);
}

Test(errors, bad_map_mode)
{
	struct zs_pool *pool = zs_create_pool("mm");
	struct zs_pool_stats before, after;
	static const int bad[] = {3, 4, 100, -1, INT_MAX, INT_MIN};
	unsigned long h = zt_alloc_stamped(pool, 500, SEED);
	size_t i;

	cr_assert_neq(h, 0);
	zs_pool_stats(pool, &before);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *p;

		errno = 0;
		p = zs_map_object(pool, h, (enum zs_mapmode)bad[i]);
		cr_assert_null(p, "zs_map_object with mode %d returned %p", bad[i], p);
		cr_assert_eq(errno, EINVAL, "mode %d: errno %d", bad[i], errno);
	}
	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, "bad map modes");
	cr_assert_eq(zt_check_handle(pool, h, 500, SEED), -1);
	cr_assert_eq(zs_free(pool, h), 0);
	zs_destroy_pool(pool);
}

/* zs_obj_write() longer than the object fails and leaves it untouched. */
Test(errors, obj_write_too_long)
{
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, 0);
	static unsigned char buf[2 * ZS_MAX_ALLOC_SIZE];
	/* sizes equal to a class size, inside a class, the smallest, the largest */
	static const size_t sizes[] = {64, 100, 1, 31, 32, 33, 2047, 3000, 4095, 4096};
	size_t k;

	memset(buf, 0xee, sizeof(buf));
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k];
		size_t lens[] = {size + 1, size + 8, ZS_MAX_ALLOC_SIZE + 1, sizeof(buf), SIZE_MAX};
		unsigned long h = zt_alloc_stamped(pool, size, SEED);
		size_t j;
		long bad;

		cr_assert_neq(h, 0);
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
			cr_assert_eq(zs_obj_write(pool, h, buf, lens[j]), -EINVAL,
				     "object of %zu bytes accepted a %zu-byte write", size,
				     lens[j]);
		bad = zt_check_handle(pool, h, size, SEED);
		cr_assert_eq(bad, -1, "failed writes changed the %zu-byte object at %ld", size,
			     bad);
		cr_assert_eq(zs_obj_write(pool, h, buf, size), 0,
			     "a write of exactly %zu bytes failed", size);
		cr_assert_eq(zs_free(pool, h), 0);
	}
	zs_destroy_pool(pool);
}

/*
 * zs_obj_write(pool, h, NULL, 0) is documented as valid: it returns 0 and changes nothing, for
 * objects in zspages and huge ones (the SANITIZE=address,undefined run aborts on a memcpy
 * from NULL, even of 0 bytes).  NULL with a length is refused, as is a dead handle.
 */
Test(errors, obj_write_nothing_from_null)
{
	struct zs_pool *pool = zs_create_pool("write-null");
	static const size_t sizes[] = {1, 100, 3000, ZS_MAX_ALLOC_SIZE};

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		unsigned long h = zt_alloc_stamped(pool, sizes[k], SEED);

		cr_assert_neq(h, 0);
		cr_assert_eq(zs_obj_write(pool, h, NULL, 0), 0,
			     "zs_obj_write(NULL, 0) of a %zu-byte object failed", sizes[k]);
		cr_assert_eq(zs_obj_write(pool, h, NULL, 1), -EINVAL);
		cr_assert_eq(zt_check_handle(pool, h, sizes[k], SEED), -1,
			     "the %zu-byte object changed", sizes[k]);
		cr_assert_eq(zs_free(pool, h), 0);
		cr_assert_eq(zs_obj_write(pool, h, NULL, 0), -EINVAL, "write to a freed handle");
	}
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}

/* zs_free(@h) is refused with -EBUSY and changes nothing; the mapping @p stays good. */
static void assert_free_refused(struct zs_pool *pool, unsigned long h, size_t size, const void *p,
				const char *what)
{
	struct zs_pool_stats before, after;

	zs_pool_stats(pool, &before);
	cr_assert_eq(zs_free(pool, h), -EBUSY, "%s: zs_free of the mapped %zu-byte object", what,
		     size);
	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, what);
	cr_assert_eq(zs_obj_size(pool, h), size, "%s: the object is gone", what);
	cr_assert_eq(zt_check(p, h, size, SEED), -1, "%s: the object changed under its mapping",
		     what);
}

/*
 * zs_free of an object that is still mapped is refused with -EBUSY and leaves it alone: it
 * stays live, mapped and intact, and its unmap then counts, so once it is freed (and
 * everything else) the pool gives every page back.  Before, the free succeeded, the later
 * unmap was ignored, and the zspage's pin kept its pages for the pool's life.  Mapped with
 * zs_map_object or zs_obj_read_begin, in zspages of two classes with neighbours around it
 * (themselves freed next to the mapping: no false refusal).  Huge objects carry no pin; a
 * DEBUG=1 build refuses them too.
 */
Test(errors, free_of_mapped_object)
{
	static const size_t sizes[] = {100, 3000, ZS_MAX_ALLOC_SIZE};
	enum { N = 8 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct zs_pool *pool = zs_create_pool("free-mapped");
		size_t size = sizes[k];
		bool detected = size < zs_huge_class_size(pool) || ZS_DEBUG;
		unsigned long h[N];
		struct zs_pool_stats st;
		void *p;

		for (int i = 0; i < N; i++)
			cr_assert_neq(h[i] = zt_alloc_stamped(pool, size, SEED), 0);

		p = zs_map_object(pool, h[0], ZS_MM_RO);
		cr_assert_not_null(p);
		if (detected)
			assert_free_refused(pool, h[0], size, p, "mapped");
		/* a neighbour that is not mapped frees normally meanwhile */
		cr_assert_eq(zs_free(pool, h[1]), 0, "the %zu-byte neighbour of a mapped object",
			     size);
		zs_unmap_object(pool, h[0]);
		cr_assert_eq(zs_free(pool, h[0]), 0, "after its unmap");

		p = zs_obj_read_begin(pool, h[2], NULL);
		cr_assert_not_null(p);
		if (detected)
			assert_free_refused(pool, h[2], size, p, "read_begin");
		zs_obj_read_end(pool, h[2], p);
		cr_assert_eq(zs_free(pool, h[2]), 0, "after zs_obj_read_end");

		/* mapped and unmapped before: nothing to refuse */
		p = zs_map_object(pool, h[3], ZS_MM_RW);
		cr_assert_not_null(p);
		zs_unmap_object(pool, h[3]);
		cr_assert_eq(zs_free(pool, h[3]), 0, "an object mapped and unmapped before");

		for (int i = 4; i < N; i++)
			cr_assert_eq(zs_free(pool, h[i]), 0);
		zs_compact(pool);
		zs_pool_stats(pool, &st);
		cr_assert_eq(st.pages_used, 0, "%zu-byte objects: %lu pages held after freeing all",
			     size, st.pages_used);
		zt_assert_pool_consistent(pool, 0, 0);
		zs_destroy_pool(pool);
	}
}

/*
 * A DEBUG=1 build counts each object's mappings, so zs_free refuses every mapped object:
 * one of several mapped in its zspage, one mapped twice and unmapped once.
 */
Test(errors, free_of_mapped_object_debug)
{
	if (!ZS_DEBUG)
		cr_skip_test("exact detection of mapped objects needs a DEBUG=1 build");
	struct zs_pool *pool = zs_create_pool("free-mapped-debug");
	unsigned long a = zt_alloc_stamped(pool, 200, SEED), b = zt_alloc_stamped(pool, 200, SEED);
	void *pa = zs_map_object(pool, a, ZS_MM_RO), *pb = zs_map_object(pool, b, ZS_MM_RO);

	cr_assert(a && b && pa && pb);
	assert_free_refused(pool, a, 200, pa, "mapped before another object of its zspage");
	assert_free_refused(pool, b, 200, pb, "mapped last");
	cr_assert_eq(zs_map_object(pool, a, ZS_MM_RO), pa);
	zs_unmap_object(pool, a);
	assert_free_refused(pool, a, 200, pa, "mapped twice, unmapped once");
	zs_unmap_object(pool, a);
	zs_unmap_object(pool, b);
	cr_assert_eq(zs_free(pool, a), 0);
	cr_assert_eq(zs_free(pool, b), 0);
	zs_compact(pool);
	zt_assert_pool_consistent(pool, 0, 0);
	cr_assert_eq(zs_get_total_pages(pool), 0);
	zs_destroy_pool(pool);
}

Test(errors, class_stats_out_of_range)
{
	struct zs_pool *pool = zs_create_pool("cs");
	struct zs_class_stats cs;
	unsigned int nr = zs_nr_classes(pool);

	cr_assert_gt(nr, 0);
	cr_assert_leq(nr, ZS_SIZE_CLASSES);
	cr_assert_eq(zs_class_stats(pool, nr - 1, &cs), 0);
	cr_assert_eq(zs_class_stats(pool, nr, &cs), -EINVAL);
	cr_assert_eq(zs_class_stats(pool, nr + 1, &cs), -EINVAL);
	cr_assert_eq(zs_class_stats(pool, ZS_SIZE_CLASSES, &cs), -EINVAL);
	cr_assert_eq(zs_class_stats(pool, UINT_MAX, &cs), -EINVAL);
	cr_assert_eq(zs_class_stats(pool, 0, NULL), -EINVAL);
	cr_assert_eq(zs_class_stats(NULL, 0, &cs), -EINVAL);
	zs_destroy_pool(pool);
}

static void assert_opts_rejected(struct zs_pool_opts o, const char *what)
{
	struct zs_pool *pool;

	errno = 0;
	pool = zs_create_pool_opts("bad", &o);
	cr_assert_null(pool, "zs_create_pool_opts accepted %s", what);
	cr_assert_eq(errno, EINVAL, "%s: errno %d, want EINVAL", what, errno);
}

static void assert_opts_accepted(struct zs_pool_opts o, const char *what)
{
	struct zs_pool *pool = zs_create_pool_opts("good", &o);
	unsigned long h;

	cr_assert_not_null(pool, "zs_create_pool_opts rejected %s: %s", what, strerror(errno));
	h = zt_alloc_stamped(pool, 1234, SEED);
	cr_assert_neq(h, 0, "%s: zs_malloc failed", what);
	cr_assert_eq(zt_check_handle(pool, h, 1234, SEED), -1);
	cr_assert_eq(zs_free(pool, h), 0);
	zs_destroy_pool(pool);
}

Test(errors, create_pool_opts_invalid)
{
	struct zs_pool_opts o;
	static const unsigned int bad_pages[] = {ZS_MAX_PAGES_PER_ZSPAGE + 1, 32, 1000, UINT_MAX};
	/* clang-format off */
	static const unsigned int bad_flags[] = { 0x4, 0x8, 0x100, 0x80000000u, ~0u,
						  ZS_POOL_NO_PACK | 0x4 };
	/* clang-format on */
	size_t i;

	for (i = 0; i < sizeof(bad_pages) / sizeof(bad_pages[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.max_pages_per_zspage = bad_pages[i];
		assert_opts_rejected(o, "max_pages_per_zspage > 16");
	}
	for (i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.flags = bad_flags[i];
		assert_opts_rejected(o, "unknown flags");
	}
	memset(&o, 0, sizeof(o));
	o.pack_bytes = ZS_MAX_PACK_BYTES + 1;
	assert_opts_rejected(o, "pack_bytes 257");
	o.pack_bytes = UINT_MAX;
	assert_opts_rejected(o, "pack_bytes UINT_MAX");

	/* the edges of the valid ranges */
	memset(&o, 0, sizeof(o));
	assert_opts_accepted(o, "all-zero options");
	o.max_pages_per_zspage = ZS_MAX_PAGES_PER_ZSPAGE;
	assert_opts_accepted(o, "max_pages_per_zspage 16");
	o.max_pages_per_zspage = 1;
	assert_opts_accepted(o, "max_pages_per_zspage 1");
	memset(&o, 0, sizeof(o));
	o.pack_bytes = ZS_MAX_PACK_BYTES;
	assert_opts_accepted(o, "pack_bytes 256");
	memset(&o, 0, sizeof(o));
	o.flags = ZS_POOL_NO_PACK;
	o.auto_compact_pages = 1;
	assert_opts_accepted(o, "ZS_POOL_NO_PACK with auto compaction");
	o.flags = ZS_POOL_NO_PACK | ZS_POOL_NO_TCACHE;
	assert_opts_accepted(o, "ZS_POOL_NO_PACK | ZS_POOL_NO_TCACHE");
}

Test(errors, lookup_class_index_out_of_range)
{
	struct zs_pool *pool = zs_create_pool("lookup");

	cr_assert_eq(zs_lookup_class_index(pool, 0), -EINVAL);
	cr_assert_eq(zs_lookup_class_index(pool, ZS_MAX_ALLOC_SIZE + 1), -EINVAL);
	cr_assert_eq(zs_lookup_class_index(pool, 8192), -EINVAL);
	cr_assert_eq(zs_lookup_class_index(pool, SIZE_MAX), -EINVAL);
	cr_assert_geq(zs_lookup_class_index(pool, 1), 0);
	cr_assert_geq(zs_lookup_class_index(pool, ZS_MAX_ALLOC_SIZE), 0);
	zs_destroy_pool(pool);
}

Test(errors, dump_classes_bad_arguments)
{
	struct zs_pool *pool = zs_create_pool("dump");
	unsigned long h = zt_alloc_stamped(pool, 200, SEED);
	FILE *ro;

	cr_assert_neq(h, 0);
	cr_assert_eq(zs_dump_classes(pool, NULL), -EINVAL);
	cr_assert_eq(zs_dump_classes(NULL, stdout), -EINVAL);
	/* a stream that cannot be written */
	ro = fopen("/dev/null", "r");
	cr_assert_not_null(ro);
	cr_assert_eq(zs_dump_classes(pool, ro), -EIO,
		     "dump to a read-only stream did not report -EIO");
	fclose(ro);
	cr_assert_eq(zs_free(pool, h), 0);
	zs_destroy_pool(pool);
}

/*
 * Run out of address space with RLIMIT_AS (Criterion runs each test in its own process).
 * Creating a pool under the limit either works or fails with ENOMEM.  A pool created
 * before the limit then allocates 4 KiB objects under it: if an allocation fails (the pool
 * needs address space it cannot get), errno is ENOMEM and the failed call changed nothing.
 * Once the limit is lifted the pool works again and every object allocated under the
 * limit is intact.
 */
Test(errors, enomem_when_address_space_runs_out, .timeout = 60)
{
	enum { MAX_OBJS = 1 << 15 }; /* 128 MiB of 4 KiB objects, twice the headroom */
	static unsigned long h[MAX_OBJS + 1];
	struct rlimit old, lim;
	struct zs_pool_stats before, after;
	struct zs_pool *pool, *p1;
	unsigned long n = 0, i;
	int err = 0, create_err = 0;

	if (ZT_ASAN || ZT_TSAN)
		cr_skip_test("the sanitizer reserves terabytes of shadow: RLIMIT_AS cannot work");
	cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
	memset(h, 0, sizeof(h)); /* make the array resident before the limit */
	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	lim = old;
	lim.rlim_cur = zt_vm_bytes() + 64 * ZT_MIB;
	if (old.rlim_max != RLIM_INFINITY && lim.rlim_cur > old.rlim_max)
		cr_skip_test("hard RLIMIT_AS too low to run this test");
	pool = zs_create_pool("enomem");
	cr_assert_not_null(pool);

	cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
	errno = 0;
	p1 = zs_create_pool("limited");
	if (!p1)
		create_err = errno;
	for (n = 0; n < MAX_OBJS; n++) {
		zs_pool_stats(pool, &before);
		errno = 0;
		h[n] = zs_malloc(pool, ZS_MAX_ALLOC_SIZE);
		if (!h[n]) {
			err = errno;
			zs_pool_stats(pool, &after);
			break;
		}
	}
	cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);

	cr_log_info("under a 64 MiB address-space limit: zs_create_pool %s, %lu objects of 4 KiB "
		    "allocated%s",
		    p1 ? "worked" : "failed", n, n < MAX_OBJS ? " before ENOMEM" : "");
	if (!p1)
		cr_assert_eq(create_err, ENOMEM, "zs_create_pool failed with errno %d, want ENOMEM",
			     create_err);
	zs_destroy_pool(p1);
	if (n < MAX_OBJS) {
		cr_assert_eq(err, ENOMEM, "zs_malloc failed with errno %d, want ENOMEM", err);
		zt_assert_pool_stats_eq(&before, &after, "failed zs_malloc");
	}

	/* without the limit the pool works, and everything allocated under it is intact */
	h[n] = zs_malloc(pool, ZS_MAX_ALLOC_SIZE);
	cr_assert_neq(h[n], 0, "zs_malloc fails after the limit was lifted: %s", strerror(errno));
	n++;
	for (i = 0; i < n; i++) {
		void *p = zs_map_object(pool, h[i], ZS_MM_WO);

		cr_assert_not_null(p);
		zt_stamp(p, h[i], ZS_MAX_ALLOC_SIZE, SEED);
		zs_unmap_object(pool, h[i]);
	}
	zt_assert_pool_consistent(pool, n, n * ZS_MAX_ALLOC_SIZE);
	for (i = 0; i < n; i++) {
		cr_assert_eq(zt_check_handle(pool, h[i], ZS_MAX_ALLOC_SIZE, SEED), -1);
		cr_assert_eq(zs_free(pool, h[i]), 0);
	}
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}
