/*
 * zsmalloc.c - the object calls: zs_malloc, zs_free, zs_obj_size and the mapping calls
 * (zs_map_object, zs_unmap_object, zs_obj_read_begin/end, zs_obj_write), which take no lock
 * (in a DEBUG=1 build, the object's class lock, to count mappings).
 * They put the parts together: a handle index from the class's magazine (handle.c), a slot of
 * the fullest zspage (fullness.c, zspage.c) or a page of its own (huge.c), and last the entry
 * that names it.  Before that, zs_malloc and zs_free try the thread's cache of free slots
 * (tcache.h): a freed object's handle index, with its slot, waits there for the next object of
 * its class, and neither call takes a lock.  Creating and destroying a pool is pool.c's;
 * compaction is compact.c's.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "arena.h"
#include "compact.h"
#include "debug.h"
#include "fullness.h"
#include "handle.h"
#include "huge.h"
#include "pool.h"
#include "tcache.h"
#include "zspage.h"

/* ---- allocation ---- */

/*
 * Cross-class packing at allocation: when @class would have to make a new page resident,
 * look for an already resident free slot in a slightly larger class.  Called with
 * class->lock held; takes the larger classes' locks (allowed by the lock order) with trylock,
 * since a busy neighbour is not worth waiting for.  Returns the zspage with its class locked
 * (*@owner), or NULL.
 */
static struct zspage *spill_target(struct zs_pool *pool, struct size_class *class,
				   struct size_class **owner)
{
	struct size_class *end = pool->classes.v + pool->classes.nr;
	/*
	 * A quarter of the compaction distance: spilling further takes resident slots the
	 * larger classes' own objects would have used, and fill waste went up in measurement
	 * (64 MiB text corpus, pages/stored: 1.0191 at 16 bytes, 1.0223 at 64).
	 */
	uint32_t reach =
	    pool->pack_bytes / 4 < ZS_SIZE_CLASS_DELTA ? ZS_SIZE_CLASS_DELTA : pool->pack_bytes / 4;

	for (struct size_class *c = class + 1; c < end && !c->huge; c++) {
		if (c->size - class->size > reach)
			break;
		/* An unlocked peek, only to skip classes with nothing to offer. */
		uint32_t mask =
		    zs_load_relaxed(&c->list_mask) & ~(1U << ZS_FULL) & ~(1U << ZS_EMPTY);
		if (!mask || pthread_mutex_trylock(&c->lock))
			continue;
		struct zspage *z = zsi_class_resident_slot(&pool->vm.desc, c);
		if (z) {
			*owner = c;
			return z;
		}
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

/* The entry @hidx gets next: its place and size, with the generation after its current one. */
static inline uint32_t next_gen(struct zs_pool *pool, uint32_t hidx)
{
	return he_next_gen(zs_load_relaxed(handle_entry(&pool->handles, hidx)));
}

/* Count the object @e of @size bytes in @class and publish it as index @hidx: the handle. */
static inline unsigned long publish(struct zs_pool *pool, struct size_class *class, uint32_t hidx,
				    uint64_t e, size_t size)
{
	cnt_add_locked(class->obj_used, 1);
	cnt_add_locked(class->bytes_used, size);
	zs_store_release(handle_entry(&pool->handles, hidx), e);
	return handle_make(pool->handles.tag, he_gen(e), hidx);
}

/* Place handle index @hidx of @size bytes into the lowest free slot of @z. */
static inline unsigned long place_object(struct zs_pool *pool, struct size_class *class,
					 struct zspage *z, uint32_t hidx, size_t size)
{
	uint32_t slot = zsi_slot_alloc(pool, class, z);

	return publish(pool, class, hidx,
		       he_make(zspage_id(pool, z), slot, size, next_gen(pool, hidx)), size);
}

#if ZS_DEBUG
static struct size_class *lock_owner(struct zs_pool *pool, unsigned long handle, uint64_t *entry);
#endif

/*
 * The object of @size bytes in a slot of @class from the thread's cache: its handle, or 0 when
 * the cache has none (or a drainer holds the gate).  The slot's entry still names it.
 */
static inline unsigned long cached_malloc(struct zs_pool *pool, struct size_class *class,
					  size_t size)
{
	if (pool->no_tcache)
		return 0;
	struct zs_tcache *c = tcache_of(pool);
	unsigned long handle = 0;

	if (!c || !tcache_enter(c, &pool->tc))
		return 0;
	struct tc_bin *b = &c->bins[class->nth];
	uint32_t n = zs_load_relaxed(&b->n);
	if (n) {
		uint32_t hidx = b->idx[n - 1];
		_Atomic uint64_t *ent = handle_entry(&pool->handles, hidx);
		uint64_t e = zs_load_relaxed(ent);
		uint64_t live = he_make(he_id(e), he_slot(e), size, he_next_gen(e));

		zs_store_release(ent, live);
		zs_store_relaxed(&b->n, n - 1);
		zs_store_relaxed(&b->bytes, zs_load_relaxed(&b->bytes) + (long)size);
		handle = handle_make(pool->handles.tag, he_gen(live), hidx);
	}
	tcache_leave(c);
#if ZS_DEBUG
	if (handle) {
		/* Under its owner's lock now: once out of the gate, a compaction may have moved it
		 * (packing: into another class). */
		uint64_t e;
		struct size_class *owner = lock_owner(pool, handle, &e);

		if (owner) {
			zsi_debug_check_object(pool, owner, handle_idx(handle));
			zsi_debug_check_change(pool, owner, zspage_of(pool, he_id(e)));
			pthread_mutex_unlock(&owner->lock);
		}
		zsi_debug_tick(pool);
	}
#endif
	return handle;
}

/* zs_malloc under the class lock.  Out of line, so the cached path saves no registers for it. */
static __attribute__((noinline)) unsigned long malloc_locked(struct zs_pool *pool,
							     struct size_class *class, size_t size)
{
	struct size_class *owner;
	unsigned long handle = 0;
	struct zspage *z = NULL;
	uint32_t hidx = 0;

	pthread_mutex_lock(&class->lock);
	if (!zsi_handle_get(&pool->handles, &class->mag, &hidx))
		goto out;
	if (class->huge) {
		uint32_t page = huge_page_get(pool, class);
		if (page != ZS_NO_PAGE) {
			handle = publish(pool, class, hidx,
					 he_make_huge(page, size, next_gen(pool, hidx)), size);
			zsi_debug_check_object(pool, class, hidx);
		}
		goto out;
	}
	z = zsi_class_fullest(&pool->vm.desc, class, NULL);
	if (!(z && zspage_free_slot_resident(class, z)) && pool->pack_bytes) {
		struct zspage *other = spill_target(pool, class, &owner);
		if (other) {
			handle = place_object(pool, owner, other, hidx, size);
			track_freeable(pool, owner);
			zsi_debug_check_object(pool, owner, hidx);
			zsi_debug_check_change(pool, owner, other);
			pthread_mutex_unlock(&owner->lock);
			z = NULL;
			goto out;
		}
	}
	if (!z)
		z = zsi_zspage_create(pool, class);
	if (z) {
		handle = place_object(pool, class, z, hidx, size);
		zsi_debug_check_object(pool, class, hidx);
	}
out:
	if (!handle && hidx)
		zsi_handle_put(&pool->handles, &class->mag, hidx);
	track_freeable(pool, class);
	zsi_debug_check_change(pool, class, z);
	pthread_mutex_unlock(&class->lock);
	zsi_debug_tick(pool);
	if (!handle)
		errno = ENOMEM;
	return handle;
}

ZS_API unsigned long zs_malloc(struct zs_pool *pool, size_t size)
{
	if (!pool || size == 0 || size > ZS_MAX_ALLOC_SIZE) {
		errno = EINVAL;
		return 0;
	}
	struct size_class *class = class_for_size(&pool->classes, size);
	unsigned long handle;

	if (!class->huge && (handle = cached_malloc(pool, class, size)))
		return handle;
	return malloc_locked(pool, class, size);
}

/* ---- free ---- */

/*
 * Lock the class that owns the live object @handle, with its entry re-read under the lock.
 * The object cannot move or be freed by anyone else while the lock is held.
 */
static struct size_class *lock_owner(struct zs_pool *pool, unsigned long handle, uint64_t *entry)
{
	for (;;) {
		struct size_class *class;
		uint64_t e;

		if (!handle_lookup(&pool->handles, handle, &e))
			return NULL;
		if (he_huge(e)) {
			class = class_for_size(&pool->classes, he_size(e));
		} else {
			uint16_t nth = zs_load_acquire(&zspage_of(pool, he_id(e))->class_nth);
			if (nth == ZS_NO_CLASS)
				continue; /* moved away and freed meanwhile: look again */
			class = &pool->classes.v[nth];
		}
		pthread_mutex_lock(&class->lock);
		uint64_t now = zs_load_acquire(handle_entry(&pool->handles, handle_idx(handle)));
		if (now == e &&
		    (he_huge(e) ||
		     zs_load_acquire(&zspage_of(pool, he_id(e))->class_nth) == class->nth)) {
			*entry = e;
			return class;
		}
		pthread_mutex_unlock(&class->lock);
	}
}

/*
 * Is the object @e (handle index @hidx) mapped?  Its zspage remembers the slot pinned last
 * until that pin is dropped (pin_object), which catches the usual bug (map, then free without
 * the unmap) for a store per map and a load per unmap; a later pin of another object of the
 * zspage, or the end of one of several mappings of the object, hides it.  Never a false "yes" for a
 * caller that does not race a free with a map of the same object.  A DEBUG=1 build counts each
 * object's mappings (huge objects too) and so always knows.  Caller holds the owner's class lock.
 */
static inline bool object_mapped(struct zs_pool *pool, uint32_t hidx, uint64_t e)
{
	if (zsi_debug_maps(pool, hidx))
		return true;
	if (he_huge(e))
		return false;
	struct zspage *z = zspage_of(pool, he_id(e));
	return zs_load_relaxed(&z->last_mapped) == he_slot(e) + 1 && zs_load_relaxed(&z->pins);
}

/*
 * Take the object @e of handle index @hidx out of @class (locked), its entry already not live:
 * the counters, the index back to the magazine (or retired), the slot or page freed.  Returns
 * the zspage it left, NULL when that went too (or for a huge object); *@released (if not
 * NULL) grows by the pages that went back to the kernel.
 */
static struct zspage *release_object(struct zs_pool *pool, struct size_class *class, uint32_t hidx,
				     uint64_t e, unsigned long *released)
{
	struct zspage *z = NULL;

	cnt_add_locked(class->obj_used, -1);
	cnt_add_locked(class->bytes_used, -(long)he_size(e));
	/*
	 * An index whose generation is spent is retired, never issued again: so no handle value
	 * is ever valid twice, at the cost of 8 bytes per 32767 reuses of one index (at least
	 * 16384 if its page of entries was given back: handle.c).
	 */
	if (he_gen(e) != HE_GEN_MASK)
		zsi_handle_put(&pool->handles, &class->mag, hidx);
	if (he_huge(e)) {
		huge_page_put(pool, class, he_page(e)); /* after obj_used went down */
	} else {
		z = zspage_of(pool, he_id(e));
		zsi_slot_free(pool, class, z, he_slot(e));
		unsigned long gone = 0;
		if (z->inuse == 0 && zsi_zspage_destroy(pool, z, &gone))
			z = NULL;
		if (released)
			*released += gone;
	}
	zsi_debug_check_freed(pool, hidx);
	return z;
}

unsigned long zsi_cached_release(struct zs_pool *pool, struct size_class *class,
				 const uint32_t *idx, uint32_t n)
{
	unsigned long released = 0;
	struct zspage *z = NULL;

	for (uint32_t i = 0; i < n; i++) {
		_Atomic uint64_t *ent = handle_entry(&pool->handles, idx[i]);
		uint64_t e = zs_load_relaxed(ent);

		zs_store_release(ent, he_make_free(he_gen(e), 0));
		z = release_object(pool, class, idx[i], e, &released);
		/* The bin took its bytes off already, and the caller folds the bin in. */
		cnt_add_locked(class->bytes_used, he_size(e));
	}
	track_freeable(pool, class);
	zsi_debug_check_change(pool, class, z);
	return released;
}

/*
 * When what class @nth has left is the @n slots @c caches (the caller is inside @c's bracket),
 * give them all back, so that a pool whose objects are all freed holds no page (one load of a
 * line that the fast paths only read).  Other threads' cached slots go back when their bins
 * fill, when they exit, or at the next compaction.  True if it did.
 */
static inline bool flush_if_only_cached(struct zs_pool *pool, struct zs_tcache *c, uint32_t nth,
					uint32_t n)
{
	if (!n || cnt_get(pool->classes.v[nth].obj_used) > n)
		return false;
	zsi_tcache_flush(pool, c, nth, true);
	return true;
}

/*
 * zs_free into the thread's cache: 0, -EINVAL, -EBUSY as zs_free; 1 when the locked path must
 * do it (huge or retiring objects, no cache, the gate up, a racing free).  *@flushed: the bin
 * was full and gave half its slots back (then automatic compaction may be due).
 */
static inline int cached_free(struct zs_pool *pool, unsigned long handle,
			      struct size_class **flushed)
{
	if (pool->no_tcache)
		return 1;
	struct zs_tcache *c = tcache_of(pool);
	int ret = 1;
	uint64_t e;

	if (!c || !tcache_enter(c, &pool->tc))
		return 1;
	_Atomic uint64_t *ent = handle_lookup_entry(&pool->handles, handle, &e);
	if (!ent) {
		ret = -EINVAL;
		goto out;
	}
	if (he_huge(e) || he_gen(e) == HE_GEN_MASK)
		goto out;
	/* No mover runs while we are inside (the gate), so the zspage is the object's. */
	uint16_t nth = zs_load_acquire(&zspage_of(pool, he_id(e))->class_nth);
	if (nth >= c->nr)
		goto out;
	uint32_t hidx = handle_idx(handle);
	struct tc_bin *b = &c->bins[nth];
#if ZS_DEBUG
	struct size_class *class = &pool->classes.v[nth];
	pthread_mutex_lock(&class->lock); /* the map counts are read under it */
#endif
	if (object_mapped(pool, hidx, e))
		ret = -EBUSY;
	/* A compare-and-swap, so that of two frees of one handle racing, one fails. */
	else if (zs_cas_strong_release(ent, &e, he_cached(e)))
		ret = 0;
#if ZS_DEBUG
	if (!ret) {
		zsi_debug_check_freed(pool, hidx);
		zsi_debug_check_change(pool, class, zspage_of(pool, he_id(e)));
	}
	pthread_mutex_unlock(&class->lock);
#endif
	if (ret)
		goto out;
	uint32_t n = zs_load_relaxed(&b->n);
	if (n == b->cap) {
		zsi_tcache_flush(pool, c, nth, false);
		n = zs_load_relaxed(&b->n);
		*flushed = &pool->classes.v[nth];
	}
	b->idx[n] = hidx;
	zs_store_relaxed(&b->n, n + 1);
	zs_store_relaxed(&b->bytes, zs_load_relaxed(&b->bytes) - (long)he_size(e));
	if (flush_if_only_cached(pool, c, nth, n + 1))
		*flushed = &pool->classes.v[nth];
out:
	tcache_leave(c);
	return ret;
}

/* zs_free under the owner's class lock; out of line as malloc_locked.  *@from: the class. */
static __attribute__((noinline)) int free_locked(struct zs_pool *pool, unsigned long handle,
						 struct size_class **from)
{
	struct zspage *z;
	uint64_t e;
	struct size_class *class = lock_owner(pool, handle, &e);
	if (!class)
		return -EINVAL;
	uint32_t hidx = handle_idx(handle);
	if (object_mapped(pool, hidx, e)) {
		pthread_mutex_unlock(&class->lock);
		return -EBUSY; /* its mapping's pin stays counted, its unmap will find it */
	}
	/* A fast path's free of the same handle may have won since lock_owner looked. */
	if (!zs_cas_strong_release(handle_entry(&pool->handles, hidx), &e,
				   he_make_free(he_gen(e), 0))) {
		pthread_mutex_unlock(&class->lock);
		return -EINVAL;
	}
	z = release_object(pool, class, hidx, e, NULL);
	zsi_debug_check_change(pool, class, z);
	auto_compact(pool, class);
	pthread_mutex_unlock(&class->lock);
	zsi_debug_tick(pool);
	*from = class;
	return 0;
}

/*
 * After a free on the locked path (a handle whose generation is spent, no cache at hand): the
 * same rule as after a cached free (flush_if_only_cached), on the cache the thread has already,
 * if any.  Otherwise a pool whose objects were all freed kept pages until its next compaction.
 * Returns the class if it flushed.
 */
static __attribute__((noinline)) struct size_class *settle_own_slots(struct zs_pool *pool,
								     struct size_class *class)
{
	struct zs_tcache *c = tcache_held(pool);
	bool flushed;

	if (!c || class->nth >= c->nr || !zs_load_relaxed(&c->bins[class->nth].n) ||
	    !tcache_enter(c, &pool->tc))
		return NULL;
	flushed = flush_if_only_cached(pool, c, class->nth, zs_load_relaxed(&c->bins[class->nth].n));
	tcache_leave(c);
	return flushed ? class : NULL;
}

/* After a full bin gave half its slots back: automatic compaction may be due. */
static __attribute__((noinline)) void auto_compact_after_flush(struct zs_pool *pool,
							       struct size_class *class)
{
	pthread_mutex_lock(&class->lock);
	auto_compact(pool, class);
	pthread_mutex_unlock(&class->lock);
}

ZS_API int zs_free(struct zs_pool *pool, unsigned long handle)
{
	struct size_class *flushed = NULL;

	if (!pool)
		return -EINVAL;
	int ret = cached_free(pool, handle, &flushed);
	if (ret > 0) {
		struct size_class *from = NULL;

		ret = free_locked(pool, handle, &from);
		if (!ret && !pool->no_tcache && !from->huge &&
		    (flushed = settle_own_slots(pool, from)) && pool->auto_compact_pages)
			auto_compact_after_flush(pool, flushed);
		return ret;
	}
	if (flushed && pool->auto_compact_pages)
		auto_compact_after_flush(pool, flushed);
	if (!ret)
		zsi_debug_tick(pool);
	return ret;
}

/* ---- mapping ---- */

/*
 * Pin the zspage holding @handle's object against moves and frees, note the object as the
 * zspage's last mapped (object_mapped), and return its address; the protocol is in zspage.h.
 * Huge objects never move, so they need no pin.
 */
/*
 * Drop one pin of @z, never below zero: an unmap without a map must not wrap the count and pin
 * the zspage forever, and a failed pin may find the descriptor zeroed (the ids shrank meanwhile
 * and its page went back to the kernel), where a plain decrement would wrap the pins of the
 * zspage that takes the id next.
 */
static inline void pin_drop(struct zspage *z)
{
	uint32_t pins = zs_load_relaxed(&z->pins);

	while (pins && !zs_cas_weak_release(&z->pins, &pins, pins - 1))
		;
}

static char *pin_object(struct zs_pool *pool, unsigned long handle, uint64_t *entry)
{
	for (unsigned int spins = 0;; spins++) {
		uint64_t e;
		_Atomic uint64_t *ent = handle_lookup_entry(&pool->handles, handle, &e);

		if (!ent)
			return NULL;
		*entry = e;
		if (he_huge(e))
			return page_addr(&pool->vm, he_page(e));
		struct zspage *z = zspage_of(pool, he_id(e));
		zs_fetch_add_seq_cst(&z->pins, 1);
		if (!zs_load_seq_cst(&z->busy) && zs_load_seq_cst(ent) == e) {
			uint16_t nth = zs_load_acquire(&z->class_nth);
			if (nth != ZS_NO_CLASS) {
				zs_store_relaxed(&z->last_mapped, he_slot(e) + 1);
				return zspage_base(pool, z) +
				       (size_t)he_slot(e) * pool->classes.v[nth].size;
			}
		}
		pin_drop(z);
		if (spins > 64)
			sched_yield();
	}
}

/* Drop the pin pin_object took for the object @e, and the note of it as last mapped. */
static inline void unpin_object(struct zs_pool *pool, uint64_t e)
{
	if (he_huge(e))
		return;
	struct zspage *z = zspage_of(pool, he_id(e));

	if (zs_load_relaxed(&z->last_mapped) == he_slot(e) + 1)
		zs_store_relaxed(&z->last_mapped, 0);
	pin_drop(z);
}

/* A user's mapping (zs_map_object, zs_obj_read_begin). */
static inline void *map_object(struct zs_pool *pool, unsigned long handle)
{
	uint64_t e;
#if ZS_DEBUG
	/* Under the class lock, so that counting the mapping cannot race with a free. */
	struct size_class *class = lock_owner(pool, handle, &e);
	if (!class)
		return NULL;
	char *p = pin_object(pool, handle, &e);
	if (p)
		zsi_debug_mapped(pool, class, handle_idx(handle), e, 1);
	pthread_mutex_unlock(&class->lock);
	return p;
#else
	return pin_object(pool, handle, &e);
#endif
}

/* End a user's mapping; a handle that is not live is ignored. */
static inline void unmap_object(struct zs_pool *pool, unsigned long handle)
{
	uint64_t e;
#if ZS_DEBUG
	struct size_class *class = lock_owner(pool, handle, &e);
	if (!class)
		return;
	if (zsi_debug_mapped(pool, class, handle_idx(handle), e, -1))
		unpin_object(pool, e);
	pthread_mutex_unlock(&class->lock);
#else
	if (handle_lookup(&pool->handles, handle, &e))
		unpin_object(pool, e);
#endif
}

ZS_API void *zs_map_object(struct zs_pool *pool, unsigned long handle, enum zs_mapmode mm)
{
	if (!pool || (unsigned int)mm > ZS_MM_WO) {
		errno = EINVAL;
		return NULL;
	}
	return map_object(pool, handle);
}

ZS_API void zs_unmap_object(struct zs_pool *pool, unsigned long handle)
{
	if (pool)
		unmap_object(pool, handle);
}

ZS_API void *zs_obj_read_begin(struct zs_pool *pool, unsigned long handle, void *local_copy)
{
	(void)local_copy;
	if (!pool) {
		errno = EINVAL;
		return NULL;
	}
	return map_object(pool, handle);
}

ZS_API void zs_obj_read_end(struct zs_pool *pool, unsigned long handle, void *handle_mem)
{
	(void)handle_mem;
	if (pool)
		unmap_object(pool, handle);
}

ZS_API int zs_obj_write(struct zs_pool *pool, unsigned long handle, const void *handle_mem,
			size_t mem_len)
{
	uint64_t e;

	if (!pool || (!handle_mem && mem_len))
		return -EINVAL;
	char *p = pin_object(pool, handle, &e);
	if (!p)
		return -EINVAL;
	int ret = 0;
	if (mem_len > he_size(e))
		ret = -EINVAL;
	else if (mem_len) /* memcpy's arguments must be valid pointers even for 0 bytes */
		memcpy(p, handle_mem, mem_len);
	unpin_object(pool, e);
	return ret;
}

ZS_API size_t zs_obj_size(struct zs_pool *pool, unsigned long handle)
{
	uint64_t e;

	if (!pool) {
		errno = EINVAL;
		return 0;
	}
	return handle_lookup(&pool->handles, handle, &e) ? he_size(e) : 0;
}
