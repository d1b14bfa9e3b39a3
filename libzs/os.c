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
#include <sys/syscall.h>
#include <unistd.h>

#include "os.h"
#include "zs_atomic.h"

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

void zsi_os_release_later(struct zs_release_batch *b, void *p, size_t bytes)
{
	if (!bytes)
		return;
	if (b->n) {
		struct iovec *last = &b->v[b->n - 1];

		if ((char *)last->iov_base + last->iov_len == (char *)p) {
			last->iov_len += bytes;
			return;
		}
		if ((char *)p + bytes == (char *)last->iov_base) { /* a tail trimmed page by page */
			last->iov_base = p;
			last->iov_len += bytes;
			return;
		}
	}
	if (b->n == ZS_RELEASE_RANGES)
		zsi_os_release_flush(b);
	b->v[b->n++] = (struct iovec){.iov_base = p, .iov_len = bytes};
}

/* The calling process, for process_madvise (PIDFD_SELF_THREAD_GROUP of linux/pidfd.h, which
 * not every libc's headers have yet): a name, not a descriptor, so it stays right across fork. */
#define ZS_PIDFD_SELF (-10001)
/* Cleared once the kernel refuses process_madvise on ourselves (an older kernel, which knows
 * neither that use nor the PIDFD_SELF names, or a seccomp filter): every later batch goes
 * range by range. */
static _Atomic int vector_release = 1;

void zsi_os_release_flush(struct zs_release_batch *b)
{
	int saved = errno;

	if (b->n > 1 && zs_load_relaxed(&vector_release)) {
		size_t total = 0;

		for (unsigned int i = 0; i < b->n; i++)
			total += b->v[i].iov_len;
		long done = syscall(SYS_process_madvise, ZS_PIDFD_SELF, b->v, (size_t)b->n,
				    MADV_DONTNEED, 0U);
		if (done == (long)total) {
			b->n = 0;
			errno = saved;
			return;
		}
		if (done < 0)
			zs_store_relaxed(&vector_release, 0);
		/* Refused or cut short: range by range (releasing a range twice is harmless). */
	}
	for (unsigned int i = 0; i < b->n; i++)
		zsi_os_release(b->v[i].iov_base, b->v[i].iov_len);
	b->n = 0;
	errno = saved;
}
