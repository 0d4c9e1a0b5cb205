/*
 * test_race.c: end-to-end tests of the race checker. The programs of
 * tests/e2e/progs/race_*.c are built with `tangle cc` (into
 * build/tests/progs-race/) and run under `tangle run --options race=1`
 * (full event mode). race_clean synchronizes through one mechanism per
 * mode and must give no finding at all, and exit 0 (each mode checks its
 * own result); race_bugs plants one race per mode, which must be reported
 * once, with both accesses' stacks naming the marked lines. The samples'
 * bug_race_* programs are checked the same way.
 */
#include "e2e.h"
#include "../../shim/race_abi.h"

/* Built twice: as test_race, on the programs `tangle cc` builds with the
 * default compiler (gcc here: every access a call into the shim), and
 * with RACE_CLANG as test_race_clang, on the same programs built with
 * clang, whose objects carry the access check inline. */
#ifdef RACE_CLANG
#define RACE_PROGDIR TANGLE_BUILD "/tests/progs-race-clang/"
#define RACE_SUITE race_clang
#else
#define RACE_PROGDIR TANGLE_BUILD "/tests/progs-race/"
#define RACE_SUITE race
#endif

TestSuite(RACE_SUITE, .fini = e2e_cleanup);

static void run_race(struct e2e_run *r, const char *prog, const char *mode)
{
    e2e_init(r);
    e2e_run(r, "--options race=1", prog, mode, NULL);
    e2e_assert_report(r);
}

static void clean(const char *mode)
{
    struct e2e_run r;
    run_race(&r, RACE_PROGDIR "race_clean", mode);
    cr_assert_eq(r.status, 0, "race_clean %s must exit 0, got %d\nstderr:\n%s"
                 "\nreport:\n%s", mode, r.status, r.err, E2E_REPORT(&r));
    e2e_assert_clean(&r);
    e2e_free(&r);
}

/* The access of finding f whose stack has func at line, or NULL. */
static json_object *access_at(json_object *f, const char *func, int line)
{
    json_object *acc = e2e_get(f, "accesses");
    for (size_t i = 0; i < e2e_len(acc); i++)
        if (e2e_stack_has(e2e_get(e2e_at(acc, i), "stack"), func, line))
            return e2e_at(acc, i);
    return NULL;
}

/* Runs program prog (source src in tests/e2e/progs) in MODE and checks
 * the one race between (f1, m1) and (f2, m2) (marker lines of src).
 * Returns the finding. */
static json_object *planted_in(struct e2e_run *r, const char *prog, const char *src,
                               const char *mode, const char *f1, const char *m1,
                               const char *f2, const char *m2)
{
    run_race(r, prog, mode);
    cr_assert_eq(r->status, E2E_EXIT_FINDINGS, "%s %s: exit %d\n%s",
                 src, mode, r->status, E2E_REPORT(r));
    cr_assert_eq(e2e_count(r, "race", NULL), 1,
                 "%s %s: expected one race:\n%s", src, mode, E2E_REPORT(r));
    json_object *f = e2e_find(r, "race", NULL, NULL);
    cr_assert(f);
    cr_assert_eq(e2e_len(e2e_get(f, "accesses")), 2);
    int l1 = e2e_line(src, m1), l2 = e2e_line(src, m2);
    json_object *a1 = access_at(f, f1, l1), *a2 = access_at(f, f2, l2);
    cr_assert(a1, "no access in %s at line %d:\n%s", f1, l1, e2e_dump(f));
    cr_assert(a2, "no access in %s at line %d:\n%s", f2, l2, e2e_dump(f));
    cr_assert(a1 != a2 || l1 == l2, "both stacks are the same access");
    cr_assert_neq(e2e_int(a1, "thread", 0), e2e_int(e2e_at(e2e_get(f, "accesses"),
                  a1 == e2e_at(e2e_get(f, "accesses"), 0) ? 1 : 0), "thread", 0),
                  "a race needs two threads:\n%s", e2e_dump(f));
    return f;
}

/* The same for race_bugs.c. */
static json_object *planted(struct e2e_run *r, const char *mode,
                            const char *f1, const char *m1,
                            const char *f2, const char *m2)
{
    return planted_in(r, RACE_PROGDIR "race_bugs", "race_bugs.c", mode, f1, m1, f2, m2);
}

Test(RACE_SUITE, mutex_protected_counter_is_not_a_race, .timeout = 180) { clean("mutex"); }
Test(RACE_SUITE, rwlock_readers_and_writer_are_not_a_race, .timeout = 180) { clean("rwlock"); }
Test(RACE_SUITE, cond_handoff_under_its_mutex_is_not_a_race, .timeout = 180) { clean("cond"); }
Test(RACE_SUITE, sem_post_orders_before_sem_wait, .timeout = 180) { clean("sem"); }
Test(RACE_SUITE, barrier_orders_every_arrival_before_every_departure, .timeout = 180) { clean("barrier"); }
Test(RACE_SUITE, once_routine_happens_before_every_once_return, .timeout = 180) { clean("once"); }
Test(RACE_SUITE, create_and_join_order_parent_and_child, .timeout = 180) { clean("create-join"); }
Test(RACE_SUITE, a_joined_threads_slot_passed_to_a_new_thread_is_not_a_race, .timeout = 180) { clean("slot-reuse"); }
Test(RACE_SUITE, a_lock_released_again_after_learning_more_passes_it_on, .timeout = 180) { clean("lock-relay"); }
Test(RACE_SUITE, a_lock_taken_back_after_another_threads_unlock_learns_from_it, .timeout = 180) { clean("lock-back"); }
Test(RACE_SUITE, a_write_lock_taken_back_after_a_read_unlock_is_ordered_after_the_read, .timeout = 180) { clean("rwlock-back"); }
Test(RACE_SUITE, a_mapping_unmapped_and_mapped_again_starts_without_history, .timeout = 180) { clean("mmap-reuse"); }
Test(RACE_SUITE, a_forked_child_is_ordered_after_everything_before_the_fork, .timeout = 180) { clean("fork"); }
Test(RACE_SUITE, buffered_channel_send_happens_before_receive, .timeout = 180) { clean("chan-buffered"); }
Test(RACE_SUITE, unbuffered_channel_send_happens_before_receive, .timeout = 180) { clean("chan-unbuffered"); }
Test(RACE_SUITE, unbuffered_receive_happens_before_send_completes, .timeout = 180) { clean("chan-recv-before-send"); }
Test(RACE_SUITE, buffered_channel_of_capacity_one_is_a_mutex, .timeout = 180) { clean("chan-sem"); }
Test(RACE_SUITE, a_value_relayed_through_two_channels_carries_its_history, .timeout = 180) { clean("chan-relay"); }
Test(RACE_SUITE, select_sends_and_receives_hand_over_like_plain_ones, .timeout = 180) { clean("chan-select"); }
Test(RACE_SUITE, threads_started_late_hand_over_through_sparse_clock_copies, .timeout = 180) { clean("chan-sparse"); }
Test(RACE_SUITE, c11_threads_mutexes_conditions_and_call_once_order_like_pthreads, .timeout = 180) { clean("c11"); }
Test(RACE_SUITE, a_lock_annotated_with_tsan_mutex_calls_orders_what_it_protects, .timeout = 180) { clean("annotated-lock"); }
Test(RACE_SUITE, close_happens_before_the_receive_that_sees_it, .timeout = 180) { clean("close"); }
Test(RACE_SUITE, release_and_acquire_fences_order_relaxed_atomics, .timeout = 180) { clean("fence"); }
Test(RACE_SUITE, waitgroup_done_happens_before_wait_returns, .timeout = 180) { clean("wg"); }
Test(RACE_SUITE, ctx_cancel_happens_before_done_is_seen, .timeout = 180) { clean("ctx"); }
Test(RACE_SUITE, errgroup_tasks_happen_before_wait_returns, .timeout = 180) { clean("group"); }
Test(RACE_SUITE, pool_jobs_ordered_by_submit_and_shutdown, .timeout = 180) { clean("pool"); }
Test(RACE_SUITE, release_store_acquire_load_publish_data, .timeout = 180) { clean("atomic"); }
Test(RACE_SUITE, the_last_reference_count_holder_frees_without_a_race, .timeout = 180) { clean("refcount"); }
Test(RACE_SUITE, a_release_store_is_ordered_before_plain_accesses_after_the_acquire, .timeout = 180) { clean("atomic-then-plain"); }
Test(RACE_SUITE, a_failed_compare_exchange_only_reads, .timeout = 180) { clean("cas-fail"); }
Test(RACE_SUITE, an_acquire_compare_exchange_is_ordered_after_what_the_release_store_published, .timeout = 180) { clean("release-then-cas"); }
Test(RACE_SUITE, neighbouring_bytes_of_one_word_do_not_race, .timeout = 180) { clean("neighbour-bytes"); }
Test(RACE_SUITE, errgroup_of_limit_one_hands_each_task_to_the_next, .timeout = 180) { clean("group-limit1"); }
Test(RACE_SUITE, a_detached_threads_stack_reused_by_the_next_is_not_a_race, .timeout = 180) { clean("stack-reuse"); }

Test(RACE_SUITE, unsynchronized_counter_is_found_with_both_stacks, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "counter", "counter_worker", "counter",
                             "counter_worker", "counter");
    cr_assert_str_eq(e2e_str(f, "location"), "global 'counter'");
    e2e_free(&r);
}

Test(RACE_SUITE, loop_variable_address_is_found, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "loopvar", "loopvar_worker", "loopvar-read",
                             "mode_loopvar", "loopvar-write");
    cr_assert_str_eq(e2e_str(f, "location"), "stack of thread 1");
    e2e_free(&r);
}

Test(RACE_SUITE, sleeping_is_not_synchronization, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "sleep", "sleepy_writer", "sleep-write",
                             "mode_sleep", "sleep-read");
    cr_assert_str_eq(e2e_str(f, "location"), "global 'published'");
    e2e_free(&r);
}

/* A detached thread's slot must not pass to a thread that knows nothing
 * of its end. */
Test(RACE_SUITE, a_new_thread_is_not_the_continuation_of_an_unjoined_one, .timeout = 180)
{
    struct e2e_run r;
    planted(&r, "after-detached", "detached_writer", "detached-write",
            "heir_writer", "heir-write");
    e2e_free(&r);
}

/* The checker goes on in a forked child, and reports there. */
Test(RACE_SUITE, race_in_a_forked_child_is_found, .timeout = 180)
{
    struct e2e_run r;
    planted(&r, "fork-child", "counter_worker", "counter", "counter_worker", "counter");
    cr_assert_eq(e2e_len(e2e_get(r.json, "processes")), 2, "%s", E2E_REPORT(&r));
    e2e_free(&r);
}

/* More threads in turn than the checker has slots: still checked. */
Test(RACE_SUITE, race_after_seventeen_thousand_threads_is_found, .timeout = 300)
{
    struct e2e_run r;
    planted(&r, "late", "counter_worker", "counter", "counter_worker", "counter");
    e2e_free(&r);
}

Test(RACE_SUITE, a_race_on_the_programs_own_mapping_is_found, .timeout = 180)
{
    struct e2e_run r;
    planted(&r, "mapped", "mapped_writer", "mapped-write", "mode_mapped", "mapped-read");
    e2e_free(&r);
}

Test(RACE_SUITE, heap_race_names_the_block_and_its_allocation, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "heap", "heap_writer", "heap-write",
                             "mode_heap", "heap-read");
    const char *loc = e2e_str(f, "location");
    char want[64];
    snprintf(want, sizeof want, "in mode_heap at ");
    cr_assert(loc && strstr(loc, "heap block of 32 bytes") && strstr(loc, want),
              "location: %s", loc ? loc : "(none)");
    char line[32];
    snprintf(line, sizeof line, "race_bugs.c:%d", e2e_line("race_bugs.c", "heap-alloc"));
    cr_assert(strstr(loc, line), "allocation site %s not in: %s", line, loc);
    e2e_free(&r);
}

/* A free is a write of the block: another thread's unordered read of it
 * races with the free, which names the block and where it was made. */
static void check_free_race(const char *opts)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, opts, RACE_PROGDIR "race_bugs", "free", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_count(&r, "race", NULL), 1, "%s: %s", opts, E2E_REPORT(&r));
    json_object *f = e2e_find(&r, "race", NULL, NULL);
    json_object *rd = access_at(f, "doomed_reader", e2e_line("race_bugs.c", "free-read"));
    json_object *fr = access_at(f, "mode_free", e2e_line("race_bugs.c", "free-free"));
    cr_assert(rd && fr, "%s: the read and the free:\n%s", opts, e2e_dump(f));
    cr_assert(json_object_get_boolean(e2e_get(fr, "write")), "%s", e2e_dump(fr));
    cr_assert(json_object_get_boolean(e2e_get(fr, "free")), "%s", e2e_dump(fr));
    cr_assert(!e2e_get(rd, "free"), "%s", e2e_dump(rd));
    cr_assert(!json_object_get_boolean(e2e_get(rd, "write")), "%s", e2e_dump(rd));
    const char *loc = e2e_str(f, "location");
    char line[32];
    snprintf(line, sizeof line, "race_bugs.c:%d", e2e_line("race_bugs.c", "free-alloc"));
    cr_assert(loc && strstr(loc, "heap block of 64 bytes") && strstr(loc, line),
              "%s: location: %s", opts, loc ? loc : "(none)");
    e2e_free(&r);
}

Test(RACE_SUITE, a_free_races_with_an_unordered_read_of_the_block, .timeout = 180)
{
    check_free_race("--options race=1");
}

Test(RACE_SUITE, logged_mode_checks_a_free_as_a_write_too, .timeout = 180)
{
    check_free_race("--options race=log");
}

Test(RACE_SUITE, race_under_one_lock_only_lists_the_held_lock, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "one-lock", "locked_writer", "lock-locked",
                             "mode_one_lock", "lock-unlocked");
    json_object *locked = access_at(f, "locked_writer",
                                    e2e_line("race_bugs.c", "lock-locked"));
    json_object *bare = access_at(f, "mode_one_lock",
                                  e2e_line("race_bugs.c", "lock-unlocked"));
    cr_assert_eq(e2e_len(e2e_get(locked, "locks")), 1, "%s", e2e_dump(f));
    cr_assert_eq(e2e_len(e2e_get(bare, "locks")), 0, "%s", e2e_dump(f));
    e2e_free(&r);
}

/* memset is checked at -O0 as at -O2 (race_loops): a library call that
 * the instrumentation leaves to TSan's interceptors. */
Test(RACE_SUITE, a_memset_races_with_a_read_at_O0, .timeout = 180)
{
    struct e2e_run r;
    planted(&r, "memset", "filler", "fill", "mode_memset", "fill-read");
    e2e_free(&r);
}

Test(RACE_SUITE, only_the_byte_both_threads_write_races, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "bytes", "byte_worker", "byte-shared",
                             "byte_worker", "byte-shared");
    json_object *acc = e2e_get(f, "accesses");
    for (size_t i = 0; i < 2; i++)
        cr_assert_eq(e2e_int(e2e_at(acc, i), "size", 0), 1, "%s", e2e_dump(f));
    cr_assert(!e2e_mentions(f, "byte_worker", e2e_line("race_bugs.c", "byte-own")),
              "own bytes reported:\n%s", e2e_dump(f));
    e2e_free(&r);
}

Test(RACE_SUITE, race_between_c11_threads_is_found, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "c11-counter", "c11_counter_worker", "c11-counter",
                             "c11_counter_worker", "c11-counter");
    cr_assert_str_eq(e2e_str(f, "location"), "global 'counter'");
    e2e_free(&r);
}

Test(RACE_SUITE, sixteen_byte_stores_race_only_where_both_threads_write, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "wide", "wide_worker", "wide-shared",
                             "wide_worker", "wide-shared");
    cr_assert_str_eq(e2e_str(f, "location"), "global 'wide_shared'");
    cr_assert(!e2e_mentions(f, "wide_worker", e2e_line("race_bugs.c", "wide-own")),
              "own elements reported:\n%s", e2e_dump(f));
    e2e_free(&r);
}

Test(RACE_SUITE, write_races_with_a_read_that_a_later_ordered_read_followed, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "shared-readers", "early_reader", "readers-early",
                             "ordered_writer", "readers-write");
    (void)f;
    e2e_free(&r);
}

Test(RACE_SUITE, a_read_of_a_shared_word_races_with_a_write_it_is_not_ordered_after, .timeout = 180)
{
    struct e2e_run r;
    planted(&r, "reread", "cfg_rereader", "cfg-reread", "mode_reread", "cfg-write");
    e2e_free(&r);
}

Test(RACE_SUITE, a_release_fence_without_an_acquire_fence_publishes_nothing, .timeout = 180)
{
    struct e2e_run r;
    planted(&r, "fence-missing", "fence_writer", "fence-write", "mode_fence_missing",
            "fence-read");
    e2e_free(&r);
}

Test(RACE_SUITE, a_longjmp_drops_the_frames_it_leaves_from_later_stacks, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "longjmp", "lj_writer", "lj-write", "mode_longjmp",
                             "lj-read");
    json_object *a = access_at(f, "mode_longjmp", e2e_line("race_bugs.c", "lj-read"));
    cr_assert(a);
    /* lj_deep's entry was called from lj_mid: a frame of the jump's. */
    cr_assert(!e2e_stack_has(e2e_get(a, "stack"), "lj_mid", 0) &&
              !e2e_stack_has(e2e_get(a, "stack"), "lj_deep", 0),
              "the read's stack keeps frames the longjmp left:\n%s", e2e_dump(a));
    cr_assert(e2e_stack_has(e2e_get(a, "stack"), "main", 0),
              "the read's stack lost its callers:\n%s", e2e_dump(a));
    e2e_free(&r);
}

Test(RACE_SUITE, relaxed_atomic_flag_publishes_nothing, .timeout = 180)
{
    struct e2e_run r;
    planted(&r, "relaxed", "relaxed_writer", "relaxed-write", "mode_relaxed",
            "relaxed-read");
    e2e_free(&r);
}

Test(RACE_SUITE, annotated_benign_race_is_not_reported, .timeout = 180)
{
    struct e2e_run r;
    run_race(&r, RACE_PROGDIR "race_bugs", "benign");
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, E2E_REPORT(&r));
    e2e_assert_clean(&r);
    e2e_free(&r);
}

Test(RACE_SUITE, tsan_dynamic_annotation_of_a_benign_race_is_honoured, .timeout = 180)
{
    struct e2e_run r;
    run_race(&r, RACE_PROGDIR "race_bugs", "benign-tsan");
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, E2E_REPORT(&r));
    e2e_assert_clean(&r);
    e2e_free(&r);
}

Test(RACE_SUITE, race_suppression_moves_the_finding_to_suppressed, .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    char supp[160];
    snprintf(supp, sizeof supp, "%s/supp", r.dir);
    e2e_write_file(supp, "race:counter_worker\n", 20);
    char opts[256];
    snprintf(opts, sizeof opts, "--options race=1 --suppressions %s", supp);
    e2e_run(&r, opts, RACE_PROGDIR "race_bugs", "counter", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0, "exit %d\n%s", r.status, E2E_REPORT(&r));
    cr_assert_eq(e2e_count(&r, "race", NULL), 0, "%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_summary(&r, "suppressed"), 1, "%s", E2E_REPORT(&r));
    e2e_free(&r);
}

Test(RACE_SUITE, without_race_mode_no_accesses_and_no_race, .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, RACE_PROGDIR "race_bugs", "counter", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_count(&r, "race", NULL), 0, "%s", E2E_REPORT(&r));
    e2e_free(&r);
}

/* A program linked with libtsan: the shim's entry points would take its
 * accesses from TSan, and without its malloc wrappers tangle's checker
 * cannot stand in. It says so, checks leaks and deadlocks only, and
 * still writes its log (libtsan calls __tsan_init before libc has set up
 * the environment, which the shim must not read then). */
Test(RACE_SUITE, program_linked_with_libtsan_is_named_and_left_unchecked, .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, "--options race=1", TANGLE_BUILD "/tests/progs-libtsan/race_bugs",
            "counter", NULL);
    e2e_assert_report(&r);
    cr_assert(strstr(r.err, "linked with libtsan"), "stderr:\n%s", r.err);
    cr_assert(!strstr(r.err, "wrote no log"), "stderr:\n%s", r.err);
    cr_assert_eq(e2e_len(e2e_get(r.json, "processes")), 1, "%s", E2E_REPORT(&r));
    e2e_assert_none(&r, "race");
    e2e_free(&r);
}

Test(RACE_SUITE, instrumented_program_runs_without_the_shim, .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run_bare(&r, RACE_PROGDIR "race_clean", "chan-buffered", NULL);
    e2e_assert_ended(&r);
    cr_assert_eq(r.status, 0, "exit %d\nstderr:\n%s", r.status, r.err);
    e2e_free(&r);
}

#ifdef RACE_CLANG
/* The clang build really carries the check inline: its accesses call no
 * __tsan_readN / __tsan_writeN entry point (only the _pc ones of the long
 * way), and it reads the checker's thread state by its versioned name. */
Test(RACE_SUITE, clang_objects_carry_the_access_check_inline, .timeout = 60)
{
    FILE *p = popen("nm -D --undefined-only " RACE_PROGDIR "race_bugs", "r");
    cr_assert(p);
    char line[256];
    bool state = false, plain_entry = false, slow_entry = false;
    while (fgets(line, sizeof line, p)) {
        state |= strstr(line, " " TG_RS_SYM) != NULL;
        slow_entry |= strstr(line, " __tsan_read8_pc") != NULL;
        /* "U name" or "U name@VERSION" */
        static const char *const plain[] = { " __tsan_read8", " __tsan_write8" };
        for (size_t i = 0; i < 2; i++) {
            const char *at = strstr(line, plain[i]);
            char next = at ? at[strlen(plain[i])] : 0;
            plain_entry |= next == '@' || next == '\n';
        }
    }
    cr_assert_eq(pclose(p), 0, "nm failed");
    cr_assert(state, "race_bugs does not read " TG_RS_SYM);
    cr_assert(slow_entry, "race_bugs has no long-way call");
    cr_assert(!plain_entry, "race_bugs still calls __tsan_read8/__tsan_write8");
}

/* C++ (race_cxx.cc, built with `tangle c++` and clang++): names come
 * out demangled, and an exception unwound through instrumented frames
 * leaves none of them in later stacks. */
#define RACE_CXX RACE_PROGDIR "race_cxx"

static json_object *cxx_race(struct e2e_run *r, const char *mode)
{
    if (access(RACE_CXX, X_OK) != 0)
        cr_skip_test("race_cxx not built (no clang++)");
    run_race(r, RACE_CXX, mode);
    cr_assert_eq(r->status, E2E_EXIT_FINDINGS, "race_cxx %s: exit %d\n%s", mode,
                 r->status, E2E_REPORT(r));
    cr_assert_eq(e2e_count(r, "race", NULL), 1, "%s", E2E_REPORT(r));
    return e2e_find(r, "race", NULL, NULL);
}

Test(RACE_SUITE, cxx_race_through_a_method_names_it_demangled, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = cxx_race(&r, "method");
    int line = e2e_line("race_cxx.cc", "put");
    json_object *acc = e2e_get(f, "accesses");
    cr_assert_eq(e2e_len(acc), 2);
    for (size_t i = 0; i < 2; i++)
        cr_assert(e2e_stack_has(e2e_get(e2e_at(acc, i), "stack"), "ns::Cache::put(long)",
                                line), "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(f, "location"), "global 'cache'");
    e2e_free(&r);
}

Test(RACE_SUITE, cxx_caught_exception_leaves_no_frames_behind, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = cxx_race(&r, "exception");
    json_object *rd = access_at(f, "mode_exception()", e2e_line("race_cxx.cc", "ex_read"));
    cr_assert(rd, "no read in mode_exception():\n%s", e2e_dump(f));
    cr_assert(access_at(f, "writer(void*)", e2e_line("race_cxx.cc", "ex_write")),
              "%s", e2e_dump(f));
    cr_assert(!e2e_mentions(e2e_get(rd, "stack"), "thrower(int)", 0),
              "the read's stack still names thrower:\n%s", e2e_dump(rd));
    e2e_free(&r);
}
#endif

Test(RACE_SUITE, sampled_mode_still_finds_a_race_in_code_that_starts_cold, .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, "--options race=1,race_sample=1", RACE_PROGDIR "race_bugs",
            "counter", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_count(&r, "race", NULL), 1, "%s", E2E_REPORT(&r));
    cr_assert(e2e_mentions(e2e_find(&r, "race", NULL, NULL), "counter_worker",
                           e2e_line("race_bugs.c", "counter")));
    e2e_free(&r);
}

/* A receive is ordered after the send of the value it received, not
 * after every send that had begun: the Go memory model's edge. */
Test(RACE_SUITE, receiving_one_senders_value_orders_nothing_of_another_sender, .timeout = 180)
{
    struct e2e_run r;
    json_object *f = planted(&r, "chan-other-send", "chan_sender_a", "chan-other-write",
                             "mode_chan_other_send", "chan-other-read");
    cr_assert_str_eq(e2e_str(f, "location"), "global 'other'");
    e2e_free(&r);
}

/* race=log: every access logged, the check made by the analyzer from the
 * log; it must agree with the in-process checker on both programs. */
Test(RACE_SUITE, logged_mode_checked_offline_finds_the_same_race, .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, "--options race=log", RACE_PROGDIR "race_bugs", "heap", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_count(&r, "race", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_find(&r, "race", NULL, NULL);
    cr_assert(e2e_mentions(f, "heap_writer", e2e_line("race_bugs.c", "heap-write")),
              "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(RACE_SUITE, logged_mode_pairs_each_receive_with_its_own_send, .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, "--options race=log", RACE_PROGDIR "race_bugs", "chan-other-send", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_count(&r, "race", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_find(&r, "race", NULL, NULL);
    cr_assert(e2e_mentions(f, "chan_sender_a", e2e_line("race_bugs.c", "chan-other-write")),
              "%s", e2e_dump(f));
    e2e_free(&r);
}

Test(RACE_SUITE, logged_mode_checked_offline_adds_no_false_report, .timeout = 180)
{
    static const char *modes[] = { "chan-buffered", "wg", "group-limit1", "barrier",
                                   "chan-sem", "chan-select", "fence", "refcount",
                                   "atomic-then-plain", "cas-fail", "release-then-cas",
                                   "lock-back", "rwlock-back" };
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        struct e2e_run r;
        e2e_init(&r);
        e2e_run(&r, "--options race=log", RACE_PROGDIR "race_clean", modes[i], NULL);
        e2e_assert_report(&r);
        cr_assert_eq(e2e_count(&r, "race", NULL), 0, "%s: %s", modes[i], E2E_REPORT(&r));
        e2e_free(&r);
    }
}

Test(RACE_SUITE, sampled_mode_adds_no_false_report, .timeout = 180)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, "--options race=1,race_sample=1", RACE_PROGDIR "race_clean",
            "chan-buffered", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_count(&r, "race", NULL), 0, "%s", E2E_REPORT(&r));
    e2e_free(&r);
}

/* Loops that sweep arrays (race_loops.c, built with -O2). Built by
 * `tangle cc` with the loop-range pass (clang) or plugin (gcc), the sweeps
 * whose extent is known are checked as one range before or after the
 * loop; built with TANGLE_LOOP_RANGES=0 (race_loops_elem, gcc suite),
 * access by access; at -Os (race_loops_os, gcc suite), with loops tested
 * at their top. All must agree: no finding where the threads keep to
 * their own bytes or the loop synchronizes or stops early, and the race,
 * with both lines, where two sweeps meet, even in one word or one byte.
 * Each test runs every build of the suite. */
#define RACE_LOOPS RACE_PROGDIR "race_loops"
static const char *const loops_builds[] = {
    RACE_LOOPS,
#ifndef RACE_CLANG
    RACE_LOOPS "_elem",
    RACE_LOOPS "_os",
#endif
};

static void each_loops_build(void (*test)(const char *prog))
{
    for (size_t i = 0; i < sizeof loops_builds / sizeof *loops_builds; i++)
        test(loops_builds[i]);
}

static void loops_clean(const char *mode)
{
    for (size_t i = 0; i < sizeof loops_builds / sizeof *loops_builds; i++) {
        struct e2e_run r;
        run_race(&r, loops_builds[i], mode);
        cr_assert_eq(r.status, 0, "%s %s: exit %d\n%s", loops_builds[i], mode, r.status,
                     E2E_REPORT(&r));
        e2e_assert_clean(&r);
        e2e_free(&r);
    }
}

Test(RACE_SUITE, loop_sweeps_of_two_halves_do_not_race, .timeout = 180) { loops_clean("halves"); }
Test(RACE_SUITE, downward_loop_sweeps_of_two_halves_do_not_race, .timeout = 180) { loops_clean("halves-down"); }
Test(RACE_SUITE, loops_of_two_elements_an_iteration_over_two_halves_do_not_race, .timeout = 180) { loops_clean("halves-pairs"); }
Test(RACE_SUITE, loops_over_even_and_odd_elements_do_not_race, .timeout = 180) { loops_clean("odd-even"); }
Test(RACE_SUITE, loops_over_two_fields_of_an_array_of_structs_do_not_race, .timeout = 180) { loops_clean("fields"); }
Test(RACE_SUITE, loops_that_lock_around_each_element_do_not_race, .timeout = 180) { loops_clean("locked"); }
Test(RACE_SUITE, byte_loops_meeting_inside_a_word_do_not_race, .timeout = 180) { loops_clean("bytes-halves"); }
Test(RACE_SUITE, a_loop_that_stops_early_is_checked_only_where_it_went, .timeout = 180) { loops_clean("early-exit"); }
Test(RACE_SUITE, a_loop_after_joining_the_thread_that_swept_first_does_not_race, .timeout = 180) { loops_clean("after-join"); }
Test(RACE_SUITE, loops_updating_their_own_tallies_in_place_do_not_race, .timeout = 180) { loops_clean("own-tallies"); }
Test(RACE_SUITE, threads_sweeping_arrays_of_their_own_stacks_do_not_race, .timeout = 180) { loops_clean("stack-own"); }

/* Runs build `prog` of race_loops in MODE: one race on the global `var`
 * between (f1, m1) and (f2, m2). */
static json_object *loops_race(struct e2e_run *r, const char *prog, const char *mode,
                               const char *var, const char *f1, const char *m1,
                               const char *f2, const char *m2)
{
    json_object *f = planted_in(r, prog, "race_loops.c", mode, f1, m1, f2, m2);
    char want[64];
    snprintf(want, sizeof want, "global '%s'", var);
    cr_assert_str_eq(e2e_str(f, "location"), want, "%s %s", prog, mode);
    return f;
}

/* Both accesses of race f cover the byte the program printed as
 * "shared ADDRESS". */
static void assert_on_shared_byte(struct e2e_run *r, json_object *f)
{
    const char *at = strstr(r->out, "shared 0x");
    cr_assert(at, "no address printed:\n%s", r->out);
    unsigned long long shared = strtoull(at + 7, NULL, 16);
    json_object *acc = e2e_get(f, "accesses");
    for (size_t i = 0; i < e2e_len(acc); i++) {
        json_object *a = e2e_at(acc, i);
        unsigned long long lo = strtoull(e2e_str(a, "address"), NULL, 16);
        int64_t size = e2e_int(a, "size", 0);
        cr_assert(lo <= shared && shared < lo + (unsigned long long)size,
                  "access %zu does not cover %#llx:\n%s", i, shared, e2e_dump(f));
    }
}

static void two_sweeps(const char *prog)
{
    struct e2e_run r;
    loops_race(&r, prog, "both", "arr", "sweep_up", "up", "sweep_up", "up");
    e2e_free(&r);
}
Test(RACE_SUITE, two_loops_sweeping_one_array_race, .timeout = 180) { each_loops_build(two_sweeps); }

static void write_read(const char *prog)
{
    struct e2e_run r;
    loops_race(&r, prog, "write-read", "arr", "sweep_up", "up", "sum_up", "sum");
    e2e_free(&r);
}
Test(RACE_SUITE, a_loop_reading_what_another_writes_races, .timeout = 180) { each_loops_build(write_read); }

static void up_down(const char *prog)
{
    struct e2e_run r;
    loops_race(&r, prog, "up-down", "arr", "sweep_up", "up", "sweep_down", "down");
    e2e_free(&r);
}
Test(RACE_SUITE, an_upward_and_a_downward_sweep_race, .timeout = 180) { each_loops_build(up_down); }

static void one_tally(const char *prog)
{
    struct e2e_run r;
    loops_race(&r, prog, "one-tally", "tallies", "tally", "tally", "tally", "tally");
    e2e_free(&r);
}
Test(RACE_SUITE, loops_updating_one_tally_in_place_race, .timeout = 180) { each_loops_build(one_tally); }

/* A loop with accesses on two lines races on both: one finding per
 * line, each naming its own. */
static void two_lines(const char *prog)
{
    struct e2e_run r;
    run_race(&r, prog, "pairs-up");
    cr_assert_eq(e2e_count(&r, "race", NULL), 2, "%s: %s", prog, E2E_REPORT(&r));
    static const char *const marks[] = { "pair-first", "pair-second" };
    for (int m = 0; m < 2; m++) {
        int line = e2e_line("race_loops.c", marks[m]), up = e2e_line("race_loops.c", "up");
        bool found = false;
        for (size_t i = 0; i < e2e_len(e2e_get(r.json, "findings")); i++) {
            json_object *f = e2e_at(e2e_get(r.json, "findings"), i);
            found |= access_at(f, "sweep_pairs", line) && access_at(f, "sweep_up", up);
        }
        cr_assert(found, "%s: no race between %s and up:\n%s", prog, marks[m],
                  E2E_REPORT(&r));
    }
    e2e_free(&r);
}
Test(RACE_SUITE, a_loop_racing_from_two_lines_is_reported_at_each, .timeout = 180) { each_loops_build(two_lines); }

static void one_word(const char *prog)
{
    struct e2e_run r;
    json_object *f = loops_race(&r, prog, "one-word", "arr", "sweep_up", "up", "sweep_down",
                                "down");
    assert_on_shared_byte(&r, f);
    e2e_free(&r);
}
Test(RACE_SUITE, sweeps_sharing_one_word_race_on_that_word, .timeout = 180) { each_loops_build(one_word); }

static void one_byte(const char *prog)
{
    struct e2e_run r;
    json_object *f = loops_race(&r, prog, "one-byte", "bytes", "sweep_bytes", "bytes",
                                "sweep_bytes", "bytes");
    assert_on_shared_byte(&r, f);
    e2e_free(&r);
}
Test(RACE_SUITE, byte_sweeps_sharing_one_byte_race_on_that_byte, .timeout = 180) { each_loops_build(one_byte); }

/* A stack array handed to another thread is checked in both. gcc's
 * plugin leaves out only the checks of arrays no other thread can
 * reach. clang's instrumentation checks neither the main thread's read
 * (one vector load of all 16 elements: no entry point has that size)
 * nor its store to one element (the element's pointer is not captured,
 * though the array is); the clang pass adds both checks. */
static void stack_shared(const char *prog)
{
    struct e2e_run r;
    planted_in(&r, prog, "race_loops.c", "stack-shared", "fill_array", "stack-fill",
               "mode_stack_shared", "stack-sum");
    e2e_free(&r);
}
Test(RACE_SUITE, a_stack_array_handed_to_another_thread_races, .timeout = 180) { each_loops_build(stack_shared); }

static void stack_element(const char *prog)
{
    struct e2e_run r;
    planted_in(&r, prog, "race_loops.c", "stack-element", "sum_array", "stack-read",
               "mode_stack_element", "stack-store");
    e2e_free(&r);
}
Test(RACE_SUITE, a_store_to_one_element_of_a_shared_stack_array_races, .timeout = 180) { each_loops_build(stack_element); }

/* memset of a known size and memcpy of a size known at run time: gcc
 * expands the first inline and calls the library for the second, and
 * its instrumentation sees neither; clang calls the library for both,
 * where only TSan's interceptors would look. The builds with tangle's pass or plugin
 * check them as ranges; race_loops_elem, built without the plugin, is
 * left out (gcc's own TSan misses these races too). */
static void memset_read(const char *prog)
{
    if (strstr(prog, "_elem"))
        return;
    struct e2e_run r;
    loops_race(&r, prog, "memset-read", "fill_buf", "fill_shared", "memset",
               "mode_memset_read", "memset-read");
    e2e_free(&r);
}
Test(RACE_SUITE, a_memset_of_a_shared_buffer_races_with_its_reader, .timeout = 180) { each_loops_build(memset_read); }

static void memcpy_write(const char *prog)
{
    if (strstr(prog, "_elem"))
        return;
    struct e2e_run r;
    loops_race(&r, prog, "memcpy-write", "copy_src", "copy_shared", "memcpy",
               "mode_memcpy_write", "memcpy-write");
    e2e_free(&r);
}
Test(RACE_SUITE, a_memcpy_from_a_shared_buffer_races_with_its_writer, .timeout = 180) { each_loops_build(memcpy_write); }

/* The same loops logged (race=log) and checked offline, sampled too. */
Test(RACE_SUITE, loop_sweeps_logged_and_checked_offline_agree, .timeout = 180)
{
    static const char *const opts[] = { "--options race=log",
                                         "--options race=1,race_sample=1" };
    for (size_t i = 0; i < 2; i++) {
        struct e2e_run r;
        e2e_init(&r);
        e2e_run(&r, opts[i], RACE_LOOPS, "halves-down", NULL);
        e2e_assert_report(&r);
        cr_assert_eq(e2e_count(&r, "race", NULL), 0, "%s: %s", opts[i], E2E_REPORT(&r));
        e2e_free(&r);
    }
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, "--options race=log", RACE_LOOPS, "one-word", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_count(&r, "race", NULL), 1, "%s", E2E_REPORT(&r));
    json_object *f = e2e_find(&r, "race", NULL, NULL);
    cr_assert(e2e_mentions(f, "sweep_down", e2e_line("race_loops.c", "down")), "%s",
              e2e_dump(f));
    assert_on_shared_byte(&r, f);
    e2e_free(&r);
}

/* Which of the range entry points program `prog` calls. */
static void range_calls(const char *prog, bool *rd, bool *wr)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "nm -D --undefined-only %s", prog);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char line[256];
    *rd = *wr = false;
    while (fgets(line, sizeof line, p)) {
        *rd |= strstr(line, " __tsan_read_range") != NULL;
        *wr |= strstr(line, " __tsan_write_range") != NULL;
    }
    cr_assert_eq(pclose(p), 0, "nm failed");
}

#ifdef RACE_CLANG
/* The clang build checks the sweeps as ranges: race_loops calls the
 * range entry points, which none of its sources does. */
Test(RACE_SUITE, clang_checks_loop_sweeps_as_ranges, .timeout = 60)
{
    if (access(TANGLE_BUILD "/lib/tangle-loops.so", R_OK) != 0)
        cr_skip_test("the loop-range pass was not built (no llvm-dev)");
    bool rd, wr;
    range_calls(RACE_LOOPS, &rd, &wr);
    cr_assert(rd && wr, "race_loops checks no range (read %d, write %d)", rd, wr);
}
#else
/* So does the gcc build, with the plugin; the per-element build does
 * not (none of race_loops' sources calls them). */
/* Does a function of prog whose name starts with prefix call a range
 * entry point? */
static bool sweeps_call_ranges(const char *prog, const char *prefix)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof cmd, "objdump -d --no-show-raw-insn %s", prog);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    bool in = false, found = false;
    while (fgets(line, sizeof line, p)) {
        const char *lt = strchr(line, '<');
        if (line[0] != ' ' && lt && strstr(line, ">:"))
            in = !strncmp(lt + 1, prefix, strlen(prefix));
        else if (in && strstr(line, "call") && strstr(line, "_range"))
            found = true;
    }
    cr_assert_eq(pclose(p), 0, "objdump failed");
    return found;
}

Test(RACE_SUITE, gcc_checks_loop_sweeps_as_ranges, .timeout = 60)
{
    bool rd, wr;
    /* (the per-element build has gcc's own ranges only: copies) */
    cr_assert(!sweeps_call_ranges(RACE_LOOPS "_elem", "sweep_"),
              "race_loops_elem checks its sweeps as ranges");
    if (access(TANGLE_BUILD "/lib/tangle-loops-gcc.so", R_OK) != 0)
        cr_skip_test("the loop-range plugin was not built (no gcc-N-plugin-dev)");
    range_calls(RACE_LOOPS, &rd, &wr);
    cr_assert(rd && wr, "race_loops checks no range (read %d, write %d)", rd, wr);
    range_calls(RACE_LOOPS "_os", &rd, &wr);
    cr_assert(rd && wr, "race_loops_os checks no range (read %d, write %d)", rd, wr);
}
#endif
