/*
 * test_cmd.c: the commands' contracts: strict option parsing (usage errors
 * exit 64 and name the option), exit status 0 / 66 / --exitcode / 65 for
 * `tangle report`, the report going to -o FILE, and `tangle run` giving
 * the command's own status, a hang finding on --timeout, and 70 when the
 * shim is missing. The run tests need build/lib/libtangle-preload.so and
 * are skipped, saying so, without it.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer.h"
#include "logbuild.h"

#define SHIM TANGLE_BUILD "/lib/libtangle-preload.so"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/tangle-cmd-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    size_t n;
    char **v = list_logs(dir, &n);
    for (size_t i = 0; i < n; i++)
        unlink(v[i]);
    free_list(v, n);
    char path[128];
    snprintf(path, sizeof path, "%s/out", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/x.supp", dir);
    unlink(path);
    rmdir(dir);
}

TestSuite(cmd, .init = make_dir, .fini = remove_dir);

static int run(int argc, char **argv)
{
    int (*fn)(int, char **) = strcmp(argv[0], "run") == 0 ? cmd_run
                            : strcmp(argv[0], "ps") == 0 ? cmd_ps
                            : strcmp(argv[0], "graph") == 0 ? cmd_graph
                            : cmd_report;
    fflush(NULL);
    return fn(argc, argv);
}

/* A log with one leaked thread at <dir>/tangle.<pid>.1.tlog. */
static void write_leak_log(int pid, bool leak)
{
    struct lb b;
    lb_init(&b, pid);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_RUNNING, 0);
    if (leak)
        lb_thread(&b, 0, TG_TS_BLOCKED, TG_WAIT_CHAN_SEND);
    char path[128];
    snprintf(path, sizeof path, "%s/tangle.%d.1.tlog", dir, pid);
    cr_assert_eq(lb_write(&b, path, b.size), 0);
    lb_free(&b);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

Test(cmd, unknown_option_is_a_usage_error_naming_it, .init = cr_redirect_stderr)
{
    char *argv[] = { "report", "--frobnicate", "x.tlog", NULL };
    cr_assert_eq(run(3, argv), EXIT_USAGE);
    fflush(stderr);
    cr_assert_stderr_eq_str("tangle: unknown option '--frobnicate'\n"
                            "Try 'tangle help report'.\n");
}

Test(cmd, bad_values_are_usage_errors)
{
    char *a1[] = { "report", "--format", "xml", "x", NULL };
    cr_assert_eq(run(4, a1), EXIT_USAGE);
    char *a2[] = { "report", "--exitcode=6x", "x", NULL };
    cr_assert_eq(run(3, a2), EXIT_USAGE);
    char *a3[] = { "report", "-o", NULL };
    cr_assert_eq(run(2, a3), EXIT_USAGE);
    char *a4[] = { "run", "--timeout", "-1", "--", "true", NULL };
    cr_assert_eq(run(5, a4), EXIT_USAGE);
    char *a5[] = { "run", "--watchdog", "fast", "--", "true", NULL };
    cr_assert_eq(run(5, a5), EXIT_USAGE);
    char *a6[] = { "run", "--format", "json", NULL };
    cr_assert_eq(run(3, a6), EXIT_USAGE, "no command");
    char *a7[] = { "report", NULL };
    cr_assert_eq(run(1, a7), EXIT_USAGE, "no log");
}

Test(cmd, help_is_asked_for_with_dash_dash_help)
{
    char *argv[] = { "report", "--help", NULL };
    cr_assert_eq(run(2, argv), CMD_SHOW_HELP);
    char *r[] = { "run", "-h", NULL };
    cr_assert_eq(run(2, r), CMD_SHOW_HELP);
}

Test(cmd, report_of_a_directory_exits_66_with_findings_and_writes_o_file)
{
    write_leak_log(300, true);
    write_leak_log(200, false);
    char out[128];
    snprintf(out, sizeof out, "%s/out", dir);
    char *argv[] = { "report", "--format=json", "-o", out, dir, NULL };
    cr_assert_eq(run(5, argv), 66);
    char *text = slurp(out);
    cr_assert_not_null(text);
    char *p200 = strstr(text, "\"pid\": 200"), *p300 = strstr(text, "\"pid\": 300");
    cr_assert(p200 && p300 && p200 < p300, "processes sorted by pid:\n%s", text);
    cr_assert(strstr(text, "\"kind\": \"leak\""), "%s", text);
}

/* A leaked thread whose wait stack starts with a frame inside libtangle
 * (its module is named libtangle.so.1) and goes on in the program. */
static void write_tangle_frame_log(int pid)
{
    struct lb b;
    lb_init(&b, pid);
    lb_module(&b, "/nonexistent/libtangle.so.1", 0x7f0000000000,
              0x7f0000000000, 0x7f0000100000);
    lb_module(&b, "/nonexistent/prog", 0x400000, 0x400000, 0x500000);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_RUNNING, 0);
    uint64_t pcs[2] = { 0x7f0000001234, 0x401234 };
    lb_thread(&b, 0, TG_TS_BLOCKED, TG_WAIT_CHAN_SEND)->wait_stack =
        lb_stack_v(&b, 2, pcs);
    char path[128];
    snprintf(path, sizeof path, "%s/tangle.%d.1.tlog", dir, pid);
    cr_assert_eq(lb_write(&b, path, b.size), 0);
    lb_free(&b);
}

Test(cmd, report_full_stacks_keeps_libtangle_frames_hidden_by_default)
{
    write_tangle_frame_log(310);
    char out[128];
    snprintf(out, sizeof out, "%s/out", dir);
    char *plain[] = { "report", "-o", out, dir, NULL };
    cr_assert_eq(run(4, plain), 66);
    char *text = slurp(out);
    cr_assert_null(strstr(text, "libtangle.so.1+0x1234"), "%s", text);
    cr_assert(strstr(text, "#0 0x401234"), "the program's frame first:\n%s",
              text);
    char *full[] = { "report", "--full-stacks", "-o", out, dir, NULL };
    cr_assert_eq(run(5, full), 66);
    text = slurp(out);
    cr_assert(strstr(text, "#0 0x7f0000001234 (/nonexistent/libtangle.so.1"
                           "+0x1234)"), "%s", text);
    cr_assert(strstr(text, "#1 0x401234"), "%s", text);
    char *js[] = { "report", "--full-stacks", "--format=json", "-o", out, dir,
                   NULL };
    cr_assert_eq(run(6, js), 66);
    text = slurp(out);
    cr_assert(strstr(text, "\"pc\": \"0x7f0000001234\""), "%s", text);
}

Test(cmd, exitcode_option_changes_the_findings_status)
{
    write_leak_log(300, true);
    char out[128];
    snprintf(out, sizeof out, "%s/out", dir);
    char *argv[] = { "report", "--exitcode", "3", "-o", out, dir, NULL };
    cr_assert_eq(run(6, argv), 3);
}

Test(cmd, clean_log_reports_exit_0)
{
    write_leak_log(300, false);
    char out[128];
    snprintf(out, sizeof out, "%s/out", dir);
    char *argv[] = { "report", "-o", out, dir, NULL };
    cr_assert_eq(run(4, argv), 0);
    cr_assert_str_eq(slurp(out), "tangle: no findings in 1 process\n");
}

Test(cmd, suppressed_findings_do_not_fail_the_run)
{
    write_leak_log(300, true);
    char out[128], supp[128];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(supp, sizeof supp, "%s/x.supp", dir);
    FILE *f = fopen(supp, "w");
    fputs("# the test leak\nleak:*prog*\n", f);
    fclose(f);
    char *argv[] = { "report", "--suppressions", supp, "-o", out, dir, NULL };
    int st = run(6, argv);
    /* The built thread has no stack, so a frame pattern cannot match. */
    cr_assert_eq(st, 66, "%s", slurp(out));
    f = fopen(supp, "w");
    fputs("thread:t2\n", f);
    fclose(f);
    cr_assert_eq(run(6, argv), 0);
    cr_assert(strstr(slurp(out), ", 1 suppressed"), "%s", slurp(out));
    char *json[] = { "report", "--format=json", "--suppressions", supp, "-o",
                     out, dir, NULL };
    cr_assert_eq(run(7, json), 0);
    cr_assert(strstr(slurp(out), "\"suppressed_by\": \"thread:t2\""), "%s",
              slurp(out));
    cr_assert(strstr(slurp(out), "\"suppressed\": 1"), "%s", slurp(out));
}

Test(cmd, malformed_suppressions_file_is_a_usage_error)
{
    write_leak_log(300, true);
    char supp[128];
    snprintf(supp, sizeof supp, "%s/x.supp", dir);
    FILE *f = fopen(supp, "w");
    fputs("leak\n", f);
    fclose(f);
    char *argv[] = { "report", "--suppressions", supp, dir, NULL };
    cr_assert_eq(run(4, argv), EXIT_USAGE);
}

Test(cmd, no_usable_log_exits_65)
{
    char bad[128];
    snprintf(bad, sizeof bad, "%s/tangle.1.1.tlog", dir);
    FILE *f = fopen(bad, "w");
    fputs("not a log", f);
    fclose(f);
    char *argv[] = { "report", bad, NULL };
    cr_assert_eq(run(2, argv), EXIT_DATAERR);
    char *argv2[] = { "report", "/nonexistent/tangle.1.1.tlog", NULL };
    cr_assert_eq(run(2, argv2), EXIT_DATAERR);
}

Test(cmd, graph_writes_dot_with_the_cycle_in_red)
{
    struct lb b;
    lb_init(&b, 5);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_EXITED, 0);
    lb_object(&b, TG_LOBJ_MUTEX, 0xa0);
    lb_object(&b, TG_LOBJ_MUTEX, 0xb0);
    lb_object(&b, TG_LOBJ_MUTEX, 0xc0);
    lb_edge(&b, 1, 2, 1, 0);
    lb_edge(&b, 2, 1, 1, 0);
    lb_edge(&b, 2, 3, 1, 0);
    char log[128], out[128];
    snprintf(log, sizeof log, "%s/tangle.5.1.tlog", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    cr_assert_eq(lb_write(&b, log, b.size), 0);
    lb_free(&b);
    char *argv[] = { "graph", "-o", out, log, NULL };
    cr_assert_eq(run(4, argv), 0);
    char *dot = slurp(out);
    cr_assert(strstr(dot, "digraph"), "%s", dot);
    cr_assert(strstr(dot, "L1 -> L2") && strstr(dot, "L2 -> L1") &&
              strstr(dot, "L2 -> L3"), "%s", dot);
    char *plain = strstr(dot, "L2 -> L3");
    cr_assert(!strstr(strchr(plain, '['), "red") ||
              strchr(plain, '\n') < strstr(plain, "red"),
              "the edge off the cycle is not red:\n%s", dot);
    cr_assert(strstr(strstr(dot, "L1 -> L2"), "color=red"), "%s", dot);
}

Test(cmd, run_without_the_shim_is_an_internal_error)
{
    setenv("TANGLE_PRELOAD", "/nonexistent/libtangle-preload.so", 1);
    char *argv[] = { "run", "--", "true", NULL };
    cr_assert_eq(run(3, argv), EXIT_INTERNAL);
}

static void need_shim(void)
{
    if (access(SHIM, R_OK) != 0)
        cr_skip_test("needs the preload shim at %s (make shim)", SHIM);
    setenv("TANGLE_PRELOAD", SHIM, 1);
    setenv("TMPDIR", dir, 1);
    unsetenv("TANGLE_SUPPRESSIONS");
}

Test(cmd, run_of_a_clean_command_exits_with_its_own_status, .timeout = 60)
{
    need_shim();
    char out[128];
    snprintf(out, sizeof out, "%s/out", dir);
    char *ok[] = { "run", "-o", out, "--", "true", NULL };
    cr_assert_eq(run(5, ok), 0);
    char *bad[] = { "run", "-o", out, "--", "sh", "-c", "exit 7", NULL };
    cr_assert_eq(run(7, bad), 7);
    cr_assert(strstr(slurp(out), "no findings"), "%s", slurp(out));
}

Test(cmd, run_of_a_missing_command_is_an_internal_error, .timeout = 60)
{
    need_shim();
    char *argv[] = { "run", "--", "/nonexistent/prog", NULL };
    cr_assert_eq(run(3, argv), EXIT_INTERNAL);
}

Test(cmd, run_timeout_reports_a_hang_and_kills_the_command, .timeout = 120)
{
    need_shim();
    char out[128];
    snprintf(out, sizeof out, "%s/out", dir);
    char *argv[] = { "run", "--timeout", "0.5", "--format", "json", "-o", out,
                     "--", "sleep", "100", NULL };
    cr_assert_eq(run(10, argv), 66);
    char *text = slurp(out);
    cr_assert(strstr(text, "\"kind\": \"hang\""), "%s", text);
    cr_assert(strstr(text, "did not finish within"), "%s", text);
}

Test(cmd, ps_of_a_log_shows_each_thread_state_and_held_locks)
{
    cr_redirect_stdout();
    struct lb b;
    lb_init(&b, 77);
    b.h->proc_state = TG_PROC_RUNNING;
    lb_thread(&b, TG_THRF_MAIN, TG_TS_BLOCKED, TG_WAIT_JOIN);
    struct tg_log_thread *t = lb_thread(&b, 0, TG_TS_BLOCKED, TG_WAIT_MUTEX);
    snprintf(t->name, sizeof t->name, "worker");
    t->wait_obj = 0xb0;
    t->held_count = 1;
    t->held[0].addr = 0xa0;
    t->held[0].obj = 1;
    lb_thread(&b, TG_THRF_INTERNAL, TG_TS_BLOCKED, TG_WAIT_SLEEP);
    lb_object(&b, TG_LOBJ_MUTEX, 0xa0);
    lb_object(&b, TG_LOBJ_MUTEX, 0xb0);
    char log[128];
    snprintf(log, sizeof log, "%s/tangle.77.1.tlog", dir);
    cr_assert_eq(lb_write(&b, log, b.size), 0);
    lb_free(&b);
    char *argv[] = { "ps", log, NULL };
    cr_assert_eq(run(2, argv), 0);
    fflush(stdout);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, cr_get_redirected_stdout());
    buf[n] = 0;
    cr_assert(strstr(buf, "process 77 (prog --test): running"), "%s", buf);
    cr_assert(strstr(buf, "thread 1 \"t1\" (tid 5001) [join"), "%s", buf);
    cr_assert(strstr(buf, "thread 2 \"worker\" (tid 5002) [mutex lock"), "%s",
              buf);
    cr_assert(strstr(buf, "waiting on mutex 0xb0"), "%s", buf);
    cr_assert(strstr(buf, "holds mutex 0xa0"), "%s", buf);
    cr_assert(!strstr(buf, "thread 3"), "tangle's own thread is hidden:\n%s",
              buf);
}
