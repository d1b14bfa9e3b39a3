/*
 * swap_lowlevel.c - the steps swap_out() and swap_in() are made of, for a caller that manages
 * its own pages (a VM monitor, a custom pager): allocate a slot holding the swap-cache claim,
 * put the page in the swap cache while it is written, and read it back under a locked cache
 * page that another thread waits on, as the kernel's swap-in path does.
 *
 * build: cc swap_lowlevel.c $(pkg-config --cflags --libs libswap) -lpthread
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <zs/swap.h>

static struct swap_ctx *ctx;
static char page[SWAP_PAGE_SIZE], readbuf[SWAP_PAGE_SIZE];

#define CHECK(call)                                                                                \
	do {                                                                                       \
		int err_ = (call);                                                                 \
		if (err_ < 0) {                                                                    \
			fprintf(stderr, "%s: %s\n", #call, strerror(-err_));                       \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

/* A second thread faulting on the same entry: it finds the page in the swap cache and waits
 * until the reader has filled it, instead of reading the backend a second time. */
static void *second_fault(void *arg)
{
	swp_entry_t e = *(swp_entry_t *)arg;
	struct swap_cache_page *cp = swap_cache_lookup(ctx, e);

	if (!cp) {
		perror("swap_cache_lookup");
		return (void *)1;
	}
	int same = memcmp(swap_cache_page_data(cp), page, SWAP_PAGE_SIZE) == 0;
	swap_cache_put(ctx, cp);
	return same ? NULL : (void *)1;
}

int main(void)
{
	ctx = swap_ctx_create();
	if (!ctx) {
		perror("swap_ctx_create");
		return 1;
	}
	CHECK(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 1024}));
	for (int i = 0; i < SWAP_PAGE_SIZE; i++)
		page[i] = (char)("swap cache "[i % 11] + i / 512);

	/* Swap-out.  1: a slot whose only holder is our swap-cache claim (count 0). */
	swp_entry_t e = swap_alloc_slot(ctx);
	if (!e.val) {
		perror("swap_alloc_slot");
		return 1;
	}
	/* 2: the page goes into the swap cache first, so that anyone who meets the entry while
	 * it is being written gets these bytes; 3: one reference for our "page table". */
	CHECK(swap_cache_add(ctx, e, page, 0));
	CHECK(swap_duplicate(ctx, e));
	/* 4: write it to the backend (here lz4 into the area's pool). */
	CHECK(swap_writepage(ctx, e, page));
	/* 5: written: leave the swap cache; the slot lives on with its one reference. */
	CHECK(swap_cache_delete(ctx, e));
	printf("swapped out to area %u slot %llu, references: %d\n", swp_type(e),
	       (unsigned long long)swp_offset(e), swap_count(ctx, e));

	/* Swap-in.  1: take the claim; -EEXIST would mean another thread is reading it in, and
	 * we would swap_cache_lookup() its page instead. */
	CHECK(swap_cache_prepare(ctx, e));
	/* 2: an empty, locked cache page: lookups from now on wait for it to be filled. */
	CHECK(swap_cache_add(ctx, e, readbuf, SWAP_CACHE_LOCKED));
	pthread_t t;
	void *bad;
	if (pthread_create(&t, NULL, second_fault, &e)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	/* 3: read (decompress) the page once, then unlock: waiters wake up with it, or with the
	 * error if the read failed. */
	int err = swap_readpage(ctx, e, readbuf);
	CHECK(swap_cache_unlock(ctx, e, err));
	CHECK(err);
	if (pthread_join(t, &bad) || bad) {
		fprintf(stderr, "the second fault did not get the page\n");
		return 1;
	}
	/* 4: done with the cache page; then drop our reference, which frees the slot. */
	CHECK(swap_cache_delete(ctx, e));
	CHECK(swap_free(ctx, e));
	if (memcmp(readbuf, page, SWAP_PAGE_SIZE) || swap_count(ctx, e) != -EINVAL) {
		fprintf(stderr, "wrong page, or the slot is still in use\n");
		return 1;
	}

	/* The same slot seen from the other side: an entry made by hand from type and offset. */
	swp_entry_t again = swp_entry(swp_type(e), swp_offset(e));
	printf("read back intact by two threads; slot %llu is free again (swap_count: %s)\n",
	       (unsigned long long)swp_offset(again), strerror(-swap_count(ctx, again)));
	swap_ctx_destroy(ctx);
	return 0;
}
