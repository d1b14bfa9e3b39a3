/*
 * server.c - zcache's process: options, the libzs pool, the listening socket and the worker
 * threads.  Each worker runs its own epoll loop; all of them wait on the one listening socket
 * (EPOLLEXCLUSIVE wakes one), and the worker that accepts a connection deals it to the next
 * worker in turn, as memcached's dispatcher does: one waking worker would otherwise accept a
 * whole burst of connections and serve them alone (memslap's 4 clients then got one thread,
 * about half memcached's throughput).  A connection is only ever touched by the worker it was
 * dealt to, so it needs no lock.  Sockets are level-triggered: a connection
 * whose replies the client does not read stops being read (EPOLLOUT only) until they drain.
 * A connection is served a bounded number of reads per wakeup, so one client pipelining
 * without end, or one that sent half a command and stalled, never holds up the others; with
 * -o idle_timeout=N a connection that has sent nothing for N seconds is closed (each worker
 * looks once a second through its own list of connections).
 *
 * Memory outside the pool is counted where it is taken, for "stats": connection structures
 * and buffers (zc_server.conn_bytes), the resident part of every thread's stack (mincore over
 * the ranges the threads registered), each thread's codec and fetch buffers (published by the
 * thread itself after each batch of commands) and what malloc holds free.
 *
 * main.c parses the options and starts the parts; this file may not touch the protocol state
 * of a connection beyond what zcache.h's zc_conn_* calls offer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zs/zsmalloc.h>

#include "zcache.h"

#define MAX_EVENTS 64
#define READ_CHUNK (16u << 10)
/* Reads per wakeup before other connections get their turn (-R). */
#define ROUNDS_PER_EVENT 16
/* Worker stacks: the deepest path (a stats reply, snprintf, zstd) needs well under 256 KiB. */
#define WORKER_STACK (512u << 10)
/* Threads whose stacks "stats" counts: workers, the trainer, the main thread. */
#define MAX_THREADS 264
/* Buffers larger than this are given back when they empty, so an idle connection that once
 * took a 1 MiB value costs nothing. */
#define KEEP_BUF (64u << 10)

struct conn {
	struct zc_conn z;
	bool want_out;
	bool quickack; /* TCP_QUICKACK set for the data block being waited for */
	time_t last_active;
	struct conn *prev, *next; /* the worker's list, for the idle sweep */
};

struct worker {
	pthread_t thread;
	int epfd;
	struct zc_thread_stats stats;
	pthread_mutex_t conns_lock; /* the list: the accepting thread adds to it */
	struct conn *conns;
	time_t last_sweep;
	atomic_ulong buf_bytes; /* this thread's codec and fetch buffers, as it last saw them */
} __attribute__((aligned(64)));

struct zc_server_info zc_server;
static struct worker *workers;
static int listen_fd;
static unsigned int rounds_per_event = ROUNDS_PER_EVENT;

/* The threads' stacks, for "stats". */
static struct {
	pthread_mutex_t lock;
	size_t n;
	struct {
		uintptr_t lo, hi;
	} r[MAX_THREADS];
} stacks = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Note the calling thread's stack, so "stats" can count its resident pages. */
void zc_thread_register(void)
{
	pthread_attr_t a;
	void *addr;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &a))
		return;
	if (!pthread_attr_getstack(&a, &addr, &size)) {
		pthread_mutex_lock(&stacks.lock);
		if (stacks.n < MAX_THREADS) {
			stacks.r[stacks.n].lo = (uintptr_t)addr;
			stacks.r[stacks.n].hi = (uintptr_t)addr + size;
			stacks.n++;
		}
		pthread_mutex_unlock(&stacks.lock);
	}
	pthread_attr_destroy(&a);
}

/* Resident bytes of [lo, hi): mincore, a page-sized chunk of its vector at a time. */
static unsigned long resident_bytes(uintptr_t lo, uintptr_t hi)
{
	unsigned char vec[4096];
	unsigned long n = 0;
	size_t page = 4096;

	lo &= ~(uintptr_t)(page - 1);
	while (lo < hi) {
		size_t pages = (hi - lo + page - 1) / page;

		if (pages > sizeof(vec))
			pages = sizeof(vec);
		if (mincore((void *)lo, pages * page, vec))
			break;
		for (size_t i = 0; i < pages; i++)
			n += vec[i] & 1;
		lo += pages * page;
	}
	return n * page;
}

/* Resident file-backed pages: the program's and its libraries' code and data, which grow as
 * code runs for the first time (zstd's, say, at the first value that compresses). */
static unsigned long rss_file(void)
{
	char line[128];
	unsigned long kib = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssFile: %lu kB", &kib) == 1)
			break;
	fclose(f);
	return kib << 10;
}

void zc_server_mem_stats(struct zc_mem_stats *m)
{
	struct mallinfo2 mi = mallinfo2();

	memset(m, 0, sizeof(*m));
	m->conn_bytes = atomic_load(&zc_server.conn_bytes);
	pthread_mutex_lock(&stacks.lock);
	for (size_t i = 0; i < stacks.n; i++)
		m->stack_bytes += resident_bytes(stacks.r[i].lo, stacks.r[i].hi);
	pthread_mutex_unlock(&stacks.lock);
	for (unsigned int w = 0; w < zc_server.threads; w++)
		m->thread_bytes += atomic_load(&workers[w].buf_bytes);
	m->thread_bytes += zc_codec_trainer_bytes();
	/* Every arena's: what is handed out (small blocks and mmapped ones) and the free
	 * chunks it keeps resident. */
	m->malloc_used = mi.uordblks + mi.hblkhd;
	m->malloc_free = mi.fordblks;
	m->code_bytes = rss_file();
}

void zc_server_reset_stats(void)
{
	size_t n = sizeof(struct zc_thread_stats) / sizeof(unsigned long);

	for (unsigned int w = 0; w < zc_server.threads; w++) {
		unsigned long *p = (unsigned long *)&workers[w].stats;

		for (size_t i = 0; i < n; i++)
			__atomic_store_n(&p[i], 0, __ATOMIC_RELAXED);
	}
	atomic_store(&zc_server.total_conns, 0);
	atomic_store(&zc_server.rejected_conns, 0);
	atomic_store(&zc_server.idle_kicks, 0);
}

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

static void worker_adopt(struct worker *w, struct conn *c)
{
	pthread_mutex_lock(&w->conns_lock);
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	pthread_mutex_unlock(&w->conns_lock);
}

/* Under conns_lock. */
static void conn_unlink(struct worker *w, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

static void conn_free(struct worker *w, struct conn *c)
{
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->z.fd, NULL);
	close(c->z.fd);
	zc_conn_release(&c->z);
	free(c);
	atomic_fetch_sub(&zc_server.conn_bytes, sizeof(*c));
	atomic_fetch_sub(&zc_server.curr_conns, 1);
}

static void conn_close(struct worker *w, struct conn *c)
{
	pthread_mutex_lock(&w->conns_lock);
	conn_unlink(w, c);
	pthread_mutex_unlock(&w->conns_lock);
	conn_free(w, c);
}

/* Close the connections that have sent nothing for idle_timeout seconds. */
static void sweep_idle(struct worker *w, time_t now)
{
	struct conn *c, *next, *idle = NULL;

	if (!zc_server.idle_timeout || now == w->last_sweep)
		return;
	w->last_sweep = now;
	pthread_mutex_lock(&w->conns_lock);
	for (c = w->conns; c; c = next) {
		next = c->next;
		if (now - c->last_active > (time_t)zc_server.idle_timeout) {
			conn_unlink(w, c);
			c->next = idle;
			idle = c;
		}
	}
	pthread_mutex_unlock(&w->conns_lock);
	for (c = idle; c; c = next) {
		next = c->next;
		atomic_fetch_add(&zc_server.idle_kicks, 1);
		conn_free(w, c);
	}
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
		atomic_fetch_sub(&zc_server.conn_bytes, z->wcap);
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
		int one = 1;
		int rc = zc_conn_process(z);

		/* Half a data block in: the client's last small segment may be held back by its
		 * Nagle until we acknowledge, and a delayed ACK would cost each such store 40 ms
		 * (a client writing a value as 8 KiB plus the rest stores 25 values a second).
		 * Acknowledge at once instead, once per wait. */
		if (zc_conn_want(z) && !c->quickack) {
			setsockopt(z->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
			c->quickack = true;
		} else if (!zc_conn_want(z)) {
			c->quickack = false;
		}

		atomic_store_explicit(&w->buf_bytes,
				      zc_codec_thread_bytes() + zc_proto_thread_bytes(),
				      memory_order_relaxed);
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
			if (round < (int)rounds_per_event)
				continue;
			count(&w->stats.conn_yields, 1);
			conn_watch(w, c, true);
			return;
		}
		if (round == (int)rounds_per_event) {
			count(&w->stats.conn_yields, 1);
			break; /* fairness: the socket stays readable, epoll comes back to us */
		}
		if (z->rstart == z->rend && z->rcap > KEEP_BUF) {
			atomic_fetch_sub(&zc_server.conn_bytes, z->rcap);
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
		c->last_active = time(NULL);
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
			/* memcached's words, which its clients and tests look for. */
			static const char msg[] = "ERROR Too many open connections\r\n";

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
		c->last_active = time(NULL);
		atomic_fetch_add(&zc_server.conn_bytes, sizeof(*c));
		/* On the worker's list before its epoll set has it: from then on only that
		 * worker frees it. */
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		worker_adopt(w, c);
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			pthread_mutex_lock(&w->conns_lock);
			conn_unlink(w, c);
			pthread_mutex_unlock(&w->conns_lock);
			atomic_fetch_sub(&zc_server.curr_conns, 1);
			atomic_fetch_sub(&zc_server.conn_bytes, sizeof(*c));
			close(fd);
			free(c);
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[MAX_EVENTS];

	zc_thread_register();
	for (;;) {
		/* With an idle timeout the loop wakes once a second to sweep. */
		int n = epoll_wait(w->epfd, ev, MAX_EVENTS, zc_server.idle_timeout ? 1000 : -1);

		for (int i = 0; i < n; i++) {
			if (!ev[i].data.ptr)
				accept_all();
			else
				conn_drive(w, ev[i].data.ptr);
		}
		sweep_idle(w, time(NULL));
	}
	return NULL;
}

/* zc_server_listen - the listening socket on @sa; 0 or -errno. */
int zc_server_listen(const struct sockaddr_in *sa)
{
	int one = 1;

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(listen_fd, (const struct sockaddr *)sa, sizeof(*sa)) || listen(listen_fd, 1024))
		return -errno;
	return 0;
}

/* zc_server_start - the workers, each serving @reqs reads per connection per wakeup. */
int zc_server_start(unsigned int reqs)
{
	pthread_attr_t attr;
	int err = 0;

	rounds_per_event = reqs;
	workers = calloc(zc_server.threads, sizeof(*workers));
	if (!workers)
		return -ENOMEM;
	/* Every epoll set exists before any worker runs: the first accept may deal to any. */
	for (unsigned int i = 0; i < zc_server.threads; i++) {
		pthread_mutex_init(&workers[i].conns_lock, NULL);
		workers[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (workers[i].epfd < 0)
			return -errno;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	for (unsigned int i = 0; i < zc_server.threads && !err; i++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};

		if (epoll_ctl(workers[i].epfd, EPOLL_CTL_ADD, listen_fd, &ev))
			err = -errno;
		else
			err = -pthread_create(&workers[i].thread, &attr, worker_main, &workers[i]);
	}
	pthread_attr_destroy(&attr);
	return err;
}

void zc_server_stop(void)
{
	close(listen_fd);
}
