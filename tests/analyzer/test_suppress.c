/*
 * test_suppress.c: suppressions files: parsing (comments, blank lines,
 * errors naming the line) and matching globs against every frame of a
 * finding's stacks.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

static struct an_frame frame(const char *fn, const char *file,
                             const char *module)
{
    struct an_frame f = { .pc = 0x1000, .line = 7 };
    f.function = fn ? strdup(fn) : NULL;
    f.file = file ? strdup(file) : NULL;
    f.module = module ? strdup(module) : NULL;
    return f;
}

/* A leak whose thread is blocked in worker() (samples/leak.c) and was
 * created from main(), in /opt/app/prog. */
static struct an_finding *leak_finding(void)
{
    struct an_finding *f = finding_new(NULL, AN_LEAK);
    f->nthreads = 1;
    f->threads = calloc(1, sizeof *f->threads);
    struct an_thread *t = &f->threads[0];
    strcpy(t->name, "worker-1");
    t->stack.n = 2;
    t->stack.frames = calloc(2, sizeof(struct an_frame));
    t->stack.frames[0] = frame("tg_chan_send", NULL, "/usr/lib/libtangle.so.1");
    t->stack.frames[1] = frame("worker", "/src/samples/leak.c", "/opt/app/prog");
    t->has_created_by = true;
    t->created_stack.n = 1;
    t->created_stack.frames = calloc(1, sizeof(struct an_frame));
    t->created_stack.frames[0] = frame("main", "/src/samples/leak.c",
                                       "/opt/app/prog");
    return f;
}

static const char *match(const char *text, const struct an_finding *f)
{
    char *err = NULL;
    struct an_suppressions *s = suppress_parse(text, "t.supp", &err);
    cr_assert_not_null(s, "%s", err ? err : "");
    static char buf[256];
    const char *r = suppress_match(s, f);
    if (r)
        snprintf(buf, sizeof buf, "%s", r);
    suppress_free(s);
    return r ? buf : NULL;
}

Test(suppress, comments_and_blank_lines_are_ignored)
{
    char *err = NULL;
    struct an_suppressions *s = suppress_parse(
        "# a comment\n\n   \nleak:worker   # trailing comment\n", "t.supp",
        &err);
    cr_assert_not_null(s);
    cr_assert_null(err);
    suppress_free(s);
}

Test(suppress, unknown_kind_is_an_error_naming_file_and_line)
{
    char *err = NULL;
    struct an_suppressions *s = suppress_parse("leak:a\n\n# x\nleek:worker\n",
                                               "my.supp", &err);
    cr_assert_null(s);
    cr_assert(strstr(err, "'my.supp' line 4") && strstr(err, "'leek'"),
              "%s", err);
    free(err);
}

Test(suppress, line_without_pattern_is_an_error)
{
    char *err = NULL;
    cr_assert_null(suppress_parse("race:\n", "x", &err));
    cr_assert(strstr(err, "line 1") && strstr(err, "kind:pattern"), "%s", err);
    free(err);
    cr_assert_null(suppress_parse("just-a-word\n", "x", &err));
    cr_assert(strstr(err, "line 1"), "%s", err);
    free(err);
}

Test(suppress, missing_file_is_an_error_naming_it)
{
    char *err = NULL;
    cr_assert_null(suppress_load("/nonexistent/t.supp", &err));
    cr_assert(strstr(err, "'/nonexistent/t.supp'"), "%s", err);
    free(err);
}

Test(suppress, function_glob_on_any_frame_matches)
{
    struct an_finding *f = leak_finding();
    cr_assert_str_eq(match("leak:work*\n", f), "leak:work*");
    cr_assert_not_null(match("leak:main\n", f), "creation stack counts");
    cr_assert_null(match("leak:nothing_like_it\n", f));
    finding_free(f);
}

Test(suppress, cxx_function_matches_with_or_without_its_parameters)
{
    struct an_finding *f = leak_finding();
    free(f->threads[0].stack.frames[1].function);
    f->threads[0].stack.frames[1].function = strdup("ns::Cache::get(int) const");
    cr_assert_not_null(match("leak:ns::Cache::get\n", f));
    cr_assert_not_null(match("leak:*Cache::get\n", f));
    cr_assert_not_null(match("leak:ns::Cache::get(int) const\n", f));
    cr_assert_null(match("leak:ns::Cache\n", f));
    finding_free(f);
}

Test(suppress, file_and_module_names_match_in_full_or_by_base_name)
{
    struct an_finding *f = leak_finding();
    cr_assert_not_null(match("leak:leak.c\n", f));
    cr_assert_not_null(match("leak:*/samples/*\n", f));
    cr_assert_not_null(match("leak:libtangle.so*\n", f));
    cr_assert_not_null(match("leak:/opt/app/prog\n", f));
    finding_free(f);
}

Test(suppress, rule_of_another_kind_does_not_match)
{
    struct an_finding *f = leak_finding();
    cr_assert_null(match("race:worker\nlock-order:*\n", f));
    finding_free(f);
}

Test(suppress, thread_and_called_from_lib_rules)
{
    struct an_finding *f = leak_finding();
    cr_assert_str_eq(match("thread:worker-*\n", f), "thread:worker-*");
    cr_assert_not_null(match("called_from_lib:libtangle.so.1\n", f));
    cr_assert_null(match("called_from_lib:libfoo.so\n", f));
    finding_free(f);
}

Test(suppress, misuse_subkind_can_be_suppressed_by_name)
{
    struct an_finding *f = finding_new(NULL, AN_MISUSE);
    f->subkind = "double-close";
    cr_assert_not_null(match("misuse:double-close\n", f));
    cr_assert_null(match("misuse:relock\n", f));
    finding_free(f);
}

Test(suppress, report_finish_moves_suppressed_findings_out_and_counts_them)
{
    struct an_report *rep = report_new();
    struct an_process proc = { .pid = 1 };
    struct an_ctx ctx = { .rep = rep, .proc = &proc };
    finding_add(&ctx, leak_finding());
    struct an_finding *m = finding_new(&ctx, AN_MISUSE);
    m->subkind = "relock";
    finding_add(&ctx, m);
    char *err = NULL;
    struct an_suppressions *s = suppress_parse("leak:worker\n", "t", &err);
    report_finish(rep, s);
    cr_assert_eq(rep->nfindings, 1);
    cr_assert_eq(rep->findings[0]->kind, AN_MISUSE);
    cr_assert_eq(rep->nsuppressed, 1);
    cr_assert_eq(rep->counts[AN_LEAK], 0);
    cr_assert_eq(rep->counts[AN_MISUSE], 1);
    suppress_free(s);
    for (size_t i = 0; i < rep->nfindings; i++)
        rep->findings[i]->proc = NULL;
    report_free(rep);
}
