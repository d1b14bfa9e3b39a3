/*
 * stress_zs.c - a plain multi-thread stress driver for libzs, for the thread sanitizer
 * (Criterion cannot start under TSan) and for long soak runs: 4 workers allocate stamped
 * objects, trade them through an atomic array, verify and free what they take, while two
 * threads compact and the pool compacts itself.  Exit status 0 only when every object checked
 * out and the pool ends empty.  Build and run: make tsan.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <zs/zsmalloc.h>

#define SLOTS 4096
#define WORKERS 4
#define COMPACTORS 2

static struct zs_pool *pool;
static _Atomic unsigned long shared[SLOTS];
static atomic_int stop;
static atomic_long errors;
static long iterations = 200000;

static void stamp(unsigned long h, size_t n, unsigned char *p)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(h * 31 + i);
}

static int intact(unsigned long h, size_t n, const unsigned char *p)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(h * 31 + i))
			return 0;
	return 1;
}

/* Check and free a handle taken out of the shared array. */
static void retire(unsigned long h)
{
	size_t n = zs_obj_size(pool, h);
	const unsigned char *q = zs_map_object(pool, h, ZS_MM_RO);

	if (!q || !n || !intact(h, n, q))
		errors++;
	if (q)
		zs_unmap_object(pool, h);
	if (zs_free(pool, h))
		errors++;
}

static void *worker(void *arg)
{
	unsigned int seed = (unsigned int)(long)arg;

	for (long it = 0; it < iterations; it++) {
		size_t n = 1 + rand_r(&seed) % 4096;
		unsigned long h = zs_malloc(pool, n);
		if (!h) {
			errors++;
			continue;
		}
		unsigned char *p = zs_map_object(pool, h, ZS_MM_WO);
		stamp(h, n, p);
		zs_unmap_object(pool, h);
		unsigned long old = atomic_exchange(&shared[rand_r(&seed) % SLOTS], h);
		if (old)
			retire(old);
		if (rand_r(&seed) % 4 == 0) {
			old = atomic_exchange(&shared[rand_r(&seed) % SLOTS], 0);
			if (old)
				retire(old);
		}
	}
	return NULL;
}

static void *compactor(void *arg)
{
	(void)arg;
	while (!stop)
		zs_compact(pool);
	return NULL;
}

int main(int argc, char **argv)
{
	struct zs_pool_opts opts = { .auto_compact_pages = 64 };
	pthread_t w[WORKERS], c[COMPACTORS];
	struct zs_pool_stats st;

	if (argc > 1)
		iterations = atol(argv[1]);
	pool = zs_create_pool_opts("stress", &opts);
	if (!pool)
		return 1;
	for (long i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < COMPACTORS; i++)
		pthread_create(&c[i], NULL, compactor, NULL);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	stop = 1;
	for (int i = 0; i < COMPACTORS; i++)
		pthread_join(c[i], NULL);
	for (int k = 0; k < SLOTS; k++)
		if (shared[k])
			retire(shared[k]);
	zs_pool_stats(pool, &st);
	printf("stress_zs: %ld errors; after freeing all: %lu objects, %lu pages, %lu compacted\n",
	       (long)errors, st.objs_used, st.pages_used, st.pages_compacted);
	zs_destroy_pool(pool);
	return errors || st.objs_used || st.pages_used;
}
