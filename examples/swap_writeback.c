/*
 * swap_writeback.c - the writeback tier: one tiered area, compressed memory in front of a swap
 * file.  More pages than the memory limit holds are swapped out; the oldest go to the file by
 * themselves and the newest stay in memory.  Then zram's proactive calls: mark what has been
 * idle, write it back, recompress what is left with zstd, and take the area off while its
 * entries drain.
 *
 * build: cc swap_writeback.c $(pkg-config --cflags --libs libswap)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zs/swap.h>

#define NR_PAGES 4096
#define LIMIT	 (512u << 10) /* 512 KiB of pool: about a third of the pages compressed */

/* Page @i: 64-byte text lines with its number, different for every page (about 4:1). */
static void fill_page(char *page, unsigned i)
{
	char line[65];

	for (int n = 0; n + 64 <= SWAP_PAGE_SIZE; n += 64) {
		memset(line, '.', sizeof(line)); /* the text is shorter than the line */
		snprintf(line, sizeof(line), "page %6u, line %3d: the quick brown fox jumps over",
			 i, n / 64);
		line[63] = '\n';
		memcpy(page + n, line, 64);
	}
}

static struct swap_area_stats stats(struct swap_ctx *ctx, int type)
{
	struct swap_area_stats st;

	swap_area_stats(ctx, type, &st);
	return st;
}

/* Read pages [from, to) back, check them; how many came from the file. */
static unsigned read_back(struct swap_ctx *ctx, int type, swp_entry_t *e, unsigned from,
			  unsigned to)
{
	char page[SWAP_PAGE_SIZE], want[SWAP_PAGE_SIZE];
	uint64_t before = stats(ctx, type).wb_reads;

	for (unsigned i = from; i < to; i++) {
		fill_page(want, i);
		int err = swap_in(ctx, e[i], page);

		if (err || memcmp(page, want, SWAP_PAGE_SIZE)) {
			fprintf(stderr, "page %u came back %s\n", i,
				err ? strerror(-err) : "with other bytes");
			exit(1);
		}
	}
	return (unsigned)(stats(ctx, type).wb_reads - before);
}

int main(void)
{
	char dir[] = "/tmp/swap-writeback-XXXXXX", path[64], page[SWAP_PAGE_SIZE];
	static swp_entry_t e[NR_PAGES];
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_stats st;
	int type;
	long n;

	if (!ctx || !mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/backing", dir);
	type = swap_on(
	    ctx, &(struct swap_area_opts){
		     .nr_pages = NR_PAGES + 1,
		     .mem_limit = LIMIT,
		     .backing_path = path,	   /* created and formatted as mkswap does */
		     .backing_pages = NR_PAGES + 1 /* file slots are taken at writeback only */
		 });
	if (type < 0) {
		fprintf(stderr, "swap_on: %s\n", strerror(-type));
		return 1;
	}
	for (unsigned i = 0; i < NR_PAGES; i++) {
		fill_page(page, i);
		e[i] = swap_out(ctx, page); /* never refused while the file has room */
		if (!e[i].val) {
			fprintf(stderr, "swap_out: %s\n", strerror(errno));
			return 1;
		}
	}
	usleep(100 * 1000); /* the area's writeback thread works in the background */
	st = stats(ctx, type);
	printf("%u pages swapped out: %llu KiB of pool (limit %u KiB), %llu pages in the file\n",
	       NR_PAGES, (unsigned long long)st.mem_used_total / 1024, LIMIT / 1024,
	       (unsigned long long)st.wb_pages);
	printf("newest 400 pages: %u read from the file\n",
	       read_back(ctx, type, e, NR_PAGES - 400, NR_PAGES));
	printf("oldest 400 pages: %u read from the file\n", read_back(ctx, type, e, 0, 400));

	/* Proactive: everything not touched since now is idle; write the idle pages back. */
	n = swap_mark_idle(ctx, type, 0);
	printf("idle entries: %ld\n", n);
	read_back(ctx, type, e, NR_PAGES - 100, NR_PAGES); /* touched again: not idle any more */
	n = swap_writeback(ctx, type, &(struct swap_writeback_opts){.flags = SWAP_WB_IDLE});
	printf("written back: %ld idle pages; %llu pages in memory now\n", n,
	       (unsigned long long)(stats(ctx, type).inuse_pages - stats(ctx, type).wb_pages));
	/* What stays in memory, stored smaller by a second compressor where that wins. */
	n = swap_recompress(ctx, type, &(struct swap_recompress_opts){.compressor = "zstd:9"});
	printf("recompressed with zstd:9: %ld pages\n", n);

	/* swap_off drains: -EBUSY while entries are held, and no new page goes to the area. */
	printf("swap_off with entries held: %s\n", strerror(-swap_off(ctx, type)));
	fill_page(page, 0);
	printf("swap_out into the draining area: %s\n",
	       swap_out(ctx, page).val ? "stored" : strerror(errno));
	read_back(ctx, type, e, 0, NR_PAGES);
	for (unsigned i = 0; i < NR_PAGES; i++)
		swap_free(ctx, e[i]);
	printf("swap_off once they are freed: %d\n", swap_off_wait(ctx, type, 1000));
	swap_ctx_destroy(ctx);
	unlink(path);
	rmdir(dir);
	return 0;
}
