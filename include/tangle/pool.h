/*
 * tangle/pool.h: a worker pool: n named worker threads taking jobs from a
 * bounded queue.
 *
 * Submitting blocks while the queue is full (back-pressure), or gives up on
 * a context or timeout. Shutdown stops accepting jobs, lets the workers
 * drain the queue, and joins them.
 */
#ifndef TANGLE_POOL_H
#define TANGLE_POOL_H

#include "base.h"
#include "ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_pool tg_pool_t;
typedef void (*tg_job_fn)(void *arg);

/* Starts `workers` threads named "<name>-<i>" (name NULL: "tg-pool") and a
 * queue of queue_cap jobs (0: unbuffered, a submit waits for an idle
 * worker). Returns 0, -EINVAL (workers == 0), -ENOMEM, -EAGAIN. */
int tg_pool_new(tg_pool_t **out, unsigned workers, size_t queue_cap,
                const char *name);
/* Queues fn(arg), blocking while the queue is full. Returns 0, or -EPIPE
 * after shutdown. */
int tg_pool_submit(tg_pool_t *p, tg_job_fn fn, void *arg);
/* As tg_pool_submit, but -EAGAIN instead of blocking. */
int tg_pool_try_submit(tg_pool_t *p, tg_job_fn fn, void *arg);
/* As tg_pool_submit, giving up with tg_ctx_err(ctx) when ctx is done, or
 * -ETIMEDOUT. */
int tg_pool_submit_ctx(tg_pool_t *p, tg_job_fn fn, void *arg, tg_ctx_t *ctx);
int tg_pool_submit_timeout(tg_pool_t *p, tg_job_fn fn, void *arg,
                           int64_t timeout_ns);
/* Stops accepting jobs, runs every queued job, joins the workers and frees
 * the pool. Returns 0. Must not be called from a worker (-EDEADLK). */
int tg_pool_shutdown(tg_pool_t *p);

#ifdef __cplusplus
}
#endif
#endif
