/*
 * os.c - the one place libzs asks the kernel for memory or gives it back.
 *
 * Address space is reserved in large MAP_NORESERVE mappings: reserving costs nothing until a
 * page is written, so the policy code above can hand out page runs freely and count as used
 * only what it has made resident.  Pages go back with MADV_DONTNEED (not MADV_FREE): RSS drops
 * at once, which is what our statistics promise.  Nothing here knows about classes or handles.
 */
#include <errno.h>
#include <sys/mman.h>

#include "os.h"

void *zsi_os_reserve(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

void zsi_os_unreserve(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

void zsi_os_release(void *p, size_t bytes)
{
	if (bytes)
		madvise(p, bytes, MADV_DONTNEED);
}
