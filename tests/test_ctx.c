/*
 * tests/test_ctx.c: contexts: cancellation reaching every descendant
 * (deep chains, wide fans, children created during the cancel), deadlines
 * that wake a blocked receive or select on Done with nobody polling and
 * never fire early, one winner among concurrent cancels, causes, and
 * freeing in any order (run once under valgrind --leak-check=full).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "annotate.h"
#include "tangle/hooks.h"
#include "tangle/tangle.h"

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Done is closed: a receive completes at once and reports closed. */
static bool done_closed(tg_ctx_t *c)
{
    bool ok = true;
    return tg_chan_try_recv(tg_ctx_done(c), NULL, &ok) == 0 && !ok;
}

/* ---- a probe recorder: counts what the context probes report ---- */

static _Atomic int n_cancel, n_create, n_destroy, n_park, n_wake;
static _Atomic int last_cancel_result;
static _Atomic int64_t last_cancel_cause;
static const void *_Atomic last_create_parent;
static _Atomic bool last_create_cancelable;

static void rec_create(int kind, const void *obj, const struct tg_obj_info *i)
{
    if (kind != TG_OBJ_CTX)
        return;
    atomic_store(&last_create_parent, i->parent);
    atomic_store(&last_create_cancelable, i->cancelable);
    atomic_fetch_add(&n_create, 1);
}

static void rec_destroy(int kind, const void *obj)
{
    if (kind == TG_OBJ_CTX)
        atomic_fetch_add(&n_destroy, 1);
}

static void rec_park(const struct tg_probe *p)
{
    if (p->op == TG_PROBE_CTX_WAIT)
        atomic_fetch_add(&n_park, 1);
}

static void rec_wake(const struct tg_probe *p)
{
    if (p->op == TG_PROBE_CTX_WAIT)
        atomic_fetch_add(&n_wake, 1);
}

static void rec_complete(const struct tg_probe *p)
{
    if (p->op != TG_PROBE_CTX_CANCEL)
        return;
    atomic_store(&last_cancel_result, p->result);
    atomic_store(&last_cancel_cause, p->value);
    atomic_fetch_add(&n_cancel, 1);
}

static const struct tg_hooks recorder = {
    .version = TG_HOOKS_VERSION, .create = rec_create,
    .destroy = rec_destroy, .park = rec_park, .wake = rec_wake,
    .complete = rec_complete,
};

static void install_recorder(void)
{
    tg_hooks_install(&recorder);
}

static void remove_recorder(void)
{
    tg_hooks_install(NULL);
}

/* ---- background ---- */

Test(ctx, background_is_never_done_has_no_done_channel_and_no_deadline)
{
    tg_ctx_t *bg = tg_ctx_background();
    int64_t d;
    cr_assert_not_null(bg);
    cr_assert_null(tg_ctx_done(bg));
    cr_assert_eq(tg_ctx_err(bg), 0);
    cr_assert_eq(tg_ctx_cause(bg), 0);
    cr_assert_eq(tg_ctx_deadline(bg, &d), -ENOENT);
    tg_ctx_cancel(bg);             /* no effect */
    tg_ctx_free(bg);               /* no effect */
    cr_assert_eq(tg_ctx_err(bg), 0);
    cr_assert_eq(tg_ctx_err(NULL), 0);
}

/* ---- cancel ---- */

Test(ctx, cancel_sets_err_canceled_and_closes_done)
{
    tg_ctx_t *c;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &c), 0);
    cr_assert_not_null(tg_ctx_done(c));
    cr_assert_eq(tg_ctx_err(c), 0);
    cr_assert_not(done_closed(c));
    tg_ctx_cancel(c);
    cr_assert_eq(tg_ctx_err(c), -ECANCELED);
    cr_assert_eq(tg_ctx_cause(c), -ECANCELED);
    cr_assert(done_closed(c));
    tg_ctx_free(c);
}

Test(ctx, cancel_propagates_down_a_chain_1000_deep, .timeout = 60)
{
    enum { N = 1000 };
    tg_ctx_t **c = malloc(N * sizeof *c);
    cr_assert_eq(tg_ctx_with_cancel(NULL, &c[0]), 0);
    for (int i = 1; i < N; i++)
        cr_assert_eq(tg_ctx_with_cancel(c[i - 1], &c[i]), 0);
    cr_assert_eq(tg_ctx_err(c[N - 1]), 0);
    tg_ctx_cancel(c[0]);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tg_ctx_err(c[i]), -ECANCELED, "depth %d", i);
        cr_assert(done_closed(c[i]), "depth %d", i);
    }
    /* Root first: every level's memory must survive until its child goes. */
    for (int i = 0; i < N; i++)
        tg_ctx_free(c[i]);
    free(c);
}

Test(ctx, cancel_in_the_middle_of_a_chain_spares_the_ancestors, .timeout = 60)
{
    enum { N = 1000 };
    tg_ctx_t **c = malloc(N * sizeof *c);
    cr_assert_eq(tg_ctx_with_cancel(NULL, &c[0]), 0);
    for (int i = 1; i < N; i++)
        cr_assert_eq(tg_ctx_with_cancel(c[i - 1], &c[i]), 0);
    tg_ctx_cancel(c[N / 2]);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_ctx_err(c[i]), i < N / 2 ? 0 : -ECANCELED,
                     "depth %d", i);
    /* Leaf first: reclaiming walks back up level by level. */
    for (int i = N - 1; i >= 0; i--)
        tg_ctx_release(c[i]);
    free(c);
}

Test(ctx, cancel_reaches_1000_siblings_and_fires_one_probe_each, .timeout = 60)
{
    enum { N = 1000 };
    tg_ctx_t *root, *kid[N];
    install_recorder();
    cr_assert_eq(tg_ctx_with_cancel(NULL, &root), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_ctx_with_cancel(root, &kid[i]), 0);
    cr_assert_eq(atomic_load(&n_create), N + 1);
    tg_ctx_cancel(root);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tg_ctx_err(kid[i]), -ECANCELED, "child %d", i);
        cr_assert(done_closed(kid[i]), "child %d", i);
    }
    cr_assert_eq(atomic_load(&n_cancel), N + 1);
    tg_ctx_cancel(root);               /* idempotent: no new probe */
    tg_ctx_cancel(kid[7]);
    cr_assert_eq(atomic_load(&n_cancel), N + 1);
    for (int i = 0; i < N; i++)
        tg_ctx_free(kid[i]);
    tg_ctx_free(root);
    cr_assert_eq(atomic_load(&n_destroy), N + 1);
    remove_recorder();
}

Test(ctx, cancelling_a_child_leaves_parent_and_siblings_alone)
{
    tg_ctx_t *p, *a, *b;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &p), 0);
    cr_assert_eq(tg_ctx_with_cancel(p, &a), 0);
    cr_assert_eq(tg_ctx_with_cancel(p, &b), 0);
    tg_ctx_cancel(a);
    cr_assert_eq(tg_ctx_err(a), -ECANCELED);
    cr_assert_eq(tg_ctx_err(p), 0);
    cr_assert_eq(tg_ctx_err(b), 0);
    cr_assert_not(done_closed(b));
    tg_ctx_release(a);
    tg_ctx_release(b);
    tg_ctx_release(p);
}

Test(ctx, child_of_cancelled_parent_is_born_done_with_its_cause)
{
    tg_ctx_t *p, *c, *t;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &p), 0);
    tg_ctx_cancel_cause(p, -EIO);
    cr_assert_eq(tg_ctx_with_cancel(p, &c), 0);
    cr_assert_eq(tg_ctx_with_timeout(p, TG_SEC * 100, &t), 0);
    cr_assert_eq(tg_ctx_err(c), -ECANCELED);
    cr_assert_eq(tg_ctx_cause(c), -EIO);
    cr_assert(done_closed(c));
    cr_assert_eq(tg_ctx_err(t), -ECANCELED);
    cr_assert(done_closed(t));
    tg_ctx_release(c);
    tg_ctx_release(t);
    tg_ctx_release(p);
}

/* Eight threads cancel one context at once: it is cancelled once (one
 * probe), with the verdict of whichever came first, and every caller
 * returns with Done already closed. */
struct racer {
    tg_ctx_t *ctx;
    pthread_barrier_t *bar;
    int cause;
    bool saw_closed;
};

static void *cancel_racer(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->bar);
    tg_ctx_cancel_cause(r->ctx, r->cause);
    r->saw_closed = done_closed(r->ctx);
    return NULL;
}

Test(ctx, cancel_from_8_threads_at_once_has_exactly_one_winner, .timeout = 60)
{
    enum { T = 8, ROUNDS = 50 };
    install_recorder();
    for (int round = 0; round < ROUNDS; round++) {
        tg_ctx_t *c, *kid;
        pthread_barrier_t bar;
        pthread_t th[T];
        struct racer r[T];
        cr_assert_eq(tg_ctx_with_cancel(NULL, &c), 0);
        cr_assert_eq(tg_ctx_with_cancel(c, &kid), 0);
        atomic_store(&n_cancel, 0);
        pthread_barrier_init(&bar, NULL, T);
        for (int i = 0; i < T; i++) {
            r[i] = (struct racer){ .ctx = c, .bar = &bar, .cause = -(100 + i) };
            pthread_create(&th[i], NULL, cancel_racer, &r[i]);
        }
        for (int i = 0; i < T; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&bar);
        cr_assert_eq(atomic_load(&n_cancel), 2, "round %d: one per context",
                     round);
        int cause = tg_ctx_cause(c);
        cr_assert(cause <= -100 && cause > -100 - T, "cause %d", cause);
        cr_assert_eq(tg_ctx_cause(kid), cause);
        cr_assert_eq(atomic_load(&last_cancel_cause), cause);
        for (int i = 0; i < T; i++)
            cr_assert(r[i].saw_closed, "racer %d returned before the close", i);
        tg_ctx_release(kid);
        tg_ctx_release(c);
    }
    remove_recorder();
}

Test(ctx, cause_is_the_first_given_and_defaults_to_err)
{
    tg_ctx_t *a, *b;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &a), 0);
    cr_assert_eq(tg_ctx_cause(a), 0);
    tg_ctx_cancel_cause(a, -EIO);
    tg_ctx_cancel_cause(a, -EPERM);
    cr_assert_eq(tg_ctx_err(a), -ECANCELED);
    cr_assert_eq(tg_ctx_cause(a), -EIO);
    cr_assert_eq(tg_ctx_with_cancel(NULL, &b), 0);
    tg_ctx_cancel_cause(b, 0);
    cr_assert_eq(tg_ctx_cause(b), -ECANCELED);
    tg_ctx_release(a);
    tg_ctx_release(b);
}

/* ---- deadlines ---- */

Test(ctx, deadline_is_the_earliest_of_own_and_ancestors)
{
    tg_ctx_t *p, *near, *far, *plain;
    int64_t dp, d;
    cr_assert_eq(tg_ctx_with_timeout(NULL, 100 * TG_SEC, &p), 0);
    cr_assert_eq(tg_ctx_deadline(p, &dp), 0);
    cr_assert_eq(tg_ctx_with_timeout(p, 10 * TG_SEC, &near), 0);
    cr_assert_eq(tg_ctx_with_timeout(p, 1000 * TG_SEC, &far), 0);
    cr_assert_eq(tg_ctx_with_cancel(p, &plain), 0);
    cr_assert_eq(tg_ctx_deadline(near, &d), 0);
    cr_assert_lt(d, dp);
    cr_assert_eq(tg_ctx_deadline(far, &d), 0);
    cr_assert_eq(d, dp);
    cr_assert_eq(tg_ctx_deadline(plain, &d), 0);
    cr_assert_eq(d, dp);
    tg_ctx_t *nodl;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &nodl), 0);
    cr_assert_eq(tg_ctx_deadline(nodl, &d), -ENOENT);
    tg_ctx_release(near);
    tg_ctx_release(far);
    tg_ctx_release(plain);
    tg_ctx_release(p);
    tg_ctx_release(nodl);
}

Test(ctx, timeout_in_the_past_is_born_expired)
{
    tg_ctx_t *c;
    cr_assert_eq(tg_ctx_with_timeout(NULL, -1, &c), 0);
    cr_assert_eq(tg_ctx_err(c), -ETIMEDOUT);
    cr_assert_eq(tg_ctx_cause(c), -ETIMEDOUT);
    cr_assert(done_closed(c));
    tg_ctx_release(c);
}

Test(ctx, err_notices_a_passed_deadline_with_nobody_waiting, .timeout = 30)
{
    tg_ctx_t *c, *kid;
    install_recorder();
    cr_assert_eq(tg_ctx_with_timeout(NULL, 20 * TG_MSEC, &c), 0);
    cr_assert_eq(tg_ctx_with_cancel(c, &kid), 0);
    int64_t d;
    cr_assert_eq(tg_ctx_deadline(c, &d), 0);
    while (tg_now() < d)
        sleep_ms(5);
    cr_assert_eq(tg_ctx_err(c), -ETIMEDOUT);
    cr_assert_eq(tg_ctx_err(kid), -ETIMEDOUT);
    cr_assert(done_closed(kid));
    cr_assert_eq(atomic_load(&n_cancel), 2);
    cr_assert_eq(atomic_load(&last_cancel_result), -ETIMEDOUT);
    /* Cancelling after expiry does not change the verdict. */
    tg_ctx_cancel(c);
    cr_assert_eq(tg_ctx_err(c), -ETIMEDOUT);
    tg_ctx_release(kid);
    tg_ctx_release(c);
    remove_recorder();
}

Test(ctx, child_deadline_from_parent_fires_in_the_child)
{
    tg_ctx_t *p, *c;
    cr_assert_eq(tg_ctx_with_timeout(NULL, 30 * TG_MSEC, &p), 0);
    cr_assert_eq(tg_ctx_with_cancel(p, &c), 0);
    int64_t d;
    cr_assert_eq(tg_ctx_deadline(p, &d), 0);
    cr_assert_eq(tg_ctx_wait(c), -ETIMEDOUT);
    cr_assert_geq(tg_now(), d, "child expired before its parent's deadline");
    cr_assert_eq(tg_ctx_err(p), -ETIMEDOUT);
    tg_ctx_release(c);
    tg_ctx_release(p);
}

struct blocked {
    tg_ctx_t *ctx;
    tg_chan_t *other;
    int rc;
    bool ok;
    int64_t woke_at;
};

static void *recv_on_done(void *arg)
{
    struct blocked *b = arg;
    b->ok = true;
    b->rc = tg_chan_recv(tg_ctx_done(b->ctx), NULL, &b->ok);
    b->woke_at = tg_now();
    return NULL;
}

static void *select_on_done(void *arg)
{
    struct blocked *b = arg;
    int v;
    tg_case_t cases[2] = { TG_RECV(b->other, &v),
                           TG_RECV(tg_ctx_done(b->ctx), NULL) };
    b->rc = tg_select(cases, 2);
    b->ok = cases[1].ok;
    b->woke_at = tg_now();
    return NULL;
}

Test(ctx, deadline_wakes_a_thread_blocked_in_recv_on_done, .timeout = 30)
{
    tg_ctx_t *c;
    struct blocked b = { 0 };
    pthread_t th;
    int64_t d;
    cr_assert_eq(tg_ctx_with_timeout(NULL, 50 * TG_MSEC, &c), 0);
    cr_assert_eq(tg_ctx_deadline(c, &d), 0);
    b.ctx = c;
    pthread_create(&th, NULL, recv_on_done, &b);
    /* Nobody else looks at the context until the receiver is back. */
    pthread_join(th, NULL);
    cr_assert_eq(b.rc, 0);
    cr_assert_not(b.ok, "Done must report closed");
    cr_assert_geq(b.woke_at, d, "woke before the deadline");
    cr_assert_eq(tg_ctx_err(c), -ETIMEDOUT);
    tg_ctx_release(c);
}

Test(ctx, deadline_wakes_a_thread_blocked_in_select_on_done, .timeout = 30)
{
    tg_ctx_t *c;
    struct blocked b = { 0 };
    pthread_t th;
    int64_t d;
    cr_assert_eq(tg_chan_new(&b.other, sizeof(int), 0), 0);
    cr_assert_eq(tg_ctx_with_timeout(NULL, 50 * TG_MSEC, &c), 0);
    cr_assert_eq(tg_ctx_deadline(c, &d), 0);
    b.ctx = c;
    pthread_create(&th, NULL, select_on_done, &b);
    pthread_join(th, NULL);
    cr_assert_eq(b.rc, 1, "the Done case must be chosen");
    cr_assert_not(b.ok);
    cr_assert_geq(b.woke_at, d, "woke before the deadline");
    cr_assert_eq(tg_ctx_err(c), -ETIMEDOUT);
    tg_ctx_release(c);
    tg_chan_free(b.other);
}

Test(ctx, ancestor_deadline_wakes_a_receive_on_a_descendants_done,
     .timeout = 30)
{
    tg_ctx_t *p, *mid, *leaf;
    struct blocked b = { 0 };
    pthread_t th;
    int64_t d;
    cr_assert_eq(tg_ctx_with_timeout(NULL, 40 * TG_MSEC, &p), 0);
    cr_assert_eq(tg_ctx_with_cancel(p, &mid), 0);
    cr_assert_eq(tg_ctx_with_timeout(mid, 100 * TG_SEC, &leaf), 0);
    cr_assert_eq(tg_ctx_deadline(p, &d), 0);
    b.ctx = leaf;
    pthread_create(&th, NULL, recv_on_done, &b);
    pthread_join(th, NULL);
    cr_assert_not(b.ok);
    cr_assert_geq(b.woke_at, d);
    cr_assert_eq(tg_ctx_err(p), -ETIMEDOUT);
    cr_assert_eq(tg_ctx_err(mid), -ETIMEDOUT);
    cr_assert_eq(tg_ctx_err(leaf), -ETIMEDOUT);
    tg_ctx_release(leaf);
    tg_ctx_release(mid);
    tg_ctx_release(p);
}

Test(ctx, timeouts_never_fire_early, .timeout = 60)
{
    static const int64_t ms[] = { 1, 5, 20, 60 };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        tg_ctx_t *c;
        int64_t start = tg_now();
        cr_assert_eq(tg_ctx_with_timeout(NULL, ms[i] * TG_MSEC, &c), 0);
        cr_assert_eq(tg_ctx_wait(c), -ETIMEDOUT);
        cr_assert_geq(tg_now() - start, ms[i] * TG_MSEC, "%lld ms fired early",
                      (long long)ms[i]);
        tg_ctx_release(c);
    }
}

/* ---- wait ---- */

struct canceller {
    tg_ctx_t *ctx;
    int delay_ms;
};

/* Cancels once the waiter has parked (so the park is certain however slow
 * the machine), and a little later. */
static void *cancel_later(void *arg)
{
    struct canceller *c = arg;
    while (atomic_load(&n_park) == 0)
        sleep_ms(1);
    sleep_ms(c->delay_ms);
    tg_ctx_cancel(c->ctx);
    return NULL;
}

Test(ctx, wait_returns_canceled_when_another_thread_cancels, .timeout = 30)
{
    tg_ctx_t *c;
    pthread_t th;
    install_recorder();
    cr_assert_eq(tg_ctx_with_cancel(NULL, &c), 0);
    struct canceller cc = { c, 20 };
    pthread_create(&th, NULL, cancel_later, &cc);
    cr_assert_eq(tg_ctx_wait(c), -ECANCELED);
    pthread_join(th, NULL);
    /* It parked (the canceller waited for that) and woke once. */
    cr_assert_eq(atomic_load(&n_park), 1);
    cr_assert_eq(atomic_load(&n_wake), 1);
    cr_assert_eq(tg_ctx_wait(c), -ECANCELED);   /* done: no park */
    cr_assert_eq(atomic_load(&n_park), 1);
    tg_ctx_release(c);
    remove_recorder();
}

/* ---- children created while the parent is being cancelled ---- */

struct spawner {
    tg_ctx_t *parent;
    tg_ctx_t **kids;
    int n;
    _Atomic int *made;
};

static void *spawn_children(void *arg)
{
    struct spawner *s = arg;
    for (int i = 0; i < s->n; i++) {
        if (tg_ctx_with_cancel(s->parent, &s->kids[i]) != 0)
            break;
        atomic_store_explicit(s->made, i + 1, memory_order_release);
    }
    return NULL;
}

Test(ctx, children_created_during_a_cancel_all_end_up_done, .timeout = 60)
{
    enum { N = 2000 };
    tg_ctx_t *p;
    tg_ctx_t **kids = calloc(N, sizeof *kids);
    _Atomic int made = 0;
    TG__ATOMIC_WORD(&made, sizeof made);
    pthread_t th;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &p), 0);
    struct spawner s = { p, kids, N, &made };
    pthread_create(&th, NULL, spawn_children, &s);
    while (atomic_load_explicit(&made, memory_order_acquire) < N / 4)
        sched_yield();
    tg_ctx_cancel(p);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&made), N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tg_ctx_err(kids[i]), -ECANCELED, "child %d", i);
        cr_assert(done_closed(kids[i]), "child %d", i);
    }
    for (int i = 0; i < N; i++)
        tg_ctx_free(kids[i]);
    tg_ctx_free(p);
    free(kids);
}

/* ---- lifetime ---- */

Test(ctx, cancel_reaches_grandchildren_through_a_freed_child)
{
    tg_ctx_t *root, *mid, *leaf;
    install_recorder();
    cr_assert_eq(tg_ctx_with_cancel(NULL, &root), 0);
    cr_assert_eq(tg_ctx_with_cancel(root, &mid), 0);
    cr_assert_eq(tg_ctx_with_cancel(mid, &leaf), 0);
    cr_assert_eq(atomic_load(&last_create_parent), mid);
    cr_assert(atomic_load(&last_create_cancelable));
    tg_ctx_release(mid);
    cr_assert_eq(atomic_load(&n_destroy), 0, "mid still has a child");
    cr_assert_eq(tg_ctx_err(leaf), -ECANCELED, "mid's cancel reached it");

    tg_ctx_t *mid2, *leaf2;
    cr_assert_eq(tg_ctx_with_cancel(root, &mid2), 0);
    cr_assert_eq(tg_ctx_with_cancel(mid2, &leaf2), 0);
    tg_ctx_free(mid2);               /* freed without cancelling */
    cr_assert_eq(tg_ctx_err(leaf2), 0);
    tg_ctx_cancel(root);
    cr_assert_eq(tg_ctx_err(leaf2), -ECANCELED);
    cr_assert(done_closed(leaf2));
    tg_ctx_free(root);
    cr_assert_eq(atomic_load(&n_destroy), 0, "root still has children");
    tg_ctx_free(leaf2);
    cr_assert_eq(atomic_load(&n_destroy), 2, "leaf2 and mid2 reclaimed");
    tg_ctx_free(leaf);
    cr_assert_eq(atomic_load(&n_destroy), 5, "everything reclaimed");
    remove_recorder();
}

struct freer {
    tg_ctx_t **kids;
    int from, to;
};

static void *free_range(void *arg)
{
    struct freer *f = arg;
    for (int i = f->from; i < f->to; i++)
        tg_ctx_release(f->kids[i]);
    return NULL;
}

Test(ctx, concurrent_frees_and_a_cancel_reclaim_everything, .timeout = 60)
{
    enum { N = 1000, T = 4 };
    tg_ctx_t *root, *kids[N];
    pthread_t th[T];
    struct freer f[T];
    install_recorder();
    cr_assert_eq(tg_ctx_with_cancel(NULL, &root), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_ctx_with_cancel(i % 2 ? kids[i - 1] : root, &kids[i]),
                     0);
    for (int t = 0; t < T; t++) {
        f[t] = (struct freer){ kids, t * N / T, (t + 1) * N / T };
        pthread_create(&th[t], NULL, free_range, &f[t]);
    }
    tg_ctx_cancel(root);
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    tg_ctx_free(root);
    cr_assert_eq(atomic_load(&n_destroy), N + 1);
    remove_recorder();
}
