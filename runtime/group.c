/*
 * runtime/group.c: errgroup (Go's golang.org/x/sync/errgroup): tasks on
 * their own threads, bound to one context, with the first failure kept and
 * the others told to stop through that context.
 *
 * One counter of running tasks serves both the limit (tg_group_go takes a
 * slot by compare-and-swap, parks while there is none) and tg_group_wait
 * (parks until it is zero); both park on one futex word that every
 * finishing task advances. Starting a thread per task would cost tens of
 * microseconds each, so a task runs on a runner: a named, joinable thread
 * of the group that, its task done, parks on its own futex word until
 * tg_group_go hands it the next one. A runner lists itself as idle before
 * it gives its slot back, so once no task is running every runner is on
 * the idle list; tg_group_wait then tells them to exit and joins them, and
 * no thread of the group outlives it. A group therefore holds at most as
 * many threads as tasks ever ran at once, and none after tg_group_wait.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ctx.c: tg_ctx_with_cancel whose context the probes see as owned by
 * owner. Belongs in internal.h. */
int tg__ctx_with_owner(tg_ctx_t *parent, const void *owner, tg_ctx_t **out);

#define NAME_MAX_LEN 15   /* the kernel keeps 15 bytes of a thread name */
#define SPIN 200          /* polls before parking, a few microseconds */

/* A runner's state. R_SLEEP is R_IDLE with the runner in the kernel, so
 * that handing over a task to a runner still spinning costs no wake. */
enum { R_IDLE, R_SLEEP, R_TASK, R_EXIT };

struct runner {
    tg_group_t *g;
    pthread_t tid;
    _Atomic uint32_t state;       /* R_*: the futex word it parks on */
    tg_task_fn fn;                /* the task handed over, written before */
    void *arg;                    /* state becomes R_TASK */
    uint64_t task;                /* its number, for the probes */
    struct runner *next_idle;     /* under g->lock */
    struct runner *next_all;      /* under g->lock */
};

struct tg_group {
    tg_ctx_t *ctx;
    _Atomic int limit;            /* <= 0: none */
    _Atomic int err;              /* first non-zero result */
    _Atomic uint32_t running;     /* tasks holding a slot */
    _Atomic uint32_t seq;         /* advanced by every finishing task */
    _Atomic uint32_t waiters;     /* threads parked on seq */
    _Atomic uint32_t started;     /* numbers the runners' names */
    _Atomic uint64_t tasks;       /* numbers the tasks, for the probes */
    tg__lock_t lock;              /* guards idle and all */
    struct runner *idle;          /* parked, waiting for a task */
    struct runner *all;           /* every runner not yet joined */
    char name[NAME_MAX_LEN + 1];
};

static void probe(void (*fn)(const struct tg_probe *), int op, tg_group_t *g,
                  int result, uint64_t seq)
{
    struct tg_probe p = { .op = op, .kind = TG_OBJ_GROUP, .obj = g,
                          .result = result, .seq = seq,
                          .deadline_ns = TG_FOREVER, .chosen = -1 };
    fn(&p);
}

static void probe_park(int op, tg_group_t *g, bool wake)
{
    const struct tg_hooks *h = tg__hooks_get();
    void (*fn)(const struct tg_probe *) = h ? (wake ? h->wake : h->park) : NULL;
    if (fn)
        probe(fn, op, g, 0, 0);
}

static void probe_complete(int op, tg_group_t *g, int result, uint64_t seq)
{
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->complete)
        probe(h->complete, op, g, result, seq);
}

/* Keeps r as the group's result if it is the first failure, and then
 * cancels the group's context with r as the cause, as errgroup does. */
static void fail(tg_group_t *g, int r)
{
    int zero = 0;
    if (atomic_compare_exchange_strong_explicit(&g->err, &zero, r,
                                                memory_order_acq_rel,
                                                memory_order_acquire))
        tg_ctx_cancel_cause(g->ctx, r);
}

/* Gives a slot back and wakes whoever waits for one or for zero. The
 * seq_cst pair (running here, waiters in park_on_seq) makes sure that
 * either the sleeper sees the slot or this sees the sleeper. */
static void release_slot(tg_group_t *g)
{
    atomic_fetch_sub_explicit(&g->running, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&g->seq, 1, memory_order_release);
    if (atomic_load_explicit(&g->waiters, memory_order_seq_cst) != 0)
        tg__futex_wake(&g->seq, INT32_MAX);
}

/* Sleeps until seq moves on from the value the caller read before its last
 * look at running, unless, now that the caller is counted as a waiter,
 * running shows it need not (a free slot under limit, or zero for a wait:
 * limit 0). */
static void park_on_seq(tg_group_t *g, uint32_t seq, uint32_t limit)
{
    /* Tasks are often short: a moment of spinning saves the sleep and the
     * wake, two context switches. */
    for (int i = 0; i < SPIN; i++) {
        if (atomic_load_explicit(&g->seq, memory_order_acquire) != seq)
            return;
        tg__cpu_relax();
    }
    atomic_fetch_add_explicit(&g->waiters, 1, memory_order_seq_cst);
    uint32_t n = atomic_load_explicit(&g->running, memory_order_seq_cst);
    if (limit ? n >= limit : n != 0)
        tg__futex_wait(&g->seq, seq, TG_FOREVER);
    atomic_fetch_sub_explicit(&g->waiters, 1, memory_order_relaxed);
}

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    tg_group_t *g = r->g;
    for (;;) {
        /* The hand-off is the state word, which no probe sees: say that
         * the go that handed this task over happened before it runs, and
         * that the task happened before its slot goes back (and so before
         * a wait that finds no task running). */
        uint64_t task = r->task;
        probe_complete(TG_PROBE_TASK_START, g, 0, task);
        int rc = r->fn(g->ctx, r->arg);
        tg__begin(tg__hooks_get(), TG_PROBE_TASK_END, TG_OBJ_GROUP, g, task,
                  0, TG_FOREVER, NULL, 0);
        if (rc != 0)
            fail(g, rc);
        /* Idle before the slot goes back: a wait that sees no task running
         * must find every runner on the list. A go may hand a task over
         * from here on; the loop below then finds R_TASK. */
        atomic_store_explicit(&r->state, R_IDLE, memory_order_relaxed);
        tg__lock(&g->lock);
        r->next_idle = g->idle;
        g->idle = r;
        tg__unlock(&g->lock);
        release_slot(g);
        uint32_t s = R_IDLE;
        for (int i = 0; i < SPIN && s == R_IDLE; i++) {
            tg__cpu_relax();
            s = atomic_load_explicit(&r->state, memory_order_acquire);
        }
        if (s == R_IDLE &&
            atomic_compare_exchange_strong_explicit(&r->state, &s, R_SLEEP,
                                                    memory_order_acquire,
                                                    memory_order_acquire))
            s = R_SLEEP;
        if (s == R_SLEEP) {
            /* Parked between tasks: a report shows "group idle" (at exit:
             * a group that was never waited for), not "running". */
            probe_park(TG_PROBE_GROUP_IDLE, g, false);
            while (s == R_SLEEP) {
                tg__futex_wait(&r->state, R_SLEEP, TG_FOREVER);
                s = atomic_load_explicit(&r->state, memory_order_acquire);
            }
            probe_park(TG_PROBE_GROUP_IDLE, g, true);
        }
        TG__HAPPENS_AFTER(r);
        if (s == R_EXIT)
            return NULL;
    }
}

/* Once no task is running (so every runner is idle): tells the runners to
 * exit and joins them. */
static void stop_runners(tg_group_t *g)
{
    tg__lock(&g->lock);
    struct runner *idle = g->idle, *all = g->all;
    g->idle = g->all = NULL;
    tg__unlock(&g->lock);
    for (struct runner *r = idle; r; r = r->next_idle)
        if (atomic_exchange_explicit(&r->state, R_EXIT,
                                     memory_order_release) == R_SLEEP)
            tg__futex_wake(&r->state, 1);
    while (all) {
        struct runner *next = all->next_all;
        pthread_join(all->tid, NULL);
        TG__FORGET(all);
        free(all);
        all = next;
    }
}

/* Runs fn(arg) on an idle runner, or on a new one. The caller holds a slot
 * for it. Returns 0 or a negative errno (no runner could be started). */
static int dispatch(tg_group_t *g, tg_task_fn fn, void *arg, uint64_t task)
{
    tg__lock(&g->lock);
    struct runner *r = g->idle;
    if (r)
        g->idle = r->next_idle;
    tg__unlock(&g->lock);
    if (r) {
        r->fn = fn;
        r->arg = arg;
        r->task = task;
        TG__HAPPENS_BEFORE(r);
        if (atomic_exchange_explicit(&r->state, R_TASK,
                                     memory_order_acq_rel) == R_SLEEP)
            tg__futex_wake(&r->state, 1);
        return 0;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    *r = (struct runner){ .g = g, .fn = fn, .arg = arg, .task = task };
    atomic_init(&r->state, R_TASK);
    TG__ATOMIC_WORD(&r->state, sizeof r->state);
    char name[NAME_MAX_LEN + 1];
    unsigned i = atomic_fetch_add_explicit(&g->started, 1,
                                           memory_order_relaxed);
    /* Keep the number whole: shorten the prefix instead. */
    int digits = snprintf(NULL, 0, "-%u", i);
    snprintf(name, sizeof name, "%.*s-%u", NAME_MAX_LEN - digits, g->name, i);
    int rc = tg__thread_start(&r->tid, runner_main, r, name, 0, false);
    if (rc) {
        free(r);
        return rc;
    }
    /* Listed before this go returns, and so before the slot it holds can
     * be given back: no wait can miss it. */
    tg__lock(&g->lock);
    r->next_all = g->all;
    g->all = r;
    tg__unlock(&g->lock);
    return 0;
}

/* Takes a slot under the limit. Returns 0, or -EAGAIN when !block and the
 * limit is reached. */
static int take_slot(tg_group_t *g, bool block)
{
    int lim = atomic_load_explicit(&g->limit, memory_order_relaxed);
    if (lim <= 0) {
        atomic_fetch_add_explicit(&g->running, 1, memory_order_seq_cst);
        return 0;
    }
    bool parked = false;
    for (;;) {
        uint32_t seq = atomic_load_explicit(&g->seq, memory_order_acquire);
        uint32_t n = atomic_load_explicit(&g->running, memory_order_seq_cst);
        while (n < (uint32_t)lim)
            if (atomic_compare_exchange_weak_explicit(&g->running, &n, n + 1,
                                                      memory_order_seq_cst,
                                                      memory_order_seq_cst)) {
                if (parked)
                    probe_park(TG_PROBE_GROUP_GO, g, true);
                return 0;
            }
        if (!block)
            return -EAGAIN;
        if (!parked)
            probe_park(TG_PROBE_GROUP_GO, g, false);
        parked = true;
        park_on_seq(g, seq, (uint32_t)lim);
    }
}

static int group_go(tg_group_t *g, tg_task_fn fn, void *arg, bool block)
{
    if (!g || !fn)
        return -EINVAL;
    int r = take_slot(g, block);
    uint64_t task = 0;
    if (r == 0) {
        task = atomic_fetch_add_explicit(&g->tasks, 1, memory_order_relaxed);
        /* Before the hand-off: the runner may start the task, and fire
         * its TASK_START complete, before this go returns. */
        tg__begin(tg__hooks_get(), TG_PROBE_TASK_START, TG_OBJ_GROUP, g, task,
                  0, TG_FOREVER, NULL, 0);
        if ((r = dispatch(g, fn, arg, task)) != 0) {
            /* A task that could not start counts as the group's failure. */
            fail(g, r);
            release_slot(g);
        }
    }
    probe_complete(TG_PROBE_GROUP_GO, g, r, task);
    return r;
}

int tg_group_new(tg_group_t **out, tg_ctx_t *parent, tg_ctx_t **ctx_out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    tg_group_t *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    strcpy(g->name, "tg-group");
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->create) {
        struct tg_obj_info info = { .parent = parent,
                                    .deadline_ns = TG_FOREVER,
                                    .name = g->name };
        h->create(TG_OBJ_GROUP, g, &info);
    }
    int r = tg__ctx_with_owner(parent, g, &g->ctx);
    if (r) {
        h = tg__hooks_get();
        if (h && h->destroy)
            h->destroy(TG_OBJ_GROUP, g);
        free(g);
        return r;
    }
    if (ctx_out)
        *ctx_out = g->ctx;
    *out = g;
    return 0;
}

int tg_group_set_limit(tg_group_t *g, int limit)
{
    if (!g)
        return -EINVAL;
    if (atomic_load_explicit(&g->running, memory_order_acquire) != 0)
        return -EBUSY;
    atomic_store_explicit(&g->limit, limit, memory_order_relaxed);
    return 0;
}

int tg_group_set_name(tg_group_t *g, const char *name)
{
    if (!g || !name || !*name)
        return -EINVAL;
    snprintf(g->name, sizeof g->name, "%s", name);
    return 0;
}

int tg_group_go(tg_group_t *g, tg_task_fn fn, void *arg)
{
    return group_go(g, fn, arg, true);
}

int tg_group_try_go(tg_group_t *g, tg_task_fn fn, void *arg)
{
    return group_go(g, fn, arg, false);
}

int tg_group_wait(tg_group_t *g)
{
    if (!g)
        return -EINVAL;
    bool parked = false;
    for (;;) {
        uint32_t seq = atomic_load_explicit(&g->seq, memory_order_acquire);
        if (atomic_load_explicit(&g->running, memory_order_seq_cst) == 0)
            break;
        if (!parked)
            probe_park(TG_PROBE_GROUP_WAIT, g, false);
        parked = true;
        park_on_seq(g, seq, 0);
    }
    if (parked)
        probe_park(TG_PROBE_GROUP_WAIT, g, true);
    stop_runners(g);
    int err = atomic_load_explicit(&g->err, memory_order_acquire);
    tg_ctx_cancel_cause(g->ctx, err);
    probe_complete(TG_PROBE_GROUP_WAIT, g, err, 0);
    return err;
}

int tg_group_free(tg_group_t *g)
{
    if (!g)
        return 0;
    if (atomic_load_explicit(&g->running, memory_order_acquire) != 0) {
        probe_complete(TG_PROBE_FREE, g, -EBUSY, 0);
        return -EBUSY;
    }
    stop_runners(g);
    tg_ctx_release(g->ctx);
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->destroy)
        h->destroy(TG_OBJ_GROUP, g);
    TG__FORGET(&g->lock);
    free(g);
    return 0;
}
