/*
 * progs.h: what every end-to-end test program shares. Each program in this
 * folder bundles several scenarios, picked by argv[1], so that one binary
 * covers one area (leaks, deadlocks, misuse...). The scenarios must put the
 * process in a known state before it ends without relying on sleeps: a
 * thread that must be blocked at exit is waited for through /proc until the
 * kernel shows it asleep, and a thread that must be gone until its task
 * entry disappears. Source lines the tests check carry a marker comment
 * `LINE:name` that the test looks up in this source, so no test hard-codes
 * a line number.
 */
#ifndef TANGLE_E2E_PROGS_H
#define TANGLE_E2E_PROGS_H

#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <tangle/tangle.h>

/* <sanitizer/tsan_interface.h>'s lock annotations (libtangle defines
 * them), declared here so no sanitizer header is needed. */
void __tsan_mutex_create(void *addr, unsigned flags);
void __tsan_mutex_pre_lock(void *addr, unsigned flags);
void __tsan_mutex_post_lock(void *addr, unsigned flags, int recursion);
int __tsan_mutex_pre_unlock(void *addr, unsigned flags);
void __tsan_mutex_post_unlock(void *addr, unsigned flags);

/* A lock of the program's own, annotated for TSan. Its word is touched
 * with relaxed atomics only, so only the annotations order what it
 * protects (on x86 the exchange is a full barrier anyway). */
struct prog_lock {
    atomic_int word;
};
static inline void prog_lock(struct prog_lock *l)
{
    __tsan_mutex_pre_lock(l, 0);
    while (atomic_exchange_explicit(&l->word, 1, memory_order_relaxed))
        sched_yield();
    __tsan_mutex_post_lock(l, 0, 0);
}
static inline void prog_unlock(struct prog_lock *l)
{
    __tsan_mutex_pre_unlock(l, 0);
    atomic_store_explicit(&l->word, 0, memory_order_relaxed);
    __tsan_mutex_post_unlock(l, 0);
}

struct prog_mode {
    const char *name;
    int (*run)(int argc, char **argv);  /* argv[0] is the mode name */
};

static inline pid_t prog_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static inline void prog_msleep(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* The scheduler state letter of one of our threads ('R', 'S', ...), or 0
 * once the thread is gone. */
static inline char prog_task_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: the state follows
     * the last ')'. */
    char *p = strrchr(buf, ')');
    return (p && p[1] == ' ') ? p[2] : 0;
}

/* Waits until the thread whose id *slot will hold has published it. */
static inline pid_t prog_wait_tid(_Atomic pid_t *slot)
{
    pid_t t;
    while ((t = atomic_load(slot)) == 0)
        prog_msleep(1);
    return t;
}

/* Waits until thread tid sleeps in the kernel, seen twice in a row so a
 * passing sleep on the way to the real wait is unlikely to fool us. Gives
 * up after 20 s with a note on stderr (the test then fails on its report,
 * not on a hang). */
static inline void prog_wait_blocked(pid_t tid)
{
    int seen = 0;
    for (int i = 0; i < 4000; i++) {
        char s = prog_task_state(tid);
        seen = (s == 'S' || s == 'D') ? seen + 1 : 0;
        if (seen >= 3)
            return;
        prog_msleep(5);
    }
    fprintf(stderr, "prog: thread %d never blocked\n", (int)tid);
}

/* Waits until thread tid has ended (its task entry is gone). */
static inline void prog_wait_gone(pid_t tid)
{
    for (int i = 0; i < 4000; i++) {
        if (prog_task_state(tid) == 0)
            return;
        prog_msleep(5);
    }
    fprintf(stderr, "prog: thread %d never ended\n", (int)tid);
}

/* Waits until every other thread of the process sleeps in the kernel
 * (threads whose ids the program does not know, such as a pool's). */
static inline void prog_wait_others_blocked(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    pid_t me = prog_tid();
    while (d && (e = readdir(d))) {
        pid_t t = (pid_t)atoi(e->d_name);
        if (t > 0 && t != me)
            prog_wait_blocked(t);
    }
    if (d)
        closedir(d);
}

/* Runs the mode named by argv[1]; unknown modes exit 2. stdout is
 * unbuffered so that what a program prints survives an abort. */
static inline int prog_main(const struct prog_mode *modes, int argc,
                            char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 2)
        for (const struct prog_mode *m = modes; m->name; m++)
            if (strcmp(m->name, argv[1]) == 0)
                return m->run(argc - 1, argv + 1);
    fprintf(stderr, "usage: %s MODE [ARGS]\nmodes:", argv[0]);
    for (const struct prog_mode *m = modes; m->name; m++)
        fprintf(stderr, " %s", m->name);
    fputc('\n', stderr);
    return 2;
}

#endif
