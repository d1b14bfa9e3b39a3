/*
 * zspage.c - a zspage's life: its address range and id, its slots and allocation bitmap, its
 * fullness list, and the accounting of its resident pages.  Caller holds the owning class's
 * lock throughout; this file takes pool->vm.lock (a leaf) for address space and ids.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zs_internal.h"

/* ---- address space (pool->vm.lock) ---- */

static bool run_push(struct zs_pool *pool, struct run_stack *st, uint32_t page)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 256;
		uint32_t *v = realloc(st->v, cap * sizeof(*v));

		if (!v)
			return false;
		atomic_fetch_add(&pool->heap_bytes, (cap - st->cap) * sizeof(*v));
		st->v = v;
		st->cap = cap;
	}
	st->v[st->n++] = page;
	return true;
}

/* A run of @pages pages, as the page number of its first page; UINT32_MAX if none. */
uint32_t vm_get_run(struct zs_pool *pool, uint32_t pages)
{
	struct zs_vm *vm = &pool->vm;
	struct run_stack *st = &vm->free_runs[pages];
	uint32_t page = UINT32_MAX;

	pthread_mutex_lock(&vm->lock);
	if (st->n) {
		page = st->v[--st->n];
		goto out;
	}
	if (!vm->nr_arenas || vm->bump + pages > ZS_ARENA_PAGES) {
		if (vm->nr_arenas == ZS_MAX_ARENAS)
			goto out;
		char *a = zs_os_reserve(ZS_ARENA_PAGES << ZS_PAGE_SHIFT);
		if (!a)
			goto out;
		/* What is left of the old arena serves 1-page runs. */
		if (vm->nr_arenas) {
			uint32_t base = (vm->nr_arenas - 1) << ZS_ARENA_SHIFT;
			while (vm->bump < ZS_ARENA_PAGES && run_push(pool, &vm->free_runs[1], base + vm->bump))
				vm->bump++;
		}
		vm->arena[vm->nr_arenas++] = a;
		vm->bump = 0;
	}
	page = ((vm->nr_arenas - 1) << ZS_ARENA_SHIFT) + vm->bump;
	vm->bump += pages;
out:
	pthread_mutex_unlock(&vm->lock);
	return page;
}

/* Return a run whose pages are no longer resident. */
void vm_put_run(struct zs_pool *pool, uint32_t page, uint32_t pages)
{
	pthread_mutex_lock(&pool->vm.lock);
	/* Without memory for the bookkeeping the range is simply never reused. */
	run_push(pool, &pool->vm.free_runs[pages], page);
	pthread_mutex_unlock(&pool->vm.lock);
}

/* ---- zspage ids (pool->vm.lock): lowest free first, so live ids stay dense ---- */

static uint32_t find_free_id(struct zs_vm *vm)
{
	for (uint32_t w = vm->id_low >> 6; (w << 6) < ZS_MAX_ZSPAGES; w++) {
		if (~vm->id_bits[w]) {
			uint32_t id = (w << 6) + __builtin_ctzll(~vm->id_bits[w]);
			vm->id_low = id;
			return id;
		}
	}
	return 0;
}

uint32_t vm_lowest_free_id(struct zs_pool *pool)
{
	pthread_mutex_lock(&pool->vm.lock);
	uint32_t id = find_free_id(&pool->vm);
	pthread_mutex_unlock(&pool->vm.lock);
	return id;
}

/* Take the lowest free id if it is below @below; 0 if none. */
uint32_t vm_get_id(struct zs_pool *pool, uint32_t below)
{
	struct zs_vm *vm = &pool->vm;

	pthread_mutex_lock(&vm->lock);
	uint32_t id = find_free_id(vm);
	if (id && id < below) {
		vm->id_bits[id >> 6] |= 1ULL << (id & 63);
		if (id >= vm->id_top)
			vm->id_top = id + 1;
	} else {
		id = 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return id;
}

void vm_put_id(struct zs_pool *pool, uint32_t id)
{
	struct zs_vm *vm = &pool->vm;

	pthread_mutex_lock(&vm->lock);
	vm->id_bits[id >> 6] &= ~(1ULL << (id & 63));
	if (id < vm->id_low)
		vm->id_low = id;
	pthread_mutex_unlock(&vm->lock);
}

/*
 * Give back the descriptor pages above the highest id in use.  Called by compaction (which
 * holds compact_lock) after renumbering.  Returns descriptor bytes released.
 */
unsigned long vm_shrink_ids(struct zs_pool *pool)
{
	struct zs_vm *vm = &pool->vm;
	unsigned long released = 0;

	pthread_mutex_lock(&vm->lock);
	uint32_t top = vm->id_top;
	while (top > 1 && !(vm->id_bits[(top - 1) >> 6] >> ((top - 1) & 63) & 1))
		top--;
	size_t keep = ((size_t)top * sizeof(struct zspage) + ZS_PAGE_SIZE - 1) & ~(ZS_PAGE_SIZE - 1);
	size_t had = ((size_t)vm->id_top * sizeof(struct zspage) + ZS_PAGE_SIZE - 1) & ~(ZS_PAGE_SIZE - 1);
	if (had > keep) {
		zs_os_release((char *)pool->zspages + keep, had - keep);
		released = had - keep;
	}
	vm->id_top = top;
	pthread_mutex_unlock(&vm->lock);
	return released;
}

/* ---- resident page accounting ---- */

void pool_pages_add(struct zs_pool *pool, struct size_class *class, long delta)
{
	cnt_add(class->pages_used, delta);
	unsigned long now = atomic_fetch_add_explicit(&pool->pages_total, delta,
						      memory_order_relaxed) + delta;
	unsigned long peak = atomic_load_explicit(&pool->pages_peak, memory_order_relaxed);

	while (delta > 0 && now > peak &&
	       !atomic_compare_exchange_weak_explicit(&pool->pages_peak, &peak, now,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* ---- fullness lists ---- */

/* Written under the class lock; allocation spill peeks at it without the lock. */
static inline void set_list_mask(struct size_class *class, uint32_t mask)
{
	__atomic_store_n(&class->list_mask, mask, __ATOMIC_RELAXED);
}

void zspage_list_del(struct zs_pool *pool, struct size_class *class, struct zspage *z)
{
	if (z->prev)
		zspage_of(pool, z->prev)->next = z->next;
	else
		class->fullness_list[z->fullness] = z->next;
	if (z->next)
		zspage_of(pool, z->next)->prev = z->prev;
	if (!class->fullness_list[z->fullness])
		set_list_mask(class, class->list_mask & ~(1U << z->fullness));
}

/*
 * Insert @z into its fullness list.  Allocation takes the head of the fullest list, so keep
 * the head the fuller one: a zspage with fewer objects than the head goes second.
 */
void zspage_list_add(struct zs_pool *pool, struct size_class *class, struct zspage *z)
{
	uint32_t id = zspage_id(pool, z), head = class->fullness_list[z->fullness];

	if (head && zspage_of(pool, head)->inuse > z->inuse) {
		struct zspage *h = zspage_of(pool, head);

		z->prev = head;
		z->next = h->next;
		if (h->next)
			zspage_of(pool, h->next)->prev = id;
		h->next = id;
		return;
	}
	z->prev = 0;
	z->next = head;
	if (head)
		zspage_of(pool, head)->prev = id;
	class->fullness_list[z->fullness] = id;
	set_list_mask(class, class->list_mask | 1U << z->fullness);
}

void zspage_set_fullness(struct zs_pool *pool, struct size_class *class, struct zspage *z)
{
	uint32_t g = fullness_of(class, z->inuse);

	if (g == z->fullness) {
		/* A head that lost an object steps behind a fuller second. */
		if (!z->prev && z->next && zspage_of(pool, z->next)->inuse > z->inuse) {
			zspage_list_del(pool, class, z);
			zspage_list_add(pool, class, z);
		}
		return;
	}
	zspage_list_del(pool, class, z);
	z->fullness = g;
	zspage_list_add(pool, class, z);
}

/* The fullest zspage that still has a free slot, other than @except; NULL if none. */
struct zspage *class_fullest(struct zs_pool *pool, struct size_class *class, struct zspage *except)
{
	uint32_t mask = class->list_mask & ~(1U << ZS_FULL);

	while (mask) {
		uint32_t g = 31 - __builtin_clz(mask);

		for (uint32_t id = class->fullness_list[g]; id; id = zspage_of(pool, id)->next)
			if (zspage_of(pool, id) != except)
				return zspage_of(pool, id);
		mask &= ~(1U << g);
	}
	return NULL;
}

/* ---- movers' claim on a zspage (see the pin protocol in zs_internal.h) ---- */

bool zspage_claim(struct zspage *z)
{
	atomic_store(&z->busy, 1);
	if (atomic_load(&z->pins)) {
		atomic_store(&z->busy, 0);
		return false;
	}
	return true;
}

void zspage_unclaim(struct zspage *z)
{
	atomic_store(&z->busy, 0);
}

/* ---- life cycle ---- */

static size_t ext_map_bytes(const struct size_class *class)
{
	return class->objs_per_zspage > ZS_INLINE_SLOTS ? (class->objs_per_zspage + 63) / 64 * 8 : 0;
}

struct zspage *zspage_create(struct zs_pool *pool, struct size_class *class)
{
	uint64_t *ext = NULL;
	size_t ext_bytes = ext_map_bytes(class);

	if (ext_bytes && !(ext = calloc(1, ext_bytes)))
		return NULL;
	uint32_t page = vm_get_run(pool, class->pages_per_zspage);
	if (page == UINT32_MAX)
		goto fail;
	uint32_t id = vm_get_id(pool, ZS_MAX_ZSPAGES);
	if (!id) {
		vm_put_run(pool, page, class->pages_per_zspage);
		goto fail;
	}
	struct zspage *z = zspage_of(pool, id);
	/* pins and busy are left as they are: a stale reader may still hold a pin on this id. */
	z->base = page_addr(pool, page);
	z->inuse = 0;
	z->first_free = 0;
	z->populated = 0;
	z->fullness = ZS_EMPTY;
	z->skip = 0;
	z->ext_map = ext;
	memset(z->map, 0, sizeof(z->map));
	zspage_list_add(pool, class, z);
	atomic_store_explicit(&z->class_nth, class->nth, memory_order_release);
	cnt_add(class->zspages, 1);
	if (ext_bytes)
		atomic_fetch_add(&pool->heap_bytes, ext_bytes);
	return z;
fail:
	free(ext);
	return NULL;
}

/* Page number of the first page of @z's run. */
static uint32_t zspage_page(struct zs_pool *pool, struct zspage *z)
{
	for (uint32_t a = 0; a < pool->vm.nr_arenas; a++) {
		char *base = pool->vm.arena[a];
		if (z->base >= base && z->base < base + (ZS_ARENA_PAGES << ZS_PAGE_SHIFT))
			return (a << ZS_ARENA_SHIFT) + (uint32_t)((z->base - base) >> ZS_PAGE_SHIFT);
	}
	return UINT32_MAX;
}

/*
 * Free an empty zspage and give its pages back.  Fails (returns false, nothing changed) while
 * a mapper holds a pin: one that raced with the object's free may still be looking at the
 * memory, so the zspage stays on the empty list until compaction or reuse.
 */
bool zspage_destroy(struct zs_pool *pool, struct zspage *z)
{
	struct size_class *class = zspage_class(pool, z);

	if (!zspage_claim(z))
		return false;
	zspage_list_del(pool, class, z);
	zs_os_release(z->base, (size_t)z->populated << ZS_PAGE_SHIFT);
	if (z->populated)
		pool_pages_add(pool, class, -(long)z->populated);
	uint32_t page = zspage_page(pool, z);
	atomic_store_explicit(&z->class_nth, ZS_NO_CLASS, memory_order_release);
	if (z->ext_map) {
		free(z->ext_map);
		z->ext_map = NULL;
		atomic_fetch_sub(&pool->heap_bytes, ext_map_bytes(class));
	}
	zspage_unclaim(z);
	vm_put_run(pool, page, class->pages_per_zspage);
	vm_put_id(pool, zspage_id(pool, z));
	cnt_add(class->zspages, -1);
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

/* Take the lowest free slot; the zspage must not be full. */
uint32_t zspage_alloc_slot(struct zs_pool *pool, struct size_class *class, struct zspage *z)
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
	zspage_set_fullness(pool, class, z);
	return slot;
}

void zspage_free_slot(struct zs_pool *pool, struct size_class *class, struct zspage *z,
		      uint32_t slot)
{
	zspage_map(z)[slot >> 6] &= ~(1ULL << (slot & 63));
	z->inuse--;
	if (slot < z->first_free)
		z->first_free = slot;
	zspage_set_fullness(pool, class, z);
}

/*
 * Give back the pages past the last live object.  Returns the pages released.  Those pages
 * hold no live object, so no correct mapper can be reading them.
 */
unsigned long zspage_trim(struct zs_pool *pool, struct size_class *class, struct zspage *z)
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
	zs_os_release(z->base + ((size_t)need << ZS_PAGE_SHIFT), (size_t)drop << ZS_PAGE_SHIFT);
	z->populated = need;
	pool_pages_add(pool, class, -(long)drop);
	return drop;
}
