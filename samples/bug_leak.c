/*
 * bug_leak.c: the seed's goroutine leak. leak() makes an unbuffered
 * channel, starts a producer that sends its result on it, and returns
 * without ever receiving: each producer stays blocked in its send for the
 * rest of the process. main "handles" three requests that way and exits
 * normally, so nothing looks wrong when it runs. tangle must report the
 * three blocked producers as one leak finding (state `chan send`, on the
 * channel created in leak()). The fix is clean_leak_fixed.c.
 *
 * EXPECT: kind=leak function=producer
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tangle/tangle.h"

struct request {
    int input;
    tg_chan_t *result;   /* unbuffered, and nobody receives: the bug */
};

static tg_wg_t sending = TG_WG_INIT;

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "bug_leak: %s: %s\n", what, tg_strerror(err));
        exit(1);
    }
}

static int compute_result(int input)
{
    return input * input;
}

/* `go func() { ch <- computeResult() }()` */
static void producer(void *arg)
{
    struct request *r = arg;
    int v = compute_result(r->input);

    tg_wg_done(&sending);
    tg_chan_send(r->result, &v);   /* blocks forever */
    printf("producer %d: sent (never printed)\n", r->input);
}

/* Starts a producer and returns without reading its channel. */
static void leak(int input)
{
    tg_go_opts_t opts = { .name = "producer" };
    struct request *r = malloc(sizeof *r);

    if (!r)
        check(-ENOMEM, "malloc");
    r->input = input;
    check(tg_chan_new(&r->result, sizeof(int), 0), "new channel");
    check(tg_wg_add(&sending, 1), "wg add");
    check(tg_go(producer, r, &opts), "start producer");
    printf("request %d: started a producer, returned without reading its "
           "result\n", input);
}

int main(void)
{
    for (int i = 1; i <= 3; i++)
        leak(i);

    /* Let the producers reach their send, so the report shows them
     * blocked there rather than still running. */
    tg_wg_wait(&sending);
    struct timespec ts = { 0, 100 * 1000000L };
    nanosleep(&ts, NULL);
    printf("main: returning; 3 producers are still blocked sending\n");
    return 0;
}
