/*
 * test_leaks.c: leak, unjoined and lost-cancel findings, and what must not
 * be reported (tangle's own threads, the test runner's, the main thread,
 * finished and joined threads, a still-running process).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "analyzer.h"
#include "logbuild.h"

static struct lb base_log(void)
{
    struct lb b;
    lb_init(&b, 42);
    b.h->end_ns = 10000000000ull;
    lb_thread(&b, TG_THRF_MAIN, TG_TS_RUNNING, 0);
    return b;
}

static struct tg_log_thread *blocked(struct lb *b, uint32_t op,
                                     uint32_t create_stack)
{
    struct tg_log_thread *t = lb_thread(b, 0, TG_TS_BLOCKED, op);
    t->wait_since_ns = 8800000000ull;            /* 1.2 s before the end */
    t->create_stack = create_stack;
    t->start_routine = 0x4000;
    return t;
}

Test(leaks, thread_blocked_at_exit_is_a_leak_with_state_and_duration)
{
    struct lb b = base_log();
    lb_object(&b, TG_LOBJ_CHAN, 0xc0);
    struct tg_log_thread *t = blocked(&b, TG_WAIT_CHAN_SEND, lb_stack1(&b, 0x10));
    t->wait_obj = 0xc0;
    t->wait_stack = lb_stack1(&b, 0x20);
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->kind, AN_LEAK);
    cr_assert_eq(f->count, 1);
    cr_assert_str_eq(f->threads[0].state, "chan send");
    cr_assert_eq(f->threads[0].blocked_ns, 1200000000);
    cr_assert(f->threads[0].object.present);
    cr_assert_str_eq(f->threads[0].object.kind, "chan");
    cr_assert_eq(f->threads[0].object.addr, 0xc0);
    cr_assert_eq(f->threads[0].stack.frames[0].pc, 0x20);
    cr_assert(f->threads[0].has_created_by);
    cr_assert_eq(f->threads[0].created_by, 1);
    cr_assert_eq(f->threads[0].created_stack.frames[0].pc, 0x10);
    cr_assert_str_eq(f->message, "1 thread still running at exit: blocked "
                     "in chan send for 1.2s");
    report_free(rep);
    lb_free(&b);
}

Test(leaks, threads_sharing_creation_stack_and_state_are_one_finding)
{
    struct lb b = base_log();
    uint32_t cs = lb_stack1(&b, 0x10), other = lb_stack1(&b, 0x11);
    for (int i = 0; i < 5; i++)
        blocked(&b, TG_WAIT_CHAN_RECV, cs);
    blocked(&b, TG_WAIT_MUTEX, cs);              /* other state */
    blocked(&b, TG_WAIT_CHAN_RECV, other);       /* other creation stack */
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 3);
    cr_assert_eq(rep->counts[AN_LEAK], 3);
    size_t five = 0;
    for (size_t i = 0; i < rep->nfindings; i++)
        if (rep->findings[i]->count == 5) {
            five++;
            cr_assert_eq(rep->findings[i]->nthreads, 5);
            cr_assert(strstr(rep->findings[i]->message, "5 threads"));
        }
    cr_assert_eq(five, 1);
    report_free(rep);
    lb_free(&b);
}

Test(leaks, internal_foreign_main_and_exiting_threads_are_not_leaks)
{
    struct lb b = base_log();
    lb_thread(&b, TG_THRF_INTERNAL, TG_TS_BLOCKED, TG_WAIT_SLEEP);
    lb_thread(&b, TG_THRF_FOREIGN, TG_TS_BLOCKED, TG_WAIT_COND);
    struct tg_log_thread *ex = lb_thread(&b, 0, TG_TS_RUNNING, 0);
    b.h->exit_thread = ex->id;                   /* it called exit() */
    lb_thread(&b, TG_THRF_JOINED, TG_TS_EXITED, 0);
    lb_thread(&b, TG_THRF_DETACHED, TG_TS_EXITED, 0);
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 0, "got %s",
                 rep->nfindings ? rep->findings[0]->message : "");
    report_free(rep);
    lb_free(&b);
}

Test(leaks, finished_thread_never_joined_is_unjoined)
{
    struct lb b = base_log();
    struct tg_log_thread *t = lb_thread(&b, 0, TG_TS_EXITED, 0);
    t->create_stack = lb_stack1(&b, 0x10);
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 1);
    cr_assert_eq(rep->findings[0]->kind, AN_UNJOINED);
    cr_assert_str_eq(rep->findings[0]->threads[0].state, "exited");
    report_free(rep);
    lb_free(&b);
}

Test(leaks, cancelable_context_never_cancelled_is_a_lost_cancel)
{
    struct lb b = base_log();
    struct tg_log_object *o = lb_object(&b, TG_LOBJ_CTX, 0xc7);
    o->flags = TG_OBJF_CANCELABLE;
    o->create_stack = lb_stack1(&b, 0x30);
    /* Not reported: cancelled, expired, background, deadline passed. */
    lb_object(&b, TG_LOBJ_CTX, 0xd1)->flags = TG_OBJF_CANCELABLE |
                                               TG_OBJF_CANCELED;
    lb_object(&b, TG_LOBJ_CTX, 0xd2)->flags = TG_OBJF_CANCELABLE |
                                               TG_OBJF_EXPIRED;
    lb_object(&b, TG_LOBJ_CTX, 0xd3);
    struct tg_log_object *past = lb_object(&b, TG_LOBJ_CTX, 0xd4);
    past->flags = TG_OBJF_CANCELABLE;
    past->b = 5000000000ull;                     /* before end_ns */
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->kind, AN_LOST_CANCEL);
    cr_assert_eq(f->objects[0].addr, 0xc7);
    cr_assert_str_eq(f->objects[0].kind, "ctx");
    cr_assert_eq(f->stack.frames[0].pc, 0x30);
    report_free(rep);
    lb_free(&b);
}

Test(leaks, running_process_gives_notes_not_findings)
{
    struct lb b = base_log();
    b.h->proc_state = TG_PROC_RUNNING;
    b.h->end_ns = 0;
    struct tg_log_thread *t = blocked(&b, TG_WAIT_CHAN_SEND, 0);
    t->wait_since_ns = 1;                        /* blocked for ages */
    lb_thread(&b, 0, TG_TS_EXITED, 0);           /* may still be joined */
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 0);
    cr_assert_eq(rep->nnotes, 1);
    cr_assert(strstr(rep->notes[0]->message, "still running"));
    report_free(rep);
    lb_free(&b);
}

Test(leaks, checkpoint_records_become_one_leak_per_checkpoint)
{
    struct lb b = base_log();
    struct tg_log_thread *t = blocked(&b, TG_WAIT_CHAN_RECV, 0);
    struct tg_log_thread *u = lb_thread(&b, 0, TG_TS_EXITED, TG_WAIT_NONE);
    u->flags |= TG_THRF_JOINED;
    struct tg_log_finding *r = lb_finding(&b, TG_FIND_LEAK);
    r->value = 1;
    r->nthreads = 2;
    r->threads[0].thread = t->id;
    r->threads[0].wait_op = TG_WAIT_CHAN_RECV;
    r->threads[1].thread = u->id;
    r->threads[1].wait_op = TG_WAIT_MUTEX;
    struct an_report *rep = lb_analyze(&b, NULL);
    /* The checkpoint leak; thread t is not reported again at exit. */
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->kind, AN_LEAK);
    cr_assert_eq(f->count, 2);
    cr_assert(strstr(f->message, "checkpoint 1"));
    cr_assert_str_eq(f->threads[1].state, "mutex lock",
                     "the state at the checkpoint, not at exit");
    report_free(rep);
    lb_free(&b);
}

Test(leaks, threads_of_a_deadlock_finding_are_not_also_leaks)
{
    struct lb b = base_log();
    b.h->proc_state = TG_PROC_DEADLOCKED;
    struct tg_log_thread *t2 = blocked(&b, TG_WAIT_MUTEX, 0);
    struct tg_log_thread *t3 = blocked(&b, TG_WAIT_MUTEX, 0);
    struct tg_log_finding *r = lb_finding(&b, TG_FIND_DEADLOCK);
    r->nthreads = 2;
    r->threads[0].thread = t2->id;
    r->threads[1].thread = t3->id;
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->counts[AN_LEAK], 0);
    cr_assert_eq(rep->counts[AN_DEADLOCK], 1);
    report_free(rep);
    lb_free(&b);
}

Test(leaks, hang_snapshot_lists_every_program_thread)
{
    struct lb b = base_log();
    b.h->proc_state = TG_PROC_RUNNING;
    blocked(&b, TG_WAIT_JOIN, 0);
    lb_thread(&b, TG_THRF_INTERNAL, TG_TS_BLOCKED, TG_WAIT_SLEEP);
    struct an_options o;
    report_options_init(&o);
    o.hang = true;
    o.timeout_ns = 5000000000;
    struct an_report *rep = lb_analyze(&b, &o);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->kind, AN_HANG);
    cr_assert_eq(f->nthreads, 2, "main and the joiner, not tangle's own");
    cr_assert_str_eq(f->threads[1].state, "join");
    cr_assert(strstr(f->message, "did not finish within 5.0s"), "%s",
              f->message);
    report_free(rep);
    lb_free(&b);
}
