/*
 * compact.c - compaction: move objects out of sparse zspages so whole zspages and zspage tails
 * can be given back.  Two passes:
 *
 *  1. Per class, as the kernel does: take the emptiest zspage as source and the fullest as
 *     destination, move objects (highest slot first, into the lowest free slot) until one is
 *     empty or the other full, free emptied zspages.  Afterwards each class has at most one
 *     partly used zspage, and every zspage's pages past its last live object are released.
 *  2. Cross-class packing (unless the pool has ZS_POOL_NO_PACK): each class still ends in a
 *     partly used page, and with hundreds of classes in use those pages are most of the waste
 *     of a pool that has shrunk.  Walking from the largest class down, the objects on a class's
 *     last page move into free, already resident slots of classes at most pack_bytes larger
 *     (a few bytes of slack each), when all of them fit, and the page is released.
 *
 * Mapped objects never move: a source zspage is marked busy and skipped if pinned (see the
 * protocol in zs_internal.h).  Caller holds pool->compact_lock; class locks are taken here in
 * the documented order (source class first, then larger receiver classes upward).
 */
#include <string.h>
#include <stdlib.h>

#include "zs_internal.h"

/* Fewest pages @n objects of @class could occupy, packed at the front of full zspages. */
static unsigned long min_pages(const struct size_class *class, unsigned long n)
{
	unsigned long full = n / class->objs_per_zspage, rest = n % class->objs_per_zspage;

	return full * class->pages_per_zspage +
	       ((rest * class->size + ZS_PAGE_SIZE - 1) >> ZS_PAGE_SHIFT);
}

/* Pages compaction could free in @class; a snapshot, may be read without the lock. */
unsigned long class_freeable(struct size_class *class)
{
	unsigned long used = cnt_get(class->pages_used);
	unsigned long need = min_pages(class, cnt_get(class->obj_used));

	return used > need ? used - need : 0;
}

/* Mark @z busy for moving; false if a mapper holds it (then it must be left alone). */
static bool claim_source(struct zs_pool *pool, struct zspage *z)
{
	struct ztab_ent *t = &pool->ztab[z->id];

	atomic_store(&t->busy, 1);
	if (atomic_load(&t->pins)) {
		atomic_store(&t->busy, 0);
		return false;
	}
	return true;
}

static void release_source(struct zs_pool *pool, struct zspage *z)
{
	atomic_store(&pool->ztab[z->id].busy, 0);
}

/* Move the object in @slot of @src into the lowest free slot of @dst. */
static void move_object(struct zs_pool *pool, struct zspage *src, uint32_t slot, struct zspage *dst)
{
	uint32_t hidx = src->backref[slot];
	uint64_t e = atomic_load_explicit(&pool->htab[hidx], memory_order_relaxed);
	uint32_t size = he_size(e);
	uint32_t dslot = zspage_alloc_slot(pool, dst, hidx);

	memcpy(dst->base + (size_t)dslot * dst->class->size,
	       src->base + (size_t)slot * src->class->size, size);
	atomic_store_explicit(&pool->htab[hidx], he_make(dst->id, dslot, size, he_gen(e)),
			      memory_order_release);
	zspage_free_slot(src, slot);
	if (src->class != dst->class) {
		cnt_add(src->class->obj_used, -1);
		cnt_add(src->class->bytes_used, -(long)size);
		cnt_add(dst->class->obj_used, 1);
		cnt_add(dst->class->bytes_used, size);
	}
}

/* The emptiest zspage with objects that no mapper holds, claimed busy; NULL if none. */
static struct zspage *pick_source(struct zs_pool *pool, struct size_class *class)
{
	for (uint32_t g = 1; g < ZS_FULL; g++)
		for (struct zspage *z = class->fullness_list[g]; z; z = z->next)
			if (claim_source(pool, z))
				return z;
	return NULL;
}

static unsigned long free_empty_zspages(struct zs_pool *pool, struct size_class *class)
{
	unsigned long freed = 0;
	struct zspage *z = class->fullness_list[ZS_EMPTY], *next;

	for (; z; z = next) {
		uint32_t pages = z->populated;

		next = z->next;
		if (zspage_destroy(pool, z))
			freed += pages;
	}
	return freed;
}

/* Pass 1 for one class; caller holds class->lock. */
static unsigned long compact_class(struct zs_pool *pool, struct size_class *class)
{
	unsigned long freed = free_empty_zspages(pool, class);

	while (class_freeable(class)) {
		struct zspage *src = pick_source(pool, class);
		if (!src)
			break;
		struct zspage *dst = class_fullest(class, src);
		if (!dst || !dst->inuse) {
			release_source(pool, src);
			break;
		}
		for (uint32_t s = class->objs_per_zspage; s-- > 0 && src->inuse &&
							  dst->inuse < class->objs_per_zspage;)
			if (src->backref[s])
				move_object(pool, src, s, dst);
		release_source(pool, src);
		if (!src->inuse) {
			uint32_t pages = src->populated;
			if (zspage_destroy(pool, src))
				freed += pages;
		}
	}
	/*
	 * What is left partly used: slide its objects down into its own lowest free slots, so
	 * they sit at the front, then give back the pages past the last one.
	 */
	for (uint32_t g = 1; g < ZS_FULL; g++)
		for (struct zspage *z = class->fullness_list[g]; z; z = z->next)
			if (claim_source(pool, z)) {
				for (uint32_t s = class->objs_per_zspage; s-- > z->first_free;)
					if (z->backref[s])
						move_object(pool, z, s, z);
				freed += zspage_trim(pool, z);
				release_source(pool, z);
			}
	return freed;
}

/* ---- pass 2: cross-class packing ---- */

#define PACK_MAX_SLOTS 160 /* > the most objects one page can touch (4096 / 32 + 1) */

struct pack_slot {
	struct zspage *z;
	uint32_t slot;
};

/* Resident free slots of @class, in the order zspage_alloc_slot will hand them out. */
static uint32_t collect_resident_free(struct size_class *class, struct pack_slot *out,
				      uint32_t n, uint32_t max)
{
	for (uint32_t g = ZS_FULL - 1; g >= 1 && n < max; g--) {
		for (struct zspage *z = class->fullness_list[g]; z && n < max; z = z->next) {
			for (uint32_t s = z->first_free; s < class->objs_per_zspage && n < max; s++) {
				if (pages_for_slot(class, s) > z->populated)
					break;
				if (!z->backref[s])
					out[n++] = (struct pack_slot){ z, s };
			}
		}
	}
	return n;
}

/*
 * Move every object touching the last resident page of @z (class @class, locked) into the
 * free resident slots of the receiver classes [@class+1, @last] (locked), if all fit within
 * the pool's packing distance of their own size class.  Returns pages released.
 */
static unsigned long pack_last_page(struct zs_pool *pool, struct zspage *z,
				    struct size_class *last)
{
	struct size_class *class = z->class;
	struct pack_slot free_slots[PACK_MAX_SLOTS];
	uint32_t tail[PACK_MAX_SLOTS], nt = 0, nf = 0;

	if (!z->populated)
		return 0;
	size_t page_start = (size_t)(z->populated - 1) << ZS_PAGE_SHIFT;
	for (uint32_t s = page_start / class->size; s < class->objs_per_zspage; s++) {
		if ((size_t)s * class->size >= page_start + ZS_PAGE_SIZE)
			break;
		if (z->backref[s])
			tail[nt++] = s;
	}
	if (!nt)
		return zspage_trim(pool, z);
	for (struct size_class *r = class + 1; r <= last && nf < nt; r++)
		nf = collect_resident_free(r, free_slots, nf, nt);
	if (nf < nt)
		return 0;
	/* Every object must stay within pack_bytes of its own class. */
	for (uint32_t i = 0; i < nt; i++) {
		uint64_t e = atomic_load_explicit(&pool->htab[z->backref[tail[i]]], memory_order_relaxed);
		uint32_t own = pool->class_of[size_to_index(he_size(e))]->size;
		if (free_slots[i].z->class->size - own > pool->pack_bytes)
			return 0;
	}
	if (!claim_source(pool, z))
		return 0;
	for (uint32_t i = 0; i < nt; i++)
		move_object(pool, z, tail[i], free_slots[i].z);
	release_source(pool, z);
	if (!z->inuse) {
		uint32_t pages = z->populated;
		return zspage_destroy(pool, z) ? pages : 0;
	}
	return zspage_trim(pool, z);
}

static unsigned long pack_class(struct zs_pool *pool, struct size_class *class)
{
	struct size_class *end = pool->classes + pool->nr_classes, *last = class;
	unsigned long freed = 0;

	while (last + 1 < end && !last[1].huge && last[1].size - class->size <= pool->pack_bytes)
		last++;
	if (last == class)
		return 0;
	for (struct size_class *r = class + 1; r <= last; r++)
		pthread_mutex_lock(&r->lock);
	for (uint32_t g = ZS_FULL - 1; g >= 1; g--) {
		struct zspage *z = class->fullness_list[g], *next;
		for (; z; z = next) {
			next = z->next;
			/* Page by page from the end, while the receivers have room. */
			for (;;) {
				uint32_t before = z->populated;
				unsigned long got = pack_last_page(pool, z, last);
				freed += got;
				if (!got || got >= before || z->populated == 0)
					break;
			}
		}
	}
	for (struct size_class *r = last; r > class; r--)
		pthread_mutex_unlock(&r->lock);
	return freed;
}

unsigned long zs_compact_locked(struct zs_pool *pool)
{
	unsigned long freed = 0;

	for (uint32_t i = 0; i < pool->nr_classes; i++) {
		struct size_class *class = &pool->classes[i];

		pthread_mutex_lock(&class->lock);
		freed += compact_class(pool, class);
		pthread_mutex_unlock(&class->lock);
	}
	if (pool->pack_bytes && !getenv("ZS_NOPASS2")) {
		for (uint32_t i = pool->nr_classes; i-- > 0;) {
			struct size_class *class = &pool->classes[i];

			if (class->huge)
				continue;
			pthread_mutex_lock(&class->lock);
			freed += pack_class(pool, class);
			pthread_mutex_unlock(&class->lock);
		}
	}
	atomic_fetch_add_explicit(&pool->pages_compacted, freed, memory_order_relaxed);
	return freed;
}

ZS_API unsigned long zs_compact(struct zs_pool *pool)
{
	if (!pool)
		return 0;
	pthread_mutex_lock(&pool->compact_lock);
	unsigned long freed = zs_compact_locked(pool);
	pthread_mutex_unlock(&pool->compact_lock);
	return freed;
}
