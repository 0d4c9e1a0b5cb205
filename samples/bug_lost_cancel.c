/*
 * bug_lost_cancel.c: a context with a timeout that is never cancelled, what
 * Go's vet calls lostcancel. handle_request() makes a context with a one
 * hour timeout for its lookup, gets its answer at once, and returns
 * without tg_ctx_release() (Go's forgotten `defer cancel()`). The deadline
 * is far away, so the context neither expires nor is cancelled before the
 * process exits: its resources, and in a server every such context, stay
 * alive until then. tangle must report it as lost-cancel, naming the
 * function that created it.
 *
 * EXPECT: kind=lost-cancel function=handle_request
 */
#include <stdio.h>
#include <stdlib.h>

#include "tangle/tangle.h"

/* A lookup that respects ctx: fails at once if it is already done. */
static int lookup(tg_ctx_t *ctx, int key, int *value)
{
    int err = tg_ctx_err(ctx);

    if (err)
        return err;
    *value = key * 10;
    return 0;
}

static int handle_request(int key)
{
    tg_ctx_t *ctx;
    int value = 0;
    int err = tg_ctx_with_timeout(NULL, 3600 * TG_SEC, &ctx);

    if (err < 0)
        return err;
    err = lookup(ctx, key, &value);
    printf("request %d: %s, value %d\n", key,
           err ? tg_strerror(err) : "ok", value);
    return err;   /* the bug: tg_ctx_release(ctx) is missing */
}

int main(void)
{
    int err = handle_request(42);

    printf("main: exiting; the request's context was never cancelled and "
           "its deadline is an hour away\n");
    return err ? 1 : 0;
}
