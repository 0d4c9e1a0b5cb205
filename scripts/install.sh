#!/usr/bin/env bash
# make install: headers, libraries, analyzer and a pkg-config file, honouring
# DESTDIR and PREFIX.
set -eu
destdir=$1 prefix=$2
root="$destdir$prefix"
build="$(dirname "$0")/../build"
src="$(dirname "$0")/.."
install -d "$root/include/tangle" "$root/lib/pkgconfig" "$root/bin"
install -m 0644 "$src"/include/tangle/*.h "$root/include/tangle/"
for f in libtangle.so.1 libtangle.a libtangle-preload.so; do
  [ -e "$build/lib/$f" ] && install -m 0755 "$build/lib/$f" "$root/lib/$f"
done
ln -sf libtangle.so.1 "$root/lib/libtangle.so"
chmod 0644 "$root/lib/libtangle.a" 2>/dev/null || true
# the inline race check for `tangle cc` with clang (built where clang is)
[ -e "$build/lib/tangle-race-inline.bc" ] &&
  install -m 0644 "$build/lib/tangle-race-inline.bc" "$root/lib/tangle-race-inline.bc"
# the loop-range pass for `tangle cc` with clang (built where llvm-dev is)
# and with gcc (where gcc-N-plugin-dev is)
[ -e "$build/lib/tangle-loops.so" ] &&
  install -m 0755 "$build/lib/tangle-loops.so" "$root/lib/tangle-loops.so"
[ -e "$build/lib/tangle-loops-gcc.so" ] &&
  install -m 0755 "$build/lib/tangle-loops-gcc.so" "$root/lib/tangle-loops-gcc.so"
[ -e "$build/bin/tangle" ] && install -m 0755 "$build/bin/tangle" "$root/bin/tangle"
sed -e "s|@PREFIX@|$prefix|g" "$src/scripts/tangle.pc.in" > "$root/lib/pkgconfig/tangle.pc"
echo "installed into $root"
