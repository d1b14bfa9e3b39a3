/*
 * fuzz_swap_corrupt.c - property: swap_in of a page whose stored form was altered (compressed
 * object bytes in a memory area's pool, or the bytes, length and header of a swap file) gives
 * either -EIO or a page, never a crash or an access out of bounds, and only the altered
 * entries are affected.
 *
 * A memory area: each page's compressed object is found by wrapping zs_obj_write (fuzz.mk
 * links with --wrap), which also keeps a copy of what was stored.  The input then rewrites
 * bytes of objects in place through zs_map_object, or calls swap_debug_corrupt.  On swap_in an
 * entry whose object still holds its stored bytes must give its page back; an altered
 * compressed object may give -EIO or some page (lz4 and zstd frames carry no checksum here);
 * an altered raw (huge) object gives its bytes as they now are.
 *
 * A swap file: the input overwrites bytes of the file behind the library's back, cuts it
 * short or extends it.  An entry whose slot still holds its page gives it back; a slot past
 * the end of the file gives -EIO; an altered slot gives -EIO with SWAP_AREA_CHECKSUM, and its
 * bytes as the file now holds them without.  Either way the entry keeps its reference, and
 * freeing every entry and swap_off work at the end.
 *
 * Input: a mode byte (lz4, zstd, file, file with checksums), the pages to store, then one
 * operation per byte (alter, swap_in and check, replace an entry).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#define FZ_SPARSE_FILES
#include "fuzz.h"
#include "zs/swap.h"
#include "zs/zsmalloc.h"

#define MAX_PAGES 16

/* What the memory backend last stored, as seen by the zs_obj_write wrapper. */
static struct {
	struct zs_pool *pool;
	unsigned long handle;
	size_t len;
	uint8_t bytes[ZS_MAX_ALLOC_SIZE];
} last;

int __real_zs_obj_write(struct zs_pool *pool, unsigned long handle, const void *mem, size_t len);
int __wrap_zs_obj_write(struct zs_pool *pool, unsigned long handle, const void *mem, size_t len);

int __wrap_zs_obj_write(struct zs_pool *pool, unsigned long handle, const void *mem, size_t len)
{
	last.pool = pool;
	last.handle = handle;
	last.len = len <= sizeof(last.bytes) ? len : 0;
	memcpy(last.bytes, mem, last.len);
	return __real_zs_obj_write(pool, handle, mem, len);
}

struct stored {
	swp_entry_t e;
	uint8_t kind;
	uint32_t seed;
	/* memory areas: the object, and the bytes stored in it (len 0: same-filled, no object) */
	struct zs_pool *pool;
	unsigned long handle;
	size_t len;
	uint8_t bytes[ZS_MAX_ALLOC_SIZE];
	uint8_t want[FZ_PAGE]; /* the page stored, made once (fz_make_page of kind and seed) */
};

struct run {
	struct swap_ctx *ctx;
	bool file, checksum;
	int fd;
	unsigned nr;
	struct stored s[MAX_PAGES]; /* the first nr, each set whole by store() */
};

static uint8_t page[FZ_PAGE], now[FZ_PAGE];

static void store(struct run *r, struct stored *s, struct fz *f)
{
	s->kind = fz_u8(f);
	s->seed = fz_u32(f);
	fz_make_page(s->want, s->kind, s->seed);
	last.len = 0;
	s->e = swap_out(r->ctx, s->want);
	fz_check(s->e.val != 0, "swap_out: errno %d", errno);
	s->len = last.len;
	if (s->len) {
		s->pool = last.pool;
		s->handle = last.handle;
		memcpy(s->bytes, last.bytes, s->len);
	}
}

static void alter_object(struct stored *s, struct fz *f)
{
	uint8_t how = fz_u8(f);
	size_t at, n;
	uint8_t *p;

	if (!s->len)
		return; /* same-filled: nothing stored to alter */
	at = fz_u16(f) % s->len;
	n = 1 + fz_u16(f) % (s->len - at);
	p = zs_map_object(s->pool, s->handle, ZS_MM_RW);
	fz_check(p != NULL, "map of a stored object");
	switch (how % 4) {
	case 0:
		p[at] = fz_u8(f);
		break;
	case 1:
		p[at] ^= (uint8_t)(1u << (how >> 5));
		break;
	case 2:
		for (size_t i = 0; i < n; i++)
			p[at + i] ^= how | 1;
		break;
	default:
		fz_bytes(f, p + at, n);
		break;
	}
	zs_unmap_object(s->pool, s->handle);
}

static void alter_file(struct run *r, struct fz *f)
{
	uint8_t how = fz_u8(f);
	uint8_t buf[256];
	size_t len = 1 + how / 4 % sizeof(buf);
	off_t at;

	switch (how % 4) {
	case 0: /* bytes of a slot a page lies in */
	case 1:
		if (!r->nr)
			break;
		at = (off_t)(swp_offset(r->s[fz_u8(f) % r->nr].e) * FZ_PAGE + fz_u16(f) % FZ_PAGE);
		fz_bytes(f, buf, len);
		fz_check(pwrite(r->fd, buf, len, at) > 0, "pwrite");
		break;
	case 2: /* cut the file short, maybe mid-page */
		fz_check(ftruncate(r->fd, (off_t)(fz_u8(f) % (MAX_PAGES + 2)) * FZ_PAGE +
					      (how & 0x80 ? 100 : 0)) == 0,
			 "ftruncate");
		break;
	default: /* the header */
		fz_bytes(f, buf, 16);
		fz_check(pwrite(r->fd, buf, 16, 1024 + fz_u16(f) % (FZ_PAGE - 1024 - 16)) == 16,
			 "pwrite");
		break;
	}
}

static void check_memory(struct stored *s, int err)
{
	const uint8_t *p, *expect = s->want;
	bool altered;

	if (!s->len) {
		fz_check(err == 0 && !memcmp(page, expect, FZ_PAGE), "same-filled page");
		return;
	}
	p = zs_map_object(s->pool, s->handle, ZS_MM_RO);
	fz_check(p != NULL, "map of a stored object");
	altered = memcmp(p, s->bytes, s->len) != 0;
	if (!altered)
		fz_check(err == 0 && !memcmp(page, expect, FZ_PAGE), "an intact object: %d", err);
	else if (s->len == FZ_PAGE) /* stored raw: nothing to detect the change by */
		fz_check(err == 0 && !memcmp(page, p, FZ_PAGE), "a raw object: %d", err);
	else
		fz_check(err == 0 || err == -EIO, "an altered object: %d", err);
	zs_unmap_object(s->pool, s->handle);
}

static void check_file(struct run *r, struct stored *s, int err)
{
	off_t at = (off_t)(swp_offset(s->e) * FZ_PAGE);
	const uint8_t *expect = s->want;

	if (pread(r->fd, now, FZ_PAGE, at) != FZ_PAGE)
		fz_check(err == -EIO, "a slot past the end of the file: %d", err);
	else if (!memcmp(now, expect, FZ_PAGE))
		fz_check(err == 0 && !memcmp(page, expect, FZ_PAGE), "an intact slot: %d", err);
	else if (r->checksum)
		fz_check(err == -EIO, "an altered slot with checksums: %d", err);
	else
		fz_check(err == 0 && !memcmp(page, now, FZ_PAGE), "an altered slot: %d", err);
}

static void check(struct run *r, struct stored *s)
{
	int err;

	memset(page, 0xee, sizeof(page));
	err = swap_in(r->ctx, s->e, page);
	if (r->file)
		check_file(r, s, err);
	else
		check_memory(s, err);
	fz_check(swap_count(r->ctx, s->e) == 1, "the entry lost its reference");
}

/*
 * The areas are kept across inputs, one per mode, each in a context of its own: making a pool
 * and a compressor's state, or a swap file (its creation, header and swap_on's checks), and
 * taking them down cost more than a typical input's operations.  An input leaves its area with
 * no entry (every entry is freed at the end, and an area with none in use is what swap_off
 * needs to succeed), so its objects, corrupted or not, are gone with it.  An input may have cut,
 * extended or rewritten a swap file behind the library's back: the file is put back as swap_on
 * left it (emptied to its first length, which leaves it sparse as it was made, and its header
 * page written again) before it is kept.  That a kept area holds nothing is checked again when
 * it is taken.  FZ_FRESH_AREAS=1 in the environment makes every area anew, to tell whether a
 * crash depends on history.
 */
#define MODES 4

static struct kept {
	struct swap_ctx *ctx;
	int fd;	    /* a swap file's, open for the input's own reads and writes */
	off_t size; /* the file's length after swap_on */
	uint8_t header[FZ_PAGE];
} kept[MODES];

static bool fresh_areas(void)
{
	static int fresh = -1;

	return fz_env_on("FZ_FRESH_AREAS", &fresh);
}

static void file_path(char *out, size_t len, unsigned mode)
{
	snprintf(out, len, "%s/corrupt-%u", fz_scratch_dir(), mode);
}

static void kept_destroy(void)
{
	char path[96];

	for (unsigned i = 0; i < MODES; i++) {
		if (!kept[i].ctx)
			continue;
		fz_check(swap_off(kept[i].ctx, 0) == 0, "swap_off of a kept area");
		swap_ctx_destroy(kept[i].ctx);
		if (kept[i].fd >= 0) {
			close(kept[i].fd);
			file_path(path, sizeof(path), i);
			unlink(path);
		}
	}
}

/* The kept area of @mode into @r, checked to hold nothing; false if there is none yet. */
static bool kept_take(struct run *r, unsigned mode)
{
	struct swap_area_stats st;
	struct kept *k = &kept[mode];

	if (!k->ctx)
		return false;
	r->ctx = k->ctx;
	r->fd = k->fd;
	k->ctx = NULL;
	fz_check(swap_area_stats(r->ctx, 0, &st) == 0, "stats of a kept area");
	fz_check(st.inuse_pages == 0 && st.cache_pages == 0 && st.orig_data_size == 0 &&
		     st.compr_data_size == 0 && st.mem_used_total == 0 && st.same_pages == 0 &&
		     st.huge_pages == 0 && !st.draining,
		 "a kept area is not empty: %llu in use, %llu bytes of pool",
		 (unsigned long long)st.inuse_pages, (unsigned long long)st.mem_used_total);
	fz_check(swap_area_stats(r->ctx, 1, &st) == -EINVAL, "a kept context has a second area");
	return true;
}

/* A new swap file of @mode as swap_on left it, to put it back so after each input. */
static void kept_file_made(struct run *r, unsigned mode)
{
	struct kept *k = &kept[mode];
	struct stat sb;

	fz_check(fstat(r->fd, &sb) == 0, "fstat");
	k->size = sb.st_size;
	fz_check(pread(r->fd, k->header, FZ_PAGE, 0) == FZ_PAGE, "read the header");
}

/* Keep @r's area (every entry freed) for the next input of @mode, its file as swap_on left it. */
static void kept_put(struct run *r, unsigned mode)
{
	static bool registered;
	struct kept *k = &kept[mode];

	if (!registered) {
		atexit(kept_destroy);
		registered = true;
	}
	if (r->file) {
		fz_check(ftruncate(r->fd, 0) == 0 && ftruncate(r->fd, k->size) == 0,
			 "empty the swap file");
		fz_check(pwrite(r->fd, k->header, FZ_PAGE, 0) == FZ_PAGE, "write the header back");
	}
	k->ctx = r->ctx;
	k->fd = r->fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	struct swap_area_opts opts = {0};
	static struct run r;
	uint8_t mode = fz_u8(&f);
	char path[96];
	unsigned ops = 0;

	/* Not the stored pages: 128 KiB to clear was a twentieth of the time of an input. */
	memset(&r, 0, offsetof(struct run, s));
	r.fd = -1;
	opts.nr_pages = 64;
	switch (mode % MODES) {
	case 0:
		break;
	case 1:
		opts.compressor = "zstd:1";
		break;
	default:
		r.file = true;
		r.checksum = mode % MODES == 3;
		opts.flags = r.checksum ? SWAP_AREA_CHECKSUM : 0;
		break;
	}
	if (fresh_areas() || !kept_take(&r, mode % MODES)) {
		if (r.file) {
			file_path(path, sizeof(path), mode % MODES);
			unlink(path);
			opts.path = path;
		}
		r.ctx = swap_ctx_create();
		fz_check(r.ctx != NULL, "swap_ctx_create");
		int type = swap_on(r.ctx, &opts);

		fz_check(type == 0, "swap_on: %d", type);
		if (r.file) {
			r.fd = open(path, O_RDWR | O_CLOEXEC);
			fz_check(r.fd >= 0, "open %s", path);
			kept_file_made(&r, mode % MODES);
		}
	}
	r.nr = 1 + fz_u8(&f) % MAX_PAGES;
	for (unsigned i = 0; i < r.nr; i++)
		store(&r, &r.s[i], &f);

	while (fz_more(&f) && ops++ < 1024) {
		uint8_t op = fz_u8(&f);
		struct stored *s = &r.s[fz_u8(&f) % r.nr];

		switch (op % 4) {
		case 0:
		case 1:
			if (r.file)
				alter_file(&r, &f);
			else if (op & 0x80)
				fz_check(swap_debug_corrupt(r.ctx, s->e) ==
					     (s->len && s->len < FZ_PAGE ? 0 : -EOPNOTSUPP),
					 "swap_debug_corrupt");
			else
				alter_object(s, &f);
			break;
		case 2:
			check(&r, s);
			break;
		default: /* free the entry and store another page, which may take its slot */
			fz_check(swap_free(r.ctx, s->e) == 0, "swap_free");
			store(&r, s, &f);
			break;
		}
	}

	for (unsigned i = 0; i < r.nr; i++) {
		check(&r, &r.s[i]);
		fz_check(swap_free(r.ctx, r.s[i].e) == 0, "swap_free");
	}
	if (!fresh_areas()) {
		kept_put(&r, mode % MODES);
		return 0;
	}
	fz_check(swap_off(r.ctx, 0) == 0, "swap_off");
	swap_ctx_destroy(r.ctx);
	if (r.file) {
		close(r.fd);
		unlink(path);
	}
	return 0;
}
