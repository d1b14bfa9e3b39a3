/*
 * bm_swap.c - libswap benchmarks:
 *   slot_alloc_free/threads:T       swap_alloc_slot() + swap_cache_delete() of the slot
 *   swap_cache_lookup/threads:T     swap_cache_lookup() + swap_cache_put() of a random page
 *                                   among 4096 cached ones
 *   swap_out/CODEC/KIND/threads:T   swap_out() of the KIND corpus into one CODEC memory area
 *                                   in a steady state (the area holds half the pages; the
 *                                   oldest entries are freed, untimed, as new ones go in)
 *   swap_in/CODEC/KIND/threads:T    swap_in() of those pages (checked, untimed)
 *   swap_fresh/lz4/mixed/threads:T  a new user's first round trips: a memory area made
 *                                   (untimed) for each iteration, then each thread
 *                                   swap_out()s its FRESH_PAGES pages of the mixed corpus and
 *                                   swap_in()s them back (checked, untimed), so the pool grows
 *                                   from empty; pages_per_s (a page stored and read back)
 *                                   is wall clock, both threads together, ns_per_page the
 *                                   thread's CPU time; the area's setup and teardown left out
 * Each swap_out/swap_in iteration handles a batch of BATCH pages per thread and times, on the
 * same pages right after, the bare codec call (LZ4_compress_default / ZSTD_compressCCtx,
 * LZ4_decompress_safe / ZSTD_decompressDCtx): counters pages_per_s and bare_pages_per_s (wall
 * clock, summed over the threads), ns_per_page and bare_ns_per_page (CPU time of the thread),
 * and vs_bare = the codec's CPU time over libswap's, i.e. libswap's speed as a fraction of the
 * bare codec's, averaged over the threads.  The time column is libswap's wall time alone.
 * With 2 threads the threads share one area (its per-CPU clusters and compression streams);
 * every threads:2 figure depends on having two cores free to run them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <zstd.h>
#include <zs/swap.h>

#include "bench.h"
#include "bm_common.h"

/* Pages per timed batch: enough to make the clock's cost negligible (~50 ns against tens of
 * microseconds), few enough that freeing the previous batch's entries stays cheap. */
#define BATCH 64
/* Pages cached for the lookup benchmark. */
#define CACHED 4096

static void cfg_threads(struct bm_bench *b)
{
	bm_threads(b, 1);
	bm_threads(b, 2);
	bm_real_time(b);
}

static struct swap_ctx *memory_ctx(uint64_t nr_pages, const char *compressor)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = nr_pages, .compressor = compressor};

	if (ctx && swap_on(ctx, &o) < 0) {
		swap_ctx_destroy(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* ---- slots and the swap cache -------------------------------------------------------------- */

static struct swap_ctx *shared_ctx;

static void bm_slot_alloc_free(struct bm_state *s)
{
	int failed = 0;

	if (bm_thread_index(s) == 0)
		shared_ctx = memory_ctx(1 << 16, NULL);
	bm_sync(s);
	if (!shared_ctx) {
		bm_fail(s, "swap_on of a memory area failed");
		return;
	}
	while (bm_keep_running(s)) {
		swp_entry_t e = swap_alloc_slot(shared_ctx);

		failed |= !e.val || swap_cache_delete(shared_ctx, e);
	}
	bm_items(s, bm_iterations(s));
	if (failed)
		bm_fail(s, "swap_alloc_slot or swap_cache_delete failed");
	bm_sync(s);
	if (bm_thread_index(s) == 0) {
		swap_ctx_destroy(shared_ctx);
		shared_ctx = NULL;
	}
}
BM_REGISTER(bm_slot_alloc_free, "slot_alloc_free", cfg_threads);

static swp_entry_t cached[CACHED];
static unsigned char cached_page[SWAP_PAGE_SIZE];

static struct swap_ctx *cache_setup(void)
{
	struct swap_ctx *ctx = memory_ctx(2 * CACHED, NULL);
	int i;

	memset(cached_page, 0x3c, sizeof(cached_page));
	for (i = 0; ctx && i < CACHED; i++) {
		cached[i] = swap_alloc_slot(ctx);
		if (!cached[i].val || swap_cache_add(ctx, cached[i], cached_page, 0)) {
			swap_ctx_destroy(ctx);
			return NULL;
		}
	}
	return ctx;
}

static void bm_swap_cache_lookup(struct bm_state *s)
{
	uint64_t seed = 7 + bm_thread_index(s);
	volatile unsigned char sink = 0;
	int failed = 0;

	if (bm_thread_index(s) == 0)
		shared_ctx = cache_setup();
	bm_sync(s);
	if (!shared_ctx) {
		bm_fail(s, "could not fill the swap cache");
		return;
	}
	while (bm_keep_running(s)) {
		struct swap_cache_page *p =
		    swap_cache_lookup(shared_ctx, cached[bm_rand(&seed) % CACHED]);

		if (!p) {
			failed = 1;
			continue;
		}
		sink = *(const unsigned char *)swap_cache_page_data(p);
		swap_cache_put(shared_ctx, p);
	}
	(void)sink;
	bm_items(s, bm_iterations(s));
	if (failed)
		bm_fail(s, "swap_cache_lookup failed");
	bm_sync(s);
	if (bm_thread_index(s) == 0) {
		for (int i = 0; i < CACHED; i++)
			swap_cache_delete(shared_ctx, cached[i]);
		swap_ctx_destroy(shared_ctx);
		shared_ctx = NULL;
	}
}
BM_REGISTER(bm_swap_cache_lookup, "swap_cache_lookup", cfg_threads);

/* ---- swap_out / swap_in against the bare codec -------------------------------------------- */

struct codec_variant {
	const char *compressor; /* as swap_on takes it */
	int zstd_level;		/* 0: lz4 */
	enum bm_kind kind;
	int in; /* swap_in rather than swap_out */
};

/* The bare codec, one instance per thread. */
struct codec {
	int zstd_level;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	size_t bound;
};

static int codec_init(struct codec *c, int zstd_level)
{
	memset(c, 0, sizeof(*c));
	c->zstd_level = zstd_level;
	if (!zstd_level) {
		c->bound = LZ4_COMPRESSBOUND(BM_PAGE);
		return 0;
	}
	c->bound = ZSTD_COMPRESSBOUND(BM_PAGE);
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	return c->cctx && c->dctx ? 0 : -1;
}

static void codec_fini(struct codec *c)
{
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
}

/* @return the compressed length, or 0 when the codec failed. */
static size_t codec_compress(struct codec *c, const void *page, void *dst)
{
	if (!c->zstd_level) {
		int n = LZ4_compress_default(page, dst, BM_PAGE, (int)c->bound);

		return n > 0 ? (size_t)n : 0;
	}
	size_t n = ZSTD_compressCCtx(c->cctx, dst, c->bound, page, BM_PAGE, c->zstd_level);

	return ZSTD_isError(n) ? 0 : n;
}

static int codec_decompress(struct codec *c, const void *src, size_t len, void *page)
{
	if (!c->zstd_level)
		return LZ4_decompress_safe(src, page, (int)len, BM_PAGE) == BM_PAGE ? 0 : -1;
	return ZSTD_decompressDCtx(c->dctx, page, BM_PAGE, src, len) == BM_PAGE ? 0 : -1;
}

/* Pages of the corpus a run uses: all of them, up to this many (the bare codec's outputs for
 * all of them are kept too). */
static size_t working_pages(const struct bm_corpus *c)
{
	size_t max = bm_quick() ? 1024 : 16384;

	return c->npages < max ? c->npages : max;
}

/* What a thread works on: its slice of the corpus, and what it made of it. */
struct slice {
	const unsigned char *pages;
	size_t n;
	swp_entry_t *e;
	unsigned char *bare; /* bare codec outputs, c->bound apart */
	size_t *bare_len;
};

/*
 * Throughput (pages_per_s, bare_pages_per_s) is wall-clock: what the threads achieve together.
 * Cost (ns_per_page, bare_ns_per_page, and vs_bare = codec's CPU time over libswap's) is the
 * calling thread's CPU time, which the other work on a shared machine does not inflate.
 */
static void report_rates(struct bm_state *s, size_t pages, double secs, double bare_secs,
			 double cpu, double bare_cpu)
{
	bm_items(s, pages);
	bm_counter(s, "pages_per_s", pages / secs, 0);
	bm_counter(s, "bare_pages_per_s", pages / bare_secs, 0);
	bm_counter(s, "ns_per_page", cpu * 1e9 / pages, BM_AVG_THREADS);
	bm_counter(s, "bare_ns_per_page", bare_cpu * 1e9 / pages, BM_AVG_THREADS);
	bm_counter(s, "vs_bare", bare_cpu / cpu, BM_AVG_THREADS);
}

/* Stored size (one thread only, whose slice is all the area holds): pool memory over the
 * pages' bytes from the area's mm_stat figures, next to the bare codec's compressed bytes
 * over the same pages. */
static void report_sizes(struct bm_state *s, struct swap_ctx *ctx, const struct slice *sl)
{
	struct swap_area_stats st;
	unsigned long long bare = 0;
	size_t i;

	if (swap_area_stats(ctx, 0, &st) || !st.orig_data_size)
		return;
	for (i = 0; i < sl->n; i++)
		bare += sl->bare_len[i];
	bm_counter(s, "mem_per_orig", (double)st.mem_used_total / st.orig_data_size, 0);
	bm_counter(s, "bare_compr_per_orig", (double)bare / ((double)sl->n * BM_PAGE), 0);
}

static void bm_swap_io(struct bm_state *s)
{
	const struct codec_variant *v = bm_user(s);
	const struct bm_corpus *c = bm_corpus_get(v->kind);
	int t = bm_thread_index(s), nt = bm_nthreads(s), failed = 0;
	struct slice sl = {0};
	struct codec codec;
	double secs = 0, bare_secs = 0, cpu = 0, bare_cpu = 0;
	size_t total, pages = 0, next = 0, i, ring;
	unsigned char page[BM_PAGE], *scratch;
	uint64_t seed = 99 + t;

	if (t == 0)
		shared_ctx =
		    c ? memory_ctx(working_pages(c) + 4 * SWAPFILE_CLUSTER, v->compressor) : NULL;
	bm_sync(s);
	if (!shared_ctx || codec_init(&codec, v->zstd_level)) {
		bm_fail(s, c ? "no memory area or codec" : "no corpus");
		return;
	}
	total = working_pages(c);
	sl.pages = c->pages + total * t / nt * BM_PAGE;
	sl.n = total * (t + 1) / nt - total * t / nt;
	sl.e = bm_alloc(sizeof(*sl.e) * sl.n);
	sl.bare = bm_alloc(codec.bound * sl.n);
	sl.bare_len = bm_alloc(sizeof(*sl.bare_len) * sl.n);
	/* the codec may write its whole bound (an incompressible page grows) */
	scratch = bm_alloc(codec.bound);
	for (i = 0; i < sl.n; i++)
		sl.bare_len[i] =
		    codec_compress(&codec, sl.pages + i * BM_PAGE, sl.bare + i * codec.bound);
	/* swap_out: the area holds half the slice, a ring of entries, oldest freed first;
	 * swap_in: it holds the whole slice. */
	ring = v->in ? sl.n : sl.n / 2;
	for (i = 0; i < ring; i++) {
		sl.e[i] = swap_out(shared_ctx, sl.pages + i * BM_PAGE);
		failed |= !sl.e[i].val;
	}
	next = ring % sl.n;

	/* Every thread runs the same number of iterations, so the threads can meet after each
	 * half: both time libswap together, then both time the codec together. */
	while (bm_keep_running(s)) {
		size_t first = v->in ? bm_rand(&seed) % sl.n : next, b, k;
		double t0, t1, t2, t3, c0, c1, c2, c3;

		if (!v->in) {
			for (b = 0; b < BATCH; b++)
				swap_free(shared_ctx, sl.e[(first + b) % ring]);
		}
		c0 = bm_cpu_now();
		t0 = bm_now();
		if (v->in) {
			for (b = 0; b < BATCH; b++)
				failed |= swap_in(shared_ctx, sl.e[(first + b) % sl.n], page) != 0;
		} else {
			for (b = 0; b < BATCH; b++) {
				k = (first + b) % sl.n;
				sl.e[(first + b) % ring] =
				    swap_out(shared_ctx, sl.pages + k * BM_PAGE);
			}
		}
		t1 = bm_now();
		c1 = bm_cpu_now();
		if (nt > 1)
			bm_sync(s);
		c2 = bm_cpu_now();
		t2 = bm_now();
		for (b = 0; b < BATCH; b++) {
			k = (first + b) % sl.n;
			if (v->in)
				failed |= codec_decompress(&codec, sl.bare + k * codec.bound,
							   sl.bare_len[k], page);
			else
				codec_compress(&codec, sl.pages + k * BM_PAGE, scratch);
		}
		t3 = bm_now();
		c3 = bm_cpu_now();
		if (nt > 1)
			bm_sync(s);
		bm_set_iteration_time(s, t1 - t0);
		secs += t1 - t0;
		bare_secs += t3 - t2;
		cpu += c1 - c0;
		bare_cpu += c3 - c2;
		pages += BATCH;
		next = (next + BATCH) % sl.n;
		if (v->in) {
			/* untimed: the last page read must be the page stored */
			k = (first + BATCH - 1) % sl.n;
			failed |= swap_in(shared_ctx, sl.e[k], page) ||
				  memcmp(page, sl.pages + k * BM_PAGE, BM_PAGE);
		} else {
			for (b = 0; b < BATCH; b++)
				failed |= !sl.e[(first + b) % ring].val;
		}
	}
	/* after a failure the loop went on (the threads meet in it) but the rates mean nothing */
	if (failed)
		bm_fail(s, v->in ? "swap_in failed or returned other bytes" : "swap_out failed");
	else if (pages)
		report_rates(s, pages, secs, bare_secs, cpu, bare_cpu);
	if (!failed && nt == 1)
		report_sizes(s, shared_ctx, &sl);
	for (i = 0; i < ring; i++)
		if (sl.e[i].val)
			swap_free(shared_ctx, sl.e[i]);
	bm_sync(s);
	if (t == 0) {
		swap_ctx_destroy(shared_ctx);
		shared_ctx = NULL;
	}
	codec_fini(&codec);
	free(sl.e);
	free(sl.bare);
	free(sl.bare_len);
	free(scratch);
}

static void cfg_swap_io(struct bm_bench *b)
{
	bm_threads(b, 1);
	bm_threads(b, 2);
	bm_manual_time(b);
	bm_unit(b, BM_US);
	if (!bm_quick())
		bm_min_time(b, 0.3);
}

/* lz4, zstd:1 and zstd:3 over every corpus kind; zstd:9 over the mixed corpus only, as the
 * point where zstd trades most speed for size. */
static const struct {
	const char *compressor;
	int level;
	int all_kinds;
} codecs[] = {{"lz4", 0, 1}, {"zstd:1", 1, 1}, {"zstd:3", 3, 1}, {"zstd:9", 9, 0}};

static struct codec_variant variants[2 * 4 * BM_NR_KINDS];

static void register_swap_io(void)
{
	int n = 0, in, k;
	size_t ci;
	char name[64];

	for (in = 0; in <= 1; in++) {
		for (ci = 0; ci < sizeof(codecs) / sizeof(codecs[0]); ci++) {
			for (k = 0; k < BM_NR_KINDS; k++) {
				struct codec_variant *v;

				if (k && !codecs[ci].all_kinds)
					break;
				v = &variants[n++];
				*v = (struct codec_variant){codecs[ci].compressor, codecs[ci].level,
							    k, in};
				snprintf(name, sizeof(name), "%s/%s/%s",
					 in ? "swap_in" : "swap_out", codecs[ci].compressor,
					 bm_kind_names[k]);
				bm_register(name, bm_swap_io, cfg_swap_io, v);
			}
		}
	}
}
BM_INIT(register_swap_io);

/* ---- round trips into a fresh area --------------------------------------------------------- */

/* Pages each thread stores in a fresh area per iteration: 8 MiB, a few zspages of every class. */
#define FRESH_PAGES 2048

static void bm_swap_fresh(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	int t = bm_thread_index(s), nt = bm_nthreads(s), failed = 0;
	size_t n = bm_quick() ? 256 : FRESH_PAGES, total, first, i;
	unsigned char page[BM_PAGE];
	swp_entry_t *e;
	double secs = 0, cpu = 0;
	int64_t pages = 0;

	if (!c) {
		bm_fail(s, "no corpus");
		return;
	}
	total = c->npages < n * nt ? c->npages : n * nt;
	n = total / nt;
	first = n * t;
	e = bm_alloc(sizeof(*e) * n);
	while (bm_keep_running(s)) {
		double t0, t1, c0;

		if (t == 0)
			shared_ctx = memory_ctx(n * nt + 4 * SWAPFILE_CLUSTER, "lz4");
		bm_sync(s);
		if (!shared_ctx) {
			failed = 1;
			bm_set_iteration_time(s, 1);
			bm_sync(s);
			continue;
		}
		t0 = bm_now();
		c0 = bm_cpu_now();
		for (i = 0; i < n; i++)
			e[i] = swap_out(shared_ctx, c->pages + (first + i) * BM_PAGE);
		for (i = 0; i < n; i++)
			failed |= !e[i].val || swap_in(shared_ctx, e[i], page) != 0;
		cpu += bm_cpu_now() - c0;
		bm_sync(s);
		t1 = bm_now();
		bm_set_iteration_time(s, t1 - t0);
		secs += t1 - t0;
		pages += (int64_t)n;
		/* untimed: every page read back is the page stored, then the area goes */
		for (i = 0; i < n && !failed; i++)
			failed |= swap_in(shared_ctx, e[i], page) ||
				  memcmp(page, c->pages + (first + i) * BM_PAGE, BM_PAGE);
		for (i = 0; i < n; i++)
			if (e[i].val)
				swap_free(shared_ctx, e[i]);
		bm_sync(s);
		if (t == 0) {
			swap_ctx_destroy(shared_ctx);
			shared_ctx = NULL;
		}
	}
	if (failed)
		bm_fail(s, "swap_on, swap_out or swap_in of a fresh area failed");
	else if (pages) {
		bm_items(s, pages);
		bm_counter(s, "pages_per_s", (double)pages / secs, 0);
		bm_counter(s, "ns_per_page", cpu * 1e9 / (double)pages, BM_AVG_THREADS);
	}
	free(e);
}
BM_REGISTER(bm_swap_fresh, "swap_fresh/lz4/mixed", cfg_swap_io);
