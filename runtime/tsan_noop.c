/*
 * runtime/tsan_noop.c: the -fsanitize=thread entry points, doing nothing
 * but the atomics. `tangle cc` compiles with the compiler's thread
 * instrumentation and links against libtangle instead of libtsan, so an
 * instrumented program must find every __tsan_* function here when it runs
 * without the preload shim. Under `tangle run` the shim's definitions come
 * first in the lookup order and these are never called. Accesses, function
 * entry and exit and the annotations return at once; an atomic performs
 * its operation sequentially consistent, which is at least as strong as any
 * order the program asked for (the shim honours the exact order). When the
 * runtime itself is built with -fsanitize=thread (make check-tsan), libtsan
 * provides these names and this file compiles to nothing.
 */
#if defined(__SANITIZE_THREAD__)
#define TG_NOOP_SKIP 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TG_NOOP_SKIP 1
#endif
#endif

#ifndef TG_NOOP_SKIP
#include <stdbool.h>
#include <stddef.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/race_abi.h"

#define SC __ATOMIC_SEQ_CST

/* What the access check inlined by `tangle cc` (with clang) reads: here,
 * without the shim, a gate that says there is no checker, so each access
 * costs a test and no call. The shim's definitions replace these. */
__thread void *tg__rs __asm__(TG_RS_SYM);
__thread unsigned tg__rs_off __asm__(TG_RS_OFF_SYM) = TG_RS_OFF_NONE;
void *tg__rc_dir __asm__(TG_RC_DIR_SYM);
void tg__func_entry(void *pc) __asm__(TG_FUNC_ENTRY_SYM);
void tg__func_entry(void *pc) { (void)pc; }

#define NOOP1(name) void name(void *a); void name(void *a) { (void)a; }
#define NOOP2(name) void name(void *a, void *b); \
    void name(void *a, void *b) { (void)a; (void)b; }

#define ACCESS(N)                                                            \
    NOOP1(__tsan_read##N) NOOP1(__tsan_write##N)                             \
    NOOP1(__tsan_unaligned_read##N) NOOP1(__tsan_unaligned_write##N)         \
    NOOP1(__tsan_volatile_read##N) NOOP1(__tsan_volatile_write##N)           \
    NOOP2(__tsan_read##N##_pc) NOOP2(__tsan_write##N##_pc)                   \
    NOOP2(__tsan_unaligned_read##N##_pc) NOOP2(__tsan_unaligned_write##N##_pc)

ACCESS(1)
ACCESS(2)
ACCESS(4)
ACCESS(8)
ACCESS(16)

NOOP1(__tsan_func_entry)
NOOP1(__tsan_vptr_read)
NOOP2(__tsan_vptr_update)
NOOP1(__tsan_acquire)
NOOP1(__tsan_release)

/* <sanitizer/tsan_interface.h>'s annotations of a program's own locks. */
#define MUTEX_NOOP(name) void name(void *a, unsigned f); \
    void name(void *a, unsigned f) { (void)a; (void)f; }
MUTEX_NOOP(__tsan_mutex_create)
MUTEX_NOOP(__tsan_mutex_destroy)
MUTEX_NOOP(__tsan_mutex_pre_lock)
MUTEX_NOOP(__tsan_mutex_post_unlock)
MUTEX_NOOP(__tsan_mutex_pre_signal)
MUTEX_NOOP(__tsan_mutex_post_signal)
MUTEX_NOOP(__tsan_mutex_pre_divert)
MUTEX_NOOP(__tsan_mutex_post_divert)
void __tsan_mutex_post_lock(void *a, unsigned f, int recursion);
void __tsan_mutex_post_lock(void *a, unsigned f, int recursion)
{
    (void)a; (void)f; (void)recursion;
}
int __tsan_mutex_pre_unlock(void *a, unsigned f);
int __tsan_mutex_pre_unlock(void *a, unsigned f)
{
    (void)a; (void)f;
    return 0;
}

void __tsan_func_exit(void);
void __tsan_func_exit(void) {}
void __tsan_init(void);
void __tsan_init(void) {}
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_begin(void) {}
void __tsan_ignore_thread_end(void);
void __tsan_ignore_thread_end(void) {}

void __tsan_read_range(void *a, size_t n);
void __tsan_read_range(void *a, size_t n) { (void)a; (void)n; }
void __tsan_write_range(void *a, size_t n);
void __tsan_write_range(void *a, size_t n) { (void)a; (void)n; }
void __tsan_read_range_pc(void *a, size_t n, void *pc);
void __tsan_read_range_pc(void *a, size_t n, void *pc) { (void)a; (void)n; (void)pc; }
void __tsan_write_range_pc(void *a, size_t n, void *pc);
void __tsan_write_range_pc(void *a, size_t n, void *pc) { (void)a; (void)n; (void)pc; }

void *__tsan_memcpy(void *d, const void *s, size_t n);
void *__tsan_memcpy(void *d, const void *s, size_t n) { return memcpy(d, s, n); }
void *__tsan_memmove(void *d, const void *s, size_t n);
void *__tsan_memmove(void *d, const void *s, size_t n) { return memmove(d, s, n); }
void *__tsan_memset(void *d, int c, size_t n);
void *__tsan_memset(void *d, int c, size_t n) { return memset(d, c, n); }

void __tsan_atomic_thread_fence(int mo);
void __tsan_atomic_thread_fence(int mo) { (void)mo; __atomic_thread_fence(SC); }
void __tsan_atomic_signal_fence(int mo);
void __tsan_atomic_signal_fence(int mo) { (void)mo; __atomic_signal_fence(SC); }

#define RMW(B, T, NAME, EXPR)                                                \
    T __tsan_atomic##B##_##NAME(volatile T *a, T x, int mo);                 \
    T __tsan_atomic##B##_##NAME(volatile T *a, T x, int mo)                  \
    { (void)mo; return EXPR; }

#define ATOMICS(B, T)                                                        \
    T __tsan_atomic##B##_load(const volatile T *a, int mo);                  \
    T __tsan_atomic##B##_load(const volatile T *a, int mo)                   \
    { (void)mo; return __atomic_load_n(a, SC); }                             \
    void __tsan_atomic##B##_store(volatile T *a, T x, int mo);               \
    void __tsan_atomic##B##_store(volatile T *a, T x, int mo)                \
    { (void)mo; __atomic_store_n(a, x, SC); }                                \
    RMW(B, T, exchange, __atomic_exchange_n(a, x, SC))                       \
    RMW(B, T, fetch_add, __atomic_fetch_add(a, x, SC))                       \
    RMW(B, T, fetch_sub, __atomic_fetch_sub(a, x, SC))                       \
    RMW(B, T, fetch_and, __atomic_fetch_and(a, x, SC))                       \
    RMW(B, T, fetch_or, __atomic_fetch_or(a, x, SC))                         \
    RMW(B, T, fetch_xor, __atomic_fetch_xor(a, x, SC))                       \
    RMW(B, T, fetch_nand, __atomic_fetch_nand(a, x, SC))                     \
    int __tsan_atomic##B##_compare_exchange_strong(volatile T *a, T *c, T x, \
                                                   int mo, int f);           \
    int __tsan_atomic##B##_compare_exchange_strong(volatile T *a, T *c, T x, \
                                                   int mo, int f)            \
    { (void)mo; (void)f;                                                     \
      return __atomic_compare_exchange_n(a, c, x, false, SC, SC); }          \
    int __tsan_atomic##B##_compare_exchange_weak(volatile T *a, T *c, T x,   \
                                                 int mo, int f);             \
    int __tsan_atomic##B##_compare_exchange_weak(volatile T *a, T *c, T x,   \
                                                 int mo, int f)              \
    { (void)mo; (void)f;                                                     \
      return __atomic_compare_exchange_n(a, c, x, true, SC, SC); }           \
    T __tsan_atomic##B##_compare_exchange_val(volatile T *a, T c, T x,       \
                                              int mo, int f);                \
    T __tsan_atomic##B##_compare_exchange_val(volatile T *a, T c, T x,       \
                                              int mo, int f)                 \
    { (void)mo; (void)f;                                                     \
      __atomic_compare_exchange_n(a, &c, x, false, SC, SC); return c; }

ATOMICS(8, uint8_t)
ATOMICS(16, uint16_t)
ATOMICS(32, uint32_t)
ATOMICS(64, uint64_t)

/* Heap blocks. `tangle cc` links with --wrap for malloc, calloc, realloc
 * and free, so the program's own calls come here: the race checker must
 * know that a block freed by one thread and handed out again to another
 * is new memory, not shared, and that a free racing with another
 * thread's access is a race. __tsan_heap_alloc / __tsan_heap_free_at
 * (pc: the program's call) are no-ops here and the shim's under `tangle
 * run`; __tsan_heap_free, without the pc, is what libtangle called
 * before. */
void __tsan_heap_alloc(void *p, size_t n, void *pc);
void __tsan_heap_alloc(void *p, size_t n, void *pc) { (void)p; (void)n; (void)pc; }
void __tsan_heap_free(void *p);
void __tsan_heap_free(void *p) { (void)p; }
void __tsan_heap_free_at(void *p, void *pc);
void __tsan_heap_free_at(void *p, void *pc) { (void)p; (void)pc; }

void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        __tsan_heap_alloc(p, n, __builtin_return_address(0));
    return p;
}

void *__wrap_calloc(size_t k, size_t n);
void *__wrap_calloc(size_t k, size_t n)
{
    void *p = calloc(k, n);
    if (p)
        __tsan_heap_alloc(p, k * n, __builtin_return_address(0));
    return p;
}

void *__wrap_realloc(void *old, size_t n);
void *__wrap_realloc(void *old, size_t n)
{
    if (old)
        __tsan_heap_free_at(old, __builtin_return_address(0));
    void *p = realloc(old, n);
    if (p)
        __tsan_heap_alloc(p, n, __builtin_return_address(0));
    else if (old && n)
        __tsan_heap_alloc(old, malloc_usable_size(old),
                          __builtin_return_address(0));
    return p;
}

void __wrap_free(void *p);
void __wrap_free(void *p)
{
    if (p)
        __tsan_heap_free_at(p, __builtin_return_address(0));
    free(p);
}

/* TSan's dynamic annotations: no-ops here, the shim's under tangle run. */
#define ANNOT2(name) void name(const char *f, int l); \
    void name(const char *f, int l) { (void)f; (void)l; }
#define ANNOT3(name) void name(const char *f, int l, const volatile void *a); \
    void name(const char *f, int l, const volatile void *a) { (void)f; (void)l; (void)a; }
ANNOT3(AnnotateHappensBefore)
ANNOT3(AnnotateHappensAfter)
ANNOT2(AnnotateIgnoreReadsBegin)
ANNOT2(AnnotateIgnoreReadsEnd)
ANNOT2(AnnotateIgnoreWritesBegin)
ANNOT2(AnnotateIgnoreWritesEnd)
void AnnotateBenignRaceSized(const char *f, int l, const volatile void *m,
                             long size, const char *d);
void AnnotateBenignRaceSized(const char *f, int l, const volatile void *m,
                             long size, const char *d)
{
    (void)f; (void)l; (void)m; (void)size; (void)d;
}
void AnnotateBenignRace(const char *f, int l, const volatile void *m,
                        const char *d);
void AnnotateBenignRace(const char *f, int l, const volatile void *m,
                        const char *d)
{
    (void)f; (void)l; (void)m; (void)d;
}

/* 16 bytes: cmpxchg16b, so no libatomic is needed. */
typedef unsigned __int128 u128;

#if defined(__x86_64__)
__attribute__((target("cx16")))
static u128 cas128(volatile u128 *a, u128 old, u128 nv)
{
    return __sync_val_compare_and_swap(a, old, nv);
}
#else
static int lock128;
static u128 cas128(volatile u128 *a, u128 old, u128 nv)
{
    while (__atomic_exchange_n(&lock128, 1, __ATOMIC_ACQUIRE))
        ;
    u128 cur = *a;
    if (cur == old)
        *a = nv;
    __atomic_store_n(&lock128, 0, __ATOMIC_RELEASE);
    return cur;
}
#endif

#define RMW128(NAME, NEW)                                                    \
    u128 __tsan_atomic128_##NAME(volatile u128 *a, u128 x, int mo);          \
    u128 __tsan_atomic128_##NAME(volatile u128 *a, u128 x, int mo)           \
    {                                                                        \
        (void)mo;                                                            \
        u128 cur = cas128(a, 0, 0);                                          \
        for (;;) {                                                           \
            u128 seen = cas128(a, cur, NEW);                                 \
            if (seen == cur)                                                 \
                return cur;                                                  \
            cur = seen;                                                      \
        }                                                                    \
    }

RMW128(exchange, x)
RMW128(fetch_add, cur + x)
RMW128(fetch_sub, cur - x)
RMW128(fetch_and, cur & x)
RMW128(fetch_or, cur | x)
RMW128(fetch_xor, cur ^ x)
RMW128(fetch_nand, ~(cur & x))

u128 __tsan_atomic128_load(const volatile u128 *a, int mo);
u128 __tsan_atomic128_load(const volatile u128 *a, int mo)
{
    (void)mo;
    return cas128((volatile u128 *)(uintptr_t)a, 0, 0);
}

void __tsan_atomic128_store(volatile u128 *a, u128 x, int mo);
void __tsan_atomic128_store(volatile u128 *a, u128 x, int mo)
{
    __tsan_atomic128_exchange(a, x, mo);
}

int __tsan_atomic128_compare_exchange_strong(volatile u128 *a, u128 *c, u128 x,
                                             int mo, int f);
int __tsan_atomic128_compare_exchange_strong(volatile u128 *a, u128 *c, u128 x,
                                             int mo, int f)
{
    (void)mo;
    (void)f;
    u128 seen = cas128(a, *c, x);
    bool ok = seen == *c;
    *c = seen;
    return ok;
}

int __tsan_atomic128_compare_exchange_weak(volatile u128 *a, u128 *c, u128 x,
                                           int mo, int f);
int __tsan_atomic128_compare_exchange_weak(volatile u128 *a, u128 *c, u128 x,
                                           int mo, int f)
{
    return __tsan_atomic128_compare_exchange_strong(a, c, x, mo, f);
}

u128 __tsan_atomic128_compare_exchange_val(volatile u128 *a, u128 c, u128 x,
                                           int mo, int f);
u128 __tsan_atomic128_compare_exchange_val(volatile u128 *a, u128 c, u128 x,
                                           int mo, int f)
{
    (void)mo;
    (void)f;
    return cas128(a, c, x);
}
#endif
