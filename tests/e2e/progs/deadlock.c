/*
 * deadlock.c: lock orderings, one per mode, for the deadlock tests. The
 * potential-deadlock modes take their locks in threads that run one after
 * the other (each joined before the next starts), so the inversion is in
 * the lock-order graph but the run never hangs; the no-report modes are
 * the standard ways out (consistent order, a gate lock, trylock back-off,
 * destroy and re-init, recursion). The last modes really deadlock, so the
 * watchdog must end them. Lock addresses are printed so the test can match
 * them with the report.
 */
#include "progs.h"

static pthread_mutex_t A = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t B = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t C = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t G = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t RW = PTHREAD_RWLOCK_INITIALIZER;

static void run_thread(void *(*fn)(void *))
{
    pthread_t t;
    pthread_create(&t, NULL, fn, NULL);
    pthread_join(t, NULL);
}

static void print_locks(void)
{
    printf("A=%p B=%p C=%p G=%p RW=%p\n", (void *)&A, (void *)&B, (void *)&C,
           (void *)&G, (void *)&RW);
}

static void *ab(void *arg)
{
    pthread_mutex_lock(&A); /* LINE:ab_a */
    pthread_mutex_lock(&B); /* LINE:ab_b */
    pthread_mutex_unlock(&B);
    pthread_mutex_unlock(&A);
    return NULL;
}

static void *ba(void *arg)
{
    pthread_mutex_lock(&B); /* LINE:ba_b */
    pthread_mutex_lock(&A); /* LINE:ba_a */
    pthread_mutex_unlock(&A);
    pthread_mutex_unlock(&B);
    return NULL;
}

/* The same with locks of the program's own, annotated for TSan. */
static struct prog_lock LA, LB;
static void *own_ab(void *arg)
{
    prog_lock(&LA); /* LINE:own_ab_a */
    prog_lock(&LB); /* LINE:own_ab_b */
    prog_unlock(&LB);
    prog_unlock(&LA);
    return NULL;
}
static void *own_ba(void *arg)
{
    prog_lock(&LB); /* LINE:own_ba_b */
    prog_lock(&LA); /* LINE:own_ba_a */
    prog_unlock(&LA);
    prog_unlock(&LB);
    return NULL;
}
static int mode_annotated(int argc, char **argv)
{
    printf("A=%p B=%p\n", (void *)&LA, (void *)&LB);
    run_thread(own_ab);
    run_thread(own_ba);
    return 0;
}

/* A then B in one thread, later B then A in another: never hangs here,
 * but would if the two overlapped. */
static int mode_abba(int argc, char **argv)
{
    print_locks();
    run_thread(ab);
    run_thread(ba);
    return 0;
}

static void *bc(void *arg)
{
    pthread_mutex_lock(&B); /* LINE:bc_b */
    pthread_mutex_lock(&C); /* LINE:bc_c */
    pthread_mutex_unlock(&C);
    pthread_mutex_unlock(&B);
    return NULL;
}

static void *ca(void *arg)
{
    pthread_mutex_lock(&C); /* LINE:ca_c */
    pthread_mutex_lock(&A); /* LINE:ca_a */
    pthread_mutex_unlock(&A);
    pthread_mutex_unlock(&C);
    return NULL;
}

static int mode_three(int argc, char **argv)
{
    print_locks();
    run_thread(ab);
    run_thread(bc);
    run_thread(ca);
    return 0;
}

/* Two threads at once, both A then B. */
static int mode_consistent(int argc, char **argv)
{
    pthread_t t1, t2;
    print_locks();
    pthread_create(&t1, NULL, ab, NULL);
    pthread_create(&t2, NULL, ab, NULL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    return 0;
}

static void *gated_ab(void *arg)
{
    pthread_mutex_lock(&G);
    ab(NULL);
    pthread_mutex_unlock(&G);
    return NULL;
}

static void *gated_ba(void *arg)
{
    pthread_mutex_lock(&G);
    ba(NULL);
    pthread_mutex_unlock(&G);
    return NULL;
}

/* Both orders, but always under G: they can never interleave. */
static int mode_gate(int argc, char **argv)
{
    print_locks();
    run_thread(gated_ab);
    run_thread(gated_ba);
    return 0;
}

static void *ba_backoff(void *arg)
{
    for (;;) {
        pthread_mutex_lock(&B);
        if (pthread_mutex_trylock(&A) == 0) {
            pthread_mutex_unlock(&A);
            pthread_mutex_unlock(&B);
            return NULL;
        }
        /* Back off: never wait for A while holding B. */
        pthread_mutex_unlock(&B);
        sched_yield();
    }
}

static int mode_trylock(int argc, char **argv)
{
    print_locks();
    run_thread(ab);
    run_thread(ba_backoff);
    return 0;
}

/* A and B destroyed and re-initialised in place between the two orders:
 * they are new locks that happen to share the old addresses. */
static int mode_reinit(int argc, char **argv)
{
    print_locks();
    run_thread(ab);
    pthread_mutex_destroy(&A);
    pthread_mutex_destroy(&B);
    pthread_mutex_init(&A, NULL);
    pthread_mutex_init(&B, NULL);
    run_thread(ba);
    return 0;
}

/* A recursive mutex taken twice, with B in between: R -> B only, no
 * R -> R. */
static int mode_recursive(int argc, char **argv)
{
    pthread_mutex_t r;
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&r, &at);
    pthread_mutex_lock(&r);
    pthread_mutex_lock(&B);
    pthread_mutex_lock(&r); /* LINE:rec_relock */
    pthread_mutex_unlock(&r);
    pthread_mutex_unlock(&B);
    pthread_mutex_unlock(&r);
    pthread_mutex_destroy(&r);
    printf("ok\n");
    return 0;
}

static void *rd_then_m(void *arg)
{
    pthread_rwlock_rdlock(&RW); /* LINE:rw_rd */
    pthread_mutex_lock(&A); /* LINE:rw_rd_a */
    pthread_mutex_unlock(&A);
    pthread_rwlock_unlock(&RW);
    return NULL;
}

static void *m_then_wr(void *arg)
{
    pthread_mutex_lock(&A); /* LINE:rw_a */
    pthread_rwlock_wrlock(&RW); /* LINE:rw_wr */
    pthread_rwlock_unlock(&RW);
    pthread_mutex_unlock(&A);
    return NULL;
}

/* A reader holding RW waits for A; a holder of A waits to write RW. */
static int mode_rwlock(int argc, char **argv)
{
    print_locks();
    run_thread(rd_then_m);
    run_thread(m_then_wr);
    return 0;
}

static pthread_barrier_t both_hold;

static void *real_ab(void *arg)
{
    pthread_mutex_lock(&A); /* LINE:real_ab_a */
    pthread_barrier_wait(&both_hold);
    pthread_mutex_lock(&B); /* LINE:real_ab_b */
    return NULL;
}

static void *real_ba(void *arg)
{
    pthread_mutex_lock(&B); /* LINE:real_ba_b */
    pthread_barrier_wait(&both_hold);
    pthread_mutex_lock(&A); /* LINE:real_ba_a */
    return NULL;
}

/* The same with locks of the program's own, annotated for TSan: each
 * thread spins in the other's lock. */
static void *own_real_ab(void *arg)
{
    prog_lock(&LA); /* LINE:own_real_ab_a */
    pthread_barrier_wait(&both_hold);
    prog_lock(&LB); /* LINE:own_real_ab_b */
    return NULL;
}

static void *own_real_ba(void *arg)
{
    prog_lock(&LB); /* LINE:own_real_ba_b */
    pthread_barrier_wait(&both_hold);
    prog_lock(&LA); /* LINE:own_real_ba_a */
    return NULL;
}

static int mode_own_real(int argc, char **argv)
{
    pthread_t t1, t2;
    printf("A=%p B=%p\n", (void *)&LA, (void *)&LB);
    pthread_barrier_init(&both_hold, NULL, 2);
    pthread_create(&t1, NULL, own_real_ab, NULL);
    pthread_create(&t2, NULL, own_real_ba, NULL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    printf("not reached\n");
    return 0;
}

/* Both threads hold one lock and wait for the other's: a real deadlock. */
static int mode_real(int argc, char **argv)
{
    pthread_t t1, t2;
    print_locks();
    pthread_barrier_init(&both_hold, NULL, 2);
    pthread_create(&t1, NULL, real_ab, NULL);
    pthread_create(&t2, NULL, real_ba, NULL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    printf("not reached\n");
    return 0;
}

static void *lonely_receiver(void *arg)
{
    tg_chan_t *ch = arg;
    int v;
    tg_chan_recv(ch, &v, NULL); /* LINE:asleep_recv */
    return NULL;
}

/* main joins a thread that waits for a value nobody will send: every
 * thread is asleep, Go's "all goroutines are asleep - deadlock!". */
static int mode_asleep(int argc, char **argv)
{
    tg_chan_t *ch;
    pthread_t t;
    tg_chan_new(&ch, sizeof(int), 0);
    pthread_create(&t, NULL, lonely_receiver, ch);
    pthread_join(t, NULL); /* LINE:asleep_join */
    printf("not reached\n");
    return 0;
}

/* A plain (non-recursive) mutex locked twice by its owner: hangs. */
static int mode_relock(int argc, char **argv)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m); /* LINE:relock_first */
    pthread_mutex_lock(&m); /* LINE:relock_second */
    printf("not reached\n");
    return 0;
}

/* Only one of the two orders is under G: the gate does not guard the
 * cycle, so it can still deadlock. */
static int mode_half_gate(int argc, char **argv)
{
    print_locks();
    run_thread(gated_ab);
    run_thread(ba);
    return 0;
}

static pthread_spinlock_t SA, SB;

static void *spin_ab(void *arg)
{
    pthread_spin_lock(&SA);
    pthread_spin_lock(&SB); /* LINE:spin_ab_b */
    pthread_spin_unlock(&SB);
    pthread_spin_unlock(&SA);
    return NULL;
}

static void *spin_ba(void *arg)
{
    pthread_spin_lock(&SB);
    pthread_spin_lock(&SA); /* LINE:spin_ba_a */
    pthread_spin_unlock(&SA);
    pthread_spin_unlock(&SB);
    return NULL;
}

static int mode_spin(int argc, char **argv)
{
    pthread_spin_init(&SA, PTHREAD_PROCESS_PRIVATE);
    pthread_spin_init(&SB, PTHREAD_PROCESS_PRIVATE);
    printf("SA=%p SB=%p\n", (void *)&SA, (void *)&SB);
    run_thread(spin_ab);
    run_thread(spin_ba);
    return 0;
}

#define CHAIN 30
static pthread_mutex_t chain[CHAIN];
static _Atomic int chain_next;

static void *chain_link(void *arg)
{
    int i = atomic_fetch_add(&chain_next, 1);
    pthread_mutex_lock(&chain[i]);
    pthread_mutex_lock(&chain[(i + 1) % CHAIN]); /* LINE:chain_next */
    pthread_mutex_unlock(&chain[(i + 1) % CHAIN]);
    pthread_mutex_unlock(&chain[i]);
    return NULL;
}

/* L0 -> L1 -> ... -> L29 -> L0: a cycle longer than TSan's limit of 20. */
static int mode_long_cycle(int argc, char **argv)
{
    for (int i = 0; i < CHAIN; i++)
        pthread_mutex_init(&chain[i], NULL);
    for (int i = 0; i < CHAIN; i++)
        run_thread(chain_link);
    printf("cycle=%d\n", CHAIN);
    return 0;
}

#define CROWD 10000
static void *crowd(void *arg)
{
    /* 10,000 other locks, each nested under G: TSan forgets edges once
     * 4,096 other locks have been used. */
    static pthread_mutex_t locks[CROWD];
    for (int i = 0; i < CROWD; i++) {
        pthread_mutex_init(&locks[i], NULL);
        pthread_mutex_lock(&G);
        pthread_mutex_lock(&locks[i]);
        pthread_mutex_unlock(&locks[i]);
        pthread_mutex_unlock(&G);
    }
    return NULL;
}

/* A -> B, then a crowd of other locks, then B -> A: still a cycle. */
static int mode_crowd(int argc, char **argv)
{
    print_locks();
    run_thread(ab);
    run_thread(crowd);
    run_thread(ba);
    return 0;
}

static pthread_t join_target;
static _Atomic pid_t target_tid;

static void *lock_a_late(void *arg)
{
    atomic_store(&target_tid, prog_tid());
    pthread_mutex_lock(&A); /* LINE:jc_lock */
    pthread_mutex_unlock(&A);
    return NULL;
}

static void *hold_a_and_join(void *arg)
{
    pthread_mutex_lock(&A);
    pthread_create(&join_target, NULL, lock_a_late, NULL);
    prog_wait_tid(&target_tid);
    pthread_join(join_target, NULL); /* LINE:jc_join */
    pthread_mutex_unlock(&A);
    return NULL;
}

/* A thread holding A joins a thread waiting for A: a wait-for cycle
 * through a join. */
static int mode_join_cycle(int argc, char **argv)
{
    pthread_t t;
    print_locks();
    pthread_create(&t, NULL, hold_a_and_join, NULL);
    pthread_join(t, NULL);
    printf("not reached\n");
    return 0;
}

static pthread_barrier_t rw_both;

static void *rw_writer_then_a(void *arg)
{
    pthread_rwlock_wrlock(&RW);
    pthread_barrier_wait(&rw_both);
    pthread_mutex_lock(&A); /* LINE:rwr_a */
    return NULL;
}

static void *a_then_rw_reader(void *arg)
{
    pthread_mutex_lock(&A);
    pthread_barrier_wait(&rw_both);
    pthread_rwlock_rdlock(&RW); /* LINE:rwr_rd */
    return NULL;
}

/* The writer of RW waits for A; the holder of A waits to read RW. */
static int mode_rw_real(int argc, char **argv)
{
    pthread_t t1, t2;
    print_locks();
    pthread_barrier_init(&rw_both, NULL, 2);
    pthread_create(&t1, NULL, rw_writer_then_a, NULL);
    pthread_create(&t2, NULL, a_then_rw_reader, NULL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    printf("not reached\n");
    return 0;
}

/* One thread repeats the same nestings many times (the shim answers a
 * repeat from its per-thread chain cache): trylocks of B under A, which
 * make no edge; A then B 100 times; G, A, B 50 times; G, C, A, then G let
 * go out of order and B taken under C and A, 25 times. A -> B is seen 175
 * times. Then B then A, once, in another thread. */
static void *counted_nestings(void *arg)
{
    for (int i = 0; i < 10; i++) {
        pthread_mutex_lock(&A);
        if (pthread_mutex_trylock(&B) == 0)
            pthread_mutex_unlock(&B);
        pthread_mutex_unlock(&A);
    }
    for (int i = 0; i < 100; i++)
        ab(NULL);
    for (int i = 0; i < 50; i++)
        gated_ab(NULL);
    for (int i = 0; i < 25; i++) {
        pthread_mutex_lock(&G);
        pthread_mutex_lock(&C);
        pthread_mutex_lock(&A);
        pthread_mutex_unlock(&G);
        pthread_mutex_lock(&B);
        pthread_mutex_unlock(&B);
        pthread_mutex_unlock(&A);
        pthread_mutex_unlock(&C);
    }
    return NULL;
}

static int mode_counted(int argc, char **argv)
{
    print_locks();
    run_thread(counted_nestings);
    run_thread(ba);
    return 0;
}

/* A -> B is first seen under G and C, twice; then G is let go before B is
 * taken, so G is no gate of A -> B. B -> A is only ever taken under G: the
 * cycle can deadlock, and a repeat of the earlier nesting must not be
 * mistaken for the last one. */
static void *gate_dropped(void *arg)
{
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&G);
        pthread_mutex_lock(&C);
        ab(NULL);
        pthread_mutex_unlock(&C);
        pthread_mutex_unlock(&G);
    }
    pthread_mutex_lock(&G);
    pthread_mutex_lock(&C);
    pthread_mutex_lock(&A);
    pthread_mutex_unlock(&G);
    pthread_mutex_lock(&B); /* LINE:dropped_b */
    pthread_mutex_unlock(&B);
    pthread_mutex_unlock(&A);
    pthread_mutex_unlock(&C);
    return NULL;
}

static int mode_gate_dropped(int argc, char **argv)
{
    print_locks();
    run_thread(gate_dropped);
    run_thread(gated_ba);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct prog_mode modes[] = {
        { "abba", mode_abba },
        { "annotated", mode_annotated },
        { "three", mode_three },
        { "consistent", mode_consistent },
        { "gate", mode_gate },
        { "trylock", mode_trylock },
        { "reinit", mode_reinit },
        { "recursive", mode_recursive },
        { "rwlock", mode_rwlock },
        { "real", mode_real },
        { "own-real", mode_own_real },
        { "asleep", mode_asleep },
        { "relock", mode_relock },
        { "half_gate", mode_half_gate },
        { "spin", mode_spin },
        { "long_cycle", mode_long_cycle },
        { "crowd", mode_crowd },
        { "join_cycle", mode_join_cycle },
        { "rw_real", mode_rw_real },
        { "counted", mode_counted },
        { "gate_dropped", mode_gate_dropped },
        { NULL, NULL },
    };
    return prog_main(modes, argc, argv);
}
