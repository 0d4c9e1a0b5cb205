/*
 * bench/race/race_bench.c: the race checker's cost programs, one per mode,
 * built four ways by bench/race/run.sh (plain, `tangle cc` without the
 * shim, `tangle cc` under the shim in full and sampled race mode, gcc
 * -fsanitize=thread) and timed side by side.
 *   cpu       two threads each sweep a private array of their own and add
 *             their partial sums to a shared total under a mutex now and
 *             then: mostly private memory, some shared.
 *   lock      two threads increment one shared counter under one mutex:
 *             every access is inside a fresh synchronization epoch.
 *   pipeline  three stages joined by buffered tangle channels pass numbers
 *             through; each stage does a little arithmetic on a private
 *             buffer.
 * Each prints a checksum so the compiler cannot drop the work.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tangle/tangle.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long total;
static long scale = 1;

/* ---- cpu ---- */
enum { CPU_N = 1 << 15 };

static void *cpu_worker(void *arg)
{
    long *a = calloc(CPU_N, sizeof *a);
    long seed = (long)arg + 1;
    for (long pass = 0; pass < 40 * scale; pass++) {
        long sum = 0;
        for (long i = 0; i < CPU_N; i++) {
            a[i] = a[i] * 3 + seed + i;
            sum += a[i] >> 3;
        }
        pthread_mutex_lock(&mu);
        total += sum & 0xffff;
        pthread_mutex_unlock(&mu);
    }
    free(a);
    return NULL;
}

static int mode_cpu(void)
{
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, cpu_worker, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("cpu: %ld\n", total);
    return 0;
}

/* ---- lock ---- */
static void *lock_worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < 200000 * scale; i++) {
        pthread_mutex_lock(&mu);
        total++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static int mode_lock(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, lock_worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("lock: %ld\n", total);
    return 0;
}

/* ---- pipeline ---- */
struct stage {
    tg_chan_t *in, *out;
    long sum;
};

static long work(long v, long *buf)
{
    for (int k = 0; k < 16; k++)
        buf[k] = buf[(k + 1) & 15] + v * k;
    return v + buf[v & 15] % 7;
}

static void *stage_run(void *arg)
{
    struct stage *s = arg;
    long buf[16] = {0};
    long v;
    bool ok;
    while (tg_chan_recv(s->in, &v, &ok) == 0 && ok) {
        v = work(v, buf);
        s->sum += v;
        if (s->out)
            tg_chan_send(s->out, &v);
    }
    if (s->out)
        tg_chan_close(s->out);
    return NULL;
}

static int mode_pipeline(void)
{
    tg_chan_t *c[3];
    for (int i = 0; i < 3; i++)
        tg_chan_new(&c[i], sizeof(long), 16);
    struct stage st[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        st[i] = (struct stage){ c[i], i < 2 ? c[i + 1] : NULL, 0 };
        pthread_create(&t[i], NULL, stage_run, &st[i]);
    }
    for (long v = 0; v < 100000 * scale; v++)
        tg_chan_send(c[0], &v);
    tg_chan_close(c[0]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        tg_chan_free(c[i]);
    printf("pipeline: %ld\n", st[2].sum);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: race_bench cpu|lock|pipeline [SCALE]\n");
        return 64;
    }
    if (argc > 2)
        scale = atol(argv[2]) > 0 ? atol(argv[2]) : 1;
    if (!strcmp(argv[1], "cpu"))
        return mode_cpu();
    if (!strcmp(argv[1], "lock"))
        return mode_lock();
    if (!strcmp(argv[1], "pipeline"))
        return mode_pipeline();
    fprintf(stderr, "race_bench: unknown mode '%s'\n", argv[1]);
    return 64;
}
