/*
 * shim/race_abi.h: what a program built by `tangle cc` reads of the race
 * checker directly. Built with clang, such a program carries the access
 * check's common cases inline (shim/bitcode/race_inline.c, linked into
 * each of its objects), which read the calling thread's checker state and
 * the shadow directory by these names instead of calling into the shim
 * for every access. Built with gcc, it tests the gate word before each
 * access's call (shim/gccplugin/loop_ranges.cc) and makes no call when
 * TG_RS_OFF_NONE or TG_RS_OFF_SKIP is set, nor, in sampled mode, for an
 * access its site's table entry says to skip (the TG_RS_SITE_* layout
 * below). libtangle defines the same names (runtime/tsan_noop.c) with
 * TG_RS_OFF_NONE set, so that without the shim the inline check returns
 * at once; under the shim, the shim's definitions come first.
 *
 * The inline code knows struct race_thread's layout and the shadow word's
 * encoding (shim/race.h). Their version is in the names: a change to
 * either must give the names below new ones, so that a program built
 * against another layout fails to load with an undefined symbol instead
 * of misreading.
 */
#ifndef TANGLE_SHIM_RACE_ABI_H
#define TANGLE_SHIM_RACE_ABI_H

/* The symbol names of the three, version 2: the calling thread's state
 * (struct race_thread *), its gate word (why accesses must take the long
 * way; 0: the inline check may run), and the shadow directory; and
 * below, the shim's function entry. A new version renames all four, here
 * and in shim/libtangle-preload.map and runtime/libtangle.map. */
#define TG_RS_SYM      "tg__rs_v2"
#define TG_RS_OFF_SYM  "tg__rs_off_v2"
#define TG_RC_DIR_SYM  "tg__rc_dir_v2"
/* __tsan_func_entry under another name, for the inline code to call
 * (its own definition takes __tsan_func_entry's). */
#define TG_FUNC_ENTRY_SYM "tg__func_entry_v2"

/* Gate bit: no race checker in the process (libtangle's own copy). */
#define TG_RS_OFF_NONE 16u
/* Gate bit: sampled mode, and the call on top of the thread's shadow
 * stack was not sampled, so none of its accesses is checked. */
#define TG_RS_OFF_SKIP 32u
/* Gate value: sampled mode, in a call that is sampled (no other bit):
 * each access site is checked at its own decaying rate. */
#define TG_RS_OFF_SAMPLE 4u

/* The per-site sampling table of struct race_thread, for gcc builds'
 * inline skip (race.h asserts these at compile time). Entry k of the
 * table, at TG_RS_SITES_OFF + k * TG_RS_SITE_SIZE from the thread's
 * state, belongs to the site whose key hashes to k (TG_RS_SITE_SLOT);
 * while its key matches and its skip count is not 0, an access at the
 * site decrements the count and is not checked. Otherwise the code
 * stores its site's key at TG_RS_SITE_KEY_OFF and calls the entry point,
 * which decides by the table's full rule under that key. clang builds
 * key a site by its code address and store nothing. */
#define TG_RS_SITE_KEY_OFF 34144
#define TG_RS_SITES_OFF    34152
#define TG_RS_SITE_SIZE    24
#define TG_RS_SITE_FN_OFF  0
#define TG_RS_SITE_SKIP_OFF 12
#define TG_RS_SITE_BITS    10
#define TG_RS_SITE_MUL     0x9e3779b97f4a7c15ull
#define TG_RS_SITE_SLOT(k) \
    ((unsigned)(((unsigned long long)(k) * TG_RS_SITE_MUL) >> (64 - TG_RS_SITE_BITS)))

#endif
