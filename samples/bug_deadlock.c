/*
 * bug_deadlock.c: a real two-thread deadlock, the concurrent version of
 * bug_lock_order.c. Two tellers run transfer() at the same time, one from
 * A to B and one from B to A; a barrier between the first and the second
 * lock makes sure each holds its first account before asking for the
 * other, so the program hangs every time. Under `tangle run` the watchdog
 * sees the wait-for cycle (each teller waits for the mutex the other
 * holds, main waits in join) and reports it as a deadlock with both
 * threads, what each waits on, and who holds it; then it ends the process.
 * It may also report the lock-order cycle A->B->A behind the deadlock
 * (hence the ALLOW line), as bug_lock_order.c does.
 *
 * HANGS: deadlocks by design; run it bare only with a timeout.
 *
 * EXPECT: kind=deadlock function=transfer
 * ALLOW: kind=lock-order
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct account {
    pthread_mutex_t lock;
    const char *name;
    long balance;
};

static struct account a = { PTHREAD_MUTEX_INITIALIZER, "A", 100 };
static struct account b = { PTHREAD_MUTEX_INITIALIZER, "B", 100 };
static pthread_barrier_t both_hold_one;

struct move {
    struct account *from, *to;
    long amount;
};

static void check(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "bug_deadlock: %s: %s\n", what, strerror(err));
        exit(1);
    }
}

/* Locks from, then to, with the other teller in lock-step in between. */
static void transfer(struct account *from, struct account *to, long amount)
{
    pthread_mutex_lock(&from->lock);
    printf("teller: locked %s, now waiting for %s\n", from->name, to->name);
    pthread_barrier_wait(&both_hold_one);
    pthread_mutex_lock(&to->lock);   /* never returns */
    from->balance -= amount;
    to->balance += amount;
    pthread_mutex_unlock(&to->lock);
    pthread_mutex_unlock(&from->lock);
}

static void *teller(void *arg)
{
    struct move *m = arg;

    transfer(m->from, m->to, m->amount);
    return NULL;
}

int main(void)
{
    struct move ab = { &a, &b, 30 }, ba = { &b, &a, 10 };
    pthread_t t1, t2;

    setvbuf(stdout, NULL, _IOLBF, 0);  /* show progress even when it hangs */
    check(pthread_barrier_init(&both_hold_one, NULL, 2), "barrier init");
    check(pthread_create(&t1, NULL, teller, &ab), "pthread_create");
    check(pthread_create(&t2, NULL, teller, &ba), "pthread_create");
    printf("main: waiting for the tellers (this never ends)\n");
    check(pthread_join(t1, NULL), "pthread_join");
    check(pthread_join(t2, NULL), "pthread_join");
    printf("main: done (never printed)\n");
    return 0;
}
