/*
 * The debug build's invariant checks (make DEBUG=1): a state broken behind the library's back
 * makes the next public call on that part abort with "invariant broken", naming what broke; in
 * a normal build these tests skip.  The breakage is done through the internal headers, as only a
 * bug inside the library could do it.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../libswap/area.h"
#include "../libzs/zs_debug.h"
#include "swap_test_util.h"

struct broken {
	struct swap_ctx *ctx;
	swp_entry_t entry;
	void (*call)(struct broken *b);
};

static struct broken make_area(void)
{
	struct broken b = {0};
	char page[PAGE];

	b.ctx = ctx_with_memory(1024, NULL);
	tu_make_page(page, TU_PAGE_TEXT, 1);
	b.entry = swap_out(b.ctx, page);
	cr_assert_neq(b.entry.val, 0);
	return b;
}

static struct swap_info *area_of(struct broken *b)
{
	return b->ctx->swap_info[swp_type(b->entry)];
}

/* A slot's byte set without the cluster counting it: the next call on the cluster aborts. */
static void uncounted_slot(void *arg)
{
	struct broken *b = arg;
	struct swap_info *si = area_of(b);

	si->map.map[swp_offset(b->entry) + 1] = 1;
	swap_count(b->ctx, b->entry);
}

/* COUNT_CONTINUED without continuation digits. */
static void continued_without_digits(void *arg)
{
	struct broken *b = arg;
	struct swap_info *si = area_of(b);

	si->map.map[swp_offset(b->entry)] |= COUNT_CONTINUED;
	swap_duplicate(b->ctx, b->entry);
}

/* A cluster on the free list said to be on the full list. */
static void wrong_list(void *arg)
{
	struct broken *b = arg;
	struct swap_info *si = area_of(b);
	struct swap_clusters *c = &si->clusters;

	c->info[c->lists[CL_FREE].head].list = CL_FULL;
	struct swap_area_stats st;
	swap_area_stats(b->ctx, swp_type(b->entry), &st);
}

static void expect_abort(void (*fn)(void *), const char *needle)
{
	struct broken b;

	if (!ZS_DEBUG)
		cr_skip_test("the invariant checks are in the DEBUG=1 build only");
	b = make_area();
	cr_assert(tu_aborts_with(fn, &b, needle), "no abort with \"%s\"", needle);
	/* The parent's copy was never broken: it still works. */
	cr_assert_eq(swap_count(b.ctx, b.entry), 1);
	cr_assert_eq(swap_free(b.ctx, b.entry), 0);
	swap_ctx_destroy(b.ctx);
}

Test(swap_debug, uncounted_slot_aborts)
{
	expect_abort(uncounted_slot, "slots in use");
}

Test(swap_debug, continued_without_digits_aborts)
{
	expect_abort(continued_without_digits, "COUNT_CONTINUED without digits");
}

Test(swap_debug, cluster_on_wrong_list_aborts)
{
	expect_abort(wrong_list, "on list");
}
