/*
 * shim/findings.c: the findings table, for what the shim detects in the
 * process itself (misuse at the offending call, the watchdog's deadlocks,
 * leak checkpoints). A finding is written whole and committed last, so a
 * report made after a crash or kill -9 sees every finding recorded before.
 */
#include <string.h>

#include "shim.h"

void tg__finding_add(struct tg_log_finding *f)
{
    if (!tg__g.hdr)
        return;
    struct tg_log_finding *r = tg__rec_alloc(TG_SEC_FINDINGS, NULL);
    if (!r)
        return;
    f->time_ns = f->time_ns ? f->time_ns : tg__now();
    /* Everything but the commit word, then the commit word (release). */
    memcpy((char *)r + sizeof r->commit, (char *)f + sizeof f->commit,
           sizeof *r - sizeof r->commit);
    atomic_store_explicit(&r->commit, TG_LOG_COMMITTED, RELEASE);
}

void tg__misuse(uint32_t subkind, const void *obj, uint32_t obj_id,
                uint32_t stack, uint32_t stack2, uint32_t thread2)
{
    struct tg__thread *t = &tg__self;
    t->guard++;
    struct tg_log_finding f = {
        .kind = TG_FIND_MISUSE,
        .subkind = subkind,
        .thread = t->id,
        .obj = (uintptr_t)obj,
        .obj_id = obj_id,
        .stack = stack ? stack : tg__stack_here(),
        .stack2 = stack2,
        .thread2 = thread2,
    };
    tg__finding_add(&f);
    t->guard--;
    if (tg__g.opt.verbose)
        tg__warn("misuse %u on %p by thread %u", subkind, obj, t->id);
}
