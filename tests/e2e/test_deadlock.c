/*
 * test_deadlock.c: end-to-end deadlock detection (issue 4). Potential
 * deadlocks come from the lock-order graph, so an inversion is reported
 * even though the run did not hang, with both locks and where each edge
 * was taken; the standard safe patterns (consistent order, gate lock,
 * trylock back-off, destroy and re-init, recursion) must stay silent. Real
 * deadlocks are caught by the shim's watchdog while the program runs:
 * `tangle run` must end them with exit 66 and a `deadlock` finding long
 * before the test's own timeout.
 */
#include <tangle/log.h>

#include "e2e.h"

#define SRC "deadlock.c"

TestSuite(deadlock, .fini = e2e_cleanup);

static void run_mode(struct e2e_run *r, const char *opts, const char *mode)
{
    e2e_init(r);
    e2e_run(r, opts, "deadlock", mode, NULL);
    e2e_assert_report(r);
}

/* The edge of a lock-order finding from lock `from` to lock `to`. */
static json_object *edge(json_object *f, unsigned long long from,
                         unsigned long long to)
{
    json_object *es = e2e_get(f, "edges");
    for (size_t i = 0; i < e2e_len(es); i++) {
        json_object *e = e2e_at(es, i);
        if (e2e_addr(e, "from") == from && e2e_addr(e, "to") == to)
            return e;
    }
    cr_assert_fail("no edge %#llx -> %#llx in:\n%s", from, to, e2e_dump(f));
    return NULL;
}

static bool has_object(json_object *f, unsigned long long addr)
{
    json_object *os = e2e_get(f, "objects");
    for (size_t i = 0; i < e2e_len(os); i++)
        if (e2e_addr(e2e_at(os, i), "address") == addr)
            return true;
    return false;
}

static void assert_no_report(const char *mode)
{
    struct e2e_run r;
    run_mode(&r, NULL, mode);
    e2e_assert_none(&r, "lock-order");
    e2e_assert_none(&r, "deadlock");
    e2e_assert_none(&r, "misuse");
    cr_assert_eq(r.status, 0, "mode %s: exit %d;\nstderr:\n%s\nreport:\n%s",
                 mode, r.status, r.err, E2E_REPORT(&r));
    e2e_free(&r);
}

Test(deadlock, ab_ba_inversion_that_did_not_hang_is_one_lock_order_cycle,
     .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "abba");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long a = e2e_out_value(&r, "A"), b = e2e_out_value(&r, "B");
    cr_assert_eq(e2e_len(e2e_get(f, "objects")), 2, "%s", e2e_dump(f));
    cr_assert(has_object(f, a) && has_object(f, b), "locks A=%#llx B=%#llx "
              "must be the cycle's:\n%s", a, b, e2e_dump(f));
    cr_assert_eq(e2e_len(e2e_get(f, "edges")), 2, "%s", e2e_dump(f));

    json_object *e = edge(f, a, b);
    e2e_assert_frame(e2e_get(e, "from_stack"), "ab", SRC, "ab_a");
    e2e_assert_frame(e2e_get(e, "to_stack"), "ab", SRC, "ab_b");
    e = edge(f, b, a);
    e2e_assert_frame(e2e_get(e, "from_stack"), "ba", SRC, "ba_b");
    e2e_assert_frame(e2e_get(e, "to_stack"), "ba", SRC, "ba_a");
    cr_assert_neq(e2e_int(edge(f, a, b), "thread", 0),
                  e2e_int(edge(f, b, a), "thread", 0),
                  "the two edges were taken by different threads");
    e2e_assert_none(&r, "deadlock");
    e2e_free(&r);
}

Test(deadlock, inversion_of_locks_annotated_for_tsan_is_a_lock_order_cycle,
     .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "annotated");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long a = e2e_out_value(&r, "A"), b = e2e_out_value(&r, "B");
    cr_assert(has_object(f, a) && has_object(f, b), "%s", e2e_dump(f));
    json_object *os = e2e_get(f, "objects");
    for (size_t i = 0; i < e2e_len(os); i++)
        cr_assert_str_eq(e2e_str(e2e_at(os, i), "kind"), "lock", "%s", e2e_dump(f));
    json_object *e = edge(f, a, b);
    e2e_assert_frame(e2e_get(e, "from_stack"), "own_ab", SRC, "own_ab_a");
    e2e_assert_frame(e2e_get(e, "to_stack"), "own_ab", SRC, "own_ab_b");
    e = edge(f, b, a);
    e2e_assert_frame(e2e_get(e, "from_stack"), "own_ba", SRC, "own_ba_b");
    e2e_assert_frame(e2e_get(e, "to_stack"), "own_ba", SRC, "own_ba_a");
    e2e_free(&r);
}

Test(deadlock, three_lock_cycle_is_one_finding_with_three_edges,
     .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "three");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long a = e2e_out_value(&r, "A"), b = e2e_out_value(&r, "B"),
                       c = e2e_out_value(&r, "C");
    cr_assert_eq(e2e_len(e2e_get(f, "objects")), 3, "%s", e2e_dump(f));
    cr_assert_eq(e2e_len(e2e_get(f, "edges")), 3, "%s", e2e_dump(f));
    e2e_assert_frame(e2e_get(edge(f, a, b), "to_stack"), "ab", SRC, "ab_b");
    e2e_assert_frame(e2e_get(edge(f, b, c), "to_stack"), "bc", SRC, "bc_c");
    e2e_assert_frame(e2e_get(edge(f, c, a), "to_stack"), "ca", SRC, "ca_a");
    e2e_free(&r);
}

Test(deadlock, consistent_lock_order_gives_nothing, .timeout = 120)
{
    assert_no_report("consistent");
}

Test(deadlock, both_orders_under_a_common_gate_lock_give_nothing,
     .timeout = 120)
{
    assert_no_report("gate");
}

Test(deadlock, trylock_with_back_off_gives_nothing, .timeout = 120)
{
    assert_no_report("trylock");
}

Test(deadlock, destroy_and_reinit_at_same_address_starts_fresh,
     .timeout = 120)
{
    assert_no_report("reinit");
}

Test(deadlock, recursive_mutex_relocked_makes_no_self_cycle, .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "recursive");
    cr_assert(strstr(r.out, "ok"), "program must complete:\n%s", r.err);
    e2e_assert_none(&r, "lock-order");
    e2e_assert_none(&r, "misuse");
    e2e_assert_none(&r, "deadlock");
    cr_assert_eq(r.status, 0, "report:\n%s", E2E_REPORT(&r));
    e2e_free(&r);
}

Test(deadlock, rwlock_read_against_write_inversion_is_a_lock_order_cycle,
     .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "rwlock");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long a = e2e_out_value(&r, "A"),
                       rw = e2e_out_value(&r, "RW");
    cr_assert(has_object(f, a) && has_object(f, rw), "%s", e2e_dump(f));
    cr_assert(e2e_mentions(f, "rd_then_m", e2e_line(SRC, "rw_rd_a")),
              "%s", e2e_dump(f));
    cr_assert(e2e_mentions(f, "m_then_wr", e2e_line(SRC, "rw_wr")), "%s",
              e2e_dump(f));
    e2e_free(&r);
}

/* Runs deadlock MODE, where threads running fab and fba each hold one
 * lock (printed as A and B) and wait in `state` for the other's, and
 * checks that the watchdog ended it with that cycle: its threads, the
 * locks each waits on, their holders and the waiting lines (markers
 * fab "_b" and fba "_a"). */
static void two_thread_deadlock(struct e2e_run *r, const char *mode, const char *fab,
                                const char *fba, const char *state)
{
    e2e_init(r);
    /* Far below the test's timeout: the default watchdog (1 s) must end
     * the program within a few intervals. */
    r->timeout_s = 40;
    e2e_run(r, NULL, "deadlock", mode, NULL);
    e2e_assert_report(r);
    cr_assert_eq(r->status, E2E_EXIT_FINDINGS, "stderr:\n%s\nreport:\n%s",
                 r->err, E2E_REPORT(r));
    cr_assert_null(strstr(r->out, "not reached"));
    json_object *f = e2e_must_find(r, "deadlock", NULL, fab);
    json_object *t1 = e2e_thread_in(f, fab);
    json_object *t2 = e2e_thread_in(f, fba);
    cr_assert(t1 && t2, "both threads must be in the deadlock:\n%s", e2e_dump(f));
    unsigned long long a = e2e_out_value(r, "A"), b = e2e_out_value(r, "B");
    cr_assert_str_eq(e2e_str(t1, "state"), state, "%s", e2e_dump(t1));
    cr_assert_str_eq(e2e_str(t2, "state"), state, "%s", e2e_dump(t2));
    cr_assert_eq(e2e_addr(e2e_get(t1, "object"), "address"), b,
                 "%s waits on B:\n%s", fab, e2e_dump(t1));
    cr_assert_eq(e2e_addr(e2e_get(t2, "object"), "address"), a,
                 "%s waits on A:\n%s", fba, e2e_dump(t2));
    cr_assert_eq(e2e_int(t1, "holder", -1), e2e_int(t2, "id", -2),
                 "B is held by %s:\n%s", fba, e2e_dump(f));
    cr_assert_eq(e2e_int(t2, "holder", -1), e2e_int(t1, "id", -2),
                 "A is held by %s:\n%s", fab, e2e_dump(f));
    char m1[64], m2[64];
    snprintf(m1, sizeof m1, "%s_b", fab);
    snprintf(m2, sizeof m2, "%s_a", fba);
    e2e_assert_frame(e2e_get(t1, "stack"), fab, SRC, m1);
    e2e_assert_frame(e2e_get(t2, "stack"), fba, SRC, m2);
}

/* Locks of the program's own, annotated for TSan, spin in the program's
 * code: the thread counts as waiting from pre_lock to post_lock, so the
 * watchdog sees the cycle as it does with mutexes. */
Test(deadlock, real_deadlock_on_locks_annotated_for_tsan_is_ended_by_watchdog,
     .timeout = 120)
{
    struct e2e_run r;
    two_thread_deadlock(&r, "own-real", "own_real_ab", "own_real_ba", "lock");
    e2e_free(&r);
}

Test(deadlock, real_two_thread_deadlock_is_ended_by_watchdog_with_exit_66,
     .timeout = 120)
{
    struct e2e_run r;
    two_thread_deadlock(&r, "real", "real_ab", "real_ba", "mutex lock");
    const char *st = e2e_str(e2e_process(&r, 0), "state");
    cr_assert(st && !strcmp(st, "deadlocked"), "process state '%s':\n%s",
              st ? st : "(none)", E2E_REPORT(&r));
    e2e_free(&r);
}

Test(deadlock, all_threads_asleep_on_join_and_channel_is_a_deadlock,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    r.timeout_s = 40;
    e2e_run(&r, NULL, "deadlock", "asleep", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s\nreport:\n%s",
                 r.err, E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "deadlock", NULL, "lonely_receiver");
    json_object *t = e2e_thread_in(f, "lonely_receiver");
    cr_assert(t, "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(t, "state"), "chan receive", "%s", e2e_dump(t));
    e2e_assert_frame(e2e_get(t, "stack"), "lonely_receiver", SRC,
                     "asleep_recv");
    json_object *m = e2e_thread_in(f, "mode_asleep");
    cr_assert(m, "main (joining) is asleep too:\n%s", e2e_dump(f));
    cr_assert_eq(e2e_int(m, "id", -1), 1, "%s", e2e_dump(m));
    cr_assert_str_eq(e2e_str(m, "state"), "join", "%s", e2e_dump(m));
    e2e_assert_frame(e2e_get(m, "stack"), "mode_asleep", SRC, "asleep_join");
    e2e_free(&r);
}

Test(deadlock, relock_of_plain_mutex_is_reported_as_misuse_at_the_call,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    r.timeout_s = 60;
    /* The program hangs after the relock; the watchdog (all asleep) or
     * --timeout must end it. */
    e2e_run(&r, "--timeout 20", "deadlock", "relock", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    json_object *f = e2e_must_find(&r, "misuse", "relock", "mode_relock");
    e2e_assert_frame(e2e_get(f, "stack"), "mode_relock", SRC,
                     "relock_second");
    e2e_assert_frame(e2e_get(f, "related_stack"), "mode_relock", SRC,
                     "relock_first");
    e2e_free(&r);
}

Test(deadlock, deadlock_left_running_shows_in_a_report_of_the_live_log,
     .timeout = 120)
{
    struct e2e_run r;
    char logdir[128], log[256];
    e2e_init(&r);
    r.timeout_s = 60;
    snprintf(logdir, sizeof logdir, "%s/logs", r.dir);
    cr_assert_eq(mkdir(logdir, 0700), 0);
    char *argv[] = { E2E_PROGDIR "deadlock", "real", NULL };
    /* deadlock_abort=0: the watchdog reports but leaves the process. */
    e2e_start_traced(&r, logdir, "deadlock_abort=0,watchdog=200", argv);
    bool found = false;
    struct e2e_run rep;
    memset(&rep, 0, sizeof rep);
    for (int i = 0; i < 60 && !found; i++) {
        struct timespec ts = { 0, 500 * 1000000L };
        nanosleep(&ts, NULL);
        if (e2e_find_file(logdir, TG_LOG_SUFFIX, log, sizeof log) != 1)
            continue;
        if (rep.dir[0])
            e2e_free(&rep);
        e2e_init(&rep);
        e2e_report(&rep, NULL, log, NULL);
        found = rep.json && e2e_count(&rep, "deadlock", NULL) > 0;
    }
    int st;
    bool alive = waitpid(r.pid, &st, WNOHANG) == 0;
    kill(-r.pid, SIGKILL);
    if (alive)
        e2e_finish(&r);
    cr_assert(found, "no deadlock in the live log; last report:\n%s\n%s",
              E2E_REPORT(&rep), rep.err);
    cr_assert(alive, "deadlock_abort=0 must leave the process running");
    json_object *f = e2e_must_find(&rep, "deadlock", NULL, "real_ab");
    cr_assert(e2e_thread_in(f, "real_ba"), "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(e2e_process(&rep, r.pid), "state"), "running",
                     "%s", E2E_REPORT(&rep));
    e2e_free(&rep);
}

Test(deadlock, gate_held_for_only_one_order_does_not_hide_the_cycle,
     .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "half_gate");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    cr_assert(has_object(f, e2e_out_value(&r, "A")) &&
                  has_object(f, e2e_out_value(&r, "B")),
              "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(deadlock, spin_lock_inversion_is_a_lock_order_cycle, .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "spin");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long sa = e2e_out_value(&r, "SA"),
                       sb = e2e_out_value(&r, "SB");
    e2e_assert_frame(e2e_get(edge(f, sa, sb), "to_stack"), "spin_ab", SRC,
                     "spin_ab_b");
    e2e_assert_frame(e2e_get(edge(f, sb, sa), "to_stack"), "spin_ba", SRC,
                     "spin_ba_a");
    e2e_free(&r);
}

Test(deadlock, thirty_lock_cycle_is_reported_whole, .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "long_cycle");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, "chain_link");
    cr_assert_eq(e2e_len(e2e_get(f, "objects")), 30, "no cycle length limit");
    cr_assert_eq(e2e_len(e2e_get(f, "edges")), 30);
    cr_assert(e2e_mentions(e2e_get(f, "edges"), "chain_link",
                           e2e_line(SRC, "chain_next")),
              "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(deadlock, inversion_is_remembered_across_ten_thousand_other_locks,
     .timeout = 180)
{
    struct e2e_run r;
    run_mode(&r, NULL, "crowd");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long a = e2e_out_value(&r, "A"), b = e2e_out_value(&r, "B");
    e2e_assert_frame(e2e_get(edge(f, a, b), "to_stack"), "ab", SRC, "ab_b");
    e2e_assert_frame(e2e_get(edge(f, b, a), "to_stack"), "ba", SRC, "ba_a");
    e2e_free(&r);
}

Test(deadlock, join_of_a_thread_waiting_for_the_joiners_lock_is_a_deadlock,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    r.timeout_s = 40;
    e2e_run(&r, NULL, "deadlock", "join_cycle", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    json_object *f = e2e_must_find(&r, "deadlock", NULL, "hold_a_and_join");
    json_object *j = e2e_thread_in(f, "hold_a_and_join");
    json_object *l = e2e_thread_in(f, "lock_a_late");
    cr_assert(j && l, "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(j, "state"), "join", "%s", e2e_dump(j));
    cr_assert_str_eq(e2e_str(l, "state"), "mutex lock", "%s", e2e_dump(l));
    cr_assert_eq(e2e_int(j, "holder", -1), e2e_int(l, "id", -2), "%s",
                 e2e_dump(f));
    cr_assert_eq(e2e_int(l, "holder", -1), e2e_int(j, "id", -2), "%s",
                 e2e_dump(f));
    e2e_assert_frame(e2e_get(j, "stack"), "hold_a_and_join", SRC, "jc_join");
    e2e_assert_frame(e2e_get(l, "stack"), "lock_a_late", SRC, "jc_lock");
    e2e_free(&r);
}

Test(deadlock, rwlock_writer_and_mutex_holder_deadlock_names_rwlock_states,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    r.timeout_s = 40;
    e2e_run(&r, NULL, "deadlock", "rw_real", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    json_object *f = e2e_must_find(&r, "deadlock", NULL, "rw_writer_then_a");
    json_object *w = e2e_thread_in(f, "rw_writer_then_a");
    json_object *rd = e2e_thread_in(f, "a_then_rw_reader");
    cr_assert(w && rd, "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(w, "state"), "mutex lock", "%s", e2e_dump(w));
    cr_assert_str_eq(e2e_str(rd, "state"), "rwlock read", "%s", e2e_dump(rd));
    cr_assert_eq(e2e_addr(e2e_get(rd, "object"), "address"),
                 e2e_out_value(&r, "RW"), "%s", e2e_dump(rd));
    e2e_assert_frame(e2e_get(rd, "stack"), "a_then_rw_reader", SRC, "rwr_rd");
    e2e_free(&r);
}

/* `tangle graph` on the kept log of `deadlock MODE`: the DOT text. */
static char *graph_of(struct e2e_run *r, const char *mode)
{
    char opts[160], logdir[128], log[256];
    e2e_init(r);
    snprintf(logdir, sizeof logdir, "%s/logs", r->dir);
    snprintf(opts, sizeof opts, "--keep-logs %s", logdir);
    e2e_run(r, opts, "deadlock", mode, NULL);
    e2e_assert_report(r);
    cr_assert_eq(e2e_find_file(logdir, TG_LOG_SUFFIX, log, sizeof log), 1);
    struct e2e_run g;
    e2e_init(&g);
    char *argv[] = { E2E_TANGLE, "graph", log, NULL };
    e2e_exec(&g, argv);
    e2e_assert_ended(&g);
    cr_assert_eq(g.status, 0, "stderr:\n%s", g.err);
    char *dot = strdup(g.out);
    e2e_free(&g);
    return dot;
}

Test(deadlock, graph_draws_the_inversion_as_a_red_cycle_with_call_sites,
     .timeout = 120)
{
    struct e2e_run r;
    char *dot = graph_of(&r, "abba");
    char a[32], b[32], ab[32], ba[32];
    snprintf(a, sizeof a, "%#llx", e2e_out_value(&r, "A"));
    snprintf(b, sizeof b, "%#llx", e2e_out_value(&r, "B"));
    snprintf(ab, sizeof ab, "ab:%d", e2e_line(SRC, "ab_b"));
    snprintf(ba, sizeof ba, "ba:%d", e2e_line(SRC, "ba_a"));
    cr_assert(!strncmp(dot, "digraph", 7), "not DOT:\n%s", dot);
    cr_assert(strstr(dot, a) && strstr(dot, b), "both locks:\n%s", dot);
    cr_assert(strstr(dot, ab) && strstr(dot, ba), "edge sites %s, %s:\n%s",
              ab, ba, dot);
    int red_edges = 0;
    for (const char *p = dot; (p = strstr(p, "->")); p++) {
        const char *eol = strchr(p, '\n');
        const char *red = strstr(p, "red");
        red_edges += red && (!eol || red < eol);
    }
    cr_assert_eq(red_edges, 2, "both edges of the cycle in red:\n%s", dot);
    free(dot);
    e2e_free(&r);
}

Test(deadlock, graph_of_a_gated_inversion_has_no_red_cycle, .timeout = 120)
{
    struct e2e_run r;
    char *dot = graph_of(&r, "gate");
    cr_assert(!strncmp(dot, "digraph", 7), "not DOT:\n%s", dot);
    cr_assert(strstr(dot, "->"), "the edges are still drawn:\n%s", dot);
    cr_assert_null(strstr(dot, "red"), "a gated cycle cannot deadlock:\n%s",
                   dot);
    free(dot);
    e2e_free(&r);
}

Test(deadlock, every_repeat_of_a_nesting_is_counted_on_its_edge,
     .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "counted");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long a = e2e_out_value(&r, "A"), b = e2e_out_value(&r, "B");
    cr_assert_eq(e2e_len(e2e_get(f, "edges")), 2, "%s", e2e_dump(f));
    /* The trylocks make no edge: the first witness is ab's own. */
    e2e_assert_frame(e2e_get(edge(f, a, b), "to_stack"), "ab", SRC, "ab_b");
    cr_assert_eq(e2e_int(edge(f, a, b), "count", -1), 175, "%s", e2e_dump(f));
    cr_assert_eq(e2e_int(edge(f, b, a), "count", -1), 1, "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(deadlock, gate_let_go_out_of_order_is_no_gate_any_more, .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, NULL, "gate_dropped");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long a = e2e_out_value(&r, "A"), b = e2e_out_value(&r, "B");
    cr_assert_eq(e2e_int(edge(f, a, b), "count", -1), 3, "%s", e2e_dump(f));
    cr_assert(has_object(f, a) && has_object(f, b), "%s", e2e_dump(f));
    e2e_free(&r);
}
