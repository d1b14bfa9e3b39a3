/*
 * fuzz_zs_ops.c - property: any sequence of libzs calls, with any mix of live, stale, bogus and
 * foreign handles, behaves as a simple shadow model says.
 *
 * The model is an array of live objects (handle, size, the seed of the pattern last written,
 * how many maps are open and the pointer they gave).  Every call on a live handle must succeed
 * and every object must keep its bytes whatever happens to the others (allocation, free,
 * compaction with some objects mapped); every call on a handle that is not live must fail with
 * EINVAL and change nothing.  Pool statistics must match the model's counts (the per-class ones
 * at every 8th check and at the end of each input), and a pool emptied and compacted must hold
 * no pages.  The pool that issues the foreign handles is made once and kept across inputs, and
 * the pools under test are kept too, empty, one per set of options (pool_take).
 *
 * Input: 4 bytes of pool options, then one operation per byte, each followed by its arguments.
 */
#include <errno.h>

#include "fuzz.h"
#include "zs/zsmalloc.h"

#define MAX_OBJS 192

struct obj {
	unsigned long h;
	uint32_t size;
	uint32_t seed;
	bool written; /* contents are unspecified until the first write */
	unsigned maps;
	const uint8_t *ptr; /* from the open maps: an object mapped is never moved */
};

struct model {
	struct zs_pool *pool;
	struct zs_pool *other; /* for foreign handles */
	unsigned long foreign;
	struct obj obj[MAX_OBJS];
	unsigned nr;
	struct fz_stale stale;
	unsigned long bytes;
	unsigned stats_calls;
};

static void check_bytes(const struct obj *o, const uint8_t *p, const char *when)
{
	if (!o->written || fz_pattern_is(p, o->size, o->seed))
		return;
	for (size_t i = 0; i < o->size; i++)
		fz_check(p[i] == fz_pattern_byte(o->seed, i),
			 "%s: handle %#lx (size %u) byte %zu changed", when, o->h, o->size, i);
}

static void check_obj(struct model *m, struct obj *o, const char *when)
{
	uint8_t *p = zs_obj_read_begin(m->pool, o->h, NULL);

	fz_check(p != NULL, "%s: read_begin of live handle %#lx failed", when, o->h);
	if (o->ptr)
		fz_check(p == o->ptr, "%s: mapped object %#lx moved", when, o->h);
	check_bytes(o, p, when);
	zs_obj_read_end(m->pool, o->h, p);
	fz_check(zs_obj_size(m->pool, o->h) == o->size, "%s: size of %#lx", when, o->h);
}

/*
 * The pool's counters against the model; every 8th time (and at the end of each input) also
 * every class's, which costs a walk of a few hundred classes.
 */
static void check_stats(struct model *m, bool every_class)
{
	struct zs_pool_stats st;
	unsigned long used = 0;

	zs_pool_stats(m->pool, &st);
	fz_check(st.objs_used == m->nr, "objs_used %lu, model %u", st.objs_used, m->nr);
	fz_check(st.bytes_used == m->bytes, "bytes_used %lu, model %lu", st.bytes_used, m->bytes);
	fz_check(st.pages_used == zs_get_total_pages(m->pool), "pages_used");
	fz_check(st.objs_allocated >= st.objs_used, "objs_allocated < objs_used");
	if (!every_class && ++m->stats_calls % 8)
		return;
	for (unsigned i = 0; i < zs_nr_classes(m->pool); i++) {
		struct zs_class_stats cs;
		fz_check(zs_class_stats(m->pool, i, &cs) == 0, "class_stats %u", i);
		fz_check(cs.obj_used <= cs.obj_allocated, "class %u: used > allocated", i);
		used += cs.obj_used;
	}
	fz_check(used == m->nr, "classes hold %lu objects, model %u", used, m->nr);
}

/* A search of the model, kept out of the fuzzer's feedback (FZ_DATA). */
FZ_DATA static struct obj *find_live(struct model *m, unsigned long h)
{
	for (unsigned i = 0; i < m->nr; i++)
		if (m->obj[i].h == h)
			return &m->obj[i];
	return NULL;
}

/* Every call on a handle that is not live fails with EINVAL and leaves the pool as it was. */
static void check_not_live(struct model *m, unsigned long h)
{
	char buf[8] = {0};

	if (h && find_live(m, h))
		return; /* the input happened to name a live object: not a bogus handle */
	errno = 0;
	fz_check(zs_map_object(m->pool, h, ZS_MM_RW) == NULL && errno == EINVAL, "map %#lx", h);
	zs_unmap_object(m->pool, h); /* ignored */
	errno = 0;
	fz_check(zs_obj_read_begin(m->pool, h, NULL) == NULL && errno == EINVAL, "read %#lx", h);
	zs_obj_read_end(m->pool, h, NULL);
	fz_check(zs_obj_write(m->pool, h, buf, sizeof(buf)) == -EINVAL, "write %#lx", h);
	errno = 0;
	fz_check(zs_obj_size(m->pool, h) == 0 && errno == EINVAL, "size %#lx", h);
	fz_check(zs_free(m->pool, h) == -EINVAL, "free %#lx", h);
}

static void write_obj(struct model *m, struct obj *o, uint32_t seed, bool through_map)
{
	if (through_map) {
		uint8_t *p = zs_map_object(m->pool, o->h, ZS_MM_WO);
		fz_check(p != NULL, "map WO %#lx", o->h);
		fz_pattern(p, o->size, seed);
		zs_unmap_object(m->pool, o->h);
	} else {
		uint8_t buf[ZS_MAX_ALLOC_SIZE];
		fz_pattern(buf, o->size, seed);
		fz_check(zs_obj_write(m->pool, o->h, buf, o->size) == 0, "obj_write %#lx", o->h);
	}
	o->seed = seed;
	o->written = true;
}

static void op_malloc(struct model *m, struct fz *f)
{
	uint16_t r = fz_u16(f);
	/* Mostly small compressed-page sizes, sometimes the huge end. */
	size_t size = r & 0x8000 ? 1 + (r & 0xfff) : 1 + (r & 0x7ff);
	uint8_t how = fz_u8(f);
	unsigned long h;

	if (m->nr == MAX_OBJS)
		return;
	h = zs_malloc(m->pool, size);
	fz_check(h != 0, "zs_malloc(%zu): errno %d", size, errno);
	fz_check(find_live(m, h) == NULL, "zs_malloc gave live handle %#lx again", h);
	m->obj[m->nr++] = (struct obj){.h = h, .size = (uint32_t)size};
	m->bytes += size;
	if (how & 1)
		write_obj(m, &m->obj[m->nr - 1], fz_u32(f), how & 2);
}

static void op_free(struct model *m, struct obj *o)
{
	unsigned long h = o->h;

	while (o->maps) {
		zs_unmap_object(m->pool, h);
		o->maps--;
	}
	fz_check(zs_free(m->pool, h) == 0, "free of live %#lx", h);
	m->bytes -= o->size;
	*o = m->obj[--m->nr];
	fz_stale_add(&m->stale, h);
	check_not_live(m, h);
}

static void op_map(struct model *m, struct obj *o, uint8_t how)
{
	enum zs_mapmode mode = how % 3 == 0 ? ZS_MM_RO : how % 3 == 1 ? ZS_MM_RW : ZS_MM_WO;
	const uint8_t *p = zs_map_object(m->pool, o->h, mode);

	fz_check(p != NULL, "map of live %#lx", o->h);
	if (o->ptr)
		fz_check(p == o->ptr, "mapped object %#lx moved", o->h);
	check_bytes(o, p, "map");
	if (how & 4) { /* keep it mapped across what follows */
		o->maps++;
		o->ptr = p;
	} else {
		zs_unmap_object(m->pool, o->h);
	}
}

static void op_unmap(struct model *m, struct obj *o)
{
	if (!o->maps)
		return;
	check_bytes(o, o->ptr, "unmap");
	zs_unmap_object(m->pool, o->h);
	if (!--o->maps)
		o->ptr = NULL;
}

/* Handles that are close to live ones: another generation, index, or pool tag. */
static unsigned long bogus_handle(struct model *m, struct fz *f)
{
	uint8_t how = fz_u8(f);
	unsigned long base = m->nr ? m->obj[fz_u8(f) % m->nr].h : 1;

	switch (how % 6) {
	case 0:
		return base ^ 1UL << (fz_u8(f) % 64);
	case 1:
		return base + fz_u16(f) + 1;
	case 2:
		return m->foreign;
	case 3:
		return 0;
	case 4:
		return (unsigned long)fz_stale_pick(&m->stale, f, ~0UL);
	default:
		return fz_u64(f);
	}
}

static void op_bad_args(struct model *m, struct fz *f)
{
	uint8_t how = fz_u8(f);

	errno = 0;
	switch (how % 4) {
	case 0:
		fz_check(zs_malloc(m->pool, 0) == 0 && errno == EINVAL, "malloc(0)");
		break;
	case 1:
		fz_check(zs_malloc(m->pool, ZS_MAX_ALLOC_SIZE + 1 + fz_u16(f)) == 0 &&
			     errno == EINVAL,
			 "malloc too large");
		break;
	case 2:
		if (m->nr) {
			struct obj *o = &m->obj[fz_u8(f) % m->nr];
			fz_check(zs_map_object(m->pool, o->h, (enum zs_mapmode)(3 + (how >> 2))) ==
					 NULL &&
				     errno == EINVAL,
				 "map with a bad mode");
		}
		break;
	default:
		if (m->nr) {
			/* a write longer than the object is refused and writes nothing */
			struct obj *o = &m->obj[fz_u8(f) % m->nr];
			uint8_t buf[ZS_MAX_ALLOC_SIZE + 1];
			memset(buf, 0xa5, sizeof(buf));
			fz_check(zs_obj_write(m->pool, o->h, buf, o->size + 1) == -EINVAL,
				 "write past the object");
			check_obj(m, o, "after a refused write");
		}
		break;
	}
}

static void run(struct model *m, struct fz *f)
{
	unsigned ops = 0;

	while (fz_more(f) && ops++ < 4096) {
		uint8_t op = fz_u8(f);
		struct obj *o = m->nr ? &m->obj[fz_u8(f) % m->nr] : NULL;

		switch (op % 12) {
		case 0:
		case 1:
		case 2:
			op_malloc(m, f);
			break;
		case 3:
		case 4:
			if (o)
				op_free(m, o);
			break;
		case 5:
			if (o)
				op_map(m, o, fz_u8(f));
			break;
		case 6:
			if (o)
				op_unmap(m, o);
			break;
		case 7:
			if (o && !o->maps)
				write_obj(m, o, fz_u32(f), op & 0x10);
			break;
		case 8:
			zs_compact(m->pool);
			for (unsigned i = 0; i < m->nr; i++)
				check_obj(m, &m->obj[i], "after compaction");
			break;
		case 9:
			check_not_live(m, bogus_handle(m, f));
			break;
		case 10:
			op_bad_args(m, f);
			break;
		default:
			if (o)
				check_obj(m, o, "read");
			check_stats(m, false);
			break;
		}
	}
}

/* The pool of the foreign handles: made once, kept across inputs, destroyed at exit. */
static struct zs_pool *other;
static unsigned long foreign;

static void destroy_other(void)
{
	zs_destroy_pool(other);
}

/*
 * Pools are kept across inputs, one per set of options, a few sets at a time: most inputs are
 * mutations that keep the option bytes, and making and destroying a pool (its class table, its
 * first tables and arena, their page faults) cost more than the operations of a typical input.
 * A pool is put back only empty and compacted (checked at the end of the input that used it),
 * and is checked to hold nothing again when it is taken, so an input finds it as it would find
 * a new pool: only the handle values and addresses it issues differ.  FZ_FRESH_POOLS=1 in the
 * environment makes a new pool for every input, to tell whether a crash depends on history.
 */
#define POOL_CACHE 8

static struct pool_slot {
	struct zs_pool_opts opts;
	struct zs_pool *pool;
	unsigned long last_use;
} pools[POOL_CACHE];
static unsigned long pool_clock;

static bool fresh_pools(void)
{
	static int fresh = -1;

	return fz_env_on("FZ_FRESH_POOLS", &fresh);
}

static void destroy_pools(void)
{
	for (unsigned i = 0; i < POOL_CACHE; i++)
		zs_destroy_pool(pools[i].pool);
}

/* A pool made with @opts that holds nothing: a kept one, or a new one. */
static struct zs_pool *pool_take(const struct zs_pool_opts *opts)
{
	struct zs_pool_stats st;
	struct zs_pool *pool = NULL;

	for (unsigned i = 0; i < POOL_CACHE && !fresh_pools(); i++) {
		if (pools[i].pool && !memcmp(&pools[i].opts, opts, sizeof(*opts))) {
			pool = pools[i].pool;
			pools[i].pool = NULL;
			break;
		}
	}
	if (!pool) {
		pool = zs_create_pool_opts("fuzz", opts);
		fz_check(pool != NULL, "zs_create_pool_opts: errno %d", errno);
		return pool;
	}
	zs_pool_stats(pool, &st);
	fz_check(st.objs_used == 0 && st.bytes_used == 0 && st.objs_allocated == 0 &&
		     st.pages_used == 0 && st.pages_cached == 0 && zs_get_total_pages(pool) == 0,
		 "a kept pool is not empty: %lu objects, %lu slots, %lu pages, %lu cached",
		 st.objs_used, st.objs_allocated, st.pages_used, st.pages_cached);
	return pool;
}

/* Keep @pool (empty and compacted) for a later input, in place of the one unused longest. */
static void pool_put(struct zs_pool *pool, const struct zs_pool_opts *opts)
{
	struct pool_slot *slot = &pools[0];
	static bool registered;

	if (fresh_pools()) {
		zs_destroy_pool(pool);
		return;
	}
	if (!registered) {
		atexit(destroy_pools);
		registered = true;
	}
	for (unsigned i = 0; i < POOL_CACHE; i++) {
		if (!pools[i].pool) {
			slot = &pools[i];
			break;
		}
		if (pools[i].last_use < slot->last_use)
			slot = &pools[i];
	}
	zs_destroy_pool(slot->pool);
	*slot = (struct pool_slot){*opts, pool, ++pool_clock};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	struct zs_pool_opts opts = {0};
	struct zs_pool_stats st;
	static struct model m;
	uint8_t flags;

	memset(&m, 0, sizeof(m));
	opts.max_pages_per_zspage = fz_u8(&f) % (ZS_MAX_PAGES_PER_ZSPAGE + 1);
	flags = fz_u8(&f);
	opts.flags = (flags & 1 ? ZS_POOL_NO_PACK : 0) | (flags & 4 ? ZS_POOL_NO_TCACHE : 0);
	opts.auto_compact_pages = flags & 2 ? 1 + (flags >> 4) : 0;
	opts.pack_bytes = fz_u16(&f) % (ZS_MAX_PACK_BYTES + 1);
	m.pool = pool_take(&opts);
	if (!other) {
		other = zs_create_pool("other");
		fz_check(other != NULL, "second pool");
		foreign = zs_malloc(other, 100);
		fz_check(foreign != 0, "malloc in the second pool");
		atexit(destroy_other);
	}
	m.other = other;
	m.foreign = foreign;

	run(&m, &f);

	for (unsigned i = 0; i < m.nr; i++)
		check_obj(&m, &m.obj[i], "at the end");
	check_stats(&m, true);
	while (m.nr)
		op_free(&m, &m.obj[m.nr - 1]);
	zs_compact(m.pool);
	zs_pool_stats(m.pool, &st);
	fz_check(st.objs_used == 0 && st.bytes_used == 0, "empty pool still counts objects");
	fz_check(st.pages_used == 0, "an empty compacted pool holds %lu pages", st.pages_used);
	fz_check(zs_obj_size(m.other, m.foreign) == 100, "the second pool lost its object");
	pool_put(m.pool, &opts);
	return 0;
}
