/*
 * arena.c - the pool's address space (arenas and runs of pages) and its zspage ids (the
 * descriptor table and its bitmap of ids in use).  See arena.h for the model.  Every function
 * but init and fini takes vm->lock, a leaf lock; callers may hold a class lock.  Nothing here
 * touches a page's contents or a descriptor's fields.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "arena.h"
#include "os.h"

#define DESC_TABLE_BYTES ((size_t)ZS_MAX_ZSPAGES * ZS_DESC_BYTES)
#define ID_BITS_BYTES	 ((size_t)ZS_MAX_ZSPAGES / 8)

int zsi_vm_init(struct zs_vm *vm)
{
	vm->desc = zsi_os_reserve(DESC_TABLE_BYTES);
	vm->id_bits = zsi_os_reserve(ID_BITS_BYTES);
	if (!vm->desc || !vm->id_bits) {
		zsi_os_unreserve(vm->desc, DESC_TABLE_BYTES);
		zsi_os_unreserve(vm->id_bits, ID_BITS_BYTES);
		vm->desc = NULL;
		vm->id_bits = NULL;
		return -ENOMEM;
	}
	pthread_mutex_init(&vm->lock, NULL);
	vm->id_bits[0] = 1; /* id 0 means "none" */
	vm->id_top = 1;
	vm->id_low = 1;
	return 0;
}

void zsi_vm_fini(struct zs_vm *vm)
{
	for (unsigned int a = 0; a < vm->nr_arenas; a++)
		zsi_os_unreserve(vm->arena[a], ZS_ARENA_PAGES << ZS_PAGE_SHIFT);
	for (int p = 0; p <= ZS_MAX_PAGES_PER_ZSPAGE; p++)
		free(vm->free_runs[p].v);
	zsi_os_unreserve(vm->desc, DESC_TABLE_BYTES);
	zsi_os_unreserve(vm->id_bits, ID_BITS_BYTES);
	pthread_mutex_destroy(&vm->lock);
}

/* ---- address space ---- */

static bool run_push(struct zs_vm *vm, struct run_stack *st, uint32_t page)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 256;
		uint32_t *v = realloc(st->v, cap * sizeof(*v));

		if (!v)
			return false;
		vm->run_bytes += (cap - st->cap) * sizeof(*v);
		st->v = v;
		st->cap = cap;
	}
	st->v[st->n++] = page;
	return true;
}

uint32_t zsi_run_get(struct zs_vm *vm, uint32_t pages)
{
	struct run_stack *st = &vm->free_runs[pages];
	uint32_t page = ZS_NO_PAGE;

	pthread_mutex_lock(&vm->lock);
	if (st->n) {
		page = st->v[--st->n];
		goto out;
	}
	if (!vm->nr_arenas || vm->bump + pages > ZS_ARENA_PAGES) {
		if (vm->nr_arenas == ZS_MAX_ARENAS)
			goto out;
		char *a = zsi_os_reserve(ZS_ARENA_PAGES << ZS_PAGE_SHIFT);
		if (!a)
			goto out;
		/* What is left of the old arena serves 1-page runs. */
		if (vm->nr_arenas) {
			uint32_t base = (vm->nr_arenas - 1) << ZS_ARENA_SHIFT;
			while (vm->bump < ZS_ARENA_PAGES &&
			       run_push(vm, &vm->free_runs[1], base + vm->bump))
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

void zsi_run_put(struct zs_vm *vm, uint32_t page, uint32_t pages)
{
	pthread_mutex_lock(&vm->lock);
	/* Without memory for the bookkeeping the range is simply never reused. */
	run_push(vm, &vm->free_runs[pages], page);
	pthread_mutex_unlock(&vm->lock);
}

void zsi_run_put_addr(struct zs_vm *vm, const char *addr, uint32_t pages)
{
	pthread_mutex_lock(&vm->lock);
	for (uint32_t a = 0; a < vm->nr_arenas; a++) {
		const char *base = vm->arena[a];

		if (addr >= base && addr < base + (ZS_ARENA_PAGES << ZS_PAGE_SHIFT)) {
			uint32_t page =
			    (a << ZS_ARENA_SHIFT) + (uint32_t)((addr - base) >> ZS_PAGE_SHIFT);
			run_push(vm, &vm->free_runs[pages], page);
			break;
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

/* ---- zspage ids: lowest free first, so live ids stay dense ---- */

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

uint32_t zsi_id_lowest_free(struct zs_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	uint32_t id = find_free_id(vm);
	pthread_mutex_unlock(&vm->lock);
	return id;
}

uint32_t zsi_id_get(struct zs_vm *vm, uint32_t below)
{
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

void zsi_id_put(struct zs_vm *vm, uint32_t id)
{
	pthread_mutex_lock(&vm->lock);
	vm->id_bits[id >> 6] &= ~(1ULL << (id & 63));
	if (id < vm->id_low)
		vm->id_low = id;
	pthread_mutex_unlock(&vm->lock);
}

/*
 * Called by compaction after renumbering (zspages then sit at the lowest ids).  Under the lock,
 * so no id at or above the new top is handed out while its descriptor page is released.
 */
unsigned long zsi_ids_shrink(struct zs_vm *vm)
{
	unsigned long released = 0;

	pthread_mutex_lock(&vm->lock);
	uint32_t top = vm->id_top;
	while (top > 1 && !(vm->id_bits[(top - 1) >> 6] >> ((top - 1) & 63) & 1))
		top--;
	size_t keep = zs_page_round((size_t)top * ZS_DESC_BYTES);
	size_t had = zs_page_round((size_t)vm->id_top * ZS_DESC_BYTES);
	if (had > keep) {
		zsi_os_release((char *)vm->desc + keep, had - keep);
		released = had - keep;
	}
	vm->id_top = top;
	pthread_mutex_unlock(&vm->lock);
	return released;
}

size_t zsi_vm_meta_bytes(struct zs_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	size_t ids = vm->id_top, runs = vm->run_bytes;
	pthread_mutex_unlock(&vm->lock);
	return zs_page_round(ids * ZS_DESC_BYTES) + zs_page_round((ids + 7) / 8) + runs;
}
