/*
 * tests/helgrind_canary.c: proof that `make -C tests check-helgrind` can
 * still fail. The runtime's annotations tell helgrind that a channel send
 * orders what came before it; they must not hide what comes after. Run
 * without arguments the program is race-free (the write before the send is
 * ordered with the receiver's read); with "race" the main thread writes
 * again after the send, unordered with that read, and helgrind must say
 * so. The target checks both outcomes.
 */
#include <pthread.h>
#include <string.h>

#include "tangle/tangle.h"

static tg_chan_t *ch;
static int shared;

static void *receiver(void *arg)
{
    int v = 0;
    if (tg_chan_recv(ch, &v, NULL) != 0)
        return arg;
    return (void *)(long)(shared + v);
}

int main(int argc, char **argv)
{
    bool race = argc > 1 && strcmp(argv[1], "race") == 0;
    if (tg_chan_new(&ch, sizeof(int), 0) != 0)
        return 2;
    pthread_t t;
    if (pthread_create(&t, NULL, receiver, NULL) != 0)
        return 2;
    int v = 1;
    shared = 1;
    if (tg_chan_send(ch, &v) != 0)
        return 2;
    if (race)
        shared = 2;
    pthread_join(t, NULL);
    return tg_chan_free(ch) == 0 ? 0 : 2;
}
