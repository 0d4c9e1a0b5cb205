/*
 * symbolize.h: turning a log's return addresses into function, file and
 * line, offline, with elfutils libdwfl.
 *
 * A symbolizer is made per log from its module table: each module file is
 * checked against the build-id recorded at run time and reported to dwfl
 * at its load bias, so PIE executables and dlopen'ed libraries resolve.
 * Inlined calls expand into several frames (innermost first). When a file
 * is gone or differs, frames stay raw: module and offset. Results are
 * cached per address, and dwfl keeps each module's DWARF once.
 */
#ifndef TANGLE_ANALYZER_SYMBOLIZE_H
#define TANGLE_ANALYZER_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tlog;

struct an_frame {
    uint64_t pc;
    char *function;          /* NULL: unknown */
    char *file;              /* NULL: unknown */
    int line;                /* 0: unknown */
    char *module;            /* NULL: no module contains pc */
    uint64_t offset;         /* pc - module bias */
    bool inlined;            /* a call inlined into the next frame */
};

struct an_stack {
    size_t n;
    struct an_frame *frames;
};

struct symbolizer;

/* A symbolizer for log (which must outlive it). Never fails: without
 * usable modules every frame is raw. */
struct symbolizer *sym_new(const struct tlog *log);
void sym_free(struct symbolizer *s);
/* The symbolized stack id of the log; empty when id is 0 or invalid.
 * Frames of the preload shim itself are left out. */
struct an_stack sym_stack(struct symbolizer *s, uint32_t id);
/* One frame for an address that is not a return address (a start
 * routine): the outermost function containing pc. */
struct an_frame sym_addr(struct symbolizer *s, uint64_t pc);
void an_stack_free(struct an_stack *st);
void an_frame_free(struct an_frame *f);
struct an_frame an_frame_copy(const struct an_frame *f);
/* A function's name as a report shows it: a C++ symbol (_Z...) demangled
 * ("ns::f(int)") when the C++ runtime's demangler can be loaded, else the
 * symbol as it is; a new string. */
char *sym_demangle(const char *name);

#endif
