/*
 * leaks.c: programs that leave threads (and contexts) behind, one scenario
 * per mode, for the leak tests. Each leaking mode parks its thread in one
 * kind of wait, makes sure through /proc that it really sleeps there, and
 * then returns from main, so the report at exit must show that thread in
 * exactly that state. The clean twins (joined, detached, cancelled
 * contexts) must give nothing, and the checkpoint modes exercise
 * tg_leak_mark / tg_leak_verify, printing what verify returned.
 */
#include "progs.h"

static _Atomic pid_t worker_tid;
static tg_chan_t *chan;
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static tg_wg_t wg = TG_WG_INIT;
static atomic_bool stop_spin;

static void *sender(void *arg)
{
    int v = 42;
    atomic_store(&worker_tid, prog_tid());
    tg_chan_send(chan, &v); /* LINE:leak_send */
    return NULL;
}

/* One thread blocked forever sending on an unbuffered channel. */
static int mode_chan_send(int argc, char **argv)
{
    pthread_t t;
    tg_chan_new(&chan, sizeof(int), 0); /* LINE:leak_chan_new */
    pthread_create(&t, NULL, sender, NULL); /* LINE:leak_create */
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static void *receiver(void *arg)
{
    int v;
    atomic_store(&worker_tid, prog_tid());
    tg_chan_recv(chan, &v, NULL); /* LINE:leak_recv */
    return NULL;
}

static int mode_chan_recv(int argc, char **argv)
{
    pthread_t t;
    tg_chan_new(&chan, sizeof(int), 4);
    pthread_create(&t, NULL, receiver, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static void *mutex_waiter(void *arg)
{
    atomic_store(&worker_tid, prog_tid());
    pthread_mutex_lock(&mtx); /* LINE:leak_mutex */
    pthread_mutex_unlock(&mtx);
    return NULL;
}

/* main holds the mutex for good; the worker waits for it. */
static int mode_mutex(int argc, char **argv)
{
    pthread_t t;
    pthread_mutex_lock(&mtx);
    pthread_create(&t, NULL, mutex_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static void *cond_waiter(void *arg)
{
    pthread_mutex_lock(&mtx);
    atomic_store(&worker_tid, prog_tid());
    pthread_cond_wait(&cond, &mtx); /* LINE:leak_cond */
    pthread_mutex_unlock(&mtx);
    return NULL;
}

static int mode_cond(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, cond_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static void *sem_waiter(void *arg)
{
    atomic_store(&worker_tid, prog_tid());
    sem_wait(&sem); /* LINE:leak_sem */
    return NULL;
}

static int mode_sem(int argc, char **argv)
{
    pthread_t t;
    sem_init(&sem, 0, 0);
    pthread_create(&t, NULL, sem_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static pthread_t sleeper_thread;
static _Atomic pid_t joiner_tid;

static void *joiner(void *arg)
{
    atomic_store(&joiner_tid, prog_tid());
    pthread_join(sleeper_thread, NULL); /* LINE:leak_join */
    return NULL;
}

/* A thread joins another that never ends (it sleeps in sem_wait). */
static int mode_join(int argc, char **argv)
{
    pthread_t t;
    sem_init(&sem, 0, 0);
    pthread_create(&sleeper_thread, NULL, sem_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    pthread_create(&t, NULL, joiner, NULL);
    prog_wait_blocked(prog_wait_tid(&joiner_tid));
    return 0;
}

static tg_chan_t *chan2;

static void *selector(void *arg)
{
    int a, b;
    tg_case_t cases[2] = { TG_RECV(chan, &a), TG_RECV(chan2, &b) };
    atomic_store(&worker_tid, prog_tid());
    tg_select(cases, 2); /* LINE:leak_select */
    return NULL;
}

static int mode_select(int argc, char **argv)
{
    pthread_t t;
    tg_chan_new(&chan, sizeof(int), 0);
    tg_chan_new(&chan2, sizeof(int), 0);
    pthread_create(&t, NULL, selector, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static void *wg_waiter(void *arg)
{
    atomic_store(&worker_tid, prog_tid());
    tg_wg_wait(&wg); /* LINE:leak_wg */
    return NULL;
}

static int mode_wg(int argc, char **argv)
{
    pthread_t t;
    tg_wg_add(&wg, 1);
    pthread_create(&t, NULL, wg_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static void *spinner(void *arg)
{
    atomic_store(&worker_tid, prog_tid());
    while (!atomic_load_explicit(&stop_spin, memory_order_relaxed)) /* LINE:leak_spin */
        ;
    return NULL;
}

/* A thread still computing when main returns. */
static int mode_busy(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    prog_wait_tid(&worker_tid);
    return 0;
}

#define MANY 50
static _Atomic pid_t many_tids[MANY];

static void *many_receiver(void *arg)
{
    int v;
    atomic_store(&many_tids[(intptr_t)arg], prog_tid());
    tg_chan_recv(chan, &v, NULL); /* LINE:leak_many_recv */
    return NULL;
}

/* 50 threads from one creation site, all blocked on one channel. */
static int mode_many(int argc, char **argv)
{
    tg_chan_new(&chan, sizeof(int), 0);
    for (intptr_t i = 0; i < MANY; i++) {
        pthread_t t;
        pthread_create(&t, NULL, many_receiver, (void *)i); /* LINE:leak_many_create */
    }
    for (int i = 0; i < MANY; i++)
        prog_wait_blocked(prog_wait_tid(&many_tids[i]));
    return 0;
}

static int group_task(tg_ctx_t *ctx, void *arg)
{
    atomic_store(&worker_tid, prog_tid());
    return 0;
}

/* An errgroup that is given a task and never waited for: its thread stays,
 * idle, until exit. */
static int mode_group_unwaited(int argc, char **argv)
{
    tg_group_t *g;
    tg_group_new(&g, NULL, NULL);
    tg_group_go(g, group_task, NULL); /* LINE:leak_group_go */
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static tg_wg_t lingering = TG_WG_INIT;

static void *lingerer(void *arg)
{
    tg_wg_done(&lingering);
    /* Still on its way out when main exits: like a goroutine after its
     * last Done, not a leak. */
    struct timespec ts = { 0, 20 * 1000000 };
    nanosleep(&ts, NULL);
    return NULL;
}

/* main waits for the worker's done and exits while it is still returning. */
static int mode_lingering(int argc, char **argv)
{
    pthread_t t;
    tg_wg_add(&lingering, 1);
    pthread_create(&t, NULL, lingerer, NULL);
    pthread_detach(t);
    tg_wg_wait(&lingering);
    return 0;
}

static void *quick_worker(void *arg)
{
    atomic_store(&worker_tid, prog_tid());
    return NULL;
}

/* Finished, never joined nor detached. */
static int mode_unjoined(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, quick_worker, NULL); /* LINE:leak_unjoined_create */
    prog_wait_gone(prog_wait_tid(&worker_tid));
    return 0;
}

static void *nothing(void *arg)
{
    return arg;
}

/* 20,000 threads started and joined in turn (more than the shim's thread
 * table held once), then one finished and never joined: a long test binary
 * must not stop being watched. */
static int mode_many_then_unjoined(int argc, char **argv)
{
    for (int i = 0; i < 20000; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0)
            return 5;
        pthread_join(t, NULL);
    }
    pthread_t t;
    pthread_create(&t, NULL, quick_worker, NULL); /* LINE:leak_late_create */
    prog_wait_gone(prog_wait_tid(&worker_tid));
    return 0;
}

static int mode_detached(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, quick_worker, NULL);
    pthread_detach(t);
    prog_wait_gone(prog_wait_tid(&worker_tid));
    return 0;
}

static int mode_joined(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, quick_worker, NULL);
    pthread_join(t, NULL);
    return 0;
}

/* A context with a deadline an hour away, never cancelled. */
static int mode_ctx_lost(int argc, char **argv)
{
    tg_ctx_t *ctx;
    tg_ctx_with_timeout(NULL, 3600 * TG_SEC, &ctx); /* LINE:leak_ctx_lost */
    printf("err=%d\n", tg_ctx_err(ctx));
    return 0;
}

/* WithCancel whose cancel is never called (Go vet's lostcancel). */
static int mode_ctx_lost_cancel(int argc, char **argv)
{
    tg_ctx_t *ctx;
    tg_ctx_with_cancel(NULL, &ctx); /* LINE:leak_ctx_lost_cancel */
    printf("err=%d\n", tg_ctx_err(ctx));
    return 0;
}

/* Children never cancelled themselves, but their parent was: cancelling
 * the parent cancels them, nothing is lost. */
static int mode_ctx_parent_cancelled(int argc, char **argv)
{
    tg_ctx_t *parent, *a, *b;
    tg_ctx_with_cancel(NULL, &parent);
    tg_ctx_with_cancel(parent, &a);
    tg_ctx_with_timeout(parent, 3600 * TG_SEC, &b);
    tg_ctx_cancel(parent);
    printf("a=%d b=%d\n", tg_ctx_err(a), tg_ctx_err(b));
    tg_ctx_free(a);
    tg_ctx_free(b);
    tg_ctx_free(parent);
    return 0;
}

static int mode_ctx_cancelled(int argc, char **argv)
{
    tg_ctx_t *a, *b;
    tg_ctx_with_timeout(NULL, 3600 * TG_SEC, &a);
    tg_ctx_with_cancel(a, &b);
    tg_ctx_release(b);
    tg_ctx_cancel(a);
    tg_ctx_free(a);
    return 0;
}

/* The deadline passes (and is observed) before exit: nothing was lost. */
static int mode_ctx_expired(int argc, char **argv)
{
    tg_ctx_t *ctx;
    tg_ctx_with_timeout(NULL, 20 * TG_MSEC, &ctx);
    int err = tg_ctx_wait(ctx);
    printf("err=%d\n", err);
    tg_ctx_free(ctx);
    return 0;
}

static void *checkpoint_receiver(void *arg)
{
    int v;
    atomic_store(&worker_tid, prog_tid());
    tg_chan_recv(chan, &v, NULL); /* LINE:leak_verify_recv */
    return NULL;
}

/* mark, leak one thread, verify: verify must count it. The thread is then
 * released and joined, so only the checkpoint can have seen it. Run
 * without the shim, the check API must do nothing and succeed. */
static int mode_verify(int argc, char **argv)
{
    pthread_t t;
    printf("traced=%d\n", (int)tg_traced());
    printf("mark=%d\n", tg_leak_mark());
    tg_chan_new(&chan, sizeof(int), 0);
    pthread_create(&t, NULL, checkpoint_receiver, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    printf("verify=%d\n", tg_leak_verify(NULL)); /* LINE:leak_verify_call */
    tg_chan_close(chan);
    pthread_join(t, NULL);
    tg_chan_free(chan);
    return 0;
}

/* A thread alive at the mark is expected, even if still alive at verify. */
static int mode_verify_marked(int argc, char **argv)
{
    pthread_t t;
    tg_chan_new(&chan, sizeof(int), 0);
    pthread_create(&t, NULL, checkpoint_receiver, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    tg_leak_mark();
    printf("verify=%d\n", tg_leak_verify(NULL));
    tg_chan_close(chan);
    pthread_join(t, NULL);
    tg_chan_free(chan);
    return 0;
}

static void *late_finisher(void *arg)
{
    prog_msleep(150);
    return NULL;
}

/* A thread that ends 150 ms after verify starts is within the settle
 * window (1 s by default): not a leak. */
static int mode_verify_settle(int argc, char **argv)
{
    pthread_t t;
    tg_leak_mark();
    pthread_create(&t, NULL, late_finisher, NULL);
    printf("verify=%d\n", tg_leak_verify(NULL));
    pthread_join(t, NULL);
    return 0;
}

static void *ignored_receiver(void *arg)
{
    int v;
    atomic_store(&worker_tid, prog_tid());
    tg_chan_recv(chan, &v, NULL);
    return NULL;
}

/* One leaked thread, verified under each ignore rule that matches it and
 * then with no rule at all. */
static int mode_verify_ignore(int argc, char **argv)
{
    static const char *const names[] = { "ignored_receiver", NULL };
    pthread_t t;
    tg_leak_mark();
    tg_chan_new(&chan, sizeof(int), 0);
    pthread_create(&t, NULL, ignored_receiver, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    struct tg_leak_opts any = { .ignore_any = names, .quiet = true };
    struct tg_leak_opts by = { .ignore_created_by = names, .quiet = true };
    struct tg_leak_opts none = { .quiet = true };
    printf("ignore_any=%d\n", tg_leak_verify(&any));
    printf("ignore_created_by=%d\n", tg_leak_verify(&by));
    printf("no_rule=%d\n", tg_leak_verify(&none));
    tg_chan_close(chan);
    pthread_join(t, NULL);
    tg_chan_free(chan);
    return 0;
}

static void go_sender(void *arg)
{
    int v = 7;
    atomic_store(&worker_tid, prog_tid());
    tg_chan_send(chan, &v); /* LINE:leak_go_send */
}

/* A goroutine (tg_go: detached, named) stuck in a send. */
static int mode_go(int argc, char **argv)
{
    tg_go_opts_t o = { .name = "fetcher" };
    tg_chan_new(&chan, sizeof(int), 0);
    tg_go(go_sender, NULL, &o);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static void *named_waiter(void *arg)
{
    pthread_setname_np(pthread_self(), "janitor");
    atomic_store(&worker_tid, prog_tid());
    sem_wait(&sem);
    return NULL;
}

static int mode_named(int argc, char **argv)
{
    pthread_t t;
    sem_init(&sem, 0, 0);
    pthread_create(&t, NULL, named_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

static void nop_job(void *arg)
{
}

/* A worker pool that is never shut down: its idle workers leak. */
static int mode_pool(int argc, char **argv)
{
    tg_pool_t *p;
    tg_pool_new(&p, 4, 2, "leakpool");
    tg_pool_submit(p, nop_job, NULL);
    /* Let every worker reach its idle wait: all four sleep in the kernel
     * (the shim's watchdog sleeps too). */
    prog_msleep(1);
    prog_wait_others_blocked();
    return 0;
}

static tg_chan_t *never;
static tg_pool_t *full_pool;

static void stuck_job(void *arg)
{
    tg_chan_recv(never, NULL, NULL);
}

static void *submitter(void *arg)
{
    atomic_store(&worker_tid, prog_tid());
    tg_pool_submit(full_pool, nop_job, NULL); /* LINE:leak_pool_submit */
    return NULL;
}

/* A pool whose only worker is stuck in a job, and a thread blocked
 * submitting another: it waits in the pool (on the queue's send inside). */
static int mode_pool_full(int argc, char **argv)
{
    pthread_t t;
    tg_chan_new(&never, sizeof(int), 0);
    tg_pool_new(&full_pool, 1, 0, "fullpool");
    tg_pool_submit(full_pool, stuck_job, NULL);
    pthread_create(&t, NULL, submitter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    return 0;
}

int main(int argc, char **argv)
{
    static const struct prog_mode modes[] = {
        { "chan_send", mode_chan_send },
        { "chan_recv", mode_chan_recv },
        { "mutex", mode_mutex },
        { "cond", mode_cond },
        { "sem", mode_sem },
        { "join", mode_join },
        { "select", mode_select },
        { "wg", mode_wg },
        { "busy", mode_busy },
        { "lingering", mode_lingering },
        { "many_then_unjoined", mode_many_then_unjoined },
        { "group_unwaited", mode_group_unwaited },
        { "many", mode_many },
        { "unjoined", mode_unjoined },
        { "detached", mode_detached },
        { "joined", mode_joined },
        { "ctx_lost", mode_ctx_lost },
        { "ctx_cancelled", mode_ctx_cancelled },
        { "ctx_lost_cancel", mode_ctx_lost_cancel },
        { "ctx_parent_cancelled", mode_ctx_parent_cancelled },
        { "ctx_expired", mode_ctx_expired },
        { "verify", mode_verify },
        { "verify_marked", mode_verify_marked },
        { "verify_settle", mode_verify_settle },
        { "verify_ignore", mode_verify_ignore },
        { "go", mode_go },
        { "named", mode_named },
        { "pool", mode_pool },
        { "pool_full", mode_pool_full },
        { NULL, NULL },
    };
    return prog_main(modes, argc, argv);
}
