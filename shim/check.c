/*
 * shim/check.c: the in-process check API of include/tangle/check.h: leak
 * checkpoints (goleak for C) and the race checker's annotations.
 *
 * tg_leak_mark flags every live thread; tg_leak_verify looks for threads
 * that are neither flagged, nor the shim's, nor the test runner's, nor
 * ignored by the caller's rules, and retries with a capped exponential
 * back-off (goleak's settle loop) so a thread that is just finishing is
 * not reported. Only then does it write one `leak` finding per thread and
 * print a goleak-style summary. Ignore rules match function names found
 * for the recorded stacks with dladdr or, for functions that are not
 * exported, in the file's symbol table: this runs only at a checkpoint,
 * so the cost does not matter.
 * The annotations are weak here; the race checker (shim/tsan.c) replaces
 * them with its own definitions.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"
#include "tangle/check.h"

static _Atomic uint32_t verify_count;

static bool live_program_thread(const struct tg_log_thread *r)
{
    if (atomic_load_explicit((_Atomic uint32_t *)&r->commit, ACQUIRE)
        != TG_LOG_COMMITTED)
        return false;
    uint32_t f = atomic_load_explicit((_Atomic uint32_t *)&r->flags, RELAXED);
    if (f & (TG_THRF_INTERNAL | TG_THRF_FOREIGN))
        return false;
    return atomic_load_explicit((_Atomic uint64_t *)&r->exited_ns, ACQUIRE) == 0;
}

static uint64_t thread_count(void)
{
    return tg__threads_used();
}

static int leak_mark(void)
{
    if (!tg__on())
        return 0;
    uint64_t n = thread_count();
    for (uint64_t i = 1; i <= n; i++) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, (uint32_t)i);
        if (live_program_thread(r))
            atomic_fetch_or_explicit(&r->flags, TG_THRF_MARKED, RELAXED);
    }
    atomic_fetch_add_explicit(&tg__g.hdr->mark_epoch, 1, RELEASE);
    return 0;
}

/* Finds the function containing file address `addr` in the ELF file's
 * .symtab (static functions included, unlike dladdr, which sees only
 * exported symbols). Checked against the file's size throughout: the file
 * may have changed on disk since it was loaded. */
static bool symtab_lookup(const char *path, uint64_t addr, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool found = false;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return false;
    }
    size_t size = (size_t)st.st_size;
    const char *f = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        return false;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size ||
        (size - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum)
        goto out;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(f + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum && !found; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset ||
            strs->sh_offset > size || strs->sh_size > size - strs->sh_offset)
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(f + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof *sym;
        for (size_t k = 0; k < n; k++) {
            if (ELF64_ST_TYPE(sym[k].st_info) != STT_FUNC || !sym[k].st_value)
                continue;
            if (addr < sym[k].st_value || addr >= sym[k].st_value + sym[k].st_size)
                continue;
            if (sym[k].st_name >= strs->sh_size)
                continue;
            const char *name = f + strs->sh_offset + sym[k].st_name;
            size_t max = strs->sh_size - sym[k].st_name;
            snprintf(buf, len, "%.*s", (int)strnlen(name, max), name);
            found = true;
            break;
        }
    }
out:
    munmap((void *)f, size);
    return found;
}

static const char *sym_of(uint64_t pc, char *buf, size_t len)
{
    Dl_info info;
    if (!pc)
        return NULL;
    /* pc - 1: a return address may be the first byte of the next function. */
    void *at = (void *)(uintptr_t)(pc - 1);
    if (!dladdr(at, &info))
        return NULL;
    if (info.dli_sname && info.dli_saddr) {
        snprintf(buf, len, "%s", info.dli_sname);
        return buf;
    }
    /* Not exported: look in the file's full symbol table. */
    struct link_map *lm = NULL;
    Dl_info again;
    if (!dladdr1(at, &again, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return NULL;
    const char *path = lm->l_name && *lm->l_name ? lm->l_name : "/proc/self/exe";
    if (symtab_lookup(path, (uint64_t)(pc - 1) - lm->l_addr, buf, len))
        return buf;
    return NULL;
}

static bool matches(const char *const *pats, const char *name)
{
    if (!pats || !name)
        return false;
    for (; *pats; pats++)
        if (!strcmp(*pats, name) || !fnmatch(*pats, name, 0))
            return true;
    return false;
}

static const struct tg_log_stack *stack_of(uint32_t id)
{
    if (!id)
        return NULL;
    uint64_t off = (uint64_t)(id - 1) * 8;
    if (off + sizeof(struct tg_log_stack) > tg__g.cap[TG_SEC_STACKS])
        return NULL;
    return (const struct tg_log_stack *)(tg__g.sec[TG_SEC_STACKS] + off);
}

static bool ignored(const struct tg_log_thread *r, const struct tg_leak_opts *o)
{
    if (!o)
        return false;
    char buf[256];
    const struct tg_log_stack *ws =
        r->state == TG_TS_BLOCKED ? stack_of(r->wait_stack) : NULL;
    if (ws && ws->nframes) {
        /* Top: the first frame, or the first outside libtangle's
         * internals (so "tg_chan_recv" and the caller both work). */
        for (uint32_t i = 0; i < ws->nframes && i < 4; i++) {
            const char *s = sym_of(ws->pc[i], buf, sizeof buf);
            if (matches(o->ignore_top, s))
                return true;
            if (!s || strncmp(s, "tg_", 3))
                break;
        }
        for (uint32_t i = 0; i < ws->nframes; i++)
            if (matches(o->ignore_any, sym_of(ws->pc[i], buf, sizeof buf)))
                return true;
    }
    if (o->ignore_created_by) {
        if (matches(o->ignore_created_by, sym_of(r->start_routine + 1, buf, sizeof buf)))
            return true;
        const struct tg_log_stack *cs = stack_of(r->create_stack);
        if (cs && cs->nframes &&
            matches(o->ignore_created_by, sym_of(cs->pc[0], buf, sizeof buf)))
            return true;
    }
    return false;
}

static const char *const op_names[TG_WAIT_OP_COUNT] = {
    [TG_WAIT_NONE] = "running", [TG_WAIT_MUTEX] = "mutex lock",
    [TG_WAIT_RWLOCK_RD] = "rwlock read", [TG_WAIT_RWLOCK_WR] = "rwlock write",
    [TG_WAIT_SPIN] = "spin lock", [TG_WAIT_COND] = "cond wait",
    [TG_WAIT_SEM] = "sem wait", [TG_WAIT_BARRIER] = "barrier wait",
    [TG_WAIT_JOIN] = "join", [TG_WAIT_ONCE] = "once",
    [TG_WAIT_CHAN_SEND] = "chan send", [TG_WAIT_CHAN_RECV] = "chan receive",
    [TG_WAIT_SELECT] = "select", [TG_WAIT_WG] = "wg wait",
    [TG_WAIT_CTX] = "ctx wait", [TG_WAIT_GROUP] = "group wait",
    [TG_WAIT_GROUP_GO] = "group go", [TG_WAIT_POOL_SUBMIT] = "pool submit",
    [TG_WAIT_POOL_SHUTDOWN] = "pool shutdown", [TG_WAIT_SLEEP] = "sleep",
    [TG_WAIT_GROUP_IDLE] = "group idle", [TG_WAIT_LOCK] = "lock",
};

/* Candidates for a leak now; fills ids (up to cap) and returns the count. */
static int collect(const struct tg_leak_opts *o, uint32_t *ids, int cap)
{
    int n = 0;
    uint64_t nt = thread_count();
    uint32_t me = tg__self.id;
    for (uint64_t i = 1; i <= nt; i++) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, (uint32_t)i);
        if (!live_program_thread(r) || r->id == me)
            continue;
        uint32_t f = atomic_load_explicit(&r->flags, RELAXED);
        if (f & (TG_THRF_MARKED | TG_THRF_MAIN | TG_THRF_NO_CREATE))
            continue;
        if (ignored(r, o))
            continue;
        if (n < cap)
            ids[n] = r->id;
        n++;
    }
    return n;
}

static void summary(const uint32_t *ids, int n)
{
    char line[512];
    int len = snprintf(line, sizeof line,
                       "tangle: found %d unexpected thread%s:\n", n,
                       n == 1 ? "" : "s");
    ssize_t w = write(2, line, (size_t)len);
    uint64_t now = tg__now();
    for (int i = 0; i < n && i < 64; i++) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, ids[i]);
        char sbuf[256];
        const char *start = sym_of(r->start_routine + 1, sbuf, sizeof sbuf);
        const char *state = "running";
        char extra[128] = "";
        if (r->state == TG_TS_BLOCKED && r->wait_op < TG_WAIT_OP_COUNT &&
            op_names[r->wait_op]) {
            state = op_names[r->wait_op];
            snprintf(extra, sizeof extra, " on %#llx for %llu ms",
                     (unsigned long long)r->wait_obj,
                     (unsigned long long)((now - r->wait_since_ns) / 1000000));
        }
        len = snprintf(line, sizeof line,
                       "  thread %u \"%s\" (tid %d) in %s%s, started by %s (%#llx)\n",
                       r->id, r->name, r->os_tid, state, extra,
                       start ? start : "?", (unsigned long long)r->start_routine);
        w = write(2, line, (size_t)len);
    }
    (void)w;
}

static int leak_verify(const struct tg_leak_opts *o)
{
    if (!tg__on())
        return 0;
    struct tg__thread *t = &tg__self;
    t->guard++;
    int64_t max_wait = o && o->max_wait_ns > 0 ? o->max_wait_ns : 1000000000;
    int64_t max_sleep = o && o->max_sleep_ns > 0 ? o->max_sleep_ns : 100000000;
    uint32_t ids[256];
    uint64_t start = tg__now();
    int64_t backoff = 1000;
    int n;
    for (;;) {
        n = collect(o, ids, 256);
        if (n == 0 || (int64_t)(tg__now() - start) >= max_wait)
            break;
        struct timespec ts = { backoff / 1000000000, backoff % 1000000000 };
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > max_sleep ? max_sleep : backoff * 2;
    }
    uint32_t epoch = atomic_fetch_add_explicit(&verify_count, 1, RELAXED) + 1;
    for (int i = 0; i < n && i < 256; i++) {
        struct tg_log_thread *r = tg__rec_get(TG_SEC_THREADS, ids[i]);
        bool blocked = r->state == TG_TS_BLOCKED;
        struct tg_log_finding f = {
            .kind = TG_FIND_LEAK,
            .thread = r->id,
            .obj = blocked ? r->wait_obj : 0,
            .stack = blocked ? r->wait_stack : 0,
            .stack2 = r->create_stack,
            .thread2 = r->parent,
            .value = epoch,
            .nthreads = 1,
        };
        struct tg__lock *l = f.obj ? tg__lock_find((void *)(uintptr_t)f.obj) : NULL;
        f.obj_id = l ? atomic_load_explicit(&l->obj, RELAXED) : 0;
        f.threads[0].thread = r->id;
        f.threads[0].wait_op = blocked ? r->wait_op : TG_WAIT_NONE;
        f.threads[0].wait_stack = f.stack;
        f.threads[0].wait_obj = f.obj;
        tg__finding_add(&f);
    }
    if (n && !(o && o->quiet))
        summary(ids, n < 256 ? n : 256);
    t->guard--;
    return n;
}

/* ---- annotations (replaced by the race checker) --------------------------- */

__attribute__((weak)) void tg__annotate_access(const volatile void *addr,
                                               size_t size, bool write);
__attribute__((weak)) void tg__annotate_access(const volatile void *addr,
                                               size_t size, bool write)
{
    struct tg__thread *t = tg__me();
    if (!t || t->guard || !tg__g.opt.race)
        return;
    tg__ev_append(t, write ? TG_EV_WRITE : TG_EV_READ,
                  size > 255 ? 0 : (uint8_t)size, 0, (uintptr_t)addr,
                  (uintptr_t)__builtin_return_address(0));
}

__attribute__((weak)) void tg__annotate_hb(const volatile void *tag, bool before);
__attribute__((weak)) void tg__annotate_hb(const volatile void *tag, bool before)
{
    struct tg__thread *t = tg__me();
    if (!t || t->guard)
        return;
    tg__ev_append(t, before ? TG_EV_RELEASE : TG_EV_ACQUIRE, 0, 0,
                  (uintptr_t)tag, 0);
}

__attribute__((weak)) void tg__annotate_ignore(bool begin);
__attribute__((weak)) void tg__annotate_ignore(bool begin)
{
    struct tg__thread *t = tg__me();
    if (!t || t->guard)
        return;
    tg__ev_append(t, begin ? TG_EV_IGNORE_BEGIN : TG_EV_IGNORE_END, 0, 0, 0, 0);
}

__attribute__((weak)) void tg__annotate_benign(const volatile void *addr,
                                               size_t size, const char *why);
__attribute__((weak)) void tg__annotate_benign(const volatile void *addr,
                                               size_t size, const char *why)
{
    struct tg__thread *t = tg__me();
    (void)why;
    if (!t || t->guard)
        return;
    tg__ev_append(t, TG_EV_BENIGN, 0, 0, (uintptr_t)addr, size);
}

static void annotate_access(const volatile void *addr, size_t size, bool write)
{
    tg__annotate_access(addr, size, write);
}
static void annotate_hb(const volatile void *tag, bool before)
{
    tg__annotate_hb(tag, before);
}
static void annotate_ignore(bool begin)
{
    tg__annotate_ignore(begin);
}
static void annotate_benign(const volatile void *addr, size_t size, const char *why)
{
    tg__annotate_benign(addr, size, why);
}

static const struct tg_check_api api = {
    .version = 1,
    .leak_mark = leak_mark,
    .leak_verify = leak_verify,
    .annotate_access = annotate_access,
    .annotate_hb = annotate_hb,
    .annotate_ignore = annotate_ignore,
    .annotate_benign = annotate_benign,
};

/* Looked up by libtangle with dlsym; NULL while the shim does not record,
 * so the check functions keep their no-op behaviour. */
const struct tg_check_api *tangle_shim_check(void)
{
    if (!tg__on() && !tg__init())
        return NULL;
    return &api;
}
