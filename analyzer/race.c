/*
 * race.c: the data-race analysis, happens-before with vector clocks in the
 * manner of FastTrack (Flanagan and Freund, PLDI 2009), run offline over a
 * full-mode log.
 *
 * Each thread's event stream is replayed in its own order; the threads are
 * interleaved so that every acquire is processed after the releases it
 * pairs with (a thread whose next event is an acquire that is not ready
 * waits, and the others run). Pairing follows the sequence numbers the
 * shim and the runtime's probes put in the events: the n-th unlock of a
 * lock releases to the acquisition that saw n releases; the send of value
 * s on a channel to the receive of s, and the receive of s back to the
 * send of s + capacity (the Go memory model, unbuffered channels being
 * capacity 0: both ways); a close to every receive that saw it; a
 * WaitGroup's dones of generation g to the wait that returned in g;
 * barrier arrivals of a round to every departure from it; semaphore
 * posts and release-type atomics by count; thread create to start and
 * exit to join. Releases whose number is not implied by the acquire
 * (barrier rounds, generations, close) are counted in a first pass, so an
 * acquire waits for all of them. If every thread is waiting (a log cut
 * short, a sync the shim did not see), the lowest waiting thread goes on
 * with what has been released so far and the run is marked as forced.
 *
 * Memory is checked per byte: a shadow word per 8 bytes of memory ever
 * accessed holds, for each byte, the last write's epoch (thread, clock)
 * and the last read's epoch, or a list of concurrent readers (FastTrack's
 * read-shared state). So neighbouring bytes written by different threads
 * do not race, and memory grows with the addresses touched, not with the
 * events. An access races with a previous one by another thread when that
 * one's epoch is not covered by the accessing thread's clock and at least
 * one is a write and not both are atomic. Access sites (stack, pc, size,
 * kind, locks held) are interned; each racing pair of code locations is
 * reported once.
 *
 * The same check also runs in the preload shim, which logs only the races
 * it finds (TG_FIND_RACE records). Each record is turned into the same
 * struct race_pair the replay produces and goes through the same code to
 * become a finding (symbolized stacks, what the memory is, locks held),
 * so a race reads the same whichever checker found it, and one pair of
 * code locations is one finding across both.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "race.h"
#include "tangle/hooks.h"

#define RANGE_MAX   (1u << 20)   /* longest range checked byte by byte */
#define SHARED_TID  0xffffu
#define MAX_HELD    64

typedef uint32_t clk_t;

/* ---- a small open-addressing hash table of 64-bit keys ---------------- */

struct htab {
    uint64_t *keys;          /* 0: empty, 1: deleted; real keys are >= 2 */
    uint32_t *vals;
    size_t cap, used, live;
};

static uint64_t hmix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t fix_key(uint64_t k)
{
    return k < 2 ? k + 0x8000000000000000ull : k;
}

static void ht_insert_raw(struct htab *h, uint64_t k, uint32_t v)
{
    size_t m = h->cap - 1, i = hmix(k) & m;
    while (h->keys[i] >= 2)
        i = (i + 1) & m;
    if (h->keys[i] == 0)
        h->used++;
    h->keys[i] = k;
    h->vals[i] = v;
    h->live++;
}

static void ht_grow(struct htab *h)
{
    struct htab o = *h;
    h->cap = o.cap ? (o.live * 4 > o.cap ? o.cap * 2 : o.cap) : 1024;
    h->keys = xcalloc(h->cap, sizeof *h->keys);
    h->vals = xmalloc(h->cap * sizeof *h->vals);
    h->used = h->live = 0;
    for (size_t i = 0; i < o.cap; i++)
        if (o.keys[i] >= 2)
            ht_insert_raw(h, o.keys[i], o.vals[i]);
    free(o.keys);
    free(o.vals);
}

/* The value slot of k, or NULL. */
static uint32_t *ht_find(const struct htab *h, uint64_t k)
{
    if (!h->cap)
        return NULL;
    k = fix_key(k);
    size_t m = h->cap - 1, i = hmix(k) & m;
    for (;;) {
        if (h->keys[i] == k)
            return &h->vals[i];
        if (h->keys[i] == 0)
            return NULL;
        i = (i + 1) & m;
    }
}

/* The value slot of k, inserted with value v if absent (*fresh = true). */
static uint32_t *ht_get(struct htab *h, uint64_t k, uint32_t v, bool *fresh)
{
    uint32_t *p = ht_find(h, k);
    if (p) {
        *fresh = false;
        return p;
    }
    if ((h->used + 1) * 4 >= h->cap * 3)
        ht_grow(h);
    k = fix_key(k);
    size_t m = h->cap - 1, i = hmix(k) & m;
    while (h->keys[i] >= 2)
        i = (i + 1) & m;
    if (h->keys[i] == 0)
        h->used++;
    h->keys[i] = k;
    h->vals[i] = v;
    h->live++;
    *fresh = true;
    return &h->vals[i];
}

static void ht_del(struct htab *h, uint64_t k)
{
    uint32_t *p = ht_find(h, k);
    if (!p)
        return;
    h->keys[p - h->vals] = 1;
    h->live--;
}

static void ht_free(struct htab *h)
{
    free(h->keys);
    free(h->vals);
}

/* ---- synchronization objects ------------------------------------------ */

enum skind {
    K_CREATE = 1,   /* addr: child thread id */
    K_EXIT,         /* addr: thread id */
    K_LOCK_W,       /* addr: lock; released by exclusive unlocks */
    K_LOCK_R,       /* addr: lock; released by shared unlocks */
    K_LOCK_N,       /* addr: lock; count of unlocks of either kind */
    K_COUNTED,      /* addr: semaphore or atomic stripe */
    K_SENT,         /* (chan, s) */
    K_RECVD,        /* (chan, s) */
    K_GROUP,        /* (addr, arg): barrier round, wg generation, close... */
    K_CLASS,        /* addr: what a size-0 sync address is (object kind) */
};

struct sync {
    clk_t *vc;               /* NULL until something was released */
    uint64_t released;
    uint64_t expected;       /* K_GROUP: releases in the whole log */
};

/* ---- access sites and shadow memory -------------------------------------- */

struct site {
    uint64_t pc;
    uint32_t stack;
    uint32_t thread;
    uint32_t size;
    bool write, atomic;
    bool freed;              /* a free, checked as a write */
    uint32_t locks;          /* offset in lockpool */
    uint32_t nlocks;
};

struct cell {
    clk_t wclk, rclk;        /* rclk: reader list index when rtid = SHARED */
    uint16_t wtid, rtid;
    uint32_t wsite, rsite;
};

struct word {
    struct cell c[8];
};

struct reader {
    uint32_t tid;
    clk_t clk;
    uint32_t site;
};

struct rlist {
    struct reader *r;
    uint32_t n, cap;
    uint32_t next_free;      /* free list link (index + 1) */
};

/* ---- threads --------------------------------------------------------------- */

struct chunkref {
    uint32_t thread;
    uint64_t seq;
    uint64_t index;
};

#define SITE_CACHE 16

struct site_cache {
    uint64_t pc;
    uint32_t stack, size, site;
    uint64_t lh;
    bool write, atomic, valid;
};

struct thr {
    uint32_t id;
    clk_t *vc;
    const struct chunkref *chunks;
    size_t nchunks, ci;
    const struct tg_log_event *ev;
    uint32_t nev, ei;
    bool present, started, done;
    int phase;               /* unbuffered send: 1 after publishing */
    int ignore;
    uint64_t held[MAX_HELD];
    uint32_t nheld;
    uint32_t held_ver;
    uint64_t held_hash;      /* of the held set's contents: sites key on it */
    uint32_t locks_ver, locks_off;   /* interned lock set for held_ver */
    /* recent sites, by pc (a loop body has a few) */
    struct site_cache sc[SITE_CACHE];
    /* last shadow word looked up */
    uint64_t w_key;
    uint32_t w_idx;
    bool w_valid;
};

struct benign {
    uint64_t addr, len;
};

struct block {                 /* a live heap block */
    uint64_t addr, size;
    uint32_t stack, thread;
};

struct rc {
    struct tlog *log;
    uint32_t n;              /* vector clock width: threads + 1 */
    struct thr *t;
    struct chunkref *refs;
    size_t nrefs;
    uint64_t max_events;

    struct htab syncs;       /* (kind, addr, arg) hash -> sync index */
    struct sync *sv;
    size_t nsv, capsv;
    uint64_t *sync_keys;     /* full key check: kind, addr, arg per sync */
    uint32_t *sv_free;       /* slots of consumed one-shot syncs */
    size_t nsv_free, capsv_free;

    struct htab words;       /* addr >> 3 -> word index */
    struct word *wv;
    size_t nwv, capwv;

    struct rlist *rl;
    size_t nrl, caprl;
    uint32_t rl_free;

    struct htab sites_h;
    struct site *sites;
    size_t nsites, capsites;

    uint64_t *lockpool;
    size_t nlockpool, caplockpool;

    struct htab pairs;
    struct htab blocks_h;    /* block address -> index in blocks */
    struct block *blocks;
    size_t nblocks, capblocks;
    struct benign *benign;
    size_t nbenign, capbenign;
    struct block *stacks;    /* thread stacks: addr, size, thread */
    size_t nstacks, capstacks;

    void (*found)(void *arg, const struct race_pair *p);
    void *arg;
    struct race_stats st;
    long npairs;
};

/* ---- vector clocks ---------------------------------------------------------- */

static clk_t *vc_new(struct rc *rc)
{
    return xcalloc(rc->n, sizeof(clk_t));
}

static void vc_join(struct rc *rc, clk_t *dst, const clk_t *src)
{
    if (!src)
        return;
    for (uint32_t i = 0; i < rc->n; i++)
        if (src[i] > dst[i])
            dst[i] = src[i];
}

/* ---- sync objects ------------------------------------------------------------ */

static uint64_t sync_hash(int kind, uint64_t addr, uint64_t arg)
{
    return hmix(addr * 31 + (uint64_t)kind) ^ hmix(arg + 0x9e3779b97f4a7c15ull * (uint64_t)kind);
}

/* The sync object (kind, addr, arg), created when `create`. Hash
 * collisions are resolved by linear probing on a derived key. */
static struct sync *sync_get(struct rc *rc, int kind, uint64_t addr,
                             uint64_t arg, bool create)
{
    uint64_t h = sync_hash(kind, addr, arg);
    for (int probe = 0;; probe++) {
        uint64_t k = h + (uint64_t)probe * 0x632be59bd9b4e019ull;
        uint32_t *slot = ht_find(&rc->syncs, k);
        if (slot) {
            uint64_t *key = &rc->sync_keys[*slot * 3];
            if (key[0] == (uint64_t)kind && key[1] == addr && key[2] == arg)
                return &rc->sv[*slot];
            continue;
        }
        if (!create)
            return NULL;
        uint32_t idx;
        if (rc->nsv_free) {
            /* a consumed one's slot, and its clock, zeroed */
            idx = rc->sv_free[--rc->nsv_free];
            clk_t *vc = rc->sv[idx].vc;
            memset(&rc->sv[idx], 0, sizeof rc->sv[idx]);
            if (vc)
                memset(vc, 0, rc->n * sizeof *vc);
            rc->sv[idx].vc = vc;
        } else {
            xgrow(&rc->sv, &rc->capsv, rc->nsv + 1, sizeof *rc->sv);
            size_t cap = rc->capsv;
            rc->sync_keys = xrealloc(rc->sync_keys, cap * 3 * sizeof(uint64_t));
            idx = (uint32_t)rc->nsv++;
            memset(&rc->sv[idx], 0, sizeof rc->sv[idx]);
        }
        rc->sync_keys[idx * 3] = (uint64_t)kind;
        rc->sync_keys[idx * 3 + 1] = addr;
        rc->sync_keys[idx * 3 + 2] = arg;
        bool fresh;
        ht_get(&rc->syncs, k, idx, &fresh);
        return &rc->sv[idx];
    }
}

/* Adds t's clock to s (a release) and starts t's next epoch. */
static void release_into(struct rc *rc, struct thr *t, struct sync *s)
{
    if (!s->vc)
        s->vc = vc_new(rc);
    vc_join(rc, s->vc, t->vc);
    s->released++;
    t->vc[t->id]++;
}

static void acquire_from(struct rc *rc, struct thr *t, const struct sync *s)
{
    if (s)
        vc_join(rc, t->vc, s->vc);
}

/* A one-shot sync (a channel value's K_SENT or K_RECVD) that its one
 * acquirer consumed: its entry goes, and its slot and clock serve the
 * next one made. A pipeline makes two such syncs per value, and keeping
 * them all grew the table by millions of entries, so that every lookup
 * missed the cache. A channel freed and made again at the same address
 * counts from 0 again: its first receive now waits for its own send,
 * where an old entry let it go at once. An entry whose derived key has
 * a successor (two keys of one hash: sync_get) stays, spent, so that the
 * successor is still found. */
static void sync_done(struct rc *rc, int kind, uint64_t addr, uint64_t arg)
{
    uint64_t h = sync_hash(kind, addr, arg);
    for (int probe = 0;; probe++) {
        uint64_t k = h + (uint64_t)probe * 0x632be59bd9b4e019ull;
        uint32_t *slot = ht_find(&rc->syncs, k);
        if (!slot)
            return;
        uint32_t idx = *slot;
        const uint64_t *key = &rc->sync_keys[idx * 3];
        if (key[0] != (uint64_t)kind || key[1] != addr || key[2] != arg)
            continue;
        if (ht_find(&rc->syncs, k + 0x632be59bd9b4e019ull)) {
            free(rc->sv[idx].vc);
            rc->sv[idx].vc = NULL;
            return;
        }
        ht_del(&rc->syncs, k);
        xgrow(&rc->sv_free, &rc->capsv_free, rc->nsv_free + 1, sizeof *rc->sv_free);
        rc->sv_free[rc->nsv_free++] = idx;
        return;
    }
}

/* ---- the event streams --------------------------------------------------------- */

static int ref_cmp(const void *a, const void *b)
{
    const struct chunkref *x = a, *y = b;
    if (x->thread != y->thread)
        return x->thread < y->thread ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const unsigned char *chunk_at(struct rc *rc, uint64_t i)
{
    const struct tlog_sec *s = &rc->log->sec[TG_SEC_EVENTS];
    return rc->log->map + s->off + i * s->rec_size;
}

static uint32_t load32(const void *p)
{
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

/* Collects the committed chunks of every known thread, in thread order. */
static void collect_chunks(struct rc *rc)
{
    const struct tlog_sec *s = &rc->log->sec[TG_SEC_EVENTS];
    if (!s->ok || !s->count || s->rec_size <= sizeof(struct tg_log_chunk))
        return;
    rc->max_events = (s->rec_size - sizeof(struct tg_log_chunk)) /
                     sizeof(struct tg_log_event);
    /* Chunks are handed out from the start of the section: past the
     * writer's count there is nothing but unwritten (sparse) pages, and
     * touching them costs a page fault each. */
    uint64_t n = s->count, used = rc->log->hdr.sec[TG_SEC_EVENTS].used;
    if (used && used < n)
        n = used;
    rc->refs = xmalloc(n * sizeof *rc->refs);
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *p = chunk_at(rc, i);
        if (load32(p) != TG_LOG_COMMITTED)
            continue;
        const struct tg_log_chunk *c = (const struct tg_log_chunk *)p;
        if (c->thread == 0 || c->thread >= rc->n)
            continue;
        rc->refs[rc->nrefs++] = (struct chunkref){ c->thread, c->thread_seq, i };
    }
    qsort(rc->refs, rc->nrefs, sizeof *rc->refs, ref_cmp);
    for (size_t i = 0; i < rc->nrefs;) {
        size_t j = i;
        while (j < rc->nrefs && rc->refs[j].thread == rc->refs[i].thread)
            j++;
        struct thr *t = &rc->t[rc->refs[i].thread];
        t->chunks = &rc->refs[i];
        t->nchunks = j - i;
        t->present = true;
        i = j;
    }
}

/* The thread's next event, or NULL at the end of its stream. */
static const struct tg_log_event *peek(struct rc *rc, struct thr *t)
{
    for (;;) {
        if (t->ev && t->ei < t->nev) {
            const struct tg_log_event *e = &t->ev[t->ei];
            if (e->type == TG_EV_NONE || e->type >= TG_EV_TYPE_COUNT) {
                t->ei++;
                continue;
            }
            return e;
        }
        if (t->ci >= t->nchunks)
            return NULL;
        const unsigned char *p = chunk_at(rc, t->chunks[t->ci++].index);
        const struct tg_log_chunk *c = (const struct tg_log_chunk *)p;
        uint32_t used = load32(p + offsetof(struct tg_log_chunk, used));
        if (used > c->cap || c->cap > rc->max_events || c->thread != t->id) {
            t->ev = NULL;
            continue;
        }
        t->ev = (const struct tg_log_event *)(p + sizeof *c);
        t->nev = used;
        t->ei = 0;
    }
}

/* ---- classifying release / acquire events ------------------------------------ */

enum sclass { S_GROUP, S_COUNTED, S_SEND, S_RECV, S_ANNOTATION };

static uint64_t chan_cap(struct rc *rc, uint64_t addr)
{
    struct sync *s = sync_get(rc, K_CLASS, addr, 1, true);
    if (!s->released) {
        const struct tg_log_object *o = tlog_object_at(rc->log, addr);
        s->expected = o && o->kind == TG_LOBJ_CHAN ? o->b : 0;
        s->released = 1;
    }
    return s->expected;
}

/* What a size-0 release/acquire on addr is: a semaphore (by count), a
 * barrier or once (grouped), or a hand annotation. Cached per address. */
static enum sclass plain_class(struct rc *rc, uint64_t addr)
{
    struct sync *s = sync_get(rc, K_CLASS, addr, 0, true);
    if (!s->released) {
        const struct tg_log_object *o = tlog_object_at(rc->log, addr);
        s->expected = !o ? S_ANNOTATION : o->kind == TG_LOBJ_SEM ? S_COUNTED
                                                                 : S_GROUP;
        s->released = 1;
    }
    return (enum sclass)s->expected;
}

static enum sclass classify(struct rc *rc, const struct tg_log_event *e)
{
    switch (e->size) {
    case 0:
        return plain_class(rc, e->addr);
    case RACE_SYNC_ATOMIC:
        return S_COUNTED;
    case TG_PROBE_SEND:
        return S_SEND;
    case TG_PROBE_RECV:
        return e->arg == TG_SEQ_CLOSED ? S_GROUP : S_RECV;
    default:
        return S_GROUP;
    }
}

/* The grouping argument: contexts pair cancel with any wait. */
static uint64_t group_arg(const struct tg_log_event *e)
{
    if (e->size == TG_PROBE_CTX_CANCEL || e->size == TG_PROBE_CTX_WAIT)
        return 0;
    return e->arg;
}

/* First pass: how many releases each group key gets in the whole log. */
static void count_groups(struct rc *rc)
{
    for (uint32_t id = 1; id < rc->n; id++) {
        struct thr *t = &rc->t[id];
        const struct tg_log_event *e;
        while ((e = peek(rc, t))) {
            t->ei++;
            if (e->type != TG_EV_RELEASE && e->type != TG_EV_RELEASE_ACQUIRE)
                continue;
            enum sclass c = classify(rc, e);
            if (c == S_GROUP || c == S_ANNOTATION)
                sync_get(rc, K_GROUP, e->addr, group_arg(e), true)->expected++;
        }
        t->ci = 0;
        t->ev = NULL;
        t->nev = t->ei = 0;
    }
}

/* ---- sites and lock sets ------------------------------------------------------ */

static uint32_t lockset(struct rc *rc, struct thr *t)
{
    if (t->locks_ver == t->held_ver + 1)
        return t->locks_off;
    xgrow(&rc->lockpool, &rc->caplockpool, rc->nlockpool + t->nheld + 1,
          sizeof(uint64_t));
    uint32_t off = (uint32_t)rc->nlockpool;
    memcpy(rc->lockpool + off, t->held, t->nheld * sizeof(uint64_t));
    rc->nlockpool += t->nheld;
    t->locks_off = off;
    t->locks_ver = t->held_ver + 1;
    return off;
}

static uint32_t site_of(struct rc *rc, struct thr *t, const struct tg_log_event *e,
                        uint64_t pc, uint32_t size, bool write, bool atomic)
{
    struct site_cache *c = &t->sc[(pc ^ (pc >> 7) ^ e->stack) & (SITE_CACHE - 1)];
    if (c->valid && c->pc == pc && c->stack == e->stack && c->size == size &&
        c->write == write && c->atomic == atomic && c->lh == t->held_hash)
        return c->site;
    uint64_t k = hmix(pc) ^ hmix(((uint64_t)e->stack << 32) | size) ^
                 hmix(((uint64_t)t->id << 8) | (write ? 2u : 0) | (atomic ? 1u : 0)) ^
                 hmix(t->held_hash + ((uint64_t)t->id << 40) + 7);
    uint32_t idx;
    for (int probe = 0;; probe++) {
        uint64_t kk = k + (uint64_t)probe * 0x9e3779b97f4a7c15ull;
        bool fresh;
        uint32_t *slot = ht_get(&rc->sites_h, kk, (uint32_t)rc->nsites, &fresh);
        if (!fresh) {
            const struct site *s = &rc->sites[*slot];
            if (s->pc == pc && s->stack == e->stack && s->size == size &&
                s->write == write && s->atomic == atomic && s->thread == t->id &&
                s->nlocks == t->nheld &&
                memcmp(rc->lockpool + s->locks, t->held,
                       t->nheld * sizeof(uint64_t)) == 0) {
                idx = *slot;
                break;
            }
            continue;
        }
        xgrow(&rc->sites, &rc->capsites, rc->nsites + 1, sizeof *rc->sites);
        idx = (uint32_t)rc->nsites++;
        rc->sites[idx] = (struct site){
            .pc = pc, .stack = e->stack, .thread = t->id, .size = size,
            .write = write, .atomic = atomic, .locks = lockset(rc, t),
            .nlocks = t->nheld,
        };
        break;
    }
    *c = (struct site_cache){ .pc = pc, .stack = e->stack, .size = size,
                              .site = idx, .lh = t->held_hash, .write = write,
                              .atomic = atomic, .valid = true };
    return idx;
}

/* ---- races ------------------------------------------------------------------ */

static bool benign(const struct rc *rc, uint64_t addr)
{
    for (size_t i = 0; i < rc->nbenign; i++)
        if (addr >= rc->benign[i].addr && addr - rc->benign[i].addr < rc->benign[i].len)
            return true;
    return false;
}

/* Where a site is in the code, for grouping: its pc, or for a range its
 * stack (which then holds the pc). */
static uint64_t site_loc(const struct site *s)
{
    return s->pc ? s->pc : 0x8000000000000000ull | s->stack;
}

static void race(struct rc *rc, uint32_t cur, uint32_t prev, uint64_t addr,
                 uint64_t cur_addr)
{
    rc->st.races++;
    if (benign(rc, addr))
        return;
    const struct site *a = &rc->sites[cur], *b = &rc->sites[prev];
    uint64_t la = site_loc(a), lb = site_loc(b);
    uint64_t k = la < lb ? hmix(la) ^ (hmix(lb) >> 1) : hmix(lb) ^ (hmix(la) >> 1);
    k ^= (uint64_t)(a->write && b->write);
    bool fresh;
    ht_get(&rc->pairs, k, 1, &fresh);
    if (!fresh)
        return;
    rc->npairs++;
    if (!rc->found)
        return;
    struct race_pair p = {0};
    const struct site *s[2] = { a, b };
    for (int i = 0; i < 2; i++) {
        p.thread[i] = s[i]->thread;
        p.write[i] = s[i]->write;
        p.freed[i] = s[i]->freed;
        p.atomic[i] = s[i]->atomic;
        p.size[i] = s[i]->size;
        p.addr[i] = i == 0 ? cur_addr : addr;
        p.pc[i] = s[i]->pc;
        p.stack[i] = s[i]->stack;
        p.locks[i] = rc->lockpool + s[i]->locks;
        p.nlocks[i] = s[i]->nlocks;
    }
    p.addr[1] = addr;
    for (size_t i = 0; i < rc->nstacks; i++) {
        const struct block *bl = &rc->stacks[i];
        if (addr >= bl->addr && addr - bl->addr < bl->size)
            p.stack_thread = bl->thread;
    }
    for (size_t i = 0; i < rc->nblocks; i++) {
        const struct block *bl = &rc->blocks[i];
        if (addr >= bl->addr && addr - bl->addr < bl->size) {
            p.block_addr = bl->addr;
            p.block_size = bl->size;
            p.block_stack = bl->stack;
            p.block_thread = bl->thread;
            break;
        }
    }
    rc->found(rc->arg, &p);
}

static struct word *word_get(struct rc *rc, uint64_t w)
{
    bool fresh;
    uint32_t *slot = ht_get(&rc->words, w, (uint32_t)rc->nwv, &fresh);
    if (fresh) {
        xgrow(&rc->wv, &rc->capwv, rc->nwv + 1, sizeof *rc->wv);
        memset(&rc->wv[rc->nwv], 0, sizeof rc->wv[0]);
        rc->nwv++;
    }
    return &rc->wv[*slot];
}

static uint32_t rl_new(struct rc *rc)
{
    uint32_t i;
    if (rc->rl_free) {
        i = rc->rl_free - 1;
        rc->rl_free = rc->rl[i].next_free;
        rc->rl[i].n = 0;
        return i;
    }
    xgrow(&rc->rl, &rc->caprl, rc->nrl + 1, sizeof *rc->rl);
    i = (uint32_t)rc->nrl++;
    memset(&rc->rl[i], 0, sizeof rc->rl[i]);
    return i;
}

static void rl_add(struct rc *rc, uint32_t li, uint32_t tid, clk_t clk, uint32_t site)
{
    struct rlist *l = &rc->rl[li];
    for (uint32_t i = 0; i < l->n; i++)
        if (l->r[i].tid == tid) {
            l->r[i].clk = clk;
            l->r[i].site = site;
            return;
        }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->r = xrealloc(l->r, l->cap * sizeof *l->r);
    }
    l->r[l->n++] = (struct reader){ tid, clk, site };
}

static void rl_free(struct rc *rc, uint32_t li)
{
    rc->rl[li].n = 0;
    rc->rl[li].next_free = rc->rl_free;
    rc->rl_free = li + 1;
}

/* Checks one byte's history against an access by t and records the
 * access. *last: the earlier site already reported for this access. */
static void check_byte(struct rc *rc, struct thr *t, struct cell *c,
                       uint32_t site, bool write, bool atomic, uint64_t addr,
                       uint64_t access_addr, uint32_t *last)
{
    const clk_t *vc = t->vc;
    uint32_t me = t->id;
    clk_t now = vc[me];
    if (c->wtid && c->wtid != me && c->wclk > vc[c->wtid] &&
        !(atomic && rc->sites[c->wsite].atomic) && *last != c->wsite) {
        *last = c->wsite;
        race(rc, site, c->wsite, addr, access_addr);
    }
    if (write) {
        if (c->rtid == SHARED_TID) {
            struct rlist *l = &rc->rl[c->rclk];
            for (uint32_t i = 0; i < l->n; i++) {
                struct reader *r = &l->r[i];
                if (r->tid != me && r->clk > vc[r->tid] &&
                    !(atomic && rc->sites[r->site].atomic) && *last != r->site) {
                    *last = r->site;
                    race(rc, site, r->site, addr, access_addr);
                }
            }
            rl_free(rc, c->rclk);
        } else if (c->rtid && c->rtid != me && c->rclk > vc[c->rtid] &&
                   !(atomic && rc->sites[c->rsite].atomic) && *last != c->rsite) {
            *last = c->rsite;
            race(rc, site, c->rsite, addr, access_addr);
        }
        c->wtid = (uint16_t)me;
        c->wclk = now;
        c->wsite = site;
        c->rtid = 0;
        c->rclk = 0;
        return;
    }
    if (c->rtid == SHARED_TID) {
        rl_add(rc, c->rclk, me, now, site);
    } else if (c->rtid == 0 || c->rtid == me || c->rclk <= vc[c->rtid]) {
        c->rtid = (uint16_t)me;
        c->rclk = now;
        c->rsite = site;
    } else {
        uint32_t li = rl_new(rc);
        rl_add(rc, li, c->rtid, c->rclk, c->rsite);
        rl_add(rc, li, me, now, site);
        c->rtid = SHARED_TID;
        c->rclk = li;
    }
}

#define FREE_CHECKED 1024      /* bytes of a freed block checked as written */

/* freed: the access is a free of the block, checked as this write. */
static void on_access(struct rc *rc, struct thr *t, const struct tg_log_event *e,
                      bool freed)
{
    if (t->ignore > 0)
        return;
    bool write = e->type == TG_EV_WRITE;
    bool atomic = e->flags & TG_EVF_ATOMIC;
    uint64_t len, pc;
    if (e->flags & TG_EVF_RANGE) {
        len = e->arg;
        pc = 0;
    } else {
        len = e->size;
        pc = e->arg;
    }
    if (len == 0)
        return;
    if (len > RANGE_MAX)
        len = RANGE_MAX;
    rc->st.accesses++;
    uint32_t site = site_of(rc, t, e, pc, (uint32_t)len, write, atomic);
    /* The free's stack starts at its own call, so no other access shares
     * its site. */
    if (freed)
        rc->sites[site].freed = true;
    uint32_t last = UINT32_MAX;
    uint64_t a = e->addr, end = e->addr + len;
    if (end < a)
        end = UINT64_MAX;
    while (a < end) {
        uint64_t key = a >> 3;
        struct word *w;
        rc->st.word_checks++;
        if (t->w_valid && t->w_key == key) {
            w = &rc->wv[t->w_idx];
        } else {
            w = word_get(rc, key);
            t->w_key = key;
            t->w_idx = (uint32_t)(w - rc->wv);
            t->w_valid = true;
        }
        unsigned b = (unsigned)(a & 7);
        uint64_t stop = (a | 7) + 1;
        if (stop > end || stop == 0)
            stop = end;
        /* Bytes whose history equals the first byte's get the same
         * verdict and the same new state (the usual aligned access). */
        struct cell before = w->c[b];
        check_byte(rc, t, &w->c[b], site, write, atomic, a, e->addr, &last);
        const struct cell *after = &w->c[b];
        for (a++, b++; a < stop; a++, b++) {
            if (before.rtid != SHARED_TID &&
                memcmp(&w->c[b], &before, sizeof before) == 0)
                w->c[b] = *after;
            else
                check_byte(rc, t, &w->c[b], site, write, atomic, a, e->addr, &last);
        }
    }
}

/* Freed memory starts afresh: its bytes' history is dropped. */
static void forget(struct rc *rc, uint64_t addr, uint64_t len)
{
    if (len > RANGE_MAX)
        len = RANGE_MAX;
    for (uint64_t a = addr; a < addr + len;) {
        uint32_t *slot = ht_find(&rc->words, a >> 3);
        unsigned b = (unsigned)(a & 7);
        uint64_t stop = (a | 7) + 1;
        if (stop > addr + len)
            stop = addr + len;
        if (!slot) {
            a = stop;
            continue;
        }
        struct word *w = &rc->wv[*slot];
        for (; a < stop; a++, b++) {
            if (w->c[b].rtid == SHARED_TID)
                rl_free(rc, w->c[b].rclk);
            memset(&w->c[b], 0, sizeof w->c[b]);
        }
    }
}

/* ---- replay ----------------------------------------------------------------------- */

static int held_find(const struct thr *t, uint64_t addr)
{
    for (int i = (int)t->nheld - 1; i >= 0; i--)
        if (t->held[i] == addr)
            return i;
    return -1;
}

static void held_changed(struct thr *t)
{
    t->held_ver++;
    uint64_t h = 0x6c6f636b73ull;
    for (uint32_t i = 0; i < t->nheld; i++)
        h = hmix(h ^ t->held[i]);
    t->held_hash = h;
}

/* Processes t's next event e. Returns false (and consumes nothing) when e
 * is an acquire whose release has not been replayed yet, unless force. */
static bool step(struct rc *rc, struct thr *t, const struct tg_log_event *e,
                 bool force)
{
    switch (e->type) {
    case TG_EV_READ:
    case TG_EV_WRITE:
        on_access(rc, t, e, false);
        break;
    case TG_EV_THREAD_START: {
        const struct tg_log_thread *r = tlog_thread(rc->log, t->id);
        /* tangle's own threads are started without a create event. */
        bool needs = r && r->parent &&
                     !(r->flags & (TG_THRF_NO_CREATE | TG_THRF_INTERNAL));
        struct sync *s = sync_get(rc, K_CREATE, t->id, 0, false);
        if (needs && (!s || !s->released) && !force)
            return false;
        acquire_from(rc, t, s);
        t->started = true;
        break;
    }
    case TG_EV_THREAD_CREATE:
        if (e->addr > 0 && e->addr < rc->n)
            release_into(rc, t, sync_get(rc, K_CREATE, e->addr, 0, true));
        break;
    case TG_EV_THREAD_EXIT:
        release_into(rc, t, sync_get(rc, K_EXIT, t->id, 0, true));
        break;
    case TG_EV_THREAD_JOIN: {
        struct sync *s = sync_get(rc, K_EXIT, e->addr, 0, false);
        bool known = e->addr > 0 && e->addr < rc->n && rc->t[e->addr].present;
        if (known && (!s || !s->released) && !rc->t[e->addr].done && !force)
            return false;
        acquire_from(rc, t, s);
        break;
    }
    case TG_EV_LOCK: {
        struct sync *n = sync_get(rc, K_LOCK_N, e->addr, 0, false);
        if (e->arg && (!n || n->released < e->arg) && !force)
            return false;
        acquire_from(rc, t, sync_get(rc, K_LOCK_W, e->addr, 0, false));
        if (e->size == 0)
            acquire_from(rc, t, sync_get(rc, K_LOCK_R, e->addr, 0, false));
        if (t->nheld < MAX_HELD) {
            t->held[t->nheld++] = e->addr;
            held_changed(t);
        }
        break;
    }
    case TG_EV_UNLOCK: {
        sync_get(rc, K_LOCK_N, e->addr, 0, true)->released++;
        release_into(rc, t, sync_get(rc, e->size ? K_LOCK_R : K_LOCK_W,
                                     e->addr, 0, true));
        int i = held_find(t, e->addr);
        if (i >= 0) {
            memmove(&t->held[i], &t->held[i + 1],
                    (t->nheld - (uint32_t)i - 1) * sizeof t->held[0]);
            t->nheld--;
            held_changed(t);
        }
        break;
    }
    case TG_EV_RELEASE:
    case TG_EV_ACQUIRE:
    case TG_EV_RELEASE_ACQUIRE: {
        enum sclass c = classify(rc, e);
        bool rel = e->type != TG_EV_ACQUIRE, acq = e->type != TG_EV_RELEASE;
        if (c == S_SEND && rel) {
            uint64_t cap = chan_cap(rc, e->addr);
            if (cap && e->arg >= cap) {
                /* Receive s - C happens before send s completes. */
                struct sync *r = sync_get(rc, K_RECVD, e->addr, e->arg - cap, false);
                if ((!r || !r->released) && !force)
                    return false;
                acquire_from(rc, t, r);
                if (r)
                    sync_done(rc, K_RECVD, e->addr, e->arg - cap);
            }
            if (t->phase == 0)
                release_into(rc, t, sync_get(rc, K_SENT, e->addr, e->arg, true));
            if (cap == 0) {
                /* Unbuffered: the receive also happens before the send
                 * completes. Published first, so the receiver can go. */
                t->phase = 1;
                struct sync *r = sync_get(rc, K_RECVD, e->addr, e->arg, false);
                if ((!r || !r->released) && !force)
                    return false;
                acquire_from(rc, t, r);
                if (r)
                    sync_done(rc, K_RECVD, e->addr, e->arg);
                t->phase = 0;
            }
            break;
        }
        if (c == S_RECV && acq) {
            struct sync *s = sync_get(rc, K_SENT, e->addr, e->arg, false);
            if ((!s || !s->released) && !force)
                return false;
            acquire_from(rc, t, s);
            if (s)
                sync_done(rc, K_SENT, e->addr, e->arg);
            release_into(rc, t, sync_get(rc, K_RECVD, e->addr, e->arg, true));
            break;
        }
        if (c == S_COUNTED) {
            struct sync *s = sync_get(rc, K_COUNTED, e->addr, 0, acq ? false : true);
            if (acq) {
                if (e->arg && (!s || s->released < e->arg) && !force)
                    return false;
                acquire_from(rc, t, s);
            }
            if (rel)
                release_into(rc, t, s ? s : sync_get(rc, K_COUNTED, e->addr, 0, true));
            break;
        }
        /* Grouped: barrier rounds, wg generations, close, once, cancel,
         * annotations. */
        struct sync *s = sync_get(rc, K_GROUP, e->addr, group_arg(e), true);
        if (acq) {
            uint64_t need = c == S_ANNOTATION ? (s->expected ? 1 : 0) : s->expected;
            if (s->released < need && !force)
                return false;
            acquire_from(rc, t, s);
        }
        if (rel)
            release_into(rc, t, s);
        break;
    }
    case TG_EV_IGNORE_BEGIN:
        t->ignore++;
        break;
    case TG_EV_IGNORE_END:
        if (t->ignore > 0)
            t->ignore--;
        break;
    case TG_EV_ALLOC: {
        bool fresh;
        uint32_t *slot = ht_get(&rc->blocks_h, e->addr, (uint32_t)rc->nblocks, &fresh);
        if (fresh) {
            xgrow(&rc->blocks, &rc->capblocks, rc->nblocks + 1, sizeof *rc->blocks);
            rc->nblocks++;
        }
        rc->blocks[*slot] = (struct block){ e->addr, e->arg, e->stack, t->id };
        break;
    }
    case TG_EV_FREE:
        /* A free is a write of the block's first bytes (logs before the
         * free carried its stack have none: nothing to check). */
        if (e->stack) {
            struct tg_log_event w = *e;
            w.type = TG_EV_WRITE;
            w.flags = TG_EVF_RANGE;
            w.arg = e->arg < FREE_CHECKED ? e->arg : FREE_CHECKED;
            on_access(rc, t, &w, true);
        }
        forget(rc, e->addr, e->arg);
        if (ht_find(&rc->blocks_h, e->addr)) {
            rc->blocks[*ht_find(&rc->blocks_h, e->addr)].size = 0;
            ht_del(&rc->blocks_h, e->addr);
        }
        break;
    case TG_EV_THREAD_STACK:
        xgrow(&rc->stacks, &rc->capstacks, rc->nstacks + 1, sizeof *rc->stacks);
        rc->stacks[rc->nstacks++] = (struct block){ e->addr, e->arg, 0, t->id };
        break;
    case TG_EV_BENIGN:
        xgrow(&rc->benign, &rc->capbenign, rc->nbenign + 1, sizeof *rc->benign);
        rc->benign[rc->nbenign++] = (struct benign){ e->addr, e->arg };
        break;
    default:
        break;
    }
    return true;
}

/* Runs t until it waits or ends. Returns the events it processed. */
static uint64_t run_thread(struct rc *rc, struct thr *t, bool force)
{
    uint64_t n = 0;
    const struct tg_log_event *e;
    while ((e = peek(rc, t))) {
        if (!step(rc, t, e, force && n == 0))
            return n;
        t->ei++;
        n++;
    }
    if (!t->done) {
        t->done = true;
        /* A thread whose exit was not logged (still running, or the log
         * cut short) releases at the end of its stream. */
        struct sync *s = sync_get(rc, K_EXIT, t->id, 0, true);
        if (!s->released)
            release_into(rc, t, s);
    }
    return n;
}

static void replay(struct rc *rc)
{
    for (;;) {
        uint64_t progress = 0;
        bool left = false;
        for (uint32_t id = 1; id < rc->n; id++) {
            struct thr *t = &rc->t[id];
            if (!t->present || t->done)
                continue;
            progress += run_thread(rc, t, false);
            if (!t->done)
                left = true;
        }
        rc->st.events += progress;
        if (!left)
            return;
        if (progress)
            continue;
        /* Everyone waits: let the lowest waiting thread go on. */
        for (uint32_t id = 1; id < rc->n; id++) {
            struct thr *t = &rc->t[id];
            if (t->present && !t->done) {
                rc->st.forced++;
                rc->st.events += run_thread(rc, t, true);
                break;
            }
        }
    }
}

long race_check(struct tlog *log, void (*found)(void *arg, const struct race_pair *p),
                void *arg, struct race_stats *stats)
{
    struct rc rc = { .log = log, .found = found, .arg = arg };
    if (log->nthreads >= SHARED_TID - 1)
        return -E2BIG;
    rc.n = (uint32_t)log->nthreads + 1;
    rc.t = xcalloc(rc.n, sizeof *rc.t);
    for (uint32_t i = 1; i < rc.n; i++) {
        rc.t[i].id = i;
        rc.t[i].vc = vc_new(&rc);
        rc.t[i].vc[i] = 1;
    }
    collect_chunks(&rc);
    count_groups(&rc);
    replay(&rc);

    rc.st.words = rc.nwv;
    if (stats)
        *stats = rc.st;
    long n = rc.npairs;
    for (uint32_t i = 1; i < rc.n; i++)
        free(rc.t[i].vc);
    free(rc.t);
    free(rc.refs);
    for (size_t i = 0; i < rc.nsv; i++)
        free(rc.sv[i].vc);
    free(rc.sv);
    free(rc.sync_keys);
    free(rc.sv_free);
    ht_free(&rc.syncs);
    free(rc.wv);
    ht_free(&rc.words);
    for (size_t i = 0; i < rc.nrl; i++)
        free(rc.rl[i].r);
    free(rc.rl);
    free(rc.sites);
    ht_free(&rc.sites_h);
    free(rc.lockpool);
    ht_free(&rc.pairs);
    free(rc.benign);
    free(rc.blocks);
    free(rc.stacks);
    ht_free(&rc.blocks_h);
    return n;
}

/* ---- findings ------------------------------------------------------------------- */

/* The access's stack: its own pc (symbolized as a call site: the pc is
 * the return address of the __tsan_* call), then its shadow stack. */
static struct an_stack access_stack(struct an_ctx *ctx, uint64_t pc, uint32_t stack)
{
    struct an_stack callers = sym_stack(ctx->sym, stack);
    if (!pc)
        return callers;
    struct an_stack st = {0};
    st.frames = xcalloc(callers.n + 1, sizeof *st.frames);
    st.frames[0] = sym_addr(ctx->sym, pc - 1);
    if (st.frames[0].pc)
        st.frames[0].pc = pc;
    memcpy(st.frames + 1, callers.frames, callers.n * sizeof *st.frames);
    st.n = callers.n + 1;
    free(callers.frames);
    return st;
}

/* What the memory is: a heap block (and where it was allocated), a
 * global (by its symbol), or else heap or stack memory. */
static char *describe(struct an_ctx *ctx, const struct race_pair *p)
{
    uint64_t addr = p->addr[1];
    if (p->block_size) {
        struct an_stack st = sym_stack(ctx->sym, p->block_stack);
        const struct an_frame *f = NULL;
        for (size_t i = 0; i < st.n && !f; i++)
            if (st.frames[i].function)
                f = &st.frames[i];
        char *s;
        if (f && f->file)
            s = xasprintf("heap block of %" PRIu64 " bytes at 0x%" PRIx64
                          " (offset %" PRIu64 "), allocated by thread %u in "
                          "%s at %s:%d", p->block_size, p->block_addr,
                          addr - p->block_addr, p->block_thread, f->function,
                          f->file, f->line);
        else
            s = xasprintf("heap block of %" PRIu64 " bytes at 0x%" PRIx64
                          " (offset %" PRIu64 "), allocated by thread %u",
                          p->block_size, p->block_addr, addr - p->block_addr,
                          p->block_thread);
        an_stack_free(&st);
        return s;
    }
    for (size_t i = 0; i < ctx->log->nmodules; i++) {
        const struct tg_log_module *m = &ctx->log->modules[i];
        if (addr < m->start || addr > m->end)
            continue;
        struct an_frame f = sym_addr(ctx->sym, addr);
        char *s;
        if (f.function)
            s = xasprintf("global '%s'", f.function);
        else
            s = xasprintf("global memory in %s+0x%" PRIx64,
                          f.module ? f.module : m->path, addr - m->bias);
        an_frame_free(&f);
        return s;
    }
    if (p->stack_thread)
        return xasprintf("stack of thread %u", p->stack_thread);
    return xstrdup("heap or stack memory");
}

struct report_state {
    struct an_ctx *ctx;
    char **seen;             /* "fileA:lineA|fileB:lineB" reported pairs */
    size_t nseen, capseen;
};

/* Where an access is in the source: its innermost frame's file:line, or
 * module+offset, or its bare pc outside any module. An access with no
 * stack at all (the stack table was full) is keyed by its address, so
 * that unplaced races at different addresses are not taken for one. */
static char *frame_key(const struct an_stack *st, uint64_t addr)
{
    if (!st->n)
        return xasprintf("?@0x%" PRIx64, addr);
    const struct an_frame *f = &st->frames[0];
    if (f->file)
        return xasprintf("%s:%d", f->file, f->line);
    if (f->module)
        return xasprintf("%s+0x%" PRIx64, f->module, f->offset);
    return xasprintf("?+0x%" PRIx64, f->pc);
}

/* The pair of code locations a race is between, in either order: a
 * read-write and a write-write race between the same two lines, or the
 * same race seen from either side, are one bug. */
static char *pair_key(const struct an_stack *a, uint64_t aa,
                      const struct an_stack *b, uint64_t ab)
{
    char *ka = frame_key(a, aa), *kb = frame_key(b, ab);
    char *key = strcmp(ka, kb) < 0 ? xasprintf("%s|%s", ka, kb)
                                   : xasprintf("%s|%s", kb, ka);
    free(ka);
    free(kb);
    return key;
}

static char *finding_key(const struct an_finding *f)
{
    return pair_key(&f->accesses[0].stack, f->accesses[0].addr,
                    &f->accesses[1].stack, f->accesses[1].addr);
}

static void add_finding(void *arg, const struct race_pair *p)
{
    struct report_state *rs = arg;
    struct an_ctx *ctx = rs->ctx;
    struct an_stack st[2];
    for (int i = 0; i < 2; i++)
        st[i] = access_stack(ctx, p->pc[i], p->stack[i]);
    /* One finding per pair of source locations, whichever checker found
     * it and however often. */
    char *key = pair_key(&st[0], p->addr[0], &st[1], p->addr[1]);
    for (size_t i = 0; i < rs->nseen; i++)
        if (strcmp(rs->seen[i], key) == 0) {
            free(key);
            an_stack_free(&st[0]);
            an_stack_free(&st[1]);
            return;
        }
    xgrow(&rs->seen, &rs->capseen, rs->nseen + 1, sizeof(char *));
    rs->seen[rs->nseen++] = key;

    struct an_finding *f = finding_new(ctx, AN_RACE);
    f->location = describe(ctx, p);
    f->message = xasprintf("data race on %s: %s of size %u by thread %u, "
                           "%s of size %u by thread %u", f->location,
                           race_op(p->write[0], p->freed[0]), p->size[0],
                           p->thread[0], race_op(p->write[1], p->freed[1]),
                           p->size[1], p->thread[1]);
    f->naccesses = 2;
    f->accesses = xcalloc(2, sizeof *f->accesses);
    f->nthreads = p->thread[0] == p->thread[1] ? 1 : 2;
    f->threads = xcalloc(2, sizeof *f->threads);
    for (int i = 0; i < 2; i++) {
        struct an_access *a = &f->accesses[i];
        a->thread = p->thread[i];
        a->write = p->write[i];
        a->freed = p->freed[i];
        a->size = p->size[i];
        a->addr = p->addr[i];
        a->stack = st[i];
        a->nlocks = p->nlocks[i];
        if (a->nlocks) {
            a->locks = xcalloc(a->nlocks, sizeof *a->locks);
            memcpy(a->locks, p->locks[i], a->nlocks * sizeof *a->locks);
        }
        if (i < (int)f->nthreads)
            an_thread_fill(ctx, p->thread[i], &f->threads[i]);
    }
    f->sort_key = p->addr[1];
    finding_add(ctx, f);
}

/* The race_pair a TG_FIND_RACE record describes (logread.c has checked
 * it against log.h). The record carries the access pc as the innermost
 * frame of each stack, so pc stays 0, as for a range access offline.
 * locks[] receives the held-lock addresses p->locks point to. */
static void pair_of_record(const struct tg_log_finding *r, struct race_pair *p,
                           uint64_t locks[2][TG_LOG_MAX_CYCLE])
{
    memset(p, 0, sizeof *p);
    uint32_t acc[2] = { r->subkind & 0xffffu, r->subkind >> 16 };
    p->thread[0] = r->thread;
    p->thread[1] = r->thread2;
    p->addr[0] = r->value;
    p->addr[1] = r->obj;
    p->stack[0] = r->stack;
    p->stack[1] = r->stack2;
    for (int i = 0; i < 2; i++) {
        p->write[i] = TG_RACE_ACC_WRITE(acc[i]);
        p->freed[i] = TG_RACE_ACC_FREE(acc[i]);
        p->atomic[i] = TG_RACE_ACC_ATOMIC(acc[i]);
        p->size[i] = TG_RACE_ACC_SIZE(acc[i]);
        p->locks[i] = locks[i];
    }
    uint32_t n = r->nthreads < TG_LOG_MAX_CYCLE ? r->nthreads : TG_LOG_MAX_CYCLE;
    if (n) {
        const struct tg_log_finding_thread *b = &r->threads[0];
        uint64_t size = (uint64_t)b->holder << 32 | b->wait_op;
        if (b->wait_obj && size) {
            p->block_addr = b->wait_obj;
            p->block_size = size;
            p->block_stack = b->wait_stack;
            p->block_thread = b->thread;
        }
    }
    for (uint32_t k = 1; k < n; k++) {
        uint32_t side = r->threads[k].wait_op ? 1 : 0;
        locks[side][p->nlocks[side]++] = r->threads[k].wait_obj;
    }
    p->stack_thread = r->obj_id;
}

/* The offline replay, on a log whose stream carries memory accesses. */
static void replay_races(struct an_ctx *ctx, struct report_state *rs)
{
    struct race_stats st;
    race_check(ctx->log, add_finding, rs, &st);
    /* A replay that had to go on without a release, or a log that lost
     * events, can both miss races and report ones that are not: say so. */
    struct an_process *p = ctx->proc;
    char *msg = NULL;
    if (ctx->log->sec[TG_SEC_EVENTS].dropped)
        msg = xasprintf("tangle: race analysis of '%s': the event log was "
                        "full and dropped events; races may be missed or "
                        "wrong (raise events_mb)", ctx->log->path);
    else if (st.forced)
        msg = xasprintf("tangle: race analysis of '%s': %" PRIu64 " "
                        "synchronization events had no matching release; "
                        "races near them may be wrong", ctx->log->path,
                        st.forced);
    if (msg) {
        p->errors = xrealloc(p->errors, (p->nerrors + 2) * sizeof(char *));
        p->errors[p->nerrors++] = msg;
        p->errors[p->nerrors] = NULL;
    }
}

void analyze_races(struct an_ctx *ctx)
{
    struct report_state rs = { .ctx = ctx };
    /* Races the shim found in the process: whatever the event mode, and
     * in the log's order, so the same log gives the same report. */
    for (size_t i = 0; i < ctx->log->nfindings; i++) {
        const struct tg_log_finding *r = &ctx->log->findings[i];
        if (r->kind != TG_FIND_RACE)
            continue;
        struct race_pair p;
        uint64_t locks[2][TG_LOG_MAX_CYCLE];
        pair_of_record(r, &p, locks);
        add_finding(&rs, &p);
    }
    /* The offline check needs the accesses in the stream. A race-mode log
     * of a shim that checks in the process has none (and in flight mode
     * only a window of the synchronization): replaying it would check
     * nothing and warn about releases the ring forgot. */
    if ((ctx->log->hdr.flags & TG_LOGF_RACE) && ctx->access_events)
        replay_races(ctx, &rs);
    for (size_t i = 0; i < rs.nseen; i++)
        free(rs.seen[i]);
    free(rs.seen);
}

void race_dedup(struct an_finding **v, size_t *n)
{
    char **seen = NULL;
    size_t nseen = 0, cap = 0, k = 0;
    for (size_t i = 0; i < *n; i++) {
        struct an_finding *f = v[i];
        if (f->kind != AN_RACE || f->naccesses != 2) {
            v[k++] = f;
            continue;
        }
        char *key = finding_key(f);
        bool dup = false;
        for (size_t j = 0; j < nseen && !dup; j++)
            dup = strcmp(seen[j], key) == 0;
        if (dup) {
            free(key);
            finding_free(f);
            continue;
        }
        xgrow(&seen, &cap, nseen + 1, sizeof(char *));
        seen[nseen++] = key;
        v[k++] = f;
    }
    *n = k;
    for (size_t j = 0; j < nseen; j++)
        free(seen[j]);
    free(seen);
}
