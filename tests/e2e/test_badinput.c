/*
 * test_badinput.c: tangle under hostile conditions. The analyzer is given
 * logs that are truncated, corrupted, empty, of another version or not
 * logs at all, and must answer with a clear error naming the file (and the
 * offset of the damage), exit 65 when nothing is usable, and never crash.
 * The shim is given programs that fork, exec, dlopen, cancel threads, end
 * from a non-main thread, crash or get kill -9, and must keep a log that
 * tells the story; it must create that log safely (0600, never through a
 * planted symlink), shrug off bad options and an unusable log directory,
 * and `tangle run` must honour its documented exit status, --timeout, -o,
 * --format sarif and suppressions.
 */
#include <fcntl.h>
#include <stddef.h>
#include <sys/types.h>

#include <tangle/log.h>

#include "e2e.h"

#define SRC "hostile.c"

TestSuite(badinput, .fini = e2e_cleanup);

/* ---- helpers ------------------------------------------------------------ */

/* Runs `hostile leak1` keeping its log; returns the log's path in out. */
static void make_log(struct e2e_run *r, char *out, size_t cap)
{
    char opts[160];
    e2e_init(r);
    snprintf(opts, sizeof opts, "--keep-logs %s/logs", r->dir);
    e2e_run(r, opts, "hostile", "leak1", NULL);
    e2e_assert_report(r);
    char logs[128];
    snprintf(logs, sizeof logs, "%s/logs", r->dir);
    int n = e2e_find_file(logs, TG_LOG_SUFFIX, out, cap);
    cr_assert_eq(n, 1, "--keep-logs must leave one log in %s, found %d;"
                 "\nstderr:\n%s", logs, n, r->err);
}

/* The error output (stderr and the report's process errors) names path's
 * file name. */
static bool names_file(struct e2e_run *r, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    return strstr(r->err, base) ||
           (r->report_text && strstr(r->report_text, base));
}

static bool says(struct e2e_run *r, const char *word)
{
    return strstr(r->err, word) || (r->report_text && strstr(r->report_text,
                                                             word));
}

/* `tangle report` on a bad file: ended on its own, a documented status,
 * and the file named in the error. */
static void report_bad(struct e2e_run *r, const char *path)
{
    e2e_init(r);
    e2e_report(r, NULL, path, NULL);
    e2e_assert_ended(r);
    cr_assert(r->status == 0 || r->status == E2E_EXIT_BADLOG ||
                  r->status == E2E_EXIT_FINDINGS,
              "undocumented exit %d for %s; stderr:\n%s", r->status, path,
              r->err);
}

/* A copy of log `src` at `dst`, with fn applied to its bytes. */
static void copy_log(const char *src, const char *dst, size_t keep,
                     void (*fn)(char *buf, size_t len))
{
    size_t len;
    char *buf = e2e_slurp(src, &len);
    cr_assert(buf, "cannot read %s", src);
    cr_assert(len >= TG_LOG_HEADER_SIZE, "log %s too short: %zu", src, len);
    if (fn)
        fn(buf, len);
    e2e_write_file(dst, buf, keep && keep < len ? keep : len);
    free(buf);
}

static struct tg_log_header *hdr(char *buf)
{
    return (struct tg_log_header *)buf;
}

/* ---- the analyzer on bad logs ------------------------------------------ */

Test(badinput, truncated_header_is_unusable_exit_65_naming_the_file,
     .timeout = 120)
{
    struct e2e_run src, r;
    char log[256], bad[256];
    make_log(&src, log, sizeof log);
    snprintf(bad, sizeof bad, "%s/truncated.tlog", src.dir);
    copy_log(log, bad, 100, NULL);
    report_bad(&r, bad);
    cr_assert_eq(r.status, E2E_EXIT_BADLOG, "stderr:\n%s", r.err);
    cr_assert(names_file(&r, bad), "error must name the file:\n%s", r.err);
}

static size_t cut_at;
static void note_threads_offset(char *buf, size_t len)
{
    cut_at = hdr(buf)->sec[TG_SEC_THREADS].offset + 100;
}

Test(badinput, log_truncated_inside_a_section_is_reported_with_the_offset,
     .timeout = 120)
{
    struct e2e_run src, r;
    char log[256], bad[256];
    make_log(&src, log, sizeof log);
    snprintf(bad, sizeof bad, "%s/cut.tlog", src.dir);
    copy_log(log, bad, 0, note_threads_offset);
    copy_log(log, bad, cut_at, NULL);
    report_bad(&r, bad);
    cr_assert(names_file(&r, bad), "error must name the file:\n%s\n%s",
              r.err, E2E_REPORT(&r));
    cr_assert(says(&r, "offset"), "error must give the offset:\n%s\n%s",
              r.err, E2E_REPORT(&r));
}

static void bad_section_offset(char *buf, size_t len)
{
    hdr(buf)->sec[TG_SEC_STACKS].offset = (uint64_t)len * 4 + 4096;
}

Test(badinput, section_pointing_past_the_file_is_an_error_with_the_offset,
     .timeout = 120)
{
    struct e2e_run src, r;
    char log[256], bad[256];
    make_log(&src, log, sizeof log);
    snprintf(bad, sizeof bad, "%s/badsec.tlog", src.dir);
    copy_log(log, bad, 0, bad_section_offset);
    report_bad(&r, bad);
    cr_assert(names_file(&r, bad), "%s\n%s", r.err, E2E_REPORT(&r));
    cr_assert(says(&r, "offset"), "%s\n%s", r.err, E2E_REPORT(&r));
}

static void huge_frame_count(char *buf, size_t len)
{
    struct tg_log_header *h = hdr(buf);
    uint64_t off = h->sec[TG_SEC_STACKS].offset;
    if (off + sizeof(struct tg_log_stack) <= len) {
        struct tg_log_stack *s = (struct tg_log_stack *)(buf + off);
        s->nframes = 0x7fffffffu;
    }
}

Test(badinput, stack_record_with_absurd_frame_count_is_damage_not_a_crash,
     .timeout = 120)
{
    struct e2e_run src, r;
    char log[256], bad[256];
    make_log(&src, log, sizeof log);
    snprintf(bad, sizeof bad, "%s/frames.tlog", src.dir);
    copy_log(log, bad, 0, huge_frame_count);
    report_bad(&r, bad);
    cr_assert(names_file(&r, bad), "%s\n%s", r.err, E2E_REPORT(&r));
    cr_assert(says(&r, "offset"), "%s\n%s", r.err, E2E_REPORT(&r));
}

static int flip_section;
static void flip_bytes(char *buf, size_t len)
{
    uint64_t off = hdr(buf)->sec[flip_section].offset;
    /* Flip every byte of the first 4 KiB of the section (record headers,
     * counts and ids alike). */
    for (uint64_t i = off; i < off + 4096 && i < len; i++)
        buf[i] = (char)~buf[i];
}

Test(badinput, flipped_bytes_in_every_section_never_crash_the_analyzer,
     .timeout = 300)
{
    struct e2e_run src;
    char log[256];
    make_log(&src, log, sizeof log);
    for (flip_section = 0; flip_section < TG_SEC_COUNT; flip_section++) {
        struct e2e_run r;
        char bad[256];
        snprintf(bad, sizeof bad, "%s/flip%d.tlog", src.dir, flip_section);
        copy_log(log, bad, 0, flip_bytes);
        report_bad(&r, bad);
        e2e_free(&r);
    }
}

Test(badinput, empty_file_is_unusable_exit_65_naming_the_file,
     .timeout = 60)
{
    struct e2e_run r;
    char bad[256];
    e2e_init(&r);
    snprintf(bad, sizeof bad, "%s/empty.tlog", r.dir);
    e2e_write_file(bad, "", 0);
    struct e2e_run rep;
    report_bad(&rep, bad);
    cr_assert_eq(rep.status, E2E_EXIT_BADLOG, "stderr:\n%s", rep.err);
    cr_assert(names_file(&rep, bad), "%s", rep.err);
}

static void wrong_version(char *buf, size_t len)
{
    hdr(buf)->version = 99;
}

Test(badinput, log_of_another_version_is_unusable_exit_65_saying_version,
     .timeout = 120)
{
    struct e2e_run src, r;
    char log[256], bad[256];
    make_log(&src, log, sizeof log);
    snprintf(bad, sizeof bad, "%s/v99.tlog", src.dir);
    copy_log(log, bad, 0, wrong_version);
    report_bad(&r, bad);
    cr_assert_eq(r.status, E2E_EXIT_BADLOG, "stderr:\n%s", r.err);
    cr_assert(names_file(&r, bad), "%s", r.err);
    cr_assert(says(&r, "version"), "%s", r.err);
}

Test(badinput, text_file_is_not_a_log_exit_65_naming_the_file,
     .timeout = 60)
{
    struct e2e_run r;
    char bad[256];
    e2e_init(&r);
    snprintf(bad, sizeof bad, "%s/notes.txt", r.dir);
    static char text[20000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "not a tangle log\n"[i % 17];
    e2e_write_file(bad, text, sizeof text);
    struct e2e_run rep;
    report_bad(&rep, bad);
    cr_assert_eq(rep.status, E2E_EXIT_BADLOG, "stderr:\n%s", rep.err);
    cr_assert(names_file(&rep, bad), "%s", rep.err);
}

Test(badinput, missing_file_is_an_error_naming_it_not_a_crash,
     .timeout = 60)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_report(&r, NULL, "/nonexistent/tangle.1.1.tlog", NULL);
    e2e_assert_ended(&r);
    cr_assert_neq(r.status, 0);
    cr_assert(strstr(r.err, "tangle.1.1.tlog"), "%s", r.err);
}

/* ---- programs that change or end in awkward ways ------------------------ */

Test(badinput, forked_child_gets_its_own_log_and_its_leak_has_its_pid,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "fork", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    long child = (long)e2e_out_value(&r, "child");
    long parent = (long)e2e_out_value(&r, "parent");
    cr_assert(e2e_len(e2e_get(r.json, "processes")) >= 2,
              "parent and child each have a log:\n%s", E2E_REPORT(&r));
    json_object *cp = e2e_process(&r, child);
    cr_assert(cp, "no process %ld in:\n%s", child, E2E_REPORT(&r));
    cr_assert_eq(e2e_int(cp, "parent_pid", -1), parent, "%s", e2e_dump(cp));
    cr_assert(e2e_process(&r, parent), "%s", E2E_REPORT(&r));
    json_object *f = e2e_must_find(&r, "leak", NULL, "stuck_receiver");
    cr_assert_eq(e2e_int(f, "pid", -1), child, "the leak is the child's:\n%s",
                 e2e_dump(f));
    cr_assert_eq(e2e_count(&r, "leak", NULL), 1, "%s", E2E_REPORT(&r));
}

Test(badinput, exec_starts_a_fresh_log_and_the_new_image_is_analyzed,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "exec", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    long pid = (long)e2e_out_value(&r, "pid");
    json_object *f = e2e_must_find(&r, "leak", NULL, "stuck_receiver");
    cr_assert_eq(e2e_int(f, "pid", -1), pid, "%s", e2e_dump(f));
    json_object *ps = e2e_get(r.json, "processes");
    bool execed = false;
    for (size_t i = 0; i < e2e_len(ps); i++) {
        const char *st = e2e_str(e2e_at(ps, i), "state");
        execed |= st && !strcmp(st, "execed");
    }
    cr_assert(execed, "the image before exec shows state execed:\n%s",
              E2E_REPORT(&r));
}

Test(badinput, leak_in_a_dlopened_library_is_symbolized_in_that_library,
     .timeout = 180)
{
    struct e2e_run cc, r;
    char lib[128];
    e2e_init(&cc);
    snprintf(lib, sizeof lib, "%s/libdlo.so", cc.dir);
    char *argv[] = { "cc", "-shared", "-fPIC", "-O0", "-g",
                     TANGLE_TOP "/tests/e2e/extra/dlo.c", "-o", lib,
                     "-pthread", NULL };
    e2e_exec(&cc, argv);
    e2e_assert_ended(&cc);
    cr_assert_eq(cc.status, 0, "cannot build the library:\n%s", cc.err);
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "dlopen", lib, NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    json_object *f = e2e_must_find(&r, "leak", NULL, "dlo_worker");
    json_object *t = e2e_thread_in(f, "dlo_worker");
    cr_assert(t, "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(t, "state"), "sem wait", "%s", e2e_dump(t));
    e2e_assert_frame(e2e_get(t, "stack"), "dlo_worker", "../extra/dlo.c",
                     "dlo_wait");
}

Test(badinput, cancelled_and_joined_thread_leaves_nothing, .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "cancel", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(e2e_out_value(&r, "canceled"), 1);
    cr_assert_eq(r.status, 0, "stderr:\n%s\nreport:\n%s", r.err,
                 E2E_REPORT(&r));
    e2e_assert_clean(&r);
}

Test(badinput, pthread_exit_from_main_ends_cleanly_with_status_0,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    /* The process ends when its last thread does, about 200 ms in. */
    r.timeout_s = 30;
    e2e_run(&r, NULL, "hostile", "main_exit", NULL);
    e2e_assert_report(&r);
    cr_assert(strstr(r.out, "worker done"), "worker must run to the end");
    cr_assert_eq(r.status, 0, "stderr:\n%s\nreport:\n%s", r.err,
                 E2E_REPORT(&r));
    e2e_assert_clean(&r);
    json_object *p = e2e_process(&r, 0);
    cr_assert_str_eq(e2e_str(p, "state"), "exited", "%s", e2e_dump(p));
    cr_assert_eq(e2e_int(p, "exit_code", -1), 0, "%s", e2e_dump(p));
}

Test(badinput, exit_from_a_worker_keeps_the_status_and_reports_no_leak,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "worker_exit", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 3, "tangle run must pass on the command's own "
                 "status 3, got %d;\nstderr:\n%s\nreport:\n%s", r.status,
                 r.err, E2E_REPORT(&r));
    e2e_assert_none(&r, "leak");
    json_object *p = e2e_process(&r, 0);
    cr_assert_str_eq(e2e_str(p, "state"), "exited", "%s", e2e_dump(p));
    cr_assert_eq(e2e_int(p, "exit_code", -1), 3, "%s", e2e_dump(p));
}

Test(badinput, sigsegv_leaves_a_log_whose_report_shows_signaled_and_the_leak,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "segv", NULL);
    e2e_assert_report(&r);
    cr_assert(strstr(r.out, "crashing"), "program must get to the crash");
    json_object *p = e2e_process(&r, 0);
    cr_assert_str_eq(e2e_str(p, "state"), "signaled", "%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_int(p, "exit_code", -1), SIGSEGV, "%s", e2e_dump(p));
    json_object *f = e2e_must_find(&r, "leak", NULL, "stuck_receiver");
    e2e_assert_frame(e2e_get(e2e_thread_in(f, "stuck_receiver"), "stack"),
                     "stuck_receiver", SRC, "h_stuck");
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
}

Test(badinput, underscore_exit_still_writes_the_end_and_the_leak,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "_exit", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    json_object *p = e2e_process(&r, 0);
    cr_assert_str_eq(e2e_str(p, "state"), "exited", "%s", e2e_dump(p));
    cr_assert_eq(e2e_int(p, "exit_code", -1), 5, "%s", e2e_dump(p));
    json_object *f = e2e_must_find(&r, "leak", NULL, "stuck_receiver");
    cr_assert_str_eq(e2e_str(e2e_thread_in(f, "stuck_receiver"), "state"),
                     "chan receive", "%s", e2e_dump(f));
}

Test(badinput, program_own_sigsegv_handler_still_runs_under_the_shim,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "segv_handler", NULL);
    e2e_assert_report(&r);
    cr_assert(strstr(r.out, "handled"), "the program's handler must run;"
              "\nstdout:\n%s\nstderr:\n%s", r.out, r.err);
    json_object *p = e2e_process(&r, 0);
    cr_assert_eq(e2e_int(p, "exit_code", -1), 9,
                 "the handler's _exit(9) ends the process:\n%s", e2e_dump(p));
    e2e_must_find(&r, "leak", NULL, "stuck_receiver");
}

Test(badinput, log_made_under_tangle_run_is_flagged_under_run,
     .timeout = 120)
{
    struct e2e_run r;
    char log[256];
    make_log(&r, log, sizeof log);
    struct tg_log_header h;
    int fd = open(log, O_RDONLY);
    cr_assert(fd >= 0, "cannot open %s", log);
    ssize_t got = read(fd, &h, sizeof h);
    close(fd);
    cr_assert_eq(got, (ssize_t)sizeof h, "cannot read the header of %s", log);
    cr_assert(h.flags & TG_LOGF_UNDER_RUN, "tangle run must set TANGLE_RUN "
              "so the shim flags its log (flags 0x%x)", (unsigned)h.flags);
}

Test(badinput, sigint_to_tangle_run_is_recorded_as_signaled_and_exits_130,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    char *argv[] = { E2E_TANGLE, "run", "--format", "json", "-o",
                     r.report_path, "--", E2E_PROGDIR "hostile", "idle",
                     NULL };
    e2e_start(&r, argv);
    bool ready = e2e_wait_output(&r, "ready");
    /* To tangle, as a Ctrl-C would be: it forwards it to the program. */
    kill(r.pid, SIGINT);
    e2e_finish(&r);
    cr_assert(ready, "program never got ready; stderr:\n%s", r.err);
    cr_assert_eq(r.status, 128 + SIGINT, "tangle run must pass on the "
                 "death by SIGINT as 130, got %d;\nstderr:\n%s\nreport:\n%s",
                 r.status, r.err, E2E_REPORT(&r));
    e2e_assert_report(&r);
    json_object *p = e2e_process(&r, 0);
    cr_assert_str_eq(e2e_str(p, "state"), "signaled", "%s", e2e_dump(p));
    cr_assert_eq(e2e_int(p, "exit_code", -1), SIGINT, "%s", e2e_dump(p));
}

Test(badinput, program_handler_that_reraises_ends_signaled_with_its_snapshot,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "reraise", NULL);
    cr_assert(strstr(r.out, "dfl=1"), "the shim's stand-in must look like "
              "SIG_DFL to the program:\n%s", r.out);
    cr_assert(strstr(r.out, "handled"), "the program's handler must run:"
              "\n%s\nstderr:\n%s", r.out, r.err);
    cr_assert_eq(r.status, 128 + SIGTERM, "stderr:\n%s\nreport:\n%s",
                 r.err, E2E_REPORT(&r));
    e2e_assert_report(&r);
    json_object *p = e2e_process(&r, 0);
    cr_assert_str_eq(e2e_str(p, "state"), "signaled", "%s", e2e_dump(p));
    cr_assert_eq(e2e_int(p, "exit_code", -1), SIGTERM, "%s", e2e_dump(p));
}

Test(badinput, log_of_a_process_killed_with_sigkill_is_still_readable,
     .timeout = 120)
{
    struct e2e_run r, rep;
    char logdir[128], log[256];
    e2e_init(&r);
    snprintf(logdir, sizeof logdir, "%s/logs", r.dir);
    cr_assert_eq(mkdir(logdir, 0700), 0);
    char *argv[] = { E2E_PROGDIR "hostile", "sleeper", NULL };
    e2e_start_traced(&r, logdir, NULL, argv);
    bool ready = e2e_wait_output(&r, "ready");
    /* ps by pid while it runs: what every thread is doing now. */
    struct e2e_run live;
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)r.pid);
    e2e_init(&live);
    char dirvar[160];
    snprintf(dirvar, sizeof dirvar, "TANGLE_DIR=%s", logdir);
    const char *liveenv[] = { dirvar, NULL };
    live.env = liveenv;
    char *liveargv[] = { E2E_TANGLE, "ps", pid, NULL };
    if (ready)
        e2e_exec(&live, liveargv);
    kill(r.pid, SIGKILL);
    e2e_finish(&r);
    cr_assert(ready, "program never got ready; stderr:\n%s", r.err);
    cr_assert_eq(r.sig, SIGKILL);
    e2e_assert_ended(&live);
    cr_assert(strstr(live.out, "chan receive") &&
                  strstr(live.out, "stuck_receiver"),
              "ps PID must show the thread blocked in chan receive in "
              "stuck_receiver:\n%s\n%s", live.out, live.err);
    cr_assert_eq(e2e_find_file(logdir, TG_LOG_SUFFIX, log, sizeof log), 1,
                 "one log expected in %s", logdir);

    e2e_init(&rep);
    e2e_report(&rep, NULL, log, NULL);
    e2e_assert_report(&rep);
    cr_assert_neq(rep.status, E2E_EXIT_BADLOG, "stderr:\n%s", rep.err);
    json_object *p = e2e_process(&rep, 0);
    cr_assert_eq(e2e_int(p, "pid", -1), r.pid, "%s", E2E_REPORT(&rep));
    cr_assert_str_eq(e2e_str(p, "state"), "running",
                     "a killed process never wrote its end:\n%s",
                     e2e_dump(p));

    /* ps on the same log: what every thread was doing. */
    struct e2e_run ps;
    e2e_init(&ps);
    char *psargv[] = { E2E_TANGLE, "ps", log, NULL };
    e2e_exec(&ps, psargv);
    e2e_assert_ended(&ps);
    cr_assert(strstr(ps.out, "chan receive"),
              "ps must show the thread blocked in chan receive:\n%s\n%s",
              ps.out, ps.err);
}

Test(badinput, log_file_is_a_private_regular_file_named_for_the_pid,
     .timeout = 60)
{
    struct e2e_run r;
    char logdir[128], log[256];
    e2e_init(&r);
    snprintf(logdir, sizeof logdir, "%s/logs", r.dir);
    cr_assert_eq(mkdir(logdir, 0700), 0);
    char *argv[] = { E2E_PROGDIR "hostile", "exitcode", "0", NULL };
    e2e_start_traced(&r, logdir, NULL, argv);
    e2e_finish(&r);
    e2e_assert_ended(&r);
    cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
    cr_assert_eq(e2e_find_file(logdir, TG_LOG_SUFFIX, log, sizeof log), 1);
    struct stat st;
    cr_assert_eq(lstat(log, &st), 0);
    cr_assert(S_ISREG(st.st_mode), "log must be a regular file");
    cr_assert_eq(st.st_mode & 07777, 0600, "log mode is %o", st.st_mode & 07777);
    cr_assert_eq(st.st_uid, getuid());
    char prefix[64];
    snprintf(prefix, sizeof prefix, "/tangle.%d.", (int)r.pid);
    cr_assert(strstr(log, prefix), "log %s not named tangle.<pid>.*", log);
}

Test(badinput, planted_symlinks_in_the_log_dir_are_never_followed,
     .timeout = 60)
{
    struct e2e_run r;
    char logdir[128], victim[160], link1[200], link2[200];
    e2e_init(&r);
    snprintf(logdir, sizeof logdir, "%s/logs", r.dir);
    snprintf(victim, sizeof victim, "%s/victim", r.dir);
    cr_assert_eq(mkdir(logdir, 0700), 0);
    e2e_write_file(victim, "precious\n", 9);
    /* Links with log-like names: one to the victim, one dangling. */
    snprintf(link1, sizeof link1, "%s/tangle.1.1.tlog", logdir);
    snprintf(link2, sizeof link2, "%s/tangle.2.2.tlog", logdir);
    cr_assert_eq(symlink(victim, link1), 0);
    cr_assert_eq(symlink("/nonexistent/tangle-dangling", link2), 0);
    char *argv[] = { E2E_PROGDIR "hostile", "exitcode", "0", NULL };
    e2e_start_traced(&r, logdir, NULL, argv);
    e2e_finish(&r);
    e2e_assert_ended(&r);
    cr_assert_eq(r.status, 0);
    size_t len;
    char *v = e2e_slurp(victim, &len);
    cr_assert(v && len == 9 && !strcmp(v, "precious\n"),
              "victim file changed");
    free(v);
    struct stat st;
    cr_assert_eq(lstat(link1, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "planted link replaced");
    cr_assert_eq(lstat("/nonexistent/tangle-dangling", &st), -1);
    /* The shim's own log is there, and it is a regular file. */
    DIR *d = opendir(logdir);
    struct dirent *e;
    int regular = 0;
    while ((e = readdir(d))) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", logdir, e->d_name);
        if (e->d_name[0] != '.' && lstat(p, &st) == 0 && S_ISREG(st.st_mode))
            regular++;
    }
    closedir(d);
    cr_assert_eq(regular, 1, "the program's log must be a new regular file");
}

/* The exact-name trap: a file or symlink planted, from the child just
 * before exec, at the name the shim will pick (the clock is pinned). */
#define FIXED_MONO "123456789012"
static char trap_dir[128], trap_target[160];
static bool trap_symlink;

static void plant_trap(struct e2e_run *r)
{
    char name[300];
    snprintf(name, sizeof name, "%s/tangle.%d.%s%s", trap_dir, (int)getpid(),
             FIXED_MONO, TG_LOG_SUFFIX);
    if (trap_symlink) {
        if (symlink(trap_target, name) != 0)
            _exit(120);
    } else {
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0 || write(fd, "precious\n", 9) != 9)
            _exit(121);
        close(fd);
    }
}

/* Builds fixclock.so, plants the trap and runs `hostile exitcode 7` under
 * it and the shim. Returns the run; *trap gets the planted path. */
static void run_into_trap(struct e2e_run *r, bool symlink_trap)
{
    struct e2e_run cc;
    char lib[128], preload[400], dirvar[200];
    e2e_init(&cc);
    snprintf(lib, sizeof lib, "%s/fixclock.so", cc.dir);
    char *ccargv[] = { "cc", "-shared", "-fPIC", "-O1",
                       TANGLE_TOP "/tests/e2e/extra/fixclock.c", "-o", lib,
                       "-ldl", NULL };
    e2e_exec(&cc, ccargv);
    e2e_assert_ended(&cc);
    cr_assert_eq(cc.status, 0, "cannot build fixclock.so:\n%s", cc.err);

    e2e_init(r);
    snprintf(trap_dir, sizeof trap_dir, "%s/logs", r->dir);
    snprintf(trap_target, sizeof trap_target, "%s/victim", r->dir);
    cr_assert_eq(mkdir(trap_dir, 0700), 0);
    e2e_write_file(trap_target, "precious\n", 9);
    trap_symlink = symlink_trap;
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s:%s", lib, E2E_SHIM);
    snprintf(dirvar, sizeof dirvar, "TANGLE_DIR=%s", trap_dir);
    const char *env[] = { preload, dirvar, "E2E_FIXED_MONO_NS=" FIXED_MONO,
                          NULL };
    r->env = env;
    r->pre_exec = plant_trap;
    char *argv[] = { E2E_PROGDIR "hostile", "exitcode", "7", NULL };
    e2e_start(r, argv);
    e2e_finish(r);
    e2e_assert_ended(r);
    cr_assert_eq(r->status, 7, "the program runs on, traced or not; "
                 "stderr:\n%s", r->err);
    cr_assert(strstr(r->out, "hello"));
    /* The trap must have been sprung: the shim met the planted name (it
     * says so, or it went on under another name; a log at a different
     * pinned-clock name would mean the pin did not hold). */
    char planted[300];
    snprintf(planted, sizeof planted, "tangle.%d.%s%s", (int)r->pid,
             FIXED_MONO, TG_LOG_SUFFIX);
    cr_assert(strstr(r->err, planted) ||
                  e2e_find_file(trap_dir, TG_LOG_SUFFIX, NULL, 0) > 1,
              "the shim never met %s; stderr:\n%s", planted, r->err);
    e2e_free(&cc);
}

Test(badinput, symlink_planted_at_the_exact_log_name_is_not_followed,
     .timeout = 120)
{
    struct e2e_run r;
    run_into_trap(&r, true);
    char name[300];
    snprintf(name, sizeof name, "%s/tangle.%d.%s%s", trap_dir, (int)r.pid,
             FIXED_MONO, TG_LOG_SUFFIX);
    struct stat st;
    cr_assert_eq(lstat(name, &st), 0, "the planted link is gone");
    cr_assert(S_ISLNK(st.st_mode), "the planted link was replaced");
    size_t len;
    char *v = e2e_slurp(trap_target, &len);
    cr_assert(v && len == 9 && !strcmp(v, "precious\n"),
              "the link's target was written through");
    free(v);
}

Test(badinput, file_at_the_exact_log_name_is_never_overwritten,
     .timeout = 120)
{
    struct e2e_run r;
    run_into_trap(&r, false);
    char name[300];
    snprintf(name, sizeof name, "%s/tangle.%d.%s%s", trap_dir, (int)r.pid,
             FIXED_MONO, TG_LOG_SUFFIX);
    size_t len;
    char *v = e2e_slurp(name, &len);
    cr_assert(v && len == 9 && !strcmp(v, "precious\n"),
              "the existing file at the log's name was changed (%zu bytes)",
              v ? len : 0);
    free(v);
    struct stat st;
    cr_assert_eq(stat(name, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644, "its mode was changed");
}

Test(badinput, bad_option_values_warn_by_name_and_the_program_still_runs,
     .timeout = 60)
{
    struct e2e_run r;
    char logdir[128];
    e2e_init(&r);
    snprintf(logdir, sizeof logdir, "%s/logs", r.dir);
    cr_assert_eq(mkdir(logdir, 0700), 0);
    char *argv[] = { E2E_PROGDIR "hostile", "exitcode", "7", NULL };
    e2e_start_traced(&r, logdir, "watchdog=abc,mode=turbo,lock_spin=5000", argv);
    e2e_finish(&r);
    e2e_assert_ended(&r);
    cr_assert_eq(r.status, 7, "the program's own status; stderr:\n%s", r.err);
    cr_assert(strstr(r.out, "hello"));
    cr_assert(strstr(r.err, "watchdog"), "warning must name watchdog:\n%s",
              r.err);
    cr_assert(strstr(r.err, "mode"), "warning must name mode:\n%s", r.err);
    cr_assert(strstr(r.err, "'lock_spin'"), "warning must name lock_spin:\n%s", r.err);
    cr_assert_eq(e2e_find_file(logdir, TG_LOG_SUFFIX, NULL, 0), 1,
                 "defaults apply: the program is still traced");
}

Test(badinput, unusable_log_dir_warns_once_and_runs_untraced, .timeout = 60)
{
    struct e2e_run r;
    char file[128], logdir[160];
    e2e_init(&r);
    /* Below a regular file: no one, not even root, can create it. */
    snprintf(file, sizeof file, "%s/plainfile", r.dir);
    e2e_write_file(file, "x", 1);
    snprintf(logdir, sizeof logdir, "%s/sub", file);
    char *argv[] = { E2E_PROGDIR "hostile", "exitcode", "7", NULL };
    e2e_start_traced(&r, logdir, NULL, argv);
    e2e_finish(&r);
    e2e_assert_ended(&r);
    cr_assert_eq(r.status, 7, "stderr:\n%s", r.err);
    cr_assert(strstr(r.out, "hello"));
    int lines = 0;
    for (const char *p = r.err; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 1, "exactly one warning line expected:\n%s", r.err);
}

/* ---- tangle run: status, timeout, output -------------------------------- */

Test(badinput, tangle_run_passes_on_the_command_status_when_clean,
     .timeout = 60)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "exitcode", "7", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 7, "stderr:\n%s", r.err);
    e2e_assert_clean(&r);
}

Test(badinput, tangle_run_exits_66_with_findings_or_the_exitcode_given,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "leak1", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    e2e_free(&r);
    e2e_init(&r);
    e2e_run(&r, "--exitcode 3", "hostile", "leak1", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 3, "stderr:\n%s", r.err);
}

Test(badinput, unknown_option_is_a_usage_error_64, .timeout = 60)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, "--no-such-option", "hostile", "exitcode", "0", NULL);
    e2e_assert_ended(&r);
    cr_assert_eq(r.status, E2E_EXIT_USAGE, "stderr:\n%s", r.err);
    cr_assert(!strstr(r.out, "hello"), "the command must not run");
}

Test(badinput, timeout_on_a_hanging_program_gives_a_hang_report,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    r.timeout_s = 60;
    e2e_run(&r, "--timeout 3", "hostile", "sleeper", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS, "stderr:\n%s", r.err);
    json_object *f = e2e_must_find(&r, "hang", NULL, "stuck_receiver");
    json_object *t = e2e_thread_in(f, "stuck_receiver");
    cr_assert(t, "%s", e2e_dump(f));
    cr_assert_str_eq(e2e_str(t, "state"), "chan receive", "%s", e2e_dump(t));
    e2e_assert_frame(e2e_get(t, "stack"), "stuck_receiver", SRC, "h_stuck");
    cr_assert(e2e_len(e2e_get(f, "threads")) >= 2,
              "every thread's state, main's too:\n%s", e2e_dump(f));
}

Test(badinput, dash_o_writes_the_report_to_the_file_not_stdout,
     .timeout = 120)
{
    struct e2e_run r;
    e2e_init(&r);
    e2e_run(&r, NULL, "hostile", "leak1", NULL);
    e2e_assert_report(&r);
    cr_assert_str_eq(e2e_str(r.json, "tool"), "tangle");
    cr_assert_eq(e2e_int(r.json, "report_version", -1), 1);
    cr_assert_null(strstr(r.out, "\"findings\""),
                   "report leaked to stdout:\n%s", r.out);
}

Test(badinput, sarif_output_is_valid_sarif_2_1_0_with_a_result_per_finding,
     .timeout = 120)
{
    struct e2e_run js, sa;
    e2e_init(&js);
    e2e_run(&js, NULL, "deadlock", "abba", NULL);
    e2e_assert_report(&js);
    int64_t total = e2e_summary(&js, "total");
    cr_assert(total >= 1, "%s", E2E_REPORT(&js));
    e2e_init(&sa);
    e2e_run_fmt(&sa, "sarif", NULL, "deadlock", "abba", NULL);
    e2e_assert_report(&sa);
    cr_assert_str_eq(e2e_str(sa.json, "version"), "2.1.0");
    json_object *runs = e2e_get(sa.json, "runs");
    cr_assert_eq(e2e_len(runs), 1, "%s", E2E_REPORT(&sa));
    json_object *res = e2e_get(e2e_at(runs, 0), "results");
    cr_assert_eq((int64_t)e2e_len(res), total,
                 "one result per finding:\n%s", E2E_REPORT(&sa));
    cr_assert(e2e_str(e2e_at(res, 0), "ruleId"), "%s", E2E_REPORT(&sa));
    cr_assert_eq(sa.status, E2E_EXIT_FINDINGS);
}

Test(badinput, suppressed_finding_is_hidden_counted_and_exit_is_clean,
     .timeout = 120)
{
    struct e2e_run r;
    char supp[128], opts[200];
    e2e_init(&r);
    snprintf(supp, sizeof supp, "%s/tangle.supp", r.dir);
    static const char rules[] = "# known leak\nleak:stuck_receiver\n";
    e2e_write_file(supp, rules, strlen(rules));
    snprintf(opts, sizeof opts, "--suppressions %s", supp);
    e2e_run(&r, opts, "hostile", "leak1", NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, 0, "nothing left after suppression: the "
                 "command's status;\nstderr:\n%s\nreport:\n%s", r.err,
                 E2E_REPORT(&r));
    e2e_assert_none(&r, "leak");
    cr_assert_eq(e2e_summary(&r, "suppressed"), 1, "%s", E2E_REPORT(&r));
    cr_assert_eq(e2e_summary(&r, "total"), 0, "%s", E2E_REPORT(&r));
}

Test(badinput, one_damaged_log_among_good_ones_does_not_stop_the_analysis,
     .timeout = 120)
{
    struct e2e_run src, r;
    char log[256], bad[256];
    make_log(&src, log, sizeof log);
    snprintf(bad, sizeof bad, "%s/junk.tlog", src.dir);
    e2e_write_file(bad, "junk\n", 5);
    e2e_init(&r);
    e2e_report(&r, NULL, bad, log, NULL);
    e2e_assert_report(&r);
    cr_assert_eq(r.status, E2E_EXIT_FINDINGS,
                 "the good log's leak still counts; stderr:\n%s", r.err);
    e2e_must_find(&r, "leak", NULL, "stuck_receiver");
    cr_assert(names_file(&r, bad), "the bad log is named:\n%s\n%s", r.err,
              E2E_REPORT(&r));
}

Test(badinput, report_full_stacks_shows_libtangle_frames_the_default_hides,
     .timeout = 120)
{
    struct e2e_run r, plain, full;
    char log[256];
    make_log(&r, log, sizeof log);

    e2e_init(&plain);
    e2e_report(&plain, NULL, log, NULL);
    e2e_assert_report(&plain);
    json_object *f = e2e_must_find(&plain, "leak", NULL, "stuck_receiver");
    json_object *t = e2e_thread_in(f, "stuck_receiver");
    cr_assert(t, "%s", e2e_dump(f));
    json_object *st = e2e_get(t, "stack");
    cr_assert(e2e_frame_is(e2e_at(st, 0), "stuck_receiver", 0),
              "the program's frame first by default:\n%s", e2e_dump(st));

    e2e_init(&full);
    e2e_report(&full, "--full-stacks", log, NULL);
    e2e_assert_report(&full);
    cr_assert_eq(full.status, plain.status);
    f = e2e_must_find(&full, "leak", NULL, "stuck_receiver");
    t = e2e_thread_in(f, "stuck_receiver");
    cr_assert(t, "%s", e2e_dump(f));
    st = e2e_get(t, "stack");
    const char *mod = e2e_str(e2e_at(st, 0), "module");
    cr_assert(mod && strstr(mod, "libtangle.so"),
              "--full-stacks keeps libtangle's frames on top:\n%s",
              e2e_dump(st));
    cr_assert(e2e_stack_has(st, "stuck_receiver", e2e_line(SRC, "h_stuck")),
              "%s", e2e_dump(st));
}
