/*
 * shim/gccplugin/loop_ranges.cc: a gcc plugin that `tangle cc` loads
 * (-fplugin) when it compiles with gcc, so that a loop which sweeps an
 * array costs one range check instead of one check per element. It does
 * for gcc what shim/bitcode/loop_ranges.cpp does for clang, by the same
 * rules; see that file for why the verdicts do not change.
 *
 * Licence: gcc loads only plugins that declare themselves compatible with
 * its licence (plugin_is_GPL_compatible below). This file alone is
 * therefore distributed under the GNU General Public License, version 3
 * or (at your option) any later version. It is a separate program that
 * gcc loads; the rest of tangle, and what gcc compiles with it, are not
 * covered by it.
 *
 * gcc's -fsanitize=thread pass (pass "tsan") puts a call to
 * __tsan_read8 (and so on) before each load and store at -O1 and above,
 * before the loop optimizations run; this pass runs right after it. In an
 * innermost loop that
 *   - has one exit, whose test runs every iteration (its block dominates
 *     the latch),
 *   - calls nothing but those entry points (no function, no atomic, no
 *     inline assembly: nothing that could synchronize, so every access of
 *     the loop falls in one synchronization epoch of the thread),
 * the accesses of one source line that run every iteration at addresses
 * that move by a constant step, and that together cover each step's
 * bytes without a hole, touch one contiguous range: the pass checks it
 * once (__tsan_read_range / __tsan_write_range, with the line of the
 * accesses) and removes the per-iteration calls. The loop is left without
 * calls, so the loop optimizations that follow may vectorize it. Where
 * gcc knows the number of iterations on entry, the range is checked in
 * the preheader; otherwise on the exit edge, from the address the last
 * iteration used. An access at an address the loop does not change is
 * checked once in the preheader by its own entry point.
 *
 * An access before the exit test (in a block that dominates it) runs
 * niter + 1 times, niter being the number of times the latch runs; one
 * after the test (a loop tested at its top) runs niter times, which may
 * be none: those are moved only when the count is known and their bytes
 * in one iteration are exactly one step, so that none runs to a range of
 * no bytes. On the exit edge only accesses before the test are checked:
 * the last iteration runs them, and their addresses are at hand there.
 *
 * Outside loops too, a read followed in its block by a write of the
 * same bytes with no call between is checked as the write alone
 * (drop_reads_before_writes), as clang's instrumentation does.
 *
 * First of all, the built-in copies and fills gcc leaves unchecked get
 * range checks (check_mem_builtins). Then checks of a local variable
 * whose address does not leave
 * the function (gcc's points-to analysis) go (drop_private_checks): no
 * other thread can reach it, and clang leaves such accesses out too.
 *
 * Last, every access check left is made conditional on the checker's
 * gate word (guard_checks): a thread whose accesses the checker would
 * drop at once (no checker in the process, or sampled mode in a call not
 * sampled) makes no call, as clang's inline code does. In a sampled
 * call, a sized check in a loop whose site the thread's sampling table
 * says to skip makes no call either (sample_skip).
 *
 * `-fopt-info-loop-optimized` and `-fopt-info-loop-missed` make gcc say
 * what was moved and why other loops were left alone. `tangle cc` leaves
 * the plugin out when TANGLE_LOOP_RANGES=0.
 */
#include "gcc-plugin.h"
#include "plugin-version.h"

#include "context.h"
#include "tree.h"
#include "tree-pass.h"
#include "basic-block.h"
#include "function.h"
#include "gimple.h"
#include "gimple-iterator.h"
#include "gimple-ssa.h"
#include "gimplify.h"
#include "gimplify-me.h"
#include "ssa.h"
#include "tree-ssanames.h"
#include "tree-ssa-operands.h"
#include "tree-into-ssa.h"
#include "cfgloop.h"
#include "tree-ssa-loop.h"
#include "tree-ssa-loop-niter.h"
#include "tree-ssa-loop-ivopts.h"
#include "tree-scalar-evolution.h"
#include "tree-data-ref.h"
#include "dumpfile.h"
#include "builtins.h"
#include "diagnostic-core.h"
#include "stringpool.h"
#include "cgraph.h"
#include "varasm.h"
#include "attribs.h"
#include "asan.h"

#include "../race_abi.h"

int plugin_is_GPL_compatible;

/* gcc's own (tree-vectorizer.h, which brings much else): where a loop
 * is in the source, for -fopt-info. */
extern dump_user_location_t find_loop_location(class loop *);

namespace {

/* The size an entry point checks (__tsan_read8, __tsan_write4, ...), 0
 * for any other call; *write says which kind. gcc checks other sizes and
 * unaligned accesses with the range entry points, which stay. */
unsigned access_size(const gimple *g, bool *write)
{
    if (!is_gimple_call(g) || gimple_call_internal_p(g))
        return 0;
    tree fn = gimple_call_fndecl(g);
    if (!fn || !fndecl_built_in_p(fn, BUILT_IN_NORMAL))
        return 0;
    switch (DECL_FUNCTION_CODE(fn)) {
#define R(n, sz, w)                                                          \
    case BUILT_IN_TSAN_##n:                                                  \
        *write = w;                                                          \
        return sz;
        R(READ1, 1, false) R(READ2, 2, false) R(READ4, 4, false) R(READ8, 8, false)
        R(READ16, 16, false) R(WRITE1, 1, true) R(WRITE2, 2, true) R(WRITE4, 4, true)
        R(WRITE8, 8, true) R(WRITE16, 16, true)
#undef R
    default:
        return 0;
    }
}

/* Removes the check c from its block. */
void remove_check(gcall *c)
{
    gimple_stmt_iterator i = gsi_for_stmt(c);
    unlink_stmt_vdef(c);
    gsi_remove(&i, true);
    release_defs(c);
}

/* The block of an inlined function's body that holds b, NULL outside
 * any: two accesses of one line in two inlined copies are two sites. */
tree inline_scope(tree b)
{
    for (; b && TREE_CODE(b) == BLOCK; b = BLOCK_SUPERCONTEXT(b))
        if (inlined_function_outer_scope_p(b))
            return b;
    return NULL_TREE;
}

/* Do a and b check accesses of one source line? Only those share a
 * range: a report names the range's line, which must be theirs. */
bool same_line(const gimple *a, const gimple *b)
{
    expanded_location x = expand_location(gimple_location(a));
    expanded_location y = expand_location(gimple_location(b));
    if (x.line != y.line || (x.file == NULL) != (y.file == NULL) ||
        (x.file && strcmp(x.file, y.file) != 0))
        return false;
    return inline_scope(gimple_block(a)) == inline_scope(gimple_block(b));
}

struct acc {
    gcall *call;
    tree base;                 /* the address in the first iteration */
    HOST_WIDE_INT step, off;   /* off: from the group's first base */
    unsigned size;
    bool write;
    bool after_test;           /* runs niter times, not niter + 1 */
    int group;
};

struct moved {
    tree addr;                 /* range start (or the one address) */
    tree len;                  /* NULL_TREE: one address, own entry point */
    gcall *like;               /* that entry point's call */
    bool at_exit;              /* checked on the exit edge, not before */
    auto_vec<gcall *> calls;
    unsigned size;             /* one address: its access's size */
    bool write;
};

/* qsort order of accesses by their offset in the group. */
int by_offset(const void *x, const void *y)
{
    HOST_WIDE_INT a = (*(acc *const *)x)->off, b = (*(acc *const *)y)->off;
    return a < b ? -1 : a > b;
}

/* Builds expr as a gimple value at the end of seq; false (and seq left
 * as it was) when that takes more than plain assignments, which could
 * not go into one block. */
bool gimple_value(tree expr, gimple_seq *seq, tree *out)
{
    gimple_seq s = NULL;
    tree v = force_gimple_operand(unshare_expr(expr), &s, true, NULL_TREE);
    for (gimple_stmt_iterator i = gsi_start(s); !gsi_end_p(i); gsi_next(&i))
        if (!is_gimple_assign(gsi_stmt(i))) {
            gimple_seq_discard(s);
            return false;
        }
    gimple_seq_add_seq(seq, s);
    *out = v;
    return true;
}

/* The number of latch runs of loop l through exit e, as a sizetype value
 * computed into seq; NULL_TREE when gcc cannot say on entry. */
tree latch_runs(class loop *l, edge e, gimple_seq *seq)
{
    class tree_niter_desc d;
    if (!number_of_iterations_exit(l, e, &d, false) || !d.niter ||
        chrec_contains_undetermined(d.niter) || !expr_invariant_in_loop_p(l, d.niter))
        return NULL_TREE;
    if (!integer_onep(d.assumptions) && d.assumptions != boolean_true_node)
        return NULL_TREE;
    tree n;
    if (!gimple_value(fold_convert(sizetype, d.niter), seq, &n))
        return NULL_TREE;
    if (d.may_be_zero && !integer_zerop(d.may_be_zero)) {
        if (!expr_invariant_in_loop_p(l, d.may_be_zero))
            return NULL_TREE;
        tree z;
        if (!gimple_value(fold_convert(boolean_type_node, d.may_be_zero), seq, &z))
            return NULL_TREE;
        tree r = make_ssa_name(sizetype);
        gimple_seq_add_stmt(seq, gimple_build_assign(r, COND_EXPR, z, size_zero_node, n));
        n = r;
    }
    return n;
}

/* Moves what it can of loop l's checks out of it. Returns whether it
 * changed anything; *why says why nothing moved, for -fopt-info. */
bool move_loop(class loop *l, const char **why)
{
    *why = NULL;
    basic_block *body = get_loop_body(l);
    auto_vec<acc> cand;
    unsigned naccess = 0;
    for (unsigned k = 0; k < l->num_nodes && !*why; k++)
        for (gimple_stmt_iterator i = gsi_start_bb(body[k]); !gsi_end_p(i); gsi_next(&i)) {
            gimple *g = gsi_stmt(i);
            if (is_gimple_debug(g))
                continue;
            if (gimple_code(g) == GIMPLE_ASM) {
                *why = "the loop has inline assembly";
                break;
            }
            if (!is_gimple_call(g))
                continue;
            bool write = false;
            unsigned size = access_size(g, &write);
            if (!size) {
                *why = "the loop calls a function, which may synchronize";
                break;
            }
            naccess++;
            acc a = {};
            a.call = as_a<gcall *>(g);
            a.size = size;
            a.write = write;
            a.group = -1;
            cand.safe_push(a);
        }
    free(body);
    if (*why || naccess == 0)
        return false;
    edge e = single_exit(l);
    if (!e) {
        *why = "the loop has more than one exit";
        return false;
    }
    basic_block test = e->src;
    if (!dominated_by_p(CDI_DOMINATORS, l->latch, test)) {
        *why = "the loop's exit test does not run every iteration";
        return false;
    }
    /* seq: what goes before the loop; post: on its exit edge. Without
     * the number of iterations on entry, a range is checked on the exit,
     * from the addresses the last iteration reached: accesses before the
     * exit test only, which the last iteration runs too. */
    gimple_seq seq = NULL, post = NULL;
    tree runs = latch_runs(l, e, &seq);
    /* Which accesses run every iteration at an affine address, grouped
     * by line and step, with their offsets from the group's first. */
    struct group {
        tree var;
        HOST_WIDE_INT base_off, step;
        gcall *first;
        bool after_test;
    };
    auto_vec<group> groups;
    auto_vec<moved *> out;
    for (acc &a : cand) {
        basic_block bb = gimple_bb(a.call);
        if (!dominated_by_p(CDI_DOMINATORS, l->latch, bb))
            continue;
        a.after_test = bb != test && dominated_by_p(CDI_DOMINATORS, bb, test);
        if (!a.after_test && !dominated_by_p(CDI_DOMINATORS, test, bb))
            continue;
        affine_iv iv;
        tree p = gimple_call_arg(a.call, 0);
        if (!simple_iv(l, l, p, &iv, false) || TREE_CODE(iv.step) != INTEGER_CST ||
            TYPE_PRECISION(TREE_TYPE(iv.step)) > HOST_BITS_PER_WIDE_INT ||
            !expr_invariant_in_loop_p(l, iv.base))
            continue;
        /* A pointer's step is unsigned (sizetype): read it signed. */
        HOST_WIDE_INT st = wi::to_wide(iv.step).to_shwi();
        if (st == 0) {
            /* One address every iteration: checked once before the loop,
             * when the loop surely runs it. A write covers the reads of
             * its line there. */
            if (a.after_test)
                continue;
            moved *m = NULL;
            for (moved *o : out)
                if (!o->len && o->size == a.size && operand_equal_p(o->addr, iv.base, 0) &&
                    same_line(o->like, a.call)) {
                    m = o;
                    break;
                }
            if (!m) {
                m = new moved();
                m->addr = iv.base;
                m->len = NULL_TREE;
                m->like = a.call;
                m->write = a.write;
                m->size = a.size;
                out.safe_push(m);
            } else if (a.write && !m->write) {
                m->like = a.call;
                m->write = true;
            }
            m->calls.safe_push(a.call);
            a.call = NULL;
            continue;
        }
        if (st > INT_MAX || st < -INT_MAX || (st < 0 ? -st : st) < (HOST_WIDE_INT)a.size)
            continue;
        tree var, off;
        split_constant_offset(iv.base, &var, &off);
        if (TREE_CODE(off) != INTEGER_CST || !tree_fits_shwi_p(off))
            continue;
        a.base = iv.base;
        a.step = st;
        HOST_WIDE_INT o = tree_to_shwi(off);
        for (unsigned g = 0; g < groups.length() && a.group < 0; g++)
            if (groups[g].step == st && groups[g].after_test == a.after_test &&
                operand_equal_p(groups[g].var, var, 0) && same_line(groups[g].first, a.call)) {
                a.group = (int)g;
                a.off = o - groups[g].base_off;
            }
        if (a.group < 0) {
            a.group = (int)groups.length();
            a.off = 0;
            groups.safe_push({ var, o, st, a.call, a.after_test });
        }
    }
    for (unsigned g = 0; g < groups.length(); g++)
        for (int pass = 0; pass < 2; pass++) {
            /* pass 0: the writes; pass 1: the reads they do not cover.
             * [lo, hi): the union of their bytes in one iteration, when
             * it has no hole. */
            bool write = pass == 0;
            auto_vec<acc *> in;
            for (acc &a : cand)
                if (a.group == (int)g && a.call && a.write == write)
                    in.safe_push(&a);
            if (in.is_empty())
                continue;
            in.qsort(by_offset);
            HOST_WIDE_INT lo = in[0]->off, hi = lo;
            bool hole = false;
            for (acc *a : in) {
                if (a->off > hi)
                    hole = true;
                hi = MAX(hi, a->off + (HOST_WIDE_INT)a->size);
            }
            HOST_WIDE_INT st = groups[g].step, ast = st < 0 ? -st : st;
            bool after = groups[g].after_test;
            if (hole || hi - lo < ast || (after && hi - lo != ast) || (!runs && after))
                continue;
            tree start, len;
            if (!runs) {
                /* [first, last] or [last, first], plus one iteration's
                 * span: last is the address the final iteration used */
                HOST_WIDE_INT adj = lo - in[0]->off;
                tree first = fold_build_pointer_plus_hwi(in[0]->base, adj);
                tree last = fold_build_pointer_plus_hwi(gimple_call_arg(in[0]->call, 0), adj);
                tree top = st > 0 ? last : first;
                start = st > 0 ? first : last;
                tree d = fold_build2(POINTER_DIFF_EXPR, ssizetype,
                                     fold_convert(ptr_type_node, top),
                                     fold_convert(ptr_type_node, start));
                len = fold_build2(PLUS_EXPR, sizetype, fold_convert(sizetype, d),
                                  size_int(hi - lo));
            } else {
                /* count: the iterations that run the accesses; the range
                 * is (count - 1) steps plus one iteration's span, or
                 * count steps when the span is one step (count may then
                 * be 0). */
                tree count = after ? runs
                                   : fold_build2(PLUS_EXPR, sizetype, runs, size_one_node);
                tree steps = fold_build2(MINUS_EXPR, sizetype, count, size_one_node);
                len = fold_build2(PLUS_EXPR, sizetype,
                                  fold_build2(MULT_EXPR, sizetype, steps, size_int(ast)),
                                  size_int(hi - lo));
                if (after)
                    len = fold_build2(MULT_EXPR, sizetype, count, size_int(ast));
                start = fold_build_pointer_plus_hwi(in[0]->base, lo - in[0]->off);
                if (st < 0)
                    start = fold_build2(POINTER_PLUS_EXPR, TREE_TYPE(start), start,
                                        fold_build1(NEGATE_EXPR, sizetype,
                                                    fold_build2(MULT_EXPR, sizetype, steps,
                                                                size_int(ast))));
            }
            moved *m = new moved();
            gimple_seq s = NULL;
            if (!gimple_value(start, &s, &m->addr) || !gimple_value(len, &s, &m->len)) {
                gimple_seq_discard(s);
                delete m;
                continue;
            }
            gimple_seq_add_seq(runs ? &seq : &post, s);
            m->at_exit = !runs;
            m->write = write;
            m->like = in[0]->call;
            for (acc *a : in) {
                m->calls.safe_push(a->call);
                a->call = NULL;
            }
            /* The reads inside the written bytes go with the writes. */
            if (write)
                for (acc &a : cand)
                    if (a.group == (int)g && a.call && !a.write && a.off >= lo &&
                        a.off + (HOST_WIDE_INT)a.size <= hi) {
                        m->calls.safe_push(a.call);
                        a.call = NULL;
                    }
            out.safe_push(m);
        }
    if (out.is_empty()) {
        gimple_seq_discard(seq);
        gimple_seq_discard(post);
        *why = runs ? "no access sweeps a range (each iteration's bytes leave holes, or "
                      "the access does not run every time)"
                    : "the number of iterations is not known on entry, and no access "
                      "before the exit test sweeps a range";
        return false;
    }
    unsigned nmoved = 0, nafter = 0;
    for (moved *m : out) {
        nmoved += m->calls.length();
        nafter += m->at_exit;
    }
    location_t loc = gimple_location(out[0]->like);
    for (moved *m : out) {
        gcall *c;
        if (!m->len) {
            tree a;
            if (!gimple_value(m->addr, &seq, &a))
                continue;
            c = gimple_build_call(gimple_call_fndecl(m->like), 1, a);
        } else {
            tree fn = builtin_decl_explicit(m->write ? BUILT_IN_TSAN_WRITE_RANGE
                                                     : BUILT_IN_TSAN_READ_RANGE);
            tree t = TYPE_ARG_TYPES(TREE_TYPE(fn));
            tree a0 = fold_convert(TREE_VALUE(t), m->addr);
            tree a1 = fold_convert(TREE_VALUE(TREE_CHAIN(t)), m->len);
            gimple_seq *to = m->at_exit ? &post : &seq;
            if (!gimple_value(a0, to, &a0) || !gimple_value(a1, to, &a1))
                continue;
            c = gimple_build_call(fn, 2, a0, a1);
        }
        gimple_set_location(c, gimple_location(m->like));
        gimple_set_block(c, gimple_block(m->like));
        gimple_seq_add_stmt(m->at_exit ? &post : &seq, c);
        for (gcall *old : m->calls)
            remove_check(old);
    }
    if (seq)
        gsi_insert_seq_on_edge_immediate(loop_preheader_edge(l), seq);
    if (post)
        gsi_insert_seq_on_edge_immediate(e, post);
    if (dump_enabled_p())
        dump_printf_loc(MSG_OPTIMIZED_LOCATIONS, dump_user_location_t::from_location_t(loc),
                        "race checks of %u access(es) done as %u check(s) before the loop "
                        "and %u after it; %u kept in it\n",
                        nmoved, out.length() - nafter, nafter, naccess - nmoved);
    for (moved *m : out)
        delete m;
    return true;
}

const pass_data loop_ranges_data = {
    GIMPLE_PASS,
    "tangle-loop-ranges",
    OPTGROUP_LOOP,
    TV_NONE,
    PROP_ssa | PROP_cfg,
    0,
    0,
    0,
    0,
};

/* A read followed in its block by a write of the same bytes, with no
 * call between: only the write is checked, as LLVM's ThreadSanitizer
 * pass does (its read-before-write rule). Both fall in one epoch of the
 * thread (nothing between them can synchronize), and whatever races with
 * the read races with the write too, which is found instead: `x++`
 * (gcc: __tsan_read8, then __tsan_write8) costs one check. Any other
 * call, or inline assembly, ends the reads that may be dropped. Returns
 * the number of checks removed. */
unsigned drop_reads_before_writes(function *fn)
{
    unsigned dropped = 0;
    basic_block bb;
    FOR_EACH_BB_FN(bb, fn) {
        auto_vec<gcall *> reads;
        for (gimple_stmt_iterator i = gsi_start_bb(bb); !gsi_end_p(i);) {
            gimple *g = gsi_stmt(i);
            gsi_next(&i);
            if (gimple_code(g) == GIMPLE_ASM) {
                reads.truncate(0);
                continue;
            }
            if (!is_gimple_call(g))
                continue;
            bool write;
            unsigned size = access_size(g, &write);
            if (!size) {
                reads.truncate(0);
                continue;
            }
            tree addr = gimple_call_arg(g, 0);
            if (!write) {
                reads.safe_push(as_a<gcall *>(g));
                continue;
            }
            for (unsigned k = 0; k < reads.length();) {
                gcall *r = reads[k];
                bool w;
                if (access_size(r, &w) == size &&
                    operand_equal_p(gimple_call_arg(r, 0), addr, 0)) {
                    remove_check(r);
                    reads.unordered_remove(k);
                    dropped++;
                } else {
                    k++;
                }
            }
        }
    }
    return dropped;
}

/* Is g a range check (__tsan_read_range, __tsan_write_range)? */
bool range_check(const gimple *g)
{
    if (!is_gimple_call(g) || gimple_call_internal_p(g))
        return false;
    tree fn = gimple_call_fndecl(g);
    return fn && fndecl_built_in_p(fn, BUILT_IN_NORMAL) &&
           (DECL_FUNCTION_CODE(fn) == BUILT_IN_TSAN_READ_RANGE ||
            DECL_FUNCTION_CODE(fn) == BUILT_IN_TSAN_WRITE_RANGE);
}

/* The access checks of fn (sized and ranges), in order. */
void all_checks(function *fn, auto_vec<gcall *> *out)
{
    basic_block bb;
    FOR_EACH_BB_FN(bb, fn)
        for (gimple_stmt_iterator i = gsi_start_bb(bb); !gsi_end_p(i); gsi_next(&i)) {
            gimple *g = gsi_stmt(i);
            bool write;
            if (access_size(g, &write) || range_check(g))
                out->safe_push(as_a<gcall *>(g));
        }
}

/* Copies and fills by gcc's built-in functions get range checks before
 * them: gcc's instrumentation leaves memset, memcpy and memmove to the
 * sanitizer's run-time, which intercepts the library's functions; but
 * gcc expands many such calls inline (a fill or copy of a known size),
 * and then nothing sees them, not even gcc's own TSan. The source is
 * checked as read and the destination as written, over the call's
 * length, with the call's line. Returns the number of calls so checked. */
unsigned check_mem_builtins(function *fn)
{
    auto_vec<gcall *> calls;
    basic_block bb;
    FOR_EACH_BB_FN(bb, fn)
        for (gimple_stmt_iterator i = gsi_start_bb(bb); !gsi_end_p(i); gsi_next(&i)) {
            gimple *g = gsi_stmt(i);
            if (!gimple_call_builtin_p(g, BUILT_IN_NORMAL))
                continue;
            switch (DECL_FUNCTION_CODE(gimple_call_fndecl(g))) {
            case BUILT_IN_MEMSET: case BUILT_IN_MEMSET_CHK:
            case BUILT_IN_MEMCPY: case BUILT_IN_MEMCPY_CHK:
            case BUILT_IN_MEMMOVE: case BUILT_IN_MEMMOVE_CHK:
            case BUILT_IN_MEMPCPY: case BUILT_IN_MEMPCPY_CHK:
                calls.safe_push(as_a<gcall *>(g));
                break;
            default:
                break;
            }
        }
    tree rd = builtin_decl_explicit(BUILT_IN_TSAN_READ_RANGE);
    tree wr = builtin_decl_explicit(BUILT_IN_TSAN_WRITE_RANGE);
    tree targs = TYPE_ARG_TYPES(TREE_TYPE(wr));
    tree ptype = TREE_VALUE(targs), ltype = TREE_VALUE(TREE_CHAIN(targs));
    unsigned done = 0;
    for (gcall *c : calls) {
        enum built_in_function code = DECL_FUNCTION_CODE(gimple_call_fndecl(c));
        bool fill = code == BUILT_IN_MEMSET || code == BUILT_IN_MEMSET_CHK;
        gimple_seq seq = NULL;
        tree len, dst, src = NULL_TREE;
        if (!gimple_value(fold_convert(ltype, gimple_call_arg(c, 2)), &seq, &len) ||
            !gimple_value(fold_convert(ptype, gimple_call_arg(c, 0)), &seq, &dst) ||
            (!fill && !gimple_value(fold_convert(ptype, gimple_call_arg(c, 1)), &seq, &src))) {
            gimple_seq_discard(seq);
            continue;
        }
        if (src)
            gimple_seq_add_stmt(&seq, gimple_build_call(rd, 2, src, len));
        gimple_seq_add_stmt(&seq, gimple_build_call(wr, 2, dst, len));
        for (gimple_stmt_iterator i = gsi_start(seq); !gsi_end_p(i); gsi_next(&i)) {
            gimple_set_location(gsi_stmt(i), gimple_location(c));
            gimple_set_block(gsi_stmt(i), gimple_block(c));
        }
        gimple_stmt_iterator at = gsi_for_stmt(c);
        gsi_insert_seq_before(&at, seq, GSI_SAME_STMT);
        done++;
    }
    return done;
}

/* Is every byte that addr may point to in a local variable of fn whose
 * address never leaves fn (gcc's points-to analysis: not in the escaped
 * set)? No other thread can reach such memory. Only variables of fn's
 * own frame qualify: not globals, thread-locals or the heap. */
bool thread_private(tree addr, function *fn)
{
    if (!fn->gimple_df)
        return false;
    struct pt_solution *escaped = &fn->gimple_df->escaped;
    tree ptr = NULL_TREE;
    if (TREE_CODE(addr) == ADDR_EXPR) {
        tree base = get_base_address(TREE_OPERAND(addr, 0));
        if (!base)
            return false;
        if (VAR_P(base) || TREE_CODE(base) == PARM_DECL)
            return auto_var_in_fn_p(base, fn->decl) && !pt_solution_includes(escaped, base);
        if (TREE_CODE(base) == MEM_REF && TREE_CODE(TREE_OPERAND(base, 0)) == SSA_NAME)
            ptr = TREE_OPERAND(base, 0);
    } else if (TREE_CODE(addr) == SSA_NAME) {
        ptr = addr;
    }
    if (!ptr || !POINTER_TYPE_P(TREE_TYPE(ptr)) || !SSA_NAME_PTR_INFO(ptr))
        return false;
    const struct pt_solution &pt = SSA_NAME_PTR_INFO(ptr)->pt;
    if (pt.anything || pt.nonlocal || pt.escaped || pt.ipa_escaped ||
        pt.vars_contains_nonlocal || pt.vars_contains_escaped ||
        pt.vars_contains_escaped_heap || pt.vars_contains_interposable || !pt.vars ||
        bitmap_empty_p(pt.vars))
        return false;
    /* Each variable it may point to must be one of fn's own. */
    unsigned own = 0, ix;
    tree var;
    FOR_EACH_LOCAL_DECL(fn, ix, var)
        if ((VAR_P(var) || TREE_CODE(var) == PARM_DECL) && !is_global_var(var) &&
            bitmap_bit_p(pt.vars, DECL_PT_UID(var))) {
            if (pt_solution_includes(escaped, var))
                return false;
            own++;
        }
    return own == bitmap_count_bits(pt.vars);
}

/* Checks of memory no other thread can reach (thread_private) are
 * removed, as LLVM's ThreadSanitizer pass leaves out accesses to stack
 * objects whose address is not captured: a local array indexed in a
 * loop, a struct built and read in place. Returns the number removed. */
unsigned drop_private_checks(function *fn)
{
    auto_vec<gcall *> checks;
    unsigned dropped = 0;
    all_checks(fn, &checks);
    for (gcall *c : checks)
        if (thread_private(gimple_call_arg(c, 0), fn)) {
            remove_check(c);
            dropped++;
        }
    return dropped;
}

/* The checker's gate word and the calling thread's state (race_abi.h):
 * external thread-local variables, by their versioned names in every
 * language. Their TLS model is initial-exec even in position-independent
 * code, where a C declaration would get general-dynamic and a call to
 * __tls_get_addr before every test: libtangle, which defines them, is a
 * dependency loaded with the program (a library built so and opened
 * later with dlopen takes a few bytes of glibc's spare static TLS).
 * Declared once per compilation; garbage collection roots keep them. */
tree gate_var, state_var;
const struct ggc_root_tab tls_roots[] = {
    { &gate_var, 1, sizeof(gate_var), &gt_ggc_mx_tree_node, &gt_pch_nx_tree_node },
    { &state_var, 1, sizeof(state_var), &gt_ggc_mx_tree_node, &gt_pch_nx_tree_node },
    LAST_GGC_ROOT_TAB,
};

tree tls_extern(const char *name, tree type)
{
    tree id = get_identifier(name);
    tree v = build_decl(BUILTINS_LOCATION, VAR_DECL, id, type);
    TREE_PUBLIC(v) = 1;
    DECL_EXTERNAL(v) = 1;
    DECL_ARTIFICIAL(v) = 1;
    DECL_IGNORED_P(v) = 1;
    SET_DECL_ASSEMBLER_NAME(v, id);
    enum tls_model m = decl_default_tls_model(v);
    if (m == TLS_MODEL_GLOBAL_DYNAMIC || m == TLS_MODEL_LOCAL_DYNAMIC)
        m = TLS_MODEL_INITIAL_EXEC;
    set_decl_tls_model(v, m);
    return v;
}

tree gate_decl()
{
    if (!gate_var)
        gate_var = tls_extern(TG_RS_OFF_SYM, unsigned_type_node);
    return gate_var;
}

tree state_decl()
{
    if (!state_var)
        state_var = tls_extern(TG_RS_SYM, ptr_type_node);
    return state_var;
}

/* A load or store of a field at off bytes from base (an SSA pointer), in
 * alias set 0. */
tree field_at(tree type, tree base, unsigned off)
{
    tree any = build_pointer_type(char_type_node);
    return build2(MEM_REF, type, base, build_int_cst(any, off));
}

/* Puts g, with loc, after i's statement, or first in i's block if it
 * has none yet; i then points to g. */
void place(gimple_stmt_iterator *i, gimple *g, location_t loc)
{
    gimple_set_location(g, loc);
    if (gsi_end_p(*i))
        gsi_insert_before(i, g, GSI_NEW_STMT);
    else
        gsi_insert_after(i, g, GSI_NEW_STMT);
}

/* A new SSA name of type, set to code (a, b) at i. */
tree emit(gimple_stmt_iterator *i, location_t loc, tree type, enum tree_code code,
          tree a, tree b = NULL_TREE)
{
    tree lhs = make_ssa_name(type);
    place(i, b ? gimple_build_assign(lhs, code, a, b) : gimple_build_assign(lhs, code, a), loc);
    return lhs;
}

/* Splits i's block before (before) or after i's statement with the test
 * a code b: returns the block run when it holds, which falls through to
 * *rest (what follows) when falls; likely: it mostly holds. */
basic_block branch(gimple_stmt_iterator *i, bool before, bool likely, bool falls,
                   enum tree_code code, tree a, tree b, location_t loc, basic_block *rest)
{
    basic_block then_bb;
    gimple_stmt_iterator at = create_cond_insert_point(i, before, likely, falls, &then_bb, rest);
    gcond *cond = gimple_build_cond(code, a, b, NULL_TREE, NULL_TREE);
    gimple_set_location(cond, loc);
    gsi_insert_after(&at, cond, GSI_NEW_STMT);
    return then_bb;
}

/* Sampled mode's skip, inline before the sized check c in a loop (alone
 * in its block, behind the gate test of off): while the gate is exactly
 * TG_RS_OFF_SAMPLE and the site's entry in the thread's table
 * (race_abi.h) has its key and a skip count left, the count goes down
 * and c is not called; otherwise the key is left for the entry point,
 * which decides by the table's full rule. clang builds key a site by its
 * code address; GIMPLE has none, so a site here is keyed by its
 * function's address plus its number k in the function, which stays
 * inside the function's code and so clear of other functions' sites.
 *   if (off == SAMPLE && (r = tg__rs)) {
 *       e = r + SITES + SLOT(key) * SIZE;
 *       if (e->fn == key && e->skip) { e->skip--; goto done; }
 *       r->site_key = key;
 *   }
 *   c; done: */
void sample_skip(gcall *c, tree off, unsigned k, basic_block join)
{
    location_t loc = gimple_location(c);
    tree uptr = sizetype, u32 = unsigned_type_node;
    basic_block rest;
    gimple_stmt_iterator i = gsi_for_stmt(c);
    basic_block sampled = branch(&i, true, false, true, EQ_EXPR, off,
                                 build_int_cst(u32, TG_RS_OFF_SAMPLE), loc, &rest);
    /* the thread's state, if any */
    i = gsi_start_bb(sampled);
    tree r = emit(&i, loc, ptr_type_node, VAR_DECL, state_decl());
    basic_block entry = branch(&i, false, true, true, NE_EXPR, r, null_pointer_node, loc, &rest);
    /* the site's entry */
    i = gsi_start_bb(entry);
    tree base = emit(&i, loc, uptr, NOP_EXPR, build_fold_addr_expr(current_function_decl));
    tree key = emit(&i, loc, uptr, PLUS_EXPR, base, build_int_cst(uptr, k));
    tree h = emit(&i, loc, uptr, MULT_EXPR, key, build_int_cst(uptr, TG_RS_SITE_MUL));
    tree slot = emit(&i, loc, uptr, RSHIFT_EXPR, h, build_int_cst(u32, 64 - TG_RS_SITE_BITS));
    tree scaled = emit(&i, loc, uptr, MULT_EXPR, slot, build_int_cst(uptr, TG_RS_SITE_SIZE));
    tree off_e = emit(&i, loc, uptr, PLUS_EXPR, scaled, build_int_cst(uptr, TG_RS_SITES_OFF));
    tree e = emit(&i, loc, ptr_type_node, POINTER_PLUS_EXPR, r, off_e);
    tree efn = emit(&i, loc, uptr, MEM_REF, field_at(uptr, e, TG_RS_SITE_FN_OFF));
    tree skip = emit(&i, loc, u32, MEM_REF, field_at(u32, e, TG_RS_SITE_SKIP_OFF));
    tree same = emit(&i, loc, boolean_type_node, EQ_EXPR, efn, key);
    tree left = emit(&i, loc, boolean_type_node, NE_EXPR, skip, build_zero_cst(u32));
    tree hit = emit(&i, loc, boolean_type_node, BIT_AND_EXPR, same, left);
    basic_block miss;
    basic_block dec = branch(&i, false, true, false, NE_EXPR, hit, boolean_false_node, loc, &miss);
    /* a skip: one less, and no call */
    i = gsi_start_bb(dec);
    tree less = emit(&i, loc, u32, PLUS_EXPR, skip, build_int_cst(u32, -1));
    place(&i, gimple_build_assign(field_at(u32, e, TG_RS_SITE_SKIP_OFF), less), loc);
    make_single_succ_edge(dec, join, EDGE_FALLTHRU);
    /* otherwise the key, for the call */
    i = gsi_start_bb(miss);
    place(&i, gimple_build_assign(field_at(uptr, r, TG_RS_SITE_KEY_OFF), key), loc);
}

/* Each access check (the sized entry points and the ranges) runs only
 * when the gate word has neither TG_RS_OFF_NONE nor TG_RS_OFF_SKIP set:
 * the entry points of the shim and of libtangle return at once
 * otherwise, so the call is left out and its cost with it (a load from
 * thread-local storage and a branch instead). Without the shim the
 * instrumented program then runs near its plain speed; in sampled mode,
 * a call that is not sampled makes no call per access. The gate is read
 * anew for each check: a call between two may change it (a function's
 * entry and return set the sampling bit). Returns the number guarded. */
unsigned guard_checks(function *fn)
{
    auto_vec<gcall *> calls;
    all_checks(fn, &calls);
    tree mask = build_int_cst(unsigned_type_node, TG_RS_OFF_NONE | TG_RS_OFF_SKIP);
    unsigned sized = 0;
    for (gcall *c : calls) {
        location_t loc = gimple_location(c);
        /* The sampled skip only pays in a loop: elsewhere a site runs
         * once a call, so in the calls that are sampled its own count
         * rarely leaves the cold phase, where every access is checked,
         * and the probe would only add code. */
        bool write;
        bool skip_inline = access_size(c, &write) && current_loops &&
                           loop_depth(gimple_bb(c)->loop_father) > 0;
        tree off = make_ssa_name(unsigned_type_node);
        gimple *load = gimple_build_assign(off, gate_decl());
        tree bits = make_ssa_name(unsigned_type_node);
        gimple *test = gimple_build_assign(bits, BIT_AND_EXPR, off, mask);
        gimple_set_location(load, loc);
        gimple_set_location(test, loc);
        gimple_stmt_iterator i = gsi_for_stmt(c);
        gsi_insert_before(&i, load, GSI_SAME_STMT);
        gsi_insert_before(&i, test, GSI_SAME_STMT);
        /* the test's block: what came before, the load and the test;
         * then the call's own block, which joins the block after it. */
        basic_block join_bb;
        basic_block call_bb = branch(&i, true, true, true, EQ_EXPR, bits,
                                     build_zero_cst(unsigned_type_node), loc, &join_bb);
        gimple_stmt_iterator ci = gsi_for_stmt(c);
        gsi_move_to_bb_end(&ci, call_bb);
        if (skip_inline)
            sample_skip(c, off, sized++, join_bb);
    }
    return calls.length();
}

/* The last step of both passes: the gate tests, then what gcc must
 * redo after the changes (changed: the pass's earlier steps changed
 * anything). */
unsigned guard_and_finish(function *fn, bool changed)
{
    free_dominance_info(CDI_DOMINATORS);
    bool guarded = guard_checks(fn) != 0;
    if (!changed && !guarded)
        return 0;
    mark_virtual_operands_for_renaming(fn);
    return TODO_update_ssa_only_virtuals | (guarded ? TODO_cleanup_cfg : 0);
}

struct loop_ranges : gimple_opt_pass {
    loop_ranges(gcc::context *ctx) : gimple_opt_pass(loop_ranges_data, ctx) {}
    opt_pass *clone() final override { return new loop_ranges(m_ctxt); }
    bool gate(function *) final override
    {
        return (flag_sanitize & SANITIZE_THREAD) != 0 && optimize;
    }
    unsigned execute(function *fn) final override;
};

unsigned loop_ranges::execute(function *fn)
{
    /* A function the user excluded (no_sanitize_thread) gets no check
     * of its copies either; the rest finds no checks in it. */
    if (!sanitize_flags_p(SANITIZE_THREAD, fn->decl))
        return 0;
    bool changed = check_mem_builtins(fn) != 0;
    changed |= drop_private_checks(fn) != 0;
    changed |= drop_reads_before_writes(fn) != 0;
    if (loops_for_fn(fn) && number_of_loops(fn) > 1) {
        loop_optimizer_init(LOOPS_NORMAL | LOOPS_HAVE_RECORDED_EXITS);
        scev_initialize();
        for (auto l : loops_list(fn, LI_ONLY_INNERMOST)) {
            const char *why;
            bool did = move_loop(l, &why);
            changed |= did;
            if (!did && why && dump_enabled_p())
                dump_printf_loc(MSG_MISSED_OPTIMIZATION, find_loop_location(l),
                                "race checks kept in the loop: %s\n", why);
        }
        scev_finalize();
        loop_optimizer_finalize(fn);
    }
    return guard_and_finish(fn, changed);
}

/* At -O0 gcc instruments in its pass "tsan0", after every optimization
 * pass (none of which runs), and nothing expands copies and fills inline
 * either; but the library's memset and memcpy are still called
 * unchecked, and every access still makes its call. This pass, after
 * that one, adds the copies' and fills' range checks and tests the gate
 * before each check. Nothing that needs gcc's analyses runs here: no
 * loop ranges, and no dropping of private locals' checks (no points-to
 * information exists at -O0). */
const pass_data o0_checks_data = {
    GIMPLE_PASS,
    "tangle-checks-O0",
    OPTGROUP_NONE,
    TV_NONE,
    PROP_ssa | PROP_cfg,
    0,
    0,
    0,
    0,
};

struct o0_checks : gimple_opt_pass {
    o0_checks(gcc::context *ctx) : gimple_opt_pass(o0_checks_data, ctx) {}
    opt_pass *clone() final override { return new o0_checks(m_ctxt); }
    bool gate(function *) final override
    {
        return (flag_sanitize & SANITIZE_THREAD) != 0 && !optimize;
    }
    unsigned execute(function *fn) final override
    {
        if (!sanitize_flags_p(SANITIZE_THREAD, fn->decl))
            return 0;
        return guard_and_finish(fn, check_mem_builtins(fn) != 0);
    }
};

} // namespace

int plugin_init(struct plugin_name_args *info, struct plugin_gcc_version *version)
{
    if (!plugin_default_version_check(version, &gcc_version)) {
        error("%s: built for gcc %s", info->base_name, gcc_version.basever);
        return 1;
    }
    static struct plugin_info about = {
        "1", "tangle: race checks of array loops as ranges, of copies and fills, "
             "behind the checker's gate and its sampling table"
    };
    register_callback(info->base_name, PLUGIN_INFO, NULL, &about);
    register_callback(info->base_name, PLUGIN_REGISTER_GGC_ROOTS, NULL,
                      const_cast<ggc_root_tab *>(tls_roots));
    /* one pass after gcc's instrumentation at -O1 and above, one after
     * its -O0 instance */
    struct {
        opt_pass *pass;
        const char *after;
    } passes[] = { { new loop_ranges(g), "tsan" }, { new o0_checks(g), "tsan0" } };
    for (auto &p : passes) {
        struct register_pass_info r = { p.pass, p.after, 0, PASS_POS_INSERT_AFTER };
        register_callback(info->base_name, PLUGIN_PASS_MANAGER_SETUP, NULL, &r);
    }
    return 0;
}
