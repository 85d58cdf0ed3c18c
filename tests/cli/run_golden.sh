#!/usr/bin/env bash
# Golden CLI tests: runs each case of tests/cli/cases.tsv and diffs stdout, stderr and the exit
# code against tests/cli/expected/. Usage: tests/cli/run_golden.sh BINARY [--update]
set -u
bin=$(realpath "$1")
update=${2:-}
here=$(dirname "$(realpath "$0")")
cd "$here/../.." || exit 2
export EXFILSCAN=$bin NO_COLOR=1 TZ=UTC LC_ALL=C
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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
  bash -c "$cmd" > "$tmp/out" 2> "$tmp/err" < /dev/null
  got=$?
  # The closing totals line carries a timing; the rest of stderr is exact.
  sed -i -E 's/; [0-9.]+ MB in [0-9.]+ s \([0-9]+ MB\/s\)$//' "$tmp/err"
  if [[ "$update" == --update ]]; then
    cp "$tmp/out" "$here/expected/$name.out"
    cp "$tmp/err" "$here/expected/$name.err"
    [[ "$got" == "$code" ]] || echo "note: $name exits $got, the case says $code"
    continue
  fi
  ok=1
  [[ "$got" == "$code" ]] || { echo "FAIL $name: exit $got, expected $code"; ok=0; }
  diff -u "$here/expected/$name.out" "$tmp/out" > "$tmp/d" || { echo "FAIL $name: stdout"; head -20 "$tmp/d"; ok=0; }
  diff -u "$here/expected/$name.err" "$tmp/err" > "$tmp/d" || { echo "FAIL $name: stderr"; head -20 "$tmp/d"; ok=0; }
  if ((ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done < "$here/cases.tsv"

echo "golden: $passed passed, $failed failed"
((failed == 0))
