/*
 * tests/test_check.c: the check and annotation API, and the clock and
 * error strings of base.h. The program exports tangle_shim_check() as the
 * shim does, but it answers NULL until a test switches it on: that shows
 * the calls are successful no-ops without a shim, and that the runtime
 * looks the shim up again later and then forwards every call.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "tangle/tangle.h"

static _Atomic bool shim_ready;
static int marks, verifies, reads, writes, hb_before, hb_after, ign_begin,
    ign_end, benign;
static const struct tg_leak_opts *last_opts;
static const volatile void *last_addr;
static size_t last_size;

static int fake_mark(void) { marks++; return 0; }
static int fake_verify(const struct tg_leak_opts *o)
{
    verifies++;
    last_opts = o;
    return 2;
}
static void fake_access(const volatile void *a, size_t n, bool w)
{
    (*(w ? &writes : &reads))++;
    last_addr = a;
    last_size = n;
}
static void fake_hb(const volatile void *tag, bool before)
{
    (*(before ? &hb_before : &hb_after))++;
    last_addr = tag;
}
static void fake_ignore(bool begin) { (*(begin ? &ign_begin : &ign_end))++; }
static void fake_benign(const volatile void *a, size_t n, const char *why)
{
    benign++;
    last_addr = a;
    last_size = n;
    (void)why;
}

static const struct tg_check_api fake = {
    .version = 1,
    .leak_mark = fake_mark,
    .leak_verify = fake_verify,
    .annotate_access = fake_access,
    .annotate_hb = fake_hb,
    .annotate_ignore = fake_ignore,
    .annotate_benign = fake_benign,
};

const struct tg_check_api *tangle_shim_check(void);
const struct tg_check_api *tangle_shim_check(void)
{
    return atomic_load(&shim_ready) ? &fake : NULL;
}

Test(check, without_the_shim_checks_succeed_and_do_nothing)
{
    int x = 0;
    cr_assert_not(tg_traced());
    cr_assert_eq(tg_leak_mark(), 0);
    cr_assert_eq(tg_leak_verify(NULL), 0);
    tg_annotate_read(&x, sizeof x);
    tg_annotate_write(&x, sizeof x);
    tg_annotate_happens_before(&x);
    tg_annotate_happens_after(&x);
    tg_annotate_ignore_begin();
    tg_annotate_ignore_end();
    tg_annotate_benign_race(&x, sizeof x, "test");
    cr_assert_eq(marks + verifies + reads + writes + hb_before + hb_after +
                 ign_begin + ign_end + benign, 0);
}

Test(check, a_shim_that_answers_later_is_found_and_gets_every_call)
{
    cr_assert_not(tg_traced());
    atomic_store(&shim_ready, true);
    cr_assert(tg_traced(), "the shim was not looked up again");
    cr_assert_eq(tg_leak_mark(), 0);
    cr_assert_eq(marks, 1);
    struct tg_leak_opts o = { .quiet = true };
    cr_assert_eq(tg_leak_verify(&o), 2);
    cr_assert_eq(verifies, 1);
    cr_assert_eq(last_opts, &o);

    long x[4];
    tg_annotate_read(&x[1], 8);
    cr_assert_eq(reads, 1);
    cr_assert_eq(last_addr, &x[1]);
    cr_assert_eq(last_size, 8);
    tg_annotate_write(&x[2], 16);
    cr_assert_eq(writes, 1);
    cr_assert_eq(last_size, 16);
    tg_annotate_happens_before(&x[0]);
    tg_annotate_happens_after(&x[3]);
    cr_assert_eq(hb_before, 1);
    cr_assert_eq(hb_after, 1);
    cr_assert_eq(last_addr, &x[3]);
    tg_annotate_ignore_begin();
    tg_annotate_ignore_end();
    cr_assert_eq(ign_begin, 1);
    cr_assert_eq(ign_end, 1);
    tg_annotate_benign_race(&x[0], 32, "stats counter");
    cr_assert_eq(benign, 1);
    cr_assert_eq(last_size, 32);
}

Test(check, annotations_reach_a_shim_that_became_ready_after_load)
{
    long x = 0;
    tg_annotate_write(&x, sizeof x);
    cr_assert_eq(writes, 0);
    atomic_store(&shim_ready, true);
    tg_annotate_write(&x, sizeof x);
    cr_assert_eq(writes, 1, "annotation not forwarded without tg_traced()");
    cr_assert_eq(last_addr, &x);
}

/* ---- base.h ------------------------------------------------------------------ */

Test(base, tg_now_is_monotonic_and_in_nanoseconds)
{
    int64_t a = tg_now();
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    int64_t b = tg_now();
    cr_assert_gt(a, 0);
    cr_assert_geq(b - a, 2 * TG_MSEC, "2 ms sleep measured as %lld ns",
                  (long long)(b - a));
}

Test(base, tg_strerror_explains_the_codes_tangle_returns)
{
    cr_assert_str_eq(tg_strerror(0), "success");
    cr_assert_str_eq(tg_strerror(-EPIPE), "channel closed");
    cr_assert_str_eq(tg_strerror(-ETIMEDOUT), "timed out");
    cr_assert_str_eq(tg_strerror(-ECANCELED), "context cancelled");
    cr_assert_not_null(strstr(tg_strerror(-EBUSY), "waiting"));
    cr_assert_str_eq(tg_strerror(-ENOMEM), "Cannot allocate memory");
    cr_assert_str_eq(tg_strerror(-99999), "unknown error");
    cr_assert_not_null(tg_strerror(5));
}
