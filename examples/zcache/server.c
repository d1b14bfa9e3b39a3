/*
 * server.c - zcache's process: options, the libzs pool, the listening socket and the worker
 * threads.  Each worker runs its own epoll loop; all of them wait on the one listening socket
 * (EPOLLEXCLUSIVE wakes one), and the worker that accepts a connection deals it to the next
 * worker in turn, as memcached's dispatcher does: one waking worker would otherwise accept a
 * whole burst of connections and serve them alone (memslap's 4 clients then got one thread,
 * about half memcached's throughput).  A connection is only ever touched by the worker it was
 * dealt to, so it needs no lock.  Sockets are level-triggered: a connection
 * whose replies the client does not read stops being read (EPOLLOUT only) until they drain.
 *
 *   usage: zcache [-p PORT] [-l ADDR] [-m MB] [-t THREADS] [-c CONNS] [-I BYTES] [-z LEVEL]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zs/zsmalloc.h>

#include "zcache.h"

#define MAX_EVENTS 64
#define READ_CHUNK (16u << 10)
/* Reads per wakeup before other connections get their turn. */
#define ROUNDS_PER_EVENT 16
/* Buffers larger than this are given back when they empty, so an idle connection that once
 * took a 1 MiB value costs nothing. */
#define KEEP_BUF (64u << 10)
/* Compact the pool from zs_free once this many pages could be given back. */
#define AUTO_COMPACT_PAGES 256
/* Descriptors besides the connections: stdio, the listening socket and what the libraries
 * open; each worker's epoll instance comes on top. */
#define SPARE_FDS 16

struct worker {
	pthread_t thread;
	int epfd;
	struct zc_thread_stats stats;
} __attribute__((aligned(64)));

struct conn {
	struct zc_conn z;
	bool want_out;
};

struct zc_server_info zc_server;
static struct worker *workers;
static int listen_fd;

/* Only the owning worker writes its counters; "stats" reads them from another thread. */
static void count(unsigned long *field, size_t n)
{
	__atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

void zc_server_sum_stats(struct zc_thread_stats *sum)
{
	unsigned long *out = (unsigned long *)sum;
	size_t n = sizeof(*sum) / sizeof(unsigned long);

	memset(sum, 0, sizeof(*sum));
	for (unsigned int w = 0; w < zc_server.threads; w++) {
		unsigned long *in = (unsigned long *)&workers[w].stats;

		for (size_t i = 0; i < n; i++)
			out[i] += __atomic_load_n(&in[i], __ATOMIC_RELAXED);
	}
}

static void conn_close(struct worker *w, struct conn *c)
{
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->z.fd, NULL);
	close(c->z.fd);
	zc_conn_release(&c->z);
	free(c);
	atomic_fetch_sub(&zc_server.curr_conns, 1);
}

static void conn_watch(struct worker *w, struct conn *c, bool out)
{
	struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};

	if (c->want_out != out) {
		epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->z.fd, &ev);
		c->want_out = out;
	}
}

/* Write what is buffered; 0 when done or the socket is full, -1 on a dead socket. */
static int conn_write(struct worker *w, struct conn *c)
{
	struct zc_conn *z = &c->z;

	while (z->wend > z->wstart) {
		ssize_t n = send(z->fd, z->wbuf + z->wstart, z->wend - z->wstart, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		z->wstart += (size_t)n;
		count(&w->stats.bytes_written, (size_t)n);
	}
	z->wstart = z->wend = 0;
	if (z->wcap > KEEP_BUF) {
		free(z->wbuf);
		z->wbuf = NULL;
		z->wcap = 0;
	}
	return 0;
}

/* Process, write, read, until the socket has nothing more or cannot take more.  Every read
 * is followed by a round that processes it: data left unprocessed in the buffer with nothing
 * more in the socket would get no further event. */
static void conn_drive(struct worker *w, struct conn *c)
{
	struct zc_conn *z = &c->z;

	for (int round = 0;; round++) {
		size_t want;
		ssize_t n;
		int rc = zc_conn_process(z);

		if (conn_write(w, c) < 0)
			goto close;
		if (z->wend > z->wstart) {
			conn_watch(w, c, true);
			return;
		}
		if (rc < 0)
			goto close;
		if (rc > 0) {
			/* Commands wait in the buffer, which no read event would announce: run
			 * them now, or after the other connections' turn, on the EPOLLOUT that a
			 * writable socket reports at once. */
			if (round < ROUNDS_PER_EVENT)
				continue;
			conn_watch(w, c, true);
			return;
		}
		if (round == ROUNDS_PER_EVENT)
			break; /* fairness: the socket stays readable, epoll comes back to us */
		if (z->rstart == z->rend && z->rcap > KEEP_BUF) {
			free(z->rbuf);
			z->rbuf = NULL;
			z->rcap = 0;
			z->rstart = z->rend = 0;
		}
		want = zc_conn_want(z);
		if (zc_conn_reserve(z, want > READ_CHUNK ? want : READ_CHUNK))
			goto close;
		n = recv(z->fd, z->rbuf + z->rend, z->rcap - z->rend, 0);
		if (n == 0)
			goto close;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				goto close;
			break;
		}
		z->rend += (size_t)n;
		count(&w->stats.bytes_read, (size_t)n);
	}
	conn_watch(w, c, false);
	return;
close:
	conn_close(w, c);
}

static void accept_all(void)
{
	static atomic_uint next_worker;

	for (;;) {
		struct worker *w;
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;
		struct conn *c;
		struct epoll_event ev;

		if (fd < 0)
			return; /* EAGAIN, or EMFILE and the like: try again on the next wakeup */
		if (atomic_fetch_add(&zc_server.curr_conns, 1) >= zc_server.max_conns) {
			static const char msg[] = "SERVER_ERROR too many open connections\r\n";

			atomic_fetch_sub(&zc_server.curr_conns, 1);
			atomic_fetch_add(&zc_server.rejected_conns, 1);
			if (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL) < 0)
				(void)0; /* the refusal is best effort */
			close(fd);
			continue;
		}
		atomic_fetch_add(&zc_server.total_conns, 1);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		w = &workers[atomic_fetch_add(&next_worker, 1) % zc_server.threads];
		c = calloc(1, sizeof(*c));
		if (!c) {
			atomic_fetch_sub(&zc_server.curr_conns, 1);
			close(fd);
			continue;
		}
		c->z.fd = fd;
		c->z.stats = &w->stats;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			atomic_fetch_sub(&zc_server.curr_conns, 1);
			close(fd);
			free(c);
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[MAX_EVENTS];

	for (;;) {
		int n = epoll_wait(w->epfd, ev, MAX_EVENTS, -1);

		for (int i = 0; i < n; i++) {
			if (!ev[i].data.ptr)
				accept_all();
			else
				conn_drive(w, ev[i].data.ptr);
		}
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: zcache [-p PORT] [-l ADDR] [-m MB] [-t THREADS] [-c CONNS] [-I BYTES]"
	       " [-z LEVEL]\n"
	       "  -p PORT     TCP port (11211)\n"
	       "  -l ADDR     address to listen on (127.0.0.1)\n"
	       "  -m MB       memory for items (pool objects and index entries), MiB (64)\n"
	       "  -t THREADS  worker threads (4)\n"
	       "  -c CONNS    simultaneous connections (1024)\n"
	       "  -I BYTES    largest value, k and m suffixes allowed (1m, at most 1m)\n"
	       "  -z LEVEL    zstd level for values and dictionaries (3)\n"
	       "Speaks memcached's text protocol; values are stored compressed in a libzs pool.\n");
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

int main(int argc, char **argv)
{
	unsigned long port = 11211, mb = 64, threads = 4, conns = 1024,
		      item_max = ZC_DEFAULT_ITEM_MAX;
	unsigned long level = 3;
	const char *addr = "127.0.0.1";
	struct zs_pool_opts popts = {.auto_compact_pages = AUTO_COMPACT_PAGES};
	struct zc_codec_opts copts;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sigset_t sigs;
	int opt, one = 1, sig;

	while ((opt = getopt(argc, argv, "p:l:m:t:c:I:z:h")) != -1) {
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

	zc_server.threads = (unsigned int)threads;
	zc_server.max_conns = (unsigned int)fit_conns(conns, threads);
	zc_server.item_max = item_max;
	zc_server.started = time(NULL);
	zc_server.pool = zs_create_pool_opts("zcache", &popts);
	if (!zc_server.pool || zc_store_init(zc_server.pool, mb << 20)) {
		perror("zcache: pool");
		return 1;
	}
	copts = (struct zc_codec_opts){
	    .zstd_level = (int)level,
	    .dict_size = 64 << 10,
	    .sample_bytes = 4 << 20,
	};

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(listen_fd, 1024)) {
		fprintf(stderr, "zcache: cannot listen on %s:%lu: %s\n", addr, port,
			strerror(errno));
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
	workers = calloc(threads, sizeof(*workers));
	if (!workers)
		return 1;
	/* Every epoll set exists before any worker runs: the first accept may deal to any. */
	for (unsigned long i = 0; i < threads; i++) {
		workers[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (workers[i].epfd < 0) {
			perror("zcache: epoll");
			return 1;
		}
	}
	for (unsigned long i = 0; i < threads; i++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};

		if (epoll_ctl(workers[i].epfd, EPOLL_CTL_ADD, listen_fd, &ev) ||
		    pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) {
			perror("zcache: worker");
			return 1;
		}
	}
	fprintf(stderr, "zcache %s: listening on %s:%lu, %lu MiB, %lu threads\n", ZC_VERSION, addr,
		port, mb, threads);

	if (sigwait(&sigs, &sig) == 0)
		fprintf(stderr, "zcache: signal %d, exiting\n", sig);
	/* Workers are blocked in epoll_wait or serving a request: leave without tearing the
	 * pool down under them; the process's memory goes with it. */
	close(listen_fd);
	zc_codec_stop();
	_exit(0);
}
