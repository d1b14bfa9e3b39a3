/*
 * test_zs_tcache_stats.c - the pool's and the classes' statistics stay exact while several
 * threads' caches hold slots: three threads take turns allocating and freeing one pool's objects
 * (each turn ends before the next begins, so every check sees a pool no call is changing), and
 * after each turn the counters must match a tally of what is live, the classes must add up to
 * the pool, and after every object is freed and the pool compacted nothing may be left.  Five
 * pool configurations: chain lengths, automatic compaction, packing distance, no packing.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

#define NT    3
#define NLIVE 3000

struct shared {
	struct zs_pool *pool;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int turn; /* -1: main; else thread id */
	int quit;
	unsigned long h[NLIVE];
	size_t sz[NLIVE];
	unsigned long objs, bytes;
	struct zt_rng rng;
	int phase; /* 0 random, 1 free all */
};

static struct shared S; /* the threads' turns make it a shared, not a raced, state */

static size_t pick_size(struct zt_rng *r)
{
	switch (zt_below(r, 4)) {
	case 0:
		return zt_range(r, 1, 200);
	case 1:
		return zt_range(r, 200, 1200);
	case 2:
		return zt_range(r, 1200, 3500);
	default:
		return zt_range(r, 3500, 4096);
	}
}

static void step(void)
{
	struct zt_rng *r = &S.rng;
	int ops = (int)zt_range(r, 1, 400);

	for (int k = 0; k < ops; k++) {
		size_t i = zt_below(r, NLIVE);
		if (S.phase == 1) {
			if (S.h[i]) {
				cr_assert_eq(zs_free(S.pool, S.h[i]), 0);
				S.objs--;
				S.bytes -= S.sz[i];
				S.h[i] = 0;
			}
			continue;
		}
		if (S.h[i]) {
			cr_assert_eq(zs_free(S.pool, S.h[i]), 0);
			S.objs--;
			S.bytes -= S.sz[i];
			S.h[i] = 0;
		} else {
			/* sizes over every range, so bins hold varied sizes */
			size_t s = pick_size(r);
			S.h[i] = zs_malloc(S.pool, s);
			cr_assert_neq(S.h[i], 0);
			S.sz[i] = s;
			S.objs++;
			S.bytes += s;
		}
	}
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;

	pthread_mutex_lock(&S.m);
	for (;;) {
		while (S.turn != id && !S.quit)
			pthread_cond_wait(&S.cv, &S.m);
		if (S.quit)
			break;
		step();
		S.turn = -1;
		pthread_cond_broadcast(&S.cv);
	}
	pthread_mutex_unlock(&S.m);
	return NULL;
}

static void run_turn(int id)
{
	pthread_mutex_lock(&S.m);
	S.turn = id;
	pthread_cond_broadcast(&S.cv);
	while (S.turn != -1)
		pthread_cond_wait(&S.cv, &S.m);
	pthread_mutex_unlock(&S.m);
}

static void check(const char *what, int round)
{
	struct zs_pool_stats st;

	zs_pool_stats(S.pool, &st);
	cr_assert_eq(st.objs_used, S.objs, "%s round %d: objs_used %lu, expected %lu", what, round,
		     st.objs_used, S.objs);
	cr_assert_eq(st.bytes_used, S.bytes, "%s round %d: bytes_used %lu, expected %lu", what,
		     round, st.bytes_used, S.bytes);
	unsigned long sa = 0, su = 0, sp = 0;
	for (unsigned n = 0; n < zs_nr_classes(S.pool); n++) {
		struct zs_class_stats cs;
		unsigned long zsp = 0;
		cr_assert_eq(zs_class_stats(S.pool, n, &cs), 0);
		for (int b = 0; b < ZS_NR_RATIO_BUCKETS; b++)
			zsp += cs.zspages[b];
		cr_assert_eq(zsp * cs.objs_per_zspage, cs.obj_allocated, "%s round %d class %u",
			     what, round, n);
		sa += cs.obj_allocated;
		su += cs.obj_used;
		sp += cs.pages_used;
	}
	cr_assert_eq(sa, st.objs_allocated, "%s round %d: alloc %lu vs %lu", what, round, sa,
		     st.objs_allocated);
	cr_assert_eq(su, st.objs_used, "%s round %d: used %lu vs %lu", what, round, su,
		     st.objs_used);
	cr_assert_eq(sp + st.pages_cached, st.pages_used, "%s round %d: pages %lu+%lu vs %lu", what,
		     round, sp, st.pages_cached, st.pages_used);
}

static void run(unsigned int max_pages, unsigned int flags, unsigned long auto_compact,
		unsigned int pack)
{
	pthread_t t[NT];
	struct zs_pool_opts o = {.max_pages_per_zspage = max_pages,
				 .flags = flags,
				 .auto_compact_pages = auto_compact,
				 .pack_bytes = pack};

	memset(&S, 0, sizeof(S));
	S.pool = zs_create_pool_opts("tc-stats", &o);
	cr_assert_not_null(S.pool);
	pthread_mutex_init(&S.m, NULL);
	pthread_cond_init(&S.cv, NULL);
	S.turn = -1;
	zt_rng_seed(&S.rng, 12345 + max_pages * 7 + flags + auto_compact);
	for (int i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int round = 0; round < 600; round++) {
		run_turn((int)zt_below(&S.rng, NT));
		check("after turn", round);
		if (round % 37 == 36) {
			zs_compact(S.pool);
			check("after compact", round);
		}
	}
	S.phase = 1;
	for (int round = 0; round < 400 && S.objs; round++) {
		run_turn((int)zt_below(&S.rng, NT));
		check("freeing", round);
	}
	for (size_t i = 0; i < NLIVE; i++)
		if (S.h[i]) {
			cr_assert_eq(zs_free(S.pool, S.h[i]), 0);
			S.objs--;
			S.bytes -= S.sz[i];
			S.h[i] = 0;
		}
	check("all freed", 0);
	zs_compact(S.pool);
	check("all freed, compacted", 0);
	struct zs_pool_stats st;
	zs_pool_stats(S.pool, &st);
	cr_assert_eq(st.pages_used, 0, "pages_used %lu after free all + compact", st.pages_used);
	cr_assert_eq(st.objs_allocated, 0, "objs_allocated %lu", st.objs_allocated);
	for (unsigned n = 0; n < zs_nr_classes(S.pool); n++) {
		struct zs_class_stats cs;
		zs_class_stats(S.pool, n, &cs);
		cr_assert_eq(cs.pages_used + cs.obj_allocated + cs.obj_used + cs.freeable, 0);
	}
	pthread_mutex_lock(&S.m);
	S.quit = 1;
	pthread_cond_broadcast(&S.cv);
	pthread_mutex_unlock(&S.m);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	zs_destroy_pool(S.pool);
}

Test(tcache_stats, exact_default, .timeout = 60)
{
	run(0, 0, 0, 0);
}
Test(tcache_stats, exact_one_page_zspages, .timeout = 60)
{
	run(1, 0, 0, 0);
}
Test(tcache_stats, exact_auto_compaction, .timeout = 60)
{
	run(4, 0, 8, 0);
}
Test(tcache_stats, exact_widest_packing, .timeout = 60)
{
	run(16, 0, 0, ZS_MAX_PACK_BYTES);
}
Test(tcache_stats, exact_without_packing, .timeout = 60)
{
	run(2, ZS_POOL_NO_PACK, 4, 0);
}
