/*
 * analyze.c: from log files to a finished report. Logs are handled one at
 * a time (open, symbolize, run every analysis, close), so memory holds one
 * log's tables plus the findings, however many processes a run had. The
 * analysis table below is the one place a new analysis joins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer.h"
#include "race.h"

static const an_analysis_fn analyses[] = {
    analyze_leaks,
    analyze_lockorder,
    analyze_deadlocks,
    analyze_misuse,
    analyze_races,
    analyze_hang,
};

static uint64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add_process(struct an_report *rep, struct an_process *p)
{
    xgrow(&rep->procs, &rep->cap_procs, rep->nprocs + 1, sizeof(void *));
    rep->procs[rep->nprocs++] = p;
}

static struct an_process *process_of(struct tlog *log)
{
    struct an_process *p = xcalloc(1, sizeof *p);
    const struct tg_log_header *h = &log->hdr;
    p->pid = h->pid;
    p->parent_pid = h->parent_pid;
    p->exe = xstrdup(h->exe);
    p->cmdline = xstrdup(h->cmdline);
    p->log_path = xstrdup(log->path);
    p->state = an_proc_state_name(h->proc_state);
    p->exit_code = h->exit_code;
    for (size_t i = 0; i < log->nthreads; i++)
        if (log->threads[i].commit == TG_LOG_COMMITTED &&
            !(log->threads[i].flags & (TG_THRF_INTERNAL | TG_THRF_FOREIGN)))
            p->nthreads++;
    p->dropped[0] = log->sec[TG_SEC_EVENTS].dropped;
    p->dropped[1] = log->sec[TG_SEC_STACKS].dropped;
    p->dropped[2] = log->sec[TG_SEC_THREADS].dropped;
    p->dropped[3] = log->sec[TG_SEC_OBJECTS].dropped;
    p->dropped[4] = log->sec[TG_SEC_EDGES].dropped;
    p->nerrors = log->nerrors;
    p->errors = xcalloc(log->nerrors + 1, sizeof(char *));
    for (size_t i = 0; i < log->nerrors; i++)
        p->errors[i] = xstrdup(log->errors[i]);
    p->usable = true;
    return p;
}

static int proc_cmp(const void *a, const void *b)
{
    const struct an_process *x = *(struct an_process *const *)a;
    const struct an_process *y = *(struct an_process *const *)b;
    if (x->usable != y->usable)
        return x->usable ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Counts the memory accesses: the race replay has work only when the
 * stream carries some. */
static int count_event(void *arg, uint32_t thread,
                       const struct tg_log_event *ev)
{
    (void)thread;
    if (ev->type == TG_EV_READ || ev->type == TG_EV_WRITE)
        (*(uint64_t *)arg)++;
    return 0;
}

struct an_process *report_add_log(struct an_report *rep, struct tlog *log,
                                  const struct an_options *opt)
{
    struct an_process *p = process_of(log);
    p->order = rep->nprocs;
    add_process(rep, p);
    struct an_ctx ctx = {
        .log = log, .proc = p, .rep = rep, .opt = opt,
    };
    uint32_t st = log->hdr.proc_state;
    ctx.ended = st == TG_PROC_EXITED || st == TG_PROC_SIGNALED ||
                st == TG_PROC_DEADLOCKED;
    ctx.now_ns = log->hdr.end_ns;
    if (!ctx.ended || !ctx.now_ns)
        ctx.now_ns = mono_now();
    /* One pass over the event stream: it checks every chunk (a damaged
     * one is counted, not trusted) and says what the log holds. */
    struct tlog_event_stats es;
    tlog_events(log, count_event, &ctx.access_events, &es);
    p->events = es.events;
    p->torn_chunks = es.torn;
    ctx.sym = sym_new(log);
    for (size_t a = 0; a < sizeof analyses / sizeof analyses[0]; a++)
        analyses[a](&ctx);
    sym_free(ctx.sym);
    return p;
}

struct an_report *analyze_logs(char *const *paths, size_t npaths,
                               const struct an_options *opt,
                               size_t *nusable, char **err)
{
    *nusable = 0;
    *err = NULL;
    struct an_suppressions *supp = NULL;
    const char *sfile = opt->suppressions;
    if (!sfile)
        sfile = getenv("TANGLE_SUPPRESSIONS");
    if (sfile && *sfile) {
        supp = suppress_load(sfile, err);
        if (!supp)
            return NULL;
    }
    struct an_report *rep = report_new();
    for (size_t i = 0; i < npaths; i++) {
        struct tlog *log;
        char *msg = NULL;
        if (tlog_open(paths[i], &log, &msg) < 0) {
            struct an_process *p = xcalloc(1, sizeof *p);
            p->log_path = xstrdup(paths[i]);
            p->exe = xstrdup("");
            p->cmdline = xstrdup("");
            p->state = "unreadable";
            p->errors = xcalloc(1, sizeof(char *));
            p->errors[0] = msg;
            p->nerrors = 1;
            p->order = i;
            add_process(rep, p);
            continue;
        }
        report_add_log(rep, log, opt)->order = i;
        (*nusable)++;
        tlog_close(log);
    }
    if (rep->nprocs > 1)
        qsort(rep->procs, rep->nprocs, sizeof *rep->procs, proc_cmp);
    for (size_t i = 0; i < rep->nprocs; i++)
        rep->procs[i]->order = i;
    report_finish(rep, supp);
    suppress_free(supp);
    return rep;
}

static int finding_cmp(const void *a, const void *b)
{
    const struct an_finding *x = *(struct an_finding *const *)a;
    const struct an_finding *y = *(struct an_finding *const *)b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    size_t px = x->proc ? x->proc->order : 0, py = y->proc ? y->proc->order : 0;
    if (px != py)
        return px < py ? -1 : 1;
    if (x->sort_key != y->sort_key)
        return x->sort_key < y->sort_key ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void report_finish(struct an_report *rep, const struct an_suppressions *s)
{
    size_t k = 0;
    for (size_t i = 0; i < rep->nfindings; i++) {
        struct an_finding *f = rep->findings[i];
        const char *rule = s ? suppress_match(s, f) : NULL;
        if (rule) {
            f->suppressed_by = xstrdup(rule);
            xgrow(&rep->suppressed, &rep->cap_suppressed,
                  rep->nsuppressed + 1, sizeof(void *));
            rep->suppressed[rep->nsuppressed++] = f;
        } else {
            rep->findings[k++] = f;
        }
    }
    rep->nfindings = k;
    if (rep->nfindings > 1)
        qsort(rep->findings, rep->nfindings, sizeof(void *), finding_cmp);
    /* After sorting, so a race seen in several processes stays with the
     * first of them in report order, whatever order the logs came in. */
    race_dedup(rep->findings, &rep->nfindings);
    race_dedup(rep->suppressed, &rep->nsuppressed);
    if (rep->nnotes > 1)
        qsort(rep->notes, rep->nnotes, sizeof(void *), finding_cmp);
    memset(rep->counts, 0, sizeof rep->counts);
    for (size_t i = 0; i < rep->nfindings; i++)
        rep->counts[rep->findings[i]->kind]++;
}
