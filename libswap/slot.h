/*
 * slot.h - a slot's life after the cluster allocator hands it out (slot.c): its references
 * (swap_duplicate, swap_free, swap_count), its swap-cache claim, and its release back to the
 * allocator, with the backend's copy, when neither is left.
 *
 * The swap-cache claim (SWAP_HAS_CACHE in the slot's swap_map byte) is what serialises work on
 * one slot: whoever holds it is the only one writing or reading the slot's backend copy or
 * putting a page for it in the swap cache, and the slot cannot be freed while it is held.
 */
#ifndef SWAP_SLOT_H
#define SWAP_SLOT_H

#include <stdint.h>

struct swap_info;

/* Take the claim on a slot that has references: 0, -EINVAL (no reference), -EEXIST (held). */
int swi_slot_claim(struct swap_info *si, uint64_t off);
/* 0 if the slot is claimed (and not bad), else -EINVAL. */
int swi_slot_check_claimed(struct swap_info *si, uint64_t off);
/* Drop the claim; a slot left with no reference is released. */
void swi_slot_drop_claim(struct swap_info *si, uint64_t off, unsigned cpu);
/* Give back a slot swap_out allocated (one reference and the claim) but could not store. */
void swi_slot_abort(struct swap_info *si, uint64_t off, unsigned cpu);

#endif /* SWAP_SLOT_H */
