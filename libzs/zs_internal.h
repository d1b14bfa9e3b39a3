/*
 * libzs internals: the data structures shared by the allocator's files.  Never installed.
 *
 * Design in brief
 * ---------------
 * A pool owns a set of large address-space reservations ("arenas", MAP_NORESERVE).  A zspage
 * is a run of 1..16 contiguous pages of one arena, cut into equal slots of its size class.
 * Because a zspage is contiguous virtual memory, an object never needs a bounce copy: mapping
 * returns base + slot * size.
 *
 * Pages of a zspage are made resident lazily.  Slots are handed out lowest index first, so the
 * live objects of a zspage sit at its front and the pages past the last slot ever reached are
 * never touched.  zspage->populated counts the resident prefix; that count, summed over all
 * zspages, is pages_used, and it is exactly what the process's RSS shows for the pool.  Pages
 * are given back with MADV_DONTNEED when a zspage empties or compaction trims its tail.  This
 * makes a long zspage cost no more than a short one while it is partly filled, so we can use
 * long chains (little tail waste, a high huge threshold) without the partial-zspage penalty
 * that makes the kernel keep chains short.
 *
 * Handles: a handle is (pool tag << 48 | generation << 32 | index).  The index names an entry
 * of the pool's handle table; a live entry holds the object's zspage id, slot, requested size
 * and generation in one 64-bit word, so one atomic store moves an object.  A zspage id names
 * a 64-byte descriptor in the zspage table, which is one reservation that lives as long as the
 * pool: lock-free readers may pin any id without ever touching freed memory.  A descriptor
 * keeps an allocation bitmap, not a slot-to-handle map; compaction, which needs that map,
 * builds it by scanning the handle table (see compact.c).  Ids are handed out lowest first and
 * compaction renumbers zspages downward, so the table's resident part follows the live zspages.
 * Huge objects (one per page) never move: their entry holds the page itself, no descriptor.
 *
 * Mapping and moving: zs_map_object takes no lock.  It pins the zspage (ztab->pins), then
 * checks that no mover is busy on it and that the handle still points where it read.  A mover
 * (compaction) marks the source zspage busy, then checks the pin count; both sides use
 * sequentially consistent operations, so either the mapper sees busy and retries, or the mover
 * sees the pin and leaves the zspage alone.  A mapped object is therefore never moved.
 *
 * lock ordering (outermost first):
 *   pool->compact_lock     serialises compactions (zs_compact, automatic compaction)
 *   size_class->lock       per physical class; two are held only by cross-class moves and
 *                          allocation spill, always the smaller class index first
 *   pool->vm.lock          address space (arenas, free page runs) and zspage ids
 *   pool->handle_lock      the global list of free handle indexes
 * zs_map_object / zs_unmap_object / zs_obj_read_* take no lock at all.
 */
#ifndef ZS_INTERNAL_H
#define ZS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zs/zsmalloc.h"

#define ZS_PAGE_SHIFT 12
#define ZS_PAGE_SIZE (1UL << ZS_PAGE_SHIFT)

/* Fullness groups: the kernel's in-use ratio buckets. */
enum zs_fullness {
	ZS_EMPTY = 0,
	/* 1..10: in use 0-9%, 10-19%, ... 90-99% */
	ZS_FULL = ZS_NR_RATIO_BUCKETS - 1,
};

/*
 * Handle table entries (64 bits).
 *   live, in a zspage: LIVE | gen (15) | size - 1 (12) | slot (11) | zspage id (24)
 *   live, huge:        LIVE | HUGE | gen (15) | size - 1 (12) | page number (35)
 *   free:              gen (15) | next free index (32)
 * The generation survives a free, so the next owner of the index gets a different one.
 */
#define HE_LIVE (1ULL << 63)
#define HE_HUGE (1ULL << 62)
#define HE_ID_BITS 24
#define HE_SLOT_BITS 11
#define HE_LOC_BITS (HE_ID_BITS + HE_SLOT_BITS)
#define HE_SIZE_BITS 12
#define HE_GEN_SHIFT (HE_LOC_BITS + HE_SIZE_BITS)
#define HE_GEN_MASK 0x7fffU
#define ZS_MAX_ZSPAGES (1U << HE_ID_BITS)
#define ZS_MAX_HANDLES (1U << 28) /* 2 GiB of reserved table; 268M live objects */

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
static inline bool he_live(uint64_t e) { return e & HE_LIVE; }
static inline bool he_huge(uint64_t e) { return e & HE_HUGE; }
static inline uint32_t he_id(uint64_t e) { return e & (ZS_MAX_ZSPAGES - 1); }
static inline uint32_t he_page(uint64_t e) { return (uint32_t)(e & ((1ULL << HE_LOC_BITS) - 1)); }
static inline uint32_t he_slot(uint64_t e) { return (e >> HE_ID_BITS) & ((1U << HE_SLOT_BITS) - 1); }
static inline uint32_t he_size(uint64_t e)
{
	return ((e >> HE_LOC_BITS) & ((1U << HE_SIZE_BITS) - 1)) + 1;
}
static inline uint32_t he_gen(uint64_t e) { return (e >> HE_GEN_SHIFT) & HE_GEN_MASK; }
static inline uint64_t he_make_free(uint32_t gen, uint32_t next)
{
	return (uint64_t)(gen & HE_GEN_MASK) << HE_GEN_SHIFT | next;
}
static inline uint32_t he_next(uint64_t e) { return (uint32_t)e; }

/* Handle values handed to users: tag (16) | generation (16) | index (32). */
static inline unsigned long handle_make(uint16_t tag, uint32_t gen, uint32_t idx)
{
	return (unsigned long)tag << 48 | (unsigned long)gen << 32 | idx;
}
static inline uint16_t handle_tag(unsigned long h) { return h >> 48; }
static inline uint32_t handle_gen(unsigned long h) { return (h >> 32) & 0xffff; }
static inline uint32_t handle_idx(unsigned long h) { return (uint32_t)h; }

/*
 * A zspage descriptor: entry [id] of pool->zspages.  Readers without a lock touch only pins,
 * busy, class_nth and base, and only after pinning (see the design note above).
 */
#define ZS_INLINE_SLOTS 192
#define ZS_NO_CLASS 0xffff

struct zspage {
	atomic_uint pins;             /* mappers using objects of this zspage now */
	_Atomic uint16_t busy;        /* a mover is working on it */
	_Atomic uint16_t class_nth;   /* physical class owning it; ZS_NO_CLASS while free */
	uint32_t prev, next;          /* fullness list links, by id (0 ends the list) */
	char *base;                   /* first byte of its run of pages */
	uint16_t inuse;               /* live objects */
	uint16_t first_free;          /* lowest free slot; == objs_per_zspage when full */
	uint8_t populated;            /* resident prefix, in pages */
	uint8_t fullness;             /* which list it is on */
	uint8_t skip;                 /* compaction: leave alone in this pass */
	uint8_t pad;
	uint64_t *ext_map;            /* allocation bitmap when objs > ZS_INLINE_SLOTS */
	uint64_t map[3];              /* inline allocation bitmap */
};
_Static_assert(sizeof(struct zspage) == 64, "a zspage descriptor is one cache line");

static inline uint64_t *zspage_map(struct zspage *z)
{
	return z->ext_map ? z->ext_map : z->map;
}
static inline bool slot_used(struct zspage *z, uint32_t s)
{
	return zspage_map(z)[s >> 6] >> (s & 63) & 1;
}

/*
 * Handle indexes a class keeps at hand, so the common path needs no shared lock.  A refill
 * takes only a few: every index ever handed to a magazine stays in the table for good.
 */
#define ZS_MAG_SIZE 16
#define ZS_MAG_REFILL 4

/*
 * Freed pages of huge objects a class keeps resident for the next huge allocation: giving a
 * page back and faulting it in again costs more than the allocation itself.  At most one per
 * 8 live huge objects of the class (so an emptied pool holds nothing) and ZS_HUGE_CACHE in
 * all.  Statistics show them as empty zspages; compaction gives them all back.
 */
#define ZS_HUGE_CACHE 32

struct size_class {
	pthread_mutex_t lock;
	uint32_t fullness_list[ZS_NR_RATIO_BUCKETS]; /* list heads, by zspage id */
	uint32_t list_mask; /* bit g set when fullness_list[g] is not empty */
	uint32_t size;      /* slot size */
	uint16_t objs_per_zspage;
	uint8_t pages_per_zspage;
	bool huge;
	uint16_t index;     /* logical index (size - 32) / 8 */
	uint16_t nth;       /* position among physical classes */
	uint32_t mag_n;
	uint32_t hot_n;     /* huge classes: pages in hot[] */
	uint32_t *hot;      /* huge classes: ZS_HUGE_CACHE resident free pages */
	unsigned long freeable_seen; /* this class's share of pool->freeable_total */
	/* Counters: written under lock, read lock-free (relaxed) by statistics. */
	atomic_ulong zspages; /* huge class: objects (one page each) */
	atomic_ulong obj_used;
	atomic_ulong pages_used;
	atomic_ulong bytes_used;
	uint32_t mag[ZS_MAG_SIZE];
} __attribute__((aligned(64)));

/* Page runs by length, for reuse of freed address space; runs are page numbers. */
struct run_stack {
	uint32_t *v;
	size_t n, cap;
};

#define ZS_ARENA_SHIFT 18 /* 1 GiB of address space per reservation */
#define ZS_ARENA_PAGES (1UL << ZS_ARENA_SHIFT)
#define ZS_MAX_ARENAS 128

struct zs_vm {
	pthread_mutex_t lock;
	char *arena[ZS_MAX_ARENAS];
	unsigned int nr_arenas;
	size_t bump; /* pages handed out of the newest arena */
	struct run_stack free_runs[ZS_MAX_PAGES_PER_ZSPAGE + 1];
	uint64_t *id_bits;  /* bit set: id in use (id 0 is always set) */
	uint32_t id_top;    /* ids at or above are unused and their descriptors not resident */
	uint32_t id_low;    /* no free id below this */
};

struct zs_pool {
	char *name;
	uint16_t tag;
	uint32_t max_pages;
	uint32_t pack_bytes; /* 0: no cross-class packing */
	unsigned long auto_compact_pages;
	size_t huge_class_size;
	uint32_t nr_classes;
	struct size_class *classes;                       /* physical classes, by size */
	struct size_class *class_of[ZS_SIZE_CLASSES];     /* logical index -> physical */

	_Atomic uint64_t *htab; /* handle table, reserved for ZS_MAX_HANDLES */
	pthread_mutex_t handle_lock;
	uint32_t htab_top;      /* indexes below this have been handed out once */
	uint32_t hfree;         /* global free list head (0 = empty) */

	struct zspage *zspages; /* descriptors, reserved for ZS_MAX_ZSPAGES */
	struct zs_vm vm;

	pthread_mutex_t compact_lock;
	atomic_ulong pages_total;
	atomic_ulong pages_peak;
	atomic_ulong pages_compacted;
	atomic_ulong heap_bytes; /* metadata on the heap: pool, classes, big bitmaps, run stacks */
	atomic_ulong freeable_total; /* running sum of class_freeable(), for auto compaction */
};

/* Relaxed counter updates: the writer holds the class lock, readers only want a snapshot. */
#define cnt_add(c, v) atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + (v), memory_order_relaxed)
#define cnt_get(c) atomic_load_explicit(&(c), memory_order_relaxed)

static inline struct zspage *zspage_of(struct zs_pool *pool, uint32_t id)
{
	return &pool->zspages[id];
}
static inline uint32_t zspage_id(struct zs_pool *pool, struct zspage *z)
{
	return (uint32_t)(z - pool->zspages);
}
static inline struct size_class *zspage_class(struct zs_pool *pool, struct zspage *z)
{
	return &pool->classes[atomic_load_explicit(&z->class_nth, memory_order_relaxed)];
}
static inline char *page_addr(struct zs_pool *pool, uint32_t page)
{
	return pool->vm.arena[page >> ZS_ARENA_SHIFT] +
	       ((size_t)(page & (ZS_ARENA_PAGES - 1)) << ZS_PAGE_SHIFT);
}

/* os.c: the only file that talks to the kernel about memory. */
void *zs_os_reserve(size_t bytes);
void zs_os_unreserve(void *p, size_t bytes);
void zs_os_release(void *p, size_t bytes);

/* size_class.c */
void zs_class_geometry(uint32_t size, uint32_t max_pages, uint32_t *pages, uint32_t *objs);
int zs_build_classes(struct zs_pool *pool);

static inline uint32_t size_to_index(size_t size)
{
	if (size <= ZS_MIN_ALLOC_SIZE)
		return 0;
	return (uint32_t)((size - ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA - 1) / ZS_SIZE_CLASS_DELTA);
}

/* Pages a zspage must have resident for slots [0, slot] of @class to be usable. */
static inline uint32_t pages_for_slot(const struct size_class *class, uint32_t slot)
{
	return (uint32_t)(((size_t)(slot + 1) * class->size + ZS_PAGE_SIZE - 1) >> ZS_PAGE_SHIFT);
}

static inline uint32_t fullness_of(const struct size_class *class, uint32_t inuse)
{
	if (inuse == 0)
		return ZS_EMPTY;
	if (inuse == class->objs_per_zspage)
		return ZS_FULL;
	return 1 + inuse * 10 / class->objs_per_zspage;
}

/* Is the lowest free slot of @z already resident? */
static inline bool zspage_free_slot_resident(const struct size_class *class, const struct zspage *z)
{
	return z->first_free < class->objs_per_zspage &&
	       pages_for_slot(class, z->first_free) <= z->populated;
}

/* zspage.c: address space, ids, zspage life cycle, slots; caller holds the class lock. */
uint32_t vm_get_run(struct zs_pool *pool, uint32_t pages);
void vm_put_run(struct zs_pool *pool, uint32_t page, uint32_t pages);
uint32_t vm_lowest_free_id(struct zs_pool *pool);
uint32_t vm_get_id(struct zs_pool *pool, uint32_t below);
void vm_put_id(struct zs_pool *pool, uint32_t id);
unsigned long vm_shrink_ids(struct zs_pool *pool);
void pool_pages_add(struct zs_pool *pool, struct size_class *class, long delta);
struct zspage *zspage_create(struct zs_pool *pool, struct size_class *class);
bool zspage_destroy(struct zs_pool *pool, struct zspage *z);
void zspage_list_del(struct zs_pool *pool, struct size_class *class, struct zspage *z);
void zspage_list_add(struct zs_pool *pool, struct size_class *class, struct zspage *z);
void zspage_set_fullness(struct zs_pool *pool, struct size_class *class, struct zspage *z);
uint32_t zspage_alloc_slot(struct zs_pool *pool, struct size_class *class, struct zspage *z);
void zspage_free_slot(struct zs_pool *pool, struct size_class *class, struct zspage *z,
		      uint32_t slot);
unsigned long zspage_trim(struct zs_pool *pool, struct size_class *class, struct zspage *z);
struct zspage *class_fullest(struct zs_pool *pool, struct size_class *class,
			     struct zspage *except);
bool zspage_claim(struct zspage *z);
void zspage_unclaim(struct zspage *z);

/* handle.c */
int handle_table_init(struct zs_pool *pool);
void handle_table_fini(struct zs_pool *pool);
bool handle_get(struct zs_pool *pool, struct size_class *class, uint32_t *idx);
void handle_put(struct zs_pool *pool, struct size_class *class, uint32_t idx);
bool handle_lookup(struct zs_pool *pool, unsigned long handle, uint64_t *entry);
unsigned long handle_table_bytes(struct zs_pool *pool);

/* compact.c */
unsigned long zs_compact_locked(struct zs_pool *pool);
unsigned long class_freeable(struct size_class *class);
void class_track_freeable(struct zs_pool *pool, struct size_class *class);

#endif /* ZS_INTERNAL_H */
