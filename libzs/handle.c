/*
 * handle.c - the handle table: the indirection that lets compaction move objects while the
 * handles users hold stay valid, and that rejects stale or foreign handles (entry layout in
 * handle.h).
 *
 * The table grows in chunks that never move (table.h), ahead of top, so lock-free readers may
 * load any entry below top and a small pool reserves little address space.  Free indexes are
 * bits of a bitmap (its own chunked table, t->lock), and each class keeps a magazine of up to
 * ZS_MAG_SIZE of them under its own lock, so allocation and free in the common case touch no
 * shared lock.  A refill takes the lowest free indexes, so the live ones stay dense at the bottom
 * and a shrinking pool empties whole pages of entries at the top, which compaction gives back
 * (zsi_handles_shrink).  Generations: an entry keeps its generation while free; the next owner
 * gets the next one, so a freed handle no longer matches even after its index is reused; a page
 * given back remembers a generation above all its entries had, and its entries take it when the
 * page is first used again.
 *
 * Pool tags: every live pool has its own, so a handle of one pool never names an object of
 * another.  Tags start at a random point, so handles differ between runs too.
 *
 * Locks: zsi_handle_get/zsi_handle_put run under the class lock of the magazine and take
 * t->lock (after it, in the documented order); handle_lookup (handle.h) takes none.  This file
 * knows nothing of zspages: an entry's place is the caller's business.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
	zsi_table_init(&t->free_bits);
	pthread_mutex_init(&t->lock, NULL);
	zs_store_relaxed(&t->top, 1); /* index 0 is never issued */
	t->free_low = 0;
	t->free_words = 0;
	t->gen_floor = NULL;
	t->floor_cap = 0;
	zs_store_relaxed(&t->released, 0);
	return 0;
}

void zsi_handles_fini(struct zs_handles *t)
{
	pthread_mutex_destroy(&t->lock);
	zsi_table_fini(&t->tab, ZS_MAX_HANDLES, HT_ENTRY_SHIFT, HT_FIRST_SHIFT);
	zsi_table_fini(&t->free_bits, ZS_MAX_HANDLES / 64, HF_WORD_SHIFT, HF_FIRST_SHIFT);
	free(t->gen_floor);
	tag_put(t->tag);
}

static inline _Atomic uint64_t *free_word(struct zs_handles *t, uint32_t w)
{
	return table_at(&t->free_bits, w, HF_WORD_SHIFT, HF_FIRST_SHIFT);
}

static inline void free_bit_set(struct zs_handles *t, uint32_t idx)
{
	_Atomic uint64_t *w = free_word(t, idx >> 6);

	zs_store_relaxed(w, zs_load_relaxed(w) | 1ULL << (idx & 63));
	if (idx >> 6 < t->free_low)
		t->free_low = idx >> 6;
}

/*
 * The lowest free index, taken off the bitmap; 0 if none.  Lowest first keeps the live indexes
 * dense at the bottom of the table, so that its upper pages empty and can be given back.
 */
static uint32_t take_lowest_free(struct zs_handles *t)
{
	for (uint32_t w = t->free_low; w < t->free_words; w++) {
		_Atomic uint64_t *word = free_word(t, w);
		uint64_t bits = zs_load_relaxed(word);

		if (bits) {
			t->free_low = w;
			zs_store_relaxed(word, bits & (bits - 1));
			return (w << 6) + (uint32_t)__builtin_ctzll(bits);
		}
	}
	t->free_low = t->free_words;
	return 0;
}

/* Index @idx leaves the table: if its page was given back, the page's entries come back as
 * free entries of the page's floor generation (the next owner gets one above it). */
static void unrelease_page_of(struct zs_handles *t, uint32_t idx)
{
	uint32_t p = idx >> HT_PAGE_SHIFT;

	if (p >= t->floor_cap || !t->gen_floor[p])
		return;
	uint64_t e = he_make_free(t->gen_floor[p] - 1U, 0);
	for (uint32_t i = p << HT_PAGE_SHIFT; i < (p + 1) << HT_PAGE_SHIFT; i++)
		zs_store_relaxed(handle_entry(t, i), e);
	t->gen_floor[p] = 0;
	zs_store_relaxed(&t->released, zs_load_relaxed(&t->released) - 1);
}

/* A fresh index from top, the table and its bitmap grown to hold it; 0 when they cannot. */
static uint32_t take_fresh(struct zs_handles *t)
{
	uint32_t idx = zs_load_relaxed(&t->top);

	if (idx >= ZS_MAX_HANDLES ||
	    zsi_table_grow(&t->tab, idx + 1, ZS_MAX_HANDLES, HT_ENTRY_SHIFT, HT_FIRST_SHIFT))
		return 0;
	if ((idx >> 6) + 1 > t->free_words) {
		if (zsi_table_grow(&t->free_bits, (idx >> 6) + 1, ZS_MAX_HANDLES / 64,
				   HF_WORD_SHIFT, HF_FIRST_SHIFT))
			return 0;
		t->free_words = (idx >> 6) + 1; /* a fresh word reads as zero: nothing free */
	}
	/* A fresh entry reads as zero: free, generation 0. */
	zs_store_release(&t->top, idx + 1);
	return idx;
}

/* Fill an empty magazine with ZS_MAG_REFILL indexes: free ones first, then fresh ones. */
static void refill_magazine(struct zs_handles *t, struct zs_magazine *mag)
{
	pthread_mutex_lock(&t->lock);
	while (mag->n < ZS_MAG_REFILL) {
		uint32_t idx = take_lowest_free(t);

		if (idx)
			unrelease_page_of(t, idx);
		else if (!(idx = take_fresh(t)))
			break;
		mag->idx[mag->n++] = idx;
	}
	pthread_mutex_unlock(&t->lock);
}

/* Move the upper half of a full magazine back to the table. */
static void drain_magazine(struct zs_handles *t, struct zs_magazine *mag)
{
	pthread_mutex_lock(&t->lock);
	while (mag->n > ZS_MAG_SIZE / 2)
		free_bit_set(t, mag->idx[--mag->n]);
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

/* Room in gen_floor for page @p; false if the heap refuses (the page is then kept). */
static bool floor_room(struct zs_handles *t, uint32_t p)
{
	if (p < t->floor_cap)
		return true;
	uint32_t cap = t->floor_cap ? t->floor_cap : 16;
	while (cap <= p)
		cap *= 2;
	uint16_t *f = realloc(t->gen_floor, cap * sizeof(*f));
	if (!f)
		return false;
	memset(f + t->floor_cap, 0, (cap - t->floor_cap) * sizeof(*f));
	t->gen_floor = f;
	t->floor_cap = cap;
	return true;
}

size_t zsi_handles_shrink(struct zs_handles *t)
{
	const uint32_t words = 1U << (HT_PAGE_SHIFT - 6); /* bitmap words per page of entries */
	size_t released = 0;

	pthread_mutex_lock(&t->lock);
	/* Page 0 holds index 0, which is never free; the page that holds top is never all free. */
	for (uint32_t p = 1; (p + 1) * words <= t->free_words; p++) {
		uint32_t w = p * words, k = 0;

		while (k < words && !~zs_load_relaxed(free_word(t, w + k)))
			k++;
		if (k < words || (p < t->floor_cap && t->gen_floor[p]) || !floor_room(t, p))
			continue;
		/* Every index of the page is free: its highest generation, plus one, is a floor
		 * no stale handle of the page reaches (a spent generation retires its index, and
		 * retired indexes are never free here). */
		uint32_t top_gen = 0, first = p << HT_PAGE_SHIFT;
		for (uint32_t i = first; i < first + (1U << HT_PAGE_SHIFT); i++) {
			uint32_t g = he_gen(zs_load_relaxed(handle_entry(t, i)));
			if (g > top_gen)
				top_gen = g;
		}
		/* Every index of the page comes back at the floor: a page with an old index would
		 * spend the generations of all 511 others (one hot index would retire its page).
		 * Only pages below half the generations go, so an index still has half of them
		 * for its own reuses, whatever its neighbours did. */
		if (top_gen >= HT_RELEASE_GEN_MAX)
			continue;
		size_t got = zsi_table_release(&t->tab, first, first + (1U << HT_PAGE_SHIFT),
					       HT_ENTRY_SHIFT, HT_FIRST_SHIFT);
		if (!got)
			continue;
		t->gen_floor[p] = (uint16_t)(top_gen + 1);
		zs_store_relaxed(&t->released, zs_load_relaxed(&t->released) + 1);
		released += got;
	}
	pthread_mutex_unlock(&t->lock);
	return released;
}

/* Every entry ever handed out stays resident, but for the pages given back; the bitmap is
 * resident as far as top's word, the floors are heap. */
unsigned long zsi_handles_bytes(struct zs_handles *t)
{
	size_t top = zs_load_relaxed(&t->top);
	size_t entries = zs_page_round(top * sizeof(uint64_t));
	size_t gone = (size_t)zs_load_relaxed(&t->released) << ZS_PAGE_SHIFT;

	pthread_mutex_lock(&t->lock);
	size_t floors = t->floor_cap * sizeof(*t->gen_floor);
	pthread_mutex_unlock(&t->lock);
	return entries - gone + zs_page_round((top + 63) / 64 * sizeof(uint64_t)) + floors;
}

size_t zsi_handles_reserved(struct zs_handles *t)
{
	pthread_mutex_lock(&t->lock);
	size_t bytes = t->tab.reserved + t->free_bits.reserved;
	pthread_mutex_unlock(&t->lock);
	return bytes;
}
