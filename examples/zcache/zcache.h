/*
 * zcache.h - the parts of zcache, a memcached-protocol cache that keeps every value compressed
 * in a libzs pool, and what each may use of the others.
 *
 *   server.c  options, the listening socket, epoll worker threads, connection buffers
 *   proto.c   the memcached text protocol: parsing, commands, replies; calls store and codec
 *   store.c   the index: sharded hash tables, per-shard LRU lists, the memory limit, item
 *             blobs in the pool; knows nothing of sockets or compression
 *   codec.c   per value, the smallest of raw / lz4 / zstd / zstd with a trained dictionary;
 *             the dictionaries, their versions and the training thread
 *
 * Only proto.c calls both store and codec; store.c and codec.c never call each other except
 * through the dictionary reference counts (zc_dict_get/zc_dict_put), which items hold.
 */
#ifndef ZCACHE_H
#define ZCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct zs_pool;

#define ZC_VERSION	    "0.1.0"
#define ZC_KEY_MAX	    250 /* memcached's key limit: clients split on it */
#define ZC_DEFAULT_ITEM_MAX (1024 * 1024)

/* ---- codec.c ---- */

enum zc_codec {
	ZC_RAW,
	ZC_LZ4,
	ZC_ZSTD,
	ZC_ZSTD_DICT,
	ZC_NR_CODECS,
};

extern const char *const zc_codec_names[ZC_NR_CODECS];

struct zc_codec_opts {
	int zstd_level;	     /* zstd level for plain and dictionary compression */
	size_t dict_size;    /* bytes per trained dictionary */
	size_t sample_bytes; /* training samples kept from recent values */
};

struct zc_codec_stats {
	unsigned long dict_version; /* trainings adopted so far */
	unsigned long dicts_live;   /* dictionaries some value (or the encoder) still uses */
	unsigned long dict_bytes;   /* memory of those dictionaries and their tables */
	unsigned long trainings;    /* dictionaries trained, adopted or not */
	unsigned long sample_bytes; /* bytes in the sample buffer now */
};

int zc_codec_init(const struct zc_codec_opts *opts);
void zc_codec_stop(void);

/*
 * zc_encode - compress @n bytes of @src the way that stores them smallest.
 * Writes the payload to *@out (thread-local scratch, valid until the next call on this
 * thread) and returns its length; *@codec and *@dict tell how.  A non-zero *@dict holds a
 * reference for the caller (zc_dict_put() when the value is dropped).
 * Returns -ENOMEM when a scratch buffer cannot grow.
 */
long zc_encode(const void *src, size_t n, const void **out, uint8_t *codec, uint8_t *dict);

/* zc_decode - @rawlen bytes back into @dst; 0 or -EIO when the payload does not decode. */
int zc_decode(uint8_t codec, uint8_t dict, const void *src, size_t n, void *dst, size_t rawlen);

/* Reference counts of dictionaries (slot 0 is "no dictionary" and is ignored). */
void zc_dict_get(uint8_t dict);
void zc_dict_put(uint8_t dict);

void zc_codec_stats(struct zc_codec_stats *st);

/* ---- store.c ---- */

/* How zc_store() treats an existing item. */
enum zc_store_mode {
	ZC_SET,
	ZC_ADD,
	ZC_REPLACE,
	ZC_CAS, /* store only if the item's cas unique is @cas */
};

enum zc_result {
	ZC_STORED,
	ZC_NOT_STORED,
	ZC_EXISTS,
	ZC_NOT_FOUND,
	ZC_NO_MEMORY,
};

/* An encoded value, as handed to zc_store(). */
struct zc_blob_in {
	uint32_t flags;
	uint32_t exptime; /* absolute unix seconds, 0: never */
	uint32_t rawlen;  /* bytes before encoding */
	uint8_t codec, dict;
	const void *payload;
	size_t len;
};

/* A value fetched from the index, still encoded.  @buf is owned by the caller (grown as
 * needed with realloc) and holds @len payload bytes; a non-zero @dict holds a reference. */
struct zc_fetched {
	uint32_t flags;
	uint32_t exptime;
	uint32_t rawlen;
	uint64_t cas;
	uint8_t codec, dict;
	void *buf;
	size_t cap, len;
};

struct zc_store_stats {
	unsigned long items;
	unsigned long bytes;	   /* charged against the limit: blobs and index entries */
	unsigned long orig_bytes;  /* raw value bytes of the items */
	unsigned long blob_bytes;  /* bytes of the items' pool objects */
	unsigned long index_bytes; /* item records and hash buckets */
	unsigned long total_items; /* items ever stored */
	unsigned long evictions;
	unsigned long expired; /* items found expired and reclaimed */
	unsigned long by_codec[ZC_NR_CODECS];
};

int zc_store_init(struct zs_pool *pool, unsigned long limit_bytes);
uint32_t zc_now(void);

/*
 * zc_fetch - copy the item @key out of the index, bumping it in its LRU list.
 * Returns ZC_STORED when found (then @out is filled), ZC_NOT_FOUND, or ZC_NO_MEMORY.
 */
enum zc_result zc_fetch(const char *key, size_t klen, struct zc_fetched *out);

/*
 * zc_store - insert @in under @key according to @mode; on success *@cas_out (if not NULL) is
 * the item's new cas unique.  Takes over @in's dictionary reference whether or not it stores.
 */
enum zc_result zc_store(enum zc_store_mode mode, const char *key, size_t klen,
			const struct zc_blob_in *in, uint64_t cas, uint64_t *cas_out);

enum zc_result zc_delete(const char *key, size_t klen);
enum zc_result zc_touch(const char *key, size_t klen, uint32_t exptime);
/* zc_flush - drop every item. */
void zc_flush(void);
void zc_store_stats(struct zc_store_stats *st);
unsigned long zc_store_limit(void);

/* ---- proto.c ---- */

/* Server-wide counters that the connections add to (per-thread copies, summed by "stats"). */
struct zc_thread_stats {
	unsigned long cmd_get, get_hits, get_misses;
	unsigned long cmd_set, cmd_touch, touch_hits, touch_misses, cmd_flush;
	unsigned long delete_hits, delete_misses, incr_hits, incr_misses, decr_hits, decr_misses;
	unsigned long cas_hits, cas_misses, cas_badval;
	unsigned long bytes_read, bytes_written;
};

/* One client connection's buffers and protocol state; server.c owns the socket. */
struct zc_conn {
	int fd;
	char *rbuf;
	size_t rstart, rend, rcap;
	char *wbuf;
	size_t wstart, wend, wcap;
	bool closing; /* "quit" or a fatal protocol error: close once wbuf is written */
	bool noreply; /* the command being run said "noreply": its replies are dropped */
	/* A storage command waiting for its data block (or for a refused one to pass). */
	int pending;
	size_t need; /* data bytes (with \r\n) the pending command waits for */
	char pkey[ZC_KEY_MAX + 1];
	size_t pklen;
	uint32_t pflags;
	uint32_t pexptime;
	uint64_t pcas;
	bool pnoreply;
	/* A retrieval command cut short at the write buffer's soft limit: the keys it has not
	 * answered yet (a copy, since the read buffer moves on), resumed once replies drain. */
	char *get_rest;
	bool get_cas, get_touch;
	uint32_t get_exptime;
	struct zc_thread_stats *stats;
};

struct zc_server_info {
	unsigned int threads;
	unsigned int max_conns;
	unsigned long item_max;
	struct zs_pool *pool;
	atomic_ulong curr_conns, total_conns, rejected_conns;
	time_t started;
};

extern struct zc_server_info zc_server;

/*
 * zc_conn_process - run every complete command in @c's read buffer, appending replies to its
 * write buffer.  Returns 0 when it needs more input; 1 when it stopped because the write buffer
 * is past its soft limit, with work left (the caller writes the buffer out and calls again,
 * without waiting for input); -1 when the connection must be closed after writing.
 */
int zc_conn_process(struct zc_conn *c);
/* zc_conn_want - bytes of room the read buffer needs now (0: the next read may be any size). */
size_t zc_conn_want(const struct zc_conn *c);
int zc_conn_reserve(struct zc_conn *c, size_t more);
void zc_conn_release(struct zc_conn *c);
/* The write buffer size past which zc_conn_process() stops reading commands. */
#define ZC_WBUF_SOFT_LIMIT (4u << 20)

/* Sum of every worker's counters, for "stats". */
void zc_server_sum_stats(struct zc_thread_stats *sum);

#endif /* ZCACHE_H */
