/*
 * test_misuse.c: misuse findings: the subkind names of the report format,
 * both stacks, the object, and a repeated mistake counted once.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "analyzer.h"
#include "logbuild.h"

static struct lb one_thread(void)
{
    struct lb b;
    lb_init(&b, 9);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_RUNNING, 0);
    return b;
}

Test(misuse, send_on_closed_channel_has_both_stacks_and_the_channel)
{
    struct lb b = one_thread();
    struct tg_log_object *ch = lb_object(&b, TG_LOBJ_CHAN, 0xc0);
    struct tg_log_finding *r = lb_finding(&b, TG_FIND_MISUSE);
    r->subkind = TG_MIS_SEND_CLOSED;
    r->thread = 1;
    r->obj = 0xc0;
    r->obj_id = ch->id;
    r->stack = lb_stack1(&b, 0x111);
    r->stack2 = lb_stack1(&b, 0x222);
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->kind, AN_MISUSE);
    cr_assert_str_eq(f->subkind, "send-on-closed");
    cr_assert_eq(f->stack.frames[0].pc, 0x111);
    cr_assert_eq(f->related_stack.frames[0].pc, 0x222);
    cr_assert_str_eq(f->objects[0].kind, "chan");
    cr_assert(strstr(f->message, "send on closed channel 0xc0"));
    report_free(rep);
    lb_free(&b);
}

Test(misuse, every_subkind_has_the_documented_name)
{
    static const char *const names[] = {
        NULL, "unlock-not-held", "unlock-foreign", "relock",
        "destroy-locked", "destroy-waited", "exit-holding-lock",
        "cond-wait-unlocked", "cond-two-mutexes", "wg-negative",
        "send-on-closed", "double-close", "free-busy",
    };
    for (uint32_t k = 1; k < TG_MIS_COUNT; k++)
        cr_assert_str_eq(an_misuse_name(k), names[k]);
}

Test(misuse, the_same_mistake_in_a_loop_is_one_finding_with_a_count)
{
    struct lb b = one_thread();
    lb_object(&b, TG_LOBJ_MUTEX, 0xa0);
    uint32_t st = lb_stack1(&b, 0x111);
    for (int i = 0; i < 4; i++) {
        struct tg_log_finding *r = lb_finding(&b, TG_FIND_MISUSE);
        r->subkind = TG_MIS_UNLOCK_NOT_HELD;
        r->thread = 1;
        r->obj = 0xa0;
        r->stack = st;
    }
    struct tg_log_finding *r = lb_finding(&b, TG_FIND_MISUSE);
    r->subkind = TG_MIS_RELOCK;
    r->thread = 1;
    r->obj = 0xa0;
    r->stack = st;
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 2);
    cr_assert_str_eq(rep->findings[0]->subkind, "unlock-not-held");
    cr_assert_eq(rep->findings[0]->count, 4);
    cr_assert(strstr(rep->findings[0]->message, "4 times"));
    cr_assert_str_eq(rep->findings[1]->subkind, "relock");
    report_free(rep);
    lb_free(&b);
}

Test(misuse, unlock_foreign_names_the_owner_thread)
{
    struct lb b = one_thread();
    lb_thread(&b, TG_THRF_JOINED, TG_TS_EXITED, 0);
    lb_object(&b, TG_LOBJ_MUTEX, 0xa0);
    struct tg_log_finding *r = lb_finding(&b, TG_FIND_MISUSE);
    r->subkind = TG_MIS_UNLOCK_FOREIGN;
    r->thread = 1;
    r->thread2 = 2;
    r->obj = 0xa0;
    struct an_report *rep = lb_analyze(&b, NULL);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->nthreads, 2);
    cr_assert_eq(f->threads[1].id, 2);
    cr_assert(strstr(f->message, "held by thread 2"), "%s", f->message);
    report_free(rep);
    lb_free(&b);
}

Test(misuse, free_busy_without_a_recorded_stack_uses_the_waiters_stack)
{
    struct lb b = one_thread();
    lb_object(&b, TG_LOBJ_CHAN, 0xc0);
    struct tg_log_thread *w = lb_thread(&b, 0, TG_TS_BLOCKED,
                                        TG_WAIT_CHAN_RECV);
    w->wait_obj = 0xc0;
    w->wait_stack = lb_stack1(&b, 0x333);
    struct tg_log_finding *r = lb_finding(&b, TG_FIND_MISUSE);
    r->subkind = TG_MIS_CHAN_FREE_BUSY;
    r->thread = 1;
    r->obj = 0xc0;
    r->stack = lb_stack1(&b, 0x111);
    struct an_report *rep = lb_analyze(&b, NULL);
    struct an_finding *f = NULL;
    for (size_t i = 0; i < rep->nfindings; i++)
        if (rep->findings[i]->kind == AN_MISUSE)
            f = rep->findings[i];
    cr_assert_not_null(f);
    cr_assert_str_eq(f->subkind, "free-busy");
    cr_assert_eq(f->related_stack.n, 1);
    cr_assert_eq(f->related_stack.frames[0].pc, 0x333);
    cr_assert_eq(f->nthreads, 2);
    cr_assert_eq(f->threads[1].id, w->id);
    report_free(rep);
    lb_free(&b);
}
