/*
 * Helpers shared by the libswap tests (page makers and the generator are in test_util.h):
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
#include "test_util.h"

#define PAGE SWAP_PAGE_SIZE

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
	enum tu_page_kind k = st.kind == 0   ? TU_PAGE_TEXT
			      : st.kind == 1 ? TU_PAGE_BIN
					     : TU_PAGE_HEAP;
	tu_make_page(p, k, ((uint64_t)tid << 40) ^ seq);
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
