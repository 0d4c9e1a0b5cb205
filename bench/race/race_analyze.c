/*
 * bench/race/race_analyze.c: the race analysis alone on one log, timed:
 * prints the events replayed, the accesses checked, the racing pairs and
 * the accesses checked per second (the analyzer's speed target is at
 * least 5 million), and the same for the 8-byte words those accesses
 * touched: a loop checked as a range (`tangle cc`'s loop pass) is one
 * access of many words. Linked with build/lib/libtangle-analyzer.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "analyzer.h"
#include "race.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: race_analyze LOG\n");
        return 64;
    }
    struct tlog *log;
    char *err = NULL;
    if (tlog_open(argv[1], &log, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 65;
    }
    struct race_stats st;
    double t0 = now();
    long pairs = race_check(log, NULL, NULL, &st);
    double dt = now() - t0;
    printf("events %llu accesses %llu pairs %ld forced %llu words %llu "
           "seconds %.3f accesses_per_s %.0f word_checks %llu word_checks_per_s %.0f\n",
           (unsigned long long)st.events, (unsigned long long)st.accesses,
           pairs, (unsigned long long)st.forced, (unsigned long long)st.words,
           dt, dt > 0 ? (double)st.accesses / dt : 0.0,
           (unsigned long long)st.word_checks, dt > 0 ? (double)st.word_checks / dt : 0.0);
    tlog_close(log);
    return 0;
}
