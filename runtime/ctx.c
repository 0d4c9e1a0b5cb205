/*
 * runtime/ctx.c: contexts (Go's context package): cancellation and
 * deadlines that flow from a parent to every descendant.
 *
 * Contexts form a tree. Each context holds a reference on its parent and
 * stays in the parent's list of children until its own memory is
 * reclaimed, which happens only once the user has freed it and all its
 * children have been reclaimed: a parent's cancel therefore still reaches
 * the live grandchildren of a child the user has already freed. Whether a
 * context is done lives in one atomic word (err and cause together), set
 * once by compare-and-swap, so the first cancel or expiry wins and its
 * winner alone fires the probe, closes the Done channel and passes the
 * verdict on to the children. That walk is iterative, an intrusive stack
 * threaded through the contexts, so no chain is too deep for it. Deadlines
 * need no helper thread and no polling: the Done channel carries the
 * deadline as an expiry (internal.h), so whoever blocks on Done wakes at
 * the deadline and cancels the context, and tg_ctx_err compares the clock.
 * The one lock per context (the runtime's futex lock, never a pthread
 * mutex) guards only its list of children.
 */
#include <stdlib.h>

#include "internal.h"

/* ctx->closed: has the Done channel been closed yet, and is anyone parked
 * waiting for that (so the closer knows whether to pay for a wake). */
enum { CLOSE_OPEN = 0, CLOSE_DONE = 1, CLOSE_WAITED = 2 };

struct tg_ctx {
    /* 0 while not done; else err in the low 32 bits, cause in the high. */
    _Atomic uint64_t state;
    _Atomic uint32_t closed;
    tg__lock_t lock;                /* guards first_child and the children's
                                       prev/next links */
    /* One for the user, one per child still linked. */
    _Atomic uint32_t refs;
    _Atomic bool dying;             /* refs reached 0: being reclaimed */
    tg_ctx_t *parent;               /* NULL: background */
    /* The context (this one or an ancestor) whose own deadline is the
     * effective one, so that an expiry cancels the subtree it governs. */
    tg_ctx_t *deadline_src;
    int64_t deadline;               /* effective; TG_FOREVER if none */
    tg_chan_t *done;
    tg_ctx_t *first_child;
    tg_ctx_t *prev_sib, *next_sib;  /* under parent->lock */
    tg_ctx_t *walk_next;            /* the cancel walk's stack */
};

static tg_ctx_t background = { .deadline = TG_FOREVER };

/* Depth of cancel walks running on this thread. A Done channel's close may
 * call the expiry callback on the closing thread; waiting there for the
 * close to finish would wait for ourselves. */
static __thread int in_cancel;

static void ctx_unref(tg_ctx_t *c);

/* ---- small helpers ---- */

static inline bool is_background(const tg_ctx_t *c)
{
    return c == NULL || c == &background;
}

static inline uint64_t pack(int err, int cause)
{
    return (uint64_t)(uint32_t)err | ((uint64_t)(uint32_t)cause << 32);
}

static inline int state_err(uint64_t st)
{
    return (int)(uint32_t)st;
}

static inline int state_cause(uint64_t st)
{
    return (int)(uint32_t)(st >> 32);
}

static void probe_complete(int op, tg_ctx_t *c, int result, int64_t value)
{
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->complete) {
        struct tg_probe p = { .op = op, .kind = TG_OBJ_CTX, .obj = c,
                              .result = result, .deadline_ns = c->deadline,
                              .chosen = -1, .value = value };
        h->complete(&p);
    }
}

static void probe_park(bool wake, tg_ctx_t *c, int64_t deadline)
{
    const struct tg_hooks *h = tg__hooks_get();
    void (*fn)(const struct tg_probe *) = h ? (wake ? h->wake : h->park) : NULL;
    if (fn) {
        struct tg_probe p = { .op = TG_PROBE_CTX_WAIT, .kind = TG_OBJ_CTX,
                              .obj = c, .deadline_ns = deadline,
                              .chosen = -1 };
        fn(&p);
    }
}

/* Takes a reference unless the count is already 0 (the context is being
 * reclaimed and must not be brought back). */
static bool ref_get(tg_ctx_t *c)
{
    uint32_t r = atomic_load_explicit(&c->refs, memory_order_relaxed);
    while (r != 0)
        if (atomic_compare_exchange_weak_explicit(&c->refs, &r, r + 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

/* Waits until c's Done channel has been closed, or until deadline.
 * Returns 0 or -ETIMEDOUT. Called once c is done (the close is on its
 * way), or by tg_ctx_wait, which turns a timeout into the expiry. */
static int wait_closed(tg_ctx_t *c, int64_t deadline)
{
    uint32_t v = atomic_load_explicit(&c->closed, memory_order_acquire);
    while (v != CLOSE_DONE) {
        if (v == CLOSE_OPEN &&
            !atomic_compare_exchange_weak_explicit(&c->closed, &v,
                                                   CLOSE_WAITED,
                                                   memory_order_acquire,
                                                   memory_order_acquire))
            continue;
        if (tg__futex_wait(&c->closed, CLOSE_WAITED, deadline) == -ETIMEDOUT &&
            atomic_load_explicit(&c->closed, memory_order_acquire) != CLOSE_DONE)
            return -ETIMEDOUT;
        v = atomic_load_explicit(&c->closed, memory_order_acquire);
    }
    return 0;
}

/* Once c is done, its cancel may still be on its way through another
 * thread's walk; a caller who saw the verdict should also see Done closed,
 * as in Go, where err and the close are set under one mutex. */
static void settle(tg_ctx_t *c)
{
    if (in_cancel || atomic_load_explicit(&c->dying, memory_order_acquire))
        return;
    wait_closed(c, TG_FOREVER);
}

/* The winner's part for one context: tell the probes, close Done, let
 * anyone waiting on the close go. The begin probe comes first: nobody can
 * observe the cancel before the close below (tg_ctx_err and tg_ctx_wait
 * settle on it, a receive on Done needs it), and each context of the tree
 * comes here exactly once, from the one thread that set its verdict. */
static void finish_cancel(tg_ctx_t *c, uint64_t st)
{
    tg__begin(tg__hooks_get(), TG_PROBE_CTX_CANCEL, TG_OBJ_CTX, c, 0,
              state_cause(st), c->deadline, NULL, 0);
    probe_complete(TG_PROBE_CTX_CANCEL, c, state_err(st), state_cause(st));
    if (c->done)
        tg_chan_close(c->done);
    if (atomic_exchange_explicit(&c->closed, CLOSE_DONE,
                                 memory_order_release) == CLOSE_WAITED)
        tg__futex_wake(&c->closed, INT32_MAX);
}

/* Marks root done with st and every not-yet-done descendant with the same
 * verdict. Contexts already done (and so their subtrees, which their own
 * canceller walks) are left alone. Iterative: the stack of contexts still
 * to visit is threaded through walk_next, each entry holding a reference. */
static void cancel_tree(tg_ctx_t *root, uint64_t st)
{
    uint64_t expect = 0;
    if (atomic_load_explicit(&root->state, memory_order_acquire) != 0)
        return;
    if (!ref_get(root))
        return;
    TG__HAPPENS_BEFORE(root);
    if (!atomic_compare_exchange_strong_explicit(&root->state, &expect, st,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire)) {
        ctx_unref(root);
        return;
    }
    in_cancel++;
    root->walk_next = NULL;
    tg_ctx_t *stack = root;
    while (stack) {
        tg_ctx_t *c = stack;
        stack = c->walk_next;
        finish_cancel(c, st);
        tg__lock(&c->lock);
        for (tg_ctx_t *k = c->first_child; k; k = k->next_sib) {
            expect = 0;
            TG__HAPPENS_BEFORE(k);
            /* A child whose refs are 0 is being reclaimed: nobody can
             * observe it any more, so it needs no close. */
            if (atomic_compare_exchange_strong_explicit(
                    &k->state, &expect, st, memory_order_acq_rel,
                    memory_order_acquire) &&
                ref_get(k)) {
                k->walk_next = stack;
                stack = k;
            }
        }
        tg__unlock(&c->lock);
        ctx_unref(c);
    }
    in_cancel--;
}

/* The deadline of c has passed: cancel with -ETIMEDOUT the context whose
 * own deadline it is (that cancels c too), and c directly in case that
 * context was cancelled for another reason a moment ago and its walk has
 * not reached c yet: c's deadline has passed either way. */
static void expire(tg_ctx_t *c)
{
    uint64_t st = pack(-ETIMEDOUT, -ETIMEDOUT);
    if (atomic_load_explicit(&c->state, memory_order_acquire) != 0)
        return;
    cancel_tree(c->deadline_src, st);
    cancel_tree(c, st);
}

/* Called by the Done channel when an operation on it finds the deadline
 * passed. Returns with the channel closed, as the channel expects. */
static void expiry_cb(void *arg)
{
    tg_ctx_t *c = arg;
    if (atomic_load_explicit(&c->dying, memory_order_acquire))
        return;
    expire(c);
    settle(c);
}

/* Drops a reference; the last one reclaims the context, which drops the
 * reference it held on its parent, and so on up: a loop, not recursion. */
static void ctx_unref(tg_ctx_t *c)
{
    while (c && atomic_fetch_sub_explicit(&c->refs, 1,
                                          memory_order_acq_rel) == 1) {
        tg_ctx_t *parent = c->parent;
        atomic_store_explicit(&c->dying, true, memory_order_release);
        if (parent) {
            tg__lock(&parent->lock);
            if (c->prev_sib)
                c->prev_sib->next_sib = c->next_sib;
            else
                parent->first_child = c->next_sib;
            if (c->next_sib)
                c->next_sib->prev_sib = c->prev_sib;
            tg__unlock(&parent->lock);
        }
        const struct tg_hooks *h = tg__hooks_get();
        if (h && h->destroy)
            h->destroy(TG_OBJ_CTX, c);
        /* -EBUSY: a thread is still parked on Done of a context its
         * owner freed (chan.c reports it). Both stay allocated: the
         * channel's expiry still points at c, and a leak is the lesser
         * harm than freeing memory under a sleeper. */
        if (!c->done || tg_chan_free(c->done) == 0) {
            TG__FORGET(c);
            TG__FORGET(&c->lock);
            free(c);
        }
        c = parent;
    }
}

/* Creates a cancelable context under parent with its own deadline
 * (TG_FOREVER: none). owner is reported to the probes (a group's context:
 * the group). Returns 0 and sets *out, -EINVAL, -ENOMEM. */
static int ctx_new(tg_ctx_t *parent, int64_t own_deadline, const void *owner,
                   tg_ctx_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (parent == &background)
        parent = NULL;
    tg_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    atomic_init(&c->refs, 1);
    c->parent = parent;
    c->deadline = own_deadline;
    c->deadline_src = c;
    if (parent && parent->deadline < own_deadline) {
        c->deadline = parent->deadline;
        c->deadline_src = parent->deadline_src;
    }

    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->create) {
        struct tg_obj_info info = { .parent = parent, .owner = owner,
                                    .deadline_ns = c->deadline,
                                    .cancelable = true };
        h->create(TG_OBJ_CTX, c, &info);
    }
    int err = tg__chan_new_owned(&c->done, 0, 0, c);
    if (err) {
        h = tg__hooks_get();
        if (h && h->destroy)
            h->destroy(TG_OBJ_CTX, c);
        free(c);
        return err;
    }
    if (c->deadline != TG_FOREVER)
        tg__chan_set_expiry(c->done, c->deadline, expiry_cb, c);

    /* Linking and reading the parent's verdict under its lock leaves no
     * gap: a cancel of the parent either finds c in the list or has set
     * its verdict before we look. */
    uint64_t inherited = 0;
    if (parent) {
        atomic_fetch_add_explicit(&parent->refs, 1, memory_order_relaxed);
        tg__lock(&parent->lock);
        inherited = atomic_load_explicit(&parent->state, memory_order_acquire);
        if (inherited) {
            TG__HAPPENS_AFTER(parent);
            TG__HAPPENS_BEFORE(c);
            atomic_store_explicit(&c->state, inherited, memory_order_release);
        }
        c->next_sib = parent->first_child;
        if (c->next_sib)
            c->next_sib->prev_sib = c;
        parent->first_child = c;
        tg__unlock(&parent->lock);
    }
    if (inherited)
        finish_cancel(c, inherited);
    else if (c->deadline != TG_FOREVER && tg_now() >= c->deadline) {
        expire(c);
        settle(c);
    }
    *out = c;
    return 0;
}

/* Internal: tg_ctx_with_cancel for a context that belongs to another
 * runtime object (a group), which the probes are told through owner. */
int tg__ctx_with_owner(tg_ctx_t *parent, const void *owner, tg_ctx_t **out)
{
    return ctx_new(parent, TG_FOREVER, owner, out);
}

/* ---- public API ---- */

tg_ctx_t *tg_ctx_background(void)
{
    return &background;
}

int tg_ctx_with_cancel(tg_ctx_t *parent, tg_ctx_t **out)
{
    return ctx_new(parent, TG_FOREVER, NULL, out);
}

int tg_ctx_with_timeout(tg_ctx_t *parent, int64_t timeout_ns, tg_ctx_t **out)
{
    /* timeout <= 0: born expired, as in Go. */
    return ctx_new(parent, tg__deadline_after(timeout_ns), NULL, out);
}

int tg_ctx_with_deadline(tg_ctx_t *parent, int64_t deadline_ns, tg_ctx_t **out)
{
    return ctx_new(parent, deadline_ns, NULL, out);
}

void tg_ctx_cancel_cause(tg_ctx_t *ctx, int cause)
{
    if (is_background(ctx))
        return;
    cancel_tree(ctx, pack(-ECANCELED, cause ? cause : -ECANCELED));
    settle(ctx);
}

void tg_ctx_cancel(tg_ctx_t *ctx)
{
    tg_ctx_cancel_cause(ctx, 0);
}

int tg_ctx_err(tg_ctx_t *ctx)
{
    if (is_background(ctx))
        return 0;
    uint64_t st = atomic_load_explicit(&ctx->state, memory_order_acquire);
    if (st == 0) {
        if (ctx->deadline == TG_FOREVER || tg_now() < ctx->deadline)
            return 0;
        expire(ctx);
        st = atomic_load_explicit(&ctx->state, memory_order_acquire);
    }
    /* The canceller's writes before its cancel happen before this. */
    if (st)
        TG__HAPPENS_AFTER(ctx);
    settle(ctx);
    /* Observing the cancellation is an acquire (Go: cancel happens before
     * Err returns non-nil), so a thread that polls err and then reads what
     * the canceller wrote does not race: tell the probes. */
    probe_complete(TG_PROBE_CTX_WAIT, ctx, state_err(st), 0);
    return state_err(st);
}

int tg_ctx_cause(tg_ctx_t *ctx)
{
    if (tg_ctx_err(ctx) == 0)
        return 0;
    return state_cause(atomic_load_explicit(&ctx->state,
                                            memory_order_acquire));
}

tg_chan_t *tg_ctx_done(tg_ctx_t *ctx)
{
    return is_background(ctx) ? NULL : ctx->done;
}

int tg_ctx_deadline(tg_ctx_t *ctx, int64_t *deadline_ns)
{
    if (!deadline_ns)
        return -EINVAL;
    if (is_background(ctx) || ctx->deadline == TG_FOREVER)
        return -ENOENT;
    *deadline_ns = ctx->deadline;
    return 0;
}

int tg_ctx_wait(tg_ctx_t *ctx)
{
    if (is_background(ctx)) {
        /* Background is never done: block for good, as a receive on a nil
         * channel does in Go. */
        static _Atomic uint32_t never;
        probe_park(false, &background, TG_FOREVER);
        for (;;)
            tg__futex_wait(&never, 0, TG_FOREVER);
    }
    int err = tg_ctx_err(ctx);
    if (err == 0) {
        probe_park(false, ctx, ctx->deadline);
        /* Woken by the close, or at the deadline, which tg_ctx_err then
         * notices and turns into the expiry. */
        do
            wait_closed(ctx, ctx->deadline);
        while ((err = tg_ctx_err(ctx)) == 0);
        probe_park(true, ctx, ctx->deadline);
    }
    probe_complete(TG_PROBE_CTX_WAIT, ctx, err, 0);
    return err;
}

void tg_ctx_free(tg_ctx_t *ctx)
{
    if (is_background(ctx))
        return;
    /* A deadline that passed unobserved is still an expiry: record it now,
     * so the context is not taken for one that was never cancelled. */
    (void)tg_ctx_err(ctx);
    ctx_unref(ctx);
}

void tg_ctx_release(tg_ctx_t *ctx)
{
    tg_ctx_cancel(ctx);
    tg_ctx_free(ctx);
}
