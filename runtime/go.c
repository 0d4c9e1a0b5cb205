/*
 * runtime/go.c: "goroutines" for C: named threads started without the
 * caller managing a pthread_t, and the runtime's own named threads (pool
 * workers, group tasks). The thread names itself before running the user's
 * function, so a name is in place (in /proc and in tangle's reports) before
 * any of the thread's work can be observed.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct start {
    void *(*fn)(void *);       /* tg__thread_start */
    void (*vfn)(void *);       /* tg_go */
    void *arg;
    char name[16];             /* the kernel keeps 15 bytes + NUL */
};

static void *trampoline(void *p)
{
    struct start s = *(struct start *)p;
    pthread_setname_np(pthread_self(), s.name);
    if (s.vfn) {
        /* tg_go's hand-off (hooks.h, TG_PROBE_TASK_START), named by the
         * start record, so fired before the record is freed and its
         * address can name another. */
        const struct tg_hooks *h = tg__hooks_get();
        if (h && h->complete) {
            struct tg_probe pr = { .op = TG_PROBE_TASK_START, .obj = p,
                                   .deadline_ns = TG_FOREVER, .chosen = -1 };
            h->complete(&pr);
        }
        free(p);
        s.vfn(s.arg);
        return NULL;
    }
    free(p);
    return s.fn(s.arg);
}

static void copy_name(char dst[16], const char *name)
{
    size_t n = strnlen(name, 15);
    memcpy(dst, name, n);
    dst[n] = '\0';
}

/* Rounds a requested stack size up to a whole number of pages and to at
 * least PTHREAD_STACK_MIN, which is what pthread_attr_setstacksize
 * accepts. */
static size_t stack_round(size_t size)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    if (size < (size_t)PTHREAD_STACK_MIN)
        size = PTHREAD_STACK_MIN;
    if (size > SIZE_MAX - page)
        return 0;
    return (size + page - 1) / page * page;
}

static int start(pthread_t *out, struct start *s, size_t stack_size,
                 bool detached)
{
    pthread_attr_t attr;
    int e = pthread_attr_init(&attr);
    if (e)
        return -e;
    if (detached)
        e = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!e && stack_size) {
        size_t sz = stack_round(stack_size);
        e = sz ? pthread_attr_setstacksize(&attr, sz) : EINVAL;
    }
    pthread_t t;
    if (!e)
        e = pthread_create(&t, &attr, trampoline, s);
    pthread_attr_destroy(&attr);
    if (e) {
        free(s);
        return -e;
    }
    if (out)
        *out = t;
    return 0;
}

int tg_go(void (*fn)(void *arg), void *arg, const tg_go_opts_t *opts)
{
    if (!fn)
        return -EINVAL;
    struct start *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->vfn = fn;
    s->arg = arg;
    copy_name(s->name, opts && opts->name ? opts->name : "tg-go");
    /* The caller's writes so far happen before fn runs: a tool that sees
     * pthread_create has that edge already, one that sees only the probes
     * pairs this begin with the new thread's TASK_START complete. */
    tg__begin(tg__hooks_get(), TG_PROBE_TASK_START, 0, s, 0, 0, TG_FOREVER,
              NULL, 0);
    return start(NULL, s, opts ? opts->stack_size : 0, true);
}

int tg__thread_start(pthread_t *out, void *(*fn)(void *), void *arg,
                     const char *name, size_t stack_size, bool detached)
{
    if (!fn || (!out && !detached))
        return -EINVAL;
    struct start *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->fn = fn;
    s->arg = arg;
    copy_name(s->name, name ? name : "tg-thread");
    return start(out, s, stack_size, detached);
}

int tg_set_thread_name(const char *name)
{
    if (!name)
        return -EINVAL;
    char buf[16];
    copy_name(buf, name);
    return -pthread_setname_np(pthread_self(), buf);
}
