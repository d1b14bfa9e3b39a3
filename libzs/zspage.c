/*
 * zspage.c - a zspage's life: its address range and id, its slots, its fullness list, and the
 * accounting of its resident pages.  Caller holds the owning class's lock throughout; this
 * file takes pool->vm.lock (a leaf) for address space and ids and nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zs_internal.h"

/* ---- address space and ids (pool->vm.lock) ---- */

static bool run_push(struct run_stack *st, char *run)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		char **v = realloc(st->v, cap * sizeof(*v));

		if (!v)
			return false;
		st->v = v;
		st->cap = cap;
	}
	st->v[st->n++] = run;
	return true;
}

static char *vm_get_run(struct zs_vm *vm, uint32_t pages)
{
	struct run_stack *st = &vm->free_runs[pages];

	if (st->n)
		return st->v[--st->n];
	if (!vm->nr_arenas || vm->bump + pages > ZS_ARENA_PAGES) {
		if (vm->nr_arenas == ZS_MAX_ARENAS)
			return NULL;
		char *a = zs_os_reserve(ZS_ARENA_PAGES << ZS_PAGE_SHIFT);
		if (!a)
			return NULL;
		/* Keep what is left of the old arena as single pages for 1-page zspages. */
		if (vm->nr_arenas) {
			char *old = vm->arena[vm->nr_arenas - 1];
			while (vm->bump < ZS_ARENA_PAGES &&
			       run_push(&vm->free_runs[1], old + (vm->bump << ZS_PAGE_SHIFT)))
				vm->bump++;
		}
		vm->arena[vm->nr_arenas++] = a;
		vm->bump = 0;
	}
	char *run = vm->arena[vm->nr_arenas - 1] + (vm->bump << ZS_PAGE_SHIFT);
	vm->bump += pages;
	return run;
}

static uint32_t vm_get_id(struct zs_vm *vm)
{
	uint32_t id = vm->id_free;

	if (id) {
		vm->id_free = vm->id_next[id];
		return id;
	}
	if (vm->id_top >= ZS_MAX_ZSPAGES)
		return 0;
	return vm->id_top++;
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

static size_t zspage_desc_bytes(const struct size_class *class)
{
	/* What malloc really spends: the chunk header and 16-byte rounding. */
	size_t n = sizeof(struct zspage) + class->objs_per_zspage * sizeof(uint32_t) + 8;
	return (n + 15) & ~(size_t)15;
}

/* ---- fullness lists ---- */

static void list_del(struct size_class *class, struct zspage *z)
{
	if (z->prev)
		z->prev->next = z->next;
	else
		class->fullness_list[z->fullness] = z->next;
	if (z->next)
		z->next->prev = z->prev;
	if (!class->fullness_list[z->fullness])
		class->list_mask &= ~(1U << z->fullness);
}

static void list_add(struct size_class *class, struct zspage *z)
{
	struct zspage *head = class->fullness_list[z->fullness];

	z->prev = NULL;
	z->next = head;
	if (head)
		head->prev = z;
	class->fullness_list[z->fullness] = z;
	class->list_mask |= 1U << z->fullness;
}

void zspage_set_fullness(struct size_class *class, struct zspage *z)
{
	uint32_t g = fullness_of(class, z->inuse);

	if (g == z->fullness)
		return;
	list_del(class, z);
	z->fullness = g;
	list_add(class, z);
}

/* The fullest zspage that still has a free slot, other than @except; NULL if none. */
struct zspage *class_fullest(struct size_class *class, struct zspage *except)
{
	uint32_t mask = class->list_mask & ~(1U << ZS_FULL);

	while (mask) {
		uint32_t g = 31 - __builtin_clz(mask);

		for (struct zspage *z = class->fullness_list[g]; z; z = z->next)
			if (z != except)
				return z;
		mask &= ~(1U << g);
	}
	return NULL;
}

/* ---- life cycle ---- */

struct zspage *zspage_create(struct zs_pool *pool, struct size_class *class)
{
	struct zspage *z = malloc(sizeof(*z) + class->objs_per_zspage * sizeof(uint32_t));

	if (!z)
		return NULL;
	pthread_mutex_lock(&pool->vm.lock);
	z->base = vm_get_run(&pool->vm, class->pages_per_zspage);
	z->id = z->base ? vm_get_id(&pool->vm) : 0;
	if (z->base && !z->id)
		run_push(&pool->vm.free_runs[class->pages_per_zspage], z->base);
	pthread_mutex_unlock(&pool->vm.lock);
	if (!z->id) {
		free(z);
		return NULL;
	}
	memset(z->backref, 0, class->objs_per_zspage * sizeof(uint32_t));
	z->class = class;
	z->inuse = 0;
	z->first_free = 0;
	z->populated = 0;
	z->fullness = ZS_EMPTY;
	list_add(class, z);

	struct ztab_ent *t = &pool->ztab[z->id];
	atomic_store(&t->class_idx, (uint16_t)class->nth);
	atomic_store(&t->busy, 0);
	atomic_store_explicit(&t->zs, z, memory_order_release);

	cnt_add(class->zspages, 1);
	atomic_fetch_add_explicit(&pool->desc_bytes, zspage_desc_bytes(class), memory_order_relaxed);
	return z;
}

/*
 * Free an empty zspage and give its pages back.  Fails (returns false, nothing changed) while
 * a mapper holds a pin on it: a mapper that raced with the object's free may still be
 * looking at the memory, so it stays on the empty list until compaction or reuse.
 */
bool zspage_destroy(struct zs_pool *pool, struct zspage *z)
{
	struct size_class *class = z->class;
	struct ztab_ent *t = &pool->ztab[z->id];

	atomic_store(&t->busy, 1);
	if (atomic_load(&t->pins)) {
		atomic_store(&t->busy, 0);
		return false;
	}
	list_del(class, z);
	zs_os_release(z->base, (size_t)z->populated << ZS_PAGE_SHIFT);
	if (z->populated)
		pool_pages_add(pool, class, -(long)z->populated);
	atomic_store_explicit(&t->zs, NULL, memory_order_release);
	atomic_store(&t->busy, 0);

	pthread_mutex_lock(&pool->vm.lock);
	pool->vm.id_next[z->id] = pool->vm.id_free;
	pool->vm.id_free = z->id;
	if (!run_push(&pool->vm.free_runs[class->pages_per_zspage], z->base)) {
		/* Out of memory for the bookkeeping: the range is leaked, never reused. */
	}
	pthread_mutex_unlock(&pool->vm.lock);

	cnt_add(class->zspages, -1);
	atomic_fetch_sub_explicit(&pool->desc_bytes, zspage_desc_bytes(class), memory_order_relaxed);
	free(z);
	return true;
}

/* ---- slots ---- */

/* Take the lowest free slot for handle index @hidx; the zspage must not be full. */
uint32_t zspage_alloc_slot(struct zs_pool *pool, struct zspage *z, uint32_t hidx)
{
	struct size_class *class = z->class;
	uint32_t slot = z->first_free, objs = class->objs_per_zspage;
	uint32_t need = pages_for_slot(class, slot);

	z->backref[slot] = hidx;
	z->inuse++;
	if (need > z->populated) {
		pool_pages_add(pool, class, need - z->populated);
		z->populated = need;
	}
	uint32_t next = slot + 1;
	if (z->inuse == objs)
		next = objs;
	else
		while (next < objs && z->backref[next])
			next++;
	z->first_free = next;
	zspage_set_fullness(class, z);
	return slot;
}

void zspage_free_slot(struct zspage *z, uint32_t slot)
{
	z->backref[slot] = 0;
	z->inuse--;
	if (slot < z->first_free)
		z->first_free = slot;
	zspage_set_fullness(z->class, z);
}

/*
 * Give back the pages past the last live object.  Returns the pages released.  The caller
 * must ensure no mapper can be reading those pages; they hold no live object, so only a
 * mapper of a freed object (a caller bug) could.
 */
unsigned long zspage_trim(struct zs_pool *pool, struct zspage *z)
{
	struct size_class *class = z->class;
	uint32_t need = 0;

	for (uint32_t s = class->objs_per_zspage; s-- > 0;) {
		if (z->backref[s]) {
			need = pages_for_slot(class, s);
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
