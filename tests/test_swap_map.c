/*
 * libswap: swap_map counts and count continuation (counts in the thousands and beyond), and
 * the SWAP_HAS_CACHE claim as the counts see it.
 */
#include <pthread.h>

#include "swap_test_util.h"

/* Up and down through every carry boundary of the continuation digits. */
Test(swap_map, continuation_up_and_down)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	const int top = 63 * 128 * 3 + 500; /* three carries into the second continuation level */
	char page[PAGE], out[PAGE];
	swp_entry_t e;

	tu_make_page(page, TU_PAGE_TEXT, 42);
	e = swap_out(ctx, page);
	cr_assert_neq(e.val, 0);
	for (int c = 1; c < top; c++) {
		cr_assert_eq(swap_duplicate(ctx, e), 0, "at count %d", c);
		/* check often near the boundaries, sometimes elsewhere */
		if (c % 63 < 2 || c % (63 * 128) < 2 || c % 997 == 0)
			cr_assert_eq(swap_count(ctx, e), c + 1, "after duplicate number %d", c);
	}
	cr_assert_eq(swap_count(ctx, e), top);
	cr_assert_eq(area_stats(ctx, 0).continued_slots, 1);
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	for (int c = top; c > 1; c--) {
		cr_assert_eq(swap_free(ctx, e), 0, "at count %d", c);
		if (c % 63 < 2 || c % (63 * 128) < 2 || c % 997 == 0)
			cr_assert_eq(swap_count(ctx, e), c - 1, "after free at %d", c);
	}
	cr_assert_eq(swap_count(ctx, e), 1);
	cr_assert_eq(area_stats(ctx, 0).continued_slots, 0, "continuation given up below 63");
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), -EINVAL);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
}

/* Exact values around the first carry: 62 fits the byte, 63 needs continuation. */
Test(swap_map, first_carry_exact)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE] = "x";
	swp_entry_t e = swap_out(ctx, page);

	for (int c = 1; c < SWAP_MAP_MAX; c++)
		cr_assert_eq(swap_duplicate(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), SWAP_MAP_MAX);
	cr_assert_eq(area_stats(ctx, 0).continued_slots, 0);
	cr_assert_eq(swap_duplicate(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), SWAP_MAP_MAX + 1);
	cr_assert_eq(area_stats(ctx, 0).continued_slots, 1);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), SWAP_MAP_MAX);
	cr_assert_eq(area_stats(ctx, 0).continued_slots, 0);
	swap_ctx_destroy(ctx);
}

/* Many slots of one cluster with large counts keep their own digits. */
Test(swap_map, neighbours_independent)
{
	struct swap_ctx *ctx = ctx_with_memory(600, NULL);
	char page[PAGE];
	swp_entry_t e[40];

	for (int i = 0; i < 40; i++) {
		tu_make_page(page, TU_PAGE_TEXT, (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
		for (int c = 0; c < i * 250; c++)
			cr_assert_eq(swap_duplicate(ctx, e[i]), 0);
	}
	for (int i = 0; i < 40; i++)
		cr_assert_eq(swap_count(ctx, e[i]), 1 + i * 250, "slot %d", i);
	/* 1 + i * 250 > SWAP_MAP_MAX for every i >= 1 */
	cr_assert_eq(area_stats(ctx, 0).continued_slots, 39);
	/* drop the odd ones to zero: their slots are freed, the even ones are unchanged */
	for (int i = 1; i < 40; i += 2) {
		for (int c = 0; c <= i * 250; c++)
			cr_assert_eq(swap_free(ctx, e[i]), 0);
		cr_assert_eq(swap_count(ctx, e[i]), -EINVAL);
	}
	for (int i = 0; i < 40; i += 2) {
		char out[PAGE];
		cr_assert_eq(swap_count(ctx, e[i]), 1 + i * 250, "slot %d", i);
		tu_make_page(page, TU_PAGE_TEXT, (uint64_t)i);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, page, PAGE);
	}
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 20);
	swap_ctx_destroy(ctx);
}

/* Counts change atomically under concurrent duplicate / free from several threads. */
struct dup_arg {
	struct swap_ctx *ctx;
	swp_entry_t e;
	int n;
	int fails;
};

static void *dup_then_free(void *p)
{
	struct dup_arg *a = p;
	for (int i = 0; i < a->n; i++)
		a->fails += swap_duplicate(a->ctx, a->e) != 0;
	for (int i = 0; i < a->n; i++)
		a->fails += swap_free(a->ctx, a->e) != 0;
	return NULL;
}

Test(swap_map, concurrent_duplicate_free)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE] = "shared";
	swp_entry_t e = swap_out(ctx, page);
	struct dup_arg a[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		a[i] = (struct dup_arg){ctx, e, 20000, 0};
		pthread_create(&t[i], NULL, dup_then_free, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(a[i].fails, 0);
	}
	cr_assert_eq(swap_count(ctx, e), 1);
	cr_assert_eq(area_stats(ctx, 0).continued_slots, 0);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
}

/* SWAP_HAS_CACHE: a claimed slot with no reference counts 0 and is still in use. */
Test(swap_map, cache_claim_and_counts)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE] = "claimed";
	swp_entry_t e = swap_alloc_slot(ctx);

	cr_assert_neq(e.val, 0);
	cr_assert_eq(swap_count(ctx, e), 0, "only the swap cache holds it");
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 1);
	cr_assert_eq(swap_free(ctx, e), -EINVAL, "no reference to drop");
	cr_assert_eq(swap_in(ctx, e, page), -EINVAL, "swap_in needs a reference");
	cr_assert_eq(swap_cache_prepare(ctx, e), -EINVAL, "prepare needs a reference");
	cr_assert_eq(swap_duplicate(ctx, e), 0, "the first reference, as unmap adds it");
	cr_assert_eq(swap_count(ctx, e), 1);
	cr_assert_eq(swap_cache_prepare(ctx, e), -EEXIST, "the claim is already held");
	cr_assert_eq(swap_writepage(ctx, e, page), 0);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	cr_assert_eq(swap_cache_delete(ctx, e), -EINVAL, "no claim any more");
	cr_assert_eq(swap_writepage(ctx, e, page), -EINVAL, "writing needs the claim");
	cr_assert_eq(swap_readpage(ctx, e, page), -EINVAL, "reading needs the claim");
	cr_assert_eq(swap_count(ctx, e), 1);
	/* the reference holder reads what was written */
	{
		char out[PAGE];
		cr_assert_eq(swap_in(ctx, e, out), 0);
		cr_assert_arr_eq(out, page, PAGE);
	}
	/* a claim outliving the last reference frees the slot when it is dropped */
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), 0);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 1);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), -EINVAL);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	cr_assert_eq(area_stats(ctx, 0).orig_data_size, 0, "its page was freed with it");
	/* an abandoned allocation is given back by deleting the claim */
	e = swap_alloc_slot(ctx);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
}
