/*
 * logbuild.h: a tiny in-memory writer of tangle logs for the analyzer's
 * tests. It lays out a header and one section of each kind the way the
 * shim does (page-aligned, fixed records, commit word set last), so tests
 * can build exactly the situation they check (a cycle, a leaked thread, a
 * damaged record) without running a program under the shim.
 */
#ifndef TANGLE_TESTS_LOGBUILD_H
#define TANGLE_TESTS_LOGBUILD_H

#include <link.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tangle/log.h>
#include <unistd.h>

#define LB_PAGE 4096u

struct lb {
    unsigned char *buf;
    size_t size;
    struct tg_log_header *h;
};

static inline size_t lb_align(size_t n)
{
    return (n + LB_PAGE - 1) / LB_PAGE * LB_PAGE;
}

/* Sections sized for tests; nchunks event chunks. */
static inline void lb_init_sized(struct lb *b, int pid, size_t nthreads,
                                 size_t nobjects, size_t nedges,
                                 size_t nchunks)
{
    size_t sizes[TG_SEC_COUNT] = {
        [TG_SEC_STRINGS] = 4096,
        [TG_SEC_MODULES] = 8 * sizeof(struct tg_log_module),
        [TG_SEC_STACKS] = 65536,
        [TG_SEC_THREADS] = nthreads * sizeof(struct tg_log_thread),
        [TG_SEC_OBJECTS] = nobjects * sizeof(struct tg_log_object),
        [TG_SEC_EDGES] = nedges * sizeof(struct tg_log_edge),
        [TG_SEC_FINDINGS] = 32 * sizeof(struct tg_log_finding),
        [TG_SEC_EVENTS] = nchunks * TG_LOG_CHUNK_BYTES,
    };
    size_t recs[TG_SEC_COUNT] = {
        0, sizeof(struct tg_log_module), 0, sizeof(struct tg_log_thread),
        sizeof(struct tg_log_object), sizeof(struct tg_log_edge),
        sizeof(struct tg_log_finding), TG_LOG_CHUNK_BYTES,
    };
    size_t off = TG_LOG_HEADER_SIZE;
    size_t offs[TG_SEC_COUNT];
    for (int i = 0; i < TG_SEC_COUNT; i++) {
        offs[i] = off;
        off += lb_align(sizes[i] ? sizes[i] : 1);
    }
    b->size = off;
    b->buf = calloc(1, off);
    b->h = (struct tg_log_header *)b->buf;
    memcpy(b->h->magic, TG_LOG_MAGIC, 8);
    b->h->version = TG_LOG_VERSION;
    b->h->header_size = TG_LOG_HEADER_SIZE;
    b->h->endian = TG_LOG_ENDIAN;
    b->h->file_size = off;
    b->h->pid = pid;
    b->h->start_mono_ns = 1000;
    snprintf(b->h->exe, sizeof b->h->exe, "/nonexistent/prog");
    snprintf(b->h->cmdline, sizeof b->h->cmdline, "prog --test");
    b->h->proc_state = TG_PROC_EXITED;
    b->h->end_ns = 10ull * 1000000000ull;
    for (int i = 0; i < TG_SEC_COUNT; i++) {
        b->h->sec[i].offset = offs[i];
        b->h->sec[i].size = sizes[i];
        b->h->sec[i].rec_size = (uint32_t)recs[i];
    }
    b->h->sec[TG_SEC_EVENTS].used = nchunks;
}

static inline void lb_init(struct lb *b, int pid)
{
    lb_init_sized(b, pid, 64, 256, 256, 4);
}

static inline void *lb_rec(struct lb *b, int sec)
{
    struct tg_log_section *s = &b->h->sec[sec];
    void *p = b->buf + s->offset + s->used * s->rec_size;
    s->used++;
    return p;
}

static inline uint32_t lb_string(struct lb *b, const char *str)
{
    struct tg_log_section *s = &b->h->sec[TG_SEC_STRINGS];
    uint32_t id = (uint32_t)s->used + 1;
    memcpy(b->buf + s->offset + s->used, str, strlen(str) + 1);
    s->used += strlen(str) + 1;
    return id;
}

/* A stack of n return addresses; returns its id. */
static inline uint32_t lb_stack_v(struct lb *b, uint32_t n,
                                  const uint64_t *pcs)
{
    struct tg_log_section *s = &b->h->sec[TG_SEC_STACKS];
    struct tg_log_stack *st = (struct tg_log_stack *)(b->buf + s->offset +
                                                      s->used);
    uint32_t id = (uint32_t)(s->used / 8 + 1);
    st->nframes = n;
    for (uint32_t i = 0; i < n; i++)
        st->pc[i] = pcs[i];
    st->commit = TG_LOG_COMMITTED;
    s->used += sizeof *st + 8 * n;
    return id;
}

static inline uint32_t lb_stack1(struct lb *b, uint64_t pc)
{
    return lb_stack_v(b, 1, &pc);
}

static inline struct tg_log_thread *lb_thread(struct lb *b, uint32_t flags,
                                              uint32_t state, uint32_t op)
{
    struct tg_log_thread *t = lb_rec(b, TG_SEC_THREADS);
    t->id = (uint32_t)b->h->sec[TG_SEC_THREADS].used;
    t->os_tid = 5000 + (int32_t)t->id;
    t->flags = flags;
    t->state = state;
    t->wait_op = op;
    t->wait_deadline_ns = INT64_MAX;
    t->parent = t->id > 1 ? 1 : 0;
    snprintf(t->name, sizeof t->name, "t%u", t->id);
    t->commit = TG_LOG_COMMITTED;
    return t;
}

static inline struct tg_log_object *lb_object(struct lb *b, uint32_t kind,
                                              uint64_t addr)
{
    struct tg_log_object *o = lb_rec(b, TG_SEC_OBJECTS);
    o->id = (uint32_t)b->h->sec[TG_SEC_OBJECTS].used;
    o->kind = kind;
    o->addr = addr;
    o->b = (uint64_t)INT64_MAX;
    o->commit = TG_LOG_COMMITTED;
    return o;
}

/* Edge from -> to (object ids) with ngates gate ids. */
static inline struct tg_log_edge *lb_edge(struct lb *b, uint32_t from,
                                          uint32_t to, uint32_t thread,
                                          uint32_t ngates, ...)
{
    struct tg_log_edge *e = lb_rec(b, TG_SEC_EDGES);
    e->from = from;
    e->to = to;
    e->thread = thread;
    e->count = 1;
    va_list ap;
    va_start(ap, ngates);
    for (uint32_t i = 0; i < ngates; i++)
        e->gates[i] = va_arg(ap, uint32_t);
    va_end(ap);
    e->ngates = ngates;
    e->commit = TG_LOG_COMMITTED;
    return e;
}

static inline struct tg_log_finding *lb_finding(struct lb *b, uint32_t kind)
{
    struct tg_log_finding *f = lb_rec(b, TG_SEC_FINDINGS);
    f->kind = kind;
    f->commit = TG_LOG_COMMITTED;
    return f;
}

static inline struct tg_log_module *lb_module(struct lb *b, const char *path,
                                              uint64_t bias, uint64_t start,
                                              uint64_t end)
{
    struct tg_log_module *m = lb_rec(b, TG_SEC_MODULES);
    size_t n = strlen(path);
    if (n >= sizeof m->path)
        n = sizeof m->path - 1;
    memcpy(m->path, path, n);
    m->bias = bias;
    m->start = start;
    m->end = end;
    m->commit = TG_LOG_COMMITTED;
    return m;
}

struct lb_range {
    uint64_t bias, lo, hi;
};

static inline int lb_main_range(struct dl_phdr_info *info, size_t size,
                                void *data)
{
    (void)size;
    struct lb_range *r = data;
    if (info->dlpi_name[0])
        return 0;                     /* the main program has no name */
    r->bias = info->dlpi_addr;
    r->lo = UINT64_MAX;
    r->hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD)
            continue;
        if (r->bias + p->p_vaddr < r->lo)
            r->lo = r->bias + p->p_vaddr;
        if (r->bias + p->p_vaddr + p->p_memsz > r->hi)
            r->hi = r->bias + p->p_vaddr + p->p_memsz;
    }
    return 1;
}

/* The running test binary as a module of b, at its load bias and with
 * its PT_LOAD range, as the shim records it, so the test's own code and
 * data symbolize; path NULL: the binary's real path. */
static inline struct tg_log_module *lb_self_module(struct lb *b,
                                                   const char *path)
{
    struct lb_range r = {0};
    dl_iterate_phdr(lb_main_range, &r);
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    return lb_module(b, path ? path : exe, r.bias, r.lo, r.hi);
}

/* Chunk i of the event section, owned by thread with sequence seq. */
static inline struct tg_log_chunk *lb_chunk(struct lb *b, size_t i,
                                            uint32_t thread, uint64_t seq)
{
    struct tg_log_chunk *c = (struct tg_log_chunk *)(
        b->buf + b->h->sec[TG_SEC_EVENTS].offset + i * TG_LOG_CHUNK_BYTES);
    c->thread = thread;
    c->thread_seq = seq;
    c->cap = (TG_LOG_CHUNK_BYTES - sizeof *c) / sizeof(struct tg_log_event);
    c->commit = TG_LOG_COMMITTED;
    return c;
}

static inline void lb_event(struct tg_log_chunk *c, uint8_t type,
                            uint64_t addr, uint64_t arg)
{
    struct tg_log_event *ev = (struct tg_log_event *)(c + 1);
    ev[c->used].type = type;
    ev[c->used].addr = addr;
    ev[c->used].arg = arg;
    c->used++;
}

static inline void lb_free(struct lb *b)
{
    free(b->buf);
    b->buf = NULL;
}

/* Writes the log to path (for tests of the file reader and commands). */
static inline int lb_write(const struct lb *b, const char *path, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(b->buf, 1, len, f);
    fclose(f);
    return n == len ? 0 : -1;
}

/* A log with something in every table: modules, strings, threads in
 * several states, locks and contexts, a lock-order cycle with a gate,
 * deadlock, misuse, checkpoint and race findings, and events. The starting
 * point of the fuzz tests. */
static inline struct lb lb_rich_log(void)
{
    struct lb b;
    lb_init_sized(&b, 99, 16, 32, 32, 2);
    lb_string(&b, "pool");
    lb_module(&b, "/nonexistent/prog", 0x400000, 0x400000, 0x500000);
    struct tg_log_thread *m = lb_thread(&b, TG_THRF_MAIN, TG_TS_BLOCKED,
                                        TG_WAIT_JOIN);
    m->wait_stack = lb_stack1(&b, 0x401000);
    for (int i = 0; i < 4; i++) {
        struct tg_log_thread *t = lb_thread(&b, 0, TG_TS_BLOCKED,
                                            TG_WAIT_MUTEX);
        uint64_t pcs[3] = { 0x401100 + i, 0x401200, 0x401300 };
        t->wait_stack = lb_stack_v(&b, 3, pcs);
        t->create_stack = lb_stack1(&b, 0x401400);
        t->wait_obj = 0x9000 + i;
        t->held_count = 1;
        t->held[0].obj = 1;
        t->wait_since_ns = 1000;
    }
    lb_thread(&b, 0, TG_TS_EXITED, 0);
    for (int i = 0; i < 6; i++)
        lb_object(&b, i < 4 ? TG_LOBJ_MUTEX : TG_LOBJ_CTX, 0x9000 + i)->flags =
            i >= 4 ? TG_OBJF_CANCELABLE : 0;
    lb_edge(&b, 1, 2, 2, 0);
    lb_edge(&b, 2, 3, 3, 1, 4u);
    lb_edge(&b, 3, 1, 4, 0);
    lb_edge(&b, 2, 1, 2, 0);
    struct tg_log_finding *f = lb_finding(&b, TG_FIND_DEADLOCK);
    f->nthreads = 2;
    f->threads[0].thread = 2;
    f->threads[1].thread = 3;
    f = lb_finding(&b, TG_FIND_MISUSE);
    f->subkind = TG_MIS_RELOCK;
    f->thread = 2;
    f->obj_id = 1;
    f = lb_finding(&b, TG_FIND_LEAK);
    f->thread = 3;
    f = lb_finding(&b, TG_FIND_RACE);
    f->thread = 2;
    f->thread2 = 3;
    f->value = f->obj = 0x9108;
    f->subkind = TG_RACE_ACC(8, true, false) | TG_RACE_ACC(8, false, true) << 16;
    f->stack = lb_stack1(&b, 0x401500);
    f->stack2 = lb_stack1(&b, 0x401600);
    f->obj_id = 2;
    f->nthreads = 3;
    f->threads[0].thread = 1;
    f->threads[0].wait_stack = lb_stack1(&b, 0x401700);
    f->threads[0].wait_obj = 0x9100;
    f->threads[0].wait_op = 32;
    f->threads[1].wait_obj = 0x9000;
    f->threads[2].wait_obj = 0x9001;
    f->threads[2].wait_op = 1;
    struct tg_log_chunk *c = lb_chunk(&b, 0, 1, 0);
    for (int i = 0; i < 50; i++)
        lb_event(c, TG_EV_LOCK, 0x9000, i);
    return b;
}

#ifdef TANGLE_ANALYZER_H
/* Runs every analysis on the built log and returns the finished report
 * (free with report_free). */
static inline struct an_report *lb_analyze(struct lb *b,
                                           const struct an_options *o)
{
    struct an_options def;
    if (!o) {
        report_options_init(&def);
        o = &def;
    }
    struct tlog *log;
    char *err = NULL;
    if (tlog_open_mem(b->buf, b->size, "test.tlog", &log, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        free(err);
        return NULL;
    }
    struct an_report *rep = report_new();
    report_add_log(rep, log, o);
    tlog_close(log);
    report_finish(rep, NULL);
    return rep;
}
#endif

#endif
