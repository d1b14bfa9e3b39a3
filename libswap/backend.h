/*
 * backend.h - the interface between an area and the store that holds its pages: one table of
 * operations per kind of backend, chosen once by swap_on (area.c), in the way the kernel reaches
 * a compressed allocator through a zpool driver and a disk through block_device_operations.
 * Nothing above this interface asks which kind of backend it has.
 *
 * A backend stores one page per slot offset.  The area guarantees that a slot's write, read and
 * discard never overlap: writes and reads happen while the caller holds the slot's swap-cache
 * claim, a discard when the slot's last reference and claim are gone (under the slot's cluster
 * lock, so it must not block for long: freeing a pool object is fine, I/O is not).  Different
 * slots are written and read concurrently from many threads.
 *
 * Backends: backend_zram.c (compressed memory over a libzs pool), backend_file.c (a Linux swap
 * file) and backend_tier.c (the first in front of the second).  Adding one is its own file
 * plus one line in area.c's table.
 */
#ifndef SWAP_BACKEND_H
#define SWAP_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "zs/swap.h"

struct swap_backend;
struct swap_info;
struct zs_pool;

/* What swap_on tells a backend it creates. */
struct swap_backend_env {
	int type;	      /* the area's type (for names) */
	struct swap_info *si; /* the area, for a backend that works on its slots; nothing of it
			       * may be used before commit */
};

/* What a backend tells swap_on about the area it backs. */
struct swap_backend_layout {
	uint64_t max;  /* slots, including slot 0 */
	uint32_t *bad; /* slots never to use (malloc'ed, swap_on frees it), or NULL */
	uint32_t nr_bad;
};

struct swap_backend_ops {
	const char *name;	  /* for messages: "memory", "file" */
	enum swap_area_kind kind; /* what swap_area_stats reports */

	/* Whether @o asks for this kind of backend (swap_on takes the first that claims). */
	bool (*claims)(const struct swap_area_opts *o);
	/* Every check of @o that needs no file or memory: 0 or -EINVAL.  No side effects. */
	int (*check)(const struct swap_area_opts *o);
	/* Create the backend from checked options.  0 with *@b and *@layout set, or -errno with
	 * nothing left behind. */
	int (*create)(const struct swap_area_opts *o, const struct swap_backend_env *env,
		      struct swap_backend **b, struct swap_backend_layout *layout);
	/* The area is built and about to be published (NULL: nothing to do): from now on the
	 * backend may use it; e.g. a file it created is kept, a thread of its own starts. */
	void (*start)(struct swap_backend *b);
	/* The area is unpublished and no call runs on it any more (NULL: nothing to do): stop
	 * using it (a thread of its own ends).  Called before the area's parts are freed. */
	void (*stop)(struct swap_backend *b);
	/* Free everything. */
	void (*destroy)(struct swap_backend *b);
	/* Optional: wait until no work of the backend's own (a writeback batch) holds a slot's
	 * claim, so that what is in use is what callers hold.  swap_off calls it before counting.
	 */
	void (*quiesce)(struct swap_backend *b);

	/* Store @page as slot @off's contents, replacing what was there only once the new contents
	 * are stored: 0, -ENOSPC (full: the page may go to another area), -ENOMEM, -EIO. */
	int (*write)(struct swap_backend *b, uint64_t off, const void *page, unsigned cpu);
	/* Slot @off's contents into @page: 0, -EIO (never written, corrupt, I/O error), -ENOMEM. */
	int (*read)(struct swap_backend *b, uint64_t off, void *page, unsigned cpu);
	/* Forget slot @off's contents (it may never have been written). */
	void (*discard)(struct swap_backend *b, uint64_t off, unsigned cpu);

	/* Fill the backend's fields of @st (the area's own fields are filled already). */
	void (*fill_stats)(struct swap_backend *b, struct swap_area_stats *st);
	/* Optional (NULL: not supported): compact, giving memory back (pages freed); the pool the
	 * pages are in; overwrite slot @off's stored data with garbage (fault injection). */
	long (*compact)(struct swap_backend *b);
	struct zs_pool *(*pool)(struct swap_backend *b);
	int (*corrupt)(struct swap_backend *b, uint64_t off);
	/* Optional (NULL: -EOPNOTSUPP): the calls of the same names in swap.h. */
	long (*mark_idle)(struct swap_backend *b, unsigned age_s);
	long (*writeback)(struct swap_backend *b, const struct swap_writeback_opts *o);
	int (*set_writeback_limit)(struct swap_backend *b, uint64_t pages);
	long (*recompress)(struct swap_backend *b, const struct swap_recompress_opts *o);
};

/* Every backend embeds this as its first member. */
struct swap_backend {
	const struct swap_backend_ops *ops;
};

extern const struct swap_backend_ops swi_zram_backend_ops;
extern const struct swap_backend_ops swi_file_backend_ops;
extern const struct swap_backend_ops swi_tier_backend_ops;

/* The discard of a slot freed under its cluster lock (slot.c). */
static inline void swap_backend_discard(struct swap_backend *b, uint64_t off, unsigned cpu)
{
	b->ops->discard(b, off, cpu);
}

/* Reads and writes with the area's counters (backend.c). */
int swi_backend_write(struct swap_info *si, uint64_t off, const void *page, unsigned cpu);
int swi_backend_read(struct swap_info *si, uint64_t off, void *page, unsigned cpu);

#endif /* SWAP_BACKEND_H */
