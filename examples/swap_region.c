/*
 * swap_region.c - a region: memory the program uses like any other, kept within a RAM budget by
 * libswap, which compresses its cold pages into a memory area and brings them back when they are
 * touched.  Writes 64 MiB of text into a region allowed 8 MiB of RAM, reads it all back, feeds
 * part of it to a system call (prefaulted first, as a user-mode-only userfaultfd needs),
 * reclaims the rest proactively, and prints the region's counters.  Where userfaultfd is not
 * permitted it says why and exits 0.
 *
 * build: cc swap_region.c $(pkg-config --cflags --libs libswap)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zs/region.h>

#define MIB	   (1024 * 1024)
#define REGION_MIB 64
#define BUDGET_MIB 8

/* Line @i of the data: text, so that it compresses as program data does. */
static int make_line(char *out, size_t len, size_t i)
{
	return snprintf(out, len, "record %08zu: the quick brown fox jumps over page %zu\n", i,
			i / 64);
}

int main(void)
{
	struct swap_ctx *ctx = swap_ctx_create();
	/* Room for every page compressed, with slack: pages that do not fit stay resident. */
	struct swap_area_opts area = {.nr_pages = 2 * REGION_MIB * MIB / SWAP_PAGE_SIZE};
	struct swap_region_opts opts = {.size = (size_t)REGION_MIB * MIB,
					.resident_max = (size_t)BUDGET_MIB * MIB};
	struct swap_region_stats st;
	struct swap_region *r;
	char *mem, line[128];
	size_t used = 0, n = 0;
	int p[2];

	if (!ctx || swap_on(ctx, &area) < 0) {
		fprintf(stderr, "swap_region: could not set up a memory area\n");
		return 1;
	}
	r = swap_region_create(ctx, &opts);
	if (!r) {
		/* EPERM: the kernel refuses userfaultfd here; ENOSYS: it has none (or too old). */
		printf("swap_region: skipped: %s\n", swap_region_errmsg());
		swap_ctx_destroy(ctx);
		return errno == EPERM || errno == ENOSYS ? 0 : 1;
	}
	mem = swap_region_addr(r);

	/* Plain stores: the first touch of each page is a zero page; past the budget, the
	 * coldest pages are compressed away as the writes go on. */
	while (used + sizeof(line) < opts.size) {
		int len = make_line(mem + used, opts.size - used, n++);
		used += (size_t)len;
	}
	/* Plain loads: evicted pages come back on their own. */
	for (size_t i = 0, at = 0; i < n; i++) {
		int len = make_line(line, sizeof(line), i);
		if (memcmp(mem + at, line, (size_t)len)) {
			fprintf(stderr, "swap_region: line %zu differs\n", i);
			return 1;
		}
		at += (size_t)len;
	}

	/* A system call reading region memory: prefault it first (needed where the userfaultfd
	 * is user-mode-only, harmless elsewhere). */
	if (swap_region_prefault(r, mem, 16 * SWAP_PAGE_SIZE) || pipe(p) ||
	    write(p[1], mem, 16 * SWAP_PAGE_SIZE) != 16 * SWAP_PAGE_SIZE) {
		fprintf(stderr, "swap_region: write(2) from the region failed\n");
		return 1;
	}
	close(p[0]);
	close(p[1]);

	/* Done with most of it for now: give its RAM back at once (like memory.reclaim). */
	long got = swap_region_reclaim(r, (size_t)BUDGET_MIB / 2 * MIB);

	if (swap_region_stats(r, &st)) {
		fprintf(stderr, "swap_region: no stats\n");
		return 1;
	}
	printf("swap_region: %zu lines in %d MiB with a %d MiB budget; %llu pages resident, %llu "
	       "in the swap cache, %llu compressed\n",
	       n, REGION_MIB, BUDGET_MIB, (unsigned long long)st.resident_pages,
	       (unsigned long long)st.cached_pages, (unsigned long long)st.swapped_pages);
	printf("swap_region: faults %llu major (p50 %.1f us) and %llu minor; %llu pages reclaimed "
	       "(%llu clean), %ld KiB just now\n",
	       (unsigned long long)st.faults.major, (double)st.major_latency.p50 / 1e3,
	       (unsigned long long)st.faults.minor, (unsigned long long)st.reclaimed_pages,
	       (unsigned long long)st.clean_reclaims, got / 1024);
	swap_region_destroy(r);
	swap_ctx_destroy(ctx);
	return 0;
}
