#!/usr/bin/env bash
# scripts/demo.sh: `make demo`. Runs every sample under the detector, shows
# what the program printed and what tangle reported, and checks the report
# against the sample's own header: each samples/*.c states, one line per
# finding, what tangle must find (` * EXPECT: kind=leak function=producer`)
# or that it must find nothing (` * EXPECT: none`); ` * ALLOW: kind=K`
# tolerates a secondary finding, ` * BUILD: race` asks for the
# -fsanitize=thread build through `tangle cc`, ` * HANGS:` marks a sample
# that deadlocks by design. Each sample runs twice: once with the text
# report for the reader, once with the JSON report for the check (parsed
# with python3 when present, else with grep); both are kept in build/demo/.
# Until the detector is built the samples run bare, under a timeout. The
# last thing printed is a table of every sample; the exit status is
# non-zero if any checked sample failed.
#
# usage: scripts/demo.sh [SAMPLE...]     (default: every sample)
# env:   BUILD (default ./build), TANGLE_PRELOAD (the shim to use)
set -u

cd "$(dirname "$0")/.."
TOP=$PWD
BUILD=${BUILD:-$TOP/build}
TANGLE=$BUILD/bin/tangle
SHIM=${TANGLE_PRELOAD:-$BUILD/lib/libtangle-preload.so}
RACE_OUT=$BUILD/samples-race
KEEP=$BUILD/demo   # every run's full output and JSON report, for a closer look
MAX_LINES=80       # longer output is cut on screen (the file keeps all)
RUN_TIMEOUT=20     # tangle run --timeout, per run
HARD_TIMEOUT=90    # in case tangle itself hangs
BARE_TIMEOUT=10

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tangle-demo.XXXXXX") || exit 70
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$KEEP" || exit 70

if [ -t 1 ]; then
  bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' green=$'\e[32m' yellow=$'\e[33m'
  off=$'\e[0m'
else
  bold= dim= red= green= yellow= off=
fi

have_detector=0
[ -x "$TANGLE" ] && [ -e "$SHIM" ] && have_detector=1
have_python=0
command -v python3 >/dev/null 2>&1 && python3 -c 'import json' 2>/dev/null \
  && have_python=1
have_race_cc=0
[ $have_detector = 1 ] && "$TANGLE" cc --version >/dev/null 2>&1 \
  && have_race_cc=1

# ---- reading a sample's header -------------------------------------------

# The header's value lines for a tag: "EXPECT" -> "kind=leak function=x".
header_values() {  # file tag
  sed -n "s/^ \* $2: *//p" "$1"
}

# The header's first sentence, minus the file name: what the sample shows.
header_summary() {  # file
  awk 'NR == 1 { next }
       /^ \*\/?$/ || /^ \*\// { exit }
       { sub(/^ \* ?/, ""); printf "%s ", $0 }' "$1" |
    sed -e 's/^[a-z_]*\.c: //' -e 's/\. .*/./' -e 's/ *$//'
}

# "kind=leak function=producer" -> "leak in producer()".
describe_expect() {  # line
  local kind= sub= fn= w
  for w in $1; do
    case $w in
      kind=*) kind=${w#kind=} ;;
      subkind=*) sub=${w#subkind=} ;;
      function=*) fn=${w#function=} ;;
    esac
  done
  printf '%s%s%s' "$kind" "${sub:+ ($sub)}" "${fn:+ in $fn()}"
}

# ---- checking a JSON report ----------------------------------------------

# Prints on its first line the kinds found ("none", "leak", "deadlock+
# lock-order"), then one line per problem; returns 0 when the report meets
# every EXPECT line and holds nothing that is neither expected nor allowed.
check_report_python() {  # json-file expect-file allow-file
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys

def words(line):
    return dict(w.split("=", 1) for w in line.split() if "=" in w)

def functions(node, out):
    if isinstance(node, dict):
        if isinstance(node.get("function"), str):
            out.add(node["function"])
        for v in node.values():
            functions(v, out)
    elif isinstance(node, list):
        for v in node:
            functions(v, out)
    return out

path, expect_file, allow_file = sys.argv[1:4]
expects = [words(l) for l in open(expect_file) if l.strip() and l.strip() != "none"]
allowed = {words(l).get("kind") for l in open(allow_file) if l.strip()}
try:
    with open(path) as f:
        report = json.load(f)
    findings = report.get("findings", [])
except (OSError, ValueError, AttributeError) as e:
    print("no report")
    print("the JSON report could not be read: %s" % e)
    sys.exit(1)

kinds = sorted({f.get("kind", "?") for f in findings})
print("+".join(kinds) if kinds else "none")
problems = []
for e in expects:
    same = [f for f in findings if f.get("kind") == e.get("kind")
            and ("subkind" not in e or f.get("subkind") == e["subkind"])]
    if not same:
        problems.append("missing: %s" % " ".join("%s=%s" % kv for kv in e.items()))
        continue
    fn = e.get("function")
    if fn and not any(fn in functions(f, set()) for f in same):
        named = sorted(set().union(*(functions(f, set()) for f in same)))
        problems.append("%s found, but no stack in it names %s() (it names: %s)"
                        % (e["kind"], fn, ", ".join(named) or "no function"))
expected_kinds = {e.get("kind") for e in expects}
for f in findings:
    if f.get("kind") not in expected_kinds and f.get("kind") not in allowed:
        problems.append("unexpected %s: %s" % (f.get("kind"), f.get("message", "")))
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
}

# A rougher check without python: the finding kinds and the function names
# found anywhere in the report, by grep (subkinds are not checked).
check_report_grep() {  # json-file expect-file allow-file
  local kinds line kind fn ok=0
  if [ ! -s "$1" ]; then
    echo "no report"; echo "the JSON report is missing or empty"; return 1
  fi
  kinds=$(grep -o '"kind": *"[a-z-]*"' "$1" | sed 's/.*"\([a-z-]*\)"$/\1/' |
    grep -xE 'leak|unjoined|lost-cancel|lock-order|deadlock|misuse|race|hang' |
    sort -u | paste -sd+ -)
  echo "${kinds:-none}"
  while read -r line; do
    [ -z "$line" ] || [ "$line" = none ] && continue
    kind=$(printf '%s\n' $line | sed -n 's/^kind=//p')
    fn=$(printf '%s\n' $line | sed -n 's/^function=//p')
    if ! printf '%s\n' "${kinds//+/$'\n'}" | grep -qx -- "$kind"; then
      echo "missing: $line"; ok=1
    elif [ -n "$fn" ] && ! grep -q "\"function\": *\"$fn\"" "$1"; then
      echo "$kind found, but no stack names $fn()"; ok=1
    fi
  done < "$2"
  for kind in ${kinds//+/ }; do
    grep -q "kind=$kind\b" "$2" "$3" || { echo "unexpected $kind"; ok=1; }
  done
  return $ok
}

check_report() {
  if [ $have_python = 1 ]; then check_report_python "$@"; else check_report_grep "$@"; fi
}

# ---- running one sample --------------------------------------------------

results=()   # "name|expected|found|status|note"
failed=0

record() {  # name expected found status note
  results+=("$1|$2|$3|$4|$5")
  case $4 in
    PASS) printf '  %s%sPASS%s %s\n' "$bold" "$green" "$off" "$5" ;;
    FAIL) printf '  %s%sFAIL%s %s\n' "$bold" "$red" "$off" "$5"; failed=1 ;;
    SKIP) printf '  %s%sSKIP%s %s\n' "$bold" "$yellow" "$off" "$5" ;;
  esac
}

indent() { sed 's/^/    /'; }

# Shows a run's output, indented, cut after MAX_LINES lines.
show() {  # file
  local n
  n=$(wc -l < "$1")
  head -n $MAX_LINES "$1" | indent
  [ "$n" -gt $MAX_LINES ] && printf '    %s... %d more lines in %s%s\n' "$dim" \
    $((n - MAX_LINES)) "${1#$TOP/}" "$off"
  return 0
}

# Builds a race sample with `tangle cc`; prints the binary's path.
build_race() {  # name
  local out=$RACE_OUT/$1
  mkdir -p "$RACE_OUT"
  if "$TANGLE" cc -std=c11 -D_GNU_SOURCE -g -O0 -I"$TOP/include" \
       "$TOP/samples/$1.c" -o "$out" -L"$BUILD/lib" -ltangle \
       -Wl,-rpath,"$BUILD/lib" -pthread >"$WORK/$1.cc.log" 2>&1; then
    echo "$out"
  else
    indent < "$WORK/$1.cc.log" >&2
    return 1
  fi
}

run_sample() {  # name
  local name=$1 src=$TOP/samples/$1.c bin=$BUILD/samples/$1
  local expected expect_text hangs race rc found note status line
  local extra=()

  header_values "$src" EXPECT > "$WORK/$name.expect"
  header_values "$src" ALLOW > "$WORK/$name.allow"
  hangs=$(header_values "$src" HANGS)
  race=0; header_values "$src" BUILD | grep -qw race && race=1
  expected=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^kind=/) { sub(/^kind=/, "", $i); print $i } }
                  /^none$/ { print "none" }' "$WORK/$name.expect" | sort -u | paste -sd+ -)
  [ -n "$expected" ] || expected="?"

  printf '\n%s── %s %s%s\n' "$bold" "$name" \
    "$(printf '─%.0s' $(seq 1 $((60 - ${#name}))))" "$off"
  printf '%s\n' "$(header_summary "$src")"
  if [ "$expected" = none ]; then
    expect_text="tangle should report nothing"
  else
    expect_text="tangle should report:"
    while read -r line; do
      [ -n "$line" ] && expect_text+=" $(describe_expect "$line");"
    done < "$WORK/$name.expect"
    expect_text=${expect_text%;}
  fi
  printf '%s%s%s\n' "$dim" "$expect_text" "$off"
  [ -n "$hangs" ] && printf '%s(%s)%s\n' "$dim" "$hangs" "$off"

  if [ ! -x "$bin" ]; then
    record "$name" "$expected" "-" FAIL "not built: $bin is missing (make samples)"
    return
  fi

  # Without the detector: the program alone, to show what it does.
  if [ $have_detector = 0 ] || { [ $race = 1 ] && [ $have_race_cc = 0 ]; }; then
    printf '%s$ %s%s\n' "$dim" "${bin#$TOP/}" "$off"
    timeout -k 2 $BARE_TIMEOUT "$bin" >"$KEEP/$name.txt" 2>&1
    rc=$?
    show "$KEEP/$name.txt"
    if [ $have_detector = 0 ]; then note="detector not built yet"; else
      note="race build not available yet (no 'tangle cc')"; fi
    if [ "$rc" = 124 ] && [ -n "$hangs" ]; then
      printf '    %s... hung, as designed: stopped after %s s%s\n' "$dim" \
        $BARE_TIMEOUT "$off"
    elif [ "$rc" != 0 ]; then
      record "$name" "$expected" "-" FAIL "the program itself failed (exit $rc)"
      return
    fi
    record "$name" "$expected" "-" SKIP "$note"
    return
  fi

  if [ $race = 1 ]; then
    bin=$(build_race "$name") || {
      record "$name" "$expected" "-" FAIL "tangle cc could not build it"
      return
    }
    extra=(--options race=1)
  fi

  # The run the reader sees: program output and the text report.
  printf '%s$ tangle run --timeout %s %s-- %s%s\n' "$dim" $RUN_TIMEOUT \
    "${extra[*]}${extra:+ }" "${bin#$TOP/}" "$off"
  timeout -k 5 $HARD_TIMEOUT "$TANGLE" run --timeout $RUN_TIMEOUT \
    "${extra[@]}" --format text -- "$bin" >"$KEEP/$name.txt" 2>&1
  show "$KEEP/$name.txt"

  # The run the check reads.
  rm -f "$KEEP/$name.json"
  timeout -k 5 $HARD_TIMEOUT "$TANGLE" run --timeout $RUN_TIMEOUT \
    "${extra[@]}" --format json -o "$KEEP/$name.json" -- "$bin" \
    >"$WORK/$name.out" 2>&1
  rc=$?
  check_report "$KEEP/$name.json" "$WORK/$name.expect" "$WORK/$name.allow" \
    > "$WORK/$name.check"
  local verdict=$?
  found=$(head -n 1 "$WORK/$name.check")
  note=$(tail -n +2 "$WORK/$name.check" | paste -sd';' - | sed 's/;/; /g')

  local want_rc=0
  [ "$expected" != none ] && want_rc=66
  status=PASS
  if [ $verdict != 0 ]; then
    status=FAIL
  elif [ "$rc" != $want_rc ]; then
    status=FAIL
    case $rc in
      124|137) note="tangle run did not finish within $HARD_TIMEOUT s" ;;
      64|65|70) note="tangle failed (exit $rc): $(tail -n 1 "$WORK/$name.out")" ;;
      *) note="exit status $rc, expected $want_rc" ;;
    esac
  fi
  if [ $status = PASS ]; then
    if [ "$expected" = none ]; then note="nothing reported (exit 0)"
    else note="found $found (exit $rc)"; fi
  fi
  record "$name" "$expected" "$found" $status "$note"
}

# ---- main ----------------------------------------------------------------

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in samples/bug_*.c samples/clean_*.c; do
    [ -e "$f" ] && names+=("$(basename "$f" .c)")
  done
fi

printf '%stangle demo%s: %d samples, the seed'"'"'s Go patterns in C (clean_*)\n' \
  "$bold" "$off" ${#names[@]}
printf 'and their buggy twins (bug_*). Each runs under the detector, which\n'
printf 'must report what the sample'"'"'s header expects, and nothing on the clean ones.\n'
if [ $have_detector = 0 ]; then
  printf '\n%sThe detector is not built yet%s (%s, %s):\n' "$bold" "$off" \
    "${TANGLE#$TOP/}" "${SHIM#$TOP/}"
  printf 'running every sample bare, with a %s s timeout, to show what it does.\n' \
    $BARE_TIMEOUT
elif [ $have_race_cc = 0 ]; then
  printf '\n%s%s%s has no "cc" command yet: the race samples run bare.\n' \
    "$bold" "${TANGLE#$TOP/}" "$off"
fi

for name in "${names[@]}"; do
  if [ ! -e "samples/$name.c" ]; then
    record "$name" "?" "-" FAIL "no such sample: samples/$name.c"
    continue
  fi
  run_sample "$name"
done

printf '\n(each run'"'"'s full output and JSON report: %s/)\n' "${KEEP#$TOP/}"
printf '\n%s── summary %s%s\n' "$bold" \
  "$(printf '─%.0s' $(seq 1 55))" "$off"
printf '%-24s %-22s %-22s %s\n' sample expected found result
pass=0 fail=0 skip=0
for r in "${results[@]}"; do
  IFS='|' read -r name expected found status note <<< "$r"
  case $status in
    PASS) pass=$((pass + 1)); color=$green ;;
    FAIL) fail=$((fail + 1)); color=$red ;;
    *) skip=$((skip + 1)); color=$yellow ;;
  esac
  why=
  [ $status != PASS ] && why=" ($note)"
  printf '%-24s %-22s %-22s %s%s%s%s\n' "$name" "$expected" "$found" \
    "$color" "$status" "$off" "$why"
done
printf '%d passed, %d failed, %d skipped\n' $pass $fail $skip
exit $failed
