/*
 * swap_uffd.c - transparent swapping of a memory region with userfaultfd: its pages are
 * swapped out and dropped (MADV_DONTNEED), and the program then simply reads the region; each
 * access to a dropped page faults, and a handler thread swaps the page back in (UFFDIO_COPY),
 * as the kernel does for an anonymous page.  Where userfaultfd is not permitted (an old
 * kernel, a seccomp filter, vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE), it says so
 * and exits 0 without doing anything.
 *
 * build: cc swap_uffd.c $(pkg-config --cflags --libs libswap) -lpthread
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <zs/swap.h>

#define NR_PAGES 512
#ifndef UFFD_USER_MODE_ONLY /* headers older than Linux 5.11 */
#define UFFD_USER_MODE_ONLY 1
#endif

static struct swap_ctx *ctx;
static char *region;
static swp_entry_t entries[NR_PAGES]; /* .val 0: the page is resident */
static int uffd, stop_pipe[2];
static unsigned long faults;

/* Page @i of the region's data: a different line of text on each page. */
static void fill_page(char *page, size_t i)
{
	for (size_t n = 0; n + 32 <= SWAP_PAGE_SIZE; n += 32)
		snprintf(page + n, 32, "page %5zu, offset %5zu ....", i, n);
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(err));
	exit(1);
}

/* The fault handler: one missing-page fault at a time, until main writes to stop_pipe. */
static void *fault_handler(void *arg)
{
	static char buf[SWAP_PAGE_SIZE];
	struct pollfd fds[2] = {{.fd = uffd, .events = POLLIN},
				{.fd = stop_pipe[0], .events = POLLIN}};
	struct uffd_msg msg;

	(void)arg;
	while (poll(fds, 2, -1) > 0 && !(fds[1].revents & POLLIN)) {
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uintptr_t addr = msg.arg.pagefault.address & ~(uintptr_t)(SWAP_PAGE_SIZE - 1);
		size_t i = (addr - (uintptr_t)region) / SWAP_PAGE_SIZE;
		int err = swap_in(ctx, entries[i], buf);
		/* A fault left unserved blocks the faulting thread for good: give up at once. */
		if (err)
			fail("swap_in", -err);
		/* Map the page in atomically and wake the faulting thread. */
		struct uffdio_copy copy = {
		    .dst = addr, .src = (uintptr_t)buf, .len = SWAP_PAGE_SIZE};
		if (ioctl(uffd, UFFDIO_COPY, &copy))
			fail("UFFDIO_COPY", errno);
		/* The page is resident again: its swap copy is no longer needed. */
		err = swap_free(ctx, entries[i]);
		if (err)
			fail("swap_free", -err);
		entries[i].val = 0;
		faults++;
	}
	return NULL;
}

int main(void)
{
	size_t len = (size_t)NR_PAGES * SWAP_PAGE_SIZE;

	/* User-mode-only faults are allowed to unprivileged processes on more systems.  The fd is
	 * non-blocking because poll() on a blocking userfaultfd always reports POLLERR. */
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0)
		uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) {
		printf("swap_uffd: skipped, userfaultfd is not permitted here: %s\n",
		       strerror(errno));
		return 0;
	}
	struct uffdio_api api = {.api = UFFD_API};
	region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ioctl(uffd, UFFDIO_API, &api) || region == MAP_FAILED || pipe(stop_pipe)) {
		perror("UFFDIO_API/mmap/pipe");
		return 1;
	}
	ctx = swap_ctx_create();
	if (!ctx || swap_on(ctx, &(struct swap_area_opts){.nr_pages = 2 * NR_PAGES}) < 0) {
		fprintf(stderr, "swap_ctx_create/swap_on failed\n");
		return 1;
	}

	for (size_t i = 0; i < NR_PAGES; i++)
		fill_page(region + i * SWAP_PAGE_SIZE, i);

	/* Swap the whole region out, then watch it for missing pages: after MADV_DONTNEED every
	 * page is missing, and the next access to each one faults into fault_handler(). */
	for (size_t i = 0; i < NR_PAGES; i++) {
		entries[i] = swap_out(ctx, region + i * SWAP_PAGE_SIZE);
		if (!entries[i].val) {
			perror("swap_out");
			return 1;
		}
	}
	struct uffdio_register reg = {.range = {.start = (uintptr_t)region, .len = len},
				      .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		perror("UFFDIO_REGISTER");
		return 1;
	}
	if (madvise(region, len, MADV_DONTNEED)) {
		perror("madvise");
		return 1;
	}
	struct swap_area_stats st;
	if (swap_ctx_stats(ctx, &st) < 0)
		return 1;
	printf("swapped out %llu pages (%llu KiB of pool memory)\n",
	       (unsigned long long)st.inuse_pages, (unsigned long long)st.mem_used_total / 1024);

	pthread_t t;
	if (pthread_create(&t, NULL, fault_handler, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	/* Plain reads of the region: the missing pages come back transparently. */
	static char expect[SWAP_PAGE_SIZE];
	for (size_t i = 0; i < NR_PAGES; i++) {
		fill_page(expect, i);
		if (memcmp(region + i * SWAP_PAGE_SIZE, expect, SWAP_PAGE_SIZE)) {
			fprintf(stderr, "page %zu came back different\n", i);
			return 1;
		}
	}
	if (write(stop_pipe[1], "", 1) != 1 || pthread_join(t, NULL))
		return 1;
	if (swap_ctx_stats(ctx, &st) < 0 || st.inuse_pages != 0) {
		fprintf(stderr, "entries left behind\n");
		return 1;
	}
	printf("read the region back: %lu faults served by swap_in, every page intact\n", faults);
	swap_ctx_destroy(ctx);
	return 0;
}
