/*
 * pool.c - creating and destroying a pool, and the calls that only read its parameters.
 *
 * Creation is a list of steps, each all-or-nothing; one destructor undoes the steps that were
 * done, last first.  zs_destroy_pool and a creation that fails half-way both use it, so no
 * resource is released twice or left behind, and no lock is destroyed that was never made.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "debug.h"
#include "handle.h"
#include "pool.h"
#include "size_class.h"
#include "tcache.h"
#include "zspage.h"

enum pool_step {
	STEP_NAME,
	STEP_HANDLES, /* the pool tag and the handle table */
	STEP_CLASSES, /* the class table, each class's lock and huge-page cache */
	STEP_VM,      /* the descriptor table and id bitmap; arenas come later, on demand */
	STEP_COMPACT_LOCK,
	STEP_DEBUG, /* DEBUG=1 only: the validators' own state */
	NR_STEPS,
};

static int do_step(struct zs_pool *pool, enum pool_step step, const char *name, uint32_t max_pages)
{
	switch (step) {
	case STEP_NAME:
		pool->name = strdup(name ? name : "");
		return pool->name ? 0 : -ENOMEM;
	case STEP_HANDLES:
		return zsi_handles_init(&pool->handles);
	case STEP_CLASSES:
		return zsi_classes_init(&pool->classes, max_pages);
	case STEP_VM:
		return zsi_vm_init(&pool->vm);
	case STEP_COMPACT_LOCK:
		return -pthread_mutex_init(&pool->compact_lock, NULL);
	case STEP_DEBUG:
		return zsi_debug_init(pool);
	case NR_STEPS:
		break;
	}
	return 0;
}

static void undo_step(struct zs_pool *pool, enum pool_step step)
{
	switch (step) {
	case STEP_NAME:
		free(pool->name);
		break;
	case STEP_HANDLES:
		zsi_handles_fini(&pool->handles);
		break;
	case STEP_CLASSES:
		zsi_classes_fini(&pool->classes);
		break;
	case STEP_VM:
		zsi_zspages_fini(pool); /* their bitmaps, before the descriptors go */
		zsi_vm_fini(&pool->vm);
		break;
	case STEP_COMPACT_LOCK:
		pthread_mutex_destroy(&pool->compact_lock);
		break;
	case STEP_DEBUG:
		zsi_debug_fini(pool);
		break;
	case NR_STEPS:
		break;
	}
}

/* The one destructor: undo steps [0, @done) in reverse order, then free the pool. */
static void pool_destroy(struct zs_pool *pool, enum pool_step done)
{
	for (; done > 0; done--)
		undo_step(pool, done - 1);
	free(pool);
}

ZS_API struct zs_pool *zs_create_pool_opts(const char *name, const struct zs_pool_opts *opts)
{
	struct zs_pool_opts o = opts ? *opts : (struct zs_pool_opts){0};

	if (o.max_pages_per_zspage > ZS_MAX_PAGES_PER_ZSPAGE || o.pack_bytes > ZS_MAX_PACK_BYTES ||
	    (o.flags & ~(ZS_POOL_NO_PACK | ZS_POOL_NO_TCACHE))) {
		errno = EINVAL;
		return NULL;
	}
	struct zs_pool *pool = calloc(1, sizeof(*pool));
	if (!pool)
		goto nomem;
	pool->pack_bytes = (o.flags & ZS_POOL_NO_PACK) ? 0
			   : o.pack_bytes	       ? o.pack_bytes
						       : ZS_DEFAULT_PACK_BYTES;
	pool->auto_compact_pages = o.auto_compact_pages;
	pool->no_tcache = o.flags & ZS_POOL_NO_TCACHE;
	uint32_t max_pages =
	    o.max_pages_per_zspage ? o.max_pages_per_zspage : ZS_DEFAULT_PAGES_PER_ZSPAGE;
	for (enum pool_step s = 0; s < NR_STEPS; s++) {
		if (do_step(pool, s, name, max_pages)) {
			pool_destroy(pool, s);
			goto nomem; /* every step fails only for want of memory (or of pool tags) */
		}
	}
	zs_store_relaxed(&pool->heap_bytes, sizeof(*pool) + zsi_classes_bytes(&pool->classes));
	zsi_debug_check_pool(pool);
	return pool;
nomem:
	errno = ENOMEM;
	return NULL;
}

ZS_API struct zs_pool *zs_create_pool(const char *name)
{
	return zs_create_pool_opts(name, NULL);
}

ZS_API void zs_destroy_pool(struct zs_pool *pool)
{
	if (!pool)
		return;
	zsi_debug_check_pool(pool);
	zsi_tcache_pool_fini(pool);
	pool_destroy(pool, NR_STEPS);
}

ZS_API const char *zs_pool_name(struct zs_pool *pool)
{
	return pool ? pool->name : "";
}

ZS_API size_t zs_huge_class_size(struct zs_pool *pool)
{
	return pool ? pool->classes.huge_size : 0;
}

ZS_API int zs_lookup_class_index(struct zs_pool *pool, size_t size)
{
	if (!pool || size == 0 || size > ZS_MAX_ALLOC_SIZE)
		return -EINVAL;
	return (int)class_for_size(&pool->classes, size)->index;
}
