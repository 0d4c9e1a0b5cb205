/*
 * bug_philosophers.c: the dining philosophers. Five philosophers sit
 * around a table with one fork between each pair; each takes the fork on
 * the left, then the one on the right. The first course is served in turn
 * (a token passed around the table with semaphores), so each philosopher
 * eats alone and the run goes on: but every fork is now taken while
 * holding its neighbour, a lock-order cycle of five. The second course is
 * served to everyone at once, and a barrier after the left fork makes sure
 * they all hold it before reaching for the right one: nobody can eat, and
 * the program hangs. tangle must report the lock-order cycle and the
 * deadlock (a wait-for cycle through all five philosophers).
 *
 * HANGS: deadlocks by design; run it bare only with a timeout.
 *
 * EXPECT: kind=deadlock function=philosopher
 * EXPECT: kind=lock-order function=philosopher
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 5 };

static pthread_mutex_t forks[N];
static sem_t turn[N];                 /* first course: whose turn it is */
static pthread_barrier_t served;      /* second course: all at once */
static pthread_barrier_t holding_left;

static void check(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "bug_philosophers: %s: %s\n", what, strerror(err));
        exit(1);
    }
}

static void *philosopher(void *arg)
{
    int id = (int)(long)arg;
    pthread_mutex_t *left = &forks[id], *right = &forks[(id + 1) % N];

    /* First course: one at a time. */
    sem_wait(&turn[id]);
    pthread_mutex_lock(left);
    pthread_mutex_lock(right);
    printf("philosopher %d: ate the first course\n", id);
    pthread_mutex_unlock(right);
    pthread_mutex_unlock(left);
    sem_post(&turn[(id + 1) % N]);

    /* Second course: everyone at once. */
    pthread_barrier_wait(&served);
    pthread_mutex_lock(left);
    pthread_barrier_wait(&holding_left);
    pthread_mutex_lock(right);           /* never returns */
    printf("philosopher %d: ate the second course (never printed)\n", id);
    pthread_mutex_unlock(right);
    pthread_mutex_unlock(left);
    return NULL;
}

int main(void)
{
    pthread_t t[N];

    setvbuf(stdout, NULL, _IOLBF, 0);  /* show progress even when it hangs */
    for (int i = 0; i < N; i++) {
        check(pthread_mutex_init(&forks[i], NULL), "mutex init");
        if (sem_init(&turn[i], 0, i == 0) != 0)
            check(errno, "sem_init");
    }
    check(pthread_barrier_init(&served, NULL, N), "barrier init");
    check(pthread_barrier_init(&holding_left, NULL, N), "barrier init");
    for (long i = 0; i < N; i++)
        check(pthread_create(&t[i], NULL, philosopher, (void *)i),
              "pthread_create");
    printf("main: %d philosophers at the table\n", N);
    for (int i = 0; i < N; i++)
        check(pthread_join(t[i], NULL), "pthread_join");
    printf("main: dinner is over (never printed)\n");
    return 0;
}
