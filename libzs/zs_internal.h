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
 * an entry of the zspage table (ztab), which is never freed while the pool lives: lookups
 * and pins go through it, so a reader can never touch freed descriptor memory.  Each zspage
 * keeps, per slot, the index of the handle living there (backref), which is what compaction
 * needs to move an object and update its handle.
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
 * Handle table entries.  Live: bit 63 set, then generation (16 bits), requested size - 1
 * (12 bits), slot (11 bits: 16 pages / 32 bytes = 2048 slots at most) and zspage id (24 bits).
 * Free: bit 63 clear, generation kept (so the next owner's generation differs), and in the
 * low 32 bits the next index of the global free list.
 */
#define HE_LIVE (1ULL << 63)
#define HE_ID_BITS 24
#define HE_SLOT_BITS 11
#define HE_SIZE_BITS 12
#define HE_GEN_SHIFT (HE_ID_BITS + HE_SLOT_BITS + HE_SIZE_BITS)
#define ZS_MAX_ZSPAGES (1U << HE_ID_BITS)
#define ZS_MAX_HANDLES (1U << 28) /* 2 GiB of reserved table; 268M live objects */

static inline uint64_t he_make(uint32_t id, uint32_t slot, uint32_t size, uint32_t gen)
{
	return HE_LIVE | (uint64_t)(gen & 0xffff) << HE_GEN_SHIFT |
	       (uint64_t)(size - 1) << (HE_ID_BITS + HE_SLOT_BITS) | (uint64_t)slot << HE_ID_BITS | id;
}
static inline bool he_live(uint64_t e) { return e & HE_LIVE; }
static inline uint32_t he_id(uint64_t e) { return e & (ZS_MAX_ZSPAGES - 1); }
static inline uint32_t he_slot(uint64_t e) { return (e >> HE_ID_BITS) & ((1U << HE_SLOT_BITS) - 1); }
static inline uint32_t he_size(uint64_t e)
{
	return ((e >> (HE_ID_BITS + HE_SLOT_BITS)) & ((1U << HE_SIZE_BITS) - 1)) + 1;
}
static inline uint32_t he_gen(uint64_t e) { return (e >> HE_GEN_SHIFT) & 0xffff; }
static inline uint64_t he_make_free(uint32_t gen, uint32_t next)
{
	return (uint64_t)(gen & 0xffff) << HE_GEN_SHIFT | next;
}
static inline uint32_t he_next(uint64_t e) { return (uint32_t)e; }

/* Handle values handed to users. */
static inline unsigned long handle_make(uint16_t tag, uint32_t gen, uint32_t idx)
{
	return (unsigned long)tag << 48 | (unsigned long)(gen & 0xffff) << 32 | idx;
}
static inline uint16_t handle_tag(unsigned long h) { return h >> 48; }
static inline uint32_t handle_gen(unsigned long h) { return (h >> 32) & 0xffff; }
static inline uint32_t handle_idx(unsigned long h) { return (uint32_t)h; }

struct size_class;

/* A zspage descriptor: malloc'd, owned by its class, freed when the zspage is. */
struct zspage {
	struct zspage *prev, *next; /* on its class's fullness list */
	struct size_class *class;
	char *base;                 /* first byte of the run of pages */
	uint32_t id;                /* index in pool->ztab */
	uint16_t inuse;             /* live objects */
	uint16_t first_free;        /* lowest free slot; == objs_per_zspage when full */
	uint8_t populated;          /* resident prefix, in pages */
	uint8_t fullness;           /* which list it is on */
	uint32_t backref[];         /* handle index living in each slot, 0 = free */
};

/* The zspage table: stable memory, so lock-free readers may pin an id at any time. */
struct ztab_ent {
	_Atomic(struct zspage *) zs; /* NULL while the id is free */
	atomic_uint pins;            /* mappers using objects of this zspage now */
	_Atomic uint16_t busy;       /* a mover is working on it */
	_Atomic uint16_t class_idx;  /* physical class owning it */
};

/* Handle indexes a class keeps at hand, so the common path needs no shared lock. */
#define ZS_MAG_SIZE 64

struct size_class {
	pthread_mutex_t lock;
	struct zspage *fullness_list[ZS_NR_RATIO_BUCKETS];
	uint32_t list_mask; /* bit g set when fullness_list[g] is not empty */
	uint32_t size;      /* slot size */
	uint32_t objs_per_zspage;
	uint32_t pages_per_zspage;
	uint32_t index;     /* logical index (size - 32) / 8 */
	uint32_t nth;       /* position among physical classes */
	bool huge;
	/* Counters: written under lock, read lock-free (relaxed) by statistics. */
	atomic_ulong zspages;
	atomic_ulong obj_used;
	atomic_ulong pages_used;
	atomic_ulong bytes_used;
	unsigned long frees_since_check;
	uint32_t mag_n;
	uint32_t mag[ZS_MAG_SIZE];
} __attribute__((aligned(64)));

/* Page runs by length, for reuse of freed address space. */
struct run_stack {
	char **v;
	size_t n, cap;
};

#define ZS_ARENA_PAGES (1UL << 18) /* 1 GiB of address space per reservation */
#define ZS_MAX_ARENAS 128

struct zs_vm {
	pthread_mutex_t lock;
	char *arena[ZS_MAX_ARENAS];
	unsigned int nr_arenas;
	size_t bump; /* pages handed out of the newest arena */
	struct run_stack free_runs[ZS_MAX_PAGES_PER_ZSPAGE + 1];
	uint32_t id_top;    /* ids below this have been used */
	uint32_t id_free;   /* free-id list through ztab (0 = empty; id 0 is never used) */
	uint32_t *id_next;  /* next links of the free-id list (parallel to ztab) */
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
	atomic_ulong htab_bytes;

	struct ztab_ent *ztab;  /* reserved for ZS_MAX_ZSPAGES */
	struct zs_vm vm;

	pthread_mutex_t compact_lock;
	atomic_ulong pages_total;
	atomic_ulong pages_peak;
	atomic_ulong pages_compacted;
	atomic_ulong desc_bytes; /* zspage descriptors and other heap metadata */
};

/* Relaxed counter updates: the writer holds the class lock, readers only want a snapshot. */
#define cnt_add(c, v) atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + (v), memory_order_relaxed)
#define cnt_get(c) atomic_load_explicit(&(c), memory_order_relaxed)

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

/* zspage.c: zspage life cycle and slots; caller holds class->lock. */
struct zspage *zspage_create(struct zs_pool *pool, struct size_class *class);
bool zspage_destroy(struct zs_pool *pool, struct zspage *zspage);
void zspage_set_fullness(struct size_class *class, struct zspage *zspage);
uint32_t zspage_alloc_slot(struct zs_pool *pool, struct zspage *zspage, uint32_t hidx);
void zspage_free_slot(struct zspage *zspage, uint32_t slot);
unsigned long zspage_trim(struct zs_pool *pool, struct zspage *zspage);
struct zspage *class_fullest(struct size_class *class, struct zspage *except);
void pool_pages_add(struct zs_pool *pool, struct size_class *class, long delta);

/* Is the lowest free slot of @zspage already resident? */
static inline bool zspage_free_slot_resident(const struct zspage *zspage)
{
	const struct size_class *class = zspage->class;
	return zspage->first_free < class->objs_per_zspage &&
	       pages_for_slot(class, zspage->first_free) <= zspage->populated;
}

/* handle.c */
int handle_table_init(struct zs_pool *pool);
void handle_table_fini(struct zs_pool *pool);
bool handle_get(struct zs_pool *pool, struct size_class *class, uint32_t *idx);
void handle_put(struct zs_pool *pool, struct size_class *class, uint32_t idx);
bool handle_lookup(struct zs_pool *pool, unsigned long handle, uint64_t *entry);

/* compact.c */
unsigned long zs_compact_locked(struct zs_pool *pool);
unsigned long class_freeable(struct size_class *class);

#endif /* ZS_INTERNAL_H */
