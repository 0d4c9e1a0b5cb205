/*
 * race_bugs.c: planted data races, one per mode, built with `tangle cc`.
 * Every access the tests name carries a LINE: marker; the race checker
 * must report each mode's race with both accesses' stacks. The threads
 * meet at a barrier before the racy part only so that both really run it;
 * nothing after the barrier orders the racing accesses.
 */
#include <sched.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <threads.h>
#include <unistd.h>

#include "progs.h"

enum { N = 2, ROUNDS = 1000 };

static long counter;
static pthread_barrier_t go;

static void *counter_worker(void *a)
{
    (void)a;
    pthread_barrier_wait(&go);
    for (int i = 0; i < ROUNDS; i++)
        counter++;                           /* LINE:counter */
    return NULL;
}

/* Two threads add to a global with a plain ++. */
static int mode_counter(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_barrier_init(&go, NULL, N);
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        pthread_create(&t[i], NULL, counter_worker, NULL);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* The loop variable's address handed to every thread: they read it while
 * the loop writes it (the seed's classic Go bug, in C). */
static void *loopvar_worker(void *a)
{
    int *ip = a;
    long v = *ip;                            /* LINE:loopvar-read */
    return (void *)v;
}
static int mode_loopvar(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)              /* LINE:loopvar-write */
        pthread_create(&t[i], NULL, loopvar_worker, &i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* "Synchronized" by sleeping: the writer is long done by the time the
 * reader looks, yet nothing orders them. */
static long published;
static void *sleepy_writer(void *a)
{
    (void)a;
    published = 5;                           /* LINE:sleep-write */
    return NULL;
}
static int mode_sleep(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, sleepy_writer, NULL);
    prog_msleep(100);
    long v = published;                      /* LINE:sleep-read */
    pthread_detach(t);
    return v == 5 ? 0 : 1;
}

/* A heap block shared without synchronization. */
static long *heap;
static void *heap_writer(void *a)
{
    (void)a;
    pthread_barrier_wait(&go);
    heap[1] = 11;                            /* LINE:heap-write */
    return NULL;
}
static int mode_heap(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_barrier_init(&go, NULL, 2);
    heap = calloc(4, sizeof *heap);          /* LINE:heap-alloc */
    pthread_t t;
    pthread_create(&t, NULL, heap_writer, NULL);
    pthread_barrier_wait(&go);
    long v = heap[1];                        /* LINE:heap-read */
    pthread_join(t, NULL);
    free(heap);
    return (int)(v & 0);
}

/* A block freed by one thread while another still reads it, ordered by
 * nothing (the semaphore orders only what came before the read, a relaxed
 * flag the rest in time only): the free races with the read, as a write
 * of the block would. The semaphore also makes the offline checker, which
 * replays a thread until it waits, replay the read before the free. */
static long *doomed;
static atomic_int read_done;
static sem_t reader_started;
static void *doomed_reader(void *a)
{
    (void)a;
    sem_post(&reader_started);
    long v = doomed[2];                      /* LINE:free-read */
    atomic_store_explicit(&read_done, 1, memory_order_relaxed);
    return (void *)(v & 0);
}
static int mode_free(int argc, char **argv)
{
    (void)argc; (void)argv;
    sem_init(&reader_started, 0, 0);
    doomed = calloc(8, sizeof *doomed);      /* LINE:free-alloc */
    pthread_t t;
    pthread_create(&t, NULL, doomed_reader, NULL);
    sem_wait(&reader_started);
    while (!atomic_load_explicit(&read_done, memory_order_relaxed))
        sched_yield();
    free(doomed);                            /* LINE:free-free */
    pthread_join(t, NULL);
    return 0;
}

/* The same on a page of the program's own mapping: forgetting a mapping's
 * history when it is made must not forget accesses made to it since. */
static long *mapped;
static void *mapped_writer(void *a)
{
    (void)a;
    pthread_barrier_wait(&go);
    mapped[1] = 11;                          /* LINE:mapped-write */
    return NULL;
}
static int mode_mapped(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_barrier_init(&go, NULL, 2);
    mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED)
        return 2;
    pthread_t t;
    pthread_create(&t, NULL, mapped_writer, NULL);
    pthread_barrier_wait(&go);
    long v = mapped[1];                      /* LINE:mapped-read */
    pthread_join(t, NULL);
    munmap(mapped, 4096);
    return (int)(v & 0);
}

/* One thread takes the lock, the other does not. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long guarded;
static void *locked_writer(void *a)
{
    (void)a;
    pthread_barrier_wait(&go);
    pthread_mutex_lock(&mu);
    guarded++;                               /* LINE:lock-locked */
    pthread_mutex_unlock(&mu);
    return NULL;
}
static int mode_one_lock(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_barrier_init(&go, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, locked_writer, NULL);
    pthread_barrier_wait(&go);
    guarded++;                               /* LINE:lock-unlocked */
    pthread_join(t, NULL);
    return 0;
}

/* Bytes 0 and 1 of one word are each written by their own thread (no
 * race), byte 2 by both (a race). */
static char bytes[8];
/* The two threads keep within two rounds of each other through relaxed
 * counters, which order nothing: their stores to the shared byte overlap
 * in time for many rounds, so that one round whose record was lost (two
 * stores into one shadow word at the same instant, or a thread
 * preempted in mid-check while the other ran to its end) cannot hide
 * the race. */
static _Atomic int byte_round[2];
static void *byte_worker(void *a)
{
    long id = (long)a;
    pthread_barrier_wait(&go);
    for (int i = 0; i < 200; i++) {
        bytes[id] = (char)i;                 /* LINE:byte-own */
        bytes[2] = (char)i;                  /* LINE:byte-shared */
        atomic_store_explicit(&byte_round[id], i + 1, memory_order_relaxed);
        while (atomic_load_explicit(&byte_round[!id], memory_order_relaxed) < i - 1)
            sched_yield();
    }
    return NULL;
}
static int mode_bytes(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_barrier_init(&go, NULL, 2);
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, byte_worker, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* A fill by memset, which the instrumentation leaves to the library
 * (at -O0 too), while the main thread reads the buffer. */
static char filled[128];
static _Atomic int fill_done;                /* relaxed: orders nothing, but
                                                keeps the two apart in time */
static void *filler(void *a)
{
    (void)a;
    memset(filled, 3, sizeof filled);        /* LINE:fill */
    atomic_store_explicit(&fill_done, 1, memory_order_relaxed);
    return NULL;
}
static int mode_memset(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, filler, NULL);
    while (!atomic_load_explicit(&fill_done, memory_order_relaxed))
        sched_yield();
    long sum = filled[64];                   /* LINE:fill-read */
    pthread_join(t, NULL);
    return (int)sum * 0;
}

/* A relaxed atomic flag publishes nothing: the data read after it races. */
static _Atomic int rflag;
static long rdata;
static void *relaxed_writer(void *a)
{
    (void)a;
    rdata = 3;                               /* LINE:relaxed-write */
    atomic_store_explicit(&rflag, 1, memory_order_relaxed);
    return NULL;
}
static int mode_relaxed(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, relaxed_writer, NULL);
    while (!atomic_load_explicit(&rflag, memory_order_relaxed))
        ;
    long v = rdata;                          /* LINE:relaxed-read */
    pthread_join(t, NULL);
    return v == 3 ? 0 : 1;
}

/* A release fence before the flag's store, but no acquire fence after
 * its relaxed load: half a fence pair orders nothing. */
static _Atomic int fence_flag;
static long fence_data;
static void *fence_writer(void *a)
{
    (void)a;
    fence_data = 5;                          /* LINE:fence-write */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&fence_flag, 1, memory_order_relaxed);
    return NULL;
}
static int mode_fence_missing(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, fence_writer, NULL);
    while (!atomic_load_explicit(&fence_flag, memory_order_relaxed))
        ;
    long v = fence_data;                     /* LINE:fence-read */
    pthread_join(t, NULL);
    return v == 5 ? 0 : 1;
}

/* A race after a longjmp out of two instrumented calls: the report's
 * stack of the read is the one it has, without the frames the jump left. */
static jmp_buf lj_env;
static long lj_data;
static __attribute__((noinline)) void lj_deep(void)
{
    longjmp(lj_env, 1);
}
static __attribute__((noinline)) void lj_mid(void)
{
    lj_deep();
}
static void *lj_writer(void *a)
{
    (void)a;
    lj_data = 1;                             /* LINE:lj-write */
    return NULL;
}
static int mode_longjmp(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, lj_writer, NULL);
    if (!setjmp(lj_env))
        lj_mid();
    long v = lj_data;                        /* LINE:lj-read */
    pthread_join(t, NULL);
    return v > 1;
}

/* Two readers, then a writer ordered after the second reader only: the
 * write races with the first read. The first reader's access must
 * survive the second's in the shadow (the second reads after it in time,
 * through a relaxed flag, which orders nothing). */
static long config_word = 1;
static _Atomic int first_read;
static sem_t second_read;
static void *early_reader(void *a)
{
    (void)a;
    long v = config_word;                    /* LINE:readers-early */
    atomic_store_explicit(&first_read, 1, memory_order_relaxed);
    return (void *)v;
}
static void *late_reader(void *a)
{
    (void)a;
    while (!atomic_load_explicit(&first_read, memory_order_relaxed))
        sched_yield();
    long v = config_word;
    sem_post(&second_read);                  /* orders this read only */
    return (void *)v;
}
static void *ordered_writer(void *a)
{
    (void)a;
    sem_wait(&second_read);
    config_word = 2;                         /* LINE:readers-write */
    return NULL;
}
static int mode_shared_readers(int argc, char **argv)
{
    (void)argc; (void)argv;
    sem_init(&second_read, 0, 0);
    pthread_t t[3];
    pthread_create(&t[0], NULL, early_reader, NULL);
    pthread_create(&t[1], NULL, late_reader, NULL);
    pthread_create(&t[2], NULL, ordered_writer, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* Two threads read a word (it gets an extension record); main, ordered
 * after both reads, writes it; one reader then reads it again, ordered
 * after nothing main did since (a relaxed flag): that read races with
 * the write, which a reader's quick check of the record must see. */
static long shared_cfg = 1;
static _Atomic int cfg_written;
static sem_t cfg_read;
static void *cfg_rereader(void *a)
{
    (void)a;
    long v = shared_cfg;
    sem_post(&cfg_read);
    while (!atomic_load_explicit(&cfg_written, memory_order_relaxed))
        sched_yield();
    v += shared_cfg;                         /* LINE:cfg-reread */
    return (void *)v;
}
static void *cfg_reader(void *a)
{
    (void)a;
    long v = shared_cfg;
    sem_post(&cfg_read);
    return (void *)v;
}
static int mode_reread(int argc, char **argv)
{
    (void)argc; (void)argv;
    sem_init(&cfg_read, 0, 0);
    pthread_t t[2];
    pthread_create(&t[0], NULL, cfg_rereader, NULL);
    pthread_create(&t[1], NULL, cfg_reader, NULL);
    sem_wait(&cfg_read);
    sem_wait(&cfg_read);
    shared_cfg = 2;                          /* LINE:cfg-write */
    atomic_store_explicit(&cfg_written, 1, memory_order_relaxed);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* A benign race, annotated: not reported. */
static long stat_hits;
static void *benign_worker(void *a)
{
    (void)a;
    pthread_barrier_wait(&go);
    stat_hits++;
    return NULL;
}
static int mode_benign(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_annotate_benign_race(&stat_hits, sizeof stat_hits, "statistics");
    pthread_barrier_init(&go, NULL, 2);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, benign_worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* The same, declared with TSan's dynamic annotation, which code written
 * for TSan already carries. */
void AnnotateBenignRaceSized(const char *file, int line,
                             const volatile void *mem, long size,
                             const char *description);
static long tsan_hits;
static void *tsan_benign_worker(void *a)
{
    (void)a;
    pthread_barrier_wait(&go);
    tsan_hits++;
    return NULL;
}
static int mode_benign_tsan(int argc, char **argv)
{
    (void)argc; (void)argv;
    AnnotateBenignRaceSized(__FILE__, __LINE__, &tsan_hits, sizeof tsan_hits,
                            "statistics");
    pthread_barrier_init(&go, NULL, 2);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, tsan_benign_worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* A detached thread writes and ends; after a pause (not synchronization)
 * a new thread writes the same global. The new thread must not be taken
 * for the ended one's continuation: nothing orders the two writes. */
static long heir_value;
static atomic_int gone_flag;
static void *detached_writer(void *a)
{
    (void)a;
    heir_value = 1;                          /* LINE:detached-write */
    atomic_store_explicit(&gone_flag, 1, memory_order_relaxed);
    return NULL;
}
static void *heir_writer(void *a)
{
    (void)a;
    heir_value = 2;                          /* LINE:heir-write */
    return NULL;
}
static int mode_after_detached(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    pthread_create(&t, &at, detached_writer, NULL);
    pthread_attr_destroy(&at);
    while (!atomic_load_explicit(&gone_flag, memory_order_relaxed))
        sched_yield();
    prog_msleep(100);
    pthread_create(&t, NULL, heir_writer, NULL);
    pthread_join(t, NULL);
    return 0;
}

/* The counter race in a forked child: the checker goes on after fork. */
static int mode_fork_child(int argc, char **argv)
{
    counter = 7;                 /* the parent's, before the fork */
    pid_t pid = fork();
    if (pid < 0)
        return 5;
    if (pid == 0)
        _exit(mode_counter(argc, argv));
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 6;
}

/* 16-byte accesses (what vectorized loops and __int128 compile to): each
 * thread writes its own element (no race) and the shared one (a race). */
static __int128 wide_own[2], wide_shared;
static void *wide_worker(void *a)
{
    long id = (long)a;
    pthread_barrier_wait(&go);
    for (int i = 0; i < 10; i++) {
        wide_own[id] = i;                    /* LINE:wide-own */
        wide_shared = i;                     /* LINE:wide-shared */
    }
    return NULL;
}
static int mode_wide(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_barrier_init(&go, NULL, 2);
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, wide_worker, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return wide_own[0] == 9 && wide_own[1] == 9 ? 0 : 7;
}

/* C11 threads adding to a global with no mtx around it. */
static int c11_counter_worker(void *a)
{
    (void)a;
    pthread_barrier_wait(&go);
    for (int i = 0; i < ROUNDS; i++)
        counter++;                           /* LINE:c11-counter */
    return 0;
}
static int mode_c11_counter(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_barrier_init(&go, NULL, N);
    thrd_t t[N];
    for (int i = 0; i < N; i++)
        thrd_create(&t[i], c11_counter_worker, NULL);
    for (int i = 0; i < N; i++)
        thrd_join(t[i], NULL);
    return 0;
}

/* Receiving one sender's value orders nothing of another sender. B sends
 * first, then starts A, which writes `other` and sends too; main waits
 * until both values are in the buffer, receives B's (the first in), and
 * reads `other`. A's send had begun before main's receive, so a checker
 * that ordered a receive after every send under way would miss this. */
static tg_chan_t *two_senders;
static long other;
static void *chan_sender_a(void *a)
{
    (void)a;
    other = 42;                              /* LINE:chan-other-write */
    long v = 2;
    tg_chan_send(two_senders, &v);
    return NULL;
}
static void *chan_sender_b(void *a)
{
    long v = 1;
    tg_chan_send(two_senders, &v);
    pthread_create(a, NULL, chan_sender_a, NULL);
    return NULL;
}
static int mode_chan_other_send(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_chan_new(&two_senders, sizeof(long), 2);
    pthread_t a, b;
    pthread_create(&b, NULL, chan_sender_b, &a);
    while (tg_chan_len(two_senders) < 2)
        sched_yield();
    long v = 0;
    bool ok;
    tg_chan_recv(two_senders, &v, &ok);
    long seen = other;                       /* LINE:chan-other-read */
    pthread_join(b, NULL);
    pthread_join(a, NULL);
    tg_chan_recv(two_senders, &v, &ok);
    tg_chan_free(two_senders);
    return seen == 42 && v == 2 ? 0 : 6;
}

/* 17,000 threads started and joined in turn (more threads than the
 * checker has slots), then the counter race: checking must go on. */
static void *nothing(void *a)
{
    return a;
}
static int mode_late(int argc, char **argv)
{
    for (int i = 0; i < 17000; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) != 0)
            return 5;
        pthread_join(t, NULL);
    }
    return mode_counter(argc, argv);
}

static const struct prog_mode modes[] = {
    {"counter", mode_counter},
    {"memset", mode_memset},
    {"after-detached", mode_after_detached},
    {"late", mode_late},
    {"fork-child", mode_fork_child},
    {"loopvar", mode_loopvar},
    {"sleep", mode_sleep},
    {"heap", mode_heap},
    {"free", mode_free},
    {"mapped", mode_mapped},
    {"one-lock", mode_one_lock},
    {"bytes", mode_bytes},
    {"relaxed", mode_relaxed},
    {"fence-missing", mode_fence_missing},
    {"longjmp", mode_longjmp},
    {"benign", mode_benign},
    {"benign-tsan", mode_benign_tsan},
    {"shared-readers", mode_shared_readers},
    {"reread", mode_reread},
    {"chan-other-send", mode_chan_other_send},
    {"wide", mode_wide},
    {"c11-counter", mode_c11_counter},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return prog_main(modes, argc, argv);
}
