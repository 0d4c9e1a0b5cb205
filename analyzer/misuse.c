/*
 * misuse.c: API misuse the shim caught in the act (unlock of a lock not
 * held, relock, destroy while locked, send on a closed channel...). Each
 * log record becomes a `misuse` finding with the offending call's stack and
 * the relevant earlier one (where the lock was taken, where the channel was
 * closed; failing that, the stack of a thread that waited on the object,
 * found in the thread table or the event stream). A loop repeating the same mistake is one finding with a count:
 * records are grouped by subkind and both stacks.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

static char *describe(const struct tg_log_finding *r, const char *kind,
                      uint32_t count)
{
    uint64_t a = r->obj;
    char times[32] = "";
    if (count > 1)
        snprintf(times, sizeof times, " (%u times)", count);
    switch (r->subkind) {
    case TG_MIS_UNLOCK_NOT_HELD:
        return xasprintf("unlock of %s 0x%" PRIx64 " that is not locked%s",
                         kind, a, times);
    case TG_MIS_UNLOCK_FOREIGN:
        return xasprintf("unlock of %s 0x%" PRIx64 " held by thread %u%s",
                         kind, a, r->thread2, times);
    case TG_MIS_RELOCK:
        return xasprintf("relock of %s 0x%" PRIx64 " already held by the "
                         "same thread (self-deadlock)%s", kind, a, times);
    case TG_MIS_DESTROY_LOCKED:
        return xasprintf("destroy of %s 0x%" PRIx64 " while it is locked%s",
                         kind, a, times);
    case TG_MIS_DESTROY_WAITED:
        return xasprintf("destroy of %s 0x%" PRIx64 " while threads wait on "
                         "it%s", kind, a, times);
    case TG_MIS_EXIT_HOLDING:
        return xasprintf("thread %u exited holding %s 0x%" PRIx64 "%s",
                         r->thread, kind, a, times);
    case TG_MIS_COND_NO_MUTEX:
        return xasprintf("cond wait on 0x%" PRIx64 " without holding its "
                         "mutex%s", a, times);
    case TG_MIS_COND_TWO_MUTEXES:
        return xasprintf("cond 0x%" PRIx64 " used with two different "
                         "mutexes%s", a, times);
    case TG_MIS_WG_NEGATIVE:
        return xasprintf("WaitGroup 0x%" PRIx64 " counter went negative%s",
                         a, times);
    case TG_MIS_SEND_CLOSED:
        return xasprintf("send on closed channel 0x%" PRIx64 "%s", a, times);
    case TG_MIS_DOUBLE_CLOSE:
        return xasprintf("close of closed channel 0x%" PRIx64 "%s", a, times);
    case TG_MIS_CHAN_FREE_BUSY:
        return xasprintf("free of channel 0x%" PRIx64 " while threads wait "
                         "on it%s", a, times);
    }
    return xasprintf("misuse of %s 0x%" PRIx64 "%s", kind, a, times);
}

struct ev_search {
    const struct tg_log_finding *r;
    bool lock;                /* LOCK by thread2, else BLOCK by another */
    uint32_t stack, thread;
};

static int ev_match(void *arg, uint32_t thread, const struct tg_log_event *ev)
{
    struct ev_search *s = arg;
    if (ev->addr != s->r->obj || !ev->stack)
        return 0;
    if (s->lock ? ev->type == TG_EV_LOCK && thread == s->r->thread2
                : ev->type == TG_EV_BLOCK && thread != s->r->thread) {
        s->stack = ev->stack;         /* the last one wins */
        s->thread = thread;
    }
    return 0;
}

/* When the shim recorded no earlier stack, the log may still hold one:
 * the stack of a thread blocked on the object (destroy-waited,
 * free-busy), or where the owner took the lock (unlock-foreign), in the
 * thread table or else in the event stream. */
static uint32_t fallback_stack(struct tlog *log,
                               const struct tg_log_finding *r,
                               uint32_t *thread)
{
    *thread = 0;
    struct ev_search es = { .r = r };
    if (r->subkind == TG_MIS_UNLOCK_FOREIGN ||
        r->subkind == TG_MIS_DESTROY_LOCKED) {
        const struct tg_log_thread *o = tlog_thread(log, r->thread2);
        for (uint32_t i = 0; o && i < o->held_count; i++)
            if (o->held[i].addr == r->obj && o->held[i].stack)
                return o->held[i].stack;
        es.lock = true;
        tlog_events(log, ev_match, &es, NULL);
        return es.stack;
    }
    if (r->subkind != TG_MIS_DESTROY_WAITED &&
        r->subkind != TG_MIS_CHAN_FREE_BUSY)
        return 0;
    for (size_t i = 0; i < log->nthreads; i++) {
        const struct tg_log_thread *t = tlog_thread(log, (uint32_t)i + 1);
        if (t && t->id != r->thread && t->state == TG_TS_BLOCKED &&
            t->wait_stack && (t->wait_obj == r->obj || t->wait_obj2 == r->obj)) {
            *thread = t->id;
            return t->wait_stack;
        }
    }
    tlog_events(log, ev_match, &es, NULL);
    *thread = es.thread;
    return es.stack;
}

static bool same(const struct tg_log_finding *a, const struct tg_log_finding *b)
{
    return a->kind == b->kind && a->subkind == b->subkind &&
           a->stack == b->stack && a->stack2 == b->stack2 &&
           (a->stack || a->obj == b->obj);
}

void analyze_misuse(struct an_ctx *ctx)
{
    struct tlog *log = ctx->log;
    bool *done = xcalloc(log->nfindings + 1, sizeof(bool));
    for (size_t i = 0; i < log->nfindings; i++) {
        const struct tg_log_finding *r = &log->findings[i];
        if (r->kind != TG_FIND_MISUSE || done[i])
            continue;
        uint32_t count = 0;
        for (size_t j = i; j < log->nfindings; j++)
            if (!done[j] && same(r, &log->findings[j])) {
                done[j] = true;
                count++;
            }
        struct an_finding *f = finding_new(ctx, AN_MISUSE);
        f->subkind = an_misuse_name(r->subkind);
        f->count = count;
        const struct tg_log_object *o = tlog_object(log, r->obj_id);
        if (!o || (r->obj && o->addr != r->obj))
            o = tlog_object_at(log, r->obj);
        f->nobjects = 1;
        f->objects = xcalloc(1, sizeof *f->objects);
        if (o)
            an_object_fill_rec(ctx, o, &f->objects[0]);
        else
            an_object_fill(ctx, r->obj, &f->objects[0]);
        uint32_t other = r->thread2, waiter = 0;
        uint32_t stack2 = r->stack2 ? r->stack2
                                    : fallback_stack(log, r, &waiter);
        if (!other)
            other = waiter;
        f->nthreads = other && other != r->thread ? 2 : 1;
        f->threads = xcalloc(f->nthreads, sizeof *f->threads);
        an_thread_fill(ctx, r->thread, &f->threads[0]);
        if (f->nthreads == 2)
            an_thread_fill(ctx, other, &f->threads[1]);
        f->stack = sym_stack(ctx->sym, r->stack);
        f->related_stack = sym_stack(ctx->sym, stack2);
        f->sort_key = r->thread;
        f->message = describe(r, f->objects[0].present ? f->objects[0].kind
                                                        : "object", count);
        finding_add(ctx, f);
    }
    free(done);
}
