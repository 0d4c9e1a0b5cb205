/*
 * test_deadlock.c: deadlock findings from the watchdog's records: every
 * thread with what it waits in, on what, held by whom; one finding per
 * distinct set of threads however often the watchdog saw it.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "analyzer.h"
#include "logbuild.h"

static void two_thread_cycle(struct lb *b, struct tg_log_finding *r)
{
    r->nthreads = 2;
    r->time_ns = 9000000000ull;
    r->threads[0] = (struct tg_log_finding_thread){ 2, TG_WAIT_MUTEX, 0, 3,
                                                    0xb0 };
    r->threads[1] = (struct tg_log_finding_thread){ 3, TG_WAIT_MUTEX, 0, 2,
                                                    0xa0 };
    (void)b;
}

static struct lb deadlocked(void)
{
    struct lb b;
    lb_init(&b, 7);
    b.h->proc_state = TG_PROC_DEADLOCKED;
    lb_thread(&b, TG_THRF_MAIN, TG_TS_BLOCKED, TG_WAIT_JOIN);
    for (int i = 0; i < 2; i++) {
        struct tg_log_thread *t = lb_thread(&b, 0, TG_TS_BLOCKED,
                                            TG_WAIT_MUTEX);
        t->wait_since_ns = 8000000000ull;
    }
    lb_object(&b, TG_LOBJ_MUTEX, 0xa0)->create_stack = lb_stack1(&b, 0x50);
    lb_object(&b, TG_LOBJ_MUTEX, 0xb0);
    return b;
}

Test(deadlock, wait_for_cycle_lists_each_thread_its_lock_and_holder)
{
    struct lb b = deadlocked();
    struct tg_log_finding *r = lb_finding(&b, TG_FIND_DEADLOCK);
    two_thread_cycle(&b, r);
    r->threads[0].wait_stack = lb_stack1(&b, 0x77);
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->counts[AN_DEADLOCK], 1);
    struct an_finding *f = NULL;
    for (size_t i = 0; i < rep->nfindings; i++)
        if (rep->findings[i]->kind == AN_DEADLOCK)
            f = rep->findings[i];
    cr_assert_not_null(f);
    cr_assert_eq(f->nthreads, 2);
    cr_assert_eq(f->threads[0].id, 2);
    cr_assert_str_eq(f->threads[0].state, "mutex lock");
    cr_assert_eq(f->threads[0].holder, 3);
    cr_assert_eq(f->threads[0].object.addr, 0xb0);
    cr_assert_eq(f->threads[0].blocked_ns, 1000000000);
    cr_assert_eq(f->threads[0].stack.frames[0].pc, 0x77);
    cr_assert_eq(f->threads[1].holder, 2);
    cr_assert_eq(f->threads[1].object.created.frames[0].pc, 0x50);
    cr_assert(strstr(f->message, "thread 2 waits in mutex lock for thread 3"),
              "%s", f->message);
    report_free(rep);
    lb_free(&b);
}

Test(deadlock, the_same_cycle_seen_twice_is_reported_once)
{
    struct lb b = deadlocked();
    two_thread_cycle(&b, lb_finding(&b, TG_FIND_DEADLOCK));
    struct tg_log_finding *again = lb_finding(&b, TG_FIND_DEADLOCK);
    two_thread_cycle(&b, again);
    /* Listed in another order: still the same threads. */
    struct tg_log_finding_thread t = again->threads[0];
    again->threads[0] = again->threads[1];
    again->threads[1] = t;
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->counts[AN_DEADLOCK], 1);
    report_free(rep);
    lb_free(&b);
}

Test(deadlock, all_asleep_is_a_deadlock_naming_every_thread)
{
    struct lb b = deadlocked();
    struct tg_log_finding *r = lb_finding(&b, TG_FIND_ALL_ASLEEP);
    r->nthreads = 3;
    r->threads[0] = (struct tg_log_finding_thread){ 1, TG_WAIT_JOIN, 0, 0, 0 };
    r->threads[1] = (struct tg_log_finding_thread){ 2, TG_WAIT_CHAN_RECV, 0,
                                                    0, 0xc0 };
    r->threads[2] = (struct tg_log_finding_thread){ 3, TG_WAIT_WG, 0, 0, 0xd0 };
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->counts[AN_DEADLOCK], 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->kind, AN_DEADLOCK);
    cr_assert(strstr(f->message, "all threads are asleep"), "%s", f->message);
    cr_assert_str_eq(f->threads[0].state, "join");
    cr_assert(!f->threads[0].object.present, "a join waits on no object");
    cr_assert_str_eq(f->threads[1].state, "chan receive");
    cr_assert_str_eq(f->threads[2].state, "wg wait");
    report_free(rep);
    lb_free(&b);
}
