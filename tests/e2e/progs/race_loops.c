/*
 * race_loops.c: loops that sweep arrays, built with `tangle cc -O2` (the
 * other race programs are built with -O0). Built with clang, the loops
 * whose sweep is known on entry are checked as one range before they run
 * (shim/bitcode/loop_ranges.cpp); built with gcc, access by access. The
 * verdicts must be the same: the clean modes give no finding (each thread
 * keeps to its own bytes, or the loop synchronizes, or it stops early),
 * the others one race between the marked lines.
 * Every worker runs between pthread_create and pthread_join only, so
 * nothing else orders two workers' sweeps.
 */
#include "progs.h"

enum { N = 4096 };

static long arr[N];
static unsigned char bytes[N];
static struct pair { long x, y; } pairs[N];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* The part of an array a worker sweeps. */
struct span {
    long lo, hi;
};

static void *sweep_up(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi;
    for (long i = lo; i < hi; i++)
        arr[i] = arr[i] * 3 + i;             /* LINE:up */
    return NULL;
}

static void *sweep_down(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi;
    for (long i = hi - 1; i >= lo; i--)
        arr[i] = arr[i] * 5 + i;             /* LINE:down */
    return NULL;
}

static void *sum_up(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi, sum = 0;
    for (long i = lo; i < hi; i++)
        sum += arr[i] >> 2;                  /* LINE:sum */
    return (void *)sum;
}

/* Two elements an iteration, together a contiguous sweep, but from two
 * lines: each keeps its own check (and its own line in reports). */
static void *sweep_pairs(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi;
    for (long i = lo; i + 1 < hi; i += 2) {
        arr[i] = arr[i] + 1;                 /* LINE:pair-first */
        arr[i + 1] = arr[i + 1] + 2;         /* LINE:pair-second */
    }
    return NULL;
}

/* Every other element: a strided sweep, never one range. */
static void *sweep_stride2(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi;
    for (long i = lo; i < hi; i += 2)
        arr[i] = arr[i] * 7 + 1;
    return NULL;
}

/* A loop that stops early: [lo, hi) is its count, stop where it leaves. */
static long stop_at;
static void *sweep_until(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi, stop = stop_at;
    for (long i = lo; i < hi; i++) {
        if (i == stop)
            break;
        arr[i] = arr[i] * 3 + 1;
    }
    return NULL;
}

/* A lock taken around each element: the loop synchronizes. */
static void *sweep_locked(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi;
    for (long i = lo; i < hi; i++) {
        pthread_mutex_lock(&mu);
        arr[i] = arr[i] * 3 + 1;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void *sweep_x(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi;
    for (long i = lo; i < hi; i++)
        pairs[i].x = pairs[i].x * 3 + i;
    return NULL;
}

static void *sweep_y(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi;
    for (long i = lo; i < hi; i++)
        pairs[i].y = pairs[i].y * 3 + i;
    return NULL;
}

static void *sweep_bytes(void *p)
{
    long lo = ((struct span *)p)->lo, hi = ((struct span *)p)->hi;
    for (long i = lo; i < hi; i++)
        bytes[i] = (unsigned char)(bytes[i] * 3 + i);    /* LINE:bytes */
    return NULL;
}

/* A sum and a count kept in memory the loop updates in place (the
 * compiler cannot keep them in registers: arr might alias them). One
 * line, so that a race on either is one finding. */
static struct tally { long n, sum; } tallies[2];
struct tally_span {
    struct tally *t;
    long lo, hi;
};
static void *tally(void *p)
{
    struct tally_span *ts = p;
    struct tally *t = ts->t;
    long lo = ts->lo, hi = ts->hi;
    for (long i = lo; i < hi; i++) {
        t->sum += arr[i], t->n++;            /* LINE:tally */
    }
    return NULL;
}
static int tally_two(struct tally *a, struct tally *b)
{
    struct tally_span s[2] = { { a, 0, N / 2 }, { b, N / 2, N } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, tally, &s[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

/* Runs f on a and g on b in two threads at once, and joins them. */
static int two(void *(*f)(void *), struct span a, void *(*g)(void *), struct span b)
{
    pthread_t t[2];
    pthread_create(&t[0], NULL, f, &a);
    pthread_create(&t[1], NULL, g, &b);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    return 0;
}

/* Arrays on the stack. A thread's own array, filled and read through a
 * helper (so its address is taken) and never handed on, cannot race:
 * gcc's plugin leaves its checks out, as clang does. One handed to
 * another thread is checked wherever it is used. */
static void stir(long *b, long v)
{
    for (int k = 0; k < 16; k++)
        b[k] = b[(k + 1) & 15] + v * k;
}

static void *own_array(void *p)
{
    long buf[16], sum = 0;
    for (int k = 0; k < 16; k++)         /* element by element: an */
        buf[k] = k;                      /* initializer is a range */
    for (long v = 0; v < 64; v++) {
        stir(buf, v);
        sum += buf[v & 15];
    }
    return (void *)sum;
}

/* The single-shot races below: one side goes first and raises this
 * relaxed flag, the other waits for it. A relaxed flag orders nothing
 * (the race stays a race), but it keeps the two accesses apart in time,
 * so that neither loses its shadow record to the other's update at the
 * same instant (a limit of the checker, see docs/races.md). */
static _Atomic int first_done;
static void done_first(void)
{
    atomic_store_explicit(&first_done, 1, memory_order_relaxed);
}
static void wait_first(void)
{
    while (!atomic_load_explicit(&first_done, memory_order_relaxed))
        sched_yield();
}

static void *fill_array(void *p)
{
    long *b = p;
    for (int k = 0; k < 16; k++)
        b[(k * 5) & 15] = k;                 /* LINE:stack-fill */
    done_first();
    return NULL;
}

static int mode_stack_own(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, own_array, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static int mode_stack_shared(int argc, char **argv)
{
    (void)argc; (void)argv;
    long local[16], sum = 0;
    for (int k = 0; k < 16; k++)
        local[k] = 0;
    pthread_t t;
    pthread_create(&t, NULL, fill_array, local);
    wait_first();
    for (int k = 0; k < 16; k++)
        sum += local[(k * 3) & 15];          /* LINE:stack-sum */
    pthread_join(t, NULL);
    printf("sum %ld\n", sum);
    return 0;
}

/* One element of a local array written while another thread reads the
 * array: clang 14's own instrumentation leaves that store unchecked. */
static void *sum_array(void *p)
{
    long *b = p, sum = 0;
    wait_first();
    for (int k = 0; k < 4; k++)
        sum += b[k];                         /* LINE:stack-read */
    return (void *)sum;
}

static int mode_stack_element(int argc, char **argv)
{
    (void)argc; (void)argv;
    long local[4];
    for (int k = 0; k < 4; k++)
        local[k] = k;
    pthread_t t;
    pthread_create(&t, NULL, sum_array, local);
    local[2] = 5;                            /* LINE:stack-store */
    done_first();
    void *sum;
    pthread_join(t, &sum);
    printf("sum %ld\n", (long)sum);
    return 0;
}

/* A fill of a known size, which gcc expands inline, and a copy of a
 * size known only at run time, a library call; clang leaves both to
 * library calls that only TSan's run-time intercepts. Each is checked
 * as a range. */
static char fill_buf[256], copy_src[256];
static size_t copy_len = sizeof copy_src;
static void *fill_shared(void *p)
{
    (void)p;
    memset(fill_buf, 7, sizeof fill_buf);    /* LINE:memset */
    done_first();
    return NULL;
}

static void *copy_shared(void *p)
{
    char *out = p;
    wait_first();
    memcpy(out, copy_src, copy_len);         /* LINE:memcpy */
    return NULL;
}

static int mode_memset_read(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    pthread_create(&t, NULL, fill_shared, NULL);
    wait_first();
    long sum = 0;
    for (int k = 0; k < 256; k += 64)
        sum += fill_buf[k];                  /* LINE:memset-read */
    pthread_join(t, NULL);
    printf("sum %ld\n", sum);
    return 0;
}

static int mode_memcpy_write(int argc, char **argv)
{
    (void)argc; (void)argv;
    static char out[256];
    pthread_t t;
    pthread_create(&t, NULL, copy_shared, out);
    copy_src[100] = 1;                       /* LINE:memcpy-write */
    done_first();
    pthread_join(t, NULL);
    printf("out %d\n", out[0]);
    return 0;
}

#define SPAN(lo, hi) ((struct span){ (lo), (hi) })
#define MODE(name, body) \
    static int name(int argc, char **argv) { (void)argc; (void)argv; return body; }

/* clean */
MODE(mode_halves, two(sweep_up, SPAN(0, N / 2), sweep_up, SPAN(N / 2, N)))
MODE(mode_halves_down, two(sweep_down, SPAN(0, N / 2), sweep_down, SPAN(N / 2, N)))
MODE(mode_halves_pairs, two(sweep_pairs, SPAN(0, N / 2), sweep_pairs, SPAN(N / 2, N)))
MODE(mode_odd_even, two(sweep_stride2, SPAN(0, N), sweep_stride2, SPAN(1, N)))
MODE(mode_fields, two(sweep_x, SPAN(0, N), sweep_y, SPAN(0, N)))
MODE(mode_locked, two(sweep_locked, SPAN(0, N), sweep_locked, SPAN(0, N)))
MODE(mode_bytes_halves, two(sweep_bytes, SPAN(0, N / 2 + 3), sweep_bytes, SPAN(N / 2 + 3, N)))
static int mode_early_exit(int argc, char **argv)
{
    (void)argc; (void)argv;
    stop_at = N / 2;
    return two(sweep_until, SPAN(0, N), sweep_up, SPAN(N / 2, N));
}
static int mode_after_join(int argc, char **argv)
{
    (void)argc; (void)argv;
    pthread_t t;
    struct span all = SPAN(0, N);
    pthread_create(&t, NULL, sweep_up, &all);
    pthread_join(t, NULL);
    sweep_down(&all);
    return 0;
}

MODE(mode_own_tallies, tally_two(&tallies[0], &tallies[1]))

/* one race each */
MODE(mode_one_tally, tally_two(&tallies[0], &tallies[0]))
MODE(mode_both, two(sweep_up, SPAN(0, N), sweep_up, SPAN(0, N)))
MODE(mode_write_read, two(sweep_up, SPAN(0, N), sum_up, SPAN(0, N)))
MODE(mode_up_down, two(sweep_up, SPAN(0, N), sweep_down, SPAN(0, N)))
MODE(mode_pairs_up, two(sweep_pairs, SPAN(0, N), sweep_up, SPAN(0, N)))
static int mode_one_word(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("shared %p\n", (void *)&arr[N / 2]);
    return two(sweep_up, SPAN(0, N / 2 + 1), sweep_down, SPAN(N / 2, N));
}
static int mode_one_byte(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("shared %p\n", (void *)&bytes[N / 2 + 3]);
    return two(sweep_bytes, SPAN(0, N / 2 + 4), sweep_bytes, SPAN(N / 2 + 3, N));
}

static const struct prog_mode modes[] = {
    {"halves", mode_halves},
    {"halves-down", mode_halves_down},
    {"halves-pairs", mode_halves_pairs},
    {"odd-even", mode_odd_even},
    {"fields", mode_fields},
    {"locked", mode_locked},
    {"bytes-halves", mode_bytes_halves},
    {"early-exit", mode_early_exit},
    {"after-join", mode_after_join},
    {"own-tallies", mode_own_tallies},
    {"stack-own", mode_stack_own},
    {"one-tally", mode_one_tally},
    {"both", mode_both},
    {"write-read", mode_write_read},
    {"up-down", mode_up_down},
    {"pairs-up", mode_pairs_up},
    {"one-word", mode_one_word},
    {"one-byte", mode_one_byte},
    {"stack-shared", mode_stack_shared},
    {"stack-element", mode_stack_element},
    {"memset-read", mode_memset_read},
    {"memcpy-write", mode_memcpy_write},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return prog_main(modes, argc, argv);
}
