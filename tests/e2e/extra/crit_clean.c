/*
 * crit_clean.c: a small, correct Criterion test suite using threads,
 * channels and a worker pool, as a C project's own tests would. Run under
 * `tangle run`, it must give no finding: Criterion's runner threads and
 * the forked per-test workers are not the program's leaks. Not built by
 * the Makefile (it needs -lcriterion, which test programs do not link):
 * test_clean.c compiles it at run time.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <tangle/tangle.h>

static void *echo(void *arg)
{
    tg_chan_t *ch = arg;
    int v;
    bool ok;
    while (tg_chan_recv(ch, &v, &ok) == 0 && ok)
        ;
    return NULL;
}

Test(crit_clean, channel_round_trip_with_joined_thread)
{
    tg_chan_t *ch;
    pthread_t t;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    pthread_create(&t, NULL, echo, ch);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(tg_chan_send(ch, &i), 0);
    tg_chan_close(ch);
    pthread_join(t, NULL);
    cr_assert_eq(tg_chan_free(ch), 0);
}

static atomic_int jobs_done;

static void job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&jobs_done, 1);
}

Test(crit_clean, pool_runs_every_job_before_shutdown_returns)
{
    tg_pool_t *p;
    cr_assert_eq(tg_pool_new(&p, 2, 4, "crit"), 0);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(tg_pool_submit(p, job, NULL), 0);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(atomic_load(&jobs_done), 20);
}

Test(crit_clean, mutex_protects_a_counter)
{
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static int counter;
    pthread_mutex_lock(&m);
    counter++;
    pthread_mutex_unlock(&m);
    cr_assert_eq(counter, 1);
}
