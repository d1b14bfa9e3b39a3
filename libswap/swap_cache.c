/*
 * The swap cache: per area, a radix tree from slot offset to the page descriptor of a page that
 * has both a slot and a copy in memory (being written by swap_out, being read by swap_in, or
 * added by a caller through the lower-layer API).
 *
 * Tree: fixed height for the area's size (64 slots per node, so 3 levels cover 262144 slots),
 * nodes created on first use with a compare-and-swap and kept until swap_off, when a grace
 * period has passed.  At most one leaf per 64 slots exists, 8 bytes per slot at worst.
 * Lookups walk it with rcu_dereference inside an urcu-memb read section and never lock.
 * Inserting and deleting a page is one compare-and-swap on the leaf slot; only the holder of the
 * slot's SWAP_HAS_CACHE claim does either, so they never race with each other for one slot.
 *
 * Descriptors are type-stable: recycled through per-CPU free lists, freed with the context.  A
 * lookup takes a reference with increment-if-not-zero and then checks the descriptor's entry, so
 * a descriptor reused for another slot in between is noticed and the lookup retries.  The owner
 * of a descriptor (who inserted it) removes it from the tree, then waits for the lookups'
 * references to drain before reusing it, so the page bytes a lookup reads stay valid and
 * unchanged while it holds its reference.  Waiting for a locked page (not filled yet) sleeps on
 * a futex in the descriptor's state word.
 *
 * This file may not change swap_map bytes (it asks swap_map.c for claims) or touch backends.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "swap_internal.h"

#define DESC_CHUNK 64 /* descriptors allocated at once: one 4 KiB chunk */

struct desc_chunk {
	struct desc_chunk *next;
	struct swap_cache_page d[DESC_CHUNK];
};

/* ---- the radix tree ------------------------------------------------------------------- */

static struct swap_cache_node *node_alloc(void)
{
	struct swap_cache_node *n = aligned_alloc(SWAP_CACHELINE, sizeof(*n));
	if (n)
		memset(n, 0, sizeof(*n));
	return n;
}

int swap_cache_tree_init(struct swap_info *si)
{
	unsigned h = 1;
	while (h * SWAP_CACHE_SHIFT < 64 && (si->max - 1) >> (h * SWAP_CACHE_SHIFT))
		h++;
	si->cache.height = h;
	si->cache.root = node_alloc();
	return si->cache.root ? 0 : -ENOMEM;
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

void swap_cache_tree_destroy(struct swap_info *si)
{
	node_free(si->cache.root, si->cache.height - 1);
	si->cache.root = NULL;
}

/*
 * The leaf slot of @off, creating the nodes on the way when @create; NULL if a node is missing
 * (lookup) or cannot be allocated (insert).  Inside an RCU read section.
 */
static void **cache_slot(struct swap_info *si, uint64_t off, bool create)
{
	struct swap_cache_node *node = si->cache.root;

	for (unsigned level = si->cache.height - 1; level > 0; level--) {
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

int swap_cache_insert(struct swap_info *si, uint64_t off, struct swap_cache_page *d)
{
	void **slot = cache_slot(si, off, true);

	if (!slot)
		return -ENOMEM;
	if (rcu_cmpxchg_pointer(slot, NULL, d) != NULL)
		return -EEXIST;
	return 0;
}

struct swap_cache_page *swap_cache_peek(struct swap_info *si, uint64_t off)
{
	void **slot = cache_slot(si, off, false);
	return slot ? rcu_dereference(*slot) : NULL;
}

static void cache_remove(struct swap_info *si, uint64_t off, struct swap_cache_page *d)
{
	void **slot = cache_slot(si, off, false);
	if (slot)
		rcu_cmpxchg_pointer(slot, d, NULL);
}

/* ---- descriptors ---------------------------------------------------------------------- */

static bool ref_get_unless_zero(struct swap_cache_page *d)
{
	unsigned r = atomic_load_explicit(&d->ref, memory_order_relaxed);
	while (r) {
		if (atomic_compare_exchange_weak_explicit(&d->ref, &r, r + 1, memory_order_acquire,
							  memory_order_relaxed))
			return true;
	}
	return false;
}

void swap_cache_page_put(struct swap_cache_page *d)
{
	atomic_fetch_sub_explicit(&d->ref, 1, memory_order_release);
}

int swap_desc_init(struct swap_ctx *ctx)
{
	ctx->desc_pcpu = aligned_alloc(SWAP_CACHELINE, sizeof(*ctx->desc_pcpu) * swap_nr_cpus);
	if (!ctx->desc_pcpu)
		return -ENOMEM;
	memset(ctx->desc_pcpu, 0, sizeof(*ctx->desc_pcpu) * swap_nr_cpus);
	return 0;
}

void swap_desc_destroy(struct swap_ctx *ctx)
{
	struct desc_chunk *c = ctx->desc_chunks;
	while (c) {
		struct desc_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(ctx->desc_pcpu);
}

/*
 * @p's free list is empty: take a batch from the shared list of descriptors other CPUs gave
 * back, or else allocate a chunk.  One descriptor is for the caller, the rest go to @p.
 */
static struct swap_cache_page *desc_refill(struct swap_ctx *ctx, struct swap_desc_pcpu *p)
{
	struct swap_cache_page *batch = NULL, *d;
	unsigned n = 0;

	pthread_mutex_lock(&ctx->desc_chunk_lock);
	while (ctx->desc_free && n < DESC_CHUNK) {
		d = ctx->desc_free;
		ctx->desc_free = d->next_free;
		d->next_free = batch;
		batch = d;
		n++;
	}
	pthread_mutex_unlock(&ctx->desc_chunk_lock);
	if (!batch) {
		struct desc_chunk *c = aligned_alloc(SWAP_CACHELINE, sizeof(*c));

		if (!c)
			return NULL;
		memset(c, 0, sizeof(*c));
		pthread_mutex_lock(&ctx->desc_chunk_lock);
		c->next = ctx->desc_chunks;
		ctx->desc_chunks = c;
		pthread_mutex_unlock(&ctx->desc_chunk_lock);
		for (int i = DESC_CHUNK - 1; i >= 0; i--) {
			c->d[i].next_free = batch;
			batch = &c->d[i];
		}
		n = DESC_CHUNK;
	}
	d = batch;
	batch = batch->next_free;
	swap_spin_lock(&p->lock);
	while (batch) {
		struct swap_cache_page *next = batch->next_free;
		batch->next_free = p->free;
		p->free = batch;
		p->nr_free++;
		batch = next;
	}
	swap_spin_unlock(&p->lock);
	return d;
}

struct swap_cache_page *swap_desc_alloc(struct swap_ctx *ctx, unsigned cpu, swp_entry_t entry,
					const void *data, unsigned state)
{
	struct swap_desc_pcpu *p = &ctx->desc_pcpu[cpu];
	struct swap_cache_page *d;

	swap_spin_lock(&p->lock);
	d = p->free;
	if (d) {
		p->free = d->next_free;
		p->nr_free--;
	}
	swap_spin_unlock(&p->lock);
	if (!d && !(d = desc_refill(ctx, p)))
		return NULL;
	d->error = 0;
	d->data = data;
	atomic_store_explicit(&d->entry, entry.val, memory_order_relaxed);
	atomic_store_explicit(&d->state, state, memory_order_relaxed);
	/* Publishes the fields above to any lookup whose increment-if-not-zero succeeds. */
	atomic_store_explicit(&d->ref, 1, memory_order_release);
	return d;
}

void swap_desc_retire(struct swap_ctx *ctx, unsigned cpu, struct swap_info *si, uint64_t off,
		      struct swap_cache_page *d)
{
	struct swap_desc_pcpu *p = &ctx->desc_pcpu[cpu];
	unsigned one = 1;
	int spins = 0;

	if (si)
		cache_remove(si, off, d);
	/*
	 * Lookups that found it before the removal still hold references: let them finish.  A
	 * swap_cache_lookup() reference can be held for long, by a thread that may itself wait
	 * for a grace period (swap_on/swap_off), so we wait outside our RCU read section; the
	 * caller's swap-cache claim keeps the area alive meanwhile.
	 */
	if (!atomic_compare_exchange_strong_explicit(&d->ref, &one, 0, memory_order_acquire,
						     memory_order_relaxed)) {
		swap_rcu_read_unlock();
		do {
			one = 1;
			if (++spins > SWAP_SPIN_BEFORE_YIELD)
				sched_yield();
			else
				cpu_relax();
		} while (!atomic_compare_exchange_weak_explicit(
		    &d->ref, &one, 0, memory_order_acquire, memory_order_relaxed));
		swap_rcu_read_lock();
	}
	/*
	 * Descriptors are retired on the CPU that deletes and allocated on the one that adds: a
	 * CPU that gathers more than two chunks' worth gives one chunk's worth back to the shared
	 * list, so a producer on one CPU and a consumer on another do not grow memory forever.
	 */
	struct swap_cache_page *give = NULL;
	swap_spin_lock(&p->lock);
	d->next_free = p->free;
	p->free = d;
	p->nr_free++;
	if (p->nr_free > 2 * DESC_CHUNK) {
		struct swap_cache_page *last = p->free;
		for (int i = 1; i < DESC_CHUNK; i++)
			last = last->next_free;
		give = p->free;
		p->free = last->next_free;
		last->next_free = NULL;
		p->nr_free -= DESC_CHUNK;
	}
	swap_spin_unlock(&p->lock);
	if (give) {
		struct swap_cache_page *last = give;
		while (last->next_free)
			last = last->next_free;
		pthread_mutex_lock(&ctx->desc_chunk_lock);
		last->next_free = ctx->desc_free;
		ctx->desc_free = give;
		pthread_mutex_unlock(&ctx->desc_chunk_lock);
	}
}

struct swap_cache_page *swap_cache_get(struct swap_info *si, uint64_t off, uint64_t val)
{
	for (;;) {
		struct swap_cache_page *d = swap_cache_peek(si, off);
		if (!d)
			return NULL;
		if (!ref_get_unless_zero(d))
			continue; /* being recycled: the slot no longer points at it */
		if (atomic_load_explicit(&d->entry, memory_order_relaxed) == val)
			return d;
		swap_cache_page_put(d);
	}
}

static long futex(atomic_uint *uaddr, int op, unsigned val)
{
	return syscall(SYS_futex, (unsigned *)(uintptr_t)uaddr, op, val, NULL, NULL, 0);
}

int swap_cache_wait(struct swap_cache_page *d)
{
	unsigned s = atomic_load_explicit(&d->state, memory_order_acquire);

	while (s & SCP_LOCKED) {
		if (!(s & SCP_WAITERS)) {
			if (!atomic_compare_exchange_weak_explicit(&d->state, &s, s | SCP_WAITERS,
								   memory_order_acquire,
								   memory_order_acquire))
				continue;
			s |= SCP_WAITERS;
		}
		futex(&d->state, FUTEX_WAIT_PRIVATE, s);
		s = atomic_load_explicit(&d->state, memory_order_acquire);
	}
	return (s & SCP_ERROR) ? d->error : 0;
}

void swap_cache_page_unlock(struct swap_cache_page *d, int error)
{
	unsigned old;

	d->error = error;
	old = atomic_exchange_explicit(&d->state, error ? SCP_ERROR : 0, memory_order_release);
	if (old & SCP_WAITERS)
		futex(&d->state, FUTEX_WAKE_PRIVATE, INT_MAX);
}

SWAP_API int swap_cache_prepare(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	int err;

	if (!si)
		return -EINVAL;
	err = swap_claim_cache(si, swp_offset(entry));
	swap_rcu_read_unlock();
	return err;
}

SWAP_API int swap_cache_add(struct swap_ctx *ctx, swp_entry_t entry, const void *page,
			    unsigned flags)
{
	struct swap_info *si;
	struct swap_cache_page *d;
	uint64_t off = swp_offset(entry);
	unsigned cpu;
	int err;

	if (!page || (flags & ~SWAP_CACHE_LOCKED))
		return -EINVAL;
	si = swap_entry_begin(ctx, entry);
	if (!si)
		return -EINVAL;
	err = swap_check_claimed(si, off);
	if (err)
		goto out;
	cpu = swap_cpu();
	d = swap_desc_alloc(ctx, cpu, entry, page, (flags & SWAP_CACHE_LOCKED) ? SCP_LOCKED : 0);
	if (!d) {
		err = -ENOMEM;
		goto out;
	}
	err = swap_cache_insert(si, off, d);
	if (err)
		swap_desc_retire(ctx, cpu, NULL, off, d);
	else
		swap_stat_add(si, cpu, ST_CACHE_PAGES, 1);
out:
	swap_rcu_read_unlock();
	return err;
}

SWAP_API int swap_cache_unlock(struct swap_ctx *ctx, swp_entry_t entry, int error)
{
	struct swap_info *si;
	struct swap_cache_page *d;
	int err = 0;

	if (error > 0)
		return -EINVAL;
	si = swap_entry_begin(ctx, entry);
	if (!si)
		return -EINVAL;
	d = swap_cache_peek(si, swp_offset(entry));
	if (!d)
		err = -ENOENT;
	else if (!(atomic_load(&d->state) & SCP_LOCKED))
		err = -EINVAL;
	else
		swap_cache_page_unlock(d, error);
	swap_rcu_read_unlock();
	return err;
}

SWAP_API struct swap_cache_page *swap_cache_lookup(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	struct swap_cache_page *d;
	int err;

	if (!si) {
		errno = EINVAL;
		return NULL;
	}
	d = swap_cache_get(si, swp_offset(entry), entry.val);
	swap_rcu_read_unlock();
	/* The reference keeps the descriptor and its page; no RCU section is needed to wait. */
	if (!d) {
		errno = ENOENT;
		return NULL;
	}
	err = swap_cache_wait(d);
	if (err) {
		swap_cache_page_put(d);
		errno = -err;
		return NULL;
	}
	return d;
}

SWAP_API const void *swap_cache_page_data(const struct swap_cache_page *cpage)
{
	return cpage ? cpage->data : NULL;
}

SWAP_API void swap_cache_put(struct swap_ctx *ctx, struct swap_cache_page *cpage)
{
	(void)ctx;
	if (cpage)
		swap_cache_page_put(cpage);
}

SWAP_API int swap_cache_delete(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	struct swap_cache_page *d;
	uint64_t off = swp_offset(entry);
	unsigned cpu;
	int err;

	if (!si)
		return -EINVAL;
	err = swap_check_claimed(si, off);
	if (err)
		goto out;
	cpu = swap_cpu();
	d = swap_cache_peek(si, off);
	if (d) {
		if (atomic_load(&d->state) & SCP_LOCKED)
			swap_cache_page_unlock(d, -EIO);
		swap_desc_retire(ctx, cpu, si, off, d);
		swap_stat_add(si, cpu, ST_CACHE_PAGES, -1);
	}
	swap_drop_cache(si, off, cpu);
out:
	swap_rcu_read_unlock();
	return err;
}
