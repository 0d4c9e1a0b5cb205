/*
 * e2e.h: the end-to-end test harness. A test runs a real program under
 * `tangle run` (or runs `tangle report` on a log) in a child process of its
 * own, never the Criterion runner itself under the shim, and asserts on the
 * JSON report of docs/report-format.md. Every child runs in its own process
 * group with a hard deadline: on expiry the whole group is killed, so a
 * detector bug shows as a failed test, never as a hung suite. Lines are
 * never hard-coded: a program marks the line a test cares about with a
 * comment `LINE:name`, and the test looks that marker up in the program's
 * source. Everything here is static inline so each test file takes only
 * what it uses.
 */
#ifndef TANGLE_E2E_H
#define TANGLE_E2E_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TANGLE_TOP
#error "TANGLE_TOP must name the source tree"
#endif
#ifndef TANGLE_BUILD
#error "TANGLE_BUILD must name the build tree"
#endif

#define E2E_TANGLE   TANGLE_BUILD "/bin/tangle"
#define E2E_PROGDIR  TANGLE_BUILD "/tests/progs/"
#define E2E_SRCDIR   TANGLE_TOP "/tests/e2e/progs/"
#define E2E_MAX_ARGS 64

/* The default hard limit on one child, in seconds. Criterion timeouts of
 * the tests are set well above it. */
#define E2E_CHILD_TIMEOUT 60

/* Tangle's documented exit codes (docs/report-format.md). */
#define E2E_EXIT_FINDINGS 66
#define E2E_EXIT_BADLOG   65
#define E2E_EXIT_USAGE    64
#define E2E_EXIT_INTERNAL 70

struct e2e_run {
    char dir[64];          /* private scratch directory of this run */
    char report_path[128]; /* where -o writes the report */
    int timeout_s;         /* hard limit for the child; 0: default */
    const char *const *env;/* extra "NAME=value" (or "NAME" to unset) */
    /* Runs in the child just before exec (after env is applied), with the
     * child's own pid known: for setting traps at pid-named paths. */
    void (*pre_exec)(struct e2e_run *r);
    pid_t pid;
    int status;            /* exit status, -1 if killed by a signal */
    int sig;               /* signal that ended the child, 0 if none */
    bool timed_out;        /* we killed it at the hard limit */
    char *out, *err;       /* what the child wrote (NUL-terminated) */
    char *report_text;     /* the report file, NULL if none */
    json_object *json;     /* the parsed report, NULL if none / bad */
};

/* ---- small utilities -------------------------------------------------- */

/* Reads a whole file into a NUL-terminated buffer; NULL if it cannot. */
static inline char *e2e_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static inline void e2e_write_file(const char *path, const void *data,
                                  size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Scratch directories made by this test, removed by e2e_cleanup (the
 * suites' .fini), which also runs when an assertion ends the test early.
 * Each Criterion test runs in a process of its own, so a static list is
 * per test. */
static char e2e_dirs[32][64];
static int e2e_ndirs;

/* Makes a fresh scratch directory, removed when the test ends. */
static inline void e2e_mkdtemp(char *out, size_t cap)
{
    /* TMPDIR if it is short enough for the fixed buffers here. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 40)
        tmp = "/tmp";
    snprintf(out, cap, "%s/tangle-e2e.XXXXXX", tmp);
    cr_assert(mkdtemp(out), "mkdtemp: %s", strerror(errno));
    if (e2e_ndirs < 32)
        snprintf(e2e_dirs[e2e_ndirs++], sizeof e2e_dirs[0], "%s", out);
}

static inline void e2e_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) <
                (int)sizeof sub)
                e2e_rmtree(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static inline void e2e_cleanup(void)
{
    while (e2e_ndirs > 0)
        e2e_rmtree(e2e_dirs[--e2e_ndirs]);
}

/* The first file in dir whose name ends with suffix, written to out;
 * returns how many such files there are. */
static inline int e2e_find_file(const char *dir, const char *suffix,
                                char *out, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    size_t sl = strlen(suffix);
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l >= sl && !strcmp(e->d_name + l - sl, suffix)) {
            if (n++ == 0 && out)
                snprintf(out, cap, "%s/%s", dir, e->d_name);
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* The line of `LINE:marker` in tests/e2e/progs/<src>. Fails the test if
 * the marker is missing or not unique. */
static inline int e2e_line(const char *src, const char *marker)
{
    char path[512], needle[128];
    snprintf(path, sizeof path, "%s%s", E2E_SRCDIR, src);
    snprintf(needle, sizeof needle, "LINE:%s */", marker);
    char *text = e2e_slurp(path, NULL);
    cr_assert(text, "cannot read %s", path);
    int line = 1, found = 0, hits = 0;
    for (char *p = text; *p; p++) {
        if (!strncmp(p, needle, strlen(needle))) {
            found = line;
            hits++;
        }
        if (*p == '\n')
            line++;
    }
    free(text);
    cr_assert_eq(hits, 1, "marker LINE:%s found %d times in %s", marker,
                 hits, path);
    return found;
}

/* ---- running children ------------------------------------------------- */

static inline void e2e_init(struct e2e_run *r)
{
    memset(r, 0, sizeof *r);
    e2e_mkdtemp(r->dir, sizeof r->dir);
    snprintf(r->report_path, sizeof r->report_path, "%s/report.json", r->dir);
    r->status = -1;
}

/* Starts argv in a new process group with stdout/stderr going to files in
 * r->dir, stdin from /dev/null, and r->env applied. */
static inline void e2e_start(struct e2e_run *r, char *const argv[])
{
    char outp[128], errp[128];
    snprintf(outp, sizeof outp, "%s/stdout", r->dir);
    snprintf(errp, sizeof errp, "%s/stderr", r->dir);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int out = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        /* Criterion's sandbox (BoxFort) hands its workers a map of
         * shared arenas by fd and environment; a Criterion binary started
         * from here would take itself for such a worker and abort. */
        close_range(3, ~0u, 0);
        unsetenv("BXFI_MAP");
        unsetenv("GMON_OUT_PREFIX");
        /* The runner may itself run under a preload; the child must see
         * only what the test asks for. */
        unsetenv("LD_PRELOAD");
        unsetenv("TANGLE_OPTIONS");
        unsetenv("TANGLE_DIR");
        for (const char *const *e = r->env; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            if (eq) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
                setenv(name, eq + 1, 1);
            } else {
                unsetenv(*e);
            }
        }
        if (r->pre_exec)
            r->pre_exec(r);
        /* A bare name ("cc") is looked up in PATH. */
        execvp(argv[0], argv);
        dprintf(2, "e2e: cannot exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    r->pid = pid;
}

/* Waits for the child started by e2e_start, killing its process group at
 * the hard limit, then collects its output and the report, if any. */
static inline void e2e_finish(struct e2e_run *r)
{
    int limit_ms = (r->timeout_s ? r->timeout_s : E2E_CHILD_TIMEOUT) * 1000;
    int st = 0, waited = 0;
    for (;;) {
        pid_t w = waitpid(r->pid, &st, WNOHANG);
        if (w == r->pid)
            break;
        if (w < 0 && errno != EINTR)
            cr_assert_fail("waitpid: %s", strerror(errno));
        if (waited >= limit_ms) {
            r->timed_out = true;
            kill(-r->pid, SIGKILL);
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &st, 0);
            break;
        }
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
        waited += 10;
    }
    /* Leftovers of the group (a forked child of a buggy program) go too. */
    kill(-r->pid, SIGKILL);
    if (WIFEXITED(st)) {
        r->status = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        r->sig = WTERMSIG(st);
        r->status = -1;
    }
    char p[160];
    snprintf(p, sizeof p, "%s/stdout", r->dir);
    r->out = e2e_slurp(p, NULL);
    snprintf(p, sizeof p, "%s/stderr", r->dir);
    r->err = e2e_slurp(p, NULL);
    if (!r->out)
        r->out = strdup("");
    if (!r->err)
        r->err = strdup("");
    r->report_text = e2e_slurp(r->report_path, NULL);
    if (r->report_text)
        r->json = json_tokener_parse(r->report_text);
}

static inline void e2e_exec(struct e2e_run *r, char *const argv[])
{
    e2e_start(r, argv);
    e2e_finish(r);
}

/* A program of tests/e2e/progs by name, or a path as given. */
static inline const char *e2e_prog_path(const char *prog, char *buf,
                                        size_t cap)
{
    if (strchr(prog, '/'))
        return prog;
    snprintf(buf, cap, "%s%s", E2E_PROGDIR, prog);
    return buf;
}

/* Splits a space-separated option string into argv slots. */
static inline int e2e_split(char *opts, char **argv, int at)
{
    for (char *tok = opts ? strtok(opts, " ") : NULL; tok;
         tok = strtok(NULL, " ")) {
        cr_assert(at < E2E_MAX_ARGS - 8, "too many arguments");
        argv[at++] = tok;
    }
    return at;
}

/* Runs `tangle run --format FMT -o REPORT [opts] -- PROG ARGS... NULL` and
 * collects the result. opts is space separated, may be NULL. */
static inline void e2e_vrun_fmt(struct e2e_run *r, const char *fmt,
                                const char *opts, const char *prog,
                                va_list ap)
{
    char *argv[E2E_MAX_ARGS], progbuf[512];
    char *o = opts ? strdup(opts) : NULL;
    int n = 0;
    argv[n++] = (char *)E2E_TANGLE;
    argv[n++] = (char *)"run";
    argv[n++] = (char *)"--format";
    argv[n++] = (char *)fmt;
    argv[n++] = (char *)"-o";
    argv[n++] = r->report_path;
    n = e2e_split(o, argv, n);
    argv[n++] = (char *)"--";
    argv[n++] = (char *)e2e_prog_path(prog, progbuf, sizeof progbuf);
    const char *a;
    while ((a = va_arg(ap, const char *))) {
        cr_assert(n < E2E_MAX_ARGS - 1, "too many arguments");
        argv[n++] = (char *)a;
    }
    argv[n] = NULL;
    e2e_exec(r, argv);
    free(o);
}

static inline void e2e_run(struct e2e_run *r, const char *opts,
                           const char *prog, ...)
{
    va_list ap;
    va_start(ap, prog);
    e2e_vrun_fmt(r, "json", opts, prog, ap);
    va_end(ap);
}

static inline void e2e_run_fmt(struct e2e_run *r, const char *fmt,
                               const char *opts, const char *prog, ...)
{
    va_list ap;
    va_start(ap, prog);
    e2e_vrun_fmt(r, fmt, opts, prog, ap);
    va_end(ap);
}

/* Runs `tangle report --format json -o REPORT [opts] LOG... NULL`. */
static inline void e2e_report(struct e2e_run *r, const char *opts, ...)
{
    char *argv[E2E_MAX_ARGS];
    char *o = opts ? strdup(opts) : NULL;
    int n = 0;
    argv[n++] = (char *)E2E_TANGLE;
    argv[n++] = (char *)"report";
    argv[n++] = (char *)"--format";
    argv[n++] = (char *)"json";
    argv[n++] = (char *)"-o";
    argv[n++] = r->report_path;
    n = e2e_split(o, argv, n);
    va_list ap;
    va_start(ap, opts);
    const char *a;
    while ((a = va_arg(ap, const char *))) {
        cr_assert(n < E2E_MAX_ARGS - 1, "too many arguments");
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    e2e_exec(r, argv);
    free(o);
}

/* Runs PROG ARGS... NULL directly (no tangle), with r->env. */
static inline void e2e_run_bare(struct e2e_run *r, const char *prog, ...)
{
    char *argv[E2E_MAX_ARGS], progbuf[512];
    int n = 0;
    argv[n++] = (char *)e2e_prog_path(prog, progbuf, sizeof progbuf);
    va_list ap;
    va_start(ap, prog);
    const char *a;
    while ((a = va_arg(ap, const char *)))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    e2e_exec(r, argv);
}

#define E2E_SHIM TANGLE_BUILD "/lib/libtangle-preload.so"

/* Starts argv directly under the shim (LD_PRELOAD, no `tangle run`) with
 * TANGLE_DIR=logdir and TANGLE_OPTIONS=opts (opts NULL: unset). */
static inline void e2e_start_traced(struct e2e_run *r, const char *logdir,
                                    const char *opts, char *const argv[])
{
    static char dirvar[256], optvar[256];
    static const char *env[4];
    snprintf(dirvar, sizeof dirvar, "TANGLE_DIR=%s", logdir);
    snprintf(optvar, sizeof optvar, "TANGLE_OPTIONS=%s", opts ? opts : "");
    env[0] = "LD_PRELOAD=" E2E_SHIM;
    env[1] = dirvar;
    env[2] = opts ? optvar : NULL;
    env[3] = NULL;
    r->env = env;
    e2e_start(r, argv);
}

/* Waits until the running child's stdout holds word (or 30 s pass). */
static inline bool e2e_wait_output(struct e2e_run *r, const char *word)
{
    char p[160];
    snprintf(p, sizeof p, "%s/stdout", r->dir);
    for (int i = 0; i < 3000; i++) {
        char *s = e2e_slurp(p, NULL);
        bool hit = s && strstr(s, word);
        free(s);
        if (hit)
            return true;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return false;
}

static inline void e2e_free(struct e2e_run *r)
{
    if (r->json)
        json_object_put(r->json);
    free(r->out);
    free(r->err);
    free(r->report_text);
    e2e_rmtree(r->dir);
    memset(r, 0, sizeof *r);
}

/* The child ended on its own (not at our limit, not by a signal). */
#define e2e_assert_ended(r)                                                  \
    do {                                                                     \
        cr_assert(!(r)->timed_out,                                           \
                  "child still running after its hard limit; stderr:\n%s",  \
                  (r)->err);                                                 \
        cr_assert_eq((r)->sig, 0, "child killed by signal %d; stderr:\n%s",  \
                     (r)->sig, (r)->err);                                    \
    } while (0)

/* ... and left a parseable JSON report. */
#define e2e_assert_report(r)                                                 \
    do {                                                                     \
        e2e_assert_ended(r);                                                 \
        cr_assert((r)->json,                                                 \
                  "no JSON report (exit %d); stderr:\n%s\nreport:\n%s",      \
                  (r)->status, (r)->err,                                     \
                  (r)->report_text ? (r)->report_text : "(none)");          \
    } while (0)

/* ---- querying the report ---------------------------------------------- */

static inline json_object *e2e_get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object))
        json_object_object_get_ex(o, key, &v);
    return v;
}

static inline const char *e2e_str(json_object *o, const char *key)
{
    json_object *v = e2e_get(o, key);
    return v && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static inline int64_t e2e_int(json_object *o, const char *key, int64_t dflt)
{
    json_object *v = e2e_get(o, key);
    return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v)
                                                      : dflt;
}

static inline size_t e2e_len(json_object *arr)
{
    return arr && json_object_is_type(arr, json_type_array)
               ? json_object_array_length(arr)
               : 0;
}

static inline json_object *e2e_at(json_object *arr, size_t i)
{
    return i < e2e_len(arr) ? json_object_array_get_idx(arr, i) : NULL;
}

static inline const char *e2e_dump(json_object *o)
{
    return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY)
             : "(null)";
}

/* Whole-report text for failure messages. */
#define E2E_REPORT(r) ((r)->report_text ? (r)->report_text : "(no report)")

static inline json_object *e2e_findings(struct e2e_run *r)
{
    return e2e_get(r->json, "findings");
}

static inline bool e2e_is(json_object *f, const char *kind,
                          const char *subkind)
{
    const char *k = e2e_str(f, "kind");
    if (!k || strcmp(k, kind))
        return false;
    if (!subkind)
        return true;
    const char *s = e2e_str(f, "subkind");
    return s && !strcmp(s, subkind);
}

/* Findings of a kind (and subkind, if not NULL). */
static inline int e2e_count(struct e2e_run *r, const char *kind,
                            const char *subkind)
{
    json_object *fs = e2e_findings(r);
    int n = 0;
    for (size_t i = 0; i < e2e_len(fs); i++)
        n += e2e_is(e2e_at(fs, i), kind, subkind);
    return n;
}

/* A summary counter ("leak", "total", "suppressed"...), -1 if absent. */
static inline int64_t e2e_summary(struct e2e_run *r, const char *key)
{
    return e2e_int(e2e_get(r->json, "summary"), key, -1);
}

/* Whether a frame is {function: func, line: line}; line <= 0: any line. */
static inline bool e2e_frame_is(json_object *fr, const char *func, int line)
{
    const char *fn = e2e_str(fr, "function");
    if (!fn || strcmp(fn, func))
        return false;
    return line <= 0 || e2e_int(fr, "line", -1) == line;
}

/* Whether a stack (array of frames) has a frame for func at line. */
static inline bool e2e_stack_has(json_object *stack, const char *func,
                                 int line)
{
    for (size_t i = 0; i < e2e_len(stack); i++)
        if (e2e_frame_is(e2e_at(stack, i), func, line))
            return true;
    return false;
}

/* Whether any frame anywhere inside o (a finding, a thread...) is func at
 * line (line <= 0: any). */
static inline bool e2e_mentions(json_object *o, const char *func, int line)
{
    if (!o)
        return false;
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < e2e_len(o); i++)
            if (e2e_mentions(e2e_at(o, i), func, line))
                return true;
        return false;
    }
    if (!json_object_is_type(o, json_type_object))
        return false;
    if (e2e_frame_is(o, func, line))
        return true;
    json_object_object_foreach(o, key, val)
    {
        (void)key;
        if (e2e_mentions(val, func, line))
            return true;
    }
    return false;
}

/* The first finding of kind (subkind may be NULL) that names func in any
 * of its stacks (func NULL: the first of that kind). */
static inline json_object *e2e_find(struct e2e_run *r, const char *kind,
                                    const char *subkind, const char *func)
{
    json_object *fs = e2e_findings(r);
    for (size_t i = 0; i < e2e_len(fs); i++) {
        json_object *f = e2e_at(fs, i);
        if (e2e_is(f, kind, subkind) && (!func || e2e_mentions(f, func, 0)))
            return f;
    }
    return NULL;
}

/* The thread of a finding whose current stack names func. */
static inline json_object *e2e_thread_in(json_object *finding,
                                         const char *func)
{
    json_object *ts = e2e_get(finding, "threads");
    for (size_t i = 0; i < e2e_len(ts); i++) {
        json_object *t = e2e_at(ts, i);
        if (e2e_stack_has(e2e_get(t, "stack"), func, 0))
            return t;
    }
    return NULL;
}

/* A finding of kind/subkind naming func, or the test fails showing the
 * report. */
#define e2e_must_find(r, kind, subkind, func)                                \
    ({                                                                       \
        json_object *f_ = e2e_find((r), (kind), (subkind), (func));         \
        cr_assert(f_, "no %s%s%s finding naming %s; exit %d; report:\n%s"    \
                  "\nstderr:\n%s", (kind), (subkind) ? "/" : "",             \
                  (subkind) ? (const char *)(subkind) : "",                  \
                  (func) ? (const char *)(func) : "(any)", (r)->status,      \
                  E2E_REPORT(r), (r)->err);                                  \
        f_;                                                                  \
    })

/* stack has a frame for func at the line marked `LINE:marker` in src. */
#define e2e_assert_frame(stack, func, src, marker)                           \
    do {                                                                     \
        int l_ = e2e_line((src), (marker));                                  \
        cr_assert(e2e_stack_has((stack), (func), l_),                        \
                  "expected a frame %s at %s:%d (LINE:%s) in stack:\n%s",    \
                  (func), (src), l_, (marker), e2e_dump(stack));             \
    } while (0)

/* No finding of kind at all. */
#define e2e_assert_none(r, kind)                                             \
    cr_assert_eq(e2e_count((r), (kind), NULL), 0,                            \
                 "unexpected %s finding(s):\n%s", (kind), E2E_REPORT(r))

/* No findings at all, and a summary that agrees. */
#define e2e_assert_clean(r)                                                  \
    do {                                                                     \
        cr_assert_eq(e2e_len(e2e_findings(r)), 0,                            \
                     "expected no findings:\n%s", E2E_REPORT(r));            \
        cr_assert(e2e_get((r)->json, "findings"),                            \
                  "report has no findings array:\n%s", E2E_REPORT(r));       \
        cr_assert_eq(e2e_summary((r), "total"), 0,                           \
                     "summary.total not 0:\n%s", E2E_REPORT(r));             \
    } while (0)

/* Parses a "0x..." address string (0 if absent). */
static inline unsigned long long e2e_addr(json_object *o, const char *key)
{
    const char *s = e2e_str(o, key);
    return s ? strtoull(s, NULL, 16) : 0;
}

/* Reads "name=0x..." or "name=123" printed by a program on stdout. */
static inline unsigned long long e2e_out_value(struct e2e_run *r,
                                               const char *name)
{
    char needle[64];
    snprintf(needle, sizeof needle, "%s=", name);
    const char *p = r->out;
    while ((p = strstr(p, needle))) {
        if (p == r->out || p[-1] == '\n' || p[-1] == ' ')
            return strtoull(p + strlen(needle), NULL, 0);
        p++;
    }
    cr_assert_fail("program printed no %s=; stdout:\n%s\nstderr:\n%s", name,
                   r->out, r->err);
    return 0;
}

/* The process entry of the report with that pid, or the first if pid 0. */
static inline json_object *e2e_process(struct e2e_run *r, long pid)
{
    json_object *ps = e2e_get(r->json, "processes");
    for (size_t i = 0; i < e2e_len(ps); i++) {
        json_object *p = e2e_at(ps, i);
        if (!pid || e2e_int(p, "pid", -1) == pid)
            return p;
    }
    return NULL;
}

#endif
