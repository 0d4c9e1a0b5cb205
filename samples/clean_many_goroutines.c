/*
 * clean_many_goroutines.c: the seed's "you can run a million goroutines",
 * measured for threads. It starts 10,000 threads (or argv[1]) with tg_go
 * and 64 KiB stacks; each one parks on a `quit` channel, Go's sleeping
 * goroutine. Main reads VmRSS from /proc/self/status before and after and
 * prints the resident memory per parked thread next to Go's ~2 KiB per
 * goroutine, then closes `quit` (one close wakes them all), waits for them
 * on a WaitGroup, and watches the process's thread count fall back to where
 * it started (Go's runtime.NumGoroutine()). Every thread stops, so tangle
 * reports nothing. If the system refuses a thread, the sample goes on with
 * those it has and says so.
 *
 * EXPECT: none
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tangle/tangle.h"

enum { DEFAULT_THREADS = 10000, STACK_KIB = 64 };

static tg_chan_t *quit;
static tg_wg_t parked = TG_WG_INIT;    /* threads about to park on quit */
static tg_wg_t finished = TG_WG_INIT;  /* threads past their last use */

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "clean_many_goroutines: %s: %s\n", what,
                tg_strerror(err));
        exit(1);
    }
}

/* A field of /proc/self/status ("VmRSS", "Threads"), or -1. */
static long proc_status(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* `go func() { <-quit }()`: sleeps until quit is closed. */
static void sleeper(void *arg)
{
    (void)arg;
    tg_wg_done(&parked);
    tg_chan_recv(quit, NULL, NULL);
    tg_wg_done(&finished);
}

int main(int argc, char **argv)
{
    long want = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_THREADS;
    tg_go_opts_t opts = { .name = "sleeper", .stack_size = STACK_KIB * 1024 };
    long threads_before = proc_status("Threads");
    long rss_before = proc_status("VmRSS");
    int64_t start = tg_now();
    long started = 0;

    if (want < 1)
        want = DEFAULT_THREADS;
    check(tg_chan_new(&quit, 0, 0), "new quit channel");
    for (; started < want; started++) {
        check(tg_wg_add(&parked, 1), "wg add");
        check(tg_wg_add(&finished, 1), "wg add");
        int err = tg_go(sleeper, NULL, &opts);
        if (err < 0) {
            tg_wg_add(&parked, -1);
            tg_wg_add(&finished, -1);
            printf("the system refused thread %ld: %s; going on with %ld\n",
                   started + 1, tg_strerror(err), started);
            break;
        }
    }
    tg_wg_wait(&parked);
    long rss_after = proc_status("VmRSS");
    printf("started %ld threads (%d KiB stacks) in %lld ms; all parked\n",
           started, STACK_KIB, (long long)((tg_now() - start) / TG_MSEC));
    if (started > 0 && rss_before >= 0 && rss_after >= 0)
        printf("resident memory: %ld KiB before, %ld KiB after: %.1f KiB per "
               "thread (Go: about 2 KiB per goroutine)\n", rss_before,
               rss_after, (double)(rss_after - rss_before) / started);
    long threads_parked = proc_status("Threads");
    printf("threads in the process now: %ld\n", threads_parked);

    start = tg_now();
    check(tg_chan_close(quit), "close quit");  /* wakes every sleeper */
    tg_wg_wait(&finished);

    /* The threads are detached: wait until the kernel has seen them all
     * exit, so "stopped" is what /proc says, not only what they said. The
     * target is counted down from the parked total rather than taken from
     * the start, since a tool may have added a thread of its own since. */
    long target = threads_parked - started;
    long now = proc_status("Threads");
    for (int i = 0; i < 500 && now > target; i++) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
        now = proc_status("Threads");
    }
    printf("closed quit: %ld threads stopped in %lld ms; threads in the "
           "process now: %ld (before starting them: %ld)\n", started,
           (long long)((tg_now() - start) / TG_MSEC), now, threads_before);
    check(tg_chan_free(quit), "free quit");
    return now <= target ? 0 : 1;
}
