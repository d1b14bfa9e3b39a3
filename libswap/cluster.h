/*
 * cluster.h - the cluster allocator of an area's slots (cluster.c): clusters of SWAPFILE_CLUSTER
 * slots, one current cluster per CPU, and the free / nonfull / full lists of the others.
 *
 * A cluster's lock guards its count and the swap_map bytes of its slots (and their
 * continuation digits, swap_map.h), so it is the lock every per-slot operation takes.  The
 * allocator reads swap_map bytes only as "0 means free" and writes the first value of a slot
 * it hands out; what the bytes mean is swap_map.h's business.
 */
#ifndef SWAP_CLUSTER_H
#define SWAP_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "../libzs/zs_atomic.h"
#include "counters.h"
#include "spinlock.h"
#include "zs/swap.h"

#define CLUSTER_NONE UINT32_MAX

enum cluster_list { CL_NONE = 0, CL_FREE, CL_NONFULL, CL_FULL, CL_NR_LISTS };

struct swap_cluster {
	struct swap_spinlock lock;
	uint16_t count;	     /* slots in use, bad slots included (SWAPFILE_CLUSTER = full) */
	uint16_t nr_bad;     /* bad slots: a cluster with count == nr_bad is free */
	uint8_t list;	     /* enum cluster_list; written under the lists' lock and this lock */
	uint8_t owned;	     /* a CPU allocates from it; written under the lists' lock and this */
	uint32_t prev, next; /* list links (indexes), under the lists' lock */
};

/* Per CPU: the cluster it allocates from (the kernel's percpu_cluster). */
struct swap_cluster_pcpu {
	struct swap_spinlock lock;
	_Atomic uint32_t cluster; /* current cluster index, or CLUSTER_NONE; under lock, peeked */
	uint64_t next;		  /* offset to try first */
} __attribute__((aligned(SWAP_CACHELINE)));

struct cluster_list_head {
	uint32_t head, tail, nr;
};

struct swap_clusters {
	uint8_t *map; /* the area's swap_map bytes (swap_map.h owns them) */
	uint32_t nr;  /* clusters */
	struct swap_cluster *info;
	struct swap_spinlock lock; /* the lists and cluster ownership */
	struct cluster_list_head lists[CL_NR_LISTS];
	uint32_t nr_owned; /* clusters CPUs own, under the lists' lock */
	struct swap_cluster_pcpu *pcpu;
};

/* Set up @nr clusters over @map, counting each cluster's used (non-zero) and bad bytes.  0 or
 * -ENOMEM. */
int swi_clusters_init(struct swap_clusters *c, uint8_t *map, uint32_t nr);
void swi_clusters_destroy(struct swap_clusters *c);

static inline struct swap_cluster *offset_cluster(struct swap_clusters *c, uint64_t off)
{
	return &c->info[off / SWAPFILE_CLUSTER];
}

/* Take a free slot for CPU @cpu and set its swap_map byte to @usage; the offset, 0 if the area
 * is full.  Takes the CPU's lock, the lists' lock and cluster locks; caller holds none. */
uint64_t swi_cluster_alloc(struct swap_clusters *c, unsigned cpu, uint8_t usage);

/* A slot of @ci went back to free (its byte is now 0): count it, with ci->lock held. */
static inline void swap_cluster_slot_freed(struct swap_cluster *ci)
{
	ci->count--;
}

/* Unlock @ci after its count changed, moving it to the list its count now asks for. */
void swi_cluster_unlock_relist(struct swap_clusters *c, struct swap_cluster *ci);

/* Slots in use, over every cluster (takes each cluster's lock in turn). */
uint64_t swi_clusters_inuse(struct swap_clusters *c);
/* Clusters on each list, and how many CPUs own one. */
void swi_clusters_count_lists(struct swap_clusters *c, uint64_t out[CL_NR_LISTS], uint64_t *owned);

/* The list a cluster belongs on, from its count and ownership (under its lock). */
static inline enum cluster_list swap_cluster_wanted_list(const struct swap_cluster *ci)
{
	if (ci->owned)
		return CL_NONE;
	if (ci->count == SWAPFILE_CLUSTER)
		return CL_FULL;
	if (ci->count == ci->nr_bad)
		return CL_FREE;
	return CL_NONFULL;
}

#endif /* SWAP_CLUSTER_H */
