/*
 * test_cc.c: `tangle cc` as a compiler driver. With clang it compiles
 * each source through bitcode so that the race checker's access check is
 * inlined (shim/bitcode/race_inline.c); these tests check what a build
 * system sees of that: the objects and dependency files it asked for,
 * the fallback to plain calls, and the errors a compiler would give. The
 * race tests (test_race_clang) check what the inlined code finds.
 */
#include "e2e.h"
#include "../../shim/race_abi.h"

TestSuite(cc, .fini = e2e_cleanup);

static const char b_src[] = "int bval;\nvoid bset(int v) { bval = v; }\n";
static const char a_src[] = "void bset(int);\nint main(void) { bset(3); return 0; }\n";

/* The child runs in the test's directory (a plain -c writes there). */
static void in_dir(struct e2e_run *r)
{
    if (chdir(r->dir) != 0)
        _exit(127);
}

static void write_sources(struct e2e_run *r)
{
    char p[160];
    snprintf(p, sizeof p, "%s/a.c", r->dir);
    e2e_write_file(p, a_src, strlen(a_src));
    snprintf(p, sizeof p, "%s/b.c", r->dir);
    e2e_write_file(p, b_src, strlen(b_src));
}

/* Is sym an undefined symbol of the object at path? */
static bool calls(const char *path, const char *sym)
{
    char cmd[256], line[256];
    snprintf(cmd, sizeof cmd, "nm --undefined-only %s", path);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    bool found = false;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n@")] = 0;       /* a linked file's: name@VERSION */
        const char *name = strrchr(line, ' ');
        found |= name && !strcmp(name + 1, sym);
    }
    cr_assert_eq(pclose(p), 0, "nm %s failed", path);
    return found;
}

static void cc(struct e2e_run *r, const char *compiler, const char *const *args)
{
    char *argv[E2E_MAX_ARGS];
    int n = 0;
    argv[n++] = E2E_TANGLE;
    argv[n++] = "cc";
    argv[n++] = "--cc";
    argv[n++] = (char *)compiler;
    for (; *args; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    r->pre_exec = in_dir;
    e2e_exec(r, argv);
}

/* A fresh run with a.c and b.c in its directory; the test is skipped
 * when it needs clang and there is none. */
static void setup(struct e2e_run *r, bool clang)
{
    if (clang && access("/usr/bin/clang", X_OK) != 0)
        cr_skip_test("no clang");
    e2e_init(r);
    write_sources(r);
}

/* `tangle cc`, which must succeed. */
static void cc_ok(struct e2e_run *r, const char *compiler, const char *const *args)
{
    cc(r, compiler, args);
    cr_assert_eq(r->status, 0, "tangle cc: %d\n%s", r->status, r->err);
}

/* A file of r's directory (one at a time: a static buffer). */
static const char *in_run(struct e2e_run *r, const char *name)
{
    static char p[160];
    snprintf(p, sizeof p, "%s/%s", r->dir, name);
    return p;
}

Test(cc, clang_writes_each_object_and_dependency_file_with_the_check_inline, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, true);
    cc_ok(&r, "clang", (const char *const[]){ "-O2", "-MD", "-c", "a.c", "b.c", NULL });
    char *deps = e2e_slurp(in_run(&r, "a.d"), NULL);
    cr_assert(deps, "no a.d");
    cr_assert(!strncmp(deps, "a.o: a.c", 8), "a.d names another target:\n%s", deps);
    free(deps);
    cr_assert(calls(in_run(&r, "b.o"), "__tsan_write4_pc"), "b.o has no long-way call");
    cr_assert(!calls(in_run(&r, "b.o"), "__tsan_write4"), "b.o calls __tsan_write4: not inlined");
    cr_assert(calls(in_run(&r, "b.o"), TG_RS_SYM), "b.o does not read the thread's state");
    e2e_free(&r);
}

Test(cc, clang_falls_back_to_calls_when_the_bitcode_cannot_be_linked, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, true);
    e2e_write_file(in_run(&r, "tangle-race-inline.bc"), "not bitcode\n", 12);
    char env[200];
    snprintf(env, sizeof env, "TANGLE_LIBDIR=%s", r.dir);
    r.env = (const char *[]){ env, NULL };
    cc_ok(&r, "clang", (const char *const[]){ "-c", "b.c", "-o", "b.o", NULL });
    cr_assert(calls(in_run(&r, "b.o"), "__tsan_write4"), "b.o does not call the entry point");
    cr_assert(!calls(in_run(&r, "b.o"), TG_RS_SYM));
    e2e_free(&r);
}

Test(cc, inlining_can_be_turned_off, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, true);
    r.env = (const char *[]){ "TANGLE_CC_INLINE=0", NULL };
    cc_ok(&r, "clang", (const char *const[]){ "-c", "b.c", NULL });
    cr_assert(calls(in_run(&r, "b.o"), "__tsan_write4"));
    e2e_free(&r);
}

Test(cc, gcc_objects_call_the_entry_points, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, false);
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-c", "b.c", NULL });
    cr_assert(calls(in_run(&r, "b.o"), "__tsan_write4"));
    cr_assert(!calls(in_run(&r, "b.o"), TG_RC_DIR_SYM), "b.o reads the shadow");
    e2e_free(&r);
}

Test(cc, one_output_for_two_sources_is_refused_like_the_compiler_does, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, true);
    cc(&r, "clang", (const char *const[]){ "-c", "a.c", "b.c", "-o", "x.o", NULL });
    cr_assert_neq(r.status, 0);
    cr_assert(strstr(r.err, "-o"), "stderr: %s", r.err);
    e2e_free(&r);
}

Test(cc, clang_compile_and_link_in_one_runs, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, true);
    cc_ok(&r, "clang", (const char *const[]){ "-O1", "a.c", "b.c", "-o", "ab", NULL });
    struct e2e_run run;
    e2e_init(&run);
    char prog[160];
    snprintf(prog, sizeof prog, "%s", in_run(&r, "ab"));
    e2e_run(&run, "--options race=1", prog, NULL);
    cr_assert_eq(run.status, 0, "exit %d\n%s", run.status, run.err);
    e2e_free(&run);
    e2e_free(&r);
}

/* Coverage names its notes file after the compile's output: the detour
 * through bitcode would hide it, so coverage keeps the plain way. */
Test(cc, clang_with_coverage_keeps_its_notes_file, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, true);
    cc_ok(&r, "clang", (const char *const[]){ "--coverage", "-c", "b.c", NULL });
    cr_assert_eq(access(in_run(&r, "b.gcno"), F_OK), 0, "no b.gcno");
    cr_assert(calls(in_run(&r, "b.o"), "__tsan_write4"));
    e2e_free(&r);
}

/* `-c` needs no temporary directory without the detour through bitcode:
 * without one, it compiles the plain way rather than fail. */
Test(cc, clang_without_a_temporary_directory_compiles_the_plain_way, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, true);
    r.env = (const char *[]){ "TMPDIR=/nonexistent/tangle-e2e", NULL };
    cc_ok(&r, "clang", (const char *const[]){ "-c", "b.c", NULL });
    cr_assert(calls(in_run(&r, "b.o"), "__tsan_write4"));
    e2e_free(&r);
}

/* The loop-range pass (shim/bitcode/loop_ranges.cpp): with clang, a
 * loop's sweep of an array is checked as one range. */
static const char loop_src[] =
    "void fill(long *a, long n)\n"
    "{\n"
    "    for (long i = 0; i < n; i++)\n"
    "        a[i] = a[i] * 3 + i;\n"
    "}\n";

static void setup_loops(struct e2e_run *r)
{
    setup(r, true);
    if (access(TANGLE_BUILD "/lib/tangle-loops.so", R_OK) != 0)
        cr_skip_test("the loop-range pass was not built (no llvm-dev)");
    e2e_write_file(in_run(r, "loop.c"), loop_src, strlen(loop_src));
}

Test(cc, clang_checks_a_loop_sweep_as_one_range_and_remarks_on_it, .timeout = 120)
{
    struct e2e_run r;
    setup_loops(&r);
    cc_ok(&r, "clang", (const char *const[]){ "-O2", "-Rpass=tangle-loop-ranges", "-c",
                                              "loop.c", NULL });
    cr_assert(calls(in_run(&r, "loop.o"), "__tsan_write_range"), "no range check");
    cr_assert(!calls(in_run(&r, "loop.o"), "__tsan_write8_pc"),
              "the loop still checks each element");
    cr_assert(strstr(r.err, "loop.c:3:") && strstr(r.err, "before the loop"),
              "no remark on the loop:\n%s", r.err);
    e2e_free(&r);
}

Test(cc, loop_ranges_can_be_turned_off, .timeout = 120)
{
    struct e2e_run r;
    setup_loops(&r);
    r.env = (const char *[]){ "TANGLE_LOOP_RANGES=0", NULL };
    cc_ok(&r, "clang", (const char *const[]){ "-O2", "-c", "loop.c", NULL });
    cr_assert(!calls(in_run(&r, "loop.o"), "__tsan_write_range"));
    cr_assert(calls(in_run(&r, "loop.o"), "__tsan_write8_pc"));
    e2e_free(&r);
}

/* A pass clang cannot load (built for another LLVM) is left out, and
 * its failure is not shown: the object is built as without it. */
Test(cc, a_loop_pass_clang_cannot_load_is_left_out_quietly, .timeout = 120)
{
    struct e2e_run r;
    setup_loops(&r);
    size_t n = 0;
    char *bc = e2e_slurp(TANGLE_BUILD "/lib/tangle-race-inline.bc", &n);
    cr_assert(bc);
    e2e_write_file(in_run(&r, "tangle-race-inline.bc"), bc, n);
    free(bc);
    e2e_write_file(in_run(&r, "tangle-loops.so"), "not a plugin\n", 13);
    char env[200];
    snprintf(env, sizeof env, "TANGLE_LIBDIR=%s", r.dir);
    r.env = (const char *[]){ env, NULL };
    cc_ok(&r, "clang", (const char *const[]){ "-O2", "-c", "loop.c", NULL });
    cr_assert(!calls(in_run(&r, "loop.o"), "__tsan_write_range"));
    cr_assert(calls(in_run(&r, "loop.o"), TG_RS_SYM), "the access check is not inline");
    cr_assert(!strstr(r.err, "plugin"), "the failed load shows:\n%s", r.err);
    e2e_free(&r);
}

/* The same for gcc, through its plugin (shim/gccplugin/loop_ranges.cc):
 * with -c and without (the compile step of a compile-and-link). */
static void setup_gcc_loops(struct e2e_run *r)
{
    setup(r, false);
    if (access(TANGLE_BUILD "/lib/tangle-loops-gcc.so", R_OK) != 0)
        cr_skip_test("the loop-range plugin was not built (no gcc-N-plugin-dev)");
    e2e_write_file(in_run(r, "loop.c"), loop_src, strlen(loop_src));
}

Test(cc, gcc_checks_a_loop_sweep_as_one_range_and_remarks_on_it, .timeout = 120)
{
    struct e2e_run r;
    setup_gcc_loops(&r);
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-fopt-info-loop-optimized", "-c",
                                            "loop.c", NULL });
    cr_assert(calls(in_run(&r, "loop.o"), "__tsan_write_range"), "no range check");
    cr_assert(!calls(in_run(&r, "loop.o"), "__tsan_write8"),
              "the loop still checks each element");
    cr_assert(strstr(r.err, "loop.c:4:") && strstr(r.err, "before the loop"),
              "no remark on the loop:\n%s", r.err);
    e2e_free(&r);
    /* a shared library in one step: compile and link */
    setup_gcc_loops(&r);
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-fPIC", "-shared", "loop.c", "-o",
                                            "libloop.so", NULL });
    cr_assert(calls(in_run(&r, "libloop.so"), "__tsan_write_range"), "no range check");
    e2e_free(&r);
}

Test(cc, gcc_loop_ranges_can_be_turned_off, .timeout = 120)
{
    struct e2e_run r;
    setup_gcc_loops(&r);
    r.env = (const char *[]){ "TANGLE_LOOP_RANGES=0", NULL };
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-c", "loop.c", NULL });
    cr_assert(!calls(in_run(&r, "loop.o"), "__tsan_write_range"));
    cr_assert(calls(in_run(&r, "loop.o"), "__tsan_write8"));
    e2e_free(&r);
}

/* gcc checks a read followed by a write of the same bytes, with no call
 * between, as the write alone (as clang's instrumentation does); a call
 * between keeps both. */
static const char rmw_src[] = "void bump(long *p) { *p += 1; }\n";
static const char rmw_call_src[] =
    "void bump(long *p, void (*f)(void)) { long v = *p; f(); *p = v + 1; }\n";

Test(cc, gcc_checks_a_read_then_write_of_one_word_as_the_write, .timeout = 120)
{
    struct e2e_run r;
    setup_gcc_loops(&r);
    e2e_write_file(in_run(&r, "rmw.c"), rmw_src, strlen(rmw_src));
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-c", "rmw.c", NULL });
    cr_assert(calls(in_run(&r, "rmw.o"), "__tsan_write8"));
    cr_assert(!calls(in_run(&r, "rmw.o"), "__tsan_read8"), "the read is still checked");
    e2e_free(&r);

    setup_gcc_loops(&r);
    e2e_write_file(in_run(&r, "rmw.c"), rmw_call_src, strlen(rmw_call_src));
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-c", "rmw.c", NULL });
    cr_assert(calls(in_run(&r, "rmw.o"), "__tsan_write8"));
    cr_assert(calls(in_run(&r, "rmw.o"), "__tsan_read8"), "a call between drops the read");
    e2e_free(&r);

    setup_gcc_loops(&r);
    r.env = (const char *[]){ "TANGLE_LOOP_RANGES=0", NULL };
    e2e_write_file(in_run(&r, "rmw.c"), rmw_src, strlen(rmw_src));
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-c", "rmw.c", NULL });
    cr_assert(calls(in_run(&r, "rmw.o"), "__tsan_read8"));
    e2e_free(&r);
}

/* A local array whose address stays in its function cannot be reached
 * by another thread: gcc's checks of it go, as clang's do. gcc itself
 * leaves out only locals whose address is never taken; this one's is,
 * by a helper inlined into the function. One whose address is passed
 * on keeps its checks. */
static const char private_src[] =
    "static void step(long *b, long v) {\n"
    "    for (int k = 0; k < 16; k++)\n"
    "        b[k] = b[(k + 1) & 15] + v * k;\n"
    "}\n"
    "long mix(long v) {\n"
    "    long buf[16] = {0};\n"
    "    step(buf, v);\n"
    "    return buf[v & 15];\n"
    "}\n";
static const char passed_src[] =
    "void use(long *);\n"
    "long mix(long v) {\n"
    "    long buf[16] = {0};\n"
    "    use(buf);\n"
    "    for (int k = 0; k < 16; k++)\n"
    "        buf[k] = buf[(k + 1) & 15] + v * k;\n"
    "    return buf[v & 15];\n"
    "}\n";

Test(cc, gcc_leaves_out_checks_of_a_local_whose_address_stays_home, .timeout = 120)
{
    struct e2e_run r;
    setup_gcc_loops(&r);
    e2e_write_file(in_run(&r, "priv.c"), private_src, strlen(private_src));
    e2e_write_file(in_run(&r, "passed.c"), passed_src, strlen(passed_src));
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-c", "priv.c", "passed.c", NULL });
    cr_assert(!calls(in_run(&r, "priv.o"), "__tsan_read8"), "the private array is checked");
    cr_assert(!calls(in_run(&r, "priv.o"), "__tsan_write8"));
    cr_assert(!calls(in_run(&r, "priv.o"), "__tsan_write_range"));
    cr_assert(calls(in_run(&r, "passed.o"), "__tsan_read8"), "an array passed on is not");
    e2e_free(&r);

    setup_gcc_loops(&r);
    r.env = (const char *[]){ "TANGLE_LOOP_RANGES=0", NULL };
    e2e_write_file(in_run(&r, "priv.c"), private_src, strlen(private_src));
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-c", "priv.c", NULL });
    cr_assert(calls(in_run(&r, "priv.o"), "__tsan_read8"));
    e2e_free(&r);
}

/* The plugin puts each check behind the gate word (race_abi.h): no call
 * while TG_RS_OFF_NONE (no checker) or TG_RS_OFF_SKIP (a call sampled
 * out) is set, a call otherwise. The program sets the gate itself and
 * counts its own entry point's calls; without the plugin the gate
 * changes nothing. */
static const char guard_touch_src[] = "long word;\nvoid touch(void) { word = word * 3 + 1; }\n";

/* Builds main_src and touch_src with `tangle cc` (gcc, -O2), runs the
 * program without the shim and gives its first line of output. */
static void counts_of(struct e2e_run *r, const char *main_src, const char *touch_src,
                      char *counts, size_t cap)
{
    e2e_write_file(in_run(r, "main.c"), main_src, strlen(main_src));
    e2e_write_file(in_run(r, "touch.c"), touch_src, strlen(touch_src));
    cc_ok(r, "gcc", (const char *const[]){ "-O2", "main.c", "touch.c", "-o", "counts", NULL });
    struct e2e_run run;
    e2e_init(&run);
    e2e_run_bare(&run, in_run(r, "counts"), NULL);
    cr_assert_eq(run.status, 0, "exit %d\n%s", run.status, run.err);
    snprintf(counts, cap, "%s", run.out);
    counts[strcspn(counts, "\n")] = 0;
    e2e_free(&run);
}

static void guard_counts(struct e2e_run *r, char *counts, size_t cap)
{
    char main_src[1024];
    snprintf(main_src, sizeof main_src,
             "#include <stdio.h>\n"
             "#define QUIET __attribute__((no_sanitize_thread))\n"
             "extern __thread unsigned gate __asm__(\"%s\");\n"
             "void touch(void);\n"
             "static int n;\n"
             "QUIET void __tsan_write8(void *p) { (void)p; n++; }\n"
             "QUIET int main(void) {\n"
             "    unsigned g[3] = { %uu, 0u, %uu }, keep = gate;\n"
             "    int c[3];\n"
             "    for (int k = 0; k < 3; k++) {\n"
             "        gate = g[k]; n = 0; touch(); touch(); c[k] = n;\n"
             "    }\n"
             "    gate = keep;\n"
             "    printf(\"%%d %%d %%d\\n\", c[0], c[1], c[2]);\n"
             "    return 0;\n"
             "}\n",
             TG_RS_OFF_SYM, TG_RS_OFF_NONE, TG_RS_OFF_SKIP);
    counts_of(r, main_src, guard_touch_src, counts, cap);
}

Test(cc, gcc_makes_no_check_call_while_the_gate_says_none_would_count, .timeout = 120)
{
    struct e2e_run r;
    char counts[64];
    setup_gcc_loops(&r);
    guard_counts(&r, counts, sizeof counts);
    cr_assert_str_eq(counts, "0 2 0", "calls with the gate at none, open, skip: %s", counts);
    e2e_free(&r);

    setup_gcc_loops(&r);
    r.env = (const char *[]){ "TANGLE_LOOP_RANGES=0", NULL };
    guard_counts(&r, counts, sizeof counts);
    cr_assert_str_eq(counts, "2 2 2", "without the plugin: %s", counts);
    e2e_free(&r);
}

/* Under the shim without the race checker (race=0), a thread's gate
 * word says no checker runs (TG_RS_OFF_NONE) once the thread made its
 * first access, so that a build of `tangle cc` makes no check call per
 * access (the test above: none at that gate); with the checker it stays
 * open. Main and a thread it starts each print their gate after a few
 * accesses. */
static const char gate_main_src[] =
    "#include <pthread.h>\n"
    "#include <stdio.h>\n"
    "#define QUIET __attribute__((no_sanitize_thread))\n"
    "extern __thread unsigned gate __asm__(\"" TG_RS_OFF_SYM "\");\n"
    "long word;\n"
    "QUIET static unsigned gate_now(void) { return gate; }\n"
    "static void *run(void *p) { word += 2; word *= 3; *(unsigned *)p = gate_now(); return 0; }\n"
    "int main(void) {\n"
    "    word = 1; word++;\n"
    "    unsigned mine = gate_now(), theirs = 0;\n"
    "    pthread_t t;\n"
    "    pthread_create(&t, 0, run, &theirs);\n"
    "    pthread_join(t, 0);\n"
    "    printf(\"gates %u %u\\n\", mine, theirs);\n"
    "    return 0;\n"
    "}\n";

static void gates_under_shim(struct e2e_run *r, const char *opts, unsigned *mine,
                             unsigned *theirs)
{
    e2e_write_file(in_run(r, "gate.c"), gate_main_src, strlen(gate_main_src));
    cc_ok(r, "gcc", (const char *const[]){ "-O1", "-pthread", "gate.c", "-o", "gate", NULL });
    struct e2e_run run;
    e2e_init(&run);
    e2e_run(&run, opts, in_run(r, "gate"), NULL);
    cr_assert_eq(run.status, 0, "exit %d\n%s", run.status, run.err);
    const char *g = strstr(run.out, "gates ");
    cr_assert(g && sscanf(g, "gates %u %u", mine, theirs) == 2, "output: %s", run.out);
    e2e_free(&run);
}

Test(cc, without_the_race_checker_the_shim_closes_the_gate_of_each_thread, .timeout = 120)
{
    struct e2e_run r;
    unsigned mine, theirs;
    setup(&r, false);
    gates_under_shim(&r, "--options race=0", &mine, &theirs);
    cr_assert(mine & TG_RS_OFF_NONE, "main's gate under race=0: %u", mine);
    cr_assert(theirs & TG_RS_OFF_NONE, "a thread's gate under race=0: %u", theirs);
    gates_under_shim(&r, "--options race=1", &mine, &theirs);
    cr_assert_eq(mine, 0, "main's gate under race=1: %u", mine);
    cr_assert_eq(theirs, 0, "a thread's gate under race=1: %u", theirs);
    e2e_free(&r);
}

/* In sampled mode (the gate exactly TG_RS_OFF_SAMPLE) the plugin skips
 * the call of a site in a loop inline while the site's entry in the
 * thread's table (race_abi.h) has its key and a count left, and otherwise
 * leaves the key for the call. The program points the thread's state at
 * a table of its own; its entry point, as the shim would, gives the site
 * one skip. The loop calls a function, so that its access stays in it. */
static const char loop_touch_src[] =
    "long word;\n"
    "void tick(void);\n"
    "void touch(int n) { for (int i = 0; i < n; i++) { word = word * 3 + 1; tick(); } }\n";
static const char once_touch_src[] =
    "long word;\n"
    "void tick(void);\n"
    "void touch(int n) { (void)n; word = word * 3 + 1; tick(); }\n";
#define TEXT_OF(x) #x
#define TEXT(x) TEXT_OF(x)
#define SITE_SLOT_TEXT TEXT(TG_RS_SITE_SLOT(k))

static void sample_counts(struct e2e_run *r, const char *touch_src, bool state, char *counts,
                          size_t cap)
{
    char main_src[2048];
    snprintf(main_src, sizeof main_src,
             "#include <stdio.h>\n"
             "#include <stdint.h>\n"
             "#include <string.h>\n"
             "#define QUIET __attribute__((no_sanitize_thread))\n"
             "extern __thread unsigned gate __asm__(\"%s\");\n"
             "extern __thread unsigned char *state __asm__(\"%s\");\n"
             "void touch(int n);\n"
             "QUIET void tick(void) {}\n"
             "static unsigned char table[%u + (%u << %u)] __attribute__((aligned(64)));\n"
             "static int n;\n"
             "static uintptr_t keys[8];\n"
             "QUIET void __tsan_write8(void *p) {\n"
             "    (void)p;\n"
             "    uintptr_t k = 0;\n"
             "    if (state) { memcpy(&k, state + %u, 8); memset(state + %u, 0, 8); }\n"
             "    keys[n++ & 7] = k;\n"
             "    if (!k) return;\n"
             "    unsigned char *e = table + %u + (%s) * %u;\n"
             "    unsigned one = 1;\n"
             "    memcpy(e + %u, &k, 8);\n"
             "    memcpy(e + %u, &one, 4);\n"
             "}\n"
             "QUIET int main(void) {\n"
             "    unsigned keep = gate;\n"
             "    unsigned char *was = state;\n"
             "    int c[4];\n"
             "    gate = %uu;\n"
             "    state = %s;\n"
             "    for (int k = 0; k < 4; k++) { int before = n; touch(1); c[k] = n - before; }\n"
             "    gate = keep;\n"
             "    state = was;\n"
             "    uintptr_t at = keys[0] - (uintptr_t)&touch;\n"
             "    printf(\"%%d %%d %%d %%d %%s %%s\\n\", c[0], c[1], c[2], c[3],\n"
             "           keys[0] && at < 64 ? \"in-touch\" : \"elsewhere\",\n"
             "           keys[0] == keys[1] ? \"same\" : \"other\");\n"
             "    return 0;\n"
             "}\n",
             TG_RS_OFF_SYM, TG_RS_SYM, TG_RS_SITES_OFF, TG_RS_SITE_SIZE, TG_RS_SITE_BITS,
             TG_RS_SITE_KEY_OFF, TG_RS_SITE_KEY_OFF, TG_RS_SITES_OFF, SITE_SLOT_TEXT,
             TG_RS_SITE_SIZE, TG_RS_SITE_FN_OFF, TG_RS_SITE_SKIP_OFF, TG_RS_OFF_SAMPLE,
             state ? "table" : "0");
    counts_of(r, main_src, touch_src, counts, cap);
}

Test(cc, gcc_skips_a_sampled_out_site_without_a_call, .timeout = 120)
{
    struct e2e_run r;
    char counts[128];
    setup_gcc_loops(&r);
    sample_counts(&r, loop_touch_src, true, counts, sizeof counts);
    cr_assert_str_eq(counts, "1 0 1 0 in-touch same",
                     "calls per access, where the key lies: %s", counts);
    e2e_free(&r);

    /* a thread without state (its end, say) calls, and reads nothing */
    setup_gcc_loops(&r);
    sample_counts(&r, loop_touch_src, false, counts, sizeof counts);
    cr_assert_str_eq(counts, "1 1 1 1 elsewhere same", "without state: %s", counts);
    e2e_free(&r);

    /* a site outside any loop has no probe */
    setup_gcc_loops(&r);
    sample_counts(&r, once_touch_src, true, counts, sizeof counts);
    cr_assert_str_eq(counts, "1 1 1 1 elsewhere same", "outside a loop: %s", counts);
    e2e_free(&r);

    /* without the plugin, every access calls */
    setup_gcc_loops(&r);
    r.env = (const char *[]){ "TANGLE_LOOP_RANGES=0", NULL };
    sample_counts(&r, loop_touch_src, true, counts, sizeof counts);
    cr_assert_str_eq(counts, "1 1 1 1 elsewhere same", "without the plugin: %s", counts);
    e2e_free(&r);
}

/* A shared library built by `tangle cc` with gcc tests the gate word
 * through initial-exec TLS (no __tls_get_addr per access). Opened with
 * dlopen by a program that has no libtangle of its own, it still loads
 * (libtangle comes with it), runs, and under the shim has its race
 * found. */
static const char lib_src[] =
    "#include <pthread.h>\n"
    "long shared_total;\n"
    "static void *add(void *a) {\n"
    "    for (int i = 0; i < 1000; i++) shared_total += (long)a;\n"
    "    return 0;\n"
    "}\n"
    "long run_two(void) {\n"
    "    pthread_t t[2];\n"
    "    for (int i = 0; i < 2; i++) pthread_create(&t[i], 0, add, (void *)1L);\n"
    "    for (int i = 0; i < 2; i++) pthread_join(t[i], 0);\n"
    "    return shared_total > 0;\n"
    "}\n";
static const char host_src[] =
    "#include <dlfcn.h>\n"
    "#include <stdio.h>\n"
    "int main(int argc, char **argv) {\n"
    "    void *h = dlopen(argv[1], RTLD_NOW);\n"
    "    if (!h) { printf(\"dlopen: %s\\n\", dlerror()); return 1; }\n"
    "    long (*f)(void) = (long (*)(void))dlsym(h, \"run_two\");\n"
    "    printf(\"ran %ld\\n\", f());\n"
    "    return 0;\n"
    "}\n";

Test(cc, gcc_shared_library_opened_later_loads_runs_and_races, .timeout = 120)
{
    struct e2e_run r;
    setup_gcc_loops(&r);
    e2e_write_file(in_run(&r, "lib.c"), lib_src, strlen(lib_src));
    e2e_write_file(in_run(&r, "host.c"), host_src, strlen(host_src));
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-fPIC", "-shared", "lib.c", "-o", "libr.so",
                                            "-pthread", NULL });
    cr_assert(!calls(in_run(&r, "libr.so"), "__tls_get_addr"), "the gate costs a call");
    char host[160], lib[160];
    snprintf(host, sizeof host, "%s", in_run(&r, "host"));
    snprintf(lib, sizeof lib, "%s", in_run(&r, "libr.so"));
    struct e2e_run b;
    e2e_init(&b);
    e2e_run_bare(&b, "/usr/bin/gcc", "-O2", in_run(&r, "host.c"), "-o", host, "-ldl", NULL);
    cr_assert_eq(b.status, 0, "gcc: %s", b.err);
    e2e_free(&b);
    e2e_init(&b);
    e2e_run_bare(&b, host, lib, NULL);
    cr_assert_eq(b.status, 0, "exit %d: %s%s", b.status, b.out, b.err);
    cr_assert(strstr(b.out, "ran 1"), "%s", b.out);
    e2e_free(&b);
    e2e_init(&b);
    e2e_run(&b, "--options race=1", host, lib, NULL);
    cr_assert(e2e_count(&b, "race", NULL) >= 1, "no race:\n%s", b.err);
    e2e_free(&b);
    e2e_free(&r);
}

/* tangle's channel calls keep no copy of the pointers they take
 * (TG_NOESCAPE), so with clang a local that only they see is not
 * checked: the receive's value and flag here cost no check. A local
 * whose address the function stores elsewhere still is. */
static const char recv_local_src[] =
    "#include <tangle/tangle.h>\n"
    "long take(tg_chan_t *c) {\n"
    "    long v = 0; bool ok = false;\n"
    "    tg_chan_recv(c, &v, &ok);\n"
    "    return ok ? v : -1;\n"
    "}\n";
static const char recv_shared_src[] =
    "#include <tangle/tangle.h>\n"
    "long *seen;\n"
    "long take(tg_chan_t *c) {\n"
    "    long v = 0;\n"
    "    seen = &v;\n"
    "    tg_chan_recv(c, &v, NULL);\n"
    "    return v;\n"
    "}\n";

Test(cc, clang_leaves_unchecked_a_local_that_only_channel_calls_see, .timeout = 120)
{
    struct e2e_run r;
    setup(&r, true);
    e2e_write_file(in_run(&r, "local.c"), recv_local_src, strlen(recv_local_src));
    e2e_write_file(in_run(&r, "shared.c"), recv_shared_src, strlen(recv_shared_src));
    const char *inc = "-I" TANGLE_TOP "/include";
    cc_ok(&r, "clang", (const char *const[]){ "-O1", inc, "-c", "local.c", NULL });
    cc_ok(&r, "clang", (const char *const[]){ "-O1", inc, "-c", "shared.c", NULL });
    cr_assert(!calls(in_run(&r, "local.o"), "__tsan_read8_pc") &&
              !calls(in_run(&r, "local.o"), "__tsan_read1_pc") &&
              !calls(in_run(&r, "local.o"), "__tsan_read8") &&
              !calls(in_run(&r, "local.o"), "__tsan_read1"),
              "the receive's local value or flag is checked");
    cr_assert(calls(in_run(&r, "shared.o"), "__tsan_read8_pc") ||
              calls(in_run(&r, "shared.o"), "__tsan_read8"),
              "a local whose address was stored is not checked");
    e2e_free(&r);
}

/* The instrumentation's function entry comes first in the entry block,
 * ahead of the locals; with clang, once its inline code (branches) is
 * inlined there, the locals would be allocated in a later block, as
 * dynamic allocas with a frame pointer. The pass moves them up: the
 * function keeps a fixed frame. */
static const char frame_src[] =
    "void sink(long *p);\n"
    "long step(long v) {\n"
    "    long buf[4];\n"
    "    for (int k = 0; k < 4; k++) buf[k] = v + k;\n"
    "    sink(buf);\n"
    "    return buf[1] + buf[3];\n"
    "}\n";

/* Does the disassembly of object path show `text`? */
static bool disasm_has(const char *path, const char *text)
{
    char cmd[256], line[512];
    snprintf(cmd, sizeof cmd, "objdump -d --no-show-raw-insn %s", path);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    bool found = false;
    while (fgets(line, sizeof line, p))
        found |= strstr(line, text) != NULL;
    cr_assert_eq(pclose(p), 0, "objdump %s failed", path);
    return found;
}

Test(cc, clang_keeps_a_fixed_frame_for_locals_after_the_entry_check, .timeout = 120)
{
    struct e2e_run r;
#if !defined(__x86_64__)
    cr_skip_test("the frame pointer check reads x86-64 code");
#endif
    setup_loops(&r);
    e2e_write_file(in_run(&r, "frame.c"), frame_src, strlen(frame_src));
    cc_ok(&r, "clang", (const char *const[]){ "-O2", "-fomit-frame-pointer", "-c",
                                              "frame.c", NULL });
    cr_assert(!disasm_has(in_run(&r, "frame.o"), "%rsp,%rbp"),
              "step sets up a frame pointer: its locals are dynamic allocas");
    e2e_free(&r);
}

/* A copy or fill in a function built without checks (no_sanitize) gets
 * none from the plugin or pass either; one in a checked function does,
 * at -O0 as at -O2. */
static const char fill_src[] =
    "#include <string.h>\n"
    "__attribute__((no_sanitize(\"thread\"))) void quiet(char *p, unsigned long n) {\n"
    "    memset(p, 0, n);\n"
    "}\n";
static const char fill_checked_src[] =
    "#include <string.h>\n"
    "void loud(char *p, unsigned long n) { memset(p, 0, n); }\n";

Test(cc, copies_and_fills_are_checked_only_in_checked_functions, .timeout = 120)
{
    static const char *const compilers[] = { "gcc", "clang" };
    for (int k = 0; k < 2; k++) {
        struct e2e_run r;
        if (k == 0)
            setup_gcc_loops(&r);
        else
            setup_loops(&r);
        e2e_write_file(in_run(&r, "quiet.c"), fill_src, strlen(fill_src));
        e2e_write_file(in_run(&r, "loud.c"), fill_checked_src, strlen(fill_checked_src));
        for (int o = 0; o < 2; o++) {
            const char *opt = o ? "-O2" : "-O0";
            cc_ok(&r, compilers[k], (const char *const[]){ opt, "-c", "quiet.c", "loud.c", NULL });
            cr_assert(!calls(in_run(&r, "quiet.o"), "__tsan_write_range") &&
                          !calls(in_run(&r, "quiet.o"), "__tsan_memset"),
                      "%s %s checks a function built without checks", compilers[k], opt);
            cr_assert(calls(in_run(&r, "loud.o"), k == 0 ? "__tsan_write_range" : "__tsan_memset"),
                      "%s %s leaves the fill unchecked", compilers[k], opt);
        }
        e2e_free(&r);
    }
}

/* clang's instrumentation has no entry point for a 10-byte access (a
 * long double) and checks none; the clang pass checks it as a range.
 * Without the pass nothing checks it. */
static const char ld_src[] =
    "long double ld;\n"
    "void setld(long double v) { ld = v; }\n"
    "long double getld(void) { return ld; }\n";

Test(cc, clang_checks_accesses_of_a_size_its_instrumentation_skips, .timeout = 120)
{
    struct e2e_run r;
    setup_loops(&r);
    e2e_write_file(in_run(&r, "ld.c"), ld_src, strlen(ld_src));
    cc_ok(&r, "clang", (const char *const[]){ "-O2", "-c", "ld.c", NULL });
    cr_assert(calls(in_run(&r, "ld.o"), "__tsan_write_range"), "the store is not checked");
    cr_assert(calls(in_run(&r, "ld.o"), "__tsan_read_range"), "the load is not checked");
    e2e_free(&r);

    setup_loops(&r);
    r.env = (const char *[]){ "TANGLE_LOOP_RANGES=0", NULL };
    e2e_write_file(in_run(&r, "ld.c"), ld_src, strlen(ld_src));
    cc_ok(&r, "clang", (const char *const[]){ "-O2", "-c", "ld.c", NULL });
    cr_assert(!calls(in_run(&r, "ld.o"), "__tsan_write_range"));
    e2e_free(&r);
}

/* A plugin gcc cannot load (another gcc's) is left out quietly; a
 * source that does not compile fails with its own messages, once. */
Test(cc, a_loop_plugin_gcc_cannot_load_is_left_out_quietly, .timeout = 120)
{
    struct e2e_run r;
    setup_gcc_loops(&r);
    e2e_write_file(in_run(&r, "tangle-loops-gcc.so"), "not a plugin\n", 13);
    char env[200];
    snprintf(env, sizeof env, "TANGLE_LIBDIR=%s", r.dir);
    r.env = (const char *[]){ env, NULL };
    cc_ok(&r, "gcc", (const char *const[]){ "-O2", "-c", "loop.c", NULL });
    cr_assert(!calls(in_run(&r, "loop.o"), "__tsan_write_range"));
    cr_assert(calls(in_run(&r, "loop.o"), "__tsan_write8"));
    cr_assert(!strstr(r.err, "plugin"), "the failed load shows:\n%s", r.err);
    e2e_free(&r);
    setup_gcc_loops(&r);
    e2e_write_file(in_run(&r, "bad.c"), "int f(void) { return x; }\n", 26);
    cc(&r, "gcc", (const char *const[]){ "-O2", "-c", "bad.c", NULL });
    cr_assert_neq(r.status, 0);
    const char *first = strstr(r.err, "undeclared (first use");
    cr_assert(first && !strstr(first + 1, "undeclared (first use"),
              "the error is not shown once:\n%s", r.err);
    e2e_free(&r);
}

/* A source read from a pipe can be read once: it is compiled without the
 * plugin, so a failure is the compiler's own, shown once, and never
 * followed by a compile of an empty input that succeeds. */
static const char *pipe_src;
static void in_dir_piped(struct e2e_run *r)
{
    in_dir(r);
    int p[2];
    if (pipe(p) != 0)
        _exit(127);
    size_t n = strlen(pipe_src);
    if (write(p[1], pipe_src, n) != (ssize_t)n)
        _exit(127);
    close(p[1]);
    dup2(p[0], 0);
    close(p[0]);
}

Test(cc, gcc_compiles_a_source_from_a_pipe_once, .timeout = 120)
{
    struct e2e_run r;
    setup_gcc_loops(&r);
    pipe_src = "int f(void) { return x; }\n";
    char *argv[] = { E2E_TANGLE, "cc", "--cc", "gcc", "-O2", "-c", "-x", "c", "/dev/stdin",
                     "-o", "s.o", NULL };
    r.pre_exec = in_dir_piped;
    e2e_exec(&r, argv);
    cr_assert_neq(r.status, 0, "a source that does not compile gave exit 0:\n%s", r.err);
    const char *first = strstr(r.err, "undeclared (first use");
    cr_assert(first && !strstr(first + 1, "undeclared (first use"),
              "the error is not shown once:\n%s", r.err);
    e2e_free(&r);
    setup_gcc_loops(&r);
    pipe_src = loop_src;
    r.pre_exec = in_dir_piped;
    e2e_exec(&r, argv);
    cr_assert_eq(r.status, 0, "exit %d:\n%s", r.status, r.err);
    cr_assert(calls(in_run(&r, "s.o"), "__tsan_write8"), "the pipe's loop is not instrumented");
    e2e_free(&r);
}
