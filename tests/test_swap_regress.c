/*
 * test_swap_regress.c - regressions found in review: a swap_on that fails on memory must not
 * free what it never allocated; a rewrite that cannot be stored must leave the old page; swap
 * cache descriptors retired on another CPU than the one that allocates must not pile up.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "swap_test_util.h"

static void random_page(unsigned char *p, unsigned int *seed)
{
	for (int i = 0; i < 4096; i++)
		p[i] = (unsigned char)rand_r(seed);
}

Test(regress, swap_on_enomem_leaves_context_usable)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts big = {.nr_pages = 1ULL << 32}; /* 2^32 slots: 20 GiB of tables */
	struct swap_area_opts small = {.nr_pages = 1024};
	static unsigned char page[4096], back[4096];
	struct rlimit old, lim;

	cr_assert_not_null(ctx);
	/* Garbage where swap_on's small allocations will land, as a reused heap would have. */
	void *junk = malloc(8000);
	memset(junk, 0xab, 8000);
	free(junk);
	/* An address-space limit 1 GiB above what the process uses: the big area's tables cannot
	 * fit however much memory the host has or how it overcommits. */
	cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = tu_vm_bytes() + (1UL << 30);
	cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
	int ret = swap_on(ctx, &big);
	cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
	cr_assert_eq(ret, -ENOMEM);
	int type = swap_on(ctx, &small);
	cr_assert_geq(type, 0, "the context is still usable after the failed swap_on: %d", type);
	memset(page, 0x5c, 100);
	swp_entry_t e = swap_out(ctx, page);
	cr_assert_neq(e.val, 0);
	cr_assert_eq(swap_in(ctx, e, back), 0);
	cr_assert_eq(memcmp(page, back, sizeof(page)), 0);
	cr_assert_eq(swap_free(ctx, e), 0);
	swap_ctx_destroy(ctx);
}

Test(regress, failed_rewrite_keeps_the_old_page)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = 4096, .mem_limit = 64 * 4096};
	static unsigned char a[4096], b[4096], out[4096];
	unsigned int seed = 7;

	cr_assert_geq(swap_on(ctx, &o), 0);
	random_page(a, &seed);
	/* The lower layer: a claimed slot with one reference, written directly. */
	swp_entry_t e = swap_alloc_slot(ctx);
	cr_assert_neq(e.val, 0);
	cr_assert_eq(swap_duplicate(ctx, e), 0);
	cr_assert_eq(swap_writepage(ctx, e, a), 0);
	/* Fill the area's memory to its limit with incompressible pages. */
	int n = 0;
	for (;; n++) {
		random_page(b, &seed);
		if (!swap_out(ctx, b).val)
			break;
	}
	cr_assert_eq(errno, ENOSPC);
	cr_assert_gt(n, 0);
	random_page(b, &seed);
	cr_assert_eq(swap_writepage(ctx, e, b), -ENOSPC, "a rewrite past mem_limit fails");
	cr_assert_eq(swap_readpage(ctx, e, out), 0, "the slot still reads");
	cr_assert_eq(memcmp(out, a, sizeof(a)), 0, "and holds the page written before");
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), 1);
	swap_ctx_destroy(ctx);
}

static void run_on(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

Test(regress, cache_descriptors_do_not_pile_up_across_cpus, .timeout = 120)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = 1024};
	static char page[4096];
	struct swap_area_stats st;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("needs two CPUs");
	if (ZT_TSAN)
		cr_skip_test("ThreadSanitizer's shadow of every page touched counts in RSS");
	cr_assert_geq(swap_on(ctx, &o), 0);
	long before = (long)(tu_rss_bytes() / 1024);
	/* Add on CPU 0, delete on CPU 1: descriptors are allocated on one, retired on the other. */
	for (int i = 0; i < 60000; i++) {
		run_on(0);
		swp_entry_t e = swap_alloc_slot(ctx);
		cr_assert_neq(e.val, 0);
		cr_assert_eq(swap_cache_add(ctx, e, page, 0), 0);
		run_on(1);
		cr_assert_eq(swap_cache_delete(ctx, e), 0);
	}
	long grew = (long)(tu_rss_bytes() / 1024) - before;
	cr_assert_eq(swap_area_stats(ctx, 0, &st), 0);
	cr_assert_eq(st.inuse_pages, 0);
	cr_assert_eq(st.cache_pages, 0);
	/* 60000 descriptors of ~64 bytes each would be ~3.7 MiB if none were reused. */
	cr_assert_lt(grew, 1024, "RSS grew by %ld KiB for 60000 add/delete pairs", grew);
	swap_ctx_destroy(ctx);
}
