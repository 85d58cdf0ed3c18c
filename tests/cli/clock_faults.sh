#!/usr/bin/env bash
# Lines from a broken clock (issue #17, item 7): one line far in the future, first in the input
# or in the middle of a campaign, changes no finding, for any --threads and through chained
# --state runs; it is quarantined and the totals say so.
#   tests/cli/clock_faults.sh BINARY     (KEEP=1 keeps the scratch directory to look at)
set -u
bin=$(realpath "$1")
cd "$(dirname "$0")/../.." || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[[ -n "${KEEP:-}" ]] && trap - EXIT
passed=0 failed=0
check() {  # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
findings() { grep '"type":"finding"' "$1"; }
same_findings() { cmp -s <(findings "$1") <(findings "$2"); }

zstd -dc samples/campaigns.jsonl.zst > "$tmp/day.jsonl"
"$bin" scan -q --format jsonl "$tmp/day.jsonl" > "$tmp/plain.out"
check "the day has findings" grep -q '"severity":"critical"' "$tmp/plain.out"

# The first line again, dated 2261 (the clock used to start there and judge nothing as due).
{ head -1 "$tmp/day.jsonl" | sed 's/"timestamp":"2026-/"timestamp":"2261-/'; cat "$tmp/day.jsonl"; } \
  > "$tmp/first-2261.jsonl"
# A line of a campaign key dated 2027, a third into its traffic (its later events used to be
# "too late" and its findings lost).
awk '/"camp-cot_math_harvest-1"/ && ++n == 500 { print; sub(/"timestamp":"2026-/, "\"timestamp\":\"2027-"); }
     { print }' "$tmp/day.jsonl" > "$tmp/mid-2027.jsonl"
check "... the 2027 line is in" grep -q '"timestamp":"2027-' "$tmp/mid-2027.jsonl"

for input in first-2261 mid-2027; do
  for threads in 1 2; do
    "$bin" scan --format jsonl --threads "$threads" "$tmp/$input.jsonl" > "$tmp/$input.$threads.out" \
      2> "$tmp/$input.$threads.err"
    check "$input, --threads $threads: the same findings" same_findings "$tmp/plain.out" "$tmp/$input.$threads.out"
    check "$input, --threads $threads: the run row counts it" \
      grep -q '"late_events":0,.*"events_quarantined":1,"events_held":0,' "$tmp/$input.$threads.out"
    check "$input, --threads $threads: the totals say so" grep -q '1 event quarantined' "$tmp/$input.$threads.err"
  done
  # Chained nightly runs, cut right after the outlier and later: the same findings as one run.
  line=$(grep -n -m1 '"timestamp":"2261-\|"timestamp":"2027-' \
    "$tmp/$input.jsonl" | cut -d: -f1)
  head -n "$line" "$tmp/$input.jsonl" > "$tmp/part1"
  sed -n "$((line + 1)),30000p" "$tmp/$input.jsonl" > "$tmp/part2"
  tail -n +30001 "$tmp/$input.jsonl" > "$tmp/part3"
  rm -f "$tmp/chain.state"
  for part in part1 part2 part3; do
    "$bin" scan -q --format jsonl --state "$tmp/chain.state" "$tmp/$part" > "$tmp/$part.out"
  done
  "$bin" scan -q --format jsonl --state "$tmp/one.state" "$tmp/$input.jsonl" > "$tmp/one.out"
  rm -f "$tmp/one.state"
  check "$input, chained --state runs: the same findings" \
    cmp -s <(findings "$tmp/one.out") <(cat "$tmp"/part{1,2,3}.out | grep '"type":"finding"')
  check "$input, chained --state runs: the findings of a plain run" same_findings "$tmp/plain.out" "$tmp/one.out"
  check "$input, chained --state runs: held until the end" grep -q '"events_held":1,' "$tmp/part3.out"
done

echo "clock faults: $passed passed, $failed failed"
((failed == 0))
