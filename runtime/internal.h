/*
 * runtime/internal.h: what the runtime's modules share and do not export.
 * Internal non-static names are tg__ prefixed and hidden by the version
 * script.
 */
#ifndef TANGLE_RUNTIME_INTERNAL_H
#define TANGLE_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include "annotate.h"
#include "futex.h"
#include "tangle/hooks.h"
#include "tangle/tangle.h"

/* The installed probe table (hooks.c). Read with relaxed order: a probe
 * site is `const struct tg_hooks *h = tg__hooks_get(); if (h) ...`. */
extern _Atomic(const struct tg_hooks *) tg__hooks;
static inline const struct tg_hooks *tg__hooks_get(void)
{
    return atomic_load_explicit(&tg__hooks, memory_order_acquire);
}

/* Fires the begin probe of the table h (as loaded by the caller, maybe
 * NULL). Only tables of version 2 or later have the member: a version 1
 * table ends before it and is never read past `complete`. Inlined so that
 * an untraced operation pays the one branch on h it pays for its other
 * probes; the probe record is built only on the traced path. */
static inline void tg__begin(const struct tg_hooks *h, int op, int kind,
                             const void *obj, uint64_t seq, int64_t value,
                             int64_t deadline, const tg_case_t *cases,
                             size_t ncases)
{
    if (__builtin_expect(h != NULL, 0) && h->version >= 2 && h->begin) {
        struct tg_probe p = {
            .op = op, .kind = kind, .obj = obj, .seq = seq,
            .deadline_ns = deadline, .cases = cases, .ncases = ncases,
            .chosen = -1, .value = value,
        };
        h->begin(&p);
    }
}

/* The begin probe of a channel operation, then (tables of version 3, when
 * `want` says the channel carries tokens) its token hook: returns the
 * operation's token, which the caller must hand on or drop. flags go into
 * the probe (TG_PROBE_TOKENS when every channel involved carries them). */
static inline uintptr_t tg__begin_chan(const struct tg_hooks *h, int op,
                                       const void *obj, int64_t deadline,
                                       const tg_case_t *cases, size_t ncases,
                                       unsigned flags, bool want)
{
    if (__builtin_expect(h == NULL, 1) || h->version < 2)
        return 0;
    struct tg_probe p = {
        .op = op, .kind = TG_OBJ_CHAN, .obj = obj, .deadline_ns = deadline,
        .cases = cases, .ncases = ncases, .chosen = -1,
        .flags = h->version >= 3 ? flags : 0,
    };
    if (h->begin)
        h->begin(&p);
    return want && h->version >= 3 && h->token ? h->token(&p) : 0;
}

/* Gives back a token that reached no partner (hooks.h). */
static inline void tg__drop_token(uintptr_t tok)
{
    if (__builtin_expect(tok != 0, 0)) {
        const struct tg_hooks *h = tg__hooks_get();
        if (h && h->version >= 3 && h->drop)
            h->drop(tok);
    }
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

/* tg_ctx_with_cancel for a context that belongs to another runtime object
 * (a group's), which the probes are told through owner (ctx.c). */
int tg__ctx_with_owner(tg_ctx_t *parent, const void *owner, tg_ctx_t **out);

/* Starts a named, joinable runtime thread (pool workers, group tasks).
 * go.c. Returns 0 or a negative errno. */
int tg__thread_start(pthread_t *out, void *(*fn)(void *), void *arg,
                     const char *name, size_t stack_size, bool detached);

/* A small futex lock (Drepper's three-state mutex: 0 free, 1 held, 2 held
 * with sleepers), for the runtime's short critical sections. Acquire and
 * release are C11 atomics, so -fsanitize=thread sees the ordering the
 * futex alone would hide from it. Not recursive; never held across a
 * blocking wait or a probe. */
typedef struct tg__lock {
    _Atomic uint32_t v;
} tg__lock_t;

#define TG__LOCK_INIT { 0 }

void tg__lock_slow(tg__lock_t *l);

static inline void tg__lock(tg__lock_t *l)
{
    uint32_t c = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(
            &l->v, &c, 1, memory_order_acquire, memory_order_relaxed), 1)) {
        TG__HAPPENS_AFTER(l);
        return;
    }
    tg__lock_slow(l);
    TG__HAPPENS_AFTER(l);
}

static inline void tg__unlock(tg__lock_t *l)
{
    TG__HAPPENS_BEFORE(l);
    if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
        tg__futex_wake(&l->v, 1);
}

/* A CPU hint for spin loops. */
static inline void tg__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The deadline of a relative timeout, saturating (timeout <= 0: now). */
static inline int64_t tg__deadline_after(int64_t timeout_ns)
{
    if (timeout_ns == TG_FOREVER)
        return TG_FOREVER;
    int64_t now = tg_now();
    if (timeout_ns <= 0)
        return now;
    if (timeout_ns > TG_FOREVER - now)
        return TG_FOREVER;
    return now + timeout_ns;
}

#endif
