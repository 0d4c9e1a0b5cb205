/*
 * bug_send_closed.c: send on a closed channel. The rule is that only the
 * sender closes a channel; here the consumer closes it when it has had
 * enough, and the producer's next send fails. In Go that send panics; in
 * tangle it returns -EPIPE, which this program prints. tangle must report
 * it as misuse (send-on-closed), with the stack of the send in publish()
 * and of the close in the consumer.
 *
 * EXPECT: kind=misuse subkind=send-on-closed function=publish
 */
#include <stdio.h>
#include <stdlib.h>

#include "tangle/tangle.h"

static tg_chan_t *events;
static tg_wg_t consumer_done = TG_WG_INIT;

/* Takes one event, then closes the channel: the wrong side closing. */
static void consumer(void *arg)
{
    int v;
    bool ok;

    (void)arg;
    tg_chan_recv(events, &v, &ok);
    printf("consumer: got event %d, that is enough: closing the channel\n", v);
    tg_chan_close(events);
    tg_wg_done(&consumer_done);
}

static int publish(int v)
{
    int err = tg_chan_send(events, &v);

    printf("publish %d: %s\n", v, err ? tg_strerror(err) : "ok");
    return err;
}

int main(void)
{
    tg_go_opts_t opts = { .name = "consumer" };
    int err;

    if ((err = tg_chan_new(&events, sizeof(int), 4)) < 0 ||
        (err = tg_wg_add(&consumer_done, 1)) < 0 ||
        (err = tg_go(consumer, NULL, &opts)) < 0) {
        fprintf(stderr, "bug_send_closed: setup: %s\n", tg_strerror(err));
        return 1;
    }
    publish(1);
    tg_wg_wait(&consumer_done);
    err = publish(2);   /* the channel is closed: -EPIPE */
    printf("main: the second send failed with %d (-EPIPE is %d)\n", err,
           -EPIPE);
    tg_chan_free(events);
    return 0;
}
