/*
 * libswap: integrity over a corpus of pages made here, through every kind of area, and a
 * multi-thread stress in which threads trade stamped entries (swap_out, swap_in, duplicate,
 * free) across compressed and file areas, checking every stamp.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "swap_test_util.h"

#define CORPUS_PAGES 3000

static char *make_corpus(int *same)
{
	char *c = malloc((size_t)CORPUS_PAGES * PAGE);
	uint64_t s = 12345;
	*same = 0;
	for (int i = 0; i < CORPUS_PAGES; i++) {
		/* make-corpus.py's mix: mostly code and text, some zero, word, random, heap */
		unsigned r = (unsigned)(tu_rand(&s) % 100);
		enum tu_page_kind k = r < 45   ? TU_PAGE_BIN
				      : r < 70 ? TU_PAGE_TEXT
				      : r < 80 ? TU_PAGE_ZERO
				      : r < 85 ? TU_PAGE_WORD
				      : r < 95 ? TU_PAGE_RANDOM
					       : TU_PAGE_HEAP;
		tu_make_page(c + (size_t)i * PAGE, k, tu_rand(&s));
		*same += k == TU_PAGE_ZERO || k == TU_PAGE_WORD;
	}
	return c;
}

static void corpus_through(struct swap_ctx *ctx, const char *corpus)
{
	swp_entry_t *e = malloc(sizeof(*e) * CORPUS_PAGES);
	char out[PAGE];

	for (int i = 0; i < CORPUS_PAGES; i++) {
		e[i] = swap_out(ctx, corpus + (size_t)i * PAGE);
		cr_assert_neq(e[i].val, 0, "page %d: errno %d", i, errno);
	}
	/* backwards, so that nothing depends on order */
	for (int i = CORPUS_PAGES - 1; i >= 0; i--) {
		cr_assert_eq(swap_in(ctx, e[i], out), 0, "page %d", i);
		cr_assert_arr_eq(out, corpus + (size_t)i * PAGE, PAGE, "page %d differs", i);
	}
	for (int i = 0; i < CORPUS_PAGES; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	free(e);
}

Test(swap_stress, corpus_memory_lz4)
{
	int same;
	char *corpus = make_corpus(&same);
	struct swap_ctx *ctx = ctx_with_memory(CORPUS_PAGES + 1, NULL);
	struct swap_area_stats st;
	swp_entry_t *e = malloc(sizeof(*e) * CORPUS_PAGES);

	for (int i = 0; i < CORPUS_PAGES; i++)
		e[i] = swap_out(ctx, corpus + (size_t)i * PAGE);
	st = area_stats(ctx, 0);
	cr_assert_eq(st.inuse_pages, CORPUS_PAGES, "exactly fills the area");
	cr_assert_eq(st.same_pages, (uint64_t)same);
	cr_assert_geq(st.huge_pages, CORPUS_PAGES / 20, "the random pages at least");
	cr_assert_lt(st.mem_used_total, st.orig_data_size * 2 / 3);
	for (int i = 0; i < CORPUS_PAGES; i++)
		swap_free(ctx, e[i]);
	corpus_through(ctx, corpus); /* and again over the freed slots */
	swap_ctx_destroy(ctx);
	free(e);
	free(corpus);
}

Test(swap_stress, corpus_memory_zstd)
{
	int same;
	char *corpus = make_corpus(&same);
	struct swap_ctx *ctx = ctx_with_memory(4096, "zstd:1");
	corpus_through(ctx, corpus);
	swap_ctx_destroy(ctx);
	free(corpus);
}

Test(swap_stress, corpus_file)
{
	int same;
	char *corpus = make_corpus(&same), *dir = make_tmpdir(), path[4200];
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = 4096};

	snprintf(path, sizeof(path), "%s/swapfile", dir);
	o.path = path;
	cr_assert_eq(swap_on(ctx, &o), 0);
	corpus_through(ctx, corpus);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(corpus);
}

/* A small memory area in front of a file area: the overflow goes to the file. */
Test(swap_stress, corpus_memory_in_front_of_file)
{
	int same;
	char *corpus = make_corpus(&same), *dir = make_tmpdir(), path[4200];
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts mem = {.nr_pages = 1000, .priority = 10};
	struct swap_area_opts file = {.nr_pages = 4096, .priority = -5};

	snprintf(path, sizeof(path), "%s/swapfile", dir);
	file.path = path;
	cr_assert_eq(swap_on(ctx, &mem), 0);
	cr_assert_eq(swap_on(ctx, &file), 1);
	corpus_through(ctx, corpus);
	cr_assert_eq(area_stats(ctx, 0).swap_outs, 999);
	cr_assert_eq(area_stats(ctx, 1).swap_outs, CORPUS_PAGES - 999);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(corpus);
}

/* ---- the stress: threads trade stamped entries ---- */

struct item {
	swp_entry_t e;
	uint32_t tid;
	uint64_t seq;
	int refs;
};

struct pool {
	pthread_mutex_t lock;
	struct item *items;
	int n, cap;
};

static bool pool_take(struct pool *p, uint64_t *rng, struct item *out)
{
	bool ok = false;
	pthread_mutex_lock(&p->lock);
	if (p->n) {
		int i = (int)(tu_rand(rng) % (uint64_t)p->n);
		*out = p->items[i];
		p->items[i] = p->items[--p->n];
		ok = true;
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static void pool_put(struct pool *p, const struct item *it)
{
	pthread_mutex_lock(&p->lock);
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 1024;
		p->items = realloc(p->items, sizeof(*p->items) * (size_t)p->cap);
	}
	p->items[p->n++] = *it;
	pthread_mutex_unlock(&p->lock);
}

struct stress_arg {
	struct swap_ctx *ctx;
	struct pool *pool;
	uint32_t tid;
	int ops;
	long bad, outs, ins, full;
};

static void *stress_worker(void *p)
{
	struct stress_arg *a = p;
	uint64_t rng = a->tid * 7919ULL + 1, seq = 0;
	char page[PAGE], out[PAGE];
	struct item it;

	for (int op = 0; op < a->ops; op++) {
		unsigned r = (unsigned)(tu_rand(&rng) % 100);
		if (r < 35) { /* swap out a fresh page */
			stamp_page(page, a->tid, seq);
			it.e = swap_out(a->ctx, page);
			if (!it.e.val) {
				if (errno != ENOSPC)
					a->bad++;
				a->full++;
				continue;
			}
			it.tid = a->tid;
			it.seq = seq++;
			it.refs = 1;
			a->outs++;
			pool_put(a->pool, &it);
		} else if (pool_take(a->pool, &rng, &it)) {
			/* someone's entry, now ours alone until we put it back */
			if (swap_in(a->ctx, it.e, out) || !check_stamp(out, it.tid, it.seq))
				a->bad++;
			a->ins++;
			if (swap_count(a->ctx, it.e) != it.refs)
				a->bad++;
			if (r < 50) { /* share it, as fork would */
				if (swap_duplicate(a->ctx, it.e))
					a->bad++;
				it.refs++;
				pool_put(a->pool, &it);
			} else {
				if (swap_free(a->ctx, it.e))
					a->bad++;
				if (--it.refs)
					pool_put(a->pool, &it);
			}
		}
	}
	return NULL;
}

Test(swap_stress, threads_trade_stamped_pages, .timeout = 120)
{
	char *dir = make_tmpdir(), path[4200];
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts lz4 = {.nr_pages = 1500, .priority = 10, .mem_limit = 1 << 20};
	struct swap_area_opts zstd = {.nr_pages = 1500, .priority = 10, .compressor = "zstd"};
	struct swap_area_opts file = {.nr_pages = 3000, .priority = 0};
	struct pool pool = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct stress_arg a[6];
	pthread_t t[6];
	struct swap_area_stats sum;
	char out[PAGE];
	struct item it;
	uint64_t rng = 99;
	long bad = 0, outs = 0, full = 0;

	snprintf(path, sizeof(path), "%s/swapfile", dir);
	file.path = path;
	cr_assert_eq(swap_on(ctx, &lz4), 0);
	cr_assert_eq(swap_on(ctx, &zstd), 1);
	cr_assert_eq(swap_on(ctx, &file), 2);
	for (int i = 0; i < 6; i++) {
		a[i] = (struct stress_arg){
		    .ctx = ctx, .pool = &pool, .tid = (uint32_t)i + 1, .ops = 20000};
		pthread_create(&t[i], NULL, stress_worker, &a[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		bad += a[i].bad;
		outs += a[i].outs;
		full += a[i].full;
	}
	cr_assert_eq(bad, 0, "stamps or counts went wrong");
	cr_assert_gt(outs, 10000);
	/* everything left is intact; free it all */
	cr_assert_eq(swap_ctx_stats(ctx, &sum), 3);
	cr_assert_eq(sum.cache_pages, 0);
	cr_assert_eq(sum.inuse_pages, (uint64_t)pool.n);
	while (pool_take(&pool, &rng, &it)) {
		cr_assert_eq(swap_in(ctx, it.e, out), 0);
		cr_assert(check_stamp(out, it.tid, it.seq));
		cr_assert_eq(swap_count(ctx, it.e), it.refs);
		while (it.refs--)
			cr_assert_eq(swap_free(ctx, it.e), 0);
		cr_assert_eq(swap_count(ctx, it.e), -EINVAL);
	}
	cr_assert_eq(swap_ctx_stats(ctx, &sum), 3);
	cr_assert_eq(sum.inuse_pages, 0);
	cr_assert_eq(sum.orig_data_size, 0);
	cr_assert_eq(sum.continued_slots, 0);
	cr_assert_gt(area_stats(ctx, 0).swap_outs, 0);
	cr_assert_gt(area_stats(ctx, 1).swap_outs, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(swap_off(ctx, i), 0);
	swap_ctx_destroy(ctx);
	free(pool.items);
	rm_tree(dir);
	(void)full;
}

/* Producer / consumer across threads: pages swapped in by another thread than wrote them. */
struct pc {
	struct swap_ctx *ctx;
	_Atomic uint64_t *slots;
	int n;
	long bad;
};

static void *producer(void *p)
{
	struct pc *a = p;
	char page[PAGE];
	for (int i = 0; i < a->n; i++) {
		swp_entry_t e;
		stamp_page(page, 3, (uint64_t)i);
		while (!(e = swap_out(a->ctx, page)).val && errno == ENOSPC)
			sched_yield(); /* the consumer frees slots */
		if (!e.val)
			a->bad++;
		atomic_store(&a->slots[i], e.val ? e.val : UINT64_MAX);
	}
	return NULL;
}

static void *consumer(void *p)
{
	struct pc *a = p;
	char out[PAGE];
	for (int i = 0; i < a->n; i++) {
		uint64_t v;
		while (!(v = atomic_load(&a->slots[i])))
			sched_yield();
		if (v == UINT64_MAX)
			continue; /* the producer failed: counted there */
		if (swap_in(a->ctx, (swp_entry_t){v}, out) || !check_stamp(out, 3, (uint64_t)i))
			a->bad++;
		if (swap_free(a->ctx, (swp_entry_t){v}))
			a->bad++;
	}
	return NULL;
}

Test(swap_stress, producer_consumer, .timeout = 60)
{
	struct swap_ctx *ctx = ctx_with_memory(2048, NULL);
	struct pc a = {.ctx = ctx, .n = 20000};
	pthread_t t[2];

	a.slots = calloc((size_t)a.n, sizeof(*a.slots));
	pthread_create(&t[0], NULL, producer, &a);
	pthread_create(&t[1], NULL, consumer, &a);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	cr_assert_eq(a.bad, 0);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
	free((void *)(uintptr_t)a.slots);
}
