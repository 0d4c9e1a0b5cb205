/*
 * clean_errgroup.c: the seed's fetchAll with an errgroup. Each id is
 * fetched by its own task; each task writes only its own slot of the
 * results array, and waits for its (simulated) network reply in a select
 * that also watches the group's context. The first run fetches five ids
 * that all succeed. In the second, one id fails fast: its error becomes the
 * group's result and cancels the group's context, so the slow fetches stop
 * at once instead of running to the end. Every task returns and the group
 * is waited for and freed, so tangle reports nothing.
 *
 * EXPECT: none
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tangle/tangle.h"

enum { NIDS = 5 };

struct fetch {
    const char *id;
    int64_t latency_ns;   /* how long the reply takes */
    int fails;            /* the reply is an error (-EIO) */
    long data;            /* out: the result's slot */
    int err;              /* out: how the fetch ended */
};

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "clean_errgroup: %s: %s\n", what, tg_strerror(err));
        exit(1);
    }
}

/* A fetch that honours ctx: waits for the reply or for ctx to be done,
 * whichever comes first. Returns 0, -EIO, or the context's error. */
static int fetch(tg_ctx_t *ctx, struct fetch *f)
{
    tg_case_t c[] = { TG_RECV(tg_ctx_done(ctx), NULL) };

    if (tg_select_timeout(c, 1, f->latency_ns) == 0)
        return tg_ctx_err(ctx);   /* cancelled: stop early */
    if (f->fails)
        return -EIO;
    f->data = (long)strlen(f->id) * 1000;
    return 0;
}

/* The errgroup task: g.Go(func() error { ... }). */
static int fetch_task(tg_ctx_t *ctx, void *arg)
{
    struct fetch *f = arg;
    f->err = fetch(ctx, f);
    return f->err;  /* the first non-zero one cancels the others */
}

/* Fetches every id in parallel; returns the first error, or 0. */
static int fetch_all(struct fetch *fs, int n)
{
    tg_group_t *g;
    int err;

    check(tg_group_new(&g, NULL, NULL), "group new");
    check(tg_group_set_name(g, "fetch"), "group name");
    for (int i = 0; i < n; i++)
        check(tg_group_go(g, fetch_task, &fs[i]), "group go");
    err = tg_group_wait(g);
    check(tg_group_free(g), "group free");
    return err;
}

static void run(const char *title, struct fetch *fs)
{
    int64_t start = tg_now();
    int err = fetch_all(fs, NIDS);

    printf("%s: fetch_all returned after %lld ms: %s\n", title,
           (long long)((tg_now() - start) / TG_MSEC),
           err ? tg_strerror(err) : "ok");
    for (int i = 0; i < NIDS; i++) {
        if (fs[i].err == 0)
            printf("  %-8s ok, data %ld\n", fs[i].id, fs[i].data);
        else
            printf("  %-8s %s\n", fs[i].id, tg_strerror(fs[i].err));
    }
}

int main(void)
{
    struct fetch good[NIDS] = {
        { "alpha", 30 * TG_MSEC, 0, 0, 0 },
        { "bravo", 10 * TG_MSEC, 0, 0, 0 },
        { "charlie", 40 * TG_MSEC, 0, 0, 0 },
        { "delta", 20 * TG_MSEC, 0, 0, 0 },
        { "echo", 5 * TG_MSEC, 0, 0, 0 },
    };
    struct fetch bad[NIDS] = {
        { "alpha", 2 * TG_SEC, 0, 0, 0 },
        { "bravo", 2 * TG_SEC, 0, 0, 0 },
        { "broken", 20 * TG_MSEC, 1, 0, 0 },
        { "delta", 2 * TG_SEC, 0, 0, 0 },
        { "echo", 5 * TG_MSEC, 0, 0, 0 },
    };

    run("all ids good", good);
    run("one id fails after 20 ms, the others would take 2 s", bad);
    return 0;
}
