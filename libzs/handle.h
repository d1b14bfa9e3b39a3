/*
 * handle.h - the handle table (handle.c): what an entry holds, what a handle value is, and the
 * magazines of free indexes that the size classes keep.  Never installed.
 *
 * A handle is (pool tag << 48 | generation << 32 | index).  The index names an entry of the
 * pool's handle table; a live entry holds its object's place (zspage id and slot, or the page
 * of a huge object), its requested size and its generation in one 64-bit word, so one atomic
 * store moves an object.  The tag tells the pools apart, the generation tells a handle from
 * the earlier ones of its index.
 *
 * Entries (64 bits):
 *   live, in a zspage: LIVE | gen (15) | size - 1 (12) | slot (11) | zspage id (24)
 *   live, huge:        LIVE | HUGE | gen (15) | size - 1 (12) | page number (35)
 *   free:              gen (15) | 0 (32)
 *   cached:            a live zspage entry without LIVE: its slot waits in a thread's cache
 *                      (tcache.h) for the next object; its index is not free
 * The generation survives a free, so the next owner of the index gets a different one.  Free
 * indexes are bits of a bitmap (handle.c), not a list through the entries, so that the lowest
 * one goes out first and whole pages of free entries can be given back: such a page reads as
 * zeros (never a live entry) and its indexes return with a generation above all they had.
 */
#ifndef ZS_HANDLE_H
#define ZS_HANDLE_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "os.h"
#include "table.h"
#include "zs_atomic.h"

#define HE_LIVE	       (1ULL << 63)
#define HE_HUGE	       (1ULL << 62)
#define HE_ID_BITS     24
#define HE_SLOT_BITS   11
#define HE_LOC_BITS    (HE_ID_BITS + HE_SLOT_BITS)
#define HE_SIZE_BITS   12
#define HE_GEN_SHIFT   (HE_LOC_BITS + HE_SIZE_BITS)
#define HE_GEN_MASK    0x7fffU
#define ZS_MAX_HANDLES (1U << 28) /* 268M live objects: 2 GiB of table at most */
/* The table grows in chunks (table.h) from one page of entries: 8-byte entries, 512 of them. */
#define HT_ENTRY_SHIFT 3
#define HT_FIRST_SHIFT 9
#define HT_PAGE_SHIFT  (ZS_PAGE_SHIFT - HT_ENTRY_SHIFT) /* entries per page: 512 */
/* A page of free entries is given back only while all its generations are below this. */
#define HT_RELEASE_GEN_MAX ((HE_GEN_MASK + 1) / 2)
/* The bitmap of free indexes: 64-bit words in a table of its own, from one page (32768
 * indexes). */
#define HF_WORD_SHIFT  3
#define HF_FIRST_SHIFT 9

static inline uint64_t he_make(uint32_t id, uint32_t slot, uint32_t size, uint32_t gen)
{
	return HE_LIVE | (uint64_t)(gen & HE_GEN_MASK) << HE_GEN_SHIFT |
	       (uint64_t)(size - 1) << HE_LOC_BITS | (uint64_t)slot << HE_ID_BITS | id;
}
static inline uint64_t he_make_huge(uint32_t page, uint32_t size, uint32_t gen)
{
	return HE_LIVE | HE_HUGE | (uint64_t)(gen & HE_GEN_MASK) << HE_GEN_SHIFT |
	       (uint64_t)(size - 1) << HE_LOC_BITS | page;
}
static inline bool he_live(uint64_t e)
{
	return e & HE_LIVE;
}
static inline bool he_huge(uint64_t e)
{
	return e & HE_HUGE;
}
static inline uint32_t he_id(uint64_t e)
{
	return e & ((1U << HE_ID_BITS) - 1);
}
static inline uint32_t he_page(uint64_t e)
{
	return (uint32_t)(e & ((1ULL << HE_LOC_BITS) - 1));
}
static inline uint32_t he_slot(uint64_t e)
{
	return (e >> HE_ID_BITS) & ((1U << HE_SLOT_BITS) - 1);
}
static inline uint32_t he_size(uint64_t e)
{
	return ((e >> HE_LOC_BITS) & ((1U << HE_SIZE_BITS) - 1)) + 1;
}
static inline uint32_t he_gen(uint64_t e)
{
	return (e >> HE_GEN_SHIFT) & HE_GEN_MASK;
}
static inline uint64_t he_make_free(uint32_t gen, uint32_t next)
{
	return (uint64_t)(gen & HE_GEN_MASK) << HE_GEN_SHIFT | next;
}
/* The entry of a freed object whose slot a thread's cache keeps (tcache.h). */
static inline uint64_t he_cached(uint64_t e)
{
	return e & ~HE_LIVE;
}
static inline uint32_t he_next(uint64_t e)
{
	return (uint32_t)e;
}
/* The generation the next owner of a free entry gets. */
static inline uint32_t he_next_gen(uint64_t e)
{
	return (he_gen(e) + 1) & HE_GEN_MASK;
}

/* Handle values handed to users: tag (16) | generation (16) | index (32). */
static inline unsigned long handle_make(uint16_t tag, uint32_t gen, uint32_t idx)
{
	return (unsigned long)tag << 48 | (unsigned long)gen << 32 | idx;
}
static inline uint16_t handle_tag(unsigned long h)
{
	return h >> 48;
}
static inline uint32_t handle_gen(unsigned long h)
{
	return (h >> 32) & 0xffff;
}
static inline uint32_t handle_idx(unsigned long h)
{
	return (uint32_t)h;
}

/*
 * Free handle indexes a class keeps at hand, under its own lock, so the common path takes no
 * shared lock.  An empty magazine takes ZS_MAG_REFILL from the table (few: every index ever
 * handed to a magazine stays in the table for good); a full one gives back down to half.
 */
#define ZS_MAG_SIZE   16
#define ZS_MAG_REFILL 4

struct zs_magazine {
	uint32_t n;
	uint32_t idx[ZS_MAG_SIZE];
};

struct zs_handles {
	struct zs_table tab;  /* the entries, by index; grown under lock before top passes cap */
	_Atomic uint32_t top; /* indexes below this have been handed out once */
	uint16_t tag;	      /* this pool's, in every handle it issues */
	pthread_mutex_t lock; /* the free bitmap and the released pages */
	/*
	 * Bit i set: index i is free and held by the table (not by a user, not in a magazine).
	 * Written under lock, read lock-free by compaction's scan (which passes over words of
	 * free indexes).  Words exist up to top's.
	 */
	struct zs_table free_bits;
	uint32_t free_low;   /* no free bit in the words below this one */
	uint32_t free_words; /* words the bitmap has grown to */
	/*
	 * Pages of entries given back (zsi_handles_shrink): gen_floor[p] != 0 while page p reads
	 * as zeros; it is the generation above every one its indexes have had, which the page's
	 * entries take when it is first used again.  Heap memory, under lock.
	 */
	uint16_t *gen_floor;
	uint32_t floor_cap;	   /* pages gen_floor covers */
	_Atomic uint32_t released; /* pages of entries given back now */
};

/* Entry @idx (below top). */
static inline _Atomic uint64_t *handle_entry(const struct zs_handles *t, uint32_t idx)
{
	return table_at(&t->tab, idx, HT_ENTRY_SHIFT, HT_FIRST_SHIFT);
}

/* Take a pool tag and start the table (its first chunk comes with the first handle): 0, or
 * -ENOMEM (then nothing is held). */
int zsi_handles_init(struct zs_handles *t);
void zsi_handles_fini(struct zs_handles *t);
/* A free index into *@idx, from @mag (refilled from the table when empty); false if the table
 * is full.  Caller holds the lock of the class owning @mag. */
bool zsi_handle_get(struct zs_handles *t, struct zs_magazine *mag, uint32_t *idx);
/* Give back index @idx, whose entry the caller has already marked free (keeping its
 * generation).  Caller holds the lock of the class owning @mag. */
void zsi_handle_put(struct zs_handles *t, struct zs_magazine *mag, uint32_t idx);
/*
 * Give back the pages of entries whose 512 indexes are all free in the table (none in a
 * magazine or live) and below HT_RELEASE_GEN_MAX generations; they read as zeros, which lookups
 * refuse, until an index of theirs is handed out again with a generation above any it had.  Returns
 * the bytes given back.  Takes t->lock; compaction calls it at the end of a pass.
 */
size_t zsi_handles_shrink(struct zs_handles *t);
/* Word @w of the free bitmap (below handle_free_words()): bit k set when index 64 @w + k is free
 * in the table.  A snapshot, read without the lock. */
static inline uint64_t handle_free_word(const struct zs_handles *t, uint32_t w)
{
	return zs_load_relaxed(
	    (_Atomic uint64_t *)table_at(&t->free_bits, w, HF_WORD_SHIFT, HF_FIRST_SHIFT));
}
/* Words of the free bitmap that a reader which loaded @top (with acquire) may read: every index
 * below top has its word, grown before top passed it; none before the first index. */
static inline uint32_t handle_free_words(uint32_t top)
{
	return top > 1 ? (top + 63) / 64 : 0;
}
/* Resident bytes of the table, its free bitmap and its released pages' floors. */
unsigned long zsi_handles_bytes(struct zs_handles *t);
/* Address space the table has reserved. */
size_t zsi_handles_reserved(struct zs_handles *t);

/*
 * The entry of the live @handle, its value in *@entry; NULL (errno EINVAL) if @handle was not
 * issued by this table or its object is gone.  Takes no lock; inline, as every mapping call
 * and zs_free start here.
 */
static inline _Atomic uint64_t *handle_lookup_entry(struct zs_handles *t, unsigned long handle,
						    uint64_t *entry)
{
	uint32_t idx = handle_idx(handle);

	if (handle_tag(handle) != t->tag || idx == 0 || idx >= zs_load_acquire(&t->top))
		goto bad;
	_Atomic uint64_t *ent = handle_entry(t, idx);
	uint64_t e = zs_load_acquire(ent);
	if (!he_live(e) || he_gen(e) != handle_gen(handle))
		goto bad;
	*entry = e;
	return ent;
bad:
	errno = EINVAL;
	return NULL;
}

/* The same, for callers that need only the entry's value. */
static inline bool handle_lookup(struct zs_handles *t, unsigned long handle, uint64_t *entry)
{
	return handle_lookup_entry(t, handle, entry) != NULL;
}

#endif /* ZS_HANDLE_H */
