/*
 * shim/race.c: the race checker, in the process (see race.h for the
 * shadow word). Happens-before with vector clocks, FastTrack's epochs for
 * the common case: an access by the thread that made the last one, in the
 * same epoch, costs a shadow load and a compare.
 *
 * Synchronization is seen where the shim already is: pthread locks,
 * semaphores, barriers, once, thread create and join (shim/mutex.c,
 * cond.c, thread.c), libtangle's channels, WaitGroups and contexts
 * through its probes (probes.c: `begin` releases before the operation can
 * be observed, `complete` acquires after it), atomics with their memory
 * order and the annotations (tsan.c). Each object's clock is the join of
 * everything released into it, so an acquire learns every release that
 * came before it in real time. Channels are the exception: a join would
 * order a receive after every send that had begun, not just its own,
 * hiding races the Go memory model has, so each operation's clock is
 * copied into a token that libtangle carries to its one partner (hooks
 * version 3).
 *
 * Memory: the shadow is a two-level table, a directory of 4 MiB regions
 * whose shadow (4 MiB each, reserved, never committed until touched) is
 * mapped on first use, so shadow costs what the program touched. A freed
 * heap block's shadow and an ended thread's stack are forgotten, so the
 * next owner of the memory starts clean. Clocks of synchronization objects
 * live in a private arena; the sites of each thread (pc, call path, locks
 * held) in a table of its own that outlives it, so a report can name an
 * ended thread's access.
 */
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <string.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "race.h"

bool tg__rc_on;

#define DIR_ENTRIES (1ull << (47 - RC_REGION_SHIFT))
#define REGION_WORDS (1ull << (RC_REGION_SHIFT - 3))

_Atomic(uint64_t *) *tg__rc_dir;
/* Each slot's clock bound, one cache line apiece: at least the owner's
 * present clock, and less than CLK_AHEAD beyond it. It is read when a
 * check meets another thread's access whose 26 clock bits alone cannot
 * say whether it is new or very old, and to start a slot's heir past its
 * last owner. The owner moves it CLK_AHEAD at a time rather than at every
 * release, so that a contended lock's hand-over does not also pass this
 * line between the threads. */
#define CLK_AHEAD (1u << 16)
#define CLK_STRIDE 16
static _Atomic uint32_t clk_now[RC_MAX_TID * CLK_STRIDE];
#define CLK_NOW(tid) clk_now[(size_t)(tid) * CLK_STRIDE]
static struct rc_sites *_Atomic reg_sites[RC_MAX_TID];
static _Atomic uintptr_t reg_lo[RC_MAX_TID], reg_hi[RC_MAX_TID];

/* Slots. A shadow word names a thread by a 14-bit slot, and a vector
 * clock has an entry per slot, so slots are reused: a thread's slot passes
 * to a new thread whose creator already knows the old owner's whole
 * history (it joined it, or learnt its last clock otherwise). The two are
 * then one thread to the checker, the heir's clock continuing the old
 * owner's: no happens-before edge is made up, since all the old owner did
 * happened before the heir started. A slot's owners, by the clock each
 * started at, name the thread of an old access in a report. */
static _Atomic int slot_lock;
static bool fork_child_pending;   /* between the two fork steps, below */
static uint32_t slot_next = 1;            /* slots never handed out start here */
static uint32_t slot_free[RC_MAX_TID];    /* ended owners' slots, a stack */
static uint32_t slot_nfree;
static uint32_t slot_final[RC_MAX_TID];   /* clock of the last owner's end */
static _Atomic uint32_t slot_owner[RC_MAX_TID];  /* log id of the owner */
struct slot_reign {
    uint32_t start, id;        /* first clock, owner's log id */
};
struct slot_hist {
    _Atomic uint32_t n;
    uint32_t cap;
    struct slot_reign *_Atomic e;
};
static struct slot_hist slot_hist[RC_MAX_TID];
/* Threads started, for clock generations (race_thread.vc_gen). */
static _Atomic uint32_t gen_seq;

/* ---- small tools ---------------------------------------------------------- */

static inline void spin_lock(_Atomic int *l)
{
    for (unsigned n = 0; atomic_exchange_explicit(l, 1, ACQUIRE); n++) {
        while (atomic_load_explicit(l, RELAXED)) {
            if (++n > 64)
                sched_yield();
            else
                tg__cpu_relax();
        }
    }
}

static inline void spin_unlock(_Atomic int *l)
{
    atomic_store_explicit(l, 0, RELEASE);
}

#define mix64 tg__rc_mix64

static void *map_reserve(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* A bump arena for clocks and sync nodes: never returned to the system;
 * clock arrays are recycled by size class. */
static _Atomic int arena_lock;
static char *arena_cur, *arena_end;

static void *arena_alloc_aligned(size_t bytes, size_t align)
{
    bytes = (bytes + 15) & ~(size_t)15;
    spin_lock(&arena_lock);
    arena_cur = (char *)(((uintptr_t)arena_cur + align - 1) & ~(uintptr_t)(align - 1));
    if (arena_cur > arena_end)
        arena_cur = arena_end;
    if ((size_t)(arena_end - arena_cur) < bytes) {
        size_t chunk = bytes > (1u << 20) ? bytes : (1u << 20);
        char *m = map_reserve(chunk);
        if (!m) {
            spin_unlock(&arena_lock);
            return NULL;
        }
        arena_cur = m;
        arena_end = m + chunk;
    }
    void *p = arena_cur;
    arena_cur += bytes;
    spin_unlock(&arena_lock);
    return p;
}

static void *arena_alloc(size_t bytes)
{
    return arena_alloc_aligned(bytes, 16);
}

#define VC_CLASSES 16
static void *vc_free[VC_CLASSES];       /* free lists, under arena_lock */

static unsigned vc_class(uint32_t n)
{
    unsigned c = 0;
    while ((8u << c) < n)
        c++;
    return c;
}

static uint32_t *vc_alloc(uint32_t n, uint32_t *cap)
{
    unsigned c = vc_class(n);
    if (c >= VC_CLASSES)
        return NULL;
    *cap = 8u << c;
    spin_lock(&arena_lock);
    void *p = vc_free[c];
    if (p)
        vc_free[c] = *(void **)p;
    spin_unlock(&arena_lock);
    if (p) {
        memset(p, 0, *cap * sizeof(uint32_t));
        return p;
    }
    /* Each on cache lines of its own: a channel token is written by one
     * thread and read by another, and a neighbour's writes (or a second
     * line for a straddling one) would cost that reader another miss. */
    return arena_alloc_aligned(*cap * sizeof(uint32_t), 64);
}

static void vc_release(uint32_t *vc, uint32_t cap)
{
    unsigned c = vc_class(cap);
    spin_lock(&arena_lock);
    *(void **)vc = vc_free[c];
    vc_free[c] = vc;
    spin_unlock(&arena_lock);
}

/* ---- shadow memory ---------------------------------------------------------- */

static bool dir_init(void)
{
    static _Atomic int once;
    if (tg__rc_dir)
        return true;
    spin_lock(&once);
    if (!tg__rc_dir)
        tg__rc_dir = map_reserve(DIR_ENTRIES * sizeof(uint64_t *));
    spin_unlock(&once);
    return tg__rc_dir != NULL;
}

uint64_t *tg__rc_shadow_slow(uintptr_t addr)
{
    if (addr >> 47)
        return NULL;            /* not user memory */
    _Atomic(uint64_t *) *slot = &tg__rc_dir[addr >> RC_REGION_SHIFT];
    uint64_t *c = atomic_load_explicit(slot, ACQUIRE);
    if (!c) {
        uint64_t *m = map_reserve(REGION_WORDS * sizeof(uint64_t));
        if (!m)
            return NULL;
        uint64_t *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(slot, &expect, m, memory_order_acq_rel,
                                                    ACQUIRE))
            c = m;
        else {
            munmap(m, REGION_WORDS * sizeof(uint64_t));
            c = expect;
        }
    }
    return c + ((addr >> 3) & (REGION_WORDS - 1));
}

void tg__rc_clear(uintptr_t lo, size_t len)
{
    if (!tg__rc_dir || !len)
        return;
    uintptr_t hi = lo + len;
    lo &= ~(uintptr_t)7;
    while (lo < hi && !(lo >> 47)) {
        uintptr_t region_end = (lo | ((1ull << RC_REGION_SHIFT) - 1)) + 1;
        uintptr_t end = hi < region_end ? hi : region_end;
        uint64_t *c = atomic_load_explicit(&tg__rc_dir[lo >> RC_REGION_SHIFT], ACQUIRE);
        if (c) {
            uint64_t *a = c + ((lo >> 3) & (REGION_WORDS - 1));
            uint64_t *b = c + (((end - 1) >> 3) & (REGION_WORDS - 1)) + 1;
            /* Whole pages go back to the system (they read as zero again);
             * the ragged ends are zeroed. */
            uintptr_t pa = ((uintptr_t)a + 4095) & ~(uintptr_t)4095;
            uintptr_t pb = (uintptr_t)b & ~(uintptr_t)4095;
            if (pb > pa + 4 * 4096) {
                memset(a, 0, pa - (uintptr_t)a);
                madvise((void *)pa, pb - pa, MADV_DONTNEED);
                memset((void *)pb, 0, (uintptr_t)b - pb);
            } else {
                memset(a, 0, (size_t)((char *)b - (char *)a));
            }
        }
        lo = end;
    }
}

/* ---- vector clocks and synchronization objects ------------------------------- */

_Static_assert(offsetof(struct rc_sync, kind) + sizeof(int) <= 64,
               "a lock's hand-over fields fit one cache line");

/* Clock `which` of s: 0 the exclusive releases', 1 the shared ones'. */
static inline struct rc_clock *sync_clock(struct rc_sync *s, int which)
{
    return which ? &s->c1 : &s->c0;
}

#define SYNC_BUCKETS (1u << 16)
static struct rc_sync *_Atomic *sync_tab;
static _Atomic int sync_ins_lock[256];

static inline uint32_t sync_hash(int kind, uintptr_t addr)
{
    return (uint32_t)(mix64(addr * 16 + (unsigned)kind) & (SYNC_BUCKETS - 1));
}

static struct rc_sync *sync_find(int kind, uintptr_t addr, bool create)
{
    if (!sync_tab)
        return NULL;
    uint32_t b = sync_hash(kind, addr);
    struct rc_sync *s = atomic_load_explicit(&sync_tab[b], ACQUIRE);
    for (; s; s = s->next)
        if (s->addr == addr && s->kind == kind)
            return s;
    if (!create)
        return NULL;
    _Atomic int *l = &sync_ins_lock[b & 255];
    spin_lock(l);
    struct rc_sync *head = atomic_load_explicit(&sync_tab[b], ACQUIRE);
    for (s = head; s; s = s->next)
        if (s->addr == addr && s->kind == kind)
            break;
    if (!s && (s = arena_alloc_aligned(sizeof *s, 64)) != NULL) {
        memset(s, 0, sizeof *s);
        s->addr = addr;
        s->kind = kind;
        s->next = head;
        atomic_store_explicit(&sync_tab[b], s, RELEASE);
    }
    spin_unlock(l);
    return s;
}

void tg__rc_clk_publish(struct race_thread *r, uint32_t c)
{
    r->clk_bound = c + CLK_AHEAD;
    atomic_store_explicit(&CLK_NOW(r->tid), r->clk_bound, RELAXED);
}

#define bump_clock tg__rc_bump_clock

/* The node of (kind, addr) through the thread's small cache: nodes are
 * never freed, so a cached pointer stays good. */
static inline uint32_t sync_slot(int kind, uintptr_t addr, uintptr_t *key)
{
    *key = addr ^ (uintptr_t)kind << 58;
    return (uint32_t)((*key >> 3) ^ (*key >> 11) ^ (uintptr_t)kind) & (RC_SYNC_CACHE - 1);
}

static inline struct rc_sync *sync_cached(struct race_thread *r, int kind,
                                          uintptr_t addr, bool create,
                                          uint32_t *slot)
{
    uintptr_t key;
    uint32_t i = sync_slot(kind, addr, &key);
    *slot = i;
    if (likely(r->sync_key[i] == key && r->sync_node[i]))
        return r->sync_node[i];
    struct rc_sync *s = sync_find(kind, addr, create);
    if (s) {
        r->sync_key[i] = key;
        r->sync_node[i] = s;
        r->sync_seen[i] = 0;
    }
    return s;
}

static void clock_join_into(struct rc_clock *c, const struct race_thread *r)
{
    if (!c->vc) {
        c->vc = c->inl;
        c->cap = VC_INLINE;
    }
    if (c->cap < r->vcn) {
        uint32_t cap;
        uint32_t *nv = vc_alloc(r->vcn, &cap);
        if (nv) {
            memcpy(nv, c->vc, c->n * sizeof *nv);
            if (c->vc != c->inl)
                vc_release(c->vc, c->cap);
            c->vc = nv;
            c->cap = cap;
        }
    }
    uint32_t n = r->vcn < c->cap ? r->vcn : c->cap;
    /* The same thread releasing again, having learnt nothing since: only
     * its own entry can have moved. A lock taken and let go in turn by one
     * thread at a time costs O(1), not O(threads). */
    if (c->last_gen == r->vc_gen && r->tid < c->n) {
        if (r->vc[r->tid] > c->vc[r->tid])
            c->vc[r->tid] = r->vc[r->tid];
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        if (r->vc[i] > c->vc[i])
            c->vc[i] = r->vc[i];
    if (n > c->n)
        c->n = n;
    __atomic_store_n(&c->last_gen, n == r->vcn ? r->vc_gen : 0, __ATOMIC_RELAXED);
}

/* Sets entry i of the thread's clock to v, not below its present value.
 * An entry that was 0 joins the list of slots the clock names, even when
 * v is 0: a new slot's own entry, which bump_clock moves next. */
static inline void vc_raise(struct race_thread *r, uint32_t i, uint32_t v)
{
    if (!r->vc[i] && r->nknown <= RC_KNOWN) {
        if (r->nknown < RC_KNOWN)
            r->known[r->nknown] = (uint16_t)i;
        r->nknown++;
    }
    r->vc[i] = v;
}

static void clock_join_from(struct race_thread *r, const struct rc_clock *c)
{
    uint32_t n = c->n;
    bool learnt = false;
    for (uint32_t i = 0; i < n; i++)
        if (c->vc[i] > r->vc[i]) {
            vc_raise(r, i, c->vc[i]);
            learnt = true;
        }
    if (n > r->vcn)
        r->vcn = n;
    r->vc_gen += learnt;
}

/* A lock's node is read and written only by threads that hold the lock:
 * an acquisition reads it once the real lock is taken, a release writes it
 * before the real unlock. The lock itself then orders those steps, and
 * they need no spin lock of their own, except the shared unlocks of an
 * rwlock, which run side by side (clock 1). On a contended mutex the spin
 * lock was two more atomic operations on a line passed between threads at
 * every hand-over. A program that unlocks a lock it does not hold breaks
 * this (it is reported as misuse); its clocks may then be read torn,
 * which can hide or invent an ordering but never faults: a clock's storage
 * is never unmapped. */
static inline bool lock_serialized(int kind, int which)
{
    return kind == RK_LOCK && which == 0;
}

/* Joins the thread's clock into clock `which` of node s; returns the
 * node's version before. A shared unlock (clock 1) also clears clock 0's
 * last releaser, so that tg__race_lock_at's shortcut (nothing to learn
 * when the last unlock was the thread's own) holds for clock 1 too. */
static inline uint32_t node_release(struct race_thread *r, struct rc_sync *s,
                                    int kind, int which)
{
    bool locked = !lock_serialized(kind, which);
    if (locked)
        spin_lock(&s->lock);
    clock_join_into(sync_clock(s, which), r);
    if (which)
        __atomic_store_n(&s->c0.last_gen, 0, __ATOMIC_RELAXED);
    uint32_t v = atomic_load_explicit(&s->version, RELAXED);
    atomic_store_explicit(&s->version, v + 1, RELEASE);
    if (locked)
        spin_unlock(&s->lock);
    return v;
}

/* Releases into clock `which` of (kind, addr); the caller then starts
 * the thread's next epoch (bump_clock). */
static void release_keep(struct race_thread *r, int kind, uintptr_t addr, int which)
{
    uint32_t slot;
    struct rc_sync *s = sync_cached(r, kind, addr, true, &slot);
    if (s) {
        uint32_t v = node_release(r, s, kind, which);
        /* The object now holds nothing the thread lacks only if it held
         * nothing new before this release. */
        if (r->sync_seen[slot] == v)
            r->sync_seen[slot] = v + 1;
    }
}

/* Releases into clock `which` of (kind, addr), then starts the thread's
 * next epoch. */
static void release_into(struct race_thread *r, int kind, uintptr_t addr, int which)
{
    release_keep(r, kind, addr, which);
    bump_clock(r);
}

/* Acquires clocks 0..nclocks-1 of (kind, addr). Nothing to learn when
 * nobody released since the thread's own last release or acquire there
 * (a lock taken again by the thread that let it go). */
static void acquire_from(struct race_thread *r, int kind, uintptr_t addr, int nclocks)
{
    uint32_t slot;
    struct rc_sync *s = sync_cached(r, kind, addr, false, &slot);
    if (!s)
        return;
    uint32_t v = atomic_load_explicit(&s->version, ACQUIRE);
    if (v == r->sync_seen[slot] && v)
        return;
    /* A lock's acquisition reads only clocks no other thread can be
     * writing: an exclusive one has them all to itself, a shared one reads
     * only the exclusive unlocks' clock. */
    bool locked = kind != RK_LOCK;
    if (locked)
        spin_lock(&s->lock);
    for (int i = 0; i < nclocks; i++)
        clock_join_from(r, sync_clock(s, i));
    /* A shared acquisition did not take the shared unlocks' clock. */
    r->sync_seen[slot] = kind != RK_LOCK || nclocks == 2
                             ? atomic_load_explicit(&s->version, RELAXED) : 0;
    if (locked)
        spin_unlock(&s->lock);
}

void tg__rc_release(struct race_thread *r, int kind, uintptr_t addr)
{
    release_into(r, kind, addr, 0);
}

void tg__rc_release_keep(struct race_thread *r, int kind, uintptr_t addr)
{
    release_keep(r, kind, addr, 0);
}

void tg__rc_next_epoch(struct race_thread *r)
{
    bump_clock(r);
}

void tg__rc_acquire(struct race_thread *r, int kind, uintptr_t addr)
{
    acquire_from(r, kind, addr, 1);
}

/* ---- channel tokens ------------------------------------------------------------ */

/* A token is a copy of a thread's clock, made at a channel operation's
 * begin and acquired at its partner's complete: the one send a receive
 * took its value from, and for the capacity rule the one receive a send
 * had to wait for. An object clock that joined every release would order
 * a receive after every send that had begun, which hides races. Tokens
 * are clock arrays of the size classes (the header takes four entries),
 * recycled through a short list per thread, as the thread that frees a
 * token is usually about to make one of the same size. */
struct rc_tok {
    struct rc_tok *next;       /* on a free list */
    uint32_t n, cls;           /* n: entries, or pairs if TOK_SPARSE */
    uint32_t vc[];             /* the clock, or (slot, clock) pairs */
};
#define TOK_SPARSE 0x80000000u
#define TOK_HDR 4              /* header words */
#define TOK_LOCAL 32           /* free tokens a thread keeps per class */

static struct rc_tok *tok_get(struct race_thread *r, uint32_t n)
{
    unsigned c = vc_class(n + TOK_HDR);
    if (c >= RC_TOK_CLASSES || c >= VC_CLASSES)
        return NULL;
    struct rc_tok *t = r->tok_free[c];
    if (t) {
        r->tok_free[c] = t->next;
        r->tok_nfree[c]--;
    } else {
        uint32_t cap;
        t = (struct rc_tok *)(void *)vc_alloc(n + TOK_HDR, &cap);
        if (!t)
            return NULL;
    }
    t->cls = c;
    return t;
}

static void tok_put(struct race_thread *r, struct rc_tok *t)
{
    unsigned c = t->cls;
    if (r && r->vc && r->tok_nfree[c] < TOK_LOCAL) {
        t->next = r->tok_free[c];
        r->tok_free[c] = t;
        r->tok_nfree[c]++;
    } else {
        vc_release((uint32_t *)(void *)t, 8u << c);
    }
}

/* The thread's spare tokens go back to the shared lists. */
static void tok_flush(struct race_thread *r)
{
    for (unsigned c = 0; c < RC_TOK_CLASSES; c++) {
        struct rc_tok *t;
        while ((t = r->tok_free[c]) != NULL) {
            r->tok_free[c] = t->next;
            vc_release((uint32_t *)(void *)t, 8u << c);
        }
        r->tok_nfree[c] = 0;
    }
}

/* A thread whose clock names few of the slots below its highest (one
 * started late, say, that knows its creator and itself) copies only the
 * entries it has: parked receivers of a program with thousands of
 * threads each hold a token. */
uintptr_t tg__race_token(void)
{
    struct race_thread *r = tg__rs_get();
    if (!r || !r->vc)
        return 0;
    bool sparse = r->nknown <= RC_KNOWN && r->nknown * 2 < r->vcn;
    struct rc_tok *t = tok_get(r, sparse ? 2 * r->nknown : r->vcn);
    if (!t)
        return RC_TOKEN_JOINED;
    if (sparse) {
        t->n = r->nknown | TOK_SPARSE;
        for (uint32_t k = 0; k < r->nknown; k++) {
            t->vc[2 * k] = r->known[k];
            t->vc[2 * k + 1] = r->vc[r->known[k]];
        }
    } else {
        t->n = r->vcn;
        memcpy(t->vc, r->vc, r->vcn * sizeof *r->vc);
    }
    bump_clock(r);
    return (uintptr_t)t;
}

void tg__race_take(uintptr_t tok, int kind, uintptr_t addr)
{
    struct race_thread *r = tg__rs;
    if (tok == RC_TOKEN_JOINED) {
        if (r && r->vc)
            acquire_from(r, kind, addr, 1);
        return;
    }
    struct rc_tok *t = (struct rc_tok *)tok;
    if (!t)
        return;
    if (r && r->vc) {
        bool learnt = false;
        if (t->n & TOK_SPARSE) {
            for (uint32_t k = 0; k < (t->n & ~TOK_SPARSE); k++) {
                uint32_t i = t->vc[2 * k], v = t->vc[2 * k + 1];
                if (v > r->vc[i]) {
                    vc_raise(r, i, v);
                    learnt = true;
                    if (i >= r->vcn)
                        r->vcn = i + 1;
                }
            }
        } else {
            for (uint32_t i = 0; i < t->n; i++)
                if (t->vc[i] > r->vc[i]) {
                    vc_raise(r, i, t->vc[i]);
                    learnt = true;
                }
            if (t->n > r->vcn)
                r->vcn = t->n;
        }
        r->vc_gen += learnt;
    }
    tok_put(r, t);
}

void tg__race_drop(uintptr_t tok)
{
    if (tok > RC_TOKEN_JOINED)
        tok_put(tg__rs, (struct rc_tok *)tok);
}

/* ---- sites --------------------------------------------------------------------- */

static uint32_t site_new(struct race_thread *r, uint64_t key, uintptr_t pc)
{
    struct rc_sites *ss = r->sites;
    uint32_t n = atomic_load_explicit(&ss->n, RELAXED);
    if (n >= RC_MAX_SITES)
        return 0;
    struct tg__thread *t = &tg__self;
    struct rc_site *s = &ss->s[n];
    s->pc = pc;
    s->key = key;
    s->stack = tg__rs_intern(r, t, pc);
    s->nlocks = 0;
    for (uint32_t i = 0; i < t->nheld && s->nlocks < RC_SITE_LOCKS; i++)
        s->locks[s->nlocks++] = t->held[i].addr;
    atomic_store_explicit(&ss->n, n + 1, RELEASE);
    r->site_made = true;
    return n;
}

/* The site of the current access: pc, the shadow call stack and the
 * locks held. A direct-mapped cache in front of the thread's table. */
uint32_t tg__rc_site_slow(struct race_thread *r, uintptr_t pc)
{
    uint32_t d = r->depth < RC_MAX_DEPTH ? r->depth : RC_MAX_DEPTH;
    uint64_t key = mix64(pc ^ (d ? r->hash[d - 1] : 0) ^ (r->lockh * 0x9e3779b97f4a7c15ull)) | 1;
    uint32_t c = (uint32_t)key & (RC_SITE_CACHE - 1);
    if (likely(r->ckey[c] == key))
        return r->cidx[c];
    struct rc_sites *ss = r->sites;
    uint32_t m = 2 * RC_MAX_SITES - 1, i = (uint32_t)(key >> 20) & m;
    uint32_t idx = 0;
    for (;;) {
        uint16_t e = ss->index[i];
        if (e == 0) {
            idx = site_new(r, key, pc);
            if (idx)
                ss->index[i] = (uint16_t)idx;
            break;
        }
        if (ss->s[e].key == key) {
            idx = e;
            break;
        }
        i = (i + 1) & m;
    }
    if (idx) {
        r->ckey[c] = key;
        r->cidx[c] = idx;
    }
    return idx;
}

/* ---- heap blocks and benign ranges, for reports --------------------------------- */

struct rc_block {
    uintptr_t addr;
    size_t size;
    uint32_t stack, thread;
};

#define BLOCK_STRIPES 64
static struct {
    _Atomic int lock;
    struct rc_block *b;          /* open addressing by address; addr 1 = gone */
    size_t cap, used;
} blocks[BLOCK_STRIPES];

static inline unsigned block_stripe(uintptr_t p)
{
    return (unsigned)(mix64(p) >> 58) & (BLOCK_STRIPES - 1);
}

static void block_put(struct rc_block *tab, size_t cap, const struct rc_block *nb)
{
    size_t i = mix64(nb->addr) & (cap - 1);
    while (tab[i].addr > 1)
        i = (i + 1) & (cap - 1);
    tab[i] = *nb;
}

void tg__rc_alloc(struct race_thread *r, uintptr_t p, size_t n, uintptr_t pc)
{
    if (!p)
        return;
    struct rc_block nb = { p, n, tg__rs_intern(r, &tg__self, pc), r->log_id };
    unsigned st = block_stripe(p);
    spin_lock(&blocks[st].lock);
    if ((blocks[st].used + 1) * 2 > blocks[st].cap) {
        size_t cap = blocks[st].cap ? blocks[st].cap * 2 : 1024;
        struct rc_block *nt = map_reserve(cap * sizeof *nt);
        if (!nt) {
            spin_unlock(&blocks[st].lock);
            return;
        }
        size_t live = 0;
        for (size_t i = 0; i < blocks[st].cap; i++)
            if (blocks[st].b[i].addr > 1) {
                block_put(nt, cap, &blocks[st].b[i]);
                live++;
            }
        if (blocks[st].b)
            munmap(blocks[st].b, blocks[st].cap * sizeof *nt);
        blocks[st].b = nt;
        blocks[st].cap = cap;
        blocks[st].used = live;
    }
    block_put(blocks[st].b, blocks[st].cap, &nb);
    blocks[st].used++;
    spin_unlock(&blocks[st].lock);
}

void tg__rc_free(uintptr_t p, size_t n)
{
    if (!p)
        return;
    unsigned st = block_stripe(p);
    spin_lock(&blocks[st].lock);
    size_t cap = blocks[st].cap;
    if (cap) {
        size_t i = mix64(p) & (cap - 1);
        while (blocks[st].b[i].addr != 0) {
            if (blocks[st].b[i].addr == p) {
                blocks[st].b[i].addr = 1;
                break;
            }
            i = (i + 1) & (cap - 1);
        }
    }
    spin_unlock(&blocks[st].lock);
    tg__rc_clear(p, n);
}

static bool block_of(uintptr_t a, struct rc_block *out)
{
    bool found = false;
    for (unsigned st = 0; st < BLOCK_STRIPES && !found; st++) {
        spin_lock(&blocks[st].lock);
        for (size_t i = 0; i < blocks[st].cap; i++) {
            const struct rc_block *b = &blocks[st].b[i];
            if (b->addr > 1 && a >= b->addr && a - b->addr < b->size) {
                *out = *b;
                found = true;
                break;
            }
        }
        spin_unlock(&blocks[st].lock);
    }
    return found;
}

#define MAX_BENIGN 1024
static struct { uintptr_t addr; size_t len; } benign[MAX_BENIGN];
static _Atomic uint32_t nbenign;
static _Atomic int benign_lock;

void tg__rc_benign(uintptr_t addr, size_t len)
{
    spin_lock(&benign_lock);
    uint32_t n = atomic_load_explicit(&nbenign, RELAXED);
    if (n < MAX_BENIGN) {
        benign[n].addr = addr;
        benign[n].len = len;
        atomic_store_explicit(&nbenign, n + 1, RELEASE);
    }
    spin_unlock(&benign_lock);
}

static bool is_benign(uintptr_t a)
{
    uint32_t n = atomic_load_explicit(&nbenign, ACQUIRE);
    for (uint32_t i = 0; i < n; i++)
        if (a >= benign[i].addr && a - benign[i].addr < benign[i].len)
            return true;
    return false;
}

/* ---- reports ---------------------------------------------------------------------- */

#define PAIRS 4096
static _Atomic uint64_t pairs[PAIRS];

/* True the first time the pair of code locations (a, b) races. With the
 * table full, every race is written (the analyzer deduplicates too, and
 * a full findings section counts what it drops): none is lost unseen. */
static bool pair_new(uintptr_t a, uintptr_t b, bool both_write)
{
    uint64_t k = (a < b ? mix64(a) ^ (mix64(b) >> 1) : mix64(b) ^ (mix64(a) >> 1));
    k = (k ^ both_write) | 1;
    for (uint32_t i = (uint32_t)k & (PAIRS - 1), n = 0; n < PAIRS; n++, i = (i + 1) & (PAIRS - 1)) {
        uint64_t cur = atomic_load_explicit(&pairs[i], RELAXED);
        if (cur == k)
            return false;
        if (cur == 0) {
            uint64_t z = 0;
            if (atomic_compare_exchange_strong(&pairs[i], &z, k))
                return true;
            if (z == k)
                return false;
        }
    }
    return true;
}

static const struct rc_site *site_get(uint32_t tid, uint32_t idx)
{
    if (!idx || tid >= RC_MAX_TID)
        return NULL;
    struct rc_sites *ss = atomic_load_explicit(&reg_sites[tid], ACQUIRE);
    if (!ss || idx >= atomic_load_explicit(&ss->n, ACQUIRE))
        return NULL;
    return &ss->s[idx];
}

/* The thread (log id) whose access at slot `slot` a shadow word records
 * with clock bits c26. */
static uint32_t slot_who(uint32_t slot, uint32_t c26)
{
    if (!slot || slot >= RC_MAX_TID)
        return 0;
    uint32_t now = atomic_load_explicit(&CLK_NOW(slot), RELAXED);
    uint32_t clk = now - ((now - c26) & ((1u << RC_CLK_BITS) - 1));
    struct slot_hist *h = &slot_hist[slot];
    uint32_t n = atomic_load_explicit(&h->n, ACQUIRE);
    struct slot_reign *e = atomic_load_explicit(&h->e, ACQUIRE);
    uint32_t who = atomic_load_explicit(&slot_owner[slot], RELAXED);
    for (uint32_t i = n; e && i > 0; i--)
        if (e[i - 1].start <= clk)
            return e[i - 1].id;
    return who;
}

static unsigned mask_size(uint64_t m, unsigned *first)
{
    m &= 0xff;
    *first = m ? (unsigned)__builtin_ctzll(m) : 0;
    return (unsigned)__builtin_popcountll(m);
}

static void report(struct race_thread *r, uint64_t old, uintptr_t addr,
                   uint64_t mask, bool write, bool atomic, uint32_t my_site,
                   uintptr_t pc)
{
    uint32_t ptid = (uint32_t)((old & RC_TID_BITS) >> RC_TID_SH);
    uint32_t pidx = (uint32_t)((old >> RC_SITE_SH) & (RC_MAX_SITES - 1));
    /* The earlier record may hold several accesses of its thread's epoch
     * (their bytes merged): it is reported as the bytes in conflict. */
    unsigned pfirst, cfirst;
    unsigned psize = mask_size(old & mask, &pfirst), csize = mask_size(mask, &cfirst);
    uintptr_t word = addr & ~(uintptr_t)7;
    uintptr_t paddr = word + pfirst;
    if (is_benign(addr) || is_benign(paddr))
        return;
    const struct rc_site *cs = site_get(r->tid, my_site);
    const struct rc_site *ps = site_get(ptid, pidx);
    uintptr_t ploc = ps ? ps->pc : 0x8000000000000000ull | ptid;
    if (!pair_new(pc, ploc, write && (old & RC_W)))
        return;
    struct tg__thread *t = &tg__self;
    t->guard++;
    struct tg_log_finding f = {
        .kind = TG_FIND_RACE,
        .thread = t->id,
        .thread2 = slot_who(ptid, (uint32_t)(old >> RC_CLK_SH)),
        .stack = cs ? cs->stack : tg__rs_intern(r, t, pc),
        .stack2 = ps ? ps->stack : 0,
        .value = word + cfirst,
        .obj = paddr,
        .subkind = TG_RACE_ACC(csize, write, atomic) | (r->freeing ? TG_RACE_ACC_FREED : 0) |
                   TG_RACE_ACC(psize, (old & RC_W) != 0, (old & RC_A) != 0) << 16,
    };
    for (uint32_t i = 1; i < RC_MAX_TID; i++) {
        uintptr_t lo = atomic_load_explicit(&reg_lo[i], RELAXED);
        uintptr_t hi = atomic_load_explicit(&reg_hi[i], RELAXED);
        if (lo && paddr >= lo && paddr < hi) {
            f.obj_id = atomic_load_explicit(&slot_owner[i], RELAXED);
            break;
        }
    }
    struct rc_block b;
    if (block_of(paddr, &b)) {
        f.threads[0].thread = b.thread;
        f.threads[0].wait_stack = b.stack;
        f.threads[0].wait_obj = b.addr;
        f.threads[0].wait_op = (uint32_t)b.size;
        f.threads[0].holder = (uint32_t)((uint64_t)b.size >> 32);
    }
    uint32_t n = 1;
    const struct rc_site *side[2] = { cs, ps };
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; side[k] && i < side[k]->nlocks && n < TG_LOG_MAX_CYCLE; i++) {
            f.threads[n].wait_obj = side[k]->locks[i];
            f.threads[n].wait_op = (uint32_t)k;
            n++;
        }
    f.nthreads = n;
    tg__finding_add(&f);
    t->guard--;
    if (tg__g.opt.verbose)
        tg__warn("data race on %p between threads %u and %u", (void *)paddr,
                 t->id, f.thread2);
}

/* ---- the check ------------------------------------------------------------------ */

/* A word two threads touched concurrently without conflict (different
 * bytes, both read, both atomic) would lose one of them in a single shadow
 * word. Such a word moves to an extension record of RC_EXT_CELLS cells,
 * and its shadow word says where: thread 0 (no real access has it), the
 * write bit, the record's index above RC_SITE_SH. Few words are shared
 * that way, so records stay few; when they run out, the word keeps only
 * the later access.
 * A record is laid out for data that many threads read: each cell has a
 * cache line of its own, and a thread keeps to the cell its id picks
 * where it can, so a reader that records its read in a new epoch writes
 * only its own line. A header line says which cells hold (or held) a
 * write, which is all a read must compare with; it changes only when a
 * cell first takes a write. The shadow word itself no longer changes.
 * Without that, every read of a word all threads read (a global
 * setting, read in every round of a loop) moved one line between the
 * readers' cores. */
#define RC_EXT_CELLS 4
#define RC_EXT_LINE  8                         /* words in a cache line */
#define RC_EXT_MAX   (1u << 21)
#define EXT_HDR(rec)     ((_Atomic uint64_t *)(rec))
#define EXT_CELL(rec, i) ((_Atomic uint64_t *)(rec) + RC_EXT_LINE * (1 + (i)))
static uint64_t (*ext_tab)[RC_EXT_LINE * (1 + RC_EXT_CELLS)];
static _Atomic uint32_t ext_next = 1;

/* The cell a thread tries first. */
static inline int ext_home(const struct race_thread *r)
{
    return (int)(r->tid % RC_EXT_CELLS);
}

static uint64_t *ext_new(uint32_t *idx)
{
    if (!ext_tab) {
        static _Atomic int once;
        spin_lock(&once);
        if (!ext_tab)
            ext_tab = map_reserve((size_t)RC_EXT_MAX * sizeof *ext_tab);
        spin_unlock(&once);
        if (!ext_tab)
            return NULL;
    }
    uint32_t i = atomic_fetch_add_explicit(&ext_next, 1, RELAXED);
    if (i >= RC_EXT_MAX)
        return NULL;
    *idx = i;
    return ext_tab[i];
}

/* Marks cell i of rec in the header when v, stored there, is a write. */
static inline void ext_mark(uint64_t *rec, int i, uint64_t v)
{
    if ((v & RC_W) && !(atomic_load_explicit(EXT_HDR(rec), RELAXED) & (1u << i)))
        atomic_fetch_or_explicit(EXT_HDR(rec), 1u << i, RELAXED);
}

/* Stores v into cell i of rec, marked in the header if a write. The mark
 * comes first: a reader that sees no mark has not missed the write by
 * more than the instants of the store. */
static inline void ext_put(uint64_t *rec, int i, uint64_t v)
{
    ext_mark(rec, i, v);
    atomic_store_explicit(EXT_CELL(rec, i), v, RELAXED);
}

/* A new record holding a and b (b in the accessing thread's cell). */
static uint64_t ext_make(const struct race_thread *r, uint64_t a, uint64_t b)
{
    uint32_t idx;
    uint64_t *rec = ext_new(&idx);
    if (!rec)
        return b;
    int home = ext_home(r);
    uint32_t u = (uint32_t)((a & RC_TID_BITS) >> RC_TID_SH);
    int other = (int)(u % RC_EXT_CELLS);
    ext_put(rec, home, b);
    ext_put(rec, other != home ? other : (home + 1) % RC_EXT_CELLS, a);
    return RC_W | ((uint64_t)idx << RC_SITE_SH);
}

/* Is the access recorded in c (by another thread) ordered before the
 * calling thread's present? */
static inline bool ordered(const struct race_thread *r, uint64_t c)
{
    if (tg__rc_known_before(r, c))
        return true;
    uint32_t u = (uint32_t)((c & RC_TID_BITS) >> RC_TID_SH);
    uint32_t c26 = (uint32_t)(c >> RC_CLK_SH);
    uint32_t now = atomic_load_explicit(&CLK_NOW(u), RELAXED);
    uint32_t full = now - ((now - c26) & ((1u << RC_CLK_BITS) - 1));
    uint32_t known = u < r->vcn ? r->vc[u] : 0;
    return full <= known;
}

static inline bool conflicts(uint64_t c, uint64_t mask, bool write, bool atomic)
{
    return (c & mask & RC_MASK) && (write || (c & RC_W)) && !(atomic && (c & RC_A));
}

static inline uint64_t cell_of(const struct race_thread *r, uint32_t site,
                               uint64_t mask, bool write, bool atomic)
{
    return r->epoch_bits | ((uint64_t)site << RC_SITE_SH) | (mask & RC_MASK) |
           (write ? RC_W : 0) | (atomic ? RC_A : 0);
}

/* A read of a word with a record, the common case: only the cells that
 * hold a write can conflict with it; then the thread's own cell, in its
 * home. True when settled so. */
static inline __attribute__((always_inline)) bool
ext_read(struct race_thread *r, uint64_t *rec, uint64_t mask, bool atomic,
         uintptr_t pc)
{
    uint64_t my_tid = (uint64_t)r->tid << RC_TID_SH;
    uint32_t w = (uint32_t)atomic_load_explicit(EXT_HDR(rec), RELAXED);
    for (int i = 0; w >> i; i++) {
        if (!(w & (1u << i)))
            continue;
        uint64_t c = atomic_load_explicit(EXT_CELL(rec, i), RELAXED);
        if (c && (c & RC_TID_BITS) != my_tid && conflicts(c, mask, false, atomic) &&
            !ordered(r, c))
            return false;
    }
    int home = ext_home(r);
    uint64_t c = atomic_load_explicit(EXT_CELL(rec, home), RELAXED);
    if ((c & RC_TID_BITS) != my_tid)
        return false;
    if ((c & RC_EPOCH_BITS) != r->epoch_bits || (c & mask) != mask)
        ext_put(rec, home, tg__rc_merge_own(r, c, cell_of(r, tg__rc_site(r, pc), mask, false,
                                                          atomic), false));
    return true;
}

bool tg__rc_ext_read(struct race_thread *r, uint64_t old, uint64_t mask, bool atomic,
                     uintptr_t pc)
{
    uint32_t i = (uint32_t)(old >> RC_SITE_SH);
    return ext_tab && i < RC_EXT_MAX && ext_read(r, ext_tab[i], mask, atomic, pc);
}

bool tg__rc_read_shared(struct race_thread *r, uintptr_t addr, unsigned size, bool atomic,
                        uintptr_t pc)
{
    _Atomic uint64_t *cell = (_Atomic uint64_t *)tg__rc_shadow_peek(addr);
    if (!cell)
        return false;
    uint64_t old = atomic_load_explicit(cell, RELAXED);
    if (!tg__rc_is_ext(old))
        return false;
    uint64_t mask = (size >= 8 ? 0xffull : ((1ull << size) - 1)) << (addr & 7);
    return tg__rc_ext_read(r, old, mask, atomic, pc);
}

static void check_ext(struct race_thread *r, uint64_t *rec, uintptr_t addr,
                      uint64_t mask, bool write, bool atomic, uintptr_t pc)
{
    uint64_t my_tid = (uint64_t)r->tid << RC_TID_SH;
    int home = ext_home(r);
    /* A read here already failed ext_read's quick check (in
     * tg__rc_check_word): the full scan, home first. */
    int own = -1, empty = -1, stale = -1;
    bool reported = false;
    for (int k = 0; k < RC_EXT_CELLS; k++) {
        int i = (home + k) % RC_EXT_CELLS;     /* home first */
        uint64_t c = atomic_load_explicit(EXT_CELL(rec, i), RELAXED);
        if (!c) {
            if (empty < 0)
                empty = i;
            continue;
        }
        if ((c & RC_TID_BITS) == my_tid) {
            if ((c & RC_EPOCH_BITS) == r->epoch_bits && (c & mask) == mask &&
                (!write || (c & RC_W)))
                return;             /* covered */
            if (own < 0)
                own = i;
            continue;
        }
        if (ordered(r, c)) {
            if (stale < 0)
                stale = i;
        } else if (!reported && conflicts(c, mask, write, atomic)) {
            report(r, c, addr, mask, write, atomic, tg__rc_site(r, pc), pc);
            reported = true;
        }
    }
    uint64_t nv = cell_of(r, tg__rc_site(r, pc), mask, write, atomic);
    /* The thread's own cell moves home when home is free (empty, or
     * another thread's access already ordered before this one). */
    if (own >= 0 && own != home && (empty == home || stale == home)) {
        uint64_t o = atomic_load_explicit(EXT_CELL(rec, own), RELAXED);
        if ((o & RC_TID_BITS) == my_tid) {
            atomic_store_explicit(EXT_CELL(rec, own), 0, RELAXED);
            ext_put(rec, home, tg__rc_merge_own(r, o, nv, write));
            return;
        }
    }
    int slot = own >= 0 ? own : empty >= 0 ? empty : stale >= 0 ? stale
                                              : (int)((pc >> 4) % RC_EXT_CELLS);
    _Atomic uint64_t *cell = EXT_CELL(rec, slot);
    uint64_t cur = atomic_load_explicit(cell, RELAXED);
    if (slot == own && (cur & RC_TID_BITS) == my_tid) {
        ext_put(rec, slot, tg__rc_merge_own(r, cur, nv, write));
        return;
    }
    for (int tries = 0; tries < 4; tries++) {
        uint64_t v = slot == own && (cur & RC_TID_BITS) == my_tid
                         ? tg__rc_merge_own(r, cur, nv, write) : nv;
        ext_mark(rec, slot, v);
        if (atomic_compare_exchange_strong_explicit(cell, &cur, v, RELAXED, RELAXED))
            return;
        if (cur && (cur & RC_TID_BITS) != my_tid && !ordered(r, cur) && !reported &&
            conflicts(cur, mask, write, atomic)) {
            report(r, cur, addr, mask, write, atomic, tg__rc_site(r, pc), pc);
            reported = true;
        }
    }
}

/* The slow path. Finding a site can take long (its first use interns a
 * stack), and another thread may store into the word meanwhile: the
 * store is a compare-and-swap, and a word that changed is checked again,
 * so a concurrent access is never overwritten unseen. */
void tg__rc_check_slow(struct race_thread *r, uint64_t *cell, uint64_t old,
                       uintptr_t addr, uint64_t mask, bool write, bool atomic,
                       uintptr_t pc)
{
    _Atomic uint64_t *ac = (_Atomic uint64_t *)cell;
    uint64_t my_tid = (uint64_t)r->tid << RC_TID_SH;
    r->site_made = false;
    uint32_t site = tg__rc_site(r, pc);
    bool reported = false;
    for (int tries = 0; tries < 8; tries++) {
        if (tg__rc_is_ext(old)) {
            uint32_t i = (uint32_t)(old >> RC_SITE_SH);
            if (ext_tab && i < RC_EXT_MAX)
                check_ext(r, ext_tab[i], addr, mask, write, atomic, pc);
            return;
        }
        uint64_t nv = cell_of(r, site, mask, write, atomic);
        if ((old & RC_TID_BITS) == my_tid) {
            if ((old & RC_EPOCH_BITS) == r->epoch_bits && (old & mask) == mask &&
                (!write || (old & RC_W)))
                return;
            nv = tg__rc_merge_own(r, old, nv, write);
        } else if (old && !ordered(r, old)) {
            if (!reported && conflicts(old, mask, write, atomic)) {
                report(r, old, addr, mask, write, atomic, site, pc);
                reported = true;
            }
            /* Concurrent: keep both. */
            nv = ext_make(r, old, nv);
        }
        /* Without a slow step since the load, a plain store: the window
         * for a lost update is a few instructions, as in TSan. */
        if (likely(!r->site_made && !tg__rc_is_ext(nv))) {
            atomic_store_explicit(ac, nv, RELAXED);
            return;
        }
        if (atomic_compare_exchange_strong_explicit(ac, &old, nv, RELEASE, RELAXED))
            return;
    }
}

/* A free of [p, p+len), checked as a write by r before the shadow is
 * cleared: only another thread's record that r is not known to be ordered
 * after needs the full check; nothing is stored. */
void tg__rc_free_check(struct race_thread *r, uintptr_t p, size_t len, uintptr_t pc)
{
    uint64_t my_tid = (uint64_t)r->tid << RC_TID_SH;
    uintptr_t a = p & ~(uintptr_t)7, end = p + len;
    while (a < end) {
        uintptr_t region_end = (a | ((1ull << RC_REGION_SHIFT) - 1)) + 1;
        uintptr_t stop = end < region_end ? end : region_end;
        uint64_t *c = tg__rc_shadow_peek(a);
        if (!c) {
            a = stop;
            continue;
        }
        for (; a < stop; a += 8, c++) {
            uint64_t old = atomic_load_explicit((_Atomic uint64_t *)c, RELAXED);
            if (!old || (!tg__rc_is_ext(old) && ((old & RC_TID_BITS) == my_tid ||
                                          tg__rc_known_before(r, old))))
                continue;
            uintptr_t lo = a < p ? p : a, hi = a + 8 < end ? a + 8 : end;
            uint64_t mask = ((1ull << (hi - lo)) - 1) << (lo & 7);
            r->freeing = true;
            tg__rc_check_slow(r, c, old, lo, mask, true, false, pc);
            r->freeing = false;
        }
    }
}

/* Whole words [addr, addr + 8 * n) of one shadow region, at cell: a
 * loop's sweep (a range that `tangle cc` checks before the loop) or a
 * memcpy. Runs of eight words that all hold the thread's own records
 * take the short way: what a per-word check would store, without its
 * per-word site lookup and branches (so the compiler can vectorize it).
 * The records are read and written as plain words: each is one aligned
 * 8-byte load or store, as the atomic accesses elsewhere compile to. */
static void check_words(struct race_thread *r, uint64_t *cell, uintptr_t addr, size_t n,
                        bool write, bool atomic, uintptr_t pc)
{
    const uint64_t tidm = (uint64_t)r->tid << RC_TID_SH, eb = r->epoch_bits;
    const uint64_t covers = RC_EPOCH_BITS | RC_MASK | (write ? RC_W : 0);
    const uint64_t covered = eb | RC_MASK | (write ? RC_W : 0);
    uint64_t nv = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t *c = cell + i;
        /* in pairs: one 16-byte load, xor, and, or each (GCC's vector
         * extension: SSE2 on x86-64, NEON on aarch64). `other`: a record
         * of another thread (or none); `stale`: one that does not cover
         * this access already (this epoch, every byte, a write if this
         * is one). */
        typedef uint64_t u64x2 __attribute__((vector_size(16), aligned(8)));
        u64x2 other = { 0, 0 }, stale = { 0, 0 };
        for (int k = 0; k < 8; k += 2) {
            u64x2 v = *(const u64x2 *)(c + k);
            other |= (v ^ tidm) & RC_TID_BITS;
            stale |= (v & covers) ^ covered;
        }
        if (unlikely(other[0] | other[1])) {
            for (int k = 0; k < 8; k++)
                tg__rc_check_word(r, addr + 8 * (i + k), 8, write, atomic, pc);
            continue;
        }
        if (!(stale[0] | stale[1]))
            continue;           /* a sweep repeated in one epoch */
        if (!nv)
            nv = eb | ((uint64_t)tg__rc_site(r, pc) << RC_SITE_SH) | RC_MASK |
                 (write ? RC_W : 0) | (atomic ? RC_A : 0);
        /* The thread's own records: a write replaces them; a read
         * replaces all but a write of this epoch (tg__rc_merge_own with
         * every byte covered). */
        if (write) {
            for (int k = 0; k < 8; k++)
                c[k] = nv;
        } else {
            for (int k = 0; k < 8; k++)
                c[k] = (c[k] & (RC_EPOCH_BITS | RC_W)) == (eb | RC_W) ? c[k] : nv;
        }
    }
    for (; i < n; i++)
        tg__rc_check_word(r, addr + 8 * i, 8, write, atomic, pc);
}

void tg__rc_check_range(struct race_thread *r, uintptr_t addr, size_t len,
                        bool write, bool atomic, uintptr_t pc)
{
    /* User memory ends at 2^47: a range past it (a corrupt length) stops
     * there. */
    if (addr >> 47)
        return;
    if (len > (1ull << 47) - addr)
        len = (1ull << 47) - addr;
    while (len) {
        unsigned off = addr & 7;
        if (off == 0 && len >= 64) {
            /* whole words, a shadow region at a time */
            uint64_t *cell = tg__rc_shadow(addr);
            uintptr_t region_end = (addr | ((1ull << RC_REGION_SHIFT) - 1)) + 1;
            size_t n = (region_end - addr) / 8 < len / 8 ? (region_end - addr) / 8 : len / 8;
            if (cell)
                check_words(r, cell, addr, n, write, atomic, pc);
            addr += 8 * n;
            len -= 8 * n;
            continue;
        }
        unsigned n = 8 - off < len ? 8 - off : (unsigned)len;
        tg__rc_check_word(r, addr, n, write, atomic, pc);
        addr += n;
        len -= n;
    }
}

/* ---- threads --------------------------------------------------------------------- */

/* A slot for r, whose clock already holds what its creator knew: an
 * ended owner's whose end r knows of, else a new one; 0 if none. */
static uint32_t slot_claim(struct race_thread *r, uint32_t log_id)
{
    uint32_t s = 0;
    spin_lock(&slot_lock);
    for (uint32_t i = slot_nfree; i > 0; i--) {
        uint32_t c = slot_free[i - 1];
        if (c < r->vcn && r->vc[c] >= slot_final[c]) {
            s = c;
            slot_free[i - 1] = slot_free[--slot_nfree];
            break;
        }
    }
    if (!s && slot_next < RC_MAX_TID)
        s = slot_next++;
    if (s) {
        /* The owners' history: the heir starts past the old owner's clock. */
        struct slot_hist *h = &slot_hist[s];
        uint32_t n = atomic_load_explicit(&h->n, RELAXED);
        struct slot_reign *e = atomic_load_explicit(&h->e, RELAXED);
        if (n == h->cap) {
            uint32_t cap = h->cap ? 2 * h->cap : 4;
            struct slot_reign *ne = arena_alloc(cap * sizeof *ne);
            if (ne) {
                if (n)
                    memcpy(ne, e, n * sizeof *ne);
                h->cap = cap;
                atomic_store_explicit(&h->e, ne, RELEASE);
                e = ne;
            }
        }
        uint32_t now = atomic_load_explicit(&CLK_NOW(s), RELAXED);
        if (n < h->cap) {
            e[n].start = now + 1;
            e[n].id = log_id;
            atomic_store_explicit(&h->n, n + 1, RELEASE);
        }
        atomic_store_explicit(&slot_owner[s], log_id, RELAXED);
    }
    spin_unlock(&slot_lock);
    return s;
}

/* The slot's owner has ended: what it did is known to whoever learns
 * clock `final` of the slot. */
static void slot_release(uint32_t s, uint32_t final)
{
    spin_lock(&slot_lock);
    slot_final[s] = final;
    slot_free[slot_nfree++] = s;
    spin_unlock(&slot_lock);
}

/* r starts in slot s: it takes the slot's site table (a new one for a
 * new slot, or after a fork), its clock goes on from the slot's last
 * owner (and past any value an earlier process image left in the
 * shadow), and its stack is named for reports. False if no site table
 * could be mapped. */
static bool slot_start(struct race_thread *r, uint32_t s)
{
    r->sites = atomic_load_explicit(&reg_sites[s], ACQUIRE);
    if (!r->sites) {
        r->sites = map_reserve(sizeof(struct rc_sites));
        if (!r->sites)
            return false;
        atomic_store_explicit(&r->sites->n, 1, RELAXED);
        atomic_store_explicit(&reg_sites[s], r->sites, RELEASE);
    }
    uint32_t now = atomic_load_explicit(&CLK_NOW(s), RELAXED);
    vc_raise(r, s, r->vc[s] > now ? r->vc[s] : now);
    if (r->vcn < s + 1)
        r->vcn = s + 1;
    r->clk_bound = 0;           /* the first step publishes the slot's bound */
    /* A generation no other thread's clock has had. */
    r->vc_gen = (uint64_t)(atomic_fetch_add_explicit(&gen_seq, 1, RELAXED) + 1) << 32;
    bump_clock(r);
    if (r->stack_hi) {
        atomic_store_explicit(&reg_lo[s], r->stack_lo, RELAXED);
        atomic_store_explicit(&reg_hi[s], r->stack_hi, RELAXED);
    }
    return true;
}

bool tg__rc_thread_init(struct race_thread *r, struct tg__thread *t)
{
    if (!t || t->id == 0 || !dir_init())
        return false;
    if (!sync_tab) {
        static _Atomic int once;
        spin_lock(&once);
        if (!sync_tab)
            sync_tab = map_reserve(SYNC_BUCKETS * sizeof *sync_tab);
        spin_unlock(&once);
        if (!sync_tab)
            return false;
    }
    r->log_id = t->id;
    r->vc = r->vc_store;
    /* Everything its creator did before pthread_create. */
    tg__rc_acquire(r, RK_CREATE, t->id);
    uint32_t s = slot_claim(r, t->id);
    if (!s) {
        static _Atomic bool warned;
        if (!atomic_exchange(&warned, true))
            tg__warn("race: %u threads at once (or ended unjoined) is the "
                     "checker's limit; thread %u and later ones are not "
                     "checked", RC_MAX_TID - 1, t->id);
        r->vc = NULL;
        tg__rs_gate(r);
        return false;
    }
    r->tid = s;
    if (!slot_start(r, s)) {
        slot_release(s, 0);
        r->vc = NULL;
        tg__rs_gate(r);
        return false;
    }
    return true;
}

bool tg__rc_joinable_self(void)
{
    struct tg_log_thread *rec = tg__self.rec;
    return !rec || !(atomic_load_explicit(&rec->flags, ACQUIRE) & TG_THRF_DETACHED);
}

void tg__rc_thread_end(struct race_thread *r, bool released)
{
    if (!r->tid)
        return;
    if (tg__g.opt.verbose)
        tg__warn("race: thread %u ends with %u access sites, clock %u",
                 r->tid, atomic_load_explicit(&r->sites->n, RELAXED) - 1,
                 r->vc[r->tid]);
    atomic_store_explicit(&reg_lo[r->tid], 0, RELAXED);
    atomic_store_explicit(&reg_hi[r->tid], 0, RELAXED);
    /* The stack goes back to glibc's cache and may be the next thread's:
     * its history must not be taken for that thread's. */
    if (r->stack_hi)
        tg__rc_clear(r->stack_lo, r->stack_hi - r->stack_lo);
    /* Its last release (rs_free) went out at the clock before this one;
     * without it, no one can know its last epoch. */
    slot_release(r->tid, released ? r->vc[r->tid] - 1 : r->vc[r->tid]);
    tok_flush(r);
    r->vc = NULL;
    tg__rs_gate(r);
}

/* ---- the shim's synchronization hooks --------------------------------------------- */

void tg__race_sync(int kind, uintptr_t addr, bool release)
{
    struct race_thread *r = tg__rs_get();
    if (!r || !r->vc)
        return;
    if (release)
        tg__rc_release(r, kind, addr);
    else
        tg__rc_acquire(r, kind, addr);
}

void tg__race_lock(uintptr_t addr, uint32_t mode, bool taken)
{
    if (!tg__rc_on)
        return;
    struct race_thread *r = tg__rs_get();
    if (!r || !r->vc)
        return;
    uint64_t h = mix64(addr);
    if (taken) {
        acquire_from(r, RK_LOCK, addr, mode == 0 ? 2 : 1);
        r->lockh += h;
        tg__rc_ctx_update(r);
    } else {
        release_into(r, RK_LOCK, addr, mode == 0 ? 0 : 1);
        r->lockh -= h;
        tg__rc_ctx_update(r);
    }
}

/* tg__race_lock for a lock whose record the caller has: the record keeps
 * the lock's node, and an acquisition after the thread's own unlock (the
 * last one into clock 0, by clock generation: the thread's, whatever it
 * learnt since) learns nothing. Clock 0 then holds what the thread had at
 * that unlock, no more: it had joined clock 0 when it took the lock, and
 * nobody else released into it while it held the lock. */
void tg__race_lock_at(struct tg__lock *l, uintptr_t addr, uint32_t mode, bool taken)
{
    struct race_thread *r = tg__rs;
    if (unlikely(!r) && !(r = tg__rs_slow()))
        return;
    if (unlikely(!r->vc))
        return;
    struct rc_sync *s = atomic_load_explicit(&l->rc, RELAXED);
    if (unlikely(!s)) {
        if (!(s = sync_find(RK_LOCK, addr, true)))
            return;
        atomic_store_explicit(&l->rc, s, RELAXED);
    }
    uint64_t h = mix64(addr);
    if (taken) {
        uint64_t g = __atomic_load_n(&s->c0.last_gen, __ATOMIC_RELAXED);
        if (!g || (g ^ r->vc_gen) >> 32) {
            int n = mode == 0 ? 2 : 1;
            for (int i = 0; i < n; i++)
                clock_join_from(r, sync_clock(s, i));
        }
        r->lockh += h;
    } else {
        node_release(r, s, RK_LOCK, mode == 0 ? 0 : 1);
        bump_clock(r);
        r->lockh -= h;
    }
    tg__rc_ctx_update(r);
}

void tg__race_exit(struct tg__thread *t)
{
    if (!tg__rc_on || !t->id)
        return;
    struct race_thread *r = tg__rs;
    if (r && r->vc && tg__rc_joinable_self())
        tg__rc_release(r, RK_EXIT, t->id);
}

/* The child of a fork has one thread, a new log with new thread and stack
 * ids, and the parent's checker state as it was at the fork, maybe in the
 * middle of another thread's update. The checker goes on in the child:
 * - every spin lock is freed (its holder is not in the child), and what
 *   such a lock may have left half-changed is dropped: the heap-block
 *   table (blocks allocated before the fork are then reported as heap
 *   memory without their allocation site);
 * - all the parent did happened before all the child does: the child's
 *   clock takes in every slot's present clock, so no access before the
 *   fork is reported against one after it;
 * - the site tables (which name stacks of the parent's log) and the race
 *   pairs already reported are dropped; the thread takes a new slot with
 *   a new site table. Old shadow words keep naming old slots, which are
 *   all ordered before the child.
 * tg__race_after_fork runs first, before the child's log exists;
 * tg__race_fork_child once the thread has its new id. */
void tg__race_after_fork(void)
{
    if (!tg__rc_on)
        return;
    tg__rc_on = false;
    if (tg__rs)
        tg__rs_gate(tg__rs);
    fork_child_pending = true;
    atomic_store(&slot_lock, 0);
    atomic_store(&arena_lock, 0);
    atomic_store(&benign_lock, 0);
    for (int i = 0; i < 256; i++)
        atomic_store(&sync_ins_lock[i], 0);
    if (sync_tab)
        for (uint32_t b = 0; b < SYNC_BUCKETS; b++)
            for (struct rc_sync *n = atomic_load(&sync_tab[b]); n; n = n->next)
                if (atomic_load(&n->lock))      /* a store would copy the page */
                    atomic_store(&n->lock, 0);
    for (int i = 0; i < BLOCK_STRIPES; i++) {
        atomic_store(&blocks[i].lock, 0);
        blocks[i].b = NULL;     /* the parent's table stays in the parent */
        blocks[i].cap = blocks[i].used = 0;
    }
    for (uint32_t i = 0; i < PAIRS; i++)
        atomic_store(&pairs[i], 0);
    for (uint32_t i = 0; i < slot_next && i < RC_MAX_TID; i++) {
        atomic_store(&reg_sites[i], NULL);
        atomic_store(&reg_lo[i], 0);
        atomic_store(&reg_hi[i], 0);
    }
}

void tg__race_fork_child(struct tg__thread *t)
{
    struct race_thread *r = tg__rs;
    if (!fork_child_pending)
        return;
    fork_child_pending = false;
    if (!r || !r->vc || !t || !t->id)
        return;                 /* the thread was not checked: nor is the child */
    uint32_t n = slot_next;
    for (uint32_t u = 1; u < n; u++) {
        uint32_t now = atomic_load_explicit(&CLK_NOW(u), RELAXED);
        if (r->vc[u] < now)
            vc_raise(r, u, now);
    }
    if (r->vcn < n)
        r->vcn = n;
    memset(r->pcache, 0, sizeof r->pcache);
    memset(r->ckey, 0, sizeof r->ckey);
    memset(r->cidx, 0, sizeof r->cidx);
    uint32_t s = slot_claim(r, t->id);
    r->tid = s;
    r->log_id = t->id;
    if (!s || !slot_start(r, s)) {
        r->vc = NULL;
        tg__rs_gate(r);
        return;
    }
    tg__rc_on = true;
    tg__rs_gate(r);
}

/* ---- mappings ------------------------------------------------------------------ */

/* The program's own mmap, munmap and mremap: a mapping's bytes start with
 * no history, so the shadow of the range a call maps or unmaps is
 * forgotten (without it, a page one thread unmapped and another thread
 * was then given would carry the first thread's accesses into a race
 * that cannot be). The calls are made as system calls: the dynamic
 * linker's lookup of the next definition may itself map memory. glibc's
 * own calls (malloc's large blocks, thread stacks) do not come here;
 * heap blocks and stacks are forgotten by their own hooks. */
static void mapping_changed(const void *p, size_t len)
{
    if (tg__rc_on && p != MAP_FAILED && len)
        tg__rc_clear((uintptr_t)p, len);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    mapping_changed(p, len);
    return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

int munmap(void *addr, size_t len)
{
    int rc = (int)syscall(SYS_munmap, addr, len);
    if (rc == 0)
        mapping_changed(addr, len);
    return rc;
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    void *p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, want);
    if (p != MAP_FAILED) {
        /* The old range, moved or shrunk in place (its freed tail is the
         * part that matters; the kept part only loses its history). */
        mapping_changed(old, old_len);
        if (p != old)
            mapping_changed(p, new_len);
        else if (new_len > old_len)
            mapping_changed((char *)old + old_len, new_len - old_len);
    }
    return p;
}
