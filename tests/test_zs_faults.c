/*
 * Fault injection for libzs: the mmap calls the library makes (libzs/os.c reserves address space
 * with MAP_NORESERVE) fail on demand.  The test executable defines mmap and munmap itself, so the
 * shared library's calls come here first (symbol interposition) and go on to the C library's
 * through dlsym(RTLD_NEXT) unless a fault is armed.  Only MAP_NORESERVE mappings are counted or
 * failed, so Criterion's and the C library's own mappings pass untouched.
 *
 * Properties: a failed mmap gives NULL/0 with errno ENOMEM from zs_create_pool and zs_malloc,
 * and a compaction whose scratch space cannot be mapped frees less (or nothing); in every case
 * the pool's statistics and every stored object are unchanged, no mapping leaks, and once the
 * fault is gone the same pool works.  Criterion runs each test in its own process, so the
 * fault state starts disarmed in each.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "zs_test_util.h"

#define SEED 0xfa17

/* ---- the interposed calls ---- */

#define FI_MAX_MAPS 1024

/* The sanitizers' runtimes call mmap while they start, before they can track anything. */
#define FI_EARLY __attribute__((no_sanitize("thread", "address", "undefined")))

static struct {
	pthread_mutex_t lock;
	long skip;     /* MAP_NORESERVE calls to let through before failing */
	long fail;     /* then fail this many (-1: all) */
	long injected; /* faults injected so far */
	long every;    /* fail only one call in @every (0: each) */
	long seen;
	struct {
		void *addr;
		size_t len;
	} maps[FI_MAX_MAPS]; /* live MAP_NORESERVE mappings */
	long nr_maps;
} fi = {.lock = PTHREAD_MUTEX_INITIALIZER};

FI_EARLY static void *real_fn(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		abort();
	return f;
}

static bool fi_should_fail(void)
{
	bool fail = false;

	pthread_mutex_lock(&fi.lock);
	if (fi.fail && fi.skip > 0) {
		fi.skip--;
	} else if (fi.fail && fi.every > 1 && fi.seen++ % fi.every) {
		/* let this one through */
	} else if (fi.fail) {
		fail = true;
		if (fi.fail > 0)
			fi.fail--;
		fi.injected++;
	}
	pthread_mutex_unlock(&fi.lock);
	return fail;
}

static long fi_get(long *v)
{
	pthread_mutex_lock(&fi.lock);
	long n = *v;
	pthread_mutex_unlock(&fi.lock);
	return n;
}

FI_EARLY void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	void *p;

	if (!real)
		real = real_fn("mmap");
	if (!(flags & MAP_NORESERVE))
		return real(addr, len, prot, flags, fd, off);
	if (fi_should_fail()) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	p = real(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED) {
		pthread_mutex_lock(&fi.lock);
		if (fi.nr_maps < FI_MAX_MAPS) {
			fi.maps[fi.nr_maps].addr = p;
			fi.maps[fi.nr_maps].len = len;
			__atomic_store_n(&fi.nr_maps, fi.nr_maps + 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&fi.lock);
	}
	return p;
}

FI_EARLY int munmap(void *addr, size_t len)
{
	static int (*real)(void *, size_t);

	if (!real)
		real = real_fn("munmap");
	if (!__atomic_load_n(&fi.nr_maps, __ATOMIC_RELAXED))
		return real(addr, len);
	pthread_mutex_lock(&fi.lock);
	for (long i = 0; i < fi.nr_maps; i++) {
		if (fi.maps[i].addr == addr && fi.maps[i].len == len) {
			fi.maps[i] = fi.maps[fi.nr_maps - 1];
			__atomic_store_n(&fi.nr_maps, fi.nr_maps - 1, __ATOMIC_RELAXED);
			break;
		}
	}
	pthread_mutex_unlock(&fi.lock);
	return real(addr, len);
}

/* Fail @fail MAP_NORESERVE mmaps (-1: every one) after letting @skip through. */
static void fi_arm(long skip, long fail)
{
	pthread_mutex_lock(&fi.lock);
	fi.skip = skip;
	fi.fail = fail;
	pthread_mutex_unlock(&fi.lock);
}

/* Stop failing; whether the armed faults were all injected. */
static bool fi_disarm(void)
{
	pthread_mutex_lock(&fi.lock);
	bool hit = fi.fail == 0;
	fi.fail = 0;
	fi.skip = 0;
	fi.every = 0;
	pthread_mutex_unlock(&fi.lock);
	return hit;
}

static long fi_live_maps(void)
{
	return fi_get(&fi.nr_maps);
}

static void fi_report(void)
{
	cr_log_info("faults injected: %ld", fi_get(&fi.injected));
}

/* ---- helpers ---- */

struct obj {
	unsigned long h;
	size_t size;
};

static void fill(struct zs_pool *pool, struct obj *o, size_t n, uint64_t seed)
{
	struct zt_rng r;

	zt_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++) {
		o[i].size = zt_rand_size(&r);
		o[i].h = zt_alloc_stamped(pool, o[i].size, SEED);
		cr_assert_neq(o[i].h, 0, "zs_malloc(%zu): %s", o[i].size, strerror(errno));
	}
}

static void check_all(struct zs_pool *pool, const struct obj *o, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!o[i].h)
			continue;
		cr_assert_eq(zt_check_handle(pool, o[i].h, o[i].size, SEED), -1,
			     "object %zu (%zu bytes) damaged", i, o[i].size);
	}
}

/* ---- tests ---- */

/*
 * zs_create_pool reserves no address space at all (its tables and first arena come with the
 * first object).  Then every mmap the first zs_malloc makes fails in turn: 0 + ENOMEM, the pool
 * stays empty and consistent and works once mmap does, and destroying it unmaps everything.
 */
Test(zs_faults, first_malloc_each_mmap_fails)
{
	long base = fi_live_maps(), k;

	fi_arm(0, -1);
	struct zs_pool *empty = zs_create_pool("no-mmap");
	fi_disarm();
	cr_assert_not_null(empty, "zs_create_pool failed with every mmap failing");
	cr_assert_eq(fi_get(&fi.injected), 0, "zs_create_pool called mmap");
	zs_destroy_pool(empty);
	cr_assert_eq(fi_live_maps(), base);

	for (k = 0;; k++) {
		struct zs_pool *pool = zs_create_pool("faulty");
		unsigned long h;

		cr_assert_not_null(pool);
		fi_arm(k, 1);
		errno = 0;
		h = zs_malloc(pool, 100);
		bool hit = fi_disarm();
		if (!hit) { /* the k-th mmap was never reached: the first object needs only k */
			cr_assert_neq(h, 0);
			cr_assert_eq(zs_free(pool, h), 0);
			zs_destroy_pool(pool);
			break;
		}
		cr_assert_eq(h, 0, "zs_malloc succeeded with mmap %ld failing", k);
		cr_assert_eq(errno, ENOMEM, "mmap %ld failing: errno %d", k, errno);
		zt_assert_pool_consistent(pool, 0, 0);
		h = zt_alloc_stamped(pool, 100, SEED);
		cr_assert_neq(h, 0, "mmap %ld failed once: the pool does not recover", k);
		cr_assert_eq(zt_check_handle(pool, h, 100, SEED), -1);
		cr_assert_eq(zs_free(pool, h), 0);
		zs_destroy_pool(pool);
		cr_assert_eq(fi_live_maps(), base, "mmap %ld failing: %ld mappings leaked", k,
			     fi_live_maps() - base);
	}
	cr_assert_geq(k, 3,
		      "the first zs_malloc made %ld mmap calls; expected the handle table, the "
		      "arena and the descriptors",
		      k);
	cr_assert_eq(fi_live_maps(), base);
	cr_assert_eq(fi_get(&fi.injected), k);
	fi_report();
}

/*
 * The pool's first arena cannot be reserved: zs_malloc of every kind (small, mid, huge) fails
 * with ENOMEM and leaves an empty pool; a populated neighbour pool is untouched; the pool works
 * once mmap does.
 */
Test(zs_faults, malloc_enomem_then_recovers)
{
	enum { N = 2000 };
	static struct obj a[N], b[N];
	static const size_t sizes[] = {1, 100, 1000, 3000, 4000, 4096};
	struct zs_pool *other = zs_create_pool("other"), *pool = zs_create_pool("faulty");
	struct zs_pool_stats before, after, other_before, other_after;

	cr_assert_not_null(other);
	cr_assert_not_null(pool);
	fill(other, b, N, 2);
	zs_pool_stats(other, &other_before);
	zs_pool_stats(pool, &before);
	fi_arm(0, -1);
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			errno = 0;
			cr_assert_eq(zs_malloc(pool, sizes[i]), 0, "zs_malloc(%zu) succeeded",
				     sizes[i]);
			cr_assert_eq(errno, ENOMEM, "zs_malloc(%zu): errno %d", sizes[i], errno);
		}
	}
	long injected = fi_get(&fi.injected);
	fi_disarm();
	cr_assert_geq(injected, 18, "only %ld mmap calls failed", injected);
	zs_pool_stats(pool, &after);
	zt_assert_pool_stats_eq(&before, &after, "failed zs_malloc");
	zt_assert_pool_consistent(pool, 0, 0);
	zs_pool_stats(other, &other_after);
	zt_assert_pool_stats_eq(&other_before, &other_after, "the other pool");
	check_all(other, b, N);

	fill(pool, a, N, 1);
	check_all(pool, a, N);
	zt_assert_pool_consistent(pool, N, ~0UL);
	for (size_t i = 0; i < N; i++) {
		cr_assert_eq(zs_free(pool, a[i].h), 0);
		cr_assert_eq(zs_free(other, b[i].h), 0);
	}
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
	zs_destroy_pool(other);
	fi_report();
}

/*
 * Compaction maps scratch space for its reverse maps once it is large (64 KiB and up; smaller
 * scratch comes from the heap).  With the k-th of those mmaps failing (k = 0, 1, 2, 3, then
 * growing by half, until compaction no longer reaches it), zs_compact frees what it can without
 * it, every object stays intact, no scratch mapping leaks, and a compaction without faults
 * then gives back at least what one with no faults at all would.  The pool keeps 12000 of 48000
 * objects, so the scan's list of them (8 bytes each) is mapped.
 */
Test(zs_faults, compact_scratch_fails, .timeout = 60)
{
	enum { N = 48000 };
	static struct obj o[N];
	long k, base, tried = 0;

	for (k = 0;; k += k < 4 ? 1 : k / 2, tried++) {
		/* No per-thread caches: taking their slots back frees pages before compaction
		 * needs scratch space, and this counts what compaction alone does. */
		struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_TCACHE, 0);
		struct zs_pool_stats st0, st1, st2;
		unsigned long freed, live = 0;

		fill(pool, o, N, 3);
		for (size_t i = 0; i < N; i++) {
			if (i % 4) {
				cr_assert_eq(zs_free(pool, o[i].h), 0);
				o[i].h = 0;
			} else {
				live++;
			}
		}
		zs_pool_stats(pool, &st0);
		base = fi_live_maps();
		fi_arm(k, 1);
		freed = zs_compact(pool);
		bool hit = fi_disarm();
		cr_assert_eq(fi_live_maps(), base, "scratch mapping %ld failing: %ld leaked", k,
			     fi_live_maps() - base);
		zs_pool_stats(pool, &st1);
		cr_assert_leq(st1.pages_used, st0.pages_used, "k %ld: %lu pages, now %lu", k,
			      st0.pages_used, st1.pages_used);
		cr_assert_eq(freed, st0.pages_used - st1.pages_used,
			     "k %ld: returned %lu, %lu given back", k, freed,
			     st0.pages_used - st1.pages_used);
		cr_assert_eq(st1.objs_used, live);
		zt_assert_pool_consistent(pool, live, ~0UL);
		check_all(pool, o, N);
		if (k == 0)
			cr_assert_eq(freed, 0, "compaction freed %lu pages with no scratch space",
				     freed);
		/* recovery: the rest of the work is done now */
		zs_compact(pool);
		zs_pool_stats(pool, &st2);
		cr_assert_lt(st2.pages_used, st0.pages_used);
		check_all(pool, o, N);
		for (size_t i = 0; i < N; i++)
			if (o[i].h)
				cr_assert_eq(zs_free(pool, o[i].h), 0);
		zt_assert_pool_consistent(pool, 0, 0);
		zs_destroy_pool(pool);
		if (!hit)
			break;
	}
	cr_assert_geq(k, 1, "compaction made only %ld scratch mappings", k);
	cr_assert_eq(fi_get(&fi.injected), tried);
	fi_report();
}

/*
 * Faults under concurrency: four threads allocate, check and free stamped objects in a fresh
 * pool while every reservation fails: each allocation fails with ENOMEM alone, and the pool
 * stays empty and consistent.  Then the same four run beside 12000 objects the pool keeps, its
 * address space in place (grown by a larger working set, freed again), while a fifth thread
 * compacts without pause and every other mapping of its scratch space fails: no allocation
 * fails and every object reads back intact.
 */
struct racer {
	struct zs_pool *pool;
	unsigned seed;
	long enomem, ok;
};

static void *race_worker(void *arg)
{
	struct racer *r = arg;
	struct zt_rng rng;
	struct obj mine[64] = {{0}};

	zt_rng_seed(&rng, r->seed);
	for (int it = 0; it < 20000; it++) {
		struct obj *o = &mine[zt_below(&rng, 64)];
		if (o->h) {
			if (zt_check_handle(r->pool, o->h, o->size, SEED) != -1 ||
			    zs_free(r->pool, o->h))
				return (void *)1;
			o->h = 0;
			continue;
		}
		o->size = zt_rand_size(&rng);
		errno = 0;
		o->h = zt_alloc_stamped(r->pool, o->size, SEED);
		if (!o->h) {
			if (errno != ENOMEM)
				return (void *)2;
			r->enomem++;
		} else {
			r->ok++;
		}
	}
	for (int i = 0; i < 64; i++) {
		if (mine[i].h && (zt_check_handle(r->pool, mine[i].h, mine[i].size, SEED) != -1 ||
				  zs_free(r->pool, mine[i].h)))
			return (void *)3;
	}
	return NULL;
}

struct compactor {
	struct zs_pool *pool;
	atomic_int *stop;
};

static void *race_compactor(void *arg)
{
	struct compactor *c = arg;

	while (!atomic_load(c->stop))
		zs_compact(c->pool);
	return NULL;
}

Test(zs_faults, threads_with_failing_mmap, .timeout = 60)
{
	struct racer r[4];
	pthread_t t[4];
	struct zs_pool *pool = zt_pool(0, 0, 8);
	long enomem = 0;

	fi_arm(0, -1); /* the first arena never comes: every allocation must fail cleanly */
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){.pool = pool, .seed = (unsigned)i + 1};
		cr_assert_eq(pthread_create(&t[i], NULL, race_worker, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		cr_assert_null(ret, "worker %d failed at step %ld", i, (long)ret);
		enomem += r[i].enomem;
		cr_assert_eq(r[i].ok, 0);
	}
	fi_disarm();
	cr_assert_gt(enomem, 0);
	zt_assert_pool_consistent(pool, 0, 0);
	/* the same work again with the arena there, while a compactor runs and every other
	 * mapping of its scratch space fails */
	long before = fi_get(&fi.injected);
	pthread_t ct;
	atomic_int stop = 0;
	/* not a compound literal inside cr_assert_eq(): it would die with the macro's block */
	struct compactor carg = {pool, &stop};
	/* The pool keeps 12000 objects, so each compaction's scan maps its scratch list; the
	 * tables and arenas first grow to hold 4096 more, 16 times what the workers ever hold
	 * together, and keep that address space once those are gone. */
	static struct obj keep[12000], grow[16 * 4 * 64];
	fill(pool, keep, sizeof(keep) / sizeof(keep[0]), 4);
	fill(pool, grow, sizeof(grow) / sizeof(grow[0]), 5);
	for (size_t i = 0; i < sizeof(grow) / sizeof(grow[0]); i++)
		cr_assert_eq(zs_free(pool, grow[i].h), 0);
	unsigned long arena = zs_malloc(pool, 100);
	cr_assert_neq(arena, 0);
	pthread_mutex_lock(&fi.lock);
	fi.every = 2;
	fi.fail = -1;
	pthread_mutex_unlock(&fi.lock);
	cr_assert_eq(pthread_create(&ct, NULL, race_compactor, &carg), 0);
	for (int i = 0; i < 4; i++) {
		r[i].enomem = r[i].ok = 0;
		cr_assert_eq(pthread_create(&t[i], NULL, race_worker, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		cr_assert_null(ret, "worker %d failed at step %ld", i, (long)ret);
		cr_assert_eq(r[i].enomem, 0);
		cr_assert_gt(r[i].ok, 0);
	}
	atomic_store(&stop, 1);
	pthread_join(ct, NULL);
	fi_disarm();
	cr_assert_gt(fi_get(&fi.injected), before, "no compaction ran into a fault");
	cr_assert_eq(zs_free(pool, arena), 0);
	check_all(pool, keep, sizeof(keep) / sizeof(keep[0]));
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		cr_assert_eq(zs_free(pool, keep[i].h), 0);
	zt_assert_pool_consistent(pool, 0, 0);
	zs_destroy_pool(pool);
	fi_report();
}

/*
 * Growth past the first chunk of every table and the first arenas: 24000 objects (the handle
 * table grows to its sixth chunk, the descriptor table past its fifth, the arenas past the
 * third) are allocated one by one with the first reservation of each zs_malloc failing.  An
 * allocation that met the fault fails with ENOMEM (unless a handle refill got some indexes
 * before the table could not grow), leaves the statistics as they were (heap metadata aside,
 * below) and the pool consistent, and then succeeds.  Every object reads back intact, also
 * after a compaction of the three quarters freed, and destroying the pool unmaps every chunk
 * and arena.
 */
Test(zs_faults, growth_with_each_first_mmap_failing, .timeout = 120)
{
	enum { N = 24000 };
	static struct obj o[N];
	struct zt_rng r;
	long base = fi_live_maps(), failed = 0, absorbed = 0;
	unsigned long live = 0, bytes = 0;
	struct zs_pool *pool = zt_pool(0, 0, 0);

	zt_rng_seed(&r, 7);
	for (size_t i = 0; i < N; i++) {
		struct zs_pool_stats before, after;

		o[i].size = i % 97 == 0 ? ZS_MAX_ALLOC_SIZE : zt_rand_size(&r);
		zs_pool_stats(pool, &before);
		fi_arm(0, 1);
		errno = 0;
		unsigned long h = zs_malloc(pool, o[i].size);
		bool hit = fi_disarm();
		/* A magazine refill that got some handles before the table could not grow is
		 * enough: the allocation then succeeds, and the next one grows the table. */
		if (hit && h) {
			absorbed++;
		} else if (hit) {
			failed++;
			cr_assert_eq(errno, ENOMEM, "object %zu: errno %d", i, errno);
			zs_pool_stats(pool, &after);
			/* The run a zspage took before its descriptor failed is filed as free: its
			 * run stack may have had to grow, by 1 KiB of heap at first. */
			cr_assert_leq(after.meta_bytes, before.meta_bytes + 4096,
				      "object %zu: meta_bytes %lu -> %lu", i, before.meta_bytes,
				      after.meta_bytes);
			after.meta_bytes = before.meta_bytes;
			zt_assert_pool_stats_eq(&before, &after, "a zs_malloc whose mmap failed");
			zt_assert_pool_consistent(pool, live, bytes);
			h = zs_malloc(pool, o[i].size);
		}
		cr_assert_neq(h, 0, "object %zu: zs_malloc(%zu): %s", i, o[i].size,
			      strerror(errno));
		void *p = zs_map_object(pool, h, ZS_MM_WO);
		cr_assert_not_null(p);
		zt_stamp(p, h, o[i].size, SEED);
		zs_unmap_object(pool, h);
		o[i].h = h;
		live++;
		bytes += o[i].size;
	}
	cr_log_info("%ld allocations failed with their mmap, %ld got by without it", failed,
		    absorbed);
	cr_assert_geq(failed, 12, "only %ld allocations needed a reservation", failed);
	check_all(pool, o, N);
	zt_assert_pool_consistent(pool, live, bytes);
	for (size_t i = 0; i < N; i++) {
		if (i % 4) {
			cr_assert_eq(zs_free(pool, o[i].h), 0);
			o[i].h = 0;
			live--;
		}
	}
	zs_compact(pool);
	check_all(pool, o, N);
	zt_assert_pool_consistent(pool, live, ~0UL);
	zs_destroy_pool(pool);
	cr_assert_eq(fi_live_maps(), base, "%ld mappings leaked", fi_live_maps() - base);
	fi_report();
}
