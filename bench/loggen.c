/*
 * bench/loggen.c: programs whose only purpose is to leave a big log behind
 * for timing the analyzer. `loggen storm N` has two threads take and
 * release a private mutex N times each: a stream of 4N lock events over a
 * fixed set of threads and objects, so the analyzer's memory should not
 * move as N grows. `loggen chain N` takes N mutexes hand over hand (each
 * acquired while holding the previous one: N-1 lock-order edges in a
 * chain) and then one back edge from the last to the first, so the
 * lock-order graph has N nodes and exactly one cycle, of length N: the
 * worst case for a cycle search, and it shows whether it is linear.
 * `loggen tail N` builds the same chain but closes a cycle of two at its
 * end (the last lock, then the one before it): the search still has the
 * whole graph to cover while the report stays small, so the two together
 * tell the search's cost from the cost of printing a long cycle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long parse_count(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v == 0) {
        fprintf(stderr, "loggen: '%s' is not a positive count\n", s);
        exit(64);
    }
    return v;
}

struct storm_arg {
    pthread_mutex_t mu;
    unsigned long n;
    unsigned long sum;
};

static void *storm_worker(void *p)
{
    struct storm_arg *a = p;
    for (unsigned long i = 0; i < a->n; i++) {
        pthread_mutex_lock(&a->mu);
        a->sum += i;
        pthread_mutex_unlock(&a->mu);
    }
    return NULL;
}

static int storm(unsigned long n)
{
    struct storm_arg a[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        pthread_mutex_init(&a[i].mu, NULL);
        a[i].n = n;
        a[i].sum = 0;
        if (pthread_create(&t[i], NULL, storm_worker, &a[i]) != 0) {
            perror("loggen: pthread_create");
            return 1;
        }
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("storm: %lu lock/unlock pairs on each of 2 threads\n", n);
    return 0;
}

/* The locks are never destroyed: destroying a lock takes it out of the
 * graph, and the point is a graph of n nodes at exit. With short_cycle the
 * back edge goes to the second-to-last lock instead of the first. */
static int chain(unsigned long n, int short_cycle)
{
    if (n < 2) {
        fprintf(stderr, "loggen: a chain needs at least 2 locks\n");
        return 64;
    }
    pthread_mutex_t *l = calloc(n, sizeof *l);
    if (!l) {
        perror("loggen: calloc");
        return 1;
    }
    for (unsigned long i = 0; i < n; i++)
        pthread_mutex_init(&l[i], NULL);
    pthread_mutex_lock(&l[0]);
    for (unsigned long i = 1; i < n; i++) {
        pthread_mutex_lock(&l[i]);
        pthread_mutex_unlock(&l[i - 1]);
    }
    unsigned long back = short_cycle ? n - 2 : 0;
    pthread_mutex_lock(&l[back]);       /* the back edge: last -> back */
    pthread_mutex_unlock(&l[back]);
    pthread_mutex_unlock(&l[n - 1]);
    printf("chain: %lu locks, %lu edges, one cycle of length %lu\n", n, n,
           n - back);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: loggen storm|chain|tail N\n");
        return 64;
    }
    unsigned long n = parse_count(argv[2]);
    if (strcmp(argv[1], "storm") == 0)
        return storm(n);
    if (strcmp(argv[1], "chain") == 0)
        return chain(n, 0);
    if (strcmp(argv[1], "tail") == 0)
        return chain(n, 1);
    fprintf(stderr, "loggen: unknown mode '%s'\n", argv[1]);
    return 64;
}
