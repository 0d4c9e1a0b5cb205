/*
 * clean_pool.c: the worker pool of clean_worker_pool.c with the library's
 * tg_pool instead of hand-made workers. Three named workers ("resize-0"..)
 * take jobs from a queue of four; submitting blocks while the queue is
 * full, which is the back-pressure the seed gets from a buffered jobs
 * channel. Each job sends its result on a buffered results channel. A
 * second batch is submitted with a context that main cancels halfway, so
 * tg_pool_submit_ctx stops accepting it with -ECANCELED. Shutdown runs what
 * is queued and joins the workers, so tangle reports nothing.
 *
 * EXPECT: none
 */
#include <stdio.h>
#include <stdlib.h>

#include "tangle/tangle.h"

enum { NJOBS = 20 };

struct job {
    int id;
    tg_chan_t *results;
};

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "clean_pool: %s: %s\n", what, tg_strerror(err));
        exit(1);
    }
}

/* Stands in for resizing image `id`: returns its new size in pixels. */
static void resize(void *arg)
{
    struct job *j = arg;
    long pixels = 0;

    for (int y = 0; y < 100 + j->id; y++)
        for (int x = 0; x < 100 + j->id; x++)
            pixels++;
    check(tg_chan_send(j->results, &pixels), "send result");
}

int main(void)
{
    static struct job jobs[2 * NJOBS];
    tg_chan_t *results;
    tg_pool_t *pool;
    tg_ctx_t *ctx;
    int queued = 0, refused = 0, why = 0;

    check(tg_chan_new(&results, sizeof(long), 2 * NJOBS), "new results");
    check(tg_pool_new(&pool, 3, 4, "resize"), "new pool");

    for (int i = 0; i < NJOBS; i++) {
        jobs[i] = (struct job){ i, results };
        check(tg_pool_submit(pool, resize, &jobs[i]), "submit");
        queued++;
    }
    printf("batch 1: submitted %d jobs to 3 workers through a queue of 4\n",
           NJOBS);

    /* Batch 2: the caller loses interest halfway through. */
    check(tg_ctx_with_cancel(NULL, &ctx), "with cancel");
    for (int i = NJOBS; i < 2 * NJOBS; i++) {
        if (i == NJOBS + NJOBS / 2)
            tg_ctx_cancel(ctx);
        jobs[i] = (struct job){ i, results };
        int err = tg_pool_submit_ctx(pool, resize, &jobs[i], ctx);
        if (err == 0) {
            queued++;
        } else {
            refused++;
            why = err;
        }
    }
    tg_ctx_release(ctx);
    printf("batch 2: %d more accepted, %d refused after the cancel (%s)\n",
           NJOBS - refused, refused, refused ? tg_strerror(why) : "-");

    check(tg_pool_shutdown(pool), "shutdown");  /* drains, then joins */
    long total = 0, pixels;
    for (int i = 0; i < queued; i++) {
        check(tg_chan_recv(results, &pixels, NULL), "receive result");
        total += pixels;
    }
    printf("shutdown ran every queued job: %d results, %ld pixels in all\n",
           queued, total);
    check(tg_chan_free(results), "free results");
    return 0;
}
