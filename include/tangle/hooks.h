/*
 * tangle/hooks.h: the runtime's probe points.
 *
 * libtangle.so never calls the pthread lock API, so a tool watching pthread
 * calls sees nothing of channels, contexts or WaitGroups. Instead the
 * runtime calls these hooks. There is one global hooks pointer, NULL by
 * default: an untraced program pays one predictable branch per operation.
 * The preload shim installs its table when it loads (the runtime's
 * constructor looks up the shim's `tangle_shim_hooks` symbol with
 * dlsym(RTLD_DEFAULT)); tests and other tools may install their own with
 * tg_hooks_install().
 *
 * When the hooks fire:
 *   create   an object was made (channel, context, WaitGroup on first use
 *            is not reported: it is a plain value; group, pool).
 *   destroy  an object is about to be freed.
 *   park     the calling thread is about to block in op on obj (for a
 *            select: on every channel of p->cases), until p->deadline_ns
 *            (TG_FOREVER: no timeout). Fired at most once per blocking call.
 *   wake     the thread that fired park runs again (woken or timed out).
 *   complete op finished with p->result; fired for every operation,
 *            blocking or not, after it took effect and outside any runtime
 *            lock.
 *   begin    (version 2) op on obj is about to start, before anything it
 *            does can be seen by another thread: a race checker working
 *            in the process releases the caller's clock here, because the
 *            thread that observes the operation (the receiver of a value,
 *            the waiter a done or a cancel wakes) may run its complete
 *            before this thread runs its own. Fired for send, recv and
 *            select (op TG_PROBE_SELECT, obj NULL, the channels in
 *            p->cases), close, wg add / done (p->value = delta), ctx
 *            cancel (once per context whose Done channel is about to
 *            close, the root and each descendant, p->value = cause), and
 *            the task hand-offs TG_PROBE_TASK_START / TG_PROBE_TASK_END
 *            (see the enum). At most once per call, however often the
 *            call parks and retries. It may fire for a call that ends
 *            without effect (a full try, a timeout, a double close); it
 *            does not fire for a call rejected for its arguments, on a
 *            NULL channel, or for a try or a select with default that the
 *            lock-free check answers -EAGAIN (nothing of those can be
 *            observed). p->result means nothing here, nor p->seq but for
 *            the task hand-offs.
 *
 *   token    (version 3) right after begin, for a channel send, receive
 *            or select (not close), when the channel carries tokens (p->flags
 *            has TG_PROBE_TOKENS; for a select, at least one case's channel
 *            does): returns a token, or 0. The runtime carries the token
 *            with the operation to its partner and hands it to the
 *            partner's complete (p->token): a send's token to the receive
 *            of its value, a receive's token to send s + C (C the capacity;
 *            unbuffered, the send it took the value from). A select's one
 *            token goes with whichever case fires. The edges of the Go
 *            memory model, one by one: a race checker releases into the
 *            token (a snapshot of the thread's clock) and acquires from it,
 *            without joining everything every other operation released.
 *            Every nonzero token is handed on exactly once: to one
 *            complete, or, when it reaches no partner (a failed try, a
 *            timeout, a send on or a receive from a closed channel, the
 *            select case that did not fire, a value still buffered when
 *            the channel is freed), to drop.
 *   drop     (version 3) a token nobody will receive; may run on any
 *            thread, with no channel lock held.
 *
 * A channel carries tokens when a table of version 3 with a token hook was
 * installed when it was made; p->flags says so in the begin and complete
 * of its operations.
 *
 * Sequence numbers (p->seq), the happens-before edges of the Go memory
 * model, one counter per channel:
 *   send complete       seq = s, the index of the value among all values
 *                       ever sent on the channel (0, 1, 2 ...).
 *   recv complete, ok   seq = s of the value received. Send s happens
 *                       before this receive completes; and for a channel of
 *                       capacity C, receive s happens before send s+C
 *                       completes (C = 0: receive s before send s).
 *   recv complete, !ok  seq = TG_SEQ_CLOSED: the close happened before it.
 *   close complete      seq = TG_SEQ_CLOSED.
 *   wg add / done       seq = the generation in which the counter was
 *                       changed (a generation ends each time the counter
 *                       reaches zero); every done of generation <= g
 *                       happens before a wait that returns in generation g.
 *   wg wait complete    seq = that generation g.
 *   ctx cancel          the context and all its descendants: fired once, by
 *                       the thread that cancelled it or observed its
 *                       deadline; p->result is -ECANCELED or -ETIMEDOUT.
 *                       The Done channel's close follows (a close complete
 *                       on tg_ctx_done(ctx)).
 * A select's complete is that of the chosen case: p->op is TG_PROBE_SEND
 * or TG_PROBE_RECV on the chosen channel, and p->cases / p->chosen tell the
 * select; a select that took its default or timed out completes with op
 * TG_PROBE_SELECT and result -EAGAIN / -ETIMEDOUT. A select's park and
 * wake, and those completes, have op TG_PROBE_SELECT and obj NULL (the
 * channels are in p->cases). A send that fails with -EPIPE completes with
 * seq = TG_SEQ_CLOSED; -EAGAIN and -ETIMEDOUT completes carry seq 0, which
 * means nothing. A failed tg_chan_free completes with op TG_PROBE_FREE,
 * result -EBUSY, and is not followed by destroy.
 *
 * Hooks run on the calling thread, must not call back into the runtime's
 * blocking operations, and must be safe from any thread at any time.
 */
#ifndef TANGLE_HOOKS_H
#define TANGLE_HOOKS_H

#include "base.h"
#include "chan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_HOOKS_VERSION 3   /* 1: no `begin`; 2: no `token`, `drop` */
#define TG_PROBE_TOKENS 1u   /* p->flags: the channel carries tokens */
#define TG_SEQ_CLOSED UINT64_MAX

enum tg_obj_kind {
    TG_OBJ_CHAN = 1,
    TG_OBJ_CTX,
    TG_OBJ_WG,
    TG_OBJ_GROUP,
    TG_OBJ_POOL,
};

enum tg_probe_op {
    TG_PROBE_SEND = 1,
    TG_PROBE_RECV,
    TG_PROBE_SELECT,
    TG_PROBE_CLOSE,
    TG_PROBE_WG_ADD,       /* p->value = delta, p->value2 = counter after */
    TG_PROBE_WG_WAIT,
    TG_PROBE_CTX_CANCEL,   /* p->value = cause */
    TG_PROBE_CTX_WAIT,     /* tg_ctx_wait */
    TG_PROBE_GROUP_WAIT,
    TG_PROBE_GROUP_GO,     /* blocking at the group's limit */
    TG_PROBE_POOL_SUBMIT,  /* blocking on a full queue */
    TG_PROBE_POOL_SHUTDOWN,
    TG_PROBE_FREE,         /* tg_chan_free etc. that failed: result -EBUSY */
    TG_PROBE_GROUP_IDLE,   /* park/wake only: an errgroup's thread waiting
                              for its next task (obj: the group) */
    /* The hand-off of a function to the thread that runs it, where no
     * channel or WaitGroup carries it (version 2):
     *   begin on the handing thread, before the hand-off: tg_go (kind 0,
     *     obj: the start record, seq 0) before the thread is created;
     *     tg_group_go (obj: the group, seq = the task's number in the
     *     group, 0, 1, 2 ...) before the task goes to a runner; that
     *     go's own complete (TG_PROBE_GROUP_GO) carries the same seq.
     *   complete on the thread that runs it, just before the function
     *     runs, with the same obj and seq: that begin happens before it.
     * (A pool job is handed over by the queue channel's send / recv.) */
    TG_PROBE_TASK_START,
    /* begin only, on the thread that ran the work (version 2): a group
     * task returned (obj: the group, seq = its number), before its slot
     * goes back, so before the complete of a tg_group_wait that returns
     * after it; a pool worker is done with its last job (obj: the pool),
     * before the complete of the tg_pool_shutdown that joins it. */
    TG_PROBE_TASK_END,
};

/* What is known of an object at creation. */
struct tg_obj_info {
    size_t elem_size;          /* channel */
    size_t cap;                /* channel capacity, pool queue, group limit */
    const void *parent;        /* context: parent (NULL: background) */
    const void *owner;         /* ctx's done channel: the context; a
                                  group's or pool's internal objects: it */
    int64_t deadline_ns;       /* context: TG_FOREVER if none */
    const char *name;          /* pool / group name, may be NULL */
    unsigned workers;          /* pool */
    bool cancelable;           /* context made with cancel/timeout/deadline */
};

struct tg_probe {
    int op;                    /* enum tg_probe_op */
    int kind;                  /* enum tg_obj_kind of obj */
    const void *obj;
    int result;                /* complete: 0 or a negative errno */
    uint64_t seq;              /* see above */
    int64_t deadline_ns;       /* park: TG_FOREVER when there is none */
    const tg_case_t *cases;    /* select: the cases, else NULL */
    size_t ncases;
    int chosen;                /* select complete: case index, else -1 */
    int64_t value, value2;     /* op-specific, see enum tg_probe_op */
    unsigned flags;            /* TG_PROBE_TOKENS (version 3) */
    uintptr_t token;           /* complete: the partner's token, or 0 */
};

struct tg_hooks {
    unsigned version;          /* TG_HOOKS_VERSION */
    void (*create)(int kind, const void *obj, const struct tg_obj_info *info);
    void (*destroy)(int kind, const void *obj);
    void (*park)(const struct tg_probe *p);
    void (*wake)(const struct tg_probe *p);
    void (*complete)(const struct tg_probe *p);
    void (*begin)(const struct tg_probe *p);        /* version >= 2 */
    uintptr_t (*token)(const struct tg_probe *p);   /* version >= 3 */
    void (*drop)(uintptr_t token);                  /* version >= 3 */
};

/* Installs hooks (NULL removes them) and returns the previous table. The
 * table must stay valid while installed. */
const struct tg_hooks *tg_hooks_install(const struct tg_hooks *hooks);
/* The installed table, or NULL. */
const struct tg_hooks *tg_hooks_current(void);

#ifdef __cplusplus
}
#endif
#endif
