#!/usr/bin/env bash
# Golden CLI tests: runs each case of tests/cli/cases.tsv (its header says what a line holds) and
# diffs stdout, stderr and the exit code against tests/cli/expected/, or compares two runs.
# Usage: tests/cli/run_golden.sh BINARY [--update]
set -u
bin=$(realpath "$1")
update=${2:-}
here=$(dirname "$(realpath "$0")")
cd "$here/../.." || exit 2
export EXFILSCAN=$bin NO_COLOR=1 TZ=UTC LC_ALL=C
unset COLUMNS  # the table wraps at COLUMNS: only the cases that set it
export GOLDEN_RULES="--no-default-rules --rules tests/cli/golden-rules.toml"
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# explain and rules print every built-in detector's parameters or metrics, on or off. Cases that
# golden their format under $GOLDEN_RULES pipe them through this, so that detector work changes
# only the cases that are about the detectors: explain's "detectors:" block and metric lines,
# and the [detectors.*] tables of rules' TOML (each up to the blank line before the next table).
drop_detector_lines() {
  awk '/^detectors:$/ || /^\[detectors\./ { skip = 1 } skip && /^$/ { skip = 0; next } skip { next }
       /^threshold rules/ { rules = 1 } rules || !/^  / || /^  FINDING /'
}
export -f drop_detector_lines

# Runs a command in a fresh scratch directory $T; its stdout and stderr go to $tmp/$2.out/.err.
run() {
  export T=$tmp/scratch
  rm -rf "$T" && mkdir "$T"
  bash -c "$1" > "$tmp/$2.out" 2> "$tmp/$2.err" < /dev/null
}

declare -A cases=()
while IFS=$'\t' read -r name code cmd; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ "$name" == same ]]; then
    if cmp -s "$here/expected/$code.out" "$here/expected/$cmd.out"; then
      passed=$((passed + 1))
    else
      echo "FAIL same: $code and $cmd differ"; failed=$((failed + 1))
    fi
    continue
  fi
  if [[ "$name" == equal ]]; then
    # equal NAME EXIT A B: nothing stored, so there is nothing to update either.
    IFS=$'\t' read -r name code cmd_a cmd_b <<< "$code"$'\t'"$cmd"
    run "$cmd_a" a; got_a=$?
    run "$cmd_b" b; got_b=$?
    ok=1
    [[ "$got_a" == "$code" && "$got_b" == "$code" ]] ||
      { echo "FAIL $name: exits $got_a and $got_b, expected $code"; ok=0; }
    [[ -s "$tmp/a.out" ]] || { echo "FAIL $name: no output to compare"; ok=0; }
    diff -u "$tmp/a.out" "$tmp/b.out" > "$tmp/d" || { echo "FAIL $name: stdout differs"; head -20 "$tmp/d"; ok=0; }
    if ((ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    continue
  fi
  cases[$name]=1
  run "$cmd" got
  got=$?
  # The closing totals line carries a timing; the rest of stderr is exact.
  sed -i -E 's/; [0-9.]+ MB in [0-9.]+ s \([0-9]+ MB\/s\)$//' "$tmp/got.err"
  if [[ "$update" == --update ]]; then
    cp "$tmp/got.out" "$here/expected/$name.out"
    cp "$tmp/got.err" "$here/expected/$name.err"
    [[ "$got" == "$code" ]] || echo "note: $name exits $got, the case says $code"
    continue
  fi
  ok=1
  [[ "$got" == "$code" ]] || { echo "FAIL $name: exit $got, expected $code"; ok=0; }
  diff -u "$here/expected/$name.out" "$tmp/got.out" > "$tmp/d" || { echo "FAIL $name: stdout"; head -20 "$tmp/d"; ok=0; }
  diff -u "$here/expected/$name.err" "$tmp/got.err" > "$tmp/d" || { echo "FAIL $name: stderr"; head -20 "$tmp/d"; ok=0; }
  if ((ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done < "$here/cases.tsv"

# An expected file that no case writes any more would go stale unnoticed: --update removes it.
for f in "$here"/expected/*; do
  name=$(basename "${f%.*}")
  [[ -n "${cases[$name]:-}" ]] && continue
  if [[ "$update" == --update ]]; then
    rm "$f"; echo "removed $f: no case uses it"
  else
    echo "FAIL $(basename "$f"): no case uses it"; failed=$((failed + 1))
  fi
done

echo "golden: $passed passed, $failed failed"
((failed == 0))
