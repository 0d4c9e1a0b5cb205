/*
 * shim/lockorder.c: the held-lock set of each thread and the lock-order
 * graph (lockdep's idea: record A -> B the first time any thread acquires
 * B while holding A, so an inversion is reported even when the run did not
 * deadlock).
 *
 * Cost is what shapes this file. Acquisitions that nest nothing (the
 * common case) only push on the thread's held set. A nested acquisition
 * looks each (held, new) pair up in a per-thread direct-mapped cache, then
 * in a private lock-free index; only a pair never seen before pays for a
 * stack capture and a log record. An edge keeps the stacks of its first
 * witness and a set of gate locks (other locks held at every observation),
 * which later observations can only shrink: a cycle whose edges share a
 * gate is serialized by it and cannot deadlock. Edge records name object
 * ids, not addresses, so a destroyed and re-initialized lock starts with no
 * edges. The index never forgets: when the log's edge table is full the
 * pair is remembered as dropped and counted once.
 */
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "shim.h"

#define EDGE_BITS 20
#define EDGE_CAP (1u << EDGE_BITS)
#define EDGE_DROPPED UINT32_MAX

struct edge_slot {
    _Atomic uint64_t key;      /* 0: empty */
    _Atomic uint32_t edge;     /* log edge id; 0 while being written */
    _Atomic uint32_t lock;     /* serializes gate shrinking */
};

static struct edge_slot *edges;

static bool edges_ready(void)
{
    if (likely(edges != NULL))
        return true;
    void *m = mmap(NULL, EDGE_CAP * sizeof(struct edge_slot),
                   PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    void *expect = NULL;
    if (!__atomic_compare_exchange_n((void **)&edges, &expect, m, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        munmap(m, EDGE_CAP * sizeof(struct edge_slot));
    return true;
}

void tg__edges_reset(void)
{
    if (edges)
        madvise(edges, EDGE_CAP * sizeof(struct edge_slot), MADV_DONTNEED);
}

static void chains_renew(struct tg__thread *t, uint32_t from);

/* ---- held set ---------------------------------------------------------- */

/* The record's copy of the held set is brought up to date only when
 * someone may look at it: when the thread blocks, and when it ends.
 * Mirroring every acquisition into shared memory would double the cost of
 * an uncontended lock. `mirrored` counts the leading entries known to be
 * in sync. */
void tg__held_sync(struct tg__thread *t)
{
    struct tg_log_thread *r = t->rec;
    if (!r)
        return;
    uint32_t from = t->mirrored;
    if (from == t->nheld && r->held_count == t->nheld + t->held_lost)
        return;
    tg__seq_begin(r);
    for (uint32_t k = from; k < t->nheld && k < TG_LOG_MAX_HELD; k++) {
        r->held[k].addr = t->held[k].addr;
        r->held[k].obj = t->held[k].obj;
        r->held[k].stack = t->held[k].stack;
        r->held[k].mode = t->held[k].mode;
    }
    r->held_count = t->nheld + t->held_lost;
    tg__seq_end(r);
    t->mirrored = t->nheld;
}

bool tg__held_remove(struct tg__thread *t, int i)
{
    if (t->held[i].count > 1) {
        t->held[i].count--;
        return false;
    }
    t->nheld--;
    if ((uint32_t)i != t->nheld)
        memmove(&t->held[i], &t->held[i + 1],
                (t->nheld - (uint32_t)i) * sizeof t->held[0]);
    if (t->mirrored > (uint32_t)i)
        t->mirrored = (uint32_t)i;
    if ((uint32_t)i != t->nheld)
        chains_renew(t, (uint32_t)i);
    return true;
}

/* ---- edges --------------------------------------------------------------- */

static inline uint64_t edge_key(uint32_t from, uint32_t fmode, uint32_t to,
                                uint32_t tmode)
{
    return ((uint64_t)(from | fmode << 31) << 32) | (to | tmode << 31);
}

static inline uint32_t key_hash(uint64_t k)
{
    return (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> (64 - EDGE_BITS));
}

static bool holds_obj(struct tg__thread *t, uint32_t obj)
{
    for (uint32_t i = 0; i < t->nheld; i++)
        if (t->held[i].obj == obj)
            return true;
    return false;
}

/* Removes from the edge's gates every lock the thread does not hold now.
 * Writers are serialized by the slot's lock; readers see either the old or
 * the new set, because a gate is removed by first copying the last gate
 * over it and only then shrinking the count. */
static void shrink_gates(struct tg__thread *t, struct edge_slot *s,
                         struct tg_log_edge *e)
{
    uint32_t zero = 0;
    while (!atomic_compare_exchange_weak_explicit(&s->lock, &zero, 1,
                                                  ACQUIRE, RELAXED)) {
        zero = 0;
        sched_yield();
    }
    uint32_t n = atomic_load_explicit(&e->ngates, RELAXED);
    for (uint32_t i = 0; i < n;) {
        if (holds_obj(t, e->gates[i])) {
            i++;
            continue;
        }
        e->gates[i] = e->gates[n - 1];
        n--;
        atomic_store_explicit(&e->ngates, n, RELEASE);
    }
    atomic_store_explicit(&s->lock, 0, RELEASE);
}

/* The stack of an earlier acquisition: its site, followed by the frames of
 * the current stack that lie outside the frame that made it (the caller
 * that took `from` is usually still active; when it is not, only the site
 * is known). */
static uint32_t from_stack_of(const struct tg__held *h, const uintptr_t *pcs,
                              const uintptr_t *sps, int n)
{
    if (h->stack)
        return h->stack;
    uintptr_t buf[TG_LOG_MAX_FRAMES];
    int k = 0;
    buf[k++] = h->pc;
    int j = 0;
    while (j < n && sps[j] < h->cfa)
        j++;
    for (int i = j + 1; i < n && k < (int)tg__g.opt.stack_depth; i++)
        buf[k++] = pcs[i];
    return tg__stack_intern(buf, k);
}

static void new_edge(struct tg__thread *t, struct edge_slot *s,
                     const struct tg__held *from, uint32_t to, uint32_t tmode,
                     uint32_t to_stack)
{
    uintptr_t pcs[TG_LOG_MAX_FRAMES], sps[TG_LOG_MAX_FRAMES];
    int n = 0;
    uint32_t tstack = tg__stack_here_sp(pcs, sps, &n, (int)tg__g.opt.stack_depth);
    if (to_stack)
        tstack = to_stack;
    uint32_t fstack = from_stack_of(from, pcs, sps, n);
    uint32_t id = 0;
    struct tg_log_edge *e = tg__rec_alloc(TG_SEC_EDGES, &id);
    if (!e) {
        atomic_store_explicit(&s->edge, EDGE_DROPPED, RELEASE);
        return;
    }
    e->thread = t->id;
    e->from = from->obj;
    e->to = to;
    e->from_mode = from->mode;
    e->to_mode = tmode;
    e->from_stack = fstack;
    e->to_stack = tstack;
    e->first_ns = tg__now();
    atomic_store_explicit(&e->count, 1, RELAXED);
    uint32_t ng = 0;
    for (uint32_t i = 0; i < t->nheld && ng < TG_LOG_MAX_GATES; i++) {
        uint32_t g = t->held[i].obj;
        if (g && g != from->obj && g != to)
            e->gates[ng++] = g;
    }
    atomic_store_explicit(&e->ngates, ng, RELAXED);
    atomic_store_explicit(&e->commit, TG_LOG_COMMITTED, RELEASE);
    atomic_store_explicit(&s->edge, id, RELEASE);
}

static struct edge_slot *edge_slot(uint64_t key, bool *created)
{
    uint32_t i = key_hash(key);
    *created = false;
    for (uint32_t p = 0; p < 1024; p++, i = (i + 1) & (EDGE_CAP - 1)) {
        uint64_t k = atomic_load_explicit(&edges[i].key, ACQUIRE);
        if (k == key)
            return &edges[i];
        if (k == 0) {
            if (atomic_compare_exchange_strong_explicit(
                    &edges[i].key, &k, key, memory_order_acq_rel, ACQUIRE)) {
                *created = true;
                return &edges[i];
            }
            if (k == key)
                return &edges[i];
        }
    }
    return NULL;
}

/* Notes one observation of from -> to (lockdep's check): the first makes
 * the record, with both stacks; later ones count and shrink the gates.
 * Returns false when the edge could not be indexed (index full, counted
 * as dropped, or no index); else *rec is its record, NULL when the log
 * had no room for it. */
static bool note_edge(struct tg__thread *t, const struct tg__held *from,
                      uint32_t to, uint32_t tmode, uint32_t to_stack,
                      struct tg_log_edge **rec)
{
    uint64_t key = edge_key(from->obj, from->mode, to, tmode);
    unsigned c = (unsigned)(key ^ (key >> 29)) & (TG__ECACHE - 1);
    struct edge_slot *s;
    struct tg_log_edge *e;
    *rec = NULL;
    if (t->ekey[c] == key) {
        s = &edges[t->eidx[c]];
        e = t->erec[c];
    } else {
        if (!edges_ready())
            return false;
        bool created;
        s = edge_slot(key, &created);
        if (!s) {
            atomic_fetch_add_explicit(&tg__g.hdr->sec[TG_SEC_EDGES].dropped, 1,
                                      RELAXED);
            return false;
        }
        t->ekey[c] = key;
        t->eidx[c] = (uint32_t)(s - edges);
        t->erec[c] = NULL;
        if (created) {
            new_edge(t, s, from, to, tmode, to_stack);
            uint32_t id = atomic_load_explicit(&s->edge, RELAXED);
            if (id != EDGE_DROPPED)
                *rec = t->erec[c] = tg__rec_get(TG_SEC_EDGES, id);
            return true;
        }
        e = NULL;
    }
    if (unlikely(e == NULL)) {
        uint32_t id = atomic_load_explicit(&s->edge, ACQUIRE);
        while (id == 0) {
            sched_yield();   /* the first witness is writing the record */
            id = atomic_load_explicit(&s->edge, ACQUIRE);
        }
        if (id == EDGE_DROPPED)
            return true;
        e = tg__rec_get(TG_SEC_EDGES, id);
        if (!e)
            return true;
        t->erec[c] = e;
    }
    *rec = e;
    /* Racy increment by design: count is an observation count for
     * humans, and an atomic add here would cost every nested lock. */
    uint32_t cnt = atomic_load_explicit(&e->count, RELAXED);
    if (cnt != UINT32_MAX)
        atomic_store_explicit(&e->count, cnt + 1, RELAXED);
    uint32_t ng = atomic_load_explicit(&e->ngates, ACQUIRE);
    for (uint32_t i = 0; i < ng; i++)
        if (!holds_obj(t, e->gates[i])) {
            shrink_gates(t, s, e);
            break;
        }
    return true;
}

void tg__acquiring(struct tg__thread *t, uint32_t obj, const void *addr,
                   uint32_t mode, uint32_t stack)
{
    if (!obj || !t->nheld || tg__held_find(t, addr) >= 0)
        return;
    t->guard++;
    struct tg_log_edge *e;
    for (uint32_t k = 0; k < t->nheld; k++)
        if (t->held[k].obj && t->held[k].obj != obj)
            note_edge(t, &t->held[k], obj, mode, stack, &e);
    t->guard--;
}

/* ---- lock chains ----------------------------------------------------------- */

void tg__chain_flush(struct tg__chain *c)
{
    uint32_t add = c->pending;
    c->pending = 0;
    if (!add || c->nedge == TG__CHAIN_NOEDGES)
        return;
    for (uint32_t k = 0; k < c->nedge && k < TG__CHAIN_EDGES; k++) {
        _Atomic uint32_t *cnt = &c->edge[k]->count;
        uint32_t v = atomic_load_explicit(cnt, RELAXED);
        while (v != UINT32_MAX &&
               !atomic_compare_exchange_weak_explicit(
                   cnt, &v, v > UINT32_MAX - add ? UINT32_MAX : v + add,
                   RELAXED, RELAXED))
            ;
    }
}

void tg__chains_flush(struct tg__thread *t)
{
    for (uint32_t i = 0; i < TG__CCACHE; i++)
        tg__chain_flush(&t->chain[i]);
}

/* Takes entry c for the chain (parent, to) with no edges: it names the
 * sequence. Returns its new id. */
static uint64_t chain_claim(struct tg__thread *t, struct tg__chain *c,
                            uint64_t parent, uint32_t to)
{
    tg__chain_flush(c);
    c->parent = parent;
    c->to = to;
    c->nedge = TG__CHAIN_NOEDGES;
    c->id = (UINT64_C(1) << 32) + ++t->chain_next;
    return c->id;
}

/* The id of the chain (parent, to) for an acquisition that notes no edges,
 * the entry claimed if new; 0 when parent is unknown. */
static uint64_t chain_id(struct tg__thread *t, uint64_t parent, uint32_t to)
{
    if (!parent)
        return 0;
    struct tg__chain *c = tg__chain_slot(t, parent, to);
    if (c->parent == parent && c->to == to)
        return c->id;
    return chain_claim(t, c, parent, to);
}

/* Notes the edges from each held lock into obj, and returns the id of the
 * chain the acquisition makes, with its edges kept in the chain's entry
 * when the thread holds few enough locks (0: not kept). */
static __attribute__((noinline)) uint64_t
note_edges(struct tg__thread *t, uint32_t obj, uint32_t mode, uint32_t stack,
           uint64_t parent, struct tg__chain *c)
{
    uint32_t n = t->nheld;
    struct tg_log_edge *got[TG__CHAIN_EDGES];
    uint32_t ng = 0;
    bool keep = c != NULL;
    t->guard++;
    for (uint32_t k = 0; k < n; k++) {
        if (!t->held[k].obj || t->held[k].obj == obj)
            continue;
        struct tg_log_edge *e;
        if (!note_edge(t, &t->held[k], obj, mode, stack, &e))
            keep = false;
        else if (e && keep)
            got[ng++] = e;
    }
    t->guard--;
    if (!keep)
        return 0;
    uint32_t to = tg__chain_lock(obj, mode);
    if (c->parent != parent || c->to != to)
        chain_claim(t, c, parent, to);
    memcpy(c->edge, got, ng * sizeof got[0]);
    c->nedge = ng;
    return c->id;
}

/* A held entry other than the innermost left the set: the chains of those
 * after it name sequences that no longer hold, so they are named anew. */
static void chains_renew(struct tg__thread *t, uint32_t from)
{
    for (uint32_t k = from; k < t->nheld; k++) {
        uint32_t to = tg__chain_lock(t->held[k].obj, t->held[k].mode);
        if (!t->held[k].obj || k > TG__CHAIN_EDGES)
            t->held[k].chain = 0;
        else if (k == 0)
            t->held[k].chain = to;
        else
            t->held[k].chain = chain_id(t, t->held[k - 1].chain, to);
    }
}

void tg__acquired_slow(struct tg__thread *t, struct tg__lock *l, uint32_t obj,
                       const void *addr, uint32_t mode, bool tried,
                       uintptr_t pc, uintptr_t cfa, uint32_t stack)
{
    uint32_t n = t->nheld;
    for (uint32_t i = n; i-- > 0;)
        if (t->held[i].addr == (uintptr_t)addr) {
            /* Recursive re-acquisition: no self-edge, no new entry. */
            t->held[i].count++;
            return;
        }
    /* n - 1 wraps for an empty set, which the inline caller handles. */
    uint64_t parent = n - 1 < TG__CHAIN_EDGES && obj ? t->held[n - 1].chain : 0;
    uint64_t id = 0;
    if (likely(parent != 0)) {
        uint32_t to = tg__chain_lock(obj, mode);
        struct tg__chain *c = tg__chain_slot(t, parent, to);
        if (likely(c->parent == parent && c->to == to)) {
            if (tried) {
                id = c->id;
            } else if (c->nedge != TG__CHAIN_NOEDGES) {
                /* Seen before (tg__acquired takes this way itself). */
                tg__chain_count(c);
                id = c->id;
            } else {
                id = note_edges(t, obj, mode, stack, parent, c);
            }
        } else if (tried) {
            id = chain_claim(t, c, parent, to);
        } else {
            id = note_edges(t, obj, mode, stack, parent, c);
        }
    } else if (!tried && obj) {
        note_edges(t, obj, mode, stack, 0, NULL);
    }
    if (unlikely(n >= TG__MAX_HELD)) {
        t->held_lost++;
        return;
    }
    tg__held_push(t, n, l, obj, addr, mode, pc, cfa, stack, id);
}
