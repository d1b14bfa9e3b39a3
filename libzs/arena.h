/*
 * arena.h - the pool's address space and its zspage ids (arena.c).  Never installed.
 *
 * Address space: reservations ("arenas") of ZS_ARENA_PAGES pages, handed out as runs of
 * 1..ZS_MAX_PAGES_PER_ZSPAGE pages and named by page number (arena << ZS_ARENA_SHIFT | page
 * within it).  Freed runs are kept by length for reuse.
 *
 * Ids: a zspage id names entry [id] of the descriptor table, one reservation of ZS_MAX_ZSPAGES
 * descriptors that lives as long as the pool (so a lock-free reader may look at any id without
 * touching freed memory).  Ids are handed out lowest first; the table's tail past the highest
 * id in use is given back on request.  Id 0 is never handed out: it means "none".
 *
 * Everything here runs under vm->lock, a leaf lock: no other lock of the pool is taken while
 * it is held.  This module knows a descriptor's size, not what it holds (zspage.h).
 */
#ifndef ZS_ARENA_H
#define ZS_ARENA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "zs/zsmalloc.h"
#include "os.h"

/* Zspage ids: 24 bits, what a handle entry has room for (handle.h). */
#define ZS_ID_BITS     24
#define ZS_MAX_ZSPAGES (1U << ZS_ID_BITS)
/* A zspage descriptor is one cache line (zspage.h asserts it). */
#define ZS_DESC_BYTES 64
/* 1 GiB of address space per reservation; 128 of them bound a pool at 128 GiB. */
#define ZS_ARENA_SHIFT 18
#define ZS_ARENA_PAGES (1UL << ZS_ARENA_SHIFT)
#define ZS_MAX_ARENAS  128
#define ZS_NO_PAGE     UINT32_MAX

struct zspage;

/* Freed runs of one length, as page numbers. */
struct run_stack {
	uint32_t *v;
	size_t n, cap;
};

struct zs_vm {
	pthread_mutex_t lock;
	char *arena[ZS_MAX_ARENAS]; /* written once, before any page of it is handed out */
	unsigned int nr_arenas;
	size_t bump; /* pages handed out of the newest arena */
	struct run_stack free_runs[ZS_MAX_PAGES_PER_ZSPAGE + 1];
	size_t run_bytes;    /* heap memory of free_runs */
	struct zspage *desc; /* the descriptor table, by id */
	uint64_t *id_bits;   /* bit set: id in use (id 0 always) */
	uint32_t id_top;     /* ids at or above are unused, their descriptors not resident */
	uint32_t id_low;     /* no free id below this */
};

/* Reserve the descriptor table and id bitmap: 0 or -ENOMEM (then nothing is held). */
int zsi_vm_init(struct zs_vm *vm);
/* Unmap every arena and table and free the run stacks. */
void zsi_vm_fini(struct zs_vm *vm);

/* A run of @pages pages, as the page number of its first; ZS_NO_PAGE if out of space. */
uint32_t zsi_run_get(struct zs_vm *vm, uint32_t pages);
/* Return the run of @pages pages at page number @page; its pages must be released already. */
void zsi_run_put(struct zs_vm *vm, uint32_t page, uint32_t pages);
/* The same for the run that starts at address @addr. */
void zsi_run_put_addr(struct zs_vm *vm, const char *addr, uint32_t pages);

/* The lowest free id (taking nothing). */
uint32_t zsi_id_lowest_free(struct zs_vm *vm);
/* Take the lowest free id if it is below @below; 0 if there is none. */
uint32_t zsi_id_get(struct zs_vm *vm, uint32_t below);
void zsi_id_put(struct zs_vm *vm, uint32_t id);
/* Give back the descriptor pages past the highest id in use; returns the bytes released. */
unsigned long zsi_ids_shrink(struct zs_vm *vm);

/* Resident bytes of the descriptor table and id bitmap, plus the run stacks' heap memory. */
size_t zsi_vm_meta_bytes(struct zs_vm *vm);

/* The address of page number @page (a page this pool handed out). */
static inline char *page_addr(const struct zs_vm *vm, uint32_t page)
{
	return vm->arena[page >> ZS_ARENA_SHIFT] +
	       ((size_t)(page & (ZS_ARENA_PAGES - 1)) << ZS_PAGE_SHIFT);
}

#endif /* ZS_ARENA_H */
