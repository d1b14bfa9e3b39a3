/*
 * demo.c - the main job, as a program paging out its cold memory would do it: every 4 KiB page
 * of a corpus goes through libswap into a tiered area, compressed memory (lz4 over a libzs
 * pool, as zram) with a swap file behind it: once the pool reaches its limit, its coldest pages
 * (the first stored) are written back to the file, so the newest stay in memory.  Then the
 * newest and the oldest tenth are read back (where each came from, by the area's counters) and
 * every page is compared with its original.  Prints the area and the pool's size classes
 * (zsstat), the writeback counters, the ratio, the memory saved and the throughput.
 *
 *   usage: demo [-v] [-m MIB] [-n MIB] PATH
 *   PATH  a corpus file (bench/make-corpus.py) or a folder: every 4 KiB page of every regular
 *         file, the last one of each file zero-padded (folders are walked)
 *   -m    the pool's limit in MiB (default: a quarter of the pages, so the file gets some)
 *   -n    read at most this many MiB of pages (default 512)
 *   -v    the pool's full per-class table (as debugfs shows it), not only the size bands
 *
 * Progress goes to stderr: a bar when it is a terminal, a line per quarter otherwise.  The
 * swap file lives in a fresh folder under $TMPDIR (default /var/tmp) and is removed at exit.
 * Exits 0 when every page came back intact, 1 on a mismatch or an error, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zsstat.h"

#define PAGE_SIZE	SWAP_PAGE_SIZE
#define MIB		(1024.0 * 1024.0)
#define DEFAULT_MAX_MIB 512
#define BAR_WIDTH	32
#define BAR_INTERVAL	0.1 /* seconds between redraws of the bar */

/* The pages to swap, read whole into memory so that read-back can be checked byte for byte. */
static struct corpus {
	char *pages;
	size_t nr, cap, max;
	unsigned long files, unreadable;
	int truncated;
} corpus;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Walk results: go on, stop at the -n limit, stop for lack of memory. */
enum { WALK_ON, WALK_FULL, WALK_NOMEM };

/* Room for one more page: WALK_ON, or why not (out of memory is reported). */
static int corpus_grow(void)
{
	size_t cap;
	char *p;

	if (corpus.nr == corpus.max) {
		corpus.truncated = 1;
		return WALK_FULL;
	}
	if (corpus.nr < corpus.cap)
		return 0;
	cap = corpus.cap ? corpus.cap * 2 : 4096;
	if (cap > corpus.max)
		cap = corpus.max;
	p = realloc(corpus.pages, cap * PAGE_SIZE);
	if (!p) {
		fprintf(stderr, "demo: out of memory for %zu pages\n", cap);
		return WALK_NOMEM;
	}
	corpus.pages = p;
	corpus.cap = cap;
	return WALK_ON;
}

static int read_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOCTTY), err = WALK_ON;

	if (fd < 0) {
		fprintf(stderr, "demo: %s: %s\n", path, strerror(errno));
		corpus.unreadable++;
		return WALK_ON;
	}
	for (;;) {
		char *page;
		size_t got = 0;
		ssize_t n = 0;

		err = corpus_grow();
		if (err)
			break;
		page = corpus.pages + corpus.nr * PAGE_SIZE;
		while (got < PAGE_SIZE && (n = read(fd, page + got, PAGE_SIZE - got)) > 0)
			got += (size_t)n;
		if (n < 0) {
			fprintf(stderr, "demo: %s: %s\n", path, strerror(errno));
			corpus.unreadable++;
			break;
		}
		if (!got)
			break;
		memset(page + got, 0, PAGE_SIZE - got);
		corpus.nr++;
		if (got < PAGE_SIZE)
			break;
	}
	close(fd);
	corpus.files++;
	return err;
}

static int walk_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		return read_file(path);
	if (flag == FTW_DNR || flag == FTW_NS) {
		fprintf(stderr, "demo: %s: cannot read\n", path);
		corpus.unreadable++;
	}
	return WALK_ON;
}

/* ---- progress on stderr ------------------------------------------------------------------- */

struct progress {
	const char *what;
	size_t total;
	double start, last;
	int tty, quarter;
};

static void progress_start(struct progress *p, const char *what, size_t total)
{
	p->what = what;
	p->total = total;
	p->start = p->last = now();
	p->tty = isatty(STDERR_FILENO);
	p->quarter = 1;
}

static void progress(struct progress *p, size_t done)
{
	double t = now();

	if (p->tty) {
		int fill = (int)(done * BAR_WIDTH / p->total);
		double rate;

		if (t - p->last < BAR_INTERVAL && done < p->total)
			return;
		p->last = t;
		rate = t > p->start ? (double)done * PAGE_SIZE / MIB / (t - p->start) : 0;
		fprintf(stderr, "\r%-9s [%.*s%*s] %3zu%%  %zu/%zu pages  %6.1f MiB/s", p->what,
			fill, "################################", BAR_WIDTH - fill, "",
			done * 100 / p->total, done, p->total, rate);
		/* The results follow on stdout: leave no finished bar behind them. */
		if (done == p->total)
			fputs("\r\033[K", stderr);
		return;
	}
	/* One line per quarter reached; a jump over several gives one line. */
	if (p->quarter > 4 || done * 4 < p->total * (size_t)p->quarter)
		return;
	while (p->quarter <= 4 && done * 4 >= p->total * (size_t)p->quarter)
		p->quarter++;
	fprintf(stderr, "%s: %3zu%%  %zu of %zu pages\n%s", p->what, done * 100 / p->total, done,
		p->total, done == p->total ? "\n" : "");
}

/* ---- the job ------------------------------------------------------------------------------ */

struct areas {
	struct swap_ctx *ctx;
	int tier;
	char dir[4096], path[4200];
};

/* The area of this run: global, for the signal handler below. */
static struct areas areas = {.tier = -1};

/* Ctrl-C or a closed pipe must not leave a swap file the size of the corpus behind. */
static void remove_swap_file(int sig)
{
	unlink(areas.path); /* both async-signal-safe; "" fails harmlessly */
	rmdir(areas.dir);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int areas_on(struct areas *a, uint64_t mem_limit)
{
	const char *tmp = getenv("TMPDIR");
	struct swap_area_opts tier = {
	    .nr_pages = corpus.nr + 1, /* room for every page: the limit decides what is where */
	    .compressor = "lz4",
	    .mem_limit = mem_limit,
	    /* the file can take every page; its slots are only used by pages written back */
	    .backing_pages =
		corpus.nr + 1 < SWAP_MIN_FILE_PAGES ? SWAP_MIN_FILE_PAGES : corpus.nr + 1,
	    .label = "demo",
	};

	snprintf(a->dir, sizeof(a->dir), "%s/zs-demo-XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
	if (!mkdtemp(a->dir)) {
		fprintf(stderr, "demo: mkdtemp %s: %s\n", a->dir, strerror(errno));
		a->dir[0] = '\0';
		return -1;
	}
	snprintf(a->path, sizeof(a->path), "%s/swapfile", a->dir);
	signal(SIGINT, remove_swap_file);
	signal(SIGTERM, remove_swap_file);
	signal(SIGHUP, remove_swap_file);
	signal(SIGPIPE, remove_swap_file);
	tier.backing_path = a->path;
	a->ctx = swap_ctx_create();
	if (!a->ctx) {
		fprintf(stderr, "demo: swap_ctx_create: %s\n", strerror(errno));
		return -1;
	}
	a->tier = swap_on(a->ctx, &tier);
	if (a->tier < 0) {
		fprintf(stderr, "demo: swap_on %s: %s\n", a->path, strerror(-a->tier));
		return -1;
	}
	return 0;
}

static void areas_off(struct areas *a)
{
	swap_ctx_destroy(a->ctx);
	if (a->path[0])
		unlink(a->path);
	if (a->dir[0])
		rmdir(a->dir);
}

static int swap_out_all(struct areas *a, swp_entry_t *e, double *secs)
{
	struct progress p;

	progress_start(&p, "swap out", corpus.nr);
	for (size_t i = 0; i < corpus.nr; i++) {
		e[i] = swap_out(a->ctx, corpus.pages + i * PAGE_SIZE);
		if (!e[i].val) {
			fprintf(stderr, "\ndemo: swap_out of page %zu: %s\n", i, strerror(errno));
			return -1;
		}
		if (!(i & 63))
			progress(&p, i);
	}
	progress(&p, corpus.nr);
	*secs = now() - p.start;
	return 0;
}

/* The area's writeback has brought its pool down to the limit (it runs in the background). */
static void writeback_settles(struct areas *a, uint64_t limit)
{
	struct swap_area_stats st;

	for (int i = 0; i < 300; i++) {
		if (swap_area_stats(a->ctx, a->tier, &st) || st.mem_used_total <= limit)
			return;
		usleep(10000);
	}
}

/* Read pages [@from, @to) back and check them: how many came from memory, not the file. */
static size_t from_memory(struct areas *a, swp_entry_t *e, size_t from, size_t to, size_t *bad)
{
	struct swap_area_stats st;
	char page[PAGE_SIZE];
	uint64_t file_reads;

	swap_area_stats(a->ctx, a->tier, &st);
	file_reads = st.wb_reads;
	for (size_t i = from; i < to; i++)
		if (swap_in(a->ctx, e[i], page) ||
		    memcmp(page, corpus.pages + i * PAGE_SIZE, PAGE_SIZE))
			(*bad)++;
	swap_area_stats(a->ctx, a->tier, &st);
	return (to - from) - (size_t)(st.wb_reads - file_reads);
}

/* Read every page back, compare it with its original, free its slot; the pages that differ. */
static size_t swap_in_all(struct areas *a, swp_entry_t *e, double *secs)
{
	char page[PAGE_SIZE];
	struct progress p;
	size_t bad = 0;

	progress_start(&p, "swap in", corpus.nr);
	for (size_t i = 0; i < corpus.nr; i++) {
		int err = swap_in(a->ctx, e[i], page);

		if (err || memcmp(page, corpus.pages + i * PAGE_SIZE, PAGE_SIZE)) {
			if (bad++ < 5)
				fprintf(stderr, "\ndemo: page %zu came back %s\n", i,
					err ? strerror(-err) : "with other bytes");
		}
		swap_free(a->ctx, e[i]);
		if (!(i & 63))
			progress(&p, i);
	}
	progress(&p, corpus.nr);
	*secs = now() - p.start;
	return bad;
}

static const char *size_str(char *buf, unsigned long long bytes)
{
	return zsstat_size(buf, 16, bytes);
}

static void print_rate(const char *what, double secs)
{
	double pps = secs > 0 ? (double)corpus.nr / secs : 0;

	printf("%-10s %zu pages  %6.3f s  %7.0f pages/s  %6.1f MiB/s\n", what, corpus.nr, secs, pps,
	       pps * PAGE_SIZE / MIB);
}

/*
 * Anonymous resident memory of this process (RssAnon in /proc/self/status), to check the
 * pool's own figures against what the OS counts; -1 if unknown.
 */
static long long rss_anon(void)
{
	char line[256];
	long long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static void usage(void)
{
	fprintf(stderr, "usage: demo [-v] [-m MEMORY_LIMIT_MIB] [-n MAX_MIB] CORPUS|DIR\n");
}

int main(int argc, char **argv)
{
	struct swap_area_stats ts;
	struct zs_pool_stats ps;
	size_t tenth, newest, oldest;
	char s1[16], s2[16], s3[16], s4[16];
	double limit_mib = 0, max_mib = DEFAULT_MAX_MIB, t_out, t_in;
	swp_entry_t *e = NULL;
	uint64_t limit, held;
	long long rss0, rss1;
	size_t bad = 0;
	int opt, walk, verbose = 0, rc = 1;

	while ((opt = getopt(argc, argv, "vm:n:")) != -1) {
		char *end;
		double v;

		if (opt == 'v') {
			verbose = 1;
			continue;
		}
		if (opt == '?') {
			usage();
			return 2;
		}
		v = strtod(optarg, &end);
		if (*end || !(v > 0) || v > 1 << 20) {
			usage();
			return 2;
		}
		if (opt == 'm')
			limit_mib = v;
		else
			max_mib = v;
	}
	if (optind != argc - 1) {
		usage();
		return 2;
	}

	corpus.max = (size_t)(max_mib * MIB / PAGE_SIZE);
	if (!corpus.max)
		corpus.max = 1;
	walk = nftw(argv[optind], walk_entry, 32, FTW_PHYS);
	if (walk < 0)
		fprintf(stderr, "demo: %s: %s\n", argv[optind], strerror(errno));
	if (walk < 0 || walk == WALK_NOMEM)
		goto out;
	if (!corpus.nr) {
		fprintf(stderr, "demo: %s: no pages to swap\n", argv[optind]);
		goto out;
	}
	limit = limit_mib ? (uint64_t)(limit_mib * MIB) : (uint64_t)corpus.nr * PAGE_SIZE / 4;
	/* Our own table of entries is touched now, so RssAnon grows by libswap's memory only. */
	e = calloc(corpus.nr, sizeof(*e));
	if (!e)
		goto out;
	memset(e, 0xff, corpus.nr * sizeof(*e));
	rss0 = rss_anon();
	if (areas_on(&areas, limit))
		goto out;

	printf("libswap demo: %zu pages (%s) from %s", corpus.nr,
	       size_str(s1, (uint64_t)corpus.nr * PAGE_SIZE), argv[optind]);
	if (corpus.files > 1)
		printf(", %lu files", corpus.files);
	printf("%s\n", corpus.truncated ? " (stopped at -n)" : "");
	printf(
	    "  area %d  tiered: compressed memory (lz4, limit %s) in front of the swap file %s\n\n",
	    areas.tier, size_str(s1, limit), areas.path);
	fflush(stdout);

	if (swap_out_all(&areas, e, &t_out))
		goto out;
	writeback_settles(&areas, limit);
	rss1 = rss_anon();
	swap_area_stats(areas.ctx, areas.tier, &ts);
	zs_pool_stats(swap_area_pool(areas.ctx, areas.tier), &ps);
	zsstat_swap(stdout, areas.ctx, ZSSTAT_TABLE);
	printf("\nthe pool, by slot size:\n");
	zsstat_class_sizes(stdout, swap_area_pool(areas.ctx, areas.tier));
	if (verbose) {
		printf("\nand class by class:\n");
		zsstat_classes(stdout, swap_area_pool(areas.ctx, areas.tier), ZSSTAT_TABLE);
	}
	printf("\nwriteback  %llu pages written back (%s of the file's %s), %llu stores found the "
	       "pool full\n",
	       (unsigned long long)ts.wb_writes, size_str(s1, ts.backing_used * PAGE_SIZE),
	       size_str(s2, ts.backing_pages * PAGE_SIZE), (unsigned long long)ts.pool_limit_hit);
	tenth = corpus.nr / 10 ? corpus.nr / 10 : 1;
	newest = from_memory(&areas, e, corpus.nr - tenth, corpus.nr, &bad);
	oldest = from_memory(&areas, e, 0, tenth, &bad);
	printf("LRU order  newest tenth: %zu of %zu read from memory; oldest tenth: %zu of %zu "
	       "from the file\n\n",
	       newest, tenth, tenth - oldest, tenth);
	fflush(stdout);

	bad += swap_in_all(&areas, e, &t_in);
	print_rate("swap out", t_out);
	print_rate("swap in", t_in);
	if (bad)
		printf("verified   FAILED: %zu of %zu pages differ\n", bad, corpus.nr);
	else
		printf("verified   %zu pages, all intact\n", corpus.nr);
	/* Saved: what the pages would take resident, less all the pool holds for them. */
	held = ts.mem_used_total + ps.meta_bytes;
	if (ts.orig_data_size)
		printf("memory     %s of pages in memory kept in %s + %s metadata: ratio %.2f, %s "
		       "saved\n",
		       size_str(s1, ts.orig_data_size - ts.wb_pages * PAGE_SIZE),
		       size_str(s2, ts.mem_used_total), size_str(s3, ps.meta_bytes),
		       (double)(ts.orig_data_size - ts.wb_pages * PAGE_SIZE) /
			   (double)(ts.mem_used_total ? ts.mem_used_total : 1),
		       size_str(s4, ts.orig_data_size > held ? ts.orig_data_size - held : 0));
	printf("swap file  %s of pages (%llu) past the memory limit\n",
	       size_str(s1, ts.wb_pages * PAGE_SIZE), (unsigned long long)ts.wb_pages);
	if (rss0 >= 0 && rss1 >= 0)
		printf("process    RssAnon grew %s while swapping out (pool and slot tables)\n",
		       size_str(s1, rss1 > rss0 ? (unsigned long long)(rss1 - rss0) : 0));
	rc = bad ? 1 : 0;
out:
	areas_off(&areas);
	free(e);
	free(corpus.pages);
	return rc;
}
