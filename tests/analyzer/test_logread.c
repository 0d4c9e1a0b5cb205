/*
 * test_logread.c: the log reader's checks. Every damaged input must give a
 * clear error naming the file (and the offset where there is one), never a
 * crash, and still the analysis of whatever is intact.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer.h"
#include "logbuild.h"
#include "logread.h"

static struct lb two_threads(void)
{
    struct lb b;
    lb_init(&b, 77);
    lb_thread(&b, TG_THRF_MAIN, TG_TS_RUNNING, 0);
    lb_thread(&b, 0, TG_TS_BLOCKED, TG_WAIT_CHAN_SEND);
    return b;
}

Test(logread, valid_log_opens_without_errors_and_copies_tables)
{
    struct lb b = two_threads();
    lb_object(&b, TG_LOBJ_MUTEX, 0x1000);
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "ok.tlog", &log, &err), 0);
    cr_assert_eq(log->nerrors, 0);
    cr_assert_eq(log->hdr.pid, 77);
    cr_assert_not_null(tlog_thread(log, 2));
    cr_assert_eq(tlog_thread(log, 2)->wait_op, TG_WAIT_CHAN_SEND);
    cr_assert_null(tlog_thread(log, 3));
    cr_assert_eq(tlog_object_at(log, 0x1000)->kind, TG_LOBJ_MUTEX);
    tlog_close(log);
    lb_free(&b);
}

Test(logread, empty_input_is_an_error_naming_the_file)
{
    struct tlog *log;
    char *err = NULL;
    cr_assert_lt(tlog_open_mem("", 0, "empty.tlog", &log, &err), 0);
    cr_assert_null(log);
    cr_assert(strstr(err, "'empty.tlog'") && strstr(err, "empty"), "%s", err);
    free(err);
}

Test(logread, non_log_file_is_rejected_by_its_magic_at_offset_0)
{
    const char text[] = "#!/bin/sh\necho this is not a log\n";
    struct tlog *log;
    char *err = NULL;
    cr_assert_lt(tlog_open_mem(text, sizeof text, "script.sh", &log, &err), 0);
    cr_assert(strstr(err, "cannot read 'script.sh'") &&
              strstr(err, "not a tangle log") && strstr(err, "offset 0"),
              "%s", err);
    free(err);
}

Test(logread, wrong_version_is_rejected_with_both_versions_named)
{
    struct lb b = two_threads();
    b.h->version = 9;
    struct tlog *log;
    char *err = NULL;
    cr_assert_lt(tlog_open_mem(b.buf, b.size, "v9.tlog", &log, &err), 0);
    cr_assert(strstr(err, "'v9.tlog'") && strstr(err, "version 9") &&
              strstr(err, "version 1") && strstr(err, "offset 8"), "%s", err);
    free(err);
    lb_free(&b);
}

Test(logread, other_byte_order_is_rejected)
{
    struct lb b = two_threads();
    b.h->endian = 0x04030201;
    struct tlog *log;
    char *err = NULL;
    cr_assert_lt(tlog_open_mem(b.buf, b.size, "be.tlog", &log, &err), 0);
    cr_assert(strstr(err, "byte order"), "%s", err);
    free(err);
    lb_free(&b);
}

Test(logread, truncated_header_is_an_error_with_the_offset)
{
    struct lb b = two_threads();
    struct tlog *log;
    char *err = NULL;
    cr_assert_lt(tlog_open_mem(b.buf, 100, "short.tlog", &log, &err), 0);
    cr_assert(strstr(err, "truncated header at offset 100"), "%s", err);
    free(err);
    lb_free(&b);
}

Test(logread, truncated_file_keeps_the_intact_tables_and_names_the_offset)
{
    struct lb b = two_threads();
    /* Cut inside the second object: the first and the threads survive. */
    size_t rec = sizeof(struct tg_log_object);
    size_t cut = b.h->sec[TG_SEC_OBJECTS].offset + rec + 10;
    for (int i = 0; i < 3; i++)
        lb_object(&b, TG_LOBJ_MUTEX, 0x1000 + i);
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, cut, "cut.tlog", &log, &err), 0);
    cr_assert_geq(log->nerrors, 1);
    bool named = false;
    char want[64];
    snprintf(want, sizeof want, "truncated record at offset %zu",
             (size_t)b.h->sec[TG_SEC_OBJECTS].offset + rec);
    for (size_t i = 0; i < log->nerrors; i++)
        named |= strstr(log->errors[i], "cannot read 'cut.tlog'") &&
                 strstr(log->errors[i], want);
    cr_assert(named, "first error: %s", log->errors[0]);
    cr_assert_not_null(tlog_thread(log, 2), "threads before the cut survive");
    cr_assert_not_null(tlog_object(log, 1));
    cr_assert_null(tlog_object(log, 2));
    tlog_close(log);
    lb_free(&b);
}

Test(logread, uncommitted_records_are_skipped)
{
    struct lb b = two_threads();
    struct tg_log_thread *t = lb_thread(&b, 0, TG_TS_RUNNING, 0);
    t->commit = 0;                      /* torn: the writer died mid-way */
    struct tg_log_edge *e = lb_edge(&b, 1, 2, 1, 0);
    lb_object(&b, TG_LOBJ_MUTEX, 0x10);
    lb_object(&b, TG_LOBJ_MUTEX, 0x20);
    e->commit = 12345;
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "torn.tlog", &log, &err), 0);
    cr_assert_null(tlog_thread(log, 3));
    cr_assert_not_null(tlog_thread(log, 2));
    cr_assert_eq(log->nedges, 0);
    tlog_close(log);
    lb_free(&b);
}

Test(logread, section_past_the_end_of_file_is_reported_not_read)
{
    struct lb b = two_threads();
    b.h->sec[TG_SEC_EDGES].offset = b.size + 4096 * 10;
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "sec.tlog", &log, &err), 0);
    cr_assert_geq(log->nerrors, 1);
    cr_assert(strstr(log->errors[0], "'edges'") &&
              strstr(log->errors[0], "offset"), "%s", log->errors[0]);
    cr_assert_eq(log->nedges, 0);
    tlog_close(log);
    lb_free(&b);
}

Test(logread, stack_ids_out_of_bounds_or_oversized_give_no_frames)
{
    struct lb b = two_threads();
    uint64_t pcs[3] = { 0x401000, 0x401100, 0x401200 };
    uint32_t id = lb_stack_v(&b, 3, pcs);
    uint32_t bad = lb_stack1(&b, 0x1);
    struct tg_log_stack *st = (struct tg_log_stack *)(
        b.buf + b.h->sec[TG_SEC_STACKS].offset + (bad - 1) * 8);
    st->nframes = 100000;               /* lies about its length */
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "st.tlog", &log, &err), 0);
    uint32_t n;
    const uint64_t *p = tlog_stack(log, id, &n);
    cr_assert_not_null(p);
    cr_assert_eq(n, 3);
    cr_assert_eq(p[2], 0x401200);
    cr_assert_null(tlog_stack(log, bad, &n));
    cr_assert_null(tlog_stack(log, 0, &n));
    cr_assert_null(tlog_stack(log, 0xffffffffu, &n));
    cr_assert_eq(n, 0);
    tlog_close(log);
    lb_free(&b);
}

Test(logread, strings_must_be_terminated_inside_their_section)
{
    struct lb b = two_threads();
    uint32_t id = lb_string(&b, "pool-a");
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "s.tlog", &log, &err), 0);
    cr_assert_str_eq(tlog_string(log, id), "pool-a");
    cr_assert_null(tlog_string(log, 0));
    cr_assert_null(tlog_string(log, 100000));
    tlog_close(log);
    lb_free(&b);
}

Test(logread, thread_with_a_wrong_id_is_dropped_with_an_error)
{
    struct lb b = two_threads();
    struct tg_log_thread *t = lb_thread(&b, 0, TG_TS_RUNNING, 0);
    t->id = 99;
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "id.tlog", &log, &err), 0);
    cr_assert_null(tlog_thread(log, 3));
    cr_assert_geq(log->nerrors, 1);
    cr_assert(strstr(log->errors[0], "id 99"), "%s", log->errors[0]);
    tlog_close(log);
    lb_free(&b);
}

/* A race record as log.h describes it: thread 3's write of 4 bytes at
 * 0x5008 against thread 2's read, in a 64-byte block at 0x5000. */
static struct tg_log_finding *race_rec(struct lb *b)
{
    struct tg_log_finding *f = lb_finding(b, TG_FIND_RACE);
    f->thread = 3;
    f->thread2 = 2;
    f->value = f->obj = 0x5008;
    f->subkind = TG_RACE_ACC(4, true, false) |
                 TG_RACE_ACC(4, false, false) << 16;
    f->stack = lb_stack1(b, 0x401000);
    f->stack2 = lb_stack1(b, 0x402000);
    f->nthreads = 2;
    f->threads[0].thread = 1;
    f->threads[0].wait_obj = 0x5000;
    f->threads[0].wait_op = 64;
    f->threads[1].wait_obj = 0x9000;
    return f;
}

Test(logread, damaged_race_records_are_skipped_with_an_error_naming_them)
{
    struct lb b = two_threads();
    lb_thread(&b, 0, TG_TS_EXITED, 0);
    race_rec(&b)->thread2 = 0;                            /* one thread */
    race_rec(&b)->thread = 65;                            /* past the table */
    race_rec(&b)->subkind = TG_RACE_ACC(4, true, false);  /* size 0 */
    race_rec(&b)->subkind = TG_RACE_ACC(4, false, false) |
                            TG_RACE_ACC(4, false, false) << 16;
    race_rec(&b)->subkind = TG_RACE_ACC(4, true, true) |
                            TG_RACE_ACC(4, false, true) << 16;
    race_rec(&b)->obj = 0x5040;                           /* past the block */
    race_rec(&b)->threads[1].wait_op = 2;                 /* whose lock? */
    struct tg_log_finding *ok = race_rec(&b);
    ok->threads[0] = (struct tg_log_finding_thread){0};   /* no block */
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "race.tlog", &log, &err), 0);
    static const char *const why[] = {
        "does not name two threads",
        "names a thread past the end of the thread table",
        "has an access of size 0",
        "has no write",
        "has two atomic accesses",
        "names a heap block that does not hold the address",
        "has a held lock of neither access",
    };
    size_t n = sizeof why / sizeof why[0];
    cr_assert_eq(log->nerrors, n);
    uint64_t first = b.h->sec[TG_SEC_FINDINGS].offset;
    for (size_t i = 0; i < n; i++) {
        char want[160];
        snprintf(want, sizeof want, "'race.tlog': race finding record at "
                 "offset %llu %s: skipped", (unsigned long long)
                 (first + i * sizeof(struct tg_log_finding)), why[i]);
        cr_assert(strstr(log->errors[i], want), "%s", log->errors[i]);
    }
    cr_assert_eq(log->nfindings, 1);
    cr_assert_eq(log->findings[0].kind, TG_FIND_RACE);
    /* the intact record is still analyzed, the errors go with it */
    struct an_options o;
    report_options_init(&o);
    struct an_report *rep = report_new();
    struct an_process *p = report_add_log(rep, log, &o);
    report_finish(rep, NULL);
    cr_assert_eq(rep->counts[AN_RACE], 1);
    cr_assert_eq(p->nerrors, n);
    report_free(rep);
    tlog_close(log);
    lb_free(&b);
}

struct collect {
    uint32_t thread[16];
    uint64_t addr[16];
    size_t n;
};

static int collect(void *ctx, uint32_t thread, const struct tg_log_event *ev)
{
    struct collect *c = ctx;
    if (c->n < 16) {
        c->thread[c->n] = thread;
        c->addr[c->n++] = ev->addr;
    }
    return 0;
}

Test(logread, events_come_per_thread_in_chunk_sequence_order)
{
    struct lb b = two_threads();
    /* Chunks laid out out of order: thread 2 seq 1, thread 1, thread 2 seq 0. */
    struct tg_log_chunk *c = lb_chunk(&b, 0, 2, 1);
    lb_event(c, TG_EV_LOCK, 3, 0);
    c = lb_chunk(&b, 1, 1, 0);
    lb_event(c, TG_EV_LOCK, 1, 0);
    c = lb_chunk(&b, 2, 2, 0);
    lb_event(c, TG_EV_LOCK, 2, 0);
    lb_event(c, TG_EV_UNLOCK, 22, 0);
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "ev.tlog", &log, &err), 0);
    struct collect got = {0};
    struct tlog_event_stats st;
    cr_assert_eq(tlog_events(log, collect, &got, &st), 0);
    cr_assert_eq(st.events, 4);
    cr_assert_eq(got.n, 4);
    uint64_t want[4] = { 1, 2, 22, 3 };
    for (int i = 0; i < 4; i++)
        cr_assert_eq(got.addr[i], want[i], "event %d", i);
    tlog_close(log);
    lb_free(&b);
}

Test(logread, chunk_claiming_more_events_than_fit_is_skipped)
{
    struct lb b = two_threads();
    struct tg_log_chunk *c = lb_chunk(&b, 0, 1, 0);
    lb_event(c, TG_EV_LOCK, 1, 0);
    c->used = 1000000;
    struct tlog *log;
    char *err = NULL;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "ch.tlog", &log, &err), 0);
    struct collect got = {0};
    struct tlog_event_stats st;
    tlog_events(log, collect, &got, &st);
    cr_assert_eq(got.n, 0);
    cr_assert_eq(st.torn, 1);
    tlog_close(log);
    lb_free(&b);
}

Test(logread, file_reader_names_the_path_and_rejects_directories)
{
    struct tlog *log;
    char *err = NULL;
    cr_assert_lt(tlog_open("/", &log, &err), 0);
    cr_assert(strstr(err, "cannot read '/'"), "%s", err);
    free(err);
    cr_assert_lt(tlog_open("/nonexistent/x.tlog", &log, &err), 0);
    cr_assert(strstr(err, "'/nonexistent/x.tlog'"), "%s", err);
    free(err);

    struct lb b = two_threads();
    char path[] = "/tmp/tangle-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(lb_write(&b, path, b.size), 0);
    cr_assert_eq(tlog_open(path, &log, &err), 0);
    cr_assert_eq(log->hdr.pid, 77);
    cr_assert_not_null(tlog_thread(log, 2));
    tlog_close(log);
    unlink(path);
    lb_free(&b);
}
