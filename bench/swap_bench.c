/*
 * swap_bench: the figures of libswap's issue, measured in one run.
 *
 *   swap_out_vs_lz4   swap_out() into an lz4 memory area, pages/s, over bare
 *                     LZ4_compress_default() on the same pages (one thread)      target >= 0.85
 *                     The area was emptied by the previous run, so its pool faults all its
 *                     memory in again (the pool gives emptied memory back to the OS).
 *   swap_out_steady   the same in a steady state: the area holds half the pages and the
 *                     oldest entries are freed (untimed) as new ones go in       target >= 0.85
 *   swap_in_vs_lz4    swap_in() of those entries over bare LZ4_decompress_safe()
 *                     of the bare outputs (one thread)                           target >= 0.8
 *   threads2_vs_1     swap_out + swap_in of all pages with 2 threads (half each, one area) over
 *                     1 thread, pages/s                                          target >= 1.6
 *
 * Each run measures the bare and the libswap side back to back on the same pages; a figure is
 * the median of the per-run ratios.  Output lines starting with FIGURE are machine-readable.
 *
 * usage: swap_bench [CORPUS] [--runs N] [--pages N]
 *   CORPUS: a file of 4 KiB pages (bench/make-corpus.py); without one, pages are made here
 *   (text-like, binary-like, zero, repeated-word and random pages in the corpus's proportions).
 */
#include <errno.h>
#include <lz4.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zs/swap.h>

#define PAGE SWAP_PAGE_SIZE

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double *s = malloc(sizeof(*s) * (size_t)n), m;
	memcpy(s, v, sizeof(*s) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Pages in make-corpus.py's "mixed" proportions, when no corpus file is given. */
static void synth_pages(char *buf, long n)
{
	static const char *words[] = {"the ",	 "swap ", "page ", "cluster ", "int ",	"return ",
				      "struct ", "{\n",	  "}\n",   "static ",  "void ", "memory "};
	for (long i = 0; i < n; i++) {
		char *p = buf + i * PAGE;
		unsigned kind = (unsigned)(rnd() % 100);
		if (kind < 10) {
			memset(p, 0, PAGE);
		} else if (kind < 15) {
			uint64_t w = rnd();
			for (int j = 0; j < PAGE / 8; j++)
				memcpy(p + 8 * j, &w, 8);
		} else if (kind < 25) {
			for (int j = 0; j < PAGE / 8; j++) {
				uint64_t w = rnd();
				memcpy(p + 8 * j, &w, 8);
			}
		} else if (kind < 50) {
			int at = 0;
			while (at < PAGE) {
				const char *w = words[rnd() % 12];
				int l = (int)strlen(w);
				if (at + l > PAGE)
					l = PAGE - at;
				memcpy(p + at, w, (size_t)l);
				at += l;
			}
		} else {
			for (int j = 0; j < PAGE; j++)
				p[j] = (char)((rnd() % 4) ? (rnd() % 16) : rnd());
		}
	}
}

static char *load_corpus(const char *path, long *n, long max)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long sz;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	*n = sz / PAGE;
	if (max && *n > max)
		*n = max;
	buf = malloc((size_t)*n * PAGE);
	if (!buf || fread(buf, PAGE, (size_t)*n, f) != (size_t)*n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	return buf;
}

static struct swap_ctx *memory_ctx(long n)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = (uint64_t)n + 4 * SWAPFILE_CLUSTER};
	if (!ctx || swap_on(ctx, &o) < 0) {
		fprintf(stderr, "swap_bench: cannot create a memory area\n");
		exit(1);
	}
	return ctx;
}

struct thr {
	struct swap_ctx *ctx;
	const char *pages;
	long first, n;
	int cpu;
	swp_entry_t *e;
	pthread_barrier_t *bar;
	long bad;
};

static void *worker(void *arg)
{
	struct thr *t = arg;
	char page[PAGE];

	if (t->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(t->cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	pthread_barrier_wait(t->bar);
	for (long i = 0; i < t->n; i++) {
		t->e[i] = swap_out(t->ctx, t->pages + (t->first + i) * PAGE);
		if (!t->e[i].val)
			t->bad++;
	}
	for (long i = 0; i < t->n; i++) {
		if (swap_in(t->ctx, t->e[i], page))
			t->bad++;
	}
	pthread_barrier_wait(t->bar);
	return NULL;
}

/* swap_out + swap_in of all pages split over @nt threads; pages per second. */
static double run_threads(const char *pages, long n, int nt, long *bad)
{
	struct swap_ctx *ctx = memory_ctx(n);
	pthread_barrier_t bar;
	pthread_t tid[8];
	struct thr t[8];
	double t0, t1;
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

	pthread_barrier_init(&bar, NULL, (unsigned)nt + 1);
	for (int i = 0; i < nt; i++) {
		t[i] = (struct thr){.ctx = ctx,
				    .pages = pages,
				    .first = n * i / nt,
				    .n = n * (i + 1) / nt - n * i / nt,
				    .cpu = ncpu >= nt ? i : -1,
				    .bar = &bar};
		t[i].e = malloc(sizeof(swp_entry_t) * (size_t)t[i].n);
		pthread_create(&tid[i], NULL, worker, &t[i]);
	}
	pthread_barrier_wait(&bar);
	t0 = now();
	pthread_barrier_wait(&bar);
	t1 = now();
	for (int i = 0; i < nt; i++) {
		pthread_join(tid[i], NULL);
		*bad += t[i].bad;
		free(t[i].e);
	}
	pthread_barrier_destroy(&bar);
	swap_ctx_destroy(ctx);
	return (double)(2 * n) / (t1 - t0);
}

/*
 * Steady state, as a swap device in use sees it: an lz4 memory area holding half the pages;
 * each of n further swap_outs (cycling through the corpus) goes in while the oldest entries
 * are freed, 256 at a time.  Only the swap_out calls are timed.  Returns pages per second.
 */
static double run_steady(const char *pages, long n, long *bad)
{
	const long half = n / 2, batch = 256;
	struct swap_ctx *ctx = memory_ctx(n);
	swp_entry_t *ring = malloc(sizeof(*ring) * (size_t)half);
	double timed = 0;
	long next = 0;

	for (long k = 0; k < half; k++, next++)
		ring[k] = swap_out(ctx, pages + (next % n) * PAGE);
	for (long done = 0; done < n; done += batch) {
		long b0 = next % half;
		for (long b = 0; b < batch; b++)
			if (swap_free(ctx, ring[(b0 + b) % half]))
				(*bad)++;
		double t0 = now();
		for (long b = 0; b < batch; b++, next++)
			ring[(b0 + b) % half] = swap_out(ctx, pages + (next % n) * PAGE);
		timed += now() - t0;
	}
	for (long k = 0; k < half; k++)
		if (!ring[k].val)
			(*bad)++;
	free(ring);
	swap_ctx_destroy(ctx);
	return (double)(n - n % batch + (n % batch ? batch : 0)) / timed;
}

int main(int argc, char **argv)
{
	const char *path = NULL, *corpus_name;
	int runs = 7;
	long max_pages = 0, n = 0, bad = 0;
	char *pages, *cbuf, *dst;
	int *clen;
	swp_entry_t *e;
	double *r_out, *r_in, *r_thr, *lz4c, *lz4d, *so, *si_, *t1s, *t2s, *st_, *r_st;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			max_pages = atol(argv[++i]);
		else
			path = argv[i];
	}
	if (runs < 1)
		runs = 1;
	pages = path ? load_corpus(path, &n, max_pages) : NULL;
	if (!pages) {
		if (path)
			fprintf(stderr, "swap_bench: cannot read %s; using generated pages\n",
				path);
		n = max_pages ? max_pages : 16384;
		pages = malloc((size_t)n * PAGE);
		synth_pages(pages, n);
		path = "(generated)";
	}
	corpus_name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	printf("swap_bench: %ld pages from %s, %d runs\n", n, path, runs);

	cbuf = malloc((size_t)n * LZ4_COMPRESSBOUND(PAGE));
	clen = malloc(sizeof(int) * (size_t)n);
	dst = malloc(PAGE);
	e = malloc(sizeof(*e) * (size_t)n);
	r_out = calloc((size_t)runs, sizeof(double));
	r_in = calloc((size_t)runs, sizeof(double));
	r_thr = calloc((size_t)runs, sizeof(double));
	lz4c = calloc((size_t)runs, sizeof(double));
	lz4d = calloc((size_t)runs, sizeof(double));
	so = calloc((size_t)runs, sizeof(double));
	si_ = calloc((size_t)runs, sizeof(double));
	t1s = calloc((size_t)runs, sizeof(double));
	t2s = calloc((size_t)runs, sizeof(double));
	st_ = calloc((size_t)runs, sizeof(double));
	r_st = calloc((size_t)runs, sizeof(double));

	/* One long-lived memory area for the single-thread figures, as a program would keep. */
	struct swap_ctx *ctx = memory_ctx(n);
	double faults = 0;
	for (int r = 0; r < runs; r++) {
		struct swap_area_stats st;
		long f0, comp_total = 0;
		double t0;

		/* bare lz4 compress, then swap_out, on the same pages */
		t0 = now();
		for (long i = 0; i < n; i++) {
			clen[i] = LZ4_compress_default(pages + i * PAGE,
						       cbuf + i * LZ4_COMPRESSBOUND(PAGE), PAGE,
						       LZ4_COMPRESSBOUND(PAGE));
			comp_total += clen[i];
		}
		lz4c[r] = (double)n / (now() - t0);
		f0 = minor_faults();
		t0 = now();
		for (long i = 0; i < n; i++)
			e[i] = swap_out(ctx, pages + i * PAGE);
		so[r] = (double)n / (now() - t0);
		faults += (double)(minor_faults() - f0) / (double)n;

		/* bare lz4 decompress, then swap_in */
		t0 = now();
		for (long i = 0; i < n; i++) {
			if (LZ4_decompress_safe(cbuf + i * LZ4_COMPRESSBOUND(PAGE), dst, clen[i],
						PAGE) != PAGE)
				bad++;
		}
		lz4d[r] = (double)n / (now() - t0);
		t0 = now();
		for (long i = 0; i < n; i++) {
			if (swap_in(ctx, e[i], dst))
				bad++;
		}
		si_[r] = (double)n / (now() - t0);

		/* untimed: every page must come back exactly */
		for (long i = 0; i < n; i++) {
			if (!e[i].val || swap_in(ctx, e[i], dst) ||
			    memcmp(dst, pages + i * PAGE, PAGE))
				bad++;
		}
		swap_area_stats(ctx, 0, &st);
		if (r == 0)
			printf("memory area: orig %llu compr %llu mem_used %llu (ratio %.2f vs "
			       "bare lz4 "
			       "%.2f), same %llu huge %llu\n",
			       (unsigned long long)st.orig_data_size,
			       (unsigned long long)st.compr_data_size,
			       (unsigned long long)st.mem_used_total,
			       (double)st.orig_data_size / (double)st.mem_used_total,
			       (double)n * PAGE / (double)comp_total,
			       (unsigned long long)st.same_pages,
			       (unsigned long long)st.huge_pages);
		for (long i = 0; i < n; i++)
			swap_free(ctx, e[i]);

		st_[r] = run_steady(pages, n, &bad);
		r_st[r] = st_[r] / lz4c[r];
		t1s[r] = run_threads(pages, n, 1, &bad);
		t2s[r] = run_threads(pages, n, 2, &bad);

		r_out[r] = so[r] / lz4c[r];
		r_in[r] = si_[r] / lz4d[r];
		r_thr[r] = t2s[r] / t1s[r];
		printf(
		    "run %d: lz4_compress %.0f p/s, swap_out %.0f p/s (%.3f); lz4_decompress %.0f "
		    "p/s, swap_in %.0f p/s (%.3f); steady swap_out %.0f p/s (%.3f); 1 thread %.0f "
		    "p/s, 2 threads %.0f p/s (%.3f)\n",
		    r, lz4c[r], so[r], r_out[r], lz4d[r], si_[r], r_in[r], st_[r], r_st[r], t1s[r],
		    t2s[r], r_thr[r]);
		fflush(stdout);
	}

	swap_ctx_destroy(ctx);
	printf("swap_out took %.2f minor page faults per page (pool memory made resident)\n",
	       faults / runs);
	printf("median: lz4_compress %.0f p/s, swap_out %.0f p/s, lz4_decompress %.0f p/s, swap_in "
	       "%.0f p/s, 1 thread %.0f p/s, 2 threads %.0f p/s\n",
	       median(lz4c, runs), median(so, runs), median(lz4d, runs), median(si_, runs),
	       median(t1s, runs), median(t2s, runs));
	const struct {
		const char *name;
		double *v;
		double target;
	} figs[] = {{"swap_out_vs_lz4", r_out, 0.85},
		    {"swap_out_steady_vs_lz4", r_st, 0.85},
		    {"swap_in_vs_lz4", r_in, 0.8},
		    {"threads2_vs_1", r_thr, 1.6}};
	for (int f = 0; f < 4; f++) {
		double m = median(figs[f].v, runs);
		printf("FIGURE %s median=%.3f runs=", figs[f].name, m);
		for (int r = 0; r < runs; r++)
			printf("%s%.3f", r ? "," : "", figs[f].v[r]);
		printf(" target=%.2f %s corpus=%s\n", figs[f].target,
		       m >= figs[f].target ? "ok" : "MISSED", corpus_name);
	}
	printf("verify: %s (%ld bad)\n", bad ? "FAILED" : "all pages intact", bad);
	free(pages);
	free(cbuf);
	free(clen);
	free(dst);
	free(e);
	free(r_out);
	free(r_in);
	free(st_);
	free(r_st);
	free(r_thr);
	free(lz4c);
	free(lz4d);
	free(so);
	free(si_);
	free(t1s);
	free(t2s);
	return bad ? 1 : 0;
}
