/*
 * cmd_graph.c: `tangle graph LOG`, the lock-order graph as Graphviz DOT.
 * Nodes are locks (kind, address, where created), edges "held A, then took
 * B", labelled with both acquisition sites (function:line). Edges and
 * locks on a cycle that can deadlock are red; cycles made harmless by a
 * gate lock are dashed orange. Render with `dot -Tpng`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

struct marks {
    uint8_t *edge;            /* 0 plain, 1 gated cycle, 2 cycle */
    uint8_t *node;
    const struct lo_edge *e;
};

static int mark(void *arg, const size_t *e, size_t len, bool gated)
{
    struct marks *m = arg;
    uint8_t v = gated ? 1 : 2;
    for (size_t i = 0; i < len; i++) {
        if (m->edge[e[i]] < v)
            m->edge[e[i]] = v;
        if (m->node[m->e[e[i]].from] < v)
            m->node[m->e[e[i]].from] = v;
    }
    return 0;
}

static void frame_site(FILE *out, const struct an_frame *f)
{
    if (f->function && f->line)
        fprintf(out, "%s:%d", f->function, f->line);
    else if (f->function)
        fputs(f->function, out);
    else
        fprintf(out, "0x%" PRIx64, f->pc);
}

/* "caller:line > function:line": the acquiring function and its caller
 * in the same module, enough to tell apart sites that share a locking
 * helper. */
static void site(FILE *out, struct symbolizer *s, uint32_t stack)
{
    struct an_stack st = sym_stack(s, stack);
    size_t first = st.n;
    for (size_t i = 0; i < st.n && first == st.n; i++)
        if (st.frames[i].file)
            first = i;
    if (first == st.n) {
        if (st.n)
            frame_site(out, &st.frames[0]);
        else
            fputs("?", out);
    } else {
        const struct an_frame *a = &st.frames[first];
        const struct an_frame *b = first + 1 < st.n ? a + 1 : NULL;
        /* The caller only when it is the program's too, not libc's. */
        if (b && b->file && a->module && b->module &&
            strcmp(a->module, b->module) == 0) {
            frame_site(out, &st.frames[first + 1]);
            fputs(" > ", out);
        }
        frame_site(out, &st.frames[first]);
    }
    an_stack_free(&st);
}

int cmd_graph(int argc, char **argv)
{
    const char *path = NULL, *output = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return CMD_SHOW_HELP;
        }
        if (strcmp(a, "-o") == 0) {
            if (i + 1 >= argc)
                return usage_error("graph", "option '-o' needs a value");
            output = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return usage_error("graph", "unknown option '%s'", a);
        } else if (path) {
            return usage_error("graph", "one LOG only");
        } else {
            path = a;
        }
    }
    if (!path)
        return usage_error("graph", "no LOG given");
    struct tlog *log;
    char *err;
    if (tlog_open(path, &log, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        free(err);
        return EXIT_DATAERR;
    }
    for (size_t i = 0; i < log->nerrors; i++)
        fprintf(stderr, "%s\n", log->errors[i]);
    FILE *out = stdout;
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "tangle: cannot write '%s': %s\n", output,
                strerror(errno));
        tlog_close(log);
        return EXIT_INTERNAL;
    }
    struct lo_edge *e = xcalloc(log->nedges + 1, sizeof *e);
    for (size_t i = 0; i < log->nedges; i++) {
        e[i].from = log->edges[i].from;
        e[i].to = log->edges[i].to;
        e[i].ngates = log->edges[i].ngates;
        e[i].gates = log->edges[i].gates;
    }
    struct marks m = {
        .edge = xcalloc(log->nedges + 1, 1),
        .node = xcalloc(log->nobjects + 2, 1),
        .e = e,
    };
    lo_find_cycles(e, log->nedges, (uint32_t)log->nobjects + 1, 1000, mark,
                   &m);
    struct symbolizer *s = sym_new(log);
    uint8_t *used = xcalloc(log->nobjects + 2, 1);
    for (size_t i = 0; i < log->nedges; i++)
        used[e[i].from] = used[e[i].to] = 1;

    fprintf(out, "digraph tangle_lock_order {\n"
            "  label=\"lock-order graph of pid %d (%s)\";\n"
            "  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
            "  edge [fontname=\"monospace\", fontsize=9];\n",
            log->hdr.pid, log->hdr.cmdline);
    for (size_t id = 1; id <= log->nobjects; id++) {
        if (!used[id])
            continue;
        const struct tg_log_object *o = tlog_object(log, (uint32_t)id);
        if (!o)
            continue;
        fprintf(out, "  L%zu [label=\"%s 0x%" PRIx64 "\\ncreated at ", id,
                an_obj_kind_name(o->kind), o->addr);
        site(out, s, o->create_stack);
        fputs("\"", out);
        if (m.node[id] == 2)
            fputs(", color=red, fontcolor=red, penwidth=2", out);
        else if (m.node[id] == 1)
            fputs(", color=orange", out);
        fputs("];\n", out);
    }
    for (size_t i = 0; i < log->nedges; i++) {
        const struct tg_log_edge *le = &log->edges[i];
        fprintf(out, "  L%u -> L%u [label=\"", le->from, le->to);
        site(out, s, le->from_stack);
        fputs("\\nthen ", out);
        site(out, s, le->to_stack);
        fprintf(out, "\\nthread %u\"", le->thread);
        if (m.edge[i] == 2)
            fputs(", color=red, fontcolor=red, penwidth=2", out);
        else if (m.edge[i] == 1)
            fputs(", color=orange, style=dashed", out);
        fputs("];\n", out);
    }
    fputs("}\n", out);
    int status = 0;
    if (out != stdout && fclose(out) != 0)
        status = EXIT_INTERNAL;
    sym_free(s);
    free(used);
    free(m.edge);
    free(m.node);
    free(e);
    tlog_close(log);
    return status;
}
