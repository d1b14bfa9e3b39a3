/*
 * proto.c - the memcached text protocol over zcache's store and codec: reads commands from a
 * connection's read buffer and appends replies to its write buffer.  No socket calls here.
 *
 * Errors are memcached's: "ERROR" for an unknown command or a wrong number of arguments,
 * "CLIENT_ERROR <why>" for a malformed one (the connection stays usable, except after a line
 * too long to be a command), "SERVER_ERROR <why>" when the server cannot do it.
 *
 * Read-modify-write commands (append, prepend, incr, decr) fetch the item, compute the new
 * value outside every lock and store it only if the item's cas unique is still the one they
 * read, retrying otherwise, so they stay atomic without holding a lock while compressing.
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

/* memcached's limit for a command line, and ours for retrieval lines, which carry many keys. */
#define LINE_MAX_CMD 2048
#define LINE_MAX_GET (256u << 10)
#define MAX_TOKENS   8
/* Relative expiration times are at most 30 days; larger ones are unix times. */
#define REALTIME_MAXDELTA (60 * 60 * 24 * 30)

enum pending {
	PENDING_NONE,
	PENDING_SET,
	PENDING_ADD,
	PENDING_REPLACE,
	PENDING_APPEND,
	PENDING_PREPEND,
	PENDING_CAS,
	PENDING_SWALLOW, /* a refused data block being discarded */
};

static atomic_uint flush_at; /* a delayed flush_all's time, 0: none */

/* Per-thread buffers for fetched values and read-modify-write results. */
static __thread struct zc_fetched tf;
static __thread char *tvbuf;
static __thread size_t tvcap;

#define STAT_ADD(c, field, n)                                                                      \
	__atomic_store_n(&(c)->stats->field,                                                       \
			 __atomic_load_n(&(c)->stats->field, __ATOMIC_RELAXED) + (n),              \
			 __ATOMIC_RELAXED)

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
	c->wbuf = p;
	c->wcap = cap;
	return 0;
}

static void wb_put(struct zc_conn *c, const char *s, size_t n)
{
	if (wb_reserve(c, n)) {
		/* Nothing sensible can be said to this client any more. */
		c->closing = true;
		return;
	}
	memcpy(c->wbuf + c->wend, s, n);
	c->wend += n;
}

static void reply(struct zc_conn *c, const char *s)
{
	if (!c->noreply)
		wb_put(c, s, strlen(s));
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
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

void zc_conn_release(struct zc_conn *c)
{
	free(c->rbuf);
	free(c->wbuf);
	free(c->get_rest);
	c->get_rest = NULL;
	c->rbuf = c->wbuf = NULL;
	c->rcap = c->wcap = 0;
}

size_t zc_conn_want(const struct zc_conn *c)
{
	size_t have = c->rend - c->rstart;

	if (c->pending && c->pending != PENDING_SWALLOW && c->need > have)
		return c->need - have;
	return 0;
}

/* ---- parsing ---- */

static bool parse_u64(const char *s, uint64_t *v)
{
	uint64_t r = 0;

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

static bool parse_u32(const char *s, uint32_t *v)
{
	uint64_t r;

	if (!parse_u64(s, &r) || r > UINT32_MAX)
		return false;
	*v = (uint32_t)r;
	return true;
}

static bool parse_i64(const char *s, int64_t *v)
{
	uint64_t r;
	bool neg = *s == '-';

	if (!parse_u64(s + neg, &r) || r > (uint64_t)INT64_MAX)
		return false;
	*v = neg ? -(int64_t)r : (int64_t)r;
	return true;
}

/* memcached's expiration time: 0 never, negative already expired, up to 30 days relative,
 * beyond that a unix time. */
static uint32_t abs_exptime(int64_t e)
{
	if (e == 0)
		return 0;
	if (e < 0)
		return 1;
	if (e <= REALTIME_MAXDELTA)
		return zc_now() + (uint32_t)e;
	return e > UINT32_MAX ? UINT32_MAX : (uint32_t)e;
}

static size_t tokenize(char *line, char **tok, size_t max)
{
	size_t n = 0;

	while (*line) {
		while (*line == ' ')
			line++;
		if (!*line)
			break;
		if (n == max)
			return max + 1;
		tok[n++] = line;
		while (*line && *line != ' ')
			line++;
		if (*line)
			*line++ = '\0';
	}
	return n;
}

static bool key_ok(const char *k)
{
	return strlen(k) <= ZC_KEY_MAX;
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

/* Fetch @key into tvbuf, decoded; tf holds its flags, cas and expiry. */
static enum zc_result fetch_value(const char *key, size_t klen)
{
	enum zc_result r = zc_fetch(key, klen, &tf);
	int err;

	if (r != ZC_STORED)
		return r;
	err = tv_reserve(tf.rawlen + 1);
	if (!err)
		err = zc_decode(tf.codec, tf.dict, tf.buf, tf.len, tvbuf, tf.rawlen);
	zc_dict_put(tf.dict);
	return err ? ZC_NO_MEMORY : ZC_STORED;
}

static void emit_value(struct zc_conn *c, const char *key, size_t klen, bool with_cas)
{
	enum zc_result r = zc_fetch(key, klen, &tf);
	char head[ZC_KEY_MAX + 64];
	size_t hl, mark = c->wend;
	int err;

	STAT_ADD(c, cmd_get, 1);
	if (r != ZC_STORED) {
		STAT_ADD(c, get_misses, 1);
		return;
	}
	if (with_cas)
		hl = (size_t)snprintf(head, sizeof(head),
				      "VALUE %.*s %" PRIu32 " %" PRIu32 " %" PRIu64 "\r\n",
				      (int)klen, key, tf.flags, tf.rawlen, tf.cas);
	else
		hl = (size_t)snprintf(head, sizeof(head), "VALUE %.*s %" PRIu32 " %" PRIu32 "\r\n",
				      (int)klen, key, tf.flags, tf.rawlen);
	err = wb_reserve(c, hl + tf.rawlen + 2);
	if (!err) {
		mark = c->wend;
		memcpy(c->wbuf + c->wend, head, hl);
		err =
		    zc_decode(tf.codec, tf.dict, tf.buf, tf.len, c->wbuf + c->wend + hl, tf.rawlen);
	}
	zc_dict_put(tf.dict);
	if (err) {
		/* A value that does not decode is reported as missing, never sent damaged. */
		c->wend = mark;
		STAT_ADD(c, get_misses, 1);
		return;
	}
	c->wend += hl + tf.rawlen;
	memcpy(c->wbuf + c->wend, "\r\n", 2);
	c->wend += 2;
	STAT_ADD(c, get_hits, 1);
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
				reply(c, "SERVER_ERROR out of memory\r\n");
				return;
			}
			c->get_cas = with_cas;
			c->get_touch = touch;
			c->get_exptime = exptime;
			return;
		}
		/* gat answers with the item as it was, then touches it: a past exptime still
		 * returns the value once, as in memcached. */
		emit_value(c, k, klen, with_cas);
		if (touch) {
			STAT_ADD(c, cmd_touch, 1);
			if (zc_touch(k, klen, exptime) == ZC_STORED)
				STAT_ADD(c, touch_hits, 1);
			else
				STAT_ADD(c, touch_misses, 1);
		}
		k += klen;
	}
	reply(c, "END\r\n");
}

/* get/gets/gat/gats: @keys is the rest of the line after the command (and exptime).  A key
 * too long fails the whole command before any value is sent, as in memcached. */
static void cmd_get(struct zc_conn *c, const char *keys, bool with_cas, bool touch,
		    uint32_t exptime)
{
	const char *k = keys + strspn(keys, " ");

	if (!*k) {
		reply(c, "ERROR\r\n");
		return;
	}
	for (; *k; k += strspn(k, " ")) {
		size_t klen = strcspn(k, " ");

		if (klen > ZC_KEY_MAX) {
			reply(c, "CLIENT_ERROR bad command line format\r\n");
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
	case ZC_NO_MEMORY:
		break;
	}
	return "SERVER_ERROR out of memory storing object\r\n";
}

/* A set that fails leaves no older value behind, as in memcached: the client meant to replace
 * it, and a reader must not go on getting what the writer believes it overwrote. */
static void drop_stale(const char *key, size_t klen)
{
	zc_delete(key, klen);
}

/* Encode @val and store it; the codec's dictionary reference passes to the store. */
static enum zc_result encode_store(enum zc_store_mode mode, const char *key, size_t klen,
				   uint32_t flags, uint32_t exptime, const char *val, size_t vlen,
				   uint64_t cas)
{
	struct zc_blob_in in = {.flags = flags, .exptime = exptime, .rawlen = (uint32_t)vlen};
	long n = zc_encode(val, vlen, &in.payload, &in.codec, &in.dict);

	if (n < 0)
		return ZC_NO_MEMORY;
	in.len = (size_t)n;
	return zc_store(mode, key, klen, &in, cas, NULL);
}

/* append/prepend: the new value is built from the current one, keeping its flags and expiry. */
static enum zc_result concat_store(struct zc_conn *c, const char *data, size_t n, bool append)
{
	for (;;) {
		enum zc_result r = fetch_value(c->pkey, c->pklen);
		size_t old;

		if (r == ZC_NOT_FOUND)
			return ZC_NOT_STORED;
		if (r != ZC_STORED)
			return r;
		old = tf.rawlen;
		if (old + n > zc_server.item_max)
			return ZC_NOT_STORED;
		if (tv_reserve(old + n))
			return ZC_NO_MEMORY;
		if (append) {
			memcpy(tvbuf + old, data, n);
		} else {
			memmove(tvbuf + n, tvbuf, old);
			memcpy(tvbuf, data, n);
		}
		r = encode_store(ZC_CAS, c->pkey, c->pklen, tf.flags, tf.exptime, tvbuf, old + n,
				 tf.cas);
		if (r != ZC_EXISTS)
			return r == ZC_NOT_FOUND ? ZC_NOT_STORED : r;
		/* Changed under us: read it again. */
	}
}

static void complete_storage(struct zc_conn *c)
{
	const char *data = c->rbuf + c->rstart;
	size_t n = c->need - 2;
	enum zc_result r;
	int cmd = c->pending;

	c->rstart += c->need;
	c->pending = PENDING_NONE;
	c->noreply = c->pnoreply;
	STAT_ADD(c, cmd_set, 1);
	if (data[n] != '\r' || data[n + 1] != '\n') {
		reply(c, "CLIENT_ERROR bad data chunk\r\n");
		return;
	}
	switch (cmd) {
	case PENDING_APPEND:
	case PENDING_PREPEND:
		r = concat_store(c, data, n, cmd == PENDING_APPEND);
		break;
	default:
		r = encode_store(cmd == PENDING_ADD	  ? ZC_ADD
				 : cmd == PENDING_REPLACE ? ZC_REPLACE
				 : cmd == PENDING_CAS	  ? ZC_CAS
							  : ZC_SET,
				 c->pkey, c->pklen, c->pflags, c->pexptime, data, n, c->pcas);
		if (cmd == PENDING_CAS) {
			if (r == ZC_STORED)
				STAT_ADD(c, cas_hits, 1);
			else if (r == ZC_EXISTS)
				STAT_ADD(c, cas_badval, 1);
			else if (r == ZC_NOT_FOUND)
				STAT_ADD(c, cas_misses, 1);
		}
		break;
	}
	if (cmd == PENDING_SET && r == ZC_NO_MEMORY)
		drop_stale(c->pkey, c->pklen);
	reply(c, store_reply(r));
}

/* Whether "noreply" is the last of @ntok tokens, at @at.  A command that has it sends nothing
 * back once its arguments are counted right, not even an error, as memcached: the client
 * reads no reply, and one it did not expect would answer its next command. */
static bool noreply_at(char **tok, size_t ntok, size_t at)
{
	return ntok == at + 1 && !strcmp(tok[at], "noreply");
}

/* set/add/replace/append/prepend key flags exptime bytes [noreply], cas ... cas [noreply] */
static void cmd_storage(struct zc_conn *c, int pending, char **tok, size_t ntok)
{
	size_t want = pending == PENDING_CAS ? 6 : 5;
	uint32_t flags;
	int64_t exptime, bytes;
	uint64_t cas = 0;

	/* One more token is allowed and only "noreply" means anything, as in memcached: refusing
	 * the line would leave its data block to be read as a command. */
	if (ntok != want && ntok != want + 1) {
		reply(c, "ERROR\r\n");
		return;
	}
	c->noreply = noreply_at(tok, ntok, want);
	if (!key_ok(tok[1]) || !parse_u32(tok[2], &flags) || !parse_i64(tok[3], &exptime) ||
	    !parse_i64(tok[4], &bytes) || bytes < 0 || bytes > INT32_MAX - 2 ||
	    (pending == PENDING_CAS && !parse_u64(tok[5], &cas))) {
		reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	c->need = (size_t)bytes + 2;
	if ((uint64_t)bytes > zc_server.item_max) {
		reply(c, "SERVER_ERROR object too large for cache\r\n");
		c->pending = PENDING_SWALLOW;
		if (pending == PENDING_SET)
			drop_stale(tok[1], strlen(tok[1]));
		return;
	}
	c->pending = pending;
	c->pklen = strlen(tok[1]);
	memcpy(c->pkey, tok[1], c->pklen);
	c->pflags = flags;
	c->pexptime = abs_exptime(exptime);
	c->pcas = cas;
	c->pnoreply = c->noreply;
}

/* ---- the other commands ---- */

static void cmd_delete(struct zc_conn *c, char **tok, size_t ntok)
{
	size_t args;

	c->noreply = noreply_at(tok, ntok, ntok - 1);
	args = ntok - c->noreply;

	/* "delete key 0" is accepted, as memcached does for old clients; no other time is. */
	if (args > 3 || (args == 3 && strcmp(tok[2], "0"))) {
		reply(c,
		      "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
		return;
	}
	if (!key_ok(tok[1])) {
		reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	if (zc_delete(tok[1], strlen(tok[1])) == ZC_STORED) {
		STAT_ADD(c, delete_hits, 1);
		reply(c, "DELETED\r\n");
	} else {
		STAT_ADD(c, delete_misses, 1);
		reply(c, "NOT_FOUND\r\n");
	}
}

static void cmd_arith(struct zc_conn *c, char **tok, size_t ntok, bool incr)
{
	bool noreply = noreply_at(tok, ntok, 3);
	const char *key = tok[1];
	size_t klen = strlen(key);
	uint64_t delta, v;
	char num[24]; /* 2^64 - 1 and \r\n */

	if (ntok != 3 + (size_t)noreply) {
		reply(c, "ERROR\r\n");
		return;
	}
	c->noreply = noreply;
	if (!key_ok(key)) {
		reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	if (!parse_u64(tok[2], &delta)) {
		reply(c, "CLIENT_ERROR invalid numeric delta argument\r\n");
		return;
	}
	for (;;) {
		enum zc_result r = fetch_value(key, klen);
		size_t n;

		if (r == ZC_NOT_FOUND) {
			if (incr)
				STAT_ADD(c, incr_misses, 1);
			else
				STAT_ADD(c, decr_misses, 1);
			reply(c, "NOT_FOUND\r\n");
			return;
		}
		if (r != ZC_STORED) {
			reply(c, store_reply(r));
			return;
		}
		tvbuf[tf.rawlen] = '\0';
		if (tf.rawlen > 20 || !parse_u64(tvbuf, &v)) {
			reply(c,
			      "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
			return;
		}
		/* incr wraps at 2^64, decr stops at 0: memcached's rules. */
		v = incr ? v + delta : (delta > v ? 0 : v - delta);
		n = (size_t)snprintf(num, sizeof(num), "%" PRIu64, v);
		r = encode_store(ZC_CAS, key, klen, tf.flags, tf.exptime, num, n, tf.cas);
		if (r == ZC_EXISTS)
			continue;
		if (r == ZC_STORED) {
			if (incr)
				STAT_ADD(c, incr_hits, 1);
			else
				STAT_ADD(c, decr_hits, 1);
			memcpy(num + n, "\r\n", 3);
			reply(c, num);
		} else if (r == ZC_NOT_FOUND) {
			reply(c, "NOT_FOUND\r\n");
		} else {
			reply(c, store_reply(r));
		}
		return;
	}
}

static void cmd_touch(struct zc_conn *c, char **tok, size_t ntok)
{
	bool noreply = noreply_at(tok, ntok, 3);
	int64_t e;

	if (ntok != 3 + (size_t)noreply) {
		reply(c, "ERROR\r\n");
		return;
	}
	c->noreply = noreply;
	if (!key_ok(tok[1]) || !parse_i64(tok[2], &e)) {
		reply(c, "CLIENT_ERROR invalid exptime argument\r\n");
		return;
	}
	STAT_ADD(c, cmd_touch, 1);
	if (zc_touch(tok[1], strlen(tok[1]), abs_exptime(e)) == ZC_STORED) {
		STAT_ADD(c, touch_hits, 1);
		reply(c, "TOUCHED\r\n");
	} else {
		STAT_ADD(c, touch_misses, 1);
		reply(c, "NOT_FOUND\r\n");
	}
}

static void cmd_flush_all(struct zc_conn *c, char **tok, size_t ntok)
{
	bool noreply = noreply_at(tok, ntok, ntok - 1);
	size_t args = ntok - noreply;
	int64_t delay = 0;

	if (args > 2) {
		reply(c, "ERROR\r\n");
		return;
	}
	c->noreply = noreply;
	if (args == 2 && !parse_i64(tok[1], &delay)) {
		reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	STAT_ADD(c, cmd_flush, 1);
	if (delay > 0) {
		atomic_store(&flush_at, abs_exptime(delay));
	} else {
		atomic_store(&flush_at, 0);
		zc_flush();
	}
	reply(c, "OK\r\n");
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

static void cmd_verbosity(struct zc_conn *c, char **tok, size_t ntok)
{
	int64_t level;

	if (ntok != 2 && !noreply_at(tok, ntok, 2)) {
		reply(c, "ERROR\r\n");
		return;
	}
	c->noreply = ntok == 3;
	if (!parse_i64(tok[1], &level) || level < 0 || level > INT_MAX) {
		reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	atomic_store(&verbosity, (int)level);
	reply(c, "OK\r\n");
}

#define STATF(fmt, ...) fprintf(f, "STAT " fmt "\r\n", __VA_ARGS__)

static void cmd_stats(struct zc_conn *c, char **tok, size_t ntok)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	/* "stats slabs" is memcached's name for the per-class table: clients asking it get ours. */
	if (ntok > 2 || (ntok == 2 && strcmp(tok[1], "classes") && strcmp(tok[1], "slabs") &&
			 strcmp(tok[1], "settings"))) {
		reply(c, "ERROR\r\n");
		return;
	}
	f = open_memstream(&text, &len);
	if (!f) {
		reply(c, "SERVER_ERROR out of memory\r\n");
		return;
	}
	if (ntok == 2 && !strcmp(tok[1], "settings")) {
		STATF("maxbytes %lu", zc_store_limit());
		STATF("maxconns %u", zc_server.max_conns);
		STATF("num_threads %u", zc_server.threads);
		STATF("item_size_max %lu", zc_server.item_max);
		STATF("evictions %s", "on");
		STATF("cas_enabled %s", "yes");
		STATF("verbosity %d", atomic_load(&verbosity));
	} else if (ntok == 2) {
		zsstat_classes(f, zc_server.pool, ZSSTAT_STAT);
	} else {
		struct zc_thread_stats t;
		struct zc_store_stats s;
		struct zc_codec_stats d;
		struct rusage ru;
		uint32_t now = zc_now();

		zc_server_sum_stats(&t);
		zc_store_stats(&s);
		zc_codec_stats(&d);
		getrusage(RUSAGE_SELF, &ru);
		STATF("pid %ld", (long)getpid());
		STATF("uptime %lu", (unsigned long)(now - (uint32_t)zc_server.started));
		STATF("time %" PRIu32, now);
		STATF("version %s", ZC_VERSION);
		STATF("pointer_size %zu", 8 * sizeof(void *));
		STATF("rusage_user %ld.%06ld", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
		STATF("rusage_system %ld.%06ld", (long)ru.ru_stime.tv_sec,
		      (long)ru.ru_stime.tv_usec);
		STATF("max_connections %u", zc_server.max_conns);
		STATF("curr_connections %lu", atomic_load(&zc_server.curr_conns));
		STATF("total_connections %lu", atomic_load(&zc_server.total_conns));
		STATF("rejected_connections %lu", atomic_load(&zc_server.rejected_conns));
		STATF("cmd_get %lu", t.cmd_get);
		STATF("cmd_set %lu", t.cmd_set);
		STATF("cmd_flush %lu", t.cmd_flush);
		STATF("cmd_touch %lu", t.cmd_touch);
		STATF("get_hits %lu", t.get_hits);
		STATF("get_misses %lu", t.get_misses);
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
		STATF("bytes_read %lu", t.bytes_read);
		STATF("bytes_written %lu", t.bytes_written);
		STATF("limit_maxbytes %lu", zc_store_limit());
		STATF("threads %u", zc_server.threads);
		STATF("item_size_max %lu", zc_server.item_max);
		STATF("bytes %lu", s.bytes);
		STATF("curr_items %lu", s.items);
		STATF("total_items %lu", s.total_items);
		STATF("evictions %lu", s.evictions);
		STATF("reclaimed %lu", s.expired);
		/* zcache's own: what the values would take raw, what they take encoded, and how. */
		STATF("value_bytes %lu", s.orig_bytes);
		STATF("blob_bytes %lu", s.blob_bytes);
		STATF("index_bytes %lu", s.index_bytes);
		for (int k = 0; k < ZC_NR_CODECS; k++)
			STATF("items_%s %lu", zc_codec_names[k], s.by_codec[k]);
		STATF("dict_version %lu", d.dict_version);
		STATF("dict_trainings %lu", d.trainings);
		STATF("dicts_live %lu", d.dicts_live);
		STATF("dict_bytes %lu", d.dict_bytes);
		STATF("dict_sample_bytes %lu", d.sample_bytes);
		zsstat_pool(f, zc_server.pool, "zcache", s.orig_bytes, ZSSTAT_STAT);
	}
	fputs("END\r\n", f);
	if (fclose(f)) {
		free(text);
		reply(c, "SERVER_ERROR out of memory\r\n");
		return;
	}
	wb_put(c, text, len);
	free(text);
}

/* Run one command line (NUL-terminated, without its \r\n). */
static void dispatch(struct zc_conn *c, char *line)
{
	char *tok[MAX_TOKENS];
	size_t ntok;
	char *rest;

	while (*line == ' ')
		line++;
	/* Retrieval commands take any number of keys: split them while walking. */
	rest = strchr(line, ' ');
	if (rest) {
		size_t cl = (size_t)(rest - line);

		if ((cl == 3 && !memcmp(line, "get", 3)) || (cl == 4 && !memcmp(line, "gets", 4))) {
			cmd_get(c, rest, cl == 4, false, 0);
			return;
		}
		if ((cl == 3 && !memcmp(line, "gat", 3)) || (cl == 4 && !memcmp(line, "gats", 4))) {
			char *e = rest + strspn(rest, " "), *end = e + strcspn(e, " ");
			bool had_keys = *end != '\0';
			int64_t exptime;

			*end = '\0';
			if (!had_keys) {
				reply(c, "ERROR\r\n");
				return;
			}
			if (!parse_i64(e, &exptime)) {
				reply(c, "CLIENT_ERROR invalid exptime argument\r\n");
				return;
			}
			cmd_get(c, end + 1, cl == 4, true, abs_exptime(exptime));
			return;
		}
	}
	ntok = tokenize(line, tok, MAX_TOKENS);
	if (ntok == 0 || ntok > MAX_TOKENS) {
		reply(c, "ERROR\r\n");
		return;
	}
	if (!strcmp(tok[0], "set") && ntok >= 5)
		cmd_storage(c, PENDING_SET, tok, ntok);
	else if (!strcmp(tok[0], "add") && ntok >= 5)
		cmd_storage(c, PENDING_ADD, tok, ntok);
	else if (!strcmp(tok[0], "replace") && ntok >= 5)
		cmd_storage(c, PENDING_REPLACE, tok, ntok);
	else if (!strcmp(tok[0], "append") && ntok >= 5)
		cmd_storage(c, PENDING_APPEND, tok, ntok);
	else if (!strcmp(tok[0], "prepend") && ntok >= 5)
		cmd_storage(c, PENDING_PREPEND, tok, ntok);
	else if (!strcmp(tok[0], "cas") && ntok >= 6)
		cmd_storage(c, PENDING_CAS, tok, ntok);
	else if (!strcmp(tok[0], "delete") && ntok >= 2)
		cmd_delete(c, tok, ntok);
	else if (!strcmp(tok[0], "incr") && ntok >= 3)
		cmd_arith(c, tok, ntok, true);
	else if (!strcmp(tok[0], "decr") && ntok >= 3)
		cmd_arith(c, tok, ntok, false);
	else if (!strcmp(tok[0], "touch") && ntok >= 3)
		cmd_touch(c, tok, ntok);
	else if (!strcmp(tok[0], "flush_all"))
		cmd_flush_all(c, tok, ntok);
	else if (!strcmp(tok[0], "stats"))
		cmd_stats(c, tok, ntok);
	else if (!strcmp(tok[0], "verbosity") && ntok >= 2)
		cmd_verbosity(c, tok, ntok);
	else if (!strcmp(tok[0], "version") && ntok == 1)
		reply(c, "VERSION " ZC_VERSION "\r\n");
	else if (!strcmp(tok[0], "quit") && ntok == 1)
		c->closing = true;
	else
		reply(c, "ERROR\r\n");
}

static bool is_retrieval(const char *p, size_t n)
{
	return (n >= 4 && (!memcmp(p, "get ", 4) || !memcmp(p, "gat ", 4))) ||
	       (n >= 5 && (!memcmp(p, "gets ", 5) || !memcmp(p, "gats ", 5)));
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
		if (c->pending == PENDING_SWALLOW) {
			size_t take = avail < c->need ? avail : c->need;

			c->rstart += take;
			c->need -= take;
			if (c->need)
				return 0;
			c->pending = PENDING_NONE;
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
			if (avail > (is_retrieval(line, avail) ? LINE_MAX_GET : LINE_MAX_CMD)) {
				reply(c, "CLIENT_ERROR line too long\r\n");
				c->closing = true;
			}
			return c->closing ? -1 : 0;
		}
		len = (size_t)(nl - line);
		c->rstart += len + 1;
		if (len > (is_retrieval(line, len) ? LINE_MAX_GET : LINE_MAX_CMD)) {
			reply(c, "CLIENT_ERROR line too long\r\n");
			c->closing = true;
			break;
		}
		if (len && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		/* A NUL inside the line would cut it short silently: refuse it instead. */
		if (strlen(line) != len) {
			reply(c, "CLIENT_ERROR bad command line format\r\n");
			continue;
		}
		run_due_flush();
		dispatch(c, line);
	}
	return c->closing ? -1 : 0;
}
