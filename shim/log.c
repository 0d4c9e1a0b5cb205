/*
 * shim/log.c: creates the per-process log file and hands out its records.
 *
 * The file is made once per process (and again in a forked child) with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, sized with one ftruncate so it is
 * sparse, and mapped MAP_SHARED: whatever the shim wrote survives a crash
 * or kill -9 and can be read while the program runs. Fixed-size tables are
 * append-only arrays whose slots are reserved with one atomic add; a slot
 * past the end is counted in the section's `dropped` and never written, so
 * no table forgets silently. Options come from TANGLE_OPTIONS, parsed
 * strictly: a bad value is one warning naming it, then the default.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"

struct tg__global tg__g = { .fd = -1 };

void tg__warn(const char *fmt, ...)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "tangle: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len++] = '\n';
    ssize_t w = write(2, buf, len);
    (void)w;
}

int64_t tg__deadline(clockid_t clock, const struct timespec *abs)
{
    if (!abs)
        return INT64_MAX;
    int64_t want = (int64_t)abs->tv_sec * 1000000000 + abs->tv_nsec;
    if (clock == CLOCK_MONOTONIC)
        return want;
    struct timespec now;
    clock_gettime(clock, &now);
    int64_t left = want - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
    return (int64_t)tg__now() + left;
}

/* ---- options ---------------------------------------------------------- */

static bool parse_uint(const char *key, const char *val, size_t len,
                       unsigned lo, unsigned hi, unsigned *out)
{
    /* Decimal digits only, by hand: strtoul would fault in another 64 KB
     * of libc's code for this one call at start-up. */
    if (len == 0 || len > 19)
        goto bad;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (val[i] < '0' || val[i] > '9')
            goto bad;
        v = v * 10 + (uint64_t)(val[i] - '0');
    }
    if (v < lo || v > hi)
        goto bad;
    *out = (unsigned)v;
    return true;
bad:
    tg__warn("TANGLE_OPTIONS: bad value '%.*s' for '%s', using the default",
             (int)len, val, key);
    return false;
}

void tg__options_parse(struct tg__options *o)
{
    bool events_set = false;
    *o = (struct tg__options){ .watchdog_ms = 1000, .stack_depth = 32,
                               .events_mb = 4, .exit_settle_ms = 100,
                               .lock_spin_us = 50 };
    const char *s = getenv("TANGLE_OPTIONS");
    if (!s)
        return;
    while (*s) {
        const char *item = s;
        const char *comma = strchr(s, ',');
        size_t ilen = comma ? (size_t)(comma - s) : strlen(s);
        s = comma ? comma + 1 : s + ilen;
        if (ilen == 0)
            continue;
        const char *eq = memchr(item, '=', ilen);
        if (!eq) {
            tg__warn("TANGLE_OPTIONS: '%.*s' is not key=value, ignored",
                     (int)ilen, item);
            continue;
        }
        size_t klen = (size_t)(eq - item);
        const char *val = eq + 1;
        size_t vlen = ilen - klen - 1;
        char key[32];
        if (klen >= sizeof key)
            klen = sizeof key - 1;
        memcpy(key, item, klen);
        key[klen] = 0;
        unsigned v;
        if (!strcmp(key, "mode")) {
            if (vlen == 4 && !memcmp(val, "full", 4))
                o->full = true;
            else if (vlen == 6 && !memcmp(val, "flight", 6))
                o->full = false;
            else
                tg__warn("TANGLE_OPTIONS: bad value '%.*s' for 'mode' "
                         "(flight|full), using the default", (int)vlen, val);
        } else if (!strcmp(key, "race")) {
            if (vlen == 3 && !memcmp(val, "log", 3)) {
                o->race = o->race_log = true;
            } else if (parse_uint(key, val, vlen, 0, 1, &v)) {
                o->race = v;
                o->race_log = false;
            }
        } else if (!strcmp(key, "watchdog")) {
            if (parse_uint(key, val, vlen, 0, 3600000, &v))
                o->watchdog_ms = v;
        } else if (!strcmp(key, "deadlock_abort")) {
            if (parse_uint(key, val, vlen, 0, 1, &v))
                o->deadlock_abort = v;
        } else if (!strcmp(key, "stack_depth")) {
            if (parse_uint(key, val, vlen, 1, TG_LOG_MAX_FRAMES, &v))
                o->stack_depth = v;
        } else if (!strcmp(key, "events_mb")) {
            if (parse_uint(key, val, vlen, 1, 4096, &v)) {
                o->events_mb = v;
                events_set = true;
            }
        } else if (!strcmp(key, "exit_settle")) {
            if (parse_uint(key, val, vlen, 0, 60000, &v))
                o->exit_settle_ms = v;
        } else if (!strcmp(key, "lock_spin")) {
            if (parse_uint(key, val, vlen, 0, 1000, &v))
                o->lock_spin_us = v;
        } else if (!strcmp(key, "race_sample")) {
            /* read and checked by shim/tsan.c */
        } else if (!strcmp(key, "verbose")) {
            if (parse_uint(key, val, vlen, 0, 1, &v))
                o->verbose = v;
        } else {
            tg__warn("TANGLE_OPTIONS: unknown option '%s', ignored", key);
        }
    }
    /* race=log checks offline: the analyzer needs every event. The
     * in-process checker logs only races, so the flight recorder will do. */
    if (o->race_log)
        o->full = true;
    /* A ring is touched whole once it wraps: keep it small. Full mode
     * keeps every event, and its file stays sparse until written. */
    if (o->full && !events_set)
        o->events_mb = 1024;
    tg__rc_on = o->race && !o->race_log;
}

/* ---- the file ------------------------------------------------------------ */

/* Record counts and byte sizes of the tables. Generous: the file is sparse,
 * so an unused slot costs address space, not memory. */
static const struct {
    uint32_t rec_size;
    uint64_t count;     /* records, or bytes for variable sections */
} layout[TG_SEC_EVENTS] = {
    [TG_SEC_STRINGS] = { 0, 1u << 20 },
    [TG_SEC_MODULES] = { sizeof(struct tg_log_module), 1024 },
    [TG_SEC_STACKS]  = { 0, 32u << 20 },
    /* every thread the process ever starts (a long test binary starts
     * many in turn): 262,144 records, about 130 MB of address space */
    [TG_SEC_THREADS] = { sizeof(struct tg_log_thread), 262144 },
    [TG_SEC_OBJECTS] = { sizeof(struct tg_log_object), 262144 },
    [TG_SEC_EDGES]   = { sizeof(struct tg_log_edge), 131072 },
    [TG_SEC_FINDINGS] = { sizeof(struct tg_log_finding), 4096 },
};

static uint64_t page_up(uint64_t v)
{
    return (v + 4095) & ~(uint64_t)4095;
}

static void read_file(const char *path, char *buf, size_t cap, bool nul_to_space)
{
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    while (got > 0 && buf[got - 1] == 0)
        got--;
    buf[got] = 0;
    if (nul_to_space)
        for (size_t i = 0; i < got; i++)
            if (buf[i] == 0)
                buf[i] = ' ';
}

bool tg__log_open(int parent_pid)
{
    static bool warned;
    const char *dir = getenv("TANGLE_DIR");
    if (!dir || !*dir)
        dir = "/dev/shm";
    uint64_t real_ns, mono_ns = tg__now();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    real_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    int pid = getpid();

    /* DIR/tangle.PID.NS.tlog, put together by hand: snprintf would fault
     * in some 100 KB of libc's code that the program may never use. */
    char path[PATH_MAX], num[2][24];
    const char *part[] = { dir, "/tangle.", num[0], ".", num[1], TG_LOG_SUFFIX };
    uint64_t val[2] = { (uint64_t)pid, mono_ns };
    for (int k = 0; k < 2; k++) {
        char rev[24];
        int d = 0;
        do
            rev[d++] = (char)('0' + val[k] % 10);
        while ((val[k] /= 10) != 0);
        for (int i = 0; i < d; i++)
            num[k][i] = rev[d - 1 - i];
        num[k][d] = 0;
    }
    size_t n = 0;
    for (size_t k = 0; k < sizeof part / sizeof *part && n < sizeof path; k++) {
        size_t l = strlen(part[k]);
        if (l >= sizeof path - n) {
            n = sizeof path;
            break;
        }
        memcpy(path + n, part[k], l + 1);
        n += l;
    }
    if (n >= sizeof path) {
        if (!warned)
            tg__warn("TANGLE_DIR '%s' is too long; running untraced", dir);
        warned = true;
        return false;
    }

    /* Lay out the sections. */
    uint64_t off = TG_LOG_HEADER_SIZE;
    uint64_t offs[TG_SEC_COUNT], sizes[TG_SEC_COUNT];
    for (int s = 0; s < TG_SEC_COUNT; s++) {
        off = page_up(off);
        uint64_t sz;
        if (s == TG_SEC_EVENTS)
            sz = (uint64_t)tg__g.opt.events_mb << 20;
        else if (layout[s].rec_size)
            sz = layout[s].rec_size * layout[s].count;
        else
            sz = layout[s].count;
        offs[s] = off;
        sizes[s] = sz;
        off += sz;
    }
    uint64_t total = page_up(off);

    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (!warned)
            tg__warn("cannot create log '%s': %s; running untraced", path,
                     strerror(errno));
        warned = true;
        return false;
    }
    void *base = MAP_FAILED;
    if (ftruncate(fd, (off_t)total) == 0)
        base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        if (!warned)
            tg__warn("cannot size or map log '%s': %s; running untraced",
                     path, strerror(errno));
        warned = true;
        unlink(path);
        close(fd);
        return false;
    }

    if (tg__g.base)
        munmap(tg__g.base, tg__g.size);
    if (tg__g.fd >= 0)
        close(tg__g.fd);
    tg__g.fd = fd;
    tg__g.base = base;
    tg__g.size = total;
    tg__g.pid = pid;
    struct tg_log_header *h = base;
    tg__g.hdr = h;

    memcpy(h->magic, TG_LOG_MAGIC, 8);
    h->version = TG_LOG_VERSION;
    h->header_size = TG_LOG_HEADER_SIZE;
    h->endian = TG_LOG_ENDIAN;
    h->flags = (tg__g.opt.full ? TG_LOGF_FULL : 0) |
               (tg__g.opt.race_log ? TG_LOGF_RACE : 0) |
               (tg__rc_on ? TG_LOGF_RACE_CHECK : 0) |
               (tg__g.opt.watchdog_ms ? TG_LOGF_WATCHDOG : 0) |
               (parent_pid ? TG_LOGF_FORK_CHILD : 0) |
               (getenv("TANGLE_RUN") ? TG_LOGF_UNDER_RUN : 0);
    h->file_size = total;
    h->pid = pid;
    h->parent_pid = parent_pid;
    h->start_real_ns = real_ns;
    h->start_mono_ns = mono_ns;
    ssize_t el = readlink("/proc/self/exe", h->exe, sizeof h->exe - 1);
    h->exe[el > 0 ? el : 0] = 0;
    read_file("/proc/self/cmdline", h->cmdline, sizeof h->cmdline, true);
    const char *o = getenv("TANGLE_OPTIONS");
    if (o) {
        size_t ol = strnlen(o, sizeof h->options - 1);
        memcpy(h->options, o, ol);
        h->options[ol] = 0;
    }
    for (int s = 0; s < TG_SEC_COUNT; s++) {
        h->sec[s].offset = offs[s];
        h->sec[s].size = sizes[s];
        h->sec[s].rec_size = s == TG_SEC_EVENTS ? TG_LOG_CHUNK_BYTES
                                                : layout[s].rec_size;
        tg__g.sec[s] = (char *)base + offs[s];
        if (s == TG_SEC_EVENTS)
            tg__g.cap[s] = sizes[s] / TG_LOG_CHUNK_BYTES;
        else if (layout[s].rec_size)
            tg__g.cap[s] = layout[s].count;
        else
            tg__g.cap[s] = sizes[s];
    }
    atomic_store_explicit(&h->proc_state, TG_PROC_RUNNING, RELAXED);
    atomic_store_explicit(&tg__g.finished, 0, RELAXED);
    if (tg__g.opt.verbose)
        tg__warn("logging to %s", path);
    return true;
}

void *tg__rec_alloc(int sec, uint32_t *id_out)
{
    struct tg_log_section *s = &tg__g.hdr->sec[sec];
    uint64_t i = atomic_fetch_add_explicit(&s->used, 1, RELAXED);
    if (i >= tg__g.cap[sec]) {
        atomic_fetch_add_explicit(&s->dropped, 1, RELAXED);
        return NULL;
    }
    if (id_out)
        *id_out = (uint32_t)i + 1;
    return tg__g.sec[sec] + i * s->rec_size;
}

void *tg__rec_get(int sec, uint32_t id)
{
    if (id == 0 || id > tg__g.cap[sec] || !tg__g.hdr)
        return NULL;
    return tg__g.sec[sec] + (uint64_t)(id - 1) * tg__g.hdr->sec[sec].rec_size;
}

uint32_t tg__string(const char *str)
{
    if (!str || !tg__g.hdr)
        return 0;
    size_t len = strlen(str) + 1;
    struct tg_log_section *s = &tg__g.hdr->sec[TG_SEC_STRINGS];
    uint64_t off = atomic_fetch_add_explicit(&s->used, len, RELAXED);
    if (off + len > tg__g.cap[TG_SEC_STRINGS]) {
        atomic_fetch_add_explicit(&s->dropped, 1, RELAXED);
        return 0;
    }
    memcpy(tg__g.sec[TG_SEC_STRINGS] + off, str, len);
    return (uint32_t)off + 1;
}
