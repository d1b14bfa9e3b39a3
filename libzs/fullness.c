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

void zsi_list_del(const struct zs_table *desc, struct size_class *class, struct zspage *z)
{
	if (z->prev)
		zspage_at(desc, z->prev)->next = z->next;
	else
		class->fullness_list[z->fullness] = z->next;
	if (z->next)
		zspage_at(desc, z->next)->prev = z->prev;
	if (!class->fullness_list[z->fullness])
		set_list_mask(class, zs_load_relaxed(&class->list_mask) & ~(1U << z->fullness));
}

/* A zspage with fewer objects than the head goes second, so the head stays the fuller one. */
void zsi_list_add(const struct zs_table *desc, struct size_class *class, struct zspage *z)
{
	uint32_t id = z->id, head = class->fullness_list[z->fullness];

	struct zspage *h = head ? zspage_at(desc, head) : NULL;

	if (h && h->inuse > z->inuse) {

		z->prev = head;
		z->next = h->next;
		if (h->next)
			zspage_at(desc, h->next)->prev = id;
		h->next = id;
		return;
	}
	z->prev = 0;
	z->next = head;
	if (h)
		h->prev = id;
	class->fullness_list[z->fullness] = id;
	set_list_mask(class, zs_load_relaxed(&class->list_mask) | 1U << z->fullness);
}

void zsi_fullness_move(const struct zs_table *desc, struct size_class *class, struct zspage *z,
		       uint32_t g)
{
	zsi_list_del(desc, class, z);
	z->fullness = g;
	zsi_list_add(desc, class, z);
}

struct zspage *zsi_class_fullest(const struct zs_table *desc, struct size_class *class,
				 const struct zspage *except)
{
	uint32_t mask = zs_load_relaxed(&class->list_mask) & ~(1U << ZS_FULL);

	while (mask) {
		uint32_t g = 31 - __builtin_clz(mask);

		for (uint32_t id = class->fullness_list[g]; id; id = zspage_at(desc, id)->next)
			if (zspage_at(desc, id) != except)
				return zspage_at(desc, id);
		mask &= ~(1U << g);
	}
	return NULL;
}

struct zspage *zsi_class_resident_slot(const struct zs_table *desc, struct size_class *class)
{
	uint32_t mask = zs_load_relaxed(&class->list_mask) & ~(1U << ZS_FULL) & ~(1U << ZS_EMPTY);

	while (mask) {
		uint32_t g = 31 - __builtin_clz(mask);

		for (uint32_t id = class->fullness_list[g]; id; id = zspage_at(desc, id)->next)
			if (zspage_free_slot_resident(class, zspage_at(desc, id)))
				return zspage_at(desc, id);
		mask &= ~(1U << g);
	}
	return NULL;
}
