/*
 * shim/shim.h: the preload shim's internal API, shared by its files (and by
 * the race checker's entry points, shim/tsan.c, which builds on it).
 *
 * The shim keeps three kinds of state. The log (include/tangle/log.h), a
 * shared mapping that outlives the process, holds everything a report
 * needs. Private anonymous maps hold the indexes that make the log cheap to
 * write: the lock table (per-lock state keyed by address), the stack
 * hash-cons index and the lock-order edge index; all are lock-free
 * open-addressed tables that never move or shrink. Thread-local state
 * (struct tg__thread) holds what only the thread itself writes: its log
 * record, its held-lock set, its event chunk and a small cache of known
 * lock-order edges. Everything the shim does on the program's behalf runs
 * under the thread's recursion guard, so calls the shim itself causes
 * (dlsym, libunwind, dladdr) go straight to glibc.
 */
#ifndef TANGLE_SHIM_H
#define TANGLE_SHIM_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <threads.h>
#include <time.h>

#include "tangle/log.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* A CPU hint for spin loops. */
static inline void tg__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#define RELAXED memory_order_relaxed
#define ACQUIRE memory_order_acquire
#define RELEASE memory_order_release

/* A pthread function's result as the C11 thread functions return it
 * (glibc's own mapping). */
static inline int tg__thrd_rc(int err)
{
    switch (err) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case ETIMEDOUT:
        return thrd_timedout;
    case EBUSY:
        return thrd_busy;
    default:
        return thrd_error;
    }
}

/* ---- real functions --------------------------------------------------- */

/* Resolves the next definition of `name` (at `version` when non-NULL) once
 * and caches it in *slot. Safe before the constructor ran and from any
 * thread: racing resolvers store the same value. Aborts with a message if
 * glibc lacks the symbol, since the program could not run anyway. */
void *tg__resolve(void **slot, const char *name, const char *version);

/* Declares `real_NAME` and a resolver `REAL(NAME)` evaluating to it. */
#define REAL_FN(ret, name, args) \
    static ret (*real_##name) args
#define REAL(name) \
    (likely(__atomic_load_n(&real_##name, __ATOMIC_RELAXED) != NULL) \
        ? real_##name \
        : (__typeof__(real_##name))tg__resolve((void **)&real_##name, #name, NULL))
#define REALV(name, ver) \
    (likely(__atomic_load_n(&real_##name, __ATOMIC_RELAXED) != NULL) \
        ? real_##name \
        : (__typeof__(real_##name))tg__resolve((void **)&real_##name, #name, ver))

/* ---- options and global state ------------------------------------------ */

struct tg__options {
    bool full;              /* mode=full (or race=1) */
    bool race;
    bool race_log;          /* race=log: log accesses, check offline */
    bool deadlock_abort;
    bool verbose;
    unsigned watchdog_ms;   /* 0: no watchdog */
    unsigned stack_depth;   /* 1..TG_LOG_MAX_FRAMES */
    unsigned events_mb;
    unsigned exit_settle_ms; /* settle loop at exit; 0: none */
    unsigned lock_spin_us;  /* contended mutex or rwlock: user-space wait first */
};

enum { TG__OFF = 0, TG__INITING, TG__ON, TG__UNTRACED };

struct tg__global {
    _Atomic int state;          /* TG__* */
    struct tg__options opt;
    int fd;
    char *base;                 /* the mapped log */
    uint64_t size;
    struct tg_log_header *hdr;
    char *sec[TG_SEC_COUNT];    /* section starts */
    uint64_t cap[TG_SEC_COUNT]; /* records (fixed) or bytes (variable) */
    uintptr_t self_lo, self_hi; /* the shim's own text, skipped in stacks */
    _Atomic int finished;       /* final snapshot written */
    int pid;
    _Atomic uint32_t exit_code_set;
    int exit_code;
    pthread_t watchdog;
    _Atomic int watchdog_running;   /* 0 not yet, 1 started (or starting) */
    /* Program threads alive (main and those started through the shim's
     * start routine; internal ones excluded). At 0 the watchdog must go,
     * or it alone would keep the process alive. */
    _Atomic int live_threads;
    _Atomic int watchdog_stop;      /* futex word: 1 asks the watchdog to end */
    _Atomic int watchdog_joinable;  /* tg__g.watchdog may be joined once */
};

extern struct tg__global tg__g;

/* True while the shim records. One relaxed load: the hot path's first test. */
static inline bool tg__on(void)
{
    return atomic_load_explicit(&tg__g.state, RELAXED) == TG__ON;
}

/* Starts the shim if it was not (constructor, or the first intercepted call
 * if another library's constructor calls in first). Returns tg__on(). */
bool tg__init(void);

/* Monotonic and realtime clocks in ns. */
static inline uint64_t tg__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC at the kernel tick's resolution (a few ms), for the
 * start and length of a wait: a few ns where tg__now costs tens. */
static inline uint64_t tg__now_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Converts an absolute timespec on `clock` to a CLOCK_MONOTONIC deadline in
 * ns (INT64_MAX for NULL). */
int64_t tg__deadline(clockid_t clock, const struct timespec *abs);

/* Reserves one fixed-size record of section `sec`. Returns it zeroed (the
 * file is sparse and never reused), or NULL after counting a drop. */
void *tg__rec_alloc(int sec, uint32_t *id_out);
/* Record `id` (index + 1) of a fixed-size section, or NULL if out of range. */
void *tg__rec_get(int sec, uint32_t id);
/* Thread records handed out so far (ids 1..n), at most the table's room. */
static inline uint64_t tg__threads_used(void)
{
    uint64_t n = atomic_load_explicit(&tg__g.hdr->sec[TG_SEC_THREADS].used,
                                      memory_order_relaxed);
    return n > tg__g.cap[TG_SEC_THREADS] ? tg__g.cap[TG_SEC_THREADS] : n;
}

/* Writes one line "tangle: ..." on stderr with write(2). */
void tg__warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- per-thread state ---------------------------------------------------- */

#define TG__MAX_HELD 64
#define TG__ECACHE   64
#define TG__CCACHE_BITS 4
#define TG__CCACHE   (1 << TG__CCACHE_BITS)  /* lock chains a thread
                               remembers: static TLS, so every thread of
                               every traced program carries it (88 bytes
                               each) */
#define TG__CHAIN_EDGES 7   /* chains are kept up to this many locks deep
                               before the one acquired */

struct tg__lock;
struct tg__held {
    uintptr_t addr;
    struct tg__lock *lock;   /* its lock-table entry, NULL if none */
    uint32_t obj;
    uint32_t stack;      /* acquisition stack if taken after a wait, else 0 */
    uintptr_t pc;        /* acquisition site (caller's return address) */
    uintptr_t cfa;       /* caller's stack pointer at the acquisition */
    uint32_t mode;       /* 0 exclusive, 1 read */
    uint32_t count;      /* recursive depth */
    /* The name of the chain held[0..this] (see struct tg__chain), 0 when
     * unknown, or when a lock in it has no object. */
    uint64_t chain;
};

/* A lock chain: the exact sequence of (object, mode) a thread held, then
 * one more lock acquired (lockdep's chain cache). The thread has seen this
 * acquisition before, so every edge from a held lock into `to` exists and
 * its gates are already a subset of the held locks, which later
 * observations can only shrink: repeating it needs only the counts
 * bumped, and the entry keeps where they are. A chain is named by its
 * parent (the chain held before) and `to`, and numbered with an id that
 * names that whole sequence; ids are never reused, so an entry that was
 * overwritten leaves no child able to take its name. */
struct tg__chain {
    uint64_t parent;     /* a one-lock chain: its obj | mode << 31; else an
                            id; 0: empty entry */
    uint32_t to;         /* obj | mode << 31 of the lock acquired */
    uint32_t nedge;      /* entries in edge[]; TG__CHAIN_NOEDGES when the
                            chain was only reached without noting edges
                            (trylock, after a wait, an out-of-order
                            unlock): it names the sequence, no more */
    uint32_t pending;    /* observations not yet added to the edges'
                            counts (see tg__chain_count) */
    uint64_t id;         /* >= 2^32, so never a one-lock chain's name */
    struct tg_log_edge *edge[TG__CHAIN_EDGES];  /* the edges into `to`;
                            an edge the full log dropped is left out */
};
#define TG__CHAIN_NOEDGES UINT32_MAX

enum { TG__T_NEW = 0, TG__T_LIVE, TG__T_UNTRACKED, TG__T_DEAD };

struct tg__thread {
    int guard;                  /* >0: inside the shim, pass calls through */
    int tstate;                 /* TG__T_* */
    uint32_t id;                /* log thread id, 0 when untracked */
    struct tg_log_thread *rec;
    uint32_t nheld;             /* entries in held[] */
    uint32_t held_lost;         /* acquisitions beyond TG__MAX_HELD */
    uint32_t mirrored;          /* held[] entries in sync with the record */
    struct tg__held held[TG__MAX_HELD];
    /* event stream */
    struct tg_log_chunk *chunk;
    struct tg_log_event *ev;
    uint32_t ev_used, ev_cap;
    uint64_t chunk_gen, chunk_seq;
    /* known lock-order edges: key -> index slot and, once written, the
     * log record (NULL: not yet looked at, or dropped) */
    uint64_t ekey[TG__ECACHE];
    uint32_t eidx[TG__ECACHE];
    struct tg_log_edge *erec[TG__ECACHE];
    /* known lock chains, direct-mapped, and the last chain id given */
    struct tg__chain chain[TG__CCACHE];
    uint64_t chain_next;
    int exit_how;               /* 1 pthread_exit, 2 returned */
    bool wrapped;               /* started by the shim's start routine */
    uint32_t exit_stack;
    void (*once_fn)(void);      /* pthread_once routine being run */
    void *once_ctl;
    /* libtangle parks in progress: a blocking call may park inside
     * another (a pool submit's send on the queue); the outermost one
     * names the thread's state. */
    uint32_t park_depth;
};

extern __thread struct tg__thread tg__self;

/* The calling thread's state, registered in the thread table on first
 * contact. Returns NULL when the shim is off or the thread is untracked
 * (table full, or exiting). Cheap when already registered. */
struct tg__thread *tg__thread_slow(void);
static inline struct tg__thread *tg__me(void)
{
    struct tg__thread *t = &tg__self;
    if (likely(t->tstate == TG__T_LIVE))
        return t;
    return tg__thread_slow();
}

/* Blocked-state bookkeeping on the thread record (seqlock writer side).
 * tg__block captures the caller's stack (skipping the shim) unless
 * `stack` is non-zero. */
void tg__block(struct tg__thread *t, uint32_t op, const void *obj,
               uint64_t obj2, int64_t deadline_ns, uint32_t stack);
/* In flight mode a wait leaves BLOCK and UNBLOCK events only if it lasted
 * this long by the coarse clock (that is, a tick passed during it);
 * shorter ones are seen only while they last, in the record. */
#define TG__BLOCK_EVENT_NS 1000000u
void tg__unblock(struct tg__thread *t);
uint32_t tg__waiter(const void *obj, uint32_t self, uint32_t *thread);
/* The live thread whose kernel tid is `tid`, 0 if none. */
uint32_t tg__thread_by_tid(int tid);

/* Opens / closes a seqlock write section on the thread's record. */
static inline void tg__seq_begin(struct tg_log_thread *r)
{
    uint32_t s = atomic_load_explicit(&r->seq, RELAXED);
    atomic_store_explicit(&r->seq, s + 1, RELAXED);
    atomic_thread_fence(memory_order_release);
}
static inline void tg__seq_end(struct tg_log_thread *r)
{
    uint32_t s = atomic_load_explicit(&r->seq, RELAXED);
    atomic_store_explicit(&r->seq, s + 1, RELEASE);
}

/* Finds the log record of a live thread by pthread_t (latest first), 0. */
uint32_t tg__thread_by_pthread(pthread_t pt);
/* Records the calling thread's end (exit or cancel): held-lock misuse,
 * state EXITED. Idempotent. */
void tg__thread_exit(struct tg__thread *t);
/* Forgets every other thread after fork and registers the caller anew. */
void tg__thread_after_fork(void);
/* The fork child's count of threads spinning for a lock: none of the
 * parent's spinners came along (mutex.c). */
void tg__spin_after_fork(void);
/* Thread-table setup at init: creates the key whose destructor notices
 * threads that were not created through pthread_create. */
void tg__threads_init(void);

/* ---- stacks and modules -------------------------------------------------- */

/* Captures the calling thread's stack, innermost first, without the shim's
 * own frames, and returns its id in the stack table (hash-consed: equal
 * stacks share one id). 0 when the table is full or the shim is off. The
 * caller must hold the recursion guard or accept that libunwind's own
 * calls are traced. */
uint32_t tg__stack_here(void);
/* As tg__stack_here, for a call a thread makes again and again from the
 * same place (a park, a thread creation): the same id, but a repeat at the
 * same depth gets it for a few loads instead of an unwind (see stack.c).
 * Must not be inlined: its frame address identifies the depth. */
__attribute__((noinline)) uint32_t tg__stack_site(void);
/* Same, also returning up to `max` frames' pcs and stack pointers (for
 * relating an earlier acquisition site to the current stack). */
uint32_t tg__stack_here_sp(uintptr_t *pcs, uintptr_t *sps, int *n, int max);
/* Hash-conses pcs[0..n) into the stack table. */
uint32_t tg__stack_intern(const uintptr_t *pcs, int n);
/* Records modules loaded since the last call (dl_iterate_phdr adds/subs). */
void tg__modules_scan(void);
/* Forgets the private stack index and known modules (after fork, with a
 * new log). */
void tg__stacks_reset(void);
void tg__modules_forget(void);

/* ---- objects and the lock table -------------------------------------------- */

enum {
    TG__LK_TWO_MUTEX  = 1u << 1,   /* cond: two-mutex misuse reported */
    TG__LK_SEEN       = 1u << 2,   /* lock: taken under the shim, or
                                      initialized under it */
};

/* Per-address state, in a private lock-free table. An entry, once claimed
 * for an address, stays; destroying the object clears `obj`, and the next
 * use creates a new log object (generation + 1). */
struct tg__lock {
    _Atomic uintptr_t addr;
    _Atomic uint32_t obj;        /* log object id; 0 none; TG__OBJ_BUSY */
    _Atomic uint32_t owner;      /* exclusive holder's thread id */
    _Atomic uint32_t generation;
    _Atomic uint32_t releases;   /* sync sequence: releases so far */
    _Atomic uint32_t readers;    /* rwlock: read holders */
    _Atomic uint32_t waiters;    /* cond / barrier: threads inside wait */
    _Atomic uint32_t aux;        /* cond: its mutex's object id; barrier:
                                    arrivals */
    _Atomic uint32_t flags;      /* TG__LK_* */
    uint32_t kind;               /* enum tg_log_obj_kind */
    uint32_t pad;
    /* The race checker's clocks for this address (race.c's node for a
     * lock at addr, which lives as long as the process): found once, so
     * a lock hand-over needs no look-up. */
    void *_Atomic rc;
    /* Exclusive holder's acquisition site (return address), so another
     * thread that finds misuse can name where the lock was taken: the
     * holder's own held set is private and its record's copy has no
     * stack for a lock taken without waiting. Written with `owner`, on
     * the same cache line: the fast path pays one store. */
    _Atomic uintptr_t site;
};
#define TG__OBJ_BUSY UINT32_MAX

#define TG__LOCK_BITS 20
extern struct tg__lock *tg__locks;
static inline uint32_t tg__lock_hash(uintptr_t a)
{
    return (uint32_t)(((a >> 3) * 0x9e3779b97f4a7c15ull) >> (64 - TG__LOCK_BITS));
}
struct tg__lock *tg__lock_get_slow(const void *addr);

/* The entry for addr, claimed if new; NULL if the table is full (counted
 * as a dropped object). Lock-free; no allocation. The common case (the
 * address sits in its home slot) is inlined. */
static inline struct tg__lock *tg__lock_get(const void *addr)
{
    struct tg__lock *tab = tg__locks;
    if (likely(tab != NULL)) {
        struct tg__lock *l = &tab[tg__lock_hash((uintptr_t)addr)];
        if (likely(atomic_load_explicit(&l->addr, ACQUIRE) == (uintptr_t)addr))
            return l;
    }
    return tg__lock_get_slow(addr);
}
/* True once the lock was acquired under the shim: it is held, or was
 * released at least once. (An unlock of a lock never seen locked may
 * match a lock taken before the shim started: not misuse.) */
static inline bool tg__lock_seen(struct tg__lock *l)
{
    return (atomic_load_explicit(&l->flags, RELAXED) & TG__LK_SEEN) ||
           atomic_load_explicit(&l->owner, RELAXED) ||
           atomic_load_explicit(&l->readers, RELAXED);
}

/* The entry for addr if it exists, else NULL. */
struct tg__lock *tg__lock_find(const void *addr);
/* The thread that holds l (at addr) exclusively, 0 if none or unknown.
 * For a mutex it is found from the mutex (glibc's owner tid). */
uint32_t tg__lock_owner(struct tg__lock *l, const void *addr);
/* The kernel tid that holds the mutex at addr, 0 if none; `safe`: the
 * mutex may be gone, read it without risk of a fault. */
int tg__mutex_tid(const void *addr, bool safe);

struct tg__obj_init {
    uint32_t kind;          /* enum tg_log_obj_kind */
    uint32_t flags;         /* TG_OBJF_* at creation */
    uint32_t stack;         /* 0: captured here */
    uint64_t a, b, owner_addr;
    const char *name;
};

/* The log object id of entry l, creating the record (with `in`) if the
 * address has none in its current generation. 0 if the table is full. */
uint32_t tg__obj_id(struct tg__lock *l, const struct tg__obj_init *in);
/* Creates a new object for addr now, ending any earlier generation. */
uint32_t tg__obj_create(const void *addr, const struct tg__obj_init *in);
/* Marks the object at addr destroyed (flags, stack, time) and detaches the
 * address so its next use is a new object. */
void tg__obj_destroy(const void *addr, uint32_t extra_flags);
/* The log record of object id, or NULL. */
struct tg_log_object *tg__obj_rec(uint32_t id);
/* Sets flags on an object's record, after writing the event fields. */
void tg__obj_flag(uint32_t id, uint32_t flags, uint32_t event_stack);
/* Forgets the private lock table (after fork). */
void tg__locks_reset(void);
/* Stores a string in the string section; returns its id or 0. */
uint32_t tg__string(const char *s);

/* ---- held locks and the lock-order graph ---------------------------------- */

/* Called with the lock acquired by the caller: pushes it on the held set,
 * mirrors it to the thread record and, unless `tried`, records lock-order
 * edges from every held lock. pc/cfa: the caller's acquisition site. */
void tg__acquired_slow(struct tg__thread *t, struct tg__lock *l, uint32_t obj,
                       const void *addr, uint32_t mode, bool tried,
                       uintptr_t pc, uintptr_t cfa, uint32_t stack);

/* A lock as a chain element: its object and mode. */
static inline uint32_t tg__chain_lock(uint32_t obj, uint32_t mode)
{
    return obj | mode << 31;
}
/* The entry of t's chain cache where the chain (parent, to) belongs. */
static inline struct tg__chain *tg__chain_slot(struct tg__thread *t,
                                               uint64_t parent, uint32_t to)
{
    uint64_t h = (parent ^ (uint64_t)to << 17) * 0x9e3779b97f4a7c15ull;
    return &t->chain[h >> (64 - TG__CCACHE_BITS)];
}
/* Adds chain c's pending observations to its edges' counts (saturating). */
void tg__chain_flush(struct tg__chain *c);
/* One more observation of chain c's edges. The edge records are shared:
 * two threads nesting the same locks would pass their lines back and forth
 * at every nesting, so a thread adds its observations in batches (and
 * when the entry is replaced, or the thread ends). A count is then short
 * by at most a batch per thread that is still running. */
#define TG__COUNT_BATCH 64
static inline void tg__chain_count(struct tg__chain *c)
{
    if (likely(++c->pending < TG__COUNT_BATCH))
        return;
    tg__chain_flush(c);
}
/* Flushes every chain entry of t (the thread ends, or the process). */
void tg__chains_flush(struct tg__thread *t);
/* Writes held entry n (a first acquisition, count 1) and makes it the
 * innermost: n + 1 entries held. */
static inline void tg__held_push(struct tg__thread *t, uint32_t n,
                                 struct tg__lock *l, uint32_t obj,
                                 const void *addr, uint32_t mode, uintptr_t pc,
                                 uintptr_t cfa, uint32_t stack, uint64_t chain)
{
    struct tg__held *h = &t->held[n];
    h->addr = (uintptr_t)addr;
    h->lock = l;
    h->obj = obj;
    h->stack = stack;
    h->pc = pc;
    h->cfa = cfa;
    h->mode = mode;
    h->count = 1;
    h->chain = chain;
    t->nheld = n + 1;
}
static inline __attribute__((always_inline)) void
tg__acquired(struct tg__thread *t, struct tg__lock *l, uint32_t obj,
             const void *addr, uint32_t mode, bool tried, uintptr_t pc,
             uintptr_t cfa, uint32_t stack)
{
    uint32_t n = t->nheld;
    uint64_t id;
    /* The common case: nothing held, so no recursion and no edges. */
    if (likely(n == 0)) {
        id = obj ? tg__chain_lock(obj, mode) : 0;
        goto push;
    }
    /* Next: a nested acquisition the thread made before, under the same
     * locks (same order, same modes). Its edges exist and need only their
     * counts (see struct tg__chain). Anything else, and edges first seen,
     * go the slow way. A hit is never a recursive acquisition, so the held
     * set need not be searched: an entry (P, to) is made only while `to`'s
     * address is not held, and holding P again means holding the same
     * objects (never 0: a lock without one ends the chain), each of which
     * only ever had one address. */
    if (tried || !obj || n > TG__CHAIN_EDGES)
        goto slow;
    uint64_t parent = t->held[n - 1].chain;
    uint32_t to = tg__chain_lock(obj, mode);
    struct tg__chain *c = tg__chain_slot(t, parent, to);
    uint32_t ne = c->nedge;
    if (unlikely(c->parent != parent || c->to != to || !parent ||
                 ne == TG__CHAIN_NOEDGES))
        goto slow;
    tg__chain_count(c);
    id = c->id;
push:
    tg__held_push(t, n, l, obj, addr, mode, pc, cfa, stack, id);
    return;
slow:
    tg__acquired_slow(t, l, obj, addr, mode, tried, pc, cfa, stack);
}
/* Records the lock-order edges into addr before the caller blocks on it
 * (lockdep's way: an acquisition that deadlocks never completes, yet its
 * edges are what explains the deadlock). The later tg__acquired must then
 * pass tried = true so the edges are not counted twice. */
void tg__acquiring(struct tg__thread *t, uint32_t obj, const void *addr,
                   uint32_t mode, uint32_t stack);
/* Index of addr in t's held set (searched innermost first), or -1. */
static inline int tg__held_find(struct tg__thread *t, const void *addr)
{
    for (int i = (int)t->nheld - 1; i >= 0; i--)
        if (t->held[i].addr == (uintptr_t)addr)
            return i;
    return -1;
}
/* Releases held entry i once: false while a recursive count remains,
 * true when the entry left the set. */
bool tg__held_remove(struct tg__thread *t, int i);
/* Copies the held set into the thread's record (done when the thread
 * blocks or ends; the record's held[] may be stale while it runs). */
void tg__held_sync(struct tg__thread *t);
/* Forgets the private edge index (after fork). */
void tg__edges_reset(void);

/* ---- findings ------------------------------------------------------------ */

/* Appends a finding; the caller fills the struct except commit. */
void tg__finding_add(struct tg_log_finding *f);
/* A misuse finding by the calling thread: `stack` 0 captures it here. */
void tg__misuse(uint32_t subkind, const void *obj, uint32_t obj_id,
                uint32_t stack, uint32_t stack2, uint32_t thread2);

/* ---- the event stream ------------------------------------------------------ */

/* Takes a new chunk for t; false when none (full mode, section full: the
 * event is then counted as dropped). */
bool tg__ev_chunk(struct tg__thread *t);
/* Restarts chunk numbering (after fork, with a new log). */
void tg__events_reset(void);

/* Appends one event to the calling thread's chunk. Lock-free, no
 * allocation; drops (and counts) when the stream is full in full mode. */
static inline void tg__ev_append(struct tg__thread *t, uint8_t type,
                                 uint8_t size, uint32_t stack,
                                 uint64_t addr, uint64_t arg)
{
    if (unlikely(t->ev_used >= t->ev_cap ||
                 atomic_load_explicit(&t->chunk->generation, RELAXED)
                     != t->chunk_gen)) {
        if (!tg__ev_chunk(t))
            return;
    }
    struct tg_log_event *e = &t->ev[t->ev_used];
    e->type = type;
    e->size = size;
    e->flags = 0;
    e->stack = stack;
    e->addr = addr;
    e->arg = arg;
    t->ev_used++;
    /* Release: a reader that sees the new count sees the event. */
    atomic_store_explicit(&t->chunk->used, t->ev_used, RELEASE);
}

/* Kinds of synchronization object: the same address may be several. */
enum rc_kind {
    RK_LOCK = 1,    /* a lock's unlocks (exclusive and shared apart) */
    RK_PLAIN,       /* semaphore, barrier, once, annotation tag */
    RK_ATOMIC,      /* release-type atomics on an address */
    RK_CHAN_S,      /* a channel's sends, when it carries no tokens */
    RK_CHAN_R,      /* its receives (the capacity rule), the same */
    RK_CHAN_C,      /* a channel's close */
    RK_WG,          /* a WaitGroup's counter changes */
    RK_CTX,         /* a context's cancel */
    RK_TASK,        /* a tg_go / tg_group_go hand-off to its runner */
    RK_TASK_END,    /* group tasks and pool jobs that ended */
    RK_CREATE,      /* addr: the new thread's id */
    RK_EXIT,        /* addr: the ending thread's id */
};

/* The race checker's view of synchronization (race.c): a release of the
 * calling thread's clock into (kind, addr), or an acquire from it. A
 * release must run before another thread can observe the operation, an
 * acquire after the operation. No-ops unless the in-process checker runs. */
extern bool tg__rc_on;
void tg__race_sync(int kind, uintptr_t addr, bool release);
/* A lock taken (after the real lock) or given up (before the real
 * unlock); mode 0 exclusive, 1 shared. */
void tg__race_lock(uintptr_t addr, uint32_t mode, bool taken);
/* The same for a lock the caller has the record of. */
void tg__race_lock_at(struct tg__lock *l, uintptr_t addr, uint32_t mode, bool taken);
/* Channel tokens (hooks version 3): a snapshot of the calling thread's
 * clock, handed by the runtime to the partner operation, which acquires
 * from it; 0 when the thread is not checked, RC_TOKEN_JOINED when no
 * memory was left (the caller then releases into the channel's joined
 * clocks, and the partner acquires from them). tg__race_take acquires
 * from a token (kind, addr: the joined clock, for RC_TOKEN_JOINED) and
 * frees it; tg__race_drop frees one nobody received. */
#define RC_TOKEN_JOINED ((uintptr_t)1)
uintptr_t tg__race_token(void);
void tg__race_take(uintptr_t tok, int kind, uintptr_t addr);
void tg__race_drop(uintptr_t tok);
/* The calling thread ends: its final release to a joiner. */
void tg__race_exit(struct tg__thread *t);
/* After fork, in the child. */
void tg__race_after_fork(void);
void tg__race_fork_child(struct tg__thread *t);
#define TG_RACE_SYNC(kind, addr, rel)                                         \
    do {                                                                      \
        if (unlikely(tg__rc_on))                                              \
            tg__race_sync((kind), (uintptr_t)(addr), (rel));                  \
    } while (0)

/* A release or acquire event: only the offline race checker (full mode)
 * reads them, so the flight recorder's ring is not filled with them. */
static inline void tg__sync_event(struct tg__thread *t, uint8_t type,
                                  uint8_t size, uint32_t stack,
                                  uint64_t addr, uint64_t arg)
{
    if (tg__g.opt.full)
        tg__ev_append(t, type, size, stack, addr, arg);
}

/* ---- subsystems ---------------------------------------------------------- */

/* Starts the watchdog once per process. Called lazily, when the program
 * creates its first thread or first blocks: a single-threaded program that
 * never blocks must not pay for a second thread (glibc's locks take their
 * cheaper single-threaded path only while there is one thread). */
void tg__watchdog_start(void);
static inline void tg__watchdog_need(void)
{
    if (unlikely(!atomic_load_explicit(&tg__g.watchdog_running, RELAXED)) &&
        tg__g.opt.watchdog_ms)
        tg__watchdog_start();
}
/* Called by the last program thread as it ends: stops the watchdog and
 * waits until its thread is gone, so that glibc sees the caller as the
 * process's last thread and ends the process with exit(0), as it would
 * without the shim. Must not be called from the watchdog. */
void tg__watchdog_stop(void);
/* Starts a thread of the shim's own, flagged TG_THRF_INTERNAL. Returns 0 or
 * a negative errno. */
int tg__internal_thread(pthread_t *th, void *(*fn)(void *), void *arg);

/* The check API's annotations. Weak definitions in check.c log them as
 * plain events; the race checker (shim/tsan.c) may define these strongly
 * to take them over. */
void tg__annotate_access(const volatile void *addr, size_t size, bool write);
void tg__annotate_hb(const volatile void *tag, bool before);
void tg__annotate_ignore(bool begin);
void tg__annotate_benign(const volatile void *addr, size_t size,
                         const char *why);
/* Writes the final snapshot once: proc_state, exit code, the calling
 * thread and its stack, end time. Later calls do nothing. */
void tg__finish(uint32_t proc_state, int code, bool capture_stack);
/* Creates (or, after fork, re-creates) the log. False: run untraced. */
bool tg__log_open(int parent_pid);
void tg__options_parse(struct tg__options *o);

/* The shim's functions at the bottom of every program stack (its thread
 * start routine and main wrapper), in a section of their own so that a
 * return address tells the unwinder it has reached the bottom
 * (stack.c). */
#define TG_STACK_BOTTOM __attribute__((section("tangle_bottom"), noinline))
extern char __start_tangle_bottom[], __stop_tangle_bottom[];

#endif
