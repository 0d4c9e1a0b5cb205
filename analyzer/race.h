/*
 * race.h: the race checker's analyzer side (race.c) and the compiler
 * wrapper that builds programs for it (cmd_cc.c). Races come from two
 * places: the shim's in-process checker logs each one as a TG_FIND_RACE
 * record, which the analyzer only formats; and a log whose event stream
 * carries the memory accesses is checked offline, replaying the
 * per-thread streams in an order consistent with their synchronization
 * with FastTrack's vector clocks; see docs/races.md.
 */
#ifndef TANGLE_ANALYZER_RACE_H
#define TANGLE_ANALYZER_RACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct an_ctx;
struct tlog;

/* The release/acquire size tag the shim uses for atomics (shim/tsan.c):
 * paired by count on the address's stripe, like lock acquisitions. */
#define RACE_SYNC_ATOMIC 64

/* Adds one `race` finding per pair of access sites of ctx's log: from
 * the TG_FIND_RACE records the shim's in-process checker wrote, and from
 * the offline replay when the log is in race mode and its stream carries
 * memory accesses (ctx->access_events). A pair found by both, or found
 * again, is one finding. */
void analyze_races(struct an_ctx *ctx);
/* Drops (and frees) every race finding of v[0..*n) whose pair of code
 * locations an earlier race finding of v already has, keeping the order
 * of the rest: the same race seen in two processes, or in the same log
 * read twice, is reported once, under the first. */
struct an_finding;
void race_dedup(struct an_finding **v, size_t *n);

struct race_stats {
    uint64_t events;          /* events replayed */
    uint64_t accesses;        /* read / write events checked */
    uint64_t word_checks;     /* 8-byte words they touched, each checked
                               * (a range is one access of many words) */
    uint64_t races;           /* racing pairs seen (before dedup) */
    uint64_t forced;          /* acquires that gave up waiting */
    uint64_t words;           /* shadow words in use at the end */
};

/* The analysis alone, for tests and benchmarks: replays log and calls
 * found() for each new pair of sites (when found is non-NULL). Returns
 * the number of distinct racing pairs, or a negative errno. */
struct race_pair {
    uint32_t thread[2];       /* [0] the later access, [1] the earlier */
    bool write[2], atomic[2];
    bool freed[2];            /* the write is a free of the block */
    uint32_t size[2];
    uint64_t addr[2];
    uint64_t pc[2];           /* access pc (0 for a range) */
    uint32_t stack[2];        /* shadow stack id */
    const uint64_t *locks[2]; /* held lock addresses */
    uint32_t nlocks[2];
    /* the heap block holding addr[1], when the allocation was seen */
    uint64_t block_addr, block_size;
    uint32_t block_stack, block_thread;
    uint32_t stack_thread;    /* addr[1] is on this thread's stack, 0 */
};
long race_check(struct tlog *log, void (*found)(void *arg, const struct race_pair *p),
                void *arg, struct race_stats *stats);

/* `tangle cc` / `tangle c++` (argv[0] is the command name). */
int cmd_cc(int argc, char **argv);
int cmd_cxx(int argc, char **argv);
int race_cc_main(int argc, char **argv, bool cxx);

#endif
