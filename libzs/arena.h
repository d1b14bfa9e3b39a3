/*
 * arena.h - the pool's address space and its zspage ids (arena.c).  Never installed.
 *
 * Address space: reservations ("arenas") handed out as runs of 1..ZS_MAX_PAGES_PER_ZSPAGE pages
 * and named by page number (arena << ZS_ARENA_SHIFT | page within it).  Arena a holds
 * ZS_ARENA_MIN_PAGES << a pages, up to ZS_ARENA_PAGES: the pool's address space grows with it,
 * at most doubling what it holds, so a small pool reserves a few MiB.  Freed runs are kept by
 * length for reuse by a zspage of that length.
 *
 * Resident runs: the run of an emptied zspage (or a huge object's page) keeps its resident
 * pages for a while, up to a bound the caller gives and the recent demand (below), and the next
 * zspage of that length takes it with those pages in place: no page faults, no madvise.  Past
 * the bound the oldest go back to the kernel together, sorted by address and adjacent ones merged,
 * so one madvise call gives back many runs (zspages are cut from an arena in address order, so runs
 * freed together are often neighbours).  Their pages stay counted in the pool's pages_used (the
 * caller moves them between a class's count and resident_pages), so the statistics match RSS.
 *
 * Ids: a zspage id names entry [id] of the descriptor table, a table that grows in chunks
 * (table.h) as ids are handed out and whose chunks live as long as the pool (so a lock-free
 * reader may look at any id it was given without touching freed memory).  Ids are handed out
 * lowest first; the table's tail past the highest id in use is given back on request (its
 * address space stays).  The bitmap of ids in use is heap memory, grown as the ids.  Id 0 is
 * never handed out: it means "none".
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
#include "table.h"
#include "zs_atomic.h"

/* Zspage ids: 24 bits, what a handle entry has room for (handle.h). */
#define ZS_ID_BITS     24
#define ZS_MAX_ZSPAGES (1U << ZS_ID_BITS)
/* A zspage descriptor is one cache line (zspage.h asserts it); the table grows from one page. */
#define ZS_DESC_SHIFT	    6
#define ZS_DESC_BYTES	    (1U << ZS_DESC_SHIFT)
#define ZS_DESC_FIRST_SHIFT (ZS_PAGE_SHIFT - ZS_DESC_SHIFT)
/*
 * Arenas: the first of 1 MiB (a pool of a few objects reserves that much, plus a page of each
 * table), each next one twice the last, up to 1 GiB; 140 of them bound a pool at about 130 GiB.
 */
#define ZS_ARENA_SHIFT	   18
#define ZS_ARENA_PAGES	   (1UL << ZS_ARENA_SHIFT)
#define ZS_ARENA_MIN_SHIFT 8
#define ZS_MAX_ARENAS	   140
#define ZS_NO_PAGE	   UINT32_MAX

/* Pages of arena @a. */
static inline size_t arena_pages(unsigned int a)
{
	return a < ZS_ARENA_SHIFT - ZS_ARENA_MIN_SHIFT ? 1UL << (ZS_ARENA_MIN_SHIFT + a)
						       : ZS_ARENA_PAGES;
}

struct zspage;

/* Freed runs of one length, as page numbers. */
struct run_stack {
	uint32_t *v;
	size_t n, cap;
};

/* A freed run whose first @resident pages are still resident. */
struct resident_run {
	uint32_t page;
	uint8_t pages, resident;
};
/* Resident runs kept at most, whatever the page bound: the search for one of the length wanted
 * is a walk over them, once per zspage created. */
#define ZS_RESIDENT_RUNS 128
/*
 * Demand: the pages that new runs took lately, which the resident runs never exceed.  Each run
 * taken adds its length; each run given up takes 1/2^ZS_RESIDENT_DECAY of it away, so while
 * zspages are made as fast as they empty (a swap device in its steady state) it settles near
 * 2^ZS_RESIDENT_DECAY runs' worth, and a burst of frees with no allocation (a shrinking pool, a
 * writeback) lets it fall away instead of holding pages no one will take.  4: the measurement
 * is in BENCHMARKS.md ("Resident runs").
 */
#define ZS_RESIDENT_DECAY 4

struct zs_vm {
	pthread_mutex_t lock;
	char *arena[ZS_MAX_ARENAS]; /* written once, before any page of it is handed out */
	unsigned int nr_arenas;
	size_t bump; /* pages handed out of the newest arena */
	struct run_stack free_runs[ZS_MAX_PAGES_PER_ZSPAGE + 1];
	size_t run_bytes;				/* heap memory of free_runs */
	struct resident_run resident[ZS_RESIDENT_RUNS]; /* oldest first */
	uint32_t nr_resident;
	unsigned long demand; /* pages new runs took lately: decays with each run given up */
	_Atomic unsigned long resident_pages; /* their resident pages (read lock-free by stats) */
	struct zs_table desc; /* the descriptor table, by id (zspage_at(), zspage.h) */
	uint64_t *id_bits;    /* bit set: id in use (id 0 always) */
	uint32_t id_words;    /* of id_bits */
	uint32_t id_top;      /* ids at or above are unused, their descriptors not resident */
	uint32_t id_low;      /* no free id below this */
};

/* Start the descriptor table and id bitmap: 0 or -ENOMEM (then nothing is held). */
int zsi_vm_init(struct zs_vm *vm);
/* Unmap every arena and table and free the run stacks. */
void zsi_vm_fini(struct zs_vm *vm);

/*
 * A run of @pages pages, as the page number of its first; ZS_NO_PAGE if out of space.  A
 * resident run of that length is taken first: *@resident is then how many of its first pages
 * are resident (they leave resident_pages; the caller counts them), else 0.
 */
uint32_t zsi_run_get(struct zs_vm *vm, uint32_t pages, uint32_t *resident);
/* Return the run of @pages pages at page number @page; none of its pages is resident. */
void zsi_run_put(struct zs_vm *vm, uint32_t page, uint32_t pages);
/*
 * Keep the run of @pages pages at page number @page, whose first @resident pages are resident,
 * as a resident run (the caller has stopped counting those pages anywhere else).  Once that
 * takes resident_pages past @keep by more than @slack, the oldest runs are given back until they
 * hold @keep / 2 or less: together, sorted by address, so neighbours share a madvise call.
 * Returns the pages given back to the kernel (the caller takes them off pages_used).
 */
unsigned long zsi_run_put_resident(struct zs_vm *vm, uint32_t page, uint32_t pages,
				   uint32_t resident, unsigned long keep, unsigned long slack);
/* Give back every resident run (compaction does); returns the pages given back. */
unsigned long zsi_resident_release(struct zs_vm *vm);

/* The lowest free id (taking nothing). */
uint32_t zsi_id_lowest_free(struct zs_vm *vm);
/* Take the lowest free id if it is below @below; 0 if there is none. */
uint32_t zsi_id_get(struct zs_vm *vm, uint32_t below);
void zsi_id_put(struct zs_vm *vm, uint32_t id);
/* Give back the descriptor pages past the highest id in use; returns the bytes released. */
unsigned long zsi_ids_shrink(struct zs_vm *vm);

/* Resident bytes of the descriptor table and id bitmap, plus the run stacks' heap memory. */
size_t zsi_vm_meta_bytes(struct zs_vm *vm);
/* Address space reserved: arenas and the descriptor table. */
size_t zsi_vm_reserved(struct zs_vm *vm);

/* The address of page number @page (a page this pool handed out). */
static inline char *page_addr(const struct zs_vm *vm, uint32_t page)
{
	return vm->arena[page >> ZS_ARENA_SHIFT] +
	       ((size_t)(page & (ZS_ARENA_PAGES - 1)) << ZS_PAGE_SHIFT);
}

/* Descriptor @id (one handed out at some point: its chunk exists). */
static inline void *desc_at(const struct zs_table *desc, uint32_t id)
{
	return table_at(desc, id, ZS_DESC_SHIFT, ZS_DESC_FIRST_SHIFT);
}

#endif /* ZS_ARENA_H */
