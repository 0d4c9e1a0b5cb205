/*
 * dlo.c: a shared library loaded with dlopen by `hostile dlopen`. It parks
 * a thread of its own forever, so the leak report has to symbolize frames
 * in a module that was not there when the program started. Built at run
 * time by test_badinput.c (cc -shared), not by the Makefile.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static sem_t never;
static _Atomic pid_t worker;

static void *dlo_worker(void *arg)
{
    (void)arg;
    atomic_store(&worker, (pid_t)syscall(SYS_gettid));
    sem_wait(&never); /* LINE:dlo_wait */
    return NULL;
}

/* Starts the worker; returns its kernel thread id once it has one. */
pid_t dlo_start_leak(void)
{
    pthread_t t;
    sem_init(&never, 0, 0);
    pthread_create(&t, NULL, dlo_worker, NULL);
    pid_t tid;
    while ((tid = atomic_load(&worker)) == 0)
        usleep(1000);
    return tid;
}
