/*
 * handle.c - the handle table: the indirection that lets compaction move objects while the
 * handles users hold stay valid, and that rejects stale or foreign handles.
 *
 * The table is one address-space reservation, so entries never move and lock-free readers may
 * load any entry below htab_top.  Free indexes live on a global list threaded through the free
 * entries (pool->handle_lock), and each class keeps a magazine of up to ZS_MAG_SIZE of them
 * under its own lock, so allocation and free in the common case touch no shared lock.
 * Generations: an entry keeps its generation while free; the next owner gets the next one, so
 * a freed handle no longer matches even after its index is reused.
 *
 * Caller contracts: handle_get/handle_put need class->lock; handle_lookup needs no lock.
 */
#include <errno.h>

#include "zs_internal.h"

int handle_table_init(struct zs_pool *pool)
{
	pool->htab = zs_os_reserve((size_t)ZS_MAX_HANDLES * sizeof(uint64_t));
	if (!pool->htab)
		return -ENOMEM;
	pthread_mutex_init(&pool->handle_lock, NULL);
	pool->htab_top = 1; /* index 0 is never issued */
	pool->hfree = 0;
	return 0;
}

void handle_table_fini(struct zs_pool *pool)
{
	zs_os_unreserve((void *)pool->htab, (size_t)ZS_MAX_HANDLES * sizeof(uint64_t));
	pthread_mutex_destroy(&pool->handle_lock);
}

/* Move half a magazine's worth of indexes between the global list and @class. */
static void refill_magazine(struct zs_pool *pool, struct size_class *class)
{
	pthread_mutex_lock(&pool->handle_lock);
	while (class->mag_n < ZS_MAG_REFILL) {
		uint32_t idx = pool->hfree;

		if (idx) {
			pool->hfree = he_next(atomic_load_explicit(&pool->htab[idx], memory_order_relaxed));
		} else {
			if (pool->htab_top >= ZS_MAX_HANDLES)
				break;
			idx = pool->htab_top;
			/* A fresh entry reads as zero: free, generation 0. */
			__atomic_store_n(&pool->htab_top, idx + 1, __ATOMIC_RELEASE);
		}
		class->mag[class->mag_n++] = idx;
	}
	pthread_mutex_unlock(&pool->handle_lock);
}

static void drain_magazine(struct zs_pool *pool, struct size_class *class)
{
	pthread_mutex_lock(&pool->handle_lock);
	while (class->mag_n > ZS_MAG_SIZE / 2) {
		uint32_t idx = class->mag[--class->mag_n];
		uint64_t e = atomic_load_explicit(&pool->htab[idx], memory_order_relaxed);

		atomic_store_explicit(&pool->htab[idx], he_make_free(he_gen(e), pool->hfree),
				      memory_order_relaxed);
		pool->hfree = idx;
	}
	pthread_mutex_unlock(&pool->handle_lock);
}

bool handle_get(struct zs_pool *pool, struct size_class *class, uint32_t *idx)
{
	if (!class->mag_n) {
		refill_magazine(pool, class);
		if (!class->mag_n)
			return false;
	}
	*idx = class->mag[--class->mag_n];
	return true;
}

/* The entry must already be marked free (with its generation) by the caller. */
void handle_put(struct zs_pool *pool, struct size_class *class, uint32_t idx)
{
	if (class->mag_n == ZS_MAG_SIZE)
		drain_magazine(pool, class);
	class->mag[class->mag_n++] = idx;
}

/*
 * Resolve a user handle to its live entry.  False (and errno EINVAL) when the handle was not
 * issued by this pool, or its object has been freed.
 */
bool handle_lookup(struct zs_pool *pool, unsigned long handle, uint64_t *entry)
{
	uint32_t idx = handle_idx(handle);

	if (handle_tag(handle) != pool->tag || idx == 0 ||
	    idx >= __atomic_load_n(&pool->htab_top, __ATOMIC_ACQUIRE))
		goto bad;
	uint64_t e = atomic_load_explicit(&pool->htab[idx], memory_order_acquire);
	if (!he_live(e) || he_gen(e) != handle_gen(handle))
		goto bad;
	*entry = e;
	return true;
bad:
	errno = EINVAL;
	return false;
}

/* Resident bytes of the handle table: every entry ever handed out stays resident. */
unsigned long handle_table_bytes(struct zs_pool *pool)
{
	size_t top = __atomic_load_n(&pool->htab_top, __ATOMIC_RELAXED);

	return (top * sizeof(uint64_t) + ZS_PAGE_SIZE - 1) & ~(ZS_PAGE_SIZE - 1);
}
