/*
 * tests/tsan_runner/criterion/criterion.h: a small stand-in for Criterion,
 * used only by `make -C tests check-tsan`. Criterion cannot start under
 * -fsanitize=thread: its sandbox library maps an arena at fixed addresses
 * that ThreadSanitizer's mmap interceptor refuses ("Could not initialize
 * inheritable arena", Criterion issue #274). This header accepts the same
 * test files unchanged: Test() registers each test from a constructor, and
 * the main() below runs every test in its own forked child (the runner is
 * single-threaded when it forks, which TSan supports) under the test's
 * timeout, then prints a Criterion-style synthesis line. Only the parts of
 * Criterion the runtime tests use are provided. Included with -isystem, as
 * the real header is, so its macros raise no warnings in test code.
 */
#ifndef TANGLE_TSAN_RUNNER_CRITERION_H
#define TANGLE_TSAN_RUNNER_CRITERION_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct tgr_opts {
    int timeout;          /* seconds; 0: none */
    bool disabled;
    const char *description;
    void (*init)(void);
    void (*fini)(void);
};

struct tgr_test {
    const char *suite, *name;
    void (*fn)(void);
    struct tgr_opts opts;
    struct tgr_test *next;
};

static struct tgr_test *tgr_tests;

#define Test(suite, name, ...)                                              \
    static void suite##__##name(void);                                      \
    __attribute__((constructor)) static void suite##__##name##__reg(void)   \
    {                                                                       \
        static struct tgr_test t = { #suite, #name, suite##__##name,        \
                                     { __VA_ARGS__ }, NULL };               \
        t.next = tgr_tests;                                                 \
        tgr_tests = &t;                                                     \
    }                                                                       \
    static void suite##__##name(void)

static void tgr_fail(const char *file, int line, const char *expr,
                     const char *fmt, ...)
{
    const char *base = strrchr(file, '/');
    fprintf(stderr, "[----] %s:%d: Assertion Failed: %s\n",
            base ? base + 1 : file, line, expr);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "[----]   ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    fflush(stderr);
    _exit(1);
}

#define tgr_check(cond, expr, ...)                                          \
    do {                                                                    \
        if (!(cond))                                                        \
            tgr_fail(__FILE__, __LINE__, expr, "" __VA_ARGS__);             \
    } while (0)

#define cr_assert(c, ...) tgr_check((c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...) tgr_check(!(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) tgr_check((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) tgr_check((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) tgr_check((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) tgr_check((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) tgr_check((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) tgr_check((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) tgr_check((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) tgr_check((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) \
    tgr_check(strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)

static int tgr_cmp(const void *a, const void *b)
{
    const struct tgr_test *x = *(struct tgr_test *const *)a;
    const struct tgr_test *y = *(struct tgr_test *const *)b;
    int c = strcmp(x->suite, y->suite);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    size_t n = 0;
    for (struct tgr_test *t = tgr_tests; t; t = t->next)
        n++;
    struct tgr_test **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return 2;
    n = 0;
    for (struct tgr_test *t = tgr_tests; t; t = t->next)
        v[n++] = t;
    qsort(v, n, sizeof *v, tgr_cmp);

    int passed = 0, failed = 0, crashed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        struct tgr_test *t = v[i];
        if (t->opts.disabled) {
            skipped++;
            continue;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            if (t->opts.timeout)
                alarm((unsigned)t->opts.timeout);
            if (t->opts.init)
                t->opts.init();
            t->fn();
            if (t->opts.fini)
                t->opts.fini();
            exit(0);   /* not _exit: let TSan's exit-time checks run */
        }
        int st;
        while (waitpid(pid, &st, 0) < 0)
            ;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            passed++;
        } else if (WIFEXITED(st)) {
            failed++;
            fprintf(stderr, "[FAIL] %s::%s (exit %d)\n", t->suite, t->name,
                    WEXITSTATUS(st));
        } else {
            crashed++;
            fprintf(stderr, "[FAIL] %s::%s: %s\n", t->suite, t->name,
                    WTERMSIG(st) == SIGALRM ? "timed out"
                                            : strsignal(WTERMSIG(st)));
        }
    }
    fprintf(stderr,
            "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | "
            "Crashing: %d | Skipped: %d\n",
            passed + failed + crashed, passed, failed, crashed, skipped);
    free(v);
    return failed + crashed ? 1 : 0;
}

#endif
