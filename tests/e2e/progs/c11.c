/*
 * c11.c: the C11 thread API (<threads.h>) under the shim. glibc runs its
 * pthread functions internally for thrd_*, mtx_*, cnd_* and call_once,
 * where no interposer sees them, so the shim wraps the C11 names too; each
 * mode checks one thing a pthread program would be checked for: a clean
 * run that uses all of them, a thread left blocked in mtx_lock or
 * cnd_wait, a thread never joined, and a lock-order inversion.
 */
#include <threads.h>

#include "progs.h"

static mtx_t A, B, mu;
static cnd_t cv;
static _Atomic pid_t worker_tid;

/* ---- clean ---- */

static long counter;
static int ready, once_runs;
static long handed;
static once_flag once = ONCE_FLAG_INIT;

static void init_once(void)
{
    once_runs++;
}

static int adder(void *arg)
{
    call_once(&once, init_once);
    for (int i = 0; i < 1000; i++) {
        mtx_lock(&mu);
        counter++;
        mtx_unlock(&mu);
    }
    return (int)(intptr_t)arg;
}

static int producer(void *arg)
{
    (void)arg;
    mtx_lock(&mu);
    handed = 42;
    ready = 1;
    cnd_signal(&cv);
    mtx_unlock(&mu);
    thrd_exit(7);
}

static int quick(void *arg)
{
    (void)arg;
    atomic_store(&worker_tid, prog_tid());
    return 0;
}

static int mode_clean(int argc, char **argv)
{
    (void)argc; (void)argv;
    if (mtx_init(&mu, mtx_plain) != thrd_success || cnd_init(&cv) != thrd_success)
        return 3;
    thrd_t t[4], p, d;
    for (int i = 0; i < 4; i++)
        if (thrd_create(&t[i], adder, (void *)(intptr_t)(i + 1)) != thrd_success)
            return 4;
    if (thrd_create(&p, producer, NULL) != thrd_success)
        return 4;
    mtx_lock(&mu);
    while (!ready)
        cnd_wait(&cv, &mu);
    long got = handed;
    mtx_unlock(&mu);
    int sum = 0, res;
    for (int i = 0; i < 4; i++) {
        thrd_join(t[i], &res);
        sum += res;
    }
    thrd_join(p, &res);
    /* A detached thread that ends is no leak. */
    if (thrd_create(&d, quick, NULL) != thrd_success || thrd_detach(d) != thrd_success)
        return 4;
    prog_wait_gone(prog_wait_tid(&worker_tid));
    /* A recursive mutex taken twice, and a timed lock that gets it. */
    mtx_t r;
    mtx_init(&r, mtx_plain | mtx_recursive);
    mtx_lock(&r);
    mtx_lock(&r);
    mtx_unlock(&r);
    mtx_unlock(&r);
    mtx_destroy(&r);
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    ts.tv_sec += 5;
    if (mtx_timedlock(&mu, &ts) != thrd_success || mtx_trylock(&mu) != thrd_busy)
        return 5;
    mtx_unlock(&mu);
    cnd_destroy(&cv);
    mtx_destroy(&mu);
    printf("counter=%ld handed=%ld sum=%d exit=%d once=%d\n", counter, got, sum, res,
           once_runs);
    return counter == 4000 && got == 42 && sum == 10 && res == 7 && once_runs == 1 ? 0 : 6;
}

/* ---- leaks ---- */

static int mtx_waiter(void *arg)
{
    (void)arg;
    atomic_store(&worker_tid, prog_tid());
    mtx_lock(&mu); /* LINE:c11_leak_mtx */
    mtx_unlock(&mu);
    return 0;
}

static int mode_leak_mtx(int argc, char **argv)
{
    (void)argc; (void)argv;
    thrd_t t;
    mtx_init(&mu, mtx_plain);
    mtx_lock(&mu);
    thrd_create(&t, mtx_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static int cnd_waiter(void *arg)
{
    (void)arg;
    mtx_lock(&mu);
    atomic_store(&worker_tid, prog_tid());
    cnd_wait(&cv, &mu); /* LINE:c11_leak_cnd */
    mtx_unlock(&mu);
    return 0;
}

static int mode_leak_cnd(int argc, char **argv)
{
    (void)argc; (void)argv;
    thrd_t t;
    mtx_init(&mu, mtx_plain);
    cnd_init(&cv);
    thrd_create(&t, cnd_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static int ender(void *arg)
{
    (void)arg;
    atomic_store(&worker_tid, prog_tid());
    return 0;
}

/* A thread that ended, never joined nor detached. */
static int mode_unjoined(int argc, char **argv)
{
    (void)argc; (void)argv;
    thrd_t t;
    thrd_create(&t, ender, NULL); /* LINE:c11_unjoined */
    prog_wait_gone(prog_wait_tid(&worker_tid));
    return 0;
}

/* ---- lock order ---- */

static int ab(void *arg)
{
    (void)arg;
    mtx_lock(&A); /* LINE:c11_ab_a */
    mtx_lock(&B); /* LINE:c11_ab_b */
    mtx_unlock(&B);
    mtx_unlock(&A);
    return 0;
}

static int ba(void *arg)
{
    (void)arg;
    mtx_lock(&B); /* LINE:c11_ba_b */
    mtx_lock(&A); /* LINE:c11_ba_a */
    mtx_unlock(&A);
    mtx_unlock(&B);
    return 0;
}

/* A then B in one thread, later B then A in another (joined between, so
 * the run never hangs). */
static int mode_abba(int argc, char **argv)
{
    (void)argc; (void)argv;
    mtx_init(&A, mtx_plain);
    mtx_init(&B, mtx_plain);
    printf("A=%p B=%p\n", (void *)&A, (void *)&B);
    thrd_t t;
    thrd_create(&t, ab, NULL);
    thrd_join(t, NULL);
    thrd_create(&t, ba, NULL);
    thrd_join(t, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct prog_mode modes[] = {
        { "clean", mode_clean },
        { "leak_mtx", mode_leak_mtx },
        { "leak_cnd", mode_leak_cnd },
        { "unjoined", mode_unjoined },
        { "abba", mode_abba },
        { NULL, NULL },
    };
    return prog_main(modes, argc, argv);
}
