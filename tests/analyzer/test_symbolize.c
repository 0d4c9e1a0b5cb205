/*
 * test_symbolize.c: offline symbolization of the test binary itself, as a
 * log's module table describes it: function, file and line of a return
 * address (looked up at pc - 1), inlined frames, and raw module+offset
 * frames when the binary is gone or its build-id differs.
 */
#include <criterion/criterion.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <string.h>
#include <unistd.h>

#include "analyzer.h"
#include "logbuild.h"

static uint64_t bias;

static __attribute__((noinline)) uint64_t return_address(void)
{
    return (uint64_t)__builtin_return_address(0);
}

static inline __attribute__((always_inline)) uint64_t inlined_helper(void)
{
    uint64_t r = return_address();   /* LINE_INLINED_CALL */
    __asm__ volatile("" ::: "memory");
    return r;
}

static __attribute__((noinline)) uint64_t outer_function(void)
{
    uint64_t r = inlined_helper();   /* LINE_OUTER_CALL */
    __asm__ volatile("" ::: "memory");
    return r;
}

static __attribute__((noinline)) uint64_t plain_caller(void)
{
    uint64_t r = return_address();   /* LINE_PLAIN_CALL */
    __asm__ volatile("" ::: "memory");
    return r;
}

/* The line of this file that holds marker. */
static int line_of(const char *marker)
{
    FILE *f = fopen(TANGLE_TOP "/tests/analyzer/test_symbolize.c", "r");
    cr_assert_not_null(f);
    char buf[256];
    int n = 0, found = 0;
    while (fgets(buf, sizeof buf, f)) {
        n++;
        if (strstr(buf, marker) && !strstr(buf, "line_of("))
            found = n;
    }
    fclose(f);
    return found;
}

static struct lb self_log(const char *path, bool bad_build_id)
{
    struct lb b;
    lb_init(&b, getpid());
    struct tg_log_module *m = lb_self_module(&b, path);
    cr_assert(m->path[0]);
    bias = m->bias;
    if (bad_build_id) {
        m->build_id_len = 20;
        memset(m->build_id, 0xab, 20);
    }
    return b;
}

static struct an_stack symbolize(struct lb *b, uint64_t pc, struct tlog **logp,
                                 struct symbolizer **sp)
{
    uint32_t id = lb_stack1(b, pc);
    char *err;
    cr_assert_eq(tlog_open_mem(b->buf, b->size, "self.tlog", logp, &err), 0);
    *sp = sym_new(*logp);
    return sym_stack(*sp, id);
}

Test(symbolize, return_address_resolves_to_the_calling_line)
{
    struct lb b = self_log(NULL, false);
    struct tlog *log;
    struct symbolizer *s;
    struct an_stack st = symbolize(&b, plain_caller(), &log, &s);
    cr_assert_eq(st.n, 1);
    cr_assert_str_eq(st.frames[0].function, "plain_caller");
    cr_assert(strstr(st.frames[0].file, "test_symbolize.c"), "%s",
              st.frames[0].file);
    cr_assert_eq(st.frames[0].line, line_of("LINE_PLAIN_CALL"));
    cr_assert_not_null(st.frames[0].module);
    cr_assert(!st.frames[0].inlined);
    an_stack_free(&st);
    sym_free(s);
    tlog_close(log);
    lb_free(&b);
}

Test(symbolize, inlined_call_expands_into_two_frames)
{
    struct lb b = self_log(NULL, false);
    struct tlog *log;
    struct symbolizer *s;
    struct an_stack st = symbolize(&b, outer_function(), &log, &s);
    cr_assert_eq(st.n, 2, "inlined helper + its caller");
    cr_assert_str_eq(st.frames[0].function, "inlined_helper");
    cr_assert(st.frames[0].inlined);
    cr_assert_eq(st.frames[0].line, line_of("LINE_INLINED_CALL"));
    cr_assert_str_eq(st.frames[1].function, "outer_function");
    cr_assert(!st.frames[1].inlined);
    cr_assert_eq(st.frames[1].line, line_of("LINE_OUTER_CALL"));
    an_stack_free(&st);
    sym_free(s);
    tlog_close(log);
    lb_free(&b);
}

Test(symbolize, start_routine_address_names_its_function)
{
    struct lb b = self_log(NULL, false);
    char *err;
    struct tlog *log;
    cr_assert_eq(tlog_open_mem(b.buf, b.size, "self.tlog", &log, &err), 0);
    struct symbolizer *s = sym_new(log);
    struct an_frame f = sym_addr(s, (uint64_t)(uintptr_t)plain_caller);
    cr_assert_str_eq(f.function, "plain_caller");
    an_frame_free(&f);
    sym_free(s);
    tlog_close(log);
    lb_free(&b);
}

Test(symbolize, gone_binary_gives_raw_module_and_offset)
{
    struct lb b = self_log("/nonexistent/dir/prog", false);
    struct tlog *log;
    struct symbolizer *s;
    uint64_t pc = plain_caller();
    struct an_stack st = symbolize(&b, pc, &log, &s);
    cr_assert_eq(st.n, 1);
    cr_assert_null(st.frames[0].function);
    cr_assert_null(st.frames[0].file);
    cr_assert_str_eq(st.frames[0].module, "/nonexistent/dir/prog");
    cr_assert_eq(st.frames[0].offset, pc - bias);
    an_stack_free(&st);
    sym_free(s);
    tlog_close(log);
    lb_free(&b);
}

Test(symbolize, build_id_mismatch_gives_raw_frames)
{
    struct lb b = self_log(NULL, true);
    struct tlog *log;
    struct symbolizer *s;
    struct an_stack st = symbolize(&b, plain_caller(), &log, &s);
    cr_assert_eq(st.n, 1);
    cr_assert_null(st.frames[0].function, "a rebuilt binary would lie");
    cr_assert_not_null(st.frames[0].module);
    an_stack_free(&st);
    sym_free(s);
    tlog_close(log);
    lb_free(&b);
}

Test(symbolize, address_outside_every_module_has_no_module)
{
    struct lb b = self_log(NULL, false);
    struct tlog *log;
    struct symbolizer *s;
    struct an_stack st = symbolize(&b, 0x10, &log, &s);
    cr_assert_eq(st.n, 1);
    cr_assert_eq(st.frames[0].pc, 0x10);
    cr_assert_null(st.frames[0].module);
    an_stack_free(&st);
    sym_free(s);
    tlog_close(log);
    lb_free(&b);
}

Test(symbolize, cxx_symbols_are_demangled_and_others_kept)
{
    static const char *cases[][2] = {
        { "_ZL6writerPv", "writer(void*)" },
        { "_ZN2ns5Cache3getEi", "ns::Cache::get(int)" },
        { "worker", "worker" },                 /* a C name */
        { "_Znot_a_symbol", "_Znot_a_symbol" }, /* not valid: as it is */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = sym_demangle(cases[i][0]);
        cr_assert_str_eq(d, cases[i][1], "%s", cases[i][0]);
        free(d);
    }
    cr_assert_null(sym_demangle(NULL));
}
