#!/usr/bin/env bash
# Cron mode, end to end: chained runs with --state equal one run over the whole input, every
# way a state file can be wrong is a clear error that leaves the file alone, and --state-reset
# over any file equals a first run.
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
not() { ! "$@"; }

zstd -dc samples/campaigns.jsonl.zst > "$tmp/all.jsonl"
# Three "days", cut at event-time boundaries that fall inside campaign windows.
awk -v d="$tmp" '{ t = substr($0, 15, 13);
  f = (t < "2026-11-02T03") ? "day1" : (t < "2026-11-02T05") ? "day2" : "day3";
  print > (d "/" f ".jsonl") }' "$tmp/all.jsonl"

"$bin" scan -q --format jsonl --top 100000 --state "$tmp/one.state" "$tmp/all.jsonl" > "$tmp/one.out"
for day in day1 day2 day3; do
  "$bin" scan -q --format jsonl --top 100000 --state "$tmp/chain.state" "$tmp/$day.jsonl" > "$tmp/$day.out"
done
grep '"type":"finding"' "$tmp/one.out" > "$tmp/one.findings"
cat "$tmp"/day{1,2,3}.out | grep '"type":"finding"' > "$tmp/chain.findings"
check "chained runs fire the same findings as one run" cmp -s "$tmp/one.findings" "$tmp/chain.findings"
check "... and there are findings to compare" test -s "$tmp/one.findings"
# Issue 19: account rows hold this run's traffic, and the totals over the chain in total_*; the
# run row counts the accounts of this run, those the state carried among them.
flagged_as_one_run() {
  python3 - "$tmp/one.out" "$tmp/day3.out" <<'PY'
import json, sys
def rows(path):
    return [json.loads(l) for l in open(path) if '"type":"account"' in l]
def flagged(path, prefix):
    out = []
    for a in rows(path):
        if not a["rules"]:
            continue
        t = {k: a[k] for k in ("key", "risk", "severity", "top_rule", "rules", "suppressed_findings")}
        for k in ("requests", "prompt_tokens", "completion_tokens", "first_seen", "last_seen"):
            t[k] = a[prefix + k]
        out.append(t)
    return out
one, one_total = flagged(sys.argv[1], ""), flagged(sys.argv[1], "total_")
chain = flagged(sys.argv[2], "total_")
sys.exit(0 if one == one_total == chain and one else 1)
PY
}
check "the last chained run ranks flagged accounts as one run does, by their totals" \
  flagged_as_one_run
this_run_counts() {
  python3 - "$tmp/day3.out" "$tmp/day3.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
accounts = [l for l in lines if l["type"] == "account" and l["key_kind"] != "cluster"]  # clusters pool keys
run = lines[-1]
active = [a for a in accounts if a["requests"] > 0]
events = sum(1 for _ in open(sys.argv[2]))
ok = run["accounts"] == len(active) > 0
ok = ok and sum(a["requests"] for a in active) <= events
ok = ok and all(a["total_requests"] >= a["requests"] for a in accounts)
ok = ok and any(a["total_requests"] > a["requests"] for a in active)
ok = ok and all((a["first_seen"] is None) == (a["requests"] == 0) for a in accounts)
sys.exit(0 if ok else 1)
PY
}
check "the last chained run counts this run's accounts and requests, totals apart" this_run_counts
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
printf '\x63' | dd of="$tmp/version.state" bs=1 seek=8 conv=notrunc status=none
expect_error "another format version" "$tmp/version.state" "state format 99"
cp "$tmp/chain.state" "$tmp/rules.state"
cp "$tmp/rules.state" "$tmp/before"
"$bin" scan -q --format jsonl --group-by org --state "$tmp/rules.state" "$tmp/day1.jsonl" > /dev/null 2> "$tmp/err"
check "other options: exit 2" test $? = 2
check "other options: says so" grep -q "other accounts or windows" "$tmp/err"
check "other options: file left as it was" cmp -s "$tmp/rules.state" "$tmp/before"
# New bars judge the same evidence (an upgrade, a calibrated rules file): a state written under
# other detector parameters or threshold limits loads; other threshold structure does not.
printf '[detectors.distillation_sweep]\nmin_score = 0.55\n[[threshold]]\nid = "throttle_storm"\ndescription = "x"\nfilter = { status = 429 }\ngroup_by = "api_key"\nwindow = "10m"\ncondition = "count > 900"\nseverity = "high"\n' > "$tmp/bars.toml"
cp "$tmp/chain.state" "$tmp/bars.state"
"$bin" scan -q --format jsonl --rules "$tmp/bars.toml" --state "$tmp/bars.state" "$tmp/day1.jsonl" > /dev/null 2> "$tmp/err"
code=$?
check "other bars: the state loads" test $code -le 1
printf '[[threshold]]\nid = "throttle_storm"\ndescription = "x"\nfilter = { status = 429 }\ngroup_by = "api_key"\nwindow = "30m"\ncondition = "count > 500"\nseverity = "medium"\n' > "$tmp/shape.toml"
cp "$tmp/chain.state" "$tmp/shape.state"
"$bin" scan -q --format jsonl --rules "$tmp/shape.toml" --state "$tmp/shape.state" "$tmp/day1.jsonl" > /dev/null 2> "$tmp/err"
check "another threshold window: exit 2" test $? = 2
check "another threshold window: says so" grep -q "other accounts or windows" "$tmp/err"

# --state-reset ignores what the file holds, whatever it is, and replaces it at the end: the run
# and the file it leaves equal a first run, with a state file that did not exist yet. Held: three
# days of baselines (loading them would change the findings and the file), a corrupt file and
# one from other options (reading either is exit 2).
"$bin" scan -q --format jsonl --group-by org --state "$tmp/org.state" "$tmp/day1.jsonl" > /dev/null
"$bin" scan -q --format jsonl --state "$tmp/fresh.state" "$tmp/day2.jsonl" > "$tmp/fresh.out"
fresh_code=$?
cp "$tmp/fresh.state" "$tmp/fresh-next.state"
"$bin" scan -q --format jsonl --state "$tmp/fresh-next.state" "$tmp/day3.jsonl" > "$tmp/fresh-next.out"
check "--state-reset: a first run has findings to compare" grep -q '"type":"finding"' "$tmp/fresh.out"
cp "$tmp/chain.state" "$tmp/loaded.state"
"$bin" scan -q --format jsonl --state "$tmp/loaded.state" "$tmp/day2.jsonl" > "$tmp/loaded.out"
check "--state-reset: loading the three days instead would change the output" \
  not cmp -s "$tmp/loaded.out" "$tmp/fresh.out"
check "--state-reset: ... and the file" not cmp -s "$tmp/loaded.state" "$tmp/fresh.state"
for held in chain corrupt org; do
  cp "$tmp/$held.state" "$tmp/reset.state"
  "$bin" scan -q --format jsonl --state "$tmp/reset.state" --state-reset "$tmp/day2.jsonl" \
    > "$tmp/reset.out" 2> /dev/null
  code=$?
  check "--state-reset over the $held state: exit as a first run" test "$code" = "$fresh_code"
  check "--state-reset over the $held state: the output of a first run" \
    cmp -s "$tmp/reset.out" "$tmp/fresh.out"
  check "--state-reset over the $held state: the file holds only this run" \
    cmp -s "$tmp/reset.state" "$tmp/fresh.state"
  "$bin" scan -q --format jsonl --state "$tmp/reset.state" "$tmp/day3.jsonl" > "$tmp/reset-next.out"
  check "--state-reset over the $held state: the next run goes on from it" \
    cmp -s "$tmp/reset-next.out" "$tmp/fresh-next.out"
done
cp "$tmp/chain.state" "$tmp/reset.state"
"$bin" scan -q --format jsonl --state "$tmp/reset.state" --state-reset "$tmp/day2.jsonl" \
  samples/bad/truncated.jsonl.gz > /dev/null 2> "$tmp/err"
check "--state-reset with an input error leaves the file as it was" \
  cmp -s "$tmp/reset.state" "$tmp/chain.state"

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
