/*
 * clean.c: correct concurrent programs, one per mode, that a leak and
 * deadlock detector must pass without a word: a worker pool, a channel
 * pipeline ended by close, contexts that are all released, and an errgroup
 * whose failing task cancels its siblings. Each mode checks its own result
 * and exits non-zero if the library misbehaved, so a test can tell "tangle
 * found nothing" from "nothing ran".
 */
#include <sys/single_threaded.h>

#include "progs.h"

static atomic_long pool_sum;

static void add_job(void *arg)
{
    atomic_fetch_add(&pool_sum, (long)(intptr_t)arg);
}

static int mode_pool(int argc, char **argv)
{
    tg_pool_t *p;
    if (tg_pool_new(&p, 4, 8, "clean") != 0)
        return 3;
    for (intptr_t i = 1; i <= 200; i++)
        if (tg_pool_submit(p, add_job, (void *)i) != 0)
            return 4;
    tg_pool_shutdown(p);
    printf("sum=%ld\n", atomic_load(&pool_sum));
    return atomic_load(&pool_sum) == 200 * 201 / 2 ? 0 : 5;
}

struct stage {
    tg_chan_t *in, *out;
};

static void *gen(void *arg)
{
    struct stage *s = arg;
    for (int i = 1; i <= 100; i++)
        tg_chan_send(s->out, &i);
    tg_chan_close(s->out);
    return NULL;
}

static void *square(void *arg)
{
    struct stage *s = arg;
    int v;
    bool ok;
    while (tg_chan_recv(s->in, &v, &ok) == 0 && ok) {
        v *= v;
        tg_chan_send(s->out, &v);
    }
    tg_chan_close(s->out);
    return NULL;
}

/* gen -> square -> main, each stage closing its output when done (the
 * seed's pipeline), all threads joined. */
static int mode_pipeline(int argc, char **argv)
{
    tg_chan_t *a, *b;
    tg_chan_new(&a, sizeof(int), 0);
    tg_chan_new(&b, sizeof(int), 4);
    struct stage s1 = { NULL, a }, s2 = { a, b };
    pthread_t t1, t2;
    pthread_create(&t1, NULL, gen, &s1);
    pthread_create(&t2, NULL, square, &s2);
    long sum = 0;
    int v;
    bool ok;
    while (tg_chan_recv(b, &v, &ok) == 0 && ok)
        sum += v;
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    tg_chan_free(a);
    tg_chan_free(b);
    printf("sum=%ld\n", sum);
    return sum == 338350 ? 0 : 5;
}

static void *ctx_watcher(void *arg)
{
    tg_ctx_t *ctx = arg;
    tg_ctx_wait(ctx);
    return NULL;
}

/* Every context is released; one expires, one is cancelled while a thread
 * waits on it, one is a child cancelled through its parent. */
static int mode_ctx(int argc, char **argv)
{
    tg_ctx_t *root, *child, *timed, *dl;
    tg_ctx_with_cancel(NULL, &root);
    tg_ctx_with_timeout(root, 3600 * TG_SEC, &child);
    tg_ctx_with_timeout(NULL, 10 * TG_MSEC, &timed);
    tg_ctx_with_deadline(NULL, tg_now() + 3600 * TG_SEC, &dl);
    pthread_t t;
    pthread_create(&t, NULL, ctx_watcher, child);
    tg_case_t c[1] = { TG_RECV(tg_ctx_done(timed), NULL) };
    int r = tg_select_timeout(c, 1, 10 * TG_SEC);
    tg_ctx_cancel(root);
    pthread_join(t, NULL);
    int err = tg_ctx_err(child);
    tg_ctx_release(child);
    tg_ctx_release(root);
    tg_ctx_release(timed);
    tg_ctx_release(dl);
    printf("select=%d child=%d\n", r, err);
    return (r == 0 && err == -ECANCELED) ? 0 : 5;
}

static int task_fail(tg_ctx_t *ctx, void *arg)
{
    return -EIO;
}

static int task_wait(tg_ctx_t *ctx, void *arg)
{
    /* Returns once the failing sibling cancels the group. */
    return tg_ctx_wait(ctx) == -ECANCELED ? 0 : -EINVAL;
}

static int mode_group(int argc, char **argv)
{
    tg_group_t *g;
    if (tg_group_new(&g, NULL, NULL) != 0)
        return 3;
    for (int i = 0; i < 3; i++)
        tg_group_go(g, task_wait, NULL);
    tg_group_go(g, task_fail, NULL);
    int r = tg_group_wait(g);
    tg_group_free(g);
    printf("group=%d\n", r);
    return r == -EIO ? 0 : 5;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_ran;

static void once_init(void)
{
    once_ran++;
}

/* One thread only: locks, a pthread_once. The process must stay single
 * threaded (glibc then takes its cheaper lock path); says whether it did. */
static int mode_single(int argc, char **argv)
{
    pthread_mutex_t m;
    pthread_mutex_init(&m, NULL);
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
    }
    pthread_mutex_destroy(&m);
    pthread_once(&once, once_init);
    printf("single=%d once=%d\n", (int)__libc_single_threaded, once_ran);
    return once_ran == 1 ? 0 : 6;
}

/* Two threads take turns under one mutex and condition, HANDOFF_ROUNDS
 * times each: every turn makes the other thread wait, briefly. The last
 * wait lasts HANDOFF_LONG_MS. Checks the turns came in order. */
enum { HANDOFF_ROUNDS = 20000, HANDOFF_LONG_MS = 50 };
static pthread_mutex_t ho_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ho_cv = PTHREAD_COND_INITIALIZER;
static int ho_turn, ho_bad;

static void *ho_player(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < HANDOFF_ROUNDS; i++) {
        pthread_mutex_lock(&ho_mu);
        while (ho_turn % 2 != me)
            pthread_cond_wait(&ho_cv, &ho_mu);
        if (ho_turn != 2 * i + me)
            ho_bad++;
        ho_turn++;
        pthread_cond_signal(&ho_cv);
        pthread_mutex_unlock(&ho_mu);
    }
    return NULL;
}

static int mode_handoff(int argc, char **argv)
{
    pthread_t t[2];
    for (intptr_t i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, ho_player, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* One long wait: a thread blocked on a condition for 50 ms. */
    pthread_mutex_lock(&ho_mu);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += HANDOFF_LONG_MS * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int rc = pthread_cond_timedwait(&ho_cv, &ho_mu, &dl);
    pthread_mutex_unlock(&ho_mu);
    printf("handoff turns=%d bad=%d rc=%d\n", ho_turn, ho_bad, rc);
    return ho_turn == 2 * HANDOFF_ROUNDS && !ho_bad && rc == ETIMEDOUT ? 0 : 6;
}

/* ---- contended: four threads on one mutex and one rwlock ---- */
/* Each thread takes the mutex and the rwlock (writing, or reading three
 * times in four) in turn, and now and then holds the mutex for 200 us,
 * longer than the shim's waiters spin, so that waits end both ways:
 * taken while spinning and woken from sleep. Argument "onecpu": the
 * process first binds itself to one CPU, where no waiter spins. */
enum { CT_THREADS = 4, CT_ROUNDS = 20000 };
static pthread_mutex_t ct_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t ct_rw = PTHREAD_RWLOCK_INITIALIZER;
static long ct_count, ct_written, ct_read[CT_THREADS];

static void *ct_worker(void *arg)
{
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < CT_ROUNDS; i++) {
        pthread_mutex_lock(&ct_mu);
        ct_count++;
        if (i % 2000 == 0) {
            struct timespec ts = { 0, 200000 };
            nanosleep(&ts, NULL);
        }
        pthread_mutex_unlock(&ct_mu);
        if (i % 4 == 0) {
            pthread_rwlock_wrlock(&ct_rw);
            ct_written++;
            pthread_rwlock_unlock(&ct_rw);
        } else {
            pthread_rwlock_rdlock(&ct_rw);
            ct_read[id] += ct_written >= 0;
            pthread_rwlock_unlock(&ct_rw);
        }
    }
    return NULL;
}

static int mode_contended(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "onecpu")) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0)
            return 5;
    }
    pthread_t t[CT_THREADS];
    for (intptr_t i = 0; i < CT_THREADS; i++)
        pthread_create(&t[i], NULL, ct_worker, (void *)i);
    for (int i = 0; i < CT_THREADS; i++)
        pthread_join(t[i], NULL);
    long reads = 0;
    for (int i = 0; i < CT_THREADS; i++)
        reads += ct_read[i];
    printf("contended count=%ld written=%ld read=%ld\n", ct_count, ct_written, reads);
    return ct_count == (long)CT_THREADS * CT_ROUNDS &&
           ct_written == (long)CT_THREADS * CT_ROUNDS / 4 &&
           reads == (long)CT_THREADS * CT_ROUNDS * 3 / 4 ? 0 : 6;
}

int main(int argc, char **argv)
{
    static const struct prog_mode modes[] = {
        { "pool", mode_pool },
        { "pipeline", mode_pipeline },
        { "ctx", mode_ctx },
        { "group", mode_group },
        { "single", mode_single },
        { "handoff", mode_handoff },
        { "contended", mode_contended },
        { NULL, NULL },
    };
    return prog_main(modes, argc, argv);
}
