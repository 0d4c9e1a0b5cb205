/*
 * test_lockorder.c: the lock-order cycle search (SCCs, then shortest
 * cycles) and the lock-order findings made from a log's edge table.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "logbuild.h"

struct got {
    size_t n, gated;
    size_t len[16];
    size_t e[16][8];
};

static int record(void *ctx, const size_t *e, size_t len, bool gated)
{
    struct got *g = ctx;
    if (g->n < 16) {
        g->len[g->n] = len;
        for (size_t i = 0; i < len && i < 8; i++)
            g->e[g->n][i] = e[i];
    }
    g->n++;
    g->gated += gated;
    return 0;
}

Test(lockorder, two_lock_inversion_is_one_cycle_of_two_edges)
{
    struct lo_edge e[] = { {1, 2, 0, NULL}, {2, 1, 0, NULL} };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, 2, 3, 0, record, &g), 1);
    cr_assert_eq(g.len[0], 2);
    cr_assert_eq(g.e[0][0], 0, "starts at the edge leaving the smallest lock");
    cr_assert_eq(g.e[0][1], 1);
    cr_assert_eq(g.gated, 0);
}

Test(lockorder, three_lock_cycle_is_found_in_path_order)
{
    struct lo_edge e[] = { {3, 1, 0, NULL}, {2, 3, 0, NULL}, {1, 2, 0, NULL} };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, 3, 4, 0, record, &g), 1);
    cr_assert_eq(g.len[0], 3);
    cr_assert_eq(g.e[0][0], 2);       /* 1 -> 2 */
    cr_assert_eq(g.e[0][1], 1);       /* 2 -> 3 */
    cr_assert_eq(g.e[0][2], 0);       /* 3 -> 1 */
}

Test(lockorder, consistent_order_has_no_cycle)
{
    struct lo_edge e[] = { {1, 2, 0, NULL}, {2, 3, 0, NULL}, {1, 3, 0, NULL},
                           {3, 4, 0, NULL} };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, 4, 5, 0, record, &g), 0);
    cr_assert_eq(g.n, 0);
}

Test(lockorder, self_loops_and_repeated_edges_are_ignored)
{
    struct lo_edge e[] = { {1, 1, 0, NULL}, {1, 2, 0, NULL}, {1, 2, 0, NULL},
                           {2, 1, 0, NULL} };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, 4, 3, 0, record, &g), 1);
    cr_assert_eq(g.len[0], 2);
}

Test(lockorder, cycle_under_a_common_gate_lock_is_marked_gated)
{
    uint32_t gate[] = { 9 };
    struct lo_edge e[] = { {1, 2, 1, gate}, {2, 1, 1, gate} };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, 2, 10, 0, record, &g), 1);
    cr_assert_eq(g.gated, 1);
}

Test(lockorder, different_gates_on_each_edge_do_not_protect)
{
    uint32_t g1[] = { 8 }, g2[] = { 9 };
    struct lo_edge e[] = { {1, 2, 1, g1}, {2, 1, 1, g2} };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, 2, 10, 0, record, &g), 1);
    cr_assert_eq(g.gated, 0);
}

Test(lockorder, every_edge_of_a_component_lies_on_a_reported_cycle)
{
    /* Two triangles sharing lock 1: 1->2->3->1 and 1->4->5->1. */
    struct lo_edge e[] = { {1, 2, 0, NULL}, {2, 3, 0, NULL}, {3, 1, 0, NULL},
                           {1, 4, 0, NULL}, {4, 5, 0, NULL}, {5, 1, 0, NULL} };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, 6, 6, 0, record, &g), 2);
    bool seen[6] = {0};
    for (size_t c = 0; c < g.n; c++)
        for (size_t i = 0; i < g.len[c]; i++)
            seen[g.e[c][i]] = true;
    for (int i = 0; i < 6; i++)
        cr_assert(seen[i], "edge %d on no cycle", i);
}

Test(lockorder, separate_components_are_reported_separately_in_node_order)
{
    struct lo_edge e[] = { {7, 8, 0, NULL}, {8, 7, 0, NULL},
                           {2, 3, 0, NULL}, {3, 2, 0, NULL} };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, 4, 9, 0, record, &g), 2);
    cr_assert_eq(g.e[0][0], 2, "the component of lock 2 comes first");
    cr_assert_eq(g.e[1][0], 0);
}

Test(lockorder, edges_naming_nodes_out_of_range_are_rejected)
{
    struct lo_edge e[] = { {1, 20, 0, NULL} };
    cr_assert_lt(lo_find_cycles(e, 1, 3, 0, record, NULL), 0);
}

Test(lockorder, chain_of_100000_locks_with_a_back_edge_is_one_long_cycle,
     .timeout = 60)
{
    const uint32_t n = 100000;
    struct lo_edge *e = calloc(n, sizeof *e);
    for (uint32_t i = 0; i + 1 < n; i++)
        e[i] = (struct lo_edge){ i + 1, i + 2, 0, NULL };
    e[n - 1] = (struct lo_edge){ n, 1, 0, NULL };
    struct got g = {0};
    cr_assert_eq(lo_find_cycles(e, n, n + 1, 0, record, &g), 1);
    cr_assert_eq(g.len[0], n, "no limit on the cycle's length");
    cr_assert_eq(g.e[0][0], 0);
    free(e);
}

Test(lockorder, a_long_chain_without_back_edge_has_no_cycle, .timeout = 60)
{
    const uint32_t n = 100000;
    struct lo_edge *e = calloc(n, sizeof *e);
    for (uint32_t i = 0; i < n; i++)
        e[i] = (struct lo_edge){ i + 1, i + 2, 0, NULL };
    cr_assert_eq(lo_find_cycles(e, n, n + 2, 0, NULL, NULL), 0);
    free(e);
}

/* ---- findings from a log ------------------------------------------------ */

static struct an_report *analyze_buf(struct lb *b, bool show_gated)
{
    struct tlog *log;
    char *err;
    cr_assert_eq(tlog_open_mem(b->buf, b->size, "lo.tlog", &log, &err), 0);
    struct an_options opt;
    report_options_init(&opt);
    opt.show_gated = show_gated;
    struct an_report *rep = report_new();
    struct an_process proc = { .pid = log->hdr.pid };
    struct an_ctx ctx = { .log = log, .proc = &proc, .rep = rep, .opt = &opt,
                          .ended = true, .now_ns = log->hdr.end_ns };
    ctx.sym = sym_new(log);
    analyze_lockorder(&ctx);
    sym_free(ctx.sym);
    tlog_close(log);
    report_finish(rep, NULL);
    for (size_t i = 0; i < rep->nfindings; i++)
        rep->findings[i]->proc = NULL;
    for (size_t i = 0; i < rep->nnotes; i++)
        rep->notes[i]->proc = NULL;
    return rep;
}

Test(lockorder, log_inversion_gives_a_lock_order_finding_with_both_edges)
{
    struct lb b;
    lb_init(&b, 10);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_EXITED, 0);
    lb_thread(&b, 0, TG_TS_EXITED, 0);
    lb_object(&b, TG_LOBJ_MUTEX, 0xa000);
    lb_object(&b, TG_LOBJ_MUTEX, 0xb000);
    struct tg_log_edge *e1 = lb_edge(&b, 1, 2, 1, 0);
    e1->from_stack = lb_stack1(&b, 0x1234);
    e1->to_stack = lb_stack1(&b, 0x1250);
    lb_edge(&b, 2, 1, 2, 0);
    struct an_report *rep = analyze_buf(&b, false);
    cr_assert_eq(rep->nfindings, 1);
    struct an_finding *f = rep->findings[0];
    cr_assert_eq(f->kind, AN_LOCK_ORDER);
    cr_assert_eq(f->nobjects, 2);
    cr_assert_eq(f->objects[0].addr, 0xa000);
    cr_assert_str_eq(f->objects[0].kind, "mutex");
    cr_assert_eq(f->nedges, 2);
    cr_assert_eq(f->edges[0].from, 0xa000);
    cr_assert_eq(f->edges[0].to, 0xb000);
    cr_assert_eq(f->edges[0].thread, 1);
    cr_assert_eq(f->edges[0].to_stack.n, 1);
    cr_assert_eq(f->edges[0].to_stack.frames[0].pc, 0x1250);
    cr_assert_eq(f->edges[1].thread, 2);
    cr_assert_eq(rep->counts[AN_LOCK_ORDER], 1);
    report_free(rep);
    lb_free(&b);
}

Test(lockorder, gated_cycle_is_dropped_unless_show_gated_asks_for_a_note)
{
    struct lb b;
    lb_init(&b, 10);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_EXITED, 0);
    lb_object(&b, TG_LOBJ_MUTEX, 0xa000);
    lb_object(&b, TG_LOBJ_MUTEX, 0xb000);
    lb_object(&b, TG_LOBJ_MUTEX, 0xc000);      /* the gate */
    lb_edge(&b, 3, 1, 1, 0);
    lb_edge(&b, 3, 2, 1, 0);
    lb_edge(&b, 1, 2, 1, 1, 3u);
    lb_edge(&b, 2, 1, 1, 1, 3u);
    struct an_report *rep = analyze_buf(&b, false);
    cr_assert_eq(rep->nfindings, 0);
    cr_assert_eq(rep->nnotes, 0);
    report_free(rep);
    rep = analyze_buf(&b, true);
    cr_assert_eq(rep->nfindings, 0);
    cr_assert_eq(rep->nnotes, 1);
    cr_assert(strstr(rep->notes[0]->message, "gated"));
    report_free(rep);
    lb_free(&b);
}

Test(lockorder, edges_between_non_locks_make_no_finding)
{
    struct lb b;
    lb_init(&b, 10);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_EXITED, 0);
    lb_object(&b, TG_LOBJ_CHAN, 0xa000);
    lb_object(&b, TG_LOBJ_CHAN, 0xb000);
    lb_edge(&b, 1, 2, 1, 0);
    lb_edge(&b, 2, 1, 1, 0);
    struct an_report *rep = analyze_buf(&b, true);
    cr_assert_eq(rep->nfindings + rep->nnotes, 0);
    report_free(rep);
    lb_free(&b);
}
