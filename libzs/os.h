/*
 * os.h - the one interface between libzs and the kernel's memory calls (os.c).  Never
 * installed.  The page constants live here because the page is the kernel's unit: zspages are
 * runs of these pages, and what a pool counts as used is the pages it has made resident.
 */
#ifndef ZS_OS_H
#define ZS_OS_H

#include <stddef.h>

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

#endif /* ZS_OS_H */
