/*
 * store.c - zcache's index: where each key's value lives in the pool, which item is evicted
 * next, and how much memory the items are charged.
 *
 * An item is one 16-byte hash-table slot and one pool object, its "blob".  Everything that
 * describes the item besides what a lookup or an eviction must see without touching the pool
 * lives in the blob, packed ahead of the encoded value:
 *
 *   blob: [key length: 1][key][bits: 1][dict: 1 if zstd_dict][raw length: varint, unless
 *         raw or hex][client flags: varint, if not 0][cas: varint][expiry: 4, if any][payload]
 *
 *   slot: [handle: 8][key hash: 4][last access tick: 28 bits | SLOT_* flags: 4 bits]
 *
 * A lookup compares the 32-bit hash in the slot first and reads the key from the pool only on
 * a match (a false match costs one pool read in 2^32 / (slots per home) probes).  Blobs larger
 * than ZS_MAX_ALLOC_SIZE are split into 4 KiB chunks listed by an index object that starts with
 * the blob's length (SLOT_CHAINED).
 *
 * The tables are open-addressed with Robin Hood probing, at a load factor kept between 0.83
 * and 15/16 as it grows (see LOAD_MAX): 17 to 19 bytes of index per item.  A slot's home is the
 * hash scaled to the table size, so a table may have any size and grows by an eighth at a time.
 * Nothing keeps an LRU list: eviction takes the least recently used of EVICT_SAMPLE occupied
 * slots after a moving hand, the slots being in hash order, i.e. in no order of age.
 *
 * The index is split into NR_SHARDS shards by the top bits of the key hash; each has its own
 * lock, table and counters.  The memory limit is global: a store that takes the charged total
 * over it evicts, first from its own shard, then from the others in turn (or, with -M, is
 * refused).
 *
 * Lock order: one shard lock at a time; under it the pool's own locks and the dictionary
 * table lock of codec.c (through zc_dict_get/zc_dict_put) may be taken.  This file does not
 * compress, decompress or touch sockets.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <zs/zsmalloc.h>

#include "zcache.h"

/* 64 shards keep two-to-sixteen workers off each other's locks with little fixed memory. */
#define NR_SHARDS   64
#define SHARD_SHIFT 58
/* 256 slots of 16 bytes, a page: 256 KiB for an empty cache's 64 shards. */
#define MIN_SLOTS 256
/*
 * Load factor: grow by an eighth past 15/16, so right after growing 0.83; shrink below 3/8.
 * Index bytes per item are 16 / load: 17.1 at 15/16, 19.2 at 0.83.  Robin Hood probing keeps
 * lookups short that full: the mean probe length of a hit is about 1 + load / (2 (1 - load)),
 * 8.5 slots at 15/16 and 3.5 at 0.83, consecutive 16-byte slots (two or three cache lines);
 * the 32-bit hash in the slot spares the pool all but the matching one; and a miss stops as
 * soon as it meets a slot closer to its home than itself.  Growing by an eighth rehashes each
 * item 8 times per doubling of the cache, amortised: a store costs about 8 slot moves more.
 */
#define LOAD_MAX_NUM 15
#define LOAD_MAX_DEN 16
#define LOAD_MIN_NUM 3
#define LOAD_MIN_DEN 8
/* Slots an eviction compares: the oldest of 16 random items is older than 94% of the cache's
 * items on average (1 - 1/17), at the cost of reading 256 consecutive bytes. */
#define EVICT_SAMPLE 16

#define CHUNK ZS_MAX_ALLOC_SIZE
/* A chained blob's index object: its length, then its chunks' handles. */
#define MAX_CHUNKS    ((ZS_MAX_ALLOC_SIZE - sizeof(uint64_t)) / sizeof(unsigned long))
#define BLOB_HEAD_MAX (1 + ZC_KEY_MAX + 1 + 1 + 5 + 5 + 10 + 4)

#define SLOT_CHAINED   0x1u /* the handle names a chunk index */
#define SLOT_HIT       0x2u /* fetched since it was stored (meta "h") */
#define SLOT_STALE     0x4u /* invalidated by a meta delete or set with I (X) */
#define SLOT_TOKEN     0x8u /* a client was handed the recache token (W, then Z) */
#define SLOT_FLAG_BITS 4
/* Access times in 1/16 s: 28 bits last 194 days before wrapping, and a set rate of even a
 * million items a second leaves 60000 items per tick, few against a cache's millions. */
#define TICKS_PER_SEC 16
#define TICK_MASK     ((1u << (32 - SLOT_FLAG_BITS)) - 1)

/* The blob's bits byte. */
#define HB_CODEC_MASK 0x07u
#define HB_FLAGS      0x08u /* client flags follow */
#define HB_EXPTIME    0x10u /* an expiry follows */
#define HB_KEY_BINARY 0x20u

struct slot {
	unsigned long handle; /* 0: empty */
	uint32_t hash;
	uint32_t meta; /* access tick << SLOT_FLAG_BITS | SLOT_* */
};

struct shard {
	pthread_mutex_t lock;
	struct slot *slots;
	uint32_t nslots, count, hand;
	unsigned long bytes, orig_bytes, blob_bytes;
	unsigned long total_items, evictions, evicted_unfetched, evicted_nonzero, evicted_time;
	unsigned long expired, expired_unfetched;
	unsigned long get_expired;
	unsigned long by_codec[ZC_NR_CODECS];
} __attribute__((aligned(64)));

/* A blob's header, decoded. */
struct head {
	uint8_t klen, bits, codec, dict;
	uint32_t rawlen, flags, exptime;
	uint64_t cas;
	size_t len; /* header bytes, where the payload starts */
};

static struct shard shards[NR_SHARDS];
static struct zs_pool *pool;
static unsigned long limit;
static bool no_evict;
static atomic_long charged;
static atomic_ullong next_cas = 1;
static atomic_ulong store_no_memory; /* stores refused for memory, any shard */
static struct timespec started;

uint32_t zc_now(void)
{
	return (uint32_t)time(NULL);
}

static uint32_t now_tick(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)((ts.tv_sec - started.tv_sec) * TICKS_PER_SEC +
			  ts.tv_nsec / (1000000000 / TICKS_PER_SEC)) &
	       TICK_MASK;
}

static uint32_t slot_tick(const struct slot *sl)
{
	return sl->meta >> SLOT_FLAG_BITS;
}

static uint32_t slot_age(const struct slot *sl, uint32_t now)
{
	return (now - slot_tick(sl)) & TICK_MASK;
}

static void slot_touch(struct slot *sl, uint32_t now, unsigned int set_flags)
{
	sl->meta = now << SLOT_FLAG_BITS | ((sl->meta | set_flags) & ((1u << SLOT_FLAG_BITS) - 1));
}

/* A 64-bit multiply-xorshift hash of the key, 8 bytes at a time. */
static uint64_t key_hash(const char *key, size_t len)
{
	const uint64_t m = 0x9fb21c651e98df25ull;
	uint64_t h = 0x243f6a8885a308d3ull ^ (len * m);
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, key + i, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	if (i < len) {
		uint64_t w = 0;

		memcpy(&w, key + i, len - i);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	h *= m;
	return h ^ (h >> 32);
}

/* ---- the blob header ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t get_varint(const uint8_t *p, size_t avail, uint64_t *v)
{
	uint64_t r = 0;

	for (size_t n = 0; n < avail && n < 10; n++) {
		r |= (uint64_t)(p[n] & 0x7f) << (7 * n);
		if (!(p[n] & 0x80)) {
			*v = r;
			return n + 1;
		}
	}
	return 0;
}

/* Raw values are their payload, hex ones twice it: their length needs no field. */
static bool rawlen_implied(uint8_t codec)
{
	return codec == ZC_RAW || codec == ZC_HEX || codec == ZC_HEX_UPPER;
}

/* The raw length of an implied-length value whose blob is @bloblen bytes. */
static void head_fill_rawlen(struct head *h, size_t bloblen)
{
	if (rawlen_implied(h->codec))
		h->rawlen = (uint32_t)((bloblen - h->len) * (h->codec == ZC_RAW ? 1 : 2));
}

/* Encode @h's fields after @key into @out (BLOB_HEAD_MAX bytes); sets and returns h->len. */
static size_t head_encode(uint8_t *out, const char *key, size_t klen, struct head *h)
{
	size_t n = 0;

	h->bits = (uint8_t)((h->bits & HB_KEY_BINARY) | (h->codec & HB_CODEC_MASK) |
			    (h->flags ? HB_FLAGS : 0) | (h->exptime ? HB_EXPTIME : 0));
	out[n++] = (uint8_t)klen;
	memcpy(out + n, key, klen);
	n += klen;
	out[n++] = h->bits;
	if (h->codec == ZC_ZSTD_DICT)
		out[n++] = h->dict;
	if (!rawlen_implied(h->codec))
		n += put_varint(out + n, h->rawlen);
	if (h->flags)
		n += put_varint(out + n, h->flags);
	n += put_varint(out + n, h->cas);
	if (h->exptime) {
		memcpy(out + n, &h->exptime, 4);
		n += 4;
	}
	h->klen = (uint8_t)klen;
	h->len = n;
	return n;
}

/* Decode the header at @p (@avail bytes readable) of a blob of @total bytes; false if it is
 * not one. */
static bool head_decode(const uint8_t *p, size_t avail, size_t total, struct head *h)
{
	size_t n;
	uint64_t v;

	if (avail < 2 || (size_t)p[0] + 2 > avail)
		return false;
	h->klen = p[0];
	n = 1 + h->klen;
	h->bits = p[n++];
	h->codec = h->bits & HB_CODEC_MASK;
	h->dict = 0;
	if (h->codec == ZC_ZSTD_DICT) {
		if (n >= avail)
			return false;
		h->dict = p[n++];
	}
#define GET_VARINT(field)                                                                          \
	do {                                                                                       \
		size_t used_ = get_varint(p + n, avail - n, &v);                                   \
		if (!used_)                                                                        \
			return false;                                                              \
		n += used_;                                                                        \
		field = v;                                                                         \
	} while (0)
	h->rawlen = 0; /* implied ones are set from the payload's length by the caller */
	if (!rawlen_implied(h->codec))
		GET_VARINT(h->rawlen);
	h->flags = 0;
	if (h->bits & HB_FLAGS)
		GET_VARINT(h->flags);
	GET_VARINT(h->cas);
#undef GET_VARINT
	h->exptime = 0;
	if (h->bits & HB_EXPTIME) {
		if (n + 4 > avail)
			return false;
		memcpy(&h->exptime, p + n, 4);
		n += 4;
	}
	h->len = n;
	head_fill_rawlen(h, total);
	return true;
}

/* ---- blobs in the pool ---- */

/* A mapped view of a blob's first chunk, where its header is. */
struct view {
	unsigned long h; /* the object mapped */
	const uint8_t *p;
	size_t avail; /* bytes at p */
	size_t total; /* the blob's length */
};

static void view_begin(const struct slot *sl, struct view *v)
{
	if (!(sl->meta & SLOT_CHAINED)) {
		v->h = sl->handle;
		v->total = v->avail = zs_obj_size(pool, v->h);
	} else {
		const uint64_t *idx = zs_obj_read_begin(pool, sl->handle, NULL);

		v->total = idx[0];
		v->h = idx[1];
		zs_obj_read_end(pool, sl->handle, (void *)(uintptr_t)idx);
		v->avail = CHUNK;
	}
	v->p = zs_obj_read_begin(pool, v->h, NULL);
}

static void view_end(struct view *v)
{
	zs_obj_read_end(pool, v->h, (void *)(uintptr_t)v->p);
}

static size_t chunks_of(size_t len)
{
	return (len + CHUNK - 1) / CHUNK;
}

static void blob_free(unsigned long handle, bool chained)
{
	if (chained) {
		uint64_t *idx = zs_obj_read_begin(pool, handle, NULL);
		size_t n = chunks_of(idx[0]);

		for (size_t i = 0; i < n; i++)
			zs_free(pool, idx[1 + i]);
		zs_obj_read_end(pool, handle, idx);
	}
	zs_free(pool, handle);
}

/* Pool bytes of a blob of @len bytes: its objects, and the index of a chained one. */
static unsigned long blob_cost(size_t len)
{
	return len + (len > CHUNK ? (chunks_of(len) + 1) * sizeof(uint64_t) : 0);
}

/* Write @head then @payload into a new blob; returns its handle or 0 (errno ENOMEM/EFBIG). */
static unsigned long blob_write(const void *head, size_t hlen, const void *payload, size_t plen,
				bool *chained)
{
	size_t len = hlen + plen;
	uint64_t idx[1 + MAX_CHUNKS];
	size_t n = chunks_of(len), done = 0;
	unsigned long h;

	*chained = len > CHUNK;
	if (n > MAX_CHUNKS) {
		errno = EFBIG;
		return 0;
	}
	for (size_t i = 0; i < (*chained ? n : 1); i++) {
		size_t sz = *chained ? (i + 1 < n ? CHUNK : len - i * CHUNK) : len;
		uint8_t *dst;

		idx[1 + i] = zs_malloc(pool, sz);
		if (!idx[1 + i]) {
			while (i--)
				zs_free(pool, idx[1 + i]);
			return 0;
		}
		dst = zs_map_object(pool, idx[1 + i], ZS_MM_WO);
		for (size_t off = 0; off < sz;) {
			/* The piece of head or payload that lands at blob offset done + off. */
			size_t at = done + off, take;

			if (at < hlen) {
				take = hlen - at < sz - off ? hlen - at : sz - off;
				memcpy(dst + off, (const uint8_t *)head + at, take);
			} else {
				take = sz - off;
				memcpy(dst + off, (const uint8_t *)payload + (at - hlen), take);
			}
			off += take;
		}
		zs_unmap_object(pool, idx[1 + i]);
		done += sz;
	}
	if (!*chained)
		return idx[1];
	idx[0] = len;
	h = zs_malloc(pool, (n + 1) * sizeof(uint64_t));
	if (!h || zs_obj_write(pool, h, idx, (n + 1) * sizeof(uint64_t))) {
		for (size_t i = 0; i < n; i++)
			zs_free(pool, idx[1 + i]);
		if (h)
			zs_free(pool, h);
		return 0;
	}
	return h;
}

/* Copy @len bytes at offset @off of the slot's blob into @dst. */
static void blob_read(const struct slot *sl, size_t off, void *dst, size_t len)
{
	if (!(sl->meta & SLOT_CHAINED)) {
		const uint8_t *src = zs_obj_read_begin(pool, sl->handle, NULL);

		memcpy(dst, src + off, len);
		zs_obj_read_end(pool, sl->handle, (void *)(uintptr_t)src);
		return;
	}
	const uint64_t *idx = zs_obj_read_begin(pool, sl->handle, NULL);

	for (size_t done = 0; done < len;) {
		size_t at = off + done, c = at / CHUNK, in = at % CHUNK;
		size_t take = CHUNK - in < len - done ? CHUNK - in : len - done;
		const uint8_t *src = zs_obj_read_begin(pool, idx[1 + c], NULL);

		memcpy((uint8_t *)dst + done, src + in, take);
		zs_obj_read_end(pool, idx[1 + c], (void *)(uintptr_t)src);
		done += take;
	}
	zs_obj_read_end(pool, sl->handle, (void *)(uintptr_t)idx);
}

/* ---- the table ---- */

static struct shard *shard_of(uint64_t h)
{
	return &shards[h >> SHARD_SHIFT];
}

static uint32_t home_of(uint32_t hash, uint32_t n)
{
	return (uint32_t)(((uint64_t)hash * n) >> 32);
}

static uint32_t next_slot(const struct shard *s, uint32_t i)
{
	return i + 1 == s->nslots ? 0 : i + 1;
}

/* How far slot @i is from its entry's home. */
static uint32_t probe_dist(const struct shard *s, uint32_t i)
{
	uint32_t home = home_of(s->slots[i].hash, s->nslots);

	return i >= home ? i - home : i + s->nslots - home;
}

/* Place @e by Robin Hood: take the slot of the first entry nearer its home than @e is. */
static void table_put(struct shard *s, struct slot e)
{
	uint32_t i = home_of(e.hash, s->nslots), d = 0;

	for (;;) {
		struct slot *p = &s->slots[i];
		uint32_t pd;

		if (!p->handle) {
			*p = e;
			return;
		}
		pd = probe_dist(s, i);
		if (pd < d) {
			struct slot t = *p;

			*p = e;
			e = t;
			d = pd;
		}
		i = next_slot(s, i);
		d++;
	}
}

/* Empty slot @i, shifting the run after it back by one. */
static void table_del(struct shard *s, uint32_t i)
{
	for (;;) {
		uint32_t j = next_slot(s, i);

		if (!s->slots[j].handle || probe_dist(s, j) == 0)
			break;
		s->slots[i] = s->slots[j];
		i = j;
	}
	memset(&s->slots[i], 0, sizeof(s->slots[i]));
}

/* Tables come straight from mmap: replaced ones go back to the OS whole, where malloc would
 * keep them as free chunks between the heap's other blocks. */
static size_t table_bytes(uint32_t n)
{
	return ((size_t)n * sizeof(struct slot) + 4095) & ~(size_t)4095;
}

static struct slot *table_alloc(uint32_t n)
{
	void *p =
	    mmap(NULL, table_bytes(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void table_free(struct slot *t, uint32_t n)
{
	if (t)
		munmap(t, table_bytes(n));
}

/* Rebuild the table with @n slots; keeps the old one if memory is short. */
static void table_resize(struct shard *s, uint32_t n)
{
	struct slot *old = s->slots;
	uint32_t on = s->nslots;

	if (n < MIN_SLOTS)
		n = MIN_SLOTS;
	if (n == on || n <= s->count)
		return;
	s->slots = table_alloc(n);
	if (!s->slots) {
		s->slots = old;
		return; /* longer probes, still correct while a slot is free */
	}
	s->nslots = n;
	for (uint32_t i = 0; i < on; i++)
		if (old[i].handle)
			table_put(s, old[i]);
	table_free(old, on);
	s->hand = 0;
}

static void table_fit(struct shard *s)
{
	uint64_t n = s->nslots;

	if ((uint64_t)s->count * LOAD_MAX_DEN > n * LOAD_MAX_NUM)
		table_resize(s, (uint32_t)(n + n / 8 > UINT32_MAX / 2 ? n : n + n / 8));
	else if (n > MIN_SLOTS && (uint64_t)s->count * LOAD_MIN_DEN < n * LOAD_MIN_NUM)
		/* Back to the middle of the band, so a few stores do not grow it again. */
		table_resize(s, (uint32_t)((uint64_t)s->count * 8 / 6 + 1));
}

/* ---- items ---- */

static unsigned long item_charge(size_t bloblen)
{
	return blob_cost(bloblen) + sizeof(struct slot);
}

static void account(struct shard *s, const struct head *h, size_t bloblen, int sign)
{
	long c = (long)item_charge(bloblen) * sign;

	s->count += sign;
	s->bytes += (unsigned long)c;
	s->blob_bytes += (unsigned long)((long)blob_cost(bloblen) * sign);
	s->orig_bytes += (unsigned long)((long)h->rawlen * sign);
	s->by_codec[h->codec] += (unsigned long)sign;
	atomic_fetch_add(&charged, c);
}

/* Take the item in slot @i out of the table and free its blob; returns its expiry. */
static uint32_t item_remove(struct shard *s, uint32_t i)
{
	struct slot *sl = &s->slots[i];
	struct view v;
	struct head h;

	view_begin(sl, &v);
	if (!head_decode(v.p, v.avail, v.total, &h))
		memset(&h, 0, sizeof(h)); /* never: the blobs are ours */
	view_end(&v);
	account(s, &h, v.total, -1);
	blob_free(sl->handle, sl->meta & SLOT_CHAINED);
	zc_dict_put(h.dict);
	table_del(s, i);
	return h.exptime;
}

static bool expired(uint32_t exptime, uint32_t now)
{
	return exptime && exptime <= now;
}

/*
 * Find @key (hash @h); returns its slot with *@hd its header and *@bloblen its length, or -1.
 * An expired item found on the way is removed (and counted) as memcached does lazily, and is a
 * miss; @is_get counts it as a fetch that found its item expired.
 */
static long lookup(struct shard *s, uint64_t h, const char *key, size_t klen, struct head *hd,
		   size_t *bloblen, bool is_get)
{
	uint32_t hash = (uint32_t)h, i = home_of(hash, s->nslots);

	for (uint32_t d = 0; d <= s->nslots; d++, i = next_slot(s, i)) {
		struct slot *sl = &s->slots[i];
		struct view v;
		bool match;

		if (!sl->handle || probe_dist(s, i) < d)
			return -1;
		if (sl->hash != hash)
			continue;
		view_begin(sl, &v);
		match = v.p[0] == klen && klen + 1 <= v.avail && !memcmp(v.p + 1, key, klen) &&
			head_decode(v.p, v.avail, v.total, hd);
		view_end(&v);
		if (!match)
			continue;
		if (expired(hd->exptime, zc_now())) {
			s->expired++;
			if (!(sl->meta & SLOT_HIT))
				s->expired_unfetched++;
			if (is_get)
				s->get_expired++;
			item_remove(s, i);
			table_fit(s);
			return -1;
		}
		*bloblen = v.total;
		return i;
	}
	return -1;
}

/* Give slot @i's blob the header @nh (same key): in place when its length is unchanged, else
 * into a new blob with the payload copied over.  Returns 0 or -ENOMEM. */
static int item_rewrite_head(struct shard *s, uint32_t i, const char *key, size_t klen,
			     const struct head *oh, struct head *nh, size_t bloblen)
{
	struct slot *sl = &s->slots[i];
	uint8_t buf[BLOB_HEAD_MAX];
	size_t plen = bloblen - oh->len;
	unsigned long h;
	bool chained;
	void *payload;

	head_encode(buf, key, klen, nh);
	if (nh->len == oh->len) {
		struct view v;

		view_begin(sl, &v);
		view_end(&v);
		/* The header is within the first chunk, which v.h names. */
		return zs_obj_write(pool, v.h, buf, nh->len) ? -ENOMEM : 0;
	}
	payload = malloc(plen ? plen : 1);
	if (!payload)
		return -ENOMEM;
	blob_read(sl, oh->len, payload, plen);
	h = blob_write(buf, nh->len, payload, plen, &chained);
	free(payload);
	if (!h)
		return -ENOMEM;
	account(s, oh, bloblen, -1);
	blob_free(sl->handle, sl->meta & SLOT_CHAINED);
	sl->handle = h;
	sl->meta = (sl->meta & ~SLOT_CHAINED) | (chained ? SLOT_CHAINED : 0);
	account(s, nh, nh->len + plen, 1);
	return 0;
}

/* Evict the least recently used of EVICT_SAMPLE items after the hand, sparing @keep. */
static bool evict_one(struct shard *s, unsigned long keep)
{
	uint32_t now = now_tick(), best = UINT32_MAX, best_age = 0, seen = 0;
	uint32_t i = s->hand < s->nslots ? s->hand : 0;

	for (uint32_t k = 0; k < s->nslots && seen < EVICT_SAMPLE; k++, i = next_slot(s, i)) {
		const struct slot *sl = &s->slots[i];

		if (!sl->handle || sl->handle == keep)
			continue;
		seen++;
		if (best == UINT32_MAX || slot_age(sl, now) > best_age) {
			best = i;
			best_age = slot_age(sl, now);
		}
	}
	if (best == UINT32_MAX)
		return false;
	if (!(s->slots[best].meta & SLOT_HIT))
		s->evicted_unfetched++;
	s->evictions++;
	s->evicted_time = best_age / TICKS_PER_SEC;
	if (item_remove(s, best))
		s->evicted_nonzero++;
	s->hand = best;
	return true;
}

static bool over_limit(void)
{
	return atomic_load_explicit(&charged, memory_order_relaxed) > (long)limit;
}

/* Evict from @s, sparing @keep, while the total is over the limit. */
static void evict_some(struct shard *s, unsigned long keep)
{
	bool any = false;

	while (over_limit() && evict_one(s, keep))
		any = true;
	if (any)
		table_fit(s);
}

static void evict_global(const struct shard *start)
{
	size_t first = (size_t)(start - shards);

	for (size_t k = 1; k < NR_SHARDS && over_limit(); k++) {
		struct shard *s = &shards[(first + k) % NR_SHARDS];

		pthread_mutex_lock(&s->lock);
		evict_some(s, 0);
		pthread_mutex_unlock(&s->lock);
	}
}

/* Insert a new item (the key is known absent); false when the table cannot take it. */
static bool item_insert(struct shard *s, uint64_t h, unsigned long handle, bool chained,
			unsigned int flags, const struct head *hd, size_t bloblen)
{
	struct slot e = {.handle = handle, .hash = (uint32_t)h};

	if (s->count + 1 >= s->nslots) {
		table_fit(s);
		if (s->count + 1 >= s->nslots)
			return false;
	}
	e.meta = now_tick() << SLOT_FLAG_BITS | flags | (chained ? SLOT_CHAINED : 0);
	table_put(s, e);
	account(s, hd, bloblen, 1);
	s->total_items++;
	table_fit(s);
	return true;
}

static uint64_t new_cas(uint64_t wanted)
{
	return wanted ? wanted : atomic_fetch_add(&next_cas, 1);
}

/* ---- the calls proto.c makes ---- */

int zc_store_init(struct zs_pool *p, unsigned long limit_bytes, bool refuse)
{
	pool = p;
	limit = limit_bytes;
	no_evict = refuse;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &started);
	for (int i = 0; i < NR_SHARDS; i++) {
		struct shard *s = &shards[i];

		pthread_mutex_init(&s->lock, NULL);
		s->slots = table_alloc(MIN_SLOTS);
		if (!s->slots)
			return -ENOMEM;
		s->nslots = MIN_SLOTS;
	}
	return 0;
}

unsigned long zc_store_limit(void)
{
	return limit;
}

/* Run the request's T, N and R in the order it named them (meta get's rules). */
static void apply_fetch_ops(const struct zc_fetch_req *req, struct zc_fetched *out)
{
	for (const char *op = req->order; *op; op++) {
		if (*op == 'T' && req->touch)
			out->exptime = req->exptime;
		else if (*op == 'N' && out->created) {
			out->exptime = req->vivify_exptime;
			out->won = true;
		} else if (*op == 'R' && req->recache && !out->token_sent && !out->created &&
			   out->exptime && out->exptime < req->recache_at)
			out->won = true;
	}
	/* A stale item hands the token to the first client that sees it. */
	if (out->stale && !out->token_sent)
		out->won = true;
}

/* The empty item a meta get with N creates on a miss. */
static long vivify(struct shard *s, uint64_t h, const char *key, size_t klen,
		   const struct zc_fetch_req *req, struct head *hd, size_t *bloblen)
{
	uint8_t buf[BLOB_HEAD_MAX];
	unsigned long handle;
	bool chained;

	memset(hd, 0, sizeof(*hd));
	hd->cas = new_cas(req->vivify_cas);
	head_encode(buf, key, klen, hd);
	handle = blob_write(buf, hd->len, NULL, 0, &chained);
	if (!handle)
		return -1;
	if (!item_insert(s, h, handle, chained, 0, hd, hd->len)) {
		blob_free(handle, chained);
		return -1;
	}
	*bloblen = hd->len;
	return lookup(s, h, key, klen, hd, bloblen, false);
}

enum zc_result zc_fetch(const char *key, size_t klen, const struct zc_fetch_req *req,
			struct zc_fetched *out)
{
	static const struct zc_fetch_req plain_get = {.payload = true};
	uint64_t h = key_hash(key, klen);
	struct shard *s = shard_of(h);
	struct head hd, nh;
	struct slot *sl;
	size_t bloblen = 0, plen;
	uint32_t now;
	long i;

	if (!req)
		req = &plain_get;
	out->created = out->won = false;
	pthread_mutex_lock(&s->lock);
	i = lookup(s, h, key, klen, &hd, &bloblen, true);
	if (i < 0) {
		if (!req->vivify) {
			pthread_mutex_unlock(&s->lock);
			return ZC_NOT_FOUND;
		}
		i = vivify(s, h, key, klen, req, &hd, &bloblen);
		if (i < 0) {
			pthread_mutex_unlock(&s->lock);
			return ZC_NO_MEMORY;
		}
		out->created = true;
	}
	sl = &s->slots[i];
	now = now_tick();
	plen = bloblen - hd.len;
	if (req->payload && plen > out->cap) {
		void *b = realloc(out->buf, plen);

		if (!b) {
			pthread_mutex_unlock(&s->lock);
			return ZC_NO_MEMORY;
		}
		out->buf = b;
		out->cap = plen;
	}
	out->flags = hd.flags;
	out->rawlen = hd.rawlen;
	out->cas = hd.cas;
	out->codec = hd.codec;
	out->dict = hd.dict;
	out->key_binary = hd.bits & HB_KEY_BINARY;
	out->exptime = out->exptime_before = hd.exptime;
	out->hit_before = sl->meta & SLOT_HIT;
	out->idle = slot_age(sl, now) / TICKS_PER_SEC;
	out->token_sent = sl->meta & SLOT_TOKEN;
	out->stale = sl->meta & SLOT_STALE;
	out->stored_bytes = blob_cost(bloblen) + sizeof(struct slot);
	apply_fetch_ops(req, out);
	if (out->won)
		sl->meta |= SLOT_TOKEN;
	if (out->exptime != hd.exptime) {
		nh = hd;
		nh.exptime = out->exptime;
		if (item_rewrite_head(s, (uint32_t)i, key, klen, &hd, &nh, bloblen))
			out->exptime = hd.exptime; /* no memory to grow the header: unchanged */
		else
			hd = nh; /* the payload now starts after the new header */
	}
	out->len = 0;
	if (req->payload && plen) {
		/* Copied under the lock, decoded outside it by the caller. */
		blob_read(sl, hd.len, out->buf, plen);
		out->len = plen;
	}
	if (req->payload)
		zc_dict_get(hd.dict);
	if (!req->no_bump)
		slot_touch(sl, now, SLOT_HIT);
	pthread_mutex_unlock(&s->lock);
	return ZC_STORED;
}

enum zc_result zc_touch(const char *key, size_t klen, uint32_t exptime)
{
	struct zc_fetch_req req = {.touch = true, .exptime = exptime, .order = "T"};
	struct zc_fetched f = {0};

	return zc_fetch(key, klen, &req, &f);
}

/* Whether a store of @more bytes in place of @less fits under the limit without evicting. */
static bool fits(unsigned long more, unsigned long less)
{
	return atomic_load_explicit(&charged, memory_order_relaxed) + (long)more - (long)less <=
	       (long)limit;
}

enum zc_result zc_store(enum zc_store_mode mode, const char *key, size_t klen,
			const struct zc_blob_in *in, uint64_t cas, uint64_t *cas_out)
{
	uint64_t h = key_hash(key, klen);
	struct shard *s = shard_of(h);
	uint8_t buf[BLOB_HEAD_MAX];
	struct head hd = {.codec = in->codec,
			  .dict = in->dict,
			  .rawlen = in->rawlen,
			  .flags = in->flags,
			  .exptime = in->exptime,
			  .bits = in->key_binary ? HB_KEY_BINARY : 0},
		    old;
	unsigned long handle;
	unsigned int sflags = 0;
	size_t oldlen = 0, bloblen;
	bool chained, stale = false;
	long i;
	enum zc_result r = ZC_STORED;

	hd.cas = new_cas(in->set_cas);
	head_encode(buf, key, klen, &hd);
	bloblen = hd.len + in->len;
	/* The blob is written before the lock is taken: only the index update is serialised. */
	handle = blob_write(buf, hd.len, in->payload, in->len, &chained);
	if (!handle) {
		zc_dict_put(in->dict);
		if (errno == EFBIG)
			return ZC_TOO_LARGE;
		atomic_fetch_add(&store_no_memory, 1);
		return ZC_NO_MEMORY;
	}

	pthread_mutex_lock(&s->lock);
	i = lookup(s, h, key, klen, &old, &oldlen, false);
	if (mode == ZC_ADD && i >= 0) {
		slot_touch(&s->slots[i], now_tick(), 0); /* add bumps the item it refuses */
		r = ZC_NOT_STORED;
	} else if (mode == ZC_REPLACE && i < 0) {
		r = ZC_NOT_STORED;
	} else if (mode == ZC_CAS && i < 0) {
		r = ZC_NOT_FOUND;
	} else if (mode == ZC_CAS && (cas == 0 || old.cas != cas)) {
		r = ZC_EXISTS;
		if (in->invalidate && cas && cas < old.cas)
			stale = true, r = ZC_STORED;
	}
	if (r == ZC_STORED && no_evict &&
	    !fits(item_charge(bloblen), i >= 0 ? item_charge(oldlen) : 0))
		r = ZC_NO_MEMORY;
	if (r == ZC_STORED && stale) {
		/* An older version stored anyway: marked stale, keeping the item's expiry and
		 * recache token.  The caller's payload is still at hand to write it again. */
		sflags = SLOT_STALE | (s->slots[i].meta & SLOT_TOKEN);
		if (old.exptime != hd.exptime) {
			struct head nh = hd;
			uint8_t nb[BLOB_HEAD_MAX];
			unsigned long nhandle;
			bool nchained;

			nh.exptime = old.exptime;
			head_encode(nb, key, klen, &nh);
			nhandle = blob_write(nb, nh.len, in->payload, in->len, &nchained);
			if (!nhandle) {
				r = ZC_NO_MEMORY;
			} else {
				blob_free(handle, chained);
				handle = nhandle;
				chained = nchained;
				hd = nh;
				bloblen = nh.len + in->len;
			}
		}
	}
	if (r == ZC_STORED) {
		if (i >= 0)
			item_remove(s, (uint32_t)i);
		if (!item_insert(s, h, handle, chained, sflags, &hd, bloblen))
			r = ZC_NO_MEMORY;
	}
	if (r != ZC_STORED) {
		pthread_mutex_unlock(&s->lock);
		if (r == ZC_NO_MEMORY)
			atomic_fetch_add(&store_no_memory, 1);
		blob_free(handle, chained);
		zc_dict_put(in->dict);
		return r;
	}
	if (!no_evict)
		evict_some(s, handle);
	pthread_mutex_unlock(&s->lock);

	if (!no_evict)
		evict_global(s);
	if (cas_out)
		*cas_out = hd.cas;
	return ZC_STORED;
}

enum zc_result zc_delete(const char *key, size_t klen, const struct zc_delete_req *req)
{
	static const struct zc_delete_req plain = {0};
	uint64_t h = key_hash(key, klen);
	struct shard *s = shard_of(h);
	struct head hd, nh;
	size_t bloblen;
	long i;
	enum zc_result r = ZC_STORED;

	if (!req)
		req = &plain;
	pthread_mutex_lock(&s->lock);
	i = lookup(s, h, key, klen, &hd, &bloblen, false);
	if (i < 0) {
		r = ZC_NOT_FOUND;
	} else if (req->has_cas && hd.cas != req->cas) {
		r = ZC_EXISTS;
	} else if (req->remove_value || req->invalidate) {
		struct slot *sl = &s->slots[i];

		nh = hd;
		if (req->remove_value) {
			/* A tombstone: the same key with an empty value. */
			nh.codec = ZC_RAW;
			nh.dict = 0;
			nh.rawlen = 0;
			nh.flags = req->flags;
			nh.exptime = req->exptime;
			nh.cas = req->set_cas ? req->set_cas : hd.cas;
		}
		if (req->invalidate) {
			if (req->touch)
				nh.exptime = req->exptime;
			nh.cas = new_cas(req->set_cas);
		}
		if (req->remove_value) {
			uint8_t buf[BLOB_HEAD_MAX];
			unsigned long handle;
			bool chained;

			/* A new item, so fresh state, stale if invalidated too. */
			head_encode(buf, key, klen, &nh);
			handle = blob_write(buf, nh.len, NULL, 0, &chained);
			if (!handle) {
				r = ZC_NO_MEMORY;
			} else {
				item_remove(s, (uint32_t)i);
				if (!item_insert(s, h, handle, chained,
						 req->invalidate ? SLOT_STALE : 0, &nh, nh.len)) {
					blob_free(handle, chained);
					r = ZC_NO_MEMORY;
				}
			}
		} else if (item_rewrite_head(s, (uint32_t)i, key, klen, &hd, &nh, bloblen)) {
			r = ZC_NO_MEMORY;
		} else {
			/* The next client to see it is handed the recache token. */
			sl->meta = (sl->meta | SLOT_STALE) & ~SLOT_TOKEN;
		}
	} else {
		item_remove(s, (uint32_t)i);
		table_fit(s);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

void zc_flush(void)
{
	for (int k = 0; k < NR_SHARDS; k++) {
		struct shard *s = &shards[k];

		pthread_mutex_lock(&s->lock);
		/* Flushed items count as reclaimed, as memcached's do when their memory is next
		 * used. */
		s->expired += s->count;
		for (uint32_t j = 0; j < s->nslots && s->count; j++)
			while (s->slots[j].handle)
				item_remove(s, j);
		table_fit(s);
		pthread_mutex_unlock(&s->lock);
	}
}

void zc_store_stats(struct zc_store_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->store_no_memory = atomic_load(&store_no_memory);
	for (int k = 0; k < NR_SHARDS; k++) {
		struct shard *s = &shards[k];

		pthread_mutex_lock(&s->lock);
		st->items += s->count;
		st->bytes += s->bytes;
		st->orig_bytes += s->orig_bytes;
		st->blob_bytes += s->blob_bytes;
		st->index_bytes += table_bytes(s->nslots);
		st->index_slots += s->nslots;
		st->total_items += s->total_items;
		st->evictions += s->evictions;
		st->evicted_unfetched += s->evicted_unfetched;
		st->evicted_nonzero += s->evicted_nonzero;
		if (s->evicted_time > st->evicted_time)
			st->evicted_time = s->evicted_time;

		st->expired += s->expired;
		st->expired_unfetched += s->expired_unfetched;
		st->get_expired += s->get_expired;
		for (int c = 0; c < ZC_NR_CODECS; c++)
			st->by_codec[c] += s->by_codec[c];
		pthread_mutex_unlock(&s->lock);
	}
}

unsigned long zc_store_oldest_age(void)
{
	uint32_t now = now_tick(), oldest = 0;

	for (int k = 0; k < NR_SHARDS; k++) {
		struct shard *s = &shards[k];

		pthread_mutex_lock(&s->lock);
		for (uint32_t j = 0; j < s->nslots; j++)
			if (s->slots[j].handle && slot_age(&s->slots[j], now) > oldest)
				oldest = slot_age(&s->slots[j], now);
		pthread_mutex_unlock(&s->lock);
	}
	return oldest / TICKS_PER_SEC;
}

void zc_store_reset_stats(void)
{
	atomic_store(&store_no_memory, 0);
	for (int k = 0; k < NR_SHARDS; k++) {
		struct shard *s = &shards[k];

		pthread_mutex_lock(&s->lock);
		s->total_items = s->evictions = s->evicted_unfetched = 0;
		s->evicted_nonzero = s->evicted_time = 0;
		s->expired = s->expired_unfetched = s->get_expired = 0;
		pthread_mutex_unlock(&s->lock);
	}
}

void zc_store_sizes(unsigned long *buckets, size_t n)
{
	memset(buckets, 0, n * sizeof(*buckets));
	for (int k = 0; k < NR_SHARDS; k++) {
		struct shard *s = &shards[k];

		pthread_mutex_lock(&s->lock);
		for (uint32_t j = 0; j < s->nslots; j++) {
			struct view v;
			struct head h;
			size_t b;

			if (!s->slots[j].handle)
				continue;
			view_begin(&s->slots[j], &v);
			b = head_decode(v.p, v.avail, v.total, &h) && h.rawlen
				? (h.rawlen - 1) / 32 + 1
				: 0;
			view_end(&v);
			buckets[b < n ? b : n - 1]++;
		}
		pthread_mutex_unlock(&s->lock);
	}
}

void zc_store_dump(FILE *f, unsigned long max)
{
	unsigned long shown = 0, bytes = 0;

	for (int k = 0; k < NR_SHARDS && (!max || shown < max); k++) {
		struct shard *s = &shards[k];

		pthread_mutex_lock(&s->lock);
		for (uint32_t j = 0; j < s->nslots && (!max || shown < max); j++) {
			char key[ZC_KEY_MAX + 1];
			struct view v;
			struct head h;
			bool ok;

			if (!s->slots[j].handle)
				continue;
			view_begin(&s->slots[j], &v);
			ok = head_decode(v.p, v.avail, v.total, &h) && !(h.bits & HB_KEY_BINARY);
			if (ok) {
				memcpy(key, v.p + 1, h.klen);
				key[h.klen] = '\0';
			}
			view_end(&v);
			if (!ok)
				continue;
			/* memcached's bound on the reply. */
			bytes +=
			    (unsigned long)fprintf(f, "ITEM %s [%" PRIu32 " b; %" PRIu32 " s]\r\n",
						   key, h.rawlen, h.exptime);
			shown++;
			if (bytes > ZC_DUMP_MAX)
				limit = shown;
		}
		pthread_mutex_unlock(&s->lock);
	}
}
