/*
 * Statistics and memory.
 *  - Counters: objs_used and bytes_used exact, pages_used == zs_get_total_pages(),
 *    pages_peak is the highest pages_used ever seen and survives frees, meta_bytes counts
 *    the metadata of live objects, per-class counters add up to the pool's.
 *  - The statistics agree with the process RSS (/proc/self/statm): ~64 MiB of objects make
 *    RSS grow by pages_used * 4096 + meta_bytes (within 5% + 2 MiB); after freeing 3/4 and
 *    again after compacting, RSS really drops and still agrees.
 *  - zs_dump_classes(): kernel debugfs layout, header names, one line per physical class,
 *    a Total line; every number matches zs_class_stats().
 *  - zs_destroy_pool() with live objects gives their memory back; create/destroy cycles
 *    leak neither RSS, address space nor mappings; zs_destroy_pool(NULL) is harmless.
 *  - Address space in proportion to use: under RLIMIT_AS with 256 MiB of headroom a pool
 *    stores, churns and compacts tens of MiB beside 32 small pools, and a pool's address
 *    space does not creep up while it churns a bounded live set.
 *  - Resident runs: a pool that frees and allocates as fast (a swap device's steady state)
 *    reuses the pages of emptied zspages without faulting new ones in, counts them in
 *    pages_cached and pages_used, keeps none once empty, and zs_compact gives them all back
 *    and says so in its return value.
 */
#include <ctype.h>
#include <errno.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

#define SEED 0x57a75

static long absdiff(size_t a, size_t b)
{
	return a > b ? (long)(a - b) : (long)(b - a);
}

/* RSS growth must match what the pool says it holds within 5% + 2 MiB. */
static void assert_rss_matches(size_t rss0, size_t rss, const struct zs_pool_stats *st,
			       const char *when)
{
	size_t expect = st->pages_used * ZT_PAGE + st->meta_bytes;
	size_t growth = rss > rss0 ? rss - rss0 : 0;
	size_t tol = expect / 20 + 2 * ZT_MIB;

	cr_log_info("%s: RSS grew %zu KiB; pool holds %lu pages + %lu KiB metadata = %zu KiB", when,
		    growth >> 10, st->pages_used, st->meta_bytes >> 10, expect >> 10);
	cr_assert_leq(absdiff(growth, expect), (long)tol,
		      "%s: RSS grew by %zu KiB but the pool reports %lu pages + %lu bytes of "
		      "metadata (%zu KiB); tolerance %zu KiB",
		      when, growth >> 10, st->pages_used, st->meta_bytes, expect >> 10, tol >> 10);
}

Test(stats, rss_matches_statistics, .timeout = 60)
{
	enum { NMAX = 120000 };
	const unsigned long target = 64 * ZT_MIB;
	struct obj {
		unsigned long h;
		size_t size;
	} * o;
	size_t *idx, n = 0, i, rss0, rss1, rss2, rss3;
	unsigned long bytes = 0, live, freed;
	struct zs_pool_stats st1, st2, st3;
	struct zs_pool *pool;
	struct zt_rng r;

	if (ZT_TSAN)
		cr_skip_test("ThreadSanitizer's shadow of the pool's pages counts in RSS");
	/* all of the test's own memory is resident before the baseline */
	o = malloc(NMAX * sizeof(*o));
	idx = malloc(NMAX * sizeof(*idx));
	cr_assert(o && idx);
	memset(o, 0, NMAX * sizeof(*o));
	memset(idx, 0, NMAX * sizeof(*idx));
	zt_rng_seed(&r, 64);
	pool = zs_create_pool("rss");
	cr_assert_not_null(pool);
	rss0 = zt_rss_bytes();
	cr_assert_gt(rss0, 0, "cannot read /proc/self/statm");

	while (bytes < target) {
		cr_assert_lt(n, NMAX);
		o[n].size = zt_rand_size(&r);
		o[n].h = zt_alloc_stamped(pool, o[n].size, SEED);
		cr_assert_neq(o[n].h, 0);
		bytes += o[n].size;
		n++;
	}
	rss1 = zt_rss_bytes();
	cr_assert_gt(rss1, rss0);
	zs_pool_stats(pool, &st1);
	zt_assert_pool_consistent(pool, n, bytes);
	cr_assert_geq(st1.pages_used * ZT_PAGE, bytes);
	cr_assert_geq(bytes, st1.pages_used * ZT_PAGE * 85 / 100,
		      "%lu bytes of objects take %lu pages: under 85%% used", bytes,
		      st1.pages_used);
	cr_assert_gt(st1.meta_bytes, 0, "%zu live objects but no metadata counted", n);
	assert_rss_matches(rss0, rss1, &st1, "after allocating");

	/* free 3/4 at random: pages no object needs go back at once */
	for (i = 0; i < n; i++)
		idx[i] = i;
	zt_shuffle(&r, idx, n);
	for (i = 0; i < n * 3 / 4; i++) {
		cr_assert_eq(zs_free(pool, o[idx[i]].h), 0);
		bytes -= o[idx[i]].size;
		o[idx[i]].h = 0;
	}
	live = n - n * 3 / 4;
	rss2 = zt_rss_bytes();
	zs_pool_stats(pool, &st2);
	zt_assert_pool_consistent(pool, live, bytes);
	cr_assert_lt(st2.pages_used, st1.pages_used);
	cr_assert_eq(st2.pages_peak, st1.pages_peak);
	assert_rss_matches(rss0, rss2, &st2, "after freeing 3/4");

	freed = zs_compact(pool);
	rss3 = zt_rss_bytes();
	zs_pool_stats(pool, &st3);
	zt_assert_pool_consistent(pool, live, bytes);
	cr_assert_gt(freed, 0);
	cr_assert_eq(st3.pages_compacted, freed);
	cr_assert_lt(st3.pages_used, st2.pages_used);
	cr_assert_lt(rss3, rss2, "compaction freed %lu pages but RSS did not drop (%zu -> %zu KiB)",
		     freed, rss2 >> 10, rss3 >> 10);
	cr_assert_leq(rss3 > rss0 ? rss3 - rss0 : 0, (rss1 - rss0) / 2,
		      "a quarter of the objects left, RSS growth still %zu of %zu KiB",
		      (rss3 > rss0 ? rss3 - rss0 : 0) >> 10, (rss1 - rss0) >> 10);
	assert_rss_matches(rss0, rss3, &st3, "after compaction");

	for (i = 0; i < n; i++) {
		if (!o[i].h)
			continue;
		cr_assert_eq(zt_check_handle(pool, o[i].h, o[i].size, SEED), -1);
		cr_assert_eq(zs_free(pool, o[i].h), 0);
	}
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
	free(o);
	free(idx);
}

Test(stats, counters_and_peak)
{
	enum { N = 20000 };
	struct zs_pool *pool = zs_create_pool("peak");
	static unsigned long h[N];
	static size_t size[N];
	struct zs_pool_stats st, st0;
	unsigned long maxpages = 0, bytes = 0;
	struct zt_rng r;
	size_t i;

	zs_pool_stats(pool, &st0);
	zt_rng_seed(&r, 7);
	for (i = 0; i < N; i++) {
		size[i] = zt_rand_size(&r);
		h[i] = zt_alloc_stamped(pool, size[i], SEED);
		cr_assert_neq(h[i], 0);
		bytes += size[i];
		zs_pool_stats(pool, &st);
		cr_assert_eq(st.objs_used, i + 1);
		cr_assert_eq(st.bytes_used, bytes);
		cr_assert_eq(st.pages_used, zs_get_total_pages(pool));
		cr_assert_geq(st.pages_used, maxpages, "pages_used shrank while only allocating");
		maxpages = st.pages_used;
		cr_assert_eq(st.pages_peak, maxpages, "pages_peak %lu, pages_used %lu",
			     st.pages_peak, st.pages_used);
		cr_assert_geq(st.objs_allocated, st.objs_used);
	}
	cr_assert_gt(st.meta_bytes, st0.meta_bytes, "metadata did not grow with %d objects", N);
	zt_assert_pool_consistent(pool, N, bytes);

	/* free everything: peak stays, everything else goes to zero */
	for (i = 0; i < N; i++) {
		cr_assert_eq(zs_free(pool, h[i]), 0);
		bytes -= size[i];
		if (i % 1000 == 0) {
			zs_pool_stats(pool, &st);
			cr_assert_eq(st.objs_used, N - i - 1);
			cr_assert_eq(st.bytes_used, bytes);
			cr_assert_eq(st.pages_peak, maxpages);
		}
	}
	zs_pool_stats(pool, &st);
	cr_assert_eq(st.objs_used, 0);
	cr_assert_eq(st.bytes_used, 0);
	cr_assert_eq(st.pages_used, 0, "no objects, %lu pages held", st.pages_used);
	cr_assert_eq(zs_get_total_pages(pool), 0);
	cr_assert_eq(st.pages_peak, maxpages);
	zt_assert_pool_consistent(pool, 0, 0);

	/* a smaller second round leaves the peak alone */
	for (i = 0; i < N / 4; i++) {
		h[i] = zt_alloc_stamped(pool, size[i], SEED);
		cr_assert_neq(h[i], 0);
	}
	zs_pool_stats(pool, &st);
	cr_assert_eq(st.pages_peak, maxpages);
	cr_assert_lt(st.pages_used, maxpages);
	for (i = 0; i < N / 4; i++)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	zs_destroy_pool(pool);
}

/* ---- address space ---- */

/*
 * A pool reserves address space in proportion to what it holds (tables that grow in chunks,
 * arenas that double), so it works inside an address-space limit a little above what the
 * process uses: a big pool fills, churns a live set of random sizes (which must not creep into
 * new address space) and compacts, while 32 small pools each hold a few objects.
 */
Test(stats, pools_work_under_address_space_limit, .timeout = 120)
{
	enum { FILL = 12000, SMALL = 32, CHURN = 200000 };
	static unsigned long h[FILL];
	static size_t size[FILL];
	struct zs_pool *small[SMALL];
	unsigned long sh[SMALL][16];
	struct zt_rng r;

	if (ZT_ASAN || ZT_TSAN)
		cr_skip_test("the sanitizers map their shadow and allocator memory on demand, "
			     "which no fixed address-space limit allows for");
	size_t vm0 = zt_vm_bytes();
	cr_assert_gt(vm0, 0, "cannot read /proc/self/statm");
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_AS, &rl), 0);
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > vm0 + 256 * ZT_MIB)
		rl.rlim_cur = vm0 + 256 * ZT_MIB; /* this test's process only (Criterion forks) */
	cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0, "setrlimit: %s", strerror(errno));

	struct zs_pool *pool = zs_create_pool("limited");
	cr_assert_not_null(pool, "zs_create_pool under a 256 MiB headroom: %s", strerror(errno));
	size_t vm_small = zt_vm_bytes();
	for (int p = 0; p < SMALL; p++) {
		small[p] = zs_create_pool("small");
		cr_assert_not_null(small[p], "small pool %d: %s", p, strerror(errno));
		for (int i = 0; i < 16; i++) {
			sh[p][i] = zt_alloc_stamped(small[p], 100 + 200 * (size_t)i, SEED);
			cr_assert_neq(sh[p][i], 0, "small pool %d object %d: %s", p, i,
				      strerror(errno));
		}
	}
	/* A pool of 16 objects reserves its first arena (1 MiB) and a chunk of each table. */
	vm_small = (zt_vm_bytes() - vm_small) / SMALL;
	cr_assert_leq(vm_small, 2 * ZT_MIB, "a pool of 16 objects takes %zu KiB of address space",
		      vm_small >> 10);
	zt_rng_seed(&r, 99);
	for (size_t i = 0; i < FILL; i++) {
		size[i] = zt_rand_size(&r);
		h[i] = zt_alloc_stamped(pool, size[i], SEED);
		cr_assert_neq(h[i], 0, "object %zu: %s", i, strerror(errno));
	}
	for (size_t i = 0; i < FILL; i++) {
		if (i % 4) {
			cr_assert_eq(zs_free(pool, h[i]), 0);
			h[i] = 0;
		}
	}
	zs_compact(pool);
	size_t vm1 = zt_vm_bytes();
	for (size_t k = 0; k < CHURN; k++) {
		size_t i = zt_below(&r, FILL);

		if (h[i]) {
			cr_assert_eq(zs_free(pool, h[i]), 0);
			h[i] = 0;
		} else {
			size[i] = zt_rand_size(&r);
			h[i] = zt_alloc_stamped(pool, size[i], SEED);
			cr_assert_neq(h[i], 0, "churn step %zu: %s", k, strerror(errno));
		}
		if (k % 50000 == 0)
			zs_compact(pool);
	}
	size_t vm2 = zt_vm_bytes();
	cr_log_info("address space: %zu MiB at the start, %zu after the fill, %zu after the churn",
		    vm0 >> 20, vm1 >> 20, vm2 >> 20);
	/* The churn holds no more than the fill did: it reuses the address space it has (one more
	 * arena at most, as the live set wanders). */
	cr_assert_leq(vm2, vm1 + 32 * ZT_MIB,
		      "the churn grew the address space from %zu to %zu MiB", vm1 >> 20, vm2 >> 20);
	for (size_t i = 0; i < FILL; i++) {
		if (h[i]) {
			cr_assert_eq(zt_check_handle(pool, h[i], size[i], SEED), -1);
			cr_assert_eq(zs_free(pool, h[i]), 0);
		}
	}
	for (int p = 0; p < SMALL; p++) {
		for (int i = 0; i < 16; i++)
			cr_assert_eq(
			    zt_check_handle(small[p], sh[p][i], 100 + 200 * (size_t)i, SEED), -1);
		zs_destroy_pool(small[p]);
	}
	cr_assert_eq(zs_get_total_pages(pool), 0);
	zs_destroy_pool(pool);
}

/* ---- resident runs ---- */

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * A ring of objects of one size: the oldest BATCH freed, then as many allocated, many times over:
 * the zspages that empty are made again at once, as a swap device in its steady state does.
 * Returns the pages the ring's objects turned over.
 */
#define BATCH 128
static unsigned long churn(struct zs_pool *pool, unsigned long *ring, size_t n, size_t size,
			   size_t rounds, size_t *at)
{
	for (size_t k = 0; k < rounds * n; k += BATCH) {
		for (size_t b = 0; b < BATCH; b++)
			cr_assert_eq(zs_free(pool, ring[(*at + b) % n]), 0);
		for (size_t b = 0; b < BATCH; b++) {
			unsigned long *h = &ring[(*at + b) % n];

			*h = zt_alloc_stamped(pool, size, SEED);
			cr_assert_neq(*h, 0);
		}
		*at = (*at + BATCH) % n;
	}
	return (unsigned long)(rounds * n * size / ZT_PAGE);
}

Test(stats, emptied_zspages_are_reused_resident, .timeout = 60)
{
	enum { N = 4096, SIZE = 1800 };
	static unsigned long ring[N];
	struct zs_pool *pool = zs_create_pool("resident");
	struct zs_pool_stats st, st2;
	size_t at = 0;

	cr_assert_not_null(pool);
	for (size_t i = 0; i < N; i++) {
		ring[i] = zt_alloc_stamped(pool, SIZE, SEED);
		cr_assert_neq(ring[i], 0);
	}
	churn(pool, ring, N, SIZE, 1, &at); /* the steady state */
	long f0 = minor_faults();
	unsigned long turned = churn(pool, ring, N, SIZE, 4, &at);
	long faults = minor_faults() - f0;
	cr_log_info("%lu pages turned over, %ld page faults", turned, faults);
	cr_assert_lt(faults, (long)turned / 50,
		     "%lu pages turned over, %ld pages faulted in: emptied zspages are not reused",
		     turned, faults);

	zs_pool_stats(pool, &st);
	cr_assert_leq(st.pages_cached, st.pages_used);
	zt_assert_pool_consistent(pool, N, (unsigned long)N * SIZE);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(zt_check_handle(pool, ring[i], SIZE, SEED), -1);

	/* zs_compact gives the resident runs back, and counts them */
	unsigned long freed = zs_compact(pool);
	zs_pool_stats(pool, &st2);
	cr_assert_eq(st2.pages_cached, 0, "%lu cached pages after zs_compact", st2.pages_cached);
	cr_assert_eq(st.pages_used - st2.pages_used, freed,
		     "pages_used dropped by %lu, zs_compact returned %lu",
		     st.pages_used - st2.pages_used, freed);

	/* an emptied pool keeps nothing */
	churn(pool, ring, N, SIZE, 1, &at);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(zs_free(pool, ring[i]), 0);
	zs_pool_stats(pool, &st);
	cr_assert_eq(st.pages_used, 0, "an empty pool holds %lu pages (%lu cached)", st.pages_used,
		     st.pages_cached);
	cr_assert_eq(st.pages_cached, 0);
	zs_destroy_pool(pool);
}

/* A burst of frees with no allocation keeps (almost) nothing back: what is kept follows what
 * new zspages took lately. */
Test(stats, frees_alone_keep_little_resident)
{
	enum { N = 20000, SIZE = 1800 };
	static unsigned long h[N];
	struct zs_pool *pool = zs_create_pool("burst");
	struct zs_pool_stats st;

	cr_assert_not_null(pool);
	for (size_t i = 0; i < N; i++) {
		h[i] = zt_alloc_stamped(pool, SIZE, SEED);
		cr_assert_neq(h[i], 0);
	}
	for (size_t i = 0; i < N * 3 / 4; i++)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	zs_pool_stats(pool, &st);
	cr_assert_leq(st.pages_cached * 100, st.pages_used,
		      "%lu of %lu pages kept cached after frees alone", st.pages_cached,
		      st.pages_used);
	zt_assert_pool_consistent(pool, N - N * 3 / 4, (unsigned long)(N - N * 3 / 4) * SIZE);
	for (size_t i = N * 3 / 4; i < N; i++)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	cr_assert_eq(zs_get_total_pages(pool), 0);
	zs_destroy_pool(pool);
}

/* ---- zs_dump_classes ---- */

#define MAXTOK 64

static int split(char *line, char **tok)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, " \t\n", &save); t && n < MAXTOK;
	     t = strtok_r(NULL, " \t\n", &save))
		tok[n++] = t;
	return n;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static unsigned long num(const char *s, const char *what)
{
	cr_assert(is_number(s), "%s: \"%s\" is not a number", what, s);
	return strtoul(s, NULL, 10);
}

static int col(char **hdr, int nhdr, const char *name)
{
	int i;

	for (i = 0; i < nhdr; i++)
		if (strcmp(hdr[i], name) == 0)
			return i;
	cr_assert_fail("dump header has no \"%s\" column", name);
	return -1;
}

static void check_dump(struct zs_pool *pool)
{
	/* clang-format off */
	static const char *const names[] = { "class", "size", "obj_allocated", "obj_used",
					     "pages_used", "pages_per_zspage", "freeable" };
	/* clang-format on */
	char *buf = NULL, *line, *save = NULL;
	char *hdr[MAXTOK], *tok[MAXTOK];
	int nhdr = 0, ntok, c[7], pct[MAXTOK], npct = 0, i, b;
	unsigned long tot[ZS_NR_RATIO_BUCKETS] = {0};
	unsigned long tot_alloc = 0, tot_used = 0, tot_pages = 0, tot_free = 0;
	unsigned int nth = 0, nr = zs_nr_classes(pool);
	bool seen_total = false;
	size_t len = 0;
	char *hdrline;
	FILE *f;

	f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cr_assert_eq(zs_dump_classes(pool, f), 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_gt(len, 0, "zs_dump_classes wrote nothing");

	line = strtok_r(buf, "\n", &save);
	cr_assert_not_null(line);
	hdrline = strdup(line);
	nhdr = split(hdrline, hdr);
	for (i = 0; i < 7; i++)
		c[i] = col(hdr, nhdr, names[i]);
	for (i = 0; i < nhdr; i++)
		if (hdr[i][strlen(hdr[i]) - 1] == '%')
			pct[npct++] = i;
	cr_assert_eq(npct, ZS_NR_RATIO_BUCKETS - 1, "%d ratio columns in the header, want %d", npct,
		     ZS_NR_RATIO_BUCKETS - 1);
	cr_assert_str_eq(hdr[pct[0]], "10%");
	cr_assert_str_eq(hdr[pct[npct - 1]], "100%");

	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		char copy[1024];
		struct zs_class_stats cs;

		snprintf(copy, sizeof(copy), "%s", line);
		ntok = split(line, tok);
		if (ntok == 0)
			continue;
		cr_assert(!seen_total, "line after the Total line: \"%s\"", copy);
		if (strcmp(tok[0], "Total") == 0) {
			/* Total, the ratio columns, obj_allocated, obj_used, pages_used, freeable
			 */
			seen_total = true;
			cr_assert_eq(ntok, 1 + npct + 4, "Total line has %d fields: \"%s\"", ntok,
				     copy);
			for (b = 0; b < npct; b++)
				cr_assert_eq(num(tok[1 + b], copy), tot[b + 1],
					     "Total of ratio column %s", hdr[pct[b]]);
			cr_assert_eq(num(tok[1 + npct], copy), tot_alloc, "Total obj_allocated");
			cr_assert_eq(num(tok[2 + npct], copy), tot_used, "Total obj_used");
			cr_assert_eq(num(tok[3 + npct], copy), tot_pages, "Total pages_used");
			cr_assert_eq(num(tok[4 + npct], copy), tot_free, "Total freeable");
			continue;
		}
		cr_assert_eq(ntok, nhdr, "class line has %d fields, header %d: \"%s\"", ntok, nhdr,
			     copy);
		cr_assert_lt(nth, nr, "more class lines than zs_nr_classes (%u)", nr);
		cr_assert_eq(zs_class_stats(pool, nth, &cs), 0);
		cr_assert_eq(num(tok[c[0]], copy), cs.index, "line %u: \"%s\"", nth, copy);
		cr_assert_eq(num(tok[c[1]], copy), cs.size, "line %u: \"%s\"", nth, copy);
		cr_assert_eq(num(tok[c[2]], copy), cs.obj_allocated, "line \"%s\"", copy);
		cr_assert_eq(num(tok[c[3]], copy), cs.obj_used, "line \"%s\"", copy);
		cr_assert_eq(num(tok[c[4]], copy), cs.pages_used, "line \"%s\"", copy);
		cr_assert_eq(num(tok[c[5]], copy), cs.pages_per_zspage, "line \"%s\"", copy);
		cr_assert_eq(num(tok[c[6]], copy), cs.freeable, "line \"%s\"", copy);
		for (b = 0; b < npct; b++) {
			cr_assert_eq(num(tok[pct[b]], copy), cs.zspages[b + 1],
				     "class %u column %s: \"%s\" but zs_class_stats says %lu",
				     cs.index, hdr[pct[b]], tok[pct[b]], cs.zspages[b + 1]);
			tot[b + 1] += cs.zspages[b + 1];
		}
		tot_alloc += cs.obj_allocated;
		tot_used += cs.obj_used;
		tot_pages += cs.pages_used;
		tot_free += cs.freeable;
		nth++;
	}
	cr_assert_eq(nth, nr, "%u class lines, zs_nr_classes says %u", nth, nr);
	cr_assert(seen_total, "no Total line");
	free(hdrline);
	free(buf);
}

Test(stats, dump_classes_matches_class_stats)
{
	enum { N = 8000 };
	struct zs_pool *pool = zs_create_pool("dump");
	static unsigned long h[N];
	struct zt_rng r;
	size_t i;

	check_dump(pool); /* empty */
	zt_rng_seed(&r, 8);
	for (i = 0; i < N; i++) {
		h[i] = zt_alloc_stamped(pool, zt_rand_size(&r), SEED);
		cr_assert_neq(h[i], 0);
	}
	check_dump(pool);
	/* spread zspages over the ratio buckets */
	for (i = 0; i < N; i++) {
		if (zt_below(&r, 100) < (i % 100)) {
			cr_assert_eq(zs_free(pool, h[i]), 0);
			h[i] = 0;
		}
	}
	check_dump(pool);
	cr_assert_gt(zt_total_freeable(pool), 0);
	for (i = 0; i < N; i++)
		if (h[i])
			cr_assert_eq(zs_free(pool, h[i]), 0);
	zs_destroy_pool(pool);
}

Test(stats, dump_classes_no_pack_16_pages)
{
	struct zs_pool *pool = zt_pool(16, ZS_POOL_NO_PACK, 0);
	unsigned long h[3000];
	struct zt_rng r;
	size_t i;

	zt_rng_seed(&r, 9);
	for (i = 0; i < 3000; i++) {
		h[i] = zt_alloc_stamped(pool, zt_rand_size(&r), SEED);
		cr_assert_neq(h[i], 0);
	}
	for (i = 0; i < 3000; i += 3)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	check_dump(pool);
	zs_destroy_pool(pool);
}

/* ---- destruction ---- */

Test(stats, destroy_with_live_objects_returns_memory, .timeout = 60)
{
	struct zs_pool *pool;
	struct zt_rng r;
	unsigned long bytes = 0;
	size_t rss0, rss1, rss2, tol;

	zs_destroy_pool(NULL);
	zt_rng_seed(&r, 12);
	rss0 = zt_rss_bytes();
	pool = zs_create_pool("doomed");
	cr_assert_not_null(pool);
	while (bytes < 32 * ZT_MIB) {
		size_t size = zt_rand_size(&r);

		cr_assert_neq(zt_alloc_stamped(pool, size, SEED), 0);
		bytes += size;
	}
	rss1 = zt_rss_bytes();
	cr_assert_gt(rss1, rss0);
	cr_assert_geq(rss1 - rss0, 30 * ZT_MIB, "32 MiB of objects written, RSS grew %zu KiB",
		      (rss1 - rss0) >> 10);
	zs_destroy_pool(pool);
	rss2 = zt_rss_bytes();
	tol = 2 * ZT_MIB + (rss1 - rss0) / 20;
	cr_log_info("RSS %zu -> %zu -> %zu KiB", rss0 >> 10, rss1 >> 10, rss2 >> 10);
	cr_assert_leq(
	    rss2, rss0 + tol,
	    "after destroying a pool with 32 MiB of live objects RSS is %zu KiB above the start",
	    (rss2 - rss0) >> 10);
}

Test(stats, create_destroy_cycles_do_not_leak, .timeout = 60)
{
	enum { CYCLES = 60, OBJS = 3000 };
	size_t rss0 = 0, vm0 = 0, rss1, vm1;
	long maps0 = 0, maps1;
	struct zt_rng r;
	unsigned int c;

	if (ZT_ASAN || ZT_TSAN)
		cr_skip_test(
		    "the sanitizer's shadow and quarantine move RSS: it cannot show a leak");
	zt_rng_seed(&r, 13);
	for (c = 0; c <= CYCLES; c++) {
		struct zs_pool_opts o;
		struct zs_pool *pool;
		unsigned int i;

		memset(&o, 0, sizeof(o));
		o.max_pages_per_zspage = 1 + c % ZS_MAX_PAGES_PER_ZSPAGE;
		o.flags = c % 2 ? ZS_POOL_NO_PACK : 0;
		o.auto_compact_pages = c % 3 ? 0 : 4;
		pool = zs_create_pool_opts("cycle", &o);
		cr_assert_not_null(pool);
		for (i = 0; i < OBJS; i++) {
			unsigned long h = zt_alloc_stamped(pool, zt_rand_size(&r), SEED);

			cr_assert_neq(h, 0);
			if (zt_below(&r, 2))
				cr_assert_eq(zs_free(pool, h), 0);
		}
		zs_compact(pool);
		zs_destroy_pool(pool);
		if (c == 0) {
			/* after one warm-up cycle */
			rss0 = zt_rss_bytes();
			vm0 = zt_vm_bytes();
			maps0 = zt_nr_maps();
		}
	}
	rss1 = zt_rss_bytes();
	vm1 = zt_vm_bytes();
	maps1 = zt_nr_maps();
	cr_log_info("RSS %zu -> %zu KiB, VM %zu -> %zu KiB, maps %ld -> %ld", rss0 >> 10,
		    rss1 >> 10, vm0 >> 10, vm1 >> 10, maps0, maps1);
	cr_assert_leq(rss1, rss0 + 4 * ZT_MIB, "RSS grew %zu KiB over %d create/destroy cycles",
		      (rss1 - rss0) >> 10, CYCLES);
	cr_assert_leq(vm1, vm0 + 64 * ZT_MIB, "address space grew %zu KiB over %d cycles",
		      (vm1 - vm0) >> 10, CYCLES);
	cr_assert_leq(maps1, maps0 + 8, "%ld mappings more after %d cycles", maps1 - maps0, CYCLES);
}

/*
 * LeakSanitizer looks for pointers in the heap, stacks and globals, not in memory libzs maps
 * itself; the heap blocks only a zspage descriptor points to (the allocation bitmaps of long
 * zspages) must still count as reachable, or every leak check of a program with a live pool
 * (a fuzzer's after each input, __lsan_do_leak_check) reports them.
 */
#if ZT_ASAN
#include <sanitizer/lsan_interface.h>
#endif
Test(stats, live_pool_is_no_leak_to_leaksanitizer)
{
#if ZT_ASAN
	struct zs_pool *pool = zs_create_pool("lsan");
	unsigned long h[256];

	cr_assert_not_null(pool);
	/* small objects: their zspages keep the bitmap on the heap */
	for (int i = 0; i < 256; i++)
		cr_assert(h[i] = zs_malloc(pool, 32 + (size_t)(i % 32) * 8));
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0,
		     "LeakSanitizer took a live pool's bitmaps for leaks");
	for (int i = 0; i < 256; i++)
		cr_assert_eq(zs_free(pool, h[i]), 0);
	zs_destroy_pool(pool);
#else
	cr_skip_test("needs an AddressSanitizer build (make test SANITIZE=address,undefined)");
#endif
}
