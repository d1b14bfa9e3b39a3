/*
 * Concurrency, modelled on mimalloc's stress test: worker threads allocate, free, read and
 * map objects of one pool at once, trading handles through a shared array with atomic
 * exchange.  Payloads are stamped with (handle, size, seed) on allocation, so whoever ends
 * up holding a handle can check it: on every read, while it is pinned by a mapping, and
 * right before it is freed.  Objects kept mapped across many operations must not move
 * while compaction runs.  Variants: one thread compacting in a loop; two threads
 * compacting concurrently (NO_PACK pool, 4-page zspages); automatic compaction from
 * zs_free() with no compactor thread.  Workers only count errors; the main thread asserts
 * on them, then checks every live object and that the statistics agree with the handles
 * left in the shared array (objs_used, bytes_used, and pages_compacted against the sum of
 * what zs_compact() returned).  Last, zs_free refuses (-EBUSY) an object its own thread has
 * just mapped, and never one that nobody maps, while other objects of its zspages are mapped,
 * freed and moved around it.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zs_test_util.h"

#define SEED	 0x7412ead
#define NSLOTS	 8192
#define NPIN	 8
#define NWORKERS 4
#define PHASE	 12000

struct shared {
	struct zs_pool *pool;
	_Atomic unsigned long slot[NSLOTS];
	atomic_int stop;
};

enum bad_kind {
	BAD_NONE,
	BAD_DATA,
	BAD_SIZE,
	BAD_MAP,
	BAD_FREE,
	BAD_ALLOC,
	BAD_MOVED,
	BAD_WRITE,
	BAD_READ
};

/* clang-format off */
static const char *const bad_name[] = {
	"none", "damaged payload", "bad zs_obj_size", "map of an owned handle failed",
	"free of an owned handle failed", "zs_malloc failed", "mapped object moved",
	"zs_obj_write failed", "zs_obj_read_begin failed",
};
/* clang-format on */

struct worker {
	pthread_t t;
	struct shared *sh;
	unsigned long iters;
	struct zt_rng r;
	/* results, read by the main thread after join */
	unsigned long ops[4];
	unsigned long errors;
	enum bad_kind first_kind;
	unsigned long first_h;
	long first_off;
	/* objects this thread keeps mapped for a while */
	struct {
		unsigned long h;
		unsigned char *p;
		size_t size;
	} pin[NPIN];
	unsigned int npin;
	unsigned char buf[ZS_MAX_ALLOC_SIZE];
};

struct compactor {
	pthread_t t;
	struct shared *sh;
	unsigned long rounds, freed, errors;
};

static void bad(struct worker *w, enum bad_kind kind, unsigned long h, long off)
{
	if (!w->errors++) {
		w->first_kind = kind;
		w->first_h = h;
		w->first_off = off;
	}
}

/* Check an object this thread owns; returns its size (0 if broken). */
static size_t verify(struct worker *w, unsigned long h)
{
	struct zs_pool *pool = w->sh->pool;
	size_t size = zs_obj_size(pool, h);
	long off;
	void *p, *again;

	if (size == 0 || size > ZS_MAX_ALLOC_SIZE) {
		bad(w, BAD_SIZE, h, (long)size);
		return 0;
	}
	if (zt_below(&w->r, 2)) {
		p = zs_map_object(pool, h, ZS_MM_RO);
		if (!p) {
			bad(w, BAD_MAP, h, 0);
			return 0;
		}
		off = zt_check(p, h, size, SEED);
		/* still mapped: a second map must find it where it was */
		again = zs_map_object(pool, h, ZS_MM_RO);
		if (again != p)
			bad(w, BAD_MOVED, h, (long)((unsigned char *)again - (unsigned char *)p));
		if (again)
			zs_unmap_object(pool, h);
		zs_unmap_object(pool, h);
	} else {
		p = zs_obj_read_begin(pool, h, w->buf);
		if (!p) {
			bad(w, BAD_READ, h, 0);
			return 0;
		}
		off = zt_check(p, h, size, SEED);
		zs_obj_read_end(pool, h, p);
	}
	if (off != -1) {
		bad(w, BAD_DATA, h, off);
		return 0;
	}
	return size;
}

static void retire(struct worker *w, unsigned long h)
{
	verify(w, h);
	if (zs_free(w->sh->pool, h) != 0)
		bad(w, BAD_FREE, h, 0);
}

/* Put an owned handle into a random slot; whatever was there is now ours to retire. */
static void put(struct worker *w, unsigned long h)
{
	unsigned long old = atomic_exchange(&w->sh->slot[zt_below(&w->r, NSLOTS)], h);

	if (old)
		retire(w, old);
}

static unsigned long take(struct worker *w)
{
	return atomic_exchange(&w->sh->slot[zt_below(&w->r, NSLOTS)], 0);
}

static void do_alloc(struct worker *w)
{
	struct zs_pool *pool = w->sh->pool;
	size_t size = zt_rand_size(&w->r);
	unsigned long h = zs_malloc(pool, size);
	void *p;

	if (!h) {
		bad(w, BAD_ALLOC, 0, (long)size);
		return;
	}
	if (zt_below(&w->r, 2)) {
		p = zs_map_object(pool, h, ZS_MM_WO);
		if (!p) {
			bad(w, BAD_MAP, h, 0);
			return;
		}
		zt_stamp(p, h, size, SEED);
		zs_unmap_object(pool, h);
	} else {
		zt_stamp(w->buf, h, size, SEED);
		if (zs_obj_write(pool, h, w->buf, size) != 0) {
			bad(w, BAD_WRITE, h, 0);
			return;
		}
	}
	put(w, h);
}

static void do_pin(struct worker *w)
{
	struct zs_pool *pool = w->sh->pool;
	unsigned long h = take(w);
	size_t size;
	void *p;

	if (!h)
		return;
	size = verify(w, h);
	if (!size)
		return;
	p = zs_map_object(pool, h, zt_below(&w->r, 2) ? ZS_MM_RO : ZS_MM_RW);
	if (!p) {
		bad(w, BAD_MAP, h, 0);
		return;
	}
	w->pin[w->npin].h = h;
	w->pin[w->npin].p = p;
	w->pin[w->npin].size = size;
	w->npin++;
}

static void do_unpin(struct worker *w, unsigned int i)
{
	struct zs_pool *pool = w->sh->pool;
	unsigned long h = w->pin[i].h;
	long off = zt_check(w->pin[i].p, h, w->pin[i].size, SEED);
	void *again;

	if (off != -1)
		bad(w, BAD_DATA, h, off);
	again = zs_map_object(pool, h, ZS_MM_RO);
	if (again != w->pin[i].p)
		bad(w, BAD_MOVED, h, (long)((unsigned char *)again - w->pin[i].p));
	if (again)
		zs_unmap_object(pool, h);
	zs_unmap_object(pool, h);
	w->pin[i] = w->pin[--w->npin];
	put(w, h);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned long i;

	for (i = 0; i < w->iters; i++) {
		unsigned int phase = (i / PHASE) % 3, k = zt_below(&w->r, 100);
		/* grow, shrink, mixed */
		static const unsigned int alloc_pct[3] = {70, 15, 40};
		static const unsigned int free_pct[3] = {10, 60, 35};
		unsigned long h;

		if (k < alloc_pct[phase]) {
			do_alloc(w);
			w->ops[0]++;
		} else if (k < alloc_pct[phase] + free_pct[phase]) {
			h = take(w);
			if (h)
				retire(w, h);
			w->ops[1]++;
		} else if (k < 90) {
			h = take(w);
			if (h) {
				verify(w, h);
				put(w, h);
			}
			w->ops[2]++;
		} else {
			if (w->npin < NPIN && zt_below(&w->r, 2))
				do_pin(w);
			else if (w->npin)
				do_unpin(w, zt_below(&w->r, w->npin));
			w->ops[3]++;
		}
	}
	while (w->npin)
		do_unpin(w, 0);
	return NULL;
}

static void *compactor_main(void *arg)
{
	struct compactor *c = arg;
	struct zs_pool *pool = c->sh->pool;
	FILE *devnull = fopen("/dev/null", "w");

	do {
		c->freed += zs_compact(pool);
		c->rounds++;
		if (c->rounds % 16 == 0) {
			struct zs_pool_stats st;
			struct zs_class_stats cs;
			unsigned int n, nr = zs_nr_classes(pool);

			zs_pool_stats(pool, &st);
			for (n = 0; n < nr; n++)
				if (zs_class_stats(pool, n, &cs) != 0)
					c->errors++;
			if (!devnull || zs_dump_classes(pool, devnull) != 0)
				c->errors++;
		}
	} while (!atomic_load(&c->sh->stop));
	if (devnull)
		fclose(devnull);
	return NULL;
}

static void stress(struct zs_pool *pool, unsigned int ncompactors, unsigned long iters,
		   bool auto_compact)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	struct worker *w = calloc(NWORKERS, sizeof(*w));
	struct compactor c[2];
	struct zs_pool_stats st;
	unsigned long live = 0, bytes = 0, freed = 0, i;
	unsigned int k;

	cr_assert(sh && w);
	memset(c, 0, sizeof(c));
	sh->pool = pool;
	for (k = 0; k < ncompactors; k++) {
		c[k].sh = sh;
		cr_assert_eq(pthread_create(&c[k].t, NULL, compactor_main, &c[k]), 0);
	}
	for (k = 0; k < NWORKERS; k++) {
		w[k].sh = sh;
		w[k].iters = iters;
		zt_rng_seed(&w[k].r, 1000 + k);
		cr_assert_eq(pthread_create(&w[k].t, NULL, worker_main, &w[k]), 0);
	}
	for (k = 0; k < NWORKERS; k++)
		pthread_join(w[k].t, NULL);
	atomic_store(&sh->stop, 1);
	for (k = 0; k < ncompactors; k++)
		pthread_join(c[k].t, NULL);

	for (k = 0; k < NWORKERS; k++) {
		cr_log_info("worker %u: %lu allocs, %lu frees, %lu reads, %lu pin ops", k,
			    w[k].ops[0], w[k].ops[1], w[k].ops[2], w[k].ops[3]);
		cr_assert_eq(w[k].errors, 0,
			     "worker %u: %lu errors, first: %s, handle %#lx (offset/size %ld)", k,
			     w[k].errors, bad_name[w[k].first_kind], w[k].first_h, w[k].first_off);
	}
	for (k = 0; k < ncompactors; k++) {
		cr_log_info("compactor %u: %lu rounds, %lu pages freed", k, c[k].rounds,
			    c[k].freed);
		cr_assert_eq(c[k].errors, 0, "compactor %u: %lu failed statistics calls", k,
			     c[k].errors);
		cr_assert_gt(c[k].rounds, 0);
		freed += c[k].freed;
	}

	/* quiescent now: every live object checks out and the counters agree */
	for (i = 0; i < NSLOTS; i++) {
		unsigned long h = atomic_load(&sh->slot[i]);
		size_t size;
		long off;

		if (!h)
			continue;
		size = zs_obj_size(pool, h);
		cr_assert(size >= 1 && size <= ZS_MAX_ALLOC_SIZE, "live %#lx: size %zu", h, size);
		off = zt_check_handle(pool, h, size, SEED);
		cr_assert_eq(off, -1, "live %#lx (size %zu) damaged at %ld", h, size, off);
		live++;
		bytes += size;
	}
	zs_pool_stats(pool, &st);
	cr_log_info("%lu live objects, %lu bytes, %lu pages, %lu pages compacted", live, bytes,
		    st.pages_used, st.pages_compacted);
	cr_assert_eq(st.objs_used, live, "objs_used %lu, %lu live handles", st.objs_used, live);
	cr_assert_eq(st.bytes_used, bytes, "bytes_used %lu, live objects hold %lu", st.bytes_used,
		     bytes);
	zt_assert_pool_consistent(pool, live, bytes);
	if (!auto_compact)
		cr_assert_eq(st.pages_compacted, freed, "pages_compacted %lu, compactors freed %lu",
			     st.pages_compacted, freed);
	if (ncompactors)
		cr_assert_gt(st.pages_compacted, 0,
			     "compaction never freed a page while workers freed most objects in "
			     "their shrink phases");

	for (i = 0; i < NSLOTS; i++) {
		unsigned long h = atomic_load(&sh->slot[i]);

		if (h)
			cr_assert_eq(zs_free(pool, h), 0);
	}
	zt_assert_pool_consistent(pool, 0, 0);
	cr_assert_eq(zs_get_total_pages(pool), 0);
	free(w);
	free(sh);
}

/*
 * Maps racing one big compaction: a fragmented pool (3/4 of its objects freed at random)
 * is compacted by the main thread while mapper threads map random survivors, check their
 * payload, map them again (the object must not have moved while mapped), check again and
 * unmap; and the same with zs_obj_read_begin() holding the object.  Nobody frees during the
 * compaction, so the survivors are all live throughout.
 */
struct mapper {
	pthread_t t;
	struct zs_pool *pool;
	const unsigned long *h;
	const uint32_t *size;
	size_t n;
	atomic_int *stop;
	struct zt_rng r;
	unsigned long maps, errors, first_h;
	long first_off;
	enum bad_kind first_kind;
};

static void mbad(struct mapper *m, enum bad_kind kind, unsigned long h, long off)
{
	if (!m->errors++) {
		m->first_kind = kind;
		m->first_h = h;
		m->first_off = off;
	}
}

static void *mapper_main(void *arg)
{
	struct mapper *m = arg;

	do {
		size_t i = zt_below(&m->r, m->n);
		unsigned long h = m->h[i];
		unsigned char *p, *again;
		long off;

		if (!h)
			continue;
		p = zs_map_object(m->pool, h, ZS_MM_RO);
		if (!p) {
			mbad(m, BAD_MAP, h, 0);
			continue;
		}
		off = zt_check(p, h, m->size[i], SEED);
		if (off != -1)
			mbad(m, BAD_DATA, h, off);
		again = zs_map_object(m->pool, h, ZS_MM_RO);
		if (again != p)
			mbad(m, BAD_MOVED, h, (long)(again - p));
		off = zt_check(p, h, m->size[i], SEED);
		if (off != -1)
			mbad(m, BAD_DATA, h, off);
		if (again)
			zs_unmap_object(m->pool, h);
		zs_unmap_object(m->pool, h);
		m->maps++;

		/* zs_obj_read_begin() holds the object in place until zs_obj_read_end() */
		i = zt_below(&m->r, m->n);
		h = m->h[i];
		if (!h)
			continue;
		p = zs_obj_read_begin(m->pool, h, NULL);
		if (!p) {
			mbad(m, BAD_READ, h, 0);
			continue;
		}
		again = zs_map_object(m->pool, h, ZS_MM_RO);
		if (again != p)
			mbad(m, BAD_MOVED, h, (long)(again - p));
		off = zt_check(p, h, m->size[i], SEED);
		if (off != -1)
			mbad(m, BAD_DATA, h, off);
		if (again)
			zs_unmap_object(m->pool, h);
		zs_obj_read_end(m->pool, h, p);
	} while (!atomic_load(m->stop));
	return NULL;
}

Test(threads, maps_racing_compaction, .timeout = 120)
{
	enum { N = 60000, ROUNDS = 24, NMAPPERS = 3 };
	struct zs_pool *pool = zt_pool(0, ZS_POOL_NO_PACK, 0);
	unsigned long *h = calloc(N, sizeof(*h)), live = 0, bytes = 0;
	uint32_t *size = calloc(N, sizeof(*size));
	struct mapper m[NMAPPERS];
	atomic_int stop;
	struct zt_rng r;
	unsigned int round, k;
	size_t i;

	cr_assert(h && size);
	zt_rng_seed(&r, 77);
	for (round = 0; round < ROUNDS; round++) {
		unsigned long freed, maps = 0;

		/* top up, then free 3/4 at random */
		for (i = 0; i < N; i++) {
			if (h[i])
				continue;
			size[i] = zt_rand_size(&r);
			h[i] = zt_alloc_stamped(pool, size[i], SEED);
			cr_assert_neq(h[i], 0);
		}
		for (i = 0; i < N; i++) {
			if (zt_below(&r, 4)) {
				cr_assert_eq(zs_free(pool, h[i]), 0);
				h[i] = 0;
			}
		}

		atomic_store(&stop, 0);
		memset(m, 0, sizeof(m));
		for (k = 0; k < NMAPPERS; k++) {
			m[k].pool = pool;
			m[k].h = h;
			m[k].size = size;
			m[k].n = N;
			m[k].stop = &stop;
			zt_rng_seed(&m[k].r, round * 16 + k);
			cr_assert_eq(pthread_create(&m[k].t, NULL, mapper_main, &m[k]), 0);
		}
		freed = zs_compact(pool);
		atomic_store(&stop, 1);
		for (k = 0; k < NMAPPERS; k++)
			pthread_join(m[k].t, NULL);
		for (k = 0; k < NMAPPERS; k++) {
			cr_assert_eq(
			    m[k].errors, 0,
			    "round %u mapper %u: %lu errors, first: %s, handle %#lx (offset %ld)",
			    round, k, m[k].errors, bad_name[m[k].first_kind], m[k].first_h,
			    m[k].first_off);
			maps += m[k].maps;
		}
		cr_log_info("round %u: compaction freed %lu pages during %lu maps", round, freed,
			    maps);
		cr_assert_gt(freed, 0, "round %u: nothing compacted", round);
	}
	for (i = 0; i < N; i++) {
		if (!h[i])
			continue;
		cr_assert_eq(zt_check_handle(pool, h[i], size[i], SEED), -1);
		live++;
		bytes += size[i];
	}
	zt_assert_pool_consistent(pool, live, bytes);
	for (i = 0; i < N; i++)
		if (h[i])
			cr_assert_eq(zs_free(pool, h[i]), 0);
	zt_assert_pool_consistent(pool, 0, 0);
	free(h);
	free(size);
	zs_destroy_pool(pool);
}

Test(threads, four_workers_one_compactor, .timeout = 120)
{
	struct zs_pool *pool = zs_create_pool("stress1");

	cr_assert_not_null(pool);
	stress(pool, 1, 400000, false);
	zs_destroy_pool(pool);
}

Test(threads, four_workers_two_compactors, .timeout = 120)
{
	struct zs_pool *pool = zt_pool(4, ZS_POOL_NO_PACK, 0);

	stress(pool, 2, 400000, false);
	zs_destroy_pool(pool);
}

Test(threads, four_workers_auto_compaction, .timeout = 120)
{
	struct zs_pool *pool = zt_pool(0, 0, 4);

	stress(pool, 0, 400000, true);
	zs_destroy_pool(pool);
}

/* ---- zs_free and mappings of neighbouring objects ---- */

#define HOLD_SIZE 200 /* one class for every thread, so their objects share zspages */

struct holder {
	pthread_t t;
	struct zs_pool *pool;
	atomic_int *stop;
	struct zt_rng r;
	atomic_ulong rounds, failures; /* read by the main thread while it runs */
	unsigned long not_refused;
};

/* Map a new object and hold it among a few others; a free while mapped must be refused. */
static void *holder_main(void *arg)
{
	enum { HELD = 4 };
	struct holder *m = arg;
	unsigned long held[HELD] = {0};

	while (!atomic_load(m->stop)) {
		unsigned int k = (unsigned int)zt_below(&m->r, HELD);
		unsigned long h = zt_alloc_stamped(m->pool, HOLD_SIZE, SEED);
		void *p = h ? zs_map_object(m->pool, h, ZS_MM_RO) : NULL;

		if (!p) {
			m->failures++;
			break;
		}
		if (zs_free(m->pool, h) != -EBUSY)
			m->not_refused++;
		if (zt_check(p, h, HOLD_SIZE, SEED) != -1)
			m->failures++;
		if (held[k]) {
			zs_unmap_object(m->pool, held[k]);
			if (zs_free(m->pool, held[k]))
				m->failures++;
		}
		held[k] = h;
		m->rounds++;
	}
	for (unsigned int k = 0; k < HELD; k++) {
		if (!held[k])
			continue;
		zs_unmap_object(m->pool, held[k]);
		if (zs_free(m->pool, held[k]))
			m->failures++;
	}
	return NULL;
}

struct churner {
	pthread_t t;
	struct zs_pool *pool;
	atomic_int *stop;
	struct zt_rng r;
	unsigned long frees, failures;
};

/* Allocate and free objects nobody maps: every free must succeed. */
static void *churner_main(void *arg)
{
	enum { OWN = 256 };
	struct churner *c = arg;
	unsigned long own[OWN] = {0};

	while (!atomic_load(c->stop)) {
		unsigned long *h = &own[zt_below(&c->r, OWN)];

		if (*h) {
			if (zs_free(c->pool, *h))
				c->failures++;
			c->frees++;
			*h = 0;
		} else if (!(*h = zs_malloc(c->pool, HOLD_SIZE))) {
			c->failures++;
		}
	}
	for (int i = 0; i < OWN; i++)
		if (own[i] && zs_free(c->pool, own[i]))
			c->failures++;
	return NULL;
}

Test(threads, free_refuses_only_mapped_objects, .timeout = 120)
{
	enum { NCHURN = 3 };
	struct zs_pool *pool = zs_create_pool("free-mapped-threads");
	static struct shared sh; /* for compactor_main: the pool and the stop flag */
	struct compactor comp = {.sh = &sh};
	struct churner c[NCHURN];
	struct holder m = {.pool = pool, .stop = &sh.stop};
	unsigned long frees = 0;

	cr_assert_not_null(pool);
	sh.pool = pool;
	zt_rng_seed(&m.r, 1);
	for (int i = 0; i < NCHURN; i++) {
		c[i] = (struct churner){.pool = pool, .stop = &sh.stop};
		zt_rng_seed(&c[i].r, 10 + i);
		cr_assert_eq(pthread_create(&c[i].t, NULL, churner_main, &c[i]), 0);
	}
	cr_assert_eq(pthread_create(&m.t, NULL, holder_main, &m), 0);
	cr_assert_eq(pthread_create(&comp.t, NULL, compactor_main, &comp), 0);
	while (zs_get_total_pages(pool) == 0 || m.rounds < 20000) {
		if (m.failures)
			break;
		sched_yield();
	}
	atomic_store(&sh.stop, 1);
	pthread_join(m.t, NULL);
	pthread_join(comp.t, NULL);
	cr_assert_eq(comp.errors, 0, "the compactor saw %lu bad statistics", comp.errors);
	for (int i = 0; i < NCHURN; i++) {
		pthread_join(c[i].t, NULL);
		cr_assert_eq(c[i].failures, 0,
			     "churner %d: %lu of %lu frees of unmapped objects failed", i,
			     c[i].failures, c[i].frees);
		frees += c[i].frees;
	}
	cr_assert_eq(m.failures, 0, "the holder failed %lu times", m.failures);
	cr_assert_eq(m.not_refused, 0, "%lu of %lu frees of a just-mapped object were not refused",
		     m.not_refused, m.rounds);
	cr_log_info("%lu mapped objects refused, %lu neighbours freed", m.rounds, frees);
	zs_compact(pool);
	zt_assert_pool_consistent(pool, 0, 0);
	cr_assert_eq(zs_get_total_pages(pool), 0, "%lu pages held after freeing all",
		     zs_get_total_pages(pool));
	zs_destroy_pool(pool);
}
