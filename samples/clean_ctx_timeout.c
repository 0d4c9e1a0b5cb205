/*
 * clean_ctx_timeout.c: a long-running task stopped by its context, the
 * seed's `select { case <-ctx.Done(): return ctx.Err(); default: doWork() }`
 * loop. The task checks the context's Done channel with a non-blocking
 * select between units of work. First it runs in main under a 200 ms
 * timeout and stops with -ETIMEDOUT (Go's DeadlineExceeded); then it runs on
 * a goroutine that main cancels after 50 ms, and stops with -ECANCELED.
 * Both contexts are released (Go's `defer cancel()`) and the goroutine is
 * waited for, so tangle reports nothing.
 *
 * EXPECT: none
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tangle/tangle.h"

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "clean_ctx_timeout: %s: %s\n", what, tg_strerror(err));
        exit(1);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* One unit of work: a little computing and a millisecond of "I/O". */
static unsigned do_work(unsigned seed)
{
    for (int i = 0; i < 1000; i++)
        seed = seed * 1103515245u + 12345u;
    sleep_ms(1);
    return seed;
}

/* Works until ctx is done; returns tg_ctx_err(ctx) and the units done. */
static int long_running_task(tg_ctx_t *ctx, long *units)
{
    unsigned state = 1;

    *units = 0;
    for (;;) {
        tg_case_t c[] = { TG_RECV(tg_ctx_done(ctx), NULL) };
        if (tg_select_try(c, 1) == 0)
            return tg_ctx_err(ctx);
        /* default: */
        state = do_work(state);
        (*units)++;
    }
}

struct task {
    tg_ctx_t *ctx;
    long units;
    int err;
    tg_wg_t done;
};

static void task_goroutine(void *arg)
{
    struct task *t = arg;
    t->err = long_running_task(t->ctx, &t->units);
    tg_wg_done(&t->done);
}

int main(void)
{
    tg_ctx_t *ctx;
    long units;
    int64_t start = tg_now();

    /* ctx, cancel := context.WithTimeout(context.Background(), 200ms) */
    check(tg_ctx_with_timeout(NULL, 200 * TG_MSEC, &ctx), "with timeout");
    int err = long_running_task(ctx, &units);
    printf("task with a 200 ms timeout: stopped after %lld ms and %ld units "
           "of work: %s\n", (long long)((tg_now() - start) / TG_MSEC), units,
           tg_strerror(err));
    tg_ctx_release(ctx);  /* defer cancel() */

    /* The same task on a goroutine, cancelled by its caller. */
    static struct task t = { .done = TG_WG_INIT };
    tg_go_opts_t opts = { .name = "long-task" };
    check(tg_ctx_with_cancel(NULL, &t.ctx), "with cancel");
    check(tg_wg_add(&t.done, 1), "wg add");
    start = tg_now();
    check(tg_go(task_goroutine, &t, &opts), "start task");
    sleep_ms(50);
    tg_ctx_cancel(t.ctx);
    tg_wg_wait(&t.done);
    printf("task cancelled by main after 50 ms: stopped after %lld ms and "
           "%ld units of work: %s\n",
           (long long)((tg_now() - start) / TG_MSEC), t.units,
           tg_strerror(t.err));
    tg_ctx_free(t.ctx);  /* already cancelled: only the memory is left */

    return 0;
}
