/*
 * analyzer.h: the analyzer's finding model, shared by every analysis and
 * every report writer.
 *
 * The data flows one way: logs (logread.h) are opened into processes; each
 * analysis (leaks.c, lockorder.c, deadlock.c, misuse.c, hang.c, and any
 * later one such as races) reads a process's log and appends findings to a
 * report; report_finish() applies suppressions, sorts and counts; a writer
 * (report_text.c, report_json.c, report_sarif.c) prints the report. A
 * finding carries symbolized stacks, not log ids, so writers and
 * suppressions need nothing but this header. Adding an analysis means one
 * more function of the an_analysis_fn shape in the table of analyze.c, and
 * a kind in enum an_kind if it reports something new.
 */
#ifndef TANGLE_ANALYZER_H
#define TANGLE_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "logread.h"
#include "symbolize.h"

#define TANGLE_VERSION "0.1.0"
#define TANGLE_REPORT_VERSION 1

/* Exit codes (docs/report-format.md). */
enum {
    EXIT_FINDINGS_DEFAULT = 66,
    EXIT_USAGE = 64,
    EXIT_DATAERR = 65,
    EXIT_INTERNAL = 70,
};

/* ---- allocation (alloc.c): abort with a message when memory runs out -- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Grows *p (elements of size) so that index `need - 1` fits. */
void xgrow(void *pp, size_t *cap, size_t need, size_t size);

/* ---- the model ------------------------------------------------------- */

/* Finding kinds, in report order (docs/report-format.md). */
enum an_kind {
    AN_LEAK,
    AN_UNJOINED,
    AN_LOST_CANCEL,
    AN_LOCK_ORDER,
    AN_DEADLOCK,
    AN_MISUSE,
    AN_RACE,
    AN_HANG,
    AN_KIND_COUNT
};
const char *an_kind_name(enum an_kind kind);
/* Kind by name, or -1. */
int an_kind_parse(const char *name);

struct an_object {
    bool present;
    const char *kind;         /* "mutex", "chan" ... (static string) */
    uint64_t addr;
    struct an_stack created;
};

struct an_thread {
    uint32_t id;
    int32_t tid;
    char name[17];
    const char *state;        /* static string, docs/report-format.md */
    int64_t blocked_ns;       /* -1: not blocked / unknown */
    struct an_object object;  /* what it waits on */
    uint32_t holder;          /* deadlock: who holds object, 0 */
    struct an_stack stack;    /* where it is now (blocked) */
    bool has_created_by;
    uint32_t created_by;      /* creating thread id */
    struct an_stack created_stack;
    bool has_start;
    struct an_frame start_routine;
};

struct an_edge {
    uint64_t from, to;        /* lock addresses */
    uint32_t thread;
    uint32_t count;           /* times observed */
    struct an_stack from_stack, to_stack;
};

/* How a race report names an access. */
static inline const char *race_op(bool write, bool freed)
{
    return freed ? "free" : write ? "write" : "read";
}

struct an_access {            /* race findings */
    uint32_t thread;
    bool write;
    bool freed;               /* the write is a free of the block */
    uint32_t size;
    uint64_t addr;
    struct an_stack stack;
    uint64_t *locks;
    size_t nlocks;
};

struct an_process {
    int32_t pid, parent_pid;
    char *exe, *cmdline, *log_path;
    const char *state;        /* running | exited | ... */
    int32_t exit_code;
    uint32_t nthreads;
    uint64_t dropped[5];      /* events stacks threads objects edges */
    uint64_t events;          /* events in the log's stream */
    uint64_t torn_chunks;     /* event chunks skipped as damaged */
    char **errors;
    size_t nerrors;
    bool usable;              /* the log was read (errors may remain) */
    size_t order;             /* position in the report */
};

struct an_finding {
    enum an_kind kind;
    const char *subkind;      /* misuse only (static string) */
    const struct an_process *proc;
    char *message;
    uint32_t count;           /* threads grouped (leak), else 1 */
    struct an_thread *threads;
    size_t nthreads;
    struct an_object *objects;
    size_t nobjects;
    struct an_edge *edges;
    size_t nedges;
    struct an_stack stack;
    struct an_stack related_stack;
    struct an_access *accesses;
    size_t naccesses;
    char *location;
    uint64_t sort_key;        /* first thread id / address within a kind */
    size_t seq;               /* order of creation: the last tie-break */
    bool note;                /* informational: not counted, no exit code */
    char *suppressed_by;      /* the matching suppression, if any */
};

struct an_suppressions;

struct an_report {
    struct an_process **procs;
    size_t nprocs, cap_procs;
    struct an_finding **findings;     /* counted findings */
    size_t nfindings, cap_findings;
    struct an_finding **notes;        /* notes (not counted) */
    size_t nnotes, cap_notes;
    struct an_finding **suppressed;
    size_t nsuppressed, cap_suppressed;
    size_t counts[AN_KIND_COUNT];
    size_t next_seq;
};

struct an_options {
    int format;               /* enum an_format */
    const char *output;       /* -o FILE ("-": stdout), NULL: the default
                                 stream, stdout or (report_stderr) stderr */
    bool report_stderr;       /* tangle run: the default stream is stderr,
                                 so the report never mixes with what the
                                 command writes to stdout */
    const char *suppressions; /* file, NULL: $TANGLE_SUPPRESSIONS */
    int exitcode;             /* status when there are findings */
    bool show_gated;          /* gated lock-order cycles as notes */
    bool hang;                /* snapshot of a run that timed out */
    int64_t timeout_ns;       /* the --timeout that expired */
    int64_t long_block_ns;    /* running process: note threads blocked
                                 longer than this */
    bool full_stacks;         /* --full-stacks: keep libtangle's own top
                                 frames in printed stacks */
};

enum an_format { AN_FMT_TEXT, AN_FMT_JSON, AN_FMT_SARIF };

/* What an analysis sees of one process. */
struct an_ctx {
    struct tlog *log;
    struct symbolizer *sym;
    struct an_process *proc;
    struct an_report *rep;
    const struct an_options *opt;
    bool ended;               /* exited / signaled / deadlocked */
    uint64_t now_ns;          /* end_ns, or the snapshot time if running */
    uint64_t access_events;   /* READ / WRITE events in the stream */
};

/* ---- model.c: building findings -------------------------------------- */

struct an_report *report_new(void);
void report_free(struct an_report *rep);
/* A new, empty finding of kind for ctx's process; add it with
 * finding_add once filled. */
struct an_finding *finding_new(struct an_ctx *ctx, enum an_kind kind);
/* Hands f to the report (as a note when f->note). */
void finding_add(struct an_ctx *ctx, struct an_finding *f);
void finding_free(struct an_finding *f);
/* Every stack of f, for suppressions: calls fn until it returns true. */
bool finding_any_frame(const struct an_finding *f,
                       bool (*fn)(const struct an_frame *fr, void *arg),
                       void *arg);

/* State string of a thread record ("running", "exited", "chan send"...). */
const char *an_state_name(uint32_t state, uint32_t wait_op);
const char *an_wait_op_name(uint32_t wait_op);
const char *an_obj_kind_name(uint32_t kind);
const char *an_misuse_name(uint32_t subkind);
const char *an_proc_state_name(uint32_t state);

/* Fills t from thread id of ctx's log: identity, state, blocked time,
 * object, stacks, creator. Unknown parts are left empty. */
void an_thread_fill(struct an_ctx *ctx, uint32_t id, struct an_thread *t);

/* What makes threads one group in a report (leaks, hangs): the same
 * creation stack, start routine and state (a blocked thread's wait op
 * included; a running one's is stale and left out). first is free for the
 * caller (e.g. the lowest id of the group, to order groups). */
struct an_group_key {
    uint32_t id;
    uint32_t create_stack;
    uint32_t state;             /* thread state << 16 | wait op */
    uint32_t first;
    uint64_t start;
};
struct an_group_key an_group_key_of(const struct tg_log_thread *t);
/* qsort order: by key, then by id, so a group is a run, lowest id first. */
int an_group_key_cmp(const void *a, const void *b);
bool an_group_key_same(const struct an_group_key *a,
                       const struct an_group_key *b);
/* Describes the object at addr (newest at that address). */
void an_object_fill(struct an_ctx *ctx, uint64_t addr, struct an_object *o);
void an_object_fill_rec(struct an_ctx *ctx, const struct tg_log_object *rec,
                        struct an_object *o);
/* "1.2s", "350ms", "4m10s" */
void an_format_duration(int64_t ns, char *buf, size_t size);

/* ---- analyses -------------------------------------------------------- */

typedef void (*an_analysis_fn)(struct an_ctx *ctx);
void analyze_leaks(struct an_ctx *ctx);      /* leak unjoined lost-cancel */
void analyze_lockorder(struct an_ctx *ctx);  /* lock-order */
void analyze_deadlocks(struct an_ctx *ctx);  /* deadlock */
void analyze_misuse(struct an_ctx *ctx);     /* misuse */
void analyze_hang(struct an_ctx *ctx);       /* hang (opt->hang) */
/* hang.c: where the group of identical threads of a hang finding that
 * starts at i ends (i + 1 for other kinds). */
size_t hang_group_end(const struct an_finding *f, size_t i);
/* Where the run of threads starting at i that read as one ends: a leak or
 * unjoined finding is one group, a hang finding has several. Reports show
 * a group's first thread and the others' ids. */
static inline size_t an_thread_group_end(const struct an_finding *f, size_t i)
{
    return f->kind == AN_LEAK || f->kind == AN_UNJOINED ? f->nthreads
                                                        : hang_group_end(f, i);
}

/* analyze.c: opens each log, runs every analysis, and returns a finished
 * report (suppressions applied, sorted). Logs that cannot be used at all
 * are listed as processes with usable = false. *nusable counts the others.
 * Returns NULL with *err set when the suppressions file is malformed. */
struct an_report *analyze_logs(char *const *paths, size_t npaths,
                               const struct an_options *opt,
                               size_t *nusable, char **err);
/* Runs every analysis on one open log, adding its process (returned) and
 * findings to rep. The caller still owns log. */
struct an_process *report_add_log(struct an_report *rep, struct tlog *log,
                                  const struct an_options *opt);
/* Applies suppressions (may be NULL), sorts and counts. */
void report_finish(struct an_report *rep, const struct an_suppressions *s);

/* ---- lockorder.c: the cycle search, on its own for tests ---------------- */

struct lo_edge {
    uint32_t from, to;        /* node ids < nnodes */
    uint32_t ngates;
    const uint32_t *gates;
};
/* A cycle: edge indices in order (edges[e[i]].to == edges[e[i+1]].from),
 * starting at the edge leaving the cycle's smallest node; gated when every
 * edge shares a gate. Return non-zero to stop the search. */
typedef int (*lo_cycle_fn)(void *ctx, const size_t *e, size_t len,
                           bool gated);
/* Finds the strongly connected components (iterative Tarjan, linear) and
 * reports, per component, a shortest cycle through every edge not already
 * on a reported cycle: every cycle once, each edge of a component on at
 * least one, no length limit; at most max_per_scc per component (0: no
 * limit). Self-loops and repeated (from, to) pairs are ignored. Order is
 * deterministic. Returns the number of cycles, or a negative errno. */
long lo_find_cycles(const struct lo_edge *edges, size_t nedges,
                    uint32_t nnodes, size_t max_per_scc,
                    lo_cycle_fn fn, void *ctx);

/* ---- suppress.c ------------------------------------------------------- */

/* Parses a suppressions file (kind:pattern a line, # comments). Returns
 * NULL with *err naming the file and line on a malformed line or when the
 * file cannot be read. */
struct an_suppressions *suppress_load(const char *path, char **err);
/* The same from text; name is used in messages. */
struct an_suppressions *suppress_parse(const char *text, const char *name,
                                       char **err);
void suppress_free(struct an_suppressions *s);
/* The first rule (as "kind:pattern") that suppresses f, or NULL. */
const char *suppress_match(const struct an_suppressions *s,
                           const struct an_finding *f);

/* ---- what a report shows of a stack (symbolize.c) ------------------------ */

/* True for a frame inside libtangle's runtime or the preload shim (by its
 * module's base name). */
bool an_frame_in_tangle(const struct an_frame *f);
/* The frames a report prints of s: without the frames at its top that lie
 * inside libtangle (the channel's probe, a wrapper), which say nothing
 * about the program, like goleak hiding the Go runtime's frames; at least
 * one frame is kept. With full, all of s. A view into s, not a copy; the
 * finding keeps every frame, so suppressions still see them all. */
struct an_stack an_stack_shown(const struct an_stack *s, bool full);

/* ---- writers ------------------------------------------------------------ */

void report_text(FILE *out, const struct an_report *rep,
                 const struct an_options *opt);
void report_json(FILE *out, const struct an_report *rep,
                 const struct an_options *opt);
void report_sarif(FILE *out, const struct an_report *rep,
                  const struct an_options *opt);
/* Frame / thread printers shared by report_text and `tangle ps`. Stacks
 * are trimmed by an_stack_shown, in full after text_full_stacks(true). */
void text_full_stacks(bool full);
void text_stack(FILE *out, const struct an_stack *s, const char *indent);
void text_thread(FILE *out, const struct an_thread *t, const char *indent);

/* json.c: a small streaming JSON writer (indented, escapes strings). */
struct jw {
    FILE *f;
    int depth;
    bool first[64];
    bool key_pending;
};
void jw_init(struct jw *w, FILE *f);
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
void jw_bool(struct jw *w, bool v);
void jw_hex(struct jw *w, uint64_t v);      /* "0x..." string */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_kint(struct jw *w, const char *key, int64_t v);
void jw_end(struct jw *w);                  /* final newline */

/* ---- commands (cmd_*.c), the table is in main.c ----------------------------- */

int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_graph(int argc, char **argv);

/* Report options shared by run and report (cmd_report.c). Returns 1 when
 * argv[*i] was one of them (consuming its value), 0 when not, -1 after a
 * usage error message. */
int report_option(int argc, char **argv, int *i, struct an_options *opt);
void report_options_init(struct an_options *opt);
/* Analyzes paths, writes the report per opt and returns the exit status:
 * clean_status when nothing was found, opt->exitcode when something was,
 * EXIT_DATAERR when no log was usable, EXIT_USAGE / EXIT_INTERNAL on a
 * bad suppressions file / unwritable output. */
int report_run(char *const *paths, size_t npaths, const struct an_options *opt,
               int clean_status);
/* The *.tlog files of dir, sorted by pid then start time. */
char **list_logs(const char *dir, size_t *n);
void free_list(char **v, size_t n);
/* A command returns this when asked for --help: main.c prints the
 * command's help (its text lives in the command table) and exits 0. */
#define CMD_SHOW_HELP (-1)
/* Prints "tangle: MSG" and a hint to stderr; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Strict number parsing: true when s is entirely a number in range. */
bool parse_u64(const char *s, uint64_t max, uint64_t *out);
bool parse_seconds(const char *s, int64_t *ns);

#endif
