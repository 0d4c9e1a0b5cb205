/*
 * runtime/pool.c: a worker pool: n named threads taking jobs from a
 * bounded queue.
 *
 * The queue is a tangle channel of job records, owned by the pool, so
 * back-pressure, giving up on a timeout or a context (a select over the
 * queue and the context's Done channel) and the drain at shutdown are the
 * channel's own semantics: shutdown closes the channel, the workers receive
 * what is buffered and stop when it reports closed, and blocked submitters
 * get -EPIPE. What the channel cannot give is a safe moment to free the
 * pool while submitters may still be inside a call: a gate word counts the
 * submit calls in flight, with a bit that shutdown sets to turn newcomers
 * away, and shutdown frees only once the count has drained to zero.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define NAME_MAX_LEN 15            /* the kernel keeps 15 bytes of a name */
#define GATE_CLOSED 0x80000000u

struct job {
    tg_job_fn fn;
    void *arg;
};

struct tg_pool {
    tg_chan_t *queue;              /* of struct job */
    unsigned nworkers;
    pthread_t *workers;
    _Atomic uint32_t gate;         /* submits in flight | GATE_CLOSED */
};

enum submit_mode { SUBMIT_BLOCK, SUBMIT_TRY, SUBMIT_CTX, SUBMIT_DEADLINE };

/* The pool whose worker the calling thread is, so shutdown from a job
 * fails instead of joining itself. */
static __thread tg_pool_t *current_pool;

static void probe(void (*fn)(const struct tg_probe *), int op, tg_pool_t *p,
                  int result, int64_t deadline)
{
    struct tg_probe pr = { .op = op, .kind = TG_OBJ_POOL, .obj = p,
                           .result = result, .deadline_ns = deadline,
                           .chosen = -1 };
    fn(&pr);
}

static void probe_park(int op, tg_pool_t *p, bool wake, int64_t deadline)
{
    const struct tg_hooks *h = tg__hooks_get();
    void (*fn)(const struct tg_probe *) = h ? (wake ? h->wake : h->park) : NULL;
    if (fn)
        probe(fn, op, p, 0, deadline);
}

static void probe_complete(int op, tg_pool_t *p, int result)
{
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->complete)
        probe(h->complete, op, p, result, TG_FOREVER);
}

static void gate_leave(tg_pool_t *p)
{
    /* The last one out after shutdown began wakes it; the wake may land
     * after the pool is freed, which a futex wake tolerates. */
    if (atomic_fetch_sub_explicit(&p->gate, 1, memory_order_acq_rel) ==
        (GATE_CLOSED | 1))
        tg__futex_wake(&p->gate, 1);
}

static bool gate_enter(tg_pool_t *p)
{
    if (atomic_fetch_add_explicit(&p->gate, 1, memory_order_acq_rel) &
        GATE_CLOSED) {
        gate_leave(p);
        return false;
    }
    return true;
}

static void *worker_main(void *arg)
{
    tg_pool_t *p = arg;
    struct job j;
    bool ok;
    current_pool = p;
    while (tg_chan_recv(p->queue, &j, &ok) == 0 && ok)
        j.fn(j.arg);
    /* Every job this worker ran happens before shutdown returns. The join
     * carries that for a tool that sees threads end; the probes say it
     * too, once per worker (its jobs ran in order on this thread), before
     * the thread ends and shutdown's join can return. */
    tg__begin(tg__hooks_get(), TG_PROBE_TASK_END, TG_OBJ_POOL, p, 0, 0,
              TG_FOREVER, NULL, 0);
    current_pool = NULL;
    return NULL;
}

/* Closes the queue and joins the first n workers. */
static void stop_workers(tg_pool_t *p, unsigned n)
{
    tg_chan_close(p->queue);
    for (unsigned i = 0; i < n; i++)
        pthread_join(p->workers[i], NULL);
}

static void destroy(tg_pool_t *p)
{
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->destroy)
        h->destroy(TG_OBJ_POOL, p);
    tg_chan_free(p->queue);
    free(p->workers);
    free(p);
}

int tg_pool_new(tg_pool_t **out, unsigned workers, size_t queue_cap,
                const char *name)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (workers == 0)
        return -EINVAL;
    if (!name || !*name)
        name = "tg-pool";
    tg_pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->workers = calloc(workers, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return -ENOMEM;
    }
    p->nworkers = workers;
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->create) {
        struct tg_obj_info info = { .cap = queue_cap, .name = name,
                                    .workers = workers,
                                    .deadline_ns = TG_FOREVER };
        h->create(TG_OBJ_POOL, p, &info);
    }
    int r = tg__chan_new_owned(&p->queue, sizeof(struct job), queue_cap, p);
    if (r) {
        p->queue = NULL;
        destroy(p);
        return r;
    }
    for (unsigned i = 0; i < workers; i++) {
        char tname[NAME_MAX_LEN + 1];
        /* Keep the index whole: shorten the prefix instead. */
        int digits = snprintf(NULL, 0, "-%u", i);
        snprintf(tname, sizeof tname, "%.*s-%u", NAME_MAX_LEN - digits, name,
                 i);
        r = tg__thread_start(&p->workers[i], worker_main, p, tname, 0, false);
        if (r) {
            stop_workers(p, i);
            destroy(p);
            return r;
        }
    }
    *out = p;
    return 0;
}

static int submit(tg_pool_t *p, tg_job_fn fn, void *arg, enum submit_mode mode,
                  tg_ctx_t *ctx, int64_t deadline)
{
    if (!p || !fn)
        return -EINVAL;
    int r;
    if (!gate_enter(p)) {
        r = -EPIPE;
        goto out;
    }
    /* A context already done wins over free room in the queue: the caller
     * asked not to submit once it is. */
    if (mode == SUBMIT_CTX && (r = tg_ctx_err(ctx)) != 0)
        goto leave;
    struct job j = { fn, arg };
    r = tg_chan_try_send(p->queue, &j);
    if (r != -EAGAIN || mode == SUBMIT_TRY)
        goto leave;
    int64_t park_deadline = deadline;
    if (mode == SUBMIT_CTX && tg_ctx_deadline(ctx, &park_deadline) != 0)
        park_deadline = TG_FOREVER;
    probe_park(TG_PROBE_POOL_SUBMIT, p, false, park_deadline);
    switch (mode) {
    case SUBMIT_DEADLINE:
        r = tg_chan_send_deadline(p->queue, &j, deadline);
        break;
    case SUBMIT_CTX: {
        tg_case_t cases[2] = { TG_SEND(p->queue, &j),
                               TG_RECV(tg_ctx_done(ctx), NULL) };
        int i = tg_select(cases, 2);
        if (i == 0)
            r = cases[0].err;
        else if (i == 1)
            r = tg_ctx_err(ctx);
        else
            r = i;
        break;
    }
    default:
        r = tg_chan_send(p->queue, &j);
        break;
    }
    probe_park(TG_PROBE_POOL_SUBMIT, p, true, park_deadline);
leave:
    gate_leave(p);
out:
    probe_complete(TG_PROBE_POOL_SUBMIT, p, r);
    return r;
}

int tg_pool_submit(tg_pool_t *p, tg_job_fn fn, void *arg)
{
    return submit(p, fn, arg, SUBMIT_BLOCK, NULL, TG_FOREVER);
}

int tg_pool_try_submit(tg_pool_t *p, tg_job_fn fn, void *arg)
{
    return submit(p, fn, arg, SUBMIT_TRY, NULL, TG_FOREVER);
}

int tg_pool_submit_ctx(tg_pool_t *p, tg_job_fn fn, void *arg, tg_ctx_t *ctx)
{
    return submit(p, fn, arg, SUBMIT_CTX, ctx, TG_FOREVER);
}

int tg_pool_submit_timeout(tg_pool_t *p, tg_job_fn fn, void *arg,
                           int64_t timeout_ns)
{
    int64_t deadline = tg__deadline_after(timeout_ns);
    return submit(p, fn, arg, SUBMIT_DEADLINE, NULL, deadline);
}

int tg_pool_shutdown(tg_pool_t *p)
{
    if (!p)
        return -EINVAL;
    if (current_pool == p) {
        probe_complete(TG_PROBE_POOL_SHUTDOWN, p, -EDEADLK);
        return -EDEADLK;
    }
    uint32_t v = atomic_fetch_or_explicit(&p->gate, GATE_CLOSED,
                                          memory_order_acq_rel);
    if (v & GATE_CLOSED) {
        probe_complete(TG_PROBE_POOL_SHUTDOWN, p, -EPIPE);
        return -EPIPE;
    }
    probe_park(TG_PROBE_POOL_SHUTDOWN, p, false, TG_FOREVER);
    /* Closing wakes blocked submitters with -EPIPE, and the workers drain
     * what is buffered before they see the close. */
    stop_workers(p, p->nworkers);
    while ((v = atomic_load_explicit(&p->gate, memory_order_acquire)) !=
           GATE_CLOSED)
        tg__futex_wait(&p->gate, v, TG_FOREVER);
    probe_park(TG_PROBE_POOL_SHUTDOWN, p, true, TG_FOREVER);
    probe_complete(TG_PROBE_POOL_SHUTDOWN, p, 0);
    destroy(p);
    return 0;
}
