/*
 * swap_cache.c - the swap cache's tree and pages (swap_cache.h).
 *
 * Tree: fixed height for the area's size (64 slots per node, so 3 levels cover 262144 slots),
 * nodes created on first use with a compare-and-swap and kept until swap_off, when a grace
 * period has passed.  At most one leaf per 64 slots exists, 8 bytes per slot at worst.
 * Lookups walk it with rcu_dereference inside a read section and never lock.  Inserting and
 * removing a page is one compare-and-swap on the leaf slot.
 *
 * Pages are type-stable: recycled through per-CPU free lists, freed with the context.  A lookup
 * takes a reference with increment-if-not-zero and then checks the page's entry, so a page
 * reused for another slot in between is noticed and the lookup retries.  The owner of a page
 * (who inserted it) removes it from the tree, then waits for the lookups' references to drain
 * before reusing it, so the bytes a lookup reads stay valid and unchanged while it holds its
 * reference.  Waiting for a locked page (not filled yet) sleeps on a futex in its state word.
 *
 * This file may not touch swap_map bytes, clusters, areas or backends.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "swap_cache.h"

#define PAGE_CHUNK 64 /* descriptors allocated at once: one 4 KiB chunk */

struct page_chunk {
	struct page_chunk *next;
	struct swap_cache_page p[PAGE_CHUNK];
};

/* ---- the radix tree ------------------------------------------------------------------- */

static struct swap_cache_node *node_alloc(void)
{
	struct swap_cache_node *n = aligned_alloc(SWAP_CACHELINE, sizeof(*n));

	if (n)
		memset(n, 0, sizeof(*n));
	return n;
}

int swi_cache_tree_init(struct swap_cache_tree *t, uint64_t max)
{
	unsigned h = 1;

	while (h * SWAP_CACHE_SHIFT < 64 && (max - 1) >> (h * SWAP_CACHE_SHIFT))
		h++;
	t->height = h;
	t->root = node_alloc();
	return t->root ? 0 : -ENOMEM;
}

static void node_free(struct swap_cache_node *n, unsigned level)
{
	if (!n)
		return;
	if (level > 0) {
		for (unsigned i = 0; i < SWAP_CACHE_FANOUT; i++)
			node_free(n->slot[i], level - 1);
	}
	free(n);
}

void swi_cache_tree_destroy(struct swap_cache_tree *t)
{
	if (t->root)
		node_free(t->root, t->height - 1);
	t->root = NULL;
}

/*
 * The leaf slot of @off, creating the nodes on the way when @create; NULL if a node is missing
 * (lookup) or cannot be allocated (insert).  Inside a read section.
 */
static void **cache_slot(struct swap_cache_tree *t, uint64_t off, bool create)
{
	struct swap_cache_node *node = t->root;

	for (unsigned level = t->height - 1; level > 0; level--) {
		unsigned idx = (off >> (level * SWAP_CACHE_SHIFT)) & (SWAP_CACHE_FANOUT - 1);
		struct swap_cache_node *child = rcu_dereference(node->slot[idx]);

		if (!child) {
			struct swap_cache_node *n, *old;

			if (!create || !(n = node_alloc()))
				return NULL;
			old = rcu_cmpxchg_pointer(&node->slot[idx], NULL, n);
			if (old) {
				free(n); /* another inserter made it first; n was never visible */
				child = old;
			} else {
				child = n;
			}
		}
		node = child;
	}
	return &node->slot[off & (SWAP_CACHE_FANOUT - 1)];
}

int swi_cache_insert(struct swap_cache_tree *t, uint64_t off, struct swap_cache_page *p)
{
	void **slot = cache_slot(t, off, true);

	if (!slot)
		return -ENOMEM;
	if (rcu_cmpxchg_pointer(slot, NULL, p) != NULL)
		return -EEXIST;
	return 0;
}

struct swap_cache_page *swi_cache_peek(struct swap_cache_tree *t, uint64_t off)
{
	void **slot = cache_slot(t, off, false);

	return slot ? rcu_dereference(*slot) : NULL;
}

static void cache_remove(struct swap_cache_tree *t, uint64_t off, struct swap_cache_page *p)
{
	void **slot = cache_slot(t, off, false);

	if (slot)
		rcu_cmpxchg_pointer(slot, p, NULL);
}

/* ---- pages ------------------------------------------------------------------------------ */

static bool ref_get_unless_zero(struct swap_cache_page *p)
{
	unsigned r = zs_load_relaxed(&p->ref);

	while (r) {
		if (zs_cas_weak_acquire(&p->ref, &r, r + 1))
			return true;
	}
	return false;
}

void swi_cache_page_put(struct swap_cache_page *p)
{
	zs_fetch_sub_release(&p->ref, 1);
}

struct swap_cache_page *swi_cache_get(struct swap_cache_tree *t, uint64_t off, uint64_t val)
{
	for (;;) {
		struct swap_cache_page *p = swi_cache_peek(t, off);

		if (!p)
			return NULL;
		if (!ref_get_unless_zero(p))
			continue; /* being recycled: the slot no longer points at it */
		if (zs_load_relaxed(&p->entry) == val)
			return p;
		swi_cache_page_put(p);
	}
}

int swi_cache_pages_init(struct swap_cache_pages *pages)
{
	memset(pages, 0, sizeof(*pages));
	pthread_mutex_init(&pages->lock, NULL);
	pages->pcpu = aligned_alloc(SWAP_CACHELINE, sizeof(*pages->pcpu) * swi_nr_cpus);
	if (!pages->pcpu)
		return -ENOMEM;
	memset(pages->pcpu, 0, sizeof(*pages->pcpu) * swi_nr_cpus);
	return 0;
}

void swi_cache_pages_destroy(struct swap_cache_pages *pages)
{
	struct page_chunk *c = pages->chunks;

	while (c) {
		struct page_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(pages->pcpu);
	pthread_mutex_destroy(&pages->lock);
}

/*
 * @pc's free list is empty: take a batch from the shared list of pages other CPUs gave back, or
 * else allocate a chunk.  One page is for the caller, the rest go to @pc.
 */
static struct swap_cache_page *pages_refill(struct swap_cache_pages *pages,
					    struct swap_cache_pcpu *pc)
{
	struct swap_cache_page *batch = NULL, *p;
	unsigned n = 0;

	pthread_mutex_lock(&pages->lock);
	while (pages->free && n < PAGE_CHUNK) {
		p = pages->free;
		pages->free = p->next_free;
		p->next_free = batch;
		batch = p;
		n++;
	}
	pthread_mutex_unlock(&pages->lock);
	if (!batch) {
		struct page_chunk *c = aligned_alloc(SWAP_CACHELINE, sizeof(*c));

		if (!c)
			return NULL;
		memset(c, 0, sizeof(*c));
		pthread_mutex_lock(&pages->lock);
		c->next = pages->chunks;
		pages->chunks = c;
		pthread_mutex_unlock(&pages->lock);
		for (int i = PAGE_CHUNK - 1; i >= 0; i--) {
			c->p[i].next_free = batch;
			batch = &c->p[i];
		}
	}
	p = batch;
	batch = batch->next_free;
	swap_spin_lock(&pc->lock);
	while (batch) {
		struct swap_cache_page *next = batch->next_free;

		batch->next_free = pc->free;
		pc->free = batch;
		pc->nr_free++;
		batch = next;
	}
	swap_spin_unlock(&pc->lock);
	return p;
}

struct swap_cache_page *swi_cache_page_alloc(struct swap_cache_pages *pages, unsigned cpu,
					     uint64_t entry_val, const void *data, unsigned state)
{
	struct swap_cache_pcpu *pc = &pages->pcpu[cpu];
	struct swap_cache_page *p;

	swap_spin_lock(&pc->lock);
	p = pc->free;
	if (p) {
		pc->free = p->next_free;
		pc->nr_free--;
	}
	swap_spin_unlock(&pc->lock);
	if (!p && !(p = pages_refill(pages, pc)))
		return NULL;
	p->error = 0;
	p->data = data;
	zs_store_relaxed(&p->entry, entry_val);
	zs_store_relaxed(&p->state, state);
	/* Publishes the fields above to any lookup whose increment-if-not-zero succeeds. */
	zs_store_release(&p->ref, 1);
	return p;
}

void swi_cache_page_retire(struct swap_cache_pages *pages, unsigned cpu, struct swap_cache_tree *t,
			   uint64_t off, struct swap_cache_page *p)
{
	struct swap_cache_pcpu *pc = &pages->pcpu[cpu];
	struct swap_cache_page *give = NULL;
	unsigned one = 1;
	int spins = 0;

	if (t)
		cache_remove(t, off, p);
	/*
	 * Lookups that found it before the removal still hold references: let them finish.  A
	 * swap_cache_lookup() reference can be held for long, by a thread that may itself wait
	 * for a grace period (swap_on/swap_off), so we wait outside our read section; the
	 * caller's swap-cache claim keeps the area alive meanwhile.
	 */
	if (!zs_cas_strong_acquire(&p->ref, &one, 0)) {
		swi_rcu_read_unlock();
		do {
			one = 1;
			if (++spins > SWAP_SPIN_BEFORE_YIELD)
				sched_yield();
			else
				cpu_relax();
		} while (!zs_cas_weak_acquire(&p->ref, &one, 0));
		swi_rcu_read_lock();
	}
	/*
	 * Pages are retired on the CPU that deletes and allocated on the one that adds: a CPU that
	 * gathers more than two chunks' worth gives one chunk's worth back to the shared list, so a
	 * producer on one CPU and a consumer on another do not grow memory forever.
	 */
	swap_spin_lock(&pc->lock);
	p->next_free = pc->free;
	pc->free = p;
	pc->nr_free++;
	if (pc->nr_free > 2 * PAGE_CHUNK) {
		struct swap_cache_page *last = pc->free;

		for (int i = 1; i < PAGE_CHUNK; i++)
			last = last->next_free;
		give = pc->free;
		pc->free = last->next_free;
		last->next_free = NULL;
		pc->nr_free -= PAGE_CHUNK;
	}
	swap_spin_unlock(&pc->lock);
	if (give) {
		struct swap_cache_page *last = give;

		while (last->next_free)
			last = last->next_free;
		pthread_mutex_lock(&pages->lock);
		last->next_free = pages->free;
		pages->free = give;
		pthread_mutex_unlock(&pages->lock);
	}
}

static long futex(atomic_uint *uaddr, int op, unsigned val)
{
	return syscall(SYS_futex, (unsigned *)(uintptr_t)uaddr, op, val, NULL, NULL, 0);
}

int swi_cache_page_wait(struct swap_cache_page *p)
{
	unsigned s = zs_load_acquire(&p->state);

	while (s & SCP_LOCKED) {
		if (!(s & SCP_WAITERS)) {
			if (!zs_cas_weak_acquire(&p->state, &s, s | SCP_WAITERS))
				continue;
			s |= SCP_WAITERS;
		}
		futex(&p->state, FUTEX_WAIT_PRIVATE, s);
		s = zs_load_acquire(&p->state);
	}
	return (s & SCP_ERROR) ? p->error : 0;
}

void swi_cache_page_unlock(struct swap_cache_page *p, int error)
{
	unsigned old;

	p->error = error;
	old = zs_exchange_release(&p->state, error ? SCP_ERROR : 0);
	if (old & SCP_WAITERS)
		futex(&p->state, FUTEX_WAKE_PRIVATE, INT_MAX);
}
