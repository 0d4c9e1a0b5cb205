/*
 * tests/test_group.c: errgroup: every task runs and wait waits for all,
 * the first failure is the result and cancels the group's context (with
 * the failure as its cause), the limit on concurrent tasks holds, go blocks
 * and try_go refuses at the limit, the parent's cancel reaches the tasks,
 * task threads carry the group's name, and the probes fire.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "tangle/hooks.h"
#include "tangle/tangle.h"

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static _Atomic int ran;

static int count_task(tg_ctx_t *ctx, void *arg)
{
    atomic_fetch_add(&ran, 1);
    return 0;
}

Test(group, wait_returns_0_after_every_task_ran_and_cancels_the_context,
     .timeout = 30)
{
    tg_group_t *g;
    tg_ctx_t *ctx;
    cr_assert_eq(tg_group_new(&g, NULL, &ctx), 0);
    cr_assert_not_null(ctx);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(tg_group_go(g, count_task, NULL), 0);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), 50);
    cr_assert_eq(tg_ctx_err(ctx), -ECANCELED, "wait cancels, as Go does");
    cr_assert_eq(tg_group_free(g), 0);
}

Test(group, wait_on_an_empty_group_returns_0_at_once)
{
    tg_group_t *g;
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(tg_group_free(g), 0);
}

/* Fails at once. */
static int fail_eio(tg_ctx_t *ctx, void *arg)
{
    return -EIO;
}

/* Waits for the group to be cancelled, then fails differently: its
 * failure must never be the group's, since it comes after the first. */
static int fail_after_cancel(tg_ctx_t *ctx, void *arg)
{
    int err = tg_ctx_wait(ctx);
    atomic_fetch_add(&ran, 1);
    return err == -ECANCELED ? -EPERM : -EINVAL;
}

Test(group, first_failure_is_the_result_and_cancels_the_others, .timeout = 30)
{
    tg_group_t *g;
    tg_ctx_t *ctx;
    cr_assert_eq(tg_group_new(&g, NULL, &ctx), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tg_group_go(g, fail_after_cancel, NULL), 0);
    cr_assert_eq(tg_group_go(g, fail_eio, NULL), 0);
    cr_assert_eq(tg_group_wait(g), -EIO);
    cr_assert_eq(atomic_load(&ran), 4, "the others saw the cancel");
    cr_assert_eq(tg_ctx_err(ctx), -ECANCELED);
    cr_assert_eq(tg_ctx_cause(ctx), -EIO);
    cr_assert_eq(tg_group_free(g), 0);
}

/* ---- the limit ---- */

static _Atomic int active, max_active;

static int tracked_task(tg_ctx_t *ctx, void *arg)
{
    int now = atomic_fetch_add(&active, 1) + 1;
    int m = atomic_load(&max_active);
    while (now > m && !atomic_compare_exchange_weak(&max_active, &m, now))
        ;
    sleep_ms(2);
    atomic_fetch_add(&ran, 1);
    atomic_fetch_sub(&active, 1);
    return 0;
}

Test(group, the_limit_on_concurrent_tasks_is_never_exceeded, .timeout = 60)
{
    enum { LIMIT = 3, N = 60 };
    tg_group_t *g;
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(tg_group_set_limit(g, LIMIT), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_group_go(g, tracked_task, NULL), 0);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), N);
    cr_assert_leq(atomic_load(&max_active), LIMIT);
    cr_assert_geq(atomic_load(&max_active), 1);
    cr_assert_eq(tg_group_free(g), 0);
}

/* Tasks that hold their slot until the test lets them go. */
static _Atomic int release_gate;

static int gated_task(tg_ctx_t *ctx, void *arg)
{
    while (!atomic_load(&release_gate))
        sleep_ms(1);
    atomic_fetch_add(&ran, 1);
    return 0;
}

Test(group, try_go_at_the_limit_is_EAGAIN_and_starts_nothing, .timeout = 30)
{
    tg_group_t *g;
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(tg_group_set_limit(g, 2), 0);
    cr_assert_eq(tg_group_try_go(g, gated_task, NULL), 0);
    cr_assert_eq(tg_group_try_go(g, gated_task, NULL), 0);
    cr_assert_eq(tg_group_try_go(g, gated_task, NULL), -EAGAIN);
    cr_assert_eq(tg_group_set_limit(g, 5), -EBUSY, "tasks are running");
    cr_assert_eq(tg_group_free(g), -EBUSY, "tasks are running");
    atomic_store(&release_gate, 1);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), 2);
    /* Slots are free again. */
    cr_assert_eq(tg_group_try_go(g, gated_task, NULL), 0);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), 3);
    cr_assert_eq(tg_group_free(g), 0);
}

struct goer {
    tg_group_t *g;
    _Atomic int returned;
    int rc;
};

static void *go_blocking(void *arg)
{
    struct goer *s = arg;
    s->rc = tg_group_go(s->g, gated_task, NULL);
    atomic_store(&s->returned, 1);
    return NULL;
}

static _Atomic int go_parks, go_wakes, wait_parks, group_creates,
    group_destroys;

static void rec_park(const struct tg_probe *p)
{
    if (p->kind == TG_OBJ_GROUP && p->op == TG_PROBE_GROUP_GO)
        atomic_fetch_add(&go_parks, 1);
    if (p->kind == TG_OBJ_GROUP && p->op == TG_PROBE_GROUP_WAIT)
        atomic_fetch_add(&wait_parks, 1);
}

static void rec_wake(const struct tg_probe *p)
{
    if (p->kind == TG_OBJ_GROUP && p->op == TG_PROBE_GROUP_GO)
        atomic_fetch_add(&go_wakes, 1);
}

static const void *_Atomic created_group, *_Atomic ctx_owner;

static void rec_create(int kind, const void *obj, const struct tg_obj_info *i)
{
    if (kind == TG_OBJ_GROUP) {
        atomic_store(&created_group, obj);
        atomic_fetch_add(&group_creates, 1);
    }
    if (kind == TG_OBJ_CTX)
        atomic_store(&ctx_owner, i->owner);
}

static void rec_destroy(int kind, const void *obj)
{
    if (kind == TG_OBJ_GROUP)
        atomic_fetch_add(&group_destroys, 1);
}

static const struct tg_hooks recorder = {
    .version = TG_HOOKS_VERSION, .create = rec_create,
    .destroy = rec_destroy, .park = rec_park, .wake = rec_wake,
};

Test(group, go_blocks_at_the_limit_until_a_task_finishes, .timeout = 30)
{
    tg_group_t *g;
    pthread_t th;
    tg_hooks_install(&recorder);
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(atomic_load(&group_creates), 1);
    cr_assert_eq(atomic_load(&created_group), g);
    cr_assert_eq(atomic_load(&ctx_owner), g, "the group owns its context");
    cr_assert_eq(tg_group_set_limit(g, 1), 0);
    cr_assert_eq(tg_group_go(g, gated_task, NULL), 0);
    struct goer s = { .g = g };
    pthread_create(&th, NULL, go_blocking, &s);
    while (atomic_load(&go_parks) == 0)
        sleep_ms(1);
    sleep_ms(20);
    cr_assert_eq(atomic_load(&s.returned), 0, "go returned at the limit");
    atomic_store(&release_gate, 1);
    pthread_join(th, NULL);
    cr_assert_eq(s.rc, 0);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), 2);
    cr_assert_eq(atomic_load(&go_parks), 1);
    cr_assert_eq(atomic_load(&go_wakes), 1);
    cr_assert_eq(tg_group_free(g), 0);
    cr_assert_eq(atomic_load(&group_destroys), 1);
    tg_hooks_install(NULL);
}

/* Opens the gate once wait has parked, however slow the machine. */
static void *open_gate_later(void *arg)
{
    while (atomic_load(&wait_parks) == 0)
        sleep_ms(1);
    atomic_store(&release_gate, 1);
    return NULL;
}

Test(group, wait_blocks_until_the_last_task_and_parks_once, .timeout = 30)
{
    tg_group_t *g;
    pthread_t th;
    tg_hooks_install(&recorder);
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tg_group_go(g, tracked_task, NULL), 0);
    cr_assert_eq(tg_group_go(g, gated_task, NULL), 0);
    pthread_create(&th, NULL, open_gate_later, NULL);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), 4, "wait returned before every task");
    cr_assert_eq(atomic_load(&wait_parks), 1);
    pthread_join(th, NULL);
    cr_assert_eq(tg_group_free(g), 0);
    tg_hooks_install(NULL);
}

/* ---- context ---- */

Test(group, cancelling_the_parent_cancels_the_groups_tasks, .timeout = 30)
{
    tg_ctx_t *parent, *gctx;
    tg_group_t *g;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &parent), 0);
    cr_assert_eq(tg_group_new(&g, parent, &gctx), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tg_group_go(g, fail_after_cancel, NULL), 0);
    sleep_ms(10);
    cr_assert_eq(atomic_load(&ran), 0, "tasks ended before the cancel");
    tg_ctx_cancel(parent);
    cr_assert_eq(tg_group_wait(g), -EPERM, "the tasks' own failure");
    cr_assert_eq(atomic_load(&ran), 3);
    cr_assert_eq(tg_ctx_err(gctx), -ECANCELED);
    cr_assert_eq(tg_group_free(g), 0);
    tg_ctx_release(parent);
}

Test(group, a_group_under_a_done_parent_starts_with_its_context_done)
{
    tg_ctx_t *parent, *gctx;
    tg_group_t *g;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &parent), 0);
    tg_ctx_cancel(parent);
    cr_assert_eq(tg_group_new(&g, parent, &gctx), 0);
    cr_assert_eq(tg_ctx_err(gctx), -ECANCELED);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(tg_group_free(g), 0);
    tg_ctx_release(parent);
}

/* ---- threads ---- */

static char seen_name[32];

static int name_task(tg_ctx_t *ctx, void *arg)
{
    pthread_getname_np(pthread_self(), seen_name, sizeof seen_name);
    return 0;
}

Test(group, task_threads_are_named_after_the_group, .timeout = 30)
{
    tg_group_t *g;
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(tg_group_set_name(g, "fetch"), 0);
    cr_assert_eq(tg_group_go(g, name_task, NULL), 0);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_str_eq(seen_name, "fetch-0");
    cr_assert_eq(tg_group_free(g), 0);
}

Test(group, thousands_of_short_tasks_are_reaped_as_they_finish, .timeout = 120)
{
    enum { N = 3000 };
    tg_group_t *g;
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(tg_group_set_limit(g, 4), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_group_go(g, count_task, NULL), 0, "task %d", i);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), N);
    cr_assert_eq(tg_group_free(g), 0);
}

/* Threads of this process whose name starts with prefix, from
 * /proc/self/task (other threads, the test framework's, may come and go). */
static int threads_named(const char *prefix)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        char path[300], comm[32] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;              /* it has just exited */
        if (fgets(comm, sizeof comm, f) &&
            strncmp(comm, prefix, strlen(prefix)) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* threads_named once the kernel has reaped what has exited: pthread_join
 * returns when a thread's tid is cleared, which is before the kernel
 * removes its /proc/self/task entry, so a joined thread can still be
 * listed for a moment. Polls for up to 2 s while any is listed. */
static int threads_named_reaped(const char *prefix)
{
    int n = threads_named(prefix);
    for (int i = 0; n > 0 && i < 200; i++) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
        n = threads_named(prefix);
    }
    return n;
}

Test(group, no_task_thread_outlives_wait_and_runners_are_reused,
     .timeout = 60)
{
    tg_group_t *g;
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(tg_group_set_name(g, "reuse"), 0);
    cr_assert_eq(tg_group_set_limit(g, 2), 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++)
            cr_assert_eq(tg_group_go(g, count_task, NULL), 0);
        /* Two at a time: never more than two threads of the group. */
        int n = threads_named("reuse-");
        cr_assert(n >= 1 && n <= 2, "%d runners", n);
        cr_assert_eq(tg_group_wait(g), 0);
        cr_assert_eq(threads_named_reaped("reuse-"), 0, "round %d", round);
    }
    cr_assert_eq(atomic_load(&ran), 600);
    cr_assert_eq(tg_group_free(g), 0);
}

Test(group, bad_arguments_are_EINVAL)
{
    tg_group_t *g;
    cr_assert_eq(tg_group_new(NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(tg_group_go(g, NULL, NULL), -EINVAL);
    cr_assert_eq(tg_group_go(NULL, count_task, NULL), -EINVAL);
    cr_assert_eq(tg_group_set_name(g, ""), -EINVAL);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(tg_group_free(g), 0);
    cr_assert_eq(tg_group_free(NULL), 0);
}
