/*
 * swap_cache.h - the swap cache (swap_cache.c): per area, a radix tree from slot offset to the
 * page in memory that a slot's data is being written from or read into, or that a caller keeps
 * there; and the page descriptors it holds (struct swap_cache_page), recycled per context.
 *
 * Who may do what: only the holder of a slot's swap-cache claim (SWAP_HAS_CACHE, slot.h)
 * inserts or removes that slot's page, so inserts and removals of one slot never race.
 * Lookups take no lock: they walk the tree inside an RCU read section and take a reference.
 */
#ifndef SWAP_CACHE_H
#define SWAP_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../libzs/zs_atomic.h"
#include "counters.h"
#include "spinlock.h"
#include "swap_rcu.h"

#define SWAP_CACHE_SHIFT  6 /* 64 slots per node: a node is 512 bytes, 8 cache lines */
#define SWAP_CACHE_FANOUT (1u << SWAP_CACHE_SHIFT)

struct swap_cache_node {
	void *slot[SWAP_CACHE_FANOUT];
};

struct swap_cache_tree {
	unsigned height; /* levels of nodes; the leaves are level 0 */
	struct swap_cache_node *root;
};

/* Page states (a futex word). */
#define SCP_LOCKED  0x1u /* not filled yet */
#define SCP_WAITERS 0x2u /* someone sleeps on the futex */
#define SCP_ERROR   0x4u /* filling failed: ->error says how */

/*
 * A page in the swap cache.  Descriptors are type-stable: they are recycled through per-CPU
 * free lists and only freed with the context, so an RCU lookup may take a reference to one that
 * was just reused; it then sees a different ->entry and retries.
 */
struct swap_cache_page {
	atomic_uint ref;   /* 0: free; the owner holds 1; lookups add theirs */
	atomic_uint state; /* SCP_* */
	int error;
	_Atomic uint64_t entry;
	const void *data; /* the page: the owner's buffer */
	struct swap_cache_page *next_free;
} __attribute__((aligned(SWAP_CACHELINE)));

struct swap_cache_pcpu {
	struct swap_spinlock lock;
	struct swap_cache_page *free;
	unsigned nr_free;
} __attribute__((aligned(SWAP_CACHELINE)));

/* A context's descriptors: per-CPU free lists over chunks shared by every area. */
struct swap_cache_pages {
	struct swap_cache_pcpu *pcpu;
	pthread_mutex_t lock;	      /* the chunks and the shared free list; no other lock held */
	void *chunks;		      /* list of allocated descriptor chunks */
	struct swap_cache_page *free; /* descriptors CPUs gave back */
};

/* ---- the tree ---- */

/* A tree for offsets below @max.  0 or -ENOMEM. */
int swi_cache_tree_init(struct swap_cache_tree *t, uint64_t max);
/* Free the tree; no lookup may still run (after a grace period). */
void swi_cache_tree_destroy(struct swap_cache_tree *t);
/* Put @p at @off: 0, -ENOMEM (a node), or -EEXIST (a page is there).  Inside a read section. */
int swi_cache_insert(struct swap_cache_tree *t, uint64_t off, struct swap_cache_page *p);
/* The page at @off, no reference taken; inside a read section. */
struct swap_cache_page *swi_cache_peek(struct swap_cache_tree *t, uint64_t off);
/* The page at @off cached for entry value @val, with a reference taken (not waiting for it to
 * be filled); NULL if none.  Inside a read section. */
struct swap_cache_page *swi_cache_get(struct swap_cache_tree *t, uint64_t off, uint64_t val);

/* ---- the pages ---- */

int swi_cache_pages_init(struct swap_cache_pages *pages);
void swi_cache_pages_destroy(struct swap_cache_pages *pages);
/* A page for @entry_val over the caller's buffer @data, in @state (0 or SCP_LOCKED), with the
 * owner's reference; NULL if out of memory. */
struct swap_cache_page *swi_cache_page_alloc(struct swap_cache_pages *pages, unsigned cpu,
					     uint64_t entry_val, const void *data, unsigned state);
/*
 * Remove @p from @t at @off (if @t is not NULL: it was inserted), wait until every lookup has
 * dropped its reference, and recycle it.  Called inside a read section by the holder of the
 * slot's claim; may leave and re-enter the section while it waits.
 */
void swi_cache_page_retire(struct swap_cache_pages *pages, unsigned cpu, struct swap_cache_tree *t,
			   uint64_t off, struct swap_cache_page *p);
/* Wait until @p is filled (with no lock and no read section held): 0 or its error. */
int swi_cache_page_wait(struct swap_cache_page *p);
/* Mark a SCP_LOCKED page filled (@error 0) or failed, waking its waiters. */
void swi_cache_page_unlock(struct swap_cache_page *p, int error);
void swi_cache_page_put(struct swap_cache_page *p);

#endif /* SWAP_CACHE_H */
