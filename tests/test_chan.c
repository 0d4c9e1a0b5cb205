/*
 * tests/test_chan.c: channels: rendezvous, FIFO buffering, close semantics,
 * try/timeout/deadline variants, NULL channels, free, expiry, and stress
 * with many producers and consumers. Tests that need a thread to be parked
 * before acting count park probes instead of sleeping, so they do not
 * depend on timing.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "parks.h"
#include "tangle/tangle.h"

/* ---- helpers ---------------------------------------------------------- */

struct op {
    tg_chan_t *ch;
    int value;
    int r;
    bool ok;
    _Atomic int done;
};

static void *send_one(void *p)
{
    struct op *o = p;
    o->r = tg_chan_send(o->ch, &o->value);
    atomic_store(&o->done, 1);
    return NULL;
}

static void *recv_one(void *p)
{
    struct op *o = p;
    o->value = -1;
    o->r = tg_chan_recv(o->ch, &o->value, &o->ok);
    atomic_store(&o->done, 1);
    return NULL;
}

/* ---- creation and basic properties --------------------------------------- */

Test(chan, new_rejects_null_out_and_size_overflow, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(NULL, 4, 1), -EINVAL);
    cr_assert_eq(tg_chan_new(&ch, SIZE_MAX / 2, 4), -EINVAL);
    cr_assert_null(ch);
}

Test(chan, len_cap_and_elem_size_report_the_channel_and_zero_for_null, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(double), 3), 0);
    cr_assert_eq(tg_chan_cap(ch), 3);
    cr_assert_eq(tg_chan_elem_size(ch), sizeof(double));
    cr_assert_eq(tg_chan_len(ch), 0);
    double d = 1.5;
    cr_assert_eq(tg_chan_send(ch, &d), 0);
    cr_assert_eq(tg_chan_send(ch, &d), 0);
    cr_assert_eq(tg_chan_len(ch), 2);
    cr_assert_eq(tg_chan_len(NULL), 0);
    cr_assert_eq(tg_chan_cap(NULL), 0);
    cr_assert_eq(tg_chan_elem_size(NULL), 0);
    cr_assert_eq(tg_chan_free(ch), 0);
    cr_assert_eq(tg_chan_free(NULL), 0);
}

Test(chan, send_with_null_value_on_sized_channel_fails_with_EINVAL, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 1), 0);
    cr_assert_eq(tg_chan_send(ch, NULL), -EINVAL);
    cr_assert_eq(tg_chan_len(ch), 0);
    tg_chan_free(ch);
}

/* ---- buffered ------------------------------------------------------------ */

Test(chan, buffered_channel_delivers_values_in_fifo_order_across_wraparound, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 4), 0);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 3; i++, next_in++)
            cr_assert_eq(tg_chan_send(ch, &next_in), 0);
        for (int i = 0; i < 2; i++, next_out++) {
            int v;
            bool ok;
            cr_assert_eq(tg_chan_recv(ch, &v, &ok), 0);
            cr_assert(ok);
            cr_assert_eq(v, next_out);
        }
        while (tg_chan_len(ch) > 1) {
            int v;
            cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
            cr_assert_eq(v, next_out++);
        }
    }
    tg_chan_free(ch);
}

Test(chan, try_send_on_full_buffer_and_try_recv_on_empty_fail_with_EAGAIN, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 2), 0);
    int v = 7;
    bool ok = true;
    cr_assert_eq(tg_chan_try_recv(ch, &v, &ok), -EAGAIN);
    cr_assert_eq(tg_chan_try_send(ch, &v), 0);
    cr_assert_eq(tg_chan_try_send(ch, &v), 0);
    cr_assert_eq(tg_chan_try_send(ch, &v), -EAGAIN);
    cr_assert_eq(tg_chan_len(ch), 2);
    tg_chan_free(ch);
}

Test(chan, large_elements_are_copied_whole, .timeout = 30)
{
    struct big { char bytes[1000]; } in, out;
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof in, 2), 0);
    for (int i = 0; i < 1000; i++)
        in.bytes[i] = (char)(i * 7);
    cr_assert_eq(tg_chan_send(ch, &in), 0);
    memset(&in, 0, sizeof in);
    cr_assert_eq(tg_chan_recv(ch, &out, NULL), 0);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(out.bytes[i], (char)(i * 7));
    tg_chan_free(ch);
}

Test(chan, zero_size_elements_work_as_signals, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, 0, 2), 0);
    cr_assert_eq(tg_chan_send(ch, NULL), 0);
    cr_assert_eq(tg_chan_len(ch), 1);
    bool ok = false;
    cr_assert_eq(tg_chan_recv(ch, NULL, &ok), 0);
    cr_assert(ok);
    cr_assert_eq(tg_chan_try_recv(ch, NULL, &ok), -EAGAIN);
    tg_chan_free(ch);
}

Test(chan, receiver_discarding_into_null_still_consumes_the_value, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 2), 0);
    int a = 1, b = 2, v = 0;
    tg_chan_send(ch, &a);
    tg_chan_send(ch, &b);
    cr_assert_eq(tg_chan_recv(ch, NULL, NULL), 0);
    cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
    cr_assert_eq(v, 2);
    tg_chan_free(ch);
}

Test(chan, sender_parked_on_full_buffer_is_admitted_in_fifo_order, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 2), 0);
    int a = 0, b = 1;
    tg_chan_send(ch, &a);
    tg_chan_send(ch, &b);
    count_parks();
    struct op o = { .ch = ch, .value = 2 };
    pthread_t t = spawn(send_one, &o);
    wait_parks(1);
    cr_assert_eq(atomic_load(&o.done), 0);
    for (int i = 0; i < 3; i++) {
        int v;
        cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
        cr_assert_eq(v, i);
    }
    pthread_join(t, NULL);
    cr_assert_eq(o.r, 0);
    cr_assert_eq(tg_chan_len(ch), 0);
    tg_chan_free(ch);
}

/* ---- unbuffered ---------------------------------------------------------- */

Test(chan, unbuffered_send_does_not_complete_before_a_receiver_takes_it, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    count_parks();
    struct op o = { .ch = ch, .value = 42 };
    pthread_t t = spawn(send_one, &o);
    wait_parks(1);
    usleep(20000);
    cr_assert_eq(atomic_load(&o.done), 0, "send completed with no receiver");
    cr_assert_eq(tg_chan_len(ch), 0);
    int v = 0;
    bool ok = false;
    cr_assert_eq(tg_chan_recv(ch, &v, &ok), 0);
    cr_assert(ok);
    cr_assert_eq(v, 42);
    pthread_join(t, NULL);
    cr_assert_eq(o.r, 0);
    tg_chan_free(ch);
}

Test(chan, unbuffered_try_ops_fail_without_a_parked_partner, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    int v = 1;
    cr_assert_eq(tg_chan_try_send(ch, &v), -EAGAIN);
    cr_assert_eq(tg_chan_try_recv(ch, &v, NULL), -EAGAIN);
    tg_chan_free(ch);
}

Test(chan, try_send_hands_the_value_directly_to_a_parked_receiver, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    count_parks();
    struct op o = { .ch = ch };
    pthread_t t = spawn(recv_one, &o);
    wait_parks(1);
    int v = 99;
    cr_assert_eq(tg_chan_try_send(ch, &v), 0);
    pthread_join(t, NULL);
    cr_assert_eq(o.r, 0);
    cr_assert(o.ok);
    cr_assert_eq(o.value, 99);
    tg_chan_free(ch);
}

Test(chan, try_recv_takes_the_value_of_a_parked_sender, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    count_parks();
    struct op o = { .ch = ch, .value = 5 };
    pthread_t t = spawn(send_one, &o);
    wait_parks(1);
    int v = 0;
    bool ok = false;
    cr_assert_eq(tg_chan_try_recv(ch, &v, &ok), 0);
    cr_assert(ok);
    cr_assert_eq(v, 5);
    pthread_join(t, NULL);
    cr_assert_eq(o.r, 0);
    tg_chan_free(ch);
}

static void *ping(void *p)
{
    tg_chan_t **chs = p;
    for (int i = 0; i < 20000; i++) {
        int v;
        if (tg_chan_recv(chs[0], &v, NULL) != 0 || v != i)
            return (void *)1;
        v++;
        if (tg_chan_send(chs[1], &v) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(chan, unbuffered_ping_pong_alternates_without_losing_values, .timeout = 60)
{
    tg_chan_t *chs[2];
    tg_chan_new(&chs[0], sizeof(int), 0);
    tg_chan_new(&chs[1], sizeof(int), 0);
    pthread_t t = spawn(ping, chs);
    for (int i = 0; i < 20000; i++) {
        int v = i;
        cr_assert_eq(tg_chan_send(chs[0], &v), 0);
        cr_assert_eq(tg_chan_recv(chs[1], &v, NULL), 0);
        cr_assert_eq(v, i + 1);
    }
    void *rv;
    pthread_join(t, &rv);
    cr_assert_null(rv);
    tg_chan_free(chs[0]);
    tg_chan_free(chs[1]);
}

/* ---- close ------------------------------------------------------------- */

Test(chan, send_on_closed_channel_fails_with_EPIPE_and_second_close_too, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 1), 0);
    cr_assert_eq(tg_chan_close(ch), 0);
    int v = 1;
    cr_assert_eq(tg_chan_send(ch, &v), -EPIPE);
    cr_assert_eq(tg_chan_try_send(ch, &v), -EPIPE);
    cr_assert_eq(tg_chan_send_timeout(ch, &v, TG_MSEC), -EPIPE);
    cr_assert_eq(tg_chan_close(ch), -EPIPE);
    cr_assert_eq(tg_chan_close(NULL), -EINVAL);
    tg_chan_free(ch);
}

Test(chan, receive_on_closed_channel_drains_buffer_then_reports_closed_with_zeroed_value, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 4), 0);
    for (int i = 1; i <= 3; i++)
        tg_chan_send(ch, &i);
    tg_chan_close(ch);
    for (int i = 1; i <= 3; i++) {
        int v = 0;
        bool ok = false;
        cr_assert_eq(tg_chan_recv(ch, &v, &ok), 0);
        cr_assert(ok);
        cr_assert_eq(v, i);
    }
    for (int k = 0; k < 2; k++) {
        int v = 12345;
        bool ok = true;
        cr_assert_eq(tg_chan_recv(ch, &v, &ok), 0);
        cr_assert_not(ok);
        cr_assert_eq(v, 0);
        v = 5;
        cr_assert_eq(tg_chan_try_recv(ch, &v, &ok), 0);
        cr_assert_not(ok);
        cr_assert_eq(v, 0);
    }
    tg_chan_free(ch);
}

Test(chan, close_wakes_every_parked_receiver_with_ok_false_and_zeroed_value, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    count_parks();
    struct op o[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        o[i] = (struct op){ .ch = ch };
        t[i] = spawn(recv_one, &o[i]);
    }
    wait_parks(4);
    cr_assert_eq(tg_chan_free(ch), -EBUSY);
    cr_assert_eq(tg_chan_close(ch), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(o[i].r, 0);
        cr_assert_not(o[i].ok);
        cr_assert_eq(o[i].value, 0, "value not zeroed");
    }
    cr_assert_eq(tg_chan_free(ch), 0);
}

Test(chan, close_wakes_every_parked_sender_with_EPIPE, .timeout = 30)
{
    for (size_t cap = 0; cap <= 2; cap += 2) {
        tg_chan_t *ch;
        cr_assert_eq(tg_chan_new(&ch, sizeof(int), cap), 0);
        for (int i = 0; i < (int)cap; i++)
            tg_chan_send(ch, &i);
        count_parks();
        struct op o[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            o[i] = (struct op){ .ch = ch, .value = 100 + i };
            t[i] = spawn(send_one, &o[i]);
        }
        wait_parks(4);
        cr_assert_eq(tg_chan_close(ch), 0);
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            cr_assert_eq(o[i].r, -EPIPE);
        }
        /* What was buffered before the close is still delivered; the
         * refused senders' values are not. */
        for (int i = 0; i < (int)cap; i++) {
            int v;
            bool ok;
            cr_assert_eq(tg_chan_recv(ch, &v, &ok), 0);
            cr_assert(ok);
            cr_assert_eq(v, i);
        }
        bool ok = true;
        cr_assert_eq(tg_chan_recv(ch, NULL, &ok), 0);
        cr_assert_not(ok);
        cr_assert_eq(tg_chan_free(ch), 0);
    }
}

Test(chan, close_while_senders_and_receivers_are_parked_wakes_both_kinds, .timeout = 30)
{
    /* Senders and receivers cannot be parked on one channel together (they
     * would pair up), so a sender parks on a full channel and a receiver on
     * an empty one, and both are closed. */
    tg_chan_t *full, *empty;
    tg_chan_new(&full, sizeof(int), 1);
    tg_chan_new(&empty, sizeof(int), 1);
    int x = 1;
    tg_chan_send(full, &x);
    count_parks();
    struct op s = { .ch = full, .value = 2 }, r = { .ch = empty };
    pthread_t ts = spawn(send_one, &s), tr = spawn(recv_one, &r);
    wait_parks(2);
    tg_chan_close(full);
    tg_chan_close(empty);
    pthread_join(ts, NULL);
    pthread_join(tr, NULL);
    cr_assert_eq(s.r, -EPIPE);
    cr_assert_eq(r.r, 0);
    cr_assert_not(r.ok);
    cr_assert_eq(r.value, 0);
    tg_chan_free(full);
    tg_chan_free(empty);
}

/* ---- free ------------------------------------------------------------ */

Test(chan, free_with_a_parked_waiter_fails_with_EBUSY_and_frees_nothing, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    count_parks();
    struct op o = { .ch = ch };
    pthread_t t = spawn(recv_one, &o);
    wait_parks(1);
    cr_assert_eq(tg_chan_free(ch), -EBUSY);
    int v = 3;
    cr_assert_eq(tg_chan_send(ch, &v), 0, "channel unusable after failed free");
    pthread_join(t, NULL);
    cr_assert_eq(o.value, 3);
    cr_assert_eq(tg_chan_free(ch), 0);
}

Test(chan, a_timed_out_waiter_no_longer_counts_for_free_or_matching, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    int v = 1;
    cr_assert_eq(tg_chan_recv_timeout(ch, &v, NULL, TG_MSEC), -ETIMEDOUT);
    cr_assert_eq(tg_chan_send_timeout(ch, &v, TG_MSEC), -ETIMEDOUT);
    cr_assert_eq(tg_chan_try_send(ch, &v), -EAGAIN);
    cr_assert_eq(tg_chan_try_recv(ch, &v, NULL), -EAGAIN);
    cr_assert_eq(tg_chan_free(ch), 0);
}

/* ---- timeouts and deadlines ------------------------------------------- */

Test(chan, recv_timeout_does_not_fire_early, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    int v = 77;
    bool ok = true;
    int64_t t0 = tg_now();
    cr_assert_eq(tg_chan_recv_timeout(ch, &v, &ok, 50 * TG_MSEC), -ETIMEDOUT);
    cr_assert_geq(tg_now() - t0, 50 * TG_MSEC);
    cr_assert_not(ok);
    tg_chan_free(ch);
}

Test(chan, send_timeout_does_not_fire_early_and_leaves_the_buffer_alone, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 1), 0);
    int v = 1, w = 2;
    tg_chan_send(ch, &v);
    int64_t t0 = tg_now();
    cr_assert_eq(tg_chan_send_timeout(ch, &w, 40 * TG_MSEC), -ETIMEDOUT);
    cr_assert_geq(tg_now() - t0, 40 * TG_MSEC);
    cr_assert_eq(tg_chan_len(ch), 1);
    cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
    cr_assert_eq(v, 1);
    tg_chan_free(ch);
}

Test(chan, deadline_variants_wait_until_the_absolute_deadline, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    int v = 0;
    int64_t dl = tg_now() + 30 * TG_MSEC;
    cr_assert_eq(tg_chan_recv_deadline(ch, &v, NULL, dl), -ETIMEDOUT);
    cr_assert_geq(tg_now(), dl);
    dl = tg_now() + 30 * TG_MSEC;
    cr_assert_eq(tg_chan_send_deadline(ch, &v, dl), -ETIMEDOUT);
    cr_assert_geq(tg_now(), dl);
    /* A deadline in the past is a try. */
    cr_assert_eq(tg_chan_recv_deadline(ch, &v, NULL, 0), -ETIMEDOUT);
    tg_chan_free(ch);
}

static void *send_later(void *p)
{
    struct op *o = p;
    usleep(20000);
    o->r = tg_chan_send(o->ch, &o->value);
    return NULL;
}

Test(chan, recv_timeout_returns_a_value_sent_before_it_expires, .timeout = 60)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 0), 0);
    struct op o = { .ch = ch, .value = 31 };
    pthread_t t = spawn(send_later, &o);
    int v = 0;
    bool ok = false;
    cr_assert_eq(tg_chan_recv_timeout(ch, &v, &ok, 30 * TG_SEC), 0);
    cr_assert(ok);
    cr_assert_eq(v, 31);
    pthread_join(t, NULL);
    cr_assert_eq(o.r, 0);
    tg_chan_free(ch);
}

Test(chan, null_channel_blocks_until_timeout_and_try_fails_with_EAGAIN, .timeout = 30)
{
    int v = 1;
    bool ok = true;
    cr_assert_eq(tg_chan_try_send(NULL, &v), -EAGAIN);
    cr_assert_eq(tg_chan_try_recv(NULL, &v, &ok), -EAGAIN);
    int64_t t0 = tg_now();
    cr_assert_eq(tg_chan_recv_timeout(NULL, &v, &ok, 30 * TG_MSEC), -ETIMEDOUT);
    cr_assert_geq(tg_now() - t0, 30 * TG_MSEC);
    t0 = tg_now();
    cr_assert_eq(tg_chan_send_timeout(NULL, &v, 30 * TG_MSEC), -ETIMEDOUT);
    cr_assert_geq(tg_now() - t0, 30 * TG_MSEC);
    cr_assert_not(ok);
}

/* ---- expiry (context deadlines) ------------------------------------------ */

static _Atomic int expired_calls;

static void expire_close(void *arg)
{
    atomic_fetch_add(&expired_calls, 1);
    int r = tg_chan_close(arg);
    (void)r; /* -EPIPE when another thread closed it first: idempotent */
}

Test(chan, expiry_wakes_a_parked_receiver_at_its_deadline_without_polling, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, 0, 0), 0);
    int64_t dl = tg_now() + 50 * TG_MSEC;
    tg__chan_set_expiry(ch, dl, expire_close, ch);
    bool ok = true;
    cr_assert_eq(tg_chan_recv(ch, NULL, &ok), 0);
    cr_assert_geq(tg_now(), dl, "woke before the expiry");
    cr_assert_not(ok);
    cr_assert_geq(atomic_load(&expired_calls), 1);
    cr_assert_eq(tg_chan_close(ch), -EPIPE, "expiry did not close the channel");
    tg_chan_free(ch);
}

Test(chan, expiry_already_passed_runs_fn_before_the_operation, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, 0, 0), 0);
    tg__chan_set_expiry(ch, tg_now() - TG_MSEC, expire_close, ch);
    bool ok = true;
    /* Without the expiry this would be -EAGAIN: the op saw the deadline,
     * ran fn (which closed the channel), then completed as closed. */
    cr_assert_eq(tg_chan_try_recv(ch, NULL, &ok), 0);
    cr_assert_not(ok);
    cr_assert_eq(atomic_load(&expired_calls), 1);
    /* Once closed, fn is not called again. */
    tg_chan_try_recv(ch, NULL, &ok);
    cr_assert_eq(atomic_load(&expired_calls), 1);
    tg_chan_free(ch);
}

static void *recv_wait(void *p)
{
    struct op *o = p;
    o->r = tg_chan_recv(o->ch, NULL, &o->ok);
    return NULL;
}

Test(chan, expiry_wakes_every_parked_receiver_once_closed, .timeout = 30)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, 0, 0), 0);
    tg__chan_set_expiry(ch, tg_now() + 40 * TG_MSEC, expire_close, ch);
    struct op o[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        o[i] = (struct op){ .ch = ch, .ok = true };
        t[i] = spawn(recv_wait, &o[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(o[i].r, 0);
        cr_assert_not(o[i].ok);
    }
    cr_assert_geq(atomic_load(&expired_calls), 1);
    tg_chan_free(ch);
}

/* ---- many producers and consumers ----------------------------------- */

#define MP_PRODUCERS 4
#define MP_CONSUMERS 4
#define MP_VALUES 100000

struct mp {
    tg_chan_t *ch;
    _Atomic unsigned char seen[MP_VALUES];
    _Atomic int next;
    _Atomic int received;
    _Atomic int bad;
};

static void *mp_producer(void *p)
{
    struct mp *m = p;
    int v;
    while ((v = atomic_fetch_add(&m->next, 1)) < MP_VALUES)
        if (tg_chan_send(m->ch, &v) != 0)
            atomic_fetch_add(&m->bad, 1);
    return NULL;
}

static void *mp_consumer(void *p)
{
    struct mp *m = p;
    for (;;) {
        int v;
        bool ok;
        if (tg_chan_recv(m->ch, &v, &ok) != 0) {
            atomic_fetch_add(&m->bad, 1);
            return NULL;
        }
        if (!ok)
            return NULL;
        if (v < 0 || v >= MP_VALUES ||
            atomic_fetch_add(&m->seen[v], 1) != 0)
            atomic_fetch_add(&m->bad, 1);
        atomic_fetch_add(&m->received, 1);
    }
}

static void run_mpmc(size_t cap)
{
    struct mp *m = calloc(1, sizeof *m);
    cr_assert_not_null(m);
    cr_assert_eq(tg_chan_new(&m->ch, sizeof(int), cap), 0);
    pthread_t p[MP_PRODUCERS], c[MP_CONSUMERS];
    for (int i = 0; i < MP_CONSUMERS; i++)
        c[i] = spawn(mp_consumer, m);
    for (int i = 0; i < MP_PRODUCERS; i++)
        p[i] = spawn(mp_producer, m);
    for (int i = 0; i < MP_PRODUCERS; i++)
        pthread_join(p[i], NULL);
    cr_assert_eq(tg_chan_close(m->ch), 0);
    for (int i = 0; i < MP_CONSUMERS; i++)
        pthread_join(c[i], NULL);
    cr_assert_eq(atomic_load(&m->bad), 0);
    cr_assert_eq(atomic_load(&m->received), MP_VALUES);
    for (int i = 0; i < MP_VALUES; i++)
        cr_assert_eq(atomic_load(&m->seen[i]), 1, "value %d seen %d times", i,
                     atomic_load(&m->seen[i]));
    cr_assert_eq(tg_chan_free(m->ch), 0);
    free(m);
}

Test(chan, four_producers_four_consumers_buffered_deliver_every_value_exactly_once, .timeout = 300)
{
    run_mpmc(16);
}

Test(chan, four_producers_four_consumers_unbuffered_deliver_every_value_exactly_once, .timeout = 300)
{
    run_mpmc(0);
}

Test(chan, four_producers_four_consumers_capacity_one_deliver_every_value_exactly_once, .timeout = 300)
{
    run_mpmc(1);
}

struct fifo {
    tg_chan_t *ch;
    int id;
};

static void *fifo_producer(void *p)
{
    struct fifo *f = p;
    for (int i = 0; i < 20000; i++) {
        int v = f->id << 24 | i;
        if (tg_chan_send(f->ch, &v) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(chan, values_from_one_sender_arrive_in_the_order_sent_despite_other_senders, .timeout = 300)
{
    tg_chan_t *ch;
    cr_assert_eq(tg_chan_new(&ch, sizeof(int), 3), 0);
    struct fifo f[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        f[i] = (struct fifo){ ch, i };
        t[i] = spawn(fifo_producer, &f[i]);
    }
    int next[3] = { 0, 0, 0 };
    for (int k = 0; k < 60000; k++) {
        int v;
        cr_assert_eq(tg_chan_recv(ch, &v, NULL), 0);
        int id = v >> 24, i = v & 0xffffff;
        cr_assert(id >= 0 && id < 3);
        cr_assert_eq(i, next[id], "sender %d: got %d, expected %d", id, i,
                     next[id]);
        next[id]++;
    }
    for (int i = 0; i < 3; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        cr_assert_null(rv);
    }
    tg_chan_free(ch);
}
