/*
 * zspage.c - a zspage's life: creation and destruction (its run of pages and its id, from
 * arena.c), its slots and allocation bitmap, the trimming of its unused tail, and moving it to
 * another id.  Caller holds the owning class's lock throughout.  The fullness lists are
 * fullness.c's; which object sits in which slot is the handle table's (zsmalloc.c, compact.c).
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "fullness.h"
#include "os.h"
#include "pool.h"
#include "zspage.h"

static size_t ext_map_bytes(const struct size_class *class)
{
	return class->objs_per_zspage > ZS_INLINE_SLOTS ? (class->objs_per_zspage + 63) / 64 * 8
							: 0;
}

/* Clear the zspage's state: empty, no pages resident, on no list yet. */
static void clear_state(struct zspage *z)
{
	memset((char *)z + ZSPAGE_STATE, 0, sizeof(*z) - ZSPAGE_STATE);
}

struct zspage *zsi_zspage_create(struct zs_pool *pool, struct size_class *class)
{
	uint64_t *ext = NULL;
	size_t ext_bytes = ext_map_bytes(class);

	if (ext_bytes && !(ext = calloc(1, ext_bytes)))
		return NULL;
	uint32_t resident;
	uint32_t page = zsi_run_get(&pool->vm, class->pages_per_zspage, &resident);
	if (page == ZS_NO_PAGE)
		goto fail;
	uint32_t id = zsi_id_get(&pool->vm, ZS_MAX_ZSPAGES);
	if (!id) {
		pool_pages_released(pool,
				    zsi_run_put_resident(&pool->vm, page, class->pages_per_zspage,
							 resident, resident_keep(pool, resident),
							 resident_slack(pool, resident)));
		goto fail;
	}
	struct zspage *z = zspage_of(pool, id);
	/* pins and busy stay as they are: a stale reader may still hold a pin on this id. */
	clear_state(z);
	zs_store_relaxed(&z->last_mapped, 0);
	z->id = id;
	z->page = page;
	z->populated = (uint8_t)resident; /* counted already: they move from the resident runs */
	cnt_add_locked(class->pages_used, resident);
	z->fullness = ZS_EMPTY;
	z->ext_map = ext;
	zsi_list_add(&pool->vm.desc, class, z);
	zs_store_release(&z->class_nth, class->nth);
	class_zspages_add(&pool->classes, class, 1);
	if (ext_bytes)
		zs_fetch_add_relaxed(&pool->heap_bytes, ext_bytes);
	return z;
fail:
	free(ext);
	return NULL;
}

/*
 * A mapper that raced with the free of the zspage's last object may still be looking at the
 * memory; while it holds its pin the zspage stays on the empty list, for compaction or reuse.
 * The run keeps its resident pages as a resident run (arena.h) for the next zspage.
 */
bool zsi_zspage_destroy(struct zs_pool *pool, struct zspage *z, unsigned long *released)
{
	struct size_class *class = zspage_class(pool, z);
	uint32_t resident = z->populated;

	if (!zspage_claim(z))
		return false;
	zsi_list_del(&pool->vm.desc, class, z);
	cnt_add_locked(class->pages_used, -(long)resident);
	zs_store_release(&z->class_nth, ZS_NO_CLASS);
	if (z->ext_map) {
		free(z->ext_map);
		z->ext_map = NULL;
		zs_fetch_sub_relaxed(&pool->heap_bytes, ext_map_bytes(class));
	}
	zspage_unclaim(z);
	unsigned long gone =
	    zsi_run_put_resident(&pool->vm, z->page, class->pages_per_zspage, resident,
				 resident_keep(pool, resident), resident_slack(pool, resident));
	pool_pages_released(pool, gone);
	if (released)
		*released = gone;
	zsi_id_put(&pool->vm, zspage_id(pool, z));
	class_zspages_add(&pool->classes, class, -1);
	return true;
}

/* ---- slots ---- */

static uint32_t next_free_slot(struct zspage *z, uint32_t from, uint32_t objs)
{
	uint64_t *map = zspage_map(z);

	for (uint32_t w = from >> 6; (w << 6) < objs; w++) {
		uint64_t free = ~map[w];
		if (w == from >> 6)
			free &= ~0ULL << (from & 63);
		if (free) {
			uint32_t s = (w << 6) + __builtin_ctzll(free);
			return s < objs ? s : objs;
		}
	}
	return objs;
}

uint32_t zsi_slot_alloc(struct zs_pool *pool, struct size_class *class, struct zspage *z)
{
	uint32_t slot = z->first_free, objs = class->objs_per_zspage;
	uint32_t need = pages_for_slot(class, slot);

	zspage_map(z)[slot >> 6] |= 1ULL << (slot & 63);
	z->inuse++;
	if (need > z->populated) {
		pool_pages_add(pool, class, need - z->populated);
		z->populated = need;
	}
	z->first_free = z->inuse == objs ? objs : next_free_slot(z, slot + 1, objs);
	/* A mapping of the slot's earlier object must not look like one of the new object. */
	if (zs_load_relaxed(&z->last_mapped) == slot + 1)
		zs_store_relaxed(&z->last_mapped, 0);
	fullness_update(&pool->vm.desc, class, z);
	return slot;
}

void zsi_slot_free(struct zs_pool *pool, struct size_class *class, struct zspage *z, uint32_t slot)
{
	zspage_map(z)[slot >> 6] &= ~(1ULL << (slot & 63));
	z->inuse--;
	if (slot < z->first_free)
		z->first_free = slot;
	fullness_update(&pool->vm.desc, class, z);
}

/* The pages released hold no live object, so no correct mapper can be reading them. */
unsigned long zsi_zspage_trim(struct zs_pool *pool, struct size_class *class, struct zspage *z,
			      struct zs_release_batch *later)
{
	uint64_t *map = zspage_map(z);
	uint32_t need = 0;

	for (uint32_t w = (class->objs_per_zspage + 63) / 64; w-- > 0;) {
		if (map[w]) {
			need = pages_for_slot(class, (w << 6) + 63 - __builtin_clzll(map[w]));
			break;
		}
	}
	if (need >= z->populated)
		return 0;
	uint32_t drop = z->populated - need;
	zsi_os_release_later(later, zspage_base(pool, z) + ((size_t)need << ZS_PAGE_SHIFT),
			     (size_t)drop << ZS_PAGE_SHIFT);
	z->populated = need;
	pool_pages_add(pool, class, -(long)drop);
	return drop;
}

/* ---- moving to another id ---- */

/*
 * The copy is of the whole state block, so a field added to it moves with the zspage.  The new
 * descriptor is complete before its class_nth is published, and no handle names it yet.
 */
struct zspage *zsi_zspage_move(struct zs_pool *pool, struct size_class *class, struct zspage *z,
			       uint32_t nid)
{
	struct zspage *to = zspage_of(pool, nid);

	to->id = nid;
	zsi_list_del(&pool->vm.desc, class, z);
	memcpy((char *)to + ZSPAGE_STATE, (const char *)z + ZSPAGE_STATE,
	       sizeof(*z) - ZSPAGE_STATE);
	to->skip = 0;
	zs_store_relaxed(&to->last_mapped, 0); /* claimed: nothing of it is mapped */
	zsi_list_add(&pool->vm.desc, class, to);
	zs_store_release(&to->class_nth, class->nth);
	return to;
}

/* The old descriptor's memory now belongs to the new one: drop the pointer, not the map. */
void zsi_zspage_retire(struct zs_pool *pool, struct zspage *z)
{
	z->ext_map = NULL;
	zs_store_release(&z->class_nth, ZS_NO_CLASS);
	zspage_unclaim(z);
	zsi_id_put(&pool->vm, zspage_id(pool, z));
}

void zsi_zspages_fini(struct zs_pool *pool)
{
	for (uint32_t id = 1; id < pool->vm.id_top; id++)
		free(zspage_of(pool, id)->ext_map);
}
