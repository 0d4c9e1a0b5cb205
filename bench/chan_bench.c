/*
 * bench/chan_bench.c: libtangle's channels, select, context, pool and
 * errgroup, timed the way bench/go/chan_bench.go times their Go twins, so
 * `make bench` can print the two side by side with the ratio. Each
 * benchmark mirrors its Go namesake operation for operation (same
 * capacities, same number of threads, 8-byte values); threads stand in for
 * goroutines. The same binary runs native, under the preload shim and
 * under helgrind; built with -fsanitize=thread (runtime included) it is
 * the TSan column.
 */
#include <pthread.h>
#include <stdatomic.h>

#include <tangle/tangle.h>

#include "bench.h"

#define CHECK(call)                                                         \
    do {                                                                    \
        int rc_ = (call);                                                   \
        if (rc_ < 0) {                                                      \
            fprintf(stderr, "chan_bench: %s failed: %s\n", #call,           \
                    tg_strerror(rc_));                                      \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

static _Atomic int64_t sink;

static pthread_t start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("chan_bench: pthread_create");
        exit(1);
    }
    return t;
}

/* ---- buffered single producer, single consumer ---------------------- */

struct feed {
    tg_chan_t *a, *b;
    uint64_t n;
};

static void *producer(void *p)
{
    struct feed *f = p;
    for (uint64_t i = 0; i < f->n; i++) {
        int64_t v = (int64_t)i;
        CHECK(tg_chan_send(f->a, &v));
    }
    return NULL;
}

static void *consumer(void *p)
{
    struct feed *f = p;
    int64_t sum = 0;
    for (uint64_t i = 0; i < f->n; i++) {
        int64_t v;
        CHECK(tg_chan_recv(f->a, &v, NULL));
        sum += v;
    }
    atomic_fetch_add(&sink, sum);
    return NULL;
}

static int64_t bench_spsc(uint64_t n)
{
    tg_chan_t *ch;
    CHECK(tg_chan_new(&ch, sizeof(int64_t), 1024));
    struct feed f = { ch, NULL, n };
    int64_t t0 = bench_now();
    pthread_t p = start_thread(producer, &f);
    consumer(&f);
    int64_t t = bench_now() - t0;
    pthread_join(p, NULL);
    CHECK(tg_chan_free(ch));
    return t;
}

/* ---- buffered, two producers and two consumers ---------------------- */

static int64_t bench_mpmc(uint64_t n)
{
    tg_chan_t *ch;
    CHECK(tg_chan_new(&ch, sizeof(int64_t), 1024));
    struct feed f[2] = { { ch, NULL, n / 2 }, { ch, NULL, n - n / 2 } };
    pthread_t t[4];
    int64_t t0 = bench_now();
    for (int i = 0; i < 2; i++)
        t[i] = start_thread(producer, &f[i]);
    for (int i = 0; i < 2; i++)
        t[2 + i] = start_thread(consumer, &f[i]);
    for (int i = 2; i < 4; i++)
        pthread_join(t[i], NULL);
    int64_t el = bench_now() - t0;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(tg_chan_free(ch));
    return el;
}

/* ---- unbuffered ping-pong ------------------------------------------- */

static void *ponger(void *p)
{
    struct feed *f = p;
    for (uint64_t i = 0; i < f->n; i++) {
        int64_t v;
        CHECK(tg_chan_recv(f->a, &v, NULL));
        v++;
        CHECK(tg_chan_send(f->b, &v));
    }
    return NULL;
}

static int64_t bench_pingpong(uint64_t n)
{
    tg_chan_t *ping, *pong;
    CHECK(tg_chan_new(&ping, sizeof(int64_t), 0));
    CHECK(tg_chan_new(&pong, sizeof(int64_t), 0));
    struct feed f = { ping, pong, n };
    int64_t t0 = bench_now();
    pthread_t t = start_thread(ponger, &f);
    int64_t v = 0;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(tg_chan_send(ping, &v));
        CHECK(tg_chan_recv(pong, &v, NULL));
    }
    int64_t el = bench_now() - t0;
    pthread_join(t, NULL);
    atomic_store(&sink, v);
    CHECK(tg_chan_free(ping));
    CHECK(tg_chan_free(pong));
    return el;
}

/* ---- a pair of 2-case selects --------------------------------------- */

static void *select_sender(void *p)
{
    struct feed *f = p;
    for (uint64_t i = 0; i < f->n; i++) {
        int64_t v = (int64_t)i;
        tg_case_t c[2] = { TG_SEND(f->a, &v), TG_SEND(f->b, &v) };
        CHECK(tg_select(c, 2));
    }
    return NULL;
}

static int64_t bench_select2(uint64_t n)
{
    tg_chan_t *a, *b;
    CHECK(tg_chan_new(&a, sizeof(int64_t), 0));
    CHECK(tg_chan_new(&b, sizeof(int64_t), 0));
    struct feed f = { a, b, n };
    int64_t t0 = bench_now();
    pthread_t t = start_thread(select_sender, &f);
    int64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        int64_t v;
        tg_case_t c[2] = { TG_RECV(a, &v), TG_RECV(b, &v) };
        CHECK(tg_select(c, 2));
        sum += v;
    }
    int64_t el = bench_now() - t0;
    pthread_join(t, NULL);
    atomic_store(&sink, sum);
    CHECK(tg_chan_free(a));
    CHECK(tg_chan_free(b));
    return el;
}

/* ---- select with default on an empty channel ------------------------ */

static int64_t bench_select_default(uint64_t n)
{
    tg_chan_t *ch;
    CHECK(tg_chan_new(&ch, sizeof(int64_t), 1));
    int64_t misses = 0, v;
    int64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        tg_case_t c[1] = { TG_RECV(ch, &v) };
        if (tg_select_try(c, 1) == -EAGAIN)
            misses++;
    }
    int64_t el = bench_now() - t0;
    if ((uint64_t)misses != n) {
        fprintf(stderr, "chan_bench: select on an empty channel was ready\n");
        exit(1);
    }
    CHECK(tg_chan_free(ch));
    return el;
}

/* ---- context cancel fan-out to 1,000 children ----------------------- */

#define FANOUT 1000

static int64_t bench_ctx_fanout(uint64_t n)
{
    static tg_ctx_t *kids[FANOUT];
    int64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        tg_ctx_t *parent;
        CHECK(tg_ctx_with_cancel(NULL, &parent));
        for (int k = 0; k < FANOUT; k++)
            CHECK(tg_ctx_with_cancel(parent, &kids[k]));
        tg_ctx_cancel(parent);
        for (int k = 0; k < FANOUT; k++) {
            if (tg_ctx_wait(kids[k]) != -ECANCELED) {
                fprintf(stderr, "chan_bench: child not cancelled\n");
                exit(1);
            }
            tg_ctx_release(kids[k]);
        }
        tg_ctx_release(parent);
    }
    return bench_now() - t0;
}

/* ---- worker pool: per-task overhead --------------------------------- */

static _Atomic uint64_t jobs_done;

static void empty_job(void *arg)
{
    atomic_fetch_add_explicit(&jobs_done, 1, memory_order_relaxed);
}

static int64_t bench_pool(uint64_t n)
{
    atomic_store(&jobs_done, 0);
    int64_t t0 = bench_now();
    tg_pool_t *p;
    CHECK(tg_pool_new(&p, 2, 1024, "bench"));
    for (uint64_t i = 0; i < n; i++)
        CHECK(tg_pool_submit(p, empty_job, NULL));
    CHECK(tg_pool_shutdown(p));
    int64_t el = bench_now() - t0;
    if (atomic_load(&jobs_done) != n) {
        fprintf(stderr, "chan_bench: pool lost jobs\n");
        exit(1);
    }
    return el;
}

/* ---- errgroup: per-task overhead ------------------------------------ */

static _Atomic uint64_t tasks_ran;

static int empty_task(tg_ctx_t *ctx, void *arg)
{
    if (tg_ctx_err(ctx) == 0)
        atomic_fetch_add_explicit(&tasks_ran, 1, memory_order_relaxed);
    return 0;
}

static int64_t bench_errgroup(uint64_t n)
{
    atomic_store(&tasks_ran, 0);
    int64_t t0 = bench_now();
    tg_group_t *g;
    CHECK(tg_group_new(&g, NULL, NULL));
    CHECK(tg_group_set_limit(g, 4));
    for (uint64_t i = 0; i < n; i++)
        CHECK(tg_group_go(g, empty_task, NULL));
    CHECK(tg_group_wait(g));
    int64_t el = bench_now() - t0;
    CHECK(tg_group_free(g));
    if (atomic_load(&tasks_ran) != n) {
        fprintf(stderr, "chan_bench: errgroup lost tasks\n");
        exit(1);
    }
    return el;
}

/* ---- create and free a channel -------------------------------------- */

static int64_t bench_chan_new_free(uint64_t n)
{
    int64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        tg_chan_t *ch;
        CHECK(tg_chan_new(&ch, sizeof(int64_t), 0));
        CHECK(tg_chan_free(ch));
    }
    return bench_now() - t0;
}

static const struct bench_def defs[] = {
    { "spsc", bench_spsc, "buffered cap 1024, 1 producer 1 consumer, ns/value" },
    { "mpmc", bench_mpmc, "buffered cap 1024, 2 producers 2 consumers, ns/value" },
    { "pingpong", bench_pingpong, "unbuffered round trip between two threads" },
    { "select2", bench_select2, "2-case send select vs 2-case recv select, ns/value" },
    { "select_default", bench_select_default, "recv with default on an empty channel" },
    { "ctx_fanout", bench_ctx_fanout, "cancel a parent of 1000 children, ns/fan-out" },
    { "pool", bench_pool, "2 workers, queue 1024, ns per empty job" },
    { "errgroup", bench_errgroup, "limit 4, ns per empty task" },
    { "chan_new_free", bench_chan_new_free, "create and free an unbuffered channel" },
};

int main(int argc, char **argv)
{
    return bench_main(defs, sizeof defs / sizeof defs[0], argc, argv);
}
