/*
 * runtime/futex.h: parking and waking on a 32-bit word, the one blocking
 * primitive the runtime uses (it never calls the pthread lock API, so the
 * shim sees channel semantics only through the probes).
 */
#ifndef TANGLE_RUNTIME_FUTEX_H
#define TANGLE_RUNTIME_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *word == expect, until woken or the absolute CLOCK_MONOTONIC
 * deadline_ns passes (INT64_MAX: no deadline). Returns 0 when woken (or
 * spuriously), -EAGAIN if *word != expect, -ETIMEDOUT, -EINTR. Callers
 * re-check their condition in a loop. */
static inline int tg__futex_wait(_Atomic uint32_t *word, uint32_t expect,
                                 int64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    int op = FUTEX_WAIT_PRIVATE;
    if (deadline_ns != INT64_MAX) {
        if (deadline_ns < 0)
            deadline_ns = 0;
        ts.tv_sec = deadline_ns / 1000000000;
        ts.tv_nsec = deadline_ns % 1000000000;
        tsp = &ts;
        /* FUTEX_WAIT_BITSET takes an absolute time, so a spurious wake-up
         * never stretches the total wait. */
        op = FUTEX_WAIT_BITSET_PRIVATE;
    }
    long r = syscall(SYS_futex, (uint32_t *)word, op, expect, tsp, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    return r == 0 ? 0 : -errno;
}

/* Wakes up to n threads sleeping on word (INT32_MAX: all). */
static inline void tg__futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#endif
