/*
 * tangle/ctx.h: Go's context package for C: cancellation and deadlines that
 * propagate from a parent to all its descendants.
 *
 * A context is done when it is cancelled, when its deadline passes, or when
 * its parent is done; its Done channel (tg_ctx_done) is then closed, so it
 * can stand in any select. Deadlines fire without anyone polling and
 * without a helper thread: whoever first observes the deadline (a select or
 * receive parked on the Done channel wakes at it, tg_ctx_err checks it)
 * cancels the context.
 *
 * Ownership: every context returned by tg_ctx_with_* must be released with
 * tg_ctx_cancel() followed by tg_ctx_free() (Go's `defer cancel()`), or with
 * tg_ctx_release(), which does both. A context that has a cancel function
 * or deadline and is never cancelled and never expires is what the
 * detector reports as `lost-cancel`.
 */
#ifndef TANGLE_CTX_H
#define TANGLE_CTX_H

#include "base.h"
#include "chan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_ctx tg_ctx_t;

/* The root context: never cancelled, no deadline, Done is NULL (a select
 * case on it is never ready, as in Go). Never freed. */
tg_ctx_t *tg_ctx_background(void);

/* Derived contexts. parent NULL means background. Return 0 and set *out,
 * or -ENOMEM / -EINVAL. A child of an already-done parent is born done. */
int tg_ctx_with_cancel(tg_ctx_t *parent, tg_ctx_t **out);
int tg_ctx_with_timeout(tg_ctx_t *parent, int64_t timeout_ns, tg_ctx_t **out);
int tg_ctx_with_deadline(tg_ctx_t *parent, int64_t deadline_ns, tg_ctx_t **out);

/* Cancels ctx and all its descendants: err becomes -ECANCELED. Idempotent,
 * safe from any thread; the first cancel (or expiry) wins. */
void tg_ctx_cancel(tg_ctx_t *ctx);
/* As tg_ctx_cancel, recording cause (a negative errno of the caller's
 * choosing) as the reason returned by tg_ctx_cause(). */
void tg_ctx_cancel_cause(tg_ctx_t *ctx, int cause);

/* 0 while not done, -ECANCELED once cancelled, -ETIMEDOUT once the
 * deadline (its own or an ancestor's) has passed. */
int tg_ctx_err(tg_ctx_t *ctx);
/* The cause given to tg_ctx_cancel_cause, else tg_ctx_err(). */
int tg_ctx_cause(tg_ctx_t *ctx);
/* The Done channel: closed when the context is done. NULL for background.
 * Never send on it or close it. */
tg_chan_t *tg_ctx_done(tg_ctx_t *ctx);
/* Earliest deadline of ctx and its ancestors: returns 0 and sets
 * *deadline_ns, or -ENOENT when there is none. */
int tg_ctx_deadline(tg_ctx_t *ctx, int64_t *deadline_ns);
/* Blocks until the context is done; returns tg_ctx_err(). */
int tg_ctx_wait(tg_ctx_t *ctx);

/* Drops the caller's reference. Does not cancel: call tg_ctx_cancel first
 * (or use tg_ctx_release). Memory is reclaimed once the context and all
 * its children are freed. Background and NULL are no-ops. */
void tg_ctx_free(tg_ctx_t *ctx);
/* tg_ctx_cancel then tg_ctx_free: the C spelling of `defer cancel()`. */
void tg_ctx_release(tg_ctx_t *ctx);

#ifdef __cplusplus
}
#endif
#endif
