/*
 * handle.c - the handle table: the indirection that lets compaction move objects while the
 * handles users hold stay valid, and that rejects stale or foreign handles (entry layout in
 * handle.h).
 *
 * The table grows in chunks that never move (table.h), ahead of top, so lock-free readers may
 * load any entry below top and a small pool reserves little address space.  Free indexes live on a
 * global list threaded through the free entries (t->lock), and each class keeps a magazine of up to
 * ZS_MAG_SIZE of them under its own lock, so allocation and free in the common case touch no shared
 * lock.  Generations: an entry keeps its generation while free; the next owner gets the next one,
 * so a freed handle no longer matches even after its index is reused.
 *
 * Pool tags: every live pool has its own, so a handle of one pool never names an object of
 * another.  Tags start at a random point, so handles differ between runs too.
 *
 * Locks: zsi_handle_get/zsi_handle_put run under the class lock of the magazine and take
 * t->lock (after it, in the documented order); handle_lookup (handle.h) takes none.  This file
 * knows nothing of zspages: an entry's place is the caller's business.
 */
#include <errno.h>
#include <time.h>

#include "handle.h"
#include "os.h"

/* ---- pool tags ---- */

static pthread_mutex_t tag_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t tags_in_use[65536 / 64];

/* A tag no other live pool has; 0 when 65535 pools are alive. */
static uint16_t tag_get(void)
{
	struct timespec ts;
	uint32_t x, tag = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = (uint32_t)ts.tv_nsec * 0x9e3779b1u ^ (uint32_t)(uintptr_t)&ts;
	pthread_mutex_lock(&tag_lock);
	for (uint32_t i = 0; i < 65535; i++) {
		uint32_t t = (x + i) % 65535 + 1; /* tag 0 is never used */
		if (!(tags_in_use[t >> 6] >> (t & 63) & 1)) {
			tags_in_use[t >> 6] |= 1ULL << (t & 63);
			tag = t;
			break;
		}
	}
	pthread_mutex_unlock(&tag_lock);
	return (uint16_t)tag;
}

static void tag_put(uint16_t tag)
{
	pthread_mutex_lock(&tag_lock);
	tags_in_use[tag >> 6] &= ~(1ULL << (tag & 63));
	pthread_mutex_unlock(&tag_lock);
}

/* ---- the table ---- */

int zsi_handles_init(struct zs_handles *t)
{
	t->tag = tag_get();
	if (!t->tag)
		return -ENOMEM;
	zsi_table_init(&t->tab);
	pthread_mutex_init(&t->lock, NULL);
	zs_store_relaxed(&t->top, 1); /* index 0 is never issued */
	t->free_head = 0;
	return 0;
}

void zsi_handles_fini(struct zs_handles *t)
{
	pthread_mutex_destroy(&t->lock);
	zsi_table_fini(&t->tab, ZS_MAX_HANDLES, HT_ENTRY_SHIFT, HT_FIRST_SHIFT);
	tag_put(t->tag);
}

/* Fill an empty magazine with ZS_MAG_REFILL indexes: free ones first, then fresh ones. */
static void refill_magazine(struct zs_handles *t, struct zs_magazine *mag)
{
	pthread_mutex_lock(&t->lock);
	while (mag->n < ZS_MAG_REFILL) {
		uint32_t idx = t->free_head;

		if (idx) {
			t->free_head = he_next(zs_load_relaxed(handle_entry(t, idx)));
		} else {
			idx = zs_load_relaxed(&t->top);
			if (idx >= ZS_MAX_HANDLES ||
			    zsi_table_grow(&t->tab, idx + 1, ZS_MAX_HANDLES, HT_ENTRY_SHIFT,
					   HT_FIRST_SHIFT))
				break;
			/* A fresh entry reads as zero: free, generation 0. */
			zs_store_release(&t->top, idx + 1);
		}
		mag->idx[mag->n++] = idx;
	}
	pthread_mutex_unlock(&t->lock);
}

/* Move the upper half of a full magazine onto the global free list. */
static void drain_magazine(struct zs_handles *t, struct zs_magazine *mag)
{
	pthread_mutex_lock(&t->lock);
	while (mag->n > ZS_MAG_SIZE / 2) {
		uint32_t idx = mag->idx[--mag->n];
		_Atomic uint64_t *ent = handle_entry(t, idx);

		zs_store_relaxed(ent, he_make_free(he_gen(zs_load_relaxed(ent)), t->free_head));
		t->free_head = idx;
	}
	pthread_mutex_unlock(&t->lock);
}

bool zsi_handle_get(struct zs_handles *t, struct zs_magazine *mag, uint32_t *idx)
{
	if (!mag->n) {
		refill_magazine(t, mag);
		if (!mag->n)
			return false;
	}
	*idx = mag->idx[--mag->n];
	return true;
}

void zsi_handle_put(struct zs_handles *t, struct zs_magazine *mag, uint32_t idx)
{
	if (mag->n == ZS_MAG_SIZE)
		drain_magazine(t, mag);
	mag->idx[mag->n++] = idx;
}

/* Every entry ever handed out stays resident. */
unsigned long zsi_handles_bytes(struct zs_handles *t)
{
	size_t top = zs_load_relaxed(&t->top);

	return zs_page_round(top * sizeof(uint64_t));
}

size_t zsi_handles_reserved(struct zs_handles *t)
{
	pthread_mutex_lock(&t->lock);
	size_t bytes = t->tab.reserved;
	pthread_mutex_unlock(&t->lock);
	return bytes;
}
