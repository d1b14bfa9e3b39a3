/*
 * fullness.h - a class's fullness lists (fullness.c).  Never installed.
 *
 * Every zspage of a (non-huge) class is on exactly one list, the one for its in-use ratio
 * bucket, as the kernel groups them: [0] empty, [1] 0-9% in use ... [10] 90-99%, [11] full.
 * Lists are doubly linked through the descriptors by id; list_mask has bit g set while list g
 * is not empty.  Allocation takes the head of the fullest non-full list, so each list keeps
 * the fuller zspage at its head.  Caller holds the class lock throughout.
 */
#ifndef ZS_FULLNESS_H
#define ZS_FULLNESS_H

#include <stdint.h>

#include "size_class.h"
#include "zspage.h"

enum zs_fullness {
	ZS_EMPTY = 0,
	/* 1..10: in use 0-9%, 10-19%, ... 90-99% */
	ZS_FULL = ZS_NR_RATIO_BUCKETS - 1,
};

static inline uint32_t fullness_of(const struct size_class *class, uint32_t inuse)
{
	if (inuse == 0)
		return ZS_EMPTY;
	if (inuse == class->objs_per_zspage)
		return ZS_FULL;
	return 1 + inuse * 10 / class->objs_per_zspage;
}

/* Walk list @g of @class; @z may be taken off the list in the body (the next id is kept). */
#define for_each_zspage(desc, class, g, z, nextid)                                                 \
	for (uint32_t _id = (class)->fullness_list[g];                                             \
	     _id && ((z) = zspage_at(desc, _id), (nextid) = (z)->next, 1); _id = (nextid))

/* @desc is the pool's descriptor table (arena.h); @z's fullness field says which list. */
void zsi_list_add(const struct zs_table *desc, struct size_class *class, struct zspage *z);
void zsi_list_del(const struct zs_table *desc, struct size_class *class, struct zspage *z);
/* Put @z on list @g (its list's position for its inuse when @g is where it is). */
void zsi_fullness_move(const struct zs_table *desc, struct size_class *class, struct zspage *z,
		       uint32_t g);

/*
 * After @z's inuse changed: move it to the list its ratio now names, or behind a fuller second
 * on its own list when it was the head.  Inline, since most changes move nothing.
 */
static inline void fullness_update(const struct zs_table *desc, struct size_class *class,
				   struct zspage *z)
{
	uint32_t g = fullness_of(class, z->inuse);

	if (g != z->fullness || (!z->prev && z->next && zspage_at(desc, z->next)->inuse > z->inuse))
		zsi_fullness_move(desc, class, z, g);
}
/* The fullest zspage that still has a free slot, other than @except; NULL if none. */
struct zspage *zsi_class_fullest(const struct zs_table *desc, struct size_class *class,
				 const struct zspage *except);
/* The fullest partly used zspage whose lowest free slot is resident already; NULL if none. */
struct zspage *zsi_class_resident_slot(const struct zs_table *desc, struct size_class *class);

#endif /* ZS_FULLNESS_H */
