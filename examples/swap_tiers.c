/*
 * swap_tiers.c - two tiers of swap, as a zram device in front of a swap file: a compressed
 * memory area with a memory limit at high priority, a swap file at low priority behind it.
 * Pages go to memory until its limit, then overflow to the file, then swap_out() says ENOSPC.
 *
 * build: cc swap_tiers.c $(pkg-config --cflags --libs libswap)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zs/swap.h>

#define NR_PAGES 2048

/* Page @i: random hex digits (they compress about 2:1), different for every page. */
static void fill_page(char *page, unsigned i)
{
	unsigned x = i * 2654435761u + 1;

	for (int n = 0; n < SWAP_PAGE_SIZE; n++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		page[n] = "0123456789abcdef"[x & 15];
	}
}

static void print_area(struct swap_ctx *ctx, int type)
{
	struct swap_area_stats st;

	if (swap_area_stats(ctx, type, &st) == 0)
		printf("  area %d (%s, priority %d): %llu of %llu slots used, %llu KiB of memory\n",
		       type, st.kind == SWAP_AREA_MEMORY ? st.compressor : "file", st.priority,
		       (unsigned long long)st.inuse_pages, (unsigned long long)st.usable_pages,
		       (unsigned long long)st.mem_used_total / 1024);
}

int main(void)
{
	static swp_entry_t entries[NR_PAGES];
	static char page[SWAP_PAGE_SIZE], back[SWAP_PAGE_SIZE];
	char dir[] = "/tmp/swap_tiers.XXXXXX", path[64];
	struct swap_ctx *ctx = swap_ctx_create();

	if (!ctx || !mkdtemp(dir)) {
		perror("swap_ctx_create/mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/tier2.swap", dir);

	/* Tier 1: compressed memory, at most 1 MiB of pool memory.  Tier 2: a 1024-slot swap
	 * file, created and formatted as mkswap would (the kernel's swapon accepts it). */
	struct swap_area_opts tier1 = {
	    .nr_pages = 8192, .priority = 10, .compressor = "zstd", .mem_limit = 1 << 20};
	struct swap_area_opts tier2 = {
	    .path = path, .nr_pages = 1024, .priority = 5, .label = "tier2"};
	int mem = swap_on(ctx, &tier1);
	int file = swap_on(ctx, &tier2);
	if (mem < 0 || file < 0) {
		fprintf(stderr, "swap_on: %s\n", strerror(mem < 0 ? -mem : -file));
		return 1;
	}

	/* Swap out until every tier is full. */
	int stored = 0, in_memory = 0;
	for (; stored < NR_PAGES; stored++) {
		fill_page(page, (unsigned)stored);
		entries[stored] = swap_out(ctx, page);
		if (entries[stored].val == 0)
			break;
		in_memory += swp_type(entries[stored]) == (unsigned)mem;
	}
	if (stored == NR_PAGES || errno != ENOSPC) {
		fprintf(stderr, "expected ENOSPC once both tiers were full: %s\n", strerror(errno));
		return 1;
	}
	printf("stored %d pages: %d in memory, %d in the file; then swap_out: %s\n", stored,
	       in_memory, stored - in_memory, strerror(errno));
	print_area(ctx, mem);
	print_area(ctx, file);

	struct swap_area_stats all;
	int nr_areas = swap_ctx_stats(ctx, &all);
	if (nr_areas < 0) {
		fprintf(stderr, "swap_ctx_stats: %s\n", strerror(-nr_areas));
		return 1;
	}
	printf("  total over %d areas: %llu pages out, %llu slots free\n", nr_areas,
	       (unsigned long long)all.swap_outs,
	       (unsigned long long)(all.usable_pages - all.inuse_pages));

	/* An area with live entries cannot be taken off: its pages would be lost. */
	if (swap_off(ctx, file) != -EBUSY) {
		fprintf(stderr, "swap_off of a busy area should fail\n");
		return 1;
	}

	/* Read every page back from whichever tier holds it, and free it. */
	for (int i = 0; i < stored; i++) {
		fill_page(page, (unsigned)i);
		int err = swap_in(ctx, entries[i], back);
		if (err || memcmp(page, back, SWAP_PAGE_SIZE) || swap_free(ctx, entries[i])) {
			fprintf(stderr, "page %d: %s\n", i,
				err ? strerror(-err) : "wrong contents");
			return 1;
		}
	}
	if (swap_off(ctx, file) || swap_off(ctx, mem)) {
		fprintf(stderr, "swap_off failed\n");
		return 1;
	}
	printf("all %d pages read back intact; both areas off\n", stored);
	swap_ctx_destroy(ctx);
	/* The swap file stays on disk after swap_off, as with the kernel: remove it. */
	if (unlink(path) || rmdir(dir)) {
		perror("unlink");
		return 1;
	}
	return 0;
}
