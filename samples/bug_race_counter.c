/*
 * bug_race_counter.c: an unsynchronized counter. Two threads each add one
 * to a global counter a million times with a plain `counter++` (a load and
 * a store, no lock, no atomic); a barrier starts both at once, so
 * increments are lost and the total is usually short of two million. The
 * seed's rule: never share mutable data between goroutines without
 * synchronization. Built with `tangle cc` (the -fsanitize=thread entry
 * points routed to tangle's shim), tangle must report the race on
 * `counter` with both threads' stacks in increment().
 * The fix: a mutex around the increment, or an atomic add.
 *
 * BUILD: race
 * EXPECT: kind=race function=increment
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ITERATIONS = 1000000 };

static long counter;
static pthread_barrier_t start;   /* both threads count at the same time */

static void check(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "bug_race_counter: %s: %s\n", what, strerror(err));
        exit(1);
    }
}

static void *increment(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < ITERATIONS; i++)
        counter++;   /* the race */
    return NULL;
}

int main(void)
{
    pthread_t t1, t2;

    check(pthread_barrier_init(&start, NULL, 2), "pthread_barrier_init");
    check(pthread_create(&t1, NULL, increment, NULL), "pthread_create");
    check(pthread_create(&t2, NULL, increment, NULL), "pthread_create");
    check(pthread_join(t1, NULL), "pthread_join");
    check(pthread_join(t2, NULL), "pthread_join");
    printf("two threads added 1 to counter %d times each: expected %d, got "
           "%ld%s\n", ITERATIONS, 2 * ITERATIONS, counter,
           counter == 2 * ITERATIONS ? " (lucky this time)" : " (lost updates)");
    return 0;
}
