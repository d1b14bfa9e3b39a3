/*
 * main.c - zcache's command line: memcached's options where they mean something here (and
 * its slab and LRU tuning accepted and ignored, so a memcached command line starts zcache),
 * then the pool, the index, the codec and the workers, and the wait for a signal.
 *
 *   usage: zcache [-p PORT] [-l ADDR] [-m MB] [-t THREADS] [-c CONNS] [-I BYTES] [-z LEVEL]
 *                 [-M] [-F] [-R REQS] [-B ascii] [-o OPT[,OPT...]]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <zs/zsmalloc.h>

#include "zcache.h"

/* Compact the pool from zs_free once this many pages could be given back. */
#define AUTO_COMPACT_PAGES 256
/* Descriptors besides the connections: stdio, the listening socket and what the libraries
 * open; each worker's epoll instance comes on top. */
#define SPARE_FDS 16
/* Blocks of this size and more are mmapped: a 4096-slot table and up. */
#define MMAP_THRESHOLD (64u << 10)
/* Reads per wakeup before other connections get their turn (-R; memcached's -R is 20
 * requests, ours counts reads of up to 16 KiB, each holding many small requests). */
#define DEFAULT_REQS 16

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: zcache [-p PORT] [-l ADDR] [-m MB] [-t THREADS] [-c CONNS] [-I BYTES]"
	    " [-z LEVEL]\n"
	    "              [-M] [-F] [-R REQS] [-B ascii] [-o OPT[,OPT...]]\n"
	    "  -p PORT     TCP port (11211)\n"
	    "  -l ADDR     address to listen on: 127.0.0.1 (loopback only) unless given;\n"
	    "              -l 0.0.0.0 serves every interface, to anyone who can reach it\n"
	    "  -m MB       memory for items (pool objects and index slots), MiB (64)\n"
	    "  -M          return an error when memory is full instead of evicting\n"
	    "  -t THREADS  worker threads (4)\n"
	    "  -c CONNS    simultaneous connections (1024); past them a client is told\n"
	    "              \"ERROR Too many open connections\" and closed\n"
	    "  -I BYTES    largest value, k and m suffixes allowed (1m, at most 1m)\n"
	    "  -F          refuse flush_all\n"
	    "  -R REQS     reads served per connection before the others get a turn (16)\n"
	    "  -B ascii    the protocol: text and meta commands (binary is not spoken)\n"
	    "  -z LEVEL    zstd level for values and dictionaries (3)\n"
	    "  -o OPTS     idle_timeout=SECONDS: close connections that send nothing that long;\n"
	    "              memcached's slab and LRU tuning options are accepted and ignored\n"
	    "Speaks memcached's text and meta protocols; values are stored compressed in a\n"
	    "libzs pool.\n");
}

static bool parse_num(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
	unsigned long r, unit = 1;
	char *end;

	errno = 0;
	r = strtoul(s, &end, 10);
	if (errno || end == s || *s == '-')
		return false;
	if (*end == 'k' || *end == 'K')
		unit = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		unit = 1024 * 1024, end++;
	if (*end || r > hi / unit || r * unit < lo)
		return false;
	*v = r * unit;
	return true;
}

/*
 * An accept() that fails for want of a descriptor leaves the listening socket readable, and
 * every worker would spin on it: raise the open-file limit to what @conns connections need, as
 * memcached does, or lower @conns to what the hard limit allows, so that a connection past it
 * is refused by the -c check instead.
 */
static unsigned long fit_conns(unsigned long conns, unsigned long threads)
{
	rlim_t spare = SPARE_FDS + threads, need = conns + spare;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need)
		return conns;
	rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
	if (setrlimit(RLIMIT_NOFILE, &rl) || getrlimit(RLIMIT_NOFILE, &rl))
		return conns;
	if (rl.rlim_cur >= need)
		return conns;
	conns = rl.rlim_cur > spare ? (unsigned long)(rl.rlim_cur - spare) : 1;
	fprintf(stderr, "zcache: %lu open files at most: -c lowered to %lu\n",
		(unsigned long)rl.rlim_cur, conns);
	return conns;
}

/* memcached -o options that tune its slab allocator, LRU or hash table, which zcache has
 * not: a command line written for memcached still starts zcache. */
static const char *const ignored_opts[] = {"slab_chunk_max",
					   "no_lru_crawler",
					   "lru_crawler",
					   "no_lru_maintainer",
					   "lru_maintainer",
					   "slab_reassign",
					   "slab_automove",
					   "slab_automove_ratio",
					   "slab_automove_window",
					   "hashpower",
					   "hash_algorithm",
					   "tail_repair_time",
					   "modern",
					   "no_modern",
					   "maxconns_fast",
					   "no_maxconns_fast",
					   "read_buf_mem_limit",
					   "temporary_ttl",
					   "lru_segmented",
					   "no_lru_segmented",
					   "no_inline_ascii_resp",
					   "no_hashexpand",
					   "hot_lru_pct",
					   "warm_lru_pct",
					   "hot_max_factor",
					   "warm_max_factor",
					   "lru_crawler_sleep",
					   "lru_crawler_tocrawl",
					   "expirezero_does_not_evict",
					   "track_sizes",
					   "no_slab_reassign",
					   "no_slab_automove",
					   "watcher_logbuf_size",
					   "worker_logbuf_size",
					   "resp_obj_mem_limit",
					   "drop_privileges",
					   "no_drop_privileges",
					   "relaxed_privileges",
					   "no_ttl_slab_automove",
					   NULL};

/* -o a,b=c,...: idle_timeout is zcache's too; the tuning options above are ignored. */
static bool parse_o(char *list)
{
	for (char *save = NULL, *o = strtok_r(list, ",", &save); o;
	     o = strtok_r(NULL, ",", &save)) {
		char *val = strchr(o, '=');
		size_t k;

		if (val)
			*val++ = '\0';
		if (!strcmp(o, "idle_timeout")) {
			unsigned long t;

			if (!val || !parse_num(val, 0, 1ul << 30, &t))
				return false;
			zc_server.idle_timeout = (unsigned int)t;
			continue;
		}
		for (k = 0; ignored_opts[k] && strcmp(ignored_opts[k], o); k++)
			;
		if (!ignored_opts[k]) {
			fprintf(stderr, "zcache: unknown -o option: %s\n", o);
			return false;
		}
		fprintf(stderr, "zcache: -o %s: memcached tuning, nothing to tune here\n", o);
	}
	return true;
}

int main(int argc, char **argv)
{
	unsigned long port = 11211, mb = 64, threads = 4, conns = 1024,
		      item_max = ZC_DEFAULT_ITEM_MAX, reqs = DEFAULT_REQS;
	unsigned long level = 3;
	const char *addr = "127.0.0.1";
	struct zs_pool_opts popts = {.auto_compact_pages = AUTO_COMPACT_PAGES};
	struct zc_codec_opts copts;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sigset_t sigs;
	int opt, sig, err;

	while ((opt = getopt(argc, argv, "p:l:m:t:c:I:z:MFR:B:o:h")) != -1) {
		bool ok = true;

		switch (opt) {
		case 'p':
			ok = parse_num(optarg, 1, 65535, &port);
			break;
		case 'l':
			addr = optarg;
			break;
		case 'm':
			ok = parse_num(optarg, 1, 1ul << 30, &mb);
			break;
		case 't':
			ok = parse_num(optarg, 1, 256, &threads);
			break;
		case 'c':
			ok = parse_num(optarg, 1, 1ul << 20, &conns);
			break;
		case 'I':
			ok = parse_num(optarg, 1024, ZC_DEFAULT_ITEM_MAX, &item_max);
			break;
		case 'z':
			ok = parse_num(optarg, 1, 19, &level);
			break;
		case 'M':
			zc_server.no_evict = true;
			break;
		case 'F':
			zc_server.flush_disabled = true;
			break;
		case 'R':
			ok = parse_num(optarg, 1, 1u << 16, &reqs);
			break;
		case 'B':
			ok = !strcmp(optarg, "ascii") || !strcmp(optarg, "auto");
			break;
		case 'o':
			ok = parse_o(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			ok = false;
		}
		if (!ok) {
			if (opt != '?')
				fprintf(stderr, "zcache: bad value for -%c: %s\n", opt, optarg);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		usage(stderr);
		return 2;
	}
	sa.sin_port = htons((unsigned short)port);

	zc_thread_register();
	/* Large blocks (hash tables as they grow, training samples, zstd's training memory)
	 * straight from mmap and back to the OS when freed: glibc's threshold would otherwise
	 * rise to the largest block freed, and tables freed on growth would stay as free heap. */
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	zc_server.threads = (unsigned int)threads;
	zc_server.max_conns = (unsigned int)fit_conns(conns, threads);
	zc_server.item_max = item_max;
	zc_server.port = (unsigned int)port;
	zc_server.addr = addr;
	zc_server.zstd_level = (int)level;
	zc_server.started = time(NULL);
	zc_server.pool = zs_create_pool_opts("zcache", &popts);
	if (!zc_server.pool || zc_store_init(zc_server.pool, mb << 20, zc_server.no_evict)) {
		perror("zcache: pool");
		return 1;
	}
	copts = (struct zc_codec_opts){
	    .zstd_level = (int)level,
	    .dict_size = 64 << 10,
	    .sample_bytes = 4 << 20,
	};

	err = zc_server_listen(&sa);
	if (err) {
		fprintf(stderr, "zcache: cannot listen on %s:%lu: %s\n", addr, port,
			strerror(-err));
		return 1;
	}

	/* Workers inherit a mask without SIGINT/SIGTERM: the main thread takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (zc_codec_init(&copts)) {
		perror("zcache: codec");
		return 1;
	}
	err = zc_server_start((unsigned int)reqs);
	if (err) {
		fprintf(stderr, "zcache: workers: %s\n", strerror(-err));
		return 1;
	}
	fprintf(stderr, "zcache %s: listening on %s:%lu, %lu MiB, %lu threads\n", ZC_VERSION, addr,
		port, mb, threads);

	if (sigwait(&sigs, &sig) == 0)
		fprintf(stderr, "zcache: signal %d, exiting\n", sig);
	/* Workers are blocked in epoll_wait or serving a request: leave without tearing the
	 * pool down under them; the process's memory goes with it. */
	zc_server_stop();
	zc_codec_stop();
	_exit(0);
}
