/*
 * tangle/chan.h: Go channels for C.
 *
 * A channel carries values of one fixed size, copied in on send and out on
 * receive. cap == 0 makes an unbuffered channel: a send completes only when
 * a receiver takes the value (rendezvous, direct hand-off). cap > 0 makes a
 * buffered channel (a ring of cap values).
 *
 * Closing wakes every parked sender and receiver. After close, sends fail
 * with -EPIPE; receives drain what is buffered and then complete at once
 * with *ok = false and a zeroed value. A second close fails with -EPIPE.
 *
 * A NULL channel behaves as in Go: send and receive block forever (or until
 * their timeout), and a select case on it is never ready.
 */
#ifndef TANGLE_CHAN_H
#define TANGLE_CHAN_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_chan tg_chan_t;

/* Creates a channel of values of elem_size bytes (0 is allowed: a pure
 * signal channel) and capacity cap. Returns 0 and sets *out, -EINVAL, or
 * -ENOMEM. */
int tg_chan_new(tg_chan_t **out, size_t elem_size, size_t cap);

/* Frees a channel. Fails with -EBUSY (and frees nothing) while a thread is
 * parked on it. NULL is a no-op returning 0. */
int tg_chan_free(tg_chan_t *ch);

/* Sends *elem. Blocks until it is buffered or handed to a receiver.
 * Returns 0, or -EPIPE if the channel is closed (before or while waiting). */
int tg_chan_send(tg_chan_t *ch, TG_NOESCAPE const void *elem);
/* As tg_chan_send, but -EAGAIN instead of blocking. */
int tg_chan_try_send(tg_chan_t *ch, TG_NOESCAPE const void *elem);
/* As tg_chan_send, giving up with -ETIMEDOUT after timeout_ns / at the
 * absolute deadline_ns. */
int tg_chan_send_timeout(tg_chan_t *ch, TG_NOESCAPE const void *elem,
                         int64_t timeout_ns);
int tg_chan_send_deadline(tg_chan_t *ch, TG_NOESCAPE const void *elem,
                          int64_t deadline_ns);

/* Receives into *elem (may be NULL to discard). Returns 0; *ok (may be
 * NULL) is true for a value that was sent, false once the channel is closed
 * and drained (then *elem is zeroed). */
int tg_chan_recv(tg_chan_t *ch, TG_NOESCAPE void *elem, TG_NOESCAPE bool *ok);
/* As tg_chan_recv, but -EAGAIN instead of blocking. */
int tg_chan_try_recv(tg_chan_t *ch, TG_NOESCAPE void *elem, TG_NOESCAPE bool *ok);
int tg_chan_recv_timeout(tg_chan_t *ch, TG_NOESCAPE void *elem, TG_NOESCAPE bool *ok,
                         int64_t timeout_ns);
int tg_chan_recv_deadline(tg_chan_t *ch, TG_NOESCAPE void *elem, TG_NOESCAPE bool *ok,
                          int64_t deadline_ns);

/* Closes the channel. Returns 0, -EPIPE if already closed, -EINVAL on NULL. */
int tg_chan_close(tg_chan_t *ch);

/* Number of buffered values, and the capacity. 0 for NULL. */
size_t tg_chan_len(const tg_chan_t *ch);
size_t tg_chan_cap(const tg_chan_t *ch);
size_t tg_chan_elem_size(const tg_chan_t *ch);

/* ---- select ---------------------------------------------------------- */

enum tg_case_op { TG_CASE_RECV = 0, TG_CASE_SEND = 1 };

/* One case of a select. For TG_CASE_SEND, elem points at the value to send;
 * for TG_CASE_RECV, at the buffer to receive into (or NULL). A case with a
 * NULL ch is never ready. On return, the chosen case's ok (receive) and err
 * (0, or -EPIPE for a send on a closed channel) are set. */
typedef struct tg_case {
    tg_chan_t *ch;
    int op;            /* enum tg_case_op */
    void *elem;
    bool ok;           /* out: receive got a sent value (false: closed) */
    int err;           /* out: 0 or -EPIPE */
} tg_case_t;

#define TG_RECV(c, p) ((tg_case_t){ .ch = (c), .op = TG_CASE_RECV, .elem = (p) })
#define TG_SEND(c, p) ((tg_case_t){ .ch = (c), .op = TG_CASE_SEND, .elem = (void *)(p) })

/* Waits until one case can proceed, performs it and returns its index.
 * When several are ready one is chosen uniformly at random. Channels are
 * locked in address order, so concurrent selects never deadlock.
 * n == 0 (or all channels NULL) blocks forever, as Go's `select {}`. */
int tg_select(tg_case_t *cases, size_t n);
/* With a default case: returns -EAGAIN at once when no case is ready. */
int tg_select_try(tg_case_t *cases, size_t n);
/* With a timeout / deadline: returns -ETIMEDOUT when it passes. */
int tg_select_timeout(tg_case_t *cases, size_t n, int64_t timeout_ns);
int tg_select_deadline(tg_case_t *cases, size_t n, int64_t deadline_ns);

#ifdef __cplusplus
}
#endif
#endif
