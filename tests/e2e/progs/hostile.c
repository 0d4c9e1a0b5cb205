/*
 * hostile.c: programs that end or change in every awkward way a traced
 * process can: fork (the child must get its own log), exec, dlopen,
 * thread cancellation, pthread_exit from main, exit() from a worker, a
 * SIGSEGV, a kill -9 while sleeping, a hang. Most modes leave one thread
 * parked on a channel receive (stuck_receiver), a leak the report must
 * still show however the process ended, since the log lives outside the
 * process.
 */
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>

#include "progs.h"

static _Atomic pid_t stuck_tid;

static void *stuck_receiver(void *arg)
{
    tg_chan_t *ch = arg;
    atomic_store(&stuck_tid, prog_tid());
    tg_chan_recv(ch, NULL, NULL); /* LINE:h_stuck */
    return NULL;
}

/* Starts stuck_receiver and returns once it sleeps on its channel. */
static void start_stuck(void)
{
    tg_chan_t *ch;
    pthread_t t;
    atomic_store(&stuck_tid, 0);
    tg_chan_new(&ch, sizeof(int), 0);
    pthread_create(&t, NULL, stuck_receiver, ch); /* LINE:h_stuck_create */
    prog_wait_blocked(prog_wait_tid(&stuck_tid));
}

static int mode_leak1(int argc, char **argv)
{
    start_stuck();
    return 0;
}

static int mode_exitcode(int argc, char **argv)
{
    printf("hello\n");
    return argc > 1 ? atoi(argv[1]) : 0;
}

/* The child leaks a thread; the parent is clean. */
static int mode_fork(int argc, char **argv)
{
    pid_t c = fork();
    if (c < 0)
        return 3;
    if (c == 0) {
        start_stuck();
        printf("child=%d\n", (int)getpid());
        exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("parent=%d\n", (int)getpid());
    return WIFEXITED(st) ? WEXITSTATUS(st) : 4;
}

/* Replaces itself with `hostile leak1`: the new image logs afresh. */
static int mode_exec(int argc, char **argv)
{
    char *args[] = { "hostile", "leak1", NULL };
    printf("pid=%d\n", (int)getpid());
    execv("/proc/self/exe", args);
    perror("execv");
    return 3;
}

/* Loads the library named by argv[1], which parks a thread of its own. */
static int mode_dlopen(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 3;
    }
    pid_t (*start)(void) = (pid_t(*)(void))dlsym(h, "dlo_start_leak");
    if (!start)
        return 4;
    prog_wait_blocked(start());
    return 0;
}

static sem_t never;
static _Atomic pid_t victim_tid;

static void *cancel_victim(void *arg)
{
    atomic_store(&victim_tid, prog_tid());
    sem_wait(&never);
    return NULL;
}

/* A thread cancelled in sem_wait and joined: nothing left behind. */
static int mode_cancel(int argc, char **argv)
{
    pthread_t t;
    void *res;
    sem_init(&never, 0, 0);
    pthread_create(&t, NULL, cancel_victim, NULL);
    prog_wait_blocked(prog_wait_tid(&victim_tid));
    pthread_cancel(t);
    pthread_join(t, &res);
    printf("canceled=%d\n", res == PTHREAD_CANCELED);
    return 0;
}

static void *last_one_out(void *arg)
{
    prog_msleep(200);
    printf("worker done\n");
    return NULL;
}

/* main leaves with pthread_exit; the process ends with the (detached)
 * worker, exit status 0. */
static int mode_main_exit(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, last_one_out, NULL);
    pthread_detach(t);
    pthread_exit(NULL);
}

static void *exiter(void *arg)
{
    prog_msleep(100);
    exit(3); /* LINE:h_exit3 */
}

/* A worker ends the process with exit(3) while main waits to join it. */
static int mode_worker_exit(int argc, char **argv)
{
    pthread_t t;
    pthread_create(&t, NULL, exiter, NULL);
    pthread_join(t, NULL);
    return 0;
}

static int mode_segv(int argc, char **argv)
{
    start_stuck();
    printf("crashing\n");
    *(volatile int *)(uintptr_t)argc = 1; /* LINE:h_segv */
    return 0;
}

/* _exit skips atexit handlers and destructors: the log must still get its
 * end, with the status. */
static int mode_underscore_exit(int argc, char **argv)
{
    start_stuck();
    _exit(5);
}

static void on_segv(int sig)
{
    static const char msg[] = "handled\n";
    (void)sig;
    write(1, msg, sizeof msg - 1);
    _exit(9);
}

/* The program's own SIGSEGV handler, installed after the shim loaded,
 * must still run and decide how the process ends. */
static int mode_segv_handler(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
    start_stuck();
    *(volatile int *)(uintptr_t)argc = 1;
    return 0;
}

/* Leaks a thread, says ready, then sleeps until killed. */
static int mode_sleeper(int argc, char **argv)
{
    start_stuck();
    printf("ready\n");
    for (;;)
        prog_msleep(50);
    return 0;
}

/* No leak: says ready, then sleeps until a signal ends it. */
static int mode_idle(int argc, char **argv)
{
    printf("ready\n");
    for (;;)
        prog_msleep(50);
    return 0;
}

static void on_term(int sig)
{
    static const char msg[] = "handled\n";
    write(1, msg, sizeof msg - 1);
    /* The usual way out of a cleanup handler: the default back, and the
     * signal again, so the parent sees the death by signal. */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The program's own SIGTERM handler, which re-raises with the default
 * action. Also says whether SIGTERM looked untouched (SIG_DFL) before. */
static int mode_reraise(int argc, char **argv)
{
    struct sigaction old;
    sigaction(SIGTERM, NULL, &old);
    printf("dfl=%d\n", !(old.sa_flags & SA_SIGINFO) &&
                           old.sa_handler == SIG_DFL);
    signal(SIGTERM, on_term);
    raise(SIGTERM);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct prog_mode modes[] = {
        { "leak1", mode_leak1 },
        { "exitcode", mode_exitcode },
        { "fork", mode_fork },
        { "exec", mode_exec },
        { "dlopen", mode_dlopen },
        { "cancel", mode_cancel },
        { "main_exit", mode_main_exit },
        { "worker_exit", mode_worker_exit },
        { "segv", mode_segv },
        { "_exit", mode_underscore_exit },
        { "segv_handler", mode_segv_handler },
        { "sleeper", mode_sleeper },
        { "idle", mode_idle },
        { "reraise", mode_reraise },
        { NULL, NULL },
    };
    return prog_main(modes, argc, argv);
}
