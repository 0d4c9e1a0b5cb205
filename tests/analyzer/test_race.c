/*
 * test_race.c: unit tests of the race analysis (analyzer/race.c) on logs
 * built in memory: which pairs of accesses race, which synchronization
 * orders them, byte precision, read-shared state, atomics, heap reuse,
 * and that the replay neither depends on the order threads appear in the
 * log nor hangs when a release never comes.
 */
#include <criterion/criterion.h>

#include "analyzer.h"
#include "logbuild.h"
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
