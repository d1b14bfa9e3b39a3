/*
 * table.h - a table of equal entries that grows in chunks and never moves (table.c).  Never
 * installed.  The handle table, the zspage descriptor table and the debug build's mapping
 * counts are such tables.
 *
 * Chunk k holds the entries [B * (2^k - 1), B * (2^(k+1) - 1)), B = 2^first_shift entries:
 * each chunk is as large as all the chunks before it together, plus B.  So a table that holds n
 * entries has reserved at most 2n + B of them (address space in proportion to use), in about
 * log2(n / B) mappings, and finding an entry costs a count of leading zeros and one load.
 *
 * A chunk is reserved when the table first grows into it, reads as zeros, costs memory only
 * where written, and stays until the table is destroyed: an entry never moves, so a lock-free
 * reader may use any entry the owner has published (the owner grows the table first, then
 * publishes what names the entry; chunk addresses are stored with release and loaded with
 * acquire).  Growing is the owner's business, under whatever lock it serialises growth with.
 *
 * The shifts (log2 of the entry size in bytes, log2 of B) are constants of each table, passed
 * to every call so that the lookups compile to shifts by constants.
 */
#ifndef ZS_TABLE_H
#define ZS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zs_atomic.h"

/* Chunks at most: B * (2^32 - 1) entries, more than any table here asks for. */
#define ZS_TABLE_CHUNKS 32

struct zs_table {
	/*
	 * Chunk k's address, less the offset of its first entry from the table's start (unsigned
	 * arithmetic, so it may wrap): entry i of chunk k is at base[k] + (i << entry_shift).
	 * 0 while the chunk is not reserved.
	 */
	_Atomic uintptr_t base[ZS_TABLE_CHUNKS];
	uint32_t cap;	 /* entries the reserved chunks hold */
	uint32_t nr;	 /* chunks reserved */
	size_t reserved; /* bytes of address space they take */
	/* Its entries hold heap pointers (the descriptor table): under ASan, LeakSanitizer is
	 * told to look in its chunks, which it would otherwise never scan. */
	bool heap_pointers;
};

/* The chunk that holds entry @i. */
static inline uint32_t table_chunk(uint32_t i, unsigned first_shift)
{
	return 31 - (uint32_t)__builtin_clz((i >> first_shift) + 1);
}

/* The first entry of chunk @k, and how many it holds. */
static inline uint32_t table_chunk_first(uint32_t k, unsigned first_shift)
{
	return (uint32_t)(((1ULL << k) - 1) << first_shift);
}
static inline uint32_t table_chunk_len(uint32_t k, unsigned first_shift)
{
	return (uint32_t)(1ULL << (k + first_shift));
}

/* Entry @i, which the table has grown to hold (it must have: nothing is checked). */
static inline void *table_at(const struct zs_table *t, uint32_t i, unsigned entry_shift,
			     unsigned first_shift)
{
	uintptr_t base = zs_load_acquire(&t->base[table_chunk(i, first_shift)]);

	return (void *)(base + ((uintptr_t)i << entry_shift));
}

/* Whether the table has grown to hold entry @i (may be asked without the owner's lock). */
static inline int table_has(const struct zs_table *t, uint32_t i, unsigned first_shift)
{
	return zs_load_acquire(&t->base[table_chunk(i, first_shift)]) != 0;
}

/* An empty table: no chunk yet. */
void zsi_table_init(struct zs_table *t);
/*
 * Make entries [0, @n) exist (@n at most @max, where the last chunk is cut short): 0, or
 * -ENOMEM when the kernel refuses the address space (then the table is as it was).  Caller
 * serialises growth.
 */
int zsi_table_grow(struct zs_table *t, uint32_t n, uint32_t max, unsigned entry_shift,
		   unsigned first_shift);
/* Give back the memory of whole pages within entries [@from, @to) (they read as zeros again);
 * returns the bytes given back. */
size_t zsi_table_release(struct zs_table *t, uint32_t from, uint32_t to, unsigned entry_shift,
			 unsigned first_shift);
/* Unmap every chunk. */
void zsi_table_fini(struct zs_table *t, uint32_t max, unsigned entry_shift, unsigned first_shift);

#endif /* ZS_TABLE_H */
