/*
 * zsstat.c - a pool's summary and per-class tables, as zramctl and the kernel's debugfs
 * zsmalloc/<pool>/classes file show them, or as memcached STAT lines (see zsstat.h).
 *
 * Gathering (zsstat_pool_figs, zs_class_stats) is kept apart from printing (zsstat_print_*), so
 * that the zsstat program prints figures a server sent with the very code the server used.
 * Tables size every column to its widest cell, so they stay narrow for small figures and
 * aligned for large ones.  This file needs libzs only; zsstat_swap.c adds the swap table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "zsstat.h"

#define PAGE_SIZE 4096
#define CELL_LEN  24
#define MAX_COLS  20

/* Rows of cells (row 0 is the header), printed with every column as wide as its widest cell. */
struct table {
	unsigned int ncols, ncells, cap;
	unsigned int nleft; /* the first nleft columns are left-aligned, the rest right-aligned */
	unsigned int gap;   /* blanks between columns */
	int last_left;	    /* the last column left-aligned too (it is never padded) */
	char (*cells)[CELL_LEN];
	int failed;
};

static void table_init(struct table *t, unsigned int ncols, unsigned int nleft, unsigned int rows)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->nleft = nleft;
	t->gap = 2;
	t->cap = ncols * rows;
	t->cells = calloc(t->cap, CELL_LEN);
	t->failed = !t->cells;
}

static void table_cell(struct table *t, const char *fmt, ...)
{
	va_list ap;

	if (t->failed)
		return;
	if (t->ncells == t->cap) {
		void *more = realloc(t->cells, (size_t)t->cap * 2 * CELL_LEN);

		if (!more) {
			t->failed = 1;
			return;
		}
		t->cells = more;
		t->cap *= 2;
	}
	va_start(ap, fmt);
	vsnprintf(t->cells[t->ncells++], CELL_LEN, fmt, ap);
	va_end(ap);
}

/* Cells of one header row, given as one string of space-separated names. */
static void table_header(struct table *t, const char *names)
{
	char buf[256], *save, *name;

	snprintf(buf, sizeof(buf), "%s", names);
	for (name = strtok_r(buf, " ", &save); name; name = strtok_r(NULL, " ", &save))
		table_cell(t, "%s", name);
}

static void table_size_cell(struct table *t, unsigned long long bytes)
{
	char buf[CELL_LEN];

	table_cell(t, "%s", zsstat_size(buf, sizeof(buf), bytes));
}

/* A blank line goes before row @rule (the totals), as in the debugfs file; 0 for none. */
static void table_print(struct table *t, FILE *out, unsigned int rule)
{
	int width[MAX_COLS] = {0};
	unsigned int i, c;

	if (t->failed) {
		fprintf(out, "zsstat: out of memory for a table\n");
		goto out;
	}
	for (i = 0; i < t->ncells; i++) {
		int len = (int)strlen(t->cells[i]);

		if (len > width[i % t->ncols])
			width[i % t->ncols] = len;
	}
	for (i = 0; i < t->ncells; i += t->ncols) {
		if (rule && i == rule * t->ncols)
			fputc('\n', out);
		for (c = 0; c < t->ncols; c++) {
			int w = c < t->nleft ? -width[c] : width[c];

			/* No padding after the last column: no trailing blanks. */
			if (c == t->ncols - 1 && (c < t->nleft || t->last_left))
				w = 0;
			if (!w && !t->cells[i + c][0])
				continue;
			fprintf(out, "%*s%*s", c ? (int)t->gap : 0, "", w, t->cells[i + c]);
		}
		fputc('\n', out);
	}
out:
	free(t->cells);
}

char *zsstat_size(char *buf, size_t len, unsigned long long bytes)
{
	static const char units[] = "BKMGTPE";
	unsigned long long whole = bytes, frac = 0;
	int u = 0;

	/* Tenths, rounded, of the largest unit that leaves at least 1. */
	while (whole >= 1024 && u < 6) {
		frac = whole % 1024;
		whole /= 1024;
		u++;
	}
	frac = (frac * 10 + 512) / 1024;
	if (frac == 10) {
		whole++;
		frac = 0;
	}
	if (whole == 1024 && u < 6) { /* 1023.96K is 1M */
		whole = 1;
		u++;
	}
	if (u == 0 || frac == 0)
		snprintf(buf, len, "%llu%c", whole, units[u]);
	else
		snprintf(buf, len, "%llu.%llu%c", whole, frac, units[u]);
	return buf;
}

static void stat_line(FILE *out, const char *name, unsigned long long value)
{
	fprintf(out, "STAT %s %llu\r\n", name, value);
}

void zsstat_pool_figs(struct zs_pool *pool, const char *name, unsigned long long orig_bytes,
		      struct zsstat_pool_figs *f)
{
	size_t huge = zs_huge_class_size(pool);
	struct zs_pool_stats st;
	struct zs_class_stats cs;

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name ? name : zs_pool_name(pool));
	zs_pool_stats(pool, &st);
	f->orig_bytes = orig_bytes;
	f->compr_bytes = st.bytes_used;
	f->mem_used = (unsigned long long)st.pages_used * PAGE_SIZE;
	f->mem_used_max = (unsigned long long)st.pages_peak * PAGE_SIZE;
	f->meta_bytes = st.meta_bytes;
	f->pages_compacted = st.pages_compacted;
	f->objs_allocated = st.objs_allocated;
	f->objs_used = st.objs_used;
	/* Huge objects are those of the classes that give each object a page of its own. */
	for (unsigned int n = 0; zs_class_stats(pool, n, &cs) == 0; n++)
		if (cs.size >= huge)
			f->huge_objs += cs.obj_used;
}

/* A STAT value is one token: blanks and control characters of a name become '_'. */
static void stat_name_value(FILE *out, const char *key, const char *value)
{
	fprintf(out, "STAT %s ", key);
	for (; *value; value++)
		fputc((unsigned char)*value <= ' ' ? '_' : *value, out);
	fputs("\r\n", out);
}

void zsstat_print_pool(FILE *out, const struct zsstat_pool_figs *f, enum zsstat_style style)
{
	struct table t;

	if (style == ZSSTAT_STAT) {
		stat_name_value(out, "pool_name", f->name[0] ? f->name : "-");
		if (f->orig_bytes)
			stat_line(out, "orig_data_size", f->orig_bytes);
		stat_line(out, "compr_data_size", f->compr_bytes);
		stat_line(out, "mem_used_total", f->mem_used);
		stat_line(out, "mem_used_max", f->mem_used_max);
		stat_line(out, "pool_meta_bytes", f->meta_bytes);
		stat_line(out, "pages_compacted", f->pages_compacted);
		stat_line(out, "huge_pages", f->huge_objs);
		stat_line(out, "pool_objs_allocated", f->objs_allocated);
		stat_line(out, "pool_objs_used", f->objs_used);
		return;
	}
	table_init(&t, 10, 1, 2);
	table_header(&t, "NAME DATA COMPR TOTAL META MEM-USED COMPACTED OBJECTS HUGE RATIO");
	table_cell(&t, "%s", f->name[0] ? f->name : "-");
	if (f->orig_bytes)
		table_size_cell(&t, f->orig_bytes);
	else
		table_cell(&t, "-");
	table_size_cell(&t, f->compr_bytes);
	table_size_cell(&t, f->mem_used);
	table_size_cell(&t, f->meta_bytes);
	table_size_cell(&t, f->mem_used_max);
	table_cell(&t, "%llu", f->pages_compacted);
	table_cell(&t, "%llu", f->objs_used);
	table_cell(&t, "%llu", f->huge_objs);
	/* As zram users quote it: DATA / TOTAL (metadata is shown, not counted, as the kernel). */
	if (f->orig_bytes && f->mem_used)
		table_cell(&t, "%.2f", (double)f->orig_bytes / (double)f->mem_used);
	else
		table_cell(&t, "-");
	table_print(&t, out, 0);
}

void zsstat_pool(FILE *out, struct zs_pool *pool, const char *name, unsigned long long orig_bytes,
		 enum zsstat_style style)
{
	struct zsstat_pool_figs f;

	zsstat_pool_figs(pool, name, orig_bytes, &f);
	zsstat_print_pool(out, &f, style);
}

/* Names of the in-use buckets [1] .. [11] of struct zs_class_stats.zspages ([0] is "empty"). */
static const char *const bucket_name[ZS_NR_RATIO_BUCKETS] = {
    "empty", "10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "99%", "100%",
};

static void print_class_stats(FILE *out, const struct zs_class_stats *cs)
{
	char key[64];

#define CLASS_STAT(field, value)                                                                   \
	do {                                                                                       \
		snprintf(key, sizeof(key), "class:%u:%s", cs->index, field);                       \
		stat_line(out, key, value);                                                        \
	} while (0)
	CLASS_STAT("size", cs->size);
	CLASS_STAT("pages_per_zspage", cs->pages_per_zspage);
	CLASS_STAT("objs_per_zspage", cs->objs_per_zspage);
	for (int g = 0; g < ZS_NR_RATIO_BUCKETS; g++)
		CLASS_STAT(bucket_name[g], cs->zspages[g]);
	CLASS_STAT("obj_allocated", cs->obj_allocated);
	CLASS_STAT("obj_used", cs->obj_used);
	CLASS_STAT("pages_used", cs->pages_used);
	CLASS_STAT("freeable", cs->freeable);
#undef CLASS_STAT
}

static int class_has_zspages(const struct zs_class_stats *cs)
{
	for (int g = 0; g < ZS_NR_RATIO_BUCKETS; g++)
		if (cs->zspages[g])
			return 1;
	return 0;
}

void zsstat_print_classes(FILE *out, const struct zs_class_stats *cs, unsigned int n,
			  enum zsstat_style style)
{
	unsigned long long tot[ZS_NR_RATIO_BUCKETS] = {0}, alloc = 0, used = 0, pages = 0,
			   freeable = 0;
	unsigned int i, rows = 0;
	struct table t;

	if (style == ZSSTAT_STAT) {
		for (i = 0; i < n; i++)
			if (class_has_zspages(&cs[i]))
				print_class_stats(out, &cs[i]);
		return;
	}
	/* The kernel's columns under shorter names (objs: obj_allocated, used: obj_used, pages:
	 * pages_used, chain: pages_per_zspage), one blank apart, to fit a terminal. */
	table_init(&t, 18, 0, 16);
	t.gap = 1;
	table_header(&t, "class size 10% 20% 30% 40% 50% 60% 70% 80% 90% 99% 100% "
			 "objs used pages chain freeable");
	/* Only classes holding zspages: a pool uses a few dozen of its classes at a time. */
	for (i = 0; i < n; i++) {
		if (!class_has_zspages(&cs[i]))
			continue;
		rows++;
		table_cell(&t, "%u", cs[i].index);
		table_cell(&t, "%u", cs[i].size);
		for (int g = 1; g < ZS_NR_RATIO_BUCKETS; g++) {
			table_cell(&t, "%lu", cs[i].zspages[g]);
			tot[g] += cs[i].zspages[g];
		}
		table_cell(&t, "%lu", cs[i].obj_allocated);
		table_cell(&t, "%lu", cs[i].obj_used);
		table_cell(&t, "%lu", cs[i].pages_used);
		table_cell(&t, "%u", cs[i].pages_per_zspage);
		table_cell(&t, "%lu", cs[i].freeable);
		alloc += cs[i].obj_allocated;
		used += cs[i].obj_used;
		pages += cs[i].pages_used;
		freeable += cs[i].freeable;
	}
	table_cell(&t, "Total");
	table_cell(&t, "");
	for (int g = 1; g < ZS_NR_RATIO_BUCKETS; g++)
		table_cell(&t, "%llu", tot[g]);
	table_cell(&t, "%llu", alloc);
	table_cell(&t, "%llu", used);
	table_cell(&t, "%llu", pages);
	table_cell(&t, "");
	table_cell(&t, "%llu", freeable);
	table_print(&t, out, rows + 1);
}

/* Every class's figures, or NULL (reported on @out) when out of memory. */
static struct zs_class_stats *get_classes(FILE *out, struct zs_pool *pool, unsigned int *n,
					  enum zsstat_style style)
{
	unsigned int max = zs_nr_classes(pool);
	struct zs_class_stats *cs = calloc(max ? max : 1, sizeof(*cs));

	if (!cs) {
		fprintf(out, style == ZSSTAT_STAT ? "STAT error out_of_memory\r\n"
						  : "zsstat: out of memory\n");
		return NULL;
	}
	for (*n = 0; *n < max && zs_class_stats(pool, *n, &cs[*n]) == 0; (*n)++)
		;
	return cs;
}

void zsstat_classes(FILE *out, struct zs_pool *pool, enum zsstat_style style)
{
	unsigned int n;
	struct zs_class_stats *cs = get_classes(out, pool, &n, style);

	if (cs)
		zsstat_print_classes(out, cs, n, style);
	free(cs);
}

#define BAND_BYTES 512
#define NR_BANDS   (PAGE_SIZE / BAND_BYTES + 1) /* the last one: the huge class */
#define SHARE_BAR  20

void zsstat_print_class_sizes(FILE *out, const struct zs_class_stats *cs, unsigned int n)
{
	static const char bar[SHARE_BAR + 1] = "####################";
	struct band {
		unsigned int lo, hi;
		unsigned long long objs, pages, slot_bytes;
	} bands[NR_BANDS] = {{0}};
	unsigned long long pages = 0, most = 0;
	struct table t;
	int b;

	for (unsigned int i = 0; i < n; i++) {
		/* A huge class gives each object a page: the kernel's test for one. */
		int huge = cs[i].objs_per_zspage == 1 && cs[i].pages_per_zspage == 1;
		struct band *bd;

		b = (int)((cs[i].size - 1) / BAND_BYTES);
		if (huge)
			b = NR_BANDS - 1;
		else if (b >= NR_BANDS - 1)
			b = NR_BANDS - 2;
		bd = &bands[b];
		if (!cs[i].obj_allocated)
			continue;
		if (!bd->lo || cs[i].size < bd->lo)
			bd->lo = cs[i].size;
		if (cs[i].size > bd->hi)
			bd->hi = cs[i].size;
		bd->objs += cs[i].obj_used;
		bd->pages += cs[i].pages_used;
		bd->slot_bytes += (unsigned long long)cs[i].obj_used * cs[i].size;
		pages += cs[i].pages_used;
	}
	for (b = 0; b < NR_BANDS; b++)
		if (bands[b].pages > most)
			most = bands[b].pages;
	table_init(&t, 6, 0, NR_BANDS + 1);
	t.last_left = 1;
	table_header(&t, "size objects pages fill share");
	table_cell(&t, "");
	for (b = 0; b < NR_BANDS; b++) {
		const struct band *bd = &bands[b];
		/* The bar: the band's pages, the largest band at full width. */
		int len = most ? (int)((bd->pages * SHARE_BAR + most / 2) / most) : 0;

		if (!bd->objs && !bd->pages)
			continue;
		if (bd->lo == bd->hi)
			table_cell(&t, "%s%u", b == NR_BANDS - 1 ? "huge " : "", bd->lo);
		else
			table_cell(&t, "%s%u-%u", b == NR_BANDS - 1 ? "huge " : "", bd->lo, bd->hi);
		table_cell(&t, "%llu", bd->objs);
		table_cell(&t, "%llu", bd->pages);
		if (bd->pages)
			table_cell(&t, "%.0f%%",
				   100.0 * (double)bd->slot_bytes /
				       (double)(bd->pages * PAGE_SIZE));
		else
			table_cell(&t, "-");
		table_cell(&t, "%.0f%%", pages ? 100.0 * (double)bd->pages / (double)pages : 0.0);
		table_cell(&t, "%.*s", len, bar);
	}
	table_print(&t, out, 0);
}

void zsstat_class_sizes(FILE *out, struct zs_pool *pool)
{
	unsigned int n;
	struct zs_class_stats *cs = get_classes(out, pool, &n, ZSSTAT_TABLE);

	if (cs)
		zsstat_print_class_sizes(out, cs, n);
	free(cs);
}

/* The numeric fields of struct swap_area_stats, by name, for STAT lines. */
#define AREA_FIELD(f)                                                                              \
	{                                                                                          \
		.name = #f, .off = offsetof(struct swap_area_stats, f)                             \
	}
static const struct {
	const char *name;
	size_t off;
} area_fields[] = {
    AREA_FIELD(nr_pages),	  AREA_FIELD(usable_pages),   AREA_FIELD(inuse_pages),
    AREA_FIELD(bad_pages),	  AREA_FIELD(nr_clusters),    AREA_FIELD(free_clusters),
    AREA_FIELD(nonfull_clusters), AREA_FIELD(full_clusters),  AREA_FIELD(percpu_clusters),
    AREA_FIELD(continued_slots),  AREA_FIELD(swap_outs),      AREA_FIELD(swap_ins),
    AREA_FIELD(backend_reads),	  AREA_FIELD(cache_hits),     AREA_FIELD(cache_pages),
    AREA_FIELD(failed_reads),	  AREA_FIELD(failed_writes),  AREA_FIELD(orig_data_size),
    AREA_FIELD(compr_data_size),  AREA_FIELD(mem_used_total), AREA_FIELD(mem_limit),
    AREA_FIELD(mem_used_max),	  AREA_FIELD(same_pages),     AREA_FIELD(huge_pages),
    AREA_FIELD(pages_compacted),  AREA_FIELD(idle_pages),     AREA_FIELD(recompressed),
    AREA_FIELD(incompressible),	  AREA_FIELD(wb_pages),	      AREA_FIELD(wb_writes),
    AREA_FIELD(wb_reads),	  AREA_FIELD(wb_failed),      AREA_FIELD(pool_limit_hit),
    AREA_FIELD(huge_direct),	  AREA_FIELD(backing_pages),  AREA_FIELD(backing_used),
};
#undef AREA_FIELD

static const char *kind_name(int kind)
{
	return kind == SWAP_AREA_MEMORY	  ? "memory"
	       : kind == SWAP_AREA_TIERED ? "tiered"
	       : kind			  ? "file"
					  : "";
}

static void print_area_stats(FILE *out, const struct swap_area_stats *a)
{
	int mem = a->kind != SWAP_AREA_FILE;
	char key[64];

	fprintf(out, "STAT area:%d:kind %s\r\n", a->type, kind_name(a->kind));
	fprintf(out, "STAT area:%d:priority %d\r\n", a->type, a->priority);
	fprintf(out, "STAT area:%d:draining %d\r\n", a->type, a->draining);
	for (size_t i = 0; i < sizeof(area_fields) / sizeof(area_fields[0]); i++) {
		uint64_t v;

		memcpy(&v, (const char *)a + area_fields[i].off, sizeof(v));
		snprintf(key, sizeof(key), "area:%d:%s", a->type, area_fields[i].name);
		stat_line(out, key, v);
	}
	if (mem ? *a->compressor : *a->label) {
		snprintf(key, sizeof(key), "area:%d:%s", a->type, mem ? "compressor" : "label");
		stat_name_value(out, key, mem ? a->compressor : a->label);
	}
}

/* Memory-area figures: "-" in a file area's row. */
static void area_size_cell(struct table *t, const struct swap_area_stats *a, uint64_t bytes)
{
	if (a->kind == SWAP_AREA_FILE)
		table_cell(t, "-");
	else
		table_size_cell(t, bytes);
}

static void area_row(struct table *t, const struct swap_area_stats *a, const char *type)
{
	const char *kind = kind_name(a->kind);
	const char *name = a->kind != SWAP_AREA_FILE ? a->compressor : a->label;

	table_cell(t, "%s", type);
	table_cell(t, "%s", kind);
	table_cell(t, "%s", *name ? name : a->kind ? "-" : "");
	if (a->kind)
		table_cell(t, "%d", a->priority);
	else
		table_cell(t, "");
	table_size_cell(t, a->usable_pages * SWAP_PAGE_SIZE);
	table_size_cell(t, a->inuse_pages * SWAP_PAGE_SIZE);
	area_size_cell(t, a, a->orig_data_size);
	area_size_cell(t, a, a->compr_data_size);
	area_size_cell(t, a, a->mem_used_total);
	if (a->kind != SWAP_AREA_FILE && a->mem_limit)
		table_size_cell(t, a->mem_limit);
	else
		table_cell(t, "-");
	if (a->kind == SWAP_AREA_FILE) {
		table_cell(t, "-");
		table_cell(t, "-");
	} else {
		table_cell(t, "%llu", (unsigned long long)a->same_pages);
		table_cell(t, "%llu", (unsigned long long)a->huge_pages);
	}
	if (a->kind != SWAP_AREA_FILE && a->mem_used_total)
		table_cell(t, "%.2f", (double)a->orig_data_size / (double)a->mem_used_total);
	else
		table_cell(t, "-");
	/* a tier's pages in its backing file */
	if (a->kind == SWAP_AREA_TIERED || (!a->kind && a->wb_pages))
		table_size_cell(t, a->wb_pages * SWAP_PAGE_SIZE);
	else
		table_cell(t, "-");
}

void zsstat_print_swap(FILE *out, const struct swap_area_stats *areas, unsigned int n,
		       enum zsstat_style style)
{
	struct swap_area_stats sum = {.type = -1};
	int unlimited = 0;
	char type[16];
	struct table t;

	if (style == ZSSTAT_STAT) {
		stat_line(out, "swap_areas", n);
		for (unsigned int i = 0; i < n; i++)
			print_area_stats(out, &areas[i]);
		return;
	}
	table_init(&t, 14, 3, n + 2);
	table_header(&t,
		     "TYPE KIND NAME PRIO SIZE USED DATA COMPR TOTAL LIMIT SAME HUGE RATIO FILE");
	for (unsigned int i = 0; i < n; i++) {
		const struct swap_area_stats *a = &areas[i];

		snprintf(type, sizeof(type), "%d", a->type);
		area_row(&t, a, type);
		sum.usable_pages += a->usable_pages;
		sum.inuse_pages += a->inuse_pages;
		sum.orig_data_size += a->orig_data_size;
		sum.compr_data_size += a->compr_data_size;
		sum.mem_used_total += a->mem_used_total;
		sum.mem_limit += a->mem_limit;
		unlimited |= a->kind != SWAP_AREA_FILE && !a->mem_limit;
		sum.same_pages += a->same_pages;
		sum.huge_pages += a->huge_pages;
		sum.wb_pages += a->wb_pages;
	}
	/* One memory area without a limit makes the total unlimited. */
	if (unlimited)
		sum.mem_limit = 0;
	area_row(&t, &sum, "total");
	table_print(&t, out, 0);
}
