/*
 * runtime/base.c: the clock and the error strings every tangle module
 * shares. Time is CLOCK_MONOTONIC nanoseconds, the clock futex deadlines
 * use, so a deadline computed here is the deadline the kernel enforces.
 */
#include <string.h>
#include <time.h>

#include "internal.h"

int64_t tg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * TG_SEC + ts.tv_nsec;
}

const char *tg_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err > 0)
        return "not an error code (positive)";
    switch (-err) {
    /* What these codes mean in tangle, where that differs from errno. */
    case EPIPE:     return "channel closed";
    case EBUSY:     return "object in use (threads are waiting on it)";
    case ECANCELED: return "context cancelled";
    case ETIMEDOUT: return "timed out";
    case EAGAIN:    return "would block";
    default:        break;
    }
    /* strerrordesc_np returns a static string, unlike strerror, which may
     * format into a buffer another thread is also using. */
    const char *s = strerrordesc_np(-err);
    return s ? s : "unknown error";
}
