/*
 * misuse.c: one API misuse per mode, each subkind of docs/report-format.md:
 * lock misuse (unlock not held, unlock by another thread, relock, destroy
 * while locked or waited on, exit holding a lock), condition misuse (wait
 * without the mutex, one condition with two mutexes) and libtangle misuse
 * (negative WaitGroup, send on a closed channel, double close, freeing a
 * channel a thread is parked on). Where a misuse would hang or crash for
 * real, the mode arranges a way out, so each run ends on its own and its
 * report shows the offending call and the earlier one it conflicts with.
 */
#include "progs.h"

static pthread_mutex_t m1 = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t m2 = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static _Atomic pid_t worker_tid;

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (ms % 1000) * 1000000L;
    ts->tv_sec += ms / 1000 + ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static int mode_unlock_not_held(int argc, char **argv)
{
    pthread_mutex_lock(&m1);
    pthread_mutex_unlock(&m1);
    pthread_mutex_unlock(&m1); /* LINE:unh_unlock */
    return 0;
}

/* pthread_mutex_init seen by the shim, then an unlock before any lock. */
static int mode_unlock_fresh(int argc, char **argv)
{
    pthread_mutex_t m;
    pthread_mutex_init(&m, NULL);
    pthread_mutex_unlock(&m); /* LINE:unf_unlock */
    pthread_mutex_destroy(&m);
    return 0;
}

static void *foreign_unlocker(void *arg)
{
    pthread_mutex_unlock(&m1); /* LINE:foreign_unlock */
    return NULL;
}

static int mode_unlock_foreign(int argc, char **argv)
{
    pthread_t t;
    pthread_mutex_lock(&m1); /* LINE:foreign_lock */
    pthread_create(&t, NULL, foreign_unlocker, NULL);
    pthread_join(t, NULL);
    return 0;
}

/* The relock would hang a plain mutex for good; timedlock lets the program
 * go on (and is a relock all the same: it can only time out). */
static int mode_relock(int argc, char **argv)
{
    struct timespec ts;
    pthread_mutex_lock(&m1); /* LINE:relock_first */
    deadline_in(&ts, 100);
    int err = pthread_mutex_timedlock(&m1, &ts); /* LINE:relock_again */
    printf("timedlock=%d\n", err);
    pthread_mutex_unlock(&m1);
    return 0;
}

static int mode_destroy_locked(int argc, char **argv)
{
    pthread_mutex_t m;
    pthread_mutex_init(&m, NULL);
    pthread_mutex_lock(&m); /* LINE:dl_lock */
    int err = pthread_mutex_destroy(&m); /* LINE:dl_destroy */
    printf("destroy=%d\n", err);
    pthread_mutex_unlock(&m);
    return 0;
}

static void *cond_sleeper(void *arg)
{
    pthread_mutex_lock(&m1);
    atomic_store(&worker_tid, prog_tid());
    pthread_cond_wait(&cv, &m1); /* LINE:dw_wait */
    pthread_mutex_unlock(&m1);
    return NULL;
}

static void *late_waker(void *arg)
{
    /* glibc's destroy waits for the waiters to leave: wake them after the
     * destroy has been called, so the program can finish. */
    prog_msleep(300);
    pthread_cond_broadcast(&cv);
    return NULL;
}

static int mode_destroy_waited(int argc, char **argv)
{
    pthread_t t, w;
    pthread_create(&t, NULL, cond_sleeper, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    pthread_create(&w, NULL, late_waker, NULL);
    pthread_cond_destroy(&cv); /* LINE:dw_destroy */
    pthread_join(t, NULL);
    pthread_join(w, NULL);
    return 0;
}

static void *lock_and_leave(void *arg)
{
    pthread_mutex_lock(&m1); /* LINE:ehl_lock */
    pthread_exit(NULL); /* LINE:ehl_exit */
}

static int mode_exit_holding(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, lock_and_leave, NULL);
    pthread_join(t, NULL);
    return 0;
}

/* The mutex was used before (it is a real lock of the program), but the
 * wait happens without holding it. */
static int mode_cond_unlocked(int argc, char **argv)
{
    struct timespec ts;
    pthread_mutex_lock(&m1);
    pthread_mutex_unlock(&m1);
    deadline_in(&ts, 20);
    int err = pthread_cond_timedwait(&cv, &m1, &ts); /* LINE:cwu_wait */
    printf("timedwait=%d\n", err);
    return 0;
}

/* The same mistake with a mutex that nobody ever locked. */
static int mode_cond_never_locked(int argc, char **argv)
{
    struct timespec ts;
    deadline_in(&ts, 20);
    int err = pthread_cond_timedwait(&cv, &m2, &ts); /* LINE:cwn_wait */
    printf("timedwait=%d\n", err);
    return 0;
}

static void *first_waiter(void *arg)
{
    pthread_mutex_lock(&m1);
    atomic_store(&worker_tid, prog_tid());
    pthread_cond_wait(&cv, &m1); /* LINE:c2m_first */
    pthread_mutex_unlock(&m1);
    return NULL;
}

/* Two concurrent waits on one condition with different mutexes (POSIX
 * leaves that undefined; using another mutex once nobody waits is fine). */
static int mode_cond_two_mutexes(int argc, char **argv)
{
    struct timespec ts;
    pthread_t t;
    pthread_create(&t, NULL, first_waiter, NULL);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    pthread_mutex_lock(&m2);
    deadline_in(&ts, 10);
    pthread_cond_timedwait(&cv, &m2, &ts); /* LINE:c2m_second */
    pthread_mutex_unlock(&m2);
    pthread_mutex_lock(&m1);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&m1);
    pthread_join(t, NULL);
    return 0;
}

static int mode_wg_negative(int argc, char **argv)
{
    tg_wg_t wg = TG_WG_INIT;
    tg_wg_add(&wg, 1); /* LINE:wgneg_add */
    tg_wg_done(&wg);
    int err = tg_wg_done(&wg); /* LINE:wgneg_done */
    printf("done=%d\n", err);
    return 0;
}

static int mode_send_on_closed(int argc, char **argv)
{
    tg_chan_t *ch;
    int v = 1;
    tg_chan_new(&ch, sizeof(int), 1);
    tg_chan_close(ch); /* LINE:soc_close */
    int err = tg_chan_send(ch, &v); /* LINE:soc_send */
    printf("send=%d\n", err);
    tg_chan_free(ch);
    return 0;
}

static int mode_double_close(int argc, char **argv)
{
    tg_chan_t *ch;
    tg_chan_new(&ch, sizeof(int), 0);
    tg_chan_close(ch); /* LINE:dc_first */
    int err = tg_chan_close(ch); /* LINE:dc_second */
    printf("close=%d\n", err);
    tg_chan_free(ch);
    return 0;
}

static void *parked_receiver(void *arg)
{
    tg_chan_t *ch = arg;
    atomic_store(&worker_tid, prog_tid());
    tg_chan_recv(ch, NULL, NULL); /* LINE:fb_recv */
    return NULL;
}

static int mode_free_busy(int argc, char **argv)
{
    tg_chan_t *ch;
    pthread_t t;
    tg_chan_new(&ch, sizeof(int), 0);
    pthread_create(&t, NULL, parked_receiver, ch);
    prog_wait_blocked(prog_wait_tid(&worker_tid));
    int err = tg_chan_free(ch); /* LINE:fb_free */
    printf("free=%d\n", err);
    tg_chan_close(ch);
    pthread_join(t, NULL);
    tg_chan_free(ch);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct prog_mode modes[] = {
        { "unlock-not-held", mode_unlock_not_held },
        { "unlock-fresh", mode_unlock_fresh },
        { "unlock-foreign", mode_unlock_foreign },
        { "relock", mode_relock },
        { "destroy-locked", mode_destroy_locked },
        { "destroy-waited", mode_destroy_waited },
        { "exit-holding-lock", mode_exit_holding },
        { "cond-wait-unlocked", mode_cond_unlocked },
        { "cond-never-locked", mode_cond_never_locked },
        { "cond-two-mutexes", mode_cond_two_mutexes },
        { "wg-negative", mode_wg_negative },
        { "send-on-closed", mode_send_on_closed },
        { "double-close", mode_double_close },
        { "free-busy", mode_free_busy },
        { NULL, NULL },
    };
    return prog_main(modes, argc, argv);
}
