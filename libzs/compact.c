/*
 * compact.c - compaction: move objects out of sparse zspages so whole zspages and zspage tails
 * can be given back.  For each class, largest first:
 *
 *  1. As the kernel does: the emptiest zspage is the source, the fullest the destination;
 *     objects move (highest slot first, into the lowest free slot) until one is empty or the
 *     other full; emptied zspages are freed.  Afterwards a class has one partly used zspage.
 *  2. Partly used zspages slide their objects down to their lowest free slots and give back
 *     the pages past the last one.
 *  3. Cross-class packing (unless ZS_POOL_NO_PACK): a class still ends in a partly used page,
 *     and with hundreds of classes in use those pages are most of the waste of a pool that
 *     has shrunk.  The objects on that page move into free, already resident slots of classes
 *     at most pack_bytes larger (a few bytes of slack each) when all of them fit, and the page
 *     is released.  Larger classes are done first, so their last pages are final by then.
 *  4. Zspages are renumbered to the lowest free ids, so the descriptor table's tail can be
 *     given back once every class is done; so are the pages of free handle entries.
 * Pages go back in batches (os.h): a class's trimmed tails in one call before its lock is
 * dropped, the emptied zspages' resident runs together at the end.
 *
 * Descriptors keep no slot-to-handle map (it would cost 4 bytes a slot for the pool's whole
 * life), so compaction builds one: a single scan of the handle table (of its words that hold
 * live indexes), bucketed by class, and a hash per class while that class is worked on.  An object
 * allocated after the scan is simply unknown: it is not moved, and its zspage is left alone.  The
 * temporary memory is 8 bytes per live object plus one hash, sized for the largest class and used
 * by each class in turn, for the length of the pass (tmp_alloc); a class without zspages is passed
 * over.
 *
 * The caller holds the gate of the per-thread caches (tcache.h): their slots are back in their
 * classes, and no free bypasses the class locks while objects move.
 *
 * Mapped objects never move: a source zspage is claimed busy and skipped if pinned (see the
 * protocol in zspage.h).  A pass runs under pool->compact_lock, from zs_compact or from the
 * automatic trigger at the end of this file (zs_free, once the pool's running total of
 * freeable pages reaches auto_compact_pages); class locks are taken in the documented order
 * (a class, then larger receiver classes upward).
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "compact.h"
#include "debug.h"
#include "fullness.h"
#include "handle.h"
#include "huge.h"
#include "os.h"
#include "pool.h"
#include "tcache.h"
#include "zspage.h"

/* Fewest pages @n objects of @class could occupy, packed at the front of full zspages. */
static unsigned long min_pages(const struct size_class *class, unsigned long n)
{
	unsigned long full = n / class->objs_per_zspage, rest = n % class->objs_per_zspage;

	return full * class->pages_per_zspage +
	       ((rest * class->size + ZS_PAGE_SIZE - 1) >> ZS_PAGE_SHIFT);
}

unsigned long zsi_class_freeable(struct size_class *class)
{
	if (class->huge) /* one page per object; its small cache is not worth a compaction */
		return 0;
	unsigned long used = cnt_get(class->pages_used);
	unsigned long need = min_pages(class, cnt_get(class->obj_used));

	return used > need ? used - need : 0;
}

/* ---- the reverse map ---- */

/* One scanned object: (zspage id << 11 | slot) << 28 | handle index (28 bits hold any index
 * below ZS_MAX_HANDLES). */
#define RM_HIDX_BITS 28
_Static_assert(ZS_MAX_HANDLES <= 1U << RM_HIDX_BITS, "a scanned object holds any handle index");
static inline uint64_t rm_pack(uint32_t id, uint32_t slot, uint32_t hidx)
{
	return ((uint64_t)id << HE_SLOT_BITS | slot) << RM_HIDX_BITS | hidx;
}

/*
 * The scan's objects, bucketed by class: only the classes in use when it began have a bucket (a
 * class taken into use since holds only unknown objects), numbered by rank among them, so a
 * pass over a pool using few of its classes allocates and clears little.
 */
struct rmap_scan {
	uint64_t *objs;
	size_t *start; /* bucket of the class of rank r: objs[start[r] .. end[r]) */
	size_t *end;
	size_t bytes, nr_buckets;
	uint64_t in_use[ZS_CLASS_WORDS];
	uint32_t rank_base[ZS_CLASS_WORDS]; /* buckets of the classes in words below */
};

/* The bucket of class @nth, which the scan's snapshot holds. */
static inline uint32_t scan_rank(const struct rmap_scan *sc, uint32_t nth)
{
	uint64_t below = sc->in_use[nth >> 6] & ((1ULL << (nth & 63)) - 1);

	return sc->rank_base[nth >> 6] + (uint32_t)__builtin_popcountll(below);
}

static inline const uint64_t *scan_bucket(const struct rmap_scan *sc, uint32_t nth, size_t *n)
{
	uint32_t r = scan_rank(sc, nth);

	*n = sc->end[r] - sc->start[r];
	return sc->objs + sc->start[r];
}

struct rmap {
	uint64_t *keys; /* (id << 11 | slot) + 1; 0 = empty */
	uint32_t *vals; /* handle index; 0 = no longer there */
	size_t mask, used, bytes;
};

/*
 * Scratch memory of a pass: from the heap while small (a small pool's pass would otherwise spend
 * more on mapping than on its work), mapped for the pass alone when large, so a big pool's pass
 * leaves nothing behind in the heap.
 */
#define TMP_HEAP_MAX (64 << 10)

static void *tmp_alloc(size_t bytes)
{
	return bytes < TMP_HEAP_MAX ? malloc(bytes) : zsi_os_reserve(zs_page_round(bytes));
}

static void tmp_free(void *p, size_t bytes)
{
	if (bytes < TMP_HEAP_MAX)
		free(p);
	else
		zsi_os_unreserve(p, zs_page_round(bytes));
}

/* The class of the object handle index @i names, if it is live in a zspage; else ZS_NO_CLASS. */
static uint16_t scanned_class(struct zs_pool *pool, uint32_t i, uint64_t *entry)
{
	uint64_t e = zs_load_acquire(handle_entry(&pool->handles, i));

	*entry = e;
	if (!he_live(e) || he_huge(e))
		return ZS_NO_CLASS;
	return zs_load_relaxed(&zspage_of(pool, he_id(e))->class_nth);
}

/*
 * Compaction reads the free bitmap (handle.h) word by word without the lock and looks only at
 * the indexes whose bit is clear: the 64 indexes of an all-free word are passed over, so a scan
 * costs in proportion to the words that hold a live or magazine index, not to the table's
 * high-water mark.  An index taken from the bitmap meanwhile is younger than the scan: merely
 * unknown.  (Index 0's bit is never set; its entry reads as free.)
 */
static inline uint64_t maybe_live(struct zs_pool *pool, uint32_t w)
{
	return ~handle_free_word(&pool->handles, w);
}

static inline uint32_t bit_index(uint32_t w, uint64_t bits)
{
	return (w << 6) + (uint32_t)__builtin_ctzll(bits);
}

/* The scan's three arrays of a count per bucket: start, fill point, limit. */
#define SCAN_ARRAYS 3

static bool scan_handles(struct zs_pool *pool, struct rmap_scan *sc)
{
	uint32_t top = zs_load_acquire(&pool->handles.top), words = handle_free_words(top);
	size_t k = 0, total = 0;

	classes_in_use(&pool->classes, sc->in_use);
	for (uint32_t w = 0; w < ZS_CLASS_WORDS; w++) {
		sc->rank_base[w] = (uint32_t)k;
		k += (size_t)__builtin_popcountll(sc->in_use[w]);
	}
	sc->nr_buckets = k;
	size_t *count = tmp_alloc((k + 1) * sizeof(size_t) * SCAN_ARRAYS);
	if (!count)
		return false;
	memset(count, 0, (k + 1) * sizeof(size_t) * SCAN_ARRAYS);
	size_t *fill = count + k + 1, *limit = fill + k + 1;
	for (uint32_t w = 0; w < words; w++) {
		for (uint64_t bits = maybe_live(pool, w); bits; bits &= bits - 1) {
			uint32_t i = bit_index(w, bits);
			uint64_t e;
			uint16_t nth = i < top ? scanned_class(pool, i, &e) : ZS_NO_CLASS;
			if (nth != ZS_NO_CLASS && class_map_has(sc->in_use, nth)) {
				count[scan_rank(sc, nth)]++;
				total++;
			}
		}
	}
	/* Room for objects allocated while we scan again: they are merely unknown if dropped. */
	sc->bytes = (total + 1) * sizeof(uint64_t);
	sc->objs = tmp_alloc(sc->bytes);
	if (!sc->objs) {
		tmp_free(count, (k + 1) * sizeof(size_t) * SCAN_ARRAYS);
		return false;
	}
	size_t at = 0;
	for (size_t r = 0; r < k; r++) {
		fill[r] = at;
		at += count[r];
		limit[r] = at;
		count[r] = fill[r];
	}
	for (uint32_t w = 0; w < words; w++) {
		for (uint64_t bits = maybe_live(pool, w); bits; bits &= bits - 1) {
			uint32_t i = bit_index(w, bits);
			uint64_t e;
			uint16_t nth = i < top ? scanned_class(pool, i, &e) : ZS_NO_CLASS;
			if (nth == ZS_NO_CLASS || !class_map_has(sc->in_use, nth))
				continue;
			uint32_t r = scan_rank(sc, nth);
			if (fill[r] < limit[r])
				sc->objs[fill[r]++] = rm_pack(he_id(e), he_slot(e), i);
		}
	}
	sc->start = count;
	sc->end = fill;
	return true;
}

static void scan_free(struct rmap_scan *sc)
{
	tmp_free(sc->objs, sc->bytes);
	tmp_free(sc->start, (sc->nr_buckets + 1) * sizeof(size_t) * SCAN_ARRAYS);
}

static inline size_t rm_hash(uint64_t key)
{
	key *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(key >> 32);
}

static bool rmap_set(struct rmap *rm, uint32_t id, uint32_t slot, uint32_t hidx)
{
	uint64_t key = ((uint64_t)id << HE_SLOT_BITS | slot) + 1;

	for (size_t i = rm_hash(key) & rm->mask;; i = (i + 1) & rm->mask) {
		if (rm->keys[i] == key) {
			rm->vals[i] = hidx;
			return true;
		}
		if (!rm->keys[i]) {
			/* Keep the table at most 3/4 full; past that, new keys are just unknown. */
			if (rm->used * 4 >= (rm->mask + 1) * 3)
				return false;
			rm->keys[i] = key;
			rm->vals[i] = hidx;
			rm->used++;
			return true;
		}
	}
}

static uint32_t rmap_get(struct rmap *rm, uint32_t id, uint32_t slot)
{
	uint64_t key = ((uint64_t)id << HE_SLOT_BITS | slot) + 1;

	for (size_t i = rm_hash(key) & rm->mask;; i = (i + 1) & rm->mask) {
		if (rm->keys[i] == key)
			return rm->vals[i];
		if (!rm->keys[i])
			return 0;
	}
}

/* Slots of the hash for @n objects: at most half full, and a power of two. */
static size_t rmap_cap(size_t n)
{
	size_t cap = 64;

	while (cap < n * 2 + 64)
		cap <<= 1;
	return cap;
}

/* One buffer serves every class of a pass: room for the largest bucket's hash. */
static bool rmap_alloc(struct rmap *rm, const struct rmap_scan *sc)
{
	size_t most = 0;

	for (size_t r = 0; r < sc->nr_buckets; r++)
		if (sc->end[r] - sc->start[r] > most)
			most = sc->end[r] - sc->start[r];
	size_t cap = rmap_cap(most);
	rm->bytes = cap * (sizeof(uint64_t) + sizeof(uint32_t));
	rm->keys = tmp_alloc(rm->bytes);
	rm->vals = (uint32_t *)(rm->keys + cap);
	return rm->keys != NULL;
}

/* The hash of the @n scanned objects @objs of one class, in the pass's buffer. */
static void rmap_build(struct rmap *rm, const uint64_t *objs, size_t n)
{
	size_t cap = rmap_cap(n);

	memset(rm->keys, 0, cap * sizeof(*rm->keys));
	rm->mask = cap - 1;
	rm->used = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t o = objs[k];
		if (o)
			rmap_set(rm, (uint32_t)(o >> (RM_HIDX_BITS + HE_SLOT_BITS)),
				 (uint32_t)(o >> RM_HIDX_BITS) & ((1U << HE_SLOT_BITS) - 1),
				 (uint32_t)(o & ((1U << RM_HIDX_BITS) - 1)));
	}
}

/* The handle index of the object in @slot of @z, checked against the live entry; 0 if unknown. */
static uint32_t slot_owner(struct zs_pool *pool, struct rmap *rm, struct zspage *z, uint32_t slot)
{
	uint32_t id = zspage_id(pool, z), hidx = rmap_get(rm, id, slot);

	if (!hidx)
		return 0;
	uint64_t e = zs_load_relaxed(handle_entry(&pool->handles, hidx));
	if (!he_live(e) || he_huge(e) || he_id(e) != id || he_slot(e) != slot)
		return 0;
	return hidx;
}

/* ---- moving ---- */

#define NO_SLOT UINT32_MAX

/* The highest used slot of @z below slot @s; NO_SLOT if none.  A walk over the bitmap's words,
 * so a sparse zspage of a small class (up to 1536 slots) costs its words, not its slots. */
static uint32_t used_slot_below(struct zspage *z, uint32_t s)
{
	const uint64_t *map = zspage_map(z);

	while (s > 0) {
		uint32_t w = (s - 1) >> 6, nbits = ((s - 1) & 63) + 1;
		uint64_t bits = map[w];

		if (nbits < 64)
			bits &= (1ULL << nbits) - 1;
		if (bits)
			return (w << 6) + 63 - (uint32_t)__builtin_clzll(bits);
		s = w << 6;
	}
	return NO_SLOT;
}

/* Move handle @hidx from @slot of @src into the lowest free slot of @dst. */
static void move_object(struct zs_pool *pool, struct rmap *rm, struct size_class *sc,
			struct zspage *src, uint32_t slot, struct size_class *dc,
			struct zspage *dst, uint32_t hidx)
{
	uint64_t e = zs_load_relaxed(handle_entry(&pool->handles, hidx));
	uint32_t size = he_size(e);
	uint32_t dslot = zsi_slot_alloc(pool, dc, dst);

	memcpy(zspage_base(pool, dst) + (size_t)dslot * dc->size,
	       zspage_base(pool, src) + (size_t)slot * sc->size, size);
	zs_store_release(handle_entry(&pool->handles, hidx),
			 he_make(zspage_id(pool, dst), dslot, size, he_gen(e)));
	zsi_slot_free(pool, sc, src, slot);
	if (sc != dc) {
		cnt_add_locked(sc->obj_used, -1);
		cnt_add_locked(sc->bytes_used, -(long)size);
		cnt_add_locked(dc->obj_used, 1);
		cnt_add_locked(dc->bytes_used, size);
	} else {
		rmap_set(rm, zspage_id(pool, dst), dslot, hidx);
	}
}

/* The emptiest zspage with objects that no mapper holds, claimed busy; NULL if none. */
static struct zspage *pick_source(struct zs_pool *pool, struct size_class *class)
{
	struct zspage *z;
	uint32_t next;

	for (uint32_t g = 1; g < ZS_FULL; g++)
		for_each_zspage(&pool->vm.desc, class, g, z,
				next) if (!z->skip && zspage_claim(z)) return z;
	return NULL;
}

/* Pages it gave back to the kernel (its own go to the resident runs, which the pass gives back
 * at its end, but keeping them there may push older runs out).  Pending trims go first: the run
 * may be handed out as soon as it is a resident run. */
static unsigned long destroy_if_empty(struct zs_pool *pool, struct zspage *z,
				      struct zs_release_batch *later)
{
	unsigned long released = 0;

	if (!z->inuse) {
		zsi_os_release_flush(later);
		zsi_zspage_destroy(pool, z, &released);
	}
	return released;
}

/*
 * Steps 1 and 2 for one class; caller holds class->lock and flushes @later before dropping it.
 * Returns the pages given back net of
 * those that moved objects made resident in their destinations (a destination's free slots may
 * lie past its populated prefix); the emptied zspages' pages are given back with the resident
 * runs at the end of the pass, so this may be negative.
 */
static long compact_class(struct zs_pool *pool, struct size_class *class, struct rmap *rm,
			  struct zs_release_batch *later)
{
	unsigned long freed = 0, grown = 0;
	struct zspage *z;
	uint32_t next, objs = class->objs_per_zspage;

	for_each_zspage(&pool->vm.desc, class, ZS_EMPTY, z, next) freed +=
	    destroy_if_empty(pool, z, later);
	for (uint32_t g = 1; g < ZS_FULL; g++)
		for_each_zspage(&pool->vm.desc, class, g, z, next) z->skip = 0;

	while (zsi_class_freeable(class)) {
		struct zspage *src = pick_source(pool, class);
		if (!src)
			break;
		struct zspage *dst = zsi_class_fullest(&pool->vm.desc, class, src);
		if (!dst || !dst->inuse) {
			zspage_unclaim(src);
			break;
		}
		uint32_t dst_pages = dst->populated;
		for (uint32_t s = used_slot_below(src, objs);
		     s != NO_SLOT && src->inuse && dst->inuse < objs; s = used_slot_below(src, s)) {
			uint32_t hidx = slot_owner(pool, rm, src, s);
			if (hidx)
				move_object(pool, rm, class, src, s, class, dst, hidx);
		}
		grown += dst->populated - dst_pages;
		/* Objects we do not know of keep it here: do not pick it again. */
		if (src->inuse && dst->inuse < objs)
			src->skip = 1;
		zspage_unclaim(src);
		freed += destroy_if_empty(pool, src, later);
	}

	for (uint32_t g = 1; g < ZS_FULL; g++) {
		for_each_zspage(&pool->vm.desc, class, g, z, next)
		{
			if (!zspage_claim(z))
				continue;
			/* Objects slid down land below first_free, which the walk stops at. */
			for (uint32_t s = used_slot_below(z, objs);
			     s != NO_SLOT && s > z->first_free; s = used_slot_below(z, s)) {
				uint32_t hidx = slot_owner(pool, rm, z, s);
				if (hidx)
					move_object(pool, rm, class, z, s, class, z, hidx);
			}
			freed += zsi_zspage_trim(pool, class, z, later);
			zspage_unclaim(z);
		}
	}
	return (long)freed - (long)grown;
}

/* ---- step 3: cross-class packing ---- */

#define PACK_MAX_SLOTS 160 /* > the most objects one page can touch (4096 / 32 + 1) */

struct pack_slot {
	struct size_class *class;
	struct zspage *z;
};

/* Resident free slots of @class, in the order zsi_slot_alloc will hand them out. */
static uint32_t collect_resident_free(struct zs_pool *pool, struct size_class *class,
				      struct pack_slot *out, uint32_t n, uint32_t max)
{
	/* Only the partly used lists that are not empty, fullest first: a receiver class is
	 * asked for every tail page packed, and most of its lists are empty. */
	uint32_t mask = zs_load_relaxed(&class->list_mask) & ~(1U << ZS_FULL) & ~(1U << ZS_EMPTY);
	struct zspage *z;
	uint32_t next;

	while (mask && n < max) {
		uint32_t g = 31 - (uint32_t)__builtin_clz(mask);

		mask &= ~(1U << g);
		for_each_zspage(&pool->vm.desc, class, g, z, next)
		{
			for (uint32_t s = z->first_free; s < class->objs_per_zspage && n < max;
			     s++) {
				if (pages_for_slot(class, s) > z->populated)
					break;
				if (!slot_used(z, s))
					out[n++] = (struct pack_slot){class, z};
			}
			if (n >= max)
				break;
		}
	}
	return n;
}

/*
 * Move every object touching the last resident page of @z into the free resident slots of the
 * receiver classes (@class, @last] (locked), if all fit within the pool's packing distance of
 * their own size class.  Returns pages released (trims pending in @later).
 */
static unsigned long pack_last_page(struct zs_pool *pool, struct rmap *rm, struct size_class *class,
				    struct zspage *z, const struct size_class *last, bool *emptied,
				    struct zs_release_batch *later)
{
	struct pack_slot free_slots[PACK_MAX_SLOTS];
	uint32_t tail[PACK_MAX_SLOTS], hidx[PACK_MAX_SLOTS], nt = 0, nf = 0;

	if (!z->populated)
		return 0;
	size_t page_start = (size_t)(z->populated - 1) << ZS_PAGE_SHIFT;
	for (uint32_t s = page_start / class->size; s < class->objs_per_zspage; s++) {
		if ((size_t)s * class->size >= page_start + ZS_PAGE_SIZE)
			break;
		if (!slot_used(z, s))
			continue;
		if (!(hidx[nt] = slot_owner(pool, rm, z, s)))
			return 0;
		tail[nt++] = s;
	}
	if (!nt)
		return zsi_zspage_trim(pool, class, z, later);
	for (struct size_class *r = class + 1; r <= last && nf < nt; r++)
		nf = collect_resident_free(pool, r, free_slots, nf, nt);
	if (nf < nt)
		return 0;
	/* Every object must stay within pack_bytes of its own class. */
	for (uint32_t i = 0; i < nt; i++) {
		uint64_t e = zs_load_relaxed(handle_entry(&pool->handles, hidx[i]));
		uint32_t own = class_for_size(&pool->classes, he_size(e))->size;
		if (free_slots[i].class->size - own > pool->pack_bytes)
			return 0;
	}
	if (!zspage_claim(z))
		return 0;
	for (uint32_t i = 0; i < nt; i++)
		move_object(pool, rm, class, z, tail[i], free_slots[i].class, free_slots[i].z,
			    hidx[i]);
	zspage_unclaim(z);
	if (!z->inuse) {
		*emptied = true;
		return destroy_if_empty(pool, z, later);
	}
	return zsi_zspage_trim(pool, class, z, later);
}

static unsigned long pack_class(struct zs_pool *pool, struct size_class *class, struct rmap *rm,
				struct zs_release_batch *later)
{
	struct size_class *end = pool->classes.v + pool->classes.nr, *last = class;
	unsigned long freed = 0;
	struct zspage *z;
	uint32_t next;

	while (last + 1 < end && !last[1].huge && last[1].size - class->size <= pool->pack_bytes)
		last++;
	if (last == class)
		return 0;
	for (struct size_class *r = class + 1; r <= last; r++)
		pthread_mutex_lock(&r->lock);
	for (uint32_t g = ZS_FULL - 1; g >= 1; g--) {
		for_each_zspage(&pool->vm.desc, class, g, z, next)
		{
			/* Page by page from the end, while the receivers have room. */
			for (bool emptied = false;;) {
				unsigned long got =
				    pack_last_page(pool, rm, class, z, last, &emptied, later);
				freed += got;
				if (!got || emptied)
					break;
			}
		}
	}
	for (struct size_class *r = last; r > class; r--) {
		track_freeable(pool, r);
		pthread_mutex_unlock(&r->lock);
	}
	return freed;
}

/* ---- step 4: renumbering ---- */

static void renumber_class(struct zs_pool *pool, struct size_class *class, struct rmap *rm)
{
	uint32_t owners[ZS_MAX_PAGES_PER_ZSPAGE * ZS_PAGE_SIZE / ZS_MIN_ALLOC_SIZE];
	/* No zspage at or below the lowest free id can move down: only those above are looked
	 * at (a free id that appears meanwhile is merely not used in this pass). */
	uint32_t low = zsi_id_lowest_free(&pool->vm);
	struct zspage *z;
	uint32_t next;

	for (uint32_t g = 0; g < ZS_NR_RATIO_BUCKETS; g++) {
		for_each_zspage(&pool->vm.desc, class, g, z, next)
		{
			uint32_t id = zspage_id(pool, z), n = 0;
			bool known = true;

			if (!low || id < low)
				continue;
			for (uint32_t s = 0; s < class->objs_per_zspage && known; s++)
				if (slot_used(z, s) && !(owners[n++] = slot_owner(pool, rm, z, s)))
					known = false;
			if (!known)
				continue;
			uint32_t nid = zsi_id_get(&pool->vm, id);
			if (!nid)
				continue;
			if (!zspage_claim(z)) {
				zsi_id_put(&pool->vm, nid);
				continue;
			}
			zsi_zspage_move(pool, class, z, nid);
			for (uint32_t i = 0; i < n; i++) {
				uint32_t h = owners[i];
				uint64_t e = zs_load_relaxed(handle_entry(&pool->handles, h));
				zs_store_release(handle_entry(&pool->handles, h),
						 he_make(nid, he_slot(e), he_size(e), he_gen(e)));
				rmap_set(rm, nid, he_slot(e), h);
			}
			zsi_zspage_retire(pool, z);
			low = zsi_id_lowest_free(&pool->vm);
		}
	}
}

/* One pass over every class, largest first; caller holds compact_lock. */
static unsigned long compact_pool(struct zs_pool *pool)
{
	long freed = 0;
	struct rmap_scan sc;
	struct zs_release_batch later;

	struct rmap rm;

	/* No page in a zspage or a huge object (an emptied pool): nothing to move or trim, only
	 * the resident runs and the tables to give back. */
	if (!pages_in_use(pool, 0))
		goto tables;
	if (!scan_handles(pool, &sc))
		return 0;
	if (!rmap_alloc(&rm, &sc)) {
		scan_free(&sc);
		return 0;
	}
	/* The classes that had a zspage when the scan began: one that has none has nothing to
	 * give, and one taken into use since holds only objects younger than the scan. */
	for_each_class_down(sc.in_use, pool->classes.nr, i)
	{
		struct size_class *class = &pool->classes.v[i];

		if (!cnt_get(class->zspages))
			continue;
		if (class->huge) {
			pthread_mutex_lock(&class->lock);
			freed += (long)zsi_huge_cache_release(pool, class);
			track_freeable(pool, class);
			pthread_mutex_unlock(&class->lock);
			continue;
		}
		size_t n;
		const uint64_t *objs = scan_bucket(&sc, (uint32_t)i, &n);

		rmap_build(&rm, objs, n);
		zsi_release_batch_init(&later);
		pthread_mutex_lock(&class->lock);
		freed += compact_class(pool, class, &rm, &later);
		if (pool->pack_bytes)
			freed += (long)pack_class(pool, class, &rm, &later);
		renumber_class(pool, class, &rm);
		/* The trimmed tails, in as few calls as they take, before an allocation may reach
		 * them. */
		zsi_os_release_flush(&later);
		track_freeable(pool, class);
		pthread_mutex_unlock(&class->lock);
	}
	tmp_free(rm.keys, rm.bytes);
	scan_free(&sc);
tables:;
	unsigned long runs = zsi_resident_release(&pool->vm);
	pool_pages_released(pool, runs);
	freed += (long)runs;
	zsi_ids_shrink(&pool->vm);
	/* The pages of handle entries whose indexes are all free (handle.c hands out the lowest
	 * free index first, so a shrinking pool's upper pages empty). */
	zsi_handles_shrink(&pool->handles);
	/* What this pass could not free does not count towards the next automatic one. */
	zs_store_relaxed(&pool->freeable_floor, zs_load_relaxed(&pool->freeable_total));
	if (freed < 0)
		freed = 0;
	zs_fetch_add_relaxed(&pool->pages_compacted, (unsigned long)freed);
	return (unsigned long)freed;
}

ZS_API unsigned long zs_compact(struct zs_pool *pool)
{
	if (!pool)
		return 0;
	pthread_mutex_lock(&pool->compact_lock);
	unsigned long drained = zsi_tcache_gate_up(pool);
	unsigned long freed = compact_pool(pool) + drained;
	zs_fetch_add_relaxed(&pool->pages_compacted, drained);
	zsi_tcache_gate_down(pool);
	zsi_debug_check_pool_locked(pool);
	pthread_mutex_unlock(&pool->compact_lock);
	return freed;
}

/* ---- automatic compaction ---- */

/*
 * The pool keeps a running total of its freeable pages: each class adds the change of its own
 * figure after every allocation and free (only when the option is on), so the trigger costs
 * one comparison, not a walk over the classes.  The trigger counts from what the last pass left
 * (freeable_floor: pinned or unknown objects, a concurrent allocation): otherwise a pool whose
 * last pass could not get under the threshold would compact again at every zs_free.
 */
void zsi_track_freeable(struct zs_pool *pool, struct size_class *class)
{
	if (!pool->auto_compact_pages)
		return;
	unsigned long now = zsi_class_freeable(class);
	if (now != class->freeable_seen) {
		zs_fetch_add_relaxed(&pool->freeable_total, now - class->freeable_seen);
		class->freeable_seen = now;
	}
}

void zsi_auto_compact(struct zs_pool *pool, struct size_class *class)
{
	if (!pool->auto_compact_pages)
		return;
	zsi_track_freeable(pool, class);
	if (zs_load_relaxed(&pool->freeable_total) <
	    zs_load_relaxed(&pool->freeable_floor) + pool->auto_compact_pages)
		return;
	/* Never wait behind a running compaction: it is doing the same job. */
	pthread_mutex_unlock(&class->lock);
	if (!pthread_mutex_trylock(&pool->compact_lock)) {
		zsi_tcache_gate_up(pool);
		compact_pool(pool);
		zsi_tcache_gate_down(pool);
		zsi_debug_check_pool_locked(pool);
		pthread_mutex_unlock(&pool->compact_lock);
	}
	pthread_mutex_lock(&class->lock);
}
