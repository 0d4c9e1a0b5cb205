/*
 * tests/test_pool.c: worker pool: every job runs exactly once, submit
 * blocks on a full queue and try_submit refuses, submit_ctx and
 * submit_timeout give up, shutdown drains the queue, joins the workers,
 * turns blocked submitters away, and refuses to run from a worker.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tangle/hooks.h"
#include "tangle/tangle.h"

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void bump(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
}

Test(pool, every_job_runs_exactly_once, .timeout = 60)
{
    enum { N = 20000 };
    _Atomic int *hits = calloc(N, sizeof *hits);
    tg_pool_t *p;
    cr_assert_eq(tg_pool_new(&p, 4, 16, "work"), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_pool_submit(p, bump, &hits[i]), 0);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&hits[i]), 1, "job %d ran %d times", i,
                     atomic_load(&hits[i]));
    free(hits);
}

Test(pool, an_unbuffered_pool_hands_each_job_to_an_idle_worker, .timeout = 60)
{
    enum { N = 2000 };
    _Atomic int count = 0;
    tg_pool_t *p;
    cr_assert_eq(tg_pool_new(&p, 2, 0, NULL), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_pool_submit(p, bump, &count), 0);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(atomic_load(&count), N);
}

Test(pool, bad_arguments_are_EINVAL)
{
    tg_pool_t *p;
    cr_assert_eq(tg_pool_new(&p, 0, 4, NULL), -EINVAL);
    cr_assert_eq(tg_pool_new(NULL, 1, 4, NULL), -EINVAL);
    cr_assert_eq(tg_pool_new(&p, 1, 4, NULL), 0);
    cr_assert_eq(tg_pool_submit(p, NULL, NULL), -EINVAL);
    cr_assert_eq(tg_pool_submit(NULL, bump, NULL), -EINVAL);
    cr_assert_eq(tg_pool_shutdown(p), 0);
}

/* ---- names ---- */

static char names[2][32];

struct meet {
    sem_t arrived;
    sem_t leave;
};

static void wait_sem(sem_t *s)
{
    while (sem_wait(s) != 0)
        ;
}

/* Files the worker's name under its index, then stays until told, so
 * that the next job has to go to the other worker. */
static void record_name(void *arg)
{
    struct meet *m = arg;
    char buf[32] = "";
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    const char *dash = strrchr(buf, '-');
    int i = dash ? atoi(dash + 1) : -1;
    if (i >= 0 && i < 2)
        strcpy(names[i], buf);
    sem_post(&m->arrived);
    wait_sem(&m->leave);
}

Test(pool, workers_are_named_name_dash_index, .timeout = 30)
{
    tg_pool_t *p;
    struct meet m;
    sem_init(&m.arrived, 0, 0);
    sem_init(&m.leave, 0, 0);
    cr_assert_eq(tg_pool_new(&p, 2, 0, "web"), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(tg_pool_submit(p, record_name, &m), 0);
    wait_sem(&m.arrived);
    wait_sem(&m.arrived);
    sem_post(&m.leave);
    sem_post(&m.leave);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_str_eq(names[0], "web-0");
    cr_assert_str_eq(names[1], "web-1");
    sem_destroy(&m.arrived);
    sem_destroy(&m.leave);
}

/* ---- a job that holds its worker until the test lets it go ---- */

struct hold {
    sem_t running;
    sem_t release;
    _Atomic int done;
};

static void held_job(void *arg)
{
    struct hold *h = arg;
    sem_post(&h->running);
    wait_sem(&h->release);
    atomic_fetch_add(&h->done, 1);
}

static void hold_init(struct hold *h)
{
    sem_init(&h->running, 0, 0);
    sem_init(&h->release, 0, 0);
    atomic_store(&h->done, 0);
}

/* One worker stuck in a held job and a queue of cap 2 filled: the pool is
 * full. */
static tg_pool_t *full_pool(struct hold *h, _Atomic int *count)
{
    tg_pool_t *p;
    hold_init(h);
    cr_assert_eq(tg_pool_new(&p, 1, 2, "full"), 0);
    cr_assert_eq(tg_pool_submit(p, held_job, h), 0);
    wait_sem(&h->running);
    cr_assert_eq(tg_pool_submit(p, bump, count), 0);
    cr_assert_eq(tg_pool_submit(p, bump, count), 0);
    return p;
}

struct submitter {
    tg_pool_t *p;
    _Atomic int *count;
    tg_ctx_t *ctx;
    _Atomic int returned;
    int rc;
};

static void *submit_blocking(void *arg)
{
    struct submitter *s = arg;
    s->rc = tg_pool_submit(s->p, bump, s->count);
    atomic_store(&s->returned, 1);
    return NULL;
}

static void *submit_with_ctx(void *arg)
{
    struct submitter *s = arg;
    s->rc = tg_pool_submit_ctx(s->p, bump, s->count, s->ctx);
    atomic_store(&s->returned, 1);
    return NULL;
}

static _Atomic int submit_parks, submit_wakes, shutdown_parks, pool_creates,
    pool_destroys;

static void rec_park(const struct tg_probe *p)
{
    if (p->kind != TG_OBJ_POOL)
        return;
    if (p->op == TG_PROBE_POOL_SUBMIT)
        atomic_fetch_add(&submit_parks, 1);
    if (p->op == TG_PROBE_POOL_SHUTDOWN)
        atomic_fetch_add(&shutdown_parks, 1);
}

static void rec_wake(const struct tg_probe *p)
{
    if (p->kind == TG_OBJ_POOL && p->op == TG_PROBE_POOL_SUBMIT)
        atomic_fetch_add(&submit_wakes, 1);
}

static void rec_create(int kind, const void *obj, const struct tg_obj_info *i)
{
    if (kind == TG_OBJ_POOL) {
        cr_assert_eq(i->workers, 1);
        cr_assert_eq(i->cap, 2);
        atomic_fetch_add(&pool_creates, 1);
    }
}

static void rec_destroy(int kind, const void *obj)
{
    if (kind == TG_OBJ_POOL)
        atomic_fetch_add(&pool_destroys, 1);
}

static const struct tg_hooks recorder = {
    .version = TG_HOOKS_VERSION, .create = rec_create,
    .destroy = rec_destroy, .park = rec_park, .wake = rec_wake,
};

Test(pool, submit_blocks_while_the_queue_is_full, .timeout = 30)
{
    struct hold h;
    _Atomic int count = 0;
    pthread_t th;
    tg_hooks_install(&recorder);
    tg_pool_t *p = full_pool(&h, &count);
    cr_assert_eq(atomic_load(&pool_creates), 1);
    cr_assert_eq(tg_pool_try_submit(p, bump, &count), -EAGAIN);
    struct submitter s = { .p = p, .count = &count };
    pthread_create(&th, NULL, submit_blocking, &s);
    while (atomic_load(&submit_parks) == 0)
        sleep_ms(1);
    sleep_ms(20);
    cr_assert_eq(atomic_load(&s.returned), 0, "submit returned while full");
    sem_post(&h.release);
    pthread_join(th, NULL);
    cr_assert_eq(s.rc, 0);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(atomic_load(&count), 3);
    cr_assert_eq(atomic_load(&submit_parks), 1);
    cr_assert_eq(atomic_load(&submit_wakes), 1);
    cr_assert_eq(atomic_load(&shutdown_parks), 1);
    cr_assert_eq(atomic_load(&pool_destroys), 1);
    tg_hooks_install(NULL);
}

Test(pool, submit_timeout_gives_up_with_ETIMEDOUT_never_early, .timeout = 30)
{
    struct hold h;
    _Atomic int count = 0;
    tg_pool_t *p = full_pool(&h, &count);
    int64_t start = tg_now();
    cr_assert_eq(tg_pool_submit_timeout(p, bump, &count, 30 * TG_MSEC),
                 -ETIMEDOUT);
    cr_assert_geq(tg_now() - start, 30 * TG_MSEC, "gave up early");
    cr_assert_eq(tg_pool_submit_timeout(p, bump, &count, 0), -ETIMEDOUT);
    sem_post(&h.release);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(atomic_load(&count), 2, "the refused jobs did not run");
}

Test(pool, submit_ctx_gives_up_when_another_thread_cancels, .timeout = 30)
{
    struct hold h;
    _Atomic int count = 0;
    pthread_t th;
    tg_ctx_t *ctx;
    tg_pool_t *p = full_pool(&h, &count);
    cr_assert_eq(tg_ctx_with_cancel(NULL, &ctx), 0);
    struct submitter s = { .p = p, .count = &count, .ctx = ctx };
    pthread_create(&th, NULL, submit_with_ctx, &s);
    sleep_ms(30);
    cr_assert_eq(atomic_load(&s.returned), 0, "gave up before the cancel");
    tg_ctx_cancel_cause(ctx, -EIO);
    pthread_join(th, NULL);
    cr_assert_eq(s.rc, -ECANCELED);
    sem_post(&h.release);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(atomic_load(&count), 2);
    tg_ctx_release(ctx);
}

Test(pool, submit_ctx_gives_up_at_the_contexts_deadline, .timeout = 30)
{
    struct hold h;
    _Atomic int count = 0;
    tg_ctx_t *ctx;
    int64_t d;
    tg_pool_t *p = full_pool(&h, &count);
    cr_assert_eq(tg_ctx_with_timeout(NULL, 30 * TG_MSEC, &ctx), 0);
    cr_assert_eq(tg_ctx_deadline(ctx, &d), 0);
    /* Nobody else watches the context: the select must wake by itself. */
    cr_assert_eq(tg_pool_submit_ctx(p, bump, &count, ctx), -ETIMEDOUT);
    cr_assert_geq(tg_now(), d, "gave up before the deadline");
    sem_post(&h.release);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(atomic_load(&count), 2);
    tg_ctx_release(ctx);
}

Test(pool, submit_ctx_with_a_done_context_submits_nothing, .timeout = 30)
{
    _Atomic int count = 0;
    tg_ctx_t *ctx;
    tg_pool_t *p;
    cr_assert_eq(tg_pool_new(&p, 1, 8, NULL), 0);
    cr_assert_eq(tg_ctx_with_cancel(NULL, &ctx), 0);
    cr_assert_eq(tg_pool_submit_ctx(p, bump, &count, ctx), 0, "room: queued");
    tg_ctx_cancel(ctx);
    cr_assert_eq(tg_pool_submit_ctx(p, bump, &count, ctx), -ECANCELED);
    cr_assert_eq(tg_pool_submit_ctx(p, bump, &count, NULL), 0,
                 "NULL is background");
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(atomic_load(&count), 2);
    tg_ctx_release(ctx);
}

/* ---- shutdown ---- */

static void slow_bump(void *arg)
{
    sleep_ms(1);
    atomic_fetch_add((_Atomic int *)arg, 1);
}

Test(pool, shutdown_runs_every_queued_job_and_joins_the_workers,
     .timeout = 60)
{
    enum { N = 200 };
    _Atomic int count = 0;
    tg_pool_t *p;
    cr_assert_eq(tg_pool_new(&p, 2, N, "drain"), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_pool_submit(p, slow_bump, &count), 0);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    /* Joined: no job can still be running, so the count is final. */
    cr_assert_eq(atomic_load(&count), N);
}

struct shutter {
    tg_pool_t *p;
    int rc;
};

static void *shutdown_thread(void *arg)
{
    struct shutter *s = arg;
    s->rc = tg_pool_shutdown(s->p);
    return NULL;
}

Test(pool, shutdown_turns_a_blocked_submitter_away_with_EPIPE, .timeout = 30)
{
    struct hold h;
    _Atomic int count = 0;
    pthread_t sub, shut;
    tg_pool_t *p = full_pool(&h, &count);
    struct submitter s = { .p = p, .count = &count };
    pthread_create(&sub, NULL, submit_blocking, &s);
    sleep_ms(30);
    cr_assert_eq(atomic_load(&s.returned), 0);
    struct shutter sh = { p, -1 };
    pthread_create(&shut, NULL, shutdown_thread, &sh);
    /* The worker is still held, so shutdown cannot finish; but the
     * submitter is told at once. */
    pthread_join(sub, NULL);
    cr_assert_eq(s.rc, -EPIPE);
    sem_post(&h.release);
    pthread_join(shut, NULL);
    cr_assert_eq(sh.rc, 0);
    cr_assert_eq(atomic_load(&h.done), 1);
    cr_assert_eq(atomic_load(&count), 2, "the queued jobs ran");
}

struct self_shut {
    tg_pool_t *p;
    _Atomic int rc;
    sem_t done;
};

static void shutdown_from_job(void *arg)
{
    struct self_shut *s = arg;
    atomic_store(&s->rc, tg_pool_shutdown(s->p));
    sem_post(&s->done);
}

Test(pool, shutdown_from_a_worker_is_EDEADLK, .timeout = 30)
{
    tg_pool_t *p;
    struct self_shut s;
    sem_init(&s.done, 0, 0);
    atomic_store(&s.rc, 1);
    cr_assert_eq(tg_pool_new(&p, 1, 1, NULL), 0);
    s.p = p;
    cr_assert_eq(tg_pool_submit(p, shutdown_from_job, &s), 0);
    wait_sem(&s.done);
    cr_assert_eq(atomic_load(&s.rc), -EDEADLK);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    sem_destroy(&s.done);
}
