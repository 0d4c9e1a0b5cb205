/*
 * runtime/hooks.c: the probe table. One global pointer, NULL unless a tool
 * installed a table, so an untraced program pays a load and a predictable
 * branch per operation. When the preload shim is in the process, the
 * constructor finds its `tangle_shim_hooks` function by name (there is no
 * link-time dependency in either direction) and installs its table before
 * main runs.
 */
#include <dlfcn.h>

#include "internal.h"

_Atomic(const struct tg_hooks *) tg__hooks = NULL;

const struct tg_hooks *tg_hooks_install(const struct tg_hooks *hooks)
{
    return atomic_exchange_explicit(&tg__hooks, hooks, memory_order_acq_rel);
}

const struct tg_hooks *tg_hooks_current(void)
{
    return tg__hooks_get();
}

__attribute__((constructor)) static void hooks_init(void)
{
    const struct tg_hooks *(*get)(void);
    *(void **)&get = dlsym(RTLD_DEFAULT, "tangle_shim_hooks");
    if (!get)
        return;
    const struct tg_hooks *h = get();
    /* A table of an unknown layout would be misread: run untraced instead.
     * Version 1 tables end before `begin`. */
    if (h && h->version >= 1 && h->version <= TG_HOOKS_VERSION)
        tg_hooks_install(h);
}
