/*
 * lockorder.c: potential deadlocks from the lock-order graph.
 *
 * Nodes are lock instances (object ids), an edge A -> B says some thread
 * took B while holding A. A cycle means two (or more) threads can each hold
 * one lock of it and wait for the next: a deadlock waiting for the wrong
 * interleaving, reported even though this run did not hang (lockdep's
 * guarantee). The search is in two steps so it stays linear on big graphs:
 * strongly connected components with an iterative Tarjan (no recursion, so
 * a chain of 100,000 locks is fine), then, inside each component, a
 * breadth-first search from every edge not yet on a reported cycle back to
 * its source: the shortest cycle through that edge. Every edge of a
 * component thus lies on at least one reported cycle, no cycle is reported
 * twice, and none is too long to be found. A cycle whose every edge was
 * taken under one common outer lock (a gate) cannot deadlock: it is dropped,
 * or shown as a note with --show-gated.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

#define NONE UINT32_MAX

struct graph {
    uint32_t n;
    uint32_t *off;            /* n + 1: out-edges of v are adj[off[v]..] */
    size_t *adj;              /* edge indices, by (from, to, index) */
    const struct lo_edge *e;
};

static const struct lo_edge *sort_edges;

static int adj_cmp(const void *a, const void *b)
{
    const struct lo_edge *x = &sort_edges[*(const size_t *)a];
    const struct lo_edge *y = &sort_edges[*(const size_t *)b];
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return i < j ? -1 : i > j;
}

/* CSR adjacency without self-loops and repeated (from, to) pairs. */
static int build(struct graph *g, const struct lo_edge *e, size_t ne,
                 uint32_t n)
{
    g->n = n;
    g->e = e;
    g->off = xcalloc((size_t)n + 1, sizeof *g->off);
    g->adj = xmalloc((ne ? ne : 1) * sizeof *g->adj);
    size_t m = 0;
    for (size_t i = 0; i < ne; i++) {
        if (e[i].from >= n || e[i].to >= n)
            return -EINVAL;
        if (e[i].from != e[i].to)
            g->adj[m++] = i;
    }
    sort_edges = e;
    qsort(g->adj, m, sizeof *g->adj, adj_cmp);
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (k && e[g->adj[k - 1]].from == e[g->adj[i]].from &&
            e[g->adj[k - 1]].to == e[g->adj[i]].to)
            continue;
        g->adj[k++] = g->adj[i];
    }
    for (size_t i = 0; i < k; i++)
        g->off[e[g->adj[i]].from + 1]++;
    for (uint32_t v = 0; v < n; v++)
        g->off[v + 1] += g->off[v];
    return 0;
}

/* Tarjan's algorithm with an explicit call stack. comp[v] gets the
 * component number of v. Returns the number of components. */
static uint32_t tarjan(const struct graph *g, uint32_t *comp)
{
    uint32_t n = g->n, idx = 0, ncomp = 0;
    uint32_t *index = xmalloc((size_t)n * sizeof *index);
    uint32_t *low = xmalloc((size_t)n * sizeof *low);
    bool *on = xcalloc(n, sizeof *on);
    uint32_t *stk = xmalloc((size_t)n * sizeof *stk);
    uint32_t *cv = xmalloc((size_t)n * sizeof *cv);    /* call stack: node */
    uint32_t *cp = xmalloc((size_t)n * sizeof *cp);    /* ... next edge */
    size_t sp = 0, csp = 0;
    for (uint32_t v = 0; v < n; v++)
        index[v] = NONE;
    for (uint32_t s = 0; s < n; s++) {
        if (index[s] != NONE)
            continue;
        if (g->off[s] == g->off[s + 1]) {
            index[s] = idx++;             /* no out-edges: its own SCC */
            comp[s] = ncomp++;
            continue;
        }
        index[s] = low[s] = idx++;
        stk[sp++] = s;
        on[s] = true;
        cv[csp] = s;
        cp[csp++] = g->off[s];
        while (csp) {
            uint32_t v = cv[csp - 1];
            if (cp[csp - 1] < g->off[v + 1]) {
                uint32_t w = g->e[g->adj[cp[csp - 1]++]].to;
                if (index[w] == NONE) {
                    index[w] = low[w] = idx++;
                    stk[sp++] = w;
                    on[w] = true;
                    cv[csp] = w;
                    cp[csp++] = g->off[w];
                } else if (on[w] && index[w] < low[v]) {
                    low[v] = index[w];
                }
                continue;
            }
            csp--;
            if (low[v] == index[v]) {
                uint32_t w;
                do {
                    w = stk[--sp];
                    on[w] = false;
                    comp[w] = ncomp;
                } while (w != v);
                ncomp++;
            }
            if (csp) {
                uint32_t u = cv[csp - 1];
                if (low[v] < low[u])
                    low[u] = low[v];
            }
        }
    }
    free(index);
    free(low);
    free(on);
    free(stk);
    free(cv);
    free(cp);
    return ncomp;
}

static bool gated(const struct lo_edge *e, const size_t *cyc, size_t len)
{
    const struct lo_edge *a = &e[cyc[0]];
    for (uint32_t g = 0; g < a->ngates; g++) {
        uint32_t gate = a->gates[g];
        bool all = true;
        for (size_t i = 1; i < len && all; i++) {
            const struct lo_edge *b = &e[cyc[i]];
            bool has = false;
            for (uint32_t k = 0; k < b->ngates; k++)
                has |= b->gates[k] == gate;
            all = has;
        }
        if (all)
            return true;
    }
    return false;
}

struct comp_ref {
    uint32_t comp, min;
};

static int comp_cmp(const void *a, const void *b)
{
    const struct comp_ref *x = a, *y = b;
    return x->min < y->min ? -1 : x->min > y->min;
}

long lo_find_cycles(const struct lo_edge *edges, size_t nedges,
                    uint32_t nnodes, size_t max_per_scc,
                    lo_cycle_fn fn, void *ctx)
{
    struct graph g;
    if (build(&g, edges, nedges, nnodes) < 0) {
        free(g.off);
        free(g.adj);
        return -EINVAL;
    }
    uint32_t n = nnodes;
    uint32_t *comp = xmalloc((n ? n : 1) * sizeof *comp);
    uint32_t ncomp = tarjan(&g, comp);

    /* Components with an internal edge, by their smallest node. */
    struct comp_ref *cr = xcalloc(ncomp ? ncomp : 1, sizeof *cr);
    bool *cyclic = xcalloc(ncomp ? ncomp : 1, sizeof *cyclic);
    for (uint32_t c = 0; c < ncomp; c++)
        cr[c].min = NONE;
    for (uint32_t v = 0; v < n; v++) {
        if (v < cr[comp[v]].min)
            cr[comp[v]].min = v;
        for (uint32_t k = g.off[v]; k < g.off[v + 1]; k++)
            if (comp[edges[g.adj[k]].to] == comp[v])
                cyclic[comp[v]] = true;
    }
    size_t ncr = 0;
    for (uint32_t c = 0; c < ncomp; c++)
        if (cyclic[c]) {
            cr[ncr].comp = c;
            cr[ncr++].min = cr[c].min;
        }
    /* cr[c].min was overwritten for c < ncr only after being read. */
    qsort(cr, ncr, sizeof *cr, comp_cmp);

    /* Members of each component, to walk its edges in (from, to) order. */
    uint32_t *cstart = xcalloc((size_t)ncomp + 1, sizeof *cstart);
    uint32_t *members = xmalloc((n ? n : 1) * sizeof *members);
    for (uint32_t v = 0; v < n; v++)
        cstart[comp[v] + 1]++;
    for (uint32_t c = 0; c < ncomp; c++)
        cstart[c + 1] += cstart[c];
    uint32_t *fill = xmalloc(((size_t)ncomp + 1) * sizeof *fill);
    memcpy(fill, cstart, ((size_t)ncomp + 1) * sizeof *fill);
    for (uint32_t v = 0; v < n; v++)
        members[fill[comp[v]]++] = v;
    free(fill);

    bool *covered = xcalloc(nedges ? nedges : 1, sizeof *covered);
    uint32_t *stamp = xcalloc(n ? n : 1, sizeof *stamp);
    size_t *parent = xmalloc((n ? n : 1) * sizeof *parent);
    uint32_t *queue = xmalloc((n ? n : 1) * sizeof *queue);
    size_t *cyc = xmalloc((n ? n : 1) * sizeof *cyc + sizeof *cyc);
    size_t *rot = xmalloc((n ? n : 1) * sizeof *rot + sizeof *rot);
    uint32_t bfs = 0;
    long total = 0;
    int stop = 0;

    for (size_t ci = 0; ci < ncr && !stop; ci++) {
        uint32_t c = cr[ci].comp;
        size_t found = 0;
        for (uint32_t mi = cstart[c]; mi < cstart[c + 1] && !stop; mi++) {
            uint32_t u = members[mi];
            for (uint32_t k = g.off[u]; k < g.off[u + 1] && !stop; k++) {
                size_t ei = g.adj[k];
                uint32_t v = edges[ei].to;
                if (covered[ei] || comp[v] != c)
                    continue;
                if (max_per_scc && found >= max_per_scc)
                    break;
                /* Shortest path v -> u inside the component. */
                bfs++;
                size_t qh = 0, qt = 0;
                queue[qt++] = v;
                stamp[v] = bfs;
                bool reached = v == u;
                while (qh < qt && !reached) {
                    uint32_t x = queue[qh++];
                    for (uint32_t q = g.off[x]; q < g.off[x + 1]; q++) {
                        size_t ej = g.adj[q];
                        uint32_t y = edges[ej].to;
                        if (comp[y] != c || stamp[y] == bfs)
                            continue;
                        stamp[y] = bfs;
                        parent[y] = ej;
                        if (y == u) {
                            reached = true;
                            break;
                        }
                        queue[qt++] = y;
                    }
                }
                if (!reached)
                    continue;         /* cannot happen inside an SCC */
                size_t len = 0;
                for (uint32_t y = u; y != v; y = edges[parent[y]].from)
                    cyc[len++] = parent[y];
                cyc[len++] = ei;
                /* Collected backwards: ei last; reverse to path order. */
                for (size_t a = 0, b = len - 1; a < b; a++, b--) {
                    size_t t = cyc[a];
                    cyc[a] = cyc[b];
                    cyc[b] = t;
                }
                size_t best = 0;
                for (size_t a = 1; a < len; a++)
                    if (edges[cyc[a]].from < edges[cyc[best]].from)
                        best = a;
                for (size_t a = 0; a < len; a++) {
                    rot[a] = cyc[(best + a) % len];
                    covered[rot[a]] = true;
                }
                found++;
                total++;
                if (fn)
                    stop = fn(ctx, rot, len, gated(edges, rot, len));
            }
        }
    }
    free(covered);
    free(stamp);
    free(parent);
    free(queue);
    free(cyc);
    free(rot);
    free(cstart);
    free(members);
    free(cr);
    free(cyclic);
    free(comp);
    free(g.off);
    free(g.adj);
    return total;
}

/* ---- lock-order findings from a log ------------------------------------ */

static bool is_lock(const struct tg_log_object *o)
{
    return o && (o->kind == TG_LOBJ_MUTEX || o->kind == TG_LOBJ_RWLOCK ||
                 o->kind == TG_LOBJ_SPIN || o->kind == TG_LOBJ_LOCK);
}

struct lo_run {
    struct an_ctx *ctx;
    const struct tg_log_edge *le;     /* parallel to the lo_edge array */
    size_t *map;                      /* lo_edge index -> log edge index */
};

static int on_cycle(void *arg, const size_t *e, size_t len, bool gate)
{
    struct lo_run *r = arg;
    struct an_ctx *ctx = r->ctx;
    if (gate && !ctx->opt->show_gated)
        return 0;
    struct an_finding *f = finding_new(ctx, AN_LOCK_ORDER);
    f->note = gate;
    f->nobjects = len;
    f->objects = xcalloc(len, sizeof *f->objects);
    f->nedges = len;
    f->edges = xcalloc(len, sizeof *f->edges);
    char chain[400] = "";
    size_t cl = 0;
    for (size_t i = 0; i < len; i++) {
        const struct tg_log_edge *le = &r->le[r->map[e[i]]];
        const struct tg_log_object *from = tlog_object(ctx->log, le->from);
        const struct tg_log_object *to = tlog_object(ctx->log, le->to);
        an_object_fill_rec(ctx, from, &f->objects[i]);
        struct an_edge *ed = &f->edges[i];
        ed->from = from ? from->addr : 0;
        ed->to = to ? to->addr : 0;
        ed->thread = le->thread;
        ed->count = le->count;
        ed->from_stack = sym_stack(ctx->sym, le->from_stack);
        ed->to_stack = sym_stack(ctx->sym, le->to_stack);
        if (cl < sizeof chain - 40)
            cl += (size_t)snprintf(chain + cl, sizeof chain - cl,
                                   "%s0x%" PRIx64, i ? " -> " : "", ed->from);
    }
    if (cl < sizeof chain - 40)
        snprintf(chain + cl, sizeof chain - cl, " -> 0x%" PRIx64,
                 f->edges[0].from);
    f->sort_key = f->objects[0].addr;
    f->message = xasprintf("lock-order inversion (potential deadlock): "
                           "cycle of %zu locks %s%s", len, chain,
                           gate ? " (gated by a common lock: cannot deadlock)"
                                : "");
    finding_add(ctx, f);
    return 0;
}

void analyze_lockorder(struct an_ctx *ctx)
{
    const struct tlog *log = ctx->log;
    if (!log->nedges)
        return;
    struct lo_edge *e = xcalloc(log->nedges, sizeof *e);
    size_t *map = xcalloc(log->nedges, sizeof *map);
    size_t n = 0;
    for (size_t i = 0; i < log->nedges; i++) {
        const struct tg_log_edge *le = &log->edges[i];
        if (!is_lock(tlog_object(log, le->from)) ||
            !is_lock(tlog_object(log, le->to)))
            continue;
        e[n].from = le->from;
        e[n].to = le->to;
        e[n].ngates = le->ngates;
        e[n].gates = le->gates;
        map[n++] = i;
    }
    struct lo_run r = { ctx, log->edges, map };
    /* Edges were checked against the object table: it cannot fail. */
    lo_find_cycles(e, n, (uint32_t)log->nobjects + 1, 1000, on_cycle, &r);
    free(e);
    free(map);
}
