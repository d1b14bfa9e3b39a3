/*
 * stress_zs.c - a bounded multi-thread stress run of libzs, a plain program (no Criterion) so that
 * it also runs under the thread sanitizer.
 *
 *   stress_zs [SECONDS]     default 3 seconds
 *
 * Objects are stamped: byte 0 holds a version, every other byte follows from (handle, version,
 * offset).  Each object travels with a record of its handle, size and current version, so
 * whoever holds it checks the whole payload and that it is the latest version (a lost rewrite,
 * or a compaction that moved an old copy, fails) on every read.  Four workers allocate objects
 * (written through zs_map_object or zs_obj_write), trade them through a shared table of atomic
 * slots, and on whatever they take out: check it (through zs_map_object or zs_obj_read_begin)
 * and its zs_obj_size, rewrite it with the next version (in place through a ZS_MM_RW mapping or
 * with zs_obj_write), or free it and check that the stale handle is refused (zs_free -EINVAL,
 * zs_map_object NULL).  Meanwhile two threads compact without pause, the pool compacts itself
 * (auto_compact_pages), and one thread reads the statistics.  A watchdog ends a run that
 * outlives its time by two minutes.
 *
 * Exit status 0 only when every check passed and the pool ends empty, with no page in use.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zs/zsmalloc.h>

#include "stress.h"

#define SLOTS	   4096
#define WORKERS	   4
#define COMPACTORS 2

/* An object and what its payload must be. */
struct held {
	unsigned long h;
	size_t size;
	unsigned char ver;
};

static struct zs_pool *pool;
static _Atomic(struct held *) shared[SLOTS];
static atomic_int stop;
static atomic_long errors;
static struct {
	atomic_long allocs, reads, rewrites, frees, compactions, pages_compacted;
} counts;

#define fail(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "stress_zs: " __VA_ARGS__);                                        \
		fputc('\n', stderr);                                                               \
		errors++;                                                                          \
	} while (0)

static unsigned char stamp_byte(unsigned long h, unsigned ver, size_t i)
{
	return (unsigned char)(h * 31 + ver * 7 + i);
}

static void stamp(unsigned char *p, unsigned long h, unsigned char ver, size_t n)
{
	p[0] = ver;
	for (size_t i = 1; i < n; i++)
		p[i] = stamp_byte(h, ver, i);
}

/* Whether @p is the payload of version @ver of @h. */
static bool stamped(const unsigned char *p, unsigned long h, unsigned char ver, size_t n)
{
	if (p[0] != ver)
		return false;
	for (size_t i = 1; i < n; i++)
		if (p[i] != stamp_byte(h, ver, i))
			return false;
	return true;
}

/* Read and check the object through one of the two read paths. */
static void read_obj(const struct held *o, uint64_t r)
{
	unsigned char *p;
	bool ok;

	counts.reads++;
	if (r & 1) {
		p = zs_map_object(pool, o->h, ZS_MM_RO);
		if (!p) {
			fail("zs_map_object of a held handle failed");
			return;
		}
		ok = stamped(p, o->h, o->ver, o->size);
		zs_unmap_object(pool, o->h);
	} else {
		p = zs_obj_read_begin(pool, o->h, NULL);
		if (!p) {
			fail("zs_obj_read_begin of a held handle failed");
			return;
		}
		ok = stamped(p, o->h, o->ver, o->size);
		zs_obj_read_end(pool, o->h, p);
	}
	if (!ok)
		fail("handle %#lx (%zu bytes): payload damaged or not version %u", o->h, o->size,
		     o->ver);
	if (zs_obj_size(pool, o->h) != o->size)
		fail("handle %#lx: zs_obj_size %zu, allocated %zu", o->h, zs_obj_size(pool, o->h),
		     o->size);
}

/* Check and free an object taken out of the shared table; its stale handle must be refused. */
static void retire(struct held *o, uint64_t r)
{
	read_obj(o, r);
	if (zs_free(pool, o->h))
		fail("zs_free of a held handle failed");
	counts.frees++;
	if (r & 2) {
		/* another thread may get the same table entry meanwhile, never the same handle */
		if (zs_free(pool, o->h) != -EINVAL)
			fail("a freed handle was freed again");
		if (zs_map_object(pool, o->h, ZS_MM_RO) || errno != EINVAL)
			fail("a freed handle was mapped");
	}
	free(o);
}

/* Rewrite the object with the next version, in place or with zs_obj_write, and read it back. */
static void rewrite(struct held *o, uint64_t r)
{
	unsigned char next = (unsigned char)(o->ver + 1);

	counts.rewrites++;
	if (r & 4) {
		unsigned char *p = zs_map_object(pool, o->h, ZS_MM_RW);
		if (!p) {
			fail("zs_map_object(RW) of a held handle failed");
			return;
		}
		if (!stamped(p, o->h, o->ver, o->size))
			fail("handle %#lx changed while held", o->h);
		stamp(p, o->h, next, o->size);
		zs_unmap_object(pool, o->h);
	} else {
		unsigned char buf[ZS_MAX_ALLOC_SIZE];
		stamp(buf, o->h, next, o->size);
		if (zs_obj_write(pool, o->h, buf, o->size)) {
			fail("zs_obj_write of a held handle failed");
			return;
		}
	}
	o->ver = next;
	read_obj(o, r >> 3);
}

/* A new object of @size, stamped as version 0; NULL on failure. */
static struct held *new_obj(size_t size, uint64_t r)
{
	struct held *o = malloc(sizeof(*o));

	if (!o)
		return NULL;
	*o = (struct held){.h = zs_malloc(pool, size), .size = size};
	if (!o->h) {
		fail("zs_malloc(%zu): errno %d", size, errno);
		free(o);
		return NULL;
	}
	counts.allocs++;
	if (r & 1) {
		unsigned char *p = zs_map_object(pool, o->h, ZS_MM_WO);
		if (!p) {
			fail("zs_map_object(WO) of a new handle failed");
		} else {
			stamp(p, o->h, 0, size);
			zs_unmap_object(pool, o->h);
		}
	} else {
		unsigned char buf[ZS_MAX_ALLOC_SIZE];
		stamp(buf, o->h, 0, size);
		if (zs_obj_write(pool, o->h, buf, size))
			fail("zs_obj_write of a new handle failed");
	}
	return o;
}

static void *worker(void *arg)
{
	uint64_t rnd = (uintptr_t)arg * 1000003;

	while (!stop) {
		uint64_t r = tu_mix64(rnd++);
		unsigned op = (unsigned)(r >> 40) % 100;
		_Atomic(struct held *) *slot = &shared[(r >> 16) % SLOTS];
		struct held *o, *old;

		if (op < 40) {
			o = new_obj(1 + (r >> 4) % ZS_MAX_ALLOC_SIZE, r);
			if (!o)
				continue;
		} else if (op < 75) {
			/* borrow: check, maybe rewrite, put back */
			o = atomic_exchange(slot, NULL);
			if (!o)
				continue;
			read_obj(o, r >> 8);
			if (r & (1ULL << 20))
				rewrite(o, r >> 21);
		} else {
			o = atomic_exchange(slot, NULL);
			if (o)
				retire(o, r >> 8);
			continue;
		}
		old = atomic_exchange(slot, o);
		if (old)
			retire(old, r >> 8);
	}
	return NULL;
}

static void *compactor(void *arg)
{
	(void)arg;
	while (!stop) {
		counts.pages_compacted += (long)zs_compact(pool);
		counts.compactions++;
	}
	return NULL;
}

static void *stats_reader(void *arg)
{
	(void)arg;
	while (!stop) {
		struct zs_pool_stats st;
		struct zs_class_stats cs;
		unsigned nr = zs_nr_classes(pool);

		zs_pool_stats(pool, &st);
		if (st.objs_used > st.objs_allocated + SLOTS)
			fail("objs_used %lu > objs_allocated %lu", st.objs_used, st.objs_allocated);
		for (unsigned i = 0; i < nr; i++)
			if (zs_class_stats(pool, i, &cs))
				fail("zs_class_stats(%u) failed", i);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	struct zs_pool_opts opts = {.auto_compact_pages = 64};
	pthread_t w[WORKERS], c[COMPACTORS], s;
	struct zs_pool_stats st;
	struct timespec ts;

	stress_watchdog((unsigned)seconds + 120, "stress_zs: still running two minutes after its "
						 "time: a deadlock?\n");
	pool = zs_create_pool_opts("stress", &opts);
	if (!pool)
		return 2;
	for (long i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < COMPACTORS; i++)
		pthread_create(&c[i], NULL, compactor, NULL);
	pthread_create(&s, NULL, stats_reader, NULL);
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	stop = 1;
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < COMPACTORS; i++)
		pthread_join(c[i], NULL);
	pthread_join(s, NULL);
	for (int k = 0; k < SLOTS; k++)
		if (shared[k])
			retire(shared[k], (uint64_t)k);
	zs_compact(pool);
	zs_pool_stats(pool, &st);
	printf("stress_zs: %.1f s, %ld errors: %ld allocs, %ld reads, %ld rewrites, %ld frees, "
	       "%ld compactions freed %ld pages; after freeing all: %lu objects, %lu pages\n",
	       seconds, (long)errors, (long)counts.allocs, (long)counts.reads,
	       (long)counts.rewrites, (long)counts.frees, (long)counts.compactions,
	       (long)counts.pages_compacted, st.objs_used, st.pages_used);
	zs_destroy_pool(pool);
	return errors || st.objs_used || st.pages_used;
}
