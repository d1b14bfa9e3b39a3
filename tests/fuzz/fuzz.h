/*
 * fuzz.h - what the fuzz targets share: a reader that turns the fuzzer's bytes into choices,
 * pages made from a (kind, seed) pair so a shadow model can keep two numbers per page, the
 * check that ends a run on a broken property, the handles a model freed last, and a private
 * scratch folder for swap files.
 *
 * Each fuzz_*.c is one property and defines LLVMFuzzerTestOneInput(); libFuzzer gives it a
 * main() in `make fuzz`, and replay.c gives it one that replays the committed corpus in
 * `make test`.  The fuzzing build compiles the library sources itself, with coverage
 * instrumentation; the replay build links this build's libzs.a and libswap.a (fuzz.mk).  Either
 * way a target is linked statically, so it may look at library internals where a property
 * needs it.
 */
#ifndef ZS_FUZZ_H
#define ZS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * FZ_DATA: a helper that only makes or compares bytes (patterns, pages).  Its loops tell the
 * fuzzer nothing about the library, and tracing their comparisons cost more than the library
 * calls of a run, so clang leaves them uninstrumented for coverage.  Never inlined: inlined
 * into an instrumented caller, its loops would be instrumented as the caller's (that took half
 * of fuzz_swap_header's time).  Nor checked by ASan: the bytes are the harness's own buffers or
 * pool memory, which ASan knows nothing of (libzs maps it itself), and the checks of every
 * word written were most of the cost of making a page.
 */
#if defined(__clang__)
#define FZ_DATA __attribute__((no_sanitize("coverage", "address"), noinline))
#else
#define FZ_DATA
#endif

/* The fuzzer's bytes, read front to back; past the end every read gives zeros. */
struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_more(const struct fz *f)
{
	return f->n > 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t v = fz_u8(f);
	return (uint16_t)(v | fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t v = fz_u16(f);
	return v | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t v = fz_u32(f);
	return v | (uint64_t)fz_u32(f) << 32;
}

/* Copy up to @len bytes into @dst, zero-filling what the input does not cover. */
static inline void fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t n = len < f->n ? len : f->n;

	memcpy(dst, f->p, n);
	memset((char *)dst + n, 0, len - n);
	f->p += n;
	f->n -= n;
}

/*
 * A broken property: say which and abort, which libFuzzer reports as a crash with the input
 * saved, and which fails the replay run in `make test`.
 */
#define fz_check(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property broken: %s: ", __FILE__, __LINE__,        \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * Whether the switch @name is on in the environment (set, not empty, not "0"): read once, into
 * *@cache (which starts at -1), since a target asks for every input.
 */
static inline bool fz_env_on(const char *name, int *cache)
{
	if (*cache < 0) {
		const char *e = getenv(name);
		*cache = e && *e && strcmp(e, "0") != 0;
	}
	return *cache;
}

/* Byte @i of the pattern named @seed. */
static inline uint8_t fz_pattern_byte(uint32_t seed, size_t i)
{
	return (uint8_t)(tu_mix64((uint64_t)seed << 32 | (i >> 3)) >> (8 * (i & 7)));
}

/* The pattern's bytes [0, @len), a word of the generator at a time (as fz_pattern_byte). */
FZ_DATA static inline void fz_pattern(void *dst, size_t len, uint32_t seed)
{
	uint8_t *d = dst;
	size_t w = 0;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Whole words at once: byte b of a word is bits 8b.. of its value, as memcpy lays it. */
	for (; w * 8 + 8 <= len; w++) {
		uint64_t v = tu_mix64((uint64_t)seed << 32 | w);

		memcpy(d + w * 8, &v, 8);
	}
#endif
	for (; w * 8 < len; w++) {
		uint64_t v = tu_mix64((uint64_t)seed << 32 | w);
		size_t n = len - w * 8 < 8 ? len - w * 8 : 8;

		for (size_t b = 0; b < n; b++)
			d[w * 8 + b] = (uint8_t)(v >> (8 * b));
	}
}

/* Whether @p holds the first @len (at most FZ_PAGE) bytes of the pattern named @seed. */
FZ_DATA static inline bool fz_pattern_is(const void *p, size_t len, uint32_t seed)
{
	uint8_t want[4096];

	if (len > sizeof(want))
		return false;
	fz_pattern(want, len, seed);
	return memcmp(p, want, len) == 0;
}

/*
 * The last FZ_MAX_STALE handles or entries a target freed, so that its input can name one of
 * them again.
 */
#define FZ_MAX_STALE 64

struct fz_stale {
	uint64_t v[FZ_MAX_STALE];
	unsigned n; /* how many were ever added */
};

static inline void fz_stale_add(struct fz_stale *s, uint64_t v)
{
	s->v[s->n++ % FZ_MAX_STALE] = v;
}

/* One of the remembered values, chosen by the input, or @none when nothing was freed yet. */
static inline uint64_t fz_stale_pick(const struct fz_stale *s, struct fz *f, uint64_t none)
{
	if (!s->n)
		return none;
	return s->v[fz_u8(f) % (s->n < FZ_MAX_STALE ? s->n : FZ_MAX_STALE)];
}

#define FZ_PAGE 4096

/*
 * The kinds of page a swap device sees, each taking a different path through a backend: zero
 * and same-filled pages (no allocation), text-like and half-empty pages (compressed), random
 * pages (stored raw), and a page that is same-filled but for one byte.
 */
enum fz_page_kind { FZ_ZERO, FZ_WORD, FZ_TEXT, FZ_HALF, FZ_RANDOM, FZ_ALMOST, FZ_NR_KINDS };

FZ_DATA static inline void fz_make_page(void *page, unsigned kind, uint32_t seed)
{
	uint8_t *b = page;
	uint64_t w = tu_mix64(seed) | 1;

	switch (kind % FZ_NR_KINDS) {
	case FZ_ZERO:
		memset(b, 0, FZ_PAGE);
		break;
	case FZ_WORD:
	case FZ_ALMOST:
		for (size_t i = 0; i < FZ_PAGE; i += 8)
			memcpy(b + i, &w, 8);
		if (kind % FZ_NR_KINDS == FZ_ALMOST)
			b[seed % FZ_PAGE] ^= 0x5a;
		break;
	case FZ_TEXT:
		/* a few distinct bytes in runs: lz4 and zstd both shrink it a lot */
		/* byte i is 'a' + pattern byte i / 16, low 3 bits: a word of the pattern a time */
		for (size_t j = 0; j < FZ_PAGE / 16; j += 8) {
			uint64_t v = tu_mix64((uint64_t)seed << 32 | (j >> 3));

			for (size_t k = 0; k < 8; k++)
				memset(b + (j + k) * 16, 'a' + (int)(v >> (8 * k) & 7), 16);
		}
		break;
	case FZ_HALF:
		memset(b, 0, FZ_PAGE);
		fz_pattern(b, FZ_PAGE / 2, seed);
		break;
	default:
		fz_pattern(b, FZ_PAGE, seed);
		break;
	}
}

/*
 * A folder of our own for swap files, made once per process (in /dev/shm when there is one,
 * so a run does not wear a disk) and removed at exit.  Targets remove their files after each
 * input.
 */
static char fz_dir[64];

static inline void fz_rmdir(void)
{
	rmdir(fz_dir);
}

static inline const char *fz_scratch_dir(void)
{
	if (!fz_dir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(fz_dir, sizeof(fz_dir), "%s/zs-fuzz-XXXXXX", base);
		fz_check(mkdtemp(fz_dir) != NULL, "mkdtemp %s", fz_dir);
		atexit(fz_rmdir);
	}
	return fz_dir;
}

#ifdef FZ_SPARSE_FILES
#include <errno.h>
#include <sys/stat.h>

/*
 * Swap files in /dev/shm: posix_fallocate gives each of their pages memory and zeroes it, and
 * unlink frees it again, a fifth of fuzz_swap_ops's time (perf; half of what its inputs' runs
 * took, libFuzzer's own work being most of the rest).  No property of a target depends on the
 * blocks being there ahead of use (a hole reads as zeros, as an allocated page does), so a
 * target that defines FZ_SPARSE_FILES before including this file is linked with posix_fallocate
 * wrapped (FUZZ_WRAP_<target> in fuzz.mk) to only set the size, leaving the file sparse.
 * FZ_REAL_FALLOCATE=1 in the environment allocates for real.
 */
int __real_posix_fallocate(int fd, off_t off, off_t len);
int __wrap_posix_fallocate(int fd, off_t off, off_t len);

int __wrap_posix_fallocate(int fd, off_t off, off_t len)
{
	static int real = -1;
	struct stat st;

	if (fz_env_on("FZ_REAL_FALLOCATE", &real))
		return __real_posix_fallocate(fd, off, len);
	if (fstat(fd, &st))
		return errno;
	if (st.st_size < off + len && ftruncate(fd, off + len))
		return errno;
	return 0;
}
#endif

#endif /* ZS_FUZZ_H */
