#!/usr/bin/env bash
# Outputs that cannot be written (issue #17, items 2 and 3): a full or closed stdout is exit 2
# with a message, only a closed pipe is quiet; a full or closed stderr never changes the exit
# code; a report that stops short says that the state was not updated.
#   tests/cli/output_faults.sh BINARY
set -u
bin=$(realpath "$1")
cd "$(dirname "$0")/../.." || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
# name, expected exit, expected stderr (a grep pattern, or "" for empty), then the shell command
case_() {
  local name=$1 want=$2 pattern=$3 cmd=$4
  bash -c "$cmd" 2> "$tmp/err"
  local got=$?
  local ok=1
  [[ $got == "$want" ]] || { echo "FAIL $name: exit $got, expected $want"; ok=0; }
  if [[ -z "$pattern" ]]; then
    [[ ! -s "$tmp/err" ]] || { echo "FAIL $name: stderr not empty:"; head -3 "$tmp/err"; ok=0; }
  elif ! grep -q -- "$pattern" "$tmp/err"; then
    echo "FAIL $name: stderr lacks '$pattern':"; head -3 "$tmp/err"; ok=0
  fi
  if ((ok)); then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); fi
}
export B=$bin LOG=samples/api-logs.jsonl BAD=samples/bad/bad_json.jsonl T=$tmp

case_ "scan, stdout full" 2 "standard output: write error: No space left on device" \
  '$B scan -q --format jsonl $LOG > /dev/full'
case_ "scan, stdout closed" 2 "standard output is closed" '$B scan -q --format jsonl $LOG >&-'
case_ "scan, stdout closed, report in a file" 0 "" '$B scan -q -o $T/r.jsonl $LOG >&-'
case_ "scan, a closed pipe is quiet" 0 "" \
  'set -o pipefail; $B scan -q --format jsonl samples/campaigns.jsonl.zst | head -c 10 > /dev/null'
$bin scan -q --state "$tmp/st.bin" --format jsonl samples/api-logs-day2.jsonl.zst > /dev/null
cp "$tmp/st.bin" "$tmp/st.before"
case_ "scan, stdout full, --state not updated and said" 2 "st.bin: not updated (the report could not be written)" \
  '$B scan -q --state $T/st.bin --format jsonl $LOG > /dev/full'
case_ "  ... and the state is as it was" 0 "" 'cmp -s $T/st.bin $T/st.before'
case_ "scan --state, a closed pipe: exit 0, the state as it was, said" 0 "st.bin: not updated" \
  'set -o pipefail; $B scan -q --state $T/st.bin --format jsonl samples/campaigns.jsonl.zst | head -c 10 > /dev/null; s=$?; cmp -s $T/st.bin $T/st.before || exit 9; exit $s'
case_ "scan, stdout full beside a CSV that is written" 2 "standard output: write error" \
  '$B scan -q --format jsonl --report-csv $T/r.csv $LOG > /dev/full && exit 0 || s=$?; test -s $T/r.csv || exit 9; exit $s'
case_ "normalize, stdout full" 2 "standard output: write error" '$B normalize -q $LOG > /dev/full'
case_ "normalize, stdout closed" 2 "standard output is closed" '$B normalize -q $LOG >&-'
case_ "rules, stdout full" 2 "standard output: write error" '$B rules > /dev/full'
case_ "explain, stdout full" 2 "standard output: write error" '$B explain -q key-00001 $LOG > /dev/full'
# stderr: the run goes on and its exit code stands (bad lines are reported on stderr).
case_ "scan, stderr full" 0 "" '$B scan --format jsonl -o $T/a.jsonl $BAD 2>/dev/full; s=$?; test -s $T/a.jsonl || exit 9; exit $s'
case_ "scan, stderr closed" 0 "" '$B scan --format jsonl -o $T/b.jsonl $BAD 2>&-; s=$?; test -s $T/b.jsonl || exit 9; exit $s'
case_ "scan with findings, stderr full" 1 "" '$B scan --format jsonl -o /dev/null samples/campaigns.jsonl.zst 2>/dev/full'
case_ "scan --strict, stderr closed" 2 "" '$B scan --strict --format jsonl -o /dev/null $BAD 2>&-'
case_ "usage error, stderr closed" 2 "" '$B scna 2>&-'

echo "output faults: $passed passed, $failed failed"
((failed == 0))
