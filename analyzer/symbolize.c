/*
 * symbolize.c: offline symbolization of a log's stacks with libdwfl.
 *
 * Every module of the log's module table is reported to one Dwfl at the
 * load bias it had at run time, after its build-id is compared with the
 * file now on disk: a rebuilt binary would otherwise give confidently
 * wrong lines. Stack entries are return addresses, so the line looked up
 * is that of pc - 1 (the call), and inlined calls are unfolded from the
 * DWARF scopes at that address (dwarf_getscopes): the innermost inlined
 * function first, each at the call site recorded by the one inside it,
 * down to the real function. Results are cached per (pc, kind of lookup).
 */
#include "symbolize.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer.h"
#include "logread.h"

struct sym_module {
    const struct tg_log_module *m;
    const char *path;
    Dwfl_Module *dm;          /* NULL: raw frames only */
    bool is_shim;
};

struct cache_ent {
    uint64_t key;             /* pc * 2 + is_return, 0: empty slot */
    size_t first, n;          /* into s->frames */
};

struct symbolizer {
    const struct tlog *log;
    Dwfl *dwfl;
    struct sym_module *mods;
    size_t nmods;
    struct cache_ent *tab;
    size_t tabcap, tabused;
    struct an_frame *frames;
    size_t nframes, capframes;
};

static char *debuginfo_path;
static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

/* Warn once per file about a mismatch, not once per log of a test run. */
static char **warned;
static size_t nwarned;

static void warn_once(const char *path, const char *why)
{
    for (size_t i = 0; i < nwarned; i++)
        if (strcmp(warned[i], path) == 0)
            return;
    warned = xrealloc(warned, (nwarned + 1) * sizeof *warned);
    warned[nwarned++] = xstrdup(path);
    fprintf(stderr, "tangle: warning: '%s' %s: its frames are shown as "
            "module+offset\n", path, why);
}

/* True when the file's build-id equals the recorded one (or either is
 * missing, when nothing better can be checked). */
static bool build_id_matches(const char *path, const struct tg_log_module *m)
{
    if (m->build_id_len == 0)
        return true;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    elf_version(EV_CURRENT);
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    bool ok = true;
    if (e) {
        const void *bid;
        ssize_t len = dwelf_elf_gnu_build_id(e, &bid);
        if (len > 0)
            ok = (size_t)len == m->build_id_len &&
                 memcmp(bid, m->build_id, (size_t)len) == 0;
        elf_end(e);
    }
    close(fd);
    return ok;
}

struct symbolizer *sym_new(const struct tlog *log)
{
    struct symbolizer *s = xcalloc(1, sizeof *s);
    s->log = log;
    s->dwfl = dwfl_begin(&offline_callbacks);
    s->mods = xcalloc(log->nmodules ? log->nmodules : 1, sizeof *s->mods);
    if (s->dwfl)
        dwfl_report_begin(s->dwfl);
    for (size_t i = 0; i < log->nmodules; i++) {
        const struct tg_log_module *m = &log->modules[i];
        struct sym_module *sm = &s->mods[s->nmods++];
        sm->m = m;
        sm->path = m->path[0] ? m->path : log->hdr.exe;
        const char *base = strrchr(sm->path, '/');
        base = base ? base + 1 : sm->path;
        sm->is_shim = strncmp(base, "libtangle-preload", 17) == 0;
        if (!s->dwfl || sm->path[0] != '/' || sm->is_shim)
            continue;                 /* the vdso, pseudo files, frames
                                         that are never shown */
        if (access(sm->path, R_OK) != 0) {
            warn_once(sm->path, "is gone");
            continue;
        }
        if (!build_id_matches(sm->path, m)) {
            warn_once(sm->path, "has changed since the run (build-id "
                      "differs)");
            continue;
        }
        sm->dm = dwfl_report_elf(s->dwfl, sm->path, sm->path, -1, m->bias,
                                 false);
    }
    if (s->dwfl)
        dwfl_report_end(s->dwfl, NULL, NULL);
    return s;
}

void sym_free(struct symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nframes; i++)
        an_frame_free(&s->frames[i]);
    free(s->frames);
    free(s->tab);
    free(s->mods);
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s);
}

static struct sym_module *module_of(struct symbolizer *s, uint64_t pc)
{
    for (size_t i = 0; i < s->nmods; i++)
        if (pc >= s->mods[i].m->start && pc <= s->mods[i].m->end)
            return &s->mods[i];
    return NULL;
}

static void push(struct symbolizer *s, const struct an_frame *f)
{
    xgrow(&s->frames, &s->capframes, s->nframes + 1, sizeof *s->frames);
    s->frames[s->nframes++] = *f;
}

static char *dup_or_null(const char *p)
{
    return p ? xstrdup(p) : NULL;
}

/* The C++ runtime's demangler, looked up once: libstdc++ is loaded only
 * to name C++ frames, so the analyzer needs no C++ library to build or
 * to run on C programs. */
typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);
static demangle_fn demangler;
static pthread_once_t demangler_once = PTHREAD_ONCE_INIT;

static void demangler_load(void)
{
    void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
    if (h)
        *(void **)&demangler = dlsym(h, "__cxa_demangle");
}

char *sym_demangle(const char *name)
{
    if (!name)
        return NULL;
    if (name[0] == '_' && name[1] == 'Z') {
        pthread_once(&demangler_once, demangler_load);
        int status = -1;
        char *d = demangler ? demangler(name, NULL, NULL, &status) : NULL;
        if (d && status == 0)
            return d;
        free(d);
    }
    return xstrdup(name);
}

static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
        dwarf_attr_integrate(die, DW_AT_name, &a))
        return dwarf_formstring(&a);
    return NULL;
}

/* Resolves one address into frames appended to s->frames. */
/* The compile unit holding addr. libdwfl finds it through
 * .debug_aranges, which clang leaves out (unless -gdwarf-aranges); then
 * the units' own address ranges are searched. */
static Dwarf_Die *cu_of(Dwfl_Module *dm, Dwarf_Addr addr, Dwarf_Addr *bias)
{
    Dwarf_Die *cu = dwfl_module_addrdie(dm, addr, bias);
    if (cu)
        return cu;
    while ((cu = dwfl_module_nextcu(dm, cu, bias)) != NULL)
        if (dwarf_haspc(cu, addr - *bias) > 0)
            return cu;
    return NULL;
}

static void resolve(struct symbolizer *s, uint64_t pc, bool is_return)
{
    struct an_frame f = { .pc = pc };
    struct sym_module *sm = module_of(s, pc);
    if (!sm) {
        push(s, &f);
        return;
    }
    f.module = xstrdup(sm->path);
    f.offset = pc - sm->m->bias;
    if (!sm->dm) {
        push(s, &f);
        return;
    }
    Dwarf_Addr addr = is_return && pc > 0 ? pc - 1 : pc;
    const char *sym = dwfl_module_addrname(sm->dm, addr);
    const char *file = NULL;
    int line = 0;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = cu_of(sm->dm, addr, &bias);
    Dwfl_Line *l = dwfl_module_getsrc(sm->dm, addr);
    Dwarf_Line *dl;
    if (l)
        file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
    else if (cu && (dl = dwarf_getsrc_die(cu, addr - bias)) != NULL &&
             (file = dwarf_linesrc(dl, NULL, NULL)) != NULL)
        dwarf_lineno(dl, &line);

    Dwarf_Die *scopes = NULL;
    int nscopes = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (cu && dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
        files = NULL;
    const char *cur_file = file;
    int cur_line = line;
    bool done = false;
    for (int i = 0; i < nscopes && !done; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine) {
            struct an_frame in = f;
            in.module = xstrdup(sm->path);
            in.function = sym_demangle(die_name(&scopes[i]));
            in.file = dup_or_null(cur_file);
            in.line = cur_line;
            in.inlined = true;
            push(s, &in);
            Dwarf_Attribute a;
            Dwarf_Word w;
            cur_file = NULL;
            cur_line = 0;
            if (dwarf_attr(&scopes[i], DW_AT_call_file, &a) &&
                dwarf_formudata(&a, &w) == 0 && files && w < nfiles)
                cur_file = dwarf_filesrc(files, w, NULL, NULL);
            if (dwarf_attr(&scopes[i], DW_AT_call_line, &a) &&
                dwarf_formudata(&a, &w) == 0)
                cur_line = (int)w;
        } else if (tag == DW_TAG_subprogram) {
            f.function = sym_demangle(sym ? sym : die_name(&scopes[i]));
            done = true;
        }
    }
    free(scopes);
    if (!done)
        f.function = sym_demangle(sym);
    f.file = dup_or_null(cur_file);
    f.line = cur_line;
    push(s, &f);
}

static struct cache_ent *lookup(struct symbolizer *s, uint64_t key)
{
    if (s->tabused * 2 >= s->tabcap) {
        size_t ncap = s->tabcap ? s->tabcap * 2 : 256;
        struct cache_ent *nt = xcalloc(ncap, sizeof *nt);
        for (size_t i = 0; i < s->tabcap; i++) {
            if (!s->tab[i].key)
                continue;
            size_t h = (s->tab[i].key * 0x9e3779b97f4a7c15ull) >> 20;
            while (nt[h & (ncap - 1)].key)
                h++;
            nt[h & (ncap - 1)] = s->tab[i];
        }
        free(s->tab);
        s->tab = nt;
        s->tabcap = ncap;
    }
    size_t h = (key * 0x9e3779b97f4a7c15ull) >> 20;
    for (;; h++) {
        struct cache_ent *e = &s->tab[h & (s->tabcap - 1)];
        if (e->key == key)
            return e;
        if (!e->key) {
            e->key = key;
            e->first = s->nframes;
            s->tabused++;
            uint64_t pc = key >> 1;
            resolve(s, pc, key & 1);
            e = &s->tab[h & (s->tabcap - 1)];
            e->n = s->nframes - e->first;
            return e;
        }
    }
}

struct an_frame an_frame_copy(const struct an_frame *f)
{
    struct an_frame c = *f;
    c.function = dup_or_null(f->function);
    c.file = dup_or_null(f->file);
    c.module = dup_or_null(f->module);
    return c;
}

void an_frame_free(struct an_frame *f)
{
    free(f->function);
    free(f->file);
    free(f->module);
    memset(f, 0, sizeof *f);
}

void an_stack_free(struct an_stack *st)
{
    for (size_t i = 0; i < st->n; i++)
        an_frame_free(&st->frames[i]);
    free(st->frames);
    st->frames = NULL;
    st->n = 0;
}

struct an_stack sym_stack(struct symbolizer *s, uint32_t id)
{
    struct an_stack st = {0};
    uint32_t n;
    const uint64_t *pcs = tlog_stack(s->log, id, &n);
    if (!pcs)
        return st;
    size_t cap = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t pc = pcs[i];
        if (pc == 0 || pc >= (1ull << 63))
            continue;
        struct sym_module *sm = module_of(s, pc);
        if (sm && sm->is_shim)
            continue;                 /* the shim's own frames say nothing */
        struct cache_ent *e = lookup(s, pc * 2 + 1);
        size_t first = e->first, cnt = e->n;
        for (size_t k = 0; k < cnt; k++) {
            xgrow(&st.frames, &cap, st.n + 1, sizeof *st.frames);
            st.frames[st.n++] = an_frame_copy(&s->frames[first + k]);
        }
    }
    return st;
}

struct an_frame sym_addr(struct symbolizer *s, uint64_t pc)
{
    if (pc == 0 || pc >= (1ull << 63)) {
        struct an_frame f = { .pc = pc };
        return f;
    }
    struct cache_ent *e = lookup(s, pc * 2);
    /* The outermost frame is the function that contains pc. */
    return an_frame_copy(&s->frames[e->first + e->n - 1]);
}

bool an_frame_in_tangle(const struct an_frame *f)
{
    const char *m = f->module ? strrchr(f->module, '/') : NULL;
    m = m ? m + 1 : f->module;
    return m && (strncmp(m, "libtangle.so", 12) == 0 ||
                 strncmp(m, "libtangle-preload", 17) == 0);
}

struct an_stack an_stack_shown(const struct an_stack *s, bool full)
{
    struct an_stack v = *s;
    if (full)
        return v;
    while (v.n > 1 && an_frame_in_tangle(&v.frames[0])) {
        v.frames++;
        v.n--;
    }
    return v;
}
