/*
 * debug.h - libswap's invariant checks in the debug build (make DEBUG=1; libzs/zs_debug.h).
 * debug.c validates a cluster against its swap_map bytes and continuation digits, and an
 * area's cluster lists; the public calls run them on what they touched, so a broken invariant
 * aborts in the call that broke it.  In a normal build they compile to nothing.
 */
#ifndef SWAP_DEBUG_H
#define SWAP_DEBUG_H

#include <stdint.h>

#include "../libzs/zs_debug.h"

struct swap_info;

#if ZS_DEBUG
/* Check the cluster of slot @off.  Caller holds no lock of the area. */
void swi_debug_check_slot(struct swap_info *si, uint64_t off);
/* Check every cluster and the cluster lists of @si; @quiet: nothing else runs on the area,
 * so every cluster must also be on the list its count asks for. */
void swi_debug_check_area(struct swap_info *si, int quiet);
#else
#define swi_debug_check_slot(si, off)	((void)(si), (void)(off))
#define swi_debug_check_area(si, quiet) ((void)(si), (void)(quiet))
#endif

#endif /* SWAP_DEBUG_H */
