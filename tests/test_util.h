/*
 * What every test program, stress program, fuzz target and benchmark shares, with no test
 * framework behind it: the seeded generator, the kinds of 4 KiB pages a swap device sees, and
 * the process's memory figures from /proc.  Suite-specific helpers (Criterion assertions,
 * payload stamps, areas with options) live in zs_test_util.h and swap_test_util.h on top.
 *
 * Everything is static inline, so a file includes it and uses only what it needs.
 */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <ctype.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TU_PAGE 4096

/* ---- the generator: splitmix64 ---------------------------------------------------------- */

/* The finaliser alone: consecutive inputs give unrelated outputs (stamps, pattern bytes).
 * Always inlined, also into the fuzz targets' uninstrumented helpers (fuzz.h's FZ_DATA), which
 * clang would otherwise not inline it into, their sanitizer attributes being different. */
static inline __attribute__((always_inline)) uint64_t tu_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The next value of the sequence whose state is *@s: fixed by the seed, one state per user. */
static inline uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s;

	*s += 0x9e3779b97f4a7c15ULL;
	return tu_mix64(x);
}

/* ---- page makers ------------------------------------------------------------------------- */

enum tu_page_kind {
	TU_PAGE_TEXT,	/* words of C source: compresses well */
	TU_PAGE_BIN,	/* code-like: a small vocabulary of 6-byte "instructions" */
	TU_PAGE_ZERO,	/* all zero: same-filled */
	TU_PAGE_WORD,	/* one non-zero 8-byte word repeated: same-filled */
	TU_PAGE_RANDOM, /* incompressible */
	TU_PAGE_HEAP,	/* mostly zero with a few pointers, never same-filled */
	TU_PAGE_NR_KINDS
};

/* Fill @p (TU_PAGE bytes) with a page of @kind made from @seed: equal seeds, equal pages. */
static inline void tu_make_page(void *p, enum tu_page_kind kind, uint64_t seed)
{
	static const char *const words[] = {"swap ",   "page ",	  "the ",  "cluster ", "entry ",
					    "return ", "static ", "int ",  "struct ",  "{\n",
					    "}\n",     "\tif (",  "count "};
	unsigned char *b = p;
	uint64_t s = seed;

	switch (kind) {
	case TU_PAGE_ZERO:
		memset(p, 0, TU_PAGE);
		break;
	case TU_PAGE_WORD: {
		uint64_t w = tu_rand(&s) | 1; /* never zero: that is TU_PAGE_ZERO */
		for (int i = 0; i < TU_PAGE / 8; i++)
			memcpy(b + 8 * i, &w, 8);
		break;
	}
	case TU_PAGE_RANDOM:
		for (int i = 0; i < TU_PAGE / 8; i++) {
			uint64_t w = tu_rand(&s);
			memcpy(b + 8 * i, &w, 8);
		}
		break;
	case TU_PAGE_TEXT: {
		int at = 0;
		while (at < TU_PAGE) {
			const char *w = words[tu_rand(&s) % 13];
			int l = (int)strlen(w);
			if (at + l > TU_PAGE)
				l = TU_PAGE - at;
			memcpy(b + at, w, (size_t)l);
			at += l;
		}
		break;
	}
	case TU_PAGE_BIN: {
		unsigned char ops[32][6];
		uint64_t k = seed % 7; /* few distinct vocabularies */
		for (int i = 0; i < 32; i++)
			for (int j = 0; j < 6; j++)
				ops[i][j] = (unsigned char)tu_rand(&k);
		for (int at = 0; at < TU_PAGE; at += 6) {
			uint64_t r = tu_rand(&s);
			int l = TU_PAGE - at < 6 ? TU_PAGE - at : 6;
			memcpy(b + at, ops[r % 32], (size_t)l);
			if ((r >> 8) % 4 == 0)
				b[at] = (unsigned char)(r >> 16);
		}
		break;
	}
	case TU_PAGE_HEAP:
	default:
		memset(p, 0, TU_PAGE);
		for (int i = 0; i < 40; i++) {
			uint64_t v = 0x7f0000000000ULL + (tu_rand(&s) & 0xfffff0);
			memcpy(b + 8 * (tu_rand(&s) % (TU_PAGE / 8)), &v, 8);
		}
		b[0] = 1; /* never same-filled */
		break;
	}
}

/* ---- /proc readers ----------------------------------------------------------------------- */

/* Field @idx of /proc/self/statm in bytes (0: address space, 1: resident); 0 if unreadable. */
static inline size_t tu_statm_bytes(int idx)
{
	unsigned long v[7] = {0};
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%lu %lu %lu %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &v[6]);
	fclose(f);
	if (n < idx + 1)
		return 0;
	return v[idx] * (size_t)sysconf(_SC_PAGESIZE);
}

static inline size_t tu_rss_bytes(void)
{
	return tu_statm_bytes(1);
}

static inline size_t tu_vm_bytes(void)
{
	return tu_statm_bytes(0);
}

/* ---- expected crashes ------------------------------------------------------------------ */

/*
 * Run @fn(@arg) in a forked child and report whether it died of SIGABRT having written @needle
 * to stderr (the debug build's "invariant broken" message, say).  The child's stderr is
 * captured, not shown.
 */
static inline bool tu_aborts_with(void (*fn)(void *), void *arg, const char *needle)
{
	char out[4096];
	size_t len = 0;
	int fds[2], status;
	pid_t pid;

	if (pipe(fds))
		return false;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		fn(arg);
		_exit(0); /* it was meant to abort */
	}
	close(fds[1]);
	for (ssize_t n;
	     len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0;)
		len += (size_t)n;
	out[len] = 0;
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, needle);
}

/*
 * Bytes of RAM (Rss) of the mappings named [anon:@name] in /proc/self/smaps (named with
 * prctl(PR_SET_VMA_ANON_NAME), as libswap names a region and its swap cache); -1 if no mapping
 * has that name (a kernel without CONFIG_ANON_VMA_NAME).
 */
static inline long long tu_smaps_rss_bytes(const char *name)
{
	char line[512], want[80];
	long long total = -1;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "[anon:%s]", name);
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line), wl = strlen(want);
		unsigned long kb;

		while (len && (line[len - 1] == '\n' || line[len - 1] == ' '))
			line[--len] = 0;
		/* a mapping's header line: "start-end perms offset dev inode [name]" */
		if (isxdigit((unsigned char)line[0]) && strchr(line, '-') && !strstr(line, " kB")) {
			in = len >= wl && !strcmp(line + len - wl, want);
			if (in && total < 0)
				total = 0;
			continue;
		}
		if (in && sscanf(line, "Rss: %lu kB", &kb) == 1)
			total += (long long)kb * 1024;
	}
	fclose(f);
	return total;
}

#endif /* TEST_UTIL_H */
