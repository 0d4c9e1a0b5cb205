/*
 * bench/bench.h: the timing harness every C benchmark program shares, and
 * that bench/go/chan_bench.go mirrors line for line so C and Go numbers are
 * taken the same way. A benchmark is a function that performs n operations
 * and returns the nanoseconds they took (so it can leave its own setup out
 * when that matters). The harness first grows n until one run lasts at
 * least BENCH_MIN_MS (default 300 ms), then repeats BENCH_REPS times
 * (default 5) at that n and reports the median, which shrugs off the odd
 * run disturbed by other work on a shared machine. Results go to stdout as
 * `RESULT <name> <ns_per_op> <n> <reps>` lines for bench/run.sh to parse;
 * everything else a program prints is commentary.
 */
#ifndef TANGLE_BENCH_H
#define TANGLE_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_REPS 31

typedef int64_t (*bench_fn)(uint64_t n);

struct bench_def {
    const char *name;
    bench_fn fn;
    const char *what;     /* one line for --list */
};

/* Monotonic time in nanoseconds. */
static inline int64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A positive integer from the environment, or def when unset; a malformed
 * value is named on stderr and the default applies. */
static inline long bench_env(const char *var, long def)
{
    const char *s = getenv(var);
    if (!s || !*s)
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v <= 0) {
        fprintf(stderr, "bench: ignoring %s='%s': not a positive integer\n",
                var, s);
        return def;
    }
    return v;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs one benchmark as the file comment describes and prints its RESULT
 * line. Returns the median ns per operation. */
static inline double bench_run(const struct bench_def *b)
{
    int64_t min_ns = bench_env("BENCH_MIN_MS", 300) * 1000000;
    long reps = bench_env("BENCH_REPS", 5);
    if (reps > BENCH_MAX_REPS)
        reps = BENCH_MAX_REPS;

    /* Calibrate: the next n aims 20% past the minimum, but never grows by
     * more than 100x at once (the first runs are too short to trust). */
    uint64_t n = 1;
    for (;;) {
        int64_t t = b->fn(n);
        if (t >= min_ns)
            break;
        if (t < 1)
            t = 1;
        double grow = 1.2 * (double)min_ns / (double)t;
        if (grow > 100)
            grow = 100;
        if (grow < 2)
            grow = 2;
        n = (uint64_t)((double)n * grow);
    }

    double per_op[BENCH_MAX_REPS];
    for (long r = 0; r < reps; r++)
        per_op[r] = (double)b->fn(n) / (double)n;
    qsort(per_op, (size_t)reps, sizeof per_op[0], bench_cmp_double);
    double med = reps % 2 ? per_op[reps / 2]
                          : (per_op[reps / 2 - 1] + per_op[reps / 2]) / 2;
    printf("RESULT %s %.2f %llu %ld\n", b->name, med, (unsigned long long)n,
           reps);
    fflush(stdout);
    return med;
}

/* main() of a benchmark program: `prog` runs every benchmark, `prog NAME...`
 * the named ones, `prog --list` lists them. Returns the exit status. */
static inline int bench_main(const struct bench_def *defs, size_t ndefs,
                             int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ndefs; i++)
            printf("%-16s %s\n", defs[i].name, defs[i].what);
        return 0;
    }
    if (argc == 1) {
        for (size_t i = 0; i < ndefs; i++)
            bench_run(&defs[i]);
        return 0;
    }
    for (int a = 1; a < argc; a++) {
        size_t i;
        for (i = 0; i < ndefs; i++)
            if (strcmp(argv[a], defs[i].name) == 0)
                break;
        if (i == ndefs) {
            fprintf(stderr, "bench: unknown benchmark '%s' (--list)\n",
                    argv[a]);
            return 64;
        }
        bench_run(&defs[i]);
    }
    return 0;
}

#endif
