/*
 * race_clean.c: programs that share memory between threads and order every
 * access through one synchronization mechanism each, built with
 * `tangle cc` for the race checker. Each mode must give no race finding:
 * a report here is a missed happens-before edge. The data is touched with
 * plain loads and stores on purpose (the instrumentation logs them), and
 * every mode writes in one thread and reads or writes in another.
 */
#include <sys/mman.h>
#include <sys/wait.h>
#include <threads.h>
#include <unistd.h>

#include "progs.h"

enum { N = 4, ROUNDS = 200 };

static long shared;            /* the datum every mode hands around */
static long slots[N];
static void *th_arg;

static void spawn(pthread_t *t, int n, void *(*fn)(void *))
{
    for (long i = 0; i < n; i++)
        pthread_create(&t[i], NULL, fn, (void *)i);
}

static void join_all(pthread_t *t, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* ---- mutex ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void *mutex_worker(void *a)
{
    (void)a;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&mu);
        shared++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}
static int mode_mutex(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t[N];
    spawn(t, N, mutex_worker);
    join_all(t, N);
    printf("%ld\n", shared);
    return shared == N * ROUNDS ? 0 : 1;
}

/* ---- rwlock ---- */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static void *rw_worker(void *a)
{
    long id = (long)a;
    long sum = 0;
    for (int i = 0; i < ROUNDS; i++) {
        if (id == 0) {
            pthread_rwlock_wrlock(&rw);
            shared++;
            pthread_rwlock_unlock(&rw);
        } else {
            pthread_rwlock_rdlock(&rw);
            sum += shared;
            pthread_rwlock_unlock(&rw);
        }
    }
    slots[id] = sum;
    return NULL;
}
static int mode_rwlock(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t[N];
    spawn(t, N, rw_worker);
    join_all(t, N);
    return shared == ROUNDS ? 0 : 1;
}

/* ---- cond ---- */
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready;
static void *cond_producer(void *a)
{
    (void)a;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&mu);
        while (ready)
            pthread_cond_wait(&cv, &mu);
        shared = i;
        ready = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}
static int mode_cond(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, cond_producer, NULL);
    long sum = 0;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&mu);
        while (!ready)
            pthread_cond_wait(&cv, &mu);
        sum += shared;
        ready = 0;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    pthread_join(t, NULL);
    return sum == (long)ROUNDS * (ROUNDS - 1) / 2 ? 0 : 1;
}

/* ---- semaphore ---- */
static sem_t sem;
static void *sem_writer(void *a)
{
    (void)a;
    shared = 42;
    sem_post(&sem);
    return NULL;
}
static int mode_sem(int argc, char **argv)
{
    (void)argc; (void)argv;
    sem_init(&sem, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, sem_writer, NULL);
    sem_wait(&sem);
    long v = shared;           /* ordered by the post */
    shared = v + 1;
    pthread_join(t, NULL);
    return v == 42 ? 0 : 1;
}

/* ---- barrier ---- */
static pthread_barrier_t bar;
static void *barrier_worker(void *a)
{
    long id = (long)a;
    for (int r = 0; r < 3; r++) {
        slots[id] = id + r;              /* own slot */
        pthread_barrier_wait(&bar);
        long sum = 0;
        for (int i = 0; i < N; i++)
            sum += slots[i];             /* everyone's, after the barrier */
        pthread_barrier_wait(&bar);
        (void)sum;
    }
    return NULL;
}
static int mode_barrier(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_barrier_init(&bar, NULL, N);
    pthread_t t[N];
    spawn(t, N, barrier_worker);
    join_all(t, N);
    return 0;
}

/* ---- once ---- */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static long config[4];
static void init_config(void)
{
    for (int i = 0; i < 4; i++)
        config[i] = i * 10;
}
static void *once_worker(void *a)
{
    (void)a;
    pthread_once(&once, init_config);
    slots[(long)a] = config[3];
    return NULL;
}
static int mode_once(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t[N];
    spawn(t, N, once_worker);
    join_all(t, N);
    return slots[0] == 30 ? 0 : 1;
}

/* ---- slots passed on ---- */
/* Rounds of two threads that write the same globals as the round before,
 * ordered only by the joins between rounds: the checker hands an ended,
 * joined thread's slot to a new one, which must not make their accesses
 * look concurrent (nor, with the slots' clocks, any earlier round's). */
static long relay[2];
static void *relay_worker(void *a)
{
    long k = (long)a;
    relay[k & 1] += k;
    relay[(k + 1) & 1] += 1;
    return NULL;
}
static pthread_mutex_t relay_mu = PTHREAD_MUTEX_INITIALIZER;
static void *relay_locked(void *a)
{
    pthread_mutex_lock(&relay_mu);
    relay_worker(a);
    pthread_mutex_unlock(&relay_mu);
    return NULL;
}
static int mode_slot_reuse(int argc, char **argv)
{
    (void)argc; (void)argv;
    for (long round = 0; round < 300; round++) {
        pthread_t t[2];
        for (long i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, relay_locked, (void *)(2 * round + i));
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        pthread_create(&t[0], NULL, relay_worker, (void *)round);
        pthread_join(t[0], NULL);
    }
    return relay[0] > 0 && relay[1] > 0 ? 0 : 1;
}

/* ---- two locks, one relay thread ---- */
/* The writer publishes under one lock, the reader reads under another,
 * and only the relay thread takes both: it keeps releasing the second
 * lock (so the checker's last release there is its own), then learns the
 * write through the first and releases the second once more. That last
 * release must carry what the relay learnt, though the relay released
 * the same lock a moment before with nothing new: the reader, which waits
 * on a relaxed flag (no ordering) and then takes the second lock, is
 * ordered after the write. */
static pthread_mutex_t relay_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t relay_l = PTHREAD_MUTEX_INITIALIZER;
static int relay_ready, relay_passed;
static long relay_data;
static void *relay_writer(void *a)
{
    (void)a;
    usleep(20000);
    pthread_mutex_lock(&relay_m);
    relay_data = 42;
    relay_ready = 1;
    pthread_mutex_unlock(&relay_m);
    return NULL;
}
static void *relay_middle(void *a)
{
    (void)a;
    for (;;) {
        pthread_mutex_lock(&relay_l);
        pthread_mutex_unlock(&relay_l);
        pthread_mutex_lock(&relay_m);
        int r = relay_ready;
        pthread_mutex_unlock(&relay_m);
        if (r)
            break;
    }
    pthread_mutex_lock(&relay_l);
    pthread_mutex_unlock(&relay_l);
    __atomic_store_n(&relay_passed, 1, __ATOMIC_RELAXED);
    return NULL;
}
static void *relay_reader(void *a)
{
    while (!__atomic_load_n(&relay_passed, __ATOMIC_RELAXED))
        sched_yield();
    pthread_mutex_lock(&relay_l);
    *(long *)a = relay_data;
    pthread_mutex_unlock(&relay_l);
    return NULL;
}
static int mode_lock_relay(int argc, char **argv)
{
    (void)argc; (void)argv;
    long got = 0;
    pthread_t t[3];
    pthread_create(&t[0], NULL, relay_reader, &got);
    pthread_create(&t[1], NULL, relay_middle, NULL);
    pthread_create(&t[2], NULL, relay_writer, NULL);
    join_all(t, 3);
    return got == 42 ? 0 : 1;
}

/* ---- a mapping unmapped and given to another thread ---- */
/* One thread writes a fresh mapping and unmaps it; another, told by a
 * relaxed flag (no ordering), maps the same size, which the kernel
 * usually places at the same address, and writes it. The second mapping's
 * bytes are new memory: nothing there races with the first thread. */
static int mapping_done;
static void *mapped_at[2];
static void *mapping_first(void *a)
{
    (void)a;
    long *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    for (int i = 0; i < 64; i++)
        p[i] = i;
    mapped_at[0] = p;
    munmap(p, 1 << 16);
    __atomic_store_n(&mapping_done, 1, __ATOMIC_RELAXED);
    return NULL;
}
static void *mapping_second(void *a)
{
    (void)a;
    while (!__atomic_load_n(&mapping_done, __ATOMIC_RELAXED))
        sched_yield();
    long *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    for (int i = 0; i < 64; i++)
        p[i] = 2 * i;
    mapped_at[1] = p;
    munmap(p, 1 << 16);
    return NULL;
}
static int mode_mmap_reuse(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t[2];
    pthread_create(&t[1], NULL, mapping_second, NULL);
    pthread_create(&t[0], NULL, mapping_first, NULL);
    join_all(t, 2);
    /* The address is the kernel's choice; say whether the case was met. */
    printf("same address: %s\n", mapped_at[0] == mapped_at[1] ? "yes" : "no");
    return mapped_at[0] && mapped_at[1] ? 0 : 1;
}

/* ---- fork ---- */
/* A parent thread keeps writing while main forks; the child reads what
 * the thread wrote and main wrote, then a thread of the child's own
 * writes, ordered by create and join. That thread does not exist in the
 * child: nothing races there. */
static long fork_busy, fork_shared;
static atomic_int fork_stop;
static void *fork_busy_worker(void *a)
{
    (void)a;
    while (!atomic_load_explicit(&fork_stop, memory_order_acquire))
        fork_busy++;
    return NULL;
}
static void *fork_child_worker(void *a)
{
    (void)a;
    fork_shared += fork_busy > 0 ? 1 : 2;
    return NULL;
}
static int mode_fork(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t busy;
    pthread_create(&busy, NULL, fork_busy_worker, NULL);
    fork_shared = 1;
    prog_msleep(20);
    pid_t pid = fork();
    if (pid < 0)
        return 5;
    if (pid == 0) {
        long seen = fork_busy;
        pthread_t t;
        pthread_create(&t, NULL, fork_child_worker, NULL);
        pthread_join(t, NULL);
        _exit(fork_shared >= 2 && seen >= 0 ? 0 : 7);
    }
    atomic_store_explicit(&fork_stop, 1, memory_order_release);
    pthread_join(busy, NULL);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 6;
}

/* ---- create / join ---- */
static void *cj_worker(void *a)
{
    (void)a;
    shared += 5;               /* main wrote before create */
    return NULL;
}
static int mode_create_join(int argc, char **argv)
{
    (void)argc; (void)argv;
    shared = 1;
    pthread_t t;
    pthread_create(&t, NULL, cj_worker, NULL);
    pthread_join(t, NULL);
    shared *= 2;               /* after join */
    return shared == 12 ? 0 : 1;
}

/* ---- channels ---- */
struct msg {
    long payload[4];
};
static tg_chan_t *ch;
static long back;              /* written by the receiver before receiving */

static void *chan_sender(void *a)
{
    (void)a;
    for (int i = 0; i < ROUNDS; i++) {
        struct msg *m = malloc(sizeof *m);
        m->payload[0] = i;     /* written before the send */
        m->payload[3] = -i;
        tg_chan_send(ch, &m);
    }
    return NULL;
}
static int chan_mode(size_t cap)
{
    tg_chan_new(&ch, sizeof(struct msg *), cap);
    pthread_t t;
    pthread_create(&t, NULL, chan_sender, NULL);
    long sum = 0;
    for (int i = 0; i < ROUNDS; i++) {
        struct msg *m;
        bool ok;
        tg_chan_recv(ch, &m, &ok);
        sum += m->payload[0] + m->payload[3];
        m->payload[1] = 7;     /* the receiver owns it now */
        free(m);
    }
    pthread_join(t, NULL);
    tg_chan_free(ch);
    return sum == 0 ? 0 : 1;
}
static int mode_chan_buffered(int argc, char **argv)
{
    (void)argc; (void)argv;
    return chan_mode(3);
}
static int mode_chan_unbuffered(int argc, char **argv)
{
    (void)argc; (void)argv;
    return chan_mode(0);
}

/* Unbuffered: the receive happens before the send completes, so the
 * sender may read what the receiver wrote before receiving. */
static void *unbuf_receiver(void *a)
{
    (void)a;
    back = 99;
    int v;
    bool ok;
    tg_chan_recv(ch, &v, &ok);
    return NULL;
}
static int mode_chan_recv_before_send(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_chan_new(&ch, sizeof(int), 0);
    pthread_t t;
    pthread_create(&t, NULL, unbuf_receiver, NULL);
    int v = 1;
    tg_chan_send(ch, &v);
    long b = back;             /* ordered: receive -> send completion */
    pthread_join(t, NULL);
    tg_chan_free(ch);
    return b == 99 ? 0 : 1;
}

/* A buffered channel of capacity 1 as a mutex, Go's semaphore idiom:
 * receive s happens before send s + 1 completes, so each holder is ordered
 * after the one before. */
static tg_chan_t *sem_ch;
static void *chan_sem_worker(void *a)
{
    (void)a;
    int token = 1;
    bool ok;
    for (int i = 0; i < ROUNDS; i++) {
        tg_chan_send(sem_ch, &token);
        shared++;
        tg_chan_recv(sem_ch, &token, &ok);
    }
    return NULL;
}
static int mode_chan_sem(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_chan_new(&sem_ch, sizeof(int), 1);
    pthread_t t[N];
    spawn(t, N, chan_sem_worker);
    join_all(t, N);
    tg_chan_free(sem_ch);
    return shared == N * ROUNDS ? 0 : 1;
}

/* A value passed on twice: what the first sender wrote before sending is
 * ordered before the last receiver, through the middle one. */
static tg_chan_t *relay_in, *relay_out;
static void *chan_relay_first(void *a)
{
    (void)a;
    for (int i = 0; i < ROUNDS; i++) {
        struct msg *m = malloc(sizeof *m);
        m->payload[0] = i;
        tg_chan_send(relay_in, &m);
    }
    tg_chan_close(relay_in);
    return NULL;
}
static void *chan_relay_middle(void *a)
{
    (void)a;
    struct msg *m;
    bool ok;
    while (tg_chan_recv(relay_in, &m, &ok) == 0 && ok)
        tg_chan_send(relay_out, &m);
    tg_chan_close(relay_out);
    return NULL;
}
static int mode_chan_relay(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_chan_new(&relay_in, sizeof(struct msg *), 2);
    tg_chan_new(&relay_out, sizeof(struct msg *), 0);
    pthread_t t[2];
    pthread_create(&t[0], NULL, chan_relay_first, NULL);
    pthread_create(&t[1], NULL, chan_relay_middle, NULL);
    long sum = 0;
    struct msg *m;
    bool ok;
    while (tg_chan_recv(relay_out, &m, &ok) == 0 && ok) {
        sum += m->payload[0];
        free(m);
    }
    join_all(t, 2);
    tg_chan_free(relay_in);
    tg_chan_free(relay_out);
    return sum == (long)ROUNDS * (ROUNDS - 1) / 2 ? 0 : 1;
}

/* Values sent by select on one of two channels and received by select
 * from either; a poll that finds nothing, and a send that times out,
 * hand nothing on. */
static tg_chan_t *sel_a, *sel_b;
static void *chan_select_sender(void *a)
{
    (void)a;
    for (int i = 0; i < ROUNDS; i++) {
        struct msg *m = malloc(sizeof *m);
        m->payload[0] = i;
        m->payload[2] = 2 * i;
        tg_case_t cs[2] = {
            { .ch = sel_a, .op = TG_CASE_SEND, .elem = &m },
            { .ch = sel_b, .op = TG_CASE_SEND, .elem = &m },
        };
        tg_select(cs, 2);
    }
    return NULL;
}
static int mode_chan_select(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_chan_new(&sel_a, sizeof(struct msg *), 0);
    tg_chan_new(&sel_b, sizeof(struct msg *), 1);
    tg_chan_t *never;
    tg_chan_new(&never, sizeof(struct msg *), 0);
    struct msg *none = NULL;
    tg_chan_send_timeout(never, &none, 1000000);   /* nobody receives */
    pthread_t t;
    pthread_create(&t, NULL, chan_select_sender, NULL);
    long sum = 0;
    for (int i = 0; i < ROUNDS; i++) {
        struct msg *m = NULL;
        tg_case_t cs[2] = {
            { .ch = sel_a, .op = TG_CASE_RECV, .elem = &m },
            { .ch = sel_b, .op = TG_CASE_RECV, .elem = &m },
        };
        if (tg_select_try(cs, 2) < 0)
            tg_select(cs, 2);
        sum += m->payload[0] + m->payload[2];
        m->payload[1] = 1;     /* the receiver owns it now */
        free(m);
    }
    pthread_join(t, NULL);
    tg_chan_free(sel_a);
    tg_chan_free(sel_b);
    tg_chan_free(never);
    return sum == 3L * ROUNDS * (ROUNDS - 1) / 2 ? 0 : 1;
}

/* A hand-off between threads started late, while 48 others are alive:
 * their slots are high and their clocks name few, so their tokens are
 * sparse copies, which must still carry the writer's epoch. */
static tg_chan_t *hold, *late_pass;
static long late_data;
static void *late_holder(void *a)
{
    (void)a;
    int v;
    bool ok;
    tg_chan_recv(hold, &v, &ok);
    return NULL;
}
static void *late_writer(void *a)
{
    (void)a;
    for (int i = 0; i < ROUNDS; i++) {
        late_data = i;
        tg_chan_send(late_pass, &i);
        int back_v;
        bool ok;
        tg_chan_recv(late_pass, &back_v, &ok);   /* the reader is done */
    }
    return NULL;
}
static int mode_chan_sparse(int argc, char **argv)
{
    (void)argc; (void)argv;
    enum { HOLDERS = 48 };
    tg_chan_new(&hold, sizeof(int), 0);
    tg_chan_new(&late_pass, sizeof(int), 0);
    pthread_t h[HOLDERS], w;
    spawn(h, HOLDERS, late_holder);
    pthread_create(&w, NULL, late_writer, NULL);
    long sum = 0;
    for (int i = 0; i < ROUNDS; i++) {
        int v;
        bool ok;
        tg_chan_recv(late_pass, &v, &ok);
        sum += late_data - v;                     /* ordered by the send */
        late_data = -1;                           /* and back by the reply */
        tg_chan_send(late_pass, &v);
    }
    pthread_join(w, NULL);
    tg_chan_close(hold);
    join_all(h, HOLDERS);
    tg_chan_free(hold);
    tg_chan_free(late_pass);
    return sum == 0 ? 0 : 1;
}

/* C11 threads: thrd_create / thrd_join order creator and thread, mtx_*
 * the counter, cnd_wait a hand-off, call_once an initialization. */
static mtx_t c11_mu;
static cnd_t c11_cv;
static once_flag c11_once = ONCE_FLAG_INIT;
static long c11_config, c11_ready;
static void c11_init(void)
{
    c11_config = 11;
}
static int c11_worker(void *a)
{
    call_once(&c11_once, c11_init);
    long cfg = c11_config;
    for (int i = 0; i < ROUNDS; i++) {
        mtx_lock(&c11_mu);
        shared += cfg - 10;
        mtx_unlock(&c11_mu);
    }
    slots[(intptr_t)a] = 1;           /* read by main after the join */
    return 0;
}
static int c11_signaller(void *a)
{
    (void)a;
    mtx_lock(&c11_mu);
    back = 5;
    c11_ready = 1;
    cnd_broadcast(&c11_cv);
    mtx_unlock(&c11_mu);
    return 0;
}
static int mode_c11(int argc, char **argv)
{
    (void)argc; (void)argv;
    mtx_init(&c11_mu, mtx_plain);
    cnd_init(&c11_cv);
    thrd_t t[N], s;
    for (intptr_t i = 0; i < N; i++)
        thrd_create(&t[i], c11_worker, (void *)i);
    thrd_create(&s, c11_signaller, NULL);
    mtx_lock(&c11_mu);
    while (!c11_ready)
        cnd_wait(&c11_cv, &c11_mu);
    mtx_unlock(&c11_mu);
    long b = back;
    for (int i = 0; i < N; i++)
        thrd_join(t[i], NULL);
    thrd_join(s, NULL);
    long n = 0;
    for (int i = 0; i < N; i++)
        n += slots[i];
    return shared == N * ROUNDS && b == 5 && n == N ? 0 : 1;
}

/* A lock of the program's own, known only through TSan's annotations. */
static struct prog_lock own_lock;
static void *own_lock_worker(void *a)
{
    (void)a;
    for (int i = 0; i < ROUNDS; i++) {
        prog_lock(&own_lock);
        shared++;
        prog_unlock(&own_lock);
    }
    return NULL;
}
static int mode_annotated_lock(int argc, char **argv)
{
    (void)argc; (void)argv;
    __tsan_mutex_create(&own_lock, 0);
    pthread_t t[N];
    spawn(t, N, own_lock_worker);
    join_all(t, N);
    return shared == N * ROUNDS ? 0 : 1;
}

/* ---- close ---- */
static void *closer(void *a)
{
    (void)a;
    shared = 17;
    tg_chan_close(ch);
    return NULL;
}
static int mode_close(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_chan_new(&ch, sizeof(int), 0);
    pthread_t t;
    pthread_create(&t, NULL, closer, NULL);
    int v;
    bool ok = true;
    tg_chan_recv(ch, &v, &ok);
    long s = shared;           /* ordered by the close */
    pthread_join(t, NULL);
    tg_chan_free(ch);
    return !ok && s == 17 ? 0 : 1;
}

/* ---- WaitGroup ---- */
static tg_wg_t wg;
static void *wg_worker(void *a)
{
    slots[(long)a] = (long)a * 3;
    tg_wg_done(&wg);
    return NULL;
}
static int mode_wg(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_wg_init(&wg);
    tg_wg_add(&wg, N);
    pthread_t t[N];
    spawn(t, N, wg_worker);
    tg_wg_wait(&wg);
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += slots[i];       /* ordered by the dones */
    join_all(t, N);            /* after the reads: not what orders them */
    return sum == 18 ? 0 : 1;
}

/* ---- context cancel ---- */
static tg_ctx_t *cctx;
static void *canceller(void *a)
{
    (void)a;
    shared = 23;
    tg_ctx_cancel(cctx);
    return NULL;
}
static int mode_ctx(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_ctx_with_cancel(NULL, &cctx);
    pthread_t t;
    pthread_create(&t, NULL, canceller, NULL);
    int v;
    bool ok;
    tg_chan_recv(tg_ctx_done(cctx), &v, &ok);
    long s = shared;           /* ordered by cancel -> Done */
    pthread_join(t, NULL);     /* after the read: not what orders it */
    tg_ctx_release(cctx);
    return s == 23 ? 0 : 1;
}

/* ---- errgroup ---- */
static int group_task(tg_ctx_t *c, void *a)
{
    (void)c;
    slots[(long)a] = (long)a + 1;
    return 0;
}
static int mode_group(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_group_t *g;
    tg_group_new(&g, NULL, NULL);
    for (long i = 0; i < N; i++)
        tg_group_go(g, group_task, (void *)i);
    tg_group_wait(g);
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += slots[i];
    tg_group_free(g);
    return sum == 10 ? 0 : 1;
}

/* An errgroup of limit 1 runs its tasks one by one on a reused runner:
 * what the caller wrote before each tg_group_go is handed to the task,
 * and each task's writes to the next one, through the group alone. */
static long seq_in[ROUNDS];
static int seq_task(tg_ctx_t *c, void *a)
{
    (void)c;
    long i = (long)a;
    shared += seq_in[i];       /* the previous task's write, the caller's */
    return 0;
}
static int mode_group_limit1(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_group_t *g;
    tg_group_new(&g, NULL, NULL);
    tg_group_set_limit(g, 1);
    for (long i = 0; i < ROUNDS; i++) {
        seq_in[i] = i;         /* read by task i on the runner */
        tg_group_go(g, seq_task, (void *)i);
    }
    tg_group_wait(g);
    long s = shared;           /* every task's write */
    tg_group_free(g);
    return s == (long)ROUNDS * (ROUNDS - 1) / 2 ? 0 : 1;
}

/* A detached thread's stack is kept by glibc and given to the next
 * thread: the new thread's locals are not the old one's, though nothing
 * orders the two threads. */
static _Atomic int stack_done;
static void *stack_user(void *a)
{
    volatile long local[64];
    for (int i = 0; i < 64; i++)
        local[i] = (long)a + i;
    long s = 0;
    for (int i = 0; i < 64; i++)
        s += local[i];
    atomic_store_explicit(&stack_done, 1, memory_order_relaxed);
    return (void *)s;
}
static int mode_stack_reuse(int argc, char **argv)
{
    (void)argc; (void)argv;
    for (long i = 0; i < 4; i++) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        atomic_store_explicit(&stack_done, 0, memory_order_relaxed);
        pthread_t t;
        pthread_create(&t, &at, stack_user, (void *)i);
        pthread_attr_destroy(&at);
        /* Until the thread is gone (not synchronization). */
        while (!atomic_load_explicit(&stack_done, memory_order_relaxed))
            sched_yield();
        prog_msleep(50);
    }
    return 0;
}

/* ---- worker pool ---- */
static void pool_job(void *a)
{
    long *p = a;
    *p += 1;                   /* written by a worker */
}
static int mode_pool(int argc, char **argv)
{
    (void)argc; (void)argv;
    tg_pool_t *p;
    tg_pool_new(&p, 2, 4, "racepool");
    for (int i = 0; i < N; i++) {
        slots[i] = 10;         /* main writes before submitting */
        tg_pool_submit(p, pool_job, &slots[i]);
    }
    tg_pool_shutdown(p);
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += slots[i];       /* after shutdown drained the queue */
    return sum == 44 ? 0 : 1;
}

/* ---- release / acquire atomics ---- */
static _Atomic int flag;
static void *publisher(void *a)
{
    (void)a;
    shared = 31;
    atomic_store_explicit(&flag, 1, memory_order_release);
    return NULL;
}
static int mode_atomic(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, publisher, NULL);
    while (!atomic_load_explicit(&flag, memory_order_acquire))
        ;
    long s = shared;           /* ordered by release -> acquire */
    pthread_join(t, NULL);
    return s == 31 ? 0 : 1;
}

/* ---- reference counts ---- */
/* Two holders each write their own field and drop their reference with
 * an acquire-release decrement; the last one frees the object. The free
 * is ordered after the other holder's write and after its decrement
 * itself, which is in the epoch that decrement published. */
struct counted {
    _Atomic int refs;
    long mine[2];
};
static void counted_put(struct counted *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}
static void *holder(void *a)
{
    struct counted *c = a;
    static _Atomic int turn;
    int me = atomic_fetch_add_explicit(&turn, 1, memory_order_relaxed) & 1;
    c->mine[me] = me + 1;
    counted_put(c);
    return NULL;
}
static int mode_refcount(int argc, char **argv)
{
    (void)argc; (void)argv;
    for (int round = 0; round < 50; round++) {
        struct counted *c = calloc(1, sizeof *c);
        atomic_init(&c->refs, 2);
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, holder, c);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
    }
    return 0;
}

/* A word published by a release store and taken back with plain
 * accesses once the acquire has seen it: the store itself is ordered
 * before them, not only what came before it. */
static int handed;
static void *hander(void *a)
{
    (void)a;
    __atomic_store_n(&handed, 1, __ATOMIC_RELEASE);
    return NULL;
}
static int mode_atomic_then_plain(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, hander, NULL);
    while (!__atomic_load_n(&handed, __ATOMIC_ACQUIRE))
        ;
    handed = 5;                /* a plain write, after the acquire */
    int v = handed;
    pthread_join(t, NULL);
    return v == 5 ? 0 : 1;
}

/* A compare-exchange that fails only reads: the lock word's owner may
 * read it plainly meanwhile. */
static int cas_word, cas_flag, cas_done;
static void *cas_owner(void *a)
{
    (void)a;
    int z = 0;
    __atomic_compare_exchange_n(&cas_word, &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
    __atomic_store_n(&cas_flag, 1, __ATOMIC_RELEASE);
    int v = cas_word;          /* a plain read of its own lock word */
    while (!__atomic_load_n(&cas_done, __ATOMIC_ACQUIRE))
        ;
    __atomic_store_n(&cas_word, 0, __ATOMIC_RELEASE);
    return (void *)(long)v;
}
static int mode_cas_fail(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, cas_owner, NULL);
    while (!__atomic_load_n(&cas_flag, __ATOMIC_ACQUIRE))
        ;
    int z = 0;                 /* fails: the owner holds it */
    int ok = __atomic_compare_exchange_n(&cas_word, &z, 1, 0, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED);
    __atomic_store_n(&cas_done, 1, __ATOMIC_RELEASE);
    void *v;
    pthread_join(t, &v);
    return !ok && (long)v == 1 ? 0 : 1;
}

/* A plain write of a word, then its release store; another thread's
 * acquire compare-exchange that reads that store is ordered after both.
 * The relaxed flag orders nothing; it only makes the compare-exchange
 * come after the store. */
static _Atomic long cas_pub;
static _Atomic int cas_ready;
static void *cas_publisher(void *a)
{
    (void)a;
    *(long *)&cas_pub = 5;     /* a plain write (initialization) */
    atomic_store_explicit(&cas_pub, 1, memory_order_release);
    atomic_store_explicit(&cas_ready, 1, memory_order_relaxed);
    return NULL;
}
static int mode_release_then_cas(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, cas_publisher, NULL);
    while (!atomic_load_explicit(&cas_ready, memory_order_relaxed))
        ;
    long e = 1;
    int ok = atomic_compare_exchange_strong_explicit(&cas_pub, &e, 2, memory_order_acquire,
                                                     memory_order_relaxed);
    pthread_join(t, NULL);
    return ok ? 0 : 1;
}

/* ---- fences ---- */
/* C11 fences: a release fence before a relaxed store pairs with an
 * acquire fence after a relaxed load that read it, and with an acquire
 * load; a release store pairs with an acquire fence after a relaxed
 * load. Each datum is read before the join, so only the fences order it. */
static _Atomic int fflag[3];
static long fdata[3];
static void *fence_publisher(void *a)
{
    (void)a;
    fdata[0] = 41;
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&fflag[0], 1, memory_order_relaxed);
    fdata[1] = 42;
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&fflag[1], 1, memory_order_relaxed);
    fdata[2] = 43;
    atomic_store_explicit(&fflag[2], 1, memory_order_release);
    return NULL;
}
static int mode_fence(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, fence_publisher, NULL);
    while (!atomic_load_explicit(&fflag[0], memory_order_relaxed))
        ;
    atomic_thread_fence(memory_order_acquire);
    long s = fdata[0];         /* fence -> fence */
    while (!atomic_load_explicit(&fflag[1], memory_order_acquire))
        ;
    s += fdata[1];             /* fence -> acquire load */
    while (!atomic_load_explicit(&fflag[2], memory_order_relaxed))
        ;
    atomic_thread_fence(memory_order_acquire);
    s += fdata[2];             /* release store -> fence */
    pthread_join(t, NULL);
    return s == 126 ? 0 : 1;
}

/* ---- neighbouring bytes ---- */
static char bytes[8];
static void *byte_writer(void *a)
{
    long id = (long)a;
    for (int i = 0; i < ROUNDS; i++)
        bytes[id] = (char)i;   /* each thread its own byte of one word */
    return NULL;
}
static int mode_neighbour_bytes(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t[N];
    spawn(t, N, byte_writer);
    join_all(t, N);
    return 0;
}

/* ---- a lock taken back by the thread that let it go ---- */
/* Steps in a fixed order through relaxed flags, which order nothing: the
 * first thread takes and lets go the lock, the second writes under it,
 * the first takes it again and reads. Its second acquisition follows
 * another thread's unlock, so it must learn from it. */
static pthread_mutex_t back_l = PTHREAD_MUTEX_INITIALIZER;
static int back_step;
static void wait_step(int *step, int n)
{
    while (__atomic_load_n(step, __ATOMIC_RELAXED) < n)
        sched_yield();
}
static void *back_first(void *a)
{
    pthread_mutex_lock(&back_l);
    pthread_mutex_unlock(&back_l);
    __atomic_store_n(&back_step, 1, __ATOMIC_RELAXED);
    wait_step(&back_step, 2);
    pthread_mutex_lock(&back_l);
    *(long *)a = shared;
    pthread_mutex_unlock(&back_l);
    return NULL;
}
static void *back_second(void *a)
{
    (void)a;
    wait_step(&back_step, 1);
    pthread_mutex_lock(&back_l);
    shared = 42;
    pthread_mutex_unlock(&back_l);
    __atomic_store_n(&back_step, 2, __ATOMIC_RELAXED);
    return NULL;
}
static int mode_lock_back(int argc, char **argv)
{
    (void)argc; (void)argv;
    long got = 0;
    pthread_t t[2];
    pthread_create(&t[0], NULL, back_first, &got);
    pthread_create(&t[1], NULL, back_second, NULL);
    join_all(t, 2);
    return got == 42 ? 0 : 1;
}

/* The same with an rwlock whose other thread only reads, under a read
 * lock: the writer's second acquisition follows its own write unlock and
 * a read unlock, and must be ordered after the read. */
static pthread_rwlock_t back_rw = PTHREAD_RWLOCK_INITIALIZER;
static void *rback_writer(void *a)
{
    (void)a;
    pthread_rwlock_wrlock(&back_rw);
    pthread_rwlock_unlock(&back_rw);
    __atomic_store_n(&back_step, 1, __ATOMIC_RELAXED);
    wait_step(&back_step, 2);
    pthread_rwlock_wrlock(&back_rw);
    shared = 7;
    pthread_rwlock_unlock(&back_rw);
    return NULL;
}
static void *rback_reader(void *a)
{
    wait_step(&back_step, 1);
    pthread_rwlock_rdlock(&back_rw);
    *(long *)a = shared;
    pthread_rwlock_unlock(&back_rw);
    __atomic_store_n(&back_step, 2, __ATOMIC_RELAXED);
    return NULL;
}
static int mode_rwlock_back(int argc, char **argv)
{
    (void)argc; (void)argv;
    long got = -1;
    pthread_t t[2];
    pthread_create(&t[0], NULL, rback_writer, NULL);
    pthread_create(&t[1], NULL, rback_reader, &got);
    join_all(t, 2);
    return got == 0 && shared == 7 ? 0 : 1;
}

static const struct prog_mode modes[] = {
    {"mutex", mode_mutex},
    {"rwlock", mode_rwlock},
    {"cond", mode_cond},
    {"sem", mode_sem},
    {"barrier", mode_barrier},
    {"once", mode_once},
    {"create-join", mode_create_join},
    {"slot-reuse", mode_slot_reuse},
    {"lock-relay", mode_lock_relay},
    {"lock-back", mode_lock_back},
    {"rwlock-back", mode_rwlock_back},
    {"mmap-reuse", mode_mmap_reuse},
    {"fork", mode_fork},
    {"chan-buffered", mode_chan_buffered},
    {"chan-unbuffered", mode_chan_unbuffered},
    {"chan-recv-before-send", mode_chan_recv_before_send},
    {"chan-sem", mode_chan_sem},
    {"chan-relay", mode_chan_relay},
    {"chan-select", mode_chan_select},
    {"chan-sparse", mode_chan_sparse},
    {"c11", mode_c11},
    {"annotated-lock", mode_annotated_lock},
    {"close", mode_close},
    {"wg", mode_wg},
    {"ctx", mode_ctx},
    {"group", mode_group},
    {"pool", mode_pool},
    {"atomic", mode_atomic},
    {"refcount", mode_refcount},
    {"atomic-then-plain", mode_atomic_then_plain},
    {"cas-fail", mode_cas_fail},
    {"release-then-cas", mode_release_then_cas},
    {"fence", mode_fence},
    {"neighbour-bytes", mode_neighbour_bytes},
    {"group-limit1", mode_group_limit1},
    {"stack-reuse", mode_stack_reuse},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    (void)th_arg;
    return prog_main(modes, argc, argv);
}
