/*
 * The seam between libswap's areas and regions (issue 12), kept to these declarations so that
 * it can be carried over a restructured area.c in one piece.
 *
 * A context keeps the list of regions over it (fields of struct swap_ctx, under
 * ctx->region_lock), and swap_off, once the area is draining and before answering -EBUSY for
 * live entries, asks the regions to bring back what they hold in that area (swi_region_unuse,
 * reached through ctx->unuse so that area.c does not call region.c), as the kernel's
 * try_to_unuse reads every page of an area back before swapoff removes it.
 *
 * lock ordering: ctx->swap_lock (swap_off) -> ctx->region_lock -> the regions' own locks
 * (region_internal.h).
 */
#ifndef REGION_HOOK_H
#define REGION_HOOK_H

#include <pthread.h>
#include <stdbool.h>

#include "area.h"

struct swap_region;

/* The context's list of regions and its lock (fields of struct swap_ctx, area.h). */
static inline pthread_mutex_t *swi_ctx_region_lock(struct swap_ctx *ctx)
{
	return &ctx->region_lock;
}

static inline struct swap_region **swi_ctx_regions(struct swap_ctx *ctx)
{
	return &ctx->regions;
}

/* region.c: whether any region lives over @ctx. */
bool swi_region_any(struct swap_ctx *ctx);
/*
 * region.c: bring every page the regions of @ctx hold in area @type back out of it: moved to
 * another area by swap_out() (the area is draining: swap_out() no longer picks it), or, where
 * no area has room, into its region.  Swap copies of resident pages there are freed.  Called
 * by swap_off (through ctx->unuse, which the first region made sets) with ctx->swap_lock held.
 */
void swi_region_unuse(struct swap_ctx *ctx, int type);

#endif /* REGION_HOOK_H */
