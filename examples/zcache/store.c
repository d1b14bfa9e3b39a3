/*
 * store.c - zcache's index: where each key's value lives in the pool, in which order items are
 * evicted, and how much memory they are charged.
 *
 * An item costs a 40-byte record, a hash bucket slot, and one pool object (its "blob"):
 *
 *   blob: [key length: 1][key][flags: varint][cas: varint][payload]
 *
 * so the key, the client flags and the cas unique live compressed-side, in the pool, not in
 * the record; a lookup compares the 32-bit hash kept in the record first and reads the key from
 * the pool only on a hash match.  Blobs larger than ZS_MAX_ALLOC_SIZE are split into 4 KiB
 * chunks whose handles an index object lists (ITEM_CHAINED).
 *
 * The index is split into NR_SHARDS shards by the top bits of the key hash; each has its own
 * lock, record array (records are named by 32-bit indexes, 0 meaning none), hash table with
 * chaining through the records, and LRU list.  The memory limit is global: a store that takes
 * the charged total over it evicts least recently used items, first from its own shard, then
 * from the others in turn.
 *
 * Lock order: one shard lock at a time; under it the pool's own locks and the dictionary
 * table lock of codec.c (through zc_dict_get/zc_dict_put) may be taken.  This file does not
 * compress, decompress or touch sockets.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zs/zsmalloc.h>

#include "zcache.h"

/* 64 shards keep two-to-sixteen workers off each other's locks with little fixed memory. */
#define NR_SHARDS	64
#define SHARD_SHIFT	58
#define INITIAL_BUCKETS 1024
#define CHUNK		ZS_MAX_ALLOC_SIZE
/* Chained blobs list their chunks in one index object, so at most this many chunks. */
#define MAX_CHUNKS    (ZS_MAX_ALLOC_SIZE / sizeof(unsigned long))
#define BLOB_HEAD_MAX (1 + ZC_KEY_MAX + 5 + 10)

#define ITEM_CHAINED 0x1

struct zc_item {
	unsigned long handle; /* blob, or the chunk index object when ITEM_CHAINED */
	uint32_t hnext;	      /* next record in the hash chain; also the free list link */
	uint32_t prev, next;  /* LRU list: head is most recently used */
	uint32_t hash;
	uint32_t exptime;
	uint32_t bloblen;
	uint32_t rawlen; /* value bytes before encoding (fits the record's padding) */
	uint8_t codec, dict, iflags;
};

struct shard {
	pthread_mutex_t lock;
	struct zc_item *items; /* items[0] unused: index 0 means "none" */
	uint32_t nr_alloc, nr_used, free_head;
	uint32_t *buckets;
	uint32_t mask;
	uint32_t lru_head, lru_tail;
	unsigned long count, bytes, orig_bytes, blob_bytes, total_items, evictions, expired;
	unsigned long by_codec[ZC_NR_CODECS];
} __attribute__((aligned(64)));

static struct shard shards[NR_SHARDS];
static struct zs_pool *pool;
static unsigned long limit;
static atomic_long charged;
static atomic_ullong next_cas = 1;

uint32_t zc_now(void)
{
	return (uint32_t)time(NULL);
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

/* ---- blobs in the pool ---- */

static unsigned long item_charge(const struct zc_item *it)
{
	unsigned long c = it->bloblen + sizeof(struct zc_item) + sizeof(uint32_t);

	if (it->iflags & ITEM_CHAINED)
		c += (it->bloblen + CHUNK - 1) / CHUNK * sizeof(unsigned long);
	return c;
}

static void blob_free(unsigned long handle, uint32_t len, bool chained)
{
	if (chained) {
		unsigned long *idx = zs_obj_read_begin(pool, handle, NULL);
		size_t n = (len + CHUNK - 1) / CHUNK;

		for (size_t i = 0; i < n; i++)
			zs_free(pool, idx[i]);
		zs_obj_read_end(pool, handle, idx);
	}
	zs_free(pool, handle);
}

/* Write @head then @payload into a new blob; returns its handle or 0 (errno ENOMEM/EINVAL). */
static unsigned long blob_write(const void *head, size_t hlen, const void *payload, size_t plen,
				bool *chained)
{
	size_t len = hlen + plen;
	unsigned long chunks[MAX_CHUNKS];
	size_t n = (len + CHUNK - 1) / CHUNK, done = 0;
	unsigned long h;

	*chained = len > ZS_MAX_ALLOC_SIZE;
	if (n > MAX_CHUNKS) {
		errno = EINVAL;
		return 0;
	}
	for (size_t i = 0; i < (*chained ? n : 1); i++) {
		size_t sz = *chained ? (i + 1 < n ? CHUNK : len - i * CHUNK) : len;
		uint8_t *dst;

		chunks[i] = zs_malloc(pool, sz);
		if (!chunks[i]) {
			while (i--)
				zs_free(pool, chunks[i]);
			return 0;
		}
		dst = zs_map_object(pool, chunks[i], ZS_MM_WO);
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
		zs_unmap_object(pool, chunks[i]);
		done += sz;
	}
	if (!*chained)
		return chunks[0];
	h = zs_malloc(pool, n * sizeof(unsigned long));
	if (!h || zs_obj_write(pool, h, chunks, n * sizeof(unsigned long))) {
		for (size_t i = 0; i < n; i++)
			zs_free(pool, chunks[i]);
		if (h)
			zs_free(pool, h);
		return 0;
	}
	return h;
}

/* Copy @len bytes from the start of the item's blob into @dst. */
static void blob_read(const struct zc_item *it, void *dst, size_t len)
{
	if (!(it->iflags & ITEM_CHAINED)) {
		void *src = zs_obj_read_begin(pool, it->handle, NULL);

		memcpy(dst, src, len);
		zs_obj_read_end(pool, it->handle, src);
		return;
	}
	unsigned long *idx = zs_obj_read_begin(pool, it->handle, NULL);

	for (size_t i = 0, off = 0; off < len; i++, off += CHUNK) {
		size_t take = len - off < CHUNK ? len - off : CHUNK;
		void *src = zs_obj_read_begin(pool, idx[i], NULL);

		memcpy((uint8_t *)dst + off, src, take);
		zs_obj_read_end(pool, idx[i], src);
	}
	zs_obj_read_end(pool, it->handle, idx);
}

/* The blob's head: key match, flags, cas and where the payload starts. */
struct blob_head {
	uint32_t flags;
	uint64_t cas;
	size_t payload_off;
};

static bool blob_head(const struct zc_item *it, const char *key, size_t klen, struct blob_head *bh)
{
	uint8_t head[BLOB_HEAD_MAX];
	size_t n = sizeof(head), off;
	uint64_t v[2];

	/* Reading the first bytes only: the whole blob when it is short, the key and the
	 * two varints otherwise. */
	if (it->bloblen < n)
		n = it->bloblen;
	blob_read(it, head, n);
	if (head[0] != klen || klen + 1 > n || memcmp(head + 1, key, klen))
		return false;
	off = 1 + klen;
	for (int i = 0; i < 2; i++) {
		size_t used = get_varint(head + off, n - off, &v[i]);

		if (!used)
			return false;
		off += used;
	}
	bh->flags = (uint32_t)v[0];
	bh->cas = v[1];
	bh->payload_off = off;
	return true;
}

/* ---- records, hash chains, LRU ---- */

static struct shard *shard_of(uint64_t h)
{
	return &shards[h >> SHARD_SHIFT];
}

static void lru_unlink(struct shard *s, uint32_t i)
{
	struct zc_item *it = &s->items[i];

	if (it->prev)
		s->items[it->prev].next = it->next;
	else
		s->lru_head = it->next;
	if (it->next)
		s->items[it->next].prev = it->prev;
	else
		s->lru_tail = it->prev;
}

static void lru_push(struct shard *s, uint32_t i)
{
	struct zc_item *it = &s->items[i];

	it->prev = 0;
	it->next = s->lru_head;
	if (s->lru_head)
		s->items[s->lru_head].prev = i;
	else
		s->lru_tail = i;
	s->lru_head = i;
}

static void lru_bump(struct shard *s, uint32_t i)
{
	if (s->lru_head != i) {
		lru_unlink(s, i);
		lru_push(s, i);
	}
}

static int record_alloc(struct shard *s, uint32_t *out)
{
	if (s->free_head) {
		*out = s->free_head;
		s->free_head = s->items[*out].hnext;
		return 0;
	}
	if (s->nr_used >= s->nr_alloc) {
		/* Large reallocs are mremap()ed by glibc: the array grows without a copy and
		 * without holding two copies at once. */
		uint32_t n = s->nr_alloc ? s->nr_alloc * 2 : 256;
		struct zc_item *p = realloc(s->items, (size_t)n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->items = p;
		s->nr_alloc = n;
	}
	*out = s->nr_used++;
	return 0;
}

static void grow_buckets(struct shard *s)
{
	uint32_t n = (s->mask + 1) * 2;
	uint32_t *b = calloc(n, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	for (uint32_t j = 0; j <= s->mask; j++) {
		for (uint32_t i = s->buckets[j], next; i; i = next) {
			next = s->items[i].hnext;
			s->items[i].hnext = b[s->items[i].hash & (n - 1)];
			b[s->items[i].hash & (n - 1)] = i;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->mask = n - 1;
}

/* Take item @i (reached through @link) out of every structure and free its blob. */
static void item_remove(struct shard *s, uint32_t i, uint32_t *link)
{
	struct zc_item *it = &s->items[i];
	unsigned long c = item_charge(it);

	*link = it->hnext;
	lru_unlink(s, i);
	blob_free(it->handle, it->bloblen, it->iflags & ITEM_CHAINED);
	zc_dict_put(it->dict);
	s->count--;
	s->bytes -= c;
	s->blob_bytes -= it->bloblen;
	s->orig_bytes -= it->rawlen;
	s->by_codec[it->codec]--;
	atomic_fetch_sub(&charged, (long)c);
	it->hnext = s->free_head;
	s->free_head = i;
}

static bool expired(const struct zc_item *it, uint32_t now)
{
	return it->exptime && it->exptime <= now;
}

/*
 * Find @key; on a hit *@pprev is the hash-chain link that points at it.  An expired item found
 * on the way is removed (and counted) as memcached does lazily, and is a miss.
 */
static uint32_t lookup(struct shard *s, uint64_t h, const char *key, size_t klen,
		       struct blob_head *bh, uint32_t **pprev)
{
	uint32_t *link = &s->buckets[(uint32_t)h & s->mask];

	for (uint32_t i = *link; i; link = &s->items[i].hnext, i = *link) {
		if (s->items[i].hash == (uint32_t)h && blob_head(&s->items[i], key, klen, bh)) {
			if (expired(&s->items[i], zc_now())) {
				item_remove(s, i, link);
				s->expired++;
				return 0;
			}
			*pprev = link;
			return i;
		}
	}
	return 0;
}

/* Remove an item known only by index: find its link in its chain first. */
static void item_remove_by_index(struct shard *s, uint32_t i)
{
	uint32_t *link = &s->buckets[s->items[i].hash & s->mask];

	while (*link != i)
		link = &s->items[*link].hnext;
	item_remove(s, i, link);
}

/* Evict from @s's LRU tail, sparing @keep, while the total is over the limit. */
static void evict_some(struct shard *s, uint32_t keep)
{
	while (atomic_load_explicit(&charged, memory_order_relaxed) > (long)limit && s->lru_tail &&
	       s->lru_tail != keep) {
		item_remove_by_index(s, s->lru_tail);
		s->evictions++;
	}
}

static void evict_global(const struct shard *start)
{
	size_t first = (size_t)(start - shards);

	for (size_t k = 1; k < NR_SHARDS; k++) {
		struct shard *s = &shards[(first + k) % NR_SHARDS];

		if (atomic_load_explicit(&charged, memory_order_relaxed) <= (long)limit)
			return;
		pthread_mutex_lock(&s->lock);
		evict_some(s, 0);
		pthread_mutex_unlock(&s->lock);
	}
}

/* ---- the calls proto.c makes ---- */

int zc_store_init(struct zs_pool *p, unsigned long limit_bytes)
{
	pool = p;
	limit = limit_bytes;
	for (int i = 0; i < NR_SHARDS; i++) {
		struct shard *s = &shards[i];

		pthread_mutex_init(&s->lock, NULL);
		s->buckets = calloc(INITIAL_BUCKETS, sizeof(uint32_t));
		if (!s->buckets)
			return -ENOMEM;
		s->mask = INITIAL_BUCKETS - 1;
		s->nr_used = 1;
	}
	return 0;
}

unsigned long zc_store_limit(void)
{
	return limit;
}

enum zc_result zc_fetch(const char *key, size_t klen, struct zc_fetched *out)
{
	uint64_t h = key_hash(key, klen);
	struct shard *s = shard_of(h);
	struct blob_head bh;
	uint32_t *link, i;
	enum zc_result r = ZC_NOT_FOUND;

	pthread_mutex_lock(&s->lock);
	i = lookup(s, h, key, klen, &bh, &link);
	if (i) {
		struct zc_item *it = &s->items[i];
		size_t len = it->bloblen;

		r = ZC_STORED;
		if (len > out->cap) {
			void *b = realloc(out->buf, len);

			if (!b) {
				pthread_mutex_unlock(&s->lock);
				return ZC_NO_MEMORY;
			}
			out->buf = b;
			out->cap = len;
		}
		/* The whole blob is copied and decoded outside the lock: the payload is what
		 * follows the head. */
		blob_read(it, out->buf, len);
		memmove(out->buf, (uint8_t *)out->buf + bh.payload_off, len - bh.payload_off);
		out->len = len - bh.payload_off;
		out->flags = bh.flags;
		out->rawlen = it->rawlen;
		out->cas = bh.cas;
		out->exptime = it->exptime;
		out->codec = it->codec;
		out->dict = it->dict;
		zc_dict_get(it->dict);
		lru_bump(s, i);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

enum zc_result zc_store(enum zc_store_mode mode, const char *key, size_t klen,
			const struct zc_blob_in *in, uint64_t cas, uint64_t *cas_out)
{
	uint64_t h = key_hash(key, klen);
	struct shard *s = shard_of(h);
	uint8_t head[BLOB_HEAD_MAX];
	uint64_t new_cas = atomic_fetch_add(&next_cas, 1);
	size_t hl = 0;
	struct blob_head bh;
	unsigned long handle;
	uint32_t *link, i, ni;
	bool chained;
	enum zc_result r = ZC_STORED;

	head[hl++] = (uint8_t)klen;
	memcpy(head + hl, key, klen);
	hl += klen;
	hl += put_varint(head + hl, in->flags);
	hl += put_varint(head + hl, new_cas);
	/* The blob is written before the lock is taken: only the index update is serialised. */
	handle = blob_write(head, hl, in->payload, in->len, &chained);
	if (!handle) {
		zc_dict_put(in->dict);
		return ZC_NO_MEMORY;
	}

	pthread_mutex_lock(&s->lock);
	i = lookup(s, h, key, klen, &bh, &link);
	if (mode == ZC_ADD && i)
		r = ZC_NOT_STORED;
	else if (mode == ZC_REPLACE && !i)
		r = ZC_NOT_STORED;
	else if (mode == ZC_CAS && !i)
		r = ZC_NOT_FOUND;
	else if (mode == ZC_CAS && bh.cas != cas)
		r = ZC_EXISTS;
	else if (record_alloc(s, &ni))
		r = ZC_NO_MEMORY;
	if (r != ZC_STORED) {
		pthread_mutex_unlock(&s->lock);
		blob_free(handle, (uint32_t)(hl + in->len), chained);
		zc_dict_put(in->dict);
		return r;
	}
	/* record_alloc may have moved the array: the old item is reached by index again. */
	if (i)
		item_remove_by_index(s, i);

	struct zc_item *it = &s->items[ni];

	it->handle = handle;
	it->hash = (uint32_t)h;
	it->exptime = in->exptime;
	it->bloblen = (uint32_t)(hl + in->len);
	it->rawlen = in->rawlen;
	it->codec = in->codec;
	it->dict = in->dict;
	it->iflags = chained ? ITEM_CHAINED : 0;
	it->hnext = s->buckets[(uint32_t)h & s->mask];
	s->buckets[(uint32_t)h & s->mask] = ni;
	lru_push(s, ni);
	s->count++;
	s->total_items++;
	s->bytes += item_charge(it);
	s->orig_bytes += in->rawlen;
	s->blob_bytes += it->bloblen;
	s->by_codec[it->codec]++;
	atomic_fetch_add(&charged, (long)item_charge(it));
	if (s->count > s->mask + 1)
		grow_buckets(s);
	evict_some(s, ni);
	pthread_mutex_unlock(&s->lock);

	evict_global(s);
	if (cas_out)
		*cas_out = new_cas;
	return ZC_STORED;
}

enum zc_result zc_delete(const char *key, size_t klen)
{
	uint64_t h = key_hash(key, klen);
	struct shard *s = shard_of(h);
	struct blob_head bh;
	uint32_t *link, i;

	pthread_mutex_lock(&s->lock);
	i = lookup(s, h, key, klen, &bh, &link);
	if (i)
		item_remove(s, i, link);
	pthread_mutex_unlock(&s->lock);
	return i ? ZC_STORED : ZC_NOT_FOUND;
}

enum zc_result zc_touch(const char *key, size_t klen, uint32_t exptime)
{
	uint64_t h = key_hash(key, klen);
	struct shard *s = shard_of(h);
	struct blob_head bh;
	uint32_t *link, i;

	pthread_mutex_lock(&s->lock);
	i = lookup(s, h, key, klen, &bh, &link);
	if (i) {
		s->items[i].exptime = exptime;
		lru_bump(s, i);
	}
	pthread_mutex_unlock(&s->lock);
	return i ? ZC_STORED : ZC_NOT_FOUND;
}

void zc_flush(void)
{
	for (int k = 0; k < NR_SHARDS; k++) {
		struct shard *s = &shards[k];

		pthread_mutex_lock(&s->lock);
		for (uint32_t j = 0; j <= s->mask; j++)
			while (s->buckets[j])
				item_remove(s, s->buckets[j], &s->buckets[j]);
		pthread_mutex_unlock(&s->lock);
	}
}

void zc_store_stats(struct zc_store_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (int k = 0; k < NR_SHARDS; k++) {
		struct shard *s = &shards[k];

		pthread_mutex_lock(&s->lock);
		st->items += s->count;
		st->bytes += s->bytes;
		st->orig_bytes += s->orig_bytes;
		st->blob_bytes += s->blob_bytes;
		st->index_bytes += (unsigned long)s->nr_alloc * sizeof(struct zc_item) +
				   (s->mask + 1ul) * sizeof(uint32_t);
		st->total_items += s->total_items;
		st->evictions += s->evictions;
		st->expired += s->expired;
		for (int c = 0; c < ZC_NR_CODECS; c++)
			st->by_codec[c] += s->by_codec[c];
		pthread_mutex_unlock(&s->lock);
	}
}
