/*
 * bm_common.h - what several benchmark bodies share: a clock, a seeded generator, the process's
 * RSS, and the page corpora (bench/bench.mk makes corpus-KIND.bin with the shared
 * make-corpus.py), with each page's stored form as zram would store it.
 */
#ifndef BENCH_BM_COMMON_H
#define BENCH_BM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

#define BM_PAGE 4096

/* The corpus kinds every macro benchmark runs over; bm_kind_names[i] names kind i. */
enum bm_kind { BM_KIND_MIXED, BM_KIND_BIN, BM_KIND_TEXT, BM_NR_KINDS };
extern const char *const bm_kind_names[BM_NR_KINDS];

/* Monotonic seconds. */
double bm_now(void);
/* Seconds of CPU time the calling thread has used (user + system). */
double bm_cpu_now(void);

/* The seeded generator of tests/test_util.h: one state per user, so that every body's choices
 * are fixed by its seed. */
#define bm_rand tu_rand

/* Shuffle @n uint32_t in place with the generator @state. */
void bm_shuffle(uint32_t *v, size_t n, uint64_t *state);

/* Resident set size of this process in bytes, or -1. */
static inline long long bm_rss_bytes(void)
{
	size_t rss = tu_rss_bytes();

	return rss ? (long long)rss : -1;
}

/* calloc that faults every page in at once (so later RSS readings are not ours) and exits
 * with a message when memory runs out: benchmarks have no way to go on without it. */
void *bm_alloc(size_t size);

/*
 * A corpus, read once per process and kept: @pages are the file's 4 KiB pages.  For each page,
 * @lz4_len is the length of its LZ4_compress_default() image (kept in @lz4, LZ4_COMPRESSBOUND
 * apart), 0 when LZ4 could not compress it, -1 when the page is one 8-byte word repeated
 * (zram's "same-filled" pages, which take no memory).
 */
struct bm_corpus {
	enum bm_kind kind;
	const char *path;
	const unsigned char *pages;
	size_t npages;
	const unsigned char *lz4;
	size_t lz4_stride;
	const int *lz4_len;
	unsigned long same_filled;
};

/* bm_corpus_get - the corpus of @kind under bm_corpus_dir(), loading it on first use
 * (thread-safe).  @return it, or NULL with a message when the file is missing or bad. */
const struct bm_corpus *bm_corpus_get(enum bm_kind kind);

/* The same, from an explicit path, not cached (for child processes). */
struct bm_corpus *bm_corpus_load(const char *path, enum bm_kind kind);

/*
 * The objects zram would keep for a corpus, in corpus order: same-filled pages are left out,
 * a page whose LZ4 image is at least @huge_size bytes (or that did not compress) is kept raw
 * in 4096 bytes.  bm_object_data() points at the bytes to store for object @i.
 */
struct bm_objects {
	size_t n;
	uint32_t *page; /* corpus page of each object */
	uint16_t *len;	/* stored length of each object */
	unsigned long long bytes;
	unsigned long huge;
};

void bm_objects_plan(struct bm_objects *o, const struct bm_corpus *c, size_t huge_size);
void bm_objects_free(struct bm_objects *o);
const void *bm_object_data(const struct bm_corpus *c, const struct bm_objects *o, size_t i);

/* zs_huge_class_size() of a default pool (where zram starts storing pages raw), or 0 when no
 * pool can be made. */
size_t bm_huge_size(void);

/* Is the page one 8-byte word repeated? */
int bm_page_same_filled(const void *page);

#endif /* BENCH_BM_COMMON_H */
