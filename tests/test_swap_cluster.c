/*
 * libswap: the cluster allocator (consecutive slots per CPU, different clusters on different
 * CPUs, list movements, slots left in other CPUs' clusters), priorities and round-robin.
 */
#include <pthread.h>

#include "swap_test_util.h"

static int first_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return 0;
}

Test(swap_cluster, consecutive_on_one_cpu)
{
	struct swap_ctx *ctx = ctx_with_memory(2048, NULL);
	char page[PAGE];
	swp_entry_t e[600];

	cr_assert(pin_to_cpu(first_cpu()));
	for (int i = 0; i < 600; i++) {
		tu_make_page(page, TU_PAGE_TEXT, (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	cr_assert_eq(swp_offset(e[0]), 1, "a fresh area starts right after the header slot");
	for (int i = 1; i < 600; i++)
		cr_assert_eq(swp_offset(e[i]), swp_offset(e[i - 1]) + 1,
			     "swap-outs on one CPU take consecutive slots (%d: %llu after %llu)", i,
			     (unsigned long long)swp_offset(e[i]),
			     (unsigned long long)swp_offset(e[i - 1]));
	swap_ctx_destroy(ctx);
}

struct pinned_arg {
	struct swap_ctx *ctx;
	int cpu, n, seed;
	swp_entry_t e[400];
	bool pinned;
	pthread_barrier_t *bar;
};

static void *pinned_swap_out(void *p)
{
	struct pinned_arg *a = p;
	char page[PAGE];

	a->pinned = pin_to_cpu(a->cpu);
	if (a->bar)
		pthread_barrier_wait(a->bar);
	for (int i = 0; i < a->n; i++) {
		tu_make_page(page, TU_PAGE_BIN, (uint64_t)(a->seed * 1000 + i));
		a->e[i] = swap_out(a->ctx, page);
	}
	return NULL;
}

static void run_pinned(struct pinned_arg *a)
{
	pthread_t t;
	pthread_create(&t, NULL, pinned_swap_out, a);
	pthread_join(t, NULL);
}

Test(swap_cluster, per_cpu_clusters)
{
	struct swap_ctx *ctx = ctx_with_memory(4096, NULL);
	struct pinned_arg *a0 = calloc(1, sizeof(*a0)), *a1 = calloc(1, sizeof(*a1));
	struct pinned_arg *a2 = calloc(1, sizeof(*a2));

	if (nr_usable_cpus() < 2 || !pin_to_cpu(0) || !pin_to_cpu(1))
		cr_skip_test("needs CPUs 0 and 1 (have %d usable CPUs)", nr_usable_cpus());
	*a0 = (struct pinned_arg){.ctx = ctx, .cpu = 0, .n = 10, .seed = 0};
	*a1 = (struct pinned_arg){.ctx = ctx, .cpu = 1, .n = 10, .seed = 1};
	*a2 = (struct pinned_arg){.ctx = ctx, .cpu = 0, .n = 10, .seed = 2};
	run_pinned(a0);
	run_pinned(a1);
	run_pinned(a2); /* CPU 0 again, after CPU 1 allocated */
	cr_assert(a0->pinned && a1->pinned && a2->pinned);
	for (int i = 1; i < 10; i++) {
		cr_assert_eq(swp_offset(a0->e[i]), swp_offset(a0->e[i - 1]) + 1);
		cr_assert_eq(swp_offset(a1->e[i]), swp_offset(a1->e[i - 1]) + 1);
		cr_assert_eq(swp_offset(a2->e[i]), swp_offset(a2->e[i - 1]) + 1);
	}
	cr_assert_eq(swp_offset(a2->e[0]), swp_offset(a0->e[9]) + 1,
		     "CPU 0 carries on in its own cluster after CPU 1's swap-outs");
	cr_assert_neq(swp_offset(a0->e[0]) / SWAPFILE_CLUSTER,
		      swp_offset(a1->e[0]) / SWAPFILE_CLUSTER,
		      "CPUs 0 and 1 use different clusters");
	cr_assert_eq(area_stats(ctx, 0).percpu_clusters, 2);
	swap_ctx_destroy(ctx);
	free(a0);
	free(a1);
	free(a2);
}

Test(swap_cluster, per_cpu_clusters_concurrent)
{
	struct swap_ctx *ctx = ctx_with_memory(8192, NULL);
	struct pinned_arg *a = calloc(2, sizeof(*a));
	pthread_barrier_t bar;
	pthread_t t[2];
	char page[PAGE], out[PAGE];

	if (nr_usable_cpus() < 2 || !pin_to_cpu(0) || !pin_to_cpu(1))
		cr_skip_test("needs CPUs 0 and 1 (have %d usable CPUs)", nr_usable_cpus());
	pthread_barrier_init(&bar, NULL, 2);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct pinned_arg){
		    .ctx = ctx, .cpu = i, .n = 400, .seed = 10 + i, .bar = &bar};
		pthread_create(&t[i], NULL, pinned_swap_out, &a[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int c = 0; c < 2; c++) {
		cr_assert(a[c].pinned);
		for (int i = 0; i < 400; i++) {
			cr_assert_neq(a[c].e[i].val, 0);
			if (i)
				cr_assert_gt(swp_offset(a[c].e[i]), swp_offset(a[c].e[i - 1]));
			/* within a cluster, strictly consecutive */
			if (i && swp_offset(a[c].e[i]) / SWAPFILE_CLUSTER ==
				     swp_offset(a[c].e[i - 1]) / SWAPFILE_CLUSTER)
				cr_assert_eq(swp_offset(a[c].e[i]), swp_offset(a[c].e[i - 1]) + 1);
			tu_make_page(page, TU_PAGE_BIN, (uint64_t)(a[c].seed * 1000 + i));
			cr_assert_eq(swap_in(ctx, a[c].e[i], out), 0);
			cr_assert_arr_eq(out, page, PAGE);
		}
	}
	/* no cluster holds slots of both CPUs */
	for (int i = 0; i < 400; i++)
		for (int j = 0; j < 400; j++)
			cr_assert_neq(swp_offset(a[0].e[i]) / SWAPFILE_CLUSTER,
				      swp_offset(a[1].e[j]) / SWAPFILE_CLUSTER);
	pthread_barrier_destroy(&bar);
	swap_ctx_destroy(ctx);
	free(a);
}

Test(swap_cluster, list_movements)
{
	struct swap_ctx *ctx = ctx_with_memory(4 * SWAPFILE_CLUSTER, NULL);
	struct swap_area_stats st;
	char page[PAGE] = "list";
	swp_entry_t e[1023], x;

	cr_assert(pin_to_cpu(first_cpu()));
	st = area_stats(ctx, 0);
	/* no slot in use anywhere: cluster 0's header slot is not a page */
	cr_assert_eq(st.free_clusters, 4);
	cr_assert_eq(st.nonfull_clusters, 0);
	for (int i = 0; i < 1023; i++) {
		e[i] = swap_out(ctx, page);
		cr_assert_eq(swp_offset(e[i]), (uint64_t)i + 1);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.full_clusters, 3);
	cr_assert_eq(st.percpu_clusters, 1, "the last one is still the CPU's");
	cr_assert_eq(st.free_clusters + st.nonfull_clusters, 0);
	cr_assert_eq(swap_out(ctx, page).val, 0);
	st = area_stats(ctx, 0);
	cr_assert_eq(st.full_clusters, 4, "given back full");
	cr_assert_eq(st.percpu_clusters, 0);
	/* empty cluster 2 completely, and one slot of cluster 1 */
	for (int i = 511; i < 767; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	cr_assert_eq(swap_free(ctx, e[299]), 0); /* offset 300 */
	st = area_stats(ctx, 0);
	cr_assert_eq(st.free_clusters, 1);
	cr_assert_eq(st.nonfull_clusters, 1);
	cr_assert_eq(st.full_clusters, 2);
	/* partly used clusters are used up first, then free ones */
	x = swap_out(ctx, page);
	cr_assert_eq(swp_offset(x), 300);
	x = swap_out(ctx, page);
	cr_assert_eq(swp_offset(x), 512);
	st = area_stats(ctx, 0);
	cr_assert_eq(st.full_clusters, 3);
	cr_assert_eq(st.percpu_clusters, 1);
	cr_assert_eq(st.inuse_pages, 1023 - 256 + 1);
	swap_ctx_destroy(ctx);
}

/* Free slots left in another CPU's current cluster are still found when all else is full. */
Test(swap_cluster, slots_in_other_cpus_cluster)
{
	struct swap_ctx *ctx = ctx_with_memory(2 * SWAPFILE_CLUSTER, NULL);
	struct pinned_arg *a = calloc(2, sizeof(*a));

	if (nr_usable_cpus() < 2 || !pin_to_cpu(0) || !pin_to_cpu(1))
		cr_skip_test("needs CPUs 0 and 1 (have %d usable CPUs)", nr_usable_cpus());
	a[0] = (struct pinned_arg){.ctx = ctx, .cpu = 0, .n = 1, .seed = 1};
	run_pinned(&a[0]); /* CPU 0 owns cluster 0 and took one slot */
	a[1] = (struct pinned_arg){.ctx = ctx, .cpu = 1, .n = 400, .seed = 2};
	run_pinned(&a[1]);
	cr_assert_neq(a[0].e[0].val, 0);
	/* 511 usable slots: CPU 1 gets all the other 510, including 254 from CPU 0's cluster */
	for (int i = 0; i < 400; i++)
		cr_assert_neq(a[1].e[i].val, 0, "allocation %d", i);
	a[1] = (struct pinned_arg){.ctx = ctx, .cpu = 1, .n = 111, .seed = 3};
	run_pinned(&a[1]);
	for (int i = 0; i < 110; i++)
		cr_assert_neq(a[1].e[i].val, 0, "allocation %d", 400 + i);
	cr_assert_eq(a[1].e[110].val, 0, "then the area is full");
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 511);
	swap_ctx_destroy(ctx);
	free(a);
}

Test(swap_cluster, priorities_and_round_robin)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts a = {.nr_pages = 64, .priority = 5};
	struct swap_area_opts c = {.nr_pages = 20, .priority = 10};
	struct swap_area_opts d = {.nr_pages = 64, .priority = -1};
	char page[PAGE] = "prio";
	swp_entry_t e[19], x;
	int tA, tB, tC, tD, na = 0, nb = 0, last = -1;

	tD = swap_on(ctx, &d);
	tA = swap_on(ctx, &a);
	tC = swap_on(ctx, &c);
	tB = swap_on(ctx, &a);
	cr_assert(tA >= 0 && tB >= 0 && tC >= 0 && tD >= 0);
	/* highest priority first, until it is full */
	for (int i = 0; i < 19; i++) {
		e[i] = swap_out(ctx, page);
		cr_assert_eq((int)swp_type(e[i]), tC, "page %d", i);
	}
	/* then the two equal areas take turns */
	for (int i = 0; i < 126; i++) {
		int t;
		x = swap_out(ctx, page);
		t = (int)swp_type(x);
		cr_assert(t == tA || t == tB, "page %d went to %d", i, t);
		cr_assert_neq(t, last, "equal priorities alternate (page %d)", i);
		last = t;
		na += t == tA;
		nb += t == tB;
	}
	cr_assert_eq(na, 63);
	cr_assert_eq(nb, 63);
	/* the lowest priority area gets what no one else can take */
	x = swap_out(ctx, page);
	cr_assert_eq((int)swp_type(x), tD);
	/* a slot freed in the top area is used again first */
	cr_assert_eq(swap_free(ctx, e[4]), 0);
	x = swap_out(ctx, page);
	cr_assert_eq((int)swp_type(x), tC);
	cr_assert_eq(swp_offset(x), swp_offset(e[4]));
	/* the lower layer allocates in the same order */
	x = swap_alloc_slot(ctx);
	cr_assert_eq((int)swp_type(x), tD);
	cr_assert_eq(swap_cache_delete(ctx, x), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_cluster, round_robin_balances_three)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts a = {.nr_pages = 1024, .priority = 3};
	char page[PAGE] = "rr";
	int n[3] = {0};

	for (int i = 0; i < 3; i++)
		cr_assert_eq(swap_on(ctx, &a), i);
	for (int i = 0; i < 300; i++) {
		swp_entry_t x = swap_out(ctx, page);
		cr_assert_neq(x.val, 0);
		n[swp_type(x)]++;
	}
	cr_assert_eq(n[0], 100);
	cr_assert_eq(n[1], 100);
	cr_assert_eq(n[2], 100);
	swap_ctx_destroy(ctx);
}
