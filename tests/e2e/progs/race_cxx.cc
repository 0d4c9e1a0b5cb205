/*
 * race_cxx.cc: C++ programs for the race checker, built with `tangle c++`
 * and clang++ (tests/Makefile; run by test_race_clang). Reports must name
 * C++ functions and globals demangled, and a caught exception must leave
 * no frame of the code it unwound in later stacks. Usage: race_cxx MODE.
 */
#include <pthread.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace ns {
struct Cache {
    long hits = 0;
    void put(long v) { hits += v; } /* LINE:put */
};
} // namespace ns

static ns::Cache cache;
static pthread_barrier_t go;

static void *putter(void *)
{
    pthread_barrier_wait(&go);
    for (int i = 0; i < 1000; i++)
        cache.put(1);
    return nullptr;
}

/* Two threads update one object through a method, no lock. */
static int mode_method()
{
    pthread_t t[2];
    pthread_barrier_init(&go, nullptr, 2);
    for (auto &th : t)
        pthread_create(&th, nullptr, putter, nullptr);
    for (auto &th : t)
        pthread_join(th, nullptr);
    return cache.hits > 0 ? 0 : 1;
}

static long shared_val;

[[gnu::noinline]] static void thrower(int depth)
{
    if (depth == 0)
        throw std::runtime_error("unwound");
    thrower(depth - 1);
}

static void *writer(void *)
{
    pthread_barrier_wait(&go);
    shared_val = 1; /* LINE:ex_write */
    return nullptr;
}

/* A race read after an exception was thrown through four instrumented
 * frames and caught: the read's stack is main's, nothing of thrower. */
static int mode_exception()
{
    pthread_t t;
    pthread_barrier_init(&go, nullptr, 2);
    pthread_create(&t, nullptr, writer, nullptr);
    try {
        thrower(3);
    } catch (const std::exception &) {
    }
    pthread_barrier_wait(&go);
    long v = shared_val; /* LINE:ex_read */
    pthread_join(t, nullptr);
    return v == 2 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "method"))
        return mode_method();
    if (argc > 1 && !strcmp(argv[1], "exception"))
        return mode_exception();
    std::fprintf(stderr, "usage: race_cxx method|exception\n");
    return 2;
}
