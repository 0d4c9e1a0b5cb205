/*
 * shim/bitcode/loop_ranges.cpp: an LLVM pass plugin that `tangle cc`
 * loads (clang -fpass-plugin) when it compiles a program's instrumented
 * bitcode on to an object, so that a loop which sweeps an array costs one
 * range check instead of one check per element.
 *
 * By then the sanitizer has put a call to __tsan_read8 (and so on) before
 * each load and store. In an innermost loop that
 *   - leaves only at its latch (one exit, taken at the end of an
 *     iteration),
 *   - calls nothing but those entry points (no function, no atomic, no
 *     fence, no inline assembly: nothing that could synchronize, so every
 *     access of the loop falls in one synchronization epoch of the thread),
 * the accesses of one source line that run on every iteration (their
 * blocks dominate the latch) at addresses that move by a constant step,
 * and that together cover each step's bytes without a hole (a[i]; or its
 * copies a[i], a[i + 2] after unrolling or vectorizing), touch one
 * contiguous range. The pass checks that range once and removes the
 * per-iteration calls (__tsan_read_range / __tsan_write_range, carrying
 * the line of the accesses). The loop is left without calls, so the
 * optimizer may vectorize it again. Where SCEV knows the trip count on
 * entry, the range is known then and is checked in the preheader;
 * otherwise it is checked on the exit, from the addresses the last
 * iteration reached. An access at an address the loop does not change
 * (a counter updated in place) is checked once, in the preheader, by
 * its own entry point: the loop runs at least once from there.
 *
 * Why the verdicts do not change: all of the loop's accesses would be
 * checked with the same clock; checking them before or after the loop
 * instead is the same check at another moment of that epoch, as if the
 * loop had run in an instant. A loop that may leave early (another exit,
 * a call that might not return) is left alone, so a range never names
 * bytes the program did not touch. A write range makes a read range of
 * the same bytes redundant (a write is checked against earlier reads and
 * writes alike, and a later access of another thread races with it
 * whenever it would with the read). Accesses of different lines are not
 * merged: a report names the range's line, which must be theirs.
 *
 * Before that, the pass checks the accesses that clang's instrumentation
 * left unchecked though another thread can reach them (addMissedChecks),
 * and the library copies and fills it leaves to an interceptor
 * (checkMemCalls).
 *
 * `tangle cc` leaves it out when TANGLE_LOOP_RANGES=0.
 */
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Analysis/CaptureTracking.h"
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/Analysis/OptimizationRemarkEmitter.h"
#include "llvm/Analysis/ScalarEvolution.h"
#include "llvm/Analysis/ScalarEvolutionExpressions.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/DebugInfoMetadata.h"
#include "llvm/IR/Dominators.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/PassManager.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/PassPlugin.h"
#include "llvm/Transforms/Utils/LoopSimplify.h"
#include "llvm/Transforms/Utils/ScalarEvolutionExpander.h"

#include <algorithm>
#include <cstdint>

using namespace llvm;

namespace {

#define DEBUG_NAME "tangle-loop-ranges"

/* Can s be computed in the preheader without a fault (a division by a
 * value that may be zero)? LLVM 15 made this a method of the expander. */
bool safeToExpand(const SCEV *s, ScalarEvolution &se)
{
#if LLVM_VERSION_MAJOR >= 15
    SCEVExpander ex(se, se.getDataLayout(), DEBUG_NAME);
    return ex.isSafeToExpand(s);
#else
    return isSafeToExpand(s, se);
#endif
}

/* The size of the access an entry point checks (__tsan_read8,
 * __tsan_unaligned_write4, ...), 0 for any other callee; *write says
 * which kind. The _pc, _range and volatile variants are not loop
 * accesses this pass moves. */
unsigned accessSize(const CallInst *c, bool *write)
{
    const Function *f = c->getCalledFunction();
    if (!f)
        return 0;
    StringRef n = f->getName();
    if (!n.consume_front("__tsan_"))
        return 0;
    n.consume_front("unaligned_");
    if (n.consume_front("read"))
        *write = false;
    else if (n.consume_front("write"))
        *write = true;
    else
        return 0;
    unsigned size;
    if (n.getAsInteger(10, size))
        return 0;
    return size == 1 || size == 2 || size == 4 || size == 8 || size == 16 ? size : 0;
}

/* Calls a loop may hold besides the access entry points: intrinsics that
 * touch no memory, and the debugger's and the optimizer's markers. */
bool harmlessCall(const CallBase *cb)
{
    const auto *ii = dyn_cast<IntrinsicInst>(cb);
    if (!ii)
        return false;
    if (isa<DbgInfoIntrinsic>(ii))
        return true;
    switch (ii->getIntrinsicID()) {
    case Intrinsic::lifetime_start:
    case Intrinsic::lifetime_end:
    case Intrinsic::assume:
    case Intrinsic::experimental_noalias_scope_decl:
        return true;
    default:
        return ii->doesNotAccessMemory();
    }
}

/* Do the accesses checked by a and b come from one line of the source
 * (the copies of one access that vectorizing or unrolling made)? Only
 * those share a range: a report names the range's line, which must be
 * the line of every access it stands for. */
bool sameLine(const CallInst *a, const CallInst *b)
{
    const DILocation *x = a->getDebugLoc().get(), *y = b->getDebugLoc().get();
    if (!x || !y)
        return !x && !y;
    return x->getLine() == y->getLine() && x->getScope() == y->getScope() &&
           x->getInlinedAt() == y->getInlinedAt();
}

/* A range checked before the loop ([lo, lo + len) known on entry), or
 * after it, and the calls it replaces. After the loop, the range runs
 * from `first` (the lowest byte of the first iteration's accesses) to
 * `last` (the same in the last iteration, a value the loop computed),
 * plus `span` bytes, or from last to first + span when step < 0. */
struct Moved {
    const SCEV *lo;
    const SCEV *len;            /* nullptr: checked after the loop */
    Value *last;
    int64_t step, span;
    bool write;
    SmallVector<CallInst *, 4> calls;
};

/* Is c a call of one of the sanitizer's entry points for a plain access
 * (sized, unaligned, volatile, compound, range or vtable pointer)? */
bool checkCall(const CallInst *c)
{
    const Function *f = c->getCalledFunction();
    if (!f || c->arg_size() == 0)
        return false;
    StringRef n = f->getName();
    if (!n.consume_front("__tsan_"))
        return false;
    n.consume_front("unaligned_");
    n.consume_front("volatile_");
    return n.startswith("read") || n.startswith("write") || n.startswith("compound_") ||
           n.startswith("vptr_");
}

/* Accesses the sanitizer left unchecked that another thread can reach
 * get their check here (clang 14's ThreadSanitizer pass):
 *   - an access of a size without an entry point (a vector of more than
 *     16 bytes, as the vectorizer makes of a loop or of a run of
 *     stores; a long double; an aggregate of 24 bytes): the pass skips
 *     those silently;
 *   - an access to a local variable whose address does escape, through
 *     a pointer derived from it that does not itself (an element of a
 *     local array handed to another thread): the pass asks whether the
 *     derived pointer is captured, not the variable.
 * Accesses it leaves out on purpose stay out: reads of constant data and
 * of vtables, locals whose address never escapes, other address spaces,
 * and any access whose address some check already covers (a read before
 * a write of the same address). Sizes without an entry point are
 * checked as a range. Returns the number of checks added. */
unsigned addMissedChecks(Function &f)
{
    Module *m = f.getParent();
    const DataLayout &dl = m->getDataLayout();
    LLVMContext &cx = f.getContext();
    SmallPtrSet<const Value *, 32> covered;
    for (BasicBlock &bb : f)
        for (Instruction &i : bb)
            if (auto *c = dyn_cast<CallInst>(&i))
                if (checkCall(c))
                    covered.insert(c->getArgOperand(0)->stripPointerCasts());
    SmallVector<Instruction *, 16> missed;
    for (BasicBlock &bb : f)
        for (Instruction &i : bb) {
            Value *addr;
            if (auto *ld = dyn_cast<LoadInst>(&i)) {
                if (ld->isAtomic())
                    continue;
                addr = ld->getPointerOperand();
            } else if (auto *st = dyn_cast<StoreInst>(&i)) {
                if (st->isAtomic())
                    continue;
                addr = st->getPointerOperand();
            } else {
                continue;
            }
            if (addr->getType()->getPointerAddressSpace() != 0 || addr->isSwiftError() ||
                covered.count(addr->stripPointerCasts()))
                continue;
            if (MDNode *tag = i.getMetadata(LLVMContext::MD_tbaa))
                if (tag->isTBAAVtableAccess())
                    continue;
            const Value *base = getUnderlyingObject(addr);
            if (auto *gv = dyn_cast<GlobalVariable>(base)) {
                /* constant data; the compiler's own counters (profiling,
                 * coverage), which the sanitizer leaves out too */
                if (gv->isConstant() || gv->hasSection() || gv->getName().startswith("__llvm_"))
                    continue;
            } else if (isa<AllocaInst>(base)) {
                if (!PointerMayBeCaptured(base, true, true))
                    continue;
            }
            TypeSize ts = dl.getTypeStoreSize(getLoadStoreType(&i));
            if (ts.isScalable() || ts.getFixedSize() == 0)
                continue;
            missed.push_back(&i);
        }
    Type *ptr = PointerType::get(Type::getInt8Ty(cx), 0);
    Type *ity = Type::getInt64Ty(cx);
    Type *vt = Type::getVoidTy(cx);
    for (Instruction *i : missed) {
        bool write = isa<StoreInst>(i);
        Value *addr = write ? cast<StoreInst>(i)->getPointerOperand()
                            : cast<LoadInst>(i)->getPointerOperand();
        uint64_t size = dl.getTypeStoreSize(getLoadStoreType(i)).getFixedSize();
        uint64_t align = getLoadStoreAlignment(i).value();
        IRBuilder<> b(i);
        Value *p = b.CreatePointerCast(addr, ptr);
        CallInst *c;
        if (size == 1 || size == 2 || size == 4 || size == 8 || size == 16) {
            /* the sanitizer's choice between aligned and unaligned */
            bool aligned = align >= 8 || align % size == 0;
            std::string name = std::string("__tsan_") + (aligned ? "" : "unaligned_") +
                               (write ? "write" : "read") + std::to_string(size);
            c = b.CreateCall(m->getOrInsertFunction(name, vt, ptr), { p });
        } else {
            FunctionCallee range = m->getOrInsertFunction(
                write ? "__tsan_write_range" : "__tsan_read_range", vt, ptr, ity);
            c = b.CreateCall(range, { p, ConstantInt::get(ity, size) });
        }
        c->setDebugLoc(i->getDebugLoc());
    }
    return missed.size();
}

/* clang's instrumentation turns memset, memcpy and memmove into calls
 * of the library's functions, which the sanitizer's run-time intercepts;
 * tangle's shim does not intercept libc (see docs/races.md), so those
 * calls would go unchecked. They become calls of the entry points that
 * check the ranges and then do the same (__tsan_memset, __tsan_memcpy,
 * __tsan_memmove; libtangle's copies only do the work). Returns the
 * number of calls so changed. */
unsigned checkMemCalls(Function &f)
{
    Module *m = f.getParent();
    unsigned n = 0;
    for (BasicBlock &bb : f)
        for (Instruction &i : bb) {
            auto *c = dyn_cast<CallInst>(&i);
            Function *callee = c ? c->getCalledFunction() : nullptr;
            if (!callee || !callee->isDeclaration())
                continue;
            StringRef name = callee->getName();
            if (name != "memset" && name != "memcpy" && name != "memmove")
                continue;
            FunctionCallee to = m->getOrInsertFunction(("__tsan_" + name).str(),
                                                       callee->getFunctionType());
            c->setCalledFunction(to);
            n++;
        }
    return n;
}

/* Moves the entry block's fixed-size allocas to its top. The
 * instrumentation put the function-entry call first, ahead of them, and
 * once the inline code's entry (race_inline.c, with branches) is inlined
 * there, they would sit in a later block: dynamic allocas, which force a
 * frame pointer and move the stack pointer at each call. Returns how
 * many moved. */
unsigned hoistEntryAllocas(Function &f)
{
    BasicBlock &entry = f.getEntryBlock();
    Instruction *top = nullptr;
    unsigned n = 0;
    for (auto it = entry.begin(); it != entry.end();) {
        Instruction &i = *it++;
        auto *a = dyn_cast<AllocaInst>(&i);
        bool fixed = a && isa<ConstantInt>(a->getArraySize());
        if (!top) {
            if (!fixed && !isa<PHINode>(i))
                top = &i;
            continue;
        }
        if (fixed) {
            a->moveBefore(top);
            n++;
        }
    }
    return n;
}

struct LoopRanges : PassInfoMixin<LoopRanges> {
    PreservedAnalyses run(Function &f, FunctionAnalysisManager &am);
    /* Runs on optnone functions too (-O0): the checks it adds are part
     * of the instrumentation, not an optimization. */
    static bool isRequired() { return true; }
};

/* The accesses of loop l that may move out of it, as ranges. None if l
 * may synchronize or leave early: *why then says which, for the
 * optimization remark (-Rpass-missed=tangle-loop-ranges); *kept counts
 * the loop's other accesses, left in the loop. */
SmallVector<Moved, 8> movable(Loop *l, ScalarEvolution &se, DominatorTree &dt,
                              const char **why, unsigned *kept)
{
    SmallVector<Moved, 8> out;
    BasicBlock *latch = l->getLoopLatch();
    *why = nullptr;
    *kept = 0;
    SmallVector<std::pair<CallInst *, std::pair<unsigned, bool>>, 8> acc;
    for (BasicBlock *bb : l->blocks()) {
        for (Instruction &i : *bb) {
            if (i.isAtomic() || isa<FenceInst>(i)) {
                *why = "the loop has an atomic operation or a fence";
                return {};
            }
            auto *cb = dyn_cast<CallBase>(&i);
            if (!cb)
                continue;
            bool write = false;
            auto *ci = dyn_cast<CallInst>(cb);
            unsigned size = ci && !ci->isInlineAsm() ? accessSize(ci, &write) : 0;
            if (size) {
                acc.push_back({ ci, { size, write } });
            } else if (!harmlessCall(cb)) {
                *why = "the loop calls a function, which may synchronize";
                return {};
            }
        }
    }
    if (acc.empty())
        return out;
    if (!l->isInnermost())
        *why = "the loop holds another loop";
    else if (!l->getLoopPreheader() || !latch)
        *why = "the loop is not in simple form";
    else if (l->getExitingBlock() != latch || !l->getExitBlock() ||
             l->getExitBlock()->getSinglePredecessor() != latch)
        *why = "the loop has more than one exit";
    if (*why)
        return out;
    /* With the trip count known on entry, the ranges are checked before
     * the loop; otherwise after it, from the addresses the loop reached
     * (the same check, as if the loop had run at its end). */
    const SCEV *btc = se.getBackedgeTakenCount(l);
    bool before = !isa<SCEVCouldNotCompute>(btc);
    /* Group the accesses of one source line that run every iteration at an
     * affine address of constant step by step and by a constant distance
     * between their starts: each group sweeps [first, last) when together
     * they leave no gap between one iteration's bytes and the next's. */
    struct Acc {
        CallInst *call;
        const SCEVAddRecExpr *ar;
        int64_t step, off;     /* off: from the group's first start */
        unsigned size;
        bool write;
        int group;
    };
    SmallVector<Acc, 8> cand;
    struct Group {
        const SCEVAddRecExpr *first;
        int64_t second;         /* the step */
        CallInst *first_call;
    };
    SmallVector<Group, 4> groups;
    Type *i64 = Type::getInt64Ty(l->getHeader()->getContext());
    unsigned fixed = 0;
    for (auto &a : acc) {
        CallInst *ci = a.first;
        unsigned size = a.second.first;
        bool write = a.second.second;
        if (!dt.dominates(ci->getParent(), latch))
            continue;
        const SCEV *sp = se.getSCEV(ci->getArgOperand(0));
        if (se.isLoopInvariant(sp, l)) {
            /* The same address every iteration (a counter the loop
             * updates in place): one check, before the loop, which runs
             * at least once. A write covers a read of the same bytes on
             * its line. */
            if (!safeToExpand(sp, se))
                continue;
            bool merged = false;
            for (Moved &m : out) {
                if (m.step || m.lo != sp || m.span != (int64_t)size || !sameLine(ci, m.calls[0]))
                    continue;
                m.write |= write;
                m.calls.push_back(ci);
                merged = true;
                break;
            }
            if (!merged)
                out.push_back({ sp, se.getConstant(i64, size), nullptr, 0, (int64_t)size, write,
                                { ci } });
            fixed++;
            continue;
        }
        const auto *ar = dyn_cast<SCEVAddRecExpr>(sp);
        if (!ar || ar->getLoop() != l || !ar->isAffine())
            continue;
        const auto *step = dyn_cast<SCEVConstant>(ar->getStepRecurrence(se));
        if (!step || !step->getAPInt().isSignedIntN(32))
            continue;
        int64_t st = step->getAPInt().getSExtValue();
        if (st == 0 || (st < 0 ? -st : st) < (int64_t)size)
            continue;
        Acc c = { ci, ar, st, 0, size, write, -1 };
        for (size_t g = 0; g < groups.size() && c.group < 0; g++) {
            if (groups[g].second != st || !sameLine(ci, groups[g].first_call))
                continue;
            const auto *d = dyn_cast<SCEVConstant>(se.getMinusSCEV(ar, groups[g].first));
            if (d && d->getAPInt().isSignedIntN(32)) {
                c.group = (int)g;
                c.off = d->getAPInt().getSExtValue();
            }
        }
        if (c.group < 0) {
            c.group = (int)groups.size();
            groups.push_back({ ar, st, ci });
        }
        cand.push_back(c);
    }
    Type *ity = Type::getInt64Ty(l->getHeader()->getContext());
    const SCEV *ibtc = before ? se.getTruncateOrZeroExtend(btc, ity) : nullptr;
    for (size_t g = 0; g < groups.size(); g++) {
        for (int pass = 0; pass < 2; pass++) {
            /* pass 0: the writes; pass 1: the reads the writes do not
             * cover. [lo, hi): the union of their bytes in one
             * iteration, when it has no hole. */
            bool write = pass == 0;
            int64_t lo = INT64_MAX, hi = INT64_MIN;
            SmallVector<Acc *, 8> in;
            for (Acc &c : cand)
                if (c.group == (int)g && c.call && c.write == write)
                    in.push_back(&c);
            if (in.empty())
                continue;
            std::sort(in.begin(), in.end(),
                      [](const Acc *x, const Acc *y) { return x->off < y->off; });
            bool hole = false;
            for (Acc *c : in) {
                if (lo != INT64_MAX && c->off > hi)
                    hole = true;
                lo = std::min(lo, c->off);
                hi = std::max(hi, c->off + (int64_t)c->size);
            }
            int64_t st = groups[g].second, ast = st < 0 ? -st : st;
            if (hole || hi - lo < ast)
                continue;
            const SCEVAddRecExpr *rep = groups[g].first;
            const SCEV *first = se.getAddExpr(rep->getStart(), se.getConstant(ity, lo));
            Moved m = { first, nullptr, in.front()->call->getArgOperand(0), st, hi - lo,
                        write, {} };
            if (before) {
                if (st < 0)
                    m.lo = se.getAddExpr(first, se.getMulExpr(ibtc, se.getConstant(ity, st)));
                m.len = se.getAddExpr(se.getMulExpr(ibtc, se.getConstant(ity, ast)),
                                      se.getConstant(ity, hi - lo));
                if (!safeToExpand(m.lo, se) || !safeToExpand(m.len, se))
                    continue;
            } else if (!safeToExpand(first, se)) {
                continue;
            }
            for (Acc *c : in) {
                m.calls.push_back(c->call);
                c->call = nullptr;
            }
            /* The reads inside the written bytes go with the writes. */
            if (write)
                for (Acc &c : cand)
                    if (c.group == (int)g && c.call && !c.write && c.off >= lo &&
                        c.off + (int64_t)c.size <= hi) {
                        m.calls.push_back(c.call);
                        c.call = nullptr;
                    }
            out.push_back(m);
        }
    }
    for (Acc &c : cand)
        *kept += c.call != nullptr;
    *kept += acc.size() - cand.size() - fixed;
    if (out.empty())
        *why = "no access sweeps a range (each iteration's bytes leave holes, or the "
               "access does not run every time)";
    return out;
}

PreservedAnalyses LoopRanges::run(Function &f, FunctionAnalysisManager &am)
{
    if (!f.hasFnAttribute(Attribute::SanitizeThread) || f.isDeclaration())
        return PreservedAnalyses::all();
    /* The inline check's own code (race_inline.c, linked into the
     * module): never instrumented. */
    if (f.getName().startswith("__tsan_") || f.getName().startswith("tg__"))
        return PreservedAnalyses::all();
    bool added = hoistEntryAllocas(f) != 0;
    added |= addMissedChecks(f) != 0;
    added |= checkMemCalls(f) != 0;
    /* -O0 (optnone): the checks above, but no loop ranges. */
    if (f.hasOptNone()) {
        if (!added)
            return PreservedAnalyses::all();
        PreservedAnalyses pa;
        pa.preserveSet<CFGAnalyses>();
        return pa;
    }
    auto &li = am.getResult<LoopAnalysis>(f);
    auto &se = am.getResult<ScalarEvolutionAnalysis>(f);
    auto &dt = am.getResult<DominatorTreeAnalysis>(f);
    Module *m = f.getParent();
    LLVMContext &cx = f.getContext();
    const DataLayout &dl = m->getDataLayout();
    Type *ptr = PointerType::get(Type::getInt8Ty(cx), 0);
    Type *ity = Type::getInt64Ty(cx);
    FunctionCallee rr = m->getOrInsertFunction("__tsan_read_range", Type::getVoidTy(cx), ptr, ity);
    FunctionCallee wr = m->getOrInsertFunction("__tsan_write_range", Type::getVoidTy(cx), ptr, ity);
    bool changed = false;
    auto &ore = am.getResult<OptimizationRemarkEmitterAnalysis>(f);
    for (Loop *l : li.getLoopsInPreorder()) {
        const char *why;
        unsigned kept;
        SmallVector<Moved, 8> mv = movable(l, se, dt, &why, &kept);
        if (mv.empty()) {
            if (why)
                ore.emit([&]() {
                    return OptimizationRemarkMissed(DEBUG_NAME, "Kept", l->getStartLoc(),
                                                    l->getHeader())
                           << "race checks kept in the loop: " << why;
                });
            continue;
        }
        unsigned moved = 0, before = 0;
        for (const Moved &a : mv) {
            moved += a.calls.size();
            before += a.len != nullptr;
        }
        ore.emit([&]() {
            return OptimizationRemark(DEBUG_NAME, "Range", l->getStartLoc(), l->getHeader())
                   << "race checks of " << ore::NV("Moved", moved) << " access(es) done as "
                   << ore::NV("Before", before) << " check(s) before the loop and "
                   << ore::NV("After", (unsigned)mv.size() - before) << " after it; "
                   << ore::NV("Kept", kept) << " kept in it";
        });
        Instruction *at = l->getLoopPreheader()->getTerminator();
        SCEVExpander ex(se, dl, "tangle.range");
        for (Moved &a : mv) {
            CallInst *c;
            if (!a.step) {
                /* one address: its own entry point (inlined like the
                 * others), the write's where the line also reads */
                CallInst *w = a.calls.front();
                for (CallInst *ci : a.calls) {
                    bool write = false;
                    if (accessSize(ci, &write) && write)
                        w = ci;
                }
                Value *p = ex.expandCodeFor(a.lo, ptr, at);
                IRBuilder<> b(at);
                c = b.CreateCall(w->getFunctionType(), w->getCalledOperand(), { p });
            } else if (a.len) {
                Value *lo = ex.expandCodeFor(a.lo, ptr, at);
                Value *len = ex.expandCodeFor(a.len, ity, at);
                IRBuilder<> b(at);
                c = b.CreateCall(a.write ? wr : rr, { lo, len });
            } else {
                /* after the loop: [first, last] or [last, first], plus
                 * the span of one iteration's accesses */
                Value *first = ex.expandCodeFor(a.lo, ptr, at);
                IRBuilder<> b(&*l->getExitBlock()->getFirstInsertionPt());
                Value *fi = b.CreatePtrToInt(first, ity), *li = b.CreatePtrToInt(a.last, ity);
                Value *lo = a.step > 0 ? first : b.CreatePointerCast(a.last, ptr);
                Value *len = b.CreateAdd(a.step > 0 ? b.CreateSub(li, fi) : b.CreateSub(fi, li),
                                         ConstantInt::get(ity, a.span));
                c = b.CreateCall(a.write ? wr : rr, { lo, len });
            }
            c->setDebugLoc(a.calls.front()->getDebugLoc());
            for (CallInst *ci : a.calls)
                ci->eraseFromParent();
        }
        changed = true;
    }
    if (!changed && !added)
        return PreservedAnalyses::all();
    PreservedAnalyses pa;
    pa.preserveSet<CFGAnalyses>();
    return pa;
}

} // namespace

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo llvmGetPassPluginInfo()
{
    return { LLVM_PLUGIN_API_VERSION, "tangle-loop-ranges", "1",
             [](PassBuilder &pb) {
                 pb.registerPipelineStartEPCallback(
                     [](ModulePassManager &mpm, OptimizationLevel) {
                         /* The loops as the first compile left them may
                          * lack preheaders: loop-simplify gives them one. */
                         FunctionPassManager fpm;
                         fpm.addPass(LoopSimplifyPass());
                         fpm.addPass(LoopRanges());
                         mpm.addPass(createModuleToFunctionPassAdaptor(std::move(fpm)));
                     });
             } };
}
