/*
 * tangle/check.h: in-process checks and annotations.
 *
 * These are always safe to call. Without the preload shim they do nothing
 * and return success, so a test suite can call them unconditionally and run
 * with or without `tangle run`. Under the shim they are implemented by it.
 *
 * Leak checkpoints, goleak for C:
 *
 *     tg_leak_mark();                 // in setup: threads alive now are fine
 *     run_the_test();
 *     int n = tg_leak_verify(NULL);   // in teardown: 0, or threads leaked
 *
 * tg_leak_verify retries with a capped back-off (goleak's settle loop) so
 * threads that are just finishing are not reported, then records every
 * thread started since the mark that is still alive as a `leak` finding in
 * the log, prints a goleak-style summary on stderr, and returns how many
 * there were.
 */
#ifndef TANGLE_CHECK_H
#define TANGLE_CHECK_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* True when the preload shim is loaded and recording. */
bool tg_traced(void);

/* Marks every thread alive now as expected: a later tg_leak_verify ignores
 * them. Returns 0. */
int tg_leak_mark(void);

struct tg_leak_opts {
    int64_t max_wait_ns;        /* settle loop budget; 0: 1 second */
    int64_t max_sleep_ns;       /* cap of the back-off; 0: 100 ms */
    const char *const *ignore_top;       /* NULL-terminated: ignore a thread
                                            whose top frame's function matches */
    const char *const *ignore_any;       /* ... any frame's function */
    const char *const *ignore_created_by;/* ... start routine / creator function */
    bool quiet;                 /* no summary on stderr */
};

/* Threads started since the last tg_leak_mark (or since the process
 * started) and still alive after the settle loop. Returns their number
 * (0: none), each recorded as a finding. opts may be NULL. */
int tg_leak_verify(const struct tg_leak_opts *opts);

/* ---- annotations for the race checker ------------------------------- */

/* Declare a read / write of [addr, addr+size) by the calling thread, for
 * memory touched by code that is not instrumented. */
void tg_annotate_read(const volatile void *addr, size_t size);
void tg_annotate_write(const volatile void *addr, size_t size);
/* Hand-made synchronization: everything the thread did before
 * happens_before(tag) happens before what another thread does after a
 * later happens_after(tag) with the same tag. */
void tg_annotate_happens_before(const volatile void *tag);
void tg_annotate_happens_after(const volatile void *tag);
/* Accesses of the calling thread between begin and end are not checked. */
void tg_annotate_ignore_begin(void);
void tg_annotate_ignore_end(void);
/* A known, accepted race on [addr, addr+size): not reported. */
void tg_annotate_benign_race(const volatile void *addr, size_t size,
                             const char *why);

/* ---- the check API the shim provides --------------------------------- */

/* The shim exports `tangle_shim_check` returning this table; libtangle's
 * check functions forward to it when present. */
struct tg_check_api {
    unsigned version;
    int (*leak_mark)(void);
    int (*leak_verify)(const struct tg_leak_opts *opts);
    void (*annotate_access)(const volatile void *addr, size_t size, bool write);
    void (*annotate_hb)(const volatile void *tag, bool before);
    void (*annotate_ignore)(bool begin);
    void (*annotate_benign)(const volatile void *addr, size_t size,
                            const char *why);
};

#ifdef __cplusplus
}
#endif
#endif
