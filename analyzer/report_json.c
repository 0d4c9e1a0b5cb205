/*
 * report_json.c: the JSON report, exactly as docs/report-format.md
 * specifies it (version 1). Keys that do not apply to a finding are left
 * out rather than written as null, and unknown frame fields (function,
 * file, line) are absent, so consumers can test for presence.
 */
#include <stdio.h>

#include "analyzer.h"

static void frame_json(struct jw *w, const struct an_frame *fr)
{
    jw_obj(w);
    jw_key(w, "pc");
    jw_hex(w, fr->pc);
    if (fr->function)
        jw_kstr(w, "function", fr->function);
    if (fr->file) {
        jw_kstr(w, "file", fr->file);
        if (fr->line)
            jw_kint(w, "line", fr->line);
    }
    if (fr->module) {
        jw_kstr(w, "module", fr->module);
        jw_key(w, "offset");
        jw_hex(w, fr->offset);
    }
    jw_key(w, "inlined");
    jw_bool(w, fr->inlined);
    jw_obj_end(w);
}

static bool full_stacks;   /* set per report from its options */

static void stack_json(struct jw *w, const char *key, const struct an_stack *st)
{
    struct an_stack s = an_stack_shown(st, full_stacks);
    jw_key(w, key);
    jw_arr(w);
    for (size_t i = 0; i < s.n; i++)
        frame_json(w, &s.frames[i]);
    jw_arr_end(w);
}

static void object_json(struct jw *w, const struct an_object *o)
{
    jw_obj(w);
    jw_kstr(w, "kind", o->kind);
    jw_key(w, "address");
    jw_hex(w, o->addr);
    stack_json(w, "created", &o->created);
    jw_obj_end(w);
}


/* One thread object. For a group (a hang finding's identical threads
 * [i, end) of f), the first thread stands for all, with "count" and the
 * "ids" of every member: 10,000 parked workers are one object, not
 * 10,000 copies of the same stacks. */
static void thread_json(struct jw *w, const struct an_finding *f, size_t i,
                        size_t end)
{
    const struct an_thread *t = &f->threads[i];
    jw_obj(w);
    jw_kint(w, "id", t->id);
    if (f->kind == AN_HANG) {
        jw_kint(w, "count", (int64_t)(end - i));
        jw_key(w, "ids");
        jw_arr(w);
        for (size_t k = i; k < end; k++)
            jw_int(w, f->threads[k].id);
        jw_arr_end(w);
    }
    jw_kint(w, "tid", t->tid);
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "state", t->state);
    if (t->blocked_ns >= 0)
        jw_kint(w, "blocked_ns", t->blocked_ns);
    if (t->object.present) {
        jw_key(w, "object");
        object_json(w, &t->object);
    }
    if (t->holder)
        jw_kint(w, "holder", t->holder);
    stack_json(w, "stack", &t->stack);
    if (t->has_created_by) {
        jw_key(w, "created_by");
        jw_obj(w);
        jw_kint(w, "thread", t->created_by);
        stack_json(w, "stack", &t->created_stack);
        jw_obj_end(w);
    }
    if (t->has_start) {
        jw_key(w, "start_routine");
        frame_json(w, &t->start_routine);
    }
    jw_obj_end(w);
}

static void finding_json(struct jw *w, const struct an_finding *f)
{
    jw_obj(w);
    jw_kstr(w, "kind", an_kind_name(f->kind));
    if (f->subkind)
        jw_kstr(w, "subkind", f->subkind);
    jw_kint(w, "pid", f->proc ? f->proc->pid : 0);
    jw_kstr(w, "message", f->message);
    jw_kint(w, "count", f->count);
    if (f->suppressed_by)
        jw_kstr(w, "suppressed_by", f->suppressed_by);
    if (f->nthreads || f->kind == AN_LEAK || f->kind == AN_DEADLOCK ||
        f->kind == AN_HANG || f->kind == AN_UNJOINED) {
        jw_key(w, "threads");
        jw_arr(w);
        for (size_t i = 0, end; i < f->nthreads; i = end) {
            end = hang_group_end(f, i);
            thread_json(w, f, i, end);
        }
        jw_arr_end(w);
    }
    if (f->nobjects) {
        jw_key(w, "objects");
        jw_arr(w);
        for (size_t i = 0; i < f->nobjects; i++)
            object_json(w, &f->objects[i]);
        jw_arr_end(w);
    }
    if (f->kind == AN_LOCK_ORDER) {
        jw_key(w, "edges");
        jw_arr(w);
        for (size_t i = 0; i < f->nedges; i++) {
            const struct an_edge *e = &f->edges[i];
            jw_obj(w);
            jw_key(w, "from");
            jw_hex(w, e->from);
            jw_key(w, "to");
            jw_hex(w, e->to);
            jw_kint(w, "thread", e->thread);
            jw_kint(w, "count", e->count);
            stack_json(w, "from_stack", &e->from_stack);
            stack_json(w, "to_stack", &e->to_stack);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    if (f->stack.n || f->kind == AN_MISUSE)
        stack_json(w, "stack", &f->stack);
    if (f->related_stack.n || f->kind == AN_MISUSE)
        stack_json(w, "related_stack", &f->related_stack);
    if (f->naccesses) {
        jw_key(w, "accesses");
        jw_arr(w);
        for (size_t i = 0; i < f->naccesses; i++) {
            const struct an_access *a = &f->accesses[i];
            jw_obj(w);
            jw_kint(w, "thread", a->thread);
            jw_key(w, "write");
            jw_bool(w, a->write);
            if (a->freed) {
                jw_key(w, "free");
                jw_bool(w, true);
            }
            jw_kint(w, "size", a->size);
            jw_key(w, "address");
            jw_hex(w, a->addr);
            stack_json(w, "stack", &a->stack);
            jw_key(w, "locks");
            jw_arr(w);
            for (size_t k = 0; k < a->nlocks; k++)
                jw_hex(w, a->locks[k]);
            jw_arr_end(w);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    if (f->location)
        jw_kstr(w, "location", f->location);
    jw_obj_end(w);
}

static void findings_json(struct jw *w, const char *key,
                          struct an_finding *const *v, size_t n)
{
    jw_key(w, key);
    jw_arr(w);
    for (size_t i = 0; i < n; i++)
        finding_json(w, v[i]);
    jw_arr_end(w);
}

void report_json(FILE *out, const struct an_report *rep,
                 const struct an_options *opt)
{
    struct jw w;
    full_stacks = opt->full_stacks;
    jw_init(&w, out);
    jw_obj(&w);
    jw_kstr(&w, "tool", "tangle");
    jw_kstr(&w, "version", TANGLE_VERSION);
    jw_kint(&w, "report_version", TANGLE_REPORT_VERSION);
    jw_key(&w, "processes");
    jw_arr(&w);
    for (size_t i = 0; i < rep->nprocs; i++) {
        const struct an_process *p = rep->procs[i];
        if (!p->usable)
            continue;
        jw_obj(&w);
        jw_kint(&w, "pid", p->pid);
        jw_kint(&w, "parent_pid", p->parent_pid);
        jw_kstr(&w, "exe", p->exe);
        jw_kstr(&w, "cmdline", p->cmdline);
        jw_kstr(&w, "log", p->log_path);
        jw_kstr(&w, "state", p->state);
        jw_kint(&w, "exit_code", p->exit_code);
        jw_kint(&w, "threads", p->nthreads);
        jw_key(&w, "dropped");
        jw_obj(&w);
        static const char *const dn[5] = { "events", "stacks", "threads",
                                           "objects", "edges" };
        for (int k = 0; k < 5; k++) {
            jw_key(&w, dn[k]);
            jw_uint(&w, p->dropped[k]);
        }
        jw_obj_end(&w);
        jw_key(&w, "events");
        jw_uint(&w, p->events);
        jw_key(&w, "errors");
        jw_arr(&w);
        for (size_t k = 0; k < p->nerrors; k++)
            jw_str(&w, p->errors[k]);
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    findings_json(&w, "findings", rep->findings, rep->nfindings);
    /* Additions to version 1: notes (not counted), what suppressions hid
     * (each with its suppressed_by rule), logs that could not be read. */
    findings_json(&w, "notes", rep->notes, rep->nnotes);
    findings_json(&w, "suppressed", rep->suppressed, rep->nsuppressed);
    jw_key(&w, "errors");
    jw_arr(&w);
    for (size_t i = 0; i < rep->nprocs; i++)
        if (!rep->procs[i]->usable)
            for (size_t k = 0; k < rep->procs[i]->nerrors; k++)
                jw_str(&w, rep->procs[i]->errors[k]);
    jw_arr_end(&w);
    jw_key(&w, "summary");
    jw_obj(&w);
    for (int k = 0; k < AN_KIND_COUNT; k++)
        jw_kint(&w, an_kind_name(k), (int64_t)rep->counts[k]);
    jw_kint(&w, "total", (int64_t)rep->nfindings);
    jw_kint(&w, "suppressed", (int64_t)rep->nsuppressed);
    jw_obj_end(&w);
    jw_obj_end(&w);
    jw_end(&w);
    (void)opt;
}
