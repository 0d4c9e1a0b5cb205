/*
 * shim/mutex.c: pthread mutexes, rwlocks and spin locks.
 *
 * The hot path is an uncontended lock/unlock pair, so a lock call first
 * tries the real trylock: when that succeeds the shim only updates its own
 * state (owner, held set, one event), with no stack capture, allocation or
 * lock. Only a caller that must wait pays for recording its blocked state
 * and its stack before calling the real blocking function. Misuse is found
 * from the shim's owner and held-set bookkeeping and recorded at the
 * offending call; a relock of a non-recursive lock by its holder is
 * recorded before the real call, which will never return.
 */
#include <errno.h>
#include <string.h>
#include <sys/single_threaded.h>

#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "race.h"

REAL_FN(int, pthread_mutex_init, (pthread_mutex_t *, const pthread_mutexattr_t *));
REAL_FN(int, pthread_mutex_destroy, (pthread_mutex_t *));
REAL_FN(int, pthread_mutex_lock, (pthread_mutex_t *));
REAL_FN(int, pthread_mutex_trylock, (pthread_mutex_t *));
REAL_FN(int, pthread_mutex_timedlock, (pthread_mutex_t *, const struct timespec *));
REAL_FN(int, pthread_mutex_clocklock, (pthread_mutex_t *, clockid_t,
                                       const struct timespec *));
REAL_FN(int, pthread_mutex_unlock, (pthread_mutex_t *));
REAL_FN(int, pthread_rwlock_init, (pthread_rwlock_t *, const pthread_rwlockattr_t *));
REAL_FN(int, pthread_rwlock_destroy, (pthread_rwlock_t *));
REAL_FN(int, pthread_rwlock_rdlock, (pthread_rwlock_t *));
REAL_FN(int, pthread_rwlock_tryrdlock, (pthread_rwlock_t *));
REAL_FN(int, pthread_rwlock_timedrdlock, (pthread_rwlock_t *, const struct timespec *));
REAL_FN(int, pthread_rwlock_clockrdlock, (pthread_rwlock_t *, clockid_t,
                                          const struct timespec *));
REAL_FN(int, pthread_rwlock_wrlock, (pthread_rwlock_t *));
REAL_FN(int, pthread_rwlock_trywrlock, (pthread_rwlock_t *));
REAL_FN(int, pthread_rwlock_timedwrlock, (pthread_rwlock_t *, const struct timespec *));
REAL_FN(int, pthread_rwlock_clockwrlock, (pthread_rwlock_t *, clockid_t,
                                          const struct timespec *));
REAL_FN(int, pthread_rwlock_unlock, (pthread_rwlock_t *));
REAL_FN(int, pthread_spin_init, (pthread_spinlock_t *, int));
REAL_FN(int, pthread_spin_destroy, (pthread_spinlock_t *));
REAL_FN(int, pthread_spin_lock, (pthread_spinlock_t *));
REAL_FN(int, pthread_spin_trylock, (pthread_spinlock_t *));
REAL_FN(int, pthread_spin_unlock, (pthread_spinlock_t *));

void __tsan_mutex_create(void *addr, unsigned flags);
void __tsan_mutex_destroy(void *addr, unsigned flags);
void __tsan_mutex_pre_lock(void *addr, unsigned flags);
void __tsan_mutex_post_lock(void *addr, unsigned flags, int recursion);
int __tsan_mutex_pre_unlock(void *addr, unsigned flags);
void __tsan_mutex_post_unlock(void *addr, unsigned flags);
void __tsan_mutex_pre_signal(void *addr, unsigned flags);
void __tsan_mutex_post_signal(void *addr, unsigned flags);
void __tsan_mutex_pre_divert(void *addr, unsigned flags);
void __tsan_mutex_post_divert(void *addr, unsigned flags);

#define SITE_PC  ((uintptr_t)__builtin_return_address(0))
#define SITE_CFA ((uintptr_t)__builtin_dwarf_cfa())

/* The calling thread if the shim should record this call, else NULL. */
static inline struct tg__thread *hot_me(void)
{
    struct tg__thread *t = &tg__self;
    if (likely(t->tstate == TG__T_LIVE && !t->guard))
        return t;
    if (t->guard)
        return NULL;
    return tg__thread_slow();
}

/* glibc's mutex type bits (pthread_mutex_t.__data.__kind). */
static uint32_t mutex_flags(const pthread_mutex_t *m)
{
    int k = m->__data.__kind;
    uint32_t f = 0;
    if ((k & 3) == PTHREAD_MUTEX_RECURSIVE_NP)
        f |= TG_OBJF_RECURSIVE;
    else if ((k & 3) == PTHREAD_MUTEX_ERRORCHECK_NP)
        f |= TG_OBJF_ERRORCHECK;
    if (k & 16)
        f |= TG_OBJF_ROBUST;
    return f;
}

static uint32_t first_use(struct tg__thread *t, struct tg__lock *l,
                          uint32_t kind, uint32_t flags)
{
    struct tg__obj_init in = { .kind = kind, .flags = TG_OBJF_IMPLICIT | flags };
    t->guard++;
    uint32_t id = tg__obj_id(l, &in);
    t->guard--;
    return id;
}

static inline uint32_t obj_of(struct tg__thread *t, struct tg__lock *l,
                              const void *addr, uint32_t kind)
{
    uint32_t id = atomic_load_explicit(&l->obj, ACQUIRE);
    if (likely(id != 0 && id != TG__OBJ_BUSY))
        return id;
    uint32_t flags = kind == TG_LOBJ_MUTEX ? mutex_flags(addr) : 0;
    return first_use(t, l, kind, flags);
}

/* A mutex's holder. glibc keeps the holder's kernel tid in the mutex
 * itself (__data.__owner, for every mutex type), so the shim keeps no
 * owner of its own for mutexes: on a contended mutex that store, and its
 * clearing at unlock, passed one more cache line between the threads at
 * every hand-over (race_bench lock: 2.6x the plain time with it, 1.9x
 * without). l->owner then stays 0 for a mutex, except in a fork child for
 * the mutexes the fork carried over, whose tid is the parent's. */
static inline int mutex_owner_tid(const pthread_mutex_t *m)
{
    return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
}

static inline int my_tid(const struct tg__thread *t)
{
    return t->rec ? t->rec->os_tid : 0;
}

/* True if t holds m (for a relock check before waiting). */
static inline bool mutex_mine(struct tg__thread *t, struct tg__lock *l,
                              const pthread_mutex_t *m)
{
    int tid = mutex_owner_tid(m);
    return (tid && tid == my_tid(t)) ||
           atomic_load_explicit(&l->owner, RELAXED) == t->id;
}

int tg__mutex_tid(const void *addr, bool safe)
{
    const pthread_mutex_t *m = addr;
    if (!safe)
        return mutex_owner_tid(m);
    /* The watchdog reads a mutex another thread waits on, which that
     * thread may have taken and freed since: a read that cannot fault. */
    int tid;
    struct iovec local = { &tid, sizeof tid };
    struct iovec remote = { (void *)&m->__data.__owner, sizeof tid };
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != sizeof tid)
        return 0;
    return tid;
}

uint32_t tg__lock_owner(struct tg__lock *l, const void *addr)
{
    uint32_t id = atomic_load_explicit(&l->owner, RELAXED);
    if (id || l->kind != TG_LOBJ_MUTEX || !addr)
        return id;
    int tid = mutex_owner_tid(addr);
    return tid > 0 ? tg__thread_by_tid(tid) : 0;
}

/* The race checker's part of a lock or unlock of l (race mode). */
static inline __attribute__((always_inline)) void
race_lock(struct tg__lock *l, const void *addr, uint32_t mode, bool taken)
{
    struct race_thread *r = tg__rs;
    struct rc_sync *s = atomic_load_explicit(&l->rc, RELAXED);
    if (likely(r && r->vc && s && mode == 0) &&
        tg__rc_lock_fast(r, s, (uintptr_t)addr, taken))
        return;
    tg__race_lock_at(l, (uintptr_t)addr, mode, taken);
}

/* Bookkeeping once the caller holds the lock. `stack`: where it waited
 * (0 if it did not). */
static inline __attribute__((always_inline)) void taken(struct tg__thread *t, struct tg__lock *l,
                         const void *addr, uint32_t kind, uint32_t mode,
                         bool tried, uintptr_t pc, uintptr_t cfa, uint32_t stack)
{
    uint32_t obj = obj_of(t, l, addr, kind);
    /* Stores to the lock's record only where its value changes: a lock
     * taken in turn by two threads at one site then costs no cache line
     * beyond the lock's own. */
    if (mode == 0) {
        if (kind != TG_LOBJ_MUTEX)
            atomic_store_explicit(&l->owner, t->id, RELAXED);
        if (atomic_load_explicit(&l->site, RELAXED) != pc)
            atomic_store_explicit(&l->site, pc, RELAXED);
    } else
        atomic_fetch_add_explicit(&l->readers, 1, RELAXED);
    if (unlikely(!(atomic_load_explicit(&l->flags, RELAXED) & TG__LK_SEEN)))
        atomic_fetch_or_explicit(&l->flags, TG__LK_SEEN, RELAXED);
    if (tg__g.opt.full) {
        uint32_t rel = atomic_load_explicit(&l->releases, ACQUIRE);
        tg__ev_append(t, TG_EV_LOCK, (uint8_t)mode, stack, (uintptr_t)addr, rel);
    }
    if (unlikely(tg__rc_on))
        race_lock(l, addr, mode, true);
    tg__acquired(t, l, obj, addr, mode, tried, pc, cfa, stack);
}

/* The stack of held entry i: its wait stack or its one-frame site. */
static uint32_t held_stack(struct tg__thread *t, int i)
{
    struct tg__held *h = &t->held[i];
    if (h->stack)
        return h->stack;
    t->guard++;
    uint32_t s = tg__stack_intern(&h->pc, 1);
    t->guard--;
    return s;
}

/* Where thread `id`, the exclusive owner of l, took the lock at addr: the
 * stack it waited at, from its record's held list, else its acquisition
 * site as a one-frame stack (interned here, off the lock's fast path).
 * The site is read after the owner without a lock: were the lock to
 * change hands meanwhile, the program is already misusing it. */
static uint32_t foreign_stack(struct tg__thread *t, struct tg__lock *l,
                              uint32_t id, const void *addr)
{
    struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, id);
    if (r)
        for (uint32_t k = 0; k < r->held_count && k < TG_LOG_MAX_HELD; k++)
            if (r->held[k].addr == (uintptr_t)addr && r->held[k].stack)
                return r->held[k].stack;
    uintptr_t pc = atomic_load_explicit(&l->site, RELAXED);
    if (!pc)
        return 0;
    t->guard++;
    uint32_t s = tg__stack_intern(&pc, 1);
    t->guard--;
    return s;
}

/* A relock by the holder: recorded before the real call (which, for a
 * non-recursive lock, never returns). */
static void relock(struct tg__thread *t, struct tg__lock *l, const void *addr)
{
    int i = tg__held_find(t, addr);
    uint32_t s2 = i >= 0 ? held_stack(t, i) : 0;
    tg__misuse(TG_MIS_RELOCK, addr, atomic_load_explicit(&l->obj, RELAXED),
               0, s2, 0);
}

/* An unlock of a lock the caller does not hold: misuse, unless the lock
 * was never seen locked (it may have been locked before tracing began). */
static void release_unheld(struct tg__thread *t, const void *addr, bool rw)
{
    struct tg__lock *l = tg__lock_find(addr);
    if (!l || t->held_lost || !tg__lock_seen(l))
        return;
    uint32_t owner = tg__lock_owner(l, addr);
    uint32_t obj = atomic_load_explicit(&l->obj, RELAXED);
    if (owner && owner != t->id)
        tg__misuse(TG_MIS_UNLOCK_FOREIGN, addr, obj, 0,
                   foreign_stack(t, l, owner, addr), owner);
    else if (!rw || !atomic_load_explicit(&l->readers, RELAXED))
        tg__misuse(TG_MIS_UNLOCK_NOT_HELD, addr, obj, 0, 0, 0);
}

/* Bookkeeping before the real unlock (after it, another thread may own
 * the lock). Returns the mode held, or -1 if the caller did not hold it. */
static inline __attribute__((always_inline)) int
releasing(struct tg__thread *t, const void *addr, bool rw)
{
    int i;
    /* Locks are mostly released innermost first. */
    if (likely(t->nheld && t->held[t->nheld - 1].addr == (uintptr_t)addr))
        i = (int)t->nheld - 1;
    else if ((i = tg__held_find(t, addr)) < 0) {
        release_unheld(t, addr, rw);
        return -1;
    }
    struct tg__held *h = &t->held[i];
    int mode = (int)h->mode;
    struct tg__lock *l = h->lock;
    if (h->count > 1) {
        h->count--;       /* recursive: still held */
        if (mode == 1 && l)
            atomic_fetch_sub_explicit(&l->readers, 1, RELAXED);
        return mode;
    }
    if ((uint32_t)i == t->nheld - 1) {
        t->nheld--;
        if (t->mirrored > (uint32_t)i)
            t->mirrored = (uint32_t)i;
    } else {
        tg__held_remove(t, i);
    }
    if (l) {
        if (mode == 0) {
            if (atomic_load_explicit(&l->owner, RELAXED))
                atomic_store_explicit(&l->owner, 0, RELAXED);
        } else {
            atomic_fetch_sub_explicit(&l->readers, 1, RELAXED);
        }
        /* Release numbers are for full mode's LOCK/UNLOCK events. */
        if (tg__g.opt.full) {
            uint32_t rel;
            if (rw || mode) {
                rel = atomic_fetch_add_explicit(&l->releases, 1, RELEASE) + 1;
            } else {
                /* Exclusive: only the holder writes it. */
                rel = atomic_load_explicit(&l->releases, RELAXED) + 1;
                atomic_store_explicit(&l->releases, rel, RELEASE);
            }
            tg__ev_append(t, TG_EV_UNLOCK, (uint8_t)mode, 0, (uintptr_t)addr, rel);
        }
    }
    if (unlikely(tg__rc_on)) {
        if (l)
            race_lock(l, addr, (uint32_t)mode, false);
        else
            tg__race_lock((uintptr_t)addr, (uint32_t)mode, false);
    }
    return mode;
}

/* Misuse check for destroying a lock, then the object's end. */
static void destroying(struct tg__thread *t, const void *addr)
{
    struct tg__lock *l = tg__lock_find(addr);
    if (!l)
        return;
    uint32_t owner = tg__lock_owner(l, addr);
    uint32_t obj = atomic_load_explicit(&l->obj, RELAXED);
    if (owner || atomic_load_explicit(&l->readers, RELAXED)) {
        uint32_t s2 = 0;
        int i = tg__held_find(t, addr);
        if (i >= 0)
            s2 = held_stack(t, i);
        else if (owner)
            s2 = foreign_stack(t, l, owner, addr);
        tg__misuse(TG_MIS_DESTROY_LOCKED, addr, obj, 0, s2, owner);
    }
    int i = tg__held_find(t, addr);
    if (i >= 0) {
        t->held[i].count = 1;
        tg__held_remove(t, i);
    }
    t->guard++;
    tg__obj_destroy(addr, 0);
    t->guard--;
}

static void created(struct tg__thread *t, const void *addr, uint32_t kind,
                    uint32_t flags, uint64_t a)
{
    struct tg__obj_init in = { .kind = kind, .flags = flags, .a = a };
    t->guard++;
    struct tg__lock *l = tg__obj_create(addr, &in) ? tg__lock_find(addr) : NULL;
    t->guard--;
    /* Its whole life is seen: an unlock that finds it unheld is misuse. */
    if (l)
        atomic_fetch_or_explicit(&l->flags, TG__LK_SEEN, RELAXED);
}

/* ---- mutex ------------------------------------------------------------------ */

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
{
    int rc = REAL(pthread_mutex_init)(m, attr);
    struct tg__thread *t = hot_me();
    if (rc == 0 && t)
        created(t, m, TG_LOBJ_MUTEX, mutex_flags(m), 0);
    return rc;
}

int pthread_mutex_destroy(pthread_mutex_t *m)
{
    struct tg__thread *t = hot_me();
    if (t)
        destroying(t, m);
    return REAL(pthread_mutex_destroy)(m);
}

/* ---- a contended lock: wait in user space first ---- */

/* A thread that finds a mutex held sleeps in the kernel, and the holder's
 * unlock then wakes it: a system call on each side, microseconds of the
 * holder's time, and the lock changing hands (with every line the shim
 * keeps for it) at each wake. The shim's own work under the lock makes
 * the holder's stretches longer, so waiters find the lock held more often:
 * under plain glibc two threads taking one mutex in turn made 0.3 million
 * futex calls in 8 million hand-overs, under the shim's race checker 3.6
 * million, and those calls were most of its time. So the waiter first
 * polls the lock (a mutex's word is read first: the holder keeps its line
 * until it lets go) at widening gaps, up to lock_spin microseconds, and
 * sleeps only after that; untimed mutex and rwlock waits do so. A holder
 * that takes the lock again at once then runs on undisturbed for a
 * while, as under glibc, instead of paying a wake. At most all CPUs but
 * one spin at a time, and none with one CPU. */
static _Atomic int spinners;

/* The first look after 1 us, then at gaps doubling to 4 us. A look costs
 * a running holder a cache miss at its next lock (the line was shared),
 * and a look that finds the lock free between the holder's unlock and
 * its next lock hands the lock, and every line the shim keeps for it,
 * over: looking more often made more hand-overs and no faster a program
 * (race_bench lock: 330,000 hand-overs with a first gap of 250 ns, 85,000
 * with 1 us). A sleeping waiter, for comparison, is woken some
 * microseconds after the unlock. */
enum { SPIN_GAP0 = 1000, SPIN_GAPMAX = 4000 };
static _Atomic int spin_cpus = -1;

/* Monotonic nanoseconds; -1 if the clock cannot be read (the waiter then
 * sleeps at once). */
static inline int64_t spin_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tg__spin_after_fork(void)
{
    atomic_store_explicit(&spinners, 0, RELAXED);
}

/* The real try functions, one signature. */
typedef int (*try_lock_fn)(void *lock);
static int try_mutex(void *m)
{
    return REAL(pthread_mutex_trylock)(m);
}
static int try_rdlock(void *rw)
{
    return REAL(pthread_rwlock_tryrdlock)(rw);
}
static int try_wrlock(void *rw)
{
    return REAL(pthread_rwlock_trywrlock)(rw);
}

/* 0 (or EOWNERDEAD and the like) once try_lock took the lock; EBUSY if
 * it stayed held through the budget, or spinning does not apply. word,
 * if not NULL, is read first at each look and is 0 when the lock is
 * free. */
static __attribute__((noinline)) int spin_wait(try_lock_fn try_lock, void *lock,
                                               const int *word)
{
    unsigned budget = tg__g.opt.lock_spin_us;
    if (!budget)
        return EBUSY;
    int cpus = atomic_load_explicit(&spin_cpus, RELAXED);
    if (cpus < 0) {
        /* The CPUs the process may run on (by system call and popcount,
         * which touch no more of libc than the shim already does); all
         * online ones where that set does not fit the mask. */
        unsigned long mask[1024 / (8 * sizeof(unsigned long))];
        long n = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
        if (n > 0) {
            cpus = 0;
            for (long i = 0; i < n / (long)sizeof *mask; i++)
                cpus += __builtin_popcountl(mask[i]);
        } else {
            cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
        }
        atomic_store_explicit(&spin_cpus, cpus, RELAXED);
    }
    int rc = EBUSY;
    if (atomic_fetch_add_explicit(&spinners, 1, RELAXED) < cpus - 1) {
        int64_t now = spin_now(), end = now + (int64_t)budget * 1000;
        int64_t gap = SPIN_GAP0;
        while (now >= 0 && now < end) {
            int64_t next = now + gap;
            do {
                tg__cpu_relax();
                now = spin_now();
            } while (now >= 0 && now < next);
            if (now < 0)
                break;
            if ((!word || __atomic_load_n(word, __ATOMIC_RELAXED) == 0) &&
                (rc = try_lock(lock)) != EBUSY)
                break;
            if (gap < SPIN_GAPMAX)
                gap *= 2;
        }
    }
    atomic_fetch_sub_explicit(&spinners, 1, RELAXED);
    return rc;
}

/* how: 0 lock, 1 timed (clock, abs) */
static __attribute__((noinline)) int mutex_wait(struct tg__thread *t, struct tg__lock *l,
                      pthread_mutex_t *m, int how, clockid_t clock,
                      const struct timespec *abs, uintptr_t pc, uintptr_t cfa)
{
    bool mine = mutex_mine(t, l, m);
    if (unlikely(mine)) {
        if (!(mutex_flags(m) & TG_OBJF_RECURSIVE))
            relock(t, l, m);
    }
    int rc = REAL(pthread_mutex_trylock)(m);
    uint32_t stack = 0;
    /* A relock would wait for itself: no point spinning. */
    if (rc == EBUSY && how == 0 && !mine)
        rc = spin_wait(try_mutex, m, &m->__data.__lock);
    if (rc == EBUSY) {
        tg__block(t, TG_WAIT_MUTEX, m, 0,
                  how ? tg__deadline(clock, abs) : INT64_MAX, 0);
        stack = t->rec ? t->rec->wait_stack : 0;
        tg__acquiring(t, obj_of(t, l, m, TG_LOBJ_MUTEX), m, 0, stack);
        if (how == 0)
            rc = REAL(pthread_mutex_lock)(m);
        else
            rc = REAL(pthread_mutex_clocklock)(m, clock, abs);
        tg__unblock(t);
    }
    if (rc == 0 || rc == EOWNERDEAD)
        taken(t, l, m, TG_LOBJ_MUTEX, 0, stack != 0, pc, cfa, stack);
    return rc;
}

/* The lock calls' bodies, inlined into each exported function so that pc
 * and cfa are the program's call site, whichever of the pthread and C11
 * names it called. */
static inline __attribute__((always_inline)) int
mutex_lock_at(pthread_mutex_t *m, uintptr_t pc, uintptr_t cfa)
{
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (unlikely(!t || !(l = tg__lock_get(m))))
        return REAL(pthread_mutex_lock)(m);
    /* Uncontended: the fast path. A relock fails the trylock (or, on a
     * recursive mutex, succeeds as it should) and is caught in mutex_wait. */
    int rc;
    if (__libc_single_threaded) {
        /* No other thread can hold it (a process-shared mutex aside),
         * and glibc's lock skips its atomic instructions while the
         * process has one thread; its trylock does not. */
        if (likely(!mutex_mine(t, l, m))) {
            rc = REAL(pthread_mutex_lock)(m);
            if (likely(rc == 0) || rc == EOWNERDEAD)
                taken(t, l, m, TG_LOBJ_MUTEX, 0, false, pc, cfa, 0);
            return rc;
        }
    } else {
        rc = REAL(pthread_mutex_trylock)(m);
        if (likely(rc == 0) || rc == EOWNERDEAD) {
            taken(t, l, m, TG_LOBJ_MUTEX, 0, false, pc, cfa, 0);
            return rc;
        }
        if (rc != EBUSY)
            return rc;
    }
    return mutex_wait(t, l, m, 0, CLOCK_REALTIME, NULL, pc, cfa);
}

static inline __attribute__((always_inline)) int
mutex_timedlock_at(pthread_mutex_t *m, const struct timespec *abs,
                   uintptr_t pc, uintptr_t cfa)
{
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (!t || !(l = tg__lock_get(m)))
        return REAL(pthread_mutex_timedlock)(m, abs);
    return mutex_wait(t, l, m, 1, CLOCK_REALTIME, abs, pc, cfa);
}

static inline __attribute__((always_inline)) int
mutex_trylock_at(pthread_mutex_t *m, uintptr_t pc, uintptr_t cfa)
{
    int rc = REAL(pthread_mutex_trylock)(m);
    if (rc != 0 && rc != EOWNERDEAD)
        return rc;
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (t && (l = tg__lock_get(m)))
        taken(t, l, m, TG_LOBJ_MUTEX, 0, true, pc, cfa, 0);
    return rc;
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
    return mutex_lock_at(m, SITE_PC, SITE_CFA);
}

int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
    return mutex_timedlock_at(m, abs, SITE_PC, SITE_CFA);
}

int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clock,
                            const struct timespec *abs)
{
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (!t || !(l = tg__lock_get(m)))
        return REAL(pthread_mutex_clocklock)(m, clock, abs);
    return mutex_wait(t, l, m, 1, clock, abs, SITE_PC, SITE_CFA);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
    return mutex_trylock_at(m, SITE_PC, SITE_CFA);
}

/* ---- C11 mutexes: glibc's mtx_* lock a pthread mutex without a call an
 * interposer sees. An mtx_t is a pthread_mutex_t. ---- */

int mtx_init(mtx_t *mtx, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, type & mtx_recursive ? PTHREAD_MUTEX_RECURSIVE
                                                          : PTHREAD_MUTEX_NORMAL);
    int rc = pthread_mutex_init((pthread_mutex_t *)mtx, &attr);
    pthread_mutexattr_destroy(&attr);
    return tg__thrd_rc(rc);
}

int mtx_lock(mtx_t *mtx)
{
    return tg__thrd_rc(mutex_lock_at((pthread_mutex_t *)mtx, SITE_PC, SITE_CFA));
}

int mtx_timedlock(mtx_t *restrict mtx, const struct timespec *restrict abs)
{
    return tg__thrd_rc(mutex_timedlock_at((pthread_mutex_t *)mtx, abs, SITE_PC, SITE_CFA));
}

int mtx_trylock(mtx_t *mtx)
{
    return tg__thrd_rc(mutex_trylock_at((pthread_mutex_t *)mtx, SITE_PC, SITE_CFA));
}

int mtx_unlock(mtx_t *mtx)
{
    return tg__thrd_rc(pthread_mutex_unlock((pthread_mutex_t *)mtx));
}

void mtx_destroy(mtx_t *mtx)
{
    pthread_mutex_destroy((pthread_mutex_t *)mtx);
}

int pthread_mutex_unlock(pthread_mutex_t *m)
{
    struct tg__thread *t = hot_me();
    if (likely(t != NULL))
        releasing(t, m, false);
    return REAL(pthread_mutex_unlock)(m);
}

/* ---- rwlock --------------------------------------------------------------------- */

int pthread_rwlock_init(pthread_rwlock_t *rw, const pthread_rwlockattr_t *attr)
{
    int rc = REAL(pthread_rwlock_init)(rw, attr);
    struct tg__thread *t = hot_me();
    if (rc == 0 && t)
        created(t, rw, TG_LOBJ_RWLOCK, 0, 0);
    return rc;
}

int pthread_rwlock_destroy(pthread_rwlock_t *rw)
{
    struct tg__thread *t = hot_me();
    if (t)
        destroying(t, rw);
    return REAL(pthread_rwlock_destroy)(rw);
}

/* mode 0 write, 1 read; how 0 blocking, 1 timed. */
static int rw_wait(struct tg__thread *t, struct tg__lock *l, pthread_rwlock_t *rw,
                   uint32_t mode, int how, clockid_t clock,
                   const struct timespec *abs, uintptr_t pc, uintptr_t cfa)
{
    int i = tg__held_find(t, rw);
    /* A writer relocking, or a reader asking to write: both hang. */
    if (i >= 0 && (t->held[i].mode == 0 || mode == 0))
        relock(t, l, rw);
    int rc = mode ? REAL(pthread_rwlock_tryrdlock)(rw)
                  : REAL(pthread_rwlock_trywrlock)(rw);
    uint32_t stack = 0;
    if (rc == EBUSY && how == 0 && i < 0)
        rc = spin_wait(mode ? try_rdlock : try_wrlock, rw, NULL);
    if (rc == EBUSY) {
        tg__block(t, mode ? TG_WAIT_RWLOCK_RD : TG_WAIT_RWLOCK_WR, rw, 0,
                  how ? tg__deadline(clock, abs) : INT64_MAX, 0);
        stack = t->rec ? t->rec->wait_stack : 0;
        tg__acquiring(t, obj_of(t, l, rw, TG_LOBJ_RWLOCK), rw, mode, stack);
        if (how == 0)
            rc = mode ? REAL(pthread_rwlock_rdlock)(rw)
                      : REAL(pthread_rwlock_wrlock)(rw);
        else
            rc = mode ? REAL(pthread_rwlock_clockrdlock)(rw, clock, abs)
                      : REAL(pthread_rwlock_clockwrlock)(rw, clock, abs);
        tg__unblock(t);
    }
    if (rc == 0)
        taken(t, l, rw, TG_LOBJ_RWLOCK, mode, stack != 0, pc, cfa, stack);
    return rc;
}

#define RW_ENTRY(name, mode, how, clock, abs, realcall)                        \
    struct tg__thread *t = hot_me();                                        \
    struct tg__lock *l;                                                     \
    if (!t || !(l = tg__lock_get(rw)))                                      \
        return realcall;                                                    \
    return rw_wait(t, l, rw, mode, how, clock, abs, SITE_PC, SITE_CFA)

int pthread_rwlock_rdlock(pthread_rwlock_t *rw)
{
    RW_ENTRY(rdlock, 1, 0, CLOCK_REALTIME, NULL, REAL(pthread_rwlock_rdlock)(rw));
}

int pthread_rwlock_wrlock(pthread_rwlock_t *rw)
{
    RW_ENTRY(wrlock, 0, 0, CLOCK_REALTIME, NULL, REAL(pthread_rwlock_wrlock)(rw));
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t *rw, const struct timespec *abs)
{
    RW_ENTRY(timedrdlock, 1, 1, CLOCK_REALTIME, abs,
             REAL(pthread_rwlock_timedrdlock)(rw, abs));
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t *rw, const struct timespec *abs)
{
    RW_ENTRY(timedwrlock, 0, 1, CLOCK_REALTIME, abs,
             REAL(pthread_rwlock_timedwrlock)(rw, abs));
}

int pthread_rwlock_clockrdlock(pthread_rwlock_t *rw, clockid_t clock,
                               const struct timespec *abs)
{
    RW_ENTRY(clockrdlock, 1, 1, clock, abs,
             REAL(pthread_rwlock_clockrdlock)(rw, clock, abs));
}

int pthread_rwlock_clockwrlock(pthread_rwlock_t *rw, clockid_t clock,
                               const struct timespec *abs)
{
    RW_ENTRY(clockwrlock, 0, 1, clock, abs,
             REAL(pthread_rwlock_clockwrlock)(rw, clock, abs));
}

int pthread_rwlock_tryrdlock(pthread_rwlock_t *rw)
{
    int rc = REAL(pthread_rwlock_tryrdlock)(rw);
    struct tg__thread *t;
    struct tg__lock *l;
    if (rc == 0 && (t = hot_me()) && (l = tg__lock_get(rw)))
        taken(t, l, rw, TG_LOBJ_RWLOCK, 1, true, SITE_PC, SITE_CFA, 0);
    return rc;
}

int pthread_rwlock_trywrlock(pthread_rwlock_t *rw)
{
    int rc = REAL(pthread_rwlock_trywrlock)(rw);
    struct tg__thread *t;
    struct tg__lock *l;
    if (rc == 0 && (t = hot_me()) && (l = tg__lock_get(rw)))
        taken(t, l, rw, TG_LOBJ_RWLOCK, 0, true, SITE_PC, SITE_CFA, 0);
    return rc;
}

int pthread_rwlock_unlock(pthread_rwlock_t *rw)
{
    struct tg__thread *t = hot_me();
    if (t)
        releasing(t, rw, true);
    return REAL(pthread_rwlock_unlock)(rw);
}

/* ---- spin locks ------------------------------------------------------------------ */

int pthread_spin_init(pthread_spinlock_t *s, int pshared)
{
    int rc = REAL(pthread_spin_init)(s, pshared);
    struct tg__thread *t = hot_me();
    if (rc == 0 && t)
        created(t, (void *)s, TG_LOBJ_SPIN, 0, 0);
    return rc;
}

int pthread_spin_destroy(pthread_spinlock_t *s)
{
    struct tg__thread *t = hot_me();
    if (t)
        destroying(t, (void *)s);
    return REAL(pthread_spin_destroy)(s);
}

int pthread_spin_lock(pthread_spinlock_t *s)
{
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (!t || !(l = tg__lock_get((void *)s)))
        return REAL(pthread_spin_lock)(s);
    if (unlikely(atomic_load_explicit(&l->owner, RELAXED) == t->id))
        relock(t, l, (void *)s);
    int rc = REAL(pthread_spin_trylock)(s);
    uint32_t stack = 0;
    if (rc == EBUSY) {
        tg__block(t, TG_WAIT_SPIN, (void *)s, 0, INT64_MAX, 0);
        stack = t->rec ? t->rec->wait_stack : 0;
        tg__acquiring(t, obj_of(t, l, (void *)s, TG_LOBJ_SPIN), (void *)s, 0, stack);
        rc = REAL(pthread_spin_lock)(s);
        tg__unblock(t);
    }
    if (rc == 0)
        taken(t, l, (void *)s, TG_LOBJ_SPIN, 0, stack != 0, SITE_PC, SITE_CFA, stack);
    return rc;
}

int pthread_spin_trylock(pthread_spinlock_t *s)
{
    int rc = REAL(pthread_spin_trylock)(s);
    struct tg__thread *t;
    struct tg__lock *l;
    if (rc == 0 && (t = hot_me()) && (l = tg__lock_get((void *)s)))
        taken(t, l, (void *)s, TG_LOBJ_SPIN, 0, true, SITE_PC, SITE_CFA, 0);
    return rc;
}

int pthread_spin_unlock(pthread_spinlock_t *s)
{
    struct tg__thread *t = hot_me();
    if (t)
        releasing(t, (void *)s, false);
    return REAL(pthread_spin_unlock)(s);
}

/* ---- locks of the program's own, annotated for TSan ----------------------
 * <sanitizer/tsan_interface.h>'s __tsan_mutex_* calls, which code with a
 * lock of its own makes so that TSan knows it: the lock is taken (its
 * post_lock) and let go (its pre_unlock) like a pthread lock, so it orders
 * memory for the race checker and its orders enter the lock-order graph.
 * Between a (write, not try) pre_lock and its post_lock the thread counts
 * as blocked on the lock, for the watchdog, when another thread held the
 * lock at the pre_lock: the program's own code does the waiting, so that
 * is the only sign of contention there is (a thread whose lock was taken
 * in the instant after it looked is not seen waiting). The flags are
 * TSan's. */
enum {
    TSAN_MUTEX_READ_LOCK = 1u << 3,
    TSAN_MUTEX_TRY_LOCK = 1u << 4,
    TSAN_MUTEX_TRY_LOCK_FAILED = 1u << 5,
    TSAN_MUTEX_WRITE_REENTRANT = 1u << 1,
};

void __tsan_mutex_create(void *addr, unsigned flags)
{
    struct tg__thread *t = hot_me();
    if (t && addr)
        created(t, addr, TG_LOBJ_LOCK,
                flags & TSAN_MUTEX_WRITE_REENTRANT ? TG_OBJF_RECURSIVE : 0, 0);
}

void __tsan_mutex_destroy(void *addr, unsigned flags)
{
    (void)flags;
    struct tg__thread *t = hot_me();
    if (t && addr)
        destroying(t, addr);
}

/* The acquisition's stack. The call site is inside the program's lock
 * function, whose caller is the acquisition a report must show: a whole
 * stack, then (cached per call path after the first). */
static uint32_t own_lock_stack(struct tg__thread *t)
{
    t->guard++;
    uint32_t stack = tg__stack_site();
    t->guard--;
    return stack;
}

void __tsan_mutex_pre_lock(void *addr, unsigned flags)
{
    /* A try does not wait; a reader waits only for writers, which hold
     * no owner slot to name: neither is marked. Nor is a free lock, or a
     * relock of a reentrant one. */
    if (!addr || (flags & (TSAN_MUTEX_TRY_LOCK | TSAN_MUTEX_READ_LOCK)))
        return;
    struct tg__thread *t = hot_me();
    struct tg__lock *l;
    if (!t || !(l = tg__lock_get(addr)))
        return;
    uint32_t owner = atomic_load_explicit(&l->owner, RELAXED);
    if (owner && owner != t->id)
        tg__block(t, TG_WAIT_LOCK, addr, 0, INT64_MAX, own_lock_stack(t));
}

void __tsan_mutex_post_lock(void *addr, unsigned flags, int recursion)
{
    (void)recursion;
    struct tg__thread *t = hot_me();
    if (!t)
        return;
    /* The stack pre_lock took, if it marked the wait. */
    uint32_t stack = 0;
    struct tg_log_thread *r = t->rec;
    if (r && r->state == TG_TS_BLOCKED && r->wait_op == TG_WAIT_LOCK) {
        if (r->wait_obj == (uintptr_t)addr)
            stack = r->wait_stack;
        tg__unblock(t);
    }
    struct tg__lock *l;
    if (!addr || (flags & TSAN_MUTEX_TRY_LOCK_FAILED) || !(l = tg__lock_get(addr)))
        return;
    if (!stack)
        stack = own_lock_stack(t);
    taken(t, l, addr, TG_LOBJ_LOCK, flags & TSAN_MUTEX_READ_LOCK ? 1 : 0,
          (flags & TSAN_MUTEX_TRY_LOCK) != 0, SITE_PC, SITE_CFA, stack);
}

int __tsan_mutex_pre_unlock(void *addr, unsigned flags)
{
    struct tg__thread *t = hot_me();
    if (t && addr)
        releasing(t, addr, (flags & TSAN_MUTEX_READ_LOCK) != 0);
    return 0;
}

void __tsan_mutex_post_unlock(void *addr, unsigned flags)
{
    (void)addr;
    (void)flags;
}

/* Signalling from inside a lock, and calls out of the lock's code: nothing
 * to record. */
void __tsan_mutex_pre_signal(void *addr, unsigned flags)
{
    (void)addr;
    (void)flags;
}

void __tsan_mutex_post_signal(void *addr, unsigned flags)
{
    (void)addr;
    (void)flags;
}

void __tsan_mutex_pre_divert(void *addr, unsigned flags)
{
    (void)addr;
    (void)flags;
}

void __tsan_mutex_post_divert(void *addr, unsigned flags)
{
    (void)addr;
    (void)flags;
}

/* ---- for cond.c: the mutex a condition wait gives up and takes back ---- */

/* Releases m's bookkeeping before a condition wait (the real wait unlocks
 * it). Returns the held entry's recursive count (0: not held). */
uint32_t tg__cond_release(struct tg__thread *t, pthread_mutex_t *m,
                          struct tg__held *save);
uint32_t tg__cond_release(struct tg__thread *t, pthread_mutex_t *m,
                          struct tg__held *save)
{
    int i = tg__held_find(t, m);
    if (i < 0)
        return 0;
    *save = t->held[i];
    t->held[i].count = 1;
    releasing(t, m, false);
    return save->count;
}

/* Takes back m's bookkeeping after a condition wait returned. */
void tg__cond_reacquire(struct tg__thread *t, pthread_mutex_t *m,
                        const struct tg__held *save, uint32_t stack);
void tg__cond_reacquire(struct tg__thread *t, pthread_mutex_t *m,
                        const struct tg__held *save, uint32_t stack)
{
    struct tg__lock *l = tg__lock_get(m);
    if (!l)
        return;
    /* No lock-order edge: the wait reacquires what the caller held. */
    taken(t, l, m, TG_LOBJ_MUTEX, 0, true, save->pc, save->cfa,
          save->stack ? save->stack : stack);
    int i = tg__held_find(t, m);
    if (i >= 0)
        t->held[i].count = save->count;
}
