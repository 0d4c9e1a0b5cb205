/*
 * test_misuse.c: every misuse subkind of docs/report-format.md, end to
 * end. Each test runs one mode of progs/misuse.c under `tangle run` and
 * checks that the report has a `misuse` finding of that subkind whose
 * stack names the offending call's function and line and, where the
 * misuse conflicts with an earlier call (where the lock was taken, where
 * the channel was closed, where the waiter waits), a related stack naming
 * that one. The program must also keep running after the misuse: the
 * call fails as the contract says, nothing aborts.
 */
#include "e2e.h"

#define SRC "misuse.c"

TestSuite(misuse, .fini = e2e_cleanup);

/* Runs `misuse MODE` and checks the finding of subkind: its stack names
 * func at the marked line and its related stack names rel_func (at the
 * marked line; rel_marker NULL: any line of it, where more than one
 * earlier call could fairly explain it). rel_func NULL when the misuse
 * has no earlier call to point at. */
static void check_misuse_mode(struct e2e_run *r, const char *mode,
                              const char *subkind, const char *func,
                              const char *marker, const char *rel_func,
                              const char *rel_marker)
{
    e2e_init(r);
    e2e_run(r, NULL, "misuse", mode, NULL);
    e2e_assert_report(r);
    cr_assert_eq(r->status, E2E_EXIT_FINDINGS, "exit %d; stderr:\n%s",
                 r->status, r->err);
    json_object *f = e2e_must_find(r, "misuse", subkind, func);
    e2e_assert_frame(e2e_get(f, "stack"), func, SRC, marker);
    if (rel_func && rel_marker)
        e2e_assert_frame(e2e_get(f, "related_stack"), rel_func, SRC,
                         rel_marker);
    else if (rel_func)
        cr_assert(e2e_stack_has(e2e_get(f, "related_stack"), rel_func, 0),
                  "related stack must name %s:\n%s", rel_func, e2e_dump(f));
    cr_assert(e2e_int(f, "pid", 0) > 0, "%s", e2e_dump(f));
    cr_assert(e2e_summary(r, "misuse") >= 1, "%s", E2E_REPORT(r));
}

static void check_misuse(struct e2e_run *r, const char *subkind,
                         const char *func, const char *marker,
                         const char *rel_func, const char *rel_marker)
{
    check_misuse_mode(r, subkind, subkind, func, marker, rel_func,
                      rel_marker);
}

Test(misuse, unlock_of_unlocked_mutex_is_unlock_not_held, .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "unlock-not-held", "mode_unlock_not_held", "unh_unlock",
                 NULL, NULL);
    e2e_free(&r);
}

/* A mutex whose init the shim saw is known unlocked from its first
 * moment: an unlock before any lock is misuse too. */
Test(misuse, unlock_of_a_freshly_initialized_mutex_is_unlock_not_held,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse_mode(&r, "unlock-fresh", "unlock-not-held",
                      "mode_unlock_fresh", "unf_unlock", NULL, NULL);
    e2e_free(&r);
}

Test(misuse, unlock_by_another_thread_is_unlock_foreign_with_lock_site,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "unlock-foreign", "foreign_unlocker", "foreign_unlock",
                 "mode_unlock_foreign", "foreign_lock");
    e2e_free(&r);
}

Test(misuse, owner_relocking_plain_mutex_is_relock_with_first_lock_site,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "relock", "mode_relock", "relock_again", "mode_relock",
                 "relock_first");
    cr_assert_eq(e2e_out_value(&r, "timedlock"), ETIMEDOUT,
                 "the timed relock must time out, not succeed");
    e2e_free(&r);
}

Test(misuse, destroying_a_locked_mutex_is_destroy_locked_with_lock_site,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "destroy-locked", "mode_destroy_locked", "dl_destroy",
                 "mode_destroy_locked", "dl_lock");
    e2e_free(&r);
}

Test(misuse, destroying_a_waited_condition_is_destroy_waited_with_wait_site,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "destroy-waited", "mode_destroy_waited", "dw_destroy",
                 "cond_sleeper", "dw_wait");
    e2e_free(&r);
}

Test(misuse, thread_exiting_with_a_lock_is_exit_holding_lock_with_lock_site,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "exit-holding-lock", "lock_and_leave", "ehl_exit",
                 "lock_and_leave", "ehl_lock");
    e2e_free(&r);
}

Test(misuse, cond_wait_without_its_mutex_is_cond_wait_unlocked,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "cond-wait-unlocked", "mode_cond_unlocked", "cwu_wait",
                 NULL, NULL);
    e2e_free(&r);
}

Test(misuse, cond_wait_with_a_never_locked_mutex_is_cond_wait_unlocked,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse_mode(&r, "cond-never-locked", "cond-wait-unlocked",
                      "mode_cond_never_locked", "cwn_wait", NULL, NULL);
    e2e_free(&r);
}

Test(misuse, concurrent_waits_with_two_mutexes_are_cond_two_mutexes,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "cond-two-mutexes", "mode_cond_two_mutexes",
                 "c2m_second", "first_waiter", NULL);
    e2e_free(&r);
}

Test(misuse, waitgroup_done_below_zero_is_wg_negative_and_fails_with_ERANGE,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "wg-negative", "mode_wg_negative", "wgneg_done", NULL,
                 NULL);
    cr_assert_eq((long long)e2e_out_value(&r, "done"), -ERANGE);
    e2e_free(&r);
}

Test(misuse, send_on_closed_channel_is_send_on_closed_with_close_site,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "send-on-closed", "mode_send_on_closed", "soc_send",
                 "mode_send_on_closed", "soc_close");
    cr_assert_eq((long long)e2e_out_value(&r, "send"), -EPIPE);
    e2e_free(&r);
}

Test(misuse, second_close_is_double_close_with_first_close_site,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "double-close", "mode_double_close", "dc_second",
                 "mode_double_close", "dc_first");
    cr_assert_eq((long long)e2e_out_value(&r, "close"), -EPIPE);
    e2e_free(&r);
}

Test(misuse, freeing_a_channel_with_a_parked_thread_is_free_busy,
     .timeout = 120)
{
    struct e2e_run r;
    check_misuse(&r, "free-busy", "mode_free_busy", "fb_free",
                 "parked_receiver", "fb_recv");
    cr_assert_eq((long long)e2e_out_value(&r, "free"), -EBUSY);
    e2e_free(&r);
}
