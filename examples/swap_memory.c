/*
 * swap_memory.c - page out your own cold memory to a compressed memory area and back: a
 * program's 8 MiB working set, of which the cold 3/4 is swapped out (and its memory given back
 * to the OS), then faulted back in by hand when it is needed again.
 *
 * build: cc swap_memory.c $(pkg-config --cflags --libs libswap)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <zs/swap.h>

#define NR_PAGES 2048

/* Fill page @i with log-like text (compresses about 3:1); pages 3, 19, 35... are all zeroes. */
static void fill_page(char *page, unsigned i)
{
	int n = 0;

	memset(page, 0, SWAP_PAGE_SIZE);
	while (i % 16 != 3 && n < SWAP_PAGE_SIZE - 80)
		n += snprintf(page + n, 80, "page %u line %d: request %u served in %u us\n", i, n,
			      (i * 2654435761u + (unsigned)n) % 100000, (unsigned)n * 7 % 997);
}

int main(void)
{
	static char page[SWAP_PAGE_SIZE];
	swp_entry_t entries[NR_PAGES] = {0};
	struct swap_area_stats st;
	struct swap_ctx *ctx = swap_ctx_create();
	char *mem = mmap(NULL, (size_t)NR_PAGES * SWAP_PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!ctx || mem == MAP_FAILED) {
		perror("swap_ctx_create/mmap");
		return 1;
	}
	/* One lz4 memory area of 4096 slots (slot 0 is reserved). */
	int type = swap_on(ctx, &(struct swap_area_opts){.nr_pages = 4096, .compressor = "lz4"});
	if (type < 0) {
		fprintf(stderr, "swap_on: %s\n", strerror(-type));
		return 1;
	}
	for (unsigned i = 0; i < NR_PAGES; i++)
		fill_page(mem + (size_t)i * SWAP_PAGE_SIZE, i);

	/* Page out the cold pages (all but every 4th), then drop their memory. */
	for (unsigned i = 0; i < NR_PAGES; i++) {
		if (i % 4 == 0)
			continue;
		entries[i] = swap_out(ctx, mem + (size_t)i * SWAP_PAGE_SIZE);
		if (entries[i].val == 0) {
			perror("swap_out");
			return 1;
		}
		if (madvise(mem + (size_t)i * SWAP_PAGE_SIZE, SWAP_PAGE_SIZE, MADV_DONTNEED)) {
			perror("madvise");
			return 1;
		}
	}
	if (swap_area_stats(ctx, type, &st)) {
		fprintf(stderr, "swap_area_stats failed\n");
		return 1;
	}
	printf("swapped out %llu pages (%llu KiB): %llu KiB compressed, %llu KiB of pool memory, "
	       "%llu zero pages stored free\n",
	       (unsigned long long)st.inuse_pages, (unsigned long long)st.orig_data_size / 1024,
	       (unsigned long long)st.compr_data_size / 1024,
	       (unsigned long long)st.mem_used_total / 1024, (unsigned long long)st.same_pages);

	/* Share one entry, as fork() shares a swapped-out page: two references, one stored copy. */
	swp_entry_t shared = entries[1];
	if (swap_duplicate(ctx, shared) || swap_count(ctx, shared) != 2) {
		fprintf(stderr, "swap_duplicate failed\n");
		return 1;
	}
	printf("entry of page 1: area %u slot %llu, %d references\n", swp_type(shared),
	       (unsigned long long)swp_offset(shared), swap_count(ctx, shared));

	/* The cold pages are needed again: bring each back where it was and drop our reference. */
	for (unsigned i = 0; i < NR_PAGES; i++) {
		if (!entries[i].val)
			continue;
		int err = swap_in(ctx, entries[i], mem + (size_t)i * SWAP_PAGE_SIZE);
		if (err || swap_free(ctx, entries[i])) {
			fprintf(stderr, "swap_in of page %u: %s\n", i, strerror(-err));
			return 1;
		}
	}
	for (unsigned i = 0; i < NR_PAGES; i++) {
		fill_page(page, i);
		if (memcmp(page, mem + (size_t)i * SWAP_PAGE_SIZE, SWAP_PAGE_SIZE)) {
			fprintf(stderr, "page %u came back different\n", i);
			return 1;
		}
	}
	/* The shared entry still holds the other reference, so its page is still stored. */
	if (swap_in(ctx, shared, page) || swap_free(ctx, shared)) {
		fprintf(stderr, "second reference lost\n");
		return 1;
	}

	/* A damaged stored page is reported, never returned: corrupt one on purpose. */
	fill_page(page, 5);
	swp_entry_t e = swap_out(ctx, page);
	if (!e.val || swap_debug_corrupt(ctx, e) || swap_in(ctx, e, page) != -EIO ||
	    swap_free(ctx, e)) {
		fprintf(stderr, "corruption was not detected\n");
		return 1;
	}

	/* Everything is back: give the pool's pages to the OS and take the area off. */
	long freed = swap_compact(ctx, type);
	int err = swap_off(ctx, type);
	if (freed < 0 || err) {
		fprintf(stderr, "swap_compact/swap_off: %s\n",
			strerror(freed < 0 ? (int)-freed : -err));
		return 1;
	}
	printf("all %d pages verified; compaction freed %ld pool pages; area off\n", NR_PAGES,
	       freed);
	swap_ctx_destroy(ctx);
	munmap(mem, (size_t)NR_PAGES * SWAP_PAGE_SIZE);
	return 0;
}
