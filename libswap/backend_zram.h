/*
 * backend_zram.h - compressed memory as a store of pages by slot, over a libzs pool
 * (backend_zram.c): zram in library form.  A memory area's backend is one; a tiered area
 * (backend_tier.c) keeps one in front of a swap file and moves its cold pages "elsewhere".
 *
 * Per slot the store keeps what holds the page (a pool object, the repeated word of a
 * same-filled page, or a location elsewhere), the compressor that made it, when it was last
 * stored or read, and marks: idle (swap_mark_idle), referenced (read since the tier's LRU last
 * looked), incompressible (no compressor shrinks it).
 *
 * Who may call what on a slot: storing, loading, forgetting, moving elsewhere and recompressing
 * need the slot to themselves (the area's swap-cache claim, or the cluster lock a discard runs
 * under); marking idle and testing the referenced mark may run beside anything.
 */
#ifndef SWAP_BACKEND_ZRAM_H
#define SWAP_BACKEND_ZRAM_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

struct zram_store;
struct swap_info;

/* Compressors a store may use over its life: its own (index 0) and three for recompression. */
#define ZRAM_MAX_COMPRESSORS 4

struct zram_store_opts {
	const char *compressor; /* as swap_area_opts.compressor, checked by swi_zram_check_name */
	uint64_t nr_slots;
	uint64_t mem_limit; /* pool bytes; 0: none */
	int type;	    /* the area's type, for the pool's name */
};

/* 0 if @name is a compressor the store knows ("lz4", NULL, "zstd", "zstd:LEVEL"), else -EINVAL. */
int swi_zram_check_name(const char *name);
int swi_zram_create(const struct zram_store_opts *o, struct zram_store **out);
void swi_zram_destroy(struct zram_store *z);

/* swi_zram_store's @how.  ZRAM_STORE_NO_HUGE: a page that does not compress below the huge size
 * is refused with -E2BIG instead of being kept raw (the caller puts it elsewhere).
 * ZRAM_STORE_TRY_FULL: try even when the pool is at mem_limit (slots freed since may take the
 * page without the pool growing); without it such a page is refused before compressing. */
#define ZRAM_STORE_NO_HUGE  0x1u
#define ZRAM_STORE_TRY_FULL 0x2u
/* ZRAM_STORE_SLACK: the pool may pass mem_limit by a sixteenth of it (at least 16 pages), for a
 * caller whose writeback is catching up. */
#define ZRAM_STORE_SLACK 0x4u

/*
 * Store @page as slot @off's contents; the old contents go only once the new ones are stored.
 * @return 0, -ENOSPC (the pool would pass mem_limit; nothing changed), -E2BIG (see
 *         ZRAM_STORE_NO_HUGE), or -ENOMEM.
 */
int swi_zram_store(struct zram_store *z, uint64_t off, const void *page, unsigned cpu,
		   unsigned how);
/* Slot @off's page into @page: 0, -EIO (nothing stored, corrupt), -ENOMEM (no zstd context),
 * or -ENODATA: the page is elsewhere (swi_zram_elsewhere says where).  Marks it referenced and
 * not idle. */
int swi_zram_load(struct zram_store *z, uint64_t off, void *page, unsigned cpu);
/* Forget slot @off (it may be empty); a location elsewhere is the caller's to free first. */
void swi_zram_forget(struct zram_store *z, uint64_t off, unsigned cpu);

/* ---- pages kept elsewhere (the tier's backing file) ---- */

/* The stored image of slot @off, mapped (it does not move until swi_zram_unmap_image): its
 * bytes, size (a raw page is SWAP_PAGE_SIZE) and compressor.  0, or -ENODATA (empty,
 * same-filled or elsewhere). */
int swi_zram_map_image(struct zram_store *z, uint64_t off, const void **image, uint32_t *size,
		       unsigned *comp);
void swi_zram_unmap_image(struct zram_store *z, uint64_t off, const void *image);
/* Slot @off's page now lives at @where, as an image of @size bytes by compressor @comp (size
 * SWAP_PAGE_SIZE: raw); the memory copy, if any, is freed. */
void swi_zram_set_elsewhere(struct zram_store *z, uint64_t off, uint64_t where, uint32_t size,
			    unsigned comp, unsigned cpu);
/* Whether slot @off's page is elsewhere, and where, as what. */
bool swi_zram_elsewhere(struct zram_store *z, uint64_t off, uint64_t *where, uint32_t *size,
			unsigned *comp);
/* Turn an image read back from elsewhere into the page: 0, -EIO, -ENOMEM. */
int swi_zram_decode(struct zram_store *z, const void *image, uint32_t size, unsigned comp,
		    void *page, unsigned cpu);
/* Count a read served from elsewhere as an access (clears idle, sets the time). */
void swi_zram_touch(struct zram_store *z, uint64_t off);

/* ---- marks ---- */

/* What swap_writeback / swap_recompress filter on, for slot @off: SWAP_WB_* bits, plus
 * ZRAM_IN_MEMORY when the page is in the pool (not same-filled, not elsewhere). */
#define ZRAM_IN_MEMORY 0x100u
unsigned swi_zram_slot_marks(struct zram_store *z, uint64_t off);
/* Clear slot @off's referenced mark; whether it was set. */
bool swi_zram_test_clear_referenced(struct zram_store *z, uint64_t off);
/* swap_mark_idle on the store: the number of idle slots. */
long swi_zram_mark_idle(struct zram_store *z, unsigned age_s);
/* swap_recompress on the store, taking each slot's claim in area @si. */
long swi_zram_recompress(struct zram_store *z, struct swap_info *si,
			 const struct swap_recompress_opts *o);

/* ---- the pool and figures ---- */

struct zs_pool *swi_zram_pool(struct zram_store *z);
unsigned long swi_zram_limit_pages(struct zram_store *z);
/* The store's fields of @st (mm_stat, compressor, idle and recompression counts). */
void swi_zram_fill_stats(struct zram_store *z, struct swap_area_stats *st);
/* Overwrite slot @off's compressed bytes (fault injection): 0, -EINVAL, -EOPNOTSUPP. */
int swi_zram_corrupt(struct zram_store *z, uint64_t off);

#endif /* SWAP_BACKEND_ZRAM_H */
