/*
 * cmd_ps.c: `tangle ps PID|LOG`, Go's SIGQUIT goroutine dump for a C
 * process: what every thread is doing right now, read from the process's
 * live log without stopping it. A PID is looked up as the newest
 * tangle.<pid>.*.tlog in $TANGLE_DIR (default /dev/shm), then in the
 * TANGLE_DIR of the process's own environment (`tangle run` logs into a
 * private directory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analyzer.h"

/* The newest log of pid in dir, or NULL. */
static char *find_log(const char *dir, long pid)
{
    size_t n;
    char **v = list_logs(dir, &n);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "/tangle.%ld.", pid);
    char *best = NULL;
    /* list_logs sorts by pid then start time: the last match is newest. */
    for (size_t i = 0; i < n; i++)
        if (strstr(v[i], prefix)) {
            free(best);
            best = xstrdup(v[i]);
        }
    free_list(v, n);
    return best;
}

/* TANGLE_DIR in the environment of process pid, or NULL. */
static char *environ_dir(long pid)
{
    char name[64];
    snprintf(name, sizeof name, "/proc/%ld/environ", pid);
    FILE *f = fopen(name, "r");
    if (!f)
        return NULL;
    char *var = NULL, *dir = NULL;
    size_t cap = 0;
    while (getdelim(&var, &cap, 0, f) > 0)
        if (strncmp(var, "TANGLE_DIR=", 11) == 0 && var[11]) {
            dir = xstrdup(var + 11);
            break;
        }
    free(var);
    fclose(f);
    return dir;
}

int cmd_ps(int argc, char **argv)
{
    bool all = false;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return CMD_SHOW_HELP;
        if (strcmp(a, "--all") == 0 || strcmp(a, "-a") == 0) {
            all = true;
        } else if (a[0] == '-') {
            return usage_error("ps", "unknown option '%s'", a);
        } else if (target) {
            return usage_error("ps", "one PID or LOG only");
        } else {
            target = a;
        }
    }
    if (!target)
        return usage_error("ps", "no PID or LOG given");
    char *path = NULL;
    struct stat st;
    uint64_t pid;
    if (stat(target, &st) != 0 && parse_u64(target, 1u << 30, &pid)) {
        const char *dir = getenv("TANGLE_DIR");
        if (!dir || !*dir)
            dir = "/dev/shm";
        path = find_log(dir, (long)pid);
        /* Under `tangle run` the log is in a private directory: the
         * process's own TANGLE_DIR says which. */
        char *own = path ? NULL : environ_dir((long)pid);
        if (own) {
            path = find_log(own, (long)pid);
            free(own);
        }
        if (!path) {
            fprintf(stderr, "tangle: no log for process %s in '%s' (is it "
                    "running under tangle? set TANGLE_DIR)\n", target, dir);
            return EXIT_DATAERR;
        }
    } else {
        path = xstrdup(target);
    }
    struct tlog *log;
    char *err;
    if (tlog_open(path, &log, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        free(err);
        free(path);
        return EXIT_DATAERR;
    }
    for (size_t i = 0; i < log->nerrors; i++)
        fprintf(stderr, "%s\n", log->errors[i]);
    struct an_options opt;
    report_options_init(&opt);
    struct an_report *rep = report_new();
    struct an_process proc = { .pid = log->hdr.pid };
    struct an_ctx ctx = { .log = log, .proc = &proc, .rep = rep, .opt = &opt };
    uint32_t ps = log->hdr.proc_state;
    if (ps != TG_PROC_RUNNING && log->hdr.end_ns) {
        ctx.now_ns = log->hdr.end_ns;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ctx.now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    ctx.sym = sym_new(log);
    printf("process %d (%s): %s", log->hdr.pid, log->hdr.cmdline,
           an_proc_state_name(ps));
    if (ps == TG_PROC_EXITED || ps == TG_PROC_SIGNALED)
        printf(" (%s %d)", ps == TG_PROC_EXITED ? "status" : "signal",
               log->hdr.exit_code);
    printf("\n\n");
    size_t shown = 0;
    for (size_t i = 0; i < log->nthreads; i++) {
        const struct tg_log_thread *t = tlog_thread(log, (uint32_t)i + 1);
        if (!t)
            continue;
        if (!all && ((t->flags & (TG_THRF_INTERNAL | TG_THRF_FOREIGN)) ||
                     (t->state == TG_TS_EXITED &&
                      (t->flags & (TG_THRF_JOINED | TG_THRF_DETACHED)))))
            continue;
        struct an_thread th;
        an_thread_fill(&ctx, t->id, &th);
        text_thread(stdout, &th, "");
        if (log->thread_torn[i])
            printf("  (this thread changed while being read)\n");
        for (uint32_t h = 0; h < t->held_count; h++) {
            const struct tg_log_object *o = tlog_object(log, t->held[h].obj);
            struct an_stack s = sym_stack(ctx.sym, t->held[h].stack);
            printf("  holds %s 0x%llx%s%s\n",
                   o ? an_obj_kind_name(o->kind) : "lock",
                   (unsigned long long)t->held[h].addr,
                   t->held[h].mode ? " (read)" : "",
                   s.n ? ", taken at:" : "");
            if (s.n)
                text_stack(stdout, &s, "    ");
            an_stack_free(&s);
        }
        putchar('\n');
        an_stack_free(&th.stack);
        an_stack_free(&th.created_stack);
        an_stack_free(&th.object.created);
        an_frame_free(&th.start_routine);
        shown++;
    }
    if (!shown)
        printf("(no threads recorded)\n");
    sym_free(ctx.sym);
    report_free(rep);
    tlog_close(log);
    free(path);
    return 0;
}
