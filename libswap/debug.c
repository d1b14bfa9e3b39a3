/*
 * debug.c - the validators of the debug build (debug.h).  Each aborts through zs_assert with
 * what it found broken.  In a normal build this file is empty.
 *
 * This file only reads: it takes the locks it needs to see a consistent state and changes
 * nothing.
 */
#include "debug.h"

#if ZS_DEBUG
#include "area.h"

/* The cluster @idx of @si against its bytes and digits; ci->lock held. */
static void check_cluster_locked(struct swap_info *si, uint32_t idx)
{
	struct swap_cluster *ci = &si->clusters.info[idx];
	const struct swap_map_cont *cont = &si->map.cont[idx];
	const uint8_t *b = si->map.map + (uint64_t)idx * SWAPFILE_CLUSTER;
	unsigned used = 0, bad = 0, continued = 0;

	for (unsigned s = 0; s < SWAPFILE_CLUSTER; s++) {
		uint64_t off = (uint64_t)idx * SWAPFILE_CLUSTER + s;

		used += b[s] != 0;
		if (swap_map_is_bad(b[s])) {
			zs_assert(b[s] == SWAP_MAP_BAD, "area %d slot %lu: bad slot with flags %#x",
				  si->type, (unsigned long)off, b[s]);
			bad++;
		}
		if (b[s] & COUNT_CONTINUED) {
			continued++;
			zs_assert(cont->digit[0],
				  "area %d slot %lu: COUNT_CONTINUED without digits", si->type,
				  (unsigned long)off);
		}
		zs_assert(off < si->max || b[s] == SWAP_MAP_BAD,
			  "area %d slot %lu past the area is not bad (%#x)", si->type,
			  (unsigned long)off, b[s]);
	}
	zs_assert(ci->count == used, "area %d cluster %u: count %u, %u slots in use", si->type, idx,
		  ci->count, used);
	zs_assert(ci->nr_bad == bad, "area %d cluster %u: nr_bad %u, %u bad slots", si->type, idx,
		  ci->nr_bad, bad);
	zs_assert(zs_load_relaxed(&cont->nr_continued) == continued,
		  "area %d cluster %u: nr_continued %u, %u slots continued", si->type, idx,
		  (unsigned)zs_load_relaxed(&cont->nr_continued), continued);
	zs_assert(continued || !cont->digit[0], "area %d cluster %u: digits kept with no use",
		  si->type, idx);
}

void swi_debug_check_slot(struct swap_info *si, uint64_t off)
{
	uint32_t idx = (uint32_t)(off / SWAPFILE_CLUSTER);
	struct swap_cluster *ci = &si->clusters.info[idx];

	swap_spin_lock(&ci->lock);
	check_cluster_locked(si, idx);
	swap_spin_unlock(&ci->lock);
}

void swi_debug_check_area(struct swap_info *si, int quiet)
{
	struct swap_clusters *c = &si->clusters;
	uint32_t on_lists = 0, owned = 0;

	for (uint32_t i = 0; i < c->nr; i++)
		swi_debug_check_slot(si, (uint64_t)i * SWAPFILE_CLUSTER);
	swap_spin_lock(&c->lock);
	for (int l = CL_FREE; l < CL_NR_LISTS; l++) {
		uint32_t n = 0, prev = CLUSTER_NONE;

		for (uint32_t i = c->lists[l].head; i != CLUSTER_NONE; i = c->info[i].next) {
			struct swap_cluster *ci = &c->info[i];

			zs_assert(i < c->nr && n < c->nr, "area %d list %d: bad link %u", si->type,
				  l, i);
			zs_assert(ci->list == l, "area %d cluster %u on list %d says list %u",
				  si->type, i, l, ci->list);
			zs_assert(!ci->owned, "area %d cluster %u: owned and on list %d", si->type,
				  i, l);
			zs_assert(ci->prev == prev, "area %d cluster %u: prev %u, expected %u",
				  si->type, i, ci->prev, prev);
			if (quiet)
				zs_assert((int)swap_cluster_wanted_list(ci) == l,
					  "area %d cluster %u (count %u, bad %u) on list %d",
					  si->type, i, ci->count, ci->nr_bad, l);
			prev = i;
			n++;
		}
		zs_assert(c->lists[l].tail == prev, "area %d list %d: tail %u, last %u", si->type,
			  l, c->lists[l].tail, prev);
		zs_assert(c->lists[l].nr == n, "area %d list %d: nr %u, %u on it", si->type, l,
			  c->lists[l].nr, n);
		on_lists += n;
	}
	for (uint32_t i = 0; i < c->nr; i++)
		owned += c->info[i].owned;
	zs_assert(owned == c->nr_owned, "area %d: %u clusters owned, nr_owned %u", si->type, owned,
		  c->nr_owned);
	zs_assert(on_lists + owned == c->nr, "area %d: %u clusters, %u on lists, %u owned",
		  si->type, c->nr, on_lists, owned);
	swap_spin_unlock(&c->lock);
}
#endif /* ZS_DEBUG */
