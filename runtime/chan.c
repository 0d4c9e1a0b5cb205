/*
 * runtime/chan.c: Go channels and select for C, after Go's runtime/chan.go
 * and select.go. Each channel has a futex lock, a ring buffer and two queues
 * of parked waiters (sendq, recvq). A waiter is a record on the parked
 * thread's stack (Go's sudog) pointing at a parker, one per blocking call:
 * a select enqueues one waiter per case, all sharing its parker. Whoever
 * completes a parked operation first claims the parker with a CAS (so of a
 * select's waiters exactly one fires), copies the value directly to or from
 * the parked thread's buffer under the channel lock, and publishes the
 * outcome with a release store that the parked thread acquires. That store,
 * not the futex, carries the happens-before edge, which is what lets
 * -fsanitize=thread follow the hand-offs. Values leave a channel in the
 * order they entered it, so per-channel counters give the probes the
 * sequence numbers that pair each receive with its send, and a channel made
 * while a race checker's hooks are installed carries the checker's tokens
 * along the same pairs (hooks.h, version 3). Speed comes from
 * not sleeping: a try that cannot proceed is answered from a few atomic
 * loads without the lock, and a parked thread spins (bounded in time,
 * adaptively, yielding the CPU) before it pays for a futex sleep.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Parker states. A waker may claim a parker only in WAITING or SLEEPING;
 * SLEEPING tells it that a futex wake is needed, so the common hand-off to
 * a still-spinning thread costs no system call. */
enum {
    PK_WAITING = 0,   /* parked, spinning */
    PK_SLEEPING,      /* parked in futex_wait */
    PK_CLAIMED,       /* a waker owns it and is filling in the outcome */
    PK_DONE,          /* outcome published; the owner may return */
    PK_CANCELLED,     /* the owner timed out first */
};

/* How long a parked thread spins before it sleeps, bounded in time rather
 * than in iterations (a pause costs anywhere from 1 to 40 ns across CPUs).
 * Sleeping is what makes a hand-off slow: the waker pays a futex wake and
 * the sleeper a trip through the scheduler, several microseconds each, and
 * once one side of a ping-pong sleeps the other's spin runs out while it
 * waits, so both sleep from then on. A spin longer than a wake-up keeps
 * such a pair out of that mode, so each thread spins up to SPIN_MAX_NS,
 * adaptively: the budget halves (down to SPIN_MIN_NS, still longer than a
 * typical wake-up) each time a spin ended in sleep, and doubles each time a
 * waker came during the spin, so a thread that waits for slow events burns
 * little CPU. Between looks at the clock the spin yields the CPU: on a
 * machine shared with other work the partner is often runnable but waiting
 * for our core, and there a yield is the cheapest hand-off there is
 * (measured: a ping-pong under load at ~9 us with yields from the start,
 * 13-20 us when yields began after 1-3 us of pure spinning). Yet a yield
 * is a system call, about 1.2 us on a virtual machine, while a partner
 * running on the other core answers in a few hundred nanoseconds: a
 * waker that came during the yield waited for its end, and once one side
 * of a ping-pong yielded the other's hand-off came during its own yield,
 * so the pair stayed in that mode (an unloaded ping-pong at 2.7 us, not
 * 0.4). So a thread that waits for a reply (it woke a parked thread
 * since its last wait, as each side of a ping-pong or a pair of selects
 * does) from a partner on another CPU (the waker leaves its CPU in the
 * parker) first spins PURE_SPIN_NS without yielding, longer than a yield,
 * so that such a pair always gets out of that mode. Everyone else yields
 * from the start: a thread whose last waker shared its CPU, as the waker
 * needs the CPU; a pool worker waiting for work, which more threads than
 * cores (a submitter and two workers on two cores) would otherwise keep
 * from the submitter (a pool's cost per job doubled); and for 16 waits a
 * thread whose pure spin was in vain (its waker came only after it). */
#define SPIN_MAX_NS 100000
#define SPIN_MIN_NS 10000
#define PURE_SPIN_NS 2000
#define PURE_BACKOFF 16     /* waits without it after it was in vain */
#define SPIN_CHECK 32       /* pauses between looks at the clock */
#define CLAIM_SPIN 64       /* pauses before a claimed parker yields */

static __thread int64_t spin_budget_ns = SPIN_MAX_NS;
static __thread int waker_cpu = -1;     /* the CPU of the last waker */
static __thread int pure_off;           /* waits left without the phase */
static __thread bool woke;              /* woke a parker since the last wait */

struct parker {
    _Atomic uint32_t state;
    bool sleeping;          /* set by the claiming waker */
    int fired;              /* index of the waiter (case) that fired */
    int waker_cpu;          /* set by the waker before it publishes */
};

struct waiter {
    struct waiter *next, *prev;
    struct waiter *wnext;   /* close's list of claimed waiters */
    struct parker *pk;
    void *elem;             /* send: the value; recv: the destination */
    uint64_t seq;           /* out: sequence number of the value */
    uintptr_t tok_out;      /* the owner's token, 0 once a partner took it */
    uintptr_t tok_in;       /* out: the partner's token */
    int index;              /* case index (0 for a plain send/recv) */
    bool ok;                /* out: value transferred (false: closed) */
    bool linked;            /* in a queue; only under the channel lock */
    bool sel;               /* part of a select: the owner drops its ref */
};

struct waitq {
    struct waiter *head, *tail;
};

struct tg_chan {
    tg__lock_t lock;
    _Atomic bool closed;    /* written under lock, read anywhere */
    size_t elem_size;
    size_t cap;
    size_t count;           /* buffered values; stored atomically, as
                               the lock-free checks read it */
    size_t sendx, recvx;    /* ring indexes */
    uint64_t sent, recvd;   /* values that entered / left the channel */
    unsigned refs;          /* parked waiters that will touch ch again */
    bool tokens;            /* carries hooks tokens (see tok_send) */
    size_t stride;          /* bytes per buffer slot: the value, then, with
                               tokens, two of them */
    size_t tok_off;         /* the tokens' offset in a slot */
    struct waitq sendq, recvq;
    int64_t expiry_ns;
    void (*expiry_fn)(void *);
    void *expiry_arg;
    unsigned char *buf;
};

/* ---- the lock's slow path -------------------------------------------- */

void tg__lock_slow(tg__lock_t *l)
{
    /* Spin first, even past sleepers (state 2): critical sections are a
     * few dozen instructions, and taking the lock as 1 here spares the
     * holder a futex wake it would owe once the state is 2. */
    for (int i = 0; i < 200; i++) {
        uint32_t c = atomic_load_explicit(&l->v, memory_order_relaxed);
        if (c == 0 &&
            atomic_compare_exchange_weak_explicit(&l->v, &c, 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        tg__cpu_relax();
    }
    while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
        tg__futex_wait(&l->v, 2, TG_FOREVER);
}

/* ---- per-thread random numbers for select's poll order ----------------- */

static __thread uint64_t rng_state;

static uint32_t fastrandn(uint32_t n)
{
    uint64_t x = rng_state;
    if (__builtin_expect(x == 0, 0))
        x = ((uint64_t)(uintptr_t)&rng_state * 0x9E3779B97F4A7C15ull) ^
            (uint64_t)tg_now() ^ 1;
    /* xorshift64*: plenty for shuffling a handful of cases. */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    uint32_t r = (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
    return (uint32_t)(((uint64_t)r * n) >> 32);
}

/* ---- probes ------------------------------------------------------------ */

static void probe(void (*fn)(const struct tg_probe *), int op,
                  const void *obj, int result, uint64_t seq,
                  int64_t deadline, const tg_case_t *cases, size_t n,
                  int chosen)
{
    if (!fn)
        return;
    struct tg_probe p = {
        .op = op, .kind = TG_OBJ_CHAN, .obj = obj, .result = result,
        .seq = seq, .deadline_ns = deadline, .cases = cases, .ncases = n,
        .chosen = chosen,
    };
    fn(&p);
}

/* The complete of a channel operation that may carry a partner's token;
 * a token left over when no table is installed any more is dropped. */
static void probe_done(const struct tg_hooks *h, int op, const void *obj,
                       int result, uint64_t seq, int64_t deadline,
                       const tg_case_t *cases, size_t n, int chosen,
                       bool tokens, uintptr_t tok)
{
    if (!h->complete) {
        tg__drop_token(tok);
        return;
    }
    struct tg_probe p = {
        .op = op, .kind = TG_OBJ_CHAN, .obj = obj, .result = result,
        .seq = seq, .deadline_ns = deadline, .cases = cases, .ncases = n,
        .chosen = chosen, .flags = tokens ? TG_PROBE_TOKENS : 0,
        .token = tok,
    };
    h->complete(&p);
}

/* Fires one probe if a table is installed: the untraced cost is this one
 * predictable branch on a value loaded once per operation. (Without a
 * table no operation has a token.) */
#define PROBE(h, hook, ...) \
    do { if (__builtin_expect((h) != NULL, 0)) \
             probe((h)->hook, __VA_ARGS__); } while (0)
#define PROBE_DONE(h, ...) \
    do { if (__builtin_expect((h) != NULL, 0)) \
             probe_done((h), __VA_ARGS__); } while (0)

/* ---- waiter queues (channel lock held) -------------------------------- */

static void wq_push(struct waitq *q, struct waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        __atomic_store_n(&q->head, w, __ATOMIC_RELAXED);
    q->tail = w;
    w->linked = true;
}

static void wq_unlink(struct waitq *q, struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        __atomic_store_n(&q->head, w->next, __ATOMIC_RELAXED);
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
    w->linked = false;
}

/* Takes the first waiter of q whose parker can still be claimed, claims
 * it, and returns it; waiters of selects that already fired elsewhere or
 * timed out are dropped from the queue on the way (their owners find them
 * unlinked). The caller fills in the outcome and, after unlocking, calls
 * finish(). */
static struct waiter *wq_claim(tg_chan_t *ch, struct waitq *q)
{
    struct waiter *w;
    while ((w = q->head) != NULL) {
        wq_unlink(q, w);
        struct parker *pk = w->pk;
        uint32_t s = atomic_load_explicit(&pk->state, memory_order_relaxed);
        while (s <= PK_SLEEPING) {
            if (atomic_compare_exchange_weak_explicit(
                    &pk->state, &s, PK_CLAIMED, memory_order_acquire,
                    memory_order_relaxed)) {
                pk->sleeping = s == PK_SLEEPING;
                pk->fired = w->index;
                if (!w->sel)
                    ch->refs--;
                return w;
            }
        }
    }
    return NULL;
}

/* Publishes a claimed waiter's outcome. After the release store the owner
 * may return and its stack be reused, so nothing of w is touched after it;
 * a futex wake on a stale address is at worst a spurious wake-up, which
 * every wait loop tolerates. */
static void finish(struct waiter *w)
{
    struct parker *pk = w->pk;
    bool sleeping = pk->sleeping;
    pk->waker_cpu = sched_getcpu();
    woke = true;
    TG__HAPPENS_BEFORE(pk);
    atomic_store_explicit(&pk->state, PK_DONE, memory_order_release);
    if (sleeping)
        tg__futex_wake(&pk->state, 1);
}

/* ---- expiry ------------------------------------------------------------ */

static inline bool expiry_live(const tg_chan_t *ch, int64_t floor)
{
    return ch->expiry_fn && ch->expiry_ns > floor &&
           !atomic_load_explicit(&ch->closed, memory_order_relaxed);
}

/* Called at the start of every operation: the first to see the deadline
 * passed runs fn, which closes the channel, so the operation itself then
 * sees it closed. */
static inline void check_expiry(tg_chan_t *ch)
{
    if (__builtin_expect(ch->expiry_fn != NULL, 0) &&
        !atomic_load_explicit(&ch->closed, memory_order_relaxed) &&
        tg_now() >= ch->expiry_ns)
        ch->expiry_fn(ch->expiry_arg);
}

/* ---- parking ------------------------------------------------------------ */

/* park_wait's result when a channel's expiry, not the caller's deadline,
 * ended the wait. */
#define PARK_EXPIRED 1

/* Waits, with no lock held, until pk's outcome is published, the caller's
 * deadline passes, or expiry_ns (the earliest expiry of the channels
 * involved) passes. Returns 0 (outcome published), -ETIMEDOUT or
 * PARK_EXPIRED; in the last two cases pk is cancelled, so nobody will
 * claim it, and the caller still holds its references on the channels:
 * it may run their expiry functions, then unlinks its waiters. Once pk is
 * claimed the channels may already be gone, so nothing here touches them. */
static int park_wait(struct parker *pk, int64_t deadline, int64_t expiry_ns)
{
    int64_t budget = spin_budget_ns, pure = 0, start = 0, spun = 0;
    bool reply = woke;
    woke = false;
    for (;;) {
        for (int i = 0; i < SPIN_CHECK; i++) {
            if (atomic_load_explicit(&pk->state, memory_order_acquire) >=
                PK_CLAIMED) {
                spin_budget_ns = budget < SPIN_MAX_NS / 2 ? budget * 2
                                                          : SPIN_MAX_NS;
                if (pure && spun >= pure)
                    pure_off = PURE_BACKOFF;
                goto claimed;
            }
            tg__cpu_relax();
        }
        int64_t now = tg_now();
        if (!start) {
            start = now;
            if (pure_off)
                pure_off--;
            else if (reply && waker_cpu != sched_getcpu())
                pure = PURE_SPIN_NS;
        }
        spun = now - start;
        if (spun >= budget || now >= deadline || now >= expiry_ns)
            break;
        if (spun >= pure)
            sched_yield();
    }
    spin_budget_ns = budget > 2 * SPIN_MIN_NS ? budget / 2 : SPIN_MIN_NS;
    if (pure)
        pure_off = PURE_BACKOFF;
    uint32_t s = PK_WAITING;
    if (!atomic_compare_exchange_strong_explicit(&pk->state, &s, PK_SLEEPING,
                                                 memory_order_acquire,
                                                 memory_order_acquire))
        goto claimed;
    int64_t until = expiry_ns < deadline ? expiry_ns : deadline;
    for (;;) {
        int r = tg__futex_wait(&pk->state, PK_SLEEPING, until);
        if (atomic_load_explicit(&pk->state, memory_order_acquire) !=
            PK_SLEEPING)
            goto claimed;
        if (r != -ETIMEDOUT && until == TG_FOREVER)
            continue;
        int64_t now = tg_now();
        if (now < until)
            continue;
        s = PK_SLEEPING;
        if (atomic_compare_exchange_strong_explicit(
                &pk->state, &s, PK_CANCELLED, memory_order_acquire,
                memory_order_acquire))
            return now >= deadline ? -ETIMEDOUT : PARK_EXPIRED;
        goto claimed;
    }
claimed:
    /* A waker owns the parker only between its claim and its unlock, so
     * spin, and yield in case it was preempted in between. */
    for (int i = 0;
         atomic_load_explicit(&pk->state, memory_order_acquire) != PK_DONE;
         i++) {
        if (i < CLAIM_SPIN)
            tg__cpu_relax();
        else
            sched_yield();
    }
    TG__HAPPENS_AFTER(pk);
    TG__FORGET(pk);
    waker_cpu = pk->waker_cpu;
    return 0;
}

/* A NULL channel: blocks until the deadline, for ever by default. */
static int block_nil(const struct tg_hooks *h, int op, int64_t deadline,
                     const tg_case_t *cases, size_t n)
{
    _Atomic uint32_t word = 0;
    PROBE(h, park, op, NULL, 0, 0, deadline, cases, n, -1);
    while (deadline == TG_FOREVER || tg_now() < deadline)
        tg__futex_wait(&word, 0, deadline);
    PROBE(h, wake, op, NULL, -ETIMEDOUT, 0, deadline, cases, n, -1);
    return -ETIMEDOUT;
}

/* ---- creation ------------------------------------------------------------ */

static int chan_new(tg_chan_t **out, size_t elem_size, size_t cap,
                    const void *owner)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    size_t head = (sizeof(struct tg_chan) + 15) & ~(size_t)15;
    if (cap && elem_size > (SIZE_MAX - head) / cap)
        return -EINVAL;
    const struct tg_hooks *h = tg__hooks_get();
    bool tokens = h && h->version >= 3 && h->token;
    /* A slot's tokens sit beside its value, on the line the operation
     * touches anyway. */
    size_t tok_off = (elem_size + 7) & ~(size_t)7;
    size_t stride = tokens && cap ? tok_off + 2 * sizeof(uintptr_t) : elem_size;
    if (tok_off < elem_size || (cap && stride > (SIZE_MAX - head) / cap))
        return -EINVAL;
    tg_chan_t *ch = calloc(1, head + stride * cap);
    if (!ch)
        return -ENOMEM;
    ch->elem_size = elem_size;
    ch->cap = cap;
    ch->buf = (unsigned char *)ch + head;
    ch->tokens = tokens;
    ch->stride = stride;
    ch->tok_off = tok_off;
    ch->expiry_ns = TG_FOREVER;
    /* Read without the lock by the lock-free checks. */
    TG__ATOMIC_WORD(&ch->closed, sizeof ch->closed);
    TG__ATOMIC_WORD(&ch->count, sizeof ch->count);
    TG__ATOMIC_WORD(&ch->sendq.head, sizeof ch->sendq.head);
    TG__ATOMIC_WORD(&ch->recvq.head, sizeof ch->recvq.head);
    if (h && h->create) {
        struct tg_obj_info info = {
            .elem_size = elem_size, .cap = cap, .owner = owner,
            .deadline_ns = TG_FOREVER,
        };
        h->create(TG_OBJ_CHAN, ch, &info);
    }
    *out = ch;
    return 0;
}

int tg_chan_new(tg_chan_t **out, size_t elem_size, size_t cap)
{
    return chan_new(out, elem_size, cap, NULL);
}

int tg__chan_new_owned(tg_chan_t **out, size_t elem_size, size_t cap,
                       const void *owner)
{
    return chan_new(out, elem_size, cap, owner);
}

void tg__chan_set_expiry(tg_chan_t *ch, int64_t deadline_ns,
                         void (*fn)(void *arg), void *arg)
{
    if (!ch)
        return;
    ch->expiry_ns = fn ? deadline_ns : TG_FOREVER;
    ch->expiry_arg = arg;
    ch->expiry_fn = fn;
}

int tg_chan_free(tg_chan_t *ch)
{
    if (!ch)
        return 0;
    const struct tg_hooks *h = tg__hooks_get();
    tg__lock(&ch->lock);
    bool busy = ch->refs != 0;
    tg__unlock(&ch->lock);
    if (busy) {
        PROBE(h, complete, TG_PROBE_FREE, ch, -EBUSY, 0, TG_FOREVER, NULL,
              0, -1);
        return -EBUSY;
    }
    if (h && h->destroy)
        h->destroy(TG_OBJ_CHAN, ch);
    /* Values never received, and receives no later send will follow. */
    for (size_t i = 0; ch->tokens && i < ch->cap; i++) {
        const uintptr_t *t = (const uintptr_t *)(ch->buf + i * ch->stride + ch->tok_off);
        tg__drop_token(t[0]);
        tg__drop_token(t[1]);
    }
    TG__FORGET(&ch->lock);
    free(ch);
    return 0;
}

/* ---- the operations, with the lock held ------------------------------------ */

static inline void *slot(tg_chan_t *ch, size_t i)
{
    return ch->buf + i * ch->stride;
}

static inline void copy_out(tg_chan_t *ch, void *dst, const void *src)
{
    if (dst && ch->elem_size)
        memcpy(dst, src, ch->elem_size);
}

/* The lock-free checks of Go's non-blocking chansend/chanrecv: true when
 * the operation cannot proceed now, read without the lock, so a try that
 * fails (a poll loop, a select with default) costs a few loads and leaves
 * the channel's cache line shared. A false answer proves nothing: the
 * caller then takes the lock and looks again. Emptiness is read before
 * closedness, with acquire order between them: a channel is never
 * reopened, so seeing it open afterwards means it was open when it was
 * seen empty, and the receive may take effect at that moment. For a send
 * the order is the reverse (open, then full), as in Go. Queue heads are
 * stored atomically under the lock for these loads; a head that names a
 * waiter already gone elsewhere only sends the caller down the locked
 * path. */
static inline bool recv_blocked(tg_chan_t *ch)
{
    bool empty = ch->cap == 0
        ? __atomic_load_n(&ch->sendq.head, __ATOMIC_ACQUIRE) == NULL
        : __atomic_load_n(&ch->count, __ATOMIC_ACQUIRE) == 0;
    return empty && !atomic_load_explicit(&ch->closed, memory_order_acquire);
}

static inline bool send_blocked(tg_chan_t *ch)
{
    if (atomic_load_explicit(&ch->closed, memory_order_acquire))
        return false;
    return ch->cap == 0
        ? __atomic_load_n(&ch->recvq.head, __ATOMIC_ACQUIRE) == NULL
        : __atomic_load_n(&ch->count, __ATOMIC_ACQUIRE) == ch->cap;
}

/* Tokens (hooks.h, version 3) follow the Go memory model's edges, with
 * the lock held. Slot s mod cap holds two, beside its value: the token of
 * send s until receive s takes it, and that of receive s until send s +
 * cap takes it. Each has one occupant at a time, as at most cap values
 * are in flight, and slot s mod cap is the one send s fills, as the ring
 * indexes move on a hand-off to a parked receiver too: the callers pass
 * that ring index, which spares a division by cap per token. Unbuffered
 * channels pass tokens through the parked partner's waiter. */
static inline uintptr_t tok_take(uintptr_t *t)
{
    uintptr_t v = *t;
    *t = 0;
    return v;
}

/* The tokens of slot i (i = s mod cap for send s and receive s, known to
 * the caller as the ring index the operation used: no division). */
static inline uintptr_t *tok_of_slot(tg_chan_t *ch, size_t i)
{
    return (uintptr_t *)(ch->buf + i * ch->stride + ch->tok_off);
}

/* Send s, through slot i: its token goes to receive s (w, parked, or the
 * buffer), and it takes that of receive s - cap (unbuffered: of w). */
static void tok_send(tg_chan_t *ch, size_t i, struct waiter *w,
                     uintptr_t *mine, uintptr_t *got)
{
    if (ch->cap == 0) {
        w->tok_in = tok_take(mine);
        *got = tok_take(&w->tok_out);
        return;
    }
    uintptr_t *t = tok_of_slot(ch, i);
    *got = tok_take(&t[1]);
    if (w) {
        /* w is receive s: send s + cap follows it. */
        w->tok_in = tok_take(mine);
        t[1] = tok_take(&w->tok_out);
    } else {
        t[0] = tok_take(mine);
    }
}

/* Receive r, through slot i: it takes the token of send r and leaves its
 * own for send r + cap, which is w when a sender was parked on the full
 * buffer (unbuffered: w is send r). */
static void tok_recv(tg_chan_t *ch, size_t i, struct waiter *w,
                     uintptr_t *mine, uintptr_t *got)
{
    if (ch->cap == 0) {
        *got = tok_take(&w->tok_out);
        w->tok_in = tok_take(mine);
        return;
    }
    uintptr_t *t = tok_of_slot(ch, i);
    *got = tok_take(&t[0]);
    if (w) {
        w->tok_in = tok_take(mine);
        t[0] = tok_take(&w->tok_out);
    } else {
        t[1] = tok_take(mine);
    }
}

/* Outcome of an attempt: READY (done; *wake, if set, must be finish()ed
 * after unlocking), NOT_READY, or CLOSED (send on a closed channel). */
enum { NOT_READY = 0, READY, CLOSED };

static int send_locked(tg_chan_t *ch, const void *elem, uint64_t *seq,
                       struct waiter **wake, uintptr_t *mine, uintptr_t *got)
{
    *wake = NULL;
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed))
        return CLOSED;
    struct waiter *w = wq_claim(ch, &ch->recvq);
    if (w) {
        /* Only with an empty buffer can a receiver be parked, so the value
         * goes straight to it, as Go's send() does. */
        copy_out(ch, w->elem, elem);
        w->ok = true;
        w->seq = *seq = ch->sent++;
        ch->recvd++;
        /* The value passes through slot sendx without stopping there, as
         * in Go's send(): both indexes move on. */
        size_t i = ch->sendx;
        if (ch->cap && ++ch->sendx == ch->cap)
            ch->sendx = 0;
        ch->recvx = ch->sendx;
        if (ch->tokens)
            tok_send(ch, i, w, mine, got);
        *wake = w;
        return READY;
    }
    if (ch->count < ch->cap) {
        size_t i = ch->sendx;
        copy_out(ch, slot(ch, i), elem);
        if (++ch->sendx == ch->cap)
            ch->sendx = 0;
        __atomic_store_n(&ch->count, ch->count + 1, __ATOMIC_RELAXED);
        *seq = ch->sent++;
        if (ch->tokens)
            tok_send(ch, i, NULL, mine, got);
        return READY;
    }
    return NOT_READY;
}

static int recv_locked(tg_chan_t *ch, void *elem, bool *ok, uint64_t *seq,
                       struct waiter **wake, uintptr_t *mine, uintptr_t *got)
{
    *wake = NULL;
    struct waiter *w = wq_claim(ch, &ch->sendq);
    if (w) {
        size_t i = ch->recvx;
        if (ch->cap == 0) {
            copy_out(ch, elem, w->elem);
            w->seq = *seq = ch->sent++;
            ch->recvd++;
        } else {
            /* A sender is parked only on a full buffer: take the head and
             * put the sender's value at the tail (the same slot), keeping
             * FIFO order. */
            void *s = slot(ch, ch->recvx);
            copy_out(ch, elem, s);
            *seq = ch->recvd++;
            copy_out(ch, s, w->elem);
            w->seq = ch->sent++;
            if (++ch->recvx == ch->cap)
                ch->recvx = 0;
            ch->sendx = ch->recvx;
        }
        if (ch->tokens)
            tok_recv(ch, i, w, mine, got);
        w->ok = true;
        *ok = true;
        *wake = w;
        return READY;
    }
    if (ch->count > 0) {
        size_t i = ch->recvx;
        copy_out(ch, elem, slot(ch, i));
        if (++ch->recvx == ch->cap)
            ch->recvx = 0;
        __atomic_store_n(&ch->count, ch->count - 1, __ATOMIC_RELAXED);
        *seq = ch->recvd++;
        if (ch->tokens)
            tok_recv(ch, i, NULL, mine, got);
        *ok = true;
        return READY;
    }
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed)) {
        if (elem && ch->elem_size)
            memset(elem, 0, ch->elem_size);
        *seq = TG_SEQ_CLOSED;
        *ok = false;
        return READY;
    }
    return NOT_READY;
}

/* ---- send and receive -------------------------------------------------- */

/* Parks the caller on ch. Called with ch locked and w (on the caller's
 * stack) ready to queue on q; returns with ch unlocked: 0 when a partner
 * or close completed w, -ETIMEDOUT at the deadline, or PARK_EXPIRED when
 * ch's expiry passed first, after running its expiry function (the caller
 * then retries the operation, which finds ch closed). *parked says whether
 * the park probe already fired for this call. */
static int park_one(const struct tg_hooks *h, int op, tg_chan_t *ch,
                    struct waitq *q, struct waiter *w, int64_t deadline,
                    int64_t *floor, bool *parked)
{
    TG__ATOMIC_WORD(&w->pk->state, sizeof w->pk->state);
    wq_push(q, w);
    ch->refs++;
    /* Read now: once w is claimed, ch may be freed under us. */
    int64_t expiry = expiry_live(ch, *floor) ? ch->expiry_ns : TG_FOREVER;
    tg__unlock(&ch->lock);
    if (!*parked) {
        PROBE(h, park, op, ch, 0, 0, deadline, NULL, 0, -1);
        *parked = true;
    }
    int r = park_wait(w->pk, deadline, expiry);
    if (r == 0) {
        /* Claimed, so unlinked: nobody looks at pk any more. */
        TG__TRACK(&w->pk->state, sizeof w->pk->state);
        return 0;
    }
    /* Cancelled: nobody can claim w now, so our reference keeps ch alive
     * through the expiry function and the unlink. */
    if (r == PARK_EXPIRED) {
        ch->expiry_fn(ch->expiry_arg);
        *floor = expiry;
    }
    tg__lock(&ch->lock);
    if (w->linked)
        wq_unlink(q, w);
    ch->refs--;
    tg__unlock(&ch->lock);
    TG__TRACK(&w->pk->state, sizeof w->pk->state);
    return r;
}

static int chan_send(tg_chan_t *ch, const void *elem, bool block,
                     int64_t deadline)
{
    const struct tg_hooks *h = tg__hooks_get();
    if (!ch) {
        int r = block ? block_nil(h, TG_PROBE_SEND, deadline, NULL, 0)
                      : -EAGAIN;
        PROBE(h, complete, TG_PROBE_SEND, NULL, r, 0, deadline, NULL, 0, -1);
        return r;
    }
    if (!elem && ch->elem_size)
        return -EINVAL;
    check_expiry(ch);
    if (!block && send_blocked(ch)) {
        PROBE_DONE(h, TG_PROBE_SEND, ch, -EAGAIN, 0, deadline, NULL, 0, -1,
                   ch->tokens, 0);
        return -EAGAIN;
    }
    /* Before the lock: once it is released, a receiver may hold the value
     * and complete. Once per call, so not after retry. ch->tokens is read
     * now: ch may be freed as soon as the send took effect. */
    bool tokens = ch->tokens;
    uintptr_t mine = tg__begin_chan(h, TG_PROBE_SEND, ch, deadline, NULL, 0,
                                    tokens ? TG_PROBE_TOKENS : 0, tokens);
    uintptr_t got = 0;

    uint64_t seq = 0;
    struct waiter *wake;
    int r;
    bool parked = false;
    int64_t floor = INT64_MIN;
retry:
    tg__lock(&ch->lock);
    int st = send_locked(ch, elem, &seq, &wake, &mine, &got);
    if (st != NOT_READY) {
        tg__unlock(&ch->lock);
        if (wake)
            finish(wake);
        r = st == READY ? 0 : -EPIPE;
        if (r)
            seq = TG_SEQ_CLOSED;
    } else if (!block) {
        tg__unlock(&ch->lock);
        r = -EAGAIN;
    } else {
        struct parker pk = { .state = PK_WAITING };
        struct waiter w = { .pk = &pk, .elem = (void *)elem, .tok_out = mine };
        r = park_one(h, TG_PROBE_SEND, ch, &ch->sendq, &w, deadline, &floor,
                     &parked);
        mine = w.tok_out;
        got = w.tok_in;
        if (r == PARK_EXPIRED)
            goto retry;
        if (r == 0) {
            r = w.ok ? 0 : -EPIPE;
            seq = w.ok ? w.seq : TG_SEQ_CLOSED;
        }
    }
    if (parked)
        PROBE(h, wake, TG_PROBE_SEND, ch, r, 0, deadline, NULL, 0, -1);
    tg__drop_token(mine);
    PROBE_DONE(h, TG_PROBE_SEND, ch, r, seq, deadline, NULL, 0, -1, tokens,
               got);
    return r;
}

static int chan_recv(tg_chan_t *ch, void *elem, bool *okp, bool block,
                     int64_t deadline)
{
    const struct tg_hooks *h = tg__hooks_get();
    bool ok = false;
    if (!ch) {
        int r = block ? block_nil(h, TG_PROBE_RECV, deadline, NULL, 0)
                      : -EAGAIN;
        if (okp)
            *okp = false;
        PROBE(h, complete, TG_PROBE_RECV, NULL, r, 0, deadline, NULL, 0, -1);
        return r;
    }
    check_expiry(ch);
    if (!block && recv_blocked(ch)) {
        if (okp)
            *okp = false;
        PROBE_DONE(h, TG_PROBE_RECV, ch, -EAGAIN, 0, deadline, NULL, 0, -1,
                   ch->tokens, 0);
        return -EAGAIN;
    }
    /* Receive s happens before send s + cap completes, and that sender
     * may complete as soon as the lock is released. */
    bool tokens = ch->tokens;
    uintptr_t mine = tg__begin_chan(h, TG_PROBE_RECV, ch, deadline, NULL, 0,
                                    tokens ? TG_PROBE_TOKENS : 0, tokens);
    uintptr_t got = 0;

    uint64_t seq = 0;
    struct waiter *wake;
    int r = 0;
    bool parked = false;
    int64_t floor = INT64_MIN;
retry:
    tg__lock(&ch->lock);
    if (recv_locked(ch, elem, &ok, &seq, &wake, &mine, &got) == READY) {
        tg__unlock(&ch->lock);
        if (wake)
            finish(wake);
        r = 0;
    } else if (!block) {
        tg__unlock(&ch->lock);
        r = -EAGAIN;
    } else {
        struct parker pk = { .state = PK_WAITING };
        struct waiter w = { .pk = &pk, .elem = elem, .tok_out = mine };
        r = park_one(h, TG_PROBE_RECV, ch, &ch->recvq, &w, deadline, &floor,
                     &parked);
        mine = w.tok_out;
        got = w.tok_in;
        if (r == PARK_EXPIRED)
            goto retry;
        if (r == 0) {
            ok = w.ok;
            seq = w.ok ? w.seq : TG_SEQ_CLOSED;
        }
    }
    if (parked)
        PROBE(h, wake, TG_PROBE_RECV, ch, r, 0, deadline, NULL, 0, -1);
    if (okp)
        *okp = ok;
    tg__drop_token(mine);
    PROBE_DONE(h, TG_PROBE_RECV, ch, r, seq, deadline, NULL, 0, -1, tokens,
               got);
    return r;
}

int tg_chan_send(tg_chan_t *ch, const void *elem)
{
    return chan_send(ch, elem, true, TG_FOREVER);
}

int tg_chan_try_send(tg_chan_t *ch, const void *elem)
{
    return chan_send(ch, elem, false, TG_FOREVER);
}

int tg_chan_send_timeout(tg_chan_t *ch, const void *elem, int64_t timeout_ns)
{
    return chan_send(ch, elem, true, tg__deadline_after(timeout_ns));
}

int tg_chan_send_deadline(tg_chan_t *ch, const void *elem, int64_t deadline_ns)
{
    return chan_send(ch, elem, true, deadline_ns);
}

int tg_chan_recv(tg_chan_t *ch, void *elem, bool *ok)
{
    return chan_recv(ch, elem, ok, true, TG_FOREVER);
}

int tg_chan_try_recv(tg_chan_t *ch, void *elem, bool *ok)
{
    return chan_recv(ch, elem, ok, false, TG_FOREVER);
}

int tg_chan_recv_timeout(tg_chan_t *ch, void *elem, bool *ok,
                         int64_t timeout_ns)
{
    return chan_recv(ch, elem, ok, true, tg__deadline_after(timeout_ns));
}

int tg_chan_recv_deadline(tg_chan_t *ch, void *elem, bool *ok,
                          int64_t deadline_ns)
{
    return chan_recv(ch, elem, ok, true, deadline_ns);
}

int tg_chan_close(tg_chan_t *ch)
{
    const struct tg_hooks *h = tg__hooks_get();
    if (!ch) {
        PROBE(h, complete, TG_PROBE_CLOSE, NULL, -EINVAL, TG_SEQ_CLOSED,
              TG_FOREVER, NULL, 0, -1);
        return -EINVAL;
    }
    tg__begin(h, TG_PROBE_CLOSE, TG_OBJ_CHAN, ch, 0, 0, TG_FOREVER, NULL, 0);
    tg__lock(&ch->lock);
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed)) {
        tg__unlock(&ch->lock);
        PROBE(h, complete, TG_PROBE_CLOSE, ch, -EPIPE, TG_SEQ_CLOSED,
              TG_FOREVER, NULL, 0, -1);
        return -EPIPE;
    }
    atomic_store_explicit(&ch->closed, true, memory_order_relaxed);
    /* Claim every waiter under the lock, wake them after unlocking (as
     * Go's closechan readies its glist), so they do not pile onto the lock
     * we still hold. */
    struct waiter *list = NULL, *w;
    while ((w = wq_claim(ch, &ch->recvq)) != NULL) {
        if (w->elem && ch->elem_size)
            memset(w->elem, 0, ch->elem_size);
        w->ok = false;
        w->seq = TG_SEQ_CLOSED;
        w->wnext = list;
        list = w;
    }
    while ((w = wq_claim(ch, &ch->sendq)) != NULL) {
        w->ok = false;
        w->seq = TG_SEQ_CLOSED;
        w->wnext = list;
        list = w;
    }
    tg__unlock(&ch->lock);
    while (list) {
        w = list;
        list = w->wnext;
        finish(w);
    }
    PROBE(h, complete, TG_PROBE_CLOSE, ch, 0, TG_SEQ_CLOSED, TG_FOREVER,
          NULL, 0, -1);
    return 0;
}

size_t tg_chan_len(const tg_chan_t *ch)
{
    if (!ch)
        return 0;
    tg_chan_t *c = (tg_chan_t *)ch;
    tg__lock(&c->lock);
    size_t n = c->count;
    tg__unlock(&c->lock);
    return n;
}

size_t tg_chan_cap(const tg_chan_t *ch)
{
    return ch ? ch->cap : 0;
}

size_t tg_chan_elem_size(const tg_chan_t *ch)
{
    return ch ? ch->elem_size : 0;
}

/* ---- select ------------------------------------------------------------ */

/* Up to this many cases, select keeps its work arrays on the stack. */
#define SELECT_STACK_CASES 16

static void lock_all(tg_case_t *cases, const uint32_t *lockorder, size_t n)
{
    tg_chan_t *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        tg_chan_t *ch = cases[lockorder[i]].ch;
        if (ch != prev)
            tg__lock(&ch->lock);
        prev = ch;
    }
}

static void unlock_all(tg_case_t *cases, const uint32_t *lockorder, size_t n)
{
    /* Each channel once, however many cases name it; only pointers are
     * compared after an unlock, as another thread may free a channel as
     * soon as it is unlocked and our references are gone. */
    for (size_t i = n; i-- > 0;) {
        tg_chan_t *ch = cases[lockorder[i]].ch;
        if (i == 0 || cases[lockorder[i - 1]].ch != ch)
            tg__unlock(&ch->lock);
    }
}

/* The lock-free check for one select case on a live channel. */
static inline bool case_blocked(tg_case_t *c)
{
    return c->op == TG_CASE_SEND ? send_blocked(c->ch) : recv_blocked(c->ch);
}

static int do_select(tg_case_t *cases, size_t n, bool block, int64_t deadline)
{
    const struct tg_hooks *h = tg__hooks_get();
    if (n && !cases)
        return -EINVAL;
    if (n > UINT32_MAX)
        return -EINVAL;
    /* A select with default and one case is Go's selectnbsend/selectnbrecv,
     * the usual poll: answered before any of select's set-up when the case
     * cannot proceed. */
    if (!block && n == 1 && cases[0].ch &&
        (cases[0].op == TG_CASE_RECV ||
         (cases[0].op == TG_CASE_SEND &&
          (cases[0].elem || !cases[0].ch->elem_size)))) {
        check_expiry(cases[0].ch);
        if (case_blocked(&cases[0])) {
            PROBE(h, complete, TG_PROBE_SELECT, NULL, -EAGAIN, 0, deadline,
                  cases, n, -1);
            return -EAGAIN;
        }
    }

    uint32_t stack_idx[2 * SELECT_STACK_CASES];
    struct waiter stack_w[SELECT_STACK_CASES];
    uint32_t *pollorder = stack_idx, *lockorder;
    struct waiter *ws = stack_w;
    void *heap = NULL;
    if (n > SELECT_STACK_CASES) {
        heap = malloc(n * (2 * sizeof(uint32_t) + sizeof(struct waiter)));
        if (!heap)
            return -ENOMEM;
        ws = heap;
        pollorder = (uint32_t *)(ws + n);
    }
    lockorder = pollorder + n;

    /* Validate, run due expiries, and shuffle the live cases into poll
     * order (inside-out Fisher-Yates, as Go's pollorder). */
    size_t live = 0, carry = 0;   /* live cases, those that carry tokens */
    for (size_t i = 0; i < n; i++) {
        tg_case_t *c = &cases[i];
        if (c->op != TG_CASE_RECV && c->op != TG_CASE_SEND) {
            free(heap);
            return -EINVAL;
        }
        if (!c->ch)
            continue;
        if (c->op == TG_CASE_SEND && !c->elem && c->ch->elem_size) {
            free(heap);
            return -EINVAL;
        }
        check_expiry(c->ch);
        carry += c->ch->tokens;
        uint32_t j = fastrandn((uint32_t)live + 1);
        pollorder[live] = pollorder[j];
        pollorder[j] = (uint32_t)i;
        live++;
    }

    int r;
    uint64_t seq = 0;
    uintptr_t mine = 0, got = 0;  /* the select's token, the partner's */
    bool tokens = false;          /* the chosen channel carries them */
    if (live == 0) {
        r = block ? block_nil(h, TG_PROBE_SELECT, deadline, cases, n)
                  : -EAGAIN;
        goto out_default;
    }
    /* The same check when one case is left once NULL channels are set
     * aside. (With several live cases, checks at different moments could
     * report "none ready" when no single moment had them all blocked, so
     * those take the locks.) */
    if (!block && live == 1 && case_blocked(&cases[pollorder[0]])) {
        r = -EAGAIN;
        goto out_default;
    }

    /* Lock order: by channel address (insertion sort; selects are small). */
    for (size_t i = 0; i < live; i++) {
        uint32_t v = pollorder[i];
        size_t j = i;
        while (j > 0 && (uintptr_t)cases[lockorder[j - 1]].ch >
                            (uintptr_t)cases[v].ch) {
            lockorder[j] = lockorder[j - 1];
            j--;
        }
        lockorder[j] = v;
    }

    /* Once, before any channel is locked: the partner of whichever case
     * fires may complete as soon as the locks are released. One token for
     * all cases: it goes with the one that fires. */
    mine = tg__begin_chan(h, TG_PROBE_SELECT, NULL, deadline, cases, n,
                          carry == live ? TG_PROBE_TOKENS : 0, carry > 0);

    bool parked = false;
    int64_t floor = INT64_MIN;
    struct parker pk;
retry:
    lock_all(cases, lockorder, live);

    /* Pass 1: the first ready case in poll order wins. */
    for (size_t k = 0; k < live; k++) {
        uint32_t i = pollorder[k];
        tg_case_t *c = &cases[i];
        struct waiter *wake;
        int st;
        bool ok = false;
        if (c->op == TG_CASE_SEND)
            st = send_locked(c->ch, c->elem, &seq, &wake, &mine, &got);
        else
            st = recv_locked(c->ch, c->elem, &ok, &seq, &wake, &mine, &got);
        if (st == NOT_READY)
            continue;
        tokens = c->ch->tokens;
        unlock_all(cases, lockorder, live);
        if (wake)
            finish(wake);
        c->ok = ok;
        c->err = st == CLOSED ? -EPIPE : 0;
        if (st == CLOSED)
            seq = TG_SEQ_CLOSED;
        r = (int)i;
        if (parked)
            PROBE(h, wake, TG_PROBE_SELECT, NULL, 0, 0, deadline, cases, n, r);
        goto out_case;
    }
    if (!block) {
        unlock_all(cases, lockorder, live);
        r = -EAGAIN;
        goto out_default;
    }

    /* Pass 2: park on every channel. The select holds a reference on each
     * until pass 3, so they stay alive while it waits. */
    pk = (struct parker){ .state = PK_WAITING };
    TG__ATOMIC_WORD(&pk.state, sizeof pk.state);
    int64_t expiry = TG_FOREVER;
    for (size_t k = 0; k < live; k++) {
        uint32_t i = lockorder[k];
        tg_case_t *c = &cases[i];
        struct waiter *w = &ws[i];
        *w = (struct waiter){ .pk = &pk, .elem = c->elem, .index = (int)i,
                              .sel = true, .tok_out = mine };
        wq_push(c->op == TG_CASE_SEND ? &c->ch->sendq : &c->ch->recvq, w);
        c->ch->refs++;
        if (expiry_live(c->ch, floor) && c->ch->expiry_ns < expiry)
            expiry = c->ch->expiry_ns;
    }
    unlock_all(cases, lockorder, live);
    if (!parked) {
        PROBE(h, park, TG_PROBE_SELECT, NULL, 0, 0, deadline, cases, n, -1);
        parked = true;
    }
    r = park_wait(&pk, deadline, expiry);
    if (r == PARK_EXPIRED) {
        for (size_t k = 0; k < live; k++) {
            tg_chan_t *ch = cases[lockorder[k]].ch;
            if (expiry_live(ch, floor) && ch->expiry_ns <= expiry &&
                (k == 0 || cases[lockorder[k - 1]].ch != ch))
                ch->expiry_fn(ch->expiry_arg);
        }
        floor = expiry;
    }

    /* Pass 3: take our other waiters off their queues. */
    lock_all(cases, lockorder, live);
    for (size_t k = 0; k < live; k++) {
        uint32_t i = lockorder[k];
        tg_case_t *c = &cases[i];
        if (ws[i].linked)
            wq_unlink(c->op == TG_CASE_SEND ? &c->ch->sendq : &c->ch->recvq,
                      &ws[i]);
        if (r == 0 && (int)i == pk.fired)
            tokens = c->ch->tokens;
        c->ch->refs--;
    }
    unlock_all(cases, lockorder, live);
    /* Only the waiter that fired can have handed the token on. */
    if (r == 0) {
        mine = ws[pk.fired].tok_out;
        got = ws[pk.fired].tok_in;
    }
    TG__TRACK(&pk.state, sizeof pk.state);
    if (r == PARK_EXPIRED)
        goto retry;
    PROBE(h, wake, TG_PROBE_SELECT, NULL, r, 0, deadline, cases, n,
          r ? -1 : pk.fired);
    if (r)
        goto out_default;

    r = pk.fired;
    {
        tg_case_t *c = &cases[r];
        struct waiter *w = &ws[r];
        seq = w->seq;
        if (c->op == TG_CASE_SEND) {
            c->err = w->ok ? 0 : -EPIPE;
            c->ok = false;
        } else {
            c->err = 0;
            c->ok = w->ok;
        }
    }

out_case:
    free(heap);
    tg__drop_token(mine);
    PROBE_DONE(h, cases[r].op == TG_CASE_SEND ? TG_PROBE_SEND : TG_PROBE_RECV,
               cases[r].ch, cases[r].err, seq, deadline, cases, n, r, tokens,
               got);
    return r;

out_default:
    free(heap);
    tg__drop_token(mine);
    PROBE(h, complete, TG_PROBE_SELECT, NULL, r, 0, deadline, cases, n, -1);
    return r;
}

int tg_select(tg_case_t *cases, size_t n)
{
    return do_select(cases, n, true, TG_FOREVER);
}

int tg_select_try(tg_case_t *cases, size_t n)
{
    return do_select(cases, n, false, TG_FOREVER);
}

int tg_select_timeout(tg_case_t *cases, size_t n, int64_t timeout_ns)
{
    return do_select(cases, n, true, tg__deadline_after(timeout_ns));
}

int tg_select_deadline(tg_case_t *cases, size_t n, int64_t deadline_ns)
{
    return do_select(cases, n, true, deadline_ns);
}
