/*
 * deadlock.c: deadlocks that happened. The shim's watchdog records a
 * finding when it sees a cycle of threads each waiting for a lock (or a
 * join) another one holds (TG_FIND_DEADLOCK), or every live thread blocked
 * with no timeout (TG_FIND_ALL_ASLEEP, Go's "all goroutines are asleep").
 * Here each becomes a `deadlock` finding showing every thread involved:
 * what it waits in, on which object created where, who holds that, and
 * where it blocked. The watchdog may see the same deadlock on several
 * passes; a set of threads is reported once.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

static int u32cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The sorted thread ids of r, as a comparable signature. */
static void signature(const struct tg_log_finding *r, uint32_t *ids)
{
    for (uint32_t i = 0; i < r->nthreads; i++)
        ids[i] = r->threads[i].thread;
    qsort(ids, r->nthreads, sizeof *ids, u32cmp);
}

static bool seen_before(const struct tlog *log, size_t idx)
{
    const struct tg_log_finding *r = &log->findings[idx];
    uint32_t a[TG_LOG_MAX_CYCLE], b[TG_LOG_MAX_CYCLE];
    signature(r, a);
    for (size_t i = 0; i < idx; i++) {
        const struct tg_log_finding *q = &log->findings[i];
        if (q->kind != r->kind || q->nthreads != r->nthreads)
            continue;
        signature(q, b);
        if (memcmp(a, b, r->nthreads * sizeof *a) == 0)
            return true;
    }
    return false;
}

void analyze_deadlocks(struct an_ctx *ctx)
{
    const struct tlog *log = ctx->log;
    for (size_t i = 0; i < log->nfindings; i++) {
        const struct tg_log_finding *r = &log->findings[i];
        if (r->kind != TG_FIND_DEADLOCK && r->kind != TG_FIND_ALL_ASLEEP)
            continue;
        if (seen_before(log, i))
            continue;
        struct an_finding *f = finding_new(ctx, AN_DEADLOCK);
        uint32_t nt = r->nthreads;
        f->nthreads = nt;
        f->threads = xcalloc(nt ? nt : 1, sizeof *f->threads);
        for (uint32_t k = 0; k < nt; k++) {
            const struct tg_log_finding_thread *ft = &r->threads[k];
            struct an_thread *t = &f->threads[k];
            an_thread_fill(ctx, ft->thread, t);
            /* What the watchdog saw, not what the table says now. */
            t->state = an_state_name(TG_TS_BLOCKED, ft->wait_op);
            const struct tg_log_thread *rec = tlog_thread(log, ft->thread);
            if (rec && rec->wait_since_ns && r->time_ns >= rec->wait_since_ns)
                t->blocked_ns = (int64_t)(r->time_ns - rec->wait_since_ns);
            an_stack_free(&t->object.created);
            memset(&t->object, 0, sizeof t->object);
            if (ft->wait_op != TG_WAIT_JOIN)
                an_object_fill(ctx, ft->wait_obj, &t->object);
            t->holder = ft->holder;
            if (ft->wait_stack) {
                an_stack_free(&t->stack);
                t->stack = sym_stack(ctx->sym, ft->wait_stack);
            }
        }
        f->sort_key = nt ? f->threads[0].id : r->thread;
        if (r->kind == TG_FIND_DEADLOCK) {
            char chain[512] = "";
            size_t len = 0;
            for (uint32_t k = 0; k < nt && len < sizeof chain - 64; k++) {
                const struct an_thread *t = &f->threads[k];
                len += (size_t)snprintf(chain + len, sizeof chain - len,
                    "%sthread %u waits in %s for thread %u",
                    k ? ", " : "", t->id, t->state, t->holder);
            }
            f->message = xasprintf("%u threads wait for each other "
                                   "(%s)", nt, chain);
        } else {
            f->message = xasprintf("all threads are asleep: %u thread%s "
                                   "blocked with no timeout", nt,
                                   nt == 1 ? "" : "s");
        }
        finding_add(ctx, f);
    }
}
