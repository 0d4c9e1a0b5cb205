/*
 * bug_race_first_wins.c: "first response wins", read one answer too many.
 * Main asks three mirrors for the same record at once; each mirror stores
 * its answer in its own slot of `answers` and sends its index on a
 * buffered channel. Main takes the first index that arrives, then prints
 * every slot. The Go memory model orders a send before the receive of
 * *that* value only: the winner's store is ordered before main's read of
 * it, the other mirrors' stores are not, however long ago they happened.
 * Main waits for all mirrors only after printing. tangle must report the
 * race between a slower mirror's store and main's read, with both stacks,
 * as `go test -race` would.
 * The fix: print only answers[first], or wait for every mirror (the
 * WaitGroup) before reading the other slots.
 *
 * BUILD: race
 * EXPECT: kind=race function=mirror
 */
#include <stdio.h>
#include <stdlib.h>

#include "tangle/tangle.h"

enum { MIRRORS = 3 };

static long answers[MIRRORS];
static tg_chan_t *first;
static tg_wg_t done = TG_WG_INIT;

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "bug_race_first_wins: %s: %s\n", what, tg_strerror(err));
        exit(1);
    }
}

/* One mirror: the same record, from a different place. */
static void mirror(void *arg)
{
    long i = (long)(intptr_t)arg;
    answers[i] = 1000 + i;          /* the store a slower mirror races with */
    check(tg_chan_send(first, &i), "send index");
    tg_wg_done(&done);
}

int main(void)
{
    check(tg_chan_new(&first, sizeof(long), MIRRORS), "new channel");
    for (long i = 0; i < MIRRORS; i++) {
        tg_go_opts_t opts = { .name = "mirror" };
        check(tg_wg_add(&done, 1), "wg add");
        check(tg_go(mirror, (void *)(intptr_t)i, &opts), "go mirror");
    }
    long winner;
    check(tg_chan_recv(first, &winner, NULL), "receive first");
    printf("mirror %ld answered first\n", winner);
    for (int i = 0; i < MIRRORS; i++)   /* the bug: every slot, not answers[winner] */
        printf("  answers[%d] = %ld\n", i, answers[i]);
    check(tg_wg_wait(&done), "wait mirrors");
    check(tg_chan_free(first), "free channel");
    return 0;
}
