/*
 * zs_bench.c - the figures libzs is judged by, each measured against a baseline taken in the
 * same run, reported as the median of several runs.
 *
 *   usage: zs_bench [options] [CORPUS...]        (default corpus: build/corpus-mixed-64.bin)
 *
 * (a) fill: store every page of the corpus as zram would (same-filled pages skipped, LZ4
 *     compressed, raw 4096 bytes when the compressed size reaches zs_huge_class_size()).
 *     Reports process RSS growth / stored bytes and (pool pages * 4096 + metadata) / stored
 *     bytes; the same fill done with glibc malloc is the baseline.  "pool pages only" leaves
 *     the metadata out, like the kernel's mm_stat mem_used_total (bench/zram_compare.sh).
 * (b) shrink: then free a fixed random 3/4 of the objects and zs_compact(); RSS growth (from
 *     before the fill) / live stored bytes, against glibc free() + malloc_trim(0); and the
 *     compaction time per MiB it gave back.
 * (c) speed: 100k live objects with sizes drawn from the corpus's stored sizes, then N
 *     operations of "free a random live object, allocate one of the next size, write 16 bytes
 *     into it"; ns per pair for zs_free+zs_malloc and for free+malloc on the same sequence.
 *
 * Each measurement runs in a child that re-executes this program (hidden option -X), so no
 * run inherits another's heap and each run gets its own randomised address-space layout
 * (RSS figures move by ~0.3% with it, so one layout per run is what a median should see).
 * The child loads the corpus itself and sends its result back through a pipe.  Before its
 * RSS baseline a child has run the code paths once and called malloc_trim(0), so RSS growth
 * is the allocator's memory, including the pool's own fixed structures.  Options let the
 * lead compare pool settings.
 * Every figure ends up on one line of the form
 *   FIGURE name median=M runs=r1,r2,... corpus=FILE
 * for scripts; the table above them is for people.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lz4.h>
#include <zs/zsmalloc.h>

#define PAGE_SIZE 4096
#define MAX_RUNS 64
#define DEFAULT_CORPUS "build/corpus-mixed-64.bin"
/* The seed of the 3/4 freed in (b); examples/demo.c uses the same one and the same shuffle. */
#define DEFAULT_SHRINK_SEED 0x5eedf00dULL
#define SPEED_SEED 0x0b1ec75ULL
#define STAMP_BYTES 16

struct bench_cfg {
	int runs;
	struct zs_pool_opts opts;
	unsigned long live_objs;    /* (c) objects kept live */
	unsigned long warmup_ops;   /* (c) untimed operations before timing */
	unsigned long ops;	    /* (c) timed operations */
	uint64_t shrink_seed;
	const char *victims_out;    /* write the (b) victim page list here and stop */
	int child_measure;	    /* -X: run this measurement (enum measure) and report it */
	int child_fd;		    /* -X: ... through this pipe */
};

/* A corpus read and compressed once, in the parent, before any child is forked. */
struct corpus {
	const char *path;
	unsigned char *pages;
	size_t npages;
	unsigned char *cdata;  /* LZ4 images, LZ4_compressBound(4096) bytes apart */
	int cstride;
	int *clen;	       /* per page: compressed length, 0 when LZ4 gave up, -1 same-filled */
	/* Stored objects under this run's huge threshold, in corpus order. */
	size_t nobjs;
	uint32_t *obj_page;
	uint16_t *obj_len;
	unsigned long long stored_bytes;
	unsigned long huge, same_filled;
	/* (b): the objects the shrink step frees, in the (random) order it frees them. */
	uint32_t *victim;
	size_t nvictims;
	unsigned long long live_bytes;
};

/* What one fill/shrink child reports. */
struct fill_result {
	int ok;
	double fill_rss;	/* RSS growth / stored */
	double fill_pool;	/* (pages_used * 4096 + meta) / stored */
	double fill_pages;	/* pages_used * 4096 / stored, as zram's mem_used_total */
	long long fill_rss_bytes;
	double freed_rss;	/* RSS growth / live stored, after free, before compaction/trim */
	double shrink_rss;	/* RSS growth / live stored, after compaction or malloc_trim */
	double shrink_pool;
	double shrink_pages;
	long long shrink_rss_bytes;
	double compact_ms;
	unsigned long compact_pages;
};

struct speed_result {
	int ok;
	double ns_per_pair;
};

/* (c): the operation sequence shared by both allocators. */
struct speed_plan {
	unsigned long live, total_ops;
	uint16_t *size;	/* live + total_ops sizes: the initial fill, then one per operation */
	uint32_t *slot;	/* total_ops victims, as indexes into the live array */
};

static uint64_t rng_state;

/* splitmix64: small and fast; the same generator as examples/demo.c. */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static long long rss_bytes(void)
{
	long long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%lld %lld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/*
 * Fault in every page of [p, p + size).  A plain memset(0) would not do: the compiler may fold
 * malloc + memset(0) into calloc, which leaves fresh mmap'd pages untouched.
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

static void *xmalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	if (!p) {
		fprintf(stderr, "zs_bench: out of memory (%zu bytes)\n", size);
		exit(1);
	}
	/* Make it resident now, so that the RSS a measurement takes later is not ours. */
	touch_pages(p, size);
	return p;
}

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

static int load_corpus(struct corpus *c, const char *path)
{
	size_t size, done = 0, i;
	off_t end;
	int fd = open(path, O_RDONLY);

	memset(c, 0, sizeof(*c));
	c->path = path;
	if (fd < 0) {
		fprintf(stderr, "zs_bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < PAGE_SIZE || lseek(fd, 0, SEEK_SET) < 0) {
		fprintf(stderr, "zs_bench: %s: not a corpus of 4 KiB pages\n", path);
		close(fd);
		return -1;
	}
	size = (size_t)end / PAGE_SIZE * PAGE_SIZE;
	c->pages = xmalloc(size);
	while (done < size) {
		ssize_t n = read(fd, c->pages + done, size - done);

		if (n <= 0) {
			fprintf(stderr, "zs_bench: %s: short read\n", path);
			close(fd);
			return -1;
		}
		done += n;
	}
	close(fd);
	c->npages = size / PAGE_SIZE;

	c->cstride = LZ4_compressBound(PAGE_SIZE);
	c->cdata = xmalloc((size_t)c->cstride * c->npages);
	c->clen = xmalloc(sizeof(*c->clen) * c->npages);
	c->obj_page = xmalloc(sizeof(*c->obj_page) * c->npages);
	c->obj_len = xmalloc(sizeof(*c->obj_len) * c->npages);
	c->victim = xmalloc(sizeof(*c->victim) * c->npages);
	for (i = 0; i < c->npages; i++) {
		const unsigned char *page = c->pages + i * PAGE_SIZE;

		if (page_same_filled(page)) {
			c->clen[i] = -1;
			continue;
		}
		c->clen[i] = LZ4_compress_default((const char *)page,
						  (char *)c->cdata + i * c->cstride, PAGE_SIZE,
						  c->cstride);
		if (c->clen[i] < 0)
			c->clen[i] = 0;
	}
	return 0;
}

/* Decide each page's stored form for a pool whose huge class starts at @huge_size. */
static void plan_objects(struct corpus *c, size_t huge_size)
{
	size_t i;

	c->nobjs = 0;
	c->stored_bytes = 0;
	c->huge = 0;
	c->same_filled = 0;
	for (i = 0; i < c->npages; i++) {
		int len = c->clen[i];

		if (len < 0) {
			c->same_filled++;
			continue;
		}
		if (len == 0 || (size_t)len >= huge_size) {
			len = PAGE_SIZE;
			c->huge++;
		}
		c->obj_page[c->nobjs] = i;
		c->obj_len[c->nobjs] = len;
		c->stored_bytes += len;
		c->nobjs++;
	}
}

/*
 * Pick the objects (b) frees: shuffle the object indexes with the seed and take the first 3/4,
 * in shuffled order, exactly as examples/demo.c does.  Which pages are objects does not depend
 * on the pool, so the choice is the same for every pool setting.
 */
static void plan_victims(struct corpus *c, uint64_t seed)
{
	size_t i;

	for (i = 0; i < c->nobjs; i++)
		c->victim[i] = i;
	rng_state = seed;
	for (i = c->nobjs; i > 1; i--) {
		size_t j = rng_next() % i;
		uint32_t t = c->victim[i - 1];

		c->victim[i - 1] = c->victim[j];
		c->victim[j] = t;
	}
	c->nvictims = c->nobjs * 3 / 4;
	c->live_bytes = c->stored_bytes;
	for (i = 0; i < c->nvictims; i++)
		c->live_bytes -= c->obj_len[c->victim[i]];
}

static int write_victims(const struct corpus *c, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	size_t i;

	if (!f) {
		fprintf(stderr, "zs_bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < c->nvictims; i++)
		fprintf(f, "%u\n", c->obj_page[c->victim[i]]);
	if (f != stdout)
		return fclose(f) ? -1 : 0;
	return fflush(f) ? -1 : 0;
}

static void free_corpus(struct corpus *c)
{
	free(c->pages);
	free(c->cdata);
	free(c->clen);
	free(c->obj_page);
	free(c->obj_len);
	free(c->victim);
}

static const void *object_source(const struct corpus *c, size_t obj)
{
	uint32_t page = c->obj_page[obj];

	if (c->obj_len[obj] == PAGE_SIZE)
		return c->pages + (size_t)page * PAGE_SIZE;
	return c->cdata + (size_t)page * c->cstride;
}

/* Everything a measurement needs about one corpus under one configuration. */
struct job {
	struct corpus c;
	struct speed_plan plan;	/* only for the speed measurements */
	const struct bench_cfg *cfg;
	size_t huge_size;
};

/* Fault in the library's code and first-use state, so RSS growth counts objects only. */
static void prime_zs(const struct zs_pool_opts *opts)
{
	struct zs_pool *pool = zs_create_pool_opts("prime", opts);
	unsigned long h[4];
	int i;

	if (!pool)
		return;
	for (i = 0; i < 4; i++) {
		h[i] = zs_malloc(pool, 100 + 1000 * i);
		if (h[i])
			zs_obj_write(pool, h[i], "prime", 5);
	}
	for (i = 0; i < 4; i++)
		if (h[i])
			zs_free(pool, h[i]);
	zs_compact(pool);
	zs_destroy_pool(pool);
}

static void fill_zs(const struct job *j, void *vres)
{
	const struct corpus *c = &j->c;
	struct fill_result *r = vres;
	unsigned long *handle = xmalloc(sizeof(*handle) * (c->nobjs ? c->nobjs : 1));
	struct zs_pool_stats st;
	struct zs_pool *pool;
	long long rss0, rss;
	double t0;
	size_t i;

	prime_zs(&j->cfg->opts);
	/* Give back free heap memory first, or the pool's own mallocs would reuse it unseen. */
	malloc_trim(0);
	rss0 = rss_bytes();
	pool = zs_create_pool_opts("bench", &j->cfg->opts);
	if (!pool) {
		fprintf(stderr, "zs_bench: zs_create_pool_opts: %s\n", strerror(errno));
		return;
	}
	for (i = 0; i < c->nobjs; i++) {
		void *dst;

		handle[i] = zs_malloc(pool, c->obj_len[i]);
		if (!handle[i]) {
			fprintf(stderr, "zs_bench: zs_malloc(%u): %s\n", c->obj_len[i],
				strerror(errno));
			return;
		}
		dst = zs_map_object(pool, handle[i], ZS_MM_WO);
		if (!dst) {
			fprintf(stderr, "zs_bench: zs_map_object: %s\n", strerror(errno));
			return;
		}
		memcpy(dst, object_source(c, i), c->obj_len[i]);
		zs_unmap_object(pool, handle[i]);
	}
	rss = rss_bytes() - rss0;
	zs_pool_stats(pool, &st);
	r->fill_rss_bytes = rss;
	r->fill_rss = (double)rss / c->stored_bytes;
	r->fill_pool = ((double)st.pages_used * PAGE_SIZE + st.meta_bytes) / c->stored_bytes;
	r->fill_pages = (double)st.pages_used * PAGE_SIZE / c->stored_bytes;

	for (i = 0; i < c->nvictims; i++) {
		if (zs_free(pool, handle[c->victim[i]])) {
			fprintf(stderr, "zs_bench: zs_free rejected a live handle\n");
			return;
		}
	}
	r->freed_rss = (double)(rss_bytes() - rss0) / c->live_bytes;
	t0 = now_ns();
	r->compact_pages = zs_compact(pool);
	r->compact_ms = (now_ns() - t0) / 1e6;
	rss = rss_bytes() - rss0;
	zs_pool_stats(pool, &st);
	r->shrink_rss_bytes = rss;
	r->shrink_rss = (double)rss / c->live_bytes;
	r->shrink_pool = ((double)st.pages_used * PAGE_SIZE + st.meta_bytes) / c->live_bytes;
	r->shrink_pages = (double)st.pages_used * PAGE_SIZE / c->live_bytes;
	r->ok = 1;
}

static void fill_glibc(const struct job *j, void *vres)
{
	const struct corpus *c = &j->c;
	struct fill_result *r = vres;
	void **obj = xmalloc(sizeof(*obj) * (c->nobjs ? c->nobjs : 1));
	long long rss0, rss;
	double t0;
	size_t i;

	free(malloc(1000));
	malloc_trim(0);
	rss0 = rss_bytes();
	for (i = 0; i < c->nobjs; i++) {
		obj[i] = malloc(c->obj_len[i]);
		if (!obj[i]) {
			fprintf(stderr, "zs_bench: malloc(%u) failed\n", c->obj_len[i]);
			return;
		}
		memcpy(obj[i], object_source(c, i), c->obj_len[i]);
	}
	rss = rss_bytes() - rss0;
	r->fill_rss_bytes = rss;
	r->fill_rss = (double)rss / c->stored_bytes;
	for (i = 0; i < c->nvictims; i++)
		free(obj[c->victim[i]]);
	r->freed_rss = (double)(rss_bytes() - rss0) / c->live_bytes;
	t0 = now_ns();
	malloc_trim(0);
	r->compact_ms = (now_ns() - t0) / 1e6;
	rss = rss_bytes() - rss0;
	r->shrink_rss_bytes = rss;
	r->shrink_rss = (double)rss / c->live_bytes;
	r->ok = 1;
}

/* ---- (c) speed ---- */

static void plan_speed(struct speed_plan *p, const struct corpus *c, const struct bench_cfg *cfg)
{
	unsigned long i, nsizes;

	p->live = cfg->live_objs;
	p->total_ops = cfg->warmup_ops + cfg->ops;
	nsizes = p->live + p->total_ops;
	p->size = xmalloc(sizeof(*p->size) * nsizes);
	p->slot = xmalloc(sizeof(*p->slot) * (p->total_ops ? p->total_ops : 1));
	rng_state = SPEED_SEED;
	for (i = 0; i < nsizes; i++)
		p->size[i] = c->obj_len[rng_next() % c->nobjs];
	for (i = 0; i < p->total_ops; i++)
		p->slot[i] = rng_next() % p->live;
}

/* Stamp written into each new object: same bytes, same count for both allocators. */
static const char stamp[STAMP_BYTES] = "libzs-bench-obj";

static void speed_zs(const struct job *j, void *vres)
{
	const struct speed_plan *p = &j->plan;
	struct speed_result *r = vres;
	unsigned long *live = xmalloc(sizeof(*live) * p->live);
	const uint16_t *next_size = p->size + p->live;
	unsigned long i, warm = j->cfg->warmup_ops;
	struct zs_pool *pool = zs_create_pool_opts("speed", &j->cfg->opts);
	double t0 = 0, t1;

	if (!pool)
		return;
	for (i = 0; i < p->live; i++) {
		live[i] = zs_malloc(pool, p->size[i]);
		if (!live[i])
			return;
		zs_obj_write(pool, live[i], stamp, STAMP_BYTES);
	}
	for (i = 0; i < p->total_ops; i++) {
		unsigned long *h = &live[p->slot[i]];

		if (i == warm)
			t0 = now_ns();
		zs_free(pool, *h);
		*h = zs_malloc(pool, next_size[i]);
		if (!*h) {
			fprintf(stderr, "zs_bench: zs_malloc(%u): %s\n", next_size[i],
				strerror(errno));
			return;
		}
		zs_obj_write(pool, *h, stamp, STAMP_BYTES);
	}
	t1 = now_ns();
	if (warm == p->total_ops)
		t0 = t1;
	r->ns_per_pair = (t1 - t0) / (p->total_ops - warm);
	r->ok = 1;
}

static void speed_glibc(const struct job *j, void *vres)
{
	const struct speed_plan *p = &j->plan;
	struct speed_result *r = vres;
	void **live = xmalloc(sizeof(*live) * p->live);
	const uint16_t *next_size = p->size + p->live;
	unsigned long i, warm = j->cfg->warmup_ops;
	double t0 = 0, t1;

	for (i = 0; i < p->live; i++) {
		live[i] = malloc(p->size[i]);
		if (!live[i])
			return;
		memcpy(live[i], stamp, STAMP_BYTES);
	}
	for (i = 0; i < p->total_ops; i++) {
		void **o = &live[p->slot[i]];

		if (i == warm)
			t0 = now_ns();
		free(*o);
		*o = malloc(next_size[i]);
		if (!*o)
			return;
		memcpy(*o, stamp, STAMP_BYTES);
	}
	t1 = now_ns();
	if (warm == p->total_ops)
		t0 = t1;
	r->ns_per_pair = (t1 - t0) / (p->total_ops - warm);
	r->ok = 1;
}

/* ---- running a measurement in a child ---- */

enum measure { M_FILL_ZS, M_FILL_GLIBC, M_SPEED_ZS, M_SPEED_GLIBC, NR_MEASURES };

static const struct {
	const char *name;
	void (*fn)(const struct job *j, void *res);
	size_t res_size;
	int needs_speed_plan;
} measures[NR_MEASURES] = {
	[M_FILL_ZS] = { "fill-zs", fill_zs, sizeof(struct fill_result), 0 },
	[M_FILL_GLIBC] = { "fill-glibc", fill_glibc, sizeof(struct fill_result), 0 },
	[M_SPEED_ZS] = { "speed-zs", speed_zs, sizeof(struct speed_result), 1 },
	[M_SPEED_GLIBC] = { "speed-glibc", speed_glibc, sizeof(struct speed_result), 1 },
};

static int prepare_job(struct job *j, const char *path, const struct bench_cfg *cfg,
		       int with_speed_plan);
static void free_job(struct job *j);

/* In the re-executed child: measure, write the result to the pipe, exit. */
static int child_main(const char *path, const struct bench_cfg *cfg)
{
	union {
		struct fill_result fill;
		struct speed_result speed;
	} res;
	int m = cfg->child_measure;
	size_t put = 0;
	struct job j;

	memset(&res, 0, sizeof(res));
	if (prepare_job(&j, path, cfg, measures[m].needs_speed_plan))
		return 1;
	measures[m].fn(&j, &res);
	while (put < measures[m].res_size) {
		ssize_t n = write(cfg->child_fd, (char *)&res + put, measures[m].res_size - put);

		if (n <= 0)
			return 1;
		put += n;
	}
	return 0;
}

/*
 * Run measurement @m on @path in a fresh process: fork, then exec this program again with the
 * same pool and workload options plus "-X MEASURE:FD", and read its result into @res.
 */
static int in_child(int m, const char *path, const struct bench_cfg *cfg, void *res)
{
	char num[8][32], which[64];
	const char *args[24];
	int fds[2], status, n = 0;
	size_t got = 0, size = measures[m].res_size;
	pid_t pid;

	fflush(NULL);
	if (pipe(fds))
		return -1;
	snprintf(num[0], sizeof(num[0]), "%u", cfg->opts.max_pages_per_zspage);
	snprintf(num[1], sizeof(num[1]), "%u", cfg->opts.pack_bytes);
	snprintf(num[2], sizeof(num[2]), "%lu", cfg->opts.auto_compact_pages);
	snprintf(num[3], sizeof(num[3]), "%lu", cfg->live_objs);
	snprintf(num[4], sizeof(num[4]), "%lu", cfg->ops);
	snprintf(num[5], sizeof(num[5]), "%lu", cfg->warmup_ops);
	snprintf(num[6], sizeof(num[6]), "%llu", (unsigned long long)cfg->shrink_seed);
	snprintf(which, sizeof(which), "%s:%d", measures[m].name, fds[1]);
	args[n++] = "zs_bench";
	args[n++] = "-p";
	args[n++] = num[0];
	args[n++] = "-k";
	args[n++] = num[1];
	args[n++] = "-a";
	args[n++] = num[2];
	args[n++] = "-L";
	args[n++] = num[3];
	args[n++] = "-N";
	args[n++] = num[4];
	args[n++] = "-W";
	args[n++] = num[5];
	args[n++] = "-s";
	args[n++] = num[6];
	if (cfg->opts.flags & ZS_POOL_NO_PACK)
		args[n++] = "-n";
	args[n++] = "-X";
	args[n++] = which;
	args[n++] = path;
	args[n] = NULL;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		execv("/proc/self/exe", (char *const *)args);
		fprintf(stderr, "zs_bench: exec /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	while (got < size) {
		ssize_t r = read(fds[0], (char *)res + got, size - got);

		if (r <= 0)
			break;
		got += r;
	}
	close(fds[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	if (got != size || !WIFEXITED(status) || WEXITSTATUS(status)) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "zs_bench: %s child killed by signal %d (%s)\n",
				measures[m].name, WTERMSIG(status), strsignal(WTERMSIG(status)));
		return -1;
	}
	return 0;
}

/* ---- reporting ---- */

struct figure {
	const char *name;
	const char *label;
	const char *target;
	int decimals;
	double v[MAX_RUNS];
	int n;
};

enum {
	F_FILL_RSS,
	F_FILL_POOL,
	F_FILL_PAGES,
	F_FILL_GLIBC,
	F_FILL_VS_GLIBC,
	F_FREED_RSS,
	F_FREED_GLIBC,
	F_SHRINK_RSS,
	F_SHRINK_POOL,
	F_SHRINK_PAGES,
	F_SHRINK_GLIBC,
	F_SHRINK_VS_GLIBC,
	F_COMPACT_MS_MIB,
	F_COMPACT_MS,
	F_COMPACT_PAGES,
	F_SPEED_ZS,
	F_SPEED_GLIBC,
	F_SPEED_RATIO,
	NR_FIGURES
};

static struct figure figures[NR_FIGURES] = {
	[F_FILL_RSS] = { "fill_rss_ratio", "(a) fill: zs RSS growth / stored", "<= 1.03", 4 },
	[F_FILL_POOL] = { "fill_pool_ratio", "(a) fill: zs pool memory / stored", "<= 1.03", 4 },
	[F_FILL_PAGES] = { "fill_pages_ratio", "(a) fill: zs pool pages only / stored", "", 4 },
	[F_FILL_GLIBC] = { "fill_glibc_rss_ratio", "(a) fill: glibc RSS growth / stored", "", 4 },
	[F_FILL_VS_GLIBC] = { "fill_rss_vs_glibc", "(a) fill: zs RSS / glibc RSS", "", 4 },
	[F_FREED_RSS] = { "freed_rss_ratio", "(b) freed 3/4, no compact: zs RSS / live", "", 4 },
	[F_FREED_GLIBC] = { "freed_glibc_rss_ratio", "(b) freed 3/4, no trim: glibc RSS / live",
			    "", 4 },
	[F_SHRINK_RSS] = { "shrink_rss_ratio", "(b) freed 3/4 + zs_compact: RSS / live",
			   "<= 1.03", 4 },
	[F_SHRINK_POOL] = { "shrink_pool_ratio", "(b) freed 3/4 + zs_compact: pool / live",
			    "<= 1.03", 4 },
	[F_SHRINK_PAGES] = { "shrink_pages_ratio", "(b) freed 3/4 + zs_compact: pages / live", "",
			     4 },
	[F_SHRINK_GLIBC] = { "shrink_glibc_rss_ratio", "(b) freed 3/4 + malloc_trim: RSS / live",
			     "", 4 },
	[F_SHRINK_VS_GLIBC] = { "shrink_rss_vs_glibc", "(b) shrink: zs RSS / glibc RSS", "", 4 },
	[F_COMPACT_MS_MIB] = { "compact_ms_per_mib", "(b) zs_compact ms per MiB freed", "", 3 },
	[F_COMPACT_MS] = { "compact_ms", "(b) zs_compact time, ms", "", 3 },
	[F_COMPACT_PAGES] = { "compact_pages", "(b) pages freed by zs_compact", "", 0 },
	[F_SPEED_ZS] = { "speed_zs_ns_per_pair", "(c) zs_free + zs_malloc, ns/pair", "", 1 },
	[F_SPEED_GLIBC] = { "speed_glibc_ns_per_pair", "(c) free + malloc (glibc), ns/pair", "", 1 },
	[F_SPEED_RATIO] = { "speed_ratio", "(c) zs / glibc time per pair", "<= 1.5", 4 },
};

static void add(int f, double v)
{
	if (figures[f].n < MAX_RUNS && isfinite(v))
		figures[f].v[figures[f].n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const struct figure *f, double *lo, double *hi)
{
	double s[MAX_RUNS];

	if (!f->n)
		return NAN;
	memcpy(s, f->v, sizeof(double) * f->n);
	qsort(s, f->n, sizeof(double), cmp_double);
	*lo = s[0];
	*hi = s[f->n - 1];
	return f->n % 2 ? s[f->n / 2] : (s[f->n / 2 - 1] + s[f->n / 2]) / 2;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void report(const struct corpus *c)
{
	double lo = 0, hi = 0, m;
	int i, j;

	printf("\n%-44s %10s %10s %10s  %s\n", "figure", "median", "min", "max", "target");
	for (i = 0; i < NR_FIGURES; i++) {
		const struct figure *f = &figures[i];

		m = median(f, &lo, &hi);
		if (isnan(m))
			printf("%-44s %10s\n", f->label, "n/a");
		else
			printf("%-44s %10.*f %10.*f %10.*f  %s\n", f->label, f->decimals, m,
			       f->decimals, lo, f->decimals, hi, f->target);
	}
	printf("\n");
	for (i = 0; i < NR_FIGURES; i++) {
		const struct figure *f = &figures[i];

		m = median(f, &lo, &hi);
		printf("FIGURE %s median=%.*f runs=", f->name, f->decimals, m);
		for (j = 0; j < f->n; j++)
			printf("%s%.*f", j ? "," : "", f->decimals, f->v[j]);
		printf(" corpus=%s\n", base_name(c->path));
	}
}

/* ---- main ---- */

static void usage(const char *argv0, int status)
{
	fprintf(status ? stderr : stdout,
		"usage: %s [options] [CORPUS...]   (default %s)\n"
		"  -r RUNS   runs per figure, medians reported (default 5, at most %d)\n"
		"  -p N      pool max_pages_per_zspage (0 = library default)\n"
		"  -k BYTES  pool pack_bytes (0 = library default)\n"
		"  -n        pool flag ZS_POOL_NO_PACK (no cross-class packing)\n"
		"  -a PAGES  pool auto_compact_pages (default 0: off)\n"
		"  -L N      (c) live objects (default 100000)\n"
		"  -N N      (c) timed operations (default 2000000)\n"
		"  -W N      (c) untimed warm-up operations (default 100000)\n"
		"  -s SEED   seed of the 3/4 freed in (b)\n"
		"  -S        skip (c), the speed figure\n"
		"  -V FILE   write the corpus page numbers (b) frees, one a line in the order it\n"
		"            frees them, to FILE ('-' for stdout) and exit;\n"
		"            bench/zram_compare.sh discards the same pages in the same order\n",
		argv0, DEFAULT_CORPUS, MAX_RUNS);
	exit(status);
}

static unsigned long parse_ulong(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "zs_bench: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

/* Load @path, compress it, decide each page's stored form for this pool setting, pick the
 * (b) victims and, when asked, the (c) operation sequence. */
static int prepare_job(struct job *j, const char *path, const struct bench_cfg *cfg,
		       int with_speed_plan)
{
	struct zs_pool *probe;

	memset(j, 0, sizeof(*j));
	j->cfg = cfg;
	if (load_corpus(&j->c, path))
		return -1;
	/* The huge threshold depends on the pool's settings: ask a pool made with them. */
	probe = zs_create_pool_opts("probe", &cfg->opts);
	if (!probe) {
		fprintf(stderr, "zs_bench: zs_create_pool_opts: %s\n", strerror(errno));
		return -1;
	}
	j->huge_size = zs_huge_class_size(probe);
	zs_destroy_pool(probe);
	plan_objects(&j->c, j->huge_size);
	if (!j->c.nobjs) {
		fprintf(stderr, "zs_bench: %s: every page is same-filled\n", path);
		return -1;
	}
	plan_victims(&j->c, cfg->shrink_seed);
	if (with_speed_plan)
		plan_speed(&j->plan, &j->c, cfg);
	return 0;
}

static void free_job(struct job *j)
{
	free(j->plan.size);
	free(j->plan.slot);
	free_corpus(&j->c);
}

/* Run @a then @b (or @b then @a on odd runs) in children; 0 when both succeeded. */
static int run_pair(int run, int a, void *ra, int b, void *rb, const char *path,
		    const struct bench_cfg *cfg)
{
	if (run & 1)
		return in_child(b, path, cfg, rb) || in_child(a, path, cfg, ra) ? -1 : 0;
	return in_child(a, path, cfg, ra) || in_child(b, path, cfg, rb) ? -1 : 0;
}

static int bench_corpus(const char *path, const struct bench_cfg *cfg, int do_speed)
{
	const struct corpus *c;
	struct job j;
	int run, failed = 0;

	if (prepare_job(&j, path, cfg, 0))
		return -1;
	c = &j.c;
	if (cfg->victims_out) {
		int ret = write_victims(c, cfg->victims_out);

		free_job(&j);
		return ret;
	}

	printf("zs_bench: %s: %zu pages, %lu same-filled, %zu objects (%lu huge, raw from %zu B), "
	       "stored %llu B, lz4 ratio %.3f\n",
	       path, c->npages, c->same_filled, c->nobjs, c->huge, j.huge_size, c->stored_bytes,
	       (double)c->npages * PAGE_SIZE / c->stored_bytes);
	printf("zs_bench: pool max_pages_per_zspage=%u pack_bytes=%u%s auto_compact_pages=%lu; "
	       "%d runs; (b) frees %zu objects, leaving %llu B live\n",
	       cfg->opts.max_pages_per_zspage ? cfg->opts.max_pages_per_zspage :
						ZS_DEFAULT_PAGES_PER_ZSPAGE,
	       cfg->opts.pack_bytes ? cfg->opts.pack_bytes : ZS_DEFAULT_PACK_BYTES,
	       cfg->opts.flags & ZS_POOL_NO_PACK ? " (no-pack)" : "",
	       cfg->opts.auto_compact_pages, cfg->runs, c->nvictims, c->live_bytes);
	if (do_speed)
		printf("zs_bench: (c) %lu live objects, %lu warm-up + %lu timed free+malloc pairs, "
		       "%d-byte write each\n",
		       cfg->live_objs, cfg->warmup_ops, cfg->ops, STAMP_BYTES);

	for (run = 0; run < NR_FIGURES; run++)
		figures[run].n = 0;

	for (run = 0; run < cfg->runs; run++) {
		struct fill_result zr, gr;
		struct speed_result zs, gs;

		if (run_pair(run, M_FILL_ZS, &zr, M_FILL_GLIBC, &gr, path, cfg) || !zr.ok ||
		    !gr.ok) {
			fprintf(stderr, "zs_bench: run %d: fill/shrink failed\n", run + 1);
			failed = 1;
			break;
		}
		add(F_FILL_RSS, zr.fill_rss);
		add(F_FILL_POOL, zr.fill_pool);
		add(F_FILL_PAGES, zr.fill_pages);
		add(F_FILL_GLIBC, gr.fill_rss);
		add(F_FILL_VS_GLIBC, (double)zr.fill_rss_bytes / gr.fill_rss_bytes);
		add(F_FREED_RSS, zr.freed_rss);
		add(F_FREED_GLIBC, gr.freed_rss);
		add(F_SHRINK_RSS, zr.shrink_rss);
		add(F_SHRINK_POOL, zr.shrink_pool);
		add(F_SHRINK_PAGES, zr.shrink_pages);
		add(F_SHRINK_GLIBC, gr.shrink_rss);
		add(F_SHRINK_VS_GLIBC, (double)zr.shrink_rss_bytes / gr.shrink_rss_bytes);
		if (zr.compact_pages)
			add(F_COMPACT_MS_MIB,
			    zr.compact_ms / ((double)zr.compact_pages * PAGE_SIZE / (1 << 20)));
		add(F_COMPACT_MS, zr.compact_ms);
		add(F_COMPACT_PAGES, zr.compact_pages);

		if (!do_speed)
			continue;
		if (run_pair(run, M_SPEED_ZS, &zs, M_SPEED_GLIBC, &gs, path, cfg) || !zs.ok ||
		    !gs.ok) {
			fprintf(stderr, "zs_bench: run %d: speed failed\n", run + 1);
			failed = 1;
			break;
		}
		add(F_SPEED_ZS, zs.ns_per_pair);
		add(F_SPEED_GLIBC, gs.ns_per_pair);
		add(F_SPEED_RATIO, zs.ns_per_pair / gs.ns_per_pair);
	}
	report(c);
	free_job(&j);
	return failed ? -1 : 0;
}

/* -X MEASURE:FD, given only by in_child(). */
static int parse_child(const char *arg, struct bench_cfg *cfg)
{
	const char *colon = strchr(arg, ':');
	int m;

	if (!colon)
		return -1;
	for (m = 0; m < NR_MEASURES; m++) {
		if (strlen(measures[m].name) == (size_t)(colon - arg) &&
		    !strncmp(arg, measures[m].name, colon - arg)) {
			cfg->child_measure = m;
			cfg->child_fd = parse_ulong(colon + 1, "child fd");
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct bench_cfg cfg = {
		.runs = 5,
		.live_objs = 100000,
		.warmup_ops = 100000,
		.ops = 2000000,
		.shrink_seed = DEFAULT_SHRINK_SEED,
	};
	int opt, i, do_speed = 1, status = 0;

	cfg.child_measure = -1;
	while ((opt = getopt(argc, argv, "r:p:k:na:L:N:W:s:SV:X:h")) != -1) {
		switch (opt) {
		case 'r':
			cfg.runs = parse_ulong(optarg, "run count");
			if (cfg.runs < 1 || cfg.runs > MAX_RUNS)
				usage(argv[0], 2);
			break;
		case 'p':
			cfg.opts.max_pages_per_zspage = parse_ulong(optarg, "pages per zspage");
			break;
		case 'k':
			cfg.opts.pack_bytes = parse_ulong(optarg, "pack bytes");
			break;
		case 'n':
			cfg.opts.flags |= ZS_POOL_NO_PACK;
			break;
		case 'a':
			cfg.opts.auto_compact_pages = parse_ulong(optarg, "auto-compact pages");
			break;
		case 'L':
			cfg.live_objs = parse_ulong(optarg, "live object count");
			if (!cfg.live_objs || cfg.live_objs > UINT32_MAX)
				usage(argv[0], 2);
			break;
		case 'N':
			cfg.ops = parse_ulong(optarg, "operation count");
			if (!cfg.ops)
				usage(argv[0], 2);
			break;
		case 'W':
			cfg.warmup_ops = parse_ulong(optarg, "warm-up count");
			break;
		case 's':
			cfg.shrink_seed = parse_ulong(optarg, "seed");
			break;
		case 'S':
			do_speed = 0;
			break;
		case 'V':
			cfg.victims_out = optarg;
			break;
		case 'X':
			if (parse_child(optarg, &cfg))
				usage(argv[0], 2);
			break;
		case 'h':
			usage(argv[0], 0);
			break;
		default:
			usage(argv[0], 2);
		}
	}
	if (cfg.child_measure >= 0)
		return optind == argc - 1 ? child_main(argv[optind], &cfg) : 2;
	if (optind == argc) {
		if (bench_corpus(DEFAULT_CORPUS, &cfg, do_speed))
			status = 1;
	}
	for (i = optind; i < argc; i++) {
		if (i > optind)
			printf("\n");
		if (bench_corpus(argv[i], &cfg, do_speed))
			status = 1;
		if (cfg.victims_out)
			break;
	}
	return status;
}
