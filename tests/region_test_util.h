/*
 * Helpers of the region suites (test_swap_region*.c): a context and region with a skip where
 * userfaultfd is not permitted, stamped region pages, the region's RSS as the kernel counts it,
 * seccomp filters that refuse userfaultfd, and forked children that report through their exit
 * status.
 */
#ifndef REGION_TEST_UTIL_H
#define REGION_TEST_UTIL_H

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <zs/region.h>

#include "swap_test_util.h"

#define RPAGE ((size_t)SWAP_PAGE_SIZE)

/* A context with one memory area of @nr_pages slots, and a region over it; skips the test when
 * the kernel refuses userfaultfd (saying why), fails on any other error. */
static inline struct swap_region *region_or_skip(struct swap_ctx **ctxp, uint64_t nr_slots,
						 const struct swap_region_opts *o)
{
	struct swap_ctx *ctx = ctx_with_memory(nr_slots, NULL);
	struct swap_region *r = swap_region_create(ctx, o);

	if (!r && (errno == EPERM || errno == ENOSYS)) {
		int err = errno;
		swap_ctx_destroy(ctx);
		cr_skip_test("regions unavailable here (%s): %s", strerror(err),
			     swap_region_errmsg());
	}
	cr_assert_not_null(r, "swap_region_create: %s (%s)", strerror(errno), swap_region_errmsg());
	*ctxp = ctx;
	return r;
}

static inline struct swap_region_opts region_opts(size_t pages, size_t budget_pages)
{
	struct swap_region_opts o = {.size = pages * RPAGE, .resident_max = budget_pages * RPAGE};
	return o;
}

static inline struct swap_region_stats region_stats(struct swap_region *r)
{
	struct swap_region_stats st;
	cr_assert_eq(swap_region_stats(r, &st), 0);
	return st;
}

/* Region page stamps: page @i of a region at version @v.  Every 8-byte word says (i, v, word)
 * so that a torn, stale or misplaced page is seen wherever it is read. */
static inline uint64_t region_word(size_t i, uint64_t v, unsigned w)
{
	return tu_mix64(((uint64_t)i << 24) ^ (v << 12) ^ w) | 1;
}

static inline void region_stamp(char *base, size_t i, uint64_t v)
{
	uint64_t *p = (uint64_t *)(base + i * RPAGE);
	/* half the words vary, half repeat: the page compresses, but not to nothing */
	for (unsigned w = 0; w < RPAGE / 8; w++)
		p[w] = (w & 1) ? region_word(i, v, w) : region_word(i, v, 0);
}

/* Whether @page holds page @i's stamp of version @v. */
static inline bool page_check(const char *page, size_t i, uint64_t v)
{
	const uint64_t *p = (const uint64_t *)page;
	for (unsigned w = 0; w < RPAGE / 8; w++)
		if (p[w] != ((w & 1) ? region_word(i, v, w) : region_word(i, v, 0)))
			return false;
	return true;
}

static inline bool region_check(const char *base, size_t i, uint64_t v)
{
	return page_check(base + i * RPAGE, i, v);
}

/* Pages of [@base, @base + @len) mapped in RAM, as mincore(2) sees them. */
static inline size_t mapped_pages(void *base, size_t len)
{
	size_t n = len / RPAGE, count = 0;
	unsigned char *vec = malloc(n);
	cr_assert_not_null(vec);
	cr_assert_eq(mincore(base, len, vec), 0, "mincore: %s", strerror(errno));
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

/* Pages of RAM of the mappings named [anon:@name] (tu_smaps_rss_bytes); -1 if none. */
static inline long smaps_rss_pages(const char *name)
{
	long long b = tu_smaps_rss_bytes(name);
	return b < 0 ? -1 : (long)(b / (long long)RPAGE);
}

/* ---- seccomp: make the kernel refuse userfaultfd, as a sandbox would ------------------------ */

#if defined(__x86_64__)
#define RT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define RT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/*
 * In the calling (forked) process: userfaultfd(2) fails with @sys_errno and the ioctl that makes
 * a userfaultfd from /dev/userfaultfd with @dev_errno.  False if this architecture has no
 * filter here.
 */
static inline bool refuse_userfaultfd(int sys_errno, int dev_errno)
{
#if defined(RT_AUDIT_ARCH) && defined(SYS_userfaultfd)
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RT_AUDIT_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)sys_errno & SECCOMP_RET_DATA)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 3),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)USERFAULTFD_IOC_NEW, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)dev_errno & SECCOMP_RET_DATA)),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f};

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
	(void)sys_errno;
	(void)dev_errno;
	return false;
#endif
}

/* Child exit codes of the forked checks below (other codes name the failed step). */
#define CHILD_OK   0
#define CHILD_SKIP 77

/* Run @fn in a forked child and return its exit status (-1 if it died of a signal). */
static inline int run_in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(fn(arg)); /* _exit: no atexit handlers (a sanitizer's) in the child */
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline int read_sysctl_int(const char *path, int dflt)
{
	FILE *f = fopen(path, "r");
	int v = dflt;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = dflt;
		fclose(f);
	}
	return v;
}

#endif /* REGION_TEST_UTIL_H */
