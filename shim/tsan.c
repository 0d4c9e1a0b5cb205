/*
 * shim/tsan.c: the race checker's half in the process. Code compiled with
 * -fsanitize=thread (by gcc or clang; `tangle cc` does it) calls the
 * __tsan_* entry points below instead of libtsan's. They do not check
 * anything here: in race mode each access is appended to the thread's
 * event stream (read or write, size, address, the access pc, and the id of
 * the thread's shadow call stack) and the analyzer finds the races offline
 * with vector clocks. Keeping the shim thin is what keeps it cheap: an
 * access costs a few loads, a filter probe and, when new, one event.
 *
 * Three things bound the volume. A per-thread filter drops an access that
 * repeats one already logged by the thread in the same synchronization
 * epoch (the epoch ends whenever any other event - a lock, an unlock, a
 * channel operation - enters the thread's stream, so the filter never has
 * to be cleared). The shadow stack is hash-chained on function entry, and
 * a small cache maps the chain's hash to a stack id, so the stack table is
 * touched only for a call path not seen recently. With race_sample=1,
 * LiteRace's idea: a function (keyed by its own code address) is logged on
 * every call while cold, then on one call in a period that doubles up to
 * 1/1024 as it gets hot.
 *
 * Atomics still do their operation, at the order asked for (an order not
 * valid for the operation is strengthened). Release-type atomics bump a
 * counter of the address's stripe and log a release with that count; an
 * acquire-type atomic logs the stripe's count after its operation, so the
 * analyzer can pair the acquire with the releases it may have read from.
 * Outside race mode the atomics and the stack bookkeeping still run, and
 * everything else returns at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "race.h"

#define SAMPLE_COLD 64         /* calls logged in full before sampling */
#define SAMPLE_MAX_PERIOD 1024
#define STRIPES     65536      /* race=log: atomic release counters */
#define MAX_DEPTH   RC_MAX_DEPTH

/* The size field of a release/acquire made by an atomic: the analyzer
 * pairs these by count, like lock acquisitions. */
#define SYNC_ATOMIC 64

/* The thread's state is allocated (mmap) on its first instrumented call
 * in race mode: static TLS would cost every thread of every traced
 * program ~20 KiB of its stack, race mode or not. */
__thread struct race_thread *tg__rs;
__thread uint32_t tg__rs_off;
static __thread bool rs_dead;          /* its state was freed at exit */
static pthread_key_t rs_key;
static pthread_once_t rs_key_once = PTHREAD_ONCE_INIT;
static _Atomic uint32_t stripes[STRIPES];
static int sampling = -1;      /* -1: not read yet */

/* ---- options --------------------------------------------------------- */

/* race_sample=0|1 in TANGLE_OPTIONS. The main option parser knows the
 * other keys; this one is read here, once, with the same strictness. */
static int read_sampling(void)
{
    int v = 0;
    const char *o = getenv("TANGLE_OPTIONS");
    const char *k = o ? strstr(o, "race_sample=") : NULL;
    if (k && (k == o || k[-1] == ',')) {
        const char *val = k + strlen("race_sample=");
        size_t len = strcspn(val, ",");
        if (len == 1 && (val[0] == '0' || val[0] == '1'))
            v = val[0] == '1';
        else
            tg__warn("TANGLE_OPTIONS: bad value '%.*s' for 'race_sample', "
                     "using the default", (int)len, val);
    }
    __atomic_store_n(&sampling, v, __ATOMIC_RELAXED);
    return v;
}

static inline bool sample_mode(void)
{
    int s = __atomic_load_n(&sampling, __ATOMIC_RELAXED);
    return likely(s == 0) ? false : s > 0 ? true : read_sampling();
}

static void put_stack_event(uintptr_t lo, size_t size);

void tg__rs_gate(struct race_thread *r)
{
    bool sample = sample_mode();
    tg__rs_off = (r->ignore ? RS_OFF_IGNORE : 0) | (!r->vc ? RS_OFF_NOVC : 0) |
                 (sample ? RS_OFF_SAMPLE | tg__rs_skip_bit(r) : 0) |
                 (!tg__rc_on ? RS_OFF_NOCHECK : 0);
}

/* A hexadecimal number at *p, which moves past it. */
static uintptr_t hex_at(const char **p, const char *end)
{
    uintptr_t v = 0;
    for (; *p < end; (*p)++) {
        char c = **p;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16u;
        if (d == 16)
            break;
        v = v << 4 | d;
    }
    return v;
}

/* The process's first thread's stack, as glibc's pthread_getattr_np gives
 * it: from the end of the mapping that holds sp, down by the stack's
 * size limit but not into the mapping below. glibc reads the maps with
 * stdio and scanf, which would fault some 200 KB of its code in for this
 * one call; this reads them with read(). False if sp is in no mapping. */
static bool first_stack(uintptr_t sp, uintptr_t *lo, uintptr_t *hi)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[8192];
    size_t have = 0;
    uintptr_t below = 0;
    bool found = false, skipping = false;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        const char *line = buf, *end = buf + have, *nl;
        while (!found && (nl = memchr(line, '\n', (size_t)(end - line))) != NULL) {
            if (!skipping) {
                const char *p = line;
                uintptr_t a = hex_at(&p, nl);
                uintptr_t b = p < nl && *p == '-' ? (p++, hex_at(&p, nl)) : 0;
                if (sp >= a && sp < b) {
                    *lo = below;
                    *hi = b;
                    found = true;
                }
                below = b;
            }
            skipping = false;
            line = nl + 1;
        }
        if (found)
            break;
        if (line == buf && have == sizeof buf) {
            /* a line longer than the buffer (a long path): its start
             * was read, the rest is skipped */
            skipping = true;
            have = 0;
            continue;
        }
        have = (size_t)(end - line);
        memmove(buf, line, have);
    }
    close(fd);
    if (!found)
        return false;
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < *hi - *lo)
        *lo = *hi - rl.rlim_cur;
    return true;
}

/* The thread's stack bounds, so a race on a local variable can name the
 * thread whose stack it is (race=log: logged for the analyzer). */
static void stack_bounds(struct tg__thread *t, struct race_thread *r)
{
    pthread_attr_t a;
    void *lo = NULL;
    size_t size = 0;
    uintptr_t flo, fhi;
    t->guard++;
    if (syscall(SYS_gettid) == tg__g.pid &&
        first_stack((uintptr_t)__builtin_frame_address(0), &flo, &fhi)) {
        lo = (void *)flo;
        size = fhi - flo;
    } else if (pthread_getattr_np(pthread_self(), &a) == 0) {
        pthread_attr_getstack(&a, &lo, &size);
        pthread_attr_destroy(&a);
    }
    t->guard--;
    if (!lo || !size)
        return;
    r->stack_lo = (uintptr_t)lo;
    r->stack_hi = (uintptr_t)lo + size;
    if (tg__g.opt.race_log)
        put_stack_event((uintptr_t)lo, size);
}

/* The thread's end (its key's destructor, after the shim's own exit
 * bookkeeping): the final release to a joiner if that did not run, then
 * the checker forgets the thread's stack. */
static void rs_free(void *p)
{
    struct race_thread *r = p;
    tg__rs = NULL;
    rs_dead = true;
    if (r->vc) {
        /* The thread's very last step: a joiner learns everything it did,
         * so its slot may go to a thread the joiner starts. */
        bool released = tg__rc_on && r->tid && tg__rc_joinable_self();
        if (released)
            tg__rc_release(r, RK_EXIT, r->log_id);
        tg__rc_thread_end(r, released);
    }
    munmap(p, sizeof(struct race_thread));
}

static void rs_key_make(void)
{
    if (pthread_key_create(&rs_key, rs_free) != 0)
        rs_key = (pthread_key_t)-1;
}

/* The calling thread's race state, or NULL outside race mode (or after
 * the thread's state was freed). */
struct race_thread *tg__rs_slow(void)
{
    if (rs_dead || !tg__on())
        return NULL;
    if (!tg__g.opt.race) {
        /* No checker in this run (race=0), nor will there be: the gate
         * says so, as libtangle's own copy does, so that code built by
         * `tangle cc` stops calling the entry points for each access
         * (race_abi.h). Each thread pays one call here. */
        tg__rs_off = RS_OFF_NONE;
        return NULL;
    }
    struct tg__thread *t = tg__me();
    if (!t || t->guard)
        return NULL;
    void *m = mmap(NULL, sizeof(struct race_thread), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        rs_dead = true;
        return NULL;
    }
    struct race_thread *r = m;
    stack_bounds(t, r);
    if (tg__rc_on && !tg__rc_thread_init(r, t)) {
        munmap(m, sizeof(struct race_thread));
        rs_dead = true;
        return NULL;
    }
    tg__rs_gate(r);
    tg__rs = r;
    t->guard++;
    pthread_once(&rs_key_once, rs_key_make);
    if (rs_key != (pthread_key_t)-1)
        pthread_setspecific(rs_key, m);
    t->guard--;
    return r;
}

static inline struct race_thread *rs_get(void)
{
    return tg__rs_get();
}

/* ---- the thread and its stream --------------------------------------- */

/* The calling thread when race mode records it, else NULL. */
static inline struct tg__thread *racer(void)
{
    if (likely(!tg__g.opt.race) || !tg__on())
        return NULL;
    struct tg__thread *t = tg__me();
    if (!t || t->guard)
        return NULL;
    return t;
}

/* tg__ev_append with flags. */
static inline void put(struct tg__thread *t, uint8_t type, uint8_t size,
                       uint16_t flags, uint32_t stack, uint64_t addr,
                       uint64_t arg)
{
    if (unlikely(t->ev_used >= t->ev_cap ||
                 atomic_load_explicit(&t->chunk->generation, RELAXED)
                     != t->chunk_gen)) {
        if (!tg__ev_chunk(t))
            return;
    }
    struct tg_log_event *e = &t->ev[t->ev_used];
    e->type = type;
    e->size = size;
    e->flags = flags;
    e->stack = stack;
    e->addr = addr;
    e->arg = arg;
    t->ev_used++;
    atomic_store_explicit(&t->chunk->used, t->ev_used, RELEASE);
}

static void put_stack_event(uintptr_t lo, size_t size)
{
    struct tg__thread *t = tg__me();
    if (t)
        put(t, TG_EV_THREAD_STACK, 0, 0, 0, lo, size);
}

/* A new epoch begins when anything but our own accesses entered the
 * stream since our last one: every sync event does. */
static inline void sync_epoch(struct race_thread *r, struct tg__thread *t)
{
    if (unlikely(t->ev_used != r->last_used || t->chunk != r->last_chunk))
        r->lepoch++;
}

static inline void note_pos(struct race_thread *r, struct tg__thread *t)
{
    r->last_used = t->ev_used;
    r->last_chunk = t->chunk;
}

/* ---- the shadow stack -------------------------------------------------- */

/* Interns the shadow stack (innermost first), with `pc` in front when
 * non-zero. */
static uint32_t intern(struct race_thread *r, struct tg__thread *t, uintptr_t pc)
{
    uintptr_t pcs[TG_LOG_MAX_FRAMES];
    int n = 0;
    if (pc)
        pcs[n++] = pc;
    uint32_t d = r->depth < MAX_DEPTH ? r->depth : MAX_DEPTH;
    while (d > 0 && n < TG_LOG_MAX_FRAMES)
        pcs[n++] = r->frames[--d];
    if (n == 0)
        return 0;
    t->guard++;
    uint32_t id = tg__stack_intern(pcs, n);
    t->guard--;
    return id;
}

uint32_t tg__rs_intern(struct race_thread *r, struct tg__thread *t, uintptr_t pc)
{
    return intern(r, t, pc);
}

/* The id of the callers' stack: the access pc goes in the event. */
static inline uint32_t cur_stack(struct race_thread *r, struct tg__thread *t)
{
    uint32_t d = r->depth < MAX_DEPTH ? r->depth : MAX_DEPTH;
    if (d == 0)
        return 0;
    uint64_t key = r->hash[d - 1];
    if (likely(key == r->last_key && r->last_id))
        return r->last_id;
    uint32_t slot = (uint32_t)(key >> 40) & (SCACHE_SIZE - 1);
    uint32_t id;
    if (r->skey[slot] == key && r->sid[slot]) {
        id = r->sid[slot];
    } else {
        id = intern(r, t, 0);
        r->skey[slot] = key;
        r->sid[slot] = id;
    }
    r->last_key = key;
    r->last_id = id;
    return id;
}

/* LiteRace: is this call of fn (or this execution of an access site) logged?
 * The first SAMPLE_COLD are; then one in a period that doubles each time,
 * up to SAMPLE_MAX_PERIOD. */
static bool sample_hit(struct sample_ent *tab, uintptr_t fn)
{
    struct sample_ent *e = &tab[tg__rc_sample_slot(fn)];
    if (e->fn != fn)
        *e = (struct sample_ent){ .fn = fn, .period = 1 };
    if (e->calls < SAMPLE_COLD) {
        e->calls++;
        return true;
    }
    if (e->skip) {
        e->skip--;
        return false;
    }
    if (e->period < SAMPLE_MAX_PERIOD)
        e->period *= 2;
    e->skip = e->period - 1;
    return true;
}

void __tsan_func_entry(void *pc)
{
    uint32_t off = tg__rs_off;
    if (off & RS_OFF_NONE)
        return;                /* no checker in this run (tg__rs_slow) */
    struct race_thread *r = rs_get();
    if (!r)
        return;
    uint32_t d = r->depth++;
    off = tg__rs_off;
    if (unlikely(d >= MAX_DEPTH)) {
        if (off & RS_OFF_SKIP)
            tg__rs_off = off & ~RS_OFF_SKIP;
        return;
    }
    tg__rc_func_push(r, d, (uintptr_t)pc, (uintptr_t)__builtin_dwarf_cfa());
    if (unlikely(off & RS_OFF_SAMPLE)) {
        bool hit = sample_hit(r->samples, (uintptr_t)__builtin_return_address(0));
        r->sampled[d] = hit;
        tg__rs_off = (off & ~RS_OFF_SKIP) | (hit ? 0 : RS_OFF_SKIP);
    }
}

/* The name that the inline code of programs built by `tangle cc` with
 * clang calls (race_abi.h): it keeps __tsan_func_entry for itself. */
void tg__func_entry(void *pc) __asm__(TG_FUNC_ENTRY_SYM)
    __attribute__((alias("__tsan_func_entry")));

void __tsan_func_exit(void)
{
    tg__rc_func_exit(tg__rs);
}

/* ---- longjmp ------------------------------------------------------------ */

/* A longjmp leaves instrumented frames without their func_exit calls, and
 * the shadow stack would name them in every report until the thread
 * returned past the setjmp. The wrappers below drop the frames that the
 * jump leaves: those whose stack pointer at entry lies below the one the
 * jump buffer restores. glibc keeps that pointer in the buffer mangled
 * (x86-64: xor with the thread's pointer guard, then rotated left by 17);
 * a value that does not land in the thread's stack above the current
 * frame (a jump to another stack, a layout not understood) drops nothing,
 * as before. */
#if defined(__x86_64__) && defined(__GLIBC__)
static uintptr_t jmp_target_sp(const void *env)
{
    uintptr_t v, guard;
    memcpy(&v, (const char *)env + 6 * sizeof(long), sizeof v);  /* JB_RSP */
    __asm__("mov %%fs:0x30, %0" : "=r"(guard));                  /* pointer_guard */
    v = (v >> 17) | (v << 47);
    return v ^ guard;
}
#else
static uintptr_t jmp_target_sp(const void *env)
{
    (void)env;
    return 0;
}
#endif

static void shadow_unwind(const void *env)
{
    struct race_thread *r = tg__rs;
    if (!r || !r->depth)
        return;
    uintptr_t sp = jmp_target_sp(env);
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (sp <= here || (r->stack_hi && (sp < r->stack_lo || sp > r->stack_hi)))
        return;
    /* Frames past MAX_DEPTH were not recorded: they go with the deepest
     * recorded one. */
    while (r->depth) {
        uint32_t i = (r->depth < MAX_DEPTH ? r->depth : MAX_DEPTH) - 1;
        if (r->cfa[i] >= sp)
            break;
        r->depth--;
    }
    tg__rc_ctx_update(r);
    uint32_t off = tg__rs_off;
    if (off & RS_OFF_SAMPLE)
        tg__rs_off = (off & ~RS_OFF_SKIP) | tg__rs_skip_bit(r);
}

REAL_FN(void, longjmp, (struct __jmp_buf_tag *, int));
REAL_FN(void, _longjmp, (struct __jmp_buf_tag *, int));
REAL_FN(void, siglongjmp, (struct __jmp_buf_tag *, int));
REAL_FN(void, __longjmp_chk, (struct __jmp_buf_tag *, int));
void __longjmp_chk(struct __jmp_buf_tag *env, int val) __attribute__((noreturn));

void longjmp(struct __jmp_buf_tag env[1], int val)
{
    shadow_unwind(env);
    REAL(longjmp)(env, val);
    __builtin_unreachable();
}

void _longjmp(struct __jmp_buf_tag env[1], int val)
{
    shadow_unwind(env);
    REAL(_longjmp)(env, val);
    __builtin_unreachable();
}

void siglongjmp(struct __jmp_buf_tag env[1], int val)
{
    shadow_unwind(env);
    REAL(siglongjmp)(env, val);
    __builtin_unreachable();
}

/* What longjmp becomes under _FORTIFY_SOURCE. */
void __longjmp_chk(struct __jmp_buf_tag *env, int val)
{
    shadow_unwind(env);
    REAL(__longjmp_chk)(env, val);
    __builtin_unreachable();
}

/* ---- accesses ----------------------------------------------------------- */

/* Sampled mode, in a call that is sampled: is the access at pc skipped
 * by its site's own rate? */
static inline bool site_sampled_out(struct race_thread *r, uintptr_t pc)
{
    return tg__rc_sample_skip(r, pc) || !sample_hit(r->sites_s, pc);
}

static inline bool sampled_out(struct race_thread *r, uintptr_t pc)
{
    if (likely(__atomic_load_n(&sampling, __ATOMIC_RELAXED) <= 0))
        return false;
    if (r->depth && r->depth <= MAX_DEPTH && !r->sampled[r->depth - 1])
        return true;
    return site_sampled_out(r, pc);
}

static void log_access(uintptr_t addr, uint32_t size, bool write,
                       uintptr_t pc, uint16_t flags);

/* The full check of one word, out of line. */
static __attribute__((noinline)) void
tg__rc_check_word_out(struct race_thread *r, uintptr_t addr, unsigned size,
                      bool write, bool atomic, uintptr_t pc)
{
    tg__rc_check_word(r, addr, size, write, atomic, pc);
}

/* One access of the program the long way, for a thread whose gate is not
 * open: no thread state yet, ignored, not checked, sampled mode outside
 * the inline paths, or race=log. (With the gate open, what the inline
 * check cannot settle goes to checked_slow.) */
static __attribute__((noinline)) void mem_access_slow(uintptr_t addr, uint32_t size, bool write,
                                                      uintptr_t pc, uint16_t flags)
{
    if (likely(tg__rc_on)) {
        struct race_thread *r = tg__rs;
        if (unlikely(!r) && !(r = tg__rs_slow()))
            return;
        if (unlikely(r->ignore || !r->vc) || sampled_out(r, pc))
            return;
        bool atomic = flags & TG_EVF_ATOMIC;
        if (likely((addr & 7) + size <= 8)) {
            if (likely(tg__rc_check_fast(r, addr, size, write, atomic, pc)))
                return;
            tg__rc_check_word_out(r, addr, size, write, atomic, pc);
        } else {
            tg__rc_check_range(r, addr, size, write, atomic, pc);
        }
        return;
    }
    if (unlikely(tg__g.opt.race_log))
        log_access(addr, size, write, pc, flags);
}

/* An access that the inline check could not settle, of a thread whose
 * gate is open (checked, not ignored, not sampled out: nothing of
 * mem_access_slow's to ask again). A read of a word that all threads
 * read is the usual case, settled by its extension record. */
static __attribute__((noinline)) void checked_slow(struct race_thread *r, uintptr_t addr,
                                                   uint32_t size, bool write, bool atomic,
                                                   uintptr_t pc)
{
    if (likely((addr & 7) + size <= 8)) {
        if (!write && tg__rc_read_shared(r, addr, size, atomic, pc))
            return;
        tg__rc_check_word(r, addr, size, write, atomic, pc);
    } else {
        tg__rc_check_range(r, addr, size, write, atomic, pc);
    }
}

/* One access of the program, inlined into each entry point so its size
 * and direction are constants. The in-process checker's common cases
 * (tg__rc_check_fast) stay inline here; everything else is one tail call,
 * so that the entry point saves only the few registers the inline check
 * needs. */
static inline __attribute__((always_inline)) void mem_access(uintptr_t addr, uint32_t size, bool write,
                              uintptr_t pc, uint16_t flags)
{
    struct race_thread *r = tg__rs;
    if (likely(r != NULL)) {
        uint32_t off = tg__rs_off;
        if (off & RS_OFF_SKIP)
            return;            /* sampled mode, a call not sampled */
        if (off == RS_OFF_SAMPLE) {
            /* Sampled mode, a sampled call (the gate says both): the
             * site's skip is decided inline too, under the key that a
             * gcc build's inline skip left (race_abi.h) or the pc. */
            uintptr_t key = r->site_key;
            if (key)
                r->site_key = 0;
            if (site_sampled_out(r, key ? key : pc))
                return;
            off = 0;
        }
        if (likely(off == 0)) {
            bool atomic = flags & TG_EVF_ATOMIC;
            if (likely(tg__rc_access_fast(r, addr, size, write, atomic, pc)))
                return;
            checked_slow(r, addr, size, write, atomic, pc);
            return;
        }
    }
    mem_access_slow(addr, size, write, pc, flags);
}

/* race=log: the access goes into the thread's event stream. */
static void log_access(uintptr_t addr, uint32_t size, bool write,
                       uintptr_t pc, uint16_t flags)
{
    struct tg__thread *t = racer();
    if (!t)
        return;
    struct race_thread *r = rs_get();
    if (!r || unlikely(r->ignore))
        return;
    if (sampled_out(r, pc))
        return;
    sync_epoch(r, t);
    struct filter_ent *f =
        &r->filter[((addr >> 3) ^ (addr >> 12) ^ (addr & 7) * 0x51) & (FILTER_SIZE - 1)];
    if (f->addr == addr && f->epoch == r->lepoch && f->size == size &&
        (f->wrote || !write))
        return;
    if (f->addr == addr && f->epoch == r->lepoch && f->size == size)
        f->wrote = 1;
    else
        *f = (struct filter_ent){ addr, r->lepoch, (uint8_t)size, write };
    uint32_t stack = cur_stack(r, t);
    put(t, write ? TG_EV_WRITE : TG_EV_READ, (uint8_t)size, flags, stack,
        addr, pc);
    note_pos(r, t);
}

/* A range: size in arg, the pc folded into the stack. */
static void access_range(uintptr_t addr, size_t len, bool write, uintptr_t pc)
{
    if (len == 0)
        return;
    if (len <= 16) {
        /* Short ranges are ordinary accesses; the filter applies. */
        mem_access(addr, (uint32_t)len, write, pc, 0);
        return;
    }
    /* Sampled like any access at pc: a loop's sweep, checked before the
     * loop as one range (`tangle cc` with clang), is one site. */
    struct race_thread *r;
    if (tg__rc_on) {
        if ((r = rs_get()) && !r->ignore && r->vc && !sampled_out(r, pc))
            tg__rc_check_range(r, addr, len, write, false, pc);
        return;
    }
    struct tg__thread *t = tg__g.opt.race_log ? racer() : NULL;
    if (!t || !(r = rs_get()) || r->ignore || sampled_out(r, pc))
        return;
    sync_epoch(r, t);
    uint32_t stack = intern(r, t, pc);
    put(t, write ? TG_EV_WRITE : TG_EV_READ, 0, TG_EVF_RANGE, stack, addr, len);
    note_pos(r, t);
}

#define RET_PC ((uintptr_t)__builtin_return_address(0))

/* The access entry points are leaves on their common path: a frame
 * pointer would cost them a push, a move and a pop at every access for
 * nothing. Stacks are walked from the shim's shadow call stack or from the
 * interposed calls, never through these. */
#if defined(__clang__)
#define ENTRY
#else
#define ENTRY __attribute__((optimize("omit-frame-pointer")))
#endif

#define ACCESS_FNS(N)                                                         \
    ENTRY void __tsan_read##N(void *a) { mem_access((uintptr_t)a, N, false, RET_PC, 0); } \
    ENTRY void __tsan_write##N(void *a) { mem_access((uintptr_t)a, N, true, RET_PC, 0); } \
    ENTRY void __tsan_read##N##_pc(void *a, void *pc)                               \
    { mem_access((uintptr_t)a, N, false, (uintptr_t)pc, 0); }                     \
    ENTRY void __tsan_write##N##_pc(void *a, void *pc)                              \
    { mem_access((uintptr_t)a, N, true, (uintptr_t)pc, 0); }                      \
    ENTRY void __tsan_volatile_read##N(void *a)                                     \
    { mem_access((uintptr_t)a, N, false, RET_PC, 0); }                            \
    ENTRY void __tsan_volatile_write##N(void *a)                                    \
    { mem_access((uintptr_t)a, N, true, RET_PC, 0); }

#define UNALIGNED_FNS(N)                                                      \
    ENTRY void __tsan_unaligned_read##N(void *a)                                    \
    { mem_access((uintptr_t)a, N, false, RET_PC, 0); }                            \
    ENTRY void __tsan_unaligned_write##N(void *a)                                   \
    { mem_access((uintptr_t)a, N, true, RET_PC, 0); }                             \
    ENTRY void __tsan_unaligned_read##N##_pc(void *a, void *pc)                     \
    { mem_access((uintptr_t)a, N, false, (uintptr_t)pc, 0); }                     \
    ENTRY void __tsan_unaligned_write##N##_pc(void *a, void *pc)                    \
    { mem_access((uintptr_t)a, N, true, (uintptr_t)pc, 0); }

ACCESS_FNS(1)
ACCESS_FNS(2)
ACCESS_FNS(4)
ACCESS_FNS(8)
ACCESS_FNS(16)
UNALIGNED_FNS(2)
UNALIGNED_FNS(4)
UNALIGNED_FNS(8)
UNALIGNED_FNS(16)

ENTRY void __tsan_unaligned_read1(void *a) { mem_access((uintptr_t)a, 1, false, RET_PC, 0); }
ENTRY void __tsan_unaligned_write1(void *a) { mem_access((uintptr_t)a, 1, true, RET_PC, 0); }

void __tsan_read_range(void *a, size_t n)
{
    access_range((uintptr_t)a, n, false, RET_PC);
}
void __tsan_write_range(void *a, size_t n)
{
    access_range((uintptr_t)a, n, true, RET_PC);
}
void __tsan_read_range_pc(void *a, size_t n, void *pc)
{
    access_range((uintptr_t)a, n, false, (uintptr_t)pc);
}
void __tsan_write_range_pc(void *a, size_t n, void *pc)
{
    access_range((uintptr_t)a, n, true, (uintptr_t)pc);
}

/* C++: a vtable pointer store is a write only when it changes the value
 * (constructors of a base then derived class store twice). */
void __tsan_vptr_update(void **p, void *v)
{
    if (*p != v)
        mem_access((uintptr_t)p, sizeof *p, true, RET_PC, 0);
}
void __tsan_vptr_read(void **p)
{
    mem_access((uintptr_t)p, sizeof *p, false, RET_PC, 0);
}

void *__tsan_memcpy(void *d, const void *s, size_t n)
{
    access_range((uintptr_t)s, n, false, RET_PC);
    access_range((uintptr_t)d, n, true, RET_PC);
    return memcpy(d, s, n);
}
void *__tsan_memmove(void *d, const void *s, size_t n)
{
    access_range((uintptr_t)s, n, false, RET_PC);
    access_range((uintptr_t)d, n, true, RET_PC);
    return memmove(d, s, n);
}
void *__tsan_memset(void *d, int c, size_t n)
{
    access_range((uintptr_t)d, n, true, RET_PC);
    return memset(d, c, n);
}

void __tsan_init(void)
{
    tg__init();
    sample_mode();
}

void __tsan_ignore_thread_begin(void)
{
    struct race_thread *r = rs_get();
    if (r) {
        r->ignore++;
        tg__rs_gate(r);
    }
}
void __tsan_ignore_thread_end(void)
{
    struct race_thread *r = tg__rs;
    if (r && r->ignore > 0) {
        r->ignore--;
        tg__rs_gate(r);
    }
}

/* ---- synchronization from atomics and annotations ------------------------ */

static inline _Atomic uint32_t *stripe(const volatile void *a)
{
    uintptr_t x = (uintptr_t)a >> 3;
    return &stripes[(x ^ (x >> 16)) & (STRIPES - 1)];
}

static inline bool mo_release(int mo)
{
    return mo == __ATOMIC_RELEASE || mo == __ATOMIC_ACQ_REL ||
           mo == __ATOMIC_SEQ_CST;
}
static inline bool mo_acquire(int mo)
{
    return mo == __ATOMIC_CONSUME || mo == __ATOMIC_ACQUIRE ||
           mo == __ATOMIC_ACQ_REL || mo == __ATOMIC_SEQ_CST;
}


/* race=log: an acquire of a's stripe, at the count it has now. */
static inline void log_acquire(struct tg__thread *t, const volatile void *a)
{
    _Atomic uint32_t *s = stripe(a);
    uint32_t seq = atomic_load_explicit(s, memory_order_seq_cst);
    put(t, TG_EV_ACQUIRE, SYNC_ATOMIC, TG_EVF_ATOMIC, 0, (uintptr_t)s, seq);
}

/* An atomic read without acquire: an acquire fence later in the thread
 * acquires what it may have read. The last RC_FENCE_LOADS addresses are
 * kept, a repeat of the last one (a spin loop) once. */
static inline void fence_note(const volatile void *a)
{
    struct race_thread *r = tg__rs;
    if (!r)
        return;
    uintptr_t x = (uintptr_t)a;
    if (r->nfacq && r->facq[(r->nfacq - 1) % RC_FENCE_LOADS] == x)
        return;
    r->facq[r->nfacq % RC_FENCE_LOADS] = x;
    r->nfacq++;
}

/* An acquire of a: every release there so far. */
static inline void atomic_acquire(const volatile void *a)
{
    struct tg__thread *t;
    if (tg__rc_on) {
        struct race_thread *r = tg__rs;
        if (r && r->vc && !r->ignore)
            tg__rc_acquire(r, RK_ATOMIC, (uintptr_t)a);
        return;
    }
    if ((t = racer()))
        log_acquire(t, a);
}

/* After an atomic read (a load, or the read half of a read-modify-write
 * or compare-exchange): for an acquire type, what it may have read; for
 * any other, a note for a later acquire fence. */
static inline void atomic_read_end(const volatile void *a, int mo)
{
    if (mo_acquire(mo))
        atomic_acquire(a);
    else
        fence_note(a);
}

/* Before an atomic that writes (a store, a read-modify-write, a
 * compare-exchange expected to succeed: write true), in this order:
 * - for an acquire read-modify-write, an acquire of what was released at
 *   the address so far: it reads the last value there, so it is ordered
 *   after those releases anyway, and its own access is checked knowing
 *   them (a plain write, then a release store, then another thread's
 *   acquire compare-exchange of the word is no race);
 * - the access itself, recorded before the operation, so that no thread
 *   that reads the value and then touches the word plainly is checked
 *   before it (as TSan records it);
 * - for a release type, the thread's clock into the address's sync object
 *   (race=1), or its count on the stripe (race=log), also before the
 *   operation, so that an acquire that reads the value finds it. After a
 *   release fence every atomic that writes is one (C11: the fence
 *   synchronizes with an acquire that reads what a later store wrote). Its
 *   clock is then the store's, not the fence's, so what the thread did in
 *   between counts as published too: that can hide a race, never make one
 *   up.
 * The access falls in the epoch the release publishes (a reference
 * count's last holder frees the object after an acquire-release
 * decrement, ordered after the other holders' decrements); the next epoch
 * starts in atomic_write_end. Returns what that needs: 0 when nothing was
 * released. */
static inline uint64_t atomic_write_begin(const volatile void *a, uint32_t size, bool write,
                                          bool reads, int mo, uintptr_t pc)
{
    struct tg__thread *t;
    if (reads && mo_acquire(mo))
        atomic_acquire(a);
    if (tg__rc_on || tg__g.opt.race_log)
        mem_access((uintptr_t)a, size, write, pc, TG_EVF_ATOMIC);
    if (!mo_release(mo)) {
        struct race_thread *fr = tg__rs;
        if (likely(!fr || !fr->rel_fence))
            return 0;
    }
    if (tg__rc_on) {
        struct race_thread *r = rs_get();
        if (!r || !r->vc || r->ignore)
            return 0;
        tg__rc_release_keep(r, RK_ATOMIC, (uintptr_t)a);
        return 1;
    }
    if (!(t = racer()))
        return 0;
    _Atomic uint32_t *s = stripe(a);
    uint32_t seq = atomic_fetch_add_explicit(s, 1, memory_order_seq_cst) + 1;
    return (uint64_t)seq << 1 | 1;
}

/* After a load: the access (atomic: never races with another atomic),
 * then what it read. */
static inline void atomic_load_end(const volatile void *a, uint32_t size, int mo,
                                   uintptr_t pc)
{
    if (tg__rc_on || tg__g.opt.race_log)
        mem_access((uintptr_t)a, size, false, pc, TG_EVF_ATOMIC);
    atomic_read_end(a, mo);
}

/* After an atomic that writes: a compare-exchange that was taken for a
 * read but did write (late: the word changed in between) records its
 * write now; then the end of the release atomic_write_begin began (rel);
 * then, unless it is a plain store (reads: false), what its read half
 * read. */
static inline void atomic_write_end(const volatile void *a, uint32_t size, int mo, bool reads,
                                    uint64_t rel, bool late, uintptr_t pc)
{
    struct tg__thread *t;
    if (late && (tg__rc_on || tg__g.opt.race_log))
        mem_access((uintptr_t)a, size, true, pc, TG_EVF_ATOMIC);
    if (rel) {
        if (tg__rc_on) {
            struct race_thread *r = tg__rs;
            if (r)
                tg__rc_next_epoch(r);
        } else if ((t = racer())) {
            put(t, TG_EV_RELEASE, SYNC_ATOMIC, TG_EVF_ATOMIC, 0, (uintptr_t)stripe(a),
                (uint32_t)(rel >> 1));
        }
    }
    if (reads)
        atomic_read_end(a, mo);
}

/* Compilers pass C11 order numbers (0 relaxed ... 5 seq_cst), the same as
 * __ATOMIC_*; anything else is taken as seq_cst. */
static inline int norm_mo(int mo)
{
    mo &= 0xffff;
    return mo >= 0 && mo <= 5 ? mo : __ATOMIC_SEQ_CST;
}

/* Dispatch to a builtin with a constant order, as the builtins need. */
#define LOAD_MO(mo, EXPR)                                                     \
    switch (mo) {                                                             \
    case __ATOMIC_RELAXED: v = EXPR(__ATOMIC_RELAXED); break;                 \
    case __ATOMIC_CONSUME:                                                    \
    case __ATOMIC_ACQUIRE: v = EXPR(__ATOMIC_ACQUIRE); break;                 \
    default: v = EXPR(__ATOMIC_SEQ_CST); break;                               \
    }
#define STORE_MO(mo, EXPR)                                                    \
    switch (mo) {                                                             \
    case __ATOMIC_RELAXED: EXPR(__ATOMIC_RELAXED); break;                     \
    case __ATOMIC_RELEASE: EXPR(__ATOMIC_RELEASE); break;                     \
    default: EXPR(__ATOMIC_SEQ_CST); break;                                   \
    }
#define RMW_MO(mo, EXPR)                                                      \
    switch (mo) {                                                             \
    case __ATOMIC_RELAXED: v = EXPR(__ATOMIC_RELAXED); break;                 \
    case __ATOMIC_CONSUME:                                                    \
    case __ATOMIC_ACQUIRE: v = EXPR(__ATOMIC_ACQUIRE); break;                 \
    case __ATOMIC_RELEASE: v = EXPR(__ATOMIC_RELEASE); break;                 \
    case __ATOMIC_ACQ_REL: v = EXPR(__ATOMIC_ACQ_REL); break;                 \
    default: v = EXPR(__ATOMIC_SEQ_CST); break;                               \
    }
/* Compare-exchange: the failure order is the strongest valid one not
 * stronger than success. */
#define CAS_MO(mo, EXPR)                                                      \
    switch (mo) {                                                             \
    case __ATOMIC_RELAXED: ok = EXPR(__ATOMIC_RELAXED, __ATOMIC_RELAXED); break; \
    case __ATOMIC_CONSUME:                                                    \
    case __ATOMIC_ACQUIRE: ok = EXPR(__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE); break; \
    case __ATOMIC_RELEASE: ok = EXPR(__ATOMIC_RELEASE, __ATOMIC_RELAXED); break; \
    case __ATOMIC_ACQ_REL: ok = EXPR(__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE); break; \
    default: ok = EXPR(__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); break;            \
    }

#define ATOMIC_FNS(BITS, T)                                                   \
T __tsan_atomic##BITS##_load(const volatile T *a, int mo)                     \
{                                                                             \
    T v;                                                                      \
    mo = norm_mo(mo);                                                         \
    LOAD_MO(mo, L##BITS)                                                      \
    atomic_load_end(a, BITS / 8, mo, RET_PC);                                 \
    return v;                                                                 \
}                                                                             \
void __tsan_atomic##BITS##_store(volatile T *a, T x, int mo)                  \
{                                                                             \
    mo = norm_mo(mo);                                                         \
    uint64_t rel = atomic_write_begin(a, BITS / 8, true, false, mo, RET_PC);  \
    STORE_MO(mo, S##BITS)                                                     \
    atomic_write_end(a, BITS / 8, mo, false, rel, false, RET_PC);             \
}                                                                             \
RMW_FN(BITS, T, exchange, __atomic_exchange_n)                                \
RMW_FN(BITS, T, fetch_add, __atomic_fetch_add)                                \
RMW_FN(BITS, T, fetch_sub, __atomic_fetch_sub)                                \
RMW_FN(BITS, T, fetch_and, __atomic_fetch_and)                                \
RMW_FN(BITS, T, fetch_or, __atomic_fetch_or)                                  \
RMW_FN(BITS, T, fetch_xor, __atomic_fetch_xor)                                \
RMW_FN(BITS, T, fetch_nand, __atomic_fetch_nand)                              \
int __tsan_atomic##BITS##_compare_exchange_strong(volatile T *a, T *c, T x,   \
                                                  int mo, int fmo)            \
{                                                                             \
    bool ok;                                                                  \
    (void)fmo;                                                                \
    mo = norm_mo(mo);                                                         \
    bool w = __atomic_load_n(a, __ATOMIC_RELAXED) == *c;                      \
    uint64_t rel = atomic_write_begin(a, BITS / 8, w, true, mo, RET_PC);      \
    CAS_MO(mo, CS##BITS)                                                      \
    atomic_write_end(a, BITS / 8, mo, true, rel, ok && !w, RET_PC);           \
    return ok;                                                                \
}                                                                             \
int __tsan_atomic##BITS##_compare_exchange_weak(volatile T *a, T *c, T x,     \
                                                int mo, int fmo)              \
{                                                                             \
    bool ok;                                                                  \
    (void)fmo;                                                                \
    mo = norm_mo(mo);                                                         \
    bool w = __atomic_load_n(a, __ATOMIC_RELAXED) == *c;                      \
    uint64_t rel = atomic_write_begin(a, BITS / 8, w, true, mo, RET_PC);      \
    CAS_MO(mo, CW##BITS)                                                      \
    atomic_write_end(a, BITS / 8, mo, true, rel, ok && !w, RET_PC);           \
    return ok;                                                                \
}                                                                             \
T __tsan_atomic##BITS##_compare_exchange_val(volatile T *a, T cmp, T x,       \
                                             int mo, int fmo)                 \
{                                                                             \
    bool ok;                                                                  \
    T *c = &cmp;                                                              \
    (void)fmo;                                                                \
    mo = norm_mo(mo);                                                         \
    bool w = __atomic_load_n(a, __ATOMIC_RELAXED) == *c;                      \
    uint64_t rel = atomic_write_begin(a, BITS / 8, w, true, mo, RET_PC);      \
    CAS_MO(mo, CS##BITS)                                                      \
    atomic_write_end(a, BITS / 8, mo, true, rel, ok && !w, RET_PC);           \
    return cmp;                                                               \
}

#define RMW_FN(BITS, T, NAME, BUILTIN)                                        \
T __tsan_atomic##BITS##_##NAME(volatile T *a, T x, int mo)                    \
{                                                                             \
    T v;                                                                      \
    mo = norm_mo(mo);                                                         \
    uint64_t rel = atomic_write_begin(a, BITS / 8, true, true, mo, RET_PC);   \
    RMW_MO(mo, RMW_CALL_##NAME)                                               \
    atomic_write_end(a, BITS / 8, mo, true, rel, false, RET_PC);              \
    return v;                                                                 \
}

#define RMW_CALL_exchange(m)   __atomic_exchange_n(a, x, m)
#define RMW_CALL_fetch_add(m)  __atomic_fetch_add(a, x, m)
#define RMW_CALL_fetch_sub(m)  __atomic_fetch_sub(a, x, m)
#define RMW_CALL_fetch_and(m)  __atomic_fetch_and(a, x, m)
#define RMW_CALL_fetch_or(m)   __atomic_fetch_or(a, x, m)
#define RMW_CALL_fetch_xor(m)  __atomic_fetch_xor(a, x, m)
#define RMW_CALL_fetch_nand(m) __atomic_fetch_nand(a, x, m)

#define L8(m)  __atomic_load_n(a, m)
#define L16(m) __atomic_load_n(a, m)
#define L32(m) __atomic_load_n(a, m)
#define L64(m) __atomic_load_n(a, m)
#define S8(m)  __atomic_store_n(a, x, m)
#define S16(m) __atomic_store_n(a, x, m)
#define S32(m) __atomic_store_n(a, x, m)
#define S64(m) __atomic_store_n(a, x, m)
#define CS8(s, f)  __atomic_compare_exchange_n(a, c, x, false, s, f)
#define CS16(s, f) __atomic_compare_exchange_n(a, c, x, false, s, f)
#define CS32(s, f) __atomic_compare_exchange_n(a, c, x, false, s, f)
#define CS64(s, f) __atomic_compare_exchange_n(a, c, x, false, s, f)
#define CW8(s, f)  __atomic_compare_exchange_n(a, c, x, true, s, f)
#define CW16(s, f) __atomic_compare_exchange_n(a, c, x, true, s, f)
#define CW32(s, f) __atomic_compare_exchange_n(a, c, x, true, s, f)
#define CW64(s, f) __atomic_compare_exchange_n(a, c, x, true, s, f)

ATOMIC_FNS(8, uint8_t)
ATOMIC_FNS(16, uint16_t)
ATOMIC_FNS(32, uint32_t)
ATOMIC_FNS(64, uint64_t)

/* ---- 128-bit atomics ------------------------------------------------------
 * The __atomic builtins would call libatomic for 16 bytes; cmpxchg16b does
 * every operation (a load is a compare-exchange that fails or stores the
 * same value), and is sequentially consistent, which covers every order. */
typedef unsigned __int128 u128;

#if defined(__x86_64__)
__attribute__((target("cx16")))
static u128 cas128(volatile u128 *a, u128 old, u128 nv)
{
    return __sync_val_compare_and_swap(a, old, nv);
}
#else
static _Atomic int lock128;
static u128 cas128(volatile u128 *a, u128 old, u128 nv)
{
    while (atomic_exchange_explicit(&lock128, 1, ACQUIRE))
        ;
    u128 cur = *a;
    if (cur == old)
        *a = nv;
    atomic_store_explicit(&lock128, 0, RELEASE);
    return cur;
}
#endif

static u128 load128(const volatile u128 *a)
{
    return cas128((volatile u128 *)(uintptr_t)a, 0, 0);
}

enum { OP_XCHG, OP_ADD, OP_SUB, OP_AND, OP_OR, OP_XOR, OP_NAND };

static u128 rmw128(volatile u128 *a, u128 x, int op)
{
    u128 cur = load128(a);
    for (;;) {
        u128 nv;
        switch (op) {
        case OP_XCHG: nv = x; break;
        case OP_ADD: nv = cur + x; break;
        case OP_SUB: nv = cur - x; break;
        case OP_AND: nv = cur & x; break;
        case OP_OR: nv = cur | x; break;
        case OP_XOR: nv = cur ^ x; break;
        default: nv = ~(cur & x); break;
        }
        u128 seen = cas128(a, cur, nv);
        if (seen == cur)
            return cur;
        cur = seen;
    }
}

u128 __tsan_atomic128_load(const volatile u128 *a, int mo)
{
    mo = norm_mo(mo);
    u128 v = load128(a);
    atomic_load_end(a, 16, mo, RET_PC);
    return v;
}

void __tsan_atomic128_store(volatile u128 *a, u128 x, int mo)
{
    mo = norm_mo(mo);
    uint64_t rel = atomic_write_begin(a, 16, true, false, mo, RET_PC);
    rmw128(a, x, OP_XCHG);
    atomic_write_end(a, 16, mo, false, rel, false, RET_PC);
}

#define RMW128(NAME, OP)                                                      \
u128 __tsan_atomic128_##NAME(volatile u128 *a, u128 x, int mo)                \
{                                                                             \
    mo = norm_mo(mo);                                                         \
    uint64_t rel = atomic_write_begin(a, 16, true, true, mo, RET_PC);         \
    u128 v = rmw128(a, x, OP);                                                \
    atomic_write_end(a, 16, mo, true, rel, false, RET_PC);                    \
    return v;                                                                 \
}
RMW128(exchange, OP_XCHG)
RMW128(fetch_add, OP_ADD)
RMW128(fetch_sub, OP_SUB)
RMW128(fetch_and, OP_AND)
RMW128(fetch_or, OP_OR)
RMW128(fetch_xor, OP_XOR)
RMW128(fetch_nand, OP_NAND)

static int cas128_common(volatile u128 *a, u128 *c, u128 x, int mo, uintptr_t pc)
{
    mo = norm_mo(mo);
    bool w = load128(a) == *c;
    uint64_t rel = atomic_write_begin(a, 16, w, true, mo, pc);
    u128 seen = cas128(a, *c, x);
    bool ok = seen == *c;
    *c = seen;
    atomic_write_end(a, 16, mo, true, rel, ok && !w, pc);
    return ok;
}

int __tsan_atomic128_compare_exchange_strong(volatile u128 *a, u128 *c, u128 x,
                                             int mo, int fmo)
{
    (void)fmo;
    return cas128_common(a, c, x, mo, RET_PC);
}
int __tsan_atomic128_compare_exchange_weak(volatile u128 *a, u128 *c, u128 x,
                                           int mo, int fmo)
{
    (void)fmo;
    return cas128_common(a, c, x, mo, RET_PC);
}
u128 __tsan_atomic128_compare_exchange_val(volatile u128 *a, u128 cmp, u128 x,
                                           int mo, int fmo)
{
    (void)fmo;
    cas128_common(a, &cmp, x, mo, RET_PC);
    return cmp;
}

/* The fence's own part in the checker: a release fence makes the
 * thread's later atomic stores releases (atomic_write_begin); an acquire fence
 * acquires the atomics the thread read without acquire since its last
 * one, as their objects are now (which may be past the value read: that
 * can hide a race, never make one up). */
static void fence_model(int mo)
{
    struct race_thread *r = tg__rs;
    if (!r || r->ignore || (!tg__rc_on && !tg__g.opt.race_log))
        return;
    if (mo_release(mo))
        r->rel_fence = true;
    if (!mo_acquire(mo) || !r->nfacq)
        return;
    uint32_t n = r->nfacq < RC_FENCE_LOADS ? r->nfacq : RC_FENCE_LOADS;
    r->nfacq = 0;
    struct tg__thread *t;
    for (uint32_t i = 0; i < n; i++) {
        uintptr_t a = r->facq[i];
        if (tg__rc_on) {
            if (r->vc)
                tg__rc_acquire(r, RK_ATOMIC, a);
        } else if ((t = racer())) {
            log_acquire(t, (const void *)a);
        }
    }
}

/* Fences do their job, and the checker models them (fence_model). */
void __tsan_atomic_thread_fence(int mo)
{
    mo = norm_mo(mo);
    fence_model(mo);
    switch (mo) {
    case __ATOMIC_RELAXED: break;
    case __ATOMIC_CONSUME:
    case __ATOMIC_ACQUIRE: __atomic_thread_fence(__ATOMIC_ACQUIRE); break;
    case __ATOMIC_RELEASE: __atomic_thread_fence(__ATOMIC_RELEASE); break;
    case __ATOMIC_ACQ_REL: __atomic_thread_fence(__ATOMIC_ACQ_REL); break;
    default: __atomic_thread_fence(__ATOMIC_SEQ_CST); break;
    }
}

void __tsan_atomic_signal_fence(int mo)
{
    (void)mo;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* libtsan's annotation entry points, used by some hand-synchronized code. */
void __tsan_acquire(void *a);
void __tsan_acquire(void *a)
{
    tg__annotate_hb(a, false);
}
void __tsan_release(void *a);
void __tsan_release(void *a)
{
    tg__annotate_hb(a, true);
}

#define FREE_CHECKED 1024      /* bytes of a freed block checked as written */

/* ---- heap blocks (from libtangle's __wrap_malloc / __wrap_free) -----------
 * A free releases on the block's stripe and an allocation acquires from
 * it, so the block's next owner is ordered after its previous one, as the
 * allocator's own locking orders them; the analyzer also forgets the freed
 * bytes' history when it replays the free. */
/* pc: the allocation call's return address in the program. */
void __tsan_heap_alloc(void *p, size_t n, void *pc)
{
    if (tg__rc_on) {
        struct race_thread *r = rs_get();
        if (r && r->vc)
            tg__rc_alloc(r, (uintptr_t)p, n, (uintptr_t)pc);
        return;
    }
    struct tg__thread *t = racer();
    if (!t)
        return;
    struct race_thread *r = rs_get();
    if (!r)
        return;
    _Atomic uint32_t *s = stripe(p);
    uint32_t seq = atomic_load_explicit(s, memory_order_seq_cst);
    put(t, TG_EV_ACQUIRE, SYNC_ATOMIC, 0, 0, (uintptr_t)s, seq);
    uint32_t stack = intern(r, t, (uintptr_t)pc);
    put(t, TG_EV_ALLOC, 0, 0, stack, (uintptr_t)p, n);
}

/* A free is a write of the block's first bytes (up to 1 KiB, as TSan
 * checks): an access by another thread that the freeing thread is not
 * ordered after races with it. Then the block's history is forgotten. */
void __tsan_heap_free_at(void *p, void *pc)
{
    if (!p)
        return;
    size_t n = malloc_usable_size(p);
    size_t checked = n < FREE_CHECKED ? n : FREE_CHECKED;
    if (tg__rc_on) {
        struct race_thread *r = rs_get();
        if (r && r->vc && !r->ignore && checked)
            tg__rc_free_check(r, (uintptr_t)p, checked, (uintptr_t)pc);
        tg__rc_free((uintptr_t)p, n);
        return;
    }
    struct tg__thread *t = racer();
    if (!t)
        return;
    struct race_thread *r = rs_get();
    _Atomic uint32_t *s = stripe(p);
    /* The free's stack (its call site under the shadow call stack) makes
     * the analyzer check it as that write; none in an ignored region. */
    uint32_t stack = r && !r->ignore ? intern(r, t, (uintptr_t)pc) : 0;
    put(t, TG_EV_FREE, 0, 0, stack, (uintptr_t)p, n);
    uint32_t seq = atomic_fetch_add_explicit(s, 1, memory_order_seq_cst) + 1;
    put(t, TG_EV_RELEASE, SYNC_ATOMIC, 0, 0, (uintptr_t)s, seq);
}

void __tsan_heap_free(void *p)
{
    __tsan_heap_free_at(p, __builtin_return_address(0));
}

/* ---- the check API's annotations (strong over check.c's weak ones) ------- */

void tg__annotate_access(const volatile void *addr, size_t size, bool write)
{
    uintptr_t pc = RET_PC;
    if (size > 16 || (size & (size - 1)))
        access_range((uintptr_t)addr, size, write, pc);
    else
        mem_access((uintptr_t)addr, (uint32_t)size, write, pc, 0);
}

void tg__annotate_hb(const volatile void *tag, bool before)
{
    if (tg__rc_on) {
        tg__race_sync(RK_PLAIN, (uintptr_t)tag, before);
        return;
    }
    struct tg__thread *t = tg__me();
    if (!t || t->guard)
        return;
    put(t, before ? TG_EV_RELEASE : TG_EV_ACQUIRE, 0, 0, 0, (uintptr_t)tag, 0);
}

void tg__annotate_ignore(bool begin)
{
    struct tg__thread *t = tg__me();
    struct race_thread *r = rs_get();
    if (r && begin)
        r->ignore++;
    else if (r && r->ignore > 0)
        r->ignore--;
    if (r)
        tg__rs_gate(r);
    if (t && !t->guard && tg__g.opt.race_log)
        put(t, begin ? TG_EV_IGNORE_BEGIN : TG_EV_IGNORE_END, 0, 0, 0, 0, 0);
}

void tg__annotate_benign(const volatile void *addr, size_t size, const char *why)
{
    (void)why;
    if (tg__rc_on) {
        tg__rc_benign((uintptr_t)addr, size);
        return;
    }
    struct tg__thread *t = tg__me();
    if (!t || t->guard)
        return;
    put(t, TG_EV_BENIGN, 0, 0, 0, (uintptr_t)addr, size);
}

/* ---- TSan's dynamic annotations (dynamic_annotations.h), for code that
 * already carries them ------------------------------------------------------ */

void AnnotateHappensBefore(const char *f, int l, const volatile void *cv);
void AnnotateHappensBefore(const char *f, int l, const volatile void *cv)
{
    (void)f;
    (void)l;
    tg__annotate_hb(cv, true);
}

void AnnotateHappensAfter(const char *f, int l, const volatile void *cv);
void AnnotateHappensAfter(const char *f, int l, const volatile void *cv)
{
    (void)f;
    (void)l;
    tg__annotate_hb(cv, false);
}

void AnnotateBenignRaceSized(const char *f, int l, const volatile void *mem,
                             long size, const char *desc);
void AnnotateBenignRaceSized(const char *f, int l, const volatile void *mem,
                             long size, const char *desc)
{
    (void)f;
    (void)l;
    tg__annotate_benign(mem, size > 0 ? (size_t)size : 1, desc);
}

void AnnotateBenignRace(const char *f, int l, const volatile void *mem,
                        const char *desc);
void AnnotateBenignRace(const char *f, int l, const volatile void *mem,
                        const char *desc)
{
    (void)f;
    (void)l;
    tg__annotate_benign(mem, 1, desc);
}

/* Reads and writes are ignored together: the checker has one switch. */
void AnnotateIgnoreReadsBegin(const char *f, int l);
void AnnotateIgnoreReadsBegin(const char *f, int l)
{
    (void)f;
    (void)l;
    tg__annotate_ignore(true);
}

void AnnotateIgnoreReadsEnd(const char *f, int l);
void AnnotateIgnoreReadsEnd(const char *f, int l)
{
    (void)f;
    (void)l;
    tg__annotate_ignore(false);
}

void AnnotateIgnoreWritesBegin(const char *f, int l);
void AnnotateIgnoreWritesBegin(const char *f, int l)
{
    (void)f;
    (void)l;
    tg__annotate_ignore(true);
}

void AnnotateIgnoreWritesEnd(const char *f, int l);
void AnnotateIgnoreWritesEnd(const char *f, int l)
{
    (void)f;
    (void)l;
    tg__annotate_ignore(false);
}
