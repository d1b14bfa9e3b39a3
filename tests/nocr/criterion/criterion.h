/*
 * A stand-in for <criterion/criterion.h>, for builds where Criterion itself cannot run: its
 * 2.4 runner crashes at startup under the thread sanitizer (its boxfort arena faults before any
 * test starts).  With -Itests/nocr the test files compile against this header unchanged and
 * link tests/nocr/runner.c, which runs each test in a forked process of its own, as Criterion
 * does, so a failed assertion or a crash ends only that test.
 *
 * It covers what our suites use: Test() with .timeout, the cr_assert family (an optional
 * printf-style message after the operands), cr_skip_test and cr_log_info.  The failure
 * message names the expression; unlike Criterion's it does not print the operands' values.
 */
#ifndef NOCR_CRITERION_H
#define NOCR_CRITERION_H

#include <stdbool.h>
#include <string.h>

struct nocr_opts {
	double timeout; /* seconds; 0: none */
};

struct nocr_test {
	const char *suite;
	const char *name;
	void (*fn)(void);
	struct nocr_opts opts;
	struct nocr_test *next;
};

void nocr_register(struct nocr_test *t);
__attribute__((noreturn, format(printf, 4, 5))) void
nocr_fail(const char *file, int line, const char *expr, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void nocr_skip(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void nocr_log(const char *fmt, ...);

#define Test(suite, name, ...)                                                                     \
	static void suite##_##name##_fn(void);                                                     \
	static struct nocr_test suite##_##name##_test = {                                          \
	    #suite, #name, suite##_##name##_fn, {__VA_ARGS__}, 0};                                 \
	__attribute__((constructor)) static void suite##_##name##_reg(void)                        \
	{                                                                                          \
		nocr_register(&suite##_##name##_test);                                             \
	}                                                                                          \
	static void suite##_##name##_fn(void)

/* The message, when given, starts with a string literal, so " " can be glued on before it
 * (which also keeps an absent message from being an empty format string). */
#define nocr_check(cond, text, ...)                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			nocr_fail(__FILE__, __LINE__, text, " " __VA_ARGS__);                      \
	} while (0)

#define cr_assert(cond, ...)	    nocr_check(cond, #cond, __VA_ARGS__)
#define cr_assert_fail(...)	    nocr_fail(__FILE__, __LINE__, "cr_assert_fail", " " __VA_ARGS__)
#define cr_assert_eq(a, b, ...)	    nocr_check((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...)    nocr_check((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...)	    nocr_check((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...)    nocr_check((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...)	    nocr_check((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...)    nocr_check((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...)	    nocr_check((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...)  nocr_check((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) nocr_check(!strcmp((a), (b)), #a " equals " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...)                                                             \
	nocr_check(!memcmp((a), (b), (n)), #a " equals " #b " over " #n " bytes", __VA_ARGS__)
#define cr_skip_test(...) nocr_skip(" " __VA_ARGS__)
#define cr_log_info(...)  nocr_log(__VA_ARGS__)

#endif /* NOCR_CRITERION_H */
