/*
 * test_leaks.c: end-to-end leak detection (issue 3). Each test runs one
 * mode of progs/leaks.c under `tangle run` and checks the report the way a
 * user reads it: a thread left blocked at exit is one `leak` finding with
 * the right state, the line where it blocked, the object it waits on and
 * who created it; finished-but-never-joined threads are `unjoined`; a
 * context never cancelled is `lost-cancel`; and the clean twins of each
 * (joined, detached, cancelled, expired, marked, settling) report nothing.
 */
#include "e2e.h"

#define SRC "leaks.c"

TestSuite(leaks, .fini = e2e_cleanup);

/* Runs a leaks.c mode that leaves one thread blocked in func, and checks
 * there is a leak naming func at the marked line in the given state. */
static json_object *leak_in_state(struct e2e_run *r, const char *mode,
                                  const char *func, const char *marker,
                                  const char *state)
{
    e2e_init(r);
    e2e_run(r, NULL, "leaks", mode, NULL);
    e2e_assert_report(r);
    cr_assert_eq(r->status, E2E_EXIT_FINDINGS,
                 "findings must give exit 66, got %d; stderr:\n%s", r->status,
                 r->err);
    json_object *f = e2e_must_find(r, "leak", NULL, func);
    json_object *t = e2e_thread_in(f, func);
    cr_assert(t, "leak names %s but no thread's stack does:\n%s", func,
              e2e_dump(f));
    const char *st = e2e_str(t, "state");
    cr_assert(st && !strcmp(st, state), "state is '%s', expected '%s':\n%s",
              st ? st : "(none)", state, e2e_dump(t));
    e2e_assert_frame(e2e_get(t, "stack"), func, SRC, marker);
    return t;
}

Test(leaks, thread_blocked_on_unbuffered_send_is_one_leak_with_send_site,
     .timeout = 120)
{
    struct e2e_run r;
    json_object *t = leak_in_state(&r, "chan_send", "sender", "leak_send",
                                   "chan send");
    cr_assert_eq(e2e_count(&r, "leak", NULL), 1, "one leak expected:\n%s",
                 E2E_REPORT(&r));
    json_object *f = e2e_find(&r, "leak", NULL, "sender");
    cr_assert_eq(e2e_int(f, "count", -1), 1);
    cr_assert_eq(e2e_summary(&r, "leak"), 1);
    cr_assert_eq(e2e_int(f, "pid", -1), e2e_int(e2e_process(&r, 0), "pid", -2),
                 "finding pid must be the process's");

    json_object *obj = e2e_get(t, "object");
    cr_assert_str_eq(e2e_str(obj, "kind"), "chan", "object:\n%s",
                     e2e_dump(obj));
    e2e_assert_frame(e2e_get(obj, "created"), "mode_chan_send", SRC,
                     "leak_chan_new");

    json_object *cb = e2e_get(t, "created_by");
    cr_assert_eq(e2e_int(cb, "thread", -1), 1, "created by main (thread 1):\n%s",
                 e2e_dump(cb));
    e2e_assert_frame(e2e_get(cb, "stack"), "mode_chan_send", SRC,
                     "leak_create");
    json_object *sr = e2e_get(t, "start_routine");
    cr_assert(e2e_frame_is(sr, "sender", 0), "start_routine:\n%s",
              e2e_dump(sr));
    cr_assert(e2e_int(t, "blocked_ns", -1) > 0, "blocked_ns:\n%s",
              e2e_dump(t));
    /* Stacks stop at the thread's start function and at main: none of
     * the C library's start frames below them. */
    json_object *stacks[] = { e2e_get(t, "stack"), e2e_get(cb, "stack") };
    const char *last[] = { "sender", "main" };
    for (int i = 0; i < 2; i++) {
        size_t n = e2e_len(stacks[i]);
        cr_assert(n > 0 && e2e_frame_is(e2e_at(stacks[i], n - 1), last[i], 0),
                  "the stack does not end at %s:\n%s", last[i], e2e_dump(stacks[i]));
    }
    e2e_free(&r);
}

Test(leaks, thread_blocked_on_receive_is_reported_as_chan_receive,
     .timeout = 120)
{
    struct e2e_run r;
    leak_in_state(&r, "chan_recv", "receiver", "leak_recv", "chan receive");
    e2e_free(&r);
}

Test(leaks, thread_waiting_for_a_held_mutex_is_reported_as_mutex_lock,
     .timeout = 120)
{
    struct e2e_run r;
    json_object *t = leak_in_state(&r, "mutex", "mutex_waiter", "leak_mutex",
                                   "mutex lock");
    cr_assert_str_eq(e2e_str(e2e_get(t, "object"), "kind"), "mutex",
                     "%s", e2e_dump(t));
    e2e_free(&r);
}

Test(leaks, thread_in_cond_wait_is_reported_as_cond_wait, .timeout = 120)
{
    struct e2e_run r;
    leak_in_state(&r, "cond", "cond_waiter", "leak_cond", "cond wait");
    e2e_free(&r);
}

Test(leaks, thread_in_sem_wait_is_reported_as_sem_wait, .timeout = 120)
{
    struct e2e_run r;
    leak_in_state(&r, "sem", "sem_waiter", "leak_sem", "sem wait");
    e2e_free(&r);
}

Test(leaks, thread_joining_a_stuck_thread_is_reported_as_join,
     .timeout = 120)
{
    struct e2e_run r;
    leak_in_state(&r, "join", "joiner", "leak_join", "join");
    /* The thread it joins is a leak of its own, in sem wait. */
    json_object *f = e2e_must_find(&r, "leak", NULL, "sem_waiter");
    json_object *t = e2e_thread_in(f, "sem_waiter");
    cr_assert(t && !strcmp(e2e_str(t, "state"), "sem wait"), "%s",
              e2e_dump(f));
    e2e_free(&r);
}

Test(leaks, thread_in_select_is_reported_as_select, .timeout = 120)
{
    struct e2e_run r;
    leak_in_state(&r, "select", "selector", "leak_select", "select");
    e2e_free(&r);
}

Test(leaks, thread_in_waitgroup_wait_is_reported_as_wg_wait, .timeout = 120)
{
    struct e2e_run r;
    leak_in_state(&r, "wg", "wg_waiter", "leak_wg", "wg wait");
    e2e_free(&r);
}

Test(leaks, busy_thread_at_exit_is_reported_as_running, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "busy", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS);
    json_object *f = e2e_must_find(&r, "leak", NULL, "spinner");
    json_object *t = e2e_get(f, "threads");
    cr_assert_eq(e2e_len(t), 1, "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(e2e_at(t, 0), "state"), "running", "%s",
                     e2e_dump(f));
    e2e_free(&r);
}

Test(leaks, idle_thread_of_a_group_never_waited_for_is_reported_as_group_idle,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "group_unwaited", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_count(&r, "leak", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_at(e2e_get(r.json, "findings"), 0);
    json_object *t = e2e_at(e2e_get(f, "threads"), 0);
    cr_assert_str_eq(e2e_str(t, "state"), "group idle", "%s", e2e_dump(f));
    e2e_assert_frame(e2e_get(e2e_get(t, "created_by"), "stack"),
                     "mode_group_unwaited", SRC, "leak_group_go");
    e2e_free(&r);
}

Test(leaks, thread_returning_after_its_last_done_at_exit_is_not_a_leak,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "lingering", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0, "the exit settle loop must wait for it:\n%s",
                 E2E_REPORT(&r));
    cr_assert_eq(e2e_count(&r, "leak", NULL), 0, "%s", E2E_REPORT(&r));
    e2e_free(&r);

    /* Without the settle loop the same thread is caught still running. */
    e2e_init(&r);
    e2e_run(&r, "--options exit_settle=0", "leaks", "lingering", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "leak", NULL, "lingerer");
    cr_assert_str_eq(e2e_str(e2e_at(e2e_get(f, "threads"), 0), "state"),
                     "running", "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(leaks, fifty_threads_from_one_creation_site_are_one_grouped_leak,
     .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "many", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS);
    cr_assert_eq(e2e_count(&r, "leak", NULL), 1,
                 "50 threads with one creation stack must group:\n%s",
                 E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "leak", NULL, "many_receiver");
    cr_assert_eq(e2e_int(f, "count", -1), 50, "%s", e2e_dump(f));
    json_object *t = e2e_at(e2e_get(f, "threads"), 0);
    cr_assert_str_eq(e2e_str(t, "state"), "chan receive");
    e2e_assert_frame(e2e_get(e2e_get(t, "created_by"), "stack"), "mode_many",
                     SRC, "leak_many_create");
    e2e_free(&r);
}

Test(leaks, finished_thread_never_joined_is_unjoined_not_leak,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "unjoined", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS);
    e2e_assert_none(&r, "leak");
    cr_assert_eq(e2e_count(&r, "unjoined", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "unjoined", NULL, "mode_unjoined");
    cr_assert(e2e_mentions(f, "mode_unjoined",
                           e2e_line(SRC, "leak_unjoined_create")),
              "unjoined must show where the thread was created:\n%s",
              e2e_dump(f));
    e2e_free(&r);
}

Test(leaks, unjoined_thread_after_twenty_thousand_others_is_found,
     .timeout = 240)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "many_then_unjoined", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "%s", E2E_REPORT(&r));
    json_object *p = e2e_process(&r, 0);
    cr_assert(p, "%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_int(e2e_get(p, "dropped"), "threads", -1), 0,
                 "%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_count(&r, "unjoined", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "unjoined", NULL,
                                   "mode_many_then_unjoined");
    cr_assert(e2e_mentions(f, "mode_many_then_unjoined",
                           e2e_line(SRC, "leak_late_create")),
              "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(leaks, detached_thread_that_finished_gives_nothing, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "detached", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0, "clean run keeps the command's status 0, got "
                 "%d; stderr:\n%s", r.status, r.err);
    e2e_assert_clean(&r);
    e2e_free(&r);
}

Test(leaks, joined_thread_gives_nothing, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "joined", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
    e2e_assert_clean(&r);
    e2e_free(&r);
}

Test(leaks, context_with_timeout_never_cancelled_is_lost_cancel,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "ctx_lost", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS);
    cr_assert_eq(e2e_count(&r, "lost-cancel", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lost-cancel", NULL, NULL);
    cr_assert(e2e_mentions(f, "mode_ctx_lost", e2e_line(SRC, "leak_ctx_lost")),
              "lost-cancel must show where the context was made:\n%s",
              e2e_dump(f));
    e2e_assert_none(&r, "leak");
    e2e_free(&r);
}

Test(leaks, cancelled_contexts_give_nothing, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "ctx_cancelled", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
    e2e_assert_clean(&r);
    e2e_free(&r);
}

Test(leaks, expired_context_gives_no_lost_cancel, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "ctx_expired", NULL);
    e2e_assert_report(&r);
    cr_assert_eq((long long)e2e_out_value(&r, "err"), -ETIMEDOUT,
                 "context must have expired");
    e2e_assert_none(&r, "lost-cancel");
    cr_assert_eq(r.status, 0, "report:\n%s", E2E_REPORT(&r));
    e2e_free(&r);
}

Test(leaks, verify_counts_a_thread_leaked_since_the_mark_and_reports_it,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "verify", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_out_value(&r, "traced"), 1, "shim must be loaded");
    cr_assert_eq(e2e_out_value(&r, "mark"), 0);
    cr_assert_eq(e2e_out_value(&r, "verify"), 1,
                 "verify must count the thread; stderr:\n%s", r.err);
    /* The thread was released and joined before exit: the leak in the
     * report can only come from the checkpoint. */
    json_object *f = e2e_must_find(&r, "leak", NULL, "checkpoint_receiver");
    json_object *t = e2e_thread_in(f, "checkpoint_receiver");
    cr_assert(t, "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(t, "state"), "chan receive");
    e2e_assert_frame(e2e_get(t, "stack"), "checkpoint_receiver", SRC,
                     "leak_verify_recv");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS);
    e2e_free(&r);
}

Test(leaks, threads_alive_at_the_mark_are_ignored_by_verify,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "verify_marked", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_out_value(&r, "verify"), 0, "stderr:\n%s", r.err);
    e2e_assert_none(&r, "leak");
    cr_assert_eq(r.status, 0, "report:\n%s", E2E_REPORT(&r));
    e2e_free(&r);
}

Test(leaks, thread_ending_within_the_settle_window_is_not_a_leak,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "verify_settle", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_out_value(&r, "verify"), 0,
                 "settle loop must wait for the finishing thread; stderr:\n%s",
                 r.err);
    e2e_assert_none(&r, "leak");
    cr_assert_eq(r.status, 0, "report:\n%s", E2E_REPORT(&r));
    e2e_free(&r);
}

Test(leaks, check_api_succeeds_and_does_nothing_without_the_shim,
     .timeout = 60)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run_bare(&r, "leaks", "verify", NULL);
    e2e_assert_ended(&r);
    cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_out_value(&r, "traced"), 0);
    cr_assert_eq(e2e_out_value(&r, "mark"), 0);
    cr_assert_eq(e2e_out_value(&r, "verify"), 0,
                 "untraced verify must return success (0)");
    e2e_free(&r);
}

Test(leaks, verify_ignore_rules_hide_a_matching_thread, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "verify_ignore", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_out_value(&r, "ignore_any"), 0, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_out_value(&r, "ignore_created_by"), 0);
    cr_assert_eq(e2e_out_value(&r, "no_rule"), 1,
                 "without a rule the same thread is a leak");
    e2e_must_find(&r, "leak", NULL, "ignored_receiver");
    e2e_free(&r);
}

Test(leaks, text_report_reads_like_goleak_with_state_and_file_line,
     .timeout = 120)
{
    struct e2e_run r;
    char where[64];
    e2e_init(&r);
    e2e_run_fmt(&r, "text", NULL, "leaks", "chan_send", NULL);
    e2e_assert_ended(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert(r.report_text, "no text report written to the -o file");
    snprintf(where, sizeof where, "leaks.c:%d", e2e_line(SRC, "leak_send"));
    cr_assert(strstr(r.report_text, "leak"), "%s", r.report_text);
    cr_assert(strstr(r.report_text, "chan send"), "%s", r.report_text);
    cr_assert(strstr(r.report_text, "sender"), "%s", r.report_text);
    cr_assert(strstr(r.report_text, where), "text report must give %s:\n%s",
              where, r.report_text);
    e2e_free(&r);
}

Test(leaks, leak_in_a_program_started_by_a_shell_is_reported_with_its_pid,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    /* As `tangle run -- make check` would: the shim follows children. */
    e2e_run(&r, NULL, "/bin/sh", "-c",
            E2E_PROGDIR "leaks joined && " E2E_PROGDIR "leaks chan_send && "
            "echo shell-done", NULL);
    e2e_assert_report(&r);
    cr_assert(strstr(r.out, "shell-done"), "stderr:\n%s", r.err);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert(e2e_len(e2e_get(r.json, "processes")) >= 2,
              "each traced process has a log:\n%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_count(&r, "leak", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "leak", NULL, "sender");
    json_object *p = e2e_process(&r, e2e_int(f, "pid", -1));
    cr_assert(p, "the leak's pid must be one of the processes:\n%s",
              E2E_REPORT(&r));
    const char *cmd = e2e_str(p, "cmdline");
    cr_assert(cmd && strstr(cmd, "chan_send"), "%s", e2e_dump(p));
    e2e_free(&r);
}

Test(leaks, goroutine_leak_shows_its_name_send_line_and_starter,
     .timeout = 120)
{
    struct e2e_run r;
    json_object *t = leak_in_state(&r, "go", "go_sender", "leak_go_send",
                                   "chan send");
    cr_assert_str_eq(e2e_str(t, "name"), "fetcher", "%s", e2e_dump(t));
    cr_assert(e2e_stack_has(e2e_get(e2e_get(t, "created_by"), "stack"),
                            "mode_go", 0),
              "created_by must reach the tg_go caller:\n%s", e2e_dump(t));
    e2e_free(&r);
}

Test(leaks, thread_name_set_with_setname_shows_in_the_leak, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "named", NULL);
    e2e_assert_report(&r);
    json_object *f = e2e_must_find(&r, "leak", NULL, "named_waiter");
    json_object *t = e2e_thread_in(f, "named_waiter");
    cr_assert(t, "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(t, "name"), "janitor", "%s", e2e_dump(t));
    cr_assert_str_eq(e2e_str(t, "state"), "sem wait", "%s", e2e_dump(t));
    e2e_free(&r);
}

Test(leaks, pool_never_shut_down_leaks_its_workers_as_one_group,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "pool", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "leak", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "leak", NULL, NULL);
    cr_assert_eq(e2e_int(f, "count", -1), 4, "%s", e2e_dump(f));
    json_object *ts = e2e_get(f, "threads");
    for (size_t i = 0; i < e2e_len(ts); i++) {
        const char *name = e2e_str(e2e_at(ts, i), "name");
        cr_assert(name && !strncmp(name, "leakpool-", 9), "%s", e2e_dump(f));
    }
    e2e_free(&r);
}

Test(leaks, thread_leaked_by_a_passing_criterion_test_is_reported,
     .timeout = 180)
{
    struct e2e_run cc, r;
    char bin[128];
    e2e_init(&cc);
    snprintf(bin, sizeof bin, "%s/crit_leaky", cc.dir);
    char *argv[] = {
        "cc", "-std=c11", "-D_GNU_SOURCE", "-O0", "-g",
        "-I" TANGLE_TOP "/include", TANGLE_TOP "/tests/e2e/extra/crit_leaky.c",
        "-o", bin, "-L" TANGLE_BUILD "/lib", "-ltangle",
        "-Wl,-rpath," TANGLE_BUILD "/lib", "-lcriterion", "-pthread", NULL,
    };
    e2e_exec(&cc, argv);
    e2e_assert_ended(&cc);
    cr_assert_eq(cc.status, 0, "cannot build the Criterion program:\n%s",
                 cc.err);
    e2e_init(&r);
    e2e_run(&r, NULL, bin, "--jobs=1", NULL);
    e2e_assert_report(&r);
    cr_assert(strstr(r.err, "Passing: 1"), "the test itself passes:\n%s",
              r.err);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s\nreport:\n%s",
                 r.err, E2E_REPORT(&r));
    cr_assert_eq(e2e_count(&r, "leak", NULL), 1, "only the test's thread, "
                 "none of Criterion's:\n%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "leak", NULL, "forgotten_reader");
    json_object *t = e2e_thread_in(f, "forgotten_reader");
    cr_assert(t, "%s", e2e_dump(f));
    e2e_assert_frame(e2e_get(t, "stack"), "forgotten_reader",
                     "../extra/crit_leaky.c", "crit_leak_recv");
    e2e_free(&r);
    e2e_free(&cc);
}

Test(leaks, cancel_context_whose_cancel_is_never_called_is_lost_cancel,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "ctx_lost_cancel", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lost-cancel", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lost-cancel", NULL, NULL);
    cr_assert(e2e_mentions(f, "mode_ctx_lost_cancel",
                           e2e_line(SRC, "leak_ctx_lost_cancel")),
              "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(leaks, children_cancelled_through_their_parent_are_not_lost,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "leaks", "ctx_parent_cancelled", NULL);
    e2e_assert_report(&r);
    cr_assert_eq((long long)e2e_out_value(&r, "a"), -ECANCELED);
    cr_assert_eq((long long)e2e_out_value(&r, "b"), -ECANCELED);
    e2e_assert_none(&r, "lost-cancel");
    cr_assert_eq(r.status, 0, "report:\n%s", E2E_REPORT(&r));
    e2e_free(&r);
}

Test(leaks, leak_stack_starts_at_the_program_and_full_stacks_keeps_the_runtime,
     .timeout = 120)
{
    struct e2e_run r, full;
    json_object *t = leak_in_state(&r, "chan_send", "sender", "leak_send",
                                   "chan send");
    /* The runtime's own frames (chan_send, its probe) are noise at the top
     * of a user's stack: the first frame shown is the program's send. */
    json_object *st = e2e_get(t, "stack");
    cr_assert(e2e_frame_is(e2e_at(st, 0), "sender",
                           e2e_line(SRC, "leak_send")),
              "the stack must start at sender:\n%s", e2e_dump(st));
    e2e_init(&full);
    e2e_run(&full, "--full-stacks", "leaks", "chan_send", NULL);
    e2e_assert_report(&full);
    json_object *ft = e2e_thread_in(e2e_must_find(&full, "leak", NULL,
                                                  "sender"), "sender");
    json_object *fst = e2e_get(ft, "stack");
    const char *mod = e2e_str(e2e_at(fst, 0), "module");
    cr_assert(mod && strstr(mod, "libtangle.so"),
              "--full-stacks keeps the runtime's frames on top:\n%s",
              e2e_dump(fst));
    cr_assert(e2e_stack_has(fst, "sender", e2e_line(SRC, "leak_send")),
              "%s", e2e_dump(fst));
    e2e_free(&r);
    e2e_free(&full);
}

Test(leaks, sarif_result_of_a_leak_points_at_the_program_line, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run_fmt(&r, "sarif", NULL, "leaks", "chan_send", NULL);
    e2e_assert_report(&r);
    json_object *res = e2e_get(e2e_at(e2e_get(r.json, "runs"), 0), "results");
    cr_assert_eq(e2e_len(res), 1, "%s", E2E_REPORT(&r));
    json_object *loc = e2e_get(e2e_at(e2e_get(e2e_at(res, 0), "locations"), 0),
                               "physicalLocation");
    const char *uri = e2e_str(e2e_get(loc, "artifactLocation"), "uri");
    cr_assert(uri && strstr(uri, SRC), "%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_int(e2e_get(loc, "region"), "startLine", -1),
                 e2e_line(SRC, "leak_send"), "%s", E2E_REPORT(&r));
    e2e_free(&r);
}

Test(leaks, thread_blocked_in_a_full_pool_submit_is_in_pool_submit,
     .timeout = 120)
{
    struct e2e_run r;
    /* The submit parks inside on the queue's send; the state shown is the
     * call the program made. */
    leak_in_state(&r, "pool_full", "submitter", "leak_pool_submit",
                  "pool submit");
    e2e_free(&r);
}

Test(leaks, sarif_shows_fifty_alike_leaked_threads_as_one_group,
     .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run_fmt(&r, "sarif", NULL, "leaks", "many", NULL);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert(r.json, "no SARIF report:\n%s", r.err);
    json_object *res = e2e_get(e2e_at(e2e_get(r.json, "runs"), 0), "results");
    cr_assert_eq(e2e_len(res), 1, "one leak finding:\n%s", e2e_dump(res));
    json_object *flows = e2e_get(e2e_at(e2e_get(e2e_at(res, 0), "codeFlows"),
                                        0), "threadFlows");
    /* The group's first thread: where it is and where it was created. */
    cr_assert_eq(e2e_len(flows), 2, "%s", e2e_dump(flows));
    const char *title = e2e_str(e2e_get(e2e_at(flows, 0), "message"), "text");
    cr_assert(title && strstr(title, "and 49 more like it"), "%s",
              e2e_dump(flows));
    e2e_free(&r);
}
