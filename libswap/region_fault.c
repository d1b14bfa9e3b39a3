/*
 * Regions' fault path: the handler threads that read a region's userfaultfd, the page lock, and
 * bringing a page back into the region (a fault, a prefault, the swap_off hook).
 *
 * A handler reads messages in batches from the non-blocking userfaultfd:
 *   PAGEFAULT  a missing page: lock it (or, finding it locked, leave a PG_WAITERS mark for the
 *              holder and go on), then by its kind: a never-touched page gets the zero page
 *              (UFFDIO_ZEROPAGE; a write fault a zeroed copy, UFFDIO_COPY), a cached page is moved
 *              back from its staging slot (UFFDIO_MOVE, no copy and no allocation), a swapped
 *              page is decompressed (swap_in) into the handler's own buffer and copied in
 *              (UFFDIO_COPY), write-protected when it keeps its swap copy so that a write shows.
 *              A fault that would take the region past its limit reclaims directly first.
 *   REMOVE     the program's MADV_DONTNEED / MADV_FREE: the pages' contents are discarded.  The
 *              program's madvise returns once the event is read (the kernel then zaps), so the
 *              reader marks every page of the range PG_REMOVED before any later message can be
 *              read (the handlers' reads are serialised by read_lock): a fault raised after
 *              the madvise finds its page marked, whichever handler reads it.  Whoever locks
 *              a marked page resolves the mark first; the event's handler resolves the rest.
 *   UNMAP      the program's munmap: likewise (PG_GONE), and the pages are never touched again.
 *   REMAP      mremap moved pages out of the region: treated as an unmap of the old range.
 * An install the kernel refuses with EAGAIN (the program is changing its mappings; the event
 * saying how is in the queue behind) is kept for a retry after the next messages.
 *
 * After a batch, one handler at a time polls the fd for HANDLER_SPIN_NS, yielding, before it
 * sleeps in poll(): faults come in bursts, and a sleeping handler adds a wake-up to each.
 *
 * The handler never touches the region's memory (the kernel copies in and out of it) and never
 * waits for a page lock, so a fault is never stuck behind the thread that raised another.
 *
 * This file may not pick reclaim victims or touch the lists' order: region_reclaim.c owns them.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "region_internal.h"

/* How long an idle handler polls the fd before sleeping: about one fault's service time plus a
 * thread's work between two faults, so that a thread faulting back to back finds it awake; no
 * longer, so that fault-heavy runs do not keep a core busy (measured against not polling at all:
 * no difference beyond the noise of a loaded 2-core machine, see the commit). */
#define HANDLER_SPIN_NS 10000
/* Messages read per read(2). */
#define HANDLER_MSGS 16

/* ---- latency histograms ------------------------------------------------------------------ */

static unsigned hist_index(uint64_t ns)
{
	unsigned msb;

	if (ns < (1u << HIST_SUB_BITS))
		return (unsigned)ns;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	if (msb >= 40)
		return HIST_BUCKETS - 1;
	return ((msb - HIST_SUB_BITS + 1) << HIST_SUB_BITS) |
	       (unsigned)((ns >> (msb - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1));
}

/* The middle of bucket @i, in ns. */
static uint64_t hist_value(unsigned i)
{
	unsigned e, m;

	if (i < (1u << HIST_SUB_BITS))
		return i;
	e = (i >> HIST_SUB_BITS) - 1 + HIST_SUB_BITS;
	m = i & ((1u << HIST_SUB_BITS) - 1);
	return ((uint64_t)((1u << HIST_SUB_BITS) | m) << (e - HIST_SUB_BITS)) +
	       ((1ull << (e - HIST_SUB_BITS)) >> 1);
}

void swi_hist_add(struct region_hist *h, uint64_t ns)
{
	uint64_t max = zs_load_relaxed(&h->max);

	region_stat_inc(&h->bucket[hist_index(ns)], 1);
	region_stat_inc(&h->count, 1);
	while (ns > max && !zs_cas_weak_relaxed(&h->max, &max, ns))
		;
}

void swi_hist_summary(struct region_hist *const *h, unsigned n, struct swap_region_latency *out)
{
	uint64_t total = 0, seen = 0, want50, want99;

	memset(out, 0, sizeof(*out));
	for (unsigned k = 0; k < n; k++) {
		uint64_t m = zs_load_relaxed(&h[k]->max);
		if (m > out->max)
			out->max = m;
		for (unsigned i = 0; i < HIST_BUCKETS; i++)
			total += zs_load_relaxed(&h[k]->bucket[i]);
	}
	out->count = total;
	if (!total)
		return;
	want50 = (total + 1) / 2;
	want99 = total - total / 100;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		for (unsigned k = 0; k < n; k++)
			seen += zs_load_relaxed(&h[k]->bucket[i]);
		if (!out->p50 && seen >= want50)
			out->p50 = hist_value(i);
		if (seen >= want99) {
			out->p99 = hist_value(i);
			break;
		}
	}
	/* a bucket's middle may lie above the largest value measured */
	if (out->p50 > out->max)
		out->p50 = out->max;
	if (out->p99 > out->max)
		out->p99 = out->max;
}

/* ---- page locks -------------------------------------------------------------------------- */

/*
 * The program discarded (PG_REMOVED) or unmapped (PG_GONE) locked page @idx: drop what the
 * library holds for it.  @installed: the holder may have mapped the page after the kernel's zap
 * ran (the marks are set when the event is read, before the zap): move it out again so that it
 * reads as zeros.  Returns the page's state now (still locked).
 */
static uint32_t resolve_marks(struct swap_region *r, size_t idx, uint32_t st, bool installed)
{
	struct region_page *p = &r->pages[idx];
	uint32_t marks = st & (PG_REMOVED | PG_GONE);

	if (!marks)
		return st;
	if (installed && page_kind(st) == PK_RESIDENT && !(marks & PG_GONE)) {
		pthread_mutex_lock(&r->trash_lock);
		if (!swi_uffd_move(r->staging_uffd, (uintptr_t)staging_slot_addr(r, r->trash_slot),
				   region_page_addr(r, idx)))
			swi_zap_pages(staging_slot_addr(r, r->trash_slot), SWAP_PAGE_SIZE);
		pthread_mutex_unlock(&r->trash_lock);
	}
	swi_region_discard_locked(r, idx, st, (marks & PG_GONE) ? PK_UNMAPPED : PK_NONE);
	zs_fetch_and_relaxed(&p->state, ~marks);
	return zs_load_acquire(&p->state);
}

uint32_t swi_page_resolve(struct swap_region *r, size_t idx, uint32_t st)
{
	return resolve_marks(r, idx, st | PG_LOCKED, false);
}

void swi_page_unlock(struct swap_region *r, size_t idx)
{
	struct region_page *p = &r->pages[idx];
	uint32_t st = zs_load_acquire(&p->state);

	for (;;) {
		uint32_t marks = st & (PG_REMOVED | PG_GONE);

		if (marks) {
			/* Marked while we held it; a new mark may arrive meanwhile: loop. */
			st = resolve_marks(r, idx, st, true);
			continue;
		}
		if (zs_cas_weak_release(&p->state, &st, st & ~(PG_LOCKED | PG_WAITERS)))
			break;
	}
	if (st & PG_WAITERS)
		swi_uffd_wake(r->uffd, region_page_addr(r, idx), SWAP_PAGE_SIZE);
}

uint32_t swi_page_lock_wait(struct swap_region *r, size_t idx)
{
	struct region_page *p = &r->pages[idx];

	for (unsigned spins = 0;; spins++) {
		uint32_t st = page_trylock(p);
		if (st != UINT32_MAX)
			return st;
		/* Holders finish in microseconds (a swap_in, an ioctl). */
		if (spins < 64)
			cpu_relax_region();
		else
			sched_yield();
	}
}

/* ---- bringing a page in ------------------------------------------------------------------- */

/* The swap copy of locked page @idx cannot be read: it is lost.  Poison the page where the
 * kernel can (a touch is SIGBUS, as for a memory error); elsewhere it becomes a zero page, which
 * the thread's next fault installs.  Either way the entry is freed. */
static int page_lost(struct swap_region *r, size_t idx, uintptr_t addr)
{
	struct region_page *p = &r->pages[idx];

	region_stat_inc(&r->stat.io_errors, 1);
	swap_free(r->ctx, p->entry);
	p->entry.val = 0;
	region_count_dec(&r->nr_swapped);
	swi_region_uncharge(r);
	if ((r->features & SWAP_REGION_F_POISON) && !swi_uffd_poison(r->uffd, addr))
		page_set(p, PK_POISONED, 0, PG_SWAPCOPY | PG_DIRTY | PG_REFERENCED);
	else
		page_set(p, PK_NONE, 0, PG_SWAPCOPY | PG_DIRTY | PG_REFERENCED);
	return -EIO;
}

/*
 * An install answered EEXIST for a page that is missing: a write-protect marker sits on it (the
 * program discarded the page between a move back and the protection that follows).  Drop the
 * marker and say whether to try again; otherwise a thread would fault on it for ever.
 */
static bool cleared_marker(struct swap_region *r, uintptr_t addr, int err)
{
	return err == -EEXIST && (r->features & SWAP_REGION_F_WRITE_TRACKING) &&
	       !swi_uffd_writeprotect(r->uffd, addr, SWAP_PAGE_SIZE, false);
}

static int install_zero(struct swap_region *r, uintptr_t addr, bool write)
{
	/* A read maps the shared zero page; a write needs a page of its own at once. */
	return write ? swi_uffd_copy(r->uffd, addr, r->zero_page, false)
		     : swi_uffd_zeropage(r->uffd, addr);
}

static int fault_in_zero(struct swap_region *r, size_t idx, uintptr_t addr, bool write)
{
	int err;

	swi_region_charge(r);
	err = install_zero(r, addr, write);
	if (cleared_marker(r, addr, err))
		err = install_zero(r, addr, write);
	if (err) {
		swi_region_uncharge(r);
		return err;
	}
	zs_fetch_add_relaxed(&r->nr_resident, 1);
	page_set(&r->pages[idx], PK_RESIDENT, 0, PG_SWAPCOPY | PG_DIRTY | PG_REFERENCED);
	swi_lru_add(r, idx, false);
	region_stat_inc(&r->stat.minor, 1);
	return 0;
}

static int fault_in_cached(struct swap_region *r, size_t idx, uint32_t st, uintptr_t addr)
{
	struct region_page *p = &r->pages[idx];
	int err;

	/* The page goes from the swap cache to the region: no new RAM, nothing to charge. */
	err = swi_uffd_move(r->uffd, addr, (uintptr_t)staging_slot_addr(r, p->slot));
	if (cleared_marker(r, addr, err))
		err = swi_uffd_move(r->uffd, addr, (uintptr_t)staging_slot_addr(r, p->slot));
	if (err)
		return err;
	/* A moved page arrives writable; protect it again so that a write shows as PG_DIRTY.  A
	 * write landing before this is caught by the hash at the next reclaim. */
	if ((st & PG_SWAPCOPY) && (r->features & SWAP_REGION_F_WRITE_TRACKING))
		(void)swi_uffd_writeprotect(r->uffd, addr, SWAP_PAGE_SIZE, true);
	swi_slot_release(r, p->slot);
	region_count_dec(&r->nr_cached);
	zs_fetch_add_relaxed(&r->nr_resident, 1);
	page_set(p, PK_RESIDENT, 0, PG_REFERENCED);
	/* Touched while on probation in the cache: it is in use, protect it. */
	swi_lru_add(r, idx, true);
	region_stat_inc(&r->stat.minor, 1);
	return 0;
}

static int fault_in_swapped(struct swap_region *r, size_t idx, uintptr_t addr, void *buf)
{
	struct region_page *p = &r->pages[idx];
	bool keep, tracking = r->features & SWAP_REGION_F_WRITE_TRACKING, recent;
	int err;

	swi_region_charge(r);
	err = swap_in(r->ctx, p->entry, buf);
	if (err == -ENOMEM) {
		swi_region_uncharge(r);
		return -EAGAIN;
	}
	if (err)
		return page_lost(r, idx, addr);
	/* Keep the swap copy while swap space is plentiful: if the page is not written before it
	 * is reclaimed again, reclaim only drops it. */
	keep = zs_load_relaxed(&r->keep_copies);
	err = swi_uffd_copy(r->uffd, addr, buf, keep && tracking);
	if (cleared_marker(r, addr, err))
		err = swi_uffd_copy(r->uffd, addr, buf, keep && tracking);
	if (err) {
		swi_region_uncharge(r);
		return err;
	}
	if (keep) {
		p->hash = XXH3_64bits(buf, SWAP_PAGE_SIZE);
	} else {
		swap_free(r->ctx, p->entry);
		p->entry.val = 0;
	}
	recent = swi_region_refault_recent(r, p->evict_age);
	region_count_dec(&r->nr_swapped);
	zs_fetch_add_relaxed(&r->nr_resident, 1);
	page_set(p, PK_RESIDENT, keep ? PG_SWAPCOPY : 0, PG_SWAPCOPY | PG_DIRTY | PG_REFERENCED);
	/* A page back soon after it was compressed belongs to the working set: protect it. */
	swi_lru_add(r, idx, recent);
	region_stat_inc(&r->stat.major, 1);
	return 0;
}

int swi_region_fault_in(struct swap_region *r, size_t idx, uint32_t st, bool write, void *buf,
			bool *major)
{
	uintptr_t addr = region_page_addr(r, idx);

	*major = false;
	switch (page_kind(st)) {
	case PK_NONE:
		return fault_in_zero(r, idx, addr, write);
	case PK_CACHED:
		return fault_in_cached(r, idx, st, addr);
	case PK_SWAPPED:
		*major = true;
		return fault_in_swapped(r, idx, addr, buf);
	case PK_POISONED:
		return -EIO;
	default:
		return 0; /* resident already, or no longer ours */
	}
}

void swi_region_discard_locked(struct swap_region *r, size_t idx, uint32_t st, unsigned kind)
{
	struct region_page *p = &r->pages[idx];

	if (page_kind(st) == PK_UNMAPPED)
		kind = PK_UNMAPPED; /* never ours again */

	switch (page_kind(st)) {
	case PK_RESIDENT:
		swi_lru_del(r, idx);
		region_count_dec(&r->nr_resident);
		swi_region_uncharge(r);
		break;
	case PK_CACHED:
		swi_slot_discard(r, p->slot);
		region_count_dec(&r->nr_cached);
		swi_region_uncharge(r);
		break;
	case PK_SWAPPED:
		region_count_dec(&r->nr_swapped);
		break;
	default:
		break;
	}
	if (page_kind(st) == PK_SWAPPED || (st & PG_SWAPCOPY)) {
		swap_free(r->ctx, p->entry);
		p->entry.val = 0;
	}
	page_set(p, kind, 0, PG_SWAPCOPY | PG_DIRTY | PG_REFERENCED);
}

/* ---- the handler ----------------------------------------------------------------------- */

enum fault_result { FAULT_DONE, FAULT_RETRY };

static enum fault_result handle_fault(struct region_handler *h, uint64_t address, uint64_t flags,
				      uint64_t t0)
{
	struct swap_region *r = h->r;
	uintptr_t addr = (uintptr_t)address & ~(uintptr_t)(SWAP_PAGE_SIZE - 1);
	struct region_page *p;
	size_t idx;
	uint32_t st;
	bool major;
	int err;

	if (addr < (uintptr_t)r->base ||
	    addr >= (uintptr_t)r->base + r->nr_pages * SWAP_PAGE_SIZE) {
		/* A part of the region the program mremapped elsewhere: not ours any more. */
		swi_uffd_zeropage(r->uffd, addr);
		swi_uffd_wake(r->uffd, addr, SWAP_PAGE_SIZE);
		return FAULT_DONE;
	}
	idx = region_index(r, addr);
	p = &r->pages[idx];
	for (;;) {
		st = zs_load_relaxed(&p->state);
		if (st & PG_LOCKED) {
			/* Its holder wakes the thread on unlock; the thread then faults again if
			 * the page is still missing. */
			if (zs_cas_weak_relaxed(&p->state, &st, st | PG_WAITERS))
				return FAULT_DONE;
			continue;
		}
		if (zs_cas_weak_acquire(&p->state, &st, st | PG_LOCKED))
			break;
	}
	/* Discarded by the program before this fault was raised: zeros now. */
	st = resolve_marks(r, idx, st | PG_LOCKED, false);
	if (page_kind(st) == PK_RESIDENT || page_kind(st) == PK_UNMAPPED ||
	    page_kind(st) == PK_POISONED) {
		/* Already there (a second thread's fault on a page just installed), or the
		 * program's zap ran and its REMOVE event is being handled: the thread faults again
		 * and finds the page in its new state. */
		zs_fetch_or_relaxed(&p->state, PG_WAITERS);
		swi_page_unlock(r, idx);
		return FAULT_DONE;
	}
	err = swi_region_fault_in(r, idx, st, flags & UFFD_PAGEFAULT_FLAG_WRITE, h->buf, &major);
	if (err == -EAGAIN) {
		swi_page_unlock(r, idx);
		return FAULT_RETRY;
	}
	if (!err)
		swi_hist_add(major ? &h->major : &h->minor, swi_now_ns() - t0);
	/* Installed, or not (a lost page, the mapping changed under the fault): either way the
	 * unlock wakes the thread, which then runs on or faults again and finds the new state. */
	zs_fetch_or_relaxed(&p->state, PG_WAITERS);
	swi_page_unlock(r, idx);
	return FAULT_DONE;
}

/* Clip [*start, *end) to the region; false if nothing is left. */
static bool clip_range(const struct swap_region *r, uint64_t *start, uint64_t *end)
{
	uint64_t lo = (uintptr_t)r->base, hi = lo + r->nr_pages * SWAP_PAGE_SIZE;

	if (*start < lo)
		*start = lo;
	if (*end > hi)
		*end = hi;
	return *start < *end;
}

/* The range of a remove, unmap or remap event, and the mark it leaves; false for a fault. */
static bool event_range(const struct uffd_msg *m, uint64_t *start, uint64_t *end, uint32_t *mark)
{
	switch (m->event) {
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		*start = m->arg.remove.start;
		*end = m->arg.remove.end;
		*mark = m->event == UFFD_EVENT_REMOVE ? PG_REMOVED : PG_GONE;
		return true;
	case UFFD_EVENT_REMAP:
		*start = m->arg.remap.from;
		*end = m->arg.remap.from + m->arg.remap.len;
		*mark = PG_GONE;
		return true;
	default:
		return false;
	}
}

/*
 * Mark the pages of the events just read, before any later message is read (read_lock held):
 * the program's madvise returns as soon as its event is read, and a fault it raises afterwards
 * must find its page marked, whichever handler reads that fault.
 */
static void mark_events(struct swap_region *r, const struct uffd_msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t start, end;
		uint32_t mark;

		if (!event_range(&m[i], &start, &end, &mark) || !clip_range(r, &start, &end))
			continue;
		for (uintptr_t a = (uintptr_t)start; a < end; a += SWAP_PAGE_SIZE)
			zs_fetch_or_relaxed(&r->pages[region_index(r, a)].state, mark);
	}
}

/* Resolve the marked pages of an event's range; a locked page is left to its holder. */
static void handle_range_event(struct swap_region *r, const struct uffd_msg *m)
{
	uint64_t start, end;
	uint32_t mark;

	if (!event_range(m, &start, &end, &mark) || !clip_range(r, &start, &end))
		return;
	for (uintptr_t a = (uintptr_t)start; a < end; a += SWAP_PAGE_SIZE) {
		size_t idx = region_index(r, a);
		uint32_t st = zs_load_relaxed(&r->pages[idx].state);

		if (!(st & (PG_REMOVED | PG_GONE)))
			continue; /* a fault resolved it already */
		st = page_trylock(&r->pages[idx]);
		if (st == UINT32_MAX)
			continue;
		resolve_marks(r, idx, st | PG_LOCKED, false);
		swi_page_unlock(r, idx);
	}
}

static void handle_msg(struct region_handler *h, const struct uffd_msg *m, uint64_t t0)
{
	struct swap_region *r = h->r;

	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		if (handle_fault(h, m->arg.pagefault.address, m->arg.pagefault.flags, t0) ==
		    FAULT_RETRY) {
			if (h->nr_deferred < REGION_MAX_DEFERRED) {
				h->deferred[h->nr_deferred++] = (struct region_deferred){
				    m->arg.pagefault.address, m->arg.pagefault.flags, t0};
			} else {
				/* let the thread raise it again later */
				swi_uffd_wake(r->uffd, m->arg.pagefault.address & ~4095ull,
					      SWAP_PAGE_SIZE);
			}
		}
		break;
	default:
		handle_range_event(r, m);
		break;
	}
}

static void retry_deferred(struct region_handler *h)
{
	unsigned n = h->nr_deferred, kept = 0;

	h->nr_deferred = 0;
	for (unsigned i = 0; i < n; i++) {
		struct region_deferred d = h->deferred[i];
		if (handle_fault(h, d.addr, d.flags, d.t0) == FAULT_RETRY)
			h->deferred[kept++] = d;
	}
	h->nr_deferred = kept;
}

static void *handler_main(void *arg)
{
	struct region_handler *h = arg;
	struct swap_region *r = h->r;
	struct uffd_msg msgs[HANDLER_MSGS];
	struct pollfd fds[2] = {{.fd = r->uffd, .events = POLLIN},
				{.fd = r->stop_fd, .events = POLLIN}};
	uint64_t spin_until = 0;
	bool spinning = false;

	for (;;) {
		ssize_t n;

		pthread_mutex_lock(&r->read_lock);
		n = read(r->uffd, msgs, sizeof(msgs));
		if (n > 0)
			mark_events(r, msgs, (size_t)n / sizeof(msgs[0]));
		pthread_mutex_unlock(&r->read_lock);
		if (n > 0) {
			uint64_t t0 = swi_now_ns();

			zs_store_relaxed(&h->busy, true);
			for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
				handle_msg(h, &msgs[i], t0);
			if (h->nr_deferred)
				retry_deferred(h);
			spin_until = swi_now_ns() + HANDLER_SPIN_NS;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break; /* the fd is gone: nothing more to serve */
		if (h->nr_deferred)
			retry_deferred(h);
		zs_store_relaxed(&h->busy, h->nr_deferred != 0);
		/* Stop once nothing raised is left: the queue is empty and nothing deferred. */
		if (zs_load_acquire(&r->stopping) && !h->nr_deferred)
			break;
		/* One handler at a time polls, yielding the CPU as it does: on a machine with few
		 * cores a second spinner would keep the woken program thread off a CPU. */
		if (swi_now_ns() < spin_until &&
		    (spinning || !zs_exchange_acquire(&r->spinner, true))) {
			spinning = true;
			sched_yield();
			continue;
		}
		if (spinning) {
			zs_store_release(&r->spinner, false);
			spinning = false;
		}
		if (poll(fds, 2, h->nr_deferred ? 1 : -1) < 0 && errno != EINTR)
			break;
	}
	if (spinning)
		zs_store_release(&r->spinner, false);
	zs_store_relaxed(&h->busy, false);
	return NULL;
}

int swi_region_start_handlers(struct swap_region *r)
{
	for (unsigned i = 0; i < r->nr_handlers; i++) {
		struct region_handler *h = &r->handlers[i];
		int err;

		h->r = r;
		h->buf = aligned_alloc(SWAP_PAGE_SIZE, SWAP_PAGE_SIZE);
		if (!h->buf)
			return -ENOMEM;
		err = pthread_create(&h->thread, NULL, handler_main, h);
		if (err)
			return -err;
		h->started = true;
		(void)pthread_setname_np(h->thread, "swap_region_flt");
	}
	return 0;
}

static bool handlers_idle(struct swap_region *r)
{
	struct pollfd p = {.fd = r->uffd, .events = POLLIN};

	if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
		return false;
	for (unsigned i = 0; i < r->nr_handlers; i++)
		if (zs_load_relaxed(&r->handlers[i].busy))
			return false;
	return true;
}

void swi_region_stop_handlers(struct swap_region *r)
{
	uint64_t one = 1;

	/* Serve what is queued: three looks a millisecond apart that find no message pending
	 * and every handler idle (a handler marks itself busy microseconds after its read). */
	for (int quiet = 0; quiet < 3;) {
		bool running = false;
		for (unsigned i = 0; i < r->nr_handlers; i++)
			running |= r->handlers[i].started;
		if (!running)
			break;
		quiet = handlers_idle(r) ? quiet + 1 : 0;
		usleep(1000);
	}
	zs_store_release(&r->stopping, true);
	if (write(r->stop_fd, &one, sizeof(one)) != sizeof(one)) {
		/* an eventfd write cannot fail with a counter this small */
	}
	for (unsigned i = 0; i < r->nr_handlers; i++) {
		struct region_handler *h = &r->handlers[i];
		if (h->started)
			pthread_join(h->thread, NULL);
		h->started = false;
		free(h->buf);
		h->buf = NULL;
	}
}
