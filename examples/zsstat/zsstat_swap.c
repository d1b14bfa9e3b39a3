/*
 * zsstat_swap.c - gather a swap context's per-area figures for zsstat_print_swap() (zsstat.c).
 * The one part of zsstat that calls libswap, kept apart so that a pool user such as zcache
 * links zsstat.c with libzs alone.
 */
#include "zsstat.h"

void zsstat_swap(FILE *out, struct swap_ctx *ctx, enum zsstat_style style)
{
	struct swap_area_stats areas[SWAP_MAX_AREAS];
	unsigned int n = 0;

	for (int type = 0; type < SWAP_MAX_AREAS; type++)
		if (swap_area_stats(ctx, type, &areas[n]) == 0)
			n++;
	zsstat_print_swap(out, areas, n, style);
}
