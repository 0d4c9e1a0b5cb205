/*
 * test_c11.c: programs written with C11 threads (<threads.h>) get what
 * pthread programs get. glibc implements thrd_*, mtx_*, cnd_* and
 * call_once on its pthread functions through internal calls no preload
 * library can interpose, so without wrappers of the C11 names a C11
 * thread was invisible: never reported as a leak, its locks out of the
 * lock-order graph. Each test runs a mode of progs/c11.c.
 */
#include "e2e.h"

#define SRC "c11.c"

TestSuite(c11, .fini = e2e_cleanup);

static void run_mode(struct e2e_run *r, const char *mode)
{
    e2e_init(r);
    e2e_run(r, NULL, "c11", mode, NULL);
    e2e_assert_report(r);
}

Test(c11, threads_mutexes_conditions_and_call_once_used_well_report_nothing,
     .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, "clean");
    cr_assert_eq(r.status, 0, "exit %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out,
                 r.err);
    e2e_assert_clean(&r);
    e2e_free(&r);
}

/* The leaked thread, its state and the line where it blocked. */
static json_object *leak(struct e2e_run *r, const char *mode, const char *func,
                         const char *marker, const char *state)
{
    run_mode(r, mode);
    cr_assert_eq(r->status, E2E_EXIT_FINDINGS, "exit %d; stderr:\n%s", r->status,
                 r->err);
    cr_assert_eq(e2e_count(r, "leak", NULL), 1, "%s", E2E_REPORT(r));
    json_object *f = e2e_must_find(r, "leak", NULL, func);
    json_object *t = e2e_thread_in(f, func);
    cr_assert(t, "no thread in %s:\n%s", func, e2e_dump(f));
    cr_assert_str_eq(e2e_str(t, "state"), state, "%s", e2e_dump(t));
    e2e_assert_frame(e2e_get(t, "stack"), func, SRC, marker);
    cr_assert_eq(e2e_int(e2e_get(t, "created_by"), "thread", -1), 1,
                 "created by main:\n%s", e2e_dump(t));
    return t;
}

Test(c11, thread_left_in_mtx_lock_is_a_leak_waiting_for_the_mutex, .timeout = 120)
{
    struct e2e_run r;
    json_object *t = leak(&r, "leak_mtx", "mtx_waiter", "c11_leak_mtx", "mutex lock");
    cr_assert_str_eq(e2e_str(e2e_get(t, "object"), "kind"), "mutex", "%s",
                     e2e_dump(t));
    e2e_free(&r);
}

Test(c11, thread_left_in_cnd_wait_is_a_leak_in_cond_wait, .timeout = 120)
{
    struct e2e_run r;
    leak(&r, "leak_cnd", "cnd_waiter", "c11_leak_cnd", "cond wait");
    e2e_free(&r);
}

Test(c11, thread_that_ended_unjoined_is_reported_where_thrd_create_ran,
     .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, "unjoined");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "%s", E2E_REPORT(&r));
    e2e_assert_none(&r, "leak");
    cr_assert_eq(e2e_count(&r, "unjoined", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "unjoined", NULL, "mode_unjoined");
    cr_assert(e2e_mentions(f, "mode_unjoined", e2e_line(SRC, "c11_unjoined")),
              "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(c11, mtx_lock_order_inversion_is_a_lock_order_cycle, .timeout = 120)
{
    struct e2e_run r;
    run_mode(&r, "abba");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_count(&r, "lock-order", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "lock-order", NULL, NULL);
    unsigned long long a = e2e_out_value(&r, "A"), b = e2e_out_value(&r, "B");
    json_object *es = e2e_get(f, "edges");
    cr_assert_eq(e2e_len(es), 2, "%s", e2e_dump(f));
    for (size_t i = 0; i < 2; i++) {
        json_object *e = e2e_at(es, i);
        bool fwd = e2e_addr(e, "from") == a && e2e_addr(e, "to") == b;
        bool back = e2e_addr(e, "from") == b && e2e_addr(e, "to") == a;
        cr_assert(fwd || back, "edge between other locks:\n%s", e2e_dump(f));
        e2e_assert_frame(e2e_get(e, "from_stack"), fwd ? "ab" : "ba", SRC,
                         fwd ? "c11_ab_a" : "c11_ba_b");
        e2e_assert_frame(e2e_get(e, "to_stack"), fwd ? "ab" : "ba", SRC,
                         fwd ? "c11_ab_b" : "c11_ba_a");
    }
    e2e_free(&r);
}
