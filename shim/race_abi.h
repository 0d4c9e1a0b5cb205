/*
 * shim/race_abi.h: what a program built by `tangle cc` reads of the race
 * checker directly. Built with clang, such a program carries the access
 * check's common cases inline (shim/bitcode/race_inline.c, linked into
 * each of its objects), which read the calling thread's checker state and
 * the shadow directory by these names instead of calling into the shim
 * for every access. Built with gcc, it tests the gate word before each
 * access's call (shim/gccplugin/loop_ranges.cc) and makes no call when
 * TG_RS_OFF_NONE or TG_RS_OFF_SKIP is set. libtangle defines the same names (runtime/tsan_noop.c) with
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

/* The symbol names of the three, version 1: the calling thread's state
 * (struct race_thread *), its gate word (why accesses must take the long
 * way; 0: the inline check may run), and the shadow directory; and
 * below, the shim's function entry. A new version renames all four, here
 * and in shim/libtangle-preload.map and runtime/libtangle.map. */
#define TG_RS_SYM      "tg__rs_v1"
#define TG_RS_OFF_SYM  "tg__rs_off_v1"
#define TG_RC_DIR_SYM  "tg__rc_dir_v1"
/* __tsan_func_entry under another name, for the inline code to call
 * (its own definition takes __tsan_func_entry's). */
#define TG_FUNC_ENTRY_SYM "tg__func_entry_v1"

/* Gate bit: no race checker in the process (libtangle's own copy). */
#define TG_RS_OFF_NONE 16u
/* Gate bit: sampled mode, and the call on top of the thread's shadow
 * stack was not sampled, so none of its accesses is checked. */
#define TG_RS_OFF_SKIP 32u

#endif
