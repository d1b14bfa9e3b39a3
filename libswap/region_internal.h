/*
 * Regions' internals: the data structures region.c, region_fault.c, region_reclaim.c and
 * region_os.c share.  Never installed.  Regions reach libswap only through its public calls
 * (include/zs/swap.h); the one exception is the swap_off hook (swi_region_unuse(), region.c).
 *
 * Shape
 * -----
 * A region of N pages has:
 *   - base: the program's mapping of N pages, registered with r->uffd (MISSING faults, plus
 *     asynchronous write-protection when written pages are tracked).
 *   - pages[N]: one struct region_page per page, in ordinary memory.  Its state word holds the
 *     page's kind (where its contents are) and flags; the kind only changes under the page lock.
 *   - two LRU lists of resident pages, active and inactive (lru_lock), as the kernel's anon lists.
 *   - the swap cache: a ring of nr_slots staging pages (a second mapping, registered with
 *     r->staging_uffd so that UFFDIO_MOVE may move pages into it).  An evicted page waits there
 *     uncompressed; writeback compresses the oldest (swap_out) or, for a clean page, just drops
 *     it.  slot_state[] and slot_owner[] (lru_lock) say which slots hold which page.
 *   - fault-handler threads (region_fault.c) and a reclaim thread (region_reclaim.c).
 *
 * A page's life: NONE (zero, never touched or discarded) -> RESIDENT (mapped, on a list) ->
 * CACHED (moved out into a staging slot) -> SWAPPED (compressed in an area: entry) -> RESIDENT...
 * A swapped-in page may keep its entry as a "swap copy" (PG_SWAPCOPY) while it is not written;
 * reclaiming it again then needs no compression.
 *
 * The page lock is the PG_LOCKED bit of the state word, taken with a compare-and-swap.  Only the
 * holder changes the kind, the entry, the slot and the hash.  A fault handler never waits for
 * it: finding a page locked, it sets PG_WAITERS and goes on with other faults; the holder wakes
 * the faulting threads (UFFDIO_WAKE) when it unlocks, and they fault again.  Other threads (the
 * swap_off hook, destroy) that must have a page wait for its lock with no other lock held.
 *
 * lock ordering (outermost first):
 *   ctx->swap_lock          libswap's; held by swap_off around swi_region_unuse() only
 *   ctx->region_lock        the context's list of regions (region.c): create, destroy, the hook
 *   page locks              PG_LOCKED bits; several may be held (a reclaim batch), but a second
 *                           one is only ever try-locked, so they cannot deadlock
 *   r->read_lock            a handler's read() of the fd and the marking of the events read;
 *                           nothing else is taken under it
 *   r->kswapd_lock          the reclaim thread's sleep and wake-up (region_reclaim.c)
 *   r->lru_lock             the lists, the slot ring, the list-size counters; held for list
 *                           operations only, never across a system call or a libswap call
 * Pages are try-locked (never waited for) with lru_lock held.  libswap's own locks are taken
 * inside its calls, which run under page locks only.  No thread of ours touches the region's
 * memory or waits for a faulting thread, so a handler never waits on a lock a faulting thread
 * holds: the program's threads hold none of these while they run their own code.
 */
#ifndef REGION_INTERNAL_H
#define REGION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../libzs/zs_atomic.h"
#include "zs/region.h"
#include "zs/swap.h"

#define REGION_PAGE_SHIFT 12
/* Pages per reclaim step: the kernel's SWAP_CLUSTER_MAX. */
#define REGION_BATCH 32
/* Pages a fault reclaims directly when the region is at its limit: enough to amortise the
 * eviction's system calls, few enough to keep the fault short. */
#define REGION_DIRECT_BATCH 8
/* Rounds of direct reclaim that may free nothing (the pages wanted are in other hands) before a
 * fault gives up and goes over the limit.  The first few yield to whoever holds them; past
 * those, while another thread is still shrinking the region (so it holds the victims), the
 * fault naps REGION_DIRECT_NAP_NS a round and gives up only once REGION_DIRECT_WAIT_NS have
 * passed too: a holder that is slow (descheduled, or under a sanitizer) still finishes in time.
 * With nobody shrinking, nothing is reclaimable (no swap space): the fault gives up at once. */
#define REGION_DIRECT_TRIES 64
#define REGION_DIRECT_YIELDS  8
#define REGION_DIRECT_NAP_NS  50000
#define REGION_DIRECT_WAIT_NS 50000000
/* Faults a handler keeps for a retry when the kernel answers EAGAIN (the program is changing
 * its mappings); more than this are left for the thread to raise again. */
#define REGION_MAX_DEFERRED 64

/* ---- a page ------------------------------------------------------------------------------ */

enum region_page_kind {
	PK_NONE = 0, /* zero: never touched, or discarded by the program */
	PK_RESIDENT, /* mapped in the region, on the active or inactive list */
	PK_CACHED,   /* moved out into staging slot ->slot, uncompressed */
	PK_SWAPPED,  /* compressed: ->entry holds the only copy */
	PK_UNMAPPED, /* the program unmapped it: never touched again */
	PK_POISONED, /* its swap copy was lost: UFFDIO_POISON installed, touching it is SIGBUS */
};

#define PG_KIND_MASK  0x7u
#define PG_LOCKED     0x8u   /* the page lock */
#define PG_WAITERS    0x10u  /* a handler left a fault on it for the holder to wake */
#define PG_REFERENCED 0x20u  /* written since the last scan, or prefaulted: a second chance */
#define PG_DIRTY      0x40u  /* written since swapped in: the swap copy is stale */
#define PG_SWAPCOPY   0x80u  /* ->entry is a copy of a resident or cached page's contents */
#define PG_REMOVED    0x100u /* the program discarded the page: whoever locks it resolves it */
#define PG_GONE	      0x200u /* the program unmapped the page: likewise */

enum region_lru { LRU_NONE = 0, LRU_ACTIVE, LRU_INACTIVE };

struct region_page {
	_Atomic uint32_t state;	     /* kind | PG_* */
	uint32_t lru_prev, lru_next; /* lru_lock */
	uint8_t lru;		     /* enum region_lru, lru_lock */
	uint32_t slot;		     /* staging slot of a cached page (page lock) */
	uint32_t evict_age;	     /* r->nonres_age when it was compressed (page lock) */
	swp_entry_t entry;	     /* its swap entry when SWAPPED or SWAPCOPY (page lock) */
	uint64_t hash;		     /* contents' XXH3 when SWAPCOPY (page lock) */
};

/* Invariant checks: abort in a debug build (ZS_DEBUG), nothing otherwise. */
#if defined(ZS_DEBUG) && ZS_DEBUG
#include <stdio.h>
#include <stdlib.h>
#define region_assert(cond)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "libswap region: %s:%d: invariant broken: %s\n", __FILE__, \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
#else
#define region_assert(cond) ((void)0)
#endif

static inline unsigned page_kind(uint32_t state)
{
	return state & PG_KIND_MASK;
}

static inline void cpu_relax_region(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* ---- latency histograms ------------------------------------------------------------------- */

/* Log-linear: 16 buckets per power of two (6% wide), from 16 ns to 2^40 ns. */
#define HIST_SUB_BITS 4
#define HIST_BUCKETS  ((40 - HIST_SUB_BITS) << HIST_SUB_BITS)

struct region_hist {
	_Atomic uint64_t bucket[HIST_BUCKETS];
	_Atomic uint64_t max, count;
};

void swi_hist_add(struct region_hist *h, uint64_t ns);
/* Sum @n histograms into @out's percentiles. */
void swi_hist_summary(struct region_hist *const *h, unsigned n, struct swap_region_latency *out);

/* ---- fault handlers (region_fault.c) ------------------------------------------------------- */

struct region_deferred {
	uint64_t addr;
	uint64_t flags;
	uint64_t t0;
};

struct region_handler {
	struct swap_region *r;
	pthread_t thread;
	bool started;
	_Atomic bool busy; /* between reading messages and going idle; destroy waits for idle */
	void *buf;	   /* one page for swap_in, ordinary memory (never registered) */
	unsigned nr_deferred;
	struct region_deferred deferred[REGION_MAX_DEFERRED];
	struct region_hist major, minor;
};

/* ---- the region --------------------------------------------------------------------------- */

struct region_list {
	uint32_t head, tail; /* page indexes, REGION_NIL when empty */
	_Atomic uint64_t nr; /* changed under lru_lock, read anywhere */
};
#define REGION_NIL UINT32_MAX

enum slot_state { SLOT_FREE = 0, SLOT_USED, SLOT_BUSY };

struct swap_region {
	struct swap_ctx *ctx;
	struct swap_region *ctx_next; /* ctx->regions (ctx->region_lock) */
	char *base;
	size_t nr_pages;
	unsigned flags;	   /* SWAP_REGION_* given */
	unsigned features; /* SWAP_REGION_F_* in use */
	int uffd;	   /* the region's userfaultfd */
	int staging_uffd;  /* the swap cache's: the destination of UFFDIO_MOVE out */
	int pagemap_fd;	   /* /proc/self/pagemap for PAGEMAP_SCAN; -1 without write tracking */
	int stop_fd;	   /* eventfd that wakes the handlers to stop */
	struct region_page *pages;

	/* budget, in pages */
	uint64_t resident_max, resident_min, limit, cache_target;
	_Atomic uint64_t nr_charged; /* pages holding RAM: resident + cached */
	_Atomic uint64_t nr_resident, nr_cached, nr_swapped;
	_Atomic uint64_t nr_shrinking; /* threads in swi_region_shrink: holders of victims */

	pthread_mutex_t lru_lock;
	struct region_list active, inactive;

	/* the swap cache: staging slots (lru_lock) */
	char *staging;
	uint32_t nr_slots;
	uint8_t *slot_state;  /* enum slot_state */
	uint32_t *slot_owner; /* page index of a USED slot */
	uint32_t slot_head;   /* where the next allocation looks */
	uint32_t wb_cursor;   /* where writeback looks for the oldest cached page */
	/* One more slot past the ring, where a page installed by a fault that raced with the
	 * program's discard of it is moved out to be dropped (trash_lock; a rare path). */
	uint32_t trash_slot;
	pthread_mutex_t trash_lock;
	void *zero_page; /* a page of zeros, the source of a write fault's first copy */

	/* the reclaim thread */
	pthread_t kswapd;
	bool kswapd_started;
	pthread_mutex_t kswapd_lock;
	pthread_cond_t kswapd_wait;
	bool kswapd_wanted, kswapd_stop; /* kswapd_lock */
	_Atomic bool kswapd_running;
	_Atomic bool kswapd_quit; /* leave the reclaim loop now */
	_Atomic bool stopping;	  /* destroy: the handlers leave their loops */

	/* write tracking */
	pthread_mutex_t scan_lock;
	_Atomic uint64_t evicted_since_scan;

	_Atomic uint32_t nonres_age; /* pages compressed so far (refault distance clock) */
	_Atomic bool keep_copies;    /* swap space is not scarce: swapped-in pages keep a copy */

	unsigned nr_handlers;
	struct region_handler *handlers;
	/* Serialises the handlers' reads of the fd, so that an event's pages are marked before
	 * any later message is read (region_fault.c). */
	pthread_mutex_t read_lock;
	_Atomic bool spinner; /* a handler is polling the fd instead of sleeping */

	struct {
		_Atomic uint64_t major, minor, reclaimed, clean, refaults, direct, reclaim_ns,
		    io_errors;
	} stat;
};

/* The page of @addr, which must be inside the region. */
static inline size_t region_index(const struct swap_region *r, uintptr_t addr)
{
	return (addr - (uintptr_t)r->base) >> REGION_PAGE_SHIFT;
}

static inline uintptr_t region_page_addr(const struct swap_region *r, size_t idx)
{
	return (uintptr_t)r->base + (idx << REGION_PAGE_SHIFT);
}

static inline char *staging_slot_addr(const struct swap_region *r, uint32_t slot)
{
	return r->staging + ((size_t)slot << REGION_PAGE_SHIFT);
}

static inline void region_stat_inc(_Atomic uint64_t *c, uint64_t v)
{
	zs_fetch_add_relaxed(c, v);
}

static inline void region_count_dec(_Atomic uint64_t *c)
{
	zs_fetch_sub_relaxed(c, 1);
}

/* ---- page locks (region_fault.c) --------------------------------------------------------- */

/* Try to take @p's lock: the state it held (unlocked) on success, or UINT32_MAX. */
static inline uint32_t page_trylock(struct region_page *p)
{
	uint32_t st = zs_load_relaxed(&p->state);

	while (!(st & PG_LOCKED)) {
		if (zs_cas_weak_acquire(&p->state, &st, st | PG_LOCKED))
			return st;
	}
	return UINT32_MAX;
}

/* Set the kind and flags of a locked page (PG_LOCKED and PG_WAITERS are kept). */
static inline void page_set(struct region_page *p, unsigned kind, uint32_t set, uint32_t clear)
{
	uint32_t st = zs_load_relaxed(&p->state), nst;

	do {
		nst = ((st & ~(PG_KIND_MASK | clear)) | set | kind);
	} while (!zs_cas_weak_relaxed(&p->state, &st, nst));
}

/* Release @p's lock; wakes the threads whose faults handlers left on it. */
void swi_page_unlock(struct swap_region *r, size_t idx);
/* Resolve the PG_REMOVED / PG_GONE marks of page @idx, just locked (state @st): the state now. */
uint32_t swi_page_resolve(struct swap_region *r, size_t idx, uint32_t st);
/* Take @idx's lock, waiting (yielding) for its holder: only for threads that hold no lock and
 * are not fault handlers.  Returns the unlocked state it held. */
uint32_t swi_page_lock_wait(struct swap_region *r, size_t idx);

/* ---- faults (region_fault.c) ------------------------------------------------------------- */

int swi_region_start_handlers(struct swap_region *r);
/* Serve every fault already raised, then stop and join the handlers. */
void swi_region_stop_handlers(struct swap_region *r);
/*
 * Bring locked page @idx (state @st) into the region, for a fault or a prefault: charge the
 * budget, install its contents.  @buf is a page of scratch memory.  0, -EAGAIN (the program is
 * changing its mappings: try again later, the page is unchanged), -EIO (the swap copy is lost: the
 * page was poisoned or zero-filled), or another -errno of the install.  The page stays locked.
 */
int swi_region_fault_in(struct swap_region *r, size_t idx, uint32_t st, bool write, void *buf,
			bool *major);
/* Forget what the library holds for locked page @idx (the program discarded or unmapped it):
 * free its swap copy or slot, uncharge it; the kind becomes @kind. */
void swi_region_discard_locked(struct swap_region *r, size_t idx, uint32_t st, unsigned kind);

/* ---- reclaim (region_reclaim.c) --------------------------------------------------------- */

int swi_region_reclaim_init(struct swap_region *r);
void swi_region_reclaim_fini(struct swap_region *r);
int swi_region_start_kswapd(struct swap_region *r);
void swi_region_stop_kswapd(struct swap_region *r);
/* One page more in RAM: charge it, wake the reclaim thread past resident_max, reclaim directly
 * past the limit. */
void swi_region_charge(struct swap_region *r);
void swi_region_uncharge(struct swap_region *r);
/* Reclaim up to @nr pages (write them back out of RAM); @direct: a fault needs the room now.
 * Returns the pages reclaimed. */
uint64_t swi_region_shrink(struct swap_region *r, uint64_t nr, bool direct);
/* List operations on page @idx (lru_lock taken inside). */
void swi_lru_add(struct swap_region *r, size_t idx, bool active);
void swi_lru_del(struct swap_region *r, size_t idx);
void swi_lru_touch(struct swap_region *r, size_t idx); /* to the active list's head */
/* Free staging slot @slot of a cached page whose contents are no longer needed. */
void swi_slot_discard(struct swap_region *r, uint32_t slot);
/* A staging slot emptied by a move back into the region. */
void swi_slot_release(struct swap_region *r, uint32_t slot);
/* Written-page tracking: fold PAGEMAP_SCAN's answer into the pages' flags. */
void swi_region_scan_written(struct swap_region *r);
/* Whether a refault at @evict_age is recent enough to protect the page (and count it). */
bool swi_region_refault_recent(struct swap_region *r, uint32_t evict_age);

/* ---- the operating system (region_os.c) -------------------------------------------------- */

/* The userfaultfd features regions use: linux/userfaultfd.h's UFFD_FEATURE_* bits (stable ABI;
 * region_os.c checks them against the headers that have them). */
#define UFFD_FEAT_EVENT_REMAP  (1ull << 2)
#define UFFD_FEAT_EVENT_REMOVE (1ull << 3)
#define UFFD_FEAT_EVENT_UNMAP  (1ull << 6)
#define UFFD_FEAT_SIGBUS       (1ull << 7)
#define UFFD_FEAT_POISON       (1ull << 14)
#define UFFD_FEAT_WP_ASYNC     (1ull << 15)
#define UFFD_FEAT_MOVE	       (1ull << 16)

/* How a userfaultfd was obtained. */
enum uffd_how { UFFD_HOW_SYSCALL = 1, UFFD_HOW_DEV, UFFD_HOW_USER_MODE };

/* Open a userfaultfd (non-blocking, close-on-exec) by the first way permitted, the user-mode-only
 * way alone if @user_mode_only.  The fd and *how, or -errno with a message in @msg. */
int swi_uffd_open(bool user_mode_only, enum uffd_how *how, char *msg, size_t msglen);
/* Open one more userfaultfd the same way as before. */
int swi_uffd_open_as(enum uffd_how how);
/* UFFDIO_API: enable @want & what the kernel has; *got = what it has.  0 or -errno. */
int swi_uffd_api(int fd, uint64_t want, uint64_t *got);
/* The features the kernel offers (a throwaway userfaultfd opened as @how). */
int swi_uffd_features(enum uffd_how how, uint64_t *features);
int swi_uffd_register(int fd, void *addr, size_t len, bool wp);
int swi_uffd_unregister(int fd, void *addr, size_t len);
/* Installs and moves never wake the faulting threads: whoever unlocks the page does (PG_WAITERS),
 * once the page is accounted, so a thread never sees its own fault half done. */
int swi_uffd_copy(int fd, uintptr_t dst, const void *src, bool wp);
int swi_uffd_zeropage(int fd, uintptr_t dst);
int swi_uffd_move(int fd, uintptr_t dst, uintptr_t src);
int swi_uffd_wake(int fd, uintptr_t addr, size_t len);
/* Write-protect [addr, addr + len), or (@protect false) drop the protection, which also removes
 * a write-protect marker from a missing page. */
int swi_uffd_writeprotect(int fd, uintptr_t addr, size_t len, bool protect);
int swi_uffd_poison(int fd, uintptr_t addr);
/* Anonymous memory for a region or its staging slots: DONTFORK, no huge pages, named. */
void *swi_map_pages(size_t len, const char *name);
int swi_zap_pages(void *addr, size_t len);
int swi_unmap_pages(void *addr, size_t len);
int swi_eventfd(void);
void swi_close(int fd);
/* The pagemap fd if PAGEMAP_SCAN with async write-protect works on @addr, else -errno. */
int swi_pagemap_open(void *addr, size_t len);
/*
 * Pages of [@start, @end) written since the last call (present pages only), write-protected
 * again: @fn(@arg, first, last) for each run.  0 or -errno.
 */
int swi_pagemap_scan_written(int fd, uintptr_t start, uintptr_t end,
			     void (*fn)(void *arg, uintptr_t first, uintptr_t last), void *arg);
uint64_t swi_now_ns(void);
uint64_t swi_thread_cpu_ns(void);

#endif /* REGION_INTERNAL_H */
