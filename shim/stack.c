/*
 * shim/stack.c: stack capture, the hash-consed stack table, and the module
 * table that lets the analyzer symbolize stacks after the process is gone.
 *
 * Stacks are taken only where a report needs them (thread and object
 * creation, a park, a new lock-order edge, misuse), with libunwind, and the
 * shim's own frames are cut off the top so a stack starts at the program's
 * call. A call a thread repeats from the same place (a park in a loop, a
 * thread or object created in a loop) is not unwound again: the return
 * addresses of its last unwind are re-read where they sit on the stack.
 * Equal stacks share one record: a private open-addressed index maps
 * a stack's hash to its id. Insertion is lock-free: the record is written
 * and committed first, then published in the index with a CAS; a thread
 * that loses the race uses the winner's id and leaves its own record as an
 * unreferenced duplicate, which costs space but never correctness.
 * Whenever a new stack is stored the module list is checked against
 * dl_iterate_phdr's load/unload counters, so every pc in the table has its
 * module recorded, including libraries dlopen'ed since the last stack.
 */
#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "shim.h"

#define INDEX_BITS 20
#define INDEX_CAP (1u << INDEX_BITS)

static _Atomic uint64_t *stack_index;   /* hash << 32 | id; 0: empty */

static uint32_t hash_pcs(const uintptr_t *pcs, int n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 1099511628211ull;
        h ^= h >> 29;
    }
    uint32_t r = (uint32_t)(h ^ (h >> 32));
    return r ? r : 1;
}

static struct tg_log_stack *stack_rec(uint32_t id)
{
    uint64_t off = (uint64_t)(id - 1) * 8;
    if (off >= tg__g.cap[TG_SEC_STACKS])
        return NULL;
    return (struct tg_log_stack *)(tg__g.sec[TG_SEC_STACKS] + off);
}

static bool same_stack(uint32_t id, const uintptr_t *pcs, int n)
{
    struct tg_log_stack *s = stack_rec(id);
    if (!s || s->nframes != (uint32_t)n)
        return false;
    for (int i = 0; i < n; i++)
        if (s->pc[i] != pcs[i])
            return false;
    return true;
}

static bool index_ready(void)
{
    if (likely(stack_index != NULL))
        return true;
    void *m = mmap(NULL, INDEX_CAP * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    void *expect = NULL;
    if (!__atomic_compare_exchange_n((void **)&stack_index, &expect, m, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        munmap(m, INDEX_CAP * sizeof(uint64_t));
    return true;
}

static void park_sites_forget(void);

void tg__stacks_reset(void)
{
    park_sites_forget();
    if (stack_index)
        madvise((void *)stack_index, INDEX_CAP * sizeof(uint64_t), MADV_DONTNEED);
}

uint32_t tg__stack_intern(const uintptr_t *pcs, int n)
{
    if (n <= 0 || !tg__g.hdr || !index_ready())
        return 0;
    if (n > TG_LOG_MAX_FRAMES)
        n = TG_LOG_MAX_FRAMES;
    uint32_t h = hash_pcs(pcs, n);
    uint32_t slot = (h * 2654435761u) >> (32 - INDEX_BITS);
    uint32_t mine = 0;
    for (uint32_t probe = 0; probe < 256; probe++) {
        _Atomic uint64_t *e = &stack_index[(slot + probe) & (INDEX_CAP - 1)];
        uint64_t v = atomic_load_explicit(e, ACQUIRE);
        while (v == 0) {
            if (!mine) {
                /* Write the record before publishing it. */
                size_t bytes = sizeof(struct tg_log_stack) + (size_t)n * 8;
                struct tg_log_section *s = &tg__g.hdr->sec[TG_SEC_STACKS];
                uint64_t off = atomic_fetch_add_explicit(&s->used, bytes, RELAXED);
                if (off + bytes > tg__g.cap[TG_SEC_STACKS]) {
                    atomic_fetch_add_explicit(&s->dropped, 1, RELAXED);
                    return 0;
                }
                tg__modules_scan();
                struct tg_log_stack *r =
                    (struct tg_log_stack *)(tg__g.sec[TG_SEC_STACKS] + off);
                r->nframes = (uint32_t)n;
                r->hash = h;
                for (int i = 0; i < n; i++)
                    r->pc[i] = pcs[i];
                atomic_store_explicit(&r->commit, TG_LOG_COMMITTED, RELEASE);
                mine = (uint32_t)(off / 8) + 1;
            }
            if (atomic_compare_exchange_weak_explicit(
                    e, &v, ((uint64_t)h << 32) | mine, memory_order_acq_rel, ACQUIRE))
                return mine;
        }
        if ((uint32_t)(v >> 32) == h && same_stack((uint32_t)v, pcs, n))
            return (uint32_t)v;
    }
    /* Index crowded: the record (if written) is still valid, unshared. */
    return mine;
}

/* Where a program's stack ends: the shim's thread start routine and main
 * wrapper (TG_STACK_BOTTOM), below which lie only glibc's thread and
 * process start frames. Stacks stop there, as TSan's do: those frames say
 * nothing about the program, and unwinding them made the unwinder read
 * libc's unwind tables (60 to 130 KB more of libc resident in a small
 * traced program). */
static inline bool at_bottom(uintptr_t ip)
{
    return ip >= (uintptr_t)__start_tangle_bottom && ip < (uintptr_t)__stop_tangle_bottom;
}

/* The stack's frames above the bottom. */
static int cut_bottom(const uintptr_t *pcs, int n)
{
    for (int i = 0; i < n; i++)
        if (at_bottom(pcs[i]))
            return i;
    return n;
}

/* Drops the shim's own frames (its wrappers on top, its start routine and
 * main wrapper further down): a stack shows only the program. */
static int strip_self(uintptr_t *pcs, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (pcs[i] < tg__g.self_lo || pcs[i] >= tg__g.self_hi)
            pcs[k++] = pcs[i];
    return k;
}

/* Two unwinders, chosen per thread. libunwind's unw_backtrace is fast
 * (~0.15 us for 14 frames) but gives every thread that calls it a trace
 * cache of ~260 KiB; glibc's backtrace (libgcc's unwinder, global caches
 * only) is ~10x slower but costs a thread nothing. Most threads need a
 * handful of stacks (created, parked once, exited), so they use backtrace;
 * only a thread that keeps taking stacks (a hot contended lock, many new
 * lock-order edges) moves to libunwind and pays for its cache. With 10,000
 * parked threads this is 8 KiB rather than 270 KiB a thread. */
#define CHEAP_STACKS 16
static __thread unsigned stacks_taken;

/* libgcc's unwinder, which backtrace() uses, called directly so that it
 * stops at the stack's bottom (the Itanium ABI's _Unwind_Backtrace and
 * _Unwind_GetIP; 0 and 5 are _URC_NO_REASON and _URC_END_OF_STACK). */
typedef int (*unwind_trace_fn)(void *ctx, void *arg);
static int (*gcc_backtrace)(unwind_trace_fn, void *);
static uintptr_t (*gcc_get_ip)(void *ctx);

struct trace {
    void **buf;
    int n, max;
};

static int trace_step(void *ctx, void *arg)
{
    struct trace *t = arg;
    uintptr_t ip = gcc_get_ip(ctx);
    if (!ip || at_bottom(ip))
        return 5;
    t->buf[t->n++] = (void *)ip;
    return t->n < t->max ? 0 : 5;
}

static int unwind(void **buf, int max)
{
    if (stacks_taken < CHEAP_STACKS) {
        stacks_taken++;
        if (gcc_backtrace && gcc_get_ip) {
            struct trace t = { buf, 0, max };
            gcc_backtrace(trace_step, &t);
            return t.n;
        }
        return backtrace(buf, max);
    }
    return unw_backtrace(buf, max);
}

/* libgcc's unwinder is loaded at load time, not inside some lock wrapper
 * of the program's. Under the guard: the loader's locks are the shim's
 * business, and seen as the program's they would park and start the
 * watchdog, and with it a second thread that costs a single-threaded
 * program glibc's cheap locks. It is opened directly: glibc's backtrace()
 * would load it too, but its first call unwinds from inside libc, which
 * faults in libc's unwind tables and backtrace's page of code (some
 * 140 KB resident) for nothing. backtrace() stays the fallback, warmed
 * here, where libgcc_s cannot be opened by name. */
__attribute__((constructor)) static void warm_backtrace(void)
{
    tg__self.guard++;
    void *gcc = dlopen("libgcc_s.so.1", RTLD_LAZY);
    if (!gcc) {
        void *buf[4];
        backtrace(buf, 4);
        gcc = dlopen("libgcc_s.so.1", RTLD_LAZY | RTLD_NOLOAD);
    }
    if (gcc) {
        gcc_backtrace = (int (*)(unwind_trace_fn, void *))dlsym(gcc, "_Unwind_Backtrace");
        gcc_get_ip = (uintptr_t(*)(void *))dlsym(gcc, "_Unwind_GetIP");
    }
    tg__self.guard--;
}

uint32_t tg__stack_here(void)
{
    if (!tg__g.hdr)
        return 0;
    void *buf[TG_LOG_MAX_FRAMES + 16];
    struct tg__thread *t = &tg__self;
    t->guard++;
    int n = unwind(buf, (int)tg__g.opt.stack_depth + 16);
    t->guard--;
    if (n <= 0)
        return 0;
    uintptr_t *pcs = (uintptr_t *)buf;
    n = strip_self(pcs, cut_bottom(pcs, n));
    if (n > (int)tg__g.opt.stack_depth)
        n = (int)tg__g.opt.stack_depth;
    t->guard++;
    uint32_t id = tg__stack_intern(pcs, n);
    t->guard--;
    return id;
}

/* ---- park stacks ------------------------------------------------------ */

/* A thread that parks again and again (a channel ping-pong, a worker on
 * its queue, a contended lock) parks from a few call sites, and unwinding
 * at each park would cost more than the park itself (the same holds for a
 * loop creating threads). A full unwind also yields where each frame's
 * return address sits on the stack; while the thread is at the same depth
 * (this function's frame at the same address) those slots still hold the
 * same return addresses exactly when the call chain is the same, so
 * re-reading them validates the earlier stack frame by frame, for a few
 * loads, and the answer is the id a full unwind would have found. A site
 * is unwound cheaply the first time and with slot positions the second,
 * so a thread that parks once pays as before. The slots lie between this
 * frame and the stack's top, on the same thread's stack, so they are
 * mapped whenever the depth matches. A stack reaching more than 64 KiB
 * above this frame (huge locals) is simply unwound every time. */
#define PARK_SITES 8
struct park_site {
    uintptr_t ref;              /* this function's frame at capture; 0 free */
    uint32_t id;                /* stack id; 0: depth seen once, no slots */
    uint32_t n;                 /* frames validated (the stack's length) */
    uint16_t off[TG_LOG_MAX_FRAMES];   /* return-address slot - ref */
};
static __thread struct park_site park_sites[PARK_SITES];
static __thread unsigned park_next;

/* After fork: the ids name stacks of the parent's log. */
static void park_sites_forget(void)
{
    memset(park_sites, 0, sizeof park_sites);
}

static bool park_site_holds(const struct park_site *p, uintptr_t ref)
{
    struct tg_log_stack *s = stack_rec(p->id);
    if (!s || s->nframes != p->n)
        return false;
    for (uint32_t i = 0; i < p->n; i++)
        if (*(const uintptr_t *)(ref + p->off[i]) != s->pc[i])
            return false;
    return true;
}

/* Unwinds with frame positions; fills p with the slots when every kept
 * frame's return address is where the x86-64 call convention puts it (just
 * below the caller's stack pointer): elsewhere p stays unusable and the
 * stack is still right. */
static uint32_t park_capture(struct park_site *p, uintptr_t ref)
{
    uintptr_t pcs[TG_LOG_MAX_FRAMES], sps[TG_LOG_MAX_FRAMES];
    int max = (int)tg__g.opt.stack_depth;
    int n = 0;
    unw_context_t uc;
    unw_cursor_t c;
    if (unw_getcontext(&uc) == 0 && unw_init_local(&c, &uc) == 0) {
        do {
            unw_word_t ip = 0, sp = 0;
            unw_get_reg(&c, UNW_REG_IP, &ip);
            unw_get_reg(&c, UNW_REG_SP, &sp);
            if (at_bottom(ip))
                break;
            if (ip >= tg__g.self_lo && ip < tg__g.self_hi)
                continue;
            pcs[n] = ip;
            sps[n] = sp;
            n++;
        } while (n < max && unw_step(&c) > 0);
    }
    if (n <= 0)
        return 0;
    uint32_t id = tg__stack_intern(pcs, n);
    p->ref = 0;
    if (!id)
        return 0;
    for (int i = 0; i < n; i++) {
        uintptr_t slot = sps[i] - sizeof(uintptr_t);
        if (slot < ref + sizeof(uintptr_t) || slot - ref > UINT16_MAX ||
            *(const uintptr_t *)slot != pcs[i])
            return id;
        p->off[i] = (uint16_t)(slot - ref);
    }
    p->n = (uint32_t)n;
    p->id = id;
    p->ref = ref;
    return id;
}

uint32_t tg__stack_site(void)
{
    if (!tg__g.hdr)
        return 0;
    uintptr_t ref = (uintptr_t)__builtin_frame_address(0);
    bool seen = false;
    for (int i = 0; i < PARK_SITES; i++) {
        struct park_site *p = &park_sites[i];
        if (p->ref != ref)
            continue;
        if (p->id && park_site_holds(p, ref))
            return p->id;
        seen = true;
    }
    struct tg__thread *t = &tg__self;
    struct park_site *p = &park_sites[park_next++ % PARK_SITES];
    if (!seen) {
        /* First park at this depth: the cheap unwinder, and a note. */
        p->ref = ref;
        p->id = 0;
        return tg__stack_here();
    }
    t->guard++;
    uint32_t id = park_capture(p, ref);
    t->guard--;
    return id;
}

uint32_t tg__stack_here_sp(uintptr_t *pcs, uintptr_t *sps, int *nout, int max)
{
    *nout = 0;
    if (!tg__g.hdr)
        return 0;
    struct tg__thread *t = &tg__self;
    t->guard++;
    unw_context_t uc;
    unw_cursor_t c;
    int n = 0;
    if (unw_getcontext(&uc) == 0 && unw_init_local(&c, &uc) == 0) {
        do {
            unw_word_t ip = 0, sp = 0;
            unw_get_reg(&c, UNW_REG_IP, &ip);
            unw_get_reg(&c, UNW_REG_SP, &sp);
            if (at_bottom(ip))
                break;
            if (ip >= tg__g.self_lo && ip < tg__g.self_hi)
                continue;
            pcs[n] = ip;
            sps[n] = sp;
            n++;
        } while (n < max && unw_step(&c) > 0);
    }
    uint32_t id = tg__stack_intern(pcs, n);
    t->guard--;
    *nout = n;
    return id;
}

/* ---- modules ---------------------------------------------------------- */

static _Atomic int scanning;
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;
#define MAX_KNOWN 1024
static struct { uintptr_t bias; uintptr_t start; } known[MAX_KNOWN];
static int nknown;

struct scan_ctx {
    bool first;
    bool changed;
};

static void read_build_id(struct dl_phdr_info *info, struct tg_log_module *m)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            size_t name_sz = (nh->n_namesz + 3) & ~3u;
            size_t desc_sz = (nh->n_descsz + 3) & ~3u;
            const char *name = p + sizeof *nh;
            const char *desc = name + name_sz;
            if (desc + desc_sz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                !memcmp(name, "GNU", 4)) {
                size_t len = nh->n_descsz;
                if (len > sizeof m->build_id)
                    len = sizeof m->build_id;
                memcpy(m->build_id, desc, len);
                m->build_id_len = (uint32_t)len;
                return;
            }
            p = desc + desc_sz;
        }
    }
}

static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct scan_ctx *cx = arg;
    if (cx->first) {
        cx->first = false;
        if (info->dlpi_adds == seen_adds && info->dlpi_subs == seen_subs)
            return 1;
        seen_adds = info->dlpi_adds;
        seen_subs = info->dlpi_subs;
        cx->changed = true;
    }
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (hi == 0)
        return 0;
    for (int i = 0; i < nknown; i++)
        if (known[i].bias == info->dlpi_addr && known[i].start == lo)
            return 0;
    uint32_t id;
    struct tg_log_module *m = tg__rec_alloc(TG_SEC_MODULES, &id);
    if (!m)
        return 0;
    if (nknown < MAX_KNOWN) {
        known[nknown].bias = info->dlpi_addr;
        known[nknown].start = lo;
        nknown++;
    }
    m->bias = info->dlpi_addr;
    m->start = lo;
    m->end = hi;
    const char *path = info->dlpi_name;
    if ((!path || !*path) && tg__g.hdr)
        path = tg__g.hdr->exe;   /* the main program */
    if (path) {
        /* Truncated if longer: the build-id still identifies the file. */
        size_t len = strnlen(path, sizeof m->path - 1);
        memcpy(m->path, path, len);
        m->path[len] = 0;
    }
    read_build_id(info, m);
    m->loaded_ns = tg__now();
    atomic_store_explicit(&m->commit, TG_LOG_COMMITTED, RELEASE);
    return 0;
}

void tg__modules_scan(void)
{
    if (!tg__g.hdr)
        return;
    /* One scanner at a time; a thread that finds another scanning goes on:
     * that scan records the same modules. */
    int expect = 0;
    if (!atomic_compare_exchange_strong(&scanning, &expect, 1))
        return;
    struct tg__thread *t = &tg__self;
    t->guard++;
    struct scan_ctx cx = { .first = true };
    dl_iterate_phdr(scan_cb, &cx);
    t->guard--;
    atomic_store_explicit(&scanning, 0, RELEASE);
}

/* After fork the child has a new, empty log: forget what was recorded. */
void tg__modules_forget(void)
{
    nknown = 0;
    seen_adds = seen_subs = ~0ull;
}
