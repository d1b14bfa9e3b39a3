/*
 * zsstat - print a zsmalloc pool's or a swap context's statistics the way zramctl,
 * /sys/block/zramN/mm_stat and the kernel's debugfs zsmalloc/<pool>/classes file show them.
 *
 * Every call takes a style: ZSSTAT_TABLE prints aligned tables for people; ZSSTAT_STAT prints
 * memcached "STAT <name> <value>\r\n" lines, so that a server (examples/zcache) can answer
 * "stats" and "stats classes" with the same figures and the zsstat program can turn them back
 * into the same tables.  Sizes in STAT lines are in bytes; figures that do not apply are left
 * out (a table shows them as "-").
 *
 * zsstat.c needs only libzs; zsstat_swap() lives in zsstat_swap.c, which needs libswap too.
 * Threading: as the statistics calls underneath (any thread, any time); the figures of a busy
 * pool may be slightly inconsistent with each other.
 */
#ifndef ZSSTAT_H
#define ZSSTAT_H

#include <stdio.h>

#include <zs/swap.h>
#include <zs/zsmalloc.h>

enum zsstat_style {
	ZSSTAT_TABLE, /* aligned tables */
	ZSSTAT_STAT,  /* memcached "STAT name value\r\n" lines */
};

/*
 * zsstat_pool - the pool's summary, one row as zramctl and mm_stat show a zram device: data
 * stored, compressed size, memory used (pool pages, as the kernel's mem_used_total), metadata,
 * most memory used, pages compacted, huge objects, ratio.
 * @name: the row's label (NULL: the pool's own name).
 * @orig_bytes: the caller's uncompressed total, 0 if unknown (shown as "-", no ratio).
 * STAT names: pool_name, orig_data_size, compr_data_size, mem_used_total, mem_used_max,
 * pool_meta_bytes, pages_compacted, huge_pages, pool_objs_allocated, pool_objs_used.
 */
void zsstat_pool(FILE *out, struct zs_pool *pool, const char *name, unsigned long long orig_bytes,
		 enum zsstat_style style);

/*
 * zsstat_classes - one row per size class holding zspages, as the debugfs classes file (class,
 * size, zspages per in-use bucket 10%..100%, obj_allocated, obj_used, pages_used,
 * pages_per_zspage, freeable; the last five headed objs, used, pages, chain, freeable to fit a
 * terminal), then a total row.
 * STAT names: class:<index>:<field> with the field names of struct zs_class_stats
 * (size, pages_per_zspage, objs_per_zspage, empty, 10% .. 99%, 100%, obj_allocated, obj_used,
 * pages_used, freeable).
 */
void zsstat_classes(FILE *out, struct zs_pool *pool, enum zsstat_style style);

/*
 * zsstat_class_sizes - the per-class picture in a few lines: the classes grouped by slot size
 * in 512-byte bands (and the huge class, one object per page, apart), with the objects, the
 * pages and a bar of each band's share of the pages, and how full the band's pages are with
 * slots.  Table style only: the figures are those of zsstat_classes().
 */
void zsstat_class_sizes(FILE *out, struct zs_pool *pool);

/*
 * zsstat_swap - one row per area of @ctx, as swapon --show and zramctl together (type, kind,
 * compressor or label, priority, size, used, data, compressed, memory used, limit, same and
 * huge pages, ratio), then the totals.
 * STAT names: area:<type>:<field> with the field names of struct swap_area_stats.
 */
void zsstat_swap(FILE *out, struct swap_ctx *ctx, enum zsstat_style style);

/*
 * The same tables from figures already gathered (the zsstat program parses them back from a
 * server's STAT lines).  A pool's summary, as zsstat_pool() gathers it:
 */
struct zsstat_pool_figs {
	char name[64];
	unsigned long long orig_bytes; /* 0: unknown */
	unsigned long long compr_bytes, mem_used, mem_used_max, meta_bytes;
	unsigned long long pages_compacted, huge_objs, objs_allocated, objs_used;
};

void zsstat_pool_figs(struct zs_pool *pool, const char *name, unsigned long long orig_bytes,
		      struct zsstat_pool_figs *f);
void zsstat_print_pool(FILE *out, const struct zsstat_pool_figs *f, enum zsstat_style style);
/* @cs: @n classes, in index order. */
void zsstat_print_classes(FILE *out, const struct zs_class_stats *cs, unsigned int n,
			  enum zsstat_style style);
void zsstat_print_class_sizes(FILE *out, const struct zs_class_stats *cs, unsigned int n);
/* @areas: @n areas; the totals row is their sum. */
void zsstat_print_swap(FILE *out, const struct swap_area_stats *areas, unsigned int n,
		       enum zsstat_style style);

/* "1.5M", "312K", "4G": a size as zramctl and lsblk print one (binary units). */
char *zsstat_size(char *buf, size_t len, unsigned long long bytes);

#endif /* ZSSTAT_H */
