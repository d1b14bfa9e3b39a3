/*
 * bm_tier.c - the writeback tier (a tiered area: compressed memory in front of a swap file),
 * against what a program had before it (a memory area with a memory limit in front of a file
 * area by priority: "priority spill") and against an exact LRU simulated here:
 *
 *   tier_lru_order/mixed     store a stream of the corpus's pages 4x what mem_limit holds, then
 *                            swap_in the most recently stored tenth: the share served from
 *                            memory (recent_from_memory) for the tier and for priority spill
 *   tier_paging/mixed        a program with a fixed number of resident pages runs a Zipf(0.99)
 *                            trace over the corpus's pages, evicting its least recently used
 *                            resident page with swap_out and bringing a non-resident one back
 *                            with swap_in + swap_free: the share of swap_ins served from memory
 *                            for the tier, priority spill, and an exact LRU of the compressed
 *                            pages at the same memory (lru_sim); vs_lru = tier / lru_sim
 *   tier_writeback/mixed     swap_writeback() of every page of a filled tier: pages per second,
 *                            against a plain sequential pwrite of the same number of pages in
 *                            32-page writes to a file beside the backing file (vs_pwrite);
 *                            medians of WB_ROUNDS rounds of each, in alternating order, each
 *                            starting with the file system's dirty pages written out
 *   tier_swap_out_at_limit   swap_out into a tier kept at its mem_limit (every page stored makes
 *                            a page go to the file), against swap_out into a memory area with
 *                            room, in the same run (vs_memory)
 *   recompress/mixed         swap_recompress() of an lz4 memory area with zstd:9: bytes saved
 *                            (saved_per_orig) and CPU time per MiB of pages (cpu_ms_per_mib)
 * The files are made in the corpus folder (bm_corpus_dir()), so all of them are on one file
 * system; the page cache holds them, so the file writes are memory copies into it, which is
 * what the ratios compare.  Each runs one iteration per repetition; report.py takes medians.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <zs/swap.h>

#include "bench.h"
#include "bm_common.h"

static void cfg_once(struct bm_bench *b)
{
	bm_fixed_iterations(b, 1);
	bm_unit(b, BM_MS);
}

static size_t nr_pages(const struct bm_corpus *c)
{
	size_t max = bm_quick() ? 1024 : 16384;

	return c->npages < max ? c->npages : max;
}

/* The bytes page @i takes in an lz4 pool (0: same-filled, 4096: raw). */
static size_t stored_len(const struct bm_corpus *c, size_t i)
{
	static size_t huge;
	int n = c->lz4_len[i];

	if (!huge)
		huge = bm_huge_size();
	return n < 0 ? 0 : n == 0 || (size_t)n >= huge ? BM_PAGE : (size_t)n;
}

static char *file_path(const char *name)
{
	char *p = malloc(4096);

	snprintf(p, 4096, "%s/%s.%d", bm_corpus_dir(), name, (int)getpid());
	unlink(p);
	return p;
}

/* The two set-ups: a tier, or a memory area at priority 1 with a file area behind it. */
struct setup {
	struct swap_ctx *ctx;
	int mem, file; /* types: mem is the tier's or the memory area's */
	char *path;
};

static int setup_on(struct setup *st, int tier, uint64_t slots, uint64_t mem_limit)
{
	memset(st, 0, sizeof(*st));
	st->ctx = swap_ctx_create();
	st->path = file_path(tier ? "tier" : "spill");
	if (!st->ctx)
		return -1;
	if (tier) {
		struct swap_area_opts o = {.nr_pages = slots,
					   .mem_limit = mem_limit,
					   .backing_path = st->path,
					   .backing_pages = slots};
		st->mem = st->file = swap_on(st->ctx, &o);
		return st->mem < 0 ? -1 : 0;
	}
	st->mem = swap_on(st->ctx, &(struct swap_area_opts){
				       .nr_pages = slots, .mem_limit = mem_limit, .priority = 1});
	st->file = swap_on(st->ctx, &(struct swap_area_opts){.path = st->path, .nr_pages = slots});
	return st->mem < 0 || st->file < 0 ? -1 : 0;
}

static void setup_off(struct setup *st)
{
	swap_ctx_destroy(st->ctx);
	if (st->path)
		unlink(st->path);
	free(st->path);
}

static uint64_t wb_reads(struct setup *st)
{
	struct swap_area_stats a;

	return swap_area_stats(st->ctx, st->mem, &a) ? 0 : a.wb_reads;
}

/* Whether the swap_in of @e (just done) was served from memory. */
static int from_memory(struct setup *st, int tier, swp_entry_t e, uint64_t reads_before)
{
	if (tier)
		return wb_reads(st) == reads_before;
	return (int)swp_type(e) == st->mem;
}

/* Until the tier's thread has brought its pool under the limit (it runs in the background). */
static void settle(struct setup *st, uint64_t mem_limit)
{
	struct swap_area_stats a;

	for (int i = 0; i < 500; i++) {
		if (swap_area_stats(st->ctx, st->mem, &a) || a.mem_used_total <= mem_limit)
			return;
		usleep(2000);
	}
}

/* ---- LRU order ---------------------------------------------------------------------------- */

static double lru_order_run(const struct bm_corpus *c, int tier, const char **err)
{
	size_t n = nr_pages(c), recent = n / 10, hits = 0;
	unsigned long long bytes = 0;
	swp_entry_t *e = calloc(n, sizeof(*e));
	unsigned char page[BM_PAGE];
	struct setup st;
	uint64_t limit;

	for (size_t i = 0; i < n; i++)
		bytes += stored_len(c, i);
	limit = bytes / 4; /* the stream is 4x what the pool holds */
	if (!e || setup_on(&st, tier, n + 2 * SWAPFILE_CLUSTER, limit)) {
		*err = "swap_on failed";
		free(e);
		return -1;
	}
	for (size_t i = 0; i < n && !*err; i++) {
		e[i] = swap_out(st.ctx, c->pages + i * BM_PAGE);
		if (!e[i].val)
			*err = "swap_out failed";
	}
	settle(&st, limit);
	for (size_t i = n - recent; i < n && !*err; i++) {
		uint64_t before = wb_reads(&st);

		if (swap_in(st.ctx, e[i], page) || memcmp(page, c->pages + i * BM_PAGE, BM_PAGE))
			*err = "a page came back wrong";
		hits += (size_t)from_memory(&st, tier, e[i], before);
	}
	setup_off(&st);
	free(e);
	return (double)hits / (double)recent;
}

static void bm_tier_lru_order(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	const char *err = NULL;
	double tier = 0, spill = 0;

	if (!c) {
		bm_fail(s, "no corpus");
		return;
	}
	while (bm_keep_running(s)) {
		tier = lru_order_run(c, 1, &err);
		spill = lru_order_run(c, 0, &err);
	}
	if (err) {
		bm_fail(s, err);
		return;
	}
	bm_counter(s, "tier_recent_from_memory", tier, 0);
	bm_counter(s, "spill_recent_from_memory", spill, 0);
}
BM_REGISTER(bm_tier_lru_order, "tier_lru_order/mixed", cfg_once);

/* ---- a paging workload -------------------------------------------------------------------- */

/*
 * Zipf(0.99) ranks by inversion of the cumulative distribution (a table of n doubles and a
 * binary search per draw), mapped to pages by a fixed random permutation so the hot pages are
 * spread over the corpus.
 */
struct zipf {
	double *cdf;
	uint32_t *perm;
	size_t n;
};

static int zipf_init(struct zipf *z, size_t n, uint64_t seed)
{
	double sum = 0;

	z->n = n;
	z->cdf = malloc(n * sizeof(*z->cdf));
	z->perm = malloc(n * sizeof(*z->perm));
	if (!z->cdf || !z->perm)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sum += 1.0 / pow((double)(i + 1), 0.99);
		z->cdf[i] = sum;
		z->perm[i] = (uint32_t)i;
	}
	for (size_t i = 0; i < n; i++)
		z->cdf[i] /= sum;
	bm_shuffle(z->perm, n, &seed);
	return 0;
}

static uint32_t zipf_draw(const struct zipf *z, uint64_t *rnd)
{
	double u = (double)(bm_rand(rnd) >> 11) / (double)(1ULL << 53);
	size_t lo = 0, hi = z->n - 1;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (z->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return z->perm[lo];
}

/* An LRU list over page numbers, links in arrays; NONE ends it. */
#define NONE UINT32_MAX
struct lru {
	uint32_t *prev, *next, head, tail;
	size_t nr;
};

static int lru_init(struct lru *l, size_t n)
{
	l->prev = malloc(n * sizeof(*l->prev));
	l->next = malloc(n * sizeof(*l->next));
	l->head = l->tail = NONE;
	l->nr = 0;
	if (!l->prev || !l->next)
		return -1;
	for (size_t i = 0; i < n; i++)
		l->prev[i] = l->next[i] = NONE - 1; /* not on it */
	return 0;
}

static void lru_fini(struct lru *l)
{
	free(l->prev);
	free(l->next);
}

static int lru_has(const struct lru *l, uint32_t p)
{
	return l->prev[p] != NONE - 1;
}

static void lru_del(struct lru *l, uint32_t p)
{
	if (l->prev[p] != NONE)
		l->next[l->prev[p]] = l->next[p];
	else
		l->head = l->next[p];
	if (l->next[p] != NONE)
		l->prev[l->next[p]] = l->prev[p];
	else
		l->tail = l->prev[p];
	l->prev[p] = l->next[p] = NONE - 1;
	l->nr--;
}

static void lru_push(struct lru *l, uint32_t p) /* at the warm end */
{
	l->prev[p] = l->tail;
	l->next[p] = NONE;
	if (l->tail != NONE)
		l->next[l->tail] = p;
	else
		l->head = p;
	l->tail = p;
	l->nr++;
}

struct paging {
	double tier, spill, sim;
};

/*
 * The program's trace over one set-up (@tier), and, when @sim, the exact LRU of the compressed
 * pages at the same memory over the same trace.  The share of swap_ins served from memory.
 */
static double paging_run(const struct bm_corpus *c, const struct zipf *z, int tier, int sim,
			 double *sim_share, const char **err)
{
	size_t n = z->n, resident_max = n / 16, steps = 3 * n, warm = n, ins = 0, hits = 0;
	size_t sim_ins = 0, sim_hits = 0;
	unsigned long long bytes = 0, sim_bytes = 0;
	swp_entry_t *e = calloc(n, sizeof(*e));
	struct lru res, mem;
	unsigned char page[BM_PAGE];
	uint64_t rnd = 12345, limit;
	struct setup st;

	for (size_t i = 0; i < n; i++)
		bytes += stored_len(c, i);
	limit = bytes / 4;
	if (!e || lru_init(&res, n) || lru_init(&mem, n) ||
	    setup_on(&st, tier, n + 2 * SWAPFILE_CLUSTER, limit)) {
		*err = "set-up failed";
		return -1;
	}
	/* Every page starts swapped out, in corpus order. */
	for (uint32_t p = 0; p < n && !*err; p++) {
		e[p] = swap_out(st.ctx, c->pages + (size_t)p * BM_PAGE);
		if (!e[p].val)
			*err = "swap_out failed";
		lru_push(&mem, p);
		sim_bytes += stored_len(c, p);
		while (sim_bytes > limit) {
			uint32_t v = mem.head;
			lru_del(&mem, v);
			sim_bytes -= stored_len(c, v);
		}
	}
	settle(&st, limit);
	for (size_t step = 0; step < steps + warm && !*err; step++) {
		uint32_t p = zipf_draw(z, &rnd), v;
		int counted = step >= warm;

		if (lru_has(&res, p)) {
			lru_del(&res, p);
			lru_push(&res, p);
			continue;
		}
		/* a fault: bring p back */
		uint64_t before = tier ? wb_reads(&st) : 0;

		if (swap_in(st.ctx, e[p], page) ||
		    memcmp(page, c->pages + (size_t)p * BM_PAGE, BM_PAGE)) {
			*err = "a page came back wrong";
			break;
		}
		if (counted) {
			ins++;
			hits += (size_t)from_memory(&st, tier, e[p], before);
		}
		swap_free(st.ctx, e[p]);
		e[p].val = 0;
		if (sim) {
			if (counted) {
				sim_ins++;
				sim_hits += (size_t)lru_has(&mem, p);
			}
			if (lru_has(&mem, p)) {
				lru_del(&mem, p);
				sim_bytes -= stored_len(c, p);
			}
		}
		lru_push(&res, p);
		if (res.nr <= resident_max)
			continue;
		/* evict the program's least recently used page */
		v = res.head;
		lru_del(&res, v);
		e[v] = swap_out(st.ctx, c->pages + (size_t)v * BM_PAGE);
		if (!e[v].val)
			*err = "swap_out failed";
		if (sim) {
			lru_push(&mem, v);
			sim_bytes += stored_len(c, v);
			while (sim_bytes > limit) {
				uint32_t w = mem.head;
				lru_del(&mem, w);
				sim_bytes -= stored_len(c, w);
			}
		}
	}
	setup_off(&st);
	lru_fini(&res);
	lru_fini(&mem);
	free(e);
	if (sim)
		*sim_share = sim_ins ? (double)sim_hits / sim_ins : 0;
	return ins ? (double)hits / ins : 0;
}

static void bm_tier_paging(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	const char *err = NULL;
	struct paging r = {0};
	struct zipf z = {0};

	if (!c || zipf_init(&z, nr_pages(c), 77)) {
		bm_fail(s, "no corpus");
		return;
	}
	while (bm_keep_running(s)) {
		r.tier = paging_run(c, &z, 1, 1, &r.sim, &err);
		r.spill = paging_run(c, &z, 0, 0, NULL, &err);
	}
	free(z.cdf);
	free(z.perm);
	if (err) {
		bm_fail(s, err);
		return;
	}
	bm_counter(s, "tier_from_memory", r.tier, 0);
	bm_counter(s, "spill_from_memory", r.spill, 0);
	bm_counter(s, "lru_sim_from_memory", r.sim, 0);
	bm_counter(s, "vs_lru", r.sim > 0 ? r.tier / r.sim : 0, 0);
}
BM_REGISTER(bm_tier_paging, "tier_paging/mixed", cfg_once);

/* ---- writeback throughput ------------------------------------------------------------------ */

/*
 * Write back the dirty pages of the file system every file here lives on (the corpus
 * folder's) before a timed phase: writes into the page cache slow down (balance_dirty_pages)
 * once the dirty pages pass a limit, so the phase that ran second (or beside another program's
 * writes) would otherwise pay for the other's pages.
 */
static void sync_dir(void)
{
	int fd = open(bm_corpus_dir(), O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

/* Sequential pwrite of @n pages, SWAP_WB_BATCH at a time, into a fresh preallocated file. */
static double pwrite_seconds(const struct bm_corpus *c, size_t n, const char **err)
{
	char *path = file_path("pwrite");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	double t0, t;

	if (fd < 0 || posix_fallocate(fd, 0, (off_t)(n + 1) * BM_PAGE)) {
		*err = "cannot make the pwrite file";
		free(path);
		return -1;
	}
	sync_dir();
	t0 = bm_now();
	for (size_t i = 0; i < n; i += SWAP_WB_BATCH) {
		size_t k = n - i < SWAP_WB_BATCH ? n - i : SWAP_WB_BATCH;

		if (pwrite(fd, c->pages + i * BM_PAGE, k * BM_PAGE, (off_t)(i + 1) * BM_PAGE) !=
		    (ssize_t)(k * BM_PAGE))
			*err = "pwrite failed";
	}
	t = bm_now() - t0;
	close(fd);
	unlink(path);
	free(path);
	return t;
}

/* Rounds of each phase per iteration: one round lasts tens of milliseconds, so one sample of a
 * shared machine's page cache is noise; the medians of five, in alternating order, are not. */
#define WB_ROUNDS 5

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One round: fill a tier with the corpus, then time swap_writeback() of all of it. */
static double writeback_seconds(const struct bm_corpus *c, long *written, const char **err)
{
	size_t n = nr_pages(c);
	struct setup st;
	double t0, t = -1;

	/* no mem_limit: nothing goes to the file until swap_writeback says so */
	if (setup_on(&st, 1, n + 2 * SWAPFILE_CLUSTER, 0)) {
		*err = "set-up failed";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		swap_out(st.ctx, c->pages + i * BM_PAGE);
	sync_dir();
	t0 = bm_now();
	*written = swap_writeback(st.ctx, st.mem, &(struct swap_writeback_opts){0});
	t = bm_now() - t0;
	if (*written <= 0)
		*err = "swap_writeback wrote nothing";
	setup_off(&st);
	return t;
}

static void bm_tier_writeback(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	const char *err = NULL;
	double wb_s = 0, pw_s = 0;
	long written = 0;

	if (!c) {
		bm_fail(s, "no corpus");
		return;
	}
	while (bm_keep_running(s) && !err) {
		double wb[WB_ROUNDS], pw[WB_ROUNDS];

		for (int r = 0; r < WB_ROUNDS && !err; r++) {
			if (r % 2)
				pw[r] = pwrite_seconds(c, (size_t)written, &err);
			wb[r] = writeback_seconds(c, &written, &err);
			if (r % 2 == 0 && !err)
				pw[r] = pwrite_seconds(c, (size_t)written, &err);
		}
		if (!err) {
			wb_s = median(wb, WB_ROUNDS);
			pw_s = median(pw, WB_ROUNDS);
		}
	}
	if (err) {
		bm_fail(s, err);
		return;
	}
	bm_counter(s, "pages", (double)written, 0);
	bm_counter(s, "wb_pages_per_s", written / wb_s, 0);
	bm_counter(s, "pwrite_pages_per_s", written / pw_s, 0);
	bm_counter(s, "vs_pwrite", pw_s / wb_s, 0);
}
BM_REGISTER(bm_tier_writeback, "tier_writeback/mixed", cfg_once);

/* ---- swap_out at the limit ------------------------------------------------------------------ */

/* Seconds to swap_out pages [from, from + n) of the corpus (wrapping) into @ctx. */
static double swap_out_seconds(struct swap_ctx *ctx, const struct bm_corpus *c, size_t from,
			       size_t n, size_t wrap, swp_entry_t *e, const char **err)
{
	double t0 = bm_now();

	for (size_t i = 0; i < n; i++) {
		e[i] = swap_out(ctx, c->pages + ((from + i) % wrap) * BM_PAGE);
		if (!e[i].val)
			*err = "swap_out failed";
	}
	return bm_now() - t0;
}

static void bm_tier_swap_out_at_limit(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	const char *err = NULL;
	double tier_s = 0, mem_s = 0;
	size_t n = 0;

	if (!c) {
		bm_fail(s, "no corpus");
		return;
	}
	while (bm_keep_running(s)) {
		size_t pages = nr_pages(c);
		unsigned long long bytes = 0;
		struct setup st;
		struct swap_ctx *mem;
		swp_entry_t *e;

		n = pages;
		for (size_t i = 0; i < pages; i++)
			bytes += stored_len(c, i);
		e = calloc(3 * n, sizeof(*e));
		/* the tier's pool holds a quarter of one pass: fill it twice over, then time a pass
		 */
		if (!e || setup_on(&st, 1, 3 * n + 2 * SWAPFILE_CLUSTER, bytes / 4)) {
			err = "set-up failed";
			break;
		}
		swap_out_seconds(st.ctx, c, 0, n, pages, e, &err);
		settle(&st, bytes / 4);
		tier_s = swap_out_seconds(st.ctx, c, 0, n, pages, e + n, &err);
		setup_off(&st);
		/* the same pass into a memory area with room */
		mem = swap_ctx_create();
		if (!mem || swap_on(mem, &(struct swap_area_opts){
					     .nr_pages = 2 * n + 2 * SWAPFILE_CLUSTER}) < 0) {
			err = "memory area failed";
			swap_ctx_destroy(mem);
			free(e);
			break;
		}
		swap_out_seconds(mem, c, 0, n, pages, e, &err);
		mem_s = swap_out_seconds(mem, c, 0, n, pages, e + n, &err);
		swap_ctx_destroy(mem);
		free(e);
	}
	if (err) {
		bm_fail(s, err);
		return;
	}
	bm_counter(s, "tier_pages_per_s", n / tier_s, 0);
	bm_counter(s, "memory_pages_per_s", n / mem_s, 0);
	bm_counter(s, "vs_memory", mem_s / tier_s, 0);
}
BM_REGISTER(bm_tier_swap_out_at_limit, "tier_swap_out_at_limit/mixed", cfg_once);

/* ---- recompression ------------------------------------------------------------------------- */

static void bm_recompress(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	const char *err = NULL;
	double cpu = 0, saved = 0, mib = 0;
	long done = 0;

	if (!c) {
		bm_fail(s, "no corpus");
		return;
	}
	while (bm_keep_running(s)) {
		size_t n = nr_pages(c);
		struct swap_ctx *ctx = swap_ctx_create();
		struct swap_area_stats a, b;
		double c0;

		if (!ctx ||
		    swap_on(ctx, &(struct swap_area_opts){.nr_pages = n + 2 * SWAPFILE_CLUSTER,
							  .compressor = "lz4"}) < 0) {
			err = "memory area failed";
			swap_ctx_destroy(ctx);
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (!swap_out(ctx, c->pages + i * BM_PAGE).val)
				err = "swap_out failed";
		swap_area_stats(ctx, 0, &a);
		c0 = bm_cpu_now();
		done =
		    swap_recompress(ctx, 0, &(struct swap_recompress_opts){.compressor = "zstd:9"});
		cpu = bm_cpu_now() - c0;
		swap_area_stats(ctx, 0, &b);
		if (done < 0)
			err = "swap_recompress failed";
		saved = (double)a.compr_data_size - (double)b.compr_data_size;
		mib = (double)a.orig_data_size / (1024.0 * 1024.0);
		bm_counter(s, "lz4_compr_per_orig", (double)a.compr_data_size / a.orig_data_size,
			   0);
		bm_counter(s, "zstd9_compr_per_orig", (double)b.compr_data_size / b.orig_data_size,
			   0);
		swap_ctx_destroy(ctx);
	}
	if (err) {
		bm_fail(s, err);
		return;
	}
	bm_counter(s, "recompressed", (double)done, 0);
	bm_counter(s, "saved_mib", saved / (1024.0 * 1024.0), 0);
	bm_counter(s, "saved_per_orig", saved / (mib * 1024.0 * 1024.0), 0);
	bm_counter(s, "cpu_ms_per_mib", cpu * 1e3 / mib, 0);
}
BM_REGISTER(bm_recompress, "recompress/mixed", cfg_once);
