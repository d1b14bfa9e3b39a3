/*
 * Regions and the operating system: opening userfaultfds, their ioctls, PAGEMAP_SCAN, and the
 * mappings of a region and its swap cache.  Every system call the region code makes goes through
 * here, so the policy files (region.c, region_fault.c, region_reclaim.c) never call the OS.
 *
 * The kernel headers a distribution ships may be older than the kernel it runs: the ABI of the
 * newer calls (UFFDIO_MOVE 6.8, UFFDIO_POISON 6.6, PAGEMAP_SCAN and UFFD_FEATURE_WP_ASYNC 6.7) is
 * declared below when the headers lack it.  These are stable kernel ABI: numbers never change.
 *
 * This file may not touch a region's pages, lists or counters: it only knows addresses and fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "region_internal.h"

#ifndef UFFD_USER_MODE_ONLY /* Linux 5.11 */
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW /* Linux 6.1: /dev/userfaultfd */
#define USERFAULTFD_IOC	    0xAA
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE 0x05
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE		  _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON 0x08
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_POISON		    _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WRITTEN	      (1 << 1)
#define PAGE_IS_PRESENT	      (1 << 3)
#define PM_SCAN_WP_MATCHING   (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};
struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif
#ifndef PR_SET_VMA /* Linux 5.17: names for anonymous mappings in /proc/PID/maps */
#define PR_SET_VMA	     0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

_Static_assert(UFFD_FEAT_EVENT_REMAP == UFFD_FEATURE_EVENT_REMAP &&
		   UFFD_FEAT_EVENT_REMOVE == UFFD_FEATURE_EVENT_REMOVE &&
		   UFFD_FEAT_EVENT_UNMAP == UFFD_FEATURE_EVENT_UNMAP &&
		   UFFD_FEAT_SIGBUS == UFFD_FEATURE_SIGBUS &&
		   UFFD_FEAT_POISON == UFFD_FEATURE_POISON &&
		   UFFD_FEAT_WP_ASYNC == UFFD_FEATURE_WP_ASYNC &&
		   UFFD_FEAT_MOVE == UFFD_FEATURE_MOVE,
	       "userfaultfd feature bits");

/* Runs of written pages PAGEMAP_SCAN returns per call: 4 KiB of vector on the stack. */
#define SCAN_VEC 170

static int uffd_syscall(int flags)
{
#ifdef SYS_userfaultfd
	return (int)syscall(SYS_userfaultfd, flags);
#else
	(void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

static int uffd_dev(int flags)
{
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC), fd, err;

	if (dev < 0)
		return -1;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
	err = errno;
	close(dev);
	errno = err;
	return fd;
}

int swi_uffd_open_as(enum uffd_how how)
{
	int flags = O_CLOEXEC | O_NONBLOCK, fd;

	switch (how) {
	case UFFD_HOW_SYSCALL:
		fd = uffd_syscall(flags);
		break;
	case UFFD_HOW_DEV:
		fd = uffd_dev(flags);
		break;
	default:
		fd = uffd_syscall(flags | UFFD_USER_MODE_ONLY);
		break;
	}
	return fd < 0 ? -errno : fd;
}

int swi_uffd_open(bool user_mode_only, enum uffd_how *how, char *msg, size_t msglen)
{
	int err_sys = 0, err_dev = 0, err_user, fd;

	if (!user_mode_only) {
		/* A full userfaultfd serves faults taken inside system calls too. */
		fd = swi_uffd_open_as(UFFD_HOW_SYSCALL);
		if (fd >= 0) {
			*how = UFFD_HOW_SYSCALL;
			return fd;
		}
		err_sys = -fd;
		fd = swi_uffd_open_as(UFFD_HOW_DEV);
		if (fd >= 0) {
			*how = UFFD_HOW_DEV;
			return fd;
		}
		err_dev = -fd;
	}
	fd = swi_uffd_open_as(UFFD_HOW_USER_MODE);
	if (fd >= 0) {
		*how = UFFD_HOW_USER_MODE;
		return fd;
	}
	err_user = -fd;
	if (err_user == ENOSYS && (err_sys == ENOSYS || user_mode_only) &&
	    (err_dev == ENOENT || err_dev == ENOTTY || user_mode_only)) {
		snprintf(msg, msglen,
			 "userfaultfd is not available: this kernel has no userfaultfd(2) system "
			 "call (it needs CONFIG_USERFAULTFD, Linux 4.3 or later, and Linux 6.8 for "
			 "UFFDIO_MOVE)");
		return -ENOSYS;
	}
	if (err_user == EINVAL && !user_mode_only && err_sys == EPERM) {
		/* A kernel before 5.11 does not know UFFD_USER_MODE_ONLY. */
		err_user = EPERM;
	}
	if (err_user == EPERM || err_user == EACCES) {
		snprintf(
		    msg, msglen,
		    "userfaultfd is not permitted: %s; to enable it, run `sysctl "
		    "vm.unprivileged_userfaultfd=1`, give this user read-write access to "
		    "/dev/userfaultfd, or grant the process CAP_SYS_PTRACE (and allow the "
		    "userfaultfd system call in any seccomp filter)",
		    user_mode_only
			? "even UFFD_USER_MODE_ONLY was refused (a seccomp filter?)"
			: "the system call was refused (vm.unprivileged_userfaultfd is 0 and the "
			  "process lacks CAP_SYS_PTRACE, or a seccomp filter), /dev/userfaultfd "
			  "could not be opened, and UFFD_USER_MODE_ONLY was refused too");
		return -EPERM;
	}
	snprintf(msg, msglen, "userfaultfd could not be opened: %s", strerror(err_user));
	return -err_user;
}

int swi_uffd_api(int fd, uint64_t want, uint64_t *got)
{
	struct uffdio_api api = {.api = UFFD_API, .features = want};

	if (ioctl(fd, UFFDIO_API, &api))
		return -errno;
	if (got)
		*got = api.features;
	return 0;
}

int swi_uffd_features(enum uffd_how how, uint64_t *features)
{
	int fd = swi_uffd_open_as(how), err;

	if (fd < 0)
		return fd;
	/* Asking for nothing makes the kernel answer with everything it has. */
	err = swi_uffd_api(fd, 0, features);
	close(fd);
	return err;
}

int swi_uffd_register(int fd, void *addr, size_t len, bool wp)
{
	struct uffdio_register reg = {.range = {.start = (uintptr_t)addr, .len = len},
				      .mode = UFFDIO_REGISTER_MODE_MISSING |
					      (wp ? UFFDIO_REGISTER_MODE_WP : 0)};

	return ioctl(fd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

int swi_uffd_unregister(int fd, void *addr, size_t len)
{
	struct uffdio_range range = {.start = (uintptr_t)addr, .len = len};

	return ioctl(fd, UFFDIO_UNREGISTER, &range) ? -errno : 0;
}

int swi_uffd_copy(int fd, uintptr_t dst, const void *src, bool wp)
{
	/* No wake-up here: the caller wakes the faulting threads once the page is accounted. */
	struct uffdio_copy c = {.dst = dst,
				.src = (uintptr_t)src,
				.len = SWAP_PAGE_SIZE,
				.mode = UFFDIO_COPY_MODE_DONTWAKE | (wp ? UFFDIO_COPY_MODE_WP : 0)};

	return ioctl(fd, UFFDIO_COPY, &c) ? -errno : 0;
}

int swi_uffd_zeropage(int fd, uintptr_t dst)
{
	struct uffdio_zeropage z = {.range = {.start = dst, .len = SWAP_PAGE_SIZE},
				    .mode = UFFDIO_ZEROPAGE_MODE_DONTWAKE};

	return ioctl(fd, UFFDIO_ZEROPAGE, &z) ? -errno : 0;
}

static bool page_mapped(uintptr_t addr)
{
	unsigned char v;

	return !mincore((void *)addr, SWAP_PAGE_SIZE, &v) && (v & 1);
}

int swi_uffd_move(int fd, uintptr_t dst, uintptr_t src)
{
	struct uffdio_move m = {
	    .dst = dst, .src = src, .len = SWAP_PAGE_SIZE, .mode = UFFDIO_MOVE_MODE_DONTWAKE};

	if (!ioctl(fd, UFFDIO_MOVE, &m))
		return 0;
	/*
	 * Linux 6.18 can answer EEXIST for a page it did move, when PAGEMAP_SCAN write-protects the
	 * source at the same moment (the move is retried internally and finds its own page at the
	 * destination; seen about once in 10^5 moves).  Both pages are locked by the caller, so
	 * the page tables say what happened: trust them.
	 */
	if ((errno == EEXIST || errno == EAGAIN) && page_mapped(dst) && !page_mapped(src))
		return 0;
	return -errno;
}

int swi_uffd_wake(int fd, uintptr_t addr, size_t len)
{
	struct uffdio_range range = {.start = addr, .len = len};

	return ioctl(fd, UFFDIO_WAKE, &range) ? -errno : 0;
}

int swi_uffd_writeprotect(int fd, uintptr_t addr, size_t len, bool protect)
{
	struct uffdio_writeprotect wp = {.range = {.start = addr, .len = len},
					 .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP
							 : UFFDIO_WRITEPROTECT_MODE_DONTWAKE};

	return ioctl(fd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

int swi_uffd_poison(int fd, uintptr_t addr)
{
	struct uffdio_poison p = {.range = {.start = addr, .len = SWAP_PAGE_SIZE},
				  .mode = UFFDIO_POISON_MODE_DONTWAKE};

	return ioctl(fd, UFFDIO_POISON, &p) ? -errno : 0;
}

void *swi_map_pages(size_t len, const char *name)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* A child must not inherit it (see the fork edge in region.h), and UFFDIO_MOVE and the
	 * page-granular budget want 4 KiB pages. */
	if (madvise(p, len, MADV_DONTFORK) || madvise(p, len, MADV_NOHUGEPAGE)) {
		int err = errno;
		munmap(p, len);
		errno = err;
		return NULL;
	}
	/* "[anon:NAME]" in /proc/self/smaps, so the RSS of each part can be read; kernels without
	 * CONFIG_ANON_VMA_NAME refuse, which changes nothing else. */
	(void)prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, len, (unsigned long)name);
	return p;
}

int swi_unmap_pages(void *addr, size_t len)
{
	return munmap(addr, len) ? -errno : 0;
}

int swi_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

void swi_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

int swi_zap_pages(void *addr, size_t len)
{
	return madvise(addr, len, MADV_DONTNEED) ? -errno : 0;
}

static int scan(int fd, uintptr_t start, uintptr_t end, struct page_region *vec, unsigned nvec,
		uint64_t *walk_end)
{
	struct pm_scan_arg a = {
	    .size = sizeof(a),
	    .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
	    .start = start,
	    .end = end,
	    .vec = (uintptr_t)vec,
	    .vec_len = nvec,
	    /* Present pages only: write-protecting a none pte would leave a marker there, and a
	     * marker makes UFFDIO_COPY and UFFDIO_ZEROPAGE answer EEXIST for a missing page. */
	    .category_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT,
	    .return_mask = PAGE_IS_WRITTEN,
	};
	int n = ioctl(fd, PAGEMAP_SCAN, &a);

	if (n < 0)
		return -errno;
	*walk_end = a.walk_end;
	return n;
}

int swi_pagemap_open(void *addr, size_t len)
{
	struct page_region vec[1];
	uint64_t walk_end;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), n;

	if (fd < 0)
		return -errno;
	n = scan(fd, (uintptr_t)addr, (uintptr_t)addr + len, vec, 1, &walk_end);
	if (n < 0) {
		close(fd);
		return n;
	}
	return fd;
}

int swi_pagemap_scan_written(int fd, uintptr_t start, uintptr_t end,
			     void (*fn)(void *arg, uintptr_t first, uintptr_t last), void *arg)
{
	struct page_region vec[SCAN_VEC];

	while (start < end) {
		uint64_t walk_end = end;
		int n = scan(fd, start, end, vec, SCAN_VEC, &walk_end);

		if (n < 0)
			return n;
		for (int i = 0; i < n; i++)
			fn(arg, (uintptr_t)vec[i].start, (uintptr_t)vec[i].end);
		if (walk_end <= start)
			break;
		start = (uintptr_t)walk_end;
	}
	return 0;
}

uint64_t swi_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t swi_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
