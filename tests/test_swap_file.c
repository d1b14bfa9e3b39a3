/*
 * libswap: swap files in the Linux format: what we write (header bytes, mode, raw pages at
 * slot * 4096), what blkid and the kernel's swapon make of it, files made by util-linux mkswap,
 * bad pages, and the file error paths (-ENOENT, -EINVAL, -EBUSY, -EIO).
 */
#include <sys/file.h>

#include "swap_test_util.h"

static uint32_t hdr_u32(const unsigned char *h, int at)
{
	uint32_t v;
	memcpy(&v, h + at, 4);
	return v;
}

static void read_file_at(const char *path, off_t at, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, len, at), (ssize_t)len);
	close(fd);
}

static void uuid_string(const uint8_t *u, char *out)
{
	sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		u[14], u[15]);
}

Test(swap_file, format_and_raw_pages)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 300, .label = "libswap-test"};
	unsigned char hdr[PAGE], page[PAGE], raw[PAGE];
	struct swap_area_stats st;
	struct stat sb;
	swp_entry_t e;
	mode_t old = umask(0);
	int type = swap_on(ctx, &o);

	umask(old);
	cr_assert_eq(type, 0);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600, "a swap file is private whatever the umask");
	cr_assert_eq(sb.st_size, 300 * PAGE);
	cr_assert_geq((long long)sb.st_blocks * 512, 300LL * PAGE, "no holes");
	read_file_at(path, 0, hdr, PAGE);
	cr_assert_eq(memcmp(hdr + PAGE - 10, "SWAPSPACE2", 10), 0);
	cr_assert_eq(hdr_u32(hdr, 1024), 1, "version");
	cr_assert_eq(hdr_u32(hdr, 1028), 299, "last_page");
	cr_assert_eq(hdr_u32(hdr, 1032), 0, "nr_badpages");
	cr_assert_str_eq((char *)hdr + 1052, "libswap-test");
	st = area_stats(ctx, type);
	cr_assert_eq(st.kind, SWAP_AREA_FILE);
	cr_assert_eq(st.nr_pages, 300);
	cr_assert_eq(memcmp(st.uuid, hdr + 1036, 16), 0);
	cr_assert_eq(st.uuid[6] >> 4, 4, "a random (version 4) UUID");
	cr_assert_str_eq(st.label, "libswap-test");
	for (int i = 0; i < 1024; i++)
		cr_assert_eq(hdr[i], 0, "bootbits are zero");

	tu_make_page(page, TU_PAGE_BIN, 77);
	e = swap_out(ctx, page);
	cr_assert_eq(swp_type(e), 0);
	read_file_at(path, (off_t)(swp_offset(e) * PAGE), raw, PAGE);
	cr_assert_arr_eq(raw, page, PAGE, "pages lie raw at slot * 4096");
	cr_assert_eq(swap_in(ctx, e, raw), 0);
	cr_assert_arr_eq(raw, page, PAGE);
	cr_assert_eq(swap_free(ctx, e), 0);
	cr_assert_eq(swap_off(ctx, type), 0);
	swap_ctx_destroy(ctx);
	cr_assert_eq(access(path, F_OK), 0, "swap files stay on disk");
	rm_tree(dir);
	free(path);
}

Test(swap_file, reopen_existing)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 64};
	struct swap_area_stats st1, st2;

	cr_assert_eq(swap_on(ctx, &o), 0);
	st1 = area_stats(ctx, 0);
	cr_assert_eq(swap_off(ctx, 0), 0);
	o.nr_pages = 0; /* from the header */
	cr_assert_eq(swap_on(ctx, &o), 0);
	st2 = area_stats(ctx, 0);
	cr_assert_eq(st2.nr_pages, 64);
	cr_assert_eq(memcmp(st1.uuid, st2.uuid, 16), 0, "the header is kept, not rewritten");
	cr_assert_eq(swap_off(ctx, 0), 0);
	o.nr_pages = 32; /* a smaller area over the same file */
	cr_assert_eq(swap_on(ctx, &o), 0);
	cr_assert_eq(area_stats(ctx, 0).nr_pages, 32);
	cr_assert_eq(swap_off(ctx, 0), 0);
	o.nr_pages = 65; /* more than the header has */
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

Test(swap_file, error_paths)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	char *plain = path_in(dir, "plain"), *missing = path_in(dir, "no/such/dir/swapfile");
	char *link = path_in(dir, "link"), *v0 = path_in(dir, "v0"),
	     *shortf = path_in(dir, "short");
	struct swap_ctx *ctx = swap_ctx_create(), *other = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 64};
	unsigned char buf[PAGE];
	uint32_t badlist[2] = {5, 64};
	char page[PAGE] = "after errors";
	int fd;
	swp_entry_t e;

	/* a folder that does not exist */
	o.path = missing;
	cr_assert_eq(swap_on(ctx, &o), -ENOENT);
	o.nr_pages = 0;
	cr_assert_eq(swap_on(ctx, &o), -ENOENT, "nothing to read a size from");
	/* bad options for a new file: nothing is left behind */
	o.path = path;
	cr_assert_eq(swap_on(ctx, &o), -ENOENT);
	o.nr_pages = SWAP_MIN_FILE_PAGES - 1;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.nr_pages = 64;
	o.label = "seventeen chars!!";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.label = NULL;
	o.bad_pages = badlist;
	o.nr_bad_pages = 2; /* 64 is past the last page */
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.nr_bad_pages = SWAP_MAX_BADPAGES + 1;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	{ /* every page bad: formatted, then refused, and the new file removed again */
		uint32_t all[SWAP_MIN_FILE_PAGES - 1];
		struct swap_area_opts a = {.path = path,
					   .nr_pages = SWAP_MIN_FILE_PAGES,
					   .bad_pages = all,
					   .nr_bad_pages = SWAP_MIN_FILE_PAGES - 1};
		for (uint32_t i = 0; i < SWAP_MIN_FILE_PAGES - 1; i++)
			all[i] = i + 1;
		cr_assert_eq(swap_on(ctx, &a), -EINVAL);
	}
	o.bad_pages = NULL;
	o.nr_bad_pages = 0;
	o.compressor = "lz4";
	cr_assert_eq(swap_on(ctx, &o), -EINVAL, "files are not compressed");
	o.compressor = NULL;
	o.mem_limit = 4096;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.mem_limit = 0;
	cr_assert_neq(access(path, F_OK), 0, "failed swap_on left no file");

	/* a file without a swap header */
	fd = open(plain, O_CREAT | O_WRONLY, 0600);
	memset(buf, 'x', PAGE);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(write(fd, buf, PAGE), PAGE);
	close(fd);
	o.path = plain;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	o.nr_pages = 0;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	/* an empty file */
	fd = open(shortf, O_CREAT | O_WRONLY, 0600);
	close(fd);
	o.path = shortf;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	/* the old v0 magic */
	fd = open(v0, O_CREAT | O_WRONLY, 0600);
	memset(buf, 0, PAGE);
	memcpy(buf + PAGE - 10, "SWAP-SPACE", 10);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(write(fd, buf, PAGE), PAGE);
	close(fd);
	o.path = v0;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);

	/* the same file twice, by name, by another name, from another context */
	o.path = path;
	o.nr_pages = 64;
	cr_assert_eq(swap_on(ctx, &o), 0);
	cr_assert_eq(swap_on(ctx, &o), -EBUSY);
	cr_assert_eq(symlink(path, link), 0);
	o.path = link;
	o.nr_pages = 0;
	cr_assert_eq(swap_on(ctx, &o), -EBUSY);
	cr_assert_eq(swap_on(other, &o), -EBUSY, "locked while on");
	/* a file whose header promises more than it holds */
	cr_assert_eq(truncate(path, 32 * PAGE), 0);
	cr_assert_eq(swap_off(ctx, 0), 0);
	o.path = path;
	cr_assert_eq(swap_on(ctx, &o), -EINVAL);
	cr_assert_eq(truncate(path, 64 * PAGE), 0);
	cr_assert_eq(swap_on(other, &o), 0, "free for others once off");

	/* the contexts still work */
	o.path = NULL;
	o.nr_pages = 16;
	cr_assert_eq(swap_on(ctx, &o), 0);
	e = swap_out(ctx, page);
	cr_assert_neq(e.val, 0);
	cr_assert_eq(swap_in(ctx, e, buf), 0);
	cr_assert_str_eq((char *)buf, "after errors");
	swap_ctx_destroy(ctx);
	swap_ctx_destroy(other);
	rm_tree(dir);
	free(path);
	free(plain);
	free(missing);
	free(link);
	free(v0);
	free(shortf);
}

Test(swap_file, short_read_is_eio)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	struct swap_area_opts o = {.path = path, .nr_pages = 64};
	char page[PAGE], out[PAGE];
	swp_entry_t e[20];

	cr_assert_eq(swap_on(ctx, &o), 0);
	for (int i = 0; i < 20; i++) {
		tu_make_page(page, TU_PAGE_TEXT, (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	/* someone truncates the file under us */
	cr_assert_eq(truncate(path, 4 * PAGE), 0);
	for (int i = 0; i < 20; i++) {
		int want = swp_offset(e[i]) < 4 ? 0 : -EIO;
		cr_assert_eq(swap_in(ctx, e[i], out), want, "slot %llu",
			     (unsigned long long)swp_offset(e[i]));
	}
	cr_assert_gt(area_stats(ctx, 0).failed_reads, 0);
	/* nothing lost in the context: entries can be freed, new pages stored */
	for (int i = 0; i < 20; i++)
		cr_assert_eq(swap_free(ctx, e[i]), 0);
	tu_make_page(page, TU_PAGE_TEXT, 99);
	e[0] = swap_out(ctx, page);
	cr_assert_neq(e[0].val, 0);
	cr_assert_eq(swap_in(ctx, e[0], out), 0);
	cr_assert_arr_eq(out, page, PAGE);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

Test(swap_file, bad_pages_never_used)
{
	char *dir = make_tmpdir(), *path = path_in(dir, "swapfile");
	struct swap_ctx *ctx = swap_ctx_create();
	uint32_t bad[] = {1, 2, 3, 100, 255, 256, 299};
	struct swap_area_opts o = {
	    .path = path, .nr_pages = 300, .bad_pages = bad, .nr_bad_pages = 7};
	unsigned char hdr[PAGE];
	char page[PAGE] = "good";
	int n = 0;

	cr_assert_eq(swap_on(ctx, &o), 0);
	read_file_at(path, 0, hdr, PAGE);
	cr_assert_eq(hdr_u32(hdr, 1032), 7);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(hdr_u32(hdr, 1536 + 4 * i), bad[i]);
	cr_assert_eq(area_stats(ctx, 0).bad_pages, 7);
	cr_assert_eq(area_stats(ctx, 0).usable_pages, 300 - 1 - 7);
	for (;;) {
		swp_entry_t e = swap_out(ctx, page);
		if (!e.val)
			break;
		for (int i = 0; i < 7; i++)
			cr_assert_neq(swp_offset(e), bad[i], "bad page %u handed out", bad[i]);
		cr_assert_eq(swap_count(ctx, swp_entry(0, bad[n % 7])), -EINVAL);
		n++;
	}
	cr_assert_eq(errno, ENOSPC);
	cr_assert_eq(n, 300 - 1 - 7);
	for (int i = 0; i < 7; i++) {
		cr_assert_eq(swap_in(ctx, swp_entry(0, bad[i]), page), -EINVAL);
		cr_assert_eq(swap_duplicate(ctx, swp_entry(0, bad[i])), -EINVAL);
	}
	swap_ctx_destroy(ctx);

	/* the list comes back from the header */
	ctx = swap_ctx_create();
	o.nr_pages = 0;
	o.bad_pages = NULL;
	o.nr_bad_pages = 0;
	cr_assert_eq(swap_on(ctx, &o), 0);
	cr_assert_eq(area_stats(ctx, 0).bad_pages, 7);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(swap_count(ctx, swp_entry(0, bad[i])), -EINVAL);
	swap_ctx_destroy(ctx);
	rm_tree(dir);
	free(path);
}

/* A file we format is seen as swap by blkid, with our UUID and label. */
Test(swap_file, blkid_accepts)
{
	char blkid[256], cmd[4600], *dir, *path, *out, uuid[40], line[512];
	struct swap_ctx *ctx;
	struct swap_area_opts o = {.nr_pages = 256, .label = "blkid-test"};
	bool type_ok = false, uuid_ok = false, label_ok = false;
	FILE *f;

	if (!find_in_path("blkid", blkid, sizeof(blkid)))
		cr_skip_test("blkid (util-linux) is not installed");
	dir = make_tmpdir();
	path = path_in(dir, "swapfile");
	out = path_in(dir, "blkid.out");
	ctx = swap_ctx_create();
	o.path = path;
	cr_assert_eq(swap_on(ctx, &o), 0);
	uuid_string(area_stats(ctx, 0).uuid, uuid);
	swap_ctx_destroy(ctx);
	snprintf(cmd, sizeof(cmd), "%s -p -o export '%s' > '%s' 2>&1", blkid, path, out);
	cr_assert_eq(run_cmd(cmd), 0, "blkid does not recognise the file");
	f = fopen(out, "r");
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		type_ok |= !strcmp(line, "TYPE=swap");
		label_ok |= !strcmp(line, "LABEL=blkid-test");
		if (!strncmp(line, "UUID=", 5))
			uuid_ok = !strcmp(line + 5, uuid);
	}
	fclose(f);
	cr_assert(type_ok, "blkid: TYPE is not swap");
	cr_assert(uuid_ok, "blkid: UUID differs from ours (%s)", uuid);
	cr_assert(label_ok, "blkid: LABEL differs");
	rm_tree(dir);
	free(path);
	free(out);
}

/* A file made by util-linux mkswap works here unchanged. */
Test(swap_file, mkswap_interop)
{
	char mkswap[256], cmd[4600], *dir, *path;
	const char *uuid = "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f";
	struct swap_ctx *ctx;
	struct swap_area_opts o = {0};
	struct swap_area_stats st;
	char page[PAGE], raw[PAGE], got[40];
	swp_entry_t e[100];
	int fd;

	if (!find_in_path("mkswap", mkswap, sizeof(mkswap)))
		cr_skip_test("mkswap (util-linux) is not installed");
	dir = make_tmpdir();
	path = path_in(dir, "swapfile");
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_eq(posix_fallocate(fd, 0, 1024 * PAGE), 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s -L mkswap-made -U %s '%s' >/dev/null 2>&1", mkswap, uuid,
		 path);
	if (run_cmd(cmd) != 0)
		cr_skip_test("mkswap failed on %s", path);

	ctx = swap_ctx_create();
	o.path = path;
	cr_assert_eq(swap_on(ctx, &o), 0, "a mkswap'd file is accepted");
	st = area_stats(ctx, 0);
	cr_assert_eq(st.nr_pages, 1024);
	cr_assert_eq(st.bad_pages, 0);
	cr_assert_str_eq(st.label, "mkswap-made");
	uuid_string(st.uuid, got);
	cr_assert_str_eq(got, uuid);
	for (int i = 0; i < 100; i++) {
		tu_make_page(page, (enum tu_page_kind)(i % TU_PAGE_NR_KINDS), (uint64_t)i);
		e[i] = swap_out(ctx, page);
		cr_assert_neq(e[i].val, 0);
	}
	for (int i = 0; i < 100; i++) {
		tu_make_page(page, (enum tu_page_kind)(i % TU_PAGE_NR_KINDS), (uint64_t)i);
		cr_assert_eq(swap_in(ctx, e[i], raw), 0);
		cr_assert_arr_eq(raw, page, PAGE);
		read_file_at(path, (off_t)(swp_offset(e[i]) * PAGE), raw, PAGE);
		cr_assert_arr_eq(raw, page, PAGE, "raw at slot * 4096");
	}
	swap_ctx_destroy(ctx);
	/* the header is untouched: mkswap's UUID is still there */
	read_file_at(path, 1036, raw, 16);
	cr_assert_eq(memcmp(raw, st.uuid, 16), 0);
	rm_tree(dir);
	free(path);
}

/*
 * The kernel's swapon accepts a file we format (as root, where the file system allows swap
 * files).  Where it refuses ours, a file made by mkswap in the same folder is tried: if the
 * kernel takes that one, our format is wrong and the test fails; if it refuses both, the test
 * is skipped.
 */
static bool try_swapon(const char *swapon, const char *swapoff, const char *path)
{
	char cmd[4600];
	snprintf(cmd, sizeof(cmd), "%s '%s' 2>/dev/null", swapon, path);
	if (run_cmd(cmd) != 0)
		return false;
	snprintf(cmd, sizeof(cmd), "%s '%s'", swapoff, path);
	cr_assert_eq(run_cmd(cmd), 0, "swapoff failed after a successful swapon of %s", path);
	return true;
}

Test(swap_file, kernel_swapon, .timeout = 60)
{
	const char *bases[] = {NULL, "/tmp", "/var/tmp"};
	char swapon[256], swapoff[256], mkswap[256], cmd[4600], why[2048] = "";
	bool have_mkswap = find_in_path("mkswap", mkswap, sizeof(mkswap));

	if (geteuid() != 0)
		cr_skip_test("not root: the kernel's swapon cannot be tried");
	if (!find_in_path("swapon", swapon, sizeof(swapon)) ||
	    !find_in_path("swapoff", swapoff, sizeof(swapoff)))
		cr_skip_test("swapon/swapoff are not installed");
	for (int b = 0; b < 3; b++) {
		char dir[4096] = "", path[4200], ref[4200];
		struct swap_ctx *ctx;
		struct swap_area_opts o = {.nr_pages = 2560, .label = "libswap"};
		bool ours, theirs = false;
		int fd;

		if (bases[b])
			snprintf(dir, sizeof(dir), "%s/libswap-swapon-XXXXXX", bases[b]);
		else if (getcwd(dir, sizeof(dir) - 32))
			strcat(dir, "/libswap-swapon-XXXXXX");
		if (!mkdtemp(dir))
			continue;
		snprintf(path, sizeof(path), "%s/swapfile", dir);
		ctx = swap_ctx_create();
		o.path = path;
		cr_assert_eq(swap_on(ctx, &o), 0);
		swap_ctx_destroy(ctx);
		ours = try_swapon(swapon, swapoff, path);
		if (!ours && have_mkswap) {
			snprintf(ref, sizeof(ref), "%s/reference", dir);
			fd = open(ref, O_CREAT | O_WRONLY, 0600);
			if (fd >= 0 && posix_fallocate(fd, 0, 2560 * PAGE) == 0) {
				snprintf(cmd, sizeof(cmd), "%s '%s' >/dev/null 2>&1", mkswap, ref);
				theirs = run_cmd(cmd) == 0 && try_swapon(swapon, swapoff, ref);
			}
			if (fd >= 0)
				close(fd);
		}
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		run_cmd(cmd);
		if (ours)
			return; /* accepted by the kernel */
		cr_assert(!theirs, "the kernel took mkswap's file but refused ours in %s", dir);
		snprintf(why + strlen(why), sizeof(why) - strlen(why), " %.200s", dir);
	}
	cr_skip_test("the kernel's swapon refused swap files in every folder tried (%s); no swap "
		     "support here, or file systems that cannot hold swap files",
		     why);
}
