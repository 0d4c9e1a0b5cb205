#!/usr/bin/env bash
# Checks that what tangle's build, tests and demo need is installed; installs
# the missing Debian packages with apt-get when run as root, otherwise names
# the exact command to run. Exits non-zero only when something is missing
# and could not be installed.
set -eu

need=()
have_header() { printf '#include <%s>\n' "$1" | cc -E -x c - >/dev/null 2>&1; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }

have_cmd cc                        || need+=(gcc)
have_cmd make                      || need+=(make)
have_cmd pkg-config                || need+=(pkg-config)
have_header libunwind.h            || need+=(libunwind-dev)
have_header elfutils/libdwfl.h     || need+=(libdw-dev)
have_header gelf.h                 || need+=(libelf-dev)
have_header criterion/criterion.h  || need+=(libcriterion-dev)
have_header json-c/json.h          || need+=(libjson-c-dev)
have_cmd valgrind                  || need+=(valgrind)
# Where clang is, its own LLVM's development files build the loop-range
# pass that `tangle cc` hands to clang (shim/bitcode/loop_ranges.cpp).
if have_cmd clang; then
  major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
  inc=$(llvm-config-"$major" --includedir 2>/dev/null || true)
  if [ -n "$major" ] && ! { [ -n "$inc" ] && [ -e "$inc/llvm/Passes/PassPlugin.h" ]; }; then
    need+=("llvm-$major-dev")
  fi
fi
# gcc's plugin headers for its own version, and its C++ compiler, build
# the same pass for gcc (shim/gccplugin/loop_ranges.cc).
if have_cmd gcc; then
  gmajor=$(gcc -dumpversion 2>/dev/null | cut -d. -f1)
  pdir=$(gcc -print-file-name=plugin 2>/dev/null || true)
  if [ -n "$gmajor" ] && [ ! -e "$pdir/include/gcc-plugin.h" ]; then
    need+=("gcc-$gmajor-plugin-dev")
  fi
  have_cmd g++ || need+=(g++)
fi
if [ "${TANGLE_BENCH_DEPS:-0}" = 1 ]; then
  have_cmd go        || need+=(golang-go)
  have_cmd hyperfine || need+=(hyperfine)
  have_cmd pigz      || need+=(pigz)
fi

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && have_cmd apt-get; then
  echo "tangle: installing missing packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  exit 0
fi
echo "tangle: missing packages: ${need[*]}" >&2
echo "tangle: install them with: sudo apt-get install ${need[*]}" >&2
exit 1
