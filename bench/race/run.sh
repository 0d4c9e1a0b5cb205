#!/bin/sh
# bench/race/run.sh: the race checker's cost, side by side. Builds
# race_bench four ways and runs each mode (cpu, lock, pipeline) as:
#   plain     gcc -O2, linked with libtangle (the baseline)
#   noshim    `tangle cc -O2`, run without the shim (no-op entry points)
#   shim      plain under the shim without race checking (race=0): what
#             the shim costs anyway (its event ring, lock wrappers)
#   full      `tangle cc -O2` under the shim, TANGLE_OPTIONS=race=1: the
#             in-process checker
#   sampled   the same with race_sample=1
#   log       the same with race=log: every access logged, checked offline
#   tsan      gcc -O2 -fsanitize=thread (libtsan), reports off
# and, where clang is installed, the same five built with clang
# (clang-plain, clang-noshim, clang-full, clang-sampled, clang-tsan), whose
# ratios are to clang-plain: `tangle cc` with clang inlines the access
# check into the program (shim/bitcode/race_inline.c), gcc cannot.
# printing wall time, max RSS and the ratio to plain (each the median of
# RACE_REPS runs, default 5, the variants taking turns), then the offline
# analyzer's speed on the race=log log of each mode (bench/race/race_analyze).
# Usage: bench/race/run.sh [SCALE]   (run `make runtime shim analyzer` first)
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
OUT=$BUILD/bench/race
LOGDIR=${TANGLE_DIR:-/dev/shm}/tangle-race-bench.$$
SCALE=${1:-1}
mkdir -p "$OUT"
LIB=$BUILD/lib
CC=${CC:-gcc}
SRC=$TOP/bench/race/race_bench.c
COMMON="-std=c11 -D_GNU_SOURCE -O2 -I$TOP/include"
LINK="-L$LIB -ltangle -Wl,-rpath,$LIB -pthread"

$CC $COMMON "$SRC" -o "$OUT/plain" $LINK
"$BUILD/bin/tangle" cc $COMMON "$SRC" -o "$OUT/tangle" $LINK
$CC $COMMON -fsanitize=thread "$SRC" -o "$OUT/tsan" $LINK
CLANG_VARIANTS=
if command -v clang >/dev/null 2>&1; then
  clang $COMMON "$SRC" -o "$OUT/clang-plain" $LINK
  "$BUILD/bin/tangle" cc --cc clang $COMMON "$SRC" -o "$OUT/clang-tangle" $LINK
  clang $COMMON -fsanitize=thread "$SRC" -o "$OUT/clang-tsan" $LINK
  CLANG_VARIANTS="clang-plain clang-noshim clang-full clang-sampled clang-tsan"
fi
$CC -std=c11 -D_GNU_SOURCE -O2 -I"$TOP/include" -I"$TOP/analyzer" \
  "$TOP/bench/race/race_analyze.c" -o "$OUT/race_analyze" \
  "$LIB/libtangle-analyzer.a" -ldw -lelf -lm -pthread

# wall seconds and max RSS (KiB) of one run: "SECONDS KB"
measure_once() {
  /usr/bin/time -f '%e %M' -o "$OUT/time.txt" "$@" >/dev/null 2>"$OUT/stderr.txt" || {
    echo "failed: $*" >&2; cat "$OUT/stderr.txt" >&2; }
  cat "$OUT/time.txt" | tail -1
}

# One run of variant $1 of mode $2 with work $3, appended to
# $OUT/reps.$1: "SECONDS KB".
run_variant() {
  v=$1 mode=$2 n=$3
  # clang-X: variant X of the clang build
  local p=""
  case $v in clang-*) p=clang- ;; esac
  case ${v#clang-} in
    plain) r=$(measure_once "$OUT/${p}plain" $mode $n) ;;
    noshim) r=$(measure_once "$OUT/${p}tangle" $mode $n) ;;
    shim) r=$(measure_once env LD_PRELOAD="$LIB/libtangle-preload.so" \
            TANGLE_DIR="$logs/s" TANGLE_OPTIONS=watchdog=0 "$OUT/plain" $mode $n) ;;
    full) r=$(measure_once env LD_PRELOAD="$LIB/libtangle-preload.so" \
            TANGLE_DIR="$logs/s" TANGLE_OPTIONS=race=1,watchdog=0 \
            "$OUT/${p}tangle" $mode $n) ;;
    sampled) r=$(measure_once env LD_PRELOAD="$LIB/libtangle-preload.so" \
            TANGLE_DIR="$logs/s" TANGLE_OPTIONS=race=1,race_sample=1,watchdog=0 \
            "$OUT/${p}tangle" $mode $n) ;;
    tsan) r=$(measure_once env TSAN_OPTIONS=report_bugs=0 "$OUT/${p}tsan" $mode $n) ;;
  esac
  rm -rf "$logs/s"; mkdir -p "$logs/s"
  echo "$r" >>"$OUT/reps.$v"
}

# Each repetition runs every variant once, in turn, so that a slow spell
# of a shared machine falls on all of them alike; a variant's figures are
# the median time and the median peak RSS among RACE_REPS (default 5),
# each taken on its own: on such a machine one run of a two-thread
# program can take twice as long as the next, and a run's RSS moves by a
# few hundred KB with the library pages it happened to fault in.
REPS=${RACE_REPS:-5}
VARIANTS="plain noshim shim full sampled tsan $CLANG_VARIANTS"

printf '%-9s %-8s %9s %9s %7s %7s\n' mode variant seconds max_kb time_x mem_x
for mode in cpu lock pipeline; do
  # per-mode work, so that the plain run lasts about 0.3 s or more
  case $mode in cpu) n=$((SCALE * 150)) ;; lock) n=$((SCALE * 25)) ;; *) n=$((SCALE * 5)) ;; esac
  logs=$LOGDIR/$mode
  rm -rf "$logs"; mkdir -p "$logs/s"
  for v in $VARIANTS; do : >"$OUT/reps.$v"; done
  i=0
  while [ $i -lt "$REPS" ]; do
    for v in $VARIANTS; do run_variant $v $mode $n; done
    i=$((i + 1))
  done
  for v in $VARIANTS; do
    case $v in clang-*) base=clang-plain ;; *) base=plain ;; esac
    mid=$(( (REPS + 1) / 2 ))
    base_t=$(cut -d' ' -f1 "$OUT/reps.$base" | sort -n | sed -n "${mid}p")
    base_m=$(cut -d' ' -f2 "$OUT/reps.$base" | sort -n | sed -n "${mid}p")
    t=$(cut -d' ' -f1 "$OUT/reps.$v" | sort -n | sed -n "${mid}p")
    m=$(cut -d' ' -f2 "$OUT/reps.$v" | sort -n | sed -n "${mid}p")
    printf '%-9s %-8s %9s %9s %7.2f %7.2f\n' $mode $v $t $m \
      "$(echo "$t / ($base_t + 0.0001)" | bc -l)" "$(echo "$m / $base_m" | bc -l)"
  done
  # race=log: a 24-byte event per access; 1/30 of the work keeps the log
  # to a few hundred MB. Its time is not comparable, so no ratios; the
  # log feeds the analyzer's speed below.
  set -- $(measure_once env LD_PRELOAD="$LIB/libtangle-preload.so" \
    TANGLE_DIR="$logs" TANGLE_OPTIONS=race=log,watchdog=0,events_mb=4096 \
    "$OUT/tangle" $mode $(( (n + 29) / 30 )))
  printf '%-9s %-8s %9s %9s %7s %7s  (1/30 of the work)\n' $mode log $1 $2 - -
  for l in "$logs"/*.tlog; do
    printf '%-9s analyzer  ' $mode; "$OUT/race_analyze" "$l"
  done
  rm -rf "$logs"
done
rmdir "$LOGDIR" 2>/dev/null || true
