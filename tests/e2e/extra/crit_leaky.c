/*
 * crit_leaky.c: a Criterion suite whose one test passes but leaves a
 * thread blocked on a channel, the bug `tangle run -- ./tests` is for.
 * Criterion runs the test in a forked worker, so the leak belongs to that
 * worker's log, not the runner's. Built at run time by test_leaks.c.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <tangle/tangle.h>

static _Atomic pid_t reader_tid;

static void *forgotten_reader(void *arg)
{
    tg_chan_t *ch = arg;
    int v;
    atomic_store(&reader_tid, (pid_t)syscall(SYS_gettid));
    tg_chan_recv(ch, &v, NULL); /* LINE:crit_leak_recv */
    return NULL;
}

/* Whether thread tid sleeps in the kernel now. */
static int sleeping(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'S';
}

Test(crit_leaky, passes_but_leaves_a_reader_behind)
{
    tg_chan_t *ch;
    pthread_t t;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    cr_assert_eq(pthread_create(&t, NULL, forgotten_reader, ch), 0);
    /* Return once the reader is parked, so the report shows it there. */
    pid_t tid;
    while ((tid = atomic_load(&reader_tid)) == 0)
        usleep(1000);
    for (int seen = 0, i = 0; seen < 3 && i < 4000; i++) {
        seen = sleeping(tid) ? seen + 1 : 0;
        usleep(5000);
    }
}
