/*
 * swap_map: the one-byte count of every slot, count continuation, and the reference calls
 * (swap_duplicate, swap_free, swap_count) and swap-cache claims built on them.
 *
 * A swap_map byte is: bits 0-5 the low digit of the reference count (0 .. SWAP_MAP_MAX), or
 * SWAP_MAP_BAD for a slot that is never used; SWAP_HAS_CACHE when someone holds the slot's
 * swap-cache claim (a page of it is being written, read, or kept in the swap cache);
 * COUNT_CONTINUED when higher digits of the count live in continuation bytes.
 *
 * Count continuation, our layout: the count is a mixed-radix number.  Digit 0 is in swap_map
 * (radix SWAP_MAP_MAX + 1 = 63); digit k >= 1 is in byte (offset % SWAPFILE_CLUSTER) of the
 * cluster's continuation array k - 1 (radix SWAP_CONT_MAX + 1 = 128, bits 0-6), whose bit 7 says
 * that some digit above it is non-zero, just as COUNT_CONTINUED says it of digit 0.  So a slot
 * with COUNT_CONTINUED is never free even when its low digit is 0, and the flags let increment
 * and decrement stop at the first digit that does not carry or borrow.  Continuation arrays are
 * SWAPFILE_CLUSTER bytes, allocated the first time a slot of the cluster needs one and freed
 * when no slot of the cluster uses them any more; they are guarded by the cluster lock like the
 * swap_map bytes.
 *
 * A slot is freed when its byte drops to 0 (no reference, no claim): the backend forgets its
 * page while the cluster lock is still held, so the slot cannot be handed out again before.
 *
 * This file may not touch the cluster lists (it asks cluster.c to relist) or the swap cache.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "swap_internal.h"

static inline uint8_t *cont_byte(struct swap_cluster *ci, int level, uint64_t off)
{
	return &ci->cont[level][off % SWAPFILE_CLUSTER];
}

/* The full count of a slot with references or a claim; ci->lock held. */
static uint64_t count_read(struct swap_info *si, struct swap_cluster *ci, uint64_t off)
{
	uint8_t m = si->swap_map[off];
	uint64_t high = 0;
	int top = -1;

	if (!(m & COUNT_CONTINUED))
		return swap_map_count_digit(m);
	/* Find the highest level in use, then accumulate downwards. */
	for (int l = 0; l < SWAP_CONT_LEVELS && ci->cont[l]; l++) {
		top = l;
		if (!(*cont_byte(ci, l, off) & COUNT_CONTINUED))
			break;
	}
	for (int l = top; l >= 0; l--)
		high = high * (SWAP_CONT_MAX + 1) + (*cont_byte(ci, l, off) & SWAP_CONT_MAX);
	return swap_map_count_digit(m) + high * (SWAP_MAP_MAX + 1);
}

void swap_map_free_continuation(struct swap_cluster *ci)
{
	for (int l = 0; l < SWAP_CONT_LEVELS; l++) {
		free(ci->cont[l]);
		ci->cont[l] = NULL;
	}
}

/* Add one reference; ci->lock held.  0, -ENOMEM or -EOVERFLOW, with nothing changed on error. */
static int count_inc(struct swap_info *si, struct swap_cluster *ci, uint64_t off)
{
	uint8_t m = si->swap_map[off];
	int level = 0;

	/* Only a count with continuation digits can be near INT_MAX. */
	if ((m & COUNT_CONTINUED) && count_read(si, ci, off) >= INT_MAX)
		return -EOVERFLOW;
	if (swap_map_count_digit(m) < SWAP_MAP_MAX) {
		si->swap_map[off] = m + 1;
		return 0;
	}
	/* Digit 0 carries: find the first continuation digit that does not. */
	if (m & COUNT_CONTINUED) {
		while (level < SWAP_CONT_LEVELS && ci->cont[level] &&
		       (*cont_byte(ci, level, off) & SWAP_CONT_MAX) == SWAP_CONT_MAX)
			level++;
		if (level == SWAP_CONT_LEVELS)
			return -EOVERFLOW;
	}
	for (int l = 0; l <= level; l++) {
		if (!ci->cont[l]) {
			ci->cont[l] = calloc(SWAPFILE_CLUSTER, 1);
			if (!ci->cont[l])
				return -ENOMEM;
		}
	}
	for (int l = 0; l < level; l++) /* 0x7f + 1: digit 0, carry, something above is set */
		*cont_byte(ci, l, off) = COUNT_CONTINUED;
	(*cont_byte(ci, level, off))++;
	if (!(m & COUNT_CONTINUED))
		ci->nr_continued++;
	si->swap_map[off] = (m & SWAP_HAS_CACHE) | COUNT_CONTINUED;
	return 0;
}

/* Drop one reference from a slot that has one; ci->lock held. */
static void count_dec(struct swap_info *si, struct swap_cluster *ci, uint64_t off)
{
	uint8_t m = si->swap_map[off];
	bool above;
	int level = 0;

	if (swap_map_count_digit(m) > 0) {
		si->swap_map[off] = m - 1;
		return;
	}
	/* Digit 0 is 0 with COUNT_CONTINUED: borrow from the first non-zero digit above. */
	while ((*cont_byte(ci, level, off) & SWAP_CONT_MAX) == 0)
		level++;
	(*cont_byte(ci, level, off))--;
	above = *cont_byte(ci, level, off) != 0; /* its digit or its own "more above" flag */
	for (int l = level - 1; l >= 0; l--) {
		*cont_byte(ci, l, off) = SWAP_CONT_MAX | (above ? COUNT_CONTINUED : 0);
		above = true;
	}
	si->swap_map[off] = (m & SWAP_HAS_CACHE) | SWAP_MAP_MAX | (above ? COUNT_CONTINUED : 0);
	if (!above && --ci->nr_continued == 0)
		swap_map_free_continuation(ci);
}

void swap_slot_release_locked(struct swap_info *si, struct swap_cluster *ci, uint64_t off)
{
	swap_backend_discard(si, off);
	si->swap_map[off] = 0;
	ci->count--;
}

/* Unlock @ci after a change of its count, moving it between lists if that is now needed. */
static void cluster_unlock_relist(struct swap_info *si, struct swap_cluster *ci)
{
	bool relist = swap_cluster_needs_relist(ci);

	swap_spin_unlock(&ci->lock);
	if (relist)
		swap_cluster_relist(si, ci);
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
	ci = offset_cluster(si, swp_offset(entry));
	swap_spin_lock(&ci->lock);
	m = si->swap_map[swp_offset(entry)];
	if (swap_map_bad(m) || swap_map_free(m)) {
		swap_spin_unlock(&ci->lock);
		swap_rcu_read_unlock();
		return NULL;
	}
	*sip = si;
	return ci;
}

static void unlock_slot(struct swap_cluster *ci)
{
	swap_spin_unlock(&ci->lock);
	swap_rcu_read_unlock();
}

SWAP_API int swap_duplicate(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si;
	struct swap_cluster *ci = lock_used_slot(ctx, entry, &si);
	int err;

	if (!ci)
		return -EINVAL;
	err = count_inc(si, ci, swp_offset(entry));
	unlock_slot(ci);
	return err;
}

SWAP_API int swap_free(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si = swap_entry_begin(ctx, entry);
	struct swap_cluster *ci;
	uint64_t off = swp_offset(entry);
	int err = 0;

	if (!si)
		return -EINVAL;
	ci = offset_cluster(si, off);
	swap_spin_lock(&ci->lock);
	if (!swap_map_has_refs(si->swap_map[off])) {
		err = -EINVAL;
		swap_spin_unlock(&ci->lock);
	} else {
		count_dec(si, ci, off);
		if (swap_map_free(si->swap_map[off]))
			swap_slot_release_locked(si, ci, off);
		cluster_unlock_relist(si, ci);
	}
	swap_rcu_read_unlock();
	return err;
}

SWAP_API int swap_count(struct swap_ctx *ctx, swp_entry_t entry)
{
	struct swap_info *si;
	struct swap_cluster *ci = lock_used_slot(ctx, entry, &si);
	int ret;

	if (!ci)
		return -EINVAL;
	ret = (int)count_read(si, ci, swp_offset(entry));
	unlock_slot(ci);
	return ret;
}

int swap_claim_cache(struct swap_info *si, uint64_t off)
{
	struct swap_cluster *ci = offset_cluster(si, off);
	int err = 0;
	uint8_t m;

	swap_spin_lock(&ci->lock);
	m = si->swap_map[off];
	if (!swap_map_has_refs(m))
		err = -EINVAL;
	else if (m & SWAP_HAS_CACHE)
		err = -EEXIST;
	else
		si->swap_map[off] = m | SWAP_HAS_CACHE;
	swap_spin_unlock(&ci->lock);
	return err;
}

int swap_check_claimed(struct swap_info *si, uint64_t off)
{
	struct swap_cluster *ci = offset_cluster(si, off);
	uint8_t m;

	swap_spin_lock(&ci->lock);
	m = si->swap_map[off];
	swap_spin_unlock(&ci->lock);
	return (!swap_map_bad(m) && (m & SWAP_HAS_CACHE)) ? 0 : -EINVAL;
}

void swap_drop_cache(struct swap_info *si, uint64_t off, unsigned cpu)
{
	struct swap_cluster *ci = offset_cluster(si, off);
	(void)cpu;

	swap_spin_lock(&ci->lock);
	si->swap_map[off] &= (uint8_t)~SWAP_HAS_CACHE;
	if (swap_map_free(si->swap_map[off]))
		swap_slot_release_locked(si, ci, off);
	cluster_unlock_relist(si, ci);
}

/*
 * Undo a slot swap_out allocated with one reference and the claim but could not store: nobody
 * was given the entry, so the slot goes straight back.
 */
void swap_abort_slot(struct swap_info *si, uint64_t off)
{
	struct swap_cluster *ci = offset_cluster(si, off);

	swap_spin_lock(&ci->lock);
	if (!(si->swap_map[off] & COUNT_CONTINUED) &&
	    swap_map_count_digit(si->swap_map[off]) <= 1) {
		swap_slot_release_locked(si, ci, off);
	} else {
		/* A racing caller guessed the entry and duplicated it: keep it, minus ours. */
		count_dec(si, ci, off);
		si->swap_map[off] &= (uint8_t)~SWAP_HAS_CACHE;
	}
	cluster_unlock_relist(si, ci);
}
