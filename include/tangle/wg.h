/*
 * tangle/wg.h: Go's sync.WaitGroup for C.
 *
 * A counter of outstanding tasks: add before starting a task, done when it
 * ends, wait until the counter is zero. A WaitGroup is a plain value:
 * declare it with TG_WG_INIT or call tg_wg_init; it needs no freeing, and
 * may go out of scope as soon as tg_wg_wait returns, even while the last
 * tg_wg_done is still on its way out.
 */
#ifndef TANGLE_WG_H
#define TANGLE_WG_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_wg {
    /* Private. Bits 0-31: counter; bit 32: a waiter is parked; bits
     * 33-63: generation (rounds that ended at zero). */
    _Atomic uint64_t state;
    _Atomic uint32_t futex;    /* private: rounds ended, for parking */
    uint32_t flags;
} tg_wg_t;

#define TG_WG_INIT { 0, 0, 0 }

void tg_wg_init(tg_wg_t *wg);
/* Adds delta (may be negative) to the counter. Returns 0, or -ERANGE (and
 * leaves the counter unchanged) if it would go negative or overflow.
 * When it reaches zero, every waiter wakes. */
int tg_wg_add(tg_wg_t *wg, int delta);
/* tg_wg_add(wg, -1). */
int tg_wg_done(tg_wg_t *wg);
/* Blocks until the counter is zero. Returns 0. */
int tg_wg_wait(tg_wg_t *wg);
/* As tg_wg_wait, giving up with -ETIMEDOUT. */
int tg_wg_wait_timeout(tg_wg_t *wg, int64_t timeout_ns);
/* The current counter. */
int tg_wg_count(const tg_wg_t *wg);

#ifdef __cplusplus
}
#endif
#endif
