/*
 * clean_worker_pool.c: the seed's worker pool. The producer (main) queues
 * jobs on a buffered channel and closes it when there are no more; four
 * workers started with tg_go take jobs until the channel is closed and
 * drained, and send results; a closer thread waits on a WaitGroup for the
 * workers and then closes the results channel, which ends main's loop over
 * the results. Every thread has a way to stop, so tangle reports nothing.
 * C has no garbage collector, so one more WaitGroup (`finished`) tells main
 * when no thread touches the channels any more and they can be freed.
 *
 * EXPECT: none
 */
#include <stdio.h>
#include <stdlib.h>

#include "tangle/tangle.h"

enum { NJOBS = 100, NWORKERS = 4 };

struct job { int id; int n; };
struct result { int id; long value; };

static tg_chan_t *jobs, *results;
static tg_wg_t workers_wg = TG_WG_INIT;  /* the seed's wg: workers running */
static tg_wg_t finished = TG_WG_INIT;    /* every thread past its last use */

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "clean_worker_pool: %s: %s\n", what, tg_strerror(err));
        exit(1);
    }
}

/* The work itself: the sum of the squares of 1..n. */
static long process_job(const struct job *j)
{
    long sum = 0;
    for (long k = 1; k <= j->n; k++)
        sum += k * k;
    return sum;
}

/* Go's `for job := range jobs { results <- processJob(job) }`. */
static void worker(void *arg)
{
    struct job j;
    bool ok;

    (void)arg;
    while (tg_chan_recv(jobs, &j, &ok) == 0 && ok) {
        struct result r = { j.id, process_job(&j) };
        check(tg_chan_send(results, &r), "send result");
    }
    tg_wg_done(&workers_wg);
    tg_wg_done(&finished);
}

/* Go's `go func() { wg.Wait(); close(results) }()`. */
static void closer(void *arg)
{
    (void)arg;
    tg_wg_wait(&workers_wg);
    check(tg_chan_close(results), "close results");
    tg_wg_done(&finished);
}

int main(void)
{
    tg_go_opts_t wopts = { .name = "worker" }, copts = { .name = "closer" };

    check(tg_chan_new(&jobs, sizeof(struct job), 100), "new jobs channel");
    check(tg_chan_new(&results, sizeof(struct result), 100),
          "new results channel");

    check(tg_wg_add(&workers_wg, NWORKERS), "wg add");
    check(tg_wg_add(&finished, NWORKERS + 1), "wg add");
    for (int i = 0; i < NWORKERS; i++)
        check(tg_go(worker, NULL, &wopts), "start worker");
    check(tg_go(closer, NULL, &copts), "start closer");

    for (int i = 0; i < NJOBS; i++) {
        struct job j = { i, 1000 + i };
        check(tg_chan_send(jobs, &j), "send job");
    }
    check(tg_chan_close(jobs), "close jobs");  /* no more jobs */
    printf("queued %d jobs for %d workers, then closed the jobs channel\n",
           NJOBS, NWORKERS);

    int got = 0;
    long total = 0;
    struct result r;
    bool ok;
    while (tg_chan_recv(results, &r, &ok) == 0 && ok) {
        got++;
        total += r.value;
    }
    printf("collected %d results (checksum %ld); results channel closed by "
           "the closer\n", got, total);

    tg_wg_wait(&finished);
    check(tg_chan_free(jobs), "free jobs");
    check(tg_chan_free(results), "free results");
    printf("all %d threads finished; channels freed\n", NWORKERS + 1);
    return got == NJOBS ? 0 : 1;
}
