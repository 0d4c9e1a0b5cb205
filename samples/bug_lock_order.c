/*
 * bug_lock_order.c: a lock-order inversion that does not hang. transfer()
 * locks the source account, then the destination. The first teller moves
 * money from A to B (locks A then B); once it is done, a second teller
 * moves money from B to A (locks B then A). Because the two never overlap
 * in time the run completes, but the order A->B->A is a cycle: run them
 * concurrently and each can hold one lock while waiting for the other.
 * tangle must report the cycle (kind lock-order) with both acquisition
 * sites in transfer(), even though this run did not deadlock.
 *
 * EXPECT: kind=lock-order function=transfer
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

struct move {
    struct account *from, *to;
    long amount;
};

static void check(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "bug_lock_order: %s: %s\n", what, strerror(err));
        exit(1);
    }
}

/* Locks from, then to: the order depends on the arguments. */
static void transfer(struct account *from, struct account *to, long amount)
{
    pthread_mutex_lock(&from->lock);
    pthread_mutex_lock(&to->lock);
    from->balance -= amount;
    to->balance += amount;
    pthread_mutex_unlock(&to->lock);
    pthread_mutex_unlock(&from->lock);
}

static void *teller(void *arg)
{
    struct move *m = arg;

    transfer(m->from, m->to, m->amount);
    printf("teller: moved %ld from %s to %s (locked %s, then %s)\n",
           m->amount, m->from->name, m->to->name, m->from->name, m->to->name);
    return NULL;
}

int main(void)
{
    struct move ab = { &a, &b, 30 }, ba = { &b, &a, 10 };
    pthread_t t;

    /* One teller after the other: never at the same time, never a hang. */
    check(pthread_create(&t, NULL, teller, &ab), "pthread_create");
    check(pthread_join(t, NULL), "pthread_join");
    check(pthread_create(&t, NULL, teller, &ba), "pthread_create");
    check(pthread_join(t, NULL), "pthread_join");

    printf("balances: A=%ld B=%ld; no hang this time, but the lock order "
           "A->B->A is a cycle\n", a.balance, b.balance);
    return 0;
}
