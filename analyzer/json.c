/*
 * json.c: a streaming JSON writer for the report writers. It keeps only a
 * "first element" flag per nesting level, so callers emit keys and values
 * in order and never worry about commas; strings are escaped per RFC 8259
 * (control characters as \u00XX, invalid UTF-8 passed through byte for
 * byte, which json-c and jq accept).
 */
#include <inttypes.h>
#include <stdio.h>

#include "analyzer.h"

void jw_init(struct jw *w, FILE *f)
{
    w->f = f;
    w->depth = 0;
    w->first[0] = true;
    w->key_pending = false;
}

static void indent(struct jw *w)
{
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

/* Before any value: a comma and newline unless it follows a key. */
static void pre_value(struct jw *w)
{
    if (w->key_pending) {
        w->key_pending = false;
        return;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth])
            fputc(',', w->f);
        indent(w);
    }
    w->first[w->depth] = false;
}

static void open_(struct jw *w, char c)
{
    pre_value(w);
    fputc(c, w->f);
    if (w->depth < 63)
        w->depth++;
    w->first[w->depth] = true;
}

static void close_(struct jw *w, char c)
{
    bool empty = w->first[w->depth];
    if (w->depth > 0)
        w->depth--;
    if (!empty)
        indent(w);
    fputc(c, w->f);
}

void jw_obj(struct jw *w) { open_(w, '{'); }
void jw_obj_end(struct jw *w) { close_(w, '}'); }
void jw_arr(struct jw *w) { open_(w, '['); }
void jw_arr_end(struct jw *w) { close_(w, ']'); }

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void jw_key(struct jw *w, const char *key)
{
    pre_value(w);
    put_str(w->f, key);
    fputs(": ", w->f);
    w->key_pending = true;
}

void jw_str(struct jw *w, const char *s)
{
    pre_value(w);
    put_str(w->f, s ? s : "");
}

void jw_int(struct jw *w, int64_t v)
{
    pre_value(w);
    fprintf(w->f, "%" PRId64, v);
}

void jw_uint(struct jw *w, uint64_t v)
{
    pre_value(w);
    fprintf(w->f, "%" PRIu64, v);
}

void jw_bool(struct jw *w, bool v)
{
    pre_value(w);
    fputs(v ? "true" : "false", w->f);
}

void jw_hex(struct jw *w, uint64_t v)
{
    pre_value(w);
    fprintf(w->f, "\"0x%" PRIx64 "\"", v);
}

void jw_kstr(struct jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str(w, s);
}

void jw_kint(struct jw *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_int(w, v);
}

void jw_end(struct jw *w)
{
    fputc('\n', w->f);
}
