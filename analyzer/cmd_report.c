/*
 * cmd_report.c: `tangle report LOG... | DIR`, the post-mortem analysis of
 * existing logs, and the report options and report step it shares with
 * `tangle run`. Options are parsed strictly: an unknown option or a value
 * that is not entirely valid is a usage error naming it (exit 64).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyzer.h"

int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("tangle: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'tangle help%s%s'.\n", cmd ? " " : "",
            cmd ? cmd : "");
    return EXIT_USAGE;
}

bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

bool parse_seconds(const char *s, int64_t *ns)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v > 0) || v > 1e7)
        return false;
    *ns = (int64_t)(v * 1e9);
    return true;
}

void report_options_init(struct an_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->format = AN_FMT_TEXT;
    opt->exitcode = EXIT_FINDINGS_DEFAULT;
    opt->long_block_ns = 10 * (int64_t)1000000000;
}

/* "--name VALUE" or "--name=VALUE": the value, or NULL when argv[*i] is
 * not that option. Sets *missing when the value is absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name,
                             bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != 0)
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

int report_option(int argc, char **argv, int *i, struct an_options *opt)
{
    bool missing = false;
    const char *v;
    const char *a = argv[*i];
    if ((v = opt_value(argc, argv, i, "--format", &missing))) {
        if (strcmp(v, "text") == 0)
            opt->format = AN_FMT_TEXT;
        else if (strcmp(v, "json") == 0)
            opt->format = AN_FMT_JSON;
        else if (strcmp(v, "sarif") == 0)
            opt->format = AN_FMT_SARIF;
        else
            return usage_error(NULL, "bad value '%s' for --format (text, "
                               "json or sarif)", v), -1;
        return 1;
    }
    if (!missing && (v = opt_value(argc, argv, i, "-o", &missing))) {
        opt->output = v;
        return 1;
    }
    if (!missing && (v = opt_value(argc, argv, i, "--output", &missing))) {
        opt->output = v;
        return 1;
    }
    if (!missing && (v = opt_value(argc, argv, i, "--suppressions",
                                   &missing))) {
        opt->suppressions = v;
        return 1;
    }
    if (!missing && (v = opt_value(argc, argv, i, "--exitcode", &missing))) {
        uint64_t n;
        if (!parse_u64(v, 255, &n))
            return usage_error(NULL, "bad value '%s' for --exitcode (0 to "
                               "255)", v), -1;
        opt->exitcode = (int)n;
        return 1;
    }
    if (missing)
        return usage_error(NULL, "option '%s' needs a value", a), -1;
    if (strcmp(a, "--show-gated") == 0) {
        opt->show_gated = true;
        return 1;
    }
    if (strcmp(a, "--full-stacks") == 0) {
        opt->full_stacks = true;
        return 1;
    }
    return 0;
}

static bool log_name(const char *name, long *pid, unsigned long long *start)
{
    size_t n = strlen(name), sl = strlen(TG_LOG_SUFFIX);
    if (strncmp(name, "tangle.", 7) != 0 || n <= sl ||
        strcmp(name + n - sl, TG_LOG_SUFFIX) != 0)
        return false;
    char *end;
    *pid = strtol(name + 7, &end, 10);
    *start = *end == '.' ? strtoull(end + 1, NULL, 10) : 0;
    return end != name + 7;
}

struct named {
    char *path;
    long pid;
    unsigned long long start;
};

static int named_cmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return strcmp(x->path, y->path);
}

char **list_logs(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct named *v = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        long pid;
        unsigned long long start;
        if (!log_name(de->d_name, &pid, &start))
            continue;
        xgrow(&v, &cap, *n + 1, sizeof *v);
        v[*n].path = xasprintf("%s/%s", dir, de->d_name);
        v[*n].pid = pid;
        v[*n].start = start;
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof *v, named_cmp);
    char **out = xcalloc(*n + 1, sizeof *out);
    for (size_t i = 0; i < *n; i++)
        out[i] = v[i].path;
    free(v);
    return out;
}

void free_list(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int report_run(char *const *paths, size_t npaths, const struct an_options *opt,
               int clean_status)
{
    size_t usable;
    char *err;
    struct an_report *rep = analyze_logs(paths, npaths, opt, &usable, &err);
    if (!rep) {
        fprintf(stderr, "%s\n", err);
        free(err);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < rep->nprocs; i++)
        for (size_t k = 0; k < rep->procs[i]->nerrors; k++)
            fprintf(stderr, "%s\n", rep->procs[i]->errors[k]);
    if (npaths && !usable) {
        report_free(rep);
        return EXIT_DATAERR;
    }
    FILE *out = !opt->output && opt->report_stderr ? stderr : stdout;
    if (opt->output && strcmp(opt->output, "-") != 0) {
        out = fopen(opt->output, "w");
        if (!out) {
            fprintf(stderr, "tangle: cannot write '%s': %s\n", opt->output,
                    strerror(errno));
            report_free(rep);
            return EXIT_INTERNAL;
        }
    }
    if (opt->format == AN_FMT_JSON)
        report_json(out, rep, opt);
    else if (opt->format == AN_FMT_SARIF)
        report_sarif(out, rep, opt);
    else
        report_text(out, rep, opt);
    int status = rep->nfindings ? opt->exitcode : clean_status;
    if (out != stdout && out != stderr) {
        if (fclose(out) != 0) {
            fprintf(stderr, "tangle: cannot write '%s': %s\n", opt->output,
                    strerror(errno));
            status = EXIT_INTERNAL;
        }
    } else if (fflush(out) != 0) {
        status = EXIT_INTERNAL;
    }
    report_free(rep);
    return status;
}

int cmd_report(int argc, char **argv)
{
    struct an_options opt;
    report_options_init(&opt);
    char **paths = NULL;
    size_t n = 0, cap = 0;
    bool dashdash = false;
    int status = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && a[0] == '-' && a[1]) {
            if (strcmp(a, "--") == 0) {
                dashdash = true;
                continue;
            }
            if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                free_list(paths, n);
                return CMD_SHOW_HELP;
            }
            int r = report_option(argc, argv, &i, &opt);
            if (r < 0) {
                free_list(paths, n);
                return EXIT_USAGE;
            }
            if (r == 0) {
                free_list(paths, n);
                return usage_error("report", "unknown option '%s'", a);
            }
            continue;
        }
        struct stat st;
        if (stat(a, &st) == 0 && S_ISDIR(st.st_mode)) {
            size_t m;
            char **v = list_logs(a, &m);
            if (!m)
                fprintf(stderr, "tangle: no logs (tangle.*%s) in '%s'\n",
                        TG_LOG_SUFFIX, a);
            for (size_t k = 0; k < m; k++) {
                xgrow(&paths, &cap, n + 1, sizeof *paths);
                paths[n++] = v[k];
            }
            free(v);
        } else {
            xgrow(&paths, &cap, n + 1, sizeof *paths);
            paths[n++] = xstrdup(a);
        }
    }
    if (!n) {
        free_list(paths, n);
        if (!dashdash && argc < 2)
            return usage_error("report", "no log given");
        return EXIT_DATAERR;
    }
    status = report_run(paths, n, &opt, 0);
    free_list(paths, n);
    return status;
}
