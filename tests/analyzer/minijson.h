/*
 * minijson.h: a minimal JSON parser for the report tests: enough to check
 * that the analyzer's output is valid JSON and to look values up by path
 * ("findings.0.threads.0.state"). Strict: trailing commas, bare words and
 * unescaped control characters are errors.
 */
#ifndef TANGLE_TESTS_MINIJSON_H
#define TANGLE_TESTS_MINIJSON_H

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum mj_type { MJ_NULL, MJ_BOOL, MJ_NUM, MJ_STR, MJ_ARR, MJ_OBJ };

struct mj {
    enum mj_type type;
    double num;
    bool b;
    char *str;                /* string value, or key in an object */
    struct mj *kids;
    size_t n;
    char *key;
};

struct mj_p {
    const char *s;
    bool err;
};

static void mj_ws(struct mj_p *p)
{
    while (*p->s == ' ' || *p->s == '\n' || *p->s == '\t' || *p->s == '\r')
        p->s++;
}

static char *mj_string(struct mj_p *p)
{
    if (*p->s != '"') {
        p->err = true;
        return NULL;
    }
    p->s++;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    while (*p->s && *p->s != '"') {
        char c = *p->s++;
        if ((unsigned char)c < 0x20) {
            p->err = true;
            break;
        }
        if (c == '\\') {
            char e = *p->s++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case '"': case '\\': case '/': c = e; break;
            case 'u':
                for (int i = 0; i < 4; i++)
                    if (!isxdigit((unsigned char)p->s[i]))
                        p->err = true;
                if (!p->err)
                    p->s += 4;
                c = '?';
                break;
            default:
                p->err = true;
            }
        }
        if (n + 2 > cap)
            out = realloc(out, cap *= 2);
        out[n++] = c;
    }
    if (*p->s != '"')
        p->err = true;
    else
        p->s++;
    out[n] = 0;
    return out;
}

static void mj_value(struct mj_p *p, struct mj *v);

static void mj_push(struct mj *v, struct mj *kid)
{
    v->kids = realloc(v->kids, (v->n + 1) * sizeof *v->kids);
    v->kids[v->n++] = *kid;
}

static void mj_value(struct mj_p *p, struct mj *v)
{
    memset(v, 0, sizeof *v);
    mj_ws(p);
    if (p->err)
        return;
    char c = *p->s;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? MJ_OBJ : MJ_ARR;
        p->s++;
        mj_ws(p);
        if (*p->s == (c == '{' ? '}' : ']')) {
            p->s++;
            return;
        }
        for (;;) {
            struct mj kid;
            char *key = NULL;
            mj_ws(p);
            if (c == '{') {
                key = mj_string(p);
                mj_ws(p);
                if (*p->s != ':')
                    p->err = true;
                else
                    p->s++;
            }
            mj_value(p, &kid);
            kid.key = key;
            mj_push(v, &kid);
            mj_ws(p);
            if (p->err)
                return;
            if (*p->s == ',') {
                p->s++;
                continue;
            }
            if (*p->s == (c == '{' ? '}' : ']')) {
                p->s++;
                return;
            }
            p->err = true;
            return;
        }
    } else if (c == '"') {
        v->type = MJ_STR;
        v->str = mj_string(p);
    } else if (strncmp(p->s, "true", 4) == 0 || strncmp(p->s, "false", 5) == 0) {
        v->type = MJ_BOOL;
        v->b = c == 't';
        p->s += v->b ? 4 : 5;
    } else if (strncmp(p->s, "null", 4) == 0) {
        v->type = MJ_NULL;
        p->s += 4;
    } else if (c == '-' || isdigit((unsigned char)c)) {
        char *end;
        v->type = MJ_NUM;
        v->num = strtod(p->s, &end);
        p->s = end;
    } else {
        p->err = true;
    }
}

/* Parses text; NULL when it is not exactly one valid JSON value. */
static struct mj *mj_parse(const char *text)
{
    struct mj_p p = { text, false };
    struct mj *v = calloc(1, sizeof *v);
    mj_value(&p, v);
    mj_ws(&p);
    if (p.err || *p.s) {
        free(v);
        return NULL;
    }
    return v;
}

/* Value at a dotted path (object keys, array indices), or NULL. */
static const struct mj *mj_get(const struct mj *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *part = strtok_r(buf, ".", &save); part && v;
         part = strtok_r(NULL, ".", &save)) {
        const struct mj *next = NULL;
        if (v->type == MJ_ARR) {
            size_t i = strtoul(part, NULL, 10);
            next = i < v->n ? &v->kids[i] : NULL;
        } else if (v->type == MJ_OBJ) {
            for (size_t i = 0; i < v->n && !next; i++)
                if (strcmp(v->kids[i].key, part) == 0)
                    next = &v->kids[i];
        }
        v = next;
    }
    return v;
}

static const char *mj_str(const struct mj *v, const char *path)
{
    const struct mj *x = mj_get(v, path);
    return x && x->type == MJ_STR ? x->str : NULL;
}

static double mj_num(const struct mj *v, const char *path)
{
    const struct mj *x = mj_get(v, path);
    return x && x->type == MJ_NUM ? x->num : -1;
}

#endif
