/*
 * report_sarif.c: SARIF 2.1.0 for code-scanning UIs. One rule per kind and
 * per misuse subkind (a fixed list, so rule indices are stable across
 * runs); each finding is a result located at the first frame of its main
 * stack that has a source file in the program (not in libtangle), and its
 * other stacks become a code flow (one thread flow per thread or
 * lock-order edge) so the UI can walk them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

struct rule_def {
    const char *id, *name, *text;
};

static const struct rule_def rules[] = {
    {"leak", "ThreadLeak", "A thread was still running when the process "
     "ended or at a leak checkpoint"},
    {"unjoined", "UnjoinedThread", "A thread finished but was never joined "
     "or detached"},
    {"lost-cancel", "LostCancel", "A cancelable context was never "
     "cancelled"},
    {"lock-order", "LockOrderInversion", "Locks taken in orders that can "
     "deadlock"},
    {"deadlock", "Deadlock", "Threads deadlocked while the program ran"},
    {"race", "DataRace", "Unsynchronized accesses to shared memory"},
    {"hang", "Hang", "The program did not finish within the time limit"},
    {"misuse/unlock-not-held", "UnlockNotHeld", "Unlock of a lock that is "
     "not held"},
    {"misuse/unlock-foreign", "UnlockForeign", "Unlock of a lock held by "
     "another thread"},
    {"misuse/relock", "Relock", "Relock of a non-recursive mutex"},
    {"misuse/destroy-locked", "DestroyLocked", "Destroy of a held lock"},
    {"misuse/destroy-waited", "DestroyWaited", "Destroy of a condition or "
     "barrier that is waited on"},
    {"misuse/exit-holding-lock", "ExitHoldingLock", "Thread exit while "
     "holding a lock"},
    {"misuse/cond-wait-unlocked", "CondWaitUnlocked", "Condition wait "
     "without holding its mutex"},
    {"misuse/cond-two-mutexes", "CondTwoMutexes", "One condition used with "
     "two mutexes"},
    {"misuse/wg-negative", "WaitGroupNegative", "WaitGroup counter went "
     "negative"},
    {"misuse/send-on-closed", "SendOnClosed", "Send on a closed channel"},
    {"misuse/double-close", "DoubleClose", "Close of a closed channel"},
    {"misuse/free-busy", "FreeBusy", "Free of a channel that has waiters"},
};
#define NRULES (sizeof rules / sizeof rules[0])

static size_t rule_index(const struct an_finding *f)
{
    char id[64];
    if (f->subkind)
        snprintf(id, sizeof id, "%s/%s", an_kind_name(f->kind), f->subkind);
    else
        snprintf(id, sizeof id, "%s", an_kind_name(f->kind));
    for (size_t i = 0; i < NRULES; i++)
        if (strcmp(rules[i].id, id) == 0)
            return i;
    return 0;
}

static bool full_stacks;   /* set per report from its options */

/* The frame a code-scanning UI should point at: the first one with a
 * source file in the program's code, not inside libtangle's channel or
 * context internals; failing that, the first with a file at all. */
static const struct an_frame *top_with_file(const struct an_stack *st)
{
    struct an_stack s = an_stack_shown(st, full_stacks);
    for (size_t i = 0; i < s.n; i++)
        if (s.frames[i].file && !an_frame_in_tangle(&s.frames[i]))
            return &s.frames[i];
    for (size_t i = 0; i < s.n; i++)
        if (s.frames[i].file)
            return &s.frames[i];
    return NULL;
}

static void uri(struct jw *w, const char *file)
{
    if (file[0] == '/') {
        char *u = xasprintf("file://%s", file);
        jw_kstr(w, "uri", u);
        free(u);
    } else {
        jw_kstr(w, "uri", file);
    }
}

static void location(struct jw *w, const struct an_frame *fr, const char *msg)
{
    jw_obj(w);
    if (fr->file) {
        jw_key(w, "physicalLocation");
        jw_obj(w);
        jw_key(w, "artifactLocation");
        jw_obj(w);
        uri(w, fr->file);
        jw_obj_end(w);
        if (fr->line > 0) {
            jw_key(w, "region");
            jw_obj(w);
            jw_kint(w, "startLine", fr->line);
            jw_obj_end(w);
        }
        jw_obj_end(w);
    }
    if (fr->function) {
        jw_key(w, "logicalLocations");
        jw_arr(w);
        jw_obj(w);
        jw_kstr(w, "fullyQualifiedName", fr->function);
        jw_kstr(w, "kind", "function");
        jw_obj_end(w);
        jw_arr_end(w);
    }
    if (msg) {
        jw_key(w, "message");
        jw_obj(w);
        jw_kstr(w, "text", msg);
        jw_obj_end(w);
    }
    jw_obj_end(w);
}

static void thread_flow(struct jw *w, const char *title,
                        const struct an_stack *st)
{
    if (!st->n)
        return;
    struct an_stack shown = an_stack_shown(st, full_stacks);
    const struct an_stack *s = &shown;
    jw_obj(w);
    jw_key(w, "message");
    jw_obj(w);
    jw_kstr(w, "text", title);
    jw_obj_end(w);
    jw_key(w, "locations");
    jw_arr(w);
    /* Thread flows run outermost call first. */
    for (size_t i = s->n; i-- > 0;) {
        jw_obj(w);
        jw_key(w, "location");
        location(w, &s->frames[i], s->frames[i].function);
        jw_kint(w, "nestingLevel", (int64_t)(s->n - 1 - i));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

static const struct an_stack *main_stack(const struct an_finding *f)
{
    if (f->stack.n)
        return &f->stack;
    if (f->nedges)
        return &f->edges[0].to_stack;
    if (f->naccesses)
        return &f->accesses[0].stack;
    for (size_t i = 0; i < f->nthreads; i++) {
        if (top_with_file(&f->threads[i].stack))
            return &f->threads[i].stack;
        if (top_with_file(&f->threads[i].created_stack))
            return &f->threads[i].created_stack;
    }
    if (f->nobjects)
        return &f->objects[0].created;
    return &f->stack;
}

static void result(struct jw *w, const struct an_finding *f)
{
    size_t r = rule_index(f);
    jw_obj(w);
    jw_kstr(w, "ruleId", rules[r].id);
    jw_kint(w, "ruleIndex", (int64_t)r);
    jw_kstr(w, "level", f->kind == AN_UNJOINED || f->kind == AN_LOST_CANCEL
                            ? "warning" : "error");
    jw_key(w, "message");
    jw_obj(w);
    jw_kstr(w, "text", f->message);
    jw_obj_end(w);
    jw_key(w, "locations");
    jw_arr(w);
    const struct an_frame *top = top_with_file(main_stack(f));
    if (top)
        location(w, top, NULL);
    jw_arr_end(w);

    jw_key(w, "codeFlows");
    jw_arr(w);
    jw_obj(w);
    jw_key(w, "threadFlows");
    jw_arr(w);
    char title[128];
    /* One flow per group of alike threads (a leak of 10,000 parked
     * workers is one flow, not 10,000). */
    for (size_t i = 0, end; i < f->nthreads; i = end) {
        end = an_thread_group_end(f, i);
        const struct an_thread *t = &f->threads[i];
        if (end - i > 1)
            snprintf(title, sizeof title, "thread %u [%s] and %zu more like "
                     "it", t->id, t->state, end - i - 1);
        else
            snprintf(title, sizeof title, "thread %u [%s]", t->id, t->state);
        thread_flow(w, title, &t->stack);
        snprintf(title, sizeof title, "thread %u created by thread %u",
                 t->id, t->created_by);
        thread_flow(w, title, &t->created_stack);
    }
    for (size_t i = 0; i < f->nedges; i++) {
        const struct an_edge *e = &f->edges[i];
        snprintf(title, sizeof title, "lock 0x%llx taken while holding "
                 "0x%llx (thread %u)", (unsigned long long)e->to,
                 (unsigned long long)e->from, e->thread);
        thread_flow(w, title, &e->to_stack);
        snprintf(title, sizeof title, "lock 0x%llx taken",
                 (unsigned long long)e->from);
        thread_flow(w, title, &e->from_stack);
    }
    thread_flow(w, "the offending call", &f->stack);
    thread_flow(w, "the earlier related call", &f->related_stack);
    for (size_t i = 0; i < f->naccesses; i++) {
        snprintf(title, sizeof title, "%s by thread %u",
                 race_op(f->accesses[i].write, f->accesses[i].freed),
                 f->accesses[i].thread);
        thread_flow(w, title, &f->accesses[i].stack);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    jw_arr_end(w);

    jw_key(w, "relatedLocations");
    jw_arr(w);
    for (size_t i = 0; i < f->nobjects; i++) {
        const struct an_frame *c = top_with_file(&f->objects[i].created);
        if (!c)
            continue;
        snprintf(title, sizeof title, "%s 0x%llx created here",
                 f->objects[i].kind, (unsigned long long)f->objects[i].addr);
        location(w, c, title);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

void report_sarif(FILE *out, const struct an_report *rep,
                  const struct an_options *opt)
{
    struct jw w;
    full_stacks = opt->full_stacks;
    jw_init(&w, out);
    jw_obj(&w);
    jw_kstr(&w, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    jw_kstr(&w, "version", "2.1.0");
    jw_key(&w, "runs");
    jw_arr(&w);
    jw_obj(&w);
    jw_key(&w, "tool");
    jw_obj(&w);
    jw_key(&w, "driver");
    jw_obj(&w);
    jw_kstr(&w, "name", "tangle");
    jw_kstr(&w, "version", TANGLE_VERSION);
    jw_key(&w, "rules");
    jw_arr(&w);
    for (size_t i = 0; i < NRULES; i++) {
        jw_obj(&w);
        jw_kstr(&w, "id", rules[i].id);
        jw_kstr(&w, "name", rules[i].name);
        jw_key(&w, "shortDescription");
        jw_obj(&w);
        jw_kstr(&w, "text", rules[i].text);
        jw_obj_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_obj_end(&w);
    jw_key(&w, "results");
    jw_arr(&w);
    for (size_t i = 0; i < rep->nfindings; i++)
        result(&w, rep->findings[i]);
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_end(&w);
}
