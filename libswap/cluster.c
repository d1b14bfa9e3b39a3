/*
 * cluster.c - the cluster allocator: slots handed out from clusters of SWAPFILE_CLUSTER, one
 * current cluster per CPU (cluster.h).
 *
 * Every cluster is either owned by one CPU (it is that CPU's current cluster and sits on no
 * list) or on exactly one of three lists of its area: free (no slot in use), nonfull, full.
 * A CPU allocates the next free slot of its own cluster after the one it took last, so
 * consecutive swap-outs on one CPU get consecutive slots, and CPUs never share a cluster lock on
 * the fast path.  When its cluster is full the CPU puts it on the full list and takes the head of
 * the nonfull list (partly used clusters first, to keep free clusters whole), else of the free
 * list.  Lists only change once per cluster taken or given back, and when a free turns a full
 * cluster nonfull or a nonfull cluster free (swi_cluster_unlock_relist), so the lists' lock is
 * taken about once per SWAPFILE_CLUSTER allocations, never per page.  With both lists empty, the
 * remaining free slots can only be in clusters other CPUs own; those are scanned as a last
 * resort.
 *
 * Lock order here: a CPU's lock, then the lists' lock, then a cluster's lock (area.h has the
 * whole order).
 *
 * This file may not interpret swap_map bytes beyond "zero means free" (swap_map.c does), nor
 * touch backends or the swap cache.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "swap_map.h"

static inline uint32_t cluster_index(const struct swap_clusters *c, const struct swap_cluster *ci)
{
	return (uint32_t)(ci - c->info);
}

static void list_del(struct swap_clusters *c, struct swap_cluster *ci)
{
	struct cluster_list_head *h = &c->lists[ci->list];

	if (ci->prev != CLUSTER_NONE)
		c->info[ci->prev].next = ci->next;
	else
		h->head = ci->next;
	if (ci->next != CLUSTER_NONE)
		c->info[ci->next].prev = ci->prev;
	else
		h->tail = ci->prev;
	h->nr--;
	ci->list = CL_NONE;
}

static void list_add_tail(struct swap_clusters *c, struct swap_cluster *ci, enum cluster_list l)
{
	struct cluster_list_head *h = &c->lists[l];
	uint32_t idx = cluster_index(c, ci);

	ci->next = CLUSTER_NONE;
	ci->prev = h->tail;
	if (h->tail != CLUSTER_NONE)
		c->info[h->tail].next = idx;
	else
		h->head = idx;
	h->tail = idx;
	h->nr++;
	ci->list = (uint8_t)l;
}

/* The lists' lock and ci->lock held. */
static void relist_locked(struct swap_clusters *c, struct swap_cluster *ci)
{
	enum cluster_list want = swap_cluster_wanted_list(ci);

	if (want == ci->list)
		return;
	if (ci->list != CL_NONE)
		list_del(c, ci);
	if (want != CL_NONE)
		list_add_tail(c, ci, want);
}

static void relist(struct swap_clusters *c, struct swap_cluster *ci)
{
	swap_spin_lock(&c->lock);
	swap_spin_lock(&ci->lock);
	relist_locked(c, ci);
	swap_spin_unlock(&ci->lock);
	swap_spin_unlock(&c->lock);
}

void swi_cluster_unlock_relist(struct swap_clusters *c, struct swap_cluster *ci)
{
	bool moved = swap_cluster_wanted_list(ci) != ci->list;

	swap_spin_unlock(&ci->lock);
	if (moved)
		relist(c, ci);
}

int swi_clusters_init(struct swap_clusters *c, uint8_t *map, uint32_t nr)
{
	memset(c, 0, sizeof(*c));
	c->map = map;
	c->nr = nr;
	swap_spin_init(&c->lock);
	c->info = calloc(nr, sizeof(*c->info));
	c->pcpu = aligned_alloc(SWAP_CACHELINE, sizeof(*c->pcpu) * swi_nr_cpus);
	if (!c->info || !c->pcpu)
		return -ENOMEM;
	for (unsigned cpu = 0; cpu < swi_nr_cpus; cpu++) {
		swap_spin_init(&c->pcpu[cpu].lock);
		atomic_init(&c->pcpu[cpu].cluster, CLUSTER_NONE);
		c->pcpu[cpu].next = 0;
	}
	for (int l = 0; l < CL_NR_LISTS; l++)
		c->lists[l].head = c->lists[l].tail = CLUSTER_NONE;
	for (uint32_t i = 0; i < nr; i++) {
		struct swap_cluster *ci = &c->info[i];
		const uint8_t *b = map + (uint64_t)i * SWAPFILE_CLUSTER;

		swap_spin_init(&ci->lock);
		for (unsigned s = 0; s < SWAPFILE_CLUSTER; s++) {
			ci->count += b[s] != 0;
			ci->nr_bad += swap_map_is_bad(b[s]);
		}
		relist(c, ci);
	}
	return 0;
}

void swi_clusters_destroy(struct swap_clusters *c)
{
	free(c->info);
	free(c->pcpu);
	c->info = NULL;
	c->pcpu = NULL;
}

/*
 * Take the first free slot of cluster @idx at or after @hint (wrapping round to the cluster's
 * start) and set its swap_map byte to @usage.  Returns the offset, or 0 if the cluster is full.
 */
static uint64_t cluster_take_slot(struct swap_clusters *c, uint32_t idx, uint64_t hint,
				  uint8_t usage)
{
	struct swap_cluster *ci = &c->info[idx];
	uint64_t start = (uint64_t)idx * SWAPFILE_CLUSTER, end = start + SWAPFILE_CLUSTER;
	uint8_t *p = NULL;

	if (hint < start || hint >= end)
		hint = start;
	swap_spin_lock(&ci->lock);
	if (ci->count == SWAPFILE_CLUSTER) {
		swap_spin_unlock(&ci->lock);
		return 0;
	}
	p = memchr(c->map + hint, 0, end - hint);
	if (!p)
		p = memchr(c->map + start, 0, hint - start);
	if (!p) { /* cannot happen: count says a slot is free */
		swap_spin_unlock(&ci->lock);
		return 0;
	}
	*p = usage;
	ci->count++;
	/* relists only a cluster some other CPU owns or that was given back */
	swi_cluster_unlock_relist(c, ci);
	return (uint64_t)(p - c->map);
}

/* Give cluster @idx back: it goes on the list its count says.  The CPU's lock held. */
static void cluster_release(struct swap_clusters *c, uint32_t idx)
{
	struct swap_cluster *ci = &c->info[idx];

	swap_spin_lock(&c->lock);
	swap_spin_lock(&ci->lock);
	ci->owned = 0;
	c->nr_owned--;
	relist_locked(c, ci);
	swap_spin_unlock(&ci->lock);
	swap_spin_unlock(&c->lock);
}

/* Take the head of the nonfull list, else of the free list, for a CPU.  The CPU's lock held. */
static uint32_t cluster_acquire(struct swap_clusters *c)
{
	uint32_t idx = CLUSTER_NONE;

	swap_spin_lock(&c->lock);
	if (c->lists[CL_NONFULL].head != CLUSTER_NONE)
		idx = c->lists[CL_NONFULL].head;
	else if (c->lists[CL_FREE].head != CLUSTER_NONE)
		idx = c->lists[CL_FREE].head;
	if (idx != CLUSTER_NONE) {
		struct swap_cluster *ci = &c->info[idx];

		swap_spin_lock(&ci->lock);
		list_del(c, ci);
		ci->owned = 1;
		c->nr_owned++;
		swap_spin_unlock(&ci->lock);
	}
	swap_spin_unlock(&c->lock);
	return idx;
}

uint64_t swi_cluster_alloc(struct swap_clusters *c, unsigned cpu, uint8_t usage)
{
	struct swap_cluster_pcpu *pcp = &c->pcpu[cpu];
	uint64_t off = 0;

	swap_spin_lock(&pcp->lock);
	for (;;) {
		uint32_t idx = zs_load_relaxed(&pcp->cluster);

		if (idx != CLUSTER_NONE) {
			off = cluster_take_slot(c, idx, pcp->next, usage);
			if (off) {
				pcp->next = off + 1;
				break;
			}
			zs_store_relaxed(&pcp->cluster, CLUSTER_NONE);
			cluster_release(c, idx);
		}
		idx = cluster_acquire(c);
		if (idx == CLUSTER_NONE)
			break;
		zs_store_relaxed(&pcp->cluster, idx);
		pcp->next = (uint64_t)idx * SWAPFILE_CLUSTER;
	}
	swap_spin_unlock(&pcp->lock);
	if (off)
		return off;

	/* No cluster on any list: free slots can only be in clusters other CPUs own. */
	for (unsigned other = 0; other < swi_nr_cpus; other++) {
		uint32_t idx = zs_load_relaxed(&c->pcpu[other].cluster);

		if (idx == CLUSTER_NONE)
			continue;
		off = cluster_take_slot(c, idx, 0, usage);
		if (off)
			return off;
	}
	return 0;
}

uint64_t swi_clusters_inuse(struct swap_clusters *c)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < c->nr; i++) {
		struct swap_cluster *ci = &c->info[i];

		swap_spin_lock(&ci->lock);
		n += ci->count - ci->nr_bad;
		swap_spin_unlock(&ci->lock);
	}
	return n;
}

void swi_clusters_count_lists(struct swap_clusters *c, uint64_t out[CL_NR_LISTS], uint64_t *owned)
{
	swap_spin_lock(&c->lock);
	for (int l = 0; l < CL_NR_LISTS; l++)
		out[l] = c->lists[l].nr;
	*owned = c->nr_owned;
	swap_spin_unlock(&c->lock);
}
