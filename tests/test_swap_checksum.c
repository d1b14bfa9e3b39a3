/*
 * The integrity option of file areas (SWAP_AREA_CHECKSUM): a page changed in the swap file
 * behind the library's back (a flipped bit, a stray write, the file truncated and grown again)
 * is -EIO from swap_in and swap_readpage, where without the option it comes back changed with
 * no error; the entry stays valid (freeable, rewritable); rewriting a slot updates its checksum;
 * the flag is refused where it has no meaning.
 */
#include "swap_test_util.h"

/* Flip bit @bit of the page of slot @off in the file at @path, as bit rot would. */
static void flip_bit(const char *path, uint64_t off, unsigned bit)
{
	int fd = open(path, O_RDWR);
	off_t at = (off_t)(off * PAGE + bit / 8);
	unsigned char b;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, at), 1);
	b ^= (unsigned char)(1u << (bit % 8));
	cr_assert_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static struct swap_ctx *ctx_with_file(const char *path, unsigned flags)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 128, .flags = flags};

	cr_assert_not_null(ctx);
	cr_assert_eq(swap_on(ctx, &o), 0);
	return ctx;
}

/* Pages of every kind, including zero and same-filled ones. */
static swp_entry_t out_page(struct swap_ctx *ctx, int i, char *page)
{
	swp_entry_t e;

	if (i % 4 == 3)
		tu_make_page(page, (enum tu_page_kind)(i % TU_PAGE_NR_KINDS), (uint64_t)i);
	else
		stamp_page(page, 1, (uint64_t)i);
	e = swap_out(ctx, page);
	cr_assert_neq(e.val, 0, "swap_out: %s", strerror(errno));
	return e;
}

Test(swap_checksum, flipped_bit_is_eio)
{
	enum { N = 64 };
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = ctx_with_file(path, SWAP_AREA_CHECKSUM);
	static char pages[N][PAGE];
	char out[PAGE];
	swp_entry_t e[N];
	uint64_t s = 42;

	for (int i = 0; i < N; i++)
		e[i] = out_page(ctx, i, pages[i]);
	/* one bit somewhere in each even page */
	for (int i = 0; i < N; i += 2) {
		unsigned bit = (unsigned)(tu_rand(&s) % (PAGE * 8));
		flip_bit(path, swp_offset(e[i]), bit);
		cr_assert_eq(swap_in(ctx, e[i], out), -EIO, "page %d, bit %u not detected", i, bit);
		cr_assert_eq(swap_count(ctx, e[i]), 1, "the entry stays valid");
		/* put back, the page reads again: the checksum is of the data, not of the slot */
		flip_bit(path, swp_offset(e[i]), bit);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, pages[i], PAGE);
		flip_bit(path, swp_offset(e[i]), bit);
	}
	for (int i = 0; i < N; i++) {
		int want = i % 2 ? 0 : -EIO;
		cr_assert_eq(swap_in(ctx, e[i], out), want, "page %d", i);
		if (!want)
			cr_assert_arr_eq(out, pages[i], PAGE);
	}
	cr_assert_eq(area_stats(ctx, 0).failed_reads, N / 2 + N / 2);

	/* the lower layer sees it too, and rewriting the slot heals it */
	cr_assert_eq(swap_cache_prepare(ctx, e[0]), 0);
	cr_assert_eq(swap_readpage(ctx, e[0], out), -EIO);
	cr_assert_eq(swap_writepage(ctx, e[0], pages[0]), 0);
	cr_assert_eq(swap_readpage(ctx, e[0], out), 0);
	cr_assert_eq(swap_cache_delete(ctx, e[0]), 0);
	cr_assert_eq(swap_in(ctx, e[0], out), 0);
	cr_assert_arr_eq(out, pages[0], PAGE);

	for (int i = 0; i < N; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

/* What the option is for: without it the flipped bit comes back as data, with no error. */
Test(swap_checksum, without_it_corruption_is_silent)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = ctx_with_file(path, 0);
	char page[PAGE], out[PAGE];
	swp_entry_t e = out_page(ctx, 0, page);
	int diff = 0;

	flip_bit(path, swp_offset(e), 1000);
	cr_assert_eq(swap_in(ctx, e, out), 0, "no error without SWAP_AREA_CHECKSUM");
	for (int i = 0; i < PAGE; i++)
		diff += __builtin_popcount((unsigned char)(out[i] ^ page[i]));
	cr_assert_eq(diff, 1, "the page came back with its flipped bit");
	cr_assert_eq(area_stats(ctx, 0).failed_reads, 0);
	cr_assert_eq(swap_free(ctx, e), 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

/* Truncated and grown back: zeros without the option, -EIO with it. */
Test(swap_checksum, zeroed_by_truncation_is_eio)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = ctx_with_file(path, SWAP_AREA_CHECKSUM);
	char page[PAGE], out[PAGE];
	swp_entry_t e[8];

	for (int i = 0; i < 8; i++)
		e[i] = out_page(ctx, i, page);
	cr_assert_eq(truncate(path, (off_t)(swp_offset(e[4]) * PAGE)), 0);
	cr_assert_eq(truncate(path, 128 * PAGE), 0);
	for (int i = 0; i < 8; i++) {
		int want = swp_offset(e[i]) >= swp_offset(e[4]) ? -EIO : 0;
		cr_assert_eq(swap_in(ctx, e[i], out), want, "page %d", i);
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	}
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

/* Rewritten slots, reused slots and many page kinds never give a false -EIO. */
Test(swap_checksum, reuse_and_rewrite_no_false_errors)
{
	enum { N = 100 };
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = ctx_with_file(path, SWAP_AREA_CHECKSUM);
	static char pages[N][PAGE];
	char out[PAGE];
	swp_entry_t e[N];

	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < N; i++)
			e[i] = out_page(ctx, i + round * N, pages[i]);
		for (int i = 0; i < N; i += 3) { /* rewrite a third through the lower layer */
			stamp_page(pages[i], 2, (uint64_t)(i + round * N));
			cr_assert_eq(swap_cache_prepare(ctx, e[i]), 0);
			cr_assert_eq(swap_writepage(ctx, e[i], pages[i]), 0);
			cr_assert_eq(swap_cache_delete(ctx, e[i]), 0);
		}
		for (int i = 0; i < N; i++) {
			cr_assert_eq(swap_in(ctx, e[i], out), 0, "round %d page %d", round, i);
			cr_assert_arr_eq(out, pages[i], PAGE);
			cr_assert_eq(swap_free(ctx, e[i]), 0);
		}
	}
	cr_assert_eq(area_stats(ctx, 0).failed_reads, 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

Test(swap_checksum, flag_validation)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts mem = {.nr_pages = 64, .flags = SWAP_AREA_CHECKSUM};
	struct swap_area_opts file = {.path = path, .nr_pages = 64, .flags = 0x80};

	cr_assert_eq(swap_on(ctx, &mem), -EINVAL, "memory areas have no checksum option");
	mem.flags = 0x2;
	cr_assert_eq(swap_on(ctx, &mem), -EINVAL, "unknown flag");
	cr_assert_eq(swap_on(ctx, &file), -EINVAL, "unknown flag");
	cr_assert_neq(access(path, F_OK), 0, "no file made for a refused call");
	file.flags = SWAP_AREA_CHECKSUM | 0x2;
	cr_assert_eq(swap_on(ctx, &file), -EINVAL);
	file.flags = SWAP_AREA_CHECKSUM;
	cr_assert_eq(swap_on(ctx, &file), 0);
	/* an existing file opened with the option: its old slots are unreadable anyway */
	cr_assert_eq(swap_off(ctx, 0), 0);
	file.nr_pages = 0;
	cr_assert_eq(swap_on(ctx, &file), 0);
	char page[PAGE], out[PAGE];
	swp_entry_t e = out_page(ctx, 1, page);
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(swap_free(ctx, e), 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}
