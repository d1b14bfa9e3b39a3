/*
 * fullness.c - the fullness lists of a class (the model is in fullness.h).  Caller holds the
 * class lock; list_mask is also peeked at without it (allocation spill), hence atomic.  This
 * file links and unlinks descriptors; it changes no slot, page or counter.
 */
#include "fullness.h"

static inline void set_list_mask(struct size_class *class, uint32_t mask)
{
	zs_store_relaxed(&class->list_mask, mask);
}

void zsi_list_del(struct zspage *desc, struct size_class *class, struct zspage *z)
{
	if (z->prev)
		desc[z->prev].next = z->next;
	else
		class->fullness_list[z->fullness] = z->next;
	if (z->next)
		desc[z->next].prev = z->prev;
	if (!class->fullness_list[z->fullness])
		set_list_mask(class, zs_load_relaxed(&class->list_mask) & ~(1U << z->fullness));
}

/* A zspage with fewer objects than the head goes second, so the head stays the fuller one. */
void zsi_list_add(struct zspage *desc, struct size_class *class, struct zspage *z)
{
	uint32_t id = (uint32_t)(z - desc), head = class->fullness_list[z->fullness];

	if (head && desc[head].inuse > z->inuse) {
		struct zspage *h = &desc[head];

		z->prev = head;
		z->next = h->next;
		if (h->next)
			desc[h->next].prev = id;
		h->next = id;
		return;
	}
	z->prev = 0;
	z->next = head;
	if (head)
		desc[head].prev = id;
	class->fullness_list[z->fullness] = id;
	set_list_mask(class, zs_load_relaxed(&class->list_mask) | 1U << z->fullness);
}

void zsi_fullness_move(struct zspage *desc, struct size_class *class, struct zspage *z, uint32_t g)
{
	zsi_list_del(desc, class, z);
	z->fullness = g;
	zsi_list_add(desc, class, z);
}

struct zspage *zsi_class_fullest(struct zspage *desc, struct size_class *class,
				 const struct zspage *except)
{
	uint32_t mask = zs_load_relaxed(&class->list_mask) & ~(1U << ZS_FULL);

	while (mask) {
		uint32_t g = 31 - __builtin_clz(mask);

		for (uint32_t id = class->fullness_list[g]; id; id = desc[id].next)
			if (&desc[id] != except)
				return &desc[id];
		mask &= ~(1U << g);
	}
	return NULL;
}

struct zspage *zsi_class_resident_slot(struct zspage *desc, struct size_class *class)
{
	uint32_t mask = zs_load_relaxed(&class->list_mask) & ~(1U << ZS_FULL) & ~(1U << ZS_EMPTY);

	while (mask) {
		uint32_t g = 31 - __builtin_clz(mask);

		for (uint32_t id = class->fullness_list[g]; id; id = desc[id].next)
			if (zspage_free_slot_resident(class, &desc[id]))
				return &desc[id];
		mask &= ~(1U << g);
	}
	return NULL;
}
