/*
 * shim/thread.c: the thread table, and the thread lifecycle calls
 * (pthread_create, exit, cancel, join, detach, setname).
 *
 * Every thread the program runs gets one record in the log's thread table:
 * a thread created through pthread_create is registered by the shim's start
 * routine, which wraps the program's and records its parent, start routine
 * and creation stack; any other thread (main, or one created by code the
 * shim does not see) is registered on first contact. A thread writes its
 * own record's mutable part (state, what it waits on, held locks) under
 * the record's sequence word; other threads only set flags atomically. The
 * end of a thread is noticed by a cancellation-safe cleanup handler in the
 * start routine (return, pthread_exit and cancellation all pass through
 * it) or, for threads the shim did not start, by a thread-specific-data
 * destructor.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

__thread struct tg__thread tg__self __attribute__((tls_model("initial-exec")));

REAL_FN(int, thrd_create, (thrd_t *, thrd_start_t, void *));
REAL_FN(int, pthread_create, (pthread_t *, const pthread_attr_t *,
                              void *(*)(void *), void *));
REAL_FN(void, pthread_exit, (void *)) __attribute__((noreturn));
REAL_FN(int, pthread_join, (pthread_t, void **));
REAL_FN(int, pthread_tryjoin_np, (pthread_t, void **));
REAL_FN(int, pthread_clockjoin_np, (pthread_t, void **, clockid_t,
                                    const struct timespec *));
REAL_FN(int, pthread_detach, (pthread_t));
REAL_FN(int, pthread_cancel, (pthread_t));
REAL_FN(int, pthread_setname_np, (pthread_t, const char *));
REAL_FN(int, pthread_key_create, (pthread_key_t *, void (*)(void *)));
REAL_FN(int, pthread_setspecific, (pthread_key_t, const void *));

static pthread_key_t exit_key;
static bool have_key;

static void key_exit(void *arg)
{
    struct tg__thread *t = &tg__self;
    (void)arg;
    if (t->tstate == TG__T_LIVE && !t->wrapped)
        tg__thread_exit(t);
}

void tg__threads_init(void)
{
    if (REAL(pthread_key_create)(&exit_key, key_exit) == 0)
        have_key = true;
}

/* pthread_t -> record id, so a join need not scan the thread table: with
 * the table full (a program that has run more than its capacity of
 * threads) every join would otherwise walk all of it in vain. One word per
 * slot, pthread_t << 16 | id, so a reader never pairs one thread's handle
 * with another's id; id 0 says the thread has no record. Direct-mapped: a
 * collision evicts, and a miss falls back to the scan. */
#define PT_BITS 12
static _Atomic uint64_t pt_ids[1u << PT_BITS];

static _Atomic uint64_t *pt_slot(pthread_t pt)
{
    uint64_t h = ((uint64_t)pt >> 6) * 0x9e3779b97f4a7c15ull;
    return &pt_ids[h >> (64 - PT_BITS)];
}

/* Remembers that pt's latest record is id (0: none). Handles or ids that
 * do not fit the packing are not cached. */
static void pt_remember(pthread_t pt, uint32_t id)
{
    uint64_t v = (uint64_t)pt;
    if (v == 0 || v >> 48 || id > 0xffff)
        return;
    atomic_store_explicit(pt_slot(pt), v << 16 | id, RELAXED);
}

/* Fills a new thread record's creation fields. The creator commits it (so
 * a join right after pthread_create finds it); the thread itself fills in
 * os_tid and name when it starts. */
static struct tg_log_thread *new_record(uint32_t *id, uint32_t parent,
                                        uintptr_t routine, uint32_t cstack,
                                        uint32_t flags)
{
    struct tg_log_thread *r = tg__rec_alloc(TG_SEC_THREADS, id);
    if (!r)
        return NULL;
    r->id = *id;
    r->parent = parent;
    r->start_routine = routine;
    r->create_stack = cstack;
    atomic_store_explicit(&r->flags, flags, RELAXED);
    r->created_ns = tg__now();
    r->state = TG_TS_RUNNING;
    r->wait_deadline_ns = INT64_MAX;
    return r;
}

/* Registers the calling thread, in record `id` when its creator made one,
 * else in a new record. */
static struct tg__thread *register_self(uint32_t id, uint32_t flags)
{
    struct tg__thread *t = &tg__self;
    struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, id);
    int tid = (int)syscall(SYS_gettid);
    if (!r) {
        if (tid == getpid())
            flags |= TG_THRF_MAIN;
        else if (!t->wrapped)
            flags |= TG_THRF_NO_CREATE;
        r = new_record(&id, 0, 0, 0, flags);
        if (!r) {
            t->tstate = TG__T_UNTRACKED;
            return NULL;
        }
    }
    r->pthread = (uint64_t)pthread_self();
    if (!t->wrapped)
        pt_remember(pthread_self(), id);
    r->os_tid = tid;
    pthread_getname_np(pthread_self(), r->name, sizeof r->name);
    atomic_store_explicit(&r->commit, TG_LOG_COMMITTED, RELEASE);
    t->id = id;
    t->rec = r;
    t->tstate = TG__T_LIVE;
    if (!t->wrapped && have_key && !(flags & TG_THRF_MAIN)) {
        t->guard++;
        REAL(pthread_setspecific)(exit_key, t);
        t->guard--;
    }
    tg__ev_append(t, TG_EV_THREAD_START, 0, r->create_stack, id, r->parent);
    return t;
}

struct tg__thread *tg__thread_slow(void)
{
    struct tg__thread *t = &tg__self;
    if (t->tstate != TG__T_NEW)
        return NULL;
    if (!tg__on() && !tg__init())
        return NULL;
    if (t->tstate == TG__T_LIVE)
        return t;   /* tg__init registered the caller */
    if (t->tstate != TG__T_NEW)
        return NULL;
    return register_self(0, 0);
}

void tg__thread_after_fork(void)
{
    struct tg__thread *t = &tg__self;
    uint32_t nheld = t->nheld;
    struct tg__held held[TG__MAX_HELD];
    memcpy(held, t->held, sizeof held);
    bool wrapped = t->wrapped;
    memset(t, 0, sizeof *t);
    memset((void *)pt_ids, 0, sizeof pt_ids);   /* ids of the old log */
    t->wrapped = wrapped;
    if (!register_self(0, TG_THRF_NO_CREATE))
        return;
    /* The child still holds what the forking thread held. */
    for (uint32_t i = 0; i < nheld; i++) {
        struct tg__lock *l = tg__lock_get((void *)held[i].addr);
        uint32_t obj = 0;
        if (l) {
            struct tg__obj_init in = { .kind = TG_LOBJ_MUTEX,
                                       .flags = TG_OBJF_IMPLICIT };
            obj = tg__obj_id(l, &in);
            if (held[i].mode == 0)
                atomic_store_explicit(&l->owner, t->id, RELAXED);
        }
        tg__acquired(t, l, obj, (void *)held[i].addr, held[i].mode, true,
                     held[i].pc, held[i].cfa, 0);
        t->held[t->nheld - 1].count = held[i].count;
    }
}

static uint32_t scan_by_pthread(pthread_t pt);

uint32_t tg__thread_by_pthread(pthread_t pt)
{
    if (!tg__g.hdr)
        return 0;
    uint64_t v = atomic_load_explicit(pt_slot(pt), RELAXED);
    if (v && v >> 16 == (uint64_t)pt) {
        uint32_t id = (uint32_t)(v & 0xffff);
        if (id == 0)
            return 0;   /* created untracked: no record to find */
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, id);
        if (r && atomic_load_explicit(&r->commit, ACQUIRE) == TG_LOG_COMMITTED &&
            r->pthread == (uint64_t)pt &&
            !(atomic_load_explicit(&r->flags, RELAXED) &
              (TG_THRF_JOINED | TG_THRF_DETACHED)))
            return id;
    }
    return scan_by_pthread(pt);
}

/* The latest committed record of pt that is neither joined nor detached. */
static uint32_t scan_by_pthread(pthread_t pt)
{
    uint64_t n = tg__threads_used();
    for (uint64_t i = n; i > 0; i--) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, (uint32_t)i);
        if (atomic_load_explicit(&r->commit, ACQUIRE) != TG_LOG_COMMITTED)
            continue;
        if (r->pthread != (uint64_t)pt)
            continue;
        uint32_t f = atomic_load_explicit(&r->flags, RELAXED);
        if (f & (TG_THRF_JOINED | TG_THRF_DETACHED))
            continue;
        return (uint32_t)i;
    }
    return 0;
}

/* ---- blocked state ---------------------------------------------------- */

void tg__block(struct tg__thread *t, uint32_t op, const void *obj,
               uint64_t obj2, int64_t deadline_ns, uint32_t stack)
{
    struct tg_log_thread *r = t->rec;
    if (!r)
        return;
    tg__watchdog_need();
    if (!stack) {
        t->guard++;
        stack = tg__stack_site();
        t->guard--;
    }
    tg__held_sync(t);
    tg__seq_begin(r);
    r->state = TG_TS_BLOCKED;
    r->wait_op = op;
    r->wait_stack = stack;
    r->wait_obj = (uintptr_t)obj;
    r->wait_obj2 = obj2;
    r->wait_since_ns = tg__now_coarse();
    r->wait_deadline_ns = deadline_ns;
    tg__seq_end(r);
    /* The record names the wait while it lasts. The event stream gets it
     * in full mode; in flight mode only once it proves long (see
     * tg__unblock): a contended lock handed back and forth would
     * otherwise turn the whole ring over, and its pages are memory the
     * program pays for. */
    if (tg__g.opt.full)
        tg__ev_append(t, TG_EV_BLOCK, (uint8_t)op, stack, (uintptr_t)obj, obj2);
}

void tg__unblock(struct tg__thread *t)
{
    struct tg_log_thread *r = t->rec;
    if (!r || r->state != TG_TS_BLOCKED)
        return;
    bool log = tg__g.opt.full;
    if (!log && tg__now_coarse() - r->wait_since_ns >= TG__BLOCK_EVENT_NS) {
        tg__ev_append(t, TG_EV_BLOCK, (uint8_t)r->wait_op, r->wait_stack,
                      r->wait_obj, r->wait_obj2);
        log = true;
    }
    tg__seq_begin(r);
    r->state = TG_TS_RUNNING;
    r->wait_op = TG_WAIT_NONE;
    tg__seq_end(r);
    if (log)
        tg__ev_append(t, TG_EV_UNBLOCK, 0, 0, r->wait_obj, 0);
}

/* A thread other than `self` blocked on obj now (as its object or its
 * second one): its wait stack, and its id in *thread; 0 if none. For a
 * misuse that another thread's wait explains (destroying a waited
 * condition, freeing a channel with a parked thread): the shim names the
 * waiter itself, since a short wait leaves no event behind. */
uint32_t tg__waiter(const void *obj, uint32_t self, uint32_t *thread)
{
    *thread = 0;
    if (!tg__g.hdr || !obj)
        return 0;
    uint64_t n = tg__threads_used();
    for (uint64_t i = 1; i <= n; i++) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, (uint32_t)i);
        if (i == self || !r ||
            atomic_load_explicit(&r->commit, ACQUIRE) != TG_LOG_COMMITTED)
            continue;
        for (int tries = 0; tries < 8; tries++) {
            uint32_t q = atomic_load_explicit(&r->seq, ACQUIRE);
            if (q & 1)
                continue;
            bool hit = r->state == TG_TS_BLOCKED &&
                       (r->wait_obj == (uintptr_t)obj ||
                        r->wait_obj2 == (uintptr_t)obj);
            uint32_t stack = r->wait_stack;
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&r->seq, RELAXED) != q)
                continue;
            if (hit && stack) {
                *thread = (uint32_t)i;
                return stack;
            }
            break;
        }
    }
    return 0;
}

uint32_t tg__thread_by_tid(int tid)
{
    if (!tg__g.hdr || tid <= 0)
        return 0;
    uint64_t n = tg__threads_used();
    /* Newest first: a tid is reused once its thread is gone. */
    for (uint64_t i = n; i > 0; i--) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, (uint32_t)i);
        if (r && atomic_load_explicit(&r->commit, ACQUIRE) == TG_LOG_COMMITTED &&
            r->os_tid == tid && !atomic_load_explicit(&r->exited_ns, RELAXED))
            return (uint32_t)i;
    }
    return 0;
}

/* ---- exit ------------------------------------------------------------- */

void tg__thread_exit(struct tg__thread *t)
{
    if (t->tstate != TG__T_LIVE)
        return;
    struct tg_log_thread *r = t->rec;
    t->guard++;
    if (t->nheld) {
        uint32_t here = t->exit_stack ? t->exit_stack : tg__stack_here();
        for (uint32_t i = 0; i < t->nheld; i++) {
            struct tg__held *h = &t->held[i];
            uint32_t s2 = h->stack ? h->stack : tg__stack_intern(&h->pc, 1);
            tg__misuse(TG_MIS_EXIT_HOLDING, (void *)h->addr, h->obj, here, s2, 0);
        }
    }
    if (t->wrapped && t->exit_how == 0) {
        /* Neither returned nor called pthread_exit: cancelled. */
        if (!t->exit_stack)
            t->exit_stack = tg__stack_here();
        atomic_fetch_or_explicit(&r->flags, TG_THRF_CANCELED, RELAXED);
    }
    r->exit_stack = t->exit_stack;
    tg__held_sync(t);
    tg__race_exit(t);
    tg__chains_flush(t);
    tg__ev_append(t, TG_EV_THREAD_EXIT, 0, t->exit_stack, t->id, 0);
    tg__seq_begin(r);
    r->state = TG_TS_EXITED;
    r->wait_op = TG_WAIT_NONE;
    tg__seq_end(r);
    atomic_store_explicit(&r->exited_ns, tg__now(), RELEASE);
    t->guard--;
    t->tstate = TG__T_DEAD;
}

/* ---- pthread_create ----------------------------------------------------------- */

struct start {
    void *(*fn)(void *);
    void *arg;
    uint32_t id;        /* the record the creator made, 0: none */
    bool counted;       /* a program thread, in tg__g.live_threads */
    bool c11;           /* fn is a thrd_start_t: int (*)(void *) */
};

/* The start records come from a small pool rather than malloc: the new
 * thread frees its record, and a free is often a thread's first call into
 * malloc, which then sets up (and at exit tears down) a per-thread cache
 * the program's thread may never have needed. malloc when the pool is
 * exhausted. */
#define START_POOL 256
static struct start start_pool[START_POOL];
static _Atomic uint8_t start_busy[START_POOL];
static _Atomic unsigned start_hint;

static struct start *start_alloc(void)
{
    unsigned h = atomic_fetch_add_explicit(&start_hint, 1, RELAXED);
    for (unsigned k = 0; k < START_POOL; k++) {
        unsigned i = (h + k) % START_POOL;
        uint8_t expect = 0;
        if (atomic_load_explicit(&start_busy[i], RELAXED) == 0 &&
            atomic_compare_exchange_strong_explicit(&start_busy[i], &expect, 1,
                                                    ACQUIRE, RELAXED))
            return &start_pool[i];
    }
    return malloc(sizeof(struct start));
}

static void start_free(struct start *s)
{
    if (s >= start_pool && s < start_pool + START_POOL)
        atomic_store_explicit(&start_busy[s - start_pool], 0, RELEASE);
    else
        free(s);
}

/* A counted program thread is ending. The last one stops the watchdog and
 * waits for it, so that glibc's own count of threads reaches zero in the
 * program's last thread and glibc ends the process there with exit(0),
 * exactly as without the shim. */
static void program_thread_left(void)
{
    if (atomic_fetch_sub(&tg__g.live_threads, 1) == 1)
        tg__watchdog_stop();
}

static void start_cleanup(void *arg)
{
    tg__thread_exit(&tg__self);
    if (arg)
        program_thread_left();
}

TG_STACK_BOTTOM static void *start_routine(void *p)
{
    struct start s = *(struct start *)p;
    start_free(p);
    struct tg__thread *t = &tg__self;
    t->wrapped = true;
    if (tg__on())
        register_self(s.id, 0);
    void *ret;
    pthread_cleanup_push(start_cleanup, s.counted ? (void *)1 : NULL);
    /* A C11 thread's int result travels as glibc carries it, in the
     * pointer, for thrd_join (or pthread_join) to take back. */
    if (s.c11)
        ret = (void *)(intptr_t)((thrd_start_t)(void (*)(void))s.fn)(s.arg);
    else
        ret = s.fn(s.arg);
    t->exit_how = 2;
    pthread_cleanup_pop(1);
    return ret;
}

/* Threads of the test runner, not of the program: their start routine
 * lies in the runner's libraries. */
static _Atomic uintptr_t own_routines[64];   /* known not foreign */

static uint32_t foreign_flag(void *(*fn)(void *))
{
    /* dladdr walks the link map under the loader's lock: a program that
     * starts threads in a loop asks it once per routine. */
    _Atomic uintptr_t *known = &own_routines[((uintptr_t)fn >> 4) % 64];
    if (atomic_load_explicit(known, RELAXED) == (uintptr_t)fn)
        return 0;
    Dl_info info;
    if (!dladdr((void *)fn, &info) || !info.dli_fname)
        return 0;
    const char *base = strrchr(info.dli_fname, '/');
    base = base ? base + 1 : info.dli_fname;
    if (!strncmp(base, "libcriterion", 12) || !strncmp(base, "libnanomsg", 10) ||
        !strncmp(base, "libboxfort", 10))
        return TG_THRF_FOREIGN;
    atomic_store_explicit(known, (uintptr_t)fn, RELAXED);
    return 0;
}

/* A thread the shim does not record: glibc's own call. */
static int create_untracked(pthread_t *th, const pthread_attr_t *attr,
                            void *(*fn)(void *), void *arg, bool c11)
{
    if (!c11)
        return REAL(pthread_create)(th, attr, fn, arg);
    int rc = REAL(thrd_create)((thrd_t *)th, (thrd_start_t)(void (*)(void))fn, arg);
    return rc == thrd_success ? 0 : rc == thrd_nomem ? ENOMEM : EAGAIN;
}

/* pthread_create, and thrd_create (c11: fn returns an int). */
static int create_thread(pthread_t *th, const pthread_attr_t *attr,
                         void *(*fn)(void *), void *arg, bool c11)
{
    struct tg__thread *t = tg__me();
    if (!t || t->guard)
        return create_untracked(th, attr, fn, arg, c11);
    tg__watchdog_need();
    t->guard++;
    struct start *s = start_alloc();
    if (!s) {
        t->guard--;
        return create_untracked(th, attr, fn, arg, c11);
    }
    s->fn = fn;
    s->arg = arg;
    s->c11 = c11;
    uint32_t cstack = tg__stack_site();
    uint32_t flags = foreign_flag(fn);
    int detached = 0;
    if (attr)
        pthread_attr_getdetachstate(attr, &detached);
    if (detached == PTHREAD_CREATE_DETACHED)
        flags |= TG_THRF_DETACHED;
    uint32_t id = 0;
    struct tg_log_thread *r = new_record(&id, t->id, (uintptr_t)fn, cstack, flags);
    s->id = r ? id : 0;
    s->counted = true;
    t->guard--;
    /* Counted before it exists, so the count never drops to zero while
     * the new thread is still starting. */
    atomic_fetch_add(&tg__g.live_threads, 1);
    /* What the creator did so far happens before the new thread runs. */
    if (r)
        TG_RACE_SYNC(RK_CREATE, id, true);
    int rc = REAL(pthread_create)(th, attr, start_routine, s);
    if (rc != 0) {
        atomic_fetch_sub(&tg__g.live_threads, 1);
        start_free(s);
        return rc;      /* the record stays uncommitted: readers skip it */
    }
    if (r) {
        r->pthread = (uint64_t)*th;
        atomic_store_explicit(&r->commit, TG_LOG_COMMITTED, RELEASE);
        tg__ev_append(t, TG_EV_THREAD_CREATE, 0, cstack, id, 0);
    }
    pt_remember(*th, r ? id : 0);
    return rc;
}

int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                   void *(*fn)(void *), void *arg)
{
    return create_thread(th, attr, fn, arg, false);
}

/* ---- C11 threads ------------------------------------------------------------
 * glibc's thrd_* call its pthread functions internally, where no
 * interposer sees them, so they are wrapped here as what they are. */

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    if (!thr || !fn)
        return thrd_error;
    int rc = create_thread((pthread_t *)thr, NULL, (void *(*)(void *))(void (*)(void))fn,
                           arg, true);
    return tg__thrd_rc(rc);
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret = NULL;
    int rc = pthread_join((pthread_t)thr, &ret);
    if (rc == 0 && res)
        *res = (int)(intptr_t)ret;
    return rc == 0 ? thrd_success : thrd_error;
}

int thrd_detach(thrd_t thr)
{
    return pthread_detach((pthread_t)thr) == 0 ? thrd_success : thrd_error;
}

void thrd_exit(int res)
{
    pthread_exit((void *)(intptr_t)res);
}

/* Creates a thread of the shim's own (the watchdog): registered with
 * TG_THRF_INTERNAL, never reported. */
int tg__internal_thread(pthread_t *th, void *(*fn)(void *), void *arg);
int tg__internal_thread(pthread_t *th, void *(*fn)(void *), void *arg)
{
    struct start *s = start_alloc();
    if (!s)
        return -ENOMEM;
    uint32_t id = 0;
    struct tg_log_thread *r = new_record(&id, tg__self.id, (uintptr_t)fn, 0,
                                         TG_THRF_INTERNAL);
    *s = (struct start){ .fn = fn, .arg = arg, .id = r ? id : 0 };
    int rc = REAL(pthread_create)(th, NULL, start_routine, s);
    if (rc) {
        start_free(s);
        return -rc;
    }
    if (r) {
        r->pthread = (uint64_t)*th;
        atomic_store_explicit(&r->commit, TG_LOG_COMMITTED, RELEASE);
    }
    pt_remember(*th, r ? id : 0);
    return 0;
}

void pthread_exit(void *ret)
{
    struct tg__thread *t = &tg__self;
    if (t->tstate == TG__T_LIVE && !t->guard) {
        t->exit_how = 1;
        t->guard++;
        t->exit_stack = tg__stack_here();
        t->guard--;
        if (!t->wrapped)
            tg__thread_exit(t);
    }
    /* main leaving this way leaves the process to the other threads; its
     * start routine is not the shim's, so it is counted out here. */
    if (!t->wrapped && !t->guard && tg__on() &&
        syscall(SYS_gettid) == getpid())
        program_thread_left();
    REAL(pthread_exit)(ret);
}

/* ---- join, detach, cancel, setname ----------------------------------------------- */

static void joined(struct tg__thread *t, uint32_t target)
{
    struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, target);
    if (!r)
        return;
    r->joined_by = t->id;
    atomic_fetch_or_explicit(&r->flags, TG_THRF_JOINED, RELEASE);
    tg__ev_append(t, TG_EV_THREAD_JOIN, 0, 0, target, 0);
    TG_RACE_SYNC(RK_EXIT, target, false);
}

static int join_common(pthread_t th, void **ret, clockid_t clock,
                       const struct timespec *abs, bool timed)
{
    struct tg__thread *t = tg__me();
    if (!t || t->guard) {
        if (timed)
            return REAL(pthread_clockjoin_np)(th, ret, clock, abs);
        return REAL(pthread_join)(th, ret);
    }
    uint32_t target = tg__thread_by_pthread(th);
    int rc = REAL(pthread_tryjoin_np)(th, ret);
    if (rc == EBUSY) {
        tg__block(t, TG_WAIT_JOIN, (void *)th, target,
                  timed ? tg__deadline(clock, abs) : INT64_MAX, 0);
        if (timed)
            rc = REAL(pthread_clockjoin_np)(th, ret, clock, abs);
        else
            rc = REAL(pthread_join)(th, ret);
        tg__unblock(t);
    }
    if (rc == 0 && target)
        joined(t, target);
    return rc;
}

int pthread_join(pthread_t th, void **ret)
{
    return join_common(th, ret, CLOCK_REALTIME, NULL, false);
}

int pthread_timedjoin_np(pthread_t th, void **ret, const struct timespec *abs)
{
    if (!abs)
        return join_common(th, ret, CLOCK_REALTIME, NULL, false);
    return join_common(th, ret, CLOCK_REALTIME, abs, true);
}

int pthread_clockjoin_np(pthread_t th, void **ret, clockid_t clock,
                         const struct timespec *abs)
{
    if (!abs)
        return join_common(th, ret, clock, NULL, false);
    return join_common(th, ret, clock, abs, true);
}

int pthread_tryjoin_np(pthread_t th, void **ret)
{
    struct tg__thread *t = tg__me();
    uint32_t target = (t && !t->guard) ? tg__thread_by_pthread(th) : 0;
    int rc = REAL(pthread_tryjoin_np)(th, ret);
    if (rc == 0 && target)
        joined(t, target);
    return rc;
}

int pthread_detach(pthread_t th)
{
    struct tg__thread *t = tg__me();
    uint32_t target = (t && !t->guard) ? tg__thread_by_pthread(th) : 0;
    int rc = REAL(pthread_detach)(th);
    if (rc == 0 && target) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, target);
        if (r)
            atomic_fetch_or_explicit(&r->flags, TG_THRF_DETACHED, RELEASE);
    }
    return rc;
}

int pthread_cancel(pthread_t th)
{
    return REAL(pthread_cancel)(th);
}

int pthread_setname_np(pthread_t th, const char *name)
{
    int rc = REAL(pthread_setname_np)(th, name);
    struct tg__thread *t = tg__me();
    if (rc != 0 || !t || t->guard)
        return rc;
    struct tg_log_thread *r = NULL;
    if (pthread_equal(th, pthread_self()))
        r = t->rec;
    else
        r = tg__rec_get(TG_SEC_THREADS, tg__thread_by_pthread(th));
    if (r) {
        char buf[16];
        strncpy(buf, name, sizeof buf - 1);
        buf[15] = 0;
        memcpy(r->name, buf, sizeof buf);
    }
    return rc;
}
