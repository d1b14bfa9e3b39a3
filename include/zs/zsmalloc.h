/*
 * libzs: a userspace compressed-memory allocator modelled on the Linux kernel's zsmalloc.
 *
 * A pool stores objects of 1..ZS_MAX_ALLOC_SIZE bytes (typically compressed 4 KiB pages) packed
 * tightly into "zspages": runs of 1..16 contiguous 4 KiB pages carved into equal slots of one
 * size class.  Objects are named by opaque handles that survive compaction.  Memory is taken
 * from the OS in reserved mappings that grow with the pool; pages become resident only when an
 * object reaches them and are given back (madvise) once no object needs them, except a bounded
 * few of emptied zspages kept resident for the next zspages (zs_compact() gives those back too).
 *
 * Threading: every function may be called concurrently on one pool from any number of threads,
 * except zs_destroy_pool(), which must not race with anything else on that pool.
 *
 * Errors: functions returning int return 0 or a negative errno; functions returning a handle or
 * pointer return 0/NULL and set errno.  A handle that is not live in this pool (freed, never
 * issued, or from another pool) is always detected and rejected without touching the pool.
 *
 * Parameters used throughout: @pool the pool (NULL is refused as an invalid argument, or gives
 * 0 / "" from the calls that cannot fail); @handle an object's handle, as zs_malloc() returned it.
 *
 * Each call's comment ends with its kernel equivalent ("Kernel:") and how the two differ.
 */
#ifndef ZS_ZSMALLOC_H
#define ZS_ZSMALLOC_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(ZS_BUILDING_LIBRARY)
#define ZS_API __attribute__((visibility("default")))
#else
#define ZS_API
#endif

/* The version of the library this header belongs to. */
#define ZS_VERSION_MAJOR 0
#define ZS_VERSION_MINOR 1
#define ZS_VERSION_PATCH 0

/* Object sizes: zs_malloc() takes 1..ZS_MAX_ALLOC_SIZE bytes; slots come in size classes of
 * ZS_MIN_ALLOC_SIZE bytes and up, in steps of ZS_SIZE_CLASS_DELTA. */
#define ZS_MIN_ALLOC_SIZE   32
#define ZS_MAX_ALLOC_SIZE   4096
#define ZS_SIZE_CLASS_DELTA 8
/* Number of size classes before merging: 32, 40, ..., 4096. */
#define ZS_SIZE_CLASSES ((ZS_MAX_ALLOC_SIZE - ZS_MIN_ALLOC_SIZE) / ZS_SIZE_CLASS_DELTA + 1)
/* Longest zspage a pool may be configured with, in 4 KiB pages. */
#define ZS_MAX_PAGES_PER_ZSPAGE 16

/* Access modes of zs_map_object() (advisory: every mapping is a direct pointer). */
enum zs_mapmode {
	ZS_MM_RW, /* read and write the object */
	ZS_MM_RO, /* read only */
	ZS_MM_WO, /* write only (contents on map are unspecified) */
};

/* A pool (opaque): zs_create_pool() makes one. */
struct zs_pool;

/* A pool's counters, as zs_pool_stats() fills them. */
struct zs_pool_stats {
	unsigned long pages_compacted; /* pages freed by compaction so far */
	unsigned long pages_used;      /* resident pages now (== zs_get_total_pages): those of
					* zspages and pages_cached */
	unsigned long pages_cached;    /* resident pages of emptied zspages kept for the next ones
					* (bounded; zs_compact() gives them all back) */
	unsigned long pages_peak;      /* the most pages_used has been */
	unsigned long objs_allocated;  /* object slots in all zspages (those in threads' caches
					* of free slots too: see zs_free) */
	unsigned long objs_used;       /* live objects (cached slots not included) */
	unsigned long bytes_used;      /* sum of the requested sizes of live objects */
	unsigned long meta_bytes;      /* metadata outside zspages: handles, descriptors */
};

/* Pool options for zs_create_pool_opts(); zero every field you do not set. */
struct zs_pool_opts {
	/* Longest zspage, 1..ZS_MAX_PAGES_PER_ZSPAGE pages; 0 picks ZS_DEFAULT_PAGES_PER_ZSPAGE. */
	unsigned int max_pages_per_zspage;
	/* Compact automatically (from zs_free) once the pool's freeable pages reach this many
	 * more than the last compaction left (pages it could not free, of mapped objects or
	 * objects allocated meanwhile); 0 disables automatic compaction. */
	unsigned long auto_compact_pages;
	/* Cross-class packing: compaction may move an object into a free slot up to this many
	 * bytes larger than its own class when that empties a partly used page, and allocation
	 * may place one up to a quarter of this larger instead of making a new page resident.
	 * 0 picks ZS_DEFAULT_PACK_BYTES; see ZS_POOL_NO_PACK to turn it off.  At most
	 * ZS_MAX_PACK_BYTES: packing locks every class in its reach at once. */
	unsigned int pack_bytes;
	/* ZS_POOL_* flags. */
	unsigned int flags;
};

/* Default chain limit: 12 pages keeps every corpus's fill under 1.03 and gives up little after
 * a shrink (the measurement: "Chain limit" in BENCHMARKS.md). */
#define ZS_DEFAULT_PAGES_PER_ZSPAGE 12
#define ZS_DEFAULT_PACK_BYTES	    64
/* Largest pack_bytes: packing holds the locks of every class within reach (33 at most), which
 * stalls allocation in those classes meanwhile; 128 measured within 0.25% of 64. */
#define ZS_MAX_PACK_BYTES 256
#define ZS_POOL_NO_PACK	  0x1u /* never place an object outside its own size class */
/* No per-thread caches of free slots (see zs_free): every free gives its slot back to its class
 * at once, as the kernel does, at the cost of a class lock per zs_malloc and zs_free. */
#define ZS_POOL_NO_TCACHE 0x2u

/* Ratio buckets of the per-class statistics, as the kernel's debugfs "classes" file shows them:
 * [0] empty zspages, [1] 0-9% in use ... [10] 90-99%, [11] full. */
#define ZS_NR_RATIO_BUCKETS 12

/* One physical size class's counters, as zs_class_stats() fills them. */
struct zs_class_stats {
	unsigned int index;			    /* class index (size = 32 + 8 * index) */
	unsigned int size;			    /* slot size in bytes */
	unsigned int pages_per_zspage;		    /* chain length */
	unsigned int objs_per_zspage;		    /* slots per zspage */
	unsigned long zspages[ZS_NR_RATIO_BUCKETS]; /* zspages per in-use ratio bucket */
	unsigned long obj_allocated;		    /* slots in this class's zspages */
	unsigned long obj_used;			    /* live objects in them (not cached slots) */
	unsigned long pages_used;		    /* resident pages of this class */
	unsigned long freeable;			    /* pages compaction could free in this class */
};

/*
 * zs_create_pool - create an empty pool with default options.
 * @name: a label shown in statistics (copied; may be NULL).
 * @return the pool, or NULL with errno ENOMEM.
 * Kernel: zs_create_pool(), the same; the kernel also registers a shrinker and a debugfs
 * directory, for which auto_compact_pages and zs_dump_classes() stand here.
 */
ZS_API struct zs_pool *zs_create_pool(const char *name);

/*
 * zs_create_pool_opts - create an empty pool.
 * @name: as for zs_create_pool().
 * @opts: options (NULL means all defaults).
 * @return the pool, or NULL with errno EINVAL (max_pages_per_zspage > 16, pack_bytes > 256,
 *         unknown flags) or ENOMEM.
 * Kernel: none; the kernel's chain length is the build option CONFIG_ZSMALLOC_CHAIN_SIZE, and
 * it has no cross-class packing.
 */
ZS_API struct zs_pool *zs_create_pool_opts(const char *name, const struct zs_pool_opts *opts);

/*
 * zs_destroy_pool - free a pool, every object still in it, and all its memory.
 * The caller must ensure no other call on this pool is running or will run.  NULL is ignored.
 * Kernel: zs_destroy_pool(), which only reports classes that still hold objects; here every
 * object is freed with the pool.
 */
ZS_API void zs_destroy_pool(struct zs_pool *pool);

/*
 * zs_pool_name - the name given at creation ("" if none, or for a NULL @pool).
 * Kernel: none (the name shows only in debugfs there).
 */
ZS_API const char *zs_pool_name(struct zs_pool *pool);

/*
 * zs_malloc - allocate an object of @size bytes.
 * @return a handle (never 0), or 0 with errno EINVAL (size 0 or > ZS_MAX_ALLOC_SIZE, or a NULL
 *         pool) or ENOMEM (the OS or the pool's address space is exhausted).
 * The object's contents are unspecified until written through zs_map_object()/zs_obj_write().
 * Kernel: zs_malloc(pool, size, gfp, nid) returns an error as an ERR_PTR-style value to test
 * with IS_ERR_VALUE(); here 0 means failure, errno says why, and there are no gfp flags or
 * NUMA node.
 */
ZS_API unsigned long zs_malloc(struct zs_pool *pool, size_t size);

/*
 * zs_free - free the object named by @handle.  Freeing an object that is still mapped
 * (zs_map_object() or zs_obj_read_begin() not yet ended) is a caller bug, refused where it is
 * detected: when the object is the one of its zspage mapped last and no object of that zspage
 * has been unmapped since (the usual case, a free that forgot the unmap), and always in a
 * DEBUG=1 build of the library.  Otherwise (and for huge objects, of zs_huge_class_size()
 * bytes and up) the free goes ahead, the pointer dangles, and the object's zspage keeps its
 * pages until the pool is destroyed.
 * @return 0; -EINVAL if @handle is not a live handle of this pool; -EBUSY if the object is
 *         mapped (nothing is freed and the mapping stays valid: unmap, then free).  On either
 *         error the pool is unchanged.
 *
 * Per-thread caches: the freed slot normally waits in the calling thread's cache of its pool
 * (up to 64 slots and 8 KiB per class, for the last 4 pools the thread used) for that thread's
 * next zs_malloc of its class, and neither call then takes a lock.  A cached slot stays taken
 * in its zspage: it counts in objs_allocated, pages_used and the fullness buckets, not in
 * objs_used, obj_used or bytes_used.  The slots go back to their classes half a cache at a
 * time when the cache of a class fills, all of them when the class has no other objects left
 * (so a pool whose objects this thread freed holds no page), when the thread exits, and at
 * every compaction (zs_compact() and automatic compaction take every thread's cached slots
 * back first).  ZS_POOL_NO_TCACHE turns them off.  Huge objects are never cached.
 * Kernel: zs_free() returns nothing and trusts the handle (a bad one corrupts memory); here
 * a handle that is not live is refused, and so is a mapped object where it is detected.  The
 * kernel has no per-thread caches.
 */
ZS_API int zs_free(struct zs_pool *pool, unsigned long handle);

/*
 * zs_map_object - get a direct pointer to the object's bytes.
 * The object is not moved by compaction until zs_unmap_object(); any number of objects may be
 * mapped at once from any threads, and one object may be mapped several times (each map needs
 * its own unmap).  @mm is advisory (zspages are contiguous, so no copy is ever made).
 * @return the pointer, or NULL with errno EINVAL for a handle that is not live or a bad @mm.
 * Kernel: zs_map_object() of older kernels (newer ones replaced it with zs_obj_read_begin()
 * and zs_obj_write()) disables preemption until the unmap, allows one mapping per CPU and
 * copies an object that straddles two pages into a per-CPU buffer; here the pointer is direct,
 * the caller may sleep while holding it, and any number may be held.
 */
ZS_API void *zs_map_object(struct zs_pool *pool, unsigned long handle, enum zs_mapmode mm);

/*
 * zs_unmap_object - end a zs_map_object() of @handle.  A handle that is not live is ignored.
 * Kernel: zs_unmap_object(), which also copies a straddling object back and re-enables
 * preemption; here it only lets compaction move the object again.
 */
ZS_API void zs_unmap_object(struct zs_pool *pool, unsigned long handle);

/*
 * zs_obj_read_begin - start reading the object: returns a pointer to its bytes, valid until
 * zs_obj_read_end().  @local_copy is accepted for compatibility with the kernel's API and never
 * written, since objects never straddle discontiguous memory here.
 * @return the pointer, or NULL with errno EINVAL for a handle that is not live.
 * Kernel: zs_obj_read_begin(), which copies an object spanning two pages into @local_copy;
 * here the pointer always points into the pool.
 */
ZS_API void *zs_obj_read_begin(struct zs_pool *pool, unsigned long handle, void *local_copy);

/*
 * zs_obj_read_end - end a zs_obj_read_begin(); @handle_mem is the pointer it returned.  A handle
 * that is not live is ignored.
 * Kernel: zs_obj_read_end(), the same.
 */
ZS_API void zs_obj_read_end(struct zs_pool *pool, unsigned long handle, void *handle_mem);

/*
 * zs_obj_write - copy @mem_len bytes from @handle_mem into the object.  @handle_mem may be NULL
 * when @mem_len is 0: nothing is written.
 * @return 0, or -EINVAL for a handle that is not live, @mem_len larger than the object's
 *         allocated size, or a NULL @handle_mem with a non-zero @mem_len.
 * Kernel: zs_obj_write() returns nothing and trusts its arguments; here a bad handle or a
 * write past the object is refused and the object is unchanged.
 */
ZS_API int zs_obj_write(struct zs_pool *pool, unsigned long handle, const void *handle_mem,
			size_t mem_len);

/*
 * zs_obj_size - the size requested when the object was allocated.
 * @return the size, or 0 with errno EINVAL for a handle that is not live.
 * Kernel: none (zram keeps each object's size in its own table).
 */
ZS_API size_t zs_obj_size(struct zs_pool *pool, unsigned long handle);

/*
 * zs_huge_class_size - objects of this size or larger take a page of their own.
 * A zram-like user stores a page raw (4096 bytes) when it does not compress below this.
 * @return the size (0 for a NULL @pool).
 * Kernel: zs_huge_class_size(), the same.
 */
ZS_API size_t zs_huge_class_size(struct zs_pool *pool);

/*
 * zs_lookup_class_index - the physical size class an object of @size goes to.
 * @return the class index, or -EINVAL for size 0 or > ZS_MAX_ALLOC_SIZE.
 * Kernel: zs_lookup_class_index(), the same (zram's recompression uses it to see whether a
 * smaller result would change class).
 */
ZS_API int zs_lookup_class_index(struct zs_pool *pool, size_t size);

/*
 * zs_get_total_pages - resident pages the pool holds now: its zspages' and those of emptied
 * zspages kept for the next ones (zs_pool_stats() pages_cached); 0 for a NULL @pool.
 * Kernel: zs_get_total_pages(), which frees an emptied zspage's pages at once.
 */
ZS_API unsigned long zs_get_total_pages(struct zs_pool *pool);

/*
 * zs_compact - move objects out of sparse zspages into fuller ones, per class and (unless
 * ZS_POOL_NO_PACK) across neighbouring classes, and give the emptied pages back to the OS.
 * Safe while other threads allocate, free and map; concurrent compactions are serialised.
 * Mapped objects are not moved.
 * Takes every thread's cached free slots (zs_free) back to their classes first; the pages that
 * frees are counted in the result.
 * @return the number of pages given back: pages released, less those that moved objects made
 *         resident in their new zspages (the pool's pages_used drops by this much when nothing
 *         else runs).
 * Kernel: zs_compact(), the same per-class step; the cross-class step is ours, and where the
 * kernel also compacts from a memory-pressure shrinker, auto_compact_pages compacts here.
 */
ZS_API unsigned long zs_compact(struct zs_pool *pool);

/*
 * zs_pool_stats - fill @stats with a snapshot of the pool's counters (nothing is written if an
 * argument is NULL).
 * Kernel: zs_pool_stats(), whose struct has only pages_compacted; the other fields are ours.
 */
ZS_API void zs_pool_stats(struct zs_pool *pool, struct zs_pool_stats *stats);

/*
 * zs_nr_classes - the number of physical (merged) size classes; indexes are 0..count-1.
 * @return the count (0 for a NULL @pool).
 * Kernel: none; its debugfs classes file lists the classes.
 */
ZS_API unsigned int zs_nr_classes(struct zs_pool *pool);

/*
 * zs_class_stats - statistics of the @nth physical class (0 <= nth < zs_nr_classes()).
 * @return 0, or -EINVAL if @nth is out of range or an argument is NULL.
 * Kernel: none; the figures of one row of the debugfs classes file.
 */
ZS_API int zs_class_stats(struct zs_pool *pool, unsigned int nth, struct zs_class_stats *out);

/*
 * zs_dump_classes - write the per-class table in the layout of the kernel's debugfs
 * zsmalloc/<pool>/classes file (class, size, ratio buckets 10%..100%, obj_allocated, obj_used,
 * pages_used, pages_per_zspage, freeable), followed by a Total line.
 * @return 0, or -EINVAL for a NULL argument, or -EIO if writing failed.
 * Kernel: reading /sys/kernel/debug/zsmalloc/<pool>/classes.
 */
ZS_API int zs_dump_classes(struct zs_pool *pool, FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* ZS_ZSMALLOC_H */
