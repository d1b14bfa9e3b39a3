/*
 * zsstat - show zsmalloc pool statistics as zramctl and the kernel's debugfs classes file do.
 *
 *   zsstat [--classes] HOST:PORT           a running zcache's pool ("stats", "stats classes")
 *   zsstat [--classes] [--stat] PATH...    how well these files would keep in a pool: every
 *                                          4 KiB page of every file (folders are walked) is
 *                                          stored lz4-compressed, as zram stores a page
 *
 * Prints the pool's summary and its classes grouped by slot size; --classes prints every class
 * instead, as the kernel's debugfs file does.  A server's figures arrive as memcached STAT lines
 * and are printed by the same code that prints a local pool's (zsstat.c), so both views read
 * alike.  --stat prints a local pool's figures as STAT lines instead of tables (with
 * --classes, every class's too).
 *
 * Exits 0, 1 when a file could not be read (the others are still counted) or the server did
 * not answer with pool statistics, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <lz4.h>

#include "zsstat.h"

#define PAGE_SIZE	   4096
#define SERVER_TIMEOUT_SEC 5

/* ---- files into a pool -------------------------------------------------------------------- */

/* The pool being filled; nftw's callback has no argument to carry it. */
static struct fill {
	struct zs_pool *pool;
	size_t huge_size;
	unsigned long long files, pages, errors;
} fill;

static void warn_file(const char *path, const char *what)
{
	fprintf(stderr, "zsstat: %s: %s\n", path, what);
	fill.errors++;
}

/* Store one page: lz4-compressed, or raw when it does not compress below the huge class. */
static int store_page(const char *page)
{
	char cbuf[LZ4_COMPRESSBOUND(PAGE_SIZE)];
	const char *src = cbuf;
	unsigned long handle;
	int len = LZ4_compress_default(page, cbuf, PAGE_SIZE, sizeof(cbuf));

	if (len <= 0 || (size_t)len >= fill.huge_size) {
		src = page;
		len = PAGE_SIZE;
	}
	handle = zs_malloc(fill.pool, len);
	if (!handle || zs_obj_write(fill.pool, handle, src, len))
		return -ENOMEM;
	fill.pages++;
	return 0;
}

/* Every page of the file; the last one zero-padded, as the page cache holds it. */
static int store_file(const char *path)
{
	char page[PAGE_SIZE];
	int fd = open(path, O_RDONLY | O_NOCTTY);
	int err = 0;

	if (fd < 0) {
		warn_file(path, strerror(errno));
		return 0;
	}
	for (;;) {
		size_t got = 0;
		ssize_t n = 0;

		while (got < PAGE_SIZE && (n = read(fd, page + got, PAGE_SIZE - got)) > 0)
			got += (size_t)n;
		if (n < 0) {
			warn_file(path, strerror(errno));
			break;
		}
		if (!got)
			break;
		memset(page + got, 0, PAGE_SIZE - got);
		err = store_page(page);
		if (err || got < PAGE_SIZE)
			break;
	}
	close(fd);
	if (!err)
		fill.files++;
	return err;
}

static int walk_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_DNR || flag == FTW_NS)
		warn_file(path, "cannot read");
	else if (flag == FTW_F && S_ISREG(st->st_mode) && store_file(path))
		return 1; /* the pool is out of memory: nftw stops and returns this */
	return 0;
}

static int files_mode(char **paths, int n, int classes, enum zsstat_style style)
{
	char name[64];

	fill.pool = zs_create_pool("zsstat");
	if (!fill.pool) {
		fprintf(stderr, "zsstat: zs_create_pool: %s\n", strerror(errno));
		return 1;
	}
	fill.huge_size = zs_huge_class_size(fill.pool);
	for (int i = 0; i < n; i++) {
		int err = nftw(paths[i], walk_entry, 32, FTW_PHYS);

		if (err > 0) {
			fprintf(stderr, "zsstat: out of memory after %llu pages\n", fill.pages);
			zs_destroy_pool(fill.pool);
			return 1;
		}
		if (err < 0)
			warn_file(paths[i], strerror(errno));
	}
	if (fill.errors && !fill.files) {
		zs_destroy_pool(fill.pool);
		return 1;
	}
	if (n == 1)
		snprintf(name, sizeof(name), "%s", paths[0]);
	else
		snprintf(name, sizeof(name), "%d paths", n);
	if (style == ZSSTAT_TABLE)
		printf("%llu files, %llu pages of 4 KiB, lz4\n\n", fill.files, fill.pages);
	zsstat_pool(stdout, fill.pool, name, fill.pages * PAGE_SIZE, style);
	if (style == ZSSTAT_TABLE)
		putchar('\n');
	if (classes)
		zsstat_classes(stdout, fill.pool, style);
	else if (style == ZSSTAT_TABLE)
		zsstat_class_sizes(stdout, fill.pool);
	zs_destroy_pool(fill.pool);
	return fill.errors ? 1 : 0;
}

/* ---- a zcache server's figures ------------------------------------------------------------ */

struct server_figs {
	struct zsstat_pool_figs pool;
	int have_pool;
	struct zs_class_stats classes[ZS_SIZE_CLASSES];
	unsigned int nr_classes;
};

/* @host:@port, or [@host]:@port for IPv6; a connected stream socket, or -1 (reported). */
static int server_connect(const char *addr)
{
	struct timeval tv = {.tv_sec = SERVER_TIMEOUT_SEC};
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hlen;
	int fd = -1, err;

	if (!colon || colon == addr || !colon[1] || (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "zsstat: %s: not HOST:PORT\n", addr);
		return -1;
	}
	hlen = (size_t)(colon - addr);
	if (addr[0] == '[' && addr[hlen - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)hlen - 2, addr + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hlen, addr);
	err = getaddrinfo(host, colon + 1, &hints, &res);
	if (err) {
		fprintf(stderr, "zsstat: %s: %s\n", addr, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "zsstat: %s: %s\n", addr, strerror(err ? err : ECONNREFUSED));
	return fd;
}

static int parse_u64(const char *s, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

/* The class with index @index, added in index order if new; NULL if out of range. */
static struct zs_class_stats *class_of(struct server_figs *sf, unsigned long long index)
{
	unsigned int i;

	if (index >= ZS_SIZE_CLASSES)
		return NULL;
	for (i = 0; i < sf->nr_classes && sf->classes[i].index < index; i++)
		;
	if (i < sf->nr_classes && sf->classes[i].index == index)
		return &sf->classes[i];
	memmove(&sf->classes[i + 1], &sf->classes[i],
		(sf->nr_classes - i) * sizeof(sf->classes[0]));
	memset(&sf->classes[i], 0, sizeof(sf->classes[0]));
	sf->classes[i].index = (unsigned int)index;
	sf->nr_classes++;
	return &sf->classes[i];
}

static void parse_class_stat(struct server_figs *sf, const char *key, unsigned long long v)
{
	static const char *const buckets[ZS_NR_RATIO_BUCKETS] = {
	    "empty", "10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "99%", "100%",
	};
	unsigned long long index;
	struct zs_class_stats *cs;
	char num[24], *colon = strchr(key, ':');

	if (!colon || (size_t)(colon - key) >= sizeof(num))
		return;
	snprintf(num, sizeof(num), "%.*s", (int)(colon - key), key);
	if (parse_u64(num, &index) || !(cs = class_of(sf, index)))
		return;
	key = colon + 1;
	if (!strcmp(key, "size"))
		cs->size = (unsigned int)v;
	else if (!strcmp(key, "pages_per_zspage"))
		cs->pages_per_zspage = (unsigned int)v;
	else if (!strcmp(key, "objs_per_zspage"))
		cs->objs_per_zspage = (unsigned int)v;
	else if (!strcmp(key, "obj_allocated"))
		cs->obj_allocated = v;
	else if (!strcmp(key, "obj_used"))
		cs->obj_used = v;
	else if (!strcmp(key, "pages_used"))
		cs->pages_used = v;
	else if (!strcmp(key, "freeable"))
		cs->freeable = v;
	for (int g = 0; g < ZS_NR_RATIO_BUCKETS; g++)
		if (!strcmp(key, buckets[g]))
			cs->zspages[g] = v;
}

/* One "STAT name value" line of the reply; other servers' figures are passed over. */
static void parse_stat(struct server_figs *sf, const char *name, const char *value)
{
	static const struct {
		const char *name;
		size_t off;
	} pool_fields[] = {
#define POOL_FIELD(stat, field) {stat, offsetof(struct zsstat_pool_figs, field)}
	    POOL_FIELD("orig_data_size", orig_bytes),
	    POOL_FIELD("compr_data_size", compr_bytes),
	    POOL_FIELD("mem_used_total", mem_used),
	    POOL_FIELD("mem_used_max", mem_used_max),
	    POOL_FIELD("pool_meta_bytes", meta_bytes),
	    POOL_FIELD("pages_compacted", pages_compacted),
	    POOL_FIELD("huge_pages", huge_objs),
	    POOL_FIELD("pool_objs_allocated", objs_allocated),
	    POOL_FIELD("pool_objs_used", objs_used),
#undef POOL_FIELD
	};
	unsigned long long v;

	if (!strcmp(name, "pool_name")) {
		snprintf(sf->pool.name, sizeof(sf->pool.name), "%s", value);
		sf->have_pool = 1;
		return;
	}
	if (parse_u64(value, &v))
		return;
	if (!strncmp(name, "class:", 6)) {
		parse_class_stat(sf, name + 6, v);
		return;
	}
	for (size_t i = 0; i < sizeof(pool_fields) / sizeof(pool_fields[0]); i++)
		if (!strcmp(name, pool_fields[i].name))
			memcpy((char *)&sf->pool + pool_fields[i].off, &v, sizeof(v));
}

/* Send @cmd and parse the STAT lines of the reply up to END; -1 (reported) on failure. */
static int server_stats(FILE *conn, const char *addr, const char *cmd, struct server_figs *sf)
{
	char line[512];

	if (fprintf(conn, "%s\r\n", cmd) < 0 || fflush(conn)) {
		fprintf(stderr, "zsstat: %s: %s\n", addr, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), conn)) {
		char *name, *value, *save;

		if (!strchr(line, '\n') && !feof(conn)) {
			fprintf(stderr, "zsstat: %s: \"%s\" answered a line over %zu bytes\n", addr,
				cmd, sizeof(line) - 1);
			return -1;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (!strcmp(line, "END"))
			return 0;
		name = strtok_r(line, " ", &save);
		if (!name || strcmp(name, "STAT")) {
			fprintf(stderr, "zsstat: %s: \"%s\" answered \"%s\"\n", addr, cmd, line);
			return -1;
		}
		name = strtok_r(NULL, " ", &save);
		value = strtok_r(NULL, " ", &save);
		if (name && value)
			parse_stat(sf, name, value);
	}
	fprintf(stderr, "zsstat: %s: \"%s\": %s\n", addr, cmd,
		ferror(conn) ? strerror(errno) : "connection closed before END");
	return -1;
}

static int server_mode(const char *addr, int classes)
{
	struct server_figs *sf = calloc(1, sizeof(*sf));
	int fd, rc = 1;
	FILE *conn;

	if (!sf) {
		fprintf(stderr, "zsstat: out of memory\n");
		return 1;
	}
	fd = server_connect(addr);
	conn = fd < 0 ? NULL : fdopen(fd, "r+");
	if (!conn) {
		if (fd >= 0)
			close(fd);
		free(sf);
		return 1;
	}
	if (server_stats(conn, addr, "stats", sf) || server_stats(conn, addr, "stats classes", sf))
		goto out;
	if (!sf->have_pool) {
		fprintf(stderr, "zsstat: %s: no pool statistics in \"stats\" (not a zcache?)\n",
			addr);
		goto out;
	}
	fputs("quit\r\n", conn);
	zsstat_print_pool(stdout, &sf->pool, ZSSTAT_TABLE);
	putchar('\n');
	if (classes)
		zsstat_print_classes(stdout, sf->classes, sf->nr_classes, ZSSTAT_TABLE);
	else
		zsstat_print_class_sizes(stdout, sf->classes, sf->nr_classes);
	rc = 0;
out:
	fclose(conn);
	free(sf);
	return rc;
}

/* HOST:PORT rather than a path: not an existing path, and a port after the last colon. */
static int is_server(const char *arg)
{
	const char *colon = strrchr(arg, ':');
	struct stat st;

	return colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
	       stat(arg, &st) != 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: zsstat [--classes] HOST:PORT\n"
		   "       zsstat [--classes] [--stat] FILE|DIR...\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"classes", no_argument, NULL, 'c'},
	    {"stat", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum zsstat_style style = ZSSTAT_TABLE;
	int classes = 0, opt;

	while ((opt = getopt_long(argc, argv, "csh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			classes = 1;
			break;
		case 's':
			style = ZSSTAT_STAT;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	if (argc - optind == 1 && is_server(argv[optind])) {
		if (style == ZSSTAT_STAT) {
			fprintf(stderr,
				"zsstat: --stat is for files (a server already speaks it)\n");
			return 2;
		}
		return server_mode(argv[optind], classes);
	}
	return files_mode(argv + optind, argc - optind, classes, style);
}
