/*
 * shim/events.c: hands out event chunks, the unit of the per-thread event
 * stream.
 *
 * A thread appends events to a chunk it owns alone, so appending is a few
 * plain stores and one release store of the chunk's count (tg__ev_append in
 * shim.h). Chunks are taken from the events section with one atomic add on
 * a global counter. In flight-recorder mode the section is a ring: the
 * counter wraps and the oldest chunk is reused, its generation bumped so a
 * reader (and its previous owner, which checks the generation before each
 * append) knows it changed hands. In full mode a section that is used up
 * drops further events and counts them.
 */
#include "shim.h"

static _Atomic uint64_t next_chunk;

/* In full mode, once the section is used up every further append comes
 * here and is counted as one dropped event. */
bool tg__ev_chunk(struct tg__thread *t)
{
    if (!tg__g.hdr || !t->id)
        return false;
    struct tg_log_section *s = &tg__g.hdr->sec[TG_SEC_EVENTS];
    uint64_t n = tg__g.cap[TG_SEC_EVENTS];
    if (n == 0)
        return false;
    uint64_t k = atomic_fetch_add_explicit(&next_chunk, 1, RELAXED);
    if (k >= n && tg__g.opt.full) {
        atomic_fetch_add_explicit(&s->dropped, 1, RELAXED);
        /* A dummy chunk of capacity 0 keeps the fast path's test cheap:
         * every later append lands here and is dropped. */
        t->ev_used = t->ev_cap = 0;
        atomic_store_explicit(&next_chunk, n, RELAXED);
        return false;
    }
    struct tg_log_chunk *c =
        (struct tg_log_chunk *)(tg__g.sec[TG_SEC_EVENTS] + (k % n) * TG_LOG_CHUNK_BYTES);
    atomic_store_explicit(&c->commit, 0, RELAXED);
    uint64_t gen = atomic_fetch_add_explicit(&c->generation, 1, RELAXED) + 1;
    atomic_thread_fence(memory_order_release);
    c->thread = t->id;
    c->thread_seq = t->chunk_seq++;
    atomic_store_explicit(&c->used, 0, RELAXED);
    c->cap = (TG_LOG_CHUNK_BYTES - sizeof *c) / sizeof(struct tg_log_event);
    atomic_store_explicit(&c->commit, TG_LOG_COMMITTED, RELEASE);
    /* used only grows, so a reader may stop at it: chunks are handed out
     * in order, and a slower thread must not lower what a faster one set. */
    uint64_t want = k + 1 < n ? k + 1 : n;
    uint64_t seen = atomic_load_explicit(&s->used, RELAXED);
    while (seen < want &&
           !atomic_compare_exchange_weak_explicit(&s->used, &seen, want,
                                                  RELAXED, RELAXED))
        ;
    t->chunk = c;
    t->chunk_gen = gen;
    t->ev = (struct tg_log_event *)(c + 1);
    t->ev_used = 0;
    t->ev_cap = c->cap;
    return true;
}

/* After fork the child's log is new: start counting chunks afresh. */
void tg__events_reset(void)
{
    atomic_store_explicit(&next_chunk, 0, RELAXED);
}
