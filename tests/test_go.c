/*
 * tests/test_go.c: goroutine-style threads: tg_go runs the function on a
 * detached thread carrying the requested name and stack size, and
 * tg__thread_start gives the runtime its joinable, named threads.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "tangle/tangle.h"

struct seen {
    tg_chan_t *done;
    char name[32];
    size_t stack;
    int detach_state;
    int arg;
};

static void observe(void *p)
{
    struct seen *s = p;
    pthread_getname_np(pthread_self(), s->name, sizeof s->name);
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstacksize(&attr, &s->stack);
        pthread_attr_getdetachstate(&attr, &s->detach_state);
        pthread_attr_destroy(&attr);
    }
    s->arg++;
    /* The channel's hand-off orders the writes above before the reader. */
    tg_chan_send(s->done, NULL);
}

static struct seen *go_and_wait(const tg_go_opts_t *opts)
{
    static struct seen s;
    memset(&s, 0, sizeof s);
    cr_assert_eq(tg_chan_new(&s.done, 0, 0), 0);
    s.arg = 41;
    cr_assert_eq(tg_go(observe, &s, opts), 0);
    bool ok = false;
    cr_assert_eq(tg_chan_recv(s.done, NULL, &ok), 0);
    cr_assert(ok);
    tg_chan_free(s.done);
    return &s;
}

Test(go, tg_go_runs_fn_with_its_arg_under_the_given_name, .timeout = 30)
{
    tg_go_opts_t o = { .name = "fetcher-3" };
    struct seen *s = go_and_wait(&o);
    cr_assert_eq(s->arg, 42);
    cr_assert_str_eq(s->name, "fetcher-3");
}

Test(go, tg_go_without_options_names_the_thread_tg_go_and_detaches_it, .timeout = 30)
{
    struct seen *s = go_and_wait(NULL);
    cr_assert_str_eq(s->name, "tg-go");
    cr_assert_eq(s->detach_state, PTHREAD_CREATE_DETACHED);
}

Test(go, long_names_are_truncated_to_15_bytes, .timeout = 30)
{
    tg_go_opts_t o = { .name = "a-very-long-thread-name" };
    struct seen *s = go_and_wait(&o);
    cr_assert_str_eq(s->name, "a-very-long-thr");
}

Test(go, requested_stack_size_is_rounded_up_to_whole_pages, .timeout = 30)
{
    tg_go_opts_t o = { .name = "big", .stack_size = 1024 * 1024 + 1 };
    struct seen *s = go_and_wait(&o);
    cr_assert_geq(s->stack, (size_t)1024 * 1024 + 1);
    cr_assert_eq(s->stack % 4096, 0);
    tg_go_opts_t tiny = { .stack_size = 1 };
    s = go_and_wait(&tiny);
    cr_assert_geq(s->stack, (size_t)PTHREAD_STACK_MIN);
}

Test(go, tg_go_rejects_a_null_function, .timeout = 30)
{
    cr_assert_eq(tg_go(NULL, NULL, NULL), -EINVAL);
}

static void *named_worker(void *p)
{
    static char name[32];
    pthread_getname_np(pthread_self(), name, sizeof name);
    (void)p;
    return name;
}

Test(go, thread_start_gives_a_joinable_named_thread, .timeout = 30)
{
    pthread_t t;
    cr_assert_eq(tg__thread_start(&t, named_worker, NULL, "pool-w1", 0, false), 0);
    void *rv = NULL;
    cr_assert_eq(pthread_join(t, &rv), 0);
    cr_assert_str_eq((char *)rv, "pool-w1");
}

Test(go, thread_start_rejects_joinable_without_out_and_null_fn, .timeout = 30)
{
    cr_assert_eq(tg__thread_start(NULL, named_worker, NULL, "x", 0, false), -EINVAL);
    pthread_t t;
    cr_assert_eq(tg__thread_start(&t, NULL, NULL, "x", 0, false), -EINVAL);
}

Test(go, set_thread_name_names_the_calling_thread_truncated, .timeout = 30)
{
    char name[32];
    cr_assert_eq(tg_set_thread_name("main-loop"), 0);
    pthread_getname_np(pthread_self(), name, sizeof name);
    cr_assert_str_eq(name, "main-loop");
    cr_assert_eq(tg_set_thread_name("0123456789abcdefghij"), 0);
    pthread_getname_np(pthread_self(), name, sizeof name);
    cr_assert_str_eq(name, "0123456789abcde");
    cr_assert_eq(tg_set_thread_name(NULL), -EINVAL);
}
