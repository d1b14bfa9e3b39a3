/*
 * Basic behaviour of libzs: pool creation, names and destruction; every object size
 * 1..4096 written through zs_map_object()/zs_obj_write() and read back through
 * zs_obj_read_begin()/end() and further maps; objects mapped all at once never overlap;
 * map modes, nested maps of one object, partial writes; handles are never 0, are unique
 * across pools, and a freed handle stays dead even after its slot is reused (many times).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

/* A size- and position-dependent byte pattern (independent of the handle). */
static inline unsigned char pat(size_t size, size_t pos, unsigned int salt)
{
	return (unsigned char)(size * 131 + pos * 7 + (pos >> 8) * 13 + salt * 29 + 1);
}

static void fill_pat(void *dst, size_t size, unsigned int salt)
{
	unsigned char *p = dst;
	size_t i;

	for (i = 0; i < size; i++)
		p[i] = pat(size, i, salt);
}

/* -1 if intact, else the first bad offset. */
static long check_pat(const void *src, size_t size, unsigned int salt)
{
	const unsigned char *p = src;
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i] != pat(size, i, salt))
			return (long)i;
	return -1;
}

Test(basic, create_name_destroy)
{
	char name[32] = "first-pool";
	struct zs_pool *pool, *anon;
	struct zs_pool_stats st;

	pool = zs_create_pool(name);
	cr_assert_not_null(pool, "zs_create_pool failed: %s", strerror(errno));
	/* the name is copied */
	strcpy(name, "scribbled");
	cr_assert_str_eq(zs_pool_name(pool), "first-pool");

	anon = zs_create_pool(NULL);
	cr_assert_not_null(anon);
	cr_assert_not_null(zs_pool_name(anon));
	cr_assert_str_eq(zs_pool_name(anon), "");

	zs_pool_stats(pool, &st);
	cr_assert_eq(st.pages_used, 0);
	cr_assert_eq(st.pages_peak, 0);
	cr_assert_eq(st.pages_compacted, 0);
	cr_assert_eq(st.objs_used, 0);
	cr_assert_eq(st.objs_allocated, 0);
	cr_assert_eq(st.bytes_used, 0);
	cr_assert_eq(zs_get_total_pages(pool), 0);
	cr_assert_eq(zs_compact(pool), 0, "compacting an empty pool freed pages");

	zs_destroy_pool(anon);
	zs_destroy_pool(pool);
	zs_destroy_pool(NULL);
}

Test(basic, create_opts_name_and_null_opts)
{
	struct zs_pool *pool = zs_create_pool_opts("opts", NULL);

	cr_assert_not_null(pool, "zs_create_pool_opts(NULL opts) failed: %s", strerror(errno));
	cr_assert_str_eq(zs_pool_name(pool), "opts");
	zs_destroy_pool(pool);

	pool = zs_create_pool_opts(NULL, NULL);
	cr_assert_not_null(pool);
	cr_assert_str_eq(zs_pool_name(pool), "");
	zs_destroy_pool(pool);
}

/*
 * One object at a time, every size: write through a WO map, read through
 * zs_obj_read_begin() (checking local_copy is never written), through an RO map and an RW
 * map, then free.
 */
static void every_size_one_at_a_time(struct zs_pool *pool)
{
	unsigned char canary[ZS_MAX_ALLOC_SIZE];
	size_t size;

	memset(canary, 0xa5, sizeof(canary));
	for (size = 1; size <= ZS_MAX_ALLOC_SIZE; size++) {
		unsigned long h = zs_malloc(pool, size);
		unsigned char *p;
		long bad;
		size_t i;

		cr_assert_neq(h, 0, "zs_malloc(%zu) failed: %s", size, strerror(errno));
		cr_assert_eq(zs_obj_size(pool, h), size, "zs_obj_size(%#lx) = %zu, want %zu", h,
			     zs_obj_size(pool, h), size);

		p = zs_map_object(pool, h, ZS_MM_WO);
		cr_assert_not_null(p, "map WO of size %zu failed", size);
		fill_pat(p, size, 0);
		zs_unmap_object(pool, h);

		p = zs_obj_read_begin(pool, h, canary);
		cr_assert_not_null(p, "zs_obj_read_begin size %zu failed", size);
		bad = check_pat(p, size, 0);
		cr_assert_eq(bad, -1, "size %zu handle %#lx: read_begin sees bad byte at %ld", size,
			     h, bad);
		zs_obj_read_end(pool, h, p);
		for (i = 0; i < sizeof(canary); i++)
			cr_assert_eq(canary[i], 0xa5, "read_begin wrote into local_copy at %zu", i);

		p = zs_map_object(pool, h, ZS_MM_RO);
		cr_assert_not_null(p);
		bad = check_pat(p, size, 0);
		cr_assert_eq(bad, -1, "size %zu handle %#lx: RO map sees bad byte at %ld", size, h,
			     bad);
		zs_unmap_object(pool, h);

		p = zs_map_object(pool, h, ZS_MM_RW);
		cr_assert_not_null(p);
		bad = check_pat(p, size, 0);
		cr_assert_eq(bad, -1, "size %zu handle %#lx: RW map sees bad byte at %ld", size, h,
			     bad);
		zs_unmap_object(pool, h);

		cr_assert_eq(zs_free(pool, h), 0, "zs_free(%#lx) size %zu failed", h, size);
	}
}

struct live_obj {
	unsigned long h;
	size_t size;
	unsigned char *p;
};

static int cmp_ptr(const void *a, const void *b)
{
	const struct live_obj *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

/*
 * All sizes live at once: written with zs_obj_write(), checked through maps; every object
 * mapped at the same time, and no two mapped ranges overlap.
 */
static void every_size_all_live(struct zs_pool *pool)
{
	static struct live_obj o[ZS_MAX_ALLOC_SIZE];
	unsigned char buf[ZS_MAX_ALLOC_SIZE];
	struct zs_pool_stats st;
	unsigned long bytes = 0;
	size_t i;

	for (i = 0; i < ZS_MAX_ALLOC_SIZE; i++) {
		o[i].size = i + 1;
		o[i].h = zs_malloc(pool, o[i].size);
		cr_assert_neq(o[i].h, 0, "zs_malloc(%zu) failed: %s", o[i].size, strerror(errno));
		fill_pat(buf, o[i].size, 1);
		cr_assert_eq(zs_obj_write(pool, o[i].h, buf, o[i].size), 0,
			     "zs_obj_write size %zu failed", o[i].size);
		bytes += o[i].size;
	}
	zt_assert_pool_consistent(pool, ZS_MAX_ALLOC_SIZE, bytes);
	zs_pool_stats(pool, &st);
	cr_assert_geq(st.pages_used * ZT_PAGE, bytes, "%lu pages cannot hold %lu bytes",
		      st.pages_used, bytes);

	for (i = 0; i < ZS_MAX_ALLOC_SIZE; i++) {
		long bad;

		o[i].p = zs_map_object(pool, o[i].h, ZS_MM_RO);
		cr_assert_not_null(o[i].p, "map of size %zu failed while others are mapped",
				   o[i].size);
		bad = check_pat(o[i].p, o[i].size, 1);
		cr_assert_eq(bad, -1, "size %zu handle %#lx: bad byte at %ld", o[i].size, o[i].h,
			     bad);
	}
	qsort(o, ZS_MAX_ALLOC_SIZE, sizeof(o[0]), cmp_ptr);
	for (i = 0; i + 1 < ZS_MAX_ALLOC_SIZE; i++)
		cr_assert_leq(o[i].p + o[i].size, o[i + 1].p,
			      "objects overlap: %#lx (size %zu) at %p and %#lx at %p", o[i].h,
			      o[i].size, (void *)o[i].p, o[i + 1].h, (void *)o[i + 1].p);
	for (i = 0; i < ZS_MAX_ALLOC_SIZE; i++)
		zs_unmap_object(pool, o[i].h);

	/* and again through read_begin after everything was unmapped */
	for (i = 0; i < ZS_MAX_ALLOC_SIZE; i++) {
		void *p = zs_obj_read_begin(pool, o[i].h, NULL);
		long bad;

		cr_assert_not_null(p);
		bad = check_pat(p, o[i].size, 1);
		cr_assert_eq(bad, -1, "size %zu handle %#lx: bad byte at %ld", o[i].size, o[i].h,
			     bad);
		zs_obj_read_end(pool, o[i].h, p);
	}
	for (i = 0; i < ZS_MAX_ALLOC_SIZE; i++)
		cr_assert_eq(zs_free(pool, o[i].h), 0);
	zt_assert_pool_consistent(pool, 0, 0);
	cr_assert_eq(zs_get_total_pages(pool), 0, "%lu pages still held with no objects",
		     zs_get_total_pages(pool));
}

static void every_size(unsigned int max_pages, unsigned int flags)
{
	struct zs_pool *pool = zt_pool(max_pages, flags, 0);

	every_size_one_at_a_time(pool);
	every_size_all_live(pool);
	zs_destroy_pool(pool);
}

Test(basic, every_size_default_pool)
{
	every_size(0, 0);
}

Test(basic, every_size_no_pack)
{
	every_size(0, ZS_POOL_NO_PACK);
}

Test(basic, every_size_one_page_zspages)
{
	every_size(1, 0);
}

Test(basic, every_size_sixteen_page_zspages)
{
	every_size(16, ZS_POOL_NO_PACK);
}

Test(basic, map_modes_and_nested_maps)
{
	struct zs_pool *pool = zs_create_pool("maps");
	unsigned long h = zs_malloc(pool, 300);
	unsigned char *a, *b, *c;

	cr_assert_neq(h, 0);
	a = zs_map_object(pool, h, ZS_MM_WO);
	cr_assert_not_null(a);
	fill_pat(a, 300, 2);
	/* the same object mapped again while mapped: same bytes, same place */
	b = zs_map_object(pool, h, ZS_MM_RW);
	cr_assert_not_null(b);
	cr_assert_eq(a, b, "second map of a mapped object gave %p, first %p", (void *)b, (void *)a);
	cr_assert_eq(check_pat(b, 300, 2), -1);
	b[17] ^= 0xff;
	c = zs_map_object(pool, h, ZS_MM_RO);
	cr_assert_not_null(c);
	cr_assert_eq(c[17], (unsigned char)(pat(300, 17, 2) ^ 0xff));
	zs_unmap_object(pool, h);
	zs_unmap_object(pool, h);
	zs_unmap_object(pool, h);

	c = zs_obj_read_begin(pool, h, NULL);
	cr_assert_not_null(c);
	cr_assert_eq(c[17], (unsigned char)(pat(300, 17, 2) ^ 0xff), "RW map write lost");
	cr_assert_eq(c[16], pat(300, 16, 2));
	cr_assert_eq(c[18], pat(300, 18, 2));
	zs_obj_read_end(pool, h, c);

	cr_assert_eq(zs_free(pool, h), 0);
	zs_destroy_pool(pool);
}

Test(basic, obj_write_partial_and_full)
{
	struct zs_pool *pool = zs_create_pool("write");
	unsigned char buf[ZS_MAX_ALLOC_SIZE];
	static const size_t sizes[] = {1, 7, 8, 31, 32, 33, 100, 1000, 2048, 3000, 4095, 4096};
	size_t k;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k], half = size / 2;
		unsigned long h = zs_malloc(pool, size);
		unsigned char *p;
		size_t i;

		cr_assert_neq(h, 0);
		fill_pat(buf, size, 3);
		cr_assert_eq(zs_obj_write(pool, h, buf, size), 0);
		/* an empty write changes nothing */
		cr_assert_eq(zs_obj_write(pool, h, buf, 0), 0);
		/* a partial write replaces only the prefix */
		fill_pat(buf, size, 4);
		cr_assert_eq(zs_obj_write(pool, h, buf, half), 0);
		p = zs_map_object(pool, h, ZS_MM_RO);
		cr_assert_not_null(p);
		for (i = 0; i < size; i++)
			cr_assert_eq(p[i], pat(size, i, i < half ? 4 : 3),
				     "size %zu: byte %zu wrong after a %zu-byte write", size, i,
				     half);
		zs_unmap_object(pool, h);
		cr_assert_eq(zs_free(pool, h), 0);
	}
	zs_destroy_pool(pool);
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

Test(basic, handles_unique_within_and_across_pools)
{
	enum { N = 3000 };
	struct zs_pool *a = zs_create_pool("a"), *b = zs_create_pool("b");
	static unsigned long ha[N], hb[N], all[2 * N];
	struct zt_rng r;
	size_t i;

	zt_rng_seed(&r, 11);
	for (i = 0; i < N; i++) {
		ha[i] = zs_malloc(a, zt_rand_size(&r));
		hb[i] = zs_malloc(b, zt_rand_size(&r));
		cr_assert(ha[i] && hb[i]);
		all[2 * i] = ha[i];
		all[2 * i + 1] = hb[i];
	}
	qsort(all, 2 * N, sizeof(all[0]), cmp_ulong);
	for (i = 0; i + 1 < 2 * N; i++)
		cr_assert_neq(all[i], all[i + 1],
			      "handle %#lx issued twice (live in one pool or in both)", all[i]);
	for (i = 0; i < N; i++) {
		cr_assert_eq(zs_free(a, ha[i]), 0);
		cr_assert_eq(zs_free(b, hb[i]), 0);
	}
	zs_destroy_pool(a);
	zs_destroy_pool(b);
}

/*
 * A freed handle stays dead when its slot is reused.  The class is one where a zspage
 * holds two objects; a keeper object holds one slot, so every new allocation of that class
 * must land in the slot just freed.  After tens of thousands of reuses of the one slot
 * (enough to wrap a 16-bit generation count) every old handle is still rejected and the
 * live one still works.
 */
Test(basic, stale_handle_rejected_after_slot_reuse, .timeout = 60)
{
	enum { ROUNDS = 70000 };
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, 0);
	static struct zt_model m;
	static unsigned long stale[ROUNDS];
	struct zs_pool_stats before, after;
	unsigned long keeper, h;
	void *slot = NULL, *p;
	size_t size = 0;
	unsigned int i;
	long bad;

	zt_model_build(&m, ZS_DEFAULT_PAGES_PER_ZSPAGE);
	for (i = 0; i < m.nr_phys; i++) {
		const struct zt_class *c = &m.c[m.phys[i]];

		if (c->objs == 2 && c->pages == 1) {
			size = c->size;
			break;
		}
	}
	cr_assert_neq(size, 0, "model has no class with two objects per one-page zspage");

	keeper = zt_alloc_stamped(pool, size, 5);
	cr_assert_neq(keeper, 0);
	h = zt_alloc_stamped(pool, size, 5);
	cr_assert_neq(h, 0);
	slot = zs_map_object(pool, h, ZS_MM_RO);
	cr_assert_not_null(slot);
	zs_unmap_object(pool, h);

	for (i = 0; i < ROUNDS; i++) {
		unsigned long nh;

		cr_assert_eq(zs_free(pool, h), 0, "round %u: free of live %#lx failed", i, h);
		stale[i] = h;
		nh = zs_malloc(pool, size);
		cr_assert_neq(nh, 0, "round %u: zs_malloc failed", i);
		cr_assert_neq(nh, h, "round %u: the freed handle %#lx was issued again", i, h);
		if ((i & 1023) == 0 || i == ROUNDS - 1) {
			/* the only free slot of the class is the one just freed */
			p = zs_map_object(pool, nh, ZS_MM_WO);
			cr_assert_eq(p, slot, "round %u: new object at %p, the free slot is %p", i,
				     p, slot);
			zt_stamp(p, nh, size, 5);
			zs_unmap_object(pool, nh);
			/* the old handle is dead although its slot is live again */
			errno = 0;
			cr_assert_null(zs_map_object(pool, h, ZS_MM_RO),
				       "round %u: stale %#lx maps (new handle %#lx)", i, h, nh);
			cr_assert_eq(errno, EINVAL);
			errno = 0;
			cr_assert_eq(zs_obj_size(pool, h), 0, "round %u: stale %#lx has a size", i,
				     h);
			cr_assert_eq(errno, EINVAL);
			zs_pool_stats(pool, &before);
			cr_assert_eq(zs_free(pool, h), -EINVAL,
				     "round %u: stale %#lx was freed (live %#lx)", i, h, nh);
			zs_pool_stats(pool, &after);
			zt_assert_pool_stats_eq(&before, &after, "free of a stale handle");
			bad = zt_check_handle(pool, nh, size, 5);
			cr_assert_eq(bad, -1, "round %u: live %#lx damaged (%ld)", i, nh, bad);
		}
		h = nh;
	}

	/* every handle ever freed is rejected, and none of them disturbs the live ones */
	p = zs_map_object(pool, h, ZS_MM_WO);
	cr_assert_not_null(p);
	zt_stamp(p, h, size, 6);
	zs_unmap_object(pool, h);
	zs_pool_stats(pool, &before);
	for (i = 0; i < ROUNDS; i++) {
		cr_assert_neq(stale[i], h, "stale handle #%u equals the live one %#lx", i, h);
		cr_assert_neq(stale[i], keeper);
		cr_assert_eq(zs_free(pool, stale[i]), -EINVAL, "stale handle #%u %#lx was freed", i,
			     stale[i]);
	}
	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, "freeing every stale handle");
	/* no handle was ever issued twice */
	qsort(stale, ROUNDS, sizeof(stale[0]), cmp_ulong);
	for (i = 0; i + 1 < ROUNDS; i++)
		cr_assert_neq(stale[i], stale[i + 1], "handle %#lx was issued twice", stale[i]);
	bad = zt_check_handle(pool, h, size, 6);
	cr_assert_eq(bad, -1, "live handle %#lx damaged at %ld", h, bad);
	bad = zt_check_handle(pool, keeper, size, 5);
	cr_assert_eq(bad, -1, "keeper %#lx damaged at %ld", keeper, bad);
	cr_assert_eq(zs_free(pool, h), 0);
	cr_assert_eq(zs_free(pool, keeper), 0);
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}

/* Freed handles stay dead in a busy pool too: many objects, many slots reused. */
Test(basic, stale_handles_in_busy_pool)
{
	enum { N = 20000 };
	struct zs_pool *pool = zs_create_pool("busy");
	static unsigned long live[N], dead[N];
	static size_t size[N];
	struct zs_pool_stats before, after;
	struct zt_rng r;
	size_t i;

	zt_rng_seed(&r, 99);
	for (i = 0; i < N; i++) {
		size[i] = zt_rand_size(&r);
		live[i] = zt_alloc_stamped(pool, size[i], 7);
		cr_assert_neq(live[i], 0);
	}
	/* free everything, reallocate the same sizes: the slots are reused */
	for (i = 0; i < N; i++) {
		cr_assert_eq(zs_free(pool, live[i]), 0);
		dead[i] = live[i];
	}
	for (i = 0; i < N; i++) {
		live[i] = zt_alloc_stamped(pool, size[i], 8);
		cr_assert_neq(live[i], 0);
	}
	zs_pool_stats(pool, &before);
	for (i = 0; i < N; i++) {
		errno = 0;
		cr_assert_null(zs_map_object(pool, dead[i], ZS_MM_RO), "dead %#lx maps", dead[i]);
		cr_assert_eq(errno, EINVAL);
		cr_assert_eq(zs_free(pool, dead[i]), -EINVAL, "dead %#lx was freed", dead[i]);
	}
	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, "operations on dead handles");
	for (i = 0; i < N; i++) {
		long bad = zt_check_handle(pool, live[i], size[i], 8);

		cr_assert_eq(bad, -1, "live %#lx (size %zu) bad at %ld", live[i], size[i], bad);
		cr_assert_eq(zs_free(pool, live[i]), 0);
	}
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}
