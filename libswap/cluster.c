/*
 * The cluster allocator: slots handed out from clusters of SWAPFILE_CLUSTER, one current
 * cluster per CPU.
 *
 * Every cluster is either owned by one CPU (it is that CPU's percpu->cluster and sits on no
 * list) or on exactly one of three lists of its area: free (no slot in use), nonfull, full.
 * A CPU allocates the next free slot of its own cluster after the one it took last, so
 * consecutive swap-outs on one CPU get consecutive slots, and CPUs never share a cluster lock on
 * the fast path.  When its cluster is full the CPU puts it on the full list and takes the head of
 * the nonfull list (partly used clusters first, to keep free clusters whole), else of the free
 * list.  Lists only change once per cluster taken or given back, and when a free turns a full
 * cluster nonfull or a nonfull cluster free (swap_cluster_relist), so si->lock is taken about once
 * per SWAPFILE_CLUSTER allocations, never per page.  With both lists empty, the remaining free
 * slots can only be in clusters other CPUs own; those are scanned as a last resort.
 *
 * Lock order here: percpu->lock, then si->lock, then cluster->lock (see swap_internal.h).
 *
 * This file may not interpret counts beyond "zero means free" (swap_map.c does), nor touch
 * backends or the swap cache.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "swap_internal.h"

int swap_cluster_setup(struct swap_info *si, const uint32_t *bad, uint32_t nr_bad)
{
	uint64_t nr = (si->max + SWAPFILE_CLUSTER - 1) / SWAPFILE_CLUSTER;
	uint64_t len = nr * SWAPFILE_CLUSTER;

	si->nr_clusters = (uint32_t)nr;
	si->swap_map = calloc(len, 1);
	si->cluster_info = calloc(nr, sizeof(*si->cluster_info));
	if (!si->swap_map || !si->cluster_info)
		return -ENOMEM;
	for (uint32_t i = 0; i < nr; i++)
		swap_spin_init(&si->cluster_info[i].lock);

	/* Slot 0 holds the header of a swap device: never a page. */
	si->swap_map[0] = SWAP_MAP_BAD;
	si->cluster_info[0].count++;
	si->cluster_info[0].nr_bad++;
	/* The tail of the last cluster lies past the area. */
	for (uint64_t off = si->max; off < len; off++) {
		si->swap_map[off] = SWAP_MAP_BAD;
		offset_cluster(si, off)->count++;
		offset_cluster(si, off)->nr_bad++;
	}
	si->nr_bad = 0;
	for (uint32_t i = 0; i < nr_bad; i++) {
		uint64_t off = bad[i];
		if (off == 0 || off >= si->max || si->swap_map[off] == SWAP_MAP_BAD)
			continue;
		si->swap_map[off] = SWAP_MAP_BAD;
		offset_cluster(si, off)->count++;
		offset_cluster(si, off)->nr_bad++;
		si->nr_bad++;
	}
	si->pages = si->max - 1 - si->nr_bad;
	if (!si->pages)
		return -EINVAL;

	for (int l = 0; l < CL_NR_LISTS; l++)
		si->lists[l].head = si->lists[l].tail = CLUSTER_NONE;
	for (uint32_t i = 0; i < nr; i++)
		swap_cluster_relist(si, &si->cluster_info[i]);
	return 0;
}

void swap_cluster_teardown(struct swap_info *si)
{
	if (si->cluster_info) {
		for (uint32_t i = 0; i < si->nr_clusters; i++)
			swap_map_free_continuation(&si->cluster_info[i]);
	}
	free(si->cluster_info);
	free(si->swap_map);
}

static inline uint32_t cluster_index(const struct swap_info *si, const struct swap_cluster *ci)
{
	return (uint32_t)(ci - si->cluster_info);
}

/* The list a cluster belongs on, from its count and ownership. */
static inline enum cluster_list cluster_wanted_list(const struct swap_cluster *ci)
{
	if (ci->owned)
		return CL_NONE;
	if (ci->count == SWAPFILE_CLUSTER)
		return CL_FULL;
	if (ci->count == ci->nr_bad)
		return CL_FREE;
	return CL_NONFULL;
}

bool swap_cluster_needs_relist(struct swap_cluster *ci)
{
	return cluster_wanted_list(ci) != ci->list;
}

static void list_del(struct swap_info *si, struct swap_cluster *ci)
{
	struct cluster_list_head *h = &si->lists[ci->list];

	if (ci->prev != CLUSTER_NONE)
		si->cluster_info[ci->prev].next = ci->next;
	else
		h->head = ci->next;
	if (ci->next != CLUSTER_NONE)
		si->cluster_info[ci->next].prev = ci->prev;
	else
		h->tail = ci->prev;
	h->nr--;
	ci->list = CL_NONE;
}

static void list_add_tail(struct swap_info *si, struct swap_cluster *ci, enum cluster_list l)
{
	struct cluster_list_head *h = &si->lists[l];
	uint32_t idx = cluster_index(si, ci);

	ci->next = CLUSTER_NONE;
	ci->prev = h->tail;
	if (h->tail != CLUSTER_NONE)
		si->cluster_info[h->tail].next = idx;
	else
		h->head = idx;
	h->tail = idx;
	h->nr++;
	ci->list = (uint8_t)l;
}

/* si->lock and ci->lock held. */
static void relist_locked(struct swap_info *si, struct swap_cluster *ci)
{
	enum cluster_list want = cluster_wanted_list(ci);

	if (want == ci->list)
		return;
	if (ci->list != CL_NONE)
		list_del(si, ci);
	if (want != CL_NONE)
		list_add_tail(si, ci, want);
}

void swap_cluster_relist(struct swap_info *si, struct swap_cluster *ci)
{
	swap_spin_lock(&si->lock);
	swap_spin_lock(&ci->lock);
	relist_locked(si, ci);
	swap_spin_unlock(&ci->lock);
	swap_spin_unlock(&si->lock);
}

/*
 * Take the first free slot of cluster @idx at or after @hint (wrapping round to the cluster's
 * start) and set its swap_map byte to @usage.  Returns the offset, or 0 if the cluster is full.
 */
static uint64_t cluster_take_slot(struct swap_info *si, uint32_t idx, uint64_t hint, uint8_t usage)
{
	struct swap_cluster *ci = &si->cluster_info[idx];
	uint64_t start = (uint64_t)idx * SWAPFILE_CLUSTER, end = start + SWAPFILE_CLUSTER;
	uint8_t *p = NULL;
	bool relist;

	if (hint < start || hint >= end)
		hint = start;
	swap_spin_lock(&ci->lock);
	if (ci->count == SWAPFILE_CLUSTER) {
		swap_spin_unlock(&ci->lock);
		return 0;
	}
	p = memchr(si->swap_map + hint, 0, end - hint);
	if (!p)
		p = memchr(si->swap_map + start, 0, hint - start);
	if (!p) { /* cannot happen: count says a slot is free */
		swap_spin_unlock(&ci->lock);
		return 0;
	}
	*p = usage;
	ci->count++;
	relist = swap_cluster_needs_relist(ci);
	swap_spin_unlock(&ci->lock);
	if (relist) /* only when we took a slot from a cluster some other CPU owns or gave back */
		swap_cluster_relist(si, ci);
	return (uint64_t)(p - si->swap_map);
}

/* Give cluster @idx back: it goes on the list its count says.  percpu->lock held. */
static void cluster_release(struct swap_info *si, uint32_t idx)
{
	struct swap_cluster *ci = &si->cluster_info[idx];

	swap_spin_lock(&si->lock);
	swap_spin_lock(&ci->lock);
	ci->owned = 0;
	relist_locked(si, ci);
	swap_spin_unlock(&ci->lock);
	swap_spin_unlock(&si->lock);
}

/* Take the head of the nonfull list, else of the free list, for a CPU.  percpu->lock held. */
static uint32_t cluster_acquire(struct swap_info *si)
{
	uint32_t idx = CLUSTER_NONE;
	struct swap_cluster *ci;

	swap_spin_lock(&si->lock);
	if (si->lists[CL_NONFULL].head != CLUSTER_NONE)
		idx = si->lists[CL_NONFULL].head;
	else if (si->lists[CL_FREE].head != CLUSTER_NONE)
		idx = si->lists[CL_FREE].head;
	if (idx != CLUSTER_NONE) {
		ci = &si->cluster_info[idx];
		swap_spin_lock(&ci->lock);
		list_del(si, ci);
		ci->owned = 1;
		swap_spin_unlock(&ci->lock);
	}
	swap_spin_unlock(&si->lock);
	return idx;
}

uint64_t swap_cluster_alloc(struct swap_info *si, unsigned cpu, uint8_t usage)
{
	struct swap_percpu *pcp = &si->percpu[cpu];
	uint64_t off = 0;

	swap_spin_lock(&pcp->lock);
	for (;;) {
		uint32_t idx = pcp->cluster;
		if (idx != CLUSTER_NONE) {
			off = cluster_take_slot(si, idx, pcp->next, usage);
			if (off) {
				pcp->next = off + 1;
				break;
			}
			__atomic_store_n(&pcp->cluster, CLUSTER_NONE, __ATOMIC_RELAXED);
			cluster_release(si, idx);
		}
		idx = cluster_acquire(si);
		if (idx == CLUSTER_NONE)
			break;
		__atomic_store_n(&pcp->cluster, idx, __ATOMIC_RELAXED);
		pcp->next = (uint64_t)idx * SWAPFILE_CLUSTER;
	}
	swap_spin_unlock(&pcp->lock);
	if (off)
		return off;

	/* No cluster on any list: free slots can only be in clusters other CPUs own. */
	for (unsigned c = 0; c < swap_nr_cpus; c++) {
		uint32_t idx = __atomic_load_n(&si->percpu[c].cluster, __ATOMIC_RELAXED);
		if (idx == CLUSTER_NONE)
			continue;
		off = cluster_take_slot(si, idx, 0, usage);
		if (off)
			return off;
	}
	return 0;
}

uint64_t swap_cluster_inuse(struct swap_info *si)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < si->nr_clusters; i++) {
		struct swap_cluster *ci = &si->cluster_info[i];
		swap_spin_lock(&ci->lock);
		n += ci->count - ci->nr_bad;
		swap_spin_unlock(&ci->lock);
	}
	return n;
}

void swap_cluster_count_lists(struct swap_info *si, uint64_t out[CL_NR_LISTS], uint64_t *owned,
			      uint64_t *continued)
{
	*owned = 0;
	*continued = 0;
	swap_spin_lock(&si->lock);
	for (int l = 0; l < CL_NR_LISTS; l++)
		out[l] = si->lists[l].nr;
	swap_spin_unlock(&si->lock);
	for (uint32_t i = 0; i < si->nr_clusters; i++) {
		struct swap_cluster *ci = &si->cluster_info[i];
		swap_spin_lock(&ci->lock);
		*owned += ci->owned;
		*continued += ci->nr_continued;
		swap_spin_unlock(&ci->lock);
	}
}
