#!/usr/bin/env bash
# bench/run.sh: runs tangle's benchmark groups side by side in one go and
# prints one table per group with the ratios and the targets (PASS/MISS),
# appending every measurement as a JSON line to build/bench/results.jsonl so
# runs can be compared across commits. Each measurement is a median taken
# inside the benchmark program (bench/bench.h) or, for whole programs such
# as pigz and the analyzer, over repetitions here that alternate between the
# variants, so that a burst of load from elsewhere on a shared machine hits
# both sides alike. Usage: run.sh [GROUP...], groups chan, shim, deadlock,
# race (default: all four; race runs bench/race/run.sh). A variant that cannot run (the shim or the analyzer
# not built yet) is shown as "-" with the reason, never silently dropped;
# the exit status is non-zero if a benchmark program failed.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
BB=$BUILD/bench
SHIM=${TANGLE_PRELOAD:-$BUILD/lib/libtangle-preload.so}
TANGLE=$BUILD/bin/tangle
RESULTS=$BB/results.jsonl
COMMIT=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
STAMP=$(date -u +%Y-%m-%dT%H:%M:%SZ)
TIMEOUT=${BENCH_TIMEOUT:-180}       # seconds, per benchmark process
PIGZ_MB=${BENCH_PIGZ_MB:-200}
PIGZ_REPS=${BENCH_PIGZ_REPS:-5}
REPORT_REPS=${BENCH_REPORT_REPS:-3}   # tangle report runs per log
RACE_SCALE=${BENCH_RACE_SCALE:-1}     # bench/race/run.sh's work multiplier

read -r -a groups <<<"${*//,/ }"        # "chan,shim" works as well
[ ${#groups[@]} -eq 0 ] && groups=(chan shim deadlock race)
for g in "${groups[@]}"; do
  case $g in chan|shim|deadlock|race) ;; *)
    echo "bench: unknown group '$g' (chan, shim, deadlock, race)" >&2; exit 64;;
  esac
done

mkdir -p "$BB"
# Logs of shimmed runs: tmpfs like the shim's default, removed on exit.
LOGROOT=$(mktemp -d "${TMPDIR_BENCH:-/dev/shm}/tangle-bench.XXXXXX" 2>/dev/null ||
          mktemp -d "$BB/tlogs.XXXXXX")
trap 'rm -rf "$LOGROOT"' EXIT

declare -A NS        # "group/bench/variant" -> ns per op
declare -A WHY       # "group/bench/variant" -> why it is missing
failed=0

note() { printf '%s\n' "$*" >&2; }

# have_shim / have_tangle: whether a variant can run at all.
have_shim()   { [ -f "$SHIM" ]; }
have_tangle() { [ -x "$TANGLE" ]; }

# run_prog GROUP VARIANT PREFIX BIN [BENCH...]: runs a bench.h program
# under VARIANT and records its RESULT lines as GROUP/PREFIX<name>/VARIANT.
run_prog() {
  local group=$1 variant=$2 prefix=$3 bin=$4; shift 4
  local out err rc logdir cmd=()
  out=$(mktemp "$LOGROOT/out.XXXXXX"); err=$(mktemp "$LOGROOT/err.XXXXXX")
  logdir=$(mktemp -d "$LOGROOT/logs.XXXXXX")
  case $variant in
    native|tangle|go|tsan) cmd=("$bin" "$@");;
    shim) cmd=(env "LD_PRELOAD=$SHIM${LD_PRELOAD:+:$LD_PRELOAD}"
               "TANGLE_DIR=$logdir" "$bin" "$@");;
    helgrind) cmd=(env BENCH_REPS=3 valgrind --tool=helgrind -q
                   "--log-file=$LOGROOT/helgrind.%p.log" "$bin" "$@");;
  esac
  # exitcode=0: a TSan report must not turn a timing into a failure.
  TSAN_OPTIONS="exitcode=0 ${TSAN_OPTS:-}" timeout -k 10 "$TIMEOUT" "${cmd[@]}" \
    >"$out" 2>"$err"
  rc=$?
  local name ns
  while read -r tag name ns _; do
    [ "$tag" = RESULT ] && NS[$group/$prefix$name/$variant]=$ns
  done <"$out"
  if [ $rc -ne 0 ]; then
    failed=1
    note "bench: $variant $(basename "$bin") $* failed (status $rc):"
    tail -n 5 "$err" >&2
    for name in "$@"; do
      [ -n "${NS[$group/$prefix$name/$variant]:-}" ] ||
        WHY[$group/$prefix$name/$variant]="failed ($rc)"
    done
  fi
  rm -rf "$out" "$err" "$logdir"
}

# skip GROUP VARIANT REASON BENCH...: records why a variant did not run.
skip() {
  local group=$1 variant=$2 why=$3; shift 3
  for b in "$@"; do WHY[$group/$b/$variant]=$why; done
}

# median of the numbers on stdin (integers: wall times in ns).
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit 1
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.0f\n", m }'
}

# json_line BENCH VARIANT NS RATIO_VS RATIO [EXTRA]: one result object.
json_line() {
  local vs=null ratio=null
  [ -n "$4" ] && vs="\"$4\""
  [ -n "$5" ] && ratio=$5
  printf '{"bench":"%s","variant":"%s","ns_per_op":%s,"ratio_vs":%s,"ratio":%s,"commit":"%s","time":"%s"%s}\n' \
    "$1" "$2" "$3" "$vs" "$ratio" "$COMMIT" "$STAMP" "${6:-}" >>"$RESULTS"
}

# ratio A B: A / B to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# verdict KIND LIMIT VALUE: PASS or MISS. KIND "ratio": VALUE <= LIMIT;
# "delta": VALUE (ns added) <= LIMIT; "min": VALUE >= LIMIT.
verdict() {
  awk -v k="$1" -v l="$2" -v v="$3" 'BEGIN {
    ok = (k == "min") ? v >= l : v <= l; print ok ? "PASS" : "MISS" }'
}

# table GROUP BASE "VARIANTS" "BENCHES" [TARGETS...]: prints the group's
# table, one row per benchmark, ns/op per variant then each variant's ratio
# to BASE, and the target check; writes the JSON lines. A target is
# "bench:variant:kind:limit" (kind as for verdict).
table() {
  local group=$1 base=$2; local -a vars=($3) benches=($4); shift 4
  local -a targets=("$@")
  local b v hdr
  printf '\n== %s (ns/op, median; ratio = variant / %s)\n' "$group" "$base"
  hdr=$(printf '%-18s' bench)
  for v in "${vars[@]}"; do hdr+=$(printf ' %12s' "$v"); done
  for v in "${vars[@]}"; do
    [ "$v" = "$base" ] || hdr+=$(printf ' %9s' "x$v")
  done
  printf '%s  %s\n' "$hdr" target
  for b in "${benches[@]}"; do
    local row ratios="" tgt="" k=$group/$b
    row=$(printf '%-18s' "$b")
    local basens=${NS[$k/$base]:-}
    for v in "${vars[@]}"; do
      local ns=${NS[$k/$v]:-}
      if [ -n "$ns" ]; then
        row+=$(printf ' %12s' "$ns")
        local r=""
        if [ "$v" != "$base" ] && [ -n "$basens" ]; then
          r=$(ratio "$ns" "$basens")
        fi
        local extra=""
        for t in "${targets[@]}"; do
          IFS=: read -r tb tv tk tl <<<"$t"
          [ "$tb" = "$b" ] && [ "$tv" = "$v" ] && [ -n "$basens" ] || continue
          local val=$r lim=$tl shown
          if [ "$tk" = delta ]; then
            val=$(awk -v a="$ns" -v c="$basens" 'BEGIN { printf "%.1f", a - c }')
            shown="+${val} ns (<= +$tl ns)"
          else
            shown="${r}x (<= ${tl}x)"
          fi
          local vd; vd=$(verdict "$tk" "$lim" "$val")
          tgt+="$v $shown $vd; "
          extra=",\"target\":\"$tk<=$tl\",\"verdict\":\"$vd\""
        done
        json_line "$k" "$v" "$ns" "$([ "$v" != "$base" ] && [ -n "$r" ] && echo "$base")" "$r" "$extra"
      else
        row+=$(printf ' %12s' "-")
      fi
      if [ "$v" != "$base" ]; then
        if [ -n "$ns" ] && [ -n "$basens" ]; then
          ratios+=$(printf ' %9s' "$(ratio "$ns" "$basens")")
        else
          ratios+=$(printf ' %9s' "-")
        fi
      fi
    done
    printf '%s%s  %s\n' "$row" "$ratios" "${tgt%; }"
  done
  for b in "${benches[@]}"; do
    for v in "${vars[@]}"; do
      [ -n "${WHY[$group/$b/$v]:-}" ] &&
        printf '   (%s %s: %s)\n' "$b" "$v" "${WHY[$group/$b/$v]}"
    done
  done
  return 0
}

# ---- group chan: libtangle vs Go ----------------------------------------

group_chan() {
  local benches=(spsc mpmc pingpong select2 select_default ctx_fanout pool
                 errgroup chan_new_free)
  note "bench: chan: libtangle and Go, ${#benches[@]} benchmarks each"
  # Interleave per benchmark so both sides see the same machine load.
  for b in "${benches[@]}"; do
    run_prog chan tangle "" "$BB/chan_bench" "$b"
    if command -v go >/dev/null 2>&1 && [ -x "$BB/chan_bench_go" ]; then
      run_prog chan go "" "$BB/chan_bench_go" "$b"
    else
      skip chan go "go not installed" "$b"
    fi
  done
  table chan go "tangle go" "${benches[*]}" \
    spsc:tangle:ratio:1.0 mpmc:tangle:ratio:1.0 \
    pingpong:tangle:ratio:1.5 select2:tangle:ratio:1.5
  printf '   reference (Go 1.19, measured earlier on this machine): spsc 33, mpmc 35, pingpong 207, select2 74 ns/op\n'
  # The floor under every cross-core hand-off above, as the machine is
  # now: on a virtual machine it moves with the host's placement of the
  # CPUs, and the channel figures move with it.
  run_prog chan native "" "$BB/sync_bench" hop
  local hop=${NS[chan/hop/native]:-}
  if [ -n "$hop" ]; then
    printf '   cache-line hop between two spinning threads, this run: %s ns (sync_bench hop)\n' "$hop"
    json_line chan/hop native "$hop" "" ""
  fi
}

# ---- group shim: the preload shim's cost ---------------------------------

# pigz VARIANT...: alternating repetitions of pigz -p 2 over the generated
# data, median wall time per variant, recorded as shim/pigz/VARIANT.
bench_pigz() {
  local data=$BB/pigz-input.${PIGZ_MB}mb
  if ! command -v pigz >/dev/null 2>&1; then
    skip shim native "pigz not installed" pigz; return
  fi
  if [ ! -s "$data" ]; then
    note "bench: generating $PIGZ_MB MB of test data for pigz"
    "$BB/datagen" "$PIGZ_MB" >"$data.tmp" && mv "$data.tmp" "$data"
  fi
  local -a vars=(native)
  if have_shim; then vars+=(shim); else skip shim shim "shim not built" pigz; fi
  declare -A walls
  local r v logdir line
  for ((r = 0; r < PIGZ_REPS; r++)); do
    for v in "${vars[@]}"; do
      logdir=$(mktemp -d "$LOGROOT/pigz.XXXXXX")
      local pre=()
      [ "$v" = shim ] && pre=(env "LD_PRELOAD=$SHIM" "TANGLE_DIR=$logdir")
      line=$("$BB/rusage" timeout -k 10 "$TIMEOUT" "${pre[@]}" \
             pigz -p 2 -c "$data" 2>&1 >/dev/null | grep '^RUSAGE')
      rm -rf "$logdir"
      set -- $line
      if [ "${4:-1}" != 0 ]; then
        failed=1; note "bench: pigz ($v) failed: $line"
        WHY[shim/pigz/$v]="failed"; continue
      fi
      walls[$v]+="$2 "
    done
  done
  for v in "${vars[@]}"; do
    [ -n "${walls[$v]:-}" ] &&
      NS[shim/pigz/$v]=$(printf '%s\n' ${walls[$v]} | median)
  done
}

# time_report LOG [ARGS...]: `tangle report ARGS LOG` REPORT_REPS times
# on the same log; prints "<median wall ns> <largest max RSS kB> <status>"
# (the status of the last run).
time_report() {
  local log=$1; shift
  local r line walls="" rss=0 rc=1
  for ((r = 0; r < REPORT_REPS; r++)); do
    line=$("$BB/rusage" timeout -k 10 "$TIMEOUT" "$TANGLE" report "$@" \
           "$log" 2>&1 >/dev/null | grep '^RUSAGE')
    local w m c
    read -r _ w m c <<<"$line"
    walls+="${w:-0} "; rc=${c:-1}
    [ "${m:-0}" -gt "$rss" ] && rss=$m
  done
  printf '%s %s %s\n' "$(printf '%s\n' $walls | median)" "$rss" "$rc"
}

# only_log DIR: the one log in DIR; says so and fails if there is not
# exactly one (another traced process would make the figures meaningless).
only_log() {
  local -a logs=("$1"/tangle.*.tlog)
  if [ ${#logs[@]} -ne 1 ] || [ ! -f "${logs[0]}" ]; then
    note "bench: expected one log in $1, found: ${logs[*]##*/}"
    return 1
  fi
  printf '%s\n' "${logs[0]}"
}

# analyzer_events N: a log of ~4N lock events from loggen storm N under
# the shim in full mode, then `tangle report` on it: events/s and peak RSS.
analyzer_events() {
  local n=$1 dir log counts events wall rss rc
  dir=$(mktemp -d "$LOGROOT/storm.XXXXXX")
  # timeout outside env: only loggen may be traced, or its log is not
  # the only one in the directory.
  if ! timeout -k 10 "$TIMEOUT" env "LD_PRELOAD=$SHIM" "TANGLE_DIR=$dir" \
       TANGLE_OPTIONS=mode=full,events_mb=512,watchdog=0 \
       "$BB/loggen" storm "$n" >/dev/null; then
    failed=1; note "bench: loggen storm $n under the shim failed"; return
  fi
  log=$(only_log "$dir") || { failed=1; rm -rf "$dir"; return; }
  counts=$("$BB/logcount" "$log") || { failed=1; return; }
  set -- $counts; events=$2
  # 4n: a lock and an unlock event per pair, n pairs on each of 2 threads.
  [ "$events" -lt $((2 * n)) ] &&
    note "bench: storm $n: the log holds $events events of about $((4 * n)) (dropped $5)"
  [ "$events" -gt 0 ] || events=1
  read -r wall rss rc <<<"$(time_report "$log" --format=json)"
  rm -rf "$dir"
  if [ "$rc" != 0 ] && [ "$rc" != 66 ]; then
    failed=1; note "bench: tangle report on the storm log failed ($rc)"; return
  fi
  local per_s ns_ev
  per_s=$(awk -v e="$events" -v w="$wall" 'BEGIN { printf "%.0f", e / (w / 1e9) }')
  ns_ev=$(awk -v e="$events" -v w="$wall" 'BEGIN { printf "%.2f", w / e }')
  printf '%-18s %12s %12s %14s %12s\n' "storm $n" "$events" \
    "$((wall / 1000000))" "$per_s" "$rss"
  json_line "shim/analyzer_storm_$n" report "$ns_ev" "" "" \
    ",\"events\":$events,\"events_per_s\":$per_s,\"wall_ns\":$wall,\"max_rss_kb\":$rss"
  STORM+=("$events $wall $rss")
}

# analyzer_marginal: from the two storm runs, what the extra events cost
# (start-up and the tables are the same in both, so they cancel out), and
# whether the analyzer's memory followed the event count.
analyzer_marginal() {
  [ ${#STORM[@]} -eq 2 ] || return 0
  local e1 w1 r1 e2 w2 r2 line
  read -r e1 w1 r1 <<<"${STORM[0]}"; read -r e2 w2 r2 <<<"${STORM[1]}"
  line=$(awk -v e1="$e1" -v w1="$w1" -v r1="$r1" -v e2="$e2" -v w2="$w2" -v r2="$r2" 'BEGIN {
    de = e2 - e1; dw = w2 - w1
    if (dw <= 0.02 * w2) rate = -1; else rate = de / (dw / 1e9)
    printf "%.0f %.2f", rate, r2 / r1 }')
  local rate rss_ratio vd mem
  read -r rate rss_ratio <<<"$line"
  # 4x the events with at most 1.5x the memory: "independent of events",
  # with room for what a bigger file's mapping adds.
  mem=$(verdict ratio 1.5 "$rss_ratio")
  if [ "$rate" = -1 ]; then
    printf '   marginal: %s more events cost no measurable time: the analysis does not walk\n' "$((e2 - e1))"
    printf '   the event stream for this log (no verdict); max RSS ratio %sx for 4x the events, %s (<= 1.5x)\n' \
      "$rss_ratio" "$mem"
    json_line shim/analyzer_marginal report null "" "" \
      ",\"events_per_s\":null,\"rss_ratio\":$rss_ratio,\"rss_verdict\":\"$mem\",\"note\":\"time does not grow with events\""
    return 0
  fi
  vd=$(verdict min 10000000 "$rate")
  printf '   marginal: %s events/s over the extra %s events, %s (>= 10M events/s)\n' \
    "$rate" "$((e2 - e1))" "$vd"
  printf '   max RSS ratio %sx for 4x the events, %s (<= 1.5x: memory independent of events)\n' \
    "$rss_ratio" "$mem"
  # 100M events/s is 2.4 GB/s of 24-byte records: past that, suspect that
  # the time went to mapping the bigger file, not to reading its events.
  [ "$rate" -gt 100000000 ] &&
    printf '   (over 100M events/s: check that this analysis reads the event stream at all)\n'
  json_line shim/analyzer_marginal report \
    "$(awk -v r="$rate" 'BEGIN { printf "%.2f", 1e9 / r }')" "" "" \
    ",\"events_per_s\":$rate,\"rss_ratio\":$rss_ratio,\"rss_verdict\":\"$mem\",\"target\":\"events_per_s>=10000000\",\"verdict\":\"$vd\""
}

group_shim() {
  local sync=(mutex mutex_contended create_join cond_pingpong)
  local chan=(spsc mpmc pingpong select2)
  local hg_chan=(spsc pingpong)
  local v
  note "bench: shim: native, shim, TSan and helgrind"
  for v in native shim tsan helgrind; do
    if [ "$v" = shim ] && ! have_shim; then
      skip shim shim "shim not built" "${sync[@]}" "${chan[@]/#/chan_}"; continue
    fi
    if [ "$v" = helgrind ] && ! command -v valgrind >/dev/null 2>&1; then
      skip shim helgrind "valgrind not installed" "${sync[@]}" "${chan[@]/#/chan_}"; continue
    fi
    local sb=$BB/sync_bench cb=$BB/chan_bench cbs=("${chan[@]}")
    [ "$v" = tsan ] && sb=$BB/sync_bench-tsan cb=$BB/chan_bench-tsan
    [ "$v" = helgrind ] && cbs=("${hg_chan[@]}")
    run_prog shim "$v" "" "$sb" "${sync[@]}"
    run_prog shim "$v" chan_ "$cb" "${cbs[@]}"
  done
  skip shim helgrind "left out: helgrind is too slow on the runtime's spin/futex paths" chan_mpmc chan_select2
  note "bench: shim: pigz -p 2, $PIGZ_MB MB, $PIGZ_REPS runs each"
  bench_pigz
  skip shim tsan "pigz is not rebuilt with -fsanitize=thread" pigz
  skip shim helgrind "about 400x: hours on $PIGZ_MB MB" pigz
  table shim native "native shim tsan helgrind" \
    "${sync[*]} ${chan[*]/#/chan_} pigz" \
    mutex:shim:delta:10 chan_spsc:shim:ratio:1.2 chan_mpmc:shim:ratio:1.2 \
    chan_pingpong:shim:ratio:1.2 chan_select2:shim:ratio:1.2 \
    pigz:shim:ratio:1.05
  printf '   (pigz: wall ns for one run over %s MB, median of %s)\n' "$PIGZ_MB" "$PIGZ_REPS"

  printf '\n== analyzer throughput (tangle report --format=json on a full-mode log)\n'
  printf '%-18s %12s %12s %14s %12s\n' log events wall_ms events/s max_rss_kb
  if ! have_shim || ! have_tangle; then
    printf '   (skipped: needs build/lib/libtangle-preload.so and build/bin/tangle)\n'
    return
  fi
  STORM=()
  analyzer_events 1000000
  analyzer_events 4000000
  analyzer_marginal
}

# ---- group deadlock: nested locking and the cycle search ------------------

# cycle_search MODE N: `tangle report` on the log of loggen MODE N (chain:
# one cycle through all N locks; tail: a 2-cycle at the end of the chain).
cycle_search() {
  local mode=$1 n=$2 dir log counts wall rss rc found
  dir=$(mktemp -d "$LOGROOT/chain.XXXXXX")
  if ! timeout -k 10 "$TIMEOUT" env "LD_PRELOAD=$SHIM" "TANGLE_DIR=$dir" \
       TANGLE_OPTIONS=watchdog=0 "$BB/loggen" "$mode" "$n" >/dev/null; then
    failed=1; note "bench: loggen $mode $n under the shim failed"; return
  fi
  log=$(only_log "$dir") || { failed=1; rm -rf "$dir"; return; }
  counts=$("$BB/logcount" "$log") || { failed=1; return; }
  set -- $counts
  local objs=$3 edges=$4 dobj=$6 dedge=$7
  read -r wall rss rc <<<"$(time_report "$log" --format=json -o "$dir/report.json")"
  found=$(grep -o '"lock-order": *[0-9]*' "$dir/report.json" 2>/dev/null |
          tail -n 1 | grep -o '[0-9]*$')
  rm -rf "$dir"
  if [ "$rc" != 66 ]; then
    failed=1; note "bench: tangle report on $mode $n: status $rc, expected 66"
  fi
  local ns_lock; ns_lock=$(awk -v w="$wall" -v n="$n" 'BEGIN { printf "%.1f", w / n }')
  CYCLE_NS[$mode$n]=$ns_lock
  local r="" vd=""
  if [ -n "${CYCLE_NS[${mode}10000]:-}" ] && [ "$n" != 10000 ]; then
    r=$(ratio "$ns_lock" "${CYCLE_NS[${mode}10000]}")
    vd=$(verdict ratio 1.5 "$r")
  fi
  # A search that found nothing was not a search: no verdict on its speed.
  if [ "${found:-0}" != 1 ]; then
    [ -n "$vd" ] && vd="MISS (cycle not reported)"
    note "bench: $mode $n: expected 1 lock-order cycle, report has ${found:-none}"
  fi
  printf '%-12s %10s %10s %9s %10s %10s %12s %8s  %s\n' "$mode $n" "$objs" \
    "$edges" "$((dobj + dedge))" "${found:--}" "$((wall / 1000000))" \
    "$ns_lock" "$rss" "${r:+${r}x vs 10000 $vd}"
  json_line "deadlock/cycle_${mode}_$n" report "$ns_lock" \
    "$([ -n "$r" ] && echo "deadlock/cycle_${mode}_10000")" "$r" \
    ",\"locks\":$n,\"objects\":$objs,\"edges\":$edges,\"dropped\":$((dobj + dedge)),\"cycles_found\":${found:-null},\"wall_ns\":$wall,\"max_rss_kb\":$rss${vd:+,\"target\":\"ratio<=1.5\",\"verdict\":\"$vd\"}"
}

group_deadlock() {
  local nest=(nested2 nested4 nested2_solo nested4_solo) v
  note "bench: deadlock: nested locking, native, shim, TSan and helgrind"
  for v in native shim tsan helgrind; do
    if [ "$v" = shim ] && ! have_shim; then
      skip deadlock shim "shim not built" "${nest[@]}"; continue
    fi
    if [ "$v" = helgrind ] && ! command -v valgrind >/dev/null 2>&1; then
      skip deadlock helgrind "valgrind not installed" "${nest[@]}"; continue
    fi
    local sb=$BB/sync_bench
    [ "$v" = tsan ] && sb=$BB/sync_bench-tsan
    TSAN_OPTS=detect_deadlocks=1 run_prog deadlock "$v" "" "$sb" "${nest[@]}"
  done
  table deadlock native "native shim tsan helgrind" "${nest[*]}" \
    nested2:shim:ratio:1.5

  printf '\n== lock-order cycle search (tangle report on N locks in a chain + 1 back edge)\n'
  printf '%-12s %10s %10s %9s %10s %10s %12s %8s  %s\n' log objects edges dropped \
    cycles wall_ms ns/lock rss_kb "per-lock cost vs 10000 (<= 1.5x: linear)"
  if ! have_shim || ! have_tangle; then
    printf '   (skipped: needs build/lib/libtangle-preload.so and build/bin/tangle)\n'
    return
  fi
  declare -gA CYCLE_NS=()
  local mode n
  for mode in chain tail; do
    for n in 10000 50000 100000; do cycle_search "$mode" "$n"; done
  done
  printf '   (chain: the cycle runs through all N locks and the report prints it;\n'
  printf '    tail: a 2-lock cycle at the end of the chain: the search, little output)\n'
}

# ---- group race: the race checker's cost (bench/race/run.sh) -------------

# Runs the race checker's own side-by-side script and turns its table into
# JSON lines: "MODE VARIANT SECONDS MAX_KB TIME_X MEM_X" rows become
# race/MODE VARIANT (ns = wall time of one run, ratio to plain), and
# "MODE analyzer ... accesses_per_s N" rows race/MODE analyzer.
group_race() {
  local script=$TOP/bench/race/run.sh out
  printf '\n== race (bench/race/run.sh, scale %s; ratio = variant / plain, clang-* / clang-plain)\n' "$RACE_SCALE"
  if [ ! -f "$script" ] || ! have_shim || ! have_tangle; then
    printf '   (skipped: needs bench/race/run.sh, the shim and build/bin/tangle)\n'
    return
  fi
  note "bench: race: plain, tangle cc without and with the shim, TSan"
  out=$(mktemp "$LOGROOT/race.XXXXXX")
  if ! BUILD="$BUILD" timeout -k 10 $((TIMEOUT * 4)) sh "$script" "$RACE_SCALE" \
       >"$out" 2>"$out.err"; then
    failed=1; note "bench: bench/race/run.sh failed:"; tail -n 5 "$out.err" >&2
  fi
  cat "$out"
  local mode variant sec kb tx mx rest
  while read -r mode variant sec kb tx mx rest; do
    if [ "$variant" = analyzer ]; then
      # The target is on accesses as the program made them: a range
      # access (a loop the loop pass checks at once) counts as the words
      # it covers, each checked (word_checks); accesses_per_s counts it
      # as one.
      local aps wps; aps=$(sed -n 's/.*accesses_per_s \([0-9]*\).*/\1/p' <<<"$rest $sec $kb $tx $mx")
      wps=$(sed -n 's/.*word_checks_per_s \([0-9]*\).*/\1/p' <<<"$rest $sec $kb $tx $mx")
      [ -n "$aps" ] && [ -n "$wps" ] && json_line "race/$mode" analyzer \
        "$(awk -v r="$wps" 'BEGIN { printf "%.2f", (r > 0 ? 1e9 / r : 0) }')" "" "" \
        ",\"accesses_per_s\":$aps,\"word_checks_per_s\":$wps,\"target\":\"word_checks_per_s>=5000000\",\"verdict\":\"$(verdict min 5000000 "$wps")\""
      continue
    fi
    [[ $sec =~ ^[0-9.]+$ && $kb =~ ^[0-9]+$ && $tx =~ ^[0-9.]+$ ]] || continue
    local ns; ns=$(awk -v s="$sec" 'BEGIN { printf "%.0f", s * 1e9 }')
    if [ "$variant" = plain ] || [ "$variant" = clang-plain ]; then
      json_line "race/$mode" "$variant" "$ns" "" "" ",\"max_rss_kb\":$kb"
    else
      local tgt="" base=plain
      case $variant in clang-*) base=clang-plain ;; esac
      case ${variant#clang-} in
        full) tgt=",\"target\":\"time<=3x,mem<=2x\",\"verdict\":\"$(verdict ratio 3 "$tx")/$(verdict ratio 2 "$mx")\"" ;;
        sampled) tgt=",\"target\":\"time<=1.5x\",\"verdict\":\"$(verdict ratio 1.5 "$tx")\"" ;;
      esac
      json_line "race/$mode" "$variant" "$ns" "$base" "$tx" ",\"max_rss_kb\":$kb,\"mem_ratio\":$mx$tgt"
      [ -n "$tgt" ] && printf '   race/%s %s: time %sx, memory %sx%s\n' "$mode" "$variant" "$tx" "$mx" \
        "$( [ "${variant#clang-}" = full ] && echo " (target 3x / 2x: $(verdict ratio 3 "$tx") / $(verdict ratio 2 "$mx"))" \
            || echo " (target 1.5x: $(verdict ratio 1.5 "$tx"))")"
    fi
  done <"$out"
  rm -f "$out" "$out.err"
}

printf 'tangle benchmarks, commit %s, %s, %s cores, load %s\n' "$COMMIT" \
  "$STAMP" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
for g in "${groups[@]}"; do "group_$g"; done
printf '\nresults appended to %s\n' "${RESULTS#$TOP/}"
exit $failed
