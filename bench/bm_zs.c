/*
 * bm_zs.c - libzs micro benchmarks, each beside the same work done with glibc malloc:
 *   zs_malloc_free/size:S/threads:T    zs_free of the oldest of 1024 live objects + zs_malloc +
 *                                      a 16-byte write into the new object (zs_obj_write)
 *   glibc_malloc_free/size:S/threads:T     the same with free + malloc + memcpy
 *   zs_malloc_free/corpus_sizes/threads:T  100000 live objects of the sizes the mixed corpus
 *   glibc_malloc_free/corpus_sizes/...     compresses to; a random one replaced each time
 *   zs_map_read/size:S                 zs_map_object(RO) + memcpy of the object + unmap
 *   glibc_read/size:S                  memcpy of a malloc'd object of the same size
 *   zs_compact/mixed                   store the mixed corpus lz4-compressed as zram would,
 *                                      free a random 3/4, time zs_compact: ms per MiB freed
 *   glibc_trim/mixed                   the same with malloc, free and malloc_trim(0)
 * The malloc/free and map figures are per operation pair; with 2 threads both threads share
 * one pool (or glibc's arenas), so those rows depend on the cores there are to run them.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zs/zsmalloc.h>

#include "bench.h"
#include "bm_common.h"

/* Live objects per thread in the malloc/free loops: enough that a size class spans several
 * zspages, few enough that the loop stays in the caches, as an allocator's hot path does. */
#define RING 1024
/* Objects read by the map benchmarks, in a fixed random order. */
#define MAP_OBJS 4096

/* The map benchmarks read their copies into this, so the copies cannot be optimised away. */
static volatile unsigned char sink;

static const int64_t alloc_sizes[] = {32, 64, 128, 256, 512, 1024, 2048, 3072, 4096};
static const int64_t map_sizes[] = {64, 512, 2048, 4096};

static struct zs_pool *shared_pool;

/* Every new object gets a 16-byte stamp written, on both sides: a store writes its object. */
#define STAMP 16
static const char stamp[STAMP] = "libzs-bench-obj";

static void bm_zs_malloc_free(struct bm_state *s)
{
	size_t size = bm_range(s, 0), i;
	unsigned long *ring = bm_alloc(sizeof(*ring) * RING);
	int failed = 0;

	if (bm_thread_index(s) == 0)
		shared_pool = zs_create_pool("bench");
	bm_sync(s);
	if (!shared_pool) {
		/* every thread sees it and leaves the same way */
		bm_skip(s, "zs_create_pool failed");
		free(ring);
		return;
	}
	for (i = 0; i < RING; i++)
		ring[i] = zs_malloc(shared_pool, size);
	i = 0;
	while (bm_keep_running(s)) {
		zs_free(shared_pool, ring[i]);
		ring[i] = zs_malloc(shared_pool, size);
		failed |= !ring[i] || zs_obj_write(shared_pool, ring[i], stamp, STAMP);
		i = (i + 1) % RING;
	}
	for (i = 0; i < RING; i++)
		zs_free(shared_pool, ring[i]);
	bm_items(s, bm_iterations(s));
	bm_sync(s);
	if (bm_thread_index(s) == 0) {
		zs_destroy_pool(shared_pool);
		shared_pool = NULL;
	}
	free(ring);
	if (failed)
		fprintf(stderr, "bench: zs_malloc(%zu) failed\n", size);
}

static void bm_glibc_malloc_free(struct bm_state *s)
{
	size_t size = bm_range(s, 0), i;
	void **ring = bm_alloc(sizeof(*ring) * RING);

	for (i = 0; i < RING; i++)
		ring[i] = malloc(size);
	i = 0;
	while (bm_keep_running(s)) {
		free(ring[i]);
		ring[i] = malloc(size);
		memcpy(ring[i], stamp, STAMP);
		i = (i + 1) % RING;
	}
	for (i = 0; i < RING; i++)
		free(ring[i]);
	bm_items(s, bm_iterations(s));
	free(ring);
}

static void cfg_malloc_free(struct bm_bench *b)
{
	size_t i;
	int t;

	bm_arg_name(b, "size");
	for (i = 0; i < sizeof(alloc_sizes) / sizeof(alloc_sizes[0]); i++)
		bm_arg(b, alloc_sizes[i]);
	for (t = 1; t <= 2; t++)
		bm_threads(b, t);
	bm_real_time(b);
}
BM_REGISTER(bm_zs_malloc_free, "zs_malloc_free", cfg_malloc_free);
BM_REGISTER(bm_glibc_malloc_free, "glibc_malloc_free", cfg_malloc_free);

/*
 * The same pair under a realistic load: live objects with the sizes the mixed corpus's pages
 * compress to (one slice of 100000 per thread, 10000 in quick mode), a random one replaced in
 * each iteration by an object of the next size, which gets a 16-byte stamp written (a store
 * writes its object; here glibc's tcache cannot hand back the block just freed).
 */
#define SIZE_SEQ 65536

struct mixed_sizes {
	uint16_t size[SIZE_SEQ];
	size_t live; /* per thread */
};

static struct mixed_sizes *mixed_sizes_get(void)
{
	static struct mixed_sizes m;
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	struct bm_objects o;
	uint64_t seed = 0x0b1ec75;
	size_t i;

	if (!c)
		return NULL;
	bm_objects_plan(&o, c, bm_huge_size());
	for (i = 0; i < SIZE_SEQ && o.n; i++)
		m.size[i] = o.len[bm_rand(&seed) % o.n];
	bm_objects_free(&o);
	m.live = bm_quick() ? 10000 : 100000;
	return &m;
}

static void bm_malloc_free_mixed(struct bm_state *s)
{
	const int zs = *(const int *)bm_user(s);
	uint64_t seed = 1 + bm_thread_index(s);
	static struct mixed_sizes *m;
	uintptr_t *live;
	size_t i, next = 0;
	int failed = 0;

	if (bm_thread_index(s) == 0) {
		m = mixed_sizes_get();
		shared_pool = zs && m ? zs_create_pool("bench") : NULL;
	}
	bm_sync(s);
	if (!m || (zs && !shared_pool)) {
		bm_fail(s, "no corpus or no pool");
		return;
	}
	live = bm_alloc(sizeof(*live) * m->live);
	for (i = 0; i < m->live; i++, next++) {
		size_t size = m->size[next % SIZE_SEQ];

		live[i] = zs ? zs_malloc(shared_pool, size) : (uintptr_t)malloc(size);
		failed |= !live[i];
	}
	while (!failed && bm_keep_running(s)) {
		uintptr_t *victim = &live[bm_rand(&seed) % m->live];
		size_t size = m->size[next++ % SIZE_SEQ];

		if (zs) {
			zs_free(shared_pool, *victim);
			*victim = zs_malloc(shared_pool, size);
			failed |= !*victim || zs_obj_write(shared_pool, *victim, stamp, STAMP);
		} else {
			free((void *)*victim);
			*victim = (uintptr_t)malloc(size);
			failed |= !*victim;
			if (*victim)
				memcpy((void *)*victim, stamp, STAMP);
		}
	}
	for (i = 0; i < m->live; i++) {
		if (zs)
			zs_free(shared_pool, live[i]);
		else
			free((void *)live[i]);
	}
	free(live);
	if (failed)
		bm_fail(s, "an allocation failed");
	else
		bm_items(s, bm_iterations(s));
	bm_sync(s);
	if (bm_thread_index(s) == 0) {
		zs_destroy_pool(shared_pool);
		shared_pool = NULL;
	}
}

static void cfg_mixed(struct bm_bench *b)
{
	bm_threads(b, 1);
	bm_threads(b, 2);
	bm_real_time(b);
}

static const int use_zs = 1, use_glibc = 0;

static void register_mixed(void)
{
	bm_register("zs_malloc_free/corpus_sizes", bm_malloc_free_mixed, cfg_mixed, &use_zs);
	bm_register("glibc_malloc_free/corpus_sizes", bm_malloc_free_mixed, cfg_mixed, &use_glibc);
}
BM_INIT(register_mixed);

static void bm_zs_map_read(struct bm_state *s)
{
	size_t size = bm_range(s, 0), i;
	struct zs_pool *pool = zs_create_pool("bench");
	unsigned long *h = bm_alloc(sizeof(*h) * MAP_OBJS);
	uint32_t *order = bm_alloc(sizeof(*order) * MAP_OBJS);
	unsigned char buf[ZS_MAX_ALLOC_SIZE];
	uint64_t seed = 42;

	if (!pool) {
		bm_fail(s, "zs_create_pool failed");
		goto out;
	}
	memset(buf, 0x5a, sizeof(buf));
	for (i = 0; i < MAP_OBJS; i++) {
		h[i] = zs_malloc(pool, size);
		if (!h[i] || zs_obj_write(pool, h[i], buf, size)) {
			bm_fail(s, "zs_malloc failed");
			goto out;
		}
		order[i] = i;
	}
	bm_shuffle(order, MAP_OBJS, &seed);
	i = 0;
	while (bm_keep_running(s)) {
		unsigned long handle = h[order[i]];
		const void *p = zs_map_object(pool, handle, ZS_MM_RO);

		memcpy(buf, p, size);
		zs_unmap_object(pool, handle);
		/* read the copy, so that the compiler must make it */
		sink = buf[size - 1];
		i = (i + 1) % MAP_OBJS;
	}
	bm_items(s, bm_iterations(s));
out:
	zs_destroy_pool(pool);
	free(h);
	free(order);
}

static void bm_glibc_read(struct bm_state *s)
{
	size_t size = bm_range(s, 0), i;
	unsigned char **p = bm_alloc(sizeof(*p) * MAP_OBJS);
	uint32_t *order = bm_alloc(sizeof(*order) * MAP_OBJS);
	unsigned char buf[ZS_MAX_ALLOC_SIZE];
	uint64_t seed = 42;

	for (i = 0; i < MAP_OBJS; i++) {
		p[i] = malloc(size);
		memset(p[i], 0x5a, size);
		order[i] = i;
	}
	bm_shuffle(order, MAP_OBJS, &seed);
	i = 0;
	while (bm_keep_running(s)) {
		memcpy(buf, p[order[i]], size);
		sink = buf[size - 1];
		i = (i + 1) % MAP_OBJS;
	}
	bm_items(s, bm_iterations(s));
	for (i = 0; i < MAP_OBJS; i++)
		free(p[i]);
	free(p);
	free(order);
}

static void cfg_map(struct bm_bench *b)
{
	size_t i;

	bm_arg_name(b, "size");
	for (i = 0; i < sizeof(map_sizes) / sizeof(map_sizes[0]); i++)
		bm_arg(b, map_sizes[i]);
}
BM_REGISTER(bm_zs_map_read, "zs_map_read", cfg_map);
BM_REGISTER(bm_glibc_read, "glibc_read", cfg_map);

/*
 * Compaction cost: each iteration stores the mixed corpus as zram would (untimed), frees a
 * random 3/4 (untimed) and times only the call that gives memory back.  The counters are the
 * MiB given back and the milliseconds per MiB.
 */
static void bm_zs_compact(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	struct bm_objects o;
	unsigned long *h;
	uint32_t *victim;
	double secs = 0, mib = 0;
	size_t huge = bm_huge_size(), i;
	uint64_t seed = 0x5eedf00d;

	if (!c || !huge) {
		bm_skip(s, "no corpus or no pool");
		return;
	}
	bm_objects_plan(&o, c, huge);
	h = bm_alloc(sizeof(*h) * o.n);
	victim = bm_alloc(sizeof(*victim) * o.n);
	while (bm_keep_running(s)) {
		struct zs_pool *pool = zs_create_pool("bench");
		long pages;
		double t0;

		for (i = 0; i < o.n; i++) {
			h[i] = zs_malloc(pool, o.len[i]);
			zs_obj_write(pool, h[i], bm_object_data(c, &o, i), o.len[i]);
			victim[i] = i;
		}
		bm_shuffle(victim, o.n, &seed);
		for (i = 0; i < o.n * 3 / 4; i++)
			zs_free(pool, h[victim[i]]);
		t0 = bm_now();
		pages = zs_compact(pool);
		t0 = bm_now() - t0;
		bm_set_iteration_time(s, t0);
		secs += t0;
		mib += (double)pages * BM_PAGE / (1 << 20);
		zs_destroy_pool(pool);
	}
	bm_counter(s, "MiB_freed", mib / bm_iterations(s), 0);
	bm_counter(s, "ms_per_MiB", mib > 0 ? secs * 1e3 / mib : 0, 0);
	bm_objects_free(&o);
	free(h);
	free(victim);
}

static void bm_glibc_trim(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	struct bm_objects o;
	void **p;
	uint32_t *victim;
	double secs = 0, mib = 0;
	size_t huge = bm_huge_size(), i;
	uint64_t seed = 0x5eedf00d;

	if (!c || !huge) {
		bm_skip(s, "no corpus or no pool");
		return;
	}
	/* The same objects as bm_zs_compact stores. */
	bm_objects_plan(&o, c, huge);
	p = bm_alloc(sizeof(*p) * o.n);
	victim = bm_alloc(sizeof(*victim) * o.n);
	while (bm_keep_running(s)) {
		long long rss;
		double t0;

		for (i = 0; i < o.n; i++) {
			p[i] = malloc(o.len[i]);
			memcpy(p[i], bm_object_data(c, &o, i), o.len[i]);
			victim[i] = i;
		}
		bm_shuffle(victim, o.n, &seed);
		for (i = 0; i < o.n * 3 / 4; i++)
			free(p[victim[i]]);
		rss = bm_rss_bytes();
		t0 = bm_now();
		malloc_trim(0);
		t0 = bm_now() - t0;
		rss -= bm_rss_bytes();
		bm_set_iteration_time(s, t0);
		secs += t0;
		mib += rss > 0 ? (double)rss / (1 << 20) : 0;
		for (i = o.n * 3 / 4; i < o.n; i++)
			free(p[victim[i]]);
		malloc_trim(0);
	}
	bm_counter(s, "MiB_freed", mib / bm_iterations(s), 0);
	bm_counter(s, "ms_per_MiB", mib > 0 ? secs * 1e3 / mib : 0, 0);
	bm_objects_free(&o);
	free(p);
	free(victim);
}

static void cfg_compact(struct bm_bench *b)
{
	bm_manual_time(b);
	bm_unit(b, BM_MS);
	bm_fixed_iterations(b, bm_quick() ? 1 : 3);
}
BM_REGISTER(bm_zs_compact, "zs_compact/mixed", cfg_compact);
BM_REGISTER(bm_glibc_trim, "glibc_trim/mixed", cfg_compact);
