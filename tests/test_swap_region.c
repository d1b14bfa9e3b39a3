/*
 * libswap regions: every call and its error paths, userfaultfd refused (simulated with seccomp)
 * and unprivileged (a child dropped to nobody), the budget, reclaim (by the reclaim thread,
 * directly, proactively), clean reclaims with and without write tracking, prefault and system
 * calls under UFFD_USER_MODE_ONLY, and the edges: fork, MADV_DONTNEED, munmap, a lost swap copy,
 * several regions over one context, swap_off of an area holding region pages, no swap space.
 */
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>

#include "region_test_util.h"

/* ---- arguments and errors ------------------------------------------------------------------ */

Test(swap_region, create_rejects_bad_options)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	struct swap_region_opts ok = region_opts(64, 32), o;

	errno = 0;
	cr_assert_null(swap_region_create(NULL, &ok));
	cr_assert_eq(errno, EINVAL);
	cr_assert_neq(swap_region_errmsg()[0], 0, "a message says why");
	cr_assert_null(swap_region_create(ctx, NULL));
	cr_assert_eq(errno, EINVAL);

	const struct {
		size_t size, max, min;
		unsigned flags, handlers;
	} bad[] = {
	    {0, 32 * RPAGE, 0, 0, 0},			/* no size */
	    {64 * RPAGE + 1, 32 * RPAGE, 0, 0, 0},	/* size not whole pages */
	    {64 * RPAGE, 31 * RPAGE, 0, 0, 0},		/* budget below SWAP_REGION_MIN_RESIDENT */
	    {64 * RPAGE, 32 * RPAGE + 8, 0, 0, 0},	/* budget not whole pages */
	    {64 * RPAGE, 32 * RPAGE, 33 * RPAGE, 0, 0}, /* low watermark above the high one */
	    {64 * RPAGE, 32 * RPAGE, 100, 0, 0},	/* low watermark not whole pages */
	    {64 * RPAGE, 32 * RPAGE, 0, 0x80, 0},	/* unknown flag */
	    {64 * RPAGE, 32 * RPAGE, 0, 0, SWAP_REGION_MAX_HANDLERS + 1},
	    {(size_t)UINT32_MAX * RPAGE, 32 * RPAGE, 0, 0, 0}, /* more than 2^32 - 1 pages */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = (struct swap_region_opts){bad[i].size, bad[i].max, bad[i].min, bad[i].flags,
					      bad[i].handlers};
		errno = 0;
		cr_assert_null(swap_region_create(ctx, &o), "case %zu accepted", i);
		cr_assert_eq(errno, EINVAL, "case %zu: errno %d", i, errno);
	}
	swap_ctx_destroy(ctx);
}

Test(swap_region, null_arguments)
{
	struct swap_region_stats st;
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(64, 32);
	struct swap_region *r;

	errno = 0;
	cr_assert_null(swap_region_addr(NULL));
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(swap_region_destroy(NULL), -EINVAL);
	cr_assert_eq(swap_region_reclaim(NULL, RPAGE), -EINVAL);
	cr_assert_eq(swap_region_prefault(NULL, &st, RPAGE), -EINVAL);
	cr_assert_eq(swap_region_stats(NULL, &st), -EINVAL);
	cr_assert_not_null(swap_region_errmsg());

	r = region_or_skip(&ctx, 256, &o);
	cr_assert_eq(swap_region_stats(r, NULL), -EINVAL);
	cr_assert_str_eq(swap_region_errmsg(), "", "a successful create leaves no message");
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

/* A child under a seccomp filter: the create must fail with @expect and the right message. */
struct refusal {
	int sys_errno, dev_errno, expect;
	unsigned flags;
	const char *says;
};

static int refused_child(void *arg)
{
	const struct refusal *f = arg;
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts ao = {.nr_pages = 256};
	struct swap_region_opts o = region_opts(64, 32);

	if (!ctx || swap_on(ctx, &ao) < 0)
		return 2;
	if (!refuse_userfaultfd(f->sys_errno, f->dev_errno))
		return CHILD_SKIP;
	o.flags = f->flags;
	errno = 0;
	if (swap_region_create(ctx, &o))
		return 3;
	if (errno != f->expect)
		return 4;
	if (!strstr(swap_region_errmsg(), f->says))
		return 5;
	swap_ctx_destroy(ctx);
	return CHILD_OK;
}

Test(swap_region, eperm_when_userfaultfd_is_refused)
{
	/* A sandbox that refuses the system call and the /dev/userfaultfd ioctl alike. */
	struct refusal f = {EPERM, EPERM, EPERM, 0, "vm.unprivileged_userfaultfd=1"};
	int st = run_in_child(refused_child, &f);

	if (st == CHILD_SKIP)
		cr_skip_test("no seccomp filter for this architecture");
	cr_assert_eq(st, CHILD_OK, "child failed at step %d", st);
	f.flags = SWAP_REGION_USER_MODE_ONLY;
	f.says = "UFFD_USER_MODE_ONLY was refused";
	cr_assert_eq(run_in_child(refused_child, &f), CHILD_OK, "user-mode-only refused");
}

Test(swap_region, enosys_without_userfaultfd)
{
	/* A kernel built without userfaultfd: no system call, no device. */
	struct refusal f = {ENOSYS, ENOTTY, ENOSYS, 0, "CONFIG_USERFAULTFD"};
	int st = run_in_child(refused_child, &f);

	if (st == CHILD_SKIP)
		cr_skip_test("no seccomp filter for this architecture");
	cr_assert_eq(st, CHILD_OK, "child failed at step %d", st);
}

/* Stamp the first @n pages of the region with version @v. */
static void fill_all(struct swap_region *r, size_t n, uint64_t v)
{
	char *base = swap_region_addr(r);
	for (size_t i = 0; i < n; i++)
		region_stamp(base, i, v);
}

static void check_all(struct swap_region *r, size_t n, uint64_t v)
{
	char *base = swap_region_addr(r);
	for (size_t i = 0; i < n; i++)
		cr_assert(region_check(base, i, v), "page %zu differs", i);
}

/* ---- zero pages, stats, destroy ------------------------------------------------------------ */

Test(swap_region, starts_as_zero_pages)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(64, 32);
	struct swap_region *r = region_or_skip(&ctx, 256, &o);
	char *base = swap_region_addr(r);
	struct swap_region_stats st = region_stats(r);

	cr_assert_eq((uintptr_t)base % RPAGE, 0);
	cr_assert_eq(st.size_pages, 64);
	cr_assert_eq(st.resident_pages + st.cached_pages + st.swapped_pages, 0);
	cr_assert_eq(st.resident_max_pages, 32);
	cr_assert_eq(st.resident_min_pages, 28, "7/8 of resident_max by default");
	cr_assert_geq(st.limit_pages, 32);
	cr_assert_eq(st.faults.major + st.faults.minor, 0);
	for (size_t i = 0; i < 16; i++)
		for (size_t b = 0; b < RPAGE; b += 512)
			cr_assert_eq(base[i * RPAGE + b], 0);
	base[20 * RPAGE + 7] = 'x'; /* a write fault */
	cr_assert_eq(base[20 * RPAGE + 7], 'x');
	st = region_stats(r);
	cr_assert_eq(st.faults.minor, 17, "16 read faults and one write fault");
	cr_assert_eq(st.faults.major, 0);
	cr_assert_eq(st.resident_pages, 17);
	cr_assert_eq(st.minor_latency.count, 17);
	cr_assert_leq(st.minor_latency.p50, st.minor_latency.p99);
	cr_assert_leq(st.minor_latency.p99, st.minor_latency.max);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, destroy_frees_every_entry)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 64);
	struct swap_region *r = region_or_skip(&ctx, 1024, &o);
	struct swap_area_stats as;

	fill_all(r, 512, 1);
	cr_assert_gt(region_stats(r).swapped_pages, 0);
	cr_assert_eq(swap_region_destroy(r), 0);
	cr_assert_eq(swap_ctx_stats(ctx, &as), 1);
	cr_assert_eq(as.inuse_pages, 0, "%llu slots left", (unsigned long long)as.inuse_pages);
	swap_ctx_destroy(ctx);
}

/* ---- the budget and reclaim ----------------------------------------------------------------- */

/* Write @n stamped pages, checking the region's RAM never passes its limit, by our counters and
 * by the kernel's (mincore on the region, smaps on its swap cache). */
static void write_within_budget(struct swap_region *r, size_t n, uint64_t v)
{
	char *base = swap_region_addr(r);
	struct swap_region_stats st = region_stats(r);

	for (size_t i = 0; i < n; i++) {
		region_stamp(base, i, v);
		if (i % 64 == 63) {
			long cache = smaps_rss_pages("swap_region_cache");
			st = region_stats(r);
			cr_assert_leq(st.resident_pages + st.cached_pages, st.limit_pages,
				      "page %zu: %llu + %llu > %llu", i,
				      (unsigned long long)st.resident_pages,
				      (unsigned long long)st.cached_pages,
				      (unsigned long long)st.limit_pages);
			cr_assert_leq(mapped_pages(base, st.size_pages * RPAGE) +
					  (cache > 0 ? (size_t)cache : 0),
				      st.limit_pages + 1, "the kernel sees more than the limit");
		}
	}
}

Test(swap_region, holds_budget_with_reclaim_thread, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(2048, 128);
	struct swap_region *r = region_or_skip(&ctx, 4096, &o);
	struct swap_region_stats st;

	write_within_budget(r, 2048, 1);
	check_all(r, 2048, 1);
	check_all(r, 2048, 1);
	st = region_stats(r);
	cr_assert_gt(st.faults.major, 2048, "two passes over 16x the budget decompress");
	cr_assert_gt(st.reclaimed_pages, 2048);
	cr_assert_eq(st.io_errors, 0);
	cr_assert_leq(st.resident_pages + st.cached_pages, st.limit_pages);
	cr_assert_leq(st.resident_pages + st.cached_pages + st.swapped_pages, 2048);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, reclaim_thread_reclaims_to_low_watermark, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 128);
	struct swap_region *r;
	struct swap_region_stats st;

	o.resident_min = 64 * RPAGE;
	r = region_or_skip(&ctx, 2048, &o);
	cr_assert_eq(region_stats(r).resident_min_pages, 64);
	/* Up to resident_max nothing is reclaimed. */
	fill_all(r, 128, 1);
	cr_assert_eq(region_stats(r).reclaimed_pages, 0);
	/* One page past it wakes the reclaim thread, which goes down to resident_min. */
	region_stamp(swap_region_addr(r), 128, 1);
	for (int i = 0; i < 500; i++) {
		st = region_stats(r);
		if (st.resident_pages + st.cached_pages <= 64)
			break;
		usleep(10000);
	}
	cr_assert_leq(st.resident_pages + st.cached_pages, 64);
	cr_assert_geq(st.reclaimed_pages, 129 - 64);
	/* Below resident_max again: new pages do not wake it (the watermarks' hysteresis). */
	for (size_t i = 129; i < 139; i++)
		region_stamp(swap_region_addr(r), i, 1);
	usleep(50000);
	st = region_stats(r);
	cr_assert_gt(st.resident_pages + st.cached_pages, 64);
	check_all(r, 139, 1);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, direct_reclaim_alone_holds_budget, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(1024, 64);
	struct swap_region *r;
	struct swap_region_stats st;

	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 2048, &o);
	write_within_budget(r, 1024, 7);
	st = region_stats(r);
	cr_assert_gt(st.direct_reclaims, 0, "faults past the limit reclaimed");
	cr_assert_gt(st.cached_pages, 0, "evicted pages wait in the swap cache");
	check_all(r, 1024, 7);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, proactive_reclaim)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(256, 256);
	struct swap_region *r;
	struct swap_region_stats st;

	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 1024, &o);
	fill_all(r, 200, 3);
	cr_assert_eq(swap_region_reclaim(r, 0), 0);
	cr_assert_eq(swap_region_reclaim(r, 10 * RPAGE), 10 * (long)RPAGE);
	cr_assert_eq(swap_region_reclaim(r, 1), (long)RPAGE, "rounded up to a page");
	st = region_stats(r);
	cr_assert_eq(st.swapped_pages, 11);
	cr_assert_eq(st.resident_pages + st.cached_pages, 189);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), 189 * (long)RPAGE);
	st = region_stats(r);
	cr_assert_eq(st.resident_pages + st.cached_pages, 0);
	cr_assert_eq(st.swapped_pages, 200);
	cr_assert_eq(st.reclaimed_pages, 200);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), 0, "nothing left");
	cr_assert_eq(mapped_pages(swap_region_addr(r), 256 * RPAGE), 0);
	check_all(r, 200, 3);
	st = region_stats(r);
	cr_assert_eq(st.faults.major, 200);
	cr_assert_eq(st.major_latency.count, 200);
	cr_assert_gt(st.major_latency.p50, 0);
	cr_assert_gt(st.reclaim_cpu_ns, 0);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, reclaim_everything_after_a_scan_marked_it_all, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(2048, 2048);
	struct swap_region *r;
	struct swap_region_stats st;

	/* Written pages are all "referenced" once the write-tracking scan runs (it does after a
	 * quarter of them is evicted): reclaim must give them their second chance and go on. */
	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 8192, &o);
	fill_all(r, 2048, 4);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), 2048 * (long)RPAGE);
	st = region_stats(r);
	cr_assert_eq(st.resident_pages + st.cached_pages, 0);
	cr_assert_eq(st.swapped_pages, 2048);
	check_all(r, 2048, 4);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

/* Reclaim everything, read everything back, reclaim again: pages not written in between are
 * dropped without compressing; written ones are compressed again and read back as written. */
static void clean_reclaims(unsigned flags, bool expect_tracking)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(256, 256);
	struct swap_region *r;
	struct swap_region_stats st;
	char *base;

	o.flags = flags | SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 2048, &o);
	st = region_stats(r);
	if (expect_tracking && !(st.features & SWAP_REGION_F_WRITE_TRACKING))
		cr_skip_test("no PAGEMAP_SCAN with async write-protection (Linux 6.7)");
	cr_assert_eq(!!(st.features & SWAP_REGION_F_WRITE_TRACKING), expect_tracking);
	base = swap_region_addr(r);
	fill_all(r, 128, 1);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), 128 * (long)RPAGE);
	cr_assert_eq(region_stats(r).clean_reclaims, 0, "first time: all compressed");
	check_all(r, 128, 1);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), 128 * (long)RPAGE);
	st = region_stats(r);
	cr_assert_eq(st.clean_reclaims, 128, "read-only pages kept their swap copies");
	check_all(r, 128, 1);
	for (size_t i = 0; i < 128; i += 2)
		region_stamp(base, i, 2);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), 128 * (long)RPAGE);
	st = region_stats(r);
	cr_assert_eq(st.clean_reclaims, 128 + 64, "only the unwritten half was clean");
	for (size_t i = 0; i < 128; i++)
		cr_assert(region_check(base, i, i % 2 ? 1 : 2), "page %zu", i);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, clean_reclaims_with_write_tracking)
{
	clean_reclaims(0, true);
}

Test(swap_region, clean_reclaims_by_hash_alone)
{
	clean_reclaims(SWAP_REGION_NO_WRITE_TRACKING, false);
}

Test(swap_region, minor_faults_from_the_swap_cache)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 128);
	struct swap_region *r;
	struct swap_region_stats st;
	char *base;
	uint64_t minor;

	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 2048, &o);
	base = swap_region_addr(r);
	fill_all(r, 160, 5);
	st = region_stats(r);
	cr_assert_gt(st.cached_pages, 0);
	minor = st.faults.minor;
	/* Newest first: the resident pages, then the ones evicted last, still in the cache. */
	for (size_t i = 160; i-- > 0;)
		cr_assert(region_check(base, i, 5), "page %zu", i);
	st = region_stats(r);
	cr_assert_gt(st.faults.minor, minor,
		     "evicted pages still cached came back as minor faults");
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, refaults_are_protected, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 128);
	struct swap_region *r = region_or_skip(&ctx, 4096, &o);
	char *base = swap_region_addr(r);
	volatile char sink;

	/* A loop over 1.25 times the budget: every page comes back soon after it was evicted. */
	fill_all(r, 160, 1);
	for (int pass = 0; pass < 6; pass++)
		for (size_t i = 0; i < 160; i++)
			sink = base[i * RPAGE];
	(void)sink;
	cr_assert_gt(region_stats(r).refaults, 0);
	check_all(r, 160, 1);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

/* ---- prefault and system calls ----------------------------------------------------------- */

Test(swap_region, prefault)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(256, 128);
	struct swap_region *r;
	struct swap_region_stats st;
	char *base;

	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 1024, &o);
	base = swap_region_addr(r);
	cr_assert_eq(swap_region_prefault(r, base, 0), 0);
	cr_assert_eq(swap_region_prefault(r, base - RPAGE, RPAGE), -EINVAL);
	cr_assert_eq(swap_region_prefault(r, base + 255 * RPAGE, 2 * RPAGE), -EINVAL);
	cr_assert_eq(swap_region_prefault(r, base, 256 * RPAGE), -E2BIG, "more than resident_min");
	fill_all(r, 64, 9);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), 64 * (long)RPAGE);
	cr_assert_eq(mapped_pages(base, 64 * RPAGE), 0);
	/* Unaligned: every page the range touches, swapped ones and never-touched ones. */
	cr_assert_eq(swap_region_prefault(r, base + 10, 70 * RPAGE), 0);
	cr_assert_eq(mapped_pages(base, 71 * RPAGE), 71);
	st = region_stats(r);
	cr_assert_eq(st.faults.major, 64);
	cr_assert_eq(st.major_latency.count, 0, "no fault was taken");
	check_all(r, 64, 9);
	cr_assert_eq(region_stats(r).faults.major, 64, "the reads found every page resident");
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

/* read(2) from a pipe into evicted page @i: the bytes read, or -errno. */
static ssize_t read_into(char *base, size_t i, const char *msg)
{
	int p[2];
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], msg, strlen(msg)), (ssize_t)strlen(msg));
	n = read(p[0], base + i * RPAGE + 100, strlen(msg));
	if (n < 0)
		n = -errno;
	close(p[0]);
	close(p[1]);
	return n;
}

Test(swap_region, system_calls_under_user_mode_only)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(128, 64);
	struct swap_region *r;
	char *base;

	o.flags = SWAP_REGION_USER_MODE_ONLY | SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 1024, &o);
	cr_assert_eq(region_stats(r).features & SWAP_REGION_F_KERNEL_FAULTS, 0);
	base = swap_region_addr(r);
	region_stamp(base, 3, 1);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), (long)RPAGE);
	/* The kernel's own access to an evicted page is not served: EFAULT, nothing lost. */
	cr_assert_eq(read_into(base, 3, "hello"), -EFAULT);
	cr_assert_eq(read_into(base, 4, "hello"), -EFAULT, "never touched: missing as well");
	cr_assert_eq(swap_region_prefault(r, base + 3 * RPAGE, 2 * RPAGE), 0);
	cr_assert_eq(read_into(base, 3, "hello"), 5);
	cr_assert_eq(read_into(base, 4, "world"), 5);
	cr_assert_arr_eq(base + 3 * RPAGE + 100, "hello", 5);
	cr_assert_arr_eq(base + 4 * RPAGE + 100, "world", 5);
	cr_assert_eq(((uint64_t *)(base + 3 * RPAGE))[0], region_word(3, 1, 0), "the rest kept");
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, system_calls_served_with_kernel_faults)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(128, 64);
	struct swap_region *r;
	char *base, *copy = malloc(RPAGE);
	int p[2];

	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 1024, &o);
	if (!(region_stats(r).features & SWAP_REGION_F_KERNEL_FAULTS))
		cr_skip_test("only a user-mode-only userfaultfd is permitted here");
	base = swap_region_addr(r);
	region_stamp(base, 3, 1);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), (long)RPAGE);
	/* write(2) from an evicted page and read(2) into one: the kernel's faults are served. */
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], base + 3 * RPAGE, RPAGE), (ssize_t)RPAGE);
	cr_assert_eq(read(p[0], copy, RPAGE), (ssize_t)RPAGE);
	cr_assert(page_check(copy, 3, 1), "write(2) read the page's contents");
	close(p[0]);
	close(p[1]);
	free(copy);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), (long)RPAGE);
	cr_assert_eq(read_into(base, 3, "hello"), 5);
	cr_assert_arr_eq(base + 3 * RPAGE + 100, "hello", 5);
	cr_assert_eq(read_into(base, 9, "zero"), 4, "a never-touched page");
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

/* ---- privileges ------------------------------------------------------------------------- */

static int unprivileged_child(void *arg)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts ao = {.nr_pages = 2048};
	struct swap_region_opts o = region_opts(512, 64);
	struct swap_region_stats st;
	struct swap_region *r;
	char *base;

	(void)arg;
	if (!ctx || swap_on(ctx, &ao) < 0)
		return 2;
	/* nobody, as a service drops to; dumpable again so that /proc/self stays ours */
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return CHILD_SKIP;
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	r = swap_region_create(ctx, &o);
	if (!r)
		return errno == EPERM ? 3 : 4;
	swap_region_stats(r, &st);
	/* vm.unprivileged_userfaultfd = 0: only UFFD_USER_MODE_ONLY is left */
	if (read_sysctl_int("/proc/sys/vm/unprivileged_userfaultfd", 0) == 0 &&
	    (st.features & SWAP_REGION_F_KERNEL_FAULTS))
		return 5;
	base = swap_region_addr(r);
	fill_all(r, 512, 4);
	for (size_t i = 0; i < 512; i++)
		if (!region_check(base, i, 4))
			return 6;
	swap_region_stats(r, &st);
	if (!st.faults.major || st.resident_pages + st.cached_pages > st.limit_pages)
		return 7;
	if (swap_region_destroy(r))
		return 8;
	swap_ctx_destroy(ctx);
	return CHILD_OK;
}

Test(swap_region, unprivileged_process, .timeout = 60)
{
	int st;

	if (geteuid() != 0)
		cr_skip_test("not root: the suite itself runs unprivileged");
	st = run_in_child(unprivileged_child, NULL);
	if (st == CHILD_SKIP)
		cr_skip_test("could not drop privileges to nobody");
	cr_assert_eq(st, CHILD_OK, "child failed at step %d", st);
}

/* ---- the program's own madvise, munmap and fork ---------------------------------------- */

Test(swap_region, madvise_dontneed_discards)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 64);
	struct swap_region *r;
	struct swap_region_stats st;
	struct swap_area_stats as;
	char *base;

	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 2048, &o);
	base = swap_region_addr(r);
	fill_all(r, 512, 1);
	/* The first pages are swapped by now, the last ones resident, some in between cached. */
	st = region_stats(r);
	cr_assert_gt(st.swapped_pages, 0);
	cr_assert_eq(madvise(base + 100 * RPAGE, 412 * RPAGE, MADV_DONTNEED), 0);
	/* The pages read as zeros at once; the counters follow as the event is handled. */
	for (size_t i = 100; i < 512; i++)
		for (size_t b = 0; b < RPAGE; b += 256)
			cr_assert_eq(base[i * RPAGE + b], 0, "page %zu still has data", i);
	check_all(r, 100, 1);
	cr_assert_eq(madvise(base, 512 * RPAGE, MADV_DONTNEED), 0);
	for (size_t i = 0; i < 512; i++)
		cr_assert_eq(base[i * RPAGE + 8], 0);
	/* every swap copy went with the pages; the zero pages just read are all that is left */
	for (int i = 0; i < 500; i++) {
		st = region_stats(r);
		cr_assert_eq(swap_ctx_stats(ctx, &as), 1);
		if (!as.inuse_pages && !st.swapped_pages && !st.cached_pages)
			break;
		usleep(10000);
	}
	cr_assert_eq(as.inuse_pages, 0, "%llu slots left", (unsigned long long)as.inuse_pages);
	cr_assert_eq(st.swapped_pages + st.cached_pages, 0);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, munmap_part_of_the_region)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 64);
	struct swap_region *r;
	struct swap_area_stats as;
	char *base, *other;

	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = region_or_skip(&ctx, 2048, &o);
	base = swap_region_addr(r);
	fill_all(r, 512, 2);
	cr_assert_eq(munmap(base + 128 * RPAGE, 256 * RPAGE), 0);
	/* Someone else's mapping in the hole must survive the region's destroy. */
	other = mmap(base + 200 * RPAGE, RPAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	cr_assert_eq(other, base + 200 * RPAGE);
	other[0] = 42;
	for (size_t i = 0; i < 128; i++)
		cr_assert(region_check(base, i, 2), "page %zu", i);
	for (size_t i = 384; i < 512; i++)
		cr_assert(region_check(base, i, 2), "page %zu", i);
	cr_assert_eq(swap_region_destroy(r), 0);
	cr_assert_eq(other[0], 42);
	munmap(other, RPAGE);
	cr_assert_eq(swap_ctx_stats(ctx, &as), 1);
	cr_assert_eq(as.inuse_pages, 0);
	swap_ctx_destroy(ctx);
}

static char *fork_base;

static void child_segv(int sig)
{
	(void)sig;
	_exit(42);
}

static int fork_child(void *arg)
{
	volatile char c;

	(void)arg;
	signal(SIGSEGV, child_segv);
	c = fork_base[5 * RPAGE]; /* MADV_DONTFORK: no mapping here, never zeros */
	(void)c;
	return 1;
}

Test(swap_region, fork_child_has_no_region)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 64);
	struct swap_region *r = region_or_skip(&ctx, 2048, &o);

	fork_base = swap_region_addr(r);
	for (size_t i = 0; i < 512; i++)
		region_stamp(fork_base, i, 6);
	cr_assert_eq(run_in_child(fork_child, NULL), 42, "the child must see no region at all");
	check_all(r, 512, 6);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

/* ---- a lost swap copy ------------------------------------------------------------------ */

static sigjmp_buf bus_jump;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jump, 1);
}

Test(swap_region, lost_swap_copy_is_poisoned)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts ao = {.path = path, .nr_pages = 256};
	struct swap_region_opts o = region_opts(64, 32);
	struct swap_region *r;
	struct swap_region_stats st;
	char *base;
	int fd;

	cr_assert_geq(swap_on(ctx, &ao), 0);
	o.flags = SWAP_REGION_NO_RECLAIM_THREAD;
	r = swap_region_create(ctx, &o);
	if (!r)
		cr_skip_test("regions unavailable here: %s", swap_region_errmsg());
	base = swap_region_addr(r);
	fill_all(r, 8, 1);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX), 8 * (long)RPAGE);
	/* The swap file loses its pages behind the library's back. */
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, RPAGE), 0);
	close(fd);
	cr_assert_eq(swap_region_prefault(r, base, RPAGE), -EIO);
	st = region_stats(r);
	cr_assert_eq(st.io_errors, 1);
	cr_assert_eq(st.swapped_pages, 7);
	if (st.features & SWAP_REGION_F_POISON) {
		struct sigaction sa = {.sa_handler = on_sigbus}, old;
		volatile bool bus = false;
		sigaction(SIGBUS, &sa, &old);
		if (sigsetjmp(bus_jump, 1) == 0)
			(void)*(volatile char *)base;
		else
			bus = true;
		sigaction(SIGBUS, &old, NULL);
		cr_assert(bus, "a poisoned page raises SIGBUS, as a memory error would");
	} else {
		cr_assert_eq(*(volatile char *)base, 0,
			     "without UFFDIO_POISON the page reads as zeros");
	}
	/* A touch of another lost page, by a fault this time. */
	if (!(st.features & SWAP_REGION_F_POISON)) {
		cr_assert_eq(base[RPAGE], 0);
		cr_assert_eq(region_stats(r).io_errors, 2);
	}
	/* The program discarding the page clears the poison, as for any memory error. */
	cr_assert_eq(madvise(base, RPAGE, MADV_DONTNEED), 0);
	cr_assert_eq(base[0], 0);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
	free(path);
	rm_tree(dir);
}

/* ---- contexts, areas, swap_off ---------------------------------------------------------- */

Test(swap_region, several_regions_over_one_context, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(256, 32);
	struct swap_region *r[3];
	struct swap_area_stats as;

	r[0] = region_or_skip(&ctx, 4096, &o);
	for (int k = 1; k < 3; k++) {
		r[k] = swap_region_create(ctx, &o);
		cr_assert_not_null(r[k]);
	}
	for (size_t i = 0; i < 256; i++)
		for (int k = 0; k < 3; k++)
			region_stamp(swap_region_addr(r[k]), i, (uint64_t)k + 10);
	for (int k = 0; k < 3; k++) {
		check_all(r[k], 256, (uint64_t)k + 10);
		cr_assert_gt(region_stats(r[k]).swapped_pages, 0);
	}
	cr_assert_eq(swap_region_destroy(r[1]), 0);
	check_all(r[0], 256, 10);
	check_all(r[2], 256, 12);
	cr_assert_eq(swap_region_destroy(r[0]), 0);
	cr_assert_eq(swap_region_destroy(r[2]), 0);
	cr_assert_eq(swap_ctx_stats(ctx, &as), 1);
	cr_assert_eq(as.inuse_pages, 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, swap_off_moves_region_pages_to_another_area, .timeout = 60)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts fast = {.nr_pages = 2048, .priority = 10}, slow = {.nr_pages = 2048};
	struct swap_region_opts o = region_opts(512, 64);
	struct swap_region *r;
	struct swap_area_stats as;
	char page[RPAGE];
	swp_entry_t mine;
	int t_fast, t_slow;

	t_fast = swap_on(ctx, &fast);
	t_slow = swap_on(ctx, &slow);
	cr_assert_geq(t_slow, 0);
	r = swap_region_create(ctx, &o);
	if (!r)
		cr_skip_test("regions unavailable here: %s", swap_region_errmsg());
	fill_all(r, 512, 8);
	cr_assert_eq(swap_region_reclaim(r, SIZE_MAX) > 0, 1);
	cr_assert_eq(swap_area_stats(ctx, t_slow, &as), 0);
	cr_assert_eq(as.inuse_pages, 0, "everything went to the faster area");
	cr_assert_eq(swap_off(ctx, t_fast), 0, "swap_off brings the region's pages out");
	cr_assert_eq(swap_area_stats(ctx, t_slow, &as), 0);
	cr_assert_geq(as.inuse_pages, 400);
	check_all(r, 512, 8);
	/* An entry held by the program itself still keeps an area busy. */
	memset(page, 7, sizeof(page));
	mine = swap_out(ctx, page);
	cr_assert_neq(mine.val, 0);
	cr_assert_eq(swap_off(ctx, t_slow), -EBUSY);
	cr_assert_eq(swap_free(ctx, mine), 0);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, swap_off_of_the_only_area_brings_pages_home, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 64);
	struct swap_region *r = region_or_skip(&ctx, 2048, &o);
	struct swap_region_stats st;

	fill_all(r, 512, 11);
	cr_assert_gt(region_stats(r).swapped_pages, 0);
	cr_assert_eq(swap_off(ctx, 0), 0);
	st = region_stats(r);
	cr_assert_eq(st.swapped_pages, 0);
	cr_assert_eq(st.resident_pages + st.cached_pages, 512, "over budget: no swap space left");
	check_all(r, 512, 11);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, no_swap_space, .timeout = 60)
{
	struct swap_ctx *ctx;
	struct swap_region_opts o = region_opts(512, 32);
	struct swap_region *r = region_or_skip(&ctx, 65, &o);
	struct swap_region_stats st;

	/* 64 slots for 512 pages: reclaim runs out of room; the program still gets its memory. */
	fill_all(r, 512, 12);
	check_all(r, 512, 12);
	st = region_stats(r);
	cr_assert_leq(st.swapped_pages, 64);
	cr_assert_eq(st.io_errors, 0);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_region, over_a_swap_file, .timeout = 60)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts ao = {.path = path, .nr_pages = 2048};
	struct swap_region_opts o = region_opts(1024, 64);
	struct swap_region *r;

	cr_assert_geq(swap_on(ctx, &ao), 0);
	r = swap_region_create(ctx, &o);
	if (!r)
		cr_skip_test("regions unavailable here: %s", swap_region_errmsg());
	fill_all(r, 1024, 13);
	check_all(r, 1024, 13);
	cr_assert_gt(region_stats(r).faults.major, 0);
	cr_assert_eq(swap_region_destroy(r), 0);
	swap_ctx_destroy(ctx);
	free(path);
	rm_tree(dir);
}
