/*
 * The seam between libswap's areas and regions (issue 12), kept to these declarations so that
 * it can be carried over a restructured area.c in one piece.
 *
 * A context keeps the list of regions over it (two fields of struct swap_ctx, under
 * ctx->region_lock), and swap_off, before answering -EBUSY for an area with live entries, asks
 * the regions to bring back what they hold in that area (swi_region_unuse), as the kernel's
 * try_to_unuse reads every page of an area back before swapoff removes it.
 *
 * lock ordering: ctx->swap_lock (swap_off) -> ctx->region_lock -> the regions' own locks
 * (region_internal.h).
 */
#ifndef REGION_HOOK_H
#define REGION_HOOK_H

#include <pthread.h>
#include <stdbool.h>

struct swap_ctx;
struct swap_region;

/* area.c: the context's list of regions and its lock. */
pthread_mutex_t *swi_ctx_region_lock(struct swap_ctx *ctx);
struct swap_region **swi_ctx_regions(struct swap_ctx *ctx);

/* region.c: whether any region lives over @ctx. */
bool swi_region_any(struct swap_ctx *ctx);
/*
 * region.c: bring every page the regions of @ctx hold in area @type back out of it: moved to
 * another area by swap_out() (the caller has taken @type off the list swap_out() picks from),
 * or, where no area has room, into its region.  Swap copies of resident pages there are freed.
 * Called by swap_off with ctx->swap_lock held.
 */
void swi_region_unuse(struct swap_ctx *ctx, int type);

#endif /* REGION_HOOK_H */
