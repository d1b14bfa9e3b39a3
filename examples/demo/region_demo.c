/*
 * region_demo.c - the main job regions make possible: a program whose working data is four
 * times larger than its RAM budget, running inside a libswap region.  The data is a hash table
 * of text records (every line of the text files under /usr/include and /usr/share, counted:
 * key = the line, value = how often it occurs and where it first did), a few hundred MiB, built
 * and then queried with plain loads and stores; the region keeps its RAM within the budget by
 * compressing the coldest pages into a memory area and bringing them back on touch.
 *
 *   usage: region_demo [-n DATA_MIB] [-m BUDGET_MIB] [-q LOOKUPS] [DIR...]
 *   -n    MiB of table to build (default 256): buckets, record index and records together
 *   -m    RAM budget in MiB (default a quarter of -n)
 *   -q    lookups after the build (default 200000), every one checked, one in 64 against the
 *         source file itself
 *   DIR   folders to read (default /usr/include /usr/share); files that look binary are skipped
 *
 * Progress goes to stderr: a bar with the region's RAM beside the budget when stderr is a
 * terminal, a line per quarter otherwise.  At the end: the table, the RAM held (the most the
 * region held in any sample, from its counters), and the region's and the area's counters.
 * Where userfaultfd is not permitted it says why and exits 0 without building anything.
 * Exits 1 when a lookup finds a record missing or different, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <zs/region.h>

#define MIB	     (1024.0 * 1024.0)
#define BAR_WIDTH    30
#define BAR_INTERVAL 0.1 /* seconds between redraws of the bar */
#define NIL	     UINT32_MAX
/* Bytes of table per record expected (a record with a 40-byte line, its bucket and index
 * entry), to size the buckets and the index. */
#define RECORD_GUESS 96

/* A record in the region: a line of text, how often it was seen, where first. */
struct record {
	uint32_t count; /* times the line occurs */
	uint32_t file;	/* where it first occurred */
	uint64_t off;
	uint32_t len;
	char text[];
};

/* A bucket of the open-addressing table (linear probing): a record and the high half of its
 * hash, so that a probe touches a record (and faults its page in) only when the tags agree. */
struct bucket {
	uint32_t rec; /* NIL: empty */
	uint32_t tag;
};

/* Everything below lives in the region, but for the file names (outside, small). */
static struct table {
	char *base;
	size_t size, top;	/* bump allocation of records */
	struct bucket *buckets; /* nbuckets (a power of two, at most 2/3 full), in the region */
	uint32_t *index;	/* record number -> offset / 8, in the region */
	size_t nbuckets, nrecords, maxrecords;
	size_t lines, bytes_read, files, skipped;
	char **paths;
	size_t npaths, cap_paths;
	int full;
} t;

static struct swap_region *region;
static double t_start, t_bar;
static int tty;
static size_t ram_max_pages;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct record *rec_at(uint32_t i)
{
	return (struct record *)(t.base + (size_t)t.index[i] * 8);
}

static void sample_ram(struct swap_region_stats *st)
{
	swap_region_stats(region, st);
	if (st->resident_pages + st->cached_pages > ram_max_pages)
		ram_max_pages = st->resident_pages + st->cached_pages;
}

/* The bar: @what, @done of @total, and the region's RAM against its budget. */
static void progress(const char *what, double done, double total, int last)
{
	static int quarter;
	struct swap_region_stats st;
	double f = total > 0 ? done / total : 1, tnow = now();

	if (f > 1)
		f = 1;
	if (tty) {
		if (!last && tnow - t_bar < BAR_INTERVAL)
			return;
		t_bar = tnow;
		sample_ram(&st);
		int fill = (int)(f * BAR_WIDTH);
		fprintf(stderr, "\r%-9s [%.*s%*s] %3d%%  RAM %6.1f / %.0f MiB, %llu faults   ",
			what, fill, "##############################", BAR_WIDTH - fill, "",
			(int)(f * 100),
			(double)(st.resident_pages + st.cached_pages) * SWAP_PAGE_SIZE / MIB,
			(double)st.resident_max_pages * SWAP_PAGE_SIZE / MIB,
			(unsigned long long)(st.faults.major + st.faults.minor));
		if (last)
			fputc('\n', stderr);
	} else if (last || f * 4 >= quarter + 1) {
		sample_ram(&st);
		quarter = last ? 0 : (int)(f * 4);
		fprintf(stderr, "%s: %3d%%, RAM %.1f MiB of a %.0f MiB budget\n", what,
			(int)(f * 100),
			(double)(st.resident_pages + st.cached_pages) * SWAP_PAGE_SIZE / MIB,
			(double)st.resident_max_pages * SWAP_PAGE_SIZE / MIB);
	} else {
		if (tnow - t_bar >= BAR_INTERVAL) {
			t_bar = tnow;
			sample_ram(&st);
		}
	}
}

/* ---- the table ------------------------------------------------------------------------ */

/* The bucket holding @line, or the empty one where it would go. */
static struct bucket *probe(const char *line, uint32_t len, uint64_t h)
{
	size_t mask = t.nbuckets - 1;

	for (size_t b = h & mask;; b = (b + 1) & mask) {
		struct bucket *k = &t.buckets[b];
		if (k->rec == NIL)
			return k;
		if (k->tag == (uint32_t)(h >> 32)) {
			struct record *r = rec_at(k->rec);
			if (r->len == len && !memcmp(r->text, line, len))
				return k;
		}
	}
}

/* Count @line (first seen in file @file at @off): 0, or -1 when the table is full. */
static int add_line(const char *line, uint32_t len, uint32_t file, uint64_t off)
{
	uint64_t h = XXH3_64bits(line, len);
	struct bucket *k = probe(line, len, h);
	size_t need = (sizeof(struct record) + len + 7) & ~(size_t)7;
	struct record *r;

	if (k->rec != NIL) {
		rec_at(k->rec)->count++;
		return 0;
	}
	if (t.top + need > t.size || t.nrecords == t.maxrecords)
		return -1;
	r = (struct record *)(t.base + t.top);
	r->count = 1;
	r->file = file;
	r->off = off;
	r->len = len;
	memcpy(r->text, line, len);
	t.index[t.nrecords] = (uint32_t)(t.top / 8);
	k->rec = (uint32_t)t.nrecords++;
	k->tag = (uint32_t)(h >> 32);
	t.top += need;
	return 0;
}

/* ---- reading the files ------------------------------------------------------------------ */

static int looks_binary(const char *buf, size_t n)
{
	return memchr(buf, 0, n < 1024 ? n : 1024) != NULL;
}

static int add_file(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	static char *buf;
	static size_t cap;
	uint32_t file;
	ssize_t n;
	int fd;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(sb->st_mode) || sb->st_size <= 0 || sb->st_size > (64 << 20))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if ((size_t)sb->st_size > cap) {
		char *bigger = realloc(buf, (size_t)sb->st_size);
		if (!bigger) {
			close(fd);
			return 1;
		}
		buf = bigger;
		cap = (size_t)sb->st_size;
	}
	n = read(fd, buf, (size_t)sb->st_size);
	close(fd);
	if (n <= 0 || looks_binary(buf, (size_t)n)) {
		t.skipped++;
		return 0;
	}
	if (t.npaths == t.cap_paths) {
		t.cap_paths = t.cap_paths ? 2 * t.cap_paths : 1024;
		t.paths = realloc(t.paths, t.cap_paths * sizeof(*t.paths));
		if (!t.paths)
			return 1;
	}
	file = (uint32_t)t.npaths;
	t.paths[t.npaths++] = strdup(path);
	t.files++;
	for (ssize_t at = 0; at < n;) {
		char *nl = memchr(buf + at, '\n', (size_t)(n - at));
		ssize_t end = nl ? nl - buf : n;
		if (end > at && add_line(buf + at, (uint32_t)(end - at), file, (uint64_t)at)) {
			t.full = 1;
			return 1;
		}
		t.lines += end > at;
		t.bytes_read += (size_t)(end - at + 1);
		at = end + 1;
	}
	progress("building", (double)t.top, (double)t.size, 0);
	return 0;
}

/* ---- checking ---------------------------------------------------------------------------- */

/* The text of record @r as its source file has it. */
static int matches_source(const struct record *r)
{
	char buf[4096];
	int fd, ok;

	if (r->len > sizeof(buf))
		return 1; /* very long lines: checked against the table only */
	fd = open(t.paths[r->file], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1; /* the file went away meanwhile: nothing to compare with */
	ok = pread(fd, buf, r->len, (off_t)r->off) == (ssize_t)r->len &&
	     !memcmp(buf, r->text, r->len);
	close(fd);
	return ok;
}

static size_t run_lookups(size_t n)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	size_t bad = 0;

	for (size_t q = 0; q < n; q++) {
		uint32_t i;
		struct record *r;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		i = (uint32_t)((s >> 33) % t.nrecords);
		r = rec_at(i);
		/* The record must be found again by its own text, and be what its file says. */
		if (probe(r->text, r->len, XXH3_64bits(r->text, r->len))->rec != i || !r->count ||
		    ((q & 63) == 0 && !matches_source(r)))
			bad++;
		if ((q & 1023) == 0)
			progress("querying", (double)q, (double)n, 0);
	}
	progress("querying", (double)n, (double)n, 1);
	return bad;
}

static void usage(void)
{
	fprintf(stderr, "usage: region_demo [-n DATA_MIB] [-m BUDGET_MIB] [-q LOOKUPS] [DIR...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const char *const default_dirs[] = {"/usr/include", "/usr/share"};
	size_t data_mib = 256, budget_mib = 0, lookups = 200000, bad;
	struct swap_area_opts area = {0};
	struct swap_region_opts o = {0};
	struct swap_region_stats st;
	struct swap_area_stats as;
	struct swap_ctx *ctx;
	double t_build, t_query;
	int c;

	while ((c = getopt(argc, argv, "n:m:q:")) != -1) {
		if (c == 'n')
			data_mib = strtoul(optarg, NULL, 10);
		else if (c == 'm')
			budget_mib = strtoul(optarg, NULL, 10);
		else if (c == 'q')
			lookups = strtoul(optarg, NULL, 10);
		else
			usage();
	}
	if (!data_mib || data_mib > 16384)
		usage();
	if (!budget_mib)
		budget_mib = data_mib / 4 ? data_mib / 4 : 1;
	tty = isatty(2);

	ctx = swap_ctx_create();
	/* Room for every page twice over: while the area is at most half full, pages swapped back
	 * in keep their compressed copy, and reclaim drops them again without compressing. */
	area.nr_pages = 2 * (uint64_t)data_mib * 256 + 1024;
	if (!ctx || swap_on(ctx, &area) < 0) {
		fprintf(stderr, "region_demo: could not set up a memory area\n");
		return 1;
	}
	o.size = (size_t)data_mib << 20;
	o.resident_max = (size_t)budget_mib << 20;
	region = swap_region_create(ctx, &o);
	if (!region) {
		printf("region demo: skipped, regions are not available here: %s\n",
		       swap_region_errmsg());
		swap_ctx_destroy(ctx);
		return errno == EPERM || errno == ENOSYS ? 0 : 1;
	}
	swap_region_stats(region, &st);
	printf("region demo: a %zu MiB hash table of text records in a region with a %zu MiB RAM "
	       "budget (userfaultfd%s%s)\n",
	       data_mib, budget_mib,
	       (st.features & SWAP_REGION_F_KERNEL_FAULTS) ? "" : ", user-mode only",
	       (st.features & SWAP_REGION_F_WRITE_TRACKING) ? ", written pages tracked" : "");

	/* Lay the table out in the region: buckets, then the record index, then records. */
	t.base = swap_region_addr(region);
	t.maxrecords = ((size_t)data_mib << 20) / RECORD_GUESS;
	for (t.nbuckets = 1024; t.nbuckets < t.maxrecords / 2 * 3; t.nbuckets <<= 1)
		;
	t.buckets = (struct bucket *)t.base;
	t.index = (uint32_t *)(t.base + t.nbuckets * sizeof(struct bucket));
	t.top = t.nbuckets * sizeof(struct bucket) + t.maxrecords * sizeof(uint32_t);
	t.top = (t.top + 4095) & ~(size_t)4095;
	t.size = o.size;
	for (size_t b = 0; b < t.nbuckets; b++)
		t.buckets[b].rec = NIL;

	t_start = now();
	for (int i = optind; i < argc || (optind == argc && i < optind + 2); i++) {
		const char *dir = optind < argc ? argv[i] : default_dirs[i - optind];
		if (nftw(dir, add_file, 32, FTW_PHYS) || t.full)
			break;
	}
	progress("building", (double)t.top, (double)t.size, 1);
	t_build = now() - t_start;
	if (!t.nrecords) {
		fprintf(stderr, "region_demo: no text files found\n");
		return 1;
	}
	printf("built: %zu records (%zu lines, %.0f MiB of text from %zu files) in %.1f MiB of "
	       "region, %.1f s\n",
	       t.nrecords, t.lines, (double)t.bytes_read / MIB, t.files, (double)t.top / MIB,
	       t_build);

	t_start = now();
	bad = run_lookups(lookups);
	t_query = now() - t_start;

	swap_region_stats(region, &st);
	swap_ctx_stats(ctx, &as);
	printf("queried: %zu lookups in %.1f s (%.0f per second), %zu wrong\n", lookups, t_query,
	       (double)lookups / t_query, bad);
	printf("RAM: at most %.1f MiB held in any sample, budget %.0f MiB (limit %.1f MiB with the "
	       "slack), for %.0f MiB of data: %.1fx\n",
	       (double)ram_max_pages * SWAP_PAGE_SIZE / MIB,
	       (double)st.resident_max_pages * SWAP_PAGE_SIZE / MIB,
	       (double)st.limit_pages * SWAP_PAGE_SIZE / MIB, (double)t.top / MIB,
	       (double)t.top / ((double)st.resident_max_pages * SWAP_PAGE_SIZE));
	printf("region: %llu resident + %llu cached + %llu compressed pages; faults %llu major, "
	       "%llu minor; %llu reclaimed (%llu clean), %llu refaults, %llu direct reclaims, "
	       "%llu I/O errors\n",
	       (unsigned long long)st.resident_pages, (unsigned long long)st.cached_pages,
	       (unsigned long long)st.swapped_pages, (unsigned long long)st.faults.major,
	       (unsigned long long)st.faults.minor, (unsigned long long)st.reclaimed_pages,
	       (unsigned long long)st.clean_reclaims, (unsigned long long)st.refaults,
	       (unsigned long long)st.direct_reclaims, (unsigned long long)st.io_errors);
	printf("fault service (handler): major p50 %.1f us, p99 %.1f us, max %.1f us; minor p50 "
	       "%.1f us; reclaim CPU %.2f s\n",
	       (double)st.major_latency.p50 / 1e3, (double)st.major_latency.p99 / 1e3,
	       (double)st.major_latency.max / 1e3, (double)st.minor_latency.p50 / 1e3,
	       (double)st.reclaim_cpu_ns / 1e9);
	printf("memory area: %.1f MiB of pages in %.1f MiB of pool (%.2fx)\n",
	       (double)as.orig_data_size / MIB, (double)as.mem_used_total / MIB,
	       as.mem_used_total ? (double)as.orig_data_size / (double)as.mem_used_total : 0);
	swap_region_destroy(region);
	swap_ctx_destroy(ctx);
	for (size_t i = 0; i < t.npaths; i++)
		free(t.paths[i]);
	free(t.paths);
	return bad ? 1 : 0;
}
