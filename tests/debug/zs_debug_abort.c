/*
 * zs_debug_abort.c - the DEBUG=1 validators (libzs/debug.c) fail when an invariant breaks.
 *
 * Each case builds a small pool, breaks one invariant by writing to libzs's internal
 * structures (the program includes libzs's internal headers; it uses them for nothing else),
 * then makes the one public call that must notice, in a forked child.  The case passes when
 * that child dies of SIGABRT after printing the validator's "invariant broken" message with
 * the words the case expects, and when the same child without the damage runs to the end.
 * So a validator that checks nothing, or that blames the wrong thing, fails here.
 *
 * In a build without ZS_DEBUG the validators are compiled out: only the undamaged runs are
 * made, and the program says the rest was skipped.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zs/zsmalloc.h>

#include "fullness.h"
#include "pool.h"

#define NOBJ 40

struct fixture {
	struct zs_pool *pool;
	unsigned long h[NOBJ]; /* live objects of 100 bytes, one class */
};

static uint64_t entry_of(struct fixture *f, unsigned long h)
{
	return zs_load_relaxed(handle_entry(&f->pool->handles, handle_idx(h)));
}

static struct zspage *zspage_of_handle(struct fixture *f, unsigned long h)
{
	return zspage_of(f->pool, he_id(entry_of(f, h)));
}

static struct size_class *class_of_handle(struct fixture *f, unsigned long h)
{
	return zspage_class(f->pool, zspage_of_handle(f, h));
}

static void die(const char *what)
{
	fprintf(stderr, "zs_debug_abort: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* A pool with NOBJ live objects, and freed ones of another class so the free bitmap is used. */
static void setup(struct fixture *f)
{
	unsigned long other[NOBJ];

	f->pool = zs_create_pool("debug-abort");
	if (!f->pool)
		die("zs_create_pool");
	for (int i = 0; i < NOBJ; i++) {
		f->h[i] = zs_malloc(f->pool, 100);
		other[i] = zs_malloc(f->pool, 300);
		if (!f->h[i] || !other[i])
			die("zs_malloc");
	}
	for (int i = 0; i < NOBJ; i++)
		if (zs_free(f->pool, other[i]))
			die("zs_free");
}

/* ---- the damage ---- */

static void break_inuse(struct fixture *f)
{
	zspage_of_handle(f, f->h[0])->inuse++;
}

static void break_bitmap(struct fixture *f)
{
	struct zspage *z = zspage_of_handle(f, f->h[1]);
	uint32_t s = he_slot(entry_of(f, f->h[1]));

	zspage_map(z)[s >> 6] &= ~(1ULL << (s & 63));
}

static void break_populated(struct fixture *f)
{
	zspage_of_handle(f, f->h[0])->populated = 0;
}

static void break_list_mask(struct fixture *f)
{
	struct size_class *c = class_of_handle(f, f->h[0]);

	zs_store_relaxed(&c->list_mask, zs_load_relaxed(&c->list_mask) ^ (1U << ZS_FULL));
}

static void break_obj_used(struct fixture *f)
{
	struct size_class *c = class_of_handle(f, f->h[0]);

	cnt_add_locked(c->obj_used, 1);
}

static void break_entry_slot(struct fixture *f)
{
	uint64_t e = entry_of(f, f->h[2]);
	struct zspage *z = zspage_of_handle(f, f->h[2]);

	/* point the handle at the zspage's first free slot */
	zs_store_relaxed(handle_entry(&f->pool->handles, handle_idx(f->h[2])),
			 he_make(he_id(e), z->first_free, he_size(e), he_gen(e)));
}

/* Mark a live index free in the table's bitmap as well. */
static void break_free_live(struct fixture *f)
{
	struct zs_handles *t = &f->pool->handles;
	uint32_t idx = handle_idx(f->h[1]);
	_Atomic uint64_t *w = table_at(&t->free_bits, idx >> 6, HF_WORD_SHIFT, HF_FIRST_SHIFT);

	zs_store_relaxed(w, zs_load_relaxed(w) | 1ULL << (idx & 63));
	if (idx >> 6 < t->free_low)
		t->free_low = idx >> 6;
}

/* Drop a free index of the table's bitmap: it is then nowhere. */
static void break_lose_index(struct fixture *f)
{
	struct zs_handles *t = &f->pool->handles;

	for (uint32_t w = 0; w < t->free_words; w++) {
		_Atomic uint64_t *word = table_at(&t->free_bits, w, HF_WORD_SHIFT, HF_FIRST_SHIFT);
		uint64_t bits = zs_load_relaxed(word);
		if (bits) {
			zs_store_relaxed(word, bits & (bits - 1));
			return;
		}
	}
}

static void break_id_bit(struct fixture *f)
{
	uint32_t id = he_id(entry_of(f, f->h[0]));

	f->pool->vm.id_bits[id >> 6] &= ~(1ULL << (id & 63));
}

/* ---- the call that must notice ---- */

static void call_malloc(struct fixture *f)
{
	zs_malloc(f->pool, 100);
}

static void call_free(struct fixture *f)
{
	zs_free(f->pool, f->h[NOBJ - 1]);
}

static void call_compact(struct fixture *f)
{
	zs_compact(f->pool);
}

struct test_case {
	const char *name;
	void (*damage)(struct fixture *);
	void (*call)(struct fixture *);
	const char *expect; /* in the validator's message */
};

static const struct test_case cases[] = {
    {"zspage inuse off by one", break_inuse, call_malloc, "slots marked used"},
    {"zspage bitmap bit lost", break_bitmap, call_free, "slots marked used"},
    {"zspage tail released under an object", break_populated, call_free, "pages resident"},
    {"class list_mask bit flipped", break_list_mask, call_malloc, "list_mask"},
    {"class obj_used counter off", break_obj_used, call_free, "counters say"},
    {"handle entry naming a free slot", break_entry_slot, call_compact, "which is free"},
    {"live handle in the free bitmap", break_free_live, call_compact, "live"},
    {"handle index lost", break_lose_index, call_compact, "lost"},
    {"zspage id freed under a live zspage", break_id_bit, call_compact, "its id is not in use"},
};

/* Run one case in a child; its stderr into @err.  Returns the wait status. */
static int run_child(const struct test_case *tc, int damage, char *err, size_t errlen)
{
	int fds[2];

	if (pipe(fds))
		die("pipe");
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct fixture f;

		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		setup(&f);
		if (damage)
			tc->damage(&f);
		fprintf(stderr, "calling\n");
		tc->call(&f);
		fprintf(stderr, "returned\n");
		if (!damage)
			zs_destroy_pool(f.pool);
		_exit(0);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t got;
	while (n + 1 < errlen && (got = read(fds[0], err + n, errlen - 1 - n)) > 0)
		n += (size_t)got;
	err[n] = '\0';
	close(fds[0]);
	int status;
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	return status;
}

int main(void)
{
	char err[4096];
	int failed = 0;
	size_t n = sizeof(cases) / sizeof(cases[0]);

	for (size_t i = 0; i < n; i++) {
		const struct test_case *tc = &cases[i];
		int st = run_child(tc, 0, err, sizeof(err));

		if (!WIFEXITED(st) || WEXITSTATUS(st) || !strstr(err, "returned")) {
			printf("FAIL %s: the undamaged pool did not get through the call\n%s",
			       tc->name, err);
			failed++;
			continue;
		}
		if (!ZS_DEBUG)
			continue;
		st = run_child(tc, 1, err, sizeof(err));
		const char *msg = strstr(err, "invariant broken");
		const char *call = strstr(err, "calling");
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT || !msg || !call || msg < call ||
		    !strstr(msg, tc->expect) || strstr(err, "returned")) {
			printf("FAIL %s: expected the call to abort with \"%s\"; status %#x, "
			       "stderr:\n%s",
			       tc->name, tc->expect, st, err);
			failed++;
			continue;
		}
		printf("ok   %s: %s", tc->name, msg);
	}
	if (!ZS_DEBUG)
		printf("zs_debug_abort: %zu undamaged runs passed; the damaged ones skipped: this "
		       "build "
		       "has no validators (make DEBUG=1)\n",
		       n);
	else
		printf("zs_debug_abort: %zu of %zu broken invariants caught at the next call\n",
		       n - failed, n);
	return failed ? 1 : 0;
}
