/*
 * bm_memory.c - memory overhead: a corpus stored as zram stores it (same-filled pages left out,
 * LZ4 images, raw 4096 bytes from the pool's huge threshold on), held by libzs or by a malloc,
 * through three phases:
 *   fill    store every object;
 *   churn   free a random half, then store as many again (the same objects, in shuffled order);
 *   shrink  free a random 3/4 of what is live, then give memory back: zs_compact() for libzs,
 *           malloc_trim(0) for glibc, mallctl("arena.<all>.purge") for jemalloc,
 *           mi_collect(true) for mimalloc.
 * After each phase: the process's RSS growth over the bytes stored (*_rss; the memory an
 * operator sees), and for libzs also (pool pages + metadata) / stored (*_pool) and pool pages
 * alone / stored (*_pages, what the kernel's zram counts in mm_stat).  freed_rss is
 * the same after the frees of the shrink but before memory is given back.
 *
 *   memory/ALLOCATOR/KIND/threads:T   ALLOCATOR libzs, glibc, jemalloc, mimalloc; T threads
 *                                     share each phase's work (each their own slice);
 *                                     also libzs-8pages and libzs-16pages (1 thread): pools
 *                                     with zspages of at most 8 or 16 pages, either side of
 *                                     the default chain length
 *
 * Every measurement runs in a fresh process (bm_run_child), so no run inherits another's heap;
 * jemalloc and mimalloc are Debian's libjemalloc2 and libmimalloc2.0 in LD_PRELOAD, and the
 * child checks that the one asked for really is the malloc it got.  The threads:2 rows show
 * what per-thread arenas cost each malloc; they depend on two cores only for their time.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zs/zsmalloc.h>

#include "bench.h"
#include "bm_common.h"

enum allocator { A_LIBZS, A_GLIBC, A_JEMALLOC, A_MIMALLOC, A_LIBZS_8, A_LIBZS_16, NR_ALLOCATORS };

static const struct {
	const char *name;
	const char *preload;   /* LD_PRELOAD for the child, NULL for none */
	const char *symbol;    /* a symbol only this malloc has, to check the preload worked */
	unsigned zspage_pages; /* libzs: the pool's max_pages_per_zspage (0: default) */
} allocators[NR_ALLOCATORS] = {
    [A_LIBZS] = {"libzs", NULL, NULL, 0},
    [A_GLIBC] = {"glibc", NULL, NULL, 0},
    [A_JEMALLOC] = {"jemalloc", "libjemalloc.so.2", "mallctl", 0},
    [A_MIMALLOC] = {"mimalloc", "libmimalloc.so.2", "mi_collect", 0},
    /* the chain lengths either side of the default, the measurement behind
     * ZS_DEFAULT_PAGES_PER_ZSPAGE (single thread only) */
    [A_LIBZS_8] = {"libzs-8pages", NULL, NULL, 8},
    [A_LIBZS_16] = {"libzs-16pages", NULL, NULL, 16},
};

static int is_libzs(enum allocator a)
{
	return a == A_LIBZS || a == A_LIBZS_8 || a == A_LIBZS_16;
}

enum phase { P_FILL, P_CHURN, P_FREED, P_SHRINK, NR_PHASES };
static const char *const phase_names[NR_PHASES] = {"fill", "churn", "freed", "shrink"};

/* What a child reports. */
struct mem_result {
	int ok;
	int wrong_malloc;	 /* the preload did not take */
	double rss[NR_PHASES];	 /* RSS growth / stored bytes */
	double pool[NR_PHASES];	 /* libzs: (pages_used * 4096 + meta_bytes) / stored bytes */
	double pages[NR_PHASES]; /* libzs: pages_used * 4096 / stored, as zram's mm_stat counts */
	double secs;		 /* time of all three phases */
	double release_ms;	 /* the call that gives memory back */
};

/* ---- in the child ----------------------------------------------------------------------- */

struct heap {
	enum allocator a;
	struct zs_pool *pool;
	const struct bm_corpus *c;
	const struct bm_objects *o;
	uintptr_t *obj; /* zs handle or malloc pointer of each object, 0 when not stored */
};

static int heap_store(struct heap *h, size_t i)
{
	const void *src = bm_object_data(h->c, h->o, i);
	size_t len = h->o->len[i];

	if (is_libzs(h->a)) {
		unsigned long handle = zs_malloc(h->pool, len);
		void *dst;

		if (!handle)
			return -1;
		dst = zs_map_object(h->pool, handle, ZS_MM_WO);
		memcpy(dst, src, len);
		zs_unmap_object(h->pool, handle);
		h->obj[i] = handle;
	} else {
		void *p = malloc(len);

		if (!p)
			return -1;
		memcpy(p, src, len);
		h->obj[i] = (uintptr_t)p;
	}
	return 0;
}

static void heap_drop(struct heap *h, size_t i)
{
	if (is_libzs(h->a))
		zs_free(h->pool, h->obj[i]);
	else
		free((void *)h->obj[i]);
	h->obj[i] = 0;
}

/* Give free memory back to the OS the way each allocator offers. */
static int heap_release(struct heap *h)
{
	switch (h->a) {
	case A_LIBZS:
	case A_LIBZS_8:
	case A_LIBZS_16:
		zs_compact(h->pool);
		return 0;
	case A_GLIBC:
		malloc_trim(0);
		return 0;
	case A_JEMALLOC: {
		int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
		    (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT,
										   "mallctl");

		/* 4096 is MALLCTL_ARENAS_ALL: every arena */
		return mallctl && !mallctl("arena.4096.purge", NULL, NULL, NULL, 0) ? 0 : -1;
	}
	case A_MIMALLOC: {
		void (*mi_collect)(_Bool) = (void (*)(_Bool))dlsym(RTLD_DEFAULT, "mi_collect");

		if (!mi_collect)
			return -1;
		mi_collect(1);
		return 0;
	}
	default:
		return -1;
	}
}

/* One phase step done by several threads: thread t handles list[t * n / T .. (t+1) * n / T). */
struct step {
	struct heap *h;
	const uint32_t *list;
	size_t n;
	int store; /* store or drop */
	int t, nthreads;
	int failed;
};

static void *step_thread(void *arg)
{
	struct step *st = arg;
	size_t i, lo = st->n * st->t / st->nthreads, hi = st->n * (st->t + 1) / st->nthreads;

	for (i = lo; i < hi; i++) {
		if (st->store)
			st->failed |= heap_store(st->h, st->list[i]) != 0;
		else
			heap_drop(st->h, st->list[i]);
	}
	return NULL;
}

static int run_step(struct heap *h, const uint32_t *list, size_t n, int store, int nthreads)
{
	struct step st[2] = {{0}};
	pthread_t tid[2];
	int t, failed = 0;

	for (t = 0; t < nthreads; t++) {
		st[t] = (struct step){h, list, n, store, t, nthreads, 0};
		if (t > 0 && pthread_create(&tid[t], NULL, step_thread, &st[t]))
			return -1;
	}
	step_thread(&st[0]);
	for (t = 1; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	for (t = 0; t < nthreads; t++)
		failed |= st[t].failed;
	return failed ? -1 : 0;
}

static void note_phase(struct heap *h, struct mem_result *r, enum phase p, long long rss0,
		       unsigned long long stored)
{
	r->rss[p] = (double)(bm_rss_bytes() - rss0) / stored;
	if (is_libzs(h->a)) {
		struct zs_pool_stats st;

		zs_pool_stats(h->pool, &st);
		r->pool[p] = ((double)st.pages_used * BM_PAGE + st.meta_bytes) / stored;
		r->pages[p] = (double)st.pages_used * BM_PAGE / stored;
	}
}

/* Fault in the allocator's code and first-use state, then hand back what that left free, so
 * that the RSS baseline includes them and the growth is the objects' memory. */
static void prime(struct heap *h)
{
	int i;

	if (is_libzs(h->a)) {
		struct zs_pool *p = zs_create_pool("prime");
		unsigned long x[4];

		for (i = 0; i < 4; i++)
			x[i] = zs_malloc(p, 100 + 1000 * i);
		for (i = 0; i < 4; i++)
			zs_free(p, x[i]);
		zs_compact(p);
		zs_destroy_pool(p);
	} else {
		void *x[4];

		for (i = 0; i < 4; i++)
			x[i] = malloc(100 + 1000 * i);
		for (i = 0; i < 4; i++)
			free(x[i]);
	}
	malloc_trim(0);
}

/* arg: "ALLOCATOR:THREADS:KIND:CORPUS" (allocator and kind as indexes). */
static int memory_child(const char *arg, int fd)
{
	struct mem_result r = {0};
	struct bm_objects o;
	struct heap h = {0};
	struct bm_corpus *c;
	uint32_t *order, *live;
	size_t n, i, nlive, nfree, pos;
	unsigned long long stored, live_bytes;
	int a, nthreads, kind, off = 0;
	long long rss0;
	uint64_t seed = 0x5eedf00d;
	double t0, t1;
	size_t huge = bm_huge_size();

	if (sscanf(arg, "%d:%d:%d:%n", &a, &nthreads, &kind, &off) != 3 || !off || a < 0 ||
	    a >= NR_ALLOCATORS || nthreads < 1 || nthreads > 2 || kind < 0 || kind >= BM_NR_KINDS ||
	    !huge)
		return -1;
	c = bm_corpus_load(arg + off, kind);
	if (!c)
		return -1;
	h.a = a;
	h.c = c;
	h.o = &o;
	if (allocators[a].symbol && !dlsym(RTLD_DEFAULT, allocators[a].symbol)) {
		r.wrong_malloc = 1;
		return write(fd, &r, sizeof(r)) == sizeof(r) ? 0 : -1;
	}
	/* The same objects for every allocator: the default pool's huge threshold decides. */
	bm_objects_plan(&o, c, huge);
	n = o.n;
	h.obj = bm_alloc(sizeof(*h.obj) * n);
	order = bm_alloc(sizeof(*order) * n);
	live = bm_alloc(sizeof(*live) * n);
	for (i = 0; i < n; i++)
		order[i] = i;

	prime(&h);
	rss0 = bm_rss_bytes();
	if (is_libzs(a)) {
		struct zs_pool_opts opts = {.max_pages_per_zspage = allocators[a].zspage_pages};

		h.pool = zs_create_pool_opts("bench", &opts);
		if (!h.pool)
			return -1;
	}
	t0 = bm_now();
	stored = o.bytes;
	if (run_step(&h, order, n, 1, nthreads))
		return -1;
	note_phase(&h, &r, P_FILL, rss0, stored);

	/* churn: drop a random half, store the same objects again in another order */
	bm_shuffle(order, n, &seed);
	nfree = n / 2;
	run_step(&h, order, nfree, 0, nthreads);
	bm_shuffle(order, nfree, &seed);
	if (run_step(&h, order, nfree, 1, nthreads))
		return -1;
	note_phase(&h, &r, P_CHURN, rss0, stored);

	/* shrink: drop a random 3/4 of what is live, then give memory back */
	bm_shuffle(order, n, &seed);
	nfree = n * 3 / 4;
	run_step(&h, order, nfree, 0, nthreads);
	live_bytes = 0;
	for (pos = nfree, nlive = 0; pos < n; pos++, nlive++) {
		live[nlive] = order[pos];
		live_bytes += o.len[order[pos]];
	}
	note_phase(&h, &r, P_FREED, rss0, live_bytes);
	t1 = bm_now();
	if (heap_release(&h))
		return -1;
	r.release_ms = (bm_now() - t1) * 1e3;
	r.secs = bm_now() - t0;
	note_phase(&h, &r, P_SHRINK, rss0, live_bytes);

	/* untimed: every live object must still hold its bytes */
	for (i = 0; i < nlive; i++) {
		size_t k = live[i];
		int bad;

		if (is_libzs(a)) {
			const void *p = zs_map_object(h.pool, h.obj[k], ZS_MM_RO);

			bad = !p || memcmp(p, bm_object_data(c, &o, k), o.len[k]);
			zs_unmap_object(h.pool, h.obj[k]);
		} else {
			bad = memcmp((void *)h.obj[k], bm_object_data(c, &o, k), o.len[k]);
		}
		if (bad) {
			fprintf(stderr, "bench: %s lost the bytes of object %zu\n",
				allocators[a].name, k);
			return -1;
		}
	}
	r.ok = 1;
	return write(fd, &r, sizeof(r)) == sizeof(r) ? 0 : -1;
}

static void register_child(void)
{
	bm_child_register("memory", memory_child);
}
BM_INIT(register_child);

/* ---- the benchmark: one child per repetition ------------------------------------------------ */

struct mem_variant {
	enum allocator a;
	enum bm_kind kind;
};

static void bm_memory(struct bm_state *s)
{
	const struct mem_variant *v = bm_user(s);
	int nthreads = bm_range(s, 0), p;
	struct mem_result r = {0};
	char arg[4200];

	snprintf(arg, sizeof(arg), "%d:%d:%d:%s/corpus-%s.bin", v->a, nthreads, v->kind,
		 bm_corpus_dir(), bm_kind_names[v->kind]);
	while (bm_keep_running(s)) {
		if (bm_run_child("memory", arg, allocators[v->a].preload, &r, sizeof(r)) || !r.ok)
			break;
		bm_set_iteration_time(s, r.secs);
	}
	if (r.wrong_malloc) {
		char why[160];

		snprintf(why, sizeof(why), "%s could not be preloaded (is %s installed?)",
			 allocators[v->a].name, allocators[v->a].preload);
		bm_skip(s, why);
		return;
	}
	if (!r.ok) {
		bm_fail(s, "the measuring child failed");
		return;
	}
	for (p = 0; p < NR_PHASES; p++) {
		char name[32];

		snprintf(name, sizeof(name), "%s_rss", phase_names[p]);
		bm_counter(s, name, r.rss[p], 0);
		if (is_libzs(v->a)) {
			snprintf(name, sizeof(name), "%s_pool", phase_names[p]);
			bm_counter(s, name, r.pool[p], 0);
			snprintf(name, sizeof(name), "%s_pages", phase_names[p]);
			bm_counter(s, name, r.pages[p], 0);
		}
	}
	bm_counter(s, "release_ms", r.release_ms, 0);
}

static void cfg_memory_common(struct bm_bench *b)
{
	bm_arg_name(b, "threads");
	bm_arg(b, 1);
	bm_fixed_iterations(b, 1);
	bm_manual_time(b);
	bm_unit(b, BM_MS);
}

static void cfg_memory(struct bm_bench *b)
{
	cfg_memory_common(b);
	bm_arg(b, 2);
}

static struct mem_variant mem_variants[NR_ALLOCATORS * BM_NR_KINDS];

static void register_memory(void)
{
	int a, k, n = 0;
	char name[64];

	for (k = 0; k < BM_NR_KINDS; k++) {
		for (a = 0; a < NR_ALLOCATORS; a++) {
			struct mem_variant *v = &mem_variants[n++];

			*v = (struct mem_variant){a, k};
			snprintf(name, sizeof(name), "memory/%s/%s", allocators[a].name,
				 bm_kind_names[k]);
			bm_register(name, bm_memory,
				    allocators[a].zspage_pages ? cfg_memory_common : cfg_memory, v);
		}
	}
}
BM_INIT(register_memory);
