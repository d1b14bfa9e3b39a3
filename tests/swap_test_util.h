/*
 * Helpers shared by the libswap tests: page makers (the kinds of pages a swap device sees),
 * stamped pages for the stress tests, temporary folders, CPU pinning, running a command.
 */
#ifndef SWAP_TEST_UTIL_H
#define SWAP_TEST_UTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zs/swap.h>

#include "sanitizer.h"

#define PAGE SWAP_PAGE_SIZE

static inline uint64_t t_rand(uint64_t *s)
{
	/* splitmix64: a fixed, seedable sequence */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

enum page_kind { PK_TEXT, PK_BIN, PK_ZERO, PK_WORD, PK_RANDOM, PK_HEAP, PK_NR };

/* Fill @p with a page of @kind, made from @seed. */
static inline void make_page(void *p, enum page_kind kind, uint64_t seed)
{
	static const char *words[] = {"swap ",	 "page ",   "the ",  "cluster ", "entry ",
				      "return ", "static ", "int ",  "struct ",	 "{\n",
				      "}\n",	 "\tif (",  "count "};
	unsigned char *b = p;
	uint64_t s = seed;

	switch (kind) {
	case PK_ZERO:
		memset(p, 0, PAGE);
		break;
	case PK_WORD: {
		uint64_t w = t_rand(&s) | 1; /* never zero: that is PK_ZERO */
		for (int i = 0; i < PAGE / 8; i++)
			memcpy(b + 8 * i, &w, 8);
		break;
	}
	case PK_RANDOM:
		for (int i = 0; i < PAGE / 8; i++) {
			uint64_t w = t_rand(&s);
			memcpy(b + 8 * i, &w, 8);
		}
		break;
	case PK_TEXT: {
		int at = 0;
		while (at < PAGE) {
			const char *w = words[t_rand(&s) % 13];
			int l = (int)strlen(w);
			if (at + l > PAGE)
				l = PAGE - at;
			memcpy(b + at, w, (size_t)l);
			at += l;
		}
		break;
	}
	case PK_BIN: {
		/* code-like: a few dozen 6-byte "instructions", some with a random immediate */
		unsigned char ops[32][6];
		uint64_t k = seed % 7; /* few distinct vocabularies */
		for (int i = 0; i < 32; i++)
			for (int j = 0; j < 6; j++)
				ops[i][j] = (unsigned char)t_rand(&k);
		for (int at = 0; at < PAGE; at += 6) {
			uint64_t r = t_rand(&s);
			int l = PAGE - at < 6 ? PAGE - at : 6;
			memcpy(b + at, ops[r % 32], (size_t)l);
			if ((r >> 8) % 4 == 0)
				b[at] = (unsigned char)(r >> 16);
		}
		break;
	}
	case PK_HEAP:
	default:
		memset(p, 0, PAGE);
		for (int i = 0; i < 40; i++) {
			uint64_t v = 0x7f0000000000ULL + (t_rand(&s) & 0xfffff0);
			memcpy(b + 8 * (t_rand(&s) % (PAGE / 8)), &v, 8);
		}
		b[0] = 1; /* never same-filled */
		break;
	}
}

/* Stamped pages: a header naming the writer and a checksum of the rest. */
struct page_stamp {
	uint64_t magic;
	uint32_t tid;
	uint32_t kind;
	uint64_t seq;
	uint64_t sum;
};
#define STAMP_MAGIC 0x5357415053544d50ULL

static inline uint64_t page_sum(const unsigned char *b, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static inline void stamp_page(void *p, uint32_t tid, uint64_t seq)
{
	struct page_stamp st = {STAMP_MAGIC, tid, (uint32_t)(seq % 3), seq, 0};
	/* text, binary and mostly-zero bodies: all go through the compressor */
	enum page_kind k = st.kind == 0 ? PK_TEXT : st.kind == 1 ? PK_BIN : PK_HEAP;
	make_page(p, k, ((uint64_t)tid << 40) ^ seq);
	st.sum = page_sum((unsigned char *)p + sizeof(st), PAGE - sizeof(st));
	memcpy(p, &st, sizeof(st));
}

static inline bool check_stamp(const void *p, uint32_t tid, uint64_t seq)
{
	struct page_stamp st;
	memcpy(&st, p, sizeof(st));
	return st.magic == STAMP_MAGIC && st.tid == tid && st.seq == seq &&
	       st.sum == page_sum((const unsigned char *)p + sizeof(st), PAGE - sizeof(st));
}

/* A fresh temporary folder under $TMPDIR or /tmp; the caller removes it with rm_tree(). */
static inline char *make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path = malloc(4096);
	snprintf(path, 4096, "%s/libswap-test-XXXXXX", base && *base ? base : "/tmp");
	cr_assert_not_null(mkdtemp(path), "mkdtemp: %s", strerror(errno));
	return path;
}

/* @dir/@name, to free() after use. */
static inline char *path_in(const char *dir, const char *name)
{
	char *p = malloc(4096);
	snprintf(p, 4096, "%s/%s", dir, name);
	return p;
}

static inline int run_cmd(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void rm_tree(char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	run_cmd(cmd);
	free(path);
}

/* Pin the calling thread to @cpu; false if that CPU is not available. */
static inline bool pin_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 && sched_getcpu() == cpu;
}

static inline int nr_usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	return CPU_COUNT(&set);
}

/* A context with one memory area of @nr_pages slots. */
static inline struct swap_ctx *ctx_with_memory(uint64_t nr_pages, const char *compressor)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.nr_pages = nr_pages, .compressor = compressor};
	cr_assert_not_null(ctx);
	cr_assert_eq(swap_on(ctx, &o), 0);
	return ctx;
}

static inline struct swap_area_stats area_stats(struct swap_ctx *ctx, int type)
{
	struct swap_area_stats st;
	cr_assert_eq(swap_area_stats(ctx, type, &st), 0);
	return st;
}

static inline bool find_in_path(const char *prog, char *out, size_t len)
{
	static const char *dirs[] = {"/sbin", "/usr/sbin", "/bin", "/usr/bin", NULL};
	for (int i = 0; dirs[i]; i++) {
		snprintf(out, len, "%s/%s", dirs[i], prog);
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

#endif /* SWAP_TEST_UTIL_H */
