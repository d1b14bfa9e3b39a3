/*
 * libswap: the writeback tier (tiered areas: compressed memory in front of a swap file), idle
 * marking, proactive writeback with its limit, recompression, huge pages straight to the file,
 * swap_off that drains, and the options and error paths of each call.
 *
 * Pages are stamped (swap_test_util.h), so every read checks the bytes.  Writeback order is
 * checked through the counters: wb_reads grows only for a swap_in served from the file.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "swap_test_util.h"

#define MIB (1024 * 1024)

struct tier_env {
	char *dir, *path;
	struct swap_ctx *ctx;
	int type;
};

/* A context with one tiered area of @nr slots and @limit bytes of pool, the backing file in a
 * fresh folder. */
static struct tier_env tier_on(uint64_t nr, uint64_t limit, unsigned flags)
{
	struct tier_env t = {.dir = make_tmpdir()};
	struct swap_area_opts o = {
	    .nr_pages = nr,
	    .mem_limit = limit,
	    .flags = flags,
	    .backing_pages = nr,
	};

	t.path = path_in(t.dir, "backing");
	o.backing_path = t.path;
	t.ctx = swap_ctx_create();
	cr_assert_not_null(t.ctx);
	t.type = swap_on(t.ctx, &o);
	cr_assert_geq(t.type, 0, "swap_on of a tiered area: %d", t.type);
	return t;
}

static void tier_off(struct tier_env *t)
{
	swap_ctx_destroy(t->ctx);
	free(t->path);
	rm_tree(t->dir);
}

/* Swap out @n stamped pages (writer @tid); the entries in @e. */
static void store_pages(struct swap_ctx *ctx, swp_entry_t *e, unsigned n, uint32_t tid)
{
	char page[PAGE];

	for (unsigned i = 0; i < n; i++) {
		stamp_page(page, tid, i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0, "swap_out %u: errno %d", i, errno);
	}
}

static void check_page(struct swap_ctx *ctx, swp_entry_t e, uint32_t tid, uint64_t seq)
{
	char out[PAGE];

	cr_assert_eq(swap_in(ctx, e, out), 0, "swap_in of page %lu", (unsigned long)seq);
	cr_assert(check_stamp(out, tid, seq), "page %lu came back wrong", (unsigned long)seq);
}

/* Wait (up to 10 s) for the writeback thread to bring the pool under @pages. */
static void wait_pool_under(struct tier_env *t, uint64_t bytes)
{
	for (int i = 0; i < 1000 && area_stats(t->ctx, t->type).mem_used_total > bytes; i++)
		usleep(10000);
}

Test(swap_tier, options_and_layout)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "backing"), *file = path_in(dir, "file");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = 1000,
				   .mem_limit = MIB,
				   .backing_path = path,
				   .backing_pages = 500,
				   .label = "tier"};
	struct swap_area_stats st;
	struct stat sb;
	int type;

	/* each kind refuses the others' options */
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 100, .backing_pages = 10}),
		     -EINVAL);
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 100, .wb_low_percent = 50}),
		     -EINVAL);
	cr_assert_eq(
	    swap_on(ctx,
		    &(struct swap_area_opts){.path = file, .nr_pages = 100, .writeback_limit = 5}),
	    -EINVAL);
	cr_assert_eq(
	    swap_on(ctx,
		    &(struct swap_area_opts){.path = file, .nr_pages = 100, .backing_path = path}),
	    -EINVAL, "a file area and a tier at once");
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 100,
							   .backing_path = path,
							   .backing_pages = 50,
							   .flags = 0x100}),
		     -EINVAL, "unknown flags");
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 100,
							   .backing_path = path,
							   .backing_pages = 50,
							   .flags = SWAP_AREA_CHECKSUM}),
		     -EINVAL, "the checksum is a backing_flags option");
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 100,
							   .backing_path = path,
							   .backing_pages = 50,
							   .backing_flags = 0x8}),
		     -EINVAL);
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 100,
							   .backing_path = path,
							   .backing_pages = 50,
							   .wb_low_percent = 100}),
		     -EINVAL);
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 1,
							   .backing_path = path,
							   .backing_pages = 50}),
		     -EINVAL);
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 100,
							   .backing_path = path,
							   .backing_pages = 50,
							   .compressor = "gzip"}),
		     -EINVAL);
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 100, .backing_path = path}),
		     -ENOENT, "no backing file and no size for one");
	cr_assert_neq(access(path, F_OK), 0, "no refused call left a file behind");

	type = swap_on(ctx, &o);
	cr_assert_eq(type, 0);
	st = area_stats(ctx, type);
	cr_assert_eq(st.kind, SWAP_AREA_TIERED);
	cr_assert_eq(st.nr_pages, 1000);
	cr_assert_eq(st.backing_pages, 500);
	cr_assert_eq(st.backing_used, 0, "no file slot is taken before writeback");
	cr_assert_eq(st.mem_limit, MIB);
	cr_assert_eq(st.writeback_limit, SWAP_WB_UNLIMITED);
	cr_assert_str_eq(st.label, "tier");
	cr_assert_str_eq(st.compressor, "lz4");
	/* the backing file is a swap file as a file area's */
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_size, 500 * PAGE);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(swap_on(ctx, &o), -EBUSY, "the backing file is on already");
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.path = path}), -EBUSY);
	cr_assert_eq(swap_off(ctx, type), 0);
	/* an existing backing file is opened with its header */
	o.backing_pages = 0;
	o.label = NULL;
	type = swap_on(ctx, &o);
	cr_assert_eq(type, 0);
	st = area_stats(ctx, type);
	cr_assert_eq(st.backing_pages, 500);
	cr_assert_str_eq(st.label, "tier");
	swap_ctx_destroy(ctx);
	free(path);
	free(file);
	rm_tree(dir);
}

/* The stream of the LRU figure: 4x what mem_limit holds; the newest stay in memory. */
Test(swap_tier, newest_stay_in_memory, .timeout = 60)
{
	enum { N = 4096 };
	struct tier_env t = tier_on(N + 16, 2 * MIB, 0);
	swp_entry_t *e = calloc(N, sizeof(*e));
	struct swap_area_stats st;
	uint64_t reads;
	unsigned in_memory = 0;

	store_pages(t.ctx, e, N, 1);
	wait_pool_under(&t, 2 * MIB);
	st = area_stats(t.ctx, t.type);
	cr_assert_gt(st.wb_pages, N / 2, "only %lu of %u pages went to the file",
		     (unsigned long)st.wb_pages, N);
	cr_assert_eq(st.wb_pages, st.backing_used);
	cr_assert_leq(st.mem_used_total, 2 * MIB + 64 * PAGE, "pool %lu over its limit",
		      (unsigned long)st.mem_used_total);
	cr_assert_eq(st.inuse_pages, N, "every page was taken: none refused");
	/* the newest tenth is served from memory */
	reads = st.wb_reads;
	for (unsigned i = N - N / 10; i < N; i++) {
		uint64_t before = area_stats(t.ctx, t.type).wb_reads;

		check_page(t.ctx, e[i], 1, i);
		in_memory += area_stats(t.ctx, t.type).wb_reads == before;
	}
	cr_assert_geq(in_memory * 100, (N / 10) * 95, "%u of %u newest pages from memory",
		      in_memory, N / 10);
	/* the oldest come from the file, and all are intact */
	for (unsigned i = 0; i < N / 10; i++)
		check_page(t.ctx, e[i], 1, i);
	st = area_stats(t.ctx, t.type);
	cr_assert_geq(st.wb_reads - reads, N / 10 * 9 / 10);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(swap_free(t.ctx, e[i]), 0);
	st = area_stats(t.ctx, t.type);
	cr_assert_eq(st.inuse_pages, 0);
	cr_assert_eq(st.wb_pages, 0);
	cr_assert_eq(st.backing_used, 0, "freed entries give their file slots back");
	cr_assert_eq(st.orig_data_size, 0);
	free(e);
	tier_off(&t);
}

Test(swap_tier, mark_idle_and_writeback)
{
	enum { N = 300 };
	struct tier_env t = tier_on(1024, 0, 0); /* no limit: only proactive writeback */
	swp_entry_t e[N];
	struct swap_area_stats st;
	char out[PAGE];

	store_pages(t.ctx, e, N, 2);
	cr_assert_eq(swap_mark_idle(t.ctx, t.type, 3600), 0, "nothing is an hour old");
	cr_assert_eq(swap_mark_idle(t.ctx, t.type, 0), N);
	/* an access clears the mark */
	cr_assert_eq(swap_in(t.ctx, e[0], out), 0);
	cr_assert_eq(area_stats(t.ctx, t.type).idle_pages, N - 1);
	/* write back the idle pages, at most 100 */
	cr_assert_eq(
	    swap_writeback(t.ctx, t.type,
			   &(struct swap_writeback_opts){.flags = SWAP_WB_IDLE, .max_pages = 100}),
	    100);
	st = area_stats(t.ctx, t.type);
	cr_assert_eq(st.wb_pages, 100);
	cr_assert_eq(st.wb_writes, 100);
	cr_assert_eq(st.backing_used, 100);
	cr_assert_eq(st.idle_pages, N - 1, "written-back pages stay idle");
	/* the rest of the idle ones; e[0] is not idle and stays */
	cr_assert_eq(
	    swap_writeback(t.ctx, t.type, &(struct swap_writeback_opts){.flags = SWAP_WB_IDLE}),
	    N - 101);
	cr_assert_eq(
	    swap_writeback(t.ctx, t.type, &(struct swap_writeback_opts){.flags = SWAP_WB_IDLE}), 0,
	    "nothing idle is left in memory");
	st = area_stats(t.ctx, t.type);
	cr_assert_eq(st.wb_pages, N - 1);
	uint64_t reads = st.wb_reads;
	check_page(t.ctx, e[0], 2, 0);
	cr_assert_eq(area_stats(t.ctx, t.type).wb_reads, reads, "e[0] was in memory");
	for (unsigned i = 1; i < N; i++)
		check_page(t.ctx, e[i], 2, i);
	st = area_stats(t.ctx, t.type);
	cr_assert_eq(st.wb_reads, reads + N - 1);
	cr_assert_eq(st.idle_pages, 0, "every access cleared its mark");
	/* errors */
	cr_assert_eq(swap_writeback(t.ctx, t.type, NULL), -EINVAL);
	cr_assert_eq(swap_writeback(t.ctx, t.type, &(struct swap_writeback_opts){.flags = 0x80}),
		     -EINVAL);
	cr_assert_eq(swap_writeback(t.ctx, 5, &(struct swap_writeback_opts){0}), -EINVAL);
	cr_assert_eq(swap_writeback(NULL, 0, &(struct swap_writeback_opts){0}), -EINVAL);
	cr_assert_eq(swap_mark_idle(t.ctx, 5, 0), -EINVAL);
	cr_assert_eq(swap_mark_idle(NULL, 0, 0), -EINVAL);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(swap_free(t.ctx, e[i]), 0);
	cr_assert_eq(area_stats(t.ctx, t.type).backing_used, 0);
	tier_off(&t);
}

Test(swap_tier, writeback_limit)
{
	enum { N = 64 };
	struct tier_env t = tier_on(256, 0, 0);
	swp_entry_t e[N];

	store_pages(t.ctx, e, N, 3);
	cr_assert_eq(swap_set_writeback_limit(t.ctx, t.type, 10), 0);
	cr_assert_eq(area_stats(t.ctx, t.type).writeback_limit, 10);
	cr_assert_eq(swap_writeback(t.ctx, t.type, &(struct swap_writeback_opts){0}), 10);
	cr_assert_eq(area_stats(t.ctx, t.type).writeback_limit, 0);
	cr_assert_eq(swap_writeback(t.ctx, t.type, &(struct swap_writeback_opts){0}), -EIO,
		     "the budget is used up");
	cr_assert_eq(area_stats(t.ctx, t.type).wb_pages, 10);
	/* re-armed */
	cr_assert_eq(swap_set_writeback_limit(t.ctx, t.type, SWAP_WB_UNLIMITED), 0);
	cr_assert_eq(swap_writeback(t.ctx, t.type, &(struct swap_writeback_opts){0}), N - 10);
	for (unsigned i = 0; i < N; i++)
		check_page(t.ctx, e[i], 3, i);
	cr_assert_eq(swap_set_writeback_limit(t.ctx, 9, 1), -EINVAL);
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(swap_free(t.ctx, e[i]), 0);
	tier_off(&t);
}

/* Without writeback allowed and the pool full, new pages go to the next area. */
Test(swap_tier, limit_used_up_sends_pages_on)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "backing");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = 4096,
				   .mem_limit = 256 * 1024,
				   .backing_path = path,
				   .backing_pages = 4096,
				   .writeback_limit = 1,
				   .priority = 1};
	swp_entry_t e[600];
	char page[PAGE];
	int tier = swap_on(ctx, &o), mem = swap_on(ctx, &(struct swap_area_opts){.nr_pages = 4096});

	cr_assert_geq(tier, 0);
	cr_assert_geq(mem, 0);
	for (unsigned i = 0; i < 600; i++) {
		stamp_page(page, 4, i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	cr_assert_leq(area_stats(ctx, tier).backing_used, 1);
	cr_assert_gt(area_stats(ctx, mem).inuse_pages, 0, "the next area took the overflow");
	for (unsigned i = 0; i < 600; i++) {
		check_page(ctx, e[i], 4, i);
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	}
	swap_ctx_destroy(ctx);
	free(path);
	rm_tree(dir);
}

Test(swap_tier, huge_pages_direct)
{
	struct tier_env t = tier_on(256, MIB, SWAP_AREA_WB_HUGE_DIRECT);
	swp_entry_t e[40];
	char page[PAGE], out[PAGE];
	struct swap_area_stats st;

	for (int i = 0; i < 40; i++) {
		tu_make_page(page, i % 2 ? TU_PAGE_RANDOM : TU_PAGE_TEXT, (uint64_t)i);
		e[i] = swap_out(t.ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	st = area_stats(t.ctx, t.type);
	cr_assert_eq(st.huge_direct, 20, "the random pages went to the file");
	cr_assert_eq(st.wb_pages, 20);
	cr_assert_eq(st.huge_pages, 20, "counted as huge where they are");
	for (int i = 0; i < 40; i++) {
		tu_make_page(page, i % 2 ? TU_PAGE_RANDOM : TU_PAGE_TEXT, (uint64_t)i);
		cr_assert_eq(swap_in(t.ctx, e[i], out), 0);
		cr_assert_arr_eq(out, page, PAGE);
		cr_assert_eq(swap_free(t.ctx, e[i]), 0);
	}
	st = area_stats(t.ctx, t.type);
	cr_assert_eq(st.backing_used, 0);
	cr_assert_eq(st.huge_pages, 0);
	tier_off(&t);
}

Test(swap_tier, recompress)
{
	enum { N = 400 };
	struct swap_ctx *ctx = ctx_with_memory(1024, "lz4");
	swp_entry_t e[N];
	struct swap_area_stats before, after;
	char page[PAGE], out[PAGE];
	long n;

	for (int i = 0; i < N; i++) {
		tu_make_page(page,
			     i % 4 == 3 ? TU_PAGE_RANDOM
			     : i % 2	? TU_PAGE_TEXT
					: TU_PAGE_BIN,
			     (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	before = area_stats(ctx, 0);
	cr_assert_eq(swap_recompress(ctx, 0, &(struct swap_recompress_opts){.compressor = "gzip"}),
		     -EINVAL);
	cr_assert_eq(swap_recompress(ctx, 0, NULL), -EINVAL);
	cr_assert_eq(swap_recompress(ctx, 0, &(struct swap_recompress_opts){0}), -EINVAL);
	cr_assert_eq(
	    swap_recompress(ctx, 3, &(struct swap_recompress_opts){.compressor = "zstd:9"}),
	    -EINVAL);
	/* only idle pages: none yet */
	cr_assert_eq(swap_recompress(ctx, 0,
				     &(struct swap_recompress_opts){.compressor = "zstd:9",
								    .flags = SWAP_WB_IDLE}),
		     0);
	n = swap_recompress(ctx, 0, &(struct swap_recompress_opts){.compressor = "zstd:9"});
	after = area_stats(ctx, 0);
	cr_assert_gt(n, N / 2, "%ld of %d pages recompressed smaller", n, N);
	cr_assert_eq(after.recompressed, (uint64_t)n);
	cr_assert_lt(after.compr_data_size, before.compr_data_size);
	cr_assert_geq(after.incompressible, N / 4, "the random pages shrink with nothing");
	cr_assert_eq(after.recompressed + after.incompressible, N,
		     "every page either shrank or is marked");
	cr_assert_str_eq(after.compressor, "lz4", "the area's own compressor is unchanged");
	/* a second pass finds nothing new: the incompressible ones are not tried again */
	cr_assert_eq(
	    swap_recompress(ctx, 0, &(struct swap_recompress_opts){.compressor = "zstd:9"}), 0);
	/* each page decompresses with the compressor that stored it */
	for (int i = 0; i < N; i++) {
		tu_make_page(page,
			     i % 4 == 3 ? TU_PAGE_RANDOM
			     : i % 2	? TU_PAGE_TEXT
					: TU_PAGE_BIN,
			     (uint64_t)i);
		cr_assert_eq(swap_in(ctx, e[i], out), 0);
		cr_assert_arr_eq(out, page, PAGE);
	}
	/* up to three second compressors */
	cr_assert_geq(swap_recompress(ctx, 0, &(struct swap_recompress_opts){.compressor = "zstd"}),
		      0);
	cr_assert_geq(
	    swap_recompress(ctx, 0, &(struct swap_recompress_opts){.compressor = "zstd:19"}), 0);
	cr_assert_eq(
	    swap_recompress(ctx, 0, &(struct swap_recompress_opts){.compressor = "zstd:5"}),
	    -ENOSPC);
	for (int i = 0; i < N; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	after = area_stats(ctx, 0);
	cr_assert_eq(after.compr_data_size, 0);
	cr_assert_eq(after.incompressible, 0);
	swap_ctx_destroy(ctx);
}

Test(swap_tier, calls_on_other_kinds)
{
	char *dir = make_tmpdir(), *file = path_in(dir, "file");
	struct swap_ctx *ctx = swap_ctx_create();
	int mem = swap_on(ctx, &(struct swap_area_opts){.nr_pages = 64});
	int fa = swap_on(ctx, &(struct swap_area_opts){.path = file, .nr_pages = 64});

	cr_assert_geq(mem, 0);
	cr_assert_geq(fa, 0);
	cr_assert_eq(swap_writeback(ctx, mem, &(struct swap_writeback_opts){0}), -EOPNOTSUPP);
	cr_assert_eq(swap_set_writeback_limit(ctx, mem, 5), -EOPNOTSUPP);
	cr_assert_eq(swap_mark_idle(ctx, mem, 0), 0);
	cr_assert_eq(swap_mark_idle(ctx, fa, 0), -EOPNOTSUPP);
	cr_assert_eq(swap_writeback(ctx, fa, &(struct swap_writeback_opts){0}), -EOPNOTSUPP);
	cr_assert_eq(swap_recompress(ctx, fa, &(struct swap_recompress_opts){.compressor = "zstd"}),
		     -EOPNOTSUPP);
	swap_ctx_destroy(ctx);
	free(file);
	rm_tree(dir);
}

/* ---- many threads on one tiered area ---- */

struct mt {
	struct tier_env *t;
	atomic_int stop;
	atomic_long bad, outs, ins;
};

struct mt_worker {
	struct mt *mt;
	uint32_t tid;
};

static void *mt_swapper(void *arg)
{
	struct mt_worker *w = arg;
	struct mt *mt = w->mt;
	enum { HELD = 256 };
	swp_entry_t held[HELD] = {{0}};
	uint64_t seq[HELD], next = 0, rnd = w->tid;
	char page[PAGE], out[PAGE];

	while (!atomic_load(&mt->stop)) {
		unsigned i = (unsigned)(tu_rand(&rnd) % HELD);

		if (held[i].val) {
			if (swap_in(mt->t->ctx, held[i], out) || !check_stamp(out, w->tid, seq[i]))
				atomic_fetch_add(&mt->bad, 1);
			atomic_fetch_add(&mt->ins, 1);
			if (tu_rand(&rnd) % 2) {
				if (swap_free(mt->t->ctx, held[i]))
					atomic_fetch_add(&mt->bad, 1);
				held[i].val = 0;
			}
			continue;
		}
		seq[i] = next++;
		stamp_page(page, w->tid, seq[i]);
		held[i] = swap_out(mt->t->ctx, page);
		if (!held[i].val)
			atomic_fetch_add(&mt->bad, 1);
		atomic_fetch_add(&mt->outs, 1);
	}
	for (unsigned i = 0; i < HELD; i++) {
		if (!held[i].val)
			continue;
		if (swap_in(mt->t->ctx, held[i], out) || !check_stamp(out, w->tid, seq[i]) ||
		    swap_free(mt->t->ctx, held[i]))
			atomic_fetch_add(&mt->bad, 1);
	}
	return NULL;
}

static void *mt_reclaimer(void *arg)
{
	struct mt *mt = arg;
	unsigned round = 0;

	while (!atomic_load(&mt->stop)) {
		long r;

		switch (round++ % 4) {
		case 0:
			r = swap_mark_idle(mt->t->ctx, mt->t->type, 0);
			break;
		case 1:
			r = swap_writeback(
			    mt->t->ctx, mt->t->type,
			    &(struct swap_writeback_opts){.flags = SWAP_WB_IDLE, .max_pages = 64});
			break;
		case 2:
			r = swap_recompress(mt->t->ctx, mt->t->type,
					    &(struct swap_recompress_opts){.compressor = "zstd:3",
									   .max_pages = 64});
			break;
		default:
			r = swap_compact(mt->t->ctx, mt->t->type);
			break;
		}
		if (r < 0 && r != -EIO) /* -EIO: nothing could be written back this time */
			atomic_fetch_add(&mt->bad, 1);
		usleep(1000);
	}
	return NULL;
}

Test(swap_tier, threads_with_writeback_running, .timeout = 120)
{
	struct tier_env t = tier_on(8192, 512 * 1024, SWAP_AREA_WB_HUGE_DIRECT);
	struct mt mt = {.t = &t};
	struct mt_worker w[3];
	pthread_t th[4];
	struct swap_area_stats st;

	for (int i = 0; i < 3; i++) {
		w[i] = (struct mt_worker){&mt, (uint32_t)i + 10};
		pthread_create(&th[i], NULL, mt_swapper, &w[i]);
	}
	pthread_create(&th[3], NULL, mt_reclaimer, &mt);
	sleep(ZT_TSAN ? 4 : 2);
	atomic_store(&mt.stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	st = area_stats(t.ctx, t.type);
	cr_assert_eq(atomic_load(&mt.bad), 0, "%ld pages wrong or calls failed",
		     atomic_load(&mt.bad));
	cr_assert_gt(atomic_load(&mt.outs), 1000);
	cr_assert_gt(st.wb_writes, 0, "writeback ran");
	cr_assert_eq(st.inuse_pages, 0);
	cr_assert_eq(st.wb_pages, 0);
	cr_assert_eq(st.backing_used, 0, "every file slot came back");
	cr_assert_eq(st.orig_data_size, 0);
	tier_off(&t);
}

/* ---- swap_off that drains while writers run ---- */

struct drain {
	struct swap_ctx *ctx;
	atomic_int stop, bad;
	atomic_long outs;
};

static void *drain_writer(void *arg)
{
	struct drain *d = arg;
	enum { HELD = 64 };
	swp_entry_t held[HELD] = {{0}};
	uint64_t rnd = (uint64_t)(uintptr_t)&held;
	char page[PAGE];
	unsigned i = 0;

	tu_make_page(page, TU_PAGE_TEXT, 1);
	while (!atomic_load(&d->stop)) {
		if (held[i].val && swap_free(d->ctx, held[i]))
			atomic_fetch_add(&d->bad, 1);
		held[i] = swap_out(d->ctx, page);
		if (!held[i].val)
			atomic_fetch_add(&d->bad, 1);
		atomic_fetch_add(&d->outs, 1);
		i = (unsigned)(tu_rand(&rnd) % HELD);
	}
	for (i = 0; i < HELD; i++)
		if (held[i].val && swap_free(d->ctx, held[i]))
			atomic_fetch_add(&d->bad, 1);
	return NULL;
}

/* The holder of a few of area a's entries, who frees them only after a while. */
struct slow_holder {
	struct swap_ctx *ctx;
	swp_entry_t *e;
	unsigned n;
};

static void *free_later(void *arg)
{
	struct slow_holder *h = arg;

	usleep(100000);
	for (unsigned i = 0; i < h->n; i++)
		swap_free(h->ctx, h->e[i]);
	return NULL;
}

Test(swap_tier, swap_off_completes_under_load, .timeout = 60)
{
	struct drain d = {.ctx = swap_ctx_create()};
	pthread_t th[3], releaser;
	swp_entry_t in_a[32], in_b[32];
	unsigned na = 0, nb = 0;
	char page[PAGE];
	int a = swap_on(d.ctx, &(struct swap_area_opts){.nr_pages = 4096, .priority = 5});
	int b = swap_on(d.ctx, &(struct swap_area_opts){.nr_pages = 4096, .priority = 5});
	int c = swap_on(d.ctx, &(struct swap_area_opts){.nr_pages = 4096});

	cr_assert_geq(a, 0);
	cr_assert_geq(b, 0);
	cr_assert_geq(c, 0, "the area that takes the pages meanwhile");
	/* a few entries of a and b that this thread holds: the areas cannot empty before it
	 * lets go, however fast the writers turn theirs over */
	tu_make_page(page, TU_PAGE_TEXT, 9);
	while (na < 8 || nb < 8) {
		swp_entry_t e = swap_out(d.ctx, page);

		cr_assert_neq(e.val, 0);
		if ((int)swp_type(e) == a && na < 32)
			in_a[na++] = e;
		else if ((int)swp_type(e) == b && nb < 32)
			in_b[nb++] = e;
		else
			cr_assert_eq(swap_free(d.ctx, e), 0);
	}
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, drain_writer, &d);
	usleep(50000);
	/* draining: the writers keep going, no new page goes to a, and a empties once its
	 * holders have freed theirs (this thread's, 100 ms from now) */
	cr_assert_eq(swap_off(d.ctx, a), -EBUSY);
	cr_assert_eq(area_stats(d.ctx, a).draining, 1);
	pthread_create(&releaser, NULL, free_later,
		       &(struct slow_holder){.ctx = d.ctx, .e = in_a, .n = na});
	cr_assert_eq(swap_off_wait(d.ctx, a, 30000), 0, "swap_off did not complete under load");
	pthread_join(releaser, NULL);
	cr_assert_eq(swap_area_stats(d.ctx, a, &(struct swap_area_stats){0}), -EINVAL, "it is off");
	/* b drained, then put back in service: it takes pages again */
	cr_assert_eq(swap_off(d.ctx, b), -EBUSY);
	cr_assert_eq(swap_off_wait(d.ctx, b, 0), -EBUSY, "no time to wait");
	cr_assert_eq(swap_off_cancel(d.ctx, b), 0);
	uint64_t outs_b = area_stats(d.ctx, b).swap_outs;
	usleep(50000);
	cr_assert_gt(area_stats(d.ctx, b).swap_outs, outs_b, "b takes new pages again");
	atomic_store(&d.stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&d.bad), 0, "a writer's swap_out or swap_free failed");
	for (unsigned i = 0; i < nb; i++)
		cr_assert_eq(swap_free(d.ctx, in_b[i]), 0);
	cr_assert_eq(swap_off_wait(d.ctx, b, -1), 0);
	cr_assert_eq(swap_off_cancel(d.ctx, b), -EINVAL, "off");
	swap_ctx_destroy(d.ctx);
}
