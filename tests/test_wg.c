/*
 * tests/test_wg.c: WaitGroup: the counter's bounds (-ERANGE and unchanged),
 * wait returning only once every task is done, every waiter waking,
 * reuse across rounds, timeouts that do not fire early, a WaitGroup on the
 * waiter's stack gone as soon as wait returns, and the probes' generations.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "tangle/hooks.h"
#include "tangle/tangle.h"

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

Test(wg, a_fresh_waitgroup_counts_zero_and_wait_returns_at_once)
{
    tg_wg_t a = TG_WG_INIT, b;
    tg_wg_init(&b);
    cr_assert_eq(tg_wg_count(&a), 0);
    cr_assert_eq(tg_wg_wait(&a), 0);
    cr_assert_eq(tg_wg_wait(&b), 0);
    cr_assert_eq(tg_wg_wait_timeout(&b, 0), 0);
}

Test(wg, going_negative_is_ERANGE_and_leaves_the_counter_unchanged)
{
    tg_wg_t wg = TG_WG_INIT;
    cr_assert_eq(tg_wg_done(&wg), -ERANGE);
    cr_assert_eq(tg_wg_count(&wg), 0);
    cr_assert_eq(tg_wg_add(&wg, 3), 0);
    cr_assert_eq(tg_wg_add(&wg, -4), -ERANGE);
    cr_assert_eq(tg_wg_count(&wg), 3);
    cr_assert_eq(tg_wg_add(&wg, -3), 0);
    cr_assert_eq(tg_wg_count(&wg), 0);
    cr_assert_eq(tg_wg_done(&wg), -ERANGE);
}

Test(wg, overflowing_is_ERANGE_and_leaves_the_counter_unchanged)
{
    tg_wg_t wg = TG_WG_INIT;
    cr_assert_eq(tg_wg_add(&wg, INT32_MAX), 0);
    cr_assert_eq(tg_wg_add(&wg, 1), -ERANGE);
    cr_assert_eq(tg_wg_count(&wg), INT32_MAX);
    cr_assert_eq(tg_wg_add(&wg, -INT32_MAX), 0);
    cr_assert_eq(tg_wg_count(&wg), 0);
}

struct worker {
    tg_wg_t *wg;
    _Atomic int *finished;
    int delay_ms;
    _Atomic int *after;           /* if set: first wait until it is > 0 */
};

static void *work_then_done(void *arg)
{
    struct worker *w = arg;
    while (w->after && atomic_load(w->after) == 0)
        sleep_ms(1);
    sleep_ms(w->delay_ms);
    atomic_fetch_add(w->finished, 1);
    tg_wg_done(w->wg);
    return NULL;
}

Test(wg, wait_returns_only_once_every_task_is_done, .timeout = 30)
{
    enum { N = 8 };
    tg_wg_t wg = TG_WG_INIT;
    _Atomic int finished = 0;
    pthread_t th[N];
    struct worker w[N];
    cr_assert_eq(tg_wg_add(&wg, N), 0);
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){ &wg, &finished, 5 * i, NULL };
        pthread_create(&th[i], NULL, work_then_done, &w[i]);
    }
    cr_assert_eq(tg_wg_wait(&wg), 0);
    cr_assert_eq(atomic_load(&finished), N);
    cr_assert_eq(tg_wg_count(&wg), 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
}

struct waiter {
    tg_wg_t *wg;
    _Atomic int *returned;
    int rc;
};

static void *wait_on(void *arg)
{
    struct waiter *w = arg;
    w->rc = tg_wg_wait(w->wg);
    atomic_fetch_add(w->returned, 1);
    return NULL;
}

Test(wg, many_waiters_all_wake_when_the_counter_reaches_zero, .timeout = 30)
{
    enum { N = 16 };
    tg_wg_t wg = TG_WG_INIT;
    _Atomic int returned = 0;
    pthread_t th[N];
    struct waiter w[N];
    cr_assert_eq(tg_wg_add(&wg, 2), 0);
    for (int i = 0; i < N; i++) {
        w[i] = (struct waiter){ &wg, &returned, -1 };
        pthread_create(&th[i], NULL, wait_on, &w[i]);
    }
    sleep_ms(50);
    cr_assert_eq(atomic_load(&returned), 0, "a waiter returned early");
    cr_assert_eq(tg_wg_done(&wg), 0);
    sleep_ms(20);
    cr_assert_eq(atomic_load(&returned), 0, "returned with the counter at 1");
    cr_assert_eq(tg_wg_done(&wg), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].rc, 0);
    }
    cr_assert_eq(atomic_load(&returned), N);
}

struct round_worker {
    tg_wg_t *wg;
    _Atomic int *go;
    _Atomic long *sum;
    int rounds;
};

/* Each round: wait for the round to be announced, do the work, done. */
static void *round_worker(void *arg)
{
    struct round_worker *r = arg;
    for (int i = 1; i <= r->rounds; i++) {
        while (atomic_load(r->go) < i)
            sched_yield();
        atomic_fetch_add(r->sum, 1);
        tg_wg_done(r->wg);
    }
    return NULL;
}

Test(wg, reusable_for_round_after_round, .timeout = 60)
{
    enum { T = 3, ROUNDS = 500 };
    tg_wg_t wg = TG_WG_INIT;
    _Atomic int go = 0;
    _Atomic long sum = 0;
    pthread_t th[T];
    struct round_worker r = { &wg, &go, &sum, ROUNDS };
    for (int t = 0; t < T; t++)
        pthread_create(&th[t], NULL, round_worker, &r);
    for (int i = 1; i <= ROUNDS; i++) {
        cr_assert_eq(tg_wg_add(&wg, T), 0);
        atomic_store(&go, i);
        cr_assert_eq(tg_wg_wait(&wg), 0);
        cr_assert_eq(atomic_load(&sum), (long)i * T, "round %d", i);
    }
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
}

Test(wg, wait_timeout_gives_up_with_ETIMEDOUT_and_never_early, .timeout = 30)
{
    static const int ms[] = { 1, 10, 40 };
    tg_wg_t wg = TG_WG_INIT;
    cr_assert_eq(tg_wg_add(&wg, 1), 0);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int64_t start = tg_now();
        cr_assert_eq(tg_wg_wait_timeout(&wg, ms[i] * TG_MSEC), -ETIMEDOUT);
        cr_assert_geq(tg_now() - start, ms[i] * TG_MSEC, "%d ms fired early",
                      ms[i]);
    }
    cr_assert_eq(tg_wg_count(&wg), 1);
    cr_assert_eq(tg_wg_done(&wg), 0);
    cr_assert_eq(tg_wg_wait_timeout(&wg, 10 * TG_MSEC), 0);
}

/* The WaitGroup lives on this function's stack and is gone the moment
 * wait returns, while the worker's done may still be finishing: TSan and
 * valgrind catch any write after that. */
static void *done_once(void *arg)
{
    tg_wg_done(arg);
    return NULL;
}

static void stack_round(void)
{
    tg_wg_t wg = TG_WG_INIT;
    pthread_t th;
    tg_wg_add(&wg, 1);
    pthread_create(&th, NULL, done_once, &wg);
    pthread_detach(th);
    tg_wg_wait(&wg);
}

Test(wg, a_waitgroup_on_the_stack_may_go_as_soon_as_wait_returns,
     .timeout = 120)
{
    for (int i = 0; i < 2000; i++) {
        stack_round();
        /* Reuse the same stack area right away. */
        volatile char scratch[256];
        for (size_t k = 0; k < sizeof scratch; k++)
            scratch[k] = (char)k;
        cr_assert_eq(scratch[255], (char)255);
    }
    /* Detached workers may still be exiting; give them time to go. */
    sleep_ms(50);
}

/* ---- probes ---- */

#define MAXREC 64
static struct tg_probe recs[MAXREC];
static _Atomic int nrecs, nparks, nwakes, ncreates;

static void rec_complete(const struct tg_probe *p)
{
    if (p->kind != TG_OBJ_WG)
        return;
    int i = atomic_fetch_add(&nrecs, 1);
    if (i < MAXREC)
        recs[i] = *p;
}

static void rec_park(const struct tg_probe *p)
{
    if (p->op == TG_PROBE_WG_WAIT)
        atomic_fetch_add(&nparks, 1);
}

static void rec_wake(const struct tg_probe *p)
{
    if (p->op == TG_PROBE_WG_WAIT)
        atomic_fetch_add(&nwakes, 1);
}

static void rec_create(int kind, const void *obj, const struct tg_obj_info *i)
{
    if (kind == TG_OBJ_WG)
        atomic_fetch_add(&ncreates, 1);
}

static const struct tg_hooks recorder = {
    .version = TG_HOOKS_VERSION, .create = rec_create, .park = rec_park,
    .wake = rec_wake, .complete = rec_complete,
};

static void expect_rec(int i, int op, int result, uint64_t seq, int64_t value,
                       int64_t value2)
{
    cr_assert_lt(i, atomic_load(&nrecs), "record %d missing", i);
    cr_assert_eq(recs[i].op, op, "record %d op", i);
    cr_assert_eq(recs[i].result, result, "record %d result", i);
    cr_assert_eq(recs[i].seq, seq, "record %d seq", i);
    if (op == TG_PROBE_WG_ADD) {
        cr_assert_eq(recs[i].value, value, "record %d value", i);
        cr_assert_eq(recs[i].value2, value2, "record %d value2", i);
    }
}

Test(wg, probes_report_deltas_counters_and_generations)
{
    tg_wg_t wg;
    tg_hooks_install(&recorder);
    tg_wg_init(&wg);
    cr_assert_eq(atomic_load(&ncreates), 1);
    tg_wg_wait(&wg);                 /* no round has ended: generation 0 */
    tg_wg_add(&wg, 2);               /* round 1 */
    tg_wg_done(&wg);
    tg_wg_done(&wg);                 /* ends round 1 */
    tg_wg_wait(&wg);
    tg_wg_add(&wg, 1);               /* round 2 */
    tg_wg_add(&wg, -2);              /* refused */
    tg_wg_done(&wg);
    tg_wg_wait(&wg);
    tg_hooks_install(NULL);
    cr_assert_eq(atomic_load(&nrecs), 9);
    expect_rec(0, TG_PROBE_WG_WAIT, 0, 0, 0, 0);
    expect_rec(1, TG_PROBE_WG_ADD, 0, 1, 2, 2);
    expect_rec(2, TG_PROBE_WG_ADD, 0, 1, -1, 1);
    expect_rec(3, TG_PROBE_WG_ADD, 0, 1, -1, 0);
    expect_rec(4, TG_PROBE_WG_WAIT, 0, 1, 0, 0);
    expect_rec(5, TG_PROBE_WG_ADD, 0, 2, 1, 1);
    expect_rec(6, TG_PROBE_WG_ADD, -ERANGE, 2, -2, 1);
    expect_rec(7, TG_PROBE_WG_ADD, 0, 2, -1, 0);
    expect_rec(8, TG_PROBE_WG_WAIT, 0, 2, 0, 0);
    cr_assert_eq(atomic_load(&nparks), 0, "nothing blocked");
}

Test(wg, a_blocked_wait_parks_and_wakes_once_with_the_rounds_generation,
     .timeout = 30)
{
    tg_wg_t wg = TG_WG_INIT;
    _Atomic int finished = 0;
    pthread_t th;
    tg_hooks_install(&recorder);
    tg_wg_add(&wg, 1);
    struct worker w = { &wg, &finished, 0, &nparks };
    pthread_create(&th, NULL, work_then_done, &w);
    cr_assert_eq(tg_wg_wait(&wg), 0);
    pthread_join(th, NULL);
    tg_hooks_install(NULL);
    cr_assert_eq(atomic_load(&nparks), 1);
    cr_assert_eq(atomic_load(&nwakes), 1);
    /* add (gen 1), done (gen 1), wait (gen 1), in some order */
    int n = atomic_load(&nrecs);
    cr_assert_eq(n, 3);
    for (int i = 0; i < n; i++)
        cr_assert_eq(recs[i].seq, 1, "record %d", i);
}
