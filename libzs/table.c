/*
 * table.c - tables that grow in chunks and never move (the layout is in table.h).  Only the
 * chunks' address space is handled here: what an entry means is the owner's.  Chunks come
 * from os.c and go back there when the table is destroyed; nothing here takes a lock.
 */
#include <errno.h>

#include "os.h"
#include "table.h"

/*
 * LeakSanitizer scans the heap, stacks and globals for pointers, not memory we map ourselves: a
 * heap block that only a descriptor points to (a long zspage's allocation bitmap) would be
 * reported as leaked whenever it looks, so the chunks of such a table are registered with it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ZS_LSAN_ROOTS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZS_LSAN_ROOTS 1
#endif
#endif
#ifdef ZS_LSAN_ROOTS
#include <sanitizer/lsan_interface.h>
#define lsan_root_add(t, p, n)                                                                     \
	do {                                                                                       \
		if ((t)->heap_pointers)                                                            \
			__lsan_register_root_region(p, n);                                         \
	} while (0)
#define lsan_root_del(t, p, n)                                                                     \
	do {                                                                                       \
		if ((t)->heap_pointers)                                                            \
			__lsan_unregister_root_region(p, n);                                       \
	} while (0)
#else
#define lsan_root_add(t, p, n) ((void)0)
#define lsan_root_del(t, p, n) ((void)0)
#endif

void zsi_table_init(struct zs_table *t)
{
	for (uint32_t k = 0; k < ZS_TABLE_CHUNKS; k++)
		zs_store_relaxed(&t->base[k], 0);
	t->cap = 0;
	t->nr = 0;
	t->reserved = 0;
	t->heap_pointers = false;
}

/* Bytes of chunk @k of a table of at most @max entries (the last one is cut short). */
static size_t chunk_bytes(uint32_t k, uint32_t max, unsigned entry_shift, unsigned first_shift)
{
	uint64_t first = table_chunk_first(k, first_shift), len = table_chunk_len(k, first_shift);

	if (first + len > max)
		len = max - first;
	return zs_page_round((size_t)len << entry_shift);
}

int zsi_table_grow(struct zs_table *t, uint32_t n, uint32_t max, unsigned entry_shift,
		   unsigned first_shift)
{
	while (t->cap < n && t->nr < ZS_TABLE_CHUNKS) {
		uint32_t k = t->nr, first = table_chunk_first(k, first_shift);
		size_t bytes = chunk_bytes(k, max, entry_shift, first_shift);
		char *p = zsi_os_reserve(bytes);

		if (!p)
			return -ENOMEM;
		lsan_root_add(t, p, bytes);
		/* Published before anything names an entry of it (the caller's release store). */
		zs_store_release(&t->base[k], (uintptr_t)p - ((uintptr_t)first << entry_shift));
		t->nr++;
		t->reserved += bytes;
		t->cap = first + (uint32_t)(bytes >> entry_shift);
	}
	return t->cap >= n ? 0 : -ENOMEM;
}

size_t zsi_table_release(struct zs_table *t, uint32_t from, uint32_t to, unsigned entry_shift,
			 unsigned first_shift)
{
	size_t released = 0;

	if (to > t->cap)
		to = t->cap;
	while (from < to) {
		uint32_t k = table_chunk(from, first_shift);
		uint32_t end = table_chunk_first(k + 1, first_shift);
		char *lo = table_at(t, from, entry_shift, first_shift);
		char *chunk =
		    table_at(t, table_chunk_first(k, first_shift), entry_shift, first_shift);
		size_t a = zs_page_round((size_t)(lo - chunk));

		if (end > to)
			end = to;
		size_t b = ((size_t)(end - table_chunk_first(k, first_shift)) << entry_shift) &
			   ~(ZS_PAGE_SIZE - 1);
		if (b > a) {
			zsi_os_release(chunk + a, b - a);
			released += b - a;
		}
		from = end;
	}
	return released;
}

void zsi_table_fini(struct zs_table *t, uint32_t max, unsigned entry_shift, unsigned first_shift)
{
	for (uint32_t k = 0; k < t->nr; k++) {
		void *chunk =
		    table_at(t, table_chunk_first(k, first_shift), entry_shift, first_shift);
		size_t bytes = chunk_bytes(k, max, entry_shift, first_shift);

		lsan_root_del(t, chunk, bytes);
		zsi_os_unreserve(chunk, bytes);
	}
	zsi_table_init(t);
}
