/*
 * libswap: the compressed-memory backend: same-filled pages, huge pages stored raw, lz4 and
 * zstd, memory limits falling through to the next area, corrupt data, zram-like statistics.
 */
#include "swap_test_util.h"

Test(swap_zram, same_filled_pages_take_no_memory)
{
	struct swap_ctx *ctx = ctx_with_memory(2048, NULL);
	struct swap_area_stats st;
	char page[PAGE], out[PAGE];
	swp_entry_t e[1000];

	for (int i = 0; i < 1000; i++) {
		tu_make_page(page, i % 2 ? TU_PAGE_ZERO : TU_PAGE_WORD, (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.same_pages, 1000);
	cr_assert_eq(st.orig_data_size, 1000ULL * PAGE);
	cr_assert_eq(st.compr_data_size, 0);
	cr_assert_eq(st.mem_used_total, 0, "no allocation for same-filled pages");
	for (int i = 0; i < 1000; i++) {
		tu_make_page(page, i % 2 ? TU_PAGE_ZERO : TU_PAGE_WORD, (uint64_t)i);
		memset(out, 0x5a, PAGE);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, page, PAGE, "page %d", i);
	}
	/* one byte off the pattern is not same-filled */
	tu_make_page(page, TU_PAGE_WORD, 5);
	page[PAGE - 1] ^= 1;
	e[0] = swap_out(ctx, page) /* slot of e[0] stays used too */;
	cr_assert_eq(area_stats(ctx, 0).same_pages, 1000);
	cr_assert_eq(swap_in(ctx, e[0], out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	for (int i = 1; i < 1000; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	cr_assert_eq(area_stats(ctx, 0).same_pages, 1, "e[0]'s old slot still holds one");
	swap_ctx_destroy(ctx);
}

Test(swap_zram, huge_pages_stored_raw)
{
	struct swap_ctx *ctx = ctx_with_memory(512, NULL);
	struct swap_area_stats st;
	char page[PAGE], out[PAGE];
	swp_entry_t e[100];

	for (int i = 0; i < 100; i++) {
		tu_make_page(page, TU_PAGE_RANDOM, (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.huge_pages, 100);
	cr_assert_eq(st.compr_data_size, 100ULL * PAGE, "raw pages count 4096 each");
	cr_assert_geq(st.mem_used_total, 100ULL * PAGE);
	for (int i = 0; i < 100; i++) {
		tu_make_page(page, TU_PAGE_RANDOM, (uint64_t)i);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, page, PAGE);
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.huge_pages, 0);
	cr_assert_eq(st.compr_data_size, 0);
	swap_ctx_destroy(ctx);
}

static void round_trip_all_kinds(const char *compressor)
{
	struct swap_ctx *ctx = ctx_with_memory(1024, compressor);
	struct swap_area_stats st;
	char page[PAGE], out[PAGE];
	swp_entry_t e[600];

	for (int i = 0; i < 600; i++) {
		tu_make_page(page, (enum tu_page_kind)(i % TU_PAGE_NR_KINDS), (uint64_t)i * 31);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.same_pages, 200);
	cr_assert_eq(st.huge_pages, 100);
	cr_assert_lt(st.compr_data_size, st.orig_data_size / 2, "%s compresses text and code",
		     compressor ? compressor : "lz4");
	for (int i = 0; i < 600; i++) {
		tu_make_page(page, (enum tu_page_kind)(i % TU_PAGE_NR_KINDS), (uint64_t)i * 31);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, page, PAGE, "page %d", i);
	}
	swap_ctx_destroy(ctx);
}

Test(swap_zram, lz4_all_kinds)
{
	round_trip_all_kinds(NULL);
}

Test(swap_zram, zstd_all_kinds)
{
	round_trip_all_kinds("zstd");
}

Test(swap_zram, zstd_level_all_kinds)
{
	round_trip_all_kinds("zstd:9");
}

Test(swap_zram, zstd_compresses_better_than_lz4)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts l = {.nr_pages = 256, .compressor = "lz4"};
	struct swap_area_opts z = {.nr_pages = 256, .compressor = "zstd:19"};
	char page[PAGE];

	cr_assert_eq(swap_on(ctx, &l), 0);
	cr_assert_eq(swap_on(ctx, &z), 1);
	for (int i = 0; i < 200; i++) {
		swp_entry_t a, b;
		tu_make_page(page, i % 2 ? TU_PAGE_TEXT : TU_PAGE_BIN, (uint64_t)i);
		a = swap_out(ctx, page);
		b = swap_out(ctx, page); /* equal priorities take turns: one in each */
		cr_assert_neq(swp_type(a), swp_type(b));
	}
	cr_assert_lt(area_stats(ctx, 1).compr_data_size, area_stats(ctx, 0).compr_data_size);
	swap_ctx_destroy(ctx);
}

static void corrupt_is_eio(const char *compressor)
{
	struct swap_ctx *ctx = ctx_with_memory(64, compressor);
	char page[PAGE], out[PAGE];
	swp_entry_t e, good, same, huge;

	tu_make_page(page, TU_PAGE_TEXT, 1);
	e = swap_out(ctx, page);
	good = swap_out(ctx, page);
	tu_make_page(page, TU_PAGE_ZERO, 0);
	same = swap_out(ctx, page);
	tu_make_page(page, TU_PAGE_RANDOM, 2);
	huge = swap_out(ctx, page);
	cr_assert_eq(swap_debug_corrupt(ctx, same), -EOPNOTSUPP);
	cr_assert_eq(swap_debug_corrupt(ctx, huge), -EOPNOTSUPP);
	cr_assert_eq(swap_debug_corrupt(ctx, e), 0);
	cr_assert_eq(swap_in(ctx, e, out), -EIO);
	cr_assert_eq(swap_in(ctx, e, out), -EIO, "still corrupt, still reported");
	cr_assert_eq(area_stats(ctx, 0).failed_reads, 2);
	/* the rest of the area is unaffected, and the corrupt slot can be freed */
	tu_make_page(page, TU_PAGE_TEXT, 1);
	cr_assert_eq(swap_in(ctx, good, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(swap_free(ctx, e), 0);
	e = swap_out(ctx, page);
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	swap_ctx_destroy(ctx);
}

Test(swap_zram, corrupt_lz4_is_eio)
{
	corrupt_is_eio(NULL);
}

Test(swap_zram, corrupt_zstd_is_eio)
{
	corrupt_is_eio("zstd");
}

Test(swap_zram, corrupt_file_area_rejected)
{
	char *dir = make_tmpdir(), path[4200];
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = 64};
	char page[PAGE] = "file";
	swp_entry_t e;

	snprintf(path, sizeof(path), "%s/f", dir);
	o.path = path;
	cr_assert_eq(swap_on(ctx, &o), 0);
	e = swap_out(ctx, page);
	cr_assert_eq(swap_debug_corrupt(ctx, e), -EINVAL, "not a memory area");
	swap_ctx_destroy(ctx);
	rm_tree(dir);
}

/* A memory area at its limit passes pages on to the next area; alone, it reports ENOSPC. */
Test(swap_zram, mem_limit_falls_through)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts front = {.nr_pages = 4096, .priority = 10, .mem_limit = 64 * PAGE};
	struct swap_area_opts back = {.nr_pages = 4096, .priority = 0};
	struct swap_area_stats st;
	char page[PAGE], out[PAGE];
	swp_entry_t e[200];
	int in_front = 0, in_back = 0;

	cr_assert_eq(swap_on(ctx, &front), 0);
	cr_assert_eq(swap_on(ctx, &back), 1);
	for (int i = 0; i < 200; i++) {
		tu_make_page(page, TU_PAGE_RANDOM, (uint64_t)i); /* 4096 bytes each in the pool */
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
		if (swp_type(e[i]) == 0)
			in_front++;
		else
			in_back++;
	}
	st = area_stats(ctx, 0);
	cr_assert_leq(st.mem_used_total, 64ULL * PAGE, "the limit holds");
	cr_assert_eq(st.mem_limit, 64ULL * PAGE);
	cr_assert_gt(in_front, 32);
	cr_assert_leq(in_front, 64);
	cr_assert_eq(in_front + in_back, 200);
	cr_assert_eq(st.inuse_pages, (uint64_t)in_front, "refused pages gave their slots back");
	for (int i = 0; i < 200; i++) {
		tu_make_page(page, TU_PAGE_RANDOM, (uint64_t)i);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, page, PAGE);
	}
	/* same-filled pages need no memory: the full area still takes them */
	tu_make_page(page, TU_PAGE_ZERO, 0);
	cr_assert_eq(swp_type(swap_out(ctx, page)), 0);
	/* alone at the limit: ENOSPC */
	for (int i = 0; i < 200; i++)
		if (swp_type(e[i]) == 1)
			cr_assert_eq(swap_free(ctx, e[i]), 0);
	cr_assert_eq(swap_off(ctx, 1), 0);
	tu_make_page(page, TU_PAGE_RANDOM, 999);
	errno = 0;
	cr_assert_eq(swap_out(ctx, page).val, 0);
	cr_assert_eq(errno, ENOSPC);
	swap_ctx_destroy(ctx);
}

/* orig / compr / mem_used follow the pages in and out. */
Test(swap_zram, mm_stat_accounting)
{
	struct swap_ctx *ctx = ctx_with_memory(4096, NULL);
	struct swap_area_stats st;
	char page[PAGE];
	swp_entry_t e[3000];
	uint64_t peak;

	for (int i = 0; i < 3000; i++) {
		tu_make_page(page, i % 3 ? TU_PAGE_TEXT : TU_PAGE_HEAP, (uint64_t)i);
		e[i] = swap_out(ctx, page);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.orig_data_size, 3000ULL * PAGE);
	cr_assert_gt(st.mem_used_total, 0);
	cr_assert_lt(st.mem_used_total, st.orig_data_size / 2);
	cr_assert_geq(st.mem_used_total + 64 * PAGE, st.compr_data_size, "little waste");
	peak = st.mem_used_max;
	cr_assert_geq(peak, st.mem_used_total);
	for (int i = 0; i < 3000; i++)
		swap_free(ctx, e[i]);
	st = area_stats(ctx, 0);
	cr_assert_eq(st.orig_data_size, 0);
	cr_assert_eq(st.compr_data_size, 0);
	cr_assert_eq(st.same_pages, 0);
	cr_assert_eq(st.huge_pages, 0);
	cr_assert_lt(st.mem_used_total, peak, "memory goes back to the pool");
	cr_assert_eq(st.mem_used_max, peak, "the maximum stays");
	swap_ctx_destroy(ctx);
}
