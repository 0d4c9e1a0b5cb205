/*
 * test_fuzz_log.c: the log reader and every analysis on deterministically
 * mutated logs. A valid log with something in every table is damaged by a
 * seeded PRNG (bit flips, overwritten words, random counts and offsets in
 * the header, truncation) many thousand times; the reader and the analyses
 * must never crash or read outside the buffer. The buffer is copied into
 * an mmap'ed region followed by a PROT_NONE guard page, so a read past the
 * end faults instead of going unnoticed (up to the 7 bytes that
 * alignment leaves). Bounded to well under 20 s.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "analyzer.h"
#include "logbuild.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static int count_event(void *ctx, uint32_t thread,
                       const struct tg_log_event *ev)
{
    (void)thread;
    *(uint64_t *)ctx += ev->addr & 1;
    return 0;
}

/* Copies the log to the end of a mapping followed by a guard page. */
static unsigned char *guarded(const unsigned char *src, size_t len,
                              void **map, size_t *maplen)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (len + page - 1) / page * page;
    *maplen = body + page;
    *map = mmap(NULL, *maplen, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(*map, MAP_FAILED);
    mprotect((unsigned char *)*map + body, page, PROT_NONE);
    /* As close to the guard as 8-byte alignment (a mapping's) allows. */
    unsigned char *p = (unsigned char *)*map + ((body - len) & ~(size_t)7);
    memcpy(p, src, len);
    return p;
}

static void mutate(unsigned char *p, size_t len, size_t *newlen)
{
    *newlen = len;
    int kind = (int)(next() % 6);
    int rounds = 1 + (int)(next() % 8);
    for (int r = 0; r < rounds; r++) {
        switch (kind) {
        case 0:                       /* bit flips anywhere */
            p[next() % len] ^= (unsigned char)(1u << (next() % 8));
            break;
        case 1: {                     /* a random 32-bit word */
            size_t off = (next() % (len / 4)) * 4;
            uint32_t v = (uint32_t)next();
            memcpy(p + off, &v, 4);
            break;
        }
        case 2: {                     /* header: section fields */
            struct tg_log_header *h = (struct tg_log_header *)p;
            int s = (int)(next() % TG_SEC_COUNT);
            uint64_t v = next();
            switch (next() % 5) {
            case 0: h->sec[s].offset = v % (len * 2); break;
            case 1: h->sec[s].size = v % (len * 2); break;
            case 2: h->sec[s].rec_size = (uint32_t)(v % 70000); break;
            case 3: h->sec[s].used = v % 100000; break;
            default: h->sec[s].offset = v; h->sec[s].size = ~v; break;
            }
            break;
        }
        case 3:                       /* truncation */
            *newlen = 1 + next() % len;
            break;
        case 4: {                     /* counts and ids inside records */
            size_t off = TG_LOG_HEADER_SIZE +
                         (next() % ((len - TG_LOG_HEADER_SIZE) / 4)) * 4;
            uint32_t v = (uint32_t)(next() % 3 == 0 ? next() : next() % 64);
            memcpy(p + off, &v, 4);
            break;
        }
        default: {                    /* smash a run of bytes */
            size_t off = next() % len;
            size_t n = next() % 256;
            for (size_t i = 0; i < n && off + i < len; i++)
                p[off + i] = (unsigned char)next();
            break;
        }
        }
    }
}

Test(fuzz_log, the_unmutated_log_is_clean_and_has_a_finding_of_each_record)
{
    struct lb b = lb_rich_log();
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "rich.tlog", &log, &err), 0);
    cr_assert_eq(log->nerrors, 0, "%s", log->errors[0]);
    struct an_options opt;
    report_options_init(&opt);
    struct an_report *rep = report_new();
    report_add_log(rep, log, &opt);
    report_finish(rep, NULL);
    cr_assert_eq(rep->counts[AN_DEADLOCK], 1);
    cr_assert_eq(rep->counts[AN_MISUSE], 1);
    cr_assert_eq(rep->counts[AN_RACE], 1);
    report_free(rep);
    tlog_close(log);
    lb_free(&b);
}

Test(fuzz_log, mutated_logs_never_crash_the_reader_or_analyses,
     .timeout = 120)
{
    struct lb b = lb_rich_log();
    struct an_options opt;
    report_options_init(&opt);
    opt.show_gated = true;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t iters = 0, opened = 0;
    unsigned char *work = malloc(b.size);
    for (; iters < 20000; iters++) {
        memcpy(work, b.buf, b.size);
        size_t len;
        mutate(work, b.size, &len);
        void *map;
        size_t maplen;
        unsigned char *p = guarded(work, len, &map, &maplen);
        struct tlog *log;
        char *err = NULL;
        if (tlog_open_mem(p, len, "fuzz.tlog", &log, &err) == 0) {
            opened++;
            struct an_report *rep = report_new();
            opt.hang = iters % 2;
            report_add_log(rep, log, &opt);
            uint64_t odd = 0;
            tlog_events(log, count_event, &odd, NULL);
            report_finish(rep, NULL);
            /* The writers walk every field: run them too. */
            FILE *null = fopen("/dev/null", "w");
            report_json(null, rep, &opt);
            report_text(null, rep, &opt);
            report_sarif(null, rep, &opt);
            fclose(null);
            report_free(rep);
            tlog_close(log);
        } else {
            cr_assert_not_null(err);
            cr_assert(strstr(err, "'fuzz.tlog'"), "%s", err);
            free(err);
        }
        munmap(map, maplen);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec >= 15)
            break;                    /* a slow machine: keep the bound */
    }
    free(work);
    lb_free(&b);
    cr_assert_gt(iters, 100, "only %zu iterations ran", iters);
    cr_assert_gt(opened, iters / 10, "mutations should leave many logs "
                 "readable (%zu of %zu)", opened, iters);
}

Test(fuzz_log, every_truncation_length_is_handled, .timeout = 120)
{
    struct lb b = lb_rich_log();
    size_t page = 4096;
    /* Every length up to the header, then a step through the sections. */
    for (size_t len = 0; len < b.size; len += len < TG_LOG_HEADER_SIZE + 64
                                                  ? 1 : page / 4 + 3) {
        void *map;
        size_t maplen;
        unsigned char *p = guarded(b.buf, len ? len : 1, &map, &maplen);
        struct tlog *log;
        char *err = NULL;
        int rc = tlog_open_mem(p, len, "cut.tlog", &log, &err);
        if (len < sizeof(struct tg_log_header)) {
            cr_assert_lt(rc, 0, "length %zu", len);
            free(err);
        } else {
            cr_assert_eq(rc, 0, "length %zu: %s", len, err ? err : "");
            struct an_report *rep = report_new();
            struct an_options opt;
            report_options_init(&opt);
            report_add_log(rep, log, &opt);
            report_free(rep);
            if (len < b.size)
                cr_assert_gt(log->nerrors, 0, "a cut at %zu is reported", len);
            tlog_close(log);
        }
        munmap(map, maplen);
    }
    lb_free(&b);
}
