/*
 * clean_leak_fixed.c: the fix for bug_leak.c, the seed's noLeak(ctx). The
 * result channel has room for one value, and the goroutine's send sits in
 * a select with the caller's context, so it completes whatever the caller
 * does: the patient caller receives the result; the impatient one gives up
 * after 10 ms and cancels its context, and the goroutine still finishes
 * (into the buffer, or through Done). No thread is left blocked, so tangle
 * reports nothing. main waits on `finished` before freeing the channels
 * and contexts: C has no garbage collector to know when that is safe.
 *
 * EXPECT: none
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tangle/tangle.h"

struct request {
    int input;
    tg_ctx_t *ctx;
    tg_chan_t *result;   /* buffered, capacity 1 */
};

static tg_wg_t finished = TG_WG_INIT;

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "clean_leak_fixed: %s: %s\n", what, tg_strerror(err));
        exit(1);
    }
}

/* Takes about 50 ms. */
static int compute_result(int input)
{
    struct timespec ts = { 0, 50 * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
    return input * input;
}

static void producer(void *arg)
{
    struct request *r = arg;
    int v = compute_result(r->input);
    tg_case_t c[] = {
        TG_SEND(r->result, &v),
        TG_RECV(tg_ctx_done(r->ctx), NULL),
    };

    int chosen = tg_select(c, 2);
    printf("  producer %d: %s\n", r->input,
           chosen == 0 ? "result sent (buffered)" : "context done, gave up");
    tg_wg_done(&finished);
}

/* Starts the producer for r; the caller then waits at most wait_ns. */
static void no_leak(struct request *r, int input, int64_t wait_ns)
{
    tg_go_opts_t opts = { .name = "producer" };
    int v;
    bool ok;

    r->input = input;
    check(tg_ctx_with_timeout(NULL, 5 * TG_SEC, &r->ctx), "with timeout");
    check(tg_chan_new(&r->result, sizeof(int), 1), "new result channel");
    check(tg_wg_add(&finished, 1), "wg add");
    check(tg_go(producer, r, &opts), "start producer");

    int err = tg_chan_recv_timeout(r->result, &v, &ok, wait_ns);
    if (err == 0 && ok)
        printf("caller %d: got %d\n", input, v);
    else
        printf("caller %d: gave up waiting: %s\n", input, tg_strerror(err));
    tg_ctx_cancel(r->ctx);  /* defer cancel(): the producer may stop now */
}

int main(void)
{
    static struct request patient, impatient;

    no_leak(&patient, 7, 2 * TG_SEC);
    no_leak(&impatient, 9, 10 * TG_MSEC);

    tg_wg_wait(&finished);
    struct request *rs[] = { &patient, &impatient };
    for (int i = 0; i < 2; i++) {
        check(tg_chan_free(rs[i]->result), "free channel");
        tg_ctx_free(rs[i]->ctx);
    }
    printf("both producers finished; nothing leaked\n");
    return 0;
}
