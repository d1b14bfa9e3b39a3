/*
 * debug.c - the validators of a DEBUG=1 build (what runs when: debug.h).  Each check reads
 * the structures directly, changes nothing, and aborts through zs_assert at the first broken
 * invariant, naming the pool, class, zspage or handle index and what disagrees.  The checks
 * run under the locks that make what they read stable: a class's lock for its lists, zspages
 * and objects; compact_lock, every class lock (smaller index first), then vm.lock and
 * handles.lock for the whole pool.  Their scratch memory comes from calloc, never from os.c,
 * so a test that counts or fails the pool's own mappings sees none of it.  In a normal build
 * this file is empty.
 */
#include "debug.h"

#if ZS_DEBUG
#include <errno.h>
#include <stdlib.h>

#include "arena.h"
#include "fullness.h"
#include "handle.h"
#include "os.h"
#include "pool.h"
#include "size_class.h"
#include "zspage.h"

/* The mapping counts: a table (table.h) of 4-byte counts by handle index, from 1024 of them,
 * grown as far as a mapping needs it. */
#define MAPS_ENTRY_SHIFT 2
#define MAPS_FIRST_SHIFT 10

int zsi_debug_init(struct zs_pool *pool)
{
	struct zs_debug_state *d = &pool->debug;

	d->class_calls = calloc(pool->classes.nr, sizeof(*d->class_calls));
	if (!d->class_calls)
		return -ENOMEM;
	zsi_table_init(&d->maps);
	pthread_mutex_init(&d->maps_lock, NULL);
	zs_store_relaxed(&d->calls, 0);
	return 0;
}

void zsi_debug_fini(struct zs_pool *pool)
{
	zsi_table_fini(&pool->debug.maps, ZS_MAX_HANDLES, MAPS_ENTRY_SHIFT, MAPS_FIRST_SHIFT);
	pthread_mutex_destroy(&pool->debug.maps_lock);
	free(pool->debug.class_calls);
}

/* Mappings of handle index @hidx now (0 where the table never grew). */
static uint32_t maps_of(struct zs_pool *pool, uint32_t hidx)
{
	const struct zs_table *t = &pool->debug.maps;

	if (!table_has(t, hidx, MAPS_FIRST_SHIFT))
		return 0;
	return *(uint32_t *)table_at(t, hidx, MAPS_ENTRY_SHIFT, MAPS_FIRST_SHIFT);
}

/* The count of @hidx, the table grown to hold it; caller holds the owner's class lock. */
static uint32_t *maps_slot(struct zs_pool *pool, uint32_t hidx)
{
	struct zs_debug_state *d = &pool->debug;

	if (!table_has(&d->maps, hidx, MAPS_FIRST_SHIFT)) {
		pthread_mutex_lock(&d->maps_lock);
		int err = zsi_table_grow(&d->maps, hidx + 1, ZS_MAX_HANDLES, MAPS_ENTRY_SHIFT,
					 MAPS_FIRST_SHIFT);
		pthread_mutex_unlock(&d->maps_lock);
		zs_assert(!err, "pool %s: no address space to count mappings of handle index %u",
			  pool->name, hidx);
	}
	return table_at(&d->maps, hidx, MAPS_ENTRY_SHIFT, MAPS_FIRST_SHIFT);
}

/* ---- one zspage (class lock held) ---- */

static void check_zspage(struct zs_pool *pool, struct size_class *class, struct zspage *z)
{
	uint32_t id = zspage_id(pool, z), objs = class->objs_per_zspage, words = (objs + 63) / 64;
	const uint64_t *map = zspage_map(z);
	uint32_t used = 0, last = 0, lowest_free = objs;
	const char *name = pool->name;

	zs_assert(id > 0 && id < ZS_MAX_ZSPAGES, "pool %s: zspage id %u out of range", name, id);
	zs_assert(zs_load_relaxed(&z->class_nth) == class->nth,
		  "pool %s: zspage %u is on a list of class %u (size %u) but names class %u", name,
		  id, class->nth, class->size, zs_load_relaxed(&z->class_nth));
	zs_assert(!zs_load_relaxed(&z->busy),
		  "pool %s: zspage %u still claimed at the end of a call", name, id);
	zs_assert(z->id == id, "pool %s: descriptor %u says it is %u", name, id, z->id);
	zs_assert((z->page & (ZS_ARENA_PAGES - 1)) + class->pages_per_zspage <=
		      arena_pages(z->page >> ZS_ARENA_SHIFT),
		  "pool %s: zspage %u: page %u is not a run of %u pages of an arena", name, id,
		  z->page, class->pages_per_zspage);
	zs_assert((z->ext_map != NULL) == (objs > ZS_INLINE_SLOTS),
		  "pool %s: zspage %u: %s bitmap for %u slots", name, id,
		  z->ext_map ? "an external" : "the inline", objs);
	for (uint32_t w = 0; w < words; w++) {
		uint64_t valid = w == words - 1 && objs % 64 ? (1ULL << (objs % 64)) - 1 : ~0ULL;
		uint64_t m = map[w];

		zs_assert(!(m & ~valid), "pool %s: zspage %u: bitmap bits set past slot %u", name,
			  id, objs - 1);
		used += (uint32_t)__builtin_popcountll(m);
		if (m)
			last = w * 64 + 63 - (uint32_t)__builtin_clzll(m);
		if (lowest_free == objs && (~m & valid))
			lowest_free = w * 64 + (uint32_t)__builtin_ctzll(~m & valid);
	}
	for (uint32_t w = words; !z->ext_map && w < ZS_INLINE_SLOTS / 64; w++)
		zs_assert(!map[w], "pool %s: zspage %u: inline bitmap word %u set past slot %u",
			  name, id, w, objs - 1);
	zs_assert(used == z->inuse,
		  "pool %s: zspage %u (class size %u): %u slots marked used, inuse %u", name, id,
		  class->size, used, z->inuse);
	zs_assert(z->first_free == lowest_free,
		  "pool %s: zspage %u: first_free %u, lowest free slot %u", name, id, z->first_free,
		  lowest_free);
	zs_assert(z->populated <= class->pages_per_zspage,
		  "pool %s: zspage %u: %u pages resident of %u", name, id, z->populated,
		  class->pages_per_zspage);
	zs_assert(!used || z->populated >= pages_for_slot(class, last),
		  "pool %s: zspage %u: slot %u used but only %u pages resident", name, id, last,
		  z->populated);
	zs_assert(z->fullness == fullness_of(class, z->inuse),
		  "pool %s: zspage %u: on fullness list %u with %u of %u slots used", name, id,
		  z->fullness, z->inuse, objs);
	zs_assert(zs_load_relaxed(&z->last_mapped) <= objs,
		  "pool %s: zspage %u: last_mapped %u past its %u slots", name, id,
		  zs_load_relaxed(&z->last_mapped), objs);
	if (z->prev) {
		struct zspage *p = zspage_of(pool, z->prev);
		zs_assert(z->prev < ZS_MAX_ZSPAGES && p->next == id && p->fullness == z->fullness,
			  "pool %s: zspage %u: its prev %u does not link back on list %u", name, id,
			  z->prev, z->fullness);
	} else {
		zs_assert(
		    class->fullness_list[z->fullness] == id,
		    "pool %s: zspage %u has no prev but list %u of class size %u starts at %u",
		    name, id, z->fullness, class->size, class->fullness_list[z->fullness]);
	}
	if (z->next)
		zs_assert(z->next < ZS_MAX_ZSPAGES && zspage_of(pool, z->next)->prev == id,
			  "pool %s: zspage %u: its next %u does not link back", name, id, z->next);
}

/* ---- one class (its lock held) ---- */

struct class_sums {
	unsigned long zspages, inuse, populated;
};

/* What the class's lists hold, every zspage on them checked on the way. */
static struct class_sums walk_class(struct zs_pool *pool, struct size_class *class)
{
	struct class_sums s = {0};

	for (uint32_t g = 0; g < ZS_NR_RATIO_BUCKETS; g++) {
		unsigned long steps = 0;
		struct zspage *z;
		uint32_t next;

		for_each_zspage(&pool->vm.desc, class, g, z, next)
		{
			zs_assert(++steps < ZS_MAX_ZSPAGES,
				  "pool %s: list %u of class size %u loops", pool->name, g,
				  class->size);
			zs_assert(z->fullness == g,
				  "pool %s: zspage %u on list %u says fullness %u", pool->name,
				  zspage_id(pool, z), g, z->fullness);
			check_zspage(pool, class, z);
			s.zspages++;
			s.inuse += z->inuse;
			s.populated += z->populated;
		}
	}
	return s;
}

/* The parts of a class's state that cost no walk. */
static void check_class_head(struct zs_pool *pool, struct size_class *class)
{
	uint32_t mask = zs_load_relaxed(&class->list_mask);
	unsigned long objs = cnt_get(class->obj_used), bytes = cnt_get(class->bytes_used);
	uint32_t top = zs_load_relaxed(&pool->handles.top);
	const char *name = pool->name;

	zs_assert(!(mask >> ZS_NR_RATIO_BUCKETS), "pool %s: class size %u: list_mask %#x", name,
		  class->size, mask);
	for (uint32_t g = 0; g < ZS_NR_RATIO_BUCKETS; g++) {
		uint32_t head = class->fullness_list[g];

		zs_assert(!!(mask >> g & 1) == !!head,
			  "pool %s: class size %u: list_mask %#x but list %u is %s", name,
			  class->size, mask, g, head ? "not empty" : "empty");
		zs_assert(!head || (head < ZS_MAX_ZSPAGES && !zspage_of(pool, head)->prev),
			  "pool %s: class size %u: head %u of list %u has a prev", name,
			  class->size, head, g);
	}
	/* With per-thread caches, the class's bytes are right only with the caches' own counts
	 * added (tcache.h), which the whole-pool check does after draining them. */
	zs_assert(zs_load_relaxed(&pool->tc.nr) || (bytes >= objs && bytes <= objs * class->size),
		  "pool %s: class size %u: %lu bytes in %lu objects", name, class->size, bytes,
		  objs);
	zs_assert(class->mag.n <= ZS_MAG_SIZE, "pool %s: class size %u: magazine holds %u", name,
		  class->size, class->mag.n);
	for (uint32_t i = 0; i < class->mag.n; i++) {
		uint32_t idx = class->mag.idx[i];
		zs_assert(idx > 0 && idx < top &&
			      !he_live(zs_load_relaxed(handle_entry(&pool->handles, idx))),
			  "pool %s: class size %u: magazine index %u is not a free entry", name,
			  class->size, idx);
	}
	uint64_t in_use[ZS_CLASS_WORDS];
	classes_in_use(&pool->classes, in_use);
	zs_assert(class_map_has(in_use, class->nth) == (cnt_get(class->zspages) != 0),
		  "pool %s: class size %u: %lu zspages, but the table's in_use bit is %s", name,
		  class->size, cnt_get(class->zspages),
		  class_map_has(in_use, class->nth) ? "set" : "clear");
	if (class->huge) {
		unsigned long zspages = cnt_get(class->zspages);
		zs_assert(!mask, "pool %s: huge class size %u has zspages on lists", name,
			  class->size);
		zs_assert(class->hot_n <= ZS_HUGE_CACHE,
			  "pool %s: huge class size %u caches %u pages", name, class->size,
			  class->hot_n);
		zs_assert(
		    zspages == objs + class->hot_n && cnt_get(class->pages_used) == zspages,
		    "pool %s: huge class size %u: %lu pages counted, %lu used, %lu objects and "
		    "%u cached",
		    name, class->size, zspages, cnt_get(class->pages_used), objs, class->hot_n);
	} else {
		zs_assert(!class->hot_n, "pool %s: class size %u caches huge pages", name,
			  class->size);
	}
}

static void check_class(struct zs_pool *pool, struct size_class *class)
{
	check_class_head(pool, class);
	if (class->huge)
		return;
	struct class_sums s = walk_class(pool, class);
	zs_assert(
	    s.zspages == cnt_get(class->zspages) && s.inuse == cnt_get(class->obj_used) &&
		s.populated == cnt_get(class->pages_used),
	    "pool %s: class size %u: lists hold %lu zspages, %lu objects, %lu pages; counters "
	    "say %lu, %lu, %lu",
	    pool->name, class->size, s.zspages, s.inuse, s.populated, cnt_get(class->zspages),
	    cnt_get(class->obj_used), cnt_get(class->pages_used));
}

void zsi_debug_check_change(struct zs_pool *pool, struct size_class *class, struct zspage *z)
{
	uint32_t *calls = &pool->debug.class_calls[class->nth];

	if (z)
		check_zspage(pool, class, z);
	if (++*calls * ZS_DEBUG_BUDGET >= cnt_get(class->zspages)) {
		*calls = 0;
		check_class(pool, class);
	} else {
		check_class_head(pool, class);
	}
}

/* ---- objects (the owner's class lock held) ---- */

void zsi_debug_check_object(struct zs_pool *pool, struct size_class *class, uint32_t hidx)
{
	uint64_t e = zs_load_relaxed(handle_entry(&pool->handles, hidx));

	zs_assert(he_live(e), "pool %s: new handle index %u is not live", pool->name, hidx);
	if (class->huge) {
		zs_assert(he_huge(e) && class_for_size(&pool->classes, he_size(e)) == class,
			  "pool %s: handle index %u in huge class size %u: entry %#llx", pool->name,
			  hidx, class->size, (unsigned long long)e);
		return;
	}
	struct zspage *z = zspage_of(pool, he_id(e));
	zs_assert(!he_huge(e) && he_id(e) && zs_load_relaxed(&z->class_nth) == class->nth &&
		      he_slot(e) < class->objs_per_zspage && slot_used(z, he_slot(e)) &&
		      he_size(e) <= class->size,
		  "pool %s: handle index %u (zspage %u slot %u, %u bytes) is not in a used slot of "
		  "class size %u",
		  pool->name, hidx, he_id(e), he_slot(e), he_size(e), class->size);
}

void zsi_debug_check_freed(struct zs_pool *pool, uint32_t hidx)
{
	uint64_t e = zs_load_relaxed(handle_entry(&pool->handles, hidx));

	zs_assert(!he_live(e), "pool %s: freed handle index %u is still live", pool->name, hidx);
	zs_assert(!maps_of(pool, hidx), "pool %s: freed handle index %u is mapped %u times",
		  pool->name, hidx, maps_of(pool, hidx));
}

/* ---- mappings ---- */

unsigned long zsi_debug_meta_bytes(struct zs_pool *pool, size_t top)
{
	return zs_page_round(top << MAPS_ENTRY_SHIFT) +
	       pool->classes.nr * sizeof(*pool->debug.class_calls);
}

uint32_t zsi_debug_maps(struct zs_pool *pool, uint32_t hidx)
{
	return maps_of(pool, hidx);
}

bool zsi_debug_mapped(struct zs_pool *pool, struct size_class *class, uint32_t hidx, uint64_t e,
		      int delta)
{
	if (delta < 0 && !maps_of(pool, hidx))
		return false;
	uint32_t *m = maps_slot(pool, hidx);

	zs_assert(delta < 0 || *m < UINT32_MAX, "pool %s: handle index %u mapped 2^32 times",
		  pool->name, hidx);
	*m += delta;
	if (!he_huge(e)) {
		struct zspage *z = zspage_of(pool, he_id(e));
		check_zspage(pool, class, z);
		/* an unmap's pin goes after this check */
		zs_assert(zs_load_relaxed(&z->pins) >= *m + (delta < 0),
			  "pool %s: handle index %u mapped %u times, its zspage %u pinned %u times",
			  pool->name, hidx, *m, he_id(e), zs_load_relaxed(&z->pins));
	}
	return true;
}

/* ---- the whole pool (compact_lock and every class lock held) ---- */

struct zspage_sums {
	uint32_t objs;	/* entries naming it */
	uint32_t maps;	/* their mappings */
	uint64_t slots; /* sum over them of (slot + 1)^2: with objs, catches two on one slot */
};

struct class_objs {
	unsigned long objs, bytes;
};

static void check_ids(struct zs_pool *pool)
{
	struct zs_vm *vm = &pool->vm;
	unsigned long live = 0, listed = 0;

	zs_assert(vm->id_bits[0] & 1, "pool %s: id 0 is free", pool->name);
	zs_assert(vm->id_top >= 1 && vm->id_low >= 1, "pool %s: id_top %u, id_low %u", pool->name,
		  vm->id_top, vm->id_low);
	zs_assert(vm->id_top <= (uint64_t)vm->id_words * 64 && vm->id_low <= vm->id_words * 64,
		  "pool %s: id_top %u, id_low %u past the bitmap's %u ids", pool->name, vm->id_top,
		  vm->id_low, vm->id_words * 64);
	/* Id 0 names no descriptor: a pool that never made a zspage has none yet. */
	zs_assert(vm->id_top == 1 || vm->desc.cap >= vm->id_top,
		  "pool %s: id_top %u, descriptors for %u", pool->name, vm->id_top, vm->desc.cap);
	for (uint32_t id = 1; id < vm->id_words * 64 && id < vm->id_top + 64; id++) {
		bool used = vm->id_bits[id >> 6] >> (id & 63) & 1;
		bool owned = id < vm->id_top &&
			     zs_load_relaxed(&zspage_at(&vm->desc, id)->class_nth) != ZS_NO_CLASS;

		zs_assert(id < vm->id_top || !used, "pool %s: id %u in use at or above id_top %u",
			  pool->name, id, vm->id_top);
		zs_assert(used == owned, "pool %s: id %u is %s but its descriptor is %s",
			  pool->name, id, used ? "in use" : "free", owned ? "owned" : "free");
		zs_assert(used || id >= vm->id_low, "pool %s: id %u free below id_low %u",
			  pool->name, id, vm->id_low);
		live += used;
	}
	for (uint32_t i = 0; i < pool->classes.nr; i++) {
		struct size_class *c = &pool->classes.v[i];
		struct zspage *z;
		uint32_t next;

		for (uint32_t g = 0; g < ZS_NR_RATIO_BUCKETS; g++) {
			for_each_zspage(&vm->desc, c, g, z, next)
			{
				uint32_t id = zspage_id(pool, z);
				zs_assert(
				    id < vm->id_top && vm->id_bits[id >> 6] >> (id & 63) & 1,
				    "pool %s: zspage %u of class size %u is live but its id is "
				    "not in use (id_top %u)",
				    pool->name, id, c->size, vm->id_top);
				listed++;
			}
		}
	}
	zs_assert(live == listed, "pool %s: %lu ids in use, %lu zspages on the lists", pool->name,
		  live, listed);
	for (uint32_t p = 1; p <= ZS_MAX_PAGES_PER_ZSPAGE; p++)
		for (size_t k = 0; k < vm->free_runs[p].n; k++)
			zs_assert(vm->free_runs[p].v[k] >> ZS_ARENA_SHIFT < vm->nr_arenas &&
				      (vm->free_runs[p].v[k] & (ZS_ARENA_PAGES - 1)) + p <=
					  arena_pages(vm->free_runs[p].v[k] >> ZS_ARENA_SHIFT),
				  "pool %s: free run of %u pages at page %u outside the arenas",
				  pool->name, p, vm->free_runs[p].v[k]);
	unsigned long resident = 0;
	for (uint32_t k = 0; k < vm->nr_resident; k++) {
		const struct resident_run *r = &vm->resident[k];

		zs_assert(r->page >> ZS_ARENA_SHIFT < vm->nr_arenas && r->pages >= 1 &&
			      r->pages <= ZS_MAX_PAGES_PER_ZSPAGE && r->resident >= 1 &&
			      r->resident <= r->pages &&
			      (r->page & (ZS_ARENA_PAGES - 1)) + r->pages <=
				  arena_pages(r->page >> ZS_ARENA_SHIFT),
			  "pool %s: resident run %u: page %u, %u pages, %u resident", pool->name, k,
			  r->page, r->pages, r->resident);
		resident += r->resident;
	}
	zs_assert(resident == zs_load_relaxed(&vm->resident_pages),
		  "pool %s: resident runs hold %lu pages, resident_pages %lu", pool->name, resident,
		  zs_load_relaxed(&vm->resident_pages));
}

/* Mark index @idx of the free lists seen; it must be a free entry seen nowhere else. */
static void see_free(struct zs_pool *pool, uint64_t *seen, uint32_t top, uint32_t idx,
		     const char *where)
{
	zs_assert(idx > 0 && idx < top, "pool %s: %s holds index %u, top %u", pool->name, where,
		  idx, top);
	zs_assert(!he_live(zs_load_relaxed(handle_entry(&pool->handles, idx))),
		  "pool %s: %s holds index %u, which is live", pool->name, where, idx);
	zs_assert(!(seen[idx >> 6] >> (idx & 63) & 1), "pool %s: index %u is free twice (%s)",
		  pool->name, idx, where);
	seen[idx >> 6] |= 1ULL << (idx & 63);
}

static void check_handles(struct zs_pool *pool)
{
	struct zs_handles *t = &pool->handles;
	uint32_t top = zs_load_relaxed(&t->top), ids = pool->vm.id_top, nr = pool->classes.nr;
	struct zspage_sums *zs = calloc(ids, sizeof(*zs));
	struct class_objs *co = calloc(nr, sizeof(*co));
	uint64_t *seen = calloc(top / 64 + 1, sizeof(*seen));
	const char *name = pool->name;

	if (!zs || !co || !seen)
		goto out; /* no memory for the cross-check: the per-class checks stand */
	for (uint32_t i = 1; i < top; i++) {
		uint64_t e = zs_load_relaxed(handle_entry(t, i));
		uint32_t maps = maps_of(pool, i);

		if (!he_live(e)) {
			zs_assert(!maps, "pool %s: free handle index %u mapped %u times", name, i,
				  maps);
			continue;
		}
		struct size_class *c;
		if (he_huge(e)) {
			c = class_for_size(&pool->classes, he_size(e));
			zs_assert(c->huge && he_page(e) >> ZS_ARENA_SHIFT < pool->vm.nr_arenas,
				  "pool %s: huge handle index %u: page %u, size %u", name, i,
				  he_page(e), he_size(e));
		} else {
			uint32_t id = he_id(e);
			zs_assert(id && id < ids,
				  "pool %s: handle index %u names zspage %u, id_top %u", name, i,
				  id, ids);
			struct zspage *z = zspage_of(pool, id);
			uint16_t nth = zs_load_relaxed(&z->class_nth);
			zs_assert(nth < nr, "pool %s: handle index %u names free zspage %u", name,
				  i, id);
			c = &pool->classes.v[nth];
			zs_assert(he_slot(e) < c->objs_per_zspage && slot_used(z, he_slot(e)) &&
				      he_size(e) <= c->size,
				  "pool %s: handle index %u (%u bytes) names slot %u of zspage %u, "
				  "which is %s (class size %u)",
				  name, i, he_size(e), he_slot(e), id,
				  he_slot(e) < c->objs_per_zspage && slot_used(z, he_slot(e))
				      ? "used"
				      : "free",
				  c->size);
			zs[id].objs++;
			zs[id].maps += maps;
			zs[id].slots += (uint64_t)(he_slot(e) + 1) * (he_slot(e) + 1);
		}
		co[c->nth].objs++;
		co[c->nth].bytes += he_size(e);
	}
	for (uint32_t id = 1; id < ids; id++) {
		struct zspage *z = zspage_of(pool, id);
		uint16_t nth = zs_load_relaxed(&z->class_nth);
		uint64_t slots = 0;

		if (nth == ZS_NO_CLASS)
			continue;
		for (uint32_t s = 0; s < pool->classes.v[nth].objs_per_zspage; s++)
			if (slot_used(z, s))
				slots += (uint64_t)(s + 1) * (s + 1);
		zs_assert(zs[id].objs == z->inuse && zs[id].slots == slots,
			  "pool %s: zspage %u has %u used slots, %u handles name it (%s)", name, id,
			  z->inuse, zs[id].objs,
			  zs[id].objs == z->inuse ? "two on one slot"
						  : "an object without a handle "
						    "or a handle without a slot");
		zs_assert(zs_load_relaxed(&z->pins) >= zs[id].maps,
			  "pool %s: zspage %u: its objects are mapped %u times, pinned %u", name,
			  id, zs[id].maps, zs_load_relaxed(&z->pins));
	}
	for (uint32_t n = 0; n < nr; n++) {
		struct size_class *c = &pool->classes.v[n];
		zs_assert(co[n].objs == cnt_get(c->obj_used) &&
			      co[n].bytes == cnt_get(c->bytes_used),
			  "pool %s: class size %u: the handle table holds %lu objects, %lu bytes; "
			  "counters say %lu, %lu",
			  name, c->size, co[n].objs, co[n].bytes, cnt_get(c->obj_used),
			  cnt_get(c->bytes_used));
	}
	/* Every free index is in the free bitmap, in one magazine, or retired (generation spent);
	 * the bitmap names no index at or past top, and its lowest-free hint holds. */
	for (uint32_t w = 0; w < t->free_words; w++) {
		uint64_t bits = handle_free_word(t, w);
		zs_assert(!bits || w >= t->free_low,
			  "pool %s: free index in bitmap word %u, below the hint %u", name, w,
			  t->free_low);
		for (; bits; bits &= bits - 1)
			see_free(pool, seen, top, (w << 6) + (uint32_t)__builtin_ctzll(bits),
				 "the free bitmap");
	}
	/* A page of entries given back reads as zeros, and all its indexes are free. */
	uint32_t released = 0;
	for (uint32_t p = 0; p < t->floor_cap; p++) {
		if (!t->gen_floor[p])
			continue;
		released++;
		for (uint32_t i = p << HT_PAGE_SHIFT; i < (p + 1) << HT_PAGE_SHIFT; i++)
			zs_assert(!zs_load_relaxed(handle_entry(t, i)) &&
				      handle_free_word(t, i >> 6) >> (i & 63) & 1,
				  "pool %s: handle index %u of released page %u is in use", name, i,
				  p);
	}
	zs_assert(released == zs_load_relaxed(&t->released),
		  "pool %s: %u pages of handle entries released, counted %u", name, released,
		  zs_load_relaxed(&t->released));
	for (uint32_t n = 0; n < nr; n++)
		for (uint32_t k = 0; k < pool->classes.v[n].mag.n; k++)
			see_free(pool, seen, top, pool->classes.v[n].mag.idx[k], "a magazine");
	for (uint32_t i = 1; i < top; i++) {
		uint64_t e = zs_load_relaxed(handle_entry(t, i));
		zs_assert(he_live(e) || seen[i >> 6] >> (i & 63) & 1 || he_gen(e) == HE_GEN_MASK,
			  "pool %s: handle index %u is free but on no list (lost)", name, i);
	}
out:
	free(zs);
	free(co);
	free(seen);
}

static void check_counters(struct zs_pool *pool)
{
	unsigned long pages = 0, heap = sizeof(*pool) + zsi_classes_bytes(&pool->classes);

	for (uint32_t n = 0; n < pool->classes.nr; n++)
		pages += cnt_get(pool->classes.v[n].pages_used);
	for (uint32_t id = 1; id < pool->vm.id_top; id++)
		if (zspage_of(pool, id)->ext_map)
			heap += (zspage_class(pool, zspage_of(pool, id))->objs_per_zspage + 63) /
				64 * 8;
	zs_assert(pages + zs_load_relaxed(&pool->vm.resident_pages) ==
		      zs_load_relaxed(&pool->pages_total),
		  "pool %s: classes hold %lu pages, resident runs %lu, pages_total %lu", pool->name,
		  pages, zs_load_relaxed(&pool->vm.resident_pages),
		  zs_load_relaxed(&pool->pages_total));
	zs_assert(zs_load_relaxed(&pool->pages_peak) >= pages, "pool %s: pages_peak %lu below %lu",
		  pool->name, zs_load_relaxed(&pool->pages_peak), pages);
	zs_assert(heap == zs_load_relaxed(&pool->heap_bytes),
		  "pool %s: heap metadata %lu bytes, heap_bytes %lu", pool->name, heap,
		  zs_load_relaxed(&pool->heap_bytes));
}

void zsi_debug_check_pool_locked(struct zs_pool *pool)
{
	/* Cached slots have no live entry: take them back so every slot has its handle. */
	zsi_tcache_gate_up(pool);
	for (uint32_t n = 0; n < pool->classes.nr; n++)
		pthread_mutex_lock(&pool->classes.v[n].lock);
	pthread_mutex_lock(&pool->vm.lock);
	pthread_mutex_lock(&pool->handles.lock);
	for (uint32_t n = 0; n < pool->classes.nr; n++)
		check_class(pool, &pool->classes.v[n]);
	check_ids(pool);
	check_handles(pool);
	check_counters(pool);
	pthread_mutex_unlock(&pool->handles.lock);
	pthread_mutex_unlock(&pool->vm.lock);
	for (uint32_t n = pool->classes.nr; n-- > 0;)
		pthread_mutex_unlock(&pool->classes.v[n].lock);
	zsi_tcache_gate_down(pool);
}

void zsi_debug_check_pool(struct zs_pool *pool)
{
	pthread_mutex_lock(&pool->compact_lock);
	zsi_debug_check_pool_locked(pool);
	pthread_mutex_unlock(&pool->compact_lock);
}

void zsi_debug_tick(struct zs_pool *pool)
{
	unsigned long calls = zs_fetch_add_relaxed(&pool->debug.calls, 1) + 1;

	if (calls < 1024 + zs_load_relaxed(&pool->handles.top) / 4)
		return;
	zs_store_relaxed(&pool->debug.calls, 0);
	zsi_debug_check_pool(pool);
}
#endif /* ZS_DEBUG */
