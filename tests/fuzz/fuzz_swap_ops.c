/*
 * fuzz_swap_ops.c - property: any sequence of libswap calls on a context of one to three areas
 * (lz4 or zstd memory, swap files with or without checksums, bad pages, memory limits, tiered
 * areas with a backing file, writeback limits and huge pages sent direct), with any mix of
 * live, freed and made-up entries, behaves as a shadow model says.
 *
 * The model keeps every live entry (its reference count and the page it stands for) and each
 * area's type, size and state.  swap_in of a live entry gives its page back; swap_duplicate and
 * swap_free move the count exactly as the model does (through count continuation when it goes
 * past SWAP_MAP_MAX); an entry that is not live is refused with -EINVAL by every call; swap_off
 * succeeds exactly when the model holds no entry of that area, and otherwise leaves it draining
 * (no new page goes to it) until swap_off_cancel; swap_out only runs out of room when the model
 * says the areas are full (or a memory limit is set); idle marking, writeback and
 * recompression change no page and answer -EOPNOTSUPP where the kind has no such thing; a
 * tier's file holds exactly its written-back pages; statistics count what the model holds.  At
 * the end every entry is freed and every area removed.
 *
 * Input: one byte for the number of areas and a few per area, then one operation per byte,
 * each followed by its arguments.
 */
#include <errno.h>
#include <zstd.h>

#define FZ_SPARSE_FILES
#include "fuzz.h"
#include "zs/swap.h"

#define MAX_AREAS   3
#define MAX_ENTRIES 256
#define MAX_COUNT   600 /* past SWAP_MAP_MAX and one continuation digit, at bounded cost */
/* An area's own compressor and the 3 second ones swap_recompress may add over its life. */
#define AREA_COMPRESSORS 4

enum area_kind { AK_MEMORY, AK_FILE, AK_TIER };

struct area {
	bool on;
	bool draining; /* swap_off said -EBUSY: no new page goes to it */
	bool limited;  /* a memory limit: swap_out may find no room before the model is full */
	enum area_kind kind;
	struct swap_area_opts opts;
	char path[96];
	char compressor[16];
	uint32_t bad[4];
	uint64_t usable;
	/* the compressors its entries may use, its own first, as the area names them (at most
	 * AREA_COMPRESSORS over its life: recompression with another is refused) */
	char comps[AREA_COMPRESSORS][16];
	unsigned nr_comps;
};

struct entry {
	uint64_t val;
	int count;
	uint8_t kind;
	uint32_t seed;
};

struct model {
	struct swap_ctx *ctx;
	struct area area[MAX_AREAS]; /* by type */
	struct area parked[MAX_AREAS];
	unsigned nr_parked;
	bool area_went_off; /* the areas on may no longer be the ones the input began with */
	struct entry e[MAX_ENTRIES];
	unsigned nr;
	struct fz_stale stale;
};

static uint8_t page[FZ_PAGE], expect[FZ_PAGE];

/* A search of the model, kept out of the fuzzer's feedback (FZ_DATA). */
FZ_DATA static struct entry *find_live(struct model *m, uint64_t val)
{
	for (unsigned i = 0; i < m->nr; i++)
		if (m->e[i].val == val)
			return &m->e[i];
	return NULL;
}

static unsigned live_in(struct model *m, unsigned type)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->nr; i++)
		n += swp_type((swp_entry_t){m->e[i].val}) == type;
	return n;
}

static int lowest_free_type(struct model *m)
{
	for (int t = 0; t < MAX_AREAS; t++)
		if (!m->area[t].on)
			return t;
	return -1;
}

/* Make area @a's options from the input; files get a path of their own in the scratch folder,
 * named by the context @ctx_nr and the area's place @n in it. */
static void area_from_input(struct area *a, struct fz *f, unsigned ctx_nr, unsigned n)
{
	uint8_t k = fz_u8(f);
	uint16_t pages = fz_u16(f);

	memset(a, 0, sizeof(*a));
	a->opts.priority = (int)(fz_u8(f) % 3) - 1;
	if (k % 6 >= 4) {
		/* a tier: a small pool in front of a small backing file */
		a->kind = AK_TIER;
		snprintf(a->path, sizeof(a->path), "%s/c%u-area%u", fz_scratch_dir(), ctx_nr, n);
		unlink(a->path);
		a->opts.backing_path = a->path;
		a->opts.nr_pages = 2 + pages % 600;
		a->opts.backing_pages = SWAP_MIN_FILE_PAGES + (pages >> 9) % 100;
		a->opts.mem_limit = (uint64_t)(1 + (k >> 3) % 8) * FZ_PAGE;
		a->opts.flags = k & 0x40 ? SWAP_AREA_WB_HUGE_DIRECT : 0;
		a->opts.backing_flags = k & 0x80 ? SWAP_AREA_CHECKSUM : 0;
		a->opts.writeback_limit = k % 6 == 5 ? 1 + (k >> 4) % 4 : 0;
		a->limited = true;
		a->usable = a->opts.nr_pages - 1;
		return;
	}
	if (k % 6 < 2) {
		a->kind = AK_MEMORY;
		a->opts.nr_pages = 2 + pages % 600;
		if (k % 4 == 1) {
			snprintf(a->compressor, sizeof(a->compressor), "zstd:%d", 1 + (k >> 5) % 3);
			a->opts.compressor = a->compressor;
		}
		if (k & 0x10) {
			a->opts.mem_limit = (uint64_t)(1 + fz_u8(f) % 8) * FZ_PAGE;
			a->limited = true;
		}
		a->usable = a->opts.nr_pages - 1;
		return;
	}
	a->kind = AK_FILE;
	snprintf(a->path, sizeof(a->path), "%s/c%u-area%u", fz_scratch_dir(), ctx_nr, n);
	unlink(a->path);
	a->opts.path = a->path;
	a->opts.nr_pages = SWAP_MIN_FILE_PAGES + pages % 600;
	a->opts.flags = k % 6 == 3 ? SWAP_AREA_CHECKSUM : 0;
	a->usable = a->opts.nr_pages - 1;
	if (k & 0x20) {
		/* a few distinct bad pages */
		for (unsigned i = 0; i < 1u + (k >> 6); i++) {
			uint32_t b = 1 + fz_u16(f) % (uint32_t)(a->opts.nr_pages - 1);
			bool dup = false;
			for (unsigned j = 0; j < a->opts.nr_bad_pages; j++)
				dup |= a->bad[j] == b;
			if (!dup && a->usable > 1) {
				a->bad[a->opts.nr_bad_pages++] = b;
				a->usable--;
			}
		}
		a->opts.bad_pages = a->bad;
	}
}

/* The name the library gives compressor @name (NULL: lz4; "zstd": its default level). */
static void compressor_name(char *out, size_t len, const char *name)
{
	if (!name || !strcmp(name, "lz4"))
		snprintf(out, len, "lz4");
	else if (!strcmp(name, "zstd"))
		snprintf(out, len, "zstd:%d", ZSTD_CLEVEL_DEFAULT);
	else
		snprintf(out, len, "%s", name);
}

/* Put area @a on; @from_header: open its existing file with nr_pages 0 and no bad pages. */
static void area_on(struct model *m, const struct area *a, bool from_header)
{
	int want = lowest_free_type(m);
	struct area *at = &m->area[want];
	struct swap_area_opts o;
	int type;

	/* The options point into the area, so they follow it to its slot in the model. */
	*at = *a;
	if (at->opts.path)
		at->opts.path = at->path;
	if (at->opts.backing_path)
		at->opts.backing_path = at->path;
	if (at->opts.compressor)
		at->opts.compressor = at->compressor;
	if (at->opts.bad_pages)
		at->opts.bad_pages = at->bad;
	o = at->opts;
	if (from_header && at->kind == AK_FILE) {
		o.nr_pages = 0;
		o.nr_bad_pages = 0;
		o.bad_pages = NULL;
	}
	if (from_header && at->kind == AK_TIER)
		o.backing_pages = 0; /* the existing backing file's header says */
	type = swap_on(m->ctx, &o);
	fz_check(type == want, "swap_on gave %d, want type %d", type, want);
	at->on = true;
	compressor_name(at->comps[0], sizeof(at->comps[0]), at->opts.compressor);
	at->nr_comps = 1;
	at->draining = false;
}

static uint64_t model_room(struct model *m)
{
	uint64_t room = 0;

	for (int t = 0; t < MAX_AREAS; t++)
		if (m->area[t].on && !m->area[t].draining)
			room += m->area[t].usable - live_in(m, (unsigned)t);
	return room;
}

static bool any_limited(struct model *m)
{
	for (int t = 0; t < MAX_AREAS; t++)
		if (m->area[t].on && m->area[t].limited)
			return true;
	return false;
}

static void check_entry(struct model *m, struct entry *x, const char *when)
{
	swp_entry_t e = {x->val};

	fz_check(swap_count(m->ctx, e) == x->count, "%s: count of %#llx: %d, model %d", when,
		 (unsigned long long)x->val, swap_count(m->ctx, e), x->count);
	memset(page, 0xee, sizeof(page));
	fz_check(swap_in(m->ctx, e, page) == 0, "%s: swap_in of live %#llx", when,
		 (unsigned long long)x->val);
	fz_make_page(expect, x->kind, x->seed);
	fz_check(!memcmp(page, expect, FZ_PAGE), "%s: page of %#llx changed", when,
		 (unsigned long long)x->val);
}

/* A slot of a tier may be held for a moment by its writeback thread after its last reference
 * went: then it is in use with no reference, as a slot only in the swap cache is. */
static bool in_tier(struct model *m, uint64_t val)
{
	unsigned t = swp_type((swp_entry_t){val});

	return t < MAX_AREAS && m->area[t].on && m->area[t].kind == AK_TIER;
}

/* Every call on an entry that is not live says -EINVAL (swap_count may say 0 for a tier's slot
 * its writeback holds, and a duplicate would bring that slot back, so it is not tried). */
static void check_not_live(struct model *m, uint64_t val)
{
	swp_entry_t e = {val};
	bool tier = in_tier(m, val);
	int c;

	if (find_live(m, val))
		return;
	fz_check(swap_in(m->ctx, e, page) == -EINVAL, "swap_in of %#llx", (unsigned long long)val);
	c = swap_count(m->ctx, e);
	fz_check(c == -EINVAL || (tier && c == 0), "swap_count of %#llx: %d",
		 (unsigned long long)val, c);
	if (!tier)
		fz_check(swap_duplicate(m->ctx, e) == -EINVAL, "dup of %#llx",
			 (unsigned long long)val);
	fz_check(swap_free(m->ctx, e) == -EINVAL, "free of %#llx", (unsigned long long)val);
}

static void op_out(struct model *m, struct fz *f)
{
	uint8_t kind = fz_u8(f);
	uint32_t seed = fz_u32(f);
	swp_entry_t e;
	unsigned t;

	if (m->nr == MAX_ENTRIES)
		return;
	fz_make_page(page, kind, seed);
	errno = 0;
	e = swap_out(m->ctx, page);
	if (!e.val) {
		fz_check(errno == ENOSPC, "swap_out: errno %d", errno);
		fz_check(!model_room(m) || any_limited(m), "swap_out: ENOSPC with %llu free slots",
			 (unsigned long long)model_room(m));
		return;
	}
	t = swp_type(e);
	fz_check(t < MAX_AREAS && m->area[t].on, "swap_out used area %u", t);
	fz_check(!m->area[t].draining, "swap_out used draining area %u", t);
	fz_check(swp_offset(e) > 0 && swp_offset(e) < m->area[t].opts.nr_pages, "offset %llu",
		 (unsigned long long)swp_offset(e));
	for (unsigned i = 0; i < m->area[t].opts.nr_bad_pages; i++)
		fz_check(swp_offset(e) != m->area[t].bad[i], "swap_out used bad slot %u",
			 m->area[t].bad[i]);
	fz_check(!find_live(m, e.val), "swap_out gave live entry %#llx again",
		 (unsigned long long)e.val);
	m->e[m->nr++] = (struct entry){.val = e.val, .count = 1, .kind = kind, .seed = seed};
}

static void drop_ref(struct model *m, struct entry *x)
{
	uint64_t val = x->val;

	fz_check(swap_free(m->ctx, (swp_entry_t){val}) == 0, "swap_free of live %#llx",
		 (unsigned long long)val);
	if (--x->count)
		return;
	*x = m->e[--m->nr];
	fz_stale_add(&m->stale, val);
	check_not_live(m, val);
}

static void op_dup(struct model *m, struct entry *x, uint8_t how)
{
	/* mostly one more reference, sometimes enough to need continuation bytes */
	int n = how & 0x80 ? 40 + (how & 0x7f) : 1 + how % 4;

	if (x->count + n > MAX_COUNT)
		return;
	for (int i = 0; i < n; i++)
		fz_check(swap_duplicate(m->ctx, (swp_entry_t){x->val}) == 0, "dup of live %#llx",
			 (unsigned long long)x->val);
	x->count += n;
	fz_check(swap_count(m->ctx, (swp_entry_t){x->val}) == x->count, "count after dup");
}

static void op_off(struct model *m, uint8_t how)
{
	int type = how % (MAX_AREAS + 2) - 1; /* -1 and MAX_AREAS are never areas */
	int want, err;

	if (type >= 0 && type < MAX_AREAS && m->area[type].on)
		want = live_in(m, (unsigned)type) ? -EBUSY : 0;
	else
		want = -EINVAL;
	err = swap_off(m->ctx, type);
	fz_check(err == want, "swap_off(%d) = %d, model %d", type, err, want);
	if (err == -EBUSY)
		m->area[type].draining = true;
	if (!err) {
		m->area_went_off = true;
		m->parked[m->nr_parked++] = m->area[type];
		m->area[type].on = false;
	}
}

static void op_on_again(struct model *m, uint8_t how)
{
	struct area a;
	unsigned i;

	if (!m->nr_parked)
		return;
	i = how % m->nr_parked;
	a = m->parked[i];
	m->nr_parked--;
	m->parked[i] = m->parked[m->nr_parked];
	area_on(m, &a, a.opts.path && how & 0x80);
}

static void op_cancel(struct model *m, uint8_t how)
{
	int type = how % (MAX_AREAS + 2) - 1;
	bool draining = type >= 0 && type < MAX_AREAS && m->area[type].on && m->area[type].draining;
	int err = swap_off_cancel(m->ctx, type);

	fz_check(err == (draining ? 0 : -EINVAL), "swap_off_cancel(%d) = %d, draining %d", type,
		 err, draining);
	if (draining)
		m->area[type].draining = false;
}

/* Whether area @a may recompress with @name: one of its compressors already, or room for it
 * (then it is one from now on). */
static bool area_takes_compressor(struct area *a, const char *name)
{
	char c[16];

	compressor_name(c, sizeof(c), name);
	for (unsigned i = 0; i < a->nr_comps; i++)
		if (!strcmp(a->comps[i], c))
			return true;
	if (a->nr_comps == AREA_COMPRESSORS)
		return false;
	memcpy(a->comps[a->nr_comps++], c, sizeof(c));
	return true;
}

/* Idle marking, writeback, recompression and the writeback limit on one area: no page changes,
 * and each kind answers what it can. */
static void op_reclaim(struct model *m, struct fz *f)
{
	uint8_t how = fz_u8(f);
	int type = (int)(fz_u8(f) % (MAX_AREAS + 1));
	bool on = type < MAX_AREAS && m->area[type].on;
	enum area_kind kind = on ? m->area[type].kind : AK_MEMORY;
	struct swap_area_stats st;
	long r;

	switch (how % 4) {
	case 0:
		/* A tier's thread may hold a batch of slots being written back: an entry freed
		 * meanwhile keeps its slot, and so can be counted idle, until the batch ends. */
		r = swap_mark_idle(m->ctx, type, how >> 7);
		fz_check(on ? (kind == AK_FILE
				   ? r == -EOPNOTSUPP
				   : r >= 0 && r <= (long)live_in(m, (unsigned)type) +
							(kind == AK_TIER ? SWAP_WB_BATCH : 0))
			    : r == -EINVAL,
			 "swap_mark_idle(%d) = %ld", type, r);
		break;
	case 1: {
		struct swap_writeback_opts o = {.flags = (how >> 2) & 7, .max_pages = how >> 5};

		r = swap_writeback(m->ctx, type, &o);
		if (!on)
			fz_check(r == -EINVAL, "swap_writeback of no area = %ld", r);
		else if (kind != AK_TIER)
			fz_check(r == -EOPNOTSUPP, "swap_writeback of a %d area = %ld", kind, r);
		else
			fz_check(r == -EIO || (r >= 0 && (!o.max_pages || r <= (long)o.max_pages)),
				 "swap_writeback = %ld", r);
		break;
	}
	case 2: {
		static const char *const comps[] = {"zstd:1", "lz4", "zstd", "zstd:12"};
		struct swap_recompress_opts o = {.compressor = comps[(how >> 2) & 3],
						 .flags = (how >> 4) & 3,
						 .threshold = (uint32_t)(how >> 6) * 512};

		r = swap_recompress(m->ctx, type, &o);
		if (!on)
			fz_check(r == -EINVAL, "swap_recompress of no area = %ld", r);
		else if (kind == AK_FILE)
			fz_check(r == -EOPNOTSUPP, "swap_recompress of a file = %ld", r);
		else if (!area_takes_compressor(&m->area[type], o.compressor))
			fz_check(r == -ENOSPC, "swap_recompress with a compressor too many = %ld",
				 r);
		else
			fz_check(r >= 0 && r <= (long)live_in(m, (unsigned)type),
				 "swap_recompress = %ld", r);
		break;
	}
	default:
		r = swap_set_writeback_limit(m->ctx, type,
					     how & 0x80 ? SWAP_WB_UNLIMITED : (uint64_t)(how >> 2));
		fz_check(r == (on ? (kind == AK_TIER ? 0 : -EOPNOTSUPP) : -EINVAL),
			 "swap_set_writeback_limit = %ld", r);
		break;
	}
	/* (a batch of the writeback thread may be between taking file slots and moving pages) */
	if (on && swap_area_stats(m->ctx, type, &st) == 0 && kind == AK_TIER) {
		fz_check(st.backing_used <= st.wb_pages + SWAP_WB_BATCH &&
			     st.wb_pages <= st.backing_used + SWAP_WB_BATCH,
			 "tier: %llu pages in the file, %llu slots used",
			 (unsigned long long)st.wb_pages, (unsigned long long)st.backing_used);
		fz_check(st.wb_pages <= live_in(m, (unsigned)type) + SWAP_WB_BATCH,
			 "tier: more in the file than live");
	}
}

static void op_stats(struct model *m)
{
	struct swap_area_stats st;
	int on = 0;

	for (int t = 0; t < MAX_AREAS; t++) {
		long c = swap_compact(m->ctx, t);
		if (!m->area[t].on) {
			fz_check(c == -EINVAL && swap_area_stats(m->ctx, t, &st) == -EINVAL,
				 "area %d is off", t);
			continue;
		}
		on++;
		fz_check(c >= 0 && (m->area[t].kind != AK_FILE || c == 0), "swap_compact(%d) = %ld",
			 t, c);
		fz_check(swap_area_stats(m->ctx, t, &st) == 0, "area stats %d", t);
		fz_check(st.inuse_pages == live_in(m, (unsigned)t) ||
			     (m->area[t].kind == AK_TIER &&
			      st.inuse_pages <= live_in(m, (unsigned)t) + SWAP_WB_BATCH),
			 "area %d in use %llu, model %u", t, (unsigned long long)st.inuse_pages,
			 live_in(m, (unsigned)t));
		fz_check(st.usable_pages == m->area[t].usable, "area %d usable %llu, model %llu", t,
			 (unsigned long long)st.usable_pages,
			 (unsigned long long)m->area[t].usable);
		fz_check(st.draining == m->area[t].draining, "area %d draining %d, model %d", t,
			 st.draining, m->area[t].draining);
	}
	fz_check(swap_ctx_stats(m->ctx, &st) == on, "areas on");
	fz_check(st.inuse_pages >= m->nr && st.inuse_pages <= m->nr + MAX_AREAS * SWAP_WB_BATCH,
		 "in use %llu, model %u", (unsigned long long)st.inuse_pages, m->nr);
}

static uint64_t bogus_entry(struct model *m, struct fz *f)
{
	uint8_t how = fz_u8(f);
	unsigned type = fz_u8(f) % (SWAP_MAX_AREAS + 2);

	switch (how % 4) {
	case 0:
		return fz_stale_pick(&m->stale, f, 0);
	case 1: /* around the end of an area */
		return swp_entry(type, m->area[type % MAX_AREAS].opts.nr_pages - 2 + fz_u8(f) % 4)
		    .val;
	case 2:
		return swp_entry(type, fz_u16(f)).val;
	default:
		return fz_u64(f);
	}
}

static void op_bad_args(struct model *m, struct fz *f)
{
	struct swap_area_opts o = {0};
	uint8_t how = fz_u8(f);
	int err;

	errno = 0;
	switch (how % 5) {
	case 0:
		fz_check(swap_out(m->ctx, NULL).val == 0 && errno == EINVAL, "swap_out(NULL)");
		break;
	case 1:
		if (m->nr)
			fz_check(swap_in(m->ctx, (swp_entry_t){m->e[0].val}, NULL) == -EINVAL,
				 "swap_in into NULL");
		break;
	case 2:
		fz_check(swap_on(m->ctx, NULL) == -EINVAL, "swap_on(NULL)");
		break;
	case 3:
		o.nr_pages = how >> 7; /* a memory area needs two slots at least */
		o.compressor = how & 0x20 ? "zstd:99" : NULL;
		if (o.nr_pages && !o.compressor)
			o.flags = SWAP_AREA_CHECKSUM; /* files only */
		err = swap_on(m->ctx, &o);
		fz_check(err == -EINVAL, "bad memory area options: %d", err);
		break;
	default:
		/* a file given memory-area options, or too small to format: refused, not left */
		{
			char path[96];
			snprintf(path, sizeof(path), "%s/refused", fz_scratch_dir());
			o.path = path;
			o.nr_pages = how & 0x20 ? SWAP_MIN_FILE_PAGES : SWAP_MIN_FILE_PAGES - 1;
			o.compressor = how & 0x20 ? "lz4" : NULL;
			err = swap_on(m->ctx, &o);
			fz_check(err == -EINVAL, "bad file options: %d", err);
			fz_check(access(path, F_OK) != 0, "a refused swap_on left its file");
		}
		break;
	}
}

static void run(struct model *m, struct fz *f)
{
	unsigned ops = 0;

	while (fz_more(f) && ops++ < 2048) {
		uint8_t op = fz_u8(f);
		struct entry *x = m->nr ? &m->e[fz_u8(f) % m->nr] : NULL;

		switch (op % 13) {
		case 0:
		case 1:
		case 2:
			op_out(m, f);
			break;
		case 3:
			if (x)
				check_entry(m, x, "swap_in");
			break;
		case 4:
			if (x)
				op_dup(m, x, fz_u8(f));
			break;
		case 5:
		case 6:
			if (x)
				drop_ref(m, x);
			break;
		case 7:
			check_not_live(m, bogus_entry(m, f));
			break;
		case 8:
			if (op & 0x80)
				op_on_again(m, fz_u8(f));
			else
				op_off(m, fz_u8(f));
			break;
		case 9:
			op_stats(m);
			break;
		case 11:
			op_reclaim(m, f);
			break;
		case 12:
			op_cancel(m, fz_u8(f));
			break;
		default:
			op_bad_args(m, f);
			break;
		}
	}
}

/*
 * Contexts are kept across inputs with their areas on and empty, keyed by the input bytes that
 * chose the areas: most inputs are mutations that keep those bytes, and making the areas (pools
 * and their reservations, a tier's writeback thread, files, and the grace periods of taking
 * them down) cost more than the operations of a typical input.  A context is put back only when
 * the input left the areas it began with on, none draining, and (every entry having been freed)
 * nothing in them; it is checked to hold nothing again when it is taken, and a tier's writeback
 * limit, which writeback spends, is armed again as swap_on arms it.  So an input finds the areas
 * as it would find new ones: only the offsets they give differ.  Each context's files have paths
 * of their own.  FZ_FRESH_AREAS=1 in the environment makes every context anew, to tell whether a
 * crash depends on history.
 */
#define CTX_CACHE 8
#define AREA_KEY  32 /* the most bytes area_from_input reads for MAX_AREAS areas, and some */

static struct kept_ctx {
	struct swap_ctx *ctx;
	uint8_t key[AREA_KEY];
	size_t key_len;
	unsigned nr_areas;
	struct area area[MAX_AREAS];
	unsigned long last_use;
} kept[CTX_CACHE];
static unsigned long kept_clock;

static bool fresh_areas(void)
{
	static int fresh = -1;

	return fz_env_on("FZ_FRESH_AREAS", &fresh);
}

static void unlink_files(const struct area *a, unsigned nr)
{
	for (unsigned i = 0; i < nr; i++)
		if (a[i].path[0])
			unlink(a[i].path);
}

/* Take down @k's context: every area of it is empty, so swap_off succeeds. */
static void kept_destroy(struct kept_ctx *k)
{
	if (!k->ctx)
		return;
	for (unsigned t = 0; t < k->nr_areas; t++)
		fz_check(swap_off(k->ctx, (int)t) == 0, "swap_off(%u) of a kept area", t);
	swap_ctx_destroy(k->ctx);
	unlink_files(k->area, k->nr_areas);
	k->ctx = NULL;
}

static void kept_destroy_all(void)
{
	for (unsigned i = 0; i < CTX_CACHE; i++)
		kept_destroy(&kept[i]);
}

/* Take the kept context whose areas the bytes @key chose into @m, checked empty; false if
 * there is none. */
static bool kept_take(struct model *m, const uint8_t *key, size_t key_len)
{
	struct kept_ctx *k = NULL;
	struct swap_area_stats st;

	if (key_len > AREA_KEY)
		return false;
	for (unsigned i = 0; i < CTX_CACHE && !k; i++)
		if (kept[i].ctx && kept[i].key_len == key_len && !memcmp(kept[i].key, key, key_len))
			k = &kept[i];
	if (!k)
		return false;
	m->ctx = k->ctx;
	k->ctx = NULL;
	for (unsigned t = 0; t < k->nr_areas; t++) {
		struct area *a = &m->area[t];

		*a = k->area[t];
		/* Slots other threads freed (a tier's writeback) may wait in their caches of the
		 * pool until a compaction takes them back: compact first. */
		fz_check(swap_compact(m->ctx, (int)t) >= 0, "compaction of kept area %u", t);
		fz_check(swap_area_stats(m->ctx, (int)t, &st) == 0, "stats of kept area %u", t);
		fz_check(
		    st.inuse_pages == 0 && st.cache_pages == 0 && st.orig_data_size == 0 &&
			st.same_pages == 0 && st.huge_pages == 0 && st.mem_used_total == 0 &&
			st.wb_pages == 0 && st.backing_used == 0 && !st.draining &&
			st.usable_pages == a->usable,
		    "kept area %u is not as new: %llu in use, %llu in the cache, %llu bytes in "
		    "%llu of pool, %llu in its file, %llu usable (model %llu)",
		    t, (unsigned long long)st.inuse_pages, (unsigned long long)st.cache_pages,
		    (unsigned long long)st.orig_data_size, (unsigned long long)st.mem_used_total,
		    (unsigned long long)st.wb_pages, (unsigned long long)st.usable_pages,
		    (unsigned long long)a->usable);
		if (a->kind == AK_TIER) {
			uint64_t lim = a->opts.writeback_limit;

			fz_check(swap_set_writeback_limit(m->ctx, (int)t,
							  lim ? lim : SWAP_WB_UNLIMITED) == 0,
				 "re-arm the writeback limit of kept area %u", t);
		}
	}
	fz_check(swap_area_stats(m->ctx, (int)k->nr_areas, &st) == -EINVAL,
		 "a kept context has an area past its %u", k->nr_areas);
	return true;
}

/* Keep @m's context, in place of the one unused longest; false if it is not fit to keep. */
static bool kept_put(struct model *m, const uint8_t *key, size_t key_len, unsigned nr_areas,
		     const struct area *made)
{
	struct kept_ctx *k = &kept[0];
	static bool registered;

	if (fresh_areas() || key_len > AREA_KEY || m->area_went_off)
		return false;
	for (unsigned t = 0; t < MAX_AREAS; t++)
		if (m->area[t].on != (t < nr_areas) || m->area[t].draining)
			return false;
	if (!registered) {
		atexit(kept_destroy_all);
		registered = true;
	}
	for (unsigned i = 0; i < CTX_CACHE; i++) {
		if (!kept[i].ctx) {
			k = &kept[i];
			break;
		}
		if (kept[i].last_use < k->last_use)
			k = &kept[i];
	}
	kept_destroy(k);
	k->ctx = m->ctx;
	memcpy(k->key, key, key_len);
	k->key_len = key_len;
	k->nr_areas = nr_areas;
	memcpy(k->area, made, nr_areas * sizeof(*made));
	k->last_use = ++kept_clock;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	static struct model m;
	static unsigned ctx_nr;
	struct area made[MAX_AREAS];
	unsigned nr_areas;
	size_t key_len;

	memset(&m, 0, sizeof(m));
	nr_areas = 1 + fz_u8(&f) % MAX_AREAS;
	ctx_nr++;
	for (unsigned i = 0; i < nr_areas; i++)
		area_from_input(&made[i], &f, ctx_nr, i);
	key_len = size - f.n;
	if (fresh_areas() || !kept_take(&m, data, key_len)) {
		m.ctx = swap_ctx_create();
		fz_check(m.ctx != NULL, "swap_ctx_create");
		for (unsigned i = 0; i < nr_areas; i++)
			area_on(&m, &made[i], false);
	}

	run(&m, &f);

	for (unsigned i = 0; i < m.nr; i++)
		check_entry(&m, &m.e[i], "at the end");
	op_stats(&m);
	while (m.nr)
		drop_ref(&m, &m.e[m.nr - 1]);
	/* With nothing live, a tier's file must empty as soon as a batch in flight is done. */
	for (int t = 0; t < MAX_AREAS; t++) {
		struct swap_area_stats st = {0};

		if (!m.area[t].on || m.area[t].kind != AK_TIER)
			continue;
		for (int i = 0; i < 10000; i++) {
			fz_check(swap_area_stats(m.ctx, t, &st) == 0, "stats of tier %d", t);
			if (!st.wb_pages && !st.backing_used && !st.inuse_pages)
				break;
			usleep(100);
		}
		fz_check(!st.wb_pages && !st.backing_used && !st.inuse_pages,
			 "tier %d holds %llu pages in %llu file slots, %llu in use, with none live",
			 t, (unsigned long long)st.wb_pages, (unsigned long long)st.backing_used,
			 (unsigned long long)st.inuse_pages);
	}
	/* a kept context's areas were made from the bytes of the input that made it */
	if (kept_put(&m, data, key_len, nr_areas, m.area))
		return 0;
	for (int t = 0; t < MAX_AREAS; t++) {
		if (m.area[t].on)
			fz_check(swap_off(m.ctx, t) == 0, "swap_off(%d) of an empty area", t);
	}
	swap_ctx_destroy(m.ctx);
	unlink_files(m.area, MAX_AREAS);
	unlink_files(m.parked, m.nr_parked);
	unlink_files(made, nr_areas);
	return 0;
}
