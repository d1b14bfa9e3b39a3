/*
 * bm_integrity.c - the cost of SWAP_AREA_CHECKSUM on a swap file:
 *   integrity/swap_out     swap_out() of the mixed corpus into a file area
 *   integrity/swap_in      swap_in() of pages stored there (random order, checked untimed)
 * Each iteration handles one batch of BATCH pages in each of two contexts over two files in
 * the same folder, one area with the option and one without, in alternating order, so both are
 * timed in the same run under the same conditions: counters plain_ns_per_page,
 * checksum_ns_per_page, checksum_vs_plain (the ratio of the two, > 1 is the cost) and
 * hash_ns_per_page (XXH3 alone over the same pages).  The time column is the checksum side's.
 * The files are in $TMPDIR (or /tmp) and stay in the page cache, so this is the CPU cost;
 * a disk would add the same time to both sides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>
#include <zs/swap.h>

#include "bench.h"
#include "bm_common.h"

#define BATCH 64
#define SLOTS 4096 /* per file: 16 MiB */

struct side {
	struct swap_ctx *ctx;
	char path[4096];
	double secs;
};

static int side_open(struct side *sd, const char *dir, const char *name, unsigned flags)
{
	struct swap_area_opts o = {.path = sd->path, .nr_pages = SLOTS, .flags = flags};

	snprintf(sd->path, sizeof(sd->path), "%s/%s", dir, name);
	sd->secs = 0;
	sd->ctx = swap_ctx_create();
	return sd->ctx && swap_on(sd->ctx, &o) >= 0 ? 0 : -1;
}

static void side_close(struct side *sd)
{
	swap_ctx_destroy(sd->ctx);
	unlink(sd->path);
}

/* Fill @sd with @n pages of @c from @first on; their entries into @e.  0 or -1. */
static int fill(struct side *sd, const struct bm_corpus *c, size_t first, size_t n, swp_entry_t *e)
{
	for (size_t i = 0; i < n; i++) {
		e[i] = swap_out(sd->ctx, c->pages + ((first + i) % c->npages) * BM_PAGE);
		if (!e[i].val)
			return -1;
	}
	return 0;
}

static void bm_integrity(struct bm_state *s)
{
	const struct bm_corpus *c = bm_corpus_get(BM_KIND_MIXED);
	const int in = *(const int *)bm_user(s);
	const char *base = getenv("TMPDIR");
	size_t stored = bm_quick() ? 256 : 2048, pos = 0, pages = 0;
	swp_entry_t *e[2] = {NULL, NULL};
	struct side sd[2] = {{0}};
	unsigned char *out = malloc(BM_PAGE);
	volatile uint64_t sink = 0; /* XXH3_64bits is pure: its result must be used */
	uint64_t rnd = 7;
	double hash_secs = 0;
	char dir[4096];
	int bad = 0;

	snprintf(dir, sizeof(dir), "%s/bm_integrity.XXXXXX", base && *base ? base : "/tmp");
	if (!c || !out || !mkdtemp(dir)) {
		free(out);
		bm_fail(s, c ? "no temporary folder" : "no corpus");
		return;
	}
	if (side_open(&sd[0], dir, "plain", 0) ||
	    side_open(&sd[1], dir, "checksum", SWAP_AREA_CHECKSUM)) {
		bm_fail(s, "swap_on of a swap file failed");
		goto out;
	}
	for (int k = 0; k < 2; k++) {
		e[k] = calloc(stored, sizeof(swp_entry_t));
		if (!e[k] || (in && fill(&sd[k], c, 0, stored, e[k]))) {
			bm_fail(s, "could not fill the areas");
			goto out;
		}
	}
	while (bm_keep_running(s)) {
		size_t idx[BATCH];
		double t0, t1, checksum_secs = 0;

		for (int j = 0; j < BATCH; j++)
			idx[j] = in ? bm_rand(&rnd) % stored : (pos + (size_t)j) % c->npages;
		/* alternate which side goes first: neither always finds the caches warm */
		for (int turn = 0; turn < 2; turn++) {
			struct side *d = &sd[(turn + (int)(pages / BATCH)) % 2];
			swp_entry_t *de = e[d == &sd[1]];

			t0 = bm_now();
			if (in) {
				for (int j = 0; j < BATCH; j++)
					bad |= swap_in(d->ctx, de[idx[j]], out) != 0;
			} else {
				for (int j = 0; j < BATCH; j++) {
					de[j] = swap_out(d->ctx, c->pages + idx[j] * BM_PAGE);
					bad |= !de[j].val;
				}
			}
			t1 = bm_now();
			d->secs += t1 - t0;
			if (d == &sd[1])
				checksum_secs = t1 - t0;
		}
		bm_set_iteration_time(s, checksum_secs);
		/* untimed: the hash alone on the same pages, then check or free */
		t0 = bm_now();
		for (int j = 0; j < BATCH; j++) {
			size_t p = in ? (size_t)idx[j] % c->npages : idx[j];
			sink += XXH3_64bits(c->pages + p * BM_PAGE, BM_PAGE);
		}
		hash_secs += bm_now() - t0;
		if (in) {
			bad |= swap_in(sd[1].ctx, e[1][idx[0]], out) != 0 ||
			       memcmp(out, c->pages + (idx[0] % c->npages) * BM_PAGE, BM_PAGE);
		} else {
			for (int k = 0; k < 2; k++)
				for (int j = 0; j < BATCH; j++)
					swap_free(sd[k].ctx, e[k][j]);
			pos += BATCH;
		}
		pages += BATCH;
		if (bad)
			break;
	}
	if (bad) {
		bm_fail(s, in ? "swap_in failed or returned other bytes" : "swap_out failed");
		goto out;
	}
	bm_items(s, (int64_t)pages);
	if (pages) {
		bm_counter(s, "plain_ns_per_page", sd[0].secs * 1e9 / (double)pages, 0);
		bm_counter(s, "checksum_ns_per_page", sd[1].secs * 1e9 / (double)pages, 0);
		bm_counter(s, "checksum_vs_plain", sd[1].secs / sd[0].secs, 0);
		bm_counter(s, "hash_ns_per_page", hash_secs * 1e9 / (double)pages, 0);
	}
out:
	for (int k = 0; k < 2; k++) {
		if (sd[k].ctx)
			side_close(&sd[k]);
		free(e[k]);
	}
	rmdir(dir);
	free(out);
}

static void cfg_integrity(struct bm_bench *b)
{
	bm_manual_time(b);
	if (!bm_quick())
		bm_min_time(b, 0.5);
}

BM_INIT(register_integrity);
static void register_integrity(void)
{
	static const int in[2] = {0, 1};

	bm_register("integrity/swap_out", bm_integrity, cfg_integrity, &in[0]);
	bm_register("integrity/swap_in", bm_integrity, cfg_integrity, &in[1]);
}
