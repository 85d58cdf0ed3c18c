#!/usr/bin/env bash
# Cron mode, end to end: chained runs with --state equal one run over the whole input, and every
# way a state file can be wrong is a clear error that leaves the file alone.
#   tests/cli/check_state.sh BINARY
set -u
bin=$(realpath "$1")
cd "$(dirname "$0")/../.." || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

zstd -dc samples/campaigns.jsonl.zst > "$tmp/all.jsonl"
# Three "days", cut at event-time boundaries that fall inside campaign windows.
awk -v d="$tmp" '{ t = substr($0, 15, 13);
  f = (t < "2026-11-02T03") ? "day1" : (t < "2026-11-02T05") ? "day2" : "day3";
  print > (d "/" f ".jsonl") }' "$tmp/all.jsonl"

"$bin" scan -q --format jsonl --state "$tmp/one.state" "$tmp/all.jsonl" > "$tmp/one.out"
for day in day1 day2 day3; do
  "$bin" scan -q --format jsonl --state "$tmp/chain.state" "$tmp/$day.jsonl" > "$tmp/$day.out"
done
grep '"type":"finding"' "$tmp/one.out" > "$tmp/one.findings"
cat "$tmp"/day{1,2,3}.out | grep '"type":"finding"' > "$tmp/chain.findings"
check "chained runs fire the same findings as one run" cmp -s "$tmp/one.findings" "$tmp/chain.findings"
check "... and there are findings to compare" test -s "$tmp/one.findings"
grep '"type":"account"' "$tmp/one.out" > "$tmp/one.accounts"
grep '"type":"account"' "$tmp/day3.out" > "$tmp/chain.accounts"
check "the last chained run ranks accounts as one run does" cmp -s "$tmp/one.accounts" "$tmp/chain.accounts"
check "the state files are identical" cmp -s "$tmp/one.state" "$tmp/chain.state"

# Failure cases: exit 2, a message naming the file, the file untouched.
expect_error() {  # name, state file, pattern
  local name=$1 state=$2 pattern=$3
  cp "$state" "$tmp/before"
  "$bin" scan -q --format jsonl --state "$state" "$tmp/day1.jsonl" > /dev/null 2> "$tmp/err"
  local code=$?
  check "$name: exit 2" test "$code" = 2
  check "$name: says so" grep -q -- "$pattern" "$tmp/err"
  check "$name: file left as it was" cmp -s "$state" "$tmp/before"
}
cp "$tmp/chain.state" "$tmp/corrupt.state"
printf '\x00\x01' | dd of="$tmp/corrupt.state" bs=1 seek=300 conv=notrunc status=none
expect_error "corrupt state" "$tmp/corrupt.state" "corrupt or truncated"
head -c 1000 "$tmp/chain.state" > "$tmp/short.state"
expect_error "truncated state" "$tmp/short.state" "corrupt or truncated"
echo '{"not":"a state"}' > "$tmp/other.state"
expect_error "not a state file" "$tmp/other.state" "not an exfilscan state file"
cp "$tmp/chain.state" "$tmp/version.state"
printf '\x09' | dd of="$tmp/version.state" bs=1 seek=8 conv=notrunc status=none
expect_error "another format version" "$tmp/version.state" "state format 9"
cp "$tmp/chain.state" "$tmp/rules.state"
cp "$tmp/rules.state" "$tmp/before"
"$bin" scan -q --format jsonl --group-by org --state "$tmp/rules.state" "$tmp/day1.jsonl" > /dev/null 2> "$tmp/err"
check "other options: exit 2" test $? = 2
check "other options: says so" grep -q "other rules or options" "$tmp/err"
check "other options: file left as it was" cmp -s "$tmp/rules.state" "$tmp/before"

"$bin" scan -q --format jsonl --state "$tmp/corrupt.state" --state-reset "$tmp/day1.jsonl" > /dev/null 2>&1
"$bin" scan -q --format jsonl --state "$tmp/corrupt.state" "$tmp/day2.jsonl" > /dev/null 2>&1
check "--state-reset starts over and replaces the file" test $? != 2

cp "$tmp/chain.state" "$tmp/kept.state"
cp "$tmp/kept.state" "$tmp/before"
"$bin" scan -q --format jsonl --state "$tmp/kept.state" "$tmp/day1.jsonl" samples/bad/truncated.jsonl.gz > /dev/null 2> "$tmp/err"
check "an input error does not update the state" cmp -s "$tmp/kept.state" "$tmp/before"
check "... and says so" grep -q "not updated" "$tmp/err"
"$bin" scan -q --format jsonl --state "$tmp/no/such/dir/x.state" "$tmp/day1.jsonl" > /dev/null 2> "$tmp/err"
check "an unwritable state path is an error" test $? = 2
check "no temporary files are left behind" test -z "$(ls "$tmp" | grep '\.tmp\.')"

echo "state: $passed passed, $failed failed"
((failed == 0))
