/*
 * Data integrity across many objects: 50k objects of random sizes with stamped payloads
 * (each begins with its handle, size and seed; the rest is derived from them), written
 * through maps or zs_obj_write(), verified through maps or zs_obj_read_begin(); half freed
 * at random, more allocated, everything verified; compacted, everything verified again;
 * the pool counters exact at each step.  Run for the default pool, a NO_PACK pool with
 * 16-page zspages and a pool of 1-page zspages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

struct obj {
	unsigned long h;
	uint32_t size;
	uint32_t seed;
};

struct objset {
	struct zs_pool *pool;
	struct obj *o;
	size_t n;
	struct zt_rng r;
	unsigned char buf[ZS_MAX_ALLOC_SIZE];
};

static void obj_new(struct objset *s, struct obj *o)
{
	o->size = zt_rand_size(&s->r);
	o->seed = (uint32_t)zt_rand(&s->r);
	if (zt_below(&s->r, 2)) {
		o->h = zt_alloc_stamped(s->pool, o->size, o->seed);
		cr_assert_neq(o->h, 0, "zs_malloc(%u) failed: %s", o->size, strerror(errno));
	} else {
		o->h = zs_malloc(s->pool, o->size);
		cr_assert_neq(o->h, 0, "zs_malloc(%u) failed: %s", o->size, strerror(errno));
		zt_stamp(s->buf, o->h, o->size, o->seed);
		cr_assert_eq(zs_obj_write(s->pool, o->h, s->buf, o->size), 0);
	}
}

static void obj_verify(struct objset *s, const struct obj *o, const char *when)
{
	long bad;

	cr_assert_eq(zs_obj_size(s->pool, o->h), o->size, "%s: %#lx has size %zu, want %u", when,
		     o->h, zs_obj_size(s->pool, o->h), o->size);
	if (zt_below(&s->r, 2)) {
		bad = zt_check_handle(s->pool, o->h, o->size, o->seed);
	} else {
		void *p = zs_obj_read_begin(s->pool, o->h, s->buf);

		cr_assert_not_null(p, "%s: read_begin(%#lx) failed", when, o->h);
		bad = zt_check(p, o->h, o->size, o->seed);
		zs_obj_read_end(s->pool, o->h, p);
	}
	cr_assert_eq(bad, -1, "%s: object %#lx (size %u seed %#x) damaged at byte %ld", when, o->h,
		     o->size, o->seed, bad);
}

static void verify_all(struct objset *s, const char *when)
{
	unsigned long bytes = 0;
	size_t i;

	for (i = 0; i < s->n; i++) {
		obj_verify(s, &s->o[i], when);
		bytes += s->o[i].size;
	}
	zt_assert_pool_consistent(s->pool, s->n, bytes);
}

static void many_objects(unsigned int max_pages, unsigned int flags, uint64_t seed)
{
	enum { N = 50000 };
	struct objset *s = calloc(1, sizeof(*s));
	struct zs_pool_stats st;
	size_t *idx, i;
	unsigned long freed;

	cr_assert_not_null(s);
	s->pool = zt_pool(max_pages, flags, 0);
	s->n = N;
	s->o = calloc(N, sizeof(*s->o));
	idx = calloc(N, sizeof(*idx));
	cr_assert(s->o && idx);
	zt_rng_seed(&s->r, seed);

	for (i = 0; i < N; i++)
		obj_new(s, &s->o[i]);
	verify_all(s, "after filling");

	/* free half at random, refill */
	for (i = 0; i < N; i++)
		idx[i] = i;
	zt_shuffle(&s->r, idx, N);
	for (i = 0; i < N / 2; i++)
		cr_assert_eq(zs_free(s->pool, s->o[idx[i]].h), 0);
	/* survivors first, so verify_all sees only live ones */
	for (i = 0; i < N / 2; i++)
		s->o[idx[i]].h = 0;
	s->n = 0;
	for (i = 0; i < N; i++)
		if (s->o[i].h)
			s->o[s->n++] = s->o[i];
	verify_all(s, "after freeing half");
	for (i = 0; i < N / 2; i++)
		obj_new(s, &s->o[s->n++]);
	verify_all(s, "after refilling");

	/* free a random half again, then compact */
	zt_shuffle(&s->r, idx, N);
	for (i = 0; i < N / 2; i++) {
		cr_assert_eq(zs_free(s->pool, s->o[idx[i]].h), 0);
		s->o[idx[i]].h = 0;
	}
	s->n = 0;
	for (i = 0; i < N; i++)
		if (s->o[i].h)
			s->o[s->n++] = s->o[i];
	freed = zs_compact(s->pool);
	zs_pool_stats(s->pool, &st);
	cr_assert_eq(st.pages_compacted, freed, "zs_compact returned %lu, pages_compacted %lu",
		     freed, st.pages_compacted);
	verify_all(s, "after compaction");
	for (i = 0; i < N / 4; i++)
		obj_new(s, &s->o[s->n++]);
	verify_all(s, "after allocating past compaction");

	for (i = 0; i < s->n; i++)
		cr_assert_eq(zs_free(s->pool, s->o[i].h), 0);
	zt_assert_pool_consistent(s->pool, 0, 0);
	cr_assert_eq(zs_get_total_pages(s->pool), 0);
	zs_destroy_pool(s->pool);
	free(idx);
	free(s->o);
	free(s);
}

Test(integrity, many_objects_default_pool, .timeout = 60)
{
	many_objects(0, 0, 101);
}

Test(integrity, many_objects_no_pack_16_pages, .timeout = 60)
{
	many_objects(16, ZS_POOL_NO_PACK, 202);
}

Test(integrity, many_objects_1_page, .timeout = 60)
{
	many_objects(1, 0, 303);
}
