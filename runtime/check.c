/*
 * runtime/check.c: the in-process checks and annotations of check.h. They
 * forward to the preload shim's check API when the shim is in the process
 * and otherwise do nothing and report success, so test suites call them
 * unconditionally. The shim is found by name (`tangle_shim_check`), at
 * load and again on later calls until found, in case it was loaded after
 * libtangle or was not ready to answer yet.
 */
#include <dlfcn.h>

#include "internal.h"

typedef const struct tg_check_api *(*getter_fn)(void);

static _Atomic(const struct tg_check_api *) api;
static _Atomic(getter_fn) getter;

/* Asks the shim for its table, once it has been found; cheap after that. */
static const struct tg_check_api *ask(getter_fn get)
{
    const struct tg_check_api *a = get();
    if (a)
        atomic_store_explicit(&api, a, memory_order_release);
    return a;
}

/* For the rare calls (tg_traced, leak checks): also looks the shim up by
 * name again, in case it was loaded after libtangle. */
static const struct tg_check_api *lookup(void)
{
    const struct tg_check_api *a =
        atomic_load_explicit(&api, memory_order_acquire);
    if (a)
        return a;
    getter_fn get = atomic_load_explicit(&getter, memory_order_acquire);
    if (!get) {
        *(void **)&get = dlsym(RTLD_DEFAULT, "tangle_shim_check");
        if (!get)
            return NULL;
        atomic_store_explicit(&getter, get, memory_order_release);
    }
    return ask(get);
}

/* For the annotations, which may sit in hot loops: no dlsym, only a call
 * to a shim found earlier that was not ready to answer then. */
static inline const struct tg_check_api *cached(void)
{
    const struct tg_check_api *a =
        atomic_load_explicit(&api, memory_order_acquire);
    if (__builtin_expect(a != NULL, 1))
        return a;
    getter_fn get = atomic_load_explicit(&getter, memory_order_acquire);
    return get ? ask(get) : NULL;
}

__attribute__((constructor)) static void check_init(void)
{
    lookup();
}

bool tg_traced(void)
{
    return lookup() != NULL;
}

int tg_leak_mark(void)
{
    const struct tg_check_api *a = lookup();
    return a && a->leak_mark ? a->leak_mark() : 0;
}

int tg_leak_verify(const struct tg_leak_opts *opts)
{
    const struct tg_check_api *a = lookup();
    return a && a->leak_verify ? a->leak_verify(opts) : 0;
}

void tg_annotate_read(const volatile void *addr, size_t size)
{
    const struct tg_check_api *a = cached();
    if (a && a->annotate_access)
        a->annotate_access(addr, size, false);
}

void tg_annotate_write(const volatile void *addr, size_t size)
{
    const struct tg_check_api *a = cached();
    if (a && a->annotate_access)
        a->annotate_access(addr, size, true);
}

void tg_annotate_happens_before(const volatile void *tag)
{
    const struct tg_check_api *a = cached();
    if (a && a->annotate_hb)
        a->annotate_hb(tag, true);
}

void tg_annotate_happens_after(const volatile void *tag)
{
    const struct tg_check_api *a = cached();
    if (a && a->annotate_hb)
        a->annotate_hb(tag, false);
}

void tg_annotate_ignore_begin(void)
{
    const struct tg_check_api *a = cached();
    if (a && a->annotate_ignore)
        a->annotate_ignore(true);
}

void tg_annotate_ignore_end(void)
{
    const struct tg_check_api *a = cached();
    if (a && a->annotate_ignore)
        a->annotate_ignore(false);
}

void tg_annotate_benign_race(const volatile void *addr, size_t size,
                             const char *why)
{
    const struct tg_check_api *a = cached();
    if (a && a->annotate_benign)
        a->annotate_benign(addr, size, why);
}
