/*
 * slot.c - references and swap-cache claims of allocated slots (slot.h), and the public calls
 * swap_duplicate, swap_free and swap_count.
 *
 * Every operation here locks the slot's cluster (cluster.h), changes the slot's swap_map byte
 * and count (swap_map.h), and, when the byte drops to 0 (no reference, no claim), releases the
 * slot: the backend forgets its copy while the cluster lock is still held, so the slot cannot
 * be handed out again before that, and the cluster moves to the list its new count asks for.
 *
 * This file may not touch the swap cache's tree or pages, nor allocate slots.
 */
#include <errno.h>

#include "area.h"
#include "debug.h"
#include "slot.h"

static inline struct swap_cluster *slot_cluster(struct swap_info *si, uint64_t off)
{
	return offset_cluster(&si->clusters, off);
}

/* The slot's byte went to 0: the backend forgets it and the cluster counts it free.  Locked. */
static void slot_release_locked(struct swap_info *si, struct swap_cluster *ci, uint64_t off,
				unsigned cpu)
{
	swap_backend_discard(si->backend, off, cpu);
	si->map.map[off] = 0;
	swap_cluster_slot_freed(ci);
}

/*
 * Enter a call on @entry and lock its cluster, if its slot is in use (neither free nor bad):
 * then the caller must unlock_slot().  Otherwise nothing is held and the result is NULL.
 */
static struct swap_cluster *lock_used_slot(struct swap_ctx *ctx, swp_entry_t entry,
					   struct swap_info **sip)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	struct swap_cluster *ci;
	uint8_t m;

	if (!si)
		return NULL;
	ci = slot_cluster(si, swp_offset(entry));
	swap_spin_lock(&ci->lock);
	m = si->map.map[swp_offset(entry)];
	if (swap_map_is_bad(m) || swap_map_is_free(m)) {
		swap_spin_unlock(&ci->lock);
		swi_rcu_read_unlock();
		return NULL;
	}
	*sip = si;
	return ci;
}

static void unlock_slot(struct swap_info *si, struct swap_cluster *ci, uint64_t off)
{
	swap_spin_unlock(&ci->lock);
	swi_debug_check_slot(si, off);
	swi_rcu_read_unlock();
}

SWAP_API int swap_duplicate(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si;
	struct swap_cluster *ci = lock_used_slot(ctx, entry, &si);
	int err;

	if (!ci)
		return -EINVAL;
	err = swi_map_count_inc(&si->map, swp_offset(entry));
	unlock_slot(si, ci, swp_offset(entry));
	return err;
}

SWAP_API int swap_count(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si;
	struct swap_cluster *ci = lock_used_slot(ctx, entry, &si);
	int ret;

	if (!ci)
		return -EINVAL;
	ret = (int)swi_map_count(&si->map, swp_offset(entry));
	unlock_slot(si, ci, swp_offset(entry));
	return ret;
}

SWAP_API int swap_free(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	struct swap_cluster *ci;
	uint64_t off = swp_offset(entry);
	int err = 0;

	if (!si)
		return -EINVAL;
	ci = slot_cluster(si, off);
	swap_spin_lock(&ci->lock);
	if (!swap_map_has_refs(si->map.map[off])) {
		err = -EINVAL;
		swap_spin_unlock(&ci->lock);
	} else {
		swi_map_count_dec(&si->map, off);
		if (swap_map_is_free(si->map.map[off]))
			slot_release_locked(si, ci, off, swap_cpu());
		swi_cluster_unlock_relist(&si->clusters, ci);
	}
	swi_debug_check_slot(si, off);
	swi_rcu_read_unlock();
	return err;
}

int swi_slot_claim(struct swap_info *si, uint64_t off)
{
	struct swap_cluster *ci = slot_cluster(si, off);
	int err = 0;
	uint8_t m;

	swap_spin_lock(&ci->lock);
	m = si->map.map[off];
	if (!swap_map_has_refs(m))
		err = -EINVAL;
	else if (m & SWAP_HAS_CACHE)
		err = -EEXIST;
	else
		si->map.map[off] = m | SWAP_HAS_CACHE;
	swap_spin_unlock(&ci->lock);
	return err;
}

int swi_slot_check_claimed(struct swap_info *si, uint64_t off)
{
	struct swap_cluster *ci = slot_cluster(si, off);
	uint8_t m;

	swap_spin_lock(&ci->lock);
	m = si->map.map[off];
	swap_spin_unlock(&ci->lock);
	return (!swap_map_is_bad(m) && (m & SWAP_HAS_CACHE)) ? 0 : -EINVAL;
}

void swi_slot_drop_claim(struct swap_info *si, uint64_t off, unsigned cpu)
{
	struct swap_cluster *ci = slot_cluster(si, off);

	swap_spin_lock(&ci->lock);
	si->map.map[off] &= (uint8_t)~SWAP_HAS_CACHE;
	if (swap_map_is_free(si->map.map[off]))
		slot_release_locked(si, ci, off, cpu);
	swi_cluster_unlock_relist(&si->clusters, ci);
}

void swi_slot_abort(struct swap_info *si, uint64_t off, unsigned cpu)
{
	struct swap_cluster *ci = slot_cluster(si, off);

	swap_spin_lock(&ci->lock);
	if (!(si->map.map[off] & COUNT_CONTINUED) && swap_map_count_digit(si->map.map[off]) <= 1) {
		slot_release_locked(si, ci, off, cpu);
	} else {
		/* A racing caller guessed the entry and duplicated it: keep it, minus ours. */
		swi_map_count_dec(&si->map, off);
		si->map.map[off] &= (uint8_t)~SWAP_HAS_CACHE;
	}
	swi_cluster_unlock_relist(&si->clusters, ci);
}
