/*
 * zcache.h - the parts of zcache, a memcached-protocol cache that keeps every value compressed
 * in a libzs pool, and what each may use of the others.
 *
 *   main.c    the options, starting the parts
 *   server.c  the listening socket, epoll worker threads, connections, memory outside the pool
 *   meta.c    the meta protocol (mg, ms, md, ma, mn, me) over store and codec
 *   proto.c   the memcached text protocol: parsing, commands, replies; calls store and codec
 *   store.c   the index: sharded hash tables, sampled LRU eviction, the memory limit, item
 *             blobs in the pool; knows nothing of sockets or compression
 *   codec.c   per value, the smallest of raw / hex / lz4 / zstd / zstd with a trained
 *             dictionary; the dictionaries, their versions and the training thread
 *
 * Only proto.c and meta.c call both store and codec; store.c and codec.c never call each other
 * except through the dictionary reference counts (zc_dict_get/zc_dict_put), which items hold.
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
	ZC_HEX,	      /* lowercase hex digits stored as the bytes they spell: half the size */
	ZC_HEX_UPPER, /* the same, uppercase */
	ZC_NR_CODECS,
};

extern const char *const zc_codec_names[ZC_NR_CODECS];

struct zc_codec_opts {
	int zstd_level;	     /* zstd level for plain and dictionary compression */
	size_t dict_size;    /* bytes per trained dictionary */
	size_t sample_bytes; /* training samples kept from recent values; 0: no dictionaries */
};

struct zc_codec_stats {
	unsigned long dict_version;    /* trainings adopted so far */
	unsigned long dicts_live;      /* dictionaries some value (or the encoder) still uses */
	unsigned long dict_bytes;      /* memory of those dictionaries and their tables */
	unsigned long trainings;       /* dictionaries trained, adopted or not */
	unsigned long sample_bytes;    /* bytes in the sample buffer now */
	unsigned long sample_cap;      /* bytes allocated for samples (0 between rounds) */
	unsigned long sample_resident; /* of those, the part samples have been written to */
	unsigned long train_bytes;     /* memory a training in progress holds */
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
/* Bytes of this thread's compression contexts and scratch buffers. */
size_t zc_codec_thread_bytes(void);
/* The same for the training thread (its context; a training's own memory is train_bytes). */
size_t zc_codec_trainer_bytes(void);

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
	ZC_TOO_LARGE, /* a blob past what the pool's chunk index can name */
};

/* An encoded value, as handed to zc_store(). */
struct zc_blob_in {
	uint32_t flags;
	uint32_t exptime; /* absolute unix seconds, 0: never */
	uint32_t rawlen;  /* bytes before encoding */
	uint8_t codec, dict;
	bool key_binary;  /* the key came base64-encoded (meta "b"): replies encode it again */
	bool invalidate;  /* meta "I": a cas older than the item's stores it as stale */
	uint64_t set_cas; /* the new item's cas unique (meta "E"); 0: the next from the counter */
	const void *payload;
	size_t len;
};

/* What a zc_fetch() may do to the item besides reading it (meta get's flags). */
struct zc_fetch_req {
	bool payload; /* copy the encoded value out */
	bool no_bump; /* leave the LRU position, the hit bit and the access time alone */
	bool touch;   /* set the expiry to @exptime (T, gat, touch) */
	uint32_t exptime;
	bool vivify; /* on a miss create an empty item expiring at @vivify_exptime (N) */
	uint32_t vivify_exptime;
	uint64_t vivify_cas; /* its cas unique; 0: the next from the counter */
	bool recache;	     /* win the recache token if the item expires before @recache_at (R) */
	uint32_t recache_at;
	/* 'T', 'N' and 'R' in the order the request named them: each applies in turn. */
	char order[4];
};

/* A value fetched from the index, still encoded, and the item's state.  @buf is owned by the
 * caller (grown as needed with realloc) and holds @len payload bytes; a non-zero @dict holds a
 * reference when the payload was asked for. */
struct zc_fetched {
	uint32_t flags;
	uint32_t exptime; /* after the request's T/N */
	uint32_t rawlen;
	uint64_t cas;
	uint8_t codec, dict;
	bool key_binary;
	/* Before the request: */
	uint32_t exptime_before;
	bool hit_before;     /* fetched before (meta "h") */
	uint32_t idle;	     /* seconds since the last access (meta "l") */
	bool token_sent;     /* another client holds the recache token (Z) */
	bool stale;	     /* marked stale by an invalidation (X) */
	bool created, won;   /* vivified by this request; this request won the token (W) */
	size_t stored_bytes; /* what the item takes in the pool (meta "me") */
	void *buf;
	size_t cap, len;
};

/* What zc_delete() does (meta delete's flags; all zero is a plain delete). */
struct zc_delete_req {
	bool has_cas; /* only if the item's cas unique is @cas */
	uint64_t cas;
	bool invalidate; /* mark stale and give a new cas instead of deleting (I) */
	bool touch;	 /* with invalidate: a new expiry */
	uint32_t exptime;
	bool remove_value; /* keep the item with an empty value, @flags and @exptime (x) */
	uint32_t flags;
	uint64_t set_cas; /* the new cas unique of an invalidated or emptied item; 0: next */
};

struct zc_store_stats {
	unsigned long items;
	unsigned long bytes;	   /* charged against the limit: blobs and slots */
	unsigned long orig_bytes;  /* raw value bytes of the items */
	unsigned long blob_bytes;  /* bytes of the items' pool objects */
	unsigned long index_bytes; /* the hash tables' slots, used or not */
	unsigned long index_slots; /* their number */
	unsigned long total_items; /* items ever stored */
	unsigned long evictions;
	unsigned long evicted_unfetched; /* evicted without ever being read */
	unsigned long evicted_nonzero;	 /* evicted while they had an expiry */
	unsigned long evicted_time;	 /* seconds the last evicted item had not been used */
	unsigned long expired;		 /* items found expired and reclaimed */
	unsigned long expired_unfetched; /* of those, never read */
	unsigned long get_expired;	 /* fetches that found their item expired */
	unsigned long store_no_memory;	 /* stores refused at the limit (-M) or by the pool */
	unsigned long by_codec[ZC_NR_CODECS];
};

/* zc_store_init - the index over @pool, charging at most @limit_bytes; @no_evict refuses a
 * store past the limit (-M) instead of evicting.  Returns 0 or -ENOMEM. */
int zc_store_init(struct zs_pool *pool, unsigned long limit_bytes, bool no_evict);
uint32_t zc_now(void);

/*
 * zc_fetch - look @key up and copy the item out, doing what @req asks (NULL: a plain get, which
 * bumps the item and copies its payload).  Returns ZC_STORED when found or created (then @out is
 * filled), ZC_NOT_FOUND, or ZC_NO_MEMORY (no buffer, or no memory for a vivified item).
 */
enum zc_result zc_fetch(const char *key, size_t klen, const struct zc_fetch_req *req,
			struct zc_fetched *out);

/*
 * zc_store - insert @in under @key according to @mode; on success *@cas_out (if not NULL) is
 * the item's new cas unique.  Takes over @in's dictionary reference whether or not it stores.
 * ZC_CAS with @in->invalidate also stores when @cas is older than the item's, as a stale item
 * that keeps the old expiry and recache token.
 */
enum zc_result zc_store(enum zc_store_mode mode, const char *key, size_t klen,
			const struct zc_blob_in *in, uint64_t cas, uint64_t *cas_out);

/* zc_delete - delete @key, or what @req says instead (NULL: a plain delete).  Returns ZC_STORED
 * when done, ZC_NOT_FOUND, ZC_EXISTS (cas mismatch) or ZC_NO_MEMORY. */
enum zc_result zc_delete(const char *key, size_t klen, const struct zc_delete_req *req);
enum zc_result zc_touch(const char *key, size_t klen, uint32_t exptime);
/* zc_flush - drop every item. */
void zc_flush(void);
void zc_store_stats(struct zc_store_stats *st);
/* zc_store_reset_stats - zero the counters ("stats reset"); items and bytes stay. */
void zc_store_reset_stats(void);
/* zc_store_oldest_age - seconds since the least recently used item was used (walks the
 * tables' slots, not the pool). */
unsigned long zc_store_oldest_age(void);
unsigned long zc_store_limit(void);
/*
 * zc_store_sizes - count the items by raw value size in 32-byte steps, as memcached's "stats
 * sizes": @buckets[i] counts values of i * 32 + 1 .. (i + 1) * 32 bytes (an empty one in [0]),
 * the last of @n takes the larger ones.  Walks every item, one shard lock at a time.
 */
void zc_store_sizes(unsigned long *buckets, size_t n);
/* zc_store_dump - "ITEM <key> [<bytes> b; <expiry> s]" lines for up to @limit items (0: all,
 * to ZC_DUMP_MAX bytes), as memcached's "stats cachedump". */
#define ZC_DUMP_MAX (2u << 20)
void zc_store_dump(FILE *f, unsigned long max);

/* ---- proto.c and meta.c ---- */

/* Server-wide counters that the connections add to (per-thread copies, summed by "stats"). */
struct zc_thread_stats {
	unsigned long cmd_get, get_hits, get_misses, cmd_meta;
	unsigned long cmd_set, cmd_touch, touch_hits, touch_misses, cmd_flush;
	unsigned long delete_hits, delete_misses, incr_hits, incr_misses, decr_hits, decr_misses;
	unsigned long cas_hits, cas_misses, cas_badval, store_too_large;
	unsigned long bytes_read, bytes_written, conn_yields;
};

struct zc_meta_set;

/* What a connection waits for after a command line (zc_conn.pending). */
enum zc_pending {
	ZC_PENDING_NONE,
	ZC_PENDING_SET,
	ZC_PENDING_ADD,
	ZC_PENDING_REPLACE,
	ZC_PENDING_APPEND,
	ZC_PENDING_PREPEND,
	ZC_PENDING_CAS,
	ZC_PENDING_META,    /* a meta set's data: meta.c completes it */
	ZC_PENDING_SWALLOW, /* a refused data block being discarded */
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
	struct zc_meta_set *pmeta; /* a meta set's flags, while it waits for its data */
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
	unsigned int idle_timeout; /* seconds a connection may send nothing; 0: forever */
	unsigned int port;
	const char *addr;
	bool flush_disabled; /* -F */
	bool no_evict;	     /* -M */
	int zstd_level;
	struct zs_pool *pool;
	atomic_ulong curr_conns, total_conns, rejected_conns, idle_kicks;
	atomic_ulong conn_bytes; /* connection structures and buffers */
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
/* zc_conn_reserve - room for @more bytes at the read buffer's end; 0 or -ENOMEM. */
int zc_conn_reserve(struct zc_conn *c, size_t more);
/* zc_conn_release - free the buffers and protocol state (the socket is the caller's). */
void zc_conn_release(struct zc_conn *c);
/* zc_conn_buf_bytes - bytes of buffers @c holds now. */
size_t zc_conn_buf_bytes(const struct zc_conn *c);
/* The write buffer size past which zc_conn_process() stops reading commands. */
#define ZC_WBUF_SOFT_LIMIT (4u << 20)

/* What server.c adds up for "stats": every worker's counters, and memory outside the pool. */
void zc_server_sum_stats(struct zc_thread_stats *sum);
void zc_server_reset_stats(void);
struct zc_mem_stats {
	unsigned long conn_bytes;   /* connection structures and their buffers */
	unsigned long stack_bytes;  /* resident pages of the threads' stacks */
	unsigned long thread_bytes; /* per-thread codec contexts and scratch buffers */
	unsigned long malloc_used;  /* all that malloc has handed out (the above among it) */
	unsigned long malloc_free;  /* free memory malloc keeps */
	unsigned long code_bytes;   /* resident pages of the program and its libraries */
};
void zc_server_mem_stats(struct zc_mem_stats *m);
/* zc_thread_register - note the calling thread's stack for zc_server_mem_stats(). */
void zc_thread_register(void);
struct sockaddr_in;
/* The server's life, for main.c: listen (0 or -errno), start zc_server.threads workers
 * serving @reqs reads per connection per wakeup (0 or -errno), stop listening. */
int zc_server_listen(const struct sockaddr_in *sa);
int zc_server_start(unsigned int reqs);
void zc_server_stop(void);

/* Shared by proto.c (text commands) and meta.c (meta commands). */
#define ZC_MAX_TOKENS 24 /* memcached's: later words stay in the last token */
struct zc_token {
	char *v;
	size_t len;
};
/* Bytes of per-thread buffers of this thread (fetch copies, decoded values). */
size_t zc_proto_thread_bytes(void);
void zc_reply(struct zc_conn *c, const char *s);
void zc_reply_error(struct zc_conn *c, const char *s); /* sent even under noreply/q */
char *zc_wb_room(struct zc_conn *c, size_t n);	       /* n bytes at the end, or NULL */
bool zc_parse_u32(const char *s, uint32_t *v);
bool zc_parse_u64(const char *s, uint64_t *v);
bool zc_parse_i32(const char *s, int32_t *v);
uint32_t zc_abs_exptime(int64_t e);
enum zc_result zc_fetch_decoded(const char *key, size_t klen, const struct zc_fetch_req *req,
				struct zc_fetched **f, char **value);
enum zc_result zc_encode_store(enum zc_store_mode mode, const char *key, size_t klen,
			       const struct zc_blob_in *meta, const char *val, size_t vlen,
			       uint64_t cas, uint64_t *cas_out);
void zc_stat_add(struct zc_conn *c, unsigned long *field, unsigned long n);
#define ZC_STAT(c, field) zc_stat_add((c), &(c)->stats->field, 1)
void zc_delete_stale(const char *key, size_t klen);
/* Count a cas store's result in cas_hits, cas_badval or cas_misses. */
void zc_count_cas(struct zc_conn *c, enum zc_result r);
bool zc_number_value(const char *v, size_t n, uint64_t *out);

/* meta.c: "mg", "ms", "md", "ma", "mn", "me"; @tok[0] is the command. */
void zc_meta_command(struct zc_conn *c, struct zc_token *tok, size_t ntok);
/* A meta set's data block has arrived: @data holds @n bytes and its \r\n. */
void zc_meta_set_complete(struct zc_conn *c, const char *data, size_t n);
void zc_meta_set_free(struct zc_conn *c);

#endif /* ZCACHE_H */
