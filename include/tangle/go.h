/*
 * tangle/go.h: starting "goroutines": detached, named threads whose stack
 * size can be set, without the caller managing a pthread_t.
 *
 * The thread runs fn(arg) and ends when fn returns. Use a WaitGroup, an
 * errgroup or a channel to know when it has finished. The name (up to 15
 * bytes are kept, the kernel's limit) shows in tangle's reports and in
 * /proc.
 */
#ifndef TANGLE_GO_H
#define TANGLE_GO_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_go_opts {
    const char *name;     /* NULL: "tg-go" */
    size_t stack_size;    /* 0: the default; rounded up to the page size */
} tg_go_opts_t;

/* Starts fn(arg) on a new detached thread. opts may be NULL. Returns 0, or
 * -EAGAIN / -ENOMEM / -EINVAL as pthread_create would. */
int tg_go(void (*fn)(void *arg), void *arg, const tg_go_opts_t *opts);

/* Sets the calling thread's name (truncated to 15 bytes). */
int tg_set_thread_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
