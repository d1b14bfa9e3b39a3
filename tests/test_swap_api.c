/*
 * libswap: entries, contexts, swap_on / swap_off, and every public call's argument checks and
 * error paths, with the context still usable afterwards.
 */
#include <pthread.h>
#include <urcu/urcu-memb.h>
#include <zs/zsmalloc.h>

#include "swap_test_util.h"

Test(swap_api, entry_encoding)
{
	swp_entry_t e = swp_entry(5, 12345);
	cr_assert_eq(swp_type(e), 5);
	cr_assert_eq(swp_offset(e), 12345);
	/* type in the high bits, as the kernel encodes it */
	cr_assert_eq(e.val, (5ULL << SWP_TYPE_SHIFT) | 12345);
	cr_assert_eq(swp_type(swp_entry(31, SWP_OFFSET_MASK)), 31);
	cr_assert_eq(swp_offset(swp_entry(31, SWP_OFFSET_MASK)), SWP_OFFSET_MASK);
	cr_assert(!(swp_entry(31, SWP_OFFSET_MASK).val >> 63), "bit 63 stays clear");
	cr_assert_eq(swp_entry(0, 0).val, 0);
}

Test(swap_api, create_destroy)
{
	struct swap_ctx *ctx = swap_ctx_create();
	cr_assert_not_null(ctx);
	swap_ctx_destroy(ctx);
	swap_ctx_destroy(NULL); /* ignored */
}

Test(swap_api, round_trip_and_counts)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE], out[PAGE];
	swp_entry_t e;

	tu_make_page(page, TU_PAGE_TEXT, 1);
	e = swap_out(ctx, page);
	cr_assert_neq(e.val, 0);
	cr_assert_eq(swp_type(e), 0);
	cr_assert_neq(swp_offset(e), 0, "slot 0 is reserved");
	cr_assert_eq(swap_count(ctx, e), 1);
	memset(out, 0xaa, PAGE);
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	/* swap_in keeps the reference */
	cr_assert_eq(swap_count(ctx, e), 1);
	cr_assert_eq(swap_duplicate(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), 2);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), 1);
	cr_assert_eq(swap_in(ctx, e, out), 0, "still there with one reference");
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(swap_free(ctx, e), 0);
	/* now free: every call on it is -EINVAL */
	cr_assert_eq(swap_count(ctx, e), -EINVAL);
	cr_assert_eq(swap_in(ctx, e, out), -EINVAL);
	cr_assert_eq(swap_free(ctx, e), -EINVAL);
	cr_assert_eq(swap_duplicate(ctx, e), -EINVAL);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
}

Test(swap_api, null_arguments)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	struct swap_area_opts o = {.nr_pages = 16};
	struct swap_area_stats st;
	char page[PAGE] = {1};
	swp_entry_t e = swap_out(ctx, page), z;

	cr_assert_neq(e.val, 0);
	cr_assert_eq(swap_on(NULL, &o), -EINVAL);
	cr_assert_eq(swap_on(ctx, NULL), -EINVAL);
	cr_assert_eq(swap_off(NULL, 0), -EINVAL);
	errno = 0;
	z = swap_out(NULL, page);
	cr_assert_eq(z.val, 0);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	z = swap_out(ctx, NULL);
	cr_assert_eq(z.val, 0);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(swap_in(NULL, e, page), -EINVAL);
	cr_assert_eq(swap_in(ctx, e, NULL), -EINVAL);
	cr_assert_eq(swap_duplicate(NULL, e), -EINVAL);
	cr_assert_eq(swap_free(NULL, e), -EINVAL);
	cr_assert_eq(swap_count(NULL, e), -EINVAL);
	errno = 0;
	cr_assert_eq(swap_alloc_slot(NULL).val, 0);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(swap_cache_prepare(NULL, e), -EINVAL);
	cr_assert_eq(swap_cache_add(NULL, e, page, 0), -EINVAL);
	cr_assert_eq(swap_cache_add(ctx, e, NULL, 0), -EINVAL);
	cr_assert_eq(swap_cache_unlock(NULL, e, 0), -EINVAL);
	errno = 0;
	cr_assert_null(swap_cache_lookup(NULL, e));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(swap_cache_page_data(NULL));
	swap_cache_put(ctx, NULL); /* ignored */
	cr_assert_eq(swap_cache_delete(NULL, e), -EINVAL);
	cr_assert_eq(swap_writepage(NULL, e, page), -EINVAL);
	cr_assert_eq(swap_writepage(ctx, e, NULL), -EINVAL);
	cr_assert_eq(swap_readpage(NULL, e, page), -EINVAL);
	cr_assert_eq(swap_readpage(ctx, e, NULL), -EINVAL);
	cr_assert_eq(swap_area_stats(NULL, 0, &st), -EINVAL);
	cr_assert_eq(swap_area_stats(ctx, 0, NULL), -EINVAL);
	cr_assert_eq(swap_ctx_stats(NULL, &st), -EINVAL);
	cr_assert_eq(swap_ctx_stats(ctx, NULL), -EINVAL);
	cr_assert_eq(swap_compact(NULL, 0), -EINVAL);
	cr_assert_eq(swap_debug_corrupt(NULL, e), -EINVAL);
	/* everything still works */
	cr_assert_eq(swap_in(ctx, e, page), 0);
	cr_assert_eq(page[0], 1);
	cr_assert_eq(swap_free(ctx, e), 0);
	swap_ctx_destroy(ctx);
}

/* Every way an entry can be wrong gives -EINVAL from every call that takes one. */
Test(swap_api, bad_entries)
{
	struct swap_ctx *ctx = ctx_with_memory(300, NULL);
	char page[PAGE];
	swp_entry_t good, bad[6];

	tu_make_page(page, TU_PAGE_TEXT, 7);
	good = swap_out(ctx, page);
	cr_assert_neq(good.val, 0);
	bad[0] = swp_entry(3, swp_offset(good));     /* unknown type */
	bad[1] = swp_entry(0, 0);		     /* slot 0: the reserved header slot */
	bad[2] = swp_entry(0, 300);		     /* just past the area */
	bad[3] = swp_entry(0, SWP_OFFSET_MASK);	     /* far past it */
	bad[4] = swp_entry(0, swp_offset(good) + 1); /* a free slot */
	bad[5].val = good.val | (1ULL << 63);	     /* type 32 and up */
	for (int i = 0; i < 6; i++) {
		swp_entry_t b = bad[i];
		cr_assert_eq(swap_in(ctx, b, page), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_duplicate(ctx, b), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_free(ctx, b), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_count(ctx, b), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_cache_prepare(ctx, b), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_cache_add(ctx, b, page, 0), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_cache_delete(ctx, b), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_cache_unlock(ctx, b, 0), i == 4 ? -ENOENT : -EINVAL, "entry %d",
			     i);
		errno = 0;
		cr_assert_null(swap_cache_lookup(ctx, b));
		cr_assert_eq(errno, i == 4 ? ENOENT : EINVAL, "entry %d", i);
		cr_assert_eq(swap_writepage(ctx, b, page), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_readpage(ctx, b, page), -EINVAL, "entry %d", i);
		cr_assert_eq(swap_debug_corrupt(ctx, b), -EINVAL, "entry %d", i);
	}
	/* the good entry is untouched */
	cr_assert_eq(swap_count(ctx, good), 1);
	cr_assert_eq(swap_in(ctx, good, page), 0);
	cr_assert_eq(swap_free(ctx, good), 0);
	swap_ctx_destroy(ctx);
}

Test(swap_api, swap_on_bad_options)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {0};
	uint32_t bad = 5;

	cr_assert_eq(swap_on(ctx, &o), -EINVAL, "a memory area needs nr_pages");
	o.nr_pages = 1;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL, "slot 0 alone holds nothing");
	o.nr_pages = SWAP_MAX_PAGES + 1;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.nr_pages = 16;
	o.compressor = "lzo";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.compressor = "zstd:";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.compressor = "zstd:abc";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.compressor = "zstd:99";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.compressor = "zstd:3x";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.compressor = "lz4x";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.compressor = NULL;
	o.label = "x";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL, "labels are for files");
	o.label = NULL;
	o.bad_pages = &bad;
	o.nr_bad_pages = 1;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL, "bad pages are for files");
	o.bad_pages = NULL;
	o.nr_bad_pages = 0;
	/* nothing was added by the failures */
	cr_assert_eq(swap_ctx_stats(ctx, &(struct swap_area_stats){0}), 0);
	o.compressor = "zstd:5";
	cr_assert_eq(swap_on(ctx, &o), 0, "type 0 is still free");
	o.compressor = "zstd";
	cr_assert_eq(swap_on(ctx, &o), 1);
	o.compressor = "lz4";
	cr_assert_eq(swap_on(ctx, &o), 2);
	o.compressor = "zstd:-5";
	cr_assert_eq(swap_on(ctx, &o), 3, "zstd's fast negative levels");
	cr_assert_str_eq(area_stats(ctx, 0).compressor, "zstd:5");
	cr_assert_str_eq(area_stats(ctx, 1).compressor, "zstd:3");
	cr_assert_str_eq(area_stats(ctx, 2).compressor, "lz4");
	cr_assert_str_eq(area_stats(ctx, 3).compressor, "zstd:-5");
	swap_ctx_destroy(ctx);
}

Test(swap_api, thirty_two_areas)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = 8};
	char page[PAGE];

	for (int i = 0; i < SWAP_MAX_AREAS; i++)
		cr_assert_eq(swap_on(ctx, &o), i);
	cr_assert_eq(swap_on(ctx, &o), -ENOSPC);
	cr_assert_eq(swap_off(ctx, 17), 0);
	cr_assert_eq(swap_on(ctx, &o), 17, "the lowest free type is reused");
	tu_make_page(page, TU_PAGE_TEXT, 3);
	/* 32 areas of 7 usable slots: 224 pages, then full */
	for (int i = 0; i < SWAP_MAX_AREAS * 7; i++)
		cr_assert_neq(swap_out(ctx, page).val, 0, "page %d", i);
	errno = 0;
	cr_assert_eq(swap_out(ctx, page).val, 0);
	cr_assert_eq(errno, ENOSPC);
	cr_assert_eq(swap_ctx_stats(ctx, &(struct swap_area_stats){0}), SWAP_MAX_AREAS);
	swap_ctx_destroy(ctx);
}

Test(swap_api, full_gives_enospc_then_recovers)
{
	struct swap_ctx *ctx = ctx_with_memory(20, NULL);
	char page[PAGE];
	swp_entry_t e[19];

	for (int i = 0; i < 19; i++) {
		tu_make_page(page, TU_PAGE_TEXT, (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0, "slot %d", i);
	}
	errno = 0;
	cr_assert_eq(swap_out(ctx, page).val, 0);
	cr_assert_eq(errno, ENOSPC);
	errno = 0;
	cr_assert_eq(swap_alloc_slot(ctx).val, 0);
	cr_assert_eq(errno, ENOSPC);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 19);
	cr_assert_eq(area_stats(ctx, 0).usable_pages, 19);
	/* free one: exactly that slot comes back */
	cr_assert_eq(swap_free(ctx, e[7]), 0);
	tu_make_page(page, TU_PAGE_BIN, 99);
	e[7] = swap_out(ctx, page);
	cr_assert_neq(e[7].val, 0);
	for (int i = 0; i < 19; i++) {
		char out[PAGE], want[PAGE];
		if (i == 7)
			tu_make_page(want, TU_PAGE_BIN, 99);
		else
			tu_make_page(want, TU_PAGE_TEXT, (uint64_t)i);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, want, PAGE, "page %d", i);
	}
	swap_ctx_destroy(ctx);
}

Test(swap_api, no_area_enospc)
{
	struct swap_ctx *ctx = swap_ctx_create();
	char page[PAGE] = {0};
	errno = 0;
	cr_assert_eq(swap_out(ctx, page).val, 0);
	cr_assert_eq(errno, ENOSPC);
	cr_assert_eq(swap_in(ctx, swp_entry(0, 1), page), -EINVAL);
	swap_ctx_destroy(ctx);
}

Test(swap_api, swap_off_busy_and_invalid)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char page[PAGE], out[PAGE];
	swp_entry_t e;

	swp_entry_t e2;

	tu_make_page(page, TU_PAGE_TEXT, 5);
	e = swap_out(ctx, page);
	cr_assert_eq(swap_off(ctx, 0), -EBUSY);
	cr_assert_eq(swap_off(ctx, 1), -EINVAL);
	cr_assert_eq(swap_off(ctx, -1), -EINVAL);
	cr_assert_eq(swap_off(ctx, SWAP_MAX_AREAS), -EINVAL);
	/* draining after the refusal: its entries stay readable, no new page goes to it */
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(area_stats(ctx, 0).draining, 1);
	cr_assert_eq(swap_out(ctx, page).val, 0);
	cr_assert_eq(errno, ENOSPC);
	cr_assert_eq(swap_off_cancel(ctx, 1), -EINVAL, "no such area");
	/* back in service */
	cr_assert_eq(swap_off_cancel(ctx, 0), 0);
	cr_assert_eq(swap_off_cancel(ctx, 0), -EINVAL, "not draining");
	cr_assert_eq(area_stats(ctx, 0).draining, 0);
	e2 = swap_out(ctx, page);
	cr_assert_neq(e2.val, 0);
	cr_assert_eq(swap_duplicate(ctx, e), 0);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_off(ctx, 0), -EBUSY, "two entries are still live");
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_free(ctx, e2), 0);
	cr_assert_eq(swap_off_cancel(ctx, 0), 0);
	/* a slot only claimed by the swap cache is live too */
	e = swap_alloc_slot(ctx);
	cr_assert_neq(e.val, 0);
	cr_assert_eq(swap_off(ctx, 0), -EBUSY);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	cr_assert_eq(swap_off(ctx, 0), 0);
	cr_assert_eq(swap_off(ctx, 0), -EINVAL, "already off");
	cr_assert_eq(swap_in(ctx, e, out), -EINVAL);
	cr_assert_eq(swap_area_stats(ctx, 0, &(struct swap_area_stats){0}), -EINVAL);
	swap_ctx_destroy(ctx);
}

Test(swap_api, stats_and_compact)
{
	struct swap_ctx *ctx = ctx_with_memory(4096, NULL);
	struct swap_area_stats st, sum;
	char page[PAGE];
	swp_entry_t e[2000];
	long freed;

	st = area_stats(ctx, 0);
	cr_assert_eq(st.type, 0);
	cr_assert_eq(st.kind, SWAP_AREA_MEMORY);
	cr_assert_eq(st.nr_pages, 4096);
	cr_assert_eq(st.usable_pages, 4095);
	cr_assert_eq(st.nr_clusters, 16);
	cr_assert_eq(st.free_clusters + st.nonfull_clusters + st.full_clusters + st.percpu_clusters,
		     16);
	cr_assert_eq(st.orig_data_size, 0);
	for (int i = 0; i < 2000; i++) {
		tu_make_page(page, i % 2 ? TU_PAGE_TEXT : TU_PAGE_BIN, (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.inuse_pages, 2000);
	cr_assert_eq(st.swap_outs, 2000);
	cr_assert_eq(st.orig_data_size, 2000ULL * PAGE);
	cr_assert_gt(st.compr_data_size, 0);
	cr_assert_lt(st.compr_data_size, st.orig_data_size);
	cr_assert_geq(st.mem_used_total, st.compr_data_size);
	cr_assert_geq(st.mem_used_max, st.mem_used_total);
	cr_assert_eq(swap_ctx_stats(ctx, &sum), 1);
	cr_assert_eq(sum.type, -1);
	cr_assert_eq(sum.inuse_pages, 2000);
	/*
	 * Free every other page of each kind (i % 4 < 2: text and binary pages alternate): the
	 * zspages of every class are left about half used, so compaction gives pages back.
	 * (Freeing all pages of one kind would empty whole zspages, which zs_free releases at
	 * once, leaving compaction nothing to do.)
	 */
	for (int i = 0; i < 2000; i++)
		if (i % 4 < 2)
			cr_assert_eq(swap_free(ctx, e[i]), 0);
	uint64_t used_before = area_stats(ctx, 0).mem_used_total;
	freed = swap_compact(ctx, 0);
	st = area_stats(ctx, 0);
	cr_assert_gt(freed, 0);
	cr_assert_eq(st.pages_compacted, (uint64_t)freed);
	cr_assert_eq(st.mem_used_total, used_before - (uint64_t)freed * PAGE,
		     "pool memory went from %lu to %lu with %ld pages given back",
		     (unsigned long)used_before, (unsigned long)st.mem_used_total, freed);
	/* half the objects are gone: at least a third of the pages must come back */
	cr_assert_geq((uint64_t)freed * PAGE * 3, used_before,
		      "only %ld pages of %lu bytes given back", freed, (unsigned long)used_before);
	cr_assert_eq(st.orig_data_size, 1000ULL * PAGE);
	cr_assert_eq(swap_compact(ctx, 1), -EINVAL);
	cr_assert_eq(swap_compact(ctx, -1), -EINVAL);
	/* the survivors are intact after compaction */
	for (int i = 2; i < 2000; i += (i % 4 == 2) ? 1 : 3) {
		char out[PAGE];
		tu_make_page(page, i % 2 ? TU_PAGE_TEXT : TU_PAGE_BIN, (uint64_t)i);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, page, PAGE);
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	}
	st = area_stats(ctx, 0);
	cr_assert_eq(st.inuse_pages, 0);
	cr_assert_eq(st.orig_data_size, 0);
	cr_assert_eq(st.compr_data_size, 0);
	cr_assert_eq(st.cache_pages, 0);
	cr_assert_eq(st.free_clusters + st.nonfull_clusters + st.full_clusters + st.percpu_clusters,
		     16);
	cr_assert_eq(st.full_clusters, 0);
	swap_ctx_destroy(ctx);
}

/* Areas can come and go while other threads swap on other areas. */
struct onoff_arg {
	struct swap_ctx *ctx;
	int stop; /* atomic: the worker polls it */
	long bad, done;
};

static void *onoff_worker(void *p)
{
	struct onoff_arg *a = p;
	char page[PAGE], out[PAGE];
	uint64_t seq = 0;

	while (!__atomic_load_n(&a->stop, __ATOMIC_RELAXED)) {
		swp_entry_t e;
		stamp_page(page, 1, seq);
		e = swap_out(a->ctx, page);
		if (!e.val) {
			a->bad++;
			continue;
		}
		if (swap_in(a->ctx, e, out) || !check_stamp(out, 1, seq))
			a->bad++;
		if (swap_free(a->ctx, e))
			a->bad++;
		seq++;
		__atomic_fetch_add(&a->done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

Test(swap_api, swap_on_off_while_busy)
{
	struct swap_ctx *ctx = ctx_with_memory(1024, NULL);
	struct onoff_arg a = {.ctx = ctx};
	struct swap_area_opts o = {.nr_pages = 512, .priority = 5};
	pthread_t t;

	pthread_create(&t, NULL, onoff_worker, &a);
	for (int i = 0; i < 200; i++) {
		int type = swap_on(ctx, &o);
		long seen = __atomic_load_n(&a.done, __ATOMIC_RELAXED);
		cr_assert_eq(type, 1);
		/* let the worker use the new area a little */
		while (__atomic_load_n(&a.done, __ATOMIC_RELAXED) < seen + 2)
			sched_yield();
		/* busy while the worker's page sits in it; retried until it is not */
		while (swap_off(ctx, type) == -EBUSY)
			sched_yield();
	}
	__atomic_store_n(&a.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	cr_assert_eq(a.bad, 0);
	cr_assert_gt(a.done, 0);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
}

/* Threads come and go; each is registered with urcu on its first call and unregistered at exit. */
static void *short_lived(void *p)
{
	struct swap_ctx *ctx = p;
	char page[PAGE], out[PAGE];
	tu_make_page(page, TU_PAGE_TEXT, (uint64_t)pthread_self());
	swp_entry_t e = swap_out(ctx, page);
	if (!e.val || swap_in(ctx, e, out) || memcmp(out, page, PAGE) || swap_free(ctx, e))
		return (void *)1;
	return NULL;
}

Test(swap_api, many_short_lived_threads)
{
	struct swap_ctx *ctx = ctx_with_memory(1024, NULL);
	for (int i = 0; i < 300; i++) {
		pthread_t t;
		void *ret;
		pthread_create(&t, NULL, short_lived, ctx);
		pthread_join(t, &ret);
		cr_assert_null(ret);
	}
	/* a grace period must still complete: nobody left registered and stuck */
	cr_assert_eq(swap_off(ctx, 0), 0);
	swap_ctx_destroy(ctx);
}

/* A thread the application registered with urcu-memb itself works: libswap's RCU flavour
 * (urcu-bp) is independent of the application's own. */
static void *self_registered(void *p)
{
	struct swap_ctx *ctx = p;
	char page[PAGE], out[PAGE];
	void *ret = NULL;
	swp_entry_t e;

	urcu_memb_register_thread();
	tu_make_page(page, TU_PAGE_TEXT, 5);
	e = swap_out(ctx, page);
	if (!e.val || swap_in(ctx, e, out) || memcmp(out, page, PAGE) || swap_free(ctx, e))
		ret = (void *)1;
	/* the application's own read-side sections still work around our calls */
	urcu_memb_read_lock();
	urcu_memb_read_unlock();
	urcu_memb_unregister_thread();
	return ret;
}

Test(swap_api, thread_registered_by_the_application)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	pthread_t t;
	void *ret;

	pthread_create(&t, NULL, self_registered, ctx);
	pthread_join(t, &ret);
	cr_assert_null(ret);
	cr_assert_eq(swap_off(ctx, 0), 0, "grace periods still complete");
	swap_ctx_destroy(ctx);
}

/* swap_area_pool: a memory area's own pool, whose figures are the area's; nothing for files. */
Test(swap_api, area_pool)
{
	struct swap_ctx *ctx = ctx_with_memory(64, NULL);
	char *dir = make_tmpdir(), path[4200], page[PAGE];
	struct swap_area_opts fo = {.nr_pages = 64, .priority = -1}; /* after the memory area */
	struct zs_pool_stats ps;
	struct zs_class_stats cs;
	struct zs_pool *pool;
	unsigned long used = 0;

	snprintf(path, sizeof(path), "%s/swapfile", dir);
	fo.path = path;
	cr_assert_eq(swap_on(ctx, &fo), 1);
	for (int i = 0; i < 8; i++) {
		tu_make_page(page, TU_PAGE_TEXT, (uint64_t)i);
		cr_assert_neq(swap_out(ctx, page).val, 0);
	}
	pool = swap_area_pool(ctx, 0);
	cr_assert_not_null(pool);
	zs_pool_stats(pool, &ps);
	cr_assert_eq(ps.objs_used, 8);
	cr_assert_eq((uint64_t)ps.pages_used * PAGE, area_stats(ctx, 0).mem_used_total);
	for (unsigned n = 0; n < zs_nr_classes(pool); n++) {
		cr_assert_eq(zs_class_stats(pool, n, &cs), 0);
		used += cs.obj_used;
	}
	cr_assert_eq(used, 8);

	errno = 0;
	cr_assert_null(swap_area_pool(ctx, 1), "a file area has no pool");
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(swap_area_pool(ctx, 2));
	cr_assert_null(swap_area_pool(ctx, -1));
	cr_assert_null(swap_area_pool(ctx, SWAP_MAX_AREAS));
	cr_assert_null(swap_area_pool(NULL, 0));
	swap_ctx_destroy(ctx);
	rm_tree(dir);
}
