/*
 * stress_swap.c - a bounded multi-thread stress run of libswap, a plain program (no Criterion) so
 * that it also runs under the thread sanitizer.
 *
 *   stress_swap [SECONDS] [DIR]     default 3 seconds, the swap file in DIR ($TMPDIR or /tmp)
 *
 * Every page is stamped: its bytes follow from (writer, sequence number), so whoever holds an
 * entry can regenerate the page and compare on every read.  Three areas: a lz4 memory area and a
 * swap file with SWAP_AREA_CHECKSUM, both small and of equal priority (they take turns), and a
 * zstd memory area of lower priority that takes the overflow and is turned off and on again.
 *
 *   - 4 workers swap pages out, in (checked), duplicate references into a shared trading table
 *     (whoever takes one out checks the page and drops that reference) and free them;
 *   - 3 cache racers hammer 2 hot entries (one of them three times in four) that live for the
 *     whole run, all at once: swap_in, swap_cache_lookup, swap_cache_prepare + swap_readpage /
 *     swap_writepage of the same bytes + swap_cache_add (filled or locked) + swap_cache_delete,
 *     swap_duplicate + swap_free; the workers swap the hot entries in too;
 *   - 1 offliner calls swap_off on the two busy areas (which hold hot entries: it must fail with
 *     -EBUSY, leaving them draining) and swap_off_cancel (back in service, while the workers
 *     race it), and drains the overflow area: it asks the workers to stop
 *     swapping out and to free what they hold there, calls swap_off until it succeeds (counting
 *     -EBUSY answers while the workers race it), and turns the area on again.
 *
 * A page that reads back wrong, an entry that vanished (-EINVAL for a reference still held), an
 * unexpected error code, or a slot still in use after everything was freed is an error; the exit
 * status is 0 only with none.  A watchdog ends a run that outlives its time by two minutes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zs/swap.h>

#include "stress.h"

#define PAGE	    SWAP_PAGE_SIZE
#define WORKERS	    4
#define RACERS	    3
#define OWN	    512 /* entries a worker holds at most */
#define TRADE	    128 /* shared trading table */
#define HOT	    2	/* one in each busy area */
#define HOT_TID	    1000
#define SMALL_AREA  512	 /* slots of each of the two busy areas */
#define OVERFLOW_SZ 1024 /* slots of the area turned off and on */
#define STAMP_MAGIC 0x53545245u

struct rec {
	swp_entry_t e;
	uint32_t tid;
	uint64_t seq;
};

static struct swap_ctx *ctx;
static atomic_int stop, draining;
static atomic_int over_type; /* the overflow area's type, -1 while it is off */
static atomic_long errors;
static _Atomic(struct rec *) trade[TRADE];
static struct rec hot[HOT];
static int busy_type[2];

static struct {
	atomic_long outs, ins, dups, frees, full, lookups, prepares, writepages;
	atomic_long off_busy, off_ok, drains;
} n;

#define fail(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "stress_swap: " __VA_ARGS__);                                      \
		fputc('\n', stderr);                                                               \
		errors++;                                                                          \
	} while (0)

/*
 * The page of (@tid, @seq): text-like (compresses), random (stored raw), one repeated word
 * (same-filled: no allocation) or mostly zeros, in turn.  All but the same-filled kind start
 * with a header naming the writer.
 */
static void make_page(unsigned char *p, uint32_t tid, uint64_t seq)
{
	uint64_t k = tu_mix64(((uint64_t)tid << 40) ^ seq), w;
	uint32_t hdr[4] = {STAMP_MAGIC, tid, (uint32_t)seq, (uint32_t)(seq >> 32)};

	switch (seq % 4) {
	case 0:
		for (int i = 0; i < PAGE; i++)
			p[i] = "swap in and out "[(k + (uint64_t)i / 7) % 16];
		break;
	case 1:
		for (int i = 0; i < PAGE; i += 8) {
			w = tu_mix64(k + (uint64_t)i);
			memcpy(p + i, &w, 8);
		}
		break;
	case 2:
		for (int i = 0; i < PAGE; i += 8)
			memcpy(p + i, &k, 8);
		return;
	default:
		memset(p, 0, PAGE);
		memcpy(p + 64 + k % 3000, &k, 8);
		break;
	}
	memcpy(p, hdr, sizeof(hdr));
}

static bool page_ok(const unsigned char *p, uint32_t tid, uint64_t seq)
{
	unsigned char want[PAGE];

	make_page(want, tid, seq);
	return memcmp(p, want, PAGE) == 0;
}

/* swap_in @r and compare; a failure is an error. */
static void check_in(const struct rec *r, const char *who)
{
	unsigned char page[PAGE];
	int err = swap_in(ctx, r->e, page);

	n.ins++;
	if (err)
		fail("%s: swap_in(type %u slot %llu, tid %u seq %llu) = %d", who, swp_type(r->e),
		     (unsigned long long)swp_offset(r->e), r->tid, (unsigned long long)r->seq, err);
	else if (!page_ok(page, r->tid, r->seq))
		fail("%s: type %u slot %llu: wrong page (want tid %u seq %llu)", who,
		     swp_type(r->e), (unsigned long long)swp_offset(r->e), r->tid,
		     (unsigned long long)r->seq);
}

static void drop(const struct rec *r, const char *who)
{
	int err = swap_free(ctx, r->e);

	n.frees++;
	if (err)
		fail("%s: swap_free(type %u slot %llu) = %d", who, swp_type(r->e),
		     (unsigned long long)swp_offset(r->e), err);
}

/* ---- workers ---- */

static void *worker(void *arg)
{
	uint32_t tid = (uint32_t)(uintptr_t)arg;
	uint64_t rnd = tid, seq = 0;
	struct rec *own = calloc(OWN, sizeof(*own));
	unsigned char page[PAGE];

	while (!stop) {
		uint64_t r = tu_mix64(rnd++);
		struct rec *me = &own[r % OWN];
		unsigned op = (unsigned)(r >> 32) % 100;

		if (atomic_load(&draining)) {
			/* leave the overflow area: check and free what we hold there */
			int t = atomic_load(&over_type);
			for (int i = 0; i < OWN; i++) {
				if (own[i].e.val && (int)swp_type(own[i].e) == t) {
					check_in(&own[i], "drain");
					drop(&own[i], "drain");
					own[i].e.val = 0;
				}
			}
			struct rec *tr = atomic_exchange(&trade[r % TRADE], NULL);
			if (tr) {
				check_in(tr, "drain-trade");
				drop(tr, "drain-trade");
				free(tr);
			}
			if (me->e.val)
				check_in(me, "worker");
			continue;
		}
		if (!me->e.val) {
			make_page(page, tid, seq);
			errno = 0;
			me->e = swap_out(ctx, page);
			if (me->e.val) {
				me->tid = tid;
				me->seq = seq++;
				n.outs++;
			} else if (errno == ENOSPC) {
				n.full++;
			} else {
				fail("swap_out: errno %d", errno);
			}
			continue;
		}
		if (op < 40) {
			check_in(me, "worker");
		} else if (op < 50) {
			struct rec *tr = malloc(sizeof(*tr));
			int err = swap_duplicate(ctx, me->e);
			n.dups++;
			if (err) {
				fail("swap_duplicate = %d", err);
				free(tr);
				continue;
			}
			*tr = *me;
			tr = atomic_exchange(&trade[(r >> 8) % TRADE], tr);
			if (tr) {
				check_in(tr, "trade");
				drop(tr, "trade");
				free(tr);
			}
		} else if (op < 60) {
			struct rec *tr = atomic_exchange(&trade[(r >> 8) % TRADE], NULL);
			if (tr) {
				check_in(tr, "trade");
				drop(tr, "trade");
				free(tr);
			}
		} else if (op < 63) {
			check_in(&hot[(r >> 8) % HOT], "worker-hot");
		} else if (op < 65) {
			int c = swap_count(ctx, me->e);
			if (c < 1)
				fail("swap_count = %d for a held entry", c);
		} else {
			drop(me, "worker");
			me->e.val = 0;
		}
	}
	for (int i = 0; i < OWN; i++) {
		if (own[i].e.val) {
			check_in(&own[i], "final");
			drop(&own[i], "final");
		}
	}
	free(own);
	return NULL;
}

/* ---- cache racers on the hot entries ---- */

static void check_data(const void *p, const struct rec *h, const char *who)
{
	if (!page_ok(p, h->tid, h->seq))
		fail("%s: hot slot %llu: wrong page", who, (unsigned long long)swp_offset(h->e));
}

static void *racer(void *arg)
{
	uint64_t rnd = (uintptr_t)arg * 7919;
	unsigned char buf[PAGE];

	while (!stop) {
		uint64_t r = tu_mix64(rnd++);
		/* three times in four the same entry: the races are on one slot */
		const struct rec *h = &hot[(r & 3) ? 0 : 1];
		unsigned op = (unsigned)(r >> 32) % 8;
		int err;

		if (op < 3) {
			check_in(h, "racer");
		} else if (op < 5) {
			struct swap_cache_page *cp = swap_cache_lookup(ctx, h->e);
			n.lookups++;
			if (cp) {
				check_data(swap_cache_page_data(cp), h, "lookup");
				swap_cache_put(ctx, cp);
			} else if (errno != ENOENT) {
				fail("swap_cache_lookup: errno %d", errno);
			}
		} else if (op < 7) {
			err = swap_cache_prepare(ctx, h->e);
			if (err == -EEXIST)
				continue;
			if (err) {
				fail("swap_cache_prepare = %d", err);
				continue;
			}
			n.prepares++;
			if (r & (1ULL << 60)) {
				/* add it locked, fill it while lookups wait */
				err = swap_cache_add(ctx, h->e, buf, SWAP_CACHE_LOCKED);
				int rd = swap_readpage(ctx, h->e, buf);
				if (rd)
					fail("swap_readpage = %d", rd);
				else
					check_data(buf, h, "readpage");
				if (!err)
					err = swap_cache_unlock(ctx, h->e, rd);
			} else if (r & (1ULL << 61)) {
				/* write the same bytes again while readers may come */
				make_page(buf, h->tid, h->seq);
				err = swap_cache_add(ctx, h->e, buf, 0);
				int wr = swap_writepage(ctx, h->e, buf);
				n.writepages++;
				if (wr)
					fail("swap_writepage = %d", wr);
			} else {
				int rd = swap_readpage(ctx, h->e, buf);
				if (rd)
					fail("swap_readpage = %d", rd);
				else
					check_data(buf, h, "readpage");
				err = swap_cache_add(ctx, h->e, buf, 0);
				sched_yield(); /* let lookups find it */
			}
			if (err)
				fail("swap_cache_add/unlock = %d", err);
			err = swap_cache_delete(ctx, h->e);
			if (err)
				fail("swap_cache_delete = %d", err);
		} else {
			err = swap_duplicate(ctx, h->e);
			if (err)
				fail("swap_duplicate(hot) = %d", err);
			else
				drop(h, "racer");
		}
	}
	return NULL;
}

/* ---- swap_off while busy ---- */

static const struct swap_area_opts over_opts = {
    .nr_pages = OVERFLOW_SZ, .priority = 1, .compressor = "zstd"};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *offliner(void *arg)
{
	(void)arg;
	while (!stop) {
		for (int i = 0; i < 2; i++) {
			int err = swap_off(ctx, busy_type[i]);
			if (err == -EBUSY)
				n.off_busy++;
			else
				fail("swap_off of an area with hot entries = %d", err);
			/* it is draining now: back in service */
			err = swap_off_cancel(ctx, busy_type[i]);
			if (err)
				fail("swap_off_cancel of a draining area = %d", err);
		}
		sleep_ms(20);
		/* drain the overflow area and turn it off, racing the workers that leave it */
		int t = atomic_load(&over_type);
		atomic_store(&draining, 1);
		n.drains++;
		while (!stop) {
			int err = swap_off(ctx, t);
			if (!err) {
				n.off_ok++;
				break;
			}
			if (err != -EBUSY) {
				fail("swap_off(overflow) = %d", err);
				break;
			}
			n.off_busy++;
			sched_yield();
		}
		atomic_store(&draining, 0);
		if (stop)
			break; /* still on: the final check turns it off */
		atomic_store(&over_type, -1);
		sleep_ms(5); /* a while with the overflow area off: swap_outs may find no room */
		t = swap_on(ctx, &over_opts);
		if (t < 0) {
			fail("swap_on(overflow) = %d", t);
			break;
		}
		atomic_store(&over_type, t);
		sleep_ms(20);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	const char *base = argc > 2 ? argv[2] : getenv("TMPDIR");
	char dir[4096], path[4200];
	pthread_t w[WORKERS], rc[RACERS], off;
	unsigned char page[PAGE];
	struct swap_area_stats st;
	int t;

	stress_watchdog((unsigned)seconds + 120, "stress_swap: still running two minutes after its "
						 "time: a deadlock?\n");
	snprintf(dir, sizeof(dir), "%s/stress_swap.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/swapfile", dir);
	ctx = swap_ctx_create();
	struct swap_area_opts mem = {.nr_pages = SMALL_AREA, .priority = 5};
	struct swap_area_opts file = {
	    .path = path, .nr_pages = SMALL_AREA, .priority = 5, .flags = SWAP_AREA_CHECKSUM};
	busy_type[0] = swap_on(ctx, &mem);
	busy_type[1] = swap_on(ctx, &file);
	t = swap_on(ctx, &over_opts);
	if (!ctx || busy_type[0] < 0 || busy_type[1] < 0 || t < 0) {
		fprintf(stderr, "stress_swap: setup failed (%d %d %d)\n", busy_type[0],
			busy_type[1], t);
		return 2;
	}
	atomic_store(&over_type, t);
	for (int i = 0; i < HOT; i++) {
		hot[i].tid = HOT_TID + (uint32_t)i;
		hot[i].seq = (uint64_t)i;
		make_page(page, hot[i].tid, hot[i].seq);
		hot[i].e = swap_out(ctx, page);
		if (!hot[i].e.val) {
			fprintf(stderr, "stress_swap: swap_out of a hot page failed\n");
			return 2;
		}
	}
	/* the two busy areas take turns, so each holds hot entries: swap_off must refuse both */
	for (int i = 0; i < 2; i++) {
		struct swap_area_stats a;
		if (swap_area_stats(ctx, busy_type[i], &a) || a.inuse_pages == 0) {
			fprintf(stderr, "stress_swap: area %d holds no hot entry\n", busy_type[i]);
			return 2;
		}
	}
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < RACERS; i++)
		pthread_create(&rc[i], NULL, racer, (void *)(uintptr_t)(i + 1));
	pthread_create(&off, NULL, offliner, NULL);
	sleep_ms((long)(seconds * 1000));
	stop = 1;
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < RACERS; i++)
		pthread_join(rc[i], NULL);
	pthread_join(off, NULL);

	/* what is left: the trading table and the hot entries, checked and freed */
	for (int i = 0; i < TRADE; i++) {
		struct rec *tr = trade[i];
		if (tr) {
			check_in(tr, "final-trade");
			drop(tr, "final-trade");
			free(tr);
		}
	}
	for (int i = 0; i < HOT; i++) {
		if (swap_count(ctx, hot[i].e) != 1)
			fail("hot entry %d: count %d, want 1", i, swap_count(ctx, hot[i].e));
		check_in(&hot[i], "final-hot");
		drop(&hot[i], "final-hot");
	}
	if (swap_ctx_stats(ctx, &st) < 0 || st.inuse_pages)
		fail("%llu slots still in use after every entry was freed",
		     (unsigned long long)st.inuse_pages);
	for (t = 0; t < SWAP_MAX_AREAS; t++) {
		struct swap_area_stats a;
		if (swap_area_stats(ctx, t, &a) == 0 && swap_off(ctx, t))
			fail("final swap_off(%d) failed", t);
	}
	printf(
	    "stress_swap: %.1f s, %ld errors: %ld swap_out, %ld swap_in, %ld duplicate, %ld free, "
	    "%ld ENOSPC, %ld cache lookups, %ld claims (%ld rewrites), swap_off: %ld -EBUSY, "
	    "%ld done of %ld drains\n",
	    seconds, (long)errors, (long)n.outs, (long)n.ins, (long)n.dups, (long)n.frees,
	    (long)n.full, (long)n.lookups, (long)n.prepares, (long)n.writepages, (long)n.off_busy,
	    (long)n.off_ok, (long)n.drains);
	printf("stress_swap: backend reads %llu, cache hits %llu, failed reads %llu, failed writes "
	       "%llu\n",
	       (unsigned long long)st.backend_reads, (unsigned long long)st.cache_hits,
	       (unsigned long long)st.failed_reads, (unsigned long long)st.failed_writes);
	swap_ctx_destroy(ctx);
	unlink(path);
	rmdir(dir);
	return errors ? 1 : 0;
}
