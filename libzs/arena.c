/*
 * arena.c - the pool's address space (arenas and runs of pages) and its zspage ids (the
 * descriptor table and its bitmap of ids in use).  See arena.h for the model.  Every function
 * but init and fini takes vm->lock, a leaf lock; callers may hold a class lock.  Nothing here
 * touches a page's contents or a descriptor's fields.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "os.h"

/* The id bitmap starts with room for 4096 ids and doubles as they grow. */
#define ID_WORDS_MIN 64
/* Descriptors on a page of the descriptor table. */
#define DESCS_PER_PAGE (ZS_PAGE_SIZE / ZS_DESC_BYTES)

int zsi_vm_init(struct zs_vm *vm)
{
	vm->id_bits = calloc(ID_WORDS_MIN, sizeof(*vm->id_bits));
	if (!vm->id_bits)
		return -ENOMEM;
	vm->id_words = ID_WORDS_MIN;
	zsi_table_init(&vm->desc);
	vm->desc.heap_pointers = true; /* ext_map */
	pthread_mutex_init(&vm->lock, NULL);
	vm->id_bits[0] = 1; /* id 0 means "none" */
	vm->id_top = 1;
	vm->id_low = 1;
	return 0;
}

void zsi_vm_fini(struct zs_vm *vm)
{
	for (unsigned int a = 0; a < vm->nr_arenas; a++)
		zsi_os_unreserve(vm->arena[a], arena_pages(a) << ZS_PAGE_SHIFT);
	for (int p = 0; p <= ZS_MAX_PAGES_PER_ZSPAGE; p++)
		free(vm->free_runs[p].v);
	zsi_table_fini(&vm->desc, ZS_MAX_ZSPAGES, ZS_DESC_SHIFT, ZS_DESC_FIRST_SHIFT);
	free(vm->id_bits);
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

/* ---- resident runs (arena.h): a list of at most ZS_RESIDENT_RUNS, oldest first ---- */

static void resident_del(struct zs_vm *vm, uint32_t i)
{
	zs_store_relaxed(&vm->resident_pages,
			 zs_load_relaxed(&vm->resident_pages) - vm->resident[i].resident);
	vm->nr_resident--;
	memmove(&vm->resident[i], &vm->resident[i + 1],
		(vm->nr_resident - i) * sizeof(vm->resident[0]));
}

/* Append @r as the newest; caller made room. */
static void resident_add(struct zs_vm *vm, struct resident_run r)
{
	vm->resident[vm->nr_resident++] = r;
	zs_store_relaxed(&vm->resident_pages, zs_load_relaxed(&vm->resident_pages) + r.resident);
}

/*
 * The newest resident run of exactly @pages pages, taken off the list into *@out; false if there
 * is none.  Runs are never split or merged, here or among the free runs: a long-lived pool whose
 * zspage lengths change would otherwise cut its address space into short runs nobody takes.
 */
static bool take_resident(struct zs_vm *vm, uint32_t pages, struct resident_run *out)
{
	for (uint32_t i = vm->nr_resident; i-- > 0;) {
		if (vm->resident[i].pages == pages) {
			*out = vm->resident[i];
			resident_del(vm, i);
			return true;
		}
	}
	return false;
}

uint32_t zsi_run_get(struct zs_vm *vm, uint32_t pages, uint32_t *resident)
{
	struct run_stack *st = &vm->free_runs[pages];
	struct resident_run r;
	uint32_t page = ZS_NO_PAGE;

	*resident = 0;
	pthread_mutex_lock(&vm->lock);
	vm->demand += pages;
	if (take_resident(vm, pages, &r)) {
		*resident = r.resident;
		page = r.page;
		goto out;
	}
	if (st->n) {
		page = st->v[--st->n];
		goto out;
	}
	if (!vm->nr_arenas || vm->bump + pages > arena_pages(vm->nr_arenas - 1)) {
		if (vm->nr_arenas == ZS_MAX_ARENAS)
			goto out;
		char *a = zsi_os_reserve(arena_pages(vm->nr_arenas) << ZS_PAGE_SHIFT);
		if (!a)
			goto out;
		/* What is left of the old arena (less than a zspage) is a free run of its own. */
		if (vm->nr_arenas && vm->bump < arena_pages(vm->nr_arenas - 1))
			run_push(vm, &vm->free_runs[arena_pages(vm->nr_arenas - 1) - vm->bump],
				 ((vm->nr_arenas - 1) << ZS_ARENA_SHIFT) + (uint32_t)vm->bump);
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

static int by_page(const void *a, const void *b)
{
	uint32_t x = ((const struct resident_run *)a)->page,
		 y = ((const struct resident_run *)b)->page;

	return (x > y) - (x < y);
}

/*
 * Give back @n resident runs taken off the list (so no one else can hand them out meanwhile):
 * called without the lock, which is taken only to file the runs as free afterwards.  Sorted by
 * address, a run that is resident to its end and its neighbour go in one madvise call.
 */
static unsigned long release_runs(struct zs_vm *vm, struct resident_run *r, uint32_t n)
{
	unsigned long released = 0;
	struct zs_release_batch batch;

	zsi_release_batch_init(&batch);
	qsort(r, n, sizeof(*r), by_page);
	for (uint32_t i = 0; i < n;) {
		uint32_t first = r[i].page, end = r[i].page + r[i].resident, j = i + 1;

		while (j < n && r[j - 1].resident == r[j - 1].pages &&
		       r[j].page == r[j - 1].page + r[j - 1].pages &&
		       r[j].page >> ZS_ARENA_SHIFT == first >> ZS_ARENA_SHIFT) {
			end = r[j].page + r[j].resident;
			j++;
		}
		zsi_os_release_later(&batch, page_addr(vm, first),
				     (size_t)(end - first) << ZS_PAGE_SHIFT);
		for (; i < j; i++)
			released += r[i].resident;
	}
	/* Off every list until pushed below: no one can take them while their release is pending.
	 */
	zsi_os_release_flush(&batch);
	pthread_mutex_lock(&vm->lock);
	for (uint32_t k = 0; k < n; k++)
		run_push(vm, &vm->free_runs[r[k].pages], r[k].page);
	pthread_mutex_unlock(&vm->lock);
	return released;
}

/* Take the oldest resident runs off the list into @out until they hold at most @target pages
 * and at most @max runs are left; returns how many were taken.  Caller holds the lock. */
static uint32_t take_oldest(struct zs_vm *vm, unsigned long target, uint32_t max,
			    struct resident_run *out)
{
	unsigned long left = zs_load_relaxed(&vm->resident_pages);
	uint32_t n = 0;

	while (n < vm->nr_resident && (left > target || vm->nr_resident - n > max)) {
		left -= vm->resident[n].resident;
		out[n] = vm->resident[n];
		n++;
	}
	vm->nr_resident -= n;
	memmove(vm->resident, vm->resident + n, vm->nr_resident * sizeof(vm->resident[0]));
	zs_store_relaxed(&vm->resident_pages, left);
	return n;
}

unsigned long zsi_run_put_resident(struct zs_vm *vm, uint32_t page, uint32_t pages,
				   uint32_t resident, unsigned long keep, unsigned long slack)
{
	struct resident_run out[ZS_RESIDENT_RUNS + 1];
	uint32_t n = 0;

	pthread_mutex_lock(&vm->lock);
	vm->demand -= vm->demand >> ZS_RESIDENT_DECAY;
	if (keep > vm->demand)
		keep = vm->demand;
	if (!resident) {
		run_push(vm, &vm->free_runs[pages], page);
	} else {
		struct resident_run r = {page, (uint8_t)pages, (uint8_t)resident};

		/* The newest goes in last, so it is the last to go; a full list drops its oldest
		 * half, together. */
		if (vm->nr_resident == ZS_RESIDENT_RUNS)
			n = take_oldest(vm, ULONG_MAX, ZS_RESIDENT_RUNS / 2, out);
		resident_add(vm, r);
	}
	if (zs_load_relaxed(&vm->resident_pages) > keep + slack)
		n += take_oldest(vm, keep / 2, ZS_RESIDENT_RUNS, out + n);
	pthread_mutex_unlock(&vm->lock);
	return n ? release_runs(vm, out, n) : 0;
}

unsigned long zsi_resident_release(struct zs_vm *vm)
{
	struct resident_run out[ZS_RESIDENT_RUNS];

	pthread_mutex_lock(&vm->lock);
	uint32_t n = take_oldest(vm, 0, 0, out);
	pthread_mutex_unlock(&vm->lock);
	return n ? release_runs(vm, out, n) : 0;
}

/* ---- zspage ids: lowest free first, so live ids stay dense ---- */

/* The lowest free id, the bitmap grown if every id it covers is in use; 0 if none is left. */
static uint32_t find_free_id(struct zs_vm *vm)
{
	for (uint32_t w = vm->id_low >> 6;; w++) {
		if (w == vm->id_words) {
			uint32_t words = vm->id_words * 2;
			uint64_t *bits;

			if ((uint64_t)w << 6 >= ZS_MAX_ZSPAGES ||
			    !(bits = realloc(vm->id_bits, words * sizeof(*bits))))
				return 0;
			memset(bits + w, 0, (words - w) * sizeof(*bits));
			vm->id_bits = bits;
			vm->id_words = words;
		}
		if (~vm->id_bits[w]) {
			uint32_t id = (w << 6) + __builtin_ctzll(~vm->id_bits[w]);
			vm->id_low = id;
			return id < ZS_MAX_ZSPAGES ? id : 0;
		}
	}
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
	/* The descriptor must exist before anyone is given its id. */
	if (id && id < below &&
	    !zsi_table_grow(&vm->desc, id + 1, ZS_MAX_ZSPAGES, ZS_DESC_SHIFT,
			    ZS_DESC_FIRST_SHIFT)) {
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
	/* No id at or past the old top is in use either: the page that holds the old top's
	 * descriptor goes too, else it stays resident while meta_bytes no longer counts it. */
	uint32_t end = (vm->id_top + DESCS_PER_PAGE - 1) & ~(DESCS_PER_PAGE - 1);
	released = zsi_table_release(&vm->desc, top, end, ZS_DESC_SHIFT, ZS_DESC_FIRST_SHIFT);
	vm->id_top = top;
	pthread_mutex_unlock(&vm->lock);
	return released;
}

size_t zsi_vm_meta_bytes(struct zs_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	size_t ids = vm->id_top, runs = vm->run_bytes, bits = vm->id_words * sizeof(uint64_t);
	pthread_mutex_unlock(&vm->lock);
	return zs_page_round(ids * ZS_DESC_BYTES) + bits + runs;
}

size_t zsi_vm_reserved(struct zs_vm *vm)
{
	size_t bytes = 0;

	pthread_mutex_lock(&vm->lock);
	for (unsigned int a = 0; a < vm->nr_arenas; a++)
		bytes += arena_pages(a) << ZS_PAGE_SHIFT;
	bytes += vm->desc.reserved;
	pthread_mutex_unlock(&vm->lock);
	return bytes;
}
