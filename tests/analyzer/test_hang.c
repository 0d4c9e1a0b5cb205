/*
 * test_hang.c: the hang finding of `tangle run --timeout`. One finding per
 * process that had not finished, holding every program thread, with
 * identical threads (same creation stack, start routine and state) kept
 * together so the writers print one of them per group: the text report
 * says "and N more threads like it", the JSON gives one thread object per
 * group with its "count" and member "ids".
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "logbuild.h"
#include "minijson.h"

#define WORKERS 1000

/* A running process: main blocked in join, WORKERS identical workers
 * parked in a channel receive, one other thread blocked on a mutex, and
 * the watchdog (tangle's own, never listed). */
static struct lb hung_log(void)
{
    struct lb b;
    lb_init_sized(&b, 321, WORKERS + 8, 16, 4, 1);
    b.h->proc_state = TG_PROC_RUNNING;
    b.h->end_ns = 0;
    lb_thread(&b, TG_THRF_MAIN, TG_TS_BLOCKED, TG_WAIT_JOIN)->wait_stack =
        lb_stack1(&b, 0x401000);
    uint32_t created = lb_stack1(&b, 0x401100);
    uint32_t parked = lb_stack1(&b, 0x401200);
    for (int i = 0; i < WORKERS; i++) {
        struct tg_log_thread *t = lb_thread(&b, 0, TG_TS_BLOCKED,
                                            TG_WAIT_CHAN_RECV);
        t->create_stack = created;
        t->start_routine = 0x401300;
        t->wait_stack = parked;
        t->wait_obj = 0xc0;
    }
    struct tg_log_thread *o = lb_thread(&b, 0, TG_TS_BLOCKED, TG_WAIT_MUTEX);
    o->create_stack = lb_stack1(&b, 0x401400);
    o->start_routine = 0x401500;
    lb_thread(&b, TG_THRF_INTERNAL, TG_TS_BLOCKED, TG_WAIT_SLEEP);
    lb_object(&b, TG_LOBJ_CHAN, 0xc0);
    return b;
}

static struct an_report *analyze_hung(struct lb *b)
{
    struct an_options o;
    report_options_init(&o);
    o.hang = true;
    o.timeout_ns = 3000000000;
    return lb_analyze(b, &o);
}

static char *render(void (*w)(FILE *, const struct an_report *,
                              const struct an_options *),
                    const struct an_report *rep)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct an_options o;
    report_options_init(&o);
    o.hang = true;
    w(f, rep, &o);
    fclose(f);
    return buf;
}

static size_t occurrences(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

Test(hang, one_finding_keeps_every_thread_with_identical_ones_adjacent)
{
    struct lb b = hung_log();
    struct an_report *rep = analyze_hung(&b);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->kind, AN_HANG);
    cr_assert_eq(f->nthreads, WORKERS + 2, "main, the workers, the other");
    cr_assert_eq(f->count, WORKERS + 2);
    cr_assert_eq(f->threads[0].id, 1, "main's group first");
    for (int i = 1; i <= WORKERS; i++)
        cr_assert_str_eq(f->threads[i].state, "chan receive");
    cr_assert_str_eq(f->threads[WORKERS + 1].state, "mutex lock");
    cr_assert(strstr(f->message, "did not finish within 3.0s"), "%s",
              f->message);
    cr_assert(strstr(f->message, "in 3 groups"), "%s", f->message);
    report_free(rep);
    lb_free(&b);
}

Test(hang, text_prints_one_thread_per_group_and_the_others_ids)
{
    struct lb b = hung_log();
    struct an_report *rep = analyze_hung(&b);
    char *out = render(report_text, rep);
    cr_assert_eq(occurrences(out, "[chan receive"), 1, "%s", out);
    cr_assert_eq(occurrences(out, "[join"), 1, "%s", out);
    cr_assert_eq(occurrences(out, "[mutex lock"), 1, "%s", out);
    cr_assert(strstr(out, "and 999 more threads like it: 3 4 5 "), "%s", out);
    cr_assert(strstr(out, " 18 ...\n"), "16 ids, then an ellipsis:\n%s", out);
    cr_assert_eq(occurrences(out, "like it"), 1, "singletons have no line");
    cr_assert_lt(strlen(out), 4096, "a few lines, not one per thread");
    free(out);
    report_free(rep);
    lb_free(&b);
}

Test(hang, json_gives_one_thread_object_per_group_with_count_and_ids)
{
    struct lb b = hung_log();
    struct an_report *rep = analyze_hung(&b);
    char *out = render(report_json, rep);
    struct mj *j = mj_parse(out);
    cr_assert_not_null(j, "invalid JSON");
    cr_assert_str_eq(mj_str(j, "findings.0.kind"), "hang");
    cr_assert_eq(mj_num(j, "findings.0.count"), WORKERS + 2);
    const struct mj *th = mj_get(j, "findings.0.threads");
    cr_assert_eq(th->type, MJ_ARR);
    cr_assert_eq(th->n, 3, "one object per group");

    cr_assert_eq(mj_num(j, "findings.0.threads.0.id"), 1);
    cr_assert_eq(mj_num(j, "findings.0.threads.0.count"), 1);
    cr_assert_eq(mj_get(j, "findings.0.threads.0.ids")->n, 1);
    cr_assert_eq(mj_num(j, "findings.0.threads.0.ids.0"), 1);
    cr_assert_str_eq(mj_str(j, "findings.0.threads.0.state"), "join");

    cr_assert_eq(mj_num(j, "findings.0.threads.1.id"), 2);
    cr_assert_eq(mj_num(j, "findings.0.threads.1.count"), WORKERS);
    const struct mj *ids = mj_get(j, "findings.0.threads.1.ids");
    cr_assert_eq(ids->n, WORKERS, "every member's id");
    for (size_t i = 0; i < ids->n; i++)
        cr_assert_eq(ids->kids[i].num, (double)(i + 2));
    cr_assert_str_eq(mj_str(j, "findings.0.threads.1.state"), "chan receive");
    cr_assert_str_eq(mj_str(j, "findings.0.threads.1.stack.0.pc"),
                     "0x401200");
    cr_assert_str_eq(mj_str(j, "findings.0.threads.1.object.kind"), "chan");

    cr_assert_eq(mj_num(j, "findings.0.threads.2.id"), WORKERS + 2);
    cr_assert_eq(mj_num(j, "findings.0.threads.2.count"), 1);
    cr_assert_str_eq(mj_str(j, "findings.0.threads.2.state"), "mutex lock");
    cr_assert_lt(strlen(out), 64 * 1024, "ids, not copies of the stacks");
    free(out);
    report_free(rep);
    lb_free(&b);
}

Test(hang, threads_differing_in_state_start_or_creation_are_not_grouped)
{
    struct lb b;
    lb_init_sized(&b, 322, 16, 4, 4, 1);
    b.h->proc_state = TG_PROC_RUNNING;
    b.h->end_ns = 0;
    lb_thread(&b, TG_THRF_MAIN, TG_TS_RUNNING, 0);
    uint32_t cs = lb_stack1(&b, 0x401100), other = lb_stack1(&b, 0x401180);
    /* 2, 3: alike; 4: another state; 5: another start routine; 6:
     * created elsewhere; 7: alike with 2 and 3, though listed after the
     * others: it joins their group. */
    uint32_t ops[6] = { TG_WAIT_SEM, TG_WAIT_SEM, TG_WAIT_COND, TG_WAIT_SEM,
                        TG_WAIT_SEM, TG_WAIT_SEM };
    for (int i = 0; i < 6; i++) {
        struct tg_log_thread *t = lb_thread(&b, 0, TG_TS_BLOCKED, ops[i]);
        t->create_stack = i == 4 ? other : cs;
        t->start_routine = i == 3 ? 0x402000 : 0x401300;
    }
    struct an_report *rep = analyze_hung(&b);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->nthreads, 7);
    uint32_t want[7] = { 1, 2, 3, 7, 4, 5, 6 };
    for (int i = 0; i < 7; i++)
        cr_assert_eq(f->threads[i].id, want[i], "position %d: %u", i,
                     f->threads[i].id);
    char *out = render(report_json, rep);
    struct mj *j = mj_parse(out);
    cr_assert_not_null(j);
    cr_assert_eq(mj_get(j, "findings.0.threads")->n, 5);
    cr_assert_eq(mj_num(j, "findings.0.threads.1.count"), 3);
    cr_assert_eq(mj_num(j, "findings.0.threads.1.ids.2"), 7);
    cr_assert_eq(mj_num(j, "findings.0.threads.2.id"), 4);
    cr_assert_str_eq(mj_str(j, "findings.0.threads.2.state"), "cond wait");
    cr_assert(strstr(f->message, "7 threads in 5 groups, 6 blocked"), "%s",
              f->message);
    free(out);
    report_free(rep);
    lb_free(&b);
}

Test(hang, a_process_of_distinct_threads_reads_as_before)
{
    struct lb b;
    lb_init_sized(&b, 323, 8, 4, 4, 1);
    b.h->proc_state = TG_PROC_RUNNING;
    b.h->end_ns = 0;
    lb_thread(&b, TG_THRF_MAIN, TG_TS_BLOCKED, TG_WAIT_JOIN);
    lb_thread(&b, 0, TG_TS_BLOCKED, TG_WAIT_MUTEX)->create_stack =
        lb_stack1(&b, 0x401100);
    struct an_report *rep = analyze_hung(&b);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_str_eq(f->message, "process 323 did not finish within 3.0s: "
                     "2 threads, 2 blocked");
    char *out = render(report_text, rep);
    cr_assert_null(strstr(out, "like it"), "%s", out);
    cr_assert(strstr(out, "thread 1 "), "%s", out);
    cr_assert(strstr(out, "thread 2 "), "%s", out);
    free(out);
    report_free(rep);
    lb_free(&b);
}
