/*
 * bench/sync_bench.c: plain pthread workloads that show what a detector
 * costs a program that does not use libtangle at all. The same binary runs
 * native, with the preload shim in LD_PRELOAD and under helgrind; built
 * with -fsanitize=thread it is the TSan column. The workloads are the hot
 * paths the shim interposes: an uncontended lock/unlock pair (the shim's
 * budget is about 10 ns on top), a lock two threads fight over, thread
 * create+join (where the shim takes a full stack), a condition-variable
 * round trip between two threads (where both park), and nested locking,
 * which feeds the lock-order graph on every inner acquisition.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bench.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t counter;              /* guarded by mu */

static pthread_t start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("sync_bench: pthread_create");
        exit(1);
    }
    return t;
}

/* ---- uncontended lock/unlock ---------------------------------------- */

static int64_t bench_mutex(uint64_t n)
{
    int64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    return bench_now() - t0;
}

/* ---- two threads on one lock ---------------------------------------- */

static void *hammer(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    for (uint64_t i = 0; i < n; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* ns per lock/unlock pair, over both threads' pairs together. */
static int64_t bench_mutex_contended(uint64_t n)
{
    uint64_t half[2] = { n / 2, n - n / 2 };
    int64_t t0 = bench_now();
    pthread_t t = start_thread(hammer, &half[0]);
    hammer(&half[1]);
    pthread_join(t, NULL);
    return bench_now() - t0;
}

/* ---- thread create + join ------------------------------------------- */

static void *nothing(void *arg)
{
    return arg;
}

static int64_t bench_create_join(uint64_t n)
{
    int64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++)
        pthread_join(start_thread(nothing, NULL), NULL);
    return bench_now() - t0;
}

/* ---- condition-variable ping-pong ----------------------------------- */

/* The floor for handing control to a sleeping thread and back with plain
 * pthreads: the figure an unbuffered channel round trip between OS threads
 * is up against (Go's goroutines switch without the kernel). */
static pthread_mutex_t pp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pp_cv = PTHREAD_COND_INITIALIZER;
static uint64_t pp_turn;              /* guarded by pp_mu: odd = ponger's */

static void *ponger(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    pthread_mutex_lock(&pp_mu);
    for (uint64_t i = 0; i < n; i++) {
        while (pp_turn % 2 == 0)
            pthread_cond_wait(&pp_cv, &pp_mu);
        pp_turn++;
        pthread_cond_signal(&pp_cv);
    }
    pthread_mutex_unlock(&pp_mu);
    return NULL;
}

static int64_t bench_cond_pingpong(uint64_t n)
{
    pp_turn = 0;
    int64_t t0 = bench_now();
    pthread_t t = start_thread(ponger, &n);
    pthread_mutex_lock(&pp_mu);
    for (uint64_t i = 0; i < n; i++) {
        pp_turn++;
        pthread_cond_signal(&pp_cv);
        while (pp_turn % 2 == 1)
            pthread_cond_wait(&pp_cv, &pp_mu);
    }
    pthread_mutex_unlock(&pp_mu);
    pthread_join(t, NULL);
    return bench_now() - t0;
}

/* ---- the cache-line hop --------------------------------------------- */

/* Two threads hand a counter back and forth on one cache line, spinning;
 * ns per one-way hand-off. It is the floor under every hand-off between
 * threads on two cores, a lock's or a channel's, and on a virtual machine
 * it changes with where the host places the two CPUs: 45 ns and 236 ns
 * were measured on the same machine an hour apart. The channel figures
 * move with it, so bench/run.sh prints it beside them. */
static _Atomic uint64_t hop_word;

static void hop_wait(uint64_t v)
{
    unsigned spins = 0;
    while (atomic_load_explicit(&hop_word, memory_order_acquire) != v) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        /* The partner may be waiting for this CPU. */
        if (++spins % 1024 == 0)
            sched_yield();
    }
}

static void *hop_peer(void *p)
{
    uint64_t n = *(const uint64_t *)p;
    for (uint64_t i = 1; i < 2 * n; i += 2) {
        hop_wait(i);
        atomic_store_explicit(&hop_word, i + 1, memory_order_release);
    }
    return NULL;
}

/* n round trips; returns half their time, so ns per op is one hop. */
static int64_t bench_hop(uint64_t n)
{
    atomic_store(&hop_word, 0);
    pthread_t t = start_thread(hop_peer, &n);
    int64_t t0 = bench_now();
    for (uint64_t i = 0; i < 2 * n; i += 2) {
        hop_wait(i);
        atomic_store_explicit(&hop_word, i + 1, memory_order_release);
    }
    hop_wait(2 * n);
    int64_t el = bench_now() - t0;
    pthread_join(t, NULL);
    return el / 2;
}

/* ---- nested locking across two threads ------------------------------ */

#define MAX_DEPTH 4
static pthread_mutex_t nest[MAX_DEPTH] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
};

struct nest_arg {
    uint64_t n;
    int depth;
};

/* Takes nest[0..depth) in order and releases them in reverse, n times:
 * one consistent order, so the graph grows edges but never a cycle. */
static void *nest_worker(void *p)
{
    struct nest_arg *a = p;
    for (uint64_t i = 0; i < a->n; i++) {
        for (int d = 0; d < a->depth; d++)
            pthread_mutex_lock(&nest[d]);
        counter++;
        for (int d = a->depth - 1; d >= 0; d--)
            pthread_mutex_unlock(&nest[d]);
    }
    return NULL;
}

/* Both threads share the same locks; ns per outermost acquisition. */
static int64_t nested(uint64_t n, int depth)
{
    struct nest_arg a[2] = { { n / 2, depth }, { n - n / 2, depth } };
    int64_t t0 = bench_now();
    pthread_t t = start_thread(nest_worker, &a[0]);
    nest_worker(&a[1]);
    pthread_join(t, NULL);
    return bench_now() - t0;
}

static int64_t bench_nested2(uint64_t n)
{
    return nested(n, 2);
}

static int64_t bench_nested4(uint64_t n)
{
    return nested(n, 4);
}

/* The same nesting by one thread while a second one exists but sleeps (in
 * read(2), not on a pthread object, so the shim does not see it): the
 * process is not single-threaded, so glibc and the shim take their
 * multi-threaded paths, yet no acquisition is ever contended. Beside
 * nested2/nested4 this splits a detector's cost into what every nested
 * acquisition pays (held set, lock-order edges) and what two threads
 * fighting add (waits, parks, cache lines moving between cores). */
static void *sleeper(void *arg)
{
    char c;
    while (read(*(int *)arg, &c, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static int64_t nested_solo(uint64_t n, int depth)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("sync_bench: pipe");
        exit(1);
    }
    pthread_t t = start_thread(sleeper, &fds[0]);
    struct nest_arg a = { n, depth };
    int64_t t0 = bench_now();
    nest_worker(&a);
    int64_t ns = bench_now() - t0;
    close(fds[1]);                    /* read() returns 0: it ends */
    pthread_join(t, NULL);
    close(fds[0]);
    return ns;
}

static int64_t bench_nested2_solo(uint64_t n)
{
    return nested_solo(n, 2);
}

static int64_t bench_nested4_solo(uint64_t n)
{
    return nested_solo(n, 4);
}

static const struct bench_def defs[] = {
    { "mutex", bench_mutex, "uncontended lock/unlock pair, one thread" },
    { "mutex_contended", bench_mutex_contended, "two threads on one mutex, ns per pair" },
    { "create_join", bench_create_join, "pthread_create + pthread_join" },
    { "cond_pingpong", bench_cond_pingpong, "mutex+condvar round trip between two threads" },
    { "hop", bench_hop, "one cache line handed between two spinning threads, ns per hop" },
    { "nested2", bench_nested2, "two threads nesting 2 shared locks, ns per nest" },
    { "nested4", bench_nested4, "two threads nesting 4 shared locks, ns per nest" },
    { "nested2_solo", bench_nested2_solo, "one thread nesting 2 locks, another asleep, ns per nest" },
    { "nested4_solo", bench_nested4_solo, "one thread nesting 4 locks, another asleep, ns per nest" },
};

int main(int argc, char **argv)
{
    return bench_main(defs, sizeof defs / sizeof defs[0], argc, argv);
}
