/*
 * hang.c: what every thread was doing when `tangle run --timeout` gave up.
 * The log is shared memory, so the snapshot is read while the processes
 * still live (before they are killed); each process that had not finished
 * becomes one `hang` finding listing its threads, like Go's dump on
 * SIGQUIT, so CI shows where a test hung instead of just "timeout".
 */
#include <inttypes.h>
#include <stdlib.h>

#include "analyzer.h"

void analyze_hang(struct an_ctx *ctx)
{
    const struct tlog *log = ctx->log;
    if (!ctx->opt->hang || log->hdr.proc_state != TG_PROC_RUNNING)
        return;
    struct an_finding *f = finding_new(ctx, AN_HANG);
    size_t cap = 0, blocked = 0;
    for (size_t i = 0; i < log->nthreads; i++) {
        const struct tg_log_thread *t = tlog_thread(log, (uint32_t)i + 1);
        if (!t || (t->flags & (TG_THRF_INTERNAL | TG_THRF_FOREIGN)) ||
            t->state == TG_TS_EXITED)
            continue;
        xgrow(&f->threads, &cap, f->nthreads + 1, sizeof *f->threads);
        an_thread_fill(ctx, t->id, &f->threads[f->nthreads++]);
        blocked += t->state == TG_TS_BLOCKED;
    }
    f->count = (uint32_t)f->nthreads;
    f->sort_key = (uint64_t)(uint32_t)log->hdr.pid;
    char d[32];
    an_format_duration(ctx->opt->timeout_ns, d, sizeof d);
    f->message = xasprintf("process %d did not finish within %s: %zu "
                           "thread%s, %zu blocked", log->hdr.pid, d,
                           f->nthreads, f->nthreads == 1 ? "" : "s", blocked);
    finding_add(ctx, f);
}
