/*
 * runtime/internal.h: what the runtime's modules share and do not export.
 * Internal non-static names are tg__ prefixed and hidden by the version
 * script.
 */
#ifndef TANGLE_RUNTIME_INTERNAL_H
#define TANGLE_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include "tangle/hooks.h"
#include "tangle/tangle.h"

/* The installed probe table (hooks.c). Read with relaxed order: a probe
 * site is `const struct tg_hooks *h = tg__hooks_get(); if (h) ...`. */
extern _Atomic(const struct tg_hooks *) tg__hooks;
static inline const struct tg_hooks *tg__hooks_get(void)
{
    return atomic_load_explicit(&tg__hooks, memory_order_acquire);
}

/* Channel expiry, for context deadlines without a helper thread (chan.c).
 * Any blocking receive or select that involves ch parks no later than
 * deadline_ns, and any operation on ch that finds the deadline passed calls
 * fn(arg) first (outside the channel's lock); fn is expected to close ch
 * (so it is called by whoever first observes the deadline; fn must be
 * idempotent, as several threads may observe it at once). Set once, before
 * the channel is shared. */
void tg__chan_set_expiry(tg_chan_t *ch, int64_t deadline_ns,
                         void (*fn)(void *arg), void *arg);

/* Marks a channel as owned by another object (a context's Done channel):
 * reported to the probes through tg_obj_info.owner at creation. */
int tg__chan_new_owned(tg_chan_t **out, size_t elem_size, size_t cap,
                       const void *owner);

/* Starts a named, joinable runtime thread (pool workers, group tasks).
 * go.c. Returns 0 or a negative errno. */
int tg__thread_start(pthread_t *out, void *(*fn)(void *), void *arg,
                     const char *name, size_t stack_size, bool detached);

#endif
