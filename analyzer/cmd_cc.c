/*
 * cmd_cc.c: `tangle cc ARGS...` and `tangle c++ ARGS...`, a compiler
 * driver wrapper that builds a program for the race checker. It runs the
 * real compiler (--cc NAME, else $CC / $CXX, else cc / c++) with the same
 * arguments, adding -fsanitize=thread (and -g when no -g is given) to every
 * compile step so gcc or clang emit the __tsan_* calls, and keeping
 * -fsanitize=thread off every link step so libtsan is never pulled in:
 * the link gets libtangle instead (which carries no-op entry points; under
 * `tangle run` the preload shim's come first). A command line that both
 * compiles and links is split: each source is compiled to an object in a
 * private temporary directory, then those objects are linked in place of
 * the sources. Everything else is passed through untouched, so the
 * wrapper works as CC in make and CMake.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analyzer.h"
#include "race.h"

struct argv_buf {
    char **v;
    size_t n, cap;
};

static void push(struct argv_buf *a, const char *s)
{
    xgrow(&a->v, &a->cap, a->n + 2, sizeof(char *));
    a->v[a->n++] = (char *)s;
    a->v[a->n] = NULL;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* A file the compiler translates (and that the instrumentation can see). */
static bool is_source(const char *a)
{
    static const char *const ext[] = {
        ".c", ".cc", ".cpp", ".cxx", ".c++", ".C", ".cp", ".CPP", ".i", ".ii",
    };
    if (a[0] == '-')
        return false;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (ends_with(a, ext[i]))
            return true;
    return false;
}

/* Options whose value is the next argument (so it is not taken for an
 * input file). */
static bool takes_value(const char *a)
{
    static const char *const opts[] = {
        "-o", "-I", "-D", "-U", "-include", "-imacros", "-isystem",
        "-iquote", "-idirafter", "-MF", "-MT", "-MQ", "-x", "-L", "-l",
        "-Xlinker", "-Xassembler", "-Xpreprocessor", "-T", "-u", "-e",
        "-isysroot", "--sysroot", "-target", "-aux-info", "-z",
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (strcmp(a, opts[i]) == 0)
            return true;
    return false;
}

/* Options that belong to the link step only. */
static bool link_only(const char *a)
{
    return strncmp(a, "-l", 2) == 0 || strncmp(a, "-L", 2) == 0 ||
           strncmp(a, "-Wl,", 4) == 0 || strcmp(a, "-Xlinker") == 0 ||
           strcmp(a, "-shared") == 0 || strcmp(a, "-static") == 0 ||
           strcmp(a, "-rdynamic") == 0 || strcmp(a, "-pie") == 0 ||
           strcmp(a, "-no-pie") == 0 || strcmp(a, "-T") == 0 ||
           strcmp(a, "-z") == 0;
}

/* libtangle's directory: <dir of the tangle binary>/../lib, or
 * $TANGLE_LIBDIR. */
static char *lib_dir(void)
{
    const char *env = getenv("TANGLE_LIBDIR");
    if (env && *env)
        return xstrdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return xstrdup(".");
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    char *d = xasprintf("%s/../lib", exe);
    char real[PATH_MAX];
    if (realpath(d, real)) {
        free(d);
        d = xstrdup(real);
    }
    return d;
}

/* The compiler: --cc, else the environment variable unless it names
 * this wrapper (CC="tangle cc" would recurse), else the default. */
static const char *pick_compiler(const char *flag, const char *envname,
                                 const char *dflt)
{
    if (flag)
        return flag;
    const char *e = getenv(envname);
    if (e && *e && !strstr(e, "tangle"))
        return e;
    return dflt;
}

static int run(char **argv)
{
    if (getenv("TANGLE_CC_VERBOSE")) {
        for (char **p = argv; *p; p++)
            fprintf(stderr, "%s%s", p == argv ? "" : " ", *p);
        fputc('\n', stderr);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "tangle: cannot run '%s': %s\n", argv[0], strerror(errno));
        return EXIT_INTERNAL;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "tangle: cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return EXIT_INTERNAL;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

static void add_link_libs(struct argv_buf *a, const char *libdir)
{
    push(a, xasprintf("-L%s", libdir));
    push(a, xasprintf("-Wl,-rpath,%s", libdir));
    /* The program's heap calls go through libtangle (tsan_noop.c), so
     * the race checker sees blocks change hands. */
    push(a, "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free");
    push(a, "-Wl,--push-state,--no-as-needed");
    push(a, "-ltangle");
    push(a, "-Wl,--pop-state");
    push(a, "-pthread");
}

static bool is_tsan_flag(const char *a)
{
    return strcmp(a, "-fsanitize=thread") == 0;
}

int race_cc_main(int argc, char **argv, bool cxx)
{
    const char *cc_flag = NULL;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--cc") == 0) {
        cc_flag = argv[2];
        first = 3;
    } else if (argc > 1 && strncmp(argv[1], "--cc=", 5) == 0) {
        cc_flag = argv[1] + 5;
        first = 2;
    }
    const char *cc = cxx ? pick_compiler(cc_flag, "CXX", "c++")
                         : pick_compiler(cc_flag, "CC", "cc");
    bool compile_only = false, has_g = false, preprocess = false;
    size_t nsrc = 0, ninputs = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-c") || !strcmp(a, "-S"))
            compile_only = true;
        else if (!strcmp(a, "-E") || !strcmp(a, "-M") || !strcmp(a, "-MM"))
            preprocess = true;
        else if (!strncmp(a, "-g", 2) && strcmp(a, "-g0") != 0)
            has_g = true;
        if (takes_value(a)) {
            i++;
            continue;
        }
        if (is_source(a))
            nsrc++;
        if (a[0] != '-')
            ninputs++;
    }
    /* Asking the compiler something (--version, -dumpmachine, -print-*):
     * pass through. */
    if (preprocess || ninputs == 0) {
        struct argv_buf a = {0};
        push(&a, cc);
        for (int i = first; i < argc; i++)
            push(&a, argv[i]);
        return run(a.v);
    }
    char *libdir = lib_dir();
    int rc;
    if (compile_only || nsrc == 0) {
        struct argv_buf a = {0};
        push(&a, cc);
        if (compile_only) {
            push(&a, "-fsanitize=thread");
            if (!has_g)
                push(&a, "-g");
        }
        for (int i = first; i < argc; i++)
            if (compile_only || !is_tsan_flag(argv[i]))
                push(&a, argv[i]);
        /* A link: objects only, libtangle instead of libtsan. A bare query
         * (cc -v) gets the link libraries too, harmlessly. */
        if (!compile_only)
            add_link_libs(&a, libdir);
        rc = run(a.v);
        free(a.v);
        free(libdir);
        return rc;
    }

    /* Compile and link in one: compile each source into tmp/, then link. */
    const char *tmpbase = getenv("TMPDIR");
    char *tmp = xasprintf("%s/tangle-cc.XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp");
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "tangle: cannot create a temporary directory '%s': %s\n",
                tmp, strerror(errno));
        free(tmp);
        free(libdir);
        return EXIT_INTERNAL;
    }
    char **objs = xcalloc((size_t)argc, sizeof(char *));
    rc = 0;
    size_t k = 0;
    for (int i = first; i < argc && rc == 0; i++) {
        if (takes_value(argv[i])) {
            i++;
            continue;
        }
        if (!is_source(argv[i]))
            continue;
        const char *base = strrchr(argv[i], '/');
        base = base ? base + 1 : argv[i];
        objs[i] = xasprintf("%s/%zu-%s.o", tmp, k++, base);
        struct argv_buf a = {0};
        push(&a, cc);
        push(&a, "-fsanitize=thread");
        if (!has_g)
            push(&a, "-g");
        push(&a, "-c");
        for (int j = first; j < argc; j++) {
            const char *x = argv[j];
            if (!strcmp(x, "-o") || (takes_value(x) && link_only(x))) {
                j++;
                continue;
            }
            if (link_only(x))
                continue;
            if (x[0] != '-' && j != i) {
                /* Another input: skip it (and a value-taking option's
                 * value was already stepped over above). */
                bool is_value = j > first && takes_value(argv[j - 1]);
                if (!is_value)
                    continue;
            }
            push(&a, x);
        }
        push(&a, "-o");
        push(&a, objs[i]);
        rc = run(a.v);
        free(a.v);
    }
    if (rc == 0) {
        struct argv_buf a = {0};
        push(&a, cc);
        for (int j = first; j < argc; j++) {
            const char *x = argv[j];
            if (takes_value(x) && j + 1 < argc) {
                push(&a, x);
                push(&a, argv[++j]);
                continue;
            }
            if (objs[j])
                push(&a, objs[j]);
            else if (!is_tsan_flag(x))
                push(&a, x);
        }
        add_link_libs(&a, libdir);
        rc = run(a.v);
        free(a.v);
    }
    for (int i = 0; i < argc; i++)
        if (objs[i]) {
            unlink(objs[i]);
            free(objs[i]);
        }
    free(objs);
    rmdir(tmp);
    free(tmp);
    free(libdir);
    return rc;
}

int cmd_cc(int argc, char **argv)
{
    return race_cc_main(argc, argv, false);
}

int cmd_cxx(int argc, char **argv)
{
    return race_cc_main(argc, argv, true);
}
