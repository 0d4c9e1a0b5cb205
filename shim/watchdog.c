/*
 * shim/watchdog.c: finds deadlocks that are happening now.
 *
 * A thread of the shim's own (flagged internal, named "tangle-watchdog")
 * wakes every interval and reads the thread table, never the program's
 * locks, so it can neither hang nor slow the program. From what each
 * thread is blocked on it builds the wait-for graph (a mutex, spin lock or
 * write-locked rwlock points to its owner; a writer waiting on a
 * read-locked rwlock points to every reader; a join points to the joined
 * thread) and looks for cycles. Separately it checks Go's "all goroutines
 * are asleep": every live program thread blocked with no deadline for at
 * least an interval. Both must look the same on two passes in a row, so a
 * state caught mid-change is never reported; each distinct deadlock is
 * reported once. With deadlock_abort=1 the watchdog then writes the final
 * snapshot (proc_state DEADLOCKED) and ends the process with SIGKILL, so
 * a CI run gets a report instead of a timeout. The watchdog is joinable
 * and leaves when the program's last thread does (tg__watchdog_stop): a
 * process whose main called pthread_exit must still end with its last
 * thread, as glibc ends it without the shim.
 */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

int tg__internal_thread(pthread_t *th, void *(*fn)(void *), void *arg);

struct snap {
    uint32_t id, flags, state, op, stack;
    int tid;
    bool live;
    bool final;                 /* exited: the snapshot will not change */
    uint64_t obj, obj2, since;
    int64_t deadline;
    uint32_t nheld;
    struct tg_log_held held[TG_LOG_MAX_HELD];
};

static struct snap *cur;
/* This pass's live threads by kernel tid (a mutex names its holder by
 * tid): open addressing over 2 * cap slots, a slot is current when its
 * pass matches. */
struct tid_slot {
    int tid;
    uint32_t id;
    uint64_t pass;
};
static struct tid_slot *tid_ix;
static size_t tid_cap;
static uint64_t pass_no;
static uint64_t *prev_sig;      /* per thread: since ^ op ^ obj of last pass */
static uint8_t *color;
static uint32_t *parent_of;
static uint32_t nthreads;
static uint32_t settled;        /* records 1..settled: exited, snapshot final */
static uint64_t pending_cycle, pending_asleep;
#define MAX_REPORTED 256
static uint64_t reported[MAX_REPORTED];
static int nreported;

static bool read_thread(uint32_t id, struct snap *s)
{
    struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, id);
    memset(s, 0, sizeof *s - sizeof s->held);
    s->id = id;
    if (!r || atomic_load_explicit(&r->commit, ACQUIRE) != TG_LOG_COMMITTED)
        return false;
    for (int tries = 0; tries < 8; tries++) {
        uint32_t q = atomic_load_explicit(&r->seq, ACQUIRE);
        if (q & 1)
            continue;
        s->state = r->state;
        s->op = r->wait_op;
        s->stack = r->wait_stack;
        s->obj = r->wait_obj;
        s->obj2 = r->wait_obj2;
        s->since = r->wait_since_ns;
        s->deadline = r->wait_deadline_ns;
        s->nheld = r->held_count < TG_LOG_MAX_HELD ? r->held_count : TG_LOG_MAX_HELD;
        memcpy(s->held, r->held, s->nheld * sizeof s->held[0]);
        atomic_thread_fence(ACQUIRE);
        if (atomic_load_explicit(&r->seq, RELAXED) == q)
            break;
    }
    s->flags = atomic_load_explicit(&r->flags, RELAXED);
    s->tid = r->os_tid;
    s->live = s->state != TG_TS_EXITED &&
              !atomic_load_explicit(&r->exited_ns, RELAXED) &&
              !(s->flags & (TG_THRF_INTERNAL | TG_THRF_FOREIGN));
    return true;
}

/* A wait another process (or a signal handler) may end: on a
 * process-shared object. Such a thread is not asleep for good. The object
 * is valid memory: the thread is blocked on it. */
static bool waits_on_shared(const struct snap *s)
{
    void *p = (void *)(uintptr_t)s->obj;
    if (!p)
        return false;
    switch (s->op) {
    case TG_WAIT_MUTEX:
        return ((const pthread_mutex_t *)p)->__data.__kind & 128;
    case TG_WAIT_COND:
        return ((const pthread_cond_t *)p)->__data.__wrefs & 1;
    case TG_WAIT_SEM: {
        /* glibc's sem_t: a 64-bit value, then `private`, which holds
         * FUTEX_SHARED (128) for a process-shared semaphore. */
        const int *priv = (const int *)((const char *)p + 8);
        return *priv != 0;
    }
    default:
        return false;
    }
}

static bool waits_forever(const struct snap *s)
{
    return s->live && s->state == TG_TS_BLOCKED && s->deadline == INT64_MAX &&
           s->op != TG_WAIT_NONE && s->op != TG_WAIT_SLEEP;
}

static uint64_t tid_pass;       /* the pass tid_ix was built in */

/* Indexes the pass's live threads, on the pass's first lookup: a pass
 * with no thread waiting on a mutex builds nothing. */
static void tid_index(void)
{
    tid_pass = pass_no;
    for (uint32_t i = settled; i < nthreads; i++) {
        const struct snap *s = &cur[i];
        if (!s->live || s->tid <= 0)
            continue;
        size_t h = ((size_t)s->tid * 0x9e3779b9u) & (tid_cap - 1);
        while (tid_ix[h].pass == pass_no && tid_ix[h].tid != s->tid)
            h = (h + 1) & (tid_cap - 1);
        tid_ix[h] = (struct tid_slot){ s->tid, s->id, pass_no };
    }
}

static uint32_t tid_lookup(int tid)
{
    if (tid <= 0)
        return 0;
    if (tid_pass != pass_no)
        tid_index();
    size_t h = ((size_t)tid * 0x9e3779b9u) & (tid_cap - 1);
    for (; tid_ix[h].pass == pass_no; h = (h + 1) & (tid_cap - 1))
        if (tid_ix[h].tid == tid)
            return tid_ix[h].id;
    return 0;
}

/* Threads s waits for; returns how many (up to max). */
static int successors(const struct snap *s, uint32_t *out, int max)
{
    if (!waits_forever(s))
        return 0;
    int n = 0;
    switch (s->op) {
    case TG_WAIT_MUTEX:
    case TG_WAIT_SPIN:
    case TG_WAIT_LOCK:
    case TG_WAIT_RWLOCK_RD:
    case TG_WAIT_RWLOCK_WR: {
        struct tg__lock *l = tg__lock_find((void *)(uintptr_t)s->obj);
        uint32_t owner = l ? atomic_load_explicit(&l->owner, RELAXED) : 0;
        if (!owner && s->op == TG_WAIT_MUTEX)
            owner = tid_lookup(tg__mutex_tid((void *)(uintptr_t)s->obj, true));
        if (owner && owner <= nthreads)
            out[n++] = owner;
        if (s->op == TG_WAIT_RWLOCK_WR && !owner) {
            for (uint32_t i = 0; i < nthreads && n < max; i++)
                for (uint32_t k = 0; k < cur[i].nheld; k++)
                    if (cur[i].held[k].addr == s->obj && cur[i].held[k].mode == 1)
                        out[n++] = cur[i].id;
        }
        break;
    }
    case TG_WAIT_JOIN:
        if (s->obj2 && s->obj2 <= nthreads)
            out[n++] = (uint32_t)s->obj2;
        break;
    default:
        break;
    }
    return n;
}

static bool seen(uint64_t sig)
{
    for (int i = 0; i < nreported; i++)
        if (reported[i] == sig)
            return true;
    return false;
}

static void remember(uint64_t sig)
{
    if (nreported < MAX_REPORTED)
        reported[nreported++] = sig;
}

static void end_process(void)
{
    if (!tg__g.opt.deadlock_abort)
        return;
    tg__finish(TG_PROC_DEADLOCKED, SIGKILL, false);
    kill(getpid(), SIGKILL);
}

static void report_cycle(const uint32_t *cyc, int n, uint64_t sig)
{
    struct tg_log_finding f = { .kind = TG_FIND_DEADLOCK };
    f.thread = cyc[0];
    f.obj = cur[cyc[0] - 1].obj;
    f.stack = cur[cyc[0] - 1].stack;
    f.value = (uint64_t)n;
    for (int i = 0; i < n && i < TG_LOG_MAX_CYCLE; i++) {
        const struct snap *s = &cur[cyc[i] - 1];
        f.threads[i].thread = s->id;
        f.threads[i].wait_op = s->op;
        f.threads[i].wait_stack = s->stack;
        f.threads[i].wait_obj = s->obj;
        f.threads[i].holder = cyc[(i + 1) % n];
        f.nthreads++;
    }
    f.thread2 = n > 1 ? cyc[1] : cyc[0];
    struct tg__lock *l = tg__lock_find((void *)(uintptr_t)f.obj);
    f.obj_id = l ? atomic_load_explicit(&l->obj, RELAXED) : 0;
    tg__finding_add(&f);
    remember(sig);
    if (n == 1)
        tg__warn("deadlock: thread %u waits for itself", cyc[0]);
    else
        tg__warn("deadlock: %d threads wait for each other (thread %u first)",
                 n, cyc[0]);
    end_process();
}

/* Depth-first search for wait-for cycles. Colors: 0 new, 1 on the path,
 * 2 done. A thread has at most a few successors and the graph is small
 * (threads), so recursion depth is bounded by the thread count. */
static bool dfs(uint32_t id, uint64_t *found_sig, uint32_t *cyc, int *ncyc)
{
    color[id - 1] = 1;
    uint32_t succ[16];
    int ns = successors(&cur[id - 1], succ, 16);
    for (int i = 0; i < ns; i++) {
        uint32_t s = succ[i];
        if (color[s - 1] == 1) {
            /* The cycle: s ... id, following parent_of back from id. */
            int n = 0;
            uint32_t path[TG_LOG_MAX_CYCLE * 4];
            for (uint32_t x = id; ; x = parent_of[x - 1]) {
                if (n < (int)(sizeof path / sizeof path[0]))
                    path[n++] = x;
                if (x == s || !parent_of[x - 1])
                    break;
            }
            /* path is id..s backwards; the cycle runs s -> ... -> id. */
            uint64_t sig = 0;
            for (int k = 0; k < n; k++) {
                cyc[k] = path[n - 1 - k];
                sig += (cur[cyc[k] - 1].since * 0x9e3779b97f4a7c15ull) ^ cyc[k];
            }
            *ncyc = n;
            *found_sig = sig ? sig : 1;
            return true;
        }
        if (color[s - 1] == 0) {
            parent_of[s - 1] = id;
            if (dfs(s, found_sig, cyc, ncyc))
                return true;
        }
    }
    color[id - 1] = 2;
    return false;
}

static void find_cycles(void)
{
    memset(color, 0, nthreads);
    memset(parent_of, 0, nthreads * sizeof parent_of[0]);
    uint64_t this_pass = 0;
    for (uint32_t i = 1; i <= nthreads; i++) {
        if (color[i - 1] || !waits_forever(&cur[i - 1]))
            continue;
        uint64_t sig = 0;
        uint32_t cyc[TG_LOG_MAX_CYCLE * 4];
        int n = 0;
        parent_of[i - 1] = 0;
        if (!dfs(i, &sig, cyc, &n))
            continue;
        if (seen(sig))
            continue;
        this_pass = sig;
        if (sig == pending_cycle) {
            report_cycle(cyc, n, sig);
            this_pass = 0;
        }
        break;   /* one new cycle per pass */
    }
    pending_cycle = this_pass;
}

static void find_all_asleep(uint64_t now, uint64_t interval)
{
    uint32_t live = 0, asleep = 0;
    uint64_t sig = 0;
    for (uint32_t i = 0; i < nthreads; i++) {
        const struct snap *s = &cur[i];
        if (!s->live)
            continue;
        live++;
        uint64_t mine = s->since ^ ((uint64_t)s->op << 56) ^ s->obj;
        bool same = prev_sig[i] == mine;
        prev_sig[i] = mine;
        if (waits_forever(s) && !waits_on_shared(s) &&
            now - s->since >= interval && same) {
            asleep++;
            sig += mine * 0x9e3779b97f4a7c15ull + s->id;
        }
    }
    if (!live || asleep != live) {
        pending_asleep = 0;
        return;
    }
    sig = sig ? sig : 1;
    if (seen(sig))
        return;
    if (pending_asleep != sig) {
        pending_asleep = sig;
        return;
    }
    struct tg_log_finding f = { .kind = TG_FIND_ALL_ASLEEP };
    for (uint32_t i = 0; i < nthreads; i++) {
        const struct snap *s = &cur[i];
        if (!s->live)
            continue;
        if (!f.thread) {
            f.thread = s->id;
            f.obj = s->obj;
            f.stack = s->stack;
        }
        if (f.nthreads < TG_LOG_MAX_CYCLE) {
            struct tg_log_finding_thread *ft = &f.threads[f.nthreads++];
            ft->thread = s->id;
            ft->wait_op = s->op;
            ft->wait_stack = s->stack;
            ft->wait_obj = s->obj;
            uint32_t succ[1];
            ft->holder = successors(s, succ, 1) ? succ[0] : 0;
        }
    }
    f.value = live;
    tg__finding_add(&f);
    remember(sig);
    tg__warn("every live thread (%u) is blocked forever: deadlock", live);
    end_process();
}

/* Sleeps until the monotonic time `until` (ns) or until asked to stop.
 * Returns true when asked to stop. A futex on the stop word, so that the
 * last program thread does not wait out a whole interval. */
static bool nap_until(uint64_t until)
{
    struct timespec ts = { (time_t)(until / 1000000000u),
                           (long)(until % 1000000000u) };
    while (!atomic_load_explicit(&tg__g.watchdog_stop, ACQUIRE)) {
        long rc = syscall(SYS_futex, &tg__g.watchdog_stop,
                          FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, &ts,
                          NULL, FUTEX_BITSET_MATCH_ANY);
        if (rc != 0 && errno == ETIMEDOUT)
            return atomic_load_explicit(&tg__g.watchdog_stop, ACQUIRE);
    }
    return true;
}

static void *watchdog(void *arg)
{
    (void)arg;
    struct tg__thread *t = &tg__self;
    t->guard++;   /* nothing this thread does is the program's */
    prctl(PR_SET_NAME, "tangle-watchdog", 0, 0, 0);
    if (t->rec)
        memcpy(t->rec->name, "tangle-watchdog", 16);
    uint64_t interval = (uint64_t)tg__g.opt.watchdog_ms * 1000000u;
    while (!nap_until(tg__now() + interval)) {
        if (!tg__on() || atomic_load_explicit(&tg__g.finished, ACQUIRE))
            continue;
        uint64_t now = tg__now();
        atomic_store_explicit(&tg__g.hdr->heartbeat_ns, now, RELEASE);
        uint64_t n = tg__threads_used();
        nthreads = (uint32_t)n;
        /* A thread that exited stays so: its snapshot is final and is not
         * read again. Records up to `settled` are all final, so a program
         * that has run many threads pays for them only while they live. */
        while (settled < nthreads && cur[settled].final)
            settled++;
        for (uint32_t i = settled + 1; i <= nthreads; i++) {
            if (cur[i - 1].final)
                continue;
            bool ok = read_thread(i, &cur[i - 1]);
            cur[i - 1].final =
                ok && cur[i - 1].state == TG_TS_EXITED &&
                atomic_load_explicit(&((struct tg_log_thread *)tg__rec_get(
                                         TG_SEC_THREADS, i))->exited_ns, ACQUIRE);
            if (i == settled + 1 && cur[i - 1].final)
                settled = i;
        }
        pass_no++;
        find_cycles();
        find_all_asleep(now, interval);
    }
    t->guard--;
    return NULL;
}

void tg__watchdog_stop(void)
{
    if (!atomic_exchange(&tg__g.watchdog_joinable, 0))
        return;
    struct tg__thread *me = &tg__self;
    me->guard++;
    atomic_store_explicit(&tg__g.watchdog_stop, 1, RELEASE);
    syscall(SYS_futex, &tg__g.watchdog_stop, FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
            1, NULL, NULL, 0);
    /* The join returns once the kernel has let the thread go, which is
     * after glibc counted it out: the caller is then the last thread. */
    pthread_join(tg__g.watchdog, NULL);
    atomic_store_explicit(&tg__g.watchdog_stop, 0, RELAXED);
    /* A thread the shim never saw start may yet block: start again then. */
    atomic_store(&tg__g.watchdog_running, 0);
    me->guard--;
}

void tg__watchdog_start(void)
{
    int expect = 0;
    if (!tg__g.opt.watchdog_ms ||
        !atomic_compare_exchange_strong(&tg__g.watchdog_running, &expect, 1))
        return;
    struct tg__thread *me = &tg__self;
    me->guard++;
    size_t cap = tg__g.cap[TG_SEC_THREADS];
    if (!cur) {
        for (tid_cap = 16; tid_cap < 2 * cap; tid_cap *= 2)
            ;
        size_t bytes = cap * (sizeof *cur + sizeof *prev_sig + 1 + sizeof *parent_of);
        char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        void *ix = mmap(NULL, tid_cap * sizeof *tid_ix, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED || ix == MAP_FAILED) {
            if (m != MAP_FAILED)
                munmap(m, bytes);
            if (ix != MAP_FAILED)
                munmap(ix, tid_cap * sizeof *tid_ix);
            me->guard--;
            return;
        }
        tid_ix = ix;
        cur = (struct snap *)m;
        prev_sig = (uint64_t *)(m + cap * sizeof *cur);
        parent_of = (uint32_t *)(m + cap * (sizeof *cur + sizeof *prev_sig));
        color = (uint8_t *)(m + cap * (sizeof *cur + sizeof *prev_sig +
                                       sizeof *parent_of));
    } else {
        /* After fork: the parent's passes say nothing about the child. */
        memset(prev_sig, 0, nthreads * sizeof *prev_sig);
        for (uint32_t i = 0; i < nthreads; i++)
            cur[i].final = false;
        nreported = 0;
        pending_cycle = pending_asleep = 0;
        settled = 0;
    }
    pthread_t th;
    atomic_store_explicit(&tg__g.watchdog_stop, 0, RELAXED);
    /* Joinable, not detached: tg__watchdog_stop must know when it is gone. */
    if (tg__internal_thread(&th, watchdog, NULL) == 0) {
        tg__g.watchdog = th;
        atomic_store(&tg__g.watchdog_joinable, 1);
    }
    me->guard--;
}
