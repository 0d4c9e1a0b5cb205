/*
 * report_text.c: the human report, modelled on goleak's and TSan's: one
 * header line per finding ("tangle: leak: ..." or, for potential
 * deadlocks, TSan's "WARNING: tangle: lock-order inversion"), each thread
 * with its state and how long, stacks as numbered `#0 function file:line`
 * lines, where things were created, and one summary line at the end.
 * Paths under the current directory are shown relative to it, as a user
 * would type them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer.h"

static char cwd[4096];

static const char *short_path(const char *p)
{
    if (!cwd[0] && !getcwd(cwd, sizeof cwd))
        cwd[0] = 0;
    size_t n = strlen(cwd);
    if (n && strncmp(p, cwd, n) == 0 && p[n] == '/')
        return p + n + 1;
    return p;
}

static void frame_line(FILE *out, size_t i, const struct an_frame *fr,
                       const char *indent)
{
    fprintf(out, "%s#%zu ", indent, i);
    if (fr->function)
        fputs(fr->function, out);
    else
        fprintf(out, "0x%" PRIx64, fr->pc);
    if (fr->file)
        fprintf(out, " %s:%d", short_path(fr->file), fr->line);
    else if (fr->module)
        fprintf(out, " (%s+0x%" PRIx64 ")", short_path(fr->module),
                fr->offset);
    if (fr->inlined)
        fputs(" (inlined)", out);
    fputc('\n', out);
}

static bool full_stacks;

void text_full_stacks(bool full)
{
    full_stacks = full;
}

void text_stack(FILE *out, const struct an_stack *st, const char *indent)
{
    if (!st->n) {
        fprintf(out, "%s(no stack recorded)\n", indent);
        return;
    }
    struct an_stack s = an_stack_shown(st, full_stacks);
    for (size_t i = 0; i < s.n; i++)
        frame_line(out, i, &s.frames[i], indent);
}

static void object_line(FILE *out, const struct an_object *o,
                        const char *indent, const char *what)
{
    fprintf(out, "%s%s %s 0x%" PRIx64, indent, what, o->kind, o->addr);
    if (o->created.n) {
        fputs(", created at:\n", out);
        char in[64];
        snprintf(in, sizeof in, "%s  ", indent);
        text_stack(out, &o->created, in);
    } else {
        fputc('\n', out);
    }
}

void text_thread(FILE *out, const struct an_thread *t, const char *indent)
{
    char in2[64], in4[64];
    snprintf(in2, sizeof in2, "%s  ", indent);
    snprintf(in4, sizeof in4, "%s    ", indent);
    fprintf(out, "%sthread %u", indent, t->id);
    if (t->name[0])
        fprintf(out, " \"%s\"", t->name);
    if (t->tid)
        fprintf(out, " (tid %d)", t->tid);
    fprintf(out, " [%s", t->state);
    if (t->blocked_ns >= 0) {
        char d[32];
        an_format_duration(t->blocked_ns, d, sizeof d);
        fprintf(out, ", %s", d);
    }
    fputs("]", out);
    if (t->holder)
        fprintf(out, ", held by thread %u", t->holder);
    fputs(":\n", out);
    /* goleak's order: where the thread is, then what it waits on. */
    if (t->stack.n)
        text_stack(out, &t->stack, in4);
    if (t->object.present)
        object_line(out, &t->object, in2, "waiting on");
    if (t->has_created_by) {
        fprintf(out, "%screated by thread %u", in2, t->created_by);
        /* tangle's own trampoline (tg_go) says nothing: leave it out. */
        const struct an_frame *sr = &t->start_routine;
        const char *mod = sr->module ? strrchr(sr->module, '/') : NULL;
        mod = mod ? mod + 1 : sr->module;
        if (t->has_start && sr->function &&
            !(mod && strncmp(mod, "libtangle.so", 12) == 0))
            fprintf(out, " to run %s", sr->function);
        fputs(" at:\n", out);
        text_stack(out, &t->created_stack, in4);
    }
}


/* The threads [from, to) that are like the one just printed: their number
 * and the first 16 ids, so 10,000 parked workers take one line. */
static void more_like_it(FILE *out, const struct an_thread *t, size_t from,
                         size_t to)
{
    if (from >= to)
        return;
    fprintf(out, "  and %zu more thread%s like it:", to - from,
            to - from == 1 ? "" : "s");
    for (size_t i = from; i < to && i < from + 16; i++)
        fprintf(out, " %u", t[i].id);
    fputs(to > from + 16 ? " ...\n" : "\n", out);
}

static void finding_text(FILE *out, const struct an_finding *f, bool note)
{
    const char *kind = an_kind_name(f->kind);
    if (note)
        fprintf(out, "tangle: note: %s", f->message);
    else if (f->kind == AN_LOCK_ORDER) {
        fprintf(out, "WARNING: tangle: lock-order inversion (potential "
                "deadlock)%s\n  cycle of %zu locks:", f->note ? " [gated]" : "",
                f->nedges);
        for (size_t i = 0; i < f->nedges; i++)
            fprintf(out, " 0x%" PRIx64 " ->", f->edges[i].from);
        if (f->nedges)
            fprintf(out, " 0x%" PRIx64, f->edges[0].from);
    } else if (f->subkind)
        fprintf(out, "tangle: %s (%s): %s", kind, f->subkind, f->message);
    else
        fprintf(out, "tangle: %s: %s", kind, f->message);
    if (f->proc)
        fprintf(out, " [pid %d]", f->proc->pid);
    fputc('\n', out);

    if (f->kind == AN_LOCK_ORDER) {
        for (size_t i = 0; i < f->nedges; i++) {
            const struct an_edge *e = &f->edges[i];
            fprintf(out, "  lock 0x%" PRIx64 " taken while holding 0x%"
                    PRIx64 " by thread %u:\n", e->to, e->from, e->thread);
            text_stack(out, &e->to_stack, "    ");
            fprintf(out, "  where 0x%" PRIx64 " had been taken:\n", e->from);
            text_stack(out, &e->from_stack, "    ");
        }
        for (size_t i = 0; i < f->nobjects; i++)
            object_line(out, &f->objects[i], "  ", "lock");
    } else {
        /* A group of identical threads: one is enough to read. A leak
         * finding is one group; a hang finding holds several, each
         * printed as its first thread and the others' ids. */
        for (size_t i = 0; i < f->nthreads;) {
            size_t end = an_thread_group_end(f, i);
            text_thread(out, &f->threads[i], "  ");
            more_like_it(out, f->threads, i + 1, end);
            i = end;
        }
        if (f->stack.n) {
            fputs(f->kind == AN_LOST_CANCEL ? "  context created at:\n"
                                            : "  at:\n", out);
            text_stack(out, &f->stack, "    ");
        }
        if (f->related_stack.n) {
            fputs("  previously at:\n", out);
            text_stack(out, &f->related_stack, "    ");
        }
        if (f->kind == AN_MISUSE)
            for (size_t i = 0; i < f->nobjects; i++)
                if (f->objects[i].present && f->objects[i].created.n)
                    object_line(out, &f->objects[i], "  ", "on");
        for (size_t i = 0; i < f->naccesses; i++) {
            const struct an_access *a = &f->accesses[i];
            fprintf(out, "  %s of size %u at 0x%" PRIx64 " by thread %u:\n",
                    race_op(a->write, a->freed), a->size, a->addr, a->thread);
            text_stack(out, &a->stack, "    ");
        }
        if (f->location)
            fprintf(out, "  location: %s\n", f->location);
    }
    fputc('\n', out);
}

void report_text(FILE *out, const struct an_report *rep,
                 const struct an_options *opt)
{
    text_full_stacks(opt->full_stacks);
    for (size_t i = 0; i < rep->nprocs; i++) {
        const struct an_process *p = rep->procs[i];
        if (p->usable && strcmp(p->state, "running") == 0 && !opt->hang) {
            /* No final snapshot: still running, or killed by a signal
             * that cannot be caught. The pid tells which, on this host. */
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/%d", p->pid);
            if (access(proc, F_OK) == 0)
                fprintf(out, "tangle: note: process %d (%s) is still "
                        "running: this is a snapshot, leaks are judged at "
                        "exit\n\n", p->pid, p->cmdline);
            else
                fprintf(out, "tangle: note: process %d (%s) ended without "
                        "writing its final snapshot (killed with SIGKILL?): "
                        "this is its last known state\n\n", p->pid,
                        p->cmdline);
        }
        if (p->usable && (p->dropped[1] || p->dropped[2] || p->dropped[3] ||
                          p->dropped[4]))
            fprintf(out, "tangle: note: process %d: the log was full, lost "
                    "%" PRIu64 " stacks, %" PRIu64 " threads, %" PRIu64
                    " objects, %" PRIu64 " lock-order edges\n\n", p->pid,
                    p->dropped[1], p->dropped[2], p->dropped[3], p->dropped[4]);
    }
    for (size_t i = 0; i < rep->nfindings; i++)
        finding_text(out, rep->findings[i], false);
    for (size_t i = 0; i < rep->nnotes; i++)
        finding_text(out, rep->notes[i], true);

    size_t nproc = 0;
    for (size_t i = 0; i < rep->nprocs; i++)
        nproc += rep->procs[i]->usable;
    if (!rep->nfindings) {
        fprintf(out, "tangle: no findings in %zu process%s", nproc,
                nproc == 1 ? "" : "es");
    } else {
        fprintf(out, "tangle: %zu finding%s (", rep->nfindings,
                rep->nfindings == 1 ? "" : "s");
        bool first = true;
        for (int k = 0; k < AN_KIND_COUNT; k++) {
            if (!rep->counts[k])
                continue;
            fprintf(out, "%s%zu %s", first ? "" : ", ", rep->counts[k],
                    an_kind_name(k));
            first = false;
        }
        fprintf(out, ") in %zu process%s", nproc, nproc == 1 ? "" : "es");
    }
    if (rep->nsuppressed)
        fprintf(out, ", %zu suppressed", rep->nsuppressed);
    fputc('\n', out);
}
