/*
 * fuzz_zcache_proto.c - zcache's protocol parser and command execution (text and meta) on any
 * byte stream a client could send: garbage, truncated lines, pipelines, huge declared lengths,
 * data blocks cut anywhere.
 *
 * Property: the bytes are fed to one connection in pieces (their sizes drawn from the input's
 * first bytes, so partial reads are exercised) and whatever they ask of the server, it neither
 * crashes nor touches memory it should not (ASan, UBSan); every time it waits for more input
 * its pending replies end with a complete line; and once the connection is gone and the cache
 * is flushed, the index holds no item and no byte, and the pool no object: no command path
 * leaks a blob or miscounts one.
 *
 * One cache serves every input (pool, index and codec are made once; an input's items are
 * flushed after it), with a 4 MiB limit so stores evict, and no dictionary trainer, whose
 * timing would make runs differ.  The server's sockets and threads are not involved: this is
 * zc_conn_process() on a connection's buffers, as a worker runs it.
 */
#include <time.h>

#include <zs/zsmalloc.h>

#include "../../examples/zcache/zcache.h"
#include "fuzz.h"

/* Small, so a few stores reach it and evict. */
#define FUZZ_LIMIT (4u << 20)

static struct zc_thread_stats stats;

static void cache_init(void)
{
	static bool done;
	struct zc_codec_opts copts = {.zstd_level = 1, .dict_size = 0, .sample_bytes = 0};

	if (done)
		return;
	done = true;
	zc_server.threads = 0;
	zc_server.max_conns = 1;
	zc_server.item_max = ZC_DEFAULT_ITEM_MAX;
	zc_server.addr = "fuzz";
	zc_server.started = time(NULL);
	zc_server.pool = zs_create_pool("fuzz_zcache");
	fz_check(zc_server.pool && !zc_store_init(zc_server.pool, FUZZ_LIMIT, false) &&
		     !zc_codec_init(&copts),
		 "cannot set up the cache");
}

/* Whether the replies waiting to be written end with a whole line. */
static bool replies_whole(const struct zc_conn *c)
{
	size_t n = c->wend - c->wstart;

	return !n || (n >= 2 && !memcmp(c->wbuf + c->wend - 2, "\r\n", 2));
}

/* Run what is buffered; replies are "written" (dropped) as a worker would send them. */
static bool drive(struct zc_conn *c)
{
	for (;;) {
		int rc = zc_conn_process(c);

		if (rc < 0)
			return false;
		if (rc == 0) {
			fz_check(replies_whole(c), "replies end mid-line while waiting for input");
			c->wstart = c->wend = 0;
			return true;
		}
		c->wstart = c->wend = 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	struct zc_conn c = {.fd = -1, .stats = &stats};
	struct zc_store_stats st;
	struct zs_pool_stats ps;
	uint8_t piece_seed;

	cache_init();
	piece_seed = fz_u8(&f);
	while (fz_more(&f)) {
		/* Pieces of 1..256 bytes, or what is left; 0 takes the rest at once.  Only the
		 * piece's room is reserved: the server reserves a whole pending data block to read
		 * it in one go, which changes nothing the protocol does. */
		size_t n = piece_seed ? (size_t)(tu_mix64(piece_seed + f.n) % 256) + 1 : f.n;

		if (n > f.n)
			n = f.n;
		fz_check(!zc_conn_reserve(&c, n), "read buffer");
		memcpy(c.rbuf + c.rend, f.p, n);
		c.rend += n;
		f.p += n;
		f.n -= n;
		if (!drive(&c))
			break;
	}
	zc_conn_release(&c);

	zc_flush();
	zc_store_stats(&st);
	fz_check(!st.items && !st.bytes && !st.blob_bytes && !st.orig_bytes,
		 "after a flush the index still counts %lu items, %lu bytes", st.items, st.bytes);
	zs_pool_stats(zc_server.pool, &ps);
	fz_check(!ps.objs_used, "after a flush the pool still holds %lu objects", ps.objs_used);
	return 0;
}
