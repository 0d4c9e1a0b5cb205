/*
 * tests/parks.h: helpers shared by the runtime's channel tests. A test that
 * needs a thread to be parked before it acts counts park probes (installed
 * with count_parks) and waits for them, instead of sleeping and hoping: so
 * the tests do not depend on timing.
 */
#ifndef TANGLE_TESTS_PARKS_H
#define TANGLE_TESTS_PARKS_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "internal.h"
#include "tangle/tangle.h"

static _Atomic int parks;

static void count_park(const struct tg_probe *p)
{
    (void)p;
    atomic_fetch_add(&parks, 1);
}

static const struct tg_hooks park_counter = {
    .version = TG_HOOKS_VERSION,
    .park = count_park,
};

/* Installs the counter and starts counting from zero. */
static inline void count_parks(void)
{
    atomic_store(&parks, 0);
    tg_hooks_install(&park_counter);
}

/* Waits until n threads have parked (enqueued themselves and are about to
 * sleep) since count_parks(). */
static inline void wait_parks(int n)
{
    while (atomic_load(&parks) < n)
        usleep(1000);
}

static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

#endif
