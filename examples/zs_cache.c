/*
 * zs_cache.c - a compressed object cache over a libzs pool: each value is lz4-compressed and
 * stored in a pool object (raw when it does not compress enough to be worth it), read back
 * through a mapping, and half the cache is then dropped and the pool compacted.
 *
 * build: cc zs_cache.c $(pkg-config --cflags --libs libzs) -llz4
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <zs/zsmalloc.h>

#define NR_VALUES 20000

/* One cache entry: where the value lives in the pool, and how to get it back. */
struct entry {
	unsigned long handle;
	unsigned short len; /* the value's length */
	unsigned char raw;  /* stored uncompressed */
};

/* A JSON-like value of 100..1100 bytes, the same every time for one key. */
static int make_value(unsigned key, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "{\"id\":%u,\"user\":\"user%u\",\"tags\":[", key, key % 977);

	for (unsigned i = 0; i < key % 40 + 4; i++)
		n += snprintf(buf + n, cap - (size_t)n, "\"tag%u\",", (key * 31 + i) % 200);
	return n + snprintf(buf + n, cap - (size_t)n, "\"end\"],\"score\":%u}", key * 7919 % 10007);
}

/* Compress @val and store the smaller of the two forms; 0 or -errno. */
static int cache_put(struct zs_pool *pool, struct entry *e, const char *val, int len)
{
	char comp[LZ4_COMPRESSBOUND(2048)];
	int clen = LZ4_compress_default(val, comp, len, sizeof(comp));

	/* An object of zs_huge_class_size() bytes or more takes a page of its own, so compressing
	 * to just under a page saves nothing: keep such values (and incompressible ones) raw. */
	e->raw = clen <= 0 || clen >= len || (size_t)clen >= zs_huge_class_size(pool);
	e->len = (unsigned short)len;
	e->handle = zs_malloc(pool, e->raw ? (size_t)len : (size_t)clen);
	if (!e->handle)
		return -errno;
	/* ZS_MM_WO: we overwrite the whole object, its old contents do not matter. */
	void *obj = zs_map_object(pool, e->handle, ZS_MM_WO);
	if (!obj)
		return -errno;
	memcpy(obj, e->raw ? val : comp, e->raw ? (size_t)len : (size_t)clen);
	zs_unmap_object(pool, e->handle);
	return 0;
}

/* Decompress the value of @e into @out (at least e->len bytes); 0 or -EIO. */
static int cache_get(struct zs_pool *pool, const struct entry *e, char *out)
{
	const char *obj = zs_map_object(pool, e->handle, ZS_MM_RO);
	int ret = 0;

	if (!obj)
		return -errno;
	if (e->raw)
		memcpy(out, obj, e->len);
	else if (LZ4_decompress_safe(obj, out, (int)zs_obj_size(pool, e->handle), e->len) != e->len)
		ret = -EIO;
	zs_unmap_object(pool, e->handle); /* the object may move again from here on */
	return ret;
}

int main(void)
{
	struct zs_pool *pool = zs_create_pool("zs_cache");
	struct entry *cache = calloc(NR_VALUES, sizeof(*cache));
	char val[2048], back[2048];
	unsigned long long orig = 0;
	struct zs_pool_stats st;

	if (!pool || !cache) {
		perror("zs_create_pool");
		return 1;
	}
	for (unsigned k = 0; k < NR_VALUES; k++) {
		int len = make_value(k, val, sizeof(val));
		int err = cache_put(pool, &cache[k], val, len);

		if (err) {
			fprintf(stderr, "cache_put: %s\n", strerror(-err));
			return 1;
		}
		orig += (unsigned long long)len;
	}
	zs_pool_stats(pool, &st);
	printf("%s: %d values, %llu bytes, stored in %lu bytes of pool pages (%.2fx)\n",
	       zs_pool_name(pool), NR_VALUES, orig, st.pages_used * 4096,
	       orig / (st.pages_used * 4096.0));

	/* Read everything back and compare with a fresh copy of each value. */
	for (unsigned k = 0; k < NR_VALUES; k++) {
		int len = make_value(k, val, sizeof(val));

		if (cache_get(pool, &cache[k], back) || memcmp(val, back, (size_t)len)) {
			fprintf(stderr, "value %u did not read back intact\n", k);
			return 1;
		}
	}

	/* Drop every odd key, as an LRU would evict, and give the emptied pages back. */
	for (unsigned k = 1; k < NR_VALUES; k += 2)
		if (zs_free(pool, cache[k].handle)) {
			fprintf(stderr, "zs_free: bad handle\n");
			return 1;
		}
	unsigned long before = zs_get_total_pages(pool);
	unsigned long freed = zs_compact(pool);
	printf("evicted half: %lu pages before compaction, %lu freed, %lu now\n", before, freed,
	       zs_get_total_pages(pool));

	/* The busiest size class, and the class a typical compressed value goes to. */
	struct zs_class_stats cs, best = {0};
	for (unsigned int i = 0; i < zs_nr_classes(pool); i++)
		if (zs_class_stats(pool, i, &cs) == 0 && cs.pages_used > best.pages_used)
			best = cs;
	printf("busiest class: %u-byte slots, %lu objects in %lu pages; a 300-byte object goes to "
	       "class %d\n",
	       best.size, best.obj_used, best.pages_used, zs_lookup_class_index(pool, 300));

	/* The kernel's debugfs table; print only its Total line here. */
	char *table = NULL;
	size_t table_len = 0;
	FILE *mem = open_memstream(&table, &table_len);
	if (!mem || zs_dump_classes(pool, mem) != 0 || fclose(mem) != 0) {
		perror("zs_dump_classes");
		return 1;
	}
	printf("%s", strstr(table, "Total") ? strstr(table, "Total") : table);

	free(table);
	free(cache);
	zs_destroy_pool(pool); /* frees the values still cached */
	return 0;
}
