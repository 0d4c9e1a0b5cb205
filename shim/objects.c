/*
 * shim/objects.c: the lock table (per-address state of every
 * synchronization object the program touches) and the log's object records.
 *
 * The hot path must find a lock's state without locks or allocation, so
 * the table is a fixed, private, open-addressed array keyed by address with
 * linear probing: an entry is claimed with one CAS on its address word and
 * never released, so a reader never sees an entry move. Destroying an
 * object does not free its entry; it clears the entry's object id and bumps
 * its generation, so the next use at that address is logged as a new
 * object (and old lock-order edges, which name object ids, no longer
 * apply). Object records in the log are created lazily on first use
 * (flagged TG_OBJF_IMPLICIT) unless an init call saw the object first.
 */
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "shim.h"

#define LOCK_BITS TG__LOCK_BITS
#define LOCK_CAP (1u << LOCK_BITS)
#define MAX_PROBE 128

struct tg__lock *tg__locks;
#define locks tg__locks

static bool table_ready(void)
{
    if (likely(locks != NULL))
        return true;
    void *m = mmap(NULL, LOCK_CAP * sizeof(struct tg__lock),
                   PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    void *expect = NULL;
    if (!__atomic_compare_exchange_n((void **)&locks, &expect, m, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        munmap(m, LOCK_CAP * sizeof(struct tg__lock));
    return true;
}

static inline uint32_t addr_hash(uintptr_t a)
{
    return tg__lock_hash(a);
}

struct tg__lock *tg__lock_find(const void *addr)
{
    if (unlikely(!table_ready()))
        return NULL;
    uintptr_t a = (uintptr_t)addr;
    uint32_t i = addr_hash(a);
    for (int p = 0; p < MAX_PROBE; p++, i = (i + 1) & (LOCK_CAP - 1)) {
        uintptr_t v = atomic_load_explicit(&locks[i].addr, ACQUIRE);
        if (v == a)
            return &locks[i];
        if (v == 0)
            return NULL;
    }
    return NULL;
}

struct tg__lock *tg__lock_get_slow(const void *addr)
{
    if (unlikely(!table_ready()))
        return NULL;
    uintptr_t a = (uintptr_t)addr;
    uint32_t i = addr_hash(a);
    for (int p = 0; p < MAX_PROBE; p++, i = (i + 1) & (LOCK_CAP - 1)) {
        uintptr_t v = atomic_load_explicit(&locks[i].addr, ACQUIRE);
        if (v == a)
            return &locks[i];
        if (v == 0) {
            if (atomic_compare_exchange_strong_explicit(
                    &locks[i].addr, &v, a, memory_order_acq_rel, ACQUIRE))
                return &locks[i];
            if (v == a)
                return &locks[i];
        }
    }
    if (tg__g.hdr)
        atomic_fetch_add_explicit(&tg__g.hdr->sec[TG_SEC_OBJECTS].dropped, 1,
                                  RELAXED);
    return NULL;
}

void tg__locks_reset(void)
{
    if (locks)
        madvise(locks, LOCK_CAP * sizeof(struct tg__lock), MADV_DONTNEED);
}

struct tg_log_object *tg__obj_rec(uint32_t id)
{
    return tg__rec_get(TG_SEC_OBJECTS, id);
}

static uint32_t write_obj(struct tg__lock *l, const void *addr,
                          const struct tg__obj_init *in, uint32_t generation)
{
    uint32_t id = 0;
    struct tg__thread *t = &tg__self;
    uint32_t stack = in->stack ? in->stack : tg__stack_site();
    struct tg_log_object *o = tg__rec_alloc(TG_SEC_OBJECTS, &id);
    if (!o)
        return 0;
    o->kind = in->kind;
    o->addr = (uintptr_t)addr;
    o->id = id;
    o->generation = generation;
    o->create_stack = stack;
    o->create_thread = t->id;
    o->created_ns = tg__now();
    atomic_store_explicit(&o->flags, in->flags, RELAXED);
    o->a = in->a;
    o->b = in->b;
    o->owner_addr = in->owner_addr;
    o->name = in->name ? tg__string(in->name) : 0;
    atomic_store_explicit(&o->commit, TG_LOG_COMMITTED, RELEASE);
    if (l)
        l->kind = in->kind;
    return id;
}

uint32_t tg__obj_id(struct tg__lock *l, const struct tg__obj_init *in)
{
    uint32_t id = atomic_load_explicit(&l->obj, ACQUIRE);
    if (likely(id != 0 && id != TG__OBJ_BUSY))
        return id;
    for (;;) {
        if (id == 0) {
            if (atomic_compare_exchange_strong_explicit(
                    &l->obj, &id, TG__OBJ_BUSY, memory_order_acq_rel, ACQUIRE)) {
                uint32_t gen = atomic_load_explicit(&l->generation, RELAXED);
                uint32_t nid = write_obj(l, (void *)l->addr, in, gen);
                /* 0 (table full) leaves the entry without a record; the
                 * next use tries again and counts another drop. */
                atomic_store_explicit(&l->obj, nid, RELEASE);
                return nid;
            }
            continue;
        }
        if (id != TG__OBJ_BUSY)
            return id;
        /* Another thread is writing the record: it takes microseconds. */
        sched_yield();
        id = atomic_load_explicit(&l->obj, ACQUIRE);
    }
}

uint32_t tg__obj_create(const void *addr, const struct tg__obj_init *in)
{
    struct tg__lock *l = tg__lock_get(addr);
    if (!l)
        return 0;
    uint32_t old = atomic_load_explicit(&l->obj, ACQUIRE);
    if (old != 0 && old != TG__OBJ_BUSY) {
        /* Re-initialized without destroy: the old object ends here. */
        tg__obj_destroy(addr, 0);
    }
    atomic_store_explicit(&l->owner, 0, RELAXED);
    atomic_store_explicit(&l->readers, 0, RELAXED);
    atomic_store_explicit(&l->waiters, 0, RELAXED);
    atomic_store_explicit(&l->aux, 0, RELAXED);
    atomic_store_explicit(&l->flags, 0, RELAXED);
    return tg__obj_id(l, in);
}

void tg__obj_destroy(const void *addr, uint32_t extra_flags)
{
    struct tg__lock *l = tg__lock_find(addr);
    if (!l)
        return;
    uint32_t id = atomic_exchange_explicit(&l->obj, 0, memory_order_acq_rel);
    if (id == TG__OBJ_BUSY) {
        /* Racing with a first use: leave it to that thread. */
        atomic_store_explicit(&l->obj, id, RELAXED);
        return;
    }
    atomic_fetch_add_explicit(&l->generation, 1, RELAXED);
    atomic_store_explicit(&l->owner, 0, RELAXED);
    atomic_store_explicit(&l->flags, 0, RELAXED);
    struct tg_log_object *o = tg__obj_rec(id);
    if (!o)
        return;
    o->destroy_stack = tg__stack_site();
    o->destroyed_ns = tg__now();
    atomic_fetch_or_explicit(&o->flags, TG_OBJF_DESTROYED | extra_flags, RELEASE);
}

void tg__obj_flag(uint32_t id, uint32_t flags, uint32_t event_stack)
{
    struct tg_log_object *o = tg__obj_rec(id);
    if (!o)
        return;
    if (event_stack) {
        o->event_stack = event_stack;
        o->event_ns = tg__now();
    }
    /* Release: the event fields are visible to whoever sees the flag. */
    atomic_fetch_or_explicit(&o->flags, flags, RELEASE);
}
