/*
 * bug_unjoined.c: a thread never joined. main starts a background job
 * with pthread_create, waits until the job has finished (it sends its
 * thread id on a channel, then main watches /proc/self/task until that
 * thread is gone), and exits without pthread_join or pthread_detach. The
 * thread's resources (its stack, its exit status) are held until the
 * process ends: harmless once, a memory leak in a loop. tangle must report
 * the finished thread as unjoined, naming its start routine.
 *
 * EXPECT: kind=unjoined function=background_job
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tangle/tangle.h"

static tg_chan_t *tids;

static void *background_job(void *arg)
{
    long sum = 0;
    pid_t tid = gettid();

    (void)arg;
    for (int i = 1; i <= 1000; i++)
        sum += i;
    printf("background job: sum %ld, finished\n", sum);
    tg_chan_send(tids, &tid);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pid_t tid;
    char path[64];
    struct stat st;
    int err;

    if ((err = tg_chan_new(&tids, sizeof(pid_t), 1)) < 0) {
        fprintf(stderr, "bug_unjoined: new channel: %s\n", tg_strerror(err));
        return 1;
    }
    if ((err = pthread_create(&t, NULL, background_job, NULL)) != 0) {
        fprintf(stderr, "bug_unjoined: pthread_create: %s\n", strerror(err));
        return 1;
    }
    tg_chan_recv(tids, &tid, NULL);

    /* Wait for the thread to be gone, so it is finished rather than still
     * running (which would be a leak) when the process exits. */
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)tid);
    for (int i = 0; i < 500 && stat(path, &st) == 0; i++) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    printf("main: the job's thread has exited; returning without joining "
           "or detaching it\n");
    return 0;
}
