/*
 * fixclock.c: an LD_PRELOAD library that pins CLOCK_MONOTONIC to the value
 * in E2E_FIXED_MONO_NS. Loaded before the shim, it makes the shim's log
 * name (tangle.<pid>.<start_mono_ns>.tlog) predictable, so a test can
 * plant a file or symlink at exactly that name before the program starts
 * and check that the shim neither follows nor overwrites it. Every other
 * clock is passed through. Built at run time by test_badinput.c.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    const char *fixed = id == CLOCK_MONOTONIC ? getenv("E2E_FIXED_MONO_NS")
                                              : NULL;
    if (fixed) {
        unsigned long long ns = strtoull(fixed, NULL, 10);
        ts->tv_sec = (time_t)(ns / 1000000000ull);
        ts->tv_nsec = (long)(ns % 1000000000ull);
        return 0;
    }
    if (!real)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
                                                            "clock_gettime");
    return real(id, ts);
}
