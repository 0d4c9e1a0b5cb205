/*
 * shim/probes.c: the shim's side of libtangle's probe points
 * (include/tangle/hooks.h).
 *
 * libtangle never calls the pthread lock API, so channels, contexts and
 * WaitGroups are visible only through these hooks. They map onto the same
 * log as pthread objects: create/destroy make and end object records, park
 * and wake set the thread's blocked state (so the watchdog and the leak
 * report know a thread sits in `chan send` on which channel), and complete
 * turns each finished operation into a release or acquire event for the
 * race checker, carrying the per-channel sequence number that pairs a
 * receive with its send. A completion that failed the way Go would panic
 * (send on a closed channel, double close, a negative WaitGroup, freeing a
 * channel someone waits on) is recorded as misuse at the call.
 */
#include <errno.h>

#include "shim.h"
#include "tangle/hooks.h"

static inline struct tg__thread *hook_me(void)
{
    struct tg__thread *t = &tg__self;
    if (likely(t->tstate == TG__T_LIVE && !t->guard))
        return t;
    if (t->guard)
        return NULL;
    return tg__thread_slow();
}

static uint32_t log_kind(int kind)
{
    switch (kind) {
    case TG_OBJ_CHAN:  return TG_LOBJ_CHAN;
    case TG_OBJ_CTX:   return TG_LOBJ_CTX;
    case TG_OBJ_WG:    return TG_LOBJ_WG;
    case TG_OBJ_GROUP: return TG_LOBJ_GROUP;
    case TG_OBJ_POOL:  return TG_LOBJ_POOL;
    }
    return 0;
}

/* The object id of obj, created implicitly (a WaitGroup is a plain value
 * and is first seen in use). */
static uint32_t obj_id(struct tg__thread *t, int kind, const void *obj)
{
    struct tg__lock *l = tg__lock_get(obj);
    if (!l)
        return 0;
    uint32_t id = atomic_load_explicit(&l->obj, ACQUIRE);
    if (likely(id != 0 && id != TG__OBJ_BUSY))
        return id;
    struct tg__obj_init in = { .kind = log_kind(kind), .flags = TG_OBJF_IMPLICIT };
    t->guard++;
    id = tg__obj_id(l, &in);
    t->guard--;
    return id;
}

static void on_create(int kind, const void *obj, const struct tg_obj_info *info)
{
    struct tg__thread *t = hook_me();
    if (!t || !obj)
        return;
    struct tg__obj_init in = { .kind = log_kind(kind) };
    if (info) {
        switch (kind) {
        case TG_OBJ_CHAN:
            in.a = info->elem_size;
            in.b = info->cap;
            break;
        case TG_OBJ_CTX:
            in.a = (uintptr_t)info->parent;
            in.b = (uint64_t)info->deadline_ns;
            if (info->cancelable)
                in.flags |= TG_OBJF_CANCELABLE;
            break;
        case TG_OBJ_GROUP:
        case TG_OBJ_POOL:
            in.a = info->cap;
            in.b = info->workers;
            in.name = info->name;
            break;
        }
        if (info->owner) {
            /* Part of another object (a context's Done channel...). */
            in.owner_addr = (uintptr_t)info->owner;
            in.flags |= TG_OBJF_INTERNAL;
        }
    }
    t->guard++;
    tg__obj_create(obj, &in);
    t->guard--;
}

static void on_destroy(int kind, const void *obj)
{
    struct tg__thread *t = hook_me();
    if (!t || !obj)
        return;
    t->guard++;
    tg__obj_destroy(obj, kind == TG_OBJ_CTX ? TG_OBJF_FREED : 0);
    t->guard--;
}

static uint32_t wait_op(const struct tg_probe *p)
{
    switch (p->op) {
    case TG_PROBE_SEND:           return TG_WAIT_CHAN_SEND;
    case TG_PROBE_RECV:           return TG_WAIT_CHAN_RECV;
    case TG_PROBE_SELECT:         return TG_WAIT_SELECT;
    case TG_PROBE_WG_WAIT:        return TG_WAIT_WG;
    case TG_PROBE_CTX_WAIT:       return TG_WAIT_CTX;
    case TG_PROBE_GROUP_WAIT:     return TG_WAIT_GROUP;
    case TG_PROBE_GROUP_GO:       return TG_WAIT_GROUP_GO;
    case TG_PROBE_POOL_SUBMIT:    return TG_WAIT_POOL_SUBMIT;
    case TG_PROBE_POOL_SHUTDOWN:  return TG_WAIT_POOL_SHUTDOWN;
    case TG_PROBE_GROUP_IDLE:     return TG_WAIT_GROUP_IDLE;
    }
    return TG_WAIT_NONE;
}

/* Parks nest: a pool submit that must wait parks as "pool submit", then
 * sends on the pool's queue, which parks as "chan send" inside it (a group
 * go at its limit, a context wait, a select in a submit: the same). The
 * outer operation is what the program called, so it alone sets the
 * blocked state, and only its wake clears it. */
static void on_park(const struct tg_probe *p)
{
    struct tg__thread *t = hook_me();
    if (!t)
        return;
    if (t->park_depth++ > 0)
        return;
    const void *obj = p->obj;
    uint64_t obj2 = 0;
    if (p->op == TG_PROBE_SELECT) {
        /* A select waits on all its channels; the first one names it. */
        obj = NULL;
        for (size_t i = 0; p->cases && i < p->ncases && !obj; i++)
            obj = p->cases[i].ch;
        obj2 = p->ncases;
    }
    tg__block(t, wait_op(p), obj, obj2,
              p->deadline_ns == TG_FOREVER ? INT64_MAX : p->deadline_ns, 0);
}

static void on_wake(const struct tg_probe *p)
{
    struct tg__thread *t = hook_me();
    (void)p;
    if (!t)
        return;
    /* A wake without its park (the hooks came in between) unblocks. */
    if (t->park_depth > 0 && --t->park_depth > 0)
        return;
    tg__unblock(t);
}

static void misuse_at(struct tg__thread *t, uint32_t sub, const struct tg_probe *p)
{
    uint32_t id = obj_id(t, p->kind, p->obj);
    struct tg_log_object *o = tg__obj_rec(id);
    /* The earlier stack that explains it: where the channel was closed. */
    uint32_t s2 = o ? o->event_stack : 0, waiter = 0;
    /* Freeing a channel a thread is parked on: that thread's wait. */
    if (sub == TG_MIS_CHAN_FREE_BUSY)
        s2 = tg__waiter(p->obj, t->id, &waiter);
    tg__misuse(sub, p->obj, id, 0, s2, waiter);
}

static void on_complete(const struct tg_probe *p)
{
    struct tg__thread *t = hook_me();
    if (!t || !p->obj) {
        tg__race_drop(p->token);
        return;
    }
    uintptr_t a = (uintptr_t)p->obj;
    uint8_t op = (uint8_t)p->op;
    switch (p->op) {
    case TG_PROBE_SEND:
        if (p->result == -EPIPE)
            misuse_at(t, TG_MIS_SEND_CLOSED, p);
        else if (p->result == 0) {
            tg__sync_event(t, TG_EV_RELEASE, op, 0, a, p->seq);
            /* The receive of this value (unbuffered), or of the one it
             * replaced in the buffer, happens before the send completes:
             * its token, or what all receives released. */
            if (p->flags & TG_PROBE_TOKENS)
                tg__race_take(p->token, RK_CHAN_R, a);
            else
                TG_RACE_SYNC(RK_CHAN_R, a, false);
        }
        break;
    case TG_PROBE_RECV:
        if (p->result == 0) {
            tg__sync_event(t, TG_EV_ACQUIRE, op, 0, a, p->seq);
            if (p->seq == TG_SEQ_CLOSED)
                TG_RACE_SYNC(RK_CHAN_C, a, false);
            else if (p->flags & TG_PROBE_TOKENS)
                tg__race_take(p->token, RK_CHAN_S, a);   /* its send */
            else
                TG_RACE_SYNC(RK_CHAN_S, a, false);
        }
        break;
    case TG_PROBE_CLOSE:
        if (p->result == -EPIPE) {
            misuse_at(t, TG_MIS_DOUBLE_CLOSE, p);
        } else if (p->result == 0) {
            uint32_t id = obj_id(t, p->kind, p->obj);
            t->guard++;
            uint32_t s = tg__stack_site();
            t->guard--;
            tg__obj_flag(id, TG_OBJF_CLOSED, s);
            tg__sync_event(t, TG_EV_RELEASE, op, s, a, TG_SEQ_CLOSED);
        }
        break;
    case TG_PROBE_WG_ADD:
        if (p->result == -ERANGE)
            misuse_at(t, TG_MIS_WG_NEGATIVE, p);
        else if (p->result == 0)
            tg__sync_event(t, TG_EV_RELEASE, op, 0, a, p->seq);
        break;
    case TG_PROBE_WG_WAIT:
    case TG_PROBE_CTX_WAIT:
    case TG_PROBE_GROUP_WAIT:
        if (p->op == TG_PROBE_GROUP_WAIT)
            tg__sync_event(t, TG_EV_ACQUIRE, op, 0, a, TG_SEQ_TASKS_DONE);
        else if (p->result == 0 || p->op == TG_PROBE_CTX_WAIT)
            tg__sync_event(t, TG_EV_ACQUIRE, op, 0, a, p->seq);
        if (p->op == TG_PROBE_WG_WAIT && p->result == 0)
            TG_RACE_SYNC(RK_WG, a, false);
        else if (p->op == TG_PROBE_CTX_WAIT && p->result != 0)
            TG_RACE_SYNC(RK_CTX, a, false);
        else if (p->op == TG_PROBE_GROUP_WAIT)
            TG_RACE_SYNC(RK_TASK_END, a, false);   /* whatever it returns */
        break;
    case TG_PROBE_TASK_START:
        tg__sync_event(t, TG_EV_ACQUIRE, op, 0, a, p->seq);
        TG_RACE_SYNC(RK_TASK, a, false);
        break;
    case TG_PROBE_CTX_CANCEL: {
        uint32_t id = obj_id(t, p->kind, p->obj);
        t->guard++;
        uint32_t s = tg__stack_site();
        t->guard--;
        tg__obj_flag(id, p->result == -ETIMEDOUT ? TG_OBJF_EXPIRED
                                                 : TG_OBJF_CANCELED, s);
        tg__sync_event(t, TG_EV_RELEASE, op, s, a, 0);
        break;
    }
    case TG_PROBE_POOL_SHUTDOWN:
        if (p->result == 0) {
            tg__sync_event(t, TG_EV_ACQUIRE, op, 0, a, TG_SEQ_TASKS_DONE);
            TG_RACE_SYNC(RK_TASK_END, a, false);
        }
        break;
    case TG_PROBE_FREE:
        if (p->result == -EBUSY)
            misuse_at(t, TG_MIS_CHAN_FREE_BUSY, p);
        break;
    default:
        break;
    }
}

/* Before an operation another thread may observe: the race checker's
 * release (an observer's complete may run before our own). */
static void on_begin(const struct tg_probe *p)
{
    struct tg__thread *t = hook_me();
    if (!t)
        return;
    /* The task hand-offs no channel carries, for the offline checker
     * (full mode): a task's start pairs by its number, every task's end
     * with the wait or shutdown after it. */
    if (p->op == TG_PROBE_TASK_START && p->obj)
        tg__sync_event(t, TG_EV_RELEASE, (uint8_t)p->op, 0, (uintptr_t)p->obj, p->seq);
    else if (p->op == TG_PROBE_TASK_END && p->obj)
        tg__sync_event(t, TG_EV_RELEASE, (uint8_t)p->op, 0, (uintptr_t)p->obj,
                       TG_SEQ_TASKS_DONE);
    if (!tg__rc_on)
        return;
    /* A channel that carries tokens needs no release here: the token hook
     * that follows makes one for the partner alone. */
    switch (p->op) {
    case TG_PROBE_SEND:
        if (!(p->flags & TG_PROBE_TOKENS))
            tg__race_sync(RK_CHAN_S, (uintptr_t)p->obj, true);
        break;
    case TG_PROBE_CLOSE:
        tg__race_sync(RK_CHAN_C, (uintptr_t)p->obj, true);
        break;
    case TG_PROBE_RECV:
        if (!(p->flags & TG_PROBE_TOKENS))
            tg__race_sync(RK_CHAN_R, (uintptr_t)p->obj, true);
        break;
    case TG_PROBE_SELECT:
        if (p->flags & TG_PROBE_TOKENS)
            break;
        for (size_t i = 0; p->cases && i < p->ncases; i++) {
            const tg_case_t *c = &p->cases[i];
            if (!c->ch)
                continue;
            tg__race_sync(c->op == TG_CASE_SEND ? RK_CHAN_S : RK_CHAN_R,
                          (uintptr_t)c->ch, true);
        }
        break;
    case TG_PROBE_WG_ADD:
        tg__race_sync(RK_WG, (uintptr_t)p->obj, true);
        break;
    case TG_PROBE_CTX_CANCEL:
        tg__race_sync(RK_CTX, (uintptr_t)p->obj, true);
        break;
    case TG_PROBE_TASK_START:
        /* Per object, not per task: a task is ordered after every go
         * before it, which keeps one clock per group. */
        tg__race_sync(RK_TASK, (uintptr_t)p->obj, true);
        break;
    case TG_PROBE_TASK_END:
        tg__race_sync(RK_TASK_END, (uintptr_t)p->obj, true);
        break;
    default:
        break;
    }
}

/* The release of a channel operation, for its partner alone (hooks
 * version 3): a copy of the thread's clock, which the runtime carries to
 * the partner's complete. */
static uintptr_t on_token(const struct tg_probe *p)
{
    if (!tg__rc_on || !hook_me())
        return 0;
    uintptr_t tok = tg__race_token();
    if (tok != RC_TOKEN_JOINED)
        return tok;
    /* No memory for a copy: release as for a channel without tokens, and
     * the partner acquires what the channel's operations released. */
    if (p->op == TG_PROBE_SELECT) {
        for (size_t i = 0; p->cases && i < p->ncases; i++)
            if (p->cases[i].ch)
                tg__race_sync(p->cases[i].op == TG_CASE_SEND ? RK_CHAN_S : RK_CHAN_R,
                              (uintptr_t)p->cases[i].ch, true);
    } else {
        tg__race_sync(p->op == TG_PROBE_SEND ? RK_CHAN_S : RK_CHAN_R,
                      (uintptr_t)p->obj, true);
    }
    return tok;
}

static void on_drop(uintptr_t token)
{
    tg__race_drop(token);
}

#define SHIM_HOOKS                                                            \
    .version = TG_HOOKS_VERSION, .create = on_create, .destroy = on_destroy,  \
    .park = on_park, .wake = on_wake, .complete = on_complete, .begin = on_begin

static const struct tg_hooks hooks = { SHIM_HOOKS };

/* In race mode the checker's clocks also travel with channel values. */
static const struct tg_hooks race_hooks = {
    SHIM_HOOKS, .token = on_token, .drop = on_drop,
};

/* Looked up by libtangle's constructor with dlsym(RTLD_DEFAULT). NULL
 * while the shim is not recording, so an untraced run pays nothing.
 * Without the in-process race checker, channels carry no tokens. */
const struct tg_hooks *tangle_shim_hooks(void)
{
    if (!tg__on() && !tg__init())
        return NULL;
    return tg__rc_on ? &race_hooks : &hooks;
}
