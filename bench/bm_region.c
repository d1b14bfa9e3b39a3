/*
 * bm_region.c - libswap regions (include/zs/region.h), the four figure groups of issue 12:
 *
 *   region_fault/major        a touch of a swapped-out page, timed by the faulting thread
 *                             (decompress + install, with the fault's round trip through the
 *                             handler thread), against the bare pair measured on the same pages
 *                             in the same run: LZ4_decompress_safe + UFFDIO_COPY into a
 *                             registered page of the benchmark's own userfaultfd
 *   region_fault/minor_cache  a touch of a page waiting in the swap cache (moved back), against a
 *                             bare UFFDIO_MOVE of one page into a registered page
 *   region_fault/minor_zero   a first touch (the zero page), against a bare UFFDIO_ZEROPAGE
 *     counters p50_ns, p99_ns (the touches), bare_p50_ns, bare_p99_ns, p50_vs_bare,
 *     p99_vs_bare, handler_p50_ns (the region's own service time from swap_region_stats)
 *
 *   region_zipf/rw/threads:T   Zipf(0.99) accesses (80% one-word reads, 20% one-word writes;
 *                              ranks scattered over the pages by a fixed permutation) over a
 *                              region 4x its resident_max, after a warm-up, by T threads (each
 *                              its own sequence), and the same sequences over plain memory:
 *     acc_per_s, plain_acc_per_s, vs_plain    throughput, all threads together (wall clock)
 *     fault_share, major_share               faults (major + minor) and major faults per access
 *     lru_miss_share, faults_vs_lru, major_vs_lru
 *                              an exact LRU of resident_max pages simulated over the same
 *                              sequence (T = 2: the two sequences interleaved one by one, an
 *                              approximation of the real interleaving)
 *     rss_max_ratio            the most RAM the region and its swap cache held, sampled every
 *                              2 ms, over resident_max: the kernel's count of their pages (their
 *                              Rss in /proc/self/smaps where mappings have names; elsewhere
 *                              mincore(2) of the region plus the swap cache's page count)
 *     proc_rss_drift           the most the whole process's RSS grew during the run, over
 *                              resident_max (the compressed copies included)
 *     reclaim_ms_per_MiB       CPU time reclaim spent (swap_region_stats' reclaim_cpu_ns: the
 *                              reclaim thread and direct reclaim) per MiB reclaimed, beside
 *                              bare_lz4_ms_per_MiB, LZ4_compress_default of the same corpus
 *     clean_share              clean reclaims over all reclaims
 *   region_zipf/read/threads:1  the same with 95% reads: the read-mostly run of figure 4
 *
 * Where userfaultfd is not permitted each row is skipped with the region's own message.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <lz4.h>
#include <zs/region.h>

#include "bench.h"
#include "bm_common.h"

/* The kernel ABI the bare measurements use, where the distribution's headers predate it. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE 0x05
struct uffdio_move {
	__u64 dst, src, len, mode;
	__s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* Zipf's exponent of the figure 2. */
#define ZIPF_S 0.99
/* Region size over resident_max. */
#define OVERCOMMIT 4
/* The region's RAM is sampled this often while a Zipf run goes (a sample costs ~50 us). */
#define RSS_SAMPLE_US 2000

static double percentile(double *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return 0;
	for (size_t i = 1; i < n; i++) { /* insertion sort: a few thousand samples */
		double x = v[i];
		size_t j = i;
		while (j && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
	k = (size_t)(q * (double)(n - 1) + 0.5);
	return v[k];
}

static struct swap_ctx *memory_ctx(uint64_t slots)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = slots};

	if (ctx && swap_on(ctx, &o) < 0) {
		swap_ctx_destroy(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* A region over @ctx, or NULL with @why set to the reason (the body then skips). */
static struct swap_region *make_region(struct swap_ctx *ctx, size_t pages, size_t budget,
				       unsigned flags, char *why, size_t whylen)
{
	struct swap_region_opts o = {
	    .size = pages * BM_PAGE, .resident_max = budget * BM_PAGE, .flags = flags};
	struct swap_region *r = swap_region_create(ctx, &o);

	if (!r)
		snprintf(why, whylen, "no region: %s", swap_region_errmsg());
	return r;
}

/* ---- the bare calls: the benchmark's own userfaultfd ------------------------------------- */

struct bare {
	int fd;
	char *dst; /* registered, missing pages */
	char *src; /* one ordinary page, the source of a move */
	size_t pages;
};

static int bare_open(struct bare *b, size_t pages)
{
	struct uffdio_api api = {.api = UFFD_API, .features = 1ull << 16 /* UFFD_FEATURE_MOVE */};
	struct uffdio_register reg;

	b->pages = pages;
	b->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (b->fd < 0)
		b->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (b->fd < 0 || ioctl(b->fd, UFFDIO_API, &api))
		return -1;
	b->dst =
	    mmap(NULL, pages * BM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b->src = mmap(NULL, BM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->dst == MAP_FAILED)
		b->dst = NULL;
	if (b->src == MAP_FAILED)
		b->src = NULL;
	if (!b->dst || !b->src)
		return -1;
	madvise(b->dst, pages * BM_PAGE, MADV_NOHUGEPAGE);
	reg =
	    (struct uffdio_register){.range = {.start = (uintptr_t)b->dst, .len = pages * BM_PAGE},
				     .mode = UFFDIO_REGISTER_MODE_MISSING};
	return ioctl(b->fd, UFFDIO_REGISTER, &reg);
}

static void bare_close(struct bare *b)
{
	if (b->dst)
		munmap(b->dst, b->pages * BM_PAGE);
	if (b->src)
		munmap(b->src, BM_PAGE);
	if (b->fd >= 0)
		close(b->fd);
}

static double bare_copy(struct bare *b, size_t k, const char *img, int len, char *buf)
{
	struct uffdio_copy c = {
	    .dst = (uintptr_t)b->dst + k * BM_PAGE, .src = (uintptr_t)buf, .len = BM_PAGE};
	double t0 = bm_now();

	LZ4_decompress_safe(img, buf, len, BM_PAGE);
	ioctl(b->fd, UFFDIO_COPY, &c);
	return bm_now() - t0;
}

static double bare_move(struct bare *b, size_t k)
{
	struct uffdio_move m = {
	    .dst = (uintptr_t)b->dst + k * BM_PAGE, .src = (uintptr_t)b->src, .len = BM_PAGE};
	double t;

	b->src[0] = 1; /* present again: the move took it */
	t = bm_now();
	ioctl(b->fd, UFFDIO_MOVE, &m);
	return bm_now() - t;
}

static double bare_zeropage(struct bare *b, size_t k)
{
	struct uffdio_zeropage z = {
	    .range = {.start = (uintptr_t)b->dst + k * BM_PAGE, .len = BM_PAGE}};
	double t = bm_now();

	ioctl(b->fd, UFFDIO_ZEROPAGE, &z);
	return bm_now() - t;
}

/* ---- figure 1: fault latency -------------------------------------------------------------- */

enum fault_kind { F_MAJOR, F_MINOR_CACHE, F_MINOR_ZERO };
static const char *const fault_names[] = {"major", "minor_cache", "minor_zero"};

static double touch(const char *p)
{
	double t = bm_now();

	(void)*(const volatile uint64_t *)p;
	return bm_now() - t;
}

static void fill_from_corpus(char *base, size_t pages, const struct bm_corpus *c)
{
	for (size_t i = 0; i < pages; i++)
		memcpy(base + i * BM_PAGE, c->pages + (i % c->npages) * BM_PAGE, BM_PAGE);
}

struct fault_run {
	double *lat, *bare;
	size_t n;
};

static void run_major(struct swap_region *r, struct bare *b, const struct bm_corpus *c,
		      size_t pages, struct fault_run *fr, char *buf)
{
	char *base = swap_region_addr(r), *img = malloc((size_t)LZ4_COMPRESSBOUND(BM_PAGE) * pages);
	int *len = malloc(sizeof(int) * pages);
	uint32_t *order = malloc(sizeof(uint32_t) * pages);
	uint64_t seed = 7;

	fill_from_corpus(base, pages, c);
	for (size_t k = 0; k < pages; k++) {
		len[k] = LZ4_compress_default(base + k * BM_PAGE,
					      img + k * (size_t)LZ4_COMPRESSBOUND(BM_PAGE), BM_PAGE,
					      LZ4_COMPRESSBOUND(BM_PAGE));
		order[k] = (uint32_t)k;
	}
	swap_region_reclaim(r, SIZE_MAX);
	bm_shuffle(order, pages, &seed);
	/* Interleaved, page by page, so that both see the same machine. */
	for (size_t i = 0; i < pages; i++) {
		size_t k = order[i];
		fr->bare[fr->n] =
		    bare_copy(b, k, img + k * (size_t)LZ4_COMPRESSBOUND(BM_PAGE), len[k], buf);
		fr->lat[fr->n++] = touch(base + k * BM_PAGE);
	}
	free(img);
	free(len);
	free(order);
}

static void run_minor_cache(struct swap_region *r, struct bare *b, const struct bm_corpus *c,
			    size_t pages, struct fault_run *fr)
{
	char *base = swap_region_addr(r);
	struct swap_region_stats st0, st1;

	fill_from_corpus(base, pages, c);
	/* Reclaiming one page fills the swap cache to its target with the coldest pages: touch
	 * them, oldest first; count only the touches that were minor faults. */
	for (int round = 0; round < 64 && fr->n < pages; round++) {
		swap_region_reclaim(r, BM_PAGE);
		for (size_t k = 0; k < pages && fr->n < pages; k++) {
			double t;
			swap_region_stats(r, &st0);
			t = touch(base + k * BM_PAGE);
			swap_region_stats(r, &st1);
			if (st1.faults.minor == st0.faults.minor + 1 &&
			    st1.faults.major == st0.faults.major) {
				fr->bare[fr->n] = bare_move(b, fr->n);
				fr->lat[fr->n++] = t;
			}
		}
	}
}

static void run_minor_zero(struct swap_region *r, struct bare *b, size_t pages,
			   struct fault_run *fr)
{
	char *base = swap_region_addr(r);

	for (size_t k = 0; k < pages; k++) {
		fr->bare[fr->n] = bare_zeropage(b, k);
		fr->lat[fr->n++] = touch(base + k * BM_PAGE);
	}
}

static void bm_region_fault(struct bm_state *s)
{
	enum fault_kind kind = (enum fault_kind)(uintptr_t)bm_user(s);
	size_t pages = bm_quick() ? 256 : 2048;
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	struct swap_ctx *ctx = memory_ctx(4 * pages);
	struct fault_run fr = {malloc(sizeof(double) * pages), malloc(sizeof(double) * pages), 0};
	char why[600] = "", *buf = aligned_alloc(BM_PAGE, BM_PAGE);
	struct swap_region_stats st;
	struct swap_region *r = NULL;
	struct bare b = {.fd = -1};
	double p50 = 0, p99 = 0, bp50 = 0, bp99 = 0;

	if (!c || !ctx) {
		bm_fail(s, "no corpus or no swap area");
		swap_ctx_destroy(ctx);
		free(fr.lat);
		free(fr.bare);
		free(buf);
		return;
	}
	/* Budget for every page: no reclaim but the one the run asks for. */
	r = make_region(ctx, pages, pages, SWAP_REGION_NO_RECLAIM_THREAD, why, sizeof(why));
	if (r && bare_open(&b, pages))
		snprintf(why, sizeof(why), "no userfaultfd for the bare calls: %s",
			 strerror(errno));
	if (why[0]) {
		if (r)
			swap_region_destroy(r);
		bare_close(&b);
		swap_ctx_destroy(ctx);
		free(fr.lat);
		free(fr.bare);
		free(buf);
		bm_skip(s, why);
		return;
	}
	while (bm_keep_running(s)) {
		if (kind == F_MAJOR)
			run_major(r, &b, c, pages, &fr, buf);
		else if (kind == F_MINOR_CACHE)
			run_minor_cache(r, &b, c, pages, &fr);
		else
			run_minor_zero(r, &b, pages, &fr);
		double sum = 0;
		for (size_t i = 0; i < fr.n; i++)
			sum += fr.lat[i];
		bm_set_iteration_time(s, sum);
	}
	swap_region_stats(r, &st);
	p50 = percentile(fr.lat, fr.n, 0.50);
	p99 = percentile(fr.lat, fr.n, 0.99);
	bp50 = percentile(fr.bare, fr.n, 0.50);
	bp99 = percentile(fr.bare, fr.n, 0.99);
	bm_counter(s, "p50_ns", p50 * 1e9, 0);
	bm_counter(s, "p99_ns", p99 * 1e9, 0);
	bm_counter(s, "bare_p50_ns", bp50 * 1e9, 0);
	bm_counter(s, "bare_p99_ns", bp99 * 1e9, 0);
	bm_counter(s, "p50_vs_bare", bp50 > 0 ? p50 / bp50 : 0, 0);
	bm_counter(s, "p99_vs_bare", bp99 > 0 ? p99 / bp99 : 0, 0);
	bm_counter(s, "handler_p50_ns",
		   (double)(kind == F_MAJOR ? st.major_latency.p50 : st.minor_latency.p50), 0);
	bm_counter(s, "faults", (double)fr.n, 0);
	if (fr.n < pages / 4)
		bm_fail(s, "too few faults of the kind measured");
	swap_region_destroy(r);
	swap_ctx_destroy(ctx);
	bare_close(&b);
	free(fr.lat);
	free(fr.bare);
	free(buf);
}

static void cfg_fault(struct bm_bench *b)
{
	bm_fixed_iterations(b, 1);
	bm_manual_time(b);
	bm_unit(b, BM_MS);
}

BM_INIT(register_fault);
static void register_fault(void)
{
	char name[64];

	for (int k = F_MAJOR; k <= F_MINOR_ZERO; k++) {
		snprintf(name, sizeof(name), "region_fault/%s", fault_names[k]);
		bm_register(name, bm_region_fault, cfg_fault, (const void *)(uintptr_t)k);
	}
}

/* ---- figures 2 to 4: a Zipf working set four times the budget --------------------------- */

struct zipf_variant {
	const char *name;
	unsigned write_pct;
	void (*config)(struct bm_bench *b);
};

/* Shared by the threads of one run (thread 0 builds and frees it). */
static struct zipf_run {
	struct swap_ctx *ctx;
	struct swap_region *r;
	char *base, *plain;
	size_t pages, budget, nacc, nwarm;
	uint32_t *seq[2]; /* page << 1 | write, warm-up first */
	double plain_secs[2], region_secs[2];
	char why[600];
	atomic_bool sampling;
	bool named;
	unsigned char *vec; /* mincore's answer */
	double rss_max, drift_max;
	unsigned rss_samples;
	pthread_t sampler;
} zr;

static void zipf_sequence(uint32_t *seq, size_t n, size_t pages, unsigned write_pct,
			  const double *cdf, const uint32_t *perm, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		double u = (double)(bm_rand(&seed) >> 11) * 0x1p-53;
		size_t lo = 0, hi = pages - 1;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		seq[i] = perm[lo] << 1 | (bm_rand(&seed) % 100 < write_pct);
	}
}

/* Misses of an exact LRU of @cap pages over the measured part of @seqs interleaved one by one
 * (the warm-up part only warms it), starting from the fill's last @cap pages. */
static double lru_misses(size_t pages, size_t cap, uint32_t *const *seqs, int nseq, size_t nwarm,
			 size_t nacc)
{
	uint32_t *prev = malloc(sizeof(uint32_t) * pages), *next = malloc(sizeof(uint32_t) * pages);
	uint8_t *in = calloc(pages, 1);
	uint32_t head = UINT32_MAX, tail = UINT32_MAX, nil = UINT32_MAX;
	size_t size = 0;
	double misses = 0;

#define LRU_UNLINK(x)                                                                              \
	do {                                                                                       \
		if (prev[x] != nil)                                                                \
			next[prev[x]] = next[x];                                                   \
		else                                                                               \
			head = next[x];                                                            \
		if (next[x] != nil)                                                                \
			prev[next[x]] = prev[x];                                                   \
		else                                                                               \
			tail = prev[x];                                                            \
	} while (0)
#define LRU_PUSH(x)                                                                                \
	do {                                                                                       \
		prev[x] = nil;                                                                     \
		next[x] = head;                                                                    \
		if (head != nil)                                                                   \
			prev[head] = x;                                                            \
		else                                                                               \
			tail = x;                                                                  \
		head = x;                                                                          \
	} while (0)
	for (size_t p = pages - cap; p < pages; p++) { /* the fill wrote page 0 first */
		uint32_t x = (uint32_t)p;
		LRU_PUSH(x);
		in[x] = 1;
		size++;
	}
	for (size_t i = 0; i < nwarm + nacc; i++) {
		for (int t = 0; t < nseq; t++) {
			uint32_t x = seqs[t][i] >> 1;
			if (in[x]) {
				LRU_UNLINK(x);
			} else {
				misses += i >= nwarm;
				if (size == cap) {
					uint32_t v = tail;
					LRU_UNLINK(v);
					in[v] = 0;
					size--;
				}
				in[x] = 1;
				size++;
			}
			LRU_PUSH(x);
		}
	}
#undef LRU_UNLINK
#undef LRU_PUSH
	free(prev);
	free(next);
	free(in);
	return misses;
}

/* The region's RAM now, in bytes: its mappings' Rss where the kernel names them, else the
 * region's pages mapped (mincore) plus the pages its swap cache holds. */
static double region_ram(void)
{
	long long a = tu_smaps_rss_bytes("swap_region"),
		  b = tu_smaps_rss_bytes("swap_region_cache");
	struct swap_region_stats st;
	size_t n = zr.pages, mapped = 0;

	if (a >= 0)
		return (double)(a + (b > 0 ? b : 0));
	if (mincore(zr.base, n * BM_PAGE, zr.vec))
		return 0;
	for (size_t i = 0; i < n; i++)
		mapped += zr.vec[i] & 1;
	swap_region_stats(zr.r, &st);
	return (double)(mapped + st.cached_pages) * BM_PAGE;
}

static void *rss_sampler(void *arg)
{
	long long rss0 = bm_rss_bytes();

	(void)arg;
	zr.named = tu_smaps_rss_bytes("swap_region") >= 0;
	while (atomic_load(&zr.sampling)) {
		double ratio = region_ram() / (double)(zr.budget * BM_PAGE);
		double drift = (double)(bm_rss_bytes() - rss0) / (double)(zr.budget * BM_PAGE);
		if (ratio > zr.rss_max)
			zr.rss_max = ratio;
		if (drift > zr.drift_max)
			zr.drift_max = drift;
		zr.rss_samples++;
		usleep(RSS_SAMPLE_US);
	}
	return NULL;
}

/* Run @seq[from, to) over @base: one-word reads and writes. */
static uint64_t run_accesses(char *base, const uint32_t *seq, size_t from, size_t to)
{
	uint64_t sum = 0;

	for (size_t i = from; i < to; i++) {
		uint64_t *w = (uint64_t *)(base + (size_t)(seq[i] >> 1) * BM_PAGE) + (i * 7) % 512;
		if (seq[i] & 1)
			*w = i;
		else
			sum += *(volatile uint64_t *)w;
	}
	return sum;
}

static double bare_lz4_ms_per_mib(const struct bm_corpus *c)
{
	char *out = malloc((size_t)LZ4_COMPRESSBOUND(BM_PAGE));
	double t0 = bm_cpu_now();
	size_t n = 0;

	/* A thousand pages are plenty for a per-MiB figure. */
	for (; out && n < c->npages && n < 1024; n++)
		LZ4_compress_default((const char *)c->pages + n * BM_PAGE, out, BM_PAGE,
				     LZ4_COMPRESSBOUND(BM_PAGE));
	t0 = bm_cpu_now() - t0;
	free(out);
	return n ? t0 * 1e3 / ((double)n * BM_PAGE / (1024.0 * 1024.0)) : 0;
}

static int zipf_setup(const struct zipf_variant *v, int nthreads)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	double *cdf, sum = 0;
	uint32_t *perm;
	uint64_t seed = 42;

	memset(&zr, 0, sizeof(zr));
	zr.budget = bm_quick() ? 512 : 4096;
	zr.pages = OVERCOMMIT * zr.budget;
	zr.nacc = bm_quick() ? 20000 : 400000;
	zr.nwarm = zr.nacc / 4;
	if (!c)
		return snprintf(zr.why, sizeof(zr.why), "no corpus"), -1;
	zr.ctx = memory_ctx(2 * zr.pages);
	if (!zr.ctx)
		return snprintf(zr.why, sizeof(zr.why), "no swap area"), -1;
	zr.r = make_region(zr.ctx, zr.pages, zr.budget, 0, zr.why, sizeof(zr.why));
	if (!zr.r)
		return -1;
	zr.base = swap_region_addr(zr.r);
	zr.plain = bm_alloc(zr.pages * BM_PAGE);
	zr.vec = malloc(zr.pages);
	fill_from_corpus(zr.plain, zr.pages, c);
	fill_from_corpus(zr.base, zr.pages, c);
	cdf = malloc(sizeof(double) * zr.pages);
	perm = malloc(sizeof(uint32_t) * zr.pages);
	for (size_t k = 0; k < zr.pages; k++) {
		sum += pow((double)(k + 1), -ZIPF_S);
		cdf[k] = sum;
		perm[k] = (uint32_t)k;
	}
	for (size_t k = 0; k < zr.pages; k++)
		cdf[k] /= sum;
	bm_shuffle(perm, zr.pages, &seed);
	for (int t = 0; t < nthreads; t++) {
		zr.seq[t] = malloc(sizeof(uint32_t) * (zr.nwarm + zr.nacc));
		zipf_sequence(zr.seq[t], zr.nwarm + zr.nacc, zr.pages, v->write_pct, cdf, perm,
			      1000 + (uint64_t)t);
	}
	free(cdf);
	free(perm);
	return 0;
}

static void zipf_report(struct bm_state *s, int nthreads, const struct swap_region_stats *a,
			const struct swap_region_stats *b)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	double acc = (double)zr.nacc * nthreads, secs = 0, psecs = 0;
	double faults =
	    (double)(b->faults.major + b->faults.minor - a->faults.major - a->faults.minor);
	double major = (double)(b->faults.major - a->faults.major);
	double reclaimed = (double)(b->reclaimed_pages - a->reclaimed_pages);
	double lru = lru_misses(zr.pages, zr.budget, zr.seq, nthreads, zr.nwarm, zr.nacc);

	for (int t = 0; t < nthreads; t++) {
		if (zr.region_secs[t] > secs)
			secs = zr.region_secs[t];
		if (zr.plain_secs[t] > psecs)
			psecs = zr.plain_secs[t];
	}
	bm_counter(s, "acc_per_s", acc / secs, 0);
	bm_counter(s, "plain_acc_per_s", acc / psecs, 0);
	bm_counter(s, "vs_plain", psecs / secs, 0);
	bm_counter(s, "fault_share", faults / acc, 0);
	bm_counter(s, "major_share", major / acc, 0);
	bm_counter(s, "lru_miss_share", lru / acc, 0);
	bm_counter(s, "faults_vs_lru", lru > 0 ? faults / lru : 0, 0);
	bm_counter(s, "major_vs_lru", lru > 0 ? major / lru : 0, 0);
	bm_counter(s, "rss_max_ratio", zr.rss_max, 0);
	bm_counter(s, "rss_samples", zr.rss_samples, 0);
	bm_counter(s, "proc_rss_drift", zr.drift_max, 0);
	bm_counter(s, "reclaim_ms_per_MiB",
		   reclaimed > 0 ? (double)(b->reclaim_cpu_ns - a->reclaim_cpu_ns) / 1e6 /
				       (reclaimed * BM_PAGE / (1024.0 * 1024.0))
				 : 0,
		   0);
	bm_counter(s, "bare_lz4_ms_per_MiB", bare_lz4_ms_per_mib(c), 0);
	bm_counter(s, "clean_share",
		   reclaimed > 0 ? (double)(b->clean_reclaims - a->clean_reclaims) / reclaimed : 0,
		   0);
	bm_counter(s, "refault_share", major > 0 ? (double)(b->refaults - a->refaults) / major : 0,
		   0);
	bm_counter(s, "direct_share",
		   faults > 0 ? (double)(b->direct_reclaims - a->direct_reclaims) / faults : 0, 0);
	bm_label(s, zr.named ? "region RAM from /proc/self/smaps"
			     : "region RAM: mincore of the region + the swap cache's pages");
}

static void zipf_teardown(int nthreads)
{
	if (zr.r)
		swap_region_destroy(zr.r);
	if (zr.ctx)
		swap_ctx_destroy(zr.ctx);
	free(zr.plain);
	free(zr.vec);
	for (int t = 0; t < nthreads; t++)
		free(zr.seq[t]);
}

/* Keeps the reads of run_accesses() from being optimised away. */
static volatile uint64_t zipf_sink;

static void bm_region_zipf(struct bm_state *s)
{
	const struct zipf_variant *v = bm_user(s);
	int t = bm_thread_index(s), n = bm_nthreads(s);
	struct swap_region_stats a, b;
	uint64_t sink = 0;

	if (t == 0)
		zipf_setup(v, n);
	bm_sync(s);
	if (zr.why[0]) {
		bm_skip(s, zr.why);
		bm_sync(s);
		if (t == 0)
			zipf_teardown(n);
		return;
	}
	while (bm_keep_running(s)) {
		double t0;

		/* plain memory first, the same sequence */
		bm_sync(s);
		t0 = bm_now();
		sink += run_accesses(zr.plain, zr.seq[t], zr.nwarm, zr.nwarm + zr.nacc);
		zr.plain_secs[t] = bm_now() - t0;
		/* the region: warm up, then measure */
		sink += run_accesses(zr.base, zr.seq[t], 0, zr.nwarm);
		bm_sync(s);
		if (t == 0) {
			swap_region_stats(zr.r, &a);
			atomic_store(&zr.sampling, true);
			pthread_create(&zr.sampler, NULL, rss_sampler, NULL);
		}
		bm_sync(s);
		t0 = bm_now();
		sink += run_accesses(zr.base, zr.seq[t], zr.nwarm, zr.nwarm + zr.nacc);
		zr.region_secs[t] = bm_now() - t0;
		bm_sync(s);
		if (t == 0) {
			atomic_store(&zr.sampling, false);
			pthread_join(zr.sampler, NULL);
			swap_region_stats(zr.r, &b);
		}
		bm_set_iteration_time(s, zr.region_secs[t]);
	}
	bm_sync(s);
	if (t == 0) {
		zipf_report(s, n, &a, &b);
		zipf_teardown(n);
	}
	zipf_sink += sink;
}

static void cfg_zipf(struct bm_bench *b)
{
	bm_fixed_iterations(b, 1);
	bm_manual_time(b);
	bm_unit(b, BM_MS);
}

static void cfg_zipf_rw(struct bm_bench *b)
{
	cfg_zipf(b);
	bm_threads(b, 1);
	bm_threads(b, 2);
}

static void cfg_zipf_read(struct bm_bench *b)
{
	cfg_zipf(b);
	bm_threads(b, 1);
}

static const struct zipf_variant zipf_variants[] = {
    {"rw", 20, cfg_zipf_rw},
    {"read", 5, cfg_zipf_read},
};

BM_INIT(register_zipf);
static void register_zipf(void)
{
	char name[64];

	for (size_t i = 0; i < sizeof(zipf_variants) / sizeof(zipf_variants[0]); i++) {
		snprintf(name, sizeof(name), "region_zipf/%s", zipf_variants[i].name);
		bm_register(name, bm_region_zipf, zipf_variants[i].config, &zipf_variants[i]);
	}
}
