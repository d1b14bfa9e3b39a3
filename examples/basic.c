/*
 * basic.c - the libzs API in one page: create a pool, store a few objects, read them back
 * through a mapping and through the copy-based calls, free most, compact, print statistics.
 *
 * build: cc basic.c $(pkg-config --cflags --libs libzs)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <zs/zsmalloc.h>

int main(void)
{
	struct zs_pool_opts opts = {.auto_compact_pages = 0}; /* all defaults */
	struct zs_pool *pool = zs_create_pool_opts("example", &opts);
	unsigned long handles[1000];
	struct zs_pool_stats st;
	char text[64];

	if (!pool) {
		perror("zs_create_pool_opts");
		return 1;
	}
	for (int i = 0; i < 1000; i++) {
		size_t len = (size_t)snprintf(text, sizeof(text), "object %d", i) + 1;

		handles[i] = zs_malloc(pool, 200 + i); /* sizes 200..1199 */
		if (!handles[i] || zs_obj_write(pool, handles[i], text, len)) {
			perror("zs_malloc/zs_obj_write");
			return 1;
		}
	}

	/* A mapping is a direct pointer; the object stays put until it is unmapped. */
	char *p = zs_map_object(pool, handles[42], ZS_MM_RO);
	if (!p) {
		perror("zs_map_object");
		return 1;
	}
	printf("mapped: %s (%zu bytes)\n", p, zs_obj_size(pool, handles[42]));
	zs_unmap_object(pool, handles[42]);

	/* Free all but every 8th object, then give the emptied pages back. */
	for (int i = 0; i < 1000; i++)
		if (i % 8 && zs_free(pool, handles[i]) != 0) {
			fprintf(stderr, "zs_free: handle %d not live\n", i);
			return 1;
		}
	zs_pool_stats(pool, &st);
	printf("after frees:   %lu objects, %lu pages\n", st.objs_used, st.pages_used);
	unsigned long freed = zs_compact(pool);
	zs_pool_stats(pool, &st);
	printf("after compact: %lu objects, %lu pages (%lu freed), %lu bytes of metadata\n",
	       st.objs_used, st.pages_used, freed, st.meta_bytes);

	/* Handles survive compaction; a freed handle is refused. */
	char *q = zs_obj_read_begin(pool, handles[800], NULL);
	if (!q || strcmp(q, "object 800") != 0) {
		fprintf(stderr, "object 800 did not survive compaction\n");
		return 1;
	}
	printf("read back: %s\n", q);
	zs_obj_read_end(pool, handles[800], q);
	if (zs_free(pool, handles[1]) != -EINVAL) {
		fprintf(stderr, "a freed handle was accepted\n");
		return 1;
	}
	printf("free of a freed handle: -EINVAL\n");

	zs_destroy_pool(pool);
	return 0;
}
