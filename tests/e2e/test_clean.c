/*
 * test_clean.c: the detector's false-positive guard. Correct programs (a
 * worker pool, a channel pipeline ended by close, contexts all released,
 * an errgroup, and a real Criterion test binary) run under `tangle run`
 * must exit with their own status 0 and a report with no findings at all.
 * Each program also checks its own result, so a green test means the
 * program did its work and tangle stayed quiet about it.
 */
#include "e2e.h"

TestSuite(clean, .fini = e2e_cleanup);

static void run_clean(const char *mode)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "clean", mode, NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0,
                 "clean program '%s' must exit 0 under tangle run, got %d;"
                 "\nstdout:\n%s\nstderr:\n%s\nreport:\n%s", mode, r.status,
                 r.out, r.err, E2E_REPORT(&r));
    e2e_assert_clean(&r);
    json_object *p = e2e_process(&r, 0);
    cr_assert(p, "report lists no process:\n%s", E2E_REPORT(&r));
    cr_assert_str_eq(e2e_str(p, "state"), "exited");
    cr_assert_eq(e2e_int(p, "exit_code", -1), 0);
    e2e_free(&r);
}

Test(clean, worker_pool_gives_no_findings_and_exit_0, .timeout = 120)
{
    run_clean("pool");
}

Test(clean, channel_pipeline_closed_at_each_stage_gives_no_findings,
     .timeout = 120)
{
    run_clean("pipeline");
}

Test(clean, released_contexts_give_no_findings, .timeout = 120)
{
    run_clean("ctx");
}

Test(clean, errgroup_with_a_failing_task_gives_no_findings, .timeout = 120)
{
    run_clean("group");
}

Test(clean, single_threaded_program_stays_single_threaded_under_the_shim,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "clean", "single", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    e2e_assert_clean(&r);
    /* A thread of the shim's own (the watchdog) would cost the program
     * glibc's single-threaded lock path: it starts only when needed. */
    cr_assert(strstr(r.out, "single=1 once=1"), "the shim started a thread "
              "in a program that never needed one:\n%s", r.out);
    e2e_free(&r);
}

Test(clean, criterion_test_binary_under_tangle_run_gives_no_findings,
     .timeout = 180)
{
    struct e2e_run cc;
    e2e_init(&cc);
    char bin[128];
    snprintf(bin, sizeof bin, "%s/crit_clean", cc.dir);
    char *argv[] = {
        "cc", "-std=c11", "-D_GNU_SOURCE", "-O0", "-g",
        "-I" TANGLE_TOP "/include", TANGLE_TOP "/tests/e2e/extra/crit_clean.c",
        "-o", bin, "-L" TANGLE_BUILD "/lib", "-ltangle",
        "-Wl,-rpath," TANGLE_BUILD "/lib", "-lcriterion", "-pthread", NULL,
    };
    e2e_exec(&cc, argv);
    e2e_assert_ended(&cc);
    cr_assert_eq(cc.status, 0, "cannot build the Criterion program:\n%s",
                 cc.err);

    struct e2e_run r;
    e2e_init(&r);
    /* One job at a time keeps the run cheap on a shared machine; the
     * forked per-test workers are still there. */
    e2e_run(&r, NULL, bin, "--jobs=1", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0, "Criterion suite must pass and tangle stay "
                 "quiet, got %d;\nstderr:\n%s\nreport:\n%s", r.status, r.err,
                 E2E_REPORT(&r));
    cr_assert(strstr(r.err, "Passing: 3"), "the suite must have run its 3 "
              "tests:\n%s", r.err);
    e2e_assert_clean(&r);
    e2e_free(&r);
    e2e_free(&cc);
}

/* `tangle run -- prog > out` must leave out exactly as prog wrote it: the
 * report goes to stderr unless -o says otherwise (-o - means stdout). */
Test(clean, run_leaves_the_commands_stdout_untouched_and_reports_on_stderr,
     .timeout = 120)
{
    struct e2e_run r;
    char prog[256];
    e2e_init(&r);
    char *argv[] = { E2E_TANGLE, "run", "--",
                     (char *)e2e_prog_path("hostile", prog, sizeof prog),
                     "exitcode", "0", NULL };
    e2e_exec(&r, argv);
    cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
    cr_assert_str_eq(r.out, "hello\n", "the command's stdout was changed");
    cr_assert(strstr(r.err, "tangle: no findings"), "report not on stderr:\n%s",
              r.err);
    e2e_free(&r);

    e2e_init(&r);
    char *argv2[] = { E2E_TANGLE, "run", "-o", "-", "--",
                      (char *)e2e_prog_path("hostile", prog, sizeof prog),
                      "exitcode", "0", NULL };
    e2e_exec(&r, argv2);
    cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
    cr_assert(strstr(r.out, "hello\n") && strstr(r.out, "tangle: no findings"),
              "-o - puts the report on stdout:\n%s", r.out);
    e2e_free(&r);
}

/* 40,000 brief condition waits leave no events in flight mode (a wait
 * under 1 ms is seen only while it lasts), so a contended program does
 * not turn over the event ring; full mode keeps every one. */
Test(clean, brief_waits_leave_no_events_in_flight_mode_and_all_in_full_mode,
     .timeout = 120)
{
    run_clean("handoff");
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "clean", "handoff", NULL);
    e2e_assert_report(&r);
    json_object *p = e2e_process(&r, 0);
    cr_assert(p, "report lists no process:\n%s", E2E_REPORT(&r));
    int64_t flight = e2e_int(p, "events", -1);
    cr_assert(flight >= 0 && flight < 1000,
              "flight mode kept %lld events for brief waits:\n%s",
              (long long)flight, E2E_REPORT(&r));
    e2e_free(&r);

    e2e_init(&r);
    e2e_run(&r, "--full", "clean", "handoff", NULL);
    e2e_assert_report(&r);
    e2e_assert_clean(&r);
    p = e2e_process(&r, 0);
    cr_assert(p, "report lists no process:\n%s", E2E_REPORT(&r));
    int64_t full = e2e_int(p, "events", -1);
    /* every round: a lock and an unlock by each thread, at least */
    cr_assert(full >= 4 * 20000, "full mode kept only %lld events:\n%s",
              (long long)full, E2E_REPORT(&r));
    e2e_free(&r);
}

/* Contended locks: waiters that spin before they sleep (the default),
 * that sleep at once (lock_spin=0), that spin long (lock_spin=1000), and
 * on one CPU, where none spins. Every count must come out exact, with no
 * finding. */
Test(clean, contended_locks_keep_mutual_exclusion_however_waiters_wait, .timeout = 120)
{
    static const char *const how[][2] = {
        { NULL, NULL },
        { "--options lock_spin=0", NULL },
        { "--options lock_spin=1000", NULL },
        { NULL, "onecpu" },
    };
    for (size_t k = 0; k < sizeof how / sizeof *how; k++) {
        struct e2e_run r;
        e2e_init(&r);
        e2e_run(&r, how[k][0], "clean", "contended", how[k][1], NULL);
        e2e_assert_report(&r);
        cr_assert_eq(r.status, 0, "%s %s: exit %d\nstdout:\n%s\nstderr:\n%s",
                     how[k][0] ? how[k][0] : "", how[k][1] ? how[k][1] : "",
                     r.status, r.out, r.err);
        e2e_assert_clean(&r);
        e2e_free(&r);
    }
}
