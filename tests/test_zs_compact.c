/*
 * Compaction.
 *  - Handles survive it: allocate many, free 3/4 at random, zs_compact() frees pages,
 *    pages_used drops (by no more than was freed), pages_compacted grows by exactly the
 *    returned count, every survivor still maps to its stamped data and size, every freed
 *    handle is still rejected; in a NO_PACK pool no class is left with freeable pages.
 *  - Nothing to do: full zspages (and an empty pool) give 0.
 *  - Mapped objects are not moved: an object mapped (twice, then once) in a sparse zspage
 *    keeps its address and data through compaction; once unmapped, compaction empties its
 *    zspage too.  The same with hundreds of random mapped objects in a default pool.
 *  - Automatic compaction from zs_free() once freeable pages reach auto_compact_pages,
 *    and none without it.
 *  - The handle table shrinks with the pool: after all but the oldest objects are freed,
 *    compaction gives back the pages of free handle entries (meta_bytes as a pool that only
 *    ever held the survivors, within the bitmap's pages); freed handles stay refused, also once
 *    their indexes are handed out again (no generation comes back), with lookups and
 *    compactions racing in other threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

#define SEED 0xc0ac7

struct obj {
	unsigned long h;
	size_t size;
};

/* Allocate @n random stamped objects. */
static struct obj *fill(struct zs_pool *pool, size_t n, struct zt_rng *r)
{
	struct obj *o = calloc(n, sizeof(*o));
	size_t i;

	cr_assert_not_null(o);
	for (i = 0; i < n; i++) {
		o[i].size = zt_rand_size(r);
		o[i].h = zt_alloc_stamped(pool, o[i].size, SEED);
		cr_assert_neq(o[i].h, 0, "zs_malloc(%zu) failed: %s", o[i].size, strerror(errno));
	}
	return o;
}

/* Free a random @num/@den of the objects; freed ones get h = 0 and their old handle is
 * kept in @dead (if not NULL).  Returns the number freed. */
static size_t free_fraction(struct zs_pool *pool, struct obj *o, size_t n, unsigned int num,
			    unsigned int den, struct zt_rng *r, unsigned long *dead)
{
	size_t *idx = calloc(n, sizeof(*idx)), i, k = n * num / den;

	cr_assert_not_null(idx);
	for (i = 0; i < n; i++)
		idx[i] = i;
	zt_shuffle(r, idx, n);
	for (i = 0; i < k; i++) {
		struct obj *x = &o[idx[i]];

		cr_assert_eq(zs_free(pool, x->h), 0, "free of live %#lx failed", x->h);
		if (dead)
			dead[i] = x->h;
		x->h = 0;
	}
	free(idx);
	return k;
}

/* Check the live objects of @o; add their number and bytes to *@live and *@bytes. */
static void check_objs(struct zs_pool *pool, const struct obj *o, size_t n, const char *when,
		       unsigned long *live, unsigned long *bytes)
{
	size_t i;

	for (i = 0; i < n; i++) {
		long bad;

		if (!o[i].h)
			continue;
		cr_assert_eq(zs_obj_size(pool, o[i].h), o[i].size, "%s: %#lx size %zu, want %zu",
			     when, o[i].h, zs_obj_size(pool, o[i].h), o[i].size);
		bad = zt_check_handle(pool, o[i].h, o[i].size, SEED);
		cr_assert_eq(bad, -1, "%s: %#lx (size %zu) damaged at %ld", when, o[i].h, o[i].size,
			     bad);
		(*live)++;
		*bytes += o[i].size;
	}
}

/* Check every live object of @o, which are all the pool holds. */
static void verify_live(struct zs_pool *pool, const struct obj *o, size_t n, const char *when)
{
	unsigned long live = 0, bytes = 0;

	check_objs(pool, o, n, when, &live, &bytes);
	zt_assert_pool_consistent(pool, live, bytes);
}

static void free_all(struct zs_pool *pool, struct obj *o, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (o[i].h)
			cr_assert_eq(zs_free(pool, o[i].h), 0);
	zt_assert_pool_consistent(pool, 0, 0);
	cr_assert_eq(zs_get_total_pages(pool), 0);
}

static void handles_survive(unsigned int flags, uint64_t seed)
{
	enum { N = 30000 };
	struct zs_pool *pool = zt_pool(0, flags, 0);
	struct zs_pool_stats before, after;
	unsigned long *dead = calloc(N, sizeof(*dead)), freed, live, bytes;
	struct zt_rng r;
	struct obj *o, *more;
	size_t ndead, i;

	cr_assert_not_null(dead);
	zt_rng_seed(&r, seed);
	o = fill(pool, N, &r);
	ndead = free_fraction(pool, o, N, 3, 4, &r, dead);
	verify_live(pool, o, N, "before compaction");

	zs_pool_stats(pool, &before);
	freed = zs_compact(pool);
	zs_pool_stats(pool, &after);
	cr_log_info("flags %#x: compaction freed %lu of %lu pages", flags, freed,
		    before.pages_used);
	cr_assert_gt(freed, 0,
		     "compaction of a pool with 3/4 of its objects freed at random freed nothing "
		     "(%lu pages, %lu freeable)",
		     before.pages_used, zt_total_freeable(pool));
	cr_assert_lt(after.pages_used, before.pages_used, "pages_used %lu -> %lu",
		     before.pages_used, after.pages_used);
	cr_assert_eq(before.pages_used - after.pages_used, freed,
		     "pages_used dropped by %lu but compaction says it gave back %lu",
		     before.pages_used - after.pages_used, freed);
	cr_assert_eq(after.pages_compacted, before.pages_compacted + freed,
		     "pages_compacted %lu -> %lu, zs_compact returned %lu", before.pages_compacted,
		     after.pages_compacted, freed);
	cr_assert_eq(after.objs_used, before.objs_used);
	cr_assert_eq(after.bytes_used, before.bytes_used);
	cr_assert_eq(after.pages_peak, before.pages_peak);
	if (flags & ZS_POOL_NO_PACK)
		cr_assert_eq(zt_total_freeable(pool), 0,
			     "%lu pages still freeable after compaction", zt_total_freeable(pool));
	verify_live(pool, o, N, "after compaction");

	/* freed handles are still dead after objects moved */
	zs_pool_stats(pool, &before);
	for (i = 0; i < ndead; i++)
		cr_assert_eq(zs_free(pool, dead[i]), -EINVAL,
			     "freed %#lx accepted after compaction", dead[i]);
	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, "frees of dead handles after compaction");

	/* and the pool goes on working */
	more = fill(pool, N / 4, &r);
	live = bytes = 0;
	check_objs(pool, o, N, "after more allocations", &live, &bytes);
	check_objs(pool, more, N / 4, "new after compaction", &live, &bytes);
	zt_assert_pool_consistent(pool, live, bytes);
	for (i = 0; i < N / 4; i++)
		cr_assert_eq(zs_free(pool, more[i].h), 0);
	free_all(pool, o, N);
	free(more);
	free(o);
	free(dead);
	zs_destroy_pool(pool);
}

Test(compact, handles_survive_default_pool, .timeout = 60)
{
	handles_survive(0, 1);
}

Test(compact, handles_survive_no_pack, .timeout = 60)
{
	handles_survive(ZS_POOL_NO_PACK, 2);
}

Test(compact, nothing_to_do)
{
	static struct zt_model m;
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, 0);
	struct zs_pool_stats before, after;
	unsigned long *h;
	unsigned int i, total, size = 0, objs = 0;

	cr_assert_eq(zs_compact(pool), 0, "empty pool");
	zt_model_build(&m, ZS_DEFAULT_PAGES_PER_ZSPAGE);
	for (i = 0; i < m.nr_phys; i++) {
		const struct zt_class *c = &m.c[m.phys[i]];

		if (c->pages > 1 && c->objs > 4) {
			size = c->size;
			objs = c->objs;
			break;
		}
	}
	cr_assert_neq(size, 0);
	total = 5 * objs;
	h = calloc(total, sizeof(*h));
	cr_assert_not_null(h);
	for (i = 0; i < total; i++) {
		h[i] = zt_alloc_stamped(pool, size, SEED);
		cr_assert_neq(h[i], 0);
	}
	cr_assert_eq(zt_total_freeable(pool), 0);
	zs_pool_stats(pool, &before);
	cr_assert_eq(zs_compact(pool), 0, "five full zspages of size %u: compaction freed pages",
		     size);
	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, "compaction with nothing to do");
	for (i = 0; i < total; i++) {
		cr_assert_eq(zt_check_handle(pool, h[i], size, SEED), -1);
		cr_assert_eq(zs_free(pool, h[i]), 0);
	}
	free(h);
	zs_destroy_pool(pool);
}

/*
 * Eight one-page zspages of a class with 8 objects each.  Zspages 0-3 keep one object
 * each, zspages 4-7 lose one object each.  The survivor of zspage 0 is mapped: compaction
 * may move the other three survivors into holes, but not it.  Once it is unmapped, it
 * moves too: four pages freed in all, four full zspages left.
 */
Test(compact, mapped_object_not_moved)
{
	static struct zt_model m;
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, 0);
	struct zs_pool_stats st;
	struct zs_class_stats cs;
	unsigned long h[64], c1, c2;
	unsigned char *p0, *p;
	unsigned int i, size = 0, index = 0;
	long bad;

	zt_model_build(&m, ZS_DEFAULT_PAGES_PER_ZSPAGE);
	for (i = 0; i < m.nr_phys; i++) {
		const struct zt_class *c = &m.c[m.phys[i]];

		if (c->pages == 1 && c->objs == 8) {
			size = c->size;
			index = m.phys[i];
			break;
		}
	}
	cr_assert_neq(size, 0);
	for (i = 0; i < 64; i++) {
		h[i] = zt_alloc_stamped(pool, size, SEED);
		cr_assert_neq(h[i], 0);
	}
	for (i = 0; i < 64; i++) {
		unsigned int zsp = i / 8, slot = i % 8;

		if ((zsp < 4 && slot != 0) || (zsp >= 4 && slot == 7)) {
			cr_assert_eq(zs_free(pool, h[i]), 0);
			h[i] = 0;
		}
	}
	cr_assert(zt_class_by_index(pool, index, &cs));
	cr_assert_eq(cs.obj_used, 32);
	cr_assert_eq(cs.obj_allocated, 64);

	p0 = zs_map_object(pool, h[0], ZS_MM_RW);
	cr_assert_not_null(p0);
	p = zs_map_object(pool, h[0], ZS_MM_RW);
	cr_assert_eq(p, p0);
	zs_unmap_object(pool, h[0]); /* still mapped once */

	c1 = zs_compact(pool);
	bad = zt_check(p0, h[0], size, SEED);
	cr_assert_eq(bad, -1, "mapped object %#lx changed under its mapping at %ld", h[0], bad);
	p = zs_map_object(pool, h[0], ZS_MM_RO);
	cr_assert_eq(p, p0, "mapped object %#lx moved from %p to %p during compaction", h[0],
		     (void *)p0, (void *)p);
	zs_unmap_object(pool, h[0]);
	/* writes through the old mapping reach the object */
	p0[size / 2] ^= 0x5a;
	p = zs_obj_read_begin(pool, h[0], NULL);
	cr_assert_not_null(p);
	cr_assert_eq(p[size / 2], p0[size / 2]);
	zs_obj_read_end(pool, h[0], p);
	p0[size / 2] ^= 0x5a;
	for (i = 0; i < 64; i++)
		if (h[i])
			cr_assert_eq(zt_check_handle(pool, h[i], size, SEED), -1);
	zs_unmap_object(pool, h[0]);

	c2 = zs_compact(pool);
	cr_log_info("compaction with the object mapped freed %lu, after unmapping %lu", c1, c2);
	cr_assert_eq(c1 + c2, 4, "compactions freed %lu + %lu pages, want 4 in all", c1, c2);
	cr_assert(zt_class_by_index(pool, index, &cs));
	cr_assert_eq(cs.obj_used, 32);
	cr_assert_eq(cs.obj_allocated, 32, "after compaction %lu slots for 32 objects",
		     cs.obj_allocated);
	cr_assert_eq(cs.pages_used, 4);
	cr_assert_eq(cs.zspages[ZS_NR_RATIO_BUCKETS - 1], 4);
	zs_pool_stats(pool, &st);
	cr_assert_eq(st.pages_compacted, c1 + c2);
	for (i = 0; i < 64; i++) {
		if (!h[i])
			continue;
		cr_assert_eq(zt_check_handle(pool, h[i], size, SEED), -1);
		cr_assert_eq(zs_free(pool, h[i]), 0);
	}
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}

/*
 * Hundreds of random survivors mapped (every other one mapped twice and unmapped once, so
 * it is still mapped; every freed handle "unmapped", which must be ignored) while
 * compaction runs: none moves, all keep their data.  Once all are
 * unmapped, compaction leaves no class with freeable pages: unmapping really unpins.
 */
Test(compact, many_mapped_objects_not_moved, .timeout = 60)
{
	enum { N = 20000, NMAP = 500 };
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, 0);
	static unsigned char *mp[NMAP];
	static size_t mi[NMAP];
	static unsigned long dead[N];
	struct zt_rng r;
	struct obj *o;
	size_t i, nm = 0, ndead;
	unsigned long c1, c2;

	zt_rng_seed(&r, 3);
	o = fill(pool, N, &r);
	ndead = free_fraction(pool, o, N, 3, 4, &r, dead);
	for (i = 0; i < N && nm < NMAP; i++) {
		if (!o[i].h || zt_below(&r, 8))
			continue;
		mi[nm] = i;
		mp[nm] = zs_map_object(pool, o[i].h, ZS_MM_RO);
		cr_assert_not_null(mp[nm]);
		if (nm % 2) {
			unsigned char *again = zs_map_object(pool, o[i].h, ZS_MM_RW);

			cr_assert_eq(again, mp[nm]);
			zs_unmap_object(pool, o[i].h);
		}
		nm++;
	}
	cr_assert_eq(nm, NMAP);
	/* unmapping handles that are not live is ignored: it must not unpin anything */
	for (i = 0; i < ndead; i++)
		zs_unmap_object(pool, dead[i]);
	c1 = zs_compact(pool);
	cr_assert_gt(c1, 0, "nothing compacted with %d of %d objects mapped", NMAP, N / 4);
	for (i = 0; i < nm; i++) {
		const struct obj *x = &o[mi[i]];
		unsigned char *p;
		long bad = zt_check(mp[i], x->h, x->size, SEED);

		cr_assert_eq(bad, -1, "mapped %#lx changed under its mapping at %ld", x->h, bad);
		p = zs_map_object(pool, x->h, ZS_MM_RO);
		cr_assert_eq(p, mp[i], "mapped %#lx moved from %p to %p", x->h, (void *)mp[i],
			     (void *)p);
		zs_unmap_object(pool, x->h);
	}
	verify_live(pool, o, N, "after compaction with objects mapped");
	for (i = 0; i < nm; i++)
		zs_unmap_object(pool, o[mi[i]].h);
	c2 = zs_compact(pool);
	cr_log_info("freed %lu with objects mapped, %lu after", c1, c2);
	cr_assert_eq(zt_total_freeable(pool), 0,
		     "%lu pages freeable after compacting with nothing mapped",
		     zt_total_freeable(pool));
	verify_live(pool, o, N, "after compaction with nothing mapped");
	free_all(pool, o, N);
	free(o);
	zs_destroy_pool(pool);
}

/* Allocate many, free 90% at random without calling zs_compact(). */
static unsigned long churn_without_compact(struct zs_pool *pool, uint64_t seed)
{
	enum { N = 30000 };
	struct zs_pool_stats st;
	struct zt_rng r;
	struct obj *o;

	zt_rng_seed(&r, seed);
	o = fill(pool, N, &r);
	free_fraction(pool, o, N, 9, 10, &r, NULL);
	verify_live(pool, o, N, "after freeing 90%");
	zs_pool_stats(pool, &st);
	free_all(pool, o, N);
	free(o);
	return st.pages_compacted;
}

Test(compact, automatic_compaction, .timeout = 60)
{
	struct zs_pool *pool = zt_pool(0, 0, 8);
	unsigned long compacted = churn_without_compact(pool, 4);

	cr_assert_gt(compacted, 0,
		     "auto_compact_pages 8: no page compacted after freeing 90%% of 30000 objects");
	zs_destroy_pool(pool);
}

Test(compact, automatic_compaction_keeps_freeable_below_threshold, .timeout = 60)
{
	enum { N = 30000, T = 16 };
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, T);
	struct zs_pool_stats st;
	struct zt_rng r;
	struct obj *o;
	unsigned long freeable;

	zt_rng_seed(&r, 5);
	o = fill(pool, N, &r);
	free_fraction(pool, o, N, 9, 10, &r, NULL);
	zs_pool_stats(pool, &st);
	freeable = zt_total_freeable(pool);
	cr_log_info("auto compaction: %lu pages compacted, %lu freeable left", st.pages_compacted,
		    freeable);
	cr_assert_gt(st.pages_compacted, 0);
	cr_assert_lt(freeable, T, "%lu pages freeable after the last zs_free, threshold %d",
		     freeable, T);
	verify_live(pool, o, N, "after automatic compaction");
	free_all(pool, o, N);
	free(o);
	zs_destroy_pool(pool);
}

Test(compact, no_automatic_compaction_by_default, .timeout = 60)
{
	struct zs_pool *pool = zs_create_pool("manual");
	unsigned long compacted = churn_without_compact(pool, 4);

	cr_assert_eq(compacted, 0, "%lu pages compacted although nobody asked", compacted);
	zs_destroy_pool(pool);
}

/* ---- the handle table shrinks ---- */

enum { HT_KEEP = 1000, HT_ALL = 40000, HT_OBJ = 100 };

/* meta_bytes of a compacted pool that only ever held HT_KEEP objects. */
static unsigned long meta_of_survivors_alone(void)
{
	struct zs_pool *pool = zt_pool(0, 0, 0);
	static unsigned long h[HT_KEEP];
	struct zs_pool_stats st;

	for (size_t i = 0; i < HT_KEEP; i++)
		cr_assert_neq(h[i] = zt_alloc_stamped(pool, HT_OBJ, SEED), 0);
	zs_compact(pool);
	zs_pool_stats(pool, &st);
	for (size_t i = 0; i < HT_KEEP; i++)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	zs_destroy_pool(pool);
	return st.meta_bytes;
}

/* Every handle of @stale[0..@n) is refused by zs_free and zs_map_object, leaving the pool as it
 * was (a handle that named a new object would free it). */
static void assert_refused(struct zs_pool *pool, const unsigned long *stale, size_t n,
			   const char *when)
{
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		cr_assert_null(zs_map_object(pool, stale[i], ZS_MM_RO),
			       "%s: freed handle %#lx maps", when, stale[i]);
		cr_assert_eq(errno, EINVAL, "%s: errno %d", when, errno);
		cr_assert_eq(zs_free(pool, stale[i]), -EINVAL, "%s: freed handle %#lx frees", when,
			     stale[i]);
	}
}

Test(compact, handle_pages_given_back, .timeout = 60)
{
	static unsigned long h[HT_ALL], again[HT_ALL];
	struct zs_pool *pool = zt_pool(0, 0, 0);
	struct zs_pool_stats before, after;
	unsigned long alone = meta_of_survivors_alone();

	for (size_t i = 0; i < HT_ALL; i++)
		cr_assert_neq(h[i] = zt_alloc_stamped(pool, HT_OBJ, SEED), 0);
	for (size_t i = HT_KEEP; i < HT_ALL; i++)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	zs_pool_stats(pool, &before);
	zs_compact(pool);
	zs_pool_stats(pool, &after);
	/* 39000 free entries are 76 pages; the bitmap of 40000 indexes is 2 pages more than the
	 * survivors' one, its chunk growth 1 more.  (A DEBUG=1 build's own table of mapping
	 * counts follows the high-water mark: there only the pages given back are counted.) */
	cr_assert_geq(before.meta_bytes - after.meta_bytes, 70 * 4096,
		      "meta_bytes %lu after compaction, %lu before", after.meta_bytes,
		      before.meta_bytes);
	if (!ZS_DEBUG)
		cr_assert_leq(after.meta_bytes, alone + 4 * 4096,
			      "meta_bytes %lu after compaction (%lu before), a pool of the "
			      "survivors alone %lu",
			      after.meta_bytes, before.meta_bytes, alone);
	zt_assert_pool_consistent(pool, HT_KEEP, HT_KEEP * HT_OBJ);
	assert_refused(pool, h + HT_KEEP, HT_ALL - HT_KEEP, "after the table shrank");

	/* The released indexes come back (lowest first) with generations none of them had. */
	for (size_t i = HT_KEEP; i < HT_ALL; i++)
		cr_assert_neq(again[i] = zt_alloc_stamped(pool, HT_OBJ, SEED), 0);
	assert_refused(pool, h + HT_KEEP, HT_ALL - HT_KEEP, "after the indexes were reused");
	for (size_t i = 0; i < HT_ALL; i++) {
		unsigned long live = i < HT_KEEP ? h[i] : again[i];
		cr_assert_eq(zt_check_handle(pool, live, HT_OBJ, SEED), -1, "object %zu", i);
	}
	zt_assert_pool_consistent(pool, HT_ALL, (unsigned long)HT_ALL * HT_OBJ);
	for (size_t i = 0; i < HT_ALL; i++)
		cr_assert_eq(zs_free(pool, i < HT_KEEP ? h[i] : again[i]), 0);
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}

struct shrink_race {
	struct zs_pool *pool;
	const unsigned long *keep; /* HT_KEEP live objects */
	unsigned long *stale;	   /* handles freed before the threads started */
	size_t nstale;
	atomic_bool stop;
	atomic_long bad;
};

/* Map the survivors and the stale handles over and over while the table grows and shrinks. */
static void *shrink_reader(void *arg)
{
	struct shrink_race *r = arg;

	while (!atomic_load(&r->stop)) {
		for (size_t i = 0; i < HT_KEEP; i += 7)
			if (zt_check_handle(r->pool, r->keep[i], HT_OBJ, SEED) != -1)
				atomic_fetch_add(&r->bad, 1);
		for (size_t i = 0; i < r->nstale; i += 13)
			if (zs_map_object(r->pool, r->stale[i], ZS_MM_RO))
				atomic_fetch_add(&r->bad, 1000000);
	}
	return NULL;
}

/* Compactions racing the main thread's, each giving table pages back. */
static void *shrink_compactor(void *arg)
{
	struct shrink_race *r = arg;

	while (!atomic_load(&r->stop))
		zs_compact(r->pool);
	return NULL;
}

Test(compact, handle_pages_given_back_under_lookups, .timeout = 120)
{
	static unsigned long keep[HT_KEEP], stale[HT_ALL], batch[HT_ALL];
	struct shrink_race r = {.pool = zt_pool(0, 0, 0), .keep = keep, .stale = stale};
	pthread_t th[3];

	for (size_t i = 0; i < HT_KEEP; i++)
		cr_assert_neq(keep[i] = zt_alloc_stamped(r.pool, HT_OBJ, SEED), 0);
	for (size_t i = 0; i < HT_ALL; i++)
		cr_assert_neq(stale[i] = zt_alloc_stamped(r.pool, HT_OBJ, SEED), 0);
	for (size_t i = 0; i < HT_ALL; i++)
		cr_assert_eq(zs_free(r.pool, stale[i]), 0);
	r.nstale = HT_ALL;
	zs_compact(r.pool);
	cr_assert_eq(pthread_create(&th[0], NULL, shrink_reader, &r), 0);
	cr_assert_eq(pthread_create(&th[1], NULL, shrink_reader, &r), 0);
	cr_assert_eq(pthread_create(&th[2], NULL, shrink_compactor, &r), 0);
	for (int round = 0; round < 8; round++) {
		size_t n = HT_ALL / 2 + (size_t)round * 2000;
		for (size_t i = 0; i < n; i++)
			cr_assert_neq(batch[i] = zt_alloc_stamped(r.pool, HT_OBJ, SEED), 0);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(zt_check_handle(r.pool, batch[i], HT_OBJ, SEED), -1,
				     "round %d, object %zu", round, i);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(zs_free(r.pool, batch[i]), 0);
		zs_compact(r.pool);
	}
	atomic_store(&r.stop, true);
	for (int t = 0; t < 3; t++)
		pthread_join(th[t], NULL);
	cr_assert_eq(atomic_load(&r.bad), 0, "%ld bad reads (a million per stale handle mapped)",
		     atomic_load(&r.bad));
	assert_refused(r.pool, stale, HT_ALL, "after the race");
	zt_assert_pool_consistent(r.pool, HT_KEEP, HT_KEEP * HT_OBJ);
	for (size_t i = 0; i < HT_KEEP; i++)
		cr_assert_eq(zs_free(r.pool, keep[i]), 0);
	zs_destroy_pool(r.pool);
}

/*
 * A released page of handle entries comes back with one generation for all its 512 indexes,
 * the highest any of them had: one hot index must not spend its 511 neighbours' generations.
 * (zsmalloc.c: a spent index is retired at a cost of "8 bytes per 32767 reuses of one index".)
 * One index of a middle page is reused until its generation is nearly spent, the page's
 * objects are freed and compacted away, then a working set that fits in the table's free
 * indexes (with a few hundred to spare) is allocated and freed ten times.  At most the hot
 * index may retire: if its whole page did, the table has to grow past its old top.  Handle
 * values are decoded as handle.h lays them out (index: low 32 bits, generation: next 16).
 */
enum { HOT_ALL = 4096, HOT_LOW = 1024, HOT_SPARE = 256, HOT_GEN = 32760, HOT_ROUNDS = 10 };

static uint32_t h_idx(unsigned long h)
{
	return (uint32_t)h;
}

static uint32_t h_gen(unsigned long h)
{
	return (uint32_t)(h >> 32) & 0xffff;
}

static int by_idx_desc(const void *a, const void *b)
{
	uint32_t x = h_idx(*(const unsigned long *)a), y = h_idx(*(const unsigned long *)b);

	return (x < y) - (x > y);
}

Test(compact, hot_index_does_not_spend_its_page, .timeout = 120)
{
	static unsigned long h[HOT_ALL], w[HOT_ALL];
	struct zs_pool *pool = zt_pool(0, 0, 0);
	uint32_t top = 0, hot = HOT_ALL;
	size_t keep = 0;

	for (size_t i = 0; i < HOT_ALL; i++) {
		cr_assert_neq(h[i] = zs_malloc(pool, HT_OBJ), 0);
		if (h_idx(h[i]) >= top)
			top = h_idx(h[i]) + 1;
	}
	/* The hot one: an index in the middle of what will be freed (page 5 of entries). */
	for (size_t i = 0; i < HOT_ALL && hot == HOT_ALL; i++)
		if (h_idx(h[i]) >= 5 * 512 + 100 && h_idx(h[i]) < 5 * 512 + 400)
			hot = (uint32_t)i;
	cr_assert_neq(hot, HOT_ALL);
	uint32_t hot_idx = h_idx(h[hot]);
	while (h_gen(h[hot]) < HOT_GEN) {
		cr_assert_eq(zs_free(pool, h[hot]), 0);
		cr_assert_neq(h[hot] = zs_malloc(pool, HT_OBJ), 0);
		cr_assert_eq(h_idx(h[hot]), hot_idx, "the magazine handed out another index");
	}
	/* Free everything from the 1024th index up, highest first: the magazine keeps some of
	 * the highest and the lowest, the middle pages go to the bitmap whole. */
	qsort(h, HOT_ALL, sizeof(h[0]), by_idx_desc);
	for (size_t i = 0; i < HOT_ALL; i++) {
		if (h_idx(h[i]) >= HOT_LOW)
			cr_assert_eq(zs_free(pool, h[i]), 0);
		else
			h[keep++] = h[i];
	}
	struct zs_pool_stats before, after;
	zs_pool_stats(pool, &before);
	zs_compact(pool);
	zs_pool_stats(pool, &after);
	cr_log_info("meta_bytes %lu -> %lu", before.meta_bytes, after.meta_bytes);

	/* The working set leaves HOT_SPARE free indexes below top, and more than one index to
	 * spare: no fresh index is needed unless hundreds of indexes retired. */
	size_t n = (size_t)top - 1 - keep - HOT_SPARE;
	uint32_t most = 0;
	for (int round = 0; round < HOT_ROUNDS; round++) {
		for (size_t i = 0; i < n; i++) {
			cr_assert_neq(w[i] = zs_malloc(pool, HT_OBJ), 0);
			if (h_idx(w[i]) > most)
				most = h_idx(w[i]);
		}
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(zs_free(pool, w[i]), 0);
	}
	cr_assert_lt(most, top,
		     "%zu objects and %zu live ones needed index %u, the table's top was %u: "
		     "hundreds of indexes retired early",
		     n, keep, most, top);
	zt_assert_pool_consistent(pool, keep, keep * HT_OBJ);
	for (size_t i = 0; i < keep; i++)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	zs_destroy_pool(pool);
}
