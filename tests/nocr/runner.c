/*
 * runner.c - runs the tests registered through tests/nocr/criterion/criterion.h, for builds in
 * which Criterion cannot run (the thread sanitizer).
 *
 *   test_xxx [--jobs=N] [--filter=GLOB]    GLOB matches "suite/name" as Criterion's does
 *
 * Each test runs in a child forked from this single-threaded process, up to N at once (as
 * Criterion's --jobs), with its .timeout multiplied by NOCR_TIMEOUT_SCALE (default 10: the
 * sanitizers slow a test down several times).  A child exits 0 (passed), NOCR_SKIP (skipped)
 * or anything else, a signal included (failed).  The exit status is 0 when none failed.
 */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criterion/criterion.h"

#define NOCR_SKIP     77
#define NOCR_MAX_JOBS 64

static struct nocr_test *tests;
static unsigned nr_tests;

void nocr_register(struct nocr_test *t)
{
	t->next = tests;
	tests = t;
	nr_tests++;
}

void nocr_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] %s:%d: Assertion failed: %s:", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	_exit(1);
}

void nocr_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] skipped:");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	_exit(NOCR_SKIP);
}

void nocr_log(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int by_name(const void *a, const void *b)
{
	const struct nocr_test *x = *(struct nocr_test *const *)a;
	const struct nocr_test *y = *(struct nocr_test *const *)b;
	int c = strcmp(x->suite, y->suite);

	return c ? c : strcmp(x->name, y->name);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct job {
	pid_t pid;
	struct nocr_test *t;
	double start;
};

static pid_t start_test(struct nocr_test *t, double scale)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	if (t->opts.timeout > 0)
		alarm((unsigned)(t->opts.timeout * scale + 1));
	t->fn();
	exit(0); /* not _exit: a sanitizer reports its findings from an exit handler */
}

int main(int argc, char **argv)
{
	const char *filter = NULL, *env = getenv("NOCR_TIMEOUT_SCALE");
	double scale = env ? atof(env) : 10;
	unsigned jobs = 1, nr = 0, next = 0, running = 0;
	unsigned passed = 0, failed = 0, skipped = 0;
	struct job job[NOCR_MAX_JOBS];
	struct nocr_test **list;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--jobs=", 7) || !strncmp(argv[i], "-j", 2))
			jobs = (unsigned)atoi(argv[i] + (argv[i][1] == 'j' ? 2 : 7));
		else if (!strncmp(argv[i], "--filter=", 9))
			filter = argv[i] + 9;
		else {
			fprintf(stderr, "usage: %s [--jobs=N] [--filter=SUITE/NAME-GLOB]\n",
				argv[0]);
			return 2;
		}
	}
	if (jobs < 1 || jobs > NOCR_MAX_JOBS)
		jobs = jobs < 1 ? 1 : NOCR_MAX_JOBS;
	list = calloc(nr_tests ? nr_tests : 1, sizeof(*list));
	if (!list)
		return 2;
	for (struct nocr_test *t = tests; t; t = t->next) {
		char full[256];
		snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
		if (!filter || !fnmatch(filter, full, 0))
			list[nr++] = t;
	}
	qsort(list, nr, sizeof(*list), by_name);
	printf("[====] %u tests, %u at a time (without Criterion, timeouts x%g)\n", nr, jobs,
	       scale);

	while (next < nr || running) {
		int status;
		pid_t pid;
		unsigned j;

		while (running < jobs && next < nr) {
			job[running].t = list[next++];
			job[running].start = now();
			job[running].pid = start_test(job[running].t, scale);
			if (job[running].pid < 0) {
				perror("fork");
				return 2;
			}
			running++;
		}
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			perror("waitpid");
			return 2;
		}
		for (j = 0; j < running && job[j].pid != pid; j++)
			;
		if (j == running)
			continue; /* a grandchild a test left behind */
		struct nocr_test *t = job[j].t;
		double secs = now() - job[j].start;
		job[j] = job[--running];
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			passed++;
			printf("[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, secs);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == NOCR_SKIP) {
			skipped++;
			printf("[SKIP] %s::%s\n", t->suite, t->name);
		} else {
			failed++;
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
				printf("[FAIL] %s::%s: timed out after %.0fs\n", t->suite, t->name,
				       secs);
			else if (WIFSIGNALED(status))
				printf("[FAIL] %s::%s: killed by signal %d (%.2fs)\n", t->suite,
				       t->name, WTERMSIG(status), secs);
			else
				printf("[FAIL] %s::%s: exit status %d (%.2fs)\n", t->suite, t->name,
				       WEXITSTATUS(status), secs);
		}
		fflush(stdout);
	}
	printf("[====] Synthesis: Tested: %u | Passing: %u | Failing: %u | Skipped: %u\n", nr,
	       passed, failed, skipped);
	free(list);
	return failed ? 1 : 0;
}
