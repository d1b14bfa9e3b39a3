/*
 * proto.c - the memcached text protocol over zcache's store and codec: reads commands from a
 * connection's read buffer and appends replies to its write buffer.  No socket calls here.
 * The meta commands (mg, ms, md, ma, mn, me) are meta.c's; this file cuts the lines, runs the
 * text commands, and has the helpers both use.
 *
 * Replies follow memcached 1.6 byte for byte where clients can depend on them: "ERROR" for an
 * unknown command or a wrong number of arguments, "CLIENT_ERROR <why>" for a malformed one,
 * "SERVER_ERROR <why>" when the server cannot do it.  Lines are cut as memcached cuts them:
 * words split on spaces, at most ZC_MAX_TOKENS of them; a line of more than LINE_MAX_CMD bytes
 * that has not ended is not a command and the connection is closed without a reply (except a
 * multi-key get, which may go on to LINE_MAX_GET); a request line of HTTP (the last word
 * "HTTP/...") is a cross-protocol attack and is hung up on.  Where zcache answers otherwise than
 * memcached, on purpose, the README says so ("Where zcache and memcached differ").
 *
 * Read-modify-write commands (append, prepend, incr, decr and their meta forms) fetch the item,
 * compute the new value outside every lock and store it only if the item's cas unique is still
 * the one they read, retrying otherwise, so they stay atomic without holding a lock while
 * compressing.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <zs/zsmalloc.h>

#include "zcache.h"
#include "../zsstat/zsstat.h"

/* memcached's limit for a line still waiting for its newline, and ours for retrieval lines,
 * which carry many keys (memcached's have none; 256 KiB is 1000 keys of 250 bytes). */
#define LINE_MAX_CMD 2048
#define LINE_MAX_GET (256u << 10)
/* Leading spaces memcached tolerates on a long line before it stops looking for "get". */
#define LINE_MAX_LEAD 100
/* Relative expiration times are at most 30 days; larger ones are unix times. */
#define REALTIME_MAXDELTA (60 * 60 * 24 * 30)
/* "stats sizes": 32-byte steps up to the largest item. */
#define SIZE_STEP 32

static atomic_uint flush_at; /* a delayed flush_all's time, 0: none */

/* Per-thread buffers for fetched values and read-modify-write results. */
static __thread struct zc_fetched tf;
static __thread char *tvbuf;
static __thread size_t tvcap;

void zc_stat_add(struct zc_conn *c, unsigned long *field, unsigned long n)
{
	(void)c;
	/* Only the owning worker writes its counters; "stats" reads them from another thread. */
	__atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

size_t zc_proto_thread_bytes(void)
{
	return tf.cap + tvcap;
}

/* ---- buffers ---- */

static int wb_reserve(struct zc_conn *c, size_t n)
{
	if (c->wstart && c->wstart == c->wend)
		c->wstart = c->wend = 0;
	if (c->wcap - c->wend >= n)
		return 0;
	if (c->wstart) {
		memmove(c->wbuf, c->wbuf + c->wstart, c->wend - c->wstart);
		c->wend -= c->wstart;
		c->wstart = 0;
		if (c->wcap - c->wend >= n)
			return 0;
	}
	size_t cap = c->wcap ? c->wcap : 4096;

	while (cap - c->wend < n)
		cap *= 2;
	char *p = realloc(c->wbuf, cap);

	if (!p)
		return -ENOMEM;
	atomic_fetch_add(&zc_server.conn_bytes, cap - c->wcap);
	c->wbuf = p;
	c->wcap = cap;
	return 0;
}

char *zc_wb_room(struct zc_conn *c, size_t n)
{
	if (wb_reserve(c, n)) {
		/* Nothing sensible can be said to this client any more. */
		c->closing = true;
		return NULL;
	}
	return c->wbuf + c->wend;
}

static void wb_put(struct zc_conn *c, const char *s, size_t n)
{
	char *p = zc_wb_room(c, n);

	if (p) {
		memcpy(p, s, n);
		c->wend += n;
	}
}

void zc_reply(struct zc_conn *c, const char *s)
{
	if (!c->noreply)
		wb_put(c, s, strlen(s));
}

void zc_reply_error(struct zc_conn *c, const char *s)
{
	c->noreply = false;
	wb_put(c, s, strlen(s));
	wb_put(c, "\r\n", 2);
}

int zc_conn_reserve(struct zc_conn *c, size_t more)
{
	if (c->rstart == c->rend)
		c->rstart = c->rend = 0;
	if (c->rcap - c->rend >= more)
		return 0;
	if (c->rstart) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
		if (c->rcap - c->rend >= more)
			return 0;
	}
	size_t cap = c->rcap ? c->rcap : 16384;

	while (cap - c->rend < more)
		cap *= 2;
	char *p = realloc(c->rbuf, cap);

	if (!p)
		return -ENOMEM;
	atomic_fetch_add(&zc_server.conn_bytes, cap - c->rcap);
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

size_t zc_conn_buf_bytes(const struct zc_conn *c)
{
	return c->rcap + c->wcap;
}

void zc_conn_release(struct zc_conn *c)
{
	atomic_fetch_sub(&zc_server.conn_bytes, c->rcap + c->wcap);
	free(c->rbuf);
	free(c->wbuf);
	free(c->get_rest);
	zc_meta_set_free(c);
	c->get_rest = NULL;
	c->rbuf = c->wbuf = NULL;
	c->rcap = c->wcap = 0;
}

size_t zc_conn_want(const struct zc_conn *c)
{
	size_t have = c->rend - c->rstart;

	if (c->pending && c->pending != ZC_PENDING_SWALLOW && c->need > have)
		return c->need - have;
	return 0;
}

/* ---- parsing ---- */

static bool is_space(char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* Digits with an optional '+', as strtoull takes them; false past UINT64_MAX. */
static bool parse_digits(const char *s, uint64_t *v)
{
	uint64_t r = 0;

	if (*s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || r > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		r = r * 10 + (uint64_t)(*s - '0');
	}
	*v = r;
	return true;
}

bool zc_parse_u64(const char *s, uint64_t *v)
{
	return parse_digits(s, v);
}

/* memcached stores flags of 2^32 and more as their low 32 bits; zcache refuses them. */
bool zc_parse_u32(const char *s, uint32_t *v)
{
	uint64_t r;

	if (!parse_digits(s, &r) || r > UINT32_MAX)
		return false;
	*v = (uint32_t)r;
	return true;
}

bool zc_parse_i32(const char *s, int32_t *v)
{
	uint64_t r;
	bool neg = *s == '-';

	if (!parse_digits(s + neg, &r) || r > (uint64_t)INT32_MAX + neg)
		return false;
	*v = neg ? (int32_t) - (int64_t)r : (int32_t)r;
	return true;
}

/* A stored value read as a number by incr/decr: digits, with white space around them allowed
 * (memcached pads the numbers it shortens in place with spaces, and reads them back). */
bool zc_number_value(const char *v, size_t n, uint64_t *out)
{
	size_t i = 0, d;
	uint64_t r = 0;

	while (i < n && is_space(v[i]))
		i++;
	for (d = i; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		if (r > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
			return false;
		r = r * 10 + (uint64_t)(v[i] - '0');
	}
	if (i == d)
		return false;
	while (i < n && is_space(v[i]))
		i++;
	if (i != n)
		return false;
	*out = r;
	return true;
}

/* memcached's expiration time: 0 never, negative already expired, up to 30 days relative,
 * beyond that a unix time. */
uint32_t zc_abs_exptime(int64_t e)
{
	if (e == 0)
		return 0;
	if (e < 0)
		return 1;
	if (e <= REALTIME_MAXDELTA)
		return zc_now() + (uint32_t)e;
	return e > UINT32_MAX ? UINT32_MAX : (uint32_t)e;
}

/* Split @line on spaces into at most ZC_MAX_TOKENS - 1 words, as memcached: the words after
 * those stay unsplit in tok[n].v (NULL when there are none).  Returns n. */
static size_t tokenize(char *line, struct zc_token *tok)
{
	size_t n = 0;

	while (*line) {
		while (*line == ' ')
			line++;
		if (!*line)
			break;
		if (n == ZC_MAX_TOKENS - 1)
			break;
		tok[n].v = line;
		while (*line && *line != ' ')
			line++;
		tok[n].len = (size_t)(line - tok[n].v);
		n++;
		if (*line)
			*line++ = '\0';
	}
	tok[n].v = *line ? line : NULL;
	tok[n].len = 0;
	return n;
}

static bool key_ok(const struct zc_token *t)
{
	return t->len <= ZC_KEY_MAX;
}

/* Whether the last of @ntok words is "noreply" (memcached looks nowhere else). */
static bool noreply_last(const struct zc_token *tok, size_t ntok)
{
	return ntok > 1 && !strcmp(tok[ntok - 1].v, "noreply");
}

/* ---- retrieval ---- */

static int tv_reserve(size_t n)
{
	if (n <= tvcap)
		return 0;
	char *p = realloc(tvbuf, n);

	if (!p)
		return -ENOMEM;
	tvbuf = p;
	tvcap = n;
	return 0;
}

enum zc_result zc_fetch_decoded(const char *key, size_t klen, const struct zc_fetch_req *req,
				struct zc_fetched **f, char **value)
{
	enum zc_result r = zc_fetch(key, klen, req, &tf);
	int err = 0;

	*f = &tf;
	*value = NULL;
	if (r != ZC_STORED)
		return r;
	if (!req || req->payload) {
		err = tv_reserve(tf.rawlen + 1);
		if (!err)
			err = zc_decode(tf.codec, tf.dict, tf.buf, tf.len, tvbuf, tf.rawlen);
		zc_dict_put(tf.dict);
		*value = tvbuf;
	}
	return err ? ZC_NO_MEMORY : ZC_STORED;
}

/* One key of a get/gets/gat/gats: its VALUE line and data, nothing on a miss. */
static void emit_value(struct zc_conn *c, const char *key, size_t klen, bool with_cas, bool touch,
		       uint32_t exptime)
{
	struct zc_fetch_req req = {
	    .payload = true, .touch = touch, .exptime = exptime, .order = "T"};
	enum zc_result r = zc_fetch(key, klen, &req, &tf);
	char head[ZC_KEY_MAX + 64];
	size_t hl, mark = c->wend;
	int err;
	char *p;

	if (touch) {
		ZC_STAT(c, cmd_touch);
		if (r == ZC_STORED)
			ZC_STAT(c, touch_hits);
		else
			ZC_STAT(c, touch_misses);
	} else {
		ZC_STAT(c, cmd_get);
		if (r != ZC_STORED)
			ZC_STAT(c, get_misses);
	}
	if (r != ZC_STORED)
		return;
	/* A gat answers with the item as it was and touches it: a past exptime still returns
	 * the value once, as in memcached. */
	if (with_cas)
		hl = (size_t)snprintf(head, sizeof(head),
				      "VALUE %.*s %" PRIu32 " %" PRIu32 " %" PRIu64 "\r\n",
				      (int)klen, key, tf.flags, tf.rawlen, tf.cas);
	else
		hl = (size_t)snprintf(head, sizeof(head), "VALUE %.*s %" PRIu32 " %" PRIu32 "\r\n",
				      (int)klen, key, tf.flags, tf.rawlen);
	p = zc_wb_room(c, hl + tf.rawlen + 2);
	err = p ? 0 : -ENOMEM;
	if (!err) {
		mark = c->wend;
		memcpy(p, head, hl);
		err = zc_decode(tf.codec, tf.dict, tf.buf, tf.len, p + hl, tf.rawlen);
	}
	zc_dict_put(tf.dict);
	if (err) {
		/* A value that does not decode is reported as missing, never sent damaged. */
		c->wend = mark;
		if (!touch)
			ZC_STAT(c, get_misses);
		return;
	}
	c->wend += hl + tf.rawlen;
	memcpy(c->wbuf + c->wend, "\r\n", 2);
	c->wend += 2;
	if (!touch)
		ZC_STAT(c, get_hits);
}

/*
 * Answer the keys of @keys in order, then "END".  Stops before a key once the write buffer is
 * past its soft limit and keeps the keys left in c->get_rest: a 256 KiB line naming one 1 MiB
 * value over and over would otherwise make the server buffer a reply of a hundred GiB.
 */
static void get_keys(struct zc_conn *c, const char *keys, bool with_cas, bool touch,
		     uint32_t exptime)
{
	const char *k = keys + strspn(keys, " ");

	for (; *k; k += strspn(k, " ")) {
		size_t klen = strcspn(k, " ");

		if (c->wend - c->wstart > ZC_WBUF_SOFT_LIMIT) {
			c->get_rest = strdup(k);
			if (!c->get_rest) {
				zc_reply(c, "SERVER_ERROR out of memory writing get response\r\n");
				return;
			}
			c->get_cas = with_cas;
			c->get_touch = touch;
			c->get_exptime = exptime;
			return;
		}
		emit_value(c, k, klen, with_cas, touch, exptime);
		k += klen;
	}
	zc_reply(c, "END\r\n");
}

/* get/gets/gat/gats: @keys is the rest of the line after the command (and exptime).  A key
 * too long fails the whole command before any value is sent, as in memcached. */
static void cmd_get(struct zc_conn *c, const char *keys, bool with_cas, bool touch,
		    uint32_t exptime)
{
	for (const char *k = keys + strspn(keys, " "); *k; k += strspn(k, " ")) {
		size_t klen = strcspn(k, " ");

		if (klen > ZC_KEY_MAX) {
			zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
			return;
		}
		k += klen;
	}
	get_keys(c, keys, with_cas, touch, exptime);
}

/* ---- storage ---- */

static const char *store_reply(enum zc_result r)
{
	switch (r) {
	case ZC_STORED:
		return "STORED\r\n";
	case ZC_NOT_STORED:
		return "NOT_STORED\r\n";
	case ZC_EXISTS:
		return "EXISTS\r\n";
	case ZC_NOT_FOUND:
		return "NOT_FOUND\r\n";
	case ZC_TOO_LARGE:
		return "SERVER_ERROR object too large for cache\r\n";
	case ZC_NO_MEMORY:
		break;
	}
	return "SERVER_ERROR out of memory storing object\r\n";
}

/* A set that fails leaves no older value behind, as in memcached: the client meant to replace
 * it, and a reader must not go on getting what the writer believes it overwrote. */
void zc_delete_stale(const char *key, size_t klen)
{
	zc_delete(key, klen, NULL);
}

/* Encode @val and store it with @meta's flags, expiry and options; the codec's dictionary
 * reference passes to the store. */
enum zc_result zc_encode_store(enum zc_store_mode mode, const char *key, size_t klen,
			       const struct zc_blob_in *meta, const char *val, size_t vlen,
			       uint64_t cas, uint64_t *cas_out)
{
	struct zc_blob_in in = *meta;
	long n = zc_encode(val, vlen, &in.payload, &in.codec, &in.dict);

	if (n < 0)
		return ZC_NO_MEMORY;
	in.rawlen = (uint32_t)vlen;
	in.len = (size_t)n;
	return zc_store(mode, key, klen, &in, cas, cas_out);
}

/* append/prepend: the new value is built from the current one, keeping its flags and expiry. */
static enum zc_result concat_store(struct zc_conn *c, const char *data, size_t n, bool append)
{
	for (;;) {
		struct zc_fetched *f;
		char *old;
		enum zc_result r = zc_fetch_decoded(c->pkey, c->pklen, NULL, &f, &old);
		struct zc_blob_in meta;
		size_t olen;

		if (r == ZC_NOT_FOUND)
			return ZC_NOT_STORED;
		if (r != ZC_STORED)
			return r;
		olen = f->rawlen;
		if (olen + n > zc_server.item_max)
			return ZC_TOO_LARGE;
		if (tv_reserve(olen + n))
			return ZC_NO_MEMORY;
		if (append) {
			memcpy(tvbuf + olen, data, n);
		} else {
			memmove(tvbuf + n, tvbuf, olen);
			memcpy(tvbuf, data, n);
		}
		meta = (struct zc_blob_in){
		    .flags = f->flags, .exptime = f->exptime, .key_binary = f->key_binary};
		r = zc_encode_store(ZC_CAS, c->pkey, c->pklen, &meta, tvbuf, olen + n, f->cas,
				    NULL);
		if (r != ZC_EXISTS)
			return r == ZC_NOT_FOUND ? ZC_NOT_STORED : r;
		/* Changed under us: read it again. */
	}
}

void zc_count_cas(struct zc_conn *c, enum zc_result r)
{
	if (r == ZC_STORED)
		ZC_STAT(c, cas_hits);
	else if (r == ZC_EXISTS)
		ZC_STAT(c, cas_badval);
	else if (r == ZC_NOT_FOUND)
		ZC_STAT(c, cas_misses);
}

static void complete_storage(struct zc_conn *c)
{
	const char *data = c->rbuf + c->rstart;
	size_t n = c->need - 2;
	enum zc_result r;
	int cmd = c->pending;

	c->rstart += c->need;
	c->pending = ZC_PENDING_NONE;
	if (cmd == ZC_PENDING_META) {
		zc_meta_set_complete(c, data, c->need);
		return;
	}
	c->noreply = c->pnoreply;
	ZC_STAT(c, cmd_set);
	if (data[n] != '\r' || data[n + 1] != '\n') {
		zc_reply(c, "CLIENT_ERROR bad data chunk\r\n");
		return;
	}
	switch (cmd) {
	case ZC_PENDING_APPEND:
	case ZC_PENDING_PREPEND:
		r = concat_store(c, data, n, cmd == ZC_PENDING_APPEND);
		if (r == ZC_TOO_LARGE)
			r = ZC_NOT_STORED; /* memcached: the joined value does not fit */
		break;
	default: {
		struct zc_blob_in meta = {.flags = c->pflags, .exptime = c->pexptime};

		r = zc_encode_store(cmd == ZC_PENDING_ADD	? ZC_ADD
				    : cmd == ZC_PENDING_REPLACE ? ZC_REPLACE
				    : cmd == ZC_PENDING_CAS	? ZC_CAS
								: ZC_SET,
				    c->pkey, c->pklen, &meta, data, n, c->pcas, NULL);
		if (cmd == ZC_PENDING_CAS)
			zc_count_cas(c, r);
		break;
	}
	}
	if (cmd == ZC_PENDING_SET && (r == ZC_NO_MEMORY || r == ZC_TOO_LARGE))
		zc_delete_stale(c->pkey, c->pklen);
	zc_reply(c, store_reply(r));
}

/* Discard the next @bytes + 2 bytes of input: a refused command's data block. */
static void swallow(struct zc_conn *c, int64_t bytes)
{
	c->need = (size_t)bytes + 2;
	c->pending = ZC_PENDING_SWALLOW;
}

/* set/add/replace/append/prepend key flags exptime bytes [noreply], cas ... cas [noreply] */
static void cmd_storage(struct zc_conn *c, int pending, struct zc_token *tok, size_t ntok)
{
	size_t want = pending == ZC_PENDING_CAS ? 6 : 5;
	uint32_t flags;
	int32_t exptime, bytes;
	uint64_t cas = 0;

	/* A cas without its unique ("cas k 0 0 6 ") is refused as malformed and its data
	 * swallowed, as current memcached does; ERROR would run the data as a command. */
	if (pending == ZC_PENDING_CAS && ntok == 5) {
		if (zc_parse_i32(tok[4].v, &bytes) && bytes >= 0 && bytes <= INT32_MAX - 2)
			swallow(c, bytes);
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	/* One more word is allowed and only "noreply" means anything, as in memcached. */
	if (ntok != want && ntok != want + 1) {
		zc_reply(c, "ERROR\r\n");
		return;
	}
	c->noreply = noreply_last(tok, ntok);
	if (!key_ok(&tok[1]) || !zc_parse_u32(tok[2].v, &flags) ||
	    !zc_parse_i32(tok[3].v, &exptime) || !zc_parse_i32(tok[4].v, &bytes) ||
	    (pending == ZC_PENDING_CAS && !zc_parse_u64(tok[5].v, &cas)) || bytes < 0 ||
	    bytes > INT32_MAX - 2) {
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	if ((uint64_t)bytes > zc_server.item_max) {
		ZC_STAT(c, store_too_large);
		zc_reply(c, "SERVER_ERROR object too large for cache\r\n");
		swallow(c, bytes);
		if (pending == ZC_PENDING_SET)
			zc_delete_stale(tok[1].v, tok[1].len);
		return;
	}
	c->need = (size_t)bytes + 2;
	c->pending = pending;
	c->pklen = tok[1].len;
	memcpy(c->pkey, tok[1].v, c->pklen);
	c->pflags = flags;
	c->pexptime = zc_abs_exptime(exptime);
	c->pcas = cas;
	c->pnoreply = c->noreply;
}

/* ---- the other commands ---- */

static void cmd_delete(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	/* "delete key 0" is accepted, as memcached does for old clients; no other time is. */
	if (ntok > 2) {
		bool zero = !strcmp(tok[2].v, "0");

		c->noreply = noreply_last(tok, ntok);
		if (!((ntok == 3 && (zero || c->noreply)) || (ntok == 4 && zero && c->noreply))) {
			zc_reply(c, "CLIENT_ERROR bad command line format.  "
				    "Usage: delete <key> [noreply]\r\n");
			return;
		}
	}
	if (!key_ok(&tok[1])) {
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	if (zc_delete(tok[1].v, tok[1].len, NULL) == ZC_STORED) {
		ZC_STAT(c, delete_hits);
		zc_reply(c, "DELETED\r\n");
	} else {
		ZC_STAT(c, delete_misses);
		zc_reply(c, "NOT_FOUND\r\n");
	}
}

static void cmd_arith(struct zc_conn *c, struct zc_token *tok, size_t ntok, bool incr)
{
	const char *key = tok[1].v;
	size_t klen = tok[1].len;
	uint64_t delta, v;
	char num[24]; /* 2^64 - 1 and \r\n */

	c->noreply = noreply_last(tok, ntok);
	if (!key_ok(&tok[1])) {
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	if (!zc_parse_u64(tok[2].v, &delta)) {
		zc_reply(c, "CLIENT_ERROR invalid numeric delta argument\r\n");
		return;
	}
	for (;;) {
		struct zc_fetched *f;
		char *val;
		enum zc_result r = zc_fetch_decoded(key, klen, NULL, &f, &val);
		struct zc_blob_in meta;
		size_t n;

		if (r == ZC_NOT_FOUND) {
			zc_stat_add(c, incr ? &c->stats->incr_misses : &c->stats->decr_misses, 1);
			zc_reply(c, "NOT_FOUND\r\n");
			return;
		}
		if (r != ZC_STORED) {
			zc_reply(c, "SERVER_ERROR out of memory\r\n");
			return;
		}
		if (!zc_number_value(val, f->rawlen, &v)) {
			zc_reply(
			    c, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
			return;
		}
		/* incr wraps at 2^64, decr stops at 0: memcached's rules.  The result is stored
		 * as it is, never padded to the old length. */
		v = incr ? v + delta : (delta > v ? 0 : v - delta);
		n = (size_t)snprintf(num, sizeof(num), "%" PRIu64, v);
		meta = (struct zc_blob_in){
		    .flags = f->flags, .exptime = f->exptime, .key_binary = f->key_binary};
		r = zc_encode_store(ZC_CAS, key, klen, &meta, num, n, f->cas, NULL);
		if (r == ZC_EXISTS)
			continue;
		if (r == ZC_STORED) {
			zc_stat_add(c, incr ? &c->stats->incr_hits : &c->stats->decr_hits, 1);
			memcpy(num + n, "\r\n", 3);
			zc_reply(c, num);
		} else if (r == ZC_NOT_FOUND) {
			zc_reply(c, "NOT_FOUND\r\n");
		} else {
			zc_reply(c, "SERVER_ERROR out of memory\r\n");
		}
		return;
	}
}

static void cmd_touch(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	int32_t e;

	c->noreply = noreply_last(tok, ntok);
	if (!key_ok(&tok[1])) {
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	if (!zc_parse_i32(tok[2].v, &e)) {
		zc_reply(c, "CLIENT_ERROR invalid exptime argument\r\n");
		return;
	}
	ZC_STAT(c, cmd_touch);
	if (zc_touch(tok[1].v, tok[1].len, zc_abs_exptime(e)) == ZC_STORED) {
		ZC_STAT(c, touch_hits);
		zc_reply(c, "TOUCHED\r\n");
	} else {
		ZC_STAT(c, touch_misses);
		zc_reply(c, "NOT_FOUND\r\n");
	}
}

static void cmd_flush_all(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	int32_t delay = 0;

	c->noreply = noreply_last(tok, ntok);
	ZC_STAT(c, cmd_flush);
	if (zc_server.flush_disabled) {
		zc_reply(c, "CLIENT_ERROR flush_all not allowed\r\n");
		return;
	}
	if (ntok != (c->noreply ? 2u : 1u) && !zc_parse_i32(tok[1].v, &delay)) {
		zc_reply(c, "CLIENT_ERROR invalid exptime argument\r\n");
		return;
	}
	if (delay > 0) {
		atomic_store(&flush_at, zc_abs_exptime(delay));
	} else {
		atomic_store(&flush_at, 0);
		zc_flush();
	}
	zc_reply(c, "OK\r\n");
}

/* A delayed flush_all takes effect before the first command at or after its time. */
static void run_due_flush(void)
{
	unsigned int t = atomic_load_explicit(&flush_at, memory_order_relaxed);

	if (t && zc_now() >= t && atomic_compare_exchange_strong(&flush_at, &t, 0))
		zc_flush();
}

/* Set by "verbosity N"; zcache logs nothing per command, so it is only stored and reported. */
static atomic_int verbosity;

static void cmd_verbosity(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	uint32_t level;

	c->noreply = noreply_last(tok, ntok);
	if (!zc_parse_u32(tok[1].v, &level)) {
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	atomic_store(&verbosity, level > 2 ? 2 : (int)level);
	zc_reply(c, "OK\r\n");
}

/* ---- stats ---- */

#define STATF(fmt, ...) fprintf(f, "STAT " fmt "\r\n", __VA_ARGS__)

/*
 * Memory by where it goes, for an operator to add up against the process's RSS: the pool's
 * pages and metadata, the index, everything malloc handed out (with its known parts named: the
 * dictionaries, the training sample and a training's buffers, the connections, the threads'
 * codec and fetch buffers; the rest is "other"), what malloc keeps free, the resident part of
 * the threads' stacks, and the program's resident code.
 */
static void stats_memory(FILE *f, const struct zc_store_stats *s, const struct zc_codec_stats *d)
{
	struct zs_pool_stats ps;
	struct zc_mem_stats m;
	unsigned long pool_bytes, known, other;

	zs_pool_stats(zc_server.pool, &ps);
	zc_server_mem_stats(&m);
	pool_bytes = ps.pages_used * 4096ul;
	known = d->dict_bytes + d->sample_cap + d->train_bytes + m.conn_bytes + m.thread_bytes;
	other = m.malloc_used > known ? m.malloc_used - known : 0;
	/* The sample buffers are taken whole and filled as values come: count what they hold.
	 * The index is mapped by store.c itself, outside malloc. */
	known += d->sample_resident - d->sample_cap + s->index_bytes;
	STATF("mem_pool_pages %lu", pool_bytes);
	STATF("mem_pool_meta %lu", ps.meta_bytes);
	STATF("mem_index %lu", s->index_bytes);
	STATF("mem_dicts %lu", d->dict_bytes);
	STATF("mem_samples %lu", d->sample_resident);
	STATF("mem_training %lu", d->train_bytes);
	STATF("mem_conn_buffers %lu", m.conn_bytes);
	STATF("mem_thread_buffers %lu", m.thread_bytes);
	STATF("mem_malloc_other %lu", other);
	STATF("mem_malloc_free %lu", m.malloc_free);
	STATF("mem_thread_stacks %lu", m.stack_bytes);
	STATF("mem_code %lu", m.code_bytes);
	STATF("mem_accounted %lu", pool_bytes + ps.meta_bytes + known + other + m.malloc_free +
				       m.stack_bytes + m.code_bytes);
}

static void stats_general(FILE *f)
{
	struct zc_thread_stats t;
	struct zc_store_stats s;
	struct zc_codec_stats d;
	struct rusage ru;
	uint32_t now = zc_now();
	unsigned long hp = 0;

	zc_server_sum_stats(&t);
	zc_store_stats(&s);
	zc_codec_stats(&d);
	getrusage(RUSAGE_SELF, &ru);
	while ((1ul << hp) < s.index_slots)
		hp++;
	STATF("pid %ld", (long)getpid());
	STATF("uptime %lu", (unsigned long)(now - (uint32_t)zc_server.started));
	STATF("time %" PRIu32, now);
	STATF("version %s", ZC_VERSION);
	STATF("pointer_size %zu", 8 * sizeof(void *));
	STATF("rusage_user %ld.%06ld", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
	STATF("rusage_system %ld.%06ld", (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
	STATF("max_connections %u", zc_server.max_conns);
	STATF("curr_connections %lu", atomic_load(&zc_server.curr_conns));
	STATF("total_connections %lu", atomic_load(&zc_server.total_conns));
	STATF("rejected_connections %lu", atomic_load(&zc_server.rejected_conns));
	STATF("connection_structures %lu", atomic_load(&zc_server.curr_conns));
	STATF("idle_kicks %lu", atomic_load(&zc_server.idle_kicks));
	STATF("reserved_fds %u", 16 + zc_server.threads);
	STATF("cmd_get %lu", t.cmd_get);
	STATF("cmd_set %lu", t.cmd_set);
	STATF("cmd_flush %lu", t.cmd_flush);
	STATF("cmd_touch %lu", t.cmd_touch);
	STATF("cmd_meta %lu", t.cmd_meta);
	STATF("get_hits %lu", t.get_hits);
	STATF("get_misses %lu", t.get_misses);
	STATF("get_expired %lu", s.get_expired);
	/* A flush drops the items at once, so no get ever finds one flushed. */
	STATF("get_flushed %d", 0);
	STATF("delete_misses %lu", t.delete_misses);
	STATF("delete_hits %lu", t.delete_hits);
	STATF("incr_misses %lu", t.incr_misses);
	STATF("incr_hits %lu", t.incr_hits);
	STATF("decr_misses %lu", t.decr_misses);
	STATF("decr_hits %lu", t.decr_hits);
	STATF("cas_misses %lu", t.cas_misses);
	STATF("cas_hits %lu", t.cas_hits);
	STATF("cas_badval %lu", t.cas_badval);
	STATF("touch_hits %lu", t.touch_hits);
	STATF("touch_misses %lu", t.touch_misses);
	STATF("store_too_large %lu", t.store_too_large);
	STATF("store_no_memory %lu", s.store_no_memory);
	/* No SASL or ascii authentication in zcache. */
	STATF("auth_cmds %d", 0);
	STATF("auth_errors %d", 0);
	STATF("bytes_read %lu", t.bytes_read);
	STATF("bytes_written %lu", t.bytes_written);
	STATF("limit_maxbytes %lu", zc_store_limit());
	/* The listener never stops accepting: past -c a connection is told so and closed. */
	STATF("accepting_conns %d", 1);
	STATF("listen_disabled_num %d", 0);
	STATF("time_in_listen_disabled_us %d", 0);
	STATF("threads %u", zc_server.threads);
	STATF("conn_yields %lu", t.conn_yields);
	STATF("hash_power_level %lu", hp);
	STATF("hash_bytes %lu", s.index_bytes);
	STATF("hash_is_expanding %d", 0);
	/* No slab mover, LRU crawler or maintainer: those counters of memcached's stay 0. */
	STATF("slab_reassign_rescues %d", 0);
	STATF("slab_reassign_chunk_rescues %d", 0);
	STATF("slab_reassign_evictions_nomem %d", 0);
	STATF("slab_reassign_inline_reclaim %d", 0);
	STATF("slab_reassign_busy_items %d", 0);
	STATF("slab_reassign_busy_deletes %d", 0);
	STATF("slab_reassign_running %d", 0);
	STATF("slabs_moved %d", 0);
	STATF("lru_crawler_running %d", 0);
	STATF("lru_crawler_starts %d", 0);
	STATF("lru_maintainer_juggles %d", 0);
	STATF("malloc_fails %lu", s.store_no_memory);
	STATF("log_worker_dropped %d", 0);
	STATF("log_worker_written %d", 0);
	STATF("log_watcher_skipped %d", 0);
	STATF("log_watcher_sent %d", 0);
	STATF("log_watchers %d", 0);
	STATF("unexpected_napi_ids %d", 0);
	STATF("round_robin_fallback %d", 0);
	STATF("bytes %lu", s.bytes);
	STATF("curr_items %lu", s.items);
	STATF("total_items %lu", s.total_items);
	STATF("slab_global_page_pool %d", 0);
	STATF("expired_unfetched %lu", s.expired_unfetched);
	STATF("evicted_unfetched %lu", s.evicted_unfetched);
	STATF("evicted_active %d", 0);
	STATF("evictions %lu", s.evictions);
	STATF("reclaimed %lu", s.expired);
	STATF("crawler_reclaimed %d", 0);
	STATF("crawler_items_checked %d", 0);
	STATF("lrutail_reflocked %d", 0);
	STATF("moves_to_cold %d", 0);
	STATF("moves_to_warm %d", 0);
	STATF("moves_within_lru %d", 0);
	STATF("direct_reclaims %lu", s.evictions);
	STATF("lru_bumps_dropped %d", 0);
	/* zcache's own: what the values would take raw, what they take encoded, and how. */
	STATF("item_size_max %lu", zc_server.item_max);
	STATF("value_bytes %lu", s.orig_bytes);
	STATF("blob_bytes %lu", s.blob_bytes);
	STATF("index_bytes %lu", s.index_bytes);
	STATF("index_slots %lu", s.index_slots);
	for (int k = 0; k < ZC_NR_CODECS; k++)
		STATF("items_%s %lu", zc_codec_names[k], s.by_codec[k]);
	STATF("dict_version %lu", d.dict_version);
	STATF("dict_trainings %lu", d.trainings);
	STATF("dicts_live %lu", d.dicts_live);
	STATF("dict_bytes %lu", d.dict_bytes);
	STATF("dict_sample_bytes %lu", d.sample_bytes);
	stats_memory(f, &s, &d);
	zsstat_pool(f, zc_server.pool, "zcache", s.orig_bytes, ZSSTAT_STAT);
}

static void stats_settings(FILE *f)
{
	STATF("maxbytes %lu", zc_store_limit());
	STATF("maxconns %u", zc_server.max_conns);
	STATF("tcpport %u", zc_server.port);
	STATF("udpport %d", 0);
	STATF("inter %s", zc_server.addr);
	STATF("verbosity %d", atomic_load(&verbosity));
	STATF("oldest %d", 0);
	STATF("evictions %s", zc_server.no_evict ? "off" : "on");
	STATF("domain_socket %s", "NULL");
	STATF("umask %d", 700);
	STATF("shutdown_command %s", "no");
	/* The pool's size classes: 8-byte steps from 32 bytes (libzs), not a growth factor. */
	STATF("growth_factor %s", "1.00");
	STATF("chunk_size %d", ZS_MIN_ALLOC_SIZE);
	STATF("num_threads %u", zc_server.threads);
	STATF("num_threads_per_udp %u", zc_server.threads);
	STATF("stat_key_prefix %c", ':');
	STATF("detail_enabled %s", "no");
	STATF("reqs_per_event %d", 16);
	STATF("cas_enabled %s", "yes");
	STATF("tcp_backlog %d", 1024);
	STATF("binding_protocol %s", "ascii");
	STATF("auth_enabled_sasl %s", "no");
	STATF("auth_enabled_ascii %s", "no");
	STATF("item_size_max %lu", zc_server.item_max);
	STATF("maxconns_fast %s", "yes");
	STATF("hashpower_init %d", 0);
	STATF("slab_reassign %s", "no");
	STATF("slab_automove %d", 0);
	STATF("slab_automove_ratio %s", "0.00");
	STATF("slab_automove_window %d", 0);
	STATF("slab_chunk_max %d", ZS_MAX_ALLOC_SIZE);
	STATF("lru_crawler %s", "no");
	STATF("lru_crawler_sleep %d", 0);
	STATF("lru_crawler_tocrawl %d", 0);
	STATF("tail_repair_time %d", 0);
	STATF("flush_enabled %s", zc_server.flush_disabled ? "no" : "yes");
	STATF("dump_enabled %s", "no");
	STATF("hash_algorithm %s", "zcache-mx64");
	STATF("lru_maintainer_thread %s", "no");
	STATF("lru_segmented %s", "no");
	STATF("hot_lru_pct %d", 0);
	STATF("warm_lru_pct %d", 0);
	STATF("hot_max_factor %s", "0.00");
	STATF("warm_max_factor %s", "0.00");
	STATF("temp_lru %s", "no");
	STATF("temporary_ttl %d", 0);
	STATF("idle_timeout %u", zc_server.idle_timeout);
	STATF("watcher_logbuf_size %d", 0);
	STATF("worker_logbuf_size %d", 0);
	STATF("read_buf_mem_limit %d", 0);
	STATF("track_sizes %s", "yes");
	STATF("inline_ascii_response %s", "no");
	STATF("ssl_enabled %s", "no");
	STATF("num_napi_ids %s", "(null)");
	STATF("memory_file %s", "(null)");
	STATF("client_flags_size %d", 4);
	/* zcache's own. */
	STATF("zstd_level %d", zc_server.zstd_level);
	STATF("compression %s", "raw,lz4,zstd,zstd_dict");
}

/* One class, 1, holds every item: memcached's per-slab-class table has no counterpart in a
 * pool whose objects take whatever class their compressed size falls in ("stats slabs"
 * shows those). */
static void stats_items(FILE *f)
{
	struct zc_thread_stats t;
	struct zc_store_stats s;

	zc_server_sum_stats(&t);
	zc_store_stats(&s);
	if (!s.items)
		return;
#define ITEMF(name, fmt, v) fprintf(f, "STAT items:1:" name " " fmt "\r\n", v)
	ITEMF("number", "%lu", s.items);
	ITEMF("number_hot", "%d", 0);
	ITEMF("number_warm", "%d", 0);
	ITEMF("number_cold", "%lu", s.items);
	ITEMF("age_hot", "%d", 0);
	ITEMF("age_warm", "%d", 0);
	ITEMF("age", "%lu", zc_store_oldest_age());
	ITEMF("mem_requested", "%lu", s.blob_bytes);
	ITEMF("evicted", "%lu", s.evictions);
	ITEMF("evicted_nonzero", "%lu", s.evicted_nonzero);
	ITEMF("evicted_time", "%lu", s.evicted_time);
	ITEMF("outofmemory", "%lu", s.store_no_memory);
	ITEMF("tailrepairs", "%d", 0);
	ITEMF("reclaimed", "%lu", s.expired);
	ITEMF("expired_unfetched", "%lu", s.expired_unfetched);
	ITEMF("evicted_unfetched", "%lu", s.evicted_unfetched);
	ITEMF("evicted_active", "%d", 0);
	ITEMF("crawler_reclaimed", "%d", 0);
	ITEMF("crawler_items_checked", "%d", 0);
	ITEMF("lrutail_reflocked", "%d", 0);
	ITEMF("moves_to_cold", "%d", 0);
	ITEMF("moves_to_warm", "%d", 0);
	ITEMF("moves_within_lru", "%d", 0);
	ITEMF("direct_reclaims", "%lu", s.evictions);
	ITEMF("hits_to_hot", "%d", 0);
	ITEMF("hits_to_warm", "%d", 0);
	ITEMF("hits_to_cold", "%lu", t.get_hits);
	ITEMF("hits_to_temp", "%d", 0);
#undef ITEMF
}

/* memcached's "stats sizes" layout: "STAT <size> <count>" for each 32-byte step in use, here
 * by raw value size. */
static int stats_sizes(FILE *f)
{
	size_t n = zc_server.item_max / SIZE_STEP + 2;
	unsigned long *b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	zc_store_sizes(b, n);
	for (size_t i = 0; i < n; i++)
		if (b[i])
			fprintf(f, "STAT %zu %lu\r\n", i * SIZE_STEP, b[i]);
	free(b);
	return 0;
}

/* "stats cachedump <class> <limit>": zcache's one class is 1 (see stats_items). */
static void cmd_cachedump(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	uint32_t id, lim;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (ntok < 4) {
		zc_reply(c, "CLIENT_ERROR bad command line\r\n");
		return;
	}
	if (!zc_parse_u32(tok[2].v, &id) || !zc_parse_u32(tok[3].v, &lim)) {
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	if (id >= 64) {
		zc_reply(c, "CLIENT_ERROR Illegal slab id\r\n");
		return;
	}
	f = open_memstream(&text, &len);
	if (!f) {
		zc_reply(c, "SERVER_ERROR out of memory writing stats\r\n");
		return;
	}
	if (id == 1)
		zc_store_dump(f, lim);
	fputs("END\r\n", f);
	if (fclose(f)) {
		free(text);
		zc_reply(c, "SERVER_ERROR out of memory writing stats\r\n");
		return;
	}
	wb_put(c, text, len);
	free(text);
}

static void cmd_stats(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	const char *sub = ntok >= 2 ? tok[1].v : "";
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int err = 0;

	if (ntok == 2 && !strcmp(sub, "reset")) {
		zc_server_reset_stats();
		zc_store_reset_stats();
		zc_reply(c, "RESET\r\n");
		return;
	}
	if (ntok >= 2 && !strcmp(sub, "cachedump")) {
		cmd_cachedump(c, tok, ntok);
		return;
	}
	/* "stats slabs" is memcached's name for the per-class table: clients asking it get ours. */
	if (ntok > 2 || (ntok == 2 && strcmp(sub, "classes") && strcmp(sub, "slabs") &&
			 strcmp(sub, "settings") && strcmp(sub, "items") && strcmp(sub, "sizes"))) {
		zc_reply(c, "ERROR\r\n");
		return;
	}
	f = open_memstream(&text, &len);
	if (!f) {
		zc_reply(c, "SERVER_ERROR out of memory writing stats\r\n");
		return;
	}
	if (!strcmp(sub, "settings"))
		stats_settings(f);
	else if (!strcmp(sub, "items"))
		stats_items(f);
	else if (!strcmp(sub, "sizes"))
		err = stats_sizes(f);
	else if (ntok == 2)
		zsstat_classes(f, zc_server.pool, ZSSTAT_STAT);
	else
		stats_general(f);
	fputs("END\r\n", f);
	if (fclose(f) || err) {
		free(text);
		zc_reply(c, "SERVER_ERROR out of memory writing stats\r\n");
		return;
	}
	wb_put(c, text, len);
	free(text);
}

/* ---- dispatch ---- */

/* Run one command line (NUL-terminated, without its \r\n). */
static void dispatch(struct zc_conn *c, char *line)
{
	struct zc_token tok[ZC_MAX_TOKENS];
	size_t ntok, nreal;
	char *rest, *start = line;

	while (*start == ' ')
		start++;
	/* Retrieval commands take any number of keys: they are split while walking. */
	rest = strchr(start, ' ');
	if (rest) {
		size_t cl = (size_t)(rest - start);
		bool get =
		    (cl == 3 && !memcmp(start, "get", 3)) || (cl == 4 && !memcmp(start, "gets", 4));
		bool gat =
		    (cl == 3 && !memcmp(start, "gat", 3)) || (cl == 4 && !memcmp(start, "gats", 4));
		char *e = rest + strspn(rest, " ");

		if (get && *e) {
			cmd_get(c, rest, cl == 4, false, 0);
			return;
		}
		if (gat && *e) {
			char *end = e + strcspn(e, " ");
			bool more = *end != '\0';
			int32_t exptime;

			*end = '\0';
			if (!zc_parse_i32(e, &exptime)) {
				zc_reply(c, "CLIENT_ERROR invalid exptime argument\r\n");
				return;
			}
			cmd_get(c, more ? end + 1 : end, cl == 4, true, zc_abs_exptime(exptime));
			return;
		}
	}
	nreal = tokenize(line, tok);
	if (nreal == 0 && *line) {
		/* Spaces and nothing else: malformed, as current memcached says; an empty line is
		 * an unknown command. */
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	if (nreal == 0 || tok[0].len < 2) {
		zc_reply(c, "ERROR\r\n");
		return;
	}
	const char *cmd = tok[0].v;

	/* Word counts as memcached checks them: a line of more words than it splits fails
	 * every count (its rest is in tok[nreal].v). */
	ntok = tok[nreal].v ? ZC_MAX_TOKENS : nreal;
	if (cmd[0] == 'm' && tok[0].len == 2)
		zc_meta_command(c, tok, ntok);
	else if ((!strcmp(cmd, "set") || !strcmp(cmd, "add") || !strcmp(cmd, "replace") ||
		  !strcmp(cmd, "append") || !strcmp(cmd, "prepend") || !strcmp(cmd, "cas")))
		cmd_storage(c,
			    !strcmp(cmd, "set")	      ? ZC_PENDING_SET
			    : !strcmp(cmd, "add")     ? ZC_PENDING_ADD
			    : !strcmp(cmd, "replace") ? ZC_PENDING_REPLACE
			    : !strcmp(cmd, "append")  ? ZC_PENDING_APPEND
			    : !strcmp(cmd, "prepend") ? ZC_PENDING_PREPEND
						      : ZC_PENDING_CAS,
			    tok, ntok);
	else if (!strcmp(cmd, "get") || !strcmp(cmd, "gets") || !strcmp(cmd, "gat") ||
		 !strcmp(cmd, "gats"))
		/* Without keys: "get" alone is an error, "gat 10" answers nothing, END. */
		zc_reply(c, ntok >= 2 ? "END\r\n" : "ERROR\r\n");
	else if (!strcmp(cmd, "delete") && ntok >= 2 && ntok <= 4)
		cmd_delete(c, tok, ntok);
	else if ((!strcmp(cmd, "incr") || !strcmp(cmd, "decr")) && (ntok == 3 || ntok == 4))
		cmd_arith(c, tok, ntok, cmd[0] == 'i');
	else if (!strcmp(cmd, "touch") && (ntok == 3 || ntok == 4))
		cmd_touch(c, tok, ntok);
	else if (!strcmp(cmd, "flush_all") && ntok <= 3)
		cmd_flush_all(c, tok, ntok);
	else if (!strcmp(cmd, "stats"))
		cmd_stats(c, tok, ntok);
	else if (!strcmp(cmd, "verbosity") && (ntok == 2 || ntok == 3))
		cmd_verbosity(c, tok, ntok);
	else if (!strcmp(cmd, "version"))
		zc_reply(c, "VERSION " ZC_VERSION "\r\n");
	else if (!strcmp(cmd, "quit"))
		c->closing = true;
	else if (!strncmp(tok[nreal - 1].v, "HTTP/", 5))
		/* An HTTP request sent to a cache port (a browser, or a cross-protocol attack):
		 * hang up without a word. */
		c->closing = true;
	else
		zc_reply(c, "ERROR\r\n");
}

static bool is_retrieval(const char *p, size_t n)
{
	return (n >= 4 && !memcmp(p, "get ", 4)) || (n >= 5 && !memcmp(p, "gets ", 5));
}

/* A line with no newline yet: whether to go on reading it. */
static bool line_may_grow(const char *line, size_t avail)
{
	size_t lead = 0;

	if (avail <= LINE_MAX_CMD)
		return true;
	while (lead < avail && line[lead] == ' ')
		lead++;
	if (lead > LINE_MAX_LEAD || !is_retrieval(line + lead, avail - lead))
		return false;
	return avail <= LINE_MAX_GET;
}

int zc_conn_process(struct zc_conn *c)
{
	while (!c->closing) {
		size_t avail = c->rend - c->rstart;
		char *line, *nl;
		size_t len;

		if (c->wend - c->wstart > ZC_WBUF_SOFT_LIMIT)
			return 1;
		c->noreply = false;
		if (c->get_rest) {
			char *keys = c->get_rest;

			c->get_rest = NULL;
			get_keys(c, keys, c->get_cas, c->get_touch, c->get_exptime);
			free(keys);
			continue;
		}
		if (c->pending == ZC_PENDING_SWALLOW) {
			size_t take = avail < c->need ? avail : c->need;

			c->rstart += take;
			c->need -= take;
			if (c->need)
				return 0;
			c->pending = ZC_PENDING_NONE;
			continue;
		}
		if (c->pending) {
			if (avail < c->need)
				return 0;
			run_due_flush();
			complete_storage(c);
			continue;
		}
		if (!avail)
			return 0;
		line = c->rbuf + c->rstart;
		nl = memchr(line, '\n', avail);
		if (!nl) {
			if (!line_may_grow(line, avail)) {
				/* memcached hangs up on a long line that is no multi-get; a
				 * multi-get past our bound is told why. */
				if (avail > LINE_MAX_GET)
					zc_reply(c, "CLIENT_ERROR line too long\r\n");
				c->closing = true;
			}
			return c->closing ? -1 : 0;
		}
		len = (size_t)(nl - line);
		c->rstart += len + 1;
		if (len > LINE_MAX_GET) {
			zc_reply(c, "CLIENT_ERROR line too long\r\n");
			c->closing = true;
			break;
		}
		if (len && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		/* A NUL inside the line would cut it short silently: refuse it instead. */
		if (strlen(line) != len) {
			zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
			continue;
		}
		run_due_flush();
		dispatch(c, line);
	}
	return c->closing ? -1 : 0;
}
