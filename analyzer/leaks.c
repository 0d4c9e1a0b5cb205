/*
 * leaks.c: goleak for C. Finds threads still alive when the process ended
 * (leak), threads that finished but were never joined or detached
 * (unjoined), cancelable contexts nobody cancelled (lost-cancel), and the
 * leaks the program's own tg_leak_verify() checkpoints recorded.
 *
 * Threads are grouped the way a reader thinks about them: many threads
 * started from the same creation stack and stuck in the same state are one
 * bug, so they are one finding with a count. tangle's own threads and the
 * test runner's (TG_THRF_INTERNAL, TG_THRF_FOREIGN) are never reported;
 * neither is the main thread, nor the thread that ended the process, nor a
 * thread already shown in a deadlock finding. A process that is still
 * running has no verdict yet: its long-blocked threads become notes.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

static bool program_thread(const struct tg_log_thread *t)
{
    return !(t->flags & (TG_THRF_INTERNAL | TG_THRF_FOREIGN));
}


/* Threads listed in an in-process finding (deadlock, checkpoint leak). */
static bool in_finding(const struct tlog *log, uint32_t id, uint32_t kind)
{
    for (size_t i = 0; i < log->nfindings; i++) {
        const struct tg_log_finding *f = &log->findings[i];
        bool k = kind ? f->kind == kind
                      : (f->kind == TG_FIND_DEADLOCK ||
                         f->kind == TG_FIND_ALL_ASLEEP);
        if (!k)
            continue;
        if (!f->nthreads && f->thread == id)
            return true;              /* a record naming one thread */
        for (uint32_t j = 0; j < f->nthreads; j++)
            if (f->threads[j].thread == id)
                return true;
    }
    return false;
}

static void emit_groups(struct an_ctx *ctx, struct an_group_key *c, size_t n,
                        enum an_kind kind)
{
    qsort(c, n, sizeof *c, an_group_key_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && an_group_key_same(&c[i], &c[j]))
            j++;
        struct an_finding *f = finding_new(ctx, kind);
        f->count = (uint32_t)(j - i);
        f->nthreads = j - i;
        f->threads = xcalloc(f->nthreads, sizeof *f->threads);
        int64_t longest = -1;
        for (size_t k = i; k < j; k++) {
            an_thread_fill(ctx, c[k].id, &f->threads[k - i]);
            if (f->threads[k - i].blocked_ns > longest)
                longest = f->threads[k - i].blocked_ns;
        }
        f->sort_key = c[i].id;
        const char *state = f->threads[0].state;
        const char *s = f->count == 1 ? "" : "s";
        if (kind == AN_UNJOINED) {
            f->message = xasprintf("%u thread%s finished but never joined "
                                   "or detached", f->count, s);
        } else if (longest >= 0) {
            char d[32];
            an_format_duration(longest, d, sizeof d);
            f->message = xasprintf("%u thread%s still running at exit: "
                                   "blocked in %s for %s", f->count, s,
                                   state, d);
        } else {
            f->message = xasprintf("%u thread%s still running at exit: %s",
                                   f->count, s, state);
        }
        finding_add(ctx, f);
        i = j;
    }
}

static void exit_leaks(struct an_ctx *ctx)
{
    const struct tlog *log = ctx->log;
    struct an_group_key *c = xcalloc(log->nthreads, sizeof *c);
    struct an_group_key *u = xcalloc(log->nthreads, sizeof *u);
    size_t n = 0, nu = 0;
    for (size_t i = 0; i < log->nthreads; i++) {
        const struct tg_log_thread *t = tlog_thread(log, (uint32_t)i + 1);
        if (!t || !program_thread(t) || (t->flags & TG_THRF_MAIN))
            continue;
        struct an_group_key k = an_group_key_of(t);
        if (t->state == TG_TS_EXITED) {
            if (!(t->flags & (TG_THRF_JOINED | TG_THRF_DETACHED)))
                u[nu++] = k;
            continue;
        }
        if (t->id == log->hdr.exit_thread ||
            in_finding(log, t->id, 0) || in_finding(log, t->id, TG_FIND_LEAK))
            continue;
        c[n++] = k;
    }
    emit_groups(ctx, c, n, AN_LEAK);
    emit_groups(ctx, u, nu, AN_UNJOINED);
    free(c);
    free(u);
}

static void lost_cancels(struct an_ctx *ctx)
{
    const struct tlog *log = ctx->log;
    for (size_t i = 0; i < log->nobjects; i++) {
        const struct tg_log_object *o = tlog_object(log, (uint32_t)i + 1);
        if (!o || o->kind != TG_LOBJ_CTX)
            continue;
        uint32_t fl = o->flags;
        if (!(fl & TG_OBJF_CANCELABLE) ||
            (fl & (TG_OBJF_CANCELED | TG_OBJF_EXPIRED | TG_OBJF_INTERNAL)))
            continue;
        /* A deadline already past at the end would have fired. */
        if (o->b != (uint64_t)INT64_MAX && o->b && o->b <= ctx->now_ns)
            continue;
        struct an_finding *f = finding_new(ctx, AN_LOST_CANCEL);
        f->nobjects = 1;
        f->objects = xcalloc(1, sizeof *f->objects);
        an_object_fill_rec(ctx, o, &f->objects[0]);
        f->stack = sym_stack(ctx->sym, o->create_stack);
        f->sort_key = o->addr;
        if (o->b != (uint64_t)INT64_MAX && o->b) {
            char d[32];
            an_format_duration((int64_t)(o->b - ctx->now_ns), d, sizeof d);
            f->message = xasprintf("context 0x%" PRIx64 " with a deadline "
                                   "%s after the end was never cancelled",
                                   o->addr, d);
        } else {
            f->message = xasprintf("context 0x%" PRIx64 " with a cancel "
                                   "function was never cancelled", o->addr);
        }
        finding_add(ctx, f);
    }
}

/* tg_leak_verify records: one finding per checkpoint. */
static void checkpoint_leaks(struct an_ctx *ctx)
{
    const struct tlog *log = ctx->log;
    bool *done = xcalloc(log->nfindings + 1, sizeof(bool));
    for (size_t i = 0; i < log->nfindings; i++) {
        const struct tg_log_finding *r = &log->findings[i];
        if (r->kind != TG_FIND_LEAK || done[i])
            continue;
        struct an_finding *f = finding_new(ctx, AN_LEAK);
        size_t cap = 0;
        f->nthreads = 0;
        for (size_t j = i; j < log->nfindings; j++) {
            const struct tg_log_finding *q = &log->findings[j];
            if (q->kind != TG_FIND_LEAK || q->value != r->value || done[j])
                continue;
            done[j] = true;
            /* A record lists its threads, or names one in `thread`. */
            uint32_t nt = q->nthreads ? q->nthreads : 1;
            for (uint32_t k = 0; k < nt; k++) {
                uint32_t id = q->nthreads ? q->threads[k].thread : q->thread;
                xgrow(&f->threads, &cap, f->nthreads + 1, sizeof *f->threads);
                struct an_thread *t = &f->threads[f->nthreads++];
                an_thread_fill(ctx, id, t);
                uint32_t op = q->nthreads ? q->threads[k].wait_op : 0;
                uint32_t st = q->nthreads ? q->threads[k].wait_stack : q->stack;
                if (q->nthreads) {
                    t->state = an_state_name(op ? TG_TS_BLOCKED
                                                : TG_TS_RUNNING, op);
                    an_stack_free(&t->object.created);
                    memset(&t->object, 0, sizeof t->object);
                    if (op && op != TG_WAIT_JOIN && op != TG_WAIT_SLEEP)
                        an_object_fill(ctx, q->threads[k].wait_obj,
                                       &t->object);
                }
                if (st) {
                    an_stack_free(&t->stack);
                    t->stack = sym_stack(ctx->sym, st);
                }
            }
        }
        f->count = (uint32_t)f->nthreads;
        f->sort_key = f->nthreads ? f->threads[0].id : 0;
        f->message = xasprintf("%u thread%s still running at checkpoint %"
                               PRIu64 " (tg_leak_verify)", f->count,
                               f->count == 1 ? "" : "s", r->value);
        finding_add(ctx, f);
    }
    free(done);
}

/* Still running: no verdict, but say which threads look stuck. */
static void running_notes(struct an_ctx *ctx)
{
    const struct tlog *log = ctx->log;
    for (size_t i = 0; i < log->nthreads; i++) {
        const struct tg_log_thread *t = tlog_thread(log, (uint32_t)i + 1);
        if (!t || !program_thread(t) || t->state != TG_TS_BLOCKED ||
            t->wait_op == TG_WAIT_SLEEP ||
            t->wait_deadline_ns != INT64_MAX || !t->wait_since_ns ||
            ctx->now_ns < t->wait_since_ns ||
            (int64_t)(ctx->now_ns - t->wait_since_ns) <
                ctx->opt->long_block_ns)
            continue;
        struct an_finding *f = finding_new(ctx, AN_LEAK);
        f->note = true;
        f->nthreads = 1;
        f->threads = xcalloc(1, sizeof *f->threads);
        an_thread_fill(ctx, t->id, &f->threads[0]);
        char d[32];
        an_format_duration(f->threads[0].blocked_ns, d, sizeof d);
        f->message = xasprintf("process still running: thread %u blocked in "
                               "%s for %s", t->id, f->threads[0].state, d);
        f->sort_key = t->id;
        finding_add(ctx, f);
    }
}

void analyze_leaks(struct an_ctx *ctx)
{
    checkpoint_leaks(ctx);
    if (ctx->ended) {
        exit_leaks(ctx);
        lost_cancels(ctx);
    } else if (!ctx->opt->hang && ctx->log->hdr.proc_state == TG_PROC_RUNNING) {
        running_notes(ctx);
    }
}
