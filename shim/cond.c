/*
 * shim/cond.c: condition variables, semaphores, barriers and pthread_once:
 * the pthread objects a thread waits on without owning them.
 *
 * A condition wait gives its mutex up and takes it back inside glibc, so
 * the shim mirrors that in the held set around the real call; it also
 * checks the two classic misuses (waiting without holding the mutex, and
 * concurrent waits with two different mutexes) and counts waiters so that
 * destroying a condition or barrier someone waits on is reported.
 * Semaphores try first, like locks, so a wait that does not block costs no
 * stack. Each of these objects also feeds the race checker's
 * happens-before edges through release/acquire events: sem post -> wait,
 * barrier round -> everyone leaving it, once routine -> every return.
 */
#include <errno.h>
#include <semaphore.h>
#include <string.h>
#include <sys/single_threaded.h>

#include "shim.h"

REAL_FN(int, pthread_cond_init, (pthread_cond_t *, const pthread_condattr_t *));
REAL_FN(int, pthread_cond_destroy, (pthread_cond_t *));
REAL_FN(int, pthread_cond_wait, (pthread_cond_t *, pthread_mutex_t *));
REAL_FN(int, pthread_cond_timedwait, (pthread_cond_t *, pthread_mutex_t *,
                                      const struct timespec *));
REAL_FN(int, pthread_cond_clockwait, (pthread_cond_t *, pthread_mutex_t *,
                                      clockid_t, const struct timespec *));
REAL_FN(int, pthread_cond_signal, (pthread_cond_t *));
REAL_FN(int, pthread_cond_broadcast, (pthread_cond_t *));
REAL_FN(int, sem_init, (sem_t *, int, unsigned));
REAL_FN(int, sem_destroy, (sem_t *));
REAL_FN(int, sem_wait, (sem_t *));
REAL_FN(int, sem_trywait, (sem_t *));
REAL_FN(int, sem_timedwait, (sem_t *, const struct timespec *));
REAL_FN(int, sem_clockwait, (sem_t *, clockid_t, const struct timespec *));
REAL_FN(int, sem_post, (sem_t *));
REAL_FN(int, pthread_barrier_init, (pthread_barrier_t *,
                                    const pthread_barrierattr_t *, unsigned));
REAL_FN(int, pthread_barrier_destroy, (pthread_barrier_t *));
REAL_FN(int, pthread_barrier_wait, (pthread_barrier_t *));
REAL_FN(int, pthread_once, (pthread_once_t *, void (*)(void)));

#define GLIBC_COND "GLIBC_2.3.2"

uint32_t tg__cond_release(struct tg__thread *t, pthread_mutex_t *m,
                          struct tg__held *save);
void tg__cond_reacquire(struct tg__thread *t, pthread_mutex_t *m,
                        const struct tg__held *save, uint32_t stack);

static inline struct tg__thread *hot_me(void)
{
    struct tg__thread *t = &tg__self;
    if (likely(t->tstate == TG__T_LIVE && !t->guard))
        return t;
    if (t->guard)
        return NULL;
    return tg__thread_slow();
}

static uint32_t obj_of(struct tg__thread *t, struct tg__lock *l, uint32_t kind)
{
    uint32_t id = atomic_load_explicit(&l->obj, ACQUIRE);
    if (likely(id != 0 && id != TG__OBJ_BUSY))
        return id;
    struct tg__obj_init in = { .kind = kind, .flags = TG_OBJF_IMPLICIT };
    t->guard++;
    id = tg__obj_id(l, &in);
    t->guard--;
    return id;
}

static void created(struct tg__thread *t, const void *addr, uint32_t kind,
                    uint64_t a)
{
    struct tg__obj_init in = { .kind = kind, .a = a };
    t->guard++;
    tg__obj_create(addr, &in);
    t->guard--;
}

/* Misuse if someone waits on it, then the object's end. */
static void destroy_waited(struct tg__thread *t, const void *addr)
{
    struct tg__lock *l = tg__lock_find(addr);
    if (l && atomic_load_explicit(&l->waiters, RELAXED)) {
        uint32_t waiter, s2 = tg__waiter(addr, t->id, &waiter);
        tg__misuse(TG_MIS_DESTROY_WAITED, addr,
                   atomic_load_explicit(&l->obj, RELAXED), 0, s2, waiter);
    }
    t->guard++;
    tg__obj_destroy(addr, 0);
    t->guard--;
}

/* ---- condition variables ------------------------------------------------- */

int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
    int rc = REALV(pthread_cond_init, GLIBC_COND)(c, attr);
    struct tg__thread *t = hot_me();
    if (rc == 0 && t)
        created(t, c, TG_LOBJ_COND, 0);
    return rc;
}

int pthread_cond_destroy(pthread_cond_t *c)
{
    struct tg__thread *t = hot_me();
    if (t)
        destroy_waited(t, c);
    return REALV(pthread_cond_destroy, GLIBC_COND)(c);
}

int pthread_cond_signal(pthread_cond_t *c)
{
    return REALV(pthread_cond_signal, GLIBC_COND)(c);
}

int pthread_cond_broadcast(pthread_cond_t *c)
{
    return REALV(pthread_cond_broadcast, GLIBC_COND)(c);
}

struct cond_ctx {
    struct tg__thread *t;
    struct tg__lock *lc;
    pthread_mutex_t *m;
    struct tg__held save;
    uint32_t stack;
};

/* After the wait, normally or by cancellation (glibc takes the mutex back
 * before the thread unwinds, so the held set must show it either way). */
static void cond_after(void *arg)
{
    struct cond_ctx *cx = arg;
    tg__unblock(cx->t);
    atomic_fetch_sub_explicit(&cx->lc->waiters, 1, RELEASE);
    if (!cx->save.count)
        cx->save.count = 1;
    tg__cond_reacquire(cx->t, cx->m, &cx->save, cx->stack);
}

/* how: 0 wait, 1 timed on `clock`. */
static int cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int how,
                     clockid_t clock, const struct timespec *abs, bool clockwait)
{
    struct tg__thread *t = hot_me();
    struct tg__lock *lc;
    if (!t || !(lc = tg__lock_get(c))) {
        if (how == 0)
            return REALV(pthread_cond_wait, GLIBC_COND)(c, m);
        if (clockwait)
            return REAL(pthread_cond_clockwait)(c, m, clock, abs);
        return REALV(pthread_cond_timedwait, GLIBC_COND)(c, m, abs);
    }
    uint32_t cobj = obj_of(t, lc, TG_LOBJ_COND);
    struct tg__lock *lm = tg__lock_find(m);
    uint32_t mobj = lm ? atomic_load_explicit(&lm->obj, RELAXED) : 0;
    if (mobj == TG__OBJ_BUSY)
        mobj = 0;
    /* Unlike an unlock, a wait on a mutex never seen locked is reported:
     * every lock call goes through the shim from its first moment. */
    if (tg__held_find(t, m) < 0 && !t->held_lost) {
        uint32_t owner = lm ? tg__lock_owner(lm, m) : 0;
        tg__misuse(TG_MIS_COND_NO_MUTEX, c, cobj, 0, 0, owner);
    }

    /* Concurrent waits must all use one mutex: the first waiter names it. */
    uint32_t before = atomic_fetch_add_explicit(&lc->waiters, 1, ACQUIRE);
    if (before == 0) {
        atomic_store_explicit(&lc->aux, mobj, RELAXED);
    } else if (mobj) {
        uint32_t other = atomic_load_explicit(&lc->aux, RELAXED);
        if (other && other != mobj &&
            !(atomic_fetch_or_explicit(&lc->flags, TG__LK_TWO_MUTEX, RELAXED)
              & TG__LK_TWO_MUTEX)) {
            struct tg_log_object *o = tg__obj_rec(other);
            tg__misuse(TG_MIS_COND_TWO_MUTEXES, c, cobj, 0,
                       o ? o->create_stack : 0, 0);
        }
    }

    struct cond_ctx cx = { .t = t, .lc = lc, .m = m };
    cx.save.pc = (uintptr_t)__builtin_return_address(0);
    tg__cond_release(t, m, &cx.save);
    tg__block(t, TG_WAIT_COND, c, (uintptr_t)m,
              how ? tg__deadline(clock, abs) : INT64_MAX, 0);
    cx.stack = t->rec ? t->rec->wait_stack : 0;
    int rc;
    pthread_cleanup_push(cond_after, &cx);
    if (how == 0)
        rc = REALV(pthread_cond_wait, GLIBC_COND)(c, m);
    else if (clockwait)
        rc = REAL(pthread_cond_clockwait)(c, m, clock, abs);
    else
        rc = REALV(pthread_cond_timedwait, GLIBC_COND)(c, m, abs);
    pthread_cleanup_pop(1);
    return rc;
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    return cond_wait(c, m, 0, CLOCK_REALTIME, NULL, false);
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                           const struct timespec *abs)
{
    /* abs is on the condition's clock (condattr_setclock), which glibc
     * keeps in bit 1 of __wrefs. */
    clockid_t clock = (c->__data.__wrefs & 2) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    return cond_wait(c, m, 1, clock, abs, false);
}

int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m,
                           clockid_t clock, const struct timespec *abs)
{
    return cond_wait(c, m, 1, clock, abs, true);
}

/* ---- semaphores ------------------------------------------------------------- */

int sem_init(sem_t *s, int pshared, unsigned value)
{
    int rc = REAL(sem_init)(s, pshared, value);
    struct tg__thread *t = hot_me();
    if (rc == 0 && t)
        created(t, s, TG_LOBJ_SEM, value);
    return rc;
}

int sem_destroy(sem_t *s)
{
    struct tg__thread *t = hot_me();
    if (t) {
        t->guard++;
        tg__obj_destroy(s, 0);
        t->guard--;
    }
    return REAL(sem_destroy)(s);
}

static void sem_acquired(struct tg__thread *t, struct tg__lock *l, sem_t *s)
{
    obj_of(t, l, TG_LOBJ_SEM);
    uint32_t rel = atomic_load_explicit(&l->releases, ACQUIRE);
    tg__sync_event(t, TG_EV_ACQUIRE, 0, 0, (uintptr_t)s, rel);
    TG_RACE_SYNC(RK_PLAIN, s, false);
}

/* how: 0 wait, 1 timedwait (realtime), 2 clockwait */
static int sem_wait_common(sem_t *s, int how, clockid_t clock,
                           const struct timespec *abs)
{
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (!t || !(l = tg__lock_get(s))) {
        if (how == 0)
            return REAL(sem_wait)(s);
        if (how == 1)
            return REAL(sem_timedwait)(s, abs);
        return REAL(sem_clockwait)(s, clock, abs);
    }
    int rc = REAL(sem_trywait)(s);
    if (rc != 0 && errno == EAGAIN) {
        tg__block(t, TG_WAIT_SEM, s, 0,
                  how ? tg__deadline(clock, abs) : INT64_MAX, 0);
        if (how == 0)
            rc = REAL(sem_wait)(s);
        else if (how == 1)
            rc = REAL(sem_timedwait)(s, abs);
        else
            rc = REAL(sem_clockwait)(s, clock, abs);
        int e = errno;
        tg__unblock(t);
        errno = e;
    }
    if (rc == 0)
        sem_acquired(t, l, s);
    return rc;
}

int sem_wait(sem_t *s)
{
    return sem_wait_common(s, 0, CLOCK_REALTIME, NULL);
}

int sem_timedwait(sem_t *s, const struct timespec *abs)
{
    return sem_wait_common(s, 1, CLOCK_REALTIME, abs);
}

int sem_clockwait(sem_t *s, clockid_t clock, const struct timespec *abs)
{
    return sem_wait_common(s, 2, clock, abs);
}

int sem_trywait(sem_t *s)
{
    int rc = REAL(sem_trywait)(s);
    struct tg__thread *t;
    struct tg__lock *l;
    if (rc == 0 && (t = hot_me()) && (l = tg__lock_get(s))) {
        int e = errno;
        sem_acquired(t, l, s);
        errno = e;
    }
    return rc;
}

int sem_post(sem_t *s)
{
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (t && (l = tg__lock_get(s))) {
        obj_of(t, l, TG_LOBJ_SEM);
        uint32_t rel = atomic_fetch_add_explicit(&l->releases, 1, RELEASE) + 1;
        tg__sync_event(t, TG_EV_RELEASE, 0, 0, (uintptr_t)s, rel);
        TG_RACE_SYNC(RK_PLAIN, s, true);
    }
    return REAL(sem_post)(s);
}

/* ---- barriers ------------------------------------------------------------------ */

int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *attr,
                         unsigned count)
{
    int rc = REAL(pthread_barrier_init)(b, attr, count);
    struct tg__thread *t = hot_me();
    if (rc == 0 && t)
        created(t, b, TG_LOBJ_BARRIER, count);
    return rc;
}

int pthread_barrier_destroy(pthread_barrier_t *b)
{
    struct tg__thread *t = hot_me();
    if (t)
        destroy_waited(t, b);
    return REAL(pthread_barrier_destroy)(b);
}

int pthread_barrier_wait(pthread_barrier_t *b)
{
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (!t || !(l = tg__lock_get(b)))
        return REAL(pthread_barrier_wait)(b);
    uint32_t obj = obj_of(t, l, TG_LOBJ_BARRIER);
    struct tg_log_object *o = tg__obj_rec(obj);
    uint64_t count = o ? o->a : 0;
    /* Round r: everyone's arrival in round r happens before anyone leaves
     * it. The round is known only when the shim saw the barrier's init. */
    uint32_t arrival = atomic_fetch_add_explicit(&l->aux, 1, RELAXED);
    uint64_t round = count ? arrival / count : 0;
    tg__sync_event(t, TG_EV_RELEASE, 0, 0, (uintptr_t)b, round);
    TG_RACE_SYNC(RK_PLAIN, b, true);
    atomic_fetch_add_explicit(&l->waiters, 1, RELAXED);
    tg__block(t, TG_WAIT_BARRIER, b, 0, INT64_MAX, 0);
    int rc = REAL(pthread_barrier_wait)(b);
    tg__unblock(t);
    atomic_fetch_sub_explicit(&l->waiters, 1, RELAXED);
    tg__sync_event(t, TG_EV_ACQUIRE, 0, 0, (uintptr_t)b, round);
    TG_RACE_SYNC(RK_PLAIN, b, false);
    return rc;
}

/* ---- pthread_once ------------------------------------------------------------------ */

/* Runs the routine on the thread that won the once: it is not blocked any
 * more, and what the routine did is released to every later return. */
static void once_trampoline(void)
{
    struct tg__thread *t = &tg__self;
    void (*fn)(void) = t->once_fn;
    tg__unblock(t);
    void *ctl = t->once_ctl;
    fn();
    tg__sync_event(t, TG_EV_RELEASE, 0, 0, (uintptr_t)ctl, 0);
    TG_RACE_SYNC(RK_PLAIN, ctl, true);
}

int pthread_once(pthread_once_t *ctl, void (*fn)(void))
{
    struct tg__thread *t = hot_me();
    /* glibc's "done" bit: the common, already-initialized case. */
    if (!t)
        return REAL(pthread_once)(ctl, fn);
    if (__atomic_load_n(ctl, __ATOMIC_ACQUIRE) & 2) {
        if (tg__g.opt.full)
            tg__sync_event(t, TG_EV_ACQUIRE, 0, 0, (uintptr_t)ctl, 0);
        TG_RACE_SYNC(RK_PLAIN, ctl, false);
        return REAL(pthread_once)(ctl, fn);
    }
    void (*saved)(void) = t->once_fn;
    void *saved_ctl = t->once_ctl;
    /* Alone in the process, the caller runs the routine and waits for
     * nobody (unless the routine itself re-enters this once), so it is not
     * blocked: recording it so would start the watchdog's thread. */
    bool alone = __libc_single_threaded && saved_ctl != ctl;
    t->once_fn = fn;
    t->once_ctl = ctl;
    if (!alone)
        tg__block(t, TG_WAIT_ONCE, ctl, 0, INT64_MAX, 0);
    int rc = REAL(pthread_once)(ctl, once_trampoline);
    tg__unblock(t);
    t->once_fn = saved;
    t->once_ctl = saved_ctl;
    tg__sync_event(t, TG_EV_ACQUIRE, 0, 0, (uintptr_t)ctl, 0);
    TG_RACE_SYNC(RK_PLAIN, ctl, false);
    return rc;
}

/* ---- C11 conditions and call_once: glibc's cnd_* and call_once run its
 * pthread functions internally. A cnd_t is a pthread_cond_t (on the
 * realtime clock, as cnd_timedwait's deadline is), a once_flag a
 * pthread_once_t. ---- */

int cnd_init(cnd_t *c)
{
    return tg__thrd_rc(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
    return tg__thrd_rc(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
    return tg__thrd_rc(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return tg__thrd_rc(cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m, 0,
                                 CLOCK_REALTIME, NULL, false));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m,
                  const struct timespec *restrict abs)
{
    return tg__thrd_rc(cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m, 1,
                                 CLOCK_REALTIME, abs, false));
}

void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*fn)(void))
{
    pthread_once((pthread_once_t *)flag, fn);
}
