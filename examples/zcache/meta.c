/*
 * meta.c - memcached's meta protocol (doc/protocol.txt of memcached 1.6, "Meta Commands"):
 *
 *   mg <key> <flags>*               get, with what to return and what to change
 *   ms <key> <datalen> <flags>*     set in one of five modes, with cas and invalidation
 *   md <key> <flags>*               delete, or mark stale, or empty
 *   ma <key> <flags>*               incr/decr, creating on a miss if asked
 *   mn                              "MN": the end of a pipeline of quiet commands
 *   me <key> [b]                    the item's metadata, for people
 *
 * A flag is one character, maybe followed by a token ("T30", "Oabc"); return flags come back
 * in the order they were asked for.  Parsing and replies follow memcached 1.6.18 (Debian's),
 * checked byte for byte by examples/zcache/test_differential.py, including its error strings, the
 * order in which the flags of one request apply (mg "T30 t" shows the new TTL, "t T30" the old)
 * and quiet mode: with q, mg says nothing on a miss, and ms, md and ma nothing on success.
 * Newer than 1.6.18 and implemented from the spec: E (set the cas), md x (empty the value),
 * ms s (the size stored), ms N (append creating on a miss), mg C (no value if the cas is
 * still that one).
 *
 * Everything an item holds comes from store.c (flags, cas, expiry, hit and access time, the
 * stale and token bits), its value from proto.c's shared fetch and encode helpers.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zs/zsmalloc.h>

#include "zcache.h"

/* memcached's bounds: words on a meta line (the command and key included, and one more for
 * its tokenizer's end marker), and an opaque token's length. */
#define MFLAG_MAX_WORDS	 20
#define MFLAG_MAX_OPAQUE 32
#define B64_KEY_MAX	 ((ZC_KEY_MAX + 2) / 3 * 4)

/* The parsed flags of one meta command. */
struct mflags {
	bool value, no_update, noreply, key_binary, invalidate, remove_value;
	bool has_cas, has_set_cas, has_ttl, has_delta, vivify, recache;
	uint64_t cas, set_cas, delta, initial;
	int32_t ttl, vivify_ttl, recache_ttl;
	uint32_t flags;
	char mode;
	char order[4]; /* T, N and R in request order */
};

/* What a meta set keeps while its data block arrives. */
struct zc_meta_set {
	struct mflags of;
	char key[ZC_KEY_MAX + 1];
	size_t klen;
	enum zc_store_mode mode;
	bool append, prepend;
	size_t nret;
	char ret[]; /* the request's flag words, NUL-separated, for the reply */
};

/* ---- base64, for binary keys ("b") ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char ch)
{
	const char *p = ch ? strchr(b64_alphabet, ch) : NULL;

	return p ? (int)(p - b64_alphabet) : ch == '=' ? 0 : -1;
}

/* Decode @n bytes of @src into @dst (at most @cap bytes); characters outside the alphabet are
 * skipped and padding ends the input, as memcached decodes.  Returns the length, 0 if invalid. */
static size_t b64_decode(const char *src, size_t n, unsigned char *dst, size_t cap)
{
	size_t count = 0, out = 0;
	unsigned char block[4];
	int pad = 0;

	for (size_t i = 0; i < n; i++)
		count += b64_value((unsigned char)src[i]) >= 0;
	if (!count || count % 4 || count / 4 * 3 > cap)
		return 0;
	count = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)src[i]);

		if (v < 0)
			continue;
		pad += src[i] == '=';
		block[count++] = (unsigned char)v;
		if (count < 4)
			continue;
		dst[out++] = (unsigned char)(block[0] << 2 | block[1] >> 4);
		dst[out++] = (unsigned char)(block[1] << 4 | block[2] >> 2);
		dst[out++] = (unsigned char)(block[2] << 6 | block[3]);
		count = 0;
		if (pad) {
			if (pad > 2)
				return 0;
			out -= (size_t)pad;
			break;
		}
	}
	return out;
}

static size_t b64_encode(const unsigned char *src, size_t n, char *dst)
{
	size_t out = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		dst[out++] = b64_alphabet[src[i] >> 2];
		dst[out++] = b64_alphabet[(src[i] & 3) << 4 | src[i + 1] >> 4];
		dst[out++] = b64_alphabet[(src[i + 1] & 15) << 2 | src[i + 2] >> 6];
		dst[out++] = b64_alphabet[src[i + 2] & 63];
	}
	if (i < n) {
		dst[out++] = b64_alphabet[src[i] >> 2];
		if (i + 1 == n) {
			dst[out++] = b64_alphabet[(src[i] & 3) << 4];
			dst[out++] = '=';
		} else {
			dst[out++] = b64_alphabet[(src[i] & 3) << 4 | src[i + 1] >> 4];
			dst[out++] = b64_alphabet[(src[i + 1] & 15) << 2];
		}
		dst[out++] = '=';
	}
	return out;
}

/* ---- a reply line being built ---- */

/* The longest line: a code and size, and per flag a key in base64 (with " b"), a cas, or an
 * opaque; at most MFLAG_MAX_WORDS of them. */
#define LINE_CAP (16 + MFLAG_MAX_WORDS * (B64_KEY_MAX + 8))

struct line {
	char buf[LINE_CAP];
	size_t len;
};

static void line_put(struct line *l, const char *s, size_t n)
{
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void line_printf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_printf(struct line *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	l->len += (size_t)vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
}

/* " k<key>", base64 again and " b" after it for a binary key. */
static void line_key(struct line *l, const char *key, size_t klen, bool binary)
{
	line_put(l, " k", 2);
	if (!binary) {
		line_put(l, key, klen);
		return;
	}
	l->len += b64_encode((const unsigned char *)key, klen, l->buf + l->len);
	line_put(l, " b", 2);
}

static void line_opaque(struct line *l, const char *tok)
{
	line_put(l, " ", 1);
	line_put(l, tok, strlen(tok));
}

/* Send @l (and \r\n) unless quiet. */
static void line_send(struct zc_conn *c, struct line *l)
{
	char *p;

	line_put(l, "\r\n", 2);
	if (c->noreply)
		return;
	p = zc_wb_room(c, l->len);
	if (p) {
		memcpy(p, l->buf, l->len);
		c->wend += l->len;
	}
}

/* ---- flags ---- */

/* A flag's number (N, T, R; C, E): false, with memcached's complaint, when it is none. */
static bool ttl_token(const char *arg, int32_t *v, const char **err)
{
	if (zc_parse_i32(arg, v))
		return true;
	*err = "CLIENT_ERROR bad token in command line format";
	return false;
}

static bool u64_token(const char *arg, uint64_t *v, const char **err)
{
	if (zc_parse_u64(arg, v))
		return true;
	*err = "CLIENT_ERROR bad token in command line format";
	return false;
}

/*
 * Parse the flag words @tok[@start..@ntok) into @of, decoding the key @key (in place) if "b"
 * is among them.  Returns 0, or -1 with *@err memcached's complaint: a repeated or unknown flag
 * stops at once, a bad token is noted and parsing goes on (so a later one may say more).
 */
static int parse_flags(struct zc_token *tok, size_t start, size_t ntok, struct zc_token *key,
		       struct mflags *of, const char **err)
{
	unsigned char seen[128] = {0};
	bool bad = false;
	size_t nord = 0;

	memset(of, 0, sizeof(*of));
	for (size_t i = start; i < ntok; i++) {
		unsigned char o = (unsigned char)tok[i].v[0];
		const char *arg = tok[i].v + 1;

		if (o >= 127 || seen[o]) {
			*err = "CLIENT_ERROR duplicate flag";
			return -1;
		}
		seen[o] = 1;
		switch (o) {
		case 'b': {
			size_t n = b64_decode(key->v, key->len, (unsigned char *)key->v, key->len);

			if (!n) {
				*err = "CLIENT_ERROR error decoding key";
				bad = true;
			}
			key->len = n;
			of->key_binary = true;
			break;
		}
		case 'N':
			of->vivify = true;
			bad |= !ttl_token(arg, &of->vivify_ttl, err);
			of->order[nord++] = 'N';
			break;
		case 'T':
			of->has_ttl = ttl_token(arg, &of->ttl, err);
			bad |= !of->has_ttl;
			of->order[nord++] = 'T';
			break;
		case 'R':
			of->recache = true;
			bad |= !ttl_token(arg, &of->recache_ttl, err);
			of->order[nord++] = 'R';
			break;
		case 'O':
		case 'P': /* hints for a proxy, ignored */
		case 'L':
		case 'k':
		case 's':
		case 't':
		case 'c':
		case 'f':
		case 'l':
		case 'h':
			break;
		case 'v':
			of->value = true;
			break;
		case 'u':
			of->no_update = true;
			break;
		case 'q':
			of->noreply = true;
			break;
		case 'F':
			if (!zc_parse_u32(arg, &of->flags))
				bad = true;
			break;
		case 'C':
			of->has_cas = u64_token(arg, &of->cas, err);
			bad |= !of->has_cas;
			break;
		case 'E':
			of->has_set_cas = u64_token(arg, &of->set_cas, err);
			bad |= !of->has_set_cas;
			break;
		case 'M':
			if (tok[i].len != 2)
				*err = "CLIENT_ERROR incorrect length for M token", bad = true;
			else
				of->mode = tok[i].v[1];
			break;
		case 'J':
			if (!zc_parse_u64(arg, &of->initial))
				*err = "CLIENT_ERROR invalid numeric initial value", bad = true;
			break;
		case 'D':
			if (!zc_parse_u64(arg, &of->delta))
				*err = "CLIENT_ERROR invalid numeric delta value", bad = true;
			else
				of->has_delta = true;
			break;
		case 'I':
			of->invalidate = true;
			break;
		case 'x':
			of->remove_value = true;
			break;
		default:
			*err = "CLIENT_ERROR invalid flag";
			return -1;
		}
	}
	return bad ? -1 : 0;
}

/* Whether every O token of the request is short enough. */
static bool opaques_ok(struct zc_token *tok, size_t start, size_t ntok)
{
	for (size_t i = start; i < ntok; i++)
		if (tok[i].v[0] == 'O' && tok[i].len > MFLAG_MAX_OPAQUE)
			return false;
	return true;
}

/* The common start of mg, md and ma: word counts, the key, the flags (and for mg and md the
 * opaques; ma finds a long one only as it replies, after doing its work, as memcached).
 * Returns false after replying with the error. */
static bool meta_begin(struct zc_conn *c, struct zc_token *tok, size_t ntok, struct mflags *of,
		       const char *too_long, bool generic_flag_error, bool check_opaques)
{
	const char *err = "CLIENT_ERROR bad command line format";

	if (ntok < 2) {
		zc_reply(c, "ERROR\r\n");
		return false;
	}
	if (tok[1].len > ZC_KEY_MAX) {
		zc_reply_error(c, "CLIENT_ERROR bad command line format");
		return false;
	}
	if (ntok + 1 > MFLAG_MAX_WORDS) {
		zc_reply_error(c, too_long);
		return false;
	}
	if (parse_flags(tok, 2, ntok, &tok[1], of, &err)) {
		zc_reply_error(c,
			       generic_flag_error ? "CLIENT_ERROR invalid or duplicate flag" : err);
		return false;
	}
	if (check_opaques && !opaques_ok(tok, 2, ntok)) {
		zc_reply_error(c, "CLIENT_ERROR opaque token too long");
		return false;
	}
	c->noreply = of->noreply;
	return true;
}

/* The O and k words of a reply that has no item to describe. */
static void line_echo(struct line *l, struct zc_token *tok, size_t ntok, const char *key,
		      size_t klen, bool binary)
{
	for (size_t i = 2; i < ntok; i++) {
		if (tok[i].v[0] == 'O')
			line_opaque(l, tok[i].v);
		else if (tok[i].v[0] == 'k')
			line_key(l, key, klen, binary);
	}
}

/* "t": the TTL left, -1 for none; memcached prints it unsigned, so a past one wraps. */
static void line_ttl(struct line *l, uint32_t exptime)
{
	if (!exptime)
		line_put(l, " t-1", 4);
	else
		line_printf(l, " t%" PRIu32, (uint32_t)(exptime - zc_now()));
}

/* ---- mg ---- */

static void meta_get(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	struct mflags of;
	struct zc_fetch_req req = {0};
	struct zc_fetched *f;
	struct line l = {.len = 0};
	char *value;
	enum zc_result r;
	uint32_t exptime;
	bool ttl_set = false;

	if (!meta_begin(c, tok, ntok, &of, "CLIENT_ERROR options flags are too long", false, true))
		return;
	req.payload = of.value;
	req.no_bump = of.no_update;
	req.touch = of.has_ttl;
	req.exptime = zc_abs_exptime(of.ttl);
	req.vivify = of.vivify;
	req.vivify_exptime = zc_abs_exptime(of.vivify_ttl);
	req.vivify_cas = of.has_set_cas ? of.set_cas : 0;
	req.recache = of.recache;
	req.recache_at = zc_abs_exptime(of.recache_ttl);
	memcpy(req.order, of.order, sizeof(req.order));
	r = zc_fetch_decoded(tok[1].v, tok[1].len, &req, &f, &value);
	if (r == ZC_NO_MEMORY) {
		zc_reply_error(c, "SERVER_ERROR out of memory");
		return;
	}
	if (r != ZC_STORED) {
		if (of.has_ttl) {
			ZC_STAT(c, cmd_touch);
			ZC_STAT(c, touch_misses);
		} else {
			ZC_STAT(c, cmd_get);
			ZC_STAT(c, get_misses);
		}
		/* Quiet: a miss says nothing, so pipelined gets end with "mn". */
		line_put(&l, "EN", 2);
		line_echo(&l, tok, ntok, tok[1].v, tok[1].len, of.key_binary);
		line_send(c, &l);
		return;
	}
	/* C<cas> with v: the value only if it changed (protocol.txt; newer than 1.6.18). */
	if (of.value && of.has_cas && of.cas == f->cas)
		of.value = false;
	if (of.value)
		line_printf(&l, "VA %" PRIu32, f->rawlen);
	else
		line_put(&l, "HD", 2);
	/* The flags in request order, each seeing the TTL the ones before it set. */
	exptime = f->created ? 0 : f->exptime_before;
	for (size_t i = 2; i < ntok; i++) {
		switch (tok[i].v[0]) {
		case 'T':
			ttl_set = true;
			exptime = req.exptime;
			break;
		case 'N':
			if (f->created)
				exptime = req.vivify_exptime;
			break;
		case 's':
			line_printf(&l, " s%" PRIu32, f->rawlen);
			break;
		case 't':
			line_ttl(&l, exptime);
			break;
		case 'c':
			line_printf(&l, " c%" PRIu64, f->cas);
			break;
		case 'f':
			line_printf(&l, " f%" PRIu32, f->flags);
			break;
		case 'l':
			line_printf(&l, " l%" PRIu32, f->idle);
			break;
		case 'h':
			line_printf(&l, " h%d", f->hit_before);
			break;
		case 'O':
			line_opaque(&l, tok[i].v);
			break;
		case 'k':
			line_key(&l, tok[1].v, tok[1].len, f->key_binary);
			break;
		}
	}
	if (f->token_sent)
		line_put(&l, " Z", 2);
	if (f->stale)
		line_put(&l, " X", 2);
	if (f->won)
		line_put(&l, " W", 2);
	if (ttl_set) {
		ZC_STAT(c, cmd_touch);
		ZC_STAT(c, touch_hits);
	} else {
		ZC_STAT(c, cmd_get);
		ZC_STAT(c, get_hits);
	}
	/* Quiet mode hides only misses here: a hit is what the client asked for. */
	c->noreply = false;
	line_send(c, &l);
	if (of.value) {
		char *p = zc_wb_room(c, f->rawlen + 2);

		if (p) {
			memcpy(p, value, f->rawlen);
			memcpy(p + f->rawlen, "\r\n", 2);
			c->wend += f->rawlen + 2;
		}
	}
}

/* ---- ms ---- */

void zc_meta_set_free(struct zc_conn *c)
{
	free(c->pmeta);
	c->pmeta = NULL;
}

static void meta_set(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	const char *err = "CLIENT_ERROR bad command line format";
	struct zc_meta_set *ms;
	struct mflags of;
	int32_t vlen;
	size_t retlen = 0;
	bool opaque_bad;

	if (ntok < 2) {
		zc_reply(c, "ERROR\r\n");
		return;
	}
	if (tok[1].len > ZC_KEY_MAX || ntok == 2) {
		zc_reply_error(c, "CLIENT_ERROR bad command line format");
		return;
	}
	if (ntok + 1 > MFLAG_MAX_WORDS) {
		zc_reply_error(c, "CLIENT_ERROR options flags too long");
		return;
	}
	if (!zc_parse_i32(tok[2].v, &vlen) || vlen < 0 || vlen > INT_MAX - 2) {
		zc_reply_error(c, "CLIENT_ERROR bad command line format");
		return;
	}
	/* From here on an error swallows the data block, whose length is known. */
	c->need = (size_t)vlen + 2;
	c->pending = ZC_PENDING_SWALLOW;
	if (parse_flags(tok, 3, ntok, &tok[1], &of, &err)) {
		zc_reply_error(c, err);
		return;
	}
	opaque_bad = !opaques_ok(tok, 3, ntok);
	if (opaque_bad)
		err = "CLIENT_ERROR opaque token too long";
	if (of.mode && !strchr("EAPRS", of.mode)) {
		zc_reply_error(c, "CLIENT_ERROR invalid mode for ms M token");
		return;
	}
	if (opaque_bad) {
		zc_reply_error(c, err);
		return;
	}
	if ((uint64_t)vlen > zc_server.item_max) {
		ZC_STAT(c, store_too_large);
		zc_reply_error(c, "SERVER_ERROR object too large for cache");
		/* memcached drops the item it could not replace, whatever the mode. */
		zc_delete_stale(tok[1].v, tok[1].len);
		return;
	}
	for (size_t i = 3; i < ntok; i++)
		retlen += tok[i].len + 1;
	ms = malloc(sizeof(*ms) + retlen);
	if (!ms) {
		zc_reply_error(c, "SERVER_ERROR out of memory storing object");
		return;
	}
	ms->of = of;
	ms->klen = tok[1].len;
	memcpy(ms->key, tok[1].v, ms->klen);
	ms->append = of.mode == 'A';
	ms->prepend = of.mode == 'P';
	ms->mode = of.mode == 'E' ? ZC_ADD : of.mode == 'R' ? ZC_REPLACE : ZC_SET;
	/* A cas turns set and replace into cas (add ignores it); append and prepend check it. */
	if (of.has_cas && ms->mode != ZC_ADD && !ms->append && !ms->prepend)
		ms->mode = ZC_CAS;
	ms->nret = ntok - 3;
	for (size_t i = 3, at = 0; i < ntok; i++) {
		memcpy(ms->ret + at, tok[i].v, tok[i].len + 1);
		at += tok[i].len + 1;
	}
	zc_meta_set_free(c);
	c->pmeta = ms;
	c->pending = ZC_PENDING_META;
	c->pnoreply = of.noreply;
}

/* Append or prepend @data to the item, checking the request's cas; on a miss create it when
 * N asked so.  Returns the store's result with *@size the new length. */
static enum zc_result meta_concat(struct zc_meta_set *ms, const char *data, size_t n, uint64_t *cas,
				  size_t *size)
{
	for (;;) {
		struct zc_fetched *f;
		char *old;
		enum zc_result r = zc_fetch_decoded(ms->key, ms->klen, NULL, &f, &old);
		struct zc_blob_in meta = {.key_binary = ms->of.key_binary,
					  .set_cas = ms->of.has_set_cas ? ms->of.set_cas : 0};
		size_t olen;
		char *buf;

		if (r == ZC_NOT_FOUND) {
			if (!ms->of.vivify)
				return ZC_NOT_STORED;
			meta.flags = ms->of.flags;
			meta.exptime = zc_abs_exptime(ms->of.vivify_ttl);
			r = zc_encode_store(ZC_ADD, ms->key, ms->klen, &meta, data, n, 0, cas);
			*size = n;
			if (r == ZC_NOT_STORED)
				continue; /* created meanwhile: append to that */
			return r;
		}
		if (r != ZC_STORED)
			return r;
		if (ms->of.has_cas && ms->of.cas != f->cas)
			return ZC_EXISTS;
		olen = f->rawlen;
		if (olen + n > zc_server.item_max)
			return ZC_NOT_STORED;
		buf = malloc(olen + n ? olen + n : 1);
		if (!buf)
			return ZC_NO_MEMORY;
		memcpy(buf + (ms->append ? 0 : n), old, olen);
		memcpy(buf + (ms->append ? olen : 0), data, n);
		meta.flags = f->flags;
		meta.exptime = f->exptime;
		meta.key_binary = f->key_binary;
		r = zc_encode_store(ZC_CAS, ms->key, ms->klen, &meta, buf, olen + n, f->cas, cas);
		free(buf);
		*size = olen + n;
		if (r != ZC_EXISTS)
			return r == ZC_NOT_FOUND ? ZC_NOT_STORED : r;
	}
}

void zc_meta_set_complete(struct zc_conn *c, const char *data, size_t n)
{
	struct zc_meta_set *ms = c->pmeta;
	struct line l = {.len = 0};
	enum zc_result r;
	uint64_t cas = 0;
	size_t size = n - 2;
	const char *w;

	c->pmeta = NULL;
	c->noreply = ms->of.noreply;
	ZC_STAT(c, cmd_set);
	if (data[n - 2] != '\r' || data[n - 1] != '\n') {
		zc_reply_error(c, "CLIENT_ERROR bad data chunk");
		free(ms);
		return;
	}
	if (ms->append || ms->prepend) {
		r = meta_concat(ms, data, n - 2, &cas, &size);
	} else {
		struct zc_blob_in meta = {.flags = ms->of.flags,
					  .exptime = zc_abs_exptime(ms->of.ttl),
					  .key_binary = ms->of.key_binary,
					  .invalidate = ms->of.invalidate && ms->mode == ZC_CAS,
					  .set_cas = ms->of.has_set_cas ? ms->of.set_cas : 0};

		r = zc_encode_store(ms->mode, ms->key, ms->klen, &meta, data, n - 2, ms->of.cas,
				    &cas);
		if (ms->mode == ZC_CAS)
			zc_count_cas(c, r);
	}
	switch (r) {
	case ZC_STORED:
		line_put(&l, "HD", 2);
		break;
	case ZC_EXISTS:
		line_put(&l, "EX", 2);
		c->noreply = false;
		break;
	case ZC_NOT_FOUND:
		line_put(&l, "NF", 2);
		c->noreply = false;
		break;
	case ZC_NOT_STORED:
		line_put(&l, "NS", 2);
		c->noreply = false;
		break;
	case ZC_TOO_LARGE:
	case ZC_NO_MEMORY:
		if (ms->mode == ZC_SET && !ms->append && !ms->prepend)
			zc_delete_stale(ms->key, ms->klen);
		zc_reply_error(c, r == ZC_TOO_LARGE ? "SERVER_ERROR object too large for cache"
						    : "SERVER_ERROR out of memory storing object");
		free(ms);
		return;
	}
	w = ms->ret;
	for (size_t i = 0; i < ms->nret; i++, w += strlen(w) + 1) {
		if (w[0] == 'O')
			line_opaque(&l, w);
		else if (w[0] == 'k')
			line_key(&l, ms->key, ms->klen, ms->of.key_binary);
		else if (w[0] == 'c')
			line_printf(&l, " c%" PRIu64, r == ZC_STORED ? cas : 0);
		else if (w[0] == 's' && r == ZC_STORED)
			line_printf(&l, " s%zu", size);
	}
	line_send(c, &l);
	free(ms);
}

/* ---- md ---- */

static void meta_delete(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	struct mflags of;
	struct zc_delete_req req = {0};
	struct line l = {.len = 0};
	enum zc_result r;

	if (!meta_begin(c, tok, ntok, &of, "CLIENT_ERROR options flags too long", true, true))
		return;
	req.has_cas = of.has_cas;
	req.cas = of.cas;
	req.invalidate = of.invalidate;
	req.touch = of.has_ttl;
	req.exptime = of.has_ttl ? zc_abs_exptime(of.ttl) : 0;
	req.remove_value = of.remove_value;
	req.flags = of.flags;
	req.set_cas = of.has_set_cas ? of.set_cas : 0;
	r = zc_delete(tok[1].v, tok[1].len, &req);
	switch (r) {
	case ZC_STORED:
		if (!of.invalidate)
			ZC_STAT(c, delete_hits);
		line_put(&l, "HD", 2);
		break;
	case ZC_EXISTS:
		ZC_STAT(c, delete_misses);
		line_put(&l, "EX", 2);
		c->noreply = false;
		break;
	case ZC_NOT_FOUND:
		ZC_STAT(c, delete_misses);
		line_put(&l, "NF", 2);
		c->noreply = false;
		break;
	default:
		zc_reply_error(c, "SERVER_ERROR out of memory");
		return;
	}
	line_echo(&l, tok, ntok, tok[1].v, tok[1].len, of.key_binary);
	line_send(c, &l);
}

/* ---- ma ---- */

/* The expiry an arithmetic leaves: T and N (for a created item) apply in request order. */
static uint32_t walk_exptime(const struct mflags *of, struct zc_token *tok, size_t ntok,
			     bool created, uint32_t e)
{
	for (size_t i = 2; i < ntok; i++) {
		if (tok[i].v[0] == 'T')
			e = zc_abs_exptime(of->ttl);
		else if (tok[i].v[0] == 'N' && created)
			e = zc_abs_exptime(of->vivify_ttl);
	}
	return e;
}

static void meta_arith(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	struct mflags of;
	struct line l = {.len = 0};
	const char *key = tok[1].v;
	bool incr = true, created = false;
	char num[24];
	size_t n = 0;
	uint64_t cas = 0;
	uint32_t exptime = 0, old_exptime = 0;
	enum zc_result r;

	if (!meta_begin(c, tok, ntok, &of, "CLIENT_ERROR options flags too long", true, false))
		return;
	if (of.mode == 'D' || of.mode == '-') {
		incr = false;
	} else if (of.mode && of.mode != 'I' && of.mode != '+') {
		zc_reply_error(c, "CLIENT_ERROR invalid mode for ma M token");
		return;
	}
	if (!of.has_delta)
		of.delta = 1;
	for (;;) {
		struct zc_fetched *f;
		char *val;
		uint64_t v;
		struct zc_blob_in meta = {.key_binary = of.key_binary,
					  .set_cas = of.has_set_cas ? of.set_cas : 0};

		r = zc_fetch_decoded(key, tok[1].len, NULL, &f, &val);
		if (r == ZC_NOT_FOUND) {
			if (!of.vivify) {
				zc_stat_add(
				    c, incr ? &c->stats->incr_misses : &c->stats->decr_misses, 1);
				break;
			}
			/* Created with the initial value; N's TTL is set as the reply is built. */
			n = (size_t)snprintf(num, sizeof(num), "%" PRIu64, of.initial);
			exptime = walk_exptime(&of, tok, ntok, true, 0);
			meta.exptime = exptime;
			r = zc_encode_store(ZC_ADD, key, tok[1].len, &meta, num, n, 0, &cas);
			if (r == ZC_NOT_STORED)
				continue;
			created = true;
			break;
		}
		if (r != ZC_STORED)
			break;
		if (!f->rawlen || !zc_number_value(val, f->rawlen, &v)) {
			zc_reply_error(
			    c, "CLIENT_ERROR cannot increment or decrement non-numeric value");
			return;
		}
		if (of.has_cas && of.cas != f->cas) {
			r = ZC_EXISTS;
			break;
		}
		v = incr ? v + of.delta : (of.delta > v ? 0 : v - of.delta);
		zc_stat_add(c, incr ? &c->stats->incr_hits : &c->stats->decr_hits, 1);
		n = (size_t)snprintf(num, sizeof(num), "%" PRIu64, v);
		old_exptime = f->exptime;
		exptime = walk_exptime(&of, tok, ntok, false, old_exptime);
		meta.flags = f->flags;
		meta.exptime = exptime;
		meta.key_binary = f->key_binary;
		r = zc_encode_store(ZC_CAS, key, tok[1].len, &meta, num, n, f->cas, &cas);
		if (r == ZC_EXISTS && !of.has_cas)
			continue; /* changed under us: again */
		if (r == ZC_NOT_FOUND)
			continue;
		break;
	}
	if (!opaques_ok(tok, 2, ntok) &&
	    (r == ZC_STORED || r == ZC_NOT_FOUND || r == ZC_EXISTS || r == ZC_NOT_STORED)) {
		zc_reply_error(c, "CLIENT_ERROR opaque token too long");
		return;
	}
	switch (r) {
	case ZC_STORED: {
		uint32_t e = created ? 0 : old_exptime;

		/* q hides the reply of an arithmetic on an item that was there, not of one that
		 * created it (memcached's rule). */
		if (created)
			c->noreply = false;

		line_printf(&l, of.value ? "VA %zu" : "HD", n);
		for (size_t i = 2; i < ntok; i++) {
			switch (tok[i].v[0]) {
			case 'c':
				line_printf(&l, " c%" PRIu64, cas);
				break;
			case 't':
				line_ttl(&l, e);
				break;
			case 'T':
				e = zc_abs_exptime(of.ttl);
				break;
			case 'N':
				if (created)
					e = zc_abs_exptime(of.vivify_ttl);
				break;
			case 'O':
				line_opaque(&l, tok[i].v);
				break;
			case 'k':
				line_key(&l, key, tok[1].len, of.key_binary);
				break;
			}
		}
		if (of.value) {
			line_put(&l, "\r\n", 2);
			line_put(&l, num, n);
		}
		line_send(c, &l);
		return;
	}
	case ZC_NOT_FOUND:
		line_put(&l, "NF", 2);
		break;
	case ZC_EXISTS:
		line_put(&l, "EX", 2);
		break;
	case ZC_NOT_STORED:
		line_put(&l, "NS", 2);
		break;
	default:
		zc_reply_error(c, "SERVER_ERROR out of memory");
		return;
	}
	c->noreply = false;
	line_echo(&l, tok, ntok, key, tok[1].len, of.key_binary);
	line_send(c, &l);
}

/* ---- me ---- */

static void meta_debug(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	struct zc_fetch_req req = {.no_bump = true};
	struct zc_fetched *f;
	struct line l = {.len = 0};
	char *value;
	size_t klen;
	if (ntok < 2 || tok[1].len > ZC_KEY_MAX) {
		zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
		return;
	}
	klen = tok[1].len;
	if (ntok >= 3 && !strcmp(tok[2].v, "b")) {
		klen = b64_decode(tok[1].v, klen, (unsigned char *)tok[1].v, klen);
		if (!klen) {
			zc_reply(c, "CLIENT_ERROR bad command line format\r\n");
			return;
		}
	}
	ZC_STAT(c, cmd_meta);
	if (zc_fetch_decoded(tok[1].v, klen, &req, &f, &value) != ZC_STORED) {
		zc_reply(c, "EN\r\n");
		return;
	}
	line_put(&l, "ME ", 3);
	if (f->key_binary)
		l.len += b64_encode((const unsigned char *)tok[1].v, klen, l.buf + l.len);
	else
		line_put(&l, tok[1].v, klen);
	line_printf(&l,
		    " exp=%ld la=%" PRIu32 " cas=%" PRIu64 " fetch=%s cls=%d size=%zu codec=%s"
		    " raw=%" PRIu32,
		    f->exptime ? (long)f->exptime - (long)zc_now() : -1L, f->idle, f->cas,
		    f->hit_before ? "yes" : "no",
		    zs_lookup_class_index(zc_server.pool, f->stored_bytes < ZS_MAX_ALLOC_SIZE
							      ? f->stored_bytes
							      : ZS_MAX_ALLOC_SIZE),
		    f->stored_bytes, zc_codec_names[f->codec], f->rawlen);
	line_send(c, &l);
}

void zc_meta_command(struct zc_conn *c, struct zc_token *tok, size_t ntok)
{
	ZC_STAT(c, cmd_meta);
	switch (tok[0].v[1]) {
	case 'g':
		meta_get(c, tok, ntok);
		break;
	case 's':
		meta_set(c, tok, ntok);
		break;
	case 'd':
		meta_delete(c, tok, ntok);
		break;
	case 'a':
		meta_arith(c, tok, ntok);
		break;
	case 'n':
		zc_reply(c, "MN\r\n");
		break;
	case 'e':
		meta_debug(c, tok, ntok);
		break;
	default:
		zc_reply(c, "ERROR\r\n");
	}
}
