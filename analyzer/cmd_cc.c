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
 *
 * With clang (a compiler whose name says so), each source goes to its
 * object through bitcode instead, so that the race checker's common
 * cases run inline (see "clang: the access check inlined" below); with
 * -S, -x, -flto, -emit-llvm, -save-temps, coverage or profiling options,
 * standard input as the source, or TANGLE_CC_INLINE=0, it is compiled as
 * with gcc. The same step checks loops that sweep arrays as ranges.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* run(), with the command's messages (its standard error) sent to the
 * file `to` instead. */
static int run_to(char **argv, const char *to)
{
    fflush(NULL);
    int saved = dup(2);
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (saved >= 0 && fd >= 0)
        dup2(fd, 2);
    int rc = run(argv);
    if (saved >= 0 && fd >= 0)
        dup2(saved, 2);
    if (fd >= 0)
        close(fd);
    if (saved >= 0)
        close(saved);
    return rc;
}

/* run(), with the command's own messages kept back unless
 * TANGLE_CC_VERBOSE is set: for a step whose failure has a fallback. */
static int run_quiet(char **argv)
{
    if (getenv("TANGLE_CC_VERBOSE"))
        return run(argv);
    return run_to(argv, "/dev/null");
}

/* Copies the file at path to standard error. */
static void replay(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(f);
}

/* Did the compiler's messages (in the file at path) come from loading or
 * running tangle's loop pass? "plugin" is in gcc's and clang's messages
 * for a plugin they cannot load, the pass's name in those of a compiler
 * that crashed in it. */
static bool plugin_failed(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool hit = false;
    while (!hit && fgets(line, sizeof line, f))
        hit = strstr(line, "plugin") || strstr(line, "tangle-loop") || strstr(line, "LoopRanges");
    fclose(f);
    return hit;
}

/* Runs the compile step a (a->v[0] the compiler) with `flag` (which
 * loads the loop-range plugin `plugin`) after the compiler's name; a
 * compiler that cannot load it (another version's), or that fails in it,
 * compiles again without it. The messages wait until it is known which
 * attempt counts; a compile that fails for any other reason is not run
 * again, and its messages are shown as they came (in colour on a
 * terminal, as the compiler would have shown them). src: the source
 * compiled (NULL: those of the command line), for TANGLE_CC_VERBOSE. */
static int run_with_plugin(const struct argv_buf *a, const char *flag, const char *plugin,
                           const char *src)
{
    const char *tmpbase = getenv("TMPDIR");
    char *err = xasprintf("%s/tangle-cc.XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp");
    int fd = mkstemp(err);
    if (fd < 0) {
        free(err);
        return run(a->v);
    }
    close(fd);
    struct argv_buf b = {0};
    push(&b, a->v[0]);
    push(&b, flag);
    /* before the program's options, which may say otherwise */
    if (isatty(2))
        push(&b, "-fdiagnostics-color=always");
    for (size_t j = 1; j < a->n; j++)
        push(&b, a->v[j]);
    int rc = run_to(b.v, err);
    bool retry = rc != 0 && plugin_failed(err);
    if (!retry)
        replay(err);
    unlink(err);
    free(err);
    free(b.v);
    if (retry) {
        if (getenv("TANGLE_CC_VERBOSE"))
            fprintf(stderr, "tangle: %s cannot use %s; %s without it\n", a->v[0], plugin,
                    src ? src : "compiling");
        rc = run(a->v);
    }
    return rc;
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

/* ---- clang: the access check inlined -------------------------------- */

/* With clang, each object gets the race checker's access entry points
 * as code of its own (shim/bitcode/race_inline.c), so the common cases of
 * the check run inline instead of a call into the shim per access: the
 * source is compiled to bitcode with the instrumentation, linked with
 * libdir/tangle-race-inline.bc (llvm-link --internalize) and compiled on
 * to the object. gcc instruments too late for any inlining: its objects
 * call the entry points. That last compile also loads the loop-range
 * pass (libdir/tangle-loops.so, shim/bitcode/loop_ranges.cpp) where it
 * was built, unless TANGLE_LOOP_RANGES=0: a loop that sweeps an array is
 * then checked as one range before or after it, not element by element. */
struct inl {
    const char *cc;
    char *bc;                  /* the entry points' bitcode */
    char *llvm_link;
    char *loops;               /* the loop-range pass, or NULL */
    char *gcc_loops;           /* gcc's loop-range plugin, or NULL */
    bool on;
};

/* The first line a command prints, or NULL. */
static char *first_line_of(char *const argv[])
{
    int fd[2];
    if (pipe(fd) < 0)
        return NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    char buf[PATH_MAX];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof buf - 1 && (got = read(fd[0], buf + n, sizeof buf - 1 - n)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n += (size_t)got;
    }
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && buf[0] ? xstrdup(buf) : NULL;
}

/* Coverage and profiling: their files are named after the compile's
 * output, which the detour through bitcode would change. */
static bool coverage_flag(const char *a)
{
    return !strcmp(a, "--coverage") || !strncmp(a, "-fprofile", 9) ||
           !strcmp(a, "-ftest-coverage") || !strncmp(a, "-fcoverage", 10) ||
           !strncmp(a, "-fsanitize-coverage", 19);
}

/* Options after which the access check is not inlined: output that is
 * not an object, the user's own LTO or bitcode, an explicit language, or
 * source from standard input. */
static bool inline_blocked_by(const char *a)
{
    return !strcmp(a, "-S") || !strncmp(a, "-x", 2) || !strncmp(a, "-flto", 5) ||
           !strcmp(a, "-emit-llvm") || !strncmp(a, "-save-temps", 11) ||
           !strcmp(a, "-") || !strcmp(a, "-fno-sanitize=thread") ||
           coverage_flag(a);
}

/* Is the compiler cc (a path, or a name looked up in PATH) clang under
 * another name (cc, c++ through Debian's alternatives)? It would only
 * fail to load gcc's plugin, on every compile. */
static bool clang_in_disguise(const char *cc)
{
    char *path = NULL;
    if (strchr(cc, '/')) {
        path = realpath(cc, NULL);
    } else {
        const char *p = getenv("PATH");
        char *dirs = xstrdup(p && *p ? p : "/usr/bin:/bin");
        for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !path;
             d = strtok_r(NULL, ":", &save)) {
            char *c = xasprintf("%s/%s", d, cc);
            if (access(c, X_OK) == 0)
                path = realpath(c, NULL);
            free(c);
        }
        free(dirs);
    }
    if (!path)
        return false;
    const char *base = strrchr(path, '/');
    bool clang = strstr(base ? base + 1 : path, "clang") != NULL;
    free(path);
    return clang;
}

static void inline_setup(struct inl *in, const char *cc, const char *libdir,
                         int first, int argc, char **argv)
{
    *in = (struct inl){ .cc = cc };
    const char *base = strrchr(cc, '/');
    bool clang = strstr(base ? base + 1 : cc, "clang") != NULL;
    const char *ranges = getenv("TANGLE_LOOP_RANGES");
    bool no_ranges = ranges && !strcmp(ranges, "0");
    /* Any other compiler is taken for gcc, and given the loop-range
     * plugin (shim/gccplugin/loop_ranges.cc) where it was built; one
     * that cannot load it compiles without it. */
    if (!clang && !no_ranges && !clang_in_disguise(cc)) {
        in->gcc_loops = xasprintf("%s/tangle-loops-gcc.so", libdir);
        if (access(in->gcc_loops, R_OK) != 0) {
            free(in->gcc_loops);
            in->gcc_loops = NULL;
        }
    }
    const char *env = getenv("TANGLE_CC_INLINE");
    if ((env && !strcmp(env, "0")) || !clang)
        return;
    for (int i = first; i < argc; i++)
        if (inline_blocked_by(argv[i]))
            return;
    in->bc = xasprintf("%s/tangle-race-inline.bc", libdir);
    if (access(in->bc, R_OK) != 0)
        return;
    /* clang's own llvm-link (the same LLVM), else one on PATH. */
    char *q[] = { (char *)cc, "-print-prog-name=llvm-link", NULL };
    in->llvm_link = first_line_of(q);
    if (in->llvm_link && in->llvm_link[0] != '/') {
        free(in->llvm_link);
        in->llvm_link = NULL;
    }
    if (!in->llvm_link || access(in->llvm_link, X_OK) != 0) {
        free(in->llvm_link);
        in->llvm_link = xstrdup("llvm-link");
    }
    /* The loop-range pass (shim/bitcode/loop_ranges.cpp), where it was
     * built: a loop's sweep of an array is checked as one range. */
    in->loops = xasprintf("%s/tangle-loops.so", libdir);
    if (no_ranges || access(in->loops, R_OK) != 0) {
        free(in->loops);
        in->loops = NULL;
    }
    in->on = true;
}

static void inline_free(struct inl *in)
{
    free(in->bc);
    free(in->llvm_link);
    free(in->loops);
    free(in->gcc_loops);
}

/* The options that compiling the linked bitcode on to an object takes
 * from the command line: optimization, debug information, code
 * generation (-f, -m), the target, and optimization remarks (-Rpass...,
 * such as the loop-range pass's -Rpass=tangle-loop-ranges). The rest
 * (the preprocessor's, dependency output, warnings, the language
 * standard, sanitizers) did their work in the first step. Returns how
 * many arguments to pass (2: with the next as its value), 0 for none. */
static int codegen_option(const char *a)
{
    if (!strcmp(a, "-target"))
        return 2;
    if (!strncmp(a, "-fsanitize", 10) || !strncmp(a, "-fno-sanitize", 13))
        return 0;
    return !strncmp(a, "-O", 2) || !strncmp(a, "-g", 2) || !strncmp(a, "-m", 2) ||
           !strncmp(a, "-f", 2) || !strncmp(a, "--target=", 9) || !strcmp(a, "-w") ||
           !strncmp(a, "-Rpass", 6);
}

/* The start of a compile step for one source: the compiler with the
 * instrumentation (and -g unless the options have one) and opts. */
static void push_compile(struct argv_buf *a, const char *cc, char **opts, size_t nopts,
                         bool has_g)
{
    push(a, cc);
    push(a, "-fsanitize=thread");
    if (!has_g)
        push(a, "-g");
    for (size_t j = 0; j < nopts; j++)
        push(a, opts[j]);
}

/* The inline way of compile_obj: the compiler's status, or -1 when the
 * bitcode could not be linked (nothing was written to obj). */
static int compile_obj_inline(const struct inl *in, char **opts, size_t nopts, bool has_g,
                              const char *src, const char *obj, const char *tmp, size_t k)
{
    bool deps = false, mf = false, mt = false;
    for (size_t j = 0; j < nopts; j++) {
        deps |= !strcmp(opts[j], "-MD") || !strcmp(opts[j], "-MMD");
        mf |= !strncmp(opts[j], "-MF", 3);
        mt |= !strncmp(opts[j], "-MT", 3) || !strncmp(opts[j], "-MQ", 3);
    }
    char *bc1 = xasprintf("%s/%zu.bc", tmp, k), *bc2 = xasprintf("%s/%zu.l.bc", tmp, k);
    struct argv_buf a = {0};
    push_compile(&a, in->cc, opts, nopts, has_g);
    /* The dependency file and its target are named after the object, as
     * they would be without the detour through bitcode. */
    char *dfile = NULL;
    if (deps && !mf) {
        const char *dot = strrchr(obj, '.'), *slash = strrchr(obj, '/');
        size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - obj) : strlen(obj);
        dfile = xasprintf("%.*s.d", (int)stem, obj);
        push(&a, "-MF");
        push(&a, dfile);
    }
    if (deps && !mt) {
        push(&a, "-MT");
        push(&a, obj);
    }
    push(&a, "-emit-llvm");
    push(&a, "-c");
    push(&a, src);
    push(&a, "-o");
    push(&a, bc1);
    int rc = run(a.v);
    free(a.v);
    free(dfile);
    if (rc == 0) {
        char *l[] = { in->llvm_link, "--only-needed", "--internalize", bc1, in->bc,
                      "-o", bc2, NULL };
        if (run_quiet(l) == 0) {
            /* bitcode to object: the code generation options only */
            a = (struct argv_buf){0};
            push(&a, in->cc);
            for (size_t j = 0; j < nopts; j++) {
                int n = codegen_option(opts[j]);
                if (n >= 1)
                    push(&a, opts[j]);
                if (n == 2 && j + 1 < nopts)
                    push(&a, opts[++j]);
            }
            push(&a, "-Wno-unused-command-line-argument");
            push(&a, "-c");
            push(&a, bc2);
            push(&a, "-o");
            push(&a, obj);
            if (in->loops) {
                char *plug = xasprintf("-fpass-plugin=%s", in->loops);
                rc = run_with_plugin(&a, plug, in->loops, src);
                free(plug);
            } else {
                rc = run(a.v);
            }
            free(a.v);
        } else {
            rc = -1;
        }
    }
    unlink(bc1);
    unlink(bc2);
    free(bc1);
    free(bc2);
    return rc;
}

/* Runs the compile step a the usual way (the entry points called), with
 * gcc's loop-range plugin where there is one. */
static int run_compile(const struct inl *in, const struct argv_buf *a, const char *src)
{
    if (!in->gcc_loops)
        return run(a->v);
    char *plug = xasprintf("-fplugin=%s", in->gcc_loops);
    int rc = run_with_plugin(a, plug, in->gcc_loops, src);
    free(plug);
    return rc;
}

/* Compiles the source `src` to `obj`. opts: the compiler's options for
 * it (without the compiler, -c, -o and the source). The inline way is
 * tried first when set up; if llvm-link fails (another LLVM's bitcode),
 * the source is compiled the usual way, which calls the entry points. */
static int compile_obj(const struct inl *in, char **opts, size_t nopts, bool has_g,
                       const char *src, const char *obj, const char *tmp, size_t k)
{
    if (in->on) {
        int rc = compile_obj_inline(in, opts, nopts, has_g, src, obj, tmp, k);
        if (rc >= 0)
            return rc;
        if (getenv("TANGLE_CC_VERBOSE"))
            fprintf(stderr, "tangle: %s cannot link %s; %s calls the race checker "
                    "instead of inlining it\n", in->llvm_link, in->bc, src);
    }
    struct argv_buf a = {0};
    push_compile(&a, in->cc, opts, nopts, has_g);
    push(&a, "-c");
    push(&a, src);
    push(&a, "-o");
    push(&a, obj);
    int rc = run_compile(in, &a, src);
    free(a.v);
    return rc;
}

/* A private temporary directory, or NULL (said on stderr unless quiet). */
static char *make_tmpdir(bool quiet)
{
    const char *tmpbase = getenv("TMPDIR");
    char *tmp = xasprintf("%s/tangle-cc.XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp");
    if (!mkdtemp(tmp)) {
        if (!quiet)
            fprintf(stderr, "tangle: cannot create a temporary directory '%s': %s\n",
                    tmp, strerror(errno));
        free(tmp);
        return NULL;
    }
    return tmp;
}

/* The options of a compile step for one source: every argument but the
 * inputs, -c, -o and its value, and link-only options. */
static char **compile_opts(int first, int argc, char **argv, size_t *n)
{
    char **o = xcalloc((size_t)argc + 1, sizeof(char *));
    size_t m = 0;
    for (int j = first; j < argc; j++) {
        const char *x = argv[j];
        if (!strcmp(x, "-o") || (takes_value(x) && link_only(x))) {
            j++;
            continue;
        }
        if (link_only(x) || !strcmp(x, "-c"))
            continue;
        if (takes_value(x) && j + 1 < argc) {
            o[m++] = argv[j];
            o[m++] = argv[++j];
            continue;
        }
        if (x[0] != '-')
            continue;              /* an input */
        o[m++] = argv[j];
    }
    *n = m;
    return o;
}

/* The object a `cc -c src` writes without -o: the source's base name,
 * its extension replaced by .o. */
static char *default_obj(const char *src)
{
    const char *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    const char *dot = strrchr(base, '.');
    size_t n = dot ? (size_t)(dot - base) : strlen(base);
    return xasprintf("%.*s.o", (int)n, base);
}

/* Compiles each source of the command line to an object, named in
 * objs[i] (i: the source's index in argv): `out`, else the source's
 * default object name, or with to_tmp a name in tmp. Stops at the first
 * failure. */
static int compile_sources(const struct inl *in, int first, int argc, char **argv,
                           bool has_g, const char *tmp, bool to_tmp, const char *out,
                           char **objs)
{
    size_t nopts;
    char **opts = compile_opts(first, argc, argv, &nopts);
    int rc = 0;
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
        objs[i] = to_tmp ? xasprintf("%s/%zu-%s.o", tmp, k, base)
                         : out ? xstrdup(out) : default_obj(argv[i]);
        rc = compile_obj(in, opts, nopts, has_g, argv[i], objs[i], tmp, k);
        k++;
    }
    free(opts);
    return rc;
}

/* `-c` with the access check inlined: each source to its object. -1
 * when there is no temporary directory for the bitcode: the caller then
 * compiles the plain way, which needs none. */
static int compile_only_inline(const struct inl *in, int first, int argc, char **argv,
                               bool has_g, size_t nsrc)
{
    const char *out = NULL;
    for (int i = first; i < argc; i++)
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[i + 1];
    if (out && nsrc > 1) {
        fprintf(stderr, "tangle: cannot specify -o with -c and multiple source files\n");
        return 1;
    }
    char *tmp = make_tmpdir(true);
    if (!tmp)
        return -1;
    char **objs = xcalloc((size_t)argc, sizeof(char *));
    int rc = compile_sources(in, first, argc, argv, has_g, tmp, false, out, objs);
    for (int i = 0; i < argc; i++)
        free(objs[i]);
    free(objs);
    rmdir(tmp);
    free(tmp);
    return rc;
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
    bool compile_only = false, has_g = false, preprocess = false, dash_c = false;
    bool regular_inputs = true;
    size_t nsrc = 0, ninputs = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-c") || !strcmp(a, "-S"))
            compile_only = true;
        if (!strcmp(a, "-c"))
            dash_c = true;
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
        if (a[0] != '-') {
            ninputs++;
            struct stat st;
            if (stat(a, &st) != 0 || !S_ISREG(st.st_mode))
                regular_inputs = false;
        } else if (!strcmp(a, "-")) {
            regular_inputs = false;
        }
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
    struct inl in;
    inline_setup(&in, cc, libdir, first, argc, argv);
    /* An input that can be read once (standard input, a pipe) would be
     * gone for a compile without the plugin. */
    if (!regular_inputs) {
        free(in.gcc_loops);
        in.gcc_loops = NULL;
    }
    int rc;
    if (compile_only && dash_c && nsrc > 0 && nsrc == ninputs && in.on &&
        (rc = compile_only_inline(&in, first, argc, argv, has_g, nsrc)) >= 0) {
        inline_free(&in);
        free(libdir);
        return rc;
    }
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
        rc = compile_only ? run_compile(&in, &a, NULL) : run(a.v);
        free(a.v);
        inline_free(&in);
        free(libdir);
        return rc;
    }

    /* Compile and link in one: compile each source into tmp/, then link. */
    char *tmp = make_tmpdir(false);
    if (!tmp) {
        inline_free(&in);
        free(libdir);
        return EXIT_INTERNAL;
    }
    char **objs = xcalloc((size_t)argc, sizeof(char *));
    rc = compile_sources(&in, first, argc, argv, has_g, tmp, true, NULL, objs);
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
    inline_free(&in);
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
