/*
 * cmd_run.c: `tangle run [options] -- CMD [ARGS]`, the CI gate.
 *
 * CMD runs in a process group of its own with the preload shim prepended
 * to LD_PRELOAD, so every process it starts (a `make check` and all its
 * test binaries) is traced, each into its own log in a private directory.
 * The shim options are merged: tangle's defaults (watchdog=1000 and
 * deadlock_abort=1, so a deadlocked program ends with a report within
 * about two seconds instead of a CI timeout), then the
 * user's TANGLE_OPTIONS, then --options, then the explicit flags; the last
 * value of a key wins. The parent waits with sigtimedwait, so SIGINT and
 * SIGTERM are forwarded to the group and --timeout needs no extra thread.
 * On a timeout the logs are read while the processes still live (the log
 * is shared memory: that is the snapshot), and only then is the group
 * killed. The exit status is the command's own when nothing is found.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analyzer.h"

struct run_opts {
    struct an_options rep;
    int64_t timeout_ns;       /* 0: none */
    const char *keep_logs;
    const char *options;
    const char *watchdog;     /* ms, validated */
    bool no_abort, full;
};

static char *find_shim(void)
{
    const char *env = getenv("TANGLE_PRELOAD");
    if (env && *env)
        return xstrdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    return xasprintf("%s/../lib/libtangle-preload.so", exe);
}

struct kv {
    char *key, *val;
};

/* Adds "k=v,k=v" items to the list; a later key replaces an earlier one. */
static void merge_options(struct kv **v, size_t *n, const char *s)
{
    if (!s)
        return;
    char *copy = xstrdup(s), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        const char *val = eq ? eq + 1 : "";
        if (eq)
            *eq = 0;
        if (!*item)
            continue;
        size_t i;
        for (i = 0; i < *n; i++)
            if (strcmp((*v)[i].key, item) == 0)
                break;
        if (i == *n) {
            *v = xrealloc(*v, (*n + 1) * sizeof **v);
            (*v)[i].key = xstrdup(item);
            (*v)[i].val = NULL;
            (*n)++;
        }
        free((*v)[i].val);
        (*v)[i].val = xstrdup(val);
    }
    free(copy);
}

static char *shim_options(const struct run_opts *ro)
{
    struct kv *v = NULL;
    size_t n = 0;
    merge_options(&v, &n, "deadlock_abort=1,watchdog=1000");
    merge_options(&v, &n, getenv("TANGLE_OPTIONS"));
    merge_options(&v, &n, ro->options);
    if (ro->no_abort)
        merge_options(&v, &n, "deadlock_abort=0");
    if (ro->full)
        merge_options(&v, &n, "mode=full");
    if (ro->watchdog) {
        char *w = xasprintf("watchdog=%s", ro->watchdog);
        merge_options(&v, &n, w);
        free(w);
    }
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i].key) + strlen(v[i].val) + 2;
    char *out = xcalloc(1, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, v[i].key);
        strcat(out, "=");
        strcat(out, v[i].val);
        free(v[i].key);
        free(v[i].val);
    }
    free(v);
    return out;
}

static char *make_log_dir(const struct run_opts *ro)
{
    if (ro->keep_logs) {
        if (mkdir(ro->keep_logs, 0700) < 0 && errno != EEXIST)
            return NULL;
        return xstrdup(ro->keep_logs);
    }
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/dev/shm";
    char *dir = xasprintf("%s/tangle.XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    return dir;
}

static bool in_list(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static int parse_run(int argc, char **argv, struct run_opts *ro, int *cmd)
{
    report_options_init(&ro->rep);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            *cmd = i + 1;
            return 0;
        }
        if (a[0] != '-') {
            *cmd = i;
            return 0;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return 1;
        }
        int r = report_option(argc, argv, &i, &ro->rep);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        const char *v = NULL;
        const char *name = a;
        char namebuf[32];
        const char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof namebuf) {
            memcpy(namebuf, a, (size_t)(eq - a));
            namebuf[eq - a] = 0;
            name = namebuf;
            v = eq + 1;
        }
        bool takes = strcmp(name, "--timeout") == 0 ||
                     strcmp(name, "--keep-logs") == 0 ||
                     strcmp(name, "--options") == 0 ||
                     strcmp(name, "--watchdog") == 0;
        if (takes && !v) {
            if (i + 1 >= argc)
                return usage_error("run", "option '%s' needs a value", a), -1;
            v = argv[++i];
        }
        if (strcmp(name, "--timeout") == 0) {
            if (!parse_seconds(v, &ro->timeout_ns))
                return usage_error("run", "bad value '%s' for --timeout "
                                   "(seconds, more than 0)", v), -1;
        } else if (strcmp(name, "--keep-logs") == 0) {
            ro->keep_logs = v;
        } else if (strcmp(name, "--options") == 0) {
            ro->options = v;
        } else if (strcmp(name, "--watchdog") == 0) {
            uint64_t ms;
            if (!parse_u64(v, 86400000, &ms))
                return usage_error("run", "bad value '%s' for --watchdog "
                                   "(milliseconds, 0 = off)", v), -1;
            ro->watchdog = v;
        } else if (strcmp(a, "--no-abort") == 0) {
            ro->no_abort = true;
        } else if (strcmp(a, "--full") == 0) {
            ro->full = true;
        } else {
            return usage_error("run", "unknown option '%s'", a), -1;
        }
    }
    return usage_error("run", "no command given (tangle run [options] -- "
                       "CMD [ARGS])"), -1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int status_of(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return EXIT_INTERNAL;
}

int cmd_run(int argc, char **argv)
{
    struct run_opts ro;
    memset(&ro, 0, sizeof ro);
    int cmd = 0;
    int pr = parse_run(argc, argv, &ro, &cmd);
    if (pr > 0)
        return CMD_SHOW_HELP;
    if (pr < 0)
        return EXIT_USAGE;
    if (cmd >= argc)
        return usage_error("run", "no command given after '--'");
    ro.rep.report_stderr = true;

    char *shim = find_shim();
    if (!shim || access(shim, R_OK) != 0) {
        fprintf(stderr, "tangle: cannot find the preload library%s%s%s "
                "(set TANGLE_PRELOAD)\n", shim ? " at '" : "",
                shim ? shim : "", shim ? "'" : "");
        free(shim);
        return EXIT_INTERNAL;
    }
    char *dir = make_log_dir(&ro);
    if (!dir) {
        fprintf(stderr, "tangle: cannot create the log directory: %s\n",
                strerror(errno));
        free(shim);
        return EXIT_INTERNAL;
    }
    size_t nbefore = 0;
    char **before = ro.keep_logs ? list_logs(dir, &nbefore) : NULL;

    const char *old = getenv("LD_PRELOAD");
    char *preload = old && *old ? xasprintf("%s:%s", shim, old)
                                : xstrdup(shim);
    char *options = shim_options(&ro);

    sigset_t set, oldset;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, &oldset);

    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) < 0) {
        fprintf(stderr, "tangle: pipe: %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "tangle: cannot start '%s': %s\n", argv[cmd],
                strerror(errno));
        return EXIT_INTERNAL;
    }
    if (child == 0) {
        setpgid(0, 0);
        signal(SIGTTOU, SIG_DFL);
        /* The command has a process group of its own, so a kill of ours
         * does not reach it: if tangle is killed, take the command along
         * rather than leave it running unwatched. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(EXIT_INTERNAL);
        sigprocmask(SIG_SETMASK, &oldset, NULL);
        setenv("LD_PRELOAD", preload, 1);
        setenv("TANGLE_DIR", dir, 1);
        setenv("TANGLE_OPTIONS", options, 1);
        /* The shim marks its log as made under tangle run. */
        setenv("TANGLE_RUN", "1", 1);
        close(errpipe[0]);
        execvp(argv[cmd], argv + cmd);
        int e = errno;
        if (write(errpipe[1], &e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    setpgid(child, child);            /* both sides: no race with exec */
    /* On a terminal, the command's group takes the foreground, or reading
     * the terminal would stop it (SIGTTIN) and Ctrl-C would reach only
     * tangle. SIGTTOU must not stop us for asking. */
    bool fg = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_ttou;
    sigaction(SIGTTOU, &ign, &old_ttou);
    if (fg)
        tcsetpgrp(STDIN_FILENO, child);
    close(errpipe[1]);
    int exec_errno = 0;
    ssize_t got = read(errpipe[0], &exec_errno, sizeof exec_errno);
    close(errpipe[0]);
    int status = 0;
    if (got == (ssize_t)sizeof exec_errno) {
        fprintf(stderr, "tangle: cannot run '%s': %s\n", argv[cmd],
                strerror(exec_errno));
        waitpid(child, NULL, 0);
        status = EXIT_INTERNAL;
        goto cleanup;
    }

    int64_t deadline = ro.timeout_ns ? mono_ns() + ro.timeout_ns : 0;
    bool timed_out = false, done = false;
    int ws = 0;
    while (!done) {
        struct timespec ts, *tsp = NULL;
        if (deadline) {
            int64_t left = deadline - mono_ns();
            if (left <= 0) {
                timed_out = true;
                break;
            }
            ts.tv_sec = left / 1000000000;
            ts.tv_nsec = left % 1000000000;
            tsp = &ts;
        }
        int sig = sigtimedwait(&set, NULL, tsp);
        if (sig < 0) {
            if (errno == EAGAIN)
                continue;             /* deadline: checked at the top */
            if (errno == EINTR)
                continue;
            break;
        }
        if (sig == SIGCHLD) {
            pid_t r = waitpid(child, &ws, WNOHANG);
            if (r == child)
                done = true;
        } else {
            kill(-child, sig);        /* forward to the whole group */
        }
    }

    size_t nlogs;
    char **all = list_logs(dir, &nlogs);
    char **logs = xcalloc(nlogs + 1, sizeof *logs);
    size_t n = 0;
    for (size_t i = 0; i < nlogs; i++)
        if (!in_list(before, nbefore, all[i]))
            logs[n++] = all[i];
    int clean;
    if (timed_out) {
        ro.rep.hang = true;
        ro.rep.timeout_ns = ro.timeout_ns;
        /* A timeout fails the run even if no log can show the hang. */
        clean = ro.rep.exitcode;
    } else {
        clean = status_of(ws);
    }
    if (n) {
        status = report_run(logs, n, &ro.rep, clean);
    } else {
        fprintf(stderr, "tangle: warning: '%s' wrote no log (statically "
                "linked, setuid, or it cleared LD_PRELOAD?)\n", argv[cmd]);
        if (timed_out)
            fprintf(stderr, "tangle: '%s' did not finish within the "
                    "timeout: killed\n", argv[cmd]);
        status = clean;
    }
    if (timed_out) {
        kill(-child, SIGKILL);
        waitpid(child, &ws, 0);
    }
    free(logs);
    free_list(all, nlogs);

cleanup:
    if (fg)
        tcsetpgrp(STDIN_FILENO, getpgrp());
    sigaction(SIGTTOU, &old_ttou, NULL);
    if (!ro.keep_logs) {
        size_t m;
        char **v = list_logs(dir, &m);
        for (size_t i = 0; i < m; i++)
            unlink(v[i]);
        free_list(v, m);
        if (rmdir(dir) < 0 && errno == ENOTEMPTY)
            fprintf(stderr, "tangle: note: '%s' holds other files: kept\n",
                    dir);
    }
    sigprocmask(SIG_SETMASK, &oldset, NULL);
    free_list(before, nbefore);
    free(dir);
    free(shim);
    free(preload);
    free(options);
    return status;
}
