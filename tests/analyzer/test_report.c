/*
 * test_report.c: the report writers. JSON must be valid and shaped exactly
 * as docs/report-format.md says; the text report must read like goleak's
 * and TSan's; SARIF must be 2.1.0 with one rule per kind and subkind.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "logbuild.h"
#include "minijson.h"

/* A leak, a lock-order cycle and a misuse in one exited process. */
static struct an_report *sample_report(struct lb *b)
{
    lb_init(b, 4242);
    b->h->exit_code = 3;
    lb_thread(b, TG_THRF_MAIN, TG_TS_RUNNING, 0);
    struct tg_log_thread *t = lb_thread(b, 0, TG_TS_BLOCKED,
                                        TG_WAIT_CHAN_SEND);
    t->wait_obj = 0xc0;
    t->wait_since_ns = 8800000000ull;
    t->wait_stack = lb_stack1(b, 0x20);
    t->create_stack = lb_stack1(b, 0x10);
    snprintf(t->name, sizeof t->name, "worker \"q\"");
    lb_object(b, TG_LOBJ_CHAN, 0xc0);
    lb_object(b, TG_LOBJ_MUTEX, 0xa0);
    lb_object(b, TG_LOBJ_MUTEX, 0xb0);
    lb_edge(b, 2, 3, 1, 0)->to_stack = lb_stack1(b, 0x30);
    lb_edge(b, 3, 2, 2, 0);
    struct tg_log_finding *r = lb_finding(b, TG_FIND_MISUSE);
    r->subkind = TG_MIS_DOUBLE_CLOSE;
    r->thread = 1;
    r->obj = 0xc0;
    r->stack = lb_stack1(b, 0x40);
    return lb_analyze(b, NULL);
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
    w(f, rep, &o);
    fclose(f);
    return buf;
}

Test(report, json_is_valid_and_has_the_documented_top_level_keys)
{
    struct lb b;
    struct an_report *rep = sample_report(&b);
    char *out = render(report_json, rep);
    struct mj *j = mj_parse(out);
    cr_assert_not_null(j, "invalid JSON:\n%s", out);
    cr_assert_str_eq(mj_str(j, "tool"), "tangle");
    cr_assert_eq(mj_num(j, "report_version"), 1);
    cr_assert_eq(mj_num(j, "processes.0.pid"), 4242);
    cr_assert_str_eq(mj_str(j, "processes.0.state"), "exited");
    cr_assert_eq(mj_num(j, "processes.0.exit_code"), 3);
    cr_assert_eq(mj_num(j, "processes.0.threads"), 2);
    cr_assert_eq(mj_num(j, "processes.0.dropped.events"), 0);
    cr_assert_eq(mj_get(j, "processes.0.errors")->type, MJ_ARR);
    cr_assert_eq(mj_num(j, "summary.leak"), 1);
    cr_assert_eq(mj_num(j, "summary.lock-order"), 1);
    cr_assert_eq(mj_num(j, "summary.misuse"), 1);
    cr_assert_eq(mj_num(j, "summary.race"), 0);
    cr_assert_eq(mj_num(j, "summary.total"), 3);
    cr_assert_eq(mj_num(j, "summary.suppressed"), 0);
    free(out);
    report_free(rep);
    lb_free(&b);
}

Test(report, json_findings_come_in_kind_order_with_their_fields)
{
    struct lb b;
    struct an_report *rep = sample_report(&b);
    char *out = render(report_json, rep);
    struct mj *j = mj_parse(out);
    cr_assert_not_null(j);
    cr_assert_str_eq(mj_str(j, "findings.0.kind"), "leak");
    cr_assert_null(mj_get(j, "findings.0.subkind"), "subkind: misuse only");
    cr_assert_eq(mj_num(j, "findings.0.pid"), 4242);
    cr_assert_eq(mj_num(j, "findings.0.count"), 1);
    cr_assert_eq(mj_num(j, "findings.0.threads.0.id"), 2);
    cr_assert_eq(mj_num(j, "findings.0.threads.0.tid"), 5002);
    cr_assert_str_eq(mj_str(j, "findings.0.threads.0.name"), "worker \"q\"");
    cr_assert_str_eq(mj_str(j, "findings.0.threads.0.state"), "chan send");
    cr_assert_eq(mj_num(j, "findings.0.threads.0.blocked_ns"), 1200000000);
    cr_assert_str_eq(mj_str(j, "findings.0.threads.0.object.kind"), "chan");
    cr_assert_str_eq(mj_str(j, "findings.0.threads.0.object.address"), "0xc0");
    cr_assert_str_eq(mj_str(j, "findings.0.threads.0.stack.0.pc"), "0x20");
    cr_assert_null(mj_get(j, "findings.0.threads.0.stack.0.function"),
                   "unknown function: absent, not null");
    cr_assert_eq(mj_get(j, "findings.0.threads.0.stack.0.inlined")->type,
                 MJ_BOOL);
    cr_assert_eq(mj_num(j, "findings.0.threads.0.created_by.thread"), 1);
    cr_assert_str_eq(mj_str(j, "findings.0.threads.0.created_by.stack.0.pc"),
                     "0x10");

    cr_assert_str_eq(mj_str(j, "findings.1.kind"), "lock-order");
    cr_assert_str_eq(mj_str(j, "findings.1.objects.0.address"), "0xa0");
    cr_assert_str_eq(mj_str(j, "findings.1.objects.0.kind"), "mutex");
    cr_assert_str_eq(mj_str(j, "findings.1.edges.0.from"), "0xa0");
    cr_assert_str_eq(mj_str(j, "findings.1.edges.0.to"), "0xb0");
    cr_assert_eq(mj_num(j, "findings.1.edges.0.thread"), 1);
    cr_assert_str_eq(mj_str(j, "findings.1.edges.0.to_stack.0.pc"), "0x30");
    cr_assert_eq(mj_get(j, "findings.1.edges.1.from_stack")->type, MJ_ARR);

    cr_assert_str_eq(mj_str(j, "findings.2.kind"), "misuse");
    cr_assert_str_eq(mj_str(j, "findings.2.subkind"), "double-close");
    cr_assert_str_eq(mj_str(j, "findings.2.stack.0.pc"), "0x40");
    cr_assert_eq(mj_get(j, "findings.2.related_stack")->type, MJ_ARR);
    cr_assert_null(mj_get(j, "findings.3"));
    free(out);
    report_free(rep);
    lb_free(&b);
}

Test(report, json_of_an_empty_report_is_valid_with_zero_counts)
{
    struct an_report *rep = report_new();
    report_finish(rep, NULL);
    char *out = render(report_json, rep);
    struct mj *j = mj_parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(mj_get(j, "findings")->n, 0);
    cr_assert_eq(mj_num(j, "summary.total"), 0);
    free(out);
    report_free(rep);
}

Test(report, text_has_goleak_and_tsan_style_headers_and_a_summary)
{
    struct lb b;
    struct an_report *rep = sample_report(&b);
    char *out = render(report_text, rep);
    cr_assert(strstr(out, "tangle: leak: 1 thread still running at exit: "
                     "blocked in chan send for 1.2s"), "%s", out);
    cr_assert(strstr(out, "WARNING: tangle: lock-order inversion (potential "
                     "deadlock)"), "%s", out);
    cr_assert(strstr(out, "tangle: misuse (double-close): "), "%s", out);
    cr_assert(strstr(out, "[chan send, 1.2s]"), "%s", out);
    cr_assert(strstr(out, "    #0 0x20"), "%s", out);
    cr_assert(strstr(out, "created by thread 1"), "%s", out);
    cr_assert(strstr(out, "tangle: 3 findings (1 leak, 1 lock-order, 1 "
                     "misuse) in 1 process\n"), "%s", out);
    free(out);
    report_free(rep);
    lb_free(&b);
}

Test(report, text_of_a_clean_run_says_no_findings)
{
    struct lb b;
    lb_init(&b, 1);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_RUNNING, 0);
    struct an_report *rep = lb_analyze(&b, NULL);
    char *out = render(report_text, rep);
    cr_assert_str_eq(out, "tangle: no findings in 1 process\n");
    free(out);
    report_free(rep);
    lb_free(&b);
}

Test(report, sarif_is_valid_2_1_0_with_rules_and_results)
{
    struct lb b;
    struct an_report *rep = sample_report(&b);
    char *out = render(report_sarif, rep);
    struct mj *j = mj_parse(out);
    cr_assert_not_null(j, "invalid JSON:\n%s", out);
    cr_assert_str_eq(mj_str(j, "version"), "2.1.0");
    cr_assert_str_eq(mj_str(j, "runs.0.tool.driver.name"), "tangle");
    const struct mj *rules = mj_get(j, "runs.0.tool.driver.rules");
    cr_assert_eq(rules->n, 7 + TG_MIS_COUNT - 1, "7 kinds + each misuse subkind");
    const struct mj *res = mj_get(j, "runs.0.results");
    cr_assert_eq(res->n, 3);
    cr_assert_str_eq(mj_str(j, "runs.0.results.2.ruleId"),
                     "misuse/double-close");
    int idx = (int)mj_num(j, "runs.0.results.2.ruleIndex");
    char path[64];
    snprintf(path, sizeof path, "runs.0.tool.driver.rules.%d.id", idx);
    cr_assert_str_eq(mj_str(j, path), "misuse/double-close");
    cr_assert_not_null(mj_str(j, "runs.0.results.0.message.text"));
    free(out);
    report_free(rep);
    lb_free(&b);
}
