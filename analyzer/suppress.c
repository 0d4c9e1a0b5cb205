/*
 * suppress.c: suppressions files, in the spirit of TSan's: one
 * `kind:pattern` a line, `#` starts a comment. The pattern is an fnmatch
 * glob tried against every frame of every stack of a finding: the
 * function, the source file (full and base name) and the module (full and
 * base name); for misuse also the subkind. Two extra kinds: `thread:NAME`
 * matches a finding one of whose threads has that name, and
 * `called_from_lib:LIB` one with a frame in that library. A malformed line
 * is an error naming the file and line: a typo must not silently
 * suppress nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"

enum { K_THREAD = AN_KIND_COUNT, K_LIB };

struct rule {
    int kind;
    char *pattern;
    char *text;
};

struct an_suppressions {
    struct rule *rules;
    size_t n, cap;
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

struct an_suppressions *suppress_parse(const char *text, const char *name,
                                       char **err)
{
    struct an_suppressions *s = xcalloc(1, sizeof *s);
    char *copy = xstrdup(text);
    int lineno = 0;
    *err = NULL;
    /* strtok_r would skip empty lines and miscount: split by hand. */
    char *line = copy;
    while (line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *l = trim(line);
        if (*l) {
            char *colon = strchr(l, ':');
            int kind = -1;
            if (colon) {
                *colon = 0;
                char *k = trim(l);
                kind = an_kind_parse(k);
                if (strcmp(k, "thread") == 0)
                    kind = K_THREAD;
                else if (strcmp(k, "called_from_lib") == 0)
                    kind = K_LIB;
                if (kind < 0) {
                    *err = xasprintf("tangle: suppressions '%s' line %d: "
                                     "unknown kind '%s' (expected leak, "
                                     "unjoined, lost-cancel, lock-order, "
                                     "deadlock, misuse, race, hang, thread "
                                     "or called_from_lib)", name, lineno, k);
                    break;
                }
            }
            char *pat = colon ? trim(colon + 1) : NULL;
            if (!colon || !*pat) {
                *err = xasprintf("tangle: suppressions '%s' line %d: expected "
                                 "'kind:pattern'", name, lineno);
                break;
            }
            xgrow(&s->rules, &s->cap, s->n + 1, sizeof *s->rules);
            struct rule *r = &s->rules[s->n++];
            r->kind = kind;
            r->pattern = xstrdup(pat);
            r->text = xasprintf("%s:%s", kind == K_THREAD ? "thread"
                                : kind == K_LIB ? "called_from_lib"
                                : an_kind_name(kind), pat);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
    if (*err) {
        suppress_free(s);
        return NULL;
    }
    return s;
}

struct an_suppressions *suppress_load(const char *path, char **err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *err = xasprintf("tangle: cannot read suppressions '%s': %s", path,
                         strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2)
            buf = xrealloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = 0;
    struct an_suppressions *s = suppress_parse(buf, path, err);
    free(buf);
    return s;
}

void suppress_free(struct an_suppressions *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->rules[i].pattern);
        free(s->rules[i].text);
    }
    free(s->rules);
    free(s);
}

static const char *base(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

static bool glob(const char *pat, const char *s)
{
    return s && fnmatch(pat, s, 0) == 0;
}

/* A C++ function's name without its parameters ("ns::f" of
 * "ns::f(int) const"), so that a pattern need not spell them. */
static bool glob_unparameterized(const char *pat, const char *fn)
{
    const char *paren = fn ? strchr(fn, '(') : NULL;
    if (!paren || paren == fn)
        return false;
    size_t n = (size_t)(paren - fn);
    char head[256];
    if (n >= sizeof head)
        return false;
    memcpy(head, fn, n);
    head[n] = 0;
    return glob(pat, head);
}

static bool frame_matches(const struct an_frame *fr, void *arg)
{
    const char *pat = arg;
    return glob(pat, fr->function) || glob_unparameterized(pat, fr->function) ||
           glob(pat, fr->file) ||
           (fr->file && glob(pat, base(fr->file))) || glob(pat, fr->module) ||
           (fr->module && glob(pat, base(fr->module)));
}

static bool lib_matches(const struct an_frame *fr, void *arg)
{
    return fr->module && (glob(arg, fr->module) || glob(arg, base(fr->module)));
}

const char *suppress_match(const struct an_suppressions *s,
                           const struct an_finding *f)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct rule *r = &s->rules[i];
        bool hit = false;
        if (r->kind == K_THREAD) {
            for (size_t k = 0; k < f->nthreads && !hit; k++)
                hit = glob(r->pattern, f->threads[k].name);
        } else if (r->kind == K_LIB) {
            hit = finding_any_frame(f, lib_matches, r->pattern);
        } else if (r->kind == (int)f->kind) {
            hit = (f->subkind && glob(r->pattern, f->subkind)) ||
                  finding_any_frame(f, frame_matches, r->pattern);
        }
        if (hit)
            return r->text;
    }
    return NULL;
}
