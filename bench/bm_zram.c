/*
 * bm_zram.c - the kernel's zram (its zsmalloc) on the same corpora, for scale:
 *
 *   zram/lz4/KIND   reset /dev/zram0, lz4, then
 *     write   dd if=CORPUS of=/dev/zram0 bs=4096 oflag=direct     -> write_pages_per_s
 *     read    dd if=/dev/zram0 of=/dev/null bs=4096 iflag=direct  -> read_pages_per_s
 *     mm_stat mem_used_total / compr_data_size after the write     -> fill_mem_per_compr
 *     discard a random 3/4 of the stored pages (BLKDISCARD, page by page), mm_stat again
 *                                                                  -> freed_mem_per_compr
 *     echo 1 > compact, mm_stat again                              -> shrink_mem_per_compr
 *                                                                  compact_ms_per_MiB
 * mem_used_total counts the pool's pages only (not zram's table nor the handles), so it is to
 * be read beside libzs's *_pages figures (bm_memory.c).  dd is one stream: these rows do not
 * depend on the number of cores.
 *
 * Needs root and an unused /dev/zram0 (disksize 0, not swap, not mounted); otherwise every row
 * is skipped with the reason.  zram0 is left reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bm_common.h"

#define ZRAM_DEV "/dev/zram0"
#define ZRAM_SYS "/sys/block/zram0"

extern char **environ;

static int sys_write(const char *file, const char *value)
{
	char path[128];
	int fd, ok;

	snprintf(path, sizeof(path), ZRAM_SYS "/%s", file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	close(fd);
	return ok ? 0 : -EIO;
}

static int sys_read(const char *file, char *buf, size_t size)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), ZRAM_SYS "/%s", file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = 0;
	return 0;
}

struct mm_stat {
	unsigned long long orig, compr, mem_used, same, compacted, huge;
};

static int read_mm_stat(struct mm_stat *m)
{
	unsigned long long v[8];
	char buf[256];

	if (sys_read("mm_stat", buf, sizeof(buf)) ||
	    sscanf(buf, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) != 8)
		return -1;
	*m = (struct mm_stat){v[0], v[1], v[2], v[5], v[6], v[7]};
	return 0;
}

/* Why zram cannot be used here, or NULL when it can. */
static const char *zram_unavailable(void)
{
	char buf[256], line[256];
	FILE *f;

	if (geteuid() != 0)
		return "needs root (zram rows run under make bench as root)";
	if (access(ZRAM_SYS, F_OK) != 0) {
		/* the module may simply not be loaded yet */
		if (system("modprobe zram num_devices=1 >/dev/null 2>&1") != 0 ||
		    access(ZRAM_SYS, F_OK) != 0)
			return "no " ZRAM_SYS " (zram module not available)";
	}
	if (access(ZRAM_SYS "/reset", W_OK) || access(ZRAM_DEV, R_OK | W_OK))
		return ZRAM_SYS " or " ZRAM_DEV " is not writable";
	if (sys_read("disksize", buf, sizeof(buf)) || strtoull(buf, NULL, 10) != 0)
		return ZRAM_DEV " is in use (its disksize is set)";
	if (sys_read("comp_algorithm", buf, sizeof(buf)) || !strstr(buf, "lz4"))
		return "the kernel's zram has no lz4";
	f = fopen("/proc/swaps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, ZRAM_DEV " ", strlen(ZRAM_DEV) + 1)) {
			fclose(f);
			return ZRAM_DEV " is in use as swap";
		}
	}
	if (f)
		fclose(f);
	return NULL;
}

/* Run dd with @args (NULL-terminated, after "dd"); @return its wall time in seconds, or < 0. */
static double run_dd(const char *const *args)
{
	const char *argv[8] = {"dd"};
	double t0 = bm_now();
	pid_t pid;
	int i, status;

	/* posix_spawn's argv is not const for historical reasons; it never writes to it. */
	for (i = 0; i < 6 && args[i]; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (posix_spawnp(&pid, "dd", NULL, NULL, (char *const *)(uintptr_t)argv, environ))
		return -1;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return bm_now() - t0;
}

struct zram_run {
	double write_s, read_s, compact_s;
	struct mm_stat fill, freed, shrink;
};

static const char *zram_measure(const struct bm_corpus *c, struct zram_run *r, uint64_t *seed)
{
	char arg_if[4200], arg_count[64], size[32];
	const char *wr[] = {arg_if, "of=" ZRAM_DEV, "bs=4096", "oflag=direct", "status=none", NULL};
	const char *rd[] = {"if=" ZRAM_DEV, "of=/dev/null", "bs=4096", "iflag=direct",
			    arg_count,	    "status=none",  NULL};
	uint32_t *victims;
	size_t n = 0, i;
	int fd;

	snprintf(arg_if, sizeof(arg_if), "if=%s", c->path);
	snprintf(arg_count, sizeof(arg_count), "count=%zu", c->npages);
	snprintf(size, sizeof(size), "%zu", (c->npages + 4096) * BM_PAGE);
	if (sys_write("reset", "1") || sys_write("comp_algorithm", "lz4") ||
	    sys_write("disksize", size))
		return "could not set up " ZRAM_DEV;
	r->write_s = run_dd(wr);
	if (r->write_s < 0 || read_mm_stat(&r->fill))
		return "dd to " ZRAM_DEV " failed";
	r->read_s = run_dd(rd);
	if (r->read_s < 0)
		return "dd from " ZRAM_DEV " failed";

	/* discard a random 3/4 of the pages zram stores (same-filled ones take no memory) */
	victims = bm_alloc(sizeof(*victims) * c->npages);
	for (i = 0; i < c->npages; i++)
		if (c->lz4_len[i] >= 0)
			victims[n++] = i;
	bm_shuffle(victims, n, seed);
	fd = open(ZRAM_DEV, O_RDWR);
	for (i = 0; fd >= 0 && i < n * 3 / 4; i++) {
		uint64_t range[2] = {(uint64_t)victims[i] * BM_PAGE, BM_PAGE};

		if (ioctl(fd, BLKDISCARD, range))
			break;
	}
	free(victims);
	if (fd < 0 || i < n * 3 / 4) {
		if (fd >= 0)
			close(fd);
		return "BLKDISCARD on " ZRAM_DEV " failed";
	}
	close(fd);
	if (read_mm_stat(&r->freed))
		return "no mm_stat";
	r->compact_s = bm_now();
	if (sys_write("compact", "1"))
		return "compact failed";
	r->compact_s = bm_now() - r->compact_s;
	if (read_mm_stat(&r->shrink))
		return "no mm_stat";
	return NULL;
}

static void bm_zram(struct bm_state *s)
{
	const enum bm_kind *kind = bm_user(s);
	const struct bm_corpus *c;
	const char *why = zram_unavailable();
	struct zram_run r = {0};
	uint64_t seed = 0x5eedf00d;
	double mib;

	if (why) {
		bm_skip(s, why);
		return;
	}
	c = bm_corpus_get(*kind);
	if (!c) {
		bm_fail(s, "no corpus");
		return;
	}
	while (bm_keep_running(s)) {
		why = zram_measure(c, &r, &seed);
		sys_write("reset", "1");
		if (why)
			break;
		bm_set_iteration_time(s, r.write_s + r.read_s);
	}
	if (why) {
		bm_fail(s, why);
		return;
	}
	mib = (double)(r.shrink.compacted - r.freed.compacted) * BM_PAGE / (1 << 20);
	bm_counter(s, "write_pages_per_s", c->npages / r.write_s, 0);
	bm_counter(s, "read_pages_per_s", c->npages / r.read_s, 0);
	bm_counter(s, "fill_mem_per_compr", (double)r.fill.mem_used / r.fill.compr, 0);
	bm_counter(s, "freed_mem_per_compr", (double)r.freed.mem_used / r.freed.compr, 0);
	bm_counter(s, "shrink_mem_per_compr", (double)r.shrink.mem_used / r.shrink.compr, 0);
	bm_counter(s, "compact_ms_per_MiB", mib > 0 ? r.compact_s * 1e3 / mib : 0, 0);
	bm_counter(s, "same_pages", r.fill.same, 0);
	bm_counter(s, "huge_pages", r.fill.huge, 0);
}

static void cfg_zram(struct bm_bench *b)
{
	bm_fixed_iterations(b, 1);
	bm_manual_time(b);
	bm_unit(b, BM_MS);
}

static const enum bm_kind zram_kinds[BM_NR_KINDS] = {BM_KIND_MIXED, BM_KIND_BIN, BM_KIND_TEXT};

static void register_zram(void)
{
	char name[64];
	int k;

	for (k = 0; k < BM_NR_KINDS; k++) {
		snprintf(name, sizeof(name), "zram/lz4/%s", bm_kind_names[k]);
		bm_register(name, bm_zram, cfg_zram, &zram_kinds[k]);
	}
}
BM_INIT(register_zram);
