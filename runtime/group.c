/*
 * runtime/group.c: errgroup (Go's golang.org/x/sync/errgroup): tasks on
 * their own threads, bound to one context, with the first failure kept and
 * the others told to stop through that context.
 *
 * One counter of running tasks serves both the limit (tg_group_go takes a
 * slot by compare-and-swap, parks while there is none) and tg_group_wait
 * (parks until it is zero); both park on one futex word that every
 * finishing task advances. Task threads are joinable, so that once
 * tg_group_wait returns no task thread is left, not even on its way out;
 * a finished task puts its record on a lock-free list, and the next
 * tg_group_go or tg_group_wait joins what is there, so a long-lived group
 * running many short tasks does not pile up unjoined threads. Which of the
 * starter and the task puts the record on the list is settled by a count
 * of two: the one that comes second, when the thread id is known for sure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ctx.c: tg_ctx_with_cancel whose context the probes see as owned by
 * owner. Belongs in internal.h. */
int tg__ctx_with_owner(tg_ctx_t *parent, const void *owner, tg_ctx_t **out);

#define NAME_MAX_LEN 15   /* the kernel keeps 15 bytes of a thread name */

struct task {
    tg_group_t *g;
    tg_task_fn fn;
    void *arg;
    pthread_t tid;
    _Atomic int handoff;          /* starter and task each drop one */
    struct task *next;            /* on g->finished */
};

struct tg_group {
    tg_ctx_t *ctx;
    _Atomic int limit;            /* <= 0: none */
    _Atomic int err;              /* first non-zero result */
    _Atomic uint32_t running;     /* tasks holding a slot */
    _Atomic uint32_t seq;         /* advanced by every finishing task */
    _Atomic uint32_t waiters;     /* threads parked on seq */
    _Atomic uint32_t started;     /* numbers the task threads' names */
    _Atomic(struct task *) finished;
    char name[NAME_MAX_LEN + 1];
};

static void probe(void (*fn)(const struct tg_probe *), int op, tg_group_t *g,
                  int result)
{
    struct tg_probe p = { .op = op, .kind = TG_OBJ_GROUP, .obj = g,
                          .result = result, .deadline_ns = TG_FOREVER,
                          .chosen = -1 };
    fn(&p);
}

static void probe_park(int op, tg_group_t *g, bool wake)
{
    const struct tg_hooks *h = tg__hooks_get();
    void (*fn)(const struct tg_probe *) = h ? (wake ? h->wake : h->park) : NULL;
    if (fn)
        probe(fn, op, g, 0);
}

static void probe_complete(int op, tg_group_t *g, int result)
{
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->complete)
        probe(h->complete, op, g, result);
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
    atomic_fetch_add_explicit(&g->waiters, 1, memory_order_seq_cst);
    uint32_t n = atomic_load_explicit(&g->running, memory_order_seq_cst);
    if (limit ? n >= limit : n != 0)
        tg__futex_wait(&g->seq, seq, TG_FOREVER);
    atomic_fetch_sub_explicit(&g->waiters, 1, memory_order_relaxed);
}

/* Joins every task that has finished. Only the threads on the list are
 * joined, and each has returned from its function: joining takes at most
 * the time of its exit. */
static void reap(tg_group_t *g)
{
    struct task *t = atomic_exchange_explicit(&g->finished, NULL,
                                              memory_order_acquire);
    while (t) {
        struct task *next = t->next;
        pthread_join(t->tid, NULL);
        free(t);
        t = next;
    }
}

/* The second of the starter and the task to drop its hold publishes the
 * record for reaping; by then tid has certainly been written. */
static void task_drop(struct task *t)
{
    if (atomic_fetch_sub_explicit(&t->handoff, 1, memory_order_acq_rel) != 1)
        return;
    tg_group_t *g = t->g;
    struct task *head = atomic_load_explicit(&g->finished,
                                             memory_order_relaxed);
    do
        t->next = head;
    while (!atomic_compare_exchange_weak_explicit(&g->finished, &head, t,
                                                  memory_order_release,
                                                  memory_order_relaxed));
}

static void *task_main(void *arg)
{
    struct task *t = arg;
    tg_group_t *g = t->g;
    int r = t->fn(g->ctx, t->arg);
    if (r != 0)
        fail(g, r);
    /* Published before the slot is released, so that a wait that sees
     * running at zero finds every record on the list. */
    task_drop(t);
    release_slot(g);
    return NULL;
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
    reap(g);
    int r = take_slot(g, block);
    if (r) {
        probe_complete(TG_PROBE_GROUP_GO, g, r);
        return r;
    }
    struct task *t = malloc(sizeof *t);
    if (!t) {
        r = -ENOMEM;
    } else {
        *t = (struct task){ .g = g, .fn = fn, .arg = arg };
        atomic_init(&t->handoff, 2);
        char name[NAME_MAX_LEN + 1];
        unsigned i = atomic_fetch_add_explicit(&g->started, 1,
                                               memory_order_relaxed);
        /* Keep the number whole: shorten the prefix instead. */
        int digits = snprintf(NULL, 0, "-%u", i);
        snprintf(name, sizeof name, "%.*s-%u", NAME_MAX_LEN - digits, g->name,
                 i);
        r = tg__thread_start(&t->tid, task_main, t, name, 0, false);
        if (r)
            free(t);
        else
            task_drop(t);
    }
    if (r) {
        /* A task that could not start counts as the group's failure. */
        fail(g, r);
        release_slot(g);
    }
    probe_complete(TG_PROBE_GROUP_GO, g, r);
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
    reap(g);
    int err = atomic_load_explicit(&g->err, memory_order_acquire);
    tg_ctx_cancel_cause(g->ctx, err);
    probe_complete(TG_PROBE_GROUP_WAIT, g, err);
    return err;
}

int tg_group_free(tg_group_t *g)
{
    if (!g)
        return 0;
    if (atomic_load_explicit(&g->running, memory_order_acquire) != 0) {
        probe_complete(TG_PROBE_FREE, g, -EBUSY);
        return -EBUSY;
    }
    reap(g);
    tg_ctx_release(g->ctx);
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->destroy)
        h->destroy(TG_OBJ_GROUP, g);
    free(g);
    return 0;
}
