/*
 * area.h - a swap area (struct swap_info, the kernel's swap_info_struct) and the context that
 * holds up to SWAP_MAX_AREAS of them (struct swap_ctx).  An area is its parts, each with its own
 * module: the swap_map bytes (swap_map.h), the cluster allocator over them (cluster.h), the swap
 * cache's tree (swap_cache.h), event counters (counters.h) and a backend (backend.h).  Files
 * that work on one part include that part's header only; this one is for the files that work
 * on whole areas and on entries (area.c, slot.c, swap_path.c, backend.c, stats.c, debug.c).
 *
 * Areas are published in ctx->swap_info[] under RCU, with an "avail" snapshot of the writable
 * ones grouped by priority (also under RCU).  Every public call that uses an area runs inside an
 * RCU read section, so swap_off can free an area after a grace period with no lock on the fast
 * paths.
 *
 * lock ordering (outermost first):
 *   ctx->swap_lock          mutex; swap_on / swap_off / swap_ctx_destroy, the avail snapshot
 *   ctx->region_lock        mutex; the list of regions (region.c), taken by swap_off's unuse
 *   cluster pcpu->lock      per area and CPU; the CPU's current cluster (cluster.c)
 *   clusters.lock           per area; the free / nonfull / full lists, cluster ownership
 *   cluster->lock           per cluster; swap_map bytes, counts, continuation (slot.c)
 *   zcomp stream lock       per memory area and CPU; the compression context (backend_zram.c)
 *   swap cache pcpu->lock   per CPU; free swap-cache pages (swap_cache.c)
 *   cache_pages.lock        mutex; the page chunks and the shared free list, taken alone
 *   libzs's own locks       innermost: zs_malloc runs under a stream lock, zs_free under a
 *                           cluster lock or none, zs_compact under none; libzs never calls back
 * The stream lock and the swap cache's locks are never held together with each other or with a
 * cluster lock, except that a cluster lock is held while a backend discards a slot (zs_free).
 * Our spinlocks are held for a few dozen instructions, except around zs_malloc / zs_free (which
 * may wait for a libzs class mutex); spinners yield after SWAP_SPIN_BEFORE_YIELD rounds.  Waits
 * for a page being filled (a futex) and for lookups to drop their references happen with no
 * lock held and outside the RCU read section, so a waiter never delays a grace period that the
 * thread it waits for might need (swap_on / swap_off).
 */
#ifndef SWAP_AREA_H
#define SWAP_AREA_H

#include <pthread.h>
#include <stdint.h>

#include "backend.h"
#include "cluster.h"
#include "counters.h"
#include "swap_cache.h"
#include "swap_map.h"
#include "swap_rcu.h"
#include "zs/swap.h"

/* An area's event counters (struct swap_info.stats). */
enum swap_stat_item {
	ST_SWAP_OUTS,
	ST_SWAP_INS,
	ST_BACKEND_READS,
	ST_CACHE_HITS,
	ST_CACHE_PAGES,
	ST_FAILED_READS,
	ST_FAILED_WRITES,
	ST_NR_ITEMS
};

#define SWP_USED    0x1u
#define SWP_WRITEOK 0x2u

struct swap_info {
	struct swap_ctx *ctx;
	int type;
	int prio;
	atomic_uint flags; /* SWP_* */
	uint64_t max;	   /* slots, including slot 0 */
	uint64_t pages;	   /* usable slots */
	uint64_t nr_bad;   /* bad slots from the header */
	struct swap_map map;
	struct swap_clusters clusters;
	struct swap_cache_tree cache;
	struct swap_counters stats;
	struct swap_backend *backend;
};

/* The writable areas, highest priority first, as published for swap_out. */
struct swap_avail {
	unsigned nr_groups;
	struct {
		int prio;
		unsigned first, nr;
		atomic_uint rr; /* round-robin cursor among the group's areas */
	} groups[SWAP_MAX_AREAS];
	struct swap_info *si[SWAP_MAX_AREAS];
};

struct swap_ctx {
	pthread_mutex_t swap_lock;
	struct swap_info *swap_info[SWAP_MAX_AREAS]; /* RCU */
	struct swap_avail *avail;		     /* RCU */
	struct swap_cache_pages cache_pages;
	/* The regions over this context (region.c, region_hook.h): their list under region_lock
	 * (after swap_lock), and how swap_off asks them to bring their pages back out of an area,
	 * set by the first region made (NULL while there is none). */
	pthread_mutex_t region_lock;
	struct swap_region *regions;
	void (*_Atomic unuse)(struct swap_ctx *ctx, int type);
};

/* The area of @entry with a valid offset, or NULL.  Caller is inside an RCU read section. */
static inline struct swap_info *swap_info_get(struct swap_ctx *ctx, swp_entry_t entry)
{
	unsigned type = swp_type(entry);
	uint64_t off = swp_offset(entry);
	struct swap_info *si;

	if (unlikely(type >= SWAP_MAX_AREAS))
		return NULL;
	si = rcu_dereference(ctx->swap_info[type]);
	if (unlikely(!si || off == 0 || off >= si->max))
		return NULL;
	return si;
}

/*
 * Enter a public call on @entry: open the read section and find the area.  NULL (section closed
 * again) for a NULL context or a bad entry; otherwise the caller must swi_rcu_read_unlock().
 */
static inline struct swap_info *swap_entry_begin(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si;

	if (!ctx)
		return NULL;
	swi_rcu_read_lock();
	si = swap_info_get(ctx, entry);
	if (!si)
		swi_rcu_read_unlock();
	return si;
}

/* The same for a call on area @type: the area, or NULL (section closed) for a bad type. */
static inline struct swap_info *swap_area_begin(struct swap_ctx *ctx, int type)
{
	struct swap_info *si;

	if (!ctx || type < 0 || type >= SWAP_MAX_AREAS)
		return NULL;
	swi_rcu_read_lock();
	si = rcu_dereference(ctx->swap_info[type]);
	if (!si)
		swi_rcu_read_unlock();
	return si;
}

static inline void swap_stat_add(struct swap_info *si, unsigned cpu, enum swap_stat_item item,
				 int64_t v)
{
	swap_count_add(&si->stats, cpu, item, v);
}

/*
 * Allocate a slot with swap_map @usage from the highest-priority writable area that has one,
 * taking turns among areas of equal priority, passing over the areas in @skip (a bitmask of
 * types).  Inside an RCU read section.  The area, with *@off set, or NULL.
 */
struct swap_info *swi_area_get_slot(struct swap_ctx *ctx, unsigned cpu, uint8_t usage,
				    uint32_t skip, uint64_t *off);

#endif /* SWAP_AREA_H */
