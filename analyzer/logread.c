/*
 * logread.c: reads a tangle log without trusting it.
 *
 * The idea is elfutils' habit: every number taken from the file is checked
 * against what the file can hold before it is used, and a problem found in
 * one table is reported with the file name and offset while every other
 * table is still read. Fixed tables are copied out record by record, each
 * one only after an acquire load of its commit word, so a live writer's
 * half-made record is never mistaken for a real one; thread and object
 * records' mutable parts are re-read until their sequence word is even and
 * unchanged. The event stream stays in the mapping and is walked chunk by
 * chunk in tlog_events.
 */
#include "logread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer.h"

#define SEQ_RETRIES 8

static const char *const sec_names[TG_SEC_COUNT] = {
    "strings", "modules", "stacks", "threads", "objects", "edges",
    "findings", "events",
};

/* Fixed record sizes this reader knows; a writer may append fields, so a
 * larger stride is accepted and only the known prefix is read. */
static const size_t sec_min_rec[TG_SEC_COUNT] = {
    0, sizeof(struct tg_log_module), 0, sizeof(struct tg_log_thread),
    sizeof(struct tg_log_object), sizeof(struct tg_log_edge),
    sizeof(struct tg_log_finding), sizeof(struct tg_log_chunk),
};

static void log_error(struct tlog *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_error(struct tlog *log, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Many damaged records would bury the report: keep the first few. */
    if (log->nerrors >= 20)
        return;
    log->errors = xrealloc(log->errors, (log->nerrors + 1) * sizeof(char *));
    if (log->nerrors == 19)
        log->errors[log->nerrors++] = xasprintf(
            "tangle: cannot read '%s': more errors not shown", log->path);
    else
        log->errors[log->nerrors++] =
            xasprintf("tangle: cannot read '%s': %s", log->path, msg);
}

static uint32_t load32(const void *p)
{
    return atomic_load_explicit((const _Atomic uint32_t *)p,
                                memory_order_acquire);
}

static uint64_t load64(const void *p)
{
    return atomic_load_explicit((const _Atomic uint64_t *)p,
                                memory_order_acquire);
}

/* Checks header.sec[i] and fills log->sec[i]. */
static void check_section(struct tlog *log, int i)
{
    const struct tg_log_section *s = &log->hdr.sec[i];
    struct tlog_sec *ls = &log->sec[i];
    size_t hdr_off = offsetof(struct tg_log_header, sec) +
                     (size_t)i * sizeof(struct tg_log_section);
    const struct tg_log_section *live =
        (const struct tg_log_section *)(log->map + hdr_off);

    memset(ls, 0, sizeof *ls);
    if (s->size == 0)
        return;                       /* absent section: nothing to read */
    if (s->offset < TG_LOG_HEADER_SIZE || s->offset % 8) {
        log_error(log, "section '%s' has a bad offset %llu (header at "
                  "offset %zu)", sec_names[i], (unsigned long long)s->offset,
                  hdr_off);
        return;
    }
    if (s->offset >= log->size) {
        log_error(log, "truncated: section '%s' at offset %llu is past the "
                  "end of the file (%zu bytes)", sec_names[i],
                  (unsigned long long)s->offset, log->size);
        return;
    }
    ls->off = s->offset;
    ls->size = s->size;
    if (s->size > log->size - s->offset) {
        log_error(log, "truncated: section '%s' at offset %llu ends past the "
                  "end of the file (%zu bytes)", sec_names[i],
                  (unsigned long long)s->offset, log->size);
        ls->size = log->size - s->offset;
    }
    uint64_t used = load64(&live->used);
    ls->dropped = load64(&live->dropped);
    if (sec_min_rec[i]) {
        uint64_t rs = s->rec_size;
        if (i == TG_SEC_EVENTS && rs == 0)
            rs = TG_LOG_CHUNK_BYTES;
        if (rs < sec_min_rec[i] || rs % 8 || rs > (1u << 24)) {
            log_error(log, "section '%s' has a bad record size %llu (header "
                      "at offset %zu)", sec_names[i], (unsigned long long)rs,
                      hdr_off);
            return;
        }
        ls->rec_size = rs;
        uint64_t cap = s->size / rs, fit = ls->size / rs;
        /* Events: chunks are handed out in order and `used` only grows
         * (a ring stops at the capacity), so slots past it were never
         * written: not touching them saves a page fault per 64 KiB slot. */
        if (used > cap)
            used = cap;               /* handed out past the end: dropped */
        if (used > fit) {
            log_error(log, "truncated record at offset %llu (section '%s')",
                      (unsigned long long)(ls->off + fit * rs), sec_names[i]);
            used = fit;
        }
        ls->count = used;
    } else {
        if (used > s->size)
            used = s->size;
        if (used > ls->size) {
            log_error(log, "truncated record at offset %llu (section '%s')",
                      (unsigned long long)(ls->off + ls->size), sec_names[i]);
            used = ls->size;
        }
        ls->count = used;
    }
    ls->ok = true;
}

static const unsigned char *rec_at(const struct tlog *log, int sec, size_t i)
{
    return log->map + log->sec[sec].off + i * log->sec[sec].rec_size;
}

/* Copies a record whose tail is guarded by a sequence word at seq_off:
 * retried until the word is even and unchanged. Returns false when it
 * never settled (the copy is still made). */
static bool copy_seqlocked(void *dst, const unsigned char *src, size_t size,
                           size_t seq_off)
{
    for (int tries = 0; tries < SEQ_RETRIES; tries++) {
        uint32_t s1 = load32(src + seq_off);
        memcpy(dst, src, size);
        atomic_thread_fence(memory_order_acquire);
        uint32_t s2 = load32(src + seq_off);
        if (s1 == s2 && !(s1 & 1))
            return true;
    }
    return false;
}

static void read_threads(struct tlog *log)
{
    struct tlog_sec *s = &log->sec[TG_SEC_THREADS];
    if (!s->ok || !s->count)
        return;
    log->nthreads = s->count;
    log->threads = xcalloc(s->count, sizeof *log->threads);
    log->thread_torn = xcalloc(s->count, sizeof(bool));
    for (size_t i = 0; i < s->count; i++) {
        const unsigned char *p = rec_at(log, TG_SEC_THREADS, i);
        if (load32(p) != TG_LOG_COMMITTED)
            continue;
        struct tg_log_thread *t = &log->threads[i];
        log->thread_torn[i] = !copy_seqlocked(t, p, sizeof *t,
                                  offsetof(struct tg_log_thread, seq));
        t->name[sizeof t->name - 1] = 0;
        if (t->id != i + 1) {
            log_error(log, "thread record at offset %llu has id %u, "
                      "expected %zu", (unsigned long long)(p - log->map),
                      t->id, i + 1);
            memset(t, 0, sizeof *t);
            continue;
        }
        if (t->held_count > TG_LOG_MAX_HELD)
            t->held_count = TG_LOG_MAX_HELD;   /* only these are stored */
        if (t->state < TG_TS_RUNNING || t->state > TG_TS_EXITED)
            t->state = TG_TS_RUNNING;
        if (t->wait_op >= TG_WAIT_OP_COUNT)
            t->wait_op = TG_WAIT_NONE;
    }
}

static void read_objects(struct tlog *log)
{
    struct tlog_sec *s = &log->sec[TG_SEC_OBJECTS];
    if (!s->ok || !s->count)
        return;
    log->nobjects = s->count;
    log->objects = xcalloc(s->count, sizeof *log->objects);
    for (size_t i = 0; i < s->count; i++) {
        const unsigned char *p = rec_at(log, TG_SEC_OBJECTS, i);
        if (load32(p) != TG_LOG_COMMITTED)
            continue;
        struct tg_log_object *o = &log->objects[i];
        memcpy(o, p, sizeof *o);
        /* flags and the event fields change after commit; a plain re-read
         * of flags with acquire is the best a reader can do. */
        o->flags = load32(p + offsetof(struct tg_log_object, flags));
        if (o->id != i + 1 || o->kind == 0 || o->kind >= TG_LOBJ_KIND_COUNT) {
            log_error(log, "object record at offset %llu is malformed "
                      "(id %u, kind %u)", (unsigned long long)(p - log->map),
                      o->id, o->kind);
            memset(o, 0, sizeof *o);
        }
    }
}

static void read_edges(struct tlog *log)
{
    struct tlog_sec *s = &log->sec[TG_SEC_EDGES];
    if (!s->ok || !s->count)
        return;
    log->edges = xcalloc(s->count, sizeof *log->edges);
    for (size_t i = 0; i < s->count; i++) {
        const unsigned char *p = rec_at(log, TG_SEC_EDGES, i);
        if (load32(p) != TG_LOG_COMMITTED)
            continue;
        /* ngates first (acquire): it publishes the gates[] it counts. */
        uint32_t ngates = load32(p + offsetof(struct tg_log_edge, ngates));
        struct tg_log_edge e;
        memcpy(&e, p, sizeof e);
        e.ngates = ngates;
        if (!tlog_object(log, e.from) || !tlog_object(log, e.to)) {
            log_error(log, "edge record at offset %llu names unknown "
                      "objects %u -> %u", (unsigned long long)(p - log->map),
                      e.from, e.to);
            continue;
        }
        if (e.ngates > TG_LOG_MAX_GATES)
            e.ngates = TG_LOG_MAX_GATES;
        log->edges[log->nedges++] = e;
    }
}

/* Why a TG_FIND_RACE record cannot be what log.h describes, or NULL. Only
 * what no writer can produce is refused: a thread id of 0 or past the
 * thread table, an access of no bytes, two reads, two atomics, a heap
 * block that does not hold the address it was given for, a lock on
 * neither side. */
static const char *race_damage(const struct tlog *log,
                               const struct tg_log_finding *f)
{
    const struct tlog_sec *ts = &log->sec[TG_SEC_THREADS];
    uint64_t cap = ts->ok ? ts->size / ts->rec_size : 0;
    uint32_t later = f->subkind & 0xffffu, earlier = f->subkind >> 16;
    if (!f->thread || !f->thread2 || f->thread == f->thread2)
        return "does not name two threads";
    if (cap && (f->thread > cap || f->thread2 > cap || f->obj_id > cap))
        return "names a thread past the end of the thread table";
    if (!TG_RACE_ACC_SIZE(later) || !TG_RACE_ACC_SIZE(earlier))
        return "has an access of size 0";
    if (!TG_RACE_ACC_WRITE(later) && !TG_RACE_ACC_WRITE(earlier))
        return "has no write";
    if (TG_RACE_ACC_ATOMIC(later) && TG_RACE_ACC_ATOMIC(earlier))
        return "has two atomic accesses";
    if ((TG_RACE_ACC_FREE(later) && !TG_RACE_ACC_WRITE(later)) ||
        (TG_RACE_ACC_FREE(earlier) && !TG_RACE_ACC_WRITE(earlier)))
        return "has a free that is not a write";
    if (f->nthreads) {
        const struct tg_log_finding_thread *b = &f->threads[0];
        uint64_t size = (uint64_t)b->holder << 32 | b->wait_op;
        if ((b->wait_obj || size) &&
            (f->obj < b->wait_obj || f->obj - b->wait_obj >= size))
            return "names a heap block that does not hold the address";
    }
    for (uint32_t i = 1; i < f->nthreads; i++)
        if (f->threads[i].wait_op > 1)
            return "has a held lock of neither access";
    return NULL;
}

static void read_findings(struct tlog *log)
{
    struct tlog_sec *s = &log->sec[TG_SEC_FINDINGS];
    if (!s->ok || !s->count)
        return;
    log->findings = xcalloc(s->count, sizeof *log->findings);
    for (size_t i = 0; i < s->count; i++) {
        const unsigned char *p = rec_at(log, TG_SEC_FINDINGS, i);
        if (load32(p) != TG_LOG_COMMITTED)
            continue;
        struct tg_log_finding f;
        memcpy(&f, p, sizeof f);
        if (f.kind < TG_FIND_MISUSE || f.kind > TG_FIND_RACE) {
            log_error(log, "finding record at offset %llu has unknown kind "
                      "%u", (unsigned long long)(p - log->map), f.kind);
            continue;
        }
        if (f.nthreads > TG_LOG_MAX_CYCLE) {
            log_error(log, "finding record at offset %llu lists %u threads "
                      "(at most %d fit)", (unsigned long long)(p - log->map),
                      f.nthreads, TG_LOG_MAX_CYCLE);
            f.nthreads = TG_LOG_MAX_CYCLE;
        }
        const char *why = f.kind == TG_FIND_RACE ? race_damage(log, &f) : NULL;
        if (why) {
            log_error(log, "race finding record at offset %llu %s: skipped",
                      (unsigned long long)(p - log->map), why);
            continue;
        }
        log->findings[log->nfindings++] = f;
    }
}

static void read_modules(struct tlog *log)
{
    struct tlog_sec *s = &log->sec[TG_SEC_MODULES];
    if (!s->ok || !s->count)
        return;
    log->modules = xcalloc(s->count, sizeof *log->modules);
    for (size_t i = 0; i < s->count; i++) {
        const unsigned char *p = rec_at(log, TG_SEC_MODULES, i);
        if (load32(p) != TG_LOG_COMMITTED)
            continue;
        struct tg_log_module m;
        memcpy(&m, p, sizeof m);
        m.path[sizeof m.path - 1] = 0;
        if (m.build_id_len > sizeof m.build_id)
            m.build_id_len = 0;       /* cannot be checked: trust the path */
        if (m.end < m.start) {
            log_error(log, "module record at offset %llu has an empty range",
                      (unsigned long long)(p - log->map));
            continue;
        }
        log->modules[log->nmodules++] = m;
    }
}

static int fail(char **err, int code, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char **err, int code, const char *name, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err)
        *err = xasprintf("tangle: cannot read '%s': %s", name, msg);
    return code;
}

int tlog_open_mem(const void *buf, size_t size, const char *name,
                  struct tlog **out, char **err)
{
    *out = NULL;
    if (err)
        *err = NULL;
    if (size == 0)
        return fail(err, -ENODATA, name, "empty file");
    if ((uintptr_t)buf % 8)
        return fail(err, -EINVAL, name, "buffer not 8-byte aligned");
    if (size < 8 || memcmp(buf, TG_LOG_MAGIC, 8) != 0)
        return fail(err, -EINVAL, name, "not a tangle log (bad magic at "
                    "offset 0)");
    if (size < sizeof(struct tg_log_header))
        return fail(err, -EINVAL, name, "truncated header at offset %zu "
                    "(%zu bytes, the header needs %zu)", size, size,
                    sizeof(struct tg_log_header));
    struct tlog *log = xcalloc(1, sizeof *log);
    log->fd = -1;
    log->path = xstrdup(name);
    log->map = buf;
    log->size = size;
    memcpy(&log->hdr, buf, sizeof log->hdr);
    const struct tg_log_header *h = &log->hdr;
    int rc = 0;
    if (h->endian != TG_LOG_ENDIAN)
        rc = fail(err, -EPROTO, name, "written on a machine of another byte "
                  "order (endian word 0x%08x at offset %zu)", h->endian,
                  offsetof(struct tg_log_header, endian));
    else if (h->version != TG_LOG_VERSION)
        rc = fail(err, -EPROTO, name, "log version %u, this tangle reads "
                  "version %u (offset %zu)", h->version, TG_LOG_VERSION,
                  offsetof(struct tg_log_header, version));
    else if (h->header_size != TG_LOG_HEADER_SIZE)
        rc = fail(err, -EPROTO, name, "bad header size %u at offset %zu",
                  h->header_size, offsetof(struct tg_log_header, header_size));
    if (rc) {
        tlog_close(log);
        return rc;
    }
    log->hdr.exe[sizeof h->exe - 1] = 0;
    log->hdr.cmdline[sizeof h->cmdline - 1] = 0;
    log->hdr.options[sizeof h->options - 1] = 0;
    log->hdr.proc_state = load32((const unsigned char *)buf +
                                 offsetof(struct tg_log_header, proc_state));
    log->hdr.end_ns = load64((const unsigned char *)buf +
                             offsetof(struct tg_log_header, end_ns));
    if (h->file_size > size)
        log_error(log, "truncated at offset %zu (the header says %llu bytes)",
                  size, (unsigned long long)h->file_size);
    if (size < TG_LOG_HEADER_SIZE)
        log_error(log, "truncated header at offset %zu", size);
    for (int i = 0; i < TG_SEC_COUNT; i++)
        check_section(log, i);
    read_modules(log);
    read_threads(log);
    read_objects(log);
    read_edges(log);
    read_findings(log);
    *out = log;
    return 0;
}

int tlog_open(const char *path, struct tlog **out, char **err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, -errno, path, "%s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fail(err, -e, path, "%s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, -EINVAL, path, "not a regular file");
    }
    if (st.st_size == 0) {
        close(fd);
        return fail(err, -ENODATA, path, "empty file");
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        close(fd);
        return fail(err, -e, path, "cannot map: %s", strerror(e));
    }
    int rc = tlog_open_mem(map, size, path, out, err);
    if (rc < 0) {
        munmap(map, size);
        close(fd);
        return rc;
    }
    (*out)->owns_map = true;
    (*out)->fd = fd;
    return 0;
}

void tlog_close(struct tlog *log)
{
    if (!log)
        return;
    if (log->owns_map)
        munmap((void *)log->map, log->size);
    if (log->fd >= 0)
        close(log->fd);
    for (size_t i = 0; i < log->nerrors; i++)
        free(log->errors[i]);
    free(log->errors);
    free(log->threads);
    free(log->thread_torn);
    free(log->objects);
    free(log->edges);
    free(log->findings);
    free(log->modules);
    free(log->path);
    free(log);
}

const uint64_t *tlog_stack(const struct tlog *log, uint32_t id, uint32_t *n)
{
    *n = 0;
    const struct tlog_sec *s = &log->sec[TG_SEC_STACKS];
    if (id == 0 || !s->ok)
        return NULL;
    uint64_t off = ((uint64_t)id - 1) * 8;
    if (off >= s->count || s->count - off < sizeof(struct tg_log_stack))
        return NULL;
    const unsigned char *p = log->map + s->off + off;
    if (load32(p) != TG_LOG_COMMITTED)
        return NULL;
    const struct tg_log_stack *st = (const struct tg_log_stack *)p;
    uint32_t nf = st->nframes;
    if (nf > TG_LOG_MAX_FRAMES ||
        (s->count - off - sizeof *st) / 8 < nf)
        return NULL;
    *n = nf;
    return st->pc;
}

const char *tlog_string(const struct tlog *log, uint32_t id)
{
    const struct tlog_sec *s = &log->sec[TG_SEC_STRINGS];
    if (id == 0 || !s->ok || (uint64_t)id - 1 >= s->count)
        return NULL;
    const char *p = (const char *)log->map + s->off + (id - 1);
    if (!memchr(p, 0, s->count - (id - 1)))
        return NULL;
    return p;
}

const struct tg_log_thread *tlog_thread(const struct tlog *log, uint32_t id)
{
    if (id == 0 || id > log->nthreads)
        return NULL;
    const struct tg_log_thread *t = &log->threads[id - 1];
    return t->commit == TG_LOG_COMMITTED ? t : NULL;
}

const struct tg_log_object *tlog_object(const struct tlog *log, uint32_t id)
{
    if (id == 0 || id > log->nobjects)
        return NULL;
    const struct tg_log_object *o = &log->objects[id - 1];
    return o->commit == TG_LOG_COMMITTED ? o : NULL;
}

const struct tg_log_object *tlog_object_at(const struct tlog *log,
                                           uint64_t addr)
{
    const struct tg_log_object *best = NULL;
    for (size_t i = 0; i < log->nobjects; i++) {
        const struct tg_log_object *o = &log->objects[i];
        if (o->commit != TG_LOG_COMMITTED || o->addr != addr)
            continue;
        if (!best || o->generation >= best->generation)
            best = o;
    }
    return best;
}

struct chunk_ref {
    uint32_t thread;
    uint64_t seq;
    uint64_t index;
};

static int chunk_cmp(const void *a, const void *b)
{
    const struct chunk_ref *x = a, *y = b;
    if (x->thread != y->thread)
        return x->thread < y->thread ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The first len bytes of event chunk i. A log opened from a file is read
 * with pread into buf, not through the mapping: every page touched through
 * a shared mapping stays in the analyzer's resident set (and the kernel's
 * fault-around maps neighbours too), so streaming a large log that way
 * grows memory with the number of events; copying from the page cache
 * does not, and costs about as much as the page faults it replaces.
 * Returns NULL when the file is shorter than the section said (it was
 * truncated after it was opened). */
static const unsigned char *chunk_read(const struct tlog *log, uint64_t i,
                                       void *buf, size_t len)
{
    const unsigned char *p = rec_at(log, TG_SEC_EVENTS, i);
    if (log->fd < 0)
        return p;
    off_t off = (off_t)(p - log->map);
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(log->fd, (char *)buf + got, len - got,
                          off + (off_t)got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return NULL;
        }
        got += (size_t)r;
    }
    return buf;
}

int tlog_events(struct tlog *log, tlog_event_fn fn, void *ctx,
                struct tlog_event_stats *stats)
{
    struct tlog_event_stats st = {0};
    const struct tlog_sec *s = &log->sec[TG_SEC_EVENTS];
    int rc = 0;
    if (!s->ok || !s->count)
        goto out;
    struct chunk_ref *refs = xmalloc(s->count * sizeof *refs);
    unsigned char *buf = xmalloc(s->rec_size);
    size_t n = 0;
    for (uint64_t i = 0; i < s->count; i++) {
        const unsigned char *p =
            chunk_read(log, i, buf, sizeof(struct tg_log_chunk));
        if (!p || load32(p) != TG_LOG_COMMITTED)
            continue;
        const struct tg_log_chunk *c = (const struct tg_log_chunk *)p;
        refs[n].thread = c->thread;
        refs[n].seq = c->thread_seq;
        refs[n].index = i;
        n++;
    }
    qsort(refs, n, sizeof *refs, chunk_cmp);
    uint64_t max_events = (s->rec_size - sizeof(struct tg_log_chunk)) /
                          sizeof(struct tg_log_event);
    for (size_t k = 0; k < n && !rc; k++) {
        const unsigned char *p = chunk_read(log, refs[k].index, buf,
                                            s->rec_size);
        if (!p) {
            st.torn++;
            continue;
        }
        const struct tg_log_chunk *c = (const struct tg_log_chunk *)p;
        uint64_t gen = load64(p + offsetof(struct tg_log_chunk, generation));
        uint32_t used = load32(p + offsetof(struct tg_log_chunk, used));
        if (used > c->cap || c->cap > max_events ||
            c->thread != refs[k].thread) {
            st.torn++;
            continue;
        }
        const struct tg_log_event *ev =
            (const struct tg_log_event *)(p + sizeof(struct tg_log_chunk));
        for (uint32_t j = 0; j < used; j++) {
            if (ev[j].type == TG_EV_NONE || ev[j].type >= TG_EV_TYPE_COUNT)
                continue;
            rc = fn(ctx, refs[k].thread, &ev[j]);
            if (rc)
                break;
            st.events++;
        }
        /* A flight ring may have reused the chunk while we read it: read its
         * header again (also with pread: see chunk_read). */
        struct tg_log_chunk again;
        const unsigned char *h = chunk_read(log, refs[k].index, &again,
                                            sizeof again);
        if (!h || load64(h + offsetof(struct tg_log_chunk, generation)) != gen)
            st.torn++;
        st.chunks++;
    }
    free(buf);
    free(refs);
out:
    if (stats)
        *stats = st;
    return rc;
}
