/*
 * tests/test_hooks.c: the probe points. The test program exports
 * tangle_shim_hooks() as the preload shim does, so the runtime's
 * constructor installs a recording table before main; each test then
 * checks which probes fired, in which order, with which arguments and
 * sequence numbers.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "tangle/tangle.h"

enum { EV_CREATE = 1, EV_DESTROY, EV_PARK, EV_WAKE, EV_COMPLETE };

struct ev {
    int type;
    int kind;
    const void *obj;
    struct tg_probe p;
    struct tg_obj_info info;
    pthread_t tid;
    _Atomic int ready;      /* set last, so readers skip half-made ones */
};

#define MAX_EV 8192
static struct ev evs[MAX_EV];
static _Atomic int nev;
/* When set, complete() probes tg_chan_len on the channel: it would
 * deadlock if probes ran under the channel lock. */
static _Atomic bool reenter;
static _Atomic int reentered;

static struct ev *record(int type)
{
    int i = atomic_fetch_add(&nev, 1);
    if (i >= MAX_EV)
        return NULL;
    evs[i].type = type;
    evs[i].tid = pthread_self();
    return &evs[i];
}

static void publish(struct ev *e)
{
    if (e)
        atomic_store_explicit(&e->ready, 1, memory_order_release);
}

static void on_create(int kind, const void *obj, const struct tg_obj_info *info)
{
    struct ev *e = record(EV_CREATE);
    if (e) {
        e->kind = kind;
        e->obj = obj;
        e->info = *info;
    }
    publish(e);
}

static void on_destroy(int kind, const void *obj)
{
    struct ev *e = record(EV_DESTROY);
    if (e) {
        e->kind = kind;
        e->obj = obj;
    }
    publish(e);
}

static void on_park(const struct tg_probe *p)
{
    struct ev *e = record(EV_PARK);
    if (e)
        e->p = *p;
    publish(e);
}

static void on_wake(const struct tg_probe *p)
{
    struct ev *e = record(EV_WAKE);
    if (e)
        e->p = *p;
    publish(e);
}

static void on_complete(const struct tg_probe *p)
{
    struct ev *e = record(EV_COMPLETE);
    if (e)
        e->p = *p;
    publish(e);
    if (atomic_load(&reenter) && p->obj &&
        (p->op == TG_PROBE_SEND || p->op == TG_PROBE_RECV)) {
        (void)tg_chan_len(p->obj);
        atomic_fetch_add(&reentered, 1);
    }
}

static const struct tg_hooks recorder = {
    .version = TG_HOOKS_VERSION,
    .create = on_create,
    .destroy = on_destroy,
    .park = on_park,
    .wake = on_wake,
    .complete = on_complete,
};

/* What the preload shim exports; the runtime's constructor looks it up. */
const struct tg_hooks *tangle_shim_hooks(void);
const struct tg_hooks *tangle_shim_hooks(void)
{
    return &recorder;
}

/* Only while no other thread runs channel operations. */
static void reset(void)
{
    int n = atomic_load(&nev);
    for (int i = 0; i < n && i < MAX_EV; i++)
        atomic_store(&evs[i].ready, 0);
    atomic_store(&nev, 0);
}

/* Events of one type (and, if tid is given, of one thread), in order. */
static int collect(int type, const pthread_t *tid, struct ev **out, int max)
{
    int n = 0, total = atomic_load(&nev);
    for (int i = 0; i < total && i < MAX_EV; i++) {
        if (!atomic_load_explicit(&evs[i].ready, memory_order_acquire) ||
            evs[i].type != type)
            continue;
        if (tid && !pthread_equal(evs[i].tid, *tid))
            continue;
        if (n < max)
            out[n] = &evs[i];
        n++;
    }
    return n;
}

static tg_chan_t *chan(size_t elem, size_t cap)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, elem, cap), 0);
    return ch;
}

/* ---- installation ----------------------------------------------------------- */

Test(hooks, constructor_installs_the_table_exported_by_tangle_shim_hooks, .timeout = 30)
{
    cr_assert_eq(tg_hooks_current(), &recorder);
}

Test(hooks, install_returns_the_previous_table_and_null_silences_the_probes, .timeout = 30)
{
    cr_assert_eq(tg_hooks_install(NULL), &recorder);
    cr_assert_null(tg_hooks_current());
    reset();
    tg_chan_t *ch = chan(sizeof(int), 1);
    int v = 1;
    tg_chan_send(ch, &v);
    tg_chan_free(ch);
    cr_assert_eq(atomic_load(&nev), 0);
    cr_assert_null(tg_hooks_install(&recorder));
    cr_assert_eq(tg_hooks_current(), &recorder);
}

/* ---- create / destroy --------------------------------------------------------- */

Test(hooks, create_and_destroy_report_the_channel_with_size_and_capacity, .timeout = 30)
{
    reset();
    tg_chan_t *ch = chan(24, 5);
    struct ev *e[4];
    cr_assert_eq(collect(EV_CREATE, NULL, e, 4), 1);
    cr_assert_eq(e[0]->kind, TG_OBJ_CHAN);
    cr_assert_eq(e[0]->obj, ch);
    cr_assert_eq(e[0]->info.elem_size, 24);
    cr_assert_eq(e[0]->info.cap, 5);
    cr_assert_null(e[0]->info.owner);
    cr_assert_eq(tg_chan_free(ch), 0);
    cr_assert_eq(collect(EV_DESTROY, NULL, e, 4), 1);
    cr_assert_eq(e[0]->kind, TG_OBJ_CHAN);
    cr_assert_eq(e[0]->obj, ch);
}

Test(hooks, owned_channel_reports_its_owner_at_creation, .timeout = 30)
{
    reset();
    static int owner;
    tg_chan_t *ch;
    cr_assert_eq(tg__chan_new_owned(&ch, 0, 0, &owner), 0);
    struct ev *e[2];
    cr_assert_eq(collect(EV_CREATE, NULL, e, 2), 1);
    cr_assert_eq(e[0]->info.owner, &owner);
    cr_assert_eq(e[0]->obj, ch);
    tg_chan_free(ch);
}

/* ---- sequence numbers --------------------------------------------------------- */

Test(hooks, buffered_sends_and_receives_complete_with_matching_sequence_numbers, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 4);
    reset();
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tg_chan_send(ch, &i), 0);
    for (int i = 0; i < 3; i++) {
        int v;
        cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
    }
    struct ev *e[8];
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 8), 6);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(e[i]->p.op, TG_PROBE_SEND);
        cr_assert_eq(e[i]->p.kind, TG_OBJ_CHAN);
        cr_assert_eq(e[i]->p.obj, ch);
        cr_assert_eq(e[i]->p.result, 0);
        cr_assert_eq(e[i]->p.seq, (uint64_t)i);
        cr_assert_eq(e[i]->p.chosen, -1);
        cr_assert_null(e[i]->p.cases);
        cr_assert_eq(e[3 + i]->p.op, TG_PROBE_RECV);
        cr_assert_eq(e[3 + i]->p.seq, (uint64_t)i);
    }
    cr_assert_eq(collect(EV_PARK, NULL, e, 8), 0, "nothing blocked");
    tg_chan_free(ch);
}

struct sender {
    tg_chan_t *ch;
    int n;
};

static void *send_n(void *p)
{
    struct sender *s = p;
    for (int i = 0; i < s->n; i++)
        tg_chan_send(s->ch, &i);
    return NULL;
}

static void check_pairing(size_t cap)
{
    tg_chan_t *ch = chan(sizeof(int), cap);
    reset();
    struct sender s = { ch, 1000 };
    pthread_t t;
    pthread_create(&t, NULL, send_n, &s);
    pthread_t me = pthread_self();
    for (int i = 0; i < 1000; i++) {
        int v = -1;
        cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
        cr_assert_eq(v, i);
    }
    pthread_join(t, NULL);
    static struct ev *e[MAX_EV];
    int n = collect(EV_COMPLETE, &me, e, MAX_EV);
    cr_assert_eq(n, 1000);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(e[i]->p.op, TG_PROBE_RECV);
        cr_assert_eq(e[i]->p.seq, (uint64_t)i, "receive %d has seq %llu", i,
                     (unsigned long long)e[i]->p.seq);
    }
    n = collect(EV_COMPLETE, &t, e, MAX_EV);
    cr_assert_eq(n, 1000);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(e[i]->p.op, TG_PROBE_SEND);
        cr_assert_eq(e[i]->p.seq, (uint64_t)i);
    }
    tg_chan_free(ch);
}

Test(hooks, unbuffered_receive_sequence_numbers_name_the_send_they_pair_with, .timeout = 60)
{
    check_pairing(0);
}

Test(hooks, buffered_receive_sequence_numbers_name_the_send_they_pair_with, .timeout = 60)
{
    check_pairing(3);
}

Test(hooks, close_and_receive_on_closed_complete_with_TG_SEQ_CLOSED, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 1);
    reset();
    cr_assert_eq(tg_chan_close(ch), 0);
    bool ok = true;
    cr_assert_eq(tg_chan_recv(ch, NULL, &ok), 0);
    cr_assert_eq(tg_chan_close(ch), -EPIPE);
    struct ev *e[4];
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 4), 3);
    cr_assert_eq(e[0]->p.op, TG_PROBE_CLOSE);
    cr_assert_eq(e[0]->p.result, 0);
    cr_assert_eq(e[0]->p.seq, TG_SEQ_CLOSED);
    cr_assert_eq(e[1]->p.op, TG_PROBE_RECV);
    cr_assert_eq(e[1]->p.result, 0);
    cr_assert_eq(e[1]->p.seq, TG_SEQ_CLOSED);
    cr_assert_eq(e[2]->p.op, TG_PROBE_CLOSE);
    cr_assert_eq(e[2]->p.result, -EPIPE);
    tg_chan_free(ch);
}

Test(hooks, send_on_closed_channel_completes_with_EPIPE, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 1);
    tg_chan_close(ch);
    reset();
    int v = 1;
    cr_assert_eq(tg_chan_send(ch, &v), -EPIPE);
    struct ev *e[2];
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 2), 1);
    cr_assert_eq(e[0]->p.op, TG_PROBE_SEND);
    cr_assert_eq(e[0]->p.obj, ch);
    cr_assert_eq(e[0]->p.result, -EPIPE);
    tg_chan_free(ch);
}

/* ---- park / wake ----------------------------------------------------------- */

struct later {
    tg_chan_t *ch;
    int value;
};

static void *send_when_parked(void *p)
{
    struct later *l = p;
    struct ev *e[1];
    while (collect(EV_PARK, NULL, e, 1) < 1)
        usleep(1000);
    tg_chan_send(l->ch, &l->value);
    return NULL;
}

Test(hooks, blocking_receive_fires_park_once_then_wake_then_complete, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 0);
    reset();
    struct later l = { ch, 61 };
    pthread_t t;
    pthread_create(&t, NULL, send_when_parked, &l);
    int64_t dl = tg_now() + 30 * TG_SEC;
    int v = 0;
    cr_assert_eq(tg_chan_recv_deadline(ch, &v, NULL, dl), 0);
    cr_assert_eq(v, 61);
    pthread_join(t, NULL);
    pthread_t me = pthread_self();
    struct ev *park[2], *wake[2], *done[2];
    cr_assert_eq(collect(EV_PARK, &me, park, 2), 1);
    cr_assert_eq(collect(EV_WAKE, &me, wake, 2), 1);
    cr_assert_eq(collect(EV_COMPLETE, &me, done, 2), 1);
    cr_assert(park[0] < wake[0] && wake[0] < done[0], "out of order");
    cr_assert_eq(park[0]->p.op, TG_PROBE_RECV);
    cr_assert_eq(park[0]->p.obj, ch);
    cr_assert_eq(park[0]->p.deadline_ns, dl);
    cr_assert_eq(wake[0]->p.op, TG_PROBE_RECV);
    cr_assert_eq(wake[0]->p.obj, ch);
    cr_assert_eq(done[0]->p.seq, 0);
    cr_assert_eq(done[0]->p.result, 0);
    tg_chan_free(ch);
}

Test(hooks, blocking_send_without_deadline_parks_with_TG_FOREVER, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 0);
    reset();
    pthread_t t;
    struct sender s = { ch, 1 };
    pthread_create(&t, NULL, send_n, &s);
    struct ev *e[2];
    while (collect(EV_PARK, NULL, e, 2) < 1)
        usleep(1000);
    cr_assert_eq(e[0]->p.op, TG_PROBE_SEND);
    cr_assert_eq(e[0]->p.deadline_ns, TG_FOREVER);
    cr_assert(pthread_equal(e[0]->tid, t));
    cr_assert_eq(tg_chan_recv(ch, NULL, NULL), 0);
    pthread_join(t, NULL);
    cr_assert_eq(collect(EV_WAKE, &t, e, 2), 1);
    tg_chan_free(ch);
}

Test(hooks, nonblocking_operations_complete_without_parking, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 0);
    reset();
    int v = 0;
    cr_assert_eq(tg_chan_try_recv(ch, &v, NULL), -EAGAIN);
    cr_assert_eq(tg_chan_try_send(ch, &v), -EAGAIN);
    struct ev *e[4];
    cr_assert_eq(collect(EV_PARK, NULL, e, 4), 0);
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 4), 2);
    cr_assert_eq(e[0]->p.op, TG_PROBE_RECV);
    cr_assert_eq(e[0]->p.result, -EAGAIN);
    cr_assert_eq(e[1]->p.op, TG_PROBE_SEND);
    cr_assert_eq(e[1]->p.result, -EAGAIN);
    tg_chan_free(ch);
}

Test(hooks, timed_out_receive_wakes_and_completes_with_ETIMEDOUT, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 0);
    reset();
    cr_assert_eq(tg_chan_recv_timeout(ch, NULL, NULL, TG_MSEC), -ETIMEDOUT);
    struct ev *e[2];
    cr_assert_eq(collect(EV_PARK, NULL, e, 2), 1);
    cr_assert_neq(e[0]->p.deadline_ns, TG_FOREVER);
    cr_assert_eq(collect(EV_WAKE, NULL, e, 2), 1);
    cr_assert_eq(e[0]->p.result, -ETIMEDOUT);
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 2), 1);
    cr_assert_eq(e[0]->p.result, -ETIMEDOUT);
    tg_chan_free(ch);
}

/* ---- select -------------------------------------------------------------------- */

Test(hooks, select_completes_as_the_chosen_case_naming_the_select, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 1), *b = chan(sizeof(int), 1);
    int v = 3, x, y;
    tg_chan_send(b, &v);
    reset();
    tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(b, &y) };
    cr_assert_eq(tg_select(cs, 2), 1);
    struct ev *e[2];
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 2), 1);
    cr_assert_eq(e[0]->p.op, TG_PROBE_RECV);
    cr_assert_eq(e[0]->p.obj, b);
    cr_assert_eq(e[0]->p.cases, cs);
    cr_assert_eq(e[0]->p.ncases, 2);
    cr_assert_eq(e[0]->p.chosen, 1);
    cr_assert_eq(e[0]->p.seq, 0);
    cr_assert_eq(e[0]->p.result, 0);
    tg_chan_free(a);
    tg_chan_free(b);
}

static void expire_close(void *arg)
{
    tg_chan_close(arg);
}

Test(hooks, select_parked_through_an_expiry_fires_one_park_and_one_wake, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *done = chan(0, 0);
    tg__chan_set_expiry(done, tg_now() + 20 * TG_MSEC, expire_close, done);
    int x;
    tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(done, NULL) };
    reset();
    cr_assert_eq(tg_select(cs, 2), 1);
    pthread_t me = pthread_self();
    struct ev *park[2], *wake[2], *done_ev[4];
    cr_assert_eq(collect(EV_PARK, &me, park, 2), 1);
    cr_assert_eq(park[0]->p.op, TG_PROBE_SELECT);
    cr_assert_null(park[0]->p.obj);
    cr_assert_eq(park[0]->p.cases, cs);
    cr_assert_eq(park[0]->p.ncases, 2);
    cr_assert_eq(collect(EV_WAKE, &me, wake, 2), 1);
    cr_assert_eq(wake[0]->p.chosen, 1);
    /* The expiry's close, then the select's completion on done. */
    int n = collect(EV_COMPLETE, &me, done_ev, 4);
    cr_assert_eq(n, 2);
    cr_assert_eq(done_ev[0]->p.op, TG_PROBE_CLOSE);
    cr_assert_eq(done_ev[0]->p.obj, done);
    cr_assert_eq(done_ev[1]->p.op, TG_PROBE_RECV);
    cr_assert_eq(done_ev[1]->p.obj, done);
    cr_assert_eq(done_ev[1]->p.chosen, 1);
    cr_assert_eq(done_ev[1]->p.seq, TG_SEQ_CLOSED);
    tg_chan_free(a);
    tg_chan_free(done);
}

Test(hooks, select_default_and_timeout_complete_as_select_with_their_result, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0);
    int x;
    tg_case_t cs[] = { TG_RECV(a, &x) };
    reset();
    cr_assert_eq(tg_select_try(cs, 1), -EAGAIN);
    cr_assert_eq(tg_select_timeout(cs, 1, TG_MSEC), -ETIMEDOUT);
    struct ev *e[4];
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 4), 2);
    cr_assert_eq(e[0]->p.op, TG_PROBE_SELECT);
    cr_assert_eq(e[0]->p.result, -EAGAIN);
    cr_assert_eq(e[0]->p.chosen, -1);
    cr_assert_eq(e[0]->p.cases, cs);
    cr_assert_eq(e[1]->p.op, TG_PROBE_SELECT);
    cr_assert_eq(e[1]->p.result, -ETIMEDOUT);
    cr_assert_eq(collect(EV_PARK, NULL, e, 4), 1, "one park per blocking call");
    cr_assert_eq(e[0]->p.op, TG_PROBE_SELECT);
    cr_assert_eq(e[0]->p.cases, cs);
    cr_assert_eq(e[0]->p.ncases, 1);
    tg_chan_free(a);
}

Test(hooks, send_case_on_closed_channel_completes_with_EPIPE_and_closed_seq, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0);
    tg_chan_close(a);
    int v = 1;
    tg_case_t cs[] = { TG_SEND(a, &v) };
    reset();
    cr_assert_eq(tg_select(cs, 1), 0);
    struct ev *e[2];
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 2), 1);
    cr_assert_eq(e[0]->p.op, TG_PROBE_SEND);
    cr_assert_eq(e[0]->p.result, -EPIPE);
    cr_assert_eq(e[0]->p.seq, TG_SEQ_CLOSED);
    cr_assert_eq(e[0]->p.chosen, 0);
    tg_chan_free(a);
}

/* ---- free ------------------------------------------------------------------------ */

static void *recv_block(void *p)
{
    tg_chan_recv(p, NULL, NULL);
    return NULL;
}

Test(hooks, free_with_a_parked_waiter_reports_FREE_with_EBUSY_and_no_destroy, .timeout = 30)
{
    tg_chan_t *ch = chan(0, 0);
    reset();
    pthread_t t;
    pthread_create(&t, NULL, recv_block, ch);
    struct ev *e[2];
    while (collect(EV_PARK, NULL, e, 2) < 1)
        usleep(1000);
    cr_assert_eq(tg_chan_free(ch), -EBUSY);
    pthread_t me = pthread_self();
    cr_assert_eq(collect(EV_COMPLETE, &me, e, 2), 1);
    cr_assert_eq(e[0]->p.op, TG_PROBE_FREE);
    cr_assert_eq(e[0]->p.obj, ch);
    cr_assert_eq(e[0]->p.result, -EBUSY);
    cr_assert_eq(collect(EV_DESTROY, NULL, e, 2), 0);
    tg_chan_close(ch);
    pthread_join(t, NULL);
    cr_assert_eq(tg_chan_free(ch), 0);
    cr_assert_eq(collect(EV_DESTROY, NULL, e, 2), 1);
}

/* ---- probes run outside the runtime's locks ------------------------------------- */

static void *ping_pong(void *p)
{
    tg_chan_t **c = p;
    for (int i = 0; i < 500; i++) {
        int v;
        tg_chan_recv(c[0], &v, NULL);
        tg_chan_send(c[1], &v);
    }
    return NULL;
}

Test(hooks, complete_probes_run_outside_the_channel_lock, .timeout = 60)
{
    tg_chan_t *c[2] = { chan(sizeof(int), 0), chan(sizeof(int), 0) };
    atomic_store(&reenter, true);
    pthread_t t;
    pthread_create(&t, NULL, ping_pong, c);
    for (int i = 0; i < 500; i++) {
        int v = i;
        tg_chan_send(c[0], &v);
        tg_case_t cs[] = { TG_RECV(c[1], &v) };
        cr_assert_eq(tg_select(cs, 1), 0);
        cr_assert_eq(v, i);
    }
    pthread_join(t, NULL);
    atomic_store(&reenter, false);
    cr_assert_geq(atomic_load(&reentered), 2000);
    tg_chan_free(c[0]);
    tg_chan_free(c[1]);
}
