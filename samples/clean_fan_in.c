/*
 * clean_fan_in.c: the seed's fan-out / fan-in. A generator sends the
 * numbers 1..N on one input channel and closes it; three workers take from
 * it (fan-out), each sending squares on its own output channel, which it
 * closes when the input is drained; fan_in merges the outputs into one
 * unbuffered channel with one forwarder per output, a WaitGroup, and a
 * closer that closes the merged channel once every forwarder is done. Main
 * ranges over the merged channel and checks the sum. Every channel is
 * closed by its only sender, every thread stops, so tangle reports nothing.
 *
 * EXPECT: none
 */
#include <stdio.h>
#include <stdlib.h>

#include "tangle/tangle.h"

enum { N = 1000, NWORKERS = 3 };

static tg_chan_t *input, *outputs[NWORKERS], *merged;
static tg_wg_t forwarders = TG_WG_INIT;  /* the seed's fanIn wg */
static tg_wg_t finished = TG_WG_INIT;    /* every thread past its last use */

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "clean_fan_in: %s: %s\n", what, tg_strerror(err));
        exit(1);
    }
}

static void generator(void *arg)
{
    (void)arg;
    for (long i = 1; i <= N; i++)
        check(tg_chan_send(input, &i), "send input");
    check(tg_chan_close(input), "close input");
    tg_wg_done(&finished);
}

/* Fan-out: every worker takes from the shared input channel. */
static void worker(void *arg)
{
    tg_chan_t *out = arg;
    long v;
    bool ok;

    while (tg_chan_recv(input, &v, &ok) == 0 && ok) {
        long sq = v * v;
        check(tg_chan_send(out, &sq), "send square");
    }
    check(tg_chan_close(out), "close output");
    tg_wg_done(&finished);
}

/* Fan-in: `for result := range c { merged <- result }`. */
static void forwarder(void *arg)
{
    tg_chan_t *c = arg;
    long v;
    bool ok;

    while (tg_chan_recv(c, &v, &ok) == 0 && ok)
        check(tg_chan_send(merged, &v), "send merged");
    tg_wg_done(&forwarders);
    tg_wg_done(&finished);
}

static void closer(void *arg)
{
    (void)arg;
    tg_wg_wait(&forwarders);
    check(tg_chan_close(merged), "close merged");
    tg_wg_done(&finished);
}

/* Merges the channels into `merged`, closed when all of them are. */
static void fan_in(tg_chan_t **chans, int n)
{
    tg_go_opts_t fopts = { .name = "forwarder" }, copts = { .name = "closer" };

    check(tg_chan_new(&merged, sizeof(long), 0), "new merged");
    check(tg_wg_add(&forwarders, n), "wg add");
    for (int i = 0; i < n; i++)
        check(tg_go(forwarder, chans[i], &fopts), "start forwarder");
    check(tg_go(closer, NULL, &copts), "start closer");
}

int main(void)
{
    tg_go_opts_t gopts = { .name = "generator" }, wopts = { .name = "worker" };

    /* generator + workers + forwarders + closer */
    check(tg_wg_add(&finished, 1 + 2 * NWORKERS + 1), "wg add");
    check(tg_chan_new(&input, sizeof(long), 16), "new input");
    check(tg_go(generator, NULL, &gopts), "start generator");
    for (int i = 0; i < NWORKERS; i++) {
        check(tg_chan_new(&outputs[i], sizeof(long), 4), "new output");
        check(tg_go(worker, outputs[i], &wopts), "start worker");
    }
    fan_in(outputs, NWORKERS);

    long sum = 0, count = 0, v;
    bool ok;
    while (tg_chan_recv(merged, &v, &ok) == 0 && ok) {
        sum += v;
        count++;
    }
    long want = (long)N * (N + 1) * (2 * N + 1) / 6;
    printf("fan-out to %d workers, fan-in of %ld squares: sum %ld (%s)\n",
           NWORKERS, count, sum, sum == want ? "correct" : "WRONG");

    tg_wg_wait(&finished);
    check(tg_chan_free(input), "free input");
    for (int i = 0; i < NWORKERS; i++)
        check(tg_chan_free(outputs[i]), "free output");
    check(tg_chan_free(merged), "free merged");
    printf("all %d threads finished; channels freed\n", 2 + 2 * NWORKERS);
    return sum == want ? 0 : 1;
}
