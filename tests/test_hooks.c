/*
 * tests/test_hooks.c: the probe points. The test program exports
 * tangle_shim_hooks() as the preload shim does, so the runtime's
 * constructor installs a recording table before main; each test then
 * checks which probes fired, in which order, with which arguments and
 * sequence numbers. An event's index in evs is a global sequence number,
 * taken as the probe fires: the begin tests compare indexes to prove that
 * the releasing thread's begin came before the observer's complete.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "tangle/tangle.h"

enum { EV_CREATE = 1, EV_DESTROY, EV_PARK, EV_WAKE, EV_COMPLETE, EV_BEGIN };

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
    TG__ATOMIC_WORD(&evs[i].ready, sizeof evs[i].ready);
    evs[i].type = type;
    evs[i].tid = pthread_self();
    return &evs[i];
}

static void publish(struct ev *e)
{
    if (e) {
        TG__HAPPENS_BEFORE(e);
        atomic_store_explicit(&e->ready, 1, memory_order_release);
    }
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

static void on_begin(const struct tg_probe *p)
{
    struct ev *e = record(EV_BEGIN);
    if (e)
        e->p = *p;
    publish(e);
}

static const struct tg_hooks recorder = {
    .version = TG_HOOKS_VERSION,
    .create = on_create,
    .destroy = on_destroy,
    .park = on_park,
    .wake = on_wake,
    .complete = on_complete,
    .begin = on_begin,
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
        if (!atomic_load_explicit(&evs[i].ready, memory_order_acquire))
            continue;
        TG__HAPPENS_AFTER(&evs[i]);
        if (evs[i].type != type)
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
    int x;
    tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(done, NULL) };
    /* A select that parks and times out first, so the one checked below
     * runs warm: under valgrind, translating select's code for the first
     * time can take much of the 20 ms before the expiry. */
    cr_assert_eq(tg_select_timeout(cs, 2, TG_MSEC), -ETIMEDOUT);
    tg__chan_set_expiry(done, tg_now() + 20 * TG_MSEC, expire_close, done);
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

/* ---- begin: before the operation can be observed ------------------------------- */

static const char any_obj;
#define ANY ((const void *)&any_obj)

/* Events of one type and op, on obj (ANY: whatever object) and of thread
 * tid (NULL: any thread), in the order they fired. */
static int collect_op(int type, int op, const void *obj, const pthread_t *tid,
                      struct ev **out, int max)
{
    int n = 0, total = atomic_load(&nev);
    for (int i = 0; i < total && i < MAX_EV; i++) {
        struct ev *e = &evs[i];
        if (!atomic_load_explicit(&e->ready, memory_order_acquire))
            continue;
        TG__HAPPENS_AFTER(e);
        if (e->type != type || e->p.op != op)
            continue;
        if (obj != ANY && e->p.obj != obj)
            continue;
        if (tid && !pthread_equal(e->tid, *tid))
            continue;
        if (n < max)
            out[n] = e;
        n++;
    }
    return n;
}

/* The global order in which two probes fired. */
static inline long idx(const struct ev *e)
{
    return (long)(e - evs);
}

struct feeder {
    tg_chan_t *ch;
    int n;
    bool select;
};

static void *feed(void *p)
{
    struct feeder *f = p;
    for (int i = 0; i < f->n; i++) {
        if (f->select) {
            tg_case_t c[] = { TG_SEND(f->ch, &i) };
            tg_select(c, 1);
        } else {
            tg_chan_send(f->ch, &i);
        }
    }
    return NULL;
}

/* One thread sends N values (by send or a one-case select), this one
 * receives them (likewise). For every value s: the sender's begin fired
 * before the receive of s completed (send s happens before receive s
 * completes), and the receiver's begin for s fired before send s + cap
 * completed (the capacity rule; cap 0: before send s completes). A begin
 * that fired as late as the complete would fail this: the receiver of a
 * buffered value often completes first. */
static void check_begin_order(size_t cap, bool sel)
{
    enum { N = 1000 };
    tg_chan_t *ch = chan(sizeof(int), cap);
    reset();
    struct feeder f = { ch, N, sel };
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, feed, &f), 0);
    pthread_t me = pthread_self();
    for (int i = 0; i < N; i++) {
        int v = -1;
        if (sel) {
            tg_case_t c[] = { TG_RECV(ch, &v) };
            cr_assert_eq(tg_select(c, 1), 0);
        } else {
            cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
        }
        cr_assert_eq(v, i);
    }
    pthread_join(t, NULL);
    static struct ev *sb[N], *rb[N], *sc[N], *rc[N];
    int bop_s = sel ? TG_PROBE_SELECT : TG_PROBE_SEND;
    int bop_r = sel ? TG_PROBE_SELECT : TG_PROBE_RECV;
    const void *bobj = sel ? NULL : ch;
    cr_assert_eq(collect_op(EV_BEGIN, bop_s, bobj, &t, sb, N), N,
                 "one begin per send");
    cr_assert_eq(collect_op(EV_BEGIN, bop_r, bobj, &me, rb, N), N,
                 "one begin per receive");
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_SEND, ch, &t, sc, N), N);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_RECV, ch, &me, rc, N), N);
    for (int s = 0; s < N; s++) {
        cr_assert_eq(sb[s]->p.kind, TG_OBJ_CHAN);
        if (sel) {
            cr_assert_not_null(sb[s]->p.cases);
            cr_assert_eq(sb[s]->p.ncases, 1);
            cr_assert_eq(rb[s]->p.ncases, 1);
        } else {
            cr_assert_null(sb[s]->p.cases);
        }
        cr_assert_eq(sc[s]->p.seq, (uint64_t)s);
        cr_assert_eq(rc[s]->p.seq, (uint64_t)s);
        cr_assert_lt(idx(sb[s]), idx(sc[s]), "begin after its own complete");
        cr_assert_lt(idx(rb[s]), idx(rc[s]), "begin after its own complete");
        cr_assert_lt(idx(sb[s]), idx(rc[s]),
                     "send %d began after its receive completed", s);
        if (s + cap < N)
            cr_assert_lt(idx(rb[s]), idx(sc[s + cap]),
                         "receive %d began after send %zu completed", s,
                         s + cap);
    }
    tg_chan_free(ch);
}

Test(hooks, buffered_send_begins_before_its_receive_completes_and_receive_before_send_s_plus_cap, .timeout = 60)
{
    check_begin_order(2, false);
}

Test(hooks, unbuffered_send_and_receive_each_begin_before_the_other_completes, .timeout = 60)
{
    check_begin_order(0, false);
}

Test(hooks, select_begins_before_the_partner_of_its_chosen_case_completes, .timeout = 60)
{
    check_begin_order(0, true);
    check_begin_order(3, true);
}

static void *close_when_parked(void *p)
{
    struct ev *e[1];
    while (collect(EV_PARK, NULL, e, 1) < 1)
        usleep(1000);
    tg_chan_close(p);
    return NULL;
}

Test(hooks, close_begins_before_the_receiver_it_wakes_completes, .timeout = 60)
{
    pthread_t me = pthread_self();
    for (int i = 0; i < 20; i++) {
        tg_chan_t *ch = chan(sizeof(int), 0);
        reset();
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, close_when_parked, ch), 0);
        bool ok = true;
        cr_assert_eq(tg_chan_recv(ch, NULL, &ok), 0);
        cr_assert(!ok);
        pthread_join(t, NULL);
        struct ev *b[2], *c[2];
        cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_CLOSE, ch, &t, b, 2), 1);
        cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_RECV, ch, &me, c, 2), 1);
        cr_assert_eq(c[0]->p.seq, TG_SEQ_CLOSED);
        cr_assert_lt(idx(b[0]), idx(c[0]));
        tg_chan_free(ch);
    }
}

static void *wg_done_thread(void *p)
{
    tg_wg_done(p);
    return NULL;
}

Test(hooks, wg_done_begins_before_the_wait_it_releases_completes, .timeout = 60)
{
    pthread_t me = pthread_self();
    for (int i = 0; i < 50; i++) {
        tg_wg_t wg;
        tg_wg_init(&wg);
        cr_assert_eq(tg_wg_add(&wg, 1), 0);
        reset();
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, wg_done_thread, &wg), 0);
        cr_assert_eq(tg_wg_wait(&wg), 0);
        pthread_join(t, NULL);
        struct ev *b[2], *c[2];
        cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_WG_ADD, &wg, &t, b, 2), 1);
        cr_assert_eq(b[0]->p.kind, TG_OBJ_WG);
        cr_assert_eq(b[0]->p.value, -1);
        cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_WG_WAIT, &wg, &me, c, 2),
                     1);
        cr_assert_lt(idx(b[0]), idx(c[0]));
    }
}

Test(hooks, every_wg_counter_change_fires_one_begin_before_its_complete, .timeout = 30)
{
    tg_wg_t wg;
    tg_wg_init(&wg);
    reset();
    cr_assert_eq(tg_wg_add(&wg, 3), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tg_wg_done(&wg), 0);
    cr_assert_eq(tg_wg_done(&wg), -ERANGE);
    struct ev *b[8], *c[8];
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_WG_ADD, &wg, NULL, b, 8), 5);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_WG_ADD, &wg, NULL, c, 8), 5);
    int64_t deltas[] = { 3, -1, -1, -1, -1 };
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(b[i]->p.value, deltas[i]);
        cr_assert_lt(idx(b[i]), idx(c[i]));
        if (i + 1 < 5)
            cr_assert_lt(idx(c[i]), idx(b[i + 1]));
    }
}

static void *cancel_when_parked(void *p)
{
    struct ev *e[1];
    while (collect(EV_PARK, NULL, e, 1) < 1)
        usleep(1000);
    tg_ctx_cancel(p);
    return NULL;
}

Test(hooks, parent_cancel_begins_once_per_context_before_a_childs_done_receive_completes, .timeout = 60)
{
    pthread_t me = pthread_self();
    for (int i = 0; i < 20; i++) {
        tg_ctx_t *parent, *child, *grand;
        cr_assert_eq(tg_ctx_with_cancel(NULL, &parent), 0);
        cr_assert_eq(tg_ctx_with_cancel(parent, &child), 0);
        cr_assert_eq(tg_ctx_with_cancel(child, &grand), 0);
        tg_chan_t *done = tg_ctx_done(child);
        reset();
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, cancel_when_parked, parent), 0);
        bool ok = true;
        cr_assert_eq(tg_chan_recv(done, NULL, &ok), 0);
        cr_assert(!ok);
        pthread_join(t, NULL);
        struct ev *b[8], *c[2], *cl[2];
        cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_CTX_CANCEL, ANY, NULL, b, 8),
                     3, "one begin per context of the tree");
        const tg_ctx_t *seen[3] = { 0 };
        struct ev *child_begin = NULL;
        for (int k = 0; k < 3; k++) {
            cr_assert(pthread_equal(b[k]->tid, t));
            cr_assert_eq(b[k]->p.kind, TG_OBJ_CTX);
            cr_assert_eq(b[k]->p.value, -ECANCELED);
            const tg_ctx_t *o = b[k]->p.obj;
            int slot = o == parent ? 0 : o == child ? 1 : o == grand ? 2 : -1;
            cr_assert_geq(slot, 0, "begin on a context outside the tree");
            cr_assert_null(seen[slot], "two begins for one context");
            seen[slot] = o;
            if (o == child)
                child_begin = b[k];
        }
        cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_RECV, done, &me, c, 2), 1);
        cr_assert_eq(c[0]->p.seq, TG_SEQ_CLOSED);
        cr_assert_lt(idx(child_begin), idx(c[0]));
        cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_CLOSE, done, &t, cl, 2), 1);
        cr_assert_lt(idx(child_begin), idx(cl[0]), "cancel's begin before Done's close");
        cr_assert_lt(idx(cl[0]), idx(c[0]));
        /* Cancelling what is already done closes nothing: no begin. */
        tg_ctx_cancel(parent);
        tg_ctx_cancel(child);
        tg_ctx_cancel(grand);
        cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_CTX_CANCEL, ANY, NULL, b, 8), 3);
        tg_ctx_free(grand);
        tg_ctx_free(child);
        tg_ctx_free(parent);
    }
}

Test(hooks, deadline_expiry_begins_once_per_context_before_the_wait_completes, .timeout = 30)
{
    tg_ctx_t *parent, *child;
    /* The same set-up once before, so the one checked below runs warm:
     * under valgrind, translating this code the first time can take much
     * of the 20 ms, and an expiry before reset() would go unrecorded. */
    cr_assert_eq(tg_ctx_with_timeout(NULL, TG_SEC, &parent), 0);
    cr_assert_eq(tg_ctx_with_cancel(parent, &child), 0);
    tg_ctx_release(child);
    tg_ctx_release(parent);
    cr_assert_eq(tg_ctx_with_timeout(NULL, 20 * TG_MSEC, &parent), 0);
    cr_assert_eq(tg_ctx_with_cancel(parent, &child), 0);
    reset();
    cr_assert_eq(tg_ctx_wait(child), -ETIMEDOUT);
    struct ev *b[4], *c[2];
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_CTX_CANCEL, ANY, NULL, b, 4), 2);
    cr_assert_neq(b[0]->p.obj, b[1]->p.obj);
    pthread_t me = pthread_self();
    /* tg_ctx_wait completes once; the tg_ctx_err it runs to see the
     * verdict completes as CTX_WAIT too, first. */
    cr_assert_geq(collect_op(EV_COMPLETE, TG_PROBE_CTX_WAIT, child, &me, c, 2), 1);
    for (int k = 0; k < 2; k++) {
        cr_assert(b[k]->p.obj == parent || b[k]->p.obj == child);
        cr_assert_eq(b[k]->p.value, -ETIMEDOUT);
        cr_assert_lt(idx(b[k]), idx(c[0]));
    }
    tg_ctx_free(child);
    tg_ctx_free(parent);
}

static int noop_task(tg_ctx_t *ctx, void *arg)
{
    (void)ctx;
    atomic_fetch_add((_Atomic int *)arg, 1);
    return 0;
}

Test(hooks, group_go_begins_before_its_task_starts_and_task_ends_begin_before_wait_completes, .timeout = 60)
{
    enum { N = 20 };
    tg_group_t *g;
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    /* Limit 1: every task after the first goes to the same, idle, runner,
     * through its state word rather than a thread creation. */
    cr_assert_eq(tg_group_set_limit(g, 1), 0);
    _Atomic int ran = 0;
    reset();
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_group_go(g, noop_task, &ran), 0);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(atomic_load(&ran), N);
    pthread_t me = pthread_self();
    struct ev *gb[N + 1], *ts[N + 1], *te[N + 1], *gc[N + 1], *w[2];
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_TASK_START, g, &me, gb, N + 1), N);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_GROUP_GO, g, &me, gc, N + 1), N);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_TASK_START, g, NULL, ts, N + 1), N);
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_TASK_END, g, NULL, te, N + 1), N);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_GROUP_WAIT, g, &me, w, 2), 1);
    for (int k = 0; k < N; k++) {
        cr_assert_eq(gb[k]->p.kind, TG_OBJ_GROUP);
        cr_assert_eq(gb[k]->p.seq, (uint64_t)k);
        cr_assert_eq(gc[k]->p.seq, (uint64_t)k);
        /* One runner, so its starts and ends come in task order. */
        cr_assert_eq(ts[k]->p.seq, (uint64_t)k);
        cr_assert_eq(te[k]->p.seq, (uint64_t)k);
        cr_assert(pthread_equal(ts[k]->tid, ts[0]->tid), "runner not reused");
        cr_assert(!pthread_equal(ts[k]->tid, me));
        cr_assert(pthread_equal(te[k]->tid, ts[k]->tid));
        cr_assert_lt(idx(gb[k]), idx(ts[k]), "task %d started before its go began", k);
        cr_assert_lt(idx(ts[k]), idx(te[k]));
        cr_assert_lt(idx(te[k]), idx(w[0]), "task %d ended after wait completed", k);
    }
    cr_assert_eq(tg_group_free(g), 0);
}

static void count_job(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
}

Test(hooks, pool_submit_begins_before_the_job_is_received_and_workers_end_before_shutdown_completes, .timeout = 60)
{
    enum { N = 50, WORKERS = 2 };
    tg_pool_t *p;
    reset();
    /* Room for every job, so each submit is one send (one begin). */
    cr_assert_eq(tg_pool_new(&p, WORKERS, 64, "hooks"), 0);
    struct ev *cr[8];
    tg_chan_t *queue = NULL;
    int nc = collect(EV_CREATE, NULL, cr, 8);
    for (int i = 0; i < nc && i < 8; i++)
        if (cr[i]->kind == TG_OBJ_CHAN && cr[i]->info.owner == p)
            queue = (tg_chan_t *)cr[i]->obj;
    cr_assert_not_null(queue, "the pool's queue was not reported");
    _Atomic int ran = 0;
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_pool_submit(p, count_job, &ran), 0);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(atomic_load(&ran), N);
    pthread_t me = pthread_self();
    static struct ev *sb[N + 1], *rc[N + WORKERS + 1];
    struct ev *te[WORKERS + 1], *sd[2];
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_SEND, queue, &me, sb, N + 1), N);
    int nr = collect_op(EV_COMPLETE, TG_PROBE_RECV, queue, NULL, rc,
                        N + WORKERS + 1);
    cr_assert_eq(nr, N + WORKERS, "each job, then the close for each worker");
    int jobs = 0;
    for (int i = 0; i < nr; i++) {
        if (rc[i]->p.seq == TG_SEQ_CLOSED)
            continue;
        uint64_t s = rc[i]->p.seq;
        cr_assert_lt(s, (uint64_t)N);
        cr_assert_lt(idx(sb[s]), idx(rc[i]), "job %llu received before its submit began",
                     (unsigned long long)s);
        jobs++;
    }
    cr_assert_eq(jobs, N);
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_TASK_END, p, NULL, te, WORKERS + 1),
                 WORKERS, "one end per worker");
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_POOL_SHUTDOWN, p, &me, sd, 2), 1);
    cr_assert_eq(sd[0]->p.result, 0);
    for (int k = 0; k < WORKERS; k++) {
        cr_assert_eq(te[k]->p.kind, TG_OBJ_POOL);
        cr_assert(!pthread_equal(te[k]->tid, me));
        cr_assert_lt(idx(te[k]), idx(sd[0]));
    }
    cr_assert(!pthread_equal(te[0]->tid, te[1]->tid));
}

static _Atomic int go_ran;

static void go_fn(void *arg)
{
    (void)arg;
    atomic_store(&go_ran, 1);
}

Test(hooks, tg_go_begins_before_the_new_thread_completes_its_start, .timeout = 30)
{
    reset();
    cr_assert_eq(tg_go(go_fn, NULL, NULL), 0);
    while (!atomic_load(&go_ran))
        usleep(1000);
    pthread_t me = pthread_self();
    struct ev *b[2], *c[2];
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_TASK_START, ANY, &me, b, 2), 1);
    cr_assert_not_null(b[0]->p.obj);
    cr_assert_eq(b[0]->p.kind, 0);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_TASK_START, b[0]->p.obj, NULL,
                            c, 2), 1);
    cr_assert(!pthread_equal(c[0]->tid, me));
    cr_assert_lt(idx(b[0]), idx(c[0]));
}

/* ---- begin: once per call ---------------------------------------------------------- */

Test(hooks, a_receive_parked_through_an_expiry_and_retried_begins_once, .timeout = 30)
{
    tg_chan_t *done = chan(0, 0);
    /* Warm (see select_parked_through_an_expiry_fires_one_park_and_one_wake). */
    cr_assert_eq(tg_chan_recv_timeout(done, NULL, NULL, TG_MSEC), -ETIMEDOUT);
    tg__chan_set_expiry(done, tg_now() + 20 * TG_MSEC, expire_close, done);
    reset();
    bool ok = true;
    cr_assert_eq(tg_chan_recv(done, NULL, &ok), 0);
    cr_assert(!ok);
    pthread_t me = pthread_self();
    struct ev *e[4], *c[4];
    cr_assert_eq(collect_op(EV_PARK, TG_PROBE_RECV, done, &me, e, 4), 1,
                 "the receive parked");
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_CLOSE, done, &me, e, 4), 1,
                 "the expiry closed the channel");
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_RECV, done, &me, e, 4), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_RECV, done, &me, c, 4), 1);
    cr_assert_lt(idx(e[0]), idx(c[0]));
    tg_chan_free(done);
}

Test(hooks, a_send_parked_through_an_expiry_and_retried_begins_once, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 1);
    int v = 1;
    cr_assert_eq(tg_chan_send(ch, &v), 0);
    /* Warm (see select_parked_through_an_expiry_fires_one_park_and_one_wake). */
    cr_assert_eq(tg_chan_send_timeout(ch, &v, TG_MSEC), -ETIMEDOUT);
    tg__chan_set_expiry(ch, tg_now() + 20 * TG_MSEC, expire_close, ch);
    reset();
    cr_assert_eq(tg_chan_send(ch, &v), -EPIPE);
    struct ev *e[4];
    cr_assert_eq(collect_op(EV_PARK, TG_PROBE_SEND, ch, NULL, e, 4), 1);
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_SEND, ch, NULL, e, 4), 1);
    tg_chan_free(ch);
}

Test(hooks, a_select_parked_through_an_expiry_and_retried_begins_once, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *done = chan(0, 0);
    int x;
    tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(done, NULL) };
    /* Warm (see select_parked_through_an_expiry_fires_one_park_and_one_wake). */
    cr_assert_eq(tg_select_timeout(cs, 2, TG_MSEC), -ETIMEDOUT);
    tg__chan_set_expiry(done, tg_now() + 20 * TG_MSEC, expire_close, done);
    reset();
    cr_assert_eq(tg_select(cs, 2), 1);
    struct ev *e[4];
    cr_assert_eq(collect_op(EV_PARK, TG_PROBE_SELECT, NULL, NULL, e, 4), 1);
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_SELECT, NULL, NULL, e, 4), 1);
    cr_assert_eq(e[0]->p.cases, cs);
    cr_assert_eq(e[0]->p.ncases, 2);
    cr_assert_eq(e[0]->p.chosen, -1);
    tg_chan_free(a);
    tg_chan_free(done);
}

Test(hooks, a_blocking_receive_woken_by_a_sender_begins_once_before_it_parks, .timeout = 30)
{
    tg_chan_t *ch = chan(sizeof(int), 0);
    reset();
    struct later l = { ch, 7 };
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, send_when_parked, &l), 0);
    int v = 0;
    cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
    cr_assert_eq(v, 7);
    pthread_join(t, NULL);
    pthread_t me = pthread_self();
    struct ev *b[2], *pk[2];
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_RECV, ch, &me, b, 2), 1);
    cr_assert_eq(collect_op(EV_PARK, TG_PROBE_RECV, ch, &me, pk, 2), 1);
    cr_assert_lt(idx(b[0]), idx(pk[0]));
    tg_chan_free(ch);
}

Test(hooks, tries_answered_without_the_lock_fire_no_begin, .timeout = 30)
{
    tg_chan_t *empty = chan(sizeof(int), 1), *full = chan(sizeof(int), 1);
    int v = 0;
    cr_assert_eq(tg_chan_send(full, &v), 0);
    reset();
    cr_assert_eq(tg_chan_try_recv(empty, &v, NULL), -EAGAIN);
    cr_assert_eq(tg_chan_try_send(full, &v), -EAGAIN);
    tg_case_t cs[] = { TG_RECV(empty, &v) };
    cr_assert_eq(tg_select_try(cs, 1), -EAGAIN);
    struct ev *e[4];
    cr_assert_eq(collect(EV_BEGIN, NULL, e, 4), 0);
    cr_assert_eq(collect(EV_COMPLETE, NULL, e, 4), 3);
    tg_chan_free(empty);
    tg_chan_free(full);
}

/* ---- a version 1 table ------------------------------------------------------------- */

static void *v1_sender(void *p)
{
    int v = 5;
    tg_chan_send(p, &v);
    return NULL;
}

Test(hooks, a_version_1_table_is_never_read_past_complete, .timeout = 60)
{
    /* The table ends at a page boundary, the next page unreadable: a read
     * of `begin` would fault. */
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    cr_assert_eq(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
    struct tg_hooks *v1 =
        (struct tg_hooks *)(m + pg - offsetof(struct tg_hooks, begin));
    v1->version = 1;
    v1->create = on_create;
    v1->destroy = on_destroy;
    v1->park = on_park;
    v1->wake = on_wake;
    v1->complete = on_complete;
    tg_hooks_install(v1);
    reset();

    tg_chan_t *ch = chan(sizeof(int), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, v1_sender, ch), 0);
    int v = 0;
    tg_case_t cs[] = { TG_RECV(ch, &v) };
    cr_assert_eq(tg_select(cs, 1), 0);
    cr_assert_eq(v, 5);
    pthread_join(t, NULL);
    cr_assert_eq(tg_chan_close(ch), 0);
    tg_wg_t wg;
    tg_wg_init(&wg);
    tg_wg_add(&wg, 1);
    tg_wg_done(&wg);
    cr_assert_eq(tg_wg_wait(&wg), 0);
    tg_ctx_t *ctx;
    cr_assert_eq(tg_ctx_with_cancel(NULL, &ctx), 0);
    tg_ctx_cancel(ctx);   /* freed at the end: its address stays its own */
    tg_group_t *g;
    _Atomic int ran = 0;
    cr_assert_eq(tg_group_new(&g, NULL, NULL), 0);
    cr_assert_eq(tg_group_go(g, noop_task, &ran), 0);
    cr_assert_eq(tg_group_wait(g), 0);
    cr_assert_eq(tg_group_free(g), 0);
    tg_pool_t *p;
    cr_assert_eq(tg_pool_new(&p, 1, 4, "v1"), 0);
    cr_assert_eq(tg_pool_submit(p, count_job, &ran), 0);
    cr_assert_eq(tg_pool_shutdown(p), 0);
    cr_assert_eq(tg_go(go_fn, NULL, NULL), 0);
    while (!atomic_load(&go_ran))
        usleep(1000);
    cr_assert_eq(atomic_load(&ran), 2);

    struct ev *e[8];
    cr_assert_eq(collect(EV_BEGIN, NULL, e, 8), 0);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_SEND, ch, &t, e, 8), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_RECV, ch, NULL, e, 8), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_CLOSE, ch, NULL, e, 8), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_WG_WAIT, &wg, NULL, e, 8), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_CTX_CANCEL, ctx, NULL, e, 8), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_GROUP_WAIT, g, NULL, e, 8), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_POOL_SHUTDOWN, p, NULL, e, 8), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_TASK_START, ANY, NULL, e, 8), 2,
                 "the group's task and tg_go's thread");
    tg_hooks_install(&recorder);
    tg_ctx_free(ctx);
    tg_chan_free(ch);
    munmap(m, 2 * (size_t)pg);
}

/* ---- a version 2 table ------------------------------------------------------------- */

Test(hooks, a_version_2_table_is_never_read_past_begin, .timeout = 60)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    cr_assert_eq(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
    struct tg_hooks *v2 =
        (struct tg_hooks *)(m + pg - offsetof(struct tg_hooks, token));
    v2->version = 2;
    v2->create = on_create;
    v2->destroy = on_destroy;
    v2->park = on_park;
    v2->wake = on_wake;
    v2->complete = on_complete;
    v2->begin = on_begin;
    tg_hooks_install(v2);
    reset();

    tg_chan_t *ub = chan(sizeof(int), 0), *b = chan(sizeof(int), 2);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, v1_sender, ub), 0);
    int v = 0;
    tg_case_t cs[] = { TG_RECV(ub, &v), TG_RECV(b, &v) };
    cr_assert_eq(tg_select(cs, 2), 0);
    cr_assert_eq(v, 5);
    pthread_join(t, NULL);
    cr_assert_eq(tg_chan_send(b, &v), 0);
    cr_assert_eq(tg_chan_send_timeout(ub, &v, 1000), -ETIMEDOUT);
    cr_assert_eq(tg_chan_close(b), 0);
    struct ev *e[8];
    cr_assert_eq(collect_op(EV_BEGIN, TG_PROBE_SELECT, NULL, NULL, e, 8), 1);
    cr_assert_eq(collect_op(EV_COMPLETE, TG_PROBE_RECV, ub, NULL, e, 8), 1);
    cr_assert_eq(e[0]->p.flags, 0, "a version 2 table is told of no tokens");
    tg_hooks_install(&recorder);
    tg_chan_free(ub);
    tg_chan_free(b);   /* one value still buffered: no token to drop */
    munmap(m, 2 * (size_t)pg);
}

/* ---- tokens (version 3) -------------------------------------------------------------- */

/* Each token is a number; the table records who made it (the operation
 * whose complete follows on the same thread), who received it and how
 * often it was dropped. */
#define MAX_TOK 200000
struct tokrec {
    int c_op, c_result;            /* the maker's complete */
    const void *c_ch;
    uint64_t c_seq;
    int d_op;                      /* the complete that received it */
    const void *d_ch;
    uint64_t d_seq;
    _Atomic int made, delivered, dropped;
};
static struct tokrec toks[MAX_TOK];
static _Atomic uintptr_t tok_next;
static _Atomic int tok_missing, tok_unflagged, tok_overflow;
static __thread uintptr_t tok_mine;
static tg_chan_t *tok_chans[3];
static const size_t tok_caps[3] = { 0, 1, 4 };

static size_t tok_cap(const void *ch)
{
    for (int i = 0; i < 3; i++)
        if (tok_chans[i] == ch)
            return tok_caps[i];
    return SIZE_MAX;
}

static uintptr_t tk_token(const struct tg_probe *p)
{
    (void)p;
    uintptr_t t = atomic_fetch_add(&tok_next, 1) + 1;
    if (t >= MAX_TOK) {
        atomic_fetch_add(&tok_overflow, 1);
        return 0;
    }
    tok_mine = t;
    return t;
}

static void tk_drop(uintptr_t t)
{
    if (t && t < MAX_TOK)
        atomic_fetch_add(&toks[t].dropped, 1);
}

static void tk_complete(const struct tg_probe *p)
{
    bool chan_op = p->op == TG_PROBE_SEND || p->op == TG_PROBE_RECV;
    if (chan_op && p->obj && !(p->flags & TG_PROBE_TOKENS))
        atomic_fetch_add(&tok_unflagged, 1);
    if (tok_mine) {
        struct tokrec *r = &toks[tok_mine];
        r->c_op = p->op;
        r->c_ch = p->obj;
        r->c_seq = p->seq;
        r->c_result = p->result;
        atomic_store_explicit(&r->made, 1, memory_order_release);
        tok_mine = 0;
    }
    if (p->token && p->token < MAX_TOK) {
        struct tokrec *r = &toks[p->token];
        r->d_op = p->op;
        r->d_ch = p->obj;
        r->d_seq = p->seq;
        atomic_fetch_add_explicit(&r->delivered, 1, memory_order_release);
    }
    /* Every value received came with its sender's token, and every send
     * past the first cap with the token of the receive it waited for. */
    if (chan_op && p->obj && p->result == 0 && p->seq != TG_SEQ_CLOSED && !p->token &&
        (p->op == TG_PROBE_RECV || p->seq >= tok_cap(p->obj)))
        atomic_fetch_add(&tok_missing, 1);
}

static const struct tg_hooks tokener = {
    .version = 3,
    .complete = tk_complete,
    .token = tk_token,
    .drop = tk_drop,
};

enum { TOK_SENDERS = 3, TOK_RECEIVERS = 3, TOK_ROUNDS = 1500 };

static void *tok_sender(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < TOK_ROUNDS; i++) {
        int v = i;
        unsigned k = (unsigned)rand_r(&seed);
        tg_chan_t *ch = tok_chans[k % 3];
        switch ((k >> 4) % 5) {
        case 0:
        case 1:
            tg_chan_send(ch, &v);
            break;
        case 2: {
            tg_case_t cs[] = { TG_SEND(ch, &v), TG_SEND(tok_chans[(k + 1) % 3], &v) };
            tg_select(cs, 2);
            break;
        }
        case 3:
            tg_chan_send_timeout(ch, &v, 20000);     /* may time out */
            break;
        default:
            tg_chan_try_send(ch, &v);                /* may find no room */
            break;
        }
    }
    return NULL;
}

static void *tok_receiver(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    bool open[3] = { true, true, true };
    while (open[0] || open[1] || open[2]) {
        int v;
        bool ok = true;
        unsigned k = (unsigned)rand_r(&seed);
        if (k % 4 == 0) {
            int i = (int)((k >> 4) % 3);
            if (open[i] && tg_chan_recv_timeout(tok_chans[i], &v, &ok, 20000) == 0 && !ok)
                open[i] = false;
            continue;
        }
        tg_case_t cs[3];
        for (int i = 0; i < 3; i++)
            cs[i] = (tg_case_t)TG_RECV(open[i] ? tok_chans[i] : NULL, &v);
        int r = tg_select(cs, 3);
        if (r >= 0 && !cs[r].ok)
            open[r] = false;
    }
    return NULL;
}

Test(hooks, tokens_pass_along_the_go_memory_model_edges_and_are_each_handed_on_once, .timeout = 120)
{
    tg_hooks_install(&tokener);
    for (int i = 0; i < 3; i++)
        tok_chans[i] = chan(sizeof(int), tok_caps[i]);
    pthread_t s[TOK_SENDERS], r[TOK_RECEIVERS];
    for (uintptr_t i = 0; i < TOK_RECEIVERS; i++)
        cr_assert_eq(pthread_create(&r[i], NULL, tok_receiver, (void *)(i + 100)), 0);
    for (uintptr_t i = 0; i < TOK_SENDERS; i++)
        cr_assert_eq(pthread_create(&s[i], NULL, tok_sender, (void *)(i + 1)), 0);
    for (int i = 0; i < TOK_SENDERS; i++)
        pthread_join(s[i], NULL);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tg_chan_close(tok_chans[i]), 0);
    for (int i = 0; i < TOK_RECEIVERS; i++)
        pthread_join(r[i], NULL);
    /* What the last receives left for sends that never came. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tg_chan_free(tok_chans[i]), 0);
    tg_hooks_install(&recorder);

    uintptr_t n = atomic_load(&tok_next);
    cr_assert_eq(atomic_load(&tok_overflow), 0);
    cr_assert_gt(n, TOK_SENDERS * TOK_ROUNDS, "every send made a token");
    cr_assert_eq(atomic_load(&tok_unflagged), 0, "a completion lacked TG_PROBE_TOKENS");
    cr_assert_eq(atomic_load(&tok_missing), 0, "a completion lacked its partner's token");
    size_t to_recv = 0, to_send = 0;
    for (uintptr_t t = 1; t <= n; t++) {
        struct tokrec *k = &toks[t];
        cr_assert(atomic_load_explicit(&k->made, memory_order_acquire),
                  "token %zu: no complete followed its making", (size_t)t);
        int d = atomic_load_explicit(&k->delivered, memory_order_acquire);
        int x = atomic_load(&k->dropped);
        cr_assert_eq(d + x, 1, "token %zu delivered %d times, dropped %d", (size_t)t, d, x);
        bool worked = k->c_result == 0 && k->c_seq != TG_SEQ_CLOSED &&
                      (k->c_op == TG_PROBE_SEND || k->c_op == TG_PROBE_RECV);
        if (!d) {
            continue;
        }
        cr_assert(worked, "token %zu of an operation that failed was delivered", (size_t)t);
        cr_assert_eq(k->d_ch, k->c_ch, "token %zu crossed channels", (size_t)t);
        if (k->c_op == TG_PROBE_SEND) {
            cr_assert_eq(k->d_op, TG_PROBE_RECV);
            cr_assert_eq(k->d_seq, k->c_seq, "send %llu's token went to receive %llu",
                         (unsigned long long)k->c_seq, (unsigned long long)k->d_seq);
            to_recv++;
        } else {
            cr_assert_eq(k->d_op, TG_PROBE_SEND);
            cr_assert_eq(k->d_seq, k->c_seq + tok_cap(k->c_ch),
                         "receive %llu's token went to send %llu",
                         (unsigned long long)k->c_seq, (unsigned long long)k->d_seq);
            to_send++;
        }
    }
    cr_assert_gt(to_recv, 0);
    cr_assert_gt(to_send, 0);
}
