/*
 * libswap regions under threads: stamped pages written and checked by many threads while the
 * reclaim thread runs continuously and another thread calls swap_region_reclaim(), many threads
 * faulting on one page at once, and swap_region_destroy() while faults are waiting to be served.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "region_test_util.h"

/* ---- integrity under reclaim ---------------------------------------------------------------- */

#define STRESS_THREADS	 6
#define PAGES_PER_THREAD 96
#define SHARED_PAGES	 32 /* read by every thread, written by none after setup */
#define STRESS_ROUNDS	 3000

struct stress {
	struct swap_region *r;
	char *base;
	atomic_bool stop;
	atomic_int failures;
	uint64_t versions[STRESS_THREADS][PAGES_PER_THREAD];
	/* the first stamp that failed: which page, the version expected, what was there */
	atomic_flag noted;
	size_t bad_page;
	uint64_t bad_version, bad_word0, bad_word1;
};

/* Which version of page @i's stamp @p holds, if any of 0 .. @upto. */
static long stamp_version(const char *p, size_t i, uint64_t upto)
{
	for (uint64_t v = 0; v <= upto; v++)
		if (page_check(p, i, v))
			return (long)v;
	return -1;
}

static void note_failure(struct stress *s, size_t page, uint64_t v)
{
	atomic_fetch_add(&s->failures, 1);
	if (atomic_flag_test_and_set(&s->noted))
		return;
	s->bad_page = page;
	s->bad_version = v;
	s->bad_word0 = ((const uint64_t *)(s->base + page * RPAGE))[0];
	s->bad_word1 = ((const uint64_t *)(s->base + page * RPAGE))[1];
}

struct worker {
	struct stress *s;
	int id;
};

static size_t own_page(int id, int k)
{
	return SHARED_PAGES + (size_t)id * PAGES_PER_THREAD + (size_t)k;
}

static void *stress_worker(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	uint64_t seed = (uint64_t)w->id * 7919 + 1;

	for (int round = 0; round < STRESS_ROUNDS; round++) {
		uint64_t x = tu_rand(&seed);
		int k = (int)(x % PAGES_PER_THREAD);
		size_t page = own_page(w->id, k);

		if (!region_check(s->base, page, s->versions[w->id][k]))
			note_failure(s, page, s->versions[w->id][k]);
		if ((x >> 32) % 3 == 0) {
			region_stamp(s->base, page, ++s->versions[w->id][k]);
		}
		if ((x >> 40) % 4 == 0) {
			size_t shared = (size_t)((x >> 48) % SHARED_PAGES);
			if (!region_check(s->base, shared, 1000))
				note_failure(s, shared, 1000);
		}
	}
	return NULL;
}

static void *stress_reclaimer(void *arg)
{
	struct stress *s = arg;
	uint64_t seed = 99;

	while (!atomic_load(&s->stop)) {
		long got = swap_region_reclaim(s->r, (size_t)(tu_rand(&seed) % 64 + 1) * RPAGE);
		struct swap_region_stats st;
		if (got < 0 || swap_region_stats(s->r, &st))
			atomic_fetch_add(&s->failures, 1);
		usleep(200);
	}
	return NULL;
}

static void stress_run(unsigned flags)
{
	const size_t pages = SHARED_PAGES + STRESS_THREADS * PAGES_PER_THREAD;
	struct stress *s = calloc(1, sizeof(*s));
	struct worker w[STRESS_THREADS];
	pthread_t t[STRESS_THREADS], rec;
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(pages, 64);
	struct swap_region_stats st;

	/* A budget a tenth of the pages in use: the reclaim thread never rests. */
	o.flags = flags;
	o.nr_handlers = 3;
	s->r = region_or_skip(&ctx, 4 * pages, &o);
	s->base = swap_region_addr(s->r);
	for (size_t i = 0; i < SHARED_PAGES; i++)
		region_stamp(s->base, i, 1000);
	for (int id = 0; id < STRESS_THREADS; id++)
		for (int k = 0; k < PAGES_PER_THREAD; k++) {
			s->versions[id][k] = 1;
			region_stamp(s->base, own_page(id, k), 1);
		}
	cr_assert_eq(pthread_create(&rec, NULL, stress_reclaimer, s), 0);
	for (int id = 0; id < STRESS_THREADS; id++) {
		w[id] = (struct worker){s, id};
		cr_assert_eq(pthread_create(&t[id], NULL, stress_worker, &w[id]), 0);
	}
	for (int id = 0; id < STRESS_THREADS; id++)
		pthread_join(t[id], NULL);
	atomic_store(&s->stop, true);
	pthread_join(rec, NULL);
	cr_assert_eq(
	    atomic_load(&s->failures), 0,
	    "%d stamps failed; first: page %zu, version %llu expected, words %#llx %#llx; "
	    "now it holds version %ld",
	    atomic_load(&s->failures), s->bad_page, (unsigned long long)s->bad_version,
	    (unsigned long long)s->bad_word0, (unsigned long long)s->bad_word1,
	    stamp_version(s->base + s->bad_page * RPAGE, s->bad_page, s->bad_version + 1000));
	/* Every page once more, from one thread, after everything settled. */
	for (size_t i = 0; i < SHARED_PAGES; i++)
		cr_assert(region_check(s->base, i, 1000), "shared page %zu", i);
	for (int id = 0; id < STRESS_THREADS; id++)
		for (int k = 0; k < PAGES_PER_THREAD; k++)
			cr_assert(region_check(s->base, own_page(id, k), s->versions[id][k]),
				  "thread %d page %d", id, k);
	st = region_stats(s->r);
	cr_assert_gt(st.faults.major, 0);
	cr_assert_gt(st.reclaimed_pages, pages);
	cr_assert_eq(st.io_errors, 0);
	cr_log_info("stress: %llu major, %llu minor faults, %llu reclaimed (%llu clean), "
		    "%llu refaults, %llu direct reclaims",
		    (unsigned long long)st.faults.major, (unsigned long long)st.faults.minor,
		    (unsigned long long)st.reclaimed_pages, (unsigned long long)st.clean_reclaims,
		    (unsigned long long)st.refaults, (unsigned long long)st.direct_reclaims);
	cr_assert_eq(swap_region_destroy(s->r), 0);
	swap_ctx_destroy(ctx);
	free(s);
}

Test(swap_region_threads, stamped_pages_under_reclaim, .timeout = 120)
{
	stress_run(0);
}

Test(swap_region_threads, stamped_pages_under_reclaim_without_write_tracking, .timeout = 120)
{
	stress_run(SWAP_REGION_NO_WRITE_TRACKING);
}

/* ---- one page, many threads ----------------------------------------------------------------- */

#define SAME_THREADS 8

struct same {
	char *base;
	pthread_barrier_t go;
	atomic_int bad;
};

static void *same_page_reader(void *arg)
{
	struct same *s = arg;

	pthread_barrier_wait(&s->go);
	if (!region_check(s->base, 5, 77))
		atomic_fetch_add(&s->bad, 1);
	return NULL;
}

Test(swap_region_threads, many_threads_fault_on_one_page, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(64, 32);
	struct swap_region *r;
	struct same s = {0};
	pthread_t t[SAME_THREADS];
	uint64_t major;

	o.nr_handlers = 4;
	r = region_or_skip(&ctx, 256, &o);
	s.base = swap_region_addr(r);
	region_stamp(s.base, 5, 77);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), (long)RPAGE);
	major = region_stats(r).faults.major;
	pthread_barrier_init(&s.go, NULL, SAME_THREADS);
	for (int i = 0; i < SAME_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, same_page_reader, &s), 0);
	for (int i = 0; i < SAME_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&s.go);
	cr_assert_eq(atomic_load(&s.bad), 0);
	cr_assert_eq(region_stats(r).faults.major, major + 1, "decompressed once for all");
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

/* ---- destroy with faults in flight ---------------------------------------------------------- */

#define INFLIGHT_THREADS 12

struct inflight {
	char *base;
	pthread_barrier_t go;
	atomic_int tid[INFLIGHT_THREADS];
	atomic_int done;
	uint64_t got[INFLIGHT_THREADS];
};

struct inflight_arg {
	struct inflight *f;
	int i;
};

static void *inflight_reader(void *arg)
{
	struct inflight_arg *a = arg;
	struct inflight *f = a->f;

	atomic_store(&f->tid[a->i], (int)syscall(SYS_gettid));
	pthread_barrier_wait(&f->go);
	/* One load of an evicted page, and nothing more of the region afterwards. */
	f->got[a->i] = ((volatile uint64_t *)(f->base + (size_t)a->i * RPAGE))[0];
	atomic_fetch_add(&f->done, 1);
	return NULL;
}

/* Whether thread @tid sleeps in a userfaultfd fault (or, where wchan is hidden, sleeps). */
static bool waits_in_fault(int tid)
{
	char path[64], buf[128] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tid);
	fp = fopen(path, "r");
	if (fp) {
		if (!fgets(buf, sizeof(buf), fp))
			buf[0] = 0;
		fclose(fp);
		if (strstr(buf, "userfault"))
			return true;
		if (buf[0] && strcmp(buf, "0"))
			return false;
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fp = fopen(path, "r");
	if (!fp)
		return false;
	if (!fgets(buf, sizeof(buf), fp))
		buf[0] = 0;
	fclose(fp);
	return strstr(buf, ") S ") != NULL;
}

static void *destroyer(void *arg)
{
	_Atomic(struct swap_region *) *r = arg;

	swap_region_destroy(atomic_load(r));
	atomic_store(r, NULL); /* done */
	return NULL;
}

Test(swap_region_threads, destroy_with_faults_in_flight, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(64, 32);
	struct swap_region *r;
	_Atomic(struct swap_region *) dying;
	struct inflight f = {0};
	struct inflight_arg a[INFLIGHT_THREADS];
	pthread_t t[INFLIGHT_THREADS], d;
	swp_entry_t claimed[INFLIGHT_THREADS];
	int nr_claimed = 0, waiting = 0;

	/* One handler for twelve faults, and that handler stalled: the test holds the swap-cache
	 * claim of every slot (the lower layer's swap_cache_prepare), so its swap_in waits. */
	o.nr_handlers = 1;
	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 256, &o);
	f.base = swap_region_addr(r);
	for (int i = 0; i < INFLIGHT_THREADS; i++)
		region_stamp(f.base, (size_t)i, 3);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), INFLIGHT_THREADS * (long)RPAGE);
	for (uint64_t off = 1; off < 256 && nr_claimed < INFLIGHT_THREADS; off++) {
		swp_entry_t e = swp_entry(0, off);
		if (swap_count(ctx, e) > 0 && swap_cache_prepare(ctx, e) == 0)
			claimed[nr_claimed++] = e;
	}
	cr_assert_eq(nr_claimed, INFLIGHT_THREADS);
	pthread_barrier_init(&f.go, NULL, INFLIGHT_THREADS + 1);
	for (int i = 0; i < INFLIGHT_THREADS; i++) {
		a[i] = (struct inflight_arg){&f, i};
		cr_assert_eq(pthread_create(&t[i], NULL, inflight_reader, &a[i]), 0);
	}
	pthread_barrier_wait(&f.go);
	for (int spins = 0; spins < 1000000 && waiting < INFLIGHT_THREADS; spins++) {
		waiting = 0;
		for (int i = 0; i < INFLIGHT_THREADS; i++)
			waiting += waits_in_fault(atomic_load(&f.tid[i]));
		sched_yield();
	}
	cr_assert_eq(waiting, INFLIGHT_THREADS, "every reader sits in its fault");
	cr_assert_eq(atomic_load(&f.done), 0);
	/* Destroy now: it must serve the twelve raised faults before it unmaps anything. */
	atomic_store(&dying, r);
	cr_assert_eq(pthread_create(&d, NULL, destroyer, &dying), 0);
	usleep(50000);
	cr_assert_not_null(atomic_load(&dying), "destroy returned with faults unserved");
	cr_assert_eq(atomic_load(&f.done), 0);
	for (int i = 0; i < nr_claimed; i++)
		cr_assert_eq(swap_cache_delete(ctx, claimed[i]), 0);
	pthread_join(d, NULL);
	cr_assert_null(atomic_load(&dying));
	for (int i = 0; i < INFLIGHT_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&f.go);
	for (int i = 0; i < INFLIGHT_THREADS; i++)
		cr_assert_eq(f.got[i], region_word((size_t)i, 3, 0),
			     "reader %d got %#llx: a raised fault was not served", i,
			     (unsigned long long)f.got[i]);
	swap_ctx_destroy(ctx);
}
