/*
 * libswap regions: transparent compressed swap of a program's own memory, within a RAM budget.
 *
 * A region is a range of address space that the program uses as it uses any memory, from any
 * number of threads.  It starts as zero pages.  The library keeps the pages the region holds in
 * RAM within a budget (resident_max) by compressing its coldest pages into the swap areas of a
 * libswap context (a memory area, a swap file, any area swap_on() accepts) and bringing them back
 * when they are touched again: zswap for one process, without root and without kernel
 * configuration, over userfaultfd.
 *
 * How: the region is an anonymous mapping registered with a userfaultfd.  A few fault-handler
 * threads read its faults: a never-touched page is mapped as the zero page, an evicted page is
 * swapped in (decompressed) and installed atomically with UFFDIO_COPY, a page still in the swap
 * cache is moved back with UFFDIO_MOVE.  A reclaim thread (the kernel's kswapd) wakes when the
 * region's RAM passes resident_max and reclaims down to resident_min; a fault that would take the
 * region past resident_max plus a small slack reclaims directly first (the kernel's direct
 * reclaim), so no writer can push the region past its budget.  Reclaim takes its victims from an
 * inactive list with second chance, refilled from an active list, as the kernel does.  An evicted
 * page is first moved out atomically (UFFDIO_MOVE, so no write can be lost: a write either lands
 * before the move or faults and waits) into the region's swap cache, where it stays uncompressed
 * for a while: a touch there is a cheap minor fault that promotes the page, and pages that come
 * back soon after being compressed (a short refault distance, as mm/workingset.c measures it) are
 * protected too.  Written pages are tracked with PAGEMAP_SCAN and asynchronous write-protection
 * (Linux 6.7+) where the kernel has them: a page not written since it was swapped in keeps its swap
 * copy and is reclaimed again without compressing ("clean" reclaim).
 *
 * Memory the budget counts: the region's pages mapped in RAM plus the evicted pages waiting
 * uncompressed in its swap cache.  The compressed copies are the areas' (see swap_area_stats()).
 * The metadata is 40 bytes per page of the region, outside the budget.
 *
 * Needs: Linux 6.8+ (UFFDIO_MOVE) and a userfaultfd the process may open: the userfaultfd(2)
 * system call with vm.unprivileged_userfaultfd = 1 or CAP_SYS_PTRACE, or read-write access to
 * /dev/userfaultfd (Linux 6.1+), or else UFFD_USER_MODE_ONLY (Linux 5.11+), which every process
 * may use but which does not serve faults taken inside system calls (see swap_region_prefault()).
 * swap_region_create() picks the first of these that works and says which in the statistics.
 *
 * Edges, decided:
 *   fork       the region and its swap cache are MADV_DONTFORK: a child has no region at all
 *              (touching its addresses is SIGSEGV, never silently zero pages); the parent's region
 *              is unaffected.  A child that needs the data must be given it explicitly.
 *   syscalls   a system call that reads or writes an evicted page (read(2) into the region,
 *              write(2) from it) is served like any fault, except under UFFD_USER_MODE_ONLY, where
 *              it fails with EFAULT: call swap_region_prefault() on the buffer just before it.
 *   madvise    MADV_DONTNEED (or MADV_FREE) by the program inside the region discards
 *              the pages as it does for any anonymous memory: they read as zeros afterwards, and
 *              their swap copies are freed.  A touch of a page by another thread at the same time
 *              as its discard may see either contents.
 *   munmap     unmapping part of the region frees what the library held for those pages; the rest
 *              of the region keeps working; swap_region_destroy() unmaps only what is still mapped.
 *              mremap and mprotect inside the region are not supported: pages mremap moves are
 *              no longer managed (evicted ones then read as zeros) and mprotected pages are not
 *              reclaimed.
 *   swap_off   swap_off() of an area holding region pages brings them back, as the kernel's
 *              try_to_unuse does: each page is moved to another area or, if none has room, back
 *              into the region (which then holds more than its budget until swap space returns).
 *
 * Threading: every call may be made from any thread, concurrently with the program's use of the
 * region and with each other, except that swap_region_destroy() must not race with another call
 * on the same region.  The library's threads never touch the region's memory themselves.  A
 * program's signal handler must not call these functions.
 *
 * Errors: functions returning int or long return a count (>= 0) or a negative errno; functions
 * returning a pointer return NULL and set errno, and swap_region_errmsg() explains the failure.
 */
#ifndef ZS_REGION_H
#define ZS_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "zs/swap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A region (opaque): swap_region_create() makes one. */
struct swap_region;

/* Options of swap_region_create(); zero every field you do not set. */
struct swap_region_opts {
	size_t size;	     /* bytes of address space, a multiple of SWAP_PAGE_SIZE */
	size_t resident_max; /* RAM budget: reclaim starts above this (high watermark) */
	size_t resident_min; /* reclaim goes down to this (low watermark); 0: 7/8 of resident_max */
	unsigned int flags;  /* SWAP_REGION_* below */
	/* Fault-handler threads: 0 means 2; at most SWAP_REGION_MAX_HANDLERS. */
	unsigned int nr_handlers;
};

/* Most fault-handler threads a region may have. */
#define SWAP_REGION_MAX_HANDLERS 16
/* Smallest resident_max, in bytes: 32 pages (the swap cache and a reclaim batch must fit). */
#define SWAP_REGION_MIN_RESIDENT (32 * SWAP_PAGE_SIZE)

/*
 * Flags of struct swap_region_opts.
 * SWAP_REGION_USER_MODE_ONLY: open the userfaultfd with UFFD_USER_MODE_ONLY even where a full one
 * is permitted (system calls into evicted pages then fail with EFAULT, see the header comment).
 * SWAP_REGION_NO_WRITE_TRACKING: do not use PAGEMAP_SCAN and asynchronous write-protection even
 * where the kernel has them; clean pages are then recognised by a 64-bit hash of their contents
 * alone, and written pages get no second chance in reclaim (the fallback every kernel gets).
 * SWAP_REGION_NO_RECLAIM_THREAD: no reclaim thread: the region reclaims only directly (a fault
 * past the budget) and when swap_region_reclaim() asks, so its residency stays near resident_max
 * instead of falling back to resident_min.
 */
#define SWAP_REGION_USER_MODE_ONLY    0x1u
#define SWAP_REGION_NO_WRITE_TRACKING 0x2u
#define SWAP_REGION_NO_RECLAIM_THREAD 0x4u

/*
 * Features a region uses, as reported in struct swap_region_stats.features.
 * SWAP_REGION_F_KERNEL_FAULTS: faults taken inside system calls are served (the userfaultfd is not
 * user-mode-only).  SWAP_REGION_F_DEV_USERFAULTFD: it was opened through /dev/userfaultfd.
 * SWAP_REGION_F_WRITE_TRACKING: written pages are tracked with PAGEMAP_SCAN.  SWAP_REGION_F_POISON:
 * a page whose swap copy cannot be read is poisoned (UFFDIO_POISON: touching it raises SIGBUS, as
 * for a memory error) instead of coming back as zeros.
 */
#define SWAP_REGION_F_KERNEL_FAULTS   0x1u
#define SWAP_REGION_F_DEV_USERFAULTFD 0x2u
#define SWAP_REGION_F_WRITE_TRACKING  0x4u
#define SWAP_REGION_F_POISON	      0x8u

/* Percentiles of fault service times in nanoseconds, from the handler reading the fault to the
 * page being installed; all 0 when there was none. */
struct swap_region_latency {
	uint64_t p50, p99, max;
	uint64_t count; /* faults measured */
};

/* A region's counters; from swap_region_stats(). */
struct swap_region_stats {
	uint64_t size_pages;	 /* pages of address space */
	uint64_t resident_pages; /* pages mapped in RAM (zero pages included) */
	uint64_t cached_pages;	 /* evicted pages waiting uncompressed in the swap cache */
	uint64_t swapped_pages;	 /* pages whose only copy is in a swap area */
	/* The budget in pages: resident_pages + cached_pages stays at most limit_pages, which is
	 * resident_max + slack (resident_max / 64 + 4 per handler thread). */
	uint64_t resident_max_pages, resident_min_pages, limit_pages;
	struct {
		uint64_t major; /* served by decompressing a swap copy */
		uint64_t minor; /* served from the swap cache or with a zero page */
	} faults;
	uint64_t reclaimed_pages; /* pages whose RAM reclaim gave back (clean ones included) */
	uint64_t clean_reclaims;  /* of those: dropped without compressing, the swap copy valid */
	/* major faults of pages compressed a short while before (refault distance at most the
	 * resident set): these are put on the active list to protect them */
	uint64_t refaults;
	uint64_t direct_reclaims; /* faults that reclaimed before installing their page */
	uint64_t reclaim_cpu_ns;  /* CPU time spent reclaiming, by every thread */
	uint64_t io_errors;	  /* swap copies that could not be read or written */
	unsigned int features;	  /* SWAP_REGION_F_* */
	struct swap_region_latency fault_latency; /* every fault served */
	struct swap_region_latency major_latency; /* major faults */
	struct swap_region_latency minor_latency; /* minor faults */
};

/*
 * swap_region_create - map a region of @o->size bytes of zero pages whose RAM is kept within
 * @o->resident_max by swapping its cold pages through @ctx's areas.  Starts the region's
 * fault-handler threads and, unless SWAP_REGION_NO_RECLAIM_THREAD, its reclaim thread.  The
 * context must stay alive (and keep at least one area on for reclaim to work) until
 * swap_region_destroy(); areas may be added and removed meanwhile.
 * @ctx: the context whose areas store the pages.
 * @o: the options (see struct swap_region_opts).
 * @return the region, or NULL with errno EINVAL (@ctx or @o NULL, size 0 or not a multiple of
 *         SWAP_PAGE_SIZE or 2^32 - 1 pages or more, resident_max below SWAP_REGION_MIN_RESIDENT or
 *         not a multiple of SWAP_PAGE_SIZE, resident_min above resident_max or not a multiple of
 *         SWAP_PAGE_SIZE, unknown flags, more than SWAP_REGION_MAX_HANDLERS handlers), EPERM
 *         (userfaultfd is not permitted: vm.unprivileged_userfaultfd = 0 without CAP_SYS_PTRACE
 *         and no access to /dev/userfaultfd, and UFFD_USER_MODE_ONLY refused as well, e.g. by a
 *         seccomp filter), ENOSYS (the kernel has no userfaultfd, or no UFFDIO_MOVE: Linux 6.8),
 *         ENOMEM (out of memory or address space), or another errno of mmap, userfaultfd or
 *         pthread_create (EAGAIN, EMFILE, ...).
 * On EPERM and ENOSYS, swap_region_errmsg() says which and how to enable it.
 * Threading: may be called from any thread at any time.
 * Kernel: none; the kernel does this for every process with its swap subsystem and zswap.
 */
SWAP_API struct swap_region *swap_region_create(struct swap_ctx *ctx,
						const struct swap_region_opts *o);

/*
 * swap_region_errmsg - why the calling thread's last failed swap_region_create() failed, as a
 * sentence ("userfaultfd is not permitted: ..., enable it with ..."), or "" if no call failed.
 * @return the message (valid until the thread's next swap_region_create()); never NULL.
 * Threading: per thread; any thread.
 * Kernel: none (the kernel logs to dmesg).
 */
SWAP_API const char *swap_region_errmsg(void);

/*
 * swap_region_addr - the first byte of the region (page aligned).
 * @r: the region.
 * @return the address, or NULL with errno EINVAL for a NULL @r.
 * Threading: any thread; it never blocks.
 * Kernel: the address mmap() returns.
 */
SWAP_API void *swap_region_addr(struct swap_region *r);

/*
 * swap_region_destroy - serve the faults already raised on the region, stop its threads, unmap
 * it and free everything it holds (its swap copies included).  The program must not touch the
 * region once the call has begun: as after munmap, an access after the call returns is SIGSEGV.
 * @r: the region (NULL is refused with -EINVAL).
 * @return 0, or -EINVAL.
 * Threading: must not race with any other call on @r; other regions are unaffected.  Waits for
 * the region's threads to finish what they are doing (a few milliseconds).
 * Kernel: munmap() of anonymous memory, which frees its swap entries.
 */
SWAP_API int swap_region_destroy(struct swap_region *r);

/*
 * swap_region_reclaim - reclaim about @bytes (rounded up to whole pages) of the region's RAM now,
 * in the calling thread: the coldest pages are moved to its swap cache and compressed into the
 * areas, down to nothing resident if asked.  Proactive reclaim, as writing to a cgroup's
 * memory.reclaim: pages touched afterwards come back through faults as usual.
 * @r: the region.
 * @bytes: how much to reclaim; SIZE_MAX reclaims everything.
 * @return the bytes reclaimed (a multiple of SWAP_PAGE_SIZE, possibly less than @bytes when
 *         nothing more can be reclaimed: every page gone already, locked in a fault, or no swap
 *         space left), or -EINVAL (@r NULL).
 * Threading: may be called concurrently with everything but swap_region_destroy(), from several
 * threads at once.
 * Kernel: memory.reclaim of cgroup v2, which returns -EAGAIN when it falls short; here the count
 * says how far it got.
 */
SWAP_API long swap_region_reclaim(struct swap_region *r, size_t bytes);

/*
 * swap_region_prefault - make the pages of the @len bytes at @addr resident now, in the calling
 * thread, and put them at the head of the active list, so that a system call on that memory
 * finds them mapped.  Needed under UFFD_USER_MODE_ONLY (swap_region_stats() features without
 * SWAP_REGION_F_KERNEL_FAULTS), where a system call touching an evicted page fails with EFAULT
 * instead of faulting it in: call it on the buffer right before read(2), write(2), recv(2) and the
 * like.  The pages are not pinned: reclaim could take them again if the region needs room before
 * the system call runs, so keep @len well below resident_min and retry the pair on EFAULT.
 * Elsewhere it saves the faults of a range about to be used.
 * @r: the region.
 * @addr: the first byte (need not be aligned: every page the range touches is prefaulted).
 * @len: bytes; 0 does nothing.
 * @return 0, or -EINVAL (@r NULL, the range not inside the region), -E2BIG (more pages than
 *         resident_min), -EIO (a page's swap copy could not be read: the page is poisoned, or
 *         zero-filled where the kernel cannot poison), -ENOMEM.
 * Threading: may be called concurrently with everything but swap_region_destroy().
 * Kernel: madvise(MADV_WILLNEED) for swapped-out anonymous memory, or MADV_POPULATE_READ.
 */
SWAP_API int swap_region_prefault(struct swap_region *r, void *addr, size_t len);

/*
 * swap_region_stats - fill @st with a snapshot of the region's counters.
 * @r: the region.
 * @st: the snapshot.
 * @return 0, or -EINVAL (NULL argument).
 * Threading: may be called concurrently with everything but swap_region_destroy(); counters of a
 * busy region are read without stopping it, so they may be slightly inconsistent with each other.
 * Kernel: the region's lines of /proc/PID/smaps (Rss, Swap) and /proc/vmstat's pgfault,
 * pgmajfault, pswpin, pswpout, workingset_refault and pgsteal counters.
 */
SWAP_API int swap_region_stats(struct swap_region *r, struct swap_region_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* ZS_REGION_H */
