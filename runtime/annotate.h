/*
 * runtime/annotate.h: tells helgrind (valgrind --tool=helgrind) about the
 * runtime's own synchronization, which it cannot see. Helgrind learns
 * happens-before only from the pthread API, and the runtime synchronizes
 * with futexes and C11 atomics (futex.h), so without these it takes every
 * hand-off for a race. Two kinds of statement:
 *
 *  - happens-before edges, at the runtime's release and acquire points:
 *    TG__HAPPENS_BEFORE(obj) just before the release (a lock release, the
 *    store that publishes a hand-off's outcome), TG__HAPPENS_AFTER(obj)
 *    just after the matching acquire has seen it. obj is any address both
 *    sides agree on; TG__FORGET(obj) drops what helgrind remembers of it
 *    before its memory is reused for something else, so an old edge does
 *    not order unrelated accesses later.
 *  - atomic words: helgrind treats a read-modify-write as a read but a
 *    plain atomic load or store as an ordinary access, so a word that is
 *    stored while others load it without a lock (a channel's lock-free
 *    emptiness check, a parker's state) is reported although C11 atomics
 *    never race. TG__ATOMIC_WORD(p, n) stops checking such a word,
 *    TG__TRACK(p, n) checks it again, as memory new to the calling thread
 *    (for words on a stack, whose memory is reused once the call returns).
 *
 * Built with TANGLE_VALGRIND defined (make TANGLE_VALGRIND=1; `make -C
 * tests check-helgrind` builds its own copy so) these are valgrind client
 * requests, a few instructions that do nothing outside valgrind. Without
 * it, the default, they expand to nothing: the runtime's code is exactly
 * what it is without them, and valgrind's headers are not needed.
 */
#ifndef TANGLE_RUNTIME_ANNOTATE_H
#define TANGLE_RUNTIME_ANNOTATE_H

#ifdef TANGLE_VALGRIND
#if defined(__has_include)
#if !__has_include(<valgrind/helgrind.h>)
#error "TANGLE_VALGRIND needs valgrind's headers (apt-get install valgrind)"
#endif
#endif
#include <valgrind/helgrind.h>

#define TG__HAPPENS_BEFORE(obj) ANNOTATE_HAPPENS_BEFORE(obj)
#define TG__HAPPENS_AFTER(obj) ANNOTATE_HAPPENS_AFTER(obj)
#define TG__FORGET(obj) ANNOTATE_HAPPENS_BEFORE_FORGET_ALL(obj)
#define TG__ATOMIC_WORD(p, n) VALGRIND_HG_DISABLE_CHECKING((p), (n))
#define TG__TRACK(p, n) VALGRIND_HG_ENABLE_CHECKING((p), (n))

#else

#define TG__HAPPENS_BEFORE(obj) ((void)0)
#define TG__HAPPENS_AFTER(obj) ((void)0)
#define TG__FORGET(obj) ((void)0)
#define TG__ATOMIC_WORD(p, n) ((void)0)
#define TG__TRACK(p, n) ((void)0)

#endif

#endif
