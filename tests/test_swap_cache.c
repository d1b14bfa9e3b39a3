/*
 * libswap: the swap cache and the lower layer (slot allocation with SWAP_HAS_CACHE, add /
 * lookup / put / unlock / delete, backend read and write), and the races the swap cache
 * resolves: many threads swapping in one entry decompress it once; a swap-in racing a swap-out
 * gets the page being written.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "swap_test_util.h"

Test(swap_cache, lower_layer_swap_out)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE], out[PAGE];
	struct swap_cache_page *cp;
	swp_entry_t e;

	tu_make_page(page, TU_PAGE_TEXT, 3);
	e = swap_alloc_slot(ctx);
	cr_assert_neq(e.val, 0);
	cr_assert_eq(swap_cache_add(ctx, e, page, 0), 0);
	cr_assert_eq(area_stats(ctx, 0).cache_pages, 1);
	cp = swap_cache_lookup(ctx, e);
	cr_assert_not_null(cp);
	cr_assert_eq(swap_cache_page_data(cp), page, "the caller's page, not a copy");
	swap_cache_put(ctx, cp);
	cr_assert_eq(swap_cache_add(ctx, e, page, 0), -EEXIST);
	cr_assert_eq(swap_cache_unlock(ctx, e, 0), -EINVAL, "not locked");
	cr_assert_eq(swap_duplicate(ctx, e), 0);
	cr_assert_eq(swap_writepage(ctx, e, page), 0);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	cr_assert_eq(area_stats(ctx, 0).cache_pages, 0);
	errno = 0;
	cr_assert_null(swap_cache_lookup(ctx, e));
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(swap_count(ctx, e), 1);
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
}

Test(swap_cache, lower_layer_rewrite_and_read)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE], page2[PAGE], out[PAGE];
	swp_entry_t e;
	uint64_t compr;

	tu_make_page(page, TU_PAGE_TEXT, 1);
	tu_make_page(page2, TU_PAGE_BIN, 2);
	e = swap_out(ctx, page);
	cr_assert_eq(swap_cache_add(ctx, e, page, 0), -EINVAL, "no claim held");
	cr_assert_eq(swap_readpage(ctx, e, out), -EINVAL, "no claim held");
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_cache_prepare(ctx, e), -EEXIST);
	cr_assert_eq(swap_readpage(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(swap_writepage(ctx, e, page2), 0, "replace the stored page");
	cr_assert_eq(swap_readpage(ctx, e, out), 0);
	cr_assert_arr_eq(out, page2, PAGE);
	cr_assert_eq(swap_cache_add(ctx, e, page, 7), -EINVAL, "unknown flags");
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page2, PAGE);
	compr = area_stats(ctx, 0).compr_data_size;
	cr_assert_eq(area_stats(ctx, 0).orig_data_size, PAGE, "the old page was freed");
	cr_assert_gt(compr, 0);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(area_stats(ctx, 0).compr_data_size, 0);
	swap_ctx_destroy(ctx);
}

struct waiter {
	struct swap_ctx *ctx;
	swp_entry_t e;
	char out[PAGE];
	int ret;
	atomic_int *done;
};

static void *swap_in_waiter(void *p)
{
	struct waiter *w = p;
	w->ret = swap_in(w->ctx, w->e, w->out);
	atomic_fetch_add(w->done, 1);
	return NULL;
}

/*
 * The first to swap in (here the test, through the lower layer, so that it can take its time)
 * puts a locked page in the swap cache and reads the backend once; eight concurrent swap_ins of
 * the entry find that page, wait until it is filled, and copy it: one backend read in all.
 */
Test(swap_cache, concurrent_swap_ins_read_once)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE], *fill = malloc(PAGE);
	struct waiter w[8];
	pthread_t t[8];
	atomic_int done = 0;
	struct swap_area_stats before, after;
	swp_entry_t e;

	tu_make_page(page, TU_PAGE_TEXT, 11);
	e = swap_out(ctx, page);
	memset(fill, 0xee, PAGE);
	before = area_stats(ctx, 0);
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_cache_add(ctx, e, fill, SWAP_CACHE_LOCKED), 0);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct waiter){.ctx = ctx, .e = e, .done = &done};
		pthread_create(&t[i], NULL, swap_in_waiter, &w[i]);
	}
	usleep(100 * 1000);
	cr_assert_eq(atomic_load(&done), 0, "swap_in must wait for the page being filled");
	cr_assert_eq(swap_readpage(ctx, e, fill), 0);
	cr_assert_eq(swap_cache_unlock(ctx, e, 0), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].ret, 0);
		cr_assert_arr_eq(w[i].out, page, PAGE, "waiter %d", i);
	}
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	after = area_stats(ctx, 0);
	cr_assert_eq(after.backend_reads - before.backend_reads, 1, "decompressed once");
	cr_assert_eq(after.cache_hits - before.cache_hits, 8);
	cr_assert_eq(after.swap_ins - before.swap_ins, 8);
	cr_assert_eq(after.cache_pages, 0);
	swap_ctx_destroy(ctx);
	free(fill);
}

/* A fill that fails is reported to every waiter, and a lookup. */
Test(swap_cache, failed_fill_reaches_waiters)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE] = "failing", *fill = malloc(PAGE);
	struct waiter w[4];
	pthread_t t[4];
	atomic_int done = 0;
	swp_entry_t e = swap_out(ctx, page);

	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_cache_add(ctx, e, fill, SWAP_CACHE_LOCKED), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter){.ctx = ctx, .e = e, .done = &done};
		pthread_create(&t[i], NULL, swap_in_waiter, &w[i]);
	}
	usleep(50 * 1000);
	cr_assert_eq(swap_cache_unlock(ctx, e, 1), -EINVAL, "errors are negative");
	cr_assert_eq(swap_cache_unlock(ctx, e, -EIO), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].ret, -EIO);
	}
	errno = 0;
	cr_assert_null(swap_cache_lookup(ctx, e));
	cr_assert_eq(errno, EIO);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	/* gone from the cache: swap_in reads the backend again */
	cr_assert_eq(swap_in(ctx, e, fill), 0);
	cr_assert_str_eq(fill, "failing");

	/* deleting a page still locked fails its waiters instead of leaving them asleep */
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_cache_add(ctx, e, fill, SWAP_CACHE_LOCKED), 0);
	done = 0;
	w[0] = (struct waiter){.ctx = ctx, .e = e, .done = &done};
	pthread_create(&t[0], NULL, swap_in_waiter, &w[0]);
	usleep(50 * 1000);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	pthread_join(t[0], NULL);
	cr_assert(w[0].ret == -EIO || w[0].ret == 0, "got %d", w[0].ret);
	swap_ctx_destroy(ctx);
	free(fill);
}

/*
 * Free for all: threads pinned to different CPUs swap in the same entry at the same moment,
 * round after round.  Every call returns the page, and each either read the backend or was
 * served from the swap cache, never both: reads + hits == calls.
 */
struct ffa {
	struct swap_ctx *ctx;
	swp_entry_t *e;
	int nthreads, rounds, id;
	atomic_int *round, *arrived;
	long bad;
};

static void *ffa_worker(void *p)
{
	struct ffa *a = p;
	char out[PAGE], want[PAGE];

	pin_to_cpu(a->id);
	for (int r = 0; r < a->rounds; r++) {
		while (atomic_load_explicit(a->round, memory_order_acquire) != r)
			;
		if (swap_in(a->ctx, a->e[r % 16], out))
			a->bad++;
		tu_make_page(want, TU_PAGE_TEXT, (uint64_t)(r % 16));
		if (memcmp(out, want, PAGE))
			a->bad++;
		if (atomic_fetch_add(a->arrived, 1) + 1 == a->nthreads * (r + 1))
			atomic_store_explicit(a->round, r + 1, memory_order_release);
	}
	return NULL;
}

Test(swap_cache, same_entry_free_for_all, .timeout = 60)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	int n = nr_usable_cpus() < 4 ? nr_usable_cpus() : 4, rounds = 1500;
	atomic_int round = 0, arrived = 0;
	struct ffa a[4];
	pthread_t t[4];
	swp_entry_t e[16];
	char page[PAGE];
	struct swap_area_stats st;

	if (n < 2)
		cr_skip_test("needs 2 CPUs for truly concurrent swap-ins");
	for (int i = 0; i < 16; i++) {
		tu_make_page(page, TU_PAGE_TEXT, (uint64_t)i);
		e[i] = swap_out(ctx, page);
	}
	for (int i = 0; i < n; i++) {
		a[i] = (struct ffa){ctx, e, n, rounds, i, &round, &arrived, 0};
		pthread_create(&t[i], NULL, ffa_worker, &a[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(a[i].bad, 0);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.swap_ins, (uint64_t)(n * rounds));
	cr_assert_eq(st.backend_reads + st.cache_hits, st.swap_ins,
		     "each swap_in decompressed or copied from the cache, once");
	cr_assert_gt(st.cache_hits, 0, "concurrent swap-ins shared a decompression");
	cr_assert_lt(st.backend_reads, st.swap_ins);
	cr_assert_eq(st.cache_pages, 0);
	cr_assert_eq(st.inuse_pages, 16);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(swap_count(ctx, e[i]), 1, "swap_in changed no count");
	swap_ctx_destroy(ctx);
}

/*
 * Swap-in racing swap-out (lower layer): the entry is handed to readers while its page is still
 * being written; they get the page from the swap cache then, or from the backend once it is
 * written, and never anything else.
 */
struct racer {
	struct swap_ctx *ctx;
	_Atomic uint64_t *published;
	atomic_int *stop;
	atomic_long *total_reads;
	long reads, bad;
};

/* Wait until the readers have completed @more swap-ins since @since (or a second passed). */
static void wait_reads(atomic_long *total, long since, long more)
{
	for (int i = 0; i < 100000 && atomic_load(total) < since + more; i++)
		sched_yield();
}

static void *racing_reader(void *p)
{
	struct racer *r = p;
	char out[PAGE];
	while (!atomic_load(r->stop)) {
		uint64_t pub = atomic_load(r->published); /* round << 32 | offset */
		uint64_t off = pub & 0xffffffff, round = pub >> 32;
		int ret;
		if (!pub)
			continue;
		ret = swap_in(r->ctx, swp_entry(0, off), out);
		if (ret == -EINVAL)
			continue; /* freed meanwhile by the writer */
		if (ret || !check_stamp(out, 7, round << 20 | off))
			r->bad++;
		r->reads++;
		atomic_fetch_add(r->total_reads, 1);
	}
	return NULL;
}

Test(swap_cache, swap_in_races_swap_out, .timeout = 60)
{
	/* big enough that no slot is used twice: a reader never meets a later round's page */
	struct swap_ctx *ctx = ctx_with_memory(8192, NULL);
	_Atomic uint64_t published = 0;
	atomic_int stop = 0;
	atomic_long total = 0;
	struct racer r[2];
	pthread_t t[2];
	char *page = malloc(PAGE);
	struct swap_area_stats st;

	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){ctx, &published, &stop, &total, 0, 0};
		pthread_create(&t[i], NULL, racing_reader, &r[i]);
	}
	for (uint64_t round = 1; round <= 400; round++) {
		swp_entry_t e = swap_alloc_slot(ctx);
		cr_assert_neq(e.val, 0);
		stamp_page(page, 7, round << 20 | swp_offset(e));
		cr_assert_eq(swap_duplicate(ctx, e), 0); /* the readers' reference */
		cr_assert_eq(swap_cache_add(ctx, e, page, 0), 0);
		atomic_store(&published, round << 32 | swp_offset(e));
		wait_reads(&total, atomic_load(&total), 2); /* readers copy from the cache */
		cr_assert_eq(swap_writepage(ctx, e, page), 0);
		cr_assert_eq(swap_cache_delete(ctx, e), 0);
		wait_reads(&total, atomic_load(&total), 3); /* and read the backend now */
		atomic_store(&published, 0);
		cr_assert_eq(swap_free(ctx, e), 0);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(r[i].bad, 0, "reader %d got a torn or stale page", i);
	}
	st = area_stats(ctx, 0);
	cr_assert_gt(r[0].reads + r[1].reads, 0);
	cr_assert_gt(st.cache_hits, 0, "some swap-ins were served by the page being written");
	cr_assert_gt(st.backend_reads, 0);
	cr_assert_eq(st.inuse_pages, 0);
	swap_ctx_destroy(ctx);
	free(page);
}

/*
 * swap_out itself: a reader that guesses the next entries swap_out will return gets either
 * -EINVAL (not allocated yet) or exactly the page written there, never a torn or empty page.
 */
struct guesser {
	struct swap_ctx *ctx;
	_Atomic uint64_t *last;
	atomic_int *stop;
	long hits, bad;
};

static void *guessing_reader(void *p)
{
	struct guesser *g = p;
	char out[PAGE];
	pin_to_cpu(1);
	while (!atomic_load(g->stop)) {
		uint64_t last = atomic_load(g->last);
		for (uint64_t off = last + 1; off <= last + 3; off++) {
			int ret = swap_in(g->ctx, swp_entry(0, off), out);
			if (ret == -EINVAL)
				continue;
			g->hits++;
			if (ret || !check_stamp(out, 9, off))
				g->bad++;
		}
	}
	return NULL;
}

Test(swap_cache, guessed_entry_during_swap_out, .timeout = 60)
{
	struct swap_ctx *ctx = ctx_with_memory(4096, NULL);
	_Atomic uint64_t last = 0;
	atomic_int stop = 0;
	struct guesser g = {ctx, &last, &stop, 0, 0};
	pthread_t t;
	char page[PAGE];

	if (nr_usable_cpus() < 2 || !pin_to_cpu(0))
		cr_skip_test("needs 2 CPUs");
	pthread_create(&t, NULL, guessing_reader, &g);
	for (uint64_t i = 1; i < 4000; i++) {
		swp_entry_t e;
		stamp_page(page, 9, i); /* on one CPU, slot i gets the i-th page */
		e = swap_out(ctx, page);
		cr_assert_eq(swp_offset(e), i);
		atomic_store(&last, i);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	cr_assert_eq(g.bad, 0, "a guessed entry returned a torn or stale page");
	swap_ctx_destroy(ctx);
}

/*
 * Waiting never happens inside an RCU read section, so a thread that makes others wait may
 * itself wait for a grace period (swap_on / swap_off) without a deadlock.
 */
struct deleter {
	struct swap_ctx *ctx;
	swp_entry_t e;
	int ret;
};

static void *delete_claimed(void *p)
{
	struct deleter *d = p;
	d->ret = swap_cache_delete(d->ctx, d->e);
	return NULL;
}

Test(swap_cache, waiters_do_not_block_grace_periods, .timeout = 30)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	struct swap_area_opts more = {.nr_pages = 16};
	char page[PAGE] = "grace", *fill = malloc(PAGE);
	struct waiter w = {0};
	struct deleter del;
	struct swap_cache_page *cp;
	atomic_int done = 0;
	pthread_t t;
	swp_entry_t e = swap_out(ctx, page);

	/* a swap_in waits for our locked page while we swap an area on and off */
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_cache_add(ctx, e, fill, SWAP_CACHE_LOCKED), 0);
	w = (struct waiter){.ctx = ctx, .e = e, .done = &done};
	pthread_create(&t, NULL, swap_in_waiter, &w);
	usleep(20 * 1000);
	cr_assert_eq(swap_on(ctx, &more), 1);
	cr_assert_eq(swap_off(ctx, 1), 0);
	cr_assert_eq(swap_readpage(ctx, e, fill), 0);
	cr_assert_eq(swap_cache_unlock(ctx, e, 0), 0);
	pthread_join(t, NULL);
	cr_assert_eq(w.ret, 0);
	cr_assert_str_eq(w.out, "grace");
	cr_assert_eq(swap_cache_delete(ctx, e), 0);

	/* a swap_in waits for a claim whose page is not in the cache yet, likewise */
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	done = 0;
	w = (struct waiter){.ctx = ctx, .e = e, .done = &done};
	pthread_create(&t, NULL, swap_in_waiter, &w);
	usleep(20 * 1000);
	cr_assert_eq(atomic_load(&done), 0, "swap_in waits for the claim holder");
	cr_assert_eq(swap_on(ctx, &more), 1);
	cr_assert_eq(swap_off(ctx, 1), 0);
	cr_assert_eq(swap_cache_delete(ctx, e), 0); /* gives up the claim: the waiter reads */
	pthread_join(t, NULL);
	cr_assert_eq(w.ret, 0);
	cr_assert_str_eq(w.out, "grace");

	/* a deleter waits for our lookup reference while we swap an area on and off */
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_cache_add(ctx, e, page, 0), 0);
	cp = swap_cache_lookup(ctx, e);
	cr_assert_not_null(cp);
	del = (struct deleter){ctx, e, 1};
	pthread_create(&t, NULL, delete_claimed, &del);
	usleep(20 * 1000);
	cr_assert_eq(del.ret, 1, "the delete waits for our reference");
	cr_assert_eq(swap_on(ctx, &more), 1);
	cr_assert_eq(swap_off(ctx, 1), 0);
	cr_assert_str_eq(swap_cache_page_data(cp), "grace");
	swap_cache_put(ctx, cp);
	pthread_join(t, NULL);
	cr_assert_eq(del.ret, 0);
	errno = 0;
	cr_assert_null(swap_cache_lookup(ctx, e));
	cr_assert_eq(errno, ENOENT);
	swap_ctx_destroy(ctx);
	free(fill);
}
