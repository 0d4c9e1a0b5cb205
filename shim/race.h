/*
 * shim/race.h: the in-process race checker (race.c) and the compiler entry
 * points that feed it (tsan.c).
 *
 * The check is TSan's kind, done where the accesses happen: one shadow
 * word per 8 bytes of application memory remembers the last access to
 * those bytes (thread, that thread's clock, which bytes, read or write,
 * atomic, and the access site), every thread keeps a vector clock, and
 * every synchronization object keeps the clock its releases left. An
 * access races with the remembered one when they overlap, one writes,
 * not both are atomic, and the remembered clock is newer than what the
 * accessing thread has acquired from that thread. Only races reach the
 * log (TG_FIND_RACE findings); nothing per access does, so the cost is
 * the check, not the log.
 *
 * The shadow word (64 bits):
 *   0..7   bytes of the 8-byte word the access covered
 *   8      write            9  atomic
 *   10..23 thread id (the log's; threads beyond 2^14 are not checked)
 *   24..37 access site: index in the thread's site table (0: unknown)
 *   38..63 the thread's clock, low 26 bits (the full clock is recovered
 *          from a bound on the thread's current one)
 * One word per word keeps shadow memory the size of the memory the
 * program touched. The price is what TSan's four cells per word avoid:
 * after two threads touched a word, only the later access is remembered,
 * so a third thread's race with the earlier one can go unseen (a missed
 * race, never a false one).
 */
#ifndef TANGLE_SHIM_RACE_H
#define TANGLE_SHIM_RACE_H

#include "shim.h"
#include "race_abi.h"

#define RC_MAX_TID     (1u << 14)
#define RC_MAX_SITES   (1u << 14)
#define RC_SITE_CACHE  256
#define RC_SITE_LOCKS  6
#define RC_MAX_DEPTH   256        /* shadow frames kept; deeper counted */
#define RC_SYNC_CACHE  64         /* per-thread sync-object cache */
#define RC_PCACHE      32         /* per-thread pc -> site cache entries */

#define RC_MASK     0xffull
#define RC_W        (1ull << 8)
#define RC_A        (1ull << 9)
#define RC_TID_SH   10
#define RC_SITE_SH  24
#define RC_CLK_SH   38
#define RC_CLK_BITS 26
#define RC_TID_BITS (((uint64_t)RC_MAX_TID - 1) << RC_TID_SH)
#define RC_CLK_BITS_M (((1ull << RC_CLK_BITS) - 1) << RC_CLK_SH)
#define RC_EPOCH_BITS (RC_TID_BITS | RC_CLK_BITS_M)

struct rc_sync;
struct rc_tok;
#define RC_TOK_CLASSES 16         /* token sizes: 8 << class clock entries */
#define RC_KNOWN       64         /* slots a sparse clock copy may name */
#define RC_FENCE_LOADS 32         /* relaxed loads an acquire fence orders */

struct rc_site {
    uintptr_t pc;
    uint64_t key;               /* lookup key: pc, call path, locks held */
    uint32_t stack;             /* stack id, innermost frame = pc */
    uint32_t nlocks;
    uintptr_t locks[RC_SITE_LOCKS];
};

/* A thread's sites outlive it: a race report may name an access of a
 * thread that has ended. */
struct rc_sites {
    _Atomic uint32_t n;         /* entries 1..n-1 published */
    uint16_t index[2 * RC_MAX_SITES];   /* open addressing: key -> entry */
    struct rc_site s[RC_MAX_SITES];
};

struct filter_ent {
    uintptr_t addr;
    uint32_t epoch;
    uint8_t size;
    uint8_t wrote;
};

struct sample_ent {
    uintptr_t fn;
    uint32_t calls;
    uint32_t skip;             /* calls to skip before the next logged one */
    uint32_t period;
};

#define FILTER_SIZE 512        /* race=log: per-thread recent-access filter */
#define SCACHE_SIZE 256        /* race=log: stack-hash -> id cache */
#define SAMPLE_SIZE 1024       /* per-thread function table (sampling) */

/* tg__rs_off: why the calling thread's accesses must take the long way
 * (0: the inline check may run). One thread-local word, beside tg__rs
 * rather than in it, so that the entry points load both at once. */
#define RS_OFF_IGNORE  1u      /* inside ignore_begin/end */
#define RS_OFF_NOVC    2u      /* the thread is not checked */
#define RS_OFF_SAMPLE  TG_RS_OFF_SAMPLE  /* race_sample=1: accesses are sampled */
#define RS_OFF_NOCHECK 8u      /* race=log, or the checker paused (fork) */
#define RS_OFF_NONE    TG_RS_OFF_NONE  /* no checker: libtangle's copy */
#define RS_OFF_SKIP    TG_RS_OFF_SKIP  /* sampled mode: the call on top
                                  of the shadow stack is not sampled, so
                                  none of its accesses is checked (one
                                  test) */

struct race_thread {
    /* the checker (race.c) */
    uint64_t epoch_bits;       /* tid and clock as a shadow word holds them */
    uint32_t tid;              /* the checker's slot, reused once a joined
                                  thread's history is known to its heir */
    uint32_t log_id;           /* the thread's id in the log */
    uint32_t *vc;              /* vector clock, RC_MAX_TID entries (sparse) */
    uint32_t vcn;              /* entries that may be non-zero */
    uint32_t clk_bound;        /* the slot's clock bound as published */
    uint64_t vc_gen;           /* moves when the clock learns of another
                                  thread; unique to the thread (the high
                                  half) */
    uint64_t lockh;            /* hash of the held locks, for site keys */
    struct rc_sites *sites;
    uint64_t ckey[RC_SITE_CACHE];
    uint32_t cidx[RC_SITE_CACHE];
    uintptr_t stack_lo, stack_hi;
    uintptr_t sync_key[RC_SYNC_CACHE];
    struct rc_sync *sync_node[RC_SYNC_CACHE];
    uint32_t sync_seen[RC_SYNC_CACHE];  /* node version last joined */
    uint64_t ctx;              /* call path and held locks, in one hash
                                  (tg__rc_ctx_update) */
    struct rc_pce {            /* last sites by pc: a loop body's few */
        uintptr_t pc;
        uint64_t ctx;
        uint32_t site;
    } pcache[RC_PCACHE];       /* two ways: entries 2k and 2k+1 */
    bool site_made;            /* a site was made in this slow path */
    bool freeing;              /* the access checked is a free (its report
                                  says so) */
    /* the shadow call stack and sampling (tsan.c) */
    uint32_t depth;
    int ignore;                /* ignore_thread_begin / annotate nesting */
    uintptr_t frames[RC_MAX_DEPTH];
    uint64_t hash[RC_MAX_DEPTH];
    uint8_t sampled[RC_MAX_DEPTH];
    struct sample_ent samples[SAMPLE_SIZE];   /* functions; touched only */
    /* sampled mode: the key of the access site whose check follows, set
     * by the inline skip of gcc builds before they call (0: the call's
     * pc is the key) */
    uintptr_t site_key;
    struct sample_ent sites_s[SAMPLE_SIZE];   /* access sites; when sampling */
    /* race=log only: the per-epoch repeat filter and stack-id cache */
    uint32_t lepoch;
    uint32_t last_used;
    struct tg_log_chunk *last_chunk;
    uint64_t last_key;
    uint32_t last_id;
    struct filter_ent filter[FILTER_SIZE];
    uint64_t skey[SCACHE_SIZE];
    uint32_t sid[SCACHE_SIZE];
    /* Off the access path, so after its tables: the first RC_KNOWN slots
     * whose entry in vc is not zero, in the order learnt (nknown >
     * RC_KNOWN: more than that), so that a thread that heard of few
     * threads copies its clock into a channel token in that many steps,
     * however high their slots; and the channel tokens freed here, by
     * size class, for the thread's next ones (race.c). */
    uint32_t nknown;
    uint16_t known[RC_KNOWN];
    /* Each shadow frame's stack pointer at its entry call, for a longjmp
     * over it (tsan.c); off the access path's lines. */
    uintptr_t cfa[RC_MAX_DEPTH];
    /* C11 fences (tsan.c): set by a release fence, after which every
     * atomic store releases too; and the addresses of the atomics read
     * without acquire since the last acquire fence, which that fence
     * acquires (the last RC_FENCE_LOADS of them, nfacq counting on). */
    bool rel_fence;
    uint32_t nfacq;
    uintptr_t facq[RC_FENCE_LOADS];
    struct rc_tok *tok_free[RC_TOK_CLASSES];
    uint8_t tok_nfree[RC_TOK_CLASSES];
    /* The vector clock's storage, last: pages are touched only up to the
     * highest thread id the thread has heard of. */
    uint32_t vc_store[RC_MAX_TID];
};

/* The layout that gcc builds' inline skip reads (race_abi.h): a change
 * here must update those numbers and rename the symbols there. */
_Static_assert(offsetof(struct race_thread, site_key) == TG_RS_SITE_KEY_OFF, "race_abi.h");
_Static_assert(offsetof(struct race_thread, sites_s) == TG_RS_SITES_OFF, "race_abi.h");
_Static_assert(sizeof(struct sample_ent) == TG_RS_SITE_SIZE, "race_abi.h");
_Static_assert(offsetof(struct sample_ent, fn) == TG_RS_SITE_FN_OFF, "race_abi.h");
_Static_assert(offsetof(struct sample_ent, skip) == TG_RS_SITE_SKIP_OFF, "race_abi.h");
_Static_assert(sizeof(uintptr_t) == 8 && SAMPLE_SIZE == 1u << TG_RS_SITE_BITS, "race_abi.h");

/* The calling thread's race state (created on first use in race mode), or
 * NULL outside race mode, for an untracked thread, or after its end. */
extern __thread struct race_thread *tg__rs __asm__(TG_RS_SYM);
struct race_thread *tg__rs_slow(void);
static inline struct race_thread *tg__rs_get(void)
{
    struct race_thread *r = tg__rs;
    return likely(r != NULL) ? r : tg__rs_slow();
}

/* True in race mode with the in-process checker (not race=log). */
extern bool tg__rc_on;

/* Recomputes tg__rs_off after a change to what it sums up (ignore
 * nesting, the thread's clock, the checker's switch); tsan.c. r is the
 * calling thread's state. */
extern __thread uint32_t tg__rs_off __asm__(TG_RS_OFF_SYM);
void tg__rs_gate(struct race_thread *r);

/* The shadow word of addr (rounded down to 8), created if absent; NULL if
 * no shadow could be mapped. */
extern _Atomic(uint64_t *) *tg__rc_dir __asm__(TG_RC_DIR_SYM);
uint64_t *tg__rc_shadow_slow(uintptr_t addr);
#define RC_REGION_SHIFT 22
/* The shadow word of addr if its region is mapped, else NULL. */
static inline uint64_t *tg__rc_shadow_peek(uintptr_t addr)
{
    uint64_t *c = atomic_load_explicit(&tg__rc_dir[(addr >> RC_REGION_SHIFT) &
                                                   ((1ull << (47 - RC_REGION_SHIFT)) - 1)],
                                       RELAXED);
    return c ? c + ((addr >> 3) & ((1ull << (RC_REGION_SHIFT - 3)) - 1)) : NULL;
}
static inline uint64_t *tg__rc_shadow(uintptr_t addr)
{
    uint64_t *c = tg__rc_shadow_peek(addr);
    return likely(c != NULL) ? c : tg__rc_shadow_slow(addr);
}

/* Is another thread's record c known to the thread to be no newer than
 * what it learnt of that thread (the usual case after a lock hand-off)?
 * Then it is ordered before the thread's present, without reading the
 * other thread's clock. Only a record over 2^25 releases newer could read
 * so; it is taken as ordered (a race missed, never one made up). */
static inline bool tg__rc_known_before(const struct race_thread *r, uint64_t c)
{
    uint32_t u = (uint32_t)((c & RC_TID_BITS) >> RC_TID_SH);
    uint32_t c26 = (uint32_t)(c >> RC_CLK_SH);
    uint32_t k = u < r->vcn ? r->vc[u] : 0;
    return k && ((k - c26) & ((1u << RC_CLK_BITS) - 1)) < (1u << (RC_CLK_BITS - 1));
}

/* The site (pc, call path, locks held) of the current access: a per-pc
 * cache inline, the thread's site table behind it. */
uint32_t tg__rc_site_slow(struct race_thread *r, uintptr_t pc);
/* Recomputes r->ctx, the per-pc cache's key beside the pc, after the
 * call path (shadow stack depth) or the held locks changed. */
static inline void tg__rc_ctx_update(struct race_thread *r)
{
    uint32_t d = r->depth < RC_MAX_DEPTH ? r->depth : RC_MAX_DEPTH;
    r->ctx = (d ? r->hash[d - 1] : 0) ^ (r->lockh * 0x9e3779b97f4a7c15ull);
}
static inline bool tg__rc_pce_hit(const struct rc_pce *e, uintptr_t pc, uint64_t ctx)
{
    return e->pc == pc && e->ctx == ctx && e->site;
}
/* The set of pc in the per-pc cache: two ways, so that a loop's two
 * access sites never evict each other whatever their distance. */
static inline struct rc_pce *tg__rc_pce_set(struct race_thread *r, uintptr_t pc)
{
    return &r->pcache[((pc ^ (pc >> 5)) & (RC_PCACHE / 2 - 1)) * 2];
}
/* The cached site of pc in the current call path and lock set, or NULL. */
static inline const struct rc_pce *
tg__rc_pce_find(struct race_thread *r, uintptr_t pc)
{
    struct rc_pce *e = tg__rc_pce_set(r, pc);
    uint64_t ctx = r->ctx;
    if (likely(tg__rc_pce_hit(e, pc, ctx)))
        return e;
    if (tg__rc_pce_hit(e + 1, pc, ctx))
        return e + 1;
    return NULL;
}
static inline uint32_t tg__rc_site(struct race_thread *r, uintptr_t pc)
{
    const struct rc_pce *hit = tg__rc_pce_find(r, pc);
    if (likely(hit != NULL))
        return hit->site;
    uint32_t site = tg__rc_site_slow(r, pc);
    /* The newest goes first; the first way's entry moves to the second,
     * unless it is the same pc in another path, which it replaces. */
    struct rc_pce *e = tg__rc_pce_set(r, pc);
    if (e->pc != pc)
        e[1] = e[0];
    *e = (struct rc_pce){ pc, r->ctx, site };
    return site;
}

/* The thread's own earlier access o and this one (cell nv), in one
 * word: in the same epoch the bytes merge (a read does not replace a
 * write: the write is what a later reader races with); otherwise the
 * later one stands. */
static inline uint64_t tg__rc_merge_own(const struct race_thread *r, uint64_t o,
                                        uint64_t nv, bool write)
{
    if ((o & RC_EPOCH_BITS) != r->epoch_bits)
        return nv;
    if ((o & RC_W) && !write)
        return o | (nv & RC_MASK);
    if (((o & RC_W) != 0) == write)
        return nv | (o & RC_MASK);
    return nv;
}

/* The slow half of a check: a word not covered by the thread's last
 * access in this epoch. */
void tg__rc_check_slow(struct race_thread *r, uint64_t *cell, uint64_t old,
                       uintptr_t addr, uint64_t mask, bool write, bool atomic,
                       uintptr_t pc);

/* A read of a word that several threads share (its shadow word `old`
 * points to an extension record): true when settled without the slow
 * path, which is the rule for data that all threads read. */
bool tg__rc_ext_read(struct race_thread *r, uint64_t old, uint64_t mask, bool atomic,
                     uintptr_t pc);
/* A read of one word whose shadow word points to an extension record,
 * settled at once; false for any other word, or when the record's rule
 * cannot settle it (the caller then runs the full check). For the entry
 * points, after the inline check failed: a word that all threads read
 * is the usual reason. */
bool tg__rc_read_shared(struct race_thread *r, uintptr_t addr, unsigned size, bool atomic,
                        uintptr_t pc);
static inline bool tg__rc_is_ext(uint64_t c)
{
    return c && !(c & RC_TID_BITS);
}

/* Checks an access of `size` bytes at addr that stays inside one 8-byte
 * word (the caller splits others). */
static inline void tg__rc_check_word(struct race_thread *r, uintptr_t addr,
                                     unsigned size, bool write, bool atomic,
                                     uintptr_t pc)
{
    uint64_t *cell = tg__rc_shadow(addr);
    if (unlikely(!cell))
        return;
    uint64_t mask = (size >= 8 ? 0xffull : ((1ull << size) - 1)) << (addr & 7);
    uint64_t old = atomic_load_explicit((_Atomic uint64_t *)cell, RELAXED);
    /* Same thread, same epoch, those bytes already covered (by a write,
     * if this is one): nothing new can be learnt. */
    if (likely((old & RC_EPOCH_BITS) == r->epoch_bits && (old & mask) == mask &&
               (!write || (old & RC_W))))
        return;
    /* The thread's own word from an earlier epoch (or a write after a
     * read): no other thread to compare with, just the new record. */
    if (likely((old & RC_TID_BITS) == ((uint64_t)r->tid << RC_TID_SH))) {
        uint64_t nv = r->epoch_bits | ((uint64_t)tg__rc_site(r, pc) << RC_SITE_SH) |
                      (mask & RC_MASK) | (write ? RC_W : 0) | (atomic ? RC_A : 0);
        atomic_store_explicit((_Atomic uint64_t *)cell,
                              tg__rc_merge_own(r, old, nv, write), RELAXED);
        return;
    }
    if (!write && tg__rc_is_ext(old) && tg__rc_ext_read(r, old, mask, atomic, pc))
        return;
    tg__rc_check_slow(r, cell, old, addr, mask, write, atomic, pc);
}

/* The common cases of tg__rc_check_word, with nothing that needs a call:
 * the word already covers this access; or, with the site in the per-pc
 * cache, it is the thread's own from an earlier epoch, empty, or another
 * thread's that the thread's clock already orders before it. Returns
 * false for everything else (the caller then calls the full check, which
 * starts over). Kept small so that the entry points that inline it save
 * no registers on this path. */
static inline __attribute__((always_inline)) bool
tg__rc_check_fast(struct race_thread *r, uintptr_t addr, unsigned size,
                  bool write, bool atomic, uintptr_t pc)
{
    _Atomic uint64_t *cell = (_Atomic uint64_t *)tg__rc_shadow_peek(addr);
    if (unlikely(!cell))
        return false;
    uint64_t mask = (size >= 8 ? 0xffull : ((1ull << size) - 1)) << (addr & 7);
    uint64_t old = atomic_load_explicit(cell, RELAXED);
    bool replace = false;
    if ((old & RC_EPOCH_BITS) == r->epoch_bits) {
        if ((old & mask) == mask && (!write || (old & RC_W)))
            return true;
    } else if ((old & RC_TID_BITS) != ((uint64_t)r->tid << RC_TID_SH)) {
        /* Another thread's record (or none): replaced when the thread
         * already knows it happened before (no race, nothing to keep),
         * which is the case after a lock hand-off. An extension record
         * or anything to compare further goes the long way. */
        if (old && (!(old & RC_TID_BITS) || !tg__rc_known_before(r, old)))
            return false;
        replace = true;
    }
    const struct rc_pce *hit = tg__rc_pce_find(r, pc);
    if (unlikely(!hit))
        return false;
    uint64_t nv = r->epoch_bits | ((uint64_t)hit->site << RC_SITE_SH) |
                  (mask & RC_MASK) | (write ? RC_W : 0) | (atomic ? RC_A : 0);
    atomic_store_explicit(cell, replace ? nv : tg__rc_merge_own(r, old, nv, write),
                          RELAXED);
    return true;
}

/* Sampled mode: tg__rs_off's RS_OFF_SKIP for the call now on top of r's
 * shadow stack (frames past RC_MAX_DEPTH were not sampled by call: not
 * skipped). */
static inline uint32_t tg__rs_skip_bit(const struct race_thread *r)
{
    uint32_t d = r->depth;
    return d && d <= RC_MAX_DEPTH && !r->sampled[d - 1] ? RS_OFF_SKIP : 0;
}

/* The call-path hash of a shadow frame: the caller's hash and the pc. */
static inline uint64_t tg__rc_mix(uint64_t h, uintptr_t pc)
{
    h ^= (uint64_t)pc + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

/* A call's shadow frame, at depth d < RC_MAX_DEPTH (the caller counted
 * it in r->depth): its call site pc, and the stack pointer at the entry
 * hook's call (the caller's, which a longjmp's unwinding compares with
 * the stack pointer the jump restores). */
static inline __attribute__((always_inline)) void
tg__rc_func_push(struct race_thread *r, uint32_t d, uintptr_t pc, uintptr_t cfa)
{
    r->frames[d] = pc;
    r->cfa[d] = cfa;
    r->hash[d] = tg__rc_mix(d ? r->hash[d - 1] : 0x7461676c65ull, pc);
    tg__rc_ctx_update(r);
}

/* A function's return: its shadow frame goes, and in sampled mode the
 * caller's sampling decision comes back into the gate (r: the calling
 * thread's state, or NULL). */
static inline __attribute__((always_inline)) void tg__rc_func_exit(struct race_thread *r)
{
    if (likely(r && r->depth)) {
        r->depth--;
        tg__rc_ctx_update(r);
        uint32_t off = tg__rs_off;
        if (off & RS_OFF_SAMPLE)
            tg__rs_off = (off & ~RS_OFF_SKIP) | tg__rs_skip_bit(r);
    }
}

/* The check's inline cases for one access that stays inside a word, or
 * an aligned 16-byte one (a vector load or store: clang instruments
 * vectorized loops so), each word checked inline. True when settled;
 * false sends the access the long way, which starts over (a word the
 * first check covered then costs one compare). */
static inline __attribute__((always_inline)) bool
tg__rc_access_fast(struct race_thread *r, uintptr_t addr, uint32_t size,
                   bool write, bool atomic, uintptr_t pc)
{
    if (likely((addr & 7) + size <= 8))
        return tg__rc_check_fast(r, addr, size, write, atomic, pc);
    return size == 16 && !(addr & 7) &&
           likely(tg__rc_check_fast(r, addr, 8, write, atomic, pc)) &&
           likely(tg__rc_check_fast(r, addr + 8, 8, write, atomic, pc));
}

/* The slot of a function or an access site in a LiteRace table. Two
 * access sites are often a few bytes apart (a load's call, one
 * instruction, a store's): every bit of the address counts, or they would
 * share an entry, reset each other's count and never be sampled. */
static inline unsigned tg__rc_sample_slot(uintptr_t k)
{
    return TG_RS_SITE_SLOT(k) & (SAMPLE_SIZE - 1);
}

/* Sampled mode: the skips decided inline, before the table's full rule
 * (tsan.c's sample_hit), for an access of a sampled call (an unsampled
 * one is RS_OFF_SKIP in the gate). True when the access at pc is not
 * checked: the site is between two of its samples (one decrement). */
static inline __attribute__((always_inline)) bool
tg__rc_sample_skip(struct race_thread *r, uintptr_t pc)
{
    struct sample_ent *e = &r->sites_s[tg__rc_sample_slot(pc)];
    if (likely(e->fn == pc && e->skip)) {
        e->skip--;
        return true;
    }
    return false;
}

/* Any access: split at word boundaries. */
void tg__rc_check_range(struct race_thread *r, uintptr_t addr, size_t len,
                        bool write, bool atomic, uintptr_t pc);

/* Synchronization, for the calling thread in race mode. */
void tg__rc_release(struct race_thread *r, int kind, uintptr_t addr);
/* A release in two steps, for a release-type atomic whose own access must
 * fall in the epoch it publishes: the clock now, the next epoch once the
 * access is recorded. */
void tg__rc_release_keep(struct race_thread *r, int kind, uintptr_t addr);
void tg__rc_next_epoch(struct race_thread *r);
void tg__rc_acquire(struct race_thread *r, int kind, uintptr_t addr);

/* ---- vector clocks of synchronization objects (race.c) ---- */

#define VC_INLINE 6
struct rc_clock {
    uint32_t n, cap;           /* entries in use, allocated */
    uint32_t *vc;              /* inl, or from the arena when larger */
    uint64_t last_gen;         /* clock generation of the last release */
    uint32_t inl[VC_INLINE];   /* a few threads' clocks: no second line */
};

/* A synchronization object's clocks. A lock keeps two in one node: what
 * its exclusive unlocks released (every acquisition takes it) and what its
 * shared unlocks released (only an exclusive acquisition takes it). */
struct rc_sync {
    /* First cache line: all a lock hand-over touches (a node is 64-byte
     * aligned), so the lock's clock costs one line beside the lock's own. */
    struct rc_clock c0;
    _Atomic uint32_t version;  /* releases so far */
    _Atomic int lock;
    int kind;
    struct rc_sync *next;
    uintptr_t addr;
    struct rc_clock c1;
};

/* 64-bit mixer (splitmix's finalizer). */
static inline uint64_t tg__rc_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Publishes a new bound of the thread's clock (race.c's clock table). */
void tg__rc_clk_publish(struct race_thread *r, uint32_t c);

/* Starts the thread's next epoch. */
static inline void tg__rc_bump_clock(struct race_thread *r)
{
    uint32_t c = ++r->vc[r->tid];
    if (unlikely(c > r->clk_bound))
        tg__rc_clk_publish(r, c);
    r->epoch_bits = ((uint64_t)r->tid << RC_TID_SH) |
                    ((uint64_t)(c & ((1u << RC_CLK_BITS) - 1)) << RC_CLK_SH);
}

/* tg__race_lock_at's common cases for an exclusive lock, inline in the
 * lock wrappers: an acquisition after the thread's own last unlock (it
 * learns nothing), and an unlock by a thread that unlocked last and has
 * learnt nothing since (only its own entry moves). False for anything
 * else, which the caller then hands to tg__race_lock_at. */
static inline __attribute__((always_inline)) bool
tg__rc_lock_fast(struct race_thread *r, struct rc_sync *s, uintptr_t addr,
                 bool taken)
{
    struct rc_clock *c = &s->c0;
    uint64_t g = __atomic_load_n(&c->last_gen, __ATOMIC_RELAXED);
    if (taken) {
        if (!g || (g ^ r->vc_gen) >> 32)
            return false;
        r->lockh += tg__rc_mix64(addr);
    } else {
        uint32_t tid = r->tid;
        if (g != r->vc_gen || tid >= c->n)
            return false;
        if (r->vc[tid] > c->vc[tid])
            c->vc[tid] = r->vc[tid];
        uint32_t v = atomic_load_explicit(&s->version, RELAXED);
        atomic_store_explicit(&s->version, v + 1, RELEASE);
        tg__rc_bump_clock(r);
        r->lockh -= tg__rc_mix64(addr);
    }
    tg__rc_ctx_update(r);
    return true;
}

/* Heap blocks (names in reports; their shadow is cleared when freed). */
void tg__rc_alloc(struct race_thread *r, uintptr_t p, size_t n, uintptr_t pc);
void tg__rc_free(uintptr_t p, size_t n);
/* A free of [p, p+len) checked as r's write, before tg__rc_free. */
void tg__rc_free_check(struct race_thread *r, uintptr_t p, size_t len, uintptr_t pc);
/* Forgets the shadow of [lo, lo+len) (freed memory, an ended thread's
 * stack). */
void tg__rc_clear(uintptr_t lo, size_t len);
/* A known, accepted race on [addr, addr+len). */
void tg__rc_benign(uintptr_t addr, size_t len);
/* The thread's state is going away (thread end). `released`: its last
 * step went out to a joiner (tg__rc_release of RK_EXIT just before);
 * otherwise its slot is never handed on. */
void tg__rc_thread_end(struct race_thread *r, bool released);
/* True unless the calling thread is detached: no one can join it, so its
 * end need not be released (a clock of every thread it heard of, per
 * thread). */
bool tg__rc_joinable_self(void);
/* Sets up the calling thread's checker state; false if it cannot be. */
bool tg__rc_thread_init(struct race_thread *r, struct tg__thread *t);

/* The shadow call stack's id for the current access (tsan.c). */
uint32_t tg__rs_intern(struct race_thread *r, struct tg__thread *t, uintptr_t pc);

#endif
