/*
 * shim/bitcode/race_inline.c: the race checker's access entry points as
 * LLVM bitcode, for `tangle cc` with clang to link into every object it
 * builds, so that the common cases of the check run inline in the
 * program instead of a call into the shim per access.
 *
 * clang's -fsanitize=thread puts a call to __tsan_read8 (and so on)
 * before each load and store, after its optimizations. `tangle cc` stops
 * there (-emit-llvm), links this file's definitions into the module
 * (llvm-link --internalize: they become private to the object) and
 * compiles the result, which inlines them. Each inlined copy then:
 *   - without the shim, reads libtangle's gate word (TG_RS_OFF_NONE) and
 *     returns: the instrumented program runs near its plain speed;
 *   - under the shim, runs the same inline check as the shim's own entry
 *     points (shim/race.h: tg__rc_access_fast, and the inline half of
 *     sampling), and calls the shim's __tsan_readN_pc for anything else,
 *     which starts over the long way.
 * Function entry and exit are here too: gated the same way, and under
 * the shim both inline (the entry calls the shim only to sample, or for
 * a thread's first call).
 * The access site is the address of the inlined code itself (one lea):
 * the inlined instructions carry the line of the load or store they
 * guard, so reports name it as they would the call's return address.
 *
 * Built with -fsanitize=thread and no LLVM passes: the functions carry
 * the sanitizer's attribute, which inlining into instrumented code
 * requires, and are never instrumented themselves (the module they join
 * is compiled without the sanitizer). Nothing here may call or read the
 * shim's hidden functions: only the names in race_abi.h, and the
 * exported entry points.
 */
#include "../race.h"

#if defined(__x86_64__)
#define HERE(pc) __asm__ volatile("lea 0(%%rip), %0" : "=r"(pc))
#elif defined(__aarch64__)
#define HERE(pc) __asm__ volatile("adr %0, ." : "=r"(pc))
#else
#error "race_inline.c: no way to take the address of the code here"
#endif

#define ALWAYS static inline __attribute__((always_inline))

/* True when the inline check settled the access. */
ALWAYS bool tg__rc_settle(uintptr_t addr, uint32_t size, bool write, uintptr_t pc)
{
    uint32_t off = tg__rs_off;
    if (off & (RS_OFF_NONE | RS_OFF_SKIP))
        return true;
    struct race_thread *r = tg__rs;
    if (unlikely(r == NULL))
        return false;
    if (off == RS_OFF_SAMPLE)
        return tg__rc_sample_skip(r, pc);
    return likely(off == 0) && tg__rc_access_fast(r, addr, size, write, false, pc);
}

#define ENTRY(name, N, write, slow)                                          \
    void slow(void *a, void *pc);                                            \
    __attribute__((always_inline)) void name(void *a);                       \
    __attribute__((always_inline)) void name(void *a)                        \
    {                                                                        \
        uintptr_t pc;                                                        \
        HERE(pc);                                                            \
        if (!tg__rc_settle((uintptr_t)a, N, write, pc))                             \
            slow(a, (void *)pc);                                             \
    }

#define ENTRIES(N)                                                           \
    ENTRY(__tsan_read##N, N, false, __tsan_read##N##_pc)                     \
    ENTRY(__tsan_write##N, N, true, __tsan_write##N##_pc)                    \
    ENTRY(__tsan_unaligned_read##N, N, false, __tsan_unaligned_read##N##_pc) \
    ENTRY(__tsan_unaligned_write##N, N, true, __tsan_unaligned_write##N##_pc)

/* Function entry and exit: without the shim, one test each; under it,
 * both push and pop the shadow frame inline. The entry calls the shim's
 * (by its other name: this one is taken here) for a thread without state
 * yet, in sampled mode (the sampling decision is the table's), or past
 * the deepest frame kept. The frame's stack pointer is this function's
 * own at this point, which is the one the shim's entry records (the
 * stack pointer at its call). */
#if defined(__x86_64__)
#define STACK_POINTER(sp) __asm__ volatile("mov %%rsp, %0" : "=r"(sp))
#elif defined(__aarch64__)
#define STACK_POINTER(sp) __asm__ volatile("mov %0, sp" : "=r"(sp))
#endif

void tg__func_entry(void *pc) __asm__(TG_FUNC_ENTRY_SYM);
__attribute__((always_inline)) void __tsan_func_entry(void *pc);
__attribute__((always_inline)) void __tsan_func_entry(void *pc)
{
    uint32_t off = tg__rs_off;
    if (off & RS_OFF_NONE)
        return;
    struct race_thread *r = tg__rs;
    uint32_t d;
    if (unlikely(!r || (off & RS_OFF_SAMPLE) || (d = r->depth) >= RC_MAX_DEPTH)) {
        tg__func_entry(pc);
        return;
    }
    uintptr_t sp;
    STACK_POINTER(sp);
    r->depth = d + 1;
    tg__rc_func_push(r, d, (uintptr_t)pc, sp);
}

__attribute__((always_inline)) void __tsan_func_exit(void);
__attribute__((always_inline)) void __tsan_func_exit(void)
{
    tg__rc_func_exit(tg__rs);
}

ENTRY(__tsan_read1, 1, false, __tsan_read1_pc)
ENTRY(__tsan_write1, 1, true, __tsan_write1_pc)
ENTRIES(2)
ENTRIES(4)
ENTRIES(8)
ENTRIES(16)
