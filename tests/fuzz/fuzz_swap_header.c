/*
 * fuzz_swap_header.c - property: swap_on of an existing file whose first page is arbitrary
 * bytes accepts exactly the valid version-1 headers that fit the file, and an area it accepts
 * never writes outside its usable slots.
 *
 * The input's page is written as the first page of a file of a few pages, the other pages
 * stamped with a marker, and swap_on is called on it through the public API.  A reference
 * reading of the format (magic, version, last_page against the file's size, the bad-page list)
 * says whether it must succeed.  When it does, the area reports the header's size, label, UUID
 * and bad pages, takes exactly its usable slots (never slot 0, a bad page or a slot past
 * nr_pages), gives each page back, and leaves the header and every slot it did not use as they
 * were.  Otherwise it must be -EINVAL with the file untouched.
 *
 * Input: 3 control bytes (file size in pages and a partial tail, nr_pages to ask for, flags),
 * then the header page (zero-padded to 4096 bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "zs/swap.h"

#define HDR_VERSION	1024
#define HDR_LAST_PAGE	1028
#define HDR_NR_BADPAGES 1032
#define HDR_UUID	1036
#define HDR_LABEL	1052
#define HDR_BADPAGES	1536
#define HDR_MAGIC	(FZ_PAGE - 10)
#define MAX_FILE_PAGES	32

static uint8_t hdr[FZ_PAGE], page[FZ_PAGE], expect[FZ_PAGE];

static uint32_t get_u32(size_t at)
{
	uint32_t v;

	memcpy(&v, hdr + at, sizeof(v));
	return v;
}

/* What a correct reader makes of the header: the area's slots and bad pages, or 0 (refused). */
static uint64_t reference_max(uint64_t file_bytes, uint64_t nr_pages, bool bad[MAX_FILE_PAGES],
			      uint64_t *nr_bad)
{
	uint32_t last = get_u32(HDR_LAST_PAGE), nbad = get_u32(HDR_NR_BADPAGES);
	uint64_t max;

	if (memcmp(hdr + HDR_MAGIC, "SWAPSPACE2", 10) || get_u32(HDR_VERSION) != 1)
		return 0;
	if (last < 1 || nbad > SWAP_MAX_BADPAGES || file_bytes / FZ_PAGE < (uint64_t)last + 1)
		return 0;
	if (nr_pages > (uint64_t)last + 1)
		return 0;
	max = nr_pages ? nr_pages : (uint64_t)last + 1;
	if (max < 2)
		return 0;
	*nr_bad = 0;
	memset(bad, 0, MAX_FILE_PAGES);
	for (uint32_t i = 0; i < nbad; i++) {
		uint32_t b = get_u32(HDR_BADPAGES + 4 * i);
		if (b == 0 || b > last)
			return 0;
		/* the list may repeat a slot or name one past a shortened area */
		if (b < max && !bad[b]) {
			bad[b] = true;
			(*nr_bad)++;
		}
	}
	return max - 1 > *nr_bad ? max : 0;
}

static void check_file(int fd, uint64_t file_bytes, uint64_t max, const bool *bad)
{
	fz_check(pread(fd, page, FZ_PAGE, 0) == FZ_PAGE && !memcmp(page, hdr, FZ_PAGE),
		 "the header page changed");
	for (uint64_t s = 1; s < file_bytes / FZ_PAGE; s++) {
		if (s < max && !bad[s])
			continue; /* a usable slot: swap_in checked it */
		fz_make_page(expect, FZ_RANDOM, (uint32_t)s);
		fz_check(pread(fd, page, FZ_PAGE, (off_t)(s * FZ_PAGE)) == FZ_PAGE &&
			     !memcmp(page, expect, FZ_PAGE),
			 "slot %llu (bad or past the area) was written", (unsigned long long)s);
	}
}

static void use_area(struct swap_ctx *ctx, int type, uint64_t max, const bool *bad, uint64_t nr_bad)
{
	static swp_entry_t e[MAX_FILE_PAGES];
	struct swap_area_stats st;
	uint64_t n = 0;

	fz_check(swap_area_stats(ctx, type, &st) == 0, "stats");
	fz_check(st.nr_pages == max && st.bad_pages == nr_bad &&
		     st.usable_pages == max - 1 - nr_bad,
		 "area of %llu slots, %llu bad: reported %llu, %llu", (unsigned long long)max,
		 (unsigned long long)nr_bad, (unsigned long long)st.nr_pages,
		 (unsigned long long)st.bad_pages);
	fz_check(!memcmp(st.uuid, hdr + HDR_UUID, 16), "uuid");
	fz_check(!strncmp(st.label, (const char *)hdr + HDR_LABEL, 16) && st.label[16] == 0,
		 "label");
	for (;;) {
		swp_entry_t x;

		fz_make_page(page, FZ_TEXT + n % 3, (uint32_t)n);
		errno = 0;
		x = swap_out(ctx, page);
		if (!x.val) {
			fz_check(errno == ENOSPC, "swap_out: errno %d", errno);
			break;
		}
		fz_check(n < max - 1 - nr_bad, "more slots than the area has");
		fz_check(swp_type(x) == (unsigned)type && swp_offset(x) > 0 &&
			     swp_offset(x) < max && !bad[swp_offset(x)],
			 "swap_out used slot %llu", (unsigned long long)swp_offset(x));
		e[n++] = x;
	}
	fz_check(n == max - 1 - nr_bad, "only %llu of %llu slots taken", (unsigned long long)n,
		 (unsigned long long)(max - 1 - nr_bad));
	for (uint64_t i = 0; i < n; i++) {
		fz_make_page(expect, FZ_TEXT + i % 3, (uint32_t)i);
		fz_check(swap_in(ctx, e[i], page) == 0 && !memcmp(page, expect, FZ_PAGE),
			 "page %llu back", (unsigned long long)i);
		fz_check(swap_free(ctx, e[i]) == 0, "swap_free");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	uint8_t size_ctl = fz_u8(&f), nr_ctl = fz_u8(&f), flags = fz_u8(&f);
	uint64_t file_pages = 1 + size_ctl % (MAX_FILE_PAGES - 1);
	uint64_t file_bytes = file_pages * FZ_PAGE + (size_ctl & 0x80 ? 512 * (flags & 7) : 0);
	struct swap_area_opts opts = {0};
	bool bad[MAX_FILE_PAGES];
	uint64_t max, nr_bad = 0;
	struct swap_ctx *ctx;
	char path[96];
	int fd, type;

	fz_bytes(&f, hdr, FZ_PAGE);
	snprintf(path, sizeof(path), "%s/header", fz_scratch_dir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fz_check(fd >= 0, "open %s", path);
	fz_check(pwrite(fd, hdr, FZ_PAGE, 0) == FZ_PAGE, "write header");
	for (uint64_t s = 1; s < file_pages; s++) {
		fz_make_page(page, FZ_RANDOM, (uint32_t)s);
		fz_check(pwrite(fd, page, FZ_PAGE, (off_t)(s * FZ_PAGE)) == FZ_PAGE, "write");
	}
	fz_check(ftruncate(fd, (off_t)file_bytes) == 0, "ftruncate");

	opts.path = path;
	opts.nr_pages = nr_ctl < 0xc0 ? 0 : nr_ctl & 0x3f;
	opts.flags = flags & 0x80 ? SWAP_AREA_CHECKSUM : 0;
	max = reference_max(file_bytes, opts.nr_pages, bad, &nr_bad);
	ctx = swap_ctx_create();
	fz_check(ctx != NULL, "swap_ctx_create");
	type = swap_on(ctx, &opts);
	if (max) {
		fz_check(type == 0, "a valid header of %llu slots refused: %d",
			 (unsigned long long)max, type);
		use_area(ctx, type, max, bad, nr_bad);
		fz_check(swap_off(ctx, type) == 0, "swap_off");
	} else {
		fz_check(type == -EINVAL, "an invalid header accepted: %d", type);
		memset(bad, 0, sizeof(bad));
	}
	check_file(fd, file_bytes, max, bad);
	swap_ctx_destroy(ctx);
	close(fd);
	unlink(path);
	return 0;
}
