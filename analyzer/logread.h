/*
 * logread.h: the analyzer's reader of tangle logs (include/tangle/log.h).
 *
 * A log is untrusted input: it may be truncated, damaged or still being
 * written by a live process. tlog_open maps it read-only, checks the header
 * and every section against the file size, and copies out the tables the
 * analyses need (threads, objects, edges, findings, modules), validating
 * each count, offset and id before use. Records whose commit word is not
 * TG_LOG_COMMITTED are skipped; seqlocked parts are retried and flagged when
 * they stay inconsistent. Problems that leave the rest usable are recorded
 * in log->errors ("tangle: cannot read 'x.tlog': ... at offset N") and the
 * intact part is still analyzed; only a file that is not a usable log at
 * all makes tlog_open fail. Stacks and strings stay in the mapping and are
 * validated on every lookup. The event stream is never copied: tlog_events
 * streams it, so memory grows with threads and objects, not with events.
 */
#ifndef TANGLE_ANALYZER_LOGREAD_H
#define TANGLE_ANALYZER_LOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tangle/log.h>

struct tlog_sec {
    uint64_t off, size;      /* clamped to the file */
    uint64_t rec_size;       /* record stride (fixed sections) */
    uint64_t count;          /* records (fixed) or bytes (variable) usable */
    uint64_t dropped;        /* what the writer could not store */
    bool ok;                 /* the section can be read at all */
};

struct tlog {
    char *path;
    const unsigned char *map;
    size_t size;
    bool owns_map;                   /* tlog_open mapped it */
    int fd;                          /* tlog_open: the file, for streaming
                                        events with pread; -1 otherwise */
    struct tg_log_header hdr;        /* a copy taken at open */
    struct tlog_sec sec[TG_SEC_COUNT];

    /* Copied tables. threads[i] / objects[i] have id i + 1; a record that
     * was not committed is all zero (commit != TG_LOG_COMMITTED). */
    struct tg_log_thread *threads;
    bool *thread_torn;               /* seqlock never settled */
    size_t nthreads;
    struct tg_log_object *objects;
    size_t nobjects;
    struct tg_log_edge *edges;       /* committed ones only */
    size_t nedges;
    struct tg_log_finding *findings; /* committed ones only */
    size_t nfindings;
    struct tg_log_module *modules;   /* committed ones only */
    size_t nmodules;

    char **errors;                   /* non-fatal problems, in order found */
    size_t nerrors;
};

/* Opens and checks the log at path. On success returns 0 and *out (to be
 * freed with tlog_close); on failure returns a negative errno and sets
 * *err to a malloc'ed message naming the file (and offset where it
 * applies). A file that is empty, not a log, of another version or byte
 * order fails; damage past a valid header does not (see log->errors). */
int tlog_open(const char *path, struct tlog **out, char **err);
/* The same on a caller-owned buffer (tests, fuzzing). The buffer must be
 * 8-byte aligned (as a mapping is) and stay valid until tlog_close; name
 * is used in messages. */
int tlog_open_mem(const void *buf, size_t size, const char *name,
                  struct tlog **out, char **err);
void tlog_close(struct tlog *log);

/* The frames of stack id (innermost first) and their number in *n, or NULL
 * (and *n = 0) when id is 0, out of bounds, uncommitted or malformed. The
 * pointer stays valid until tlog_close. */
const uint64_t *tlog_stack(const struct tlog *log, uint32_t id, uint32_t *n);
/* String id's text, or NULL when it is 0, out of bounds or unterminated. */
const char *tlog_string(const struct tlog *log, uint32_t id);
/* Thread / object by id, or NULL when out of range or not committed. */
const struct tg_log_thread *tlog_thread(const struct tlog *log, uint32_t id);
const struct tg_log_object *tlog_object(const struct tlog *log, uint32_t id);
/* The newest object recorded at addr (highest generation), or NULL. */
const struct tg_log_object *tlog_object_at(const struct tlog *log,
                                           uint64_t addr);

struct tlog_event_stats {
    uint64_t events;         /* delivered */
    uint64_t chunks;         /* committed chunks read */
    uint64_t torn;           /* chunks reused or damaged while reading */
};

/* Calls fn for every committed event, each thread's events in order
 * (chunks by thread, then thread_seq). fn returning non-zero stops the
 * walk and is returned. Memory used: one entry per chunk. */
typedef int (*tlog_event_fn)(void *ctx, uint32_t thread,
                             const struct tg_log_event *ev);
int tlog_events(struct tlog *log, tlog_event_fn fn, void *ctx,
                struct tlog_event_stats *stats);

#endif
