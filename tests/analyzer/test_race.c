/*
 * test_race.c: unit tests of the race analysis (analyzer/race.c) on logs
 * built in memory: which pairs of accesses race, which synchronization
 * orders them, byte precision, read-shared state, atomics, heap reuse,
 * and that the replay neither depends on the order threads appear in the
 * log nor hangs when a release never comes; and the races the shim found
 * in the process (TG_FIND_RACE records), which must read exactly like the
 * replay's, be one finding per pair of lines whoever found them, and
 * obey suppressions.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>

#include "analyzer.h"
#include "logbuild.h"
#include "minijson.h"
#include "race.h"
#include "tangle/hooks.h"

#define X 0x10000u          /* a shared address */

/* A replay bug would show as a hang: every test is bounded. */
TestSuite(race, .timeout = 60);

struct tl {
    struct lb b;
    struct tg_log_chunk *c[8];   /* chunk of thread i (1-based) */
};

/* A log with n threads (1 is main, the others created by it), each with
 * one chunk, in race mode. */
static void tl_init(struct tl *t, int n)
{
    lb_init_sized(&t->b, 100, 16, 16, 4, (size_t)n);
    t->b.h->flags = TG_LOGF_FULL | TG_LOGF_RACE;
    for (int i = 1; i <= n; i++) {
        struct tg_log_thread *r = lb_thread(&t->b, i == 1 ? TG_THRF_MAIN : 0,
                                            TG_TS_EXITED, 0);
        r->parent = i == 1 ? 0 : 1;
        t->c[i] = lb_chunk(&t->b, (size_t)i - 1, (uint32_t)i, 0);
    }
}

static void ev(struct tl *t, int th, uint8_t type, uint8_t size,
               uint16_t flags, uint64_t addr, uint64_t arg)
{
    struct tg_log_chunk *c = t->c[th];
    lb_event(c, type, addr, arg);
    struct tg_log_event *e = (struct tg_log_event *)(c + 1) + c->used - 1;
    e->size = size;
    e->flags = flags;
}

/* Starts every thread but main with a create -> start edge. */
static void starts(struct tl *t, int n)
{
    ev(t, 1, TG_EV_THREAD_START, 0, 0, 1, 0);
    for (int i = 2; i <= n; i++) {
        ev(t, 1, TG_EV_THREAD_CREATE, 0, 0, (uint64_t)i, 0);
        ev(t, i, TG_EV_THREAD_START, 0, 0, (uint64_t)i, 1);
    }
}

static void wr(struct tl *t, int th, uint64_t addr, uint8_t size, uint64_t pc)
{
    ev(t, th, TG_EV_WRITE, size, 0, addr, pc);
}

static void rd(struct tl *t, int th, uint64_t addr, uint8_t size, uint64_t pc)
{
    ev(t, th, TG_EV_READ, size, 0, addr, pc);
}

/* The last pair reported; its lock lists point into the analysis, which
 * is gone when race_check returns, so the first lock of each is kept. */
static struct race_pair last;
static uint64_t last_lock[2];

static void keep(void *arg, const struct race_pair *p)
{
    (*(int *)arg)++;
    last = *p;
    for (int i = 0; i < 2; i++) {
        last_lock[i] = p->nlocks[i] ? p->locks[i][0] : 0;
        last.locks[i] = NULL;
    }
}

static long check(struct tl *t, struct race_stats *st)
{
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(t->b.buf, t->b.size, "race.tlog", &log, &err), 0,
                 "%s", err ? err : "");
    int calls = 0;
    struct race_stats s;
    long n = race_check(log, keep, &calls, st ? st : &s);
    cr_assert_eq(n, calls, "race_check returned %ld, reported %d", n, calls);
    tlog_close(log);
    lb_free(&t->b);
    return n;
}

Test(race, unordered_writes_by_two_threads_race)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    wr(&t, 2, X, 8, 0x1000);
    wr(&t, 3, X, 8, 0x2000);
    cr_assert_eq(check(&t, NULL), 1);
    cr_assert(last.write[0] && last.write[1]);
    cr_assert_neq(last.thread[0], last.thread[1]);
    cr_assert(last.pc[0] == 0x1000 || last.pc[0] == 0x2000);
}

Test(race, unlock_then_lock_orders_the_writes)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    ev(&t, 2, TG_EV_LOCK, 0, 0, 0x500, 0);
    wr(&t, 2, X, 8, 0x1000);
    ev(&t, 2, TG_EV_UNLOCK, 0, 0, 0x500, 1);
    ev(&t, 3, TG_EV_LOCK, 0, 0, 0x500, 1);
    wr(&t, 3, X, 8, 0x2000);
    ev(&t, 3, TG_EV_UNLOCK, 0, 0, 0x500, 2);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, held_locks_are_reported_with_each_access)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    ev(&t, 2, TG_EV_LOCK, 0, 0, 0x500, 0);
    wr(&t, 2, X, 8, 0x1000);
    ev(&t, 2, TG_EV_UNLOCK, 0, 0, 0x500, 1);
    wr(&t, 3, X, 8, 0x2000);
    cr_assert_eq(check(&t, NULL), 1);
    int locked = last.thread[0] == 2 ? 0 : 1;
    cr_assert_eq(last.nlocks[locked], 1);
    cr_assert_eq(last_lock[locked], 0x500);
    cr_assert_eq(last.nlocks[1 - locked], 0);
}

Test(race, neighbouring_bytes_do_not_race)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    wr(&t, 2, X, 1, 0x1000);
    wr(&t, 3, X + 1, 1, 0x2000);
    wr(&t, 2, X + 2, 2, 0x1000);
    wr(&t, 3, X + 4, 4, 0x2000);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, overlapping_sizes_race_on_the_shared_byte)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    wr(&t, 2, X, 4, 0x1000);
    rd(&t, 3, X + 3, 1, 0x2000);
    cr_assert_eq(check(&t, NULL), 1);
    cr_assert_eq(last.addr[1], X + 3);
}

Test(race, access_spanning_two_words_is_checked_in_both)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    wr(&t, 2, X + 6, 4, 0x1000);       /* bytes 6..9: two shadow words */
    wr(&t, 3, X + 9, 1, 0x2000);
    cr_assert_eq(check(&t, NULL), 1);
}

Test(race, reads_do_not_race_with_reads)
{
    struct tl t;
    tl_init(&t, 4);
    starts(&t, 4);
    wr(&t, 1, X, 8, 0x900);            /* before the creates? no: after */
    rd(&t, 2, X + 64, 8, 0x1000);
    rd(&t, 3, X + 64, 8, 0x2000);
    rd(&t, 4, X + 64, 8, 0x3000);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, write_after_shared_reads_races_with_the_unordered_reader)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    rd(&t, 2, X, 8, 0x1000);
    ev(&t, 2, TG_EV_THREAD_EXIT, 0, 0, 2, 0);
    rd(&t, 3, X, 8, 0x2000);
    ev(&t, 1, TG_EV_THREAD_JOIN, 0, 0, 2, 0);   /* joins 2, not 3 */
    wr(&t, 1, X, 8, 0x3000);
    cr_assert_eq(check(&t, NULL), 1);
    cr_assert_eq(last.thread[0], 1);
    cr_assert_eq(last.thread[1], 3);
    cr_assert_eq(last.pc[1], 0x2000);
}

Test(race, create_orders_parent_before_child_and_join_child_before_parent)
{
    struct tl t;
    tl_init(&t, 2);
    ev(&t, 1, TG_EV_THREAD_START, 0, 0, 1, 0);
    wr(&t, 1, X, 8, 0x900);
    ev(&t, 1, TG_EV_THREAD_CREATE, 0, 0, 2, 0);
    ev(&t, 2, TG_EV_THREAD_START, 0, 0, 2, 1);
    wr(&t, 2, X, 8, 0x1000);
    ev(&t, 2, TG_EV_THREAD_EXIT, 0, 0, 2, 0);
    ev(&t, 1, TG_EV_THREAD_JOIN, 0, 0, 2, 0);
    rd(&t, 1, X, 8, 0x901);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, atomics_do_not_race_with_atomics_but_do_with_plain_accesses)
{
    struct tl t;
    tl_init(&t, 4);
    starts(&t, 4);
    ev(&t, 2, TG_EV_WRITE, 4, TG_EVF_ATOMIC, X, 0x1000);
    ev(&t, 3, TG_EV_READ, 4, TG_EVF_ATOMIC, X, 0x2000);
    cr_assert_eq(check(&t, NULL), 0);

    tl_init(&t, 3);
    starts(&t, 3);
    ev(&t, 2, TG_EV_WRITE, 4, TG_EVF_ATOMIC, X, 0x1000);
    rd(&t, 3, X, 4, 0x2000);
    cr_assert_eq(check(&t, NULL), 1);
}

Test(race, release_store_then_acquire_load_by_count_orders_data)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    /* Thread 3 (the reader) comes first in the log on purpose: the replay
     * must hold its acquire until thread 2's release was processed. */
    ev(&t, 3, TG_EV_ACQUIRE, RACE_SYNC_ATOMIC, TG_EVF_ATOMIC, 0x777, 1);
    rd(&t, 3, X, 8, 0x2000);
    wr(&t, 2, X, 8, 0x1000);
    ev(&t, 2, TG_EV_RELEASE, RACE_SYNC_ATOMIC, TG_EVF_ATOMIC, 0x777, 1);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, acquire_order_does_not_depend_on_thread_ids)
{
    struct tl t;
    tl_init(&t, 4);
    starts(&t, 4);
    /* 2 waits for 4, which waits for 3. */
    ev(&t, 2, TG_EV_ACQUIRE, 0, 0, 0xa, 0);
    wr(&t, 2, X, 8, 0x1000);
    ev(&t, 4, TG_EV_ACQUIRE, 0, 0, 0xb, 0);
    wr(&t, 4, X, 8, 0x3000);
    ev(&t, 4, TG_EV_RELEASE, 0, 0, 0xa, 0);
    wr(&t, 3, X, 8, 0x2000);
    ev(&t, 3, TG_EV_RELEASE, 0, 0, 0xb, 0);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, unbuffered_channel_orders_both_ways)
{
    struct tl t;
    tl_init(&t, 3);
    lb_object(&t.b, TG_LOBJ_CHAN, 0xc0)->b = 0;   /* capacity 0 */
    starts(&t, 3);
    wr(&t, 2, X, 8, 0x1000);                      /* sender, before send */
    ev(&t, 2, TG_EV_RELEASE, TG_PROBE_SEND, 0, 0xc0, 0);
    rd(&t, 2, X + 8, 8, 0x1001);                  /* after send completes */
    wr(&t, 3, X + 8, 8, 0x2000);                  /* receiver, before recv */
    ev(&t, 3, TG_EV_ACQUIRE, TG_PROBE_RECV, 0, 0xc0, 0);
    rd(&t, 3, X, 8, 0x2001);                      /* after recv */
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, buffered_channel_receive_does_not_order_the_next_send)
{
    struct tl t;
    tl_init(&t, 3);
    lb_object(&t.b, TG_LOBJ_CHAN, 0xc0)->b = 4;   /* capacity 4 */
    starts(&t, 3);
    ev(&t, 2, TG_EV_RELEASE, TG_PROBE_SEND, 0, 0xc0, 0);
    rd(&t, 2, X + 8, 8, 0x1001);                  /* not ordered after recv */
    wr(&t, 3, X + 8, 8, 0x2000);
    ev(&t, 3, TG_EV_ACQUIRE, TG_PROBE_RECV, 0, 0xc0, 0);
    cr_assert_eq(check(&t, NULL), 1);
}

/* A channel freed and made again at the same address counts its values
 * from 0 again: the new channel's first receive is ordered after the new
 * send of value 0, not after the old one already consumed. Thread 2
 * takes the old value, tells thread 3 so, and receives the new value,
 * which 3 sends after its write; 2 then reads what 3 wrote. */
Test(race, a_channel_made_again_at_an_address_orders_its_own_first_value)
{
    struct tl t;
    tl_init(&t, 3);
    lb_object(&t.b, TG_LOBJ_CHAN, 0xc0)->b = 4;   /* capacity 4 */
    starts(&t, 3);
    ev(&t, 3, TG_EV_RELEASE, TG_PROBE_SEND, 0, 0xc0, 0);   /* old channel */
    ev(&t, 3, TG_EV_ACQUIRE, 0, 0, 0xd0, 0);                /* 2 took it */
    wr(&t, 3, X, 8, 0x2000);
    ev(&t, 3, TG_EV_RELEASE, TG_PROBE_SEND, 0, 0xc0, 0);   /* new channel */
    ev(&t, 2, TG_EV_ACQUIRE, TG_PROBE_RECV, 0, 0xc0, 0);
    ev(&t, 2, TG_EV_RELEASE, 0, 0, 0xd0, 0);
    ev(&t, 2, TG_EV_ACQUIRE, TG_PROBE_RECV, 0, 0xc0, 0);
    rd(&t, 2, X, 8, 0x1000);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, waitgroup_wait_waits_for_every_done_of_its_generation)
{
    struct tl t;
    tl_init(&t, 4);
    starts(&t, 4);
    ev(&t, 1, TG_EV_ACQUIRE, TG_PROBE_WG_WAIT, 0, 0x3000, 0);
    rd(&t, 1, X, 8, 0x900);
    rd(&t, 1, X + 8, 8, 0x901);
    wr(&t, 2, X, 8, 0x1000);
    ev(&t, 2, TG_EV_RELEASE, TG_PROBE_WG_ADD, 0, 0x3000, 0);
    wr(&t, 3, X + 8, 8, 0x2000);
    ev(&t, 3, TG_EV_RELEASE, TG_PROBE_WG_ADD, 0, 0x3000, 0);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, freed_memory_starts_afresh_for_its_next_owner)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    wr(&t, 2, X, 8, 0x1000);
    ev(&t, 2, TG_EV_FREE, 0, 0, X, 16);
    ev(&t, 2, TG_EV_RELEASE, RACE_SYNC_ATOMIC, 0, 0x888, 1);
    ev(&t, 3, TG_EV_ACQUIRE, RACE_SYNC_ATOMIC, 0, 0x888, 1);
    ev(&t, 3, TG_EV_ALLOC, 0, 0, X, 16);
    wr(&t, 3, X, 8, 0x2000);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, a_pair_of_sites_is_reported_once)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    for (int i = 0; i < 10; i++) {
        wr(&t, 2, X + 8 * (uint64_t)i, 8, 0x1000);
        wr(&t, 3, X + 8 * (uint64_t)i, 8, 0x2000);
    }
    struct race_stats st;
    cr_assert_eq(check(&t, &st), 1);
    cr_assert_eq(st.races, 10);
    cr_assert_eq(st.accesses, 20);
    cr_assert_eq(st.word_checks, 20);
}

/* A range access is one access of every word it touches (the bench's
 * analyzer speed counts both); it races where it meets a word access. */
Test(race, a_range_is_one_access_checked_word_by_word)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    ev(&t, 2, TG_EV_WRITE, 0, TG_EVF_RANGE, X + 4, 64);   /* 9 words, unaligned */
    wr(&t, 3, X + 64, 4, 0x2000);
    struct race_stats st;
    cr_assert_eq(check(&t, &st), 1);
    cr_assert_eq(st.accesses, 2);
    cr_assert_eq(st.word_checks, 10);
}

Test(race, ignored_region_and_benign_range_are_not_reported)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    ev(&t, 2, TG_EV_IGNORE_BEGIN, 0, 0, 0, 0);
    wr(&t, 2, X, 8, 0x1000);
    ev(&t, 2, TG_EV_IGNORE_END, 0, 0, 0, 0);
    wr(&t, 3, X, 8, 0x2000);
    ev(&t, 1, TG_EV_BENIGN, 0, 0, X + 64, 8);
    wr(&t, 2, X + 64, 8, 0x1001);
    wr(&t, 3, X + 64, 8, 0x2001);
    cr_assert_eq(check(&t, NULL), 0);
}

Test(race, a_release_that_never_comes_does_not_hang_the_replay, .timeout = 30)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    ev(&t, 2, TG_EV_LOCK, 0, 0, 0x500, 7);        /* 7 unlocks never logged */
    wr(&t, 2, X, 8, 0x1000);
    wr(&t, 3, X, 8, 0x2000);
    struct race_stats st;
    cr_assert_eq(check(&t, &st), 1);
    cr_assert_geq(st.forced, 1);
}

Test(race, a_log_without_race_mode_gives_no_findings)
{
    struct tl t;
    tl_init(&t, 3);
    t.b.h->flags = TG_LOGF_FULL;
    starts(&t, 3);
    wr(&t, 2, X, 8, 0x1000);
    wr(&t, 3, X, 8, 0x2000);
    struct an_report *rep = lb_analyze(&t.b, NULL);
    cr_assert(rep);
    cr_assert_eq(rep->counts[AN_RACE], 0);
    report_free(rep);
    lb_free(&t.b);
}

Test(race, race_findings_carry_both_accesses_and_a_location)
{
    struct tl t;
    tl_init(&t, 3);
    starts(&t, 3);
    wr(&t, 2, X, 8, 0x1000);
    rd(&t, 3, X, 8, 0x2000);
    struct an_report *rep = lb_analyze(&t.b, NULL);
    cr_assert(rep);
    cr_assert_eq(rep->counts[AN_RACE], 1);
    struct an_finding *f = NULL;
    for (size_t i = 0; i < rep->nfindings; i++)
        if (rep->findings[i]->kind == AN_RACE)
            f = rep->findings[i];
    cr_assert(f);
    cr_assert_eq(f->naccesses, 2);
    cr_assert_eq(f->accesses[0].addr, X);
    cr_assert(f->location && strstr(f->location, "heap or stack"));
    cr_assert_eq(f->nthreads, 2);
    report_free(rep);
    lb_free(&t.b);
}

/* ---- races found in the process (TG_FIND_RACE records) ------------------ */

/* Code and data of this binary stand for the program's: a record's
 * stacks are return addresses taken here, so they symbolize to these
 * functions and lines. */
long race_test_global;
static int writer_line, reader_line, alloc_line, other_line;

static __attribute__((noinline)) uint64_t here(void)
{
    return (uint64_t)__builtin_return_address(0);
}

static __attribute__((noinline)) uint64_t writer_site(void)
{
    writer_line = __LINE__ + 1;
    uint64_t pc = here();
    __asm__ volatile("" ::: "memory");
    return pc;
}

static __attribute__((noinline)) uint64_t reader_site(void)
{
    reader_line = __LINE__ + 1;
    uint64_t pc = here();
    __asm__ volatile("" ::: "memory");
    return pc;
}

static __attribute__((noinline)) uint64_t alloc_site(void)
{
    alloc_line = __LINE__ + 1;
    uint64_t pc = here();
    __asm__ volatile("" ::: "memory");
    return pc;
}

static __attribute__((noinline)) uint64_t other_site(void)
{
    other_line = __LINE__ + 1;
    uint64_t pc = here();
    __asm__ volatile("" ::: "memory");
    return pc;
}

#define BLOCK 0x7f0000100000ull   /* a heap block: in no module */

/* A log of pid checked for races in the process, in flight mode (race=1
 * does not imply full mode), main and two threads, the test binary as its
 * module. */
static void rec_log(struct lb *b, int pid)
{
    lb_init_sized(b, pid, 16, 16, 4, 2);
    b->h->flags = TG_LOGF_RACE_CHECK;
    lb_self_module(b, NULL);
    for (int i = 1; i <= 3; i++)
        lb_thread(b, i == 1 ? TG_THRF_MAIN : TG_THRF_JOINED, TG_TS_EXITED,
                  0)->parent = i == 1 ? 0 : 1;
}

/* A record as the shim writes it: thread 3 writes 4 bytes at later,
 * racing with thread 2's read of 4 bytes at earlier; the stacks' first
 * frame is the access. */
static struct tg_log_finding *rec_race(struct lb *b, uint64_t later,
                                       uint64_t earlier)
{
    struct tg_log_finding *f = lb_finding(b, TG_FIND_RACE);
    f->thread = 3;
    f->thread2 = 2;
    f->value = later;
    f->obj = earlier;
    f->subkind = TG_RACE_ACC(4, true, false) |
                 TG_RACE_ACC(4, false, false) << 16;
    uint64_t w[2] = { writer_site(), here() };
    f->stack = lb_stack_v(b, 2, w);
    f->stack2 = lb_stack1(b, reader_site());
    f->nthreads = 1;                 /* threads[0]: no heap block known */
    f->time_ns = 5000;
    return f;
}

/* Analyzes the logs as `tangle report` does (suppressions text may be
 * NULL) and returns the report as parsed JSON; *out keeps the text. */
static struct mj *report_of(struct lb *logs, size_t n, const char *supp,
                            struct an_report **repp)
{
    struct an_options o;
    report_options_init(&o);
    struct an_report *rep = report_new();
    for (size_t i = 0; i < n; i++) {
        struct tlog *log;
        char *err = NULL;
        cr_assert_eq(tlog_open_mem(logs[i].buf, logs[i].size, "rec.tlog",
                                   &log, &err), 0, "%s", err ? err : "");
        report_add_log(rep, log, &o)->order = i;
        tlog_close(log);
    }
    struct an_suppressions *s = NULL;
    if (supp) {
        char *err = NULL;
        s = suppress_parse(supp, "t.supp", &err);
        cr_assert_not_null(s, "%s", err);
    }
    report_finish(rep, s);
    suppress_free(s);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_json(f, rep, &o);
    fclose(f);
    struct mj *j = mj_parse(buf);
    cr_assert_not_null(j, "invalid JSON:\n%s", buf);
    free(buf);
    *repp = rep;
    return j;
}

static char *hex(uint64_t v)
{
    static char buf[4][32];
    static int k;
    char *s = buf[k++ & 3];
    snprintf(s, 32, "0x%" PRIx64, v);
    return s;
}

Test(race, in_process_record_is_a_race_finding_with_both_accesses_block_and_locks)
{
    struct lb b;
    rec_log(&b, 300);
    struct tg_log_finding *f = rec_race(&b, BLOCK + 8, BLOCK + 10);
    f->nthreads = 4;
    f->threads[0] = (struct tg_log_finding_thread){
        .thread = 1, .wait_stack = lb_stack1(&b, alloc_site()),
        .wait_obj = BLOCK, .holder = 0, .wait_op = 64 };
    f->threads[1] = (struct tg_log_finding_thread){ .wait_obj = 0x5000,
                                                    .wait_op = 0 };
    f->threads[2] = (struct tg_log_finding_thread){ .wait_obj = 0x6000,
                                                    .wait_op = 1 };
    f->threads[3] = (struct tg_log_finding_thread){ .wait_obj = 0x7000,
                                                    .wait_op = 1 };
    struct an_report *rep;
    struct mj *j = report_of(&b, 1, NULL, &rep);

    cr_assert_eq(mj_num(j, "summary.race"), 1);
    cr_assert_eq(mj_num(j, "summary.total"), 1);
    cr_assert_str_eq(mj_str(j, "findings.0.kind"), "race");
    cr_assert_eq(mj_num(j, "findings.0.pid"), 300);
    cr_assert_eq(mj_num(j, "findings.0.threads.0.id"), 3);
    cr_assert_eq(mj_num(j, "findings.0.threads.1.id"), 2);
    cr_assert_null(mj_get(j, "findings.0.threads.2"));
    /* the later access: thread 3's write, its locks, the access first */
    cr_assert_eq(mj_num(j, "findings.0.accesses.0.thread"), 3);
    cr_assert(mj_get(j, "findings.0.accesses.0.write")->b);
    cr_assert_eq(mj_num(j, "findings.0.accesses.0.size"), 4);
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.0.address"), hex(BLOCK + 8));
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.0.stack.0.function"),
                     "writer_site");
    cr_assert_eq(mj_num(j, "findings.0.accesses.0.stack.0.line"), writer_line);
    cr_assert(strstr(mj_str(j, "findings.0.accesses.0.stack.0.file"),
                     "test_race.c"));
    cr_assert_not_null(mj_get(j, "findings.0.accesses.0.stack.1"));
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.0.locks.0"), "0x5000");
    cr_assert_null(mj_get(j, "findings.0.accesses.0.locks.1"));
    /* the earlier: thread 2's read, holding two locks */
    cr_assert_eq(mj_num(j, "findings.0.accesses.1.thread"), 2);
    cr_assert_not(mj_get(j, "findings.0.accesses.1.write")->b);
    cr_assert_eq(mj_num(j, "findings.0.accesses.1.size"), 4);
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.1.address"), hex(BLOCK + 10));
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.1.stack.0.function"),
                     "reader_site");
    cr_assert_eq(mj_num(j, "findings.0.accesses.1.stack.0.line"), reader_line);
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.1.locks.0"), "0x6000");
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.1.locks.1"), "0x7000");
    /* the block, its offset and where it was allocated */
    const char *loc = mj_str(j, "findings.0.location");
    char want[256];
    snprintf(want, sizeof want, "heap block of 64 bytes at %s (offset 10), "
             "allocated by thread 1 in alloc_site at ", hex(BLOCK));
    cr_assert(strstr(loc, want), "%s", loc);
    snprintf(want, sizeof want, "test_race.c:%d", alloc_line);
    cr_assert(strstr(loc, want), "%s", loc);
    cr_assert(strstr(mj_str(j, "findings.0.message"), "write of size 4 by "
                     "thread 3, read of size 4 by thread 2"),
              "%s", mj_str(j, "findings.0.message"));
    /* a race-mode log in flight mode: nothing to warn about */
    cr_assert_null(mj_get(j, "processes.0.errors.0"));
    report_free(rep);
    lb_free(&b);
}

Test(race, in_process_record_reads_the_same_in_text_and_sarif)
{
    struct lb b;
    rec_log(&b, 301);
    rec_race(&b, BLOCK, BLOCK);
    struct an_report *rep;
    report_of(&b, 1, NULL, &rep);
    struct an_options o;
    report_options_init(&o);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_text(f, rep, &o);
    fclose(f);
    char want[128];
    snprintf(want, sizeof want, "  write of size 4 at %s by thread 3:\n"
             "    #0 writer_site ", hex(BLOCK));
    cr_assert(strstr(buf, want), "%s", buf);
    snprintf(want, sizeof want, "  read of size 4 at %s by thread 2:\n"
             "    #0 reader_site ", hex(BLOCK));
    cr_assert(strstr(buf, want), "%s", buf);
    cr_assert(strstr(buf, "  location: heap or stack memory\n"), "%s", buf);
    cr_assert(strstr(buf, "1 finding (1 race)"), "%s", buf);
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    report_sarif(f, rep, &o);
    fclose(f);
    struct mj *s = mj_parse(buf);
    cr_assert_not_null(s, "invalid SARIF:\n%s", buf);
    cr_assert_str_eq(mj_str(s, "runs.0.results.0.ruleId"), "race");
    cr_assert(strstr(buf, "\"DataRace\""));
    cr_assert(strstr(buf, "writer_site") && strstr(buf, "reader_site"));
    free(buf);
    report_free(rep);
    lb_free(&b);
}

Test(race, in_process_record_names_a_global_or_a_thread_stack)
{
    struct lb b;
    rec_log(&b, 302);
    rec_race(&b, (uint64_t)(uintptr_t)&race_test_global,
             (uint64_t)(uintptr_t)&race_test_global);
    struct tg_log_finding *f = rec_race(&b, 0x7ffd0000f000ull,
                                        0x7ffd0000f000ull);
    f->stack2 = lb_stack1(&b, other_site());   /* another pair of lines */
    f->obj_id = 2;
    struct an_report *rep;
    struct mj *j = report_of(&b, 1, NULL, &rep);
    cr_assert_eq(mj_num(j, "summary.race"), 2);
    bool global = false, stack = false;
    for (int i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "findings.%d.location", i);
        const char *loc = mj_str(j, path);
        global |= strcmp(loc, "global 'race_test_global'") == 0;
        stack |= strcmp(loc, "stack of thread 2") == 0;
    }
    cr_assert(global && stack);
    report_free(rep);
    lb_free(&b);
}

Test(race, a_pair_of_lines_is_one_finding_across_records_and_processes)
{
    struct lb b[2];
    rec_log(&b[1], 320);
    rec_race(&b[1], BLOCK, BLOCK);
    rec_log(&b[0], 310);
    rec_race(&b[0], BLOCK, BLOCK);
    /* the same lines again: other addresses, write-write, sides swapped */
    struct tg_log_finding *f = rec_race(&b[0], BLOCK + 64, BLOCK + 64);
    f->subkind = TG_RACE_ACC(8, true, false) | TG_RACE_ACC(8, true, false) << 16;
    uint32_t s = f->stack;
    f->stack = f->stack2;
    f->stack2 = s;
    f->thread = 2;
    f->thread2 = 3;
    /* and a race between two other lines */
    rec_race(&b[0], BLOCK + 128, BLOCK + 128)->stack2 =
        lb_stack1(&b[0], other_site());
    struct an_report *rep;
    struct mj *j = report_of(b, 2, NULL, &rep);
    cr_assert_eq(mj_num(j, "summary.race"), 2);
    /* the repeat stays with the first process in report order (pid 310),
     * though its log came second */
    cr_assert_eq(mj_num(j, "findings.0.pid"), 310);
    cr_assert_eq(mj_num(j, "findings.1.pid"), 310);
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.0.address"), hex(BLOCK));
    cr_assert_str_eq(mj_str(j, "findings.1.accesses.1.stack.0.function"),
                     "other_site");
    cr_assert_null(mj_get(j, "findings.2"));
    report_free(rep);
    lb_free(&b[0]);
    lb_free(&b[1]);
}

Test(race, races_at_unplaced_code_or_without_stacks_are_told_apart)
{
    struct lb b;
    rec_log(&b, 340);
    /* pcs in no module: keyed by pc, not all one "?" */
    struct tg_log_finding *f = rec_race(&b, BLOCK, BLOCK);
    f->stack = lb_stack1(&b, 0x1000);
    f->stack2 = lb_stack1(&b, 0x2000);
    f = rec_race(&b, BLOCK + 8, BLOCK + 8);
    f->stack = lb_stack1(&b, 0x1100);
    f->stack2 = lb_stack1(&b, 0x2000);
    /* no stacks at all (the table was full): keyed by the addresses */
    f = rec_race(&b, BLOCK + 16, BLOCK + 16);
    f->stack = f->stack2 = 0;
    f = rec_race(&b, BLOCK + 24, BLOCK + 24);
    f->stack = f->stack2 = 0;
    struct an_report *rep;
    struct mj *j = report_of(&b, 1, NULL, &rep);
    cr_assert_eq(mj_num(j, "summary.race"), 4);
    report_free(rep);

    f = rec_race(&b, BLOCK + 32, BLOCK + 32);
    f->stack = lb_stack1(&b, 0x1100);
    f->stack2 = lb_stack1(&b, 0x2000);
    j = report_of(&b, 1, NULL, &rep);           /* a repeat is still one */
    cr_assert_eq(mj_num(j, "summary.race"), 4);
    report_free(rep);
    lb_free(&b);
}

Test(race, a_race_found_offline_and_in_process_is_one_finding)
{
    struct tl t;
    tl_init(&t, 3);
    lb_self_module(&t.b, NULL);
    for (uint32_t id = 2; id <= 3; id++)
        ((struct tg_log_thread *)(t.b.buf + t.b.h->sec[TG_SEC_THREADS].offset))
            [id - 1].flags |= TG_THRF_JOINED;
    starts(&t, 3);
    /* the offline event's pc is the return address of the __tsan_* call */
    wr(&t, 3, BLOCK, 4, writer_site());
    rd(&t, 2, BLOCK, 4, reader_site());
    struct an_report *rep;
    struct mj *j = report_of(&t.b, 1, NULL, &rep);
    cr_assert_eq(mj_num(j, "summary.total"), 1);
    cr_assert_eq(mj_num(j, "summary.race"), 1);  /* found by the replay */
    cr_assert_eq(mj_num(j, "findings.0.accesses.0.stack.0.line"), writer_line);
    report_free(rep);

    rec_race(&t.b, BLOCK, BLOCK);                 /* and by the shim */
    j = report_of(&t.b, 1, NULL, &rep);
    cr_assert_eq(mj_num(j, "summary.total"), 1);
    cr_assert_eq(mj_num(j, "summary.race"), 1);
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.0.stack.0.function"),
                     "writer_site");
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.1.stack.0.function"),
                     "reader_site");
    report_free(rep);
    lb_free(&t.b);
}

Test(race, race_suppression_applies_to_in_process_records)
{
    struct lb b;
    rec_log(&b, 330);
    rec_race(&b, BLOCK, BLOCK);
    rec_race(&b, BLOCK + 8, BLOCK + 8)->stack2 = lb_stack1(&b, other_site());
    struct an_report *rep;
    struct mj *j = report_of(&b, 1, "race:other_site\n", &rep);
    cr_assert_eq(mj_num(j, "summary.race"), 1);
    cr_assert_eq(mj_num(j, "summary.suppressed"), 1);
    cr_assert_str_eq(mj_str(j, "suppressed.0.kind"), "race");
    cr_assert_str_eq(mj_str(j, "suppressed.0.suppressed_by"), "race:other_site");
    cr_assert_str_eq(mj_str(j, "findings.0.accesses.1.stack.0.function"),
                     "reader_site");
    report_free(rep);
    lb_free(&b);
}

Test(race, flight_mode_race_log_is_not_replayed_nor_warned_about)
{
    /* in-process checking, and a race flag without full mode: neither
     * stream carries accesses for the replay to check */
    static const uint32_t flags[] = {
        TG_LOGF_RACE_CHECK, TG_LOGF_RACE_CHECK | TG_LOGF_FULL, TG_LOGF_RACE,
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        struct tl t;
        tl_init(&t, 3);
        t.b.h->flags = flags[i];
        starts(&t, 3);
        /* releases these acquisitions pair with are not in the log */
        ev(&t, 2, TG_EV_LOCK, 0, 0, 0x500, 7);
        ev(&t, 3, TG_EV_ACQUIRE, RACE_SYNC_ATOMIC, TG_EVF_ATOMIC, 0x777, 3);
        rec_race(&t.b, BLOCK, BLOCK);
        struct an_report *rep = lb_analyze(&t.b, NULL);
        cr_assert(rep);
        cr_assert_eq(rep->procs[0]->nerrors, 0, "flags %u: %s", flags[i],
                     rep->procs[0]->errors[0]);
        cr_assert_eq(rep->counts[AN_RACE], 1, "flags %u", flags[i]);
        report_free(rep);
        lb_free(&t.b);
    }
}
