/*
 * bug_race_loopvar.c: the address of a loop variable handed to threads,
 * the C twin of Go's "capture loop variables with i := i". main starts
 * four workers with pthread_create(..., &i) and goes on incrementing i
 * while each worker reads *arg to learn its id: reads and writes of i
 * race, and workers often see the wrong id (two see the same one, one sees
 * 4). Built with `tangle cc`, tangle must report the race between the
 * worker's read of i and main's increment, with both stacks. The fix: give
 * each thread its own copy (an array of ids, or the value in the pointer).
 *
 * BUILD: race
 * EXPECT: kind=race function=worker
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NTHREADS = 4 };

static void check(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "bug_race_loopvar: %s: %s\n", what, strerror(err));
        exit(1);
    }
}

static void *worker(void *arg)
{
    int id = *(int *)arg;   /* races with main's i++ */

    printf("worker: my id is %d\n", id);
    return NULL;
}

int main(void)
{
    pthread_t t[NTHREADS];
    int i;   /* outlives the threads: the bug is the sharing, not the scope */

    for (i = 0; i < NTHREADS; i++)
        check(pthread_create(&t[i], NULL, worker, &i), "pthread_create");
    for (int j = 0; j < NTHREADS; j++)
        check(pthread_join(t[j], NULL), "pthread_join");
    printf("main: started workers 0..%d, each given &i\n", NTHREADS - 1);
    return 0;
}
