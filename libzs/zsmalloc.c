/*
 * zsmalloc.c - the pool and its hot paths: create/destroy, zs_malloc, zs_free, and the
 * lock-free mapping calls.  Slots, zspages and accounting are in zspage.c; compaction in
 * compact.c; the class table in size_class.c; the handle table in handle.c.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zs_internal.h"

/*
 * Pool tags: every live pool has its own, so a handle of one pool can never name an object of
 * another.  Tags start at a random point, so handles differ between runs too.
 */
static pthread_mutex_t tag_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t tags_in_use[65536 / 64];

static uint16_t tag_get(void)
{
	struct timespec ts;
	uint32_t x, tag = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = (uint32_t)ts.tv_nsec * 0x9e3779b1u ^ (uint32_t)(uintptr_t)&ts;
	pthread_mutex_lock(&tag_lock);
	for (uint32_t i = 0; i < 65535; i++) {
		uint32_t t = (x + i) % 65535 + 1; /* tag 0 is never used */
		if (!(tags_in_use[t >> 6] >> (t & 63) & 1)) {
			tags_in_use[t >> 6] |= 1ULL << (t & 63);
			tag = t;
			break;
		}
	}
	pthread_mutex_unlock(&tag_lock);
	return (uint16_t)tag;
}

static void tag_put(uint16_t tag)
{
	pthread_mutex_lock(&tag_lock);
	tags_in_use[tag >> 6] &= ~(1ULL << (tag & 63));
	pthread_mutex_unlock(&tag_lock);
}

static void pool_free(struct zs_pool *pool)
{
	if (pool->tag)
		tag_put(pool->tag);
	if (pool->htab)
		handle_table_fini(pool);
	for (unsigned int a = 0; a < pool->vm.nr_arenas; a++)
		zs_os_unreserve(pool->vm.arena[a], ZS_ARENA_PAGES << ZS_PAGE_SHIFT);
	for (int p = 0; p <= ZS_MAX_PAGES_PER_ZSPAGE; p++)
		free(pool->vm.free_runs[p].v);
	zs_os_unreserve(pool->zspages, (size_t)ZS_MAX_ZSPAGES * sizeof(struct zspage));
	zs_os_unreserve(pool->vm.id_bits, ZS_MAX_ZSPAGES / 8);
	for (uint32_t i = 0; pool->classes && i < pool->nr_classes; i++)
		free(pool->classes[i].hot);
	free(pool->classes);
	free(pool->name);
	free(pool);
}

ZS_API struct zs_pool *zs_create_pool_opts(const char *name, const struct zs_pool_opts *opts)
{
	struct zs_pool_opts o = opts ? *opts : (struct zs_pool_opts){0};
	struct zs_pool *pool;

	if (o.max_pages_per_zspage > ZS_MAX_PAGES_PER_ZSPAGE || o.pack_bytes > ZS_MAX_PACK_BYTES ||
	    (o.flags & ~ZS_POOL_NO_PACK)) {
		errno = EINVAL;
		return NULL;
	}
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		goto nomem;
	pool->name = strdup(name ? name : "");
	if (!pool->name)
		goto nomem;
	pool->tag = tag_get();
	if (!pool->tag)
		goto nomem; /* 65535 pools alive at once */
	pool->max_pages = o.max_pages_per_zspage ? o.max_pages_per_zspage : ZS_DEFAULT_PAGES_PER_ZSPAGE;
	pool->pack_bytes = (o.flags & ZS_POOL_NO_PACK) ? 0 :
			   o.pack_bytes ? o.pack_bytes : ZS_DEFAULT_PACK_BYTES;
	pool->auto_compact_pages = o.auto_compact_pages;
	if (zs_build_classes(pool))
		goto nomem;
	if (handle_table_init(pool))
		goto nomem;
	pool->zspages = zs_os_reserve((size_t)ZS_MAX_ZSPAGES * sizeof(struct zspage));
	pool->vm.id_bits = zs_os_reserve(ZS_MAX_ZSPAGES / 8);
	if (!pool->zspages || !pool->vm.id_bits)
		goto nomem;
	pthread_mutex_init(&pool->vm.lock, NULL);
	pool->vm.id_bits[0] = 1; /* id 0 means "none" */
	pool->vm.id_top = 1;
	pool->vm.id_low = 1;
	pthread_mutex_init(&pool->compact_lock, NULL);
	size_t heap = sizeof(*pool) + sizeof(struct size_class) * pool->nr_classes;
	for (uint32_t i = 0; i < pool->nr_classes; i++)
		if (pool->classes[i].hot)
			heap += ZS_HUGE_CACHE * sizeof(uint32_t);
	atomic_store(&pool->heap_bytes, heap);
	return pool;
nomem:
	if (pool)
		pool_free(pool);
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
	for (uint32_t id = 1; id < pool->vm.id_top; id++)
		free(pool->zspages[id].ext_map);
	for (uint32_t i = 0; i < pool->nr_classes; i++)
		pthread_mutex_destroy(&pool->classes[i].lock);
	pthread_mutex_destroy(&pool->handle_lock);
	pthread_mutex_destroy(&pool->vm.lock);
	pthread_mutex_destroy(&pool->compact_lock);
	pool_free(pool);
}

ZS_API const char *zs_pool_name(struct zs_pool *pool)
{
	return pool ? pool->name : "";
}

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
	struct size_class *end = pool->classes + pool->nr_classes;
	/*
	 * A quarter of the compaction distance: spilling further takes resident slots the
	 * larger classes' own objects would have used, and fill waste went up in measurement
	 * (64 MiB text corpus, pages/stored: 1.0191 at 16 bytes, 1.0223 at 64).
	 */
	uint32_t reach = pool->pack_bytes / 4 < ZS_SIZE_CLASS_DELTA ? ZS_SIZE_CLASS_DELTA :
								      pool->pack_bytes / 4;

	for (struct size_class *c = class + 1; c < end && !c->huge; c++) {
		if (c->size - class->size > reach)
			break;
		/* An unlocked peek, only to skip classes with nothing to offer. */
		uint32_t mask = __atomic_load_n(&c->list_mask, __ATOMIC_RELAXED) &
				~(1U << ZS_FULL) & ~(1U << ZS_EMPTY);
		if (!mask || pthread_mutex_trylock(&c->lock))
			continue;
		mask = c->list_mask & ~(1U << ZS_FULL) & ~(1U << ZS_EMPTY);
		while (mask) {
			uint32_t g = 31 - __builtin_clz(mask);
			for (uint32_t id = c->fullness_list[g]; id; id = zspage_of(pool, id)->next) {
				struct zspage *z = zspage_of(pool, id);
				if (zspage_free_slot_resident(c, z)) {
					*owner = c;
					return z;
				}
			}
			mask &= ~(1U << g);
		}
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

/* Place handle index @hidx of @size bytes into a slot of @z, publish it, return the handle. */
static unsigned long place_object(struct zs_pool *pool, struct size_class *class,
				  struct zspage *z, uint32_t hidx, size_t size)
{
	uint32_t slot = zspage_alloc_slot(pool, class, z);
	uint64_t old = atomic_load_explicit(&pool->htab[hidx], memory_order_relaxed);
	uint32_t gen = (he_gen(old) + 1) & HE_GEN_MASK;

	cnt_add(class->obj_used, 1);
	cnt_add(class->bytes_used, size);
	atomic_store_explicit(&pool->htab[hidx], he_make(zspage_id(pool, z), slot, size, gen),
			      memory_order_release);
	return handle_make(pool->tag, gen, hidx);
}

/* A huge object takes a page of its own, named by the entry itself. */
static unsigned long place_huge(struct zs_pool *pool, struct size_class *class, uint32_t hidx,
				size_t size)
{
	uint32_t page;

	if (class->hot_n) {
		page = class->hot[--class->hot_n]; /* resident and counted already */
	} else {
		page = vm_get_run(pool, 1);
		if (page == UINT32_MAX)
			return 0;
		pool_pages_add(pool, class, 1);
		cnt_add(class->zspages, 1);
	}
	uint64_t old = atomic_load_explicit(&pool->htab[hidx], memory_order_relaxed);
	uint32_t gen = (he_gen(old) + 1) & HE_GEN_MASK;

	cnt_add(class->obj_used, 1);
	cnt_add(class->bytes_used, size);
	atomic_store_explicit(&pool->htab[hidx], he_make_huge(page, size, gen), memory_order_release);
	return handle_make(pool->tag, gen, hidx);
}

static void release_huge_page(struct zs_pool *pool, struct size_class *class, uint32_t page)
{
	zs_os_release(page_addr(pool, page), ZS_PAGE_SIZE);
	vm_put_run(pool, page, 1);
	cnt_add(class->zspages, -1);
	pool_pages_add(pool, class, -1);
}

static void free_huge(struct zs_pool *pool, struct size_class *class, uint32_t page)
{
	unsigned long keep = cnt_get(class->obj_used) / 8;

	if (keep > ZS_HUGE_CACHE)
		keep = ZS_HUGE_CACHE;
	if (class->hot_n < keep)
		class->hot[class->hot_n++] = page; /* stays counted as an empty zspage */
	else
		release_huge_page(pool, class, page);
	while (class->hot_n > keep)
		release_huge_page(pool, class, class->hot[--class->hot_n]);
}

ZS_API unsigned long zs_malloc(struct zs_pool *pool, size_t size)
{
	if (!pool || size == 0 || size > ZS_MAX_ALLOC_SIZE) {
		errno = EINVAL;
		return 0;
	}
	struct size_class *class = pool->class_of[size_to_index(size)], *owner;
	unsigned long handle = 0;
	struct zspage *z;
	uint32_t hidx = 0;

	pthread_mutex_lock(&class->lock);
	if (!handle_get(pool, class, &hidx))
		goto out;
	if (class->huge) {
		handle = place_huge(pool, class, hidx, size);
		goto out;
	}
	z = class_fullest(pool, class, NULL);
	if (!(z && zspage_free_slot_resident(class, z)) && pool->pack_bytes) {
		struct zspage *other = spill_target(pool, class, &owner);
		if (other) {
			handle = place_object(pool, owner, other, hidx, size);
			class_track_freeable(pool, owner);
			pthread_mutex_unlock(&owner->lock);
			goto out;
		}
	}
	if (!z)
		z = zspage_create(pool, class);
	if (z)
		handle = place_object(pool, class, z, hidx, size);
out:
	if (!handle && hidx)
		handle_put(pool, class, hidx);
	class_track_freeable(pool, class);
	pthread_mutex_unlock(&class->lock);
	if (!handle)
		errno = ENOMEM;
	return handle;
}

/*
 * Lock the class that owns the live object @handle, with its entry re-read under the lock.
 * The object cannot move or be freed by anyone else while the lock is held.
 */
static struct size_class *lock_owner(struct zs_pool *pool, unsigned long handle, uint64_t *entry)
{
	for (;;) {
		struct size_class *class;
		uint64_t e;

		if (!handle_lookup(pool, handle, &e))
			return NULL;
		if (he_huge(e)) {
			class = pool->class_of[size_to_index(he_size(e))];
		} else {
			uint16_t nth = atomic_load(&zspage_of(pool, he_id(e))->class_nth);
			if (nth == ZS_NO_CLASS)
				continue; /* moved away and freed meanwhile: look again */
			class = &pool->classes[nth];
		}
		pthread_mutex_lock(&class->lock);
		uint64_t now = atomic_load_explicit(&pool->htab[handle_idx(handle)], memory_order_acquire);
		if (now == e && (he_huge(e) ||
				 atomic_load(&zspage_of(pool, he_id(e))->class_nth) == class->nth)) {
			*entry = e;
			return class;
		}
		pthread_mutex_unlock(&class->lock);
	}
}

/*
 * Automatic compaction keeps a running total of the pool's freeable pages: each class adds
 * the change of its own figure after every allocation and free (only when the option is on).
 * Caller holds class->lock.
 */
void class_track_freeable(struct zs_pool *pool, struct size_class *class)
{
	if (!pool->auto_compact_pages)
		return;
	unsigned long now = class_freeable(class);
	if (now != class->freeable_seen) {
		atomic_fetch_add_explicit(&pool->freeable_total, now - class->freeable_seen,
					  memory_order_relaxed);
		class->freeable_seen = now;
	}
}

static void maybe_auto_compact(struct zs_pool *pool, struct size_class *class)
{
	if (!pool->auto_compact_pages)
		return;
	class_track_freeable(pool, class);
	if (atomic_load_explicit(&pool->freeable_total, memory_order_relaxed) <
	    pool->auto_compact_pages)
		return;
	/* Never wait behind a running compaction: it is doing the same job. */
	pthread_mutex_unlock(&class->lock);
	if (!pthread_mutex_trylock(&pool->compact_lock)) {
		zs_compact_locked(pool);
		pthread_mutex_unlock(&pool->compact_lock);
	}
	pthread_mutex_lock(&class->lock);
}

ZS_API int zs_free(struct zs_pool *pool, unsigned long handle)
{
	uint64_t e;

	if (!pool)
		return -EINVAL;
	struct size_class *class = lock_owner(pool, handle, &e);
	if (!class)
		return -EINVAL;
	uint32_t hidx = handle_idx(handle);

	atomic_store_explicit(&pool->htab[hidx], he_make_free(he_gen(e), 0), memory_order_release);
	cnt_add(class->obj_used, -1);
	cnt_add(class->bytes_used, -(long)he_size(e));
	/*
	 * An index whose generation is spent is retired, never issued again: so no handle value
	 * is ever valid twice, at the cost of 8 bytes per 32767 reuses of one index.
	 */
	if (he_gen(e) != HE_GEN_MASK)
		handle_put(pool, class, hidx);
	if (he_huge(e)) {
		free_huge(pool, class, he_page(e)); /* after obj_used went down */
	} else {
		struct zspage *z = zspage_of(pool, he_id(e));

		zspage_free_slot(pool, class, z, he_slot(e));
		if (z->inuse == 0)
			zspage_destroy(pool, z);
	}
	maybe_auto_compact(pool, class);
	pthread_mutex_unlock(&class->lock);
	return 0;
}

/*
 * Pin the zspage holding @handle's object against moves and frees, and return the object's
 * address.  See the design note in zs_internal.h for why pin-then-check-busy is safe.  Huge
 * objects never move, so they need no pin.
 */
static char *pin_object(struct zs_pool *pool, unsigned long handle, uint64_t *entry)
{
	for (unsigned int spins = 0;; spins++) {
		uint64_t e;

		if (!handle_lookup(pool, handle, &e))
			return NULL;
		*entry = e;
		if (he_huge(e))
			return page_addr(pool, he_page(e));
		struct zspage *z = zspage_of(pool, he_id(e));
		atomic_fetch_add(&z->pins, 1);
		if (!atomic_load(&z->busy) && atomic_load(&pool->htab[handle_idx(handle)]) == e) {
			uint16_t nth = atomic_load_explicit(&z->class_nth, memory_order_acquire);
			if (nth != ZS_NO_CLASS)
				return z->base + (size_t)he_slot(e) * pool->classes[nth].size;
		}
		atomic_fetch_sub(&z->pins, 1);
		if (spins > 64)
			sched_yield();
	}
}

static void unpin_entry(struct zs_pool *pool, uint64_t e)
{
	if (he_huge(e))
		return;
	struct zspage *z = zspage_of(pool, he_id(e));
	unsigned int pins = atomic_load(&z->pins);
	/* An unmap without a map must not wrap the count and pin the zspage forever. */
	while (pins && !atomic_compare_exchange_weak(&z->pins, &pins, pins - 1))
		;
}

static void unpin_object(struct zs_pool *pool, unsigned long handle)
{
	uint64_t e;

	if (handle_lookup(pool, handle, &e))
		unpin_entry(pool, e);
}

ZS_API void *zs_map_object(struct zs_pool *pool, unsigned long handle, enum zs_mapmode mm)
{
	uint64_t e;

	if (!pool || (unsigned int)mm > ZS_MM_WO) {
		errno = EINVAL;
		return NULL;
	}
	return pin_object(pool, handle, &e);
}

ZS_API void zs_unmap_object(struct zs_pool *pool, unsigned long handle)
{
	if (pool)
		unpin_object(pool, handle);
}

ZS_API void *zs_obj_read_begin(struct zs_pool *pool, unsigned long handle, void *local_copy)
{
	uint64_t e;

	(void)local_copy;
	if (!pool) {
		errno = EINVAL;
		return NULL;
	}
	return pin_object(pool, handle, &e);
}

ZS_API void zs_obj_read_end(struct zs_pool *pool, unsigned long handle, void *handle_mem)
{
	(void)handle_mem;
	if (pool)
		unpin_object(pool, handle);
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
	else
		memcpy(p, handle_mem, mem_len);
	unpin_entry(pool, e);
	return ret;
}

ZS_API size_t zs_obj_size(struct zs_pool *pool, unsigned long handle)
{
	uint64_t e;

	if (!pool) {
		errno = EINVAL;
		return 0;
	}
	return handle_lookup(pool, handle, &e) ? he_size(e) : 0;
}

ZS_API size_t zs_huge_class_size(struct zs_pool *pool)
{
	return pool ? pool->huge_class_size : 0;
}

ZS_API int zs_lookup_class_index(struct zs_pool *pool, size_t size)
{
	if (!pool || size == 0 || size > ZS_MAX_ALLOC_SIZE)
		return -EINVAL;
	return (int)pool->class_of[size_to_index(size)]->index;
}

ZS_API unsigned long zs_get_total_pages(struct zs_pool *pool)
{
	return pool ? atomic_load_explicit(&pool->pages_total, memory_order_relaxed) : 0;
}
