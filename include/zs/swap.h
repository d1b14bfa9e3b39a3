/*
 * libswap: a userspace swap frontend modelled on the Linux kernel's swap subsystem.
 *
 * A program pages its own cold memory out and back in: swap_out() stores a copy of a 4 KiB page
 * and returns a swap entry; swap_in() copies it back.  Pages live in swap areas ("swap_info"):
 * compressed memory areas (zram-like, over a libzs pool) or swap files in the Linux on-disk
 * format.  Up to SWAP_MAX_AREAS areas per context, each with a priority: the highest-priority area
 * with a free slot takes each page, and areas of equal priority take turns.
 *
 * Inside an area, every slot has a one-byte swap_map count with the kernel's meanings (free, 1 ..
 * SWAP_MAP_MAX references, SWAP_MAP_BAD, the SWAP_HAS_CACHE flag) and count continuation for
 * counts that do not fit a byte.  Slots are handed out from clusters of SWAPFILE_CLUSTER slots;
 * every CPU allocates from its own current cluster.  A swap cache (a radix tree per area, looked
 * up lock-free under RCU) holds the pages that are being written or read, so that concurrent
 * swap-ins of one entry read the backend once and a swap-in racing a swap-out gets the page being
 * written.
 *
 * Threading: every function may be called concurrently on one context from any number of
 * threads, except swap_ctx_destroy(), which must not race with anything else on that context.
 * The library reads its shared structures under RCU with liburcu's bulletproof flavour
 * (urcu-bp), which registers a thread on its first call and forgets it when it exits: the
 * application registers nothing, and its own use of liburcu's other flavours (urcu-memb, -qsbr,
 * -mb, -signal) is independent of ours.  No function may be called from inside an urcu-bp
 * read-side critical section of the caller (swap_on and swap_off wait for a grace period).
 *
 * Errors: functions returning int return 0 (or a count, a type) or a negative errno.  Functions
 * returning a swp_entry_t return .val == 0 on failure and set errno.  After any error the context
 * is unchanged and fully usable.
 *
 * Parameters used throughout: @ctx the context (NULL is refused with EINVAL); @entry a swap
 * entry, as swap_out() or swap_alloc_slot() returned it; @type an area's type, as swap_on()
 * returned it; @page SWAP_PAGE_SIZE bytes of the caller's memory.
 *
 * Each call's comment ends with its kernel equivalent ("Kernel:") and how the two differ.
 *
 * Lower layer: for callers who manage their own pages, the steps swap_out() and swap_in() are
 * made of are public too (slot allocation that sets SWAP_HAS_CACHE, swap cache add / lookup /
 * delete, backend read and write), with the kernel's names where there is one.
 */
#ifndef ZS_SWAP_H
#define ZS_SWAP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(ZS_BUILDING_LIBRARY)
#define SWAP_API __attribute__((visibility("default")))
#else
#define SWAP_API
#endif

/* The version of the library this header belongs to. */
#define SWAP_VERSION_MAJOR 0
#define SWAP_VERSION_MINOR 1
#define SWAP_VERSION_PATCH 0

/* Size of a page as swap_out() and swap_in() see it, and of a slot. */
#define SWAP_PAGE_SIZE 4096
/* Areas per context: the kernel's MAX_SWAPFILES (2^5 types). */
#define SWAP_MAX_AREAS 32
/* Slots per cluster, the unit of per-CPU allocation (the kernel's SWAPFILE_CLUSTER). */
#define SWAPFILE_CLUSTER 256
/* Largest area, in slots: a swap file header stores last_page in 32 bits. */
#define SWAP_MAX_PAGES (1ULL << 32)
/* Smallest swap file this library formats, in slots (as mkswap: 40 KiB). */
#define SWAP_MIN_FILE_PAGES 10
/* Most bad pages a swap file header can list (the kernel's MAX_SWAP_BADPAGES). */
#define SWAP_MAX_BADPAGES 637

/* swap_map byte values, with the kernel's meanings. */
#define SWAP_MAP_MAX	0x3e /* most references the byte itself holds */
#define SWAP_MAP_BAD	0x3f /* a slot that is never used (slot 0, bad pages) */
#define SWAP_HAS_CACHE	0x40 /* the slot's page is in (or being added to) the swap cache */
#define COUNT_CONTINUED 0x80 /* more references are kept in continuation bytes */

/*
 * A swap entry: the area type in the high bits and the slot offset below, as the kernel encodes
 * it (type in bits 58..62, offset in bits 0..57; bit 63 is never set).  Slot 0 of every area is
 * reserved, so no valid entry has .val == 0.
 */
typedef struct {
	uint64_t val;
} swp_entry_t;

#define SWP_TYPE_SHIFT	58
#define SWP_OFFSET_MASK ((1ULL << SWP_TYPE_SHIFT) - 1)

/*
 * swp_entry - the entry of slot @offset in area @type (no validation).
 * Kernel: swp_entry(), swp_type() and swp_offset() have the kernel's names and meanings; the
 * kernel's bit layout depends on the architecture's page table format, this one is fixed.
 */
static inline swp_entry_t swp_entry(unsigned type, uint64_t offset)
{
	swp_entry_t e = {((uint64_t)type << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK)};
	return e;
}

/* swp_type - the area type of @e (values >= SWAP_MAX_AREAS are never valid). */
static inline unsigned swp_type(swp_entry_t e)
{
	return (unsigned)(e.val >> SWP_TYPE_SHIFT);
}

/* swp_offset - the slot offset of @e. */
static inline uint64_t swp_offset(swp_entry_t e)
{
	return e.val & SWP_OFFSET_MASK;
}

/* A context (opaque): a set of swap areas; swap_ctx_create() makes one. */
struct swap_ctx;

/*
 * swap_ctx_create - create an empty context (no areas).
 * @return the context, or NULL with errno ENOMEM.
 * Threading: may be called from any thread at any time.
 * Kernel: none; the kernel has one system-wide set of swap areas (swap_info[]).
 */
SWAP_API struct swap_ctx *swap_ctx_create(void);

/*
 * swap_ctx_destroy - free a context, every area and every stored page.  Swap files stay on disk
 * (their contents are not cleared); memory areas' pools are freed.  Live entries become invalid.
 * @ctx: the context (NULL is ignored).
 * Threading: the caller must ensure no other call on @ctx is running or will run.
 * Kernel: none.
 */
SWAP_API void swap_ctx_destroy(struct swap_ctx *ctx);

/* Area kinds, as reported by swap_area_stats(). */
enum swap_area_kind {
	SWAP_AREA_MEMORY = 1, /* compressed memory over a libzs pool */
	SWAP_AREA_FILE = 2,   /* a swap file (or block device) in the Linux format */
	SWAP_AREA_TIERED = 3, /* compressed memory in front of a swap file: the writeback tier */
};

/* Options of swap_on(); zero every field you do not set. */
struct swap_area_opts {
	/* NULL: a compressed memory area (a tiered one if backing_path is set); else a swap file */
	const char *path;
	/* Slots including the reserved slot 0; 0 = from an existing file's header. */
	uint64_t nr_pages;
	int priority; /* higher first; equal priorities take turns */
	/* Memory and tiered areas: "lz4" (NULL means lz4), "zstd", "zstd:LEVEL" */
	const char *compressor;
	/* Memory areas: most bytes of pool memory (mem_used_total) the area may hold; a page that
	 * would go past it is not stored here and goes to the next area (same-filled pages need
	 * no memory and are still taken).  The pool may end up over the limit by the few pages
	 * the allocation that crossed it made resident.  0: no limit.
	 * Tiered areas: the pool memory the area keeps; past it, its coldest entries are written
	 * back to the backing file (see SWAP_AREA_TIERED below).  0: no automatic writeback. */
	uint64_t mem_limit;
	/* Files this call formats: volume label, at most 16 bytes (NULL: none). */
	const char *label;
	/* Files this call formats: slots recorded as bad in the header (each 1 .. nr_pages - 1, at
	 * most SWAP_MAX_BADPAGES); they are never used.  Bad pages of an existing file come from
	 * its header. */
	const uint32_t *bad_pages;
	uint32_t nr_bad_pages;
	unsigned int flags; /* SWAP_AREA_* below */
	/* Tiered areas: the swap file behind the compressed memory (created and formatted like a
	 * file area's, with label and bad_pages above, or opened from an existing header) ... */
	const char *backing_path;
	/* ... its slots including the header slot (0: from an existing file's header) ... */
	uint64_t backing_pages;
	/* ... and its flags (SWAP_AREA_CHECKSUM). */
	unsigned int backing_flags;
	/* Tiered areas: automatic writeback stops once the pool is under this share of mem_limit
	 * (zswap's accept threshold), 1..99; 0 means 90. */
	unsigned int wb_low_percent;
	/* Tiered areas: most pages writeback may write to the file before
	 * swap_set_writeback_limit() re-arms it (zram's writeback_limit, to protect flash); 0: no
	 * limit. */
	uint64_t writeback_limit;
};

/*
 * SWAP_AREA_CHECKSUM (file areas): keep a 32-bit checksum (the low half of XXH3-64) of every
 * page written to the file, in memory, and check it on every read, so that a page altered in
 * the file behind the library's back (bit rot, a stray write, another program) makes swap_in()
 * and swap_readpage() fail with -EIO instead of returning wrong bytes.  Without it such a page
 * is returned as the file now holds it, with no error.  A torn write or a truncated file is
 * -EIO either way.  Cost: 4 bytes of memory per slot (allocated by swap_on: 1 MiB per GiB of
 * area) and one hash of the page per write and per read, about 0.25 us: with the file in the
 * page cache, swap_out took 1.3 times and swap_in 1.4 times as long as without the option
 * (bench/bm_integrity.c); a read from a disk costs far more than the hash.  The checksums last
 * while the area is on: slots are unreadable after a new swap_on anyway.
 * swap_on() returns -EINVAL for this flag on a memory area, whose pages never leave the
 * process, and for unknown flags.
 */
#define SWAP_AREA_CHECKSUM 0x1u

/*
 * SWAP_AREA_WB_HUGE_DIRECT (tiered areas): a page that does not compress below
 * zs_huge_class_size() is written straight to the backing file instead of being kept raw in
 * memory, where it would save nothing.
 */
#define SWAP_AREA_WB_HUGE_DIRECT 0x2u

/*
 * The writeback tier (a tiered area: backing_path set, path NULL).  One area, one type, two
 * tiers: compressed memory over a libzs pool, and a swap file behind it.  An entry names its
 * slot in the area for its whole life; when its page is written back, the slot records where in
 * the backing file it went (as zram's ZRAM_WB slots do), and swap_in reads it from there.  A
 * file slot is taken only at writeback: no file space is reserved for pages that stay in memory.
 *
 * Which pages go: the coldest, least recently stored or read, with a second chance for an entry
 * read since writeback last looked at it (zswap's referenced bit).  When: automatically, by a
 * thread the area owns, which wakes once the pool passes halfway from the low watermark
 * (wb_low_percent of mem_limit) to mem_limit and writes back, in batches of up to
 * SWAP_WB_BATCH pages on consecutive file slots (one pwritev per batch), until the pool is back
 * under the low watermark, compacting it as it goes.  A swap_out that finds the pool at
 * mem_limit writes back one batch itself rather than fail, and may then let the pool pass
 * mem_limit by up to a sixteenth (at least 16 pages) until the thread catches up; a page that
 * still cannot be kept in memory goes to the file directly.  So swap_out never refuses a page while
 * the backing file has room (and the writeback limit allows); past that it answers -ENOSPC as a
 * full area does.  And proactively: swap_mark_idle(), swap_writeback() and swap_recompress(),
 * zram's calls in library form.  Written-back pages are stored compressed, one per 4 KiB file slot.
 */
#define SWAP_WB_BATCH 32

/*
 * swap_on - add a swap area.
 * A memory area needs @opts->nr_pages >= 2.  A swap file path that does not exist is created
 * with mode 0600 and formatted as mkswap does (SWAPSPACE2 magic, version 1, last_page =
 * nr_pages - 1, a fresh random UUID, the label and bad-page list; nr_pages >= SWAP_MIN_FILE_PAGES);
 * its blocks are allocated (no holes) so that the kernel's swapon accepts it.  An existing file
 * (or block device) must carry a valid version-1 header; nr_pages 0 takes the size from it,
 * a non-zero nr_pages must not exceed last_page + 1 (only that many slots are then used).
 * The file is locked (flock) while the area is on.  A file this call created is removed again
 * if the call then fails.  A tiered area (backing_path set) needs nr_pages >= 2 for itself and
 * takes its backing file as a file area takes its file (backing_pages in place of nr_pages,
 * backing_flags in place of flags, label and bad_pages for a file it formats).
 * @ctx: the context.
 * @opts: the options (see struct swap_area_opts).
 * @return the area's type (0 .. SWAP_MAX_AREAS - 1, the lowest one free), or
 *   -EINVAL  NULL argument, bad nr_pages, unknown compressor or level, compressor or mem_limit
 *            given for a file, label or bad pages given for a memory area, label too long or
 *            bad-page list invalid for a file this call formats (an existing file keeps its
 *            own; these two options are then ignored), an existing file without a valid swap
 *            header (or shorter than its header says), unknown flags or SWAP_AREA_CHECKSUM for
 *            a memory area;
 *   -ENOENT  a folder of @path does not exist, or @path does not exist and nr_pages is 0;
 *   -EBUSY   the file is already on (in this or another context, or locked by another process);
 *   -ENOSPC  SWAP_MAX_AREAS areas are on already, or the file system is full;
 *   -ENOMEM  out of memory;
 *   or another -errno from open/fallocate/pread/pwrite (-EACCES, -EIO, ...).
 * Threading: may run concurrently with every call except swap_ctx_destroy(); swap_on and
 * swap_off calls are serialised with each other.
 * Kernel: swapon(2) of a swap file, or of a zram device (a memory area is zram and swapon in
 * one call).  The kernel gives areas without a priority falling negative ones; here an unset
 * priority is 0.
 */
SWAP_API int swap_on(struct swap_ctx *ctx, const struct swap_area_opts *opts);

/*
 * swap_off - remove the area @type, as the kernel's swapoff does: first take it out of
 * allocation, then remove it once it holds no live entry (no slot with references or a
 * swap-cache claim).  From the first call on, the area is draining: no new page goes to it
 * (swap_area_stats() shows it), while the entries it holds stay valid, readable and freeable.
 * The pages that regions (zs/region.h) over @ctx hold in the area are brought back out of it
 * at once, as the kernel's try_to_unuse does (moved to another area, or into their region when
 * no area has room).  A call that finds the area still holding other entries answers -EBUSY
 * and leaves it draining; a later call, or swap_off_wait(), removes it once their holders have
 * freed them; swap_off_cancel() puts it back in service.  A swap file stays on disk, unlocked.
 * @return 0 (removed), -EINVAL (@ctx NULL or no such area), -EBUSY (live entries held outside
 *         regions: the area is now draining), or -ENOMEM (nothing changed).
 * Threading: may run concurrently with every call except swap_ctx_destroy(); waits for an RCU
 * grace period, so it must not be called from inside an urcu-bp read-side critical section.
 * Kernel: swapoff(2), which reads every page of the area back into the processes that own
 * them (try_to_unuse); here that is done for regions' pages, and other entries' holders free
 * them.
 */
SWAP_API int swap_off(struct swap_ctx *ctx, int type);

/*
 * swap_off_wait - swap_off(), waiting up to @timeout_ms milliseconds (negative: for ever) for
 * the area's holders to free its entries.
 * @return as swap_off(); -EBUSY once the time is up with entries still live (the area stays
 *         draining).
 * Threading: as swap_off(); it sleeps between checks without holding anything that other
 * calls need.
 * Kernel: swapoff(2), which waits as long as try_to_unuse takes.
 */
SWAP_API int swap_off_wait(struct swap_ctx *ctx, int type, int timeout_ms);

/*
 * swap_off_cancel - put area @type, draining since a swap_off() that answered -EBUSY, back in
 * service: new pages may go to it again.
 * @return 0, or -EINVAL (@ctx NULL, no such area, or the area is not draining).
 * Threading: as swap_off().
 * Kernel: none (a swapoff interrupted by a signal puts the area back in the same way).
 */
SWAP_API int swap_off_cancel(struct swap_ctx *ctx, int type);

/*
 * swap_out - store a copy of the SWAP_PAGE_SIZE bytes at @page in the highest-priority area with
 * a free slot (areas of equal priority take turns; the per-CPU cluster of the calling CPU gives
 * the slot).  The new entry has one reference (swap_count() == 1).  While the page is being
 * written it sits in the swap cache, so a concurrent swap_in() of the entry gets these bytes.
 * @return the entry, or .val == 0 with errno EINVAL (NULL argument), ENOSPC (every area full,
 *         including memory areas at their mem_limit and file areas whose file system is full,
 *         or no area on), or EIO/ENOMEM when a
 *         backend failed to store the page in every area that had room.
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: no single call; reclaim does these steps for an anonymous page: folio_alloc_swap(),
 * add_to_swap_cache(), swap_writepage(), then deletion from the swap cache.
 */
SWAP_API swp_entry_t swap_out(struct swap_ctx *ctx, const void *page);

/*
 * swap_in - copy the page of @entry into the SWAP_PAGE_SIZE bytes at @page.  The entry keeps its
 * references (call swap_free() to drop yours).  Concurrent swap-ins of one entry read (and
 * decompress) it once: the first puts its page in the swap cache, the others find it there and
 * wait until it is filled.  While a swap_out() of the entry is still writing, the page being
 * written is returned.
 * @return 0, or -EINVAL (NULL argument, unknown type, offset 0 or past the area, a free slot, a
 *         bad slot, a slot with no reference), -EIO (corrupt compressed data, a short read or
 *         a read error, a checksum mismatch in a SWAP_AREA_CHECKSUM file area, a slot that was
 *         never written or whose last write failed; the entry stays valid either way: after a
 *         read fault a later swap_in succeeds once the fault is gone, after a failed write the
 *         slot reads -EIO until it is written again), or -ENOMEM (a zstd area could not
 *         create its decompression context).
 * Threading: may be called concurrently with everything except swap_ctx_destroy().  If another
 * thread holds the slot's swap-cache claim through the lower layer, swap_in waits until that
 * thread adds the page to the cache (and fills it) or drops the claim.
 * Kernel: the fault path's do_swap_page() and swapin_readahead(), without readahead; the
 * entry is not freed (the caller drops its reference with swap_free()).
 */
SWAP_API int swap_in(struct swap_ctx *ctx, swp_entry_t entry, void *page);

/*
 * swap_duplicate - add a reference to @entry (as fork does when it copies a swap pte).  Counts
 * past SWAP_MAP_MAX go on in continuation bytes, up to INT_MAX references.
 * @return 0, or -EINVAL (bad entry as for swap_in, or a slot with no reference and no swap-cache
 *         claim), -ENOMEM (a continuation page could not be allocated), -EOVERFLOW (INT_MAX
 *         references already).  The count is unchanged on error.
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: swap_duplicate(), which returns only 0 or -ENOMEM; here bad entries and overflow are
 * reported too.
 */
SWAP_API int swap_duplicate(struct swap_ctx *ctx, swp_entry_t entry);

/*
 * swap_free - drop one reference to @entry; at zero references the slot and its stored page are
 * freed (once no swap-cache claim remains).
 * @return 0, or -EINVAL (bad entry as for swap_in, or no reference to drop).
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: swap_free(), which returns nothing; here dropping a reference that is not there is
 * refused.
 */
SWAP_API int swap_free(struct swap_ctx *ctx, swp_entry_t entry);

/*
 * swap_count - the number of references to @entry (0 for a slot that is only claimed by the swap
 * cache, see swap_alloc_slot()).
 * @return the count (>= 0), or -EINVAL (bad entry as for swap_in, or a free slot).
 * Threading: may be called concurrently with everything except swap_ctx_destroy(); the value may
 * be stale by the time it is returned if other threads change the count.
 * Kernel: __swap_count() (swp_swapcount() for counts kept in continuation bytes).
 */
SWAP_API int swap_count(struct swap_ctx *ctx, swp_entry_t entry);

/* ---- lower layer: slots, the swap cache and backend I/O ---------------------------------- */

/*
 * swap_alloc_slot - allocate a slot as the kernel's get_swap_page() does: the slot's swap_map
 * is SWAP_HAS_CACHE with no reference, i.e. the caller holds the slot's swap-cache claim.  Area
 * choice and per-CPU clusters are as for swap_out().  Typical use: swap_cache_add() the page,
 * swap_duplicate() for each reference handed out, swap_writepage(), then swap_cache_delete().
 * @return the entry, or .val == 0 with errno EINVAL (NULL ctx) or ENOSPC (every area full).
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: get_swap_page() (folio_alloc_swap() in newer kernels).
 */
SWAP_API swp_entry_t swap_alloc_slot(struct swap_ctx *ctx);

/*
 * swap_cache_prepare - take the swap-cache claim (set SWAP_HAS_CACHE) on a slot that has
 * references, as the kernel's swapcache_prepare() does before reading a page in.
 * @return 0, -EINVAL (bad entry, free slot, no reference), or -EEXIST (someone holds the claim:
 *         look the page up with swap_cache_lookup() or retry later).
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: swapcache_prepare(), with the same -EEXIST.
 */
SWAP_API int swap_cache_prepare(struct swap_ctx *ctx, swp_entry_t entry);

/* Flags of swap_cache_add().  SWAP_CACHE_LOCKED: the page is not filled yet; lookups wait for
 * swap_cache_unlock() (the kernel's locked folio that is not yet uptodate). */
#define SWAP_CACHE_LOCKED 0x1u

/*
 * swap_cache_add - put @page (SWAP_PAGE_SIZE bytes owned by the caller) in the swap cache as the
 * page of @entry.  The caller must hold the slot's swap-cache claim (swap_alloc_slot() or
 * swap_cache_prepare()).  The library never writes @page; lookups read it, so it must stay
 * valid and, unless SWAP_CACHE_LOCKED was given and swap_cache_unlock() not yet called,
 * unchanged until swap_cache_delete() returns.
 * @flags: 0 (the page is filled) or SWAP_CACHE_LOCKED.
 * @return 0, -EINVAL (NULL argument, bad entry, unknown flags, no swap-cache claim on the slot),
 *         -EEXIST (a page is already cached for @entry), or -ENOMEM.
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: add_to_swap_cache().
 */
SWAP_API int swap_cache_add(struct swap_ctx *ctx, swp_entry_t entry, const void *page,
			    unsigned flags);

/*
 * swap_cache_unlock - mark the page added with SWAP_CACHE_LOCKED as filled (@error 0) or as
 * failed (@error a negative errno, which lookups then report), and wake the lookups waiting
 * for it.
 * @return 0, -EINVAL (bad entry or @error > 0, or the page is not locked), or -ENOENT (no page
 *         cached for @entry).
 * Threading: only the holder of the swap-cache claim calls it.
 * Kernel: marking the folio uptodate (or with an error) and folio_unlock() when its read ends.
 */
SWAP_API int swap_cache_unlock(struct swap_ctx *ctx, swp_entry_t entry, int error);

/* A reference to a page in the swap cache (opaque). */
struct swap_cache_page;

/*
 * swap_cache_lookup - find the page cached for @entry, lock-free (under RCU), take a reference
 * to it, and wait until it is filled.  Release it with swap_cache_put().
 * @return the reference, or NULL with errno EINVAL (bad entry), ENOENT (no page cached), or the
 *         error the filler gave to swap_cache_unlock() (e.g. EIO).
 * Threading: may be called concurrently with everything except swap_ctx_destroy(); must not be
 * called by the thread that added the page locked and has not unlocked it (it would wait for
 * itself).
 * Kernel: swap_cache_get_folio() followed by a wait on the folio lock.
 */
SWAP_API struct swap_cache_page *swap_cache_lookup(struct swap_ctx *ctx, swp_entry_t entry);

/*
 * swap_cache_page_data - the SWAP_PAGE_SIZE bytes of a page found by swap_cache_lookup(), valid
 * until swap_cache_put().
 * @return the bytes (read-only), or NULL for a NULL @cpage.
 * Threading: any thread holding the reference; it never blocks.
 * Kernel: folio_address().
 */
SWAP_API const void *swap_cache_page_data(const struct swap_cache_page *cpage);

/*
 * swap_cache_put - release a reference taken by swap_cache_lookup().  NULL is ignored.
 * Threading: any thread; it never blocks.
 * Kernel: folio_put().
 */
SWAP_API void swap_cache_put(struct swap_ctx *ctx, struct swap_cache_page *cpage);

/*
 * swap_cache_delete - remove @entry's page from the swap cache (if one is there), wait until
 * every lookup has released it, and drop the slot's swap-cache claim (SWAP_HAS_CACHE).  A slot
 * left with no reference is freed with its stored page.  A page still locked is marked failed
 * (-EIO) first, so no lookup waits forever.
 * @return 0, or -EINVAL (bad entry, or no swap-cache claim on the slot).
 * Threading: only the holder of the swap-cache claim calls it; must not be called while the
 * calling thread holds a swap_cache_lookup() reference to the same page.
 * Kernel: delete_from_swap_cache() followed by put_swap_folio(), which drops SWAP_HAS_CACHE.
 */
SWAP_API int swap_cache_delete(struct swap_ctx *ctx, swp_entry_t entry);

/*
 * swap_writepage - store @page as the contents of @entry's slot in its area's backend
 * (compress into the pool, or pwrite at slot * SWAP_PAGE_SIZE), replacing what was there.
 * The caller must hold the slot's swap-cache claim.
 * @return 0, -EINVAL (NULL argument, bad entry, no swap-cache claim), -ENOSPC (a memory area at
 *         its mem_limit, or the file system of a file area is full), -ENOMEM, or -EIO.  After a
 *         failed write to a file area the slot reads as -EIO until it is written again.
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: swap_writepage(), which finds the entry from the page; here the entry is passed.
 */
SWAP_API int swap_writepage(struct swap_ctx *ctx, swp_entry_t entry, const void *page);

/*
 * swap_readpage - read the stored contents of @entry's slot into @page, bypassing the swap cache.
 * The caller must hold the slot's swap-cache claim.
 * @return 0, -EINVAL (as swap_writepage), -EIO (corrupt data, a checksum mismatch with
 *         SWAP_AREA_CHECKSUM, short read or read error, never written), or -ENOMEM (as
 *         swap_in).
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: swap_readpage() (swap_read_folio() in newer kernels).
 */
SWAP_API int swap_readpage(struct swap_ctx *ctx, swp_entry_t entry, void *page);

/* ---- idle pages, writeback, recompression (memory and tiered areas) -------------------- */

/*
 * swap_mark_idle - mark idle the entries of area @type that have been neither stored nor read
 * for @age_s seconds (0: every entry), as writing to zram's idle file does.  Storing or reading
 * an entry clears its mark.  swap_writeback() and swap_recompress() can then pick idle entries.
 * @return how many entries of the area are idle now (>= 0; an entry freed while a writeback
 *         batch holds its slot counts until the batch ends, so a tier may count up to
 *         SWAP_WB_BATCH more than it has live entries), or -EINVAL (NULL ctx, no such area) or
 *         -EOPNOTSUPP (a file area).
 * Threading: may be called concurrently with everything except swap_ctx_destroy(); an entry
 * stored or read while the call runs may end up marked or not.
 * Kernel: zram's /sys/block/zramN/idle ("all", or an age in seconds).
 */
SWAP_API long swap_mark_idle(struct swap_ctx *ctx, int type, unsigned int age_s);

/* Which entries swap_writeback() and swap_recompress() take: each flag given must hold (none
 * given: every entry).  SWAP_WB_IDLE: marked idle; SWAP_WB_HUGE: stored raw, not compressible
 * below zs_huge_class_size(); SWAP_WB_INCOMPRESSIBLE: marked by swap_recompress() as shrunk by
 * no compressor. */
#define SWAP_WB_IDLE	       0x1u
#define SWAP_WB_HUGE	       0x2u
#define SWAP_WB_INCOMPRESSIBLE 0x4u

/* Options of swap_writeback(); zero every field you do not set. */
struct swap_writeback_opts {
	unsigned int flags; /* SWAP_WB_*: which entries */
	uint64_t max_pages; /* write back at most this many (0: no limit) */
};

/*
 * swap_writeback - write back to the backing file entries of tiered area @type that are in
 * memory and match @o->flags, coldest first, in batches as the automatic writeback does, and
 * give the pool memory they held back (zs_compact).  Stops at max_pages, when the backing file
 * is full, or when the writeback limit (swap_set_writeback_limit()) is used up.
 * @return the number of pages written back (>= 0), or -EINVAL (NULL argument, no such area,
 *         unknown flags), -EOPNOTSUPP (not a tiered area), or -EIO (nothing could be written:
 *         every write failed, or the writeback limit is 0).  A failed write leaves its pages in
 *         memory and valid (failed_writes and wb_failed count them).
 * Threading: may be called concurrently with everything except swap_ctx_destroy(); one
 * writeback runs at a time per area (this call waits for the automatic one's batch).
 * Kernel: zram's /sys/block/zramN/writeback (huge, idle, huge_idle, incompressible).
 */
SWAP_API long swap_writeback(struct swap_ctx *ctx, int type, const struct swap_writeback_opts *o);

/* swap_set_writeback_limit's @pages for "no limit". */
#define SWAP_WB_UNLIMITED UINT64_MAX

/*
 * swap_set_writeback_limit - let writeback of tiered area @type write @pages more pages to the
 * backing file (SWAP_WB_UNLIMITED: any number), as an operator re-arms zram's writeback_limit
 * each day.  Once the budget is used up, writeback stops: swap_writeback() answers -EIO and a
 * full pool sends new pages to the next area (swap_out's -ENOSPC when there is none).
 * @return 0, or -EINVAL (NULL ctx, no such area) or -EOPNOTSUPP (not a tiered area).
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: zram's writeback_limit and writeback_limit_enable.
 */
SWAP_API int swap_set_writeback_limit(struct swap_ctx *ctx, int type, uint64_t pages);

/* Options of swap_recompress(); zero every field you do not set. */
struct swap_recompress_opts {
	const char *compressor; /* the second compressor: "zstd", "zstd:LEVEL" or "lz4" */
	unsigned int flags;	/* SWAP_WB_*: which entries (SWAP_WB_INCOMPRESSIBLE is ignored) */
	uint32_t threshold;	/* only entries stored in at least this many bytes (0: any) */
	uint64_t max_pages;	/* recompress at most this many (0: no limit) */
};

/*
 * swap_recompress - compress again, with @o->compressor, the entries of memory or tiered area
 * @type that are in memory and match @o->flags and threshold, keeping each result only when it
 * is smaller; an entry no compressor shrinks is marked incompressible and never tried again.
 * swap_in decompresses every entry with the compressor that stored it.  Up to 3 second
 * compressors may be used over an area's life, beside its own.
 * @return the number of entries now stored smaller (>= 0), or -EINVAL (NULL argument, no such
 *         area, unknown flags, unknown compressor or level), -EOPNOTSUPP (a file area),
 *         -ENOSPC (3 second compressors are in use already), or -ENOMEM.
 * Threading: may be called concurrently with everything except swap_ctx_destroy(); an entry
 * being read or written meanwhile is left as it is.
 * Kernel: zram's recomp_algorithm and recompress (type=idle|huge, threshold, max_pages).
 */
SWAP_API long swap_recompress(struct swap_ctx *ctx, int type, const struct swap_recompress_opts *o);

/* ---- statistics -------------------------------------------------------------------------- */

/* One area's counters (or, from swap_ctx_stats(), every area's summed). */
struct swap_area_stats {
	int type; /* the area's type; -1 in a sum */
	int priority;
	int kind;	       /* enum swap_area_kind; 0 in a sum */
	uint64_t nr_pages;     /* slots, including slot 0 */
	uint64_t usable_pages; /* slots that can hold a page: nr_pages - 1 - bad_pages */
	uint64_t inuse_pages;  /* slots with references or a swap-cache claim */
	uint64_t bad_pages;    /* bad slots from the header (slot 0 not counted) */
	uint64_t nr_clusters;
	uint64_t free_clusters;	   /* clusters with no slot in use */
	uint64_t nonfull_clusters; /* partly used clusters, not owned by a CPU */
	uint64_t full_clusters;
	uint64_t percpu_clusters; /* clusters currently owned by a CPU */
	uint64_t continued_slots; /* slots whose count uses continuation bytes */
	uint64_t swap_outs;	  /* pages stored by swap_out() / swap_writepage() */
	uint64_t swap_ins;	  /* swap_in() calls that returned a page */
	uint64_t backend_reads;	  /* pages read from the backend (decompressions in memory areas) */
	uint64_t cache_hits;	  /* swap_in() calls served from a page in the swap cache */
	/* pages added with swap_cache_add() and not yet deleted (the pages swap_out() and
	 * swap_in() keep in the swap cache for the length of the call are not counted) */
	uint64_t cache_pages;
	uint64_t failed_reads;	/* backend reads that failed (-EIO) */
	uint64_t failed_writes; /* backend writes that failed */
	/* memory areas: zram's mm_stat */
	uint64_t orig_data_size;  /* bytes of pages stored (4096 each) */
	uint64_t compr_data_size; /* bytes of compressed data stored (huge pages count 4096) */
	/* bytes of pool memory in use: also slots another thread freed (a tier's writeback) and
	 * keeps in its per-thread cache for reuse, until a compaction (swap_compact(), a tier's
	 * own) takes them back (zs_free) */
	uint64_t mem_used_total;
	uint64_t mem_limit;	  /* the area's mem_limit (0: none) */
	uint64_t mem_used_max;	  /* the most mem_used_total has been */
	uint64_t same_pages;	  /* pages stored as one repeated 8-byte word, with no allocation */
	uint64_t huge_pages;	  /* pages stored raw (did not compress below zs_huge_class_size) */
	uint64_t pages_compacted; /* pool pages freed by compaction */
	char compressor[16];	  /* "lz4", "zstd:3", ... ("" for files) */
	/* file areas, and the backing file of tiered areas */
	uint8_t uuid[16];
	char label[17];
	/* every area */
	int draining; /* 1 once swap_off() has been called: no new page goes to it */
	/* memory and tiered areas */
	uint64_t idle_pages;	 /* entries marked idle (swap_mark_idle) and not accessed since */
	uint64_t recompressed;	 /* entries stored smaller by swap_recompress() */
	uint64_t incompressible; /* entries no compressor shrinks */
	/* tiered areas: zswap's and zram's writeback figures */
	uint64_t wb_pages;	  /* entries of the area in the backing file now */
	uint64_t wb_writes;	  /* pages written back so far */
	uint64_t wb_reads;	  /* swap_ins served from the backing file */
	uint64_t wb_failed;	  /* pages whose writeback failed (they stayed in memory) */
	uint64_t pool_limit_hit;  /* stores that found the pool at mem_limit */
	uint64_t huge_direct;	  /* huge pages written straight to the file */
	uint64_t backing_pages;	  /* slots of the backing file, its header slot included */
	uint64_t backing_used;	  /* of them holding a page now */
	uint64_t writeback_limit; /* pages writeback may still write (SWAP_WB_UNLIMITED: any) */
};

/*
 * swap_area_stats - fill @st with a snapshot of area @type's counters.
 * @return 0, or -EINVAL (NULL argument or no such area).
 * Threading: may be called concurrently with everything except swap_ctx_destroy(); counters of
 * a busy area are read without stopping it, so the fields may be mutually slightly inconsistent.
 * Kernel: a line of /proc/swaps together with a zram device's mm_stat and io_stat files.
 */
SWAP_API int swap_area_stats(struct swap_ctx *ctx, int type, struct swap_area_stats *st);

/*
 * swap_ctx_stats - fill @st with the sum of every area's counters (type -1, priority 0,
 * kind 0, strings empty; mem_used_max is the sum of the areas' maxima).
 * @return the number of areas on (>= 0), or -EINVAL (NULL argument).
 * Threading: as swap_area_stats().
 * Kernel: SwapTotal and SwapFree of /proc/meminfo, summed over all areas.
 */
SWAP_API int swap_ctx_stats(struct swap_ctx *ctx, struct swap_area_stats *st);

/*
 * swap_compact - compact the pool of memory area @type (zs_compact), giving emptied pages back.
 * @return pages freed (>= 0; always 0 for a file area), or -EINVAL (NULL ctx or no such area).
 * Threading: may be called concurrently with everything except swap_ctx_destroy().
 * Kernel: writing to a zram device's compact file in sysfs.
 */
SWAP_API long swap_compact(struct swap_ctx *ctx, int type);

struct zs_pool;

/*
 * swap_area_pool - the libzs pool of memory area @type, for reading its statistics
 * (zs_pool_stats, zs_class_stats, zs_dump_classes), as the kernel shows a zram device's pool
 * in debugfs.  The pool belongs to the area: allocating, freeing, mapping or compacting in it
 * directly corrupts the area (use swap_compact()).
 * @return the pool, valid until swap_off(@type) or swap_ctx_destroy(), or NULL with errno
 *         EINVAL (NULL ctx, no such area, or a file area).
 * Threading: may be called concurrently with everything except swap_ctx_destroy(); the caller
 * must not swap_off(@type) while it uses the pool.
 * Kernel: the zram device's pool in /sys/kernel/debug/zsmalloc/.
 */
SWAP_API struct zs_pool *swap_area_pool(struct swap_ctx *ctx, int type);

/*
 * swap_debug_corrupt - fault injection for tests: overwrite the compressed data stored for
 * @entry in a memory area with garbage, as memory corruption would, so that the next read of it
 * fails with -EIO.  The slot stays allocated and can be freed normally.
 * @return 0, -EINVAL (bad entry, a free slot, not a memory area), or -EOPNOTSUPP (the page is
 *         stored as a same-filled word or raw, where corruption cannot be detected).
 * Threading: the caller must not read @entry concurrently.
 * Kernel: none (tests only).
 */
SWAP_API int swap_debug_corrupt(struct swap_ctx *ctx, swp_entry_t entry);

#ifdef __cplusplus
}
#endif

#endif /* ZS_SWAP_H */
