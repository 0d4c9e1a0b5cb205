/*
 * tangle/base.h: conventions shared by every tangle header.
 *
 * Every function that can fail returns 0 (or a non-negative value where
 * documented) on success and a negative errno value on failure; nothing
 * aborts on a user error that Go would panic on. The call fails, and the
 * preload shim, when loaded, reports it as misuse.
 *
 * Time is int64_t nanoseconds. Durations are relative ("timeout_ns");
 * deadlines are absolute on CLOCK_MONOTONIC, as returned by tg_now().
 */
#ifndef TANGLE_BASE_H
#define TANGLE_BASE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 1

#define TG_NSEC  ((int64_t)1)
#define TG_USEC  ((int64_t)1000)
#define TG_MSEC  ((int64_t)1000000)
#define TG_SEC   ((int64_t)1000000000)

/* On a pointer parameter: the function keeps no copy of the pointer
 * once it returns (LLVM's nocapture). A channel operation reads or
 * writes the value only until it completes, so a local variable whose
 * address goes only to such calls stays private to its thread, and a
 * race checker built on the compiler's instrumentation (clang's, for
 * `tangle cc`) need not check its accesses. Pointers stored in the value
 * itself do escape, to the receiver: the attribute says nothing of them.
 * Empty where the compiler has no such attribute (gcc). */
#if defined(__has_attribute)
#if __has_attribute(noescape)
#define TG_NOESCAPE __attribute__((noescape))
#endif
#endif
#ifndef TG_NOESCAPE
#define TG_NOESCAPE
#endif

/* No deadline: wait forever. */
#define TG_FOREVER INT64_MAX

/* Current CLOCK_MONOTONIC time in nanoseconds. */
int64_t tg_now(void);

/* Static description of a tangle error code (a negative errno value). */
const char *tg_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
