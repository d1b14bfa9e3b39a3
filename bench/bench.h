/*
 * bench.h - a C face for Google Benchmark, so that every benchmark body in bench/ is C.
 *
 * bench/bench_main.cc (the only C++ file) holds the bodies registered here, hands them to
 * Google Benchmark in main() and runs them; everything Google Benchmark offers on its command
 * line (--benchmark_filter, --benchmark_repetitions, --benchmark_out=FILE.json, ...) works.
 *
 * Adding a benchmark = one C file in bench/ (bench/bench.mk links every C file there):
 *
 *	#include "bench.h"
 *
 *	static void bm_thing(struct bm_state *s)
 *	{
 *		struct thing *t = thing_new();		// setup: not timed
 *
 *		while (bm_keep_running(s))		// the timed loop, one iteration each time
 *			thing_poke(t);
 *		bm_items(s, bm_iterations(s));		// -> items_per_second
 *		thing_free(t);
 *	}
 *
 *	static void cfg_thing(struct bm_bench *b)	// optional (NULL): arguments, threads...
 *	{
 *		bm_arg_name(b, "size");
 *		bm_arg(b, 64);
 *		bm_arg(b, 4096);			// -> "thing/size:64", "thing/size:4096"
 *	}
 *	BM_REGISTER(bm_thing, "thing", cfg_thing);
 *
 * For several variants of one body (a codec, a corpus kind...), register them from a
 * BM_INIT() function with bm_register() and a pointer the body gets back from bm_user().
 *
 * Threads (bm_threads()): the body runs in each thread at once.  State shared by the threads
 * is built by thread 0 (bm_thread_index() == 0) before a bm_sync() and freed by it after
 * another (see bm_sync()).
 *
 * Results: counters (bm_counter()) appear in the console table and in the JSON output; with
 * --benchmark_repetitions=N Google Benchmark adds their mean, median and stddev.  bench/report.py
 * reads that JSON; a body that cannot run here (no zram, not root) calls bm_skip() with the
 * reason, which the report prints in place of the row; one that went wrong calls bm_fail().
 * A new body's rows appear in BENCHMARKS.md under "Other benchmarks" (median time and
 * counters) with no change to the report; give it a section there when it earns one.
 *
 * Quick mode (`make bench-quick`, option --quick): bm_quick() is true and each body should
 * shrink its work so the whole suite is a smoke test of a few seconds per benchmark.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One running benchmark (a benchmark::State). */
struct bm_state;
/* One registered benchmark being configured (a benchmark::internal::Benchmark). */
struct bm_bench;

typedef void (*bm_body_fn)(struct bm_state *s);
typedef void (*bm_config_fn)(struct bm_bench *b);

/*
 * bm_register - register @body under @name; @config (may be NULL) is called once in main(),
 * after the command line is parsed (so bm_quick() is known), to set arguments and options.
 * @user is returned by bm_user() in the body.  @name is copied.  Call it from a constructor:
 * BM_REGISTER() or a BM_INIT() function.
 */
void bm_register(const char *name, bm_body_fn body, bm_config_fn config, const void *user);

#define BM_REGISTER(body, name, config)                                                            \
	static void __attribute__((constructor)) bm_register_##body(void)                          \
	{                                                                                          \
		bm_register(name, body, config, NULL);                                             \
	}

/* BM_INIT(fn): run `static void fn(void)` before main(), to call bm_register() in a loop. */
#define BM_INIT(fn)                                                                                \
	static void fn(void);                                                                      \
	static void __attribute__((constructor)) bm_init_##fn(void)                                \
	{                                                                                          \
		fn();                                                                              \
	}

/* ---- configuration (in a bm_config_fn) ---------------------------------------------------- */

/* Names of the arguments, shown as "name/arg:value"; call before bm_arg()/bm_args(). */
void bm_arg_name(struct bm_bench *b, const char *name);
void bm_arg_names(struct bm_bench *b, int n, const char *const *names);
/* One run with one argument (bm_range(s, 0)), or with @n arguments. */
void bm_arg(struct bm_bench *b, int64_t value);
void bm_args(struct bm_bench *b, int n, const int64_t *values);
/* Run the body in @n threads at once (call once per thread count wanted). */
void bm_threads(struct bm_bench *b, int n);
/* Time with bm_set_iteration_time() instead of the loop's own clock. */
void bm_manual_time(struct bm_bench *b);
/* Wall-clock time instead of the calling thread's CPU time (always wanted with threads). */
void bm_real_time(struct bm_bench *b);
/* A fixed number of iterations, or of repetitions (overrides --benchmark_repetitions). */
void bm_fixed_iterations(struct bm_bench *b, int64_t n);
void bm_repetitions(struct bm_bench *b, int n);
/* Run the loop for at least @seconds (overrides --benchmark_min_time). */
void bm_min_time(struct bm_bench *b, double seconds);
enum bm_unit { BM_NS, BM_US, BM_MS, BM_S };
void bm_unit(struct bm_bench *b, enum bm_unit unit);

/* ---- in the body -------------------------------------------------------------------------- */

/* True while the body should run one more iteration; the timed part is between calls. */
int bm_keep_running(struct bm_state *s);
/* The @i-th argument of this run. */
int64_t bm_range(const struct bm_state *s, int i);
/* Iterations done so far (after the loop: all of them, in this thread). */
int64_t bm_iterations(const struct bm_state *s);
int bm_thread_index(const struct bm_state *s);
int bm_nthreads(const struct bm_state *s);
/* The pointer given to bm_register(). */
const void *bm_user(const struct bm_state *s);
/*
 * bm_sync - wait until every thread of this run has called it (a barrier).  The pattern for
 * state shared by the threads: thread 0 builds it, bm_sync(), each thread prepares its part,
 * loop, each thread releases its part, bm_sync(), thread 0 frees it.  Inside the loop only with
 * bm_manual_time() (the wait is not work) and only if no thread leaves the loop early: every
 * thread runs the same number of iterations.
 */
void bm_sync(struct bm_state *s);
/* Stop and restart the clock inside the loop (each costs about a microsecond). */
void bm_pause(struct bm_state *s);
void bm_resume(struct bm_state *s);
/* With bm_manual_time(): the seconds this iteration took; call once per iteration. */
void bm_set_iteration_time(struct bm_state *s, double seconds);
/* Items or bytes this thread processed; Google Benchmark reports them per second. */
void bm_items(struct bm_state *s, int64_t items);
void bm_bytes(struct bm_state *s, int64_t bytes);
void bm_label(struct bm_state *s, const char *label);
/*
 * bm_skip - this benchmark cannot run on this machine (no zram, not root, a library missing):
 * the run is reported as an error "skipped: REASON", which bench/report.py prints in place of
 * the row.  bm_fail - it went wrong: an error "failed: WHY", which makes the report (and so
 * make bench / make bench-quick) fail.  Call either before the loop, or after leaving it (by
 * bm_keep_running() returning false or by a break); then return.
 */
void bm_skip(struct bm_state *s, const char *reason);
void bm_fail(struct bm_state *s, const char *why);

/* Counter flags; 0 reports the value as set.  With threads, values of the threads are summed
 * unless BM_AVG_THREADS is given. */
#define BM_RATE	       0x1u /* value / seconds of the run */
#define BM_AVG_THREADS 0x2u /* mean over the threads instead of the sum */
#define BM_PER_ITER    0x4u /* value / iterations */
/* bm_counter - set counter @name (copied) of this run to @value. */
void bm_counter(struct bm_state *s, const char *name, double value, unsigned flags);

/* ---- the suite's options ------------------------------------------------------------------ */

/* True under --quick. */
int bm_quick(void);
/* The directory given with --corpus-dir (default "build/bench"), where corpus-KIND.bin are. */
const char *bm_corpus_dir(void);

/*
 * bm_child - a body may run part of its work in a fresh process (a clean heap, another malloc
 * under LD_PRELOAD): bm_child_register() names a function that main() runs instead of the
 * benchmarks when the program is started as "PROG --bm-child NAME ARG FD"; it must write its
 * result to FD and return 0.  bm_run_child() starts such a process (with @preload as LD_PRELOAD
 * when not NULL) and reads exactly @size bytes of result into @res.
 * @return 0, or -1 (the child failed or returned a short result; a message was printed).
 */
typedef int (*bm_child_fn)(const char *arg, int fd);
void bm_child_register(const char *name, bm_child_fn fn);
int bm_run_child(const char *name, const char *arg, const char *preload, void *res, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_BENCH_H */
