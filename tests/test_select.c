/*
 * tests/test_select.c: select: readiness, default, timeouts, NULL cases,
 * closed channels, fairness of the random choice, address-order locking
 * under opposite case orders, races with close, and the clean-up of the
 * waiters a select leaves on the channels that did not fire.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"
#include "parks.h"
#include "tangle/tangle.h"


static tg_chan_t *chan(size_t elem, size_t cap)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, elem, cap), 0);
    return ch;
}

/* ---- readiness and default ---------------------------------------------- */

Test(select, select_try_on_empty_channels_returns_EAGAIN, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 2);
    int x, y;
    tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(b, &y) };
    cr_assert_eq(tg_select_try(cs, 2), -EAGAIN);
    cr_assert_eq(tg_chan_free(a), 0);
    cr_assert_eq(tg_chan_free(b), 0);
}

Test(select, select_try_sends_into_a_buffer_with_room, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 1);
    int x = 1, y = 2;
    tg_case_t cs[] = { TG_SEND(a, &x), TG_SEND(b, &y) };
    cr_assert_eq(tg_select_try(cs, 2), 1);
    cr_assert_eq(cs[1].err, 0);
    cr_assert_eq(tg_select_try(cs, 2), -EAGAIN);
    int v;
    cr_assert_eq(tg_chan_recv(b, &v, NULL), 0);
    cr_assert_eq(v, 2);
    tg_chan_free(a);
    tg_chan_free(b);
}

Test(select, select_picks_the_only_ready_case_and_receives_its_value, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 1), *b = chan(sizeof(int), 1);
    int v = 9, x = 0, y = 0;
    tg_chan_send(b, &v);
    tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(b, &y) };
    cr_assert_eq(tg_select(cs, 2), 1);
    cr_assert(cs[1].ok);
    cr_assert_eq(y, 9);
    cr_assert_eq(x, 0);
    cr_assert_eq(tg_chan_len(b), 0);
    tg_chan_free(a);
    tg_chan_free(b);
}

Test(select, invalid_case_op_or_missing_send_value_fails_with_EINVAL, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 1);
    int x = 0;
    tg_case_t bad = { .ch = a, .op = 7, .elem = &x };
    cr_assert_eq(tg_select_try(&bad, 1), -EINVAL);
    tg_case_t nul = TG_SEND(a, NULL);
    cr_assert_eq(tg_select_try(&nul, 1), -EINVAL);
    cr_assert_eq(tg_chan_len(a), 0);
    tg_chan_free(a);
}

/* ---- NULL channels and empty selects ---------------------------------------- */

Test(select, null_channel_cases_are_never_ready, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 1);
    int v = 4, x = 0;
    tg_case_t only_null[] = { TG_RECV(NULL, &x), TG_SEND(NULL, &v) };
    cr_assert_eq(tg_select_try(only_null, 2), -EAGAIN);
    int64_t t0 = tg_now();
    cr_assert_eq(tg_select_timeout(only_null, 2, 30 * TG_MSEC), -ETIMEDOUT);
    cr_assert_geq(tg_now() - t0, 30 * TG_MSEC);

    tg_chan_send(a, &v);
    for (int i = 0; i < 100; i++) {
        tg_case_t mixed[] = { TG_SEND(NULL, &v), TG_RECV(a, &x),
                              TG_RECV(NULL, &x) };
        cr_assert_eq(tg_select(mixed, 3), 1);
        cr_assert_eq(x, 4);
        cr_assert_eq(tg_chan_send(a, &v), 0);
    }
    tg_chan_free(a);
}

Test(select, empty_select_blocks_until_its_timeout, .timeout = 30)
{
    int64_t t0 = tg_now();
    cr_assert_eq(tg_select_timeout(NULL, 0, 30 * TG_MSEC), -ETIMEDOUT);
    cr_assert_geq(tg_now() - t0, 30 * TG_MSEC);
    cr_assert_eq(tg_select_try(NULL, 0), -EAGAIN);
}

/* ---- closed channels ------------------------------------------------------- */

Test(select, send_case_on_closed_channel_is_chosen_with_EPIPE, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *closed = chan(sizeof(int), 1);
    tg_chan_close(closed);
    int v = 1;
    tg_case_t cs[] = { TG_SEND(a, &v), TG_SEND(closed, &v) };
    cs[1].err = 0;
    cr_assert_eq(tg_select(cs, 2), 1);
    cr_assert_eq(cs[1].err, -EPIPE);
    cr_assert_eq(tg_chan_len(closed), 0);
    tg_chan_free(a);
    tg_chan_free(closed);
}

Test(select, recv_case_on_closed_channel_is_ready_with_ok_false_and_zeroed_value, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *closed = chan(sizeof(int), 0);
    tg_chan_close(closed);
    int x = 3, y = 3;
    tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(closed, &y) };
    cs[1].ok = true;
    cr_assert_eq(tg_select_try(cs, 2), 1);
    cr_assert_not(cs[1].ok);
    cr_assert_eq(y, 0);
    tg_chan_free(a);
    tg_chan_free(closed);
}

struct sel {
    tg_case_t cs[4];
    size_t n;
    int r;
    int64_t timeout;
    _Atomic int done;
};

static void *select_thread(void *p)
{
    struct sel *s = p;
    s->r = s->timeout ? tg_select_timeout(s->cs, s->n, s->timeout)
                      : tg_select(s->cs, s->n);
    atomic_store(&s->done, 1);
    return NULL;
}

Test(select, close_wakes_a_parked_select_with_the_closed_case, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 0);
    int x = 5, y = 5;
    struct sel s = { .cs = { TG_RECV(a, &x), TG_RECV(b, &y) }, .n = 2 };
    count_parks();
    pthread_t t = spawn(select_thread, &s);
    wait_parks(1);
    cr_assert_eq(tg_chan_free(b), -EBUSY);
    tg_chan_close(b);
    pthread_join(t, NULL);
    cr_assert_eq(s.r, 1);
    cr_assert_not(s.cs[1].ok);
    cr_assert_eq(y, 0);
    cr_assert_eq(x, 5);
    /* The waiter left on a was removed: both can be freed. */
    cr_assert_eq(tg_chan_free(a), 0);
    cr_assert_eq(tg_chan_free(b), 0);
}

Test(select, close_wakes_a_parked_select_send_with_EPIPE, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 0);
    int x = 0, v = 1;
    struct sel s = { .cs = { TG_RECV(a, &x), TG_SEND(b, &v) }, .n = 2 };
    count_parks();
    pthread_t t = spawn(select_thread, &s);
    wait_parks(1);
    tg_chan_close(b);
    pthread_join(t, NULL);
    cr_assert_eq(s.r, 1);
    cr_assert_eq(s.cs[1].err, -EPIPE);
    cr_assert_eq(tg_chan_free(a), 0);
    cr_assert_eq(tg_chan_free(b), 0);
}

struct closer {
    tg_chan_t *ch;
};

static void *close_it(void *p)
{
    struct closer *c = p;
    tg_chan_close(c->ch);
    return NULL;
}

Test(select, select_racing_with_close_always_sees_the_close_exactly_once, .timeout = 120)
{
    for (int round = 0; round < 2000; round++) {
        tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 0);
        int x = 1, y = 1;
        tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(b, &y) };
        struct closer c = { b };
        pthread_t t = spawn(close_it, &c);
        int r = tg_select(cs, 2);
        pthread_join(t, NULL);
        cr_assert_eq(r, 1, "round %d: chose %d", round, r);
        cr_assert_not(cs[1].ok);
        cr_assert_eq(y, 0);
        cr_assert_eq(x, 1, "case 0 touched");
        cr_assert_eq(tg_chan_free(a), 0, "round %d: waiter left on a", round);
        cr_assert_eq(tg_chan_free(b), 0, "round %d: waiter left on b", round);
    }
}

/* ---- parking -------------------------------------------------------------- */

Test(select, parked_select_receives_a_value_sent_later_on_one_channel, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 0);
    int x = 0, y = 0;
    struct sel s = { .cs = { TG_RECV(a, &x), TG_RECV(b, &y) }, .n = 2 };
    count_parks();
    pthread_t t = spawn(select_thread, &s);
    wait_parks(1);
    cr_assert_eq(atomic_load(&s.done), 0);
    int v = 17;
    cr_assert_eq(tg_chan_send(b, &v), 0);
    pthread_join(t, NULL);
    cr_assert_eq(s.r, 1);
    cr_assert(s.cs[1].ok);
    cr_assert_eq(y, 17);
    /* The select's waiter on a is gone: nobody receives there now. */
    cr_assert_eq(tg_chan_try_send(a, &v), -EAGAIN);
    cr_assert_eq(tg_chan_free(a), 0);
    cr_assert_eq(tg_chan_free(b), 0);
}

Test(select, parked_select_send_completes_when_a_receiver_arrives, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 0);
    int x = 0, v = 23;
    struct sel s = { .cs = { TG_RECV(a, &x), TG_SEND(b, &v) }, .n = 2 };
    count_parks();
    pthread_t t = spawn(select_thread, &s);
    wait_parks(1);
    int got = 0;
    bool ok = false;
    cr_assert_eq(tg_chan_recv(b, &got, &ok), 0);
    cr_assert(ok);
    cr_assert_eq(got, 23);
    pthread_join(t, NULL);
    cr_assert_eq(s.r, 1);
    cr_assert_eq(s.cs[1].err, 0);
    cr_assert_eq(tg_chan_try_send(a, &v), -EAGAIN);
    tg_chan_free(a);
    tg_chan_free(b);
}

Test(select, select_timeout_does_not_fire_early_and_leaves_no_waiters, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 1);
    int x = 0, y = 0;
    tg_case_t cs[] = { TG_RECV(a, &x), TG_SEND(b, &y) };
    tg_chan_send(b, &y);
    int64_t t0 = tg_now();
    cr_assert_eq(tg_select_timeout(cs, 2, 50 * TG_MSEC), -ETIMEDOUT);
    cr_assert_geq(tg_now() - t0, 50 * TG_MSEC);
    int64_t dl = tg_now() + 20 * TG_MSEC;
    cr_assert_eq(tg_select_deadline(cs, 2, dl), -ETIMEDOUT);
    cr_assert_geq(tg_now(), dl);
    cr_assert_eq(tg_chan_len(b), 1);
    cr_assert_eq(tg_chan_free(a), 0);
    cr_assert_eq(tg_chan_free(b), 0);
}

Test(select, select_with_duplicate_channels_locks_each_once, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 1);
    int v = 8, x = 0, y = 0;
    tg_case_t cs[] = { TG_RECV(a, &x), TG_SEND(a, &v), TG_RECV(a, &y) };
    /* Empty: only the send is ready. */
    cr_assert_eq(tg_select(cs, 3), 1);
    /* Full: only a receive is ready. */
    int r = tg_select(cs, 3);
    cr_assert(r == 0 || r == 2);
    cr_assert_eq(r == 0 ? x : y, 8);
    /* Parked on the same channel twice, woken once. */
    cr_assert_eq(tg_select_timeout(cs + 2, 1, TG_MSEC), -ETIMEDOUT);
    tg_case_t two[] = { TG_RECV(a, &x), TG_RECV(a, &y) };
    struct sel s = { .cs = { two[0], two[1] }, .n = 2 };
    count_parks();
    pthread_t t = spawn(select_thread, &s);
    wait_parks(1);
    cr_assert_eq(tg_chan_send(a, &v), 0);
    pthread_join(t, NULL);
    cr_assert(s.r == 0 || s.r == 1);
    cr_assert_eq(tg_chan_len(a), 0);
    cr_assert_eq(tg_chan_free(a), 0);
}

Test(select, select_over_many_cases_finds_the_ready_one, .timeout = 30)
{
    enum { N = 40 };
    tg_chan_t *chs[N];
    int vals[N];
    tg_case_t cs[N];
    for (int i = 0; i < N; i++) {
        chs[i] = chan(sizeof(int), 1);
        vals[i] = -1;
        cs[i] = TG_RECV(chs[i], &vals[i]);
    }
    int v = 37;
    tg_chan_send(chs[37], &v);
    cr_assert_eq(tg_select(cs, N), 37);
    cr_assert_eq(vals[37], 37);
    cr_assert_eq(tg_select_try(cs, N), -EAGAIN);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tg_chan_free(chs[i]), 0);
}

/* ---- fairness --------------------------------------------------------------- */

Test(select, two_always_ready_cases_are_each_chosen_40_to_60_percent, .timeout = 60)
{
    tg_chan_t *a = chan(sizeof(int), 1), *b = chan(sizeof(int), 1);
    int v = 1, x, y;
    tg_chan_send(a, &v);
    tg_chan_send(b, &v);
    int hits[2] = { 0, 0 };
    for (int i = 0; i < 10000; i++) {
        tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(b, &y) };
        int r = tg_select(cs, 2);
        cr_assert(r == 0 || r == 1);
        hits[r]++;
        tg_chan_send(r == 0 ? a : b, &v);
    }
    cr_assert(hits[0] >= 4000 && hits[0] <= 6000, "case 0 chosen %d times",
              hits[0]);
    cr_assert(hits[1] >= 4000 && hits[1] <= 6000, "case 1 chosen %d times",
              hits[1]);
    tg_chan_free(a);
    tg_chan_free(b);
}

Test(select, three_ready_cases_are_all_chosen_about_equally, .timeout = 60)
{
    tg_chan_t *c[3];
    int v = 1, x;
    for (int i = 0; i < 3; i++) {
        c[i] = chan(sizeof(int), 1);
        tg_chan_send(c[i], &v);
    }
    int hits[3] = { 0 };
    for (int i = 0; i < 9000; i++) {
        tg_case_t cs[] = { TG_RECV(c[0], &x), TG_RECV(c[1], &x),
                           TG_RECV(c[2], &x) };
        int r = tg_select(cs, 3);
        hits[r]++;
        tg_chan_send(c[r], &v);
    }
    for (int i = 0; i < 3; i++)
        cr_assert(hits[i] >= 2500 && hits[i] <= 3500, "case %d: %d", i,
                  hits[i]);
    for (int i = 0; i < 3; i++)
        tg_chan_free(c[i]);
}

/* ---- lock order --------------------------------------------------------------- */

#define ROUNDS 20000

struct pair {
    tg_chan_t *a, *b;
    bool reversed;
    int completed;
    int errors;
};

/* Each round one thread sends on one channel and receives on the other,
 * listing them in the opposite order to its partner; every round pairs
 * the two up. A select locking in case order would deadlock here. */
static void *opposite(void *p)
{
    struct pair *pr = p;
    int out = 1, in = 0;
    for (int i = 0; i < ROUNDS; i++) {
        tg_case_t cs[2];
        if (!pr->reversed) {
            cs[0] = TG_SEND(pr->a, &out);
            cs[1] = TG_RECV(pr->b, &in);
        } else {
            cs[0] = TG_SEND(pr->b, &out);
            cs[1] = TG_RECV(pr->a, &in);
        }
        int r = tg_select(cs, 2);
        if (r < 0 || cs[r].err)
            pr->errors++;
        else
            pr->completed++;
    }
    return NULL;
}

/* pairs: how many threads list the channels in each order. */
static void run_opposite(int pairs)
{
    tg_chan_t *a = chan(sizeof(int), 0), *b = chan(sizeof(int), 0);
    struct pair p[4];
    pthread_t t[4];
    for (int i = 0; i < 2 * pairs; i++) {
        p[i] = (struct pair){ a, b, i % 2 == 1, 0, 0 };
        t[i] = spawn(opposite, &p[i]);
    }
    for (int i = 0; i < 2 * pairs; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2 * pairs; i++) {
        cr_assert_eq(p[i].errors, 0);
        cr_assert_eq(p[i].completed, ROUNDS);
    }
    cr_assert_eq(tg_chan_free(a), 0);
    cr_assert_eq(tg_chan_free(b), 0);
}

Test(select, two_selects_listing_channels_in_opposite_orders_never_deadlock, .timeout = 300)
{
    run_opposite(1);
}

Test(select, four_selects_listing_channels_in_opposite_orders_never_deadlock, .timeout = 300)
{
    run_opposite(2);
}

/* ---- many selecting producers and consumers ----------------------------------- */

#define SM_VALUES 40000

struct sm {
    tg_chan_t *c[2];
    _Atomic unsigned char seen[SM_VALUES];
    _Atomic int next, received, bad;
};

static void *sm_producer(void *p)
{
    struct sm *m = p;
    int v;
    while ((v = atomic_fetch_add(&m->next, 1)) < SM_VALUES) {
        tg_case_t cs[] = { TG_SEND(m->c[0], &v), TG_SEND(m->c[1], &v) };
        int r = tg_select(cs, 2);
        if (r < 0 || cs[r].err)
            atomic_fetch_add(&m->bad, 1);
    }
    return NULL;
}

static void *sm_consumer(void *p)
{
    struct sm *m = p;
    bool open[2] = { true, true };
    while (open[0] || open[1]) {
        int v = -1;
        tg_case_t cs[] = { TG_RECV(open[0] ? m->c[0] : NULL, &v),
                           TG_RECV(open[1] ? m->c[1] : NULL, &v) };
        int r = tg_select(cs, 2);
        if (r < 0) {
            atomic_fetch_add(&m->bad, 1);
            return NULL;
        }
        if (!cs[r].ok) {
            open[r] = false;
            continue;
        }
        if (v < 0 || v >= SM_VALUES || atomic_fetch_add(&m->seen[v], 1))
            atomic_fetch_add(&m->bad, 1);
        atomic_fetch_add(&m->received, 1);
    }
    return NULL;
}

Test(select, selecting_producers_and_consumers_deliver_every_value_exactly_once, .timeout = 300)
{
    for (size_t cap = 0; cap <= 4; cap += 4) {
        struct sm *m = calloc(1, sizeof *m);
        m->c[0] = chan(sizeof(int), cap);
        m->c[1] = chan(sizeof(int), cap);
        pthread_t p[3], c[3];
        for (int i = 0; i < 3; i++) {
            c[i] = spawn(sm_consumer, m);
            p[i] = spawn(sm_producer, m);
        }
        for (int i = 0; i < 3; i++)
            pthread_join(p[i], NULL);
        tg_chan_close(m->c[0]);
        tg_chan_close(m->c[1]);
        for (int i = 0; i < 3; i++)
            pthread_join(c[i], NULL);
        cr_assert_eq(atomic_load(&m->bad), 0);
        cr_assert_eq(atomic_load(&m->received), SM_VALUES);
        for (int i = 0; i < SM_VALUES; i++)
            cr_assert_eq(atomic_load(&m->seen[i]), 1);
        cr_assert_eq(tg_chan_free(m->c[0]), 0);
        cr_assert_eq(tg_chan_free(m->c[1]), 0);
        free(m);
    }
}

/* ---- expiry ------------------------------------------------------------------ */

static void expire_close(void *arg)
{
    tg_chan_close(arg);
}

Test(select, select_parked_on_an_expiring_channel_wakes_at_the_expiry, .timeout = 30)
{
    tg_chan_t *a = chan(sizeof(int), 0), *done = chan(0, 0);
    int64_t dl = tg_now() + 40 * TG_MSEC;
    tg__chan_set_expiry(done, dl, expire_close, done);
    int x = 0;
    tg_case_t cs[] = { TG_RECV(a, &x), TG_RECV(done, NULL) };
    cr_assert_eq(tg_select(cs, 2), 1);
    cr_assert_geq(tg_now(), dl);
    cr_assert_not(cs[1].ok);
    cr_assert_eq(tg_chan_free(a), 0);
    cr_assert_eq(tg_chan_free(done), 0);
}

Test(select, select_timeout_earlier_than_an_expiry_times_out_first, .timeout = 30)
{
    tg_chan_t *done = chan(0, 0);
    tg__chan_set_expiry(done, tg_now() + 10 * TG_SEC, expire_close, done);
    tg_case_t cs[] = { TG_RECV(done, NULL) };
    cr_assert_eq(tg_select_timeout(cs, 1, 20 * TG_MSEC), -ETIMEDOUT);
    cr_assert_eq(tg_chan_close(done), 0, "expiry fired too early");
    tg_chan_free(done);
}
