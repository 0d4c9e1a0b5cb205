/*
 * tangle/group.h: Go's errgroup for C: run tasks in parallel, wait for all,
 * get the first error, and cancel the rest when one fails.
 *
 * A group is bound to a context derived from the parent given at creation;
 * tasks receive it and should return early once it is done. The first task
 * to return non-zero sets the group's result and cancels that context.
 * tg_group_wait waits for all tasks, cancels the context (as Go does) and
 * returns the first non-zero result, or 0.
 */
#ifndef TANGLE_GROUP_H
#define TANGLE_GROUP_H

#include "base.h"
#include "ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_group tg_group_t;
typedef int (*tg_task_fn)(tg_ctx_t *ctx, void *arg);

/* Creates a group whose context derives from parent (NULL: background).
 * *ctx_out (may be NULL) receives that context; it belongs to the group and
 * stays valid until tg_group_free. Returns 0, -ENOMEM. */
int tg_group_new(tg_group_t **out, tg_ctx_t *parent, tg_ctx_t **ctx_out);
/* At most limit tasks run at once (limit <= 0: no limit). Returns -EBUSY
 * if tasks are running. */
int tg_group_set_limit(tg_group_t *g, int limit);
/* Optional name prefix for the tasks' threads (default "tg-group"). */
int tg_group_set_name(tg_group_t *g, const char *name);
/* Starts fn(ctx, arg) on a new thread, blocking while the limit is reached.
 * Returns 0, or a negative errno if the thread cannot be started (which
 * also counts as the group's result). */
int tg_group_go(tg_group_t *g, tg_task_fn fn, void *arg);
/* As tg_group_go, but -EAGAIN instead of blocking at the limit. */
int tg_group_try_go(tg_group_t *g, tg_task_fn fn, void *arg);
/* Waits for every task; returns the first non-zero result, or 0. */
int tg_group_wait(tg_group_t *g);
/* Frees a group after tg_group_wait. -EBUSY if tasks are still running. */
int tg_group_free(tg_group_t *g);

#ifdef __cplusplus
}
#endif
#endif
