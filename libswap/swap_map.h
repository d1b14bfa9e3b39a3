/*
 * swap_map.h - an area's swap_map: one byte per slot with the kernel's meanings, and the
 * continuation digits of counts that do not fit the byte (swap_map.c).
 *
 * The bytes of one cluster's slots and its continuation digits are guarded by that cluster's
 * lock (cluster.h); every call below that reads or changes a slot's count needs it held.  This
 * module knows nothing of clusters beyond that: the cluster allocator hands out slots whose
 * byte is 0 and sets their first value itself.
 */
#ifndef SWAP_MAP_H
#define SWAP_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include "../libzs/zs_atomic.h"
#include "zs/swap.h"

/*
 * Continuation levels beyond the swap_map byte.  Digit 0 (in swap_map) counts 0..SWAP_MAP_MAX
 * (radix 63); each continuation digit counts 0..SWAP_CONT_MAX (radix 128).  Four levels reach
 * 63 * 128^4 > INT_MAX, the most swap_count() can report.
 */
#define SWAP_CONT_LEVELS 4
#define SWAP_CONT_MAX	 0x7f

/* A cluster's continuation digits: SWAPFILE_CLUSTER bytes per level, allocated on first use and
 * freed when no slot of the cluster needs them. */
struct swap_map_cont {
	uint8_t *digit[SWAP_CONT_LEVELS];
	_Atomic uint16_t nr_continued; /* slots of the cluster with COUNT_CONTINUED */
};

struct swap_map {
	uint8_t *map;		    /* nr_clusters * SWAPFILE_CLUSTER bytes */
	struct swap_map_cont *cont; /* per cluster */
	uint32_t nr_clusters;
};

/*
 * Allocate the map of an area of @max slots (rounded up to whole clusters) with slot 0, the
 * tail past @max and the @nr_bad slots @bad (out-of-range and repeated ones are skipped) set to
 * SWAP_MAP_BAD.  *@nr_bad_used: how many of @bad were taken.  0 or -ENOMEM.
 */
int swi_map_init(struct swap_map *m, uint64_t max, const uint32_t *bad, uint32_t nr_bad,
		 uint64_t *nr_bad_used);
void swi_map_destroy(struct swap_map *m);

/* The low digit of a swap_map byte (or SWAP_MAP_BAD). */
static inline uint8_t swap_map_count_digit(uint8_t m)
{
	return m & SWAP_MAP_BAD;
}

/* A slot with no reference and no swap-cache claim: free for allocation. */
static inline bool swap_map_is_free(uint8_t m)
{
	return m == 0;
}

static inline bool swap_map_is_bad(uint8_t m)
{
	return swap_map_count_digit(m) == SWAP_MAP_BAD;
}

/* A usable slot holding at least one reference. */
static inline bool swap_map_has_refs(uint8_t m)
{
	return !swap_map_is_bad(m) && (swap_map_count_digit(m) != 0 || (m & COUNT_CONTINUED));
}

/* The full reference count of slot @off (0 for a slot only claimed).  Cluster lock held. */
uint64_t swi_map_count(const struct swap_map *m, uint64_t off);
/* One more reference.  Cluster lock held.  0, -ENOMEM or -EOVERFLOW, unchanged on error. */
int swi_map_count_inc(struct swap_map *m, uint64_t off);
/* One reference less; the slot must have one.  Cluster lock held. */
void swi_map_count_dec(struct swap_map *m, uint64_t off);
/* Slots whose count uses continuation digits, over the whole area (a snapshot; no lock). */
uint64_t swi_map_nr_continued(const struct swap_map *m);

#endif /* SWAP_MAP_H */
