/*
 * Fault injection for libswap's file areas.  The test executable defines pread, pwrite and
 * posix_fallocate, so the shared library's calls come here first (symbol interposition) and go
 * on to the C library's (dlsym(RTLD_NEXT)) unless a fault is armed for that call.  A fault is
 * aimed at one file descriptor (the area's, found in /proc/self/fd) or at any, and is one of:
 * an error (-1 with an errno: EIO, ENOSPC, EINTR), a short transfer (half the bytes), or end of
 * file (pread returning 0).  mmap is interposed too, for the memory areas' libzs pools.
 *
 * Properties: a failed or short read gives -EIO and leaves the entry valid, and the same
 * swap_in returns the right page once the fault is gone; short transfers and EINTR are carried
 * on transparently; a failed write makes swap_out fall back to another area or fail with EIO,
 * giving the slot back; a torn write through swap_writepage leaves a slot that reads -EIO until
 * rewritten; a full file system is ENOSPC from swap_on (creating the file removed again) and
 * from swap_out; a swap file truncated or altered behind the library's back gives -EIO or
 * -EINVAL, never a crash; a memory area needs no address space to be swapped on, and when its
 * pool cannot get any swap_out is -ENOMEM or falls back to the next area.  The writeback tier's
 * backing file (pwritev is interposed too): a failed or short batch write leaves its pages in
 * memory and valid (counted in wb_failed), a failed read of a written-back page is -EIO with the
 * entry valid, ENOSPC keeps pages in memory, truncation or changed bytes (with SWAP_AREA_CHECKSUM)
 * behind the library's back give -EIO for the pages in the file and leave the rest alone.
 * Criterion runs each test in its own process, so faults start disarmed in each.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/uio.h>

#include "swap_test_util.h"

/* FI_TORN: the first call transfers half, the calls after it fail with the errno. */
enum fi_kind { FI_ERRNO = 1, FI_SHORT, FI_EOF, FI_TORN };

struct fi_op {
	int kind;   /* enum fi_kind; 0 = pass through */
	int err;    /* FI_ERRNO: the errno */
	int fd;	    /* the descriptor aimed at, -1 = any */
	long skip;  /* matching calls to let through first */
	long left;  /* then this many faults (-1: until disarmed) */
	long every; /* fault only one matching call in @every (0: each) */
	long seen;
};

static struct {
	pthread_mutex_t lock;
	struct fi_op read, write, alloc, map; /* map: libzs's MAP_NORESERVE mmaps, fd ignored */
	long injected;
} fi = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The sanitizers' runtimes read files while they start, before they can track anything. */
#define FI_EARLY __attribute__((no_sanitize("thread", "address", "undefined")))

FI_EARLY static void *real_fn(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		abort();
	return f;
}

/* The fault to inject into this call on @fd, or 0. */
FI_EARLY static int fi_take(struct fi_op *op, int fd, int *err)
{
	int kind = 0;

	if (!__atomic_load_n(&op->kind, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&fi.lock);
	if (op->kind && op->left && (op->fd < 0 || op->fd == fd)) {
		if (op->skip > 0) {
			op->skip--;
		} else if (op->every > 1 && op->seen++ % op->every) {
			/* let this one through */
		} else if (op->kind == FI_TORN) {
			kind = FI_SHORT;
			__atomic_store_n(&op->kind, FI_ERRNO, __ATOMIC_RELAXED);
			fi.injected++;
		} else {
			kind = op->kind;
			*err = op->err;
			if (op->left > 0)
				op->left--;
			fi.injected++;
		}
	}
	pthread_mutex_unlock(&fi.lock);
	return kind;
}

FI_EARLY ssize_t pread(int fd, void *buf, size_t n, off_t at)
{
	static ssize_t (*real)(int, void *, size_t, off_t);
	int err = 0;

	if (!real)
		real = real_fn("pread");
	switch (fi_take(&fi.read, fd, &err)) {
	case FI_ERRNO:
		errno = err;
		return -1;
	case FI_SHORT:
		return real(fd, buf, n > 1 ? n / 2 : n, at);
	case FI_EOF:
		return 0;
	default:
		return real(fd, buf, n, at);
	}
}

FI_EARLY ssize_t pwrite(int fd, const void *buf, size_t n, off_t at)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	int err = 0;

	if (!real)
		real = real_fn("pwrite");
	switch (fi_take(&fi.write, fd, &err)) {
	case FI_ERRNO:
		errno = err;
		return -1;
	case FI_SHORT:
		return real(fd, buf, n > 1 ? n / 2 : n, at);
	default:
		return real(fd, buf, n, at);
	}
}

/* The tier writes batches with pwritev: the same faults as pwrite (a short one writes half of
 * the first page). */
FI_EARLY ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t at)
{
	static ssize_t (*real)(int, const struct iovec *, int, off_t);
	static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
	int err = 0;

	if (!real) {
		real = real_fn("pwritev");
		real_pwrite = real_fn("pwrite");
	}
	switch (fi_take(&fi.write, fd, &err)) {
	case FI_ERRNO:
		errno = err;
		return -1;
	case FI_SHORT:
		return real_pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, at);
	default:
		return real(fd, iov, cnt, at);
	}
}

FI_EARLY int posix_fallocate(int fd, off_t at, off_t len)
{
	static int (*real)(int, off_t, off_t);
	int err = 0;

	if (!real)
		real = real_fn("posix_fallocate");
	if (fi_take(&fi.alloc, fd, &err) == FI_ERRNO)
		return err; /* posix_fallocate returns the error, errno is not set */
	return real(fd, at, len);
}

/* libzs reserves its pools' address space with MAP_NORESERVE: only those calls can fail. */
FI_EARLY void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	int err = 0;

	if (!real)
		real = real_fn("mmap");
	if ((flags & MAP_NORESERVE) && fi_take(&fi.map, -1, &err) == FI_ERRNO) {
		errno = err;
		return MAP_FAILED;
	}
	return real(addr, len, prot, flags, fd, off);
}

static void fi_arm(struct fi_op *op, int kind, int err, int fd, long skip, long left)
{
	pthread_mutex_lock(&fi.lock);
	*op = (struct fi_op){.err = err, .fd = fd, .skip = skip, .left = left};
	__atomic_store_n(&op->kind, kind, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fi.lock);
}

/* Stop; whether every armed fault was injected. */
static bool fi_disarm(struct fi_op *op)
{
	pthread_mutex_lock(&fi.lock);
	bool all = op->left == 0;
	__atomic_store_n(&op->kind, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&fi.lock);
	return all;
}

static long fi_injected(void)
{
	pthread_mutex_lock(&fi.lock);
	long n = fi.injected;
	pthread_mutex_unlock(&fi.lock);
	return n;
}

static void fi_report(void)
{
	cr_log_info("faults injected: %ld", fi_injected());
}

/* ---- helpers ---- */

/* The descriptor this process has open on @path (the area's), or -1. */
static int fd_of(const char *path)
{
	char want[PATH_MAX], link[PATH_MAX], name[300];
	struct dirent *d;
	DIR *dir;
	int fd = -1;

	if (!realpath(path, want))
		return -1;
	dir = opendir("/proc/self/fd");
	cr_assert_not_null(dir);
	while ((d = readdir(dir))) {
		ssize_t n;
		snprintf(name, sizeof(name), "/proc/self/fd/%s", d->d_name);
		n = readlink(name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strcmp(link, want) && atoi(d->d_name) != dirfd(dir)) {
			fd = atoi(d->d_name);
			break;
		}
	}
	closedir(dir);
	return fd;
}

/* A context with one swap file of @nr_pages slots (and a memory area of lower priority if
 * @with_memory); *fd is the file's descriptor inside the library. */
static struct swap_ctx *ctx_with_file(const char *path, uint64_t nr_pages, bool with_memory,
				      int *fd)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts f = {.path = path, .nr_pages = nr_pages, .priority = 10};
	struct swap_area_opts m = {.nr_pages = nr_pages, .priority = 1};

	cr_assert_not_null(ctx);
	cr_assert_eq(swap_on(ctx, &f), 0);
	if (with_memory)
		cr_assert_eq(swap_on(ctx, &m), 1);
	*fd = fd_of(path);
	cr_assert_geq(*fd, 0, "the area's descriptor not found");
	return ctx;
}

static swp_entry_t out_stamped(struct swap_ctx *ctx, uint32_t tid, uint64_t seq)
{
	char page[PAGE];
	swp_entry_t e;

	stamp_page(page, tid, seq);
	e = swap_out(ctx, page);
	cr_assert_neq(e.val, 0, "swap_out: %s", strerror(errno));
	return e;
}

static void assert_in(struct swap_ctx *ctx, swp_entry_t e, uint32_t tid, uint64_t seq)
{
	char page[PAGE];

	cr_assert_eq(swap_in(ctx, e, page), 0, "swap_in of slot %llu",
		     (unsigned long long)swp_offset(e));
	cr_assert(check_stamp(page, tid, seq), "slot %llu: wrong page",
		  (unsigned long long)swp_offset(e));
}

/* ---- reads ---- */

/* A read error, then end of file, on one swap_in each: -EIO, entry valid, then right data. */
Test(swap_faults, read_fault_is_eio_and_retryable)
{
	static const struct {
		int kind, err;
		long count;
	} faults[] = {{FI_ERRNO, EIO, 1}, {FI_EOF, 0, 1}, {FI_ERRNO, EIO, 3}, {FI_ERRNO, EBADF, 1}};
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	int fd;
	struct swap_ctx *ctx = ctx_with_file(path, 64, false, &fd);
	swp_entry_t e[8];
	char page[PAGE];
	uint64_t failed = 0;

	for (int i = 0; i < 8; i++)
		e[i] = out_stamped(ctx, 1, (uint64_t)i);
	for (size_t f = 0; f < sizeof(faults) / sizeof(faults[0]); f++) {
		int i = (int)f % 8;
		fi_arm(&fi.read, faults[f].kind, faults[f].err, fd, 0, faults[f].count);
		for (long k = 0; k < faults[f].count; k++) {
			memset(page, 0, sizeof(page));
			cr_assert_eq(swap_in(ctx, e[i], page), -EIO, "fault %zu, try %ld", f, k);
			failed++;
		}
		cr_assert(fi_disarm(&fi.read));
		cr_assert_eq(swap_count(ctx, e[i]), 1, "the entry keeps its reference");
		cr_assert_eq(area_stats(ctx, 0).failed_reads, failed);
		assert_in(ctx, e[i], 1, (uint64_t)i);
		cr_assert_eq(area_stats(ctx, 0).inuse_pages, 8);
	}
	for (int i = 0; i < 8; i++) {
		assert_in(ctx, e[i], 1, (uint64_t)i);
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	}
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/* Short transfers and EINTR are carried on: the caller never sees them. */
Test(swap_faults, short_io_and_eintr_are_completed)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	int fd;
	struct swap_ctx *ctx = ctx_with_file(path, 64, false, &fd);
	swp_entry_t e[8];

	/* every write is cut in half four times over (4096 -> 2048 -> ... -> 256 bytes, then the
	 * rest), and EINTR comes between them */
	for (int i = 0; i < 4; i++) {
		fi_arm(&fi.write, FI_SHORT, 0, fd, 0, 4);
		e[i] = out_stamped(ctx, 2, (uint64_t)i);
		cr_assert(fi_disarm(&fi.write));
		fi_arm(&fi.write, FI_ERRNO, EINTR, fd, 0, 3);
		e[i + 4] = out_stamped(ctx, 2, (uint64_t)i + 4);
		cr_assert(fi_disarm(&fi.write));
	}
	for (int i = 0; i < 8; i++) {
		fi_arm(&fi.read, i % 2 ? FI_SHORT : FI_ERRNO, EINTR, fd, 0, 5);
		assert_in(ctx, e[i], 2, (uint64_t)i);
		cr_assert(fi_disarm(&fi.read));
	}
	struct swap_area_stats st = area_stats(ctx, 0);
	cr_assert_eq(st.failed_reads + st.failed_writes, 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/* ---- writes ---- */

/*
 * swap_out into a file whose write fails: with a memory area of lower priority the page goes
 * there; with the file alone swap_out fails with EIO and gives the slot back.  Either way the
 * next swap_out into the file works once the fault is gone.
 */
Test(swap_faults, write_fault_falls_back_or_fails_cleanly)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	int fd;
	struct swap_ctx *ctx = ctx_with_file(path, 64, true, &fd);
	swp_entry_t e, keep = out_stamped(ctx, 3, 100);
	char page[PAGE];

	fi_arm(&fi.write, FI_ERRNO, EIO, fd, 0, 1);
	e = out_stamped(ctx, 3, 1);
	cr_assert(fi_disarm(&fi.write));
	cr_assert_eq(swp_type(e), 1, "the memory area took the page");
	cr_assert_eq(area_stats(ctx, 0).failed_writes, 1);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 1, "the failed slot was given back");
	assert_in(ctx, e, 3, 1);
	cr_assert_eq(swap_free(ctx, e), 0);
	swap_off(ctx, 1);

	/* the file alone: a torn write (half, then an error) */
	stamp_page(page, 3, 2);
	fi_arm(&fi.write, FI_TORN, EIO, fd, 0, 1);
	errno = 0;
	e = swap_out(ctx, page);
	cr_assert(fi_disarm(&fi.write));
	cr_assert_eq(e.val, 0);
	cr_assert_eq(errno, EIO, "errno %d", errno);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 1, "the failed slot was given back");
	e = out_stamped(ctx, 3, 2);
	assert_in(ctx, e, 3, 2);
	assert_in(ctx, keep, 3, 100);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_free(ctx, keep), 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/*
 * A torn write through the lower layer (half the page written, then EIO): the slot keeps its
 * reference but reads -EIO, never half a page, until it is written again.
 */
Test(swap_faults, torn_writepage_reads_eio_until_rewritten)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	int fd;
	struct swap_ctx *ctx = ctx_with_file(path, 64, false, &fd);
	swp_entry_t e = out_stamped(ctx, 4, 1);
	char page[PAGE], out[PAGE];

	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	stamp_page(page, 4, 2);
	fi_arm(&fi.write, FI_SHORT, 0, fd, 0, 1);
	cr_assert_eq(swap_writepage(ctx, e, page), 0, "a short write alone is completed");
	cr_assert(fi_disarm(&fi.write));
	stamp_page(page, 4, 3);
	fi_arm(&fi.write, FI_TORN, EIO, fd, 0, 1);
	cr_assert_eq(swap_writepage(ctx, e, page), -EIO);
	cr_assert(fi_disarm(&fi.write));
	cr_assert_eq(swap_readpage(ctx, e, out), -EIO, "a failed write leaves no readable page");
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	cr_assert_eq(swap_count(ctx, e), 1);
	cr_assert_eq(swap_in(ctx, e, out), -EIO);
	/* rewrite */
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_writepage(ctx, e, page), 0);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	assert_in(ctx, e, 4, 3);
	cr_assert_eq(swap_free(ctx, e), 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/* The header of an existing file cannot be read: -EIO, or -EINVAL when the file ends early;
 * the failed swap_on leaves the file unlocked, so the next one works. */
Test(swap_faults, header_read_fault)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 64};

	cr_assert_eq(swap_on(ctx, &o), 0);
	cr_assert_eq(swap_off(ctx, 0), 0);
	o.nr_pages = 0;
	fi_arm(&fi.read, FI_ERRNO, EIO, -1, 0, 1);
	cr_assert_eq(swap_on(ctx, &o), -EIO, "a read error is not a bad header");
	cr_assert(fi_disarm(&fi.read));
	fi_arm(&fi.read, FI_EOF, 0, -1, 0, 1);
	cr_assert_eq(swap_on(ctx, &o), -EINVAL, "a file that ends early is not a swap file");
	cr_assert(fi_disarm(&fi.read));
	cr_assert_eq(swap_on(ctx, &o), 0, "the failed calls left no lock behind");
	swp_entry_t e = out_stamped(ctx, 9, 1);
	assert_in(ctx, e, 9, 1);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/*
 * Intermittent faults under concurrency: four threads swap pages out and in while one read in
 * three and one write in five fail.  A swap_out either fails with EIO (its slot given back) or
 * stores the page; a swap_in either fails with -EIO or returns the right page, never another;
 * once the faults stop, every stored page reads back and the slots in use are exactly the
 * entries held.
 */
struct fault_racer {
	struct swap_ctx *ctx;
	uint32_t tid;
	swp_entry_t e[64];
	uint64_t seq[64];
	long eio_out, eio_in, ok_in;
	int bad;
};

static void *fault_racer_fn(void *arg)
{
	struct fault_racer *r = arg;
	uint64_t s = r->tid, seq = 0;
	char page[PAGE];

	for (int it = 0; it < 3000; it++) {
		int i = (int)(tu_rand(&s) % 64);
		if (!r->e[i].val) {
			stamp_page(page, r->tid, seq);
			errno = 0;
			r->e[i] = swap_out(r->ctx, page);
			if (r->e[i].val)
				r->seq[i] = seq++;
			else if (errno == EIO)
				r->eio_out++;
			else
				r->bad = 1;
		} else if (tu_rand(&s) % 4) {
			int err = swap_in(r->ctx, r->e[i], page);
			if (err == -EIO)
				r->eio_in++;
			else if (err || !check_stamp(page, r->tid, r->seq[i]))
				r->bad = 2;
			else
				r->ok_in++;
		} else {
			if (swap_free(r->ctx, r->e[i]))
				r->bad = 3;
			r->e[i].val = 0;
		}
		if (r->bad)
			break;
	}
	return NULL;
}

Test(swap_faults, intermittent_faults_with_threads, .timeout = 60)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	int fd;
	struct swap_ctx *ctx = ctx_with_file(path, 1024, false, &fd);
	static struct fault_racer r[4];
	pthread_t t[4];
	long eio_out = 0, eio_in = 0, ok_in = 0, held = 0;

	pthread_mutex_lock(&fi.lock);
	fi.read = (struct fi_op){.kind = FI_ERRNO, .err = EIO, .fd = fd, .left = -1, .every = 3};
	fi.write = (struct fi_op){.kind = FI_ERRNO, .err = EIO, .fd = fd, .left = -1, .every = 5};
	pthread_mutex_unlock(&fi.lock);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct fault_racer){.ctx = ctx, .tid = (uint32_t)i + 1};
		cr_assert_eq(pthread_create(&t[i], NULL, fault_racer_fn, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(r[i].bad, 0, "thread %d: step kind %d went wrong", i, r[i].bad);
		eio_out += r[i].eio_out;
		eio_in += r[i].eio_in;
		ok_in += r[i].ok_in;
	}
	fi_disarm(&fi.read);
	fi_disarm(&fi.write);
	cr_assert_gt(eio_out, 0);
	cr_assert_gt(eio_in, 0);
	cr_assert_gt(ok_in, 0);
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 64; j++) {
			if (!r[i].e[j].val)
				continue;
			assert_in(ctx, r[i].e[j], r[i].tid, r[i].seq[j]);
			held++;
		}
	}
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, (uint64_t)held, "no slot leaked");
	cr_log_info("%ld swap_out and %ld swap_in failed with EIO, %ld swap_in succeeded", eio_out,
		    eio_in, ok_in);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/* ---- a full file system ---- */

/* ENOSPC (or EDQUOT) from pwrite: swap_out says ENOSPC (the area is full for now),
 * swap_writepage too. */
Test(swap_faults, enospc_on_write)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	int fd;
	struct swap_ctx *ctx = ctx_with_file(path, 64, false, &fd);
	swp_entry_t e = out_stamped(ctx, 5, 1);
	char page[PAGE];

	stamp_page(page, 5, 2);
	fi_arm(&fi.write, FI_ERRNO, ENOSPC, fd, 0, -1);
	for (int i = 0; i < 4; i++) {
		errno = 0;
		cr_assert_eq(swap_out(ctx, page).val, 0);
		cr_assert_eq(errno, ENOSPC, "errno %d", errno);
	}
	cr_assert_eq(swap_cache_prepare(ctx, e), 0);
	cr_assert_eq(swap_writepage(ctx, e, page), -ENOSPC);
	cr_assert_eq(swap_cache_delete(ctx, e), 0);
	fi_disarm(&fi.write);
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 1);
	cr_assert_eq(area_stats(ctx, 0).failed_writes, 5);
	cr_assert_eq(swap_in(ctx, e, page), -EIO, "its write failed");
	cr_assert_eq(swap_free(ctx, e), 0);
	/* out of quota is full too */
	fi_arm(&fi.write, FI_ERRNO, EDQUOT, fd, 0, 1);
	errno = 0;
	cr_assert_eq(swap_out(ctx, page).val, 0);
	cr_assert_eq(errno, ENOSPC, "errno %d", errno);
	cr_assert(fi_disarm(&fi.write));
	e = out_stamped(ctx, 5, 3);
	assert_in(ctx, e, 5, 3);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/*
 * swap_on of a new file: ENOSPC from posix_fallocate is -ENOSPC and the file is removed;
 * EOPNOTSUPP (a file system without fallocate) falls back to writing zeros, so the file still
 * has no holes; an error writing the header is -EIO and the file is removed.
 */
Test(swap_faults, swap_on_allocation_faults)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 256};
	struct stat sb;

	fi_arm(&fi.alloc, FI_ERRNO, ENOSPC, -1, 0, 1);
	cr_assert_eq(swap_on(ctx, &o), -ENOSPC);
	cr_assert(fi_disarm(&fi.alloc));
	cr_assert_neq(access(path, F_OK), 0, "the half-made file was removed");

	fi_arm(&fi.alloc, FI_ERRNO, EOPNOTSUPP, -1, 0, 1);
	cr_assert_eq(swap_on(ctx, &o), 0);
	cr_assert(fi_disarm(&fi.alloc));
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_geq((long long)sb.st_blocks * 512, 256LL * PAGE, "no holes");
	swp_entry_t e = out_stamped(ctx, 6, 1);
	assert_in(ctx, e, 6, 1);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_off(ctx, 0), 0);
	cr_assert_eq(unlink(path), 0);

	/* zeros written by hand, and the disk fills up half way */
	fi_arm(&fi.alloc, FI_ERRNO, EOPNOTSUPP, -1, 0, 1);
	fi_arm(&fi.write, FI_ERRNO, ENOSPC, -1, 8, 1);
	cr_assert_eq(swap_on(ctx, &o), -ENOSPC);
	cr_assert(fi_disarm(&fi.write));
	fi_disarm(&fi.alloc);
	cr_assert_neq(access(path, F_OK), 0);

	/* the header write fails (the only write when fallocate works) */
	fi_arm(&fi.write, FI_ERRNO, EIO, -1, 0, 1);
	cr_assert_eq(swap_on(ctx, &o), -EIO);
	cr_assert(fi_disarm(&fi.write));
	cr_assert_neq(access(path, F_OK), 0);
	cr_assert_eq(swap_on(ctx, &o), 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/*
 * A real full file system: a 256 KiB tmpfs (needs root and mount; skipped otherwise), mounted in
 * a mount namespace of this test's own, so that it goes away with the process even when an
 * assertion ends the test before its umount.  Making a 1 MiB swap file there is -ENOSPC with
 * nothing left behind.  A sparse 1 MiB swap file (made by hand, as another tool might) is
 * accepted, and swap_out fills it until the file system is full: then ENOSPC, and every page
 * stored before is read back intact.
 */
Test(swap_faults, real_full_tmpfs, .timeout = 30)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 256};
	unsigned char hdr[PAGE] = {0};
	uint32_t v;
	swp_entry_t e[256];
	int n = 0, fd;

	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("libswap-test", dir, "tmpfs", 0, "size=256k")) {
		int err = errno;
		rm_tree(dir);
		free(path);
		swap_ctx_destroy(ctx);
		cr_skip_test("cannot mount a tmpfs: %s", strerror(err));
	}
	cr_assert_eq(swap_on(ctx, &o), -ENOSPC);
	cr_assert_neq(access(path, F_OK), 0, "the half-made file was removed");

	v = 1;
	memcpy(hdr + 1024, &v, 4);
	v = 255;
	memcpy(hdr + 1028, &v, 4);
	memcpy(hdr + PAGE - 10, "SWAPSPACE2", 10);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, hdr, PAGE, 0), PAGE);
	cr_assert_eq(ftruncate(fd, 256 * PAGE), 0);
	close(fd);
	o.nr_pages = 0;
	cr_assert_eq(swap_on(ctx, &o), 0);
	for (;;) {
		char page[PAGE];
		stamp_page(page, 7, (uint64_t)n);
		errno = 0;
		e[n] = swap_out(ctx, page);
		if (!e[n].val)
			break;
		n++;
		cr_assert_lt(n, 255, "the file system never filled up");
	}
	cr_assert_eq(errno, ENOSPC, "errno %d", errno);
	cr_assert_gt(n, 8);
	cr_log_info("tmpfs full after %d pages", n);
	for (int i = 0; i < n; i++) {
		assert_in(ctx, e[i], 7, (uint64_t)i);
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	}
	cr_assert_eq(area_stats(ctx, 0).inuse_pages, 0);
	swap_ctx_destroy(ctx);
	umount(dir);
	rm_tree(dir);
	free(path);
}

/* ---- the file changed behind the library's back ---- */

static void write_at(const char *path, off_t at, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, buf, len, at), (ssize_t)len);
	close(fd);
}

/*
 * Truncated in the middle of a slot, then grown again with zeros; the header overwritten while
 * on (it is read only by swap_on), then the area turned off and on again.
 */
Test(swap_faults, truncated_or_altered_file)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 64};
	swp_entry_t e[16];
	char page[PAGE];
	uint64_t cut;

	cr_assert_eq(swap_on(ctx, &o), 0);
	for (int i = 0; i < 16; i++)
		e[i] = out_stamped(ctx, 8, (uint64_t)i);
	cut = swp_offset(e[8]);
	cr_assert_eq(truncate(path, (off_t)(cut * PAGE + PAGE / 2)), 0);
	for (int i = 0; i < 16; i++) {
		if (swp_offset(e[i]) < cut)
			assert_in(ctx, e[i], 8, (uint64_t)i);
		else
			cr_assert_eq(swap_in(ctx, e[i], page), -EIO, "slot %llu past the end",
				     (unsigned long long)swp_offset(e[i]));
	}
	/* grown back: the lost slots read as zeros, which nothing but a checksum can tell */
	cr_assert_eq(truncate(path, 64 * PAGE), 0);
	cr_assert_eq(swap_in(ctx, e[15], page), 0);
	cr_assert(!check_stamp(page, 8, 15));

	/* the header destroyed while on: nothing changes until the next swap_on */
	memset(page, 0xa5, PAGE);
	write_at(path, 0, page, PAGE);
	assert_in(ctx, e[0], 8, 0);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	e[0] = out_stamped(ctx, 8, 100);
	assert_in(ctx, e[0], 8, 100);
	cr_assert_eq(swap_free(ctx, e[0]), 0);
	cr_assert_eq(swap_off(ctx, 0), 0);
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.path = path}), -EINVAL);

	/* a header that promises more than the file holds, or absurd bad-page lists */
	{
		unsigned char hdr[PAGE] = {0};
		uint32_t v = 1;
		memcpy(hdr + 1024, &v, 4);
		memcpy(hdr + PAGE - 10, "SWAPSPACE2", 10);
		v = 1000; /* last_page past the end of a 64-page file */
		memcpy(hdr + 1028, &v, 4);
		write_at(path, 0, hdr, PAGE);
		cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.path = path}), -EINVAL);
		v = 63;
		memcpy(hdr + 1028, &v, 4);
		v = 100000; /* nr_badpages */
		memcpy(hdr + 1032, &v, 4);
		write_at(path, 0, hdr, PAGE);
		cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.path = path}), -EINVAL);
		v = 1;
		memcpy(hdr + 1032, &v, 4);
		v = 64; /* a bad page past last_page */
		memcpy(hdr + 1536, &v, 4);
		write_at(path, 0, hdr, PAGE);
		cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.path = path}), -EINVAL);
		v = 5;
		memcpy(hdr + 1536, &v, 4);
		write_at(path, 0, hdr, PAGE);
		cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.path = path}), 0);
		cr_assert_eq(area_stats(ctx, 0).bad_pages, 1);
	}
	/* shrunk below the header while off: not a swap file any more */
	cr_assert_eq(swap_off(ctx, 0), 0);
	cr_assert_eq(truncate(path, 100), 0);
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.path = path}), -EINVAL);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

/* ---- memory areas: the pool cannot get address space ---- */

Test(swap_faults, memory_area_mmap_fails)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts mem = {.nr_pages = 256, .priority = 10};
	struct swap_area_opts file = {.path = path, .nr_pages = 64, .priority = 1};
	char page[PAGE];
	swp_entry_t e;

	/* a pool reserves address space only as it stores (its tables grow in chunks): swap_on of
	 * a memory area needs none, so mmap failing then does not stop it */
	fi_arm(&fi.map, FI_ERRNO, ENOMEM, -1, 0, -1);
	cr_assert_eq(swap_on(ctx, &mem), 0);
	fi_disarm(&fi.map);
	cr_assert_eq(swap_on(ctx, &file), 1);

	/* its first tables and arena cannot be reserved: pages go to the file, or fail with ENOMEM
	 * alone */
	fi_arm(&fi.map, FI_ERRNO, ENOMEM, -1, 0, -1);
	e = out_stamped(ctx, 10, 1);
	cr_assert_eq(swp_type(e), 1, "the file took the page the memory area could not");
	cr_assert_eq(swap_off(ctx, 1), -EBUSY);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_off(ctx, 1), 0);
	stamp_page(page, 10, 2);
	errno = 0;
	cr_assert_eq(swap_out(ctx, page).val, 0);
	cr_assert_eq(errno, ENOMEM, "errno %d", errno);
	/* same-filled pages need no pool memory */
	memset(page, 0, PAGE);
	e = swap_out(ctx, page);
	cr_assert_neq(e.val, 0);
	fi_disarm(&fi.map);
	struct swap_area_stats st = area_stats(ctx, 0);
	cr_assert_eq(st.inuse_pages, 1, "the failed slots were given back");
	cr_assert_geq(st.failed_writes, 1);
	cr_assert_eq(swap_free(ctx, e), 0);

	/* the fault is gone: the same area works */
	e = out_stamped(ctx, 10, 3);
	cr_assert_eq(swp_type(e), 0);
	assert_in(ctx, e, 10, 3);
	cr_assert_eq(swap_free(ctx, e), 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
	fi_report();
}

/* ---- the writeback tier's backing file ---- */

/* A tiered area with no automatic writeback (writeback is swap_writeback's), and a memory area
 * of lower priority; *@fd is the backing file's descriptor. */
static struct swap_ctx *ctx_with_tier(const char *path, unsigned backing_flags, unsigned flags,
				      int *fd)
{
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts t = {.nr_pages = 256,
				   .backing_path = path,
				   .backing_pages = 256,
				   .backing_flags = backing_flags,
				   .flags = flags,
				   .priority = 10};

	cr_assert_not_null(ctx);
	cr_assert_eq(swap_on(ctx, &t), 0);
	cr_assert_eq(swap_on(ctx, &(struct swap_area_opts){.nr_pages = 256, .priority = 1}), 1);
	*fd = fd_of(path);
	cr_assert_geq(*fd, 0, "the backing file's descriptor not found");
	return ctx;
}

static long writeback_all(struct swap_ctx *ctx)
{
	return swap_writeback(ctx, 0, &(struct swap_writeback_opts){0});
}

Test(swap_faults, tier_write_faults_keep_pages_in_memory)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "backing");
	int fd;
	struct swap_ctx *ctx = ctx_with_tier(path, 0, 0, &fd);
	swp_entry_t e[64];
	struct swap_area_stats st;

	for (int i = 0; i < 64; i++)
		e[i] = out_stamped(ctx, 20, (uint64_t)i);
	/* every write fails: nothing moves, nothing is lost */
	fi_arm(&fi.write, FI_ERRNO, EIO, fd, 0, -1);
	cr_assert_eq(writeback_all(ctx), -EIO);
	fi_disarm(&fi.write);
	st = area_stats(ctx, 0);
	cr_assert_eq(st.wb_failed, 64);
	cr_assert_eq(st.wb_pages, 0);
	cr_assert_eq(st.backing_used, 0, "failed batches gave their file slots back");
	for (int i = 0; i < 64; i++)
		assert_in(ctx, e[i], 20, (uint64_t)i);
	/* a full file system: the same */
	fi_arm(&fi.write, FI_ERRNO, ENOSPC, fd, 0, -1);
	cr_assert_eq(writeback_all(ctx), -EIO);
	fi_disarm(&fi.write);
	cr_assert_eq(area_stats(ctx, 0).wb_pages, 0);
	/* one short transfer is carried on: the batch lands whole */
	fi_arm(&fi.write, FI_SHORT, 0, fd, 0, 1);
	cr_assert_eq(writeback_all(ctx), 64);
	cr_assert(fi_disarm(&fi.write), "the short write was not taken");
	for (int i = 0; i < 64; i++)
		assert_in(ctx, e[i], 20, (uint64_t)i);
	cr_assert_eq(area_stats(ctx, 0).wb_reads, 64);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	cr_assert_eq(area_stats(ctx, 0).backing_used, 0);
	fi_report();
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

Test(swap_faults, tier_read_fault_is_eio_and_retryable)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "backing");
	int fd;
	struct swap_ctx *ctx = ctx_with_tier(path, 0, 0, &fd);
	swp_entry_t e[8];
	char page[PAGE];

	for (int i = 0; i < 8; i++)
		e[i] = out_stamped(ctx, 21, (uint64_t)i);
	cr_assert_eq(writeback_all(ctx), 8);
	fi_arm(&fi.read, FI_ERRNO, EIO, fd, 0, 1);
	cr_assert_eq(swap_in(ctx, e[3], page), -EIO);
	cr_assert(fi_disarm(&fi.read));
	assert_in(ctx, e[3], 21, 3);
	fi_arm(&fi.read, FI_EOF, 0, fd, 0, 1);
	cr_assert_eq(swap_in(ctx, e[4], page), -EIO);
	fi_disarm(&fi.read);
	assert_in(ctx, e[4], 21, 4);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

/* A huge page goes straight to the file; if that write fails it goes to the next area. */
Test(swap_faults, tier_direct_write_fault_falls_back)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "backing");
	int fd;
	struct swap_ctx *ctx = ctx_with_tier(path, 0, SWAP_AREA_WB_HUGE_DIRECT, &fd);
	char page[PAGE], out[PAGE];
	swp_entry_t e;

	tu_make_page(page, TU_PAGE_RANDOM, 7);
	fi_arm(&fi.write, FI_ERRNO, EIO, fd, 0, 1);
	e = swap_out(ctx, page);
	cr_assert(fi_disarm(&fi.write));
	cr_assert_neq(e.val, 0);
	cr_assert_eq(swp_type(e), 1, "the memory area took it");
	cr_assert_eq(area_stats(ctx, 0).backing_used, 0);
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(swap_free(ctx, e), 0);
	e = swap_out(ctx, page);
	cr_assert_eq(swp_type(e), 0, "without the fault it goes to the file");
	cr_assert_eq(area_stats(ctx, 0).huge_direct, 1);
	cr_assert_eq(swap_in(ctx, e, out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	cr_assert_eq(swap_free(ctx, e), 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

/* The backing file cut short, or changed, behind the library's back. */
Test(swap_faults, tier_backing_truncated_or_altered)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "backing");
	int fd;
	struct swap_ctx *ctx = ctx_with_tier(path, SWAP_AREA_CHECKSUM, 0, &fd);
	swp_entry_t e[32];
	char page[PAGE], junk[PAGE];
	int in_file = 0, failed = 0;

	for (int i = 0; i < 32; i++)
		e[i] = out_stamped(ctx, 22, (uint64_t)i);
	/* half of them to the file */
	cr_assert_eq(swap_writeback(ctx, 0, &(struct swap_writeback_opts){.max_pages = 16}), 16);
	/* every slot of the file changed: what is there fails its checksum */
	memset(junk, 0x5a, PAGE);
	for (int s = 1; s < 256; s++)
		write_at(path, (off_t)s * PAGE, junk, PAGE);
	for (int i = 0; i < 32; i++) {
		uint64_t before = area_stats(ctx, 0).wb_reads;
		int r = swap_in(ctx, e[i], page);

		if (r) {
			cr_assert_eq(r, -EIO);
			failed++;
		} else {
			cr_assert(check_stamp(page, 22, (uint64_t)i));
			in_file += area_stats(ctx, 0).wb_reads != before;
		}
	}
	cr_assert_eq(failed, 16, "the 16 pages in the file fail, the 16 in memory do not");
	cr_assert_eq(in_file, 0);
	/* cut to its header: still -EIO, never a crash; freeing works */
	cr_assert_eq(truncate(path, PAGE), 0);
	for (int i = 0; i < 32; i++) {
		int r = swap_in(ctx, e[i], page);
		cr_assert(r == 0 || r == -EIO);
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	}
	cr_assert_eq(area_stats(ctx, 0).backing_used, 0);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}
