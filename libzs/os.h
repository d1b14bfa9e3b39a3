/*
 * os.h - the one interface between libzs and the kernel's memory calls (os.c).  Never
 * installed.  The page constants live here because the page is the kernel's unit: zspages are
 * runs of these pages, and what a pool counts as used is the pages it has made resident.
 */
#ifndef ZS_OS_H
#define ZS_OS_H

#include <stddef.h>
#include <sys/uio.h>

#define ZS_PAGE_SHIFT 12
#define ZS_PAGE_SIZE  (1UL << ZS_PAGE_SHIFT)

/* @bytes rounded up to whole pages. */
static inline size_t zs_page_round(size_t bytes)
{
	return (bytes + ZS_PAGE_SIZE - 1) & ~(ZS_PAGE_SIZE - 1);
}

/* Reserve @bytes of address space that reads as zeros and costs nothing until written;
 * NULL (errno ENOMEM) if the kernel refuses. */
void *zsi_os_reserve(size_t bytes);
/* Unmap a reservation (NULL is ignored). */
void zsi_os_unreserve(void *p, size_t bytes);
/* Give the pages of [@p, @p + @bytes) back at once; they read as zeros when touched again. */
void zsi_os_release(void *p, size_t bytes);

/*
 * Ranges of pages to give back together.  A compaction of a large pool gives back hundreds of
 * ranges of a few pages each (emptied zspages' runs scattered over the arenas, zspage tails); one
 * madvise call each cost about 2 us for a one-page range, against 0.8 us a range when 64 go in
 * one process_madvise call on the process itself (one system call and one TLB flush for all of
 * them; kernels that refuse it for the calling process get one madvise per range).  64 ranges:
 * 1 KiB of stack; batches of 1024 (the most the kernel takes) measured about 10% less a range.
 *
 * The caller owns the pages of a pending range until the flush: nothing may populate them again
 * (no zspage may allocate into them, no run holding them may be handed out) before it.
 */
#define ZS_RELEASE_RANGES 64
struct zs_release_batch {
	unsigned int n;
	struct iovec v[ZS_RELEASE_RANGES];
};

static inline void zsi_release_batch_init(struct zs_release_batch *b)
{
	b->n = 0;
}
/* Add [@p, @p + @bytes) to @b (merged with the last range if they touch), flushing @b first
 * when it is full. */
void zsi_os_release_later(struct zs_release_batch *b, void *p, size_t bytes);
/* Give back every range of @b; @b is empty afterwards. */
void zsi_os_release_flush(struct zs_release_batch *b);

#endif /* ZS_OS_H */
