/*
 * model.c: building findings out of log records.
 *
 * Analyses speak in log ids; reports speak in symbolized threads, objects
 * and stacks. The helpers here do that translation once, in one place, so
 * that every kind of finding shows a thread the same way (state string,
 * how long blocked, on what object created where, current and creation
 * stacks) and the writers never touch the log.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

static const char *const kind_names[AN_KIND_COUNT] = {
    "leak", "unjoined", "lost-cancel", "lock-order", "deadlock", "misuse",
    "race", "hang",
};

const char *an_kind_name(enum an_kind kind)
{
    return (unsigned)kind < AN_KIND_COUNT ? kind_names[kind] : "unknown";
}

int an_kind_parse(const char *name)
{
    for (int i = 0; i < AN_KIND_COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return i;
    return -1;
}

static const char *const wait_names[TG_WAIT_OP_COUNT] = {
    [TG_WAIT_NONE] = "running",
    [TG_WAIT_MUTEX] = "mutex lock",
    [TG_WAIT_RWLOCK_RD] = "rwlock read",
    [TG_WAIT_RWLOCK_WR] = "rwlock write",
    [TG_WAIT_SPIN] = "spin lock",
    [TG_WAIT_COND] = "cond wait",
    [TG_WAIT_SEM] = "sem wait",
    [TG_WAIT_BARRIER] = "barrier wait",
    [TG_WAIT_JOIN] = "join",
    [TG_WAIT_ONCE] = "once",
    [TG_WAIT_CHAN_SEND] = "chan send",
    [TG_WAIT_CHAN_RECV] = "chan receive",
    [TG_WAIT_SELECT] = "select",
    [TG_WAIT_WG] = "wg wait",
    [TG_WAIT_CTX] = "ctx wait",
    [TG_WAIT_GROUP] = "group wait",
    [TG_WAIT_GROUP_GO] = "group go",
    [TG_WAIT_POOL_SUBMIT] = "pool submit",
    [TG_WAIT_POOL_SHUTDOWN] = "pool shutdown",
    [TG_WAIT_SLEEP] = "sleep",
    [TG_WAIT_GROUP_IDLE] = "group idle",
    [TG_WAIT_LOCK] = "lock",
};

const char *an_wait_op_name(uint32_t op)
{
    return op < TG_WAIT_OP_COUNT && wait_names[op] ? wait_names[op]
                                                    : "blocked";
}

struct an_group_key an_group_key_of(const struct tg_log_thread *t)
{
    /* A running thread's wait_op is stale: only a blocked one's counts,
     * as an_state_name reads it. */
    uint32_t op = t->state == TG_TS_BLOCKED ? t->wait_op : 0;
    return (struct an_group_key){ t->id, t->create_stack,
                                  t->state << 16 | (op & 0xffff), 0,
                                  t->start_routine };
}

bool an_group_key_same(const struct an_group_key *a,
                       const struct an_group_key *b)
{
    return a->create_stack == b->create_stack && a->start == b->start &&
           a->state == b->state;
}

int an_group_key_cmp(const void *a, const void *b)
{
    const struct an_group_key *x = a, *y = b;
    if (x->create_stack != y->create_stack)
        return x->create_stack < y->create_stack ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->state != y->state)
        return x->state < y->state ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

const char *an_state_name(uint32_t state, uint32_t wait_op)
{
    if (state == TG_TS_EXITED)
        return "exited";
    if (state == TG_TS_BLOCKED)
        return wait_op == TG_WAIT_NONE ? "blocked" : an_wait_op_name(wait_op);
    return "running";
}

static const char *const obj_names[TG_LOBJ_KIND_COUNT] = {
    [TG_LOBJ_MUTEX] = "mutex", [TG_LOBJ_RWLOCK] = "rwlock",
    [TG_LOBJ_SPIN] = "spin", [TG_LOBJ_COND] = "cond", [TG_LOBJ_SEM] = "sem",
    [TG_LOBJ_BARRIER] = "barrier", [TG_LOBJ_ONCE] = "once",
    [TG_LOBJ_CHAN] = "chan", [TG_LOBJ_CTX] = "ctx", [TG_LOBJ_WG] = "wg",
    [TG_LOBJ_GROUP] = "group", [TG_LOBJ_POOL] = "pool", [TG_LOBJ_LOCK] = "lock",
};

const char *an_obj_kind_name(uint32_t kind)
{
    return kind < TG_LOBJ_KIND_COUNT && obj_names[kind] ? obj_names[kind]
                                                         : "object";
}

static const char *const misuse_names[TG_MIS_COUNT] = {
    [TG_MIS_UNLOCK_NOT_HELD] = "unlock-not-held",
    [TG_MIS_UNLOCK_FOREIGN] = "unlock-foreign",
    [TG_MIS_RELOCK] = "relock",
    [TG_MIS_DESTROY_LOCKED] = "destroy-locked",
    [TG_MIS_DESTROY_WAITED] = "destroy-waited",
    [TG_MIS_EXIT_HOLDING] = "exit-holding-lock",
    [TG_MIS_COND_NO_MUTEX] = "cond-wait-unlocked",
    [TG_MIS_COND_TWO_MUTEXES] = "cond-two-mutexes",
    [TG_MIS_WG_NEGATIVE] = "wg-negative",
    [TG_MIS_SEND_CLOSED] = "send-on-closed",
    [TG_MIS_DOUBLE_CLOSE] = "double-close",
    [TG_MIS_CHAN_FREE_BUSY] = "free-busy",
};

const char *an_misuse_name(uint32_t subkind)
{
    return subkind < TG_MIS_COUNT && misuse_names[subkind]
               ? misuse_names[subkind] : "unknown";
}

const char *an_proc_state_name(uint32_t state)
{
    switch (state) {
    case TG_PROC_RUNNING: return "running";
    case TG_PROC_EXITED: return "exited";
    case TG_PROC_SIGNALED: return "signaled";
    case TG_PROC_EXECED: return "execed";
    case TG_PROC_DEADLOCKED: return "deadlocked";
    }
    return "running";
}

void an_format_duration(int64_t ns, char *buf, size_t size)
{
    if (ns < 0)
        ns = 0;
    if (ns < 1000000)
        snprintf(buf, size, "%" PRId64 "us", ns / 1000);
    else if (ns < 1000000000)
        snprintf(buf, size, "%" PRId64 "ms", ns / 1000000);
    else if (ns < 60 * (int64_t)1000000000)
        snprintf(buf, size, "%.1fs", (double)ns / 1e9);
    else
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s",
                 ns / 60000000000, (ns / 1000000000) % 60);
}

struct an_report *report_new(void)
{
    return xcalloc(1, sizeof(struct an_report));
}

static void process_free(struct an_process *p)
{
    free(p->exe);
    free(p->cmdline);
    free(p->log_path);
    for (size_t i = 0; i < p->nerrors; i++)
        free(p->errors[i]);
    free(p->errors);
    free(p);
}

void report_free(struct an_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->nfindings; i++)
        finding_free(rep->findings[i]);
    for (size_t i = 0; i < rep->nnotes; i++)
        finding_free(rep->notes[i]);
    for (size_t i = 0; i < rep->nsuppressed; i++)
        finding_free(rep->suppressed[i]);
    for (size_t i = 0; i < rep->nprocs; i++)
        process_free(rep->procs[i]);
    free(rep->findings);
    free(rep->notes);
    free(rep->suppressed);
    free(rep->procs);
    free(rep);
}

struct an_finding *finding_new(struct an_ctx *ctx, enum an_kind kind)
{
    struct an_finding *f = xcalloc(1, sizeof *f);
    f->kind = kind;
    f->proc = ctx ? ctx->proc : NULL;
    f->count = 1;
    return f;
}

void finding_add(struct an_ctx *ctx, struct an_finding *f)
{
    struct an_report *rep = ctx->rep;
    f->seq = rep->next_seq++;
    if (f->note) {
        xgrow(&rep->notes, &rep->cap_notes, rep->nnotes + 1, sizeof(void *));
        rep->notes[rep->nnotes++] = f;
    } else {
        xgrow(&rep->findings, &rep->cap_findings, rep->nfindings + 1,
              sizeof(void *));
        rep->findings[rep->nfindings++] = f;
    }
}

static void object_free(struct an_object *o)
{
    an_stack_free(&o->created);
}

static void thread_free(struct an_thread *t)
{
    object_free(&t->object);
    an_stack_free(&t->stack);
    an_stack_free(&t->created_stack);
    an_frame_free(&t->start_routine);
}

void finding_free(struct an_finding *f)
{
    if (!f)
        return;
    free(f->message);
    for (size_t i = 0; i < f->nthreads; i++)
        thread_free(&f->threads[i]);
    free(f->threads);
    for (size_t i = 0; i < f->nobjects; i++)
        object_free(&f->objects[i]);
    free(f->objects);
    for (size_t i = 0; i < f->nedges; i++) {
        an_stack_free(&f->edges[i].from_stack);
        an_stack_free(&f->edges[i].to_stack);
    }
    free(f->edges);
    an_stack_free(&f->stack);
    an_stack_free(&f->related_stack);
    for (size_t i = 0; i < f->naccesses; i++) {
        an_stack_free(&f->accesses[i].stack);
        free(f->accesses[i].locks);
    }
    free(f->accesses);
    free(f->location);
    free(f->suppressed_by);
    free(f);
}

static bool stack_any(const struct an_stack *s,
                      bool (*fn)(const struct an_frame *, void *), void *arg)
{
    for (size_t i = 0; i < s->n; i++)
        if (fn(&s->frames[i], arg))
            return true;
    return false;
}

bool finding_any_frame(const struct an_finding *f,
                       bool (*fn)(const struct an_frame *fr, void *arg),
                       void *arg)
{
    for (size_t i = 0; i < f->nthreads; i++) {
        const struct an_thread *t = &f->threads[i];
        if (stack_any(&t->stack, fn, arg) ||
            stack_any(&t->created_stack, fn, arg) ||
            stack_any(&t->object.created, fn, arg) ||
            (t->has_start && fn(&t->start_routine, arg)))
            return true;
    }
    for (size_t i = 0; i < f->nobjects; i++)
        if (stack_any(&f->objects[i].created, fn, arg))
            return true;
    for (size_t i = 0; i < f->nedges; i++)
        if (stack_any(&f->edges[i].from_stack, fn, arg) ||
            stack_any(&f->edges[i].to_stack, fn, arg))
            return true;
    for (size_t i = 0; i < f->naccesses; i++)
        if (stack_any(&f->accesses[i].stack, fn, arg))
            return true;
    return stack_any(&f->stack, fn, arg) ||
           stack_any(&f->related_stack, fn, arg);
}

void an_object_fill_rec(struct an_ctx *ctx, const struct tg_log_object *rec,
                        struct an_object *o)
{
    memset(o, 0, sizeof *o);
    if (!rec)
        return;
    o->present = true;
    o->kind = an_obj_kind_name(rec->kind);
    o->addr = rec->addr;
    o->created = sym_stack(ctx->sym, rec->create_stack);
}

void an_object_fill(struct an_ctx *ctx, uint64_t addr, struct an_object *o)
{
    memset(o, 0, sizeof *o);
    if (!addr)
        return;
    const struct tg_log_object *rec = tlog_object_at(ctx->log, addr);
    if (rec) {
        an_object_fill_rec(ctx, rec, o);
    } else {
        o->present = true;
        o->kind = "object";
        o->addr = addr;
    }
}

void an_thread_fill(struct an_ctx *ctx, uint32_t id, struct an_thread *t)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    t->blocked_ns = -1;
    t->state = "running";
    const struct tg_log_thread *r = tlog_thread(ctx->log, id);
    if (!r)
        return;
    t->tid = r->os_tid;
    memcpy(t->name, r->name, sizeof r->name);
    t->name[16] = 0;
    t->state = an_state_name(r->state, r->wait_op);
    if (r->state == TG_TS_BLOCKED) {
        if (r->wait_since_ns && ctx->now_ns >= r->wait_since_ns)
            t->blocked_ns = (int64_t)(ctx->now_ns - r->wait_since_ns);
        if (r->wait_op != TG_WAIT_JOIN && r->wait_op != TG_WAIT_SLEEP)
            an_object_fill(ctx, r->wait_obj, &t->object);
        t->stack = sym_stack(ctx->sym, r->wait_stack);
    } else if (r->state == TG_TS_EXITED) {
        t->stack = sym_stack(ctx->sym, r->exit_stack);
    }
    if (!(r->flags & TG_THRF_MAIN) && !(r->flags & TG_THRF_NO_CREATE)) {
        t->has_created_by = true;
        t->created_by = r->parent;
        t->created_stack = sym_stack(ctx->sym, r->create_stack);
    }
    if (r->start_routine) {
        t->has_start = true;
        t->start_routine = sym_addr(ctx->sym, r->start_routine);
    }
}
