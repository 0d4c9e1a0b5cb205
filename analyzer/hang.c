/*
 * hang.c: what every thread was doing when `tangle run --timeout` gave up.
 * The log is shared memory, so the snapshot is read while the processes
 * still live (before they are killed); each process that had not finished
 * becomes one `hang` finding listing its threads, like Go's dump on
 * SIGQUIT, so CI shows where a test hung instead of just "timeout".
 *
 * A hung server or pool often has thousands of threads parked in the same
 * place. Listed one by one they bury the few that matter, so threads are
 * grouped the way leaks.c groups leaked ones (same creation stack, start
 * routine and state): the finding still holds every thread, but members
 * of a group sit next to each other, groups in the order of their first
 * thread id (main's first), and the writers print one thread per group
 * with the ids of the others (hang_group_end() says where a group ends).
 */
#include <inttypes.h>
#include <stdlib.h>

#include "analyzer.h"

/* Groups by their lowest id (an_group_key.first), then by id. */
static int order_cmp(const void *a, const void *b)
{
    const struct an_group_key *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool same_stack(const struct an_stack *a, const struct an_stack *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->frames[i].pc != b->frames[i].pc ||
            a->frames[i].inlined != b->frames[i].inlined)
            return false;
    return true;
}

/* True when two filled threads of a hang finding are alike: the same
 * state (wait op included: the names differ), start routine and creation
 * stack. The record-level key above and this agree on everything a
 * reader can see; hang_group_end applies it to adjacent threads. */
static bool hang_same_group(const struct an_thread *a,
                            const struct an_thread *b)
{
    return a->state == b->state && a->has_start == b->has_start &&
           (!a->has_start || a->start_routine.pc == b->start_routine.pc) &&
           a->has_created_by == b->has_created_by &&
           same_stack(&a->created_stack, &b->created_stack);
}

/* For a hang finding f and the index i of a group's first thread, the
 * index just past that group (f->nthreads at most). Other kinds have no
 * groups inside a finding: i + 1. */
size_t hang_group_end(const struct an_finding *f, size_t i)
{
    size_t j = i + 1;
    if (f->kind != AN_HANG)
        return j;
    while (j < f->nthreads &&
           hang_same_group(&f->threads[i], &f->threads[j]))
        j++;
    return j;
}

void analyze_hang(struct an_ctx *ctx)
{
    const struct tlog *log = ctx->log;
    if (!ctx->opt->hang || log->hdr.proc_state != TG_PROC_RUNNING)
        return;
    struct an_group_key *m = xcalloc(log->nthreads + 1, sizeof *m);
    size_t n = 0, blocked = 0;
    for (size_t i = 0; i < log->nthreads; i++) {
        const struct tg_log_thread *t = tlog_thread(log, (uint32_t)i + 1);
        if (!t || (t->flags & (TG_THRF_INTERNAL | TG_THRF_FOREIGN)) ||
            t->state == TG_TS_EXITED)
            continue;
        m[n++] = an_group_key_of(t);
        blocked += t->state == TG_TS_BLOCKED;
    }
    /* Group by key, then lay the groups out by their first id, so the
     * report reads top-down from main like the thread table. */
    qsort(m, n, sizeof *m, an_group_key_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && an_group_key_same(&m[i], &m[j]))
            j++;
        for (size_t k = i; k < j; k++)
            m[k].first = m[i].id;
        i = j;
    }
    qsort(m, n, sizeof *m, order_cmp);

    struct an_finding *f = finding_new(ctx, AN_HANG);
    f->nthreads = n;
    f->threads = xcalloc(n ? n : 1, sizeof *f->threads);
    for (size_t i = 0; i < n; i++)
        an_thread_fill(ctx, m[i].id, &f->threads[i]);
    free(m);
    size_t groups = 0;
    for (size_t i = 0; i < n; i = hang_group_end(f, i))
        groups++;
    f->count = (uint32_t)f->nthreads;
    f->sort_key = (uint64_t)(uint32_t)log->hdr.pid;
    char d[32], g[48] = "";
    an_format_duration(ctx->opt->timeout_ns, d, sizeof d);
    if (groups < n)
        snprintf(g, sizeof g, " in %zu group%s", groups,
                 groups == 1 ? "" : "s");
    f->message = xasprintf("process %d did not finish within %s: %zu "
                           "thread%s%s, %zu blocked", log->hdr.pid, d,
                           f->nthreads, f->nthreads == 1 ? "" : "s", g,
                           blocked);
    finding_add(ctx, f);
}
