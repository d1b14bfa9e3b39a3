/*
 * demo.c - the main job of libzs: keep a corpus of 4 KiB pages compressed in a pool, the way
 * zram keeps swapped-out pages in zsmalloc, and show what that costs in memory.
 *
 *   usage: demo [-v] CORPUS
 *
 * Steps:
 *  1. read CORPUS (a file of 4 KiB pages, see bench/make-corpus.py);
 *  2. store every page: a page that is one 8-byte word repeated ("same-filled") is only
 *     counted, as zram does; any other page is compressed with LZ4 and stored compressed, or
 *     raw (4096 bytes) when the compressed form is not smaller than zs_huge_class_size();
 *  3. report pool memory and process RssAnon growth against the bytes stored;
 *  4. free a random 3/4 of the objects, run zs_compact() and report again;
 *  5. decompress every remaining object and compare it with its original page.
 * -v also prints the pool's per-class table after each step.
 *
 * Exits 0 when every page round-trips, 1 on a mismatch or a library error, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lz4.h>
#include <zs/zsmalloc.h>

#define PAGE_SIZE 4096
#define SHRINK_SEED 0x5eedf00dULL

/* One stored page: where it came from and how it is kept. */
struct stored_page {
	unsigned long handle;
	uint32_t page;	  /* index of the page in the corpus */
	uint16_t len;	  /* bytes stored: compressed length, or PAGE_SIZE when raw */
	uint8_t live;
};

struct counts {
	unsigned long pages;
	unsigned long same_filled;
	unsigned long huge;
	unsigned long objects;
	unsigned long long orig_bytes;
	unsigned long long stored_bytes;
};

static uint64_t rng_state;

/* splitmix64: small, fast and good enough to pick victims reproducibly. */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Anonymous resident memory of this process in bytes (RssAnon in /proc/self/status): the
 * pool's pages and metadata, but not code pages of libraries faulting in as they run.
 */
static long long rss_bytes(void)
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

/* A page zram would not store: one machine word repeated over the whole page. */
static int page_same_filled(const unsigned char *page)
{
	uint64_t first, w;
	size_t off;

	memcpy(&first, page, sizeof(first));
	for (off = sizeof(first); off < PAGE_SIZE; off += sizeof(w)) {
		memcpy(&w, page + off, sizeof(w));
		if (w != first)
			return 0;
	}
	return 1;
}

static unsigned char *read_corpus(const char *path, size_t *npages)
{
	unsigned char *buf;
	size_t size, done = 0;
	off_t end;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "demo: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < PAGE_SIZE || lseek(fd, 0, SEEK_SET) < 0) {
		fprintf(stderr, "demo: %s: not a corpus (need at least one 4 KiB page)\n", path);
		close(fd);
		return NULL;
	}
	if (end % PAGE_SIZE)
		fprintf(stderr, "demo: %s: ignoring %lld trailing bytes\n", path,
			(long long)(end % PAGE_SIZE));
	size = (size_t)end / PAGE_SIZE * PAGE_SIZE;
	buf = malloc(size);
	if (!buf) {
		fprintf(stderr, "demo: out of memory for %zu bytes\n", size);
		close(fd);
		return NULL;
	}
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n <= 0) {
			fprintf(stderr, "demo: %s: short read\n", path);
			free(buf);
			close(fd);
			return NULL;
		}
		done += n;
	}
	close(fd);
	*npages = size / PAGE_SIZE;
	return buf;
}

/*
 * Fault in every page of [p, p + size).  memset(0) would not do: the compiler may drop it
 * after calloc, leaving fresh mmap'd pages to be faulted in later, inside the measurement.
 */
static void touch_pages(void *p, size_t size)
{
	volatile unsigned char *b = p;
	size_t off;

	for (off = 0; off < size; off += PAGE_SIZE)
		b[off] = 0;
	if (size)
		b[size - 1] = 0;
}

static unsigned long long pool_memory(struct zs_pool *pool, struct zs_pool_stats *st)
{
	zs_pool_stats(pool, st);
	return (unsigned long long)st->pages_used * PAGE_SIZE + st->meta_bytes;
}

static void print_memory(struct zs_pool *pool, unsigned long long stored, long long rss_growth)
{
	struct zs_pool_stats st;
	unsigned long long mem = pool_memory(pool, &st);

	printf("  pool memory       %12llu bytes (%lu pages + %lu bytes metadata)\n", mem,
	       st.pages_used, st.meta_bytes);
	if (stored)
		printf("  pool / stored     %12.4f\n", (double)mem / stored);
	printf("  RssAnon growth        %12lld bytes\n", rss_growth);
	if (stored)
		printf("  RSS / stored      %12.4f\n", (double)rss_growth / stored);
}

static void prime(const unsigned char *page, unsigned char *cbuf, int cbound,
		  unsigned char *dbuf)
{
	struct zs_pool *pool = zs_create_pool("prime");
	int clen = LZ4_compress_default((const char *)page, (char *)cbuf, PAGE_SIZE, cbound);
	unsigned long h;

	if (clen > 0)
		LZ4_decompress_safe((const char *)cbuf, (char *)dbuf, clen, PAGE_SIZE);
	if (!pool)
		return;
	h = zs_malloc(pool, 1000);
	if (h) {
		void *dst = zs_map_object(pool, h, ZS_MM_WO);

		if (dst) {
			memcpy(dst, page, 1000);
			zs_unmap_object(pool, h);
		}
		zs_free(pool, h);
	}
	zs_compact(pool);
	zs_destroy_pool(pool);
}

int main(int argc, char **argv)
{
	struct stored_page *objs;
	struct counts c = { 0 };
	struct zs_pool_stats st;
	unsigned char *corpus, *cbuf, *dbuf;
	unsigned long long live_bytes = 0;
	unsigned long nfree, i, live = 0, freed_pages, bad = 0;
	size_t npages, huge_size;
	struct zs_pool *pool;
	long long rss0;
	double t0, t_compact;
	int cbound = LZ4_compressBound(PAGE_SIZE);
	int verbose = 0, opt;

	while ((opt = getopt(argc, argv, "v")) != -1) {
		if (opt != 'v') {
			fprintf(stderr, "usage: %s [-v] CORPUS\n", argv[0]);
			return 2;
		}
		verbose = 1;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s [-v] CORPUS\n", argv[0]);
		return 2;
	}

	printf("libzs demo: store a page corpus lz4-compressed in a zs pool as zram would, "
	       "free 3/4, compact, verify\n");
	corpus = read_corpus(argv[optind], &npages);
	if (!corpus)
		return 1;
	objs = calloc(npages, sizeof(*objs));
	cbuf = malloc(cbound);
	dbuf = malloc(PAGE_SIZE);
	if (!objs || !cbuf || !dbuf) {
		fprintf(stderr, "demo: setup failed: %s\n", strerror(errno));
		return 1;
	}
	/*
	 * Fault in our own bookkeeping, run each code path once (LZ4 both ways, a pool's
	 * malloc/write/free/compact) and give free heap back before taking the RSS baseline,
	 * so that the RssAnon growth below is the pool (made just after) and not our buffers or
	 * code pages faulting in.
	 */
	touch_pages(objs, npages * sizeof(*objs));
	touch_pages(dbuf, PAGE_SIZE);
	prime(corpus, cbuf, cbound, dbuf);
	malloc_trim(0);
	rss0 = rss_bytes();
	pool = zs_create_pool("demo");
	if (!pool) {
		fprintf(stderr, "demo: zs_create_pool: %s\n", strerror(errno));
		return 1;
	}
	huge_size = zs_huge_class_size(pool);

	t0 = now_sec();
	for (i = 0; i < npages; i++) {
		const unsigned char *page = corpus + i * PAGE_SIZE;
		const void *src = cbuf;
		struct stored_page *o;
		void *dst;
		int clen;

		c.pages++;
		c.orig_bytes += PAGE_SIZE;
		if (page_same_filled(page)) {
			c.same_filled++;
			continue;
		}
		clen = LZ4_compress_default((const char *)page, (char *)cbuf, PAGE_SIZE, cbound);
		if (clen <= 0 || (size_t)clen >= huge_size) {
			clen = PAGE_SIZE;
			src = page;
			c.huge++;
		}
		o = &objs[c.objects];
		o->handle = zs_malloc(pool, clen);
		if (!o->handle) {
			fprintf(stderr, "demo: zs_malloc(%d) failed on page %lu: %s\n", clen, i,
				strerror(errno));
			return 1;
		}
		dst = zs_map_object(pool, o->handle, ZS_MM_WO);
		if (!dst) {
			fprintf(stderr, "demo: zs_map_object failed on page %lu: %s\n", i,
				strerror(errno));
			return 1;
		}
		memcpy(dst, src, clen);
		zs_unmap_object(pool, o->handle);
		o->page = i;
		o->len = clen;
		o->live = 1;
		c.objects++;
		c.stored_bytes += clen;
	}
	live = c.objects;
	live_bytes = c.stored_bytes;

	printf("\nfill (%.0f ms, huge class from %zu bytes)\n", (now_sec() - t0) * 1e3, huge_size);
	printf("  pages             %12lu\n", c.pages);
	printf("  same-filled pages %12lu (not stored)\n", c.same_filled);
	printf("  huge pages        %12lu (stored raw)\n", c.huge);
	printf("  original bytes    %12llu\n", c.orig_bytes);
	printf("  stored bytes      %12llu (%lu objects)\n", c.stored_bytes, c.objects);
	if (c.stored_bytes)
		printf("  compression ratio %12.3f (original / stored)\n",
		       (double)c.orig_bytes / c.stored_bytes);
	print_memory(pool, live_bytes, rss_bytes() - rss0);
	if (verbose)
		zs_dump_classes(pool, stdout);

	/* Free a random 3/4: shuffle the object order (Fisher-Yates), free the first 3/4. */
	rng_state = SHRINK_SEED;
	for (i = c.objects; i > 1; i--) {
		unsigned long j = rng_next() % i;
		struct stored_page tmp = objs[i - 1];

		objs[i - 1] = objs[j];
		objs[j] = tmp;
	}
	nfree = c.objects * 3 / 4;
	for (i = 0; i < nfree; i++) {
		if (zs_free(pool, objs[i].handle)) {
			fprintf(stderr, "demo: zs_free rejected a live handle\n");
			return 1;
		}
		objs[i].live = 0;
		live--;
		live_bytes -= objs[i].len;
	}
	t0 = now_sec();
	freed_pages = zs_compact(pool);
	t_compact = now_sec() - t0;
	zs_pool_stats(pool, &st);

	printf("\nafter freeing %lu of %lu objects and zs_compact()\n", nfree, c.objects);
	printf("  live objects      %12lu\n", live);
	printf("  live stored bytes %12llu\n", live_bytes);
	print_memory(pool, live_bytes, rss_bytes() - rss0);
	printf("  pages compacted   %12lu (pool total %lu)\n", freed_pages, st.pages_compacted);
	printf("  compaction time   %12.3f ms\n", t_compact * 1e3);
	if (verbose)
		zs_dump_classes(pool, stdout);

	/* Every survivor must come back byte for byte. */
	for (i = nfree; i < c.objects; i++) {
		const struct stored_page *o = &objs[i];
		const unsigned char *orig = corpus + (size_t)o->page * PAGE_SIZE;
		const char *src = zs_map_object(pool, o->handle, ZS_MM_RO);
		int ok;

		if (!src) {
			fprintf(stderr, "demo: page %u: zs_map_object failed: %s\n", o->page,
				strerror(errno));
			bad++;
			continue;
		}
		if (zs_obj_size(pool, o->handle) != o->len) {
			fprintf(stderr, "demo: page %u: zs_obj_size %zu, stored %u\n", o->page,
				zs_obj_size(pool, o->handle), o->len);
			bad++;
		}
		if (o->len == PAGE_SIZE)
			ok = !memcmp(src, orig, PAGE_SIZE);
		else
			ok = LZ4_decompress_safe(src, (char *)dbuf, o->len, PAGE_SIZE) == PAGE_SIZE &&
			     !memcmp(dbuf, orig, PAGE_SIZE);
		zs_unmap_object(pool, o->handle);
		if (!ok) {
			fprintf(stderr, "demo: page %u: contents differ after compaction\n", o->page);
			bad++;
		}
	}
	if (bad) {
		printf("\nFAILED: %lu of %lu pages did not round-trip\n", bad, live);
		return 1;
	}
	printf("\nverified %lu pages\n", live);

	zs_destroy_pool(pool);
	free(dbuf);
	free(cbuf);
	free(objs);
	free(corpus);
	return 0;
}
