/*
 * zspage.h - a zspage and its descriptor (zspage.c).  Never installed.
 *
 * A zspage is a run of 1..16 contiguous pages of one arena, cut into equal slots of its size
 * class; it is named by its id, the index of its descriptor in the pool's descriptor table
 * (arena.h).  Slots are handed out lowest first, so the live objects of a zspage sit at its
 * front and the pages past the last slot ever reached are never touched: populated counts the
 * resident prefix.
 *
 * The pin protocol (mapping without a lock against compaction moving objects):
 *   mapper: pins += 1 (seq_cst); then checks busy == 0 (seq_cst) and that the handle entry
 *           still names this zspage; if not, pins -= 1 and it tries again.
 *   mover:  busy = 1 (seq_cst); then checks pins == 0 (seq_cst); if not, busy = 0 and it
 *           leaves the zspage alone (zspage_claim).
 * Each side stores before it loads the other's flag, so with one total order either the
 * mapper sees busy and retries, or the mover sees the pin: a mapped object is never moved.
 */
#ifndef ZS_ZSPAGE_H
#define ZS_ZSPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "size_class.h"
#include "zs_atomic.h"

/* The bitmap that fits in the descriptor's cache line; zspages of more slots (small classes
 * in long chains) keep theirs on the heap (ext_map). */
#define ZS_INLINE_SLOTS 192
#define ZS_NO_CLASS	0xffff /* class_nth of a free descriptor */

struct zspage {
	/* Read without the class lock (the pin protocol); they stay with the id. */
	_Atomic uint32_t pins;	      /* mappers using objects of this zspage now */
	uint32_t id;		      /* its own index in the descriptor table */
	_Atomic uint16_t class_nth;   /* physical class owning it; ZS_NO_CLASS while free */
	_Atomic uint16_t last_mapped; /* slot + 1 of the object pinned last, until unpinned */
	_Atomic uint8_t busy;	      /* a mover is working on it */
	/*
	 * The zspage's state, under the class lock: from here to the end.  Creation clears it
	 * and moving the zspage to another id copies it, both as one block (ZSPAGE_STATE).
	 */
	uint8_t populated;   /* resident prefix, in pages */
	uint8_t fullness;    /* which list it is on */
	uint8_t skip;	     /* compaction: leave alone in this pass */
	uint32_t prev, next; /* fullness list links, by id (0 ends the list) */
	uint16_t inuse;	     /* live objects */
	uint16_t first_free; /* lowest free slot; == objs_per_zspage when full */
	uint32_t page;	     /* page number (arena.h) of the first page of its run */
	uint64_t *ext_map;   /* allocation bitmap when objs > ZS_INLINE_SLOTS */
	uint64_t map[3];     /* inline allocation bitmap */
};
#define ZSPAGE_STATE offsetof(struct zspage, populated)
_Static_assert(sizeof(struct zspage) == ZS_DESC_BYTES, "a zspage descriptor is one cache line");
_Static_assert(ZS_INLINE_SLOTS == 8 * sizeof(((struct zspage *)0)->map),
	       "the inline bitmap holds ZS_INLINE_SLOTS bits");

/* Descriptor @id of the table @desc (the pool's vm.desc). */
static inline struct zspage *zspage_at(const struct zs_table *desc, uint32_t id)
{
	return desc_at(desc, id);
}

static inline uint64_t *zspage_map(struct zspage *z)
{
	return z->ext_map ? z->ext_map : z->map;
}
static inline bool slot_used(struct zspage *z, uint32_t s)
{
	return zspage_map(z)[s >> 6] >> (s & 63) & 1;
}

/* Is the lowest free slot of @z already resident? */
static inline bool zspage_free_slot_resident(const struct size_class *class, const struct zspage *z)
{
	return z->first_free < class->objs_per_zspage &&
	       pages_for_slot(class, z->first_free) <= z->populated;
}

/* A mover's claim (see the pin protocol above): false, and nothing held, while pinned. */
static inline bool zspage_claim(struct zspage *z)
{
	zs_store_seq_cst(&z->busy, 1);
	if (zs_load_seq_cst(&z->pins)) {
		zs_store_release(&z->busy, 0);
		return false;
	}
	return true;
}
static inline void zspage_unclaim(struct zspage *z)
{
	zs_store_release(&z->busy, 0);
}

/*
 * The zspage life cycle.  Caller holds @class's lock (for zsi_zspage_destroy, the lock of the
 * class owning @z); these take the arena lock for address space and ids.
 */
struct zs_pool;
/* A new empty zspage of @class, on its empty list; NULL when out of memory or ids. */
struct zspage *zsi_zspage_create(struct zs_pool *pool, struct size_class *class);
/* Free an empty zspage, its pages kept as a resident run; false (nothing changed) while a
 * mapper holds a pin.  *@released (if not NULL): pages that went back to the kernel. */
bool zsi_zspage_destroy(struct zs_pool *pool, struct zspage *z, unsigned long *released);
/* Take the lowest free slot of @z (not full), making its pages resident as needed. */
uint32_t zsi_slot_alloc(struct zs_pool *pool, struct size_class *class, struct zspage *z);
void zsi_slot_free(struct zs_pool *pool, struct size_class *class, struct zspage *z, uint32_t slot);
/*
 * Give back the pages past the last live object into @later (os.h), which the caller flushes
 * before it lets go of @class's lock and before @z may be destroyed (its run could otherwise be
 * handed out with those pages still pending); returns the pages released (counted as gone at
 * once).
 */
unsigned long zsi_zspage_trim(struct zs_pool *pool, struct size_class *class, struct zspage *z,
			      struct zs_release_batch *later);
/*
 * Renumbering, in two steps around the caller repointing the handles of @z's objects: move
 * (the claimed) @z's state to the free id @nid (taken with zsi_id_get), in @z's place on its
 * list, and return the new descriptor; then zsi_zspage_retire(@z) frees the old id.
 */
struct zspage *zsi_zspage_move(struct zs_pool *pool, struct size_class *class, struct zspage *z,
			       uint32_t nid);
void zsi_zspage_retire(struct zs_pool *pool, struct zspage *z);
/* At pool destruction: free the heap memory of every zspage. */
void zsi_zspages_fini(struct zs_pool *pool);

#endif /* ZS_ZSPAGE_H */
