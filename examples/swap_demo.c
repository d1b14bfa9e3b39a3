/*
 * swap_demo: run a corpus of pages through libswap as a program paging out its cold memory
 * would: a compressed memory area (lz4, higher priority, limited in slots and memory) in front
 * of a swap file in the Linux format (in a temporary folder).  Reports the compression ratio,
 * the memory used, and swap_out / swap_in throughput; checks every page; cleans up.
 *
 * usage: swap_demo CORPUS [MEMORY_SHARE_PERCENT]
 *   CORPUS: a file of 4 KiB pages (bench/make-corpus.py makes one).
 *   MEMORY_SHARE_PERCENT: how much of the corpus the memory area has slots for (default 75);
 *   its memory is limited to a quarter of the corpus, so the file gets what does not fit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zs/swap.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *load(const char *path, long *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f) {
		fprintf(stderr, "swap_demo: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	*n = size / SWAP_PAGE_SIZE;
	buf = *n ? malloc((size_t)*n * SWAP_PAGE_SIZE) : NULL;
	if (!buf || fread(buf, SWAP_PAGE_SIZE, (size_t)*n, f) != (size_t)*n) {
		fprintf(stderr, "swap_demo: %s: cannot read %ld pages\n", path, *n);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200], out[SWAP_PAGE_SIZE];
	struct swap_area_opts mem = {.priority = 10, .compressor = "lz4"};
	struct swap_area_opts file = {.priority = 0, .label = "swap_demo"};
	struct swap_area_stats ms, fs;
	struct swap_ctx *ctx;
	swp_entry_t *e;
	long n, bad = 0, share = argc > 2 ? atol(argv[2]) : 75;
	double t_out, t_in;
	char *pages;
	int tm, tf, rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS [MEMORY_SHARE_PERCENT]\n", argv[0]);
		return 2;
	}
	pages = load(argv[1], &n);
	if (!pages)
		return 1;
	if (share < 1 || share > 100)
		share = 75;
	snprintf(dir, sizeof(dir), "%s/swap_demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "swap_demo: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/swapfile", dir);
	e = calloc((size_t)n, sizeof(*e));
	ctx = swap_ctx_create();
	if (!e || !ctx)
		goto out;

	/* The memory area has slots for share% of the corpus and memory for a quarter of its
	 * bytes; the file takes the rest (and has room for everything). */
	mem.nr_pages = (uint64_t)(n * share / 100) + 1;
	mem.mem_limit = (uint64_t)n * SWAP_PAGE_SIZE / 4;
	file.path = path;
	file.nr_pages =
	    (uint64_t)n + 1 < SWAP_MIN_FILE_PAGES ? SWAP_MIN_FILE_PAGES : (uint64_t)n + 1;
	tm = swap_on(ctx, &mem);
	tf = swap_on(ctx, &file);
	if (tm < 0 || tf < 0) {
		fprintf(stderr, "swap_demo: swap_on: %s\n", strerror(-(tm < 0 ? tm : tf)));
		goto out;
	}
	printf("swap_demo: %ld pages (%.1f MiB) from %s\n", n, mib((uint64_t)n * SWAP_PAGE_SIZE),
	       argv[1]);
	printf("  area %d: compressed memory, lz4, priority 10, %llu slots, limit %.1f MiB\n", tm,
	       (unsigned long long)mem.nr_pages, mib(mem.mem_limit));
	printf("  area %d: swap file %s, priority 0, %llu slots\n", tf, path,
	       (unsigned long long)file.nr_pages);

	t_out = now();
	for (long i = 0; i < n; i++) {
		e[i] = swap_out(ctx, pages + (size_t)i * SWAP_PAGE_SIZE);
		if (!e[i].val) {
			fprintf(stderr, "swap_demo: swap_out of page %ld: %s\n", i,
				strerror(errno));
			goto out;
		}
	}
	t_out = now() - t_out;
	swap_area_stats(ctx, tm, &ms);
	swap_area_stats(ctx, tf, &fs);

	t_in = now();
	for (long i = 0; i < n; i++) {
		int err = swap_in(ctx, e[i], out);
		if (err || memcmp(out, pages + (size_t)i * SWAP_PAGE_SIZE, SWAP_PAGE_SIZE)) {
			if (bad++ < 5)
				fprintf(stderr, "swap_demo: page %ld differs (%s)\n", i,
					err ? strerror(-err) : "wrong bytes");
		}
	}
	t_in = now() - t_in;

	printf("memory area: %llu pages (%llu same-filled, %llu stored raw), %.1f MiB of pages in "
	       "%.1f MiB compressed, %.1f MiB of pool memory (max %.1f MiB): ratio %.2f\n",
	       (unsigned long long)ms.inuse_pages, (unsigned long long)ms.same_pages,
	       (unsigned long long)ms.huge_pages, mib(ms.orig_data_size), mib(ms.compr_data_size),
	       mib(ms.mem_used_total), mib(ms.mem_used_max),
	       ms.mem_used_total ? (double)ms.orig_data_size / (double)ms.mem_used_total : 0.0);
	printf("swap file:   %llu pages (%.1f MiB)\n", (unsigned long long)fs.inuse_pages,
	       mib(fs.inuse_pages * SWAP_PAGE_SIZE));
	printf("overall:     %.1f MiB swapped out using %.1f MiB of memory and %.1f MiB of file\n",
	       mib((uint64_t)n * SWAP_PAGE_SIZE), mib(ms.mem_used_total),
	       mib(fs.inuse_pages * SWAP_PAGE_SIZE));
	printf(
	    "throughput:  swap_out %.0f pages/s (%.1f MiB/s), swap_in %.0f pages/s (%.1f MiB/s)\n",
	    (double)n / t_out, mib((uint64_t)n * SWAP_PAGE_SIZE) / t_out, (double)n / t_in,
	    mib((uint64_t)n * SWAP_PAGE_SIZE) / t_in);
	printf("verify:      %s\n", bad ? "FAILED" : "all pages intact");

	for (long i = 0; i < n; i++)
		swap_free(ctx, e[i]);
	if (swap_off(ctx, tm) || swap_off(ctx, tf))
		fprintf(stderr, "swap_demo: swap_off failed: entries left behind\n");
	else
		rc = bad ? 1 : 0;
out:
	swap_ctx_destroy(ctx);
	unlink(path);
	rmdir(dir);
	free(e);
	free(pages);
	return rc;
}
