/*
 * shim/process.c: the shim's start and the process's end, in every form.
 *
 * The shim starts in its constructor, or earlier if another library's
 * constructor calls an intercepted function first; real functions are
 * resolved lazily for the same reason. The final snapshot (how the process
 * ended, the exit code, the thread that ended it and where) must be written
 * exactly once whichever way the process goes: return from main (caught by
 * wrapping main through __libc_start_main), exit, _exit, a fatal signal
 * (a stand-in for the default action, installed wherever the program
 * leaves one, with sigaction and signal interposed so the program never
 * sees it: it writes the snapshot, restores the default and lets the
 * signal take its course, so the program dies as it would have), execve (marked EXECED
 * just before; undone if the exec fails) or the watchdog ending a
 * deadlocked process. A main that leaves with pthread_exit leaves the
 * process to its last thread, which stops the watchdog on its way out
 * (thread.c) so glibc's own exit(0) still happens. fork gives the child a
 * new log of its own.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

void *tg__resolve(void **slot, const char *name, const char *version)
{
    struct tg__thread *t = &tg__self;
    t->guard++;
    void *p = version ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
    t->guard--;
    if (!p) {
        static const char msg[] = "tangle: cannot resolve a glibc function; "
                                  "the preload shim cannot run\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        write(2, name, strlen(name));
        abort();
    }
    __atomic_store_n(slot, p, __ATOMIC_RELAXED);
    return p;
}

/* ---- the shim's own text range, cut from captured stacks ---------------- */

static int self_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t me = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        uintptr_t hi = lo + ph->p_memsz;
        if (me >= lo && me < hi) {
            tg__g.self_lo = lo;
            tg__g.self_hi = hi;
            return 1;
        }
    }
    return 0;
}

/* ---- signals -------------------------------------------------------------- */

/* Signals whose default action ends the process. Where the program leaves
 * one at its default, the shim's handler stands in for the default: it
 * writes the final snapshot, puts the default back and re-raises, so the
 * process ends exactly as it would have. The program must not notice the
 * stand-in: sigaction and signal are interposed so a query still reports
 * SIG_DFL, a handler the program installs replaces the stand-in (and is
 * the one that runs), and setting SIG_DFL again (as a handler does before
 * re-raising) brings the stand-in back. */
static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
                                     SIGTERM, SIGINT, SIGQUIT, SIGHUP };
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])

REAL_FN(int, sigaction, (int, const struct sigaction *, struct sigaction *));

/* Per fatal signal: whether the stand-in is installed, and the default
 * disposition as the program last set it (its mask and flags), for
 * queries. */
static _Atomic bool standin[NFATAL];
static struct sigaction program_dfl[NFATAL];

static int fatal_index(int sig)
{
    for (size_t i = 0; i < NFATAL; i++)
        if (fatal_signals[i] == sig)
            return (int)i;
    return -1;
}

static void on_fatal(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    int saved = errno;
    tg__finish(TG_PROC_SIGNALED, sig, !tg__self.guard);
    int i = fatal_index(sig);
    struct sigaction dfl;
    if (i >= 0) {
        dfl = program_dfl[i];
        atomic_store(&standin[i], false);
    } else {
        memset(&dfl, 0, sizeof dfl);
        sigemptyset(&dfl.sa_mask);
    }
    dfl.sa_handler = SIG_DFL;
    dfl.sa_flags &= ~SA_SIGINFO;
    REAL(sigaction)(sig, &dfl, NULL);
    /* A fault returns to the faulting instruction and faults again, now
     * with the default action; a sent signal is sent again (it stays
     * pending until this handler returns). */
    if (!info || info->si_code <= 0 || sig == SIGABRT || sig == SIGTERM ||
        sig == SIGINT || sig == SIGQUIT || sig == SIGHUP)
        raise(sig);
    errno = saved;
}

/* Installs the stand-in for fatal signal i, keeping the program's view
 * `dfl` (mask and flags of its SIG_DFL) for queries. */
static int install_standin(size_t i, const struct sigaction *dfl)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    program_dfl[i] = *dfl;
    int rc = REAL(sigaction)(fatal_signals[i], &sa, NULL);
    if (rc == 0)
        atomic_store(&standin[i], true);
    return rc;
}

static void install_signals(void)
{
    for (size_t i = 0; i < NFATAL; i++) {
        struct sigaction old;
        if (REAL(sigaction)(fatal_signals[i], NULL, &old) != 0)
            continue;
        /* Only where the default action applies: a program's own handler
         * (or SIG_IGN) keeps its behaviour untouched. */
        if (old.sa_handler != SIG_DFL)   /* sa_sigaction's storage too */
            continue;
        install_standin(i, &old);
    }
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int i = fatal_index(sig);
    if (i < 0 || !tg__on() || tg__self.guard)
        return REAL(sigaction)(sig, act, old);
    struct sigaction prev;
    bool was = atomic_load(&standin[i]);
    if (was)
        prev = program_dfl[i];
    /* SIG_DFL is a null handler, whichever member of the union holds it. */
    if (act && act->sa_handler == SIG_DFL) {
        if (!was && REAL(sigaction)(sig, NULL, &prev) != 0)
            return -1;
        if (install_standin((size_t)i, act) != 0)
            return -1;
    } else if (act) {
        atomic_store(&standin[i], false);
        if (REAL(sigaction)(sig, act, was ? NULL : &prev) != 0) {
            if (was)
                atomic_store(&standin[i], true);
            return -1;
        }
    } else if (!was) {
        return REAL(sigaction)(sig, NULL, old);
    }
    if (old)
        *old = prev;
    return 0;
}

/* glibc's signal() and its variants reach sigaction inside libc, past the
 * interposed one: they are rebuilt here on the interposed sigaction, with
 * glibc's semantics (BSD: the handler stays and interrupted calls restart;
 * System V: the handler is reset on delivery and not blocked in itself). */
static sighandler_t set_handler(int sig, sighandler_t handler, int flags)
{
    struct sigaction sa, old;
    if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (!(flags & SA_NODEFER))
        sigaddset(&sa.sa_mask, sig);
    if (sigaction(sig, &sa, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

sighandler_t signal(int sig, sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESTART);
}

sighandler_t bsd_signal(int sig, sighandler_t handler);
sighandler_t bsd_signal(int sig, sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESTART);
}

sighandler_t __sysv_signal(int sig, sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESETHAND | SA_NODEFER);
}

sighandler_t sysv_signal(int sig, sighandler_t handler)
{
    return set_handler(sig, handler, SA_RESETHAND | SA_NODEFER);
}

/* ---- start ------------------------------------------------------------------ */

/* A program linked with libtsan (built with -fsanitize=thread by the
 * compiler's own driver, not `tangle cc`): the shim's __tsan_* entry
 * points come first in the symbol lookup, so TSan's runtime sees none of
 * the program's accesses. tangle's race checker cannot stand in for it
 * either: libtsan takes malloc and free itself, so the checker would not
 * see memory change hands. Say so, and check leaks and deadlocks only. */
static void libtsan_check(void)
{
    static const char *const names[] = { "libtsan.so.2", "libtsan.so.0" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        void *h = dlopen(names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        dlclose(h);
        tg__warn("the program is linked with %s (built with -fsanitize=thread "
                 "outside `tangle cc`): under tangle's shim neither TSan nor "
                 "tangle checks its races, only leaks and deadlocks are; "
                 "build it with `tangle cc` for tangle's race checker, or run "
                 "it without tangle for TSan's", names[i]);
        tg__g.opt.race = tg__g.opt.race_log = false;
        tg__rc_on = false;
        return;
    }
}

bool tg__init(void)
{
    /* Called before libc set up the environment (from an executable's
     * .preinit_array, as libtsan's __tsan_init is): the options and the
     * log's directory are not readable yet. The shim's constructor comes
     * later. */
    if (!environ)
        return false;
    int expect = TG__OFF;
    if (!atomic_compare_exchange_strong(&tg__g.state, &expect, TG__INITING))
        return atomic_load(&tg__g.state) == TG__ON;
    struct tg__thread *t = &tg__self;
    t->guard++;
    tg__options_parse(&tg__g.opt);
    libtsan_check();
    dl_iterate_phdr(self_cb, (void *)(uintptr_t)&tg__init);
    if (!tg__log_open(0)) {
        atomic_store(&tg__g.state, TG__UNTRACED);
        t->guard--;
        return false;
    }
    tg__modules_scan();
    tg__threads_init();
    atomic_store(&tg__g.live_threads, 1);   /* the caller: main */
    install_signals();
    atomic_store(&tg__g.state, TG__ON);
    t->guard--;
    tg__thread_slow();   /* registers the caller (main, usually) */
    return true;
}

__attribute__((constructor)) static void shim_start(void)
{
    tg__init();
}

/* ---- the end ------------------------------------------------------------------ */

/* True while a program thread other than `self` is running: neither
 * blocked nor finished. */
static bool others_running(uint32_t self)
{
    uint64_t n = tg__threads_used();
    for (uint32_t id = 1; id <= n; id++) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, id);
        if (id == self || !r ||
            atomic_load_explicit(&r->commit, ACQUIRE) != TG_LOG_COMMITTED)
            continue;
        uint32_t f = atomic_load_explicit(&r->flags, RELAXED);
        if (f & (TG_THRF_INTERNAL | TG_THRF_FOREIGN))
            continue;
        if (atomic_load_explicit(&r->exited_ns, RELAXED))
            continue;
        if (__atomic_load_n(&r->state, __ATOMIC_RELAXED) == TG_TS_RUNNING)
            return true;
    }
    return false;
}

/* goleak's settle loop, at exit: a thread that has done its last
 * synchronization (a WaitGroup done, a send) may still be returning from
 * its start routine when main exits, and would be reported as a running
 * leak. Before the final snapshot, wait with a capped back-off (50 us
 * doubling to 10 ms, at most exit_settle_ms in all) while another program
 * thread is still running. Blocked threads are not waited for: nothing
 * that happens now can unblock them, so their verdict stands. */
static void settle_at_exit(uint32_t self)
{
    int64_t budget = (int64_t)tg__g.opt.exit_settle_ms * 1000000;
    int64_t nap = 50000;
    for (int64_t waited = 0; waited < budget && others_running(self);
         waited += nap, nap = nap * 2 > 10000000 ? 10000000 : nap * 2) {
        struct timespec ts = { 0, nap };
        nanosleep(&ts, NULL);
    }
}

void tg__finish(uint32_t proc_state, int code, bool capture_stack)
{
    if (!tg__g.hdr)
        return;
    /* A vfork child shares our memory but is another process: its exec or
     * _exit is not this process's end. */
    if (getpid() != tg__g.pid)
        return;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&tg__g.finished, &expect, 1))
        return;
    struct tg__thread *t = &tg__self;
    t->guard++;
    /* Only a normal exit (exit, return from main, _exit, even from a
     * handler: nanosleep is async-signal-safe) gives finishing threads
     * time; a fatal signal or a deadlock abort does not wait. */
    if (proc_state == TG_PROC_EXITED)
        settle_at_exit(t->id);
    tg__chains_flush(t);     /* its lock-order counts not yet added */
    struct tg_log_header *h = tg__g.hdr;
    h->exit_code = code;
    h->exit_thread = t->id;
    h->exit_stack = capture_stack ? tg__stack_here() : 0;
    if (proc_state != TG_PROC_SIGNALED && proc_state != TG_PROC_DEADLOCKED)
        tg__modules_scan();   /* not in a signal handler: it takes a lock */
    atomic_store_explicit(&h->end_ns, tg__now(), RELEASE);
    /* Last: a reader that sees the state sees everything above. */
    atomic_store_explicit(&h->proc_state, proc_state, RELEASE);
    t->guard--;
}

static void exit_code(int code)
{
    tg__g.exit_code = code;
    atomic_store(&tg__g.exit_code_set, 1);
}

__attribute__((destructor)) static void shim_end(void)
{
    if (tg__on())
        tg__finish(TG_PROC_EXITED, tg__g.exit_code, true);
}

REAL_FN(void, exit, (int)) __attribute__((noreturn));
REAL_FN(void, _exit, (int)) __attribute__((noreturn));
REAL_FN(void, _Exit, (int)) __attribute__((noreturn));

void exit(int code)
{
    if (getpid() == tg__g.pid)
        exit_code(code);
    REAL(exit)(code);
}

void _exit(int code)
{
    if (tg__on())
        tg__finish(TG_PROC_EXITED, code, true);
    REAL(_exit)(code);
}

void _Exit(int code)
{
    if (tg__on())
        tg__finish(TG_PROC_EXITED, code, true);
    REAL(_Exit)(code);
}

/* Return from main: glibc calls exit() internally, past the PLT, so main
 * itself is wrapped to learn its return value. */
typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

TG_STACK_BOTTOM static int main_wrapper(int argc, char **argv, char **envp)
{
    int rc = real_main(argc, argv, envp);
    exit_code(rc);
    return rc;
}

typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void),
                        void (*)(void), void *);
static start_fn real___libc_start_main;

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack)
{
    /* Programs linked before glibc 2.34 pass their own init/fini and need
     * the old entry point, which calls them. */
    if (init)
        real___libc_start_main =
            (start_fn)dlvsym(RTLD_NEXT, "__libc_start_main", "GLIBC_2.2.5");
    if (!real___libc_start_main)
        REAL(__libc_start_main);
    real_main = main;
    return real___libc_start_main(main_wrapper, argc, argv, init, fini,
                                  rtld_fini, stack);
}

/* ---- fork and exec ------------------------------------------------------------- */

REAL_FN(pid_t, fork, (void));

void tg__events_reset(void);

pid_t fork(void)
{
    int parent = getpid();
    pid_t pid = REAL(fork)();
    if (pid != 0 || !tg__on())
        return pid;
    /* The child: one thread, the parent's tables. Start a log of its own. */
    struct tg__thread *t = &tg__self;
    t->guard++;
    tg__race_after_fork();
    tg__locks_reset();
    tg__spin_after_fork();
    tg__edges_reset();
    tg__stacks_reset();
    tg__modules_forget();
    tg__events_reset();
    atomic_store(&tg__g.watchdog_running, 0);
    atomic_store(&tg__g.watchdog_joinable, 0);
    atomic_store(&tg__g.watchdog_stop, 0);
    atomic_store(&tg__g.live_threads, 1);   /* the forking thread */
    tg__g.hdr = NULL;
    if (!tg__log_open(parent)) {
        atomic_store(&tg__g.state, TG__UNTRACED);
        t->guard--;
        return pid;
    }
    tg__modules_scan();
    t->guard--;
    tg__thread_after_fork();
    tg__race_fork_child(&tg__self);
    return pid;
}

REAL_FN(int, execve, (const char *, char *const[], char *const[]));
REAL_FN(int, execv, (const char *, char *const[]));
REAL_FN(int, execvp, (const char *, char *const[]));
REAL_FN(int, execvpe, (const char *, char *const[], char *const[]));
REAL_FN(int, fexecve, (int, char *const[], char *const[]));

/* Marks the log before the image is replaced; returns whether it did. */
static bool before_exec(void)
{
    if (!tg__on() || atomic_load(&tg__g.finished) || getpid() != tg__g.pid)
        return false;
    tg__finish(TG_PROC_EXECED, 0, true);
    return true;
}

/* The exec failed: the process goes on. */
static void exec_failed(bool marked)
{
    if (!marked)
        return;
    int e = errno;
    struct tg_log_header *h = tg__g.hdr;
    atomic_store_explicit(&h->proc_state, TG_PROC_RUNNING, RELEASE);
    atomic_store_explicit(&h->end_ns, 0, RELEASE);
    atomic_store(&tg__g.finished, 0);
    errno = e;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    bool m = before_exec();
    int rc = REAL(execve)(path, argv, envp);
    exec_failed(m);
    return rc;
}

int execv(const char *path, char *const argv[])
{
    bool m = before_exec();
    int rc = REAL(execv)(path, argv);
    exec_failed(m);
    return rc;
}

int execvp(const char *file, char *const argv[])
{
    bool m = before_exec();
    int rc = REAL(execvp)(file, argv);
    exec_failed(m);
    return rc;
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
    bool m = before_exec();
    int rc = REAL(execvpe)(file, argv, envp);
    exec_failed(m);
    return rc;
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
    bool m = before_exec();
    int rc = REAL(fexecve)(fd, argv, envp);
    exec_failed(m);
    return rc;
}

/* The execl family takes its arguments inline; collect them and go
 * through the vector forms above. */
#define MAX_EXEC_ARGS 4096
static int collect_args(const char *arg0, va_list ap, char **argv,
                        char ***envp)
{
    int n = 0;
    argv[n++] = (char *)arg0;
    while (arg0 && n < MAX_EXEC_ARGS - 1) {
        char *a = va_arg(ap, char *);
        argv[n++] = a;
        if (!a)
            break;
    }
    if (n == MAX_EXEC_ARGS - 1)
        argv[n] = NULL;
    if (envp)
        *envp = va_arg(ap, char **);
    return n;
}

int execl(const char *path, const char *arg, ...)
{
    char *argv[MAX_EXEC_ARGS];
    va_list ap;
    va_start(ap, arg);
    collect_args(arg, ap, argv, NULL);
    va_end(ap);
    return execv(path, argv);
}

int execlp(const char *file, const char *arg, ...)
{
    char *argv[MAX_EXEC_ARGS];
    va_list ap;
    va_start(ap, arg);
    collect_args(arg, ap, argv, NULL);
    va_end(ap);
    return execvp(file, argv);
}

int execle(const char *path, const char *arg, ...)
{
    char *argv[MAX_EXEC_ARGS];
    char **envp;
    va_list ap;
    va_start(ap, arg);
    collect_args(arg, ap, argv, &envp);
    va_end(ap);
    return execve(path, argv, envp);
}
