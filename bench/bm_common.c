/*
 * bm_common.c - helpers shared by the benchmark bodies: clock, RSS, corpora and their stored
 * forms.  No benchmark is registered here.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lz4.h>
#include <zs/zsmalloc.h>

#include "bench.h"
#include "bm_common.h"

const char *const bm_kind_names[BM_NR_KINDS] = {"mixed", "bin", "text"};

double bm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double bm_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void bm_shuffle(uint32_t *v, size_t n, uint64_t *state)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = bm_rand(state) % i;
		uint32_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

void *bm_alloc(size_t size)
{
	unsigned char *p = calloc(1, size ? size : 1);
	size_t off;

	if (!p) {
		fprintf(stderr, "bench: out of memory (%zu bytes)\n", size);
		exit(1);
	}
	/* calloc may hand out untouched mmap'd pages; write one byte per page to fault them. */
	for (off = 0; off < size; off += BM_PAGE)
		((volatile unsigned char *)p)[off] = 0;
	return p;
}

int bm_page_same_filled(const void *page)
{
	const unsigned char *b = page;
	uint64_t first, w;
	size_t off;

	memcpy(&first, b, sizeof(first));
	for (off = sizeof(first); off < BM_PAGE; off += sizeof(w)) {
		memcpy(&w, b + off, sizeof(w));
		if (w != first)
			return 0;
	}
	return 1;
}

struct bm_corpus *bm_corpus_load(const char *path, enum bm_kind kind)
{
	struct bm_corpus *c;
	unsigned char *pages, *lz4;
	int *len;
	size_t size, done = 0, i;
	off_t end;
	int fd = open(path, O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < BM_PAGE || lseek(fd, 0, SEEK_SET) < 0) {
		fprintf(stderr, "bench: %s: not a corpus of 4 KiB pages\n", path);
		close(fd);
		return NULL;
	}
	size = (size_t)end / BM_PAGE * BM_PAGE;
	pages = bm_alloc(size);
	while (done < size) {
		ssize_t n = read(fd, pages + done, size - done);

		if (n <= 0) {
			fprintf(stderr, "bench: %s: short read\n", path);
			close(fd);
			free(pages);
			return NULL;
		}
		done += n;
	}
	close(fd);

	c = bm_alloc(sizeof(*c));
	c->kind = kind;
	c->path = strdup(path);
	c->pages = pages;
	c->npages = size / BM_PAGE;
	c->lz4_stride = LZ4_COMPRESSBOUND(BM_PAGE);
	lz4 = bm_alloc(c->lz4_stride * c->npages);
	len = bm_alloc(sizeof(*len) * c->npages);
	for (i = 0; i < c->npages; i++) {
		const unsigned char *page = pages + i * BM_PAGE;

		if (bm_page_same_filled(page)) {
			len[i] = -1;
			c->same_filled++;
			continue;
		}
		len[i] = LZ4_compress_default((const char *)page, (char *)lz4 + i * c->lz4_stride,
					      BM_PAGE, (int)c->lz4_stride);
		if (len[i] < 0)
			len[i] = 0;
	}
	c->lz4 = lz4;
	c->lz4_len = len;
	return c;
}

static pthread_mutex_t corpus_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bm_corpus *corpora[BM_NR_KINDS];

const struct bm_corpus *bm_corpus_get(enum bm_kind kind)
{
	struct bm_corpus *c;

	pthread_mutex_lock(&corpus_lock);
	c = corpora[kind];
	if (!c) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/corpus-%s.bin", bm_corpus_dir(),
			 bm_kind_names[kind]);
		c = corpora[kind] = bm_corpus_load(path, kind);
	}
	pthread_mutex_unlock(&corpus_lock);
	return c;
}

size_t bm_huge_size(void)
{
	struct zs_pool *probe = zs_create_pool("probe");
	size_t huge = probe ? zs_huge_class_size(probe) : 0;

	zs_destroy_pool(probe);
	return huge;
}

void bm_objects_plan(struct bm_objects *o, const struct bm_corpus *c, size_t huge_size)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	o->page = bm_alloc(sizeof(*o->page) * c->npages);
	o->len = bm_alloc(sizeof(*o->len) * c->npages);
	for (i = 0; i < c->npages; i++) {
		int len = c->lz4_len[i];

		if (len < 0)
			continue;
		if (len == 0 || (size_t)len >= huge_size) {
			len = BM_PAGE;
			o->huge++;
		}
		o->page[o->n] = i;
		o->len[o->n] = len;
		o->bytes += len;
		o->n++;
	}
}

void bm_objects_free(struct bm_objects *o)
{
	free(o->page);
	free(o->len);
	memset(o, 0, sizeof(*o));
}

const void *bm_object_data(const struct bm_corpus *c, const struct bm_objects *o, size_t i)
{
	uint32_t page = o->page[i];

	if (o->len[i] == BM_PAGE)
		return c->pages + (size_t)page * BM_PAGE;
	return c->lz4 + (size_t)page * c->lz4_stride;
}
