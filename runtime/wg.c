/*
 * runtime/wg.c: WaitGroup (Go's sync.WaitGroup): a counter of outstanding
 * tasks and a wait for it to reach zero.
 *
 * The whole state is one 64-bit word changed only by compare-and-swap: the
 * counter (bits 0-31), a "someone is parked" flag (bit 32) and the
 * generation (bits 33-63), the number of times the counter has come down
 * to zero. The change that brings the counter to zero also advances the
 * generation and clears the flag in the same step, so a waiter can never
 * mistake the start of the next round for the end of its own. The separate
 * futex word counts the same zeroings; it is written after the state, by
 * the thread that zeroed, and a waiter does not return before it has caught
 * up. That makes the futex word the last thing a finishing tg_wg_done
 * writes, so the common pattern of a WaitGroup on the waiter's stack, gone
 * as soon as tg_wg_wait returns, is safe (the wake that may follow is a
 * system call on the address, harmless to a futex user if it is reused).
 *
 * The probes' sequence numbers are generations: an add or done is
 * numbered with the round it belongs to (completed rounds + 1), and a wait
 * with the last round that had ended when it returned. Generations are 31
 * bits and wrap after 2^31 rounds.
 */
#include <sched.h>

#include "internal.h"

#define CNT_MASK    0xffffffffull
#define WAITERS     (1ull << 32)
#define GEN_SHIFT   33
#define GEN_MASK    0x7fffffffu

/* The state and futex words, to helgrind (annotate.h). On every call, as
 * a TG_WG_INIT WaitGroup is never passed to tg_wg_init. It also keeps
 * helgrind from taking the reuse of a WaitGroup's memory once tg_wg_wait
 * returned for a race with the zeroing thread's last access, which the file
 * comment explains is safe. */
#define WG_ATOMIC_WORDS(wg) \
    do { TG__ATOMIC_WORD(&(wg)->state, sizeof (wg)->state); \
         TG__ATOMIC_WORD(&(wg)->futex, sizeof (wg)->futex); } while (0)

static inline uint32_t count_of(uint64_t s)
{
    return (uint32_t)(s & CNT_MASK);
}

static inline uint32_t gen_of(uint64_t s)
{
    return (uint32_t)(s >> GEN_SHIFT);
}

/* Has the zeroing counter f reached generation target? Serial-number
 * comparison over 31 bits, so it survives the wrap. */
static inline bool gen_reached(uint32_t f, uint32_t target)
{
    return ((f - target) & GEN_MASK) < (GEN_MASK / 2);
}

static void probe(void (*fn)(const struct tg_probe *), int op, tg_wg_t *wg,
                  int result, uint64_t seq, int64_t deadline, int64_t value,
                  int64_t value2)
{
    struct tg_probe p = { .op = op, .kind = TG_OBJ_WG, .obj = wg,
                          .result = result, .seq = seq,
                          .deadline_ns = deadline, .chosen = -1,
                          .value = value, .value2 = value2 };
    fn(&p);
}

void tg_wg_init(tg_wg_t *wg)
{
    atomic_store_explicit(&wg->state, 0, memory_order_relaxed);
    atomic_store_explicit(&wg->futex, 0, memory_order_relaxed);
    wg->flags = 0;
    const struct tg_hooks *h = tg__hooks_get();
    if (h && h->create) {
        struct tg_obj_info info = { .deadline_ns = TG_FOREVER };
        h->create(TG_OBJ_WG, wg, &info);
    }
}

int tg_wg_add(tg_wg_t *wg, int delta)
{
    if (!wg)
        return -EINVAL;
    const struct tg_hooks *h = tg__hooks_get();
    /* Before the change: a waiter may return, and complete, as soon as the
     * counter reaches zero. */
    tg__begin(h, TG_PROBE_WG_ADD, TG_OBJ_WG, wg, 0, delta, TG_FOREVER, NULL,
              0);
    TG__HAPPENS_BEFORE(wg);
    WG_ATOMIC_WORDS(wg);
    uint64_t s = atomic_load_explicit(&wg->state, memory_order_relaxed);
    uint64_t ns;
    int64_t after;
    for (;;) {
        after = (int64_t)count_of(s) + delta;
        if (after < 0 || after > INT32_MAX) {
            if (h && h->complete)
                probe(h->complete, TG_PROBE_WG_ADD, wg, -ERANGE,
                      (gen_of(s) + 1) & GEN_MASK, TG_FOREVER, delta,
                      count_of(s));
            return -ERANGE;
        }
        if (after == 0 && count_of(s) != 0)
            ns = (uint64_t)(gen_of(s) + 1) << GEN_SHIFT;
        else
            ns = (s & ~CNT_MASK) | (uint64_t)after;
        /* acq_rel: a done publishes the task's writes to the waiter, and
         * an add that starts a round follows the previous round. */
        if (atomic_compare_exchange_weak_explicit(&wg->state, &s, ns,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    bool zeroed = after == 0 && count_of(s) != 0;
    uint64_t seq = (gen_of(s) + 1) & GEN_MASK;
    if (zeroed) {
        /* The last write to *wg on this path: see the file comment. */
        atomic_fetch_add_explicit(&wg->futex, 1, memory_order_release);
        if (s & WAITERS)
            tg__futex_wake(&wg->futex, INT32_MAX);
    }
    if (h && h->complete)
        probe(h->complete, TG_PROBE_WG_ADD, wg, 0, seq, TG_FOREVER, delta,
              after);
    return 0;
}

int tg_wg_done(tg_wg_t *wg)
{
    return tg_wg_add(wg, -1);
}

/* Waits until the counter is zero or the absolute deadline passes. */
static int wg_wait(tg_wg_t *wg, int64_t deadline)
{
    if (!wg)
        return -EINVAL;
    const struct tg_hooks *h = tg__hooks_get();
    bool parked = false;
    uint32_t target;
    WG_ATOMIC_WORDS(wg);
    int result = 0;
    uint64_t s = atomic_load_explicit(&wg->state, memory_order_acquire);
    for (;;) {
        uint32_t gen = gen_of(s);
        if (count_of(s) == 0) {
            target = gen;
            break;
        }
        if (!(s & WAITERS)) {
            if (!atomic_compare_exchange_weak_explicit(&wg->state, &s,
                                                       s | WAITERS,
                                                       memory_order_acquire,
                                                       memory_order_acquire))
                continue;
            s |= WAITERS;
        }
        /* Read after the flag is in the state: the zeroing of this round
         * happens after, so it changes f or finds the flag and wakes us. */
        uint32_t f = atomic_load_explicit(&wg->futex, memory_order_acquire);
        if (gen_reached(f, gen + 1)) {
            target = gen + 1;
            break;
        }
        if (deadline != TG_FOREVER && tg_now() >= deadline) {
            result = -ETIMEDOUT;
            target = gen;
            break;
        }
        if (!parked && h && h->park)
            probe(h->park, TG_PROBE_WG_WAIT, wg, 0, 0, deadline, 0, 0);
        parked = true;
        tg__futex_wait(&wg->futex, f, deadline);
        s = atomic_load_explicit(&wg->state, memory_order_acquire);
        if ((gen_of(s) & GEN_MASK) != (gen & GEN_MASK)) {
            target = gen + 1;
            break;
        }
    }
    if (result == 0) {
        /* The zeroing thread has changed the state but may not yet have
         * made its last write; it is a few instructions away. */
        while (!gen_reached(atomic_load_explicit(&wg->futex,
                                                 memory_order_acquire),
                            target & GEN_MASK))
            sched_yield();
        TG__HAPPENS_AFTER(wg);
    }
    if (parked && h && h->wake)
        probe(h->wake, TG_PROBE_WG_WAIT, wg, result, 0, deadline, 0, 0);
    h = tg__hooks_get();
    if (h && h->complete)
        probe(h->complete, TG_PROBE_WG_WAIT, wg, result, target & GEN_MASK,
              deadline, 0, 0);
    return result;
}

int tg_wg_wait(tg_wg_t *wg)
{
    return wg_wait(wg, TG_FOREVER);
}

int tg_wg_wait_timeout(tg_wg_t *wg, int64_t timeout_ns)
{
    int64_t deadline = tg__deadline_after(timeout_ns);
    return wg_wait(wg, deadline);
}

int tg_wg_count(const tg_wg_t *wg)
{
    if (!wg)
        return 0;
    return (int)count_of(atomic_load_explicit(
        &((tg_wg_t *)wg)->state, memory_order_acquire));
}
