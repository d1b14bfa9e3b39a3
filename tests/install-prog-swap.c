/*
 * Built by tests/install-test.sh against the installed libswap, found only through pkg-config:
 * a memory area, a page out and back in, a shared reference, and the error a free slot gives;
 * then a region (installed header zs/region.h), where userfaultfd is permitted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zs/region.h>
#include <zs/swap.h>

/* A region over @ctx: a page written, reclaimed, read back; 1 if all went well or userfaultfd
 * is not permitted here. */
static int region_ok(struct swap_ctx *ctx)
{
	struct swap_region_opts o = {.size = 64 * SWAP_PAGE_SIZE,
				     .resident_max = SWAP_REGION_MIN_RESIDENT};
	struct swap_region *r = swap_region_create(ctx, &o);
	char *mem;
	int ok;

	if (!r) {
		printf("libswap region: skipped (%s)\n", swap_region_errmsg());
		return errno == EPERM || errno == ENOSYS;
	}
	mem = swap_region_addr(r);
	strcpy(mem, "installed region");
	ok = swap_region_reclaim(r, SWAP_PAGE_SIZE) == SWAP_PAGE_SIZE &&
	     strcmp(mem, "installed region") == 0;
	return swap_region_destroy(r) == 0 && ok;
}

int main(void)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts opts = {.nr_pages = 64, .compressor = "lz4"};
	char page[SWAP_PAGE_SIZE], back[SWAP_PAGE_SIZE];
	swp_entry_t e;
	int ok;

	for (int i = 0; i < SWAP_PAGE_SIZE; i++)
		page[i] = (char)("installed libswap "[i % 18]);
	ok = ctx && swap_on(ctx, &opts) == 0;
	e = ok ? swap_out(ctx, page) : (swp_entry_t){0};
	ok = ok && e.val && swp_type(e) == 0 && swp_offset(e) >= 1;
	ok = ok && swap_in(ctx, e, back) == 0 && memcmp(page, back, SWAP_PAGE_SIZE) == 0;
	ok = ok && swap_duplicate(ctx, e) == 0 && swap_count(ctx, e) == 2;
	ok = ok && swap_free(ctx, e) == 0 && swap_free(ctx, e) == 0;
	ok = ok && swap_count(ctx, e) == -EINVAL && region_ok(ctx) && swap_off(ctx, 0) == 0;
	swap_ctx_destroy(ctx);
	puts(ok ? "libswap: ok" : "libswap: FAIL");
	return !ok;
}
