/*
 * The per-thread caches of free slots (libzs/tcache.h): a slot freed by a thread is what its
 * next allocation of the class gets; cached slots count as allocated, not used, and the
 * statistics stay exact; a thread that exits with full caches gives every slot back (the pool
 * empties to 0 pages); compaction takes back the slots other, still running threads cache and
 * frees what it would without caches; a freed handle stays refused while its slot is cached
 * and after the slot is reused; two threads freeing one handle at once free it once; and
 * ZS_POOL_NO_TCACHE gives each slot back at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

#define OBJ_SIZE 64
#define NOBJ	 4000

static unsigned long class_used(struct zs_pool *pool, size_t size)
{
	struct zs_class_stats cs;
	int index = zs_lookup_class_index(pool, size);

	for (unsigned int n = 0; n < zs_nr_classes(pool); n++) {
		cr_assert_eq(zs_class_stats(pool, n, &cs), 0);
		if ((int)cs.index >= index)
			return cs.obj_used;
	}
	cr_assert_fail("no class for %zu bytes", size);
	return 0;
}

Test(tcache, freed_slot_is_reused_and_its_handle_refused)
{
	struct zs_pool *pool = zs_create_pool("tc-reuse");
	unsigned long keep[16], h, again;
	char buf[OBJ_SIZE];

	cr_assert_not_null(pool);
	for (int i = 0; i < 16; i++)
		cr_assert_neq(keep[i] = zs_malloc(pool, OBJ_SIZE), 0);
	h = zs_malloc(pool, OBJ_SIZE);
	cr_assert_neq(h, 0);
	memset(buf, 0xa5, sizeof(buf));
	cr_assert_eq(zs_obj_write(pool, h, buf, sizeof(buf)), 0);
	void *where = zs_map_object(pool, h, ZS_MM_RO);
	cr_assert_not_null(where);
	zs_unmap_object(pool, h);
	cr_assert_eq(zs_free(pool, h), 0);

	/* Cached: allocated but not used, and the handle is dead for every call. */
	struct zs_pool_stats st;
	zs_pool_stats(pool, &st);
	cr_assert_eq(st.objs_used, 16, "objs_used %lu with one slot cached", st.objs_used);
	cr_assert_eq(st.bytes_used, 16 * OBJ_SIZE, "bytes_used %lu", st.bytes_used);
	cr_assert_eq(class_used(pool, OBJ_SIZE), 16);
	cr_assert_eq(zs_free(pool, h), -EINVAL);
	cr_assert_null(zs_map_object(pool, h, ZS_MM_RO));
	cr_assert_eq(zs_obj_size(pool, h), 0);
	cr_assert_eq(zs_obj_write(pool, h, buf, 1), -EINVAL);

	/* The next object of the class takes the same slot, under a new handle. */
	again = zs_malloc(pool, OBJ_SIZE - 3);
	cr_assert_neq(again, 0);
	cr_assert_neq(again, h, "a freed handle value came back");
	cr_assert_eq(zs_map_object(pool, again, ZS_MM_RO), where, "the cached slot was not reused");
	zs_unmap_object(pool, again);
	cr_assert_eq(zs_free(pool, h), -EINVAL);
	zs_pool_stats(pool, &st);
	cr_assert_eq(st.objs_used, 17);
	cr_assert_eq(st.bytes_used, 16 * OBJ_SIZE + OBJ_SIZE - 3);

	/* A mapped object is refused and stays live, cache or not. */
	cr_assert_not_null(zs_map_object(pool, again, ZS_MM_RO));
	cr_assert_eq(zs_free(pool, again), -EBUSY);
	zs_unmap_object(pool, again);
	cr_assert_eq(zs_free(pool, again), 0);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(zs_free(pool, keep[i]), 0);
	/* Freeing the class's last objects gives this thread's cached slots back. */
	cr_assert_eq(zs_get_total_pages(pool), 0, "%lu pages after every free",
		     zs_get_total_pages(pool));
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}

Test(tcache, no_tcache_gives_the_slot_back_at_once)
{
	struct zs_pool_opts o = {.flags = ZS_POOL_NO_TCACHE};
	struct zs_pool *pool = zs_create_pool_opts("tc-off", &o);
	unsigned long h[64];
	struct zs_pool_stats a, b;

	cr_assert_not_null(pool);
	for (int i = 0; i < 64; i++)
		cr_assert_neq(h[i] = zs_malloc(pool, OBJ_SIZE), 0);
	zs_pool_stats(pool, &a);
	cr_assert_eq(zs_free(pool, h[0]), 0);
	zs_pool_stats(pool, &b);
	cr_assert_eq(b.objs_used, 63);
	/* the kernel's view: the zspage's in-use count went down (its bucket shows it) */
	struct zs_class_stats cs;
	for (unsigned int n = 0; n < zs_nr_classes(pool); n++) {
		zs_class_stats(pool, n, &cs);
		if (cs.obj_used == 63)
			break;
	}
	cr_assert_eq(cs.obj_used, 63);
	cr_assert_eq(cs.zspages[ZS_NR_RATIO_BUCKETS - 1] * cs.objs_per_zspage <= 63, true,
		     "a full zspage kept the freed slot");
	for (int i = 1; i < 64; i++)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	cr_assert_eq(zs_get_total_pages(pool), 0);
	zs_destroy_pool(pool);
}

/*
 * A handle whose generation is spent is freed on the locked path (its index retires).  When that
 * was the last object of its class but for slots this thread caches, those slots went back only
 * at the next compaction, so a pool with every object freed kept pages (fuzz_swap_corrupt found
 * it on kept areas after 250,000 inputs).  Two objects of one class in turn, freed in both
 * orders and a generation apart, wear out their handles' generations: every round must leave
 * the pool empty.
 */
Test(tcache, last_object_freed_locked_takes_the_cached_slots_back, .timeout = 60)
{
	struct zs_pool *pool = zs_create_pool("tc-retire");

	cr_assert_not_null(pool);
	/* One more use of the first index: the two spend their generations a round apart. */
	cr_assert_eq(zs_free(pool, zs_malloc(pool, OBJ_SIZE)), 0);
	for (int i = 0; i < 3 * 32768; i++) {
		unsigned long x = zs_malloc(pool, OBJ_SIZE), y = zs_malloc(pool, OBJ_SIZE);

		cr_assert(x && y, "round %d: zs_malloc: errno %d", i, errno);
		cr_assert_eq(zs_free(pool, i & 1 ? y : x), 0);
		cr_assert_eq(zs_free(pool, i & 1 ? x : y), 0);
		cr_assert_eq(zs_get_total_pages(pool), 0, "round %d: %lu pages with nothing live",
			     i, zs_get_total_pages(pool));
	}
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
}

/* ---- thread exit ---- */

struct exiter {
	struct zs_pool *pool;
	unsigned long *h; /* NOBJ handles; the thread frees the odd ones */
	pthread_barrier_t *cached, *go;
};

static void *exiter_run(void *arg)
{
	struct exiter *x = arg;

	for (int i = 0; i < NOBJ; i++)
		x->h[i] = zs_malloc(x->pool, OBJ_SIZE + (i % 8));
	for (int i = 1; i < NOBJ; i += 2)
		if (zs_free(x->pool, x->h[i]))
			x->h[i] = 1; /* an error the main thread reports */
		else
			x->h[i] = 0;
	pthread_barrier_wait(x->cached); /* our caches are full now */
	pthread_barrier_wait(x->go);
	return NULL;
}

Test(tcache, thread_exit_returns_cached_slots, .timeout = 60)
{
	struct zs_pool *pool = zs_create_pool("tc-exit");
	unsigned long *h = calloc(NOBJ, sizeof(*h));
	pthread_barrier_t cached, go;
	struct exiter x = {pool, h, &cached, &go};
	struct zs_pool_stats st;
	pthread_t t;

	cr_assert(pool && h);
	pthread_barrier_init(&cached, NULL, 2);
	pthread_barrier_init(&go, NULL, 2);
	cr_assert_eq(pthread_create(&t, NULL, exiter_run, &x), 0);
	pthread_barrier_wait(&cached);
	for (int i = 0; i < NOBJ; i++)
		cr_assert_eq(h[i] == 0, i % 2 == 1, "handle %d: %lu", i, h[i]);
	/* Exact while the other thread's caches hold slots. */
	zs_pool_stats(pool, &st);
	cr_assert_eq(st.objs_used, NOBJ / 2, "objs_used %lu", st.objs_used);
	cr_assert_gt(st.objs_allocated, st.objs_used);
	pthread_barrier_wait(&go);
	cr_assert_eq(pthread_join(t, NULL), 0);

	/* Its caches went back as it exited: freeing the rest from here empties the pool. */
	for (int i = 0; i < NOBJ; i += 2)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	zs_pool_stats(pool, &st);
	cr_assert_eq(st.objs_used, 0);
	cr_assert_eq(st.bytes_used, 0);
	cr_assert_eq(st.pages_used, 0, "%lu pages left: the exited thread's slots are lost",
		     st.pages_used);
	zt_assert_pool_consistent(pool, 0, 0);
	pthread_barrier_destroy(&cached);
	pthread_barrier_destroy(&go);
	free(h);
	zs_destroy_pool(pool);
}

/* ---- compaction while other threads cache slots ---- */

#define NCOMPACT_THREADS 2

struct holder {
	pthread_t t;
	struct zs_pool *pool;
	unsigned long h[NOBJ];
	struct zt_rng seed;
	int errors;
	pthread_barrier_t *cached, *compacted;
};

/* Allocate, free a random 3/4 (caching the last slots freed of every class), then wait while
 * the main thread compacts, then free the rest. */
static void *holder_run(void *arg)
{
	struct holder *w = arg;

	for (int i = 0; i < NOBJ; i++)
		if (!(w->h[i] = zs_malloc(w->pool, 32 + zt_rand(&w->seed) % 1500)))
			w->errors++;
	for (int i = 0; i < NOBJ; i++)
		if (zt_rand(&w->seed) % 4) {
			w->errors += zs_free(w->pool, w->h[i]) != 0;
			w->h[i] = 0;
		}
	pthread_barrier_wait(w->cached);
	pthread_barrier_wait(w->compacted);
	for (int i = 0; i < NOBJ; i++)
		if (w->h[i])
			w->errors += zs_free(w->pool, w->h[i]) != 0;
	return NULL;
}

Test(tcache, compaction_takes_back_other_threads_slots, .timeout = 60)
{
	struct zs_pool *pool = zs_create_pool("tc-compact");
	struct holder *w = calloc(NCOMPACT_THREADS, sizeof(*w));
	pthread_barrier_t cached, compacted;
	struct zs_pool_stats before, after;

	cr_assert(pool && w);
	pthread_barrier_init(&cached, NULL, NCOMPACT_THREADS + 1);
	pthread_barrier_init(&compacted, NULL, NCOMPACT_THREADS + 1);
	for (int k = 0; k < NCOMPACT_THREADS; k++) {
		w[k] = (struct holder){.pool = pool, .cached = &cached, .compacted = &compacted};
		zt_rng_seed(&w[k].seed, 77 + k);
		cr_assert_eq(pthread_create(&w[k].t, NULL, holder_run, &w[k]), 0);
	}
	pthread_barrier_wait(&cached);
	zs_pool_stats(pool, &before);
	cr_assert_gt(before.objs_allocated, before.objs_used);
	unsigned long freed = zs_compact(pool);
	zs_pool_stats(pool, &after);
	cr_assert_eq(after.objs_used, before.objs_used);
	cr_assert_eq(after.bytes_used, before.bytes_used);
	cr_assert_eq(before.pages_used - after.pages_used, freed,
		     "pages_used dropped by %lu, zs_compact says %lu",
		     before.pages_used - after.pages_used, freed);
	/* What compaction leaves is what it leaves without caches: nothing freeable. */
	for (unsigned int n = 0; n < zs_nr_classes(pool); n++) {
		struct zs_class_stats cs;
		zs_class_stats(pool, n, &cs);
		cr_assert_eq(cs.freeable, 0,
			     "class size %u: %lu pages still freeable (%lu of %lu "
			     "slots used)",
			     cs.size, cs.freeable, cs.obj_used, cs.obj_allocated);
		cr_assert_eq(cs.obj_allocated % cs.objs_per_zspage, 0);
	}
	pthread_barrier_wait(&compacted);
	for (int k = 0; k < NCOMPACT_THREADS; k++) {
		cr_assert_eq(pthread_join(w[k].t, NULL), 0);
		cr_assert_eq(w[k].errors, 0, "thread %d: %d errors", k, w[k].errors);
	}
	zs_pool_stats(pool, &after);
	cr_assert_eq(after.objs_used, 0);
	cr_assert_eq(after.pages_used, 0, "%lu pages after every thread freed and exited",
		     after.pages_used);
	zt_assert_pool_consistent(pool, 0, 0);
	pthread_barrier_destroy(&cached);
	pthread_barrier_destroy(&compacted);
	free(w);
	zs_destroy_pool(pool);
}

/* ---- two threads freeing the same handles ---- */

struct racer {
	struct zs_pool *pool;
	_Atomic unsigned long *h;
	int n;
	pthread_barrier_t *start;
	int ok, refused, other;
};

static void *racer_run(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	for (int i = 0; i < r->n; i++) {
		int ret = zs_free(r->pool, atomic_load(&r->h[i]));
		r->ok += ret == 0;
		r->refused += ret == -EINVAL;
		r->other += ret != 0 && ret != -EINVAL;
	}
	return NULL;
}

Test(tcache, racing_frees_of_one_handle_free_it_once, .timeout = 60)
{
	struct zs_pool *pool = zs_create_pool("tc-race");
	enum { N = 20000 };
	_Atomic unsigned long *h = calloc(N, sizeof(*h));
	pthread_barrier_t start;
	struct racer r[2];
	pthread_t t[2];

	cr_assert(pool && h);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++)
			atomic_store(&h[i], zs_malloc(pool, 32 + (i % 64) * 8));
		pthread_barrier_init(&start, NULL, 2);
		for (int k = 0; k < 2; k++) {
			r[k] = (struct racer){pool, h, N, &start, 0, 0, 0};
			cr_assert_eq(pthread_create(&t[k], NULL, racer_run, &r[k]), 0);
		}
		for (int k = 0; k < 2; k++)
			pthread_join(t[k], NULL);
		pthread_barrier_destroy(&start);
		cr_assert_eq(r[0].other + r[1].other, 0);
		cr_assert_eq(r[0].ok + r[1].ok, N, "round %d: %d frees succeeded for %d objects",
			     round, r[0].ok + r[1].ok, N);
		cr_assert_eq(r[0].refused + r[1].refused, N);
		struct zs_pool_stats st;
		zs_pool_stats(pool, &st);
		cr_assert_eq(st.objs_used, 0);
		cr_assert_eq(st.pages_used, 0, "round %d: %lu pages", round, st.pages_used);
		zt_assert_pool_consistent(pool, 0, 0);
	}
	free(h);
	zs_destroy_pool(pool);
}

/* ---- many pools, destroyed under live caches ---- */

static void *many_pools_run(void *arg)
{
	struct zs_pool **pools = arg;
	int errors = 0;

	for (int round = 0; round < 50; round++) {
		for (int p = 0; p < 7; p++) {
			unsigned long h[8];
			for (int i = 0; i < 8; i++)
				errors += !(h[i] = zs_malloc(pools[p], 100 + p));
			for (int i = 0; i < 8; i += 2)
				errors += zs_free(pools[p], h[i]) != 0;
			for (int i = 1; i < 8; i += 2)
				errors += zs_free(pools[p], h[i]) != 0;
		}
	}
	return (void *)(intptr_t)errors;
}

Test(tcache, more_pools_than_caches_and_destroyed_pools, .timeout = 60)
{
	struct zs_pool *pools[7];
	pthread_t t[2];
	void *ret;

	for (int p = 0; p < 7; p++)
		cr_assert_not_null(pools[p] = zs_create_pool("tc-many"));
	for (int k = 0; k < 2; k++)
		cr_assert_eq(pthread_create(&t[k], NULL, many_pools_run, pools), 0);
	for (int k = 0; k < 2; k++) {
		pthread_join(t[k], &ret);
		cr_assert_eq((intptr_t)ret, 0);
	}
	for (int p = 0; p < 7; p++) {
		cr_assert_eq(zs_get_total_pages(pools[p]), 0);
		zt_assert_pool_consistent(pools[p], 0, 0);
	}
	/* This thread caches slots of a pool, which is destroyed; a new pool (perhaps at the
	 * same address) must not see them. */
	for (int round = 0; round < 8; round++) {
		struct zs_pool *p = zs_create_pool("tc-reborn");
		unsigned long keep = zs_malloc(p, 200), h = zs_malloc(p, 200);
		cr_assert(keep && h);
		cr_assert_eq(zs_free(p, h), 0); /* cached */
		zs_destroy_pool(p);
	}
	struct zs_pool *p = zs_create_pool("tc-fresh");
	unsigned long h = zs_malloc(p, 200);
	cr_assert_neq(h, 0);
	struct zs_pool_stats st;
	zs_pool_stats(p, &st);
	cr_assert_eq(st.objs_used, 1);
	cr_assert_eq(zs_free(p, h), 0);
	cr_assert_eq(zs_get_total_pages(p), 0);
	zs_destroy_pool(p);
	for (int p2 = 0; p2 < 7; p2++)
		zs_destroy_pool(pools[p2]);
}
